//! The live channel end to end: real servers on SecantusDB, real stores,
//! desktops running their background loops with polling turned so slow that
//! only a live hint can explain a change arriving.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bson::doc;
use promptforge_sync::schema::Prompt;
use promptforge_sync::SyncConfig;
use promptforge_tests::desktop::{Desktop, Running};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::FaultProxy;
use promptforge_tests::server::{config, TestServer};
use promptforge_tests::tokens::{token, TokenSpec};
use promptforge_wire::protocol::{LIVE_PATH, PROTOCOL_HEADER};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// How long a hinted change may take to land on another desktop here
/// (the stand-in is slow; the latency benchmark measures the real figure).
const ARRIVAL: Duration = Duration::from_secs(20);

/// Polling so slow that a test never sees it.
fn live_only() -> SyncConfig {
    SyncConfig {
        poll_interval: Duration::from_secs(3600),
        live_poll_interval: Duration::from_secs(3600),
        ..SyncConfig::default()
    }
}

/// Opens a desktop, attaches it to its account, and starts its loop.
async fn start(dir: &std::path::Path, base: &str, user: &str, config: SyncConfig) -> Running {
    let desktop = Arc::new(Desktop::open_with(dir, base, user, config).await);
    desktop.synced().await;
    Running::start(desktop)
}

