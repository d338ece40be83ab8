//! The live channel, `GET /v1/live`: each connected desktop is told within
//! milliseconds that documents in its scope were numbered, and pulls.
//!
//! The sequencer (one instance, holding the lease) knows what it just
//! numbered. After publishing a watermark it writes one hint document to
//! [`HINTS`] naming the batch's audience: users, teams and projects, or
//! everyone for public documents (approved listings, reviews). Every
//! instance follows that collection's change stream and wakes its own
//! connections whose user is in the audience, so a write committed through
//! any instance, or straight to MongoDB by another backend, reaches the
//! clients of every instance.
//!
//! A connection's wake-up is a `watch` value (the newest watermark), so a
//! client that reads slowly is sent the latest hint once, never a queue. A
//! hint carries no documents: missing one costs latency, not data, and the
//! client still polls now and then.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bson::{doc, Bson, DateTime, Document};
use futures_util::{Stream, StreamExt};
use promptforge_wire::codec::get_path;
use promptforge_wire::protocol::{LiveChanged, LiveClosing, LiveEvent, LiveReady};
use promptforge_wire::schema::Collection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::Db;
use crate::error::ServerError;
use crate::scope::{self, TeamAccess};

/// Where the sequencer leaves hints for every instance.
pub const HINTS: &str = "live_hints";
/// How long a hint is kept (the retention purge removes older ones): only
/// instances following the stream read them, and they read them at once.
pub const HINT_RETENTION: Duration = Duration::from_secs(3600);
/// Wait before following the hint stream again after it failed.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// Who a batch of numbered writes concerns.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Audience {
    users: BTreeSet<String>,
    teams: BTreeSet<String>,
    projects: BTreeSet<String>,
    everyone: bool,
    /// A team or project moved: the woken connections look up their
    /// teams again, so later hints about team work reach them.
    access_changed: bool,
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

    fn to_hint(&self, through: i64) -> Document {
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

    fn from_hint(hint: &Document) -> (i64, Audience) {
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

/// One user's live channels on this instance.
struct Listener {
    wake: watch::Sender<i64>,
    connections: usize,
    teams: Vec<String>,
    projects: Vec<String>,
    /// Set when a hint about teams or projects woke this user.
    reload_access: bool,
}

impl Listener {
    fn concerned_by(&self, audience: &Audience, user: &str) -> bool {
        audience.everyone
            || audience.users.contains(user)
            || self.teams.iter().any(|t| audience.teams.contains(t))
            || self.projects.iter().any(|p| audience.projects.contains(p))
    }
}

/// How many channels an instance holds, and how often idle ones hear from it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_user: usize,
    pub total: usize,
    pub heartbeat: Duration,
}

/// This instance's live channels, and the task that follows the hints.
pub struct LiveHub {
    db: Db,
    listeners: Mutex<HashMap<String, Listener>>,
    limits: Limits,
    follower: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Drop for LiveHub {
    fn drop(&mut self) {
        if let Some(task) = self.lock_follower().take() {
            task.abort();
        }
    }
}

impl LiveHub {
    /// A hub following the hints of `db`; needs a Tokio runtime.
    pub fn start(db: Db, limits: Limits) -> Arc<LiveHub> {
        let hub = Arc::new(LiveHub {
            db: db.clone(),
            listeners: Mutex::new(HashMap::new()),
            limits: Limits {
                per_user: limits.per_user.max(1),
                total: limits.total.max(1),
                heartbeat: limits.heartbeat.max(Duration::from_secs(1)),
            },
            follower: Mutex::new(None),
        });
        let task = tokio::spawn(follow_hints(db, Arc::downgrade(&hub)));
        *hub.lock_follower() = Some(task);
        hub
    }

    fn lock_follower(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.follower.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Listener>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live channels open on this instance.
    pub fn open_connections(&self) -> usize {
        open_in(&self.lock())
    }

    fn dispatch(&self, through: i64, audience: &Audience) {
        let mut woken = 0;
        for (user, listener) in self.lock().iter_mut() {
            if listener.concerned_by(audience, user) {
                listener.reload_access |= audience.access_changed;
                listener
                    .wake
                    .send_modify(|seen| *seen = (*seen).max(through));
                woken += 1;
            }
        }
        crate::metrics::live_hints(woken);
    }

    /// Wakes every connection: after the hint stream was (re)opened, when
    /// hints may have been missed.
    fn wake_all(&self, through: i64) {
        for listener in self.lock().values_mut() {
            listener.reload_access = true;
            listener
                .wake
                .send_modify(|seen| *seen = (*seen).max(through));
        }
    }

    /// Opens a live channel for `user`, whose token expires at `expires`
    /// (seconds since the epoch).
    pub async fn connect(
        self: &Arc<Self>,
        user: String,
        expires: u64,
    ) -> Result<Response, ServerError> {
        let through = crate::sequencer::watermark(&self.db).await?;
        let access = TeamAccess::load(&self.db, &user).await?;
        let wake = {
            let mut listeners = self.lock();
            let open = open_in(&listeners);
            if open >= self.limits.total {
                return Err(ServerError::TooManyConnections(format!(
                    "this server holds as many live channels as it allows ({open}); poll, or try again later"
                )));
            }
            let listener = listeners.entry(user.clone()).or_insert_with(|| Listener {
                wake: watch::channel(through).0,
                connections: 0,
                teams: Vec::new(),
                projects: Vec::new(),
                reload_access: false,
            });
            if listener.connections >= self.limits.per_user {
                return Err(ServerError::TooManyConnections(format!(
                    "{} live channels are open for this user on this server (the most it allows); close one",
                    listener.connections
                )));
            }
            listener.connections += 1;
            listener.teams = access.teams;
            listener.projects = access.projects;
            listener.wake.subscribe()
        };
        crate::metrics::live_connections(self.open_connections());
        tracing::debug!(user = %user, "live channel opened");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let expires_in = Duration::from_secs(expires.saturating_sub(now));
        let channel = Channel {
            stage: Stage::Ready,
            wake,
            expires_at: tokio::time::Instant::now() + expires_in,
            _open: Open {
                hub: Arc::clone(self),
                user,
            },
        };
        let heartbeat = self.limits.heartbeat;
        let ready = LiveEvent::Ready(LiveReady {
            through,
            heartbeat_secs: heartbeat.as_secs(),
        });
        let events = events(channel, ready);
        Ok(Sse::new(events)
            .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
            .into_response())
    }

    /// Takes the "look up your teams again" mark of `user`.
    fn take_reload(&self, user: &str) -> bool {
        self.lock()
            .get_mut(user)
            .is_some_and(|l| std::mem::take(&mut l.reload_access))
    }

    async fn reload_access(&self, user: &str) {
        match TeamAccess::load(&self.db, user).await {
            Ok(access) => {
                if let Some(listener) = self.lock().get_mut(user) {
                    listener.teams = access.teams;
                    listener.projects = access.projects;
                }
            }
            Err(err) => tracing::warn!(error = %err, "live channel: cannot look up teams"),
        }
    }

    fn close(&self, user: &str) {
        {
            let mut listeners = self.lock();
            if let Some(listener) = listeners.get_mut(user) {
                listener.connections = listener.connections.saturating_sub(1);
                if listener.connections == 0 {
                    listeners.remove(user);
                }
            }
        }
        crate::metrics::live_connections(self.open_connections());
    }
}

/// Channels open among `listeners`.
fn open_in(listeners: &HashMap<String, Listener>) -> usize {
    listeners.values().map(|l| l.connections).sum()
}

/// Follows [`HINTS`] for as long as the hub lives, reopening the stream
/// after failures (and then waking everyone, who may have missed hints).
async fn follow_hints(db: Db, hub: Weak<LiveHub>) {
    let pipeline = [doc! { "$match": { "operationType": "insert" } }];
    loop {
        let opened = db
            .db
            .collection::<Document>(HINTS)
            .watch()
            .pipeline(pipeline.clone())
            .await;
        match opened {
            Ok(mut stream) => {
                if let Some(hub) = hub.upgrade() {
                    if let Ok(through) = crate::sequencer::watermark(&db).await {
                        hub.wake_all(through);
                    }
                } else {
                    return;
                }
                while let Some(event) = stream.next().await {
                    let Some(hub) = hub.upgrade() else {
                        return;
                    };
                    match event {
                        Ok(event) => {
                            if let Some(hint) = event.full_document {
                                let (through, audience) = Audience::from_hint(&hint);
                                hub.dispatch(through, &audience);
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "live hints: the change stream failed");
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "live hints: cannot follow the change stream"),
        }
        if hub.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// Closes its user's channel on the hub when dropped (the client went away
/// or the stream ended).
struct Open {
    hub: Arc<LiveHub>,
    user: String,
}

impl Drop for Open {
    fn drop(&mut self) {
        tracing::debug!(user = %self.user, "live channel closed");
        self.hub.close(&self.user);
    }
}

enum Stage {
    Ready,
    Following,
    Closed,
}

struct Channel {
    stage: Stage,
    wake: watch::Receiver<i64>,
    expires_at: tokio::time::Instant,
    _open: Open,
}

fn sse(event: &LiveEvent) -> Result<Event, Infallible> {
    Ok(Event::default().event(event.name()).data(event.data()))
}

fn events(channel: Channel, ready: LiveEvent) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(channel, move |mut channel| {
        let ready = ready.clone();
        async move {
            match channel.stage {
                Stage::Ready => {
                    channel.stage = Stage::Following;
                    Some((sse(&ready), channel))
                }
                Stage::Following => {
                    tokio::select! {
                        changed = channel.wake.changed() => {
                            changed.ok()?;
                            let through = *channel.wake.borrow_and_update();
                            let open = &channel._open;
                            if open.hub.take_reload(&open.user) {
                                open.hub.reload_access(&open.user).await;
                            }
                            let event = LiveEvent::Changed(LiveChanged { through });
                            Some((sse(&event), channel))
                        }
                        () = tokio::time::sleep_until(channel.expires_at) => {
                            channel.stage = Stage::Closed;
                            let event = LiveEvent::TokenExpired(LiveClosing {
                                message: "the token expired; reconnect with a fresh one".into(),
                            });
                            Some((sse(&event), channel))
                        }
                    }
                }
                Stage::Closed => None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_round_trips_its_audience() {
        let mut audience = Audience::default();
        audience.add(
            Collection::Prompts,
            &doc! { "_id": "p1", "user_id": "ada", "project_id": "proj",
            "collaboration": { "allowed_users": ["grace"] } },
        );
        audience.add(
            Collection::Projects,
            &doc! { "_id": "proj", "user_id": "ada", "collaboration": { "team_id": "t1" } },
        );
        audience.add_exit(&doc! { "user_id": "linus", "collection": "prompts" });
        let (through, back) = Audience::from_hint(&audience.to_hint(42));
        assert_eq!(through, 42);
        assert_eq!(back, audience);
        assert!(back.users.contains("ada") && back.users.contains("grace"));
        assert!(back.users.contains("linus"));
        assert!(back.teams.contains("t1") && back.projects.contains("proj"));
        assert!(back.access_changed && !back.everyone);
    }

    #[test]
    fn public_documents_concern_everyone_and_private_ones_do_not() {
        let mut listing = Audience::default();
        listing.add(
            Collection::MarketplaceListings,
            &doc! { "_id": "l1", "seller_id": "ada", "status": "approved" },
        );
        assert!(listing.everyone);
        let mut draft = Audience::default();
        draft.add(
            Collection::MarketplaceListings,
            &doc! { "_id": "l2", "seller_id": "ada", "status": "draft" },
        );
        assert!(!draft.everyone);
        let listener = Listener {
            wake: watch::channel(0).0,
            connections: 1,
            teams: vec!["t9".into()],
            projects: vec![],
            reload_access: false,
        };
        assert!(!listener.concerned_by(&draft, "grace"));
        assert!(listener.concerned_by(&draft, "ada"));
        assert!(listener.concerned_by(&listing, "grace"));
    }
}
