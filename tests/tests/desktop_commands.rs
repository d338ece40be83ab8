//! The desktop app's commands on Tauri's mock runtime, each test against a
//! real PoloDB profile in a temporary directory: the calls the UI makes,
//! with the JSON it sends and receives.

use promptforge_tests::desktop_app::DesktopApp;
use serde_json::{json, Value};

mod parity;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_prompt_is_written_found_versioned_forked_and_trashed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    let prompt = app.ok(
        "create_document",
        json!({ "collection": "prompts", "fields": {
            "title": "Haiku writer", "content": "Write a haiku about {topic}",
            "tags": ["poetry"], "difficulty": "advanced", "category": "writing"
        }}),
    )?;
    let id = prompt["_id"].as_str().ok_or("no _id")?.to_owned();
    assert_eq!(prompt["user_id"], app.ok("app_info", json!({}))?["user_id"]);
    assert!(prompt["created_at"]["$date"].is_string(), "{prompt}");
    app.ok(
        "create_document",
        json!({ "collection": "prompts", "fields": { "title": "Tweet drafter", "content": "Draft a tweet" }}),
    )?;

    let found = app.ok(
        "list_documents",
        json!({ "collection": "prompts", "query": { "text": "haiku", "difficulty": "advanced" }}),
    )?;
    assert_eq!(titles(&found), ["Haiku writer"]);
    assert_eq!(found["total"], 1);
    let none = app.ok(
        "list_documents",
        json!({ "collection": "prompts", "query": { "text": "haiku", "difficulty": "beginner" }}),
    )?;
    assert_eq!(none["total"], 0);

    app.ok(
        "update_document",
        json!({ "collection": "prompts", "id": id, "changes": { "content": "Write a haiku about {topic}, in English" }}),
    )?;
    let versions = app.ok("prompt_versions", json!({ "promptId": id }))?;
    let numbers: Vec<i64> = versions
        .as_array()
        .ok_or("versions is not a list")?
        .iter()
        .filter_map(|v| v["version_number"].as_i64())
        .collect();
    assert_eq!(numbers, [2, 1], "newest first");
    let restored = app.ok(
        "restore_prompt_version",
        json!({ "promptId": id, "number": 1 }),
    )?;
    assert_eq!(restored["content"], "Write a haiku about {topic}");

    let fork = app.ok(
        "fork_prompt",
        json!({ "promptId": id, "changes": { "title": "Haiku (mine)" } }),
    )?;
    assert_eq!(fork["parent_prompt_id"], id.as_str());
    assert_ne!(fork["_id"], id.as_str());
    assert_eq!(fork["status"], "draft");
    assert_eq!(
        fork["title"], "Haiku (mine)",
        "a title given for the fork is kept as given"
    );
    assert_eq!(fork["marketplace"]["is_listed"], false);

    let err = app.err(
        "create_document",
        json!({ "collection": "prompts", "fields": { "title": "x", "content": "y", "user_id": "someone-else" }}),
    )?;
    assert_eq!(err["code"], "invalid", "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("user_id")),
        "{err}"
    );

    app.ok(
        "delete_document",
        json!({ "collection": "prompts", "id": id }),
    )?;
    let live = app.ok(
        "list_documents",
        json!({ "collection": "prompts", "query": {} }),
    )?;
    assert!(!titles(&live).contains(&"Haiku writer".to_owned()));
    let trash = app.ok(
        "list_documents",
        json!({ "collection": "prompts", "query": { "deleted": "only" }}),
    )?;
    assert_eq!(titles(&trash), ["Haiku writer"]);
    app.ok(
        "restore_document",
        json!({ "collection": "prompts", "id": id }),
    )?;
    let got = app.ok("get_document", json!({ "collection": "prompts", "id": id }))?;
    assert!(got["deleted_at"].is_null());
    Ok(())
}

