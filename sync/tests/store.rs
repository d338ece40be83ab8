//! Behaviour of the local store through its public API, on real PoloDB files.

use bson::{doc, Bson, DateTime};
use promptforge_sync::schema::{
    AnalyticsEvent, Collection, Idea, IdeaStatus, Priority, Project, Prompt, PromptStatus,
    PromptVersion, Visibility,
};
use promptforge_sync::{DeletedFilter, Export, ListQuery, SortBy, Store, StoreError};

async fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).await.expect("open store");
    (dir, store)
}

async fn prompt(store: &Store, title: &str, content: &str) -> Prompt {
    store
        .create(Prompt::new(&store.user_id(), title, content))
        .await
        .expect("create prompt")
}

async fn project(store: &Store, title: &str) -> Project {
    store
        .create(Project::new(&store.user_id(), title))
        .await
        .expect("create project")
}

#[tokio::test]
async fn creating_a_prompt_records_version_one_and_stamps_times() {
    let (_dir, store) = open().await;
    let mut draft = Prompt::new(&store.user_id(), "Haiku", "Write a haiku about {topic}");
    draft.created_at = DateTime::from_millis(42);
    draft.version = 7;
    let created = store.create(draft).await.expect("create");

    assert_eq!(created.id.len(), 24, "the store assigns an id");
    assert!(
        created.created_at.timestamp_millis() > 42,
        "callers cannot set created_at"
    );
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(created.version, 0, "only the server advances version");
    let versions = store.prompt_versions(&created.id).await.expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version_number, 1);
    assert_eq!(versions[0].content, created.content);
    assert_eq!(versions[0].changes, "Initial version");
    assert_eq!(created.latest_version_id, versions[0].id);
}

