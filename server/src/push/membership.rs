//! Projects' lists of the prompts and ideas filed in them, kept by the
//! server as documents are created, moved, deleted and restored.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{is_deleted, version_of};
use promptforge_wire::schema::Collection;

use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::scope;

/// Keeps a project's `prompt_ids`/`idea_ids` and their counts in step with
/// a prompt or idea that was created, moved, deleted or restored, and the
/// usage counts of the teams it (or a project) was or is filed in.
pub(super) async fn keep_membership(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    before: Option<&Document>,
    after: &Document,
) -> Result<(), ServerError> {
    crate::quota::keep_counts(db, session, collection, before, after).await?;
    let (ids_field, count_field) = match collection {
        Collection::Prompts => ("prompt_ids", "prompt_count"),
        Collection::Ideas => ("idea_ids", "idea_count"),
        _ => return Ok(()),
    };
    let filed_in = |doc: &Document| {
        (!is_deleted(doc))
            .then(|| doc.get_str("project_id").ok().map(str::to_owned))
            .flatten()
    };
    let (was, now) = (before.and_then(filed_in), filed_in(after));
    if was == now {
        return Ok(());
    }
    let member = Bson::String(after.get_str("_id").unwrap_or_default().to_owned());
    for (project_id, present) in [(was, false), (now, true)] {
        let Some(project_id) = project_id else {
            continue;
        };
        let Some(project) = db
            .find_by_id(session, Collection::Projects, &project_id)
            .await?
        else {
            continue;
        };
        let mut ids = project.get_array(ids_field).cloned().unwrap_or_default();
        if ids.contains(&member) == present {
            continue;
        }
        if present {
            ids.push(member.clone());
        } else {
            ids.retain(|id| id != &member);
        }
        let now = DateTime::now();
        let mut updated = strip_seq(project.clone());
        let mut stats = updated.get_document("stats").cloned().unwrap_or_default();
        stats.insert(count_field, ids.len() as i64);
        stats.insert("last_activity", now);
        updated.insert(ids_field, ids);
        updated.insert("stats", stats);
        // Membership is the server's bookkeeping, not an edit: the version
        // stays, so a delete made against it is not taken for a stale one.
        updated.insert("updated_at", now);
        updated.insert("version", version_of(&project));
        let admitted = admit(Collection::Projects, updated, Some(&project))
            .map_err(|e| ServerError::Internal(format!("project `{project_id}`: {e}")))?;
        db.replace(session, Collection::Projects, &project, admitted)
            .await?;
    }
    Ok(())
}

/// Sets a new project's membership from the live prompts and ideas already
/// filed in it (their uploads may have arrived before the project's), and
/// returns what was filed there (prompts and ideas by `project_id`, projects
/// by `parent_project_id`) by users who may not write the project: that is
/// taken out (see [`unfile`]) rather than counted, so a filing made ahead of
/// someone else's project never reaches into it.
pub(super) async fn filed_members(
    db: &Db,
    session: &mut ClientSession,
    project_id: &str,
    project: &mut Document,
) -> Result<Vec<Filing>, ServerError> {
    let project_owner = project.get_str("user_id").unwrap_or_default().to_owned();
    let mut access: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut strangers = Vec::new();
    let mut stats = project.get_document("stats").cloned().unwrap_or_default();
    // What this push filed here before the project arrived must be found.
    db.flush(session).await?;
    for (collection, field, members) in [
        (
            Collection::Prompts,
            "project_id",
            Some(("prompt_ids", "prompt_count")),
        ),
        (
            Collection::Ideas,
            "project_id",
            Some(("idea_ids", "idea_count")),
        ),
        (Collection::Projects, "parent_project_id", None),
    ] {
        let mut filed = Vec::new();
        let mut cursor = db
            .collection(collection)
            .find(doc! { field: project_id })
            .projection(doc! { "_id": 1, "user_id": 1, "deleted_at": 1 })
            .session(&mut *session)
            .await?;
        while let Some(member) = cursor.next(&mut *session).await.transpose()? {
            filed.push(member);
        }
        let mut ids = Vec::new();
        for member in filed {
            let Some(Bson::String(id)) = member.get("_id").cloned() else {
                continue;
            };
            let owner = member.get_str("user_id").unwrap_or_default().to_owned();
            let allowed = match access.get(&owner) {
                Some(allowed) => *allowed,
                None => {
                    let teams = db.team_access(&owner).await?;
                    let allowed = owner == project_owner
                        || scope::may_write(Collection::Projects, project, &owner, &teams);
                    access.insert(owner, allowed);
                    allowed
                }
            };
            if !allowed {
                strangers.push(Filing {
                    collection,
                    id,
                    field,
                });
            } else if !is_deleted(&member) {
                ids.push(Bson::String(id));
            }
        }
        if let Some((ids_field, count_field)) = members {
            stats.insert(count_field, ids.len() as i64);
            project.insert(ids_field, ids);
        }
    }
    project.insert("stats", stats);
    Ok(strangers)
}

/// A document filed into a project through `field`.
#[derive(Debug)]
pub(super) struct Filing {
    collection: Collection,
    id: String,
    field: &'static str,
}

/// Takes documents out of a project their owners may not write, as an
/// edit by the server (a new version, on the cursor).
pub(super) async fn unfile(
    db: &Db,
    session: &mut ClientSession,
    filings: Vec<Filing>,
) -> Result<(), ServerError> {
    for filing in filings {
        let Some(current) = db
            .find_by_id(session, filing.collection, &filing.id)
            .await?
        else {
            continue;
        };
        let mut unfiled = strip_seq(current.clone());
        unfiled.remove(filing.field);
        unfiled.insert("version", version_of(&current) + 1);
        unfiled.insert("updated_at", DateTime::now());
        let admitted = admit(filing.collection, unfiled, Some(&current))
            .map_err(|e| ServerError::Internal(format!("unfiling: {e}")))?;
        db.replace(session, filing.collection, &current, admitted)
            .await?;
    }
    Ok(())
}
