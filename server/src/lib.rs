//! The PromptForge sync server: stands between desktops and the central
//! MongoDB. It authenticates each request (Firebase ID tokens), scopes every
//! read and write to what the token's user may see, applies pushed mutations
//! exactly once with version checks and merges, and serves pulls in commit
//! order.
//!
//! - [`config`]: flags and environment.
//! - [`auth`]: token verification against a JWKS.
//! - [`scope`]: who may read and write what.
//! - [`references`]: which documents a document may point at.
//! - [`db`]: MongoDB setup, the change sequence, transactions.
//! - [`push`], [`pull`]: the two halves of the protocol.
//! - [`market`]: publishing, moderation, purchases, refunds and reviews.
//! - [`sequencer`]: numbers every write on the pull cursor, in commit order.
//! - [`live`]: the live channel telling connected desktops their scope moved.
//! - [`presence`]: who has a prompt open, and its soft lock (ephemeral).
//! - [`teams`]: team operations: create, invite, join, roles, leave, delete.
//! - [`sharing`]: sharing one document with named people, by email.
//! - [`quota`]: a team's usage counts and its prompt quota.
//! - [`profiles`]: the `users` document of a brand-new account.

pub mod auth;
pub mod batch;
pub mod config;
pub mod db;
pub mod error;
pub mod history;
pub mod live;
pub mod market;
pub mod metrics;
pub mod presence;
pub mod profiles;
pub mod pull;
pub mod push;
pub mod quota;
pub mod references;
pub mod retention;
pub mod scope;
pub mod sequencer;
pub mod sharing;
pub mod teams;
pub mod usage;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use promptforge_wire::market::{
    MarketOutcome, ModerateRequest, PublishRequest, PurchaseRequest, RefundRequest, ReviewRequest,
};
use promptforge_wire::protocol::{
    CountRequest, CountResponse, HandshakeRequest, HandshakeResponse, PullAllRequest,
    PullAllResponse, PullRequest, PullResponse, PushRequest, PushResponse, PROTOCOL_HEADER,
    PROTOCOL_VERSION, SCHEMA_VERSION,
};
use tokio::net::TcpListener;

pub use auth::Verifier;
pub use config::Config;
pub use db::Db;
pub use error::ServerError;

#[derive(Debug)]
struct AppState {
    live: Arc<live::LiveHub>,
    db: Db,
    verifier: Verifier,
    config: Config,
}

/// Starts from a configuration: connects to MongoDB and loads signing keys.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let db = Db::connect(&config.mongodb_uri, &config.database).await?;
    let verifier = match (&config.jwks_file, &config.jwks_url) {
        (Some(path), _) => {
            Verifier::from_jwks_file(path, &config.auth_issuer, &config.auth_audience)?
        }
        (None, Some(url)) => {
            Verifier::from_jwks_url(url, &config.auth_issuer, &config.auth_audience).await?
        }
        (None, None) => return Err(ServerError::Config("set --jwks-file or --jwks-url".into())),
    };
    let sequencer = sequencer::spawn(db.clone());
    let purging = retention::spawn(db.clone(), config.retention());
    let app = router(db, verifier, config);
    tracing::info!(addr = ?listener.local_addr().ok(), "sync server listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ServerError::Internal(e.to_string()));
    purging.abort();
    sequencer.stop().await;
    served
}

