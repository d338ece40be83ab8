//! Sync commands: the status bar's figures, "sync now", the conflicts panel
//! and the needs-attention list.

use promptforge_sync::Resolution;
use serde_json::Value;
use tauri::State;

use crate::error::AppResult;
use crate::library::{status_of, AppState};
use crate::ui_json::to_ui;

#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> AppResult<Value> {
    let current = state.current().await?;
    to_ui(&status_of(&current).await?)
}

/// Starts a round now (the engine runs it in the background).
#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>) -> AppResult<()> {
    state.current().await?.engine()?.nudge();
    Ok(())
}

#[tauri::command]
pub async fn list_conflicts(
    state: State<'_, AppState>,
    include_resolved: bool,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    to_ui(&store.conflicts(include_resolved).await?)
}

#[tauri::command]
pub async fn resolve_conflict(
    state: State<'_, AppState>,
    id: String,
    resolution: Resolution,
) -> AppResult<Value> {
    let current = state.current().await?;
    let conflict = current.store.resolve_conflict(&id, resolution).await?;
    if let Some(engine) = &current.engine {
        engine.nudge();
    }
    to_ui(&conflict)
}

#[tauri::command]
pub async fn list_attention(state: State<'_, AppState>) -> AppResult<Value> {
    let store = state.current().await?.store;
    to_ui(&store.needs_attention().await?)
}

/// Retries a refused change (`retry`) or lets it go.
#[tauri::command]
pub async fn settle_attention(
    state: State<'_, AppState>,
    mutation_id: u64,
    retry: bool,
) -> AppResult<()> {
    let current = state.current().await?;
    current.store.settle_attention(mutation_id, retry).await?;
    if let Some(engine) = &current.engine {
        engine.nudge();
    }
    Ok(())
}
