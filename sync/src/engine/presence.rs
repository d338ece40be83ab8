//! Presence on the prompt open in the editor: the engine tells the server
//! which prompt this desktop has open and whether it holds unsaved edits,
//! renews that while it stays open, and publishes who else has it open and
//! who holds its soft lock ([`PresenceView`]) as the live channel reports
//! changes.
//!
//! Presence needs the server and is never stored: offline, the editor works
//! as before and shows nobody. A soft lock is advice; it never stops an
//! edit from being saved or synced.

use std::time::Duration;

use promptforge_wire::presence::{PresenceRequest, PresenceState};
use serde::Serialize;
use tokio::time::Instant;

use super::transport::TransportError;
use super::{SyncEngine, SyncError, Transport};

/// Wait before reporting again after a report failed.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How often to ask a server without presence again.
const UNSUPPORTED_RETRY: Duration = Duration::from_secs(600);

/// What the editor has open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceIntent {
    pub prompt_id: String,
    /// Unsaved edits in the editor.
    pub editing: bool,
}

/// Someone else with the prompt open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PresentPerson {
    pub user_id: String,
    /// Their display name, or their user id when their profile has none.
    pub name: String,
    pub editing: bool,
    /// The same account on another device.
    pub same_user: bool,
}

/// A prompt's soft lock as the editor shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LockView {
    pub user_id: String,
    pub name: String,
    /// Held by this device.
    pub mine: bool,
    /// When it lapses, on this machine's clock (milliseconds since the epoch).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub until_ms: i64,
}

/// Who else has the open prompt open, and its lock, with lapsed entries
/// already dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PresenceView {
    pub prompt_id: String,
    pub others: Vec<PresentPerson>,
    pub lock: Option<LockView>,
}

/// A state from the server and when it arrived, so its times can be read
/// on this machine's clock whatever the two clocks say.
#[derive(Debug, Clone)]
pub(super) struct Received {
    state: PresenceState,
    at: Instant,
    at_ms: i64,
}

impl Received {
    fn new(state: PresenceState) -> Received {
        Received {
            state,
            at: Instant::now(),
            at_ms: bson::DateTime::now().timestamp_millis(),
        }
    }

    /// When a server time lapses, on this machine's monotonic clock.
    fn lapses_at(&self, server_ms: i64) -> Instant {
        let left = server_ms.saturating_sub(self.state.server_time_ms);
        self.at + Duration::from_millis(u64::try_from(left).unwrap_or(0))
    }

    /// The view at `now`: without this device, and without what lapsed.
    fn view(&self, me: Option<&str>, client_id: &str, now: Instant) -> PresenceView {
        let name = |user: &str, display: &Option<String>| {
            display.clone().unwrap_or_else(|| user.to_owned())
        };
        let mut others: Vec<PresentPerson> = Vec::new();
        for entry in &self.state.present {
            let same_user = me == Some(entry.user_id.as_str());
            let this_device = same_user && entry.client_id == client_id;
            if this_device || self.lapses_at(entry.expires_at_ms) <= now {
                continue;
            }
            // One line per person: typing on any device counts.
            match others
                .iter_mut()
                .find(|o| o.user_id == entry.user_id && !same_user)
            {
                Some(known) => known.editing |= entry.editing,
                None => others.push(PresentPerson {
                    user_id: entry.user_id.clone(),
                    name: name(&entry.user_id, &entry.display_name),
                    editing: entry.editing,
                    same_user,
                }),
            }
        }
        let lock = self.state.lock.as_ref().and_then(|lock| {
            let lapses = self.lapses_at(lock.lock_expiry_ms);
            (lapses > now).then(|| LockView {
                user_id: lock.user_id.clone(),
                name: name(&lock.user_id, &lock.display_name),
                mine: me == Some(lock.user_id.as_str()) && lock.client_id == client_id,
                until_ms: self.at_ms
                    + lock
                        .lock_expiry_ms
                        .saturating_sub(self.state.server_time_ms),
            })
        });
        PresenceView {
            prompt_id: self.state.prompt_id.clone(),
            others,
            lock,
        }
    }

    /// The next time after `now` something in the state lapses, if any.
    fn next_lapse(&self, now: Instant) -> Option<Instant> {
        self.state
            .present
            .iter()
            .map(|p| p.expires_at_ms)
            .chain(self.state.lock.iter().map(|l| l.lock_expiry_ms))
            .map(|ms| self.lapses_at(ms))
            .filter(|at| *at > now)
            .min()
    }

    /// How often to renew: a third of the entry's life.
    fn renewal(&self) -> Duration {
        Duration::from_secs(self.state.ttl_secs.max(1)) / 3
    }
}