/// The HTTP routes over a connected database.
pub fn router(db: Db, verifier: Verifier, config: Config) -> Router {
    metrics::install();
    let limit = config.max_body_bytes;
    let timeout = config.request_timeout();
    let live = live::LiveHub::start(
        db.clone(),
        live::Limits {
            per_user: config.live_connections_per_user,
            total: config.live_connections_max,
            heartbeat: std::time::Duration::from_secs(config.live_heartbeat_secs),
            presence_ttl: config.presence_ttl(),
        },
    );
    let state = Arc::new(AppState {
        live,
        db,
        verifier,
        config,
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .route("/v1/handshake", post(handshake))
        .route("/v1/push", post(push_route))
        .route("/v1/pull", post(pull_route))
        .route("/v1/pull/count", post(count_route))
        .route("/v1/pull/all", post(pull_all_route))
        .route(promptforge_wire::protocol::LIVE_PATH, get(live_route))
        .route(
            promptforge_wire::presence::PRESENCE_PATH,
            axum::routing::put(presence_route),
        )
        .route(promptforge_wire::teams::TEAMS_PATH, post(teams_route))
        .route(promptforge_wire::share::SHARE_PATH, post(share_route))
        .route("/v1/market/publish", post(market_publish))
        .route("/v1/market/moderate", post(market_moderate))
        .route("/v1/market/purchase", post(market_purchase))
        .route("/v1/market/refund", post(market_refund))
        .route("/v1/market/review", post(market_review))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        // Pull pages are JSON full of repeated field names: gzip shrinks them
        // several times over for clients that ask for it.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(timeout, time_limit))
        // Outermost, so a request's time includes compression and the limit.
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

async fn no_route(uri: axum::http::Uri) -> ServerError {
    ServerError::NoRoute(uri.path().chars().take(200).collect())
}

async fn method_not_allowed(method: axum::http::Method) -> ServerError {
    ServerError::MethodNotAllowed(method.to_string())
}

/// Answers a request that runs past the server's time limit with the
/// documented `503` `{code, message}`.
async fn time_limit(
    State(limit): State<std::time::Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ServerError::Unavailable(format!(
            "the request took longer than {} s; try again",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// The live channel; it closes by itself when the token expires.
async fn live_route(
    State(state): State<Arc<AppState>>,
    Verified(claims): Verified,
) -> Result<axum::response::Response, ServerError> {
    state.live.connect(claims.sub, claims.exp).await
}

/// A desktop's report that it has a prompt open (or closed it); answers
/// the prompt's presence state.
async fn presence_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<promptforge_wire::presence::PresenceRequest>,
) -> Result<Json<promptforge_wire::presence::PresenceState>, ServerError> {
    let ttl = state.config.presence_ttl();
    Ok(Json(
        presence::report(&state.db, &user, &request, ttl).await?,
    ))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Result<&'static str, ServerError> {
    state.db.db.run_command(bson::doc! { "ping": 1 }).await?;
    Ok("ok")
}

/// The verified user of a request, after the protocol version check.
struct User(String);

impl FromRequestParts<Arc<AppState>> for User {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Verified(claims) = Verified::from_request_parts(parts, state).await?;
        Ok(User(claims.sub))
    }
}

/// The verified claims of a request's token, after the protocol version check.
struct Verified(auth::Claims);

impl FromRequestParts<Arc<AppState>> for Verified {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(PROTOCOL_HEADER).ok_or_else(|| {
            ServerError::BadRequest(format!(
                "every request carries {PROTOCOL_HEADER}: {PROTOCOL_VERSION}"
            ))
        })?;
        let client: u32 = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split('.').next())
            .and_then(|major| major.parse().ok())
            .ok_or_else(|| {
                ServerError::BadRequest(format!("{PROTOCOL_HEADER} must be a protocol version"))
            })?;
        if client != PROTOCOL_VERSION {
            return Err(ServerError::UpgradeRequired {
                client,
                server: PROTOCOL_VERSION,
            });
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(auth::AuthError::Missing)?;
        let claims = state.verifier.verify(token).await?;
        Ok(Verified(claims))
    }
}

/// A JSON request body. A body that is not JSON, or not the request's
/// shape, gets the documented `{code, message}` answer (400 `bad_request`,
/// or 413 when too large) instead of axum's plain text.
struct Body<T>(T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ServerError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                ServerError::PayloadTooLarge(format!("request body: {}", rejection.body_text())),
            ),
            Err(rejection) => Err(ServerError::BadRequest(format!(
                "request body: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Refuses a client id that is not 1-128 letters, digits, `-` or `_`.
pub(crate) fn check_client_id(client_id: &str) -> Result<(), ServerError> {
    let ok = !client_id.is_empty()
        && client_id.len() <= 128
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::BadRequest(
            "client_id must be 1-128 letters, digits, - or _".into(),
        ))
    }
}

async fn handshake(
    State(state): State<Arc<AppState>>,
    Verified(claims): Verified,
    Body(request): Body<HandshakeRequest>,
) -> Result<Json<HandshakeResponse>, ServerError> {
    check_client_id(&request.client_id)?;
    let user = claims.sub.clone();
    if request.protocol_version != PROTOCOL_VERSION {
        return Err(ServerError::UpgradeRequired {
            client: request.protocol_version,
            server: PROTOCOL_VERSION,
        });
    }
    if request.schema_version > SCHEMA_VERSION {
        return Err(ServerError::BadRequest(format!(
            "schema version {} is newer than this server's {SCHEMA_VERSION}",
            request.schema_version
        )));
    }
    profiles::ensure(&state.db, &claims).await?;
    if let Some(confirmed) = request.confirmed_mutation_id {
        let pruned = retention::prune_mutations(
            &state.db,
            &user,
            &request.client_id,
            confirmed,
            state.config.retention().answers,
        )
        .await?;
        if pruned > 0 {
            tracing::debug!(pruned, "forgot confirmed mutation answers");
        }
    }
    let last = state
        .db
        .db
        .collection::<bson::Document>(db::MUTATIONS)
        .find_one(bson::doc! { "user_id": &user, "client_id": &request.client_id })
        .sort(bson::doc! { "mutation_id": -1 })
        .await?
        .and_then(|d| d.get_i64("mutation_id").ok())
        .unwrap_or(0);
    Ok(Json(HandshakeResponse {
        user_id: user,
        protocol_version: PROTOCOL_VERSION,
        schema_version: SCHEMA_VERSION,
        collections: scope::PULLED.iter().map(|c| c.name().to_owned()).collect(),
        // Answers up to the confirmed id may be gone: numbering resumes
        // after it all the same.
        last_mutation_id: u64::try_from(last)
            .unwrap_or(0)
            .max(request.confirmed_mutation_id.unwrap_or(0)),
    }))
}

async fn push_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<PushRequest>,
) -> Result<Json<PushResponse>, ServerError> {
    check_client_id(&request.client_id)?;
    if request.mutations.len() > state.config.max_mutations_per_push {
        return Err(ServerError::BadRequest(format!(
            "at most {} mutations per push",
            state.config.max_mutations_per_push
        )));
    }
    let results =
        push::apply_batch(&state.db, &user, &request.client_id, &request.mutations).await?;
    for result in &results {
        metrics::pushed(&result.outcome);
    }
    Ok(Json(PushResponse { results }))
}

async fn pull_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<PullRequest>,
) -> Result<Json<PullResponse>, ServerError> {
    if let Some(collection) = promptforge_wire::schema::Collection::from_name(&request.collection) {
        retention::check_checkpoint(&state.db, collection, request.checkpoint).await?;
    }
    let page = pull::pull(&state.db, &user, &request).await?;
    metrics::pulled(page.changes.len());
    Ok(Json(page))
}

async fn pull_all_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<PullAllRequest>,
) -> Result<Json<PullAllResponse>, ServerError> {
    if request.checkpoints.len() > scope::PULLED.len() {
        return Err(ServerError::BadRequest(format!(
            "at most {} collections can be pulled at once",
            scope::PULLED.len()
        )));
    }
    let answer = pull::pull_all(&state.db, &user, &request).await?;
    for page in &answer.pages {
        metrics::pulled(page.changes.len());
    }
    Ok(Json(answer))
}

async fn count_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<CountRequest>,
) -> Result<Json<CountResponse>, ServerError> {
    if request.checkpoints.len() > scope::PULLED.len() {
        return Err(ServerError::BadRequest(format!(
            "at most {} collections can be counted",
            scope::PULLED.len()
        )));
    }
    Ok(Json(pull::count(&state.db, &user, &request).await?))
}

