//! PromptForge Desktop: the Tauri 2 shell around `promptforge-sync`.
//!
//! - [`commands`]: the IPC commands, each a few lines over the store or the engine.
//! - [`library`]: the open profile (store plus background sync) the commands act
//!   on, opened off the main thread and switched on sign-in.
//! - [`settings`]: user settings and window state (tauri-plugin-store) and the
//!   signed-in account file (owner-only permissions).
//! - [`ui_json`]: documents to and from the UI as relaxed Extended JSON.
//! - [`error`]: the `{code, message}` error every command returns.
//! - [`instance`]: one process per data directory; a second launch focuses the first.
//! - [`logging`]: `tracing` to a daily-rotated file in the log directory.

#[cfg(test)]
mod bindings;
pub mod commands;
pub mod distribution;
pub mod error;
pub mod instance;
pub mod library;
pub mod logging;
pub mod secrets;
pub mod settings;
pub mod ui_json;

use std::path::PathBuf;
use std::time::Instant;

use tauri::{
    App, Builder, Context, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent,
};

pub use error::{AppError, AppResult};
pub use library::{AppOptions, AppState};

/// The label of the one window.
pub const MAIN_WINDOW: &str = "main";

impl AppOptions {
    /// `PROMPTFORGE_DATA_DIR` (tests, several profiles side by side) or the
    /// platform's data directory for the app; logs go beside the data unless
    /// the platform has a log directory.
    pub fn from_env() -> anyhow::Result<AppOptions> {
        if let Some(dir) = std::env::var_os("PROMPTFORGE_DATA_DIR").filter(|d| !d.is_empty()) {
            let data_dir = PathBuf::from(dir);
            return Ok(AppOptions {
                log_dir: data_dir.join("logs"),
                data_dir,
            });
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .ok_or_else(|| {
                anyhow::anyhow!("neither PROMPTFORGE_DATA_DIR, XDG_DATA_HOME nor HOME is set")
            })?;
        let data_dir = base.join("ai.promptforge.desktop");
        Ok(AppOptions {
            log_dir: data_dir.join("logs"),
            data_dir,
        })
    }
}

/// Starts the desktop app; returns when its window closes.
pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let options = AppOptions::from_env()?;
    std::fs::create_dir_all(&options.data_dir)?;
    let mut log_guard = Some(logging::init(&options.log_dir)?);
    let instance = match instance::claim(&options.data_dir)? {
        instance::Claim::First(listener) => listener,
        instance::Claim::Focused => {
            tracing::info!("another window has this library open; focused it");
            return Ok(());
        }
    };
    let app = run_app(
        Builder::default(),
        tauri::generate_context!(),
        options,
        started,
    )?;
    instance.serve(app.handle().clone());
    quit_on_termination_signals(app.handle().clone());
    app.run(move |handle, event| match event {
        tauri::RunEvent::ExitRequested { .. } => {
            // A quit by signal leaves the window open: remember it here too.
            if let Some(window) = handle.get_webview_window(MAIN_WINDOW) {
                remember_window(&window.as_ref().window());
            }
            let state = handle.state::<AppState>();
            tauri::async_runtime::block_on(state.shut_down());
            tracing::info!("library closed; the app exits");
        }
        // The event loop may end the process without returning here, so the
        // log file is flushed now.
        tauri::RunEvent::Exit => drop(log_guard.take()),
        _ => {}
    });
    Ok(())
}

/// SIGTERM (a desktop session logging out, `kill`) and SIGINT (Ctrl-C in the
/// terminal that started the app) quit the way closing the window does, so
/// the library is closed and its catalog saved rather than the process dying
/// with writes in flight.
fn quit_on_termination_signals<R: Runtime>(handle: tauri::AppHandle<R>) {
    use tokio::signal::unix::{signal, SignalKind};
    tauri::async_runtime::spawn(async move {
        let (Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for termination signals; they will end the app abruptly");
            return;
        };
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "quitting on a termination signal");
        handle.exit(0);
    });
}

/// Builds the app on any runtime: the real one from [`run`], Tauri's mock
/// runtime in tests. Creates the main window, restored to its last size, and
/// opens the library in the background.
pub fn run_app<R: Runtime>(
    builder: Builder<R>,
    context: Context<R>,
    options: AppOptions,
    started: Instant,
) -> tauri::Result<App<R>> {
    builder
        .plugin(tauri_plugin_store::Builder::new().build())
        .manage(AppState::new(options, started))
        .invoke_handler(tauri::generate_handler![
            commands::app::app_info,
            commands::app::get_settings,
            commands::app::save_settings,
            commands::app::sign_in,
            commands::app::sign_up,
            commands::app::send_password_reset,
            commands::app::sign_out,
            commands::app::ui_ready,
            commands::documents::list_documents,
            commands::documents::get_document,
            commands::documents::create_document,
            commands::documents::update_document,
            commands::documents::delete_document,
            commands::documents::restore_document,
            commands::documents::prompt_versions,
            commands::documents::restore_prompt_version,
            commands::documents::fork_prompt,
            commands::sync::sync_status,
            commands::sync::sync_now,
            commands::sync::list_conflicts,
            commands::sync::resolve_conflict,
            commands::sync::list_attention,
            commands::sync::settle_attention,
            commands::sync::set_presence,
            commands::sync::lock_prompt,
            commands::market::publish_listing,
            commands::market::buy_listing,
            commands::market::refund_purchase,
            commands::market::review_purchase,
            commands::teams::team_request,
            commands::teams::share_request,
            commands::insights::record_event,
            commands::insights::dashboard,
        ])
        .setup(|app| {
            open_main_window(app)?;
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let state = handle.state::<AppState>();
                state.open_at_launch(&handle).await;
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            if matches!(event, WindowEvent::CloseRequested { .. }) {
                remember_window(window);
            }
        })
        .build(context)
}

fn open_main_window<R: Runtime>(app: &mut App<R>) -> tauri::Result<()> {
    let data_dir = app.state::<AppState>().options.data_dir.clone();
    let saved = settings::load_window(app.handle(), &data_dir);
    let mut window =
        WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
            .title("PromptForge")
            .inner_size(saved.width.max(640.0), saved.height.max(480.0))
            .min_inner_size(640.0, 480.0)
            .maximized(saved.maximized);
    if let (Some(x), Some(y)) = (saved.x, saved.y) {
        window = window.position(x, y);
    }
    window.build()?;
    Ok(())
}

fn remember_window<R: Runtime>(window: &tauri::Window<R>) {
    let scale = window.scale_factor().unwrap_or(1.0);
    let (Ok(size), Ok(position)) = (window.inner_size(), window.outer_position()) else {
        return;
    };
    let size = size.to_logical::<f64>(scale);
    let position = position.to_logical::<f64>(scale);
    let state = settings::WindowState {
        width: size.width,
        height: size.height,
        x: Some(position.x),
        y: Some(position.y),
        maximized: window.is_maximized().unwrap_or(false),
    };
    let data_dir = window.state::<AppState>().options.data_dir.clone();
    settings::save_window(window.app_handle(), &data_dir, &state);
}
