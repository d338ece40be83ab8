//! Library commands: list, read, create, edit, trash and restore documents of
//! any collection, and a prompt's versions and forks. Each is a few lines
//! over [`promptforge_sync::Store`]; the collection picks the model type.

use promptforge_sync::insights::UsageEvent;
use promptforge_sync::schema::{
    AnalyticsEvent, Collection, Idea, MarketplaceListing, MarketplacePurchase, Model, Notification,
    Project, Prompt, PromptVersion, Review, Team, User,
};
use promptforge_sync::{DeletedFilter, ListQuery, SortBy, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;

use crate::error::AppResult;
use crate::library::AppState;
use crate::ui_json::{from_ui, to_ui};

/// Runs `$body` with `$model` bound to the model type of `$collection`.
macro_rules! with_model {
    ($collection:expr, $model:ident => $body:expr) => {
        match $collection {
            Collection::Users => {
                type $model = User;
                $body
            }
            Collection::Prompts => {
                type $model = Prompt;
                $body
            }
            Collection::PromptVersions => {
                type $model = PromptVersion;
                $body
            }
            Collection::Ideas => {
                type $model = Idea;
                $body
            }
            Collection::Projects => {
                type $model = Project;
                $body
            }
            Collection::MarketplaceListings => {
                type $model = MarketplaceListing;
                $body
            }
            Collection::MarketplacePurchases => {
                type $model = MarketplacePurchase;
                $body
            }
            Collection::AnalyticsEvents => {
                type $model = AnalyticsEvent;
                $body
            }
            Collection::Notifications => {
                type $model = Notification;
                $body
            }
            Collection::Reviews => {
                type $model = Review;
                $body
            }
            Collection::Teams => {
                type $model = Team;
                $body
            }
        }
    };
}

/// A list request from the UI: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(optional_fields = nullable))]
#[serde(default)]
pub struct ListRequest {
    /// Only what the signed-in user owns: their prompts, their listings as
    /// seller, their purchases as buyer, their notifications.
    pub mine: Option<bool>,
    pub text: Option<String>,
    pub status: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub project_id: Option<String>,
    pub folder_id: Option<String>,
    pub starred: Option<bool>,
    pub priority: Option<String>,
    pub visibility: Option<String>,
    pub difficulty: Option<String>,
    pub is_template: Option<bool>,
    pub deleted: Option<Trash>,
    pub sort: Option<Sort>,
    pub reverse: Option<bool>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

/// Whether a list shows the trash: not at all, too, or only.
#[derive(Debug, Clone, Copy, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Trash {
    Exclude,
    Include,
    Only,
}

/// A list's order: dates newest first, titles A to Z, unless `reverse`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    UpdatedAt,
    CreatedAt,
    Title,
}

impl ListRequest {
    fn into_query(self, user_id: String) -> ListQuery {
        let deleted = match self.deleted.unwrap_or(Trash::Exclude) {
            Trash::Exclude => DeletedFilter::Exclude,
            Trash::Include => DeletedFilter::Include,
            Trash::Only => DeletedFilter::Only,
        };
        let sort = match self.sort.unwrap_or(Sort::UpdatedAt) {
            Sort::UpdatedAt => SortBy::UpdatedAt,
            Sort::CreatedAt => SortBy::CreatedAt,
            Sort::Title => SortBy::Title,
        };
        let blank_is_none = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        ListQuery {
            owner: self.mine.unwrap_or(false).then_some(user_id),
            status: blank_is_none(self.status),
            category: blank_is_none(self.category),
            tags: self.tags.unwrap_or_default(),
            project_id: blank_is_none(self.project_id),
            folder_id: blank_is_none(self.folder_id),
            starred: self.starred,
            priority: blank_is_none(self.priority),
            visibility: blank_is_none(self.visibility),
            difficulty: blank_is_none(self.difficulty),
            is_template: self.is_template,
            text: blank_is_none(self.text),
            deleted,
            sort,
            reverse: self.reverse.unwrap_or(false),
            offset: self.offset.unwrap_or(0) as usize,
            limit: self.limit.unwrap_or(0) as usize,
        }
    }
}

