//! Architecture rules that code review alone would let slip.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether the source at `path` mentions any of `words`.
fn mentions(path: &Path, words: &[&str]) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| words.iter().any(|w| text.contains(w)))
}

/// PoloDB's broken operators and lost concurrent updates are kept out of
/// reach by the store alone: no other library module may use it.
#[test]
fn only_the_store_module_touches_polodb() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let store = root.join("sync/src/store");
    let mut files = Vec::new();
    rust_files(&root.join("sync/src"), &mut files);
    rust_files(&root.join("wire/src"), &mut files);
    assert!(files.len() > 15, "found the library sources: {files:?}");
    let offenders: Vec<_> = files
        .iter()
        .filter(|path| !path.starts_with(&store))
        .filter(|path| mentions(path, &["polodb_core"]))
        .collect();
    assert!(
        offenders.is_empty(),
        "polodb_core used outside sync/src/store: {offenders:?}"
    );
}

/// The shared wire crate stays free of storage and HTTP, so the server can
/// depend on it without pulling in the desktop's store.
#[test]
fn the_wire_crate_depends_on_neither_store_nor_server() {
    let manifest = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wire/Cargo.toml"),
    )
    .expect("wire manifest");
    for forbidden in ["polodb", "promptforge-sync", "axum", "mongodb", "tokio"] {
        assert!(
            !manifest.contains(forbidden),
            "wire/Cargo.toml depends on {forbidden}"
        );
    }
}

/// The server must never link the desktop's store.
#[test]
fn the_server_does_not_depend_on_the_desktop_store() {
    let manifest = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/Cargo.toml"),
    )
    .expect("server manifest");
    for forbidden in ["polodb", "promptforge-sync"] {
        assert!(
            !manifest.contains(forbidden),
            "server/Cargo.toml depends on {forbidden}"
        );
    }
}

/// The desktop app is a thin layer: its data goes through the store and the
/// engine, never PoloDB directly, and it links no server crate.
#[test]
fn the_desktop_app_reaches_data_only_through_the_sync_library() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../src-tauri");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 5, "found the app sources: {files:?}");
    let offenders: Vec<_> = files
        .iter()
        .filter(|path| mentions(path, &["polodb_core"]))
        .collect();
    assert!(
        offenders.is_empty(),
        "the app uses PoloDB directly: {offenders:?}"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("app manifest");
    for forbidden in ["polodb", "mongodb", "axum", "promptforge-server"] {
        assert!(
            !manifest.contains(forbidden),
            "src-tauri/Cargo.toml depends on {forbidden}"
        );
    }
}

/// The scripts build with the workspace's feature set: a `cargo build -p`
/// resolves features for one package, and RocksDB (about ten minutes on two
/// cores) is compiled once per feature set. `scripts/test.sh` runs
/// `cargo test --workspace`, so `--workspace --bin X` reuses its build.
#[test]
fn scripts_build_with_the_workspace_feature_set() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let mut checked = 0;
    for entry in std::fs::read_dir(&scripts).expect("scripts directory") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("cargo build"))
        {
            checked += 1;
            assert!(
                line.contains("--workspace") && !line.contains(" -p "),
                "{}: `{}` builds with another feature set than the tests",
                path.display(),
                line.trim()
            );
        }
    }
    assert!(checked >= 2, "the scripts' cargo builds were found");
}

/// PoloDB's write methods, on a collection or a transactional collection.
const POLODB_WRITES: [&str; 7] = [
    ".insert_one(",
    ".insert_many(",
    ".update_one(",
    ".update_many(",
    ".delete_one(",
    ".delete_many(",
    ".create_index(",
];

/// The receiver of the method call that starts at byte `at` of `text`:
/// the identifier or call expression just before the dot.
fn receiver(text: &str, at: usize) -> &str {
    let before = text[..at].trim_end();
    let mut depth = 0_i32;
    let mut start = before.len();
    for (index, c) in before.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => depth -= 1,
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == '.' || c == ':') => break,
            _ => {}
        }
        start = index;
    }
    &before[start..]
}

/// "Every write goes through the single writer": PoloDB transactions start
/// only in the writer thread (`writer.rs`), and elsewhere in the store a
/// write is made only on a collection taken from the writer's `Tx`
/// (`tx.raw(..)`, or a name bound to it in the same function), never on a
/// collection of the database itself, which would commit on its own outside
/// the writer's transaction and race it.
#[test]
fn every_store_write_goes_through_the_single_writer() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sync/src/store");
    let writer = root.join("writer.rs");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.contains(&writer), "found the writer: {files:?}");
    let mut checked = 0;
    let mut offenders = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a store source");
        if path != &writer && text.contains("start_transaction") {
            offenders.push(format!("{}: starts a transaction", path.display()));
        }
        if path == &writer {
            continue;
        }
        for method in POLODB_WRITES {
            for (at, _) in text.match_indices(method) {
                checked += 1;
                let target = receiver(&text, at);
                let from_tx = if target.starts_with("tx.raw(") || target.starts_with("self.raw(") {
                    true
                } else {
                    // A name bound to the writer's collection earlier in the file.
                    text[..at].contains(&format!("let {target} = tx.raw("))
                };
                if !from_tx {
                    let line = text[..at].lines().count();
                    offenders.push(format!(
                        "{}:{line}: `{target}{method}..)` writes outside the writer's transaction",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(checked > 10, "found the store's writes ({checked})");
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// A source file past about 700 lines has a seam in it: no library or
/// binary source (tests, benchmarks and generated code aside) may grow past
/// that, so the split happens when the file is written, not years later.
#[test]
fn no_source_file_is_over_700_lines() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for crate_dir in ["wire", "sync", "cli", "server", "src-tauri", "tests"] {
        rust_files(&root.join(crate_dir).join("src"), &mut files);
    }
    assert!(files.len() > 60, "found the sources: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).ok()?.lines().count();
            (lines > 700).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these along their seams: {long:#?}");
}

/// The catalog is the desktop's in-memory index: the shared crate, which
/// the server compiles, carries none of it.
#[test]
fn the_wire_crate_has_no_catalog_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wire/src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "found the wire sources: {files:?}");
    let offenders: Vec<_> = files
        .iter()
        .filter(|path| mentions(path, &["CatalogEntry", "catalog_entry"]))
        .collect();
    assert!(offenders.is_empty(), "catalog code in wire: {offenders:?}");
}
