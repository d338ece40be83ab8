//! A desktop for tests: a real local store in its own directory, and a sync
//! engine talking HTTP to a test server (directly or through a proxy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bson::Document;
use promptforge_sync::engine::{HttpTransport, StaticToken};
use promptforge_sync::schema::Collection;
use promptforge_sync::{Store, SyncConfig, SyncEngine, SyncError, SyncReport};

use crate::tokens::token;

/// A desktop whose background loop ([`SyncEngine::run`]) runs until
/// [`Running::stop`], as the app's does.
#[derive(Debug)]
pub struct Running {
    pub desktop: Arc<Desktop>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn start(desktop: Arc<Desktop>) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let desktop = Arc::clone(&desktop);
            tokio::spawn(async move {
                desktop
                    .engine
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await;
            })
        };
        Running {
            desktop,
            stop,
            task,
        }
    }

    /// Waits up to `within` until this desktop's store holds prompt `id`
    /// titled `title` (what its loop brought in by itself).
    pub async fn wait_title(&self, id: &str, title: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let prompt: Option<promptforge_sync::schema::Prompt> =
                self.desktop.store().get(id).await.expect("read");
            if prompt.as_ref().is_some_and(|p| p.title == title) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} still has {:?} instead of {title:?}",
                self.desktop.dir.display(),
                prompt.map(|p| p.title)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the loop and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the loop stops");
    }
}

/// The collections every replica of one account must agree on.
pub const SYNCED: [Collection; 4] = [
    Collection::Prompts,
    Collection::PromptVersions,
    Collection::Ideas,
    Collection::Projects,
];

#[derive(Debug)]
pub struct Desktop {
    pub dir: PathBuf,
    pub engine: SyncEngine<HttpTransport>,
}

impl Desktop {
    /// Opens (or reopens) the profile in `dir`, syncing as `user` with `base`.
    pub async fn open(dir: &Path, base: &str, user: &str) -> Desktop {
        Self::open_with(dir, base, user, SyncConfig::default()).await
    }

    pub async fn open_with(dir: &Path, base: &str, user: &str, config: SyncConfig) -> Desktop {
        Self::open_with_token(dir, base, token(user), config).await
    }

    /// Opens the profile in `dir`, syncing with `base` as the bearer of
    /// `token` (one Firebase issued, say).
    pub async fn open_with_token(
        dir: &Path,
        base: &str,
        token: String,
        config: SyncConfig,
    ) -> Desktop {
        let store = Store::open(dir).await.expect("open the local store");
        let transport =
            HttpTransport::new(base, Arc::new(StaticToken(token)), Duration::from_secs(20))
                .expect("transport");
        Desktop {
            dir: dir.to_owned(),
            engine: SyncEngine::new(store, transport, config),
        }
    }

    pub fn store(&self) -> &Store {
        self.engine.store()
    }

    pub async fn sync(&self) -> Result<SyncReport, SyncError> {
        self.engine.sync_once().await
    }

    /// Syncs, panicking with the error if the round fails.
    pub async fn synced(&self) -> SyncReport {
        match self.sync().await {
            Ok(report) => report,
            Err(err) => panic!("sync of {} failed: {err}", self.dir.display()),
        }
    }

    /// The synced collections, as exported (what replicas must agree on).
    pub async fn replica(&self) -> BTreeMap<Collection, Vec<Document>> {
        let export = self.store().export().await.expect("export");
        SYNCED
            .iter()
            .map(|c| (*c, export.collections.get(c).cloned().unwrap_or_default()))
            .collect()
    }
}

/// Describes how two replicas differ, or `None` when they are identical.
pub fn replica_difference(
    a: &BTreeMap<Collection, Vec<Document>>,
    b: &BTreeMap<Collection, Vec<Document>>,
) -> Option<String> {
    for collection in SYNCED {
        let (left, right) = (&a[&collection], &b[&collection]);
        if left == right {
            continue;
        }
        let ids = |docs: &Vec<Document>| -> Vec<String> {
            docs.iter()
                .map(|d| d.get_str("_id").unwrap_or_default().to_owned())
                .collect()
        };
        if ids(left) != ids(right) {
            return Some(format!(
                "{collection}: ids differ: {:?} vs {:?}",
                ids(left),
                ids(right)
            ));
        }
        for (x, y) in left.iter().zip(right) {
            if x != y {
                return Some(format!("{collection}: {x} vs {y}"));
            }
        }
    }
    None
}
