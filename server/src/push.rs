//! Applying pushed mutations: each in its own transaction, exactly once,
//! with version compare-and-set and a three-way field merge on a stale base.
//!
//! Conflict policy (the same for every collection): when both sides changed a
//! field, the value already committed on the server wins and the client's
//! value is reported back as lost. For prompt `content`, the losing text is
//! also saved as a prompt_versions record, so it can be restored.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::{canonicalize_in, get_path, is_deleted, set_path, SchemaError};
use promptforge_wire::protocol::{
    FieldConflict, Mutation, MutationOp, MutationOutcome, MutationResult, RejectReason,
};
use promptforge_wire::schema::{new_id, Collection};

use crate::db::{set_seq, strip_seq, version_of, Db, MUTATIONS};
use crate::error::ServerError;
use crate::scope;

fn reject(reason: RejectReason, message: impl Into<String>) -> MutationOutcome {
    MutationOutcome::Rejected {
        reason,
        message: message.into(),
    }
}

/// The key recording one applied mutation.
fn mutation_key(user: &str, client_id: &str, mutation_id: u64) -> String {
    format!("{user}:{client_id}:{mutation_id}")
}

/// Applies one mutation (or returns its first result if it was applied before).
pub async fn apply(
    db: &Db,
    user: &str,
    client_id: &str,
    mutation: &Mutation,
) -> Result<MutationResult, ServerError> {
    let key = mutation_key(user, client_id, mutation.mutation_id);
    let (owned_db, user, client_id, owned_mutation) = (
        db.clone(),
        user.to_owned(),
        client_id.to_owned(),
        mutation.clone(),
    );
    let outcome = db
        .transaction(move |session| {
            let (db, user, client_id, mutation, key) =
                (owned_db.clone(), user.clone(), client_id.clone(), owned_mutation.clone(), key.clone());
            Box::pin(async move {
                let mutations = db.db.collection::<Document>(MUTATIONS);
                if let Some(done) = mutations.find_one(doc! { "_id": &key }).session(&mut *session).await? {
                    // Kept as its JSON text: the wire form, exact to the BSON type.
                    let stored = done
                        .get_str("outcome")
                        .map_err(|_| ServerError::Internal("stored mutation result is malformed".into()))?;
                    return serde_json::from_str::<MutationOutcome>(stored)
                        .map_err(|e| ServerError::Internal(format!("stored mutation result: {e}")));
                }
                let outcome = decide(&db, session, &user, &mutation).await?;
                let record = doc! {
                    "_id": &key,
                    "user_id": &user,
                    "client_id": &client_id,
                    "mutation_id": mutation.mutation_id as i64,
                    "outcome": serde_json::to_string(&outcome).map_err(|e| ServerError::Internal(e.to_string()))?,
                    "at": DateTime::now(),
                };
                mutations.insert_one(record).session(&mut *session).await?;
                Ok(outcome)
            })
        })
        .await?;
    Ok(MutationResult {
        mutation_id: mutation.mutation_id,
        outcome,
    })
}

async fn decide(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    m: &Mutation,
) -> Result<MutationOutcome, ServerError> {
    let Some(collection) = Collection::from_name(&m.collection) else {
        return Ok(reject(
            RejectReason::UnknownCollection,
            format!("unknown collection `{}`", m.collection),
        ));
    };
    let allowed = scope::writable(collection);
    match &m.op {
        MutationOp::Create { document } if allowed.create => {
            create(db, session, user, collection, m, document.clone()).await
        }
        MutationOp::Patch { changes, base } if allowed.patch => {
            patch(db, session, user, collection, m, changes, base).await
        }
        MutationOp::Delete if allowed.delete => delete(db, session, user, collection, m).await,
        MutationOp::Restore { changes, base } if allowed.delete => {
            restore(db, session, user, collection, m, changes, base).await
        }
        _ => Ok(reject(
            RejectReason::NotWritable,
            format!("{collection} cannot be changed this way from the desktop"),
        )),
    }
}

