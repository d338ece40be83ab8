//! Guard tests for the pinned `polodb_core` (=5.3.0).
//!
//! PoloDB 5.3.0 has known bugs and gaps, and the local store
//! (`sync/src/store`) is written around them. Each test here pins what the
//! pinned version *actually does today*, including the wrong answers, so that
//! an upgrade that changes any of these behaviours is noticed.
//!
//! If a guard fails, PoloDB's behaviour changed: revisit the store rule named
//! in that test's doc comment (it may be removable, or it may now be wrong)
//! before touching the assertion. Do not just edit the assertion to match.
//!
//! The measurements behind these tests are listed in
//! `shared/guides/sync-design.md`, section "PoloDB facts".

use std::error::Error;

use bson::{doc, Bson, Document, Regex};
use polodb_core::{CollectionT, Database, IndexModel, IndexOptions};
use tempfile::{tempdir, TempDir};

type TestResult = Result<(), Box<dyn Error>>;

/// Opens a fresh database inside `dir` (one temporary directory per test).
fn open_db(dir: &TempDir) -> polodb_core::Result<Database> {
    Database::open_path(dir.path().join("db"))
}

/// Runs `filter` and collects every document. An error may come from
/// compiling the query (`run`) or from executing it (iterating); both count.
fn find_all<C: CollectionT<Document>>(
    coll: &C,
    filter: Document,
) -> polodb_core::Result<Vec<Document>> {
    coll.find(filter).run()?.collect()
}

/// Like [`find_all`], with a `.sort(..)`.
fn find_sorted<C: CollectionT<Document>>(
    coll: &C,
    filter: Document,
    sort: Document,
) -> polodb_core::Result<Vec<Document>> {
    coll.find(filter).sort(sort).run()?.collect()
}

/// The string `_id`s of `docs`, sorted, so results compare independently of
/// PoloDB's scan order.
fn ids(docs: &[Document]) -> Vec<String> {
    let mut ids: Vec<String> = docs
        .iter()
        .filter_map(|d| d.get("_id").and_then(Bson::as_str).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Store rule: lists and search run in the in-memory catalog
/// (`store/catalog/mod.rs`), never as PoloDB queries, because `$ne` is `$eq`.
#[test]
fn ne_operator_matches_like_eq() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_many([
        doc! { "_id": "one", "a": 1 },
        doc! { "_id": "one-again", "a": 1 },
        doc! { "_id": "two", "a": 2 },
    ])?;

    let found = find_all(&coll, doc! { "a": { "$ne": 1 } })?;
    assert_eq!(
        ids(&found),
        ["one", "one-again"],
        "$ne 1 returns the a == 1 documents"
    );
    Ok(())
}

/// Store rule: field presence is checked in Rust (catalog / codec); the store
/// never sends `$exists` to PoloDB.
#[test]
fn exists_operator_is_rejected() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    // The collection must exist: a query on a missing collection is never compiled.
    coll.insert_many([
        doc! { "_id": "with", "a": 1 },
        doc! { "_id": "without", "b": 1 },
    ])?;

    let result = find_all(&coll, doc! { "a": { "$exists": true } });
    assert!(result.is_err(), "$exists was accepted: {result:?}");
    Ok(())
}

/// Store rule: text search runs on the catalog's lower-cased search text
/// (`store/catalog/mod.rs`), never as a `$regex` or a regex value sent to PoloDB.
#[test]
fn regex_operator_is_rejected_and_a_regex_value_matches_nothing() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_many([
        doc! { "_id": "x", "name": "xylophone" },
        doc! { "_id": "y", "name": "yak" },
    ])?;

    let by_operator = find_all(&coll, doc! { "name": { "$regex": "^x" } });
    assert!(
        by_operator.is_err(),
        "$regex with a pattern string was accepted: {by_operator:?}"
    );

    let pattern = Regex {
        pattern: "^x".to_owned(),
        options: String::new(),
    };
    let by_value = find_all(&coll, doc! { "name": pattern })?;
    assert!(
        by_value.is_empty(),
        "a BSON regex value matched: {by_value:?}"
    );
    Ok(())
}

