//! The server's errors and how each becomes an HTTP response `{code, message}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use promptforge_wire::protocol::{ErrorBody, ErrorCode};
use promptforge_wire::schema::Collection;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("this app speaks sync protocol {client}; the server speaks {server}: update the app")]
    UpgradeRequired { client: u32, server: u32 },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A document the server was about to store breaks the schema.
    #[error(transparent)]
    Schema(#[from] promptforge_wire::codec::SchemaError),
    #[error("unknown collection `{0}`")]
    UnknownCollection(String),
    /// A pull from before the collection's purge horizon.
    #[error("{0}")]
    CheckpointExpired(String),
    /// A live channel over the per-user cap.
    #[error("{0}")]
    TooManyConnections(String),
    #[error("no route {0}")]
    NoRoute(String),
    /// No such document that the user can read.
    #[error("{0}")]
    NotFound(String),
    /// The user may read the document but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} is not allowed on this route")]
    MethodNotAllowed(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// A stored document lacks what the marketplace must read from it.
    #[error(transparent)]
    Stored(#[from] StoredError),
}

/// A stored document the server cannot do its sums with. Reading a missing
/// balance as 0 would mint or burn credits, so the request fails instead.
/// The message names the document and the field, never a value: it reaches
/// the client.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("{collection} document `{id}` has no `{field}`")]
    MissingField {
        collection: Collection,
        id: String,
        field: &'static str,
    },
    #[error("{collection} document `{id}` does not hold {what} in the schema's types")]
    Unreadable {
        collection: Collection,
        id: String,
        what: &'static str,
    },
}

/// Server error codes MongoDB answers for conditions that pass: elections,
/// shutdowns, network trouble, time limits and write conflicts.
const TRANSIENT_CODES: &[i32] = &[
    6, 7, 24, 50, 89, 91, 112, 189, 225, 251, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

/// The server error code of a database error, if it carries one.
pub fn mongo_code(err: &mongodb::error::Error) -> Option<i32> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match err.kind.as_ref() {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => Some(e.code),
        _ => None,
    }
}

impl ServerError {
    /// Whether the same request may succeed later: the database was
    /// unreachable, busy or changing primaries. Everything else fails the
    /// same way every time.
    pub fn is_retryable(&self) -> bool {
        use mongodb::error::{ErrorKind, WriteFailure};
        match self {
            ServerError::Unavailable(_) | ServerError::Auth(crate::auth::AuthError::Keys(_)) => {
                true
            }
            ServerError::Mongo(err) => {
                if err.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
                    || err.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    || err.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
                {
                    return true;
                }
                match err.kind.as_ref() {
                    // The document itself was refused.
                    ErrorKind::Write(WriteFailure::WriteError(_)) => false,
                    // Some of the documents themselves were refused (a
                    // batch's inserts go out together).
                    ErrorKind::InsertMany(e) => e.write_errors.as_ref().is_none_or(|errors| {
                        errors.iter().all(|e| TRANSIENT_CODES.contains(&e.code))
                    }),
                    ErrorKind::Command(e) => TRANSIENT_CODES.contains(&e.code),
                    ErrorKind::InvalidArgument { .. } | ErrorKind::BsonSerialization(_) => false,
                    // Network, I/O, server selection, write concern: passes.
                    _ => true,
                }
            }
            _ => false,
        }
    }

    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            // The keys could not be fetched: the token may be fine.
            ServerError::Auth(crate::auth::AuthError::Keys(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            ServerError::Auth(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            ServerError::NoRoute(_) | ServerError::NotFound(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            ServerError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ServerError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::NotFound)
            }
            ServerError::UpgradeRequired { .. } => {
                (StatusCode::UPGRADE_REQUIRED, ErrorCode::UpgradeRequired)
            }
            ServerError::BadRequest(_) | ServerError::Schema(_) => {
                (StatusCode::BAD_REQUEST, ErrorCode::BadRequest)
            }
            ServerError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            ServerError::UnknownCollection(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::UnknownCollection)
            }
            ServerError::CheckpointExpired(_) => (StatusCode::GONE, ErrorCode::CheckpointExpired),
            ServerError::TooManyConnections(_) => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyConnections)
            }
            ServerError::Unavailable(_) | ServerError::Mongo(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            // Stored data the server cannot trust is the server's fault,
            // not the request's.
            ServerError::Config(_) | ServerError::Internal(_) | ServerError::Stored(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        }
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        // Database errors can carry document contents: the client gets the kind only.
        let message = match &self {
            ServerError::Mongo(_) => "the database failed; try again".to_owned(),
            other => other.to_string(),
        };
        (status, Json(ErrorBody { code, message })).into_response()
    }
}
