//! Hostile requests against the sync server, one test per finding of the
//! independent check written from docs/protocol.md: writing into other
//! users' projects and teams, creates that bypass the schema, a poisoned
//! document blocking another user's queue, future-dated tokens, and the
//! smaller breaks (dropped nested fields, mutation id 0, a missing protocol
//! header, plain-text body errors, server-owned fields on create, listing
//! review and slugs).

use std::sync::LazyLock;

use bson::{doc, Bson, Document};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{applied_version, doc_of, prompt_doc, rejected, Client};
use promptforge_tests::server::{TestServer, MODERATOR};
use promptforge_tests::tokens::token;
use promptforge_wire::market::{MarketOutcome, ModerateRequest, ModerationAction, PublishRequest};
use promptforge_wire::protocol::{MutationOp, MutationOutcome, RejectReason, PROTOCOL_HEADER};
use promptforge_wire::schema::{Idea, MarketplaceListing, Project, Prompt};
use serde_json::json;

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

async fn direct(server: &TestServer, collection: &str) -> mongodb::Collection<Document> {
    mongodb::Client::with_uri_str(&MONGO.uri)
        .await
        .expect("connect")
        .database(&server.database)
        .collection::<Document>(collection)
}

async fn stored(server: &TestServer, collection: &str, id: &str) -> Document {
    direct(server, collection)
        .await
        .find_one(doc! { "_id": id })
        .await
        .expect("read")
        .expect("exists")
}

fn project_doc(user: &str, id: &str, team: Option<&str>) -> Document {
    let mut project = Project::new(user, "Project");
    project.id = id.into();
    project.collaboration.team_id = team.map(str::to_owned);
    doc_of(&project)
}

fn filed_prompt(user: &str, id: &str, project: &str) -> Document {
    let mut prompt = Prompt::new(user, "Filed", "Body");
    prompt.id = id.into();
    prompt.project_id = Some(project.into());
    doc_of(&prompt)
}

