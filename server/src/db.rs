//! The central MongoDB: connection checks, indexes, transactions with the
//! retries MongoDB asks for, and the only two ways a document is stored
//! ([`Db::insert`], [`Db::replace`]), which take nothing but an [`Admitted`]
//! document. Writes here carry no sequence number: the [`crate::sequencer`]
//! gives them one after they commit, and [`Db::transaction`] waits for it
//! before answering, so what a client was told is written is also pullable.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, Bson, Document};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::{ClientSession, IndexModel};
use promptforge_wire::admit::Admitted;
use promptforge_wire::codec::version_of;
use promptforge_wire::schema::Collection;

use crate::batch::Batch;
use crate::error::ServerError;
use crate::scope;

/// Applied mutation ids with their results, for exactly-once pushes.
pub const MUTATIONS: &str = "sync_mutations";
/// "This document left your scope" notices, on the same sequence as changes.
pub const SCOPE_EXITS: &str = "sync_scope_exits";
/// The sequencer's lease and stream position, and the transient per-prompt
/// history locks.
pub const COUNTERS: &str = "sync_counters";
/// The field carrying a document's position in the change sequence.
pub const SEQ: &str = "_seq";
/// The name MongoDB gives an index on [`SEQ`] alone.
const CURSOR_INDEX: &str = "_seq_1";
/// MongoDB's `IndexNotFound` error code.
const INDEX_NOT_FOUND: i32 = 27;
/// The `version` a document had when it was given its `_seq`; a document
/// whose `version` moved on without it was written outside the sync server.
pub const SEQ_VERSION: &str = "_seq_version";

/// The explicit readers a document had when it was last sequenced, so that a
/// later write that removes some can tell them (see `scope::record_exits`).
pub const SEQ_READERS: &str = "_seq_readers";

/// Prepares a document the sync server writes: it is left for the sequencer
/// to number (no `_seq_version` matches its `version`), and its readers are
/// recorded as of this write, because the server has already told readers it
/// removed (see `scope::record_exits`) and the sequencer must not tell them
/// again.
fn unsequenced(collection: Collection, doc: &mut Document) {
    let readers = scope::explicit_readers(collection, doc);
    doc.insert(SEQ, pending_seq());
    doc.remove(SEQ_VERSION);
    doc.insert(SEQ_READERS, readers);
}

/// A `_seq` that marks a document as waiting for its number: negative, so
/// no pull (whose checkpoints are never negative) returns it, and unlike
/// every other waiting document's, so that the `(field, _seq)` index entries
/// of concurrent writers never coincide (some MongoDB-compatible servers
/// report coinciding entries as write conflicts).
pub fn pending_seq() -> i64 {
    let random = uuid::Uuid::new_v4().as_u128();
    -1 - i64::try_from(random >> 66).unwrap_or(0)
}

tokio::task_local! {
    /// What the current transaction attempt wrote, by collection name and
    /// `_id`, so that [`Db::transaction`] can wait for it to be sequenced.
    static WRITTEN: std::cell::RefCell<Written>;
}

/// Documents a transaction wrote, by collection name and `_id`.
pub type Written = Vec<(String, Bson)>;

/// Notes a write of the current transaction attempt (outside
/// [`Db::transaction`] there is nothing to wait for, and nothing is noted).
pub fn note_written(collection: &str, id: Bson) {
    let _ = WRITTEN.try_with(|written| written.borrow_mut().push((collection.to_owned(), id)));
}

/// How long a transaction's answer waits for its writes to be sequenced.
/// Past it the answer goes out anyway (the writes are committed, and reach
/// readers once a sequencer takes the lease): only a sequencer failover takes
/// this long.
pub const SEQUENCING_WAIT: Duration = Duration::from_secs(5);

/// The explicit readers recorded when `doc` was last sequenced.
pub fn sequenced_readers(doc: &Document) -> Vec<String> {
    scope::listed_users(doc, SEQ_READERS)
}

/// Removes the sequencing fields (clients get `seq` beside the document).
pub fn strip_seq(mut doc: Document) -> Document {
    doc.remove(SEQ);
    doc.remove(SEQ_VERSION);
    doc.remove(SEQ_READERS);
    doc
}

