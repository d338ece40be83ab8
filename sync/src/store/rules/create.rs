//! New documents: what each kind starts as, which fields a create may not
//! set, the stamps and records a create implies, and copies (a duplicate, a
//! fork, a collaborator's kept edit), with what a copy resets.

use bson::{doc, Bson, Document};
use promptforge_wire::access::{owner_field, server_owned};
use promptforge_wire::codec::{decode, encode, set_path};

use super::derived::{link_member, record_prompt_version, PromptVersionRecord};
use crate::error::{Result, StoreError};
use crate::schema::{new_id, Collection, Idea, Model, Project, Prompt, ValidationError};
use crate::store::writer::{doc_id, Tx};
use crate::store::{replica, LOCAL_USER_PREFIX};

/// Fields a new document never takes from whoever creates it: its id, owner,
/// author and version are the store's to decide.
const SET_BY_STORE: [&str; 6] = [
    "_id",
    "user_id",
    "seller_id",
    "buyer_id",
    "created_by",
    "version",
];

/// What a new `collection` document starts as, owned by `user`, before the
/// fields its author gives. Only the kinds a person makes have one: versions,
/// purchases and the rest are recorded by the store or the server.
fn new_document(collection: Collection, user: &str) -> Result<Document> {
    let base = match collection {
        Collection::Prompts => encode(&Prompt::new(user, "", "")),
        Collection::Ideas => encode(&Idea::new(user, "", "")),
        Collection::Projects => encode(&Project::new(user, "")),
        Collection::MarketplaceListings => {
            return Ok(doc! { "_id": new_id(), "seller_id": user, "currency": "credits" })
        }
        other => return Err(StoreError::NotCreatable { collection: other }),
    };
    Ok(base?)
}

/// A new `T` owned by `user`, from the fields its author gave (field paths
/// to values, `null` leaving a field unset), ready for [`create`].
pub(crate) fn new_model<T: Model>(user: &str, fields: Document) -> Result<T> {
    let mut doc = new_document(T::COLLECTION, user)?;
    if let Some(field) = SET_BY_STORE.into_iter().find(|f| fields.contains_key(*f)) {
        return Err(StoreError::SetOnCreate { field });
    }
    for (path, value) in fields {
        set_path(&mut doc, &path, value).map_err(|reason| StoreError::BadField { path, reason })?;
    }
    Ok(decode::<T>(doc)?)
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
        if claimed.starts_with(LOCAL_USER_PREFIX) {
            if let Some(current) = replica::profile_user(tx)? {
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

/// A copy of prompt `id` (a template, say) that is `user`'s own new draft,
/// naming the original in `parent_prompt_id`, with `changes` applied.
pub(crate) fn fork_prompt(
    tx: &mut Tx,
    id: &str,
    mut changes: Document,
    user: &str,
) -> Result<Document> {
    // The fork is the user's own new draft: ownership, sales and usage
    // figures start afresh whatever the original (or the caller) says.
    let owned: [(&str, Bson); 8] = [
        ("user_id", user.into()),
        ("created_by", user.into()),
        ("last_modified_by", user.into()),
        ("is_featured", false.into()),
        ("marketplace", doc! {}.into()),
        ("analytics", doc! {}.into()),
        ("performance", doc! {}.into()),
        ("collaboration", doc! {}.into()),
    ];
    for (field, value) in owned {
        changes.insert(field, value);
    }
    for (field, value) in [
        ("is_template", false.into()),
        ("status", "draft".into()),
        ("visibility", "private".into()),
    ] {
        changes.entry(field.to_owned()).or_insert(value);
    }
    duplicate(tx, Collection::Prompts, id, changes)
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
    // What the server keeps for the original (a prompt's use counts and
    // listing, a project's members) is not the copy's: it starts afresh, as
    // the server would answer its upload.
    for field in server_owned(collection).iter().filter(|f| !f.contains('.')) {
        copy.remove(*field);
    }
    if collection == Collection::Projects {
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
