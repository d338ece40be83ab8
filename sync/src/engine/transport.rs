//! How the engine reaches the sync server: the [`Transport`] seam, and its
//! real implementation over HTTP with reqwest (timeouts, gzip, one token
//! refresh on 401). Every failure is a [`TransportError`] that says whether
//! trying again later can help.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use promptforge_wire::protocol::{
    CountRequest, CountResponse, ErrorBody, ErrorCode, HandshakeRequest, HandshakeResponse,
    PullAllRequest, PullAllResponse, PullRequest, PullResponse, PushRequest, PushResponse,
    LIVE_PATH, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use serde::{de::DeserializeOwned, Serialize};

use super::live::LiveChannel;
use super::SyncErrorCode;
use promptforge_wire::presence::{PresenceRequest, PresenceState, PRESENCE_PATH};

/// Why an exchange with the server failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransportError {
    #[error("cannot reach the sync server: {0}")]
    Offline(String),
    #[error("the sync server did not answer in time")]
    Timeout,
    #[error("the connection broke during the exchange: {0}")]
    Interrupted(String),
    #[error("the sync server refused the sign-in: {0}")]
    Unauthenticated(String),
    #[error("the sync server needs a newer app: {0}")]
    UpgradeRequired(String),
    #[error("the sync server answered {status}: {message}")]
    Server {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
    },
    #[error("unexpected answer from the sync server: {0}")]
    Protocol(String),
}

impl TransportError {
    /// Whether the same request may succeed later without the user doing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Offline(_)
            | TransportError::Timeout
            | TransportError::Interrupted(_) => true,
            TransportError::Server { status, code, .. } => {
                code.is_some_and(ErrorCode::is_retryable) || *status == 429 || *status >= 500
            }
            TransportError::Unauthenticated(_)
            | TransportError::UpgradeRequired(_)
            | TransportError::Protocol(_) => false,
        }
    }

    /// A short stable code for the UI and logs.
    pub fn code(&self) -> SyncErrorCode {
        match self {
            TransportError::Offline(_) => SyncErrorCode::Offline,
            TransportError::Timeout => SyncErrorCode::Timeout,
            TransportError::Interrupted(_) => SyncErrorCode::Interrupted,
            TransportError::Unauthenticated(_) => SyncErrorCode::Unauthenticated,
            TransportError::UpgradeRequired(_) => SyncErrorCode::UpgradeRequired,
            TransportError::Server { .. } => SyncErrorCode::ServerError,
            TransportError::Protocol(_) => SyncErrorCode::Protocol,
        }
    }

    /// Whether the failure means the server could not be reached at all.
    pub fn is_offline(&self) -> bool {
        matches!(self, TransportError::Offline(_) | TransportError::Timeout)
    }
}

/// A boxed future, for the object-safe [`TokenProvider`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Supplies the bearer token for each request. `refresh` is set after the
/// server refused the previous token, asking for a new one.
pub trait TokenProvider: Send + Sync + 'static {
    fn token(&self, refresh: bool) -> BoxFuture<'_, Result<String, TransportError>>;
}

