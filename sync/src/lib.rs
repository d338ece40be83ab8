//! PromptForge Desktop's core library.
//!
//! - [`schema`]: typed models of the eleven seed collections, with validation
//!   (re-exported from `promptforge-wire`, which the sync server shares).
//! - [`store`]: the local PoloDB store behind a typed async API (the only code
//!   that touches PoloDB), with its in-memory catalog for lists and search.
//! - [`engine`]: the sync client engine (outbox push, checkpointed pull,
//!   rebase, conflicts, status) and its HTTP transport.
//! - [`error`]: the store's typed errors.
//!
//! No Tauri, no HTTP server and no command-line parser live here (the engine
//! is an HTTP *client*). The desktop app (`src-tauri`) and the CLI (`cli`)
//! depend on this crate; the sync server must not (it shares only
//! `promptforge-wire`), and `tests/tests/architecture.rs` checks that.

pub mod engine;
pub mod error;
pub mod insights;
pub mod store;

pub use promptforge_wire::schema;

pub use engine::presence::{LockView, PresenceIntent, PresenceView, PresentPerson};
pub use engine::{SyncConfig, SyncEngine, SyncError, SyncReport, SyncState, SyncStatus};
pub use error::{ImportProblem, StoreError};
pub use store::{
    AttentionItem, Conflict, ConflictKind, DeletedFilter, Export, ImportReport, ListQuery, Page,
    Resolution, SortBy, Store, SyncSummary,
};