/// The answer for a document that is missing or not the user's to change:
/// the same words either way, so nobody learns what exists.
fn not_found(collection: Collection, id: &str) -> MutationOutcome {
    reject(
        RejectReason::NotFound,
        format!("{collection} `{id}` does not exist"),
    )
}

fn invalid(err: SchemaError) -> MutationOutcome {
    reject(RejectReason::Invalid, err.to_string())
}

async fn create(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    mut document: Document,
) -> Result<MutationOutcome, ServerError> {
    if m.base_version != 0 {
        return Ok(reject(
            RejectReason::Malformed,
            "a create has base_version 0",
        ));
    }
    match document.get("_id") {
        None => {
            document.insert("_id", m.id.clone());
        }
        Some(Bson::String(id)) if *id == m.id => {}
        Some(_) => {
            return Ok(reject(
                RejectReason::Malformed,
                "the document's _id differs from the mutation's id",
            ))
        }
    }
    let owner = scope::owner_field(collection);
    match document.get(owner) {
        Some(Bson::String(value)) if value == user => {}
        None if collection == Collection::AnalyticsEvents => {}
        // A version belongs to its prompt's owner, whoever of the prompt's
        // writers recorded it; checked against the prompt below.
        Some(Bson::String(_)) if collection == Collection::PromptVersions => {}
        _ => {
            return Ok(reject(
                RejectReason::Forbidden,
                format!("{owner} must be the signed-in user"),
            ))
        }
    }
    // Server-owned fields may only hold their defaults in a new document.
    let owned: Vec<&str> = scope::server_owned(collection)
        .iter()
        .copied()
        .filter(|path| get_path(&document, path).is_some_and(|v| *v != Bson::Null))
        .collect();
    if !owned.is_empty() {
        let mut stripped = document.clone();
        for path in &owned {
            let _ = set_path(&mut stripped, path, Bson::Null);
        }
        let (defaults, sent) = match (
            canonicalize_in(collection, stripped),
            canonicalize_in(collection, document.clone()),
        ) {
            (Ok((defaults, _)), Ok((sent, _))) => (defaults, sent),
            (Err(err), _) | (_, Err(err)) => return Ok(invalid(err)),
        };
        for path in owned {
            if get_path(&defaults, path) != get_path(&sent, path) {
                return Ok(reject(
                    RejectReason::ServerOwnedField,
                    format!("{collection}.{path} is set by the server"),
                ));
            }
        }
    }
    // A version belongs to a prompt the user may write.
    if collection == Collection::PromptVersions {
        let prompt_id = document.get_str("prompt_id").unwrap_or_default();
        let prompt = db
            .find_by_id(session, Collection::Prompts, prompt_id)
            .await?;
        let teams = scope::TeamAccess::load(db, user).await?;
        let Some(prompt) =
            prompt.filter(|p| scope::may_write(Collection::Prompts, p, user, &teams))
        else {
            return Ok(reject(
                RejectReason::NotFound,
                format!("prompt `{prompt_id}` does not exist"),
            ));
        };
        if document.get("user_id") != prompt.get("user_id") {
            return Ok(reject(
                RejectReason::Forbidden,
                "a version's user_id must be its prompt's owner",
            ));
        }
    }
    let coll = db.collection(collection);
    if db.find_by_id(session, collection, &m.id).await?.is_some() {
        return Ok(reject(
            RejectReason::AlreadyExists,
            format!("{collection} `{}` already exists", m.id),
        ));
    }
    // A document created and trashed offline arrives as a tombstone, so
    // every replica ends with the same trash; only its time is the client's.
    document.remove("deleted_by");
    match document.get("deleted_at") {
        Some(Bson::DateTime(_)) if collection.soft_deletes() => {
            if collection.has_field("deleted_by") {
                document.insert("deleted_by", user);
            }
        }
        _ => {
            document.remove("deleted_at");
        }
    }
    document.insert("version", 1_i64);
    // Authorship is the signed-in user's, whatever the client claims.
    for field in ["created_by", "last_modified_by"] {
        if collection.has_field(field) && field != scope::owner_field(collection) {
            document.insert(field, user);
        }
    }
    if collection == Collection::Projects {
        if let Some(team) = scope::team_of(&document) {
            let teams = scope::TeamAccess::load(db, user).await?;
            if !teams.teams.iter().any(|t| t == team) {
                return Ok(reject(
                    RejectReason::Forbidden,
                    format!("you are not a member of team `{team}`"),
                ));
            }
        }
    }
    let now = DateTime::now();
    if collection.has_field("updated_at") {
        document.insert("updated_at", now);
    }
    // Desktops stamp creation times offline; a document that never had one
    // gets the server's.
    let created = collection.created_field();
    if !matches!(document.get(created), Some(Bson::DateTime(t)) if t.timestamp_millis() > 0) {
        document.insert(created, now);
    }
    if collection == Collection::Projects {
        // Prompts and ideas may have been filed in it before it arrived.
        filed_members(db, session, &m.id, &mut document).await?;
    }
    if collection == Collection::MarketplaceListings {
        // A new listing is always a draft; review starts when it is published.
        document.insert("status", "draft");
        crate::market::fill_listing(db, session, &mut document).await?;
    }
    let (mut canonical, _) = match canonicalize_in(collection, document) {
        Ok(ok) => ok,
        Err(err) => return Ok(invalid(err)),
    };
    set_seq(collection, &mut canonical, db.next_seq(session).await?);
    coll.insert_one(&canonical).session(&mut *session).await?;
    keep_membership(db, session, collection, None, &canonical).await?;
    Ok(MutationOutcome::Applied {
        version: 1,
        document: strip_seq(canonical),
    })
}

