//! Library commands: list, read, create, edit, trash and restore documents of
//! any collection, and a prompt's versions and forks. Each is a few lines
//! over [`promptforge_sync::Store`]; the collection picks the model type.

use bson::{doc, Document};
use promptforge_sync::schema::{
    new_id, AnalyticsEvent, Collection, Idea, MarketplaceListing, MarketplacePurchase, Model,
    Notification, Project, Prompt, PromptVersion, Review, Team, User,
};
use promptforge_sync::store::codec::{decode, encode, set_path};
use promptforge_sync::{DeletedFilter, ListQuery, SortBy, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;

use crate::error::{AppError, AppResult};
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

/// The document a new `collection` entry starts from, owned by `user`.
fn blank(collection: Collection, user: &str) -> AppResult<Document> {
    let owned = |field: &str| {
        doc! { "_id": new_id(), field: user }
    };
    let base = match collection {
        Collection::Prompts => encode(&Prompt::new(user, "", "")),
        Collection::Ideas => encode(&Idea::new(user, "", "")),
        Collection::Projects => encode(&Project::new(user, "")),
        Collection::MarketplaceListings => {
            let mut listing = owned("seller_id");
            listing.insert("currency", "credits");
            return Ok(listing);
        }
        other => {
            return Err(AppError::new(
                "not_allowed",
                format!("{} cannot be created from the app", other.name()),
            ))
        }
    };
    base.map_err(|err| AppError::new("internal", err.to_string()))
}

fn filled<T: Model>(mut base: Document, fields: Document) -> AppResult<T> {
    for (path, value) in fields {
        set_path(&mut base, &path, value)
            .map_err(|why| AppError::invalid(format!("{path}: {why}")))?;
    }
    decode::<T>(base).map_err(|err| AppError::invalid(err.to_string()))
}

#[tauri::command]
pub async fn create_document(
    state: State<'_, AppState>,
    collection: Collection,
    fields: Value,
) -> AppResult<Value> {
    let store = state.current().await?.store;
    let base = blank(collection, &store.user_id())?;
    let fields = from_ui(fields, "fields")?;
    // Who owns a new document, and its id, are the store's to decide.
    for field in [
        "_id",
        "user_id",
        "seller_id",
        "buyer_id",
        "created_by",
        "version",
    ] {
        if fields.contains_key(field) {
            return Err(AppError::invalid(format!(
                "{field} is set by the app and cannot be given for a new document"
            )));
        }
    }
    with_model!(collection, T => {
        let model: T = filled(base, fields)?;
        to_ui(&store.create(model).await?)
    })
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
    with_model!(collection, T => to_ui(&store.patch::<T>(&id, changes).await?))
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
    to_ui(&store.restore_prompt_version(&prompt_id, number).await?)
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
    let user = store.user_id();
    let mut changes = from_ui(changes, "changes")?;
    // The fork is the user's own new draft: ownership, sales and usage
    // figures start afresh whatever the original (or the UI) says.
    let owned: [(&str, bson::Bson); 8] = [
        ("user_id", user.as_str().into()),
        ("created_by", user.as_str().into()),
        ("last_modified_by", user.as_str().into()),
        ("is_featured", false.into()),
        ("marketplace", doc! {}.into()),
        ("analytics", doc! {}.into()),
        ("performance", doc! {}.into()),
        ("collaboration", doc! {}.into()),
    ];
    for (field, value) in owned {
        changes.insert(field, value);
    }
    for (field, value) in [
        ("is_template", false.into()),
        ("status", "draft".into()),
        ("visibility", "private".into()),
    ] {
        changes.entry(field.to_owned()).or_insert(value);
    }
    to_ui(&store.duplicate::<Prompt>(&prompt_id, changes).await?)
}
