//! Every query a pull makes is served by an index, whoever asks: the owner,
//! a collaborator, a team member. Checked two ways. Always: every branch of
//! every scope filter starts with a field that leads one of the
//! collection's indexes (so a planner never has to scan). And where the
//! MongoDB planner follows indexes at all (MongoDB and the Rust SecantusDB
//! do), the plan it picks for every query a pull runs (one per alternative
//! of the scope, see `pull::branch_queries`, naming no index) reads no
//! whole collection: no collection scan, no index scan unbounded on its
//! first field, no walk of the cursor index for a scoped read.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use bson::{doc, Document};
use futures_util::TryStreamExt;
use promptforge_server::{pull, scope};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{doc_of, Client};
use promptforge_tests::server::TestServer;
use promptforge_wire::schema::{Collection, Project, Prompt};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// The alternatives of a filter: the branches of a top-level `$or`, or the
/// filter itself.
fn branches(filter: &Document) -> Vec<Document> {
    match filter.get_array("$or") {
        Ok(items) => items
            .iter()
            .filter_map(|b| b.as_document().cloned())
            .collect(),
        Err(_) => vec![filter.clone()],
    }
}

/// The first key of each index of `collection`.
async fn leading_fields(db: &mongodb::Database, collection: &str) -> BTreeSet<String> {
    db.collection::<Document>(collection)
        .list_indexes()
        .await
        .expect("list indexes")
        .try_collect::<Vec<_>>()
        .await
        .expect("indexes")
        .into_iter()
        .filter_map(|index| index.keys.keys().next().cloned())
        .collect()
}

/// Whether `stage` (a plan, or part of one) reads a whole collection: a
/// collection scan, an index scan unbounded on the index's first field, or,
/// for a scoped query, a walk of the cursor index (`_seq`), which reads
/// every user's documents to find this one's.
fn reads_everything(stage: &Document, scoped: bool) -> bool {
    match stage.get_str("stage") {
        Ok("COLLSCAN") => return true,
        Ok("IXSCAN") => {
            let unbounded = stage
                .get_document("indexBounds")
                .ok()
                .and_then(|bounds| bounds.iter().next().map(|(_, b)| b.clone()))
                .and_then(|b| b.as_array().cloned())
                .is_some_and(|b| b.iter().any(|r| r.as_str() == Some("[MinKey, MaxKey]")));
            let walks_cursor = stage
                .get_document("keyPattern")
                .ok()
                .and_then(|keys| keys.keys().next().cloned())
                .is_some_and(|first| first == "_seq");
            if unbounded || (scoped && walks_cursor) {
                return true;
            }
        }
        _ => {}
    }
    let child = stage.get_document("inputStage").ok().into_iter();
    let children = stage
        .get_array("inputStages")
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_document())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    child
        .chain(children)
        .any(|stage| reads_everything(stage, scoped))
}

/// Whether the planner's chosen plan reads the whole collection.
async fn scans(
    db: &mongodb::Database,
    collection: &str,
    filter: Document,
    hint: Option<Document>,
    scoped: bool,
) -> bool {
    let mut find =
        doc! { "find": collection, "filter": filter, "sort": { "_seq": 1 }, "limit": 500 };
    if let Some(hint) = hint {
        find.insert("hint", hint);
    }
    let explained = db
        .run_command(doc! { "explain": find, "verbosity": "queryPlanner" })
        .await
        .expect("explain");
    let plan = explained
        .get_document("queryPlanner")
        .and_then(|p| p.get_document("winningPlan"))
        .cloned()
        .unwrap_or(explained);
    reads_everything(&plan, scoped)
}

