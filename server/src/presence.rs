//! Presence and soft locks (`PUT /v1/presence`): who has a prompt open, who
//! is typing in it, and who holds its soft lock.
//!
//! Deliberately apart from the documents: an entry lives in [`PRESENCE`]
//! for a short time-to-live that the open editor renews, a lock in
//! [`LOCKS`] until its expiry, and neither touches the prompt, its versions
//! or the pull cursor. After each change the server leaves a presence hint
//! in the live hints collection; every instance reads the prompt's state
//! then and sends it to its connected users who have the prompt open (see
//! [`crate::live`]). Lapsed entries need no sweep to disappear: every state
//! carries its expiry times and the server's clock, and clients drop what
//! has lapsed; the retention pass deletes the documents later.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use promptforge_wire::presence::{
    check_request, PresenceRequest, PresenceState, PresentEditor, SoftLock,
};
use promptforge_wire::schema::Collection;

use crate::db::Db;
use crate::error::ServerError;
use crate::scope::{self, TeamAccess};

/// One document per device with a prompt open.
pub const PRESENCE: &str = "presence";
/// One document per soft-locked prompt, keyed by the prompt's id.
pub const LOCKS: &str = "soft_locks";

fn later(now: DateTime, by: Duration) -> DateTime {
    let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(now.timestamp_millis().saturating_add(millis))
}

/// Indexes the presence lookups need.
pub async fn prepare(db: &Db) -> Result<(), ServerError> {
    db.db
        .collection::<Document>(PRESENCE)
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "prompt_id": 1, "expires_at": 1 })
                .build(),
        )
        .await?;
    Ok(())
}

/// Applies `user`'s presence report and returns the prompt's state after it.
/// A prompt the user cannot read is "not found", whether it exists or not.
pub async fn report(
    db: &Db,
    user: &str,
    request: &PresenceRequest,
    ttl: Duration,
) -> Result<PresenceState, ServerError> {
    check_request(request).map_err(ServerError::BadRequest)?;
    crate::check_client_id(&request.client_id)?;
    let prompt_id = request.prompt_id.as_str();
    let prompt = db
        .collection(Collection::Prompts)
        .find_one(doc! { "_id": prompt_id })
        .await?;
    let teams = TeamAccess::load(db, user).await?;
    let Some(prompt) = prompt.filter(|p| scope::still_reads(Collection::Prompts, p, user, &teams))
    else {
        return Err(ServerError::NotFound(format!(
            "no prompt `{prompt_id}` you can read"
        )));
    };
    let now = DateTime::now();
    let key = doc! { "prompt_id": prompt_id, "user_id": user, "client_id": &request.client_id };
    let entry = doc! { "_id": key.clone() };
    let mine = doc! { "_id": prompt_id, "user_id": user, "client_id": &request.client_id };
    let entries = db.db.collection::<Document>(PRESENCE);
    let locks = db.db.collection::<Document>(LOCKS);
    if request.open {
        if let Some(secs) = request.lock_secs {
            if !scope::may_write(Collection::Prompts, &prompt, user, &teams) {
                return Err(ServerError::Forbidden(format!(
                    "you can read prompt `{prompt_id}` but not edit it, so you cannot lock it"
                )));
            }
            take_lock(
                db,
                prompt_id,
                user,
                &request.client_id,
                later(now, Duration::from_secs(secs.into())),
                now,
            )
            .await?;
        } else if request.release_lock {
            locks.delete_one(mine).await?;
        }
        entries
            .update_one(
                entry.clone(),
                doc! { "$set": {
                    "prompt_id": prompt_id,
                    "user_id": user,
                    "client_id": &request.client_id,
                    "editing": request.editing,
                    "expires_at": later(now, ttl),
                } },
            )
            .upsert(true)
            .await?;
    } else {
        entries.delete_one(entry).await?;
        locks.delete_one(mine).await?;
    }
    let state = state(db, prompt_id, ttl).await?;
    let mut audience: BTreeSet<String> = state.present.iter().map(|p| p.user_id.clone()).collect();
    audience.insert(user.to_owned());
    crate::live::announce_presence(db, prompt_id, audience).await?;
    Ok(state)
}

