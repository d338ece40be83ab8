//! Applying pushed mutations: two hundred to a transaction, exactly once,
//! with version compare-and-set and a three-way field merge on a stale base.
//!
//! Conflict policy (the same for every collection): when both sides changed a
//! field, the value already committed on the server wins and the client's
//! value is reported back as lost. For prompt `content`, the losing text is
//! also saved as a prompt_versions record, so it can be restored.
//!
//! - `record`: exactly once; every answer is recorded with its writes.
//! - `create`, `edit` (patch, delete, restore): one operation each.
//! - `merge`: the three-way merge and the compare-and-set write.
//! - `membership`: projects' lists of what is filed in them.

mod create;
mod edit;
mod membership;
mod merge;
mod record;

use std::collections::{BTreeSet, HashMap};

use mongodb::ClientSession;
use promptforge_wire::codec::SchemaError;
use promptforge_wire::protocol::{Mutation, MutationOp, MutationOutcome, RejectReason};
use promptforge_wire::schema::Collection;

use crate::db::Db;
use crate::error::ServerError;
use crate::{references, scope};
use create::create;
use edit::{delete, patch, restore};

pub(crate) use merge::as_json;
pub use record::{apply_batch, apply_isolated, CHUNK};

fn reject(reason: RejectReason, message: impl Into<String>) -> MutationOutcome {
    MutationOutcome::Rejected {
        reason,
        message: message.into(),
    }
}

/// A prompt's `analytics` are counted by the server from usage events;
/// desktops from before that sent them as any other field (a duplicate
/// copied them). What a client sends there is ignored, not refused, so
/// those desktops keep syncing; the server's counts stand.
fn forget_counters(collection: Collection, document: &mut bson::Document) {
    if collection == Collection::Prompts {
        document.remove("analytics");
    }
}

/// [`forget_counters`] for a patch's changes and their base; a patch of
/// nothing but counters stays as it is (and is refused as server-owned).
fn without_counters(
    collection: Collection,
    changes: &bson::Document,
    base: &bson::Document,
) -> (bson::Document, bson::Document) {
    let counter = |path: &str| path.split('.').next() == Some("analytics");
    if collection != Collection::Prompts || changes.keys().all(|k| counter(k)) {
        return (changes.clone(), base.clone());
    }
    let keep = |d: &bson::Document| {
        d.iter()
            .filter(|(k, _)| !counter(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<bson::Document>()
    };
    (keep(changes), keep(base))
}

/// Sends a mutation to its operation, if desktops may do that to its
/// collection at all.
async fn decide(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    m: &Mutation,
) -> Result<MutationOutcome, ServerError> {
    let Some(collection) = Collection::from_name(&m.collection) else {
        return Ok(reject(
            RejectReason::UnknownCollection,
            format!("unknown collection `{}`", m.collection),
        ));
    };
    let allowed = scope::writable(collection);
    match &m.op {
        MutationOp::Create { document } if allowed.create => {
            let mut document = document.clone();
            forget_counters(collection, &mut document);
            create(db, session, user, collection, m, document).await
        }
        MutationOp::Patch { changes, base } if allowed.patch => {
            let (changes, base) = without_counters(collection, changes, base);
            patch(db, session, user, collection, m, &changes, &base).await
        }
        MutationOp::Delete if allowed.delete => delete(db, session, user, collection, m).await,
        MutationOp::Restore { changes, base } if allowed.delete => {
            let (changes, base) = without_counters(collection, changes, base);
            restore(db, session, user, collection, m, &changes, &base).await
        }
        _ => Ok(reject(
            RejectReason::NotWritable,
            format!("{collection} cannot be changed this way from the desktop"),
        )),
    }
}

/// Reads up front, into the chunk's batch, every document the mutations of
/// `chunk` name (their own ids and the ids their fields refer to), one query
/// per collection, and locks the histories of the new prompts created here
/// and of the user's own prompts that get a version here. Other prompts'
/// histories are locked only once a version of theirs passes its reference
/// check, so a push cannot hold up a history its sender may not write.
async fn prefetch(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    chunk: &[Mutation],
) -> Result<(), ServerError> {
    let mut ids: HashMap<Collection, Vec<String>> = HashMap::new();
    let mut created_prompts = BTreeSet::new();
    let mut versioned = Vec::new();
    for m in chunk {
        let Some(collection) = Collection::from_name(&m.collection) else {
            continue;
        };
        ids.entry(collection).or_default().push(m.id.clone());
        let fields = match &m.op {
            MutationOp::Create { document } => document,
            MutationOp::Patch { changes, .. } | MutationOp::Restore { changes, .. } => changes,
            MutationOp::Delete => continue,
        };
        for reference in references::references(collection) {
            ids.entry(reference.target)
                .or_default()
                .extend(references::ids_at(Some(fields), reference));
        }
        match (collection, &m.op) {
            (Collection::Prompts, MutationOp::Create { .. }) => {
                created_prompts.insert(m.id.clone());
            }
            (Collection::PromptVersions, MutationOp::Create { document }) => {
                if let Ok(prompt_id) = document.get_str("prompt_id") {
                    versioned.push(prompt_id.to_owned());
                }
            }
            _ => {}
        }
    }
    for (collection, ids) in ids {
        db.prefetch(session, collection, &ids).await?;
    }
    // A new prompt may get its first version from the server; a create of
    // an id that exists (someone else's, perhaps) is refused and locks
    // nothing.
    let mut own = Vec::new();
    for prompt_id in created_prompts.iter().chain(&versioned) {
        let stored = db
            .find_by_id(session, Collection::Prompts, prompt_id)
            .await?;
        let writable = match stored {
            None => created_prompts.contains(prompt_id),
            Some(prompt) => prompt.get_str("user_id") == Ok(user),
        };
        if writable {
            own.push(prompt_id.clone());
        }
    }
    db.prefetch_version_numbers(session, &own).await
}

/// The answer for a document that is missing or not the user's to change:
/// the same words either way, so nobody learns what exists.
fn not_found(collection: Collection, id: &str) -> MutationOutcome {
    reject(
        RejectReason::NotFound,
        format!("{collection} `{id}` does not exist"),
    )
}

fn invalid(err: SchemaError) -> MutationOutcome {
    reject(RejectReason::Invalid, err.to_string())
}
