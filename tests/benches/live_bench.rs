//! The live channel, over loopback against SecantusDB (or the MongoDB in
//! `PROMPTFORGE_TEST_MONGODB_URI`):
//!
//! 1. Write-to-visible latency: desktop A creates a prompt; reported is the
//!    time from A's store commit to the prompt's arrival in desktop B's store
//!    (B on a second server instance over the same database), both running
//!    their background loops with timer polling off, so every arrival is a
//!    live hint's doing. p50 / p99 / max over `BENCH_LIVE_SAMPLES` writes
//!    (default 200), 0.4 s apart so each is a lone edit. Floor, same run: the same path with B told by the test
//!    itself the moment A's push is answered (B runs one round then), which
//!    is what any notification scheme must at least cost here.
//! 2. Idle cost: HTTP requests per minute the server receives from an idle,
//!    signed-in live desktop (heartbeats are not requests), over
//!    `BENCH_IDLE_SECS` (default 30).
//! 3. Memory per idle live connection: the resident memory of a separate
//!    server process before and after `BENCH_LIVE_CONNECTIONS` (default 500)
//!    channels are open, divided by their number.
//!
//! Run: `cargo bench --workspace --bench live_bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptforge_sync::schema::Prompt;
use promptforge_sync::SyncConfig;
use promptforge_tests::desktop::{Desktop, Running};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::server_process;
use promptforge_tests::tokens::token;
use promptforge_wire::protocol::{LIVE_PATH, PROTOCOL_HEADER};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Timer polling off; a local write is pushed after `debounce`.
fn config(debounce: Duration) -> SyncConfig {
    SyncConfig {
        poll_interval: Duration::from_secs(3600),
        live_poll_interval: Duration::from_secs(3600),
        write_debounce: debounce,
        ..SyncConfig::default()
    }
}

async fn start(dir: &std::path::Path, base: &str, user: &str, config: SyncConfig) -> Running {
    let desktop = Arc::new(Desktop::open_with(dir, base, user, config).await);
    desktop.synced().await;
    let running = Running::start(desktop);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.desktop.engine.is_live() {
        assert!(Instant::now() < deadline, "no live channel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running
}

/// Waits until `desktop` holds `id`; returns when it was first seen.
async fn arrival(desktop: &Desktop, id: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found: Option<Prompt> = desktop.store().get(id).await.expect("read");
        if found.is_some() {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{id} never arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index.min(samples.len() - 1)]
    };
    println!(
        "{label}: n={} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

async fn latency(mongo: &MongoServer, samples: usize) {
    let database = mongo.fresh_database();
    let first = TestServer::start_on(mongo, &database).await;
    let second = TestServer::start_on(mongo, &database).await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("dir")).collect();
    let default_debounce = SyncConfig::default().write_debounce;
    for debounce in [default_debounce, Duration::from_millis(300)] {
        let (a_dir, b_dir) = if debounce == default_debounce {
            (dirs[0].path(), dirs[1].path())
        } else {
            (dirs[2].path(), dirs[3].path())
        };
        let a = start(a_dir, &first.base, "ada", config(debounce)).await;
        let b = start(b_dir, &second.base, "ada", config(debounce)).await;
        let mut live = Vec::with_capacity(samples);
        for i in 0..samples {
            let prompt = a
                .desktop
                .store()
                .create(Prompt::new("ada", &format!("Live {i}"), "Body"))
                .await
                .expect("create");
            let committed = Instant::now();
            live.push(arrival(&b.desktop, &prompt.id).await - committed);
            // Let A's round finish, so the next write waits out its
            // debounce as a lone edit does (back to back, it would ride
            // along with the round in flight).
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        percentiles(
            &format!(
                "live: A's commit to B's store, B on another instance, A's write debounce {} ms",
                debounce.as_millis()
            ),
            live,
        );
        a.stop().await;
        b.stop().await;
    }

    // The floor: no debounce, no hint; the test runs A's round and then B's.
    let a = Desktop::open_with(dirs[0].path(), &first.base, "ada", config(Duration::ZERO)).await;
    let b = Desktop::open_with(dirs[1].path(), &second.base, "ada", config(Duration::ZERO)).await;
    let mut floor = Vec::with_capacity(samples);
    for i in 0..samples {
        let prompt = a
            .store()
            .create(Prompt::new("ada", &format!("Told {i}"), "Body"))
            .await
            .expect("create");
        let committed = Instant::now();
        a.synced().await;
        b.synced().await;
        arrival(&b, &prompt.id).await;
        floor.push(committed.elapsed());
    }
    percentiles(
        "floor: A's commit to B's store, A's round then B's round run by the test",
        floor,
    );
}

async fn idle_requests(mongo: &MongoServer, seconds: u64) {
    let server = TestServer::start(mongo).await;
    let dir = tempfile::tempdir().expect("dir");
    let idle = start(dir.path(), &server.base, "ida", SyncConfig::default()).await;
    // Let the rounds that opening set off finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = requests(&server.base).await;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = requests(&server.base).await;
    let per_minute = (after - before) * 60.0 / seconds as f64;
    println!(
        "idle live desktop (default settings): {per_minute:.1} requests/minute over {seconds} s \
         (without the channel it polls: 2 rounds/minute, each a handshake, a count and a pull)"
    );
    idle.stop().await;
}

/// The server's count of answered sync requests (`/v1/...`), from `/metrics`.
async fn requests(base: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with("promptforge_http_requests_total{") && l.contains("route=\"/v1/"))
        .filter(|l| !l.contains(LIVE_PATH))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn memory_per_connection(mongo: &MongoServer, connections: usize) {
    let port = server_process::free_port();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_sync_server_process"));
    let mut server = server_process::spawn(binary, &mongo.uri, &mongo.fresh_database(), port);
    let http = reqwest::Client::new();
    server_process::ready(&http, port).await;
    let url = format!("http://127.0.0.1:{port}{LIVE_PATH}");
    // One channel per user, as desktops hold them.
    let tokens: Vec<String> = (0..connections)
        .map(|i| token(&format!("idle{i}")))
        .collect();
    // Warm up the paths a channel takes, so their one-time costs are not
    // counted per connection.
    let warm = http
        .get(&url)
        .bearer_auth(token("warm"))
        .header(PROTOCOL_HEADER, "1")
        .send()
        .await
        .expect("warm-up channel");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_kib(server.id());
    let mut open = Vec::with_capacity(connections);
    for token in &tokens {
        let response = http
            .get(&url)
            .bearer_auth(token)
            .header(PROTOCOL_HEADER, "1")
            .send()
            .await
            .expect("channel");
        assert_eq!(response.status().as_u16(), 200);
        open.push(response);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = resident_kib(server.id());
    println!(
        "server resident memory: {before} KiB with one channel, {after} KiB with {} more: {:.1} KiB per idle channel",
        connections,
        (after.saturating_sub(before)) as f64 / connections as f64
    );
    drop(open);
    drop(warm);
    let _ = server.kill();
    let _ = server.wait();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mongo = MongoServer::start().expect("start SecantusDB");
    runtime.block_on(async {
        let samples = env_usize("BENCH_LIVE_SAMPLES", 200);
        if samples > 0 {
            latency(&mongo, samples).await;
        }
        let idle = env_usize("BENCH_IDLE_SECS", 30) as u64;
        if idle > 0 {
            idle_requests(&mongo, idle).await;
        }
        let connections = env_usize("BENCH_LIVE_CONNECTIONS", 500);
        if connections > 0 {
            memory_per_connection(&mongo, connections).await;
        }
    });
}
