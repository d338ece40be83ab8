//! `users`: accounts (Firebase UIDs), with credits, profile and preferences.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, ValidationError,
};

string_enum!(AccountStatus { Active => "active", Suspended => "suspended", Pending => "pending", Deleted => "deleted" } default Active);
string_enum!(Theme { Light => "light", Dark => "dark", System => "system" } default System);

/// The seed lists "tier, status, stripe_customer_id, etc."; the last three
/// fields are the usual rest of a Stripe subscription.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Subscription {
    pub tier: Option<String>,
    pub status: Option<String>,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub current_period_end: Option<DateTime>,
    pub cancel_at_period_end: Option<bool>,
}

/// Credits are whole units; only the server changes them.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Credits {
    pub balance: i64,
    pub total_purchased: i64,
    pub total_spent: i64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_purchase_at: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct UserProfile {
    pub bio: Option<String>,
    pub website: Option<String>,
    pub location: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub expertise: Vec<String>,
    /// Network name to URL or handle.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub social_links: Document,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Preferences {
    pub theme: Theme,
    pub language: Option<String>,
    pub timezone: Option<String>,
    /// Free-form per-channel switches.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub notifications: Document,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub privacy: Document,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub interface: Document,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct UserStats {
    pub prompts_created: i64,
    pub ideas_generated: i64,
    pub tests_run: i64,
    pub marketplace_sales: i64,
    pub total_earnings: i64,
    /// 0-5 (0 while unrated).
    pub average_rating: f64,
    pub total_reviews: i64,
    pub followers_count: i64,
    pub following_count: i64,
}

/// The seed lists "is_partner, partner_tier, application_status, etc.".
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Partnership {
    pub is_partner: bool,
    pub partner_tier: Option<String>,
    pub application_status: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub applied_at: Option<DateTime>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub approved_at: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Security {
    pub two_factor_enabled: bool,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_password_change: Option<DateTime>,
    pub suspicious_activity_detected: bool,
    pub gdpr_consent: bool,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub gdpr_consent_date: Option<DateTime>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub data_retention_until: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    /// The Firebase UID.
    #[serde(rename = "_id")]
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    pub photo_url: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub account_status: AccountStatus,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub last_login_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub last_active_at: DateTime,
    #[serde(default)]
    pub subscription: Subscription,
    #[serde(default)]
    pub credits: Credits,
    #[serde(default)]
    pub profile: UserProfile,
    #[serde(default)]
    pub preferences: Preferences,
    #[serde(default)]
    pub stats: UserStats,
    #[serde(default)]
    pub partnership: Partnership,
    #[serde(default)]
    pub security: Security,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    #[serde(default)]
    pub version: i64,
}

impl User {
    pub fn new(id: &str, email: &str, display_name: &str) -> User {
        User {
            id: id.to_owned(),
            email: email.to_owned(),
            display_name: display_name.to_owned(),
            photo_url: None,
            email_verified: false,
            account_status: AccountStatus::default(),
            created_at: unset_time(),
            last_login_at: unset_time(),
            last_active_at: unset_time(),
            subscription: Subscription::default(),
            credits: Credits::default(),
            profile: UserProfile::default(),
            preferences: Preferences::default(),
            stats: UserStats::default(),
            partnership: Partnership::default(),
            security: Security::default(),
            updated_at: unset_time(),
            version: 0,
        }
    }
}

impl Model for User {
    const COLLECTION: Collection = Collection::Users;
    /// Money and earned figures are the server's to change.
    const DERIVED: &'static [&'static str] = &["credits", "stats"];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Users);
        check.id("_id", &self.id);
        check.email("email", &self.email);
        check.max_len("display_name", &self.display_name, limits::TITLE);
        check.url("photo_url", self.photo_url.as_ref());
        let s = &self.subscription;
        check.opt_text("subscription.tier", s.tier.as_ref(), limits::TAG);
        check.opt_text("subscription.status", s.status.as_ref(), limits::TAG);
        check.opt_id(
            "subscription.stripe_customer_id",
            s.stripe_customer_id.as_ref(),
        );
        check.opt_id(
            "subscription.stripe_subscription_id",
            s.stripe_subscription_id.as_ref(),
        );
        let c = &self.credits;
        check.non_negative("credits.balance", c.balance);
        check.non_negative("credits.total_purchased", c.total_purchased);
        check.non_negative("credits.total_spent", c.total_spent);
        let p = &self.profile;
        check.opt_text("profile.bio", p.bio.as_ref(), limits::SHORT_TEXT * 5);
        check.url("profile.website", p.website.as_ref());
        check.opt_text("profile.location", p.location.as_ref(), limits::TITLE);
        check.opt_text("profile.company", p.company.as_ref(), limits::TITLE);
        check.opt_text("profile.job_title", p.job_title.as_ref(), limits::TITLE);
        check.tags("profile.expertise", &p.expertise);
        check.free_form("profile.social_links", &p.social_links);
        let pr = &self.preferences;
        if let Some(language) = &pr.language {
            super::prompts::check_language(&mut check, "preferences.language", language);
        }
        check.opt_text("preferences.timezone", pr.timezone.as_ref(), limits::TAG);
        check.free_form("preferences.notifications", &pr.notifications);
        check.free_form("preferences.privacy", &pr.privacy);
        check.free_form("preferences.interface", &pr.interface);
        let st = &self.stats;
        for (field, value) in [
            ("stats.prompts_created", st.prompts_created),
            ("stats.ideas_generated", st.ideas_generated),
            ("stats.tests_run", st.tests_run),
            ("stats.marketplace_sales", st.marketplace_sales),
            ("stats.total_earnings", st.total_earnings),
            ("stats.total_reviews", st.total_reviews),
            ("stats.followers_count", st.followers_count),
            ("stats.following_count", st.following_count),
        ] {
            check.non_negative(field, value);
        }
        check.range_f("stats.average_rating", st.average_rating, 0.0, 5.0);
        let pa = &self.partnership;
        check.opt_text(
            "partnership.partner_tier",
            pa.partner_tier.as_ref(),
            limits::TAG,
        );
        check.opt_text(
            "partnership.application_status",
            pa.application_status.as_ref(),
            limits::TAG,
        );
        check.non_negative("version", self.version);
        check.finish()
    }
}
