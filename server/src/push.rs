//! Applying pushed mutations: each in its own transaction, exactly once,
//! with version compare-and-set and a three-way field merge on a stale base.
//!
//! Conflict policy (the same for every collection): when both sides changed a
//! field, the value already committed on the server wins and the client's
//! value is reported back as lost. For prompt `content`, the losing text is
//! also saved as a prompt_versions record, so it can be restored.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{canonicalize_in, get_path, is_deleted, set_path, SchemaError};
use promptforge_wire::protocol::{
    FieldConflict, Mutation, MutationOp, MutationOutcome, MutationResult, RejectReason,
};
use promptforge_wire::schema::{merge_unit, Collection};

use crate::db::{strip_seq, version_of, Db, MUTATIONS};
use crate::error::ServerError;
use crate::{history, references, scope};

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

/// Applies one mutation like [`apply`], but answers a mutation that fails
/// for good inside the server or the database with a `rejected` result of
/// its own (recorded, so a resend gets the same answer), so one bad
/// mutation never fails its batch or blocks the client's queue. Only
/// failures that retrying can cure fail the request.
pub async fn apply_isolated(
    db: &Db,
    user: &str,
    client_id: &str,
    mutation: &Mutation,
) -> Result<MutationResult, ServerError> {
    if mutation.mutation_id == 0 || i64::try_from(mutation.mutation_id).is_err() {
        return Ok(MutationResult {
            mutation_id: mutation.mutation_id,
            outcome: reject(
                RejectReason::Malformed,
                "mutation_id must be a positive integer below 2^63",
            ),
        });
    }
    let err = match apply(db, user, client_id, mutation).await {
        Ok(result) => return Ok(result),
        Err(err) if err.is_retryable() => return Err(err),
        Err(err) => err,
    };
    let outcome = match &err {
        ServerError::Schema(schema) => reject(RejectReason::Invalid, schema.to_string()),
        ServerError::BadRequest(message) => reject(RejectReason::Malformed, message.clone()),
        ServerError::Mongo(mongo) => reject(
            RejectReason::Invalid,
            format!(
                "the database refused this change{}",
                crate::error::mongo_code(mongo)
                    .map(|code| format!(" (error {code})"))
                    .unwrap_or_default()
            ),
        ),
        _ => reject(
            RejectReason::Invalid,
            "the server could not apply this change",
        ),
    };
    tracing::warn!(error = %err, collection = %mutation.collection, "mutation failed for good; answered as rejected");
    let key = mutation_key(user, client_id, mutation.mutation_id);
    let (owned_db, user, client_id, mutation_id) = (
        db.clone(),
        user.to_owned(),
        client_id.to_owned(),
        mutation.mutation_id,
    );
    let outcome = db
        .transaction(move |session| {
            let (db, user, client_id, key, outcome) = (
                owned_db.clone(),
                user.clone(),
                client_id.clone(),
                key.clone(),
                outcome.clone(),
            );
            Box::pin(async move {
                // A concurrent resend may have recorded an answer first.
                if let Some(done) = recorded(&db, session, &key).await? {
                    return Ok(done);
                }
                record(&db, session, &key, &user, &client_id, mutation_id, &outcome).await?;
                Ok(outcome)
            })
        })
        .await?;
    Ok(MutationResult {
        mutation_id: mutation.mutation_id,
        outcome,
    })
}

/// The recorded result of the mutation with this key, if any.
async fn recorded(
    db: &Db,
    session: &mut ClientSession,
    key: &str,
) -> Result<Option<MutationOutcome>, ServerError> {
    let Some(done) = db
        .db
        .collection::<Document>(MUTATIONS)
        .find_one(doc! { "_id": key })
        .session(&mut *session)
        .await?
    else {
        return Ok(None);
    };
    // Kept as its JSON text: the wire form, exact to the BSON type.
    let stored = done
        .get_str("outcome")
        .map_err(|_| ServerError::Internal("stored mutation result is malformed".into()))?;
    serde_json::from_str::<MutationOutcome>(stored)
        .map(Some)
        .map_err(|e| ServerError::Internal(format!("stored mutation result: {e}")))
}

