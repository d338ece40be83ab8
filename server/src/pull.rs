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
const BATCH: u32 = 500;

pub async fn pull(db: &Db, user: &str, request: &PullRequest) -> Result<PullResponse, ServerError> {
    // Only numbers at or below the sequencer's watermark: all of them are
    // written, so none can turn up later below a reader's checkpoint.
    let through = crate::sequencer::watermark(db).await?;
    Ok(pull_page(db, user, request, through, true).await?.0)
}

/// [`pull`] up to the watermark `through`, also returning the bytes of
/// documents the page holds. Without `count_remaining`, a page cut short
/// says 1 remains rather than counting.
///
/// Each alternative of the scope (the user's own, shared with the user,
/// through a team...) and the `left_scope` notices are one cursor each, on
/// an index that walks from the checkpoint in sequence order; the page
/// merges them in order until its byte budget is spent. One query per
/// source and page, however many documents it holds: a page costs the
/// database a handful of index walks, not one query per few hundred
/// documents (one `$or` with a sort would let a planner walk the cursor
/// index through every user's documents instead). Each alternative has
/// exactly one index that serves it (the cursor has no index of its own
/// where a scope applies, see `Db::prepare`); see [`branch_queries`] for
/// which queries name it.
async fn pull_page(
    db: &Db,
    user: &str,
    request: &PullRequest,
    through: i64,
    count_remaining: bool,
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

    let mut sources = Vec::new();
    for (alternative, index) in branch_queries(collection, &scope) {
        let filter = page_filter(alternative, request.checkpoint, through);
        let mut find = coll.find(filter).sort(doc! { SEQ: 1 }).batch_size(BATCH);
        if let Some(index) = index {
            find = find.hint(mongodb::options::Hint::Keys(index));
        }
        sources.push(Source::new(find.await?, false));
    }
    let notices = exits
        .find(exits_filter(request.checkpoint))
        .sort(doc! { SEQ: 1 })
        .batch_size(BATCH)
        .await?;
    sources.push(Source::new(notices, true));

    let mut changes = Vec::new();
    let mut checkpoint = request.checkpoint;
    let mut used = 0_u64;
    let mut cut = false;
    while let Some(change) = next_in_order(&mut sources).await? {
        // A document met by two alternatives is one change.
        if change.seq <= checkpoint {
            continue;
        }
        let size = bson::to_vec(&change.document).map_or(0, |b| b.len() as u64);
        // Always send at least one change, however large, so a page never
        // stalls the cursor.
        if !changes.is_empty() && used + size > budget {
            cut = true;
            break;
        }
        used += size;
        checkpoint = change.seq;
        changes.push(change);
    }
    // A page that drained every source leaves nothing behind: only a page
    // cut short by its byte budget pays for counting the rest.
    let remaining = if cut && !count_remaining {
        1
    } else if cut {
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

/// One cursor of a page, in sequence order, with its next change read ahead.
struct Source {
    cursor: mongodb::Cursor<Document>,
    notices: bool,
    head: Option<Change>,
    drained: bool,
}

impl Source {
    fn new(cursor: mongodb::Cursor<Document>, notices: bool) -> Source {
        Source {
            cursor,
            notices,
            head: None,
            drained: false,
        }
    }

    /// Reads ahead one change, unless one is waiting or the cursor is done.
    async fn fill(&mut self) -> Result<(), ServerError> {
        while self.head.is_none() && !self.drained {
            match self.cursor.try_next().await? {
                None => self.drained = true,
                Some(found) => self.head = self.change(found),
            }
        }
        Ok(())
    }

    /// The change a stored document or notice stands for; `None` for one
    /// without a readable number (never pulled).
    fn change(&self, mut found: Document) -> Option<Change> {
        if self.notices {
            let (Ok(seq), Ok(id)) = (found.get_i64(SEQ), found.get_str("doc_id")) else {
                return None;
            };
            return Some(Change {
                seq,
                id: id.to_owned(),
                document: doc! { "_id": id },
                left_scope: true,
            });
        }
        let Some(Bson::Int64(seq)) = found.remove(SEQ) else {
            return None;
        };
        let document = strip_seq(found);
        let id = document.get_str("_id").unwrap_or_default().to_owned();
        Some(Change {
            seq,
            id,
            document,
            left_scope: false,
        })
    }
}

/// The lowest-numbered change waiting in any source, taken from it.
async fn next_in_order(sources: &mut [Source]) -> Result<Option<Change>, ServerError> {
    for source in sources.iter_mut() {
        source.fill().await?;
    }
    let lowest = sources
        .iter_mut()
        .filter(|s| s.head.is_some())
        .min_by_key(|s| s.head.as_ref().map_or(i64::MAX, |c| c.seq));
    Ok(lowest.and_then(|s| s.head.take()))
}

/// The query of one alternative of a scope for a page: its documents
/// numbered in `(after, through]`. One flat filter (an alternative never
/// names the cursor), which every planner reads as an equality and a range
/// on one index.
pub fn page_filter(mut alternative: Document, after: i64, through: i64) -> Document {
    alternative.insert(SEQ, doc! { "$gt": after, "$lte": through });
    alternative
}

/// The alternatives of a read scope, each with the index a pull names for
/// it: none for plain equalities (the only index that serves them is the
/// planner's choice anyway, and a named index costs some MongoDB-compatible
/// servers a walk of all of it), the one that leads with its field for the
/// others (`None` also when no index does). An alternative that can
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
            // Every planner reads plain equalities and the cursor's range
            // on the one index that serves them; for an `$in` (ranges
            // merged in order) or a further condition some do not.
            let plain = alternative
                .values()
                .all(|value| value.as_document().is_none());
            (alternative, index.filter(|_| !plain))
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
            request.count_remaining.unwrap_or(true),
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
