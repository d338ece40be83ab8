//! The local store: one PoloDB directory per profile, behind a typed async API.
//!
//! This module is the only code that touches PoloDB. Writes go to a single
//! writer thread ([`writer`]) that runs each one in an explicit transaction
//! and applies the seed's rules ([`rules`]); reads run on Tokio's blocking
//! pool so PoloDB's synchronous calls never stall the async runtime. Lists and
//! search are answered by the in-memory [`catalog`].

mod catalog;
mod events;
mod exchange;
mod history;
mod replica;
mod rules;
mod writer;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use bson::{doc, Bson, Document};
use polodb_core::{CollectionT, Database};
use tokio::sync::oneshot;

pub use catalog::{DeletedFilter, ListQuery, Page, SortBy};
pub use exchange::{Export, ImportReport, EXPORT_FORMAT, EXPORT_FORMAT_VERSION};
pub use promptforge_wire::codec;
pub use replica::{
    AttentionItem, Conflict, ConflictKind, PendingOp, PushApplied, Replica, Resolution, SyncSummary,
};

use crate::error::{Result, StoreError};
use crate::schema::{Collection, Model, Prompt, PromptVersion};
use catalog::Catalog;
use codec::{decode, encode};
use writer::{Job, Writer};

/// Equality lookups the store makes on PoloDB itself (never combined with a
/// sort, which PoloDB answers with nothing on an indexed field).
const INDEXES: [(Collection, &str); 4] = [
    (Collection::PromptVersions, "prompt_id"),
    (Collection::Reviews, "prompt_id"),
    (Collection::MarketplacePurchases, "buyer_id"),
    (Collection::Notifications, "user_id"),
];

pub(crate) const META_COLLECTION: &str = "_promptforge_meta";

/// The catalog saved at the last clean close, beside the PoloDB directory.
const CATALOG_SNAPSHOT: &str = "catalog.snapshot";

impl From<polodb_core::Error> for StoreError {
    fn from(err: polodb_core::Error) -> Self {
        StoreError::Storage(Box::new(err))
    }
}

/// A handle to an open profile. Cheap to clone; the profile closes when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    catalog: Arc<RwLock<Catalog>>,
    dir: PathBuf,
    user_id: RwLock<String>,
    outbox_changed: tokio::sync::watch::Receiver<u64>,
    /// Held for the life of the store: one process per profile directory.
    _lock: File,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("user_id", &self.user_id)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Close the queue, then wait for the writer to finish what it took,
        // so the PoloDB files are closed before the profile lock is released.
        self.jobs.take();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

