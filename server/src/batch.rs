//! One push chunk's working set, so a hundred mutations cost a handful of
//! database round trips instead of several each: the documents they touch
//! are read up front with one query per collection, reads by `_id` are
//! answered from that set (and from the chunk's own writes), new documents
//! and mutation records are inserted together just before the commit, and
//! a prompt's next version number is counted here once its history is
//! locked.
//!
//! A [`crate::db::Db`] carries a batch only inside one transaction attempt
//! of a push chunk (see `push::record`); every other write path sees none.
//! A query that is not a read by `_id` must see the chunk's inserts, so it
//! calls [`crate::db::Db::flush`] first.

use std::collections::HashMap;

use bson::{doc, Bson, Document};
use mongodb::ClientSession;
use promptforge_wire::schema::Collection;

use crate::db::{Db, COUNTERS};
use crate::error::ServerError;
use crate::scope::TeamAccess;

/// The key of a document: collection name and `_id`.
pub type DocKey = (String, String);

#[derive(Debug, Default)]
pub struct Batch {
    /// Documents as stored (sequencing fields included) as of this chunk's
    /// writes so far; `None` for one known to be absent.
    pub docs: HashMap<DocKey, Option<Document>>,
    /// Inserts not yet sent, in the order they were made.
    pub pending: Vec<(String, Document)>,
    /// Where each pending insert of a document with an `_id` sits.
    pub pending_at: HashMap<DocKey, usize>,
    /// The highest version number of each prompt whose history this chunk
    /// has locked.
    pub version_numbers: HashMap<String, i64>,
    /// Each writer's team access, loaded once per chunk (forgotten when the
    /// chunk changes a team or a project).
    pub teams: HashMap<String, TeamAccess>,
}

impl Batch {
    /// Takes the pending inserts, grouped by collection in first-use order.
    pub fn take_pending(&mut self) -> Vec<(String, Vec<Document>)> {
        self.pending_at.clear();
        let mut grouped: Vec<(String, Vec<Document>)> = Vec::new();
        for (collection, document) in std::mem::take(&mut self.pending) {
            match grouped.iter_mut().find(|(name, _)| *name == collection) {
                Some((_, documents)) => documents.push(document),
                None => grouped.push((collection, vec![document])),
            }
        }
        grouped
    }
}

impl Db {
    /// Reads the documents of `collection` with these ids into the batch,
    /// with one query (those already known are not read again).
    pub async fn prefetch(
        &self,
        session: &mut ClientSession,
        collection: Collection,
        ids: &[String],
    ) -> Result<(), ServerError> {
        let name = collection.name().to_owned();
        let wanted: Vec<String> = self
            .with_batch(|b| {
                let mut wanted: Vec<String> = ids
                    .iter()
                    .filter(|id| !b.docs.contains_key(&(name.clone(), (*id).clone())))
                    .cloned()
                    .collect();
                wanted.sort();
                wanted.dedup();
                wanted
            })
            .unwrap_or_default();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut found: std::collections::HashMap<String, Document> = Default::default();
        let mut cursor = self
            .collection(collection)
            .find(doc! { "_id": { "$in": &wanted } })
            .session(&mut *session)
            .await?;
        while let Some(document) = cursor.next(&mut *session).await.transpose()? {
            if let Ok(id) = document.get_str("_id") {
                found.insert(id.to_owned(), document.clone());
            }
        }
        self.with_batch(|b| {
            for id in wanted {
                let document = found.remove(&id);
                b.docs.insert((name.clone(), id), document);
            }
        });
        Ok(())
    }

    /// The user's team access, loaded once per batch.
    pub async fn team_access(&self, user: &str) -> Result<TeamAccess, ServerError> {
        if let Some(Some(known)) = self.with_batch(|b| b.teams.get(user).cloned()) {
            return Ok(known);
        }
        let access = TeamAccess::load(self, user).await?;
        self.with_batch(|b| b.teams.insert(user.to_owned(), access.clone()));
        Ok(access)
    }

    /// Forgets the team access loaded so far (a team or project changed).
    pub fn forget_team_access(&self) {
        self.with_batch(|b| b.teams.clear());
    }

    /// Forgets what the batch knows of one document, after a write that
    /// went around it.
    pub fn forget(&self, collection: Collection, id: &str) {
        self.with_batch(|b| {
            b.docs
                .remove(&(collection.name().to_owned(), id.to_owned()))
        });
    }

