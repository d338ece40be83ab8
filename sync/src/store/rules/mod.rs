//! The rules the seed implies, applied inside each write transaction:
//! timestamps stamped by the store, a prompt_versions record for every change
//! of a prompt's content, and project membership kept consistent on both sides.
//!
//! What a new document starts as, which fields its author may not set, and
//! what a copy or fork resets live in `create`, so the app and the CLI create
//! alike; `derived` keeps the records a write implies elsewhere (versions,
//! membership).

mod create;
mod derived;

use bson::Document;

use super::writer::{doc_id, Tx};
use crate::error::{Result, StoreError};
use crate::schema::{new_id, Collection, ValidationError, PROMPT_VERSIONED_FIELDS};
use derived::{link_member, record_prompt_version, unlink_member, PromptVersionRecord};
use promptforge_wire::access::{owner_field, owner_only};
use promptforge_wire::codec::{derived_fields, is_deleted, set_path};

pub(crate) use create::{adopt_copy, create, duplicate, fork_prompt, new_model};
pub(crate) use derived::version_number;

/// Fields no patch may touch, with the reason given to the caller.
fn protected(collection: Collection, field: &str) -> Option<&'static str> {
    let top = field.split('.').next().unwrap_or(field);
    match top {
        "_id" => Some("a document's id never changes"),
        "created_at" | "timestamp" | "updated_at" => Some("the store stamps times itself"),
        "version" => Some("only the sync server advances a document's version"),
        "deleted_at" | "deleted_by" => Some("use delete and restore"),
        "user_id" | "seller_id" | "created_by" if collection != Collection::Users => {
            Some("a document's owner never changes")
        }
        _ => {
            let derived = derived_fields(collection).iter().any(|d| {
                d == &field
                    || d.starts_with(&format!("{field}."))
                    || field.starts_with(&format!("{d}."))
            });
            derived.then_some(match collection {
                Collection::Projects => {
                    "the store keeps project membership: move the prompt or idea instead"
                }
                Collection::Prompts => "the store keeps it pointing at the newest version",
                Collection::MarketplacePurchases | Collection::Users => {
                    "only the server changes money and earnings"
                }
                _ => "the server keeps this field",
            })
        }
    }
}

/// Checks the keys of a patch before anything is read or written.
pub(crate) fn check_patch_keys(collection: Collection, changes: &Document) -> Result<()> {
    if changes.is_empty() {
        return Err(ValidationError::single(
            collection,
            "changes",
            "a patch needs at least one field",
        )
        .into());
    }
    for key in changes.keys() {
        let malformed = key.is_empty() || key.starts_with('$') || key.split('.').any(str::is_empty);
        if malformed {
            return Err(
                ValidationError::single(collection, key.clone(), "is not a field path").into(),
            );
        }
        let top = key.split('.').next().unwrap_or(key);
        if !collection.has_field(top) {
            return Err(ValidationError::single(
                collection,
                key.clone(),
                format!("{collection} has no field `{top}`"),
            )
            .into());
        }
        if let Some(reason) = protected(collection, key) {
            return Err(StoreError::ReadOnlyField {
                collection,
                field: key.clone(),
                reason,
            });
        }
    }
    Ok(())
}

/// Applies `changes` (field paths to new values; `null` clears a field).
pub(crate) fn patch(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    changes: Document,
    actor: &str,
) -> Result<Document> {
    check_patch_keys(collection, &changes)?;
    apply_changes(tx, collection, id, changes, actor)
}

/// Applies changes whose keys are already known to be writable (a conflict
/// resolution re-applying this device's value), with the usual rules.
pub(crate) fn apply_changes(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    changes: Document,
    actor: &str,
) -> Result<Document> {
    if collection == Collection::PromptVersions {
        return Err(StoreError::NotAllowed {
            collection,
            action: "edited",
            reason: "versions are history; restore one instead",
        });
    }
    let old = tx.require(collection, id)?;
    if is_deleted(&old) {
        return Err(StoreError::Deleted {
            collection,
            id: id.to_owned(),
        });
    }
    if !is_owner(collection, &old, actor) && changes.keys().any(|f| owner_only(collection, f)) {
        return Err(StoreError::NotAllowed {
            collection,
            action: "changed that way",
            reason:
                "only a document's owner decides who sees it (sharing, visibility, its project)",
        });
    }
    let mut new = old.clone();
    for (path, value) in changes {
        set_path(&mut new, &path, value)
            .map_err(|why| ValidationError::single(collection, path.clone(), why))?;
    }
    if new == old {
        return Ok(old);
    }
    write_edit(tx, collection, &old, new, actor, None)
}

