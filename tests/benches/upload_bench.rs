//! The sync server's write path, over loopback against SecantusDB (or the
//! MongoDB in `PROMPTFORGE_TEST_MONGODB_URI`), each figure beside a floor
//! measured in the same run:
//!
//! 1. Upload: a desktop profile holding N prompts made offline (each with its
//!    first version) signs in; the engine attaches the library to the account
//!    and uploads it. Reported: the time spent in push requests, and the
//!    whole sync round without its pull (attaching, reading the outbox,
//!    recording answers).
//!    Floor: the same stored documents inserted by the driver in one
//!    transaction, into collections with the server's indexes.
//! 2. Concurrent pushes: U users push batches of creates at once, half of
//!    them through each of two server instances on one database. Reported:
//!    mutations/s and transactions retried after write conflicts. Floor: the
//!    same creates inserted by the driver, one transaction per batch (retried
//!    on write conflicts), from as many concurrent tasks, into a collection
//!    with the server's indexes.
//!
//! Run: `cargo bench --workspace --bench upload_bench` (`BENCH_UPLOAD=N`
//! prompts, default 5000; `BENCH_USERS=U`, default 20; `BENCH_USER_BATCHES=B`
//! batches of 20 creates per user, default 10; 0 skips a section;
//! `BENCH_METRICS=1` prints the server's metrics after the upload, to see
//! where its time went).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Document};
use futures_util::TryStreamExt;
use promptforge_sync::engine::{HttpTransport, StaticToken, Transport, TransportError};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::prompt_doc;
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::token;
use promptforge_wire::protocol::{
    CountRequest, CountResponse, HandshakeRequest, HandshakeResponse, Mutation, MutationOp,
    MutationOutcome, PullRequest, PullResponse, PushRequest, PushResponse,
};
use promptforge_wire::schema::Prompt;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A transport that adds up the time spent in push requests and answers
/// pulls with "nothing new" without asking: the upload is what is measured,
/// not pulling its echoes back.
struct Timed {
    inner: HttpTransport,
    pushing: Arc<Mutex<Duration>>,
}

impl Transport for Timed {
    async fn handshake(
        &self,
        request: &HandshakeRequest,
    ) -> Result<HandshakeResponse, TransportError> {
        self.inner.handshake(request).await
    }

    async fn push(&self, request: &PushRequest) -> Result<PushResponse, TransportError> {
        let started = Instant::now();
        let answer = self.inner.push(request).await;
        if let Ok(mut pushing) = self.pushing.lock() {
            *pushing += started.elapsed();
        }
        answer
    }

    async fn pull(&self, request: &PullRequest) -> Result<PullResponse, TransportError> {
        Ok(PullResponse {
            collection: request.collection.clone(),
            changes: Vec::new(),
            checkpoint: request.checkpoint,
            has_more: false,
            remaining_estimate: 0,
        })
    }

    async fn count(&self, request: &CountRequest) -> Result<Option<CountResponse>, TransportError> {
        let _ = request;
        Ok(None)
    }

    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }
}

/// Documents of `collection` as stored, without the server's bookkeeping.
async fn stored(db: &mongodb::Database, collection: &str) -> anyhow::Result<Vec<Document>> {
    let mut found: Vec<Document> = db
        .collection::<Document>(collection)
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    for document in &mut found {
        for key in ["_seq", "_seq_version", "_seq_readers"] {
            document.remove(key);
        }
    }
    Ok(found)
}

/// Gives `to`'s collections the indexes `from`'s have, so that a floor
/// writes as many index entries as the server does.
async fn copy_indexes(
    from: &mongodb::Database,
    to: &mongodb::Database,
    collections: &[&str],
) -> anyhow::Result<()> {
    for name in collections {
        let indexes: Vec<mongodb::IndexModel> = from
            .collection::<Document>(name)
            .list_indexes()
            .await?
            .try_collect()
            .await?;
        for index in indexes {
            if index.keys.get("_id").is_some() && index.keys.len() == 1 {
                continue;
            }
            let model = mongodb::IndexModel::builder().keys(index.keys).build();
            to.collection::<Document>(name).create_index(model).await?;
        }
    }
    Ok(())
}

/// Transactions retried so far, from the process-wide metrics.
async fn retries(server: &TestServer) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("promptforge_transaction_retries_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map_or(0, |n| n as u64))
}

