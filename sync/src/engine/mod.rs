//! The sync client engine: reconciles the local store with the sync server.
//!
//! One round ([`SyncEngine::sync_once`]) is: handshake (which attaches the
//! profile to the verified account), push the outbox in batches until it is
//! drained, pull every collection from its checkpoint (all of them in one
//! request per page budget, see `pull`), then push
//! again whatever the pull rebased. Each pushed batch's results and each
//! pulled page are applied in one local transaction, so an interrupted round
//! resumes where it stopped and nothing is applied twice.
//!
//! [`SyncEngine::run`] repeats rounds: on a timer, shortly after local
//! writes, when nudged (network back, "sync now"), and after failures with
//! exponential backoff and jitter. Its [`SyncStatus`] is published on a
//! watch channel the UI and CLI subscribe to.

pub mod account;
mod code;
pub mod live;
pub mod presence;
mod pull;
mod server_ops;
pub mod transport;
mod usage;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::DateTime;
use promptforge_wire::protocol::{
    HandshakeRequest, HandshakeResponse, PushRequest, PROTOCOL_VERSION, SCHEMA_VERSION,
};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::error::StoreError;
use crate::insights::EventRecorder;
use crate::store::{Store, SyncSummary};
pub use code::SyncErrorCode;
use promptforge_wire::market::MarketOutcome;
pub use transport::{
    HttpTransport, MarketCall, StaticToken, TokenProvider, Transport, TransportError,
};

/// The time source for ages and stamps, replaceable in tests (a clock that
/// jumps backwards must never produce negative ages).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime {
        DateTime::now()
    }
}

/// Tuning; the defaults suit a desktop.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Most mutations per push request.
    pub push_batch: usize,
    /// About how many bytes of mutations per push request.
    pub push_max_bytes: usize,
    /// Page size asked of the server, in bytes of documents (`None`: the
    /// server's default).
    pub pull_page_bytes: Option<u64>,
    /// How often `run` syncs when nothing else prompts it.
    pub poll_interval: Duration,
    /// How often `run` syncs while a live channel is open (which tells it
    /// when the server has something): a safety net only.
    pub live_poll_interval: Duration,
    /// How long `run` waits after a local write before pushing, so a burst
    /// of writes (an import, a save that also files the prompt) becomes one
    /// upload. Short: a collaborator waits for it on every save.
    pub write_debounce: Duration,
    /// First and largest wait between failed rounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            push_batch: 500,
            push_max_bytes: 4 << 20,
            // The largest page the server gives (eight times its default):
            // a first sync of a large library costs the server an eighth of
            // the queries, and a page (a few thousand prompts) is still
            // stored in a fraction of a second.
            pull_page_bytes: Some(8 << 20),
            poll_interval: Duration::from_secs(30),
            live_poll_interval: Duration::from_secs(600),
            write_debounce: Duration::from_millis(50),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// What the engine is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// No round has run yet.
    Idle,
    /// The server cannot be reached; rounds are retried with backoff.
    Offline {
        reason: String,
    },
    Connecting,
    /// Uploading or downloading; `total` is an estimate when known.
    Syncing {
        phase: SyncPhase,
        done: u64,
        total: Option<u64>,
    },
    UpToDate,
    /// The last round failed; `retrying` says whether it is retried by itself.
    Error {
        code: SyncErrorCode,
        message: String,
        retrying: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    Push,
    Pull,
}

/// Everything the UI shows about sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    #[serde(flatten)]
    pub state: SyncState,
    /// Local changes not yet confirmed by the server.
    pub pending: u64,
    /// Age of the oldest of them, in seconds.
    pub oldest_pending_age_secs: Option<u64>,
    pub needs_attention: u64,
    pub open_conflicts: u64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_synced_at: Option<DateTime>,
    /// A live channel is open: other people's changes arrive as they happen.
    pub live: bool,
}

