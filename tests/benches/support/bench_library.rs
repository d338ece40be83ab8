//! What the desktop benchmarks share: the seeded library of prompts the
//! prompt screen is timed on, and dropping the page cache for cold runs.
//! Included by path from `tests/benches` and `sync/benches`, so no crate
//! depends on another's benchmarks.

// Each includer uses part of it.
#![allow(dead_code)]

use promptforge_sync::schema::{Difficulty, Prompt};
use promptforge_sync::Store;

pub const CATEGORIES: [&str; 8] = [
    "writing",
    "code",
    "marketing",
    "support",
    "research",
    "sales",
    "design",
    "education",
];

/// Fills `store` with `count` prompts spread over the categories, 40 tags
/// and every difficulty, 2,000 per commit.
pub async fn seed_library(store: &Store, count: usize) -> anyhow::Result<()> {
    let user = store.user_id();
    let mut made = 0;
    while made < count {
        let batch: Vec<Prompt> = (made..(made + 2_000).min(count))
            .map(|i| {
                let mut prompt = Prompt::new(
                    &user,
                    &format!("Prompt {i}: {} helper", CATEGORIES[i % 8]),
                    &format!("You are an assistant for {}. Task number {i}: explain, summarise and rewrite the text the user gives you, in a friendly tone.", CATEGORIES[i % 8]),
                );
                prompt.category = CATEGORIES[i % 8].to_owned();
                prompt.tags = vec![format!("tag{}", i % 40), "bench".to_owned()];
                prompt.difficulty = Difficulty::ALL[i % Difficulty::ALL.len()];
                prompt
            })
            .collect();
        made += batch.len();
        store.create_many(batch).await?;
    }
    Ok(())
}

/// Empties the kernel's page cache so the next read comes from disk; false
/// where that is not permitted (it needs root).
pub fn drop_page_cache() -> bool {
    // Dirty pages must reach the disk first, or dropping keeps them.
    let synced = std::process::Command::new("sync")
        .status()
        .is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}
