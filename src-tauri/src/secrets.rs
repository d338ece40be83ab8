//! Where the refresh token lives: the system keyring (the Secret Service on
//! Linux, through the `keyring` crate), or, where no keyring is running, the
//! account file itself (mode 0600), the documented fallback. The account file
//! always records which, so a token is never looked for in the wrong place.
//! `PROMPTFORGE_KEYRING=off` keeps the token in the file.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The keyring service the app's secrets are filed under.
const SERVICE: &str = "ai.promptforge.desktop";

/// Where a saved sign-in keeps its refresh token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretPlace {
    /// In the account file (the fallback, and what older versions wrote).
    #[default]
    File,
    Keyring,
}

fn keyring_allowed() -> bool {
    !matches!(
        std::env::var("PROMPTFORGE_KEYRING").as_deref(),
        Ok("off" | "0" | "false")
    )
}

/// One entry per data directory, so two installs (or test runs) never share.
fn entry(data_dir: &Path) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &format!("refresh-token {}", data_dir.display()))
}

/// Puts `token` in the keyring if one is running; says where it went.
pub fn store(data_dir: &Path, token: &str) -> SecretPlace {
    if !keyring_allowed() {
        return SecretPlace::File;
    }
    match entry(data_dir).and_then(|e| e.set_password(token)) {
        Ok(()) => SecretPlace::Keyring,
        Err(err) => {
            tracing::info!(error = %err, "no system keyring; the sign-in stays in the account file (0600)");
            SecretPlace::File
        }
    }
}

/// The token the keyring holds for `data_dir`, if it can be read.
pub fn load(data_dir: &Path) -> Option<String> {
    match entry(data_dir).and_then(|e| e.get_password()) {
        Ok(token) => Some(token),
        Err(err) => {
            tracing::warn!(error = %err, "the sign-in's token is not in the keyring; signed out");
            None
        }
    }
}

/// Removes the keyring's copy, if any (signing out).
pub fn remove(data_dir: &Path) {
    if !keyring_allowed() {
        return;
    }
    match entry(data_dir).and_then(|e| e.delete_credential()) {
        Ok(()) | Err(keyring::Error::NoEntry) => {}
        Err(err) => tracing::debug!(error = %err, "keyring not reachable while signing out"),
    }
}
