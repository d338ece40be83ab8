//! The local side of sync, kept inside the store's own transactions: the
//! outbox of local changes awaiting upload, the per-collection pull
//! checkpoints, conflicts and the "needs attention" list, and how a server
//! document is absorbed under pending local edits (the rebase).
//!
//! Outbox model. Each document has at most one entry in flight (sent, frozen,
//! resent unchanged until answered, so the server's exactly-once record holds)
//! and at most one unsent entry, which absorbs every further local edit. An
//! unsent entry stores the document as the server last confirmed it
//! (`base_doc`, at `base_version`); what it uploads is computed when it is
//! sent, as the difference between that snapshot and the document then.

use std::collections::HashSet;

use bson::{doc, Bson, DateTime, Document};
use polodb_core::CollectionT;
use promptforge_wire::access::{
    always_server_owned, is_server_owned, owner_field, server_owned, writable,
};
use promptforge_wire::codec::{get_path, is_deleted, set_path};
use promptforge_wire::protocol::{
    Change, FieldConflict, Mutation, MutationOp, MutationOutcome, MutationResult,
};
use promptforge_wire::schema::merge_unit;
use serde::Serialize;

use super::history;
use super::writer::{doc_id, Tx};
use super::META_COLLECTION;
use crate::error::{Result, StoreError};
use crate::schema::{new_id, Collection};

pub(crate) const OUTBOX: &str = "_sync_outbox";
pub(crate) const CONFLICTS: &str = "_sync_conflicts";
pub(crate) const ATTENTION: &str = "_sync_attention";
const STATE_ID: &str = "sync";

/// What an outbox entry does to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PendingOp {
    Create,
    Patch,
    Delete,
    Restore,
}

impl PendingOp {
    fn name(self) -> &'static str {
        match self {
            PendingOp::Create => "create",
            PendingOp::Patch => "patch",
            PendingOp::Delete => "delete",
            PendingOp::Restore => "restore",
        }
    }

    fn parse(name: &str) -> Option<PendingOp> {
        Some(match name {
            "create" => PendingOp::Create,
            "patch" => PendingOp::Patch,
            "delete" => PendingOp::Delete,
            "restore" => PendingOp::Restore,
            _ => return None,
        })
    }
}

/// How a conflict arose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both sides changed one field; the server's value was kept.
    Field,
    /// This device edited a document another deleted; it was restored with the edit.
    EditVsDelete,
    /// This device deleted a document another edited; the edit was kept.
    DeleteVsEdit,
}

impl ConflictKind {
    fn name(self) -> &'static str {
        match self {
            ConflictKind::Field => "field",
            ConflictKind::EditVsDelete => "edit_vs_delete",
            ConflictKind::DeleteVsEdit => "delete_vs_edit",
        }
    }

    fn parse(name: &str) -> ConflictKind {
        match name {
            "edit_vs_delete" => ConflictKind::EditVsDelete,
            "delete_vs_edit" => ConflictKind::DeleteVsEdit,
            _ => ConflictKind::Field,
        }
    }
}

/// The user's answer to a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    KeepMine,
    KeepTheirs,
    KeepBoth,
}

impl Resolution {
    pub fn name(self) -> &'static str {
        match self {
            Resolution::KeepMine => "keep_mine",
            Resolution::KeepTheirs => "keep_theirs",
            Resolution::KeepBoth => "keep_both",
        }
    }
}

/// A recorded conflict: what both sides wanted and what was kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conflict {
    pub id: String,
    pub collection: Collection,
    pub doc_id: String,
    pub kind: ConflictKind,
    /// The field both sides changed (field conflicts only).
    pub field: Option<String>,
    /// This device's value (`null` when absent or deleted).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub mine: Bson,
    /// The other side's value.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub theirs: Bson,
    /// How it was settled automatically, e.g. `server_wins`.
    pub resolution: String,
    /// Where the losing value was also kept (a prompt_versions id).
    pub lost_saved_as: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub at: DateTime,
    /// The user's answer, once given.
    pub resolved: Option<String>,
}

