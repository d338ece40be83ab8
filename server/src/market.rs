//! The marketplace: the server is the only authority for listings' review
//! state, purchases, credits, fees, refunds and reviews.
//!
//! Every request runs in one MongoDB transaction that checks and writes
//! together: a purchase debits the buyer, records the purchase, credits the
//! seller, updates the listing's analytics, delivers a copy of the prompt and
//! notifies both sides, or does none of it. Purchases and refunds carry an
//! idempotency key (publish, moderation and reviews may) whose first answer
//! is stored with the writes, so a resent request is answered the same and
//! charges nothing. Credits are whole
//! units, so the ledger balances exactly.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::is_deleted;
use promptforge_wire::market::{
    MarketOutcome, MarketRefusal, ModerateRequest, ModerationAction, PublishRequest,
    PurchaseRequest, RefundRequest, ReviewRequest,
};
use promptforge_wire::schema::{new_id, Collection};

use crate::db::{strip_seq, version_of, Db};
use crate::error::ServerError;

/// Answers of marketplace requests sent with an idempotency key, by
/// `user:kind:idempotency_key`.
pub const MARKET_REQUESTS: &str = "market_requests";

/// The marketplace's rules, from the server's configuration.
#[derive(Debug, Clone)]
pub struct MarketRules {
    /// Users who may approve, reject and suspend listings.
    pub moderators: Vec<String>,
    /// The platform's share of each sale, 0 to 1.
    pub platform_fee_rate: f64,
    /// How long after a purchase a refund may be asked for, in days.
    pub refund_window_days: i64,
}

fn refused(reason: MarketRefusal, message: impl Into<String>) -> MarketOutcome {
    MarketOutcome::refused(reason, message)
}

fn internal(err: impl std::fmt::Display) -> ServerError {
    ServerError::Internal(err.to_string())
}

/// Inserts a new server-made document: version 1, on the pull cursor.
async fn insert_new(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    mut document: Document,
) -> Result<Document, ServerError> {
    document.insert("version", 1_i64);
    let admitted = admit(collection, document, None)?;
    db.insert(session, collection, admitted).await
}

/// Writes `updated` over `current` (compare-and-set on its version), with a
/// new version, `updated_at`, and a place on the pull cursor.
async fn overwrite(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    current: &Document,
    mut updated: Document,
) -> Result<Document, ServerError> {
    let version = version_of(current);
    updated.insert("version", version + 1);
    if collection.has_field("updated_at") {
        updated.insert("updated_at", DateTime::now());
    }
    let admitted = admit(collection, strip_seq(updated), Some(current))?;
    db.replace(session, collection, current, admitted).await
}

fn int(doc: &Document, path: &str) -> i64 {
    match promptforge_wire::codec::get_path(doc, path) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

fn float(doc: &Document, path: &str) -> f64 {
    match promptforge_wire::codec::get_path(doc, path) {
        Some(Bson::Double(n)) => *n,
        Some(Bson::Int64(n)) => *n as f64,
        Some(Bson::Int32(n)) => f64::from(*n),
        _ => 0.0,
    }
}

fn set(doc: &mut Document, path: &str, value: impl Into<Bson>) -> Result<(), ServerError> {
    promptforge_wire::codec::set_path(doc, path, value.into()).map_err(internal)
}

/// Writes a notification for `user`.
async fn notify(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    kind: &str,
    title: &str,
    message: &str,
) -> Result<(), ServerError> {
    let now = DateTime::now();
    let notification = doc! {
        "_id": new_id(),
        "user_id": user,
        "type": kind,
        "title": title,
        "message": message,
        "category": "marketplace",
        "priority": "normal",
        "read": false,
        "dismissed": false,
        "delivery_channels": ["in_app"],
        "created_at": now,
        "updated_at": now,
    };
    insert_new(db, session, Collection::Notifications, notification).await?;
    Ok(())
}

/// A URL-safe slug from a title, unique by the listing's id:
/// `{title words}--{id}`. The title part never holds `--`, and the id is
/// written so that distinct ids stay distinct (`-` as `--`, an upper-case
/// letter as `-` and the letter, `_`, `:` and `.` as `-1`, `-2`, `-3`), so no
/// two listings share a slug.
fn slug(title: &str, id: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let mut slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        slug.push_str("listing");
    }
    slug.push_str("--");
    for c in id.chars() {
        match c {
            'a'..='z' | '0'..='9' => slug.push(c),
            'A'..='Z' => {
                slug.push('-');
                slug.push(c.to_ascii_lowercase());
            }
            '-' => slug.push_str("--"),
            '_' => slug.push_str("-1"),
            ':' => slug.push_str("-2"),
            '.' => slug.push_str("-3"),
            // Ids hold nothing else; anything that slips through still
            // yields a valid, if less distinct, slug.
            _ => slug.push_str("-0"),
        }
    }
    slug
}

