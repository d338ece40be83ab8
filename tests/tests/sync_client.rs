//! The sync client engine against the real sync server and SecantusDB:
//! several desktops of one account with separate local stores, offline edits
//! that meet, conflicts recorded and resolved, and replicas that end identical.

use std::sync::LazyLock;

use bson::{doc, Bson};
use promptforge_sync::engine::SyncState;
use promptforge_sync::schema::{Idea, Project, Prompt};
use promptforge_sync::{ConflictKind, Resolution};
use promptforge_tests::desktop::{replica_difference, Desktop};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

async fn assert_converged(desktops: &[&Desktop]) {
    // Two quiet rounds each: the first carries the last uploads, the second
    // brings everyone the result.
    for _ in 0..2 {
        for desktop in desktops {
            desktop.synced().await;
        }
    }
    let first = desktops[0].replica().await;
    for other in &desktops[1..] {
        if let Some(diff) = replica_difference(&first, &other.replica().await) {
            panic!("replicas differ: {diff}");
        }
        let summary = other.store().sync_summary().await.expect("summary");
        assert_eq!(summary.pending, 0, "outbox drained");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_desktops_merge_offline_edits_and_record_conflicts() {
    let server = TestServer::start(&MONGO).await;
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let a = Desktop::open(dirs[0].path(), &server.base, "alice").await;
    let b = Desktop::open(dirs[1].path(), &server.base, "alice").await;

    let local_id = a.store().user_id();
    assert!(local_id.starts_with("local-"));
    // A library made offline on A, with a project holding a prompt and an idea.
    let project = a
        .store()
        .create(Project::new(&a.store().user_id(), "Launch"))
        .await
        .expect("local store call");
    let mut prompt = Prompt::new(&a.store().user_id(), "Tagline", "Write a tagline");
    prompt.project_id = Some(project.id.clone());
    let prompt = a.store().create(prompt).await.expect("local store call");
    let mut idea = Idea::new(&a.store().user_id(), "Video", "A launch video");
    idea.project_id = Some(project.id.clone());
    a.store().create(idea).await.expect("local store call");
    assert_eq!(
        a.store()
            .sync_summary()
            .await
            .expect("local store call")
            .pending,
        4
    );

    let report = a.synced().await;
    assert_eq!(
        report.rejected,
        0,
        "{report:?}: {:?}",
        a.store().needs_attention().await
    );
    assert_eq!(
        a.store().user_id(),
        "alice",
        "the local profile is attached"
    );
    // A document made for the old local id after the attach is the account's.
    let late = a
        .store()
        .create(Prompt::new(&local_id, "Late", "made with the old id"))
        .await
        .expect("local store call");
    assert_eq!(late.user_id, "alice");
    b.synced().await;
    let on_b: Prompt = b
        .store()
        .require(&prompt.id)
        .await
        .expect("local store call");
    assert_eq!(on_b.title, "Tagline");
    let project_on_b: Project = b
        .store()
        .require(&project.id)
        .await
        .expect("local store call");
    assert_eq!(project_on_b.prompt_ids, vec![prompt.id.clone()]);
    assert_eq!(project_on_b.idea_ids.len(), 1);
    assert_converged(&[&a, &b]).await;

    // Different fields of one prompt, edited offline on both: both survive.
    a.store()
        .patch::<Prompt>(&prompt.id, doc! { "title": "Tagline v2" })
        .await
        .expect("local store call");
    b.store()
        .patch::<Prompt>(&prompt.id, doc! { "description": "For the launch page" })
        .await
        .expect("local store call");
    a.synced().await;
    b.synced().await;
    a.synced().await;
    for desktop in [&a, &b] {
        let p: Prompt = desktop
            .store()
            .require(&prompt.id)
            .await
            .expect("local store call");
        assert_eq!(p.title, "Tagline v2");
        assert_eq!(p.description.as_deref(), Some("For the launch page"));
    }
    assert!(b
        .store()
        .conflicts(false)
        .await
        .expect("local store call")
        .is_empty());

    // The same field on both: the first to sync wins, the other's value is
    // recorded as a conflict and kept as a prompt version.
    a.store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "from A" })
        .await
        .expect("local store call");
    b.store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "from B" })
        .await
        .expect("local store call");
    a.synced().await;
    b.synced().await;
    let conflicts = b.store().conflicts(false).await.expect("local store call");
    let content = conflicts
        .iter()
        .find(|c| c.field.as_deref() == Some("content"))
        .unwrap_or_else(|| panic!("a content conflict on B: {conflicts:?}"));
    assert_eq!(content.kind, ConflictKind::Field);
    assert_eq!(content.mine, Bson::String("from B".into()));
    assert_eq!(content.theirs, Bson::String("from A".into()));
    let p: Prompt = b
        .store()
        .require(&prompt.id)
        .await
        .expect("local store call");
    assert_eq!(p.content, "from A");
    let versions = b
        .store()
        .prompt_versions(&prompt.id)
        .await
        .expect("local store call");
    assert!(
        versions.iter().any(|v| v.content == "from B"),
        "B's losing text stays in the history"
    );
    assert_converged(&[&a, &b]).await;

    // B keeps its own: that becomes the content everywhere.
    b.store()
        .resolve_conflict(&content.id, Resolution::KeepMine)
        .await
        .expect("local store call");
    assert_converged(&[&a, &b]).await;
    let p: Prompt = a
        .store()
        .require(&prompt.id)
        .await
        .expect("local store call");
    assert_eq!(p.content, "from B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_meeting_deletes_are_kept_and_recorded() {
    let server = TestServer::start(&MONGO).await;
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let a = Desktop::open(dirs[0].path(), &server.base, "bob").await;
    let b = Desktop::open(dirs[1].path(), &server.base, "bob").await;
    let user = a.store().user_id();
    let first = a
        .store()
        .create(Prompt::new(&user, "First", "one"))
        .await
        .expect("local store call");
    let second = a
        .store()
        .create(Prompt::new(&user, "Second", "two"))
        .await
        .expect("local store call");
    a.synced().await;
    b.synced().await;

    // Edit (B) against delete (A): the edit brings the prompt back.
    a.store()
        .delete::<Prompt>(&first.id)
        .await
        .expect("local store call");
    b.store()
        .patch::<Prompt>(&first.id, doc! { "title": "First, edited" })
        .await
        .expect("local store call");
    // Delete (B) against edit (A): the edit is kept.
    a.store()
        .patch::<Prompt>(&second.id, doc! { "title": "Second, edited" })
        .await
        .expect("local store call");
    b.store()
        .delete::<Prompt>(&second.id)
        .await
        .expect("local store call");
    a.synced().await;
    b.synced().await;

    let conflicts = b.store().conflicts(false).await.expect("local store call");
    let kinds: Vec<ConflictKind> = conflicts.iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&ConflictKind::EditVsDelete), "{conflicts:?}");
    assert!(kinds.contains(&ConflictKind::DeleteVsEdit), "{conflicts:?}");
    assert_converged(&[&a, &b]).await;
    for desktop in [&a, &b] {
        let p: Prompt = desktop
            .store()
            .require(&first.id)
            .await
            .expect("local store call");
        assert!(p.deleted_at.is_none(), "the edited prompt is alive");
        assert_eq!(p.title, "First, edited");
        let p: Prompt = desktop
            .store()
            .require(&second.id)
            .await
            .expect("local store call");
        assert!(p.deleted_at.is_none(), "the edit beat the delete");
        assert_eq!(p.title, "Second, edited");
    }

    // Keep theirs on the edit-versus-delete: the delete wins after all.
    let edit_vs_delete = conflicts
        .iter()
        .find(|c| c.kind == ConflictKind::EditVsDelete)
        .expect("local store call");
    b.store()
        .resolve_conflict(&edit_vs_delete.id, Resolution::KeepTheirs)
        .await
        .expect("local store call");
    assert_converged(&[&a, &b]).await;
    let p: Prompt = a
        .store()
        .require(&first.id)
        .await
        .expect("local store call");
    assert!(p.deleted_at.is_some());
    assert!(
        b.store()
            .conflicts(false)
            .await
            .expect("local store call")
            .len()
            == 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_desktops_creating_and_editing_converge() {
    let server = TestServer::start(&MONGO).await;
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let mut desktops = Vec::new();
    for dir in &dirs {
        desktops.push(Desktop::open(dir.path(), &server.base, "carol").await);
    }
    // Each creates offline, including one project they all file into later.
    let mut prompts = Vec::new();
    for (i, desktop) in desktops.iter().enumerate() {
        let user = desktop.store().user_id();
        for n in 0..3 {
            let p = desktop
                .store()
                .create(Prompt::new(&user, &format!("P{i}.{n}"), "text"))
                .await
                .expect("local store call");
            prompts.push(p.id);
        }
    }
    let project = desktops[0]
        .store()
        .create(Project::new(&desktops[0].store().user_id(), "Shared"))
        .await
        .expect("local store call");
    let refs: Vec<&Desktop> = desktops.iter().collect();
    assert_converged(&refs).await;
    // Everyone files a different prompt into the project while offline.
    for (i, desktop) in desktops.iter().enumerate() {
        desktop
            .store()
            .patch::<Prompt>(&prompts[i * 3], doc! { "project_id": &project.id })
            .await
            .expect("local store call");
    }
    assert_converged(&refs).await;
    let shared: Project = desktops[2]
        .store()
        .require(&project.id)
        .await
        .expect("local store call");
    assert_eq!(shared.prompt_ids.len(), 3, "{:?}", shared.prompt_ids);
    assert_eq!(shared.stats.prompt_count, 3);
    for desktop in &desktops {
        assert_eq!(
            desktop
                .store()
                .count(promptforge_sync::schema::Collection::Prompts),
            9
        );
        let status = desktop.engine.status().borrow().clone();
        assert_eq!(status.state, SyncState::UpToDate);
        assert_eq!(status.pending, 0);
        assert!(status.last_synced_at.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collaborator_edits_a_shared_prompt_until_unshared() {
    let server = TestServer::start(&MONGO).await;
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let owner = Desktop::open(dirs[0].path(), &server.base, "olivia").await;
    let guest = Desktop::open(dirs[1].path(), &server.base, "gus").await;
    owner.synced().await;
    guest.synced().await;
    let mut shared = Prompt::new("olivia", "Shared", "Draft together");
    shared.collaboration.allowed_users = vec!["gus".into()];
    let shared = owner
        .store()
        .create(shared)
        .await
        .expect("local store call");
    owner
        .store()
        .create(Prompt::new("olivia", "Private", "Mine alone"))
        .await
        .expect("local store call");
    owner.synced().await;
    guest.synced().await;
    assert_eq!(
        guest
            .store()
            .count(promptforge_sync::schema::Collection::Prompts),
        1,
        "the guest sees only what is shared with them"
    );

    // The guest's edit reaches the owner.
    guest
        .store()
        .patch::<Prompt>(&shared.id, doc! { "description": "Edited by Gus" })
        .await
        .expect("local store call");
    guest.synced().await;
    owner.synced().await;
    let on_owner: Prompt = owner
        .store()
        .require(&shared.id)
        .await
        .expect("local store call");
    assert_eq!(on_owner.description.as_deref(), Some("Edited by Gus"));
    assert_eq!(on_owner.last_modified_by, "gus");

    // A content edit by the guest records a version that belongs to the
    // prompt (its owner's history), and the server accepts it.
    guest
        .store()
        .patch::<Prompt>(&shared.id, doc! { "content": "Draft together, v2" })
        .await
        .expect("local store call");
    guest.synced().await;
    let attention = guest.store().needs_attention().await.expect("attention");
    assert!(attention.is_empty(), "{attention:?}");
    owner.synced().await;
    let history = owner
        .store()
        .prompt_versions(&shared.id)
        .await
        .expect("versions");
    assert!(
        history.iter().any(|v| v.content == "Draft together, v2"),
        "the guest's version is in the owner's history"
    );

    // Unshared while the guest has an edit pending: the guest's copy goes,
    // and the edit that can no longer be uploaded is listed, not lost silently.
    owner
        .store()
        .patch::<Prompt>(
            &shared.id,
            doc! { "collaboration.allowed_users": Bson::Array(Vec::new()) },
        )
        .await
        .expect("local store call");
    owner.synced().await;
    guest
        .store()
        .patch::<Prompt>(&shared.id, doc! { "title": "Too late" })
        .await
        .expect("local store call");
    let report = guest.sync().await.expect("sync");
    assert!(
        guest
            .store()
            .get::<Prompt>(&shared.id)
            .await
            .expect("get")
            .is_none(),
        "the unshared prompt left the guest's library ({report:?})"
    );
    let attention = guest.store().needs_attention().await.expect("attention");
    assert_eq!(attention.len(), 1, "{attention:?}");
    assert!(
        matches!(attention[0].reason.as_str(), "left_scope" | "not_found"),
        "{attention:?}"
    );
    let on_owner: Prompt = owner
        .store()
        .require(&shared.id)
        .await
        .expect("local store call");
    assert_eq!(
        on_owner.title, "Shared",
        "the guest's late edit was not applied"
    );
}

/// Found by the simulation (seed 2032382468 of its earlier shape): an edit
/// then a delete on one desktop, while another desktop deleted first. The
/// server refused the edit (its document was gone) and the queued delete
/// changed nothing, so the edit vanished without a record. It must reach the
/// trashed copy on every desktop, as it does when nobody else deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_before_a_delete_survives_another_desktops_delete() {
    let server = TestServer::start(&MONGO).await;
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let a = Desktop::open(dirs[0].path(), &server.base, "dora").await;
    let b = Desktop::open(dirs[1].path(), &server.base, "dora").await;
    a.synced().await;
    let idea = a
        .store()
        .create(Idea::new("dora", "Garden", "A garden app"))
        .await
        .expect("create");
    a.synced().await;
    b.synced().await;
    b.store()
        .patch::<Idea>(&idea.id, doc! { "tags": ["charlie-380"] })
        .await
        .expect("edit on b");
    b.store()
        .delete::<Idea>(&idea.id)
        .await
        .expect("delete on b");
    a.store()
        .delete::<Idea>(&idea.id)
        .await
        .expect("delete on a");
    a.synced().await;
    b.synced().await;
    assert_converged(&[&a, &b]).await;
    for desktop in [&a, &b] {
        let trashed: Idea = desktop.store().require(&idea.id).await.expect("idea");
        assert!(trashed.deleted_at.is_some(), "deleted everywhere");
        assert_eq!(
            trashed.tags,
            vec!["charlie-380".to_owned()],
            "the edit is kept"
        );
    }
}

/// "Keep both" on each kind of conflict, through the real engine: after an
/// edit met a delete it keeps a copy with the edit and lets the delete
/// stand; a collaborator's edit to what the owner deleted lives on as the
/// collaborator's own copy; after a delete met an edit it is refused by name
/// (a document cannot be both deleted and kept), and the conflict stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_both_means_something_for_every_conflict_kind() {
    let server = TestServer::start(&MONGO).await;
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let a = Desktop::open(dirs[0].path(), &server.base, "kim").await;
    let b = Desktop::open(dirs[1].path(), &server.base, "kim").await;
    let guest = Desktop::open(dirs[2].path(), &server.base, "lev").await;
    a.synced().await;
    let edited = a
        .store()
        .create(Prompt::new("kim", "Edited", "one"))
        .await
        .expect("create");
    let deleted = a
        .store()
        .create(Prompt::new("kim", "Deleted", "two"))
        .await
        .expect("create");
    let mut shared = Prompt::new("kim", "Shared", "three");
    shared.collaboration.allowed_users = vec!["lev".into()];
    let shared = a.store().create(shared).await.expect("create");
    a.synced().await;
    b.synced().await;
    guest.synced().await;

    // B edits what A deletes; B deletes what A edits; the guest edits what
    // A deletes.
    a.store()
        .delete::<Prompt>(&edited.id)
        .await
        .expect("delete");
    a.store()
        .patch::<Prompt>(&deleted.id, doc! { "title": "Deleted, edited" })
        .await
        .expect("edit");
    a.store()
        .delete::<Prompt>(&shared.id)
        .await
        .expect("delete");
    b.store()
        .patch::<Prompt>(&edited.id, doc! { "title": "Edited on b" })
        .await
        .expect("edit");
    b.store()
        .delete::<Prompt>(&deleted.id)
        .await
        .expect("delete");
    guest
        .store()
        .patch::<Prompt>(&shared.id, doc! { "content": "three, by lev" })
        .await
        .expect("guest edit");
    a.synced().await;
    b.synced().await;
    guest.synced().await;

    let open = |conflicts: Vec<promptforge_sync::Conflict>, kind: ConflictKind, id: &str| {
        conflicts
            .into_iter()
            .find(|c| c.kind == kind && c.doc_id == id)
            .unwrap_or_else(|| panic!("no {kind:?} conflict on {id}"))
    };
    let on_b = b.store().conflicts(false).await.expect("conflicts");
    let edit_vs_delete = open(on_b.clone(), ConflictKind::EditVsDelete, &edited.id);
    let delete_vs_edit = open(on_b, ConflictKind::DeleteVsEdit, &deleted.id);

    b.store()
        .resolve_conflict(&edit_vs_delete.id, Resolution::KeepBoth)
        .await
        .expect("keep both after an edit met a delete");
    let refused = b
        .store()
        .resolve_conflict(&delete_vs_edit.id, Resolution::KeepBoth)
        .await
        .expect_err("keep both cannot apply after a delete met an edit");
    assert!(
        refused
            .to_string()
            .contains("cannot be both deleted and kept"),
        "{refused}"
    );
    let still_open = b.store().conflicts(false).await.expect("conflicts");
    assert!(still_open.iter().any(|c| c.id == delete_vs_edit.id));

    let on_guest = guest.store().conflicts(false).await.expect("conflicts");
    let by_owner = open(on_guest, ConflictKind::EditVsDelete, &shared.id);
    assert_eq!(by_owner.resolution, "deleted_by_owner");
    guest
        .store()
        .resolve_conflict(&by_owner.id, Resolution::KeepBoth)
        .await
        .expect("the collaborator keeps a copy");

    assert_converged(&[&a, &b]).await;
    guest.synced().await;
    for desktop in [&a, &b] {
        let original: Prompt = desktop.store().require(&edited.id).await.expect("original");
        assert!(original.deleted_at.is_some(), "the delete stands");
        let copies = desktop
            .store()
            .list::<Prompt>(promptforge_sync::ListQuery::default())
            .await
            .expect("list");
        assert!(
            copies
                .items
                .iter()
                .any(|p| p.title == "Edited on b (my copy)" && p.deleted_at.is_none()),
            "a copy keeps the edit: {:?}",
            copies.items.iter().map(|p| &p.title).collect::<Vec<_>>()
        );
    }
    let mine = guest
        .store()
        .list::<Prompt>(promptforge_sync::ListQuery::default())
        .await
        .expect("list");
    let copy = mine
        .items
        .iter()
        .find(|p| p.title == "Shared (my copy)")
        .expect("the collaborator's copy");
    assert_eq!(copy.user_id, "lev");
    assert_eq!(copy.content, "three, by lev");
    assert!(
        a.store()
            .get::<Prompt>(&copy.id)
            .await
            .expect("get")
            .is_none(),
        "the copy is the collaborator's own"
    );
}

/// A first sync's progress has one total for the whole pull, asked before
/// the first page: it never jumps back between collections, and `done`
/// only grows until it reaches the total. (It used to restart at each
/// collection, and counted what remained only when a page was cut by size.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_reports_one_total_that_never_jumps_back() {
    use promptforge_sync::engine::{SyncPhase, SyncState};
    use promptforge_sync::SyncConfig;
    let server = TestServer::start(&MONGO).await;
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let writer = Desktop::open(dirs[0].path(), &server.base, "pia").await;
    writer.synced().await;
    for n in 0..20 {
        writer
            .store()
            .create(Prompt::new("pia", &format!("Prompt {n}"), "text"))
            .await
            .expect("prompt");
        writer
            .store()
            .create(Idea::new("pia", &format!("Idea {n}"), "text"))
            .await
            .expect("idea");
    }
    writer.synced().await;

    let config = SyncConfig {
        pull_page_bytes: Some(1024),
        ..SyncConfig::default()
    };
    let fresh = Desktop::open_with(dirs[1].path(), &server.base, "pia", config).await;
    let mut status = fresh.engine.status();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while status.changed().await.is_ok() {
            let state = status.borrow_and_update().state.clone();
            match state {
                SyncState::Syncing {
                    phase: SyncPhase::Pull,
                    done,
                    total,
                } => seen.push((done, total)),
                SyncState::UpToDate => break,
                _ => {}
            }
        }
        seen
    });
    let report = fresh.synced().await;
    let seen = watcher.await.expect("watcher");
    assert!(seen.len() >= 2, "progress was published: {seen:?}");
    let totals: std::collections::BTreeSet<Option<u64>> = seen.iter().map(|(_, t)| *t).collect();
    assert_eq!(totals.len(), 1, "one total for the whole pull: {seen:?}");
    let total = seen[0].1.expect("a total");
    assert_eq!(total, report.pulled as u64, "the total is what was pulled");
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "done never goes back: {seen:?}"
    );
}

