//! The hints the live channel runs on: the sequencer (and the presence
//! route) insert one document per event into [`HINTS`], naming who it
//! concerns; every instance follows that collection (see the parent module).

use std::collections::BTreeSet;
use std::time::Duration;

use bson::{doc, Bson, DateTime, Document};
use promptforge_wire::codec::get_path;
use promptforge_wire::schema::Collection;

use crate::db::Db;
use crate::error::ServerError;
use crate::scope;

/// Where the sequencer leaves hints for every instance.
pub const HINTS: &str = "live_hints";
/// How long a hint is kept (the retention purge removes older ones): only
/// instances following the stream read them, and they read them at once.
pub const HINT_RETENTION: Duration = Duration::from_secs(3600);

/// Who a batch of numbered writes concerns.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Audience {
    pub(super) users: BTreeSet<String>,
    pub(super) teams: BTreeSet<String>,
    pub(super) projects: BTreeSet<String>,
    pub(super) everyone: bool,
    /// A team or project moved: the woken connections look up their
    /// teams again, so later hints about team work reach them.
    pub(super) access_changed: bool,
}

impl Audience {
    /// Adds the readers of `doc`, as stored now, in `collection`.
    pub fn add(&mut self, collection: Collection, doc: &Document) {
        let mut user = |path: &str| {
            if let Some(Bson::String(id)) = get_path(doc, path) {
                self.users.insert(id.clone());
            }
        };
        user(scope::owner_field(collection));
        match collection {
            Collection::MarketplacePurchases => user("seller_id"),
            Collection::PromptVersions => user("user_id"),
            _ => {}
        }
        self.users.extend(scope::explicit_readers(collection, doc));
        let string = |path: &str| match get_path(doc, path) {
            Some(Bson::String(id)) => Some(id.clone()),
            _ => None,
        };
        match collection {
            Collection::Teams => {
                self.access_changed = true;
                self.teams.extend(string("_id"));
            }
            Collection::Projects => {
                self.access_changed = true;
                self.teams.extend(string("collaboration.team_id"));
                self.projects.extend(string("_id"));
            }
            Collection::Prompts | Collection::Ideas => {
                self.projects.extend(string("project_id"));
            }
            Collection::MarketplaceListings => {
                let public = matches!(doc.get_str("status"), Ok("approved" | "suspended"));
                self.everyone |= public;
            }
            Collection::Reviews => self.everyone = true,
            _ => {}
        }
    }

    /// Adds the user a "left your scope" notice is for.
    pub fn add_exit(&mut self, notice: &Document) {
        if let Ok(user) = notice.get_str("user_id") {
            self.users.insert(user.to_owned());
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.everyone && self.users.is_empty() && self.teams.is_empty() && self.projects.is_empty()
    }

    pub(super) fn to_hint(&self, through: i64) -> Document {
        doc! {
            "through": through,
            "users": self.users.iter().cloned().collect::<Vec<_>>(),
            "teams": self.teams.iter().cloned().collect::<Vec<_>>(),
            "projects": self.projects.iter().cloned().collect::<Vec<_>>(),
            "everyone": self.everyone,
            "access_changed": self.access_changed,
            "at": DateTime::now(),
        }
    }

    pub(super) fn from_hint(hint: &Document) -> (i64, Audience) {
        let set = |field: &str| -> BTreeSet<String> {
            scope::listed_users(hint, field).into_iter().collect()
        };
        let audience = Audience {
            users: set("users"),
            teams: set("teams"),
            projects: set("projects"),
            everyone: hint.get_bool("everyone").unwrap_or(false),
            access_changed: hint.get_bool("access_changed").unwrap_or(false),
        };
        (hint.get_i64("through").unwrap_or(0), audience)
    }
}

/// Tells every instance that `audience`'s documents are readable up to
/// `through` (called by the sequencer after it published that watermark).
pub async fn announce(db: &Db, audience: &Audience, through: i64) -> Result<(), ServerError> {
    if audience.is_empty() {
        return Ok(());
    }
    db.db
        .collection::<Document>(HINTS)
        .insert_one(audience.to_hint(through))
        .await?;
    Ok(())
}

/// Tells every instance that the presence on `prompt_id` changed, for the
/// `users` who have it open (and the one who just closed it).
pub async fn announce_presence(
    db: &Db,
    prompt_id: &str,
    users: BTreeSet<String>,
) -> Result<(), ServerError> {
    db.db
        .collection::<Document>(HINTS)
        .insert_one(doc! {
            "presence": prompt_id,
            "users": users.into_iter().collect::<Vec<_>>(),
            "at": DateTime::now(),
        })
        .await?;
    Ok(())
}

/// Removes hints older than [`HINT_RETENTION`]; returns how many.
pub async fn purge_hints(db: &Db) -> Result<u64, ServerError> {
    let before = DateTime::from_millis(
        DateTime::now().timestamp_millis()
            - i64::try_from(HINT_RETENTION.as_millis()).unwrap_or(i64::MAX),
    );
    Ok(db
        .db
        .collection::<Document>(HINTS)
        .delete_many(doc! { "at": { "$lt": before } })
        .await?
        .deleted_count)
}
