//! The open library the commands act on: one PoloDB profile, plus the
//! background sync when an account is signed in. Owns opening it (off the
//! main thread, so the window shows at once), sending sync status to the UI,
//! and switching profiles when someone signs in or out.
//!
//! Profiles live in `<data dir>/profiles/<name>`: `local` is the library used
//! without an account; an account whose user declines to attach the local
//! library gets its own, named after the account.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use promptforge_sync::engine::account::{FirebaseAuth, FirebaseTokens, Session};
use promptforge_sync::engine::{HttpTransport, SyncState, SyncStatus};
use promptforge_sync::insights::{EventRecorder, UsageEvent, DEFAULT_RETENTION_DAYS};
use promptforge_sync::schema::Collection;
use promptforge_sync::{PresenceView, Store, SyncConfig, SyncEngine};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{oneshot, watch, RwLock};

use crate::error::{AppError, AppErrorCode, AppResult};
use crate::settings::{self, AccountRecord};
use crate::ui_json::to_ui;

pub const LOCAL_PROFILE: &str = "local";
pub const STATUS_EVENT: &str = "sync-status";
pub const CHANGED_EVENT: &str = "library-changed";
/// Who else has the open prompt open, and its soft lock (a `PresenceView`, or null).
pub const PRESENCE_EVENT: &str = "presence";

/// The collections that make up "your library" when deciding whether a
/// local library is worth attaching to an account.
const LIBRARY_COLLECTIONS: [Collection; 4] = [
    Collection::Prompts,
    Collection::Ideas,
    Collection::Projects,
    Collection::MarketplaceListings,
];

pub type Engine = SyncEngine<HttpTransport>;

/// Where the app keeps its files.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
}

/// The signed-in account, as the UI shows it (no tokens).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AccountInfo {
    pub user_id: String,
    pub email: String,
    pub server_url: String,
}

impl AccountInfo {
    fn of(record: &AccountRecord) -> AccountInfo {
        AccountInfo {
            user_id: record.session.user_id.clone(),
            email: record.session.email.clone(),
            server_url: record.server_url.clone(),
        }
    }
}

struct BackgroundSync {
    engine: Arc<Engine>,
    stop: oneshot::Sender<()>,
    task: tauri::async_runtime::JoinHandle<()>,
}

struct Library {
    store: Store,
    profile: String,
    sync: Option<BackgroundSync>,
}

/// What a command needs: the store, and the engine when signed in.
#[derive(Debug, Clone)]
pub struct Current {
    pub store: Store,
    pub engine: Option<Arc<Engine>>,
}

impl Current {
    pub fn engine(&self) -> AppResult<&Arc<Engine>> {
        self.engine.as_ref().ok_or_else(AppError::local_only)
    }
}

/// Shared by every command (Tauri's managed state).
pub struct AppState {
    pub options: AppOptions,
    started: Instant,
    library: RwLock<Option<Library>>,
    /// `None` while the library opens; then whether it opened.
    opened: watch::Sender<Option<Result<(), AppError>>>,
    account: Mutex<Option<AccountRecord>>,
    /// Sign-in and sign-out run one at a time, start to finish.
    account_change: tokio::sync::Mutex<()>,
    ready_reported: Mutex<bool>,
    /// Usage events of this app run (one session id), per the settings.
    pub recorder: Arc<EventRecorder>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("data_dir", &self.options.data_dir)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(options: AppOptions, started: Instant) -> AppState {
        AppState {
            options,
            started,
            library: RwLock::new(None),
            opened: watch::channel(None).0,
            account: Mutex::new(None),
            account_change: tokio::sync::Mutex::new(()),
            ready_reported: Mutex::new(false),
            recorder: Arc::new(EventRecorder::new(
                env!("CARGO_PKG_VERSION"),
                true,
                DEFAULT_RETENTION_DAYS,
            )),
        }
    }

    fn profile_dir(&self, profile: &str) -> PathBuf {
        self.options.data_dir.join("profiles").join(profile)
    }

