//! The sync server's `GET /metrics`: what an operator's Prometheus scrapes.
//! Its own test binary, so the process-wide recorder counts only the
//! requests made here and every figure can be asserted exactly.

use promptforge_tests::mongo::MongoServer;
use promptforge_tests::push_client::{applied_version, prompt_doc, Client};
use promptforge_tests::server::TestServer;
use promptforge_wire::protocol::MutationOp;

/// The value of the series `name` whose labels include every one of
/// `labels` (`route="/v1/push"`), if the text has it.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name && labels.iter().all(|label| rest.contains(label))
        })
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, number)| number.parse().ok())
}

#[tokio::test]
async fn requests_pushes_pulls_and_unknown_routes_are_counted() {
    let mongo = MongoServer::start().expect("start SecantusDB");
    let server = TestServer::start(&mongo).await;
    let mut alice = Client::new(&server, "alice", "laptop");

    let created = alice
        .create("prompts", "p1", prompt_doc("alice", "p1", "Counted"))
        .await;
    assert_eq!(applied_version(&created), 1);
    let refused = alice
        .push_one("no_such_collection", "x1", 0, MutationOp::Delete)
        .await;
    assert!(matches!(
        refused,
        promptforge_wire::protocol::MutationOutcome::Rejected { .. }
    ));
    let page = alice.pull("prompts", 0).await;
    assert_eq!(page.changes.len(), 1);
    let http = reqwest::Client::new();
    let missing = http
        .get(format!("{}/secret-admin-path", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 404);

    let scraped = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(scraped.status().as_u16(), 200);
    let content_type = scraped
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = scraped.text().await.expect("body");

    let requests = "promptforge_http_requests_total";
    assert_eq!(
        value(&text, requests, &[r#"route="/v1/push""#, r#"status="200""#]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(&text, requests, &[r#"route="/v1/pull""#, r#"status="200""#]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            requests,
            &[r#"route="unmatched""#, r#"status="404""#]
        ),
        Some(1.0)
    );
    assert!(
        !text.contains("secret-admin-path"),
        "a path the client chose never becomes a label"
    );
    let pushed = "promptforge_push_mutations_total";
    assert_eq!(value(&text, pushed, &[r#"outcome="applied""#]), Some(1.0));
    assert_eq!(value(&text, pushed, &[r#"outcome="rejected""#]), Some(1.0));
    assert_eq!(value(&text, "promptforge_pull_pages_total", &[]), Some(1.0));
    assert_eq!(
        value(&text, "promptforge_pull_documents_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "promptforge_http_request_duration_seconds_count",
            &[r#"route="/v1/push""#]
        ),
        Some(2.0)
    );
    assert!(
        text.contains("promptforge_http_request_duration_seconds_bucket"),
        "latency is a histogram with buckets: {text}"
    );
}
