//! Team operations (`POST /v1/teams`), shared by the desktop, the CLI and
//! the sync server. Like money, membership is the server's to decide: a
//! client asks, the server checks who may do what and writes the team in one
//! transaction, and the changed team (and the documents it opens or closes)
//! reach every desktop through the ordinary pull. Every operation is
//! idempotent: asking again for what is already so answers `done`.

use bson::Document;
use serde::{Deserialize, Serialize};

use crate::schema::TeamRole;

/// The route every team operation is posted to.
pub const TEAMS_PATH: &str = "/v1/teams";
/// The longest team name.
pub const MAX_TEAM_NAME: usize = 100;

/// One team operation; `op` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum TeamRequest {
    /// A new team with the caller as its owner. The client picks the id
    /// (a resend of the same create answers `done`).
    Create {
        team_id: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// Invites the account with this email (owners and admins; any member
    /// when the team's `settings.allow_invites` is on). The role defaults to
    /// `editor` and may not be above the inviter's own.
    Invite {
        team_id: String,
        email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<TeamRole>,
    },
    /// The invited user joins.
    Accept { team_id: String },
    /// The invited user says no; the invitation goes.
    Decline { team_id: String },
    /// Changes another member's role and, optionally, permissions (owners,
    /// and admins for editors and viewers). Nobody changes their own.
    SetRole {
        team_id: String,
        user_id: String,
        role: TeamRole,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        permissions: Option<Vec<String>>,
    },
    /// Removes another member (owners; admins for editors and viewers).
    Remove { team_id: String, user_id: String },
    /// The caller leaves (an owner hands the team over first).
    Leave { team_id: String },
    /// The owner makes another member the owner, and becomes an admin.
    Transfer { team_id: String, user_id: String },
    /// The owner deletes the team (soft): its members lose its projects.
    Delete { team_id: String },
    /// Renames the team or changes its settings (owners and admins); only
    /// the fields given change.
    Configure {
        team_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_invites: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        require_approval: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default_permissions: Option<Vec<String>>,
    },
}

impl TeamRequest {
    pub fn team_id(&self) -> &str {
        match self {
            TeamRequest::Create { team_id, .. }
            | TeamRequest::Invite { team_id, .. }
            | TeamRequest::Accept { team_id }
            | TeamRequest::Decline { team_id }
            | TeamRequest::SetRole { team_id, .. }
            | TeamRequest::Remove { team_id, .. }
            | TeamRequest::Leave { team_id }
            | TeamRequest::Transfer { team_id, .. }
            | TeamRequest::Delete { team_id }
            | TeamRequest::Configure { team_id, .. } => team_id,
        }
    }

    /// The operation's name, as in `op`.
    pub fn op(&self) -> &'static str {
        match self {
            TeamRequest::Create { .. } => "create",
            TeamRequest::Invite { .. } => "invite",
            TeamRequest::Accept { .. } => "accept",
            TeamRequest::Decline { .. } => "decline",
            TeamRequest::SetRole { .. } => "set_role",
            TeamRequest::Remove { .. } => "remove",
            TeamRequest::Leave { .. } => "leave",
            TeamRequest::Transfer { .. } => "transfer",
            TeamRequest::Delete { .. } => "delete",
            TeamRequest::Configure { .. } => "configure",
        }
    }
}

/// Why the server would not do it. Refusals change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum TeamRefusal {
    /// No such team (or a deleted one), or none the caller belongs to.
    NotFound,
    /// The caller's role does not allow it.
    Forbidden,
    /// No account uses that email.
    UnknownEmail,
    AlreadyMember,
    /// No invitation waits for the caller (or it waits for an owner's or
    /// admin's approval).
    NotInvited,
    /// The owner cannot leave or be removed: transfer the team first.
    OwnerStays,
    /// A field is malformed (the message names it), or the id is taken.
    Invalid,
}

/// The answer to every team operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TeamOutcome {
    /// Done: the team as now stored (after `decline`, the team's public
    /// face: id and name only).
    Done {
        #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
        #[serde(with = "crate::protocol::ext_json")]
        team: Document,
    },
    Refused {
        reason: TeamRefusal,
        message: String,
    },
}

impl TeamOutcome {
    pub fn refused(reason: TeamRefusal, message: impl Into<String>) -> TeamOutcome {
        TeamOutcome::Refused {
            reason,
            message: message.into(),
        }
    }
}

