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
//!
//! Presence (see [`crate::presence`]) rides the same path: a presence hint
//! names a prompt and the users who have it open; each instance with such
//! a user connected reads the prompt's state once and keeps the latest
//! state per prompt for that user (at most [`PRESENCE_PER_USER`] prompts),
//! which each of the user's channels sends once.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bson::{doc, Document};
use futures_util::{Stream, StreamExt};
use promptforge_wire::presence::PresenceState;
use promptforge_wire::protocol::{LiveChanged, LiveClosing, LiveEvent, LiveReady};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod hints;
#[cfg(test)]
mod tests;

pub use hints::{announce, announce_presence, purge_hints, Audience, HINTS, HINT_RETENTION};

use crate::db::Db;
use crate::error::ServerError;
use crate::scope::{self, TeamAccess};

/// Wait before following the hint stream again after it failed.
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// Most prompts whose latest presence one user's channels keep to send: a
/// user has a prompt or two open, so this bounds only a hostile client.
pub const PRESENCE_PER_USER: usize = 32;

/// What a channel has to tell: the newest watermark, and the count of
/// presence states its user was offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Wake {
    through: i64,
    presence: u64,
}

/// One user's live channels on this instance.
struct Listener {
    wake: watch::Sender<Wake>,
    connections: usize,
    teams: Vec<String>,
    projects: Vec<String>,
    /// Set when a hint about teams or projects woke this user.
    reload_access: bool,
    /// The latest presence state of each prompt, oldest first, with the
    /// `Wake::presence` count it was offered at.
    presence: VecDeque<(u64, Arc<PresenceState>)>,
}

impl Listener {
    fn new(through: i64) -> Listener {
        Listener {
            wake: watch::channel(Wake {
                through,
                presence: 0,
            })
            .0,
            connections: 0,
            teams: Vec::new(),
            projects: Vec::new(),
            reload_access: false,
            presence: VecDeque::new(),
        }
    }

    fn advance(&self, through: i64) {
        self.wake
            .send_modify(|wake| wake.through = wake.through.max(through));
    }

