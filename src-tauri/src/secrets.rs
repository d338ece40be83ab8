//! Where the refresh token lives: the system keyring (the Secret Service on
//! Linux, through the `keyring` crate), or, where no keyring is running, the
//! account file itself (mode 0600), the documented fallback. The account file
//! always records which, so a token is never looked for in the wrong place.
//! `PROMPTFORGE_KEYRING=off` keeps the token in the file.
//!
//! A keyring call may wait on an unlock prompt for as long as the user
//! takes (or for ever, with no prompter), so each runs on its own thread and
//! is given up after [`KEYRING_WAIT`]; the app never hangs on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The keyring service the app's secrets are filed under.
const SERVICE: &str = "ai.promptforge.desktop";
/// How long one keyring call may take before the app goes on without it.
const KEYRING_WAIT: Duration = Duration::from_secs(5);

/// Where a saved sign-in keeps its refresh token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretPlace {
    /// In the account file (the fallback, and what older versions wrote).
    #[default]
    File,
    Keyring,
}

/// What reading the keyring found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(String),
    /// The keyring answered: it holds no token (removed, or never stored).
    Missing,
    /// The keyring did not answer (locked, not started yet, gone).
    Unavailable,
}

/// Tokens this process has stored, so a refresh that changes nothing
/// writes nothing (and cannot raise an unlock prompt).
static STORED: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

fn keyring_allowed() -> bool {
    !matches!(
        std::env::var("PROMPTFORGE_KEYRING").as_deref(),
        Ok("off" | "0" | "false")
    )
}

/// Runs `op` on the entry for `data_dir` on its own thread; `None` when it
/// did not finish in time.
fn call<T: Send + 'static>(
    data_dir: &Path,
    op: impl FnOnce(keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> Option<keyring::Result<T>> {
    // One entry per data directory, so two installs (or test runs) never share.
    let user = format!("refresh-token {}", data_dir.display());
    let (answer, answered) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = answer.send(keyring::Entry::new(SERVICE, &user).and_then(op));
    });
    answered.recv_timeout(KEYRING_WAIT).ok()
}

fn remember(data_dir: &Path, token: Option<&str>) {
    let mut stored = STORED.lock().unwrap_or_else(|p| p.into_inner());
    let stored = stored.get_or_insert_with(HashMap::new);
    match token {
        Some(token) => stored.insert(data_dir.to_owned(), token.to_owned()),
        None => stored.remove(data_dir),
    };
}

/// Puts `token` in the keyring if one is running; says where it went.
pub fn store(data_dir: &Path, token: &str) -> SecretPlace {
    if !keyring_allowed() {
        return SecretPlace::File;
    }
    let unchanged = STORED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|stored| stored.get(data_dir))
        .is_some_and(|held| held == token);
    if unchanged {
        return SecretPlace::Keyring;
    }
    let secret = token.to_owned();
    match call(data_dir, move |entry| entry.set_password(&secret)) {
        Some(Ok(())) => {
            remember(data_dir, Some(token));
            SecretPlace::Keyring
        }
        Some(Err(err)) => {
            tracing::info!(error = %err, "no system keyring; the sign-in stays in the account file (0600)");
            SecretPlace::File
        }
        None => {
            tracing::warn!(
                "the keyring did not answer; the sign-in stays in the account file (0600)"
            );
            SecretPlace::File
        }
    }
}

/// The token the keyring holds for `data_dir`.
pub fn load(data_dir: &Path) -> Lookup {
    match call(data_dir, |entry| entry.get_password()) {
        Some(Ok(token)) => {
            remember(data_dir, Some(&token));
            Lookup::Found(token)
        }
        Some(Err(keyring::Error::NoEntry)) => Lookup::Missing,
        Some(Err(err)) => {
            tracing::warn!(error = %err, "the keyring could not be read");
            Lookup::Unavailable
        }
        None => {
            tracing::warn!("the keyring did not answer");
            Lookup::Unavailable
        }
    }
}

/// Removes the keyring's copy, if any (signing out). `held` says the
/// account file put it there, which holds even if the keyring is turned off now.
pub fn remove(data_dir: &Path, held: bool) {
    remember(data_dir, None);
    if !held && !keyring_allowed() {
        return;
    }
    match call(data_dir, |entry| entry.delete_credential()) {
        Some(Ok(()) | Err(keyring::Error::NoEntry)) => {}
        Some(Err(err)) => {
            tracing::warn!(error = %err, "the keyring's copy of the sign-in was not removed")
        }
        None => {
            tracing::warn!("the keyring did not answer; its copy of the sign-in was not removed")
        }
    }
}
