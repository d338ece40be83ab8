//! Store benchmark at 100k prompts: each operation through the store, and the
//! bare `polodb_core` call doing the same work, so the store's overhead shows.
//!
//! Run: `cargo bench -p promptforge-sync --bench store_bench` (optionally
//! `BENCH_PROMPTS=N`). Prints one line per measurement.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use polodb_core::{CollectionT, Database};
use promptforge_sync::schema::{Collection, Prompt};
use promptforge_sync::{ListQuery, SortBy, Store};

const CATEGORIES: [&str; 20] = [
    "writing",
    "code",
    "marketing",
    "support",
    "research",
    "sales",
    "legal",
    "design",
    "data",
    "education",
    "health",
    "finance",
    "travel",
    "gaming",
    "music",
    "science",
    "hr",
    "ops",
    "product",
    "other",
];
const WORDS: [&str; 16] = [
    "summarise",
    "translate",
    "explain",
    "rewrite",
    "classify",
    "extract",
    "draft",
    "review",
    "outline",
    "critique",
    "brainstorm",
    "compare",
    "debug",
    "refactor",
    "plan",
    "estimate",
];

fn prompt_fields(i: usize) -> (String, String, &'static str, Vec<String>) {
    let title = format!("{} prompt number {i}", WORDS[i % WORDS.len()]);
    let content = format!(
        "You are an assistant. {} the following text for a {} audience, in {} bullet points. Ref {i}.",
        WORDS[(i / 7) % WORDS.len()],
        CATEGORIES[(i / 3) % CATEGORIES.len()],
        i % 9 + 1
    );
    let category = CATEGORIES[i % CATEGORIES.len()];
    let tags = vec![
        format!("tag{}", i % 50),
        WORDS[(i / 11) % WORDS.len()].to_owned(),
    ];
    (title, content, category, tags)
}

