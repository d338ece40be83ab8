//! A seeded property test of `/v1/push` and `/v1/market/*`: random requests,
//! most of them hostile (unknown and server-owned fields, `$` and dotted
//! keys, deep nesting, references to other users' documents, wrong types,
//! forged owners, money tampering), sent by four users of whom three share a
//! team and one (dave) shares nothing with anyone. After every request:
//! - no answer is a 5xx;
//! - dave's requests changed nothing of the others', and theirs nothing of
//!   his.
//!
//! Every few requests, and at the end:
//! - every stored document passes the server's own strict validator;
//! - every project's membership is exactly its live filed prompts and ideas;
//! - the ledger balances (balances + earnings + kept fees = what was given).
//!
//! At the end every stored document can still be patched by its owner.
//!
//! `SERVER_FUZZ_CASES` sets the requests per seed (default 200) and
//! `SERVER_FUZZ_SEEDS` the number of seeds (default 3; together about 20 s
//! on SecantusDB here); `SERVER_FUZZ_SEED` is the first seed, so a failure
//! replays exactly:
//! `SERVER_FUZZ_SEED=7 SERVER_FUZZ_CASES=2000 cargo test --workspace --test server_fuzz -- --nocapture`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
use promptforge_tests::accounts::put_user;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::doc_of;
use promptforge_tests::server::{TestServer, MODERATOR};
use promptforge_tests::tokens::token;
use promptforge_wire::access::owner_field;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{is_deleted, set_path};
use promptforge_wire::protocol::{Mutation, MutationOp, PushRequest, PushResponse};
use promptforge_wire::schema::{
    Collection, Idea, MarketplaceListing, Model, Project, Prompt, PromptVersion,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Shares nothing with anyone and is in no team.
const LONER: &str = "dave";
const CREDITS: i64 = 1_000;

/// Every collection the server stores and a client may pull (analytics
/// events are upload-only, and none are sent here).
fn stored_collections() -> impl Iterator<Item = Collection> {
    Collection::ALL
        .into_iter()
        .filter(|c| *c != Collection::AnalyticsEvents)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn with_id<T: Model>(mut model: T, id: &str) -> Document {
    model.set_id(id.to_owned());
    doc_of(&model)
}

/// Everything stored, by collection and id, without the sync bookkeeping
/// (the sequencer stamps it asynchronously).
async fn snapshot(db: &mongodb::Database) -> BTreeMap<(Collection, String), Document> {
    let mut all = BTreeMap::new();
    for collection in stored_collections() {
        let docs: Vec<Document> = db
            .collection::<Document>(collection.name())
            .find(doc! {})
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("read");
        for mut doc in docs {
            for field in ["_seq", "_seq_version", "_seq_readers"] {
                doc.remove(field);
            }
            let id = doc.get_str("_id").unwrap_or_default().to_owned();
            all.insert((collection, id), doc);
        }
    }
    all
}

fn owner(collection: Collection, doc: &Document) -> &str {
    doc.get_str(owner_field(collection)).unwrap_or_default()
}

struct World<'a> {
    server: &'a TestServer,
    db: mongodb::Database,
    rng: StdRng,
    ids: Vec<String>,
    next_mutation: BTreeMap<&'static str, u64>,
    keys: Vec<String>,
    /// Who made which document, for edits that can get past ownership.
    owned: Vec<(&'static str, Collection, String)>,
}

impl World<'_> {
    fn id(&mut self) -> String {
        match self.rng.gen_range(0..10) {
            0 => format!("fresh-{}", self.rng.gen::<u32>()),
            1 => ["", "UPPER_id", "$bad", "a.b", &"x".repeat(200)]
                .choose(&mut self.rng)
                .map(|s| (*s).to_owned())
                .unwrap_or_default(),
            _ => self.ids.choose(&mut self.rng).cloned().unwrap_or_default(),
        }
    }

    fn user(&mut self) -> &'static str {
        // The loner is never named as a reader: sharing with him would be a
        // legitimate way to change what he sees.
        ["alice", "bob", "carol", "mallory", MODERATOR]
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("alice")
    }

    fn deep(&mut self, levels: usize) -> Bson {
        let mut value = Bson::Int32(1);
        for _ in 0..levels {
            value = Bson::Document(doc! { "n": value });
        }
        value
    }

    fn value(&mut self) -> Bson {
        match self.rng.gen_range(0..16) {
            0 => Bson::String(self.id()),
            1 => Bson::String("y".repeat(self.rng.gen_range(0..3) * 50_000)),
            2 => Bson::Int64(self.rng.gen_range(-5..200)),
            3 => Bson::Int64(i64::MAX),
            4 => Bson::Double(f64::NAN),
            5 => Bson::Boolean(self.rng.gen()),
            6 => Bson::Null,
            7 => Bson::Array((0..3).map(|_| Bson::String(self.id())).collect()),
            8 => Bson::Document(doc! { "$where": "1" }),
            9 => Bson::Document(doc! { "a.b": 1 }),
            10 => {
                let levels = self.rng.gen_range(20..110);
                self.deep(levels)
            }
            11 => Bson::DateTime(bson::DateTime::now()),
            12 => Bson::String(self.user().to_owned()),
            13 => Bson::Array(vec![Bson::String(self.user().to_owned())]),
            14 => Bson::Document(doc! { "rating": 2.0, "secret": 1 }),
            _ => Bson::String("text".into()),
        }
    }

    fn path(&mut self) -> String {
        const PATHS: &[&str] = &[
            "title",
            "content",
            "tags",
            "project_id",
            "parent_prompt_id",
            "template_id",
            "latest_version_id",
            "folder_id",
            "related_prompt_ids",
            "derived_idea_ids",
            "inspiration_source_ids",
            "parent_project_id",
            "collaboration.team_id",
            "collaboration.allowed_users",
            "shared_with",
            "prompt_id",
            "price",
            "currency",
            "licensing.license_type",
            "status",
            "performance",
            "performance.rating",
            "performance.secret",
            "ai_metadata.parameters",
            "ai_metadata.parameters.x",
            "credits.balance",
            "stats.total_earnings",
            "prompt_ids",
            "stats.prompt_count",
            "user_id",
            "seller_id",
            "created_by",
            "version",
            "deleted_at",
            "read",
            "display_name",
            "unknown_field",
            "_seq",
            "$set",
            "a..b",
            "",
        ];
        PATHS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("title")
            .to_owned()
    }

    /// A reference field of `collection` set to documents that exist,
    /// mostly other users': what only the reference rules stand against.
    fn reference(&mut self, collection: Collection) -> Option<(String, Bson)> {
        let fields: &[&str] = match collection {
            Collection::Prompts => &[
                "project_id",
                "parent_prompt_id",
                "template_id",
                "latest_version_id",
            ],
            Collection::Ideas => &[
                "project_id",
                "related_prompt_ids",
                "derived_idea_ids",
                "inspiration_source_ids",
            ],
            Collection::Projects => &["parent_project_id", "template_id", "collaboration.team_id"],
            Collection::MarketplaceListings | Collection::PromptVersions => &["prompt_id"],
            _ => return None,
        };
        let field = fields.choose(&mut self.rng)?.to_string();
        let target = self.ids.choose(&mut self.rng).cloned().unwrap_or_default();
        let value = if field.ends_with("_ids") {
            Bson::Array(vec![Bson::String(target)])
        } else {
            Bson::String(target)
        };
        Some((field, value))
    }

    fn document(&mut self, collection: Collection, user: &str, id: &str) -> Document {
        let owner = if self.rng.gen_bool(0.8) {
            user.to_owned()
        } else {
            self.user().to_owned()
        };
        let mut doc = match collection {
            Collection::Prompts => with_id(Prompt::new(&owner, "Fuzzed", "Body"), id),
            Collection::Ideas => with_id(Idea::new(&owner, "Fuzzed", ""), id),
            Collection::Projects => with_id(Project::new(&owner, "Fuzzed"), id),
            Collection::MarketplaceListings => {
                let prompt = self.id();
                with_id(MarketplaceListing::draft(&owner, &prompt, "Fuzzed", 30), id)
            }
            Collection::PromptVersions => {
                let prompt_id = self.id();
                doc_of(&PromptVersion {
                    id: id.to_owned(),
                    prompt_id,
                    user_id: owner,
                    version_number: 1,
                    content: "v".into(),
                    role: None,
                    prompt_type: "text".into(),
                    changes: String::new(),
                    created_at: bson::DateTime::now(),
                    created_by: user.to_owned(),
                    version: 0,
                })
            }
            _ => doc! { "_id": id, "user_id": owner, "title": "x" },
        };
        if self.rng.gen_bool(0.5) {
            if let Some((path, value)) = self.reference(collection) {
                let _ = set_path(&mut doc, &path, value);
            }
        } else {
            for _ in 0..self.rng.gen_range(0..4) {
                let (path, value) = (self.path(), self.value());
                let _ = set_path(&mut doc, &path, value);
            }
        }
        doc
    }

    fn mutation(&mut self, user: &'static str) -> Mutation {
        let collection = *[
            "prompts",
            "prompts",
            "prompts",
            "ideas",
            "ideas",
            "projects",
            "projects",
            "projects",
            "marketplace_listings",
            "marketplace_listings",
            "prompt_versions",
            "prompt_versions",
            "users",
            "notifications",
            "teams",
            "reviews",
            "marketplace_purchases",
            "bogus",
        ]
        .choose(&mut self.rng)
        .unwrap_or(&"prompts");
        let creating = self.rng.gen_range(0..10) < 4;
        let own: Vec<String> = self
            .owned
            .iter()
            .filter(|(owner, c, _)| *owner == user && c.name() == collection)
            .map(|(_, _, id)| id.clone())
            .collect();
        let id = if collection == "users" && self.rng.gen_bool(0.5) {
            user.to_owned()
        } else if creating && self.rng.gen_bool(0.8) {
            format!("new-{}", self.rng.gen::<u32>())
        } else if !creating && !own.is_empty() && self.rng.gen_bool(0.6) {
            own.choose(&mut self.rng).cloned().unwrap_or_default()
        } else {
            self.id()
        };
        let counter = self.next_mutation.entry(user).or_insert(1);
        let mutation_id = if counter.is_multiple_of(17) {
            0
        } else {
            *counter
        };
        *counter += 1;
        let base_version = self.rng.gen_range(0..4);
        let op = match if creating {
            0
        } else {
            self.rng.gen_range(4..10)
        } {
            0..=3 => {
                let parsed = Collection::from_name(collection).unwrap_or(Collection::Prompts);
                let document = self.document(parsed, user, &id);
                return Mutation {
                    mutation_id,
                    collection: collection.to_owned(),
                    id,
                    base_version: if self.rng.gen_bool(0.9) { 0 } else { 3 },
                    op: MutationOp::Create { document },
                };
            }
            4..=7 => {
                let mut changes = Document::new();
                let mut base = Document::new();
                let parsed = Collection::from_name(collection).unwrap_or(Collection::Prompts);
                if let Some((path, value)) =
                    self.reference(parsed).filter(|_| self.rng.gen_bool(0.5))
                {
                    changes.insert(path.clone(), value);
                    base.insert(path, Bson::Null);
                }
                for _ in 0..self.rng.gen_range(0..3) {
                    let path = self.path();
                    changes.insert(path.clone(), self.value());
                    base.insert(path, Bson::Null);
                }
                if changes.is_empty() {
                    changes.insert("title", "Edited");
                    base.insert("title", Bson::Null);
                }
                MutationOp::Patch { changes, base }
            }
            8 => MutationOp::Delete,
            _ => MutationOp::Restore {
                changes: doc! {},
                base: doc! {},
            },
        };
        Mutation {
            mutation_id,
            collection: collection.to_owned(),
            id,
            base_version,
            op,
        }
    }

    async fn market(&mut self, user: &str) -> (String, u16, Value) {
        let purchases: Vec<String> = self
            .db
            .collection::<Document>("marketplace_purchases")
            .find(doc! {})
            .await
            .expect("find")
            .try_collect::<Vec<_>>()
            .await
            .expect("read")
            .iter()
            .filter_map(|p| p.get_str("_id").ok().map(str::to_owned))
            .collect();
        let purchase = purchases
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_else(|| self.id());
        let key = if self.rng.gen_bool(0.3) && !self.keys.is_empty() {
            self.keys.choose(&mut self.rng).cloned().unwrap_or_default()
        } else {
            let key = format!("key-{}", self.rng.gen::<u32>());
            self.keys.push(key.clone());
            key
        };
        // The one listing on sale, half the time, so money really moves.
        let listing = if self.rng.gen_bool(0.5) {
            "alice-listing".to_owned()
        } else {
            self.id()
        };
        let price: Value = match self.rng.gen_range(0..5) {
            0 => json!(-1),
            1 => json!("30"),
            2 => json!(i64::MAX),
            _ => json!(30),
        };
        let (path, body) = match self.rng.gen_range(0..6) {
            0 => ("publish", json!({ "listing_id": listing })),
            1 => (
                "moderate",
                json!({ "listing_id": listing, "action": "approve", "notes": "ok" }),
            ),
            2 | 3 => (
                "purchase",
                json!({ "listing_id": listing, "expected_price": price, "idempotency_key": key }),
            ),
            4 => (
                "refund",
                json!({ "purchase_id": purchase, "reason": "no", "idempotency_key": key }),
            ),
            _ => (
                "review",
                json!({ "purchase_id": purchase, "rating": self.rng.gen_range(-1..7), "review": "r" }),
            ),
        };
        let (status, answer) = self
            .server
            .post(&format!("/v1/market/{path}"), Some(&token(user)), &body)
            .await;
        (format!("market/{path} {body}"), status, answer)
    }

    async fn push(&mut self, user: &'static str) -> (String, u16, Value) {
        let mutations: Vec<Mutation> = (0..self.rng.gen_range(1..4))
            .map(|_| self.mutation(user))
            .collect();
        let request = PushRequest {
            client_id: format!("{user}-laptop"),
            mutations,
        };
        let (status, answer) = self
            .server
            .post("/v1/push", Some(&token(user)), &request)
            .await;
        if status == 200 {
            let results: PushResponse =
                serde_json::from_value(answer.clone()).expect("a push response");
            assert_eq!(results.results.len(), request.mutations.len());
            for (mutation, result) in request.mutations.iter().zip(&results.results) {
                let created = matches!(mutation.op, MutationOp::Create { .. })
                    && matches!(
                        result.outcome,
                        promptforge_wire::protocol::MutationOutcome::Applied { .. }
                    );
                if let (true, Some(collection)) =
                    (created, Collection::from_name(&mutation.collection))
                {
                    self.ids.push(mutation.id.clone());
                    self.owned.push((user, collection, mutation.id.clone()));
                }
            }
        }
        let shown = serde_json::to_string(&request).unwrap_or_default();
        let shown: String = shown.chars().take(2_000).collect();
        (format!("push {shown}"), status, answer)
    }
}

