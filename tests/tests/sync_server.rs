//! The sync server against a real MongoDB-protocol server (SecantusDB started
//! by the harness): protocol, exactly-once pushes, merges, tombstones, the
//! commit-ordered cursor under concurrent writers, and the authorization
//! matrix.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use bson::{doc, Bson, Document};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{
    applied_version, doc_of, each_seq_once, prompt_doc, rejected, Client,
};
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::{token, unsigned, TokenSpec};
use promptforge_wire::protocol::{MutationOp, MutationOutcome, RejectReason};
use promptforge_wire::schema::{Idea, MarketplaceListing, Prompt};
use serde_json::json;

/// One SecantusDB for this test binary; each test gets a fresh database.
static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

#[tokio::test]
async fn handshake_names_the_user_and_refuses_other_protocol_majors() {
    let server = TestServer::start(&MONGO).await;
    let (status, body) = server
        .post(
            "/v1/handshake",
            Some(&token("alice")),
            &json!({"client_id": "laptop-1", "protocol_version": 1, "schema_version": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "alice");
    assert!(body["collections"]
        .as_array()
        .is_some_and(|c| c.contains(&json!("prompts"))));
    let (status, body) = server
        .post(
            "/v1/handshake",
            Some(&token("alice")),
            &json!({"client_id": "laptop-1", "protocol_version": 2, "schema_version": 1}),
        )
        .await;
    assert_eq!(status, 426, "{body}");
    assert_eq!(body["code"], "upgrade_required");
}

#[tokio::test]
async fn a_pushed_prompt_is_pulled_back_once_with_its_server_version() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let outcome = alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "First"))
        .await;
    assert_eq!(applied_version(&outcome), 1);
    let page = alice.pull("prompts", 0).await;
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].id, "p1");
    assert_eq!(
        page.changes[0]
            .document
            .get_i64("version")
            .expect("version"),
        1
    );
    assert!(
        !page.changes[0].document.contains_key("_seq"),
        "the sequence travels beside the document"
    );
    assert!(!page.has_more);
    let again = alice.pull("prompts", page.checkpoint).await;
    assert!(again.changes.is_empty(), "nothing new after the checkpoint");
}

#[tokio::test]
async fn a_retried_mutation_returns_its_first_result_and_changes_nothing() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Once"))
        .await;
    let patch = alice.mutation(
        "prompts",
        "p1",
        1,
        MutationOp::Patch {
            changes: doc! { "title": "Twice?" },
            base: doc! { "title": "Once" },
        },
    );
    let first = alice.push(vec![patch.clone()]).await;
    let second = alice.push(vec![patch.clone()]).await;
    assert_eq!(first, second, "the retry gets the first answer");
    let (changes, _) = alice.pull_all("prompts", 0).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].document.get_i64("version").expect("version"),
        2,
        "applied exactly once"
    );
    // The same mutation id from another client is a different mutation.
    let mut other = Client::new(&server, "alice", "desktop");
    other.next = patch.mutation_id;
    let outcome = other
        .patch(
            "prompts",
            "p1",
            2,
            doc! { "title": "From the desktop" },
            doc! { "title": "Twice?" },
        )
        .await;
    assert_eq!(applied_version(&outcome), 3);
}

