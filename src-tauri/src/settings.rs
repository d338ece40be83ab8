//! What the app remembers between launches: the user's settings and the
//! window's size and place (through tauri-plugin-store, `settings.json`), and
//! the signed-in account (`account.json`, written readable by the user only,
//! because it holds the refresh token).

use std::io::Write;
use std::path::{Path, PathBuf};

use promptforge_sync::engine::account::Session;
use promptforge_sync::schema::Theme;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreExt;

use promptforge_sync::insights::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};

use crate::distribution::Distribution;
use crate::error::{AppError, AppErrorCode, AppResult};
use crate::secrets::{self, SecretPlace};

const SETTINGS_KEY: &str = "settings";
const WINDOW_KEY: &str = "window";
const ACCOUNT_FILE: &str = "account.json";

/// The user's settings, as the Settings screen shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(default)]
pub struct Settings {
    /// The sync server, e.g. `https://sync.promptforge.ai`.
    pub server_url: Option<String>,
    pub theme: Theme,
    /// A BCP 47 tag such as `en` or `fr-CA`.
    pub language: String,
    pub firebase_api_key: Option<String>,
    pub firebase_project_id: Option<String>,
    /// Replaces Google's Firebase Auth hosts: the Auth emulator or a
    /// self-hosted service speaking the same API.
    pub auth_url: Option<String>,
    /// Record usage events (kept here, uploaded to the user's account); off
    /// means nothing is recorded or sent.
    pub analytics_enabled: bool,
    /// Days a usage event is kept before it is dropped, sent or not.
    pub analytics_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: None,
            theme: Theme::System,
            language: "en".to_owned(),
            firebase_api_key: None,
            firebase_project_id: None,
            auth_url: None,
            analytics_enabled: true,
            analytics_retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl Settings {
    /// Trims the text fields, turns blanks into "not set", and refuses values
    /// that cannot work, naming the field.
    pub fn normalised(mut self) -> AppResult<Settings> {
        for (field, value) in [
            ("server_url", &mut self.server_url),
            ("firebase_api_key", &mut self.firebase_api_key),
            ("firebase_project_id", &mut self.firebase_project_id),
            ("auth_url", &mut self.auth_url),
        ] {
            if let Some(text) = value.take() {
                let text = text.trim().to_owned();
                if text.len() > 2_000 {
                    return Err(AppError::invalid(format!("{field} is too long")));
                }
                if !text.is_empty() {
                    *value = Some(text);
                }
            }
        }
        for (field, url) in [
            ("Server URL", &self.server_url),
            ("Auth URL", &self.auth_url),
        ] {
            if let Some(url) = url {
                check_url(field, url)?;
            }
        }
        if !(1..=MAX_RETENTION_DAYS).contains(&self.analytics_retention_days) {
            return Err(AppError::invalid(format!(
                "analytics_retention_days must be 1 to {MAX_RETENTION_DAYS}, not {}",
                self.analytics_retention_days
            )));
        }
        self.language = self.language.trim().to_owned();
        let language_ok = !self.language.is_empty()
            && self.language.len() <= 35
            && self
                .language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !language_ok {
            return Err(AppError::invalid(format!(
                "language `{}` is not a language tag such as `en` or `fr-CA`",
                self.language
            )));
        }
        Ok(self)
    }
}

fn check_url(field: &str, url: &str) -> AppResult<()> {
    let parsed = tauri::Url::parse(url)
        .map_err(|why| AppError::invalid(format!("{field} `{url}` is not a URL: {why}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::invalid(format!(
            "{field} `{url}` must start with http:// or https:// and name a host"
        )));
    }
    Ok(())
}

/// The main window's last size and place, restored at launch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    pub width: f64,
    pub height: f64,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub maximized: bool,
}

impl Default for WindowState {
    fn default() -> Self {
        WindowState {
            width: 1280.0,
            height: 820.0,
            x: None,
            y: None,
            maximized: false,
        }
    }
}