impl Store {
    /// Opens (creating if needed) the profile in `dir`. Fails with
    /// [`StoreError::ProfileLocked`] while another process has it open.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Store::open_blocking(dir))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    fn open_blocking(dir: PathBuf) -> Result<Store> {
        let io = |source| StoreError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("promptforge.lock"))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::ProfileLocked { path: dir }),
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        let db = Database::open_path(dir.join("db"))?;
        let user_id = writer::prepare(&db)?;
        let snapshot = dir.join(CATALOG_SNAPSHOT);
        let (catalog, source) = writer::open_catalog(&db, &snapshot)?;
        tracing::debug!(?source, "catalog ready");
        let catalog = Arc::new(RwLock::new(catalog));

        let (jobs, queue) = mpsc::channel::<Job>();
        let (outbox_changed, outbox_watch) = tokio::sync::watch::channel(0_u64);
        let writer = Writer {
            db: db.clone(),
            catalog: Arc::clone(&catalog),
            outbox_changed,
            snapshot,
            catalog_trusted: true,
            closed: false,
        };
        let handle = std::thread::Builder::new()
            .name("promptforge-store-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(io)?;
        tracing::info!(dir = %dir.display(), "opened local store");
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                jobs: Some(jobs),
                writer: Mutex::new(Some(handle)),
                catalog,
                dir,
                user_id: RwLock::new(user_id),
                outbox_changed: outbox_watch,
                _lock: lock,
            }),
        })
    }

    /// Finishes the writes already queued, saves what makes the next open
    /// fast, and refuses every later write ([`StoreError::Closed`]), from
    /// this handle and all its clones. Dropping the last handle does the same;
    /// this is for an app quitting while tasks may still hold handles.
    pub async fn close(&self) {
        let (reply, closed) = oneshot::channel();
        let sent = self.send_job(Box::new(move |writer: &mut Writer| {
            writer.close();
            let _ = reply.send(());
        }));
        if sent.is_ok() {
            // An error only means the writer had already stopped.
            let _ = closed.await;
        }
    }

    /// The profile's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The user id documents created in this profile belong to: a local id
    /// until the profile is attached to an account.
    pub fn user_id(&self) -> String {
        self.inner
            .user_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs `work` on the writer thread in one transaction.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut writer::Tx) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.write_as(true, work).await
    }

    /// Runs `work` in one transaction that applies the server's state: what
    /// it writes is not queued for upload (unless `work` queues it itself).
    async fn write_untracked<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut writer::Tx) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.write_as(false, work).await
    }

    async fn write_as<R: Send + 'static>(
        &self,
        track: bool,
        work: impl FnOnce(&mut writer::Tx) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (reply, answer) = oneshot::channel();
        self.send_job(Box::new(move |writer: &mut Writer| {
            let _ = reply.send(writer.transaction(|tx| {
                tx.track = track;
                work(tx)
            }));
        }))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `job` for the writer thread; fails once the store is closed.
    fn send_job(&self, job: Job) -> Result<()> {
        self.inner
            .jobs
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs a PoloDB read on the blocking pool.
    async fn read<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner.db))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Stores a new document. The store assigns `_id` when it is empty,
    /// stamps the times, and applies the collection's rules.
    pub async fn create<T: Model>(&self, model: T) -> Result<T> {
        let doc = encode(&model)?;
        let stored = self
            .write(move |tx| rules::create(tx, T::COLLECTION, doc))
            .await?;
        Ok(decode(stored)?)
    }

    /// Stores many new documents in one transaction: all or none.
    pub async fn create_many<T: Model>(&self, models: Vec<T>) -> Result<Vec<T>> {
        let docs = models.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let stored = self
            .write(move |tx| {
                docs.into_iter()
                    .map(|doc| rules::create(tx, T::COLLECTION, doc))
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        stored
            .into_iter()
            .map(|doc| decode(doc).map_err(StoreError::from))
            .collect()
    }

    /// Creates a `T` from the fields a person gave (field paths to values):
    /// it starts as this kind's new document, owned by the profile's user.
    /// The app and the CLI both create this way, so they cannot drift apart;
    /// fields the store decides (id, owner, version) are refused.
    pub async fn create_from<T: Model>(&self, fields: Document) -> Result<T> {
        let model = rules::new_model::<T>(&self.user_id(), fields)?;
        self.create(model).await
    }

    /// The document with this id, deleted or not.
    pub async fn get<T: Model>(&self, id: &str) -> Result<Option<T>> {
        let id = id.to_owned();
        let doc = self
            .read(move |db| {
                Ok(db
                    .collection::<Document>(T::COLLECTION.name())
                    .find_one(doc! { "_id": id })?)
            })
            .await?;
        doc.map(|doc| decode(doc).map_err(StoreError::from))
            .transpose()
    }

    /// Like [`Store::get`], but a missing document is [`StoreError::NotFound`].
    pub async fn require<T: Model>(&self, id: &str) -> Result<T> {
        self.get(id).await?.ok_or_else(|| StoreError::NotFound {
            collection: T::COLLECTION,
            id: id.to_owned(),
        })
    }

    /// Changes only the given fields: `changes` maps field paths (`title`,
    /// `performance.rating`) to new values, `null` clearing a field.
    pub async fn patch<T: Model>(&self, id: &str, changes: Document) -> Result<T> {
        let (id, actor) = (id.to_owned(), self.user_id());
        let stored = self
            .write(move |tx| rules::patch(tx, T::COLLECTION, &id, changes, &actor))
            .await?;
        Ok(decode(stored)?)
    }

    /// Reads, changes and writes a document as one step on the writer, so
    /// concurrent modifications never lose one another's changes.
    pub async fn modify<T: Model>(
        &self,
        id: &str,
        change: impl FnOnce(&mut T) + Send + 'static,
    ) -> Result<T> {
        let (id, actor) = (id.to_owned(), self.user_id());
        let stored = self
            .write(move |tx| {
                let old = tx.require(T::COLLECTION, &id)?;
                let mut model: T = decode(old.clone())?;
                change(&mut model);
                let new = encode(&model)?;
                let mut changes = Document::new();
                for (key, value) in &new {
                    if old.get(key) != Some(value) {
                        changes.insert(key.clone(), value.clone());
                    }
                }
                let fields = T::fields();
                for key in old
                    .keys()
                    .filter(|k| !new.contains_key(*k) && fields.contains(&k.as_str()))
                {
                    changes.insert(key.clone(), bson::Bson::Null);
                }
                if changes.is_empty() {
                    return Ok(old);
                }
                rules::patch(tx, T::COLLECTION, &id, changes, &actor)
            })
            .await?;
        Ok(decode(stored)?)
    }

    /// Moves a document to the trash (`deleted_at`, `deleted_by`).
    pub async fn delete<T: Model>(&self, id: &str) -> Result<T> {
        let (id, actor) = (id.to_owned(), self.user_id());
        let stored = self
            .write(move |tx| {
                rules::require_owner(tx, T::COLLECTION, &id, &actor, "deleted")?;
                rules::soft_delete(tx, T::COLLECTION, &id, &actor)
            })
            .await?;
        Ok(decode(stored)?)
    }

    /// Brings a document back from the trash.
    pub async fn restore<T: Model>(&self, id: &str) -> Result<T> {
        let (id, actor) = (id.to_owned(), self.user_id());
        let stored = self
            .write(move |tx| {
                rules::require_owner(tx, T::COLLECTION, &id, &actor, "restored")?;
                rules::restore(tx, T::COLLECTION, &id)
            })
            .await?;
        Ok(decode(stored)?)
    }

    /// Stores a copy of a document with `changes` applied, as a new document;
    /// a prompt's copy names its original in `parent_prompt_id`. A fork that
    /// is the user's own draft is [`Store::fork_prompt`].
    pub async fn duplicate<T: Model>(&self, id: &str, changes: Document) -> Result<T> {
        let id = id.to_owned();
        let stored = self
            .write(move |tx| rules::duplicate(tx, T::COLLECTION, &id, changes))
            .await?;
        Ok(decode(stored)?)
    }

    /// A copy of a prompt (a template, say) that is the user's own draft and
    /// names the original in `parent_prompt_id`; `changes` are applied to it.
    pub async fn fork_prompt(&self, id: &str, changes: Document) -> Result<Prompt> {
        let (id, user) = (id.to_owned(), self.user_id());
        let stored = self
            .write(move |tx| rules::fork_prompt(tx, &id, changes, &user))
            .await?;
        Ok(decode(stored)?)
    }

    /// One page of documents matching `query`, in its order.
    pub async fn list<T: Model>(&self, query: ListQuery) -> Result<Page<T>> {
        let (ids, total) = self
            .inner
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .query(T::COLLECTION, &query);
        let docs = self
            .read(move |db| {
                let collection = db.collection::<Document>(T::COLLECTION.name());
                let mut docs = Vec::with_capacity(ids.len());
                for id in ids {
                    // A document deleted between the catalog read and this
                    // one is simply left out of the page.
                    if let Some(doc) = collection.find_one(doc! { "_id": id })? {
                        docs.push(doc);
                    }
                }
                Ok(docs)
            })
            .await?;
        let items = docs
            .into_iter()
            .map(|d| decode(d).map_err(StoreError::from))
            .collect::<Result<Vec<T>>>()?;
        Ok(Page {
            items,
            total,
            offset: query.offset,
            limit: query.effective_limit(),
        })
    }

    /// How many documents a collection holds, deleted ones included.
    pub fn count(&self, collection: Collection) -> usize {
        self.inner
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len(collection)
    }

    /// A prompt's versions, newest first.
    pub async fn prompt_versions(&self, prompt_id: &str) -> Result<Vec<PromptVersion>> {
        let prompt_id = prompt_id.to_owned();
        let docs = self
            .read(move |db| find_eq(db, Collection::PromptVersions, "prompt_id", &prompt_id))
            .await?;
        let mut versions = docs
            .into_iter()
            .map(decode::<PromptVersion>)
            .collect::<Result<Vec<_>, _>>()?;
        versions.sort_by_key(|v| std::cmp::Reverse(v.version_number));
        Ok(versions)
    }

    /// Puts a prompt's content back to version `number`, recorded as a new version.
    pub async fn restore_prompt_version(&self, prompt_id: &str, number: i64) -> Result<Prompt> {
        let (id, actor) = (prompt_id.to_owned(), self.user_id());
        let stored = self
            .write(move |tx| rules::restore_prompt_version(tx, &id, number, &actor))
            .await?;
        Ok(decode(stored)?)
    }

    /// Every stored document, for export and for consistency checks.
    pub async fn export(&self) -> Result<Export> {
        self.read(exchange::export_all).await
    }

    /// Adds or replaces every document in `export`, after validating all of
    /// them: one bad document rejects the import and nothing is written.
    pub async fn import(&self, export: Export) -> Result<ImportReport> {
        let prepared = exchange::prepare(export)?;
        self.write(move |tx| exchange::apply(tx, prepared)).await
    }

    /// Checks the invariants the rules maintain; returns every violation found.
    pub async fn check_consistency(&self) -> Result<Vec<String>> {
        let export = self.export().await?;
        let mut problems = exchange::consistency_problems(&export);
        // On the writer thread, so no write lands between the two reads.
        let (reply, answer) = oneshot::channel();
        self.send_job(Box::new(move |writer: &mut Writer| {
            let _ = reply.send(writer.catalog_differences());
        }))?;
        problems.extend(answer.await.map_err(|_| StoreError::Closed)??);
        Ok(problems)
    }
}

/// Local profiles' user ids start with this until attached to an account.
pub const LOCAL_USER_PREFIX: &str = "local-";

/// What the app and the CLI show and settle of sync: the summary, conflicts
/// and the needs-attention list. The engine's side is [`Store::replica`].
impl Store {
    /// The sync engine's handle on this profile: its outbox, pulled pages
    /// and checkpoints.
    pub fn replica(&self) -> Replica<'_> {
        Replica::new(self)
    }

    /// Remembers which server this profile syncs with.
    pub async fn set_server_url(&self, url: &str) -> Result<()> {
        let url = url.to_owned();
        self.write_untracked(move |tx| replica::set_sync_field(tx, "server_url", Bson::String(url)))
            .await
    }

    /// Outbox size, oldest pending change, attention and conflict counts.
    pub async fn sync_summary(&self) -> Result<SyncSummary> {
        self.write_untracked(|tx| replica::summary(tx)).await
    }

    /// Recorded conflicts, oldest first (open ones only unless asked).
    pub async fn conflicts(&self, include_resolved: bool) -> Result<Vec<Conflict>> {
        self.write_untracked(move |tx| replica::conflicts(tx, include_resolved))
            .await
    }

    /// Settles a conflict the user's way: keep mine re-applies this device's
    /// value (and uploads it), keep theirs leaves the server's, keep both
    /// stores this device's value in a copy of the document.
    pub async fn resolve_conflict(&self, id: &str, resolution: Resolution) -> Result<Conflict> {
        let (id, actor) = (id.to_owned(), self.user_id());
        self.write(move |tx| {
            let conflict = replica::conflict(tx, &id)?;
            if conflict.resolved.is_some() {
                return Ok(conflict);
            }
            let (collection, doc_id) = (conflict.collection, conflict.doc_id.as_str());
            match (conflict.kind, resolution, conflict.field.as_deref()) {
                (ConflictKind::Field, Resolution::KeepMine, Some(field)) => {
                    let changes = doc! { field: conflict.mine.clone() };
                    rules::apply_changes(tx, collection, doc_id, changes, &actor)?;
                }
                (ConflictKind::Field, Resolution::KeepBoth, Some(field)) => {
                    let changes = doc! { field: conflict.mine.clone() };
                    rules::duplicate(tx, collection, doc_id, changes)?;
                }
                // Another device deleted what this one edited, and the edit
                // brought it back. Both: a copy keeps the edit, and the
                // original goes to the trash as the other device wanted.
                (ConflictKind::EditVsDelete, Resolution::KeepBoth, _)
                    if conflict.resolution == "restored_with_edit" =>
                {
                    rules::duplicate(tx, collection, doc_id, Document::new())?;
                    let live = tx
                        .get(collection, doc_id)?
                        .is_some_and(|d| !codec::is_deleted(&d));
                    if live {
                        rules::soft_delete(tx, collection, doc_id, &actor)?;
                    }
                }
                // The owner deleted what this collaborator edited: the edit
                // can only live on as the collaborator's own copy.
                (ConflictKind::EditVsDelete, Resolution::KeepMine | Resolution::KeepBoth, _)
                    if conflict.resolution == "deleted_by_owner" =>
                {
                    if let Bson::Document(edited) = &conflict.mine {
                        rules::adopt_copy(tx, collection, edited.clone(), &actor)?;
                    }
                }
                (ConflictKind::DeleteVsEdit, Resolution::KeepBoth, _) => {
                    return Err(StoreError::NotAllowed {
                        collection,
                        action: "kept both ways after a delete met an edit",
                        reason:
                            "a document cannot be both deleted and kept: keep mine deletes it, \
                                 keep theirs keeps the other device's edit",
                    });
                }
                (ConflictKind::EditVsDelete, Resolution::KeepTheirs, _)
                | (ConflictKind::DeleteVsEdit, Resolution::KeepMine, _) => {
                    let live = tx
                        .get(collection, doc_id)?
                        .is_some_and(|d| !codec::is_deleted(&d));
                    if live {
                        rules::soft_delete(tx, collection, doc_id, &actor)?;
                    }
                }
                _ => {}
            }
            replica::mark_resolved(tx, &id, resolution)?;
            replica::conflict(tx, &id)
        })
        .await
    }

    /// Local changes the server refused for good, with its reasons.
    pub async fn needs_attention(&self) -> Result<Vec<AttentionItem>> {
        self.write_untracked(|tx| replica::attention(tx)).await
    }

    /// Clears an attention item; with `retry`, uploads the change again.
    pub async fn settle_attention(&self, mutation_id: u64, retry: bool) -> Result<()> {
        self.write_untracked(move |tx| replica::settle_attention(tx, mutation_id, retry))
            .await
    }
}

fn find_eq(
    db: &Database,
    collection: Collection,
    field: &str,
    value: &str,
) -> Result<Vec<Document>> {
    let cursor = db
        .collection::<Document>(collection.name())
        .find(doc! { field: value })
        .run()?;
    let mut docs = Vec::new();
    for doc in cursor {
        docs.push(doc?);
    }
    Ok(docs)
}