/// What buyers get must be what a moderator saw: any change a seller makes
/// to an approved (or pending) listing sends it back to review, or to draft
/// when it no longer meets what publishing requires.
pub fn back_to_review_if_changed(current: &Document, updated: &mut Document) {
    let live = matches!(current.get_str("status"), Ok("approved" | "pending"));
    // `seo` is the seller's but for its slug.
    let seo = |doc: &Document| {
        let mut seo = doc.get_document("seo").cloned().unwrap_or_default();
        seo.remove("slug");
        seo
    };
    let sellers = |field: &str| {
        !field.starts_with('_')
            && !matches!(field, "created_at" | "last_modified_by" | "seo")
            && !promptforge_wire::access::is_server_owned(Collection::MarketplaceListings, field)
    };
    let changed = seo(current) != seo(updated)
        || updated
            .keys()
            .chain(current.keys())
            .any(|field| sellers(field) && current.get(field) != updated.get(field));
    if !live || !changed {
        return;
    }
    if publishable(updated).is_ok() {
        updated.insert("status", "pending");
        updated.insert("moderation_status", "under_review");
    } else {
        updated.insert("status", "draft");
        updated.insert("moderation_status", "not_reviewed");
    }
}

/// The listing's `seller` block, from the seller's profile.
fn seller_block(seller: Option<&Document>) -> Document {
    let Some(seller) = seller else {
        return doc! { "display_name": "", "verified_seller": false, "seller_rating": 0.0, "total_sales": 0_i64 };
    };
    let mut block = doc! {
        "display_name": seller.get_str("display_name").unwrap_or_default(),
        "verified_seller": seller.get_bool("email_verified").unwrap_or(false)
            && seller.get_str("account_status").unwrap_or("active") == "active",
        "seller_rating": float(seller, "stats.average_rating"),
        "total_sales": int(seller, "stats.marketplace_sales"),
    };
    if let Ok(image) = seller.get_str("photo_url") {
        block.insert("profile_image", image);
    }
    block
}

/// Fills a listing's server-kept fields: the seller block and the slug.
/// Called for every listing the server writes or accepts from a desktop.
pub async fn fill_listing(
    db: &Db,
    session: &mut ClientSession,
    listing: &mut Document,
) -> Result<(), ServerError> {
    let seller_id = listing.get_str("seller_id").unwrap_or_default().to_owned();
    let seller = db
        .find_by_id(session, Collection::Users, &seller_id)
        .await?;
    listing.insert("seller", seller_block(seller.as_ref()));
    let id = listing.get_str("_id").unwrap_or_default().to_owned();
    let title = listing.get_str("title").unwrap_or_default().to_owned();
    let mut seo = listing.get_document("seo").cloned().unwrap_or_default();
    if seo.get_str("slug").is_err() {
        seo.insert("slug", slug(&title, &id));
        listing.insert("seo", seo);
    }
    Ok(())
}

/// Brings the `seller` block of every listing of `seller_id` up to date
/// (after the seller's profile or rating changed).
pub async fn refresh_seller_listings(
    db: &Db,
    session: &mut ClientSession,
    seller_id: &str,
) -> Result<(), ServerError> {
    use futures_util::TryStreamExt;
    let seller = db.find_by_id(session, Collection::Users, seller_id).await?;
    let block = seller_block(seller.as_ref());
    let listings: Vec<Document> = db
        .collection(Collection::MarketplaceListings)
        .find(doc! { "seller_id": seller_id })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    for listing in listings {
        if listing.get_document("seller").ok() == Some(&block) {
            continue;
        }
        let mut updated = listing.clone();
        updated.insert("seller", block.clone());
        // Another document's fault is not this request's to report.
        overwrite(
            db,
            session,
            Collection::MarketplaceListings,
            &listing,
            updated,
        )
        .await
        .map_err(|e| match e {
            ServerError::Schema(e) => ServerError::Internal(format!("seller listing: {e}")),
            other => other,
        })?;
    }
    Ok(())
}

