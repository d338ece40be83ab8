//! App-level commands: what the app is and where its files are, settings,
//! signing in and out, and the UI's "first screen drawn" signal.

use serde::Serialize;
use tauri::{AppHandle, Runtime, State};

use crate::error::AppResult;
use crate::library::{AccountInfo, AppState};
use crate::settings::{self, Settings};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AppInfo {
    pub version: String,
    pub profile_dir: String,
    pub log_dir: String,
    /// The id the library's documents are owned by (`local-…` before sign-in).
    pub user_id: String,
    pub account: Option<AccountInfo>,
    /// Prompts, ideas, projects and listings in the library.
    pub local_documents: u64,
}

#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> AppResult<AppInfo> {
    let store = state.current().await?.store;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        profile_dir: state
            .profile_dir_in_use()
            .await
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        log_dir: state.options.log_dir.display().to_string(),
        user_id: store.user_id(),
        account: state.account(),
        local_documents: AppState::library_size(&store),
    })
}

#[tauri::command]
pub fn get_settings<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> Settings {
    settings::load(&app, &state.options.data_dir)
}

#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> AppResult<Settings> {
    let settings = settings.normalised()?;
    settings::save(&app, &state.options.data_dir, &settings)?;
    state.apply_analytics(&settings).await;
    Ok(settings)
}

#[tauri::command]
pub async fn sign_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    email: String,
    password: String,
    attach_library: bool,
) -> AppResult<AccountInfo> {
    state.sign_in(&app, &email, &password, attach_library).await
}

/// Creates an account with email and password and signs it in.
#[tauri::command]
pub async fn sign_up<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    email: String,
    password: String,
    attach_library: bool,
) -> AppResult<AccountInfo> {
    state.sign_up(&app, &email, &password, attach_library).await
}

/// Emails a password-reset link.
#[tauri::command]
pub async fn send_password_reset<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    email: String,
) -> AppResult<()> {
    state.send_password_reset(&app, &email).await
}

#[tauri::command]
pub async fn sign_out<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> AppResult<()> {
    state.sign_out(&app).await
}

/// The UI has drawn its first screen: logged once with the time since
/// launch. With `PROMPTFORGE_EXIT_WHEN_READY` set (the startup benchmark),
/// the time is printed and the app quits.
#[tauri::command]
pub fn ui_ready<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) {
    if let Some(millis) = state.first_ready() {
        tracing::info!(millis = millis as u64, "window interactive");
        if std::env::var_os("PROMPTFORGE_EXIT_WHEN_READY").is_some() {
            println!("ready_ms={millis}");
            app.exit(0);
        }
    }
}
