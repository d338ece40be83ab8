//! The in-memory catalog: per collection, the few fields that lists filter and
//! sort on plus lower-cased search text, for every stored document.
//!
//! Lists and text search run here, never as PoloDB queries: PoloDB has no text
//! index, rejects a string `$regex`, treats `$ne` as `$eq`, and returns nothing for an
//! indexed filter combined with a sort. The single writer updates the catalog
//! after each commit. At a clean close the writer saves it to a snapshot file
//! so the next open skips decoding every document (seconds at 100k prompts);
//! the snapshot is trusted only when its token matches the one the store
//! wrote beside it, and otherwise the catalog is rebuilt from PoloDB.

use std::cmp::Ordering;
use std::collections::HashMap;

use memchr::memmem::Finder;

use crate::schema::Collection;

mod entry;
mod snapshot;

pub(crate) use entry::{canonicalize_in, entry_in, CatalogEntry};
pub(crate) use snapshot::SnapshotError;

/// Which documents a list includes with respect to soft deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeletedFilter {
    /// Live documents only (the trash hidden).
    #[default]
    Exclude,
    /// Live and deleted.
    Include,
    /// The trash only.
    Only,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    UpdatedAt,
    CreatedAt,
    Title,
}

/// A list request: every set filter must match; text terms must all appear.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub owner: Option<String>,
    pub status: Option<String>,
    pub category: Option<String>,
    /// Every tag listed must be on the document.
    pub tags: Vec<String>,
    pub project_id: Option<String>,
    pub folder_id: Option<String>,
    pub starred: Option<bool>,
    pub priority: Option<String>,
    pub visibility: Option<String>,
    pub difficulty: Option<String>,
    pub is_template: Option<bool>,
    /// Words that must all occur (case-insensitive) in title, description,
    /// content or tags.
    pub text: Option<String>,
    pub deleted: DeletedFilter,
    pub sort: SortBy,
    /// Newest or A-Z first unless set.
    pub reverse: bool,
    pub offset: usize,
    /// 0 means [`ListQuery::DEFAULT_LIMIT`]; capped at [`ListQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 1_000;

    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// One page of a list, with how many documents matched in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Default)]
struct Entries {
    ids: Vec<String>,
    entries: Vec<CatalogEntry>,
    position: HashMap<String, usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    collections: HashMap<Collection, Entries>,
}

impl Catalog {
    pub(crate) fn upsert(&mut self, collection: Collection, id: &str, entry: CatalogEntry) {
        let entries = self.collections.entry(collection).or_default();
        match entries.position.get(id) {
            Some(&at) => entries.entries[at] = entry,
            None => {
                entries.position.insert(id.to_owned(), entries.ids.len());
                entries.ids.push(id.to_owned());
                entries.entries.push(entry);
            }
        }
    }

    pub(crate) fn remove(&mut self, collection: Collection, id: &str) {
        let Some(entries) = self.collections.get_mut(&collection) else {
            return;
        };
        let Some(at) = entries.position.remove(id) else {
            return;
        };
        entries.ids.swap_remove(at);
        entries.entries.swap_remove(at);
        if let Some(moved) = entries.ids.get(at) {
            entries.position.insert(moved.clone(), at);
        }
    }

    /// Where this catalog and `other` disagree, whatever their order: ids
    /// only one of them has, and ids whose entries differ.
    pub(crate) fn differences(&self, other: &Catalog) -> Vec<String> {
        let mut problems = Vec::new();
        for collection in Collection::ALL {
            let empty = Entries::default();
            let mine = self.collections.get(&collection).unwrap_or(&empty);
            let theirs = other.collections.get(&collection).unwrap_or(&empty);
            for (id, &at) in &mine.position {
                match theirs.position.get(id) {
                    None => problems.push(format!("{collection} {id}: only in the catalog")),
                    // A rebuild counts versions without decoding them, so
                    // only their ids compare.
                    Some(&there)
                        if collection != Collection::PromptVersions
                            && theirs.entries[there] != mine.entries[at] =>
                    {
                        problems.push(format!(
                            "{collection} {id}: the catalog entry is out of date"
                        ))
                    }
                    Some(_) => {}
                }
            }
            for id in theirs.position.keys() {
                if !mine.position.contains_key(id) {
                    problems.push(format!("{collection} {id}: missing from the catalog"));
                }
            }
        }
        problems
    }

    pub(crate) fn len(&self, collection: Collection) -> usize {
        self.collections.get(&collection).map_or(0, |e| e.ids.len())
    }

    /// The ids of one page of matches, in order, and the number of matches.
    pub(crate) fn query(&self, collection: Collection, query: &ListQuery) -> (Vec<String>, usize) {
        let Some(entries) = self.collections.get(&collection) else {
            return (Vec::new(), 0);
        };
        let terms: Vec<String> = query
            .text
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let finders: Vec<Finder<'_>> = terms.iter().map(|t| Finder::new(t.as_bytes())).collect();

        let mut matches: Vec<usize> = entries
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| matches_filters(entry, query))
            .filter(|(_, entry)| {
                finders
                    .iter()
                    .all(|f| f.find(entry.haystack.as_bytes()).is_some())
            })
            .map(|(i, _)| i)
            .collect();
        let total = matches.len();

