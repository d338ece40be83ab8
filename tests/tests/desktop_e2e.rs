//! End to end on the real desktop app: the `promptforge-desktop` binary in a
//! WebKitGTK window under Xvfb, driven through Debian's WebKitWebDriver, on
//! real PoloDB profiles; for sync, the real sync server on SecantusDB and a
//! Firebase Auth stand-in. The second also forms a team and invites a
//! colleague from the Teams screen; the third is a brand-new user signing
//! up with nothing typed but an email and a password.

use promptforge_tests::firebase::{FakeFirebase, API_KEY};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::webdriver::{App, Display};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_written_and_edited_is_there_after_a_relaunch() -> anyhow::Result<()> {
    let display = Display::start()?;
    let data = tempfile::tempdir()?;

    let app = App::launch(&display, data.path()).await?;
    app.wait_until_texts("sync-indicator", "local-only", |t| {
        t.iter().any(|s| s.contains("Local only"))
    })
    .await?;
    app.click("new-prompt").await?;
    app.fill("prompt-title", "Haiku writer").await?;
    app.fill("prompt-content", "Write a haiku about the sea")
        .await?;
    app.click("prompt-save").await?;
    app.wait_until_texts("prompt-row", "the new prompt", |rows| {
        rows.iter().any(|r| r.contains("Haiku writer"))
    })
    .await?;

    app.fill("prompt-content", "Write a haiku about the sea at night")
        .await?;
    app.click("prompt-save").await?;
    app.click("prompt-history").await?;
    let versions = app
        .wait_until_texts("version-row", "two versions", |rows| rows.len() == 2)
        .await?;
    assert!(versions.iter().any(|v| v.contains("v1")), "{versions:?}");
    assert!(versions.iter().any(|v| v.contains("v2")), "{versions:?}");
    app.quit().await?;

    let app = App::launch(&display, data.path()).await?;
    app.fill("search", "haiku").await?;
    let rows = app
        .wait_until_texts("prompt-row", "the saved prompt", |rows| {
            rows.iter().any(|r| r.contains("Haiku writer"))
        })
        .await?;
    assert_eq!(rows.len(), 1, "{rows:?}");
    app.wait_for("prompt-row").await?.click().await?;
    let deadline = std::time::Instant::now() + promptforge_tests::webdriver::STEP_TIMEOUT;
    loop {
        let content = app.value("prompt-content").await?;
        if content == "Write a haiku about the sea at night" {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the editor shows {content:?} after the relaunch"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.click("prompt-history").await?;
    app.wait_until_texts("version-row", "both versions after relaunch", |rows| {
        rows.len() == 2
    })
    .await?;
    app.quit().await
}

/// Fills the sync settings and signs in through the Settings screen.
async fn sign_in(
    app: &App,
    server: &TestServer,
    auth: &FakeFirebase,
    email: &str,
) -> anyhow::Result<()> {
    app.click("nav-settings").await?;
    app.fill("settings-server-url", &server.base).await?;
    app.fill("settings-auth-url", &auth.base).await?;
    app.fill("settings-firebase-key", API_KEY).await?;
    app.click("settings-save").await?;
    app.fill("signin-email", email).await?;
    app.fill("signin-password", "correct horse").await?;
    app.click("signin-submit").await?;
    app.wait_until_texts("account-email", "the signed-in account", |t| {
        t.iter().any(|s| s.contains(email))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_written_on_one_desktop_reaches_another_through_the_server() -> anyhow::Result<()>
{
    let mongo = MongoServer::start()?;
    let server = TestServer::start(&mongo).await;
    let auth = FakeFirebase::start().await?;
    auth.add_account("ada@example.com", "correct horse", "ada");
    let display = Display::start()?;
    let (laptop_dir, desktop_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);

    let laptop = App::launch(&display, laptop_dir.path()).await?;
    laptop.click("new-prompt").await?;
    laptop.fill("prompt-title", "Written offline").await?;
    laptop
        .fill("prompt-content", "Summarise {text} in three bullets")
        .await?;
    laptop.click("prompt-save").await?;
    laptop
        .wait_until_texts("prompt-row", "the offline prompt", |rows| {
            rows.iter().any(|r| r.contains("Written offline"))
        })
        .await?;
    sign_in(&laptop, &server, &auth, "ada@example.com").await?;
    // Signed in against a server with a live channel: up to date, and live.
    laptop
        .wait_until_texts("sync-indicator", "live", |t| t.iter().any(|s| s == "Live"))
        .await?;
    laptop
        .wait_until_texts("pending-count", "nothing pending", |t| {
            t.iter().any(|s| s.starts_with('0'))
        })
        .await?;

    let desktop = App::launch(&display, desktop_dir.path()).await?;
    sign_in(&desktop, &server, &auth, "ada@example.com").await?;
    desktop.click("nav-prompts").await?;
    let arrived = desktop
        .wait_until_texts("prompt-row", "the laptop's prompt", |rows| {
            rows.iter().any(|r| r.contains("Written offline"))
        })
        .await;
    if let Err(err) = arrived {
        let logs = std::fs::read_dir(desktop_dir.path().join("logs"))?
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect::<String>();
        anyhow::bail!("{err}\nthe second desktop's log:\n{logs}");
    }
    assert_eq!(auth.counts().0, 2, "one password sign-in per desktop");

    // Both open and live: a prompt saved on the laptop appears in the
    // desktop's open list with no click. While live, the desktop's timer
    // rounds are 10 minutes apart, so only the live hint explains it.
    desktop
        .wait_until_texts("sync-indicator", "live", |t| t.iter().any(|s| s == "Live"))
        .await?;
    laptop.click("nav-prompts").await?;
    laptop.click("new-prompt").await?;
    laptop
        .fill("prompt-title", "Written while both were open")
        .await?;
    laptop.fill("prompt-content", "Say hello").await?;
    laptop.click("prompt-save").await?;
    desktop
        .wait_until_texts("prompt-row", "the laptop's live prompt", |rows| {
            rows.iter()
                .any(|r| r.contains("Written while both were open"))
        })
        .await?;

    // Ada forms a team in the Teams screen and invites a colleague by email;
    // the server holds the invitation and tells him.
    let mut profile = promptforge_wire::schema::User::new("ben", "ben@example.com", "Ben");
    profile.email_verified = true;
    server
        .collection("users")
        .await
        .insert_one(promptforge_tests::push_client::doc_of(&profile))
        .await?;
    laptop.click("nav-teams").await?;
    laptop.fill("team-name", "Crew").await?;
    laptop.click("team-create").await?;
    laptop
        .wait_until_texts("team-row", "the new team", |rows| {
            rows.iter().any(|r| r.contains("Crew"))
        })
        .await?;
    laptop.fill("invite-email", "ben@example.com").await?;
    laptop.click("invite-submit").await?;
    laptop
        .wait_until_texts("info-toast", "the invitation sent", |t| {
            t.iter()
                .any(|s| s.contains("Invitation sent to ben@example.com"))
        })
        .await?;
    let invitation = server
        .collection("team_invitations")
        .await
        .find_one(bson::doc! { "user_id": "ben" })
        .await?;
    assert!(
        invitation.is_some_and(|i| i.get_str("invited_by") == Ok("ada")),
        "the server holds Ada's invitation for Ben"
    );
    let told = server
        .collection("notifications")
        .await
        .find_one(bson::doc! { "user_id": "ben", "category": "teams" })
        .await?;
    assert!(told.is_some(), "Ben is told of the invitation");
    laptop.quit().await?;
    desktop.quit().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_signs_up_with_the_shipped_defaults_and_syncs() -> anyhow::Result<()> {
    use promptforge_sync::engine::account::FirebaseAuth;
    use promptforge_sync::schema::Prompt;
    use promptforge_tests::desktop::Desktop;

    let mongo = MongoServer::start()?;
    let server = TestServer::start(&mongo).await;
    let auth = FakeFirebase::start().await?;
    let display = Display::start()?;
    let (app_dir, other_dir, dist_dir) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    // What a distributor ships beside the app: where its service is.
    let distribution = dist_dir.path().join("distribution.json");
    std::fs::write(
        &distribution,
        serde_json::to_vec(&serde_json::json!({
            "server_url": server.base,
            "firebase_api_key": API_KEY,
            "firebase_project_id": "promptforge-test",
            "auth_url": auth.base,
        }))?,
    )?;
    let distribution = distribution.to_string_lossy().into_owned();
    let app = App::launch_with_env(
        &display,
        app_dir.path(),
        &[("PROMPTFORGE_DISTRIBUTION", distribution.as_str())],
    )
    .await?;

    app.click("nav-settings").await?;
    app.click("auth-mode-signup").await?;
    app.fill("signup-email", "nova@example.com").await?;
    app.fill("signup-password", "correct horse").await?;
    app.fill("signup-confirm", "correct horse").await?;
    app.click("signup-submit").await?;
    app.wait_until_texts("account-email", "the new account signed in", |t| {
        t.iter().any(|s| s.contains("nova@example.com"))
    })
    .await?;
    assert_eq!(auth.sign_ups(), 1);
    assert_eq!(
        auth.verifications(),
        ["nova@example.com"],
        "the app asked for the verification link"
    );
    let user = auth
        .user_id("nova@example.com")
        .ok_or_else(|| anyhow::anyhow!("the stand-in has no account for the new user"))?;

    app.click("nav-prompts").await?;
    app.click("new-prompt").await?;
    app.fill("prompt-title", "My first prompt").await?;
    app.fill("prompt-content", "Hello, {name}").await?;
    app.click("prompt-save").await?;
    app.wait_until_texts("pending-count", "nothing pending", |t| {
        t.iter().any(|s| s.starts_with('0'))
    })
    .await?;
    let profile = server
        .collection("users")
        .await
        .find_one(bson::doc! { "_id": &user })
        .await?;
    assert!(
        profile.is_some_and(|p| p.get_str("email") == Ok("nova@example.com")),
        "the server made the new account's profile"
    );

    // A second desktop, signed in with the same password, receives it.
    let firebase = FirebaseAuth::new(API_KEY, Some(&auth.base))?;
    let session = firebase
        .sign_in("nova@example.com", "correct horse")
        .await?;
    let other = Desktop::open_with_token(
        other_dir.path(),
        &server.base,
        session.id_token,
        Default::default(),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        other.synced().await;
        let prompts = other
            .store()
            .list::<Prompt>(Default::default())
            .await?
            .items;
        if prompts.iter().any(|p| p.title == "My first prompt") {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the prompt never reached the second desktop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.quit().await
}