fn message(outcome: &MutationOutcome) -> &str {
    match outcome {
        MutationOutcome::Rejected { message, .. } => message,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A draft listing of alice's prompt `p1` with all that publishing requires.
fn sellable_listing(id: &str, price: i64) -> Document {
    let mut listing = MarketplaceListing::draft("alice", "p1", "Sellable", price);
    listing.id = id.into();
    listing.preview_content = "A preview".into();
    listing.licensing.license_type = Some("personal".into());
    doc_of(&listing)
}

fn approve(listing_id: &str) -> ModerateRequest {
    ModerateRequest {
        listing_id: listing_id.into(),
        action: ModerationAction::Approve,
        notes: None,
        idempotency_key: None,
    }
}

/// Sends a marketplace request as `user` and expects it done.
async fn market_done<B: serde::Serialize>(server: &TestServer, route: &str, user: &str, body: &B) {
    let outcome: MarketOutcome = server
        .call(&format!("/v1/market/{route}"), &token(user), body)
        .await;
    assert!(
        matches!(outcome, MarketOutcome::Done { .. }),
        "{route}: {outcome:?}"
    );
}

/// A team written straight to MongoDB, as the web app does.
async fn team(server: &TestServer, id: &str, members: Document) {
    direct(server, "teams")
        .await
        .insert_one(doc! {
            "_id": id, "name": "Writers", "created_by": "alice", "plan_type": "pro",
            "version": 1_i64, "members": members, "member_count": 3_i64,
        })
        .await
        .expect("team");
    server.sequenced("teams", id).await;
}

#[tokio::test]
async fn nobody_files_into_a_project_they_may_not_write() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut bob = Client::new(&server, "bob", "laptop");
    let mut edith = Client::new(&server, "edith", "laptop");
    let mut victor = Client::new(&server, "victor", "laptop");
    let joined = bson::DateTime::now();
    team(
        &server,
        "t1",
        doc! {
            "alice": { "role": "owner", "joined_at": joined },
            "edith": { "role": "editor", "joined_at": joined },
            "victor": { "role": "viewer", "joined_at": joined },
        },
    )
    .await;
    alice
        .create("projects", "private", project_doc("alice", "private", None))
        .await;
    alice
        .create("projects", "team", project_doc("alice", "team", Some("t1")))
        .await;
    let private_before = stored(&server, "projects", "private").await;
    let team_before = stored(&server, "projects", "team").await;

    // A create filed into someone else's private project.
    let create = bob
        .create("prompts", "b1", filed_prompt("bob", "b1", "private"))
        .await;
    assert_eq!(rejected(&create), RejectReason::Forbidden);
    assert!(message(&create).contains("project_id"), "{create:?}");
    // Moving an existing prompt there.
    bob.create("prompts", "b2", prompt_doc("bob", "b2", "Bob's"))
        .await;
    let moved = bob.set("prompts", "b2", 1, "project_id", "private").await;
    assert_eq!(rejected(&moved), RejectReason::Forbidden);
    // The same for an idea.
    let mut idea = Idea::new("bob", "Idea", "");
    idea.id = "bi".into();
    idea.project_id = Some("private".into());
    let idea_into = bob.create("ideas", "bi", doc_of(&idea)).await;
    assert_eq!(rejected(&idea_into), RejectReason::Forbidden);
    // A filing may arrive before its project (offline uploads go in the
    // order documents were made); when the project turns out to be someone
    // else's, the filing is undone, not counted.
    let ahead = bob
        .create("prompts", "b3", filed_prompt("bob", "b3", "later"))
        .await;
    assert_eq!(applied_version(&ahead), 1);
    alice
        .create(
            "projects",
            "later",
            project_doc("alice", "later", Some("t1")),
        )
        .await;
    let later = stored(&server, "projects", "later").await;
    assert!(later.get_array("prompt_ids").expect("ids").is_empty());
    let unfiled = stored(&server, "prompts", "b3").await;
    assert_eq!(unfiled.get("project_id"), None, "bob's prompt is taken out");
    assert_eq!(unfiled.get_i64("version"), Ok(2));
    // Alice's own prompt filed ahead of her project is counted.
    alice
        .create(
            "prompts",
            "a-ahead",
            filed_prompt("alice", "a-ahead", "mine-later"),
        )
        .await;
    alice
        .create(
            "projects",
            "mine-later",
            project_doc("alice", "mine-later", None),
        )
        .await;
    let mine = stored(&server, "projects", "mine-later").await;
    assert_eq!(mine.get_array("prompt_ids").expect("ids").len(), 1);
    // A stranger and a viewer may not file into the team's project.
    let stranger = bob
        .create("prompts", "b4", filed_prompt("bob", "b4", "team"))
        .await;
    assert_eq!(rejected(&stranger), RejectReason::Forbidden);
    let viewer = victor
        .create("prompts", "v1", filed_prompt("victor", "v1", "team"))
        .await;
    assert_eq!(rejected(&viewer), RejectReason::Forbidden);

    assert_eq!(
        stored(&server, "projects", "private").await,
        private_before,
        "the private project is untouched"
    );
    assert_eq!(stored(&server, "projects", "team").await, team_before);
    let (seen, _) = edith.pull_all("prompts", 0).await;
    assert!(
        seen.is_empty(),
        "team members pull no stranger's prompt: {seen:?}"
    );

    // An editor of the team may file into it, and the project counts it.
    let filed = edith
        .create("prompts", "e1", filed_prompt("edith", "e1", "team"))
        .await;
    assert_eq!(applied_version(&filed), 1);
    let team_after = stored(&server, "projects", "team").await;
    assert_eq!(team_after.get_array("prompt_ids").expect("ids").len(), 1);

    // A project may be filed only into a team where its owner edits.
    let viewer_project = victor
        .create("projects", "vp", project_doc("victor", "vp", Some("t1")))
        .await;
    assert_eq!(rejected(&viewer_project), RejectReason::Forbidden);
}

#[tokio::test]
async fn links_need_read_access_and_listings_sell_only_own_prompts() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut bob = Client::new(&server, "bob", "laptop");
    alice
        .create("prompts", "secret", prompt_doc("alice", "secret", "Secret"))
        .await;
    let mut shared = Prompt::new("alice", "Shared", "Body");
    shared.id = "shared".into();
    shared.collaboration.allowed_users = vec!["bob".into()];
    alice.create("prompts", "shared", doc_of(&shared)).await;

    let fork = |id: &str, parent: &str| {
        let mut prompt = Prompt::new("bob", "Fork", "Body");
        prompt.id = id.into();
        prompt.parent_prompt_id = Some(parent.into());
        doc_of(&prompt)
    };
    let private_fork = bob.create("prompts", "f1", fork("f1", "secret")).await;
    assert_eq!(rejected(&private_fork), RejectReason::Forbidden);
    let shared_fork = bob.create("prompts", "f2", fork("f2", "shared")).await;
    assert_eq!(applied_version(&shared_fork), 1);
    let template = bob.set("prompts", "f2", 1, "template_id", "secret").await;
    assert_eq!(rejected(&template), RejectReason::Forbidden);

    let mut idea = Idea::new("bob", "Idea", "");
    idea.id = "i1".into();
    idea.related_prompt_ids = vec!["shared".into(), "secret".into()];
    let linked = bob.create("ideas", "i1", doc_of(&idea)).await;
    assert_eq!(rejected(&linked), RejectReason::Forbidden);
    assert!(message(&linked).contains("secret"), "{linked:?}");
    idea.related_prompt_ids = vec!["shared".into()];
    assert_eq!(
        applied_version(&bob.create("ideas", "i1", doc_of(&idea)).await),
        1
    );

    let mut listing = MarketplaceListing::draft("bob", "shared", "Not mine", 10);
    listing.id = "l1".into();
    let resale = bob
        .create("marketplace_listings", "l1", doc_of(&listing))
        .await;
    assert_eq!(rejected(&resale), RejectReason::Forbidden);

    // A reference unchanged by a patch is not re-checked: when alice stops
    // sharing, bob's fork stays editable.
    alice
        .patch(
            "prompts",
            "shared",
            1,
            doc! { "collaboration.allowed_users": [] },
            doc! { "collaboration.allowed_users": ["bob"] },
        )
        .await;
    let edit = bob
        .patch(
            "prompts",
            "f2",
            1,
            doc! { "title": "Still mine" },
            doc! { "title": "Fork" },
        )
        .await;
    assert_eq!(applied_version(&edit), 2);
}

