//! The single writer: one thread owns every write to PoloDB.
//!
//! PoloDB loses concurrent read-modify-write updates and can accept the same
//! `_id` twice from two threads, so no write happens anywhere else. Each job
//! runs in one explicit transaction; the catalog learns of the change only
//! after the commit, so readers never see uncommitted state.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};

use bson::{doc, Bson, DateTime, Document};
use polodb_core::{CollectionT, Database, IndexModel, IndexOptions, Transaction};

use super::catalog::{canonicalize_in, entry_in, Catalog, CatalogEntry, SnapshotError};
use super::{LOCAL_USER_PREFIX, META_COLLECTION};
use crate::error::{Result, StoreError};
use crate::schema::{Collection, ValidationError};

pub(crate) type Job = Box<dyn FnOnce(&mut Writer) + Send>;

pub(crate) struct Writer {
    pub(crate) db: Database,
    pub(crate) catalog: Arc<RwLock<Catalog>>,
    /// Bumped after each commit that queued local changes for upload.
    pub(crate) outbox_changed: tokio::sync::watch::Sender<u64>,
    /// Where the catalog is saved when the store closes.
    pub(crate) snapshot: PathBuf,
    /// False once a job panicked: it may have committed without updating
    /// the catalog, which then must not be saved.
    pub(crate) catalog_trusted: bool,
    /// Set by [`Writer::close`]: no job runs after it.
    pub(crate) closed: bool,
}

/// The meta document holding the token of the catalog snapshot that matches
/// the stored documents; absent while the store is open.
const SNAPSHOT_META_ID: &str = "catalog_snapshot";

impl Writer {
    pub(crate) fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            // A panicking job must not take every later write down with it;
            // its caller sees the store as closed for that one call.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut self)));
            if outcome.is_err() {
                self.catalog_trusted = false;
                tracing::error!("a store write panicked; its transaction was rolled back");
            }
            if self.closed {
                // Dropping the queue makes every later write fail as closed.
                return;
            }
        }
        self.close();
    }

    /// Stops taking jobs and saves the catalog for the next open.
    pub(crate) fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        if self.catalog_trusted {
            self.save_catalog();
        }
        tracing::debug!("store writer stopped");
    }

    /// Where the in-memory catalog disagrees with the stored documents.
    pub(crate) fn catalog_differences(&self) -> Result<Vec<String>> {
        let rebuilt = load_catalog(&self.db)?;
        let catalog = self
            .catalog
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(catalog.differences(&rebuilt))
    }

    /// Saves the catalog for the next open: first the token in PoloDB, then
    /// the file carrying it. A failure at either step only costs the next
    /// open a rebuild, since the two then disagree.
    fn save_catalog(&self) {
        let token: u64 = rand::random();
        let meta = self.db.collection::<Document>(META_COLLECTION);
        let stamped = meta
            .delete_one(doc! { "_id": SNAPSHOT_META_ID })
            .and_then(|_| meta.insert_one(doc! { "_id": SNAPSHOT_META_ID, "token": token as i64 }));
        if let Err(err) = stamped {
            tracing::warn!(error = %err, "could not record the catalog snapshot");
            return;
        }
        let catalog = self
            .catalog
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(err) = catalog.save(&self.snapshot, token) {
            tracing::warn!(path = %self.snapshot.display(), error = %err, "could not save the catalog snapshot");
        }
    }

    /// Runs `work` in one transaction: all of it commits, or none of it.
    pub(crate) fn transaction<R>(&mut self, work: impl FnOnce(&mut Tx) -> Result<R>) -> Result<R> {
        if self.closed {
            return Err(StoreError::Closed);
        }
        let mut tx = Tx {
            txn: self.db.start_transaction()?,
            now: DateTime::now(),
            touched: Vec::new(),
            track: true,
            queued: false,
        };
        match work(&mut tx) {
            Ok(value) => {
                tx.txn.commit()?;
                if tx.queued {
                    self.outbox_changed.send_modify(|n| *n = n.wrapping_add(1));
                }
                let mut catalog = self
                    .catalog
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for (collection, id, entry) in tx.touched {
                    match entry {
                        Some(entry) => catalog.upsert(collection, &id, entry),
                        None => catalog.remove(collection, &id),
                    }
                }
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.txn.rollback() {
                    tracing::warn!(error = %rollback, "rollback after a failed write also failed");
                }
                Err(err)
            }
        }
    }
}

