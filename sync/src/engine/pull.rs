//! The pull phase of a round: every collection in as few requests as its
//! pages fit (`/v1/pull/all`), one collection at a time where that is
//! needed (a server without the combined pull, a collection being started
//! over after `checkpoint_expired`), and one progress total for all of it.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;

use promptforge_wire::protocol::{
    CountRequest, ErrorCode, PullAllRequest, PullRequest, PullResponse,
};

use super::{SyncEngine, SyncError, SyncPhase, SyncReport, SyncState, Transport, TransportError};
use crate::schema::Collection;

/// How far a pull phase has come, for the progress bar.
#[derive(Debug)]
struct Progress {
    done: u64,
    total: u64,
    /// Whether `total` came from the server's count.
    counted: bool,
}

impl<T: Transport> SyncEngine<T> {
    pub(super) async fn pull_all(
        &self,
        collections: &[String],
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let mut known = Vec::new();
        for name in collections {
            match Collection::from_name(name) {
                Some(collection) => known.push(collection),
                None => {
                    tracing::warn!(collection = %name, "the server offers a collection this app does not know");
                }
            }
        }
        // One total for the whole phase, asked before the first page, so a
        // progress bar never jumps back between collections. A server that
        // cannot count leaves the per-page estimates, never decreasing.
        let mut checkpoints = BTreeMap::new();
        for collection in &known {
            checkpoints.insert(
                collection.name().to_owned(),
                self.store.replica().checkpoint(*collection).await?,
            );
        }
        let counted = match self.transport.count(&CountRequest { checkpoints }).await {
            Ok(Some(count)) => Some(count.remaining.values().sum::<u64>()),
            Ok(None) => None,
            Err(err) => {
                tracing::debug!(error = %err, "the server did not count; progress per page");
                None
            }
        };
        let mut progress = Progress {
            done: 0,
            total: counted.unwrap_or(0),
            counted: counted.is_some(),
        };
        // Collections being started over go one by one (they must see every
        // page); the others together, in as few requests as their pages fit.
        let mut alone = Vec::new();
        let mut together = BTreeMap::new();
        for collection in &known {
            if self.store.replica().resetting(*collection).await? {
                alone.push(*collection);
            } else {
                together.insert(
                    collection.name().to_owned(),
                    self.store.replica().checkpoint(*collection).await?,
                );
            }
        }
        // The next request needs only the checkpoints an answer carries, so
        // it is asked while the answer's pages are being stored: the server
        // reads while this desktop writes.
        let mut prefetched = None;
        let phase_counted = progress.counted;
        while !together.is_empty() {
            let asked = match prefetched.take() {
                Some(asked) => asked,
                None => {
                    self.transport
                        .pull_all(&self.pull_all_request(&together, phase_counted))
                        .await
                }
            };
            let Some(answer) = asked? else {
                // A server without the combined pull: one collection a time.
                alone.extend(
                    known
                        .iter()
                        .filter(|c| together.contains_key(c.name()))
                        .copied(),
                );
                break;
            };
            let mut moved = false;
            let mut pages = Vec::with_capacity(answer.pages.len());
            for page in answer.pages {
                let Some(collection) = Collection::from_name(&page.collection) else {
                    return Err(SyncError::BadAnswer(format!(
                        "a page of unknown collection {}",
                        page.collection
                    )));
                };
                let Some(checkpoint) = together.get(&page.collection).copied() else {
                    return Err(SyncError::BadAnswer(format!(
                        "a page of {} was not asked for",
                        page.collection
                    )));
                };
                if page.checkpoint < checkpoint {
                    return Err(SyncError::BadAnswer(format!(
                        "asked for {collection} after {checkpoint}, got up to {}",
                        page.checkpoint
                    )));
                }
                moved |= page.checkpoint > checkpoint;
                together.insert(page.collection.clone(), page.checkpoint);
                pages.push((collection, page));
            }
            for name in answer.expired {
                if together.remove(&name).is_none() {
                    return Err(SyncError::BadAnswer(format!(
                        "{name} was said to be expired but was not asked for"
                    )));
                }
                if let Some(collection) = Collection::from_name(&name) {
                    alone.push(collection);
                }
                moved = true;
            }
            if answer.has_more && !moved {
                return Err(SyncError::BadAnswer(
                    "the server has more to send but sent nothing".into(),
                ));
            }
            let store = async {
                for (collection, page) in pages {
                    self.store_page(collection, page, &mut progress, report)
                        .await?;
                }
                Ok::<_, SyncError>(())
            };
            if answer.has_more && !together.is_empty() {
                let request = self.pull_all_request(&together, phase_counted);
                let (stored, next) = tokio::join!(store, self.transport.pull_all(&request));
                stored?;
                prefetched = Some(next);
                continue;
            }
            store.await?;
            if !answer.has_more {
                if alone.is_empty() {
                    if let Some(through) = answer.through {
                        self.pulled_through.fetch_max(through, Ordering::Relaxed);
                    }
                }
                break;
            }
        }
        alone.sort_by_key(|c| known.iter().position(|k| k == c));
        for collection in alone {
            self.pull_collection(collection, &mut progress, report)
                .await?;
        }
        Ok(())
    }

