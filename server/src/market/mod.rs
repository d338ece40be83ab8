//! The marketplace: the server is the only authority for listings' review
//! state, purchases, credits, fees, refunds and reviews.
//!
//! Every request runs in one MongoDB transaction that checks and writes
//! together: a purchase debits the buyer, records the purchase, credits the
//! seller, updates the listing's analytics, delivers a copy of the prompt and
//! notifies both sides, or does none of it. Purchases and refunds carry an
//! idempotency key (publish, moderation and reviews may) whose first answer
//! is stored with the writes, so a resent request is answered the same and
//! charges nothing (`once`). Credits are whole units, so the ledger
//! balances exactly; every figure that moves is read and written in
//! `ledger`.
//!
//! One module per request: `publish` (with moderation), `purchase`,
//! `refund`, `review`; `write` holds how they store documents.

mod ledger;
mod once;
mod publish;
mod purchase;
mod refund;
mod review;
pub(crate) mod write;

pub use once::MARKET_REQUESTS;
pub use publish::{
    back_to_review_if_changed, fill_listing, moderate, publish, refresh_seller_listings,
};
pub use purchase::purchase;
pub use refund::{is_refunded_copy, refund};
pub use review::review;

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
