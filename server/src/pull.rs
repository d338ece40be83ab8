//! Pulls: a collection's changes after the client's checkpoint, in commit
//! (sequence) order, tombstones included, in pages capped by bytes.

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
use promptforge_wire::protocol::{Change, PullRequest, PullResponse};
use promptforge_wire::schema::Collection;

use crate::db::{Db, SEQ, SEQ_VERSION};
use crate::error::ServerError;
use crate::scope;

/// Page size bounds, in bytes of BSON documents.
const DEFAULT_PAGE_BYTES: u64 = 1024 * 1024;
const MAX_PAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Documents fetched per round trip to MongoDB while filling a page.
const BATCH: i64 = 500;

pub async fn pull(db: &Db, user: &str, request: &PullRequest) -> Result<PullResponse, ServerError> {
    let collection = Collection::from_name(&request.collection)
        .filter(|c| scope::PULLED.contains(c))
        .ok_or_else(|| ServerError::UnknownCollection(request.collection.clone()))?;
    if request.checkpoint < 0 {
        return Err(ServerError::BadRequest(
            "checkpoint must not be negative".into(),
        ));
    }
    let scope = scope::read_filter(collection, user)
        .ok_or_else(|| ServerError::UnknownCollection(request.collection.clone()))?;
    let budget = request
        .max_bytes
        .unwrap_or(DEFAULT_PAGE_BYTES)
        .clamp(1, MAX_PAGE_BYTES);
    let coll = db.collection(collection);

    let mut changes = Vec::new();
    let mut checkpoint = request.checkpoint;
    let mut used = 0_u64;
    let mut full = false;
    while !full {
        let filter = doc! { "$and": [ scope.clone(), { SEQ: { "$gt": checkpoint } } ] };
        let batch: Vec<Document> = coll
            .find(filter)
            .sort(doc! { SEQ: 1 })
            .limit(BATCH)
            .await?
            .try_collect()
            .await?;
        let exhausted = (batch.len() as i64) < BATCH;
        for mut document in batch {
            let Some(Bson::Int64(seq)) = document.remove(SEQ) else {
                continue;
            };
            document.remove(SEQ_VERSION);
            let size = bson::to_vec(&document).map_or(0, |b| b.len() as u64);
            // Always send at least one change, however large, so a page
            // never stalls the cursor.
            if !changes.is_empty() && used + size > budget {
                full = true;
                break;
            }
            used += size;
            checkpoint = seq;
            let id = document.get_str("_id").unwrap_or_default().to_owned();
            changes.push(Change { seq, id, document });
        }
        if exhausted {
            break;
        }
    }
    let remaining = coll
        .count_documents(doc! { "$and": [ scope, { SEQ: { "$gt": checkpoint } } ] })
        .await?;
    Ok(PullResponse {
        collection: collection.name().to_owned(),
        changes,
        checkpoint,
        has_more: remaining > 0,
        remaining_estimate: remaining,
    })
}