async fn upload(mongo: &MongoServer, n: usize) -> anyhow::Result<()> {
    let server = TestServer::start(mongo).await;
    let account = "uploader";
    let dir = tempfile::tempdir()?;
    let store = promptforge_sync::Store::open(dir.path()).await?;
    let local_user = store.user_id();
    let started = Instant::now();
    for i in 0..n {
        let mut prompt = Prompt::new(
            &local_user,
            &format!("Prompt {i}"),
            &format!("Summarise text number {i} in five bullet points, then ask one question."),
        );
        prompt.tags = vec![format!("tag{}", i % 50)];
        store.create(prompt).await?;
    }
    println!("made {n} prompts offline in {:.1?}", started.elapsed());
    let pushing = Arc::new(Mutex::new(Duration::ZERO));
    let transport = Timed {
        inner: HttpTransport::new(
            &server.base,
            Arc::new(StaticToken(token(account))),
            Duration::from_secs(300),
        )?,
        pushing: Arc::clone(&pushing),
    };
    let engine = promptforge_sync::SyncEngine::new(
        store.clone(),
        transport,
        promptforge_sync::SyncConfig::default(),
    );
    let started = Instant::now();
    let report = engine.sync_once().await?;
    let whole = started.elapsed();
    let pushing = pushing.lock().map(|d| *d).unwrap_or_default();
    anyhow::ensure!(report.rejected == 0 && report.conflicts == 0, "{report:?}");

    if std::env::var_os("BENCH_METRICS").is_some() {
        let text = reqwest::get(format!("{}/metrics", server.base))
            .await?
            .text()
            .await?;
        for line in text.lines().filter(|l| {
            l.contains("_sum")
                || l.contains("_count")
                || l.contains("stamped")
                || l.contains("db_commands")
        }) {
            println!("    {line}");
        }
    }
    let client = mongodb::Client::with_uri_str(&mongo.uri).await?;
    let db = client.database(&server.database);
    let prompts = stored(&db, "prompts").await?;
    let versions = stored(&db, "prompt_versions").await?;
    anyhow::ensure!(prompts.len() == n, "{} prompts stored", prompts.len());
    let documents = prompts.len() + versions.len();
    let floor_db = client.database(&format!("{}_floor", server.database));
    copy_indexes(&db, &floor_db, &["prompts", "prompt_versions"]).await?;
    let mut session = client.start_session().await?;
    let started = Instant::now();
    session.start_transaction().await?;
    floor_db
        .collection::<Document>("prompts")
        .insert_many(&prompts)
        .session(&mut session)
        .await?;
    floor_db
        .collection::<Document>("prompt_versions")
        .insert_many(&versions)
        .session(&mut session)
        .await?;
    session.commit_transaction().await?;
    let floor = started.elapsed();
    let stored_documents: Vec<(&str, &Document)> = prompts
        .iter()
        .map(|d| ("prompts", d))
        .chain(versions.iter().map(|d| ("prompt_versions", d)))
        .collect();
    let protocol_floor = protocol_floor(&client, &db, &server.database, &stored_documents).await?;
    println!(
        "upload of {n} prompts made offline (attach, then {} mutations in push requests): {pushing:.2?} ({:.0} documents/s)\n    whole sync round but its pull (attach, outbox, answers recorded): {whole:.2?}\n    floor, the same {documents} stored documents inserted by the driver in one transaction, into collections with the server's indexes: {floor:.2?} ({:.0} documents/s)  ratio {:.2} (whole round {:.2})",
        report.pushed,
        documents as f64 / pushing.as_secs_f64(),
        documents as f64 / floor.as_secs_f64(),
        pushing.as_secs_f64() / floor.as_secs_f64(),
        whole.as_secs_f64() / floor.as_secs_f64(),
    );
    println!(
        "    floor with the writes the protocol asks for, by the driver: the same documents and the server's {} answer records, {CHUNK} mutations to a transaction, then every document numbered after its commit ({STAMPS} to an update command): {protocol_floor:.2?}  ratio {:.2}",
        report.pushed,
        pushing.as_secs_f64() / protocol_floor.as_secs_f64(),
    );
    Ok(())
}

/// Mutations to a transaction in the protocol floor, as the server's push.
const CHUNK: usize = 200;
/// Documents numbered per update command, as the server's sequencer.
const STAMPS: usize = 1000;

/// The writes an upload must make whatever the server's code: each stored
/// document with its exactly-once answer in the same transaction (the
/// records the server wrote, copied), a transaction per [`CHUNK`]
/// mutations; then, outside any writer's transaction, a commit-order
/// number on each document. `documents` are the stored documents with
/// their collections. Returns the time they took by the driver.
async fn protocol_floor(
    client: &mongodb::Client,
    db: &mongodb::Database,
    database: &str,
    documents: &[(&str, &Document)],
) -> anyhow::Result<Duration> {
    let floor_db = client.database(&format!("{database}_protocol_floor"));
    let collections = ["prompts", "prompt_versions", "sync_mutations"];
    copy_indexes(db, &floor_db, &collections).await?;
    let records: Vec<Document> = db
        .collection::<Document>("sync_mutations")
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    let mut session = client.start_session().await?;
    let started = Instant::now();
    let mut records = records.into_iter();
    for chunk in documents.chunks(CHUNK) {
        session.start_transaction().await?;
        for name in ["prompts", "prompt_versions"] {
            let batch: Vec<&Document> = chunk
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, d)| *d)
                .collect();
            if !batch.is_empty() {
                floor_db
                    .collection::<Document>(name)
                    .insert_many(batch)
                    .session(&mut session)
                    .await?;
            }
        }
        let answers: Vec<Document> = records.by_ref().take(chunk.len()).collect();
        if !answers.is_empty() {
            floor_db
                .collection::<Document>("sync_mutations")
                .insert_many(answers)
                .session(&mut session)
                .await?;
        }
        session.commit_transaction().await?;
    }
    let mut seq = 0_i64;
    for stamps in documents.chunks(STAMPS) {
        for name in ["prompts", "prompt_versions"] {
            let updates: Vec<Document> = stamps
                .iter()
                .filter(|(n, _)| *n == name)
                .filter_map(|(_, d)| d.get("_id").cloned())
                .map(|id| {
                    seq += 1;
                    doc! { "q": { "_id": id }, "u": { "$set": { "_seq": seq, "_seq_version": 1_i64 } } }
                })
                .collect();
            if !updates.is_empty() {
                floor_db
                    .run_command(doc! { "update": name, "updates": updates, "ordered": true })
                    .await?;
            }
        }
    }
    Ok(started.elapsed())
}

