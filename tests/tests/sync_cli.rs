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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marketplace_from_the_command_line() {
    let server = TestServer::start(&MONGO).await;
    promptforge_tests::accounts::put_user(&MONGO.uri, &server.database, "sam", 0).await;
    promptforge_tests::accounts::put_user(&MONGO.uri, &server.database, "bea", 50).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let (seller, buyer, moderator) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let (sam, bea, moderation) = (
        token("sam"),
        token("bea"),
        token(promptforge_tests::server::MODERATOR),
    );
    let online = |profile: &Path, args: &[&str], token: &str| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &server.base]);
        let (ok, out, err) = run(profile, &all, Some(token));
        assert!(ok, "{args:?}: {err}");
        out
    };

    // The seller drafts offline, then publishes.
    let (_, prompt, _) = run(
        seller,
        &[
            "prompt",
            "create",
            "--title",
            "Cold email",
            "--content",
            "Write a cold email",
        ],
        None,
    );
    let (ok, listing, err) = run(
        seller,
        &[
            "listing",
            "create",
            "--prompt",
            prompt.trim(),
            "--title",
            "Cold emails that land",
            "--price",
            "15",
            "--preview",
            "Write a short cold email to {name}",
        ],
        None,
    );
    assert!(ok, "{err}");
    let listing = listing.trim().to_owned();
    let (_, mine, _) = run(seller, &["listing", "list"], None);
    assert!(
        mine.contains("draft") && mine.contains("Cold emails that land"),
        "{mine}"
    );
    let out = online(seller, &["listing", "publish", &listing], &sam);
    assert!(out.contains("pending"), "{out}");
    let (ok, _, err) = run(
        seller,
        &[
            "listing",
            "moderate",
            &listing,
            "--action",
            "approve",
            "--server",
            &server.base,
        ],
        Some(&sam),
    );
    assert!(!ok && err.contains("only moderators"), "{err}");
    let out = online(
        moderator,
        &["listing", "moderate", &listing, "--action", "approve"],
        &moderation,
    );
    assert!(out.contains("approved"), "{out}");

    // The buyer browses, buys at the shown price, reviews.
    online(buyer, &["sync"], &bea);
    let (_, market, _) = run(buyer, &["listing", "list", "--market"], None);
    assert!(
        market.contains("Cold emails that land") && market.contains("15 credits"),
        "{market}"
    );
    let out = online(buyer, &["buy", &listing], &bea);
    assert!(out.contains("bought"), "{out}");
    let (ok, _, err) = run(
        buyer,
        &["buy", &listing, "--server", &server.base],
        Some(&bea),
    );
    assert!(!ok && err.contains("already own"), "{err}");
    let (_, purchases, _) = run(buyer, &["purchases"], None);
    assert!(
        purchases.contains("bought") && purchases.contains("completed"),
        "{purchases}"
    );
    let purchase = purchases
        .split_whitespace()
        .next()
        .expect("a purchase id")
        .to_owned();
    let (ok, _, err) = run(
        buyer,
        &[
            "review",
            &purchase,
            "--rating",
            "9",
            "--server",
            &server.base,
        ],
        Some(&bea),
    );
    assert!(!ok && err.contains("1 to 5"), "{err}");
    online(
        buyer,
        &["review", &purchase, "--rating", "5", "--text", "Great"],
        &bea,
    );
    let (_, notes, _) = run(buyer, &["notifications"], None);
    assert!(notes.contains("Purchase complete"), "{notes}");
    let note = notes
        .split_whitespace()
        .nth(1)
        .expect("a notification id")
        .to_owned();
    let (ok, _, err) = run(buyer, &["notifications", "read", &note], None);
    assert!(ok, "{err}");
    online(buyer, &["sync"], &bea);
    let (_, notes, _) = run(buyer, &["notifications"], None);
    assert!(!notes.contains(&format!("* {note}")), "{notes}");

    // The seller sees the sale and the rating.
    online(seller, &["sync"], &sam);
    let (_, sales, _) = run(seller, &["purchases"], None);
    assert!(
        sales.contains("sold") && sales.contains("15 credits"),
        "{sales}"
    );
    let (_, mine, _) = run(seller, &["listing", "list"], None);
    assert!(
        mine.contains("approved") && mine.contains("★5.0 (1)"),
        "{mine}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_and_sharing_from_the_command_line() {
    let server = TestServer::start(&MONGO).await;
    promptforge_tests::accounts::put_verified_profiles(&server, &["ida", "jon"], str::to_uppercase)
        .await;
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let (ida, jon) = (dirs[0].path(), dirs[1].path());
    let (ida_token, jon_token) = (token("ida"), token("jon"));
    let as_ida = |args: &[&str]| run(ida, args, Some(&ida_token));
    let as_jon = |args: &[&str]| run(jon, args, Some(&jon_token));
    let server_flag = ["--server", server.base.as_str()];

    let (ok, team, stderr) = as_ida(&[&["team", "create", "Crew"][..], &server_flag].concat());
    assert!(ok, "{stderr}");
    let team = team.trim().to_owned();
    let (ok, out, stderr) = as_ida(&[
        "team",
        "invite",
        &team,
        "jon@example.com",
        "--role",
        "viewer",
    ]);
    assert!(
        ok && out.contains("invited jon@example.com to Crew"),
        "{out}{stderr}"
    );
    let (ok, _, stderr) = as_ida(&["team", "invite", &team, "nobody@example.com"]);
    assert!(!ok && stderr.contains("unknown_email"), "{stderr}");
    let (ok, out, stderr) = as_jon(&[&["team", "accept", &team][..], &server_flag].concat());
    assert!(ok && out.contains("joined Crew"), "{out}{stderr}");
    let (_, out, _) = as_jon(&["team", "list"]);
    assert!(out.contains("Crew") && out.contains("you: viewer"), "{out}");
    let (ok, out, stderr) = as_jon(&["team", "role", &team, "jon", "admin"]);
    assert!(!ok && stderr.contains("forbidden"), "{out}{stderr}");
    as_ida(&["sync"]);
    let (_, out, _) = as_ida(&["team", "members", &team]);
    assert!(out.contains("ida") && out.contains("owner"), "{out}");
    assert!(out.contains("jon") && out.contains("viewer"), "{out}");

    // Sharing a prompt by email: write for Jon, then taken back.
    let (ok, prompt, stderr) =
        as_ida(&["prompt", "create", "--title", "Shared", "--content", "Body"]);
    assert!(ok, "{stderr}");
    let prompt = prompt.trim().to_owned();
    let (ok, out, stderr) = as_ida(&[
        "share",
        "add",
        "prompt",
        &prompt,
        "jon@example.com",
        "--permission",
        "write",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        out.contains("jon") && out.contains("write") && out.contains("JON"),
        "{out}"
    );
    let (ok, _, stderr) = as_ida(&[
        "share",
        "add",
        "idea",
        "some-idea",
        "jon@example.com",
        "--permission",
        "write",
    ]);
    assert!(
        !ok && stderr.contains("invalid") && stderr.contains("ideas"),
        "{stderr}"
    );
    let (ok, _, stderr) = as_ida(&[
        "share",
        "add",
        "prompt",
        &prompt,
        "jon@example.com",
        "--permission",
        "own",
    ]);
    assert!(!ok && stderr.contains("permission"), "{stderr}");
    as_jon(&["sync"]);
    let (_, out, _) = as_jon(&["prompt", "show", &prompt]);
    assert!(
        out.contains("Shared"),
        "the shared prompt is in Jon's library: {out}"
    );
    let (ok, _, stderr) = as_jon(&["share", "list", "prompt", &prompt]);
    assert!(!ok && stderr.contains("forbidden"), "{stderr}");
    let (ok, out, stderr) = as_ida(&["share", "remove", "prompt", &prompt, "jon"]);
    assert!(ok && out.contains("shared with nobody"), "{out}{stderr}");

    let (ok, out, stderr) = as_jon(&["team", "leave", &team]);
    assert!(ok && out.contains("left Crew"), "{out}{stderr}");
    // The team leaves Jon's library (as soon as the server has numbered
    // the change; a sync or two).
    let mut out = String::new();
    for _ in 0..20 {
        as_jon(&["sync"]);
        out = as_jon(&["team", "list"]).1;
        if out.contains("no teams yet") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(out.contains("no teams yet"), "{out}");
}

/// Runs `promptforge` with `input` on its standard input.
fn run_with_input(args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("PROMPTFORGE_FIREBASE_API_KEY")
        .env_remove("PROMPTFORGE_AUTH_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promptforge");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for promptforge");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_is_created_from_the_command_line_and_syncs() {
    use promptforge_tests::firebase::{FakeFirebase, API_KEY};
    let server = TestServer::start(&MONGO).await;
    let firebase = FakeFirebase::start().await.expect("Firebase stand-in");
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    let token_path = token_file.to_string_lossy().into_owned();
    let firebase_flags = ["--api-key", API_KEY, "--auth-url", firebase.base.as_str()];
    let signup = |email: &str, password: &str| {
        let args = [
            &["account", "signup", email][..],
            &firebase_flags,
            &["--save-token", token_path.as_str()],
        ]
        .concat();
        run_with_input(&args, &format!("{password}\n"))
    };

    let (ok, _, stderr) = signup("nova@example.com", "short");
    assert!(!ok && stderr.contains("stronger password"), "{stderr}");
    let (ok, _, stderr) = signup("nova@example.com", "");
    assert!(!ok && stderr.contains("standard input"), "{stderr}");
    let (ok, user, stderr) = signup("nova@example.com", "correct horse");
    assert!(ok, "{stderr}");
    assert!(stderr.contains("verify"), "{stderr}");
    let user = user.trim().to_owned();
    assert_eq!(
        firebase.user_id("nova@example.com").as_deref(),
        Some(user.as_str())
    );
    assert_eq!(firebase.verifications(), ["nova@example.com"]);
    let (ok, _, stderr) = signup("nova@example.com", "another one");
    assert!(
        !ok && stderr.contains("already uses this email"),
        "{stderr}"
    );
    let (ok, out, stderr) = run_with_input(
        &[
            &["account", "reset", "nova@example.com"][..],
            &firebase_flags,
        ]
        .concat(),
        "",
    );
    assert!(ok && out.contains("reset link"), "{out}{stderr}");
    assert_eq!(firebase.resets(), ["nova@example.com"]);

    // The saved token syncs, and the server makes the account's profile.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the token file is private");
    }
    let profile = dir.path().join("profile");
    let (ok, _, stderr) = run(
        &profile,
        &[
            "sync",
            "--server",
            &server.base,
            "--token-file",
            &token_path,
        ],
        None,
    );
    assert!(ok, "{stderr}");
    let made = server
        .collection("users")
        .await
        .count_documents(bson::doc! { "_id": &user })
        .await
        .expect("count");
    assert_eq!(made, 1);
}