fn as_json(value: Option<&Bson>) -> serde_json::Value {
    value
        .cloned()
        .unwrap_or(Bson::Null)
        .into_canonical_extjson()
}

async fn patch(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    changes: &Document,
    base: &Document,
) -> Result<MutationOutcome, ServerError> {
    if changes.is_empty() {
        return Ok(reject(
            RejectReason::Malformed,
            "a patch needs at least one change",
        ));
    }
    if let Some(refused) = check_changes(collection, changes) {
        return Ok(refused);
    }
    let Some(current) = db.find_by_id(session, collection, &m.id).await? else {
        return Ok(not_found(collection, &m.id));
    };
    let teams = scope::TeamAccess::load(db, user).await?;
    if !scope::may_write(collection, &current, user, &teams) {
        // Not revealing whether it exists: same answer as for a missing one.
        return Ok(not_found(collection, &m.id));
    }
    if is_deleted(&current) {
        return Ok(MutationOutcome::Conflict {
            reason: "the document was deleted; restore it or keep your edit as a copy".into(),
            server_document: strip_seq(current),
        });
    }
    let owner = current.get_str(scope::owner_field(collection)) == Ok(user);
    if let Some(field) = changes
        .keys()
        .find(|f| !owner && scope::owner_only(collection, f))
    {
        return Ok(reject(
            RejectReason::Forbidden,
            format!("only the owner changes {collection}.{field}"),
        ));
    }
    let start = current.clone();
    merge_and_write(
        db, session, user, collection, m, current, start, changes, base, &teams,
    )
    .await
}

/// Refuses a change set that names a malformed, unknown or server-owned field.
fn check_changes(collection: Collection, changes: &Document) -> Option<MutationOutcome> {
    for field in changes.keys() {
        if field.is_empty()
            || field.starts_with('$')
            || field.split('.').any(|s| s.is_empty() || s.starts_with('$'))
        {
            return Some(reject(
                RejectReason::Malformed,
                format!("`{field}` is not a field path"),
            ));
        }
        if scope::is_server_owned(collection, field) {
            return Some(reject(
                RejectReason::ServerOwnedField,
                format!("{collection}.{field} is set by the server"),
            ));
        }
        let top = field.split('.').next().unwrap_or(field);
        if !collection.has_field(top) {
            return Some(reject(
                RejectReason::Invalid,
                format!("{collection} has no field `{top}`"),
            ));
        }
    }
    None
}