impl SyncStatus {
    /// The status shown for `state` given the store's bookkeeping at `now`.
    pub fn from_summary(state: SyncState, summary: &SyncSummary, now: DateTime) -> SyncStatus {
        let age = summary.oldest_pending.map(|oldest| {
            // A clock moved backwards gives an age of zero, never a negative one.
            let millis = now
                .timestamp_millis()
                .saturating_sub(oldest.timestamp_millis());
            u64::try_from(millis).unwrap_or(0) / 1000
        });
        SyncStatus {
            state,
            pending: summary.pending,
            oldest_pending_age_secs: age,
            needs_attention: summary.needs_attention,
            open_conflicts: summary.open_conflicts,
            last_synced_at: summary.last_synced_at,
            live: false,
        }
    }
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sync server speaks protocol {server}, this app {client}; update the app")]
    ProtocolMismatch { server: u32, client: u32 },
    #[error("the sync server's answer does not fit the request: {0}")]
    BadAnswer(String),
}

impl SyncError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Transport(err) => err.is_retryable(),
            SyncError::Store(err) => err.is_retryable(),
            SyncError::ProtocolMismatch { .. } | SyncError::BadAnswer(_) => false,
        }
    }

    pub fn code(&self) -> SyncErrorCode {
        match self {
            SyncError::Transport(err) => err.code(),
            SyncError::Store(StoreError::OtherAccount { .. }) => SyncErrorCode::OtherAccount,
            SyncError::Store(_) => SyncErrorCode::LocalStore,
            SyncError::ProtocolMismatch { .. } => SyncErrorCode::UpgradeRequired,
            SyncError::BadAnswer(_) => SyncErrorCode::Protocol,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The user's changes answered (usage events riding along are not counted).
    pub pushed: usize,
    pub pulled: usize,
    pub conflicts: usize,
    pub rejected: usize,
}

/// The engine for one profile and one server.
pub struct SyncEngine<T: Transport> {
    store: Store,
    transport: T,
    clock: Arc<dyn Clock>,
    config: SyncConfig,
    status: watch::Sender<SyncStatus>,
    nudge: Notify,
    /// Held for a whole round: a round started by the app (a purchase, say)
    /// and one started by `run` never interleave their pushes and pulls.
    round: tokio::sync::Mutex<()>,
    /// Whether [`SyncEngine::run`] holds a live channel open now.
    live: AtomicBool,
    /// Records a `sync_finished` usage event after rounds that moved data.
    recorder: Option<Arc<EventRecorder>>,
    /// The kind of the last round's failure, if it failed.
    last_failure: Mutex<Option<String>>,
    /// Counts the live channels opened and closed: a handshake is reused
    /// only within the channel it was made in.
    live_session: AtomicU64,
    /// The last handshake's answer and the live session it was made in.
    handshake: Mutex<Option<(u64, HandshakeResponse)>>,
    /// Everything numbered up to here has been pulled (from the last
    /// complete pull phase's answer), so a hint at or below it needs no round.
    pulled_through: AtomicI64,
    /// The highest `through` of the live channel's hints, and a wake-up.
    hinted_through: AtomicI64,
    hint: Notify,
    /// The prompt the editor has open, which `run` reports to the server.
    presence_intent: watch::Sender<Option<presence::PresenceIntent>>,
    /// The open prompt's latest presence state from the server.
    presence_state: Mutex<Option<presence::Received>>,
    presence_view: watch::Sender<Option<presence::PresenceView>>,
    /// Asks for a presence report now (the live channel reopened).
    presence_wake: Notify,
    /// This store's sync client id, once read.
    client_id: Mutex<Option<String>>,
}

impl SyncEngine<HttpTransport> {
    /// Sends a marketplace request: whatever is pending (a new draft, say)
    /// reaches the server first; a failure retrying can fix is resent with
    /// the same request (its idempotency key makes the server answer once);
    /// after a settled request the library is synced so it shows the result.
    pub async fn market<R: Serialize + Sync>(
        &self,
        call: MarketCall,
        request: &R,
    ) -> Result<MarketOutcome, SyncError> {
        let outcome = self.market_request(call, request).await?;
        // The request is settled: a failed follow-up sync must not make it
        // look failed (a retry would be a second request), so the background
        // loop is asked to fetch the result instead.
        if matches!(outcome, MarketOutcome::Done { .. }) {
            if let Err(err) = self.sync_once().await {
                tracing::warn!(error = %err, "sync after a marketplace request failed; the background sync fetches the result");
                self.nudge();
            }
        }
        Ok(outcome)
    }

    /// [`SyncEngine::market`] without the follow-up sync, for callers with
    /// no background loop to fetch the result: they sync themselves and say
    /// what a failure of that sync means.
    pub async fn market_request<R: Serialize + Sync>(
        &self,
        call: MarketCall,
        request: &R,
    ) -> Result<MarketOutcome, SyncError> {
        self.sync_once().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transport().market(call, request).await {
                Ok(outcome) => return Ok(outcome),
                Err(err) if err.is_retryable() && attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
}

impl<T: Transport> std::fmt::Debug for SyncEngine<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("endpoint", &self.transport.endpoint())
            .finish()
    }
}

/// Upper bound on push requests in one round, so a server that answers
/// without clearing anything cannot keep a round going for ever.
const MAX_PUSH_REQUESTS_PER_ROUND: usize = 10_000;

impl<T: Transport> SyncEngine<T> {
    pub fn new(store: Store, transport: T, config: SyncConfig) -> SyncEngine<T> {
        SyncEngine::with_clock(store, transport, config, Arc::new(SystemClock))
    }

    pub fn with_clock(
        store: Store,
        transport: T,
        config: SyncConfig,
        clock: Arc<dyn Clock>,
    ) -> SyncEngine<T> {
        let initial = SyncStatus {
            state: SyncState::Idle,
            pending: 0,
            oldest_pending_age_secs: None,
            needs_attention: 0,
            open_conflicts: 0,
            last_synced_at: None,
            live: false,
        };
        SyncEngine {
            store,
            transport,
            clock,
            config,
            status: watch::channel(initial).0,
            nudge: Notify::new(),
            round: tokio::sync::Mutex::new(()),
            live: AtomicBool::new(false),
            live_session: AtomicU64::new(0),
            handshake: Mutex::new(None),
            pulled_through: AtomicI64::new(0),
            hinted_through: AtomicI64::new(0),
            hint: Notify::new(),
            presence_intent: watch::channel(None).0,
            presence_state: Mutex::new(None),
            presence_view: watch::channel(None).0,
            presence_wake: Notify::new(),
            recorder: None,
            last_failure: Mutex::new(None),
            client_id: Mutex::new(None),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The signed-in user, as the last handshake gave it.
    fn user_id(&self) -> Option<String> {
        let handshake = self.handshake.lock().unwrap_or_else(|p| p.into_inner());
        handshake.as_ref().map(|(_, hello)| hello.user_id.clone())
    }

    /// This store's sync client id, read once.
    async fn client_id(&self) -> Result<String, SyncError> {
        if let Some(id) = self.client_id_hint() {
            return Ok(id);
        }
        let id = self.store.replica().client_id().await?;
        *self.client_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.clone());
        Ok(id)
    }

    /// The client id if it was read already.
    fn client_id_hint(&self) -> Option<String> {
        self.client_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The transport, for requests outside sync rounds (the marketplace).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The current status, and every change to it.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// Asks a running [`SyncEngine::run`] to sync now (network back, a
    /// "sync now" button).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Publishes `state` with fresh counts from the store.
    pub async fn publish(&self, state: SyncState) {
        match self.store.sync_summary().await {
            Ok(summary) => {
                let mut status = SyncStatus::from_summary(state, &summary, self.clock.now());
                status.live = self.is_live();
                self.status.send_replace(status);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read sync counts");
                self.status.send_modify(|s| s.state = state);
            }
        }
    }

    /// Changes only the state (cheap, for progress during a round).
    fn set_state(&self, state: SyncState) {
        self.status.send_modify(|s| s.state = state);
    }

    /// One full round: handshake, push, pull, push.
    pub async fn sync_once(&self) -> Result<SyncReport, SyncError> {
        let _one_round_at_a_time = self.round.lock().await;
        let started = std::time::Instant::now();
        let result = self.round().await;
        self.record_round(&result, started.elapsed()).await;
        let state = match &result {
            Ok(_) => SyncState::UpToDate,
            Err(SyncError::Transport(err)) if err.is_offline() => SyncState::Offline {
                reason: err.to_string(),
            },
            Err(err) => SyncState::Error {
                code: err.code(),
                message: err.to_string(),
                retrying: err.is_retryable(),
            },
        };
        self.publish(state).await;
        result
    }

    /// The handshake of this round: the one made earlier in the same live
    /// channel (one handshake per connection), or a new one.
    async fn handshake(&self, client_id: &str) -> Result<HandshakeResponse, SyncError> {
        let session = self.live_session.load(Ordering::Relaxed);
        if self.is_live() {
            let cached = self.handshake.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((made_in, hello)) = cached.as_ref() {
                if *made_in == session {
                    return Ok(hello.clone());
                }
            }
        }
        let confirmed_mutation_id = Some(self.store.replica().confirmed_mutation_id().await?);
        let hello = self
            .transport
            .handshake(&HandshakeRequest {
                client_id: client_id.to_owned(),
                protocol_version: PROTOCOL_VERSION,
                schema_version: SCHEMA_VERSION,
                app_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                confirmed_mutation_id,
            })
            .await?;
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err(SyncError::ProtocolMismatch {
                server: hello.protocol_version,
                client: PROTOCOL_VERSION,
            });
        }
        self.store.replica().attach_account(&hello.user_id).await?;
        self.store
            .replica()
            .ensure_mutation_ids_after(hello.last_mutation_id)
            .await?;
        *self.handshake.lock().unwrap_or_else(|p| p.into_inner()) = Some((session, hello.clone()));
        Ok(hello)
    }

    /// Forgets the handshake, so the next round makes a new one.
    fn forget_handshake(&self) {
        self.handshake
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    async fn round(&self) -> Result<SyncReport, SyncError> {
        let result = self.round_inner().await;
        if result.is_err() {
            self.forget_handshake();
        }
        result
    }

    async fn round_inner(&self) -> Result<SyncReport, SyncError> {
        self.set_state(SyncState::Connecting);
        let client_id = self.client_id().await?;
        let hello = self.handshake(&client_id).await?;
        let mut report = SyncReport::default();
        // A push the server refuses for good must not also stop downloads:
        // the pull still runs, and the error is reported after it.
        if let Err(err) = self.push_all(&client_id, &mut report, false).await {
            if !err.is_retryable() {
                self.pull_all(&hello.collections, &mut report).await?;
            }
            return Err(err);
        }
        self.pull_all(&hello.collections, &mut report).await?;
        // The pull may have rebased pending edits or restored documents;
        // usage events go last, behind everything the user waits for. What
        // they counted on the server comes back with one more pull, so the
        // counters raised here at record time are not left lowered by the
        // pull above, which the server answered before counting them.
        if self.push_all(&client_id, &mut report, true).await? {
            self.pull_all(&hello.collections, &mut report).await?;
        }
        self.store
            .replica()
            .mark_synced(Some(self.transport.endpoint()))
            .await?;
        tracing::info!(
            pushed = report.pushed,
            pulled = report.pulled,
            conflicts = report.conflicts,
            rejected = report.rejected,
            "sync round complete"
        );
        Ok(report)
    }

    /// Pushes until the outbox is empty; with `events`, then the queued
    /// usage events too, a batch at a time. Says whether events went up.
    async fn push_all(
        &self,
        client_id: &str,
        report: &mut SyncReport,
        events: bool,
    ) -> Result<bool, SyncError> {
        let mut pushed_this_phase = 0_u64;
        let mut sent_events = false;
        for _ in 0..MAX_PUSH_REQUESTS_PER_ROUND {
            let replica = self.store.replica();
            let max = self.config.push_batch;
            let mut batch = replica
                .next_push_batch(max, self.config.push_max_bytes)
                .await?;
            if batch.is_empty() && events && replica.queue_events(max).await? > 0 {
                sent_events = true;
                batch = replica
                    .next_push_batch(max, self.config.push_max_bytes)
                    .await?;
            }
            if batch.is_empty() {
                return Ok(sent_events);
            }
            self.set_state(SyncState::Syncing {
                phase: SyncPhase::Push,
                done: pushed_this_phase,
                total: None,
            });
            let sent: Vec<u64> = batch.iter().map(|m| m.mutation_id).collect();
            let answer = self
                .transport
                .push(&PushRequest {
                    client_id: client_id.to_owned(),
                    mutations: batch,
                })
                .await?;
            if answer
                .results
                .iter()
                .any(|r| !sent.contains(&r.mutation_id))
            {
                return Err(SyncError::BadAnswer(
                    "a push result names a mutation that was not sent".into(),
                ));
            }
            if answer.results.is_empty() {
                return Err(SyncError::BadAnswer(
                    "the server answered a push with no results".into(),
                ));
            }
            let applied = self
                .store
                .replica()
                .apply_push_results(answer.results)
                .await?;
            pushed_this_phase += (applied.applied + applied.conflicts + applied.rejected) as u64;
            report.pushed += applied.applied;
            report.conflicts += applied.conflicts;
            report.rejected += applied.rejected;
        }
        Err(SyncError::BadAnswer(
            "the outbox did not drain after many pushes".into(),
        ))
    }

    /// Syncs until `shutdown` resolves: after local writes, on nudges, on
    /// hints of the live channel it keeps open, on the poll timer (slower
    /// while the channel is open), and after failures with exponential
    /// backoff and jitter. Never gives up and never blocks the store.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = self.run_rounds(shutdown) => {}
            () = self.follow_live() => {}
            () = self.follow_presence() => {}
        }
        self.set_live(false);
    }

    async fn run_rounds(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut writes = self.store.replica().outbox_changes();
        let mut backoff = self.config.backoff_min;
        loop {
            writes.mark_unchanged();
            let wait = match self.sync_once().await {
                Ok(_) => {
                    backoff = self.config.backoff_min;
                    if self.is_live() {
                        self.config.live_poll_interval
                    } else {
                        self.config.poll_interval
                    }
                }
                Err(err) => {
                    let retryable = err.is_retryable();
                    tracing::warn!(code = err.code().as_str(), error = %err, retryable, "sync round failed");
                    let wait = if retryable {
                        jittered(backoff)
                    } else {
                        self.config.poll_interval
                    };
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    wait
                }
            };
            let timer = tokio::time::sleep(wait);
            tokio::pin!(timer);
            let mut settling = false;
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = &mut timer => break,
                    // A nudge or a hint cuts a settling burst short: the
                    // round they ask for uploads it too.
                    () = self.nudge.notified() => break,
                    () = self.hint.notified() => {
                        // A hint the last pull already went past (this
                        // device's own push, typically) asks for nothing. A
                        // round in flight (one the app started) may be about
                        // to pull past it: let it finish first.
                        drop(self.round.lock().await);
                        let hinted = self.hinted_through.load(Ordering::Relaxed);
                        if hinted > self.pulled_through.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    changed = writes.changed(), if !settling => {
                        if changed.is_err() {
                            return;
                        }
                        // Let a burst of edits settle into one upload.
                        settling = true;
                        let settled = tokio::time::Instant::now() + self.config.write_debounce;
                        if settled < timer.deadline() {
                            timer.as_mut().reset(settled);
                        }
                    }
                }
            }
        }
    }
}

/// `base` ± 50 %, so many desktops coming back at once do not retry in step.
fn jittered(base: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.5..1.5);
    base.mul_f64(factor)
}
