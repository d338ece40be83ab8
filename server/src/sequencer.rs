//! Brings writes made straight to MongoDB by other backends onto the pull
//! cursor. Such writers follow the seed's convention (bump `version`, stamp
//! `updated_at`) but know nothing of `_seq`. The sequencer follows a change
//! stream over the database; every inserted, updated or replaced document
//! whose `_seq_version` is not its `version` was written by someone else, and
//! gets the next sequence number in a transaction of its own. It resumes the
//! stream from the last position it saved; with none to resume from (first
//! start, or history lost) it saves the new stream's position and then scans
//! every collection once, so no write falls between scan and stream.
//!
//! Several server instances may run sequencers at once: stamping is a
//! compare-and-set on `version`, and an already stamped document is left alone.

use std::time::Duration;

use bson::{doc, Bson, Document};
use futures_util::StreamExt;
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use mongodb::options::FullDocumentType;
use promptforge_wire::codec::version_of;
use promptforge_wire::schema::Collection;
use tokio::task::JoinHandle;

use crate::db::{sequenced_readers, Db, COUNTERS, SEQ, SEQ_READERS, SEQ_VERSION};
use crate::error::ServerError;
use crate::scope;

const STATE_ID: &str = "sequencer";

/// Starts the sequencer; it runs until the task is aborted.
pub fn spawn(db: Db) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(err) = follow(&db).await {
                tracing::warn!(error = %err, "change stream interrupted; resuming");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

fn synced(name: &str) -> Option<Collection> {
    Collection::from_name(name)
}

/// Whether the sync server itself sequenced this state of the document.
fn sequenced(document: &Document) -> bool {
    document.contains_key(SEQ) && document.get_i64(SEQ_VERSION).ok() == Some(version_of(document))
}

/// Gives a document written by someone else the next sequence number.
pub async fn stamp(db: &Db, collection: Collection, id: Bson) -> Result<(), ServerError> {
    let (owned_db, owned_id) = (db.clone(), id);
    db.transaction(move |session| {
        let (db, id) = (owned_db.clone(), owned_id.clone());
        Box::pin(async move {
            let coll = db.collection(collection);
            let Some(current) = coll
                .find_one(doc! { "_id": id.clone() })
                .session(&mut *session)
                .await?
            else {
                return Ok(());
            };
            if sequenced(&current) {
                return Ok(());
            }
            let version = version_of(&current);
            let seq = db.next_seq(session).await?;
            // Readers the other backend removed hear of it, as after a push.
            let removed =
                scope::readers_removed(collection, &sequenced_readers(&current), &current);
            scope::record_exits(&db, session, collection, &current, &removed).await?;
            // New readers must receive what they gained, whose sequence
            // numbers may be older than their checkpoints: a team's
            // documents, a prompt's history.
            let gains = matches!(collection, Collection::Teams | Collection::Prompts);
            if gains && current.contains_key(SEQ) {
                let before = sequenced_readers(&current);
                let joined = scope::explicit_readers(collection, &current)
                    .iter()
                    .any(|m| !before.contains(m));
                if joined && collection == Collection::Teams {
                    let team_id = current.get_str("_id").unwrap_or_default().to_owned();
                    let documents = scope::team_documents(&db, session, &team_id).await?;
                    scope::resequence(&db, session, &documents).await?;
                } else if joined {
                    let versions = scope::version_ids(
                        &db,
                        session,
                        current.get_str("_id").unwrap_or_default(),
                    )
                    .await?;
                    let versions: Vec<(Collection, Document)> = versions
                        .into_iter()
                        .map(|id| (Collection::PromptVersions, doc! { "_id": id }))
                        .collect();
                    scope::resequence(&db, session, &versions).await?;
                }
            }
            let filter = match current.get("version") {
                Some(v) => doc! { "_id": id, "version": v.clone() },
                None => doc! { "_id": id, "version": { "$exists": false } },
            };
            let readers = scope::explicit_readers(collection, &current);
            coll.update_one(
                filter,
                doc! { "$set": { SEQ: seq, SEQ_VERSION: version, SEQ_READERS: readers } },
            )
            .session(&mut *session)
            .await?;
            Ok(())
        })
    })
    .await
}

/// Stamps every document the sync server has not sequenced in its current
/// version: a full scan, run when there is no change stream position to
/// resume from (first start, or history lost).
pub async fn catch_up(db: &Db) -> Result<usize, ServerError> {
    let mut stamped = 0;
    for collection in Collection::ALL {
        let mut cursor = db
            .collection(collection)
            .find(doc! {})
            .projection(doc! { "_id": 1, "version": 1, SEQ: 1, SEQ_VERSION: 1 })
            .await?;
        let mut ids = Vec::new();
        while let Some(found) = cursor.next().await {
            let found = found?;
            if !sequenced(&found) {
                if let Some(id) = found.get("_id") {
                    ids.push(id.clone());
                }
            }
        }
        for id in ids {
            stamp(db, collection, id).await?;
            stamped += 1;
        }
    }
    if stamped > 0 {
        tracing::info!(
            stamped,
            "sequenced documents written outside the sync server"
        );
    }
    Ok(stamped)
}

async fn saved_token(db: &Db) -> Result<Option<ResumeToken>, ServerError> {
    let state = db
        .db
        .collection::<Document>(COUNTERS)
        .find_one(doc! { "_id": STATE_ID })
        .await?;
    Ok(state
        .and_then(|s| s.get("token").cloned())
        .and_then(|token| bson::from_bson::<ResumeToken>(token).ok()))
}

async fn save_token(db: &Db, token: &ResumeToken) -> Result<(), ServerError> {
    let token = bson::to_bson(token).map_err(|e| ServerError::Internal(e.to_string()))?;
    db.db
        .collection::<Document>(COUNTERS)
        .update_one(
            doc! { "_id": STATE_ID },
            doc! { "$set": { "token": token } },
        )
        .upsert(true)
        .await?;
    Ok(())
}

async fn forget_token(db: &Db) -> Result<(), ServerError> {
    db.db
        .collection::<Document>(COUNTERS)
        .delete_one(doc! { "_id": STATE_ID })
        .await?;
    Ok(())
}

async fn follow(db: &Db) -> Result<(), ServerError> {
    let pipeline =
        [doc! { "$match": { "operationType": { "$in": ["insert", "update", "replace"] } } }];
    let mut watch = db
        .db
        .watch()
        .pipeline(pipeline)
        .full_document(FullDocumentType::UpdateLookup);
    let saved = saved_token(db).await?;
    let resuming = saved.is_some();
    if let Some(token) = saved {
        watch = watch.start_after(token);
    }
    let mut stream = match watch.await {
        Ok(stream) => stream,
        Err(err) if resuming => {
            // The saved position is gone (e.g. the oplog rolled over): start
            // afresh, with a full catch-up scan.
            tracing::warn!(error = %err, "cannot resume the change stream; rescanning");
            forget_token(db).await?;
            return Err(err.into());
        }
        Err(err) => return Err(err.into()),
    };
    if !resuming {
        // Writes made before this stream opened are not in it: record the
        // position first, then scan, so nothing falls between the two.
        if let Some(token) = stream.resume_token() {
            save_token(db, &token).await?;
        }
        catch_up(db).await?;
    }
    while let Some(event) = stream.next().await {
        let event: ChangeStreamEvent<Document> = event?;
        let Some(collection) = event
            .ns
            .as_ref()
            .and_then(|ns| ns.coll.as_deref())
            .and_then(synced)
        else {
            continue;
        };
        let needs_stamp = event.full_document.as_ref().is_some_and(|d| !sequenced(d));
        if needs_stamp {
            if let Some(id) = event
                .document_key
                .as_ref()
                .and_then(|k| k.get("_id"))
                .cloned()
            {
                stamp(db, collection, id).await?;
            }
        }
        save_token(db, &event.id).await?;
    }
    Ok(())
}
