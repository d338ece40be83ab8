//! The catalog saved to a file at a clean close, so that the next open of a
//! large library skips decoding every document. A snapshot is trusted only
//! when its header, format, writer version and token all match; anything
//! else is reported as stale or damaged and the store rebuilds the catalog.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogEntry, Entries};
use crate::schema::Collection;

/// Leads every snapshot file; bump the format when [`CatalogEntry`] or the
/// layout below changes, so an old file is rebuilt rather than misread.
const SNAPSHOT_MAGIC: &[u8; 8] = b"PFCATLG\0";
const SNAPSHOT_FORMAT: u32 = 1;
/// A snapshot is only read by the version that wrote it: another version may
/// derive entries differently (what is searchable, say) in the same layout.
const WRITTEN_BY: &str = env!("CARGO_PKG_VERSION");

#[derive(Serialize)]
struct SavedSnapshot<'a> {
    written_by: &'static str,
    collections: Vec<SavedCollection<'a>>,
}

#[derive(Deserialize)]
struct LoadedSnapshot {
    written_by: String,
    collections: Vec<LoadedCollection>,
}

/// One collection in a snapshot: ids and entries, index for index.
#[derive(Serialize)]
struct SavedCollection<'a> {
    name: &'static str,
    ids: &'a [String],
    entries: &'a [CatalogEntry],
}

#[derive(Deserialize)]
struct LoadedCollection {
    name: String,
    ids: Vec<String>,
    entries: Vec<CatalogEntry>,
}

/// Why a snapshot was not used; the store then rebuilds the catalog.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("no snapshot")]
    Missing,
    #[error("reading the snapshot: {0}")]
    Io(#[from] std::io::Error),
    #[error("the snapshot is of another format, version or profile state")]
    Stale,
    #[error("the snapshot is damaged: {0}")]
    Damaged(String),
}

impl Catalog {
    /// Writes the catalog to `path` (atomically: a temporary file renamed
    /// over it), stamped with `token`.
    pub(crate) fn save(&self, path: &Path, token: u64) -> std::io::Result<()> {
        let collections: Vec<SavedCollection<'_>> = Collection::ALL
            .into_iter()
            .filter_map(|collection| {
                let entries = self.collections.get(&collection)?;
                Some(SavedCollection {
                    name: collection.name(),
                    ids: &entries.ids,
                    entries: &entries.entries,
                })
            })
            .collect();
        let snapshot = SavedSnapshot {
            written_by: WRITTEN_BY,
            collections,
        };
        let temporary = path.with_extension("tmp");
        let file = std::fs::File::create(&temporary)?;
        let mut out = BufWriter::new(file);
        out.write_all(SNAPSHOT_MAGIC)?;
        out.write_all(&SNAPSHOT_FORMAT.to_le_bytes())?;
        out.write_all(&token.to_le_bytes())?;
        // Straight to the file: no second copy of every entry in memory.
        let out = postcard::to_io(&snapshot, out)
            .map_err(|err| std::io::Error::other(err.to_string()))?;
        let file = out.into_inner().map_err(|err| err.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    }

    /// Reads the catalog saved at `path`, if it carries `token`.
    pub(crate) fn load(path: &Path, token: u64) -> Result<Catalog, SnapshotError> {
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(SnapshotError::Missing)
            }
            Err(err) => return Err(err.into()),
        };
        let mut header = [0_u8; 20];
        if file.read_exact(&mut header).is_err() || &header[..8] != SNAPSHOT_MAGIC {
            return Err(SnapshotError::Damaged("no snapshot header".into()));
        }
        let format = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        let mut saved_token = [0_u8; 8];
        saved_token.copy_from_slice(&header[12..]);
        if format != SNAPSHOT_FORMAT || u64::from_le_bytes(saved_token) != token {
            return Err(SnapshotError::Stale);
        }
        let mut body = Vec::new();
        file.read_to_end(&mut body)?;
        let loaded: LoadedSnapshot =
            postcard::from_bytes(&body).map_err(|err| SnapshotError::Damaged(err.to_string()))?;
        if loaded.written_by != WRITTEN_BY {
            return Err(SnapshotError::Stale);
        }
        let mut catalog = Catalog::default();
        for saved in loaded.collections {
            let collection = Collection::from_name(&saved.name).ok_or_else(|| {
                SnapshotError::Damaged(format!("unknown collection {:?}", saved.name))
            })?;
            if saved.ids.len() != saved.entries.len() {
                return Err(SnapshotError::Damaged(format!(
                    "{} ids but {} entries in {collection}",
                    saved.ids.len(),
                    saved.entries.len()
                )));
            }
            let position: HashMap<String, usize> = saved
                .ids
                .iter()
                .enumerate()
                .map(|(at, id)| (id.clone(), at))
                .collect();
            if position.len() != saved.ids.len() {
                return Err(SnapshotError::Damaged(format!(
                    "repeated ids in {collection}"
                )));
            }
            catalog.collections.insert(
                collection,
                Entries {
                    ids: saved.ids,
                    entries: saved.entries,
                    position,
                },
            );
        }
        Ok(catalog)
    }
}
