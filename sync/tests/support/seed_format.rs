//! The seed file's format, read one way by every test that reads it: a
//! `## N. collection` header opens a collection, and each `` - `field` (type) ``
//! line under it names a field and its type text (which says `optional` for
//! a field documents may leave out). Included by path from `sync/tests` and
//! from the cross-crate `tests` harness, so neither depends on the other.

// Each includer uses part of it.
#![allow(dead_code)]

/// One field line of the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedLine {
    pub collection: String,
    pub name: String,
    /// What the parentheses hold, trimmed: `string`, `object: a, b`, ...
    pub type_text: String,
}

impl SeedLine {
    pub fn optional(&self) -> bool {
        self.type_text.contains("optional")
    }
}

/// Every field line of `seed`, in the seed's order.
pub fn seed_lines(seed: &str) -> Vec<SeedLine> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in seed.lines() {
        if let Some(header) = line.strip_prefix("## ") {
            current = header
                .split_once(". ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(str::to_owned);
            continue;
        }
        let (Some(collection), Some(field)) = (&current, line.strip_prefix("- `")) else {
            continue;
        };
        let Some((name, rest)) = field.split_once("` (") else {
            continue;
        };
        let type_text = rest.rsplit_once(')').map_or(rest, |(kind, _)| kind).trim();
        out.push(SeedLine {
            collection: collection.clone(),
            name: name.to_owned(),
            type_text: type_text.to_owned(),
        });
    }
    out
}
