//! The `promptforge-desktop` binary: everything lives in the library
//! (`promptforge_desktop::run`), so tests can boot the same app.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> anyhow::Result<()> {
    promptforge_desktop::run()
}