/// Makes a valid document invalid in one way.
type Breaker = Box<dyn Fn(&mut Document)>;

#[tokio::test]
async fn creates_obey_the_schema_at_every_level() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut deep = Bson::Int32(1);
    for _ in 0..103 {
        deep = Bson::Document(doc! { "n": deep });
    }
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "an unknown top-level field with a 10 KB blob",
            Box::new(|d| {
                d.insert("blob", "x".repeat(10_240));
            }),
        ),
        (
            "a top-level $set",
            Box::new(|d| {
                d.insert("$set", doc! { "title": "x" });
            }),
        ),
        (
            "a literal dotted key",
            Box::new(|d| {
                d.insert("a.b", 1);
            }),
        ),
        (
            "a dotted key in a free-form object",
            Box::new(|d| {
                d.insert("ai_metadata", doc! { "parameters": { "a.b": 1 } });
            }),
        ),
        (
            "an unknown nested field",
            Box::new(|d| {
                d.insert("performance", doc! { "rating": 1.0, "secret": true });
            }),
        ),
        (
            "a 103-level nested free-form object",
            Box::new(move |d| {
                d.insert(
                    "ai_metadata",
                    doc! { "parameters": { "deep": deep.clone() } },
                );
            }),
        ),
    ];
    for (i, (name, break_it)) in cases.iter().enumerate() {
        let id = format!("p{i}");
        let mut document = prompt_doc("alice", &id, "Prompt");
        break_it(&mut document);
        let outcome = alice.create("prompts", &id, document).await;
        assert_eq!(rejected(&outcome), RejectReason::Invalid, "{name}");
    }
    assert!(
        alice.pull_all("prompts", 0).await.0.is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn a_poisoned_document_never_blocks_anyone_s_queue() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut carol = Client::new(&server, "carol", "laptop");
    let mut prompt = Prompt::new("alice", "Shared", "Body");
    prompt.id = "p1".into();
    prompt.collaboration.allowed_users = vec!["carol".into()];
    alice.create("prompts", "p1", doc_of(&prompt)).await;
    // What an earlier server let a create store, or another backend wrote:
    // an unknown field, and a `$`-prefixed one no replace can carry.
    let prompts = direct(&server, "prompts").await;
    let mut poisoned = stored(&server, "prompts", "p1").await;
    poisoned.insert("legacy_note", "kept");
    poisoned.insert("$set", doc! { "title": "x" });
    prompts
        .delete_one(doc! { "_id": "p1" })
        .await
        .expect("delete");
    prompts.insert_one(poisoned).await.expect("poison");
    let mut own = Prompt::new("carol", "Carol's own", "Body");
    own.id = "c1".into();
    let edit = carol.mutation(
        "prompts",
        "p1",
        1,
        MutationOp::Patch {
            changes: doc! { "title": "Edited by carol" },
            base: doc! { "title": "Shared" },
        },
    );
    let create = carol.mutation(
        "prompts",
        "c1",
        0,
        MutationOp::Create {
            document: doc_of(&own),
        },
    );
    let results = carol.push(vec![edit, create]).await;
    assert_eq!(applied_version(&results[0].outcome), 2, "{results:?}");
    assert_eq!(applied_version(&results[1].outcome), 1, "{results:?}");
    let now = stored(&server, "prompts", "p1").await;
    assert_eq!(
        now.get_str("legacy_note"),
        Ok("kept"),
        "unknown fields of others are kept"
    );
    assert!(now.get("$set").is_none(), "unwritable keys are dropped");
    let again = alice
        .patch(
            "prompts",
            "p1",
            2,
            doc! { "title": "Alice again" },
            doc! { "title": "Edited by carol" },
        )
        .await;
    assert_eq!(applied_version(&again), 3);
}

