//! A child process for the kill -9 durability test: it writes through the
//! store forever, announcing each operation before it starts (`BEGIN`) and
//! after the store acknowledged it (`ACK`), until it is killed.
//!
//! Usage: `store_writer PROFILE_DIR SEED`

use std::io::Write;

use anyhow::Context;
use bson::doc;
use promptforge_sync::schema::{Idea, Project, Prompt};
use promptforge_sync::{ListQuery, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let profile = args
        .next()
        .context("usage: store_writer PROFILE_DIR SEED")?;
    let seed: u64 = args
        .next()
        .context("missing SEED")?
        .parse()
        .context("SEED is a number")?;
    let mut rng = StdRng::seed_from_u64(seed);
    let store = Store::open(&profile).await?;
    let everything = ListQuery {
        limit: ListQuery::MAX_LIMIT,
        ..ListQuery::default()
    };
    let mut prompts: Vec<String> = store
        .list::<Prompt>(everything.clone())
        .await?
        .items
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut projects: Vec<String> = store
        .list::<Project>(everything)
        .await?
        .items
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut stdout = std::io::stdout().lock();
    let mut announce = |line: String| -> anyhow::Result<()> {
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
        Ok(())
    };
    for step in 0_u64.. {
        let tag = format!("{seed}-{step}");
        let choice = if projects.is_empty() {
            0
        } else if prompts.is_empty() {
            1
        } else {
            rng.gen_range(0..6)
        };
        let project = projects
            .get(rng.gen_range(0..projects.len().max(1)))
            .cloned();
        match choice {
            0 => {
                announce(format!("BEGIN project {tag}"))?;
                let created = store
                    .create(Project::new(&store.user_id(), &format!("Project {tag}")))
                    .await?;
                announce(format!("ACK project {} {tag}", created.id))?;
                projects.push(created.id);
            }
            1 => {
                let mut prompt = Prompt::new(
                    &store.user_id(),
                    &format!("Prompt {tag}"),
                    &format!("content {tag}"),
                );
                prompt.project_id = project;
                announce(format!("BEGIN prompt {tag}"))?;
                let created = store.create(prompt).await?;
                announce(format!("ACK prompt {} content {tag}", created.id))?;
                prompts.push(created.id);
            }
            2 | 3 => {
                let id = prompts[rng.gen_range(0..prompts.len())].clone();
                announce(format!("BEGIN edit {id} content {tag}"))?;
                match store
                    .patch::<Prompt>(&id, doc! { "content": format!("content {tag}") })
                    .await
                {
                    Ok(_) => announce(format!("ACK edit {id} content {tag}"))?,
                    // Deleted prompts refuse edits; that is not a lost write.
                    Err(promptforge_sync::StoreError::Deleted { .. }) => {
                        announce(format!("REFUSED edit {id}"))?
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            4 => {
                let id = prompts[rng.gen_range(0..prompts.len())].clone();
                let target = project.map_or(bson::Bson::Null, bson::Bson::String);
                announce(format!("BEGIN move {id}"))?;
                match store
                    .patch::<Prompt>(&id, doc! { "project_id": target })
                    .await
                {
                    Ok(_) | Err(promptforge_sync::StoreError::Deleted { .. }) => {
                        announce(format!("ACK move {id}"))?
                    }
                    Err(other) => return Err(other.into()),
                }
            }
            _ => {
                let id = prompts[rng.gen_range(0..prompts.len())].clone();
                announce(format!("BEGIN toggle {id}"))?;
                if store.delete::<Prompt>(&id).await.is_err() {
                    store.restore::<Prompt>(&id).await?;
                }
                let mut idea = Idea::new(&store.user_id(), &format!("Idea {tag}"), "");
                idea.project_id = projects.first().cloned();
                store.create(idea).await?;
                announce(format!("ACK toggle {id}"))?;
            }
        }
    }
    Ok(())
}
