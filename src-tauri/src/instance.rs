//! One app process per data directory (PoloDB allows one process per
//! profile): the first launch listens on a Unix socket in the data
//! directory; a second launch finds it, asks the first to bring its window
//! forward, and exits. Per directory rather than per machine, so profiles in
//! different directories (tests, a second account) can run side by side.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tauri::{AppHandle, Manager, Runtime};

use crate::MAIN_WINDOW;

const SOCKET_NAME: &str = "instance.sock";
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
}

#[cfg(unix)]
pub fn claim(data_dir: &Path) -> std::io::Result<Claim> {
    use std::os::unix::net::{UnixListener, UnixStream};
    let path = data_dir.join(SOCKET_NAME);
    if let Ok(mut other) = UnixStream::connect(&path) {
        other.set_write_timeout(Some(std::time::Duration::from_secs(2)))?;
        if other.write_all(FOCUS).is_ok() {
            return Ok(Claim::Focused);
        }
    }
    // Nobody answered: whatever socket file is there was left by a process
    // that died, so it is safe to replace.
    match std::fs::remove_file(&path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let socket = UnixListener::bind(&path)?;
    Ok(Claim::First(Listener {
        socket: Some(socket),
        path,
    }))
}

#[cfg(not(unix))]
pub fn claim(data_dir: &Path) -> std::io::Result<Claim> {
    // Elsewhere the profile lock alone keeps a second process out.
    Ok(Claim::First(Listener {
        path: data_dir.join(SOCKET_NAME),
    }))
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
        // The first process is gone (its socket closed): the next launch wins.
        assert!(matches!(claim(dir.path())?, Claim::First(_)));
        Ok(())
    }
}
