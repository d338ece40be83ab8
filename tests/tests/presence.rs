//! Presence and soft locks end to end (real server on SecantusDB, real
//! stores, desktops running their background loops): who has a shared
//! prompt open reaches the other desktop live, a lock shows and never
//! blocks an edit, entries and locks lapse by themselves, and none of it
//! touches the prompt, its history or the pull cursor. Then the route's
//! checks, as a third-party client meets them.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bson::{doc, Document};
use promptforge_sync::schema::Prompt;
use promptforge_sync::{PresenceIntent, PresenceView, SyncConfig};
use promptforge_tests::desktop::{Desktop, Running};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{doc_of, prompt_doc, Client};
use promptforge_tests::server::{config, TestServer};
use promptforge_tests::tokens::token;
use promptforge_wire::presence::{PresenceState, PRESENCE_PATH};
use promptforge_wire::protocol::PROTOCOL_HEADER;
use promptforge_wire::schema::Project;
use serde_json::{json, Value};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// How long a live change may take on the slow stand-in.
const ARRIVAL: Duration = Duration::from_secs(20);
/// The server's presence time-to-live in these tests.
const TTL_SECS: u64 = 3;

fn live_only() -> SyncConfig {
    SyncConfig {
        poll_interval: Duration::from_secs(3600),
        live_poll_interval: Duration::from_secs(3600),
        ..SyncConfig::default()
    }
}

async fn start(dir: &std::path::Path, base: &str, user: &str) -> Running {
    let desktop = Arc::new(Desktop::open_with(dir, base, user, live_only()).await);
    desktop.synced().await;
    let running = Running::start(desktop);
    let deadline = Instant::now() + ARRIVAL;
    while !running.desktop.engine.is_live() {
        assert!(Instant::now() < deadline, "{user}'s channel never opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running
}

/// Waits until `running`'s presence view satisfies `test`; returns it.
async fn wait_view(
    running: &Running,
    what: &str,
    test: impl Fn(&PresenceView) -> bool,
) -> PresenceView {
    let mut views = running.desktop.engine.presence();
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let view = views.borrow_and_update().clone();
        if let Some(view) = view.filter(|v| test(v)) {
            return view;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{}: never saw {what}; last view {:?}",
            running.desktop.dir.display(),
            views.borrow()
        );
        // Lapses change the view without an event: look again now and then.
        let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), views.changed()).await;
    }
}

fn open(prompt: &str, editing: bool) -> Option<PresenceIntent> {
    Some(PresenceIntent {
        prompt_id: prompt.to_owned(),
        editing,
    })
}

async fn stored(server: &TestServer, collection: &str, id: &str) -> Option<Document> {
    server
        .collection(collection)
        .await
        .find_one(doc! { "_id": id })
        .await
        .expect("read")
}

