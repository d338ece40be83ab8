//! `teams`: groups of users sharing prompts and projects.

use std::collections::BTreeMap;

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, ValidationError,
};

string_enum!(PlanType { Free => "free", Pro => "pro", Enterprise => "enterprise" } default Free);
string_enum!(TeamRole { Owner => "owner", Admin => "admin", Editor => "editor", Viewer => "viewer" } default Viewer);
string_enum!(TeamVisibility { Private => "private", Organization => "organization", Public => "public" } default Private);

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TeamMember {
    #[serde(default)]
    pub role: TeamRole,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub joined_at: DateTime,
    pub invited_by: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct TeamResources {
    pub prompt_quota: i64,
    /// Bytes.
    pub storage_quota: i64,
    pub ai_credits_quota: i64,
    pub prompts_used: i64,
    pub storage_used: i64,
    pub ai_credits_used: i64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct TeamSettings {
    pub visibility: TeamVisibility,
    pub allow_invites: bool,
    pub require_approval: bool,
    pub default_permissions: Vec<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct TeamStats {
    pub total_prompts: i64,
    pub total_ideas: i64,
    pub total_projects: i64,
    pub active_members: i64,
    /// Free-form: period to activity counts.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub monthly_activity: Document,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Team {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub organization_id: Option<String>,
    #[serde(default)]
    pub plan_type: PlanType,
    /// user_id to membership.
    #[serde(default)]
    pub members: BTreeMap<String, TeamMember>,
    #[serde(default)]
    pub member_count: i64,
    #[serde(default)]
    pub resources: TeamResources,
    #[serde(default)]
    pub settings: TeamSettings,
    #[serde(default)]
    pub stats: TeamStats,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    pub created_by: String,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub deleted_at: Option<DateTime>,
    /// Not in the seed; patched in so every soft delete says who did it.
    pub deleted_by: Option<String>,
    #[serde(default)]
    pub version: i64,
}

impl Model for Team {
    const COLLECTION: Collection = Collection::Teams;
    const DERIVED: &'static [&'static str] = &["member_count"];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Teams);
        check.id("_id", &self.id);
        check.required("name", &self.name, limits::TITLE);
        check.opt_text(
            "description",
            self.description.as_ref(),
            limits::DESCRIPTION,
        );
        check.url("avatar_url", self.avatar_url.as_ref());
        check.opt_id("organization_id", self.organization_id.as_ref());
        for (user_id, member) in &self.members {
            check.id(&format!("members.{user_id}"), user_id);
            check.opt_id(
                &format!("members.{user_id}.invited_by"),
                member.invited_by.as_ref(),
            );
            check.tags(
                &format!("members.{user_id}.permissions"),
                &member.permissions,
            );
        }
        if self.member_count != self.members.len() as i64 {
            check.fail(
                "member_count",
                format!(
                    "is {} but members lists {}",
                    self.member_count,
                    self.members.len()
                ),
            );
        }
        let r = &self.resources;
        for (field, value) in [
            ("resources.prompt_quota", r.prompt_quota),
            ("resources.storage_quota", r.storage_quota),
            ("resources.ai_credits_quota", r.ai_credits_quota),
            ("resources.prompts_used", r.prompts_used),
            ("resources.storage_used", r.storage_used),
            ("resources.ai_credits_used", r.ai_credits_used),
        ] {
            check.non_negative(field, value);
        }
        check.tags(
            "settings.default_permissions",
            &self.settings.default_permissions,
        );
        let s = &self.stats;
        for (field, value) in [
            ("stats.total_prompts", s.total_prompts),
            ("stats.total_ideas", s.total_ideas),
            ("stats.total_projects", s.total_projects),
            ("stats.active_members", s.active_members),
        ] {
            check.non_negative(field, value);
        }
        check.free_form("stats.monthly_activity", &s.monthly_activity);
        check.id("created_by", &self.created_by);
        check.opt_id("deleted_by", self.deleted_by.as_ref());
        check.non_negative("version", self.version);
        check.finish()
    }

    fn normalize(&mut self) {
        self.member_count = self.members.len() as i64;
    }
}
