//! Who may read and write what. Every rule takes the user id from the verified
//! token; nothing a client says about itself widens its scope.

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
pub use promptforge_wire::access::{
    always_server_owned, is_server_owned, owner_field, server_owned, writable, Writable,
};
use promptforge_wire::codec::get_path;
use promptforge_wire::schema::Collection;

use crate::db::Db;
use crate::error::ServerError;

/// Collections a desktop pulls, in the order a first sync should fetch them.
pub const PULLED: [Collection; 10] = [
    Collection::Users,
    Collection::Teams,
    Collection::Projects,
    Collection::Prompts,
    Collection::PromptVersions,
    Collection::Ideas,
    Collection::MarketplaceListings,
    Collection::MarketplacePurchases,
    Collection::Reviews,
    Collection::Notifications,
];

/// The fields [`read_filter`] matches on, each of which wants an index.
pub fn scope_fields(collection: Collection) -> &'static [&'static str] {
    match collection {
        Collection::Projects => &[
            "user_id",
            "collaboration.allowed_users",
            "collaboration.team_id",
        ],
        Collection::Prompts => &["user_id", "collaboration.allowed_users", "project_id"],
        Collection::Ideas => &["user_id", "shared_with", "project_id"],
        Collection::MarketplaceListings => &["seller_id", "status"],
        Collection::MarketplacePurchases => &["buyer_id", "seller_id"],
        Collection::PromptVersions => &["user_id", "prompt_id"],
        Collection::Notifications | Collection::AnalyticsEvents => &["user_id"],
        // A team's members as of its last sequencing: an index serves
        // "the teams of this user", which `members.<user>` (a field named by
        // the user) cannot.
        Collection::Teams => &[crate::db::SEQ_READERS],
        // A profile is read by its `_id`; with the cursor beside it, the
        // planner need not weigh the cursor index against it.
        Collection::Users => &["_id"],
        Collection::Reviews => &[],
    }
}

/// What a user reaches through the teams they belong to: a team's projects,
/// and the prompts and ideas filed in them.
#[derive(Debug, Clone, Default)]
pub struct TeamAccess {
    pub teams: Vec<String>,
    /// Teams where the user's role or permissions allow editing.
    pub writable_teams: Vec<String>,
    pub projects: Vec<String>,
    pub writable_projects: Vec<String>,
}

impl TeamAccess {
    /// Looks up the user's teams (not deleted) and those teams' projects.
    /// Teams are found through the members recorded when each was last
    /// sequenced (indexed), and kept only if the user is a member now: a
    /// member added by another backend counts once the sequencer has seen
    /// the write (milliseconds), a removed one at once.
    pub async fn load(db: &Db, user: &str) -> Result<TeamAccess, ServerError> {
        let mut access = TeamAccess::default();
        // A user id is never a path, but a forged one must not become one.
        if user.contains(['.', '$']) {
            return Ok(access);
        }
        let member = format!("members.{user}");
        let mut teams = db
            .collection(Collection::Teams)
            .find(doc! {
                crate::db::SEQ_READERS: user,
                &member: { "$exists": true },
                "deleted_at": { "$exists": false },
            })
            .projection(doc! { "_id": 1, &member: 1 })
            .await?;
        while let Some(team) = teams.try_next().await? {
            let Ok(id) = team.get_str("_id") else {
                continue;
            };
            let membership = team
                .get_document("members")
                .ok()
                .and_then(|m| m.get_document(user).ok());
            let role = membership
                .and_then(|m| m.get_str("role").ok())
                .unwrap_or("viewer");
            let permissions = membership.and_then(|m| m.get_array("permissions").ok());
            let may_edit = matches!(role, "owner" | "admin" | "editor")
                || permissions.is_some_and(|p| {
                    p.iter()
                        .any(|v| matches!(v.as_str(), Some("write" | "edit")))
                });
            access.teams.push(id.to_owned());
            if may_edit {
                access.writable_teams.push(id.to_owned());
            }
        }
        if access.teams.is_empty() {
            return Ok(access);
        }
        let mut projects = db
            .collection(Collection::Projects)
            .find(doc! { "collaboration.team_id": { "$in": &access.teams } })
            .projection(doc! { "_id": 1, "collaboration.team_id": 1 })
            .await?;
        while let Some(project) = projects.try_next().await? {
            let Ok(id) = project.get_str("_id") else {
                continue;
            };
            let team = project
                .get_document("collaboration")
                .ok()
                .and_then(|c| c.get_str("team_id").ok());
            access.projects.push(id.to_owned());
            if team.is_some_and(|t| access.writable_teams.iter().any(|w| w == t)) {
                access.writable_projects.push(id.to_owned());
            }
        }
        Ok(access)
    }
}

