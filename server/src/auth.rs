//! Verifies Firebase ID tokens (RS256 JWTs): signature against the JWKS,
//! issuer, audience and expiry. The user id every read and write is scoped to
//! comes from here and nowhere else. Tokens are never logged.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("signing keys unavailable: {0}")]
    Keys(String),
}

/// The claims the server relies on.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The Firebase UID: `users._id`.
    pub sub: String,
    /// When the token was issued (seconds since the epoch); never in the future.
    pub iat: u64,
    /// When the token expires (seconds since the epoch); verified.
    pub exp: u64,
    /// When the user signed in; never in the future, when present.
    #[serde(default)]
    pub auth_time: Option<u64>,
    /// The account's email (Firebase puts it in ID tokens of email
    /// accounts); used only to make a new account's profile.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether Firebase verified that email (the owner opened a link sent
    /// to it).
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// The account's display name, when Firebase has one.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
enum KeySource {
    Fixed,
    Url(String),
}

#[derive(Debug)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Instant,
    /// When an unknown key id last made the verifier fetch: such fetches are
    /// rationed on their own, so a rotation right after a scheduled fetch
    /// is still picked up at once.
    refetched_for_unknown_at: Option<Instant>,
}

/// Checks tokens; cheap to clone.
#[derive(Debug, Clone)]
pub struct Verifier {
    source: KeySource,
    keys: Arc<RwLock<Keys>>,
    validation: Validation,
    http: reqwest::Client,
}

/// Clock skew allowed between the token's issuer and this server.
const LEEWAY_SECS: u64 = 30;

/// How long fetched keys are trusted before they are fetched again.
const KEY_TTL: Duration = Duration::from_secs(3600);
/// An unknown key id triggers a refetch at most this often.
const MIN_REFETCH: Duration = Duration::from_secs(60);

impl Verifier {
    fn validation(issuer: &str, audience: &str) -> Validation {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation
    }

    pub fn from_jwks_file(
        path: &Path,
        issuer: &str,
        audience: &str,
    ) -> Result<Verifier, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Keys(format!("{}: {e}", path.display())))?;
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|e| AuthError::Keys(format!("{}: {e}", path.display())))?;
        Ok(Verifier {
            source: KeySource::Fixed,
            keys: Arc::new(RwLock::new(Keys {
                by_kid: keys_of(&set)?,
                fetched_at: Instant::now(),
                refetched_for_unknown_at: None,
            })),
            validation: Self::validation(issuer, audience),
            http: reqwest::Client::new(),
        })
    }

    pub async fn from_jwks_url(
        url: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Verifier, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AuthError::Keys(e.to_string()))?;
        let by_kid = fetch(&http, url).await?;
        Ok(Verifier {
            source: KeySource::Url(url.to_owned()),
            keys: Arc::new(RwLock::new(Keys {
                by_kid,
                fetched_at: Instant::now(),
                refetched_for_unknown_at: None,
            })),
            validation: Self::validation(issuer, audience),
            http,
        })
    }

    /// The verified claims of `token`.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("no key id".into()))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                self.refresh_for_unknown_kid().await?;
                self.key(&kid)
                    .await
                    .ok_or_else(|| AuthError::Invalid(format!("unknown signing key `{kid}`")))?
            }
        };
        let data = decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let well_formed = !data.claims.sub.is_empty()
            && data.claims.sub.len() <= 128
            && data
                .claims
                .sub
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'));
        if !well_formed {
            return Err(AuthError::Invalid("subject is not a user id".into()));
        }
        // Firebase's rules: issued and signed in in the past.
        let latest = jsonwebtoken::get_current_timestamp().saturating_add(LEEWAY_SECS);
        if data.claims.iat > latest {
            return Err(AuthError::Invalid(
                "the token is issued in the future (iat)".into(),
            ));
        }
        if data.claims.auth_time.is_some_and(|t| t > latest) {
            return Err(AuthError::Invalid(
                "the token's sign-in lies in the future (auth_time)".into(),
            ));
        }
        Ok(data.claims)
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().await;
        if let KeySource::Url(_) = self.source {
            if keys.fetched_at.elapsed() > KEY_TTL {
                return None;
            }
        }
        keys.by_kid.get(kid).cloned()
    }

    async fn refresh_for_unknown_kid(&self) -> Result<(), AuthError> {
        let KeySource::Url(url) = &self.source else {
            return Ok(());
        };
        let mut keys = self.keys.write().await;
        let expired = keys.fetched_at.elapsed() > KEY_TTL;
        let rationed = keys
            .refetched_for_unknown_at
            .is_some_and(|at| at.elapsed() < MIN_REFETCH);
        if rationed && !expired {
            return Ok(());
        }
        keys.by_kid = fetch(&self.http, url).await?;
        keys.fetched_at = Instant::now();
        keys.refetched_for_unknown_at = Some(keys.fetched_at);
        Ok(())
    }
}

fn keys_of(set: &JwkSet) -> Result<HashMap<String, DecodingKey>, AuthError> {
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Keys(format!("key `{kid}`: {e}")))?;
        by_kid.insert(kid, key);
    }
    if by_kid.is_empty() {
        return Err(AuthError::Keys("the key set has no usable keys".into()));
    }
    Ok(by_kid)
}

async fn fetch(
    http: &reqwest::Client,
    url: &str,
) -> Result<HashMap<String, DecodingKey>, AuthError> {
    let set: JwkSet = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| AuthError::Keys(e.to_string()))?
        .json()
        .await
        .map_err(|e| AuthError::Keys(e.to_string()))?;
    keys_of(&set)
}
