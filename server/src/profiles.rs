//! The `users` document of a brand-new account. An account is made with
//! Firebase (sign-up in the app, or anywhere else); the server makes its
//! profile on the account's first handshake, with the seed's defaults (no
//! credits, the free tier, default preferences, zeroed stats), so a new
//! account can sync and use the marketplace at once. Nothing is written for
//! an account that has a profile, and nothing for a token without an email
//! (the profile's email is required).

use bson::{doc, DateTime};
use promptforge_wire::schema::{Collection, User};

use crate::auth::Claims;
use crate::db::Db;
use crate::error::ServerError;
use crate::market::write::insert_new;

/// Makes the profile of `claims`' account if it has none; answers whether
/// it did.
pub async fn ensure(db: &Db, claims: &Claims) -> Result<bool, ServerError> {
    if exists(db, &claims.sub).await? {
        return Ok(false);
    }
    let Some(email) = claims
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    else {
        return Ok(false);
    };
    let name = claims
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or(email));
    let mut user = User::new(&claims.sub, email, name);
    user.subscription.tier = Some("free".to_owned());
    user.subscription.status = Some("active".to_owned());
    let mut profile = bson::to_document(&user)
        .map_err(|e| ServerError::Internal(format!("a new profile: {e}")))?;
    let now = DateTime::now();
    for field in [
        "created_at",
        "updated_at",
        "last_login_at",
        "last_active_at",
    ] {
        profile.insert(field, now);
    }
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
        Ok(made) => {
            if made {
                tracing::info!(user = %claims.sub, "made the profile of a new account");
            }
            Ok(made)
        }
        // Two first handshakes at once: the other one made it.
        Err(_) if exists(db, &claims.sub).await? => Ok(false),
        Err(err) => Err(err),
    }
}

async fn exists(db: &Db, user: &str) -> Result<bool, ServerError> {
    let found = db
        .collection(Collection::Users)
        .count_documents(doc! { "_id": user })
        .limit(1)
        .await?;
    Ok(found > 0)
}