fn settings_path(data_dir: &Path) -> PathBuf {
    data_dir.join("settings.json")
}

fn read_key<R: Runtime, T: serde::de::DeserializeOwned + Default>(
    app: &AppHandle<R>,
    data_dir: &Path,
    key: &str,
) -> T {
    let value = match app.store(settings_path(data_dir)) {
        Ok(store) => store.get(key),
        Err(err) => {
            tracing::warn!(error = %err, "settings file unreadable; using defaults");
            None
        }
    };
    match value.map(serde_json::from_value) {
        Some(Ok(value)) => value,
        Some(Err(err)) => {
            tracing::warn!(error = %err, key, "a stored setting does not fit; using the default");
            T::default()
        }
        None => T::default(),
    }
}

fn write_key<R: Runtime, T: Serialize>(
    app: &AppHandle<R>,
    data_dir: &Path,
    key: &str,
    value: &T,
) -> AppResult<()> {
    let failed = |err: &dyn std::fmt::Display| {
        AppError::new(
            AppErrorCode::Storage,
            format!("cannot save the settings: {err}"),
        )
    };
    let store = app.store(settings_path(data_dir)).map_err(|e| failed(&e))?;
    let value = serde_json::to_value(value).map_err(|e| failed(&e))?;
    store.set(key, value);
    store.save().map_err(|e| failed(&e))
}

/// The settings in effect: the user's own, and the distribution's defaults
/// for the server fields they left unset.
pub fn load<R: Runtime>(app: &AppHandle<R>, data_dir: &Path) -> Settings {
    Distribution::current().fill(read_key(app, data_dir, SETTINGS_KEY))
}

/// Saves what the user chose (values equal to the distribution's defaults
/// are not stored, so a newer distribution's defaults still apply).
pub fn save<R: Runtime>(app: &AppHandle<R>, data_dir: &Path, settings: &Settings) -> AppResult<()> {
    let own = Distribution::current().strip(settings.clone());
    write_key(app, data_dir, SETTINGS_KEY, &own)
}

pub fn load_window<R: Runtime>(app: &AppHandle<R>, data_dir: &Path) -> WindowState {
    read_key(app, data_dir, WINDOW_KEY)
}

pub fn save_window<R: Runtime>(app: &AppHandle<R>, data_dir: &Path, state: &WindowState) {
    if let Err(err) = write_key(app, data_dir, WINDOW_KEY, state) {
        tracing::warn!(error = %err, "window state not saved");
    }
}

/// The signed-in account: its session (tokens included), the server it
/// syncs with, and the profile directory its library lives in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub session: Session,
    pub server_url: String,
    pub profile: String,
}

/// The account file: the record, with the refresh token left out when the
/// system keyring holds it.
#[derive(Serialize, Deserialize)]
struct AccountFile {
    #[serde(flatten)]
    record: AccountRecord,
    #[serde(default)]
    refresh_token_in: SecretPlace,
}

pub fn load_account(data_dir: &Path) -> Option<AccountRecord> {
    let file = read_account_file(data_dir)?;
    let mut record = file.record;
    if file.refresh_token_in == SecretPlace::Keyring {
        let mut lookup = secrets::load(data_dir);
        // A keyring that starts with the desktop session may not answer yet.
        for _ in 0..2 {
            if lookup != secrets::Lookup::Unavailable {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            lookup = secrets::load(data_dir);
        }
        match lookup {
            secrets::Lookup::Found(token) => record.session.refresh_token = token,
            // Removed behind the app's back: signed out.
            secrets::Lookup::Missing => return None,
            // Still the account's library, so nothing switches under the
            // user; without a refresh token, sync asks them to sign in again
            // once the saved ID token expires.
            secrets::Lookup::Unavailable => record.session.refresh_token.clear(),
        }
    }
    Some(record)
}

fn read_account_file(data_dir: &Path) -> Option<AccountFile> {
    let path = data_dir.join(ACCOUNT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            tracing::warn!(error = %err, "account file unreadable; signed out");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(error = %err, "account file damaged; signed out");
            None
        }
    }
}

