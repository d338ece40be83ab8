//! Marketplace commands: drafting and publishing listings, moderation,
//! browsing, buying, purchases, refunds and reviews. The server is the
//! authority for money, so everything but drafting and browsing is online.

use anyhow::{bail, Context};
use promptforge_sync::engine::{HttpTransport, MarketCall};
use promptforge_sync::schema::{MarketplaceListing, MarketplacePurchase, Prompt};
use promptforge_sync::{ListQuery, Store, SyncEngine};
use promptforge_wire::market::{
    MarketOutcome, ModerateRequest, ModerationAction, PublishRequest, PurchaseRequest,
    RefundRequest, ReviewRequest,
};

use crate::args::{ListingCommand, Moderation, Online};
use crate::output::{created, out, Output};
use crate::sync::connect;

pub(crate) async fn buy(store: &Store, listing: String, online: Online) -> anyhow::Result<()> {
    let shown: MarketplaceListing = store.require(&listing).await.context(
        "the listing is not in your library; run `promptforge sync` to fetch the marketplace",
    )?;
    let (_, engine) = connect(store, online).await?;
    let request = PurchaseRequest {
        listing_id: listing,
        expected_price: shown.price,
        idempotency_key: promptforge_sync::schema::new_id(),
    };
    let purchase = market(&engine, MarketCall::Purchase, &request).await?;
    out!(
        "bought \"{}\" for {} credits; purchase {}; the prompt is in your library",
        shown.title,
        shown.price,
        purchase.get_str("_id").unwrap_or_default()
    );
    Ok(())
}

pub(crate) async fn purchases(store: &Store, out: &Output) -> anyhow::Result<()> {
    let user = store.user_id();

    let page = store
        .list::<MarketplacePurchase>(ListQuery {
            limit: ListQuery::MAX_LIMIT,
            ..ListQuery::default()
        })
        .await?;
    if out.json {
        return out.docs(&page.items, None);
    }
    if page.items.is_empty() {
        out!("no purchases or sales yet");
    }
    for p in &page.items {
        let side = if p.buyer_id == user { "bought" } else { "sold" };
        out!(
            "{}  {side:<6}  {:>5} credits  {:<9}  listing {}  prompt {}",
            p.id,
            p.amount,
            p.payment_status.as_str(),
            p.listing_id,
            p.prompt_id
        );
    }
    Ok(())
}

pub(crate) async fn refund(
    store: &Store,
    purchase: String,
    reason: String,
    online: Online,
) -> anyhow::Result<()> {
    let (_, engine) = connect(store, online).await?;
    let request = RefundRequest {
        purchase_id: purchase,
        reason,
        idempotency_key: promptforge_sync::schema::new_id(),
    };
    market(&engine, MarketCall::Refund, &request).await?;
    out!("refunded; the credits are back in your balance");
    Ok(())
}

pub(crate) async fn review(
    store: &Store,
    purchase: String,
    rating: i64,
    text: String,
    online: Online,
) -> anyhow::Result<()> {
    let (_, engine) = connect(store, online).await?;
    let request = ReviewRequest {
        purchase_id: purchase,
        rating,
        review: text,
        idempotency_key: Some(promptforge_sync::schema::new_id()),
    };
    market(&engine, MarketCall::Review, &request).await?;
    out!("thank you: review saved");
    Ok(())
}

pub(crate) async fn listing(
    store: &Store,
    out: &Output,
    command: ListingCommand,
) -> anyhow::Result<()> {
    let user = store.user_id();
    match command {
        ListingCommand::Create {
            prompt,
            title,
            price,
            description,
            preview,
            category,
            license,
        } => {
            let owned: Prompt = store.require(&prompt).await?;
            if owned.user_id != user {
                bail!("prompt {prompt} is not yours to sell");
            }
            // The store starts the listing as the app does (the seller, the
            // currency); these are the fields the command adds.
            let draft = store
                .create_from::<MarketplaceListing>(bson::doc! {
                    "prompt_id": &prompt,
                    "title": title,
                    "description": description,
                    "category": category,
                    "price": price,
                    "preview_content": preview,
                    "licensing": { "license_type": license },
                })
                .await?;
            created(out, &draft)
        }
        ListingCommand::Publish { id, online } => {
            let (_, engine) = connect(store, online).await?;
            let listing = market(
                &engine,
                MarketCall::Publish,
                &PublishRequest {
                    listing_id: id,
                    idempotency_key: Some(promptforge_sync::schema::new_id()),
                },
            )
            .await?;
            out!(
                "submitted for review: listing {} is {}",
                listing.get_str("_id").unwrap_or_default(),
                listing.get_str("status").unwrap_or_default()
            );
            Ok(())
        }
        ListingCommand::Moderate {
            id,
            action,
            notes,
            online,
        } => {
            let (_, engine) = connect(store, online).await?;
            let action = match action {
                Moderation::Approve => ModerationAction::Approve,
                Moderation::Reject => ModerationAction::Reject,
                Moderation::Suspend => ModerationAction::Suspend,
            };
            let request = ModerateRequest {
                listing_id: id,
                action,
                notes,
                idempotency_key: Some(promptforge_sync::schema::new_id()),
            };
            let listing = market(&engine, MarketCall::Moderate, &request).await?;
            out!(
                "listing {} is now {}",
                listing.get_str("_id").unwrap_or_default(),
                listing.get_str("status").unwrap_or_default()
            );
            Ok(())
        }
        ListingCommand::List { market } => {
            let page = store
                .list::<MarketplaceListing>(ListQuery {
                    limit: ListQuery::MAX_LIMIT,
                    ..ListQuery::default()
                })
                .await?;
            let shown: Vec<MarketplaceListing> = page
                .items
                .into_iter()
                .filter(|l| {
                    if market {
                        l.seller_id != user && l.status.as_str() == "approved"
                    } else {
                        l.seller_id == user
                    }
                })
                .collect();
            if out.json {
                return out.docs(&shown, None);
            }
            if shown.is_empty() {
                out!(
                    "{}",
                    if market {
                        "no listings on sale yet; sync to fetch the marketplace"
                    } else {
                        "you have no listings; create one with `listing create`"
                    }
                );
            }
            for l in &shown {
                let notes = l
                    .moderation_notes
                    .as_deref()
                    .map(|n| format!("  ({n})"))
                    .unwrap_or_default();
                out!(
                    "{}  {:<9}  {:>5} credits  {}  by {}  ★{:.1} ({}){notes}",
                    l.id,
                    l.status.as_str(),
                    l.price,
                    l.title,
                    l.seller.display_name,
                    l.reviews.average_rating,
                    l.reviews.total_reviews
                );
            }
            Ok(())
        }
    }
}

/// Sends a marketplace request through the engine (which syncs around it and
/// resends after a failure retrying can fix) and turns a refusal into an error.
async fn market<R: serde::Serialize + Sync>(
    engine: &SyncEngine<HttpTransport>,
    call: MarketCall,
    request: &R,
) -> anyhow::Result<bson::Document> {
    match engine.market_request(call, request).await? {
        MarketOutcome::Done { document, .. } => {
            // Settled on the server whatever happens next; a one-shot command
            // has no background sync, so it says how to fetch the result.
            if let Err(err) = engine.sync_once().await {
                eprintln!(
                    "warning: done, but this library could not be synced afterwards ({err}); \
                     run `promptforge sync` to bring the result in"
                );
            }
            Ok(document)
        }
        MarketOutcome::Refused { message, .. } => bail!("{message}"),
    }
}
