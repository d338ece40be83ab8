//! Golden tests for every protocol message: the exact JSON each one puts on
//! the wire. A failing test here means the protocol changed: that needs a new
//! protocol version (and docs/protocol.md), never just an edited golden file.
//! `UPDATE_GOLDEN=1` rewrites the files.

use bson::{doc, DateTime};
use promptforge_wire::presence::{PresenceRequest, PresenceState, PresentEditor, SoftLock};
use promptforge_wire::protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, message: &T) {
    let json = serde_json::to_string_pretty(message).expect("serialize") + "\n";
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &json).expect("write golden");
    }
    let frozen = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path} missing: run with UPDATE_GOLDEN=1"));
    assert_eq!(json, frozen, "{name} changed on the wire");
    let back: T = serde_json::from_str(&frozen).expect("the golden JSON parses back");
    assert_eq!(&back, message, "{name} does not round-trip");
}

fn when() -> DateTime {
    DateTime::from_millis(1_700_000_000_000)
}

#[test]
fn handshake_messages() {
    check(
        "handshake_request",
        &HandshakeRequest {
            client_id: "laptop-7f3a".into(),
            protocol_version: PROTOCOL_VERSION,
            schema_version: SCHEMA_VERSION,
            app_version: Some("0.1.0".into()),
            confirmed_mutation_id: Some(41),
        },
    );
    // The confirmation is additive: a client that never sends it is heard.
    let older: HandshakeRequest = serde_json::from_str(
        r#"{"client_id":"laptop-7f3a","protocol_version":1,"schema_version":1}"#,
    )
    .expect("a handshake without confirmed_mutation_id parses");
    assert_eq!(older.confirmed_mutation_id, None);
    check(
        "handshake_response",
        &HandshakeResponse {
            user_id: "firebase-uid-1".into(),
            protocol_version: 1,
            schema_version: 1,
            collections: vec!["prompts".into(), "ideas".into()],
            last_mutation_id: 41,
        },
    );
}

#[test]
fn push_messages() {
    check(
        "push_request",
        &PushRequest {
            client_id: "laptop-7f3a".into(),
            mutations: vec![
                Mutation {
                    mutation_id: 42,
                    collection: "prompts".into(),
                    id: "p1".into(),
                    base_version: 0,
                    op: MutationOp::Create {
                        document: doc! { "_id": "p1", "user_id": "firebase-uid-1", "title": "T", "content": "C", "created_at": when() },
                    },
                },
                Mutation {
                    mutation_id: 43,
                    collection: "prompts".into(),
                    id: "p1".into(),
                    base_version: 3,
                    op: MutationOp::Patch {
                        changes: doc! { "title": "New", "performance.rating": 4.5 },
                        base: doc! { "title": "Old", "performance.rating": 4.0 },
                    },
                },
                Mutation {
                    mutation_id: 44,
                    collection: "ideas".into(),
                    id: "i1".into(),
                    base_version: 2,
                    op: MutationOp::Delete,
                },
                Mutation {
                    mutation_id: 45,
                    collection: "prompts".into(),
                    id: "p2".into(),
                    base_version: 7,
                    op: MutationOp::Restore {
                        changes: doc! { "title": "Kept edit" },
                        base: doc! { "title": "Before" },
                    },
                },
            ],
        },
    );
    check(
        "push_response",
        &PushResponse {
            results: vec![
                MutationResult {
                    mutation_id: 42,
                    outcome: MutationOutcome::Applied {
                        version: 1,
                        document: doc! { "_id": "p1", "title": "T", "version": 1_i64, "updated_at": when() },
                    },
                },
                MutationResult {
                    mutation_id: 43,
                    outcome: MutationOutcome::Merged {
                        version: 5,
                        document: doc! { "_id": "p1", "title": "Server title", "version": 5_i64 },
                        conflicts: vec![FieldConflict {
                            field: "content".into(),
                            kept: serde_json::json!("server text"),
                            lost: serde_json::json!("my text"),
                            resolution: "server_wins".into(),
                            lost_saved_as: Some("v9".into()),
                        }],
                    },
                },
                MutationResult {
                    mutation_id: 44,
                    outcome: MutationOutcome::Conflict {
                        reason: "the document was deleted".into(),
                        server_document: doc! { "_id": "i1", "deleted_at": when() },
                    },
                },
                MutationResult {
                    mutation_id: 45,
                    outcome: MutationOutcome::Rejected {
                        reason: RejectReason::ServerOwnedField,
                        message: "users.credits is set by the server".into(),
                    },
                },
            ],
        },
    );
}