/// The filter of the documents of `collection` the user may read, loading
/// what it depends on: the user's teams and, for prompt versions, the
/// prompts shared with the user (a prompt's history is read by everyone who
/// reads the prompt, whoever recorded each version).
pub async fn read_scope(
    db: &Db,
    collection: Collection,
    user: &str,
) -> Result<Option<Document>, ServerError> {
    let teams = TeamAccess::load(db, user).await?;
    if collection != Collection::PromptVersions {
        return Ok(read_filter(collection, user, &teams));
    }
    let shared = doc! {
        "user_id": { "$ne": user },
        "$or": [
            { "collaboration.allowed_users": user },
            { "project_id": { "$in": &teams.projects } },
        ],
    };
    let prompts: Vec<Bson> = db
        .collection(Collection::Prompts)
        .find(shared)
        .projection(doc! { "_id": 1 })
        .await?
        .try_collect::<Vec<Document>>()
        .await?
        .into_iter()
        .filter_map(|p| p.get("_id").cloned())
        .collect();
    Ok(Some(doc! { "$or": [
        { "user_id": user },
        { "prompt_id": { "$in": prompts } },
    ] }))
}

/// The documents of `collection` the user may read, for every collection but
/// prompt versions, whose readers [`read_scope`] finds through their prompts.
pub fn read_filter(collection: Collection, user: &str, teams: &TeamAccess) -> Option<Document> {
    Some(match collection {
        Collection::Users => doc! { "_id": user },
        Collection::Projects => doc! { "$or": [
            { "user_id": user },
            { "collaboration.allowed_users": user },
            { "collaboration.team_id": { "$in": &teams.teams } },
        ] },
        Collection::Prompts => doc! { "$or": [
            { "user_id": user },
            { "collaboration.allowed_users": user },
            { "project_id": { "$in": &teams.projects } },
        ] },
        Collection::Ideas => doc! { "$or": [
            { "user_id": user },
            { "shared_with": user },
            { "project_id": { "$in": &teams.projects } },
        ] },
        // Without the shared prompts: only the user's own prompts' history.
        Collection::PromptVersions | Collection::Notifications => doc! { "user_id": user },
        // Approved listings are public; a suspended one still reaches the
        // desktops that had it, so they stop offering it.
        Collection::MarketplaceListings => doc! { "$or": [
            { "seller_id": user },
            { "status": { "$in": ["approved", "suspended"] } },
        ] },
        Collection::MarketplacePurchases => {
            doc! { "$or": [ { "buyer_id": user }, { "seller_id": user } ] }
        }
        // Reviews are public, like the listings they rate.
        Collection::Reviews => doc! {},
        Collection::Teams => {
            if user.contains(['.', '$']) {
                // A user id that would read as a path is in no team.
                return Some(doc! { "_id": { "$in": [] } });
            }
            // The index finds the candidates; the membership itself is
            // checked on the current document, so a removal counts at once.
            doc! {
                crate::db::SEQ_READERS: user,
                format!("members.{user}"): { "$exists": true },
            }
        }
        // Analytics events are uploaded, never pulled back.
        Collection::AnalyticsEvents => return None,
    })
}

