//! Randomized simulation of several desktops of one account and one desktop
//! of a collaborator the account shares some prompts with: random edits to
//! prompts, ideas and projects, prompt versions restored, syncs through
//! proxies that partition them or inject faults, and crashes (a sync cut at a
//! random point, the profile closed and reopened). Then the network heals,
//! every desktop syncs, and each user signs in on a fresh device.
//!
//! Asserted for every seed: all replicas of a user are identical, the fresh
//! device's included; every replica passes the store's own consistency check
//! (a prompt's versions numbered 1..n, its latest version holding its text);
//! every acknowledged create is there; outboxes are empty and nothing needs
//! attention; and no acknowledged edit vanished silently: each desktop's last
//! value of each field it edited is the final value, or is recorded in one
//! of its conflicts, or another desktop edited the same field too.
//!
//! `SYNC_SIM_SEEDS=N` runs N seeds (default 100), from `SYNC_SIM_FIRST`
//! (default 1, so CI runs the same seeds every time and a red run is a
//! change's fault, not the draw's; `SYNC_SIM_FIRST=random` draws a start);
//! `SYNC_SIM_SEED=S` runs one, as printed on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use promptforge_sync::schema::{Collection, Idea, Project, Prompt};
use promptforge_sync::{ConflictKind, SyncConfig};
use promptforge_tests::desktop::{replica_difference, Desktop};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::FaultProxy;
use promptforge_tests::server::TestServer;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// The account's desktops; the collaborator's is the next index.
const DESKTOPS: usize = 3;
const GUEST: usize = DESKTOPS;
const OPERATIONS: usize = 40;
const WORDS: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

fn config() -> SyncConfig {
    SyncConfig {
        push_batch: 3,
        pull_page_bytes: Some(2048),
        ..SyncConfig::default()
    }
}

/// What one desktop did, for the checks at the end.
#[derive(Debug, Default)]
struct Journal {
    created: BTreeSet<(Collection, String)>,
    /// (collection, id, field) to the last value this desktop wrote.
    edits: BTreeMap<(Collection, String, String), Bson>,
    /// Documents this desktop deleted last (and did not restore).
    deletes: BTreeSet<(Collection, String)>,
    /// Documents this desktop restored from the trash.
    restores: BTreeSet<(Collection, String)>,
}

struct Sim {
    rng: StdRng,
    base: String,
    /// The user of each desktop: the account's, then the collaborator's.
    users: Vec<String>,
    /// Prompts the account shares with the collaborator.
    shared: Vec<String>,
    // Declared before the directories so the stores close before their
    // directories are removed.
    desktops: Vec<Option<Desktop>>,
    proxies: Vec<FaultProxy>,
    dirs: Vec<tempfile::TempDir>,
    journals: Vec<Journal>,
    /// Ids known to exist somewhere, per collection.
    known: BTreeMap<Collection, Vec<String>>,
    counts: Counts,
}

/// How often the events the checks are about happened, over a whole run.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    documents: usize,
    collaborator_edits: usize,
    version_restores: usize,
    conflicts: usize,
}

impl Sim {
    fn desktop(&self, i: usize) -> &Desktop {
        self.desktops[i].as_ref().expect("desktop open")
    }

    fn pick(&mut self, collection: Collection) -> Option<String> {
        self.known
            .get(&collection)
            .and_then(|ids| ids.choose(&mut self.rng).cloned())
    }

    fn word(&mut self) -> String {
        let n: u32 = self.rng.gen_range(0..1000);
        format!("{} {n}", WORDS.choose(&mut self.rng).unwrap_or(&"x"))
    }

