//! Takes the README's screenshots from the real app: seeds a small demo
//! library, launches `promptforge-desktop` under Xvfb through WebKitWebDriver,
//! visits each main screen and saves a PNG of the window per screen.
//! Run by `scripts/screenshots.sh`; the output directory is the argument.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bson::doc;
use bson::{DateTime, Document};
use promptforge_sync::insights::{EventRecorder, UsageEvent};
use promptforge_sync::schema::{
    Idea, MarketplaceListing, MarketplacePurchase, Model, Notification, Project, Prompt, Review,
};
use promptforge_sync::store::codec::{decode, encode};
use promptforge_sync::Store;
use promptforge_tests::webdriver::{App, Display};
use promptforge_wire::protocol::Change;

const DAY_MS: i64 = 86_400_000;

fn days_ago(days: i64) -> DateTime {
    DateTime::from_millis(DateTime::now().timestamp_millis() - days * DAY_MS)
}

/// Applies documents as a pull from the server would (the real path a
/// synced document takes), numbered after `seq`.
async fn pulled<T: Model>(store: &Store, seq: &mut i64, docs: Vec<Document>) -> anyhow::Result<()> {
    let mut changes = Vec::new();
    for doc in docs {
        let model: T = decode(doc)?;
        *seq += 1;
        changes.push(Change {
            seq: *seq,
            id: model.id().to_owned(),
            document: encode(&model)?,
            left_scope: false,
        });
    }
    store
        .replica()
        .apply_pull_page(T::COLLECTION, changes, *seq)
        .await?;
    Ok(())
}

