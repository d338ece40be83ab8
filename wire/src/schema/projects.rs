//! `projects`: folders of prompts and ideas with progress and milestones.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, Priority,
    ValidationError,
};

string_enum!(ProjectStatus { Planning => "planning", Active => "active", Completed => "completed", Archived => "archived", Deleted => "deleted" } default Planning);
string_enum!(ProjectVisibility { Private => "private", Team => "team", Public => "public" } default Private);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ProjectCollaboration {
    pub visibility: ProjectVisibility,
    pub allowed_users: Vec<String>,
    /// Free-form: user id or role to permission list.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub permissions: Document,
    pub team_id: Option<String>,
}

/// Counts the store keeps current: `prompt_count` and `idea_count` always equal
/// the live members listed in `prompt_ids` and `idea_ids`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ProjectStats {
    pub prompt_count: i64,
    pub idea_count: i64,
    pub collaborator_count: i64,
    pub test_count: i64,
    pub total_views: i64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_activity: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Milestone {
    pub title: String,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub due_date: Option<DateTime>,
    pub completed: bool,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub completed_at: Option<DateTime>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ProjectTimeline {
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub start_date: Option<DateTime>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub end_date: Option<DateTime>,
    pub milestones: Vec<Milestone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ProjectSettings {
    pub auto_save: bool,
    pub version_control: bool,
    pub enable_comments: bool,
    pub public_readonly: bool,
    pub allow_forks: bool,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            auto_save: true,
            version_control: true,
            enable_comments: false,
            public_readonly: false,
            allow_forks: false,
        }
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Project {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub color: Option<String>,
    pub icon: Option<String>,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub parent_project_id: Option<String>,
    pub template_id: Option<String>,
    #[serde(default)]
    pub prompt_ids: Vec<String>,
    #[serde(default)]
    pub idea_ids: Vec<String>,
    #[serde(default)]
    pub resource_ids: Vec<String>,
    #[serde(default)]
    pub status: ProjectStatus,
    /// 0-100.
    #[serde(default)]
    pub progress: i64,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub collaboration: ProjectCollaboration,
    #[serde(default)]
    pub stats: ProjectStats,
    #[serde(default)]
    pub timeline: ProjectTimeline,
    #[serde(default)]
    pub settings: ProjectSettings,
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
    #[serde(default)]
    pub version: i64,
}

impl Project {
    pub fn new(user_id: &str, title: &str) -> Project {
        Project {
            id: String::new(),
            user_id: user_id.to_owned(),
            title: title.to_owned(),
            description: None,
            color: None,
            icon: None,
            category: "general".to_owned(),
            tags: Vec::new(),
            parent_project_id: None,
            template_id: None,
            prompt_ids: Vec::new(),
            idea_ids: Vec::new(),
            resource_ids: Vec::new(),
            status: ProjectStatus::default(),
            progress: 0,
            priority: Priority::default(),
            collaboration: ProjectCollaboration::default(),
            stats: ProjectStats::default(),
            timeline: ProjectTimeline::default(),
            settings: ProjectSettings::default(),
            created_at: unset_time(),
            updated_at: unset_time(),
            created_by: user_id.to_owned(),
            last_modified_by: user_id.to_owned(),
            deleted_at: None,
            deleted_by: None,
            version: 0,
        }
    }
}

impl Model for Project {
    const COLLECTION: Collection = Collection::Projects;
    const DERIVED: &'static [&'static str] = &[
        "prompt_ids",
        "idea_ids",
        "stats.prompt_count",
        "stats.idea_count",
    ];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Projects);
        check.id("_id", &self.id);
        check.id("user_id", &self.user_id);
        check.required("title", &self.title, limits::TITLE);
        check.opt_text(
            "description",
            self.description.as_ref(),
            limits::DESCRIPTION,
        );
        if let Some(color) = &self.color {
            let hex = color.strip_prefix('#').unwrap_or("");
            if !(matches!(hex.len(), 3 | 6 | 8) && hex.chars().all(|c| c.is_ascii_hexdigit())) {
                check.fail(
                    "color",
                    format!("`{color}` is not a hex colour such as #3b82f6"),
                );
            }
        }
        check.opt_text("icon", self.icon.as_ref(), limits::TAG);
        check.max_len("category", &self.category, limits::TAG);
        check.tags("tags", &self.tags);
        check.opt_id("parent_project_id", self.parent_project_id.as_ref());
        if self.parent_project_id.as_deref() == Some(self.id.as_str()) {
            check.fail("parent_project_id", "a project cannot be its own parent");
        }
        check.opt_id("template_id", self.template_id.as_ref());
        check.ids("prompt_ids", &self.prompt_ids);
        check.ids("idea_ids", &self.idea_ids);
        check.ids("resource_ids", &self.resource_ids);
        check.range("progress", self.progress, 0, 100);
        let c = &self.collaboration;
        check.ids("collaboration.allowed_users", &c.allowed_users);
        check.free_form("collaboration.permissions", &c.permissions);
        check.opt_id("collaboration.team_id", c.team_id.as_ref());
        let s = &self.stats;
        for (field, value) in [
            ("stats.prompt_count", s.prompt_count),
            ("stats.idea_count", s.idea_count),
            ("stats.collaborator_count", s.collaborator_count),
            ("stats.test_count", s.test_count),
            ("stats.total_views", s.total_views),
        ] {
            check.non_negative(field, value);
        }
        let t = &self.timeline;
        if let (Some(start), Some(end)) = (t.start_date, t.end_date) {
            if end < start {
                check.fail("timeline.end_date", "is before timeline.start_date");
            }
        }
        for (i, milestone) in t.milestones.iter().enumerate() {
            check.required(
                &format!("timeline.milestones[{i}].title"),
                &milestone.title,
                limits::TITLE,
            );
        }
        if !self.created_by.is_empty() {
            check.id("created_by", &self.created_by);
        }
        if !self.last_modified_by.is_empty() {
            check.id("last_modified_by", &self.last_modified_by);
        }
        check.opt_id("deleted_by", self.deleted_by.as_ref());
        check.non_negative("version", self.version);
        check.finish()
    }

    fn normalize(&mut self) {
        self.stats.prompt_count = self.prompt_ids.len() as i64;
        self.stats.idea_count = self.idea_ids.len() as i64;
    }
}
