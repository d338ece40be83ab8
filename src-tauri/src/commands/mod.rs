//! The IPC commands the UI calls, grouped by screen. Each is a thin
//! translation between the UI's JSON and the `promptforge-sync` API.

pub mod app;
pub mod documents;
pub mod insights;
pub mod market;
pub mod sync;
pub mod teams;
