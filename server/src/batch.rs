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

use bson::Document;

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
