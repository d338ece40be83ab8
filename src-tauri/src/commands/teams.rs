//! Team commands: forming a team, invitations, roles, leaving. Membership is
//! the server's to decide, so each asks the sync server (online only; offline
//! the answer says so) and the changed team arrives with the round that
//! follows.

use promptforge_wire::teams::{TeamOutcome, TeamRequest};
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
