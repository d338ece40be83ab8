//! A stand-in for Firebase Auth's REST API, laid out like the Firebase Auth
//! emulator (`/identitytoolkit.googleapis.com/...`, `/securetoken.googleapis.com/...`):
//! email-and-password sign-up and sign-in, password-reset emails (recorded,
//! not sent) and refresh-token exchange, issuing ID tokens (with the
//! account's email, as Firebase's carry) signed with the test key the sync
//! server trusts. Point the app's
//! `auth_url` at [`FakeFirebase::base`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::tokens::token_with_email;

pub const API_KEY: &str = "test-api-key";

#[derive(Debug, Default)]
struct Accounts {
    /// email → (password, user id)
    by_email: HashMap<String, (String, String)>,
    /// refresh token → (user id, email)
    refresh: HashMap<String, (String, String)>,
    /// Emails a password reset was asked for.
    resets: Vec<String>,
    /// Emails a verification link was asked for.
    verifications: Vec<String>,
    /// Emails whose owners opened the verification link.
    verified: std::collections::HashSet<String>,
    sign_ins: usize,
    sign_ups: usize,
    refreshes: usize,
}

type Shared = Arc<Mutex<Accounts>>;

#[derive(Debug)]
pub struct FakeFirebase {
    pub base: String,
    accounts: Shared,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Deserialize)]
struct KeyParam {
    key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct Refresh {
    grant_type: String,
    refresh_token: String,
}

fn refusal(message: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": { "code": 400, "message": message } })),
    )
}

fn lock(accounts: &Shared) -> std::sync::MutexGuard<'_, Accounts> {
    accounts.lock().unwrap_or_else(|p| p.into_inner())
}

async fn sign_in(
    State(accounts): State<Shared>,
    Query(key): Query<KeyParam>,
    Json(body): Json<SignIn>,
) -> (StatusCode, Json<Value>) {
    if key.key != API_KEY {
        return refusal("API_KEY_INVALID");
    }
    let mut accounts = lock(&accounts);
    let known = accounts
        .by_email
        .get(&body.email)
        .or_else(|| accounts.by_email.get(&body.email.trim().to_lowercase()));
    let user = match known {
        Some((password, user)) if *password == body.password => user.clone(),
        _ => return refusal("INVALID_LOGIN_CREDENTIALS"),
    };
    accounts.sign_ins += 1;
    signed_in(&mut accounts, &user, &body.email)
}

/// The answer to a sign-in or sign-up: tokens for `user`.
fn signed_in(accounts: &mut Accounts, user: &str, email: &str) -> (StatusCode, Json<Value>) {
    let refresh = format!("refresh-{user}-{}", rand::random::<u64>());
    accounts
        .refresh
        .insert(refresh.clone(), (user.to_owned(), email.to_owned()));
    (
        StatusCode::OK,
        Json(json!({
            "localId": user,
            "email": email,
            "idToken": token_with_email(user, email, accounts.verified.contains(email)),
            "refreshToken": refresh,
            "expiresIn": "3600",
            "registered": true,
        })),
    )
}

async fn sign_up(
    State(accounts): State<Shared>,
    Query(key): Query<KeyParam>,
    Json(body): Json<SignIn>,
) -> (StatusCode, Json<Value>) {
    if key.key != API_KEY {
        return refusal("API_KEY_INVALID");
    }
    let email = body.email.trim().to_lowercase();
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return refusal("INVALID_EMAIL");
    }
    if body.password.chars().count() < 6 {
        return refusal("WEAK_PASSWORD : Password should be at least 6 characters");
    }
    let mut accounts = lock(&accounts);
    if accounts.by_email.contains_key(&email) {
        return refusal("EMAIL_EXISTS");
    }
    // Firebase UIDs are 28 characters of letters and digits.
    let user = format!("{:028x}", rand::random::<u128>())[..28].to_owned();
    accounts
        .by_email
        .insert(email.clone(), (body.password, user.clone()));
    accounts.sign_ups += 1;
    signed_in(&mut accounts, &user, &email)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OobCode {
    request_type: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    id_token: Option<String>,
}

