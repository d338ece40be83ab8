//! The sync engine under failure, through a fault-injecting proxy in front of
//! the real server: refused requests, answers dropped after the server
//! applied them, answers cut half-way, the server stopped and restarted, a
//! clock that jumps backwards. The desktop recovers by itself, nothing is
//! duplicated, and the queue drains.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bson::DateTime;
use promptforge_sync::engine::transport::BoxFuture;
use promptforge_sync::engine::{
    Clock, HttpTransport, StaticToken, SyncState, TokenProvider, TransportError,
};
use promptforge_sync::schema::{Collection, Prompt};
use promptforge_sync::{ListQuery, Store, SyncConfig, SyncEngine};
use promptforge_tests::desktop::{replica_difference, Desktop, Running};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::{Fault, FaultProxy};
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::{token, TokenSpec};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

fn small_batches() -> SyncConfig {
    SyncConfig {
        push_batch: 5,
        pull_page_bytes: Some(4096),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        poll_interval: Duration::from_millis(500),
        write_debounce: Duration::from_millis(20),
        ..SyncConfig::default()
    }
}

async fn titles(store: &Store) -> Vec<String> {
    let page = store
        .list::<Prompt>(ListQuery {
            limit: 1000,
            ..ListQuery::default()
        })
        .await
        .expect("list prompts");
    let mut titles: Vec<String> = page.items.into_iter().map(|p| p.title).collect();
    titles.sort();
    titles
}

/// Syncs until a round succeeds; each failure must be one retrying can fix.
async fn sync_until_ok(desktop: &Desktop) -> usize {
    for attempt in 0..60 {
        match desktop.sync().await {
            Ok(_) => return attempt,
            Err(err) => assert!(err.is_retryable(), "a fault gave a final error: {err}"),
        }
    }
    panic!("no successful round in 60 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_cut_answers_neither_lose_nor_duplicate() {
    let server = TestServer::start(&MONGO).await;
    let proxy = FaultProxy::start(&server.base).await;
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let a = Desktop::open_with(dirs[0].path(), &proxy.base, "dave", small_batches()).await;
    let b = Desktop::open_with(dirs[1].path(), &server.base, "dave", small_batches()).await;
    let user = a.store().user_id();
    let mut expected = Vec::new();
    for i in 0..30 {
        let title = format!("Prompt {i:02}");
        a.store()
            .create(Prompt::new(&user, &title, "body"))
            .await
            .expect("create");
        expected.push(title);
    }
    // Handshake passes, then every kind of fault hits the pushes.
    proxy.script([
        Fault::Pass,
        Fault::DropAnswer,
        Fault::Pass,
        Fault::Pass,
        Fault::CutAnswer,
        Fault::Refuse,
        Fault::Pass,
        Fault::DropAnswer,
        Fault::CutAnswer,
    ]);
    let failures = sync_until_ok(&a).await;
    assert!(
        failures >= 3,
        "the faults were met ({failures} failed rounds)"
    );
    let stats = proxy.stats();
    assert!(
        stats.dropped >= 2 && stats.cut >= 2 && stats.refused >= 1,
        "{stats:?}"
    );

    b.synced().await;
    assert_eq!(
        titles(b.store()).await,
        expected,
        "each prompt exactly once"
    );
    assert_eq!(
        b.store().count(Collection::PromptVersions),
        30,
        "each first version exactly once"
    );

    // Pulls through random faults, in small pages.
    for i in 0..20 {
        let title = format!("From B {i:02}");
        b.store()
            .create(Prompt::new(&b.store().user_id(), &title, "body"))
            .await
            .expect("create");
        expected.push(title);
    }
    b.synced().await;
    proxy.randomly(7, 0.3);
    sync_until_ok(&a).await;
    proxy.heal();
    a.synced().await;
    expected.sort();
    assert_eq!(titles(a.store()).await, expected);
    let summary = a.store().sync_summary().await.expect("summary");
    assert_eq!((summary.pending, summary.needs_attention), (0, 0));
    b.synced().await;
    if let Some(diff) = replica_difference(&a.replica().await, &b.replica().await) {
        panic!("replicas differ: {diff}");
    }
}

async fn wait_for(desktop: &Desktop, what: &str, done: impl Fn(&SyncStateView) -> bool) {
    let mut status = desktop.engine.status();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        {
            let now = status.borrow_and_update();
            let view = SyncStateView {
                state: now.state.clone(),
                pending: now.pending,
            };
            if done(&view) {
                return;
            }
        }
        if tokio::time::timeout_at(deadline, status.changed())
            .await
            .is_err()
        {
            panic!("timed out waiting for {what}: {:?}", *status.borrow());
        }
    }
}

