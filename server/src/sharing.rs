//! Sharing a prompt, idea or project with named people (`POST /v1/share`).
//! Only the owner shares. The server resolves the email the owner typed (no
//! client learns which emails have accounts beyond "unknown email"), writes
//! the sharing fields with a version compare-and-set in one transaction,
//! and tells the person. What the write opens or closes travels as it does
//! for an owner's own push of those fields: a newcomer to a prompt gets its
//! history sequenced afresh, and someone unshared gets `left_scope`.

use bson::{doc, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::{is_deleted, version_of};
use promptforge_wire::schema::Collection;
use promptforge_wire::share::{
    ShareOutcome, SharePermission, ShareRefusal, ShareRequest, SharedWith, MAX_SHARES,
};

use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::market::write::{insert_new, notification, overwrite, set};
use crate::scope;

fn refused(reason: ShareRefusal, message: impl Into<String>) -> Result<ShareOutcome, ServerError> {
    Ok(ShareOutcome::refused(reason, message))
}

/// The field listing who a document is shared with.
fn list_field(collection: Collection) -> &'static str {
    match collection {
        Collection::Ideas => "shared_with",
        _ => "collaboration.allowed_users",
    }
}

/// Applies `request` for `user` inside `session`'s transaction.
pub async fn apply(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    request: &ShareRequest,
) -> Result<ShareOutcome, ServerError> {
    let collection = request.collection();
    let id = request.id();
    let Some(document) = db
        .find_by_id(session, collection, id)
        .await?
        .filter(|d| !is_deleted(d))
    else {
        return refused(ShareRefusal::NotFound, format!("no {collection} `{id}`"));
    };
    if document.get_str(scope::owner_field(collection)) != Ok(user) {
        let teams = db.team_access(user).await?;
        // Someone who cannot read it learns nothing, not even that it exists.
        return if scope::still_reads(collection, &document, user, &teams) {
            refused(
                ShareRefusal::Forbidden,
                "only the owner shares it or takes it back",
            )
        } else {
            refused(ShareRefusal::NotFound, format!("no {collection} `{id}`"))
        };
    }
    match request {
        ShareRequest::List { .. } => done(db, session, collection, &document).await,
        ShareRequest::Share {
            email, permission, ..
        } => share(db, session, user, collection, document, email, *permission).await,
        ShareRequest::Unshare { user_id, .. } => {
            unshare(db, session, collection, document, user_id).await
        }
    }
}

async fn share(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    document: Document,
    email: &str,
    permission: SharePermission,
) -> Result<ShareOutcome, ServerError> {
    let Some(target) = crate::profiles::user_by_email(db, session, email).await? else {
        return refused(ShareRefusal::UnknownEmail, crate::profiles::UNKNOWN_EMAIL);
    };
    if target == user {
        return refused(ShareRefusal::Invalid, "email: that is you, the owner");
    }
    if target.contains(['.', '$']) {
        // Such an id cannot name a permission; no account made here has one.
        return refused(
            ShareRefusal::Invalid,
            "email: that account's id cannot be shared with",
        );
    }
    let path = list_field(collection);
    let mut readers = scope::listed_users(&document, path);
    let newcomer = !readers.contains(&target);
    if newcomer {
        if readers.len() >= MAX_SHARES {
            return refused(
                ShareRefusal::Invalid,
                format!("it is shared with {MAX_SHARES} people already, the most it may be"),
            );
        }
        readers.push(target.clone());
    }
    let had = (!newcomer).then(|| permission_of(collection, &document, &target));
    if had == Some(permission) {
        return done(db, session, collection, &document).await;
    }
    let mut updated = strip_seq(document.clone());
    write_sharing(collection, &mut updated, readers)?;
    if collection != Collection::Ideas {
        set(
            &mut updated,
            &format!("collaboration.permissions.{target}"),
            permission.as_str(),
        )?;
    }
    let stored = overwrite(db, session, collection, &document, updated).await?;
    if newcomer && collection == Collection::Prompts {
        // The newcomer must receive the prompt's history, numbered before
        // their checkpoint.
        scope::resequence(db, session, &[(collection, stored.clone())]).await?;
    }
    let what = describe(collection, &stored);
    let may = match permission {
        SharePermission::Read => "view",
        SharePermission::Write => "view and edit",
    };
    let sharer = display_name(db, session, user).await?;
    let (title, message) = if newcomer {
        (
            format!("{sharer} shared {what} with you"),
            format!("You can {may} it. It is in your library after your next sync."),
        )
    } else {
        (
            format!("Your access to {what} changed"),
            format!("{sharer} changed it: you can now {may} it."),
        )
    };
    let mut note = notification(&target, "info", "sharing", &title, &message);
    note.insert("action_text", "Open");
    insert_new(db, session, Collection::Notifications, note).await?;
    done(db, session, collection, &stored).await
}