/// Takes the lock on `prompt_id` for `(user, client)` until `until`, unless
/// someone else holds an unexpired one (then nothing changes: the state
/// shows their lock).
async fn take_lock(
    db: &Db,
    prompt_id: &str,
    user: &str,
    client: &str,
    until: DateTime,
    now: DateTime,
) -> Result<(), ServerError> {
    let taken = db
        .db
        .collection::<Document>(LOCKS)
        .update_one(
            doc! { "_id": prompt_id, "$or": [
                { "lock_expiry": { "$lte": now } },
                { "user_id": user, "client_id": client },
            ] },
            doc! { "$set": { "user_id": user, "client_id": client, "lock_expiry": until } },
        )
        .upsert(true)
        .await;
    match taken {
        Ok(_) => Ok(()),
        // The lock document exists and is someone else's: the upsert's
        // insert collided with it.
        Err(err) if crate::db::is_duplicate_key(&err) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Who has `prompt_id` open and who holds its lock, now.
pub async fn state(db: &Db, prompt_id: &str, ttl: Duration) -> Result<PresenceState, ServerError> {
    let now = DateTime::now();
    let entries: Vec<Document> = db
        .db
        .collection::<Document>(PRESENCE)
        .find(doc! { "prompt_id": prompt_id, "expires_at": { "$gt": now } })
        .sort(doc! { "user_id": 1, "client_id": 1 })
        .limit(100)
        .await?
        .try_collect()
        .await?;
    let lock = db
        .db
        .collection::<Document>(LOCKS)
        .find_one(doc! { "_id": prompt_id, "lock_expiry": { "$gt": now } })
        .await?;
    let mut users: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.get_str("user_id").ok())
        .collect();
    users.extend(lock.iter().filter_map(|l| l.get_str("user_id").ok()));
    let names = display_names(db, users.into_iter().collect()).await?;
    let name = |user: &str| names.get(user).cloned();
    let present: Vec<PresentEditor> = entries
        .iter()
        .filter_map(|e| {
            let user = e.get_str("user_id").ok()?;
            Some(PresentEditor {
                user_id: user.to_owned(),
                display_name: name(user),
                client_id: e.get_str("client_id").ok()?.to_owned(),
                editing: e.get_bool("editing").unwrap_or(false),
                expires_at_ms: e.get_datetime("expires_at").ok()?.timestamp_millis(),
            })
        })
        .collect();
    let mut active_editors: Vec<String> = present
        .iter()
        .filter(|p| p.editing)
        .map(|p| p.user_id.clone())
        .collect();
    active_editors.dedup();
    let lock = lock.and_then(|l| {
        let user = l.get_str("user_id").ok()?;
        Some(SoftLock {
            user_id: user.to_owned(),
            display_name: name(user),
            client_id: l.get_str("client_id").ok()?.to_owned(),
            lock_expiry_ms: l.get_datetime("lock_expiry").ok()?.timestamp_millis(),
        })
    });
    Ok(PresenceState {
        prompt_id: prompt_id.to_owned(),
        present,
        active_editors,
        lock,
        server_time_ms: now.timestamp_millis(),
        ttl_secs: ttl.as_secs(),
    })
}

async fn display_names(db: &Db, users: Vec<&str>) -> Result<HashMap<String, String>, ServerError> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let profiles: Vec<Document> = db
        .collection(Collection::Users)
        .find(doc! { "_id": { "$in": users } })
        .projection(doc! { "display_name": 1 })
        .await?
        .try_collect()
        .await?;
    Ok(profiles
        .iter()
        .filter_map(|p| {
            Some((
                p.get_str("_id").ok()?.to_owned(),
                p.get_str("display_name").ok()?.to_owned(),
            ))
        })
        .collect())
}

/// Deletes lapsed entries and locks; returns how many.
pub async fn purge(db: &Db) -> Result<u64, ServerError> {
    let now = DateTime::now();
    let entries = db
        .db
        .collection::<Document>(PRESENCE)
        .delete_many(doc! { "expires_at": { "$lt": now } })
        .await?
        .deleted_count;
    let locks = db
        .db
        .collection::<Document>(LOCKS)
        .delete_many(doc! { "lock_expiry": { "$lt": now } })
        .await?
        .deleted_count;
    Ok(entries + locks)
}