    /// Sends the batch's pending inserts, one command per collection.
    pub async fn flush(&self, session: &mut ClientSession) -> Result<(), ServerError> {
        let Some(pending) = self.with_batch(Batch::take_pending) else {
            return Ok(());
        };
        for (collection, documents) in pending {
            self.db
                .collection::<Document>(&collection)
                .insert_many(documents)
                .session(&mut *session)
                .await?;
        }
        Ok(())
    }

    /// Inserts a document the server keeps for itself (not synced, never
    /// sequenced), such as a mutation's recorded answer; with a batch, it
    /// goes out with the others at [`Db::flush`].
    pub async fn insert_bookkeeping(
        &self,
        session: &mut ClientSession,
        collection: &str,
        document: Document,
    ) -> Result<(), ServerError> {
        let Some(document) = self.buffer_insert(collection, document) else {
            return Ok(());
        };
        self.db
            .collection::<Document>(collection)
            .insert_one(document)
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// Keeps an insert in the batch; hands the document back when there is
    /// no batch to keep it in.
    pub(crate) fn buffer_insert(&self, collection: &str, document: Document) -> Option<Document> {
        let Some(batch) = &self.batch else {
            return Some(document);
        };
        let mut b = batch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(id) = document.get_str("_id") {
            let key = (collection.to_owned(), id.to_owned());
            let at = b.pending.len();
            b.pending_at.insert(key.clone(), at);
            b.docs.insert(key, Some(document.clone()));
        }
        b.pending.push((collection.to_owned(), document));
        None
    }

    /// Locks the histories of `prompt_ids` and counts their highest version
    /// numbers into the batch, with two commands for all of them.
    pub async fn prefetch_version_numbers(
        &self,
        session: &mut ClientSession,
        prompt_ids: &[String],
    ) -> Result<(), ServerError> {
        let mut wanted: Vec<String> = self
            .with_batch(|b| {
                prompt_ids
                    .iter()
                    .filter(|id| !b.version_numbers.contains_key(*id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        self.lock_histories(session, &wanted).await?;
        let mut highest: std::collections::HashMap<String, i64> =
            wanted.iter().map(|id| (id.clone(), 0)).collect();
        let mut cursor = self
            .collection(Collection::PromptVersions)
            .aggregate([
                doc! { "$match": { "prompt_id": { "$in": &wanted } } },
                doc! { "$group": { "_id": "$prompt_id", "highest": { "$max": "$version_number" } } },
            ])
            .session(&mut *session)
            .await?;
        while let Some(group) = cursor.next(&mut *session).await.transpose()? {
            if let (Ok(id), Some(number)) = (
                group.get_str("_id"),
                group.get("highest").and_then(Bson::as_i64),
            ) {
                highest.insert(id.to_owned(), number);
            }
        }
        self.with_batch(|b| b.version_numbers.extend(highest));
        Ok(())
    }

    /// Writes the history lock document of each prompt in `prompt_ids`
    /// inside the caller's transaction, and removes it again (two commands
    /// for all): a concurrent writer of the same history conflicts on the
    /// key until this transaction ends, and no lock is left behind.
    pub(crate) async fn lock_histories(
        &self,
        session: &mut ClientSession,
        prompt_ids: &[String],
    ) -> Result<(), ServerError> {
        let keys: Vec<String> = prompt_ids
            .iter()
            .map(|id| format!("history:{id}"))
            .collect();
        let updates: Vec<Document> = keys
            .iter()
            .map(|key| {
                doc! {
                    "q": { "_id": key },
                    "u": { "$inc": { "writes": 1_i64 } },
                    "upsert": true,
                }
            })
            .collect();
        let answer = self
            .db
            .run_command(doc! { "update": COUNTERS, "updates": updates, "ordered": true })
            .session(&mut *session)
            .await?;
        if let Ok(errors) = answer.get_array("writeErrors") {
            let conflict = errors.iter().any(|e| {
                e.as_document()
                    .and_then(|e| e.get("code"))
                    .and_then(Bson::as_i32)
                    == Some(112)
            });
            if conflict {
                return Err(ServerError::Unavailable(
                    "another write to the same prompt history; try again".into(),
                ));
            }
            return Err(ServerError::Internal(format!(
                "locking {} prompt histories: {errors:?}",
                prompt_ids.len()
            )));
        }
        self.db
            .collection::<Document>(COUNTERS)
            .delete_many(doc! { "_id": { "$in": &keys } })
            .session(&mut *session)
            .await?;
        Ok(())
    }
}