/// Serialises writers of the account file (a sign-in and a token refresh
/// may both save), so the temporary file is never written twice at once.
static ACCOUNT_WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes the account file atomically, readable and writable by its owner only.
pub fn save_account(data_dir: &Path, record: &AccountRecord) -> AppResult<()> {
    let _one_writer = ACCOUNT_WRITE.lock().unwrap_or_else(|p| p.into_inner());
    let failed = |err: std::io::Error| {
        AppError::new(
            AppErrorCode::Storage,
            format!("cannot save the sign-in: {err}"),
        )
    };
    let place = secrets::store(data_dir, &record.session.refresh_token);
    let mut record = record.clone();
    if place == SecretPlace::Keyring {
        record.session.refresh_token.clear();
    }
    let file = AccountFile {
        record,
        refresh_token_in: place,
    };
    let bytes = serde_json::to_vec_pretty(&file)
        .map_err(|err| AppError::new(AppErrorCode::Internal, err.to_string()))?;
    let temp = data_dir.join(format!("{ACCOUNT_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp).map_err(failed)?;
    #[cfg(unix)]
    {
        // `mode` applies only when the file is created; a leftover keeps its own.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    file.write_all(&bytes).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temp, data_dir.join(ACCOUNT_FILE)).map_err(failed)
}

pub fn forget_account(data_dir: &Path) -> AppResult<()> {
    let held = read_account_file(data_dir)
        .is_some_and(|file| file.refresh_token_in == SecretPlace::Keyring);
    secrets::remove(data_dir, held);
    match std::fs::remove_file(data_dir.join(ACCOUNT_FILE)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(AppError::new(
            AppErrorCode::Storage,
            format!("cannot forget the sign-in: {err}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_trimmed_and_bad_urls_named() -> AppResult<()> {
        let settings = Settings {
            server_url: Some("  https://sync.example.com ".into()),
            firebase_api_key: Some("   ".into()),
            ..Settings::default()
        }
        .normalised()?;
        assert_eq!(
            settings.server_url.as_deref(),
            Some("https://sync.example.com")
        );
        assert_eq!(settings.firebase_api_key, None);

        let err = Settings {
            server_url: Some("sync.example.com".into()),
            ..Settings::default()
        }
        .normalised()
        .err();
        assert!(err.is_some_and(|e| e.message.contains("Server URL")));
        for bad in ["http://[::1", "http://", "ftp://sync.example.com"] {
            let err = Settings {
                server_url: Some(bad.into()),
                ..Settings::default()
            }
            .normalised()
            .err();
            assert!(
                err.is_some_and(|e| e.message.contains("Server URL")),
                "{bad}"
            );
        }
        let err = Settings {
            language: "en us!".into(),
            ..Settings::default()
        }
        .normalised()
        .err();
        assert!(err.is_some_and(|e| e.message.contains("language")));
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn the_account_file_is_readable_by_its_owner_only() -> AppResult<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            tempfile::tempdir().map_err(|e| AppError::new(AppErrorCode::Storage, e.to_string()))?;
        let record = AccountRecord {
            session: Session {
                user_id: "u1".into(),
                email: "a@example.com".into(),
                id_token: "id".into(),
                refresh_token: "refresh".into(),
                expires_at: 1,
            },
            server_url: "http://127.0.0.1:1".into(),
            profile: "local".into(),
        };
        save_account(dir.path(), &record)?;
        let mode = std::fs::metadata(dir.path().join(ACCOUNT_FILE))
            .map_err(|e| AppError::new(AppErrorCode::Storage, e.to_string()))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_account(dir.path()), Some(record));
        forget_account(dir.path())?;
        assert_eq!(load_account(dir.path()), None);
        Ok(())
    }
}