/// Writes an edited document, with the rules that follow from what changed.
fn write_edit(
    tx: &mut Tx,
    collection: Collection,
    old: &Document,
    mut new: Document,
    actor: &str,
    version_note: Option<String>,
) -> Result<Document> {
    let id = doc_id(collection, old)?;
    if collection.has_field("updated_at") {
        new.insert("updated_at", tx.now);
    }
    if collection.has_field("last_modified_by") && !actor.is_empty() {
        new.insert("last_modified_by", actor);
    }
    if collection == Collection::Prompts {
        let changed: Vec<&str> = PROMPT_VERSIONED_FIELDS
            .into_iter()
            .filter(|f| old.get(*f) != new.get(*f))
            .collect();
        if !changed.is_empty() {
            let note = version_note.unwrap_or_else(|| format!("Edited {}", changed.join(", ")));
            let record = PromptVersionRecord {
                id: new_id(),
                note: &note,
                number: None,
            };
            let version_id = record_prompt_version(tx, &id, &new, record)?;
            new.insert("latest_version_id", version_id);
        }
    }
    let new = tx.replace(collection, old, new)?;
    if matches!(collection, Collection::Prompts | Collection::Ideas)
        && old.get("project_id") != new.get("project_id")
    {
        unlink_member(tx, collection, old)?;
        link_member(tx, collection, &new)?;
    }
    Ok(new)
}

pub(crate) fn soft_delete(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    actor: &str,
) -> Result<Document> {
    if !collection.soft_deletes() {
        return Err(StoreError::NotAllowed {
            collection,
            action: "deleted",
            reason: "this collection keeps every record",
        });
    }
    let old = tx.require(collection, id)?;
    if is_deleted(&old) {
        return Err(StoreError::Deleted {
            collection,
            id: id.to_owned(),
        });
    }
    let mut new = old.clone();
    new.insert("deleted_at", tx.now);
    if collection.has_field("deleted_by") && !actor.is_empty() {
        new.insert("deleted_by", actor);
    }
    if collection.has_field("updated_at") {
        new.insert("updated_at", tx.now);
    }
    let new = tx.replace(collection, &old, new)?;
    if matches!(collection, Collection::Prompts | Collection::Ideas) {
        unlink_member(tx, collection, &old)?;
    }
    Ok(new)
}

/// Whether `actor` owns `doc`; a document without an owner field, or an
/// unnamed actor, counts as owned (nothing to check against).
fn is_owner(collection: Collection, doc: &Document, actor: &str) -> bool {
    actor.is_empty()
        || doc
            .get_str(owner_field(collection))
            .map_or(true, |owner| owner == actor)
}

/// Only a document's owner trashes or restores it (as the server rules);
/// a collaborator or team member is refused before anything is queued.
pub(crate) fn require_owner(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    actor: &str,
    action: &'static str,
) -> Result<()> {
    let doc = tx.require(collection, id)?;
    if is_owner(collection, &doc, actor) {
        Ok(())
    } else {
        Err(StoreError::NotAllowed {
            collection,
            action,
            reason: "only a document's owner may trash or restore it",
        })
    }
}

pub(crate) fn restore(tx: &mut Tx, collection: Collection, id: &str) -> Result<Document> {
    let old = tx.require(collection, id)?;
    if !is_deleted(&old) {
        return Err(StoreError::NotDeleted {
            collection,
            id: id.to_owned(),
        });
    }
    let mut new = old.clone();
    new.remove("deleted_at");
    new.remove("deleted_by");
    if collection.has_field("updated_at") {
        new.insert("updated_at", tx.now);
    }
    let new = tx.replace(collection, &old, new)?;
    if matches!(collection, Collection::Prompts | Collection::Ideas) {
        link_member(tx, collection, &new)?;
    }
    Ok(new)
}

/// Puts a prompt's content back to what version `number` saved, as a new version.
pub(crate) fn restore_prompt_version(
    tx: &mut Tx,
    prompt_id: &str,
    number: i64,
    actor: &str,
) -> Result<Document> {
    let old = tx.require(Collection::Prompts, prompt_id)?;
    if is_deleted(&old) {
        return Err(StoreError::Deleted {
            collection: Collection::Prompts,
            id: prompt_id.to_owned(),
        });
    }
    let version = tx
        .find_eq(Collection::PromptVersions, "prompt_id", prompt_id)?
        .into_iter()
        .find(|v| version_number(v) == number)
        .ok_or_else(|| StoreError::NotFound {
            collection: Collection::PromptVersions,
            id: format!("{prompt_id} version {number}"),
        })?;
    let mut new = old.clone();
    for field in PROMPT_VERSIONED_FIELDS {
        match version.get(field) {
            Some(value) => new.insert(field, value.clone()),
            None => new.remove(field),
        };
    }
    if new == old {
        return Ok(old);
    }
    write_edit(
        tx,
        Collection::Prompts,
        &old,
        new,
        actor,
        Some(format!("Restored version {number}")),
    )
}

/// Replaces or adds already-validated documents as they are (import).
pub(crate) fn put_verbatim(tx: &mut Tx, collection: Collection, doc: Document) -> Result<()> {
    let id = doc_id(collection, &doc)?;
    if tx.get(collection, &id)?.is_some() {
        tx.remove(collection, &id)?;
    }
    tx.insert(collection, doc)?;
    Ok(())
}