/// A fixed token (tests, the CLI with `--token`).
#[derive(Clone)]
pub struct StaticToken(pub String);

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl TokenProvider for StaticToken {
    fn token(&self, _refresh: bool) -> BoxFuture<'_, Result<String, TransportError>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// The three protocol calls. Tests wrap or replace it to go offline, drop
/// or cut responses.
pub trait Transport: Send + Sync + 'static {
    fn handshake(
        &self,
        request: &HandshakeRequest,
    ) -> impl Future<Output = Result<HandshakeResponse, TransportError>> + Send;
    fn push(
        &self,
        request: &PushRequest,
    ) -> impl Future<Output = Result<PushResponse, TransportError>> + Send;
    fn pull(
        &self,
        request: &PullRequest,
    ) -> impl Future<Output = Result<PullResponse, TransportError>> + Send;
    /// How many changes wait after each checkpoint, for one progress total.
    /// `None` when the server cannot say (progress then counts per page).
    fn count(
        &self,
        request: &CountRequest,
    ) -> impl Future<Output = Result<Option<CountResponse>, TransportError>> + Send {
        let _ = request;
        async { Ok(None) }
    }
    /// Every collection of a pull phase in one request. `None` when the
    /// server has no such route (the engine then pulls each collection).
    fn pull_all(
        &self,
        request: &PullAllRequest,
    ) -> impl Future<Output = Result<Option<PullAllResponse>, TransportError>> + Send {
        let _ = request;
        async { Ok(None) }
    }
    /// Opens the live channel. `None` when the server has none (the engine
    /// then polls only).
    fn live(&self) -> impl Future<Output = Result<Option<LiveChannel>, TransportError>> + Send {
        async { Ok(None) }
    }
    /// Reports which prompt this desktop has open (`PUT /v1/presence`).
    /// `None` when the server has no presence.
    fn presence(
        &self,
        request: &PresenceRequest,
    ) -> impl Future<Output = Result<Option<PresenceState>, TransportError>> + Send {
        let _ = request;
        async { Ok(None) }
    }
    /// Where it connects, for status displays.
    fn endpoint(&self) -> String;
}

/// The protocol over HTTP(S).
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    /// For the live channel, which stays open: no overall time limit.
    live_client: reqwest::Client,
    base_url: String,
    tokens: Arc<dyn TokenProvider>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl HttpTransport {
    /// A transport to the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn TokenProvider>,
        timeout: Duration,
    ) -> Result<HttpTransport, TransportError> {
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| TransportError::Protocol(format!("server URL `{base_url}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TransportError::Protocol(format!(
                "server URL `{base_url}` must start with http:// or https://"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .gzip(true)
            .user_agent(concat!("PromptForge-Desktop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Protocol(format!("HTTP client: {e}")))?;
        let live_client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("PromptForge-Desktop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TransportError::Protocol(format!("HTTP client: {e}")))?;
        Ok(HttpTransport {
            client,
            live_client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            tokens,
        })
    }

    /// Sends what `build` makes of a bearer token, with the protocol
    /// header; once more with a fresh token if the server refuses the first
    /// (401). Returns whatever the last answer was.
    async fn send_authorized(
        &self,
        build: impl Fn(String) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, TransportError> {
        let mut refreshed = false;
        loop {
            let token = self.tokens.token(refreshed).await?;
            let response = build(token)
                .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                .send()
                .await
                .map_err(classify)?;
            if response.status().as_u16() == 401 && !refreshed {
                refreshed = true;
                continue;
            }
            return Ok(response);
        }
    }

    async fn call<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, TransportError> {
        self.send(reqwest::Method::POST, path, body).await
    }

    async fn send<Req: Serialize + Sync, Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Req,
    ) -> Result<Resp, TransportError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .send_authorized(|token| {
                self.client
                    .request(method.clone(), &url)
                    .bearer_auth(token)
                    .json(body)
            })
            .await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(classify)?;
        if !status.is_success() {
            return Err(refusal(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            if e.is_eof() {
                TransportError::Interrupted(format!("the answer was cut short: {e}"))
            } else {
                TransportError::Protocol(e.to_string())
            }
        })
    }

    /// `GET /v1/live`, refreshing the token once if it is refused.
    async fn open_live(&self) -> Result<Option<LiveChannel>, TransportError> {
        let url = format!("{}{LIVE_PATH}", self.base_url);
        let response = self
            .send_authorized(|token| {
                self.live_client
                    .get(&url)
                    .bearer_auth(token)
                    .header(reqwest::header::ACCEPT, "text/event-stream")
            })
            .await?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(Some(LiveChannel::new(response)));
        }
        if status == 404 {
            return Ok(None);
        }
        let bytes = response.bytes().await.map_err(classify)?;
        Err(refusal(status, &bytes))
    }
}

/// The error a non-2xx answer with body `bytes` stands for.
fn refusal(status: u16, bytes: &[u8]) -> TransportError {
    let error: Option<ErrorBody> = serde_json::from_slice(bytes).ok();
    let message = error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(200).collect());
    match (status, error.map(|e| e.code)) {
        (401, _) => TransportError::Unauthenticated(message),
        (_, Some(ErrorCode::UpgradeRequired)) | (426, _) => {
            TransportError::UpgradeRequired(message)
        }
        (status, code) => TransportError::Server {
            status,
            code,
            message,
        },
    }
}

/// A marketplace request: what the desktop asks of the server, which alone
/// decides (`/v1/market/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketCall {
    Publish,
    Moderate,
    Purchase,
    Refund,
    Review,
}

impl MarketCall {
    /// The route this request is posted to.
    pub fn path(self) -> &'static str {
        match self {
            MarketCall::Publish => "/v1/market/publish",
            MarketCall::Moderate => "/v1/market/moderate",
            MarketCall::Purchase => "/v1/market/purchase",
            MarketCall::Refund => "/v1/market/refund",
            MarketCall::Review => "/v1/market/review",
        }
    }
}