#[tokio::test]
async fn a_mutation_the_database_refuses_is_answered_alone_and_for_good() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    // An operator's unique index makes the database, not the server, refuse.
    direct(&server, "prompts")
        .await
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "title": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .unique(true)
                        .build(),
                )
                .build(),
        )
        .await
        .expect("index");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Same title"))
        .await;
    let clash = alice.mutation(
        "prompts",
        "p2",
        0,
        MutationOp::Create {
            document: prompt_doc("alice", "p2", "Same title"),
        },
    );
    let fine = alice.mutation(
        "prompts",
        "p3",
        0,
        MutationOp::Create {
            document: prompt_doc("alice", "p3", "Another title"),
        },
    );
    let batch = vec![clash, fine];
    let first = alice.push(batch.clone()).await;
    assert_eq!(
        rejected(&first[0].outcome),
        RejectReason::Invalid,
        "{first:?}"
    );
    assert_eq!(applied_version(&first[1].outcome), 1);
    let resent = alice.push(batch).await;
    assert_eq!(resent, first, "a resend gets the recorded answers");
}

#[tokio::test]
async fn the_smaller_breaks_are_closed() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Prompt"))
        .await;

    // A nested unknown field is refused, not dropped with a version bump.
    let secret = alice.set("prompts", "p1", 1, "performance.secret", 1).await;
    assert_eq!(rejected(&secret), RejectReason::Invalid);
    assert_eq!(
        stored(&server, "prompts", "p1").await.get_i64("version"),
        Ok(1)
    );

    // mutation_id 0 is malformed, and changes nothing.
    let mut zero = alice.mutation(
        "prompts",
        "p1",
        1,
        MutationOp::Patch {
            changes: doc! { "title": "Zero" },
            base: doc! { "title": "Prompt" },
        },
    );
    zero.mutation_id = 0;
    let answer = alice.push(vec![zero]).await;
    assert_eq!(rejected(&answer[0].outcome), RejectReason::Malformed);
    assert_eq!(
        stored(&server, "prompts", "p1").await.get_str("title"),
        Ok("Prompt")
    );

    // The concurrency token and the sync bookkeeping on a create are
    // refused, not overwritten; authorship is stamped (as documented).
    for (field, value) in [
        ("version", Bson::Int64(7)),
        ("_seq", Bson::Int64(1)),
        ("_seq_version", Bson::Int64(1)),
        ("_seq_readers", Bson::Array(vec!["mallory".into()])),
    ] {
        let mut document = prompt_doc("alice", "p9", "Owned");
        document.insert(field, value);
        let outcome = alice.create("prompts", "p9", document).await;
        assert_eq!(
            rejected(&outcome),
            RejectReason::ServerOwnedField,
            "{field}"
        );
    }
    let mut forged = prompt_doc("alice", "p9", "Owned");
    forged.insert("created_by", "mallory");
    forged.insert("last_modified_by", "mallory");
    let MutationOutcome::Applied { document, .. } = alice.create("prompts", "p9", forged).await
    else {
        panic!("a create with foreign authorship is stamped, not refused");
    };
    assert_eq!(document.get_str("created_by"), Ok("alice"));
    assert_eq!(document.get_str("last_modified_by"), Ok("alice"));

    // Every request carries the protocol header; errors are JSON.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/pull", server.base);
    let body = json!({"collection": "prompts", "checkpoint": 0});
    let no_header = http
        .post(&url)
        .bearer_auth(token("alice"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(no_header.status(), 400);
    let error: serde_json::Value = no_header.json().await.expect("a JSON error");
    assert_eq!(error["code"], "bad_request");
    assert!(error["message"]
        .as_str()
        .is_some_and(|m| m.contains(PROTOCOL_HEADER)));
    for (name, raw, content_type) in [
        ("not JSON", "{not json", "application/json"),
        (
            "a mistyped field",
            r#"{"collection": "prompts", "checkpoint": "x"}"#,
            "application/json",
        ),
        (
            "a missing field",
            r#"{"checkpoint": 0}"#,
            "application/json",
        ),
        (
            "no content type",
            r#"{"collection": "prompts", "checkpoint": 0}"#,
            "text/plain",
        ),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(token("alice"))
            .header(PROTOCOL_HEADER, "1")
            .header("content-type", content_type)
            .body(raw)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 400, "{name}");
        let error: serde_json::Value = response.json().await.expect("a JSON error");
        assert_eq!(error["code"], "bad_request", "{name}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn listing_terms_go_back_to_review_and_every_id_gets_a_slug() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Sold"))
        .await;
    for id in ["Listing_A", "listing-b", "UPPER.case:id"] {
        let mut listing = MarketplaceListing::draft("alice", "p1", "My Listing!", 100);
        listing.id = id.into();
        let created = alice
            .create("marketplace_listings", id, doc_of(&listing))
            .await;
        assert_eq!(applied_version(&created), 1, "{id}: {created:?}");
    }
    let upper = stored(&server, "marketplace_listings", "Listing_A").await;
    let slug_a = upper
        .get_document("seo")
        .and_then(|s| s.get_str("slug"))
        .expect("slug")
        .to_owned();
    let slug_b = stored(&server, "marketplace_listings", "listing-b")
        .await
        .get_document("seo")
        .and_then(|s| s.get_str("slug"))
        .expect("slug")
        .to_owned();
    assert_ne!(slug_a, slug_b);

    // Publish and approve, then raise the price: back to review.
    alice
        .create("marketplace_listings", "l1", sellable_listing("l1", 100))
        .await;
    market_done(
        &server,
        "publish",
        "alice",
        &PublishRequest {
            listing_id: "l1".into(),
            idempotency_key: None,
        },
    )
    .await;
    // Notes too long to store are refused in the marketplace's own words,
    // and change nothing.
    let pending = stored(&server, "marketplace_listings", "l1").await;
    let too_long: MarketOutcome = server
        .call(
            "/v1/market/moderate",
            &token(MODERATOR),
            &ModerateRequest {
                listing_id: "l1".into(),
                action: ModerationAction::Reject,
                notes: Some("n".repeat(200_000)),
                idempotency_key: None,
            },
        )
        .await;
    assert!(
        matches!(
            too_long,
            MarketOutcome::Refused {
                reason: promptforge_wire::market::MarketRefusal::Invalid,
                ..
            }
        ),
        "{too_long:?}"
    );
    assert_eq!(stored(&server, "marketplace_listings", "l1").await, pending);
    market_done(&server, "moderate", MODERATOR, &approve("l1")).await;
    let version = stored(&server, "marketplace_listings", "l1")
        .await
        .get_i64("version")
        .expect("version");
    let raised = alice
        .patch(
            "marketplace_listings",
            "l1",
            version,
            doc! { "price": 99_999_i64 },
            doc! { "price": 100_i64 },
        )
        .await;
    let MutationOutcome::Applied { document, .. } = raised else {
        panic!("expected applied, got {raised:?}");
    };
    assert_eq!(document.get_str("status"), Ok("pending"));
    assert_eq!(document.get_str("moderation_status"), Ok("under_review"));
}