/// A local change the server refused for good, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AttentionItem {
    pub mutation_id: u64,
    pub collection: Collection,
    pub doc_id: String,
    pub op: PendingOp,
    /// The server's reason code (e.g. `invalid`, `forbidden`).
    pub reason: String,
    pub message: String,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub at: DateTime,
}

/// The outbox and bookkeeping at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncSummary {
    pub client_id: Option<String>,
    /// The account this profile syncs with, once attached.
    pub account: Option<String>,
    pub pending: u64,
    pub in_flight: u64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub oldest_pending: Option<DateTime>,
    pub needs_attention: u64,
    pub open_conflicts: u64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_synced_at: Option<DateTime>,
    pub server_url: Option<String>,
}

/// What applying one batch of push results did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushApplied {
    pub applied: usize,
    pub conflicts: usize,
    pub rejected: usize,
}

fn doc_key(collection: Collection, id: &str) -> String {
    format!("{}/{id}", collection.name())
}

pub(crate) fn version_of(doc: &Document) -> i64 {
    match doc.get("version") {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        _ => 0,
    }
}

fn entry_id(entry: &Document) -> i64 {
    entry.get_i64("_id").unwrap_or(0)
}

fn entry_op(entry: &Document) -> PendingOp {
    PendingOp::parse(entry.get_str("op").unwrap_or("patch")).unwrap_or(PendingOp::Patch)
}

fn is_sent(entry: &Document) -> bool {
    entry.get_bool("sent").unwrap_or(false)
}

