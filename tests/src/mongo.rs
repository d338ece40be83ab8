//! A MongoDB-compatible server for tests.
//!
//! SecantusDB (PyPI `SecantusDB`, pinned) is installed into a virtualenv
//! under the user's cache on first use, started on a free loopback port with
//! a fresh storage directory, and stopped by its pid when the handle drops. A
//! watchdog also stops it if the test process dies first. When
//! `PROMPTFORGE_TEST_MONGODB_URI` is set, that server is used instead (it
//! must be a replica set), with a fresh database per test.
//!
//! `PROMPTFORGE_TEST_SECANTUS=rs` runs the Rust build instead, `secantusd-rs`
//! (crates.io `secantus-mdb`, about five times faster at run time; install it
//! with `scripts/setup-debian.sh` and `PROMPTFORGE_SETUP=bench`). The
//! benchmarks use it so that runs at 100k documents finish; tests keep the
//! Python build, which installs in a minute.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const SECANTUS: &str = "SecantusDB==0.7.0b3";

fn venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("promptforge-secantus-0.7.0b3")
}

/// Installs SecantusDB once (a file lock keeps parallel test binaries from
/// installing it twice).
fn ensure_installed() -> anyhow::Result<PathBuf> {
    let venv = venv();
    let daemon = venv.join("bin/secantusd-py");
    if daemon.exists() {
        return Ok(daemon);
    }
    std::fs::create_dir_all(venv.parent().context("cache dir")?)?;
    let lock = std::fs::File::create(venv.with_extension("lock"))?;
    lock.lock()?;
    if !daemon.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?;
        if !status.success() {
            bail!("python3 -m venv failed (install python3-venv)");
        }
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", SECANTUS])
            .status()?;
        if !status.success() {
            bail!("pip install {SECANTUS} failed");
        }
    }
    Ok(daemon)
}

/// The SecantusDB daemon to run: the Rust build when the environment asks
/// for it, else the pinned Python build.
fn daemon() -> anyhow::Result<PathBuf> {
    match std::env::var("PROMPTFORGE_TEST_SECANTUS").as_deref() {
        Ok("rs") => rust_daemon(),
        Ok("py") | Ok("") | Err(_) => ensure_installed(),
        Ok(other) => bail!("PROMPTFORGE_TEST_SECANTUS={other}: expected `rs` or `py`"),
    }
}

/// `secantusd-rs` on the PATH or in cargo's bin directory.
fn rust_daemon() -> anyhow::Result<PathBuf> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin"));
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_bin)
        .map(|dir| dir.join("secantusd-rs"))
        .find(|candidate| candidate.is_file())
        .context(
            "PROMPTFORGE_TEST_SECANTUS=rs but secantusd-rs is not installed: \
             run PROMPTFORGE_SETUP=bench scripts/setup-debian.sh",
        )
}

/// A running MongoDB-protocol server.
#[derive(Debug)]
pub struct MongoServer {
    pub uri: String,
    child: Option<Child>,
    _storage: Option<tempfile::TempDir>,
}

static DATABASES: AtomicU64 = AtomicU64::new(0);

impl MongoServer {
    /// A replica-set server: SecantusDB, or the one the environment names.
    pub fn start() -> anyhow::Result<MongoServer> {
        if let Ok(uri) = std::env::var("PROMPTFORGE_TEST_MONGODB_URI") {
            return Ok(MongoServer {
                uri,
                child: None,
                _storage: None,
            });
        }
        Self::start_secantus(&[])
    }

    /// SecantusDB with extra flags (`--standalone`, `--sync-on-commit`).
    pub fn start_secantus(flags: &[&str]) -> anyhow::Result<MongoServer> {
        let daemon = daemon()?;
        let storage = tempfile::tempdir()?;
        let mut child = Command::new("bash")
            .arg("-c")
            // The watchdog stops the server if the test process dies without
            // dropping this handle.
            .arg(r#"daemon="$1"; watched="$2"; shift 2; "$daemon" "$@" 2>&1 & server=$!; trap 'kill $server 2>/dev/null' TERM EXIT; while kill -0 "$watched" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 0.5; done"#)
            .arg("secantus-watchdog")
            .arg(&daemon)
            .arg(std::process::id().to_string())
            .args(["--host", "127.0.0.1", "--port", "0", "--log-level", "INFO", "--storage-path"])
            .arg(storage.path())
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", daemon.display()))?;
        let stdout = child.stdout.take().context("secantus stdout")?;
        let (found, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = line.split("listening on ").nth(1) {
                        let _ = found.send(addr.trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            match lines.recv_timeout(Duration::from_millis(200)) {
                Ok(addr) => break addr,
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    bail!("SecantusDB did not start within 60 s");
                }
                Err(_) => {
                    if let Some(status) = child.try_wait()? {
                        bail!("SecantusDB exited at start: {status}");
                    }
                }
            }
        };
        let uri = if flags.contains(&"--standalone") {
            format!("mongodb://{addr}/?directConnection=true")
        } else {
            format!("mongodb://{addr}/?replicaSet=secantus")
        };
        Ok(MongoServer {
            uri,
            child: Some(child),
            _storage: Some(storage),
        })
    }

    /// A database name no other test in this process uses.
    pub fn fresh_database(&self) -> String {
        format!(
            "pf_test_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        )
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // TERM lets the watchdog's trap stop the server too.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}
