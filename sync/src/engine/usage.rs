//! The engine's usage events: a `sync_finished` event per round that moved
//! the user's data, and one when sync starts failing (not per retry).

use std::time::Duration;

use super::{SyncEngine, SyncError, SyncReport, Transport};
use crate::insights::{EventRecorder, UsageEvent};
use std::sync::Arc;

impl<T: Transport> SyncEngine<T> {
    /// Records usage events of sync rounds (see [`SyncEngine::sync_once`]).
    pub fn with_recorder(mut self, recorder: Arc<EventRecorder>) -> SyncEngine<T> {
        self.recorder = Some(recorder);
        self
    }

    /// A `sync_finished` event for a round that moved the user's data or
    /// failed for a reason other than being offline. Rounds that found
    /// nothing, or only uploaded earlier events, record nothing, so idle
    /// polling never feeds itself.
    pub(super) async fn record_round(
        &self,
        result: &Result<SyncReport, SyncError>,
        took: Duration,
    ) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        // A failure is recorded when it starts (or changes kind), not on
        // every retry of a lasting one.
        let failure = match result {
            Err(SyncError::Transport(err)) if err.is_offline() => return,
            Err(err) => Some(format!("{:?}", err.code())),
            Ok(_) => None,
        };
        let repeated = {
            let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
            let repeated = failure.is_some() && *last == failure;
            *last = failure;
            repeated
        };
        let (pushed, pulled, ok) = match result {
            Ok(report) if report.pushed > 0 || report.pulled > 0 => {
                (report.pushed, report.pulled, true)
            }
            Err(_) if !repeated => (0, 0, false),
            _ => return,
        };
        let event = UsageEvent::SyncFinished {
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            pushed: pushed as u64,
            pulled: pulled as u64,
            ok,
        };
        if let Err(err) = recorder.record(&self.store, event).await {
            tracing::warn!(error = %err, "sync usage event not recorded");
        }
    }
}