fn entry_collection(entry: &Document) -> Option<Collection> {
    Collection::from_name(entry.get_str("collection").unwrap_or(""))
}

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
pub(crate) fn upload_diff(collection: Collection, base: &Document, new: &Document) -> Document {
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

fn state(tx: &Tx) -> Result<Document> {
    Ok(tx
        .raw(META_COLLECTION)
        .find_one(doc! { "_id": STATE_ID })?
        .unwrap_or_else(|| doc! { "_id": STATE_ID }))
}

fn save_state(tx: &Tx, state: Document) -> Result<()> {
    let meta = tx.raw(META_COLLECTION);
    if meta.find_one(doc! { "_id": STATE_ID })?.is_some() {
        let mut set = state;
        set.remove("_id");
        meta.update_one(doc! { "_id": STATE_ID }, doc! { "$set": set })?;
    } else {
        meta.insert_one(state)?;
    }
    Ok(())
}

/// This profile's sync identity, created on first use.
pub(crate) fn client_id(tx: &Tx) -> Result<String> {
    let mut st = state(tx)?;
    if let Ok(id) = st.get_str("client_id") {
        return Ok(id.to_owned());
    }
    let id = format!("desktop-{}", new_id());
    st.insert("client_id", id.clone());
    save_state(tx, st)?;
    Ok(id)
}

/// The profile's user id (the account's, once attached).
pub(crate) fn profile_user(tx: &Tx) -> Result<Option<String>> {
    Ok(tx
        .raw(META_COLLECTION)
        .find_one(doc! { "_id": "profile" })?
        .and_then(|p| p.get_str("user_id").ok().map(str::to_owned)))
}

fn next_mutation_id(tx: &Tx) -> Result<i64> {
    let mut st = state(tx)?;
    let next = st.get_i64("next_mutation_id").unwrap_or(1).max(1);
    st.insert("next_mutation_id", next + 1);
    save_state(tx, st)?;
    Ok(next)
}

/// Makes sure new mutation ids start after `last` (what the server has
/// applied), for a profile whose bookkeeping is older than the server's.
pub(crate) fn ensure_mutation_ids_after(tx: &mut Tx, last: u64) -> Result<()> {
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

pub(crate) fn checkpoint(tx: &Tx, collection: &str) -> Result<i64> {
    Ok(state(tx)?
        .get_document("checkpoints")
        .ok()
        .and_then(|c| c.get_i64(collection).ok())
        .unwrap_or(0))
}

pub(crate) fn set_sync_field(tx: &Tx, field: &str, value: Bson) -> Result<()> {
    let mut st = state(tx)?;
    st.insert(field, value);
    save_state(tx, st)
}

fn entries_for(tx: &Tx, key: &str) -> Result<Vec<Document>> {
    let mut entries = tx.raw_find(OUTBOX, doc! { "doc_key": key })?;
    entries.sort_by_key(entry_id);
    Ok(entries)
}

/// Queues a new unsent entry for a document.
fn new_entry(
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
pub(crate) fn take_batch(tx: &mut Tx, max: usize, max_bytes: usize) -> Result<Vec<Mutation>> {
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

fn conflict_doc(
    collection: Collection,
    doc_id: &str,
    kind: ConflictKind,
    field: Option<&str>,
    (mine, theirs): (Bson, Bson),
    resolution: &str,
    now: DateTime,
) -> Document {
    doc! {
        "_id": new_id(),
        "collection": collection.name(),
        "doc_id": doc_id,
        "kind": kind.name(),
        "field": field.map(|f| Bson::String(f.to_owned())).unwrap_or(Bson::Null),
        "mine": mine,
        "theirs": theirs,
        "resolution": resolution,
        "lost_saved_as": Bson::Null,
        "at": now,
        "resolved": Bson::Null,
    }
}

/// Records a clash over the document's state: this device edited what
/// another deleted, or deleted what another edited.
fn record_state_conflict(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    kind: ConflictKind,
    resolution: &str,
) -> Result<()> {
    let (mine, theirs) = match kind {
        ConflictKind::DeleteVsEdit => ("deleted", "edited"),
        _ => ("edited", "deleted"),
    };
    let conflict = conflict_doc(
        collection,
        id,
        kind,
        None,
        (Bson::String(mine.into()), Bson::String(theirs.into())),
        resolution,
        tx.now,
    );
    record_conflict(tx, conflict)
}

/// Records a pending edit of `path` the server's document displaced.
fn record_displaced(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    (path, mine): (&str, Bson),
    server: &Document,
) -> Result<()> {
    let theirs = get_path(server, path).cloned().unwrap_or(Bson::Null);
    let conflict = conflict_doc(
        collection,
        id,
        ConflictKind::Field,
        Some(path),
        (mine, theirs),
        "did_not_fit",
        tx.now,
    );
    record_conflict(tx, conflict)
}

fn record_conflict(tx: &mut Tx, conflict: Document) -> Result<()> {
    tx.raw(CONFLICTS).insert_one(conflict)?;
    Ok(())
}

/// Applies the server's document `server` for a document of this device,
/// keeping pending local edits on top (rebased onto it). Where both sides
/// changed a field, the server's value wins, as it does on the server, and
/// the conflict is recorded with both values. `own` says `server` answers
/// this device's own mutation.
pub(crate) fn absorb(
    tx: &mut Tx,
    collection: Collection,
    server: Document,
    own: bool,
) -> Result<()> {
    let prompt_id = (collection == Collection::PromptVersions)
        .then(|| server.get_str("prompt_id").ok().map(str::to_owned))
        .flatten();
    rebase(tx, collection, server, own)?;
    match prompt_id {
        Some(prompt_id) => history::renumber_provisional(tx, &prompt_id),
        None => Ok(()),
    }
}

/// [`absorb`] for one document, whatever its collection.
fn rebase(tx: &mut Tx, collection: Collection, server: Document, own: bool) -> Result<()> {
    let id = doc_id(collection, &server)?;
    let Some(local) = tx.get(collection, &id)? else {
        // New here (a first sync is all this): nothing local can be pending
        // for it, since every queued change has its document.
        return tx.insert_untracked(collection, server);
    };
    if version_of(&local) > version_of(&server) {
        return Ok(());
    }
    let key = doc_key(collection, &id);
    let entries = entries_for(tx, &key)?;
    let Some(first) = entries.first() else {
        return tx.replace_untracked(collection, &local, server);
    };
    let base = first.get_document("base_doc").cloned().unwrap_or_default();
    let mine = upload_diff(collection, &base, &local);
    let mut merged = server.clone();
    let mut rebased: Vec<(String, Bson)> = Vec::new();
    let clashes = |path: &str, value: &Bson| {
        let theirs = get_path(&server, path).filter(|v| **v != Bson::Null);
        let at_base = get_path(&base, path).filter(|v| **v != Bson::Null);
        let wanted = Some(value).filter(|v| **v != Bson::Null);
        theirs != at_base && theirs != wanted
    };
    // A prompt's text and its version rebase together, as the server merges
    // them: a clash on any of them keeps the server's whole unit.
    let unit = merge_unit(collection);
    let unit_lost = mine
        .iter()
        .any(|(path, value)| unit.contains(&path.as_str()) && clashes(path, value));
    if unit_lost {
        let saved_as = local.get_str("latest_version_id").ok().map(str::to_owned);
        for (field, mine, theirs) in history::unit_differences(&local, &server) {
            let mut conflict = conflict_doc(
                collection,
                &id,
                ConflictKind::Field,
                Some(&field),
                (mine, theirs),
                "server_wins",
                tx.now,
            );
            if let Some(saved_as) = &saved_as {
                conflict.insert("lost_saved_as", saved_as.clone());
            }
            record_conflict(tx, conflict)?;
        }
    }
    for (path, value) in &mine {
        if unit.contains(&path.as_str()) {
            if unit_lost {
                continue;
            }
        } else if clashes(path, value) {
            let theirs = get_path(&server, path).filter(|v| **v != Bson::Null);
            let conflict = conflict_doc(
                collection,
                &id,
                ConflictKind::Field,
                Some(path),
                (value.clone(), theirs.cloned().unwrap_or(Bson::Null)),
                "server_wins",
                tx.now,
            );
            record_conflict(tx, conflict)?;
            continue;
        }
        match set_path(&mut merged, path, value.clone()) {
            Ok(()) => rebased.push((path.clone(), value.clone())),
            Err(_) => record_displaced(tx, collection, &id, (path, value.clone()), &server)?,
        }
    }
    let unsent: Vec<&Document> = entries.iter().filter(|e| !is_sent(e)).collect();
    let pending_delete = entries.iter().any(|e| entry_op(e) == PendingOp::Delete);
    let restoring = unsent.iter().any(|e| entry_op(e) == PendingOp::Restore);
    // A newer version may be this device's own doing (an answer, or a change
    // still in flight), which is no news from another device.
    let ours = own || entries.iter().any(is_sent);
    let server_version = version_of(&server);
    let mut first_op = unsent.first().map(|e| entry_op(e));
    let owned = local.get_str(owner_field(collection)).ok() == profile_user(tx)?.as_deref();
    if is_deleted(&server) && !is_deleted(&local) && !pending_delete && !restoring && !owned {
        // Only owners restore: a collaborator's edit yields to the owner's
        // delete, recorded with the edit so it can be kept as a copy.
        let conflict = conflict_doc(
            collection,
            &id,
            ConflictKind::EditVsDelete,
            None,
            (
                Bson::Document(local.clone()),
                Bson::String("deleted".into()),
            ),
            "deleted_by_owner",
            tx.now,
        );
        record_conflict(tx, conflict)?;
        for entry in &entries {
            tx.raw(OUTBOX).delete_one(doc! { "_id": entry_id(entry) })?;
        }
        return tx.put_untracked(collection, server);
    }
    if is_deleted(&server) && !is_deleted(&local) && !pending_delete && !restoring {
        // Edited here, deleted there: the edit is kept and brings it back.
        for field in ["deleted_at", "deleted_by"] {
            merged.remove(field);
        }
        record_state_conflict(
            tx,
            collection,
            &id,
            ConflictKind::EditVsDelete,
            "restored_with_edit",
        )?;
        if first_op.is_some() {
            first_op = Some(PendingOp::Restore);
        } else {
            new_entry(
                tx,
                collection,
                &id,
                PendingOp::Restore,
                Bson::Document(server.clone()),
                server_version,
            )?;
        }
    } else if !is_deleted(&server) && is_deleted(&local) {
        let delete = unsent.iter().find(|e| entry_op(e) == PendingOp::Delete);
        let edited_since = delete.is_some_and(|e| {
            !ours && server_version > e.get_i64("base_version").unwrap_or(i64::MAX)
        });
        if let (Some(delete), true) = (delete, edited_since) {
            // Deleted here, edited there: the edit is kept.
            record_state_conflict(tx, collection, &id, ConflictKind::DeleteVsEdit, "kept_edit")?;
            tx.raw(OUTBOX)
                .delete_one(doc! { "_id": entry_id(delete) })?;
        } else if pending_delete {
            // The queued delete will be sent; show it deleted till then.
            for field in ["deleted_at", "deleted_by"] {
                if let Some(value) = local.get(field) {
                    merged.insert(field, value.clone());
                }
            }
        }
    }
    // Edited, then deleted here, while another device deleted it first: the
    // server refused the edit (its document was gone) and the queued delete
    // would change nothing, so the edit would vanish with no record. The
    // edit goes up as a restore and the delete follows it, so the trashed
    // copy holds the edit everywhere, as it does when nobody else deleted.
    let trashed_edit = is_deleted(&server)
        && is_deleted(&local)
        && owned
        && !rebased.is_empty()
        && unsent.first().map(|e| entry_op(e)) == Some(PendingOp::Delete);
    if trashed_edit {
        first_op = Some(PendingOp::Restore);
    }
    // What is still unsent now builds on the server's document.
    for (n, entry) in unsent.iter().enumerate() {
        let op = match (n, first_op, entry_op(entry)) {
            (0, Some(first), _) => first,
            (_, _, op) => op,
        };
        let op = if op == PendingOp::Create {
            PendingOp::Patch
        } else {
            op
        };
        tx.raw(OUTBOX).update_one(
            doc! { "_id": entry_id(entry) },
            doc! { "$set": {
                "op": op.name(),
                "base_doc": server.clone(),
                "base_version": server_version,
            } },
        )?;
    }
    if trashed_edit {
        new_entry(
            tx,
            collection,
            &id,
            PendingOp::Delete,
            Bson::Document(server.clone()),
            server_version,
        )?;
    }
    match tx.put_untracked(collection, merged) {
        Ok(()) => Ok(()),
        Err(StoreError::Invalid(err)) => {
            // The rebased edits and the server's document do not fit together:
            // the server's document is applied, and each edit it displaces is
            // recorded so the user can put it back.
            tracing::warn!(%collection, %id, error = %err, "rebased document invalid; applying the server's");
            for (path, value) in rebased {
                record_displaced(tx, collection, &id, (&path, value), &server)?;
            }
            tx.put_untracked(collection, server)
        }
        Err(err) => Err(err),
    }
}

/// Applies the server's answers to one push, each clearing its outbox entry.
pub(crate) fn apply_results(tx: &mut Tx, results: Vec<MutationResult>) -> Result<PushApplied> {
    let mut summary = PushApplied::default();
    for result in results {
        let Ok(mutation_id) = i64::try_from(result.mutation_id) else {
            continue;
        };
        let Some(entry) = tx.raw(OUTBOX).find_one(doc! { "_id": mutation_id })? else {
            continue;
        };
        let Some(collection) = entry_collection(&entry) else {
            continue;
        };
        let doc_id = entry.get_str("doc_id").unwrap_or_default().to_owned();
        tx.raw(OUTBOX).delete_one(doc! { "_id": mutation_id })?;
        match result.outcome {
            MutationOutcome::Applied { document, .. } => {
                summary.applied += 1;
                absorb(tx, collection, document, true)?;
            }
            MutationOutcome::Merged {
                document,
                conflicts,
                ..
            } => {
                summary.applied += 1;
                summary.conflicts += conflicts.len();
                for conflict in conflicts {
                    record_server_conflict(tx, collection, &doc_id, conflict)?;
                }
                // Merged means another device changed it since this one's
                // base: that is news, not this device's own doing.
                absorb(tx, collection, document, false)?;
            }
            MutationOutcome::Conflict {
                server_document, ..
            } => {
                summary.conflicts += 1;
                absorb_refusal(tx, collection, &doc_id, &entry, server_document)?;
            }
            MutationOutcome::Rejected { reason, message } => {
                summary.rejected += 1;
                let reason = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "rejected".into());
                tracing::warn!(%collection, %doc_id, %reason, "the server refused a local change");
                let mut item = entry.clone();
                item.insert("reason", reason);
                item.insert("message", message);
                item.insert("at", tx.now);
                let local = tx.get(collection, &doc_id)?;
                if let Some(local) = &local {
                    item.insert("yours", local.clone());
                }
                tx.raw(ATTENTION).delete_one(doc! { "_id": mutation_id })?;
                tx.raw(ATTENTION).insert_one(item)?;
                // The refused change is taken back here too, so this copy
                // stays the server's; the user's version is kept in the item
                // and a retry puts it back. A refused create stays local.
                let others = entries_for(tx, &doc_key(collection, &doc_id))?;
                if let (Ok(base), true, true) = (
                    entry.get_document("base_doc"),
                    entry_op(&entry) != PendingOp::Create,
                    others.is_empty(),
                ) {
                    if local.as_ref() != Some(base) {
                        tx.put_untracked(collection, base.clone())?;
                    }
                }
            }
        }
    }
    Ok(summary)
}

fn record_server_conflict(
    tx: &mut Tx,
    collection: Collection,
    doc_id: &str,
    conflict: FieldConflict,
) -> Result<()> {
    let value = |json: serde_json::Value| Bson::try_from(json).unwrap_or(Bson::Null);
    let mut record = conflict_doc(
        collection,
        doc_id,
        ConflictKind::Field,
        Some(&conflict.field),
        (value(conflict.lost), value(conflict.kept)),
        &conflict.resolution,
        tx.now,
    );
    if let Some(saved) = conflict.lost_saved_as {
        record.insert("lost_saved_as", saved);
    }
    record_conflict(tx, record)
}

/// The server refused an edit or delete because the document changed state
/// on another device: an edit meets a delete (restore it, with the edit), or
/// a delete meets an edit (keep the edited document).
fn absorb_refusal(
    tx: &mut Tx,
    collection: Collection,
    doc_id: &str,
    refused: &Document,
    server: Document,
) -> Result<()> {
    if entry_op(refused) == PendingOp::Delete {
        record_state_conflict(
            tx,
            collection,
            doc_id,
            ConflictKind::DeleteVsEdit,
            "kept_edit",
        )?;
        // The delete is answered; what remains pending rebases on the server's.
        for entry in entries_for(tx, &doc_key(collection, doc_id))? {
            if entry_op(&entry) == PendingOp::Delete && !is_sent(&entry) {
                tx.raw(OUTBOX)
                    .delete_one(doc! { "_id": entry_id(&entry) })?;
            }
        }
        return absorb(tx, collection, server, false);
    }
    // An edit met a delete. The refused entry is answered, so its edits
    // become pending again (from its base), and absorbing the tombstone under
    // them restores the document with the edit and records the conflict.
    let key = doc_key(collection, doc_id);
    let base_doc = refused.get("base_doc").cloned().unwrap_or(Bson::Null);
    let base_version = refused.get_i64("base_version").unwrap_or(0);
    match entries_for(tx, &key)?.into_iter().find(|e| !is_sent(e)) {
        Some(unsent) => {
            tx.raw(OUTBOX).update_one(
                doc! { "_id": entry_id(&unsent) },
                doc! { "$set": { "base_doc": base_doc, "base_version": base_version } },
            )?;
        }
        None => {
            new_entry(
                tx,
                collection,
                doc_id,
                PendingOp::Patch,
                base_doc,
                base_version,
            )?;
        }
    }
    absorb(tx, collection, server, false)
}

/// Applies one pulled page and its checkpoint together.
pub(crate) fn apply_page(
    tx: &mut Tx,
    collection: Collection,
    changes: Vec<Change>,
    checkpoint: i64,
) -> Result<usize> {
    let count = changes.len();
    for change in changes {
        if change.left_scope {
            leave_scope(tx, collection, &change.id)?;
        } else {
            absorb(tx, collection, change.document, false)?;
        }
    }
    let mut st = state(tx)?;
    let mut checkpoints = st.get_document("checkpoints").cloned().unwrap_or_default();
    checkpoints.insert(collection.name(), checkpoint);
    st.insert("checkpoints", checkpoints);
    save_state(tx, st)?;
    Ok(count)
}

/// The document is no longer visible to this user: its local copy goes, and
/// local edits that can no longer be uploaded are listed for attention.
fn leave_scope(tx: &mut Tx, collection: Collection, id: &str) -> Result<()> {
    for entry in entries_for(tx, &doc_key(collection, id))? {
        tx.raw(OUTBOX)
            .delete_one(doc! { "_id": entry_id(&entry) })?;
        let mut item = entry;
        item.insert("reason", "left_scope");
        item.insert(
            "message",
            "you no longer have access to this document; your unsynced edits to it were not uploaded",
        );
        item.insert("at", tx.now);
        tx.raw(ATTENTION)
            .delete_one(doc! { "_id": entry_id(&item) })?;
        tx.raw(ATTENTION).insert_one(item)?;
    }
    if tx.get(collection, id)?.is_some() {
        tx.remove(collection, id)?;
    }
    Ok(())
}

fn read_conflict(doc: &Document) -> Option<Conflict> {
    Some(Conflict {
        id: doc.get_str("_id").ok()?.to_owned(),
        collection: entry_collection(doc)?,
        doc_id: doc.get_str("doc_id").ok()?.to_owned(),
        kind: ConflictKind::parse(doc.get_str("kind").unwrap_or("field")),
        field: doc.get_str("field").ok().map(str::to_owned),
        mine: doc.get("mine").cloned().unwrap_or(Bson::Null),
        theirs: doc.get("theirs").cloned().unwrap_or(Bson::Null),
        resolution: doc.get_str("resolution").unwrap_or_default().to_owned(),
        lost_saved_as: doc.get_str("lost_saved_as").ok().map(str::to_owned),
        at: doc.get_datetime("at").copied().unwrap_or(DateTime::MIN),
        resolved: doc.get_str("resolved").ok().map(str::to_owned),
    })
}

pub(crate) fn conflicts(tx: &Tx, include_resolved: bool) -> Result<Vec<Conflict>> {
    let mut all: Vec<Conflict> = tx
        .raw_find(CONFLICTS, doc! {})?
        .iter()
        .filter_map(read_conflict)
        .filter(|c| include_resolved || c.resolved.is_none())
        .collect();
    all.sort_by_key(|c| (c.at, c.id.clone()));
    Ok(all)
}

pub(crate) fn conflict(tx: &Tx, id: &str) -> Result<Conflict> {
    tx.raw(CONFLICTS)
        .find_one(doc! { "_id": id })?
        .as_ref()
        .and_then(read_conflict)
        .ok_or_else(|| StoreError::NoSuchRecord {
            what: "conflict",
            id: id.to_owned(),
        })
}

pub(crate) fn mark_resolved(tx: &Tx, id: &str, resolution: Resolution) -> Result<()> {
    tx.raw(CONFLICTS).update_one(
        doc! { "_id": id },
        doc! { "$set": { "resolved": resolution.name(), "resolved_at": tx.now } },
    )?;
    Ok(())
}

pub(crate) fn attention(tx: &Tx) -> Result<Vec<AttentionItem>> {
    let mut items: Vec<AttentionItem> = tx
        .raw_find(ATTENTION, doc! {})?
        .iter()
        .filter_map(|d| {
            Some(AttentionItem {
                mutation_id: u64::try_from(entry_id(d)).ok()?,
                collection: entry_collection(d)?,
                doc_id: d.get_str("doc_id").ok()?.to_owned(),
                op: entry_op(d),
                reason: d.get_str("reason").unwrap_or_default().to_owned(),
                message: d.get_str("message").unwrap_or_default().to_owned(),
                at: d.get_datetime("at").copied().unwrap_or(DateTime::MIN),
            })
        })
        .collect();
    items.sort_by_key(|i| i.mutation_id);
    Ok(items)
}

/// Takes an item off the attention list; with `retry`, queues its change again
/// (under a new mutation id, computed from the document as it is now).
pub(crate) fn settle_attention(tx: &mut Tx, mutation_id: u64, retry: bool) -> Result<()> {
    let id = i64::try_from(mutation_id).unwrap_or(-1);
    let Some(item) = tx.raw(ATTENTION).find_one(doc! { "_id": id })? else {
        return Err(StoreError::NoSuchRecord {
            what: "needs-attention item",
            id: mutation_id.to_string(),
        });
    };
    tx.raw(ATTENTION).delete_one(doc! { "_id": id })?;
    if retry {
        if let (Some(collection), Ok(yours)) = (entry_collection(&item), item.get_document("yours"))
        {
            tx.put_untracked(collection, yours.clone())?;
        }
        let mut entry = Document::new();
        for field in [
            "doc_key",
            "collection",
            "doc_id",
            "op",
            "base_version",
            "base_doc",
        ] {
            entry.insert(field, item.get(field).cloned().unwrap_or(Bson::Null));
        }
        entry.insert("_id", next_mutation_id(tx)?);
        entry.insert("sent", false);
        entry.insert("created_at", tx.now);
        tx.raw(OUTBOX).insert_one(entry)?;
        tx.queued = true;
    }
    Ok(())
}

pub(crate) fn summary(tx: &Tx) -> Result<SyncSummary> {
    let st = state(tx)?;
    let outbox = tx.raw_find(OUTBOX, doc! {})?;
    let in_flight = outbox.iter().filter(|e| is_sent(e)).count() as u64;
    let oldest_pending = outbox
        .iter()
        .filter_map(|e| e.get_datetime("created_at").ok().copied())
        .min();
    let open_conflicts = tx
        .raw_find(CONFLICTS, doc! { "resolved": Bson::Null })?
        .len() as u64;
    Ok(SyncSummary {
        client_id: st.get_str("client_id").ok().map(str::to_owned),
        account: st.get_str("account").ok().map(str::to_owned),
        pending: outbox.len() as u64,
        in_flight,
        oldest_pending,
        needs_attention: tx.raw_find(ATTENTION, doc! {})?.len() as u64,
        open_conflicts,
        last_synced_at: st.get_datetime("last_synced_at").ok().copied(),
        server_url: st.get_str("server_url").ok().map(str::to_owned),
    })
}

/// Replaces `from` with `to` in every string and map key of `value`.
fn rename_user(value: &mut Bson, from: &str, to: &str) {
    match value {
        Bson::String(s) if s == from => *s = to.to_owned(),
        Bson::Document(doc) => {
            let renamed: Document = std::mem::take(doc)
                .into_iter()
                .map(|(k, mut v)| {
                    rename_user(&mut v, from, to);
                    (if k == from { to.to_owned() } else { k }, v)
                })
                .collect();
            *doc = renamed;
        }
        Bson::Array(items) => items.iter_mut().for_each(|v| rename_user(v, from, to)),
        _ => {}
    }
}

/// Attaches a local profile to `account`: every reference to the local user
/// id becomes the account's, in documents and queued uploads alike.
pub(crate) fn attach_account(tx: &mut Tx, local_user: &str, account: &str) -> Result<()> {
    if local_user != account {
        for collection in Collection::ALL {
            for doc in tx.raw_find(collection.name(), doc! {})? {
                let mut renamed = Bson::Document(doc.clone());
                rename_user(&mut renamed, local_user, account);
                if let Bson::Document(renamed) = renamed {
                    if renamed != doc {
                        tx.put_untracked(collection, renamed)?;
                    }
                }
            }
        }
        for entry in tx.raw_find(OUTBOX, doc! { "sent": false })? {
            let mut renamed = Bson::Document(entry.clone());
            rename_user(&mut renamed, local_user, account);
            if let Bson::Document(renamed) = renamed {
                if renamed != entry {
                    tx.raw(OUTBOX)
                        .delete_one(doc! { "_id": entry_id(&entry) })?;
                    tx.raw(OUTBOX).insert_one(renamed)?;
                }
            }
        }
        tx.raw(META_COLLECTION).update_one(
            doc! { "_id": "profile" },
            doc! { "$set": { "user_id": account } },
        )?;
    }
    set_sync_field(tx, "account", Bson::String(account.to_owned()))
}
