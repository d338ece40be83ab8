//! Export and import of a whole library as JSON (MongoDB canonical extended
//! JSON, so integers, doubles and datetimes keep their exact BSON types), and
//! the consistency checks run over such a snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bson::{doc, Bson, Document};
use polodb_core::{CollectionT, Database};

use super::rules::put_verbatim;
use super::writer::Tx;
use crate::error::{ImportProblem, Result, StoreError};
use crate::schema::{Collection, PROMPT_VERSIONED_FIELDS};
use promptforge_wire::codec::{canonicalize_in, is_deleted};

pub const EXPORT_FORMAT: &str = "promptforge-library";
pub const EXPORT_FORMAT_VERSION: i64 = 1;

/// A snapshot of every collection, documents sorted by `_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub exported_at: bson::DateTime,
    pub collections: BTreeMap<Collection, Vec<Document>>,
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub documents: usize,
    pub per_collection: BTreeMap<Collection, usize>,
}

impl Export {
    /// The export as a JSON value; [`Export::from_json`] reads it back exactly.
    pub fn to_json(&self) -> serde_json::Value {
        let mut collections = Document::new();
        for (collection, docs) in &self.collections {
            collections.insert(
                collection.name(),
                docs.iter().cloned().map(Bson::Document).collect::<Vec<_>>(),
            );
        }
        let envelope = doc! {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_at": self.exported_at,
            "collections": collections,
        };
        Bson::Document(envelope).into_canonical_extjson()
    }

    pub fn from_json(text: &str) -> Result<Export> {
        let bad = |why: String| StoreError::Import(Box::new(ImportProblem::Format(why)));
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let envelope =
            match Bson::try_from(value).map_err(|e| bad(format!("not extended JSON: {e}")))? {
                Bson::Document(doc) => doc,
                _ => return Err(bad("the top level must be an object".into())),
            };
        if envelope.get_str("format") != Ok(EXPORT_FORMAT) {
            return Err(bad(format!("`format` must be \"{EXPORT_FORMAT}\"")));
        }
        let version = envelope
            .get_i64("format_version")
            .or_else(|_| envelope.get_i32("format_version").map(i64::from));
        if version != Ok(EXPORT_FORMAT_VERSION) {
            return Err(bad(format!(
                "`format_version` must be {EXPORT_FORMAT_VERSION}"
            )));
        }
        let exported_at = *envelope
            .get_datetime("exported_at")
            .map_err(|_| bad("`exported_at` must be a datetime".into()))?;
        let listed = envelope
            .get_document("collections")
            .map_err(|_| bad("`collections` must be an object".into()))?;
        let mut collections = BTreeMap::new();
        for (name, docs) in listed {
            let collection = Collection::from_name(name).ok_or_else(|| {
                StoreError::Import(Box::new(ImportProblem::UnknownCollection(name.clone())))
            })?;
            let Bson::Array(items) = docs else {
                return Err(bad(format!("`collections.{name}` must be an array")));
            };
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                match item {
                    Bson::Document(doc) => out.push(doc.clone()),
                    _ => {
                        return Err(bad(format!(
                            "`collections.{name}[{index}]` must be an object"
                        )))
                    }
                }
            }
            collections.insert(collection, out);
        }
        Ok(Export {
            exported_at,
            collections,
        })
    }

    pub fn documents(&self, collection: Collection) -> &[Document] {
        self.collections.get(&collection).map_or(&[], Vec::as_slice)
    }
}

pub(crate) fn export_all(db: &Database) -> Result<Export> {
    let mut collections = BTreeMap::new();
    for collection in Collection::ALL {
        let mut docs = Vec::new();
        for doc in db
            .collection::<Document>(collection.name())
            .find(doc! {})
            .run()?
        {
            docs.push(doc?);
        }
        docs.sort_by(|a, b| {
            a.get_str("_id")
                .unwrap_or("")
                .cmp(b.get_str("_id").unwrap_or(""))
        });
        collections.insert(collection, docs);
    }
    Ok(Export {
        exported_at: bson::DateTime::now(),
        collections,
    })
}

/// Every document validated and in canonical form, ready to write.
pub(crate) struct PreparedImport(Vec<(Collection, Document)>);