/// Whether `user` may change `document`: its owner, a collaborator the
/// owner listed (prompts and projects), or an editor of the team the project
/// (or the prompt's or idea's project) belongs to.
pub fn may_write(
    collection: Collection,
    document: &Document,
    user: &str,
    teams: &TeamAccess,
) -> bool {
    if collection == Collection::Teams {
        // A team is read by its members only, its creator included.
        return explicit_readers(collection, document)
            .iter()
            .any(|u| u == user);
    }
    if document.get_str(owner_field(collection)) == Ok(user) {
        return true;
    }
    let collaboration = document.get_document("collaboration").ok();
    let listed = collaboration
        .and_then(|c| c.get_array("allowed_users").ok())
        .is_some_and(|users| users.contains(&Bson::String(user.to_owned())))
        && share_permission(document, user) != SharePermission::Read;
    match collection {
        Collection::Projects => {
            let team = document
                .get_document("collaboration")
                .ok()
                .and_then(|c| c.get_str("team_id").ok());
            listed || team.is_some_and(|t| teams.writable_teams.iter().any(|w| w == t))
        }
        Collection::Prompts | Collection::Ideas => {
            let project = document.get_str("project_id").ok();
            (listed && collection == Collection::Prompts)
                || project.is_some_and(|p| teams.writable_projects.iter().any(|w| w == p))
        }
        _ => false,
    }
}

/// What a user listed in a document's `collaboration.allowed_users` may do
/// with it, from `collaboration.permissions.<user>`: `"write"` or `"edit"`
/// (or no entry at all, as before permissions existed) lets them write;
/// any other value makes them a reader (failing closed: a value another
/// backend spelled oddly never grants more). Ideas have no permissions:
/// `shared_with` only reads.
pub fn share_permission(document: &Document, user: &str) -> SharePermission {
    let entry = document
        .get_document("collaboration")
        .ok()
        .and_then(|c| c.get_document("permissions").ok())
        .and_then(|p| p.get(user));
    match entry {
        None => SharePermission::Write,
        Some(Bson::String(p)) if p == "write" || p == "edit" => SharePermission::Write,
        Some(_) => SharePermission::Read,
    }
}

pub use promptforge_wire::share::SharePermission;

/// The field listing users a document is shared with, for collections that
/// have one.
fn sharing_list(collection: Collection) -> Option<&'static str> {
    match collection {
        Collection::Prompts | Collection::Projects => Some("collaboration.allowed_users"),
        Collection::Ideas => Some("shared_with"),
        _ => None,
    }
}

