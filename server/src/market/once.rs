//! Exactly-once marketplace requests: the first completed answer to an
//! idempotency key is stored in the transaction that made its writes, so a
//! request resent after a lost answer changes nothing more.

use bson::{doc, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::market::MarketOutcome;

use super::write::internal;
use crate::db::Db;
use crate::error::ServerError;

/// Answers of marketplace requests sent with an idempotency key, by
/// `user:kind:idempotency_key`.
pub const MARKET_REQUESTS: &str = "market_requests";

/// Runs `decide` once per `user:kind:key`: a completed answer is stored with
/// the writes it made (and the request it answered), and any later request
/// with the key gets it back; the key is refused for a different request.
pub(super) async fn once<'a, F>(
    db: &'a Db,
    session: &'a mut ClientSession,
    user: &str,
    kind: &str,
    (key, request): (&str, &(impl serde::Serialize + Sync)),
    decide: F,
) -> Result<MarketOutcome, ServerError>
where
    F: for<'s> FnOnce(
        &'s mut ClientSession,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<MarketOutcome, ServerError>> + Send + 's>,
    >,
{
    if key.is_empty() || key.len() > 128 {
        return Err(ServerError::BadRequest(
            "idempotency_key must be 1-128 characters".into(),
        ));
    }
    let fingerprint = serde_json::to_string(request).map_err(internal)?;
    let fingerprint = fingerprint.as_str();
    let id = format!("{user}:{kind}:{key}");
    let requests = db.db.collection::<Document>(MARKET_REQUESTS);
    if let Some(done) = requests
        .find_one(doc! { "_id": &id })
        .session(&mut *session)
        .await?
    {
        if done.get_str("request") != Ok(fingerprint) {
            return Err(ServerError::BadRequest(
                "this idempotency_key was already used for a different request".into(),
            ));
        }
        let stored = done.get_str("outcome").map_err(internal)?;
        return serde_json::from_str(stored).map_err(internal);
    }
    let outcome = decide(session).await?;
    // Only what was done is remembered: a refusal changed nothing, so the
    // same request may be tried again (after topping up credits, say).
    if matches!(outcome, MarketOutcome::Done { .. }) {
        let record = doc! {
            "_id": &id,
            "user_id": user,
            "kind": kind,
            "request": fingerprint,
            "outcome": serde_json::to_string(&outcome).map_err(internal)?,
            "at": DateTime::now(),
        };
        requests.insert_one(record).session(&mut *session).await?;
    }
    Ok(outcome)
}
