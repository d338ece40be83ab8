//! Team operations (`POST /v1/teams`) against a real server on SecantusDB:
//! who may do what (non-member, viewer, editor, admin, owner; raising
//! oneself; removing the owner; inviting into a team one left), that each
//! operation is idempotent and keeps the counts, the notifications it
//! writes, and, end to end with real desktops, that joining delivers a team
//! project and removal takes it away.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use promptforge_sync::schema::{Project, Team, TeamRole};
use promptforge_tests::accounts::put_verified_profiles;
use promptforge_tests::desktop::Desktop;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::token;
use promptforge_wire::teams::{TeamOutcome, TeamRefusal, TeamRequest, TEAMS_PATH};
use serde_json::json;

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// Accounts as the web app makes them: a verified profile with an email.
async fn accounts(server: &TestServer, users: &[&str]) {
    put_verified_profiles(server, users, |u: &str| u.to_owned()).await;
}

async fn ask(server: &TestServer, user: &str, request: TeamRequest) -> TeamOutcome {
    server.call(TEAMS_PATH, &token(user), &request).await
}

/// Expects `done`; returns the team as stored.
async fn done(server: &TestServer, user: &str, request: TeamRequest) -> Document {
    let what = format!("{user}: {request:?}");
    match ask(server, user, request).await {
        TeamOutcome::Done { team } => team,
        refused => panic!("{what} was {refused:?}"),
    }
}

async fn refused(server: &TestServer, user: &str, request: TeamRequest, reason: TeamRefusal) {
    let what = format!("{user}: {request:?}");
    match ask(server, user, request).await {
        TeamOutcome::Refused {
            reason: got,
            message,
        } => {
            assert_eq!(got, reason, "{what}: {message}");
            assert!(!message.is_empty());
        }
        done => panic!("{what} should be refused ({reason:?}), was {done:?}"),
    }
}

fn invite(team: &str, who: &str, role: TeamRole) -> TeamRequest {
    TeamRequest::Invite {
        team_id: team.into(),
        email: format!("{who}@example.com"),
        role: Some(role),
    }
}

fn accept(team: &str) -> TeamRequest {
    TeamRequest::Accept {
        team_id: team.into(),
    }
}

fn set_role(team: &str, user: &str, role: TeamRole) -> TeamRequest {
    TeamRequest::SetRole {
        team_id: team.into(),
        user_id: user.into(),
        role,
        permissions: None,
    }
}

fn remove(team: &str, user: &str) -> TeamRequest {
    TeamRequest::Remove {
        team_id: team.into(),
        user_id: user.into(),
    }
}

fn role(team: &Document, user: &str) -> Option<String> {
    let member = team.get_document("members").ok()?.get_document(user).ok()?;
    member.get_str("role").ok().map(str::to_owned)
}

async fn notifications(server: &TestServer, user: &str) -> Vec<String> {
    let mut titles = Vec::new();
    let mut found = server
        .collection("notifications")
        .await
        .find(doc! { "user_id": user, "category": "teams" })
        .await
        .expect("read");
    while found.advance().await.expect("next") {
        let note = found.deserialize_current().expect("notification");
        titles.push(note.get_str("title").unwrap_or_default().to_owned());
    }
    titles
}