#[tokio::test]
async fn every_pull_query_is_served_by_an_index_for_owners_collaborators_and_team_members() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let joined = bson::DateTime::now();
    server
        .collection("teams")
        .await
        .insert_one(doc! {
            "_id": "t1", "name": "Writers", "created_by": "alice", "plan_type": "pro", "version": 1_i64,
            "members": {
                "alice": { "role": "owner", "joined_at": joined },
                "bob": { "role": "editor", "joined_at": joined },
            },
            "member_count": 2_i64,
        })
        .await
        .expect("team");
    server.sequenced("teams", "t1").await;
    let mut project = Project::new("alice", "Team project");
    project.id = "proj1".into();
    project.collaboration.team_id = Some("t1".into());
    alice.create("projects", "proj1", doc_of(&project)).await;
    let mut shared = Prompt::new("alice", "Shared", "Body");
    shared.id = "p1".into();
    shared.collaboration.allowed_users = vec!["carol".into()];
    alice.create("prompts", "p1", doc_of(&shared)).await;

    let db = promptforge_server::Db::connect(&server.mongodb_uri, &server.database)
        .await
        .expect("connect");
    let mongo = &db.db;
    // Does this planner follow an index it is given at all?
    let plans_or = !scans(
        mongo,
        "prompts",
        doc! { "user_id": "x", "_seq": { "$gt": 0_i64 } },
        Some(doc! { "user_id": 1, "_seq": 1 }),
        true,
    )
    .await;
    if !plans_or {
        println!("this MongoDB ignores index hints; only the filters' shape is checked");
    }
    // Does this planner choose an index for a query that names none? The
    // pinned Python SecantusDB scans whenever a query names no index;
    // MongoDB and the Rust build plan, and must find each scope's index.
    let plans_unaided = !scans(
        mongo,
        "prompts",
        pull::page_filter(doc! { "user_id": "x" }, 0, i64::MAX),
        None,
        true,
    )
    .await;
    let planner_known_to_plan = std::env::var_os("PROMPTFORGE_TEST_MONGODB_URI").is_some()
        || std::env::var("PROMPTFORGE_TEST_SECANTUS").as_deref() == Ok("rs");
    assert!(
        plans_unaided || !planner_known_to_plan,
        "the planner scans prompts for one user's pull although an index serves it"
    );
    if !plans_unaided {
        println!(
            "this MongoDB plans no query that names no index; the pull's plans are not checked"
        );
    }
    // The check sees a scan when there is one: the team lookup this
    // replaced, on a field named by the user, has no index of its own.
    assert!(
        scans(
            mongo,
            "teams",
            doc! { "members.bob": { "$exists": true }, "_seq": { "$gt": 0_i64 } },
            None,
            true
        )
        .await
            || !plans_or,
        "explain does not show collection scans, so it checks nothing"
    );
    let mut checked = 0;
    let mut scanned = Vec::new();
    for user in ["alice", "bob", "carol"] {
        for collection in scope::PULLED {
            let Some(filter) = scope::read_scope(&db, collection, user)
                .await
                .expect("scope")
            else {
                continue;
            };
            let name = collection.name();
            let indexed = leading_fields(mongo, name).await;
            for branch in branches(&filter) {
                let fields: Vec<&String> = branch.keys().filter(|k| !k.starts_with('$')).collect();
                let served = if fields.is_empty() {
                    // Everything in the collection, in cursor order.
                    indexed.contains("_seq")
                } else {
                    fields.iter().any(|f| indexed.contains(*f))
                };
                assert!(
                    served,
                    "{name} for {user}: no index leads with any of {fields:?} (indexes lead with {indexed:?})"
                );
            }
            if plans_or && plans_unaided {
                // Exactly the queries a pull runs: one per alternative,
                // naming an index only where it is not a plain equality;
                // for those the planner must find the scope's own.
                let scoped = !filter.is_empty();
                for (alternative, hint) in pull::branch_queries(collection, &filter) {
                    let query = pull::page_filter(alternative.clone(), 0, i64::MAX);
                    if scans(mongo, name, query, hint, scoped).await {
                        scanned.push(format!("{name} for {user}: {alternative}"));
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(
        scanned.is_empty(),
        "the planner reads the whole collection for: {scanned:#?}"
    );
    assert_eq!(checked, 3 * scope::PULLED.len(), "every pulled collection");

    // The lookup behind every team scope: a user's teams.
    let teams_of_bob = doc! {
        promptforge_server::db::SEQ_READERS: "bob",
        "members.bob": { "$exists": true },
        "deleted_at": { "$exists": false },
    };
    assert!(leading_fields(mongo, Collection::Teams.name())
        .await
        .contains(promptforge_server::db::SEQ_READERS));
    let found = mongo
        .collection::<Document>("teams")
        .count_documents(teams_of_bob.clone())
        .await
        .expect("count");
    assert_eq!(found, 1, "bob's team is found through the index");
    if plans_or {
        assert!(
            !scans(
                mongo,
                "teams",
                teams_of_bob,
                Some(doc! { promptforge_server::db::SEQ_READERS: 1, "_seq": 1 }),
                true
            )
            .await
        );
    }
    // What a team member reads through the team: the team's project.
    let bob_projects = scope::read_scope(&db, Collection::Projects, "bob")
        .await
        .expect("scope")
        .expect("projects are pulled");
    let reached = mongo
        .collection::<Document>("projects")
        .count_documents(bob_projects)
        .await
        .expect("count");
    assert_eq!(reached, 1, "bob reaches the team's project");
}