/// Runs one team operation in a transaction (retried whole on conflicts).
async fn teams_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<promptforge_wire::teams::TeamRequest>,
) -> Result<Json<promptforge_wire::teams::TeamOutcome>, ServerError> {
    use promptforge_wire::teams::{check_request, TeamOutcome, TeamRefusal};
    if let Err(message) = check_request(&request) {
        return Ok(Json(TeamOutcome::refused(TeamRefusal::Invalid, message)));
    }
    let db = state.db.clone();
    let outcome = state
        .db
        .transaction(|session| {
            let (db, user, request) = (db.clone(), user.clone(), request.clone());
            Box::pin(async move { teams::apply(&db, session, &user, &request).await })
        })
        .await;
    match outcome {
        Ok(outcome) => {
            if let TeamOutcome::Done { .. } = &outcome {
                tracing::info!(op = request.op(), "team operation done");
            }
            Ok(Json(outcome))
        }
        // The team as it would be stored breaks the schema (a stored team
        // another backend wrote oddly): refused, nothing written.
        Err(ServerError::Schema(err)) => Ok(Json(TeamOutcome::refused(
            TeamRefusal::Invalid,
            err.to_string(),
        ))),
        Err(err) => Err(err),
    }
}

/// Runs one sharing operation in a transaction (retried whole on conflicts).
async fn share_route(
    State(state): State<Arc<AppState>>,
    User(user): User,
    Body(request): Body<promptforge_wire::share::ShareRequest>,
) -> Result<Json<promptforge_wire::share::ShareOutcome>, ServerError> {
    use promptforge_wire::share::{check_request, ShareOutcome, ShareRefusal};
    if let Err(message) = check_request(&request) {
        return Ok(Json(ShareOutcome::refused(ShareRefusal::Invalid, message)));
    }
    let db = state.db.clone();
    let outcome = state
        .db
        .transaction(|session| {
            let (db, user, request) = (db.clone(), user.clone(), request.clone());
            Box::pin(async move { sharing::apply(&db, session, &user, &request).await })
        })
        .await;
    match outcome {
        Ok(outcome) => {
            if let ShareOutcome::Done { .. } = &outcome {
                tracing::info!(op = request.op(), collection = %request.collection(), "sharing done");
            }
            Ok(Json(outcome))
        }
        // The document as it would be stored breaks the schema (one another
        // backend wrote oddly): refused, nothing written.
        Err(ServerError::Schema(err)) => Ok(Json(ShareOutcome::refused(
            ShareRefusal::Invalid,
            err.to_string(),
        ))),
        Err(err) => Err(err),
    }
}