/// Merges `changes` into `start` (the stored document, or its undeleted
/// form for a restore) and writes the result over `current` at its version.
#[allow(clippy::too_many_arguments)]
async fn merge_and_write(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    current: Document,
    start: Document,
    changes: &Document,
    base: &Document,
    teams: &scope::TeamAccess,
) -> Result<MutationOutcome, ServerError> {
    let current_version = version_of(&current);
    let stale = current_version != m.base_version;
    let mut merged = start;
    let mut conflicts = Vec::new();
    let mut lost_content: Option<Bson> = None;
    for (field, value) in changes {
        // A stored null and an absent field are the same "no value".
        let theirs = get_path(&current, field).filter(|b| **b != Bson::Null);
        let wanted = (value != &Bson::Null).then_some(value);
        let apply = if !stale
            || theirs == base.get(field).filter(|b| **b != Bson::Null)
            || theirs == wanted
        {
            true
        } else {
            conflicts.push(FieldConflict {
                field: field.clone(),
                kept: as_json(theirs),
                lost: as_json(wanted),
                resolution: "server_wins".into(),
                lost_saved_as: None,
            });
            if collection == Collection::Prompts && field == "content" {
                lost_content = Some(value.clone());
            }
            false
        };
        if apply {
            if let Err(why) = set_path(&mut merged, field, value.clone()) {
                return Ok(reject(RejectReason::Invalid, format!("{field}: {why}")));
            }
        }
    }
    // Checked before anything is written: a refused mutation changes nothing.
    if collection == Collection::Projects && scope::team_of(&current) != scope::team_of(&merged) {
        if let Some(team) = scope::team_of(&merged) {
            if !teams.teams.iter().any(|t| t == team) {
                return Ok(reject(
                    RejectReason::Forbidden,
                    format!("you are not a member of team `{team}`"),
                ));
            }
        }
    }
    if let Some(content) = lost_content {
        let saved = save_losing_content(db, session, &current, content, user).await?;
        if let Some(conflict) = conflicts.iter_mut().find(|c| c.field == "content") {
            conflict.lost_saved_as = Some(saved);
        }
    }
    if merged == current {
        return Ok(if conflicts.is_empty() {
            MutationOutcome::Applied {
                version: current_version,
                document: strip_seq(current),
            }
        } else {
            MutationOutcome::Merged {
                version: current_version,
                document: strip_seq(current),
                conflicts,
            }
        });
    }
    let version = current_version + 1;
    merged.insert("version", version);
    if collection.has_field("updated_at") {
        merged.insert("updated_at", DateTime::now());
    }
    if collection.has_field("last_modified_by") {
        merged.insert("last_modified_by", user);
    }
    if collection == Collection::MarketplaceListings {
        crate::market::fill_listing(db, session, &mut merged).await?;
        // What buyers get must be what a moderator saw: changing it sends an
        // approved listing back to review (the price may change freely; a
        // buyer's expected price guards it).
        let reviewed = [
            "prompt_id",
            "title",
            "description",
            "preview_content",
            "screenshots",
            "demo_url",
        ];
        let live = matches!(current.get_str("status"), Ok("approved" | "pending"));
        if live && reviewed.iter().any(|f| current.get(*f) != merged.get(*f)) {
            merged.insert("status", "pending");
            merged.insert("moderation_status", "under_review");
        }
    }
    let (mut canonical, _) = match canonicalize_in(collection, strip_seq(merged)) {
        Ok(ok) => ok,
        Err(err) => return Ok(invalid(err)),
    };
    let seq = db.next_seq(session).await?;
    set_seq(collection, &mut canonical, seq);
    let before = scope::explicit_readers(collection, &current);
    let removed = scope::readers_removed(collection, &before, &canonical);
    scope::record_exits(db, session, collection, &canonical, &removed).await?;
    if collection == Collection::Projects && scope::team_of(&current) != scope::team_of(&canonical)
    {
        // The new team's members must receive what is filed in the project.
        let filed = scope::filed_documents(db, session, std::slice::from_ref(&m.id)).await?;
        scope::resequence(db, session, &filed).await?;
    }
    db.replace_at_version(session, collection, &m.id, current_version, &canonical)
        .await?;
    keep_membership(db, session, collection, Some(&current), &canonical).await?;
    if collection == Collection::Users
        && ["display_name", "profile_image"]
            .iter()
            .any(|f| current.get(*f) != canonical.get(*f))
    {
        // Listings show the seller's name and picture: keep them current.
        crate::market::refresh_seller_listings(db, session, &m.id).await?;
    }
    let document = strip_seq(canonical);
    Ok(if conflicts.is_empty() && !stale {
        MutationOutcome::Applied { version, document }
    } else {
        MutationOutcome::Merged {
            version,
            document,
            conflicts,
        }
    })
}