#[tokio::test]
async fn what_another_backend_stored_stays_writable() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    // A document written without an integer version, straight to MongoDB.
    let mut document = prompt_doc("alice", "p1", "External");
    document.insert("version", 1.0_f64);
    direct(&server, "prompts")
        .await
        .insert_one(document)
        .await
        .expect("insert");
    let edit = alice
        .patch(
            "prompts",
            "p1",
            1,
            doc! { "title": "Edited" },
            doc! { "title": "External" },
        )
        .await;
    assert!(
        matches!(
            edit,
            MutationOutcome::Applied { .. } | MutationOutcome::Merged { .. }
        ),
        "{edit:?}"
    );
    assert_eq!(
        stored(&server, "prompts", "p1").await.get_str("title"),
        Ok("Edited")
    );
}

#[tokio::test]
async fn versions_are_numbered_by_the_server_whatever_the_client_sends() {
    use promptforge_wire::schema::PromptVersion;
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Prompt"))
        .await;
    let version = |id: &str, number: i64| PromptVersion {
        id: id.into(),
        prompt_id: "p1".into(),
        user_id: "alice".into(),
        version_number: number,
        content: "text".into(),
        role: None,
        prompt_type: "text".into(),
        changes: String::new(),
        created_at: bson::DateTime::now(),
        created_by: "alice".into(),
        version: 0,
    };
    // The top of the range, a number taken already, one far ahead: each
    // placeholder gets the next number of the prompt's history (1 is the
    // version the server recorded for the prompt, sent naming none).
    let mut numbers = Vec::new();
    for (id, sent) in [("v-top", 2_147_483_647), ("v-dup", 1), ("v-far", 900)] {
        let outcome = alice
            .create("prompt_versions", id, doc_of(&version(id, sent)))
            .await;
        let MutationOutcome::Applied { document, .. } = outcome else {
            panic!("expected applied, got {outcome:?}");
        };
        numbers.push(document.get_i64("version_number").expect("a number"));
    }
    assert_eq!(numbers, [2, 3, 4]);
}