    async fn create(&mut self, i: usize) {
        let user = self.desktop(i).store().user_id();
        let title = self.word();
        let choice = self.rng.gen_range(0..10);
        let store = self.desktop(i).store().clone();
        let (collection, id) = if choice < 5 {
            let mut prompt = Prompt::new(&user, &title, &self.word());
            prompt.project_id = self
                .pick(Collection::Projects)
                .filter(|_| self.rng.gen_bool(0.3));
            let share = self.rng.gen_bool(0.5);
            if share {
                prompt.collaboration.allowed_users = vec![self.users[GUEST].clone()];
            }
            match store.create(prompt).await {
                Ok(p) => {
                    if share {
                        self.shared.push(p.id.clone());
                    }
                    (Collection::Prompts, p.id)
                }
                Err(_) => return, // a project not on this desktop yet
            }
        } else if choice < 8 {
            match store.create(Idea::new(&user, &title, "")).await {
                Ok(idea) => (Collection::Ideas, idea.id),
                Err(err) => panic!("create idea: {err}"),
            }
        } else {
            match store.create(Project::new(&user, &title)).await {
                Ok(project) => (Collection::Projects, project.id),
                Err(err) => panic!("create project: {err}"),
            }
        };
        self.journals[i].created.insert((collection, id.clone()));
        self.known.entry(collection).or_default().push(id);
    }

    /// A prompt desktop `i` may edit: any the account knows, or for the
    /// collaborator one shared with them.
    fn pick_prompt(&mut self, i: usize) -> Option<String> {
        if i == GUEST {
            self.shared.choose(&mut self.rng).cloned()
        } else {
            self.pick(Collection::Prompts)
        }
    }

    async fn edit(&mut self, i: usize) {
        let collection = if i == GUEST {
            Collection::Prompts
        } else {
            *[Collection::Prompts, Collection::Ideas, Collection::Projects]
                .choose(&mut self.rng)
                .unwrap_or(&Collection::Prompts)
        };
        let picked = match collection {
            Collection::Prompts => self.pick_prompt(i),
            _ => self.pick(collection),
        };
        let Some(id) = picked else {
            return;
        };
        let fields: &[&str] = match collection {
            // Who sees a prompt is its owner's to change.
            Collection::Prompts if i == GUEST => &["title", "description", "content", "tags"],
            Collection::Prompts => &["title", "description", "content", "tags", "project_id"],
            Collection::Ideas => &["title", "description", "tags"],
            _ => &["title", "description"],
        };
        let field = *fields.choose(&mut self.rng).unwrap_or(&"title");
        let value = match field {
            "tags" => Bson::Array(vec![Bson::String(self.word().replace(' ', "-"))]),
            "project_id" => match self.pick(Collection::Projects) {
                Some(project) => Bson::String(project),
                None => return,
            },
            _ => Bson::String(self.word()),
        };
        let changes = doc! { field: value.clone() };
        let store = self.desktop(i).store().clone();
        let result = match collection {
            Collection::Prompts => store.patch::<Prompt>(&id, changes).await.map(drop),
            Collection::Ideas => store.patch::<Idea>(&id, changes).await.map(drop),
            _ => store.patch::<Project>(&id, changes).await.map(drop),
        };
        // Documents not here yet, deleted, or a project not yet pulled: the
        // store refuses, nothing was acknowledged.
        if std::env::var_os("SYNC_SIM_TRACE").is_some() {
            println!(
                "  {collection} {id}: {field} = {value} -> {:?}",
                result.as_ref().err()
            );
        }
        if result.is_ok() {
            if i == GUEST {
                self.counts.collaborator_edits += 1;
            }
            self.journals[i]
                .edits
                .insert((collection, id.clone(), field.to_owned()), value);
            self.journals[i].deletes.remove(&(collection, id));
        }
    }