    /// The open library, waiting for it while it opens.
    pub async fn current(&self) -> AppResult<Current> {
        let mut opened = self.opened.subscribe();
        let outcome = opened
            .wait_for(Option::is_some)
            .await
            .map_err(|_| AppError::new(AppErrorCode::Closed, "the app is shutting down"))?
            .clone();
        if let Some(Err(err)) = outcome {
            return Err(err);
        }
        self.open_library().await.ok_or_else(|| {
            AppError::new(
                AppErrorCode::Closed,
                "the library is being switched; try again",
            )
        })
    }

    /// The library open right now, without waiting for one.
    async fn open_library(&self) -> Option<Current> {
        let library = self.library.read().await;
        library.as_ref().map(|library| Current {
            store: library.store.clone(),
            engine: library.sync.as_ref().map(|s| s.engine.clone()),
        })
    }

    pub fn account(&self) -> Option<AccountInfo> {
        self.account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(AccountInfo::of)
    }

    pub async fn profile_dir_in_use(&self) -> Option<PathBuf> {
        let library = self.library.read().await;
        library.as_ref().map(|l| self.profile_dir(&l.profile))
    }

    /// How many documents the library holds that would move with it.
    pub fn library_size(store: &Store) -> u64 {
        LIBRARY_COLLECTIONS
            .iter()
            .map(|c| store.count(*c) as u64)
            .sum()
    }

    /// Milliseconds since launch, the first time the UI says it is ready.
    pub fn first_ready(&self) -> Option<u128> {
        let mut reported = self
            .ready_reported
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *reported {
            return None;
        }
        *reported = true;
        Some(self.started.elapsed().as_millis())
    }

    /// Opens the library the saved account (or none) points at, and starts
    /// syncing when signed in. Failures are kept for every command to report.
    pub async fn open_at_launch<R: Runtime>(&self, app: &AppHandle<R>) {
        let chosen = settings::load(app, &self.options.data_dir);
        let record = settings::load_account(&self.options.data_dir);
        let profile = record
            .as_ref()
            .map_or(LOCAL_PROFILE.to_owned(), |r| r.profile.clone());
        *self.account.lock().unwrap_or_else(|p| p.into_inner()) = record.clone();
        let outcome = self.switch_to(app, &profile, record.as_ref()).await;
        if let Err(err) = &outcome {
            tracing::error!(code = ?err.code, error = %err.message, "library did not open");
        }
        self.opened.send_replace(Some(outcome));
        self.apply_analytics(&chosen).await;
        if let Some(current) = self.open_library().await {
            match current.store.drop_expired_events().await {
                Ok(0) => {}
                Ok(dropped) => tracing::info!(dropped, "expired usage events dropped"),
                Err(err) => tracing::warn!(error = %err, "expired usage events not dropped"),
            }
        }
    }

    /// Follows the analytics settings: turned off, events not yet sent are
    /// forgotten too, so nothing recorded before is uploaded afterwards.
    pub async fn apply_analytics(&self, chosen: &settings::Settings) {
        self.recorder
            .configure(chosen.analytics_enabled, chosen.analytics_retention_days);
        if chosen.analytics_enabled {
            return;
        }
        if let Some(current) = self.open_library().await {
            match current.store.discard_unsent_events().await {
                Ok(0) => {}
                Ok(dropped) => tracing::info!(dropped, "unsent usage events forgotten"),
                Err(err) => tracing::warn!(error = %err, "unsent usage events not forgotten"),
            }
        }
    }

    /// Records a usage event in the open library (when recording is on).
    /// Never fails the user's action: a problem is only logged.
    pub async fn record(&self, event: UsageEvent) {
        let Some(current) = self.open_library().await else {
            return;
        };
        if let Err(err) = self.recorder.record(&current.store, event).await {
            tracing::warn!(error = %err, "usage event not recorded");
        }
    }

