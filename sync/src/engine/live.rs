//! The client side of the live channel (`GET /v1/live`, server-sent events):
//! [`LiveChannel`] reads its events, and [`SyncEngine::follow_live`] keeps
//! one open while the engine runs, nudging a round on every hint.
//!
//! The channel only says "your scope moved"; rounds still do all the work,
//! so a channel that is refused, cut or never offered costs latency only:
//! `run` then polls as it always did. While the channel is up, polling
//! slows to [`SyncConfig::live_poll_interval`](super::SyncConfig).

use std::sync::atomic::Ordering;
use std::time::Duration;

use promptforge_wire::protocol::LiveEvent;

use super::transport::TransportError;
use super::{jittered, SyncEngine, Transport};

/// How long a channel may stay silent before its first event.
const SILENCE_BEFORE_READY: Duration = Duration::from_secs(30);
/// Heartbeats a channel may miss before the client calls it dead.
const MISSED_HEARTBEATS: u32 = 3;
/// Longest event (`event:` and `data:` lines) a client accepts.
const MAX_EVENT_BYTES: usize = 64 * 1024;

/// An open live channel: an HTTP response whose body is an event stream.
#[derive(Debug)]
pub struct LiveChannel {
    response: reqwest::Response,
    buffer: Vec<u8>,
    event: String,
    data: String,
    silence_limit: Duration,
}

impl LiveChannel {
    pub(super) fn new(response: reqwest::Response) -> LiveChannel {
        LiveChannel {
            response,
            buffer: Vec::new(),
            event: String::new(),
            data: String::new(),
            silence_limit: SILENCE_BEFORE_READY,
        }
    }

    /// The next event; `Ok(None)` when the server ended the channel. A
    /// channel silent for longer than its heartbeats allow is an error.
    pub async fn next(&mut self) -> Result<Option<LiveEvent>, TransportError> {
        loop {
            while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(event) = take_line(&mut self.event, &mut self.data, line)? {
                    if let LiveEvent::Ready(ready) = &event {
                        let beat = Duration::from_secs(ready.heartbeat_secs.max(1));
                        self.silence_limit = beat * MISSED_HEARTBEATS;
                    }
                    return Ok(Some(event));
                }
            }
            if self.buffer.len() > MAX_EVENT_BYTES {
                return Err(TransportError::Protocol(
                    "the live channel sent a line longer than 64 KiB".into(),
                ));
            }
            let chunk = tokio::time::timeout(self.silence_limit, self.response.chunk())
                .await
                .map_err(|_| TransportError::Timeout)?
                .map_err(|e| TransportError::Interrupted(e.to_string()))?;
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => return Ok(None),
            }
        }
    }
}

/// Folds one line of an event stream into the event being read (`event`,
/// `data`); a blank line ends the event and returns it.
fn take_line(
    event: &mut String,
    data: &mut String,
    line: &str,
) -> Result<Option<LiveEvent>, TransportError> {
    if line.is_empty() {
        let name = std::mem::take(event);
        let data = std::mem::take(data);
        if name.is_empty() && data.is_empty() {
            return Ok(None);
        }
        let name = if name.is_empty() {
            "message".to_owned()
        } else {
            name
        };
        return LiveEvent::parse(&name, &data)
            .map_err(|e| TransportError::Protocol(format!("live event `{name}`: {e}")));
    }
    if line.starts_with(':') {
        return Ok(None); // a heartbeat
    }
    let (field, value) = line.split_once(':').unwrap_or((line, ""));
    let value = value.strip_prefix(' ').unwrap_or(value);
    match field {
        "event" => value.clone_into(event),
        "data" => {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value);
        }
        _ => {}
    }
    if event.len() + data.len() > MAX_EVENT_BYTES {
        return Err(TransportError::Protocol(
            "the live channel sent an event larger than 64 KiB".into(),
        ));
    }
    Ok(None)
}

impl<T: Transport> SyncEngine<T> {
    /// Whether a live channel is open now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }

    pub(super) fn set_live(&self, live: bool) {
        // Each channel, and each gap between channels, is its own session.
        self.live_session.fetch_add(1, Ordering::Relaxed);
        if self.live.swap(live, Ordering::Relaxed) != live {
            tracing::info!(
                live,
                "live channel {}",
                if live { "open" } else { "closed" }
            );
            self.status.send_modify(|s| s.live = live);
        }
    }

    /// Keeps a live channel open for as long as it is polled: reconnects
    /// with backoff and jitter, and nudges a round on every hint. A server
    /// without a channel is asked again at the longest backoff.
    pub(super) async fn follow_live(&self) {
        let mut backoff = self.config.backoff_min;
        loop {
            match self.transport.live().await {
                Ok(None) => {
                    tracing::debug!("the server offers no live channel; polling");
                    backoff = self.config.backoff_max;
                }
                Ok(Some(mut channel)) => {
                    backoff = self.config.backoff_min;
                    let ended = loop {
                        match channel.next().await {
                            Ok(Some(LiveEvent::Ready(_))) => {
                                self.set_live(true);
                                // Whatever moved while the channel was down.
                                self.nudge();
                                self.presence_wake.notify_one();
                            }
                            Ok(Some(LiveEvent::Changed(changed))) => {
                                self.hinted_through
                                    .fetch_max(changed.through, Ordering::Relaxed);
                                self.hint.notify_one();
                            }
                            Ok(Some(LiveEvent::Presence(state))) => {
                                self.receive_presence(state);
                            }
                            Ok(Some(LiveEvent::TokenExpired(closing))) => {
                                break format!("token expired: {}", closing.message)
                            }
                            Ok(None) => break "the server closed it".to_owned(),
                            Err(err) => break err.to_string(),
                        }
                    };
                    tracing::debug!(reason = %ended, "live channel ended");
                    if self.is_live() {
                        self.set_live(false);
                        // Back to polling: one round now, then the timer.
                        self.nudge();
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "live channel refused");
                    backoff = (backoff * 2).min(self.config.backoff_max);
                }
            }
            tokio::time::sleep(jittered(backoff)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> Result<Vec<LiveEvent>, TransportError> {
        let (mut event, mut data) = (String::new(), String::new());
        let mut events = Vec::new();
        for line in lines {
            events.extend(take_line(&mut event, &mut data, line)?);
        }
        Ok(events)
    }

    #[test]
    fn events_heartbeats_and_unknown_events_are_read_as_the_protocol_says() {
        let events = feed(&[
            ": heartbeat",
            "event: ready",
            "data: {\"through\":5,\"heartbeat_secs\":15}",
            "",
            "",
            ":heartbeat",
            "event: gossip",
            "data: {}",
            "",
            "event:changed",
            "data:{\"through\":9}",
            "",
        ]);
        let events = events.unwrap_or_default();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(
            matches!(events[0], LiveEvent::Ready(r) if r.through == 5 && r.heartbeat_secs == 15)
        );
        assert!(matches!(events[1], LiveEvent::Changed(c) if c.through == 9));
    }

    #[test]
    fn a_malformed_or_oversized_event_is_a_protocol_error() {
        let result = feed(&["event: changed", "data: {\"through\":\"soon\"}", ""]);
        assert!(
            matches!(result, Err(TransportError::Protocol(_))),
            "{result:?}"
        );
        let long = format!("data: {}", "x".repeat(MAX_EVENT_BYTES + 1));
        let result = feed(&["event: changed", &long]);
        assert!(
            matches!(result, Err(TransportError::Protocol(_))),
            "{result:?}"
        );
    }
}
