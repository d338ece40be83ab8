//! The outbox: recording each local write as an entry to upload, building
//! the mutation an entry sends, and taking the next batch to push.

use std::collections::HashSet;

use bson::{doc, Bson, Document};
use polodb_core::CollectionT;
use promptforge_wire::access::{always_server_owned, is_server_owned, server_owned, writable};
use promptforge_wire::codec::{get_path, is_deleted, set_path, version_of};
use promptforge_wire::protocol::{Mutation, MutationOp};
use promptforge_wire::schema::merge_unit;

use super::state::{
    doc_key, entry_collection, entry_id, entry_op, is_sent, next_mutation_id, save_state, state,
};
use super::{PendingOp, ATTENTION, OUTBOX};
use crate::error::{Result, StoreError};
use crate::schema::Collection;
use crate::store::writer::{doc_id, Tx};

/// Whether a local change to `path` is uploaded: server-owned fields, the
/// concurrency token and server stamps never are.
fn uploads(collection: Collection, path: &str) -> bool {
    let top = path.split('.').next().unwrap_or(path);
    !(always_server_owned(collection, path)
        || is_server_owned(collection, path)
        || matches!(top, "created_at" | "last_modified_by" | "timestamp"))
}

/// The uploadable fields in which `new` differs from `base`, as dotted paths
/// to new values (`Null` for a removed field), descending into sub-documents
/// so that edits to different sub-fields merge cleanly on the server.
///
/// A merge unit (a prompt's text and the version recording it) is sent
/// whole when any of it changed, so the server weighs the whole unit: a
/// restore back to the base text still says which text this device holds.
pub(super) fn upload_diff(collection: Collection, base: &Document, new: &Document) -> Document {
    let mut changes = Document::new();
    diff_into(collection, "", base, new, &mut changes);
    let unit = merge_unit(collection);
    if unit.iter().any(|field| changes.contains_key(*field)) {
        for field in unit {
            if !changes.contains_key(*field) && uploads(collection, field) {
                changes.insert(*field, new.get(*field).cloned().unwrap_or(Bson::Null));
            }
        }
    }
    changes
}

fn diff_into(collection: Collection, prefix: &str, a: &Document, b: &Document, out: &mut Document) {
    let empty = Document::new();
    let keys: Vec<&String> = b
        .keys()
        .chain(a.keys().filter(|k| !b.contains_key(*k)))
        .collect();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let (old, new) = (a.get(key), b.get(key));
        match (old, new) {
            (Some(Bson::Document(x)), Some(Bson::Document(y))) => {
                diff_into(collection, &path, x, y, out)
            }
            (None | Some(Bson::Null), Some(Bson::Document(y))) if !y.is_empty() => {
                diff_into(collection, &path, &empty, y, out)
            }
            (Some(Bson::Document(x)), None | Some(Bson::Null)) if !x.is_empty() => {
                diff_into(collection, &path, x, &empty, out)
            }
            _ => {
                let same = old.filter(|v| **v != Bson::Null) == new.filter(|v| **v != Bson::Null);
                if !same && uploads(collection, &path) {
                    out.insert(path, new.cloned().unwrap_or(Bson::Null));
                }
            }
        }
    }
}

/// A new document as uploaded: no version, no server-owned fields.
fn create_document(collection: Collection, local: &Document) -> Document {
    let mut doc = local.clone();
    doc.remove("version");
    for owned in server_owned(collection) {
        let _ = set_path(&mut doc, owned, Bson::Null);
    }
    doc
}

/// Makes sure new mutation ids start after `last` (what the server has
/// applied), for a profile whose bookkeeping is older than the server's.
pub(super) fn ensure_mutation_ids_after(tx: &mut Tx, last: u64) -> Result<()> {
    let mut st = state(tx)?;
    let next = st.get_i64("next_mutation_id").unwrap_or(1);
    let floor = i64::try_from(last).unwrap_or(i64::MAX - 1) + 1;
    if next < floor {
        st.insert("next_mutation_id", floor);
        save_state(tx, st)?;
    }
    // Unsent entries numbered at or below what the server has applied (a
    // profile restored from a backup) would be answered with another
    // mutation's result: they get fresh numbers, in the same order. They were
    // never sent, so nothing on the server knows their old numbers.
    let mut stale: Vec<Document> = tx
        .raw_find(OUTBOX, doc! { "sent": false })?
        .into_iter()
        .filter(|e| entry_id(e) < floor)
        .collect();
    stale.sort_by_key(entry_id);
    for mut entry in stale {
        tx.raw(OUTBOX)
            .delete_one(doc! { "_id": entry_id(&entry) })?;
        entry.insert("_id", next_mutation_id(tx)?);
        tx.raw(OUTBOX).insert_one(entry)?;
    }
    Ok(())
}

