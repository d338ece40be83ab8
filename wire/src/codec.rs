//! Conversions between typed models and BSON documents, and the one place
//! that knows which model type belongs to which collection. Both the desktop
//! store and the sync server validate every document through here.

use bson::{Bson, Document};

use crate::schema::{with_model, Collection, Model, ValidationError};

/// A document that cannot be stored: it breaks the schema or is too large.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{collection} document `{id}` is {size} bytes; MongoDB's limit is 16 MiB")]
    TooLarge {
        collection: Collection,
        id: String,
        size: usize,
    },
}

type Result<T, E = SchemaError> = std::result::Result<T, E>;

/// MongoDB refuses documents over 16 MiB; PoloDB would take them, so the store
/// enforces the limit to keep every local document syncable.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Decodes a stored document into its model, naming the field that failed.
pub fn decode<T: Model>(doc: Document) -> Result<T, ValidationError> {
    // The plain decoder is the fast path; only a failure pays for the
    // path-tracking one that names the field.
    if let Ok(model) = bson::from_document::<T>(doc.clone()) {
        return Ok(model);
    }
    let deserializer = bson::Deserializer::new(Bson::Document(doc));
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "document".to_owned()
        } else {
            path
        };
        ValidationError::single(T::COLLECTION, field, err.into_inner().to_string())
    })
}

pub fn encode<T: Model>(model: &T) -> Result<Document> {
    bson::to_document(model).map_err(|err| {
        SchemaError::Invalid(ValidationError::single(
            T::COLLECTION,
            "document",
            err.to_string(),
        ))
    })
}

/// Validates `doc` against its model and returns it in canonical form (the
/// model's field types and order, derived counts recomputed) with the decoded
/// model. Fields the model does not know are kept as they were, so documents
/// written by a newer schema survive a round trip.
pub fn canonicalize<T: Model>(doc: Document) -> Result<(Document, T)> {
    let mut model: T = decode(doc.clone())?;
    model.normalize();
    model.validate()?;
    let mut canonical = encode(&model)?;
    let fields = T::fields();
    for (key, value) in doc {
        if !fields.contains(&key.as_str()) && !canonical.contains_key(&key) {
            canonical.insert(key, value);
        }
    }
    let size = bson::to_vec(&canonical)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DOCUMENT_BYTES {
        return Err(SchemaError::TooLarge {
            collection: T::COLLECTION,
            id: model.id().to_owned(),
            size,
        });
    }
    Ok((canonical, model))
}

/// [`canonicalize`] for a collection known only at run time.
pub fn canonicalize_in(collection: Collection, doc: Document) -> Result<Document> {
    with_model!(collection, T => canonicalize::<T>(doc).map(|(canonical, _)| canonical))
}

/// Fields only the store's rules may change, for a collection.
pub fn derived_fields(collection: Collection) -> &'static [&'static str] {
    with_model!(collection, T => T::DERIVED)
}

/// The value at a dotted `path`, if every step on the way is an object.
pub fn get_path<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    match path.split_once('.') {
        None => doc.get(path),
        Some((head, rest)) => match doc.get(head) {
            Some(Bson::Document(inner)) => get_path(inner, rest),
            _ => None,
        },
    }
}

/// A document's `version`, its optimistic-concurrency token (0 when it has
/// none). One definition for both sides, so the desktop and the server never
/// disagree on which write a document has seen.
pub fn version_of(doc: &Document) -> i64 {
    whole_number(doc, "version")
}

/// The whole number in `doc`'s top-level `field` (a version, a counter),
/// whichever integer type stored it; 0 when it is missing or not a whole
/// number.
pub fn whole_number(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        // Another backend's driver may store a whole number as a double;
        // beyond 2^53 a double no longer names one integer.
        Some(Bson::Double(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => *v as i64,
        _ => 0,
    }
}

/// Whether a stored document is soft-deleted (a tombstone).
pub fn is_deleted(doc: &Document) -> bool {
    matches!(doc.get("deleted_at"), Some(Bson::DateTime(_)))
}

/// Sets `value` at a dotted `path`, creating intermediate objects; `Null`
/// removes the field instead, as an unset optional field is absent.
pub fn set_path(doc: &mut Document, path: &str, value: Bson) -> Result<(), String> {
    match path.split_once('.') {
        None => {
            if value == Bson::Null {
                doc.remove(path);
            } else {
                doc.insert(path, value);
            }
            Ok(())
        }
        Some((head, rest)) => {
            let child = doc
                .entry(head.to_owned())
                .or_insert_with(|| Bson::Document(Document::new()));
            match child {
                Bson::Document(inner) => set_path(inner, rest, value),
                _ => Err(format!(
                    "`{head}` is not an object, so `{path}` cannot be set"
                )),
            }
        }
    }
}
