//! Startup of the real desktop app with a large library, and the prompt
//! list's filtering at that size.
//!
//! Seeds a profile with `BENCH_PROMPTS` prompts (default 100,000), then
//! launches `promptforge-desktop` under Xvfb five times with
//! `PROMPTFORGE_EXIT_WHEN_READY`: the UI reports once it has drawn the first
//! page of the prompt list, and the app prints how long that took and quits.
//! Reported: wall time from spawn to that signal, for launches that find the
//! catalog saved at the last close and for one that must rebuild it (as after
//! a crash). Then times the list queries the prompt screen makes (filters and
//! search) on the same store.
//! Uses the release binary when built (`cargo build --release -p
//! promptforge-desktop`), else the debug one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use promptforge_sync::schema::{Difficulty, Prompt};
use promptforge_sync::{ListQuery, Store};
use promptforge_tests::webdriver::{Display, StopOnDrop};

const CATEGORIES: [&str; 8] = [
    "writing",
    "code",
    "marketing",
    "support",
    "research",
    "sales",
    "design",
    "education",
];

fn app_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .context("no target directory")?;
    for profile in ["release", "debug"] {
        let binary = target.join(profile).join("promptforge-desktop");
        if binary.exists() {
            return Ok(binary);
        }
    }
    bail!("build promptforge-desktop first (cargo build --release -p promptforge-desktop)")
}

async fn seed(dir: &Path, count: usize) -> anyhow::Result<()> {
    let store = Store::open(dir).await?;
    let user = store.user_id();
    let started = Instant::now();
    let mut made = 0;
    while made < count {
        let batch: Vec<Prompt> = (made..(made + 2_000).min(count))
            .map(|i| {
                let mut prompt = Prompt::new(
                    &user,
                    &format!("Prompt {i}: {} helper", CATEGORIES[i % 8]),
                    &format!("You are an assistant for {}. Task number {i}: explain, summarise and rewrite the text the user gives you, in a friendly tone.", CATEGORIES[i % 8]),
                );
                prompt.category = CATEGORIES[i % 8].to_owned();
                prompt.tags = vec![format!("tag{}", i % 40), "bench".to_owned()];
                prompt.difficulty = Difficulty::ALL[i % Difficulty::ALL.len()];
                prompt
            })
            .collect();
        made += batch.len();
        store.create_many(batch).await?;
    }
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

fn time_query(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    name: &str,
    query: ListQuery,
) -> anyhow::Result<()> {
    let mut times = Vec::new();
    let mut total = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let page = runtime.block_on(store.list::<Prompt>(query.clone()))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        total = page.total;
    }
    println!(
        "{name:<52} median {:>6.2} ms, max {:>6.2} ms ({total} match, first 100 returned)",
        median(times.clone()),
        times.iter().copied().fold(0.0, f64::max)
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
    let mut walls = Vec::new();
    for run in 1..=5 {
        let (wall, inside) = launch_once(&binary, &display, data.path())?;
        println!("launch {run}: interactive after {wall:.0} ms (app's own measure {inside} ms)");
        walls.push(wall);
    }
    println!(
        "startup to an interactive prompt list with {count} prompts: median {:.0} ms over 5 launches",
        median(walls)
    );
    // As after a crash: no saved catalog, so the open decodes every document.
    std::fs::remove_file(profile.join("catalog.snapshot"))
        .context("the app saved no catalog snapshot when it quit")?;
    let (wall, inside) = launch_once(&binary, &display, data.path())?;
    println!(
        "startup after an unclean exit (catalog rebuilt from {count} prompts): {wall:.0} ms (app's own measure {inside} ms)"
    );

    let store = runtime.block_on(Store::open(&profile))?;
    let page = |query: ListQuery| ListQuery {
        limit: 100,
        ..query
    };
    time_query(
        &runtime,
        &store,
        "all prompts, newest first",
        page(ListQuery::default()),
    )?;
    time_query(
        &runtime,
        &store,
        "category = code",
        page(ListQuery {
            category: Some("code".into()),
            ..ListQuery::default()
        }),
    )?;
    time_query(
        &runtime,
        &store,
        "category + difficulty + tag",
        page(ListQuery {
            category: Some("marketing".into()),
            difficulty: Some("expert".into()),
            tags: vec!["tag2".into()],
            ..ListQuery::default()
        }),
    )?;
    time_query(
        &runtime,
        &store,
        "search \"summarise friendly\"",
        page(ListQuery {
            text: Some("summarise friendly".into()),
            ..ListQuery::default()
        }),
    )?;
    time_query(
        &runtime,
        &store,
        "search \"number 4242\" + category, by title",
        page(ListQuery {
            text: Some("number 4242".into()),
            category: Some("sales".into()),
            sort: promptforge_sync::SortBy::Title,
            ..ListQuery::default()
        }),
    )?;
    Ok(())
}