fn report(name: &str, total: Duration, ops: usize, bare: Option<Duration>) {
    let per_op = total / ops.max(1) as u32;
    let ratio = bare
        .map(|b| {
            format!(
                "  bare {:>10.3?}/op  ratio {:.2}",
                b / ops.max(1) as u32,
                total.as_secs_f64() / b.as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!(
        "{name:<44} {per_op:>10.3?}/op  ({ops} ops, {:>8.0}/s){ratio}",
        ops as f64 / total.as_secs_f64()
    );
}

fn time<R>(work: impl FnOnce() -> R) -> (R, Duration) {
    let start = Instant::now();
    let result = work();
    (result, start.elapsed())
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// In a fresh process: open an existing profile, search it once, and report
/// time and resident memory, free of the benchmark's own data.
fn measure_open(profile: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let before = rss_mib();
    let (store, open_time) = time(|| runtime.block_on(Store::open(profile)));
    let store = store?;
    report("open profile (catalog rebuild)", open_time, 1, None);
    let query = ListQuery {
        text: Some("summarise".into()),
        ..ListQuery::default()
    };
    black_box(runtime.block_on(store.list::<Prompt>(query))?);
    println!(
        "resident memory of a process with the store open: {:.0} MiB ({:.0} MiB before opening); {} prompts, {} versions",
        rss_mib(),
        before,
        store.count(Collection::Prompts),
        store.count(Collection::PromptVersions)
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    if let Ok(profile) = std::env::var("BENCH_MEASURE_OPEN") {
        return measure_open(&profile);
    }
    let n: usize = std::env::var("BENCH_PROMPTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    println!(
        "store benchmark: {n} prompts, profile in {}",
        dir.path().display()
    );

    // The raw cost of one durable commit on this disk: write + fsync.
    let fsync_file = dir.path().join("fsync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&fsync_file)?;
    let (_, fsync_total) = time(|| -> anyhow::Result<()> {
        for _ in 0..200 {
            file.write_all(b"x")?;
            file.sync_data()?;
        }
        Ok(())
    });
    report("raw write+fsync (disk floor)", fsync_total, 200, None);

    // Bare PoloDB: same documents, no rules, no validation, no catalog.
    let bare_db = Database::open_path(dir.path().join("bare"))?;
    let bare = bare_db.collection::<Document>("prompts");
    let user = "bench-user";
    let bare_docs: Vec<Document> = (0..n)
        .map(|i| {
            let mut p = Prompt::new(user, "", "");
            let (title, content, category, tags) = prompt_fields(i);
            p.id = format!("p{i:07}");
            p.title = title;
            p.content = content;
            p.category = category.to_owned();
            p.tags = tags;
            bson::to_document(&p).map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<_>>()?;
    let (_, bare_bulk) = time(|| -> anyhow::Result<()> {
        for chunk in bare_docs.chunks(1000) {
            bare.insert_many(chunk)?;
        }
        Ok(())
    });

    let store = runtime.block_on(Store::open(dir.path().join("profile")))?;
    let models: Vec<Prompt> = (0..n)
        .map(|i| {
            let (title, content, category, tags) = prompt_fields(i);
            let mut p = Prompt::new(&store.user_id(), &title, &content);
            p.id = format!("p{i:07}");
            p.category = category.to_owned();
            p.tags = tags;
            p
        })
        .collect();
    let (_, store_bulk) = time(|| -> anyhow::Result<()> {
        for chunk in models.chunks(1000) {
            runtime.block_on(store.create_many(chunk.to_vec()))?;
        }
        Ok(())
    });
    report(
        "bulk create (1000/txn, +1 version each)",
        store_bulk,
        n,
        Some(bare_bulk),
    );

    let single = 200;
    let (_, bare_single) = time(|| -> anyhow::Result<()> {
        for (i, doc) in bare_docs.iter().take(single).enumerate() {
            let mut doc = doc.clone();
            doc.insert("_id", format!("single{i}"));
            bare.insert_one(doc)?;
        }
        Ok(())
    });
    let (_, store_single) = time(|| -> anyhow::Result<()> {
        for (i, model) in models.iter().take(single).enumerate() {
            let mut p = model.clone();
            p.id = format!("single{i}");
            runtime.block_on(store.create(p))?;
        }
        Ok(())
    });
    report(
        "create one (own commit, +1 version)",
        store_single,
        single,
        Some(bare_single),
    );

    let reads = 20_000;
    let ids: Vec<String> = (0..reads)
        .map(|i| format!("p{:07}", (i * 7919) % n))
        .collect();
    let (_, bare_get) = time(|| -> anyhow::Result<()> {
        for id in &ids {
            black_box(bare.find_one(doc! { "_id": id })?);
        }
        Ok(())
    });
    let (_, store_get) = time(|| -> anyhow::Result<()> {
        runtime.block_on(async {
            for id in &ids {
                black_box(store.get::<Prompt>(id).await?);
            }
            Ok::<_, anyhow::Error>(())
        })
    });
    report("get by id", store_get, reads, Some(bare_get));

    let patches = 500;
    let (_, bare_patch) = time(|| -> anyhow::Result<()> {
        for i in 0..patches {
            bare.update_one(
                doc! { "_id": format!("p{:07}", i * 13) },
                doc! { "$set": { "title": format!("renamed {i}") } },
            )?;
        }
        Ok(())
    });
    let (_, store_patch) = time(|| -> anyhow::Result<()> {
        for i in 0..patches {
            runtime.block_on(store.patch::<Prompt>(
                &format!("p{:07}", i * 13),
                doc! { "title": format!("renamed {i}") },
            ))?;
        }
        Ok(())
    });
    report(
        "patch title (own commit)",
        store_patch,
        patches,
        Some(bare_patch),
    );
    let (_, store_patch_content) = time(|| -> anyhow::Result<()> {
        for i in 0..patches {
            runtime.block_on(store.patch::<Prompt>(
                &format!("p{:07}", i * 17),
                doc! { "content": format!("new content {i}") },
            ))?;
        }
        Ok(())
    });
    report(
        "patch content (+1 version, own commit)",
        store_patch_content,
        patches,
        Some(bare_patch),
    );

    // The bare scans take seconds each: a few runs are plenty.
    let lists = 50;
    let bare_lists = 5;
    let (_, bare_list) = time(|| -> anyhow::Result<()> {
        for i in 0..bare_lists {
            let cursor = bare
                .find(doc! { "category": CATEGORIES[i % CATEGORIES.len()] })
                .sort(doc! { "updated_at": -1 })
                .limit(50)
                .run()?;
            black_box(cursor.collect::<Result<Vec<_>, _>>()?);
        }
        Ok(())
    });
    let (_, store_list) = time(|| -> anyhow::Result<()> {
        for i in 0..lists {
            let query = ListQuery {
                category: Some(CATEGORIES[i % CATEGORIES.len()].to_owned()),
                sort: SortBy::UpdatedAt,
                limit: 50,
                ..ListQuery::default()
            };
            black_box(runtime.block_on(store.list::<Prompt>(query))?);
        }
        Ok(())
    });
    report(
        "list 50 by category, newest first",
        store_list,
        lists,
        Some(bare_list),
    );

    let searches = 50;
    let bare_searches = 5;
    // PoloDB has no text search (a string $regex is rejected): the bare
    // equivalent is a full scan filtered in Rust.
    let (_, bare_search) = time(|| -> anyhow::Result<()> {
        for i in 0..bare_searches {
            let word = WORDS[i % WORDS.len()];
            let mut hits = 0;
            for doc in bare.find(doc! {}).run()? {
                let doc = doc?;
                if doc.get_str("content").unwrap_or("").contains(word)
                    || doc.get_str("title").unwrap_or("").contains(word)
                {
                    hits += 1;
                }
            }
            black_box(hits);
        }
        Ok(())
    });
    let (_, store_search) = time(|| -> anyhow::Result<()> {
        for i in 0..searches {
            let query = ListQuery {
                text: Some(format!("{} audience", WORDS[i % WORDS.len()])),
                limit: 50,
                ..ListQuery::default()
            };
            black_box(runtime.block_on(store.list::<Prompt>(query))?);
        }
        Ok(())
    });
    report(
        "text search over all prompts, first 50",
        store_search,
        searches,
        Some(bare_search),
    );

    drop(store);
    let status = std::process::Command::new(std::env::current_exe()?)
        .env("BENCH_MEASURE_OPEN", dir.path().join("profile"))
        .status()?;
    anyhow::ensure!(status.success(), "the open measurement failed");
    Ok(())
}