#[test]
fn pull_messages() {
    check(
        "pull_request",
        &PullRequest {
            collection: "prompts".into(),
            checkpoint: 1200,
            max_bytes: Some(1_048_576),
        },
    );
    check(
        "pull_response",
        &PullResponse {
            collection: "prompts".into(),
            changes: vec![
                Change {
                    seq: 1201,
                    id: "p1".into(),
                    document: doc! { "_id": "p1", "title": "T", "version": 2_i64 },
                    left_scope: false,
                },
                Change {
                    seq: 1205,
                    id: "p2".into(),
                    document: doc! { "_id": "p2", "deleted_at": when(), "version": 7_i64 },
                    left_scope: false,
                },
                Change {
                    seq: 1207,
                    id: "p3".into(),
                    document: doc! { "_id": "p3" },
                    left_scope: true,
                },
            ],
            checkpoint: 1205,
            has_more: true,
            remaining_estimate: 310,
        },
    );
}

#[test]
fn error_bodies() {
    check(
        "error_body",
        &ErrorBody {
            code: ErrorCode::UpgradeRequired,
            message: "this app speaks sync protocol 2; the server speaks 1: update the app".into(),
        },
    );
    // Every code a client may meet, as docs/protocol.md lists them.
    check(
        "error_codes",
        &vec![
            ErrorCode::BadRequest,
            ErrorCode::Unauthenticated,
            ErrorCode::NotFound,
            ErrorCode::UnknownCollection,
            ErrorCode::CheckpointExpired,
            ErrorCode::PayloadTooLarge,
            ErrorCode::TooManyConnections,
            ErrorCode::UpgradeRequired,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ],
    );
}

#[test]
fn live_channel_events() {
    check(
        "live_ready",
        &LiveReady {
            through: 4_294_967_301,
            heartbeat_secs: 15,
        },
    );
    check(
        "live_changed",
        &LiveChanged {
            through: 4_294_967_302,
        },
    );
    check(
        "live_token_expired",
        &LiveClosing {
            message: "the token expired; reconnect with a fresh one".into(),
        },
    );
    // The names on the `event:` line, and each parses back from its data.
    let events = [
        LiveEvent::Ready(LiveReady {
            through: 7,
            heartbeat_secs: 15,
        }),
        LiveEvent::Changed(LiveChanged { through: 8 }),
        LiveEvent::TokenExpired(LiveClosing {
            message: "expired".into(),
        }),
        LiveEvent::Presence(presence_state()),
    ];
    let names: Vec<_> = events.iter().map(LiveEvent::name).collect();
    assert_eq!(names, ["ready", "changed", "token_expired", "presence"]);
    for event in events {
        let back = LiveEvent::parse(event.name(), &event.data()).expect("parses");
        assert_eq!(back, Some(event));
    }
    assert_eq!(LiveEvent::parse("gossip", "{}").ok(), Some(None));
}

fn presence_state() -> PresenceState {
    PresenceState {
        prompt_id: "p1".into(),
        present: vec![PresentEditor {
            user_id: "ada".into(),
            display_name: Some("Ada L.".into()),
            client_id: "laptop-1".into(),
            editing: true,
            expires_at_ms: 1_796_200_030_000,
        }],
        active_editors: vec!["ada".into()],
        lock: Some(SoftLock {
            user_id: "ada".into(),
            display_name: Some("Ada L.".into()),
            client_id: "laptop-1".into(),
            lock_expiry_ms: 1_796_200_900_000,
        }),
        server_time_ms: 1_796_200_000_000,
        ttl_secs: 30,
    }
}

#[test]
fn presence_report_and_state() {
    check(
        "presence_request",
        &PresenceRequest {
            prompt_id: "p1".into(),
            client_id: "laptop-1".into(),
            open: true,
            editing: true,
            lock_secs: Some(900),
            release_lock: false,
        },
    );
    check("presence_state", &presence_state());
}

#[test]
fn pull_all_response_with_its_watermark() {
    check(
        "pull_all_response",
        &PullAllResponse {
            pages: Vec::new(),
            expired: vec!["ideas".into()],
            has_more: false,
            through: Some(4_294_967_302),
        },
    );
}

#[test]
fn sharing_requests_and_answers() {
    use promptforge_wire::schema::Collection;
    use promptforge_wire::share::*;
    check(
        "share_request",
        &ShareRequest::Share {
            collection: Collection::Prompts,
            id: "p1".into(),
            email: "grace@example.com".into(),
            permission: SharePermission::Write,
        },
    );
    check(
        "unshare_request",
        &ShareRequest::Unshare {
            collection: Collection::Ideas,
            id: "i1".into(),
            user_id: "uid-grace".into(),
        },
    );
    check(
        "share_done",
        &ShareOutcome::Done {
            version: 4,
            shared_with: vec![
                SharedWith {
                    user_id: "uid-grace".into(),
                    display_name: Some("Grace".into()),
                    permission: SharePermission::Write,
                },
                SharedWith {
                    user_id: "uid-alan".into(),
                    display_name: None,
                    permission: SharePermission::Read,
                },
            ],
        },
    );
    check(
        "share_refused",
        &ShareOutcome::refused(
            ShareRefusal::UnknownEmail,
            "no PromptForge account uses that email; ask them to sign up first",
        ),
    );
}
