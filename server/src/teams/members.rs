//! Members and the team itself: roles, removal, leaving, handing over,
//! deleting and settings; and the one way a team is written.

use bson::{doc, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::schema::{Collection, TeamRole};
use promptforge_wire::teams::{TeamOutcome, TeamRefusal, TeamRequest};

use super::*;
use crate::db::Db;
use crate::error::ServerError;
use crate::market::write::overwrite;

/// Whether `actor` may change or remove a member who is `target` (and,
/// for a role change, make them `to`).
pub(super) fn may_manage(actor: TeamRole, target: TeamRole, to: Option<TeamRole>) -> bool {
    match actor {
        TeamRole::Owner => target != TeamRole::Owner,
        TeamRole::Admin => {
            rank(target) < rank(TeamRole::Admin)
                && to.is_none_or(|to| rank(to) < rank(TeamRole::Admin))
        }
        TeamRole::Editor | TeamRole::Viewer => false,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn set_role(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    actor: TeamRole,
    team: Document,
    target: &str,
    role: TeamRole,
    permissions: &Option<Vec<String>>,
) -> Result<TeamOutcome, ServerError> {
    if target == user {
        return refused(TeamRefusal::Forbidden, "nobody changes their own role");
    }
    let Some(current) = role_of(&team, target) else {
        return refused(
            TeamRefusal::NotFound,
            format!("`{target}` is not in the team"),
        );
    };
    if !may_manage(actor, current, Some(role)) {
        return refused(
            TeamRefusal::Forbidden,
            format!("you are {actor}: you cannot make a {current} {role}"),
        );
    }
    let mut members = members_of(&team);
    let mut member = members.get_document(target).cloned().unwrap_or_default();
    member.insert("role", role.as_str());
    if let Some(permissions) = permissions {
        member.insert("permissions", permissions.clone());
    }
    members.insert(target, member);
    let stored = write_team(db, session, &team, with_members(&team, members)).await?;
    let team_id = team.get_str("_id").unwrap_or_default();
    let message = format!("You are now {role} in {}.", name_of(&team));
    notify(
        db,
        session,
        target,
        team_id,
        "Your team role changed",
        &message,
    )
    .await?;
    done(stored)
}

pub(super) async fn remove(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    actor: TeamRole,
    team: Document,
    target: &str,
) -> Result<TeamOutcome, ServerError> {
    if target == user {
        return refused(TeamRefusal::Invalid, "to remove yourself, leave the team");
    }
    let Some(current) = role_of(&team, target) else {
        // Already out: what was asked is so.
        return done(team);
    };
    if current == TeamRole::Owner {
        return refused(
            TeamRefusal::OwnerStays,
            "the owner cannot be removed; they may transfer the team",
        );
    }
    if !may_manage(actor, current, None) {
        return refused(
            TeamRefusal::Forbidden,
            format!("you are {actor}: you cannot remove a {current}"),
        );
    }
    let stored = drop_member(db, session, &team, target).await?;
    let team_id = team.get_str("_id").unwrap_or_default();
    let message = format!("You were removed from {}.", name_of(&team));
    notify(
        db,
        session,
        target,
        team_id,
        "Removed from a team",
        &message,
    )
    .await?;
    done(stored)
}

pub(super) async fn leave(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    actor: TeamRole,
    team: Document,
) -> Result<TeamOutcome, ServerError> {
    if actor == TeamRole::Owner {
        return refused(
            TeamRefusal::OwnerStays,
            "the owner cannot leave: transfer the team to another member first, or delete it",
        );
    }
    drop_member(db, session, &team, user).await?;
    if let Some(owner) = owner_of(&team) {
        let team_id = team.get_str("_id").unwrap_or_default();
        let message = format!("{user} left {}.", name_of(&team));
        notify(db, session, &owner, team_id, "A member left", &message).await?;
    }
    Ok(TeamOutcome::Done {
        team: doc! { "_id": team.get_str("_id").unwrap_or_default(), "name": name_of(&team) },
    })
}

pub(super) async fn drop_member(
    db: &Db,
    session: &mut ClientSession,
    team: &Document,
    target: &str,
) -> Result<Document, ServerError> {
    let mut members = members_of(team);
    members.remove(target);
    write_team(db, session, team, with_members(team, members)).await
}

/// Writes the team like any server write, but leaves its readers as last
/// sequenced: the sequencer then sees who joined and who left, after the
/// commit, as it does for a team another backend changed. It re-numbers the
/// team's documents for newcomers (whose checkpoints are past them) and
/// records left-scope notices for leavers, judged on committed membership
/// (inside this transaction the old membership would still count).
pub(super) async fn write_team(
    db: &Db,
    session: &mut ClientSession,
    current: &Document,
    updated: Document,
) -> Result<Document, ServerError> {
    let stored = overwrite(db, session, Collection::Teams, current, updated).await?;
    keep_sequenced_readers(db, session, current).await?;
    Ok(stored)
}

/// Puts back the readers a team had when last sequenced, after a write of
/// it, so the sequencer (not this transaction, which sees the old
/// membership) works out who joined and who left since.
pub(crate) async fn keep_sequenced_readers(
    db: &Db,
    session: &mut ClientSession,
    current: &Document,
) -> Result<(), ServerError> {
    let id = current.get("_id").cloned().unwrap_or(bson::Bson::Null);
    db.collection(Collection::Teams)
        .update_one(
            doc! { "_id": id.clone() },
            doc! { "$set": { crate::db::SEQ_READERS: crate::db::sequenced_readers(current) } },
        )
        .session(&mut *session)
        .await?;
    // The batch's copy has the readers the write just stored: a later read
    // in this transaction must see the ones put back.
    db.forget(Collection::Teams, id.as_str().unwrap_or_default());
    Ok(())
}

pub(super) fn owner_of(team: &Document) -> Option<String> {
    team.get_document("members")
        .ok()?
        .iter()
        .find_map(|(id, m)| {
            let owner = m.as_document()?.get_str("role").ok()? == "owner";
            owner.then(|| id.clone())
        })
}

pub(super) async fn transfer(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    actor: TeamRole,
    team: Document,
    target: &str,
) -> Result<TeamOutcome, ServerError> {
    if actor != TeamRole::Owner {
        return refused(TeamRefusal::Forbidden, "only the owner hands the team over");
    }
    if target == user {
        return done(team);
    }
    if role_of(&team, target).is_none() {
        return refused(
            TeamRefusal::NotFound,
            format!("`{target}` is not in the team"),
        );
    }
    let mut members = members_of(&team);
    for (id, role) in [(target, "owner"), (user, "admin")] {
        let mut member = members.get_document(id).cloned().unwrap_or_default();
        member.insert("role", role);
        members.insert(id, member);
    }
    let stored = write_team(db, session, &team, with_members(&team, members)).await?;
    let team_id = team.get_str("_id").unwrap_or_default();
    let message = format!("You now own {}.", name_of(&team));
    notify(db, session, target, team_id, "A team is yours", &message).await?;
    done(stored)
}

pub(super) async fn delete(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    actor: TeamRole,
    team: Document,
) -> Result<TeamOutcome, ServerError> {
    if actor != TeamRole::Owner {
        return refused(TeamRefusal::Forbidden, "only the owner deletes the team");
    }
    let team_id = team.get_str("_id").unwrap_or_default().to_owned();
    let others: Vec<String> = members_of(&team)
        .keys()
        .filter(|id| *id != user)
        .cloned()
        .collect();
    // Emptied as well as marked: the members' scope shrinks as for any
    // removal, so their desktops drop the team's projects.
    let mut members = Document::new();
    if let Some(me) = members_of(&team).get(user) {
        members.insert(user, me.clone());
    }
    let mut updated = with_members(&team, members);
    updated.insert("deleted_at", DateTime::now());
    let stored = write_team(db, session, &team, updated).await?;
    let message = format!("{} was deleted by its owner.", name_of(&team));
    for member in others {
        notify(
            db,
            session,
            &member,
            &team_id,
            "A team was deleted",
            &message,
        )
        .await?;
    }
    db.db
        .collection::<Document>(INVITATIONS)
        .delete_many(doc! { "team_id": &team_id })
        .session(&mut *session)
        .await?;
    done(stored)
}

pub(super) async fn configure(
    db: &Db,
    session: &mut ClientSession,
    actor: TeamRole,
    team: Document,
    request: &TeamRequest,
) -> Result<TeamOutcome, ServerError> {
    let TeamRequest::Configure {
        name,
        description,
        allow_invites,
        require_approval,
        default_permissions,
        ..
    } = request
    else {
        return Err(ServerError::Internal(
            "configure called for another op".into(),
        ));
    };
    if rank(actor) < rank(TeamRole::Admin) {
        return refused(
            TeamRefusal::Forbidden,
            "only the team's owner and admins change its name and settings",
        );
    }
    let mut updated = team.clone();
    if let Some(name) = name {
        updated.insert("name", name.trim());
    }
    if let Some(description) = description {
        updated.insert("description", description.trim());
    }
    let mut settings = updated
        .get_document("settings")
        .cloned()
        .unwrap_or_default();
    if let Some(on) = allow_invites {
        settings.insert("allow_invites", *on);
    }
    if let Some(on) = require_approval {
        settings.insert("require_approval", *on);
    }
    if let Some(permissions) = default_permissions {
        settings.insert("default_permissions", permissions.clone());
    }
    updated.insert("settings", settings);
    if updated == team {
        return done(team);
    }
    done(write_team(db, session, &team, updated).await?)
}