#[tokio::test]
async fn every_team_operation_is_checked_against_the_callers_role_and_is_idempotent() {
    use TeamRole::*;
    let server = TestServer::start(&MONGO).await;
    accounts(&server, &["alice", "bob", "carol", "erin", "dave"]).await;
    let create = TeamRequest::Create {
        team_id: "t1".into(),
        name: "Writers".into(),
        description: Some("Copy for launches".into()),
    };
    let team = done(&server, "alice", create.clone()).await;
    assert_eq!(role(&team, "alice").as_deref(), Some("owner"));
    assert_eq!(team.get_i64("member_count").ok(), Some(1));
    // A resent create is the same team; someone else's is refused.
    let again = done(&server, "alice", create.clone()).await;
    assert_eq!(again.get_str("_id"), team.get_str("_id"));
    assert_eq!(again.get_i64("member_count").ok(), Some(1));
    refused(&server, "bob", create, TeamRefusal::Invalid).await;

    // Invitations: owners invite; unknown emails and non-members are told so.
    done(&server, "alice", invite("t1", "bob", Editor)).await;
    done(&server, "alice", invite("t1", "bob", Editor)).await;
    refused(
        &server,
        "alice",
        invite("t1", "nobody", Editor),
        TeamRefusal::UnknownEmail,
    )
    .await;
    refused(
        &server,
        "carol",
        invite("t1", "dave", Viewer),
        TeamRefusal::NotFound,
    )
    .await;
    assert_eq!(notifications(&server, "bob").await, ["Team invitation"]);

    // Accepting joins once; an uninvited user cannot.
    let team = done(&server, "bob", accept("t1")).await;
    assert_eq!(role(&team, "bob").as_deref(), Some("editor"));
    assert_eq!(team.get_i64("member_count").ok(), Some(2));
    assert_eq!(
        done(&server, "bob", accept("t1"))
            .await
            .get_i64("member_count")
            .ok(),
        Some(2)
    );
    refused(&server, "dave", accept("t1"), TeamRefusal::NotInvited).await;
    assert!(notifications(&server, "alice")
        .await
        .contains(&"Invitation accepted".to_owned()));

    // Editors do not invite (the team does not allow it); nobody invites
    // above their own role.
    refused(
        &server,
        "bob",
        invite("t1", "carol", Viewer),
        TeamRefusal::Forbidden,
    )
    .await;
    // With invites open and approval required, an editor's invitation
    // waits for an admin's.
    let open_up = TeamRequest::Configure {
        team_id: "t1".into(),
        name: None,
        description: None,
        allow_invites: Some(true),
        require_approval: Some(true),
        default_permissions: None,
    };
    refused(&server, "bob", open_up.clone(), TeamRefusal::Forbidden).await;
    done(&server, "alice", open_up).await;
    done(&server, "bob", invite("t1", "dave", Viewer)).await;
    refused(
        &server,
        "bob",
        invite("t1", "dave", Admin),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(&server, "dave", accept("t1"), TeamRefusal::NotInvited).await;
    assert!(
        notifications(&server, "dave").await.is_empty(),
        "nothing to answer yet"
    );
    done(&server, "alice", invite("t1", "dave", Viewer)).await;
    let team = done(&server, "dave", accept("t1")).await;
    assert_eq!(role(&team, "dave").as_deref(), Some("viewer"));
    done(&server, "alice", remove("t1", "dave")).await;
    for (who, as_role) in [("carol", Viewer), ("erin", Admin)] {
        done(&server, "alice", invite("t1", who, as_role)).await;
        done(&server, who, accept("t1")).await;
    }
    refused(
        &server,
        "erin",
        invite("t1", "dave", Owner),
        TeamRefusal::Invalid,
    )
    .await;

    // Roles: nobody raises themselves; viewers and editors change nobody;
    // admins manage only those below them.
    refused(
        &server,
        "bob",
        set_role("t1", "bob", Admin),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(
        &server,
        "erin",
        set_role("t1", "erin", Viewer),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(
        &server,
        "carol",
        set_role("t1", "bob", Viewer),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(
        &server,
        "bob",
        set_role("t1", "carol", Editor),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(
        &server,
        "erin",
        set_role("t1", "carol", Admin),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(
        &server,
        "erin",
        set_role("t1", "alice", Viewer),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(
        &server,
        "erin",
        set_role("t1", "dave", Viewer),
        TeamRefusal::NotFound,
    )
    .await;
    let team = done(&server, "erin", set_role("t1", "bob", Viewer)).await;
    assert_eq!(role(&team, "bob").as_deref(), Some("viewer"));
    assert!(notifications(&server, "bob")
        .await
        .contains(&"Your team role changed".to_owned()));
    done(&server, "alice", set_role("t1", "bob", Editor)).await;

    // Removing: never the owner; admins not other admins; not oneself.
    refused(
        &server,
        "erin",
        remove("t1", "alice"),
        TeamRefusal::OwnerStays,
    )
    .await;
    refused(
        &server,
        "bob",
        remove("t1", "carol"),
        TeamRefusal::Forbidden,
    )
    .await;
    refused(&server, "erin", remove("t1", "erin"), TeamRefusal::Invalid).await;
    let team = done(&server, "erin", remove("t1", "carol")).await;
    assert_eq!(role(&team, "carol"), None);
    assert_eq!(team.get_i64("member_count").ok(), Some(3));
    let again = done(&server, "erin", remove("t1", "carol")).await;
    assert_eq!(
        again.get_i64("member_count").ok(),
        Some(3),
        "removing twice removes once"
    );
    assert!(notifications(&server, "carol")
        .await
        .contains(&"Removed from a team".to_owned()));

    // Leaving: the owner hands over first; someone who left invites nobody.
    let leave = |team: &str| TeamRequest::Leave {
        team_id: team.into(),
    };
    refused(&server, "alice", leave("t1"), TeamRefusal::OwnerStays).await;
    done(&server, "bob", leave("t1")).await;
    refused(
        &server,
        "bob",
        invite("t1", "dave", Viewer),
        TeamRefusal::NotFound,
    )
    .await;
    let transfer = TeamRequest::Transfer {
        team_id: "t1".into(),
        user_id: "erin".into(),
    };
    refused(&server, "erin", transfer.clone(), TeamRefusal::Forbidden).await;
    let team = done(&server, "alice", transfer).await;
    assert_eq!(role(&team, "erin").as_deref(), Some("owner"));
    assert_eq!(role(&team, "alice").as_deref(), Some("admin"));

    // Deleting: the owner only; afterwards the team is gone for everyone.
    let delete = TeamRequest::Delete {
        team_id: "t1".into(),
    };
    refused(&server, "alice", delete.clone(), TeamRefusal::Forbidden).await;
    let team = done(&server, "erin", delete).await;
    assert!(team.get_datetime("deleted_at").is_ok());
    refused(
        &server,
        "alice",
        invite("t1", "dave", Viewer),
        TeamRefusal::NotFound,
    )
    .await;
    assert!(notifications(&server, "alice")
        .await
        .contains(&"A team was deleted".to_owned()));
    server.assert_seed_required().await;

    // Malformed requests are named, never a server error.
    for (body, status, needle) in [
        (
            json!({ "op": "promote_me", "team_id": "t1" }),
            400,
            "promote_me",
        ),
        (json!({ "op": "leave" }), 400, "team_id"),
        (
            json!({ "op": "leave", "team_id": "t1", "as": "alice" }),
            400,
            "`as`",
        ),
        (
            json!({ "op": "invite", "team_id": "t1", "email": "x@y.z", "role": "god" }),
            400,
            "god",
        ),
    ] {
        let (got, answer) = server.post(TEAMS_PATH, Some(&token("alice")), &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer.to_string().contains(needle), "{body}: {answer}");
    }
    let (status, answer) = server
        .post(
            TEAMS_PATH,
            Some(&token("alice")),
            &json!({ "op": "create", "team_id": "a.b", "name": "Dots" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "refused");
    assert!(answer["message"]
        .as_str()
        .is_some_and(|m| m.contains("team_id")));
}

async fn wait_for(desktop: &Desktop, what: &str, done: impl Fn(Option<Project>) -> bool, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        desktop.synced().await;
        let project: Option<Project> = desktop.store().get(id).await.expect("read");
        if done(project) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_from_a_desktop_delivers_the_team_project_and_removal_takes_it_away() {
    let server = TestServer::start(&MONGO).await;
    accounts(&server, &["ada", "ben"]).await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let ada = Desktop::open(dirs[0].path(), &server.base, "ada").await;
    let ben = Desktop::open(dirs[1].path(), &server.base, "ben").await;
    ada.synced().await;
    ben.synced().await;

    // Ada forms the team and invites Ben, all from her desktop.
    let outcome = ada
        .engine
        .team(&TeamRequest::Create {
            team_id: "crew".into(),
            name: "Crew".into(),
            description: None,
        })
        .await
        .expect("create");
    assert!(matches!(outcome, TeamOutcome::Done { .. }), "{outcome:?}");
    let mine: Option<Team> = ada.store().get("crew").await.expect("read");
    assert!(mine.is_some(), "the new team is in Ada's library at once");
    let outcome = ada
        .engine
        .team(&invite("crew", "ben", TeamRole::Editor))
        .await
        .expect("invite");
    assert!(matches!(outcome, TeamOutcome::Done { .. }), "{outcome:?}");

    // She files a project into the team; Ben sees it only once he joins.
    let mut project = Project::new("ada", "Launch copy");
    project.collaboration.team_id = Some("crew".into());
    let project = ada.store().create(project).await.expect("project");
    ada.synced().await;
    // Ben syncs meanwhile: his checkpoints move past the project's number,
    // so joining must bring it to him anyway.
    ben.synced().await;
    let before: Option<Project> = ben.store().get(&project.id).await.expect("read");
    assert!(before.is_none());
    let outcome = ben.engine.team(&accept("crew")).await.expect("accept");
    assert!(matches!(outcome, TeamOutcome::Done { .. }), "{outcome:?}");
    wait_for(
        &ben,
        "the team project reaching Ben",
        |p| p.is_some(),
        &project.id,
    )
    .await;
    let joined: Option<Team> = ben.store().get("crew").await.expect("read");
    assert!(joined.is_some_and(|t| t.member_count == 2));

    // Removed, Ben's desktop drops the project.
    let outcome = ada
        .engine
        .team(&remove("crew", "ben"))
        .await
        .expect("remove");
    assert!(matches!(outcome, TeamOutcome::Done { .. }), "{outcome:?}");
    wait_for(
        &ben,
        "the team project leaving Ben",
        |p| p.is_none(),
        &project.id,
    )
    .await;
    // And the team itself: he is no longer shown in it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        ben.synced().await;
        let team: Option<Team> = ben.store().get("crew").await.expect("read");
        if team.is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the team never left Ben's library"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
