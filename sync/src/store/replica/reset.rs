//! Starting a collection over: when the server has purged deletions newer
//! than this replica's checkpoint (`checkpoint_expired`), the collection is
//! pulled again from 0 and, once that pull is complete, every local copy it
//! did not send is removed, except documents with edits still waiting to be
//! uploaded: those are unsynced work, and their upload settles them. The
//! reset is recorded before it starts, so an interrupted one starts over.
//!
//! Also here: the mutation id this replica confirms to the server, up to
//! which the server may forget its answers.

use std::collections::HashSet;

use bson::{doc, Document};

use super::outbox::entries_for;
use super::state::{doc_key, entry_id, save_state, state};
use super::OUTBOX;
use crate::error::Result;
use crate::schema::Collection;
use crate::store::writer::Tx;

const RESETS: &str = "resets";

/// Whether `collection` is being pulled again from 0.
pub(super) fn resetting(tx: &Tx, collection: Collection) -> Result<bool> {
    Ok(state(tx)?
        .get_document(RESETS)
        .is_ok_and(|r| r.get_bool(collection.name()).unwrap_or(false)))
}

/// Records that `collection` is pulled again from 0, and moves its
/// checkpoint there.
pub(super) fn begin(tx: &mut Tx, collection: Collection) -> Result<()> {
    let mut st = state(tx)?;
    let mut resets = st.get_document(RESETS).cloned().unwrap_or_default();
    resets.insert(collection.name(), true);
    st.insert(RESETS, resets);
    let mut checkpoints = st.get_document("checkpoints").cloned().unwrap_or_default();
    checkpoints.insert(collection.name(), 0_i64);
    st.insert("checkpoints", checkpoints);
    save_state(tx, st)
}

/// Ends a complete re-pull of `collection` that sent the ids in `seen`:
/// removes the local copies it did not send and have nothing to upload.
/// Returns how many went.
pub(super) fn finish(tx: &mut Tx, collection: Collection, seen: &HashSet<String>) -> Result<usize> {
    let local: Vec<String> = tx
        .raw_find(collection.name(), doc! {})?
        .iter()
        .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
        .collect();
    let mut removed = 0;
    for id in local {
        if seen.contains(&id) || !entries_for(tx, &doc_key(collection, &id))?.is_empty() {
            continue;
        }
        tx.remove(collection, &id)?;
        removed += 1;
    }
    let mut st = state(tx)?;
    let mut resets = st.get_document(RESETS).cloned().unwrap_or_default();
    resets.remove(collection.name());
    st.insert(RESETS, resets);
    save_state(tx, st)?;
    Ok(removed)
}

/// The highest mutation id below every entry still in the outbox: all of
/// those were answered, and none is ever sent again.
pub(super) fn confirmed_mutation_id(tx: &Tx) -> Result<u64> {
    let outbox: Vec<Document> = tx.raw_find(OUTBOX, doc! {})?;
    let confirmed = match outbox.iter().map(entry_id).min() {
        Some(lowest) => lowest - 1,
        None => state(tx)?.get_i64("next_mutation_id").unwrap_or(1) - 1,
    };
    Ok(u64::try_from(confirmed).unwrap_or(0))
}
