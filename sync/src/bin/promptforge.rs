//! `promptforge`: the command line over the local store, for scripts, tests
//! and power users. Every command works offline on the profile's PoloDB,
//! except `sync`, which reconciles it with a sync server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use bson::{Bson, Document};
use clap::{Args, Parser, Subcommand, ValueEnum};
use promptforge_sync::schema::{Collection, Idea, Model, Project, Prompt};
use std::sync::Arc;
use std::time::Duration;

use promptforge_sync::engine::{HttpTransport, MarketCall, StaticToken};
use promptforge_sync::schema::{MarketplaceListing, MarketplacePurchase, Notification};
use promptforge_sync::{
    DeletedFilter, Export, ListQuery, Resolution, SortBy, Store, SyncConfig, SyncEngine, SyncState,
};
use promptforge_wire::market::{
    MarketOutcome, ModerateRequest, ModerationAction, PublishRequest, PurchaseRequest,
    RefundRequest, ReviewRequest,
};

/// `println!` through [`print_line`], which survives a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        print_line(format_args!($($arg)*))
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "promptforge",
    version,
    about = "PromptForge Desktop from the command line: prompts, ideas and projects, offline"
)]
struct Cli {
    /// Profile directory (one local library each).
    #[arg(long, global = true, env = "PROMPTFORGE_PROFILE")]
    profile: Option<PathBuf>,
    /// Print documents as JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prompts and their version history.
    #[command(subcommand)]
    Prompt(PromptCommand),
    /// Ideas.
    #[command(subcommand)]
    Idea(IdeaCommand),
    /// Projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Write the whole library as JSON to FILE (or standard output).
    Export { file: Option<PathBuf> },
    /// Add or replace every document of an export; all or nothing.
    Import { file: PathBuf },
    /// Where the profile is and what it holds.
    Info,
    /// Reconcile with the sync server: once, or continuously with --watch.
    Sync(SyncArgs),
    /// Sync state: pending changes, conflicts, items needing attention.
    Status,
    /// Conflicts recorded by sync (open ones unless --all), and resolving them.
    Conflicts {
        #[command(subcommand)]
        action: Option<ConflictAction>,
        /// Include resolved conflicts.
        #[arg(long)]
        all: bool,
    },
    /// Local changes the server refused, and retrying or dismissing them.
    Attention {
        #[command(subcommand)]
        action: Option<AttentionAction>,
    },
    /// Marketplace listings: draft, publish, browse.
    #[command(subcommand)]
    Listing(ListingCommand),
    /// Buy a listing with credits (online), at the price your library shows.
    Buy {
        listing: String,
        #[command(flatten)]
        online: Online,
    },
    /// Your purchases and sales.
    Purchases,
    /// Ask for a purchase's credits back (online, within the refund window).
    Refund {
        purchase: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        online: Online,
    },
    /// Review something you bought: a rating from 1 to 5 (online).
    Review {
        purchase: String,
        #[arg(long)]
        rating: i64,
        #[arg(long, default_value = "")]
        text: String,
        #[command(flatten)]
        online: Online,
    },
    /// Your notifications; mark one read or dismiss it.
    Notifications {
        #[command(subcommand)]
        action: Option<NotificationAction>,
    },
}

#[derive(Debug, Args)]
struct SyncArgs {
    #[command(flatten)]
    online: Online,
    /// Keep syncing until interrupted: a round every 30 s, with backoff
    /// when offline. The profile stays locked meanwhile, so other commands
    /// on it wait until this one stops.
    #[arg(long)]
    watch: bool,
}