        // Times sort newest first and titles A-Z unless reversed; equal keys
        // fall back to the id, in the same direction, so pages are stable
        // (ids are assigned in creation order).
        let newest_first = query.sort != SortBy::Title;
        let compare = |a: &usize, b: &usize| -> Ordering {
            let (ea, eb) = (&entries.entries[*a], &entries.entries[*b]);
            let ascending = match query.sort {
                SortBy::UpdatedAt => ea.updated_at.cmp(&eb.updated_at),
                SortBy::CreatedAt => ea.created_at.cmp(&eb.created_at),
                SortBy::Title => ea.title.cmp(&eb.title),
            }
            .then_with(|| entries.ids[*a].cmp(&entries.ids[*b]));
            if newest_first != query.reverse {
                ascending.reverse()
            } else {
                ascending
            }
        };
        let limit = query.effective_limit();
        let end = query.offset.saturating_add(limit).min(total);
        if query.offset >= total {
            return (Vec::new(), total);
        }
        // Only the first `end` matches need ordering: select them in linear
        // time, then sort that prefix.
        if end < matches.len() {
            matches.select_nth_unstable_by(end, compare);
            matches.truncate(end);
        }
        matches.sort_unstable_by(compare);
        let ids = matches[query.offset..end]
            .iter()
            .map(|&i| entries.ids[i].clone())
            .collect();
        (ids, total)
    }
}

fn matches_filters(entry: &CatalogEntry, query: &ListQuery) -> bool {
    let deleted_ok = match query.deleted {
        DeletedFilter::Exclude => !entry.deleted,
        DeletedFilter::Include => true,
        DeletedFilter::Only => entry.deleted,
    };
    deleted_ok
        && option_matches(&query.owner, entry.owner.as_deref())
        && option_matches(&query.status, entry.status)
        && option_matches(&query.category, entry.category.as_deref())
        && option_matches(&query.project_id, entry.project_id.as_deref())
        && option_matches(&query.folder_id, entry.folder_id.as_deref())
        && option_matches(&query.priority, entry.priority)
        && option_matches(&query.visibility, entry.visibility)
        && option_matches(&query.difficulty, entry.difficulty)
        && query
            .is_template
            .is_none_or(|want| entry.is_template == Some(want))
        && query.starred.is_none_or(|want| entry.starred == Some(want))
        && query.tags.iter().all(|tag| entry.tags.contains(tag))
}

fn option_matches(wanted: &Option<String>, actual: Option<&str>) -> bool {
    wanted.as_deref().is_none_or(|w| actual == Some(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(title: &str, updated_at: i64, tags: &[&str]) -> CatalogEntry {
        CatalogEntry {
            title: title.to_lowercase(),
            updated_at,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            haystack: CatalogEntry::searchable([title]),
            ..CatalogEntry::default()
        }
    }

    #[test]
    fn removing_an_entry_keeps_the_positions_of_the_others_right() {
        let mut catalog = Catalog::default();
        for (id, title) in [("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")] {
            catalog.upsert(Collection::Prompts, id, entry(title, 1, &[]));
        }
        catalog.remove(Collection::Prompts, "a");
        catalog.upsert(Collection::Prompts, "c", entry("Gamma two", 5, &[]));
        let (ids, total) = catalog.query(Collection::Prompts, &ListQuery::default());
        assert_eq!(total, 2);
        assert_eq!(ids, vec!["c".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn pages_are_cut_after_sorting_all_matches() {
        let mut catalog = Catalog::default();
        for i in 0..100 {
            catalog.upsert(
                Collection::Ideas,
                &format!("id{i:03}"),
                entry(&format!("t{i}"), i, &["x"]),
            );
        }
        let query = ListQuery {
            offset: 10,
            limit: 5,
            tags: vec!["x".into()],
            ..ListQuery::default()
        };
        let (ids, total) = catalog.query(Collection::Ideas, &query);
        assert_eq!(total, 100);
        assert_eq!(ids, ["id089", "id088", "id087", "id086", "id085"]);
    }

    #[test]
    fn differences_name_missing_extra_and_stale_entries_whatever_the_order() {
        let mut live = Catalog::default();
        let mut rebuilt = Catalog::default();
        for (id, title) in [("a", "Alpha"), ("b", "Beta"), ("c", "Gamma")] {
            live.upsert(Collection::Prompts, id, entry(title, 1, &[]));
        }
        for (id, title) in [("c", "Gamma"), ("b", "Beta"), ("a", "Alpha")] {
            rebuilt.upsert(Collection::Prompts, id, entry(title, 1, &[]));
        }
        assert_eq!(live.differences(&rebuilt), Vec::<String>::new());

        live.upsert(Collection::Prompts, "a", entry("Alpha two", 2, &[]));
        live.remove(Collection::Prompts, "b");
        live.upsert(Collection::Ideas, "x", entry("Idea", 1, &[]));
        let mut found = live.differences(&rebuilt);
        found.sort();
        assert_eq!(
            found,
            [
                "ideas x: only in the catalog",
                "prompts a: the catalog entry is out of date",
                "prompts b: missing from the catalog",
            ]
        );
    }

    #[test]
    fn every_search_word_must_occur() {
        let mut catalog = Catalog::default();
        catalog.upsert(
            Collection::Prompts,
            "1",
            entry("Summarise meeting notes", 1, &[]),
        );
        catalog.upsert(Collection::Prompts, "2", entry("Summarise a paper", 2, &[]));
        let query = ListQuery {
            text: Some("SUMMAR notes".into()),
            ..ListQuery::default()
        };
        assert_eq!(catalog.query(Collection::Prompts, &query).0, ["1"]);
    }
}
