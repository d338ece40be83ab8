//! Numbers every write on the pull cursor, in commit order, with no counter
//! inside any writer's transaction.
//!
//! Writers (pushes, the marketplace, other backends writing MongoDB
//! directly) store documents without a sequence number. One sequencer in the
//! whole deployment, whichever server instance holds a lease, follows a
//! change stream over the database (the stream is in commit order) and
//! stamps each written document, and each "left your scope" notice, with the
//! next `_seq`, one awaited write at a time, so numbers become visible in
//! their own order and a reader that has seen `n` never later finds a number
//! below it. A writer's transaction holds only its own documents: a server
//! killed inside one blocks those documents until MongoDB reaps it, and no
//! one else. The other instances stand by and take the lease over when it
//! lapses.
//!
//! Fencing. A `_seq` is `epoch << 32 | n`: each lease taken bumps the epoch,
//! so a new leader's numbers are above all of its predecessors'. The new
//! leader resumes the stream where the last one saved its position and
//! numbers again anything it meets that carries an older epoch, the stamps
//! of a predecessor that lost its lease without knowing included (those
//! stamps are writes, so they come down the stream too). A reader may get
//! such a document twice; it never misses one. A leader stops stamping
//! [`MARGIN`] before its lease could lapse unrenewed.
//!
//! With no stream position saved (first start, or the oplog no longer holds
//! it), the leader records the new stream's position and then scans every
//! collection once, so no write falls between scan and stream.

use std::time::{Duration, Instant};

use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;
use promptforge_wire::codec::version_of;
use promptforge_wire::schema::Collection;
use tokio::task::JoinHandle;

use crate::db::{
    is_duplicate_key, is_sequenced, sequenced_readers, Db, COUNTERS, SCOPE_EXITS, SEQ, SEQ_READERS,
    SEQ_VERSION,
};
use crate::error::ServerError;
use crate::scope;

/// How long a lease lasts unrenewed: the longest the cursor stands still
/// after the leading instance dies.
pub const LEASE: Duration = Duration::from_secs(3);
/// How often the leader renews (and saves its stream position), and how
/// often the others try to take over.
const RENEW_EVERY: Duration = Duration::from_millis(500);
/// A leader stamps only while at least this much of its lease remains, so
/// that it has stopped before anyone else may take over.
const MARGIN: Duration = Duration::from_secs(1);
/// Bits of a `_seq` below the epoch. 2^32 numbers per lease; epochs stay
/// below 2^21, so a `_seq` stays below 2^53 and exact in a JSON double.
const EPOCH_SHIFT: u32 = 32;
/// Saves the stream position after this many events, if not sooner.
const SAVE_EVERY_EVENTS: usize = 256;
const STATE_ID: &str = "sequencer";

/// The epoch of a sequence number.
pub fn epoch_of(seq: i64) -> i64 {
    seq >> EPOCH_SHIFT
}

/// The running sequencer of one server instance.
#[derive(Debug)]
pub struct Sequencer {
    task: JoinHandle<()>,
    db: Db,
    holder: String,
}

impl Sequencer {
    /// Stops this instance's sequencer and hands its lease back at once, so
    /// another instance need not wait for it to lapse.
    pub async fn stop(self) {
        self.task.abort();
        let released = self
            .db
            .db
            .collection::<Document>(COUNTERS)
            .update_one(
                doc! { "_id": STATE_ID, "holder": &self.holder },
                doc! { "$set": { "expires": DateTime::from_millis(0) } },
            )
            .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "could not hand back the sequencer's lease");
        }
        crate::metrics::sequencer_leads(false);
    }
}

/// Starts this instance's sequencer: it stands by until it holds the lease,
/// then sequences until it loses it or is stopped.
pub fn spawn(db: Db) -> Sequencer {
    let holder = uuid::Uuid::new_v4().to_string();
    let task = tokio::spawn(stand_by(db.clone(), holder.clone()));
    Sequencer { task, db, holder }
}

