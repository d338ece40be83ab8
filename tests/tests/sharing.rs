//! Sharing and team scope end to end, with real desktops (separate local
//! stores) against a real server on SecantusDB: sharing a prompt by email
//! to read or to write, taking it back; a three-person team where an
//! editor's offline edit reaches everyone, a viewer's edit is refused with a
//! reason, and a removed editor loses the team project but keeps their
//! refused edit in view; and documents moved out of a team project, or a
//! project moved out of its team, leaving the old members' desktops.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bson::doc;
use promptforge_sync::schema::{Idea, Model, Project, Prompt, TeamRole};
use promptforge_sync::AttentionItem;
use promptforge_tests::accounts::put_verified_profiles;
use promptforge_tests::desktop::Desktop;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::token;
use promptforge_wire::schema::Collection;
use promptforge_wire::share::{
    ShareOutcome, SharePermission, ShareRefusal, ShareRequest, SharedWith, SHARE_PATH,
};
use promptforge_wire::teams::{TeamOutcome, TeamRequest};
use serde_json::json;

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// Accounts as the web app makes them: a verified profile with an email.
async fn accounts(server: &TestServer, users: &[&str]) {
    put_verified_profiles(server, users, str::to_uppercase).await;
}

fn share(collection: Collection, id: &str, who: &str, permission: SharePermission) -> ShareRequest {
    ShareRequest::Share {
        collection,
        id: id.into(),
        email: format!("{who}@example.com"),
        permission,
    }
}

async fn shared(desktop: &Desktop, request: ShareRequest) -> Vec<SharedWith> {
    let what = format!("{request:?}");
    match desktop.engine.share(&request).await.expect("share") {
        ShareOutcome::Done { shared_with, .. } => shared_with,
        refused => panic!("{what} was {refused:?}"),
    }
}

async fn refused(server: &TestServer, user: &str, request: ShareRequest, reason: ShareRefusal) {
    let what = format!("{user}: {request:?}");
    match server.call(SHARE_PATH, &token(user), &request).await {
        ShareOutcome::Refused {
            reason: got,
            message,
        } => assert_eq!(got, reason, "{what}: {message}"),
        done => panic!("{what} should be refused ({reason:?}), was {done:?}"),
    }
}