/// Checks what a listing must satisfy before review: a price in credits,
/// a consistent discount, and licensing stated.
fn publishable(listing: &Document) -> Result<(), String> {
    let price = int(listing, "price");
    if price <= 0 {
        return Err("price must be at least 1 credit".into());
    }
    if listing.get_str("currency").unwrap_or("credits") != "credits" {
        return Err("only listings priced in credits can be sold on the desktop".into());
    }
    if let Some(original) = listing.get("original_price").filter(|v| **v != Bson::Null) {
        let original = original.as_i64().unwrap_or(0);
        if original < price {
            return Err("original_price must not be below price".into());
        }
    }
    let stated = |path: &str| {
        promptforge_wire::codec::get_path(listing, path)
            .and_then(Bson::as_str)
            .is_some_and(|text| !text.trim().is_empty())
    };
    if !stated("preview_content") {
        return Err("a preview is required so buyers can judge the prompt".into());
    }
    if !stated("licensing.license_type") {
        return Err("licensing.license_type is required".into());
    }
    Ok(())
}

pub async fn publish(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    request: &PublishRequest,
) -> Result<MarketOutcome, ServerError> {
    let Some(key) = request.idempotency_key.clone() else {
        return decide_publish(db, session, user, request).await;
    };
    let (db2, user2, request2) = (db.clone(), user.to_owned(), request.clone());
    once(
        db,
        session,
        user,
        "publish",
        (key.as_str(), request),
        move |session| {
            Box::pin(async move { decide_publish(&db2, session, &user2, &request2).await })
        },
    )
    .await
}

async fn decide_publish(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    request: &PublishRequest,
) -> Result<MarketOutcome, ServerError> {
    let listing = db
        .find_by_id(
            session,
            Collection::MarketplaceListings,
            &request.listing_id,
        )
        .await?;
    let Some(listing) = listing.filter(|l| !is_deleted(l)) else {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    };
    if listing.get_str("seller_id") != Ok(user) {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    }
    let status = listing.get_str("status").unwrap_or("draft");
    if status == "pending" {
        return Ok(MarketOutcome::Done {
            document: strip_seq(listing),
            balance: None,
            delivered_prompt_id: None,
        });
    }
    if !matches!(status, "draft" | "rejected") {
        return Ok(refused(
            MarketRefusal::WrongState,
            format!("a {status} listing cannot be submitted for review"),
        ));
    }
    // The prompt must be the seller's own.
    let prompt_id = listing.get_str("prompt_id").unwrap_or_default();
    let prompt = db
        .find_by_id(session, Collection::Prompts, prompt_id)
        .await?;
    if !prompt.is_some_and(|p| p.get_str("user_id") == Ok(user) && !is_deleted(&p)) {
        return Ok(refused(
            MarketRefusal::Invalid,
            "the listing must sell one of your own prompts",
        ));
    }
    if let Err(why) = publishable(&listing) {
        return Ok(refused(MarketRefusal::Invalid, why));
    }
    let mut updated = listing.clone();
    updated.insert("status", "pending");
    updated.insert("moderation_status", "under_review");
    fill_listing(db, session, &mut updated).await?;
    let document = overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        &listing,
        updated,
    )
    .await?;
    Ok(MarketOutcome::Done {
        document,
        balance: None,
        delivered_prompt_id: None,
    })
}

pub async fn moderate(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    user: &str,
    request: &ModerateRequest,
) -> Result<MarketOutcome, ServerError> {
    let Some(key) = request.idempotency_key.clone() else {
        return decide_moderation(db, session, rules, user, request).await;
    };
    let (db2, rules2, user2, request2) =
        (db.clone(), rules.clone(), user.to_owned(), request.clone());
    once(
        db,
        session,
        user,
        "moderate",
        (key.as_str(), request),
        move |session| {
            Box::pin(
                async move { decide_moderation(&db2, session, &rules2, &user2, &request2).await },
            )
        },
    )
    .await
}

async fn decide_moderation(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    user: &str,
    request: &ModerateRequest,
) -> Result<MarketOutcome, ServerError> {
    if !rules.moderators.iter().any(|m| m == user) {
        return Ok(refused(
            MarketRefusal::Forbidden,
            "only moderators review listings",
        ));
    }
    let Some(listing) = db
        .find_by_id(
            session,
            Collection::MarketplaceListings,
            &request.listing_id,
        )
        .await?
    else {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    };
    let status = listing.get_str("status").unwrap_or("draft");
    let (allowed, next, moderation) = match request.action {
        ModerationAction::Approve => (
            matches!(status, "pending" | "suspended"),
            "approved",
            "approved",
        ),
        ModerationAction::Reject => (status == "pending", "rejected", "flagged"),
        ModerationAction::Suspend => (status == "approved", "suspended", "flagged"),
    };
    if !allowed {
        return Ok(refused(
            MarketRefusal::WrongState,
            format!("a {status} listing cannot be {next}"),
        ));
    }
    let now = DateTime::now();
    let mut updated = listing.clone();
    updated.insert("status", next);
    updated.insert("moderation_status", moderation);
    updated.insert("moderated_by", user);
    updated.insert("moderated_at", now);
    match &request.notes {
        Some(notes) => updated.insert("moderation_notes", notes.clone()),
        None => updated.remove("moderation_notes"),
    };
    if next == "approved" && updated.get_datetime("published_at").is_err() {
        updated.insert("published_at", now);
    }
    fill_listing(db, session, &mut updated).await?;
    let document = overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        &listing,
        updated,
    )
    .await?;
    let seller = document.get_str("seller_id").unwrap_or_default().to_owned();
    let title = document.get_str("title").unwrap_or_default().to_owned();
    let message = match &request.notes {
        Some(notes) => format!("Your listing \"{title}\" was {next}: {notes}"),
        None => format!("Your listing \"{title}\" was {next}."),
    };
    let kind = if next == "approved" {
        "success"
    } else {
        "warning"
    };
    notify(db, session, &seller, kind, "Listing reviewed", &message).await?;
    Ok(MarketOutcome::Done {
        document,
        balance: None,
        delivered_prompt_id: None,
    })
}

