//! The desktop app with the cloud: its commands on Tauri's mock runtime over
//! real profiles, the real sync server on SecantusDB, and the Firebase Auth
//! stand-in. Covers which library an account gets (the local
//! one attached, or a profile of its own), the account file, a relaunch, a
//! refused password, and a purchase from publishing to the delivered prompt.

use std::sync::LazyLock;

use anyhow::Context;
use promptforge_desktop::library::LOCAL_PROFILE;
use promptforge_sync::engine::MarketCall;
use promptforge_tests::accounts::put_user;
use promptforge_tests::desktop::Desktop;
use promptforge_tests::desktop_app::{titles, DesktopApp};
use promptforge_tests::firebase::{FakeFirebase, API_KEY};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::{TestServer, MODERATOR};
use promptforge_wire::market::{MarketOutcome, ModerateRequest, ModerationAction};
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const USER: &str = "ada";
/// The profile an account gets when the local library is not attached.
const ACCOUNT_PROFILE: &str = "account-ada";

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// A sync server on a fresh database and a Firebase stand-in that knows
/// Ada, both served on Tauri's runtime (the one the app's commands run on).
struct Cloud {
    server: TestServer,
    auth: FakeFirebase,
}

impl Cloud {
    fn start() -> anyhow::Result<Cloud> {
        let server = tauri::async_runtime::block_on(TestServer::start(&MONGO));
        let auth = tauri::async_runtime::block_on(FakeFirebase::start())?;
        auth.add_account(EMAIL, PASSWORD, USER);
        Ok(Cloud { server, auth })
    }

    /// Launches the app on `dir`, set up for this cloud.
    fn app(&self, dir: &std::path::Path) -> anyhow::Result<DesktopApp> {
        let app = DesktopApp::open(dir)?;
        self.configure(&app)?;
        Ok(app)
    }

    /// Saves this server and sign-in service in the app's settings.
    fn configure(&self, app: &DesktopApp) -> anyhow::Result<()> {
        app.configure_sync(&self.server.base, &self.auth.base, API_KEY)?;
        Ok(())
    }

    /// How many password sign-ins Firebase answered.
    fn sign_ins(&self) -> usize {
        self.auth.counts().0
    }
}

fn sign_in_args(password: &str, attach_library: bool) -> Value {
    json!({ "email": EMAIL, "password": password, "attachLibrary": attach_library })
}

fn user_id(info: &Value) -> anyhow::Result<String> {
    info["user_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("app_info has no user_id: {info}"))
}

#[test]
fn attaching_keeps_the_local_library_and_its_prompts_reach_the_account() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let (laptop_dir, desktop_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let laptop = DesktopApp::open(laptop_dir.path())?;
    laptop.create_prompt("Haiku writer", "Write a haiku about {topic}")?;
    laptop.create_prompt("Tweet drafter", "Draft a tweet about {news}")?;
    assert!(user_id(&laptop.info()?)?.starts_with("local-"));
    cloud.configure(&laptop)?;

    let account = laptop.ok("sign_in", sign_in_args(PASSWORD, true))?;
    assert_eq!(account["user_id"], USER, "{account}");
    assert_eq!(account["email"], EMAIL, "{account}");
    assert_eq!(
        account["server_url"],
        cloud.server.base.as_str(),
        "{account}"
    );
    let info = laptop.info()?;
    assert_eq!(
        info["profile_dir"],
        laptop.profile_dir(LOCAL_PROFILE).as_str(),
        "the local library stays open: {info}"
    );
    assert_eq!(info["account"]["email"], EMAIL, "{info}");
    assert_eq!(
        laptop.prompt_titles()?,
        ["Haiku writer", "Tweet drafter"],
        "the prompts written before signing in are still listed"
    );

    let status = laptop.sync_and_wait()?;
    assert_eq!(status["needs_attention"], 0, "nothing refused: {status}");
    assert_eq!(
        user_id(&laptop.info()?)?,
        USER,
        "the local library now belongs to the account"
    );
    let mine = laptop.ok(
        "list_documents",
        json!({ "collection": "prompts", "query": { "mine": true } }),
    )?;
    let mut mine = titles(&mine);
    mine.sort();
    assert_eq!(mine, ["Haiku writer", "Tweet drafter"]);

    // A second desktop signed into the same account receives them.
    let desktop = cloud.app(desktop_dir.path())?;
    desktop.ok("sign_in", sign_in_args(PASSWORD, true))?;
    desktop.wait_until("the laptop's prompts on the second desktop", |app| {
        app.ok("sync_now", json!({}))?;
        Ok(app.prompt_titles()? == ["Haiku writer", "Tweet drafter"])
    })?;
    assert_eq!(cloud.sign_ins(), 2, "one password sign-in per desktop");
    desktop.quit();
    laptop.quit();
    Ok(())
}

#[test]
fn declining_to_attach_opens_own_profile_and_sign_out_goes_back_to_local() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    app.create_prompt("Local only", "Stays on this computer")?;
    let local_user = user_id(&app.info()?)?;
    cloud.configure(&app)?;

    let account = app.ok("sign_in", sign_in_args(PASSWORD, false))?;
    assert_eq!(account["user_id"], USER, "{account}");
    let info = app.info()?;
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(ACCOUNT_PROFILE).as_str(),
        "{info}"
    );
    assert_eq!(info["local_documents"], 0, "{info}");
    assert_eq!(info["account"]["user_id"], USER, "{info}");
    assert!(
        app.prompt_titles()?.is_empty(),
        "the local prompts are not in the account's profile"
    );
    app.create_prompt("Written signed in", "Belongs to the account")?;
    app.sync_and_wait()?;
    assert_eq!(user_id(&app.info()?)?, USER);

    assert_eq!(app.ok("sign_out", json!({}))?, Value::Null);
    let info = app.info()?;
    assert!(info["account"].is_null(), "{info}");
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(LOCAL_PROFILE).as_str(),
        "{info}"
    );
    assert_eq!(
        user_id(&info)?,
        local_user,
        "the local library was not attached"
    );
    assert_eq!(app.prompt_titles()?, ["Local only"]);
    let err = app.err("sync_now", json!({}))?;
    assert_eq!(err["code"], "local_only", "{err}");

    // Signing in again, still declining, opens the same account profile.
    app.ok("sign_in", sign_in_args(PASSWORD, false))?;
    let info = app.info()?;
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(ACCOUNT_PROFILE).as_str(),
        "{info}"
    );
    assert_eq!(app.prompt_titles()?, ["Written signed in"]);
    app.quit();
    Ok(())
}

