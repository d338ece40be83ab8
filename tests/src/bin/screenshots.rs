//! Takes the README's screenshots from the real app: seeds a small demo
//! library, launches `promptforge-desktop` under Xvfb through WebKitWebDriver,
//! visits each main screen and saves a PNG of the window per screen.
//! Run by `scripts/screenshots.sh`; the output directory is the argument.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bson::doc;
use promptforge_sync::schema::{Idea, MarketplaceListing, Notification, Project, Prompt};
use promptforge_sync::store::codec::decode;
use promptforge_sync::Store;
use promptforge_tests::webdriver::{App, Display};

async fn seed(profile: &Path) -> anyhow::Result<()> {
    let store = Store::open(profile).await?;
    let me = store.user_id();
    let project = store
        .create(decode::<Project>(doc! {
            "_id": "", "user_id": &me, "title": "Spring launch", "status": "active",
            "description": "Prompts and ideas for the April product launch.",
            "timeline": { "milestones": [
                { "title": "Draft the announcement prompts", "completed": true },
                { "title": "Review with marketing", "completed": false },
                { "title": "Publish the best one", "completed": false },
            ]},
        })?)
        .await?;
    let prompts = [
        ("Launch announcement", "marketing", "intermediate", "Write a launch announcement for {product} aimed at {audience}. Keep it under 120 words, lead with the benefit, end with one call to action."),
        ("Release notes from commits", "code", "advanced", "Turn these commit messages into user-facing release notes grouped by New, Improved and Fixed:\n{commits}"),
        ("Haiku about the season", "writing", "beginner", "Write a haiku about {season} that mentions one sound and one colour."),
        ("Customer reply, calm tone", "support", "intermediate", "Reply to this customer message in a calm, helpful tone. Acknowledge the problem first.\n{message}"),
        ("Research summary", "research", "expert", "Summarise the paper below in five bullet points for a non-specialist reader, then list two open questions.\n{paper}"),
    ];
    let mut first = None;
    for (title, category, difficulty, content) in prompts {
        let mut prompt = decode::<Prompt>(doc! {
            "_id": "", "user_id": &me, "title": title, "content": content,
            "category": category, "difficulty": difficulty,
            "tags": [category, "launch"], "status": "active",
        })?;
        prompt.project_id = Some(project.id.clone());
        let stored = store.create(prompt).await?;
        first.get_or_insert(stored.id.clone());
    }
    if let Some(id) = &first {
        store
            .patch::<Prompt>(id, doc! { "content": "Write a launch announcement for {product} aimed at {audience}. Keep it under 100 words, lead with the benefit, end with one call to action, no exclamation marks." })
            .await?;
    }
    for (title, status, priority, starred) in [
        ("Prompt pack for onboarding emails", "raw", "medium", false),
        (
            "A/B test two announcement tones",
            "developing",
            "high",
            true,
        ),
        (
            "Template for weekly status updates",
            "reviewed",
            "low",
            false,
        ),
        ("Sell the release-notes prompt", "testing", "urgent", true),
    ] {
        store
            .create(decode::<Idea>(doc! {
                "_id": "", "user_id": &me, "title": title, "status": status,
                "description": "Worth trying this month.", "priority": priority,
                "starred": starred, "project_id": &project.id,
            })?)
            .await?;
    }
    if let Some(prompt_id) = &first {
        store
            .create(decode::<MarketplaceListing>(doc! {
                "_id": "", "seller_id": &me, "prompt_id": prompt_id,
                "title": "Launch announcement kit", "description": "A tested prompt for short, benefit-first launch posts.",
                "category": "marketing", "price": 40, "currency": "credits",
                "preview_content": "Write a launch announcement for {product}…",
                "licensing": { "license_type": "standard" },
            })?)
            .await?;
    }
    store
        .create(decode::<Notification>(doc! {
            "_id": "", "user_id": &me, "type": "success", "title": "Welcome to PromptForge",
            "message": "Your library works offline. Sign in under Settings to sync it.",
            "category": "system",
        })?)
        .await?;
    Ok(())
}

async fn shoot(app: &App, out: &Path, name: &str) -> anyhow::Result<()> {
    // Let the screen finish loading and paint (two animation frames at least).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let png = app.client.screenshot().await?;
    let path = out.join(format!("{name}.png"));
    std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
    println!("saved {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/screenshots".into()),
    );
    std::fs::create_dir_all(&out)?;
    let data = tempfile::tempdir()?;
    seed(&data.path().join("profiles").join("local")).await?;
    let display = Display::start()?;
    let app = App::launch(&display, data.path()).await?;
    app.wait_until_texts("prompt-row", "the demo prompts", |rows| rows.len() >= 5)
        .await?;
    app.wait_for("prompt-row").await?.click().await?;
    shoot(&app, &out, "prompts").await?;
    app.click("prompt-history").await?;
    shoot(&app, &out, "prompt-history").await?;
    app.escape().await?;
    for (nav, name) in [
        ("nav-ideas", "ideas"),
        ("nav-projects", "projects"),
        ("nav-marketplace", "marketplace"),
        ("nav-settings", "settings"),
    ] {
        app.click(nav).await?;
        shoot(&app, &out, name).await?;
    }
    app.quit().await
}