impl HttpTransport {
    /// Sends a marketplace request. A purchase or refund that fails with a
    /// retryable error may be sent again with the same idempotency key: the
    /// server answers it once.
    pub async fn market<Req: Serialize + Sync>(
        &self,
        call: MarketCall,
        request: &Req,
    ) -> Result<promptforge_wire::market::MarketOutcome, TransportError> {
        self.call(call.path(), request).await
    }
}

impl HttpTransport {
    /// Sends a team operation (`POST /v1/teams`); each is idempotent, so
    /// one whose answer was lost may be sent again.
    pub async fn team(
        &self,
        request: &promptforge_wire::teams::TeamRequest,
    ) -> Result<promptforge_wire::teams::TeamOutcome, TransportError> {
        self.call(promptforge_wire::teams::TEAMS_PATH, request)
            .await
    }

    /// Sends a sharing operation (`POST /v1/share`); each is idempotent.
    pub async fn share(
        &self,
        request: &promptforge_wire::share::ShareRequest,
    ) -> Result<promptforge_wire::share::ShareOutcome, TransportError> {
        self.call(promptforge_wire::share::SHARE_PATH, request)
            .await
    }
}

fn classify(err: reqwest::Error) -> TransportError {
    if err.is_timeout() {
        TransportError::Timeout
    } else if err.is_connect() {
        TransportError::Offline(err.to_string())
    } else {
        // A reset connection or a body that ends early: the request may or
        // may not have been applied, which resending makes safe.
        TransportError::Interrupted(err.to_string())
    }
}

impl Transport for HttpTransport {
    async fn handshake(
        &self,
        request: &HandshakeRequest,
    ) -> Result<HandshakeResponse, TransportError> {
        self.call("/v1/handshake", request).await
    }

    async fn push(&self, request: &PushRequest) -> Result<PushResponse, TransportError> {
        self.call("/v1/push", request).await
    }

    async fn pull(&self, request: &PullRequest) -> Result<PullResponse, TransportError> {
        self.call("/v1/pull", request).await
    }

    async fn live(&self) -> Result<Option<LiveChannel>, TransportError> {
        self.open_live().await
    }

    async fn count(&self, request: &CountRequest) -> Result<Option<CountResponse>, TransportError> {
        self.call("/v1/pull/count", request).await.map(Some)
    }

    async fn pull_all(
        &self,
        request: &PullAllRequest,
    ) -> Result<Option<PullAllResponse>, TransportError> {
        match self.call("/v1/pull/all", request).await {
            Ok(answer) => Ok(Some(answer)),
            // A server from before the combined pull.
            Err(TransportError::Server {
                status: 404,
                code: Some(ErrorCode::NotFound),
                ..
            }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn presence(
        &self,
        request: &PresenceRequest,
    ) -> Result<Option<PresenceState>, TransportError> {
        match self
            .send(reqwest::Method::PUT, PRESENCE_PATH, request)
            .await
        {
            Ok(state) => Ok(Some(state)),
            // A server from before presence has no such route (a 404 for
            // the prompt itself says "no prompt ...").
            Err(TransportError::Server {
                status: 404,
                code: Some(ErrorCode::NotFound),
                message,
            }) if message.starts_with("no route") => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn endpoint(&self) -> String {
        self.base_url.clone()
    }
}
