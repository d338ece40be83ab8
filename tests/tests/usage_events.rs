//! Usage events end to end, against the real server on SecantusDB: recorded
//! offline, uploaded once after reconnecting (through a cut answer), counted
//! into the prompt's analytics on every device, never holding back the
//! user's own changes, refused for another user, not recorded when turned
//! off, dropped when expired; and the dashboards' figures from real sales.

use std::sync::LazyLock;

use bson::{doc, DateTime};
use promptforge_sync::engine::MarketCall;
use promptforge_sync::insights::{self, DashboardRequest, EventRecorder, Period, UsageEvent};
use promptforge_sync::schema::{new_id, Prompt};
use promptforge_tests::accounts::put_user;
use promptforge_tests::desktop::Desktop;
use promptforge_tests::market::{done, draft_listing, market, publish_and_approve};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::{Fault, FaultProxy};
use promptforge_tests::push_client::{applied_version, prompt_doc, rejected, Client};
use promptforge_tests::server::{TestServer, MODERATOR};
use promptforge_wire::market::{PurchaseRequest, ReviewRequest};
use promptforge_wire::protocol::{MutationOutcome, RejectReason};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

async fn use_count(desktop: &Desktop, id: &str) -> i64 {
    let prompt: Prompt = desktop.store().require(id).await.expect("prompt");
    prompt.analytics.use_count
}

