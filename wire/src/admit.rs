//! The sync server's gate: every document it stores passes [`admit`], whether
//! it came from a create, a patch, a restore, a merge or a marketplace flow.
//!
//! Beyond the model's own validation, `admit` refuses what a lenient decode
//! would let through and what MongoDB cannot take back in a later write:
//! keys that are empty, start with `$` or contain `.` (at any depth, not only
//! in free-form objects), nesting deeper than [`MAX_DEPTH`], and fields the
//! schema does not know at any level it types. What was already stored is
//! judged leniently, so no stored document ends up in a state where every
//! write to it fails: unknown fields the stored copy already had (written by
//! another backend) are kept as they were, and stored keys no write can carry
//! are dropped instead of failing the write.
//!
//! Only an [`Admitted`] document can be written by the server, so skipping
//! the gate is a type error, not a review finding.

use bson::{Bson, Document};

use crate::codec::{canonicalize_in, SchemaError};
use crate::schema::{with_model, Collection, FieldProblem, Model, ValidationError};

/// The deepest nesting of objects and arrays a new value may have. MongoDB
/// refuses documents nested 100 levels deep; the seed's deepest typed field
/// is four levels down, so this leaves free-form objects room to spare.
pub const MAX_DEPTH: usize = 32;

/// A document that passed [`admit`]: canonical and storable.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted(Document);

impl Admitted {
    pub fn document(&self) -> &Document {
        &self.0
    }