/// How to reach the sync server as the signed-in user.
#[derive(Debug, Args)]
struct Online {
    /// The sync server's URL (remembered in the profile once used).
    #[arg(long, env = "PROMPTFORGE_SERVER")]
    server: Option<String>,
    /// The account's ID token (never printed or logged).
    #[arg(long, env = "PROMPTFORGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the token from this file instead.
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ListingCommand {
    /// Draft a listing for one of your prompts (works offline; syncs as a draft).
    Create {
        #[arg(long)]
        prompt: String,
        #[arg(long)]
        title: String,
        /// Price in credits.
        #[arg(long)]
        price: i64,
        #[arg(long, default_value = "")]
        description: String,
        /// What buyers see before buying (never the prompt itself).
        #[arg(long)]
        preview: String,
        #[arg(long, default_value = "general")]
        category: String,
        /// e.g. personal, commercial, extended.
        #[arg(long, default_value = "personal")]
        license: String,
    },
    /// Submit a draft for review (online).
    Publish {
        id: String,
        #[command(flatten)]
        online: Online,
    },
    /// Your listings (with their status and moderation notes), or with
    /// --market the approved listings of others, browsable offline.
    List {
        #[arg(long)]
        market: bool,
    },
    /// Approve, reject or suspend a listing (moderators, online).
    Moderate {
        id: String,
        #[arg(long, value_enum)]
        action: Moderation,
        #[arg(long)]
        notes: Option<String>,
        #[command(flatten)]
        online: Online,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Moderation {
    Approve,
    Reject,
    Suspend,
}

#[derive(Debug, Subcommand)]
enum NotificationAction {
    Read { id: String },
    Dismiss { id: String },
}

#[derive(Debug, Subcommand)]
enum ConflictAction {
    /// Settle a conflict: keep mine, keep theirs, or keep both (a copy).
    Resolve {
        id: String,
        #[arg(long, value_enum)]
        keep: Keep,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Keep {
    Mine,
    Theirs,
    Both,
}

#[derive(Debug, Subcommand)]
enum AttentionAction {
    /// Upload the refused change again (after fixing the document).
    Retry { mutation_id: u64 },
    /// Drop the item; the local document stays as it is.
    Dismiss { mutation_id: u64 },
}

#[derive(Debug, Subcommand)]
enum PromptCommand {
    Create {
        #[arg(long)]
        title: String,
        #[arg(long)]
        content: String,
        #[command(flatten)]
        fields: PromptFields,
    },
    List(ListArgs),
    Show {
        id: String,
    },
    Edit {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        content: Option<String>,
        #[command(flatten)]
        fields: PromptFields,
        #[command(flatten)]
        set: SetArgs,
    },
    Delete {
        id: String,
    },
    Restore {
        id: String,
    },
    /// The prompt's versions, newest first.
    Versions {
        id: String,
    },
    /// Put the prompt's content back to version NUMBER (recorded as a new version).
    RestoreVersion {
        id: String,
        number: i64,
    },
}

#[derive(Debug, Args)]
struct PromptFields {
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    role: Option<String>,
    #[arg(long)]
    category: Option<String>,
    /// Repeat for several tags.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// text, structured, template or workflow.
    #[arg(long = "type")]
    prompt_type: Option<String>,
    /// beginner, intermediate, advanced or expert.
    #[arg(long)]
    difficulty: Option<String>,
    /// draft, active, archived or deleted.
    #[arg(long)]
    status: Option<String>,
    /// private, shared, public or marketplace.
    #[arg(long)]
    visibility: Option<String>,
    /// Move into this project ("" to take it out).
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    folder: Option<String>,
    #[arg(long)]
    parent: Option<String>,
}

#[derive(Debug, Subcommand)]
enum IdeaCommand {
    Create {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        fields: IdeaFields,
    },
    List(ListArgs),
    Show {
        id: String,
    },
    Edit {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        fields: IdeaFields,
        #[command(flatten)]
        set: SetArgs,
    },
    Delete {
        id: String,
    },
    Restore {
        id: String,
    },
}

#[derive(Debug, Args)]
struct IdeaFields {
    #[arg(long)]
    category: Option<String>,
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// raw, reviewed, developing, testing, implemented or abandoned.
    #[arg(long)]
    status: Option<String>,
    /// low, medium, high or urgent.
    #[arg(long)]
    priority: Option<String>,
    #[arg(long)]
    starred: Option<bool>,
    #[arg(long)]
    project: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    Create {
        #[arg(long)]
        title: String,
        #[command(flatten)]
        fields: ProjectFields,
    },
    List(ListArgs),
    Show {
        id: String,
    },
    Edit {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        fields: ProjectFields,
        #[command(flatten)]
        set: SetArgs,
    },
    Delete {
        id: String,
    },
    Restore {
        id: String,
    },
}

#[derive(Debug, Args)]
struct ProjectFields {
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    category: Option<String>,
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// planning, active, completed, archived or deleted.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    priority: Option<String>,
    /// 0 to 100.
    #[arg(long)]
    progress: Option<i64>,
    /// A hex colour such as #3b82f6.
    #[arg(long)]
    color: Option<String>,
}

#[derive(Debug, Args)]
struct SetArgs {
    /// Set any field: FIELD=VALUE, VALUE read as JSON when it parses
    /// (`performance.rating=4.5`, `tags=["a","b"]`), else as text; `null` clears.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    category: Option<String>,
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    folder: Option<String>,
    #[arg(long)]
    starred: Option<bool>,
    #[arg(long)]
    priority: Option<String>,
    #[arg(long)]
    visibility: Option<String>,
    /// beginner, intermediate, advanced or expert (prompts).
    #[arg(long)]
    difficulty: Option<String>,
    /// Only templates (or, with `false`, only non-templates).
    #[arg(long)]
    template: Option<bool>,
    /// Words that must all appear in title, description, content or tags.
    #[arg(long)]
    search: Option<String>,
    /// Show the trash too (`include`) or only it (`only`).
    #[arg(long, value_enum, default_value_t = Deleted::Exclude)]
    deleted: Deleted,
    #[arg(long, value_enum, default_value_t = Sort::Updated)]
    sort: Sort,
    /// Oldest or Z-A first.
    #[arg(long)]
    reverse: bool,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, default_value_t = 0)]
    offset: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Deleted {
    Exclude,
    Include,
    Only,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Sort {
    Updated,
    Created,
    Title,
}

impl ListArgs {
    fn query(self) -> ListQuery {
        ListQuery {
            status: self.status,
            category: self.category,
            tags: self.tags,
            project_id: self.project,
            folder_id: self.folder,
            starred: self.starred,
            priority: self.priority,
            visibility: self.visibility,
            difficulty: self.difficulty,
            is_template: self.template,
            text: self.search,
            deleted: match self.deleted {
                Deleted::Exclude => DeletedFilter::Exclude,
                Deleted::Include => DeletedFilter::Include,
                Deleted::Only => DeletedFilter::Only,
            },
            sort: match self.sort {
                Sort::Updated => SortBy::UpdatedAt,
                Sort::Created => SortBy::CreatedAt,
                Sort::Title => SortBy::Title,
            },
            reverse: self.reverse,
            offset: self.offset,
            limit: self.limit,
            owner: None,
        }
    }
}

/// Builds a patch from named flags and `--set` pairs.
#[derive(Debug, Default)]
struct Changes(Document);

impl Changes {
    fn text(&mut self, field: &str, value: Option<String>) -> &mut Self {
        if let Some(value) = value {
            // An empty string clears an optional field.
            self.0.insert(
                field,
                if value.is_empty() {
                    Bson::Null
                } else {
                    Bson::String(value)
                },
            );
        }
        self
    }

    fn tags(&mut self, tags: Vec<String>) -> &mut Self {
        if !tags.is_empty() {
            self.0.insert("tags", tags);
        }
        self
    }

    fn value(&mut self, field: &str, value: Option<impl Into<Bson>>) -> &mut Self {
        if let Some(value) = value {
            self.0.insert(field, value.into());
        }
        self
    }

    fn set_pairs(&mut self, pairs: Vec<String>) -> anyhow::Result<&mut Self> {
        for pair in pairs {
            let Some((field, raw)) = pair.split_once('=') else {
                bail!("--set takes FIELD=VALUE, got `{pair}`");
            };
            let value = match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(json) => {
                    Bson::try_from(json).with_context(|| format!("--set {field}: not a value"))?
                }
                Err(_) => Bson::String(raw.to_owned()),
            };
            self.0.insert(field, value);
        }
        Ok(self)
    }
}

impl PromptFields {
    fn into_changes(self, changes: &mut Changes) {
        changes
            .text("description", self.description)
            .text("role", self.role)
            .text("category", self.category)
            .tags(self.tags)
            .text("type", self.prompt_type)
            .text("difficulty", self.difficulty)
            .text("status", self.status)
            .text("visibility", self.visibility)
            .text("project_id", self.project)
            .text("folder_id", self.folder)
            .text("parent_prompt_id", self.parent);
    }
}

impl IdeaFields {
    fn into_changes(self, changes: &mut Changes) {
        changes
            .text("category", self.category)
            .tags(self.tags)
            .text("status", self.status)
            .text("priority", self.priority)
            .value("starred", self.starred)
            .text("project_id", self.project);
    }
}

impl ProjectFields {
    fn into_changes(self, changes: &mut Changes) {
        changes
            .text("description", self.description)
            .text("category", self.category)
            .tags(self.tags)
            .text("status", self.status)
            .text("priority", self.priority)
            .value("progress", self.progress)
            .text("color", self.color);
    }
}

/// Starts from `base`, applies the flag changes, and creates the document.
async fn create_with<T: Model>(store: &Store, base: T, changes: Changes) -> anyhow::Result<T> {
    let mut doc = bson::to_document(&base)?;
    for (path, value) in changes.0 {
        promptforge_sync::store::codec::set_path(&mut doc, &path, value)
            .map_err(anyhow::Error::msg)?;
    }
    let model: T = promptforge_sync::store::codec::decode(doc)?;
    Ok(store.create(model).await?)
}

fn default_profile() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME")
                .context("neither --profile, PROMPTFORGE_PROFILE nor HOME is set")?;
            PathBuf::from(home).join(".local/share")
        }
    };
    Ok(base.join("promptforge").join("default"))
}

struct Output {
    json: bool,
}

impl Output {
    fn docs<T: Model>(&self, items: &[T], total: Option<usize>) -> anyhow::Result<()> {
        if self.json {
            let values: Vec<serde_json::Value> = items
                .iter()
                .map(|m| Ok(Bson::Document(bson::to_document(m)?).into_relaxed_extjson()))
                .collect::<anyhow::Result<_>>()?;
            out!("{}", serde_json::to_string_pretty(&values)?);
            return Ok(());
        }
        if items.is_empty() {
            out!("no {} found", T::COLLECTION);
        }
        for item in items {
            let doc = bson::to_document(item)?;
            let title = doc.get_str("title").unwrap_or("");
            let status = doc.get_str("status").unwrap_or("");
            let deleted = if doc.contains_key("deleted_at") {
                "  (in trash)"
            } else {
                ""
            };
            out!("{}  {:<10}  {}{}", item.id(), status, title, deleted);
        }
        if let Some(total) = total {
            if total > items.len() {
                out!("({} of {total} shown)", items.len());
            }
        }
        Ok(())
    }