/// Store rule: negated filters are evaluated in Rust by the catalog; `$not`
/// in PoloDB silently skips documents that lack the field.
#[test]
fn not_operator_never_matches_documents_missing_the_field() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_many([
        doc! { "_id": "one", "a": 1 },
        doc! { "_id": "two", "a": 2 },
        doc! { "_id": "no-a", "b": 1 },
    ])?;

    let found = find_all(&coll, doc! { "a": { "$not": { "$eq": 1 } } })?;
    assert!(
        found.iter().all(|d| d.contains_key("a")),
        "$not returned a document without the field: {found:?}"
    );
    assert_eq!(ids(&found), ["two"], "$not {{$eq: 1}} returns only a == 2");
    Ok(())
}

/// Store rule: `INDEXES` (`store/mod.rs`) and `Tx::find_eq`
/// (`store/writer.rs`) only ever send equality on an indexed field, never with
/// a sort; sorting is done by the catalog.
#[test]
fn filter_on_an_indexed_field_with_a_sort_returns_no_documents() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.create_index(IndexModel {
        keys: doc! { "k": 1 },
        options: None,
    })?;
    for n in [3_i32, 0, 4, 1, 2] {
        coll.insert_one(doc! { "k": "x", "tag": "t", "n": n })?;
    }

    let indexed_sorted = find_sorted(&coll, doc! { "k": "x" }, doc! { "n": 1 })?;
    assert!(
        indexed_sorted.is_empty(),
        "indexed filter + sort returned {indexed_sorted:?}"
    );

    let indexed_unsorted = find_all(&coll, doc! { "k": "x" })?;
    assert_eq!(indexed_unsorted.len(), 5, "indexed filter without sort");

    let unindexed_sorted = find_sorted(&coll, doc! { "tag": "t" }, doc! { "n": 1 })?;
    let order: Vec<i32> = unindexed_sorted
        .iter()
        .filter_map(|d| d.get("n").and_then(Bson::as_i32))
        .collect();
    assert_eq!(order, [0, 1, 2, 3, 4], "unindexed filter + sort is sorted");
    Ok(())
}

/// Store rule: one canonical `_id` type, a string (`doc_id` in
/// `store/writer.rs`); an Int32 lookup never finds an Int64 `_id`.
#[test]
fn id_equality_is_type_sensitive() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": 4_i64, "v": "int64" })?;

    assert!(
        coll.find_one(doc! { "_id": 4_i32 })?.is_none(),
        "Int32 4 found Int64 4"
    );
    assert!(
        coll.find_one(doc! { "_id": 4_i64 })?.is_some(),
        "Int64 4 not found"
    );
    Ok(())
}

/// Store rule: `Tx::replace` (`store/writer.rs`) writes only `$set`/`$unset`
/// diffs of top-level fields (arrays are set whole); it never uses `$pull`,
/// `$addToSet`, `$setOnInsert` or a replacement document.
#[test]
fn pull_add_to_set_set_on_insert_and_replacement_updates_are_rejected() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    let original = doc! { "_id": "d", "a": 1, "tags": ["x", "y"] };
    coll.insert_one(&original)?;

    let attempts = [
        ("$pull", doc! { "$pull": { "tags": "x" } }),
        ("$addToSet", doc! { "$addToSet": { "tags": "z" } }),
        ("$setOnInsert", doc! { "$setOnInsert": { "b": 1 } }),
        ("replacement", doc! { "a": 5 }),
    ];
    for (name, update) in attempts {
        let result = coll.update_one(doc! { "_id": "d" }, update);
        assert!(result.is_err(), "{name} update was accepted: {result:?}");
    }

    let stored = coll
        .find_one(doc! { "_id": "d" })?
        .ok_or("document d vanished")?;
    assert_eq!(stored, original, "a rejected update changed the document");
    Ok(())
}

/// Store rule: the only operators the store (and the sync design) may send to
/// PoloDB are these verified ones; anything else is evaluated in Rust.
#[test]
fn verified_query_operators_find_the_expected_documents() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_many((1_i32..=5).map(|n| doc! { "_id": n.to_string(), "a": n }))?;

    let cases: [(Document, &[&str]); 9] = [
        (doc! { "a": { "$eq": 3 } }, &["3"]),
        (doc! { "a": { "$gt": 3 } }, &["4", "5"]),
        (doc! { "a": { "$gte": 3 } }, &["3", "4", "5"]),
        (doc! { "a": { "$lt": 3 } }, &["1", "2"]),
        (doc! { "a": { "$lte": 3 } }, &["1", "2", "3"]),
        (doc! { "a": { "$in": [1, 3] } }, &["1", "3"]),
        (doc! { "a": { "$nin": [1, 3] } }, &["2", "4", "5"]),
        (
            doc! { "$and": [{ "a": { "$gt": 1 } }, { "a": { "$lt": 4 } }] },
            &["2", "3"],
        ),
        (doc! { "$or": [{ "a": 1 }, { "a": 5 }] }, &["1", "5"]),
    ];
    for (filter, expected) in cases {
        let shown = filter.to_string();
        let found = find_all(&coll, filter)?;
        assert_eq!(ids(&found), expected, "filter {shown}");
    }
    Ok(())
}