#[tokio::test]
async fn editing_content_adds_a_version_and_any_version_can_be_restored() {
    let (_dir, store) = open().await;
    let p = prompt(&store, "Summary", "v1 text").await;
    store
        .patch::<Prompt>(&p.id, doc! { "content": "v2 text" })
        .await
        .expect("edit 2");
    let v3 = store
        .patch::<Prompt>(&p.id, doc! { "content": "v3 text", "role": "editor" })
        .await
        .expect("edit 3");

    let versions = store.prompt_versions(&p.id).await.expect("versions");
    let numbers: Vec<i64> = versions.iter().map(|v| v.version_number).collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    assert_eq!(versions[0].changes, "Edited content, role");
    assert_eq!(v3.latest_version_id, versions[0].id);

    let restored = store
        .restore_prompt_version(&p.id, 1)
        .await
        .expect("restore v1");
    assert_eq!(restored.content, "v1 text");
    assert_eq!(
        restored.role, None,
        "restoring brings back every versioned field"
    );
    let versions = store.prompt_versions(&p.id).await.expect("versions");
    assert_eq!(versions.len(), 4, "a restore is itself a new version");
    assert_eq!(versions[0].changes, "Restored version 1");
    assert_eq!(restored.latest_version_id, versions[0].id);

    let missing = store.restore_prompt_version(&p.id, 99).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_patch_changes_only_the_given_fields() {
    let (_dir, store) = open().await;
    let mut draft = Prompt::new(&store.user_id(), "Title", "Body");
    draft.tags = vec!["a".into(), "b".into()];
    draft.description = Some("keep me".into());
    let p = store.create(draft).await.expect("create");
    let patched = store
        .patch::<Prompt>(
            &p.id,
            doc! { "title": "New title", "performance.rating": 4.5 },
        )
        .await
        .expect("patch");
    assert_eq!(patched.title, "New title");
    assert_eq!(patched.performance.rating, 4.5);
    assert_eq!(patched.tags, p.tags);
    assert_eq!(patched.description.as_deref(), Some("keep me"));
    assert_eq!(patched.content, "Body");
    assert!(patched.updated_at >= p.updated_at);
    assert_eq!(
        store.prompt_versions(&p.id).await.expect("versions").len(),
        1,
        "no content change, no version"
    );

    let cleared = store
        .patch::<Prompt>(&p.id, doc! { "description": Bson::Null })
        .await
        .expect("clear");
    assert_eq!(cleared.description, None);
}

#[tokio::test]
async fn bad_patches_are_refused_by_field_and_leave_the_document_intact() {
    let (_dir, store) = open().await;
    let p = prompt(&store, "Stable", "Body").await;
    let cases = [
        (doc! { "performance.rating": 9 }, "performance.rating"),
        (doc! { "difficulty": "wizard" }, "difficulty"),
        (doc! { "title": "   " }, "title"),
        (doc! { "tags": ["ok", ""] }, "tags[1]"),
        (doc! { "project_id": "not an id!" }, "project_id"),
        (doc! { "nonsense": 1 }, "nonsense"),
        (
            doc! { "ai_metadata.parameters": { "$where": 1 } },
            "ai_metadata.parameters.$where",
        ),
        (doc! { "language": "english please" }, "language"),
    ];
    for (changes, field) in cases {
        match store.patch::<Prompt>(&p.id, changes.clone()).await {
            Err(StoreError::Invalid(err)) => {
                assert!(
                    err.fields().contains(&field),
                    "{changes}: expected {field} in {err}"
                )
            }
            other => panic!("{changes}: expected a validation error, got {other:?}"),
        }
    }
    for field in [
        "version",
        "latest_version_id",
        "created_at",
        "_id",
        "user_id",
        "deleted_at",
    ] {
        let result = store.patch::<Prompt>(&p.id, doc! { field: "x" }).await;
        assert!(
            matches!(result, Err(StoreError::ReadOnlyField { .. })),
            "{field}: {result:?}"
        );
    }
    let after = store.require::<Prompt>(&p.id).await.expect("still there");
    assert_eq!(after, p, "nothing of a refused patch is stored");
    assert_eq!(
        store.prompt_versions(&p.id).await.expect("versions").len(),
        1
    );
}

#[tokio::test]
async fn moving_prompts_and_ideas_keeps_both_sides_of_the_project_link() {
    let (_dir, store) = open().await;
    let a = project(&store, "A").await;
    let b = project(&store, "B").await;
    let mut draft = Prompt::new(&store.user_id(), "Linked", "Body");
    draft.project_id = Some(a.id.clone());
    let p = store.create(draft).await.expect("create in A");
    let mut idea = Idea::new(&store.user_id(), "Idea", "");
    idea.project_id = Some(a.id.clone());
    let i = store.create(idea).await.expect("idea in A");

    let a_now = store.require::<Project>(&a.id).await.expect("A");
    assert_eq!(a_now.prompt_ids, vec![p.id.clone()]);
    assert_eq!(a_now.idea_ids, vec![i.id.clone()]);
    assert_eq!((a_now.stats.prompt_count, a_now.stats.idea_count), (1, 1));
    assert!(a_now.stats.last_activity.is_some());

    store
        .patch::<Prompt>(&p.id, doc! { "project_id": &b.id })
        .await
        .expect("move to B");
    let a_now = store.require::<Project>(&a.id).await.expect("A");
    let b_now = store.require::<Project>(&b.id).await.expect("B");
    assert!(a_now.prompt_ids.is_empty());
    assert_eq!(a_now.stats.prompt_count, 0);
    assert_eq!(b_now.prompt_ids, vec![p.id.clone()]);
    assert_eq!(b_now.stats.prompt_count, 1);

    store.delete::<Prompt>(&p.id).await.expect("delete");
    let b_now = store.require::<Project>(&b.id).await.expect("B");
    assert!(b_now.prompt_ids.is_empty(), "the trash is not a member");
    let restored = store.restore::<Prompt>(&p.id).await.expect("restore");
    assert_eq!(restored.project_id.as_deref(), Some(b.id.as_str()));
    assert_eq!(
        store.require::<Project>(&b.id).await.expect("B").prompt_ids,
        vec![p.id.clone()]
    );

    store
        .patch::<Idea>(&i.id, doc! { "project_id": Bson::Null })
        .await
        .expect("take idea out");
    assert!(store
        .require::<Project>(&a.id)
        .await
        .expect("A")
        .idea_ids
        .is_empty());

    let direct = store
        .patch::<Project>(&a.id, doc! { "prompt_ids": ["x"] })
        .await;
    assert!(
        matches!(direct, Err(StoreError::ReadOnlyField { .. })),
        "{direct:?}"
    );
    assert!(store.check_consistency().await.expect("check").is_empty());
}

#[tokio::test]
async fn a_prompt_naming_a_missing_project_is_refused_and_nothing_is_stored() {
    let (_dir, store) = open().await;
    let mut draft = Prompt::new(&store.user_id(), "Orphan", "Body");
    draft.project_id = Some("no-such-project".into());
    match store.create(draft).await {
        Err(StoreError::Invalid(err)) => assert_eq!(err.fields(), ["project_id"]),
        other => panic!("expected project_id error, got {other:?}"),
    }
    assert_eq!(store.count(Collection::Prompts), 0);
    assert_eq!(
        store.count(Collection::PromptVersions),
        0,
        "the version rolled back with the prompt"
    );
    let export = store.export().await.expect("export");
    assert!(export.documents(Collection::PromptVersions).is_empty());
}

#[tokio::test]
async fn soft_delete_and_restore_round_trip_and_edits_to_deleted_documents_are_refused() {
    let (_dir, store) = open().await;
    let p = prompt(&store, "Trash me", "Body").await;
    let deleted = store.delete::<Prompt>(&p.id).await.expect("delete");
    assert!(deleted.deleted_at.is_some());
    assert_eq!(
        deleted.deleted_by.as_deref(),
        Some(store.user_id().as_str())
    );
    let edit = store.patch::<Prompt>(&p.id, doc! { "title": "x" }).await;
    assert!(matches!(edit, Err(StoreError::Deleted { .. })), "{edit:?}");
    let again = store.delete::<Prompt>(&p.id).await;
    assert!(
        matches!(again, Err(StoreError::Deleted { .. })),
        "{again:?}"
    );
    let restored = store.restore::<Prompt>(&p.id).await.expect("restore");
    assert_eq!(restored.deleted_at, None);
    assert_eq!(restored.deleted_by, None);
    let not_deleted = store.restore::<Prompt>(&p.id).await;
    assert!(
        matches!(not_deleted, Err(StoreError::NotDeleted { .. })),
        "{not_deleted:?}"
    );
    let versions = store.create(PromptVersion {
        id: String::new(),
        prompt_id: p.id.clone(),
        user_id: store.user_id(),
        version_number: 9,
        content: "sneaky".into(),
        role: None,
        prompt_type: "text".into(),
        changes: String::new(),
        created_at: DateTime::now(),
        created_by: String::new(),
        version: 0,
    });
    assert!(matches!(versions.await, Err(StoreError::NotAllowed { .. })));
}

#[tokio::test]
async fn lists_filter_sort_search_and_page() {
    let (_dir, store) = open().await;
    let folder = project(&store, "Folder").await;
    for i in 0..30 {
        let mut p = Prompt::new(
            &store.user_id(),
            &format!("Prompt {i:02}"),
            &format!("content number {i}"),
        );
        p.category = if i % 2 == 0 {
            "writing".into()
        } else {
            "code".into()
        };
        p.tags = if i % 3 == 0 {
            vec!["fav".into(), "x".into()]
        } else {
            vec!["x".into()]
        };
        p.status = if i < 5 {
            PromptStatus::Active
        } else {
            PromptStatus::Draft
        };
        p.visibility = if i == 7 {
            Visibility::Public
        } else {
            Visibility::Private
        };
        p.folder_id = (i == 8).then(|| "folder-1".into());
        p.project_id = (i == 9).then(|| folder.id.clone());
        if i == 11 {
            p.description = Some("A very Distinctive phrase".into());
        }
        store.create(p).await.expect("create");
    }
    let ids = |page: &promptforge_sync::Page<Prompt>| {
        page.items
            .iter()
            .map(|p| p.title.clone())
            .collect::<Vec<_>>()
    };

    let all = store
        .list::<Prompt>(ListQuery::default())
        .await
        .expect("list");
    assert_eq!(all.total, 30);
    assert_eq!(all.items.len(), 30);
    assert_eq!(all.items[0].title, "Prompt 29", "newest first");

    let writing = store
        .list::<Prompt>(ListQuery {
            category: Some("writing".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(writing.total, 15);
    let fav = store
        .list::<Prompt>(ListQuery {
            tags: vec!["fav".into(), "x".into()],
            ..Default::default()
        })
        .await
        .expect("fav");
    assert_eq!(fav.total, 10);
    let active = store
        .list::<Prompt>(ListQuery {
            status: Some("active".into()),
            ..Default::default()
        })
        .await
        .expect("a");
    assert_eq!(active.total, 5);
    let public = store
        .list::<Prompt>(ListQuery {
            visibility: Some("public".into()),
            ..Default::default()
        })
        .await
        .expect("p");
    assert_eq!(ids(&public), ["Prompt 07"]);
    let in_folder = store
        .list::<Prompt>(ListQuery {
            folder_id: Some("folder-1".into()),
            ..Default::default()
        })
        .await
        .expect("f");
    assert_eq!(ids(&in_folder), ["Prompt 08"]);
    let in_project = store
        .list::<Prompt>(ListQuery {
            project_id: Some(folder.id.clone()),
            ..Default::default()
        })
        .await
        .expect("p");
    assert_eq!(ids(&in_project), ["Prompt 09"]);
    let search = store
        .list::<Prompt>(ListQuery {
            text: Some("distinctive PHRASE".into()),
            ..Default::default()
        })
        .await
        .expect("s");
    assert_eq!(ids(&search), ["Prompt 11"]);
    let by_content = store
        .list::<Prompt>(ListQuery {
            text: Some("number 2".into()),
            ..Default::default()
        })
        .await
        .expect("s");
    // Words match anywhere: "2" is in the titles and contents of 02, 12 and 20-29.
    assert_eq!(by_content.total, 12);

    let page = store
        .list::<Prompt>(ListQuery {
            sort: SortBy::Title,
            offset: 10,
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("page");
    assert_eq!(
        ids(&page),
        [
            "Prompt 10",
            "Prompt 11",
            "Prompt 12",
            "Prompt 13",
            "Prompt 14"
        ]
    );
    assert_eq!(page.total, 30);
    let reversed = store
        .list::<Prompt>(ListQuery {
            sort: SortBy::Title,
            reverse: true,
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("rev");
    assert_eq!(ids(&reversed), ["Prompt 29", "Prompt 28"]);

    let victim = all.items[0].id.clone();
    store.delete::<Prompt>(&victim).await.expect("delete");
    let live = store
        .list::<Prompt>(ListQuery::default())
        .await
        .expect("live");
    assert_eq!(live.total, 29);
    let trash = store
        .list::<Prompt>(ListQuery {
            deleted: DeletedFilter::Only,
            ..Default::default()
        })
        .await
        .expect("trash");
    assert_eq!(
        trash.items.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        [victim]
    );
}

#[tokio::test]
async fn ideas_filter_by_starred_priority_and_status() {
    let (_dir, store) = open().await;
    for (i, (starred, priority, status)) in [
        (true, Priority::High, IdeaStatus::Raw),
        (false, Priority::High, IdeaStatus::Developing),
        (true, Priority::Low, IdeaStatus::Developing),
    ]
    .into_iter()
    .enumerate()
    {
        let mut idea = Idea::new(&store.user_id(), &format!("Idea {i}"), "");
        idea.starred = starred;
        idea.priority = priority;
        idea.status = status;
        store.create(idea).await.expect("create");
    }
    let query = ListQuery {
        starred: Some(true),
        priority: Some("high".into()),
        ..Default::default()
    };
    let page = store.list::<Idea>(query).await.expect("list");
    assert_eq!(
        page.items
            .iter()
            .map(|i| i.title.as_str())
            .collect::<Vec<_>>(),
        ["Idea 0"]
    );
    let developing = store
        .list::<Idea>(ListQuery {
            status: Some("developing".into()),
            ..Default::default()
        })
        .await
        .expect("dev");
    assert_eq!(developing.total, 2);
}

#[tokio::test]
async fn concurrent_modifications_of_one_document_lose_nothing() {
    let (_dir, store) = open().await;
    let p = prompt(&store, "Counter", "Body").await;
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = store.clone();
        let id = p.id.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..25 {
                store
                    .modify::<Prompt>(&id, |p| p.performance.test_count += 1)
                    .await
                    .expect("increment");
                if step % 5 == 0 {
                    store
                        .patch::<Prompt>(
                            &id,
                            doc! { "content": format!("task {task} step {step}") },
                        )
                        .await
                        .expect("edit content");
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let after = store.require::<Prompt>(&p.id).await.expect("prompt");
    assert_eq!(
        after.performance.test_count, 200,
        "every increment survived"
    );
    let versions = store.prompt_versions(&p.id).await.expect("versions");
    assert_eq!(versions.len(), 1 + 8 * 5);
    let mut numbers: Vec<i64> = versions.iter().map(|v| v.version_number).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=41).collect::<Vec<_>>(),
        "no duplicate or skipped version number"
    );
    assert!(store.check_consistency().await.expect("check").is_empty());
}

#[tokio::test]
async fn concurrent_creates_with_one_id_store_exactly_one_document() {
    let (_dir, store) = open().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut p = Prompt::new(&store.user_id(), &format!("Racer {i}"), "Body");
            p.id = "same-id".into();
            store.create(p).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    let export = store.export().await.expect("export");
    assert_eq!(export.documents(Collection::Prompts).len(), 1);
    assert_eq!(export.documents(Collection::PromptVersions).len(), 1);
}

#[tokio::test]
async fn documents_over_mongodbs_16_mib_limit_are_refused() {
    let (_dir, store) = open().await;
    let event = AnalyticsEvent {
        id: String::new(),
        user_id: None,
        session_id: "s1".into(),
        event_type: "test".into(),
        event_category: String::new(),
        event_name: "huge".into(),
        event_data: doc! { "blob": "x".repeat(17 * 1024 * 1024) },
        metadata: doc! {},
        context: Default::default(),
        performance: Default::default(),
        business_metrics: Default::default(),
        timestamp: DateTime::now(),
        expires_at: None,
        version: 0,
    };
    let result = store.create(event).await;
    assert!(
        matches!(result, Err(StoreError::TooLarge { .. })),
        "{:?}",
        result.map(|_| ())
    );
    assert_eq!(store.count(Collection::AnalyticsEvents), 0);
}

#[tokio::test]
async fn a_second_open_of_a_profile_gets_a_clear_lock_error_until_the_first_closes() {
    let (dir, store) = open().await;
    let second = Store::open(dir.path()).await;
    match second {
        Err(err @ StoreError::ProfileLocked { .. }) => {
            assert!(
                err.to_string()
                    .contains("open in another PromptForge process"),
                "{err}"
            )
        }
        other => panic!("expected ProfileLocked, got {:?}", other.map(|_| ())),
    }
    drop(store);
    let reopened = Store::open(dir.path()).await.expect("reopens after close");
    drop(reopened);
}

#[tokio::test]
async fn data_and_catalog_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let (id, user) = {
        let store = Store::open(dir.path()).await.expect("open");
        let p = prompt(&store, "Persistent", "Remember the needle").await;
        (p.id, store.user_id().to_owned())
    };
    let store = Store::open(dir.path()).await.expect("reopen");
    assert_eq!(store.user_id(), user, "the profile keeps its user");
    let found = store
        .list::<Prompt>(ListQuery {
            text: Some("needle".into()),
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(
        found.items.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        [id]
    );
}

/// Titles of the live prompts matching `text`, A-Z.
async fn titles(store: &Store, text: &str) -> Vec<String> {
    store
        .list::<Prompt>(ListQuery {
            text: Some(text.into()),
            sort: SortBy::Title,
            ..Default::default()
        })
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|p| p.title)
        .collect()
}

#[tokio::test]
async fn a_catalog_snapshot_that_no_longer_matches_the_documents_is_not_used() {
    let dir = tempfile::tempdir().expect("dir");
    let snapshot = dir.path().join("catalog.snapshot");
    let first = {
        let store = Store::open(dir.path()).await.expect("open");
        let first = prompt(&store, "Alpha brief", "shared words").await;
        prompt(&store, "Beta brief", "shared words").await;
        first
    };
    let old_snapshot = std::fs::read(&snapshot).expect("a clean close saves the catalog");
    {
        let store = Store::open(dir.path()).await.expect("reopen");
        assert_eq!(titles(&store, "brief").await, ["Alpha brief", "Beta brief"]);
        prompt(&store, "Gamma brief", "shared words").await;
        store.delete::<Prompt>(&first.id).await.expect("trash");
    }
    // As if the previous session's snapshot had survived: it describes the
    // library before the last session's edits.
    std::fs::write(&snapshot, old_snapshot).expect("put back the old snapshot");
    let store = Store::open(dir.path()).await.expect("reopen");
    assert_eq!(titles(&store, "brief").await, ["Beta brief", "Gamma brief"]);
    assert_eq!(
        store.check_consistency().await.expect("check"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn closing_saves_the_catalog_even_while_handles_live_and_later_writes_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let snapshot = dir.path().join("catalog.snapshot");
    let store = Store::open(dir.path()).await.expect("open");
    prompt(&store, "Saved brief", "words").await;
    let still_held = store.clone();
    store.close().await;
    assert!(snapshot.exists(), "close saves the catalog at once");
    let late = still_held
        .create(Prompt::new(&store.user_id(), "Late brief", "words"))
        .await;
    assert!(
        matches!(late, Err(StoreError::Closed)),
        "a write after close is refused, not lost silently: {late:?}"
    );
    assert_eq!(titles(&still_held, "brief").await, ["Saved brief"]);
    store.close().await;
    drop((store, still_held));

    let store = Store::open(dir.path()).await.expect("reopen");
    assert_eq!(titles(&store, "brief").await, ["Saved brief"]);
    assert_eq!(
        store.check_consistency().await.expect("check"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_damaged_catalog_snapshot_is_rebuilt_from_the_documents() {
    let dir = tempfile::tempdir().expect("dir");
    let snapshot = dir.path().join("catalog.snapshot");
    {
        let store = Store::open(dir.path()).await.expect("open");
        prompt(&store, "Kept brief", "words").await;
    }
    let mut bytes = std::fs::read(&snapshot).expect("a clean close saves the catalog");
    for byte in bytes.iter_mut().skip(20) {
        *byte = 0xff;
    }
    std::fs::write(&snapshot, &bytes).expect("damage the snapshot");
    {
        let store = Store::open(dir.path())
            .await
            .expect("a damaged snapshot is no error");
        assert_eq!(titles(&store, "brief").await, ["Kept brief"]);
    }
    std::fs::write(&snapshot, b"PF").expect("cut the snapshot short");
    let store = Store::open(dir.path())
        .await
        .expect("a short snapshot is no error");
    assert_eq!(titles(&store, "brief").await, ["Kept brief"]);
    assert_eq!(
        store.check_consistency().await.expect("check"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn export_then_import_reproduces_the_library_exactly() {
    let (_dir, source) = open().await;
    let proj = project(&source, "Exported").await;
    let mut p = Prompt::new(
        &source.user_id(),
        "With ümlauts and emoji 🚀",
        "Line 1\nLine 2",
    );
    p.project_id = Some(proj.id.clone());
    p.ai_metadata.parameters = doc! { "temperature": 0.7, "max_tokens": 512_i32, "stop": ["\n\n"] };
    let p = source.create(p).await.expect("create");
    source
        .patch::<Prompt>(&p.id, doc! { "content": "Line 1 edited" })
        .await
        .expect("edit");
    source
        .create(Idea::new(
            &source.user_id(),
            "An idea",
            "with a description",
        ))
        .await
        .expect("idea");

    let json = source.export().await.expect("export").to_json().to_string();
    let (_dir2, target) = open().await;
    let report = target
        .import(Export::from_json(&json).expect("parse"))
        .await
        .expect("import");
    assert_eq!(report.documents, 5);
    let again = target.export().await.expect("export again");
    let original = source.export().await.expect("export");
    assert_eq!(again.collections, original.collections, "lossless");
    assert!(target.check_consistency().await.expect("check").is_empty());
    let found = target
        .list::<Prompt>(ListQuery {
            text: Some("ümlauts".into()),
            ..Default::default()
        })
        .await
        .expect("s");
    assert_eq!(found.total, 1, "the catalog learns imported documents");
}

#[tokio::test]
async fn an_import_with_one_bad_document_writes_nothing() {
    let (_dir, store) = open().await;
    let keep = prompt(&store, "Existing", "Do not lose me").await;
    let mut export = store.export().await.expect("export");
    let prompts = export
        .collections
        .get_mut(&Collection::Prompts)
        .expect("prompts");
    let mut replaced = prompts[0].clone();
    replaced.insert("title", "Replaced by import");
    prompts[0] = replaced;
    let mut bad = prompts[0].clone();
    bad.insert("_id", "second");
    bad.insert("status", "bogus");
    prompts.push(bad);

    match store.import(export).await {
        Err(StoreError::Import(problem)) => {
            let text = problem.to_string();
            assert!(
                text.contains("prompts[1]") && text.contains("status"),
                "{text}"
            );
        }
        other => panic!("expected an import error, got {other:?}"),
    }
    assert_eq!(store.require::<Prompt>(&keep.id).await.expect("kept"), keep);
    assert_eq!(store.count(Collection::Prompts), 1);

    for (text, expected) in [
        ("not json", "not JSON"),
        (r#"{"format":"other"}"#, "format"),
        (
            r#"{"format":"promptforge-library","format_version":{"$numberLong":"1"},"exported_at":{"$date":{"$numberLong":"0"}},"collections":{"widgets":[]}}"#,
            "widgets",
        ),
    ] {
        let err = Export::from_json(text).expect_err(text);
        assert!(err.to_string().contains(expected), "{text}: {err}");
    }
}

#[tokio::test]
async fn a_document_created_from_fields_starts_as_the_app_and_the_cli_start_it() {
    let (_dir, store) = open().await;
    let made: Prompt = store
        .create_from(doc! { "title": "Haiku", "content": "Write a haiku", "tags": ["poetry"] })
        .await
        .expect("create from fields");
    assert_eq!(made.user_id, store.user_id());
    assert_eq!(made.created_by, store.user_id());
    assert_eq!(made.category, "general");
    assert_eq!(made.status, PromptStatus::Draft);
    assert_eq!(made.tags, ["poetry"]);

    // The messages are the ones the app has always shown; the CLI shares them.
    let err = store
        .create_from::<Prompt>(doc! { "title": "x", "content": "y", "user_id": "someone-else" })
        .await
        .expect_err("an owner given for a new document");
    assert_eq!(
        err.to_string(),
        "user_id is set by the app and cannot be given for a new document"
    );
    let err = store
        .create_from::<PromptVersion>(doc! {})
        .await
        .expect_err("versions are recorded, not created");
    assert!(matches!(err, StoreError::NotCreatable { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "prompt_versions cannot be created from the app"
    );
    let err = store
        .create_from::<Prompt>(doc! { "title": "x", "content": "y", "title.first": "z" })
        .await
        .expect_err("a path through a string");
    assert_eq!(
        err.to_string(),
        "title.first: `title` is not an object, so `title.first` cannot be set"
    );
    assert_eq!(
        store.count(Collection::Prompts),
        1,
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn a_fork_is_the_users_own_private_draft_naming_its_original() {
    let (_dir, store) = open().await;
    let original: Prompt = store
        .create_from(doc! {
            "title": "Template", "content": "Body", "status": "active",
            "visibility": "public", "is_template": true,
        })
        .await
        .expect("original");
    let fork = store
        .fork_prompt(&original.id, doc! { "user_id": "someone-else" })
        .await
        .expect("fork");
    assert_ne!(fork.id, original.id);
    assert_eq!(fork.parent_prompt_id.as_deref(), Some(original.id.as_str()));
    assert_eq!(fork.title, "Template (my copy)");
    assert_eq!(
        fork.user_id,
        store.user_id(),
        "a fork is always the user's own"
    );
    assert_eq!(fork.status, PromptStatus::Draft);
    assert_eq!(fork.visibility, Visibility::Private);
    assert!(!fork.is_template);

    let kept = store
        .fork_prompt(&original.id, doc! { "title": "Mine", "status": "active" })
        .await
        .expect("fork with changes");
    assert_eq!(kept.title, "Mine");
    assert_eq!(kept.status, PromptStatus::Active, "a status given is kept");
}

#[tokio::test]
async fn a_duplicate_starts_without_the_originals_counters_and_listing() {
    let (_dir, store) = open().await;
    // As a pull brings it: the server's counts of the original's uses, and
    // its listing.
    let mut original = Prompt::new(&store.user_id(), "Counted", "Body");
    original.id = "served-1".into();
    let mut served = bson::to_document(&original).expect("encode");
    served.insert("version", 2_i64);
    served.insert(
        "analytics",
        doc! { "use_count": 7_i64, "share_count": 2_i64 },
    );
    served.insert(
        "marketplace",
        doc! { "is_listed": true, "listing_id": "l1" },
    );
    served.insert("is_featured", true);
    let id = served.get_str("_id").expect("id").to_owned();
    store
        .replica()
        .apply_pull_page(
            Collection::Prompts,
            vec![promptforge_wire::protocol::Change {
                seq: 1,
                id: id.clone(),
                document: served,
                left_scope: false,
            }],
            1,
        )
        .await
        .expect("pulled");
    let counted: Prompt = store.get(&id).await.expect("read").expect("there");
    assert_eq!(counted.analytics.use_count, 7, "the pull was stored");
    assert!(counted.marketplace.is_listed);

    let copy: Prompt = store.duplicate(&id, doc! {}).await.expect("duplicate");
    assert_eq!(copy.analytics.use_count, 0);
    assert_eq!(copy.analytics.share_count, 0);
    assert!(!copy.marketplace.is_listed);
    assert!(copy.marketplace.listing_id.is_none());
    assert!(!copy.is_featured);
    assert_eq!(copy.title, "Counted (my copy)");
}
