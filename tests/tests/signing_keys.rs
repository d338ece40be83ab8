//! The signing-key path README tells operators to deploy: the sync server's
//! verifier fetching the JWKS from a URL (a real HTTP server here), keeping
//! it cached, refetching when a token names a key it does not know (a key
//! rotation), and not hammering the URL for made-up key ids.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use promptforge_server::Verifier;
use promptforge_tests::tokens::{fixture, TokenSpec, AUDIENCE, ISSUER};

#[derive(Debug, Default)]
struct KeyServer {
    jwks: Mutex<String>,
    fetches: AtomicUsize,
}

async fn serve_keys(State(keys): State<Arc<KeyServer>>) -> String {
    keys.fetches.fetch_add(1, Ordering::SeqCst);
    keys.jwks
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

#[tokio::test]
async fn keys_come_from_the_url_are_cached_and_refetched_on_rotation() {
    let keys = Arc::new(KeyServer {
        jwks: Mutex::new(read_fixture("jwks.json")),
        fetches: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/keys.json", listener.local_addr().expect("addr"));
    let app = Router::new()
        .route("/keys.json", get(serve_keys))
        .with_state(keys.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let verifier = Verifier::from_jwks_url(&url, ISSUER, AUDIENCE)
        .await
        .expect("keys fetched at start");
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1);
    let first = TokenSpec::valid("alice").sign();
    for _ in 0..3 {
        let claims = verifier
            .verify(&first)
            .await
            .expect("a token of the served key");
        assert_eq!(claims.sub, "alice");
    }
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        1,
        "known keys are served from the cache"
    );

    // The issuer rotates to a new key; a token signed with it names a key
    // id the verifier has not seen, which makes it fetch the set again.
    *keys.jwks.lock().expect("lock") = read_fixture("jwks-rotated.json");
    let rotated = TokenSpec {
        key_file: "other-signing-key.pem",
        key_id: "test-key-2",
        ..TokenSpec::valid("bob")
    }
    .sign();
    let claims = verifier
        .verify(&rotated)
        .await
        .expect("a token of the new key");
    assert_eq!(claims.sub, "bob");
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);

    // The old key was rotated out, and made-up key ids do not make the
    // verifier fetch again within a minute of the last fetch.
    assert!(
        verifier.verify(&first).await.is_err(),
        "the old key is gone"
    );
    let made_up = TokenSpec {
        key_id: "made-up",
        ..TokenSpec::valid("mallory")
    }
    .sign();
    for _ in 0..5 {
        assert!(verifier.verify(&made_up).await.is_err());
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2, "no refetch storm");
}

#[tokio::test]
async fn a_key_url_that_does_not_answer_is_a_clear_error_at_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/keys.json", listener.local_addr().expect("addr"));
    drop(listener);
    let err = Verifier::from_jwks_url(&url, ISSUER, AUDIENCE)
        .await
        .expect_err("nothing serves the keys");
    assert!(err.to_string().contains("signing keys"), "{err}");
}
