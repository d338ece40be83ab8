//! Turning flags into document changes: the named field flags of each
//! collection and `--set FIELD=VALUE` pairs, as the fields of a new document
//! (which the store starts as it does for the app) or an edit's patch.

use anyhow::{bail, Context};
use bson::{Bson, Document};

use crate::args::{IdeaFields, ProjectFields, PromptFields};

/// Builds a patch from named flags and `--set` pairs.
#[derive(Debug, Default)]
pub(crate) struct Changes(pub(crate) Document);

impl Changes {
    pub(crate) fn text(&mut self, field: &str, value: Option<String>) -> &mut Self {
        if let Some(value) = value {
            // An empty string clears an optional field.
            self.0.insert(
                field,
                if value.is_empty() {
                    Bson::Null
                } else {
                    Bson::String(value)
                },
            );
        }
        self
    }

    pub(crate) fn tags(&mut self, tags: Vec<String>) -> &mut Self {
        if !tags.is_empty() {
            self.0.insert("tags", tags);
        }
        self
    }

    pub(crate) fn value(&mut self, field: &str, value: Option<impl Into<Bson>>) -> &mut Self {
        if let Some(value) = value {
            self.0.insert(field, value.into());
        }
        self
    }

    pub(crate) fn set_pairs(&mut self, pairs: Vec<String>) -> anyhow::Result<&mut Self> {
        for pair in pairs {
            let Some((field, raw)) = pair.split_once('=') else {
                bail!("--set takes FIELD=VALUE, got `{pair}`");
            };
            let value = match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(json) => {
                    Bson::try_from(json).with_context(|| format!("--set {field}: not a value"))?
                }
                Err(_) => Bson::String(raw.to_owned()),
            };
            self.0.insert(field, value);
        }
        Ok(self)
    }
}

impl PromptFields {
    pub(crate) fn into_changes(self, changes: &mut Changes) {
        changes
            .text("description", self.description)
            .text("role", self.role)
            .text("category", self.category)
            .tags(self.tags)
            .text("type", self.prompt_type)
            .text("difficulty", self.difficulty)
            .text("status", self.status)
            .text("visibility", self.visibility)
            .text("project_id", self.project)
            .text("folder_id", self.folder)
            .text("parent_prompt_id", self.parent);
    }
}

impl IdeaFields {
    pub(crate) fn into_changes(self, changes: &mut Changes) {
        changes
            .text("category", self.category)
            .tags(self.tags)
            .text("status", self.status)
            .text("priority", self.priority)
            .value("starred", self.starred)
            .text("project_id", self.project);
    }
}

impl ProjectFields {
    pub(crate) fn into_changes(self, changes: &mut Changes) {
        changes
            .text("description", self.description)
            .text("category", self.category)
            .tags(self.tags)
            .text("status", self.status)
            .text("priority", self.priority)
            .value("progress", self.progress)
            .text("color", self.color);
    }
}
