//! The refresh token in a real Secret Service (gnome-keyring on a private
//! D-Bus session, headless), and the 0600 account file as the fallback where
//! no keyring runs. Sign-out removes it from both.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promptforge_desktop::settings::{forget_account, load_account, save_account, AccountRecord};
use promptforge_sync::engine::account::Session;

const TOKEN: &str = "refresh-7c1e-very-secret";

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn record() -> AccountRecord {
    AccountRecord {
        session: Session {
            user_id: "ada".into(),
            email: "ada@example.com".into(),
            id_token: "id-token".into(),
            refresh_token: TOKEN.into(),
            expires_at: 1_900_000_000,
        },
        server_url: "https://sync.example.com".into(),
        profile: "account-ada".into(),
    }
}

fn account_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("account.json")).expect("account file")
}

/// What `secret-tool` finds for the app's entry of `dir` (None: nothing).
fn keyring_holds(dir: &Path, bus: &str) -> Option<String> {
    let user = format!("refresh-token {}", dir.display());
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "ai.promptforge.desktop",
            "username",
            &user,
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .output()
        .expect("secret-tool (setup-debian.sh installs libsecret-tools)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A private session bus with an unlocked gnome-keyring on it.
fn start_keyring(home: &Path) -> (String, Killed) {
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon");
    let mut address = String::new();
    BufReader::new(bus.stdout.take().expect("stdout"))
        .read_line(&mut address)
        .expect("bus address");
    let address = address.trim().to_owned();
    let mut daemon = Command::new("gnome-keyring-daemon")
        .args(["--unlock", "--components=secrets", "--foreground"])
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon (setup-debian.sh installs gnome-keyring)");
    if let Some(mut stdin) = daemon.stdin.take() {
        stdin.write_all(b"test-password").expect("unlock");
    }
    // A request before the unlocked login keyring exists makes the daemon
    // ask for a password through a prompt nobody can answer here.
    let login = home.join("data").join("keyrings").join("login.keyring");
    let started = Instant::now();
    while !login.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "gnome-keyring-daemon never made its login keyring"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (address, Killed(vec![daemon, bus]))
}

#[test]
fn the_refresh_token_lives_in_the_keyring_or_else_the_private_file() {
    let home = tempfile::tempdir().expect("home");
    let (bus, _running) = start_keyring(home.path());
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus);
    std::env::remove_var("PROMPTFORGE_KEYRING");

    // The keyring answers once the daemon has claimed its name.
    let data = tempfile::tempdir().expect("data dir");
    let started = Instant::now();
    loop {
        save_account(data.path(), &record()).expect("save");
        if account_file(data.path()).contains("\"keyring\"") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the Secret Service never took the token"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let file = account_file(data.path());
    assert!(!file.contains(TOKEN), "the file keeps no token: {file}");
    assert_eq!(keyring_holds(data.path(), &bus).as_deref(), Some(TOKEN));
    assert_eq!(load_account(data.path()), Some(record()), "read back whole");

    forget_account(data.path()).expect("sign out");
    assert_eq!(
        keyring_holds(data.path(), &bus),
        None,
        "removed from the keyring"
    );
    assert!(!data.path().join("account.json").exists());
    assert_eq!(load_account(data.path()), None);

    // Keyring turned off (as where none runs: libdbus caches its session
    // connection per process, so "none running" is the app's own unit test,
    // settings.rs, run without a session bus): the token stays in the 0600 file.
    std::env::set_var("PROMPTFORGE_KEYRING", "off");
    let fallback = tempfile::tempdir().expect("data dir");
    save_account(fallback.path(), &record()).expect("save");
    assert_eq!(keyring_holds(fallback.path(), &bus), None);
    let file = account_file(fallback.path());
    assert!(file.contains(TOKEN) && file.contains("\"file\""), "{file}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fallback.path().join("account.json"))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(load_account(fallback.path()), Some(record()));
    forget_account(fallback.path()).expect("sign out");
    assert_eq!(load_account(fallback.path()), None);

    // A file that says "keyring" whose secret was removed behind the app's
    // back is a sign-out, not a crash.
    std::env::remove_var("PROMPTFORGE_KEYRING");
    save_account(data.path(), &record()).expect("save");
    assert_eq!(keyring_holds(data.path(), &bus).as_deref(), Some(TOKEN));
    let user = format!("refresh-token {}", data.path().display());
    let cleared = Command::new("secret-tool")
        .args([
            "clear",
            "service",
            "ai.promptforge.desktop",
            "username",
            &user,
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .status()
        .expect("secret-tool");
    assert!(cleared.success());
    assert_eq!(load_account(data.path()), None);
}
