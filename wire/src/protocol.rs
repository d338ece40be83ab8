//! The sync protocol's messages (version 1), exactly as they cross the wire.
//!
//! Bodies are JSON. Documents inside them are MongoDB *canonical* extended
//! JSON (`{"$numberLong": "5"}`, `{"$date": {"$numberLong": "..."}}`), so every
//! BSON type survives the trip exactly and a synced document never changes
//! type on its way; every document is also validated against its model. New fields only
//! ever arrive as `Option` with `#[serde(default)]`; anything else is a new
//! protocol version. `docs/protocol.md` describes each message.

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

/// The protocol's major version: a client with another major is refused.
pub const PROTOCOL_VERSION: u32 = 1;
/// The schema version of the documents (the seed's, with `version` patched in).
pub const SCHEMA_VERSION: u32 = 1;
/// Every request carries the client's protocol major in this header.
pub const PROTOCOL_HEADER: &str = "x-promptforge-protocol";

/// Carries a BSON document as canonical extended JSON.
pub mod ext_json {
    use super::*;
    use serde::{de::Error as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(doc: &Document, serializer: S) -> Result<S::Ok, S::Error> {
        Bson::Document(doc.clone())
            .into_canonical_extjson()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Document, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        match Bson::try_from(value).map_err(D::Error::custom)? {
            Bson::Document(doc) => Ok(doc),
            other => Err(D::Error::custom(format!("expected an object, got {other}"))),
        }
    }
}

/// Like [`ext_json`], for an optional document.
pub mod ext_json_opt {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        doc: &Option<Document>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match doc {
            Some(doc) => super::ext_json::serialize(doc, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Document>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::ext_json")] Document);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeRequest {
    /// A stable id the desktop generated for itself (one per profile).
    pub client_id: String,
    pub protocol_version: u32,
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Every mutation id up to this one has been answered and will never be
    /// sent again, so the server may forget those answers once they are old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_mutation_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeResponse {
    /// The signed-in user, from the verified token.
    pub user_id: String,
    pub protocol_version: u32,
    pub schema_version: u32,
    /// Collections this server syncs, in pull order.
    pub collections: Vec<String>,
    /// The highest mutation id the server has applied for this client, so a
    /// client that lost its outbox bookkeeping can resume numbering after it.
    pub last_mutation_id: u64,
}

/// What a mutation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MutationOp {
    /// A new document; `base_version` is 0.
    Create {
        #[serde(with = "ext_json")]
        document: Document,
    },
    /// Changed fields (dotted paths allowed) and the values those fields had
    /// at `base_version`, for the server's three-way merge.
    Patch {
        #[serde(with = "ext_json")]
        changes: Document,
        #[serde(with = "ext_json")]
        base: Document,
    },
    /// A soft delete. Refused as a conflict when the document changed since
    /// `base_version`: an edit made elsewhere is never silently deleted.
    Delete,
    /// Brings a deleted document back, then applies `changes` as a patch
    /// would (the edit that met a delete and was kept).
    Restore {
        #[serde(with = "ext_json")]
        changes: Document,
        #[serde(with = "ext_json")]
        base: Document,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mutation {
    /// Monotonic per client; the server applies each one at most once.
    pub mutation_id: u64,
    pub collection: String,
    pub id: String,
    /// The document's `version` the client edited; 0 for a create.
    pub base_version: i64,
    #[serde(flatten)]
    pub op: MutationOp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub client_id: String,
    pub mutations: Vec<Mutation>,
}

/// A field both sides changed, and how it was settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    pub field: String,
    /// The value now stored.
    pub kept: serde_json::Value,
    /// The value that lost (canonical extended JSON, as is `kept`; `null`
    /// when absent).
    pub lost: serde_json::Value,
    /// Which side won and why, e.g. `server_wins` or `client_wins`.
    pub resolution: String,
    /// Where the losing value was kept, e.g. a prompt_versions id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_saved_as: Option<String>,
}

/// Why a mutation was refused; refusals are permanent for that mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The document breaks the schema.
    Invalid,
    /// Not the user's to write.
    Forbidden,
    /// Only the server writes this field.
    ServerOwnedField,
    /// This collection is not written by clients, or not with this operation.
    NotWritable,
    UnknownCollection,
    NotFound,
    AlreadyExists,
    /// The mutation is malformed (e.g. create with a non-zero base_version).
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MutationOutcome {
    /// Applied as sent: the document as now stored.
    Applied {
        version: i64,
        #[serde(with = "ext_json")]
        document: Document,
    },
    /// The base was stale; a three-way merge produced this document.
    Merged {
        version: i64,
        #[serde(with = "ext_json")]
        document: Document,
        conflicts: Vec<FieldConflict>,
    },
    /// Not applied: the edit met a state it cannot merge into (the document
    /// was deleted). The server's document is returned for the client to decide.
    Conflict {
        reason: String,
        #[serde(with = "ext_json")]
        server_document: Document,
    },
    Rejected {
        reason: RejectReason,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutationResult {
    pub mutation_id: u64,
    #[serde(flatten)]
    pub outcome: MutationOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// One per mutation, in request order.
    pub results: Vec<MutationResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub collection: String,
    /// The last `seq` the client applied for this collection; 0 at first.
    pub checkpoint: i64,
    /// Page size cap in bytes of documents (the server clamps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Every collection of a pull phase in one request: pages in pull order,
/// within one byte budget, each with its own checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullAllRequest {
    /// Collection name to the client's checkpoint for it (0 at first).
    pub checkpoints: std::collections::BTreeMap<String, i64>,
    /// Byte cap for all pages together (the server clamps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// `false`: a page cut short is not counted (its `remaining_estimate`
    /// is 1), for a client that counted before its pull phase. Counting
    /// what is left on every page costs the database a walk over all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_remaining: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullAllResponse {
    /// One page per collection that had changes, in pull order; a
    /// collection that is absent has nothing new (or, with `has_more`, was
    /// not reached).
    pub pages: Vec<PullResponse>,
    /// Collections whose checkpoint is older than deletions the server
    /// has since purged: pull each on its own from 0 (see
    /// `checkpoint_expired`). No page is sent for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<String>,
    /// Ask again with the new checkpoints.
    pub has_more: bool,
    /// The server's watermark when it began this answer: with `has_more`
    /// false, every change numbered at or below it in the asked collections
    /// (but the `expired` ones) has been sent. A live hint at or below it
    /// needs no pull. Absent from servers before the live channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<i64>,
}

/// How many changes wait after the client's checkpoints, per collection:
/// asked once before a pull phase, so progress has one total for the whole
/// phase instead of one per collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountRequest {
    /// Collection name to the client's checkpoint for it.
    pub checkpoints: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountResponse {
    /// Collection name to the changes (documents and `left_scope` notices)
    /// after its checkpoint, as of the count.
    pub remaining: std::collections::BTreeMap<String, u64>,
}

/// One change in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: i64,
    pub id: String,
    /// The document as stored; a tombstone has `deleted_at` set. Only
    /// `{"_id": ...}` when `left_scope` is set.
    #[serde(with = "ext_json")]
    pub document: Document,
    /// The document is no longer visible to this user (they were removed
    /// from its sharing list): remove the local copy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub left_scope: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    pub collection: String,
    pub changes: Vec<Change>,
    /// The checkpoint to send next time.
    pub checkpoint: i64,
    pub has_more: bool,
    /// How many changes remain after this page (for progress bars).
    pub remaining_estimate: u64,
}

/// The live channel, `GET /v1/live`: a server-sent event stream on which the
/// server tells a client, within milliseconds of a commit, that documents in
/// its scope moved past a checkpoint. The client then pulls as usual; a hint
/// carries no documents, so a missed or coalesced one costs only latency.
pub const LIVE_PATH: &str = "/v1/live";

/// One event of the live channel: the SSE `event:` line names it
/// ([`LiveEvent::name`]) and its `data:` line is the JSON of its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// First on every channel: the current watermark and how often the
    /// server sends a heartbeat (an SSE comment) when nothing moves.
    Ready(LiveReady),
    /// Documents in the user's scope were numbered up to `through`. Hints
    /// are coalesced: a client that reads slowly gets the latest one only.
    Changed(LiveChanged),
    /// The channel's token has expired; the server closes the channel next.
    /// Reconnect with a fresh token.
    TokenExpired(LiveClosing),
    /// Who has a prompt open now, sent to everyone who has it open (see
    /// [`crate::presence`]). Coalesced per prompt: a slow reader gets the
    /// latest state of each.
    Presence(crate::presence::PresenceState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveReady {
    pub through: i64,
    pub heartbeat_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveChanged {
    pub through: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveClosing {
    pub message: String,
}

impl LiveEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Ready(_) => "ready",
            LiveEvent::Changed(_) => "changed",
            LiveEvent::TokenExpired(_) => "token_expired",
            LiveEvent::Presence(_) => "presence",
        }
    }

    /// The SSE `data:` line.
    pub fn data(&self) -> String {
        let json = match self {
            LiveEvent::Ready(ready) => serde_json::to_string(ready),
            LiveEvent::Changed(changed) => serde_json::to_string(changed),
            LiveEvent::TokenExpired(closing) => serde_json::to_string(closing),
            LiveEvent::Presence(state) => serde_json::to_string(state),
        };
        // Plain structs of numbers and strings always serialize.
        json.unwrap_or_default()
    }

    /// The event named `name` with `data`; `Ok(None)` for an event this
    /// client does not know (later servers may add some).
    pub fn parse(name: &str, data: &str) -> Result<Option<LiveEvent>, serde_json::Error> {
        Ok(Some(match name {
            "ready" => LiveEvent::Ready(serde_json::from_str(data)?),
            "changed" => LiveEvent::Changed(serde_json::from_str(data)?),
            "token_expired" => LiveEvent::TokenExpired(serde_json::from_str(data)?),
            "presence" => LiveEvent::Presence(serde_json::from_str(data)?),
            _ => return Ok(None),
        }))
    }
}

/// Error body of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No, malformed, expired or wrongly signed token.
    Unauthenticated,
    /// The client speaks another protocol major: upgrade the app.
    UpgradeRequired,
    BadRequest,
    PayloadTooLarge,
    /// No such route (or not with this method), or no such document the
    /// user can read (presence).
    NotFound,
    /// The user may read the document but not do this to it (a soft lock
    /// on a prompt they cannot edit).
    Forbidden,
    UnknownCollection,
    /// The pull's checkpoint is older than deletions the server has since
    /// purged: pull the collection again from checkpoint 0 and remove the
    /// local copies that pull does not send (keeping unsynced edits).
    CheckpointExpired,
    /// The user already holds as many live channels on this server as it
    /// allows (`GET /v1/live`, 429): close one, or poll.
    TooManyConnections,
    /// MongoDB was unreachable or failed; retrying may help.
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Whether sending the same request later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Unavailable | ErrorCode::Internal)
    }
}
