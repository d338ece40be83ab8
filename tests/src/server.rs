//! The sync server in-process on a loopback port, over a fresh database.

use std::net::SocketAddr;

use promptforge_server::{Config, Db, Verifier};
use promptforge_wire::protocol::PROTOCOL_HEADER;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::mongo::MongoServer;
use crate::tokens::{fixture, AUDIENCE, ISSUER};

/// The user the test servers accept as a marketplace moderator.
pub const MODERATOR: &str = "moderator";

pub fn config(uri: &str, database: &str) -> Config {
    Config {
        mongodb_uri: uri.to_owned(),
        database: database.to_owned(),
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        auth_issuer: ISSUER.to_owned(),
        auth_audience: AUDIENCE.to_owned(),
        jwks_file: Some(fixture("jwks.json")),
        jwks_url: None,
        max_body_bytes: 4 * 1024 * 1024,
        max_mutations_per_push: 500,
        request_timeout_secs: 30,
        moderators: vec![MODERATOR.to_owned()],
        platform_fee_rate: 0.2,
        refund_window_days: 14,
        answer_retention_secs: 7 * 24 * 3600,
        tombstone_retention_secs: 90 * 24 * 3600,
        purge_interval_secs: 3600,
        live_connections_per_user: 8,
        live_connections_max: 10_000,
        live_heartbeat_secs: 15,
        presence_ttl_secs: 30,
    }
}

/// A running sync server; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub database: String,
    pub mongodb_uri: String,
    stop: Option<oneshot::Sender<()>>,
    http: reqwest::Client,
}

impl TestServer {
    /// A server on its own fresh database.
    pub async fn start(mongo: &MongoServer) -> TestServer {
        Self::start_on(mongo, &mongo.fresh_database()).await
    }

    /// A server on `database`, which other servers may share.
    pub async fn start_on(mongo: &MongoServer, database: &str) -> TestServer {
        Self::start_configured(mongo, config(&mongo.uri, database)).await
    }

    /// A server with `config` (made with [`config`], then changed). Its
    /// periodic purge does not run: tests call `retention::purge`.
    pub async fn start_configured(mongo: &MongoServer, config: Config) -> TestServer {
        let database = config.database.clone();
        let db = Db::connect(&config.mongodb_uri, &config.database)
            .await
            .expect("connect to MongoDB");
        let verifier = Verifier::from_jwks_file(fixture("jwks.json").as_path(), ISSUER, AUDIENCE)
            .expect("keys");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sequencer = promptforge_server::sequencer::spawn(db.clone());
        let app = promptforge_server::router(db, verifier, config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            sequencer.stop().await;
        });
        TestServer {
            base: format!("http://{addr}"),
            database,
            mongodb_uri: mongo.uri.clone(),
            stop: Some(stop),
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body` to `path` with `token`; returns the status and JSON body.
    pub async fn post<B: Serialize>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(PROTOCOL_HEADER, "1")
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, value)
    }

    /// Waits until the sequencer has numbered the current state of a
    /// document written straight to MongoDB (a team the web app made, say):
    /// from then on the server reads it as every reader does.
    pub async fn sequenced(&self, collection: &str, id: &str) {
        let coll = self.collection(collection).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let current = coll
                .find_one(bson::doc! { "_id": id })
                .await
                .expect("read the document");
            let numbered = current
                .as_ref()
                .is_some_and(|d| promptforge_server::db::is_sequenced(collection, d));
            if numbered {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{collection} `{id}` was not sequenced within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// A collection of this server's database, written directly as the web
    /// app does (teams, for one).
    pub async fn collection(&self, name: &str) -> mongodb::Collection<bson::Document> {
        mongodb::Client::with_uri_str(&self.mongodb_uri)
            .await
            .expect("connect to MongoDB")
            .database(&self.database)
            .collection(name)
    }

    /// Panics naming every stored document that lacks a field the seed
    /// requires.
    pub async fn assert_seed_required(&self) {
        let missing = crate::seed::missing_required(&self.mongodb_uri, &self.database).await;
        assert!(
            missing.is_empty(),
            "{} stored documents lack seed-required fields: {:?}",
            missing.len(),
            missing.iter().take(20).collect::<Vec<_>>()
        );
    }

    /// POSTs and decodes a successful answer.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &B,
    ) -> R {
        let (status, value) = self.post(path, Some(token), body).await;
        assert_eq!(status, 200, "{path}: {value}");
        serde_json::from_value(value).expect("response shape")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
