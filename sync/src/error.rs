//! The store's typed errors. Each says what was wrong in words a person can act
//! on, and whether the same call could succeed later.

use std::path::PathBuf;

use crate::schema::{Collection, ValidationError};
use promptforge_wire::codec::SchemaError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{collection} document `{id}` was not found")]
    NotFound { collection: Collection, id: String },
    #[error("{collection} document `{id}` already exists")]
    AlreadyExists { collection: Collection, id: String },
    #[error("{collection} document `{id}` is deleted; restore it first")]
    Deleted { collection: Collection, id: String },
    #[error("{collection} document `{id}` is not deleted")]
    NotDeleted { collection: Collection, id: String },
    #[error("{collection} documents cannot be {action}: {reason}")]
    NotAllowed {
        collection: Collection,
        action: &'static str,
        reason: &'static str,
    },
    #[error("{collection}.{field} cannot be changed directly: {reason}")]
    ReadOnlyField {
        collection: Collection,
        field: String,
        reason: &'static str,
    },
    /// A kind of document nobody creates by hand (a prompt version, a
    /// purchase, a user): the store or the server records it.
    #[error("{collection} cannot be created from the app")]
    NotCreatable { collection: Collection },
    /// A new document's field the store decides (its id, owner or version).
    #[error("{field} is set by the app and cannot be given for a new document")]
    SetOnCreate { field: &'static str },
    /// A new document's field path that cannot be set, and why.
    #[error("{path}: {reason}")]
    BadField { path: String, reason: String },
    #[error("{collection} document `{id}` is {size} bytes; MongoDB's limit is 16 MiB")]
    TooLarge {
        collection: Collection,
        id: String,
        size: usize,
    },
    #[error("the profile at {} is open in another PromptForge process; close it first", path.display())]
    ProfileLocked { path: PathBuf },
    #[error("cannot use profile directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("import rejected, nothing was written: {0}")]
    Import(#[source] Box<ImportProblem>),
    #[error("stored {collection} document `{id}` cannot be read: {source}")]
    Corrupt {
        collection: Collection,
        id: String,
        #[source]
        source: Box<ValidationError>,
    },
    /// The storage engine failed (disk full, corrupt files, ...). Its type
    /// stays private to the store, which is the only code that knows PoloDB.
    #[error("storage engine error: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("there is no {what} `{id}`")]
    NoSuchRecord { what: &'static str, id: String },
    #[error("this profile syncs with account `{attached}`, not `{requested}`; use another profile for that account")]
    OtherAccount { attached: String, requested: String },
    #[error("the store has shut down")]
    Closed,
}

impl From<SchemaError> for StoreError {
    fn from(err: SchemaError) -> Self {
        match err {
            SchemaError::Invalid(invalid) => StoreError::Invalid(invalid),
            SchemaError::TooLarge {
                collection,
                id,
                size,
            } => StoreError::TooLarge {
                collection,
                id,
                size,
            },
        }
    }
}

impl StoreError {
    /// Whether the same call might succeed if tried again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::ProfileLocked { .. } | StoreError::Storage(_)
        )
    }
}

/// What made an import file unusable, and where in it.
#[derive(Debug, thiserror::Error)]
pub enum ImportProblem {
    #[error("not a PromptForge export: {0}")]
    Format(String),
    #[error("unknown collection `{0}`")]
    UnknownCollection(String),
    #[error("{collection}[{index}]: {source}")]
    Document {
        collection: Collection,
        index: usize,
        #[source]
        source: Box<StoreError>,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