async fn server_events(server: &TestServer, user: &str) -> Vec<bson::Document> {
    use futures_util::TryStreamExt;
    server
        .collection("analytics_events")
        .await
        .find(doc! { "user_id": user })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_events_upload_once_and_count_on_every_device() {
    let server = TestServer::start(&MONGO).await;
    let proxy = FaultProxy::start(&server.base).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let laptop = Desktop::open(dirs[0].path(), &proxy.base, "ada").await;
    let desk = Desktop::open(dirs[1].path(), &server.base, "ada").await;
    let prompt = laptop
        .store()
        .create(Prompt::new("ada", "Haiku", "Write a haiku about {topic}"))
        .await
        .expect("prompt");
    laptop.synced().await;
    desk.synced().await;

    // Offline: three uses and a search, counted here at once.
    proxy.set_offline(true);
    let recorder = EventRecorder::new("9.9.9", true, 30);
    let id = prompt.id.clone();
    for event in [
        UsageEvent::PromptUsed {
            prompt_id: id.clone(),
        },
        UsageEvent::PromptCopied {
            prompt_id: id.clone(),
        },
        UsageEvent::PromptUsed {
            prompt_id: id.clone(),
        },
        UsageEvent::SearchRun {
            collection: "prompts".into(),
            query_length: 5,
            results: 1,
        },
    ] {
        let stored = recorder
            .record(laptop.store(), event)
            .await
            .expect("record");
        let stored = stored.expect("recording is on");
        assert_eq!(stored.session_id, recorder.session_id());
        assert_eq!(stored.context.version.as_deref(), Some("9.9.9"));
        assert!(stored.expires_at.is_some_and(|t| t > DateTime::now()));
    }
    assert_eq!(use_count(&laptop, &id).await, 3, "counted offline");
    assert!(laptop.sync().await.is_err(), "offline");
    assert_eq!(laptop.store().queued_event_count().await.expect("queue"), 4);

    // Back online; the answer to the events' upload is cut, and the
    // resend is answered from the server's records.
    proxy.set_offline(false);
    let cut_before = proxy.stats().cut;
    proxy.script_for("/v1/push", [Fault::CutAnswer]);
    assert!(laptop.sync().await.is_err(), "the cut round fails");
    assert_eq!(proxy.stats().cut, cut_before + 1, "the answer was cut");
    laptop.synced().await;
    let uploaded = server_events(&server, "ada").await;
    assert_eq!(uploaded.len(), 4, "each event once: {uploaded:?}");
    assert!(uploaded
        .iter()
        .all(|e| e.get_str("session_id") == Ok(recorder.session_id())));
    let on_server = server
        .collection("prompts")
        .await
        .find_one(doc! { "_id": &id })
        .await;
    let on_server = on_server.expect("read").expect("prompt");
    let analytics = on_server.get_document("analytics").expect("analytics");
    assert_eq!(analytics.get_i64("use_count"), Ok(3), "counted once each");
    assert_eq!(use_count(&laptop, &id).await, 3);
    assert_eq!(laptop.store().queued_event_count().await.expect("queue"), 0);

    // The other laptop sees the uses, adds one, and both agree.
    desk.synced().await;
    assert_eq!(use_count(&desk, &id).await, 3);
    recorder
        .record(
            desk.store(),
            UsageEvent::PromptUsed {
                prompt_id: id.clone(),
            },
        )
        .await
        .expect("record");
    desk.synced().await;
    laptop.synced().await;
    assert_eq!(use_count(&laptop, &id).await, 4);
    assert_eq!(use_count(&desk, &id).await, 4);

    // Events never hold back the user's own changes: with more events
    // queued than a batch takes, an edit made after them goes first.
    proxy.set_offline(true);
    for _ in 0..250 {
        let event = UsageEvent::PromptUsed {
            prompt_id: id.clone(),
        };
        recorder
            .record(laptop.store(), event)
            .await
            .expect("record");
    }
    laptop
        .store()
        .patch::<Prompt>(&id, doc! { "title": "Haiku, revised" })
        .await
        .expect("edit");
    let batch = laptop
        .store()
        .replica()
        .next_push_batch(200, 1 << 20)
        .await
        .expect("batch");
    assert_eq!(batch.len(), 1, "the edit alone: {batch:?}");
    assert_eq!(batch[0].collection, "prompts");
    proxy.set_offline(false);
    laptop.synced().await;
    assert_eq!(server_events(&server, "ada").await.len(), 255);
    assert_eq!(use_count(&laptop, &id).await, 254);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_refused_for_others_off_when_turned_off_and_dropped_when_expired() {
    let server = TestServer::start(&MONGO).await;
    let dir = tempfile::tempdir().expect("dir");
    let ben = Desktop::open(dir.path(), &server.base, "ben").await;
    ben.synced().await;

    // A client uploading an event in someone else's name is refused.
    let mut hostile = Client::new(&server, "mallory", "laptop");
    let forged = doc! {
        "_id": "forged-1", "user_id": "ben", "session_id": "s1",
        "event_type": "prompt_used", "event_name": "Prompt used",
        "timestamp": DateTime::now(),
    };
    let outcome = hostile.create("analytics_events", "forged-1", forged).await;
    assert_eq!(rejected(&outcome), RejectReason::Forbidden, "{outcome:?}");
    assert!(server_events(&server, "ben").await.is_empty());

    // Turned off: nothing is recorded, nothing is sent.
    let recorder = EventRecorder::new("1.0.0", false, 90);
    let search = UsageEvent::SearchRun {
        collection: "ideas".into(),
        query_length: 3,
        results: 0,
    };
    assert_eq!(
        recorder
            .record(ben.store(), search.clone())
            .await
            .expect("off"),
        None
    );
    assert_eq!(ben.store().queued_event_count().await.expect("queue"), 0);
    ben.synced().await;
    assert!(server_events(&server, "ben").await.is_empty());

    // Expired before it could be sent: dropped, here and there.
    recorder.configure(true, 1);
    let two_days_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 2 * 86_400_000);
    let stale = recorder.event(&search, two_days_ago);
    ben.store()
        .record_event(stale.clone())
        .await
        .expect("record");
    let fresh = recorder.record(ben.store(), search).await.expect("record");
    let fresh = fresh.expect("recording is on");
    assert_eq!(ben.store().queued_event_count().await.expect("queue"), 2);
    ben.synced().await;
    let uploaded = server_events(&server, "ben").await;
    let ids: Vec<&str> = uploaded
        .iter()
        .filter_map(|e| e.get_str("_id").ok())
        .collect();
    assert_eq!(ids, [fresh.id.as_str()], "only the fresh event went up");
    let kept: Option<promptforge_sync::schema::AnalyticsEvent> =
        ben.store().get(&stale.id).await.expect("read");
    assert!(kept.is_none(), "the expired event is gone here too");

    // A kept event that expires later is dropped by the start-up sweep.
    let old = recorder.event(
        &UsageEvent::PromptUsed {
            prompt_id: "gone".into(),
        },
        two_days_ago,
    );
    let mut sent_then_expired = old.clone();
    sent_then_expired.id = new_id();
    ben.store()
        .record_event(sent_then_expired)
        .await
        .expect("record");
    assert_eq!(ben.store().drop_expired_events().await.expect("sweep"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seller_dashboard_counts_real_sales_views_and_ratings() {
    let server = TestServer::start(&MONGO).await;
    let (uri, database) = (&MONGO.uri, &server.database);
    put_user(uri, database, "cora", 0).await;
    put_user(uri, database, "dane", 100).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let seller = Desktop::open(dirs[0].path(), &server.base, "cora").await;
    let buyer = Desktop::open(dirs[1].path(), &server.base, "dane").await;
    let moderator = Desktop::open(dirs[2].path(), &server.base, MODERATOR).await;
    let prompt = seller
        .store()
        .create(Prompt::new("cora", "Haiku", "Write a haiku about {topic}"))
        .await
        .expect("prompt");
    let draft = draft_listing("cora", &prompt.id, "Haiku maker", 20);
    let listing = seller.store().create(draft).await.expect("listing");
    seller.synced().await;
    publish_and_approve(&seller, &moderator, &listing.id).await;

    // The buyer looks three times (one view a day counts), the moderator
    // once; the buyer buys once and rates it 4 stars.
    buyer.synced().await;
    moderator.synced().await;
    let recorder = EventRecorder::new("1.0.0", true, 90);
    for _ in 0..3 {
        let viewed = UsageEvent::ListingViewed {
            listing_id: listing.id.clone(),
        };
        recorder
            .record(buyer.store(), viewed)
            .await
            .expect("record");
    }
    let viewed = UsageEvent::ListingViewed {
        listing_id: listing.id.clone(),
    };
    recorder
        .record(moderator.store(), viewed)
        .await
        .expect("record");
    moderator.synced().await;
    buyer.synced().await;
    let buy = PurchaseRequest {
        listing_id: listing.id.clone(),
        expected_price: 20,
        idempotency_key: new_id(),
    };
    let purchase = done(market(&buyer, MarketCall::Purchase, &buy).await);
    let review = ReviewRequest {
        purchase_id: purchase.get_str("_id").expect("id").to_owned(),
        rating: 4,
        review: "Nice".into(),
        idempotency_key: Some(new_id()),
    };
    done(market(&buyer, MarketCall::Review, &review).await);
    // The seller's own look does not count as a prospect's.
    let own_look = UsageEvent::ListingViewed {
        listing_id: listing.id.clone(),
    };
    recorder
        .record(seller.store(), own_look)
        .await
        .expect("record");
    seller.synced().await;

    let request = DashboardRequest {
        period: Period::Day,
        buckets: 7,
        time_zone: Some("Europe/Berlin".into()),
    };
    let now = DateTime::now().timestamp_millis();
    let board = insights::dashboard(seller.store(), &request, now)
        .await
        .expect("dashboard");
    assert_eq!(board.time_zone, "Europe/Berlin");
    let seller_view = board.seller;
    assert_eq!(seller_view.sales.len(), 7);
    let today = seller_view.sales.last().expect("today");
    assert_eq!((today.totals.sales, today.totals.revenue), (1, 20));
    assert_eq!(seller_view.totals.sales, 1);
    assert!(seller_view.totals.earnings > 0 && seller_view.totals.earnings < 20);
    assert_eq!(seller_view.listings.len(), 1);
    let conversion = &seller_view.listings[0];
    assert_eq!(
        (conversion.views, conversion.purchases),
        (2, 1),
        "{conversion:?}"
    );
    assert!((conversion.conversion - 0.5).abs() < 1e-9);
    assert_eq!(seller_view.ratings, [0, 0, 0, 1, 0]);

    // The creator side: one prompt, one version, no uses yet.
    assert_eq!(board.creator.prompt_count, 1);
    assert_eq!(board.creator.versions.len(), 1);
    assert!(board.creator.most_used.is_empty());
    let bad = DashboardRequest {
        buckets: 0,
        ..request
    };
    let err = insights::dashboard(seller.store(), &bad, now).await.err();
    assert!(err.is_some_and(|e| e.to_string().contains("buckets")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_desktops_counters_are_ignored_and_client_clocks_cannot_run_ahead() {
    let server = TestServer::start(&MONGO).await;
    let mut old = Client::new(&server, "ada", "old-laptop");
    // A duplicate made by a desktop from before the counters were the
    // server's: its create carries the original's counts.
    let mut copy = prompt_doc("ada", "p-copy", "Copy");
    copy.insert(
        "analytics",
        doc! { "use_count": 41_i64, "view_count": 7_i64 },
    );
    let outcome = old.create("prompts", "p-copy", copy).await;
    assert_eq!(applied_version(&outcome), 1, "{outcome:?}");
    let prompts = server.collection("prompts").await;
    let counters =
        |doc: &bson::Document| doc.get_document("analytics").cloned().unwrap_or_default();
    let stored = prompts
        .find_one(doc! { "_id": "p-copy" })
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        counters(&stored).get_i64("use_count").unwrap_or(0),
        0,
        "the copy's counts were ignored"
    );
    // An edit beside a counter applies; the counter does not.
    let outcome = old
        .patch(
            "prompts",
            "p-copy",
            1,
            doc! { "title": "Copy, renamed", "analytics.use_count": 99_i64 },
            doc! { "title": "Copy", "analytics.use_count": 0_i64 },
        )
        .await;
    assert!(
        matches!(outcome, MutationOutcome::Applied { .. }),
        "{outcome:?}"
    );
    let after = prompts
        .find_one(doc! { "_id": "p-copy" })
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(after.get_str("title"), Ok("Copy, renamed"));
    assert_eq!(counters(&after).get_i64("use_count").unwrap_or(0), 0);

    // A use stamped in 2100 counts as now.
    let future = DateTime::parse_rfc3339_str("2100-01-01T00:00:00Z").expect("date");
    let event = doc! {
        "_id": "e-future", "session_id": "s1", "event_type": "prompt_used",
        "event_name": "Prompt used", "event_data": { "prompt_id": "p-copy" }, "timestamp": future,
    };
    let outcome = old.create("analytics_events", "e-future", event).await;
    assert_eq!(applied_version(&outcome), 1, "{outcome:?}");
    let after = prompts
        .find_one(doc! { "_id": "p-copy" })
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(counters(&after).get_i64("use_count"), Ok(1));
    let last = counters(&after)
        .get_datetime("last_used_at")
        .copied()
        .expect("last used");
    assert!(last <= DateTime::now(), "not in the future: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_recording_off_forgets_what_was_not_sent() {
    let server = TestServer::start(&MONGO).await;
    let dir = tempfile::tempdir().expect("dir");
    let ada = Desktop::open(dir.path(), &server.base, "ada").await;
    ada.synced().await;
    let recorder = EventRecorder::new("1.0.0", true, 90);
    for n in 0..3 {
        let search = UsageEvent::SearchRun {
            collection: "prompts".into(),
            query_length: n,
            results: 0,
        };
        recorder.record(ada.store(), search).await.expect("record");
    }
    // One already handed to the outbox, two still queued.
    assert_eq!(
        ada.store().replica().queue_events(1).await.expect("queue"),
        1
    );
    recorder.configure(false, 90);
    assert_eq!(
        ada.store().discard_unsent_events().await.expect("discard"),
        3
    );
    assert_eq!(ada.store().queued_event_count().await.expect("queue"), 0);
    ada.synced().await;
    assert!(
        server_events(&server, "ada").await.is_empty(),
        "nothing was sent"
    );
}
