//! A prompt's version history as a replica keeps it: version numbers are the
//! server's to give, so a version not yet accepted holds a provisional number
//! above every accepted one; and a prompt's versioned fields rebase as one
//! unit with `latest_version_id`, the same rule the server merges by.

use bson::{Bson, Document};
use promptforge_wire::codec::version_of;
use promptforge_wire::schema::PROMPT_VERSIONED_FIELDS;

use super::rules::version_number as number;
use super::writer::Tx;
use crate::error::Result;
use crate::schema::Collection;

/// Whether the server has accepted this version (it holds a `version`).
fn accepted(version: &Document) -> bool {
    version_of(version) > 0
}

/// Renumbers the versions of `prompt_id` this device recorded and the server
/// has not yet accepted, in their order, above every accepted one, so an
/// accepted number arriving from the server never collides with one given
/// here offline. The server numbers them again when it accepts them.
pub(crate) fn renumber_provisional(tx: &mut Tx, prompt_id: &str) -> Result<()> {
    let versions = tx.find_eq(Collection::PromptVersions, "prompt_id", prompt_id)?;
    let top = versions
        .iter()
        .filter(|v| accepted(v))
        .map(number)
        .max()
        .unwrap_or(0);
    let mut provisional: Vec<Document> = versions.into_iter().filter(|v| !accepted(v)).collect();
    provisional.sort_by_key(number);
    for (next, mut version) in (top + 1..).zip(provisional) {
        if number(&version) != next {
            version.insert("version_number", next);
            tx.put_untracked(Collection::PromptVersions, version)?;
        }
    }
    Ok(())
}

/// The versioned fields in which `local` differs from `server`: what a
/// unit that lost its clash loses, as `(field, mine, theirs)`.
pub(crate) fn unit_differences(local: &Document, server: &Document) -> Vec<(String, Bson, Bson)> {
    let value = |doc: &Document, field: &str| {
        doc.get(field)
            .filter(|b| **b != Bson::Null)
            .cloned()
            .unwrap_or(Bson::Null)
    };
    PROMPT_VERSIONED_FIELDS
        .iter()
        .filter(|f| value(local, f) != value(server, f))
        .map(|f| ((*f).to_owned(), value(local, f), value(server, f)))
        .collect()
}
