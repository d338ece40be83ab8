//! Team operations (`POST /v1/teams`): the server alone decides who is in a
//! team and with what role. Each operation runs in one transaction: it
//! reads the team, checks the caller's role, writes the team (compare-and-set
//! on its version, so two admins acting at once never both win), keeps
//! `member_count` and `stats.active_members`, and writes the notifications.
//! Pending invitations live in [`INVITATIONS`], which no client pulls; the
//! invited user hears of one through a notification.
//!
//! Who gains and who loses access is left to the sequencer: a team is
//! written with its readers as last sequenced (`members::write_team`), so
//! after the commit the sequencer re-numbers the team's documents for new
//! members and records "left your scope" notices for those who went, as it
//! does for a team another backend changed.

use bson::{doc, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::is_deleted;
use promptforge_wire::schema::{Collection, TeamRole};
use promptforge_wire::teams::{TeamOutcome, TeamRefusal, TeamRequest};

use crate::db::Db;
use crate::error::ServerError;
use crate::market::write::{insert_new, notification};

mod invitations;
mod members;
#[cfg(test)]
mod tests;

use invitations::{accept, decline, invite};
pub(crate) use members::keep_sequenced_readers;
use members::{configure, delete, leave, remove, set_role, transfer, write_team};
#[cfg(test)]
use members::{may_manage, owner_of};

/// Invitations waiting for an answer: `_id` is `<team>/<user>`.
pub const INVITATIONS: &str = "team_invitations";

/// The index invitations by email need.
pub async fn prepare(db: &Db) -> Result<(), ServerError> {
    db.collection(Collection::Users)
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "email": 1 })
                .build(),
        )
        .await?;
    Ok(())
}

fn rank(role: TeamRole) -> u8 {
    match role {
        TeamRole::Owner => 3,
        TeamRole::Admin => 2,
        TeamRole::Editor => 1,
        TeamRole::Viewer => 0,
    }
}

fn refused(reason: TeamRefusal, message: impl Into<String>) -> Result<TeamOutcome, ServerError> {
    Ok(TeamOutcome::refused(reason, message))
}

fn done(team: Document) -> Result<TeamOutcome, ServerError> {
    Ok(TeamOutcome::Done {
        team: crate::db::strip_seq(team),
    })
}

/// The role `user` holds in `team`, if a member.
fn role_of(team: &Document, user: &str) -> Option<TeamRole> {
    let member = team.get_document("members").ok()?.get_document(user).ok()?;
    Some(
        member
            .get_str("role")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(TeamRole::Viewer),
    )
}

fn name_of(team: &Document) -> String {
    team.get_str("name").unwrap_or("a team").to_owned()
}

/// The team with `members` replaced and its counts kept.
fn with_members(team: &Document, members: Document) -> Document {
    let mut updated = team.clone();
    let count = i64::try_from(members.len()).unwrap_or(i64::MAX);
    updated.insert("member_count", count);
    let mut stats = updated.get_document("stats").cloned().unwrap_or_default();
    stats.insert("active_members", count);
    updated.insert("stats", stats);
    updated.insert("members", members);
    updated
}

fn members_of(team: &Document) -> Document {
    team.get_document("members").cloned().unwrap_or_default()
}

/// Applies `request` for `user` inside `session`'s transaction.
pub async fn apply(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    request: &TeamRequest,
) -> Result<TeamOutcome, ServerError> {
    let team_id = request.team_id();
    let team = db
        .find_by_id(session, Collection::Teams, team_id)
        .await?
        .filter(|t| !is_deleted(t));
    if let TeamRequest::Create {
        name, description, ..
    } = request
    {
        return create(db, session, user, team_id, name, description.as_deref()).await;
    }
    let Some(team) = team else {
        return refused(
            TeamRefusal::NotFound,
            format!("no team `{team_id}` (or it was deleted)"),
        );
    };
    let actor = role_of(&team, user);
    match (request, actor) {
        (TeamRequest::Accept { .. }, _) => accept(db, session, user, team).await,
        (TeamRequest::Decline { .. }, _) => decline(db, session, user, team).await,
        (_, None) => refused(
            TeamRefusal::NotFound,
            format!("no team `{team_id}` you belong to"),
        ),
        (TeamRequest::Invite { email, role, .. }, Some(actor)) => {
            let role = role.unwrap_or(TeamRole::Editor);
            invite(db, session, user, actor, team, email, role).await
        }
        (
            TeamRequest::SetRole {
                user_id,
                role,
                permissions,
                ..
            },
            Some(actor),
        ) => set_role(db, session, user, actor, team, user_id, *role, permissions).await,
        (TeamRequest::Remove { user_id, .. }, Some(actor)) => {
            remove(db, session, user, actor, team, user_id).await
        }
        (TeamRequest::Leave { .. }, Some(actor)) => leave(db, session, user, actor, team).await,
        (TeamRequest::Transfer { user_id, .. }, Some(actor)) => {
            transfer(db, session, user, actor, team, user_id).await
        }
        (TeamRequest::Delete { .. }, Some(actor)) => delete(db, session, user, actor, team).await,
        (TeamRequest::Configure { .. }, Some(actor)) => {
            configure(db, session, actor, team, request).await
        }
        (TeamRequest::Create { .. }, Some(_)) => done(team),
    }
}

async fn create(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    team_id: &str,
    name: &str,
    description: Option<&str>,
) -> Result<TeamOutcome, ServerError> {
    if let Some(existing) = db.find_by_id(session, Collection::Teams, team_id).await? {
        // A resend of this user's own create is answered as done.
        if existing.get_str("created_by") == Ok(user) && !is_deleted(&existing) {
            return done(existing);
        }
        return refused(
            TeamRefusal::Invalid,
            format!("team_id `{team_id}` is taken; pick another"),
        );
    }
    let now = DateTime::now();
    let mut team = doc! {
        "_id": team_id,
        "name": name.trim(),
        "plan_type": "free",
        "members": { user: { "role": "owner", "joined_at": now, "permissions": [] } },
        "member_count": 1_i64,
        "resources": {
            "prompt_quota": 0_i64, "storage_quota": 0_i64, "ai_credits_quota": 0_i64,
            "prompts_used": 0_i64, "storage_used": 0_i64, "ai_credits_used": 0_i64,
        },
        "settings": {
            "visibility": "private", "allow_invites": false, "require_approval": false,
            "default_permissions": [],
        },
        "stats": {
            "total_prompts": 0_i64, "total_ideas": 0_i64, "total_projects": 0_i64,
            "active_members": 1_i64, "monthly_activity": {},
        },
        "created_at": now,
        "updated_at": now,
        "created_by": user,
    };
    if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
        team.insert("description", description.trim());
    }
    done(insert_new(db, session, Collection::Teams, team).await?)
}

/// A notification about team `team_id` for `user`.
async fn notify(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    team_id: &str,
    title: &str,
    message: &str,
) -> Result<(), ServerError> {
    let mut notification = notification(user, "info", "teams", title, message);
    notification.insert("action_text", "Open Teams");
    // The team's page on the web app; the desktop reads the id from it.
    notification.insert(
        "action_url",
        format!("https://promptforge.ai/teams/{team_id}"),
    );
    insert_new(db, session, Collection::Notifications, notification).await?;
    Ok(())
}
