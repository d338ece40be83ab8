//! `prompts` and `prompt_versions`: a creator's prompts and their content history.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, ValidationError,
};

string_enum!(Difficulty { Beginner => "beginner", Intermediate => "intermediate", Advanced => "advanced", Expert => "expert" } default Beginner);
string_enum!(PromptType { Text => "text", Structured => "structured", Template => "template", Workflow => "workflow" } default Text);
string_enum!(PromptStatus { Draft => "draft", Active => "active", Archived => "archived", Deleted => "deleted" } default Draft);
string_enum!(Visibility { Private => "private", Shared => "shared", Public => "public", Marketplace => "marketplace" } default Private);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct PromptPerformance {
    /// Average rating, 0-5 (0 while unrated).
    pub rating: f64,
    /// Effectiveness as a percentage, 0-100.
    pub effectiveness: f64,
    pub test_count: i64,
    /// Success rate as a percentage, 0-100.
    pub success_rate: f64,
    /// Milliseconds.
    pub avg_response_time: f64,
    pub token_count: i64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct PromptAnalytics {
    pub view_count: i64,
    pub use_count: i64,
    pub share_count: i64,
    pub like_count: i64,
    pub download_count: i64,
    pub comment_count: i64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_used_at: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct PromptMarketplace {
    pub is_listed: bool,
    pub listing_id: Option<String>,
    pub price: i64,
    pub sales_count: i64,
    pub revenue: i64,
    pub average_rating: f64,
    pub review_count: i64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct PromptCollaboration {
    pub is_collaborative: bool,
    pub allowed_users: Vec<String>,
    /// Free-form: user id or role to permission list.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub permissions: Document,
    pub active_editors: Vec<String>,
    pub last_edited_by: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub lock_expiry: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct PromptAiMetadata {
    pub generated_by: Option<String>,
    pub enhanced_by: Option<String>,
    /// Free-form records of past optimisations.
    #[cfg_attr(feature = "ts", ts(type = "Array<Record<string, unknown>>"))]
    pub optimization_history: Vec<Document>,
    pub model_compatibility: Vec<String>,
    /// Free-form model parameters (temperature, max_tokens, ...).
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub parameters: Document,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Prompt {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub content: String,
    pub role: Option<String>,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub difficulty: Difficulty,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default, rename = "type")]
    pub prompt_type: PromptType,
    pub project_id: Option<String>,
    pub folder_id: Option<String>,
    pub parent_prompt_id: Option<String>,
    pub template_id: Option<String>,
    #[serde(default)]
    pub status: PromptStatus,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub is_template: bool,
    #[serde(default)]
    pub is_featured: bool,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub latest_version_id: String,
    #[serde(default)]
    pub has_unsaved_changes: bool,
    #[serde(default)]
    pub performance: PromptPerformance,
    #[serde(default)]
    pub analytics: PromptAnalytics,
    #[serde(default)]
    pub marketplace: PromptMarketplace,
    #[serde(default)]
    pub collaboration: PromptCollaboration,
    #[serde(default)]
    pub ai_metadata: PromptAiMetadata,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub last_modified_by: String,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub deleted_at: Option<DateTime>,
    pub deleted_by: Option<String>,
}

pub(crate) fn default_language() -> String {
    "en".to_owned()
}

impl Prompt {
    /// A new draft prompt owned by `user_id`; the store assigns id and times.
    pub fn new(user_id: &str, title: &str, content: &str) -> Prompt {
        Prompt {
            id: String::new(),
            user_id: user_id.to_owned(),
            title: title.to_owned(),
            description: None,
            content: content.to_owned(),
            role: None,
            category: "general".to_owned(),
            tags: Vec::new(),
            difficulty: Difficulty::default(),
            language: default_language(),
            prompt_type: PromptType::default(),
            project_id: None,
            folder_id: None,
            parent_prompt_id: None,
            template_id: None,
            status: PromptStatus::default(),
            visibility: Visibility::default(),
            is_template: false,
            is_featured: false,
            version: 0,
            latest_version_id: String::new(),
            has_unsaved_changes: false,
            performance: PromptPerformance::default(),
            analytics: PromptAnalytics::default(),
            marketplace: PromptMarketplace::default(),
            collaboration: PromptCollaboration::default(),
            ai_metadata: PromptAiMetadata::default(),
            created_at: unset_time(),
            updated_at: unset_time(),
            created_by: user_id.to_owned(),
            last_modified_by: user_id.to_owned(),
            deleted_at: None,
            deleted_by: None,
        }
    }
}

/// Fields whose change makes a new prompt version.
pub const PROMPT_VERSIONED_FIELDS: [&str; 3] = ["content", "role", "type"];

/// Fields that merge as one unit: a prompt's versioned fields and the
/// version that records them. Merged field by field, two devices' edits
/// could leave content from one and `latest_version_id` from the other; as a
/// unit, one side's text and its version are kept together, and the other
/// side's is reported as a conflict (its text is already in its version).
pub fn merge_unit(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::Prompts => &["content", "role", "type", "latest_version_id"],
        _ => &[],
    }
}

impl Model for Prompt {
    const COLLECTION: Collection = Collection::Prompts;
    const DERIVED: &'static [&'static str] = &["latest_version_id"];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Prompts);
        check.id("_id", &self.id);
        check.id("user_id", &self.user_id);
        check.required("title", &self.title, limits::TITLE);
        check.opt_text(
            "description",
            self.description.as_ref(),
            limits::DESCRIPTION,
        );
        check.required("content", &self.content, limits::CONTENT);
        check.opt_text("role", self.role.as_ref(), limits::SHORT_TEXT);
        check.max_len("category", &self.category, limits::TAG);
        check.tags("tags", &self.tags);
        check_language(&mut check, "language", &self.language);
        check.opt_id("project_id", self.project_id.as_ref());
        check.opt_id("folder_id", self.folder_id.as_ref());
        check.opt_id("parent_prompt_id", self.parent_prompt_id.as_ref());
        check.opt_id("template_id", self.template_id.as_ref());
        check.non_negative("version", self.version);
        if !self.latest_version_id.is_empty() {
            check.id("latest_version_id", &self.latest_version_id);
        }
        let p = &self.performance;
        check.range_f("performance.rating", p.rating, 0.0, 5.0);
        check.range_f("performance.effectiveness", p.effectiveness, 0.0, 100.0);
        check.non_negative("performance.test_count", p.test_count);
        check.range_f("performance.success_rate", p.success_rate, 0.0, 100.0);
        check.non_negative_f("performance.avg_response_time", p.avg_response_time);
        check.non_negative("performance.token_count", p.token_count);
        let a = &self.analytics;
        for (field, value) in [
            ("analytics.view_count", a.view_count),
            ("analytics.use_count", a.use_count),
            ("analytics.share_count", a.share_count),
            ("analytics.like_count", a.like_count),
            ("analytics.download_count", a.download_count),
            ("analytics.comment_count", a.comment_count),
        ] {
            check.non_negative(field, value);
        }
        let m = &self.marketplace;
        check.opt_id("marketplace.listing_id", m.listing_id.as_ref());
        check.non_negative("marketplace.price", m.price);
        check.non_negative("marketplace.sales_count", m.sales_count);
        check.non_negative("marketplace.revenue", m.revenue);
        check.range_f("marketplace.average_rating", m.average_rating, 0.0, 5.0);
        check.non_negative("marketplace.review_count", m.review_count);
        let c = &self.collaboration;
        check.ids("collaboration.allowed_users", &c.allowed_users);
        check.free_form("collaboration.permissions", &c.permissions);
        check.ids("collaboration.active_editors", &c.active_editors);
        check.opt_id("collaboration.last_edited_by", c.last_edited_by.as_ref());
        let ai = &self.ai_metadata;
        check.opt_text(
            "ai_metadata.generated_by",
            ai.generated_by.as_ref(),
            limits::TAG,
        );
        check.opt_text(
            "ai_metadata.enhanced_by",
            ai.enhanced_by.as_ref(),
            limits::TAG,
        );
        for (i, entry) in ai.optimization_history.iter().enumerate() {
            check.free_form(&format!("ai_metadata.optimization_history[{i}]"), entry);
        }
        check.strings(
            "ai_metadata.model_compatibility",
            &ai.model_compatibility,
            limits::TAG,
        );
        check.free_form("ai_metadata.parameters", &ai.parameters);
        if !self.created_by.is_empty() {
            check.id("created_by", &self.created_by);
        }
        if !self.last_modified_by.is_empty() {
            check.id("last_modified_by", &self.last_modified_by);
        }
        check.opt_id("deleted_by", self.deleted_by.as_ref());
        check.finish()
    }
}

