//! The UI's TypeScript declarations (`ui/src/bindings`) are generated from
//! the Rust types that cross the IPC boundary. The test below fails when the
//! committed files are stale; `UPDATE_BINDINGS=1 cargo test --workspace --lib
//! bindings` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promptforge_sync::insights::{Dashboard, DashboardRequest};
use promptforge_sync::schema::{
    AnalyticsEvent, Collection, Idea, MarketplaceListing, MarketplacePurchase, Notification,
    Project, Prompt, PromptVersion, Review, Team, User,
};
use promptforge_sync::{AttentionItem, Conflict, PresenceView, Resolution, SyncStatus};
use promptforge_wire::share::ShareRequest;
use promptforge_wire::teams::TeamRequest;
use ts_rs::{Config, ExportError, TS};

use crate::commands::app::AppInfo;
use crate::commands::documents::{DocumentPage, ListRequest};
use crate::commands::insights::UiEvent;
use crate::commands::market::MarketDone;
use crate::commands::teams::ShareDone;
use crate::error::AppError;
use crate::library::AccountInfo;
use crate::settings::Settings;

fn export_all(dir: &Path) -> Result<(), ExportError> {
    // Relaxed Extended JSON sends 64-bit integers as plain numbers.
    let cfg = Config::new().with_large_int("number").with_out_dir(dir);
    AppError::export_all(&cfg)?;
    AppInfo::export_all(&cfg)?;
    AccountInfo::export_all(&cfg)?;
    Settings::export_all(&cfg)?;
    ListRequest::export_all(&cfg)?;
    DocumentPage::export_all(&cfg)?;
    MarketDone::export_all(&cfg)?;
    SyncStatus::export_all(&cfg)?;
    PresenceView::export_all(&cfg)?;
    TeamRequest::export_all(&cfg)?;
    ShareRequest::export_all(&cfg)?;
    ShareDone::export_all(&cfg)?;
    Dashboard::export_all(&cfg)?;
    DashboardRequest::export_all(&cfg)?;
    UiEvent::export_all(&cfg)?;
    Conflict::export_all(&cfg)?;
    AttentionItem::export_all(&cfg)?;
    Resolution::export_all(&cfg)?;
    Collection::export_all(&cfg)?;
    Prompt::export_all(&cfg)?;
    PromptVersion::export_all(&cfg)?;
    Idea::export_all(&cfg)?;
    Project::export_all(&cfg)?;
    MarketplaceListing::export_all(&cfg)?;
    MarketplacePurchase::export_all(&cfg)?;
    Notification::export_all(&cfg)?;
    Review::export_all(&cfg)?;
    User::export_all(&cfg)?;
    Team::export_all(&cfg)?;
    AnalyticsEvent::export_all(&cfg)?;
    Ok(())
}

fn read_dir(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ts") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.insert(name, std::fs::read_to_string(&path)?);
        }
    }
    Ok(files)
}

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings")
}

#[test]
fn the_ui_bindings_are_current() -> Result<(), Box<dyn std::error::Error>> {
    let fresh_dir = tempfile::tempdir()?;
    export_all(fresh_dir.path())?;
    let fresh = read_dir(fresh_dir.path())?;
    let committed_dir = committed_dir();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::create_dir_all(&committed_dir)?;
        for name in read_dir(&committed_dir)?.keys() {
            std::fs::remove_file(committed_dir.join(name))?;
        }
        for (name, text) in &fresh {
            std::fs::write(committed_dir.join(name), text)?;
        }
    }
    let committed = read_dir(&committed_dir)?;
    let stale: Vec<&str> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|name| fresh.get(*name) != committed.get(*name))
        .map(String::as_str)
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/bindings is stale ({}); run UPDATE_BINDINGS=1 cargo test --workspace --lib bindings",
        stale.join(", ")
    );
    Ok(())
}
