//! Reviews: once per completed, unrefunded purchase, a buyer rates what
//! they bought; the listing's and the seller's ratings follow.

use bson::{doc, Bson, DateTime};
use mongodb::ClientSession;
use promptforge_wire::market::{MarketOutcome, MarketRefusal, ReviewRequest};
use promptforge_wire::schema::{new_id, Collection};

use super::ledger;
use super::once::once;
use super::publish::refresh_seller_listings;
use super::write::{insert_new, notify, overwrite, refused, set};
use crate::db::Db;
use crate::error::ServerError;

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

    ledger::rate_listing(db, session, &listing, request.rating).await?;

    let seller_id = listing.get_str("seller_id").unwrap_or_default().to_owned();
    if let Some(seller) = db
        .find_by_id(session, Collection::Users, &seller_id)
        .await?
    {
        ledger::rate_seller(db, session, &seller, request.rating).await?;
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
