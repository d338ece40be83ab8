//! What the server forgets, and when, so its bookkeeping does not grow
//! forever without ever losing what a client still needs:
//!
//! - a mutation's recorded answer, once it is older than the retention time
//!   and its client has confirmed in a handshake that it will not resend it
//!   ([`prune_mutations`]);
//! - a marketplace request's stored answer, once older than the retention
//!   time (desktops resend a request within seconds, never after the call
//!   ends; the protocol promises a key is honoured for that long);
//! - a tombstone, and a scope-exit notice, once older than the tombstone
//!   retention time. The highest sequence number purged from a collection
//!   becomes its purge horizon: a pull from a checkpoint below it may have
//!   missed a deletion, so it is refused with `checkpoint_expired`, and the
//!   client pulls the collection again from 0 and drops what it was not
//!   sent ([`check_checkpoint`]).
//!
//! Every instance runs the periodic part ([`spawn`]); each step is a
//! `delete_many` guarded by its own conditions, so instances running it at
//! once do no harm.

use std::time::Duration;

use bson::{doc, Bson, DateTime, Document};
use promptforge_wire::schema::Collection;

use crate::db::{Db, COUNTERS, MUTATIONS, SCOPE_EXITS, SEQ};
use crate::error::ServerError;
use crate::market::MARKET_REQUESTS;
use crate::scope;

/// How long the server keeps what it may forget.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Recorded answers of mutations and marketplace requests.
    pub answers: Duration,
    /// Tombstones and scope-exit notices.
    pub tombstones: Duration,
    /// How often the periodic purge runs.
    pub every: Duration,
}

/// The lock document holding each collection's purge horizon.
const HORIZON_ID: &str = "purge_horizon";

/// The instant `age` ago.
fn ago(age: Duration) -> DateTime {
    let millis = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(DateTime::now().timestamp_millis().saturating_sub(millis))
}

/// Forgets the recorded answers of `client_id`'s mutations up to
/// `confirmed` (the client's word that it holds none of them unanswered)
/// that are older than `keep`. Returns how many went.
pub async fn prune_mutations(
    db: &Db,
    user: &str,
    client_id: &str,
    confirmed: u64,
    keep: Duration,
) -> Result<u64, ServerError> {
    let Ok(confirmed) = i64::try_from(confirmed) else {
        return Ok(0);
    };
    if confirmed <= 0 {
        return Ok(0);
    }
    let deleted = db
        .db
        .collection::<Document>(MUTATIONS)
        .delete_many(doc! {
            "user_id": user,
            "client_id": client_id,
            "mutation_id": { "$lte": confirmed },
            "at": { "$lt": ago(keep) },
        })
        .await?;
    Ok(deleted.deleted_count)
}

/// Each collection's purge horizon: the sequence number below which its
/// deletions may have been purged (0 when none were).
#[derive(Debug, Clone, Default)]
pub struct Horizons(Document);

impl Horizons {
    /// Reads every collection's horizon at once (one small document).
    pub async fn read(db: &Db) -> Result<Horizons, ServerError> {
        let found = db
            .db
            .collection::<Document>(COUNTERS)
            .find_one(doc! { "_id": HORIZON_ID })
            .await?;
        Ok(Horizons(found.unwrap_or_default()))
    }

    pub fn of(&self, collection: Collection) -> i64 {
        self.0
            .get(collection.name())
            .and_then(Bson::as_i64)
            .unwrap_or(0)
    }

    /// Refuses a pull from a checkpoint that predates purged deletions.
    pub fn check(&self, collection: Collection, checkpoint: i64) -> Result<(), ServerError> {
        let horizon = self.of(collection);
        if checkpoint > 0 && checkpoint < horizon {
            return Err(ServerError::CheckpointExpired(format!(
                "{collection}: checkpoint {checkpoint} is older than deletions the server has since \
                 forgotten (through {horizon}); pull {collection} again from checkpoint 0 and remove \
                 the local copies that pull does not send"
            )));
        }
        Ok(())
    }
}

