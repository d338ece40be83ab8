//! One app process per data directory (PoloDB allows one process per
//! profile): the first launch listens on a Unix socket in the data
//! directory; a second launch finds it, asks the first to bring its window
//! forward, and exits. Per directory rather than per machine, so profiles in
//! different directories (tests, a second account) can run side by side.
//! A file lock (`instance.lock`, holding the process id) decides who is
//! first, so two launches at the same moment cannot both win.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager, Runtime};

use crate::MAIN_WINDOW;

const SOCKET_NAME: &str = "instance.sock";
const LOCK_NAME: &str = "instance.lock";
const FOCUS: &[u8] = b"focus\n";

/// The outcome of trying to be the app's one process.
#[derive(Debug)]
pub enum Claim {
    /// This is the first: serve focus requests from later launches.
    First(Listener),
    /// Another process has the directory; it was asked to show its window.
    Focused,
}

#[derive(Debug)]
pub struct Listener {
    #[cfg(unix)]
    socket: Option<std::os::unix::net::UnixListener>,
    path: PathBuf,
    /// Held (locked) for the life of the process.
    _lock: std::fs::File,
}

fn lock_file(data_dir: &Path) -> std::io::Result<Option<std::fs::File>> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(LOCK_NAME))?;
    match file.try_lock() {
        Ok(()) => {
            // The process id, for tools that must stop a stuck app.
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            Ok(Some(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(err)) => Err(err),
    }
}

#[cfg(unix)]
pub fn claim(data_dir: &Path) -> std::io::Result<Claim> {
    use std::os::unix::net::{UnixListener, UnixStream};
    let path = data_dir.join(SOCKET_NAME);
    let Some(lock) = lock_file(data_dir)? else {
        // Another process is first; its socket may take a moment to appear.
        for _ in 0..50 {
            if let Ok(mut other) = UnixStream::connect(&path) {
                other.set_write_timeout(Some(std::time::Duration::from_secs(2)))?;
                if other.write_all(FOCUS).is_ok() {
                    return Ok(Claim::Focused);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        return Err(std::io::Error::other(
            "another PromptForge process has this data directory but does not answer",
        ));
    };
    // This process holds the lock: any socket file there is a dead one's.
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let socket = UnixListener::bind(&path)?;
    Ok(Claim::First(Listener {
        socket: Some(socket),
        path,
        _lock: lock,
    }))
}

#[cfg(not(unix))]
pub fn claim(data_dir: &Path) -> std::io::Result<Claim> {
    // Elsewhere the lock alone keeps a second process out (it then exits).
    match lock_file(data_dir)? {
        Some(lock) => Ok(Claim::First(Listener {
            path: data_dir.join(SOCKET_NAME),
            _lock: lock,
        })),
        None => Ok(Claim::Focused),
    }
}

impl Listener {
    /// Answers later launches by showing and focusing the main window.
    pub fn serve<R: Runtime>(mut self, app: AppHandle<R>) {
        #[cfg(unix)]
        if let Some(socket) = self.socket.take() {
            let spawned = std::thread::Builder::new()
                .name("single-instance".into())
                .spawn(move || {
                    for stream in socket.incoming() {
                        let Ok(mut stream) = stream else { continue };
                        // A client that connects and says nothing must not block the next.
                        if stream
                            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                            .is_err()
                        {
                            continue;
                        }
                        let mut request = [0_u8; 16];
                        let read = stream.read(&mut request).unwrap_or(0);
                        if request[..read] == *FOCUS {
                            focus(&app);
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::warn!(error = %err, "second launches will not focus this window");
            }
        }
        // The socket file stays while the process lives; it is replaced by
        // the next first launch, and removing it here would let a second
        // launch in while this one still runs.
        let _ = &self.path;
    }
}

fn focus<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let shown = window
            .unminimize()
            .and_then(|()| window.show())
            .and_then(|()| window.set_focus());
        if let Err(err) = shown {
            tracing::warn!(error = %err, "could not bring the window forward");
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_on_the_same_directory_asks_the_first_to_focus() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let first = claim(dir.path())?;
        let Claim::First(listener) = first else {
            panic!("the first claim must win");
        };
        assert!(matches!(claim(dir.path())?, Claim::Focused));
        let socket = listener.socket.as_ref().map(|s| s.accept());
        let mut received = Vec::new();
        if let Some(Ok((mut stream, _))) = socket {
            stream.read_to_end(&mut received)?;
        }
        assert_eq!(received, FOCUS);

        drop(listener);
        // The first process is gone (lock released, socket closed): the next launch wins.
        assert!(matches!(claim(dir.path())?, Claim::First(_)));
        let pid = std::fs::read_to_string(dir.path().join(LOCK_NAME))?;
        assert_eq!(pid.trim(), std::process::id().to_string());
        Ok(())
    }
}
