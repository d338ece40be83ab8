//! The `promptforge` binary, run as a user would: real processes on a real
//! profile directory. Bad input must give a clear message and a non-zero exit,
//! never a panic, and must leave the stored library as it was.

use std::path::Path;
use std::process::{Command, Output};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn promptforge(profile: &Path, args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_promptforge"))
        .arg("--profile")
        .arg(profile)
        .args(args)
        .output()
        .expect("run promptforge");
    let run = Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "promptforge {args:?} panicked: {}",
        run.stderr
    );
    run
}

fn ok(profile: &Path, args: &[&str]) -> String {
    let run = promptforge(profile, args);
    assert!(run.ok, "promptforge {args:?} failed: {}", run.stderr);
    run.stdout
}

fn fails(profile: &Path, args: &[&str], expected: &str) -> String {
    let run = promptforge(profile, args);
    assert!(
        !run.ok,
        "promptforge {args:?} should have failed: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains(expected),
        "promptforge {args:?}: expected `{expected}` in: {}",
        run.stderr
    );
    run.stderr
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn a_prompt_lives_its_whole_life_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let profile = dir.path();
    let project = ok(
        profile,
        &[
            "project", "create", "--title", "Launch", "--color", "#112233",
        ],
    )
    .trim()
    .to_owned();
    let id = ok(
        profile,
        &[
            "prompt",
            "create",
            "--title",
            "Tweet writer",
            "--content",
            "Write a tweet",
            "--tag",
            "social",
            "--project",
            &project,
        ],
    )
    .trim()
    .to_owned();

    let listed = ok(profile, &["prompt", "list", "--tag", "social"]);
    assert!(
        listed.contains(&id) && listed.contains("Tweet writer"),
        "{listed}"
    );
    let edited = json(&ok(
        profile,
        &[
            "prompt",
            "edit",
            &id,
            "--content",
            "Write a viral tweet",
            "--set",
            "performance.rating=4",
        ],
    ));
    assert_eq!(edited["content"], "Write a viral tweet");
    assert_eq!(edited["performance"]["rating"], 4.0);

    let versions = ok(profile, &["prompt", "versions", &id]);
    assert!(
        versions.contains("v2") && versions.contains("Edited content") && versions.contains("v1"),
        "{versions}"
    );
    let restored = json(&ok(profile, &["prompt", "restore-version", &id, "1"]));
    assert_eq!(restored["content"], "Write a tweet");

    let found = ok(profile, &["--json", "prompt", "list", "--search", "TWEET"]);
    assert_eq!(json(&found).as_array().map(Vec::len), Some(1));
    let shown = json(&ok(profile, &["project", "show", &project]));
    assert_eq!(shown["prompt_ids"][0], id.as_str());

    ok(profile, &["prompt", "delete", &id]);
    assert!(ok(profile, &["prompt", "list"]).contains("no prompts found"));
    assert!(ok(profile, &["prompt", "list", "--deleted", "only"]).contains(&id));
    ok(profile, &["prompt", "restore", &id]);
    assert!(ok(profile, &["prompt", "list"]).contains(&id));

    let idea = ok(
        profile,
        &[
            "idea",
            "create",
            "--title",
            "Thread idea",
            "--priority",
            "high",
            "--starred",
            "true",
        ],
    )
    .trim()
    .to_owned();
    assert!(ok(
        profile,
        &["idea", "list", "--starred", "true", "--priority", "high"]
    )
    .contains(&idea));
    let info = ok(profile, &["info"]);
    assert!(info.contains("prompt_versions        3"), "{info}");
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let profile = dir.path();
    let id = ok(
        profile,
        &["prompt", "create", "--title", "Stable", "--content", "Body"],
    )
    .trim()
    .to_owned();
    let before = ok(profile, &["prompt", "show", &id]);

    fails(
        profile,
        &["prompt", "edit", &id, "--difficulty", "wizard"],
        "difficulty",
    );
    fails(
        profile,
        &["prompt", "edit", &id, "--set", "performance.rating=11"],
        "performance.rating",
    );
    fails(
        profile,
        &["prompt", "edit", &id, "--set", "version=3"],
        "version",
    );
    fails(
        profile,
        &["prompt", "edit", &id, "--set", "no-equals-sign"],
        "FIELD=VALUE",
    );
    fails(profile, &["prompt", "edit", &id, "--title", ""], "title");
    fails(
        profile,
        &["prompt", "show", "does-not-exist"],
        "was not found",
    );
    fails(
        profile,
        &[
            "prompt",
            "create",
            "--title",
            "T",
            "--content",
            "C",
            "--project",
            "nope",
        ],
        "project_id",
    );
    fails(
        profile,
        &["project", "create", "--title", "P", "--progress", "120"],
        "progress",
    );
    fails(
        profile,
        &["prompt", "restore-version", &id, "7"],
        "version 7",
    );
    fails(
        profile,
        &["prompt", "list", "--sort", "sideways"],
        "sideways",
    );

    assert_eq!(
        ok(profile, &["prompt", "show", &id]),
        before,
        "the prompt is untouched"
    );
    assert!(ok(profile, &["info"]).contains("prompts                1"));
}

