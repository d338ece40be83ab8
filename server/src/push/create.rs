//! Creates: a new document from a desktop, owned by the signed-in user,
//! with only defaults in the fields the server keeps.

use bson::{Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{canonicalize_in, get_path, set_path};
use promptforge_wire::protocol::{Mutation, MutationOutcome, RejectReason};
use promptforge_wire::schema::Collection;

use super::membership::{filed_members, keep_membership, unfile};
use super::{invalid, reject};
use crate::db::Db;
use crate::error::ServerError;
use crate::{history, references, scope};

pub(super) async fn create(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    mut document: Document,
) -> Result<MutationOutcome, ServerError> {
    if m.base_version != 0 {
        return Ok(reject(
            RejectReason::Malformed,
            "a create has base_version 0",
        ));
    }
    match document.get("_id") {
        None => {
            document.insert("_id", m.id.clone());
        }
        Some(Bson::String(id)) if *id == m.id => {}
        Some(_) => {
            return Ok(reject(
                RejectReason::Malformed,
                "the document's _id differs from the mutation's id",
            ))
        }
    }
    let owner = scope::owner_field(collection);
    match document.get(owner) {
        Some(Bson::String(value)) if value == user => {}
        // An event sent without a user is the sender's all the same.
        None if collection == Collection::AnalyticsEvents => {
            document.insert(owner, user);
        }
        // A version belongs to its prompt's owner, whoever of the prompt's
        // writers recorded it; checked against the prompt below.
        Some(Bson::String(_)) if collection == Collection::PromptVersions => {}
        _ => {
            return Ok(reject(
                RejectReason::Forbidden,
                format!("{owner} must be the signed-in user"),
            ))
        }
    }
    if let Some(refused) = check_create_owned(collection, &document) {
        return Ok(refused);
    }
    // Server-owned fields may only hold their defaults in a new document.
    let owned: Vec<&str> = scope::server_owned(collection)
        .iter()
        .copied()
        .filter(|path| get_path(&document, path).is_some_and(|v| *v != Bson::Null))
        .collect();
    if !owned.is_empty() {
        let mut stripped = document.clone();
        for path in &owned {
            let _ = set_path(&mut stripped, path, Bson::Null);
        }
        let (defaults, sent) = match (
            canonicalize_in(collection, stripped),
            canonicalize_in(collection, document.clone()),
        ) {
            (Ok(defaults), Ok(sent)) => (defaults, sent),
            (Err(err), _) | (_, Err(err)) => return Ok(invalid(err)),
        };
        for path in owned {
            if get_path(&defaults, path) != get_path(&sent, path) {
                return Ok(reject(
                    RejectReason::ServerOwnedField,
                    format!("{collection}.{path} is set by the server"),
                ));
            }
        }
    }
    if db.find_by_id(session, collection, &m.id).await?.is_some() {
        return Ok(reject(
            RejectReason::AlreadyExists,
            format!("{collection} `{}` already exists", m.id),
        ));
    }
    // A document created and trashed offline arrives as a tombstone, so
    // every replica ends with the same trash; only its time is the client's.
    document.remove("deleted_by");
    match document.get("deleted_at") {
        Some(Bson::DateTime(_)) if collection.soft_deletes() => {
            if collection.has_field("deleted_by") {
                document.insert("deleted_by", user);
            }
        }
        _ => {
            document.remove("deleted_at");
        }
    }
    document.insert("version", 1_i64);
    for field in ["created_by", "last_modified_by"] {
        if collection.has_field(field) && field != scope::owner_field(collection) {
            document.insert(field, user);
        }
    }
    let now = DateTime::now();
    if collection.has_field("updated_at") {
        document.insert("updated_at", now);
    }
    // Desktops stamp creation times offline; a document that never had one
    // gets the server's.
    let created = collection.created_field();
    if !matches!(document.get(created), Some(Bson::DateTime(t)) if t.timestamp_millis() > 0) {
        document.insert(created, now);
    }
    let mut strangers = Vec::new();
    if collection == Collection::Projects {
        // Prompts and ideas may have been filed in it before it arrived.
        strangers = filed_members(db, session, &m.id, &mut document).await?;
    }
    if collection == Collection::MarketplaceListings {
        // A new listing is always a draft; review starts when it is published.
        document.insert("status", "draft");
        crate::market::fill_listing(db, session, &mut document).await?;
    }
    let first_version = if collection == Collection::Prompts {
        history::keep_latest_in_step(db, session, None, &mut document, user).await?
    } else {
        None
    };
    let admitted = match admit(collection, document, None) {
        Ok(admitted) => admitted,
        Err(err) => return Ok(invalid(err)),
    };
    let teams = db.team_access(user).await?;
    if let Some(why) = references::check(
        db,
        session,
        user,
        collection,
        None,
        false,
        admitted.document(),
        &teams,
    )
    .await?
    {
        return Ok(reject(RejectReason::Forbidden, why));
    }
    if let Some(why) =
        crate::quota::check(db, session, collection, None, admitted.document()).await?
    {
        return Ok(reject(RejectReason::Forbidden, why));
    }
    // A version belongs to its prompt's owner, whoever of the prompt's
    // writers recorded it (the reference check above found the prompt).
    let admitted = if collection == Collection::PromptVersions {
        let prompt_id = admitted.document().get_str("prompt_id").unwrap_or_default();
        let prompt = db
            .find_by_id(session, Collection::Prompts, prompt_id)
            .await?;
        if prompt.and_then(|p| p.get("user_id").cloned()).as_ref()
            != admitted.document().get("user_id")
        {
            return Ok(reject(
                RejectReason::Forbidden,
                "a version's user_id must be its prompt's owner",
            ));
        }
        // The number the desktop gave is a placeholder: the server numbers
        // a prompt's history in the order versions arrive.
        let number = db.next_version_number(session, prompt_id).await?;
        let mut numbered = admitted.into_document();
        numbered.insert("version_number", number);
        admit(collection, numbered, None)?
    } else {
        admitted
    };
    unfile(db, session, strangers).await?;
    let stored = db.insert(session, collection, admitted).await?;
    if let Some(record) = first_version {
        history::insert_record(db, session, record).await?;
    }
    keep_membership(db, session, collection, None, &stored).await?;
    if collection == Collection::AnalyticsEvents {
        crate::usage::count(db, session, user, &stored).await?;
    }
    Ok(MutationOutcome::Applied {
        version: 1,
        document: stored,
    })
}

/// Refuses a create that sets a field only the server writes to anything
/// but what the server would set itself: `version` (absent or 0) and the
/// sync bookkeeping (`_seq` and every other `_`-prefixed field but `_id`).
/// Authorship (`created_by`, `last_modified_by`, `deleted_by`) and
/// `updated_at` are stamped by the server whatever was sent: a desktop's
/// copy of someone else's document ("keep both") honestly carries their
/// names, and the server's stamp is the truth either way.
fn check_create_owned(collection: Collection, document: &Document) -> Option<MutationOutcome> {
    let owned = |field: &str| {
        reject(
            RejectReason::ServerOwnedField,
            format!("{collection}.{field} is set by the server"),
        )
    };
    if let Some(key) = document
        .keys()
        .find(|k| k.starts_with('_') && k.as_str() != "_id")
    {
        return Some(owned(key));
    }
    match document.get("version") {
        None | Some(Bson::Null) | Some(Bson::Int32(0)) | Some(Bson::Int64(0)) => None,
        Some(_) => Some(owned("version")),
    }
}