/// Why a request is malformed, before anything is read (the server answers
/// `refused`/`invalid` with it).
pub fn check_request(request: &TeamRequest) -> Result<(), String> {
    let id = request.team_id();
    if id.is_empty() || id.len() > 128 || id.contains(['.', '$']) {
        return Err("team_id must be 1-128 characters, without `.` or `$`".into());
    }
    match request {
        TeamRequest::Create { name, .. } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_TEAM_NAME {
                return Err(format!("name must be 1-{MAX_TEAM_NAME} characters"));
            }
        }
        TeamRequest::Invite { email, role, .. } => {
            if !email.contains('@') || email.len() > 254 {
                return Err("email must be an email address".into());
            }
            if *role == Some(TeamRole::Owner) {
                return Err("role: nobody is invited as owner; transfer the team instead".into());
            }
        }
        TeamRequest::SetRole {
            user_id,
            role,
            permissions,
            ..
        } => {
            check_user(user_id)?;
            if *role == TeamRole::Owner {
                return Err("role: owner is given by transfer, not set".into());
            }
            check_permissions(permissions.as_deref(), "permissions")?;
        }
        TeamRequest::Remove { user_id, .. } | TeamRequest::Transfer { user_id, .. } => {
            check_user(user_id)?;
        }
        TeamRequest::Configure {
            name,
            default_permissions,
            ..
        } => {
            if name
                .as_ref()
                .is_some_and(|n| n.trim().is_empty() || n.chars().count() > MAX_TEAM_NAME)
            {
                return Err(format!("name must be 1-{MAX_TEAM_NAME} characters"));
            }
            check_permissions(default_permissions.as_deref(), "default_permissions")?;
        }
        _ => {}
    }
    Ok(())
}

fn check_permissions(permissions: Option<&[String]>, field: &str) -> Result<(), String> {
    if permissions.is_some_and(|p| p.len() > 32 || p.iter().any(|p| p.is_empty() || p.len() > 64)) {
        return Err(format!("{field}: at most 32 names of 1-64 characters"));
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > 128 || user.contains(['.', '$']) {
        return Err("user_id must be 1-128 characters, without `.` or `$`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_op_and_unknown_fields_refused() {
        let invite: Result<TeamRequest, _> =
            serde_json::from_str(r#"{"op":"invite","team_id":"t1","email":"g@x.io"}"#);
        assert_eq!(
            invite.ok(),
            Some(TeamRequest::Invite {
                team_id: "t1".into(),
                email: "g@x.io".into(),
                role: None
            })
        );
        let extra: Result<TeamRequest, _> =
            serde_json::from_str(r#"{"op":"leave","team_id":"t1","user_id":"someone"}"#);
        assert!(extra.is_err());
        let unknown: Result<TeamRequest, _> =
            serde_json::from_str(r#"{"op":"promote_me","team_id":"t1"}"#);
        assert!(unknown.is_err());
    }

    #[test]
    fn malformed_requests_name_their_field() {
        let bad = [
            (
                TeamRequest::Create {
                    team_id: "t1".into(),
                    name: "  ".into(),
                    description: None,
                },
                "name",
            ),
            (
                TeamRequest::Leave {
                    team_id: "a.b".into(),
                },
                "team_id",
            ),
            (
                TeamRequest::Invite {
                    team_id: "t1".into(),
                    email: "nobody".into(),
                    role: None,
                },
                "email",
            ),
            (
                TeamRequest::Invite {
                    team_id: "t1".into(),
                    email: "g@x.io".into(),
                    role: Some(TeamRole::Owner),
                },
                "role",
            ),
            (
                TeamRequest::SetRole {
                    team_id: "t1".into(),
                    user_id: "$x".into(),
                    role: TeamRole::Editor,
                    permissions: None,
                },
                "user_id",
            ),
            (
                TeamRequest::SetRole {
                    team_id: "t1".into(),
                    user_id: "u".into(),
                    role: TeamRole::Owner,
                    permissions: None,
                },
                "role",
            ),
        ];
        for (request, field) in bad {
            let error = check_request(&request).err().unwrap_or_default();
            assert!(error.contains(field), "{request:?}: {error}");
        }
    }
}