    /// Pulls one collection to the end, page by page; starts it over from 0
    /// when the server says its checkpoint has expired (or a start-over was
    /// left unfinished), dropping afterwards what the server no longer has.
    async fn pull_collection(
        &self,
        collection: Collection,
        progress: &mut Progress,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        // A reset (begun now or left unfinished) pulls from 0 and remembers
        // what it was sent, to drop what it was not.
        let mut seen: Option<HashSet<String>> = None;
        if self.store.replica().resetting(collection).await? {
            self.store.replica().begin_reset(collection).await?;
            seen = Some(HashSet::new());
        }
        loop {
            let checkpoint = self.store.replica().checkpoint(collection).await?;
            let asked = self
                .transport
                .pull(&PullRequest {
                    collection: collection.name().to_owned(),
                    checkpoint,
                    max_bytes: self.config.pull_page_bytes,
                })
                .await;
            let page = match asked {
                Err(TransportError::Server {
                    code: Some(ErrorCode::CheckpointExpired),
                    ..
                }) if seen.is_none() => {
                    tracing::info!(%collection, checkpoint, "the server forgot deletions since this checkpoint; pulling the collection again");
                    self.store.replica().begin_reset(collection).await?;
                    seen = Some(HashSet::new());
                    continue;
                }
                other => other?,
            };
            let stuck = page.has_more && page.checkpoint == checkpoint;
            if page.collection != collection.name() || page.checkpoint < checkpoint || stuck {
                return Err(SyncError::BadAnswer(format!(
                    "asked for {collection} after {checkpoint}, got {} up to {}",
                    page.collection, page.checkpoint
                )));
            }
            let has_more = page.has_more;
            if let Some(seen) = seen.as_mut() {
                seen.extend(
                    page.changes
                        .iter()
                        .filter(|c| !c.left_scope)
                        .map(|c| c.id.clone()),
                );
            }
            self.store_page(collection, page, progress, report).await?;
            if !has_more {
                break;
            }
        }
        if let Some(seen) = seen {
            let removed = self.store.replica().finish_reset(collection, seen).await?;
            tracing::info!(%collection, removed, "pulled the collection again; dropped what the server no longer has");
        }
        Ok(())
    }

    /// The combined pull from `checkpoints`; `counted`: the phase's total
    /// came from the server's count, so its pages need not count again.
    fn pull_all_request(
        &self,
        checkpoints: &BTreeMap<String, i64>,
        counted: bool,
    ) -> PullAllRequest {
        PullAllRequest {
            checkpoints: checkpoints.clone(),
            max_bytes: self.config.pull_page_bytes,
            count_remaining: counted.then_some(false),
        }
    }

    /// Stores a pulled page with its checkpoint (one local transaction) and
    /// counts it into the round's report and the phase's progress.
    async fn store_page(
        &self,
        collection: Collection,
        page: PullResponse,
        progress: &mut Progress,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let remaining = page.remaining_estimate;
        let applied = self
            .store
            .replica()
            .apply_pull_page(collection, page.changes, page.checkpoint)
            .await?;
        report.pulled += applied;
        self.pulled(progress, applied, remaining);
        Ok(())
    }

    /// Counts an applied page into the pull phase's progress and shows it.
    fn pulled(&self, progress: &mut Progress, applied: usize, remaining: u64) {
        progress.done += applied as u64;
        // Changes committed after the count may add to it.
        progress.total = progress.total.max(progress.done);
        if !progress.counted {
            progress.total = progress.total.max(progress.done + remaining);
        }
        self.set_state(SyncState::Syncing {
            phase: SyncPhase::Pull,
            done: progress.done,
            total: Some(progress.total),
        });
    }
}