/// The strings of the array at `path` (a list of user ids); none when absent.
pub fn listed_users(doc: &Document, path: &str) -> Vec<String> {
    match get_path(doc, path) {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|b| b.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Users a document is explicitly given to: its sharing list, or, for a
/// team, its members.
pub fn explicit_readers(collection: Collection, doc: &Document) -> Vec<String> {
    match collection {
        Collection::Teams => doc
            .get_document("members")
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        _ => sharing_list(collection)
            .map(|path| listed_users(doc, path))
            .unwrap_or_default(),
    }
}

/// Users in `before` (explicit readers at some earlier state) who are no
/// longer explicit readers of `after` (the owner never changes).
pub fn readers_removed(collection: Collection, before: &[String], after: &Document) -> Vec<String> {
    // A team's creator reads it only while a member; anyone else's owner
    // always reads what they own.
    let owner = match collection {
        Collection::Teams => "",
        _ => after.get_str(owner_field(collection)).unwrap_or_default(),
    };
    let still = explicit_readers(collection, after);
    before
        .iter()
        .filter(|user| *user != owner && !still.contains(user))
        .cloned()
        .collect()
}

/// Whether `user` can still read `document` after a change, by any route.
pub fn still_reads(
    collection: Collection,
    document: &Document,
    user: &str,
    teams: &TeamAccess,
) -> bool {
    if collection == Collection::Teams {
        // A team is read by its members only, its creator included.
        return explicit_readers(collection, document)
            .iter()
            .any(|u| u == user);
    }
    if document.get_str(owner_field(collection)) == Ok(user)
        || explicit_readers(collection, document)
            .iter()
            .any(|u| u == user)
    {
        return true;
    }
    match collection {
        Collection::Projects => document
            .get_document("collaboration")
            .ok()
            .and_then(|c| c.get_str("team_id").ok())
            .is_some_and(|team| teams.teams.iter().any(|t| t == team)),
        Collection::Prompts | Collection::Ideas => document
            .get_str("project_id")
            .is_ok_and(|project| teams.projects.iter().any(|p| p == project)),
        _ => false,
    }
}

/// Records "left your scope" notices for `removed` readers of `document`
/// (its state after the write); the sequencer gives each a sequence number
/// of its own, so a page boundary can never fall between notices sharing one. A team's former
/// members lose the team's projects and the prompts and ideas filed in them.
/// Nobody is told about a document they can still read by another route.
pub async fn record_exits(
    db: &Db,
    session: &mut mongodb::ClientSession,
    collection: Collection,
    document: &Document,
    removed: &[String],
) -> Result<(), ServerError> {
    if removed.is_empty() {
        return Ok(());
    }
    let doc_id = document.get_str("_id").unwrap_or_default();
    let lost: Vec<(Collection, Document)> = if collection == Collection::Teams {
        // The team itself goes too, or a former member's desktop would keep
        // showing them in it.
        let mut lost = team_documents(db, session, doc_id).await?;
        lost.push((collection, document.clone()));
        lost
    } else {
        vec![(collection, document.clone())]
    };
    record_losses(db, session, &lost, removed, None).await
}

/// Tells the members of the team a document reached through before a write
/// that it left their scope, when the write took it out of that team: a
/// prompt or idea moved out of a team's project, or a project moved out of
/// its team (with what is filed in it). `before` and `after` are the
/// document's states around the write. Members who still read it by
/// another route (their own, shared with them, the new team) are not told.
pub async fn record_team_exits(
    db: &Db,
    session: &mut mongodb::ClientSession,
    collection: Collection,
    before: &Document,
    after: &Document,
) -> Result<(), ServerError> {
    let (old_team, lost, moved_project) = match collection {
        Collection::Prompts | Collection::Ideas => {
            let Ok(old_project) = before.get_str("project_id") else {
                return Ok(());
            };
            if after.get_str("project_id") == Ok(old_project) {
                return Ok(());
            }
            let project = db
                .find_by_id(session, Collection::Projects, old_project)
                .await?;
            let Some(team) = project.as_ref().and_then(team_of) else {
                return Ok(());
            };
            (team.to_owned(), vec![(collection, after.clone())], None)
        }
        Collection::Projects => {
            let Some(old_team) = team_of(before) else {
                return Ok(());
            };
            if team_of(after) == Some(old_team) {
                return Ok(());
            }
            let id = after.get_str("_id").unwrap_or_default().to_owned();
            let mut lost = filed_documents(db, session, std::slice::from_ref(&id)).await?;
            lost.push((collection, after.clone()));
            (old_team.to_owned(), lost, Some(after))
        }
        _ => return Ok(()),
    };
    let Some(team) = db.find_by_id(session, Collection::Teams, &old_team).await? else {
        return Ok(());
    };
    let members = explicit_readers(Collection::Teams, &team);
    record_losses(db, session, &lost, &members, moved_project).await
}

/// Records a notice for each of `users` and each of `lost` (with a prompt's
/// versions) that the user can no longer read. `moved_project` is a project
/// whose team this write changes: the users' team access is judged with its
/// new team, since the stored one (read outside the transaction) is old.
async fn record_losses(
    db: &Db,
    session: &mut mongodb::ClientSession,
    lost: &[(Collection, Document)],
    users: &[String],
    moved_project: Option<&Document>,
) -> Result<(), ServerError> {
    if users.is_empty() || lost.is_empty() {
        return Ok(());
    }
    // What goes with each lost document, looked up once for every user.
    let mut gone_with = Vec::with_capacity(lost.len());
    for (collection, document) in lost {
        let Ok(id) = document.get_str("_id") else {
            gone_with.push(Vec::new());
            continue;
        };
        let mut gone = vec![(*collection, id.to_owned())];
        if *collection == Collection::Prompts {
            gone.extend(
                version_ids(db, session, id)
                    .await?
                    .into_iter()
                    .map(|v| (Collection::PromptVersions, v)),
            );
        }
        gone_with.push(gone);
    }
    let mut exits = Vec::new();
    for user in users {
        let mut access = TeamAccess::load(db, user).await?;
        if let Some(project) = moved_project {
            let id = project.get_str("_id").unwrap_or_default();
            access.projects.retain(|p| p != id);
            if team_of(project).is_some_and(|t| access.teams.iter().any(|m| m == t)) {
                access.projects.push(id.to_owned());
            }
        }
        for ((collection, document), gone) in lost.iter().zip(&gone_with) {
            if still_reads(*collection, document, user, &access) {
                continue;
            }
            for (gone_collection, gone_id) in gone {
                exits.push(doc! { "_id": uuid::Uuid::new_v4().to_string(), "user_id": user, "collection": gone_collection.name(), "doc_id": gone_id, "at": bson::DateTime::now(), crate::db::SEQ: crate::db::pending_seq() });
            }
        }
    }
    if !exits.is_empty() {
        for exit in &exits {
            if let Some(id) = exit.get("_id") {
                crate::db::note_written(crate::db::SCOPE_EXITS, id.clone());
            }
        }
        db.db
            .collection::<Document>(crate::db::SCOPE_EXITS)
            .insert_many(exits)
            .session(&mut *session)
            .await?;
    }
    Ok(())
}

/// A team's projects and the prompts and ideas filed in them.
pub async fn team_documents(
    db: &Db,
    session: &mut mongodb::ClientSession,
    team_id: &str,
) -> Result<Vec<(Collection, Document)>, ServerError> {
    db.flush(session).await?;
    let projects: Vec<Document> = db
        .collection(Collection::Projects)
        .find(doc! { "collaboration.team_id": team_id })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    let project_ids: Vec<String> = projects
        .iter()
        .filter_map(|p| p.get_str("_id").ok().map(str::to_owned))
        .collect();
    let mut found = filed_documents(db, session, &project_ids).await?;
    found.extend(projects.into_iter().map(|p| (Collection::Projects, p)));
    Ok(found)
}

/// The prompts and ideas filed in `projects`.
pub async fn filed_documents(
    db: &Db,
    session: &mut mongodb::ClientSession,
    projects: &[String],
) -> Result<Vec<(Collection, Document)>, ServerError> {
    let mut found = Vec::new();
    if projects.is_empty() {
        return Ok(found);
    }
    db.flush(session).await?;
    for filed in [Collection::Prompts, Collection::Ideas] {
        let docs: Vec<Document> = db
            .collection(filed)
            .find(doc! { "project_id": { "$in": projects } })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        found.extend(docs.into_iter().map(|d| (filed, d)));
    }
    Ok(found)
}

/// Has documents sequenced afresh without changing them (their
/// `_seq_version` is cleared, so the sequencer numbers them again), so
/// readers who just gained access (a new team member, a project filed into a
/// team, a collaborator added to a prompt) pull them even though their
/// checkpoints are past the old numbers. A prompt's versions come with it.
pub async fn resequence(
    db: &Db,
    session: &mut mongodb::ClientSession,
    documents: &[(Collection, Document)],
) -> Result<(), ServerError> {
    // The update below goes around the batch: it must find every document
    // in the database, and the batch must read them again afterwards.
    db.flush(session).await?;
    for (collection, document) in documents {
        let Some(Bson::String(id)) = document.get("_id") else {
            continue;
        };
        let mut ids = vec![(*collection, id.clone())];
        if *collection == Collection::Prompts {
            ids.extend(
                version_ids(db, session, id)
                    .await?
                    .into_iter()
                    .map(|v| (Collection::PromptVersions, v)),
            );
        }
        for (collection, id) in ids {
            db.collection(collection)
                .update_one(
                    doc! { "_id": id.clone() },
                    doc! { "$unset": { crate::db::SEQ_VERSION: "" } },
                )
                .session(&mut *session)
                .await?;
            db.forget(collection, &id);
            crate::db::note_written(collection.name(), Bson::String(id));
        }
    }
    Ok(())
}

/// The ids of a prompt's versions.
pub async fn version_ids(
    db: &Db,
    session: &mut mongodb::ClientSession,
    prompt_id: &str,
) -> Result<Vec<String>, ServerError> {
    db.flush(session).await?;
    let versions: Vec<Document> = db
        .collection(Collection::PromptVersions)
        .find(doc! { "prompt_id": prompt_id })
        .projection(doc! { "_id": 1 })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    Ok(versions
        .iter()
        .filter_map(|v| v.get_str("_id").ok().map(str::to_owned))
        .collect())
}

/// The team a project is filed into, if any.
pub fn team_of(project: &Document) -> Option<&str> {
    project
        .get_document("collaboration")
        .ok()
        .and_then(|c| c.get_str("team_id").ok())
}
