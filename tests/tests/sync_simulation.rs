//! Randomized simulation of the desktops of one account, of a collaborator
//! the account shares some prompts with, and of a member of the account's
//! team: random edits to prompts, ideas and projects, prompts and ideas the
//! team member files into team projects, prompt versions restored, syncs
//! through proxies that partition them or inject faults, and crashes (a sync
//! cut at a random point, the profile closed and reopened). Then the network
//! heals, every desktop syncs, and each user signs in on a fresh device.
//!
//! Asserted for every seed: all replicas of a user are identical, the fresh
//! device's included; every replica passes the store's own consistency check
//! (a prompt's versions numbered 1..n, its latest version holding its text);
//! every acknowledged create is there; outboxes are empty and nothing needs
//! attention; and no acknowledged write vanished silently. Each desktop's last
//! value of each field it edited is the final value, or is recorded in one of
//! its conflicts, or was overwritten by a value another desktop wrote later
//! (which that desktop could only do having seen it, or with a conflict of its
//! own). Each delete still holds, or met an edit it had not seen (a conflict
//! on either side says so), or was undone by a later restore.
//!
//! `SYNC_SIM_SEEDS=N` runs N seeds (default 16) of `SYNC_SIM_OPERATIONS`
//! operations each (default 200), from `SYNC_SIM_FIRST` (default 1, so CI
//! runs the same seeds every time and a red run is a change's fault, not the
//! draw's; `SYNC_SIM_FIRST=random` draws a start); `SYNC_SIM_SEED=S` runs
//! one, as printed on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use promptforge_sync::schema::{Collection, Idea, Project, Prompt};
use promptforge_sync::store::Conflict;
use promptforge_sync::{ConflictKind, ListQuery, SyncConfig};
use promptforge_tests::desktop::{replica_difference, Desktop};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::FaultProxy;
use promptforge_tests::server::TestServer;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// The account's desktops; the collaborator's and the team member's are the
/// next two indexes.
const DESKTOPS: usize = 3;
const GUEST: usize = DESKTOPS;
const MEMBER: usize = DESKTOPS + 1;
const ALL: usize = DESKTOPS + 2;
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

fn operations() -> usize {
    std::env::var("SYNC_SIM_OPERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn tracing_on() -> bool {
    std::env::var_os("SYNC_SIM_TRACE").is_some()
}

/// Who sits at a desktop, which decides what they may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The account: owns what it creates, shares, files, deletes.
    Owner,
    /// Edits and restores versions of the prompts shared with them.
    Collaborator,
    /// An editor of the account's team: creates and edits what is filed in
    /// the team's projects.
    TeamMember,
}

fn role(i: usize) -> Role {
    match i {
        GUEST => Role::Collaborator,
        MEMBER => Role::TeamMember,
        _ => Role::Owner,
    }
}

type Field = (Collection, String, String);
type Doc = (Collection, String);

/// What one desktop did, for the checks at the end; `usize`s are the
/// operation's index in the run, so later writes can be told from earlier.
#[derive(Debug, Default)]
struct Journal {
    created: BTreeSet<Doc>,
    /// Every value this desktop wrote to a field, in order.
    writes: BTreeMap<Field, Vec<(usize, Bson)>>,
    /// Documents this desktop deleted last (and did not restore or edit).
    deletes: BTreeMap<Doc, usize>,
    /// Documents this desktop restored from the trash, last when.
    restores: BTreeMap<Doc, usize>,
}

impl Journal {
    fn wrote(&mut self, op: usize, field: Field, value: Bson) {
        self.deletes.remove(&(field.0, field.1.clone()));
        self.writes.entry(field).or_default().push((op, value));
    }
}

struct Sim {
    rng: StdRng,
    base: String,
    /// The user of each desktop: the account's, the collaborator's, the
    /// team member's.
    users: Vec<String>,
    /// Prompts the account shares with the collaborator.
    shared: Vec<String>,
    /// Projects filed into the account's team.
    team_projects: Vec<String>,
    team: String,
    // Declared before the directories so the stores close before their
    // directories are removed.
    desktops: Vec<Option<Desktop>>,
    proxies: Vec<FaultProxy>,
    dirs: Vec<tempfile::TempDir>,
    journals: Vec<Journal>,
    /// Ids known to exist somewhere, per collection.
    known: BTreeMap<Collection, Vec<String>>,
    /// The index of the operation running.
    op: usize,
    counts: Counts,
}