const MAX_ATTEMPTS: usize = 20;

/// One attempt of a transaction's work, borrowing the session.
pub type TxFuture<'s, R> = Pin<Box<dyn Future<Output = Result<R, ServerError>> + Send + 's>>;

#[derive(Debug, Clone)]
pub struct Db {
    pub client: mongodb::Client,
    pub db: mongodb::Database,
    /// The working set of the push chunk this handle serves, if any.
    pub(crate) batch: Option<Arc<Mutex<Batch>>>,
}

impl Db {
    /// Connects and refuses a standalone server: pushes need transactions.
    pub async fn connect(uri: &str, database: &str) -> Result<Db, ServerError> {
        let mut options = mongodb::options::ClientOptions::parse(uri).await?;
        // Off by default: the driver copies every command and reply into
        // the event, which costs most on large pull pages.
        if std::env::var_os("PROMPTFORGE_DB_COMMAND_METRICS").is_some() {
            options.command_event_handler = Some(mongodb::event::EventHandler::callback(
                |event: mongodb::event::command::CommandEvent| {
                    if let mongodb::event::command::CommandEvent::Started(started) = event {
                        crate::metrics::db_command(&started.command_name);
                    }
                },
            ));
        }
        let client = mongodb::Client::with_options(options)?;
        let db = client.database(database);
        let hello = db.run_command(doc! { "hello": 1 }).await?;
        let replica_set =
            hello.get_str("setName").is_ok() || hello.get_str("msg") == Ok("isdbgrid");
        if !replica_set {
            return Err(ServerError::Config(
                "MongoDB is a standalone server; the sync server needs a replica set (transactions). \
                 Start mongod with --replSet, or use Atlas"
                    .into(),
            ));
        }
        let this = Db {
            client,
            db,
            batch: None,
        };
        this.prepare().await?;
        Ok(this)
    }