#[test]
fn bad_input_gets_a_named_error_and_changes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    let prompt = app.ok(
        "create_document",
        json!({ "collection": "prompts", "fields": { "title": "Keep me", "content": "as I am" }}),
    )?;
    let id = prompt["_id"].as_str().ok_or("no _id")?;

    let err = app.err(
        "create_document",
        json!({ "collection": "prompts", "fields": { "content": "no title" }}),
    )?;
    assert_eq!(err["code"], "invalid", "{err}");
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("title")),
        "{err}"
    );

    let err = app.err(
        "update_document",
        json!({ "collection": "prompts", "id": id, "changes": { "difficulty": "impossible" }}),
    )?;
    assert_eq!(err["code"], "invalid", "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("difficulty")),
        "{err}"
    );

    let err = app.err(
        "update_document",
        json!({ "collection": "prompts", "id": id, "changes": ["not", "an", "object"] }),
    )?;
    assert_eq!(err["code"], "invalid", "{err}");

    let err = app.err(
        "update_document",
        json!({ "collection": "prompts", "id": "missing", "changes": { "title": "x" }}),
    )?;
    assert_eq!(err["code"], "not_found", "{err}");

    let err = app.err(
        "create_document",
        json!({ "collection": "marketplace_purchases", "fields": {} }),
    )?;
    assert_eq!(err["code"], "not_allowed", "{err}");

    let err = app.err(
        "review_purchase",
        json!({ "purchaseId": "p", "rating": 9, "review": "" }),
    )?;
    assert_eq!(err["code"], "invalid", "{err}");

    let kept = app.ok("get_document", json!({ "collection": "prompts", "id": id }))?;
    assert_eq!(kept["title"], "Keep me");
    assert_eq!(kept["content"], "as I am");
    assert_eq!(kept["difficulty"], prompt["difficulty"]);
    Ok(())
}

#[test]
fn ideas_projects_and_listings_are_created_and_listed_as_mine() -> TestResult {
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    let project = app.ok(
        "create_document",
        json!({ "collection": "projects", "fields": { "title": "Launch" }}),
    )?;
    let project_id = project["_id"].as_str().ok_or("no _id")?;
    let idea = app.ok(
        "create_document",
        json!({ "collection": "ideas", "fields": {
            "title": "Poems by mood", "description": "pick a mood", "priority": "high", "project_id": project_id
        }}),
    )?;
    app.ok(
        "update_document",
        json!({ "collection": "ideas", "id": idea["_id"], "changes": { "status": "developing", "starred": true }}),
    )?;
    let developing = app.ok(
        "list_documents",
        json!({ "collection": "ideas", "query": { "status": "developing", "starred": true, "mine": true }}),
    )?;
    assert_eq!(titles(&developing), ["Poems by mood"]);
    let in_project = app.ok(
        "list_documents",
        json!({ "collection": "ideas", "query": { "project_id": project_id }}),
    )?;
    assert_eq!(in_project["total"], 1);

    let prompt = app.ok(
        "create_document",
        json!({ "collection": "prompts", "fields": { "title": "Sellable", "content": "text" }}),
    )?;
    let listing = app.ok(
        "create_document",
        json!({ "collection": "marketplace_listings", "fields": {
            "prompt_id": prompt["_id"], "title": "Sellable", "description": "A good prompt",
            "category": "writing", "price": 40
        }}),
    )?;
    assert_eq!(listing["status"], "draft");
    let mine = app.ok(
        "list_documents",
        json!({ "collection": "marketplace_listings", "query": { "mine": true }}),
    )?;
    assert_eq!(titles(&mine), ["Sellable"]);
    let info = app.ok("app_info", json!({}))?;
    assert_eq!(info["local_documents"], 4);
    Ok(())
}