/// Whether `after` is `before` taken out of its project by the server: a
/// filing made ahead of a project that turned out to be someone else's.
fn unfiled(before: Option<&Document>, after: &Document) -> bool {
    let Some(before) = before else {
        return false;
    };
    let strip = |d: &Document| {
        let mut d = d.clone();
        for field in ["project_id", "version", "updated_at"] {
            d.remove(field);
        }
        d
    };
    before.contains_key("project_id")
        && !after.contains_key("project_id")
        && strip(before) == strip(after)
}

/// The invariants that hold between requests.
async fn check_store(db: &mongodb::Database, context: &str) {
    let all = snapshot(db).await;
    for ((collection, id), doc) in &all {
        if let Err(err) = admit(*collection, doc.clone(), None) {
            panic!("{collection} `{id}` no longer validates after {context}: {err}");
        }
    }
    // Membership: exactly the live prompts and ideas filed in each project.
    for ((collection, id), project) in &all {
        if *collection != Collection::Projects {
            continue;
        }
        for (filed, field) in [
            (Collection::Prompts, "prompt_ids"),
            (Collection::Ideas, "idea_ids"),
        ] {
            let mut expected: Vec<&str> = all
                .iter()
                .filter(|((c, _), d)| {
                    *c == filed && !is_deleted(d) && d.get_str("project_id") == Ok(id)
                })
                .map(|((_, i), _)| i.as_str())
                .collect();
            let mut actual: Vec<&str> = project
                .get_array(field)
                .map(|a| a.iter().filter_map(Bson::as_str).collect())
                .unwrap_or_default();
            expected.sort_unstable();
            actual.sort_unstable();
            assert_eq!(
                actual, expected,
                "{field} of project `{id}` after {context}"
            );
        }
    }
    // The ledger: credits only move between users and the platform.
    let mut total = 0_i64;
    for ((collection, _), doc) in &all {
        let int = |d: &Document, outer: &str, inner: &str| {
            d.get_document(outer)
                .ok()
                .and_then(|o| o.get(inner))
                .and_then(Bson::as_i64)
                .unwrap_or(0)
        };
        match collection {
            Collection::Users => {
                total += int(doc, "credits", "balance") + int(doc, "stats", "total_earnings")
            }
            Collection::MarketplacePurchases
                if doc.get_str("payment_status") == Ok("completed") =>
            {
                total += doc.get_i64("platform_fee").unwrap_or(0)
            }
            _ => {}
        }
    }
    assert_eq!(total, CREDITS * 3, "the ledger after {context}");
}