async fn unshare(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    document: Document,
    target: &str,
) -> Result<ShareOutcome, ServerError> {
    let path = list_field(collection);
    let mut readers = scope::listed_users(&document, path);
    let had_permission = document
        .get_document("collaboration")
        .ok()
        .and_then(|c| c.get_document("permissions").ok())
        .is_some_and(|p| p.contains_key(target));
    let was_listed = readers.iter().any(|r| r == target);
    if !was_listed && !had_permission {
        return done(db, session, collection, &document).await;
    }
    readers.retain(|r| r != target);
    let mut updated = strip_seq(document.clone());
    write_sharing(collection, &mut updated, readers)?;
    if let Ok(collaboration) = updated.get_document_mut("collaboration") {
        if let Ok(permissions) = collaboration.get_document_mut("permissions") {
            permissions.remove(target);
        }
    }
    if was_listed {
        scope::record_exits(db, session, collection, &updated, &[target.to_owned()]).await?;
    }
    let stored = overwrite(db, session, collection, &document, updated).await?;
    done(db, session, collection, &stored).await
}

/// Sets the list of readers and what follows from it.
fn write_sharing(
    collection: Collection,
    document: &mut Document,
    readers: Vec<String>,
) -> Result<(), ServerError> {
    let count = i64::try_from(readers.len()).unwrap_or(i64::MAX);
    let shared = !readers.is_empty();
    set(document, list_field(collection), readers)?;
    match collection {
        Collection::Prompts => set(document, "collaboration.is_collaborative", shared),
        Collection::Projects => set(document, "stats.collaborator_count", count),
        _ => Ok(()),
    }
}

fn permission_of(collection: Collection, document: &Document, user: &str) -> SharePermission {
    match collection {
        Collection::Ideas => SharePermission::Read,
        _ => scope::share_permission(document, user),
    }
}

/// "the prompt “Title”", for notifications.
fn describe(collection: Collection, document: &Document) -> String {
    let kind = match collection {
        Collection::Ideas => "idea",
        Collection::Projects => "project",
        _ => "prompt",
    };
    match document.get_str("title") {
        Ok(title) if !title.trim().is_empty() => {
            format!("the {kind} “{}”", shortened(title.trim(), 80))
        }
        _ => format!("a {kind}"),
    }
}

/// `text` cut to `max` characters with an ellipsis, so a notification's
/// title built from it stays within the schema's limit.
fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

async fn display_name(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
) -> Result<String, ServerError> {
    let profile = db.find_by_id(session, Collection::Users, user).await?;
    Ok(profile
        .as_ref()
        .and_then(|p| p.get_str("display_name").ok())
        .filter(|n| !n.trim().is_empty())
        .map_or_else(|| "Someone".to_owned(), |n| shortened(n.trim(), 60)))
}

/// The document's version and who it is shared with, by name.
async fn done(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    document: &Document,
) -> Result<ShareOutcome, ServerError> {
    let readers = scope::listed_users(document, list_field(collection));
    db.flush(session).await?;
    let mut names = std::collections::HashMap::new();
    if !readers.is_empty() {
        let mut profiles = db
            .collection(Collection::Users)
            .find(doc! { "_id": { "$in": &readers } })
            .projection(doc! { "_id": 1, "display_name": 1 })
            .session(&mut *session)
            .await?;
        while let Some(profile) = profiles.next(&mut *session).await.transpose()? {
            if let (Ok(id), Ok(name)) = (profile.get_str("_id"), profile.get_str("display_name")) {
                names.insert(id.to_owned(), name.to_owned());
            }
        }
    }
    let shared_with = readers
        .into_iter()
        .map(|user_id| SharedWith {
            display_name: names.get(&user_id).cloned(),
            permission: permission_of(collection, document, &user_id),
            user_id,
        })
        .collect();
    Ok(ShareOutcome::Done {
        version: version_of(document),
        shared_with,
    })
}
