//! The rules the seed implies, applied inside each write transaction:
//! timestamps stamped by the store, a prompt_versions record for every change
//! of a prompt's content, and project membership kept consistent on both sides.

use bson::{Bson, Document};

use super::writer::{doc_id, Tx};
use crate::error::{Result, StoreError};
use crate::schema::{new_id, Collection, ValidationError, PROMPT_VERSIONED_FIELDS};
use promptforge_wire::access::{owner_field, owner_only};
use promptforge_wire::codec::{derived_fields, is_deleted, set_path};

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

pub(crate) fn create(tx: &mut Tx, collection: Collection, mut doc: Document) -> Result<Document> {
    match collection {
        Collection::PromptVersions => {
            return Err(StoreError::NotAllowed {
                collection,
                action: "created directly",
                reason: "a version is recorded each time a prompt's content changes",
            })
        }
        Collection::MarketplacePurchases => {
            return Err(StoreError::NotAllowed {
                collection,
                action: "created on the desktop",
                reason: "the server records a purchase when it settles it",
            })
        }
        Collection::Projects => {
            for field in ["prompt_ids", "idea_ids"] {
                if doc.get_array(field).is_ok_and(|ids| !ids.is_empty()) {
                    return Err(StoreError::ReadOnlyField {
                        collection,
                        field: field.to_owned(),
                        reason: "a new project starts empty: move prompts and ideas into it",
                    });
                }
            }
        }
        _ => {}
    }
    // A document made for the profile's local user just before the profile
    // was attached to its account belongs to the account.
    let owner = owner_field(collection);
    if let (Ok(claimed), false) = (doc.get_str(owner), collection == Collection::Users) {
        if claimed.starts_with(super::LOCAL_USER_PREFIX) {
            if let Some(current) = super::replica::profile_user(tx)? {
                if current != claimed {
                    // Authorship too: the server refuses a create whose
                    // authors are not the signed-in user.
                    let claimed = claimed.to_owned();
                    for field in [owner, "created_by", "last_modified_by"] {
                        if doc.get_str(field) == Ok(claimed.as_str()) {
                            doc.insert(field, current.clone());
                        }
                    }
                }
            }
        }
    }
    if !matches!(doc.get("_id"), Some(Bson::String(id)) if !id.is_empty()) {
        doc.insert("_id", new_id());
    }
    let now = tx.now;
    doc.insert(collection.created_field(), now);
    for field in ["updated_at", "last_login_at", "last_active_at"] {
        if collection.has_field(field) {
            doc.insert(field, now);
        }
    }
    // A new local document has never been seen by the server.
    doc.insert("version", 0_i64);
    doc.remove("deleted_at");
    doc.remove("deleted_by");

    match collection {
        Collection::Prompts => {
            // The prompt is written before its first version, so the upload
            // queue creates them on the server in that order.
            let id = doc_id(collection, &doc)?;
            let version_id = new_id();
            doc.insert("latest_version_id", version_id.clone());
            let doc = tx.insert(collection, doc)?;
            let first = PromptVersionRecord {
                id: version_id,
                note: "Initial version",
                number: Some(1),
            };
            record_prompt_version(tx, &id, &doc, first)?;
            link_member(tx, collection, &doc)?;
            Ok(doc)
        }
        Collection::Ideas => {
            let doc = tx.insert(collection, doc)?;
            link_member(tx, collection, &doc)?;
            Ok(doc)
        }
        _ => tx.insert(collection, doc),
    }
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

/// Stores a copy of a document with `changes` applied, as a new document
/// (a prompt copy remembers its original in `parent_prompt_id`).
pub(crate) fn duplicate(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    changes: Document,
) -> Result<Document> {
    let original = tx.require(collection, id)?;
    copy_document(tx, collection, id, original, changes)
}

/// Keeps `edited` (someone else's document as this user last edited it) as
/// a new document of `owner`'s own: not shared, not filed, a new history.
pub(crate) fn adopt_copy(
    tx: &mut Tx,
    collection: Collection,
    mut edited: Document,
    owner: &str,
) -> Result<Document> {
    let id = doc_id(collection, &edited)?;
    for field in ["collaboration", "project_id", "shared_with", "created_by"] {
        edited.remove(field);
    }
    edited.insert(owner_field(collection), owner);
    copy_document(tx, collection, &id, edited, Document::new())
}

/// Creates a copy of `copy` (the document `id`, as given) with `changes`
/// applied: a new id, version and history, titled "(my copy)".
fn copy_document(
    tx: &mut Tx,
    collection: Collection,
    id: &str,
    mut copy: Document,
    changes: Document,
) -> Result<Document> {
    let titled = changes.contains_key("title") || changes.contains_key("name");
    for (path, value) in changes {
        set_path(&mut copy, &path, value)
            .map_err(|why| ValidationError::single(collection, path.clone(), why))?;
    }
    for field in [
        "_id",
        "version",
        "deleted_at",
        "deleted_by",
        "latest_version_id",
    ] {
        copy.remove(field);
    }
    if collection == Collection::Projects {
        copy.remove("prompt_ids");
        copy.remove("idea_ids");
        copy.remove("stats");
    }
    if collection == Collection::Prompts {
        copy.insert("parent_prompt_id", id);
    }
    for field in ["title", "name"].into_iter().filter(|_| !titled) {
        if let Ok(title) = copy.get_str(field) {
            let title = format!("{title} (my copy)");
            copy.insert(field, title);
            break;
        }
    }
    create(tx, collection, copy)
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

pub(crate) fn version_number(doc: &Document) -> i64 {
    match doc.get("version_number") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        _ => 0,
    }
}

/// A prompt version about to be recorded.
struct PromptVersionRecord<'a> {
    id: String,
    /// The `changes` note.
    note: &'a str,
    /// The version number when the caller knows it (a new prompt's is 1).
    number: Option<i64>,
}

/// Records the versioned fields of `prompt` as its next version; returns the
/// version's id.
fn record_prompt_version(
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
fn link_member(tx: &mut Tx, collection: Collection, member: &Document) -> Result<()> {
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
fn unlink_member(tx: &mut Tx, collection: Collection, member: &Document) -> Result<()> {
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

/// Replaces or adds already-validated documents as they are (import).
pub(crate) fn put_verbatim(tx: &mut Tx, collection: Collection, doc: Document) -> Result<()> {
    let id = doc_id(collection, &doc)?;
    if tx.get(collection, &id)?.is_some() {
        tx.remove(collection, &id)?;
    }
    tx.insert(collection, doc)?;
    Ok(())
}