async fn setup(server: &TestServer) -> Vec<(&'static str, Collection, String)> {
    for user in USERS {
        // The loner cannot buy: a sale would rightly change a seller's stats.
        let credits = if user == LONER { 0 } else { CREDITS };
        put_user(&MONGO.uri, &server.database, user, credits).await;
    }
    let db = mongodb::Client::with_uri_str(&MONGO.uri)
        .await
        .expect("connect")
        .database(&server.database);
    let joined = bson::DateTime::now();
    db.collection::<Document>("teams")
        .insert_one(doc! {
            "_id": "t1", "name": "Writers", "created_by": "alice", "plan_type": "pro",
            "version": 1_i64, "member_count": 3_i64,
            "members": {
                "alice": { "role": "owner", "joined_at": joined },
                "bob": { "role": "editor", "joined_at": joined },
                "carol": { "role": "viewer", "joined_at": joined },
            },
        })
        .await
        .expect("team");
    server.sequenced("teams", "t1").await;
    let mut owned = vec![("alice", Collection::Teams, "t1".to_owned())];
    let mut creates: Vec<(&'static str, Collection, Document)> = Vec::new();
    for user in USERS {
        let prompt = format!("{user}-prompt");
        let mut shared = Prompt::new(user, "Shared", "Body");
        if user == "alice" {
            shared.collaboration.allowed_users = vec!["bob".into()];
        }
        let mut listing = MarketplaceListing::draft(user, &prompt, "For sale", 30);
        listing.preview_content = "Preview".into();
        listing.licensing.license_type = Some("personal".into());
        let mut team_project = Project::new(user, "Team project");
        if user == "alice" {
            team_project.collaboration.team_id = Some("t1".into());
        }
        creates.extend([
            (
                user,
                Collection::Projects,
                with_id(Project::new(user, "Private"), &format!("{user}-project")),
            ),
            (
                user,
                Collection::Projects,
                with_id(team_project, &format!("{user}-team-project")),
            ),
            (
                user,
                Collection::Prompts,
                with_id(Prompt::new(user, "Private", "Body"), &prompt),
            ),
            (
                user,
                Collection::Prompts,
                with_id(shared, &format!("{user}-shared")),
            ),
            (
                user,
                Collection::Ideas,
                with_id(Idea::new(user, "Idea", ""), &format!("{user}-idea")),
            ),
            (
                user,
                Collection::MarketplaceListings,
                with_id(listing, &format!("{user}-listing")),
            ),
        ]);
    }
    for (i, (user, collection, document)) in creates.into_iter().enumerate() {
        let id = document.get_str("_id").expect("id").to_owned();
        let request = PushRequest {
            client_id: "setup".into(),
            mutations: vec![Mutation {
                mutation_id: i as u64 + 1,
                collection: collection.name().into(),
                id: id.clone(),
                base_version: 0,
                op: MutationOp::Create { document },
            }],
        };
        let answer: PushResponse = server.call("/v1/push", &token(user), &request).await;
        assert!(
            answer.results.iter().all(|r| matches!(
                r.outcome,
                promptforge_wire::protocol::MutationOutcome::Applied { .. }
            )),
            "{answer:?}"
        );
        owned.push((user, collection, id));
    }
    // Alice's listing is on sale, so money moves during the run.
    for (path, user, body) in [
        ("publish", "alice", json!({ "listing_id": "alice-listing" })),
        (
            "moderate",
            MODERATOR,
            json!({ "listing_id": "alice-listing", "action": "approve" }),
        ),
    ] {
        let (status, answer) = server
            .post(&format!("/v1/market/{path}"), Some(&token(user)), &body)
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "done", "{answer}");
    }
    owned
}