    pub fn into_document(self) -> Document {
        self.0
    }
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn display(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

fn lookup<'a>(doc: &'a Document, path: &[Step]) -> Option<&'a Bson> {
    let (Step::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut value = doc.get(first)?;
    for step in rest {
        value = match (step, value) {
            (Step::Key(key), Bson::Document(inner)) => inner.get(key)?,
            (Step::Index(i), Bson::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Checks `candidate` for a write of `collection` that replaces `stored`
/// (`None` for a new document) and returns its canonical form.
pub fn admit(
    collection: Collection,
    mut candidate: Document,
    stored: Option<&Document>,
) -> Result<Admitted, SchemaError> {
    let invalid = |problems: Vec<FieldProblem>| {
        SchemaError::Invalid(ValidationError {
            collection,
            problems,
        })
    };
    let mut problems = Vec::new();
    check_keys(&mut candidate, stored, &mut Vec::new(), &mut problems);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    for path in unknown_fields(collection, &candidate)? {
        let kept = stored.is_some_and(|s| lookup(s, &path) == lookup(&candidate, &path));
        if !kept {
            problems.push(FieldProblem {
                field: display(&path),
                message: format!("is not a field of {collection} in schema version 1"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let canonical = canonicalize_in(collection, candidate)?;
    Ok(Admitted(canonical))
}

fn bad_key(key: &str) -> bool {
    key.is_empty() || key.starts_with('$') || key.contains('.') || key.contains('\0')
}

/// Walks `doc` (at `path` below the root), refusing malformed keys and deep
/// nesting in anything new; `stored` is the same place in the stored copy.
fn check_keys(
    doc: &mut Document,
    stored: Option<&Document>,
    path: &mut Vec<Step>,
    problems: &mut Vec<FieldProblem>,
) {
    let mut dropped = Vec::new();
    for (key, value) in doc.iter_mut() {
        let old = stored.and_then(|s| s.get(key));
        let unchanged = old == Some(value);
        path.push(Step::Key(key.clone()));
        if bad_key(key) {
            if unchanged {
                // Stored by someone else; MongoDB will not take it back.
                dropped.push(key.clone());
            } else {
                problems.push(FieldProblem {
                    field: display(path),
                    message: "a key must not be empty, start with `$` or contain `.`".into(),
                });
            }
        } else {
            check_value(value, old, path, problems);
        }
        path.pop();
    }
    for key in dropped {
        doc.remove(&key);
    }
}

fn check_value(
    value: &mut Bson,
    old: Option<&Bson>,
    path: &mut Vec<Step>,
    problems: &mut Vec<FieldProblem>,
) {
    let unchanged = old == Some(&*value);
    if !unchanged && matches!(value, Bson::Document(_) | Bson::Array(_)) && path.len() >= MAX_DEPTH
    {
        problems.push(FieldProblem {
            field: display(path),
            message: format!("is nested deeper than {MAX_DEPTH} levels"),
        });
        return;
    }
    match value {
        Bson::Document(inner) => {
            let old = match old {
                Some(Bson::Document(o)) => Some(o),
                _ => None,
            };
            check_keys(inner, old, path, problems);
        }
        Bson::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let old = match old {
                    Some(Bson::Array(o)) => o.get(i),
                    _ => None,
                };
                path.push(Step::Index(i));
                check_value(item, old, path, problems);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The paths in `doc` that `collection`'s model does not read.
fn unknown_fields(collection: Collection, doc: &Document) -> Result<Vec<Vec<Step>>, SchemaError> {
    fn ignored<T: Model>(doc: &Document) -> Result<Vec<Vec<Step>>, SchemaError> {
        let mut found = Vec::new();
        let deserializer = bson::Deserializer::new(Bson::Document(doc.clone()));
        let decoded: Result<T, _> = serde_ignored::deserialize(deserializer, |path| {
            let mut steps = Vec::new();
            steps_of(&path, &mut steps);
            found.push(steps);
        });
        match decoded {
            Ok(_) => Ok(found),
            // The model's own decode names the field at fault.
            Err(_) => crate::codec::decode::<T>(doc.clone())
                .map(|_| found)
                .map_err(SchemaError::Invalid),
        }
    }
    with_model!(collection, T => ignored::<T>(doc))
}

fn steps_of(path: &serde_ignored::Path<'_>, out: &mut Vec<Step>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            steps_of(parent, out);
            out.push(Step::Index(*index));
        }
        Path::Map { parent, key } => {
            steps_of(parent, out);
            out.push(Step::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => steps_of(parent, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Prompt;
    use bson::doc;

    fn prompt() -> Document {
        let mut prompt = Prompt::new("ada", "Title", "Body");
        prompt.id = "p1".into();
        bson::to_document(&prompt).expect("encode")
    }

    fn fields(err: SchemaError) -> Vec<String> {
        match err {
            SchemaError::Invalid(e) => e.problems.into_iter().map(|p| p.field).collect(),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_valid_document_is_admitted_in_canonical_form() {
        let admitted = admit(Collection::Prompts, prompt(), None).expect("admitted");
        assert_eq!(admitted.document().get_str("title"), Ok("Title"));
    }

    #[test]
    fn unknown_fields_are_refused_at_every_level() {
        let mut doc = prompt();
        doc.insert("blob", "x".repeat(10_000));
        doc.insert("performance", doc! { "rating": 1.0, "secret": 1 });
        doc.insert(
            "collaboration",
            doc! { "allowed_users": [], "extra": { "a": 1 } },
        );
        let mut found = fields(admit(Collection::Prompts, doc, None).expect_err("refused"));
        found.sort();
        assert_eq!(found, ["blob", "collaboration.extra", "performance.secret"]);
    }

    #[test]
    fn operator_dotted_and_empty_keys_are_refused_anywhere() {
        for key in ["$set", "a.b", ""] {
            let mut top = prompt();
            top.insert(key, 1);
            assert!(admit(Collection::Prompts, top, None).is_err(), "{key:?}");
            let mut nested = prompt();
            nested.insert("ai_metadata", doc! { "parameters": { key: 1 } });
            assert!(admit(Collection::Prompts, nested, None).is_err(), "{key:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut value = Bson::Int32(1);
        for _ in 0..103 {
            value = Bson::Document(doc! { "n": value });
        }
        let mut doc = prompt();
        doc.insert("ai_metadata", doc! { "parameters": { "deep": value } });
        let found = fields(admit(Collection::Prompts, doc, None).expect_err("refused"));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("ai_metadata.parameters.deep.n"),
            "{found:?}"
        );
        let mut shallow = prompt();
        shallow.insert(
            "ai_metadata",
            doc! { "parameters": { "a": { "b": [ { "c": 1 } ] } } },
        );
        admit(Collection::Prompts, shallow, None).expect("a few levels are fine");
    }

    #[test]
    fn what_was_stored_is_kept_or_dropped_never_blocks_a_write() {
        let mut stored = prompt();
        stored.insert("legacy_field", "from another backend");
        stored.insert("$poison", 1);
        let mut candidate = stored.clone();
        candidate.insert("title", "New title");
        let admitted = admit(Collection::Prompts, candidate, Some(&stored)).expect("admitted");
        assert_eq!(
            admitted.document().get_str("legacy_field"),
            Ok("from another backend")
        );
        assert!(!admitted.document().contains_key("$poison"));
        // But a changed unknown field is the client's, and refused.
        let mut changed = stored.clone();
        changed.insert("legacy_field", "edited");
        assert!(admit(Collection::Prompts, changed, Some(&stored)).is_err());
    }

    #[test]
    fn datetimes_and_free_form_objects_are_known() {
        let mut doc = prompt();
        doc.insert("deleted_at", bson::DateTime::now());
        doc.insert(
            "ai_metadata",
            doc! { "parameters": { "temperature": 0.2, "nested": { "any": [1, 2] } } },
        );
        admit(Collection::Prompts, doc, None).expect("admitted");
    }
}
