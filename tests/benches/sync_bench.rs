//! Sync server benchmark over loopback against SecantusDB (or the MongoDB in
//! `PROMPTFORGE_TEST_MONGODB_URI`): a first sync of N prompts beside the same
//! reads made straight against MongoDB (the floor), cold and then warm; the
//! desktop engine's first sync beside a naive copy; a pull after 10 of them
//! changed; and push throughput.
//!
//! Cold means the first read of a database nobody has read since it was
//! written: the floor and the server each read their own identical copy, so
//! neither warms the other's cache. Warm is the same reads again.
//!
//! Run: `cargo bench --workspace --bench sync_bench` (`BENCH_PROMPTS=N`,
//! default 100000; `BENCH_PUSHES=N`, default 10000).

use std::time::{Duration, Instant};

use bson::{doc, Document};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::token;
use promptforge_wire::protocol::{
    Mutation, MutationOp, PullRequest, PullResponse, PushRequest, PushResponse,
};
use promptforge_wire::schema::Prompt;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

fn prompt(user: &str, i: usize) -> Document {
    let mut p = Prompt::new(
        user,
        &format!("Prompt {i}"),
        &format!("Summarise text number {i} in five bullet points."),
    );
    p.id = format!("p{i:07}");
    p.tags = vec![format!("tag{}", i % 50)];
    bson::to_document(&p).expect("encode")
}

async fn pull_all(server: &TestServer, token: &str, mut checkpoint: i64) -> (usize, i64, usize) {
    let (mut docs, mut pages) = (0, 0);
    loop {
        let request = PullRequest {
            collection: "prompts".into(),
            checkpoint,
            max_bytes: Some(4 * 1024 * 1024),
        };
        let page: PullResponse = server.call("/v1/pull", token, &request).await;
        docs += page.changes.len();
        pages += 1;
        checkpoint = page.checkpoint;
        if !page.has_more {
            return (docs, checkpoint, pages);
        }
    }
}

/// Seeds `db` directly with `n` prompts of `user`, numbered on the pull
/// cursor as a server that has run for a while leaves them.
async fn seed(db: &mongodb::Database, user: &str, n: usize) -> anyhow::Result<()> {
    for chunk_start in (0..n).step_by(1000) {
        let docs: Vec<Document> = (chunk_start..(chunk_start + 1000).min(n))
            .map(|i| {
                let mut d = prompt(user, i);
                d.insert("version", 1_i64);
                d.insert("_seq", i as i64 + 1);
                d.insert("_seq_version", 1_i64);
                d
            })
            .collect();
        db.collection::<Document>("prompts")
            .insert_many(docs)
            .await?;
    }
    Ok(())
}

