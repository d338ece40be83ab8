//! Store benchmark at 100k prompts: each operation through the store, and the
//! bare `polodb_core` call doing the same work, so the store's overhead shows.
//!
//! Run: `cargo bench --workspace --bench store_bench` (optionally
//! `BENCH_PROMPTS=N`). Prints one line per measurement.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use polodb_core::{CollectionT, Database};
use promptforge_sync::schema::{Collection, Prompt};
use promptforge_sync::{ListQuery, SortBy, Store};

#[path = "../../tests/benches/support/bench_library.rs"]
mod bench_library;

use bench_library::drop_page_cache;

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

/// One measured run: its total time over `ops` operations.
#[derive(Debug, Clone, Copy)]
struct Timed {
    total: Duration,
    ops: usize,
}

impl Timed {
    fn per_op(self) -> Duration {
        self.total / self.ops.max(1) as u32
    }
}

/// Prints a measurement beside its floor (the bare PoloDB calls doing the
/// same work, named), with the ratio of the per-operation times.
fn report(name: &str, measured: Timed, floor: Option<(&str, Timed)>) {
    let per_op = measured.per_op();
    let floor = floor
        .map(|(label, bare)| {
            let ratio = per_op.as_secs_f64() / bare.per_op().as_secs_f64();
            // Three significant figures, so a ratio far below 1 does not print as 0.00.
            let decimals = (2.0 - ratio.log10().floor()).clamp(2.0, 6.0) as usize;
            format!(
                "\n    floor, {label}: {:>10.3?}/op ({} ops)  ratio {ratio:.decimals$}",
                bare.per_op(),
                bare.ops,
            )
        })
        .unwrap_or_default();
    println!(
        "{name:<48} {per_op:>10.3?}/op  ({} ops, {:>8.0}/s){floor}",
        measured.ops,
        measured.ops as f64 / measured.total.as_secs_f64()
    );
}

fn time<R>(ops: usize, work: impl FnOnce() -> R) -> (R, Timed) {
    let start = Instant::now();
    let result = work();
    let total = start.elapsed();
    (result, Timed { total, ops })
}

