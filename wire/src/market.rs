//! The marketplace's requests and answers (`/v1/market/...`), shared by the
//! desktop and the sync server. Money never travels as a document a client
//! writes: the desktop asks (publish, buy, refund, review), the server checks
//! and settles in one transaction, and the changed documents reach every
//! desktop through the ordinary pull.

use bson::Document;
use serde::{Deserialize, Serialize};

/// Submit a draft (or rejected) listing for review: it becomes `pending`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PublishRequest {
    pub listing_id: String,
    /// Makes a resent request (its answer lost on the way) return the first
    /// answer instead of being refused as already done. Optional for
    /// publish, moderate and review; the desktop always sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    Approve,
    Reject,
    Suspend,
}

/// A moderator's decision on a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModerateRequest {
    pub listing_id: String,
    pub action: ModerationAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Makes a resent request (its answer lost on the way) return the first
    /// answer instead of being refused as already done. Optional for
    /// publish, moderate and review; the desktop always sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Buy a listing with credits. `expected_price` is the price the desktop
/// showed; `idempotency_key` makes a resent request return the first answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PurchaseRequest {
    pub listing_id: String,
    pub expected_price: i64,
    pub idempotency_key: String,
}

/// Ask for a purchase's credits back, within the refund window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RefundRequest {
    pub purchase_id: String,
    pub reason: String,
    pub idempotency_key: String,
}

/// Review a completed, unrefunded purchase (once per purchase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReviewRequest {
    pub purchase_id: String,
    pub rating: i64,
    #[serde(default)]
    pub review: String,
    /// Makes a resent request (its answer lost on the way) return the first
    /// answer instead of being refused as already done. Optional for
    /// publish, moderate and review; the desktop always sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Why the server would not do it. Refusals change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MarketRefusal {
    NotFound,
    /// Not the user's listing or purchase, or not a moderator.
    Forbidden,
    /// The listing is not in a state that allows this (e.g. not approved).
    WrongState,
    OwnListing,
    AlreadyPurchased,
    /// The listing's price is not the one the desktop showed; see `current_price`.
    PriceChanged,
    InsufficientCredits,
    RefundWindowClosed,
    AlreadyRefunded,
    AlreadyReviewed,
    Invalid,
}

/// The answer to every marketplace request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MarketOutcome {
    /// Done: the main document as now stored (the listing, the purchase,
    /// the review), and the buyer's balance after a purchase or refund.
    Done {
        #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
        #[serde(with = "crate::protocol::ext_json")]
        document: Document,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        balance: Option<i64>,
        /// For a purchase: the buyer's copy of the prompt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivered_prompt_id: Option<String>,
    },
    Refused {
        reason: MarketRefusal,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_price: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        balance: Option<i64>,
    },
}

impl MarketOutcome {
    pub fn refused(reason: MarketRefusal, message: impl Into<String>) -> MarketOutcome {
        MarketOutcome::Refused {
            reason,
            message: message.into(),
            current_price: None,
            balance: None,
        }
    }
}
