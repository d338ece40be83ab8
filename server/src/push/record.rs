//! Exactly once, in batches: a mutation's answer is recorded in the
//! transaction that made its writes, under the client's mutation id, so a
//! resent batch is answered from the records and changes nothing more. A
//! push's mutations share transactions ([`CHUNK`] at a time); a mutation that
//! fails for good costs its chunk a second, one-at-a-time pass, never the
//! others their writes. A chunk reads what it touches up front and inserts
//! together before its commit (see [`crate::batch`]).

use std::collections::HashMap;

use bson::{doc, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::protocol::{Mutation, MutationOutcome, MutationResult, RejectReason};

use super::{decide, reject};
use crate::db::{Db, Written, MUTATIONS};
use crate::error::ServerError;

/// The key recording one applied mutation.
fn mutation_key(user: &str, client_id: &str, mutation_id: u64) -> String {
    format!("{user}:{client_id}:{mutation_id}")
}

/// Applies one mutation like [`apply`], but answers a mutation that fails
/// for good inside the server or the database with a `rejected` result of
/// its own (recorded, so a resend gets the same answer), so one bad
/// mutation never fails its batch or blocks the client's queue. Only
/// failures that retrying can cure fail the request.
pub async fn apply_isolated(
    db: &Db,
    user: &str,
    client_id: &str,
    mutation: &Mutation,
) -> Result<MutationResult, ServerError> {
    if let Some(outcome) = malformed_id(mutation) {
        return Ok(MutationResult {
            mutation_id: mutation.mutation_id,
            outcome,
        });
    }
    let err = match apply(db, user, client_id, mutation).await {
        Ok(result) => return Ok(result),
        Err(err) if err.is_retryable() => return Err(err),
        Err(err) => err,
    };
    let outcome = match &err {
        ServerError::Schema(schema) => reject(RejectReason::Invalid, schema.to_string()),
        ServerError::BadRequest(message) => reject(RejectReason::Malformed, message.clone()),
        ServerError::Mongo(mongo) => reject(
            RejectReason::Invalid,
            format!(
                "the database refused this change{}",
                crate::error::mongo_code(mongo)
                    .map(|code| format!(" (error {code})"))
                    .unwrap_or_default()
            ),
        ),
        _ => reject(
            RejectReason::Invalid,
            "the server could not apply this change",
        ),
    };
    tracing::warn!(error = %err, collection = %mutation.collection, "mutation failed for good; answered as rejected");
    let key = mutation_key(user, client_id, mutation.mutation_id);
    let (owned_db, user, client_id, mutation_id) = (
        db.clone(),
        user.to_owned(),
        client_id.to_owned(),
        mutation.mutation_id,
    );
    let outcome = db
        .transaction(move |session| {
            let (db, user, client_id, key, outcome) = (
                owned_db.clone(),
                user.clone(),
                client_id.clone(),
                key.clone(),
                outcome.clone(),
            );
            Box::pin(async move {
                // A concurrent resend may have recorded an answer first.
                if let Some(done) = recorded(&db, session, &key).await? {
                    return Ok(done);
                }
                record(&db, session, &key, &user, &client_id, mutation_id, &outcome).await?;
                Ok(outcome)
            })
        })
        .await?;
    Ok(MutationResult {
        mutation_id: mutation.mutation_id,
        outcome,
    })
}

/// The recorded result of the mutation with this key, if any.
async fn recorded(
    db: &Db,
    session: &mut ClientSession,
    key: &str,
) -> Result<Option<MutationOutcome>, ServerError> {
    let Some(done) = db
        .db
        .collection::<Document>(MUTATIONS)
        .find_one(doc! { "_id": key })
        .session(&mut *session)
        .await?
    else {
        return Ok(None);
    };
    stored_outcome(&done).map(Some)
}

/// A recorded result, kept as its JSON text: the wire form, exact to the
/// BSON type.
fn stored_outcome(done: &Document) -> Result<MutationOutcome, ServerError> {
    let stored = done
        .get_str("outcome")
        .map_err(|_| ServerError::Internal("stored mutation result is malformed".into()))?;
    serde_json::from_str::<MutationOutcome>(stored)
        .map_err(|e| ServerError::Internal(format!("stored mutation result: {e}")))
}

/// Records a mutation's result in the caller's transaction.
async fn record(
    db: &Db,
    session: &mut ClientSession,
    key: &str,
    user: &str,
    client_id: &str,
    mutation_id: u64,
    outcome: &MutationOutcome,
) -> Result<(), ServerError> {
    let record = doc! {
        "_id": key,
        "user_id": user,
        "client_id": client_id,
        "mutation_id": i64::try_from(mutation_id).map_err(|e| ServerError::Internal(e.to_string()))?,
        "outcome": serde_json::to_string(outcome).map_err(|e| ServerError::Internal(e.to_string()))?,
        "at": DateTime::now(),
    };
    db.insert_bookkeeping(session, MUTATIONS, record).await
}

/// Mutations applied in one transaction at most: enough that an upload pays
/// for a commit and a dozen round trips per two hundred documents rather
/// than several per document, few enough that a transaction stays short
/// (tens of milliseconds) and a write conflict retries little.
pub const CHUNK: usize = 200;

/// Applies a push's mutations in order, [`CHUNK`] at a time in one
/// transaction each. A chunk in which some mutation fails for good is applied
/// again one mutation at a time ([`apply_isolated`]), so that mutation gets a
/// `rejected` answer of its own and the others still apply. The answer waits
/// once, at the end, for everything written to be sequenced.
pub async fn apply_batch(
    db: &Db,
    user: &str,
    client_id: &str,
    mutations: &[Mutation],
) -> Result<Vec<MutationResult>, ServerError> {
    let mut results = Vec::with_capacity(mutations.len());
    let mut written = Vec::new();
    let mut failed = None;
    for chunk in mutations.chunks(CHUNK) {
        match apply_chunk(db, user, client_id, chunk).await {
            Ok((applied, chunk_written)) => {
                results.extend(applied);
                written.extend(chunk_written);
            }
            Err(err) if err.is_retryable() => {
                failed = Some(err);
                break;
            }
            Err(err) => {
                tracing::debug!(error = %err, "a mutation failed its chunk; applying one at a time");
                for mutation in chunk {
                    match apply_isolated(db, user, client_id, mutation).await {
                        Ok(result) => results.push(result),
                        Err(err) => {
                            failed = Some(err);
                            break;
                        }
                    }
                }
                if failed.is_some() {
                    break;
                }
            }
        }
    }
    // Even a failed push waits for what it did commit: its resend is
    // answered from the records, and must find those writes pullable.
    db.await_sequenced(written).await;
    match failed {
        Some(err) => Err(err),
        None => Ok(results),
    }
}

/// Applies `chunk` in one transaction, its reads and inserts batched (see
/// [`crate::batch`]); any error fails it whole. Returns the answers and what
/// was written.
async fn apply_chunk(
    db: &Db,
    user: &str,
    client_id: &str,
    chunk: &[Mutation],
) -> Result<(Vec<MutationResult>, Written), ServerError> {
    let (owned_db, user, client_id, owned_chunk) = (
        db.clone(),
        user.to_owned(),
        client_id.to_owned(),
        chunk.to_vec(),
    );
    db.transaction_unsequenced(move |session| {
        // A fresh batch per attempt: an aborted attempt's reads and writes
        // are gone with it.
        let (db, user, client_id, chunk) = (
            owned_db.batched(),
            user.clone(),
            client_id.clone(),
            owned_chunk.clone(),
        );
        Box::pin(async move {
            let keys: Vec<String> = chunk
                .iter()
                .map(|m| mutation_key(&user, &client_id, m.mutation_id))
                .collect();
            let mut done = recorded_all(&db, session, &keys).await?;
            super::prefetch(&db, session, &user, &chunk).await?;
            let mut results = Vec::with_capacity(chunk.len());
            for (mutation, key) in chunk.iter().zip(keys) {
                let outcome = match (malformed_id(mutation), done.get(&key)) {
                    (Some(refused), _) => refused,
                    (None, Some(outcome)) => outcome.clone(),
                    (None, None) => {
                        let outcome = decide(&db, session, &user, mutation).await?;
                        record(
                            &db,
                            session,
                            &key,
                            &user,
                            &client_id,
                            mutation.mutation_id,
                            &outcome,
                        )
                        .await?;
                        if matches!(mutation.collection.as_str(), "teams" | "projects") {
                            db.forget_team_access();
                        }
                        done.insert(key, outcome.clone());
                        outcome
                    }
                };
                results.push(MutationResult {
                    mutation_id: mutation.mutation_id,
                    outcome,
                });
            }
            db.flush(session).await?;
            Ok(results)
        })
    })
    .await
}

/// The recorded results of the mutations with these keys, with one query.
async fn recorded_all(
    db: &Db,
    session: &mut ClientSession,
    keys: &[String],
) -> Result<HashMap<String, MutationOutcome>, ServerError> {
    let mut found = HashMap::new();
    let mut cursor = db
        .db
        .collection::<Document>(MUTATIONS)
        .find(doc! { "_id": { "$in": keys } })
        .session(&mut *session)
        .await?;
    while let Some(done) = cursor.next(&mut *session).await.transpose()? {
        if let Ok(key) = done.get_str("_id") {
            let key = key.to_owned();
            found.insert(key, stored_outcome(&done)?);
        }
    }
    Ok(found)
}

/// The answer to a mutation id that cannot be recorded, if it is one.
fn malformed_id(mutation: &Mutation) -> Option<MutationOutcome> {
    (mutation.mutation_id == 0 || i64::try_from(mutation.mutation_id).is_err()).then(|| {
        reject(
            RejectReason::Malformed,
            "mutation_id must be a positive integer below 2^63",
        )
    })
}

/// Applies one mutation inside the caller's transaction and records its
/// answer, or returns the answer recorded when it was applied before.
async fn apply_in(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    client_id: &str,
    mutation: &Mutation,
) -> Result<MutationOutcome, ServerError> {
    let key = mutation_key(user, client_id, mutation.mutation_id);
    if let Some(done) = recorded(db, session, &key).await? {
        return Ok(done);
    }
    let outcome = decide(db, session, user, mutation).await?;
    record(
        db,
        session,
        &key,
        user,
        client_id,
        mutation.mutation_id,
        &outcome,
    )
    .await?;
    Ok(outcome)
}

/// Applies one mutation in a transaction of its own (or returns its first
/// result if it was applied before).
async fn apply(
    db: &Db,
    user: &str,
    client_id: &str,
    mutation: &Mutation,
) -> Result<MutationResult, ServerError> {
    let (owned_db, user, client_id, owned_mutation) = (
        db.clone(),
        user.to_owned(),
        client_id.to_owned(),
        mutation.clone(),
    );
    let outcome = db
        .transaction(move |session| {
            let (db, user, client_id, mutation) = (
                owned_db.clone(),
                user.clone(),
                client_id.clone(),
                owned_mutation.clone(),
            );
            Box::pin(async move { apply_in(&db, session, &user, &client_id, &mutation).await })
        })
        .await?;
    Ok(MutationResult {
        mutation_id: mutation.mutation_id,
        outcome,
    })
}