#[tokio::test]
async fn unknown_routes_and_free_form_bson_types_get_clear_answers() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let (status, body) = server
        .post("/v1/nothing-here", Some(&token("alice")), &json!({}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    let response = reqwest::Client::new()
        .get(format!("{}/v1/push", server.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(body["code"], "not_found");

    let mut document = prompt_doc("alice", "p1", "Prompt");
    document.insert(
        "ai_metadata",
        doc! { "parameters": { "code": Bson::JavaScriptCode("sleep(1)".into()) } },
    );
    let outcome = alice.create("prompts", "p1", document).await;
    assert_eq!(rejected(&outcome), RejectReason::Invalid);
    assert!(
        message(&outcome).contains("ai_metadata.parameters.code"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_restore_comes_back_unfiled_where_its_owner_may_no_longer_write() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let mut edith = Client::new(&server, "edith", "laptop");
    let joined = bson::DateTime::now();
    team(
        &server,
        "t1",
        doc! {
            "alice": { "role": "owner", "joined_at": joined },
            "edith": { "role": "editor", "joined_at": joined },
        },
    )
    .await;
    alice
        .create("projects", "team", project_doc("alice", "team", Some("t1")))
        .await;
    edith
        .create("prompts", "e1", filed_prompt("edith", "e1", "team"))
        .await;
    edith.push_one("prompts", "e1", 1, MutationOp::Delete).await;
    // Edith is made a viewer, then restores her prompt.
    direct(&server, "teams")
        .await
        .update_one(
            doc! { "_id": "t1" },
            doc! { "$set": { "members.edith.role": "viewer" }, "$inc": { "version": 1 } },
        )
        .await
        .expect("demote");
    let restored = edith
        .push_one(
            "prompts",
            "e1",
            2,
            MutationOp::Restore {
                changes: doc! { "title": "Back" },
                base: doc! { "title": "Filed" },
            },
        )
        .await;
    let MutationOutcome::Applied { document, .. } = restored else {
        panic!("expected applied, got {restored:?}");
    };
    assert_eq!(document.get("project_id"), None);
    let project = stored(&server, "projects", "team").await;
    assert!(project.get_array("prompt_ids").expect("ids").is_empty());
}

#[tokio::test]
async fn drafts_of_others_do_not_exist_for_buyers_and_unpublishable_edits_go_to_draft() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    promptforge_tests::accounts::put_user(&MONGO.uri, &server.database, "bob", 100).await;
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Sold"))
        .await;
    alice
        .create("marketplace_listings", "l1", sellable_listing("l1", 10))
        .await;
    let buy = json!({ "listing_id": "l1", "expected_price": 10, "idempotency_key": "k1" });
    let (_, draft) = server
        .post("/v1/market/purchase", Some(&token("bob")), &buy)
        .await;
    assert_eq!(draft["reason"], "not_found", "{draft}");
    let (_, missing) = server
        .post(
            "/v1/market/purchase",
            Some(&token("bob")),
            &json!({ "listing_id": "nope", "expected_price": 10, "idempotency_key": "k2" }),
        )
        .await;
    assert_eq!(missing["message"], draft["message"], "the same words");

    market_done(
        &server,
        "publish",
        "alice",
        &PublishRequest {
            listing_id: "l1".into(),
            idempotency_key: None,
        },
    )
    .await;
    market_done(&server, "moderate", MODERATOR, &approve("l1")).await;
    let version = stored(&server, "marketplace_listings", "l1")
        .await
        .get_i64("version")
        .expect("version");
    let emptied = alice
        .patch(
            "marketplace_listings",
            "l1",
            version,
            doc! { "preview_content": "" },
            doc! { "preview_content": "A preview" },
        )
        .await;
    let MutationOutcome::Applied { document, .. } = emptied else {
        panic!("expected applied, got {emptied:?}");
    };
    assert_eq!(document.get_str("status"), Ok("draft"));
    // A tag is public too: it goes back to review like everything else.
    let version = document.get_i64("version").expect("version");
    let tagged = alice
        .patch(
            "marketplace_listings",
            "l1",
            version,
            doc! { "preview_content": "A preview", "tags": ["new"] },
            doc! { "preview_content": "", "tags": [] },
        )
        .await;
    let MutationOutcome::Applied { document, .. } = tagged else {
        panic!("expected applied, got {tagged:?}");
    };
    assert_eq!(
        document.get_str("status"),
        Ok("draft"),
        "a draft stays a draft"
    );
}

#[tokio::test]
async fn patches_may_not_set_stamped_fields_and_a_no_op_keeps_the_version() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Prompt"))
        .await;
    for field in ["last_modified_by", "created_at"] {
        let outcome = alice
            .patch(
                "prompts",
                "p1",
                1,
                doc! { field: "x" },
                doc! { field: null },
            )
            .await;
        assert_eq!(
            rejected(&outcome),
            RejectReason::ServerOwnedField,
            "{field}"
        );
    }
    let clear_absent = alice
        .set("prompts", "p1", 1, "ai_metadata.generated_by", Bson::Null)
        .await;
    assert_eq!(
        applied_version(&clear_absent),
        1,
        "nothing changed, no new version"
    );
}

#[tokio::test]
async fn odd_subjects_and_ownerless_events_are_handled() {
    let server = TestServer::start(&MONGO).await;
    let pull = json!({"collection": "teams", "checkpoint": 0});
    let (status, body) = server.post("/v1/pull", Some(&token("$where")), &pull).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = server.post("/v1/pull", Some(&token("a.b")), &pull).await;
    assert_eq!(status, 200, "a dotted id is in no team: {body}");
    assert_eq!(body["changes"], json!([]));

    let mut alice = Client::new(&server, "alice", "laptop");
    let event = doc! {
        "_id": "e1", "session_id": "s1", "event_type": "search", "event_category": "library",
        "event_name": "search_run", "timestamp": bson::DateTime::now(),
    };
    let outcome = alice.create("analytics_events", "e1", event).await;
    assert_eq!(applied_version(&outcome), 1, "{outcome:?}");
    assert_eq!(
        stored(&server, "analytics_events", "e1")
            .await
            .get_str("user_id"),
        Ok("alice")
    );
}

#[tokio::test]
async fn counts_before_a_pull_are_scoped_and_checked() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    for id in ["p1", "p2"] {
        alice
            .create("prompts", id, prompt_doc("alice", id, "Prompt"))
            .await;
    }
    let mut bob = Client::new(&server, "bob", "laptop");
    bob.create("prompts", "p3", prompt_doc("bob", "p3", "Bob's"))
        .await;
    let count = |user: &str, body: serde_json::Value| {
        let token = token(user);
        let server = &server;
        async move { server.post("/v1/pull/count", Some(&token), &body).await }
    };
    // Only what the user can read, and what a pull from there would return.
    let (status, body) = count("alice", json!({ "checkpoints": { "prompts": 0 } })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["remaining"]["prompts"], 2, "{body}");
    let (status, body) = count("alice", json!({ "checkpoints": { "prompt_versions": 0 } })).await;
    assert_eq!(status, 200, "{body}");
    // Each prompt sent without a version got one from the server.
    assert_eq!(body["remaining"]["prompt_versions"], 2, "{body}");
    // Refused by name: an unknown or upload-only collection, a negative
    // checkpoint, no token.
    let (status, body) = count("alice", json!({ "checkpoints": { "secrets": 0 } })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_collection")),
        "{body}"
    );
    let (status, body) = count("alice", json!({ "checkpoints": { "analytics_events": 0 } })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_collection")),
        "{body}"
    );
    let (status, body) = count("alice", json!({ "checkpoints": { "prompts": -1 } })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (status, _) = server
        .post("/v1/pull/count", None, &json!({ "checkpoints": {} }))
        .await;
    assert_eq!(status, 401);
}
