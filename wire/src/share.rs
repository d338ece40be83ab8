//! Sharing one prompt, idea or project with named people (`POST /v1/share`),
//! shared by the desktop, the CLI and the sync server. The owner names a
//! person by email; the server, which alone knows emails, resolves it,
//! writes the document's sharing fields in one transaction and tells the
//! person. The shared document then reaches them, or leaves them, through
//! the ordinary pull. Every operation is idempotent.

use serde::{Deserialize, Serialize};

use crate::schema::Collection;

/// The route every sharing operation is posted to.
pub const SHARE_PATH: &str = "/v1/share";
/// The most people one document is shared with.
pub const MAX_SHARES: usize = 100;

/// What a person a document is shared with may do with it. Stored for
/// prompts and projects in `collaboration.permissions.<user_id>`; ideas
/// keep only `shared_with`, so an idea is shared to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SharePermission {
    Read,
    Write,
}

impl SharePermission {
    pub fn as_str(self) -> &'static str {
        match self {
            SharePermission::Read => "read",
            SharePermission::Write => "write",
        }
    }
}

/// One sharing operation; `op` names it. Only the document's owner may ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShareRequest {
    /// Shares the document with the account using `email`, or changes that
    /// person's permission.
    Share {
        collection: Collection,
        id: String,
        email: String,
        permission: SharePermission,
    },
    /// Takes the document back from `user_id` (one of its `shared_with`).
    Unshare {
        collection: Collection,
        id: String,
        user_id: String,
    },
    /// Who the document is shared with.
    List { collection: Collection, id: String },
}

impl ShareRequest {
    pub fn collection(&self) -> Collection {
        match self {
            ShareRequest::Share { collection, .. }
            | ShareRequest::Unshare { collection, .. }
            | ShareRequest::List { collection, .. } => *collection,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            ShareRequest::Share { id, .. }
            | ShareRequest::Unshare { id, .. }
            | ShareRequest::List { id, .. } => id,
        }
    }

    /// The operation's name, as in `op`.
    pub fn op(&self) -> &'static str {
        match self {
            ShareRequest::Share { .. } => "share",
            ShareRequest::Unshare { .. } => "unshare",
            ShareRequest::List { .. } => "list",
        }
    }
}

/// One person a document is shared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SharedWith {
    pub user_id: String,
    /// Their profile name; `null` when they have none (their email is not
    /// told: the owner typed it, or it was never theirs to learn).
    pub display_name: Option<String>,
    pub permission: SharePermission,
}

/// Why the server would not do it. Refusals change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ShareRefusal {
    /// No such document the caller can read (or it was deleted).
    NotFound,
    /// The caller reads it but does not own it.
    Forbidden,
    /// No account uses that email.
    UnknownEmail,
    /// A field is malformed (the message names it), the document is shared
    /// with the most people it may be, or the request shares an idea to
    /// write or a document with its owner.
    Invalid,
}

/// The answer to every sharing operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ShareOutcome {
    /// Done: the document's version as now stored and who it is shared with.
    Done {
        version: i64,
        shared_with: Vec<SharedWith>,
    },
    Refused {
        reason: ShareRefusal,
        message: String,
    },
}

impl ShareOutcome {
    pub fn refused(reason: ShareRefusal, message: impl Into<String>) -> ShareOutcome {
        ShareOutcome::Refused {
            reason,
            message: message.into(),
        }
    }
}

/// Why a request is malformed, before anything is read (the server answers
/// `refused`/`invalid` with it).
pub fn check_request(request: &ShareRequest) -> Result<(), String> {
    if !matches!(
        request.collection(),
        Collection::Prompts | Collection::Ideas | Collection::Projects
    ) {
        return Err("collection must be prompts, ideas or projects".into());
    }
    let id = request.id();
    if id.is_empty() || id.len() > 128 {
        return Err("id must be 1-128 characters".into());
    }
    match request {
        ShareRequest::Share {
            collection,
            email,
            permission,
            ..
        } => {
            let email = email.trim();
            if !email.contains('@') || email.len() > 254 {
                return Err("email must be an email address".into());
            }
            if *collection == Collection::Ideas && *permission == SharePermission::Write {
                return Err(
                    "permission: ideas are shared to read (an idea keeps no permissions)".into(),
                );
            }
        }
        ShareRequest::Unshare { user_id, .. } => {
            if user_id.is_empty() || user_id.len() > 128 || user_id.contains(['.', '$']) {
                return Err("user_id must be 1-128 characters, without `.` or `$`".into());
            }
        }
        ShareRequest::List { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_op_and_unknown_fields_refused() {
        let share: Result<ShareRequest, _> = serde_json::from_str(
            r#"{"op":"share","collection":"prompts","id":"p1","email":"g@x.io","permission":"read"}"#,
        );
        assert_eq!(
            share.ok(),
            Some(ShareRequest::Share {
                collection: Collection::Prompts,
                id: "p1".into(),
                email: "g@x.io".into(),
                permission: SharePermission::Read,
            })
        );
        for bad in [
            r#"{"op":"list","collection":"prompts","id":"p1","user_id":"u"}"#,
            r#"{"op":"share","collection":"prompts","id":"p1","email":"g@x.io","permission":"own"}"#,
            r#"{"op":"share","collection":"prompts","id":"p1","email":"g@x.io"}"#,
            r#"{"op":"take","collection":"prompts","id":"p1"}"#,
        ] {
            assert!(serde_json::from_str::<ShareRequest>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_requests_name_their_field() {
        let share = |collection, id: &str, email: &str, permission| ShareRequest::Share {
            collection,
            id: id.into(),
            email: email.into(),
            permission,
        };
        let cases = [
            (
                share(Collection::Teams, "t1", "g@x.io", SharePermission::Read),
                "collection",
            ),
            (
                share(Collection::Prompts, "", "g@x.io", SharePermission::Read),
                "id",
            ),
            (
                share(Collection::Prompts, "p1", "nobody", SharePermission::Read),
                "email",
            ),
            (
                share(Collection::Ideas, "i1", "g@x.io", SharePermission::Write),
                "permission",
            ),
            (
                ShareRequest::Unshare {
                    collection: Collection::Projects,
                    id: "j1".into(),
                    user_id: "a.b".into(),
                },
                "user_id",
            ),
        ];
        for (request, field) in cases {
            let message = check_request(&request).expect_err(field);
            assert!(message.starts_with(field), "{message}");
        }
        assert!(check_request(&share(
            Collection::Ideas,
            "i1",
            "g@x.io",
            SharePermission::Read
        ))
        .is_ok());
    }
}
