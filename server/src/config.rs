//! Server configuration, from command-line flags or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server needs to start; `main` parses it, tests build it.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// MongoDB connection string; a replica set (transactions are required).
    #[arg(long, env = "PROMPTFORGE_MONGODB_URI")]
    pub mongodb_uri: String,
    #[arg(long, env = "PROMPTFORGE_DATABASE", default_value = "promptforge")]
    pub database: String,
    #[arg(long, env = "PROMPTFORGE_BIND", default_value = "127.0.0.1:8787")]
    pub bind: SocketAddr,
    /// Token issuer, e.g. https://securetoken.google.com/PROJECT_ID for Firebase.
    #[arg(long, env = "PROMPTFORGE_AUTH_ISSUER")]
    pub auth_issuer: String,
    /// Token audience: the Firebase project id.
    #[arg(long, env = "PROMPTFORGE_AUTH_AUDIENCE")]
    pub auth_audience: String,
    /// Signing keys as a JWKS file (self-hosting, tests)...
    #[arg(long, env = "PROMPTFORGE_JWKS_FILE", conflicts_with = "jwks_url")]
    pub jwks_file: Option<PathBuf>,
    /// ...or a JWKS URL, fetched and cached (Firebase:
    /// https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com).
    #[arg(long, env = "PROMPTFORGE_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "PROMPTFORGE_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most mutations in one push.
    #[arg(long, env = "PROMPTFORGE_MAX_MUTATIONS", default_value_t = 500)]
    pub max_mutations_per_push: usize,
    /// Per-request time limit, in seconds.
    #[arg(long, env = "PROMPTFORGE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// User ids allowed to approve, reject and suspend marketplace listings
    /// (comma-separated).
    #[arg(long, env = "PROMPTFORGE_MODERATORS", value_delimiter = ',')]
    pub moderators: Vec<String>,
    /// The platform's share of each sale, 0 to 1.
    #[arg(long, env = "PROMPTFORGE_PLATFORM_FEE_RATE", default_value_t = 0.2)]
    pub platform_fee_rate: f64,
    /// Days after a purchase during which the buyer may ask for a refund.
    #[arg(long, env = "PROMPTFORGE_REFUND_WINDOW_DAYS", default_value_t = 14)]
    pub refund_window_days: i64,
    /// Seconds the answers of mutations and marketplace requests are kept
    /// (a mutation's only once its client confirmed it will not resend it).
    #[arg(long, env = "PROMPTFORGE_ANSWER_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub answer_retention_secs: u64,
    /// Seconds a deleted document's tombstone is kept before it is purged;
    /// a desktop offline for longer pulls that collection again.
    #[arg(long, env = "PROMPTFORGE_TOMBSTONE_RETENTION_SECS", default_value_t = 90 * 24 * 3600)]
    pub tombstone_retention_secs: u64,
    /// Seconds between purges of what the retention times let go.
    #[arg(long, env = "PROMPTFORGE_PURGE_INTERVAL_SECS", default_value_t = 3600)]
    pub purge_interval_secs: u64,
    /// Live channels (`GET /v1/live`) one user may hold open on this instance.
    #[arg(
        long,
        env = "PROMPTFORGE_LIVE_CONNECTIONS_PER_USER",
        default_value_t = 8
    )]
    pub live_connections_per_user: usize,
    /// Live channels this instance holds at most, all users together.
    #[arg(
        long,
        env = "PROMPTFORGE_LIVE_CONNECTIONS_MAX",
        default_value_t = 10_000
    )]
    pub live_connections_max: usize,
    /// Seconds between heartbeats on an idle live channel.
    #[arg(long, env = "PROMPTFORGE_LIVE_HEARTBEAT_SECS", default_value_t = 15)]
    pub live_heartbeat_secs: u64,
    /// Seconds a presence entry (a prompt open in an editor) lives unless
    /// its desktop renews it; desktops renew every third of it.
    #[arg(long, env = "PROMPTFORGE_PRESENCE_TTL_SECS", default_value_t = 30)]
    pub presence_ttl_secs: u64,
}

impl Config {
    pub fn presence_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.presence_ttl_secs.clamp(1, 3600))
    }

    pub fn market_rules(&self) -> crate::market::MarketRules {
        crate::market::MarketRules {
            moderators: self.moderators.clone(),
            platform_fee_rate: self.platform_fee_rate.clamp(0.0, 1.0),
            refund_window_days: self.refund_window_days.max(0),
        }
    }

    pub fn retention(&self) -> crate::retention::Retention {
        crate::retention::Retention {
            answers: Duration::from_secs(self.answer_retention_secs),
            tombstones: Duration::from_secs(self.tombstone_retention_secs),
            every: Duration::from_secs(self.purge_interval_secs.max(1)),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}
