//! Startup of the real desktop app with a large library.
//!
//! Seeds a profile with `BENCH_PROMPTS` prompts (default 100,000), then
//! launches `promptforge-desktop` under Xvfb with
//! `PROMPTFORGE_EXIT_WHEN_READY`: the UI reports once it has drawn the first
//! page of the prompt list, and the app prints how long that took and quits.
//! Reported: wall time from spawn to that signal, for launches that find the
//! catalog saved at the last close and for launches that must rebuild it (as
//! after a crash), each cold (the page cache dropped first, which needs root)
//! and warm (the median of four launches right after). The prompt list's
//! filters are timed through the command layer by `src-tauri`'s
//! `list_commands` benchmark.
//!
//! Times the release binary (`cargo build --release --workspace --bin
//! promptforge-desktop`); `BENCH_APP_BINARY=path` times another build, named
//! as such in the output.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use promptforge_sync::Store;
use promptforge_tests::webdriver::{Display, StopOnDrop};

#[path = "support/bench_library.rs"]
mod bench_library;

use bench_library::{drop_page_cache, seed_library};

fn app_binary() -> anyhow::Result<PathBuf> {
    if let Some(binary) = std::env::var_os("BENCH_APP_BINARY") {
        return Ok(PathBuf::from(binary));
    }
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .context("no target directory")?;
    let binary = target.join("release").join("promptforge-desktop");
    if !binary.exists() {
        bail!(
            "no release build of the app at {}: run cargo build --release --workspace --bin promptforge-desktop (or set BENCH_APP_BINARY)",
            binary.display()
        );
    }
    Ok(binary)
}

async fn seed(dir: &Path, count: usize) -> anyhow::Result<()> {
    let store = Store::open(dir).await?;
    let started = Instant::now();
    seed_library(&store, count).await?;
    println!(
        "seeded {count} prompts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Launches the app once; returns (wall ms to the UI's ready signal, the
/// app's own figure since `run()` began).
fn launch_once(binary: &Path, display: &Display, data_dir: &Path) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    // Stopped on every way out of a launch, so a failed run leaves nothing behind.
    let mut child = StopOnDrop(
        Command::new(binary)
            .env("DISPLAY", &display.name)
            .env("PROMPTFORGE_DATA_DIR", data_dir)
            .env("PROMPTFORGE_EXIT_WHEN_READY", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().context("no stdout")?;
    let (lines, ready_line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(ms) = line.strip_prefix("ready_ms=") {
                let _ = lines.send((Instant::now(), ms.trim().to_owned()));
                return;
            }
        }
    });
    let (at, inside) = ready_line
        .recv_timeout(Duration::from_secs(120))
        .context("the app did not report ready within 120 s")?;
    let wall = at.duration_since(started).as_secs_f64() * 1000.0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.0.try_wait()?.is_none() {
        if Instant::now() > deadline {
            bail!("the app did not quit after reporting ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((wall, inside.parse()?))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One cold launch (if the page cache can be dropped) and the median of
/// four warm ones, reported under `name`. `before_each` runs before every
/// launch (removing the catalog snapshot, say).
fn launches(
    name: &str,
    binary: &Path,
    display: &Display,
    data_dir: &Path,
    before_each: &dyn Fn() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    before_each()?;
    if drop_page_cache() {
        let (wall, inside) = launch_once(binary, display, data_dir)?;
        println!("{name}, cold page cache: {wall:.0} ms (app's own measure {inside} ms)");
    } else {
        println!("{name}, cold page cache: not measured (dropping the cache needs root)");
    }
    let mut walls = Vec::new();
    let mut insides = Vec::new();
    for _ in 0..4 {
        before_each()?;
        let (wall, inside) = launch_once(binary, display, data_dir)?;
        walls.push(wall);
        insides.push(inside as f64);
    }
    println!(
        "{name}, warm page cache: median {:.0} ms over 4 launches (app's own measure {:.0} ms), slowest {:.0} ms",
        median(walls.clone()),
        median(insides),
        walls.iter().copied().fold(0.0, f64::max)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let binary = app_binary()?;
    println!("app binary: {}", binary.display());
    let data = tempfile::tempdir()?;
    let profile = data.path().join("profiles").join("local");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(seed(&profile, count))?;

    let display = Display::start()?;
    let snapshot = profile.join("catalog.snapshot");
    launches(
        &format!(
            "startup to an interactive list of {count} prompts, catalog saved at the last close"
        ),
        &binary,
        &display,
        data.path(),
        &|| {
            anyhow::ensure!(
                snapshot.exists(),
                "the app saved no catalog snapshot when it quit"
            );
            Ok(())
        },
    )?;
    // As after a crash: no saved catalog, so the open decodes every document.
    launches(
        &format!("startup after an unclean exit (catalog rebuilt from {count} prompts)"),
        &binary,
        &display,
        data.path(),
        &|| {
            if snapshot.exists() {
                std::fs::remove_file(&snapshot)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}
