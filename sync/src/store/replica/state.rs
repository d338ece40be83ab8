//! The replica's bookkeeping record (its client id, the mutation counter,
//! pull checkpoints, the account and the last sync), the summary built from
//! it, and the small readers of outbox entries every part shares.

use bson::{doc, Bson, Document};
use polodb_core::CollectionT;

use super::{PendingOp, SyncSummary, ATTENTION, CONFLICTS, OUTBOX, STATE_ID};
use crate::error::Result;
use crate::schema::{new_id, Collection};
use crate::store::writer::Tx;
use crate::store::META_COLLECTION;

pub(super) fn doc_key(collection: Collection, id: &str) -> String {
    format!("{}/{id}", collection.name())
}

pub(super) fn entry_id(entry: &Document) -> i64 {
    entry.get_i64("_id").unwrap_or(0)
}

pub(super) fn entry_op(entry: &Document) -> PendingOp {
    PendingOp::parse(entry.get_str("op").unwrap_or("patch")).unwrap_or(PendingOp::Patch)
}

pub(super) fn is_sent(entry: &Document) -> bool {
    entry.get_bool("sent").unwrap_or(false)
}

pub(super) fn entry_collection(entry: &Document) -> Option<Collection> {
    Collection::from_name(entry.get_str("collection").unwrap_or(""))
}

pub(super) fn state(tx: &Tx) -> Result<Document> {
    Ok(tx
        .raw(META_COLLECTION)
        .find_one(doc! { "_id": STATE_ID })?
        .unwrap_or_else(|| doc! { "_id": STATE_ID }))
}

pub(super) fn save_state(tx: &Tx, state: Document) -> Result<()> {
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

pub(super) fn next_mutation_id(tx: &Tx) -> Result<i64> {
    let mut st = state(tx)?;
    let next = st.get_i64("next_mutation_id").unwrap_or(1).max(1);
    st.insert("next_mutation_id", next + 1);
    save_state(tx, st)?;
    Ok(next)
}

pub(super) fn checkpoint(tx: &Tx, collection: &str) -> Result<i64> {
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