pub(crate) fn prepare(export: Export) -> Result<PreparedImport> {
    let mut docs = Vec::new();
    for (collection, items) in export.collections {
        let mut seen = BTreeSet::new();
        for (index, doc) in items.into_iter().enumerate() {
            let at = |source: StoreError| {
                StoreError::Import(Box::new(ImportProblem::Document {
                    collection,
                    index,
                    source: Box::new(source),
                }))
            };
            let doc = canonicalize_in(collection, doc).map_err(|e| at(e.into()))?;
            let id = doc.get_str("_id").unwrap_or_default().to_owned();
            if !seen.insert(id.clone()) {
                return Err(at(StoreError::AlreadyExists { collection, id }));
            }
            docs.push((collection, doc));
        }
    }
    Ok(PreparedImport(docs))
}

pub(crate) fn apply(tx: &mut Tx, prepared: PreparedImport) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    for (collection, doc) in prepared.0 {
        put_verbatim(tx, collection, doc)?;
        report.documents += 1;
        *report.per_collection.entry(collection).or_default() += 1;
    }
    Ok(report)
}

fn string_list(doc: &Document, field: &str) -> BTreeSet<String> {
    doc.get_array(field)
        .map(|items| {
            items
                .iter()
                .filter_map(|b| b.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The store's invariants, checked over a snapshot:
/// every prompt has its versions, numbered 1..n, and names the latest, whose
/// text it holds; every project lists exactly its live prompts and ideas, and counts them.
pub(crate) fn consistency_problems(export: &Export) -> Vec<String> {
    let mut problems = Vec::new();
    let mut versions: HashMap<&str, Vec<&Document>> = HashMap::new();
    for version in export.documents(Collection::PromptVersions) {
        versions
            .entry(version.get_str("prompt_id").unwrap_or(""))
            .or_default()
            .push(version);
    }
    let mut members: HashMap<(&str, Collection), BTreeSet<String>> = HashMap::new();
    for collection in [Collection::Prompts, Collection::Ideas] {
        for doc in export.documents(collection) {
            if let (Ok(project), true) = (doc.get_str("project_id"), !is_deleted(doc)) {
                members
                    .entry((project, collection))
                    .or_default()
                    .insert(doc.get_str("_id").unwrap_or("").to_owned());
            }
        }
    }
    for prompt in export.documents(Collection::Prompts) {
        let id = prompt.get_str("_id").unwrap_or("");
        let mine = versions.get(id).map(Vec::as_slice).unwrap_or(&[]);
        if mine.is_empty() {
            problems.push(format!("prompt {id} has no versions"));
        }
        // The newest-numbered version need not be the latest: a version that
        // lost a clash to another device's edit stays in the history, and
        // the prompt keeps the winner's text and version.
        let latest = prompt.get_str("latest_version_id").ok();
        match mine.iter().find(|v| v.get_str("_id").ok() == latest) {
            None if !mine.is_empty() => problems.push(format!(
                "prompt {id}: latest_version_id names none of its versions"
            )),
            None => {}
            Some(latest) => {
                for field in PROMPT_VERSIONED_FIELDS {
                    let value = |d: &Document| d.get(field).filter(|v| **v != Bson::Null).cloned();
                    if value(latest) != value(prompt) {
                        problems.push(format!(
                            "prompt {id}: {field} differs from its latest version"
                        ));
                    }
                }
            }
        }
        let mut numbers: Vec<i64> = mine
            .iter()
            .map(|v| v.get_i64("version_number").unwrap_or(0))
            .collect();
        numbers.sort_unstable();
        if numbers.iter().enumerate().any(|(i, n)| *n != i as i64 + 1) {
            problems.push(format!(
                "prompt {id}: version numbers are not 1..{}",
                numbers.len()
            ));
        }
    }
    for project in export.documents(Collection::Projects) {
        let id = project.get_str("_id").unwrap_or("");
        let stats = project.get_document("stats").cloned().unwrap_or_default();
        for (collection, ids_field, count_field) in [
            (Collection::Prompts, "prompt_ids", "prompt_count"),
            (Collection::Ideas, "idea_ids", "idea_count"),
        ] {
            let listed = string_list(project, ids_field);
            let actual = members.get(&(id, collection)).cloned().unwrap_or_default();
            if listed != actual {
                problems.push(format!(
                    "project {id}: {ids_field} {listed:?} but live members are {actual:?}"
                ));
            }
            if stats.get_i64(count_field).unwrap_or(-1) != listed.len() as i64 {
                problems.push(format!(
                    "project {id}: stats.{count_field} does not count {ids_field}"
                ));
            }
        }
    }
    problems
}