#[tokio::test]
async fn stale_edits_to_different_fields_merge_and_same_field_edits_keep_the_loser() {
    let server = TestServer::start(&MONGO).await;
    let mut laptop = Client::new(&server, "alice", "laptop");
    let mut desktop = Client::new(&server, "alice", "desktop");
    laptop
        .create("prompts", "p1", prompt_doc("alice", "p1", "Shared"))
        .await;

    let first = laptop
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "title": "Laptop title" },
            doc! { "title": "Shared" },
        )
        .await;
    assert_eq!(applied_version(&first), 2);
    let merged = desktop
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "description": "Desktop description" },
            doc! { "description": Bson::Null },
        )
        .await;
    match merged {
        MutationOutcome::Merged {
            version,
            document,
            conflicts,
        } => {
            assert_eq!(version, 3);
            assert!(conflicts.is_empty(), "{conflicts:?}");
            assert_eq!(document.get_str("title").expect("title"), "Laptop title");
            assert_eq!(
                document.get_str("description").expect("description"),
                "Desktop description"
            );
        }
        other => panic!("expected a clean merge, got {other:?}"),
    }

    laptop
        .patch(
            "prompts",
            "p1",
            3,
            doc! { "content": "laptop content" },
            doc! { "content": "content of Shared" },
        )
        .await;
    let clash = desktop
        .patch(
            "prompts",
            "p1",
            3,
            doc! { "content": "desktop content" },
            doc! { "content": "content of Shared" },
        )
        .await;
    let saved_as = match clash {
        MutationOutcome::Merged {
            document,
            conflicts,
            ..
        } => {
            assert_eq!(
                document.get_str("content").expect("content"),
                "laptop content",
                "the first commit wins"
            );
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].field, "content");
            assert_eq!(
                conflicts[0].lost,
                json!("desktop content"),
                "strings are plain JSON in extended JSON"
            );
            conflicts[0]
                .lost_saved_as
                .clone()
                .expect("the losing content is kept")
        }
        other => panic!("expected a merge with a conflict, got {other:?}"),
    };
    let (versions, _) = laptop.pull_all("prompt_versions", 0).await;
    let kept = versions
        .iter()
        .find(|c| c.id == saved_as)
        .expect("the saved version is pulled");
    assert_eq!(
        kept.document.get_str("content").expect("content"),
        "desktop content"
    );
}

