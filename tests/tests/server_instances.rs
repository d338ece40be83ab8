//! Two sync server processes over one database, as a deployment runs them.
//! A server killed with SIGKILL inside a push transaction holds up only that
//! transaction's documents: other users' pushes through the other instance
//! go on, and the killed instance's client gets its answer once the database
//! has reaped the dead transaction. When the instance holding the sequencing
//! role dies, another takes it over and no reader skips a committed change.
//!
//! The kill test needs a database whose change stream goes past an open
//! transaction, as MongoDB's does (a transaction's writes enter the oplog at
//! its commit). The Rust SecantusDB (`PROMPTFORGE_TEST_SECANTUS=rs`) holds
//! its change streams back while any transaction with writes is open, so
//! there bob's answers wait out the sequencing bound and the test fails by
//! the stand-in; the default Python build behaves as MongoDB does.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::each_seq_once;
use promptforge_tests::push_client::prompt_doc;
use promptforge_tests::server_process::{self, free_port};
use promptforge_tests::tokens::token;
use promptforge_wire::protocol::{
    Mutation, MutationOp, MutationOutcome, PullRequest, PullResponse, PushRequest, PushResponse,
    PROTOCOL_HEADER,
};

/// One `promptforge-server` process.
struct Instance {
    child: std::sync::Mutex<Child>,
    base: String,
    http: reqwest::Client,
}

