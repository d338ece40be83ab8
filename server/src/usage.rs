//! What an uploaded usage event does to the counters it feeds: a prompt's
//! `analytics` (uses, shares, last use) and a listing's views and
//! conversion. Counting happens here, in the event's own transaction, so
//! every device's uses add up and a resent event (answered from its record)
//! never counts twice. The counters are bookkeeping: the document's version
//! stays, as with a project's membership, so no edit is taken for stale.

use bson::{Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{version_of, whole_number};
use promptforge_wire::schema::Collection;

use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::scope;

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
    // A client's clock (or a hostile one) may run ahead: a use is never
    // later than the server's now, so last_used_at cannot be pinned in 9999.
    let now = DateTime::now();
    let at = event
        .get_datetime("timestamp")
        .map_or(now, |t| (*t).min(now));
    let (collection, id, field, used_at) = match event.get_str("event_type").unwrap_or_default() {
        "prompt_used" | "prompt_copied" => (
            Collection::Prompts,
            target("prompt_id"),
            "use_count",
            Some(at),
        ),
        "prompt_shared" => (
            Collection::Prompts,
            target("prompt_id"),
            "share_count",
            None,
        ),
        "listing_viewed" => (
            Collection::MarketplaceListings,
            target("listing_id"),
            "view_count",
            None,
        ),
        _ => return Ok(()),
    };
    let Some(id) = id else {
        return Ok(());
    };
    if collection == Collection::MarketplaceListings
        && !first_view_today(db, session, user, &id, now).await?
    {
        return Ok(());
    }
    bump(db, session, user, collection, &id, field, used_at).await
}

/// Views counted, one per viewer, listing and UTC day: `{_id: "day:listing:user", at}`.
/// An approved listing is pulled by every user, so each counted view is a
/// write they all receive; a viewer (or a client replaying views) adds at
/// most one a day.
pub(crate) const LISTING_VIEWS: &str = "listing_views";

async fn first_view_today(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    listing: &str,
    now: DateTime,
) -> Result<bool, ServerError> {
    let day = now.timestamp_millis().div_euclid(86_400_000);
    let key = format!("{day}:{listing}:{user}");
    let views = db.db.collection::<Document>(LISTING_VIEWS);
    let seen = views
        .find_one(bson::doc! { "_id": &key })
        .session(&mut *session)
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    views
        .insert_one(bson::doc! { "_id": key, "at": now })
        .session(&mut *session)
        .await?;
    Ok(true)
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
    let count = whole_number(&analytics, field).saturating_add(1);
    analytics.insert(field, count);
    if let Some(at) = used_at {
        let later = match analytics.get("last_used_at") {
            Some(Bson::DateTime(previous)) if *previous > at => *previous,
            _ => at,
        };
        analytics.insert("last_used_at", later);
    }
    if collection == Collection::MarketplaceListings {
        let purchases = whole_number(&analytics, "purchase_count");
        analytics.insert(
            "conversion_rate",
            (purchases as f64 / count as f64).min(1.0),
        );
    }
    updated.insert("analytics", analytics);
    updated.insert("version", version_of(&stored));
    // A stored document that no longer passes (written by another backend)
    // counts nothing; the event itself is still accepted.
    match admit(collection, updated, Some(&stored)) {
        Ok(admitted) => db
            .replace(session, collection, &stored, admitted)
            .await
            .map(drop),
        Err(err) => {
            tracing::warn!(%collection, %id, error = %err, "usage not counted on a document that fails validation");
            Ok(())
        }
    }
}

/// Forgets usage events past their `expires_at` (the retention their
/// desktop's user chose) and view marks from before yesterday; run with the
/// rest of [`crate::retention::purge`]. Events are never pulled, so nothing
/// tracks them by sequence number.
pub(crate) async fn purge(db: &Db) -> Result<u64, ServerError> {
    let now = DateTime::now();
    let expired = db
        .collection(Collection::AnalyticsEvents)
        .delete_many(bson::doc! { "expires_at": { "$lt": now } })
        .await?
        .deleted_count;
    let yesterday = DateTime::from_millis(now.timestamp_millis() - 2 * 86_400_000);
    let views = db
        .db
        .collection::<Document>(LISTING_VIEWS)
        .delete_many(bson::doc! { "at": { "$lt": yesterday } })
        .await?
        .deleted_count;
    Ok(expired + views)
}
