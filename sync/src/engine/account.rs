//! Signing in with Firebase Auth's REST API: email-and-password sign-up and
//! sign-in, password-reset emails, and ID-token refresh from the long-lived refresh token, as a [`TokenProvider`]
//! the transport asks for each request's bearer token.
//!
//! The endpoints follow Firebase's own layout, so the same code talks to
//! Google, to the Firebase Auth emulator, or to a self-hosted service that
//! speaks the same API (`auth_url`). Tokens never reach a log line: every type
//! holding one redacts it in `Debug`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::transport::{BoxFuture, TokenProvider, TransportError};

use super::SyncErrorCode;

const GOOGLE_IDENTITY: &str = "https://identitytoolkit.googleapis.com";
const GOOGLE_SECURE_TOKEN: &str = "https://securetoken.googleapis.com";
/// Refresh this long before the ID token expires, so no request carries a
/// token that dies in flight.
const EXPIRY_MARGIN_SECS: i64 = 120;

/// Where and how to reach Firebase Auth.
#[derive(Clone)]
pub struct FirebaseAuth {
    api_key: String,
    identity_url: String,
    token_url: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for FirebaseAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirebaseAuth")
            .field("identity_url", &self.identity_url)
            .finish_non_exhaustive()
    }
}

/// A signed-in account: who, and the tokens that prove it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    pub id_token: String,
    pub refresh_token: String,
    /// Unix seconds when `id_token` stops being accepted.
    pub expires_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why signing in or refreshing failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("the email or password is not right")]
    WrongCredentials,
    #[error("this account is disabled")]
    Disabled,
    #[error("too many attempts; wait a little and try again")]
    TooManyAttempts,
    #[error("the sign-in has expired; sign in again")]
    SessionExpired,
    #[error("the Firebase API key is not valid")]
    BadApiKey,
    #[error("cannot reach the sign-in service: {0}")]
    Offline(String),
    #[error("the sign-in service answered: {0}")]
    Service(String),
    #[error("an account already uses this email; sign in instead, or reset its password")]
    EmailInUse,
    #[error("choose a stronger password: {0}")]
    WeakPassword(String),
    #[error("that is not an email address")]
    InvalidEmail,
}

impl AuthError {
    /// A short stable code for the UI.
    pub fn code(&self) -> SyncErrorCode {
        match self {
            AuthError::WrongCredentials => SyncErrorCode::WrongCredentials,
            AuthError::Disabled => SyncErrorCode::AccountDisabled,
            AuthError::TooManyAttempts => SyncErrorCode::TooManyAttempts,
            AuthError::SessionExpired => SyncErrorCode::SessionExpired,
            AuthError::BadApiKey => SyncErrorCode::BadApiKey,
            AuthError::Offline(_) => SyncErrorCode::Offline,
            AuthError::Service(_) => SyncErrorCode::AuthService,
            AuthError::EmailInUse => SyncErrorCode::EmailInUse,
            AuthError::WeakPassword(_) => SyncErrorCode::WeakPassword,
            AuthError::InvalidEmail => SyncErrorCode::InvalidEmail,
        }
    }

    fn from_firebase_message(message: &str) -> AuthError {
        // Firebase puts a code first, sometimes followed by " : details".
        let code = message.split([' ', ':']).next().unwrap_or(message);
        match code {
            "EMAIL_NOT_FOUND"
            | "INVALID_PASSWORD"
            | "INVALID_LOGIN_CREDENTIALS"
            | "INVALID_EMAIL"
            | "MISSING_PASSWORD" => AuthError::WrongCredentials,
            "USER_DISABLED" => AuthError::Disabled,
            "TOO_MANY_ATTEMPTS_TRY_LATER" => AuthError::TooManyAttempts,
            "TOKEN_EXPIRED"
            | "INVALID_REFRESH_TOKEN"
            | "USER_NOT_FOUND"
            | "INVALID_GRANT_TYPE"
            | "MISSING_REFRESH_TOKEN" => AuthError::SessionExpired,
            "API_KEY_INVALID" | "INVALID_API_KEY" => AuthError::BadApiKey,
            "EMAIL_EXISTS" => AuthError::EmailInUse,
            "WEAK_PASSWORD" => {
                // "WEAK_PASSWORD : Password should be at least 6 characters"
                let why = message.split_once(':').map_or("", |(_, why)| why.trim());
                AuthError::WeakPassword(if why.is_empty() {
                    "at least 6 characters".to_owned()
                } else {
                    why.to_owned()
                })
            }
            _ => AuthError::Service(message.to_owned()),
        }
    }
}

#[derive(Deserialize)]
struct SignInAnswer {
    #[serde(rename = "localId")]
    local_id: String,
    #[serde(default)]
    email: String,
    #[serde(rename = "idToken")]
    id_token: String,
    #[serde(rename = "refreshToken")]
    refresh_token: String,
    #[serde(rename = "expiresIn")]
    expires_in: String,
}