struct SyncStateView {
    state: SyncState,
    pending: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_rides_out_an_outage_and_a_server_restart() {
    let mongo = &*MONGO;
    let database = mongo.fresh_database();
    let first = TestServer::start_on(mongo, &database).await;
    let proxy = FaultProxy::start(&first.base).await;
    let dir = tempfile::tempdir().expect("dir");
    let desktop =
        Arc::new(Desktop::open_with(dir.path(), &proxy.base, "erin", small_batches()).await);
    let user = desktop.store().user_id();
    let runner = Running::start(Arc::clone(&desktop));

    // Offline: edits queue up and the status says so.
    proxy.set_offline(true);
    for i in 0..10 {
        desktop
            .store()
            .create(Prompt::new(&user, &format!("Offline {i}"), "body"))
            .await
            .expect("create");
    }
    wait_for(&desktop, "an offline status", |s| {
        matches!(s.state, SyncState::Offline { .. } | SyncState::Error { .. }) && s.pending > 0
    })
    .await;

    // Back online, but the server is replaced mid-stream: the first one
    // stops, a new one takes over the same database.
    proxy.script([Fault::Pass, Fault::Pass, Fault::DropAnswer]);
    proxy.set_offline(false);
    for i in 0..10 {
        desktop
            .store()
            .create(Prompt::new(&user, &format!("Online {i}"), "body"))
            .await
            .expect("create");
    }
    drop(first);
    let second = TestServer::start_on(mongo, &database).await;
    proxy.set_upstream(&second.base);
    desktop.engine.nudge();
    wait_for(&desktop, "the queue to drain", |s| {
        s.state == SyncState::UpToDate && s.pending == 0
    })
    .await;
    runner.stop().await;

    let check_dir = tempfile::tempdir().expect("dir");
    let check = Desktop::open(check_dir.path(), &second.base, "erin").await;
    check.synced().await;
    // Some creates were made for the local id after the loop's first round
    // attached the profile to "erin": they belong to erin all the same.
    let attention = desktop.store().needs_attention().await.expect("attention");
    assert!(attention.is_empty(), "{attention:?}");
    let summary = desktop.store().sync_summary().await.expect("summary");
    assert_eq!(
        titles(check.store()).await.len(),
        20,
        "every prompt, once; the desktop has {} and {summary:?}",
        titles(desktop.store()).await.len()
    );
}

/// A clock the test moves by hand.
#[derive(Debug)]
struct HandClock(Mutex<DateTime>);

impl Clock for HandClock {
    fn now(&self) -> DateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_moved_backwards_never_gives_negative_ages() {
    let server = TestServer::start(&MONGO).await;
    let proxy = FaultProxy::start(&server.base).await;
    proxy.set_offline(true);
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path()).await.expect("open");
    let user = store.user_id();
    store
        .create(Prompt::new(&user, "Waiting", "body"))
        .await
        .expect("create");
    let transport = HttpTransport::new(
        &proxy.base,
        Arc::new(StaticToken(token("frank"))),
        Duration::from_secs(5),
    )
    .expect("transport");
    let clock = Arc::new(HandClock(Mutex::new(DateTime::from_millis(
        DateTime::now().timestamp_millis() + 3_600_000,
    ))));
    let engine = SyncEngine::with_clock(
        store.clone(),
        transport,
        small_batches(),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    let err = engine.sync_once().await.expect_err("offline");
    assert!(err.is_retryable());
    let status = engine.status().borrow().clone();
    assert!(
        matches!(
            status.state,
            SyncState::Offline { .. } | SyncState::Error { retrying: true, .. }
        ),
        "{status:?}"
    );
    assert_eq!(status.pending, 2, "the prompt and its first version");
    assert!(status.oldest_pending_age_secs >= Some(3590), "{status:?}");

    // The clock jumps back a day: the age is zero, not negative or huge.
    *clock.0.lock().expect("clock") =
        DateTime::from_millis(DateTime::now().timestamp_millis() - 86_400_000);
    let _ = engine.sync_once().await;
    assert_eq!(engine.status().borrow().oldest_pending_age_secs, Some(0));

    proxy.set_offline(false);
    engine.sync_once().await.expect("online again");
    let status = engine.status().borrow().clone();
    assert_eq!((status.state, status.pending), (SyncState::UpToDate, 0));
    let synced: Prompt = store
        .list::<Prompt>(ListQuery::default())
        .await
        .expect("list")
        .items
        .remove(0);
    assert_eq!(synced.user_id, "frank");
}

/// Hands out a stale token until asked to refresh, counting refreshes.
#[derive(Debug, Default)]
struct ExpiringTokens {
    refreshes: std::sync::atomic::AtomicUsize,
}

impl TokenProvider for ExpiringTokens {
    fn token(&self, refresh: bool) -> BoxFuture<'_, Result<String, TransportError>> {
        if refresh {
            self.refreshes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let stale = self.refreshes.load(std::sync::atomic::Ordering::SeqCst) == 0;
        Box::pin(async move {
            Ok(if stale {
                TokenSpec {
                    expires_in: -600,
                    ..TokenSpec::valid("ivy")
                }
                .sign()
            } else {
                token("ivy")
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_and_the_round_goes_on() {
    let server = TestServer::start(&MONGO).await;
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path()).await.expect("open");
    store
        .create(Prompt::new(&store.user_id(), "Hello", "body"))
        .await
        .expect("create");
    let tokens = Arc::new(ExpiringTokens::default());
    let transport = HttpTransport::new(
        &server.base,
        Arc::clone(&tokens) as Arc<dyn TokenProvider>,
        Duration::from_secs(10),
    )
    .expect("transport");
    let engine = SyncEngine::new(store.clone(), transport, SyncConfig::default());
    let report = engine.sync_once().await.expect("the refreshed token works");
    assert_eq!(report.pushed, 2);
    assert_eq!(
        tokens.refreshes.load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // A token the server keeps refusing is a final error, not a retry loop.
    let refused = HttpTransport::new(
        &server.base,
        Arc::new(StaticToken(promptforge_tests::tokens::unsigned("ivy"))),
        Duration::from_secs(10),
    )
    .expect("transport");
    let engine = SyncEngine::new(store, refused, SyncConfig::default());
    let err = engine.sync_once().await.expect_err("refused");
    assert!(!err.is_retryable());
    assert_eq!(
        err.code(),
        promptforge_sync::engine::SyncErrorCode::Unauthenticated
    );
    assert!(matches!(
        engine.status().borrow().state,
        SyncState::Error {
            retrying: false,
            ..
        }
    ));
}
