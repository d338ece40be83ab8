//! Patches, deletes and restores of a stored document: who may make them,
//! and which fields a change may name. The merge itself is in `merge`.

use bson::{DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{is_deleted, version_of};
use promptforge_wire::protocol::{Mutation, MutationOutcome, RejectReason};
use promptforge_wire::schema::Collection;

use super::membership::keep_membership;
use super::merge::merge_and_write;
use super::{invalid, not_found, reject};
use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::{references, scope};

pub(super) async fn patch(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    changes: &Document,
    base: &Document,
) -> Result<MutationOutcome, ServerError> {
    if changes.is_empty() {
        return Ok(reject(
            RejectReason::Malformed,
            "a patch needs at least one change",
        ));
    }
    if let Some(refused) = check_changes(collection, changes) {
        return Ok(refused);
    }
    let Some(current) = db.find_by_id(session, collection, &m.id).await? else {
        return Ok(not_found(collection, &m.id));
    };
    let teams = db.team_access(user).await?;
    if !scope::may_write(collection, &current, user, &teams) {
        if scope::still_reads(collection, &current, user, &teams) {
            let why = if scope::explicit_readers(collection, &current)
                .iter()
                .any(|r| r == user)
            {
                "it is shared with you to view only"
            } else {
                "your role in its team lets you view it, not edit it"
            };
            return Ok(reject(
                RejectReason::Forbidden,
                format!("you cannot change this {collection}: {why}"),
            ));
        }
        // Not revealing whether it exists: same answer as for a missing one.
        return Ok(not_found(collection, &m.id));
    }
    if is_deleted(&current) {
        return Ok(MutationOutcome::Conflict {
            reason: "the document was deleted; restore it or keep your edit as a copy".into(),
            server_document: strip_seq(current),
        });
    }
    let owner = current.get_str(scope::owner_field(collection)) == Ok(user);
    if let Some(field) = changes
        .keys()
        .find(|f| !owner && promptforge_wire::access::owner_only(collection, f))
    {
        return Ok(reject(
            RejectReason::Forbidden,
            format!("only the owner changes {collection}.{field}"),
        ));
    }
    let start = current.clone();
    merge_and_write(
        db, session, user, collection, m, current, start, changes, base, &teams,
    )
    .await
}

/// Refuses a change set that names a malformed, unknown or server-owned field.
fn check_changes(collection: Collection, changes: &Document) -> Option<MutationOutcome> {
    for field in changes.keys() {
        if field.is_empty()
            || field.starts_with('$')
            || field.split('.').any(|s| s.is_empty() || s.starts_with('$'))
        {
            return Some(reject(
                RejectReason::Malformed,
                format!("`{field}` is not a field path"),
            ));
        }
        let top = field.split('.').next().unwrap_or(field);
        let stamped = matches!(top, "last_modified_by" | "created_at" | "timestamp");
        if stamped || scope::is_server_owned(collection, field) {
            return Some(reject(
                RejectReason::ServerOwnedField,
                format!("{collection}.{field} is set by the server"),
            ));
        }
        if !collection.has_field(top) {
            return Some(reject(
                RejectReason::Invalid,
                format!("{collection} has no field `{top}`"),
            ));
        }
    }
    None
}

pub(super) async fn delete(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
) -> Result<MutationOutcome, ServerError> {
    let Some(current) = db.find_by_id(session, collection, &m.id).await? else {
        return Ok(not_found(collection, &m.id));
    };
    // Only owners delete; collaborators may edit but not delete.
    if current.get_str(scope::owner_field(collection)) != Ok(user) {
        return Ok(not_found(collection, &m.id));
    }
    let current_version = version_of(&current);
    if is_deleted(&current) {
        return Ok(MutationOutcome::Applied {
            version: current_version,
            document: strip_seq(current),
        });
    }
    if current_version != m.base_version {
        return Ok(MutationOutcome::Conflict {
            reason: "the document was edited on another device after the copy you deleted; \
                     it was kept"
                .into(),
            server_document: strip_seq(current),
        });
    }
    let mut tombstone = current.clone();
    let version = current_version + 1;
    let now = DateTime::now();
    tombstone.insert("deleted_at", now);
    if collection.has_field("deleted_by") {
        tombstone.insert("deleted_by", user);
    }
    if collection.has_field("updated_at") {
        tombstone.insert("updated_at", now);
    }
    tombstone.insert("version", version);
    let admitted = match admit(collection, strip_seq(tombstone), Some(&current)) {
        Ok(admitted) => admitted,
        Err(err) => return Ok(invalid(err)),
    };
    let tombstone = db.replace(session, collection, &current, admitted).await?;
    keep_membership(db, session, collection, Some(&current), &tombstone).await?;
    Ok(MutationOutcome::Applied {
        version,
        document: tombstone,
    })
}

/// Undeletes a document (owners only), then merges `changes` into it.
pub(super) async fn restore(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    changes: &Document,
    base: &Document,
) -> Result<MutationOutcome, ServerError> {
    if let Some(refused) = check_changes(collection, changes) {
        return Ok(refused);
    }
    let current = db.find_by_id(session, collection, &m.id).await?;
    let Some(current) = current.filter(|c| c.get_str(scope::owner_field(collection)) == Ok(user))
    else {
        return Ok(not_found(collection, &m.id));
    };
    if collection == Collection::Prompts
        && is_deleted(&current)
        && crate::market::is_refunded_copy(db, session, &m.id).await?
    {
        return Ok(reject(
            RejectReason::Forbidden,
            "this prompt came with a purchase that was refunded",
        ));
    }
    let teams = db.team_access(user).await?;
    let mut start = current.clone();
    start.remove("deleted_at");
    start.remove("deleted_by");
    if is_deleted(&current) {
        references::drop_lost_filings(db, session, user, collection, &mut start, &teams).await?;
    }
    merge_and_write(
        db, session, user, collection, m, current, start, changes, base, &teams,
    )
    .await
}