/// Syncs `desktop` until `done` holds for document `id` (20 s at most).
async fn wait_for<T: Model>(
    desktop: &Desktop,
    what: &str,
    id: &str,
    done: impl Fn(Option<T>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        desktop.synced().await;
        let found: Option<T> = desktop.store().get(id).await.expect("read");
        if done(found) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn attention(desktop: &Desktop, id: &str) -> Vec<AttentionItem> {
    let items = desktop.store().needs_attention().await.expect("attention");
    items.into_iter().filter(|i| i.doc_id == id).collect()
}

async fn sharing_notes(server: &TestServer, user: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut found = server
        .collection("notifications")
        .await
        .find(doc! { "user_id": user, "category": "sharing" })
        .await
        .expect("read");
    while found.advance().await.expect("next") {
        let note = found.deserialize_current().expect("notification");
        titles.push(note.get_str("title").unwrap_or_default().to_owned());
    }
    titles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_shared_by_email_is_read_or_written_as_granted_and_unsharing_takes_it_back() {
    let server = TestServer::start(&MONGO).await;
    accounts(&server, &["ada", "ben"]).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let ada = Desktop::open(dirs[0].path(), &server.base, "ada").await;
    let ben = Desktop::open(dirs[1].path(), &server.base, "ben").await;
    let prompt = ada
        .store()
        .create(Prompt::new("ada", "Brief", "Write a brief"))
        .await
        .expect("prompt");
    let idea = ada
        .store()
        .create(Idea::new("ada", "Spark", "An idea"))
        .await
        .expect("idea");
    ada.synced().await;
    ben.synced().await;

    // Only the owner shares; a stranger learns nothing; emails must exist.
    let list = ShareRequest::List {
        collection: Collection::Prompts,
        id: prompt.id.clone(),
    };
    refused(&server, "ben", list.clone(), ShareRefusal::NotFound).await;
    let to_ben = |p| share(Collection::Prompts, &prompt.id, "ben", p);
    refused(
        &server,
        "ben",
        to_ben(SharePermission::Write),
        ShareRefusal::NotFound,
    )
    .await;
    refused(
        &server,
        "ada",
        share(
            Collection::Prompts,
            &prompt.id,
            "nobody",
            SharePermission::Read,
        ),
        ShareRefusal::UnknownEmail,
    )
    .await;
    refused(
        &server,
        "ada",
        share(
            Collection::Prompts,
            &prompt.id,
            "ada",
            SharePermission::Read,
        ),
        ShareRefusal::Invalid,
    )
    .await;
    refused(
        &server,
        "ada",
        share(Collection::Ideas, &idea.id, "ben", SharePermission::Write),
        ShareRefusal::Invalid,
    )
    .await;

    // Shared to read: Ben has it, may not list its sharing, and his edit
    // is refused with a reason he can act on.
    let people = shared(&ada, to_ben(SharePermission::Read)).await;
    assert_eq!(
        people,
        [SharedWith {
            user_id: "ben".into(),
            display_name: Some("BEN".into()),
            permission: SharePermission::Read,
        }]
    );
    let again = shared(&ada, to_ben(SharePermission::Read)).await;
    assert_eq!(again, people, "sharing twice shares once");
    let stored: Option<Prompt> = ada.store().get(&prompt.id).await.expect("read");
    let stored = stored.expect("Ada's prompt");
    assert_eq!(stored.collaboration.allowed_users, ["ben"]);
    assert!(stored.collaboration.is_collaborative);
    wait_for::<Prompt>(&ben, "the shared prompt reaching Ben", &prompt.id, |p| {
        p.is_some()
    })
    .await;
    refused(&server, "ben", list.clone(), ShareRefusal::Forbidden).await;
    ben.store()
        .patch::<Prompt>(&prompt.id, doc! { "title": "Ben's title" })
        .await
        .expect("a local edit");
    ben.synced().await;
    let refusals = attention(&ben, &prompt.id).await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].reason, "forbidden");
    assert!(
        refusals[0].message.contains("view only"),
        "{}",
        refusals[0].message
    );
    ada.synced().await;
    let theirs: Option<Prompt> = ada.store().get(&prompt.id).await.expect("read");
    assert_eq!(theirs.map(|p| p.title).as_deref(), Some("Brief"));

    // Given write, his next edit reaches Ada.
    let people = shared(&ada, to_ben(SharePermission::Write)).await;
    assert_eq!(people[0].permission, SharePermission::Write);
    ben.synced().await;
    ben.store()
        .patch::<Prompt>(&prompt.id, doc! { "title": "Ben's better title" })
        .await
        .expect("a local edit");
    ben.synced().await;
    wait_for::<Prompt>(&ada, "Ben's edit reaching Ada", &prompt.id, |p| {
        p.is_some_and(|p| p.title == "Ben's better title")
    })
    .await;
    assert_eq!(
        sharing_notes(&server, "ben").await,
        [
            "ADA shared the prompt “Brief” with you",
            "Your access to the prompt “Brief” changed"
        ]
    );

    // An idea is shared to read; unsharing takes both away from Ben.
    shared(
        &ada,
        share(Collection::Ideas, &idea.id, "ben", SharePermission::Read),
    )
    .await;
    wait_for::<Idea>(&ben, "the shared idea reaching Ben", &idea.id, |i| {
        i.is_some()
    })
    .await;
    let unshare = |collection, id: &str| ShareRequest::Unshare {
        collection,
        id: id.into(),
        user_id: "ben".into(),
    };
    assert!(shared(&ada, unshare(Collection::Prompts, &prompt.id))
        .await
        .is_empty());
    assert!(shared(&ada, unshare(Collection::Prompts, &prompt.id))
        .await
        .is_empty());
    shared(&ada, unshare(Collection::Ideas, &idea.id)).await;
    wait_for::<Prompt>(&ben, "the prompt leaving Ben", &prompt.id, |p| p.is_none()).await;
    wait_for::<Idea>(&ben, "the idea leaving Ben", &idea.id, |i| i.is_none()).await;
    let kept: Option<Prompt> = ada.store().get(&prompt.id).await.expect("read");
    assert!(kept.is_some_and(|p| p.collaboration.allowed_users.is_empty()));
    // A title as long as the schema allows still makes a notification that
    // fits it.
    let long = ada
        .store()
        .create(Prompt::new("ada", &"x".repeat(300), "text"))
        .await
        .expect("a long-titled prompt");
    ada.synced().await;
    shared(
        &ada,
        share(Collection::Prompts, &long.id, "ben", SharePermission::Read),
    )
    .await;
    server.assert_seed_required().await;

    // Malformed requests are named, never a server error.
    for (body, needle) in [
        (
            json!({ "op": "share", "collection": "prompts", "id": "x" }),
            "email",
        ),
        (
            json!({ "op": "share", "collection": "prompts", "id": "x", "email": "a@b.c", "permission": "own" }),
            "own",
        ),
        (
            json!({ "op": "list", "collection": "prompts", "id": "x", "as": "ada" }),
            "`as`",
        ),
    ] {
        let (status, answer) = server.post(SHARE_PATH, Some(&token("ada")), &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(needle), "{body}: {answer}");
    }
    let (status, answer) = server
        .post(
            SHARE_PATH,
            Some(&token("ada")),
            &json!({ "op": "list", "collection": "teams", "id": "t" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["reason"], "invalid", "{answer}");
}

async fn team(desktop: &Desktop, request: TeamRequest) {
    let what = format!("{request:?}");
    let outcome = desktop.engine.team(&request).await.expect("team request");
    assert!(
        matches!(outcome, TeamOutcome::Done { .. }),
        "{what}: {outcome:?}"
    );
}

/// `owner` forms the team "crew"; each of `members` is invited by email
/// with their role and accepts from their own desktop.
async fn crew(owner: &Desktop, members: &[(&str, &Desktop, TeamRole)]) {
    team(
        owner,
        TeamRequest::Create {
            team_id: "crew".into(),
            name: "Crew".into(),
            description: None,
        },
    )
    .await;
    for (who, desktop, role) in members {
        let invite = TeamRequest::Invite {
            team_id: "crew".into(),
            email: format!("{who}@example.com"),
            role: Some(*role),
        };
        team(owner, invite).await;
        let accept = TeamRequest::Accept {
            team_id: "crew".into(),
        };
        team(desktop, accept).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_person_team_edits_offline_refuses_a_viewer_and_removal_takes_the_project() {
    let server = TestServer::start(&MONGO).await;
    accounts(&server, &["ada", "ben", "cat"]).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let ada = Desktop::open(dirs[0].path(), &server.base, "ada").await;
    let ben = Desktop::open(dirs[1].path(), &server.base, "ben").await;
    let cat = Desktop::open(dirs[2].path(), &server.base, "cat").await;

    crew(
        &ada,
        &[
            ("ben", &ben, TeamRole::Editor),
            ("cat", &cat, TeamRole::Viewer),
        ],
    )
    .await;
    let mut project = Project::new("ada", "Launch");
    project.collaboration.team_id = Some("crew".into());
    let project = ada.store().create(project).await.expect("project");
    let mut prompt = Prompt::new("ada", "Tagline", "Say it short");
    prompt.project_id = Some(project.id.clone());
    let prompt = ada.store().create(prompt).await.expect("prompt");
    ada.synced().await;
    for desktop in [&ben, &cat] {
        wait_for::<Prompt>(desktop, "the team prompt arriving", &prompt.id, |p| {
            p.is_some()
        })
        .await;
    }

    // Ben edits while offline (no round runs); it reaches everyone once he
    // is back.
    ben.store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "Say it shorter" })
        .await
        .expect("offline edit");
    ben.synced().await;
    for desktop in [&ada, &cat] {
        wait_for::<Prompt>(desktop, "Ben's offline edit arriving", &prompt.id, |p| {
            p.is_some_and(|p| p.content == "Say it shorter")
        })
        .await;
    }

    // Cat is a viewer: her edit is refused, with the reason in her list.
    cat.store()
        .patch::<Prompt>(&prompt.id, doc! { "title": "Cat's title" })
        .await
        .expect("local edit");
    cat.synced().await;
    let refusals = attention(&cat, &prompt.id).await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].reason, "forbidden");
    assert!(
        refusals[0].message.contains("team"),
        "{}",
        refusals[0].message
    );

    // Ben edits offline again, and is removed before he reconnects: the
    // project and prompt leave his desktop, his edit stays listed as
    // needing attention, and nobody else sees it.
    ben.store()
        .patch::<Prompt>(&prompt.id, doc! { "title": "Ben's last word" })
        .await
        .expect("offline edit");
    team(
        &ada,
        TeamRequest::Remove {
            team_id: "crew".into(),
            user_id: "ben".into(),
        },
    )
    .await;
    wait_for::<Project>(&ben, "the project leaving Ben", &project.id, |p| {
        p.is_none()
    })
    .await;
    wait_for::<Prompt>(&ben, "the prompt leaving Ben", &prompt.id, |p| p.is_none()).await;
    let refusals = attention(&ben, &prompt.id).await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    ada.synced().await;
    let on_ada: Option<Prompt> = ada.store().get(&prompt.id).await.expect("read");
    assert_eq!(on_ada.map(|p| p.title).as_deref(), Some("Tagline"));
    let on_cat: Option<Prompt> = cat.store().get(&prompt.id).await.expect("read");
    assert!(on_cat.is_some(), "Cat is still in the team");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_out_of_a_team_project_or_a_project_out_of_its_team_leaves_the_old_members() {
    let server = TestServer::start(&MONGO).await;
    accounts(&server, &["ada", "ben"]).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let ada = Desktop::open(dirs[0].path(), &server.base, "ada").await;
    let ben = Desktop::open(dirs[1].path(), &server.base, "ben").await;
    crew(&ada, &[("ben", &ben, TeamRole::Editor)]).await;
    let mut project = Project::new("ada", "Launch");
    project.collaboration.team_id = Some("crew".into());
    let project = ada.store().create(project).await.expect("project");
    let mut filed = Vec::new();
    for title in ["Moved", "Stays", "Shared too"] {
        let mut prompt = Prompt::new("ada", title, "text");
        prompt.project_id = Some(project.id.clone());
        filed.push(ada.store().create(prompt).await.expect("prompt"));
    }
    let mut idea = Idea::new("ada", "Filed idea", "");
    idea.project_id = Some(project.id.clone());
    let idea = ada.store().create(idea).await.expect("idea");
    ada.synced().await;
    wait_for::<Idea>(&ben, "the team's documents arriving", &idea.id, |i| {
        i.is_some()
    })
    .await;
    for prompt in &filed {
        let found: Option<Prompt> = ben.store().get(&prompt.id).await.expect("read");
        assert!(found.is_some(), "{} reached Ben", prompt.title);
    }
    // Shared with Ben directly as well: that copy survives the moves.
    shared(
        &ada,
        share(
            Collection::Prompts,
            &filed[2].id,
            "ben",
            SharePermission::Read,
        ),
    )
    .await;

    // A prompt moved out of the team's project leaves Ben; the rest stay.
    ada.store()
        .patch::<Prompt>(&filed[0].id, doc! { "project_id": null })
        .await
        .expect("move out");
    ada.synced().await;
    wait_for::<Prompt>(&ben, "the moved prompt leaving Ben", &filed[0].id, |p| {
        p.is_none()
    })
    .await;
    let stays: Option<Prompt> = ben.store().get(&filed[1].id).await.expect("read");
    assert!(
        stays.is_some(),
        "a prompt still filed in the team project stays"
    );

    // The project moved out of the team takes the project, its prompt and
    // its idea; the prompt shared with Ben directly stays.
    ada.store()
        .patch::<Project>(&project.id, doc! { "collaboration.team_id": null })
        .await
        .expect("project out of the team");
    ada.synced().await;
    wait_for::<Project>(&ben, "the project leaving Ben", &project.id, |p| {
        p.is_none()
    })
    .await;
    for (id, what) in [(&filed[1].id, "prompt"), (&idea.id, "idea")] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            ben.synced().await;
            let gone = match what {
                "idea" => ben.store().get::<Idea>(id).await.expect("read").is_none(),
                _ => ben.store().get::<Prompt>(id).await.expect("read").is_none(),
            };
            if gone {
                break;
            }
            assert!(Instant::now() < deadline, "the filed {what} never left Ben");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let direct: Option<Prompt> = ben.store().get(&filed[2].id).await.expect("read");
    assert!(direct.is_some(), "a prompt shared with Ben directly stays");
    // Ada keeps all of it.
    let mine: Option<Project> = ada.store().get(&project.id).await.expect("read");
    assert!(mine.is_some_and(|p| p.collaboration.team_id.is_none()));
}

/// The team as stored on the server.
async fn stored_team(server: &TestServer, id: &str) -> bson::Document {
    server
        .collection("teams")
        .await
        .find_one(doc! { "_id": id })
        .await
        .expect("read")
        .expect("the team")
}

fn used(team: &bson::Document) -> (i64, i64, i64) {
    let resources = team.get_document("resources").expect("resources");
    let stats = team.get_document("stats").expect("stats");
    (
        resources.get_i64("prompts_used").unwrap_or(-1),
        stats.get_i64("total_prompts").unwrap_or(-1),
        stats.get_i64("total_projects").unwrap_or(-1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_keeps_its_usage_and_refuses_prompts_past_its_quota() {
    let server = TestServer::start(&MONGO).await;
    accounts(&server, &["ada"]).await;
    let dir = tempfile::tempdir().expect("dir");
    let ada = Desktop::open(dir.path(), &server.base, "ada").await;
    crew(&ada, &[]).await;
    // The plan allows two prompts (billing writes quotas straight to the
    // database; no client can).
    server
        .collection("teams")
        .await
        .update_one(
            doc! { "_id": "crew" },
            doc! { "$set": { "resources.prompt_quota": 2_i64 }, "$inc": { "version": 1 } },
        )
        .await
        .expect("set the quota");
    let mut project = Project::new("ada", "Launch");
    project.collaboration.team_id = Some("crew".into());
    let project = ada.store().create(project).await.expect("project");
    let mut prompts = Vec::new();
    for title in ["One", "Two", "Three"] {
        let mut prompt = Prompt::new("ada", title, "text");
        prompt.project_id = Some(project.id.clone());
        prompts.push(ada.store().create(prompt).await.expect("prompt"));
    }
    ada.synced().await;
    let refusals = attention(&ada, &prompts[2].id).await;
    assert_eq!(refusals.len(), 1, "the third prompt is past the quota");
    assert_eq!(refusals[0].reason, "forbidden");
    assert!(
        refusals[0].message.contains("quota"),
        "{}",
        refusals[0].message
    );
    assert_eq!(used(&stored_team(&server, "crew").await), (2, 2, 1));

    // Deleting one makes room; the refused prompt goes up when retried.
    ada.store()
        .delete::<Prompt>(&prompts[0].id)
        .await
        .expect("delete");
    ada.synced().await;
    assert_eq!(used(&stored_team(&server, "crew").await), (1, 1, 1));
    ada.store()
        .settle_attention(refusals[0].mutation_id, true)
        .await
        .expect("retry");
    ada.synced().await;
    assert!(attention(&ada, &prompts[2].id).await.is_empty());
    assert_eq!(used(&stored_team(&server, "crew").await), (2, 2, 1));

    // A project leaving the team takes its prompts out of the count, and
    // the team in Ada's library shows it.
    ada.store()
        .patch::<Project>(&project.id, doc! { "collaboration.team_id": null })
        .await
        .expect("out of the team");
    ada.synced().await;
    assert_eq!(used(&stored_team(&server, "crew").await), (0, 0, 0));
    ada.synced().await;
    let local: Option<promptforge_sync::schema::Team> =
        ada.store().get("crew").await.expect("read");
    let local = local.expect("the team in Ada's library");
    assert_eq!(local.resources.prompts_used, 0);
    assert_eq!(local.resources.prompt_quota, 2);
}