async fn send_oob_code(
    State(accounts): State<Shared>,
    Query(key): Query<KeyParam>,
    Json(body): Json<OobCode>,
) -> (StatusCode, Json<Value>) {
    if key.key != API_KEY {
        return refusal("API_KEY_INVALID");
    }
    if body.request_type == "VERIFY_EMAIL" {
        // The stand-in trusts the token's account: which one it is, is all
        // it needs (the sync server checks tokens for real).
        let mut accounts = lock(&accounts);
        let owner = body.id_token.as_deref().and_then(|t| {
            let user = crate::tokens::subject(t)?;
            accounts
                .by_email
                .iter()
                .find(|(_, (_, id))| *id == user)
                .map(|(email, _)| email.clone())
        });
        let Some(email) = owner else {
            return refusal("INVALID_ID_TOKEN");
        };
        accounts.verifications.push(email.clone());
        return (StatusCode::OK, Json(json!({ "email": email })));
    }
    if body.request_type != "PASSWORD_RESET" {
        return refusal("INVALID_REQ_TYPE");
    }
    if !body.email.contains('@') {
        return refusal("INVALID_EMAIL");
    }
    let mut accounts = lock(&accounts);
    // Like Firebase with email-enumeration protection: the same answer
    // whether or not the account exists.
    accounts.resets.push(body.email.clone());
    (StatusCode::OK, Json(json!({ "email": body.email })))
}

async fn refresh(
    State(accounts): State<Shared>,
    Query(key): Query<KeyParam>,
    Form(body): Form<Refresh>,
) -> (StatusCode, Json<Value>) {
    if key.key != API_KEY {
        return refusal("API_KEY_INVALID");
    }
    if body.grant_type != "refresh_token" {
        return refusal("INVALID_GRANT_TYPE");
    }
    let mut accounts = lock(&accounts);
    let Some((user, email)) = accounts.refresh.get(&body.refresh_token).cloned() else {
        return refusal("INVALID_REFRESH_TOKEN");
    };
    accounts.refreshes += 1;
    (
        StatusCode::OK,
        Json(json!({
            "user_id": user,
            "id_token": token_with_email(&user, &email, accounts.verified.contains(&email)),
            "refresh_token": body.refresh_token,
            "expires_in": "3600",
            "token_type": "Bearer",
        })),
    )
}

impl FakeFirebase {
    pub async fn start() -> anyhow::Result<FakeFirebase> {
        let accounts = Shared::default();
        let app = Router::new()
            .route(
                "/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword",
                post(sign_in),
            )
            .route(
                "/identitytoolkit.googleapis.com/v1/accounts:signUp",
                post(sign_up),
            )
            .route(
                "/identitytoolkit.googleapis.com/v1/accounts:sendOobCode",
                post(send_oob_code),
            )
            .route("/securetoken.googleapis.com/v1/token", post(refresh))
            .with_state(accounts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    stopped.await.ok();
                })
                .await;
            if let Err(err) = served {
                eprintln!("fake Firebase stopped: {err}");
            }
        });
        Ok(FakeFirebase {
            base,
            accounts,
            stop: Some(stop),
        })
    }

    /// Registers an account that can sign in.
    pub fn add_account(&self, email: &str, password: &str, user_id: &str) {
        lock(&self.accounts)
            .by_email
            .insert(email.to_owned(), (password.to_owned(), user_id.to_owned()));
    }

    /// The emails password resets were asked for, in order.
    pub fn resets(&self) -> Vec<String> {
        lock(&self.accounts).resets.clone()
    }

    /// The emails a verification link was asked for, in order.
    pub fn verifications(&self) -> Vec<String> {
        lock(&self.accounts).verifications.clone()
    }

    /// The owner of `email` opens the verification link: tokens issued
    /// from now on say the email is verified.
    pub fn verify_email(&self, email: &str) {
        lock(&self.accounts).verified.insert(email.to_owned());
    }

    /// The user id of the account using `email`, if one does.
    pub fn user_id(&self, email: &str) -> Option<String> {
        let accounts = lock(&self.accounts);
        accounts.by_email.get(email).map(|(_, user)| user.clone())
    }

    /// How many accounts were created through sign-up.
    pub fn sign_ups(&self) -> usize {
        lock(&self.accounts).sign_ups
    }

    /// How many password sign-ins and token refreshes were answered.
    pub fn counts(&self) -> (usize, usize) {
        let accounts = lock(&self.accounts);
        (accounts.sign_ins, accounts.refreshes)
    }
}

impl Drop for FakeFirebase {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}
