//! Sync engine benchmark: the first sync of N documents (default 100k) into an
//! empty desktop store, against a naive bulk copy of the same documents into
//! bare PoloDB in the same run; then the cost of applying one remote change
//! with N documents stored.
//!
//! The server side is an in-memory transport serving ready pages, so what is
//! measured is the desktop's own work (validation, rebase checks, catalog,
//! transactions, checkpoints); end-to-end figures against the real server are
//! in `promptforge-tests`' `sync_bench`.
//!
//! Run: `cargo bench --workspace --bench engine_bench` (optionally
//! `BENCH_DOCS=N`).

use std::time::Instant;

use bson::Document;
use polodb_core::{CollectionT, Database};
use promptforge_sync::engine::{Transport, TransportError};
use promptforge_sync::schema::{Collection, Prompt};
use promptforge_sync::store::codec::encode;
use promptforge_sync::{Store, SyncConfig, SyncEngine};
use promptforge_wire::protocol::{
    Change, HandshakeRequest, HandshakeResponse, PullRequest, PullResponse, PushRequest,
    PushResponse, PROTOCOL_VERSION, SCHEMA_VERSION,
};

const USER: &str = "bench-user";
const PAGE_BYTES: u64 = 1 << 20;

/// Serves pulls of `documents` prompts made on demand (so the server side
/// holds nothing and the process's peak memory is the desktop's), in pages
/// of about `PAGE_BYTES`.
struct MemoryServer {
    documents: usize,
}

impl Transport for MemoryServer {
    async fn handshake(&self, _: &HandshakeRequest) -> Result<HandshakeResponse, TransportError> {
        Ok(HandshakeResponse {
            user_id: USER.into(),
            protocol_version: PROTOCOL_VERSION,
            schema_version: SCHEMA_VERSION,
            collections: vec!["prompts".into()],
            last_mutation_id: 0,
        })
    }

    async fn push(&self, _: &PushRequest) -> Result<PushResponse, TransportError> {
        Ok(PushResponse {
            results: Vec::new(),
        })
    }

    async fn pull(&self, request: &PullRequest) -> Result<PullResponse, TransportError> {
        let start = usize::try_from(request.checkpoint).unwrap_or(0);
        let mut page = Vec::new();
        let mut used = 0;
        for i in start..self.documents {
            let document = server_document(i);
            let size = bson::to_vec(&document).map_or(0, |b| b.len() as u64);
            if !page.is_empty() && used + size > PAGE_BYTES {
                break;
            }
            used += size;
            page.push(Change {
                seq: i as i64 + 1,
                id: format!("{i:024x}"),
                document,
                left_scope: false,
            });
        }
        let checkpoint = page.last().map_or(request.checkpoint, |c| c.seq);
        let remaining = self.documents.saturating_sub(start + page.len()) as u64;
        Ok(PullResponse {
            collection: request.collection.clone(),
            changes: page,
            checkpoint,
            has_more: remaining > 0,
            remaining_estimate: remaining,
        })
    }

    fn endpoint(&self) -> String {
        "memory".into()
    }
}

fn server_document(i: usize) -> Document {
    let mut prompt = Prompt::new(
        USER,
        &format!("Prompt number {i}"),
        &format!("Explain topic {i} to a curious twelve-year-old, with one example."),
    );
    prompt.id = format!("{i:024x}");
    prompt.tags = vec!["bench".into(), format!("group-{}", i % 50)];
    prompt.version = 1;
    encode(&prompt).expect("encode a prompt")
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let n: usize = std::env::var("BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = MemoryServer { documents: n };
    let sample = bson::to_vec(&server_document(0)).map_or(0, |b| b.len());
    println!("{n} prompts of about {sample} bytes of BSON each");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime.block_on(async {
        let store = Store::open(dir.path()).await.expect("open store");
        let engine = SyncEngine::new(store.clone(), server, SyncConfig::default());
        let started = Instant::now();
        let report = engine.sync_once().await.expect("first sync");
        let first = started.elapsed();
        assert_eq!(report.pulled, n);
        assert_eq!(store.count(Collection::Prompts), n);
        println!(
            "first sync through the engine:            {:>7.2} s  {:>8.0} docs/s",
            first.as_secs_f64(),
            n as f64 / first.as_secs_f64(),
        );
        println!(
            "peak RSS of the whole process after the first sync: {:.0} MiB",
            peak_rss_mib()
        );

        // One remote change, with n documents stored.
        let rounds = 200;
        let mut page_total = 0.0;
        for round in 0..rounds {
            let mut document = server_document(round);
            document.insert("title", format!("Changed {round}"));
            document.insert("version", 2_i64);
            let change = Change {
                seq: (n + round + 1) as i64,
                id: format!("{round:024x}"),
                document,
                left_scope: false,
            };
            let started = Instant::now();
            store
                .replica()
                .apply_pull_page(Collection::Prompts, vec![change], (n + round + 1) as i64)
                .await
                .expect("apply one change");
            page_total += started.elapsed().as_secs_f64();
        }
        println!(
            "apply one remote change ({n} stored):   {:>7.3} ms per change (mean of {rounds})",
            page_total * 1000.0 / rounds as f64
        );
        let started = Instant::now();
        engine.sync_once().await.expect("quiet round");
        println!(
            "a full round with nothing new:            {:>7.3} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        drop(engine);
        drop(store);

        // Naive bulk copy of the same documents: all read at once, then one
        // insert_many into bare PoloDB.
        let naive_dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let documents: Vec<Document> = (0..n).map(server_document).collect();
        let db = Database::open_path(naive_dir.path().join("db")).expect("open PoloDB");
        db.collection::<Document>("prompts")
            .insert_many(documents)
            .expect("insert_many");
        drop(db);
        let naive = started.elapsed();
        println!(
            "naive bulk copy (make all, one insert_many): {:>5.2} s  {:>8.0} docs/s; the engine took {:.2}x as long",
            naive.as_secs_f64(),
            n as f64 / naive.as_secs_f64(),
            first.as_secs_f64() / naive.as_secs_f64()
        );
    });
}