#[test]
fn export_and_import_move_a_library_between_profiles() {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let id = ok(
        &a,
        &[
            "prompt",
            "create",
            "--title",
            "Portable",
            "--content",
            "Travels well",
        ],
    )
    .trim()
    .to_owned();
    ok(
        &a,
        &["prompt", "edit", &id, "--content", "Travels very well"],
    );
    let file = dir.path().join("library.json");
    ok(&a, &["export", file.to_str().expect("utf-8 path")]);
    let report = ok(&b, &["import", file.to_str().expect("utf-8 path")]);
    assert!(report.contains("imported 3 documents"), "{report}");
    assert_eq!(
        ok(&b, &["prompt", "show", &id]),
        ok(&a, &["prompt", "show", &id])
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"format\": \"promptforge-library\", ").expect("write");
    fails(
        &b,
        &["import", broken.to_str().expect("utf-8 path")],
        "not JSON",
    );
    fails(&b, &["import", "/no/such/file.json"], "cannot read");
    assert!(ok(&b, &["info"]).contains("prompts                1"));
}

#[tokio::test]
async fn a_profile_open_elsewhere_gets_a_clear_message() {
    let dir = tempfile::tempdir().expect("dir");
    let store = promptforge_sync::Store::open(dir.path())
        .await
        .expect("open");
    let profile = dir.path().to_owned();
    let stderr = tokio::task::spawn_blocking(move || {
        fails(
            &profile,
            &["prompt", "list"],
            "open in another PromptForge process",
        )
    })
    .await
    .expect("join");
    assert!(stderr.starts_with("error:"), "{stderr}");
    drop(store);
}

#[test]
fn a_reader_that_closes_the_pipe_ends_the_command_quietly() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    ok(
        dir.path(),
        &[
            "prompt",
            "create",
            "--title",
            "Piped",
            "--content",
            "into head",
        ],
    );
    // The read end is gone before the command writes a byte: every write
    // meets a broken pipe, as under `promptforge export | head -c0`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_promptforge"))
        .arg("--profile")
        .arg(dir.path())
        .arg("export")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promptforge");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "no message for a closed pipe: {stderr}"
    );
    assert_eq!(output.status.code(), Some(141), "the broken-pipe status");
    // The library is intact.
    let listed = ok(dir.path(), &["prompt", "list"]);
    assert!(listed.contains("Piped"), "{listed}");
}

#[test]
fn sync_watch_holds_the_profile_and_other_commands_say_so() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    ok(
        dir.path(),
        &[
            "prompt",
            "create",
            "--title",
            "Kept",
            "--content",
            "current",
        ],
    );
    // An unreachable server: the watcher backs off and keeps running.
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_promptforge"))
        .arg("--profile")
        .arg(dir.path())
        .args(["sync", "--watch", "--server", "http://127.0.0.1:9"])
        .env("PROMPTFORGE_TOKEN", "not-a-real-token")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promptforge sync --watch");
    // Its first status line (offline) comes after it opened the profile.
    let mut status = std::io::BufReader::new(watcher.stderr.take().expect("stderr"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut status, &mut first).expect("a status line");
    assert!(first.contains("offline"), "{first}");
    fails(
        dir.path(),
        &[
            "prompt",
            "create",
            "--title",
            "Blocked",
            "--content",
            "edit",
        ],
        "open in another PromptForge process",
    );
    assert!(
        watcher.try_wait().expect("poll").is_none(),
        "the watcher keeps running while offline"
    );
    watcher.kill().expect("stop the watcher");
    let _ = watcher.wait();
    let listed = ok(dir.path(), &["prompt", "list"]);
    assert!(listed.contains("Kept"), "{listed}");
}