/// The desktop holds a collaborator to the server's rules before anything
/// is queued: they may edit what is shared with them, but neither trash it
/// nor change who sees it, so nothing they do ends up refused later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collaborator_may_edit_a_shared_prompt_but_not_trash_or_reshare_it() {
    let server = TestServer::start(&MONGO).await;
    let (owner_dir, guest_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let owner = Desktop::open(owner_dir.path(), &server.base, "olga").await;
    let guest = Desktop::open(guest_dir.path(), &server.base, "gus").await;
    let mut prompt = Prompt::new("olga", "Shared", "Body");
    prompt.collaboration.allowed_users = vec!["gus".into()];
    let prompt = owner.store().create(prompt).await.expect("create");
    owner.synced().await;
    guest.synced().await;

    let refused = [
        guest.store().delete::<Prompt>(&prompt.id).await.map(drop),
        guest
            .store()
            .patch::<Prompt>(&prompt.id, doc! { "visibility": "public" })
            .await
            .map(drop),
        guest
            .store()
            .patch::<Prompt>(
                &prompt.id,
                doc! { "collaboration.allowed_users": ["gus", "mallory"] },
            )
            .await
            .map(drop),
    ];
    for outcome in refused {
        let err = outcome.expect_err("only the owner may");
        assert!(
            matches!(err, promptforge_sync::StoreError::NotAllowed { .. }),
            "{err}"
        );
    }
    guest
        .store()
        .patch::<Prompt>(&prompt.id, doc! { "title": "Shared, edited by Gus" })
        .await
        .expect("a collaborator edits");
    guest.synced().await;
    owner.synced().await;
    assert!(guest
        .store()
        .needs_attention()
        .await
        .expect("attention")
        .is_empty());
    let seen = owner.store().get::<Prompt>(&prompt.id).await.expect("get");
    let seen = seen.expect("still there");
    assert_eq!(seen.title, "Shared, edited by Gus");
    assert!(seen.deleted_at.is_none());
    // The owner still trashes and restores it.
    owner
        .store()
        .delete::<Prompt>(&prompt.id)
        .await
        .expect("owner deletes");
    owner
        .store()
        .restore::<Prompt>(&prompt.id)
        .await
        .expect("owner restores");
}
