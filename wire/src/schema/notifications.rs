//! `notifications`: messages to a user, read and dismissed on the desktop.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, ValidationError,
};

string_enum!(NotificationType { Info => "info", Success => "success", Warning => "warning", Error => "error", Marketing => "marketing" } default Info);
string_enum!(NotificationPriority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" } default Normal);

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Notification {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    #[serde(rename = "type", default)]
    pub notification_type: NotificationType,
    pub title: String,
    pub message: String,
    pub action_text: Option<String>,
    pub action_url: Option<String>,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub priority: NotificationPriority,
    #[serde(default)]
    pub read: bool,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub read_at: Option<DateTime>,
    #[serde(default)]
    pub dismissed: bool,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub dismissed_at: Option<DateTime>,
    pub image_url: Option<String>,
    pub icon_name: Option<String>,
    pub icon_color: Option<String>,
    #[serde(default)]
    pub targeted_features: Vec<String>,
    pub user_segment: Option<String>,
    #[serde(default)]
    pub delivery_channels: Vec<String>,
    /// Free-form: channel to delivery state.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub delivery_status: Document,
    pub campaign_id: Option<String>,
    pub batch_id: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub expires_at: Option<DateTime>,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    #[serde(default)]
    pub version: i64,
}

impl Model for Notification {
    const COLLECTION: Collection = Collection::Notifications;

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Notifications);
        check.id("_id", &self.id);
        check.id("user_id", &self.user_id);
        check.required("title", &self.title, limits::TITLE);
        check.required("message", &self.message, limits::DESCRIPTION);
        check.opt_text("action_text", self.action_text.as_ref(), limits::TAG);
        if let Some(url) = &self.action_url {
            // In-app routes (`/prompts/...`) are as valid as web links.
            if !url.starts_with('/') {
                check.url("action_url", Some(url));
            }
        }
        check.max_len("category", &self.category, limits::TAG);
        if self.read_at.is_some() && !self.read {
            check.fail("read_at", "is set but read is false");
        }
        if self.dismissed_at.is_some() && !self.dismissed {
            check.fail("dismissed_at", "is set but dismissed is false");
        }
        check.url("image_url", self.image_url.as_ref());
        check.opt_text("icon_name", self.icon_name.as_ref(), limits::TAG);
        check.opt_text("icon_color", self.icon_color.as_ref(), limits::TAG);
        check.tags("targeted_features", &self.targeted_features);
        check.opt_text("user_segment", self.user_segment.as_ref(), limits::TAG);
        check.tags("delivery_channels", &self.delivery_channels);
        check.free_form("delivery_status", &self.delivery_status);
        check.opt_id("campaign_id", self.campaign_id.as_ref());
        check.opt_id("batch_id", self.batch_id.as_ref());
        check.non_negative("version", self.version);
        check.finish()
    }
}