    async fn prepare(&self) -> Result<(), ServerError> {
        for collection in Collection::ALL {
            let coll = self.collection(collection);
            // Each branch of a scope's `$or` needs its own index, or MongoDB
            // scans the collection on every pull.
            let fields = scope::scope_fields(collection);
            for field in fields {
                coll.create_index(
                    IndexModel::builder()
                        .keys(doc! { *field: 1, SEQ: 1 })
                        .build(),
                )
                .await?;
            }
            // The cursor alone is an index only where everyone reads
            // everything. Elsewhere it would compete with the scope's own
            // index for every pull (for a user who owns most documents the
            // planner cannot tell them apart, and would then walk every
            // user's documents for the next one), and every numbering would
            // rewrite one more index entry. Servers before this kept it.
            if fields.is_empty() {
                coll.create_index(IndexModel::builder().keys(doc! { SEQ: 1 }).build())
                    .await?;
            } else if coll
                .list_index_names()
                .await?
                .iter()
                .any(|name| name == CURSOR_INDEX)
            {
                match coll.drop_index(CURSOR_INDEX).await {
                    Ok(()) => {}
                    // Another instance starting at the same time dropped it.
                    Err(err) if crate::error::mongo_code(&err) == Some(INDEX_NOT_FOUND) => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
        self.db
            .collection::<Document>(SCOPE_EXITS)
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "user_id": 1, "collection": 1, SEQ: 1 })
                    .build(),
            )
            .await?;
        self.db
            .collection::<Document>(MUTATIONS)
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "user_id": 1, "client_id": 1, "mutation_id": 1 })
                    .build(),
            )
            .await?;
        crate::presence::prepare(self).await?;
        crate::teams::prepare(self).await?;
        Ok(())
    }

    pub fn collection(&self, collection: Collection) -> mongodb::Collection<Document> {
        self.db.collection(collection.name())
    }

    /// A handle whose reads by `_id` and inserts go through a fresh
    /// [`Batch`]: for one attempt of one push chunk's transaction, which
    /// must [`Db::flush`] before it commits.
    pub fn batched(&self) -> Db {
        Db {
            batch: Some(Arc::new(Mutex::new(Batch::default()))),
            ..self.clone()
        }
    }

    /// Runs `f` on this handle's batch, if it has one.
    pub(crate) fn with_batch<T>(&self, f: impl FnOnce(&mut Batch) -> T) -> Option<T> {
        let batch = self.batch.as_ref()?;
        // A panic elsewhere cannot leave a batch half-changed in a way that
        // matters: the attempt is abandoned with it.
        let mut guard = batch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(f(&mut guard))
    }

    /// The document with this `_id`, read inside the caller's transaction.
    pub async fn find_by_id(
        &self,
        session: &mut ClientSession,
        collection: Collection,
        id: &str,
    ) -> Result<Option<Document>, ServerError> {
        let key = (collection.name().to_owned(), id.to_owned());
        if let Some(Some(known)) = self.with_batch(|b| b.docs.get(&key).cloned()) {
            return Ok(known);
        }
        let found = self
            .collection(collection)
            .find_one(doc! { "_id": id })
            .session(&mut *session)
            .await?;
        self.with_batch(|b| b.docs.insert(key, found.clone()));
        Ok(found)
    }

    /// Stores a new document; returns it as clients see it.
    pub async fn insert(
        &self,
        session: &mut ClientSession,
        collection: Collection,
        admitted: Admitted,
    ) -> Result<Document, ServerError> {
        let mut document = admitted.into_document();
        unsequenced(collection, &mut document);
        if let Some(id) = document.get("_id") {
            note_written(collection.name(), id.clone());
        }
        let stored = strip_seq(document.clone());
        if let Some(document) = self.buffer_insert(collection.name(), document) {
            self.collection(collection)
                .insert_one(&document)
                .session(&mut *session)
                .await?;
        }
        Ok(stored)
    }

    /// Replaces `current` (as read in this transaction) if its `version` is
    /// still what was read; returns the new document as
    /// clients see it. The comparison is on the stored value itself, so a
    /// document another backend wrote without an integer `version` can still
    /// be written. Inside the transaction a concurrent writer shows up as a
    /// write conflict (and the whole transaction is retried); a miss here
    /// means the same, so it is reported as retryable.
    pub async fn replace(
        &self,
        session: &mut ClientSession,
        collection: Collection,
        current: &Document,
        admitted: Admitted,
    ) -> Result<Document, ServerError> {
        let mut document = admitted.into_document();
        let id = document
            .get("_id")
            .cloned()
            .ok_or_else(|| ServerError::Internal("a stored document has no _id".into()))?;
        let expected = match current.get("version") {
            Some(version) => version.clone(),
            None => Bson::Document(doc! { "$exists": false }),
        };
        unsequenced(collection, &mut document);
        let key = (
            collection.name().to_owned(),
            id.as_str().unwrap_or_default().to_owned(),
        );
        // A document inserted earlier in this batch is replaced where it
        // waits, under the same compare-and-set.
        let replaced_pending = self.with_batch(|b| {
            let at = *b.pending_at.get(&key)?;
            let waiting = &mut b.pending.get_mut(at)?.1;
            if waiting.get("version") != current.get("version") {
                return Some(false);
            }
            *waiting = document.clone();
            b.docs.insert(key.clone(), Some(document.clone()));
            Some(true)
        });
        match replaced_pending.flatten() {
            Some(true) => {}
            Some(false) => {
                return Err(ServerError::Unavailable(
                    "the document changed during the write".into(),
                ))
            }
            None => {
                let result = self
                    .collection(collection)
                    .replace_one(doc! { "_id": id.clone(), "version": expected }, &document)
                    .session(&mut *session)
                    .await?;
                if result.matched_count != 1 {
                    return Err(ServerError::Unavailable(
                        "the document changed during the write".into(),
                    ));
                }
                self.with_batch(|b| b.docs.insert(key, Some(document.clone())));
            }
        }
        note_written(collection.name(), id);
        Ok(strip_seq(document))
    }

    /// Takes the next `version_number` of a prompt's history inside the
    /// caller's transaction. Numbers are the server's to give: two desktops
    /// that edited offline each numbered their version "next", and only the
    /// order in which the versions arrive here can tell them apart. Writers
    /// of one prompt's history first write its lock document
    /// ([`Db::lock_histories`]), so two of them conflict there and the one
    /// that retries reads the other's version; within a batch the number is
    /// then counted on.
    pub async fn next_version_number(
        &self,
        session: &mut ClientSession,
        prompt_id: &str,
    ) -> Result<i64, ServerError> {
        let counted = self.with_batch(|b| {
            let highest = b.version_numbers.get_mut(prompt_id)?;
            *highest = highest.saturating_add(1);
            Some(*highest)
        });
        if let Some(Some(next)) = counted {
            return Ok(next);
        }
        self.lock_histories(session, &[prompt_id.to_owned()])
            .await?;
        // No flush is needed first: every version this batch holds was
        // numbered here, so its prompt is already counted above.
        let highest = self
            .collection(Collection::PromptVersions)
            .find_one(doc! { "prompt_id": prompt_id })
            .sort(doc! { "version_number": -1 })
            .projection(doc! { "version_number": 1 })
            .session(&mut *session)
            .await?
            .and_then(|v| v.get("version_number").and_then(Bson::as_i64))
            .unwrap_or(0);
        let next = highest.saturating_add(1);
        self.with_batch(|b| b.version_numbers.insert(prompt_id.to_owned(), next));
        Ok(next)
    }

    /// Runs `work` in a transaction, retrying it whole on transient errors
    /// (write conflicts with concurrent writers among them).
    ///
    /// Once committed, waits for the writes to be sequenced (at most
    /// [`SEQUENCING_WAIT`]), so that any pull that starts after the answer
    /// sees them.
    pub async fn transaction<R, F>(&self, work: F) -> Result<R, ServerError>
    where
        F: for<'s> FnMut(&'s mut ClientSession) -> TxFuture<'s, R> + Send,
        R: Send,
    {
        let (value, written) = self.transaction_unsequenced(work).await?;
        self.await_sequenced(written).await;
        Ok(value)
    }

    /// Runs `work` like [`Db::transaction`] but leaves waiting for the
    /// sequencer to the caller: returns what was written, for
    /// [`Db::await_sequenced`] before the answer goes out. A push waits once
    /// for all its chunks.
    pub async fn transaction_unsequenced<R, F>(&self, work: F) -> Result<(R, Written), ServerError>
    where
        F: for<'s> FnMut(&'s mut ClientSession) -> TxFuture<'s, R> + Send,
        R: Send,
    {
        WRITTEN
            .scope(std::cell::RefCell::new(Vec::new()), async {
                let value = self.attempts(work).await?;
                let written = WRITTEN.with(|w| std::mem::take(&mut *w.borrow_mut()));
                Ok::<_, ServerError>((value, written))
            })
            .await
    }

    async fn attempts<R, F>(&self, mut work: F) -> Result<R, ServerError>
    where
        F: for<'s> FnMut(&'s mut ClientSession) -> TxFuture<'s, R> + Send,
        R: Send,
    {
        let mut session = self.client.start_session().await?;
        let mut delay = Duration::from_millis(2);
        for _ in 0..MAX_ATTEMPTS {
            // An aborted attempt's writes never happened.
            let _ = WRITTEN.try_with(|w| w.borrow_mut().clear());
            session.start_transaction().await?;
            let outcome = work(&mut session).await;
            let retry = match outcome {
                Ok(value) => {
                    let mut commit_attempts = 0;
                    loop {
                        commit_attempts += 1;
                        match session.commit_transaction().await {
                            Ok(()) => return Ok(value),
                            // Committing again is safe (MongoDB makes it idempotent), but
                            // not forever, and not in a tight loop.
                            Err(err)
                                if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                                    && commit_attempts < MAX_ATTEMPTS =>
                            {
                                tokio::time::sleep(delay).await;
                                continue;
                            }
                            Err(err) if err.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                                break err.to_string()
                            }
                            Err(err) => return Err(err.into()),
                        }
                    }
                }
                Err(ServerError::Mongo(err)) if err.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                    let _ = session.abort_transaction().await;
                    err.to_string()
                }
                Err(other) => {
                    let _ = session.abort_transaction().await;
                    return Err(other);
                }
            };
            tracing::debug!(error = %retry, "retrying a transaction");
            crate::metrics::transaction_retried();
            // Half the delay plus a random share of it: writers that met on
            // the sequence counter spread out instead of meeting again.
            let share = f64::from(rand_jitter()) / f64::from(JITTER_STEPS);
            tokio::time::sleep(delay / 2 + delay.mul_f64(share)).await;
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        Err(ServerError::Unavailable(
            "too many write conflicts; try again".into(),
        ))
    }
}