/// Runs `decide` once per `user:kind:key`: a completed answer is stored with
/// the writes it made (and the request it answered), and any later request
/// with the key gets it back; the key is refused for a different request.
async fn once<'a, F>(
    db: &'a Db,
    session: &'a mut ClientSession,
    user: &str,
    kind: &str,
    (key, request): (&str, &(impl serde::Serialize + Sync)),
    decide: F,
) -> Result<MarketOutcome, ServerError>
where
    F: for<'s> FnOnce(
        &'s mut ClientSession,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<MarketOutcome, ServerError>> + Send + 's>,
    >,
{
    if key.is_empty() || key.len() > 128 {
        return Err(ServerError::BadRequest(
            "idempotency_key must be 1-128 characters".into(),
        ));
    }
    let fingerprint = serde_json::to_string(request).map_err(internal)?;
    let fingerprint = fingerprint.as_str();
    let id = format!("{user}:{kind}:{key}");
    let requests = db.db.collection::<Document>(MARKET_REQUESTS);
    if let Some(done) = requests
        .find_one(doc! { "_id": &id })
        .session(&mut *session)
        .await?
    {
        if done.get_str("request") != Ok(fingerprint) {
            return Err(ServerError::BadRequest(
                "this idempotency_key was already used for a different request".into(),
            ));
        }
        let stored = done.get_str("outcome").map_err(internal)?;
        return serde_json::from_str(stored).map_err(internal);
    }
    let outcome = decide(session).await?;
    // Only what was done is remembered: a refusal changed nothing, so the
    // same request may be tried again (after topping up credits, say).
    if matches!(outcome, MarketOutcome::Done { .. }) {
        let record = doc! {
            "_id": &id,
            "user_id": user,
            "kind": kind,
            "request": fingerprint,
            "outcome": serde_json::to_string(&outcome).map_err(internal)?,
            "at": DateTime::now(),
        };
        requests.insert_one(record).session(&mut *session).await?;
    }
    Ok(outcome)
}

pub async fn purchase(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    buyer_id: &str,
    request: &PurchaseRequest,
) -> Result<MarketOutcome, ServerError> {
    let (db2, rules, buyer, request2) = (
        db.clone(),
        rules.clone(),
        buyer_id.to_owned(),
        request.clone(),
    );
    once(
        db,
        session,
        buyer_id,
        "purchase",
        (request.idempotency_key.as_str(), request),
        move |session| {
            Box::pin(async move { settle_purchase(&db2, session, &rules, &buyer, &request2).await })
        },
    )
    .await
}

