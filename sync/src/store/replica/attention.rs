//! The needs-attention list: local changes the server refused for good (or
//! that could no longer be uploaded), and settling them, with or without a
//! retry.

use bson::{doc, Bson, DateTime, Document};
use polodb_core::CollectionT;

use super::state::{entry_collection, entry_id, entry_op, next_mutation_id};
use super::{AttentionItem, ATTENTION, OUTBOX};
use crate::error::{Result, StoreError};
use crate::store::writer::Tx;

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
