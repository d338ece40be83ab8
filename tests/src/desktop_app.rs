//! The desktop app on Tauri's mock runtime: the real command layer
//! (`promptforge_desktop::run_app`) over a real data directory, called with
//! the JSON the UI sends, without a window system.
//!
//! The app runs its tasks on Tauri's own Tokio runtime, so tests using this
//! are plain `#[test]` functions; servers they need are started on that
//! runtime with `tauri::async_runtime::block_on`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use promptforge_desktop::{run_app, AppOptions, AppState, MAIN_WINDOW};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow};

/// How long [`DesktopApp::wait_until`] waits before giving up.
pub const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// One launch of the desktop app on a data directory.
pub struct DesktopApp {
    data_dir: PathBuf,
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

impl std::fmt::Debug for DesktopApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopApp")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl DesktopApp {
    /// Launches the app on `data_dir` (logs in `data_dir/logs`): it makes its
    /// window and starts opening the library the saved account (or none)
    /// points at. Call it outside any Tokio runtime.
    pub fn open(data_dir: &Path) -> anyhow::Result<DesktopApp> {
        let options = AppOptions {
            data_dir: data_dir.to_owned(),
            log_dir: data_dir.join("logs"),
        };
        let mut app = run_app(
            mock_builder(),
            mock_context(noop_assets()),
            options,
            Instant::now(),
        )?;
        // The app's setup (which makes the window and opens the library) runs
        // when the event loop starts.
        #[allow(deprecated)] // one iteration, not a loop
        app.run_iteration(|_, _| {});
        let window = app
            .get_webview_window(MAIN_WINDOW)
            .context("the app made no main window")?;
        Ok(DesktopApp {
            data_dir: data_dir.to_owned(),
            app,
            window,
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the profile named `profile` lives, as `app_info` shows it.
    pub fn profile_dir(&self, profile: &str) -> String {
        self.data_dir
            .join("profiles")
            .join(profile)
            .display()
            .to_string()
    }

    /// The file holding the signed-in account.
    pub fn account_file(&self) -> PathBuf {
        self.data_dir.join("account.json")
    }

    /// Invokes a command as the UI does: `Ok` with its answer, `Err` with the
    /// error it rejects with (`{code, message}`).
    pub fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost"
                .parse()
                .map_err(|_| json!({ "code": "harness", "message": "bad url" }))?,
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_owned(),
        };
        get_ipc_response(&self.window, request).and_then(|body| {
            body.deserialize::<Value>()
                .map_err(|e| json!({ "code": "undecodable", "message": e.to_string() }))
        })
    }

    /// A command that must succeed: its answer.
    pub fn ok(&self, cmd: &str, args: Value) -> anyhow::Result<Value> {
        self.call(cmd, args)
            .map_err(|err| anyhow!("{cmd} failed: {err}"))
    }

    /// A command that must fail: the error it rejects with.
    pub fn err(&self, cmd: &str, args: Value) -> anyhow::Result<Value> {
        match self.call(cmd, args) {
            Ok(answer) => bail!("{cmd} should have failed but answered {answer}"),
            Err(err) => Ok(err),
        }
    }

    pub fn info(&self) -> anyhow::Result<Value> {
        self.ok("app_info", json!({}))
    }

    /// Points the app at a sync server and a Firebase Auth service, through
    /// the Settings screen's command.
    pub fn configure_sync(
        &self,
        server_url: &str,
        auth_url: &str,
        api_key: &str,
    ) -> anyhow::Result<Value> {
        let mut settings = self.ok("get_settings", json!({}))?;
        settings["server_url"] = json!(server_url);
        settings["auth_url"] = json!(auth_url);
        settings["firebase_api_key"] = json!(api_key);
        self.ok("save_settings", json!({ "settings": settings }))
    }

    pub fn create_prompt(&self, title: &str, content: &str) -> anyhow::Result<Value> {
        self.ok(
            "create_document",
            json!({ "collection": "prompts", "fields": { "title": title, "content": content } }),
        )
    }

    /// The titles of the prompts the library lists, sorted.
    pub fn prompt_titles(&self) -> anyhow::Result<Vec<String>> {
        let page = self.ok(
            "list_documents",
            json!({ "collection": "prompts", "query": {} }),
        )?;
        let mut titles = titles(&page);
        titles.sort();
        Ok(titles)
    }

    /// Polls `check` until it holds, failing after [`WAIT`] with the sync
    /// status at that moment.
    pub fn wait_until(
        &self,
        what: &str,
        mut check: impl FnMut(&DesktopApp) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if check(self)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                let status = self
                    .call("sync_status", json!({}))
                    .unwrap_or_else(|err| err);
                bail!("waited {WAIT:?} for {what}; sync status: {status}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Asks for a sync round and waits until one that started after the
    /// request has completed with nothing pending; returns the status then.
    /// Everything written before the call has then reached the server.
    pub fn sync_and_wait(&self) -> anyhow::Result<Value> {
        let since = bson::DateTime::now();
        self.ok("sync_now", json!({}))?;
        let mut last = Value::Null;
        self.wait_until("a completed sync round with nothing pending", |app| {
            let status = app.ok("sync_status", json!({}))?;
            let done = status["state"] == "up_to_date" && status["pending"] == 0;
            let done = done && synced_since(&status, since);
            last = status;
            Ok(done)
        })?;
        Ok(last)
    }

    /// Closes the library as quitting the app does (background sync
    /// stopped, the store closed and its catalog saved); the profile lock is
    /// released when the app is dropped here, so the data directory can be
    /// opened again.
    pub fn quit(self) {
        let state = self.app.state::<AppState>();
        tauri::async_runtime::block_on(state.shut_down());
    }
}

/// The titles of a `list_documents` page, in the order listed.
pub fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a sync status says a round completed at or after `since`.
fn synced_since(status: &Value, since: bson::DateTime) -> bool {
    matches!(
        bson::Bson::try_from(status["last_synced_at"].clone()),
        Ok(bson::Bson::DateTime(at)) if at >= since
    )
}
