//! What the catalog keeps of one document: its [`CatalogEntry`], derived per
//! model by [`Catalogued`], and the store's way into it ([`canonicalize_in`]
//! validates a document and derives its entry in one decode).
//!
//! This is the desktop's in-memory index, so it lives here rather than beside
//! the models in `wire`, which the server compiles too.

use bson::Document;
use promptforge_wire::codec::{canonicalize, decode, SchemaError};
use promptforge_wire::schema::{
    AnalyticsEvent, Collection, Idea, MarketplaceListing, MarketplacePurchase, Model, Notification,
    Project, Prompt, PromptVersion, Review, Team, User, ValidationError,
};
use promptforge_wire::with_model;
use serde::{Deserialize, Serialize};

/// What the local catalog keeps in memory about one document, so that lists,
/// filters, sorts and text search never scan PoloDB (which has no text index,
/// no working `$regex`, and returns nothing for an indexed filter plus a sort).
///
/// Serialisable so the local store can save it at a clean close and open a
/// large library without decoding every document again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub owner: Option<String>,
    #[serde(deserialize_with = "interned")]
    pub status: Option<EnumValue>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub project_id: Option<String>,
    pub folder_id: Option<String>,
    pub starred: Option<bool>,
    #[serde(deserialize_with = "interned")]
    pub priority: Option<EnumValue>,
    #[serde(deserialize_with = "interned")]
    pub visibility: Option<EnumValue>,
    #[serde(deserialize_with = "interned")]
    pub difficulty: Option<EnumValue>,
    pub is_template: Option<bool>,
    pub deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Lower-cased title, the sort key for "by title".
    pub title: String,
    /// Lower-cased searchable text: title, description, content and tags.
    pub haystack: String,
}

impl CatalogEntry {
    /// Builds the lower-cased search text from the searchable parts.
    pub fn searchable<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
        let mut text = String::new();
        for part in parts {
            if !part.is_empty() {
                text.push_str(&part.to_lowercase());
                text.push('\n');
            }
        }
        text
    }
}

/// The seed's text of a string enum's value (`"draft"`), as `as_str` gives it.
/// A named type also keeps serde from reading it as borrowed from the input.
pub type EnumValue = &'static str;

/// Reads back an enum value of a saved [`CatalogEntry`] as the `&'static str`
/// the models hand out. The values are the names of the schema's string enums,
/// a few dozen in all, so each distinct one is leaked once and shared; a value
/// that is too long, or one past the cap, is refused, so a damaged file cannot
/// make memory grow.
fn interned<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<EnumValue>, D::Error> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    const MAX_VALUES: usize = 256;
    const MAX_LEN: usize = 64;
    static VALUES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

    let Some(value) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let mut values = VALUES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&known) = values.get(value.as_str()) {
        return Ok(Some(known));
    }
    if value.len() > MAX_LEN || values.len() >= MAX_VALUES {
        return Err(serde::de::Error::custom(format!(
            "unexpected catalog value {value:?}"
        )));
    }
    let leaked: &'static str = Box::leak(value.into_boxed_str());
    values.insert(leaked);
    Ok(Some(leaked))
}

/// A model the catalog can index: the filter, sort and search fields of one
/// document.
pub(crate) trait Catalogued: Model {
    fn catalog_entry(&self) -> CatalogEntry;
}

/// Validates `doc` as a document of `collection` and returns it in canonical
/// form with its catalog entry (see [`canonicalize`]).
pub(crate) fn canonicalize_in(
    collection: Collection,
    doc: Document,
) -> Result<(Document, CatalogEntry), SchemaError> {
    with_model!(collection, T => canonicalize::<T>(doc)
        .map(|(canonical, model)| (canonical, model.catalog_entry())))
}

/// The catalog entry of a stored document (which was validated when written).
pub(crate) fn entry_in(
    collection: Collection,
    doc: Document,
) -> Result<CatalogEntry, ValidationError> {
    with_model!(collection, T => decode::<T>(doc).map(|m| m.catalog_entry()))
}