/// Store rule: `Tx::replace` (`store/writer.rs`) applies changes as
/// `$set` / `$unset` (with `""` values) by `_id`; `$inc` is in the verified set.
#[test]
fn set_unset_and_inc_update_as_expected() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": "d", "a": 1, "b": "gone soon", "c": 10 })?;

    let updates = [
        doc! { "$set": { "a": 5 } },
        doc! { "$unset": { "b": "" } },
        doc! { "$inc": { "c": 2 } },
    ];
    for update in updates {
        let shown = update.to_string();
        let result = coll.update_one(doc! { "_id": "d" }, update)?;
        assert_eq!(result.matched_count, 1, "update {shown}");
    }

    let stored = coll
        .find_one(doc! { "_id": "d" })?
        .ok_or("document d vanished")?;
    assert_eq!(stored, doc! { "_id": "d", "a": 5, "c": 12 });
    Ok(())
}

/// Store rule: `Tx::replace` treats `matched_count != 1` as not found, and the
/// sync design's compare-and-swap on `version` relies on a stale version
/// matching nothing.
#[test]
fn compare_and_swap_update_matches_once_then_misses_with_a_stale_version() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": "d", "title": "old", "version": 1 })?;

    let swap = |title: &str| {
        coll.update_one(
            doc! { "_id": "d", "version": 1 },
            doc! { "$set": { "title": title }, "$inc": { "version": 1 } },
        )
    };
    assert_eq!(swap("first")?.matched_count, 1, "current version matches");
    assert_eq!(
        swap("second")?.matched_count,
        0,
        "stale version matches nothing"
    );

    let stored = coll
        .find_one(doc! { "_id": "d" })?
        .ok_or("document d vanished")?;
    assert_eq!(stored, doc! { "_id": "d", "title": "first", "version": 2 });
    Ok(())
}

/// Store rule: `Tx::insert` (`store/writer.rs`) still checks `_id` itself,
/// because the rejection below does not hold across threads; single-threaded
/// it does.
#[test]
fn duplicate_id_insert_is_rejected() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.insert_one(doc! { "_id": "same", "v": 1 })?;

    let second = coll.insert_one(doc! { "_id": "same", "v": 2 });
    assert!(second.is_err(), "duplicate _id accepted: {second:?}");
    let stored = coll
        .find_one(doc! { "_id": "same" })?
        .ok_or("document vanished")?;
    assert_eq!(
        stored.get("v"),
        Some(&Bson::Int32(1)),
        "first document was overwritten"
    );
    assert_eq!(coll.count_documents()?, 1);
    Ok(())
}

/// Store rule: the store's indexes (`INDEXES` in `store/mod.rs`) are single
/// field; uniqueness, where needed, may rely on a unique single-field index.
#[test]
fn unique_single_field_index_rejects_a_duplicate_value() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    coll.create_index(IndexModel {
        keys: doc! { "email": 1 },
        options: Some(IndexOptions {
            unique: Some(true),
            ..IndexOptions::default()
        }),
    })?;
    coll.insert_one(doc! { "_id": "a", "email": "a@example.com" })?;

    let duplicate = coll.insert_one(doc! { "_id": "b", "email": "a@example.com" });
    assert!(
        duplicate.is_err(),
        "duplicate unique value accepted: {duplicate:?}"
    );
    coll.insert_one(doc! { "_id": "c", "email": "c@example.com" })?;
    assert_eq!(coll.count_documents()?, 2);
    Ok(())
}

