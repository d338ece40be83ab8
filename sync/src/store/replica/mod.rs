//! The local side of sync, kept inside the store's own transactions: the
//! outbox of local changes awaiting upload, the per-collection pull
//! checkpoints, conflicts and the "needs attention" list, and how a server
//! document is absorbed under pending local edits (the rebase).
//!
//! Outbox model. Each document has at most one entry in flight (sent, frozen,
//! resent unchanged until answered, so the server's exactly-once record holds)
//! and at most one unsent entry, which absorbs every further local edit. An
//! unsent entry stores the document as the server last confirmed it
//! (`base_doc`, at `base_version`); what it uploads is computed when it is
//! sent, as the difference between that snapshot and the document then.
//!
//! The sync engine reaches all of this through [`Replica`], the handle
//! [`Store::replica`] gives; the app and the CLI see only the conflicts, the
//! attention list and the summary, which stay on [`Store`].

mod account;
mod attention;
mod conflicts;
mod outbox;
mod pull;
mod push;
mod reset;
mod state;
mod types;

use bson::Bson;
use promptforge_wire::protocol::{Change, Mutation, MutationResult};

use super::{Store, LOCAL_USER_PREFIX};
use crate::error::{Result, StoreError};
use crate::schema::Collection;

pub(crate) use attention::{attention, settle_attention};
pub(crate) use conflicts::{conflict, conflicts, mark_resolved};
pub(crate) use outbox::record;

/// Queues the upload of a document created without tracking (a usage event
/// leaving its own queue).
pub(crate) fn new_upload(
    tx: &mut crate::store::writer::Tx,
    collection: Collection,
    id: &str,
) -> Result<()> {
    outbox::new_entry(tx, collection, id, PendingOp::Create, Bson::Null, 0)
}
pub(crate) use state::{profile_user, set_sync_field, summary};
pub use types::{
    AttentionItem, Conflict, ConflictKind, PendingOp, PushApplied, Resolution, SyncSummary,
};

pub(crate) const OUTBOX: &str = "_sync_outbox";
pub(crate) const CONFLICTS: &str = "_sync_conflicts";
pub(crate) const ATTENTION: &str = "_sync_attention";
const STATE_ID: &str = "sync";

/// The sync engine's view of a profile: its identity, the outbox, pulled
/// pages and checkpoints. Only the engine (and tools that drive it, such as
/// benchmarks) should need it; everything the user does is on [`Store`].
#[derive(Debug, Clone, Copy)]
pub struct Replica<'a> {
    store: &'a Store,
}

impl<'a> Replica<'a> {
    pub(super) fn new(store: &'a Store) -> Replica<'a> {
        Replica { store }
    }

    /// Changes each time a commit queues local changes for upload, so the
    /// sync engine can push promptly.
    pub fn outbox_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.inner.outbox_changed.clone()
    }

    /// This profile's stable sync client id.
    pub async fn client_id(&self) -> Result<String> {
        self.store.write_untracked(|tx| state::client_id(tx)).await
    }

    /// Attaches the profile to `account` (the user id the server verified).
    /// A local profile's documents become the account's; a profile already
    /// attached to another account is refused.
    pub async fn attach_account(&self, account: &str) -> Result<()> {
        let current = self.store.user_id();
        if current == account {
            let account = account.to_owned();
            return self
                .store
                .write_untracked(move |tx| set_sync_field(tx, "account", Bson::String(account)))
                .await;
        }
        if !current.starts_with(LOCAL_USER_PREFIX) {
            return Err(StoreError::OtherAccount {
                attached: current,
                requested: account.to_owned(),
            });
        }
        let (from, to) = (current.clone(), account.to_owned());
        self.store
            .write_untracked(move |tx| account::attach_account(tx, &from, &to))
            .await?;
        *self
            .store
            .inner
            .user_id
            .write()
            .unwrap_or_else(|p| p.into_inner()) = account.to_owned();
        tracing::info!("profile attached to its account");
        Ok(())
    }

    /// Makes new mutation ids start after `last`, the server's highest.
    pub async fn ensure_mutation_ids_after(&self, last: u64) -> Result<()> {
        self.store
            .write_untracked(move |tx| outbox::ensure_mutation_ids_after(tx, last))
            .await
    }

    /// The next mutations to upload (see the outbox model in this module's
    /// documentation). Usage events wait in their own queue until
    /// [`Replica::queue_events`] hands them over.
    pub async fn next_push_batch(&self, max: usize, max_bytes: usize) -> Result<Vec<Mutation>> {
        self.store
            .write_untracked(move |tx| outbox::take_batch(tx, max, max_bytes))
            .await
    }

    /// Hands up to `max` queued usage events to the outbox, oldest first,
    /// dropping expired ones; returns how many. The engine calls it only
    /// once the outbox is empty and the round's pull is done, so events
    /// never delay the user's own changes or other devices' ones.
    pub async fn queue_events(&self, max: usize) -> Result<usize> {
        self.store
            .write_untracked(move |tx| crate::store::events::queue_for_upload(tx, max))
            .await
    }

    /// Applies the server's answers to a push, in one transaction.
    pub async fn apply_push_results(&self, results: Vec<MutationResult>) -> Result<PushApplied> {
        self.store
            .write_untracked(move |tx| push::apply_results(tx, results))
            .await
    }

    /// The last `seq` applied for `collection` (0 before the first pull).
    pub async fn checkpoint(&self, collection: Collection) -> Result<i64> {
        self.store
            .write_untracked(move |tx| state::checkpoint(tx, collection.name()))
            .await
    }

    /// Whether `collection` is being pulled again from 0 (see
    /// [`Replica::begin_reset`]).
    pub async fn resetting(&self, collection: Collection) -> Result<bool> {
        self.store
            .write_untracked(move |tx| reset::resetting(tx, collection))
            .await
    }

    /// Starts pulling `collection` again from 0, because the server forgot
    /// deletions this replica has not seen.
    pub async fn begin_reset(&self, collection: Collection) -> Result<()> {
        self.store
            .write_untracked(move |tx| reset::begin(tx, collection))
            .await
    }

    /// Ends a complete re-pull that sent `seen`: local copies it did not
    /// send and that have nothing to upload are removed. Returns how many.
    pub async fn finish_reset(
        &self,
        collection: Collection,
        seen: std::collections::HashSet<String>,
    ) -> Result<usize> {
        self.store
            .write_untracked(move |tx| reset::finish(tx, collection, &seen))
            .await
    }

    /// The mutation id up to which the server may forget its answers.
    pub async fn confirmed_mutation_id(&self) -> Result<u64> {
        self.store
            .write_untracked(|tx| reset::confirmed_mutation_id(tx))
            .await
    }

    /// Applies a pulled page and advances the checkpoint, in one transaction.
    pub async fn apply_pull_page(
        &self,
        collection: Collection,
        changes: Vec<Change>,
        checkpoint: i64,
    ) -> Result<usize> {
        self.store
            .write_untracked(move |tx| pull::apply_page(tx, collection, changes, checkpoint))
            .await
    }

    /// Records a completed sync (and the server it was with).
    pub async fn mark_synced(&self, server_url: Option<String>) -> Result<()> {
        self.store
            .write_untracked(move |tx| {
                set_sync_field(tx, "last_synced_at", Bson::DateTime(tx.now))?;
                if let Some(url) = server_url {
                    set_sync_field(tx, "server_url", Bson::String(url))?;
                }
                Ok(())
            })
            .await
    }
}
