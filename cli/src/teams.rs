//! Team and sharing commands: forming a team, invitations, roles, leaving,
//! and sharing one document by email. Membership and sharing are the
//! server's to decide, so every change is online; `team list` and
//! `team members` read the library as last synced.

use anyhow::{bail, Context};
use promptforge_sync::schema::{Team, TeamRole};
use promptforge_sync::{ListQuery, Store};
use promptforge_wire::schema::Collection;
use promptforge_wire::share::{ShareOutcome, SharePermission, ShareRequest};
use promptforge_wire::teams::{TeamOutcome, TeamRequest};

use crate::args::{Online, ShareCommand, Shareable, TeamCommand};
use crate::output::{out, Output};
use crate::sync::connect;

pub(crate) async fn team(store: &Store, out: &Output, command: TeamCommand) -> anyhow::Result<()> {
    let (request, online) = match command {
        TeamCommand::List => return list(store, out).await,
        TeamCommand::Members { team } => return members(store, out, &team).await,
        TeamCommand::Create {
            name,
            description,
            online,
        } => (
            TeamRequest::Create {
                team_id: promptforge_sync::schema::new_id(),
                name,
                description,
            },
            online,
        ),
        TeamCommand::Invite {
            team,
            email,
            role,
            online,
        } => (
            TeamRequest::Invite {
                team_id: team,
                email,
                role: Some(role_named(&role)?),
            },
            online,
        ),
        TeamCommand::Accept { team, online } => (TeamRequest::Accept { team_id: team }, online),
        TeamCommand::Decline { team, online } => (TeamRequest::Decline { team_id: team }, online),
        TeamCommand::Role {
            team,
            user,
            role,
            online,
        } => (
            TeamRequest::SetRole {
                team_id: team,
                user_id: user,
                role: role_named(&role)?,
                permissions: None,
            },
            online,
        ),
        TeamCommand::Remove { team, user, online } => (
            TeamRequest::Remove {
                team_id: team,
                user_id: user,
            },
            online,
        ),
        TeamCommand::Leave { team, online } => (TeamRequest::Leave { team_id: team }, online),
        TeamCommand::Transfer { team, user, online } => (
            TeamRequest::Transfer {
                team_id: team,
                user_id: user,
            },
            online,
        ),
        TeamCommand::Delete { team, online } => (TeamRequest::Delete { team_id: team }, online),
    };
    let team = send(store, online, &request).await?;
    let name = team.get_str("name").unwrap_or_default();
    let id = request.team_id();
    match request {
        TeamRequest::Create { .. } => out!("{id}"),
        TeamRequest::Invite { email, .. } => out!("invited {email} to {name}"),
        TeamRequest::Accept { .. } => out!("joined {name}; its projects are in your library"),
        TeamRequest::Decline { .. } => out!("declined the invitation to {name}"),
        TeamRequest::SetRole { user_id, role, .. } => out!("{user_id} is now {role} in {name}"),
        TeamRequest::Remove { user_id, .. } => out!("removed {user_id} from {name}"),
        TeamRequest::Leave { .. } => out!("left {name}"),
        TeamRequest::Transfer { user_id, .. } => out!("{user_id} now owns {name}"),
        TeamRequest::Delete { .. } => out!("deleted {name}"),
        TeamRequest::Configure { .. } => out!("updated {name}"),
    }
    Ok(())
}

fn role_named(role: &str) -> anyhow::Result<TeamRole> {
    role.parse::<TeamRole>()
        .map_err(|e| anyhow::anyhow!("role: {e}"))
}

/// Sends `request` (syncing around it) and turns a refusal into an error.
async fn send(
    store: &Store,
    online: Online,
    request: &TeamRequest,
) -> anyhow::Result<bson::Document> {
    let (_, engine) = connect(store, online).await?;
    match engine.team(request).await? {
        TeamOutcome::Done { team } => Ok(team),
        TeamOutcome::Refused { reason, message } => {
            let reason = serde_json::to_value(reason).unwrap_or_default();
            bail!(
                "refused ({}): {message}",
                reason.as_str().unwrap_or("refused")
            )
        }
    }
}

async fn teams(store: &Store) -> anyhow::Result<Vec<Team>> {
    Ok(store
        .list::<Team>(ListQuery {
            limit: ListQuery::MAX_LIMIT,
            ..ListQuery::default()
        })
        .await?
        .items)
}

async fn list(store: &Store, out: &Output) -> anyhow::Result<()> {
    let teams = teams(store).await?;
    if out.json {
        return out.docs(&teams, None);
    }
    if teams.is_empty() {
        out!("no teams yet; `promptforge team create NAME` forms one");
    }
    let me = store.user_id();
    for team in &teams {
        let role = team
            .members
            .get(&me)
            .map(|m| m.role.as_str())
            .unwrap_or("-");
        out!(
            "{}  {:<24}  {:>2} members  you: {role}",
            team.id,
            team.name,
            team.member_count
        );
    }
    Ok(())
}

async fn members(store: &Store, out: &Output, team: &str) -> anyhow::Result<()> {
    let team: Team = store
        .require(team)
        .await
        .context("no such team in your library; run `promptforge sync` first")?;
    if out.json {
        return out.doc(&team);
    }
    for (user, member) in &team.members {
        out!(
            "{user:<28}  {:<6}  joined {}",
            member.role.as_str(),
            member.joined_at
        );
    }
    Ok(())
}

pub(crate) async fn share(
    store: &Store,
    out: &Output,
    command: ShareCommand,
) -> anyhow::Result<()> {
    let collection = |kind| match kind {
        Shareable::Prompt => Collection::Prompts,
        Shareable::Idea => Collection::Ideas,
        Shareable::Project => Collection::Projects,
    };
    let (request, online) = match command {
        ShareCommand::Add {
            kind,
            id,
            email,
            permission,
            online,
        } => {
            let permission = match permission.as_str() {
                "read" => SharePermission::Read,
                "write" => SharePermission::Write,
                other => bail!("permission: `{other}` is neither read nor write"),
            };
            let request = ShareRequest::Share {
                collection: collection(kind),
                id,
                email,
                permission,
            };
            (request, online)
        }
        ShareCommand::Remove {
            kind,
            id,
            user,
            online,
        } => {
            let request = ShareRequest::Unshare {
                collection: collection(kind),
                id,
                user_id: user,
            };
            (request, online)
        }
        ShareCommand::List { kind, id, online } => (
            ShareRequest::List {
                collection: collection(kind),
                id,
            },
            online,
        ),
    };
    let (_, engine) = connect(store, online).await?;
    let shared_with = match engine.share(&request).await? {
        ShareOutcome::Done { shared_with, .. } => shared_with,
        ShareOutcome::Refused { reason, message } => {
            let reason = serde_json::to_value(reason).unwrap_or_default();
            bail!(
                "refused ({}): {message}",
                reason.as_str().unwrap_or("refused")
            )
        }
    };
    if out.json {
        out!("{}", serde_json::to_string_pretty(&shared_with)?);
        return Ok(());
    }
    if shared_with.is_empty() {
        out!("shared with nobody");
    }
    for person in &shared_with {
        out!(
            "{:<28}  {:<5}  {}",
            person.user_id,
            person.permission.as_str(),
            person.display_name.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
