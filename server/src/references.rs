//! References between documents, checked on every write a client makes.
//!
//! A field that points at another document may only be set to one that the
//! writer may write (filing something into it), read (a link), or owns (a
//! listing sells its seller's own prompt); most may also name a document
//! that does not exist yet (see [`Reference::ahead`]). Only values that
//! change are checked: a document whose target was later unshared or
//! deleted stays writable, and links made by the server itself (a purchased
//! copy's `parent_prompt_id`) are left alone. `docs/protocol.md` has this
//! table in words.

use bson::{Bson, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::get_path;
use promptforge_wire::schema::Collection;

use crate::db::Db;
use crate::error::ServerError;
use crate::scope::{self, TeamAccess};

/// What the writer needs on the document a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Filing into it: the writer must be allowed to write it (for a team's
    /// project, an editor of that team).
    Write,
    /// A link: the writer must be able to read it.
    Read,
    /// It must be the writer's own.
    Own,
    /// A team in which the writer may edit.
    TeamEditor,
    /// A version of the referring prompt itself.
    VersionOfThis,
}

/// One field of one collection that names another document.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// Dotted path of the field.
    pub field: &'static str,
    /// Whether the field is an array of ids.
    pub many: bool,
    pub target: Collection,
    pub need: Need,
    /// Whether it may name a document that does not exist yet. An offline
    /// desktop uploads a document as it is when sent, so a prompt filed into
    /// a project made later on the same laptop can arrive first. Such a
    /// reference grants nothing: a link reads nothing through it, a listing
    /// is checked again when published, and a filing is undone when the
    /// project arrives if its author may not write it (`push::membership::unfile`).
    pub ahead: bool,
}

const fn one(field: &'static str, target: Collection, need: Need) -> Reference {
    Reference {
        field,
        many: false,
        target,
        need,
        ahead: true,
    }
}

const fn many(field: &'static str, target: Collection, need: Need) -> Reference {
    Reference {
        field,
        many: true,
        target,
        need,
        ahead: true,
    }
}

/// A reference whose target must exist when it is set.
const fn existing(field: &'static str, target: Collection, need: Need) -> Reference {
    Reference {
        ahead: false,
        ..one(field, target, need)
    }
}

/// The references clients write, per collection. Fields naming users
/// (`collaboration.allowed_users`, `shared_with`, ...) are not here: they are
/// owner-only and checked as ids, and their existence is not revealed.
/// `folder_id` and `resource_ids` name no stored document.
pub fn references(collection: Collection) -> &'static [Reference] {
    use Collection as C;
    const PROMPTS: &[Reference] = &[
        one("project_id", C::Projects, Need::Write),
        one("parent_prompt_id", C::Prompts, Need::Read),
        one("template_id", C::Prompts, Need::Read),
        one("latest_version_id", C::PromptVersions, Need::VersionOfThis),
    ];
    const VERSIONS: &[Reference] = &[existing("prompt_id", C::Prompts, Need::Write)];
    const IDEAS: &[Reference] = &[
        one("project_id", C::Projects, Need::Write),
        many("related_prompt_ids", C::Prompts, Need::Read),
        many("derived_idea_ids", C::Ideas, Need::Read),
        many("inspiration_source_ids", C::Ideas, Need::Read),
    ];
    const PROJECTS: &[Reference] = &[
        one("parent_project_id", C::Projects, Need::Write),
        one("template_id", C::Projects, Need::Read),
        existing("collaboration.team_id", C::Teams, Need::TeamEditor),
    ];
    const LISTINGS: &[Reference] = &[one("prompt_id", C::Prompts, Need::Own)];
    match collection {
        C::Prompts => PROMPTS,
        C::PromptVersions => VERSIONS,
        C::Ideas => IDEAS,
        C::Projects => PROJECTS,
        C::MarketplaceListings => LISTINGS,
        _ => &[],
    }
}

/// The ids `reference` names in `doc`.
pub fn ids_at(doc: Option<&Document>, reference: &Reference) -> Vec<String> {
    let Some(value) = doc.and_then(|d| get_path(d, reference.field)) else {
        return Vec::new();
    };
    match value {
        Bson::String(id) if !reference.many && !id.is_empty() => vec![id.clone()],
        Bson::Array(items) if reference.many => items
            .iter()
            .filter_map(|b| b.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks every reference of `after` that `before` (the stored copy, `None`
/// for a create) did not already hold; a `revived` (restored) document is
/// filed anew, so its filing references are all checked. Returns why the
/// write is refused, in words that do not reveal whether a document the user
/// cannot see exists.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    before: Option<&Document>,
    revived: bool,
    after: &Document,
    teams: &TeamAccess,
) -> Result<Option<String>, ServerError> {
    let own_id = after.get_str("_id").unwrap_or_default();
    for reference in references(collection) {
        let had = if revived && reference.need == Need::Write {
            Vec::new()
        } else {
            ids_at(before, reference)
        };
        for id in ids_at(Some(after), reference) {
            if had.contains(&id) {
                continue;
            }
            let refused = || {
                Some(format!(
                    "{collection}.{}: {} `{id}` does not exist or is not yours to {}",
                    reference.field,
                    reference.target,
                    match reference.need {
                        Need::Write => "file into",
                        Need::Read => "link to",
                        Need::Own => "sell",
                        Need::TeamEditor => "edit in",
                        Need::VersionOfThis => "name as this prompt's version",
                    }
                ))
            };
            if reference.target == collection && id == own_id {
                return Ok(Some(format!(
                    "{collection}.{}: a document cannot refer to itself",
                    reference.field
                )));
            }
            if reference.need == Need::TeamEditor {
                if !teams.writable_teams.contains(&id) {
                    return Ok(refused());
                }
                continue;
            }
            let target = db.find_by_id(session, reference.target, &id).await?;
            let allowed = match (reference.need, &target) {
                (_, None) => reference.ahead,
                (Need::VersionOfThis, Some(version)) => version.get_str("prompt_id") == Ok(own_id),
                (Need::Write, Some(t)) => scope::may_write(reference.target, t, user, teams),
                (Need::Read, Some(t)) => scope::still_reads(reference.target, t, user, teams),
                (Need::Own, Some(t)) => t.get_str(scope::owner_field(reference.target)) == Ok(user),
                (Need::TeamEditor, Some(_)) => false,
            };
            if !allowed {
                return Ok(refused());
            }
        }
    }
    Ok(None)
}

/// Takes a restored document out of the places it was filed in that its
/// writer may no longer write (they left the team, or were unshared), so a
/// restore brings the document back rather than being refused for where it
/// used to be.
pub async fn drop_lost_filings(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    document: &mut Document,
    teams: &TeamAccess,
) -> Result<(), ServerError> {
    for reference in references(collection) {
        if reference.need != Need::Write || reference.many {
            continue;
        }
        let Some(id) = ids_at(Some(document), reference).pop() else {
            continue;
        };
        let target = db.find_by_id(session, reference.target, &id).await?;
        if target.is_some_and(|t| !scope::may_write(reference.target, &t, user, teams)) {
            let _ = promptforge_wire::codec::set_path(document, reference.field, Bson::Null);
        }
    }
    Ok(())
}
