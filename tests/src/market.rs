//! Marketplace steps the tests share: a draft listing, a request through a
//! desktop's transport, publishing with a moderator's approval.

use bson::{doc, Document};
use promptforge_sync::engine::MarketCall;
use promptforge_sync::schema::{new_id, MarketplaceListing};
use promptforge_wire::market::{MarketOutcome, ModerateRequest, ModerationAction, PublishRequest};

use crate::desktop::Desktop;

/// A draft listing of `prompt_id` by `seller`, ready to publish.
pub fn draft_listing(seller: &str, prompt_id: &str, title: &str, price: i64) -> MarketplaceListing {
    bson::from_document(doc! {
        "_id": new_id(),
        "seller_id": seller,
        "prompt_id": prompt_id,
        "title": title,
        "description": "Writes product descriptions that sell.",
        "short_description": "Product copy",
        "category": "marketing",
        "price": price,
        "currency": "credits",
        "preview_content": "You are a copywriter. Describe {product} ...",
        "licensing": { "license_type": "personal", "usage_rights": ["commercial"] },
    })
    .expect("a listing")
}

/// A marketplace request through `desktop`'s transport, answered or refused.
pub async fn market<R: serde::Serialize + Sync>(
    desktop: &Desktop,
    call: MarketCall,
    request: &R,
) -> MarketOutcome {
    desktop
        .engine
        .transport()
        .market(call, request)
        .await
        .expect("marketplace request")
}

/// Submits a listing and has the moderator approve it.
pub async fn publish_and_approve(seller: &Desktop, moderator: &Desktop, listing_id: &str) {
    let listing_id = listing_id.to_owned();
    let publish = PublishRequest {
        listing_id: listing_id.clone(),
        idempotency_key: None,
    };
    done(market(seller, MarketCall::Publish, &publish).await);
    let approve = ModerateRequest {
        listing_id,
        action: ModerationAction::Approve,
        notes: None,
        idempotency_key: None,
    };
    done(market(moderator, MarketCall::Moderate, &approve).await);
}

/// The document a request returned; panics on a refusal.
pub fn done(outcome: MarketOutcome) -> Document {
    match outcome {
        MarketOutcome::Done { document, .. } => document,
        MarketOutcome::Refused {
            reason, message, ..
        } => {
            panic!("refused: {reason:?}: {message}")
        }
    }
}
