//! Presence and soft locks on prompts (`PUT /v1/presence`, and the live
//! channel's `presence` event): who has a prompt open, who is typing in it,
//! and who holds its soft lock.
//!
//! Presence is ephemeral by design. It is never written to the prompt, so it
//! never moves the pull cursor or adds a version; it lives on the server for
//! a short time-to-live that each open editor renews. The seed's
//! `collaboration.active_editors` and `collaboration.lock_expiry` name what
//! [`PresenceState`] carries. A soft lock is advice to collaborators: it
//! never refuses an edit, online or offline.

use serde::{Deserialize, Serialize};

/// The route a client reports its presence on.
pub const PRESENCE_PATH: &str = "/v1/presence";
/// The longest soft lock a client may take, in seconds.
pub const MAX_LOCK_SECS: u32 = 3600;
/// The longest prompt id the route accepts.
pub const MAX_PROMPT_ID_LEN: usize = 128;

/// "I have this prompt open" (or no longer have it, with `open: false`).
/// Sent when an editor opens or closes a prompt, when its unsaved state
/// changes, and at least every third of the answer's `ttl_secs` while open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    pub prompt_id: String,
    /// Which of the user's devices (the sync client id): a user with the
    /// prompt open on two laptops is present twice.
    pub client_id: String,
    /// `false` when the editor closed: the entry and any lock this device
    /// held go at once.
    pub open: bool,
    /// The editor holds unsaved changes (typing).
    #[serde(default)]
    pub editing: bool,
    /// Take the soft lock, or renew it, for this many seconds from now
    /// (1 to [`MAX_LOCK_SECS`]). Needs write access to the prompt. Not
    /// granted while someone else holds an unexpired lock.
    #[serde(default)]
    pub lock_secs: Option<u32>,
    /// Give up the lock this device holds.
    #[serde(default)]
    pub release_lock: bool,
}

/// One device with the prompt open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PresentEditor {
    pub user_id: String,
    /// The user's `display_name`, when their profile has one.
    pub display_name: Option<String>,
    pub client_id: String,
    pub editing: bool,
    /// When the entry lapses unless renewed (milliseconds since the epoch,
    /// server clock).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_at_ms: i64,
}

/// Who has a prompt open and who holds its soft lock, as of `server_time_ms`.
/// Entries and the lock lapse by themselves at their times: a client
/// measures them against `server_time_ms`, not its own clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PresenceState {
    pub prompt_id: String,
    pub present: Vec<PresentEditor>,
    /// The users typing in it now (the seed's `collaboration.active_editors`).
    pub active_editors: Vec<String>,
    pub lock: Option<SoftLock>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub server_time_ms: i64,
    /// How long an entry lives without renewal.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ttl_secs: u64,
}

/// A soft lock: advice that `user_id` is working on the prompt until
/// `lock_expiry_ms` (the seed's `collaboration.lock_expiry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SoftLock {
    pub user_id: String,
    pub display_name: Option<String>,
    pub client_id: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub lock_expiry_ms: i64,
}

/// Why a presence request is malformed (the server answers 400 with it).
pub fn check_request(request: &PresenceRequest) -> Result<(), String> {
    let id = &request.prompt_id;
    if id.is_empty() || id.len() > MAX_PROMPT_ID_LEN {
        return Err(format!(
            "prompt_id must be 1-{MAX_PROMPT_ID_LEN} characters"
        ));
    }
    if let Some(secs) = request.lock_secs {
        if !(1..=MAX_LOCK_SECS).contains(&secs) {
            return Err(format!("lock_secs must be 1-{MAX_LOCK_SECS}"));
        }
        if request.release_lock || !request.open {
            return Err(
                "lock_secs takes the lock: it cannot go with release_lock or open: false".into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PresenceRequest {
        PresenceRequest {
            prompt_id: "p1".into(),
            client_id: "c1".into(),
            open: true,
            editing: false,
            lock_secs: None,
            release_lock: false,
        }
    }

    #[test]
    fn a_request_is_checked_field_by_field() {
        assert_eq!(check_request(&request()), Ok(()));
        let empty = PresenceRequest {
            prompt_id: String::new(),
            ..request()
        };
        assert!(check_request(&empty).is_err_and(|e| e.contains("prompt_id")));
        for secs in [0, MAX_LOCK_SECS + 1] {
            let bad = PresenceRequest {
                lock_secs: Some(secs),
                ..request()
            };
            assert!(check_request(&bad).is_err_and(|e| e.contains("lock_secs")));
        }
        let both = PresenceRequest {
            lock_secs: Some(60),
            release_lock: true,
            ..request()
        };
        assert!(check_request(&both).is_err());
        let closing = PresenceRequest {
            lock_secs: Some(60),
            open: false,
            ..request()
        };
        assert!(check_request(&closing).is_err());
    }

    #[test]
    fn optional_fields_default_and_unknown_ones_are_refused() {
        let minimal: Result<PresenceRequest, _> =
            serde_json::from_str(r#"{"prompt_id":"p1","client_id":"c1","open":true}"#);
        assert_eq!(minimal.ok(), Some(request()));
        let extra: Result<PresenceRequest, _> = serde_json::from_str(
            r#"{"prompt_id":"p1","client_id":"c1","open":true,"user_id":"someone"}"#,
        );
        assert!(extra.is_err());
    }
}
