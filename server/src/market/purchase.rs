//! Purchases: the buyer pays the listing's price in credits, the seller
//! earns it less the platform's fee, and the buyer gets a private copy of
//! the prompt with its first version, all in one transaction.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::is_deleted;
use promptforge_wire::market::{MarketOutcome, MarketRefusal, PurchaseRequest};
use promptforge_wire::schema::{new_id, Collection};

use super::ledger::{self, Price, Wallet};
use super::once::once;
use super::write::{insert_new, notify, refused};
use super::MarketRules;
use crate::db::{strip_seq, Db};
use crate::error::ServerError;

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
    let Price { price } = ledger::read(&listing)?;
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
    let wallet: Wallet = ledger::read(&buyer)?;
    let balance = wallet.balance();
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
    let (fee, earnings) = ledger::split(price, rules.platform_fee_rate);
    ledger::charge_buyer(db, session, &buyer, &wallet, price, now).await?;
    let seller_sales = ledger::pay_seller(db, session, &seller, earnings).await?;

    let title = listing.get_str("title").unwrap_or_default();
    let copy_id = deliver_copy(db, session, &prompt, &prompt_id, buyer_id, title, now).await?;

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

    ledger::record_sale(db, session, &listing, price, seller_sales).await?;

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

/// Puts the buyer's own copy of `prompt` (listed as `title`) in their
/// library, with its first version; returns the copy's id. The copy starts
/// private and unfiled: the seller's project, sharing and listing are not
/// the buyer's.
async fn deliver_copy(
    db: &Db,
    session: &mut ClientSession,
    prompt: &Document,
    prompt_id: &str,
    buyer_id: &str,
    title: &str,
    now: DateTime,
) -> Result<String, ServerError> {
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
    copy.insert("parent_prompt_id", prompt_id);
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
        "changes": format!("Bought from {title}"),
        "created_at": now,
        "created_by": buyer_id,
    };
    if let Ok(role) = copy.get_str("role") {
        version.insert("role", role);
    }
    insert_new(db, session, Collection::PromptVersions, version).await?;
    Ok(copy_id)
}
