//! The command line's grammar: every command, flag and default, as clap
//! derives it, and the translation of list flags into a store query.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use promptforge_sync::{DeletedFilter, ListQuery, SortBy};

#[derive(Debug, Parser)]
#[command(
    name = "promptforge",
    version,
    about = "PromptForge Desktop from the command line: prompts, ideas and projects, offline"
)]
pub(crate) struct Cli {
    /// Profile directory (one local library each).
    #[arg(long, global = true, env = "PROMPTFORGE_PROFILE")]
    pub(crate) profile: Option<PathBuf>,
    /// Print documents as JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Teams: form one, invite by email, answer invitations, roles, leave.
    /// Everything but `list` and `members` needs the server.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Create an account, or ask for a password-reset email (Firebase Auth).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Share a prompt, idea or project with people by email, take it back,
    /// or list who has it (needs the server; only the owner shares).
    #[command(subcommand)]
    Share(ShareCommand),
    /// Your notifications; mark one read or dismiss it.
    Notifications {
        #[command(subcommand)]
        action: Option<NotificationAction>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    pub(crate) online: Online,
    /// Keep syncing until interrupted: a round every 30 s, with backoff
    /// when offline. The profile stays locked meanwhile, so other commands
    /// on it wait until this one stops.
    #[arg(long)]
    pub(crate) watch: bool,
}

/// How to reach the sync server as the signed-in user.
#[derive(Debug, Args)]
pub(crate) struct Online {
    /// The sync server's URL (remembered in the profile once used).
    #[arg(long, env = "PROMPTFORGE_SERVER")]
    pub(crate) server: Option<String>,
    /// The account's ID token (never printed or logged).
    #[arg(long, env = "PROMPTFORGE_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Read the token from this file instead.
    #[arg(long, conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ListingCommand {
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
pub(crate) enum Moderation {
    Approve,
    Reject,
    Suspend,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NotificationAction {
    Read { id: String },
    Dismiss { id: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConflictAction {
    /// Settle a conflict: keep mine, keep theirs, or keep both (a copy).
    Resolve {
        id: String,
        #[arg(long, value_enum)]
        keep: Keep,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Keep {
    Mine,
    Theirs,
    Both,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AttentionAction {
    /// Upload the refused change again (after fixing the document).
    Retry { mutation_id: u64 },
    /// Drop the item; the local document stays as it is.
    Dismiss { mutation_id: u64 },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PromptCommand {
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
pub(crate) struct PromptFields {
    #[arg(long)]
    pub(crate) description: Option<String>,
    #[arg(long)]
    pub(crate) role: Option<String>,
    #[arg(long)]
    pub(crate) category: Option<String>,
    /// Repeat for several tags.
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// text, structured, template or workflow.
    #[arg(long = "type")]
    pub(crate) prompt_type: Option<String>,
    /// beginner, intermediate, advanced or expert.
    #[arg(long)]
    pub(crate) difficulty: Option<String>,
    /// draft, active, archived or deleted.
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// private, shared, public or marketplace.
    #[arg(long)]
    pub(crate) visibility: Option<String>,
    /// Move into this project ("" to take it out).
    #[arg(long)]
    pub(crate) project: Option<String>,
    #[arg(long)]
    pub(crate) folder: Option<String>,
    #[arg(long)]
    pub(crate) parent: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IdeaCommand {
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
pub(crate) struct IdeaFields {
    #[arg(long)]
    pub(crate) category: Option<String>,
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// raw, reviewed, developing, testing, implemented or abandoned.
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// low, medium, high or urgent.
    #[arg(long)]
    pub(crate) priority: Option<String>,
    #[arg(long)]
    pub(crate) starred: Option<bool>,
    #[arg(long)]
    pub(crate) project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProjectCommand {
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
pub(crate) struct ProjectFields {
    #[arg(long)]
    pub(crate) description: Option<String>,
    #[arg(long)]
    pub(crate) category: Option<String>,
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// planning, active, completed, archived or deleted.
    #[arg(long)]
    pub(crate) status: Option<String>,
    #[arg(long)]
    pub(crate) priority: Option<String>,
    /// 0 to 100.
    #[arg(long)]
    pub(crate) progress: Option<i64>,
    /// A hex colour such as #3b82f6.
    #[arg(long)]
    pub(crate) color: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// Set any field: FIELD=VALUE, VALUE read as JSON when it parses
    /// (`performance.rating=4.5`, `tags=["a","b"]`), else as text; `null` clears.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(crate) set: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[arg(long)]
    pub(crate) status: Option<String>,
    #[arg(long)]
    pub(crate) category: Option<String>,
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    #[arg(long)]
    pub(crate) project: Option<String>,
    #[arg(long)]
    pub(crate) folder: Option<String>,
    #[arg(long)]
    pub(crate) starred: Option<bool>,
    #[arg(long)]
    pub(crate) priority: Option<String>,
    #[arg(long)]
    pub(crate) visibility: Option<String>,
    /// beginner, intermediate, advanced or expert (prompts).
    #[arg(long)]
    pub(crate) difficulty: Option<String>,
    /// Only templates (or, with `false`, only non-templates).
    #[arg(long)]
    pub(crate) template: Option<bool>,
    /// Words that must all appear in title, description, content or tags.
    #[arg(long)]
    pub(crate) search: Option<String>,
    /// Show the trash too (`include`) or only it (`only`).
    #[arg(long, value_enum, default_value_t = Deleted::Exclude)]
    pub(crate) deleted: Deleted,
    #[arg(long, value_enum, default_value_t = Sort::Updated)]
    pub(crate) sort: Sort,
    /// Oldest or Z-A first.
    #[arg(long)]
    pub(crate) reverse: bool,
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Deleted {
    Exclude,
    Include,
    Only,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Sort {
    Updated,
    Created,
    Title,
}

impl ListArgs {
    pub(crate) fn query(self) -> ListQuery {
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

#[derive(Debug, Subcommand)]
pub(crate) enum TeamCommand {
    /// Form a team with you as its owner; prints its id.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        online: Online,
    },
    /// Your teams, as last synced.
    List,
    /// A team's members and their roles, as last synced.
    Members { team: String },
    /// Invite the account with this email (owners and admins).
    Invite {
        team: String,
        email: String,
        /// admin, editor or viewer.
        #[arg(long, default_value = "editor")]
        role: String,
        #[command(flatten)]
        online: Online,
    },
    /// Join a team that invited you.
    Accept {
        team: String,
        #[command(flatten)]
        online: Online,
    },
    /// Say no to an invitation.
    Decline {
        team: String,
        #[command(flatten)]
        online: Online,
    },
    /// Change another member's role: admin, editor or viewer.
    Role {
        team: String,
        user: String,
        role: String,
        #[command(flatten)]
        online: Online,
    },
    /// Remove another member.
    Remove {
        team: String,
        user: String,
        #[command(flatten)]
        online: Online,
    },
    /// Leave a team (an owner transfers it first).
    Leave {
        team: String,
        #[command(flatten)]
        online: Online,
    },
    /// Hand the team over to another member (you become an admin).
    Transfer {
        team: String,
        user: String,
        #[command(flatten)]
        online: Online,
    },
    /// Delete a team you own; its members lose its projects.
    Delete {
        team: String,
        #[command(flatten)]
        online: Online,
    },
}

/// What can be shared.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Shareable {
    Prompt,
    Idea,
    Project,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ShareCommand {
    /// Share with the account using EMAIL, or change its permission.
    Add {
        kind: Shareable,
        id: String,
        email: String,
        /// read or write (ideas are shared to read).
        #[arg(long, default_value = "read")]
        permission: String,
        #[command(flatten)]
        online: Online,
    },
    /// Take it back from USER (a user id, as `share list` shows).
    Remove {
        kind: Shareable,
        id: String,
        user: String,
        #[command(flatten)]
        online: Online,
    },
    /// Who it is shared with, and what each may do.
    List {
        kind: Shareable,
        id: String,
        #[command(flatten)]
        online: Online,
    },
}

/// Where Firebase Auth is: the project's web API key, and optionally a
/// self-hosted service or the emulator speaking its API.
#[derive(Debug, Args)]
pub(crate) struct FirebaseArgs {
    #[arg(long, env = "PROMPTFORGE_FIREBASE_API_KEY")]
    pub(crate) api_key: String,
    #[arg(long, env = "PROMPTFORGE_AUTH_URL")]
    pub(crate) auth_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Create an account; the password is read from standard input (first
    /// line). Prints the new user id, and asks for the email's verification
    /// link.
    Signup {
        email: String,
        #[command(flatten)]
        firebase: FirebaseArgs,
        /// Write the account's ID token (valid for an hour) to this file
        /// (mode 0600), for `--token-file`.
        #[arg(long)]
        save_token: Option<PathBuf>,
    },
    /// Ask for a password-reset email (answered the same whether or not an
    /// account uses the email).
    Reset {
        email: String,
        #[command(flatten)]
        firebase: FirebaseArgs,
    },
}
