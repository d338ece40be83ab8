//! The schema against the seed itself: every field of every collection listed
//! in `shared/seed` is generated from the seed's own field list, must survive
//! validation, canonical encoding and a round trip through a real PoloDB
//! store unchanged, and freezes its exact JSON shape in `tests/golden/`.
//!
//! A failing golden test means the stored/wire shape changed: that needs a new
//! export format or protocol version, not an edited golden file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bson::{doc, Bson, DateTime, Document};
use promptforge_sync::schema::Collection;
use promptforge_sync::store::codec::{canonicalize_in, SchemaError};
use promptforge_sync::{Export, Store};

#[path = "support/seed_format.rs"]
mod seed_format;

const FIXED_TIME_MS: i64 = 1_700_000_000_000;

fn seed_text() -> String {
    let vendored = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed-schema.md");
    std::fs::read_to_string(vendored).expect("vendored seed is readable")
}

#[derive(Debug, Clone)]
enum SeedType {
    Scalar(String),
    Object(Vec<String>),
    /// `user_id -> {sub, fields}`.
    MapOfObjects(Vec<String>),
    FreeForm,
}

#[derive(Debug)]
struct SeedField {
    name: String,
    kind: SeedType,
}

/// The seed's fields per collection, with their types read.
fn seed_collections() -> BTreeMap<String, Vec<SeedField>> {
    let mut out: BTreeMap<String, Vec<SeedField>> = BTreeMap::new();
    for line in seed_format::seed_lines(&seed_text()) {
        let type_text = line.type_text.as_str();
        let kind = if let Some(subs) = type_text.strip_prefix("object:") {
            if let (Some(open), Some(close)) = (subs.find('{'), subs.rfind('}')) {
                SeedType::MapOfObjects(split_subfields(&subs[open + 1..close]))
            } else {
                SeedType::Object(split_subfields(subs))
            }
        } else if type_text == "object" {
            SeedType::FreeForm
        } else {
            SeedType::Scalar(type_text.to_owned())
        };
        out.entry(line.collection).or_default().push(SeedField {
            name: line.name,
            kind,
        });
    }
    out
}

fn split_subfields(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "etc.")
        .map(str::to_owned)
        .collect()
}

/// Candidate values for a field whose type the seed does not give (sub-fields)
/// or whose value must also pass validation (strings with a format).
fn string_candidates(field: &str) -> Vec<Bson> {
    let mut values = vec![Bson::String(format!("{}-value", field.replace('.', "-")))];
    for fixed in [
        "creator@example.com",
        "https://example.com/a",
        "en",
        "DE",
        "127.0.0.1",
        "#3b82f6",
        "light",
        "private",
        "requested",
        "viewer",
        "free",
    ] {
        values.push(Bson::String(fixed.to_owned()));
    }
    values
}

fn time() -> Bson {
    Bson::DateTime(DateTime::from_millis(FIXED_TIME_MS))
}

fn untyped_candidates(field: &str) -> Vec<Bson> {
    let mut values = vec![
        Bson::Int64(1),
        Bson::Double(0.25),
        Bson::Boolean(true),
        time(),
    ];
    values.extend(string_candidates(field));
    values.push(Bson::Array(vec![Bson::String(format!("{field}-item"))]));
    values.push(Bson::Document(doc! { "note": "free-form" }));
    values.push(Bson::Document(doc! { "5": 1_i64 }));
    values.push(Bson::Array(vec![Bson::Document(
        doc! { "note": "free-form" },
    )]));
    values.push(Bson::Array(vec![Bson::Document(
        doc! { "title": format!("{field}-item"), "completed": true },
    )]));
    values
}

