//! `ideas`: raw and developing ideas, on a board by status.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, ValidationError,
};

string_enum!(Complexity { Simple => "simple", Moderate => "moderate", Complex => "complex", Expert => "expert" } default Simple);
string_enum!(IdeaStatus { Raw => "raw", Reviewed => "reviewed", Developing => "developing", Testing => "testing", Implemented => "implemented", Abandoned => "abandoned" } default Raw);
string_enum!(Priority { Low => "low", Medium => "medium", High => "high", Urgent => "urgent" } default Medium);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct IdeaGeneratedBy {
    pub model: Option<String>,
    pub prompt: Option<String>,
    /// Free-form generation parameters.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub parameters: Document,
    pub session_id: Option<String>,
    pub batch_id: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct IdeaAiEnhancement {
    /// Free-form enhanced drafts.
    #[cfg_attr(feature = "ts", ts(type = "Array<Record<string, unknown>>"))]
    pub enhanced_versions: Vec<Document>,
    /// Scores are percentages, 0-100.
    pub marketability_score: Option<i64>,
    pub technical_feasibility: Option<i64>,
    pub business_potential: Option<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Idea {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub content: Option<String>,
    #[serde(default)]
    pub generated_by: IdeaGeneratedBy,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub complexity: Complexity,
    /// 0-100.
    #[serde(default)]
    pub viral_potential: i64,
    /// 0-100.
    #[serde(default)]
    pub feasibility: i64,
    #[serde(default)]
    pub status: IdeaStatus,
    /// 0-100: how far the idea has come.
    #[serde(default)]
    pub development_stage: i64,
    pub implementation_notes: Option<String>,
    pub project_id: Option<String>,
    #[serde(default)]
    pub related_prompt_ids: Vec<String>,
    #[serde(default)]
    pub inspiration_source_ids: Vec<String>,
    #[serde(default)]
    pub derived_idea_ids: Vec<String>,
    #[serde(default)]
    pub starred: bool,
    #[serde(default)]
    pub priority: Priority,
    pub personal_notes: Option<String>,
    #[serde(default)]
    pub shared_with: Vec<String>,
    #[serde(default)]
    pub comment_count: i64,
    #[serde(default)]
    pub like_count: i64,
    #[serde(default)]
    pub ai_enhancement: IdeaAiEnhancement,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    #[serde(default)]
    pub created_by: String,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_reviewed_at: Option<DateTime>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub deleted_at: Option<DateTime>,
    /// Not in the seed; patched in so every soft delete says who did it.
    pub deleted_by: Option<String>,
    #[serde(default)]
    pub version: i64,
}

impl Idea {
    pub fn new(user_id: &str, title: &str, description: &str) -> Idea {
        Idea {
            id: String::new(),
            user_id: user_id.to_owned(),
            title: title.to_owned(),
            description: description.to_owned(),
            content: None,
            generated_by: IdeaGeneratedBy::default(),
            category: "general".to_owned(),
            tags: Vec::new(),
            complexity: Complexity::default(),
            viral_potential: 0,
            feasibility: 0,
            status: IdeaStatus::default(),
            development_stage: 0,
            implementation_notes: None,
            project_id: None,
            related_prompt_ids: Vec::new(),
            inspiration_source_ids: Vec::new(),
            derived_idea_ids: Vec::new(),
            starred: false,
            priority: Priority::default(),
            personal_notes: None,
            shared_with: Vec::new(),
            comment_count: 0,
            like_count: 0,
            ai_enhancement: IdeaAiEnhancement::default(),
            created_at: unset_time(),
            updated_at: unset_time(),
            created_by: user_id.to_owned(),
            last_reviewed_at: None,
            deleted_at: None,
            deleted_by: None,
            version: 0,
        }
    }
}

impl Model for Idea {
    const COLLECTION: Collection = Collection::Ideas;

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Ideas);
        check.id("_id", &self.id);
        check.id("user_id", &self.user_id);
        check.required("title", &self.title, limits::TITLE);
        check.max_len("description", &self.description, limits::DESCRIPTION);
        check.opt_text("content", self.content.as_ref(), limits::CONTENT);
        let g = &self.generated_by;
        check.opt_text("generated_by.model", g.model.as_ref(), limits::TAG);
        check.opt_text("generated_by.prompt", g.prompt.as_ref(), limits::CONTENT);
        check.free_form("generated_by.parameters", &g.parameters);
        check.opt_id("generated_by.session_id", g.session_id.as_ref());
        check.opt_id("generated_by.batch_id", g.batch_id.as_ref());
        check.max_len("category", &self.category, limits::TAG);
        check.tags("tags", &self.tags);
        check.range("viral_potential", self.viral_potential, 0, 100);
        check.range("feasibility", self.feasibility, 0, 100);
        check.range("development_stage", self.development_stage, 0, 100);
        check.opt_text(
            "implementation_notes",
            self.implementation_notes.as_ref(),
            limits::DESCRIPTION,
        );
        check.opt_id("project_id", self.project_id.as_ref());
        check.ids("related_prompt_ids", &self.related_prompt_ids);
        check.ids("inspiration_source_ids", &self.inspiration_source_ids);
        check.ids("derived_idea_ids", &self.derived_idea_ids);
        check.opt_text(
            "personal_notes",
            self.personal_notes.as_ref(),
            limits::DESCRIPTION,
        );
        check.ids("shared_with", &self.shared_with);
        check.non_negative("comment_count", self.comment_count);
        check.non_negative("like_count", self.like_count);
        let ai = &self.ai_enhancement;
        for (i, entry) in ai.enhanced_versions.iter().enumerate() {
            check.free_form(&format!("ai_enhancement.enhanced_versions[{i}]"), entry);
        }
        check.opt_range(
            "ai_enhancement.marketability_score",
            ai.marketability_score,
            0,
            100,
        );
        check.opt_range(
            "ai_enhancement.technical_feasibility",
            ai.technical_feasibility,
            0,
            100,
        );
        check.opt_range(
            "ai_enhancement.business_potential",
            ai.business_potential,
            0,
            100,
        );
        if !self.created_by.is_empty() {
            check.id("created_by", &self.created_by);
        }
        check.opt_id("deleted_by", self.deleted_by.as_ref());
        check.non_negative("version", self.version);
        check.finish()
    }
}
