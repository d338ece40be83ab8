//! Sync commands: the status bar's figures, "sync now", the conflicts panel,
//! the needs-attention list, and presence and soft locks in the editor.

use promptforge_sync::{PresenceIntent, Resolution};
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

/// Which prompt the editor has open (none: closed) and whether it holds
/// unsaved edits; the engine tells collaborators. Signed out, it does nothing.
#[tauri::command]
pub async fn set_presence(
    state: State<'_, AppState>,
    prompt_id: Option<String>,
    editing: bool,
) -> AppResult<()> {
    let current = state.current().await?;
    if let Some(engine) = &current.engine {
        engine.set_presence(prompt_id.map(|prompt_id| PresenceIntent { prompt_id, editing }));
    }
    Ok(())
}

/// Takes the open prompt's soft lock for `lock_secs` seconds, or gives it
/// up (`null`). Needs the server; the answer is the prompt's presence.
#[tauri::command]
pub async fn lock_prompt(state: State<'_, AppState>, lock_secs: Option<u32>) -> AppResult<Value> {
    let current = state.current().await?;
    let view = current.engine()?.lock_open_prompt(lock_secs).await?;
    to_ui(&view)
}
