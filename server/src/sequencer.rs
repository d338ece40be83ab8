//! Numbers every write on the pull cursor, in commit order, with no counter
//! inside any writer's transaction.
//!
//! Writers (pushes, the marketplace, other backends writing MongoDB
//! directly) store documents without a sequence number. One sequencer in the
//! whole deployment, whichever server instance holds a lease, follows a
//! change stream over the database (the stream is in commit order) and
//! stamps each written document, and each "left your scope" notice, with the
//! next `_seq`: whatever the stream has buffered, up to [`MAX_BATCH`], in one
//! multi-statement `update` command per collection. Then it publishes the
//! highest number written as the watermark (`through`), and readers read only
//! up to the watermark ([`watermark`]): numbers appear to them all at once
//! and in order, so a reader that has seen `n` never later finds a number
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

use std::collections::{BTreeMap, HashMap};

use bson::{doc, Bson, DateTime, Document};
use futures_util::{FutureExt, StreamExt, TryStreamExt};
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
use crate::{live, scope};

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
/// Events stamped together at most: one write round trip per collection.
const MAX_BATCH: usize = 1_000;
const STATE_ID: &str = "sequencer";

/// The highest sequence number readers may read up to: everything at or
/// below it is written. Without a watermark yet (no sequencer ever led),
/// every number stored was given under the old in-transaction counter, and
/// all of it is readable.
pub async fn watermark(db: &Db) -> Result<i64, ServerError> {
    let state = db
        .db
        .collection::<Document>(COUNTERS)
        .find_one(doc! { "_id": STATE_ID })
        .projection(doc! { "through": 1 })
        .await?;
    Ok(state
        .and_then(|s| s.get_i64("through").ok())
        .unwrap_or(i64::MAX))
}

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
    // Before the lease can be taken: a gauge set with no recorder is lost.
    crate::metrics::install();
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
    let mut leader = Leader {
        session: db.client.start_session().await?,
        db: db.clone(),
        holder: holder.to_owned(),
        epoch,
        counter: 0,
        through: epoch << EPOCH_SHIFT,
        stamp_until: asked + LEASE - MARGIN,
        token,
        audience: live::Audience::default(),
    };
    // Every number of earlier epochs is now readable: what a predecessor
    // stamped without publishing is complete, or is stamped again here.
    leader.publish(None).await?;
    Ok(Some(leader))
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

/// A written document (or notice) waiting for its number.
#[derive(Debug, Clone)]
struct Pending {
    target: Target,
    id: Bson,
    /// Its state as the event carried it (inserts and replaces); read
    /// before numbering otherwise.
    current: Option<Document>,
    /// When its write committed, for the lag metric.
    committed: Option<DateTime>,
}

/// The instance holding the lease.
struct Leader {
    db: Db,
    session: ClientSession,
    holder: String,
    epoch: i64,
    counter: i64,
    /// The highest number written, published as the watermark.
    through: i64,
    /// Stamps are issued only before this instant.
    stamp_until: Instant,
    token: Option<ResumeToken>,
    /// Who the writes numbered since the last publish concern.
    audience: live::Audience,
}

impl Leader {
    fn lost() -> ServerError {
        ServerError::Unavailable("another instance took over sequencing".into())
    }

    /// Renews the lease and publishes the watermark, saving `token` as the
    /// stream position if given.
    async fn publish(&mut self, token: Option<&ResumeToken>) -> Result<(), ServerError> {
        let asked = Instant::now();
        let mut set = doc! { "expires": lease_end(DateTime::now()), "through": self.through };
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
        // Published: the readers may be told. A lost hint costs latency
        // only (clients still poll), so it does not stop the sequencer.
        let audience = std::mem::take(&mut self.audience);
        if let Err(err) = live::announce(&self.db, &audience, self.through).await {
            tracing::warn!(error = %err, "live hint not written");
        }
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
    fn next_seq(&mut self) -> Result<i64, ServerError> {
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
            Ok(seq) => {
                seq <= 0 || epoch_of(seq) < self.epoch || !is_sequenced(target.name(), current)
            }
        }
    }

