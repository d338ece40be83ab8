//! A team's usage and its prompt quota. The seed gives a team
//! `resources` (quotas and what is used) and `stats`; the server keeps the
//! counts true as prompts, ideas and projects are filed into and out of the
//! team's projects, and refuses a filing that would take the team past
//! `resources.prompt_quota`. Quotas themselves are the plan's (billing
//! writes them; `0` means none); no client sets them.
//!
//! Only the prompt quota is enforced: nothing in this version stores files
//! (`storage_*`) or spends AI credits (`ai_credits_*`), so those are kept as
//! written.

use bson::{doc, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::is_deleted;
use promptforge_wire::schema::Collection;

use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::scope::team_of;

/// The team a prompt or idea is filed into through its project, or a
/// project's own team; none for a deleted document.
async fn team_reached(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    document: Option<&Document>,
) -> Result<Option<String>, ServerError> {
    let Some(document) = document.filter(|d| !is_deleted(d)) else {
        return Ok(None);
    };
    match collection {
        Collection::Projects => Ok(team_of(document).map(str::to_owned)),
        Collection::Prompts | Collection::Ideas => {
            let Ok(project) = document.get_str("project_id") else {
                return Ok(None);
            };
            let project = db
                .find_by_id(session, Collection::Projects, project)
                .await?;
            Ok(project
                .filter(|p| !is_deleted(p))
                .as_ref()
                .and_then(team_of)
                .map(str::to_owned))
        }
        _ => Ok(None),
    }
}

/// The team's live projects, and how many live prompts and ideas are filed
/// in them.
async fn usage(
    db: &Db,
    session: &mut ClientSession,
    team_id: &str,
) -> Result<(Vec<String>, u64, u64), ServerError> {
    db.flush(session).await?;
    let live = doc! { "deleted_at": { "$exists": false } };
    let mut filter = live.clone();
    filter.insert("collaboration.team_id", team_id);
    let mut projects = Vec::new();
    let mut found = db
        .collection(Collection::Projects)
        .find(filter)
        .projection(doc! { "_id": 1 })
        .session(&mut *session)
        .await?;
    while let Some(project) = found.next(&mut *session).await.transpose()? {
        if let Ok(id) = project.get_str("_id") {
            projects.push(id.to_owned());
        }
    }
    let mut counts = [0_u64; 2];
    for (count, collection) in counts
        .iter_mut()
        .zip([Collection::Prompts, Collection::Ideas])
    {
        if projects.is_empty() {
            break;
        }
        let mut filter = live.clone();
        filter.insert("project_id", doc! { "$in": &projects });
        *count = db
            .collection(collection)
            .count_documents(filter)
            .session(&mut *session)
            .await?;
    }
    Ok((projects, counts[0], counts[1]))
}

/// Why writing `after` (over `before`) would take a team past its prompt
/// quota: a prompt filed into a team's project, or a project with prompts
/// filed into a team. `None` when it fits or no quota applies.
pub async fn check(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    before: Option<&Document>,
    after: &Document,
) -> Result<Option<String>, ServerError> {
    if !matches!(collection, Collection::Prompts | Collection::Projects) {
        return Ok(None);
    }
    let Some(team_id) = team_reached(db, session, collection, Some(after)).await? else {
        return Ok(None);
    };
    if team_reached(db, session, collection, before)
        .await?
        .as_deref()
        == Some(&team_id)
    {
        return Ok(None);
    }
    let Some(team) = db.find_by_id(session, Collection::Teams, &team_id).await? else {
        return Ok(None);
    };
    let quota = team
        .get_document("resources")
        .ok()
        .and_then(|r| r.get("prompt_quota"))
        .and_then(|q| {
            q.as_i64()
                .or_else(|| q.as_i32().map(i64::from))
                // A plan's writer may store numbers as doubles.
                .or_else(|| q.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        })
        .unwrap_or(0);
    if quota <= 0 {
        return Ok(None);
    }
    let adding = match collection {
        Collection::Prompts => 1,
        _ => {
            db.flush(session).await?;
            let id = after.get_str("_id").unwrap_or_default();
            db.collection(Collection::Prompts)
                .count_documents(doc! { "project_id": id, "deleted_at": { "$exists": false } })
                .session(&mut *session)
                .await?
        }
    };
    let (_, used, _) = usage(db, session, &team_id).await?;
    let quota = u64::try_from(quota).unwrap_or(0);
    if adding > 0 && used + adding > quota {
        let name = team.get_str("name").unwrap_or("the team");
        return Ok(Some(format!(
            "{name} has {used} of its {quota} prompts: its prompt quota leaves no room for {adding} more"
        )));
    }
    Ok(None)
}

/// Recounts the usage of every team `before` or `after` reaches when the
/// write moved, filed, deleted or restored something in a team.
pub async fn keep_counts(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    before: Option<&Document>,
    after: &Document,
) -> Result<(), ServerError> {
    if !matches!(
        collection,
        Collection::Prompts | Collection::Ideas | Collection::Projects
    ) {
        return Ok(());
    }
    let was = team_reached(db, session, collection, before).await?;
    let now = team_reached(db, session, collection, Some(after)).await?;
    if was == now && collection != Collection::Projects {
        return Ok(());
    }
    // A project's own filing may be unchanged while the team it reaches
    // is: only a change of team or of deletion matters.
    if was == now && before.map(is_deleted) == Some(is_deleted(after)) {
        return Ok(());
    }
    for team_id in [was, now].into_iter().flatten() {
        recount(db, session, &team_id).await?;
    }
    Ok(())
}

async fn recount(db: &Db, session: &mut ClientSession, team_id: &str) -> Result<(), ServerError> {
    let Some(team) = db.find_by_id(session, Collection::Teams, team_id).await? else {
        return Ok(());
    };
    if is_deleted(&team) {
        return Ok(());
    }
    let (projects, prompts, ideas) = usage(db, session, team_id).await?;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut updated = strip_seq(team.clone());
    let mut resources = updated
        .get_document("resources")
        .cloned()
        .unwrap_or_default();
    resources.insert("prompts_used", as_i64(prompts));
    let mut stats = updated.get_document("stats").cloned().unwrap_or_default();
    stats.insert("total_prompts", as_i64(prompts));
    stats.insert("total_ideas", as_i64(ideas));
    stats.insert("total_projects", as_i64(projects.len() as u64));
    if updated.get_document("resources").ok() == Some(&resources)
        && updated.get_document("stats").ok() == Some(&stats)
    {
        return Ok(());
    }
    updated.insert("resources", resources);
    updated.insert("stats", stats);
    // Bookkeeping, not an edit: the version stays, as for a project's
    // membership lists, so team operations racing it are not refused.
    updated.insert("updated_at", bson::DateTime::now());
    let admitted = promptforge_wire::admit::admit(Collection::Teams, updated, Some(&team))
        .map_err(|e| ServerError::Internal(format!("team `{team_id}`: {e}")))?;
    db.replace(session, Collection::Teams, &team, admitted)
        .await?;
    // A membership change not yet sequenced must still be seen as one.
    crate::teams::keep_sequenced_readers(db, session, &team).await
}