async fn settle_purchase(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    buyer_id: &str,
    request: &PurchaseRequest,
) -> Result<MarketOutcome, ServerError> {
    use futures_util::TryStreamExt;
    let listing = db
        .find_by_id(
            session,
            Collection::MarketplaceListings,
            &request.listing_id,
        )
        .await?;
    let Some(listing) = listing.filter(|l| !is_deleted(l)) else {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    };
    let seller_id = listing.get_str("seller_id").unwrap_or_default().to_owned();
    // Drafts and listings in review are their seller's alone: for anyone
    // else they do not exist.
    let public = matches!(listing.get_str("status"), Ok("approved" | "suspended"));
    if !public && seller_id != buyer_id {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    }
    if listing.get_str("status") != Ok("approved") {
        return Ok(refused(
            MarketRefusal::WrongState,
            "this listing is not on sale",
        ));
    }
    if seller_id == buyer_id {
        return Ok(refused(
            MarketRefusal::OwnListing,
            "you cannot buy your own listing",
        ));
    }
    let owned: Vec<Document> = db
        .collection(Collection::MarketplacePurchases)
        .find(doc! { "buyer_id": buyer_id, "listing_id": &request.listing_id, "payment_status": "completed" })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    if !owned.is_empty() {
        return Ok(refused(
            MarketRefusal::AlreadyPurchased,
            "you already own this prompt",
        ));
    }
    let price = int(&listing, "price");
    if price != request.expected_price {
        return Ok(MarketOutcome::Refused {
            reason: MarketRefusal::PriceChanged,
            message: format!("the price is now {price} credits"),
            current_price: Some(price),
            balance: None,
        });
    }
    if listing.get_str("currency").unwrap_or("credits") != "credits" || price <= 0 {
        return Ok(refused(
            MarketRefusal::WrongState,
            "this listing is not sold for credits",
        ));
    }
    let Some(buyer) = db.find_by_id(session, Collection::Users, buyer_id).await? else {
        return Ok(refused(
            MarketRefusal::Forbidden,
            "your account has no profile yet",
        ));
    };
    let balance = int(&buyer, "credits.balance");
    if balance < price {
        return Ok(MarketOutcome::Refused {
            reason: MarketRefusal::InsufficientCredits,
            message: format!("this costs {price} credits and you have {balance}"),
            current_price: Some(price),
            balance: Some(balance),
        });
    }
    let Some(seller) = db
        .find_by_id(session, Collection::Users, &seller_id)
        .await?
    else {
        return Ok(refused(
            MarketRefusal::WrongState,
            "the seller's account is gone",
        ));
    };
    let prompt_id = listing.get_str("prompt_id").unwrap_or_default().to_owned();
    // Only the seller's own, live prompt is ever delivered.
    let prompt = db
        .find_by_id(session, Collection::Prompts, &prompt_id)
        .await?;
    let Some(prompt) =
        prompt.filter(|p| p.get_str("user_id") == Ok(seller_id.as_str()) && !is_deleted(p))
    else {
        return Ok(refused(
            MarketRefusal::WrongState,
            "the listed prompt is no longer available",
        ));
    };

    let now = DateTime::now();
    // Whole credits: the fee rounds to the nearest credit, the seller gets the rest.
    let fee = ((price as f64) * rules.platform_fee_rate).round() as i64;
    let earnings = price - fee;

    let mut debited = buyer.clone();
    set(&mut debited, "credits.balance", balance - price)?;
    set(
        &mut debited,
        "credits.total_spent",
        int(&buyer, "credits.total_spent") + price,
    )?;
    set(&mut debited, "credits.last_purchase_at", now)?;
    overwrite(db, session, Collection::Users, &buyer, debited).await?;

    let mut credited = seller.clone();
    set(
        &mut credited,
        "stats.total_earnings",
        int(&seller, "stats.total_earnings") + earnings,
    )?;
    set(
        &mut credited,
        "stats.marketplace_sales",
        int(&seller, "stats.marketplace_sales") + 1,
    )?;
    overwrite(db, session, Collection::Users, &seller, credited).await?;

    // The buyer's copy of the prompt, with its first version.
    let copy_id = new_id();
    let version_id = new_id();
    let mut copy = strip_seq(prompt.clone());
    for field in [
        "deleted_at",
        "deleted_by",
        "project_id",
        "folder_id",
        "marketplace",
        "collaboration",
    ] {
        copy.remove(field);
    }
    copy.insert("_id", &copy_id);
    copy.insert("user_id", buyer_id);
    copy.insert("parent_prompt_id", &prompt_id);
    copy.insert("visibility", "private");
    copy.insert("is_featured", false);
    copy.insert("latest_version_id", &version_id);
    copy.insert("created_at", now);
    copy.insert("updated_at", now);
    copy.insert("created_by", buyer_id);
    copy.insert("last_modified_by", buyer_id);
    let copy = insert_new(db, session, Collection::Prompts, copy).await?;
    let mut version = doc! {
        "_id": &version_id,
        "prompt_id": &copy_id,
        "user_id": buyer_id,
        "content": copy.get("content").cloned().unwrap_or(Bson::String(String::new())),
        "type": copy.get_str("type").unwrap_or("text"),
        "version_number": 1_i64,
        "changes": format!("Bought from {}", listing.get_str("title").unwrap_or_default()),
        "created_at": now,
        "created_by": buyer_id,
    };
    if let Ok(role) = copy.get_str("role") {
        version.insert("role", role);
    }
    insert_new(db, session, Collection::PromptVersions, version).await?;

    let purchase = doc! {
        "_id": new_id(),
        "buyer_id": buyer_id,
        "seller_id": &seller_id,
        "listing_id": &request.listing_id,
        "prompt_id": &copy_id,
        "amount": price,
        "currency": "credits",
        "payment_method": "credits",
        "platform_fee_rate": rules.platform_fee_rate,
        "platform_fee": fee,
        "seller_earnings": earnings,
        "payment_status": "completed",
        "fulfillment_status": "delivered",
        "delivered_at": now,
        "created_at": now,
        "updated_at": now,
        "completed_at": now,
    };
    let purchase = insert_new(db, session, Collection::MarketplacePurchases, purchase).await?;

    let mut sold = listing.clone();
    let purchases = int(&listing, "analytics.purchase_count") + 1;
    let views = int(&listing, "analytics.view_count");
    set(&mut sold, "analytics.purchase_count", purchases)?;
    set(
        &mut sold,
        "analytics.revenue",
        int(&listing, "analytics.revenue") + price,
    )?;
    if views > 0 {
        set(
            &mut sold,
            "analytics.conversion_rate",
            (purchases as f64 / views as f64).min(1.0),
        )?;
    }
    set(
        &mut sold,
        "seller.total_sales",
        int(&seller, "stats.marketplace_sales") + 1,
    )?;
    overwrite(db, session, Collection::MarketplaceListings, &listing, sold).await?;

    let title = listing.get_str("title").unwrap_or_default();
    notify(
        db,
        session,
        buyer_id,
        "success",
        "Purchase complete",
        &format!("\"{title}\" is in your library. {price} credits were charged."),
    )
    .await?;
    notify(
        db,
        session,
        &seller_id,
        "success",
        "You made a sale",
        &format!("\"{title}\" sold for {price} credits; {earnings} are yours."),
    )
    .await?;
    Ok(MarketOutcome::Done {
        document: purchase,
        balance: Some(balance - price),
        delivered_prompt_id: Some(copy_id),
    })
}