/// Store rule: `Writer::transaction` (`store/writer.rs`) rolls back a failed
/// write job and relies on the rollback discarding every write in it.
#[test]
fn transaction_rollback_discards_its_writes() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("notes");
    coll.insert_one(doc! { "_id": "committed" })?;

    let txn = db.start_transaction()?;
    let in_txn = txn.collection::<Document>("notes");
    in_txn.insert_one(doc! { "_id": "discarded" })?;
    in_txn.update_one(
        doc! { "_id": "committed" },
        doc! { "$set": { "touched": true } },
    )?;
    txn.rollback()?;

    assert_eq!(coll.count_documents()?, 1);
    assert!(coll.find_one(doc! { "_id": "discarded" })?.is_none());
    let stored = coll
        .find_one(doc! { "_id": "committed" })?
        .ok_or("document vanished")?;
    assert!(
        !stored.contains_key("touched"),
        "rolled-back update is visible"
    );
    Ok(())
}

/// Store rule: `Writer::transaction` commits each write job as one unit and
/// only then updates the catalog.
#[test]
fn transaction_commit_keeps_its_writes() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;

    let txn = db.start_transaction()?;
    let in_txn = txn.collection::<Document>("notes");
    in_txn.insert_many([doc! { "_id": "a" }, doc! { "_id": "b" }])?;
    txn.commit()?;

    let coll = db.collection::<Document>("notes");
    assert_eq!(coll.count_documents()?, 2);
    assert!(coll.find_one(doc! { "_id": "b" })?.is_some());
    Ok(())
}

/// Store rule: the rules (`store/rules/`) read documents through `Tx::get`
/// after writing them in the same job, so a transaction must see its own
/// uncommitted writes.
#[test]
fn transaction_reads_its_own_uncommitted_writes() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    db.collection::<Document>("notes")
        .insert_one(doc! { "_id": "seed" })?;

    let txn = db.start_transaction()?;
    let in_txn = txn.collection::<Document>("notes");
    in_txn.insert_one(doc! { "_id": "pending", "v": 1 })?;
    in_txn.update_one(doc! { "_id": "pending" }, doc! { "$inc": { "v": 1 } })?;

    let seen = in_txn
        .find_one(doc! { "_id": "pending" })?
        .ok_or("own write not visible")?;
    assert_eq!(
        seen.get("v"),
        Some(&Bson::Int32(2)),
        "own update not visible"
    );
    assert_eq!(in_txn.count_documents()?, 2);
    txn.rollback()?;
    Ok(())
}

/// Store rule: readers outside the writer read PoloDB directly and must never
/// see a write job's uncommitted state (`store/writer.rs` module doc).
#[test]
fn uncommitted_transaction_writes_are_invisible_outside_it() -> TestResult {
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("notes");
    coll.insert_one(doc! { "_id": "seed" })?;

    let txn = db.start_transaction()?;
    let in_txn = txn.collection::<Document>("notes");
    in_txn.insert_one(doc! { "_id": "pending" })?;

    assert!(
        coll.find_one(doc! { "_id": "pending" })?.is_none(),
        "uncommitted write visible"
    );
    assert_eq!(coll.count_documents()?, 1);
    txn.rollback()?;
    Ok(())
}

/// Store rule: `MAX_DOCUMENT_BYTES` in `store/codec.rs`; MongoDB refuses
/// documents over 16 MiB, PoloDB does not, so the store enforces the limit.
#[test]
fn documents_over_16_mib_are_accepted() -> TestResult {
    const BODY_BYTES: usize = 17 * 1024 * 1024;
    let dir = tempdir()?;
    let db = open_db(&dir)?;
    let coll = db.collection::<Document>("c");
    let big = doc! { "_id": "big", "body": "x".repeat(BODY_BYTES) };
    assert!(
        bson::to_vec(&big)?.len() > 16 * 1024 * 1024,
        "test document is not over 16 MiB"
    );

    coll.insert_one(big)?;

    let stored = coll
        .find_one(doc! { "_id": "big" })?
        .ok_or("big document not stored")?;
    let body_len = stored.get("body").and_then(Bson::as_str).map(str::len);
    assert_eq!(body_len, Some(BODY_BYTES));
    Ok(())
}

/// Store rule: the desktop app is single-instance and `Store::open`
/// (`store/mod.rs`) takes its own `promptforge.lock` before opening PoloDB;
/// PoloDB itself also refuses a second open of a directory it has open.
#[test]
fn second_open_of_an_open_directory_in_the_same_process_fails() -> TestResult {
    let dir = tempdir()?;
    let first = Database::open_path(dir.path().join("db"))?;

    let second = Database::open_path(dir.path().join("db"));
    assert!(
        second.is_err(),
        "a second open of the same directory succeeded"
    );

    first
        .collection::<Document>("c")
        .insert_one(doc! { "_id": "still-works" })?;
    Ok(())
}
