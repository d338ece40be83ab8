//! Drives the real desktop app: an Xvfb display, Debian's `WebKitWebDriver`
//! launching the `promptforge-desktop` binary (built by the test command) on
//! a data directory of the test's choosing, and a fantoccini WebDriver client
//! that finds elements by their `data-testid`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long a UI step may take before the test calls it a failure.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process stopped with [`terminate`] when dropped, so a failed test
/// or benchmark leaves nothing running.
#[derive(Debug)]
pub struct StopOnDrop(pub Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

/// Sends SIGTERM (WebKitWebDriver lingers after SIGKILL) and waits briefly,
/// then kills what is left. A process that already ended is only reaped.
pub fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A virtual X display for the app's window.
#[derive(Debug)]
pub struct Display {
    pub name: String,
    process: Child,
}

impl Display {
    pub fn start() -> anyhow::Result<Display> {
        for _ in 0..20 {
            let number = 100 + rand::random::<u16>() % 800;
            if Path::new(&format!("/tmp/.X11-unix/X{number}")).exists()
                || Path::new(&format!("/tmp/.X{number}-lock")).exists()
            {
                continue;
            }
            let name = format!(":{number}");
            let mut process = Command::new("Xvfb")
                .args([&name, "-screen", "0", "1400x900x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting Xvfb (package xvfb; the test command installs it)")?;
            let socket = format!("/tmp/.X11-unix/X{number}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if Path::new(&socket).exists() {
                    return Ok(Display { name, process });
                }
                if let Ok(Some(_)) = process.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            terminate(&mut process);
        }
        bail!("no X display could be started")
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        terminate(&mut self.process);
    }
}

/// The desktop binary next to this test's executable (`target/debug`).
pub fn app_binary() -> anyhow::Result<PathBuf> {
    // Tests run from target/debug/deps, harness binaries from target/debug.
    let exe = std::env::current_exe()?;
    let here = exe.parent().context("the executable has no directory")?;
    let binary = [here, here.parent().unwrap_or(here)]
        .iter()
        .map(|dir| dir.join("promptforge-desktop"))
        .find(|path| path.exists())
        .unwrap_or_else(|| here.join("promptforge-desktop"));
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --workspace --bin promptforge-desktop` first (scripts/test.sh does)",
            binary.display()
        );
    }
    Ok(binary)
}

/// One running app, on its own data directory, under WebDriver control.
#[derive(Debug)]
pub struct App {
    pub client: Client,
    driver: Child,
    data_dir: PathBuf,
}

impl App {
    /// Launches the app on `data_dir` under `display`, and waits for its
    /// first screen.
    pub async fn launch(display: &Display, data_dir: &Path) -> anyhow::Result<App> {
        Self::launch_with_env(display, data_dir, &[]).await
    }

    /// Launches the app as [`App::launch`] does, with `env` added to its
    /// environment (the driver passes its own on to the app).
    pub async fn launch_with_env(
        display: &Display,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<App> {
        // Both of rustls's crypto back ends are linked into the tests, so
        // one is named (an error only means it was already chosen).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port()?;
        let mut driver = Command::new("WebKitWebDriver")
            .arg(format!("--port={port}"))
            .env("DISPLAY", &display.name)
            .env("PROMPTFORGE_DATA_DIR", data_dir)
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("RUST_LOG", "info")
            // Apps under test keep sign-ins in their own data directory, never
            // in a keyring a developer's session happens to run.
            .env("PROMPTFORGE_KEYRING", "off")
            .envs(env.iter().copied())
            // Not the test's pipes: an app outliving the session would hold them open.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting WebKitWebDriver (package webkit2gtk-driver)")?;
        let url = format!("http://127.0.0.1:{port}");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "webkitgtk:browserOptions".into(),
            json!({ "binary": app_binary()?, "args": [] }),
        );
        let deadline = Instant::now() + STEP_TIMEOUT;
        let client = loop {
            match ClientBuilder::rustls()?
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = driver.try_wait() {
                        bail!("WebKitWebDriver exited ({status}) before a session: {err}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => {
                    terminate(&mut driver);
                    bail!("no WebDriver session with the app: {err}");
                }
            }
        };
        let app = App {
            client,
            driver,
            data_dir: data_dir.to_owned(),
        };
        app.wait_for("nav-prompts").await?;
        Ok(app)
    }

    fn locator(test_id: &str) -> String {
        format!("[data-testid=\"{test_id}\"]")
    }

    /// The element with this test id, once it is there.
    pub async fn wait_for(&self, test_id: &str) -> anyhow::Result<Element> {
        let css = Self::locator(test_id);
        self.client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(&css))
            .await
            .with_context(|| format!("no element `{test_id}` within {STEP_TIMEOUT:?}"))
    }

    pub async fn click(&self, test_id: &str) -> anyhow::Result<()> {
        self.wait_for(test_id).await?.click().await?;
        Ok(())
    }

    /// Replaces the text of an input or textarea, typing it as a user would.
    /// A field React re-renders while it is typed into can lose the keys,
    /// so the value is checked and typing repeated until it holds.
    pub async fn fill(&self, test_id: &str, text: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let field = self.wait_for(test_id).await?;
            // Select everything and type over it: the keys React sees.
            field.click().await?;
            field.send_keys("\u{E009}a\u{E009}").await?;
            field.send_keys("\u{E003}").await?;
            field.send_keys(text).await?;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = self.value(test_id).await.unwrap_or_default();
            if now == text {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("`{test_id}` holds {now:?}, not the {text:?} typed into it");
            }
        }
    }

    /// The text of every element with this test id, in document order (the
    /// DOM's text, spaced between child elements: WebKitWebDriver's
    /// rendered-text algorithm drops some nested spans).
    pub async fn texts(&self, test_id: &str) -> anyhow::Result<Vec<String>> {
        let script = "return Array.from(document.querySelectorAll(arguments[0])).map(e =>                       Array.from(e.querySelectorAll('*')).filter(c => c.children.length === 0)                       .map(c => c.textContent.trim()).filter(t => t).join(' ') || e.textContent.trim());";
        let answer = self
            .client
            .execute(script, vec![json!(Self::locator(test_id))])
            .await?;
        Ok(answer
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Presses Escape (closes a dialog).
    pub async fn escape(&self) -> anyhow::Result<()> {
        self.client
            .active_element()
            .await?
            .send_keys("\u{E00C}")
            .await?;
        Ok(())
    }

    /// Waits until `check` holds for the texts of `test_id` elements.
    pub async fn wait_until_texts(
        &self,
        test_id: &str,
        what: &str,
        check: impl Fn(&[String]) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            // An element React replaced between the find and the read is
            // "not yet", not a failure.
            let texts = self.texts(test_id).await.unwrap_or_default();
            if check(&texts) {
                return Ok(texts);
            }
            if Instant::now() > deadline {
                bail!("`{test_id}` never showed {what}; it shows {texts:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The value of an input or textarea.
    pub async fn value(&self, test_id: &str) -> anyhow::Result<String> {
        Ok(self
            .wait_for(test_id)
            .await?
            .prop("value")
            .await?
            .unwrap_or_default())
    }

    /// Quits as a desktop session does at logout, with SIGTERM, and waits
    /// until the app has closed its library and let go of its data directory.
    ///
    /// WebDriver's close-window cannot quit the app: WebKit answers it with
    /// the web view's `close` signal, on which wry destroys the web view and
    /// leaves its window (and the app) running. The driver then kills the
    /// app when the session ends, unless it is itself stopped first, which
    /// under load left apps running with an empty window.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        let pid = std::fs::read_to_string(self.data_dir.join("instance.lock"))
            .context("the app's instance lock names no process")?;
        let sent = Command::new("kill")
            .args(["-TERM", pid.trim()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(
            sent.success(),
            "the app (pid {}) is gone before its quit",
            pid.trim()
        );
        let socket = self.data_dir.join("instance.sock");
        let deadline = Instant::now() + STEP_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            if Instant::now() > deadline {
                bail!("the app still runs {STEP_TIMEOUT:?} after SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The session's browser is gone; ending it only lets the driver go.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.clone().close()).await;
        terminate(&mut self.driver);
        let log = app_log(&self.data_dir.join("logs"));
        anyhow::ensure!(
            log.contains("library closed; the app exits"),
            "the app ended without closing its library; its log:\n{log}"
        );
        Ok(())
    }
}

/// Everything the app logged in `dir` (its log files are rotated daily).
fn app_log(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .collect()
}

impl Drop for App {
    fn drop(&mut self) {
        terminate(&mut self.driver);
        // The app may outlive its driver (a failed test): stop it by the pid
        // it keeps in its instance lock, so it frees the display and profile.
        if let Ok(pid) = std::fs::read_to_string(self.data_dir.join("instance.lock")) {
            let socket = self.data_dir.join("instance.sock");
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                let _ = Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