async fn wait_live(running: &Running, live: bool) {
    let deadline = Instant::now() + ARRIVAL;
    while running.desktop.engine.is_live() != live {
        assert!(
            Instant::now() < deadline,
            "{} never became {}",
            running.desktop.dir.display(),
            if live { "live" } else { "not live" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(running.desktop.engine.status().borrow().live, live);
}

/// Waits until the desktop's store holds `id` with `title`.
async fn wait_title(running: &Running, id: &str, title: &str) {
    running.wait_title(id, title, ARRIVAL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_desktops_on_two_instances_without_anyone_syncing() {
    let mongo = &*MONGO;
    let database = mongo.fresh_database();
    let first = TestServer::start_on(mongo, &database).await;
    let second = TestServer::start_on(mongo, &database).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    // Ada's laptop on one instance, her desktop on the other, and Grace, a
    // collaborator, on the first.
    let laptop = start(dirs[0].path(), &first.base, "ada", live_only()).await;
    let desktop = start(dirs[1].path(), &second.base, "ada", live_only()).await;
    let grace = start(dirs[2].path(), &first.base, "grace", live_only()).await;
    for running in [&laptop, &desktop, &grace] {
        wait_live(running, true).await;
    }

    let mut shared = Prompt::new("ada", "Written on the laptop", "Body");
    shared.collaboration.allowed_users = vec!["grace".into()];
    let shared = laptop.desktop.store().create(shared).await.expect("create");
    wait_title(&desktop, &shared.id, "Written on the laptop").await;
    wait_title(&grace, &shared.id, "Written on the laptop").await;

    grace
        .desktop
        .store()
        .patch::<Prompt>(&shared.id, doc! { "title": "Edited by Grace" })
        .await
        .expect("edit");
    wait_title(&laptop, &shared.id, "Edited by Grace").await;
    wait_title(&desktop, &shared.id, "Edited by Grace").await;

    // Another backend writes straight to MongoDB: the sequencer numbers it
    // and every instance's desktops hear of it.
    first
        .collection("prompts")
        .await
        .update_one(
            doc! { "_id": &shared.id },
            doc! { "$set": { "title": "Edited on the web" }, "$inc": { "version": 1 } },
        )
        .await
        .expect("direct write");
    for running in [&laptop, &desktop, &grace] {
        wait_title(running, &shared.id, "Edited on the web").await;
    }
    for running in [laptop, desktop, grace] {
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_broken_channel_falls_back_to_polling_and_reconnects() {
    let mongo = &*MONGO;
    let server = TestServer::start(mongo).await;
    // One proxy answers the channel 404, as a server without one would;
    // the other passes it until it goes offline.
    let refusing = FaultProxy::start(&server.base).await;
    let passing = FaultProxy::start(&server.base).await;
    passing.pass_live(true);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let polling = SyncConfig {
        poll_interval: Duration::from_millis(500),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        ..live_only()
    };
    let writer = start(dirs[0].path(), &server.base, "hal", live_only()).await;
    let refused = start(dirs[1].path(), &refusing.base, "hal", polling.clone()).await;
    let cut = start(dirs[2].path(), &passing.base, "hal", polling).await;
    wait_live(&cut, true).await;

    let first = writer
        .desktop
        .store()
        .create(Prompt::new("hal", "Before the cut", "Body"))
        .await
        .expect("create");
    wait_title(&refused, &first.id, "Before the cut").await;
    wait_title(&cut, &first.id, "Before the cut").await;
    assert!(!refused.desktop.engine.is_live());

    // Cut off: no longer live; back: live again, and caught up.
    passing.set_offline(true);
    wait_live(&cut, false).await;
    let second = writer
        .desktop
        .store()
        .create(Prompt::new("hal", "Written during the cut", "Body"))
        .await
        .expect("create");
    wait_title(&refused, &second.id, "Written during the cut").await;
    passing.set_offline(false);
    wait_live(&cut, true).await;
    wait_title(&cut, &second.id, "Written during the cut").await;
    for running in [writer, refused, cut] {
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_desktop_handshakes_once_per_channel() {
    let mongo = &*MONGO;
    let server = TestServer::start(mongo).await;
    let proxy = FaultProxy::start(&server.base).await;
    proxy.pass_live(true);
    let dir = tempfile::tempdir().expect("dir");
    let desktop = start(dir.path(), &proxy.base, "una", live_only()).await;
    wait_live(&desktop, true).await;
    let opened = proxy.requests_to("/v1/handshake");
    // Rounds of every kind within one channel: run by the test, set off by
    // local writes and by the hints those writes bring back.
    for i in 0..3 {
        desktop
            .desktop
            .store()
            .create(Prompt::new("una", &format!("Edit {i}"), "Body"))
            .await
            .expect("create");
        desktop.desktop.synced().await;
    }
    desktop.desktop.synced().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rounds = proxy.requests_to("/v1/pull/all");
    assert!(rounds >= 4, "{rounds} pulls");
    assert!(
        proxy.requests_to("/v1/handshake") <= opened + 1,
        "{} handshakes in one channel",
        proxy.requests_to("/v1/handshake")
    );

    // A new channel makes a new handshake.
    let before = proxy.requests_to("/v1/handshake");
    proxy.set_offline(true);
    wait_live(&desktop, false).await;
    proxy.set_offline(false);
    wait_live(&desktop, true).await;
    desktop.desktop.synced().await;
    assert!(proxy.requests_to("/v1/handshake") > before);
    desktop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktops_own_push_sets_off_no_second_round() {
    let mongo = &*MONGO;
    let server = TestServer::start(mongo).await;
    let proxy = FaultProxy::start(&server.base).await;
    proxy.pass_live(true);
    let dir = tempfile::tempdir().expect("dir");
    // Local writes wait an hour for the loop: the test runs each round.
    let quiet = SyncConfig {
        write_debounce: Duration::from_secs(3600),
        ..live_only()
    };
    let desktop = start(dir.path(), &proxy.base, "vic", quiet).await;
    wait_live(&desktop, true).await;
    // Let the round the channel's opening set off finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
    desktop.desktop.synced().await;
    let before = proxy.requests_to("/v1/pull/all");
    for i in 0..3 {
        desktop
            .desktop
            .store()
            .create(Prompt::new("vic", &format!("Mine {i}"), "Body"))
            .await
            .expect("create");
        desktop.desktop.synced().await;
    }
    // The hints of these pushes come back to this desktop; each round
    // already pulled past them, so none sets off another round.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        proxy.requests_to("/v1/pull/all") - before,
        3,
        "one pull per round the test ran"
    );

    // Someone else's write still does.
    let other = tempfile::tempdir().expect("dir");
    let laptop = Desktop::open(other.path(), &server.base, "vic").await;
    let theirs = laptop
        .store()
        .create(Prompt::new("vic", "From the laptop", "Body"))
        .await
        .expect("create");
    laptop.synced().await;
    wait_title(&desktop, &theirs.id, "From the laptop").await;
    desktop.stop().await;
}

/// Opens a raw live channel; returns the HTTP status and the response.
async fn open(base: &str, token: &str) -> (u16, reqwest::Response) {
    let response = reqwest::Client::new()
        .get(format!("{base}{LIVE_PATH}"))
        .bearer_auth(token)
        .header(PROTOCOL_HEADER, "1")
        .send()
        .await
        .expect("request");
    (response.status().as_u16(), response)
}

/// Reads `response` until `wanted` appears in it or `within` passes.
async fn read_until(response: &mut reqwest::Response, wanted: &str, within: Duration) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(wanted) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            _ => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_ends_with_its_token_and_is_capped_per_user() {
    let mongo = &*MONGO;
    let mut settings = config(&mongo.uri, &mongo.fresh_database());
    settings.live_connections_per_user = 2;
    settings.live_heartbeat_secs = 1;
    let server = TestServer::start_configured(mongo, settings).await;

    // A token with seconds to live: ready, heartbeats, then token_expired
    // and the end of the stream.
    let short = TokenSpec {
        expires_in: 3,
        ..TokenSpec::valid("ivy")
    }
    .sign();
    let (status, mut channel) = open(&server.base, &short).await;
    assert_eq!(status, 200);
    let seen = read_until(
        &mut channel,
        "event: token_expired",
        Duration::from_secs(15),
    )
    .await;
    assert!(seen.starts_with("event: ready\n"), "{seen}");
    assert!(
        seen.contains(": heartbeat\n"),
        "no heartbeat before expiry: {seen}"
    );
    assert!(seen.contains("event: token_expired"), "{seen}");
    let rest = tokio::time::timeout(Duration::from_secs(5), channel.chunk()).await;
    assert!(
        matches!(rest, Ok(Ok(None))),
        "the stream goes on after token_expired: {rest:?}"
    );

    // Two channels per user here: a third is refused with the documented
    // error until one closes; other users are not counted against it.
    let ivy = token("ivy");
    let (a, first) = open(&server.base, &ivy).await;
    let (b, _second) = open(&server.base, &ivy).await;
    assert_eq!((a, b), (200, 200));
    let (refused, answer) = open(&server.base, &ivy).await;
    assert_eq!(refused, 429);
    let body: serde_json::Value = answer.json().await.expect("error body");
    assert_eq!(body["code"], "too_many_connections", "{body}");
    let (other, _other) = open(&server.base, &token("jan")).await;
    assert_eq!(other, 200);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _third) = open(&server.base, &ivy).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "a closed channel still counts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Without a valid token there is no channel.
    let (status, _) = open(&server.base, "not a token").await;
    assert_eq!(status, 401);

    // An instance holds so many channels of all users together.
    let mut settings = config(&mongo.uri, &mongo.fresh_database());
    settings.live_connections_max = 2;
    let small = TestServer::start_configured(mongo, settings).await;
    let (a, _kim) = open(&small.base, &token("kim")).await;
    let (b, _lou) = open(&small.base, &token("lou")).await;
    assert_eq!((a, b), (200, 200));
    let (full, answer) = open(&small.base, &token("max")).await;
    assert_eq!(full, 429);
    let body: serde_json::Value = answer.json().await.expect("error body");
    assert_eq!(body["code"], "too_many_connections", "{body}");
}
