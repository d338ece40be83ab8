//! Usage events (`analytics_events`), recorded on this device and uploaded
//! apart from the outbox: an event waits in its own queue and enters the
//! outbox only when the outbox holds none of the user's own changes, a
//! batch at a time, so events never hold back the user's data. An event
//! past its `expires_at` is dropped, sent or not.

use bson::{doc, Bson, DateTime, Document};
use polodb_core::{CollectionT, Database};

use super::replica::{new_upload, profile_user, OUTBOX};
use super::writer::Tx;
use super::Store;
use crate::error::Result;
use crate::schema::{AnalyticsEvent, Collection, Model};
use promptforge_wire::codec::{decode, encode, whole_number};

/// Events waiting to enter the outbox: `{_id: event id, expires_at}`.
pub(crate) const EVENT_QUEUE: &str = "_event_queue";

/// What an event does to the counters of the prompt it names.
fn prompt_counter(event_type: &str) -> Option<&'static str> {
    match event_type {
        "prompt_used" | "prompt_copied" => Some("use_count"),
        "prompt_shared" => Some("share_count"),
        _ => None,
    }
}

/// Raises a prompt's `analytics` counter for a use recorded here, as the
/// server will once the event arrives; shown at once, offline too.
fn count_on_prompt(tx: &mut Tx, event: &Document) -> Result<()> {
    let event_type = event.get_str("event_type").unwrap_or_default();
    let (Some(counter), Ok(prompt_id)) = (
        prompt_counter(event_type),
        event
            .get_document("event_data")
            .and_then(|data| data.get_str("prompt_id")),
    ) else {
        return Ok(());
    };
    let Some(mut prompt) = tx.get(Collection::Prompts, prompt_id)? else {
        return Ok(());
    };
    let mut analytics = prompt
        .get_document("analytics")
        .cloned()
        .unwrap_or_default();
    let count = whole_number(&analytics, counter);
    analytics.insert(counter, count.saturating_add(1));
    if counter == "use_count" {
        analytics.insert(
            "last_used_at",
            event
                .get("timestamp")
                .cloned()
                .unwrap_or(Bson::DateTime(tx.now)),
        );
    }
    prompt.insert("analytics", analytics);
    tx.put_untracked(Collection::Prompts, prompt)
}

fn expired(expires_at: Option<&Bson>, now: DateTime) -> bool {
    matches!(expires_at, Some(Bson::DateTime(t)) if *t <= now)
}

/// Drops every expired event this device keeps, queued or not (a scan of
/// the events, so it runs at start-up, not every round); returns how many.
fn drop_expired(tx: &mut Tx) -> Result<usize> {
    let now = tx.now;
    let events = tx.raw_find(Collection::AnalyticsEvents.name(), doc! {})?;
    let mut dropped = 0;
    for event in events.iter().filter(|e| expired(e.get("expires_at"), now)) {
        let id = event.get_str("_id").unwrap_or_default().to_owned();
        tx.raw(EVENT_QUEUE).delete_one(doc! { "_id": &id })?;
        tx.remove(Collection::AnalyticsEvents, &id)?;
        dropped += 1;
    }
    Ok(dropped)
}

/// Moves up to `max` queued events, oldest first, into the outbox as
/// creates, dropping the expired ones it meets. Returns how many entered.
pub(crate) fn queue_for_upload(tx: &mut Tx, max: usize) -> Result<usize> {
    let mut queued = tx.raw_find(EVENT_QUEUE, doc! {})?;
    queued.sort_by_key(|q| q.get_datetime("at").copied().unwrap_or(DateTime::MAX));
    let mut moved = 0;
    for entry in queued {
        if moved >= max {
            break;
        }
        let id = entry.get_str("_id").unwrap_or_default().to_owned();
        tx.raw(EVENT_QUEUE).delete_one(doc! { "_id": &id })?;
        if expired(entry.get("expires_at"), tx.now) {
            tx.remove(Collection::AnalyticsEvents, &id)?;
        } else if tx.get(Collection::AnalyticsEvents, &id)?.is_some() {
            new_upload(tx, Collection::AnalyticsEvents, &id)?;
            moved += 1;
        }
    }
    Ok(moved)
}