/// Every live document's owner can still edit it; a tombstone answers a
/// conflict, never a refusal or a failure.
async fn every_document_can_still_be_patched(server: &TestServer, db: &mongodb::Database) {
    let all = snapshot(db).await;
    let mut next = 1_000_000_u64;
    for (collection, id) in all.keys() {
        // Read again: an earlier edit may have moved this one on (a profile
        // change updates the seller's listings).
        let Some(doc) = db
            .collection::<Document>(collection.name())
            .find_one(doc! { "_id": id })
            .await
            .expect("read")
        else {
            continue;
        };
        let doc = &doc;
        let (field, value) = match collection {
            Collection::Prompts
            | Collection::Ideas
            | Collection::Projects
            | Collection::MarketplaceListings => ("title", "Still editable"),
            Collection::Users => ("display_name", "Still editable"),
            _ => continue,
        };
        let user = owner(*collection, doc);
        if user.is_empty() {
            continue;
        }
        next += 1;
        let request = PushRequest {
            client_id: "final-check".into(),
            mutations: vec![Mutation {
                mutation_id: next,
                collection: collection.name().into(),
                id: id.clone(),
                base_version: doc.get_i64("version").unwrap_or(0),
                op: MutationOp::Patch {
                    changes: doc! { field: value },
                    base: doc! { field: doc.get(field).cloned().unwrap_or(Bson::Null) },
                },
            }],
        };
        let (status, answer) = server.post("/v1/push", Some(&token(user)), &request).await;
        assert_eq!(status, 200, "{collection} `{id}`: {answer}");
        let outcome = &answer["results"][0]["status"];
        let expected = if is_deleted(doc) {
            "conflict"
        } else {
            "applied"
        };
        assert_eq!(
            outcome, expected,
            "{collection} `{id}` by its owner: {answer}"
        );
    }
}