impl<T: Transport> SyncEngine<T> {
    /// Says which prompt the editor has open (`None`: none) and whether it
    /// holds unsaved edits. Cheap; the running engine reports it.
    pub fn set_presence(&self, intent: Option<PresenceIntent>) {
        self.presence_intent.send_if_modified(|current| {
            let changed = *current != intent;
            *current = intent;
            changed
        });
    }

    /// Who else has the open prompt open, and its lock; updated live.
    pub fn presence(&self) -> tokio::sync::watch::Receiver<Option<PresenceView>> {
        self.presence_view.subscribe()
    }

    /// Takes the open prompt's soft lock for `secs` seconds (`None`: gives
    /// it up), at once. Needs the server: offline it fails, and the edit
    /// goes on unaffected.
    pub async fn lock_open_prompt(&self, secs: Option<u32>) -> Result<PresenceView, SyncError> {
        let Some(intent) = self.presence_intent.borrow().clone() else {
            return Err(SyncError::BadAnswer("no prompt is open to lock".into()));
        };
        let request = self
            .presence_request(&intent, true, secs, secs.is_none())
            .await?;
        let Some(state) = self.transport.presence(&request).await? else {
            return Err(SyncError::Transport(TransportError::Protocol(
                "this sync server does not offer locks".into(),
            )));
        };
        self.receive_presence(state);
        self.presence_view
            .borrow()
            .clone()
            .ok_or_else(|| SyncError::BadAnswer("the prompt closed meanwhile".into()))
    }

    async fn presence_request(
        &self,
        intent: &PresenceIntent,
        open: bool,
        lock_secs: Option<u32>,
        release_lock: bool,
    ) -> Result<PresenceRequest, SyncError> {
        Ok(PresenceRequest {
            prompt_id: intent.prompt_id.clone(),
            client_id: self.client_id().await?,
            open,
            editing: intent.editing,
            lock_secs,
            release_lock,
        })
    }

    /// A state from the server (an answer or a live event): kept if it is
    /// about the open prompt.
    pub(super) fn receive_presence(&self, state: PresenceState) {
        let open = self.presence_intent.borrow().clone();
        if open.is_some_and(|i| i.prompt_id == state.prompt_id) {
            *self.lock_presence() = Some(Received::new(state));
            self.publish_presence();
        }
    }

    fn lock_presence(&self) -> std::sync::MutexGuard<'_, Option<Received>> {
        self.presence_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn publish_presence(&self) {
        let me = self.user_id();
        let view = match (&*self.lock_presence(), &self.client_id_hint()) {
            (Some(received), Some(client)) => {
                Some(received.view(me.as_deref(), client, Instant::now()))
            }
            _ => None,
        };
        self.presence_view.send_if_modified(|current| {
            let changed = *current != view;
            *current = view;
            changed
        });
    }

    /// Reports the open prompt to the server while the engine runs:
    /// on opening, on closing, when its unsaved state changes, when the live
    /// channel (re)opens, and every third of the server's time-to-live.
    pub(super) async fn follow_presence(&self) {
        let mut intents = self.presence_intent.subscribe();
        let mut reported: Option<PresenceIntent> = None;
        let mut renew_at = Instant::now();
        let mut retry_at = Instant::now();
        loop {
            let intent = intents.borrow_and_update().clone();
            if let Some(old) = reported
                .take_if(|old| intent.as_ref().map(|i| &i.prompt_id) != Some(&old.prompt_id))
            {
                *self.lock_presence() = None;
                self.publish_presence();
                // Best effort: a missed close lapses by itself.
                if let Ok(request) = self.presence_request(&old, false, None, false).await {
                    if let Err(err) = self.transport.presence(&request).await {
                        tracing::debug!(error = %err, "cannot report a closed prompt");
                    }
                }
            }
            let now = Instant::now();
            if let Some(intent) = &intent {
                let due = reported.as_ref() != Some(intent) || now >= renew_at;
                if due && now >= retry_at {
                    match self.report_presence(intent).await {
                        Ok(Some(renewal)) => {
                            reported = Some(intent.clone());
                            renew_at = Instant::now() + renewal;
                        }
                        Ok(None) => {
                            reported = Some(intent.clone());
                            renew_at = Instant::now() + UNSUPPORTED_RETRY;
                        }
                        Err(err) => {
                            tracing::debug!(error = %err, "cannot report presence");
                            retry_at = Instant::now() + RETRY_AFTER;
                        }
                    }
                }
            }
            self.publish_presence();
            let lapse = self
                .lock_presence()
                .as_ref()
                .and_then(|r| r.next_lapse(Instant::now()));
            let wake = match (&intent, lapse) {
                (Some(_), Some(lapse)) => Some(lapse.min(renew_at.max(retry_at))),
                (Some(_), None) => Some(renew_at.max(retry_at)),
                (None, lapse) => lapse,
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = intents.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = sleep => {}
                () = self.presence_wake.notified() => {
                    renew_at = Instant::now();
                    retry_at = Instant::now();
                }
            }
        }
    }