#[test]
fn an_empty_local_library_is_attached_without_asking() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    assert_eq!(app.info()?["local_documents"], 0);
    cloud.configure(&app)?;

    // Declining to attach does not matter: there is nothing to keep apart.
    app.ok("sign_in", sign_in_args(PASSWORD, false))?;
    let info = app.info()?;
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(LOCAL_PROFILE).as_str(),
        "{info}"
    );
    assert!(
        !dir.path().join("profiles").join(ACCOUNT_PROFILE).exists(),
        "no profile of its own was made for the account"
    );
    let record: Value = serde_json::from_slice(&std::fs::read(app.account_file())?)?;
    assert_eq!(record["profile"], LOCAL_PROFILE, "{record}");

    app.sync_and_wait()?;
    assert_eq!(
        user_id(&app.info()?)?,
        USER,
        "the local library is attached to the account"
    );
    app.quit();
    Ok(())
}

#[test]
fn the_account_file_is_owner_only_has_no_password_and_goes_on_sign_out() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let dir = tempfile::tempdir()?;
    let app = cloud.app(dir.path())?;
    let file = app.account_file();
    assert!(!file.exists(), "no account before signing in");

    app.ok("sign_in", sign_in_args(PASSWORD, true))?;
    assert!(file.exists(), "signing in saves the account");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)?.permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "account.json is readable by its owner only"
        );
    }
    let text = std::fs::read_to_string(&file)?;
    assert!(
        !text.contains(PASSWORD),
        "account.json holds the password: {text}"
    );
    let record: Value = serde_json::from_str(&text)?;
    assert_eq!(record["session"]["user_id"], USER, "{record}");
    assert_eq!(record["session"]["email"], EMAIL, "{record}");
    assert_eq!(record["server_url"], cloud.server.base.as_str(), "{record}");
    assert!(
        !dir.path().join("account.json.tmp").exists(),
        "no temporary file left behind"
    );

    app.ok("sign_out", json!({}))?;
    assert!(!file.exists(), "signing out forgets the account");
    assert!(app.info()?["account"].is_null());
    let err = app.err("sync_now", json!({}))?;
    assert_eq!(err["code"], "local_only", "sync stopped: {err}");
    app.quit();
    Ok(())
}