    /// Keeps `state` as its prompt's latest and wakes the channels.
    fn offer_presence(&mut self, state: Arc<PresenceState>) {
        let count = self.wake.borrow().presence + 1;
        self.presence
            .retain(|(_, s)| s.prompt_id != state.prompt_id);
        if self.presence.len() >= PRESENCE_PER_USER {
            self.presence.pop_front();
        }
        self.presence.push_back((count, state));
        self.wake.send_modify(|wake| wake.presence = count);
    }

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
    /// How long a presence entry lives (for the states sent to channels).
    pub presence_ttl: Duration,
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
                presence_ttl: limits.presence_ttl,
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
                listener.advance(through);
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
            listener.advance(through);
        }
    }

    /// Sends the presence on `prompt_id` to those of `users` connected here.
    async fn dispatch_presence(&self, prompt_id: &str, users: &[String]) {
        let connected_here = {
            let listeners = self.lock();
            users.iter().any(|user| listeners.contains_key(user))
        };
        if !connected_here {
            return;
        }
        let state =
            match crate::presence::state(&self.db, prompt_id, self.limits.presence_ttl).await {
                Ok(state) => Arc::new(state),
                Err(err) => {
                    tracing::warn!(error = %err, "live channel: cannot read a prompt's presence");
                    return;
                }
            };
        let mut listeners = self.lock();
        for user in users {
            if let Some(listener) = listeners.get_mut(user) {
                listener.offer_presence(Arc::clone(&state));
            }
        }
    }

    /// The presence states offered to `user` after count `seen`, oldest first.
    fn presence_since(&self, user: &str, seen: u64) -> Vec<Arc<PresenceState>> {
        self.lock()
            .get(user)
            .map(|listener| {
                listener
                    .presence
                    .iter()
                    .filter(|(count, _)| *count > seen)
                    .map(|(_, state)| Arc::clone(state))
                    .collect()
            })
            .unwrap_or_default()
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
        let heartbeat = self.limits.heartbeat;
        let events = self.open(user, through, access, expires)?;
        Ok(Sse::new(events.map(|event| sse(&event)))
            .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
            .into_response())
    }

    /// Registers a channel for `user` and returns its events, starting
    /// with `ready` at `through`.
    fn open(
        self: &Arc<Self>,
        user: String,
        through: i64,
        access: TeamAccess,
        expires: u64,
    ) -> Result<impl Stream<Item = LiveEvent>, ServerError> {
        let (wake, sent) = {
            let mut listeners = self.lock();
            let open = open_in(&listeners);
            if open >= self.limits.total {
                return Err(ServerError::TooManyConnections(format!(
                    "this server holds as many live channels as it allows ({open}); poll, or try again later"
                )));
            }
            let listener = listeners
                .entry(user.clone())
                .or_insert_with(|| Listener::new(through));
            if listener.connections >= self.limits.per_user {
                return Err(ServerError::TooManyConnections(format!(
                    "{} live channels are open for this user on this server (the most it allows); close one",
                    listener.connections
                )));
            }
            listener.connections += 1;
            listener.teams = access.teams;
            listener.projects = access.projects;
            let sent = Wake {
                through,
                presence: listener.wake.borrow().presence,
            };
            (listener.wake.subscribe(), sent)
        };
        crate::metrics::live_connections(self.open_connections());
        tracing::debug!(user = %user, "live channel opened");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // A token may claim any `exp`: far beyond a year is as good as never,
        // and must not overflow the clock.
        let expires_in = Duration::from_secs(expires.saturating_sub(now).min(366 * 86_400));
        let ready = LiveEvent::Ready(LiveReady {
            through,
            heartbeat_secs: self.limits.heartbeat.as_secs(),
        });
        let channel = Channel {
            stage: Stage::Following,
            wake,
            sent,
            outbox: VecDeque::from([ready]),
            expires_at: tokio::time::Instant::now() + expires_in,
            open: Open {
                hub: Arc::clone(self),
                user,
            },
        };
        Ok(events(channel))
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
                                if let Ok(prompt) = hint.get_str("presence") {
                                    let users = scope::listed_users(&hint, "users");
                                    hub.dispatch_presence(prompt, &users).await;
                                } else {
                                    let (through, audience) = Audience::from_hint(&hint);
                                    hub.dispatch(through, &audience);
                                }
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
    Following,
    Closed,
}

struct Channel {
    stage: Stage,
    wake: watch::Receiver<Wake>,
    /// What this channel has told its client so far.
    sent: Wake,
    /// Events due now: at most a hint and one state per prompt.
    outbox: VecDeque<LiveEvent>,
    expires_at: tokio::time::Instant,
    open: Open,
}

impl Channel {
    /// Queues what moved since the channel last told its client.
    fn catch_up(&mut self, now: Wake) {
        if now.through > self.sent.through {
            self.outbox.push_back(LiveEvent::Changed(LiveChanged {
                through: now.through,
            }));
            self.sent.through = now.through;
        }
        if now.presence > self.sent.presence {
            let states = self
                .open
                .hub
                .presence_since(&self.open.user, self.sent.presence);
            self.outbox.extend(
                states
                    .into_iter()
                    .map(|state| LiveEvent::Presence(PresenceState::clone(&state))),
            );
            self.sent.presence = now.presence;
        }
    }
}

fn sse(event: &LiveEvent) -> Result<Event, Infallible> {
    Ok(Event::default().event(event.name()).data(event.data()))
}

fn events(channel: Channel) -> impl Stream<Item = LiveEvent> {
    futures_util::stream::unfold(channel, |mut channel| async move {
        loop {
            if let Some(event) = channel.outbox.pop_front() {
                return Some((event, channel));
            }
            if let Stage::Closed = channel.stage {
                return None;
            }
            tokio::select! {
                changed = channel.wake.changed() => {
                    changed.ok()?;
                    let now = *channel.wake.borrow_and_update();
                    let open = &channel.open;
                    if open.hub.take_reload(&open.user) {
                        open.hub.reload_access(&open.user).await;
                    }
                    channel.catch_up(now);
                }
                () = tokio::time::sleep_until(channel.expires_at) => {
                    channel.stage = Stage::Closed;
                    channel.outbox.push_back(LiveEvent::TokenExpired(LiveClosing {
                        message: "the token expired; reconnect with a fresh one".into(),
                    }));
                }
            }
        }
    })
}