fn scalar_candidates(field: &str, type_text: &str) -> Vec<Bson> {
    let base = type_text.split(',').next().unwrap_or("").trim();
    if let Some(variants) = base.strip_prefix("enum:") {
        return variants
            .split('|')
            .map(|v| Bson::String(v.trim().to_owned()))
            .collect();
    }
    match base {
        "int" => vec![Bson::Int64(1)],
        "float" => vec![Bson::Double(0.25)],
        "bool" => vec![Bson::Boolean(true)],
        "datetime" => vec![time()],
        "array of string" => vec![
            Bson::Array(vec![Bson::String(format!("{field}-item"))]),
            Bson::Array(vec![Bson::String("https://example.com/a".to_owned())]),
        ],
        "string" => string_candidates(field),
        other => panic!("seed type `{other}` of `{field}` is not understood by this test"),
    }
}

/// One generated value and the alternatives still to try.
struct Slot {
    path: Vec<String>,
    candidates: Vec<Bson>,
    chosen: usize,
}

/// Cross-field rules no single value can satisfy on its own.
fn overrides(collection: &str) -> Vec<(&'static str, Bson)> {
    match collection {
        "marketplace_purchases" => vec![
            ("amount", Bson::Int64(10)),
            ("platform_fee", Bson::Int64(2)),
            ("seller_earnings", Bson::Int64(8)),
            ("platform_fee_rate", Bson::Double(0.2)),
        ],
        _ => Vec::new(),
    }
}

fn slots_for(collection: &str, fields: &[SeedField]) -> Vec<Slot> {
    let fixed = overrides(collection);
    let mut slots = Vec::new();
    for field in fields {
        let name = field.name.clone();
        match &field.kind {
            SeedType::Scalar(type_text) => {
                let candidates = match fixed.iter().find(|(f, _)| *f == name) {
                    Some((_, value)) => vec![value.clone()],
                    None => scalar_candidates(&name, type_text),
                };
                slots.push(Slot {
                    path: vec![name],
                    candidates,
                    chosen: 0,
                });
            }
            SeedType::FreeForm => slots.push(Slot {
                path: vec![name],
                candidates: vec![Bson::Document(
                    doc! { "source": "seed-test", "nested": { "n": 1_i64 } },
                )],
                chosen: 0,
            }),
            SeedType::Object(subs) => {
                for sub in subs {
                    slots.push(Slot {
                        path: vec![name.clone(), sub.clone()],
                        candidates: untyped_candidates(sub),
                        chosen: 0,
                    });
                }
            }
            SeedType::MapOfObjects(subs) => {
                for sub in subs {
                    slots.push(Slot {
                        path: vec![name.clone(), "member-1".to_owned(), sub.clone()],
                        candidates: untyped_candidates(sub),
                        chosen: 0,
                    });
                }
            }
        }
    }
    slots
}

fn build(slots: &[Slot]) -> Document {
    let mut doc = Document::new();
    for slot in slots {
        let mut target = &mut doc;
        for segment in &slot.path[..slot.path.len() - 1] {
            let entry = target
                .entry(segment.clone())
                .or_insert_with(|| Bson::Document(Document::new()));
            target = match entry {
                Bson::Document(inner) => inner,
                _ => panic!("slot path {:?} crosses a non-object", slot.path),
            };
        }
        let last = slot.path.last().expect("slot paths are not empty");
        target.insert(last.clone(), slot.candidates[slot.chosen].clone());
    }
    doc
}

fn segments(path: &str) -> Vec<String> {
    path.split(['.', '['])
        .map(|s| s.trim_end_matches(']').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn get_path<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let value = doc.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Bson::Document(inner) => get_path(inner, rest),
        _ => None,
    }
}

