//! Accounts' `users` documents as the server keeps them. An account is made
//! with Firebase (sign-up in the app, or anywhere else); the server makes its
//! profile on the account's first handshake, with the seed's defaults (no
//! credits, the free tier, default preferences, zeroed stats), so a new
//! account can sync and use the marketplace at once, and marks its email
//! verified once a token says Firebase verified it. Nothing is made for a
//! token without an email (the profile's email is required).
//!
//! People are found by email (invitations, sharing) only through a
//! verified email: someone who signed up with another person's address,
//! and cannot open their mail, never receives what is meant for them.

use bson::{doc, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::schema::{Collection, User};

use crate::auth::Claims;
use crate::db::Db;
use crate::error::ServerError;
use crate::market::write::insert_new;

/// The longest display name taken from a token.
const MAX_NAME: usize = 100;

/// What a refusal says when no account is found for an email.
pub const UNKNOWN_EMAIL: &str =
    "no PromptForge account uses that email (or its owner has not verified it yet); ask them to sign up and verify it";

/// Makes the profile of `claims`' account if it has none, or marks its email
/// verified when the token says it is. A profile that cannot be made (a
/// claim the schema refuses) is logged and skipped: the account still syncs.
pub async fn ensure(db: &Db, claims: &Claims) -> Result<(), ServerError> {
    let verified = claims.email_verified == Some(true);
    let stored = db
        .collection(Collection::Users)
        .find_one(doc! { "_id": &claims.sub })
        .projection(doc! { "email_verified": 1, "email": 1 })
        .await?;
    if let Some(stored) = stored {
        let same_email = stored.get_str("email").ok() == claims.email.as_deref();
        if verified && same_email && stored.get_bool("email_verified") != Ok(true) {
            mark_verified(db, &claims.sub).await?;
        }
        return Ok(());
    }
    let Some(profile) = new_profile(claims) else {
        return Ok(());
    };
    let made = db
        .transaction(|session| {
            let (db, profile) = (db.clone(), profile.clone());
            Box::pin(async move {
                let id = profile.get_str("_id").unwrap_or_default().to_owned();
                if db
                    .find_by_id(session, Collection::Users, &id)
                    .await?
                    .is_some()
                {
                    return Ok(false);
                }
                insert_new(&db, session, Collection::Users, profile).await?;
                Ok(true)
            })
        })
        .await;
    match made {
        Ok(true) => tracing::info!(user = %claims.sub, "made the profile of a new account"),
        Ok(false) => {}
        Err(ServerError::Schema(err)) => {
            tracing::warn!(user = %claims.sub, error = %err, "a new account's profile does not fit the schema; not made");
        }
        // Two first handshakes at once: the other one made it.
        Err(_) if exists(db, &claims.sub).await? => {}
        Err(err) => return Err(err),
    }
    Ok(())
}

fn new_profile(claims: &Claims) -> Option<Document> {
    let email = claims
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())?;
    let name: String = claims
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email))
        .chars()
        .take(MAX_NAME)
        .collect();
    let mut user = User::new(&claims.sub, email, &name);
    user.email_verified = claims.email_verified == Some(true);
    user.subscription.tier = Some("free".to_owned());
    user.subscription.status = Some("active".to_owned());
    let mut profile = bson::to_document(&user).ok()?;
    let now = DateTime::now();
    for field in [
        "created_at",
        "updated_at",
        "last_login_at",
        "last_active_at",
    ] {
        profile.insert(field, now);
    }
    Some(profile)
}

/// Marks a profile's email verified: a new version, on the pull cursor.
async fn mark_verified(db: &Db, user: &str) -> Result<(), ServerError> {
    db.transaction(|session| {
        let (db, user) = (db.clone(), user.to_owned());
        Box::pin(async move {
            let Some(current) = db.find_by_id(session, Collection::Users, &user).await? else {
                return Ok(());
            };
            let mut updated = crate::db::strip_seq(current.clone());
            updated.insert("email_verified", true);
            crate::market::write::overwrite(&db, session, Collection::Users, &current, updated)
                .await?;
            Ok(())
        })
    })
    .await
}

async fn exists(db: &Db, user: &str) -> Result<bool, ServerError> {
    let found = db
        .collection(Collection::Users)
        .count_documents(doc! { "_id": user })
        .limit(1)
        .await?;
    Ok(found > 0)
}

/// The account whose verified email is `email` (compared as typed and in
/// lower case), inside the caller's transaction.
pub async fn user_by_email(
    db: &Db,
    session: &mut ClientSession,
    email: &str,
) -> Result<Option<String>, ServerError> {
    let email = email.trim();
    let found = db
        .collection(Collection::Users)
        .find_one(doc! {
            "email": { "$in": [email, email.to_lowercase()] },
            "email_verified": true,
        })
        .projection(doc! { "_id": 1 })
        .session(&mut *session)
        .await?;
    Ok(found.and_then(|u| u.get_str("_id").ok().map(str::to_owned)))
}