/// Keeps a prompt's losing content as a new prompt_versions record.
async fn save_losing_content(
    db: &Db,
    session: &mut ClientSession,
    prompt: &Document,
    content: Bson,
    user: &str,
) -> Result<String, ServerError> {
    let prompt_id = prompt.get_str("_id").unwrap_or_default();
    let versions = db.collection(Collection::PromptVersions);
    let mut highest = 0_i64;
    let mut cursor = versions
        .find(doc! { "prompt_id": prompt_id })
        .session(&mut *session)
        .await?;
    while let Some(version) = cursor.next(&mut *session).await.transpose()? {
        highest = highest.max(version.get_i64("version_number").unwrap_or(0));
    }
    let id = new_id();
    let now = DateTime::now();
    let mut record = doc! {
        "_id": &id,
        "prompt_id": prompt_id,
        "user_id": prompt.get_str("user_id").unwrap_or(user),
        "version_number": highest.saturating_add(1),
        "content": content,
        "type": prompt.get_str("type").unwrap_or("text"),
        "changes": "Conflicting edit kept aside (another device saved first)",
        "created_at": now,
        "created_by": user,
        "version": 1_i64,
    };
    if let Ok(role) = prompt.get_str("role") {
        record.insert("role", role);
    }
    let (mut canonical, _) = canonicalize_in(Collection::PromptVersions, record)
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    set_seq(
        Collection::PromptVersions,
        &mut canonical,
        db.next_seq(session).await?,
    );
    versions
        .insert_one(canonical)
        .session(&mut *session)
        .await?;
    Ok(id)
}

async fn delete(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
) -> Result<MutationOutcome, ServerError> {
    let Some(current) = db.find_by_id(session, collection, &m.id).await? else {
        return Ok(not_found(collection, &m.id));
    };
    // Only owners delete; collaborators may edit but not delete.
    if current.get_str(scope::owner_field(collection)) != Ok(user) {
        return Ok(not_found(collection, &m.id));
    }
    let current_version = version_of(&current);
    if is_deleted(&current) {
        return Ok(MutationOutcome::Applied {
            version: current_version,
            document: strip_seq(current),
        });
    }
    if current_version != m.base_version {
        return Ok(MutationOutcome::Conflict {
            reason: "the document was edited on another device after the copy you deleted; \
                     it was kept"
                .into(),
            server_document: strip_seq(current),
        });
    }
    let mut tombstone = current.clone();
    let version = current_version + 1;
    let now = DateTime::now();
    tombstone.insert("deleted_at", now);
    if collection.has_field("deleted_by") {
        tombstone.insert("deleted_by", user);
    }
    if collection.has_field("updated_at") {
        tombstone.insert("updated_at", now);
    }
    tombstone.insert("version", version);
    set_seq(collection, &mut tombstone, db.next_seq(session).await?);
    db.replace_at_version(session, collection, &m.id, current_version, &tombstone)
        .await?;
    keep_membership(db, session, collection, Some(&current), &tombstone).await?;
    Ok(MutationOutcome::Applied {
        version,
        document: strip_seq(tombstone),
    })
}