/// One open write transaction.
pub(crate) struct Tx {
    txn: Transaction,
    pub(crate) now: DateTime,
    touched: Vec<(Collection, String, Option<CatalogEntry>)>,
    /// Whether writes are local edits to upload (true) or the server's
    /// documents being applied (false).
    pub(crate) track: bool,
    /// Set when this transaction queued something for upload.
    pub(crate) queued: bool,
}

impl Tx {
    pub(crate) fn get(&self, collection: Collection, id: &str) -> Result<Option<Document>> {
        Ok(self
            .txn
            .collection::<Document>(collection.name())
            .find_one(doc! { "_id": id })?)
    }

    /// Like [`Tx::get`], but a missing document is an error.
    pub(crate) fn require(&self, collection: Collection, id: &str) -> Result<Document> {
        self.get(collection, id)?
            .ok_or_else(|| StoreError::NotFound {
                collection,
                id: id.to_owned(),
            })
    }

    /// Documents whose `field` equals `value`. Only equality reaches PoloDB,
    /// never with a sort (an indexed filter plus a sort returns nothing).
    pub(crate) fn find_eq(
        &self,
        collection: Collection,
        field: &str,
        value: &str,
    ) -> Result<Vec<Document>> {
        let cursor = self
            .txn
            .collection::<Document>(collection.name())
            .find(doc! { field: value })
            .run()?;
        let mut docs = Vec::new();
        for doc in cursor {
            docs.push(doc?);
        }
        Ok(docs)
    }

    /// Validates and inserts a new document; its `_id` must be free.
    pub(crate) fn insert(&mut self, collection: Collection, doc: Document) -> Result<Document> {
        self.insert_new(collection, doc, false)
    }

    /// Like [`Tx::insert`]; `known_absent` skips the look-up when the caller
    /// has just found no document with this id in this transaction.
    fn insert_new(
        &mut self,
        collection: Collection,
        doc: Document,
        known_absent: bool,
    ) -> Result<Document> {
        let (doc, entry) = canonicalize_in(collection, doc)?;
        let id = doc_id(collection, &doc)?;
        if !known_absent && self.get(collection, &id)?.is_some() {
            return Err(StoreError::AlreadyExists { collection, id });
        }
        self.txn
            .collection::<Document>(collection.name())
            .insert_one(&doc)?;
        self.touched.push((collection, id, Some(entry)));
        if self.track {
            super::replica::record(self, collection, None, &doc)?;
        }
        Ok(doc)
    }

    /// Validates `new` and writes the fields in which it differs from `old`.
    pub(crate) fn replace(
        &mut self,
        collection: Collection,
        old: &Document,
        new: Document,
    ) -> Result<Document> {
        let (new, entry) = canonicalize_in(collection, new)?;
        let id = doc_id(collection, &new)?;
        let mut set = Document::new();
        for (key, value) in &new {
            if old.get(key) != Some(value) {
                set.insert(key.clone(), value.clone());
            }
        }
        let mut unset = Document::new();
        for key in old.keys() {
            if !new.contains_key(key) {
                unset.insert(key.clone(), "");
            }
        }
        let mut update = Document::new();
        if !set.is_empty() {
            update.insert("$set", set);
        }
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        if !update.is_empty() {
            let result = self
                .txn
                .collection::<Document>(collection.name())
                .update_one(doc! { "_id": &id }, update)?;
            if result.matched_count != 1 {
                return Err(StoreError::NotFound { collection, id });
            }
        }
        self.touched.push((collection, id, Some(entry)));
        if self.track {
            super::replica::record(self, collection, Some(old), &new)?;
        }
        Ok(new)
    }

    /// Writes `doc` as given, inserting or replacing, without queueing an
    /// upload: how the server's documents are applied.
    pub(crate) fn put_untracked(&mut self, collection: Collection, doc: Document) -> Result<()> {
        let id = doc_id(collection, &doc)?;
        match self.get(collection, &id)? {
            Some(old) => self.replace_untracked(collection, &old, doc),
            None => self.insert_untracked(collection, doc),
        }
    }

    /// Inserts a server document the caller just found absent here, without
    /// queueing an upload.
    pub(crate) fn insert_untracked(&mut self, collection: Collection, doc: Document) -> Result<()> {
        self.untracked(|tx| tx.insert_new(collection, doc, true).map(drop))
    }

