//! Field-level validation: collects every problem in a document and names the
//! field each one is in, so a person can fix the input in one go.

use std::fmt;

use bson::{Bson, Document};

use super::{limits, Collection};

/// One thing wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path, e.g. `title`, `tags[3]` or `performance.rating`.
    pub field: String,
    pub message: String,
}

/// A document that breaks the schema, with every field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub collection: Collection,
    pub problems: Vec<FieldProblem>,
}

impl ValidationError {
    pub fn single(
        collection: Collection,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ValidationError {
            collection,
            problems: vec![FieldProblem {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    /// Names the fields at fault, for tests and messages.
    pub fn fields(&self) -> Vec<&str> {
        self.problems.iter().map(|p| p.field.as_str()).collect()
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} document: ", self.collection)?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", problem.field, problem.message)?;
        }
        Ok(())
    }
}

/// Accumulates problems while a model checks its fields.
#[derive(Debug)]
pub struct Check {
    collection: Collection,
    problems: Vec<FieldProblem>,
}

impl Check {
    pub fn new(collection: Collection) -> Self {
        Check {
            collection,
            problems: Vec::new(),
        }
    }

    pub fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A required text: not blank, at most `max` characters.
    pub fn required(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.fail(field, "is required and must not be blank");
        } else {
            self.max_len(field, value, max);
        }
    }

    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        let len = value.chars().count();
        if len > max {
            self.fail(
                field,
                format!("is {len} characters long; the limit is {max}"),
            );
        }
    }

    pub fn opt_text(&mut self, field: &str, value: Option<&String>, max: usize) {
        if let Some(value) = value {
            self.max_len(field, value, max);
        }
    }

    /// A document id or user id: 1-128 characters of `[A-Za-z0-9_-:.]`.
    pub fn id(&mut self, field: &str, value: &str) {
        if let Err(why) = id_problem(value) {
            self.fail(field, why);
        }
    }

    pub fn opt_id(&mut self, field: &str, value: Option<&String>) {
        if let Some(value) = value {
            self.id(field, value);
        }
    }

    pub fn ids(&mut self, field: &str, values: &[String]) {
        if values.len() > limits::ID_LIST {
            self.fail(
                field,
                format!(
                    "has {} entries; the limit is {}",
                    values.len(),
                    limits::ID_LIST
                ),
            );
        }
        for (i, value) in values.iter().enumerate() {
            self.id(&format!("{field}[{i}]"), value);
        }
    }

    pub fn tags(&mut self, field: &str, values: &[String]) {
        if values.len() > limits::TAGS {
            self.fail(
                field,
                format!("has {} tags; the limit is {}", values.len(), limits::TAGS),
            );
        }
        for (i, tag) in values.iter().enumerate() {
            self.required(&format!("{field}[{i}]"), tag, limits::TAG);
        }
    }

    pub fn strings(&mut self, field: &str, values: &[String], max_len: usize) {
        for (i, value) in values.iter().enumerate() {
            self.max_len(&format!("{field}[{i}]"), value, max_len);
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.fail(
                field,
                format!("is {value}; it must be between {min} and {max}"),
            );
        }
    }

    pub fn opt_range(&mut self, field: &str, value: Option<i64>, min: i64, max: i64) {
        if let Some(value) = value {
            self.range(field, value, min, max);
        }
    }

    pub fn range_f(&mut self, field: &str, value: f64, min: f64, max: f64) {
        if !value.is_finite() || value < min || value > max {
            self.fail(
                field,
                format!("is {value}; it must be between {min} and {max}"),
            );
        }
    }

    pub fn opt_range_f(&mut self, field: &str, value: Option<f64>, min: f64, max: f64) {
        if let Some(value) = value {
            self.range_f(field, value, min, max);
        }
    }

    pub fn non_negative(&mut self, field: &str, value: i64) {
        if value < 0 {
            self.fail(field, format!("is {value}; it must not be negative"));
        }
    }

    pub fn non_negative_f(&mut self, field: &str, value: f64) {
        if !value.is_finite() || value < 0.0 {
            self.fail(
                field,
                format!("is {value}; it must be a finite number, not negative"),
            );
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        let well_formed = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !value.chars().any(char::is_whitespace);
        if !well_formed {
            self.fail(field, format!("`{value}` is not an email address"));
        }
    }

    pub fn url(&mut self, field: &str, value: Option<&String>) {
        if let Some(value) = value {
            if !(value.starts_with("https://") || value.starts_with("http://"))
                || value.chars().any(char::is_whitespace)
            {
                self.fail(field, "must be an http(s) URL without spaces");
            }
            self.max_len(field, value, limits::URL);
        }
    }

    pub fn free_form(&mut self, field: &str, doc: &Document) {
        if let Err(problem) = check_free_form(field, doc) {
            self.problems.push(problem);
        }
    }

    pub fn finish(self) -> Result<(), ValidationError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                collection: self.collection,
                problems: self.problems,
            })
        }
    }
}

fn id_problem(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("is required and must not be empty".into());
    }
    if value.len() > limits::ID {
        return Err(format!(
            "is {} bytes long; an id is at most {}",
            value.len(),
            limits::ID
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')))
    {
        return Err(format!(
            "`{value}` is not a well-formed id (character {bad:?} is not allowed)"
        ));
    }
    Ok(())
}

/// Free-form objects (`event_data`, `metadata`, `parameters`, ...) may hold
/// anything, except keys MongoDB would read as operators or paths.
pub fn check_free_form(field: &str, doc: &Document) -> Result<(), FieldProblem> {
    for (key, value) in doc {
        let path = format!("{field}.{key}");
        if key.starts_with('$') || key.contains('.') || key.is_empty() {
            return Err(FieldProblem {
                field: path,
                message: "keys must not be empty, start with `$` or contain `.`".into(),
            });
        }
        check_free_form_value(&path, value)?;
    }
    Ok(())
}

/// Free-form values are what the protocol carries: JSON values, int64s and
/// dates. Code, regular expressions, binary data and the other BSON types
/// would surprise every other client and the desktop's store.
fn check_free_form_value(path: &str, value: &Bson) -> Result<(), FieldProblem> {
    match value {
        Bson::Document(inner) => check_free_form(path, inner),
        Bson::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_free_form_value(&format!("{path}[{i}]"), item)?;
            }
            Ok(())
        }
        Bson::Double(_)
        | Bson::String(_)
        | Bson::Boolean(_)
        | Bson::Null
        | Bson::Int32(_)
        | Bson::Int64(_)
        | Bson::DateTime(_) => Ok(()),
        other => Err(FieldProblem {
            field: path.to_owned(),
            message: format!(
                "holds a BSON {:?} value; free-form fields hold JSON values, int64s and dates",
                other.element_type()
            ),
        }),
    }
}
