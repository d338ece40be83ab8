//! The one error every command returns to the UI: `{code, message}`. The
//! code is stable for the UI to branch on; the message is a sentence a person
//! can act on. Conversions from the library's typed errors live here.

use promptforge_sync::engine::account::AuthError;
use promptforge_sync::engine::TransportError;
use promptforge_sync::{StoreError, SyncError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[error("{message}")]
pub struct AppError {
    pub code: String,
    pub message: String,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> AppError {
        AppError {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// Input the UI sent that cannot be used as it is.
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new("invalid", message)
    }

    /// An online action asked of a library that is not signed in.
    pub fn local_only() -> AppError {
        AppError::new(
            "local_only",
            "This library is not signed in to a sync server. Sign in under Settings to use the marketplace and sync.",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> AppError {
        let code = match &err {
            StoreError::Invalid(_) | StoreError::TooLarge { .. } => "invalid",
            StoreError::NotFound { .. } | StoreError::NoSuchRecord { .. } => "not_found",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Deleted { .. } => "deleted",
            StoreError::NotDeleted { .. } => "not_deleted",
            StoreError::NotAllowed { .. } | StoreError::ReadOnlyField { .. } => "not_allowed",
            StoreError::ProfileLocked { .. } => "profile_locked",
            StoreError::OtherAccount { .. } => "other_account",
            StoreError::Import(_) => "import_rejected",
            StoreError::Io { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Storage(_)
            | StoreError::Closed => "storage",
        };
        if code == "storage" {
            tracing::error!(error = %err, "local store failure");
        }
        AppError::new(code, err.to_string())
    }
}

impl From<TransportError> for AppError {
    fn from(err: TransportError) -> AppError {
        AppError::new(err.code(), err.to_string())
    }
}

impl From<SyncError> for AppError {
    fn from(err: SyncError) -> AppError {
        match err {
            SyncError::Store(store) => store.into(),
            other => AppError::new(other.code(), other.to_string()),
        }
    }
}

impl From<AuthError> for AppError {
    fn from(err: AuthError) -> AppError {
        AppError::new(err.code(), err.to_string())
    }
}

impl From<bson::ser::Error> for AppError {
    fn from(err: bson::ser::Error) -> AppError {
        AppError::new("internal", format!("cannot prepare the answer: {err}"))
    }
}

pub type AppResult<T> = Result<T, AppError>;