pub async fn refund(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    buyer_id: &str,
    request: &RefundRequest,
) -> Result<MarketOutcome, ServerError> {
    let (db2, rules, buyer, request2) = (
        db.clone(),
        rules.clone(),
        buyer_id.to_owned(),
        request.clone(),
    );
    once(
        db,
        session,
        buyer_id,
        "refund",
        (request.idempotency_key.as_str(), request),
        move |session| {
            Box::pin(async move { settle_refund(&db2, session, &rules, &buyer, &request2).await })
        },
    )
    .await
}

async fn settle_refund(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    buyer_id: &str,
    request: &RefundRequest,
) -> Result<MarketOutcome, ServerError> {
    if request.reason.trim().is_empty() || request.reason.len() > 2000 {
        return Ok(refused(
            MarketRefusal::Invalid,
            "a refund needs a reason (at most 2000 characters)",
        ));
    }
    let purchase = db
        .find_by_id(
            session,
            Collection::MarketplacePurchases,
            &request.purchase_id,
        )
        .await?;
    let Some(purchase) = purchase.filter(|p| p.get_str("buyer_id") == Ok(buyer_id)) else {
        return Ok(refused(MarketRefusal::NotFound, "no such purchase"));
    };
    match purchase.get_str("payment_status").unwrap_or("pending") {
        "completed" => {}
        "refunded" => {
            return Ok(refused(
                MarketRefusal::AlreadyRefunded,
                "this purchase was already refunded",
            ))
        }
        other => {
            return Ok(refused(
                MarketRefusal::WrongState,
                format!("a {other} purchase cannot be refunded"),
            ))
        }
    }
    let now = DateTime::now();
    let bought = purchase
        .get_datetime("completed_at")
        .or_else(|_| purchase.get_datetime("created_at"))
        .map_or(0, |t| t.timestamp_millis());
    let window = rules.refund_window_days.saturating_mul(86_400_000);
    if now.timestamp_millis() - bought > window {
        return Ok(refused(
            MarketRefusal::RefundWindowClosed,
            format!(
                "refunds are possible for {} days after a purchase",
                rules.refund_window_days
            ),
        ));
    }
    let amount = int(&purchase, "amount");
    let earnings = int(&purchase, "seller_earnings");
    let seller_id = purchase.get_str("seller_id").unwrap_or_default().to_owned();
    let (Some(buyer), Some(seller)) = (
        db.find_by_id(session, Collection::Users, buyer_id).await?,
        db.find_by_id(session, Collection::Users, &seller_id)
            .await?,
    ) else {
        return Ok(refused(
            MarketRefusal::WrongState,
            "an account of this purchase is gone",
        ));
    };
    let balance = int(&buyer, "credits.balance") + amount;
    let mut restored = buyer.clone();
    set(&mut restored, "credits.balance", balance)?;
    set(
        &mut restored,
        "credits.total_spent",
        int(&buyer, "credits.total_spent") - amount,
    )?;
    overwrite(db, session, Collection::Users, &buyer, restored).await?;
    let mut debited = seller.clone();
    set(
        &mut debited,
        "stats.total_earnings",
        int(&seller, "stats.total_earnings") - earnings,
    )?;
    set(
        &mut debited,
        "stats.marketplace_sales",
        (int(&seller, "stats.marketplace_sales") - 1).max(0),
    )?;
    overwrite(db, session, Collection::Users, &seller, debited).await?;

    let mut refunded = purchase.clone();
    refunded.insert("payment_status", "refunded");
    refunded.insert(
        "refund",
        doc! {
            "amount": amount,
            "reason": request.reason.trim(),
            "requested_at": now,
            "processed_at": now,
            "status": "processed",
        },
    );
    let document = overwrite(
        db,
        session,
        Collection::MarketplacePurchases,
        &purchase,
        refunded,
    )
    .await?;

    let listing_id = purchase.get_str("listing_id").unwrap_or_default();
    if let Some(listing) = db
        .find_by_id(session, Collection::MarketplaceListings, listing_id)
        .await?
    {
        let mut updated = listing.clone();
        let refunds = int(&listing, "analytics.refund_count") + 1;
        let purchases = int(&listing, "analytics.purchase_count").max(1);
        set(&mut updated, "analytics.refund_count", refunds)?;
        set(
            &mut updated,
            "analytics.refund_rate",
            (refunds as f64 / purchases as f64).min(1.0),
        )?;
        set(
            &mut updated,
            "analytics.revenue",
            int(&listing, "analytics.revenue") - amount,
        )?;
        set(
            &mut updated,
            "seller.total_sales",
            (int(&seller, "stats.marketplace_sales") - 1).max(0),
        )?;
        overwrite(
            db,
            session,
            Collection::MarketplaceListings,
            &listing,
            updated,
        )
        .await?;
    }
    // The delivered copy goes to the buyer's trash.
    let copy_id = purchase.get_str("prompt_id").unwrap_or_default();
    if let Some(copy) = db.find_by_id(session, Collection::Prompts, copy_id).await? {
        if !is_deleted(&copy) && copy.get_str("user_id") == Ok(buyer_id) {
            let mut trashed = copy.clone();
            trashed.insert("deleted_at", now);
            trashed.insert("deleted_by", buyer_id);
            overwrite(db, session, Collection::Prompts, &copy, trashed).await?;
        }
    }
    notify(
        db,
        session,
        buyer_id,
        "info",
        "Refund processed",
        &format!("{amount} credits are back in your balance."),
    )
    .await?;
    notify(
        db,
        session,
        &seller_id,
        "warning",
        "A sale was refunded",
        &format!("{earnings} credits of earnings were reversed."),
    )
    .await?;
    Ok(MarketOutcome::Done {
        document,
        balance: Some(balance),
        delivered_prompt_id: None,
    })
}