#[tokio::test]
async fn deletes_travel_as_tombstones_and_a_late_edit_is_reported_not_dropped() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Doomed"))
        .await;
    let (_, checkpoint) = alice.pull_all("prompts", 0).await;
    let deleted = alice.push_one("prompts", "p1", 1, MutationOp::Delete).await;
    assert_eq!(applied_version(&deleted), 2);
    let page = alice.pull("prompts", checkpoint).await;
    assert_eq!(page.changes.len(), 1);
    assert!(
        page.changes[0].document.get_datetime("deleted_at").is_ok(),
        "a tombstone"
    );
    let late = alice
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "title": "Edited offline" },
            doc! { "title": "Doomed" },
        )
        .await;
    match late {
        MutationOutcome::Conflict {
            server_document, ..
        } => {
            assert!(server_document.get_datetime("deleted_at").is_ok());
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_mutations_are_rejected_one_by_one_without_failing_the_batch() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut bad = prompt_doc("alice", "bad", "Bad");
    bad.insert("status", "bogus");
    let batch = vec![
        alice.mutation(
            "prompts",
            "good",
            0,
            MutationOp::Create {
                document: prompt_doc("alice", "good", "Good"),
            },
        ),
        alice.mutation("prompts", "bad", 0, MutationOp::Create { document: bad }),
        alice.mutation("widgets", "w", 0, MutationOp::Delete),
        alice.mutation(
            "prompts",
            "missing",
            4,
            MutationOp::Patch {
                changes: doc! { "title": "x" },
                base: doc! {},
            },
        ),
    ];
    let results = alice.push(batch).await;
    assert_eq!(results.len(), 4);
    assert_eq!(applied_version(&results[0].outcome), 1);
    assert_eq!(rejected(&results[1].outcome), RejectReason::Invalid);
    assert_eq!(
        rejected(&results[2].outcome),
        RejectReason::UnknownCollection
    );
    assert_eq!(rejected(&results[3].outcome), RejectReason::NotFound);
}

#[tokio::test]
async fn tokens_that_are_missing_expired_foreign_or_unsigned_are_refused() {
    let server = TestServer::start(&MONGO).await;
    let body = json!({"collection": "prompts", "checkpoint": 0});
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "expired",
            Some(
                TokenSpec {
                    expires_in: -3600,
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        (
            "wrong audience",
            Some(
                TokenSpec {
                    audience: "another-project",
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        (
            "wrong issuer",
            Some(
                TokenSpec {
                    issuer: "https://evil.example",
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        (
            "signed by another key",
            Some(
                TokenSpec {
                    key_file: "other-signing-key.pem",
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        (
            "unknown key id",
            Some(
                TokenSpec {
                    key_id: "nope",
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        ("unsigned", Some(unsigned("alice"))),
        ("garbage", Some("not.a.token".to_owned())),
        (
            "issued an hour from now",
            Some(
                TokenSpec {
                    issued_in: 3600,
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        (
            "not valid before an hour from now",
            Some(
                TokenSpec {
                    not_before_in: Some(3600),
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
        (
            "signed in an hour from now",
            Some(
                TokenSpec {
                    auth_time_in: Some(3600),
                    ..TokenSpec::valid("alice")
                }
                .sign(),
            ),
        ),
    ];
    for (name, token) in cases {
        let (status, body) = server.post("/v1/pull", token.as_deref(), &body).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["code"], "unauthenticated", "{name}");
    }
    // Within the allowed skew, and with times in the past, a token is good.
    for (name, spec) in [
        (
            "issued 20 s ahead (clock skew)",
            TokenSpec {
                issued_in: 20,
                ..TokenSpec::valid("alice")
            },
        ),
        (
            "nbf and auth_time in the past",
            TokenSpec {
                not_before_in: Some(-60),
                auth_time_in: Some(-600),
                ..TokenSpec::valid("alice")
            },
        ),
    ] {
        let (status, body) = server.post("/v1/pull", Some(&spec.sign()), &body).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
}

#[tokio::test]
async fn users_cannot_read_or_write_what_is_not_theirs_nor_set_server_fields() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut mallory = Client::new(&server, "mallory", "evil");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Private"))
        .await;
    let mut idea = Idea::new("alice", "Secret idea", "");
    idea.id = "i1".into();
    alice.create("ideas", "i1", doc_of(&idea)).await;

    // Cross-user read.
    let (stolen, _) = mallory.pull_all("prompts", 0).await;
    assert!(stolen.is_empty(), "mallory sees {stolen:?}");
    assert!(mallory.pull_all("ideas", 0).await.0.is_empty());
    // Cross-user write and delete.
    let write = mallory
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "title": "pwned" },
            doc! { "title": "Private" },
        )
        .await;
    assert_eq!(rejected(&write), RejectReason::NotFound);
    let delete = mallory
        .push_one("prompts", "p1", 1, MutationOp::Delete)
        .await;
    assert_eq!(rejected(&delete), RejectReason::NotFound);
    // Forged owner.
    let forged = mallory
        .create("prompts", "p2", prompt_doc("alice", "p2", "Planted"))
        .await;
    assert_eq!(rejected(&forged), RejectReason::Forbidden);
    // Server-owned fields.
    for (collection, id, changes) in [
        ("prompts", "p1", doc! { "version": 99 }),
        ("prompts", "p1", doc! { "marketplace.price": 1 }),
        ("prompts", "p1", doc! { "user_id": "mallory" }),
        ("prompts", "p1", doc! { "_seq": 1 }),
        ("users", "alice", doc! { "credits.balance": 1_000_000 }),
    ] {
        let outcome = alice
            .patch(collection, id, 1, changes.clone(), doc! {})
            .await;
        assert_eq!(
            rejected(&outcome),
            RejectReason::ServerOwnedField,
            "{collection} {changes}"
        );
    }
    let mut listing = MarketplaceListing::draft("alice", "p1", "Self-approved", 100);
    listing.id = "l1".into();
    listing.status = promptforge_wire::schema::ListingStatus::Approved;
    let approved = alice
        .create("marketplace_listings", "l1", doc_of(&listing))
        .await;
    assert_eq!(rejected(&approved), RejectReason::ServerOwnedField);
    let buy = alice
        .create("marketplace_purchases", "x1", doc! { "buyer_id": "alice" })
        .await;
    assert_eq!(rejected(&buy), RejectReason::NotWritable);
    // Operator injection in field names and values.
    let injected = alice
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "$set": { "title": "x" } },
            doc! {},
        )
        .await;
    assert_eq!(rejected(&injected), RejectReason::Malformed);
    let in_value = alice
        .patch("prompts", "p1", 1, doc! { "title": { "$gt": "" } }, doc! {})
        .await;
    assert_eq!(rejected(&in_value), RejectReason::Invalid);
    let in_free_form = alice
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "ai_metadata.parameters": { "$where": "sleep(1000)" } },
            doc! {},
        )
        .await;
    assert_eq!(rejected(&in_free_form), RejectReason::Invalid);

    let (mine, _) = alice.pull_all("prompts", 0).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0].document.get_str("title").expect("title"),
        "Private",
        "nothing changed"
    );
    assert_eq!(mine[0].document.get_i64("version").expect("version"), 1);
}

#[tokio::test]
async fn approved_listings_are_public_and_drafts_stay_with_their_seller() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let bob = Client::new(&server, "bob", "laptop");
    let mut draft = MarketplaceListing::draft("alice", "p1", "Draft", 100);
    draft.id = "l1".into();
    assert_eq!(
        applied_version(
            &alice
                .create("marketplace_listings", "l1", doc_of(&draft))
                .await
        ),
        1
    );
    assert_eq!(alice.pull_all("marketplace_listings", 0).await.0.len(), 1);
    assert!(
        bob.pull_all("marketplace_listings", 0).await.0.is_empty(),
        "drafts are private"
    );
    // A moderator's backend approves it with a direct write.
    direct(&server, "marketplace_listings")
        .await
        .update_one(
            doc! { "_id": "l1" },
            doc! { "$set": { "status": "approved" }, "$inc": { "version": 1 } },
        )
        .await
        .expect("approve");
    let public = eventually(
        || async { bob.pull_all("marketplace_listings", 0).await.0 },
        |c| c.len() == 1,
    )
    .await;
    assert_eq!(
        public.len(),
        1,
        "approved listings reach every signed-in user"
    );
    assert_eq!(
        public[0].document.get_str("status").expect("status"),
        "approved"
    );
}

/// A collection of the test server's database, written behind its back.
async fn direct(server: &TestServer, collection: &str) -> mongodb::Collection<Document> {
    let client = mongodb::Client::with_uri_str(&MONGO.uri)
        .await
        .expect("connect");
    client
        .database(&server.database)
        .collection::<Document>(collection)
}

/// Polls `probe` until `done` holds, for up to 20 s (the sequencer works
/// asynchronously, following a change stream).
async fn eventually<T, F, Fut>(probe: F, done: impl Fn(&T) -> bool) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let value = probe().await;
        if done(&value) || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn writes_made_straight_to_mongodb_by_other_backends_reach_desktops() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Before"))
        .await;
    let (_, checkpoint) = alice.pull_all("prompts", 0).await;

    // Another backend follows the seed's convention: bump version, stamp updated_at.
    let prompts = direct(&server, "prompts").await;
    prompts
        .update_one(
            doc! { "_id": "p1" },
            doc! { "$set": { "title": "Renamed by the web app", "updated_at": bson::DateTime::now() }, "$inc": { "version": 1 } },
        )
        .await
        .expect("external update");
    let mut inserted = prompt_doc("alice", "p2", "Created by the web app");
    inserted.insert("version", 1_i64);
    prompts.insert_one(inserted).await.expect("external insert");

    let changes = eventually(
        || async { alice.pull_all("prompts", checkpoint).await.0 },
        |c| c.len() == 2,
    )
    .await;
    let by_id: HashMap<String, Document> =
        changes.into_iter().map(|c| (c.id, c.document)).collect();
    assert_eq!(
        by_id.len(),
        2,
        "both external writes reach the cursor: {by_id:?}"
    );
    assert_eq!(
        by_id["p1"].get_str("title").expect("title"),
        "Renamed by the web app"
    );
    assert_eq!(by_id["p1"].get_i64("version").expect("version"), 2);
    assert!(by_id["p2"].get_str("title").is_ok());
    assert!(
        !by_id["p1"].contains_key("_seq_version"),
        "sequencing fields stay on the server"
    );

    // A desktop edit based on the externally bumped version applies cleanly.
    let outcome = alice
        .patch(
            "prompts",
            "p1",
            2,
            doc! { "description": "after" },
            doc! { "description": Bson::Null },
        )
        .await;
    assert_eq!(applied_version(&outcome), 3);
}

#[tokio::test]
async fn documents_written_while_no_server_ran_are_sequenced_at_start() {
    let database = MONGO.fresh_database();
    let client = mongodb::Client::with_uri_str(&MONGO.uri)
        .await
        .expect("connect");
    let mut early = prompt_doc("alice", "early", "Written before any server started");
    early.insert("version", 1_i64);
    client
        .database(&database)
        .collection::<Document>("prompts")
        .insert_one(early)
        .await
        .expect("insert");
    let server = TestServer::start_on(&MONGO, &database).await;
    let alice = Client::new(&server, "alice", "laptop");
    let changes = eventually(
        || async { alice.pull_all("prompts", 0).await.0 },
        |c| !c.is_empty(),
    )
    .await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].id, "early");
}

/// Writers on two server instances over one database, readers pulling all
/// the while: every reader must see every committed create, in strictly
/// increasing sequence order, with no gaps caused by late commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_reader_ever_skips_a_change_committed_by_concurrent_writers_on_two_servers() {
    let database = MONGO.fresh_database();
    let first = Arc::new(TestServer::start_on(&MONGO, &database).await);
    let second = Arc::new(TestServer::start_on(&MONGO, &database).await);
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 25;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut readers = Vec::new();
    for r in 0..2 {
        let server = if r == 0 {
            Arc::clone(&first)
        } else {
            Arc::clone(&second)
        };
        let done = Arc::clone(&done);
        readers.push(tokio::spawn(async move {
            let reader = Client::new(&server, "team", &format!("reader-{r}"));
            let mut checkpoint = 0;
            let mut seen: Vec<(i64, String)> = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = reader.pull("prompts", checkpoint).await;
                for change in &page.changes {
                    assert!(change.seq > checkpoint, "sequence went backwards");
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
        let server = if w % 2 == 0 {
            Arc::clone(&first)
        } else {
            Arc::clone(&second)
        };
        writers.push(tokio::spawn(async move {
            let mut writer = Client::new(&server, "team", &format!("writer-{w}"));
            for i in 0..PER_WRITER {
                let id = format!("w{w}-{i}");
                // As a desktop sends it: naming its first version, which
                // follows, so each create stays one short transaction.
                let mut prompt = prompt_doc("team", &id, &id);
                prompt.insert("latest_version_id", format!("{id}-v1"));
                let outcome = writer.create("prompts", &id, prompt).await;
                assert_eq!(applied_version(&outcome), 1);
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
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
    }
}

#[tokio::test]
async fn a_standalone_mongodb_is_refused_with_a_clear_error() {
    let standalone = MongoServer::start_secantus(&["--standalone"]).expect("start standalone");
    let err = promptforge_server::Db::connect(&standalone.uri, "pf_standalone")
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("replica set"), "{err}");
}

#[tokio::test]
async fn a_user_removed_from_a_shared_prompt_is_told_on_the_next_pull() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let bob = Client::new(&server, "bob", "laptop");
    let mut shared = Prompt::new("alice", "Shared with bob", "Body");
    shared.id = "p1".into();
    shared.collaboration.allowed_users = vec!["bob".into()];
    alice.create("prompts", "p1", doc_of(&shared)).await;
    let (seen, checkpoint) = bob.pull_all("prompts", 0).await;
    assert_eq!(seen.len(), 1, "bob sees the shared prompt");
    assert!(!seen[0].left_scope);

    let unshare = alice
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "collaboration.allowed_users": [] },
            doc! { "collaboration.allowed_users": ["bob"] },
        )
        .await;
    assert_eq!(applied_version(&unshare), 2);
    let (after, _) = bob.pull_all("prompts", checkpoint).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].left_scope, "bob is told to remove it");
    assert_eq!(after[0].id, "p1");
    assert_eq!(
        after[0].document,
        doc! { "_id": "p1" },
        "and sees nothing of its new state"
    );
    let (mine, _) = alice.pull_all("prompts", 0).await;
    assert!(mine.iter().all(|c| !c.left_scope), "the owner keeps it");
}

#[tokio::test]
async fn team_members_reach_team_projects_and_only_editors_may_change_them() {
    use promptforge_wire::schema::Project;
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut viewer = Client::new(&server, "victor", "laptop");
    let mut editor = Client::new(&server, "edith", "laptop");
    let outsider = Client::new(&server, "mallory", "laptop");
    // Teams are managed by the web app; it writes them straight to MongoDB.
    let joined = bson::DateTime::now();
    direct(&server, "teams")
        .await
        .insert_one(doc! {
            "_id": "t1", "name": "Writers", "created_by": "alice", "plan_type": "pro", "version": 1_i64,
            "members": {
                "alice": { "role": "owner", "joined_at": joined },
                "victor": { "role": "viewer", "joined_at": joined },
                "edith": { "role": "viewer", "joined_at": joined, "permissions": ["write"] },
            },
            "member_count": 3_i64,
        })
        .await
        .expect("team");
    server.sequenced("teams", "t1").await;
    let mut project = Project::new("alice", "Team project");
    project.id = "proj1".into();
    project.collaboration.team_id = Some("t1".into());
    alice.create("projects", "proj1", doc_of(&project)).await;
    let mut prompt = Prompt::new("alice", "Team prompt", "Body");
    prompt.id = "tp1".into();
    prompt.project_id = Some("proj1".into());
    alice.create("prompts", "tp1", doc_of(&prompt)).await;

    for member in [&viewer, &editor] {
        let projects = eventually(
            || async { member.pull_all("projects", 0).await.0 },
            |c| c.len() == 1,
        )
        .await;
        assert_eq!(
            projects.len(),
            1,
            "{} sees the team project",
            member.client_id
        );
        assert_eq!(
            member.pull_all("prompts", 0).await.0.len(),
            1,
            "and the prompts filed in it"
        );
    }
    assert!(outsider.pull_all("projects", 0).await.0.is_empty());
    assert!(outsider.pull_all("prompts", 0).await.0.is_empty());

    let by_viewer = viewer
        .patch(
            "prompts",
            "tp1",
            1,
            doc! { "title": "viewer edit" },
            doc! { "title": "Team prompt" },
        )
        .await;
    assert_eq!(
        rejected(&by_viewer),
        RejectReason::Forbidden,
        "viewers read only, and are told so (they know it exists)"
    );
    let by_editor = editor
        .patch(
            "prompts",
            "tp1",
            1,
            doc! { "title": "editor edit" },
            doc! { "title": "Team prompt" },
        )
        .await;
    assert_eq!(
        applied_version(&by_editor),
        2,
        "members with write permission edit"
    );
    let delete = editor
        .push_one("prompts", "tp1", 2, MutationOp::Delete)
        .await;
    assert_eq!(
        rejected(&delete),
        RejectReason::NotFound,
        "only the owner deletes"
    );
}

#[tokio::test]
async fn readers_removed_by_other_backends_are_told_too() {
    use promptforge_wire::schema::Project;
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let bob = Client::new(&server, "bob", "laptop");
    let victor = Client::new(&server, "victor", "laptop");

    // Unsharing done by the web app, straight in MongoDB.
    let mut shared = Prompt::new("alice", "Shared with bob", "Body");
    shared.id = "p1".into();
    shared.collaboration.allowed_users = vec!["bob".into()];
    alice.create("prompts", "p1", doc_of(&shared)).await;
    let (seen, bob_checkpoint) = bob.pull_all("prompts", 0).await;
    assert_eq!(seen.len(), 1);
    direct(&server, "prompts")
        .await
        .update_one(
            doc! { "_id": "p1" },
            doc! { "$set": { "collaboration.allowed_users": [] }, "$inc": { "version": 1 } },
        )
        .await
        .expect("external unshare");
    let after = eventually(
        || async { bob.pull_all("prompts", bob_checkpoint).await.0 },
        |c| !c.is_empty(),
    )
    .await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].left_scope && after[0].id == "p1", "{after:?}");

    // A member removed from a team loses the team's project and what is filed in it.
    let joined = bson::DateTime::now();
    direct(&server, "teams")
        .await
        .insert_one(doc! {
            "_id": "t1", "name": "Writers", "created_by": "alice", "version": 1_i64, "member_count": 2_i64,
            "members": { "alice": { "role": "owner", "joined_at": joined }, "victor": { "role": "viewer", "joined_at": joined } },
        })
        .await
        .expect("team");
    server.sequenced("teams", "t1").await;
    let mut project = Project::new("alice", "Team project");
    project.id = "proj1".into();
    project.collaboration.team_id = Some("t1".into());
    alice.create("projects", "proj1", doc_of(&project)).await;
    let mut filed = Prompt::new("alice", "Filed in the team project", "Body");
    filed.id = "tp1".into();
    filed.project_id = Some("proj1".into());
    alice.create("prompts", "tp1", doc_of(&filed)).await;
    let (projects, project_checkpoint) = victor.pull_all("projects", 0).await;
    let (prompts, prompt_checkpoint) = victor.pull_all("prompts", 0).await;
    assert_eq!(
        (projects.len(), prompts.len()),
        (1, 1),
        "victor sees the team's work"
    );
    // Let the sequencer record the team's members before they change.
    eventually(
        || async { victor.pull_all("teams", 0).await.0 },
        |c| c.len() == 1,
    )
    .await;

    direct(&server, "teams")
        .await
        .update_one(
            doc! { "_id": "t1" },
            doc! { "$unset": { "members.victor": "" }, "$set": { "member_count": 1_i64 }, "$inc": { "version": 1 } },
        )
        .await
        .expect("remove victor");
    let gone = eventually(
        || async { victor.pull_all("prompts", prompt_checkpoint).await.0 },
        |c| !c.is_empty(),
    )
    .await;
    assert!(
        gone.len() == 1 && gone[0].left_scope && gone[0].id == "tp1",
        "{gone:?}"
    );
    let gone = victor.pull_all("projects", project_checkpoint).await.0;
    assert!(
        gone.len() == 1 && gone[0].left_scope && gone[0].id == "proj1",
        "{gone:?}"
    );
    assert!(
        alice
            .pull_all("prompts", 0)
            .await
            .0
            .iter()
            .all(|c| !c.left_scope),
        "the owner keeps everything"
    );
}

#[tokio::test]
async fn joining_a_team_delivers_its_documents_and_only_owners_change_who_sees_what() {
    use promptforge_wire::schema::Project;
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut bob = Client::new(&server, "bob", "laptop");
    let joined = bson::DateTime::now();
    let teams = direct(&server, "teams").await;
    teams
        .insert_one(doc! {
            "_id": "t1", "name": "Writers", "created_by": "alice", "version": 1_i64, "member_count": 1_i64,
            "members": { "alice": { "role": "owner", "joined_at": joined } },
        })
        .await
        .expect("team");
    server.sequenced("teams", "t1").await;
    let mut project = Project::new("alice", "Team project");
    project.id = "proj1".into();
    project.collaboration.team_id = Some("t1".into());
    project.created_by = "someone-else".into();
    alice.create("projects", "proj1", doc_of(&project)).await;
    let mut filed = Prompt::new("alice", "Filed early", "Body");
    filed.id = "tp1".into();
    filed.project_id = Some("proj1".into());
    filed.collaboration.allowed_users = vec!["bob".into()];
    alice.create("prompts", "tp1", doc_of(&filed)).await;

    // Bob syncs past the team project's sequence number (seeing only his
    // own project), then joins the team.
    let mut own = Project::new("bob", "Bob's own");
    own.id = "bobproj".into();
    bob.create("projects", "bobproj", doc_of(&own)).await;
    let (seen, projects_checkpoint) = bob.pull_all("projects", 0).await;
    assert_eq!(seen.len(), 1, "only his own project so far");
    eventually(
        || async { alice.pull_all("teams", 0).await.0 },
        |c| c.len() == 1,
    )
    .await;
    teams
        .update_one(
            doc! { "_id": "t1" },
            doc! { "$set": { "members.bob": { "role": "editor", "joined_at": joined }, "member_count": 2_i64 }, "$inc": { "version": 1 } },
        )
        .await
        .expect("bob joins");
    let arrived = eventually(
        || async { bob.pull_all("projects", projects_checkpoint).await.0 },
        |c| !c.is_empty(),
    )
    .await;
    assert_eq!(
        arrived.len(),
        1,
        "the team's project reaches the new member: {arrived:?}"
    );
    assert_eq!(
        arrived[0]
            .document
            .get_str("created_by")
            .expect("created_by"),
        "alice",
        "authorship is not forgeable"
    );

    // A collaborator may edit, but not change who sees the document.
    let widen = bob
        .patch(
            "prompts",
            "tp1",
            1,
            doc! { "collaboration.allowed_users": ["bob", "mallory"] },
            doc! {},
        )
        .await;
    assert_eq!(rejected(&widen), RejectReason::Forbidden);
    let refile = bob
        .patch(
            "prompts",
            "tp1",
            1,
            doc! { "project_id": Bson::Null },
            doc! {},
        )
        .await;
    assert_eq!(rejected(&refile), RejectReason::Forbidden);

    // Unsharing someone who still reads it through the team tells them nothing.
    let (_, prompts_checkpoint) = bob.pull_all("prompts", 0).await;
    let unshare = alice
        .patch(
            "prompts",
            "tp1",
            1,
            doc! { "collaboration.allowed_users": [] },
            doc! { "collaboration.allowed_users": ["bob"] },
        )
        .await;
    assert_eq!(applied_version(&unshare), 2);
    let after = bob.pull_all("prompts", prompts_checkpoint).await.0;
    assert!(
        after.iter().all(|c| !c.left_scope),
        "bob still reads it through the team: {after:?}"
    );

    // An owner cannot file a project into a team they are not in.
    let mut elsewhere = Project::new("bob", "Bob's project");
    elsewhere.id = "proj2".into();
    elsewhere.collaboration.team_id = Some("someone-elses-team".into());
    let outcome = bob.create("projects", "proj2", doc_of(&elsewhere)).await;
    assert_eq!(rejected(&outcome), RejectReason::Forbidden);
}

#[tokio::test]
async fn versions_can_only_be_added_to_prompts_the_user_may_write() {
    use promptforge_wire::schema::PromptVersion;
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut mallory = Client::new(&server, "mallory", "evil");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Alice's"))
        .await;
    let version = |user: &str, id: &str| PromptVersion {
        id: id.into(),
        prompt_id: "p1".into(),
        user_id: user.into(),
        version_number: 5,
        content: "planted".into(),
        role: None,
        prompt_type: "text".into(),
        changes: String::new(),
        created_at: bson::DateTime::now(),
        created_by: user.into(),
        version: 0,
    };
    let planted = mallory
        .create(
            "prompt_versions",
            "v-evil",
            doc_of(&version("mallory", "v-evil")),
        )
        .await;
    // Refused in the words used for a prompt that does not exist.
    assert_eq!(rejected(&planted), RejectReason::Forbidden);
    let own = alice
        .create("prompt_versions", "v2", doc_of(&version("alice", "v2")))
        .await;
    assert_eq!(applied_version(&own), 1);
}
