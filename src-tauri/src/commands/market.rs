//! Marketplace commands: publish a listing, buy, refund and review. Money is
//! the server's business: each asks the sync server, which settles it in one
//! transaction, and the result arrives in the library by the next pull.

use promptforge_sync::engine::MarketCall;
use promptforge_sync::insights::UsageEvent;
use promptforge_sync::schema::new_id;
use promptforge_wire::market::{
    MarketOutcome, PublishRequest, PurchaseRequest, RefundRequest, ReviewRequest,
};
use serde::Serialize;
use serde_json::Value;
use tauri::State;

use crate::error::{AppError, AppErrorCode, AppResult};
use crate::library::AppState;
use crate::ui_json::to_ui;

/// A settled marketplace request.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MarketDone {
    #[cfg_attr(test, ts(type = "Record<string, unknown>"))]
    pub document: Value,
    pub balance: Option<i64>,
    pub delivered_prompt_id: Option<String>,
}

async fn ask<R: Serialize + Sync>(
    state: &AppState,
    call: MarketCall,
    request: &R,
) -> AppResult<MarketDone> {
    let current = state.current().await?;
    match current.engine()?.market(call, request).await? {
        MarketOutcome::Done {
            document,
            balance,
            delivered_prompt_id,
        } => Ok(MarketDone {
            document: to_ui(&document)?,
            balance,
            delivered_prompt_id,
        }),
        MarketOutcome::Refused {
            reason, message, ..
        } => Err(AppError::new(AppErrorCode::Market(reason), message)),
    }
}

#[tauri::command]
pub async fn publish_listing(
    state: State<'_, AppState>,
    listing_id: String,
) -> AppResult<MarketDone> {
    let request = PublishRequest {
        listing_id,
        idempotency_key: Some(new_id()),
    };
    ask(&state, MarketCall::Publish, &request).await
}

/// Buys at the price the user was shown; the server refuses a changed price.
#[tauri::command]
pub async fn buy_listing(
    state: State<'_, AppState>,
    listing_id: String,
    expected_price: i64,
) -> AppResult<MarketDone> {
    let request = PurchaseRequest {
        listing_id: listing_id.clone(),
        expected_price,
        idempotency_key: new_id(),
    };
    let bought = ask(&state, MarketCall::Purchase, &request).await?;
    let event = UsageEvent::ListingBought {
        listing_id,
        price: expected_price,
    };
    state.record(event).await;
    Ok(bought)
}

#[tauri::command]
pub async fn refund_purchase(
    state: State<'_, AppState>,
    purchase_id: String,
    reason: String,
) -> AppResult<MarketDone> {
    let request = RefundRequest {
        purchase_id,
        reason,
        idempotency_key: new_id(),
    };
    ask(&state, MarketCall::Refund, &request).await
}

#[tauri::command]
pub async fn review_purchase(
    state: State<'_, AppState>,
    purchase_id: String,
    rating: i64,
    review: String,
) -> AppResult<MarketDone> {
    if !(1..=5).contains(&rating) {
        return Err(AppError::invalid(format!(
            "a rating is 1 to 5 stars, not {rating}"
        )));
    }
    let request = ReviewRequest {
        purchase_id,
        rating,
        review,
        idempotency_key: Some(new_id()),
    };
    ask(&state, MarketCall::Review, &request).await
}