/// A bare version document for the floors of writes that save a version.
fn bare_version(prompt: &Document, number: i64) -> Document {
    let id = prompt.get_str("_id").unwrap_or_default();
    doc! {
        "_id": format!("{id}-v{number}"),
        "prompt_id": id,
        "user_id": prompt.get_str("user_id").unwrap_or_default(),
        "version_number": number,
        "content": prompt.get_str("content").unwrap_or_default(),
        "type": "text",
        "changes": "",
        "created_at": bson::DateTime::now(),
        "version": 1_i64,
    }
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
/// time and resident memory, free of the benchmark's own data. `label` says
/// how the catalog is loaded and whether the page cache was dropped.
fn measure_open(profile: &str, label: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let before = rss_mib();
    let (store, open_time) = time(1, || runtime.block_on(Store::open(profile)));
    let store = store?;
    report(&format!("open profile, {label}"), open_time, None);
    let query = ListQuery {
        text: Some("summarise".into()),
        ..ListQuery::default()
    };
    black_box(runtime.block_on(store.list::<Prompt>(query))?);
    println!(
        "    resident memory with the store open: {:.0} MiB ({:.0} MiB before opening); {} prompts, {} versions",
        rss_mib(),
        before,
        store.count(Collection::Prompts),
        store.count(Collection::PromptVersions)
    );
    Ok(())
}

/// Opens the profile in a fresh process, as the app does at launch: with
/// the catalog snapshot its last close saved or without one (removed, as
/// after a crash), from a dropped page cache or a warm one.
fn open_in_fresh_process(profile: &Path, snapshot: bool, cold: bool) -> anyhow::Result<()> {
    let snapshot_file = profile.join("catalog.snapshot");
    if snapshot {
        anyhow::ensure!(
            snapshot_file.exists(),
            "the last close saved no catalog snapshot"
        );
    } else if snapshot_file.exists() {
        std::fs::remove_file(&snapshot_file)?;
    }
    if cold && !drop_page_cache() {
        println!("open profile, cold page cache: not measured (dropping the cache needs root)");
        return Ok(());
    }
    let label = format!(
        "{}, {} page cache",
        if snapshot {
            "catalog snapshot loaded"
        } else {
            "no snapshot, catalog rebuilt"
        },
        if cold { "cold" } else { "warm" }
    );
    let status = std::process::Command::new(std::env::current_exe()?)
        .env("BENCH_MEASURE_OPEN", profile)
        .env("BENCH_OPEN_LABEL", label)
        .status()?;
    anyhow::ensure!(status.success(), "the open measurement failed");
    Ok(())
}

/// The bare equivalent of a text search: every term in the lower-cased
/// title, description, content or tags, newest first, the first 50.
fn bare_search(bare: &polodb_core::Collection<Document>, text: &str) -> anyhow::Result<usize> {
    let terms: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    let mut hits = Vec::new();
    for doc in bare.find(doc! {}).run()? {
        let doc = doc?;
        let mut haystack = String::new();
        for field in ["title", "description", "content"] {
            haystack.push_str(&doc.get_str(field).unwrap_or("").to_lowercase());
            haystack.push(' ');
        }
        for tag in doc
            .get_array("tags")
            .map(|t| t.as_slice())
            .unwrap_or_default()
        {
            haystack.push_str(&tag.as_str().unwrap_or("").to_lowercase());
            haystack.push(' ');
        }
        if terms.iter().all(|t| haystack.contains(t.as_str())) {
            let updated = doc
                .get_datetime("updated_at")
                .map(|d| d.timestamp_millis())
                .unwrap_or(0);
            hits.push((updated, doc));
        }
    }
    hits.sort_by_key(|hit| std::cmp::Reverse(hit.0));
    hits.truncate(50);
    Ok(black_box(hits).len())
}

fn main() -> anyhow::Result<()> {
    if let Ok(profile) = std::env::var("BENCH_MEASURE_OPEN") {
        let label = std::env::var("BENCH_OPEN_LABEL").unwrap_or_default();
        return measure_open(&profile, &label);
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
    let (_, fsync_total) = time(200, || -> anyhow::Result<()> {
        for _ in 0..200 {
            file.write_all(b"x")?;
            file.sync_data()?;
        }
        Ok(())
    });
    report("raw write+fsync (the disk's floor)", fsync_total, None);

    // Bare PoloDB: the same documents and the same writes (a prompt and its
    // version in one transaction), without rules, validation or catalog.
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
    let bare_write = |prompts: &[Document]| -> anyhow::Result<()> {
        let txn = bare_db.start_transaction()?;
        txn.collection::<Document>("prompts").insert_many(prompts)?;
        let versions: Vec<Document> = prompts.iter().map(|p| bare_version(p, 1)).collect();
        txn.collection::<Document>("prompt_versions")
            .insert_many(versions)?;
        txn.commit()?;
        Ok(())
    };
    let (bulk, bare_bulk) = time(n, || -> anyhow::Result<()> {
        for chunk in bare_docs.chunks(1000) {
            bare_write(chunk)?;
        }
        Ok(())
    });
    bulk?;

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
    let (bulk, store_bulk) = time(n, || -> anyhow::Result<()> {
        for chunk in models.chunks(1000) {
            runtime.block_on(store.create_many(chunk.to_vec()))?;
        }
        Ok(())
    });
    bulk?;
    report(
        "bulk create, 1000 per commit, +1 version each",
        store_bulk,
        Some((
            "prompts + versions, insert_many in one transaction per 1000",
            bare_bulk,
        )),
    );

    let single = 200;
    let (created, bare_single) = time(single, || -> anyhow::Result<()> {
        for (i, doc) in bare_docs.iter().take(single).enumerate() {
            let mut doc = doc.clone();
            doc.insert("_id", format!("single{i}"));
            bare_write(std::slice::from_ref(&doc))?;
        }
        Ok(())
    });
    created?;
    let (created, store_single) = time(single, || -> anyhow::Result<()> {
        for (i, model) in models.iter().take(single).enumerate() {
            let mut p = model.clone();
            p.id = format!("single{i}");
            runtime.block_on(store.create(p))?;
        }
        Ok(())
    });
    created?;
    report(
        "create one, own commit, +1 version",
        store_single,
        Some(("prompt + version in one transaction", bare_single)),
    );

    let reads = 20_000;
    let ids: Vec<String> = (0..reads)
        .map(|i| format!("p{:07}", (i * 7919) % n))
        .collect();
    let (got, bare_get) = time(reads, || -> anyhow::Result<()> {
        for id in &ids {
            black_box(bare.find_one(doc! { "_id": id })?);
        }
        Ok(())
    });
    got?;
    let (got, store_get) = time(reads, || -> anyhow::Result<()> {
        runtime.block_on(async {
            for id in &ids {
                black_box(store.get::<Prompt>(id).await?);
            }
            Ok::<_, anyhow::Error>(())
        })
    });
    got?;
    report("get by id", store_get, Some(("find_one by _id", bare_get)));

    let patches = 500;
    let (patched, bare_patch) = time(patches, || -> anyhow::Result<()> {
        for i in 0..patches {
            bare.update_one(
                doc! { "_id": format!("p{:07}", i * 13) },
                doc! { "$set": { "title": format!("renamed {i}") } },
            )?;
        }
        Ok(())
    });
    patched?;
    let (patched, store_patch) = time(patches, || -> anyhow::Result<()> {
        for i in 0..patches {
            runtime.block_on(store.patch::<Prompt>(
                &format!("p{:07}", i * 13),
                doc! { "title": format!("renamed {i}") },
            ))?;
        }
        Ok(())
    });
    patched?;
    report(
        "patch title, own commit",
        store_patch,
        Some(("update_one $set title", bare_patch)),
    );
    let (patched, bare_patch_content) = time(patches, || -> anyhow::Result<()> {
        for i in 0..patches {
            let id = format!("p{:07}", i * 17);
            let content = format!("new content {i}");
            let txn = bare_db.start_transaction()?;
            txn.collection::<Document>("prompts").update_one(
                doc! { "_id": &id },
                doc! { "$set": { "content": &content } },
            )?;
            let prompt = doc! { "_id": &id, "user_id": user, "content": &content };
            txn.collection::<Document>("prompt_versions")
                .insert_one(bare_version(&prompt, 2))?;
            txn.commit()?;
        }
        Ok(())
    });
    patched?;
    let (patched, store_patch_content) = time(patches, || -> anyhow::Result<()> {
        for i in 0..patches {
            runtime.block_on(store.patch::<Prompt>(
                &format!("p{:07}", i * 17),
                doc! { "content": format!("new content {i}") },
            ))?;
        }
        Ok(())
    });
    patched?;
    report(
        "patch content, own commit, +1 version",
        store_patch_content,
        Some((
            "update_one $set content + insert a version, one transaction",
            bare_patch_content,
        )),
    );

    // The same queries, the same number of times, through both. PoloDB has
    // no text search (a string $regex is rejected) and no index here, so
    // its lists are full scans: a few runs are plenty.
    let runs = 10;
    let (listed, bare_list) = time(runs, || -> anyhow::Result<()> {
        for i in 0..runs {
            let cursor = bare
                .find(doc! { "category": CATEGORIES[i % CATEGORIES.len()] })
                .sort(doc! { "updated_at": -1 })
                .limit(50)
                .run()?;
            black_box(cursor.collect::<Result<Vec<_>, _>>()?);
        }
        Ok(())
    });
    listed?;
    let (listed, store_list) = time(runs, || -> anyhow::Result<()> {
        for i in 0..runs {
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
    listed?;
    report(
        "list 50 of one category, newest first",
        store_list,
        Some(("find by category, sort updated_at -1, limit 50", bare_list)),
    );

    let search_text = |i: usize| format!("{} audience", WORDS[i % WORDS.len()]);
    let (searched, bare_searches) = time(runs, || -> anyhow::Result<()> {
        for i in 0..runs {
            bare_search(&bare, &search_text(i))?;
        }
        Ok(())
    });
    searched?;
    let (searched, store_search) = time(runs, || -> anyhow::Result<()> {
        for i in 0..runs {
            let query = ListQuery {
                text: Some(search_text(i)),
                limit: 50,
                ..ListQuery::default()
            };
            black_box(runtime.block_on(store.list::<Prompt>(query))?);
        }
        Ok(())
    });
    searched?;
    report(
        "text search (two terms) over all prompts, first 50",
        store_search,
        Some((
            "full scan matching the terms in Rust, sort, first 50",
            bare_searches,
        )),
    );

    // Opening: with the catalog saved at the last close (the usual launch),
    // then without it (as after a crash), each cold and then warm. Every
    // measuring process saves a snapshot when it closes the store.
    drop(store);
    let profile = dir.path().join("profile");
    for (snapshot, cold) in [(true, true), (true, false), (false, true), (false, false)] {
        open_in_fresh_process(&profile, snapshot, cold)?;
    }
    Ok(())
}
