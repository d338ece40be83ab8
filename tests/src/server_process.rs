//! The sync server as a separate process, for tests that kill it with
//! SIGKILL: a free port, the process on it, and a wait until it answers.
//! The binary is the caller's to name (`env!("CARGO_BIN_EXE_sync_server_process")`
//! exists only in the test that uses it).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tokens::{fixture, AUDIENCE, ISSUER};

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `binary` (the sync server) on `port` over `database`, with the
/// test signing keys.
pub fn spawn(binary: &Path, uri: &str, database: &str, port: u16) -> Child {
    Command::new(binary)
        .args(["--mongodb-uri", uri, "--database", database])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--auth-issuer", ISSUER, "--auth-audience", AUDIENCE])
        .arg("--jwks-file")
        .arg(fixture("jwks.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server process")
}

/// Waits (at most 30 s) until the server on `port` answers `/healthz`.
pub async fn ready(http: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
