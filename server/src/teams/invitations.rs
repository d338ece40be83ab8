//! Invitations: asking someone in by email, and their yes or no.

use bson::{doc, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::schema::TeamRole;
use promptforge_wire::teams::{TeamOutcome, TeamRefusal};

use super::*;
use crate::db::Db;
use crate::error::ServerError;

#[allow(clippy::too_many_arguments)]
pub(super) async fn invite(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    actor: TeamRole,
    team: Document,
    email: &str,
    role: TeamRole,
) -> Result<TeamOutcome, ServerError> {
    let settings = team.get_document("settings").ok();
    let open_invites = settings
        .and_then(|s| s.get_bool("allow_invites").ok())
        .unwrap_or(false);
    let manager = rank(actor) >= rank(TeamRole::Admin);
    let may_invite = manager || (open_invites && actor == TeamRole::Editor);
    if !may_invite {
        return refused(
            TeamRefusal::Forbidden,
            "only the team's owner and admins invite (editors too when the team allows invites)",
        );
    }
    if rank(role) > rank(actor) {
        return refused(
            TeamRefusal::Forbidden,
            format!("you are {actor}: you cannot invite someone as {role}"),
        );
    }
    let Some(invitee) = crate::profiles::user_by_email(db, session, email).await? else {
        return refused(TeamRefusal::UnknownEmail, crate::profiles::UNKNOWN_EMAIL);
    };
    if role_of(&team, &invitee).is_some() {
        return refused(TeamRefusal::AlreadyMember, "they are in the team already");
    }
    let team_id = team.get_str("_id").unwrap_or_default();
    let needs_approval = settings
        .and_then(|s| s.get_bool("require_approval").ok())
        .unwrap_or(false)
        && !manager;
    let earlier = db
        .db
        .collection::<Document>(INVITATIONS)
        .find_one_and_update(
            doc! { "_id": format!("{team_id}/{invitee}") },
            doc! { "$set": {
                "team_id": team_id, "user_id": &invitee, "role": role.as_str(),
                "invited_by": user, "needs_approval": needs_approval, "at": DateTime::now(),
            } },
        )
        .upsert(true)
        .session(&mut *session)
        .await?;
    // A resent invitation is not news; one an admin just approved is.
    let told_before = earlier.is_some_and(|e| !e.get_bool("needs_approval").unwrap_or(false));
    if !needs_approval && !told_before {
        let message = format!(
            "You are invited to join {} as {role}. Accept or decline it in Teams.",
            name_of(&team)
        );
        notify(db, session, &invitee, team_id, "Team invitation", &message).await?;
    }
    done(team)
}

pub(super) async fn accept(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    team: Document,
) -> Result<TeamOutcome, ServerError> {
    if role_of(&team, user).is_some() {
        return done(team);
    }
    let team_id = team.get_str("_id").unwrap_or_default().to_owned();
    let invitations = db.db.collection::<Document>(INVITATIONS);
    let key = format!("{team_id}/{user}");
    let invitation = invitations
        .find_one(doc! { "_id": &key })
        .session(&mut *session)
        .await?;
    let Some(invitation) = invitation.filter(|i| !i.get_bool("needs_approval").unwrap_or(false))
    else {
        return refused(
            TeamRefusal::NotInvited,
            format!("no invitation to `{team_id}` waits for you (or it waits for an owner's or admin's approval)"),
        );
    };
    let permissions = team
        .get_document("settings")
        .ok()
        .and_then(|s| s.get_array("default_permissions").ok())
        .cloned()
        .unwrap_or_default();
    let invited_by = invitation.get_str("invited_by").unwrap_or_default();
    let role = invitation.get_str("role").unwrap_or("viewer");
    let mut member =
        doc! { "role": role, "joined_at": DateTime::now(), "permissions": permissions };
    if !invited_by.is_empty() {
        member.insert("invited_by", invited_by);
    }
    let mut members = members_of(&team);
    members.insert(user, member);
    let stored = write_team(db, session, &team, with_members(&team, members)).await?;
    invitations
        .delete_one(doc! { "_id": &key })
        .session(&mut *session)
        .await?;
    if !invited_by.is_empty() {
        let message = format!("{user} joined {} as {role}.", name_of(&team));
        notify(
            db,
            session,
            invited_by,
            &team_id,
            "Invitation accepted",
            &message,
        )
        .await?;
    }
    done(stored)
}

pub(super) async fn decline(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    team: Document,
) -> Result<TeamOutcome, ServerError> {
    let team_id = team.get_str("_id").unwrap_or_default().to_owned();
    let removed = db
        .db
        .collection::<Document>(INVITATIONS)
        .find_one_and_delete(doc! { "_id": format!("{team_id}/{user}") })
        .session(&mut *session)
        .await?;
    if let Some(inviter) = removed.as_ref().and_then(|i| i.get_str("invited_by").ok()) {
        let message = format!("{user} declined to join {}.", name_of(&team));
        notify(
            db,
            session,
            inviter,
            &team_id,
            "Invitation declined",
            &message,
        )
        .await?;
    }
    // Someone who declined sees no more of the team than its name.
    Ok(TeamOutcome::Done {
        team: doc! { "_id": &team_id, "name": name_of(&team) },
    })
}
