//! Push results: applying the server's answer to each uploaded mutation,
//! including its refusals (a state clash to absorb, or a change refused for
//! good that goes on the needs-attention list).

use bson::{doc, Bson, Document};
use polodb_core::CollectionT;
use promptforge_wire::protocol::{FieldConflict, MutationOutcome, MutationResult};

use super::conflicts::{conflict_doc, record_conflict, record_state_conflict};
use super::outbox::{entries_for, new_entry};
use super::pull::absorb;
use super::state::{doc_key, entry_collection, entry_id, entry_op, is_sent};
use super::{ConflictKind, PendingOp, PushApplied, ATTENTION, OUTBOX};
use crate::error::Result;
use crate::schema::Collection;
use crate::store::writer::Tx;

/// Applies the server's answers to one push, each clearing its outbox entry.
pub(super) fn apply_results(tx: &mut Tx, results: Vec<MutationResult>) -> Result<PushApplied> {
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
        if collection == Collection::AnalyticsEvents {
            settle_event(tx, &doc_id, result.outcome)?;
            continue;
        }
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

/// A usage event's answer: the copy here takes the server's version, or,
/// refused, the event is dropped with a log line. The user never has to act
/// on an event, and one expired since it was sent stays gone.
fn settle_event(tx: &mut Tx, id: &str, outcome: MutationOutcome) -> Result<()> {
    match outcome {
        MutationOutcome::Applied { document, .. } | MutationOutcome::Merged { document, .. } => {
            if tx.get(Collection::AnalyticsEvents, id)?.is_some() {
                absorb(tx, Collection::AnalyticsEvents, document, true)?;
            }
        }
        MutationOutcome::Conflict { .. } => {}
        MutationOutcome::Rejected { reason, message } => {
            tracing::warn!(event = %id, ?reason, %message, "the server refused a usage event; dropped");
            tx.remove(Collection::AnalyticsEvents, id)?;
        }
    }
    Ok(())
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