/// One page of documents, as the UI receives it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct DocumentPage {
    #[cfg_attr(test, ts(type = "Array<Record<string, unknown>>"))]
    pub items: Vec<Value>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

async fn list<T: Model>(store: &Store, query: ListQuery) -> AppResult<DocumentPage> {
    let page = store.list::<T>(query).await?;
    Ok(DocumentPage {
        items: page.items.iter().map(to_ui).collect::<AppResult<_>>()?,
        total: page.total as u64,
        offset: page.offset as u64,
        limit: page.limit as u64,
    })
}

#[tauri::command]
pub async fn list_documents(
    state: State<'_, AppState>,
    collection: Collection,
    query: ListRequest,
) -> AppResult<DocumentPage> {
    let store = state.current().await?.store;
    let query = query.into_query(store.user_id());
    with_model!(collection, T => list::<T>(&store, query).await)
}

#[tauri::command]
pub async fn get_document(
    state: State<'_, AppState>,
    collection: Collection,
    id: String,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    with_model!(collection, T => match store.get::<T>(&id).await? {
        Some(doc) => to_ui(&doc),
        None => Ok(Value::Null),
    })
}

/// A new document of `collection` from the fields the UI gave; what it
/// starts as and which fields it may not set are the store's rules.
#[tauri::command]
pub async fn create_document(
    state: State<'_, AppState>,
    collection: Collection,
    fields: Value,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    let fields = from_ui(fields, "fields")?;
    if collection == Collection::Prompts {
        let prompt = store.create_from::<Prompt>(fields).await?;
        let prompt_id = prompt.id.clone();
        state.record(UsageEvent::PromptCreated { prompt_id }).await;
        return to_ui(&prompt);
    }
    with_model!(collection, T => to_ui(&store.create_from::<T>(fields).await?))
}

#[tauri::command]
pub async fn update_document(
    state: State<'_, AppState>,
    collection: Collection,
    id: String,
    changes: Value,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    let changes = from_ui(changes, "changes")?;
    let updated = with_model!(collection, T => to_ui(&store.patch::<T>(&id, changes).await?))?;
    if collection == Collection::Prompts && state.recorder.worth_recording_edit(&id) {
        state
            .record(UsageEvent::PromptEdited { prompt_id: id })
            .await;
    }
    Ok(updated)
}

#[tauri::command]
pub async fn delete_document(
    state: State<'_, AppState>,
    collection: Collection,
    id: String,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    with_model!(collection, T => to_ui(&store.delete::<T>(&id).await?))
}

#[tauri::command]
pub async fn restore_document(
    state: State<'_, AppState>,
    collection: Collection,
    id: String,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    with_model!(collection, T => to_ui(&store.restore::<T>(&id).await?))
}

#[tauri::command]
pub async fn prompt_versions(state: State<'_, AppState>, prompt_id: String) -> AppResult<Value> {
    let store = state.current().await?.store;
    store.require::<Prompt>(&prompt_id).await?;
    to_ui(&store.prompt_versions(&prompt_id).await?)
}

#[tauri::command]
pub async fn restore_prompt_version(
    state: State<'_, AppState>,
    prompt_id: String,
    number: i64,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    let restored = to_ui(&store.restore_prompt_version(&prompt_id, number).await?)?;
    let event = UsageEvent::VersionRestored {
        prompt_id,
        version: number,
    };
    state.record(event).await;
    Ok(restored)
}

/// A copy of a prompt (a template, say) that is the user's own draft and
/// names the original in `parent_prompt_id`.
#[tauri::command]
pub async fn fork_prompt(
    state: State<'_, AppState>,
    prompt_id: String,
    changes: Value,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    let changes = from_ui(changes, "changes")?;
    to_ui(&store.fork_prompt(&prompt_id, changes).await?)
}
