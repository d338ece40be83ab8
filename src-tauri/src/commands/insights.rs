//! Usage events the UI reports and the dashboards it draws.

use promptforge_sync::insights::{self, Dashboard, DashboardRequest, UsageEvent};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::error::AppResult;
use crate::library::AppState;

/// The events only the UI sees happen. The rest (creates, edits, restores,
/// purchases, sync rounds) are recorded where they happen, in Rust.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UiEvent {
    PromptCopied {
        prompt_id: String,
    },
    PromptUsed {
        prompt_id: String,
    },
    ListingViewed {
        listing_id: String,
    },
    /// The query's length only: its words never leave the search box.
    SearchRun {
        collection: String,
        query_length: u32,
        #[cfg_attr(test, ts(type = "number"))]
        results: u64,
    },
}

impl From<UiEvent> for UsageEvent {
    fn from(event: UiEvent) -> UsageEvent {
        match event {
            UiEvent::PromptCopied { prompt_id } => UsageEvent::PromptCopied { prompt_id },
            UiEvent::PromptUsed { prompt_id } => UsageEvent::PromptUsed { prompt_id },
            UiEvent::ListingViewed { listing_id } => UsageEvent::ListingViewed { listing_id },
            UiEvent::SearchRun {
                collection,
                query_length,
                results,
            } => UsageEvent::SearchRun {
                collection,
                query_length,
                results,
            },
        }
    }
}

/// Records what the UI saw the user do; nothing when recording is off.
#[tauri::command]
pub async fn record_event(state: State<'_, AppState>, report: UiEvent) -> AppResult<()> {
    state.record(report.into()).await;
    Ok(())
}

#[tauri::command]
pub async fn dashboard(
    state: State<'_, AppState>,
    request: DashboardRequest,
) -> AppResult<Dashboard> {
    let store = state.current().await?.store;
    let now = bson::DateTime::now().timestamp_millis();
    Ok(insights::dashboard(&store, &request, now).await?)
}
