//! Turns what the user did into `analytics_events` documents: one session id
//! (UUID v7) per app run, the platform and version in `context`, and an
//! `expires_at` from the retention setting. Nothing is recorded while the
//! user has recording turned off.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use bson::{doc, DateTime, Document};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::schema::{new_id, AnalyticsEvent, BusinessMetrics, EventContext, EventPerformance};
use crate::store::Store;

/// Something the user did that the dashboards count. Search events carry
/// the query's length, never its words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UsageEvent {
    PromptCreated {
        prompt_id: String,
    },
    PromptEdited {
        prompt_id: String,
    },
    PromptCopied {
        prompt_id: String,
    },
    PromptUsed {
        prompt_id: String,
    },
    VersionRestored {
        prompt_id: String,
        version: i64,
    },
    ListingViewed {
        listing_id: String,
    },
    ListingBought {
        listing_id: String,
        price: i64,
    },
    SearchRun {
        collection: String,
        query_length: u32,
        results: u64,
    },
    SyncFinished {
        duration_ms: u64,
        pushed: u64,
        pulled: u64,
        ok: bool,
    },
}

impl UsageEvent {
    /// `event_type`, `event_category` and `event_name` as stored.
    fn names(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            UsageEvent::PromptCreated { .. } => ("prompt_created", "prompts", "Prompt created"),
            UsageEvent::PromptEdited { .. } => ("prompt_edited", "prompts", "Prompt edited"),
            UsageEvent::PromptCopied { .. } => ("prompt_copied", "prompts", "Prompt copied"),
            UsageEvent::PromptUsed { .. } => ("prompt_used", "prompts", "Prompt used"),
            UsageEvent::VersionRestored { .. } => (
                "prompt_version_restored",
                "prompts",
                "Prompt version restored",
            ),
            UsageEvent::ListingViewed { .. } => ("listing_viewed", "marketplace", "Listing viewed"),
            UsageEvent::ListingBought { .. } => ("listing_bought", "marketplace", "Listing bought"),
            UsageEvent::SearchRun { .. } => ("search_run", "search", "Search run"),
            UsageEvent::SyncFinished { .. } => ("sync_finished", "sync", "Sync finished"),
        }
    }

    fn data(&self) -> Document {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match self {
            UsageEvent::PromptCreated { prompt_id }
            | UsageEvent::PromptEdited { prompt_id }
            | UsageEvent::PromptCopied { prompt_id }
            | UsageEvent::PromptUsed { prompt_id } => doc! { "prompt_id": prompt_id },
            UsageEvent::VersionRestored { prompt_id, version } => {
                doc! { "prompt_id": prompt_id, "version_number": version }
            }
            UsageEvent::ListingViewed { listing_id } => doc! { "listing_id": listing_id },
            UsageEvent::ListingBought { listing_id, price } => {
                doc! { "listing_id": listing_id, "price": price }
            }
            UsageEvent::SearchRun {
                collection,
                query_length,
                results,
            } => doc! {
                "collection": collection,
                "query_length": i64::from(*query_length),
                "results": count(*results),
            },
            UsageEvent::SyncFinished {
                duration_ms,
                pushed,
                pulled,
                ok,
            } => doc! {
                "duration_ms": count(*duration_ms),
                "pushed": count(*pushed),
                "pulled": count(*pulled),
                "ok": ok,
            },
        }
    }
}

/// How long events are kept when the user has not said.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The longest retention the settings accept.
pub const MAX_RETENTION_DAYS: u32 = 3650;

#[derive(Debug, Clone, Copy)]
struct Policy {
    enabled: bool,
    retention_days: u32,
}

/// Records usage events for one app run.
#[derive(Debug)]
pub struct EventRecorder {
    session_id: String,
    app_version: String,
    policy: RwLock<Policy>,
    /// When each prompt's last edit event was recorded this session.
    edits: Mutex<HashMap<String, Instant>>,
}

/// Editing saves as the user types; one edit event per prompt in this long
/// says "worked on it" without an event per keystroke.
const EDIT_EVENT_EVERY: Duration = Duration::from_secs(300);

impl EventRecorder {
    pub fn new(app_version: &str, enabled: bool, retention_days: u32) -> EventRecorder {
        EventRecorder {
            session_id: uuid::Uuid::now_v7().to_string(),
            app_version: app_version.to_owned(),
            policy: RwLock::new(Policy {
                enabled,
                retention_days: retention_days.clamp(1, MAX_RETENTION_DAYS),
            }),
            edits: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an edit of `prompt_id` now deserves an event: the first this
    /// session, or the first for a while.
    pub fn worth_recording_edit(&self, prompt_id: &str) -> bool {
        let now = Instant::now();
        let mut edits = self.edits.lock().unwrap_or_else(|p| p.into_inner());
        match edits.get(prompt_id) {
            Some(last) if now.duration_since(*last) < EDIT_EVENT_EVERY => false,
            _ => {
                edits.insert(prompt_id.to_owned(), now);
                true
            }
        }
    }

    /// Applies changed settings; takes effect for the next event.
    pub fn configure(&self, enabled: bool, retention_days: u32) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Policy {
            enabled,
            retention_days: retention_days.clamp(1, MAX_RETENTION_DAYS),
        };
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn enabled(&self) -> bool {
        self.policy().enabled
    }

    fn policy(&self) -> Policy {
        *self.policy.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The document for `event` happening at `now`.
    pub fn event(&self, event: &UsageEvent, now: DateTime) -> AnalyticsEvent {
        let (event_type, category, name) = event.names();
        let retention_ms = i64::from(self.policy().retention_days) * 86_400_000;
        let mut performance = EventPerformance::default();
        let mut business = BusinessMetrics::default();
        match event {
            UsageEvent::SyncFinished { duration_ms, .. } => {
                performance.response_time = Some(*duration_ms as f64);
            }
            UsageEvent::ListingBought { price, .. } => {
                business.credits_spent = Some(*price);
            }
            _ => {}
        }
        AnalyticsEvent {
            id: new_id(),
            user_id: None,
            session_id: self.session_id.clone(),
            event_type: event_type.to_owned(),
            event_category: category.to_owned(),
            event_name: name.to_owned(),
            event_data: event.data(),
            metadata: Document::new(),
            context: EventContext {
                platform: Some(std::env::consts::OS.to_owned()),
                version: Some(self.app_version.clone()),
                feature: Some(category.to_owned()),
                ..EventContext::default()
            },
            performance,
            business_metrics: business,
            timestamp: now,
            expires_at: Some(DateTime::from_millis(
                now.timestamp_millis().saturating_add(retention_ms),
            )),
            version: 0,
        }
    }

    /// Stores `event` for upload, unless recording is off (then `None`).
    pub async fn record(&self, store: &Store, event: UsageEvent) -> Result<Option<AnalyticsEvent>> {
        if !self.enabled() {
            return Ok(None);
        }
        let stored = store
            .record_event(self.event(&event, DateTime::now()))
            .await?;
        Ok(Some(stored))
    }
}
