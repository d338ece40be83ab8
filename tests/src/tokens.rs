//! Test tokens shaped like Firebase ID tokens, signed with the test key whose
//! public half is `fixtures/jwks.json`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::Serialize;

pub const ISSUER: &str = "https://securetoken.google.com/promptforge-test";
pub const AUDIENCE: &str = "promptforge-test";
pub const KEY_ID: &str = "test-key-1";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<u64>,
    /// Firebase puts the account's email in its ID tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What to vary in a token, for the authorization matrix.
#[derive(Debug, Clone)]
pub struct TokenSpec<'a> {
    pub user: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Seconds from now; negative for an expired token.
    pub expires_in: i64,
    pub key_file: &'a str,
    pub key_id: &'a str,
    /// Seconds from now of `iat`; positive for a token issued in the future.
    pub issued_in: i64,
    /// Seconds from now of `nbf`, when set.
    pub not_before_in: Option<i64>,
    /// Seconds from now of `auth_time`, when set.
    pub auth_time_in: Option<i64>,
    pub email: Option<&'a str>,
    /// Whether the email is verified, when the token says.
    pub email_verified: Option<bool>,
}

impl<'a> TokenSpec<'a> {
    pub fn valid(user: &'a str) -> Self {
        TokenSpec {
            user,
            issuer: ISSUER,
            audience: AUDIENCE,
            expires_in: 3600,
            key_file: "test-signing-key.pem",
            key_id: KEY_ID,
            issued_in: -10,
            not_before_in: None,
            auth_time_in: Some(-60),
            email: None,
            email_verified: None,
        }
    }

    pub fn sign(&self) -> String {
        let pem = std::fs::read(fixture(self.key_file)).expect("test key");
        let key = EncodingKey::from_rsa_pem(&pem).expect("RSA key");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.to_owned());
        let at = |offset: i64| now().saturating_add_signed(offset);
        let claims = Claims {
            sub: self.user,
            iss: self.issuer,
            aud: self.audience,
            iat: at(self.issued_in),
            exp: at(self.expires_in),
            nbf: self.not_before_in.map(at),
            auth_time: self.auth_time_in.map(at),
            email: self.email,
            email_verified: self.email.map(|_| self.email_verified.unwrap_or(false)),
        };
        encode(&header, &claims, &key).expect("sign")
    }
}

/// A valid token for `user`.
pub fn token(user: &str) -> String {
    TokenSpec::valid(user).sign()
}

/// A valid token for `user` carrying their email, as Firebase's do.
pub fn token_with_email(user: &str, email: &str, verified: bool) -> String {
    TokenSpec {
        email: Some(email),
        email_verified: Some(verified),
        ..TokenSpec::valid(user)
    }
    .sign()
}

/// A token with no signature (`alg: none`), which must be refused.
pub fn unsigned(user: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"alg":"none","typ":"JWT","kid":"test-key-1"}"#);
    let body = format!(
        r#"{{"sub":"{user}","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}"#,
        now() + 3600
    );
    format!("{header}.{}.", b64(body.as_bytes()))
}

/// The `sub` of a token, read without checking it (for stand-ins only).
pub fn subject(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let body = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}