/// Generates a full document for `collection` from the seed: each slot takes
/// the first candidate with which the document decodes, validates and keeps
/// the value exactly, steered by the field paths the errors name.
fn generate(collection: Collection, fields: &[SeedField]) -> Document {
    let mut slots = slots_for(collection.name(), fields);
    for _ in 0..500 {
        let doc = build(&slots);
        let failing_path = match canonicalize_in(collection, doc.clone()) {
            Ok(canonical) => {
                let changed = slots.iter().position(|slot| {
                    get_path(&canonical, &slot.path) != Some(&slot.candidates[slot.chosen])
                });
                match changed {
                    None => return doc,
                    Some(i) => slots[i].path.clone(),
                }
            }
            Err(SchemaError::Invalid(err)) => segments(&err.problems[0].field),
            Err(other) => panic!("{collection}: unexpected error {other}"),
        };
        let slot = slots
            .iter_mut()
            .filter(|s| failing_path.starts_with(&s.path) || s.path.starts_with(&failing_path))
            .max_by_key(|s| s.path.len())
            .unwrap_or_else(|| panic!("{collection}: no seed field at {failing_path:?}"));
        slot.chosen += 1;
        assert!(
            slot.chosen < slot.candidates.len(),
            "{collection}: no value of any seed type fits field {:?}",
            slot.path
        );
    }
    panic!("{collection}: generation did not settle");
}

#[test]
fn the_vendored_seed_is_the_shared_one() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/seed/000_2ed310b863380733.txt");
    // CI lays shared/ beside the clone; elsewhere the vendored copy stands alone.
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text,
            seed_text(),
            "tests/data/seed-schema.md is stale: copy the shared seed again"
        );
    }
}

#[test]
fn every_seed_collection_and_field_is_modelled() {
    let seed = seed_collections();
    assert_eq!(seed.len(), 11, "the seed lists 11 collections");
    for (name, fields) in &seed {
        let collection = Collection::from_name(name)
            .unwrap_or_else(|| panic!("no model for seed collection {name}"));
        let seed_names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        for field in &seed_names {
            assert!(
                collection.has_field(field),
                "{name}.{field} is in the seed but not in the model"
            );
        }
        for field in collection.fields() {
            assert!(
                seed_names.contains(field) || ["version", "deleted_by"].contains(field),
                "{name}.{field} is in the model but neither in the seed nor a documented addition"
            );
        }
        assert!(
            collection.has_field("version"),
            "{name} lacks the sync version field"
        );
    }
}

#[tokio::test]
async fn every_seed_field_round_trips_through_the_store_unchanged() {
    let seed = seed_collections();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).await.expect("open store");
    let mut export = Export {
        exported_at: DateTime::from_millis(FIXED_TIME_MS),
        collections: BTreeMap::new(),
    };
    let mut generated = BTreeMap::new();
    for (name, fields) in &seed {
        let collection = Collection::from_name(name).expect("modelled");
        let doc = generate(collection, fields);
        let canonical = canonicalize_in(collection, doc).expect("generated document is valid");
        export
            .collections
            .insert(collection, vec![canonical.clone()]);
        generated.insert(collection, canonical);
    }
    store.import(export).await.expect("import");
    let back = store.export().await.expect("export");
    for (collection, canonical) in generated {
        let stored = back.documents(collection);
        assert_eq!(stored.len(), 1, "{collection}");
        assert_eq!(
            stored[0], canonical,
            "{collection} changed on its way through PoloDB"
        );
        for field in seed[collection.name()].iter() {
            assert!(
                stored[0].contains_key(&field.name),
                "{collection}.{} was dropped",
                field.name
            );
        }
    }
}

#[test]
fn golden_json_shape_of_every_collection() {
    let golden_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, fields) in &seed_collections() {
        let collection = Collection::from_name(name).expect("modelled");
        let canonical = canonicalize_in(collection, generate(collection, fields)).expect("valid");
        let json =
            serde_json::to_string_pretty(&Bson::Document(canonical).into_canonical_extjson())
                .expect("json")
                + "\n";
        let path = golden_dir.join(format!("{name}.json"));
        if update {
            std::fs::write(&path, &json).expect("write golden");
            continue;
        }
        let frozen = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run with UPDATE_GOLDEN=1 once",
                path.display()
            )
        });
        assert_eq!(
            json, frozen,
            "{name}: the stored shape changed (see this file's header)"
        );
    }
}
