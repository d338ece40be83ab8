//! `POST /v1/pull/all`: every collection of a pull phase in one request per
//! byte budget. Whatever the budget, following it to the end gives exactly
//! the changes and checkpoints that pulling each collection alone gives; a
//! collection behind the purge horizon is named as expired, not paged.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use bson::doc;
use promptforge_server::retention::{self, Retention};
use promptforge_server::Db;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{doc_of, prompt_doc, Client};
use promptforge_tests::server::TestServer;
use promptforge_wire::protocol::{PullAllRequest, PullAllResponse};
use promptforge_wire::schema::{Idea, Project};
use rand::{Rng, SeedableRng};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

const PULLED: [&str; 3] = ["projects", "prompts", "ideas"];

/// What following the combined pull gave, per collection: each change's
/// id (`-id` for a `left_scope` notice) in the order sent.
type Seen = BTreeMap<String, Vec<String>>;

/// Follows `/v1/pull/all` from `checkpoints` to the end with `max_bytes`,
/// asking pages to be counted or not. Checks on the way that sequence
/// numbers only rise and come once, and that a cut page's
/// `remaining_estimate` is exactly what the later pages of its collection
/// bring (counted) or 1 (not counted).
async fn pull_all(
    client: &Client<'_>,
    mut checkpoints: BTreeMap<String, i64>,
    max_bytes: u64,
    count_remaining: Option<bool>,
) -> (Seen, BTreeMap<String, i64>) {
    let mut seen = Seen::new();
    // Per collection: the estimate a cut page gave, and how many changes
    // the collection had brought by then.
    let mut estimates: Vec<(String, u64, usize)> = Vec::new();
    for _ in 0..1000 {
        let answer: PullAllResponse = client
            .server
            .call(
                "/v1/pull/all",
                &client.token,
                &PullAllRequest {
                    checkpoints: checkpoints.clone(),
                    max_bytes: Some(max_bytes),
                    count_remaining,
                },
            )
            .await;
        assert!(answer.expired.is_empty());
        for page in answer.pages {
            let mut last = checkpoints[&page.collection];
            for change in &page.changes {
                assert!(
                    change.seq > last,
                    "{} came at {} after {last}",
                    change.id,
                    change.seq
                );
                last = change.seq;
            }
            assert_eq!(
                page.checkpoint, last,
                "a page's checkpoint is its last change"
            );
            let ids = seen.entry(page.collection.clone()).or_default();
            ids.extend(page.changes.iter().map(|c| {
                if c.left_scope {
                    format!("-{}", c.id)
                } else {
                    c.id.clone()
                }
            }));
            if page.has_more {
                estimates.push((page.collection.clone(), page.remaining_estimate, ids.len()));
            } else {
                assert_eq!(page.remaining_estimate, 0);
            }
            checkpoints.insert(page.collection, page.checkpoint);
        }
        if !answer.has_more {
            for (collection, estimate, brought) in estimates {
                let later = (seen[&collection].len() - brought) as u64;
                match count_remaining {
                    Some(false) => assert_eq!(estimate, 1, "{collection}: not counted"),
                    _ => assert_eq!(estimate, later, "{collection}: counted"),
                }
            }
            return (seen, checkpoints);
        }
    }
    panic!("the combined pull never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_combined_pull_gives_what_pulling_each_collection_gives() {
    let seed: u64 = std::env::var("PULL_ALL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("pull-all seed: {seed} (rerun with PULL_ALL_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut bob = Client::new(&server, "bob", "laptop");
    for i in 0..rng.gen_range(5..40) {
        let id = format!("p{i}");
        alice
            .create("prompts", &id, prompt_doc("alice", &id, &id))
            .await;
    }
    for i in 0..rng.gen_range(0..10) {
        let mut idea = Idea::new("alice", &format!("Idea {i}"), "text");
        idea.id = format!("i{i}");
        alice.create("ideas", &idea.id, doc_of(&idea)).await;
    }
    let mut project = Project::new("alice", "Launch");
    project.id = "j1".into();
    alice.create("projects", "j1", doc_of(&project)).await;
    // Someone else's documents are never in alice's pages, unless shared
    // with her: those come through a second index, interleaved with her
    // own, and one unshared again comes as a `left_scope` notice.
    bob.create("prompts", "b1", prompt_doc("bob", "b1", "Bob's"))
        .await;
    let shared = rng.gen_range(1..8);
    for i in 0..shared {
        let id = format!("s{i}");
        let mut document = prompt_doc("bob", &id, "Shared");
        document.insert("collaboration", doc! { "allowed_users": ["alice"] });
        bob.create("prompts", &id, document).await;
        let id = format!("p{}", 100 + i);
        alice
            .create("prompts", &id, prompt_doc("alice", &id, &id))
            .await;
    }
    bob.set(
        "prompts",
        "s0",
        1,
        "collaboration.allowed_users",
        Vec::<String>::new(),
    )
    .await;

    let zero: BTreeMap<String, i64> = PULLED.iter().map(|c| (c.to_string(), 0)).collect();
    let mut alone = BTreeMap::new();
    let mut alone_checkpoints = BTreeMap::new();
    for collection in PULLED {
        let (changes, checkpoint) = alice.pull_all(collection, 0).await;
        alone.insert(
            collection.to_string(),
            changes
                .iter()
                .map(|c| {
                    if c.left_scope {
                        format!("-{}", c.id)
                    } else {
                        c.id.clone()
                    }
                })
                .collect::<Vec<_>>(),
        );
        alone_checkpoints.insert(collection.to_string(), checkpoint);
    }
    alone.retain(|_, ids| !ids.is_empty());
    // What alice may read, worked out apart from the server: her own
    // prompts and those still shared with her, and a notice for the one
    // that no longer is.
    let mut expected: Vec<&str> = alone["prompts"].iter().map(String::as_str).collect();
    expected.sort_unstable();
    let mut readable: Vec<String> = (0..shared)
        .skip(1)
        .map(|i| format!("s{i}"))
        .chain(["-s0".to_string()])
        .collect();
    readable.extend(
        alone["prompts"]
            .iter()
            .filter(|id| id.starts_with('p'))
            .cloned(),
    );
    readable.sort_unstable();
    assert_eq!(
        expected, readable,
        "alice's prompts, those shared with her and one notice"
    );
    for _ in 0..4 {
        let budget = rng.gen_range(1..20_000);
        let count_remaining = [None, Some(true), Some(false)][rng.gen_range(0..3)];
        let (together, checkpoints) = pull_all(&alice, zero.clone(), budget, count_remaining).await;
        assert_eq!(together, alone, "budget {budget}");
        assert_eq!(checkpoints, alone_checkpoints, "budget {budget}");
    }
    // From the end, nothing more, in one request.
    let (nothing, _) = pull_all(&alice, alone_checkpoints.clone(), 1 << 20, None).await;
    assert!(nothing.is_empty(), "{nothing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_combined_pull_names_expired_and_unknown_collections() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Keep"))
        .await;
    alice
        .create("prompts", "p2", prompt_doc("alice", "p2", "Delete"))
        .await;
    let (_, before_delete) = alice.pull_all("prompts", 0).await;
    let deleted = alice
        .push_one(
            "prompts",
            "p2",
            1,
            promptforge_wire::protocol::MutationOp::Delete,
        )
        .await;
    assert!(
        matches!(
            deleted,
            promptforge_wire::protocol::MutationOutcome::Applied { .. }
        ),
        "{deleted:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let db = Db::connect(&server.mongodb_uri, &server.database)
        .await
        .expect("connect");
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    retention::purge(
        &db,
        Retention {
            answers: week,
            tombstones: std::time::Duration::ZERO,
            every: week,
        },
    )
    .await
    .expect("purge");
    let answer: PullAllResponse = server
        .call(
            "/v1/pull/all",
            &alice.token,
            &PullAllRequest {
                checkpoints: [
                    ("prompts".to_string(), before_delete),
                    ("ideas".to_string(), 0),
                ]
                .into_iter()
                .collect(),
                max_bytes: None,
                count_remaining: None,
            },
        )
        .await;
    assert_eq!(answer.expired, ["prompts"]);
    assert!(answer.pages.iter().all(|p| p.collection != "prompts"));
    assert!(!answer.has_more);

    let (status, body) = server
        .post(
            "/v1/pull/all",
            Some(&alice.token),
            &doc! { "checkpoints": { "sync_mutations": 0 } },
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "unknown_collection");
}