/// The sequence number below which `collection`'s deletions may have been
/// purged (0 when none were).
pub async fn horizon(db: &Db, collection: Collection) -> Result<i64, ServerError> {
    Ok(Horizons::read(db).await?.of(collection))
}

/// Refuses a pull from a checkpoint that predates purged deletions.
pub async fn check_checkpoint(
    db: &Db,
    collection: Collection,
    checkpoint: i64,
) -> Result<(), ServerError> {
    if checkpoint <= 0 {
        return Ok(());
    }
    Horizons::read(db).await?.check(collection, checkpoint)
}

/// One pass of the periodic purge. Returns how many documents went.
pub async fn purge(db: &Db, retention: Retention) -> Result<u64, ServerError> {
    let mut purged = 0;
    let answers_before = ago(retention.answers);
    purged += db
        .db
        .collection::<Document>(MARKET_REQUESTS)
        .delete_many(doc! { "at": { "$lt": answers_before } })
        .await?
        .deleted_count;
    purged += crate::live::purge_hints(db).await?;
    purged += crate::presence::purge(db).await?;
    purged += crate::usage::purge(db).await?;
    let tombstones_before = ago(retention.tombstones);
    for collection in scope::PULLED {
        purged += purge_collection(db, collection, tombstones_before).await?;
    }
    Ok(purged)
}

/// Purges `collection`'s tombstones and scope exits older than `before`,
/// raising its horizon first, so no pull between the two misses them
/// without being told.
async fn purge_collection(
    db: &Db,
    collection: Collection,
    before: DateTime,
) -> Result<u64, ServerError> {
    let coll = db.collection(collection);
    let exits = db.db.collection::<Document>(SCOPE_EXITS);
    // Only numbered ones: a tombstone waiting for its number reaches every
    // reader normally once it has one.
    let tombstones = collection.soft_deletes().then(|| {
        doc! { "deleted_at": { "$lt": before }, SEQ: { "$gt": 0_i64 } }
    });
    let old_exits = doc! {
        "collection": collection.name(),
        "at": { "$lt": before },
        SEQ: { "$gt": 0_i64 },
    };
    let mut highest = 0_i64;
    if let Some(filter) = &tombstones {
        highest = highest.max(highest_seq(&coll, filter.clone()).await?);
    }
    highest = highest.max(highest_seq(&exits, old_exits.clone()).await?);
    if highest == 0 {
        return Ok(0);
    }
    db.db
        .collection::<Document>(COUNTERS)
        .update_one(
            doc! { "_id": HORIZON_ID },
            doc! { "$max": { collection.name(): highest } },
        )
        .upsert(true)
        .await?;
    let mut purged = 0;
    if let Some(mut filter) = tombstones {
        filter.insert(SEQ, doc! { "$gt": 0_i64, "$lte": highest });
        purged += coll.delete_many(filter).await?.deleted_count;
    }
    let mut old_exits = old_exits;
    old_exits.insert(SEQ, doc! { "$gt": 0_i64, "$lte": highest });
    purged += exits.delete_many(old_exits).await?.deleted_count;
    tracing::info!(%collection, purged, horizon = highest, "purged old deletions");
    Ok(purged)
}

async fn highest_seq(
    coll: &mongodb::Collection<Document>,
    filter: Document,
) -> Result<i64, ServerError> {
    Ok(coll
        .find_one(filter)
        .sort(doc! { SEQ: -1 })
        .projection(doc! { SEQ: 1 })
        .await?
        .and_then(|d| d.get_i64(SEQ).ok())
        .unwrap_or(0))
}

/// Runs [`purge`] every `retention.every` until the returned handle is
/// dropped or aborted.
pub fn spawn(db: Db, retention: Retention) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(retention.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = purge(&db, retention).await {
                tracing::warn!(error = %err, "purging old bookkeeping failed; trying again later");
            }
        }
    })
}