/// The floor: the user's prompts read straight from MongoDB in cursor
/// (`_seq`) order, on the index a pull uses (the only one that serves it), as one cursor (500 documents a
/// round trip): the cheapest read of the same documents in the same order.
/// Also the same reads paged 500 at a time, each page a query of its own,
/// as a client paging by checkpoint without the server would make them.
async fn direct_reads(
    db: &mongodb::Database,
    user: &str,
) -> anyhow::Result<(usize, Duration, Duration)> {
    use futures_util::TryStreamExt;
    let prompts = db.collection::<Document>("prompts");
    let started = Instant::now();
    let all: Vec<Document> = prompts
        .find(doc! { "user_id": user, "_seq": { "$gt": 0_i64 } })
        .sort(doc! { "_seq": 1 })
        .batch_size(500)
        .await?
        .try_collect()
        .await?;
    let one_cursor = started.elapsed();
    let started = Instant::now();
    let mut after = 0_i64;
    loop {
        let batch: Vec<Document> = prompts
            .find(doc! { "user_id": user, "_seq": { "$gt": after } })
            .sort(doc! { "_seq": 1 })
            .limit(500)
            .await?
            .try_collect()
            .await?;
        let Some(last) = batch.last() else { break };
        after = last.get_i64("_seq")?;
    }
    Ok((all.len(), one_cursor, started.elapsed()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_usize("BENCH_PROMPTS", 100_000);
    let pushes = env_usize("BENCH_PUSHES", 10_000);
    let mongo = MongoServer::start()?;
    let user = "bench-user";
    let token = token(user);
    println!(
        "sync benchmark: {n} prompts, {pushes} pushed mutations, MongoDB at {}",
        mongo.uri
    );
    let rss_start = rss_mib();

    // Two identical databases: the server's, and one only the floor reads,
    // each seeded before the server starts. (A backlog of 100k writes made
    // behind a running server's back is numbered from the change stream,
    // which the Rust SecantusDB serves too slowly at that size to measure.)
    let database = mongo.fresh_database();
    let client = mongodb::Client::with_uri_str(&mongo.uri).await?;
    let db = client.database(&database);
    let floor_db = client.database(&format!("{database}_floor"));
    // The floor's copy has the index a pull of the user's prompts uses.
    floor_db
        .collection::<Document>("prompts")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "user_id": 1, "_seq": 1 })
                .build(),
        )
        .await?;
    let started = Instant::now();
    seed(&db, user, n).await?;
    seed(&floor_db, user, n).await?;
    println!(
        "seeded {n} prompts directly, twice, in {:.1?}",
        started.elapsed()
    );
    // With no stream position saved, its sequencer scans once and finds
    // every prompt numbered.
    let started = Instant::now();
    let server = TestServer::start_on(&mongo, &database).await;
    println!(
        "the server started on them (indexes built, one scan) in {:.1?}",
        started.elapsed()
    );

    let mut checkpoint = 0;
    for pass in ["cold", "warm"] {
        let (raw, floor_took, paged_took) = direct_reads(&floor_db, user).await?;
        let started = Instant::now();
        let (docs, reached, pages) = pull_all(&server, &token, 0).await;
        let took = started.elapsed();
        checkpoint = reached;
        println!(
            "first sync over HTTP, {pass}: {docs} prompts in {pages} pages of 4 MiB, {took:.2?} ({:.0} documents/s)\n    floor, the same documents straight from MongoDB in cursor order, one cursor, {pass}: {raw} prompts in {floor_took:.2?} ({:.0} documents/s)  ratio {:.2}\n    the same reads paged 500 at a time: {paged_took:.2?}  ratio {:.2}",
            docs as f64 / took.as_secs_f64(),
            raw as f64 / floor_took.as_secs_f64(),
            took.as_secs_f64() / floor_took.as_secs_f64(),
            took.as_secs_f64() / paged_took.as_secs_f64(),
        );
    }

    // The desktop: the engine's first sync into an empty store, end to end
    // (HTTP, gzip, validation, PoloDB), against a naive copy of the same
    // documents (read them all from MongoDB, one insert_many into PoloDB).
    // Both read a database already read twice above: MongoDB is warm for
    // both, and both write a fresh PoloDB.
    let dir = tempfile::tempdir()?;
    let store = promptforge_sync::Store::open(dir.path()).await?;
    let transport = promptforge_sync::engine::HttpTransport::new(
        &server.base,
        std::sync::Arc::new(promptforge_sync::engine::StaticToken(token.clone())),
        std::time::Duration::from_secs(120),
    )?;
    let engine = promptforge_sync::SyncEngine::new(
        store.clone(),
        transport,
        promptforge_sync::SyncConfig::default(),
    );
    let started = Instant::now();
    let report = engine.sync_once().await?;
    let engine_took = started.elapsed();
    println!(
        "desktop first sync (engine over HTTP into PoloDB, MongoDB warm): {} documents in {engine_took:.2?} ({:.0} documents/s)",
        report.pulled,
        report.pulled as f64 / engine_took.as_secs_f64()
    );
    drop(engine);
    drop(store);
    let naive_dir = tempfile::tempdir()?;
    let started = Instant::now();
    {
        use futures_util::TryStreamExt;
        let all: Vec<Document> = floor_db
            .collection::<Document>("prompts")
            .find(doc! { "user_id": user })
            .await?
            .try_collect()
            .await?;
        let polo = polodb_core::Database::open_path(naive_dir.path().join("db"))?;
        use polodb_core::CollectionT;
        polo.collection::<Document>("prompts").insert_many(all)?;
    }
    let naive_took = started.elapsed();
    println!(
        "    floor, a naive copy (read all from MongoDB, one insert_many into PoloDB, MongoDB warm): {naive_took:.2?}  ratio {:.2}",
        engine_took.as_secs_f64() / naive_took.as_secs_f64()
    );

    let mut next_mutation = 1_u64;
    let mut edits = Vec::new();
    for i in 0..10 {
        edits.push(Mutation {
            mutation_id: next_mutation,
            collection: "prompts".into(),
            id: format!("p{:07}", i * (n / 10).max(1)),
            base_version: 1,
            op: MutationOp::Patch {
                changes: doc! { "title": format!("edited {i}") },
                base: doc! {},
            },
        });
        next_mutation += 1;
    }
    let _: PushResponse = server
        .call(
            "/v1/push",
            &token,
            &PushRequest {
                client_id: "bench".into(),
                mutations: edits,
            },
        )
        .await;
    let started = Instant::now();
    let (changed, _, _) = pull_all(&server, &token, checkpoint).await;
    println!(
        "pull after 10 of {n} changed: {changed} documents in {:.2?}",
        started.elapsed()
    );

    let started = Instant::now();
    for batch_start in (0..pushes).step_by(500) {
        let mutations: Vec<Mutation> = (batch_start..(batch_start + 500).min(pushes))
            .map(|i| {
                let id = format!("new{i:07}");
                let mut document = prompt(user, i);
                document.insert("_id", id.clone());
                let m = Mutation {
                    mutation_id: next_mutation,
                    collection: "prompts".into(),
                    id,
                    base_version: 0,
                    op: MutationOp::Create { document },
                };
                next_mutation += 1;
                m
            })
            .collect();
        let response: PushResponse = server
            .call(
                "/v1/push",
                &token,
                &PushRequest {
                    client_id: "bench".into(),
                    mutations,
                },
            )
            .await;
        anyhow::ensure!(response.results.iter().all(|r| matches!(
            r.outcome,
            promptforge_wire::protocol::MutationOutcome::Applied { .. }
        )));
    }
    let took = started.elapsed();
    println!(
        "push: {pushes} creates in {took:.2?} ({:.0} mutations/s)",
        pushes as f64 / took.as_secs_f64()
    );
    println!("benchmark process (sync server + client) resident memory: {:.0} MiB (started at {rss_start:.0} MiB)", rss_mib());
    Ok(())
}
