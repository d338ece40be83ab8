//! Pulls: a collection's changes after the client's checkpoint, in commit
//! (sequence) order, tombstones and "left your scope" notices included, in
//! pages capped by bytes; one collection a request, or all of a pull phase.

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
use promptforge_wire::protocol::{
    Change, CountRequest, CountResponse, PullAllRequest, PullAllResponse, PullRequest, PullResponse,
};
use promptforge_wire::schema::Collection;

use crate::db::{strip_seq, Db, SCOPE_EXITS, SEQ};
use crate::error::ServerError;
use crate::scope;

/// Page size bounds, in bytes of BSON documents.
const DEFAULT_PAGE_BYTES: u64 = 1024 * 1024;
const MAX_PAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Documents fetched per round trip to MongoDB while filling a page.
const BATCH: i64 = 500;

pub async fn pull(db: &Db, user: &str, request: &PullRequest) -> Result<PullResponse, ServerError> {
    // Only numbers at or below the sequencer's watermark: all of them are
    // written, so none can turn up later below a reader's checkpoint.
    let through = crate::sequencer::watermark(db).await?;
    Ok(pull_page(db, user, request, through).await?.0)
}

/// [`pull`] up to the watermark `through`, also returning the bytes of
/// documents the page holds.
async fn pull_page(
    db: &Db,
    user: &str,
    request: &PullRequest,
    through: i64,
) -> Result<(PullResponse, u64), ServerError> {
    let collection = Collection::from_name(&request.collection)
        .filter(|c| scope::PULLED.contains(c))
        .ok_or_else(|| ServerError::UnknownCollection(request.collection.clone()))?;
    if request.checkpoint < 0 {
        return Err(ServerError::BadRequest(
            "checkpoint must not be negative".into(),
        ));
    }
    let scope = scope::read_scope(db, collection, user)
        .await?
        .ok_or_else(|| ServerError::UnknownCollection(request.collection.clone()))?;
    let budget = request
        .max_bytes
        .unwrap_or(DEFAULT_PAGE_BYTES)
        .clamp(1, MAX_PAGE_BYTES);
    let coll = db.collection(collection);

    let exits = db.db.collection::<Document>(SCOPE_EXITS);
    let exits_filter = |after: i64| doc! { "user_id": user, "collection": collection.name(), SEQ: { "$gt": after, "$lte": through } };

    let mut changes = Vec::new();
    let mut checkpoint = request.checkpoint;
    let mut used = 0_u64;
    let mut cut = false;
    'page: loop {
        let (documents, documents_complete_to) =
            scoped_batch(&coll, collection, &scope, checkpoint, through).await?;
        let notices: Vec<Document> = exits
            .find(exits_filter(checkpoint))
            .sort(doc! { SEQ: 1 })
            .limit(BATCH)
            .await?
            .try_collect()
            .await?;
        // A full batch may hide later entries of the other kind: only merge
        // up to the last sequence number both batches are complete to.
        let complete_to = |batch: &[Document]| match batch.last() {
            Some(last) if batch.len() as i64 == BATCH => last.get_i64(SEQ).unwrap_or(i64::MAX),
            _ => i64::MAX,
        };
        let horizon = documents_complete_to.min(complete_to(&notices));
        let mut batch: Vec<Change> = Vec::with_capacity(documents.len() + notices.len());
        for mut document in documents {
            let Some(Bson::Int64(seq)) = document.remove(SEQ) else {
                continue;
            };
            let document = strip_seq(document);
            let id = document.get_str("_id").unwrap_or_default().to_owned();
            batch.push(Change {
                seq,
                id,
                document,
                left_scope: false,
            });
        }
        for notice in notices {
            let (Ok(seq), Ok(id)) = (notice.get_i64(SEQ), notice.get_str("doc_id")) else {
                continue;
            };
            batch.push(Change {
                seq,
                id: id.to_owned(),
                document: doc! { "_id": id },
                left_scope: true,
            });
        }
        batch.retain(|c| c.seq <= horizon);
        batch.sort_by_key(|c| c.seq);
        for change in batch {
            let size = bson::to_vec(&change.document).map_or(0, |b| b.len() as u64);
            // Always send at least one change, however large, so a page
            // never stalls the cursor.
            if !changes.is_empty() && used + size > budget {
                cut = true;
                break 'page;
            }
            used += size;
            checkpoint = change.seq;
            changes.push(change);
        }
        if horizon == i64::MAX {
            break;
        }
    }
    // A page that drained both queries leaves nothing behind: only a page
    // cut short by its byte budget pays for counting the rest.
    let remaining = if cut {
        coll.count_documents(
            doc! { "$and": [ scope, { SEQ: { "$gt": checkpoint, "$lte": through } } ] },
        )
        .await?
            + exits.count_documents(exits_filter(checkpoint)).await?
    } else {
        0
    };
    let page = PullResponse {
        collection: collection.name().to_owned(),
        changes,
        checkpoint,
        has_more: remaining > 0,
        remaining_estimate: remaining,
    };
    Ok((page, used))
}