#[test]
fn a_relaunch_comes_back_signed_in_to_the_same_profile() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let dir = tempfile::tempdir()?;
    {
        let app = DesktopApp::open(dir.path())?;
        app.create_prompt("Local draft", "Not for the account")?;
        cloud.configure(&app)?;
        app.ok("sign_in", sign_in_args(PASSWORD, false))?;
        app.create_prompt("Account prompt", "Synced with the account")?;
        app.sync_and_wait()?;
        app.quit();
    }
    // Both libraries were closed cleanly: the local one when the account's
    // opened, the account's at quit.
    for profile in [LOCAL_PROFILE, ACCOUNT_PROFILE] {
        let snapshot = dir
            .path()
            .join("profiles")
            .join(profile)
            .join("catalog.snapshot");
        assert!(snapshot.exists(), "{} was not saved", snapshot.display());
    }

    let app = DesktopApp::open(dir.path())?;
    let info = app.info()?;
    assert_eq!(info["account"]["email"], EMAIL, "{info}");
    assert_eq!(info["account"]["user_id"], USER, "{info}");
    assert_eq!(
        info["account"]["server_url"],
        cloud.server.base.as_str(),
        "{info}"
    );
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(ACCOUNT_PROFILE).as_str(),
        "the account's own profile opens again: {info}"
    );
    assert_eq!(app.prompt_titles()?, ["Account prompt"]);
    let status = app.sync_and_wait()?;
    assert_eq!(status["needs_attention"], 0, "{status}");
    assert_eq!(
        cloud.sign_ins(),
        1,
        "the saved sign-in was used, not a new password sign-in"
    );
    app.quit();
    Ok(())
}

#[test]
fn a_wrong_password_is_refused_and_the_local_library_stays_as_it_was() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    app.create_prompt("Keep me", "as I am")?;
    let before = app.info()?;
    cloud.configure(&app)?;

    let err = app.err("sign_in", sign_in_args("not the password", true))?;
    assert_eq!(err["code"], "wrong_credentials", "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("email or password")),
        "{err}"
    );
    let err = app.err("sign_in", sign_in_args("", true))?;
    assert_eq!(err["code"], "invalid", "an empty password: {err}");

    let info = app.info()?;
    assert!(info["account"].is_null(), "{info}");
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(LOCAL_PROFILE).as_str(),
        "{info}"
    );
    assert_eq!(info["user_id"], before["user_id"], "{info}");
    assert_eq!(info["local_documents"], 1, "{info}");
    assert_eq!(app.prompt_titles()?, ["Keep me"]);
    assert!(!app.account_file().exists(), "no account saved");
    let err = app.err("sync_now", json!({}))?;
    assert_eq!(err["code"], "local_only", "{err}");
    assert_eq!(cloud.sign_ins(), 0);

    // The right password still works afterwards, on the same library.
    app.ok("sign_in", sign_in_args(PASSWORD, true))?;
    assert_eq!(app.prompt_titles()?, ["Keep me"]);
    app.quit();
    Ok(())
}