    async fn delete_or_restore(&mut self, i: usize) {
        let collection = *[Collection::Prompts, Collection::Ideas]
            .choose(&mut self.rng)
            .unwrap_or(&Collection::Prompts);
        let Some(id) = self.pick(collection) else {
            return;
        };
        let store = self.desktop(i).store().clone();
        let deleted = match collection {
            Collection::Prompts => store.delete::<Prompt>(&id).await.map(drop),
            _ => store.delete::<Idea>(&id).await.map(drop),
        };
        if deleted.is_ok() {
            self.journals[i].deletes.insert((collection, id));
            return;
        }
        let restored = match collection {
            Collection::Prompts => store.restore::<Prompt>(&id).await.map(drop),
            _ => store.restore::<Idea>(&id).await.map(drop),
        };
        if restored.is_ok() {
            self.journals[i].deletes.remove(&(collection, id.clone()));
            self.journals[i].restores.insert((collection, id));
        }
    }

    /// Puts a prompt's text back to one of its versions, as a new version.
    async fn restore_version(&mut self, i: usize) {
        let Some(id) = self.pick_prompt(i) else {
            return;
        };
        let store = self.desktop(i).store().clone();
        let Ok(history) = store.prompt_versions(&id).await else {
            return;
        };
        let Some(version) = history.choose(&mut self.rng) else {
            return; // not on this desktop yet
        };
        let number = version.version_number;
        let restored = store.restore_prompt_version(&id, number).await;
        if std::env::var_os("SYNC_SIM_TRACE").is_some() {
            println!(
                "  prompt {id}: restore version {number} -> {:?}",
                restored.as_ref().err()
            );
        }
        if let Ok(prompt) = restored {
            self.counts.version_restores += 1;
            if i == GUEST {
                self.counts.collaborator_edits += 1;
            }
            self.journals[i].edits.insert(
                (Collection::Prompts, id.clone(), "content".to_owned()),
                Bson::String(prompt.content),
            );
            self.journals[i].deletes.remove(&(Collection::Prompts, id));
        }
    }

    async fn sync(&mut self, i: usize) {
        if let Err(err) = self.desktop(i).sync().await {
            assert!(err.is_retryable(), "desktop {i}: a final sync error: {err}");
        }
    }

    /// A sync cut at a random point, then the profile closed and reopened.
    async fn crash(&mut self, i: usize) {
        let Some(desktop) = self.desktops[i].take() else {
            return;
        };
        let cut_after = Duration::from_millis(self.rng.gen_range(0..40));
        let round = tokio::spawn(async move {
            let _ = tokio::time::timeout(cut_after, desktop.sync()).await;
            desktop
        });
        let desktop = round.await.expect("sync task");
        drop(desktop);
        self.reopen(i).await;
    }

    async fn reopen(&mut self, i: usize) {
        let desktop = Desktop::open_with(
            self.dirs[i].path(),
            &self.proxies[i].base,
            &self.users[i],
            config(),
        )
        .await;
        self.desktops[i] = Some(desktop);
    }

    fn network(&mut self, i: usize) {
        let proxy = &self.proxies[i];
        match self.rng.gen_range(0..3) {
            0 => proxy.set_offline(true),
            1 => proxy.randomly(self.rng.gen(), 0.3),
            _ => proxy.heal(),
        }
    }
}

