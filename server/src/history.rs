//! A prompt's version history on the server: the server numbers versions in
//! the order they arrive, a prompt's versioned fields merge as one unit with
//! `latest_version_id`, a unit that loses a clash is reported with the
//! version that holds it, and every accepted change keeps `latest_version_id`
//! naming a version whose text is the prompt's.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::protocol::FieldConflict;
use promptforge_wire::schema::{new_id, Collection, PROMPT_VERSIONED_FIELDS};

use crate::db::Db;
use crate::error::ServerError;
use crate::push::as_json;

/// A stored null and an absent field are the same "no value".
fn value_of<'a>(doc: &'a Document, field: &str) -> Option<&'a Bson> {
    doc.get(field).filter(|b| **b != Bson::Null)
}

fn same_text(a: &Document, b: &Document) -> bool {
    PROMPT_VERSIONED_FIELDS
        .iter()
        .all(|f| value_of(a, f) == value_of(b, f))
}

/// The version `id` of prompt `prompt_id`, if it is stored.
async fn version_of_prompt(
    db: &Db,
    session: &mut ClientSession,
    prompt_id: &str,
    id: Option<&Bson>,
) -> Result<Option<Document>, ServerError> {
    let Some(Bson::String(id)) = id else {
        return Ok(None);
    };
    Ok(db
        .find_by_id(session, Collection::PromptVersions, id)
        .await?
        .filter(|v| v.get_str("prompt_id") == Ok(prompt_id)))
}

/// The conflicts of a client's prompt unit that lost to the stored one
/// (`current`): one per versioned field whose value differs, each naming the
/// version that holds the losing text. That is the client's own version
/// when it sent one that matches; otherwise the server saves one.
pub async fn lost_unit(
    db: &Db,
    session: &mut ClientSession,
    current: &Document,
    changes: &Document,
    user: &str,
) -> Result<Vec<FieldConflict>, ServerError> {
    let prompt_id = current.get_str("_id").unwrap_or_default();
    let named = version_of_prompt(db, session, prompt_id, changes.get("latest_version_id")).await?;
    // What the client's prompt held: the fields it sent, else those of the
    // version it named, else (it did not change them) the stored ones.
    let mut losing = Document::new();
    for field in PROMPT_VERSIONED_FIELDS {
        let value = match (changes.get(field), &named) {
            (Some(sent), _) => Some(sent),
            (None, Some(version)) => version.get(field),
            (None, None) => current.get(field),
        };
        if let Some(value) = value.filter(|v| **v != Bson::Null) {
            losing.insert(field, value.clone());
        }
    }
    let mut conflicts: Vec<FieldConflict> = PROMPT_VERSIONED_FIELDS
        .iter()
        .filter(|f| value_of(&losing, f) != value_of(current, f))
        .map(|f| FieldConflict {
            field: (*f).to_owned(),
            kept: as_json(value_of(current, f)),
            lost: as_json(value_of(&losing, f)),
            resolution: "server_wins".into(),
            lost_saved_as: None,
        })
        .collect();
    if conflicts.is_empty() {
        return Ok(conflicts);
    }
    let saved_as = match named.filter(|v| same_text(v, &losing)) {
        Some(version) => version.get_str("_id").unwrap_or_default().to_owned(),
        None => {
            let record = new_record(
                current,
                &losing,
                user,
                "Conflicting edit kept aside (another device saved first)",
            );
            insert_record(db, session, record).await?
        }
    };
    for conflict in &mut conflicts {
        conflict.lost_saved_as = Some(saved_as.clone());
    }
    Ok(conflicts)
}

/// Keeps `prompt` (about to be stored over `before`, or created) naming a
/// version that holds its text. A `latest_version_id` that names no stored
/// version is trusted: a desktop sends a new prompt before its first version,
/// and an edit made twice offline before the second one's version. Otherwise,
/// when the named version (or none) does not hold the text, the server
/// records one: returned here to be inserted with [`insert_record`] once the
/// write is accepted, and named by `prompt` already.
pub async fn keep_latest_in_step(
    db: &Db,
    session: &mut ClientSession,
    before: Option<&Document>,
    prompt: &mut Document,
    user: &str,
) -> Result<Option<Document>, ServerError> {
    let unit_changed = match before {
        None => true,
        Some(before) => {
            !same_text(before, prompt)
                || value_of(before, "latest_version_id") != value_of(prompt, "latest_version_id")
        }
    };
    if !unit_changed {
        return Ok(None);
    }
    let prompt_id = prompt.get_str("_id").unwrap_or_default().to_owned();
    // An empty id names nothing that could ever arrive.
    let latest = prompt
        .get("latest_version_id")
        .cloned()
        .filter(|v| !matches!(v, Bson::String(id) if id.is_empty()));
    if let Some(Bson::String(id)) = &latest {
        match db
            .find_by_id(session, Collection::PromptVersions, id)
            .await?
        {
            None => return Ok(None),
            // Another prompt's version: the reference check refuses it.
            Some(version) if version.get_str("prompt_id") != Ok(prompt_id.as_str()) => {
                return Ok(None)
            }
            Some(version) if same_text(&version, prompt) => return Ok(None),
            Some(_) => {}
        }
    }
    let note = if before.is_none() {
        "Initial version"
    } else {
        "Recorded by the server (the edit named no version with its text)"
    };
    let record = new_record(prompt, prompt, user, note);
    prompt.insert(
        "latest_version_id",
        record.get_str("_id").unwrap_or_default(),
    );
    Ok(Some(record))
}

/// A version record of `prompt` holding the versioned fields of `text`,
/// not yet numbered.
fn new_record(prompt: &Document, text: &Document, user: &str, note: &str) -> Document {
    let mut record = doc! {
        "_id": new_id(),
        "prompt_id": prompt.get_str("_id").unwrap_or_default(),
        "user_id": prompt.get_str("user_id").unwrap_or(user),
        "changes": note,
        "created_at": DateTime::now(),
        "created_by": user,
        "version": 1_i64,
    };
    for field in PROMPT_VERSIONED_FIELDS {
        if let Some(value) = value_of(text, field) {
            record.insert(field, value.clone());
        }
    }
    if !record.contains_key("type") {
        record.insert("type", "text");
    }
    record
}

/// Numbers and stores a version record made by [`lost_unit`] or
/// [`keep_latest_in_step`]; returns its id.
pub async fn insert_record(
    db: &Db,
    session: &mut ClientSession,
    mut record: Document,
) -> Result<String, ServerError> {
    let prompt_id = record.get_str("prompt_id").unwrap_or_default().to_owned();
    let id = record.get_str("_id").unwrap_or_default().to_owned();
    let number = db.next_version_number(session, &prompt_id).await?;
    record.insert("version_number", number);
    let admitted = admit(Collection::PromptVersions, record, None)?;
    db.insert(session, Collection::PromptVersions, admitted)
        .await?;
    Ok(id)
}
