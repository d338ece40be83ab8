//! The one error every command returns to the UI: `{code, message}`. The
//! code is stable for the UI to branch on; the message is a sentence a person
//! can act on. Conversions from the library's typed errors live here.

use promptforge_sync::engine::account::AuthError;
use promptforge_sync::engine::{SyncErrorCode, TransportError};
use promptforge_sync::{StoreError, SyncError};
use promptforge_wire::market::MarketRefusal;
use promptforge_wire::share::ShareRefusal;
use promptforge_wire::teams::TeamRefusal;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[error("{message}")]
pub struct AppError {
    pub code: AppErrorCode,
    pub message: String,
}

/// Every code a command can fail with: the app's own, the sync engine's and
/// the marketplace's refusals, serialised as one flat string
/// (`"not_found"`, `"offline"`, `"insufficient_credits"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum AppErrorCode {
    /// Input that cannot be used as it is; the message says which.
    Invalid,
    NotFound,
    AlreadyExists,
    /// The document is in the trash.
    Deleted,
    /// A restore of what is not in the trash.
    NotDeleted,
    NotAllowed,
    /// The library is open in another PromptForge process.
    ProfileLocked,
    ImportRejected,
    /// The local store or a file of the app failed.
    Storage,
    /// An online action asked of a library that is not signed in.
    LocalOnly,
    /// The app is shutting down or switching libraries.
    Closed,
    /// Settings are missing for what was asked (server URL, API key).
    NotConfigured,
    /// A bug: the message says what could not be done.
    Internal,
    #[serde(untagged)]
    Sync(SyncErrorCode),
    #[serde(untagged)]
    Market(MarketRefusal),
    #[serde(untagged)]
    Team(TeamRefusal),
    #[serde(untagged)]
    Share(ShareRefusal),
}

impl AppError {
    pub fn new(code: AppErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            code,
            message: message.into(),
        }
    }

    /// Input the UI sent that cannot be used as it is.
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(AppErrorCode::Invalid, message)
    }

    /// An online action asked of a library that is not signed in.
    pub fn local_only() -> AppError {
        AppError::new(
            AppErrorCode::LocalOnly,
            "This library is not signed in to a sync server. Sign in under Settings to use the marketplace and sync.",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> AppError {
        let code = match &err {
            StoreError::Invalid(_)
            | StoreError::TooLarge { .. }
            | StoreError::SetOnCreate { .. }
            | StoreError::BadField { .. } => AppErrorCode::Invalid,
            StoreError::NotFound { .. } | StoreError::NoSuchRecord { .. } => AppErrorCode::NotFound,
            StoreError::AlreadyExists { .. } => AppErrorCode::AlreadyExists,
            StoreError::Deleted { .. } => AppErrorCode::Deleted,
            StoreError::NotDeleted { .. } => AppErrorCode::NotDeleted,
            StoreError::NotAllowed { .. }
            | StoreError::ReadOnlyField { .. }
            | StoreError::NotCreatable { .. } => AppErrorCode::NotAllowed,
            StoreError::ProfileLocked { .. } => AppErrorCode::ProfileLocked,
            StoreError::OtherAccount { .. } => AppErrorCode::Sync(SyncErrorCode::OtherAccount),
            StoreError::Import(_) => AppErrorCode::ImportRejected,
            StoreError::Io { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Storage(_)
            | StoreError::Closed => AppErrorCode::Storage,
        };
        if code == AppErrorCode::Storage {
            tracing::error!(error = %err, "local store failure");
        }
        AppError::new(code, err.to_string())
    }
}

impl From<TransportError> for AppError {
    fn from(err: TransportError) -> AppError {
        AppError::new(AppErrorCode::Sync(err.code()), err.to_string())
    }
}

impl From<SyncError> for AppError {
    fn from(err: SyncError) -> AppError {
        match err {
            SyncError::Store(store) => store.into(),
            other => AppError::new(AppErrorCode::Sync(other.code()), other.to_string()),
        }
    }
}

impl From<AuthError> for AppError {
    fn from(err: AuthError) -> AppError {
        AppError::new(AppErrorCode::Sync(err.code()), err.to_string())
    }
}

impl From<bson::ser::Error> for AppError {
    fn from(err: bson::ser::Error) -> AppError {
        AppError::new(
            AppErrorCode::Internal,
            format!("cannot prepare the answer: {err}"),
        )
    }
}

pub type AppResult<T> = Result<T, AppError>;