#[test]
fn without_an_account_the_library_is_local_and_online_actions_say_so() -> TestResult {
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    let info = app.ok("app_info", json!({}))?;
    assert!(info["account"].is_null());
    assert!(info["user_id"]
        .as_str()
        .is_some_and(|u| u.starts_with("local-")));
    app.ok(
        "create_document",
        json!({ "collection": "prompts", "fields": { "title": "Offline", "content": "works" }}),
    )?;
    let status = app.ok("sync_status", json!({}))?;
    assert_eq!(status["state"], "idle");
    assert!(
        status["pending"].as_u64().is_some_and(|n| n >= 1),
        "{status}"
    );
    for (cmd, args) in [
        ("sync_now", json!({})),
        (
            "buy_listing",
            json!({ "listingId": "l1", "expectedPrice": 10 }),
        ),
        ("publish_listing", json!({ "listingId": "l1" })),
    ] {
        let err = app.err(cmd, args)?;
        assert_eq!(err["code"], "local_only", "{cmd}: {err}");
        assert!(err["message"]
            .as_str()
            .is_some_and(|m| m.contains("Sign in")));
    }
    let err = app.err(
        "sign_in",
        json!({ "email": "a@example.com", "password": "pw", "attachLibrary": true }),
    )?;
    assert_eq!(err["code"], "not_configured", "{err}");
    assert_eq!(
        app.ok("list_conflicts", json!({ "includeResolved": true }))?,
        json!([])
    );
    assert_eq!(app.ok("list_attention", json!({}))?, json!([]));
    Ok(())
}

#[test]
fn settings_are_checked_saved_and_kept_across_launches() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let app = DesktopApp::open(dir.path())?;
        let defaults = app.ok("get_settings", json!({}))?;
        assert_eq!(defaults["theme"], "system");
        assert_eq!(defaults["language"], "en");

        let mut bad = defaults.clone();
        bad["server_url"] = json!("sync.example.com");
        let err = app.err("save_settings", json!({ "settings": bad }))?;
        assert_eq!(err["code"], "invalid");
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains("Server URL")),
            "{err}"
        );
        assert_eq!(
            app.ok("get_settings", json!({}))?,
            defaults,
            "a refused save changes nothing"
        );

        let mut good = defaults;
        good["server_url"] = json!(" https://sync.example.com ");
        good["theme"] = json!("dark");
        good["firebase_api_key"] = json!("key-123");
        let saved = app.ok("save_settings", json!({ "settings": good }))?;
        assert_eq!(saved["server_url"], "https://sync.example.com");
        app.ok(
            "create_document",
            json!({ "collection": "prompts", "fields": { "title": "Survives", "content": "a restart" }}),
        )?;
        app.quit();
    }
    let app = DesktopApp::open(dir.path())?;
    let settings = app.ok("get_settings", json!({}))?;
    assert_eq!(settings["theme"], "dark");
    assert_eq!(settings["server_url"], "https://sync.example.com");
    assert_eq!(settings["firebase_api_key"], "key-123");
    let prompts = app.ok(
        "list_documents",
        json!({ "collection": "prompts", "query": {} }),
    )?;
    assert_eq!(titles(&prompts), ["Survives"]);
    Ok(())
}

#[test]
fn the_ui_tests_fake_back_end_answers_as_the_real_commands_do() -> TestResult {
    let scenario = parity::load_scenario()?;
    let fake = parity::fake_outcomes()?;
    let dir = tempfile::tempdir()?;
    let app = DesktopApp::open(dir.path())?;
    let steps = scenario["steps"]
        .as_array()
        .ok_or("scenario has no steps")?;
    assert_eq!(fake.len(), steps.len(), "the fake ran every step");
    let mut answers = serde_json::Map::new();
    let mut differences = Vec::new();
    for (step, fake) in steps.iter().zip(&fake) {
        let name = step["name"].as_str().ok_or("a step has no name")?;
        let cmd = step["cmd"].as_str().ok_or("a step has no cmd")?;
        let real = match app.call(cmd, parity::resolve(&step["args"], &answers)) {
            Ok(answer) => {
                answers.insert(name.to_owned(), answer.clone());
                json!({ "ok": answer })
            }
            Err(err) => json!({ "err": err }),
        };
        let (real, fake) = (
            parity::essentials(step, &real),
            parity::essentials(step, fake),
        );
        if real != fake {
            differences.push(format!("{name} ({cmd}):\n  app:  {real}\n  fake: {fake}"));
        }
    }
    assert!(
        differences.is_empty(),
        "the fake back end differs from the app in {} steps:\n{}",
        differences.len(),
        differences.join("\n")
    );
    Ok(())
}