/// How often the events the checks are about happened, over a whole run.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    operations: usize,
    documents: usize,
    collaborator_edits: usize,
    team_member_writes: usize,
    version_restores: usize,
    conflicts: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.operations += other.operations;
        self.documents += other.documents;
        self.collaborator_edits += other.collaborator_edits;
        self.team_member_writes += other.team_member_writes;
        self.version_restores += other.version_restores;
        self.conflicts += other.conflicts;
    }
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

    fn pick_team_project(&mut self) -> Option<String> {
        self.team_projects.choose(&mut self.rng).cloned()
    }

    /// A document desktop `i` holds now (what a team member sees is what
    /// reached it).
    async fn pick_local(&mut self, i: usize, collection: Collection) -> Option<String> {
        let store = self.desktop(i).store().clone();
        let query = ListQuery {
            limit: ListQuery::MAX_LIMIT,
            ..ListQuery::default()
        };
        let ids: Vec<String> = match collection {
            Collection::Prompts => store
                .list::<Prompt>(query)
                .await
                .ok()?
                .items
                .into_iter()
                .map(|d| d.id)
                .collect(),
            Collection::Ideas => store
                .list::<Idea>(query)
                .await
                .ok()?
                .items
                .into_iter()
                .map(|d| d.id)
                .collect(),
            _ => store
                .list::<Project>(query)
                .await
                .ok()?
                .items
                .into_iter()
                .map(|d| d.id)
                .collect(),
        };
        ids.choose(&mut self.rng).cloned()
    }

    fn word(&mut self) -> String {
        let n: u32 = self.rng.gen_range(0..1000);
        format!("{} {n}", WORDS.choose(&mut self.rng).unwrap_or(&"x"))
    }

    fn counted_write(&mut self, i: usize) {
        match role(i) {
            Role::Collaborator => self.counts.collaborator_edits += 1,
            Role::TeamMember => self.counts.team_member_writes += 1,
            Role::Owner => {}
        }
    }

    async fn create(&mut self, i: usize) {
        let user = self.desktop(i).store().user_id();
        let title = self.word();
        let choice = self.rng.gen_range(0..10);
        let store = self.desktop(i).store().clone();
        let member = role(i) == Role::TeamMember;
        // A team member files everything into one of the team's projects;
        // the account files some of what it writes.
        let project = if member {
            match self.pick_local(i, Collection::Projects).await {
                Some(project) => Some(project),
                None => return,
            }
        } else {
            self.pick(Collection::Projects)
                .filter(|_| self.rng.gen_bool(0.3))
        };
        let (collection, id) = if choice < 5 {
            let mut prompt = Prompt::new(&user, &title, &self.word());
            prompt.project_id = project;
            let share = !member && self.rng.gen_bool(0.5);
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
                Err(err) => {
                    if tracing_on() {
                        println!("  create prompt -> {err}");
                    }
                    return; // its project is not on this desktop yet
                }
            }
        } else if choice < 8 || member {
            let mut idea = Idea::new(&user, &title, "");
            idea.project_id = project;
            match store.create(idea).await {
                Ok(idea) => (Collection::Ideas, idea.id),
                Err(err) => {
                    if tracing_on() {
                        println!("  create idea -> {err}");
                    }
                    return; // its project is not on this desktop yet
                }
            }
        } else {
            let mut project = Project::new(&user, &title);
            let filed = self.rng.gen_bool(0.5);
            if filed {
                project.collaboration.team_id = Some(self.team.clone());
            }
            match store.create(project).await {
                Ok(project) => {
                    if filed {
                        self.team_projects.push(project.id.clone());
                    }
                    (Collection::Projects, project.id)
                }
                Err(err) => panic!("create project: {err}"),
            }
        };
        self.counted_write(i);
        if tracing_on() {
            println!("  created {collection} {id}");
        }
        self.journals[i].created.insert((collection, id.clone()));
        self.known.entry(collection).or_default().push(id);
    }

    /// A prompt desktop `i` may edit: for the collaborator one shared with
    /// them, for the team member one it holds; for the account any, and the
    /// store refuses one not on the desktop.
    async fn pick_prompt(&mut self, i: usize) -> Option<String> {
        match role(i) {
            Role::Collaborator => self.shared.choose(&mut self.rng).cloned(),
            Role::TeamMember => self.pick_local(i, Collection::Prompts).await,
            Role::Owner => self.pick(Collection::Prompts),
        }
    }

    async fn edit(&mut self, i: usize) {
        let collection = if role(i) == Role::Collaborator {
            Collection::Prompts
        } else {
            *[Collection::Prompts, Collection::Ideas, Collection::Projects]
                .choose(&mut self.rng)
                .unwrap_or(&Collection::Prompts)
        };
        let picked = match (collection, role(i)) {
            (Collection::Prompts, _) => self.pick_prompt(i).await,
            (_, Role::TeamMember) => self.pick_local(i, collection).await,
            _ => self.pick(collection),
        };
        let Some(id) = picked else {
            return;
        };
        let fields: &[&str] = match collection {
            // Where a prompt is filed is its owner's to change.
            Collection::Prompts if role(i) != Role::Owner => {
                &["title", "description", "content", "tags"]
            }
            Collection::Prompts => &["title", "description", "content", "tags", "project_id"],
            Collection::Ideas => &["title", "description", "tags"],
            _ => &["title", "description"],
        };
        let field = *fields.choose(&mut self.rng).unwrap_or(&"title");
        let value = match field {
            "tags" => Bson::Array(vec![Bson::String(self.word().replace(' ', "-"))]),
            // Prompts move only into team projects, never out: a prompt
            // leaving the team's reach is the teams work's to simulate.
            "project_id" => match self.pick_team_project() {
                Some(project) => Bson::String(project),
                None => return,
            },
            _ => Bson::String(self.word()),
        };
        let changes = doc! { field: value.clone() };
        let store = self.desktop(i).store().clone();
        // Writing the value a field already holds changes nothing, so there
        // is no edit to keep.
        let unchanged = local_value(&store, collection, &id, field).await.as_ref() == Some(&value);
        let result = match collection {
            Collection::Prompts => store.patch::<Prompt>(&id, changes).await.map(drop),
            Collection::Ideas => store.patch::<Idea>(&id, changes).await.map(drop),
            _ => store.patch::<Project>(&id, changes).await.map(drop),
        };
        // Documents not here yet, deleted, or a project not yet pulled: the
        // store refuses, nothing was acknowledged.
        if tracing_on() {
            println!(
                "  {collection} {id}: {field} = {value} -> {:?}",
                result.as_ref().err()
            );
        }
        if result.is_ok() && !unchanged {
            self.counted_write(i);
            let op = self.op;
            self.journals[i].wrote(op, (collection, id, field.to_owned()), value);
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
        if tracing_on() {
            println!(
                "  {collection} {id}: delete -> {:?}",
                deleted.as_ref().err()
            );
        }
        let op = self.op;
        if deleted.is_ok() {
            self.journals[i].deletes.insert((collection, id), op);
            return;
        }
        let restored = match collection {
            Collection::Prompts => store.restore::<Prompt>(&id).await.map(drop),
            _ => store.restore::<Idea>(&id).await.map(drop),
        };
        if restored.is_ok() {
            self.journals[i].deletes.remove(&(collection, id.clone()));
            self.journals[i].restores.insert((collection, id), op);
        }
    }

    /// Puts a prompt's text back to one of its versions, as a new version.
    async fn restore_version(&mut self, i: usize) {
        let Some(id) = self.pick_prompt(i).await else {
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
        let before = local_value(&store, Collection::Prompts, &id, "content").await;
        let restored = store.restore_prompt_version(&id, number).await;
        if tracing_on() {
            println!(
                "  prompt {id}: restore version {number} -> {:?}",
                restored.as_ref().err()
            );
        }
        if let Ok(prompt) = restored {
            if before == Some(Bson::String(prompt.content.clone())) {
                return; // the text it already had: no edit
            }
            self.counts.version_restores += 1;
            self.counted_write(i);
            let op = self.op;
            self.journals[i].wrote(
                op,
                (Collection::Prompts, id, "content".to_owned()),
                Bson::String(prompt.content),
            );
        }
    }

    async fn sync(&mut self, i: usize) {
        let outcome = self.desktop(i).sync().await;
        if tracing_on() {
            println!("  -> {outcome:?}");
        }
        if let Err(err) = outcome {
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
        // Healing as often as breaking, so a desktop is not cut off for
        // most of a run.
        match self.rng.gen_range(0..4) {
            0 => proxy.set_offline(true),
            1 => proxy.randomly(self.rng.gen(), 0.3),
            _ => proxy.heal(),
        }
    }

    /// The value some other desktop than `i` wrote to `field` after `after`.
    fn written_elsewhere_after(&self, i: usize, field: &Field, after: usize, value: &Bson) -> bool {
        self.journals.iter().enumerate().any(|(j, other)| {
            j != i
                && other
                    .writes
                    .get(field)
                    .is_some_and(|w| w.iter().any(|(op, v)| *op > after && v == value))
        })
    }
}

/// The value `field` holds on this desktop now, if the document is here.
async fn local_value(
    store: &promptforge_sync::Store,
    collection: Collection,
    id: &str,
    field: &str,
) -> Option<Bson> {
    let doc = match collection {
        Collection::Prompts => store
            .get::<Prompt>(id)
            .await
            .ok()
            .flatten()
            .and_then(|d| bson::to_document(&d).ok()),
        Collection::Ideas => store
            .get::<Idea>(id)
            .await
            .ok()
            .flatten()
            .and_then(|d| bson::to_document(&d).ok()),
        _ => store
            .get::<Project>(id)
            .await
            .ok()
            .flatten()
            .and_then(|d| bson::to_document(&d).ok()),
    }?;
    promptforge_sync::store::codec::get_path(&doc, field).cloned()
}

/// The account's team, written straight to MongoDB as the web app does,
/// with every field the seed requires.
async fn create_team(server: &TestServer, team: &str, owner: &str, member: &str) {
    use promptforge_sync::schema::{Team, TeamMember, TeamRole};
    let now = bson::DateTime::now();
    let joined = |role| TeamMember {
        role,
        joined_at: now,
        invited_by: None,
        permissions: Vec::new(),
    };
    let team = Team {
        id: team.to_owned(),
        name: "Writers".to_owned(),
        description: None,
        avatar_url: None,
        organization_id: None,
        plan_type: Default::default(),
        members: [
            (owner.to_owned(), joined(TeamRole::Owner)),
            (member.to_owned(), joined(TeamRole::Editor)),
        ]
        .into(),
        member_count: 2,
        resources: Default::default(),
        settings: Default::default(),
        stats: Default::default(),
        created_at: now,
        updated_at: now,
        created_by: owner.to_owned(),
        deleted_at: None,
        deleted_by: None,
        version: 1,
    };
    let team_id = team.id.clone();
    let team = bson::to_document(&team).expect("encode the team");
    server
        .collection("teams")
        .await
        .insert_one(team)
        .await
        .expect("create the team");
    server.sequenced("teams", &team_id).await;
}

async fn run_seed(server: &TestServer, seed: u64) -> Counts {
    let owner = format!("sim-{seed}");
    let mut users = vec![owner.clone(); DESKTOPS];
    users.push(format!("sim-{seed}-guest"));
    users.push(format!("sim-{seed}-member"));
    let team = format!("team-{seed}");
    create_team(server, &team, &owner, &users[MEMBER]).await;
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        base: server.base.clone(),
        users,
        shared: Vec::new(),
        team_projects: Vec::new(),
        team,
        desktops: Vec::new(),
        proxies: Vec::new(),
        dirs: (0..ALL)
            .map(|_| tempfile::tempdir().expect("dir"))
            .collect(),
        journals: (0..ALL).map(|_| Journal::default()).collect(),
        known: BTreeMap::new(),
        op: 0,
        counts: Counts::default(),
    };
    for i in 0..ALL {
        sim.proxies.push(FaultProxy::start(&sim.base).await);
        sim.desktops.push(None);
        sim.reopen(i).await;
    }
    for op in 0..operations() {
        sim.op = op;
        let i = sim.rng.gen_range(0..ALL);
        let roll = sim.rng.gen_range(0..100);
        // The collaborator creates nothing; only the account deletes.
        let op = match (roll, role(i)) {
            (0..=24, Role::Collaborator) => "restore version",
            (0..=24, _) => "create",
            (25..=54, _) => "edit",
            (55..=59, Role::Owner) => "delete or restore",
            (55..=64, _) => "restore version",
            (65..=84, _) => "sync",
            (85..=92, _) => "network",
            _ => "crash",
        };
        if tracing_on() {
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
        sim.counts.operations += 1;
    }

    // Heal, then sync everyone until quiet.
    for proxy in &sim.proxies {
        proxy.heal();
    }
    for _ in 0..3 {
        for i in 0..ALL {
            if let Err(err) = sim.desktop(i).sync().await {
                panic!("seed {seed}: desktop {i} cannot sync after healing: {err}");
            }
        }
    }
    check_fresh_devices(&sim, seed).await;
    let mut replicas = Vec::new();
    let mut conflicts = Vec::new();
    for i in 0..ALL {
        let store = sim.desktop(i).store();
        replicas.push(sim.desktop(i).replica().await);
        conflicts.push(store.conflicts(true).await.expect("conflicts"));
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
    for replica in [&replicas[0], &replicas[GUEST], &replicas[MEMBER]] {
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
    check_nothing_lost(&sim, seed, &replicas[0], &conflicts);
    let mut counts = sim.counts;
    counts.conflicts = conflicts.iter().map(Vec::len).sum();
    counts.documents = replicas[0].values().map(Vec::len).sum();
    counts
}

/// Each user signs in on a fresh device, which must end holding exactly what
/// that user's other devices hold.
async fn check_fresh_devices(sim: &Sim, seed: u64) {
    for (like, who) in [
        (0, "account"),
        (GUEST, "collaborator"),
        (MEMBER, "team member"),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let device = Desktop::open_with(dir.path(), &sim.base, &sim.users[like], config()).await;
        if let Err(err) = device.sync().await {
            panic!("seed {seed}: the {who}'s fresh device cannot sync: {err}");
        }
        let replica = device.replica().await;
        let theirs = sim.desktop(like).replica().await;
        if let Some(diff) = replica_difference(&theirs, &replica) {
            panic!("seed {seed}: the {who}'s fresh device differs from desktop {like}: {diff}");
        }
        let problems = device.store().check_consistency().await.expect("check");
        assert!(
            problems.is_empty(),
            "seed {seed}: fresh {who} device: {problems:?}"
        );
    }
}

/// Every acknowledged create is there, and no acknowledged edit or delete
/// vanished without a conflict or a later write that explains it. The
/// account's replica holds everything the others can see.
fn check_nothing_lost(
    sim: &Sim,
    seed: u64,
    account: &BTreeMap<Collection, Vec<Document>>,
    conflicts: &[Vec<Conflict>],
) {
    let find = |collection: Collection, id: &str| -> Option<&Document> {
        account[&collection]
            .iter()
            .find(|d| d.get_str("_id") == Ok(id))
    };
    for (i, journal) in sim.journals.iter().enumerate() {
        for (collection, id) in &journal.created {
            assert!(
                find(*collection, id).is_some(),
                "seed {seed}: {collection} {id} created on desktop {i} is missing"
            );
        }
        for (key, writes) in &journal.writes {
            let Some((at, mine)) = writes.last() else {
                continue;
            };
            let (collection, id, field) = key;
            let doc = find(*collection, id).expect("edited document exists");
            let now = promptforge_sync::store::codec::get_path(doc, field).cloned();
            if now.as_ref() == Some(mine) {
                continue;
            }
            let recorded = conflicts[i].iter().any(|c| {
                c.collection == *collection
                    && c.doc_id == *id
                    && ((c.field.as_deref() == Some(field.as_str()) && &c.mine == mine)
                        // An edit by someone who may not restore yields to
                        // the owner's delete, recorded with the whole
                        // edited document.
                        || (role(i) != Role::Owner && c.kind == ConflictKind::EditVsDelete))
            });
            let overwritten = now
                .as_ref()
                .is_some_and(|now| sim.written_elsewhere_after(i, key, *at, now));
            assert!(
                recorded || overwritten,
                "seed {seed}: desktop {i}'s {collection}.{field} of {id} = {mine} was lost silently (now {now:?})"
            );
        }
        for ((collection, id), at) in &journal.deletes {
            let doc = find(*collection, id).expect("deleted document exists");
            if doc.contains_key("deleted_at") {
                continue;
            }
            // A delete that met an unseen edit is refused (a conflict here)
            // or undone by the edit (a conflict on the editing desktop).
            let recorded = conflicts.iter().enumerate().any(|(j, theirs)| {
                let kind = if j == i {
                    ConflictKind::DeleteVsEdit
                } else {
                    ConflictKind::EditVsDelete
                };
                theirs.iter().any(|c| c.doc_id == *id && c.kind == kind)
            });
            let restored_later = sim.journals.iter().enumerate().any(|(j, other)| {
                j != i
                    && other
                        .restores
                        .get(&(*collection, id.clone()))
                        .is_some_and(|when| when > at)
            });
            assert!(
                recorded || restored_later,
                "seed {seed}: desktop {i}'s delete of {collection} {id} vanished silently"
            );
        }
    }
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
                .unwrap_or(16);
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
        total.add(run_seed(&server, seed).await);
    }
    println!(
        "{} seeds converged in {:.1} s: {total:?}",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    // A run long enough to mean something must have exercised what it
    // checks: collaborators and team members writing, versions restored,
    // clashes recorded.
    if total.operations >= 2000 {
        assert!(total.collaborator_edits > 0, "{total:?}");
        assert!(total.team_member_writes > 0, "{total:?}");
        assert!(total.version_restores > 0, "{total:?}");
        assert!(total.conflicts > 0, "{total:?}");
    }
    server.assert_seed_required().await;
}
