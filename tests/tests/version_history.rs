//! A prompt's version history across devices and people, against the real
//! sync server and SecantusDB: numbers the server gives (no two "v2"), a
//! `latest_version_id` that always holds the prompt's text, a restore that
//! loses a clash recorded like any edit, and a shared prompt's history on
//! every device of every reader, fresh devices included.

use std::sync::LazyLock;

use bson::{doc, Bson};
use promptforge_sync::schema::{Collection, Prompt, PromptVersion};
use promptforge_tests::desktop::{replica_difference, Desktop};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// Syncs every desktop until a full pass changes nothing anywhere.
async fn settle(desktops: &[&Desktop]) {
    for _ in 0..3 {
        for desktop in desktops {
            desktop.synced().await;
        }
    }
}

/// The history of `prompt_id` on `desktop`, checked: numbers 1..n, no
/// store invariant broken, and the latest version holding the prompt's text.
async fn checked_history(desktop: &Desktop, prompt_id: &str) -> (Prompt, Vec<PromptVersion>) {
    let problems = desktop.store().check_consistency().await.expect("check");
    assert!(problems.is_empty(), "{problems:?}");
    let prompt: Prompt = desktop.store().require(prompt_id).await.expect("prompt");
    let mut history = desktop
        .store()
        .prompt_versions(prompt_id)
        .await
        .expect("versions");
    history.sort_by_key(|v| v.version_number);
    let numbers: Vec<i64> = history.iter().map(|v| v.version_number).collect();
    let expected: Vec<i64> = (1..=history.len() as i64).collect();
    assert_eq!(numbers, expected, "version numbers of {prompt_id}");
    let latest = history
        .iter()
        .find(|v| v.id == prompt.latest_version_id)
        .expect("latest_version_id names one of the prompt's versions");
    assert_eq!(
        latest.content, prompt.content,
        "latest version holds the text"
    );
    (prompt, history)
}

