//! Pushes applied [`CHUNK`] mutations to a transaction keep every promise
//! the protocol makes per mutation: order (a later mutation sees an earlier
//! one's write), answers one per mutation, refusals that fail only their own
//! mutation, and exactly-once on a resend. Mutations are generated from a
//! seed (`PUSH_BATCH_SEED`), so a failure names the batch that broke it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use bson::doc;
use promptforge_server::push::CHUNK;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{prompt_doc, Client};
use promptforge_tests::server::TestServer;
use promptforge_wire::protocol::{Mutation, MutationOp, MutationOutcome, RejectReason};
use rand::{Rng, SeedableRng};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// What one mutation of the batch is, and what its answer must be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Created,
    Edited(i64),
    Refused(RejectReason),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_spanning_several_transactions_keeps_every_per_mutation_promise() {
    let seed: u64 = std::env::var("PUSH_BATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("push batch seed: {seed} (rerun with PUSH_BATCH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");

    // Two and a quarter transactions' worth of mutations: creates, edits of
    // prompts created earlier in the same push (so in the same or an
    // earlier transaction), and refusals of several kinds scattered among
    // them.
    let size = 2 * CHUNK + CHUNK / 4;
    let mut batch: Vec<Mutation> = Vec::new();
    let mut expected: Vec<Expect> = Vec::new();
    let mut versions: BTreeMap<String, i64> = BTreeMap::new();
    let mut titles: BTreeMap<String, String> = BTreeMap::new();
    while batch.len() < size {
        let roll = rng.gen_range(0..10);
        if roll < 5 || versions.is_empty() {
            let id = format!("p{}", batch.len());
            batch.push(alice.mutation(
                "prompts",
                &id,
                0,
                MutationOp::Create {
                    document: prompt_doc("alice", &id, &id),
                },
            ));
            versions.insert(id.clone(), 1);
            titles.insert(id.clone(), id);
            expected.push(Expect::Created);
        } else if roll < 8 {
            let ids: Vec<&String> = versions.keys().collect();
            let id = ids[rng.gen_range(0..ids.len())].clone();
            let version = versions[&id];
            let title = format!("{id} edit {}", batch.len());
            batch.push(alice.mutation(
                "prompts",
                &id,
                version,
                MutationOp::Patch {
                    changes: doc! { "title": &title },
                    base: doc! { "title": &titles[&id] },
                },
            ));
            versions.insert(id.clone(), version + 1);
            titles.insert(id, title);
            expected.push(Expect::Edited(version + 1));
        } else if roll == 8 {
            batch.push(alice.mutation(
                "no_such_collection",
                "x",
                0,
                MutationOp::Create {
                    document: doc! { "_id": "x" },
                },
            ));
            expected.push(Expect::Refused(RejectReason::UnknownCollection));
        } else {
            // Someone else's prompt: refused, and nothing else with it.
            let id = format!("stranger{}", batch.len());
            batch.push(alice.mutation(
                "prompts",
                &id,
                0,
                MutationOp::Create {
                    document: prompt_doc("mallory", &id, &id),
                },
            ));
            expected.push(Expect::Refused(RejectReason::Forbidden));
        }
    }

    let first = alice.push(batch.clone()).await;
    assert_eq!(first.len(), batch.len(), "seed {seed}: one answer each");
    for ((result, mutation), expect) in first.iter().zip(&batch).zip(&expected) {
        assert_eq!(
            result.mutation_id, mutation.mutation_id,
            "seed {seed}: in order"
        );
        let ok = match (expect, &result.outcome) {
            (Expect::Created, MutationOutcome::Applied { version: 1, .. }) => true,
            (Expect::Edited(v), MutationOutcome::Applied { version, .. }) => version == v,
            (Expect::Refused(reason), MutationOutcome::Rejected { reason: got, .. }) => {
                got == reason
            }
            _ => false,
        };
        assert!(
            ok,
            "seed {seed}: mutation {} expected {expect:?}, got {:?}",
            mutation.mutation_id, result.outcome
        );
    }

    let again = alice.push(batch.clone()).await;
    assert_eq!(
        again, first,
        "seed {seed}: a resend gets the recorded answers"
    );

    let (changes, _) = alice.pull_all("prompts", 0).await;
    let pulled: BTreeMap<String, (i64, String)> = changes
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                (
                    c.document.get_i64("version").unwrap_or_default(),
                    c.document.get_str("title").unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect();
    let wanted: BTreeMap<String, (i64, String)> = versions
        .iter()
        .map(|(id, v)| (id.clone(), (*v, titles[id].clone())))
        .collect();
    assert_eq!(
        pulled, wanted,
        "seed {seed}: what a pull returns is every accepted write, in its last state, once"
    );
}

/// Versions of one prompt pushed at the same moment by several clients each
/// get a number of their own: writers of one history meet on its lock and
/// retry, instead of both reading the same highest number.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_pushed_at_once_get_distinct_numbers() {
    use promptforge_tests::push_client::doc_of;
    use promptforge_wire::schema::PromptVersion;

    let server = TestServer::start(&MONGO).await;
    let mut owner = Client::new(&server, "nina", "laptop-0");
    owner
        .create("prompts", "poem", prompt_doc("nina", "poem", "Poem"))
        .await;
    const WRITERS: usize = 6;
    let pushes = (1..=WRITERS).map(|n| {
        let server = &server;
        async move {
            let mut client = Client::new(server, "nina", &format!("laptop-{n}"));
            let version = PromptVersion {
                id: format!("v{n}"),
                prompt_id: "poem".into(),
                user_id: "nina".into(),
                version_number: 2,
                content: format!("edit from laptop {n}"),
                role: None,
                prompt_type: "text".into(),
                changes: String::new(),
                created_at: bson::DateTime::now(),
                created_by: "nina".into(),
                version: 0,
            };
            client
                .create("prompt_versions", &version.id, doc_of(&version))
                .await
        }
    });
    let outcomes = futures_util::future::join_all(pushes).await;
    for outcome in &outcomes {
        assert!(
            matches!(outcome, MutationOutcome::Applied { .. }),
            "{outcome:?}"
        );
    }
    let (versions, _) = owner.pull_all("prompt_versions", 0).await;
    let mut numbers: Vec<i64> = versions
        .iter()
        .filter_map(|c| c.document.get_i64("version_number").ok())
        .collect();
    numbers.sort();
    let expected: Vec<i64> = (1..=i64::try_from(WRITERS + 1).expect("small")).collect();
    assert_eq!(
        numbers, expected,
        "the prompt's first version and one number per concurrent writer"
    );
}
