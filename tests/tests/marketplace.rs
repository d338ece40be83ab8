//! The marketplace against the real server and SecantusDB: a listing's life
//! from an offline draft to approved, bought and reviewed; tampering refused
//! with nothing changed; and many buyers buying at once, every request sent
//! twice and some answers cut, with the ledger balancing exactly.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use bson::{doc, Document};
use promptforge_sync::engine::MarketCall;
use promptforge_sync::schema::{
    new_id, Collection, MarketplaceListing, MarketplacePurchase, Notification, Prompt,
};
use promptforge_sync::ListQuery;
use promptforge_tests::accounts::{get_user, put_user};
use promptforge_tests::desktop::Desktop;
use promptforge_tests::market::{done, draft_listing, market, publish_and_approve};
use promptforge_tests::mongo::MongoServer;
use promptforge_tests::proxy::FaultProxy;
use promptforge_tests::server::{TestServer, MODERATOR};
use promptforge_tests::tokens::token;
use promptforge_wire::market::{
    MarketOutcome, MarketRefusal, ModerateRequest, ModerationAction, PublishRequest,
    PurchaseRequest, RefundRequest, ReviewRequest,
};
use promptforge_wire::protocol::{
    Mutation, MutationOp, MutationOutcome, PushRequest, PushResponse, RejectReason,
};

static MONGO: LazyLock<MongoServer> =
    LazyLock::new(|| MongoServer::start().expect("start SecantusDB"));

fn refusal(outcome: &MarketOutcome) -> MarketRefusal {
    match outcome {
        MarketOutcome::Refused { reason, .. } => *reason,
        MarketOutcome::Done { .. } => panic!("expected a refusal, got {outcome:?}"),
    }
}