fn count_queued(db: &Database) -> Result<u64> {
    Ok(db.collection::<Document>(EVENT_QUEUE).count_documents()?)
}

impl Store {
    /// Stores a usage event and queues it for upload, raising the counters
    /// of the prompt it is about. The caller decides whether recording is on.
    pub async fn record_event(&self, event: AnalyticsEvent) -> Result<AnalyticsEvent> {
        let mut doc = encode(&event)?;
        self.write_untracked(move |tx| {
            // Read here, not before: an account attached meanwhile renames
            // every user id in the same writer, so this one must be current.
            let user = profile_user(tx)?.unwrap_or_default();
            doc.insert("user_id", user);
            doc.insert("version", 0_i64);
            if !matches!(doc.get("timestamp"), Some(Bson::DateTime(t)) if t.timestamp_millis() > 0)
            {
                doc.insert("timestamp", tx.now);
            }
            let id = doc.get_str("_id").unwrap_or_default().to_owned();
            let at = doc
                .get("timestamp")
                .cloned()
                .unwrap_or(Bson::DateTime(tx.now));
            tx.insert_untracked(Collection::AnalyticsEvents, doc.clone())?;
            let expires_at = doc.get("expires_at").cloned().unwrap_or(Bson::Null);
            tx.raw(EVENT_QUEUE)
                .insert_one(doc! { "_id": &id, "at": at, "expires_at": expires_at })?;
            count_on_prompt(tx, &doc)?;
            Ok(doc)
        })
        .await
        .and_then(|doc| Ok(decode(doc)?))
    }

    /// Removes events past their `expires_at`; returns how many.
    pub async fn drop_expired_events(&self) -> Result<usize> {
        self.write_untracked(drop_expired).await
    }

    /// Forgets every event not yet sent (queued, or in the outbox unsent),
    /// here: what the user turning recording off expects. Events already
    /// sent and awaiting an answer are the server's already.
    pub async fn discard_unsent_events(&self) -> Result<usize> {
        self.write_untracked(|tx| {
            let mut ids: Vec<String> = tx
                .raw_find(EVENT_QUEUE, doc! {})?
                .iter()
                .filter_map(|q| q.get_str("_id").ok().map(str::to_owned))
                .collect();
            let unsent = doc! { "collection": Collection::AnalyticsEvents.name(), "sent": false };
            for entry in tx.raw_find(OUTBOX, unsent)? {
                tx.raw(OUTBOX)
                    .delete_one(doc! { "_id": entry.get_i64("_id").unwrap_or_default() })?;
                if let Ok(id) = entry.get_str("doc_id") {
                    ids.push(id.to_owned());
                }
            }
            tx.raw(EVENT_QUEUE).delete_many(doc! {})?;
            for id in &ids {
                tx.remove(Collection::AnalyticsEvents, id)?;
            }
            Ok(ids.len())
        })
        .await
    }

    /// Events recorded here and not yet handed to the outbox.
    pub async fn queued_event_count(&self) -> Result<u64> {
        self.read(count_queued).await
    }

    /// Every document of `T`'s collection matching a PoloDB `filter`
    /// (a scan unless the filter is on an indexed field).
    pub(crate) async fn find_all<T: Model>(&self, filter: Document) -> Result<Vec<T>> {
        let docs = self
            .read(move |db| {
                let mut docs = Vec::new();
                for doc in db
                    .collection::<Document>(T::COLLECTION.name())
                    .find(filter)
                    .run()?
                {
                    docs.push(doc?);
                }
                Ok(docs)
            })
            .await?;
        docs.into_iter()
            .map(|d| Ok(decode(d)?))
            .collect::<Result<Vec<T>>>()
    }
}
