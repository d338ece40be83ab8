//! The single writer: one thread owns every write to PoloDB.
//!
//! PoloDB loses concurrent read-modify-write updates and can accept the same
//! `_id` twice from two threads, so no write happens anywhere else. Each job
//! runs in one explicit transaction; the catalog learns of the change only
//! after the commit, so readers never see uncommitted state.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};

use bson::{doc, Bson, DateTime, Document};
use polodb_core::{CollectionT, Database, Transaction};

use super::catalog::Catalog;
use crate::error::{Result, StoreError};
use crate::schema::{CatalogEntry, Collection, ValidationError};
use promptforge_wire::codec::{canonicalize_in, entry_in};

pub(crate) type Job = Box<dyn FnOnce(&mut Writer) + Send>;

pub(crate) struct Writer {
    pub(crate) db: Database,
    pub(crate) catalog: Arc<RwLock<Catalog>>,
    /// Bumped after each commit that queued local changes for upload.
    pub(crate) outbox_changed: tokio::sync::watch::Sender<u64>,
}

impl Writer {
    pub(crate) fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            // A panicking job must not take every later write down with it;
            // its caller sees the store as closed for that one call.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut self)));
            if outcome.is_err() {
                tracing::error!("a store write panicked; its transaction was rolled back");
            }
        }
        tracing::debug!("store writer stopped");
    }

    /// Runs `work` in one transaction: all of it commits, or none of it.
    pub(crate) fn transaction<R>(&mut self, work: impl FnOnce(&mut Tx) -> Result<R>) -> Result<R> {
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
