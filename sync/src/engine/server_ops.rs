//! Operations only the server can decide, asked from the desktop: team
//! membership and sharing a document by email. They need the server (no
//! queueing: the answer decides what the user sees next), are idempotent on
//! the server, and are wrapped in rounds so the library shows their effect.

use std::future::Future;
use std::time::Duration;

use promptforge_wire::share::{ShareOutcome, ShareRequest};
use promptforge_wire::teams::{TeamOutcome, TeamRequest};

use super::transport::{HttpTransport, TransportError};
use super::{SyncEngine, SyncError};

impl SyncEngine<HttpTransport> {
    /// Sends a team operation (see [`SyncEngine::ask_server`]).
    pub async fn team(&self, request: &TeamRequest) -> Result<TeamOutcome, SyncError> {
        self.ask_server(
            || self.transport().team(request),
            |o| matches!(o, TeamOutcome::Done { .. }),
        )
        .await
    }

    /// Shares a prompt, idea or project, takes it back, or lists who has it
    /// (see [`SyncEngine::ask_server`]).
    pub async fn share(&self, request: &ShareRequest) -> Result<ShareOutcome, SyncError> {
        let changes = !matches!(request, ShareRequest::List { .. });
        self.ask_server(
            || self.transport().share(request),
            |o| changes && matches!(o, ShareOutcome::Done { .. }),
        )
        .await
    }

    /// Whatever is pending reaches the server first (a document shared
    /// right after it was written must exist there), a failure retrying can
    /// fix is resent (every such operation is idempotent), and an operation
    /// that changed something is followed by a round, so the library shows
    /// the result and what it opens or closes.
    async fn ask_server<Out, Fut>(
        &self,
        send: impl Fn() -> Fut,
        changed: impl Fn(&Out) -> bool,
    ) -> Result<Out, SyncError>
    where
        Fut: Future<Output = Result<Out, TransportError>>,
    {
        self.sync_once().await?;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match send().await {
                Ok(outcome) => break outcome,
                Err(err) if err.is_retryable() && attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(err) => return Err(err.into()),
            }
        };
        if changed(&outcome) {
            if let Err(err) = self.sync_once().await {
                tracing::warn!(error = %err, "sync after a server operation failed; the next round brings the result");
                self.nudge();
            }
        }
        Ok(outcome)
    }
}
