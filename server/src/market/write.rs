//! How the marketplace stores what it decides: server-made documents at
//! version 1, overwrites that compare-and-set on the version read, and the
//! notifications that tell both sides.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::version_of;
use promptforge_wire::market::{MarketOutcome, MarketRefusal};
use promptforge_wire::schema::{new_id, Collection};

use crate::db::{strip_seq, Db};
use crate::error::ServerError;

pub(super) fn refused(reason: MarketRefusal, message: impl Into<String>) -> MarketOutcome {
    MarketOutcome::refused(reason, message)
}

pub(super) fn internal(err: impl std::fmt::Display) -> ServerError {
    ServerError::Internal(err.to_string())
}

/// Inserts a new server-made document: version 1, on the pull cursor.
pub(crate) async fn insert_new(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    mut document: Document,
) -> Result<Document, ServerError> {
    document.insert("version", 1_i64);
    let admitted = admit(collection, document, None)?;
    db.insert(session, collection, admitted).await
}

/// Writes `updated` over `current` (compare-and-set on its version), with a
/// new version, `updated_at`, and a place on the pull cursor.
pub(crate) async fn overwrite(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    current: &Document,
    mut updated: Document,
) -> Result<Document, ServerError> {
    let version = version_of(current);
    updated.insert("version", version + 1);
    if collection.has_field("updated_at") {
        updated.insert("updated_at", DateTime::now());
    }
    let admitted = admit(collection, strip_seq(updated), Some(current))?;
    db.replace(session, collection, current, admitted).await
}

/// Sets a dotted `path`. The paths are the server's own, so one that runs
/// through a non-object is the server's fault, not the request's.
pub(crate) fn set(
    doc: &mut Document,
    path: &str,
    value: impl Into<Bson>,
) -> Result<(), ServerError> {
    promptforge_wire::codec::set_path(doc, path, value.into()).map_err(internal)
}

/// A new, unread in-app notification for `user`.
pub(crate) fn notification(
    user: &str,
    kind: &str,
    category: &str,
    title: &str,
    message: &str,
) -> Document {
    let now = DateTime::now();
    doc! {
        "_id": new_id(),
        "user_id": user,
        "type": kind,
        "title": title,
        "message": message,
        "category": category,
        "priority": "normal",
        "read": false,
        "dismissed": false,
        "delivery_channels": ["in_app"],
        "created_at": now,
        "updated_at": now,
    }
}

/// Writes a marketplace notification for `user`.
pub(super) async fn notify(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    kind: &str,
    title: &str,
    message: &str,
) -> Result<(), ServerError> {
    let notification = notification(user, kind, "marketplace", title, message);
    insert_new(db, session, Collection::Notifications, notification).await?;
    Ok(())
}