impl Db {
    /// Waits until every document in `written` carries a sequence number for
    /// its current state at or below the published watermark, or
    /// [`SEQUENCING_WAIT`] has passed. Never fails: the
    /// writes are committed either way.
    pub async fn await_sequenced(&self, written: Written) {
        if written.is_empty() {
            return;
        }
        let mut by_collection: std::collections::BTreeMap<String, Vec<Bson>> = Default::default();
        for (collection, id) in written {
            by_collection.entry(collection).or_default().push(id);
        }
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut last_watermark = None;
        loop {
            // Writes become readable only when the sequencer publishes a
            // new watermark: one small read tells whether that happened,
            // and only then are the written documents read again.
            let watermark = match crate::sequencer::watermark(self).await {
                Ok(watermark) => watermark,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether a write was sequenced");
                    break;
                }
            };
            let moved = last_watermark != Some(watermark);
            last_watermark = Some(watermark);
            let sequenced = if moved {
                self.all_sequenced(&by_collection, watermark).await
            } else {
                Ok(false)
            };
            match sequenced {
                Ok(true) => break,
                Ok(false) if started.elapsed() < SEQUENCING_WAIT => {}
                Ok(false) => {
                    tracing::warn!(
                        waited_ms = started.elapsed().as_millis() as u64,
                        "answering before the sequencer numbered this write; is a sequencer running?"
                    );
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether a write was sequenced");
                    break;
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(25));
        }
        crate::metrics::sequencing_waited(started.elapsed());
    }

