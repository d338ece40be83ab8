//! The hub's bookkeeping without a database: audiences, coalescing, bounds.

use super::*;
use promptforge_wire::schema::Collection;

#[test]
fn a_hint_round_trips_its_audience() {
    let mut audience = Audience::default();
    audience.add(
        Collection::Prompts,
        &doc! { "_id": "p1", "user_id": "ada", "project_id": "proj",
        "collaboration": { "allowed_users": ["grace"] } },
    );
    audience.add(
        Collection::Projects,
        &doc! { "_id": "proj", "user_id": "ada", "collaboration": { "team_id": "t1" } },
    );
    audience.add_exit(&doc! { "user_id": "linus", "collection": "prompts" });
    let (through, back) = Audience::from_hint(&audience.to_hint(42));
    assert_eq!(through, 42);
    assert_eq!(back, audience);
    assert!(back.users.contains("ada") && back.users.contains("grace"));
    assert!(back.users.contains("linus"));
    assert!(back.teams.contains("t1") && back.projects.contains("proj"));
    assert!(back.access_changed && !back.everyone);
}

#[test]
fn public_documents_concern_everyone_and_private_ones_do_not() {
    let mut listing = Audience::default();
    listing.add(
        Collection::MarketplaceListings,
        &doc! { "_id": "l1", "seller_id": "ada", "status": "approved" },
    );
    assert!(listing.everyone);
    let mut draft = Audience::default();
    draft.add(
        Collection::MarketplaceListings,
        &doc! { "_id": "l2", "seller_id": "ada", "status": "draft" },
    );
    assert!(!draft.everyone);
    let listener = Listener {
        connections: 1,
        teams: vec!["t9".into()],
        ..Listener::new(0)
    };
    assert!(!listener.concerned_by(&draft, "grace"));
    assert!(listener.concerned_by(&draft, "ada"));
    assert!(listener.concerned_by(&listing, "grace"));
}

fn state(prompt: &str, version: i64) -> Arc<PresenceState> {
    Arc::new(PresenceState {
        prompt_id: prompt.into(),
        present: vec![],
        active_editors: vec![],
        lock: None,
        server_time_ms: version,
        ttl_secs: 30,
    })
}

/// A hub with no hint follower, over a client that never connects.
async fn idle_hub() -> Option<Arc<LiveHub>> {
    let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:9")
        .await
        .ok()?;
    let db = Db {
        db: client.database("unused"),
        client,
        batch: None,
    };
    Some(Arc::new(LiveHub {
        db,
        listeners: Mutex::new(HashMap::new()),
        limits: Limits {
            per_user: 2,
            total: 10,
            heartbeat: Duration::from_secs(15),
            presence_ttl: Duration::from_secs(30),
        },
        follower: Mutex::new(None),
    }))
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_owed_the_latest_hint_and_states_not_a_queue() {
    let Some(hub) = idle_hub().await else {
        panic!("a MongoDB client needs no server to be created");
    };
    let events = hub.open("ada".into(), 10, TeamAccess::default(), u64::MAX);
    let Ok(events) = events else {
        panic!("the first channel is under every cap");
    };
    let mut events = Box::pin(events);
    // The reader reads nothing while 10,000 hints and 3,000 presence
    // changes on three prompts go by.
    let mut audience = Audience::default();
    audience.users.insert("ada".into());
    for round in 0..1_000_i64 {
        for step in 0..10 {
            hub.dispatch(11 + round * 10 + step, &audience);
        }
        let mut listeners = hub.lock();
        let Some(listener) = listeners.get_mut("ada") else {
            panic!("ada is connected");
        };
        for prompt in ["p1", "p2", "p3"] {
            listener.offer_presence(state(prompt, round));
        }
        assert!(listener.presence.len() <= 3, "one state per prompt");
    }
    let mut read = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), events.next()).await
    {
        read.push(event);
    }
    // Ready, one hint at the latest watermark, one state per prompt.
    assert_eq!(
        read.len(),
        5,
        "the reader is owed five events, not thousands"
    );
    assert_eq!(read[1], LiveEvent::Changed(LiveChanged { through: 10_010 }));
    let owed = hub.presence_since("ada", 0);
    let latest: Vec<i64> = owed.iter().map(|s| s.server_time_ms).collect();
    assert_eq!(latest, [999, 999, 999]);
    // More than the per-user bound of prompts keeps only the newest.
    {
        let mut listeners = hub.lock();
        let Some(listener) = listeners.get_mut("ada") else {
            panic!("ada is connected");
        };
        for n in 0..(PRESENCE_PER_USER + 10) {
            listener.offer_presence(state(&format!("q{n}"), 0));
        }
        assert_eq!(listener.presence.len(), PRESENCE_PER_USER);
    }
    drop(events);
    assert_eq!(hub.open_connections(), 0, "a dropped channel is closed");
}

#[tokio::test]
async fn a_slow_reader_gets_the_newest_watermark_and_each_prompts_latest_state() {
    let Some(hub) = idle_hub().await else {
        panic!("a MongoDB client needs no server to be created");
    };
    let Ok(events) = hub.open("ada".into(), 5, TeamAccess::default(), u64::MAX) else {
        panic!("the first channel is under every cap");
    };
    let mut events = Box::pin(events);
    let mut audience = Audience::default();
    audience.users.insert("ada".into());
    for through in 6..=50 {
        hub.dispatch(through, &audience);
    }
    if let Some(listener) = hub.lock().get_mut("ada") {
        listener.offer_presence(state("p1", 1));
        listener.offer_presence(state("p1", 2));
    }
    let mut read = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), events.next()).await
    {
        read.push(event);
    }
    assert_eq!(read.len(), 3, "{read:?}");
    assert!(matches!(
        read[0],
        LiveEvent::Ready(LiveReady { through: 5, .. })
    ));
    assert_eq!(read[1], LiveEvent::Changed(LiveChanged { through: 50 }));
    assert!(
        matches!(&read[2], LiveEvent::Presence(s) if s.server_time_ms == 2),
        "{read:?}"
    );
}