impl SignInAnswer {
    /// The session this answer opens; `email` as typed when Firebase
    /// leaves it out.
    fn into_session(self, email: &str) -> Session {
        Session {
            user_id: self.local_id,
            email: if self.email.is_empty() {
                email.to_owned()
            } else {
                self.email
            },
            id_token: self.id_token,
            refresh_token: self.refresh_token,
            expires_at: expiry(&self.expires_in),
        }
    }
}

#[derive(Deserialize)]
struct RefreshAnswer {
    user_id: String,
    id_token: String,
    refresh_token: String,
    expires_in: String,
}

#[derive(Deserialize)]
struct FirebaseErrorBody {
    error: FirebaseErrorDetail,
}

#[derive(Deserialize)]
struct FirebaseErrorDetail {
    #[serde(default)]
    message: String,
}

impl FirebaseAuth {
    /// `auth_url` replaces Google's hosts, e.g. `http://127.0.0.1:9099` for
    /// the Firebase Auth emulator or a self-hosted service.
    pub fn new(api_key: &str, auth_url: Option<&str>) -> Result<FirebaseAuth, AuthError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|err| AuthError::Service(err.to_string()))?;
        let (identity_url, token_url) = match auth_url.map(|u| u.trim_end_matches('/')) {
            Some(base) if !base.is_empty() => (
                format!("{base}/identitytoolkit.googleapis.com"),
                format!("{base}/securetoken.googleapis.com"),
            ),
            _ => (GOOGLE_IDENTITY.to_owned(), GOOGLE_SECURE_TOKEN.to_owned()),
        };
        Ok(FirebaseAuth {
            api_key: api_key.to_owned(),
            identity_url,
            token_url,
            client,
        })
    }

    /// Signs in with email and password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, AuthError> {
        let answer = self
            .password_call("accounts:signInWithPassword", email, password)
            .await?;
        Ok(answer.into_session(email))
    }

    /// Creates an email-and-password account and signs it in.
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<Session, AuthError> {
        if !email.contains('@') {
            // Sign-in hides a malformed email among wrong credentials;
            // sign-up names it.
            return Err(AuthError::InvalidEmail);
        }
        let answer = self
            .password_call("accounts:signUp", email, password)
            .await
            .map_err(|err| match err {
                AuthError::WrongCredentials if password.is_empty() => {
                    AuthError::WeakPassword("enter a password".to_owned())
                }
                AuthError::WrongCredentials => AuthError::InvalidEmail,
                other => other,
            })?;
        Ok(answer.into_session(email))
    }

    /// Posts an email and password to an identity endpoint (`accounts:…`).
    async fn password_call(
        &self,
        endpoint: &str,
        email: &str,
        password: &str,
    ) -> Result<SignInAnswer, AuthError> {
        let url = format!("{}/v1/{endpoint}", self.identity_url);
        let body = serde_json::json!({
            "email": email,
            "password": password,
            "returnSecureToken": true,
        });
        let request = self
            .client
            .post(url)
            .query(&[("key", &self.api_key)])
            .json(&body);
        self.call(request).await
    }

    /// Asks Firebase to email a password-reset link. Firebase answers the
    /// same whether or not an account uses the email.
    pub async fn send_password_reset(&self, email: &str) -> Result<(), AuthError> {
        if !email.contains('@') {
            return Err(AuthError::InvalidEmail);
        }
        let url = format!("{}/v1/accounts:sendOobCode", self.identity_url);
        let body = serde_json::json!({ "requestType": "PASSWORD_RESET", "email": email });
        let request = self
            .client
            .post(url)
            .query(&[("key", &self.api_key)])
            .json(&body);
        let answer: Result<serde_json::Value, AuthError> = self.call(request).await;
        match answer {
            // Without email-enumeration protection Firebase says so for an
            // unknown email; the caller must not learn it.
            Ok(_) | Err(AuthError::WrongCredentials) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Asks Firebase to email a link that verifies the signed-in account's
    /// email. Until it is opened, nobody can share with or invite the
    /// account by email.
    pub async fn send_email_verification(&self, session: &Session) -> Result<(), AuthError> {
        let url = format!("{}/v1/accounts:sendOobCode", self.identity_url);
        let body = serde_json::json!({
            "requestType": "VERIFY_EMAIL",
            "idToken": session.id_token,
        });
        let request = self
            .client
            .post(url)
            .query(&[("key", &self.api_key)])
            .json(&body);
        let _: serde_json::Value = self.call(request).await?;
        Ok(())
    }

    /// Trades the refresh token for a fresh ID token.
    pub async fn refresh(&self, session: &Session) -> Result<Session, AuthError> {
        let url = format!("{}/v1/token", self.token_url);
        let request = self
            .client
            .post(url)
            .query(&[("key", &self.api_key)])
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", session.refresh_token.as_str()),
            ]);
        let answer: RefreshAnswer = self.call(request).await?;
        if answer.user_id != session.user_id {
            return Err(AuthError::Service(
                "the refreshed token belongs to another account".into(),
            ));
        }
        Ok(Session {
            user_id: answer.user_id,
            email: session.email.clone(),
            id_token: answer.id_token,
            refresh_token: answer.refresh_token,
            expires_at: expiry(&answer.expires_in),
        })
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, AuthError> {
        let response = request
            .send()
            .await
            .map_err(|err| AuthError::Offline(without_url(&err)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| AuthError::Offline(without_url(&err)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|err| AuthError::Service(format!("unexpected answer: {err}")));
        }
        match serde_json::from_slice::<FirebaseErrorBody>(&bytes) {
            Ok(body) if !body.error.message.is_empty() => {
                Err(AuthError::from_firebase_message(&body.error.message))
            }
            _ => Err(AuthError::Service(format!("HTTP {status}"))),
        }
    }
}

/// Describes a failed request without reqwest's message, which carries the
/// URL and with it the API key.
fn without_url(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection refused or no network".into()
    } else {
        "the connection failed".into()
    }
}

