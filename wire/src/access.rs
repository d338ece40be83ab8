//! Who writes what: the table both the desktop and the sync server follow.
//!
//! The server refuses a mutation that breaks it; the desktop uses the same
//! table to leave server-owned fields out of what it uploads, so an honest
//! client is never refused for a field it did not mean to change.

use crate::schema::Collection;

/// The field naming a document's owner.
pub fn owner_field(collection: Collection) -> &'static str {
    match collection {
        Collection::Users => "_id",
        Collection::MarketplaceListings => "seller_id",
        Collection::MarketplacePurchases => "buyer_id",
        Collection::Teams => "created_by",
        _ => "user_id",
    }
}

/// Fields only a document's owner may change: who else sees it. The server
/// refuses them from anyone else (`forbidden`); the desktop refuses them
/// before they are queued.
pub fn owner_only(collection: Collection, field: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    match collection {
        Collection::Prompts => matches!(top, "collaboration" | "project_id" | "visibility"),
        Collection::Projects => top == "collaboration",
        Collection::Ideas => matches!(top, "shared_with" | "project_id"),
        _ => false,
    }
}

/// What a client may do to a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writable {
    pub create: bool,
    pub patch: bool,
    pub delete: bool,
}

pub fn writable(collection: Collection) -> Writable {
    let (create, patch, delete) = match collection {
        Collection::Prompts
        | Collection::Ideas
        | Collection::Projects
        | Collection::MarketplaceListings => (true, true, true),
        // Versions are recorded offline and uploaded; they never change.
        Collection::PromptVersions | Collection::AnalyticsEvents => (true, false, false),
        // Own profile and preferences; marking notifications read.
        Collection::Users | Collection::Notifications => (false, true, false),
        // Money and reviews go through the marketplace routes; teams through
        // team management.
        Collection::MarketplacePurchases | Collection::Reviews | Collection::Teams => {
            (false, false, false)
        }
    };
    Writable {
        create,
        patch,
        delete,
    }
}

/// Fields only the server writes, per collection (top-level or dotted).
pub fn server_owned(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::Users => &[
            "email",
            "email_verified",
            "account_status",
            "created_at",
            "last_login_at",
            "subscription",
            "credits",
            "stats",
            "partnership",
            "security",
        ],
        // Usage counters follow the uploaded usage events (server/src/usage.rs).
        Collection::Prompts => &["marketplace", "is_featured", "analytics"],
        // Membership follows the prompts' and ideas' own `project_id`: the
        // server keeps it, so two devices filing into one project never clash.
        Collection::Projects => &[
            "prompt_ids",
            "idea_ids",
            "stats.prompt_count",
            "stats.idea_count",
            "stats.last_activity",
        ],
        Collection::MarketplaceListings => &[
            "status",
            "moderation_status",
            "moderation_notes",
            "moderated_by",
            "moderated_at",
            "analytics",
            "reviews",
            "seller",
            "quality_score",
            "promotion",
            "published_at",
            "seo.slug",
        ],
        Collection::Notifications => &[
            "type",
            "title",
            "message",
            "action_text",
            "action_url",
            "category",
            "priority",
            "image_url",
            "icon_name",
            "icon_color",
            "targeted_features",
            "user_segment",
            "delivery_channels",
            "delivery_status",
            "campaign_id",
            "batch_id",
            "expires_at",
            "created_at",
        ],
        _ => &[],
    }
}

/// Fields no client writes in any collection: identity, ownership, the
/// concurrency token, server timestamps and the sync sequence.
pub fn always_server_owned(collection: Collection, field: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    matches!(
        top,
        "_id" | "version" | "updated_at" | "_seq" | "deleted_at" | "deleted_by"
    ) || top == owner_field(collection)
        || (top == "created_by" && collection != Collection::Users)
}

/// Whether `field` (a dotted path) touches a server-owned field.
pub fn is_server_owned(collection: Collection, field: &str) -> bool {
    always_server_owned(collection, field)
        || server_owned(collection).iter().any(|owned| {
            field == *owned
                || field.starts_with(&format!("{owned}."))
                || owned.starts_with(&format!("{field}."))
        })
}
