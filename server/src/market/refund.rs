//! Refunds: within the refund window, the buyer's credits come back, the
//! seller's earnings are reversed, and the delivered copy goes to the
//! buyer's trash for good.

use bson::{doc, DateTime};
use mongodb::ClientSession;
use promptforge_wire::codec::is_deleted;
use promptforge_wire::market::{MarketOutcome, MarketRefusal, RefundRequest};
use promptforge_wire::schema::Collection;

use super::ledger::{self, Charge};
use super::once::once;
use super::write::{notify, overwrite, refused};
use super::MarketRules;
use crate::db::Db;
use crate::error::ServerError;

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
    let Charge {
        amount,
        seller_earnings: earnings,
    } = ledger::read(&purchase)?;
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
    let balance = ledger::refund_buyer(db, session, &buyer, amount).await?;
    let seller_sales = ledger::reverse_seller(db, session, &seller, earnings).await?;

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
        ledger::record_refund(db, session, &listing, amount, seller_sales).await?;
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