#[test]
fn a_purchase_in_the_app_is_settled_by_the_server_and_delivers_the_prompt() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    let (uri, database) = (MONGO.uri.clone(), cloud.server.database.clone());
    tauri::async_runtime::block_on(async {
        put_user(&uri, &database, "sally", 0).await;
        put_user(&uri, &database, "bert", 100).await;
    });
    cloud
        .auth
        .add_account("sally@example.com", PASSWORD, "sally");
    cloud.auth.add_account("bert@example.com", PASSWORD, "bert");
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];

    // The seller writes the prompt and a draft listing, then publishes.
    let seller = cloud.app(dirs[0].path())?;
    seller.ok(
        "sign_in",
        json!({ "email": "sally@example.com", "password": PASSWORD, "attachLibrary": true }),
    )?;
    // The first round attaches the library to the account.
    seller.sync_and_wait()?;
    let prompt = seller.create_prompt("Product copy", "SECRET full prompt text")?;
    let listing = seller.ok(
        "create_document",
        json!({ "collection": "marketplace_listings", "fields": {
            "prompt_id": prompt["_id"],
            "title": "Copy that sells",
            "description": "Writes product descriptions that sell.",
            "short_description": "Product copy",
            "category": "marketing",
            "price": 30,
            "preview_content": "You are a copywriter. Describe {product} ...",
        } }),
    )?;
    assert_eq!(listing["seller_id"], "sally", "{listing}");
    assert_eq!(listing["status"], "draft", "{listing}");
    seller.sync_and_wait()?;
    let listing_id = listing["_id"].clone();
    // The server names what a listing lacks; the seller adds it and retries.
    let incomplete = seller.err("publish_listing", json!({ "listingId": listing_id }))?;
    assert_eq!(incomplete["code"], "invalid", "{incomplete}");
    assert!(
        incomplete["message"]
            .as_str()
            .is_some_and(|m| m.contains("licensing.license_type")),
        "{incomplete}"
    );
    seller.ok(
        "update_document",
        json!({ "collection": "marketplace_listings", "id": listing_id, "changes": {
            "licensing.license_type": "personal",
            "licensing.usage_rights": ["commercial"],
        } }),
    )?;
    seller.sync_and_wait()?;
    let published = seller.ok("publish_listing", json!({ "listingId": listing_id }))?;
    assert_eq!(published["document"]["status"], "pending", "{published}");

    // A moderator (a plain sync client here) approves it.
    let approved = tauri::async_runtime::block_on(async {
        let moderator = Desktop::open(dirs[2].path(), &cloud.server.base, MODERATOR).await;
        let request = ModerateRequest {
            listing_id: listing_id.as_str().unwrap_or_default().to_owned(),
            action: ModerationAction::Approve,
            notes: None,
            idempotency_key: None,
        };
        moderator
            .engine
            .transport()
            .market(MarketCall::Moderate, &request)
            .await
    })?;
    assert!(
        matches!(approved, MarketOutcome::Done { .. }),
        "{approved:?}"
    );

    // The buyer sees it on sale, and buys at the price shown.
    let buyer = cloud.app(dirs[1].path())?;
    buyer.ok(
        "sign_in",
        json!({ "email": "bert@example.com", "password": PASSWORD, "attachLibrary": true }),
    )?;
    buyer.wait_until("the approved listing in the buyer's library", |app| {
        app.ok("sync_now", json!({}))?;
        let on_sale = app.ok(
            "list_documents",
            json!({ "collection": "marketplace_listings", "query": { "status": "approved" } }),
        )?;
        Ok(titles(&on_sale) == ["Copy that sells"])
    })?;
    let stale = buyer.err(
        "buy_listing",
        json!({ "listingId": listing_id, "expectedPrice": 20 }),
    )?;
    assert_eq!(stale["code"], "price_changed", "{stale}");
    let bought = buyer.ok(
        "buy_listing",
        json!({ "listingId": listing_id, "expectedPrice": 30 }),
    )?;
    assert_eq!(bought["balance"], 70, "{bought}");
    assert_eq!(bought["document"]["platform_fee"], 6, "{bought}");
    let delivered = bought["delivered_prompt_id"]
        .as_str()
        .with_context(|| format!("no prompt delivered: {bought}"))?
        .to_owned();
    let twice = buyer.err(
        "buy_listing",
        json!({ "listingId": listing_id, "expectedPrice": 30 }),
    )?;
    assert_eq!(twice["code"], "already_purchased", "{twice}");

    // The bought prompt, full text included, is in the buyer's library.
    buyer.wait_until("the bought prompt in the buyer's library", |app| {
        let got = app.call(
            "get_document",
            json!({ "collection": "prompts", "id": delivered }),
        );
        Ok(got.is_ok_and(|p| p["content"] == "SECRET full prompt text"))
    })?;
    let purchases = buyer.ok(
        "list_documents",
        json!({ "collection": "marketplace_purchases", "query": {} }),
    )?;
    assert_eq!(purchases["total"], 1, "{purchases}");
    buyer.quit();
    seller.quit();
    Ok(())
}

#[test]
fn a_library_attached_to_one_account_is_never_given_to_another() -> anyhow::Result<()> {
    let cloud = Cloud::start()?;
    cloud
        .auth
        .add_account("grace@example.com", PASSWORD, "grace");
    let dir = tempfile::tempdir()?;
    let app = cloud.app(dir.path())?;
    app.create_prompt("Ada's draft", "Belongs to Ada once attached")?;
    app.ok("sign_in", sign_in_args(PASSWORD, true))?;
    app.sync_and_wait()?;
    assert_eq!(user_id(&app.info()?)?, USER);
    assert_eq!(app.ok("sign_out", json!({}))?, Value::Null);

    // Grace signs in on the same computer and asks to attach: the library
    // there is Ada's, so Grace gets a profile of her own.
    let account = app.ok(
        "sign_in",
        json!({ "email": "grace@example.com", "password": PASSWORD, "attachLibrary": true }),
    )?;
    assert_eq!(account["user_id"], "grace", "{account}");
    let info = app.info()?;
    assert_eq!(
        info["profile_dir"],
        app.profile_dir("account-grace").as_str(),
        "{info}"
    );
    assert!(
        app.prompt_titles()?.is_empty(),
        "Ada's prompts stay out of Grace's library"
    );
    app.sync_and_wait()?;
    assert!(app.prompt_titles()?.is_empty(), "nor arrive by sync");
    app.ok("sign_out", json!({}))?;

    // Ada signs in again and finds her library as she left it.
    app.ok("sign_in", sign_in_args(PASSWORD, false))?;
    let info = app.info()?;
    assert_eq!(
        info["profile_dir"],
        app.profile_dir(LOCAL_PROFILE).as_str(),
        "{info}"
    );
    assert_eq!(app.prompt_titles()?, ["Ada's draft"]);
    app.quit();
    Ok(())
}