    /// Whether every document in `by_collection` is numbered in its current
    /// state at or below `watermark`.
    async fn all_sequenced(
        &self,
        by_collection: &std::collections::BTreeMap<String, Vec<Bson>>,
        watermark: i64,
    ) -> Result<bool, ServerError> {
        use futures_util::TryStreamExt;
        let mut highest = 0;
        for (collection, ids) in by_collection {
            let found: Vec<Document> = self
                .db
                .collection::<Document>(collection)
                .find(doc! { "_id": { "$in": ids.clone() } })
                .projection(doc! { "version": 1, SEQ: 1, SEQ_VERSION: 1 })
                .await?
                .try_collect()
                .await?;
            if !found.iter().all(|d| is_sequenced(collection, d)) {
                return Ok(false);
            }
            highest = found
                .iter()
                .filter_map(|d| d.get_i64(SEQ).ok())
                .fold(highest, i64::max);
        }
        // Numbered, and readable: the watermark has passed them.
        Ok(watermark >= highest)
    }
}

/// Whether the current state of `doc` (in the collection named
/// `collection`) has its sequence number.
pub fn is_sequenced(collection: &str, doc: &Document) -> bool {
    let numbered = doc.get_i64(SEQ).is_ok_and(|seq| seq > 0);
    if collection == SCOPE_EXITS {
        return numbered;
    }
    numbered && doc.get_i64(SEQ_VERSION).ok() == Some(version_of(doc))
}

/// Resolution of the retry jitter.
const JITTER_STEPS: u32 = 2_000;

/// A pseudo-random step in `0..JITTER_STEPS`, so two retrying writers do not
/// collide again in step.
fn rand_jitter() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos % JITTER_STEPS
}

pub fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e)) => {
            e.code == 11000
        }
        mongodb::error::ErrorKind::Command(e) => e.code == 11000,
        _ => err.to_string().contains("E11000"),
    }
}
