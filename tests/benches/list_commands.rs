//! The prompt screen's list queries at library size, through the command the
//! UI calls (`list_documents` over Tauri's IPC on the mock runtime: argument
//! decoding, the store, JSON for the page) and, as the floor, the same
//! queries straight to the store, the same number of times in the same run.
//!
//! Run: `cargo bench --workspace --bench list_commands` (`BENCH_PROMPTS=N`,
//! default 100,000).

use std::time::Instant;

use promptforge_sync::schema::Prompt;
use promptforge_sync::{ListQuery, SortBy, Store};
use serde_json::{json, Value};

#[path = "support/bench_library.rs"]
mod bench_library;

use bench_library::seed_library;

const RUNS: usize = 20;

/// One of the prompt screen's queries, as the UI sends it and as the store
/// takes it.
struct Case {
    name: &'static str,
    ui: Value,
    store: ListQuery,
}

fn cases() -> Vec<Case> {
    let page = |query: ListQuery| ListQuery {
        limit: 100,
        ..query
    };
    vec![
        Case {
            name: "all prompts, newest first",
            ui: json!({ "limit": 100 }),
            store: page(ListQuery::default()),
        },
        Case {
            name: "category = code",
            ui: json!({ "limit": 100, "category": "code" }),
            store: page(ListQuery {
                category: Some("code".into()),
                ..ListQuery::default()
            }),
        },
        Case {
            name: "category + difficulty + tag",
            ui: json!({ "limit": 100, "category": "marketing", "difficulty": "expert", "tags": ["tag2"] }),
            store: page(ListQuery {
                category: Some("marketing".into()),
                difficulty: Some("expert".into()),
                tags: vec!["tag2".into()],
                ..ListQuery::default()
            }),
        },
        Case {
            name: "search \"summarise friendly\"",
            ui: json!({ "limit": 100, "text": "summarise friendly" }),
            store: page(ListQuery {
                text: Some("summarise friendly".into()),
                ..ListQuery::default()
            }),
        },
        Case {
            name: "search \"number 4242\" + category, by title",
            ui: json!({ "limit": 100, "text": "number 4242", "category": "sales", "sort": "title" }),
            store: page(ListQuery {
                text: Some("number 4242".into()),
                category: Some("sales".into()),
                sort: SortBy::Title,
                ..ListQuery::default()
            }),
        },
    ]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median milliseconds of `RUNS` runs, and what the last run matched.
fn timed(mut run: impl FnMut() -> anyhow::Result<u64>) -> anyhow::Result<(f64, u64)> {
    let mut times = Vec::with_capacity(RUNS);
    let mut matched = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        matched = run()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(times), matched))
}

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("BENCH_PROMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let data = tempfile::tempdir()?;
    let profile = data.path().join("profiles").join("local");
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    runtime.block_on(async {
        let store = Store::open(&profile).await?;
        seed_library(&store, count).await?;
        store.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    println!(
        "list benchmark: {count} prompts seeded in {:.1} s; median of {RUNS} runs each, first 100 returned",
        started.elapsed().as_secs_f64()
    );

    let app = promptforge_tests::desktop_app::DesktopApp::open(data.path())?;
    let mut through_command = Vec::new();
    for case in cases() {
        let args = json!({ "collection": "prompts", "query": case.ui });
        let (ms, matched) = timed(|| {
            let page = app
                .call("list_documents", args.clone())
                .map_err(|e| anyhow::anyhow!("list_documents: {e}"))?;
            Ok(page["total"].as_u64().unwrap_or(0))
        })?;
        through_command.push((case, ms, matched));
    }
    app.quit();

    // The floor: the same queries to the store in this process, after the
    // app closed the profile.
    let store = runtime.block_on(Store::open(&profile))?;
    for (case, command_ms, command_matched) in through_command {
        let (store_ms, matched) = timed(|| {
            let page = runtime.block_on(store.list::<Prompt>(case.store.clone()))?;
            Ok(page.total as u64)
        })?;
        anyhow::ensure!(
            matched == command_matched,
            "{}: the command matched {command_matched}, the store {matched}",
            case.name
        );
        println!(
            "{:<44} list_documents {command_ms:>7.2} ms   floor, Store::list {store_ms:>7.2} ms   ratio {:.2}   ({matched} match)",
            case.name,
            command_ms / store_ms
        );
    }
    Ok(())
}