/// Records a mutation's result in the caller's transaction.
async fn record(
    db: &Db,
    session: &mut ClientSession,
    key: &str,
    user: &str,
    client_id: &str,
    mutation_id: u64,
    outcome: &MutationOutcome,
) -> Result<(), ServerError> {
    let record = doc! {
        "_id": key,
        "user_id": user,
        "client_id": client_id,
        "mutation_id": i64::try_from(mutation_id).map_err(|e| ServerError::Internal(e.to_string()))?,
        "outcome": serde_json::to_string(outcome).map_err(|e| ServerError::Internal(e.to_string()))?,
        "at": DateTime::now(),
    };
    db.db
        .collection::<Document>(MUTATIONS)
        .insert_one(record)
        .session(&mut *session)
        .await?;
    Ok(())
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
            let (db, user, client_id, mutation, key) = (
                owned_db.clone(),
                user.clone(),
                client_id.clone(),
                owned_mutation.clone(),
                key.clone(),
            );
            Box::pin(async move {
                if let Some(done) = recorded(&db, session, &key).await? {
                    return Ok(done);
                }
                let outcome = decide(&db, session, &user, &mutation).await?;
                record(
                    &db,
                    session,
                    &key,
                    &user,
                    &client_id,
                    mutation.mutation_id,
                    &outcome,
                )
                .await?;
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
        // An event sent without a user is the sender's all the same.
        None if collection == Collection::AnalyticsEvents => {
            document.insert(owner, user);
        }
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
    if let Some(refused) = check_create_owned(collection, &document) {
        return Ok(refused);
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
            (Ok(defaults), Ok(sent)) => (defaults, sent),
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
    for field in ["created_by", "last_modified_by"] {
        if collection.has_field(field) && field != scope::owner_field(collection) {
            document.insert(field, user);
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
    let mut strangers = Vec::new();
    if collection == Collection::Projects {
        // Prompts and ideas may have been filed in it before it arrived.
        strangers = filed_members(db, session, &m.id, &mut document).await?;
    }
    if collection == Collection::MarketplaceListings {
        // A new listing is always a draft; review starts when it is published.
        document.insert("status", "draft");
        crate::market::fill_listing(db, session, &mut document).await?;
    }
    let first_version = if collection == Collection::Prompts {
        history::keep_latest_in_step(db, session, None, &mut document, user).await?
    } else {
        None
    };
    let admitted = match admit(collection, document, None) {
        Ok(admitted) => admitted,
        Err(err) => return Ok(invalid(err)),
    };
    let teams = scope::TeamAccess::load(db, user).await?;
    if let Some(why) = references::check(
        db,
        session,
        user,
        collection,
        None,
        false,
        admitted.document(),
        &teams,
    )
    .await?
    {
        return Ok(reject(RejectReason::Forbidden, why));
    }
    // A version belongs to its prompt's owner, whoever of the prompt's
    // writers recorded it (the reference check above found the prompt).
    let admitted = if collection == Collection::PromptVersions {
        let prompt_id = admitted.document().get_str("prompt_id").unwrap_or_default();
        let prompt = db
            .find_by_id(session, Collection::Prompts, prompt_id)
            .await?;
        if prompt.and_then(|p| p.get("user_id").cloned()).as_ref()
            != admitted.document().get("user_id")
        {
            return Ok(reject(
                RejectReason::Forbidden,
                "a version's user_id must be its prompt's owner",
            ));
        }
        // The number the desktop gave is a placeholder: the server numbers
        // a prompt's history in the order versions arrive.
        let number = db.next_version_number(session, prompt_id).await?;
        let mut numbered = admitted.into_document();
        numbered.insert("version_number", number);
        admit(collection, numbered, None)?
    } else {
        admitted
    };
    unfile(db, session, strangers).await?;
    let stored = db.insert(session, collection, admitted).await?;
    if let Some(record) = first_version {
        history::insert_record(db, session, record).await?;
    }
    keep_membership(db, session, collection, None, &stored).await?;
    Ok(MutationOutcome::Applied {
        version: 1,
        document: stored,
    })
}

/// Refuses a create that sets a field only the server writes to anything
/// but what the server would set itself: `version` (absent or 0) and the
/// sync bookkeeping (`_seq` and every other `_`-prefixed field but `_id`).
/// Authorship (`created_by`, `last_modified_by`, `deleted_by`) and
/// `updated_at` are stamped by the server whatever was sent: a desktop's
/// copy of someone else's document ("keep both") honestly carries their
/// names, and the server's stamp is the truth either way.
fn check_create_owned(collection: Collection, document: &Document) -> Option<MutationOutcome> {
    let owned = |field: &str| {
        reject(
            RejectReason::ServerOwnedField,
            format!("{collection}.{field} is set by the server"),
        )
    };
    if let Some(key) = document
        .keys()
        .find(|k| k.starts_with('_') && k.as_str() != "_id")
    {
        return Some(owned(key));
    }
    match document.get("version") {
        None | Some(Bson::Null) | Some(Bson::Int32(0)) | Some(Bson::Int64(0)) => None,
        Some(_) => Some(owned("version")),
    }
}

/// A field value as a conflict reports it (absent is `null`).
pub(crate) fn as_json(value: Option<&Bson>) -> serde_json::Value {
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
        .find(|f| !owner && promptforge_wire::access::owner_only(collection, f))
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
        let top = field.split('.').next().unwrap_or(field);
        let stamped = matches!(top, "last_modified_by" | "created_at" | "timestamp");
        if stamped || scope::is_server_owned(collection, field) {
            return Some(reject(
                RejectReason::ServerOwnedField,
                format!("{collection}.{field} is set by the server"),
            ));
        }
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
    // The client's changes alone must make a valid document, whether or
    // not the merge below keeps them all.
    let mut probe = strip_seq(start.clone());
    // Another backend may have stored the token as another number type.
    probe.insert("version", version_of(&current));
    for (field, value) in changes {
        if let Err(why) = set_path(&mut probe, field, value.clone()) {
            return Ok(reject(RejectReason::Invalid, format!("{field}: {why}")));
        }
    }
    if let Err(err) = admit(collection, probe, Some(&current)) {
        return Ok(invalid(err));
    }
    let current_version = version_of(&current);
    let stale = current_version != m.base_version;
    let mut merged = start;
    let mut conflicts = Vec::new();
    // A stored null and an absent field are the same "no value".
    let clashes = |field: &str, value: &Bson| {
        let theirs = get_path(&current, field).filter(|b| **b != Bson::Null);
        let wanted = (value != &Bson::Null).then_some(value);
        stale && theirs != base.get(field).filter(|b| **b != Bson::Null) && theirs != wanted
    };
    let unit = merge_unit(collection);
    let unit_lost = changes
        .iter()
        .any(|(field, value)| unit.contains(&field.as_str()) && clashes(field, value));
    for (field, value) in changes {
        if unit.contains(&field.as_str()) {
            if unit_lost {
                continue;
            }
        } else if clashes(field, value) {
            conflicts.push(FieldConflict {
                field: field.clone(),
                kept: as_json(get_path(&current, field).filter(|b| **b != Bson::Null)),
                lost: as_json((value != &Bson::Null).then_some(value)),
                resolution: "server_wins".into(),
                lost_saved_as: None,
            });
            continue;
        }
        if let Err(why) = set_path(&mut merged, field, value.clone()) {
            return Ok(reject(RejectReason::Invalid, format!("{field}: {why}")));
        }
    }
    let changed = merged != current;
    let version = current_version + 1;
    // Everything is checked before anything is written: a refused mutation
    // changes nothing.
    let mut new_version = None;
    let admitted = if changed {
        merged.insert("version", version);
        if collection == Collection::Prompts {
            new_version =
                history::keep_latest_in_step(db, session, Some(&current), &mut merged, user)
                    .await?;
        }
        if collection.has_field("updated_at") {
            merged.insert("updated_at", DateTime::now());
        }
        if collection.has_field("last_modified_by") {
            merged.insert("last_modified_by", user);
        }
        if collection == Collection::MarketplaceListings {
            crate::market::fill_listing(db, session, &mut merged).await?;
            crate::market::back_to_review_if_changed(&current, &mut merged);
        }
        let admitted = match admit(collection, strip_seq(merged), Some(&current)) {
            Ok(admitted) => admitted,
            Err(err) => return Ok(invalid(err)),
        };
        // A restored document is filed again where it was: that counts as
        // filing anew.
        let revived = is_deleted(&current);
        if let Some(why) = references::check(
            db,
            session,
            user,
            collection,
            Some(&current),
            revived,
            admitted.document(),
            teams,
        )
        .await?
        {
            return Ok(reject(RejectReason::Forbidden, why));
        }
        // A change that canonical form undoes (clearing an absent field)
        // is no change: no new version for nothing.
        let unchanged = {
            let (mut after, mut before) = (admitted.document().clone(), strip_seq(current.clone()));
            for field in ["version", "updated_at", "last_modified_by"] {
                after.remove(field);
                before.remove(field);
            }
            after == before
        };
        (!unchanged).then_some(admitted)
    } else {
        None
    };
    if unit_lost {
        conflicts.extend(history::lost_unit(db, session, &current, changes, user).await?);
    }
    let Some(admitted) = admitted else {
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
    };
    if let Some(record) = new_version {
        history::insert_record(db, session, record).await?;
    }
    let before = scope::explicit_readers(collection, &current);
    let removed = scope::readers_removed(collection, &before, admitted.document());
    scope::record_exits(db, session, collection, admitted.document(), &removed).await?;
    if collection == Collection::Projects
        && scope::team_of(&current) != scope::team_of(admitted.document())
    {
        // The new team's members must receive what is filed in the project.
        let filed = scope::filed_documents(db, session, std::slice::from_ref(&m.id)).await?;
        scope::resequence(db, session, &filed).await?;
    }
    let gained = scope::explicit_readers(collection, admitted.document())
        .iter()
        .any(|reader| !before.contains(reader))
        || current.get("project_id") != admitted.document().get("project_id");
    let document = db.replace(session, collection, &current, admitted).await?;
    if collection == Collection::Prompts && gained {
        // New readers must receive the prompt's history, recorded before
        // their checkpoints.
        scope::resequence(db, session, &[(collection, document.clone())]).await?;
    }
    keep_membership(db, session, collection, Some(&current), &document).await?;
    if collection == Collection::Users
        && [
            "display_name",
            "photo_url",
            "email_verified",
            "account_status",
        ]
        .iter()
        .any(|f| current.get(*f) != document.get(*f))
    {
        // Listings show the seller's name and picture: keep them current.
        crate::market::refresh_seller_listings(db, session, &m.id).await?;
    }
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
    let admitted = match admit(collection, strip_seq(tombstone), Some(&current)) {
        Ok(admitted) => admitted,
        Err(err) => return Ok(invalid(err)),
    };
    let tombstone = db.replace(session, collection, &current, admitted).await?;
    keep_membership(db, session, collection, Some(&current), &tombstone).await?;
    Ok(MutationOutcome::Applied {
        version,
        document: tombstone,
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
    if is_deleted(&current) {
        references::drop_lost_filings(db, session, user, collection, &mut start, &teams).await?;
    }
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
        updated.insert("updated_at", now);
        updated.insert("version", version_of(&project));
        let admitted = admit(Collection::Projects, updated, Some(&project))
            .map_err(|e| ServerError::Internal(format!("project `{project_id}`: {e}")))?;
        db.replace(session, Collection::Projects, &project, admitted)
            .await?;
    }
    Ok(())
}

/// Sets a new project's membership from the live prompts and ideas already
/// filed in it (their uploads may have arrived before the project's), and
/// returns what was filed there (prompts and ideas by `project_id`, projects
/// by `parent_project_id`) by users who may not write the project: that is
/// taken out (see [`unfile`]) rather than counted, so a filing made ahead of
/// someone else's project never reaches into it.
async fn filed_members(
    db: &Db,
    session: &mut ClientSession,
    project_id: &str,
    project: &mut Document,
) -> Result<Vec<Filing>, ServerError> {
    let project_owner = project.get_str("user_id").unwrap_or_default().to_owned();
    let mut access: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut strangers = Vec::new();
    let mut stats = project.get_document("stats").cloned().unwrap_or_default();
    for (collection, field, members) in [
        (
            Collection::Prompts,
            "project_id",
            Some(("prompt_ids", "prompt_count")),
        ),
        (
            Collection::Ideas,
            "project_id",
            Some(("idea_ids", "idea_count")),
        ),
        (Collection::Projects, "parent_project_id", None),
    ] {
        let mut filed = Vec::new();
        let mut cursor = db
            .collection(collection)
            .find(doc! { field: project_id })
            .projection(doc! { "_id": 1, "user_id": 1, "deleted_at": 1 })
            .session(&mut *session)
            .await?;
        while let Some(member) = cursor.next(&mut *session).await.transpose()? {
            filed.push(member);
        }
        let mut ids = Vec::new();
        for member in filed {
            let Some(Bson::String(id)) = member.get("_id").cloned() else {
                continue;
            };
            let owner = member.get_str("user_id").unwrap_or_default().to_owned();
            let allowed = match access.get(&owner) {
                Some(allowed) => *allowed,
                None => {
                    let teams = scope::TeamAccess::load(db, &owner).await?;
                    let allowed = owner == project_owner
                        || scope::may_write(Collection::Projects, project, &owner, &teams);
                    access.insert(owner, allowed);
                    allowed
                }
            };
            if !allowed {
                strangers.push(Filing {
                    collection,
                    id,
                    field,
                });
            } else if !is_deleted(&member) {
                ids.push(Bson::String(id));
            }
        }
        if let Some((ids_field, count_field)) = members {
            stats.insert(count_field, ids.len() as i64);
            project.insert(ids_field, ids);
        }
    }
    project.insert("stats", stats);
    Ok(strangers)
}

/// A document filed into a project through `field`.
#[derive(Debug)]
struct Filing {
    collection: Collection,
    id: String,
    field: &'static str,
}

/// Takes documents out of a project their owners may not write, as an
/// edit by the server (a new version, on the cursor).
async fn unfile(
    db: &Db,
    session: &mut ClientSession,
    filings: Vec<Filing>,
) -> Result<(), ServerError> {
    for filing in filings {
        let Some(current) = db
            .find_by_id(session, filing.collection, &filing.id)
            .await?
        else {
            continue;
        };
        let mut unfiled = strip_seq(current.clone());
        unfiled.remove(filing.field);
        unfiled.insert("version", version_of(&current) + 1);
        unfiled.insert("updated_at", DateTime::now());
        let admitted = admit(filing.collection, unfiled, Some(&current))
            .map_err(|e| ServerError::Internal(format!("unfiling: {e}")))?;
        db.replace(session, filing.collection, &current, admitted)
            .await?;
    }
    Ok(())
}
