//! Kill -9 durability: a child process writes through the store and is killed
//! with SIGKILL at random moments. After each kill the profile reopens with
//! every acknowledged write intact and every invariant holding: no prompt
//! without its versions, no half-updated project link.
//!
//! The seed is printed; rerun with `DURABILITY_SEED=N` to reproduce.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use promptforge_sync::schema::{Project, Prompt};
use promptforge_sync::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROUNDS: u64 = 8;

#[derive(Debug, Default)]
struct Expectations {
    projects: Vec<String>,
    /// Prompt id to the content tags it may hold: the last acknowledged one,
    /// and the one in flight when the process died (it may have committed).
    content: HashMap<String, (String, Option<String>)>,
    acknowledged: usize,
}

impl Expectations {
    fn read(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ACK", "project", id, _] => {
                self.projects.push((*id).to_owned());
                self.acknowledged += 1;
            }
            ["ACK", "prompt", id, "content", tag] => {
                self.content
                    .insert((*id).to_owned(), ((*tag).to_owned(), None));
                self.acknowledged += 1;
            }
            ["BEGIN", "edit", id, "content", tag] => {
                if let Some(entry) = self.content.get_mut(*id) {
                    entry.1 = Some((*tag).to_owned());
                }
            }
            ["ACK", "edit", id, "content", tag] => {
                self.content
                    .insert((*id).to_owned(), ((*tag).to_owned(), None));
                self.acknowledged += 1;
            }
            ["ACK", ..] => self.acknowledged += 1,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_and_the_store_stays_consistent() {
    let seed: u64 = std::env::var("DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("durability seed: {seed} (rerun with DURABILITY_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("dir");
    let mut expected = Expectations::default();

    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_store_writer"))
            .arg(dir.path())
            .arg((seed.wrapping_mul(31).wrapping_add(round)).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let lifetime = Duration::from_millis(rng.gen_range(150..900));
        std::thread::sleep(lifetime);
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap");
        let lines = reader.join().expect("reader");
        assert!(
            lines.iter().any(|l| l.starts_with("ACK")) || round > 0,
            "seed {seed}: the writer acknowledged nothing in round {round}: {lines:?}"
        );
        for line in &lines {
            expected.read(line);
        }

        let store = Store::open(dir.path()).await.expect("reopen after kill");
        for id in &expected.projects {
            assert!(
                store.get::<Project>(id).await.expect("read").is_some(),
                "seed {seed}: project {id} lost"
            );
        }
        let mut settled = HashMap::new();
        for (id, (acked, in_flight)) in &expected.content {
            let prompt = store
                .get::<Prompt>(id)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("seed {seed}: acknowledged prompt {id} lost"));
            let holds = prompt.content.strip_prefix("content ").unwrap_or("");
            assert!(
                holds == acked || Some(holds) == in_flight.as_deref(),
                "seed {seed}: prompt {id} holds `{holds}`, acknowledged `{acked}` (in flight: {in_flight:?})"
            );
            settled.insert(id.clone(), (holds.to_owned(), None));
        }
        // What was in flight is settled now: the next round starts from the
        // state just verified.
        expected.content = settled;
        let problems = store.check_consistency().await.expect("check");
        assert!(
            problems.is_empty(),
            "seed {seed}, round {round}: {problems:#?}"
        );
        drop(store);
    }
    assert!(
        expected.acknowledged >= ROUNDS as usize,
        "seed {seed}: too few writes to mean anything"
    );
    println!(
        "{} acknowledged writes verified across {ROUNDS} kills",
        expected.acknowledged
    );
}
