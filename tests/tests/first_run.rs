//! A brand-new user, end to end against the Firebase Auth stand-in and a
//! real server on SecantusDB: sign-up (and its clear refusals), a password
//! reset that reveals nothing about which emails have accounts, the server
//! making the new account's profile with the seed's defaults on its first
//! handshake (once, even for handshakes at once), nobody finding the account
//! by email until Firebase says its owner verified it, and the new account
//! syncing a prompt to a second desktop signed in with the same password.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bson::doc;
use promptforge_sync::engine::account::{AuthError, FirebaseAuth};
use promptforge_sync::schema::{Prompt, User};
use promptforge_sync::SyncConfig;
use promptforge_tests::desktop::Desktop;
use promptforge_tests::firebase::{FakeFirebase, API_KEY};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::token;
use promptforge_wire::teams::{TeamOutcome, TeamRefusal, TeamRequest, TEAMS_PATH};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_signs_up_gets_a_profile_and_syncs_to_a_second_desktop() {
    let server = TestServer::start(&MONGO).await;
    let firebase = FakeFirebase::start().await.expect("Firebase stand-in");
    let auth = FirebaseAuth::new(API_KEY, Some(&firebase.base)).expect("auth client");

    // Sign-up's refusals are named.
    assert_eq!(
        auth.sign_up("not-an-email", "long enough").await.err(),
        Some(AuthError::InvalidEmail)
    );
    assert!(matches!(
        auth.sign_up("nova@example.com", "short").await,
        Err(AuthError::WeakPassword(why)) if why.contains('6')
    ));
    let session = auth
        .sign_up("Nova@Example.com", "correct horse")
        .await
        .expect("sign up");
    assert_eq!(session.email, "nova@example.com");
    assert_eq!(
        auth.sign_up("nova@example.com", "another one").await.err(),
        Some(AuthError::EmailInUse)
    );
    assert_eq!(firebase.sign_ups(), 1);

    // A reset answers the same for a known and an unknown email.
    auth.send_password_reset("nova@example.com")
        .await
        .expect("reset for a known email");
    auth.send_password_reset("nobody@example.com")
        .await
        .expect("reset for an unknown email");
    assert_eq!(
        auth.send_password_reset("nova").await.err(),
        Some(AuthError::InvalidEmail)
    );
    assert_eq!(
        firebase.resets(),
        ["nova@example.com", "nobody@example.com"]
    );

    // The first sync makes the profile, with the seed's defaults; many
    // first handshakes at once make one.
    let profiles = server.collection("users").await;
    assert_eq!(
        profiles
            .count_documents(doc! { "_id": &session.user_id })
            .await
            .expect("count"),
        0
    );
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let laptop = Desktop::open_with_token(
        dirs[0].path(),
        &server.base,
        session.id_token.clone(),
        SyncConfig::default(),
    )
    .await;
    let (a, b, c) = tokio::join!(laptop.sync(), laptop.sync(), laptop.sync());
    for round in [a, b, c] {
        round.expect("a first sync");
    }
    assert_eq!(
        profiles
            .count_documents(doc! { "_id": &session.user_id })
            .await
            .expect("count"),
        1
    );
    laptop.synced().await;
    let profile: Option<User> = laptop
        .store()
        .get(&session.user_id)
        .await
        .expect("read the profile");
    let profile = profile.expect("the new profile reached the desktop");
    assert_eq!(profile.email, "nova@example.com");
    assert_eq!(profile.display_name, "nova");
    assert_eq!(profile.credits.balance, 0);
    assert_eq!(profile.subscription.tier.as_deref(), Some("free"));
    assert_eq!(profile.subscription.status.as_deref(), Some("active"));
    assert_eq!(profile.version, 1);
    assert!(!profile.email_verified);
    server.assert_seed_required().await;

    // Until its owner verifies the email, nobody finds the account by it:
    // whoever signed up with someone else's address gets nothing meant for
    // them.
    auth.send_email_verification(&session)
        .await
        .expect("send the verification link");
    assert_eq!(firebase.verifications(), ["nova@example.com"]);
    let team: TeamOutcome = server
        .call(
            TEAMS_PATH,
            &token("ada"),
            &TeamRequest::Create {
                team_id: "crew".into(),
                name: "Crew".into(),
                description: None,
            },
        )
        .await;
    assert!(matches!(team, TeamOutcome::Done { .. }), "{team:?}");
    let invite = TeamRequest::Invite {
        team_id: "crew".into(),
        email: "nova@example.com".into(),
        role: None,
    };
    let before: TeamOutcome = server.call(TEAMS_PATH, &token("ada"), &invite).await;
    assert!(
        matches!(
            before,
            TeamOutcome::Refused {
                reason: TeamRefusal::UnknownEmail,
                ..
            }
        ),
        "{before:?}"
    );
    firebase.verify_email("nova@example.com");

    // A prompt written on the laptop reaches a second desktop signed in
    // with the same email and password.
    let prompt = laptop
        .store()
        .create(Prompt::new(&session.user_id, "First prompt", "Hello"))
        .await
        .expect("prompt");
    laptop.synced().await;
    let again = auth
        .sign_in("nova@example.com", "correct horse")
        .await
        .expect("sign in");
    assert_eq!(again.user_id, session.user_id);
    let desktop = Desktop::open_with_token(
        dirs[1].path(),
        &server.base,
        again.id_token,
        SyncConfig::default(),
    )
    .await;
    // Its first handshake carries the verified email to the profile.
    desktop.synced().await;
    let after: TeamOutcome = server.call(TEAMS_PATH, &token("ada"), &invite).await;
    assert!(matches!(after, TeamOutcome::Done { .. }), "{after:?}");
    let verified = profiles
        .find_one(doc! { "_id": &session.user_id })
        .await
        .expect("read")
        .is_some_and(|p| p.get_bool("email_verified") == Ok(true));
    assert!(verified, "the profile says the email is verified");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        desktop.synced().await;
        let found: Option<Prompt> = desktop.store().get(&prompt.id).await.expect("read");
        if found.is_some_and(|p| p.title == "First prompt") {
            break;
        }
        assert!(Instant::now() < deadline, "the prompt never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_an_email_makes_no_profile() {
    let server = TestServer::start(&MONGO).await;
    let dir = tempfile::tempdir().expect("dir");
    let desktop = Desktop::open_with_token(
        dir.path(),
        &server.base,
        token("phone-user"),
        SyncConfig::default(),
    )
    .await;
    desktop.synced().await;
    let made = server
        .collection("users")
        .await
        .count_documents(doc! { "_id": "phone-user" })
        .await
        .expect("count");
    assert_eq!(made, 0, "a profile needs an email, which this token lacks");
}