pub async fn review(
    db: &Db,
    session: &mut ClientSession,
    buyer_id: &str,
    request: &ReviewRequest,
) -> Result<MarketOutcome, ServerError> {
    let Some(key) = request.idempotency_key.clone() else {
        return decide_review(db, session, buyer_id, request).await;
    };
    let (db2, buyer, request2) = (db.clone(), buyer_id.to_owned(), request.clone());
    once(
        db,
        session,
        buyer_id,
        "review",
        (key.as_str(), request),
        move |session| {
            Box::pin(async move { decide_review(&db2, session, &buyer, &request2).await })
        },
    )
    .await
}

async fn decide_review(
    db: &Db,
    session: &mut ClientSession,
    buyer_id: &str,
    request: &ReviewRequest,
) -> Result<MarketOutcome, ServerError> {
    if !(1..=5).contains(&request.rating) {
        return Ok(refused(MarketRefusal::Invalid, "rating must be 1 to 5"));
    }
    if request.review.len() > 5000 {
        return Ok(refused(
            MarketRefusal::Invalid,
            "a review is at most 5000 characters",
        ));
    }
    let purchase = db
        .find_by_id(
            session,
            Collection::MarketplacePurchases,
            &request.purchase_id,
        )
        .await?;
    let Some(purchase) = purchase.filter(|p| p.get_str("buyer_id") == Ok(buyer_id)) else {
        return Ok(refused(MarketRefusal::NotFound, "no such purchase"));
    };
    if purchase.get_str("payment_status") != Ok("completed") {
        return Ok(refused(
            MarketRefusal::WrongState,
            "only completed, unrefunded purchases can be reviewed",
        ));
    }
    if promptforge_wire::codec::get_path(&purchase, "customer_satisfaction.rating")
        .is_some_and(|r| *r != Bson::Null)
    {
        return Ok(refused(
            MarketRefusal::AlreadyReviewed,
            "you already reviewed this purchase",
        ));
    }
    let now = DateTime::now();
    let listing_id = purchase
        .get_str("listing_id")
        .unwrap_or_default()
        .to_owned();
    let Some(listing) = db
        .find_by_id(session, Collection::MarketplaceListings, &listing_id)
        .await?
    else {
        return Ok(refused(MarketRefusal::NotFound, "the listing is gone"));
    };
    let mut reviewed = purchase.clone();
    set(
        &mut reviewed,
        "customer_satisfaction.rating",
        request.rating,
    )?;
    set(
        &mut reviewed,
        "customer_satisfaction.review",
        request.review.clone(),
    )?;
    set(&mut reviewed, "customer_satisfaction.reviewed_at", now)?;
    overwrite(
        db,
        session,
        Collection::MarketplacePurchases,
        &purchase,
        reviewed,
    )
    .await?;

    let review = doc! {
        "_id": new_id(),
        "prompt_id": listing.get_str("prompt_id").unwrap_or_default(),
        "user_id": buyer_id,
        "rating": request.rating,
        "review": &request.review,
        "created_at": now,
    };
    let document = insert_new(db, session, Collection::Reviews, review).await?;

    let total = int(&listing, "reviews.total_reviews");
    let average = float(&listing, "reviews.average_rating");
    let mut updated = listing.clone();
    let new_total = total + 1;
    set(&mut updated, "reviews.total_reviews", new_total)?;
    set(
        &mut updated,
        "reviews.average_rating",
        (average * total as f64 + request.rating as f64) / new_total as f64,
    )?;
    let bucket = format!("reviews.rating_distribution.{}", request.rating);
    set(&mut updated, &bucket, int(&listing, &bucket) + 1)?;
    overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        &listing,
        updated,
    )
    .await?;

    let seller_id = listing.get_str("seller_id").unwrap_or_default().to_owned();
    if let Some(seller) = db
        .find_by_id(session, Collection::Users, &seller_id)
        .await?
    {
        let count = int(&seller, "stats.total_reviews");
        let rating = float(&seller, "stats.average_rating");
        let mut rated = seller.clone();
        set(&mut rated, "stats.total_reviews", count + 1)?;
        set(
            &mut rated,
            "stats.average_rating",
            (rating * count as f64 + request.rating as f64) / (count + 1) as f64,
        )?;
        overwrite(db, session, Collection::Users, &seller, rated).await?;
        refresh_seller_listings(db, session, &seller_id).await?;
    }
    notify(
        db,
        session,
        &seller_id,
        "info",
        "New review",
        &format!(
            "A buyer rated \"{}\" {} out of 5.",
            listing.get_str("title").unwrap_or_default(),
            request.rating
        ),
    )
    .await?;
    Ok(MarketOutcome::Done {
        document,
        balance: None,
        delivered_prompt_id: None,
    })
}

