//! A fault-injecting HTTP proxy between a desktop and the sync server.
//!
//! Each request is forwarded on a fresh upstream connection and the whole
//! answer read before anything is returned, so a fault can be placed
//! exactly: refuse the request (the server never sees it), drop the answer
//! (the server applied it, the desktop never learns), or cut the answer
//! half-way. The proxy can also go offline, and be pointed at another
//! upstream (a restarted server).
//!
//! The live channel (`GET /v1/live`, an answer that never ends) meets no
//! scripted fault: by default the proxy answers it 404, as a server without
//! one would, so rounds alone decide what a scripted test sees; with
//! [`FaultProxy::pass_live`] it is piped through until the proxy goes
//! offline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use promptforge_wire::protocol::LIVE_PATH;

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded and answered normally.
    Pass,
    /// Not forwarded; the connection closes (the server never sees it).
    Refuse,
    /// Forwarded; the connection closes before any answer.
    DropAnswer,
    /// Forwarded; half the answer is sent, then the connection closes.
    CutAnswer,
}

/// How many requests met each fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub passed: u64,
    pub refused: u64,
    pub dropped: u64,
    pub cut: u64,
}

#[derive(Debug)]
struct State {
    upstream: String,
    offline: bool,
    script: VecDeque<Fault>,
    /// Faults for requests to paths starting with a prefix, in order.
    targeted: Option<(String, VecDeque<Fault>)>,
    random: Option<(StdRng, f64)>,
    stats: ProxyStats,
    pass_live: bool,
    /// Requests forwarded, by path.
    paths: std::collections::HashMap<String, u64>,
}

impl State {
    fn next_fault(&mut self, path: &str) -> Fault {
        if self.offline {
            return Fault::Refuse;
        }
        if let Some((prefix, faults)) = &mut self.targeted {
            if path.starts_with(prefix.as_str()) {
                if let Some(fault) = faults.pop_front() {
                    return fault;
                }
            }
        }
        if let Some(fault) = self.script.pop_front() {
            return fault;
        }
        if let Some((rng, rate)) = &mut self.random {
            if rng.gen_bool(*rate) {
                return match rng.gen_range(0..3) {
                    0 => Fault::Refuse,
                    1 => Fault::DropAnswer,
                    _ => Fault::CutAnswer,
                };
            }
        }
        Fault::Pass
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// The URL desktops use instead of the server's.
    pub base: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy in front of the server at `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State {
            upstream: host_port(upstream),
            offline: false,
            script: VecDeque::new(),
            targeted: None,
            random: None,
            stats: ProxyStats::default(),
            pass_live: false,
            paths: std::collections::HashMap::new(),
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = serve(client, state).await;
                });
            }
        });
        FaultProxy {
            base: format!("http://{addr}"),
            state,
            task,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// While offline every request is refused.
    pub fn set_offline(&self, offline: bool) {
        self.with(|s| s.offline = offline);
    }

    /// Whether the live channel is piped through (otherwise answered 404).
    pub fn pass_live(&self, pass: bool) {
        self.with(|s| s.pass_live = pass);
    }

    /// The next requests meet these faults, in order (then normal service).
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| s.script.extend(faults));
    }

    /// The next requests to paths starting with `prefix` meet these faults,
    /// in order; other requests pass as they would have.
    pub fn script_for(&self, prefix: &str, faults: impl IntoIterator<Item = Fault>) {
        self.with(|s| s.targeted = Some((prefix.to_owned(), faults.into_iter().collect())));
    }

    /// From now on, each request meets a random fault with probability `rate`.
    pub fn randomly(&self, seed: u64, rate: f64) {
        self.with(|s| s.random = Some((StdRng::seed_from_u64(seed), rate)));
    }

    /// Back to normal service: no script, no random faults, online.
    pub fn heal(&self) {
        self.with(|s| {
            s.offline = false;
            s.script.clear();
            s.targeted = None;
            s.random = None;
        });
    }

    /// Sends further requests to another server (e.g. one restarted).
    pub fn set_upstream(&self, upstream: &str) {
        self.with(|s| s.upstream = host_port(upstream));
    }

    /// How many requests to `path` were forwarded.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.with(|s| s.paths.get(path).copied().unwrap_or(0))
    }

    pub fn stats(&self) -> ProxyStats {
        self.with(|s| s.stats)
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body); `None` at EOF.
async fn read_request(
    client: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let mut chunk = [0_u8; 16384];
                let n = client.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Ok(Some((head, body)));
        }
        let mut chunk = [0_u8; 16384];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut client: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    while let Some((head, body)) = read_request(&mut client, &mut buffer).await? {
        if head
            .split_whitespace()
            .nth(1)
            .is_some_and(|p| p.starts_with(LIVE_PATH))
        {
            return pipe_live(client, &head, state).await;
        }
        let (fault, upstream) = {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let fault = s.next_fault(path);
            if fault != Fault::Refuse {
                *s.paths.entry(path.to_owned()).or_default() += 1;
            }
            match fault {
                Fault::Pass => s.stats.passed += 1,
                Fault::Refuse => s.stats.refused += 1,
                Fault::DropAnswer => s.stats.dropped += 1,
                Fault::CutAnswer => s.stats.cut += 1,
            }
            (fault, s.upstream.clone())
        };
        if fault == Fault::Refuse {
            return Ok(());
        }
        // One upstream connection per request, closed by the server after
        // its answer, so the answer is simply everything it sends. Without
        // Accept-Encoding the answer keeps a Content-Length a cut can break.
        let mut request = Vec::new();
        for line in head.lines() {
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            if name != "connection" && name != "accept-encoding" {
                request.extend_from_slice(line.as_bytes());
                request.extend_from_slice(b"\r\n");
            }
        }
        request.extend_from_slice(b"Connection: close\r\n\r\n");
        request.extend_from_slice(&body);
        let mut server = match TcpStream::connect(&upstream).await {
            Ok(server) => server,
            Err(_) => return Ok(()),
        };
        server.write_all(&request).await?;
        let mut answer = Vec::new();
        server.read_to_end(&mut answer).await?;
        match fault {
            Fault::DropAnswer => return Ok(()),
            Fault::CutAnswer => {
                client.write_all(&answer[..answer.len() / 2]).await?;
                return Ok(());
            }
            _ => client.write_all(&answer).await?,
        }
    }
    Ok(())
}

/// Answers the live channel: 404 unless passed, then piped through until
/// either side closes or the proxy goes offline.
async fn pipe_live(
    mut client: TcpStream,
    head: &str,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    let (pass, offline, upstream) = {
        let s = state.lock().unwrap_or_else(PoisonError::into_inner);
        (s.pass_live, s.offline, s.upstream.clone())
    };
    if offline {
        return Ok(());
    }
    if !pass {
        let body = r#"{"code":"not_found","message":"no live channel behind this proxy"}"#;
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        return client.write_all(answer.as_bytes()).await;
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return Ok(());
    };
    let mut request = head.trim_end().to_owned();
    request.push_str("\r\n\r\n");
    server.write_all(request.as_bytes()).await?;
    let mut chunk = [0_u8; 16384];
    loop {
        tokio::select! {
            read = server.read(&mut chunk) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                client.write_all(&chunk[..n]).await?;
            }
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                if state.lock().unwrap_or_else(PoisonError::into_inner).offline {
                    return Ok(());
                }
            }
        }
    }
}
