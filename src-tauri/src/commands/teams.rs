//! Team and sharing commands: forming a team, invitations, roles, leaving,
//! and sharing one document by email. Membership and sharing are the
//! server's to decide, so each asks the sync server (online only; offline
//! the answer says so) and what changed arrives with the round that follows.

use promptforge_wire::share::{ShareOutcome, ShareRequest, SharedWith};
use promptforge_wire::teams::{TeamOutcome, TeamRequest};
use serde::Serialize;
use serde_json::Value;
use tauri::State;

use crate::error::{AppError, AppErrorCode, AppResult};
use crate::library::AppState;
use crate::ui_json::to_ui;

/// Sends one team operation; answers the team as now stored, or the
/// server's refusal as an error (`code` is its reason).
#[tauri::command]
pub async fn team_request(state: State<'_, AppState>, request: TeamRequest) -> AppResult<Value> {
    let current = state.current().await?;
    match current.engine()?.team(&request).await? {
        TeamOutcome::Done { team } => to_ui(&team),
        TeamOutcome::Refused { reason, message } => {
            Err(AppError::new(AppErrorCode::Team(reason), message))
        }
    }
}

/// Who a document is shared with, after a sharing operation.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ShareDone {
    /// The document's version on the server.
    pub version: i64,
    pub shared_with: Vec<SharedWith>,
}

/// Shares a prompt, idea or project by email, takes it back, or lists who
/// has it; the server's refusal comes back as an error (`code` is its
/// reason).
#[tauri::command]
pub async fn share_request(
    state: State<'_, AppState>,
    request: ShareRequest,
) -> AppResult<ShareDone> {
    let current = state.current().await?;
    match current.engine()?.share(&request).await? {
        ShareOutcome::Done {
            version,
            shared_with,
        } => Ok(ShareDone {
            version,
            shared_with,
        }),
        ShareOutcome::Refused { reason, message } => {
            Err(AppError::new(AppErrorCode::Share(reason), message))
        }
    }
}