    /// Writes a server document over the local `old`, without queueing an upload.
    pub(crate) fn replace_untracked(
        &mut self,
        collection: Collection,
        old: &Document,
        doc: Document,
    ) -> Result<()> {
        self.untracked(|tx| tx.replace(collection, old, doc).map(drop))
    }

    /// Runs `write` with upload tracking off, restoring it afterwards.
    fn untracked<R>(&mut self, write: impl FnOnce(&mut Tx) -> Result<R>) -> Result<R> {
        let track = std::mem::replace(&mut self.track, false);
        let result = write(self);
        self.track = track;
        result
    }

    /// A bookkeeping collection of the store's own (outbox, conflicts, ...).
    pub(crate) fn raw(&self, name: &str) -> polodb_core::TransactionalCollection<Document> {
        self.txn.collection::<Document>(name)
    }

    /// Every document of a bookkeeping collection matching `filter`.
    pub(crate) fn raw_find(&self, name: &str, filter: Document) -> Result<Vec<Document>> {
        let mut docs = Vec::new();
        for doc in self.raw(name).find(filter).run()? {
            docs.push(doc?);
        }
        Ok(docs)
    }

    /// Removes a document outright (import replaces documents this way).
    pub(crate) fn remove(&mut self, collection: Collection, id: &str) -> Result<()> {
        self.txn
            .collection::<Document>(collection.name())
            .delete_one(doc! { "_id": id })?;
        self.touched.push((collection, id.to_owned(), None));
        Ok(())
    }
}

pub(crate) fn doc_id(collection: Collection, doc: &Document) -> Result<String> {
    match doc.get("_id") {
        Some(Bson::String(id)) => Ok(id.clone()),
        _ => Err(ValidationError::single(collection, "_id", "must be a string").into()),
    }
}

/// The catalog for a store being opened: the snapshot saved at the last
/// clean close when it still matches the documents, else rebuilt from them.
/// Either way the snapshot's token is removed before the store can write, so
/// a crash later never leaves a snapshot that looks current.
pub(crate) fn open_catalog(db: &Database, snapshot: &Path) -> Result<(Catalog, CatalogSource)> {
    let meta = db.collection::<Document>(META_COLLECTION);
    let stamp = meta.find_one(doc! { "_id": SNAPSHOT_META_ID })?;
    let saved = match stamp.as_ref().and_then(|s| s.get_i64("token").ok()) {
        Some(token) => Catalog::load(snapshot, token as u64),
        None => Err(SnapshotError::Missing),
    };
    if stamp.is_some() {
        meta.delete_one(doc! { "_id": SNAPSHOT_META_ID })?;
    }
    match saved {
        Ok(catalog) => Ok((catalog, CatalogSource::Snapshot)),
        Err(reason) => {
            tracing::info!(%reason, "rebuilding the catalog from the stored documents");
            Ok((load_catalog(db)?, CatalogSource::Rebuilt))
        }
    }
}

/// Where an open found its catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatalogSource {
    /// The snapshot saved at the last clean close.
    Snapshot,
    /// Decoded from every stored document.
    Rebuilt,
}

/// Rebuilds the catalog from every stored document.
pub(crate) fn load_catalog(db: &Database) -> Result<Catalog> {
    let mut catalog = Catalog::default();
    for collection in Collection::ALL {
        let cursor = db
            .collection::<Document>(collection.name())
            .find(doc! {})
            .run()?;
        for doc in cursor {
            let doc = doc?;
            let id = doc_id(collection, &doc)?;
            if collection == Collection::PromptVersions {
                // Versions are listed through their prompt_id index, never
                // filtered or searched: counting them needs no decoding.
                catalog.upsert(collection, &id, CatalogEntry::default());
                continue;
            }
            match entry_in(collection, doc) {
                Ok(entry) => catalog.upsert(collection, &id, entry),
                // One unreadable document must not make the whole library
                // unreachable; it stays stored, untouched, and is reported.
                Err(err) => {
                    tracing::warn!(%collection, %id, error = %err, "stored document does not match the schema")
                }
            }
        }
    }
    Ok(catalog)
}

