//! What the server forgets: a mutation's answer only once it is old and its
//! client confirmed in a handshake that it will never resend it; a
//! marketplace answer once old; a tombstone once old, after which a desktop
//! whose checkpoint predates it is told `checkpoint_expired`, pulls the
//! collection again and ends with the server's documents plus its own
//! unsynced work.

use std::sync::LazyLock;
use std::time::Duration;

use bson::{doc, DateTime, Document};
use promptforge_server::retention::{self, Retention};
use promptforge_server::Db;
use promptforge_sync::schema::Prompt;
use promptforge_tests::desktop::Desktop;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{prompt_doc, Client};
use promptforge_tests::server::{config, TestServer};
use promptforge_wire::protocol::{
    HandshakeRequest, HandshakeResponse, PullRequest, PROTOCOL_VERSION, SCHEMA_VERSION,
};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

const NOW: Duration = Duration::ZERO;
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

async fn server_keeping_answers(secs: u64) -> TestServer {
    let mut config = config(&MONGO.uri, &MONGO.fresh_database());
    config.answer_retention_secs = secs;
    TestServer::start_configured(&MONGO, config).await
}

async fn db_of(server: &TestServer) -> Db {
    Db::connect(&server.mongodb_uri, &server.database)
        .await
        .expect("connect")
}

async fn handshake(client: &Client<'_>, confirmed: Option<u64>) -> HandshakeResponse {
    let request = HandshakeRequest {
        client_id: client.client_id.clone(),
        protocol_version: PROTOCOL_VERSION,
        schema_version: SCHEMA_VERSION,
        app_version: None,
        confirmed_mutation_id: confirmed,
    };
    client
        .server
        .call("/v1/handshake", &client.token, &request)
        .await
}