/// Whether `prompt_id` is the delivered copy of a refunded purchase, which
/// its buyer may not bring back.
pub async fn is_refunded_copy(
    db: &Db,
    session: &mut ClientSession,
    prompt_id: &str,
) -> Result<bool, ServerError> {
    Ok(db
        .collection(Collection::MarketplacePurchases)
        .find_one(doc! { "prompt_id": prompt_id, "payment_status": "refunded" })
        .session(&mut *session)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::slug;

    fn is_slug(text: &str) -> bool {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn every_valid_id_gives_a_valid_slug_and_no_two_listings_share_one() {
        let ids = [
            "65a1b2c3d4e5f60718293a4b",
            "a",
            "x41",
            "ab-",
            "ab",
            "-a",
            "b-a",
            "11111111abc",
            "22222222abc",
            "Listing_A",
            "listing_a",
            "LISTING-A",
            "a.b:c",
            "-",
            "x",
            "ABCDEFGHIJ",
            "abcdefghij",
        ];
        // Two listings (distinct ids) never share a slug, whatever their titles.
        let mut seen = std::collections::HashMap::new();
        for id in ids {
            for title in ["My Listing!", "", "日本語", "---", "a b", "a"] {
                let made = slug(title, id);
                assert!(is_slug(&made), "{title:?} {id:?} gave {made:?}");
                assert!(made.len() <= 400);
                if let Some(other) = seen.insert(made.clone(), id) {
                    assert_eq!(other, id, "{made} is the slug of two listings");
                }
            }
        }
        assert!(slug(&"t".repeat(500), &"Z".repeat(128)).len() <= 400);
    }
}
