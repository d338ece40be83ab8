//! The seed's required fields, read from the seed file itself, and a check
//! of every document in a central database against them: what the sync
//! suites leave behind must hold every field the seed does not call optional.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

#[path = "../../sync/tests/support/seed_format.rs"]
mod seed_format;

/// The seed file (a vendored copy of the canonical `shared/seed` schema).
pub fn seed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sync/tests/data/seed-schema.md")
}

/// For each collection of the seed, its top-level fields not marked
/// optional, in the seed's order.
pub fn required_fields(seed: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in seed_format::seed_lines(seed) {
        if !line.optional() {
            out.entry(line.collection).or_default().push(line.name);
        }
    }
    out
}

/// The required fields of every collection, from the seed file.
pub fn seed_required_fields() -> BTreeMap<String, Vec<String>> {
    let seed = std::fs::read_to_string(seed_path()).expect("the seed file is readable");
    required_fields(&seed)
}

/// The documents among `documents` (of `collection`) missing, or holding
/// null in, a field the seed requires, as `collection _id: field`.
pub fn missing_in<'a>(
    required: &BTreeMap<String, Vec<String>>,
    collection: &str,
    documents: impl IntoIterator<Item = &'a Document>,
) -> Vec<String> {
    let fields = required.get(collection).map(Vec::as_slice).unwrap_or(&[]);
    let mut problems = Vec::new();
    for document in documents {
        let id = document
            .get("_id")
            .map(ToString::to_string)
            .unwrap_or_default();
        for field in fields {
            if document.get(field).is_none_or(|v| *v == Bson::Null) {
                problems.push(format!("{collection} {id}: {field}"));
            }
        }
    }
    problems
}

/// Every document of `database` missing (or holding null in) a field the
/// seed requires, as `collection _id: field`.
pub async fn missing_required(uri: &str, database: &str) -> Vec<String> {
    let required = seed_required_fields();
    let client = mongodb::Client::with_uri_str(uri)
        .await
        .expect("connect to MongoDB");
    let db = client.database(database);
    let mut problems = Vec::new();
    for (collection, fields) in &required {
        let missing: Vec<Document> = fields
            .iter()
            .map(|f| doc! { f.as_str(): { "$in": [Bson::Null] } })
            .collect();
        let found: Vec<Document> = db
            .collection::<Document>(collection)
            .find(doc! { "$or": missing })
            .await
            .expect("query the central database")
            .try_collect()
            .await
            .expect("read the central database");
        problems.extend(missing_in(&required, collection, &found));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_file_yields_every_collection_and_its_optional_fields_are_left_out() {
        let seed = std::fs::read_to_string(seed_path()).expect("seed");
        let required = required_fields(&seed);
        assert_eq!(required.len(), 11, "{:?}", required.keys());
        let purchases = &required["marketplace_purchases"];
        assert!(purchases.contains(&"refund".to_owned()));
        assert!(!purchases.contains(&"completed_at".to_owned()), "optional");
        assert!(!required["analytics_events"].contains(&"user_id".to_owned()));
    }
}
