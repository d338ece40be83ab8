//! Conflicts: recording what both sides wanted and what was kept, and
//! reading them back for the user to answer.

use bson::{doc, Bson, DateTime, Document};
use polodb_core::CollectionT;
use promptforge_wire::codec::get_path;

use super::state::entry_collection;
use super::{Conflict, ConflictKind, Resolution, CONFLICTS};
use crate::error::{Result, StoreError};
use crate::schema::{new_id, Collection};
use crate::store::writer::Tx;

pub(super) fn conflict_doc(
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
pub(super) fn record_state_conflict(
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
pub(super) fn record_displaced(
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

pub(super) fn record_conflict(tx: &mut Tx, conflict: Document) -> Result<()> {
    tx.raw(CONFLICTS).insert_one(conflict)?;
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