async fn stand_by(db: Db, holder: String) {
    loop {
        match acquire(&db, &holder).await {
            Ok(Some(mut leader)) => {
                crate::metrics::sequencer_leads(true);
                tracing::info!(epoch = leader.epoch, "this instance now sequences writes");
                if let Err(err) = leader.run().await {
                    tracing::warn!(error = %err, "sequencing interrupted");
                }
                crate::metrics::sequencer_leads(false);
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "cannot reach the sequencer's lease"),
        }
        tokio::time::sleep(RENEW_EVERY).await;
    }
}

fn lease_end(from: DateTime) -> DateTime {
    let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(from.timestamp_millis().saturating_add(lease))
}

/// Takes the lease if nobody holds it or it has lapsed; `None` if another
/// instance holds it.
async fn acquire(db: &Db, holder: &str) -> Result<Option<Leader>, ServerError> {
    let asked = Instant::now();
    let now = DateTime::now();
    let taken = db
        .db
        .collection::<Document>(COUNTERS)
        .find_one_and_update(
            doc! { "_id": STATE_ID, "$or": [
                { "holder": { "$exists": false } },
                { "holder": holder },
                { "expires": { "$lt": now } },
            ] },
            doc! { "$set": { "holder": holder, "expires": lease_end(now) }, "$inc": { "epoch": 1_i64 } },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await;
    let state = match taken {
        Ok(Some(state)) => state,
        Ok(None) => return Ok(None),
        // Someone else holds it: the upsert found no match and collided.
        Err(err) if is_duplicate_key(&err) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let epoch = state
        .get_i64("epoch")
        .map_err(|_| ServerError::Internal("the sequencer's epoch is not an int64".into()))?;
    if epoch >= 1 << 21 {
        return Err(ServerError::Internal(
            "the sequencer's epoch is exhausted".into(),
        ));
    }
    let token = state
        .get("token")
        .cloned()
        .and_then(|token| bson::from_bson::<ResumeToken>(token).ok());
    Ok(Some(Leader {
        session: db.client.start_session().await?,
        db: db.clone(),
        holder: holder.to_owned(),
        epoch,
        counter: 0,
        stamp_until: asked + LEASE - MARGIN,
        token,
    }))
}

/// Where a change stream event landed.
#[derive(Debug, Clone, Copy)]
enum Target {
    Synced(Collection),
    Exits,
}

impl Target {
    fn of(name: &str) -> Option<Target> {
        if name == SCOPE_EXITS {
            return Some(Target::Exits);
        }
        Collection::from_name(name).map(Target::Synced)
    }

    fn name(self) -> &'static str {
        match self {
            Target::Synced(collection) => collection.name(),
            Target::Exits => SCOPE_EXITS,
        }
    }

    fn collection(self, db: &Db) -> mongodb::Collection<Document> {
        db.db.collection(self.name())
    }
}

/// The instance holding the lease.
struct Leader {
    db: Db,
    session: ClientSession,
    holder: String,
    epoch: i64,
    counter: i64,
    /// Stamps are issued only before this instant.
    stamp_until: Instant,
    token: Option<ResumeToken>,
}

impl Leader {
    fn lost() -> ServerError {
        ServerError::Unavailable("another instance took over sequencing".into())
    }

    /// Renews the lease, saving `token` as the stream position if given.
    async fn renew(&mut self, token: Option<&ResumeToken>) -> Result<(), ServerError> {
        let asked = Instant::now();
        let mut set = doc! { "expires": lease_end(DateTime::now()) };
        if let Some(token) = token {
            let token = bson::to_bson(token).map_err(|e| ServerError::Internal(e.to_string()))?;
            set.insert("token", token);
        }
        let renewed = self
            .db
            .db
            .collection::<Document>(COUNTERS)
            .update_one(
                doc! { "_id": STATE_ID, "holder": &self.holder, "epoch": self.epoch },
                doc! { "$set": set },
            )
            .await?;
        if renewed.matched_count == 0 {
            return Err(Self::lost());
        }
        self.stamp_until = asked + LEASE - MARGIN;
        Ok(())
    }

    async fn forget_token(&mut self) -> Result<(), ServerError> {
        self.db
            .db
            .collection::<Document>(COUNTERS)
            .update_one(
                doc! { "_id": STATE_ID, "holder": &self.holder, "epoch": self.epoch },
                doc! { "$unset": { "token": "" } },
            )
            .await?;
        Ok(())
    }

    /// The next sequence number of this lease.
    async fn next_seq(&mut self) -> Result<i64, ServerError> {
        if Instant::now() >= self.stamp_until {
            self.renew(None).await?;
        }
        self.counter += 1;
        if self.counter >= 1 << EPOCH_SHIFT {
            // Step down: the next lease starts a fresh epoch.
            return Err(Self::lost());
        }
        Ok((self.epoch << EPOCH_SHIFT) | self.counter)
    }

    /// Whether `current` (the stored state) still needs a number from this
    /// leader: it has none, one for an earlier state, or one of an earlier
    /// epoch that this leader has met again on the stream.
    fn needs_stamp(&self, target: Target, current: &Document) -> bool {
        match current.get_i64(SEQ) {
            Err(_) => true,
            Ok(seq) => epoch_of(seq) < self.epoch || !is_sequenced(target.name(), current),
        }
    }

    async fn run(&mut self) -> Result<(), ServerError> {
        let pipeline =
            [doc! { "$match": { "operationType": { "$in": ["insert", "update", "replace"] } } }];
        let mut watch = self
            .db
            .db
            .watch()
            .pipeline(pipeline)
            .max_await_time(Duration::from_millis(250));
        let resuming = self.token.is_some();
        if let Some(token) = self.token.clone() {
            watch = watch.start_after(token);
        }
        let mut stream = match watch.await {
            Ok(stream) => stream,
            Err(err) if resuming => {
                // The saved position is gone (e.g. the oplog rolled over):
                // the next lease starts afresh, with a full scan.
                tracing::warn!(error = %err, "cannot resume the change stream; rescanning");
                self.forget_token().await?;
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        };
        if !resuming {
            // Writes made before this stream opened are not in it: record
            // the position first, then scan, so nothing falls between.
            let token = stream.resume_token();
            self.renew(token.as_ref()).await?;
            self.catch_up().await?;
        }
        let mut unsaved = 0_usize;
        let mut saved_at = Instant::now();
        while stream.is_alive() {
            let event = stream.next_if_any().await?;
            if let Some(event) = event {
                self.handle(event).await?;
                unsaved += 1;
            }
            if unsaved >= SAVE_EVERY_EVENTS || saved_at.elapsed() >= RENEW_EVERY {
                let token = stream.resume_token();
                self.renew(token.as_ref()).await?;
                unsaved = 0;
                saved_at = Instant::now();
            }
        }
        Ok(())
    }

    async fn handle(&mut self, event: ChangeStreamEvent<Document>) -> Result<(), ServerError> {
        let Some(target) = event
            .ns
            .as_ref()
            .and_then(|ns| ns.coll.as_deref())
            .and_then(Target::of)
        else {
            return Ok(());
        };
        let Some(id) = event
            .document_key
            .as_ref()
            .and_then(|key| key.get("_id"))
            .cloned()
        else {
            return Ok(());
        };
        if let Some(update) = &event.update_description {
            // This leader's own stamp: nothing to look up.
            if let Ok(seq) = update.updated_fields.get_i64(SEQ) {
                if epoch_of(seq) == self.epoch {
                    return Ok(());
                }
            }
        }
        let current = match (event.operation_type, event.full_document) {
            (OperationType::Insert | OperationType::Replace, Some(document)) => document,
            _ => {
                let found = target
                    .collection(&self.db)
                    .find_one(doc! { "_id": id })
                    .session(&mut self.session)
                    .await?;
                let Some(found) = found else {
                    return Ok(());
                };
                found
            }
        };
        if self.needs_stamp(target, &current) {
            self.stamp(target, current).await?;
            let lag = event.wall_time.and_then(|at| {
                let ms = DateTime::now().timestamp_millis() - at.timestamp_millis();
                u64::try_from(ms).ok().map(Duration::from_millis)
            });
            crate::metrics::sequencer_stamped(1, lag);
        }
        Ok(())
    }

    /// Gives `current`'s state the next number; for a synced document, first
    /// tells readers another backend removed, and has what new readers
    /// gained sequenced afresh.
    async fn stamp(&mut self, target: Target, current: Document) -> Result<(), ServerError> {
        let Some(id) = current.get("_id").cloned() else {
            return Ok(());
        };
        let Target::Synced(collection) = target else {
            let seq = self.next_seq().await?;
            target
                .collection(&self.db)
                .update_one(doc! { "_id": id }, doc! { "$set": { SEQ: seq } })
                .await?;
            return Ok(());
        };
        let removed = scope::readers_removed(collection, &sequenced_readers(&current), &current);
        scope::record_exits(&self.db, &mut self.session, collection, &current, &removed).await?;
        // Readers a direct write added must receive what they gained, whose
        // numbers may be older than their checkpoints: a team's documents, a
        // prompt's history. (The sync server's own writes have done this.)
        let gains = matches!(collection, Collection::Teams | Collection::Prompts);
        if gains && current.contains_key(SEQ) {
            let before = sequenced_readers(&current);
            let joined = scope::explicit_readers(collection, &current)
                .iter()
                .any(|m| !before.contains(m));
            let own_id = current.get_str("_id").unwrap_or_default().to_owned();
            if joined && collection == Collection::Teams {
                let documents = scope::team_documents(&self.db, &mut self.session, &own_id).await?;
                scope::resequence(&self.db, &mut self.session, &documents).await?;
            } else if joined {
                let versions: Vec<(Collection, Document)> =
                    scope::version_ids(&self.db, &mut self.session, &own_id)
                        .await?
                        .into_iter()
                        .map(|id| (Collection::PromptVersions, doc! { "_id": id }))
                        .collect();
                scope::resequence(&self.db, &mut self.session, &versions).await?;
            }
        }
        let filter = match current.get("version") {
            Some(v) => doc! { "_id": id, "version": v.clone() },
            None => doc! { "_id": id, "version": { "$exists": false } },
        };
        let readers = scope::explicit_readers(collection, &current);
        let seq = self.next_seq().await?;
        // A miss means the document changed since it was read: the change
        // that moved it is further down the stream and is stamped there.
        self.db
            .collection(collection)
            .update_one(
                filter,
                doc! { "$set": { SEQ: seq, SEQ_VERSION: version_of(&current), SEQ_READERS: readers } },
            )
            .await?;
        Ok(())
    }

    /// Stamps everything written before the stream opened and never
    /// sequenced: a full scan, run when there is no position to resume from.
    async fn catch_up(&mut self) -> Result<(), ServerError> {
        let mut stamped = 0_usize;
        let targets = Collection::ALL
            .into_iter()
            .map(Target::Synced)
            .chain([Target::Exits]);
        for target in targets {
            let found: Vec<Document> = target
                .collection(&self.db)
                .find(doc! {})
                .projection(doc! { "_id": 1, "version": 1, SEQ: 1, SEQ_VERSION: 1 })
                .await?
                .try_collect()
                .await?;
            for summary in found {
                if is_sequenced(target.name(), &summary) {
                    continue;
                }
                let Some(id) = summary.get("_id").cloned() else {
                    continue;
                };
                let current = target
                    .collection(&self.db)
                    .find_one(doc! { "_id": id })
                    .session(&mut self.session)
                    .await?;
                if let Some(current) = current {
                    self.stamp(target, current).await?;
                    stamped += 1;
                }
            }
        }
        if stamped > 0 {
            tracing::info!(
                stamped,
                "sequenced documents written while no sequencer ran"
            );
            crate::metrics::sequencer_stamped(stamped, None);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_epoch_numbers_above_every_earlier_one() {
        let last_of_first = (1_i64 << EPOCH_SHIFT) | ((1 << EPOCH_SHIFT) - 1);
        let first_of_second = (2_i64 << EPOCH_SHIFT) | 1;
        assert!(first_of_second > last_of_first);
        assert_eq!(epoch_of(last_of_first), 1);
        assert_eq!(epoch_of(first_of_second), 2);
        // Sequence numbers from before epochs (a plain counter) are epoch 0.
        assert_eq!(epoch_of(1_000_000), 0);
        // The highest epoch allowed keeps numbers exact in a JSON double.
        let highest = (((1_i64 << 21) - 1) << EPOCH_SHIFT) | ((1 << EPOCH_SHIFT) - 1);
        assert!(highest < 1 << 53);
    }
}