async fn wait_title(running: &Running, id: &str, title: &str) {
    running.wait_title(id, title, ARRIVAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_has_a_prompt_open_and_its_lock_reach_collaborators_live_and_lapse_by_themselves() {
    let mongo = &*MONGO;
    let mut settings = config(&mongo.uri, &mongo.fresh_database());
    settings.presence_ttl_secs = TTL_SECS;
    let database = settings.database.clone();
    let first = TestServer::start_configured(mongo, settings.clone()).await;
    // Grace is attached to another instance: presence crosses instances.
    let second = TestServer::start_on(mongo, &database).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let ada = start(dirs[0].path(), &first.base, "ada").await;
    let grace = start(dirs[1].path(), &second.base, "grace").await;

    let mut shared = Prompt::new("ada", "Shared", "Body");
    shared.collaboration.allowed_users = vec!["grace".into()];
    let shared = ada.desktop.store().create(shared).await.expect("create");
    wait_title(&grace, &shared.id, "Shared").await;
    let id = shared.id.clone();

    // Both open it; Grace types. Each sees the other, never itself.
    ada.desktop.engine.set_presence(open(&id, false));
    grace.desktop.engine.set_presence(open(&id, true));
    let seen_by_ada = wait_view(&ada, "Grace typing", |v| {
        v.others.iter().any(|o| o.user_id == "grace" && o.editing)
    })
    .await;
    assert!(seen_by_ada.others.iter().all(|o| o.user_id != "ada"));
    wait_view(&grace, "Ada, not typing", |v| {
        v.others.iter().any(|o| o.user_id == "ada" && !o.editing)
    })
    .await;

    // Ada locks it. Grace sees the lock and cannot take it over.
    let view = ada
        .desktop
        .engine
        .lock_open_prompt(Some(60))
        .await
        .expect("lock");
    assert!(view.lock.as_ref().is_some_and(|l| l.mine), "{view:?}");
    wait_view(&grace, "Ada's lock", |v| {
        v.lock
            .as_ref()
            .is_some_and(|l| l.user_id == "ada" && !l.mine)
    })
    .await;
    let view = grace
        .desktop
        .engine
        .lock_open_prompt(Some(60))
        .await
        .expect("ask for the lock");
    assert!(
        view.lock.as_ref().is_some_and(|l| l.user_id == "ada"),
        "a held lock is not taken over: {view:?}"
    );

    // A lock is advice: Grace's edit under it syncs and reaches Ada.
    grace
        .desktop
        .store()
        .patch::<Prompt>(&id, doc! { "title": "Edited under a lock" })
        .await
        .expect("edit");
    wait_title(&ada, &id, "Edited under a lock").await;

    // From here on, presence only: the prompt, its history and the cursor
    // must not move.
    let prompt_before = stored(&first, "prompts", &id).await;
    let versions = first.collection("prompt_versions").await;
    let history_before = versions
        .count_documents(doc! { "prompt_id": &id })
        .await
        .expect("count");
    let watermark_before = promptforge_server::sequencer::watermark(
        &promptforge_server::Db::connect(&mongo.uri, &database)
            .await
            .expect("connect"),
    )
    .await
    .expect("watermark");

    // Ada closes the editor: she and her lock leave Grace's view at once.
    ada.desktop.engine.set_presence(None);
    wait_view(&grace, "nobody else, no lock", |v| {
        v.others.is_empty() && v.lock.is_none()
    })
    .await;

    // A short lock lapses by itself on Grace's screen, with no event.
    ada.desktop.engine.set_presence(open(&id, false));
    wait_view(&grace, "Ada back", |v| !v.others.is_empty()).await;
    ada.desktop
        .engine
        .lock_open_prompt(Some(2))
        .await
        .expect("short lock");
    wait_view(&grace, "the short lock", |v| v.lock.is_some()).await;
    let lapsed = Instant::now();
    wait_view(&grace, "the short lock lapsed", |v| {
        v.lock.is_none() && !v.others.is_empty()
    })
    .await;
    assert!(lapsed.elapsed() < Duration::from_secs(5));

    // Ada's desktop vanishes without closing (a crash, a lost network):
    // her entry lapses after the time-to-live.
    ada.stop().await;
    let vanished = Instant::now();
    wait_view(&grace, "Ada's entry lapsed", |v| v.others.is_empty()).await;
    assert!(
        vanished.elapsed() >= Duration::from_millis(500),
        "the entry lapsed by time, not by a close"
    );

    assert_eq!(stored(&first, "prompts", &id).await, prompt_before);
    let history_after = versions
        .count_documents(doc! { "prompt_id": &id })
        .await
        .expect("count");
    assert_eq!(history_after, history_before);
    let watermark_after = promptforge_server::sequencer::watermark(
        &promptforge_server::Db::connect(&mongo.uri, &database)
            .await
            .expect("connect"),
    )
    .await
    .expect("watermark");
    assert_eq!(
        watermark_after, watermark_before,
        "presence moved the pull cursor"
    );
    grace.desktop.engine.set_presence(None);
    grace.stop().await;
}

/// `PUT /v1/presence` with `body` as `user` (no token for `None`).
async fn put(server: &TestServer, user: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .put(format!("{}{PRESENCE_PATH}", server.base))
        .header(PROTOCOL_HEADER, "1")
        .json(body);
    if let Some(user) = user {
        request = request.bearer_auth(token(user));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn report(prompt: &str, client: &str) -> Value {
    json!({ "prompt_id": prompt, "client_id": client, "open": true })
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base[field] = value;
    base
}

fn lock_holder(answer: &Value) -> Option<String> {
    let state: PresenceState = serde_json::from_value(answer.clone()).expect("state shape");
    state.lock.map(|l| l.user_id)
}

#[tokio::test]
async fn presence_is_scoped_to_readers_and_locks_to_writers_and_bad_reports_are_named() {
    let server = TestServer::start(&MONGO).await;
    let mut alice = Client::new(&server, "alice", "laptop");
    let joined = bson::DateTime::now();
    server
        .collection("teams")
        .await
        .insert_one(doc! {
            "_id": "t1", "name": "Writers", "created_by": "alice", "plan_type": "pro",
            "version": 1_i64, "member_count": 3_i64, "members": {
                "alice": { "role": "owner", "joined_at": joined },
                "edith": { "role": "editor", "joined_at": joined },
                "victor": { "role": "viewer", "joined_at": joined },
            },
        })
        .await
        .expect("team");
    server.sequenced("teams", "t1").await;
    let mut project = Project::new("alice", "Team work");
    project.id = "proj".into();
    project.collaboration.team_id = Some("t1".into());
    alice.create("projects", "proj", doc_of(&project)).await;
    let mut filed = prompt_doc("alice", "filed", "Filed");
    filed.insert("project_id", "proj");
    alice.create("prompts", "filed", filed).await;
    alice
        .create(
            "prompts",
            "private",
            prompt_doc("alice", "private", "Private"),
        )
        .await;

    // Unreadable and missing prompts answer alike: nothing leaks.
    for prompt in ["private", "no-such-prompt"] {
        let (status, body) = put(&server, Some("bob"), &report(prompt, "b1")).await;
        assert_eq!(status, 404, "{prompt}: {body}");
        assert_eq!(body["code"], "not_found");
        assert!(body["message"].as_str().is_some_and(|m| m.contains(prompt)));
    }
    // A viewer is present but may not lock.
    let (status, body) = put(&server, Some("victor"), &report("filed", "v1")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(
        &server,
        Some("victor"),
        &with(report("filed", "v1"), "lock_secs", json!(60)),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    // The owner locks; an editor asking too gets the owner's lock shown.
    let (status, body) = put(
        &server,
        Some("alice"),
        &with(report("filed", "a1"), "lock_secs", json!(60)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(lock_holder(&body).as_deref(), Some("alice"));
    let (status, body) = put(
        &server,
        Some("edith"),
        &with(report("filed", "e1"), "lock_secs", json!(60)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(lock_holder(&body).as_deref(), Some("alice"));
    let present: Vec<&str> = body["present"]
        .as_array()
        .map(|p| p.iter().filter_map(|e| e["user_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(present, ["alice", "edith", "victor"], "{body}");
    // Edith's release is no release of Alice's lock; Alice's is.
    let (_, body) = put(
        &server,
        Some("edith"),
        &with(report("filed", "e1"), "release_lock", json!(true)),
    )
    .await;
    assert_eq!(lock_holder(&body).as_deref(), Some("alice"));
    let (_, body) = put(
        &server,
        Some("alice"),
        &with(report("filed", "a1"), "release_lock", json!(true)),
    )
    .await;
    assert_eq!(lock_holder(&body), None);
    // Closing removes the entry.
    let (_, body) = put(
        &server,
        Some("victor"),
        &with(report("filed", "v1"), "open", json!(false)),
    )
    .await;
    assert!(body["present"]
        .as_array()
        .is_some_and(|p| p.iter().all(|e| e["user_id"] != "victor")));

    // Malformed reports: 400 naming the field, never 5xx.
    let malformed = [
        (
            with(report("filed", "a1"), "lock_secs", json!(0)),
            "lock_secs",
        ),
        (
            with(report("filed", "a1"), "lock_secs", json!(3601)),
            "lock_secs",
        ),
        (
            with(report("filed", "a1"), "lock_secs", json!(-5)),
            "lock_secs",
        ),
        (
            with(report("filed", "a1"), "lock_secs", json!("soon")),
            "lock_secs",
        ),
        (
            with(
                with(report("filed", "a1"), "lock_secs", json!(60)),
                "release_lock",
                json!(true),
            ),
            "lock_secs",
        ),
        (report("", "a1"), "prompt_id"),
        (report(&"p".repeat(129), "a1"), "prompt_id"),
        (report("filed", "not a client!"), "client_id"),
        (
            with(report("filed", "a1"), "user_id", json!("edith")),
            "user_id",
        ),
        (json!({ "prompt_id": "filed", "client_id": "a1" }), "open"),
        (
            json!({ "prompt_id": 7, "client_id": "a1", "open": true }),
            "prompt_id",
        ),
        (json!([1, 2]), "request body"),
    ];
    for (body, field) in malformed {
        let (status, answer) = put(&server, Some("alice"), &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "bad_request");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{body}: {answer} should name {field}"
        );
    }
    let (status, _) = put(&server, None, &report("filed", "a1")).await;
    assert_eq!(status, 401);
}