/// The mutation ids whose answers the server still holds for `client_id`.
async fn recorded(db: &Db, client_id: &str) -> Vec<i64> {
    use futures_util::TryStreamExt;
    let records: Vec<Document> = db
        .db
        .collection::<Document>("sync_mutations")
        .find(doc! { "client_id": client_id })
        .sort(doc! { "mutation_id": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("records");
    records
        .iter()
        .filter_map(|r| r.get_i64("mutation_id").ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_go_only_when_old_and_confirmed_by_their_client() {
    let server = server_keeping_answers(0).await;
    let db = db_of(&server).await;
    let mut laptop = Client::new(&server, "alice", "laptop");
    let mut desk = Client::new(&server, "alice", "desk");
    for i in 1..=3 {
        let id = format!("p{i}");
        laptop
            .create("prompts", &id, prompt_doc("alice", &id, &id))
            .await;
    }
    desk.create("prompts", "d1", prompt_doc("alice", "d1", "desk"))
        .await;
    let third = laptop.mutation(
        "prompts",
        "p3",
        0,
        promptforge_wire::protocol::MutationOp::Create {
            document: prompt_doc("alice", "p3", "p3"),
        },
    );
    let third = promptforge_wire::protocol::Mutation {
        mutation_id: 3,
        ..third
    };
    let answered = laptop.push(vec![third.clone()]).await;

    // No confirmation, nothing forgotten, however old.
    handshake(&laptop, None).await;
    assert_eq!(recorded(&db, "laptop").await, [1, 2, 3]);

    // Up to 2 confirmed: 1 and 2 go, 3 stays and still answers a resend.
    let hello = handshake(&laptop, Some(2)).await;
    assert_eq!(recorded(&db, "laptop").await, [3]);
    assert_eq!(hello.last_mutation_id, 3);
    assert_eq!(laptop.push(vec![third]).await, answered);

    // Everything confirmed: numbering still resumes after it.
    let hello = handshake(&laptop, Some(3)).await;
    assert!(recorded(&db, "laptop").await.is_empty());
    assert_eq!(hello.last_mutation_id, 3);
    // Another client's answers are its own business.
    assert_eq!(recorded(&db, "desk").await, [1]);

    // A confirmation never reaches answers younger than the retention time.
    let young = server_keeping_answers(WEEK.as_secs()).await;
    let young_db = db_of(&young).await;
    let mut laptop = Client::new(&young, "alice", "laptop");
    laptop
        .create("prompts", "p1", prompt_doc("alice", "p1", "p1"))
        .await;
    handshake(&laptop, Some(1)).await;
    assert_eq!(recorded(&young_db, "laptop").await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_answers_go_once_older_than_the_retention_time() {
    let server = TestServer::start(&MONGO).await;
    let db = db_of(&server).await;
    let requests = db.db.collection::<Document>("market_requests");
    let old = DateTime::from_millis(DateTime::now().timestamp_millis() - 8 * 24 * 3600 * 1000);
    requests
        .insert_many([
            doc! { "_id": "alice:purchase:old", "user_id": "alice", "at": old },
            doc! { "_id": "alice:purchase:new", "user_id": "alice", "at": DateTime::now() },
        ])
        .await
        .expect("insert");
    let retention = Retention {
        answers: WEEK,
        tombstones: WEEK * 13,
        every: WEEK,
    };
    retention::purge(&db, retention).await.expect("purge");
    let left: Vec<String> = requests
        .distinct("_id", doc! {})
        .await
        .expect("distinct")
        .into_iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    assert_eq!(left, ["alice:purchase:new"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_behind_purged_deletions_pulls_again_and_keeps_its_unsynced_work() {
    let server = TestServer::start(&MONGO).await;
    let db = db_of(&server).await;
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let behind = Desktop::open(dirs[0].path(), &server.base, "alice").await;
    let other = Desktop::open(dirs[1].path(), &server.base, "alice").await;
    behind.synced().await;
    let user = behind.store().user_id();
    let mut made = Vec::new();
    for title in ["Deleted elsewhere", "Edited here offline", "Untouched"] {
        let prompt = behind
            .store()
            .create(Prompt::new(&user, title, "text"))
            .await
            .expect("create");
        made.push(prompt.id);
    }
    behind.synced().await;
    other.synced().await;

    // While `behind` is away: the other desktop deletes one prompt and
    // makes a new one; `behind` edits another and makes one of its own.
    other
        .store()
        .delete::<Prompt>(&made[0])
        .await
        .expect("delete");
    let arrived = other
        .store()
        .create(Prompt::new(&user, "Made elsewhere", "text"))
        .await
        .expect("create");
    other.synced().await;
    behind
        .store()
        .patch::<Prompt>(&made[1], doc! { "title": "Edited offline" })
        .await
        .expect("patch");
    let offline = behind
        .store()
        .create(Prompt::new(&user, "Made offline", "text"))
        .await
        .expect("create");

    // The tombstone is forgotten.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let retention = Retention {
        answers: WEEK,
        tombstones: NOW,
        every: WEEK,
    };
    assert!(retention::purge(&db, retention).await.expect("purge") >= 1);
    let gone = db
        .collection(promptforge_wire::schema::Collection::Prompts)
        .count_documents(doc! { "_id": &made[0] })
        .await
        .expect("count");
    assert_eq!(gone, 0, "the tombstone was purged");
    let horizon = retention::horizon(&db, promptforge_wire::schema::Collection::Prompts)
        .await
        .expect("horizon");
    assert!(horizon > 0);

    // The protocol's answer to a checkpoint behind the horizon.
    let (status, body) = server
        .post(
            "/v1/pull",
            Some(&promptforge_tests::tokens::token("alice")),
            &PullRequest {
                collection: "prompts".into(),
                checkpoint: 1,
                max_bytes: None,
            },
        )
        .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["code"], "checkpoint_expired", "{body}");

    // The desktop that was away starts prompts over, and loses nothing.
    behind.synced().await;
    let titles = |store: &promptforge_sync::Store| {
        let store = store.clone();
        async move {
            let mut titles: Vec<String> = store
                .list::<Prompt>(Default::default())
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|p| p.title)
                .collect();
            titles.sort();
            titles
        }
    };
    let expected = [
        "Edited offline",
        "Made elsewhere",
        "Made offline",
        "Untouched",
    ];
    assert_eq!(titles(behind.store()).await, expected);
    assert!(behind
        .store()
        .get::<Prompt>(&made[0])
        .await
        .expect("get")
        .is_none());
    assert!(behind
        .store()
        .get::<Prompt>(&arrived.id)
        .await
        .expect("get")
        .is_some());
    let summary = behind.store().sync_summary().await.expect("summary");
    assert_eq!(summary.pending, 0, "the offline work was uploaded");
    other.synced().await;
    assert_eq!(titles(other.store()).await, expected);
    assert!(other
        .store()
        .get::<Prompt>(&offline.id)
        .await
        .expect("get")
        .is_some());
}