async fn run_seed(server: &TestServer, seed: u64) -> Counts {
    let owner = format!("sim-{seed}");
    let mut users = vec![owner.clone(); DESKTOPS];
    users.push(format!("sim-{seed}-guest"));
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        base: server.base.clone(),
        users,
        shared: Vec::new(),
        desktops: Vec::new(),
        proxies: Vec::new(),
        dirs: (0..=GUEST)
            .map(|_| tempfile::tempdir().expect("dir"))
            .collect(),
        journals: (0..=GUEST).map(|_| Journal::default()).collect(),
        known: BTreeMap::new(),
        counts: Counts::default(),
    };
    for i in 0..=GUEST {
        sim.proxies.push(FaultProxy::start(&sim.base).await);
        sim.desktops.push(None);
        sim.reopen(i).await;
    }
    for _ in 0..OPERATIONS {
        let i = sim.rng.gen_range(0..=GUEST);
        let roll = sim.rng.gen_range(0..100);
        // The collaborator creates and deletes nothing of the account's: it
        // edits and restores versions of what is shared with it.
        let op = match roll {
            0..=24 if i == GUEST => "restore version",
            0..=24 => "create",
            25..=54 => "edit",
            55..=64 if i == GUEST => "restore version",
            55..=59 => "delete or restore",
            60..=64 => "restore version",
            65..=84 => "sync",
            85..=92 => "network",
            _ => "crash",
        };
        if std::env::var_os("SYNC_SIM_TRACE").is_some() {
            println!("desktop {i}: {op}");
        }
        match op {
            "create" => sim.create(i).await,
            "edit" => sim.edit(i).await,
            "delete or restore" => sim.delete_or_restore(i).await,
            "restore version" => sim.restore_version(i).await,
            "sync" => sim.sync(i).await,
            "network" => sim.network(i),
            _ => sim.crash(i).await,
        }
    }

    // Heal, then sync everyone until quiet.
    for proxy in &sim.proxies {
        proxy.heal();
    }
    for _ in 0..3 {
        for i in 0..=GUEST {
            if let Err(err) = sim.desktop(i).sync().await {
                panic!("seed {seed}: desktop {i} cannot sync after healing: {err}");
            }
        }
    }
    // Each user signs in on a fresh device, which must end holding exactly
    // what that user's other devices hold.
    let fresh_dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let fresh = [
        Desktop::open_with(fresh_dirs[0].path(), &sim.base, &owner, config()).await,
        Desktop::open_with(fresh_dirs[1].path(), &sim.base, &sim.users[GUEST], config()).await,
    ];
    for device in &fresh {
        if let Err(err) = device.sync().await {
            panic!("seed {seed}: a fresh device cannot sync: {err}");
        }
    }
    let mut replicas = Vec::new();
    for i in 0..=GUEST {
        replicas.push(sim.desktop(i).replica().await);
    }
    for (n, device) in fresh.iter().enumerate() {
        let replica = device.replica().await;
        let (like, who) = if n == 0 {
            (0, "account")
        } else {
            (GUEST, "collaborator")
        };
        if let Some(diff) = replica_difference(&replicas[like], &replica) {
            panic!("seed {seed}: the {who}'s fresh device differs from desktop {like}: {diff}");
        }
        let problems = device.store().check_consistency().await.expect("check");
        assert!(
            problems.is_empty(),
            "seed {seed}: fresh {who} device: {problems:?}"
        );
    }
    for i in 0..=GUEST {
        let store = sim.desktop(i).store();
        let attention = store.needs_attention().await.expect("attention");
        assert!(
            attention.is_empty(),
            "seed {seed}: desktop {i}: {attention:?}"
        );
        let summary = store.sync_summary().await.expect("summary");
        assert_eq!(
            summary.pending, 0,
            "seed {seed}: desktop {i} outbox drained"
        );
        let problems = store.check_consistency().await.expect("check");
        assert!(
            problems.is_empty(),
            "seed {seed}: desktop {i}: {problems:?}"
        );
    }
    // What the desktops store holds the seed's required fields too.
    let required = promptforge_tests::seed::seed_required_fields();
    for replica in [&replicas[0], &replicas[GUEST]] {
        for (collection, documents) in replica {
            let missing =
                promptforge_tests::seed::missing_in(&required, collection.name(), documents);
            assert!(missing.is_empty(), "seed {seed}: {missing:?}");
        }
    }
    for (i, replica) in replicas.iter().enumerate().take(DESKTOPS).skip(1) {
        if let Some(diff) = replica_difference(&replicas[0], replica) {
            panic!("seed {seed}: desktops 0 and {i} differ: {diff}");
        }
    }
    // The account's replica holds everything the collaborator can see.
    let find = |collection: Collection, id: &str| -> Option<Document> {
        replicas[0][&collection]
            .iter()
            .find(|d| d.get_str("_id") == Ok(id))
            .cloned()
    };
    for i in 0..=GUEST {
        let store = sim.desktop(i).store();
        for (collection, id) in &sim.journals[i].created {
            assert!(
                find(*collection, id).is_some(),
                "seed {seed}: {collection} {id} created on desktop {i} is missing"
            );
        }
        let conflicts = store.conflicts(true).await.expect("conflicts");
        sim.counts.conflicts += conflicts.len();
        for ((collection, id, field), mine) in &sim.journals[i].edits {
            let edited_elsewhere = sim.journals.iter().enumerate().any(|(j, other)| {
                j != i
                    && other
                        .edits
                        .contains_key(&(*collection, id.clone(), field.clone()))
            });
            if edited_elsewhere {
                continue;
            }
            let doc = find(*collection, id).expect("edited document exists");
            let now = promptforge_sync::store::codec::get_path(&doc, field).cloned();
            let recorded = conflicts.iter().any(|c| {
                c.collection == *collection
                    && c.doc_id == *id
                    && ((c.field.as_deref() == Some(field.as_str()) && &c.mine == mine)
                        // A collaborator's edit yields to the owner's delete,
                        // recorded with the whole edited document.
                        || (i == GUEST && c.kind == ConflictKind::EditVsDelete))
            });
            assert!(
                now.as_ref() == Some(mine) || recorded,
                "seed {seed}: desktop {i}'s {collection}.{field} of {id} = {mine} was lost silently (now {now:?})"
            );
        }
        for (collection, id) in &sim.journals[i].deletes {
            let touched_elsewhere = sim.journals.iter().enumerate().any(|(j, other)| {
                j != i
                    && other
                        .edits
                        .keys()
                        .any(|(c, d, _)| c == collection && d == id)
            });
            let doc = find(*collection, id).expect("deleted document exists");
            let recorded = conflicts
                .iter()
                .any(|c| c.doc_id == *id && c.kind == ConflictKind::DeleteVsEdit);
            let restored_elsewhere =
                sim.journals.iter().enumerate().any(|(j, other)| {
                    j != i && other.restores.contains(&(*collection, id.clone()))
                });
            assert!(
                doc.contains_key("deleted_at")
                    || recorded
                    || touched_elsewhere
                    || restored_elsewhere,
                "seed {seed}: desktop {i}'s delete of {collection} {id} vanished silently"
            );
        }
    }
    sim.counts.documents = replicas[0].values().map(Vec::len).sum();
    sim.counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_desktops_partitions_and_crashes_converge() {
    let server = TestServer::start(&MONGO).await;
    let seeds: Vec<u64> = match std::env::var("SYNC_SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SYNC_SIM_SEED is a number")],
        Err(_) => {
            let count: u64 = std::env::var("SYNC_SIM_SEEDS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(100);
            let start: u64 = match std::env::var("SYNC_SIM_FIRST").as_deref() {
                Ok("random") => rand::random::<u32>().into(),
                Ok(first) => first.parse().expect("SYNC_SIM_FIRST is a number"),
                Err(_) => 1,
            };
            (start..start + count).collect()
        }
    };
    let started = Instant::now();
    let mut total = Counts::default();
    for &seed in &seeds {
        println!("seed {seed} (rerun with SYNC_SIM_SEED={seed})");
        let counts = run_seed(&server, seed).await;
        total.documents += counts.documents;
        total.collaborator_edits += counts.collaborator_edits;
        total.version_restores += counts.version_restores;
        total.conflicts += counts.conflicts;
    }
    println!(
        "{} seeds converged in {:.1} s: {total:?}",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    // A run long enough to mean something must have exercised what it
    // checks: collaborators editing, versions restored, clashes recorded.
    if seeds.len() >= 20 {
        assert!(total.collaborator_edits > 0, "{total:?}");
        assert!(total.version_restores > 0, "{total:?}");
        assert!(total.conflicts > 0, "{total:?}");
    }
    server.assert_seed_required().await;
}
