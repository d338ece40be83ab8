//! What a write implies beyond its own document: a prompt_versions record
//! for each change of a prompt's content, and project membership kept on both
//! sides.

use bson::{Bson, Document};
use promptforge_wire::codec::{is_deleted, whole_number};

use crate::error::{Result, StoreError};
use crate::schema::{Collection, ValidationError};
use crate::store::writer::{doc_id, Tx};

pub(crate) fn version_number(doc: &Document) -> i64 {
    whole_number(doc, "version_number")
}

/// A prompt version about to be recorded.
pub(super) struct PromptVersionRecord<'a> {
    pub(super) id: String,
    /// The `changes` note.
    pub(super) note: &'a str,
    /// The version number when the caller knows it (a new prompt's is 1).
    pub(super) number: Option<i64>,
}

/// Records the versioned fields of `prompt` as its next version; returns the
/// version's id.
pub(super) fn record_prompt_version(
    tx: &mut Tx,
    prompt_id: &str,
    prompt: &Document,
    record: PromptVersionRecord<'_>,
) -> Result<String> {
    let PromptVersionRecord {
        id,
        note: changes,
        number,
    } = record;
    let next = match number {
        Some(number) => number,
        None => {
            tx.find_eq(Collection::PromptVersions, "prompt_id", prompt_id)?
                .iter()
                .map(version_number)
                .max()
                .unwrap_or(0)
                + 1
        }
    };
    let mut version = Document::new();
    version.insert("_id", id.clone());
    version.insert("prompt_id", prompt_id);
    for field in ["user_id", "content", "role", "type"] {
        if let Some(value) = prompt.get(field) {
            version.insert(field, value.clone());
        }
    }
    version.insert("version_number", next);
    version.insert("changes", changes);
    version.insert("created_at", tx.now);
    let author = prompt
        .get_str("last_modified_by")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| prompt.get_str("user_id").ok())
        .unwrap_or_default()
        .to_owned();
    version.insert("created_by", author);
    version.insert("version", 0_i64);
    tx.insert(Collection::PromptVersions, version)
        .map_err(|err| match err {
            // The prompt's own fields failed the version's checks: report them as
            // the prompt's, which is what the caller sent.
            StoreError::Invalid(mut invalid) => {
                invalid.collection = Collection::Prompts;
                StoreError::Invalid(invalid)
            }
            other => other,
        })?;
    Ok(id)
}

fn membership_fields(collection: Collection) -> (&'static str, &'static str) {
    if collection == Collection::Prompts {
        ("prompt_ids", "prompt_count")
    } else {
        ("idea_ids", "idea_count")
    }
}

/// Adds a live prompt or idea to the project it names, if any.
pub(super) fn link_member(tx: &mut Tx, collection: Collection, member: &Document) -> Result<()> {
    let Ok(project_id) = member.get_str("project_id") else {
        return Ok(());
    };
    if is_deleted(member) {
        return Ok(());
    }
    let member_id = doc_id(collection, member)?;
    let Some(project) = tx.get(Collection::Projects, project_id)? else {
        return Err(ValidationError::single(
            collection,
            "project_id",
            format!("project `{project_id}` does not exist"),
        )
        .into());
    };
    update_membership(tx, collection, project, &member_id, true)
}

/// Removes a prompt or idea from the project it named, if that project exists.
pub(super) fn unlink_member(tx: &mut Tx, collection: Collection, member: &Document) -> Result<()> {
    let Ok(project_id) = member.get_str("project_id") else {
        return Ok(());
    };
    let member_id = doc_id(collection, member)?;
    match tx.get(Collection::Projects, project_id)? {
        Some(project) => update_membership(tx, collection, project, &member_id, false),
        None => Ok(()),
    }
}

fn update_membership(
    tx: &mut Tx,
    collection: Collection,
    project: Document,
    member_id: &str,
    present: bool,
) -> Result<()> {
    let (ids_field, count_field) = membership_fields(collection);
    let mut ids: Vec<Bson> = project.get_array(ids_field).cloned().unwrap_or_default();
    let member = Bson::String(member_id.to_owned());
    let listed = ids.contains(&member);
    if listed == present {
        return Ok(());
    }
    if present {
        ids.push(member);
    } else {
        ids.retain(|id| id != &member);
    }
    let mut new = project.clone();
    let count = ids.len() as i64;
    new.insert(ids_field, ids);
    let mut stats = project.get_document("stats").cloned().unwrap_or_default();
    stats.insert(count_field, count);
    stats.insert("last_activity", tx.now);
    new.insert("stats", stats);
    new.insert("updated_at", tx.now);
    tx.replace(Collection::Projects, &project, new)?;
    Ok(())
}