    /// Makes `profile` the open library, with sync for `account` if given.
    /// If the new library cannot be opened or synced, the previous one stays
    /// open (with the sync it had), so a failed switch never leaves the app
    /// without a library.
    async fn switch_to<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        profile: &str,
        account: Option<&AccountRecord>,
    ) -> AppResult<()> {
        let mut slot = self.library.write().await;
        let mut previous = slot.take();
        let previous_account = self
            .account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(library) = previous.as_mut() {
            stop_sync(library.sync.take()).await;
        }
        let same_profile = previous.as_ref().is_some_and(|l| l.profile == profile);
        let opened = match previous.as_ref() {
            Some(library) if same_profile => Ok(library.store.clone()),
            _ => open_store(&self.profile_dir(profile)).await,
        };
        let switched = opened.and_then(|store| {
            let sync = account
                .map(|record| start_sync(app, &store, record, &self.options.data_dir))
                .transpose()?;
            Ok(Library {
                store,
                profile: profile.to_owned(),
                sync,
            })
        });
        let left_behind = match switched {
            Ok(library) => {
                *slot = Some(library);
                previous.filter(|_| !same_profile)
            }
            Err(err) => {
                if let Some(mut library) = previous {
                    library.sync = previous_account.and_then(|record| {
                        start_sync(app, &library.store, &record, &self.options.data_dir).ok()
                    });
                    *slot = Some(library);
                }
                return Err(err);
            }
        };
        drop(slot);
        // Closed once the new library serves commands: saving a large
        // catalog must not hold them up.
        if let Some(previous) = left_behind {
            previous.store.close().await;
        }
        self.opened.send_replace(Some(Ok(())));
        emit_status_now(app, self).await;
        if app.emit(CHANGED_EVENT, ()).is_err() {
            tracing::debug!("no window to tell that the library changed");
        }
        Ok(())
    }

    /// Signs in with Firebase and starts syncing. The local library moves
    /// into the account when `attach_library` is set (or when it is empty);
    /// otherwise the account gets a profile of its own and the local library
    /// stays as it is.
    pub async fn sign_in<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        email: &str,
        password: &str,
        attach_library: bool,
    ) -> AppResult<AccountInfo> {
        self.enter_account(app, email, password, attach_library, false)
            .await
    }

    /// Creates a Firebase account and signs it in, as [`AppState::sign_in`];
    /// the server makes the account's profile on its first sync.
    pub async fn sign_up<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        email: &str,
        password: &str,
        attach_library: bool,
    ) -> AppResult<AccountInfo> {
        self.enter_account(app, email, password, attach_library, true)
            .await
    }

    /// Asks Firebase to email a password-reset link (it answers the same
    /// whether or not an account uses the email).
    pub async fn send_password_reset<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        email: &str,
    ) -> AppResult<()> {
        let settings = settings::load(app, &self.options.data_dir);
        let api_key = settings.firebase_api_key.clone().ok_or_else(|| {
            AppError::new(
                AppErrorCode::NotConfigured,
                "Set the Firebase API key in Settings (Advanced) first.",
            )
        })?;
        let auth = FirebaseAuth::new(&api_key, settings.auth_url.as_deref())?;
        auth.send_password_reset(email.trim()).await?;
        Ok(())
    }

    async fn enter_account<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        email: &str,
        password: &str,
        attach_library: bool,
        create: bool,
    ) -> AppResult<AccountInfo> {
        let _one_at_a_time = self.account_change.lock().await;
        let settings = settings::load(app, &self.options.data_dir);
        let server_url = settings.server_url.clone().ok_or_else(|| {
            AppError::new(
                AppErrorCode::NotConfigured,
                "Set the sync server's URL in Settings (Advanced) before signing in.",
            )
        })?;
        let api_key = settings.firebase_api_key.clone().ok_or_else(|| {
            AppError::new(
                AppErrorCode::NotConfigured,
                "Set the Firebase API key in Settings (Advanced) before signing in.",
            )
        })?;
        if email.trim().is_empty() || password.is_empty() {
            return Err(AppError::invalid(
                "Enter both your email and your password.",
            ));
        }
        let auth = FirebaseAuth::new(&api_key, settings.auth_url.as_deref())?;
        let session = if create {
            let session = auth.sign_up(email.trim(), password).await?;
            // Best effort: the account works without it, and the Profile
            // screen says the email is not verified yet.
            if let Err(err) = auth.send_email_verification(&session).await {
                tracing::warn!(error = %err, "the verification email was not sent");
            }
            session
        } else {
            auth.sign_in(email.trim(), password).await?
        };

        let current = self.current().await?;
        let summary = current.store.sync_summary().await?;
        let current_profile = self
            .library
            .read()
            .await
            .as_ref()
            .map_or(LOCAL_PROFILE.to_owned(), |l| l.profile.clone());
        let profile = match summary.account.as_deref() {
            Some(account) if account == session.user_id => current_profile,
            Some(_) => account_profile(&session.user_id),
            None if attach_library || Self::library_size(&current.store) == 0 => current_profile,
            None => account_profile(&session.user_id),
        };
        drop(current);
        let record = AccountRecord {
            session,
            server_url,
            profile: profile.clone(),
        };
        self.switch_to(app, &profile, Some(&record)).await?;
        *self.account.lock().unwrap_or_else(|p| p.into_inner()) = Some(record.clone());
        settings::save_account(&self.options.data_dir, &record)?;
        tracing::info!(user = %record.session.user_id, profile = %profile, "signed in");
        Ok(AccountInfo::of(&record))
    }

    /// Stops syncing and forgets the tokens; the app goes back to the local
    /// library, which keeps working offline.
    pub async fn sign_out<R: Runtime>(&self, app: &AppHandle<R>) -> AppResult<()> {
        let _one_at_a_time = self.account_change.lock().await;
        // Sync stops before the account is forgotten, so no token refresh
        // can write the account file back.
        self.switch_to(app, LOCAL_PROFILE, None).await?;
        self.account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        settings::forget_account(&self.options.data_dir)?;
        tracing::info!("signed out");
        Ok(())
    }

    /// Stops the background sync and closes the store before the app exits,
    /// so the writer finishes and the profile lock is released.
    pub async fn shut_down(&self) {
        let library = self.library.write().await.take();
        if let Some(mut library) = library {
            stop_sync(library.sync.take()).await;
            // Commands still running may hold the store; closing now, not at
            // the last drop, saves the catalog before the process ends.
            library.store.close().await;
        }
        self.opened.send_replace(Some(Err(AppError::new(
            AppErrorCode::Closed,
            "the app is shutting down",
        ))));
    }
}