/// What opening a profile writes before the writer thread starts: the
/// indexes and, on first open, the profile's local user. The caller holds the
/// profile lock and no other thread has the database yet, so these writes
/// cannot race the writer; every later write is the writer's.
pub(crate) fn prepare(db: &Database) -> Result<String> {
    // The outbox is looked up by document on every write and every
    // absorbed server document.
    let outbox = (super::replica::OUTBOX, "doc_key");
    let indexes = super::INDEXES
        .iter()
        .map(|(collection, field)| (collection.name(), *field))
        .chain([outbox]);
    for (collection, field) in indexes {
        let index = IndexModel {
            keys: doc! { field: 1 },
            options: Some(IndexOptions {
                name: Some(format!("{field}_1")),
                unique: Some(false),
            }),
        };
        match db.collection::<Document>(collection).create_index(index) {
            Ok(()) | Err(polodb_core::Error::IndexAlreadyExists(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    profile_user(db)
}

/// The profile's local user id, created on first open.
fn profile_user(db: &Database) -> Result<String> {
    let meta = db.collection::<Document>(META_COLLECTION);
    if let Some(profile) = meta.find_one(doc! { "_id": "profile" })? {
        if let Ok(user_id) = profile.get_str("user_id") {
            return Ok(user_id.to_owned());
        }
    }
    let user_id = format!("{LOCAL_USER_PREFIX}{}", crate::schema::new_id());
    meta.insert_one(doc! { "_id": "profile", "user_id": &user_id, "created_at": bson::DateTime::now(), "schema_version": 1 })?;
    Ok(user_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Idea, Prompt};
    use crate::store::{ListQuery, Store};

    #[tokio::test]
    async fn a_snapshot_reproduces_the_rebuilt_catalog_and_is_consumed_by_the_open() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = Store::open(dir.path()).await.expect("open");
            let user = store.user_id();
            for i in 0..30 {
                let mut draft = Prompt::new(&user, &format!("Prompt {i}"), "Text {topic}");
                draft.tags = vec![format!("tag{}", i % 3)];
                store.create(draft).await.expect("create");
            }
            let idea = store
                .create(Idea::new(&user, "An idea", "Why not"))
                .await
                .expect("create idea");
            store.delete::<Idea>(&idea.id).await.expect("trash idea");
        }
        let db = Database::open_path(dir.path().join("db")).expect("open PoloDB");
        let snapshot = dir.path().join(super::super::CATALOG_SNAPSHOT);
        let rebuilt = load_catalog(&db).expect("rebuild");
        let (reopened, source) = open_catalog(&db, &snapshot).expect("open catalog");
        assert_eq!(source, CatalogSource::Snapshot);
        assert_eq!(reopened.differences(&rebuilt), Vec::<String>::new());
        assert_eq!(reopened.len(crate::schema::Collection::Prompts), 30);
        assert_eq!(reopened.len(crate::schema::Collection::PromptVersions), 30);
        let query = ListQuery {
            tags: vec!["tag1".into()],
            ..ListQuery::default()
        };
        assert_eq!(
            reopened.query(crate::schema::Collection::Prompts, &query),
            rebuilt.query(crate::schema::Collection::Prompts, &query)
        );

        // Once opened, the store may write: the token must be gone so that a
        // crash cannot leave the snapshot looking current.
        let meta = db.collection::<Document>(META_COLLECTION);
        assert!(meta
            .find_one(doc! { "_id": SNAPSHOT_META_ID })
            .expect("read meta")
            .is_none());
        let (_, source) = open_catalog(&db, &snapshot).expect("open catalog again");
        assert_eq!(source, CatalogSource::Rebuilt);
    }

    #[tokio::test]
    async fn after_a_write_panicked_the_catalog_is_not_saved() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let store = Store::open(dir.path()).await.expect("open");
            store
                .create(Prompt::new(&store.user_id(), "Before", "Text"))
                .await
                .expect("create");
            store
                .send_job(Box::new(|_: &mut Writer| panic!("a write gone wrong")))
                .expect("queue");
        }
        let db = Database::open_path(dir.path().join("db")).expect("open PoloDB");
        let snapshot = dir.path().join(super::super::CATALOG_SNAPSHOT);
        assert!(!snapshot.exists());
        let (catalog, source) = open_catalog(&db, &snapshot).expect("open catalog");
        assert_eq!(source, CatalogSource::Rebuilt);
        assert_eq!(catalog.len(crate::schema::Collection::Prompts), 1);
    }
}
