//! Harness for cross-crate and end-to-end tests: a real MongoDB-protocol
//! server (SecantusDB, installed and started here, or a real MongoDB named by
//! `PROMPTFORGE_TEST_MONGODB_URI`), the sync server in-process on a loopback
//! port, signed test tokens, the seed's required fields (checked over the
//! central database after the sync suites), a stand-in for Firebase Auth, the desktop app's
//! commands on Tauri's mock runtime, and a WebDriver harness that drives the
//! real desktop app under Xvfb.

pub mod accounts;
pub mod desktop;
pub mod desktop_app;
pub mod firebase;
pub mod market;
pub mod mongo;
pub mod proxy;
pub mod push_client;
pub mod seed;
pub mod server;
pub mod server_process;
pub mod tokens;
pub mod webdriver;
