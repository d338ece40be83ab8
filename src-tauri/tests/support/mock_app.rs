//! The desktop app on Tauri's mock runtime over a real profile directory,
//! called as the UI calls it. Shared by the command tests and the command
//! benchmark (included by path, so it is not a test target of its own).

// Each includer uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Instant;

use promptforge_desktop::{run_app, AppOptions, AppState, MAIN_WINDOW};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow};

pub struct Desktop {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

impl Desktop {
    pub fn open(data_dir: &Path) -> Result<Desktop, Box<dyn std::error::Error>> {
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
            .ok_or("the app made no main window")?;
        Ok(Desktop { _app: app, window })
    }

    /// Invokes a command as the UI does: `Ok` with its answer, `Err` with the
    /// error it rejects with.
    pub fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().map_err(|_| json!("bad url"))?,
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_owned(),
        };
        get_ipc_response(&self.window, request).and_then(|body| {
            body.deserialize::<Value>()
                .map_err(|e| json!({ "code": "undecodable", "message": e.to_string() }))
        })
    }

    /// Closes the library as quitting the app does.
    pub fn quit(self) {
        let state = self._app.state::<AppState>();
        tauri::async_runtime::block_on(state.shut_down());
    }

    pub fn ok(&self, cmd: &str, args: Value) -> Result<Value, String> {
        self.call(cmd, args)
            .map_err(|err| format!("{cmd} failed: {err}"))
    }

    pub fn err(&self, cmd: &str, args: Value) -> Result<Value, String> {
        match self.call(cmd, args) {
            Ok(answer) => Err(format!("{cmd} should have failed but answered {answer}")),
            Err(err) => Ok(err),
        }
    }
}