/// Runs one marketplace request in a transaction (retried whole on conflicts).
macro_rules! market_route {
    ($name:ident, $request:ty, |$db:ident, $session:ident, $rules:ident, $user:ident, $req:ident| $body:expr) => {
        async fn $name(
            State(state): State<Arc<AppState>>,
            User(user): User,
            Body(request): Body<$request>,
        ) -> Result<Json<MarketOutcome>, ServerError> {
            let rules = state.config.market_rules();
            let db = state.db.clone();
            let outcome = state
                .db
                .transaction(|$session| {
                    let ($db, $rules, $user, $req) =
                        (db.clone(), rules.clone(), user.clone(), request.clone());
                    Box::pin(async move {
                        let _ = &$rules;
                        $body.await
                    })
                })
                .await;
            match outcome {
                Ok(outcome) => Ok(Json(outcome)),
                // A document the request would have stored breaks the schema
                // (notes or a review too long): refused, and nothing written.
                Err(ServerError::Schema(err)) => Ok(Json(MarketOutcome::refused(
                    promptforge_wire::market::MarketRefusal::Invalid,
                    err.to_string(),
                ))),
                Err(err) => Err(err),
            }
        }
    };
}

market_route!(
    market_publish,
    PublishRequest,
    |db, session, rules, user, req| { market::publish(&db, session, &user, &req) }
);
market_route!(
    market_moderate,
    ModerateRequest,
    |db, session, rules, user, req| { market::moderate(&db, session, &rules, &user, &req) }
);
market_route!(
    market_purchase,
    PurchaseRequest,
    |db, session, rules, user, req| { market::purchase(&db, session, &rules, &user, &req) }
);
market_route!(
    market_refund,
    RefundRequest,
    |db, session, rules, user, req| { market::refund(&db, session, &rules, &user, &req) }
);
market_route!(
    market_review,
    ReviewRequest,
    |db, session, rules, user, req| { market::review(&db, session, &user, &req) }
);
