//! Every marketplace request, its answer cut after the server committed it:
//! the desktop's engine resends the same request (same idempotency key) and
//! gets the first answer back, never "already done" for what it did itself.
//! Before publish, moderation and reviews carried a key, a review whose
//! answer was lost came back as "you already reviewed this purchase".

use std::sync::LazyLock;

use promptforge_sync::engine::MarketCall;
use promptforge_sync::schema::{new_id, MarketplaceListing, Prompt};
use promptforge_tests::accounts::{get_user, put_user};
use promptforge_tests::desktop::Desktop;
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::{Fault, FaultProxy};
use promptforge_tests::server::{TestServer, MODERATOR};
use promptforge_wire::market::{
    MarketOutcome, ModerateRequest, ModerationAction, PublishRequest, PurchaseRequest,
    RefundRequest, ReviewRequest,
};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

/// Sends `request` through `desktop`'s engine with the proxy cutting the
/// first answer to `call`'s route; asserts the cut happened and the resend
/// got the request's first answer.
async fn through_a_cut<R: serde::Serialize + Sync>(
    desktop: &Desktop,
    proxy: &FaultProxy,
    call: MarketCall,
    request: &R,
) -> bson::Document {
    let route = call.path();
    let cut_before = proxy.stats().cut;
    proxy.script_for(route, [Fault::CutAnswer]);
    let outcome = desktop
        .engine
        .market_request(call, request)
        .await
        .unwrap_or_else(|err| panic!("{route}: {err}"));
    assert_eq!(
        proxy.stats().cut,
        cut_before + 1,
        "{route}: the answer was cut"
    );
    match outcome {
        MarketOutcome::Done { document, .. } => document,
        MarketOutcome::Refused {
            reason, message, ..
        } => {
            panic!("{route}: the resend was refused ({reason:?}): {message}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_marketplace_request_survives_a_cut_answer() {
    let server = TestServer::start(&MONGO).await;
    let (uri, database) = (&MONGO.uri, &server.database);
    put_user(uri, database, "cora", 0).await;
    put_user(uri, database, "dane", 100).await;
    let proxy = FaultProxy::start(&server.base).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let seller = Desktop::open(dirs[0].path(), &proxy.base, "cora").await;
    let buyer = Desktop::open(dirs[1].path(), &proxy.base, "dane").await;
    let moderator = Desktop::open(dirs[2].path(), &proxy.base, MODERATOR).await;
    seller.synced().await;
    let prompt = seller
        .store()
        .create(Prompt::new("cora", "Haiku", "Write a haiku about {topic}"))
        .await
        .expect("prompt");
    let draft: MarketplaceListing = bson::from_document(bson::doc! {
        "_id": new_id(),
        "seller_id": "cora",
        "prompt_id": &prompt.id,
        "title": "Haiku maker",
        "description": "Short poems on any topic, in three lines.",
        "short_description": "Haiku",
        "category": "writing",
        "price": 20,
        "currency": "credits",
        "preview_content": "Write a haiku about ...",
        "licensing": { "license_type": "personal", "usage_rights": ["commercial"] },
    })
    .expect("a listing");
    let listing = seller.store().create(draft).await.expect("listing");
    seller.synced().await;

    let key = || Some(new_id());
    let published = through_a_cut(
        &seller,
        &proxy,
        MarketCall::Publish,
        &PublishRequest {
            listing_id: listing.id.clone(),
            idempotency_key: key(),
        },
    )
    .await;
    assert_eq!(published.get_str("status"), Ok("pending"));
    let approved = through_a_cut(
        &moderator,
        &proxy,
        MarketCall::Moderate,
        &ModerateRequest {
            listing_id: listing.id.clone(),
            action: ModerationAction::Approve,
            notes: None,
            idempotency_key: key(),
        },
    )
    .await;
    assert_eq!(approved.get_str("status"), Ok("approved"));
    let purchase = through_a_cut(
        &buyer,
        &proxy,
        MarketCall::Purchase,
        &PurchaseRequest {
            listing_id: listing.id.clone(),
            expected_price: 20,
            idempotency_key: new_id(),
        },
    )
    .await;
    let purchase_id = purchase.get_str("_id").expect("a purchase").to_owned();
    let reviewed = through_a_cut(
        &buyer,
        &proxy,
        MarketCall::Review,
        &ReviewRequest {
            purchase_id: purchase_id.clone(),
            rating: 5,
            review: "Lovely".into(),
            idempotency_key: key(),
        },
    )
    .await;
    assert_eq!(reviewed.get_i64("rating"), Ok(5), "the review: {reviewed}");
    through_a_cut(
        &buyer,
        &proxy,
        MarketCall::Refund,
        &RefundRequest {
            purchase_id,
            reason: "Changed my mind".into(),
            idempotency_key: new_id(),
        },
    )
    .await;
    // Charged once, refunded once: the buyer is back where they started.
    let buyer_now = get_user(uri, database, "dane").await;
    assert_eq!(
        buyer_now
            .get_document("credits")
            .and_then(|c| c.get_i64("balance")),
        Ok(100)
    );
    server.assert_seed_required().await;
}