    fn doc<T: Model>(&self, item: &T) -> anyhow::Result<()> {
        let value = Bson::Document(bson::to_document(item)?).into_relaxed_extjson();
        out!("{}", serde_json::to_string_pretty(&value)?);
        Ok(())
    }
}

macro_rules! crud {
    ($store:expr, $out:expr, $ty:ty, list $args:expr) => {{
        let page = $store.list::<$ty>($args.query()).await?;
        $out.docs(&page.items, Some(page.total))
    }};
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = match cli.profile {
        Some(dir) => dir,
        None => default_profile()?,
    };
    let store = Store::open(&profile).await?;
    let out = Output { json: cli.json };
    let user = store.user_id();
    match cli.command {
        Command::Prompt(command) => match command {
            PromptCommand::Create {
                title,
                content,
                fields,
            } => {
                let mut changes = Changes::default();
                fields.into_changes(&mut changes);
                let prompt =
                    create_with(&store, Prompt::new(&user, &title, &content), changes).await?;
                created(&out, &prompt)
            }
            PromptCommand::List(args) => crud!(store, out, Prompt, list args),
            PromptCommand::Show { id } => out.doc(&store.require::<Prompt>(&id).await?),
            PromptCommand::Edit {
                id,
                title,
                content,
                fields,
                set,
            } => {
                let mut changes = Changes::default();
                changes.text("title", title).text("content", content);
                fields.into_changes(&mut changes);
                changes.set_pairs(set.set)?;
                out.doc(&store.patch::<Prompt>(&id, changes.0).await?)
            }
            PromptCommand::Delete { id } => deleted(&store.delete::<Prompt>(&id).await?),
            PromptCommand::Restore { id } => restored(&store.restore::<Prompt>(&id).await?),
            PromptCommand::Versions { id } => {
                store.require::<Prompt>(&id).await?;
                let versions = store.prompt_versions(&id).await?;
                if out.json {
                    return out.docs(&versions, None);
                }
                for v in versions {
                    out!(
                        "v{:<4} {}  {}",
                        v.version_number,
                        v.created_at.try_to_rfc3339_string().unwrap_or_default(),
                        v.changes
                    );
                }
                Ok(())
            }
            PromptCommand::RestoreVersion { id, number } => {
                out.doc(&store.restore_prompt_version(&id, number).await?)
            }
        },
        Command::Idea(command) => match command {
            IdeaCommand::Create {
                title,
                description,
                fields,
            } => {
                let mut changes = Changes::default();
                fields.into_changes(&mut changes);
                let idea =
                    create_with(&store, Idea::new(&user, &title, &description), changes).await?;
                created(&out, &idea)
            }
            IdeaCommand::List(args) => crud!(store, out, Idea, list args),
            IdeaCommand::Show { id } => out.doc(&store.require::<Idea>(&id).await?),
            IdeaCommand::Edit {
                id,
                title,
                description,
                fields,
                set,
            } => {
                let mut changes = Changes::default();
                changes
                    .text("title", title)
                    .value("description", description);
                fields.into_changes(&mut changes);
                changes.set_pairs(set.set)?;
                out.doc(&store.patch::<Idea>(&id, changes.0).await?)
            }
            IdeaCommand::Delete { id } => deleted(&store.delete::<Idea>(&id).await?),
            IdeaCommand::Restore { id } => restored(&store.restore::<Idea>(&id).await?),
        },
        Command::Project(command) => match command {
            ProjectCommand::Create { title, fields } => {
                let mut changes = Changes::default();
                fields.into_changes(&mut changes);
                let project = create_with(&store, Project::new(&user, &title), changes).await?;
                created(&out, &project)
            }
            ProjectCommand::List(args) => crud!(store, out, Project, list args),
            ProjectCommand::Show { id } => out.doc(&store.require::<Project>(&id).await?),
            ProjectCommand::Edit {
                id,
                title,
                fields,
                set,
            } => {
                let mut changes = Changes::default();
                changes.text("title", title);
                fields.into_changes(&mut changes);
                changes.set_pairs(set.set)?;
                out.doc(&store.patch::<Project>(&id, changes.0).await?)
            }
            ProjectCommand::Delete { id } => deleted(&store.delete::<Project>(&id).await?),
            ProjectCommand::Restore { id } => restored(&store.restore::<Project>(&id).await?),
        },
        Command::Export { file } => {
            let text = serde_json::to_string_pretty(&store.export().await?.to_json())?;
            match file {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("exported to {}", path.display());
                }
                None => out!("{text}"),
            }
            Ok(())
        }
        Command::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report = store.import(Export::from_json(&text)?).await?;
            out!("imported {} documents", report.documents);
            for (collection, n) in report.per_collection {
                out!("  {collection}: {n}");
            }
            Ok(())
        }
        Command::Sync(args) => sync(&store, args).await,
        Command::Status => {
            let summary = store.sync_summary().await?;
            if out.json {
                out!("{}", serde_json::to_string_pretty(&summary)?);
                return Ok(());
            }
            out!(
                "account:          {}",
                summary
                    .account
                    .as_deref()
                    .unwrap_or("(local profile, not attached)")
            );
            out!(
                "server:           {}",
                summary.server_url.as_deref().unwrap_or("(none yet)")
            );
            out!(
                "last synced:      {}",
                summary
                    .last_synced_at
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "never".into())
            );
            out!(
                "pending changes:  {} ({} sent, awaiting an answer)",
                summary.pending,
                summary.in_flight
            );
            if let Some(oldest) = summary.oldest_pending {
                let age = (bson::DateTime::now().timestamp_millis() - oldest.timestamp_millis())
                    .max(0)
                    / 1000;
                out!("oldest pending:   {age} s ago");
            }
            out!("needs attention:  {}", summary.needs_attention);
            out!("open conflicts:   {}", summary.open_conflicts);
            Ok(())
        }
        Command::Conflicts { action: None, all } => {
            let conflicts = store.conflicts(all).await?;
            if out.json {
                out!("{}", serde_json::to_string_pretty(&conflicts)?);
                return Ok(());
            }
            if conflicts.is_empty() {
                out!("no conflicts");
            }
            for c in conflicts {
                let what = c.field.as_deref().unwrap_or("the document");
                out!(
                    "{}  {} {}  {}: mine {} / theirs {}  [{}{}]",
                    c.id,
                    c.collection,
                    c.doc_id,
                    what,
                    c.mine.clone().into_relaxed_extjson(),
                    c.theirs.clone().into_relaxed_extjson(),
                    c.resolution,
                    c.resolved
                        .map(|r| format!(", resolved: {r}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Conflicts {
            action: Some(ConflictAction::Resolve { id, keep }),
            ..
        } => {
            let resolution = match keep {
                Keep::Mine => Resolution::KeepMine,
                Keep::Theirs => Resolution::KeepTheirs,
                Keep::Both => Resolution::KeepBoth,
            };
            let conflict = store.resolve_conflict(&id, resolution).await?;
            out!("conflict {} resolved: {}", conflict.id, resolution.name());
            Ok(())
        }
        Command::Attention { action } => match action {
            None => {
                let items = store.needs_attention().await?;
                if out.json {
                    out!("{}", serde_json::to_string_pretty(&items)?);
                    return Ok(());
                }
                if items.is_empty() {
                    out!("nothing needs attention");
                }
                for item in items {
                    out!(
                        "{}  {:?} {} {}: {} ({})",
                        item.mutation_id,
                        item.op,
                        item.collection,
                        item.doc_id,
                        item.message,
                        item.reason
                    );
                }
                Ok(())
            }
            Some(AttentionAction::Retry { mutation_id }) => {
                store.settle_attention(mutation_id, true).await?;
                out!("queued again; it uploads at the next sync");
                Ok(())
            }
            Some(AttentionAction::Dismiss { mutation_id }) => {
                store.settle_attention(mutation_id, false).await?;
                out!("dismissed");
                Ok(())
            }
        },
        Command::Listing(command) => listing(&store, &out, command).await,
        Command::Buy { listing, online } => {
            let shown: MarketplaceListing = store.require(&listing).await.context(
                "the listing is not in your library; run `promptforge sync` to fetch the marketplace",
            )?;
            let (_, engine) = connect(&store, online).await?;
            let request = PurchaseRequest {
                listing_id: listing,
                expected_price: shown.price,
                idempotency_key: promptforge_sync::schema::new_id(),
            };
            let purchase = market(&engine, MarketCall::Purchase, &request).await?;
            out!(
                "bought \"{}\" for {} credits; purchase {}; the prompt is in your library",
                shown.title,
                shown.price,
                purchase.get_str("_id").unwrap_or_default()
            );
            Ok(())
        }
        Command::Purchases => {
            let page = store
                .list::<MarketplacePurchase>(ListQuery {
                    limit: ListQuery::MAX_LIMIT,
                    ..ListQuery::default()
                })
                .await?;
            if out.json {
                return out.docs(&page.items, None);
            }
            if page.items.is_empty() {
                out!("no purchases or sales yet");
            }
            for p in &page.items {
                let side = if p.buyer_id == user { "bought" } else { "sold" };
                out!(
                    "{}  {side:<6}  {:>5} credits  {:<9}  listing {}  prompt {}",
                    p.id,
                    p.amount,
                    p.payment_status.as_str(),
                    p.listing_id,
                    p.prompt_id
                );
            }
            Ok(())
        }
        Command::Refund {
            purchase,
            reason,
            online,
        } => {
            let (_, engine) = connect(&store, online).await?;
            let request = RefundRequest {
                purchase_id: purchase,
                reason,
                idempotency_key: promptforge_sync::schema::new_id(),
            };
            market(&engine, MarketCall::Refund, &request).await?;
            out!("refunded; the credits are back in your balance");
            Ok(())
        }
        Command::Review {
            purchase,
            rating,
            text,
            online,
        } => {
            let (_, engine) = connect(&store, online).await?;
            let request = ReviewRequest {
                purchase_id: purchase,
                rating,
                review: text,
                idempotency_key: Some(promptforge_sync::schema::new_id()),
            };
            market(&engine, MarketCall::Review, &request).await?;
            out!("thank you: review saved");
            Ok(())
        }
        Command::Notifications { action } => match action {
            None => {
                let page = store.list::<Notification>(ListQuery::default()).await?;
                if out.json {
                    return out.docs(&page.items, None);
                }
                if page.items.is_empty() {
                    out!("no notifications");
                }
                for n in &page.items {
                    let mark = if n.read { " " } else { "*" };
                    out!("{mark} {}  {}: {}", n.id, n.title, n.message);
                }
                Ok(())
            }
            Some(NotificationAction::Read { id }) => {
                store
                    .patch::<Notification>(
                        &id,
                        bson::doc! { "read": true, "read_at": bson::DateTime::now() },
                    )
                    .await?;
                out!("marked read");
                Ok(())
            }
            Some(NotificationAction::Dismiss { id }) => {
                store
                    .patch::<Notification>(
                        &id,
                        bson::doc! { "dismissed": true, "dismissed_at": bson::DateTime::now() },
                    )
                    .await?;
                out!("dismissed");
                Ok(())
            }
        },
        Command::Info => {
            out!("profile: {}", store.dir().display());
            out!("user:    {}", store.user_id());
            for collection in Collection::ALL {
                out!("  {:<22} {}", collection.name(), store.count(collection));
            }
            Ok(())
        }
    }
}

/// A sync engine for `store` with the server and token from `online`.
async fn connect(
    store: &Store,
    online: Online,
) -> anyhow::Result<(String, SyncEngine<HttpTransport>)> {
    let summary = store.sync_summary().await?;
    let Some(server) = online.server.or(summary.server_url) else {
        bail!("no sync server: pass --server URL (or set PROMPTFORGE_SERVER)");
    };
    let token = match (online.token, online.token_file) {
        (Some(token), _) => token,
        (None, Some(file)) => std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the token file {}", file.display()))?
            .trim()
            .to_owned(),
        (None, None) => bail!("no token: pass --token, --token-file or set PROMPTFORGE_TOKEN"),
    };
    let transport = HttpTransport::new(
        &server,
        Arc::new(StaticToken(token)),
        Duration::from_secs(60),
    )?;
    store.set_server_url(&server).await?;
    Ok((
        server,
        SyncEngine::new(store.clone(), transport, SyncConfig::default()),
    ))
}

/// Sends a marketplace request through the engine (which syncs around it and
/// resends after a failure retrying can fix) and turns a refusal into an error.
async fn market<R: serde::Serialize + Sync>(
    engine: &SyncEngine<HttpTransport>,
    call: MarketCall,
    request: &R,
) -> anyhow::Result<bson::Document> {
    match engine.market_request(call, request).await? {
        MarketOutcome::Done { document, .. } => {
            // Settled on the server whatever happens next; a one-shot command
            // has no background sync, so it says how to fetch the result.
            if let Err(err) = engine.sync_once().await {
                eprintln!(
                    "warning: done, but this library could not be synced afterwards ({err}); \
                     run `promptforge sync` to bring the result in"
                );
            }
            Ok(document)
        }
        MarketOutcome::Refused { message, .. } => bail!("{message}"),
    }
}

async fn sync(store: &Store, args: SyncArgs) -> anyhow::Result<()> {
    let (server, engine) = connect(store, args.online).await?;
    if !args.watch {
        let report = engine.sync_once().await?;
        let summary = store.sync_summary().await?;
        out!(
            "synced with {server}: {} uploaded, {} downloaded, {} conflicts, {} refused; {} pending, {} open conflicts",
            report.pushed, report.pulled, report.conflicts, report.rejected, summary.pending, summary.open_conflicts
        );
        return Ok(());
    }
    let mut status = engine.status();
    let printer = async {
        while status.changed().await.is_ok() {
            let now = status.borrow_and_update().clone();
            if !matches!(now.state, SyncState::Syncing { .. } | SyncState::Connecting) {
                eprintln!(
                    "{}  pending {}  conflicts {}  attention {}",
                    serde_json::to_string(&now.state).unwrap_or_default(),
                    now.pending,
                    now.open_conflicts,
                    now.needs_attention
                );
            }
        }
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::select! {
        () = engine.run(shutdown) => {}
        () = printer => {}
    }
    Ok(())
}

async fn listing(store: &Store, out: &Output, command: ListingCommand) -> anyhow::Result<()> {
    let user = store.user_id();
    match command {
        ListingCommand::Create {
            prompt,
            title,
            price,
            description,
            preview,
            category,
            license,
        } => {
            let owned: Prompt = store.require(&prompt).await?;
            if owned.user_id != user {
                bail!("prompt {prompt} is not yours to sell");
            }
            let draft: MarketplaceListing = bson::from_document(bson::doc! {
                "_id": promptforge_sync::schema::new_id(),
                "seller_id": &user,
                "prompt_id": &prompt,
                "title": title,
                "description": description,
                "category": category,
                "price": price,
                "currency": "credits",
                "preview_content": preview,
                "licensing": { "license_type": license },
            })?;
            let draft = store.create(draft).await?;
            created(out, &draft)
        }
        ListingCommand::Publish { id, online } => {
            let (_, engine) = connect(store, online).await?;
            let listing = market(
                &engine,
                MarketCall::Publish,
                &PublishRequest {
                    listing_id: id,
                    idempotency_key: Some(promptforge_sync::schema::new_id()),
                },
            )
            .await?;
            out!(
                "submitted for review: listing {} is {}",
                listing.get_str("_id").unwrap_or_default(),
                listing.get_str("status").unwrap_or_default()
            );
            Ok(())
        }
        ListingCommand::Moderate {
            id,
            action,
            notes,
            online,
        } => {
            let (_, engine) = connect(store, online).await?;
            let action = match action {
                Moderation::Approve => ModerationAction::Approve,
                Moderation::Reject => ModerationAction::Reject,
                Moderation::Suspend => ModerationAction::Suspend,
            };
            let request = ModerateRequest {
                listing_id: id,
                action,
                notes,
                idempotency_key: Some(promptforge_sync::schema::new_id()),
            };
            let listing = market(&engine, MarketCall::Moderate, &request).await?;
            out!(
                "listing {} is now {}",
                listing.get_str("_id").unwrap_or_default(),
                listing.get_str("status").unwrap_or_default()
            );
            Ok(())
        }
        ListingCommand::List { market } => {
            let page = store
                .list::<MarketplaceListing>(ListQuery {
                    limit: ListQuery::MAX_LIMIT,
                    ..ListQuery::default()
                })
                .await?;
            let shown: Vec<MarketplaceListing> = page
                .items
                .into_iter()
                .filter(|l| {
                    if market {
                        l.seller_id != user && l.status.as_str() == "approved"
                    } else {
                        l.seller_id == user
                    }
                })
                .collect();
            if out.json {
                return out.docs(&shown, None);
            }
            if shown.is_empty() {
                out!(
                    "{}",
                    if market {
                        "no listings on sale yet; sync to fetch the marketplace"
                    } else {
                        "you have no listings; create one with `listing create`"
                    }
                );
            }
            for l in &shown {
                let notes = l
                    .moderation_notes
                    .as_deref()
                    .map(|n| format!("  ({n})"))
                    .unwrap_or_default();
                out!(
                    "{}  {:<9}  {:>5} credits  {}  by {}  ★{:.1} ({}){notes}",
                    l.id,
                    l.status.as_str(),
                    l.price,
                    l.title,
                    l.seller.display_name,
                    l.reviews.average_rating,
                    l.reviews.total_reviews
                );
            }
            Ok(())
        }
    }
}

fn created<T: Model>(out: &Output, model: &T) -> anyhow::Result<()> {
    if out.json {
        return out.doc(model);
    }
    out!("{}", model.id());
    Ok(())
}

fn deleted<T: Model>(model: &T) -> anyhow::Result<()> {
    out!("moved {} {} to the trash", T::COLLECTION, model.id());
    Ok(())
}

fn restored<T: Model>(model: &T) -> anyhow::Result<()> {
    out!("restored {} {}", T::COLLECTION, model.id());
    Ok(())
}

/// Writes one line of output. A reader that went away
/// (`promptforge export | head`) ends the command the way it ends other
/// Unix tools, with the status of a broken pipe and no message, instead of
/// a panic; any other failure to write is reported.
fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::exit(BROKEN_PIPE_STATUS)
        }
        Err(err) => {
            eprintln!("error: cannot write the output: {err}");
            std::process::exit(1)
        }
    }
}

/// 128 + SIGPIPE, what a shell reports for a tool a closed pipe stopped.
const BROKEN_PIPE_STATUS: i32 = 141;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PROMPTFORGE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
