//! The three-way merge of a change set into the stored document, and the
//! compare-and-set write of the result with everything it keeps in step.

use bson::{Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::admit::admit;
use promptforge_wire::codec::{get_path, is_deleted, set_path, version_of};
use promptforge_wire::protocol::{FieldConflict, Mutation, MutationOutcome, RejectReason};
use promptforge_wire::schema::{merge_unit, Collection};

use super::membership::keep_membership;
use super::{invalid, reject};
use crate::db::{strip_seq, Db};
use crate::error::ServerError;
use crate::{history, references, scope};

/// A field value as a conflict reports it (absent is `null`).
pub(crate) fn as_json(value: Option<&Bson>) -> serde_json::Value {
    value
        .cloned()
        .unwrap_or(Bson::Null)
        .into_canonical_extjson()
}

/// Merges `changes` into `start` (the stored document, or its undeleted
/// form for a restore) and writes the result over `current` at its version.
#[allow(clippy::too_many_arguments)]
pub(super) async fn merge_and_write(
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
        if let Some(why) =
            crate::quota::check(db, session, collection, Some(&current), admitted.document())
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
    scope::record_team_exits(db, session, collection, &current, admitted.document()).await?;
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