/// What a signed-in seller's library holds after syncing: other sellers'
/// listings, the user's own approved listing with two months of sales and
/// reviews, uses recorded over the weeks, and one edit that met another
/// device's edit of the same field (a conflict to resolve).
async fn seed_synced(store: &Store, sold_prompt: &str) -> anyhow::Result<()> {
    let me = store.user_id();
    let mut seq = 0;
    let listing = |id: &str,
                   seller: &str,
                   name: &str,
                   (title, short): (&str, &str),
                   category: &str,
                   price: i64,
                   rating: f64,
                   reviews: i64| {
        doc! {
            "_id": id, "seller_id": seller, "prompt_id": format!("p-{id}"), "title": title,
            "description": format!("{title}: tested on hundreds of real cases, with examples and variations."),
            "short_description": short, "category": category, "price": price, "currency": "credits",
            "preview_content": "A preview of the prompt's first lines…", "status": "approved",
            "moderation_status": "approved", "published_at": days_ago(30),
            "seller": { "display_name": name, "verified_seller": true, "seller_rating": rating },
            "reviews": { "average_rating": rating, "total_reviews": reviews },
            "licensing": { "license_type": "standard" }, "version": 3,
        }
    };
    let mut mine = listing(
        "l-mine",
        &me,
        "You",
        (
            "Launch announcement kit",
            "Benefit-first launch posts in 100 words",
        ),
        "marketing",
        40,
        4.4,
        7,
    );
    mine.insert("prompt_id", sold_prompt);
    mine.insert("analytics", doc! { "view_count": 140, "purchase_count": 11, "revenue": 440, "conversion_rate": 11.0 / 140.0 });
    pulled::<MarketplaceListing>(
        store,
        &mut seq,
        vec![
            listing(
                "l-1",
                "u-mira",
                "Mira Okafor",
                (
                    "SQL query explainer",
                    "Plain-English walkthroughs of any query",
                ),
                "code",
                25,
                4.8,
                31,
            ),
            listing(
                "l-2",
                "u-jon",
                "Jon Berg",
                (
                    "Cold email that gets replies",
                    "Short, specific, one clear ask",
                ),
                "marketing",
                60,
                4.5,
                12,
            ),
            listing(
                "l-3",
                "u-lea",
                "Léa Martin",
                (
                    "Lesson plan builder",
                    "A 45-minute lesson from one learning goal",
                ),
                "education",
                35,
                4.9,
                44,
            ),
            listing(
                "l-4",
                "u-sam",
                "Sam Chen",
                (
                    "Bug report triage",
                    "Severity, owner and next step for each report",
                ),
                "code",
                15,
                4.2,
                8,
            ),
            mine,
        ],
    )
    .await?;
    let purchases = (0..11_i64)
        .map(|n| {
            let refunded = n == 4;
            doc! {
                "_id": format!("buy-{n}"), "buyer_id": format!("u-buyer{n}"), "seller_id": &me,
                "listing_id": "l-mine", "prompt_id": sold_prompt, "amount": 40, "currency": "credits",
                "payment_method": "credits", "platform_fee_rate": 0.2, "platform_fee": 8, "seller_earnings": 32,
                "payment_status": if refunded { "refunded" } else { "completed" },
                "fulfillment_status": "delivered",
                "refund": if refunded {
                    doc! { "amount": 40, "status": "processed", "reason": "Bought by mistake", "requested_at": days_ago(n * 5), "processed_at": days_ago(n * 5) }
                } else {
                    doc! {}
                },
                "created_at": days_ago(n * 5 + 1), "version": 1,
            }
        })
        .collect();
    pulled::<MarketplacePurchase>(store, &mut seq, purchases).await?;
    let reviews = [5, 5, 4, 5, 3, 4, 5]
        .iter()
        .enumerate()
        .map(|(n, rating)| {
            doc! {
                "_id": format!("r-{n}"), "prompt_id": sold_prompt, "user_id": format!("u-buyer{n}"),
                "rating": *rating, "review": "Saved me an hour.", "version": 1,
            }
        })
        .collect();
    pulled::<Review>(store, &mut seq, reviews).await?;

    // Uses over the last weeks, as the app records them.
    let recorder = EventRecorder::new(env!("CARGO_PKG_VERSION"), true, 365);
    let prompts = store.list::<Prompt>(Default::default()).await?.items;
    for (n, prompt) in prompts.iter().enumerate() {
        for day in (0..40).step_by(n + 2) {
            let used = if day % 3 == 0 {
                UsageEvent::PromptCopied {
                    prompt_id: prompt.id.clone(),
                }
            } else {
                UsageEvent::PromptUsed {
                    prompt_id: prompt.id.clone(),
                }
            };
            store
                .record_event(recorder.event(&used, days_ago(day)))
                .await?;
        }
    }

    // A prompt synced at version 1, renamed here, renamed on another device.
    let shared = |title: &str, version: i64| {
        doc! {
            "_id": "p-status", "user_id": &me, "title": title, "version": version,
            "content": "Summarise this week's progress in three bullet points: done, next, blocked.\n{notes}",
            "category": "writing", "status": "active",
            "created_at": days_ago(9), "updated_at": days_ago(3 - version),
        }
    };
    pulled::<Prompt>(store, &mut seq, vec![shared("Weekly status update", 1)]).await?;
    store
        .patch::<Prompt>("p-status", doc! { "title": "Weekly status, three bullets" })
        .await?;
    pulled::<Prompt>(store, &mut seq, vec![shared("Friday status report", 2)]).await?;
    Ok(())
}

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
        seed_synced(&store, prompt_id).await?;
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
    println!("demo library in {}", data.path().display());
    seed(&data.path().join("profiles").join("local")).await?;
    let display = Display::start()?;
    let app = App::launch(&display, data.path()).await;
    if app.is_err() {
        // The app's own log says why it did not come up; keep it for a look.
        let kept = data.keep();
        eprintln!(
            "the app did not start; its data directory is kept at {}",
            kept.display()
        );
    }
    let app = app?;
    app.wait_until_texts("prompt-row", "the demo prompts", |rows| rows.len() >= 5)
        .await?;
    app.wait_for("prompt-row").await?.click().await?;
    shoot(&app, &out, "prompts").await?;
    app.click("prompt-history").await?;
    shoot(&app, &out, "prompt-history").await?;
    app.escape().await?;
    app.click("nav-ideas").await?;
    shoot(&app, &out, "ideas").await?;
    app.click("nav-projects").await?;
    app.wait_for("project-row").await?.click().await?;
    shoot(&app, &out, "projects").await?;
    app.click("nav-marketplace").await?;
    app.wait_for("listing-card").await?;
    shoot(&app, &out, "marketplace").await?;
    app.click("nav-dashboards").await?;
    app.wait_for("creator-dashboard").await?;
    shoot(&app, &out, "dashboard-creator").await?;
    app.click("dash-tab-seller").await?;
    app.wait_for("seller-dashboard").await?;
    shoot(&app, &out, "dashboard-seller").await?;
    app.click("nav-prompts").await?;
    app.click("conflicts-button").await?;
    app.wait_for("conflict-row").await?;
    shoot(&app, &out, "conflicts").await?;
    app.escape().await?;
    app.click("nav-settings").await?;
    shoot(&app, &out, "settings").await?;
    app.quit().await
}