    async fn run(&mut self) -> Result<(), ServerError> {
        let watched: Vec<&str> = Collection::ALL
            .iter()
            .map(|c| c.name())
            .chain([SCOPE_EXITS])
            .collect();
        // This leader's own stamps need nothing more: the database leaves
        // them out of the stream rather than sending each back to be
        // ignored (half the events of an upload).
        let own_stamps = doc! {
            "$gte": self.epoch << EPOCH_SHIFT,
            "$lt": (self.epoch + 1) << EPOCH_SHIFT,
        };
        let pipeline = [doc! { "$match": {
            "operationType": { "$in": ["insert", "update", "replace"] },
            "ns.coll": { "$in": watched },
            "$nor": [{ "operationType": "update", format!("updateDescription.updatedFields.{SEQ}"): own_stamps }],
        } }];
        let mut watch = self
            .db
            .db
            .watch()
            .pipeline(pipeline)
            .max_await_time(RENEW_EVERY);
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
            self.publish(token.as_ref()).await?;
            self.catch_up().await?;
        }
        let mut last_token: Option<ResumeToken> = None;
        let mut published_at = Instant::now();
        loop {
            // Waiting is cancel-safe: a getMore in flight stays with the
            // stream and is picked up by the next wait.
            let first = match tokio::time::timeout(RENEW_EVERY, stream.next()).await {
                Err(_) => None,
                Ok(None) => return Ok(()),
                Ok(Some(event)) => Some(event?),
            };
            let mut pending = Vec::new();
            if let Some(event) = first {
                last_token = Some(event.id.clone());
                pending.extend(self.classify(event));
                // Whatever else the stream has buffered joins this batch.
                while pending.len() < MAX_BATCH {
                    let Some(Some(event)) = stream.next().now_or_never() else {
                        break;
                    };
                    let event = event?;
                    last_token = Some(event.id.clone());
                    pending.extend(self.classify(event));
                }
            }
            let stamped = self.flush(pending).await?;
            if stamped > 0 || published_at.elapsed() >= RENEW_EVERY {
                self.publish(last_token.take().as_ref()).await?;
                published_at = Instant::now();
            }
        }
    }

    /// What an event asks of the sequencer: nothing for its own stamps,
    /// otherwise a look at the document.
    fn classify(&self, event: ChangeStreamEvent<Document>) -> Option<Pending> {
        let target = event
            .ns
            .as_ref()
            .and_then(|ns| ns.coll.as_deref())
            .and_then(Target::of)?;
        let id = event
            .document_key
            .as_ref()
            .and_then(|key| key.get("_id"))
            .cloned()?;
        if let Some(update) = &event.update_description {
            if let Ok(seq) = update.updated_fields.get_i64(SEQ) {
                if epoch_of(seq) == self.epoch {
                    return None;
                }
            }
        }
        let current = match event.operation_type {
            OperationType::Insert | OperationType::Replace => event.full_document,
            _ => None,
        };
        Some(Pending {
            target,
            id,
            current,
            committed: event.wall_time,
        })
    }

    /// Numbers `pending` in order and writes the numbers, one command per
    /// collection; returns how many were stamped.
    async fn flush(&mut self, pending: Vec<Pending>) -> Result<usize, ServerError> {
        if pending.is_empty() {
            return Ok(0);
        }
        if Instant::now() >= self.stamp_until {
            self.publish(None).await?;
        }
        // Events on updates carry no document: read them, one query per
        // collection.
        let mut wanted: BTreeMap<&'static str, Vec<Bson>> = BTreeMap::new();
        for p in pending.iter().filter(|p| p.current.is_none()) {
            wanted
                .entry(p.target.name())
                .or_default()
                .push(p.id.clone());
        }
        let mut looked_up: HashMap<(&'static str, String), Document> = HashMap::new();
        for (name, ids) in wanted {
            let found: Vec<Document> = self
                .db
                .db
                .collection::<Document>(name)
                .find(doc! { "_id": { "$in": ids } })
                .await?
                .try_collect()
                .await?;
            for document in found {
                if let Some(id) = document.get("_id") {
                    looked_up.insert((name, id.to_string()), document);
                }
            }
        }
        // A document met twice is numbered once, at its last meeting.
        let mut last_meeting: HashMap<(&'static str, String), usize> = HashMap::new();
        for (at, p) in pending.iter().enumerate() {
            last_meeting.insert((p.target.name(), p.id.to_string()), at);
        }
        let mut statements: BTreeMap<&'static str, Vec<Document>> = BTreeMap::new();
        let mut newest_commit = None;
        let mut stamped = 0;
        for (at, p) in pending.into_iter().enumerate() {
            let key = (p.target.name(), p.id.to_string());
            if last_meeting.get(&key) != Some(&at) {
                continue;
            }
            let current = match p.current {
                Some(current) => current,
                None => match looked_up.remove(&key) {
                    Some(current) => current,
                    None => continue,
                },
            };
            if !self.needs_stamp(p.target, &current) {
                continue;
            }
            let Some(statement) = self.stamp_statement(p.target, &current).await? else {
                continue;
            };
            statements
                .entry(p.target.name())
                .or_default()
                .push(statement);
            newest_commit = p.committed.or(newest_commit);
            stamped += 1;
        }
        for (name, updates) in statements {
            self.db
                .db
                .run_command(doc! { "update": name, "updates": updates, "ordered": true })
                .await?;
        }
        let lag = newest_commit.and_then(|at| {
            let ms = DateTime::now().timestamp_millis() - at.timestamp_millis();
            u64::try_from(ms).ok().map(Duration::from_millis)
        });
        crate::metrics::sequencer_stamped(stamped, lag);
        Ok(stamped)
    }

    /// The `update` statement giving `current`'s state the next number; for
    /// a synced document written by another backend, first tells readers it
    /// removed, and has what new readers gained sequenced afresh.
    async fn stamp_statement(
        &mut self,
        target: Target,
        current: &Document,
    ) -> Result<Option<Document>, ServerError> {
        let Some(id) = current.get("_id").cloned() else {
            return Ok(None);
        };
        let Target::Synced(collection) = target else {
            self.audience.add_exit(current);
            let seq = self.next_seq()?;
            self.through = seq;
            return Ok(Some(
                doc! { "q": { "_id": id }, "u": { "$set": { SEQ: seq } } },
            ));
        };
        let removed = scope::readers_removed(collection, &sequenced_readers(current), current);
        scope::record_exits(&self.db, &mut self.session, collection, current, &removed).await?;
        // Readers a direct write added must receive what they gained, whose
        // numbers may be older than their checkpoints: a team's documents, a
        // prompt's history. (The sync server's own writes have done this.)
        let gains = matches!(collection, Collection::Teams | Collection::Prompts);
        if gains && current.contains_key(SEQ) {
            let before = sequenced_readers(current);
            let joined = scope::explicit_readers(collection, current)
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
        // A miss (the document changed since it was read) is harmless: the
        // change that moved it is further down the stream.
        let filter = match current.get("version") {
            Some(v) => doc! { "_id": id, "version": v.clone() },
            None => doc! { "_id": id, "version": { "$exists": false } },
        };
        let readers = scope::explicit_readers(collection, current);
        self.audience.add(collection, current);
        let seq = self.next_seq()?;
        self.through = seq;
        Ok(Some(doc! {
            "q": filter,
            "u": { "$set": { SEQ: seq, SEQ_VERSION: version_of(current), SEQ_READERS: readers } },
        }))
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
            let unsequenced: Vec<Pending> = found
                .into_iter()
                .filter(|summary| !is_sequenced(target.name(), summary))
                .filter_map(|summary| summary.get("_id").cloned())
                .map(|id| Pending {
                    target,
                    id,
                    current: None,
                    committed: None,
                })
                .collect();
            for batch in unsequenced.chunks(MAX_BATCH) {
                stamped += self.flush(batch.to_vec()).await?;
                self.publish(None).await?;
            }
        }
        if stamped > 0 {
            tracing::info!(
                stamped,
                "sequenced documents written while no sequencer ran"
            );
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