async fn run_seed(seed: u64, cases: u64) {
    let server = TestServer::start(&MONGO).await;
    let owned = setup(&server).await;
    let ids = owned.iter().map(|(_, _, id)| id.clone()).collect();
    let db = mongodb::Client::with_uri_str(&MONGO.uri)
        .await
        .expect("connect")
        .database(&server.database);
    let mut world = World {
        server: &server,
        db: db.clone(),
        rng: StdRng::seed_from_u64(seed),
        ids,
        next_mutation: BTreeMap::new(),
        keys: Vec::new(),
        owned,
    };
    check_store(&db, "setup").await;
    let mut refused = 0;
    let mut tally = BTreeMap::new();
    for case in 0..cases {
        let user = *USERS.choose(&mut world.rng).unwrap_or(&"alice");
        let before = snapshot(&db).await;
        let (request, status, answer) = if world.rng.gen_bool(0.25) {
            world.market(user).await
        } else {
            world.push(user).await
        };
        let context = format!("seed {seed} case {case}: {user} sent {request}");
        assert!(status < 500, "{context}\nanswered {status}: {answer}");
        let outcomes: Vec<String> = match answer["results"].as_array() {
            Some(results) => results
                .iter()
                .map(|r| match r["status"].as_str() {
                    Some("rejected") => format!("push rejected {}", r["reason"]),
                    other => format!("push {}", other.unwrap_or("?")),
                })
                .collect(),
            None => vec![format!(
                "market {status} {} {}",
                answer["status"], answer["reason"]
            )],
        };
        for outcome in outcomes {
            if outcome.contains("rejected") || outcome.contains("refused") {
                refused += 1;
            }
            *tally.entry(outcome.replace('"', "")).or_insert(0_u32) += 1;
        }
        let after = snapshot(&db).await;
        for (key, doc) in &after {
            let (collection, id) = key;
            let theirs = owner(*collection, doc);
            let crosses = (user == LONER) != (theirs == LONER);
            if crosses
                && !theirs.is_empty()
                && before.get(key) != Some(doc)
                && !unfiled(before.get(key), doc)
            {
                panic!(
                    "{context}\nchanged {collection} `{id}` of {theirs}:\nbefore {:?}\nafter {doc:?}",
                    before.get(key)
                );
            }
        }
        if case % 40 == 39 {
            check_store(&db, &context).await;
        }
    }
    check_store(&db, &format!("seed {seed}, the end")).await;
    every_document_can_still_be_patched(&server, &db).await;
    assert!(refused > 0, "seed {seed}: the run sent nothing hostile");
    let applied = tally
        .iter()
        .filter(|(k, _)| k.contains("applied") || k.contains("merged"))
        .map(|(_, n)| n)
        .sum::<u32>();
    assert!(
        applied > 0,
        "seed {seed}: nothing was ever applied: {tally:?}"
    );
    eprintln!("seed {seed}: {tally:#?}");
}

#[tokio::test]
async fn random_hostile_requests_never_fail_leak_or_poison() {
    let cases = env("SERVER_FUZZ_CASES", 200);
    let seeds = env("SERVER_FUZZ_SEEDS", 3);
    let first = env("SERVER_FUZZ_SEED", 1);
    for seed in first..first + seeds {
        run_seed(seed, cases).await;
    }
}
