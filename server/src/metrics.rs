//! Operational metrics, served in Prometheus' text format at `GET /metrics`:
//! requests and their latency by route and status, push outcomes, pulled
//! pages and documents, transactions retried after write conflicts, and the
//! sequencer: whether this instance leads, what it numbered, how far it lags,
//! and how long writers waited for it; and the commands sent to the database.
//!
//! The `metrics` facade records into one process-wide Prometheus recorder,
//! installed by the first server of the process; several servers in one
//! process (tests) add into the same series.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use promptforge_wire::protocol::MutationOutcome;

const REQUESTS: &str = "promptforge_http_requests_total";
const LATENCY: &str = "promptforge_http_request_duration_seconds";
const PUSHED: &str = "promptforge_push_mutations_total";
const PULL_PAGES: &str = "promptforge_pull_pages_total";
const PULLED: &str = "promptforge_pull_documents_total";
const RETRIES: &str = "promptforge_transaction_retries_total";
const SEQUENCING_WAIT: &str = "promptforge_sequencing_wait_seconds";
const LEADER: &str = "promptforge_sequencer_leader";
const STAMPED: &str = "promptforge_sequencer_stamped_total";
const LAG: &str = "promptforge_sequencer_lag_seconds";
const DB_COMMANDS: &str = "promptforge_db_commands_total";
const LIVE_CONNECTIONS: &str = "promptforge_live_connections";
const LIVE_HINTS: &str = "promptforge_live_hints_total";

/// Latency buckets from a cached read to a contended transaction.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process's recorder, or `None` when another recorder was installed
/// first (an embedding program's own), in which case `/metrics` says so.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(LATENCY.to_owned()), &LATENCY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(SEQUENCING_WAIT.to_owned()), &LATENCY_BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Installs the recorder; called when a server starts, so that the first
/// requests are counted.
pub fn install() {
    if handle().is_none() {
        tracing::warn!("another metrics recorder is installed; /metrics will be empty");
    }
}

/// `GET /metrics`.
pub async fn render() -> Response {
    match handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are recorded elsewhere in this process",
        )
            .into_response(),
    }
}

/// Counts every request and times it, labelled by its route pattern (never
/// the raw path, which a client chooses) and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!(LATENCY, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// One pushed mutation's answer.
pub fn pushed(outcome: &MutationOutcome) {
    let label = match outcome {
        MutationOutcome::Applied { .. } => "applied",
        MutationOutcome::Merged { .. } => "merged",
        MutationOutcome::Conflict { .. } => "conflict",
        MutationOutcome::Rejected { .. } => "rejected",
    };
    metrics::counter!(PUSHED, "outcome" => label).increment(1);
}

/// One pull page served, with its documents.
pub fn pulled(documents: usize) {
    metrics::counter!(PULL_PAGES).increment(1);
    metrics::counter!(PULLED).increment(u64::try_from(documents).unwrap_or(u64::MAX));
}

/// A transaction run again after a transient error (a write conflict).
pub fn transaction_retried() {
    metrics::counter!(RETRIES).increment(1);
}

/// How long a committed write waited to be sequenced before its answer.
pub fn sequencing_waited(waited: std::time::Duration) {
    metrics::histogram!(SEQUENCING_WAIT).record(waited.as_secs_f64());
}

/// One command sent to the database, by its name (`find`, `insert`,
/// `commitTransaction`...): how many round trips each request costs.
pub fn db_command(name: &str) {
    metrics::counter!(DB_COMMANDS, "command" => name.to_owned()).increment(1);
}

/// Whether this instance holds the sequencer's lease.
pub fn sequencer_leads(leads: bool) {
    metrics::gauge!(LEADER).set(if leads { 1.0 } else { 0.0 });
}

/// Documents and notices given a sequence number by this instance, and how
/// long after its commit the latest one was numbered.
pub fn sequencer_stamped(count: usize, lag: Option<std::time::Duration>) {
    metrics::counter!(STAMPED).increment(u64::try_from(count).unwrap_or(u64::MAX));
    if let Some(lag) = lag {
        metrics::gauge!(LAG).set(lag.as_secs_f64());
    }
}

/// Live channels open on this instance, after one opened or closed.
pub fn live_connections(open: usize) {
    metrics::gauge!(LIVE_CONNECTIONS).set(open as f64);
}

/// Hints this instance sent down its live channels (coalesced ones count once).
pub fn live_hints(sent: usize) {
    metrics::counter!(LIVE_HINTS).increment(u64::try_from(sent).unwrap_or(u64::MAX));
}
