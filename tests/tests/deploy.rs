//! `deploy/` checked against the code it deploys, since no container runtime
//! runs here: the binary, flags and variables the files name exist and
//! parse with the server's own configuration, the stop signal is the one the
//! server handles, and systemd accepts the unit where it is installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory, Parser};

/// The server's command line, as `promptforge-server` parses it.
#[derive(Debug, Parser)]
#[command(name = "promptforge-server")]
struct ServerCli {
    #[command(flatten)]
    config: promptforge_server::Config,
}

/// Read by the server's `main` (the log filter and format), not by its
/// library's configuration.
const BINARY_VARIABLES: [&str; 2] = ["PROMPTFORGE_LOG", "PROMPTFORGE_LOG_FORMAT"];
const BINARY: &str = "promptforge-server";
const INSTALLED: &str = "/usr/local/bin/promptforge-server";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The example's variables, in file order, empty values kept.
fn env_file() -> Vec<(String, String)> {
    read(&root().join("deploy/server.env.example"))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=VALUE: {line}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_example_settings_are_the_servers_and_parse() {
    let command = ServerCli::command();
    // Each variable the server reads, with the flag it stands for.
    let flags: BTreeMap<String, String> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            Some((env, format!("--{}", arg.get_long()?)))
        })
        .collect();
    let required: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.is_required_set())
        .filter_map(|arg| Some(arg.get_env()?.to_string_lossy().into_owned()))
        .collect();
    assert!(
        required.contains(&"PROMPTFORGE_MONGODB_URI".to_owned()),
        "the server's required settings were found: {required:?}"
    );

    let main = read(&root().join("server/src/bin/promptforge-server.rs"));
    for name in BINARY_VARIABLES {
        assert!(main.contains(name), "the server's main reads {name}");
    }
    let settings = env_file();
    let mut argv = vec![BINARY.to_owned()];
    for (name, value) in &settings {
        if BINARY_VARIABLES.contains(&name.as_str()) {
            continue;
        }
        let flag = flags
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not a setting of the server: {flags:?}"));
        if !value.is_empty() {
            argv.push(flag.clone());
            argv.push(value.clone());
        }
    }
    for name in &required {
        assert!(
            settings
                .iter()
                .any(|(set, value)| set == name && !value.is_empty()),
            "{name} is required and the example leaves it out"
        );
    }
    let parsed = ServerCli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("the example does not parse ({argv:?}): {e}"));
    assert_eq!(parsed.config.platform_fee_rate, 0.2);
    assert!(parsed.config.jwks_url.is_some() && parsed.config.jwks_file.is_none());
}

#[test]
fn the_container_builds_and_runs_the_server_binary() {
    let dockerfile = read(&root().join("deploy/Dockerfile"));
    let manifest = read(&root().join("server/Cargo.toml"));
    assert!(
        manifest.contains(&format!("name = \"{BINARY}\"")),
        "server/Cargo.toml names the binary {BINARY}"
    );
    assert!(dockerfile.contains(&format!("--bin {BINARY}")), "builds it");
    assert!(
        dockerfile.contains(&format!(
            "COPY --from=build /src/target/release/{BINARY} {INSTALLED}"
        )),
        "installs what it built"
    );
    assert!(dockerfile.contains(&format!("ENTRYPOINT [\"{INSTALLED}\"]")));
    // The toolchain the image builds with is the repository's.
    let toolchain = read(&root().join("rust-toolchain.toml"));
    let channel = toolchain
        .lines()
        .find_map(|line| line.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"').to_owned())
        .expect("a pinned channel");
    let minor = channel
        .rsplit_once('.')
        .map_or(channel.as_str(), |(m, _)| m);
    assert!(
        dockerfile.contains(&format!("FROM rust:{minor}-")),
        "the build stage uses Rust {minor}"
    );
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ")) {
        if let Some(source) = line
            .split_whitespace()
            .nth(1)
            .filter(|s| !s.starts_with("--"))
        {
            assert!(root().join(source).exists(), "{line}: {source} is missing");
        }
    }
    let listen = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ENV PROMPTFORGE_BIND="))
        .expect("the image listens on all interfaces");
    let port = listen.rsplit_once(':').map(|(_, port)| port).unwrap_or("");
    assert!(
        dockerfile.contains(&format!("EXPOSE {port}")),
        "exposes {port}"
    );
}

#[test]
fn both_stop_the_server_with_the_signal_it_handles() {
    let main = read(&root().join("server/src/bin/promptforge-server.rs"));
    assert!(
        main.contains("ctrl_c()"),
        "the server shuts down gracefully on SIGINT; if it handles SIGTERM now, update deploy/"
    );
    let dockerfile = read(&root().join("deploy/Dockerfile"));
    assert!(dockerfile.lines().any(|l| l.trim() == "STOPSIGNAL SIGINT"));
    let unit = read(&root().join("deploy/promptforge-server.service"));
    assert!(unit.lines().any(|l| l.trim() == "KillSignal=SIGINT"));
    assert!(unit.contains(&format!("ExecStart={INSTALLED}")));
    assert!(unit.contains("EnvironmentFile=/etc/promptforge/server.env"));
}

#[test]
fn systemd_accepts_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed; the unit's directives are not verified");
        return;
    };
    assert!(version.status.success());
    // `verify` wants the binary to exist: a copy of the unit runs `true`.
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = read(&root().join("deploy/promptforge-server.service"))
        .replace(&format!("ExecStart={INSTALLED}"), "ExecStart=/bin/true");
    let copy = dir.path().join("promptforge-server.service");
    std::fs::write(&copy, unit).expect("write the copy");
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze");
    let complaints = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}