/// Undeletes a document (owners only), then merges `changes` into it.
async fn restore(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    collection: Collection,
    m: &Mutation,
    changes: &Document,
    base: &Document,
) -> Result<MutationOutcome, ServerError> {
    if let Some(refused) = check_changes(collection, changes) {
        return Ok(refused);
    }
    let current = db.find_by_id(session, collection, &m.id).await?;
    let Some(current) = current.filter(|c| c.get_str(scope::owner_field(collection)) == Ok(user))
    else {
        return Ok(not_found(collection, &m.id));
    };
    if collection == Collection::Prompts
        && is_deleted(&current)
        && crate::market::is_refunded_copy(db, session, &m.id).await?
    {
        return Ok(reject(
            RejectReason::Forbidden,
            "this prompt came with a purchase that was refunded",
        ));
    }
    let teams = scope::TeamAccess::load(db, user).await?;
    let mut start = current.clone();
    start.remove("deleted_at");
    start.remove("deleted_by");
    merge_and_write(
        db, session, user, collection, m, current, start, changes, base, &teams,
    )
    .await
}

/// Keeps a project's `prompt_ids`/`idea_ids` and their counts in step with
/// a prompt or idea that was created, moved, deleted or restored.
async fn keep_membership(
    db: &Db,
    session: &mut ClientSession,
    collection: Collection,
    before: Option<&Document>,
    after: &Document,
) -> Result<(), ServerError> {
    let (ids_field, count_field) = match collection {
        Collection::Prompts => ("prompt_ids", "prompt_count"),
        Collection::Ideas => ("idea_ids", "idea_count"),
        _ => return Ok(()),
    };
    let filed_in = |doc: &Document| {
        (!is_deleted(doc))
            .then(|| doc.get_str("project_id").ok().map(str::to_owned))
            .flatten()
    };
    let (was, now) = (before.and_then(filed_in), filed_in(after));
    if was == now {
        return Ok(());
    }
    let member = Bson::String(after.get_str("_id").unwrap_or_default().to_owned());
    for (project_id, present) in [(was, false), (now, true)] {
        let Some(project_id) = project_id else {
            continue;
        };
        let Some(project) = db
            .find_by_id(session, Collection::Projects, &project_id)
            .await?
        else {
            continue;
        };
        let mut ids = project.get_array(ids_field).cloned().unwrap_or_default();
        if ids.contains(&member) == present {
            continue;
        }
        if present {
            ids.push(member.clone());
        } else {
            ids.retain(|id| id != &member);
        }
        let now = DateTime::now();
        let mut updated = strip_seq(project.clone());
        let mut stats = updated.get_document("stats").cloned().unwrap_or_default();
        stats.insert(count_field, ids.len() as i64);
        stats.insert("last_activity", now);
        updated.insert(ids_field, ids);
        updated.insert("stats", stats);
        // Membership is the server's bookkeeping, not an edit: the version
        // stays, so a delete made against it is not taken for a stale one.
        let version = version_of(&project);
        updated.insert("updated_at", now);
        set_seq(
            Collection::Projects,
            &mut updated,
            db.next_seq(session).await?,
        );
        db.replace_at_version(
            session,
            Collection::Projects,
            &project_id,
            version,
            &updated,
        )
        .await?;
    }
    Ok(())
}

/// Sets a new project's membership from the live prompts and ideas already
/// filed in it (their uploads may have arrived before the project's).
async fn filed_members(
    db: &Db,
    session: &mut ClientSession,
    project_id: &str,
    project: &mut Document,
) -> Result<(), ServerError> {
    let mut stats = project.get_document("stats").cloned().unwrap_or_default();
    for (collection, ids_field, count_field) in [
        (Collection::Prompts, "prompt_ids", "prompt_count"),
        (Collection::Ideas, "idea_ids", "idea_count"),
    ] {
        let mut ids = Vec::new();
        let mut cursor = db
            .collection(collection)
            .find(doc! { "project_id": project_id })
            .projection(doc! { "_id": 1, "deleted_at": 1 })
            .session(&mut *session)
            .await?;
        while let Some(member) = cursor.next(&mut *session).await.transpose()? {
            if !is_deleted(&member) {
                if let Some(id) = member.get("_id") {
                    ids.push(id.clone());
                }
            }
        }
        stats.insert(count_field, ids.len() as i64);
        project.insert(ids_field, ids);
    }
    project.insert("stats", stats);
    Ok(())
}
