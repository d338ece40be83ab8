//! The replica's public types: what an outbox entry does, conflicts and the
//! user's answers to them, refused changes, and the counts the status shows.

use bson::{Bson, DateTime};
use serde::Serialize;

use crate::schema::Collection;

/// What an outbox entry does to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PendingOp {
    Create,
    Patch,
    Delete,
    Restore,
}

impl PendingOp {
    pub(super) fn name(self) -> &'static str {
        match self {
            PendingOp::Create => "create",
            PendingOp::Patch => "patch",
            PendingOp::Delete => "delete",
            PendingOp::Restore => "restore",
        }
    }

    pub(super) fn parse(name: &str) -> Option<PendingOp> {
        Some(match name {
            "create" => PendingOp::Create,
            "patch" => PendingOp::Patch,
            "delete" => PendingOp::Delete,
            "restore" => PendingOp::Restore,
            _ => return None,
        })
    }
}

/// How a conflict arose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both sides changed one field; the server's value was kept.
    Field,
    /// This device edited a document another deleted; it was restored with the edit.
    EditVsDelete,
    /// This device deleted a document another edited; the edit was kept.
    DeleteVsEdit,
}

impl ConflictKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            ConflictKind::Field => "field",
            ConflictKind::EditVsDelete => "edit_vs_delete",
            ConflictKind::DeleteVsEdit => "delete_vs_edit",
        }
    }

    pub(super) fn parse(name: &str) -> ConflictKind {
        match name {
            "edit_vs_delete" => ConflictKind::EditVsDelete,
            "delete_vs_edit" => ConflictKind::DeleteVsEdit,
            _ => ConflictKind::Field,
        }
    }
}

/// The user's answer to a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    KeepMine,
    KeepTheirs,
    KeepBoth,
}

impl Resolution {
    pub fn name(self) -> &'static str {
        match self {
            Resolution::KeepMine => "keep_mine",
            Resolution::KeepTheirs => "keep_theirs",
            Resolution::KeepBoth => "keep_both",
        }
    }
}

/// A recorded conflict: what both sides wanted and what was kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Conflict {
    pub id: String,
    pub collection: Collection,
    pub doc_id: String,
    pub kind: ConflictKind,
    /// The field both sides changed (field conflicts only).
    pub field: Option<String>,
    /// This device's value (`null` when absent or deleted).
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub mine: Bson,
    /// The other side's value.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub theirs: Bson,
    /// How it was settled automatically, e.g. `server_wins`.
    pub resolution: String,
    /// Where the losing value was also kept (a prompt_versions id).
    pub lost_saved_as: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub at: DateTime,
    /// The user's answer, once given.
    pub resolved: Option<String>,
}

/// A local change the server refused for good, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AttentionItem {
    pub mutation_id: u64,
    pub collection: Collection,
    pub doc_id: String,
    pub op: PendingOp,
    /// The server's reason code (e.g. `invalid`, `forbidden`).
    pub reason: String,
    pub message: String,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub at: DateTime,
}

/// The outbox and bookkeeping at a glance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncSummary {
    pub client_id: Option<String>,
    /// The account this profile syncs with, once attached.
    pub account: Option<String>,
    pub pending: u64,
    pub in_flight: u64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub oldest_pending: Option<DateTime>,
    pub needs_attention: u64,
    pub open_conflicts: u64,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub last_synced_at: Option<DateTime>,
    pub server_url: Option<String>,
}

/// What applying one batch of push results did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushApplied {
    pub applied: usize,
    pub conflicts: usize,
    pub rejected: usize,
}
