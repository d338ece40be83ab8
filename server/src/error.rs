//! The server's errors and how each becomes an HTTP response `{code, message}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use promptforge_wire::protocol::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("this app speaks sync protocol {client}; the server speaks {server}: update the app")]
    UpgradeRequired { client: u32, server: u32 },
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown collection `{0}`")]
    UnknownCollection(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServerError {
    fn parts(&self) -> (StatusCode, ErrorCode) {
        match self {
            ServerError::Auth(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            ServerError::UpgradeRequired { .. } => {
                (StatusCode::UPGRADE_REQUIRED, ErrorCode::UpgradeRequired)
            }
            ServerError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ServerError::UnknownCollection(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::UnknownCollection)
            }
            ServerError::Unavailable(_) | ServerError::Mongo(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable)
            }
            ServerError::Config(_) | ServerError::Internal(_) => {
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