impl Instance {
    async fn start(uri: &str, database: &str, port: u16) -> Instance {
        let child = server_process::spawn(
            Path::new(env!("CARGO_BIN_EXE_sync_server_process")),
            uri,
            database,
            port,
        );
        let instance = Instance {
            child: std::sync::Mutex::new(child),
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        server_process::ready(&instance.http, port).await;
        instance
    }

    /// SIGKILL, as a crash or the OOM killer would.
    fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether this instance holds the sequencing role, from its metrics.
    async fn leads(&self) -> bool {
        let Ok(response) = self.http.get(format!("{}/metrics", self.base)).send().await else {
            return false;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .any(|line| line.trim() == "promptforge_sequencer_leader 1")
    }

    async fn wait_until_leading(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.leads().await {
            assert!(
                Instant::now() < deadline,
                "the instance did not take the sequencing role within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn push(
        &self,
        user: &str,
        client_id: &str,
        mutations: Vec<Mutation>,
    ) -> Result<PushResponse, String> {
        let request = PushRequest {
            client_id: client_id.to_owned(),
            mutations,
        };
        let response = self
            .http
            .post(format!("{}/v1/push", self.base))
            .header(PROTOCOL_HEADER, "1")
            .bearer_auth(token(user))
            .json(&request)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    async fn pull(&self, user: &str, checkpoint: i64) -> PullResponse {
        let request = PullRequest {
            collection: "prompts".into(),
            checkpoint,
            max_bytes: None,
        };
        self.http
            .post(format!("{}/v1/pull", self.base))
            .header(PROTOCOL_HEADER, "1")
            .bearer_auth(token(user))
            .json(&request)
            .send()
            .await
            .expect("pull")
            .error_for_status()
            .expect("pull status")
            .json()
            .await
            .expect("pull page")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

fn create(user: &str, mutation_id: u64, id: &str) -> Mutation {
    let mut prompt = prompt_doc(user, id, id);
    // As a desktop sends it: naming its first version, which follows.
    prompt.insert("latest_version_id", format!("{id}-v1"));
    Mutation {
        mutation_id,
        collection: "prompts".into(),
        id: id.to_owned(),
        base_version: 0,
        op: MutationOp::Create { document: prompt },
    }
}

/// Whether a transaction other than this probe's holds the prompt `id`: the
/// probe tries to write it in a transaction of its own, which a live or dead
/// transaction that wrote it makes conflict. The probe never commits.
async fn held_by_a_transaction(
    client: &mongodb::Client,
    database: &str,
    collection: &str,
    id: &str,
) -> bool {
    let prompts = client.database(database).collection::<Document>(collection);
    let Ok(mut session) = client.start_session().await else {
        return false;
    };
    if session.start_transaction().await.is_err() {
        return false;
    }
    let probe = prompts
        .insert_one(doc! { "_id": id, "probe": true })
        .session(&mut session);
    let outcome = tokio::time::timeout(Duration::from_secs(2), probe).await;
    let _ = session.abort_transaction().await;
    match outcome {
        Ok(Ok(_)) => false,
        Ok(Err(err)) => err.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR),
        // Waiting on the other transaction's lock is being held up too.
        Err(_) => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_inside_a_push_transaction_holds_up_only_that_transactions_documents() {
    let mongo = MongoServer::start().expect("MongoDB");
    let database = mongo.fresh_database();
    let client = mongodb::Client::with_uri_str(&mongo.uri)
        .await
        .expect("connect");
    let prompts = client.database(&database).collection::<Document>("prompts");
    // The survivor starts first, so it holds the sequencing role: this test
    // is about a writer's death (the role's failover is the next test's).
    let survivor = Instance::start(&mongo.uri, &database, free_port()).await;
    survivor.wait_until_leading(Duration::from_secs(10)).await;
    let doomed_port = free_port();
    let mut doomed = Instance::start(&mongo.uri, &database, doomed_port).await;

    const BATCH: u64 = 10;
    let mut next = 1_u64;
    let mut kill_delay = Duration::from_millis(5);
    let mut held: Option<(Vec<Mutation>, (&str, String))> = None;
    for _ in 0..100 {
        let batch: Vec<Mutation> = (next..next + BATCH)
            .map(|i| create("alice", i, &format!("alice-{i:04}")))
            .collect();
        let pushed = doomed.push("alice", "alice-laptop", batch.clone());
        let (answer, ()) = tokio::join!(pushed, async {
            tokio::time::sleep(kill_delay).await;
            doomed.kill();
        });
        if answer.is_ok() {
            // Too late: the batch was through and answered.
            next += BATCH;
            kill_delay = (kill_delay / 2).max(Duration::from_millis(1));
            doomed = Instance::start(&mongo.uri, &database, doomed_port).await;
            continue;
        }
        // A push transaction locks its prompts' histories first and
        // inserts the prompts just before it commits: either shows it open.
        let mut locked = None;
        'probe: for mutation in &batch {
            for (collection, id) in [
                ("sync_counters", format!("history:{}", mutation.id)),
                ("prompts", mutation.id.clone()),
            ] {
                if held_by_a_transaction(&client, &database, collection, &id).await {
                    locked = Some((collection, id));
                    break 'probe;
                }
            }
        }
        if let Some(id) = locked {
            held = Some((batch, id));
            break;
        }
        // Between transactions, or before the first: try a little later,
        // after this batch is through (its resend is answered at once).
        kill_delay += Duration::from_millis(3);
        doomed = Instance::start(&mongo.uri, &database, doomed_port).await;
        doomed
            .push("alice", "alice-laptop", batch)
            .await
            .expect("a batch no dead transaction holds goes through");
        next += BATCH;
    }
    let Some((batch, locked)) = held else {
        panic!("no kill landed inside a push transaction in 100 tries, so nothing was tested");
    };
    let killed_at = Instant::now();
    let doomed = Instance::start(&mongo.uri, &database, doomed_port).await;

    // Another user, through the other instance, while the dead transaction
    // still holds alice's document.
    for i in 0..5 {
        let id = format!("bob-{i}");
        let started = Instant::now();
        let answer = survivor
            .push("bob", "bob-laptop", vec![create("bob", i + 1, &id)])
            .await
            .expect("bob's push is answered");
        let took = started.elapsed();
        assert!(
            matches!(
                answer.results[0].outcome,
                MutationOutcome::Applied { version: 1, .. }
            ),
            "{:?}",
            answer.results[0].outcome
        );
        assert!(
            took < Duration::from_secs(1),
            "bob's push took {took:?} while a dead transaction held alice's document"
        );
    }
    let mut seen = BTreeSet::new();
    let mut checkpoint = 0;
    loop {
        let page = survivor.pull("bob", checkpoint).await;
        seen.extend(page.changes.iter().map(|c| c.id.clone()));
        checkpoint = page.checkpoint;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, (0..5).map(|i| format!("bob-{i}")).collect());
    assert!(
        held_by_a_transaction(&client, &database, locked.0, &locked.1).await,
        "the dead transaction was already gone while bob pushed, so nothing was tested"
    );

    // Alice resends through the restarted instance until the database has
    // reaped the dead transaction (MongoDB's default lifetime is 60 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    let first = loop {
        match doomed.push("alice", "alice-laptop", batch.clone()).await {
            Ok(answer) => break answer,
            Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "alice's resend never went through"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    println!(
        "alice's resend went through {:?} after the kill",
        killed_at.elapsed()
    );
    for result in &first.results {
        assert!(
            matches!(result.outcome, MutationOutcome::Applied { version: 1, .. }),
            "{result:?}"
        );
    }
    let again = doomed
        .push("alice", "alice-laptop", batch.clone())
        .await
        .expect("a second resend is answered");
    assert_eq!(
        again.results, first.results,
        "a resend got a different answer"
    );
    let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
    let stored = prompts
        .count_documents(doc! { "_id": { "$in": ids.clone() }, "version": 1_i64 })
        .await
        .expect("count");
    assert_eq!(stored, BATCH, "every mutation of the batch applied once");
    let probes = prompts
        .count_documents(doc! { "probe": true })
        .await
        .expect("count");
    assert_eq!(probes, 0, "a probe was committed");
    doomed.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_reader_skips_a_committed_change_while_the_sequencing_role_fails_over() {
    let mongo = MongoServer::start().expect("MongoDB");
    let database = mongo.fresh_database();
    let leader = Instance::start(&mongo.uri, &database, free_port()).await;
    leader.wait_until_leading(Duration::from_secs(10)).await;
    let serving = Arc::new(Instance::start(&mongo.uri, &database, free_port()).await);
    assert!(!serving.leads().await, "two instances lead at once");

    const WRITERS: usize = 4;
    const PER_WRITER: usize = 30;
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));

    let mut readers = Vec::new();
    for r in 0..2 {
        let (serving, done) = (Arc::clone(&serving), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let mut checkpoint = 0;
            let mut seen: Vec<(i64, String)> = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = serving.pull("team", checkpoint).await;
                for change in &page.changes {
                    assert!(
                        change.seq > checkpoint,
                        "reader {r}: sequence went backwards"
                    );
                    checkpoint = change.seq;
                    seen.push((change.seq, change.id.clone()));
                }
                checkpoint = checkpoint.max(page.checkpoint);
                if finished && !page.has_more {
                    return seen;
                }
            }
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (serving, written) = (Arc::clone(&serving), Arc::clone(&written));
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let id = format!("w{w}-{i}");
                let mutation = create("team", i as u64 + 1, &id);
                let answer = serving
                    .push("team", &format!("writer-{w}"), vec![mutation])
                    .await
                    .expect("push");
                assert!(
                    matches!(
                        answer.results[0].outcome,
                        MutationOutcome::Applied { version: 1, .. }
                    ),
                    "{:?}",
                    answer.results[0].outcome
                );
                written.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // Kill the sequencing instance a third of the way through.
    let total = WRITERS * PER_WRITER;
    while written.load(Ordering::SeqCst) < total / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    leader.kill();
    let at_kill = written.load(Ordering::SeqCst);
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(
        at_kill < total,
        "every write was done before the kill, so no failover happened mid-run"
    );
    assert!(
        serving.leads().await,
        "the surviving instance did not take over"
    );
    done.store(true, Ordering::SeqCst);
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|w| (0..PER_WRITER).map(move |i| format!("w{w}-{i}")))
        .collect();
    for reader in readers {
        let seen = reader.await.expect("reader");
        let ids: BTreeSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids, expected, "a reader missed committed changes");
        assert!(
            each_seq_once(&seen),
            "a sequence number was delivered twice"
        );
        let epochs: BTreeSet<i64> = seen
            .iter()
            .map(|(seq, _)| promptforge_server::sequencer::epoch_of(*seq))
            .collect();
        assert!(
            epochs.len() >= 2,
            "every change was numbered in one epoch ({epochs:?}): the role never moved"
        );
    }
}
