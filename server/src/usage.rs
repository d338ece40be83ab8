//! What an uploaded usage event does to the counters it feeds: a prompt's
//! `analytics` (uses, shares, last use) and a listing's views and
//! conversion. Counting happens here, in the event's own transaction, so
//! every device's uses add up and a resent event (answered from its record)
//! never counts twice. The counters are bookkeeping: the document's version
//! stays, as with a project's membership, so no edit is taken for stale.

use bson::{Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::version_of;
use promptforge_wire::schema::Collection;

use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::scope;

fn count_of(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// Applies an accepted event `event` of `user` to what it counts. An event
/// about a document the user cannot read, or that is gone, counts nothing.
pub(crate) async fn count(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    event: &Document,
) -> Result<(), ServerError> {
    let data = event.get_document("event_data").ok();
    let target = |field: &str| data.and_then(|d| d.get_str(field).ok()).map(str::to_owned);
    let at = event
        .get_datetime("timestamp")
        .copied()
        .unwrap_or_else(|_| DateTime::now());
    match event.get_str("event_type").unwrap_or_default() {
        "prompt_used" | "prompt_copied" => {
            if let Some(id) = target("prompt_id") {
                bump(
                    db,
                    session,
                    user,
                    Collection::Prompts,
                    &id,
                    "use_count",
                    Some(at),
                )
                .await?;
            }
        }
        "prompt_shared" => {
            if let Some(id) = target("prompt_id") {
                bump(
                    db,
                    session,
                    user,
                    Collection::Prompts,
                    &id,
                    "share_count",
                    None,
                )
                .await?;
            }
        }
        "listing_viewed" => {
            if let Some(id) = target("listing_id") {
                let field = "view_count";
                bump(
                    db,
                    session,
                    user,
                    Collection::MarketplaceListings,
                    &id,
                    field,
                    None,
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn bump(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    id: &str,
    field: &str,
    used_at: Option<DateTime>,
) -> Result<(), ServerError> {
    let Some(stored) = db.find_by_id(session, collection, id).await? else {
        return Ok(());
    };
    if stored.get("deleted_at").is_some_and(|d| *d != Bson::Null) {
        return Ok(());
    }
    let readable = match collection {
        Collection::MarketplaceListings => {
            // A seller looking at their own listing is not a prospect.
            stored.get_str("seller_id") != Ok(user) && stored.get_str("status") == Ok("approved")
        }
        _ => {
            let teams = db.team_access(user).await?;
            scope::still_reads(collection, &stored, user, &teams)
        }
    };
    if !readable {
        return Ok(());
    }
    let mut updated = strip_seq(stored.clone());
    let mut analytics = updated
        .get_document("analytics")
        .cloned()
        .unwrap_or_default();
    let count = count_of(&analytics, field).saturating_add(1);
    analytics.insert(field, count);
    if let Some(at) = used_at {
        let later = match analytics.get("last_used_at") {
            Some(Bson::DateTime(previous)) if *previous > at => *previous,
            _ => at,
        };
        analytics.insert("last_used_at", later);
    }
    if collection == Collection::MarketplaceListings {
        let purchases = count_of(&analytics, "purchase_count");
        analytics.insert(
            "conversion_rate",
            (purchases as f64 / count as f64).min(1.0),
        );
    }
    updated.insert("analytics", analytics);
    updated.insert("version", version_of(&stored));
    let admitted = admit(collection, updated, Some(&stored))
        .map_err(|e| ServerError::Internal(format!("{collection} `{id}` counters: {e}")))?;
    db.replace(session, collection, &stored, admitted).await?;
    Ok(())
}