fn account_profile(user_id: &str) -> String {
    let safe: String = user_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(64)
        .collect();
    format!("account-{safe}")
}

async fn open_store(dir: &Path) -> AppResult<Store> {
    let started = Instant::now();
    let store = Store::open(dir).await?;
    tracing::info!(
        profile = %dir.display(),
        prompts = store.count(Collection::Prompts),
        millis = started.elapsed().as_millis() as u64,
        "library opened"
    );
    Ok(store)
}

fn start_sync<R: Runtime>(
    app: &AppHandle<R>,
    store: &Store,
    record: &AccountRecord,
    data_dir: &Path,
) -> AppResult<BackgroundSync> {
    let settings = settings::load(app, data_dir);
    let api_key = settings.firebase_api_key.unwrap_or_default();
    let auth = FirebaseAuth::new(&api_key, settings.auth_url.as_deref())?;
    let (data_dir, server_url, profile) = (
        data_dir.to_owned(),
        record.server_url.clone(),
        record.profile.clone(),
    );
    // A refreshed token is saved at once, so a restart does not need a new sign-in.
    let persist: Arc<dyn Fn(&Session) + Send + Sync> = Arc::new(move |session: &Session| {
        let record = AccountRecord {
            session: session.clone(),
            server_url: server_url.clone(),
            profile: profile.clone(),
        };
        if let Err(err) = settings::save_account(&data_dir, &record) {
            tracing::warn!(error = %err.message, "refreshed sign-in not saved");
        }
    });
    let tokens = FirebaseTokens::new(auth, record.session.clone(), Some(persist));
    let transport = HttpTransport::new(
        &record.server_url,
        Arc::new(tokens),
        Duration::from_secs(60),
    )?;
    let recorder = app.state::<AppState>().recorder.clone();
    let engine = Arc::new(
        SyncEngine::new(store.clone(), transport, SyncConfig::default()).with_recorder(recorder),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let runner = engine.clone();
    let events = app.clone();
    let task = tauri::async_runtime::spawn(async move {
        let forward = forward_status(events.clone(), runner.status());
        let presence = forward_presence(events, runner.presence());
        // Stopping cancels a round in flight: the engine is built to resume
        // from whatever a cut round left behind.
        tokio::select! {
            () = runner.run(std::future::pending()) => {}
            () = forward => {}
            () = presence => {}
            _ = stopped => {}
        }
    });
    tracing::info!(server = %record.server_url, "background sync started");
    Ok(BackgroundSync { engine, stop, task })
}

async fn stop_sync(sync: Option<BackgroundSync>) {
    if let Some(sync) = sync {
        sync.engine.publish(SyncState::Idle).await;
        if sync.stop.send(()).is_err() {
            tracing::debug!("background sync had already stopped");
        }
        let mut task = sync.task;
        if tokio::time::timeout(Duration::from_secs(10), &mut task)
            .await
            .is_err()
        {
            tracing::warn!("background sync did not stop within 10 s; aborted");
            task.abort();
            // Wait for the abort to land, so the engine's handle on the
            // store is gone before the caller closes or reopens it.
            let _ = task.await;
        }
    }
}

/// Sends every status change to the UI, and after each completed round
/// tells it to refresh what it shows (the round may have brought documents;
/// a status watch keeps only the latest value, so progress alone could miss it).
async fn forward_status<R: Runtime>(app: AppHandle<R>, mut status: watch::Receiver<SyncStatus>) {
    loop {
        let now = status.borrow_and_update().clone();
        match to_ui(&now) {
            Ok(payload) => {
                if app.emit(STATUS_EVENT, payload).is_err() {
                    tracing::debug!("sync status not delivered");
                }
            }
            Err(err) => tracing::warn!(error = %err.message, "sync status not serialisable"),
        }
        if matches!(now.state, SyncState::UpToDate) && app.emit(CHANGED_EVENT, ()).is_err() {
            tracing::debug!("library change not delivered");
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Sends the open prompt's presence to the UI whenever it changes.
async fn forward_presence<R: Runtime>(
    app: AppHandle<R>,
    mut presence: watch::Receiver<Option<PresenceView>>,
) {
    loop {
        let now = presence.borrow_and_update().clone();
        if app.emit(PRESENCE_EVENT, now).is_err() {
            tracing::debug!("presence not delivered");
        }
        if presence.changed().await.is_err() {
            return;
        }
    }
}

/// The status right now: the engine's when syncing, else the store's
/// bookkeeping with the library shown as local.
pub async fn status_of(current: &Current) -> AppResult<SyncStatus> {
    if let Some(engine) = &current.engine {
        return Ok(engine.status().borrow().clone());
    }
    let summary = current.store.sync_summary().await?;
    Ok(SyncStatus::from_summary(
        SyncState::Idle,
        &summary,
        bson::DateTime::now(),
    ))
}

async fn emit_status_now<R: Runtime>(app: &AppHandle<R>, state: &AppState) {
    let Some(current) = state.open_library().await else {
        return;
    };
    if let Ok(payload) = status_of(&current).await.and_then(|s| to_ui(&s)) {
        if app.emit(STATUS_EVENT, payload).is_err() {
            tracing::debug!("sync status not delivered");
        }
    }
}
