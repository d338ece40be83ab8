//! A child process for the kill -9 sync test: it creates and edits prompts
//! through the store and syncs every few writes, until it is killed. Each
//! write is announced once the store acknowledged it:
//! `ACK create TITLE` and `ACK edit TITLE DESCRIPTION`.
//!
//! Titles continue from the number of prompts already in the profile, so a
//! create that committed just before a kill (but was never announced) is
//! not made twice under the same title.
//!
//! Usage: `sync_client PROFILE_DIR SERVER_URL USER`

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bson::doc;
use promptforge_sync::engine::{HttpTransport, StaticToken};
use promptforge_sync::schema::{Collection, Prompt};
use promptforge_sync::{Store, SyncConfig, SyncEngine};
use promptforge_tests::tokens::token;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [profile, server, user] = args.as_slice() else {
        anyhow::bail!("usage: sync_client PROFILE_DIR SERVER_URL USER");
    };
    let store = Store::open(profile).await.context("open the profile")?;
    let first = store.count(Collection::Prompts) as u64;
    let transport = HttpTransport::new(
        server,
        Arc::new(StaticToken(token(user))),
        Duration::from_secs(20),
    )?;
    let config = SyncConfig {
        push_batch: 4,
        ..SyncConfig::default()
    };
    let engine = SyncEngine::new(store.clone(), transport, config);
    let mut out = std::io::stdout();
    let mut created: Vec<(String, String)> = Vec::new();
    for i in first.. {
        let title = format!("K{i:05}");
        let prompt = store
            .create(Prompt::new(&store.user_id(), &title, "body"))
            .await?;
        writeln!(out, "ACK create {title}")?;
        created.push((prompt.id, title));
        if i % 3 == 0 {
            let (id, title) = &created[created.len() / 2];
            let description = format!("edited-{i}");
            store
                .patch::<Prompt>(id, doc! { "description": &description })
                .await?;
            writeln!(out, "ACK edit {title} {description}")?;
        }
        out.flush()?;
        if i % 4 == 0 {
            // Failures are expected (the parent kills things); the next
            // round resumes.
            let _ = engine.sync_once().await;
        }
    }
    Ok(())
}