    /// Sends `intent`; the renewal period the server asks for, or `None`
    /// when the server has no presence.
    async fn report_presence(
        &self,
        intent: &PresenceIntent,
    ) -> Result<Option<Duration>, SyncError> {
        let request = self.presence_request(intent, true, None, false).await?;
        let Some(state) = self.transport.presence(&request).await? else {
            return Ok(None);
        };
        let received = Received::new(state.clone());
        let renewal = received.renewal();
        self.receive_presence(state);
        Ok(Some(renewal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptforge_wire::presence::{PresentEditor, SoftLock};

    fn editor(user: &str, client: &str, editing: bool, expires_at_ms: i64) -> PresentEditor {
        PresentEditor {
            user_id: user.into(),
            display_name: (user == "ada").then(|| "Ada L.".to_owned()),
            client_id: client.into(),
            editing,
            expires_at_ms,
        }
    }

    #[tokio::test]
    async fn the_view_leaves_out_this_device_and_what_lapsed_by_the_servers_clock() {
        // The server's clock is a day ahead of this machine's: lapses are
        // measured against the server time in the state, not local time.
        let server_now = bson::DateTime::now().timestamp_millis() + 86_400_000;
        let state = PresenceState {
            prompt_id: "p1".into(),
            present: vec![
                editor("ada", "laptop", false, server_now + 30_000),
                editor("ada", "desk", true, server_now + 30_000),
                editor("grace", "g1", false, server_now + 30_000),
                editor("linus", "l1", true, server_now - 1),
            ],
            active_editors: vec!["ada".into(), "linus".into()],
            lock: Some(SoftLock {
                user_id: "ada".into(),
                display_name: Some("Ada L.".into()),
                client_id: "desk".into(),
                lock_expiry_ms: server_now + 60_000,
            }),
            server_time_ms: server_now,
            ttl_secs: 30,
        };
        let received = Received::new(state);
        let view = received.view(Some("grace"), "g1", Instant::now());
        let names: Vec<(&str, bool)> = view
            .others
            .iter()
            .map(|o| (o.name.as_str(), o.editing))
            .collect();
        assert_eq!(names, [("Ada L.", true)], "{view:?}");
        let lock = view.lock.as_ref().map(|l| (l.name.as_str(), l.mine));
        assert_eq!(lock, Some(("Ada L.", false)));
        let until = view.lock.map(|l| l.until_ms).unwrap_or_default();
        let local = bson::DateTime::now().timestamp_millis();
        assert!((until - local - 60_000).abs() < 5_000, "{until} vs {local}");
        // From Ada's laptop: her desk shows as her other device, and the
        // lock is not this device's.
        let view = received.view(Some("ada"), "laptop", Instant::now());
        assert_eq!(view.others.len(), 2, "{view:?}");
        assert!(view.others.iter().any(|o| o.same_user && o.editing));
        assert!(view.lock.is_some_and(|l| !l.mine));
        assert_eq!(received.renewal(), Duration::from_secs(10));
        assert!(received.next_lapse(Instant::now()).is_some());
    }

    #[tokio::test]
    async fn entries_and_locks_drop_out_of_the_view_when_they_lapse() {
        let server_now = 1_000_000;
        let state = PresenceState {
            prompt_id: "p1".into(),
            present: vec![editor("ada", "desk", false, server_now + 3_000)],
            active_editors: vec![],
            lock: Some(SoftLock {
                user_id: "ada".into(),
                display_name: None,
                client_id: "desk".into(),
                lock_expiry_ms: server_now + 1_000,
            }),
            server_time_ms: server_now,
            ttl_secs: 3,
        };
        let received = Received::new(state);
        let at = |ms: u64| received.at + Duration::from_millis(ms);
        assert!(received.view(Some("grace"), "g1", at(0)).lock.is_some());
        assert_eq!(received.next_lapse(at(0)), Some(at(1_000)));
        let view = received.view(Some("grace"), "g1", at(1_500));
        assert!(view.lock.is_none() && view.others.len() == 1, "{view:?}");
        assert_eq!(received.next_lapse(at(1_500)), Some(at(3_000)));
        assert!(received
            .view(Some("grace"), "g1", at(3_500))
            .others
            .is_empty());
        assert!(received.next_lapse(at(3_500)).is_none());
    }
}