fn now_secs() -> i64 {
    bson::DateTime::now().timestamp_millis() / 1000
}

fn expiry(expires_in: &str) -> i64 {
    // Firebase sends seconds as a string ("3600"); an odd value means "soon".
    now_secs() + expires_in.trim().parse::<i64>().unwrap_or(0)
}

/// Called with every refreshed session, so the app can persist it.
pub type SessionListener = Arc<dyn Fn(&Session) + Send + Sync>;

/// Bearer tokens for the sync server from a Firebase session, refreshed
/// before they expire and again when the server refuses one.
#[derive(Clone)]
pub struct FirebaseTokens {
    auth: FirebaseAuth,
    session: Arc<Mutex<Session>>,
    on_refresh: Option<SessionListener>,
}

impl std::fmt::Debug for FirebaseTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirebaseTokens(<redacted>)")
    }
}

impl FirebaseTokens {
    pub fn new(auth: FirebaseAuth, session: Session, on_refresh: Option<SessionListener>) -> Self {
        FirebaseTokens {
            auth,
            session: Arc::new(Mutex::new(session)),
            on_refresh,
        }
    }

    /// The session as it stands now (tokens included).
    pub fn session(&self) -> Session {
        self.session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl TokenProvider for FirebaseTokens {
    fn token(&self, refresh: bool) -> BoxFuture<'_, Result<String, TransportError>> {
        Box::pin(async move {
            let current = self.session();
            if !refresh && current.expires_at - EXPIRY_MARGIN_SECS > now_secs() {
                return Ok(current.id_token);
            }
            let fresh = self.auth.refresh(&current).await.map_err(|err| match err {
                AuthError::Offline(why) => TransportError::Offline(why),
                other => TransportError::Unauthenticated(other.to_string()),
            })?;
            tracing::debug!(user = %fresh.user_id, "refreshed the sign-in token");
            *self.session.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
            if let Some(listener) = &self.on_refresh {
                listener(&fresh);
            }
            Ok(fresh.id_token)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firebase_error_messages_become_errors_people_understand() {
        assert_eq!(
            AuthError::from_firebase_message("INVALID_LOGIN_CREDENTIALS"),
            AuthError::WrongCredentials
        );
        assert_eq!(
            AuthError::from_firebase_message("TOO_MANY_ATTEMPTS_TRY_LATER : Access disabled"),
            AuthError::TooManyAttempts
        );
        assert_eq!(
            AuthError::from_firebase_message("INVALID_REFRESH_TOKEN"),
            AuthError::SessionExpired
        );
        assert!(matches!(
            AuthError::from_firebase_message("SOMETHING_NEW"),
            AuthError::Service(m) if m == "SOMETHING_NEW"
        ));
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        let session = Session {
            user_id: "u1".into(),
            email: "a@b.c".into(),
            id_token: "secret-id-token".into(),
            refresh_token: "secret-refresh".into(),
            expires_at: 0,
        };
        let shown = format!("{session:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn an_auth_url_replaces_googles_hosts() -> Result<(), AuthError> {
        let auth = FirebaseAuth::new("key", Some("http://127.0.0.1:9099/"))?;
        assert_eq!(
            auth.identity_url,
            "http://127.0.0.1:9099/identitytoolkit.googleapis.com"
        );
        assert_eq!(
            auth.token_url,
            "http://127.0.0.1:9099/securetoken.googleapis.com"
        );
        Ok(())
    }
}