/// An ISO 639 language code, optionally with a region: `en`, `pt-BR`.
pub(crate) fn check_language(check: &mut Check, field: &str, value: &str) {
    let mut parts = value.split(['-', '_']);
    let base_ok = parts.next().is_some_and(|base| {
        (2..=3).contains(&base.len()) && base.chars().all(|c| c.is_ascii_alphabetic())
    });
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !(base_ok && rest_ok) {
        check.fail(
            field,
            format!("`{value}` is not an ISO language code such as `en` or `pt-BR`"),
        );
    }
}

fn default_version_type() -> String {
    PromptType::default().as_str().to_owned()
}

/// One saved state of a prompt's content. Versions are immutable.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PromptVersion {
    #[serde(rename = "_id")]
    pub id: String,
    pub prompt_id: String,
    pub user_id: String,
    pub version_number: i64,
    pub content: String,
    pub role: Option<String>,
    /// The prompt's `type` when this version was saved (a plain string in the seed).
    #[serde(rename = "type", default = "default_version_type")]
    pub prompt_type: String,
    #[serde(default)]
    pub changes: String,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub version: i64,
}

impl Model for PromptVersion {
    const COLLECTION: Collection = Collection::PromptVersions;

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::PromptVersions);
        check.id("_id", &self.id);
        check.id("prompt_id", &self.prompt_id);
        check.id("user_id", &self.user_id);
        check.range(
            "version_number",
            self.version_number,
            1,
            i64::from(i32::MAX),
        );
        check.max_len("content", &self.content, limits::CONTENT);
        check.opt_text("role", self.role.as_ref(), limits::SHORT_TEXT);
        check.max_len("type", &self.prompt_type, limits::TAG);
        check.max_len("changes", &self.changes, limits::SHORT_TEXT);
        if !self.created_by.is_empty() {
            check.id("created_by", &self.created_by);
        }
        check.non_negative("version", self.version);
        check.finish()
    }
}
