//! Exactly once across crashes: the sync server process is killed with
//! SIGKILL after a push's batch has committed but before its answer is out,
//! restarted, and the client resends every mutation it has no answer for.
//! Every mutation takes effect exactly once.
//! SecantusDB runs with `--sync-on-commit`, so what it acknowledged is durable.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use bson::Document;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server_process::{self, free_port, ready};
use promptforge_tests::tokens::token;
use promptforge_wire::protocol::{
    Mutation, MutationOp, MutationOutcome, PushRequest, PushResponse, PROTOCOL_HEADER,
};
use promptforge_wire::schema::Prompt;
use rand::{Rng, SeedableRng};

/// The server process, killed and restarted by the test.
fn start_server(uri: &str, database: &str, port: u16) -> Child {
    server_process::spawn(
        Path::new(env!("CARGO_BIN_EXE_sync_server_process")),
        uri,
        database,
        port,
    )
}

fn mutation(i: u64) -> Mutation {
    let id = format!("crash-{i:04}");
    let mut prompt = Prompt::new("alice", &format!("Prompt {i}"), "Body");
    prompt.id = id.clone();
    // As a desktop sends it: naming its first version, which follows.
    prompt.latest_version_id = format!("{id}-v1");
    Mutation {
        mutation_id: i,
        collection: "prompts".into(),
        id,
        base_version: 0,
        op: MutationOp::Create {
            document: bson::to_document(&prompt).expect("encode"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_resent_after_a_server_crash_apply_exactly_once() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash seed: {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mongo = MongoServer::start_secantus(&["--sync-on-commit"]).expect("SecantusDB");
    let database = mongo.fresh_database();
    let port = free_port();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{port}/v1/push");
    let bearer = token("alice");
    const TOTAL: u64 = 120;
    const BATCH: u64 = 10;
    let mut answered: HashMap<u64, MutationOutcome> = HashMap::new();
    let mut kills = 0;
    // Kills that landed while the server was applying the batch: some of
    // its mutations committed, the rest not, and no answer came back.
    let mut mid_request = 0;
    let client = mongodb::Client::with_uri_str(&mongo.uri)
        .await
        .expect("connect");
    let prompts = client.database(&database).collection::<Document>("prompts");
    let applied_of = |batch: &[Mutation]| {
        let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
        let prompts = prompts.clone();
        async move {
            prompts
                .count_documents(bson::doc! { "_id": { "$in": ids } })
                .await
                .expect("count")
        }
    };

    let mut server = start_server(&mongo.uri, &database, port);
    ready(&http, port).await;
    let mut next = 1;
    let mut attempts = 0;
    while next <= TOTAL {
        attempts += 1;
        assert!(attempts < 500, "seed {seed}: pushes never got through");
        let batch: Vec<Mutation> = (next..(next + BATCH).min(TOTAL + 1))
            .map(mutation)
            .collect();
        let request = PushRequest {
            client_id: "laptop".into(),
            mutations: batch,
        };
        let before = applied_of(&request.mutations).await;
        let push = http
            .post(&url)
            .header(PROTOCOL_HEADER, "1")
            .bearer_auth(&bearer)
            .json(&request)
            .send();
        // Sometimes kill the server while the push is in flight, and keep
        // at it (adjusting the moment) until a kill has landed mid-request.
        let kill = (kills < 4 && rng.gen_bool(0.3)) || (mid_request == 0 && kills < 100);
        let response = if kill {
            let total = request.mutations.len() as u64;
            // Kill the moment the batch has committed, before its answer is
            // out (the answer waits for the writes to be sequenced). A kill
            // before the commit would leave a dead transaction holding these
            // very documents until MongoDB reaps it (a minute): that case is
            // tests/tests/server_instances.rs's.
            let (response, ()) = tokio::join!(push, async {
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while applied_of(&request.mutations).await < total
                    && std::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let _ = server.kill();
                let _ = server.wait();
            });
            kills += 1;
            let after = applied_of(&request.mutations).await;
            // Landed mid-request: the server died after committing the batch
            // but before its answer arrived, so the resend below must be
            // answered as the first time.
            if response.is_err() && after > before {
                mid_request += 1;
            }
            server = start_server(&mongo.uri, &database, port);
            ready(&http, port).await;
            response
        } else {
            push.await
        };
        match response {
            Ok(ok) if ok.status().is_success() => {
                let body: PushResponse = ok.json().await.expect("push response");
                for result in body.results {
                    if let Some(first) = answered.get(&result.mutation_id) {
                        assert_eq!(
                            first, &result.outcome,
                            "seed {seed}: a resent mutation got a new answer"
                        );
                    }
                    assert!(
                        matches!(result.outcome, MutationOutcome::Applied { version: 1, .. }),
                        "seed {seed}: {result:?}"
                    );
                    answered.insert(result.mutation_id, result.outcome);
                }
                next += BATCH;
            }
            // Killed mid-request or not up yet: resend the same batch.
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        mid_request > 0,
        "seed {seed}: no kill landed mid-request in {kills} kills, so nothing was tested"
    );

    let stored = prompts.count_documents(bson::doc! {}).await.expect("count");
    assert_eq!(
        stored, TOTAL,
        "seed {seed}: every mutation applied exactly once"
    );
    let bumped = prompts
        .count_documents(bson::doc! { "version": { "$ne": 1_i64 } })
        .await
        .expect("count");
    assert_eq!(bumped, 0, "seed {seed}: no create applied twice");
    println!(
        "{TOTAL} mutations, {kills} SIGKILLs of the server ({mid_request} mid-request), \
         all applied exactly once"
    );
}
