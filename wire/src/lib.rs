//! PromptForge's shared vocabulary, used by both the desktop (`promptforge-sync`)
//! and the sync server, so the two can never disagree on a field or a message.
//!
//! - [`schema`]: typed models of the eleven seed collections, with validation.
//! - [`access`]: which collections and fields a client may write.
//! - [`admit`]: the server's gate every stored document passes (strict schema,
//!   storable keys and depth).
//! - [`codec`]: model ⇄ BSON, canonical form, size limit, dotted-path patches.
//! - [`market`]: the marketplace requests (publish, moderate, buy, refund, review).
//! - [`protocol`]: the sync protocol messages, version 1.
//! - [`teams`]: the team operations (create, invite, join, roles, leave).
//! - [`presence`]: who has a prompt open, and its soft lock (ephemeral).

pub mod access;
pub mod admit;
pub mod codec;
pub mod market;
pub mod presence;
pub mod protocol;
pub mod schema;
pub mod share;
pub mod teams;