const PER_BATCH: usize = 20;

fn batch(user: &str, b: usize) -> Vec<Mutation> {
    (0..PER_BATCH)
        .map(|i| {
            let id = format!("{user}-{b:03}-{i:02}");
            let mut document = prompt_doc(user, &id, &id);
            document.insert("latest_version_id", format!("{id}-v1"));
            Mutation {
                mutation_id: (b * PER_BATCH + i + 1) as u64,
                collection: "prompts".into(),
                id,
                base_version: 0,
                op: MutationOp::Create { document },
            }
        })
        .collect()
}

async fn concurrent(mongo: &MongoServer, users: usize, batches: usize) -> anyhow::Result<()> {
    let database = mongo.fresh_database();
    let servers = [
        Arc::new(TestServer::start_on(mongo, &database).await),
        Arc::new(TestServer::start_on(mongo, &database).await),
    ];
    let retried_before = retries(&servers[0]).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..users {
        let server = Arc::clone(&servers[u % 2]);
        tasks.push(tokio::spawn(async move {
            let user = format!("user{u:02}");
            let bearer = token(&user);
            for b in 0..batches {
                let response: PushResponse = server
                    .call(
                        "/v1/push",
                        &bearer,
                        &PushRequest {
                            client_id: "laptop".into(),
                            mutations: batch(&user, b),
                        },
                    )
                    .await;
                assert!(response
                    .results
                    .iter()
                    .all(|r| matches!(r.outcome, MutationOutcome::Applied { .. })));
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let took = started.elapsed();
    let retried = retries(&servers[0]).await? - retried_before;
    let total = users * batches * PER_BATCH;

    let client = mongodb::Client::with_uri_str(&mongo.uri).await?;
    let floor_db = client.database(&format!("{database}_floor"));
    copy_indexes(&client.database(&database), &floor_db, &["prompts"]).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for u in 0..users {
        let (client, floor_db) = (client.clone(), floor_db.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("user{u:02}");
            let prompts = floor_db.collection::<Document>("prompts");
            for b in 0..batches {
                let documents: Vec<Document> = batch(&user, b)
                    .into_iter()
                    .filter_map(|m| match m.op {
                        MutationOp::Create { document } => Some(document),
                        _ => None,
                    })
                    .collect();
                let mut session = client.start_session().await?;
                // Retried on write conflicts, as the server retries.
                loop {
                    session.start_transaction().await?;
                    let inserted = prompts
                        .insert_many(documents.clone())
                        .session(&mut session)
                        .await;
                    let committed = match inserted {
                        Ok(_) => session.commit_transaction().await,
                        Err(err) => Err(err),
                    };
                    match committed {
                        Ok(()) => break,
                        Err(err)
                            if err.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR) =>
                        {
                            let _ = session.abort_transaction().await;
                        }
                        Err(err) => return Err(err),
                    }
                }
            }
            Ok::<_, mongodb::error::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let floor = started.elapsed();
    println!(
        "concurrent pushes: {users} users, {batches} batches of {PER_BATCH} creates each, through 2 server instances: {total} mutations in {took:.2?} ({:.0} mutations/s), {retried} transactions retried\n    floor, the same creates inserted by the driver, one transaction per batch, {users} tasks at once: {floor:.2?} ({:.0} documents/s)  ratio {:.2}",
        total as f64 / took.as_secs_f64(),
        total as f64 / floor.as_secs_f64(),
        took.as_secs_f64() / floor.as_secs_f64(),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env_usize("BENCH_UPLOAD", 5_000);
    let users = env_usize("BENCH_USERS", 20);
    let batches = env_usize("BENCH_USER_BATCHES", 10);
    let mongo = MongoServer::start()?;
    println!("server write benchmark, MongoDB at {}", mongo.uri);
    // 0 skips a section.
    if n > 0 {
        upload(&mongo, n).await?;
    }
    if users > 0 && batches > 0 {
        concurrent(&mongo, users, batches).await?;
    }
    Ok(())
}
