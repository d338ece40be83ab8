//! `analytics_events`: append-only usage events.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{id_accessors, limits, unset_time, Check, Collection, Model, ValidationError};

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct EventContext {
    pub page: Option<String>,
    pub feature: Option<String>,
    pub version: Option<String>,
    pub platform: Option<String>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct EventPerformance {
    /// Milliseconds.
    pub response_time: Option<f64>,
    pub load_time: Option<f64>,
    pub error_count: Option<i64>,
    /// Bytes.
    pub memory_usage: Option<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct BusinessMetrics {
    pub revenue: Option<i64>,
    pub credits_spent: Option<i64>,
    pub conversion_value: Option<f64>,
    pub customer_lifetime_value: Option<f64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AnalyticsEvent {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: Option<String>,
    pub session_id: String,
    pub event_type: String,
    #[serde(default)]
    pub event_category: String,
    pub event_name: String,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub event_data: Document,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub metadata: Document,
    #[serde(default)]
    pub context: EventContext,
    #[serde(default)]
    pub performance: EventPerformance,
    #[serde(default)]
    pub business_metrics: BusinessMetrics,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub timestamp: DateTime,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub expires_at: Option<DateTime>,
    #[serde(default)]
    pub version: i64,
}

impl Model for AnalyticsEvent {
    const COLLECTION: Collection = Collection::AnalyticsEvents;

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::AnalyticsEvents);
        check.id("_id", &self.id);
        check.opt_id("user_id", self.user_id.as_ref());
        check.id("session_id", &self.session_id);
        check.required("event_type", &self.event_type, limits::TAG);
        check.max_len("event_category", &self.event_category, limits::TAG);
        check.required("event_name", &self.event_name, limits::TITLE);
        check.free_form("event_data", &self.event_data);
        check.free_form("metadata", &self.metadata);
        let c = &self.context;
        check.opt_text("context.page", c.page.as_ref(), limits::URL);
        check.opt_text("context.feature", c.feature.as_ref(), limits::TAG);
        check.opt_text("context.version", c.version.as_ref(), limits::TAG);
        check.opt_text("context.platform", c.platform.as_ref(), limits::TAG);
        check.opt_text(
            "context.user_agent",
            c.user_agent.as_ref(),
            limits::SHORT_TEXT,
        );
        if let Some(ip) = &c.ip_address {
            if ip.parse::<std::net::IpAddr>().is_err() {
                check.fail("context.ip_address", format!("`{ip}` is not an IP address"));
            }
        }
        if let Some(country) = &c.country {
            if !(country.len() == 2 && country.chars().all(|ch| ch.is_ascii_uppercase())) {
                check.fail(
                    "context.country",
                    format!("`{country}` is not a two-letter country code such as DE"),
                );
            }
        }
        let p = &self.performance;
        if let Some(v) = p.response_time {
            check.non_negative_f("performance.response_time", v);
        }
        if let Some(v) = p.load_time {
            check.non_negative_f("performance.load_time", v);
        }
        if let Some(v) = p.error_count {
            check.non_negative("performance.error_count", v);
        }
        if let Some(v) = p.memory_usage {
            check.non_negative("performance.memory_usage", v);
        }
        let b = &self.business_metrics;
        if let Some(v) = b.revenue {
            check.non_negative("business_metrics.revenue", v);
        }
        if let Some(v) = b.credits_spent {
            check.non_negative("business_metrics.credits_spent", v);
        }
        check.non_negative("version", self.version);
        check.finish()
    }
}