impl Catalogued for AnalyticsEvent {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: self.user_id.clone(),
            category: Some(self.event_category.clone()),
            created_at: self.timestamp.timestamp_millis(),
            updated_at: self.timestamp.timestamp_millis(),
            title: self.event_name.to_lowercase(),
            haystack: CatalogEntry::searchable([
                self.event_type.as_str(),
                self.event_name.as_str(),
            ]),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for Idea {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.user_id.clone()),
            status: Some(self.status.as_str()),
            category: Some(self.category.clone()),
            tags: self.tags.clone(),
            project_id: self.project_id.clone(),
            starred: Some(self.starred),
            priority: Some(self.priority.as_str()),
            deleted: self.deleted_at.is_some(),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.title.to_lowercase(),
            haystack: CatalogEntry::searchable(
                [
                    self.title.as_str(),
                    self.description.as_str(),
                    self.content.as_deref().unwrap_or(""),
                ]
                .into_iter()
                .chain(self.tags.iter().map(String::as_str)),
            ),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for MarketplaceListing {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.seller_id.clone()),
            status: Some(self.status.as_str()),
            category: Some(self.category.clone()),
            tags: self.tags.clone(),
            deleted: self.deleted_at.is_some(),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.title.to_lowercase(),
            haystack: CatalogEntry::searchable(
                [
                    self.title.as_str(),
                    self.short_description.as_str(),
                    self.description.as_str(),
                ]
                .into_iter()
                .chain(self.tags.iter().map(String::as_str)),
            ),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for MarketplacePurchase {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.buyer_id.clone()),
            status: Some(self.payment_status.as_str()),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for Notification {
    fn catalog_entry(&self) -> CatalogEntry {
        let state = if self.dismissed {
            "dismissed"
        } else if self.read {
            "read"
        } else {
            "unread"
        };
        CatalogEntry {
            owner: Some(self.user_id.clone()),
            status: Some(state),
            category: Some(self.category.clone()),
            priority: Some(self.priority.as_str()),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.title.to_lowercase(),
            haystack: CatalogEntry::searchable([self.title.as_str(), self.message.as_str()]),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for Project {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.user_id.clone()),
            status: Some(self.status.as_str()),
            category: Some(self.category.clone()),
            tags: self.tags.clone(),
            priority: Some(self.priority.as_str()),
            visibility: Some(self.collaboration.visibility.as_str()),
            deleted: self.deleted_at.is_some(),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.title.to_lowercase(),
            haystack: CatalogEntry::searchable(
                [
                    self.title.as_str(),
                    self.description.as_deref().unwrap_or(""),
                ]
                .into_iter()
                .chain(self.tags.iter().map(String::as_str)),
            ),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for Prompt {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.user_id.clone()),
            status: Some(self.status.as_str()),
            category: Some(self.category.clone()),
            tags: self.tags.clone(),
            project_id: self.project_id.clone(),
            folder_id: self.folder_id.clone(),
            visibility: Some(self.visibility.as_str()),
            difficulty: Some(self.difficulty.as_str()),
            is_template: Some(self.is_template),
            deleted: self.deleted_at.is_some(),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.title.to_lowercase(),
            haystack: CatalogEntry::searchable(
                [
                    self.title.as_str(),
                    self.description.as_deref().unwrap_or(""),
                    self.content.as_str(),
                ]
                .into_iter()
                .chain(self.tags.iter().map(String::as_str)),
            ),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for PromptVersion {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.user_id.clone()),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.created_at.timestamp_millis(),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for Review {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.user_id.clone()),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.created_at.timestamp_millis(),
            haystack: CatalogEntry::searchable([self.review.as_str()]),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for Team {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.created_by.clone()),
            visibility: Some(self.settings.visibility.as_str()),
            deleted: self.deleted_at.is_some(),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.name.to_lowercase(),
            haystack: CatalogEntry::searchable([
                self.name.as_str(),
                self.description.as_deref().unwrap_or(""),
            ]),
            ..CatalogEntry::default()
        }
    }
}

impl Catalogued for User {
    fn catalog_entry(&self) -> CatalogEntry {
        CatalogEntry {
            owner: Some(self.id.clone()),
            status: Some(self.account_status.as_str()),
            created_at: self.created_at.timestamp_millis(),
            updated_at: self.updated_at.timestamp_millis(),
            title: self.display_name.to_lowercase(),
            haystack: CatalogEntry::searchable([self.display_name.as_str(), self.email.as_str()]),
            ..CatalogEntry::default()
        }
    }
}