async fn listings(desktop: &Desktop) -> Vec<MarketplaceListing> {
    desktop
        .store()
        .list::<MarketplaceListing>(ListQuery {
            limit: ListQuery::MAX_LIMIT,
            ..ListQuery::default()
        })
        .await
        .expect("list listings")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_from_offline_draft_to_bought_and_reviewed() {
    let server = TestServer::start(&MONGO).await;
    let (uri, database) = (&MONGO.uri, &server.database);
    put_user(uri, database, "sally", 0).await;
    put_user(uri, database, "bert", 100).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let seller = Desktop::open(dirs[0].path(), &server.base, "sally").await;
    let buyer = Desktop::open(dirs[1].path(), &server.base, "bert").await;
    let moderator = Desktop::open(dirs[2].path(), &server.base, MODERATOR).await;
    seller.synced().await;

    // Offline: a prompt and a draft listing for it.
    let prompt = seller
        .store()
        .create(Prompt::new(
            "sally",
            "Product copy",
            "SECRET full prompt text",
        ))
        .await
        .expect("create prompt");
    let listing = seller
        .store()
        .create(draft_listing("sally", &prompt.id, "Copy that sells", 30))
        .await
        .expect("create listing");
    seller.synced().await;
    let stored: MarketplaceListing = seller.store().require(&listing.id).await.expect("listing");
    assert_eq!(stored.status.as_str(), "draft");
    assert_eq!(
        stored.seller.display_name, "User sally",
        "the server fills the seller"
    );
    let slug = stored.seo.slug.clone().expect("a slug");
    assert!(slug.starts_with("copy-that-sells-"), "{slug}");

    // Not on sale before approval: the buyer does not even see it.
    buyer.synced().await;
    assert!(listings(&buyer).await.is_empty());
    let early = market(
        &buyer,
        MarketCall::Purchase,
        &PurchaseRequest {
            listing_id: listing.id.clone(),
            expected_price: 30,
            idempotency_key: new_id(),
        },
    )
    .await;
    assert_eq!(
        refusal(&early),
        MarketRefusal::NotFound,
        "a draft is its seller's alone"
    );

    // Publish; a non-moderator cannot approve; the moderator rejects with notes.
    let published = done(
        market(
            &seller,
            MarketCall::Publish,
            &PublishRequest {
                listing_id: listing.id.clone(),
                idempotency_key: None,
            },
        )
        .await,
    );
    assert_eq!(published.get_str("status"), Ok("pending"));
    let self_approval = market(
        &seller,
        MarketCall::Moderate,
        &ModerateRequest {
            listing_id: listing.id.clone(),
            action: ModerationAction::Approve,
            notes: None,
            idempotency_key: None,
        },
    )
    .await;
    assert_eq!(refusal(&self_approval), MarketRefusal::Forbidden);
    done(
        market(
            &moderator,
            MarketCall::Moderate,
            &ModerateRequest {
                listing_id: listing.id.clone(),
                action: ModerationAction::Reject,
                notes: Some("Add a longer preview".into()),
                idempotency_key: None,
            },
        )
        .await,
    );
    seller.synced().await;
    let rejected: MarketplaceListing = seller.store().require(&listing.id).await.expect("listing");
    assert_eq!(rejected.status.as_str(), "rejected");
    assert_eq!(
        rejected.moderation_notes.as_deref(),
        Some("Add a longer preview")
    );
    let notes = seller
        .store()
        .list::<Notification>(ListQuery::default())
        .await
        .expect("notifications")
        .items;
    assert!(
        notes
            .iter()
            .any(|n| n.message.contains("Add a longer preview")),
        "{notes:?}"
    );

    // Fixed, resubmitted, approved.
    seller
        .store()
        .patch::<MarketplaceListing>(
            &listing.id,
            doc! { "preview_content": "A longer preview of the prompt" },
        )
        .await
        .expect("edit listing");
    seller.synced().await;
    publish_and_approve(&seller, &moderator, &listing.id).await;

    // The buyer browses offline, never seeing the seller's prompt itself.
    buyer.synced().await;
    let on_sale = listings(&buyer).await;
    assert_eq!(on_sale.len(), 1);
    assert_eq!(on_sale[0].status.as_str(), "approved");
    assert!(buyer
        .store()
        .get::<Prompt>(&prompt.id)
        .await
        .expect("get")
        .is_none());

    // A stale price is refused with the current one; the right one buys.
    let stale = market(
        &buyer,
        MarketCall::Purchase,
        &PurchaseRequest {
            listing_id: listing.id.clone(),
            expected_price: 20,
            idempotency_key: new_id(),
        },
    )
    .await;
    assert!(
        matches!(
            stale,
            MarketOutcome::Refused {
                reason: MarketRefusal::PriceChanged,
                current_price: Some(30),
                ..
            }
        ),
        "{stale:?}"
    );
    let key = new_id();
    let request = PurchaseRequest {
        listing_id: listing.id.clone(),
        expected_price: 30,
        idempotency_key: key.clone(),
    };
    let first = market(&buyer, MarketCall::Purchase, &request).await;
    let again = market(&buyer, MarketCall::Purchase, &request).await;
    assert_eq!(first, again, "a resent purchase returns the first answer");
    let MarketOutcome::Done {
        document: purchase,
        balance,
        delivered_prompt_id,
    } = first
    else {
        panic!("not bought: {first:?}");
    };
    assert_eq!(balance, Some(70));
    assert_eq!(purchase.get_i64("platform_fee"), Ok(6));
    assert_eq!(purchase.get_i64("seller_earnings"), Ok(24));
    let twice = market(
        &buyer,
        MarketCall::Purchase,
        &PurchaseRequest {
            idempotency_key: new_id(),
            ..request.clone()
        },
    )
    .await;
    assert_eq!(refusal(&twice), MarketRefusal::AlreadyPurchased);
    let own = market(
        &seller,
        MarketCall::Purchase,
        &PurchaseRequest {
            idempotency_key: new_id(),
            ..request.clone()
        },
    )
    .await;
    assert_eq!(refusal(&own), MarketRefusal::OwnListing);

    // Delivered: the copy is in the buyer's library, linked to the original.
    buyer.synced().await;
    let copy_id = delivered_prompt_id.expect("a delivered prompt");
    let copy: Prompt = buyer.store().require(&copy_id).await.expect("the copy");
    assert_eq!(copy.parent_prompt_id.as_deref(), Some(prompt.id.as_str()));
    assert_eq!(copy.content, "SECRET full prompt text");
    assert_eq!(copy.user_id, "bert");
    let bought = buyer
        .store()
        .list::<MarketplacePurchase>(ListQuery::default())
        .await
        .expect("purchases")
        .items;
    assert_eq!(bought.len(), 1);
    assert_eq!(
        get_user(uri, database, "bert")
            .await
            .get_document("credits")
            .expect("credits")
            .get_i64("balance"),
        Ok(70)
    );
    let sally = get_user(uri, database, "sally").await;
    assert_eq!(
        sally
            .get_document("stats")
            .expect("stats")
            .get_i64("total_earnings"),
        Ok(24)
    );

    // A review updates the listing's and the seller's ratings; once only.
    let purchase_id = purchase.get_str("_id").expect("purchase id").to_owned();
    done(
        market(
            &buyer,
            MarketCall::Review,
            &ReviewRequest {
                purchase_id: purchase_id.clone(),
                rating: 4,
                review: "Solid".into(),
                idempotency_key: None,
            },
        )
        .await,
    );
    let second = market(
        &buyer,
        MarketCall::Review,
        &ReviewRequest {
            purchase_id: purchase_id.clone(),
            rating: 5,
            review: String::new(),
            idempotency_key: None,
        },
    )
    .await;
    assert_eq!(refusal(&second), MarketRefusal::AlreadyReviewed);
    seller.synced().await;
    let reviewed: MarketplaceListing = seller.store().require(&listing.id).await.expect("listing");
    assert_eq!(reviewed.reviews.total_reviews, 1);
    assert_eq!(reviewed.reviews.average_rating, 4.0);
    assert_eq!(reviewed.reviews.rating_distribution.get_i64("4"), Ok(1));
    assert_eq!(reviewed.analytics.purchase_count, 1);
    assert_eq!(reviewed.analytics.revenue, 30);
    assert_eq!(reviewed.seller.seller_rating, 4.0);

    // A refund reverses everything exactly.
    let refund = RefundRequest {
        purchase_id: purchase_id.clone(),
        reason: "Not what I needed".into(),
        idempotency_key: new_id(),
    };
    let refunded = market(&buyer, MarketCall::Refund, &refund).await;
    assert_eq!(
        market(&buyer, MarketCall::Refund, &refund).await,
        refunded,
        "a resent refund is answered once"
    );
    assert!(
        matches!(
            refunded,
            MarketOutcome::Done {
                balance: Some(100),
                ..
            }
        ),
        "{refunded:?}"
    );
    let again = market(
        &buyer,
        MarketCall::Refund,
        &RefundRequest {
            idempotency_key: new_id(),
            ..refund.clone()
        },
    )
    .await;
    assert_eq!(refusal(&again), MarketRefusal::AlreadyRefunded);
    let sally = get_user(uri, database, "sally").await;
    assert_eq!(
        sally
            .get_document("stats")
            .expect("stats")
            .get_i64("total_earnings"),
        Ok(0)
    );
    buyer.synced().await;
    let copy: Prompt = buyer.store().require(&copy_id).await.expect("the copy");
    assert!(
        copy.deleted_at.is_some(),
        "the refunded copy is in the trash"
    );
    seller.synced().await;
    let after_refund: MarketplaceListing =
        seller.store().require(&listing.id).await.expect("listing");
    assert_eq!(after_refund.analytics.refund_count, 1);
    assert_eq!(after_refund.analytics.revenue, 0);
    assert_eq!(after_refund.seller.total_sales, 0);
    // The buyer cannot bring the refunded copy back.
    buyer
        .store()
        .restore::<Prompt>(&copy_id)
        .await
        .expect("restored locally");
    buyer.synced().await;
    let copy: Prompt = buyer.store().require(&copy_id).await.expect("the copy");
    assert!(
        copy.deleted_at.is_some(),
        "the server refused the restore and the copy is trashed again"
    );
    let attention = buyer.store().needs_attention().await.expect("attention");
    assert!(
        attention.iter().any(|a| a.reason == "forbidden"),
        "{attention:?}"
    );
    let late_review = market(
        &buyer,
        MarketCall::Review,
        &ReviewRequest {
            purchase_id,
            rating: 1,
            review: String::new(),
            idempotency_key: None,
        },
    )
    .await;
    assert_eq!(
        refusal(&late_review),
        MarketRefusal::WrongState,
        "a refunded purchase cannot be reviewed"
    );

    // The seller renames themselves: the listing everyone sees follows.
    seller.synced().await;
    seller
        .store()
        .patch::<promptforge_sync::schema::User>("sally", doc! { "display_name": "Sally Sells" })
        .await
        .expect("rename");
    seller.synced().await;
    buyer.synced().await;
    let renamed: MarketplaceListing = buyer.store().require(&listing.id).await.expect("listing");
    assert_eq!(renamed.seller.display_name, "Sally Sells");
    server.assert_seed_required().await;
    // The desktops' copies hold the seed's required fields as well.
    let required = promptforge_tests::seed::seed_required_fields();
    for desktop in [&seller, &buyer] {
        for (collection, documents) in desktop.replica().await {
            let missing =
                promptforge_tests::seed::missing_in(&required, collection.name(), &documents);
            assert!(missing.is_empty(), "{missing:?}");
        }
    }
}

async fn push(server: &TestServer, user: &str, mutations: Vec<Mutation>) -> Vec<MutationOutcome> {
    let response: PushResponse = server
        .call(
            "/v1/push",
            &token(user),
            &PushRequest {
                client_id: format!("tamper-{user}"),
                mutations,
            },
        )
        .await;
    response.results.into_iter().map(|r| r.outcome).collect()
}

fn patch(n: u64, collection: &str, id: &str, version: i64, changes: Document) -> Mutation {
    Mutation {
        mutation_id: n,
        collection: collection.into(),
        id: id.into(),
        base_version: version,
        op: MutationOp::Patch {
            changes,
            base: Document::new(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_refused_and_changes_nothing() {
    let server = TestServer::start(&MONGO).await;
    let (uri, database) = (&MONGO.uri, &server.database);
    put_user(uri, database, "tess", 0).await;
    put_user(uri, database, "mike", 50).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let seller = Desktop::open(dirs[0].path(), &server.base, "tess").await;
    let buyer = Desktop::open(dirs[1].path(), &server.base, "mike").await;
    let moderator = Desktop::open(dirs[2].path(), &server.base, MODERATOR).await;
    let prompt = seller
        .store()
        .create(Prompt::new("tess", "Haiku", "Write a haiku"))
        .await
        .expect("prompt");
    let listing = seller
        .store()
        .create(draft_listing("tess", &prompt.id, "Haiku pro", 20))
        .await
        .expect("listing");
    seller.synced().await;
    publish_and_approve(&seller, &moderator, &listing.id).await;
    let bought = done(
        market(
            &buyer,
            MarketCall::Purchase,
            &PurchaseRequest {
                listing_id: listing.id.clone(),
                expected_price: 20,
                idempotency_key: new_id(),
            },
        )
        .await,
    );
    let purchase_id = bought.get_str("_id").expect("id").to_owned();
    let snapshot = |collection: Collection, id: String| {
        let (uri, database) = (uri.clone(), database.clone());
        async move {
            let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
            client
                .database(&database)
                .collection::<Document>(collection.name())
                .find_one(doc! { "_id": id })
                .await
                .expect("read")
                .expect("exists")
        }
    };
    let before = (
        snapshot(Collection::Users, "mike".into()).await,
        snapshot(Collection::MarketplacePurchases, purchase_id.clone()).await,
        snapshot(Collection::MarketplaceListings, listing.id.clone()).await,
    );
    let listing_version = before.2.get_i64("version").expect("version");

    let outcomes = push(&server, "mike", vec![
        patch(1, "users", "mike", 2, doc! { "credits.balance": 1_000_000_i64 }),
        patch(2, "marketplace_purchases", &purchase_id, 1, doc! { "payment_status": "refunded" }),
        patch(3, "marketplace_listings", &listing.id, listing_version, doc! { "price": 1_i64 }),
        Mutation {
            mutation_id: 4,
            collection: "marketplace_purchases".into(),
            id: new_id(),
            base_version: 0,
            op: MutationOp::Create { document: doc! { "buyer_id": "mike", "seller_id": "tess", "listing_id": &listing.id, "prompt_id": &prompt.id, "amount": 0_i64 } },
        },
    ]).await;
    let reasons: Vec<Option<RejectReason>> = outcomes
        .iter()
        .map(|o| match o {
            MutationOutcome::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            Some(RejectReason::ServerOwnedField),
            Some(RejectReason::NotWritable),
            Some(RejectReason::NotFound),
            Some(RejectReason::NotWritable),
        ],
        "{outcomes:?}"
    );
    let seller_outcomes = push(
        &server,
        "tess",
        vec![
            patch(
                1,
                "marketplace_listings",
                &listing.id,
                listing_version,
                doc! { "status": "approved", "moderation_status": "approved" },
            ),
            patch(
                2,
                "marketplace_listings",
                &listing.id,
                listing_version,
                doc! { "analytics.revenue": 99_999_i64 },
            ),
            patch(
                3,
                "users",
                "tess",
                1,
                doc! { "stats.total_earnings": 99_999_i64 },
            ),
        ],
    )
    .await;
    assert!(
        seller_outcomes.iter().all(|o| matches!(
            o,
            MutationOutcome::Rejected {
                reason: RejectReason::ServerOwnedField,
                ..
            }
        )),
        "{seller_outcomes:?}"
    );
    put_user(uri, database, "nina", 50).await;
    let fresh_dir = tempfile::tempdir().expect("dir");
    let fresh = Desktop::open(fresh_dir.path(), &server.base, "nina").await;
    let cheap = market(
        &fresh,
        MarketCall::Purchase,
        &PurchaseRequest {
            listing_id: listing.id.clone(),
            expected_price: 1,
            idempotency_key: new_id(),
        },
    )
    .await;
    assert_eq!(refusal(&cheap), MarketRefusal::PriceChanged);
    let nina = get_user(uri, database, "nina").await;
    assert_eq!(
        nina.get_document("credits")
            .expect("credits")
            .get_i64("balance"),
        Ok(50),
        "a refused purchase charges nothing"
    );
    let after = (
        snapshot(Collection::Users, "mike".into()).await,
        snapshot(Collection::MarketplacePurchases, purchase_id.clone()).await,
        snapshot(Collection::MarketplaceListings, listing.id.clone()).await,
    );
    assert_eq!(before, after, "nothing changed");

    // The same tampering through the desktop's own store is refused locally
    // or by the server, and the local copy returns to the server's.
    buyer.synced().await;
    let err = buyer
        .store()
        .patch::<MarketplacePurchase>(&purchase_id, doc! { "payment_status": "refunded" })
        .await;
    assert!(err.is_err(), "the store refuses editing money fields");
}

/// Sends a purchase until it gets a definitive answer, the way a desktop
/// retries after a cut connection: always with the same idempotency key.
async fn buy_until_answered(desktop: &Desktop, request: &PurchaseRequest) -> MarketOutcome {
    for _ in 0..50 {
        match desktop
            .engine
            .transport()
            .market(MarketCall::Purchase, request)
            .await
        {
            Ok(outcome) => return outcome,
            Err(err) => assert!(err.is_retryable(), "{err}"),
        }
    }
    panic!("no answer after 50 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_buyers_at_once_never_double_charge_and_the_ledger_balances() {
    const SELLERS: usize = 5;
    const BUYERS: usize = 50;
    let server = TestServer::start(&MONGO).await;
    let proxy = FaultProxy::start(&server.base).await;
    let (uri, database) = (MONGO.uri.clone(), server.database.clone());
    let moderator_dir = tempfile::tempdir().expect("dir");
    let moderator = Desktop::open(moderator_dir.path(), &server.base, MODERATOR).await;
    let mut listing_ids = Vec::new();
    let mut prices = HashMap::new();
    let mut dirs = Vec::new();
    for s in 0..SELLERS {
        let seller_id = format!("seller{s}");
        put_user(&uri, &database, &seller_id, 0).await;
        let dir = tempfile::tempdir().expect("dir");
        let seller = Desktop::open(dir.path(), &server.base, &seller_id).await;
        let prompt = seller
            .store()
            .create(Prompt::new(&seller_id, "Sold", "content"))
            .await
            .expect("prompt");
        let price = 10 + 7 * s as i64;
        let listing = seller
            .store()
            .create(draft_listing(
                &seller_id,
                &prompt.id,
                &format!("Listing {s}"),
                price,
            ))
            .await
            .expect("listing");
        seller.synced().await;
        publish_and_approve(&seller, &moderator, &listing.id).await;
        prices.insert(listing.id.clone(), (seller_id, price));
        listing_ids.push(listing.id);
        dirs.push(dir);
    }
    // Buyers start with 40 credits: enough for some listings, not all.
    let mut buyers = Vec::new();
    for b in 0..BUYERS {
        let buyer_id = format!("buyer{b:02}");
        put_user(&uri, &database, &buyer_id, 40).await;
        let dir = tempfile::tempdir().expect("dir");
        buyers.push(Arc::new(
            Desktop::open(dir.path(), &proxy.base, &buyer_id).await,
        ));
        dirs.push(dir);
    }
    proxy.randomly(42, 0.15);
    let mut tasks = Vec::new();
    for (b, buyer) in buyers.iter().enumerate() {
        // Each buyer tries two listings, each request sent twice at once;
        // every third buyer also buys the first again under a new key (a
        // second click), which must not buy it twice.
        let mut picks = vec![b % SELLERS, (b + 2) % SELLERS];
        if b % 3 == 0 {
            picks.push(b % SELLERS);
        }
        for pick in picks {
            let listing_id = listing_ids[pick].clone();
            let price = prices[&listing_id].1;
            let request = PurchaseRequest {
                listing_id,
                expected_price: price,
                idempotency_key: new_id(),
            };
            for _ in 0..2 {
                let (buyer, request) = (Arc::clone(buyer), request.clone());
                tasks.push(tokio::spawn(async move {
                    let outcome = buy_until_answered(&buyer, &request).await;
                    (request.idempotency_key.clone(), outcome)
                }));
            }
        }
    }
    let mut answers: HashMap<String, MarketOutcome> = HashMap::new();
    for task in tasks {
        let (key, outcome) = task.await.expect("buyer task");
        if let Some(first) = answers.get(&key) {
            assert_eq!(
                first, &outcome,
                "both copies of a request get the same answer"
            );
        }
        answers.insert(key, outcome);
    }
    proxy.heal();
    assert!(
        proxy.stats().dropped + proxy.stats().cut > 0,
        "faults were injected: {:?}",
        proxy.stats()
    );

    // The ledger, from the central database.
    let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let db = client.database(&database);
    use futures_util::TryStreamExt;
    let purchases: Vec<Document> = db
        .collection::<Document>("marketplace_purchases")
        .find(doc! {})
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("read");
    let completed = answers
        .values()
        .filter(|o| matches!(o, MarketOutcome::Done { .. }))
        .count();
    assert_eq!(
        purchases.len(),
        completed,
        "one purchase per successful request, none twice"
    );
    let mut spent: HashMap<String, i64> = HashMap::new();
    let mut earned: HashMap<String, i64> = HashMap::new();
    let (mut fees, mut earnings_total, mut debits) = (0, 0, 0);
    let mut per_pair = HashMap::new();
    for p in &purchases {
        let amount = p.get_i64("amount").expect("amount");
        let fee = p.get_i64("platform_fee").expect("fee");
        let earnings = p.get_i64("seller_earnings").expect("earnings");
        assert_eq!(amount, fee + earnings);
        assert_eq!(amount, prices[p.get_str("listing_id").expect("listing")].1);
        *spent
            .entry(p.get_str("buyer_id").expect("buyer").to_owned())
            .or_default() += amount;
        *earned
            .entry(p.get_str("seller_id").expect("seller").to_owned())
            .or_default() += earnings;
        *per_pair
            .entry((
                p.get_str("buyer_id").expect("b").to_owned(),
                p.get_str("listing_id").expect("l").to_owned(),
            ))
            .or_insert(0) += 1;
        fees += fee;
        earnings_total += earnings;
        debits += amount;
    }
    assert!(
        per_pair.values().all(|n| *n == 1),
        "nobody bought one listing twice"
    );
    assert_eq!(debits, earnings_total + fees);
    let (mut debited_from_balances, mut earned_in_profiles) = (0, 0);
    for b in 0..BUYERS {
        let id = format!("buyer{b:02}");
        let user = get_user(&uri, &database, &id).await;
        let balance = user
            .get_document("credits")
            .expect("credits")
            .get_i64("balance")
            .expect("balance");
        assert!(balance >= 0, "{id} went negative");
        debited_from_balances += 40 - balance;
        assert_eq!(
            40 - balance,
            spent.get(&id).copied().unwrap_or(0),
            "{id}'s balance matches their purchases"
        );
    }
    for s in 0..SELLERS {
        let id = format!("seller{s}");
        let user = get_user(&uri, &database, &id).await;
        let total = user
            .get_document("stats")
            .expect("stats")
            .get_i64("total_earnings")
            .expect("earnings");
        assert_eq!(
            total,
            earned.get(&id).copied().unwrap_or(0),
            "{id}'s earnings match their sales"
        );
        earned_in_profiles += total;
    }
    assert_eq!(
        debited_from_balances,
        earned_in_profiles + fees,
        "what left buyers' balances = what reached sellers' earnings + platform fees"
    );
    for listing_id in &listing_ids {
        let listing = db
            .collection::<Document>("marketplace_listings")
            .find_one(doc! { "_id": listing_id })
            .await
            .expect("read")
            .expect("listing");
        let analytics = listing.get_document("analytics").expect("analytics");
        let sold: Vec<&Document> = purchases
            .iter()
            .filter(|p| p.get_str("listing_id") == Ok(listing_id.as_str()))
            .collect();
        assert_eq!(analytics.get_i64("purchase_count"), Ok(sold.len() as i64));
        assert_eq!(
            analytics.get_i64("revenue"),
            Ok(sold
                .iter()
                .map(|p| p.get_i64("amount").unwrap_or(0))
                .sum::<i64>())
        );
    }
    let refused_for_credits = answers
        .values()
        .filter(|o| {
            matches!(
                o,
                MarketOutcome::Refused {
                    reason: MarketRefusal::InsufficientCredits,
                    ..
                }
            )
        })
        .count();
    println!(
        "{completed} purchases, {refused_for_credits} refused for lack of credits, faults {:?}",
        proxy.stats()
    );
    server.assert_seed_required().await;
}
