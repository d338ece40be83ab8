//! `promptforge sync`, `status`, `conflicts` and `attention` as a user runs
//! them: the real binary against the real sync server. Mistakes (no server,
//! a refused token, an unknown conflict) give a clear error and exit 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use promptforge_tests::tokens::{token, unsigned};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// The `promptforge` binary, built by the same `cargo test --workspace`.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    dir.join("promptforge")
}

fn run(profile: &Path, args: &[&str], token: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(binary());
    command.arg("--profile").arg(profile).args(args);
    command
        .env_remove("PROMPTFORGE_TOKEN")
        .env_remove("PROMPTFORGE_SERVER");
    if let Some(token) = token {
        command.env("PROMPTFORGE_TOKEN", token);
    }
    let output = command
        .output()
        .expect("run promptforge (built by cargo test --workspace)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (output.status.success(), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_status_and_conflicts_from_the_command_line() {
    if !binary().exists() {
        panic!(
            "{} is missing: run the workspace's tests (cargo test --workspace)",
            binary().display()
        );
    }
    let server = TestServer::start(&MONGO).await;
    let dir = tempfile::tempdir().expect("dir");
    let profile = dir.path();
    let alice = token("henry");

    let (ok, _, stderr) = run(profile, &["sync"], Some(&alice));
    assert!(!ok && stderr.contains("no sync server"), "{stderr}");
    let (ok, _, stderr) = run(profile, &["sync", "--server", &server.base], None);
    assert!(!ok && stderr.contains("no token"), "{stderr}");

    let (ok, id, stderr) = run(
        profile,
        &[
            "prompt",
            "create",
            "--title",
            "From the CLI",
            "--content",
            "Body",
        ],
        None,
    );
    assert!(ok, "{stderr}");
    let (_, status, _) = run(profile, &["status"], None);
    assert!(status.contains("pending changes:  2"), "{status}");
    assert!(status.contains("not attached"), "{status}");

    // A refused token is a clear error and changes nothing.
    let (ok, _, stderr) = run(
        profile,
        &["sync", "--server", &server.base],
        Some(&unsigned("henry")),
    );
    assert!(!ok && stderr.contains("refused the sign-in"), "{stderr}");
    let (_, status, _) = run(profile, &["status"], None);
    assert!(status.contains("pending changes:  2"), "{status}");

    let (ok, out, stderr) = run(profile, &["sync", "--server", &server.base], Some(&alice));
    assert!(ok, "{stderr}");
    assert!(out.contains("2 uploaded"), "{out}");
    // The server is remembered.
    let (ok, _, stderr) = run(profile, &["sync"], Some(&alice));
    assert!(ok, "{stderr}");
    let (_, status, _) = run(profile, &["status"], None);
    assert!(status.contains("account:          henry"), "{status}");
    assert!(status.contains("pending changes:  0"), "{status}");
    assert!(status.contains(&server.base), "{status}");

    let (_, shown, _) = run(profile, &["prompt", "show", id.trim()], None);
    assert!(shown.contains("\"user_id\": \"henry\""), "{shown}");
    let (ok, out, _) = run(profile, &["conflicts"], None);
    assert!(ok && out.contains("no conflicts"), "{out}");
    let (ok, _, stderr) = run(
        profile,
        &["conflicts", "resolve", "nope", "--keep", "mine"],
        None,
    );
    assert!(!ok && stderr.contains("no conflict `nope`"), "{stderr}");
    let (ok, out, _) = run(profile, &["attention"], None);
    assert!(ok && out.contains("nothing needs attention"), "{out}");
    let (ok, _, stderr) = run(profile, &["attention", "retry", "99"], None);
    assert!(
        !ok && stderr.contains("no needs-attention item `99`"),
        "{stderr}"
    );

    // Another account cannot take over an attached profile.
    let (ok, _, stderr) = run(profile, &["sync"], Some(&token("mallory")));
    assert!(
        !ok && stderr.contains("syncs with account `henry`"),
        "{stderr}"
    );
}
