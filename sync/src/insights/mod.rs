//! The numbers behind the dashboards, computed from the local store alone so
//! they work offline: what a creator uses, how a seller's listings sell.
//! `calendar.rs` cuts time into days, weeks and months in the user's zone.

mod calendar;
mod compute;
mod recorder;

use serde::{Deserialize, Serialize};

pub use calendar::{Calendar, CalendarError, Period};
pub use compute::{dashboard, MAX_BUCKETS};
pub use recorder::{EventRecorder, UsageEvent, DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};

/// What the dashboards screen asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DashboardRequest {
    pub period: Period,
    /// How many periods back from the current one (inclusive), 1 to 366.
    #[serde(default = "default_buckets")]
    pub buckets: u32,
    /// An IANA zone such as `Europe/Berlin`; the system's zone when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
}

fn default_buckets() -> u32 {
    12
}

/// Both dashboards at once: they read the same store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Dashboard {
    /// The zone the periods were cut in.
    pub time_zone: String,
    pub period: Period,
    pub creator: CreatorView,
    pub seller: SellerView,
}

/// One period of a time series: its label in the user's calendar
/// (`2026-03-29`, `2026-W13`, `2026-03`) and where it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BucketLabel {
    pub label: String,
    /// Milliseconds since the epoch of the period's first local midnight.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub start_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CreatorView {
    /// Live (not deleted) prompts the user owns.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub prompt_count: i64,
    /// The most used prompts, most first, at most ten.
    pub most_used: Vec<PromptUse>,
    /// Uses and copies recorded on this device, per period, oldest first.
    pub uses: Vec<UseBucket>,
    /// Prompts with the most versions, most first, at most ten.
    pub versions: Vec<PromptVersions>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PromptUse {
    pub prompt_id: String,
    pub title: String,
    /// `analytics.use_count`: every device's uses, as the server counted them
    /// plus this device's not yet uploaded.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub uses: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub views: i64,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub last_used_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UseBucket {
    #[serde(flatten)]
    pub at: BucketLabel,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub uses: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub copies: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PromptVersions {
    pub prompt_id: String,
    pub title: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub versions: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SellerView {
    /// Sales of the user's listings per period (by purchase time), oldest first.
    pub sales: Vec<SalesBucket>,
    /// Totals over the periods shown.
    pub totals: SalesTotals,
    /// Every listing the user sells, by views.
    pub listings: Vec<ListingConversion>,
    /// Reviews of the prompts the user sells: counts of 1 to 5 stars.
    #[cfg_attr(feature = "ts", ts(type = "[number, number, number, number, number]"))]
    pub ratings: [i64; 5],
}

/// Money is in credits, as the purchases record it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SalesTotals {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sales: i64,
    /// What buyers paid (`amount`).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub revenue: i64,
    /// What the seller kept (`seller_earnings`), refunds not deducted.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub earnings: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub refunds: i64,
    /// Credits given back to buyers.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub refunded: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SalesBucket {
    #[serde(flatten)]
    pub at: BucketLabel,
    #[serde(flatten)]
    pub totals: SalesTotals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListingConversion {
    pub listing_id: String,
    pub title: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub views: i64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub purchases: i64,
    /// Purchases per view, 0 to 1 (0 with no views).
    pub conversion: f64,
}
