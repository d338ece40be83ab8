//! The PromptForge.ai document schema: one typed model per seed collection.
//!
//! Field names, types and enum values follow `shared/seed` exactly (snake_case,
//! lowercase enum strings, BSON UTC datetimes). Every collection also carries
//! `version`, the server's optimistic-concurrency token (the seed asks for
//! missing fields to be patched in). Each model knows how to validate itself;
//! what the desktop's catalog indexes of it lives in the desktop's store.

mod analytics;
mod fields;
mod ideas;
mod marketplace;
mod notifications;
mod projects;
mod prompts;
mod reviews;
mod teams;
mod users;
mod validate;

pub use analytics::*;
pub use fields::serde_fields;
pub use ideas::*;
pub use marketplace::*;
pub use notifications::*;
pub use projects::*;
pub use prompts::*;
pub use reviews::*;
pub use teams::*;
pub use users::*;
pub use validate::{check_free_form, Check, FieldProblem, ValidationError};

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use bson::{DateTime, Document};

/// The eleven collections of the seed, in seed order. Serialised as the
/// collection's name (`prompt_versions`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    Users,
    Prompts,
    PromptVersions,
    Ideas,
    Projects,
    MarketplaceListings,
    MarketplacePurchases,
    AnalyticsEvents,
    Notifications,
    Reviews,
    Teams,
}

impl Collection {
    pub const ALL: [Collection; 11] = [
        Collection::Users,
        Collection::Prompts,
        Collection::PromptVersions,
        Collection::Ideas,
        Collection::Projects,
        Collection::MarketplaceListings,
        Collection::MarketplacePurchases,
        Collection::AnalyticsEvents,
        Collection::Notifications,
        Collection::Reviews,
        Collection::Teams,
    ];

    /// The MongoDB collection name, as the seed spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Collection::Users => "users",
            Collection::Prompts => "prompts",
            Collection::PromptVersions => "prompt_versions",
            Collection::Ideas => "ideas",
            Collection::Projects => "projects",
            Collection::MarketplaceListings => "marketplace_listings",
            Collection::MarketplacePurchases => "marketplace_purchases",
            Collection::AnalyticsEvents => "analytics_events",
            Collection::Notifications => "notifications",
            Collection::Reviews => "reviews",
            Collection::Teams => "teams",
        }
    }

    pub fn from_name(name: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The top-level fields of this collection's documents.
    pub fn fields(self) -> &'static [&'static str] {
        with_model!(self, T => T::fields())
    }

    pub fn has_field(self, field: &str) -> bool {
        self.fields().contains(&field)
    }

    /// Collections with `deleted_at` support soft delete and restore.
    pub fn soft_deletes(self) -> bool {
        self.has_field("deleted_at")
    }

    /// The field the store stamps when a document is created.
    pub fn created_field(self) -> &'static str {
        if self == Collection::AnalyticsEvents {
            "timestamp"
        } else {
            "created_at"
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed document of one collection.
pub trait Model: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    const COLLECTION: Collection;
    /// Fields only the store's own rules may change (links, derived counts).
    const DERIVED: &'static [&'static str] = &[];

    /// Every top-level field: the seed's, plus those patched in (`version`,
    /// ...), as serde's derive names them, so no hand-kept list can drift.
    fn fields() -> &'static [&'static str] {
        serde_fields::<Self>()
    }

    fn id(&self) -> &str;
    fn set_id(&mut self, id: String);
    fn validate(&self) -> Result<(), ValidationError>;

    /// Recomputes fields that are derived from others (counts of maps and lists).
    fn normalize(&mut self) {}
}

/// A new document id: 24 hex digits, the shape MongoDB's ObjectIds print as,
/// but random (90 random bits of a v4 UUID from the system's CSPRNG). Ids are
/// chosen by clients and some are public, so they must not be predictable:
/// an ObjectId's timestamp, machine value and counter would let another user
/// guess the next id of a document not yet uploaded and take it first.
pub fn new_id() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[4..].iter().map(|b| format!("{b:02x}")).collect()
}

/// Evaluates `$body` with `$model` naming the model type of `$collection`:
/// the one place that maps a collection known at run time to its type. The
/// desktop's store uses it too, for what it derives per model.
#[macro_export]
macro_rules! with_model {
    ($collection:expr, $model:ident => $body:expr) => {{
        use $crate::schema::*;
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
    }};
}
pub use crate::with_model;

/// The "not yet stamped" time; the store overwrites it on create.
pub(crate) fn unset_time() -> DateTime {
    DateTime::from_millis(0)
}

/// The `id`/`set_id` pair of a model whose `_id` lives in its `id` field.
macro_rules! id_accessors {
    () => {
        fn id(&self) -> &str {
            &self.id
        }

        fn set_id(&mut self, id: String) {
            self.id = id;
        }
    };
}
pub(crate) use id_accessors;

/// Declares a string enum that serialises to the seed's lowercase values.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl Default for $name {
            fn default() -> Self { $name::$default }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::schema::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::schema::UnknownVariant {
                        value: s.to_owned(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// A string that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of: {}", expected.join(", "))]
pub struct UnknownVariant {
    pub value: String,
    pub expected: &'static [&'static str],
}

/// Length caps shared by the models: generous for real use, small enough that
/// a runaway paste cannot make a document MongoDB would refuse.
pub mod limits {
    pub const ID: usize = 128;
    pub const TITLE: usize = 300;
    pub const SHORT_TEXT: usize = 1_000;
    pub const DESCRIPTION: usize = 20_000;
    pub const CONTENT: usize = 1_000_000;
    pub const TAG: usize = 64;
    pub const TAGS: usize = 100;
    pub const ID_LIST: usize = 10_000;
    pub const URL: usize = 2_048;
}

#[cfg(test)]
mod field_list_tests {
    use super::*;

    #[test]
    fn a_models_fields_are_its_stored_names_in_order() {
        let fields = Prompt::fields();
        assert_eq!(fields.first(), Some(&"_id"), "{fields:?}");
        for name in ["user_id", "content", "version", "deleted_at", "type"] {
            assert!(fields.contains(&name), "{name} in {fields:?}");
        }
        assert!(!fields.contains(&"id") && !fields.contains(&"prompt_type"));
        for collection in Collection::ALL {
            assert!(collection.fields().len() > 3, "{collection}");
        }
    }
}