async fn assert_same_replicas(desktops: &[&Desktop]) {
    let first = desktops[0].replica().await;
    for other in &desktops[1..] {
        if let Some(diff) = replica_difference(&first, &other.replica().await) {
            panic!("replicas differ: {diff}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_loses_a_clash_is_recorded_and_history_stays_in_step() {
    let server = TestServer::start(&MONGO).await;
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let mut laptops = Vec::new();
    for dir in &dirs {
        let laptop = Desktop::open(dir.path(), &server.base, "vera").await;
        laptop.synced().await;
        laptops.push(laptop);
    }
    let [one, two, three] = [&laptops[0], &laptops[1], &laptops[2]];
    let prompt = one
        .store()
        .create(Prompt::new("vera", "Story", "Once upon a time"))
        .await
        .expect("create");
    settle(&[one, two, three]).await;

    // The sequence: two edits, two restores v1, three syncs, two syncs.
    two.store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "Laptop two's text" })
        .await
        .expect("edit on two");
    three
        .store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "Laptop three's text" })
        .await
        .expect("edit on three");
    two.store()
        .restore_prompt_version(&prompt.id, 1)
        .await
        .expect("restore on two");
    three.synced().await;
    let report = two.synced().await;
    assert!(report.conflicts > 0, "{report:?}");
    settle(&[one, two, three]).await;

    for laptop in [one, two, three] {
        let (now, history) = checked_history(laptop, &prompt.id).await;
        assert_eq!(now.content, "Laptop three's text", "the first to sync wins");
        assert!(
            history.iter().any(|v| v.content == "Laptop two's text"),
            "laptop two's edit stays in the history"
        );
    }
    // Laptop two's restore lost, and says so with both texts.
    let conflicts = two.store().conflicts(false).await.expect("conflicts");
    let restore = conflicts
        .iter()
        .find(|c| c.doc_id == prompt.id && c.field.as_deref() == Some("content"))
        .unwrap_or_else(|| panic!("no content conflict recorded: {conflicts:?}"));
    assert_eq!(restore.mine, Bson::String("Once upon a time".into()));
    assert_eq!(restore.theirs, Bson::String("Laptop three's text".into()));
    let saved = restore
        .lost_saved_as
        .clone()
        .expect("the losing text is kept");
    let kept: PromptVersion = two.store().require(&saved).await.expect("kept version");
    assert_eq!(kept.content, "Once upon a time");
    assert_eq!(kept.prompt_id, prompt.id);
    assert!(
        conflicts
            .iter()
            .all(|c| c.field.as_deref() != Some("latest_version_id")),
        "the version follows its text: one conflict, not two ({conflicts:?})"
    );
    assert_same_replicas(&[one, two, three]).await;
    server.assert_seed_required().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_offline_edits_number_versions_once() {
    let server = TestServer::start(&MONGO).await;
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let mut laptops = Vec::new();
    for dir in &dirs {
        let laptop = Desktop::open(dir.path(), &server.base, "nina").await;
        laptop.synced().await;
        laptops.push(laptop);
    }
    let all: Vec<&Desktop> = laptops.iter().collect();
    let prompt = all[0]
        .store()
        .create(Prompt::new("nina", "Poem", "Roses"))
        .await
        .expect("create");
    settle(&all).await;
    // Every laptop edits twice offline (each numbering its versions 2 and 3),
    // one also restores, and they sync in turn, one of them pulling another's
    // versions while its own are still unsent.
    for (n, laptop) in all.iter().enumerate() {
        for round in 0..2 {
            laptop
                .store()
                .patch::<Prompt>(
                    &prompt.id,
                    doc! { "content": format!("Laptop {n}, edit {round}") },
                )
                .await
                .expect("edit");
        }
    }
    all[2]
        .store()
        .restore_prompt_version(&prompt.id, 2)
        .await
        .expect("restore");
    for laptop in &all {
        laptop.synced().await;
    }
    settle(&all).await;
    let mut histories = Vec::new();
    for laptop in &all {
        let (_, history) = checked_history(laptop, &prompt.id).await;
        assert_eq!(history.len(), 8, "1 + 3 x 2 edits + 1 restore: {history:?}");
        histories.push(history);
    }
    assert_same_replicas(&all).await;
    // Every edit that lost is a recorded conflict naming its version.
    let mut lost = 0;
    for laptop in &all[1..] {
        for conflict in laptop.store().conflicts(false).await.expect("conflicts") {
            if conflict.field.as_deref() == Some("content") {
                let saved = conflict.lost_saved_as.expect("saved as a version");
                assert!(histories[0].iter().any(|v| v.id == saved));
                lost += 1;
            }
        }
    }
    assert_eq!(
        lost, 2,
        "the two laptops that synced last each lost a clash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_of_every_reader_holds_a_shared_prompts_history() {
    let server = TestServer::start(&MONGO).await;
    let dirs: Vec<_> = (0..4)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let owner = Desktop::open(dirs[0].path(), &server.base, "omar").await;
    let guest = Desktop::open(dirs[1].path(), &server.base, "gia").await;
    owner.synced().await;
    guest.synced().await;
    let prompt = owner
        .store()
        .create(Prompt::new("omar", "Pitch", "Our product"))
        .await
        .expect("create");
    owner
        .store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "Our product, better" })
        .await
        .expect("edit");
    owner.synced().await;
    guest.synced().await;
    // Shared after its history was made: the guest's checkpoints are past it.
    owner
        .store()
        .patch::<Prompt>(&prompt.id, doc! { "collaboration.allowed_users": ["gia"] })
        .await
        .expect("share");
    owner.synced().await;
    guest.synced().await;
    let (_, history) = checked_history(&guest, &prompt.id).await;
    assert_eq!(history.len(), 2, "the guest reads the whole history");

    // The guest edits the text; the owner sees the guest's version, and a
    // device the guest signs in on later holds exactly what the first has.
    guest
        .store()
        .patch::<Prompt>(&prompt.id, doc! { "content": "Our product, by Gia" })
        .await
        .expect("guest edit");
    settle(&[&guest, &owner]).await;
    let (on_owner, owner_history) = checked_history(&owner, &prompt.id).await;
    assert_eq!(on_owner.content, "Our product, by Gia");
    let by_guest = owner_history.last().expect("a version");
    assert_eq!(by_guest.created_by, "gia");
    assert_eq!(
        by_guest.user_id, "omar",
        "a prompt's history is its owner's"
    );
    let fresh = Desktop::open(dirs[2].path(), &server.base, "gia").await;
    fresh.synced().await;
    guest.synced().await;
    checked_history(&fresh, &prompt.id).await;
    assert_same_replicas(&[&guest, &fresh]).await;

    // Unshared: the prompt and its history leave every device of the guest.
    owner
        .store()
        .patch::<Prompt>(
            &prompt.id,
            doc! { "collaboration.allowed_users": Bson::Array(Vec::new()) },
        )
        .await
        .expect("unshare");
    owner.synced().await;
    for device in [&guest, &fresh] {
        device.synced().await;
        assert_eq!(device.store().count(Collection::Prompts), 0);
        assert_eq!(
            device.store().count(Collection::PromptVersions),
            0,
            "the history left with the prompt"
        );
    }
    let late = Desktop::open(dirs[3].path(), &server.base, "gia").await;
    late.synced().await;
    assert_same_replicas(&[&guest, &fresh, &late]).await;
    server.assert_seed_required().await;
}
