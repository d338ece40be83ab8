//! Kill -9 during sync: a child process creates, edits and syncs prompts and
//! is killed with SIGKILL at random moments, mid-push or mid-pull. After
//! each restart it carries on; at the end the profile syncs once more.
//! Nothing acknowledged is lost, nothing is applied twice, the queue drains.
//!
//! The seed is printed; rerun with `SYNC_KILL_SEED=N` to reproduce.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use promptforge_sync::schema::Prompt;
use promptforge_sync::ListQuery;
use promptforge_tests::desktop::{replica_difference, Desktop};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::server::TestServer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

const KILLS: usize = 6;

#[derive(Debug, Default)]
struct Acknowledged {
    titles: BTreeSet<String>,
    /// Title to the last acknowledged description.
    descriptions: BTreeMap<String, String>,
}

async fn prompts(desktop: &Desktop) -> Vec<Prompt> {
    desktop
        .store()
        .list::<Prompt>(ListQuery {
            limit: ListQuery::MAX_LIMIT,
            ..ListQuery::default()
        })
        .await
        .expect("list prompts")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_loses_nothing_and_duplicates_nothing() {
    let seed: u64 = std::env::var("SYNC_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("sync kill seed: {seed} (rerun with SYNC_KILL_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let server = TestServer::start(&MONGO).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut acknowledged = Acknowledged::default();
    for _ in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sync_client"))
            .arg(dir.path())
            .args([&server.base, "grace"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the client process");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
        child.kill().expect("SIGKILL the client");
        child.wait().expect("reap the client");
        for line in reader.join().expect("reader thread") {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["ACK", "create", title] => {
                    acknowledged.titles.insert((*title).to_owned());
                }
                ["ACK", "edit", title, description] => {
                    acknowledged
                        .descriptions
                        .insert((*title).to_owned(), (*description).to_owned());
                }
                _ => {}
            }
        }
    }
    assert!(
        acknowledged.titles.len() >= KILLS,
        "the child made progress: {}",
        acknowledged.titles.len()
    );

    // Reopen the killed profile and let it finish.
    let desktop = Desktop::open(dir.path(), &server.base, "grace").await;
    desktop.synced().await;
    let summary = desktop.store().sync_summary().await.expect("summary");
    assert_eq!((summary.pending, summary.needs_attention), (0, 0));

    // A fresh desktop sees exactly what the killed one acknowledged.
    let fresh_dir = tempfile::tempdir().expect("dir");
    let fresh = Desktop::open(fresh_dir.path(), &server.base, "grace").await;
    fresh.synced().await;
    for view in [&desktop, &fresh] {
        let all = prompts(view).await;
        let titles: Vec<&str> = all.iter().map(|p| p.title.as_str()).collect();
        let unique: BTreeSet<&str> = titles.iter().copied().collect();
        assert_eq!(titles.len(), unique.len(), "no prompt twice");
        for title in &acknowledged.titles {
            assert!(
                unique.contains(title.as_str()),
                "acknowledged {title} is there"
            );
        }
        for (title, description) in &acknowledged.descriptions {
            let prompt = all
                .iter()
                .find(|p| &p.title == title)
                .expect("edited prompt");
            // A later edit of the same prompt may have committed just before a kill.
            let got = prompt.description.as_deref().unwrap_or("");
            let number = |d: &str| d.trim_start_matches("edited-").parse::<u64>().unwrap_or(0);
            assert!(
                number(got) >= number(description),
                "{title}: acknowledged {description}, found {got}"
            );
        }
    }
    if let Some(diff) = replica_difference(&desktop.replica().await, &fresh.replica().await) {
        panic!("replicas differ: {diff}");
    }
    println!(
        "{} creates and {} edits acknowledged across {KILLS} kills",
        acknowledged.titles.len(),
        acknowledged.descriptions.len()
    );
}