/// The documents of `scope` numbered in `(after, through]`, at most [`BATCH`]
/// per alternative of the scope, in sequence order, and the number up to
/// which they are complete. Each alternative (the user's own, shared with
/// the user, through a team...) is its own query on its own `(field, _seq)`
/// index, which walks from the checkpoint in order: one `$or` with a sort
/// lets a planner walk the cursor index through every user's documents
/// instead.
async fn scoped_batch(
    coll: &mongodb::Collection<Document>,
    collection: Collection,
    scope: &Document,
    after: i64,
    through: i64,
) -> Result<(Vec<Document>, i64), ServerError> {
    // Keyed by sequence number: a document met by two alternatives is one.
    let mut merged: std::collections::BTreeMap<i64, Document> = Default::default();
    let mut complete_to = i64::MAX;
    for (alternative, index) in branch_queries(collection, scope) {
        let filter = doc! { "$and": [ alternative, { SEQ: { "$gt": after, "$lte": through } } ] };
        let mut find = coll.find(filter).sort(doc! { SEQ: 1 }).limit(BATCH);
        if let Some(index) = index {
            find = find.hint(mongodb::options::Hint::Keys(index));
        }
        let batch: Vec<Document> = find.await?.try_collect().await?;
        if batch.len() as i64 == BATCH {
            if let Some(last) = batch.last() {
                complete_to = complete_to.min(last.get_i64(SEQ).unwrap_or(i64::MAX));
            }
        }
        for document in batch {
            if let Ok(seq) = document.get_i64(SEQ) {
                merged.insert(seq, document);
            }
        }
    }
    let documents = merged
        .into_iter()
        .filter(|(seq, _)| *seq <= complete_to)
        .map(|(_, document)| document)
        .collect();
    Ok((documents, complete_to))
}

/// The alternatives of a read scope, each with the index that serves it
/// (`None` when no index leads with its fields). An alternative that can
/// match nothing (`$in` an empty list) is left out.
pub fn branch_queries(
    collection: Collection,
    scope: &Document,
) -> Vec<(Document, Option<Document>)> {
    let alternatives: Vec<Document> = match scope.get_array("$or") {
        Ok(items) => items
            .iter()
            .filter_map(|b| b.as_document().cloned())
            .collect(),
        Err(_) => vec![scope.clone()],
    };
    let indexed = scope::scope_fields(collection);
    alternatives
        .into_iter()
        .filter(|alternative| {
            !alternative.values().any(|value| {
                value
                    .as_document()
                    .and_then(|v| v.get_array("$in").ok())
                    .is_some_and(Vec::is_empty)
            })
        })
        .map(|alternative| {
            let index = match alternative.keys().find(|k| indexed.contains(&k.as_str())) {
                Some(field) => Some(doc! { field.as_str(): 1, SEQ: 1 }),
                None if alternative.is_empty() => Some(doc! { SEQ: 1 }),
                None => None,
            };
            (alternative, index)
        })
        .collect()
}

/// How many changes wait after each checkpoint: the documents in scope and
/// the `left_scope` notices a pull from there would return.
pub async fn count(
    db: &Db,
    user: &str,
    request: &CountRequest,
) -> Result<CountResponse, ServerError> {
    let mut remaining = std::collections::BTreeMap::new();
    for (name, checkpoint) in &request.checkpoints {
        let collection = Collection::from_name(name)
            .filter(|c| scope::PULLED.contains(c))
            .ok_or_else(|| ServerError::UnknownCollection(name.clone()))?;
        if *checkpoint < 0 {
            return Err(ServerError::BadRequest(
                "checkpoint must not be negative".into(),
            ));
        }
        let scope = scope::read_scope(db, collection, user)
            .await?
            .ok_or_else(|| ServerError::UnknownCollection(name.clone()))?;
        let documents = db
            .collection(collection)
            .count_documents(doc! { "$and": [ scope, { SEQ: { "$gt": checkpoint } } ] })
            .await?;
        let notices = db
            .db
            .collection::<Document>(SCOPE_EXITS)
            .count_documents(
                doc! { "user_id": user, "collection": collection.name(), SEQ: { "$gt": checkpoint } },
            )
            .await?;
        remaining.insert(name.clone(), documents + notices);
    }
    Ok(CountResponse { remaining })
}

/// Pulls every collection of `request` in pull order, within one byte
/// budget: a page per collection with changes, stopping at the first page
/// cut short. A collection whose checkpoint predates purged deletions is
/// listed as expired instead.
pub async fn pull_all(
    db: &Db,
    user: &str,
    request: &PullAllRequest,
) -> Result<PullAllResponse, ServerError> {
    for name in request.checkpoints.keys() {
        if !Collection::from_name(name).is_some_and(|c| scope::PULLED.contains(&c)) {
            return Err(ServerError::UnknownCollection(name.clone()));
        }
    }
    let mut budget = request
        .max_bytes
        .unwrap_or(DEFAULT_PAGE_BYTES)
        .clamp(1, MAX_PAGE_BYTES);
    // One watermark for every page: the answer's `through` is then exact.
    let through = crate::sequencer::watermark(db).await?;
    // One read of the purge horizons for every collection asked.
    let horizons = crate::retention::Horizons::read(db).await?;
    let mut pages = Vec::new();
    let mut expired = Vec::new();
    for collection in scope::PULLED {
        let Some(&checkpoint) = request.checkpoints.get(collection.name()) else {
            continue;
        };
        match horizons.check(collection, checkpoint) {
            Err(ServerError::CheckpointExpired(_)) => {
                expired.push(collection.name().to_owned());
                continue;
            }
            other => other?,
        }
        if budget == 0 {
            return Ok(PullAllResponse {
                pages,
                expired,
                has_more: true,
                through: Some(through),
            });
        }
        let (page, used) = pull_page(
            db,
            user,
            &PullRequest {
                collection: collection.name().to_owned(),
                checkpoint,
                max_bytes: Some(budget),
            },
            through,
        )
        .await?;
        budget = budget.saturating_sub(used);
        let cut = page.has_more;
        if !page.changes.is_empty() || cut {
            pages.push(page);
        }
        if cut {
            return Ok(PullAllResponse {
                pages,
                expired,
                has_more: true,
                through: Some(through),
            });
        }
    }
    Ok(PullAllResponse {
        pages,
        expired,
        has_more: false,
        through: Some(through),
    })
}