pub(super) fn entries_for(tx: &Tx, key: &str) -> Result<Vec<Document>> {
    let mut entries = tx.raw_find(OUTBOX, doc! { "doc_key": key })?;
    entries.sort_by_key(entry_id);
    Ok(entries)
}

/// Queues a new unsent entry for a document.
pub(super) fn new_entry(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    op: PendingOp,
    base_doc: Bson,
    base_version: i64,
) -> Result<()> {
    let entry = doc! {
        "_id": next_mutation_id(tx)?,
        "doc_key": doc_key(collection, id),
        "collection": collection.name(),
        "doc_id": id,
        "op": op.name(),
        "base_version": base_version,
        "base_doc": base_doc,
        "sent": false,
        "created_at": tx.now,
    };
    tx.raw(OUTBOX).insert_one(entry)?;
    tx.queued = true;
    Ok(())
}

/// Queues the upload a local write implies. Called by the store for every
/// tracked write, inside the same transaction as the write itself.
pub(crate) fn record(
    tx: &mut Tx,
    collection: Collection,
    old: Option<&Document>,
    new: &Document,
) -> Result<()> {
    let access = writable(collection);
    if !(access.create || access.patch || access.delete) {
        return Ok(());
    }
    let id = doc_id(collection, new)?;
    let key = doc_key(collection, &id);
    let entries = entries_for(tx, &key)?;
    let was_deleted = old.is_some_and(is_deleted);
    let now_deleted = is_deleted(new);
    let unsent: Vec<&Document> = entries.iter().filter(|e| !is_sent(e)).collect();
    if let Some(last) = unsent.last() {
        let filter = doc! { "_id": entry_id(last) };
        match (entry_op(last), was_deleted, now_deleted) {
            // Restored and deleted again: the server's copy is still deleted,
            // and the delete brings this one back to exactly that.
            (PendingOp::Restore, false, true) => {
                tx.raw(OUTBOX)
                    .update_one(filter, doc! { "$set": { "op": PendingOp::Delete.name() } })?;
            }
            // Edited, then deleted: the edits upload first, then the delete,
            // so the trashed copy holds them everywhere.
            (PendingOp::Patch, false, true) => {
                let base = old.cloned().map(Bson::Document).unwrap_or(Bson::Null);
                new_entry(
                    tx,
                    collection,
                    &id,
                    PendingOp::Delete,
                    base,
                    old.map(version_of).unwrap_or(0),
                )?;
            }
            // Deleted, then restored: the delete is undone.
            (PendingOp::Delete, true, false) if unsent.len() > 1 => {
                tx.raw(OUTBOX).delete_one(filter)?;
            }
            (PendingOp::Delete, true, false) => {
                tx.raw(OUTBOX)
                    .update_one(filter, doc! { "$set": { "op": PendingOp::Patch.name() } })?;
            }
            // An edit that recorded a new prompt version: the version's
            // create was queued after this entry, and the server must have
            // it when the prompt names it, so the entry moves behind it.
            (PendingOp::Patch | PendingOp::Restore, _, _)
                if collection == Collection::Prompts
                    && old.and_then(|o| o.get("latest_version_id"))
                        != new.get("latest_version_id") =>
            {
                let mut moved = (*last).clone();
                tx.raw(OUTBOX).delete_one(filter)?;
                moved.insert("_id", next_mutation_id(tx)?);
                tx.raw(OUTBOX).insert_one(moved)?;
            }
            // A create uploads the document as it is when sent, tombstone or not.
            _ => {}
        }
        tx.queued = true;
        return Ok(());
    }
    let version = version_of(new);
    if old.is_none() && version > 0 {
        // A document the server already has, put back whole (an import).
        return Ok(());
    }
    let create_in_flight = entries.iter().any(|e| entry_op(e) == PendingOp::Create);
    let op = if version == 0 && !create_in_flight {
        if !access.create {
            return Ok(());
        }
        PendingOp::Create
    } else if !was_deleted && now_deleted {
        PendingOp::Delete
    } else if was_deleted && !now_deleted {
        PendingOp::Restore
    } else {
        if old == Some(new) {
            return Ok(());
        }
        // Even a change to fields only the server writes (a project's
        // membership, kept locally for display) gets an entry: when it is
        // sent and found to upload nothing, the copy goes back to exactly
        // the server's, so no replica keeps a drift of its own.
        PendingOp::Patch
    };
    let allowed = match op {
        PendingOp::Create => access.create,
        PendingOp::Patch => access.patch,
        PendingOp::Delete | PendingOp::Restore => access.delete,
    };
    if !allowed {
        return Ok(());
    }
    let base_doc = match op {
        PendingOp::Create => Bson::Null,
        _ => old.cloned().map(Bson::Document).unwrap_or(Bson::Null),
    };
    let base_version = old.map(version_of).unwrap_or(0);
    new_entry(tx, collection, &id, op, base_doc, base_version)
}

