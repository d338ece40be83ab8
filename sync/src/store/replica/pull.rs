//! Pulling: absorbing the server's documents under pending local edits (the
//! rebase), applying a pulled page with its checkpoint, and letting go of
//! documents that left this user's scope.

use bson::{doc, Bson, Document};
use polodb_core::CollectionT;
use promptforge_wire::access::owner_field;
use promptforge_wire::codec::{get_path, is_deleted, set_path, version_of};
use promptforge_wire::protocol::Change;
use promptforge_wire::schema::merge_unit;

use super::conflicts::{conflict_doc, record_conflict, record_displaced, record_state_conflict};
use super::outbox::{entries_for, new_entry, upload_diff};
use super::state::{doc_key, entry_id, entry_op, is_sent, profile_user, save_state, state};
use super::{ConflictKind, PendingOp, ATTENTION, OUTBOX};
use crate::error::{Result, StoreError};
use crate::schema::Collection;
use crate::store::history;
use crate::store::writer::{doc_id, Tx};

/// Applies the server's document `server` for a document of this device,
/// keeping pending local edits on top (rebased onto it). Where both sides
/// changed a field, the server's value wins, as it does on the server, and
/// the conflict is recorded with both values. `own` says `server` answers
/// this device's own mutation.
pub(super) fn absorb(
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
        // An echo of this device's own write, already absorbed from the
        // push's answer: nothing to write.
        if local == server {
            return Ok(());
        }
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

/// Applies one pulled page and its checkpoint together.
pub(super) fn apply_page(
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