/// The mutation an unsent entry uploads now, or `None` when nothing is left
/// to upload (the edits cancelled out, or the document is gone).
fn build_mutation(tx: &Tx, entry: &Document) -> Result<Option<Mutation>> {
    let Some(collection) = entry_collection(entry) else {
        return Ok(None);
    };
    let id = entry.get_str("doc_id").unwrap_or_default().to_owned();
    let Some(local) = tx.get(collection, &id)? else {
        return Ok(None);
    };
    let base_doc = entry.get_document("base_doc").cloned().unwrap_or_default();
    let diff = || {
        let changes = upload_diff(collection, &base_doc, &local);
        let mut base = Document::new();
        for path in changes.keys() {
            base.insert(
                path.clone(),
                get_path(&base_doc, path).cloned().unwrap_or(Bson::Null),
            );
        }
        (changes, base)
    };
    let op = match entry_op(entry) {
        PendingOp::Create => MutationOp::Create {
            document: create_document(collection, &local),
        },
        PendingOp::Patch => {
            let (changes, base) = diff();
            if changes.is_empty() {
                return Ok(None);
            }
            MutationOp::Patch { changes, base }
        }
        PendingOp::Delete => MutationOp::Delete,
        PendingOp::Restore => {
            let (changes, base) = diff();
            MutationOp::Restore { changes, base }
        }
    };
    Ok(Some(Mutation {
        mutation_id: u64::try_from(entry_id(entry)).unwrap_or(0),
        collection: collection.name().to_owned(),
        id,
        base_version: entry.get_i64("base_version").unwrap_or(0),
        op,
    }))
}

/// The next mutations to upload: for each document its oldest entry (resent
/// as frozen if already sent, frozen now otherwise), in mutation order, at
/// most `max` of them and about `max_bytes` of JSON.
pub(super) fn take_batch(tx: &mut Tx, max: usize, max_bytes: usize) -> Result<Vec<Mutation>> {
    let mut entries = tx.raw_find(OUTBOX, doc! {})?;
    entries.sort_by_key(entry_id);
    let mut seen = HashSet::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        if batch.len() >= max {
            break;
        }
        if !seen.insert(entry.get_str("doc_key").unwrap_or_default().to_owned()) {
            continue;
        }
        let filter = doc! { "_id": entry_id(&entry) };
        let (mutation, frozen) = if is_sent(&entry) {
            let frozen = entry.get_str("frozen").unwrap_or_default().to_owned();
            match serde_json::from_str::<Mutation>(&frozen) {
                Ok(mutation) => (mutation, frozen),
                Err(err) => {
                    tracing::error!(error = %err, "unreadable sent mutation set aside");
                    tx.raw(OUTBOX).delete_one(filter)?;
                    let mut item = entry.clone();
                    item.insert("reason", "unreadable");
                    item.insert(
                        "message",
                        format!("this queued change could not be read back: {err}"),
                    );
                    item.insert("at", tx.now);
                    tx.raw(ATTENTION)
                        .delete_one(doc! { "_id": entry_id(&entry) })?;
                    tx.raw(ATTENTION).insert_one(item)?;
                    continue;
                }
            }
        } else {
            match build_mutation(tx, &entry)? {
                None => {
                    // The edits cancelled out (say, deleted then restored):
                    // nothing to upload, and the stamps they left go too,
                    // so this copy is again exactly the server's.
                    tx.raw(OUTBOX).delete_one(filter)?;
                    settle_unchanged(tx, &entry)?;
                    continue;
                }
                Some(mutation) => {
                    let json = serde_json::to_string(&mutation).map_err(|e| {
                        StoreError::Storage(format!("cannot encode a mutation: {e}").into())
                    })?;
                    (mutation, json)
                }
            }
        };
        if !batch.is_empty() && bytes + frozen.len() > max_bytes {
            break;
        }
        bytes += frozen.len();
        if !is_sent(&entry) {
            tx.raw(OUTBOX).update_one(
                filter,
                doc! { "$set": { "sent": true, "frozen": frozen, "sent_at": tx.now } },
            )?;
        }
        batch.push(mutation);
    }
    Ok(batch)
}

/// Puts back the server's copy of a document whose pending edits came to
/// nothing, if no other change is queued for it.
fn settle_unchanged(tx: &mut Tx, entry: &Document) -> Result<()> {
    let (Some(collection), Ok(base)) = (entry_collection(entry), entry.get_document("base_doc"))
    else {
        return Ok(());
    };
    let id = entry.get_str("doc_id").unwrap_or_default();
    if !entries_for(tx, &doc_key(collection, id))?.is_empty() {
        return Ok(());
    }
    if let Some(local) = tx.get(collection, id)? {
        if version_of(&local) == version_of(base) && local != *base {
            tx.put_untracked(collection, base.clone())?;
        }
    }
    Ok(())
}
