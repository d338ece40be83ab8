//! Validation, collection by collection: each bad value is refused with an
//! error that names its field, and the matching good value is accepted.

use bson::{doc, Bson, DateTime, Document};
use promptforge_sync::schema::Collection;
use promptforge_sync::store::codec::{canonicalize_in, SchemaError};

fn golden(collection: Collection) -> Document {
    let path = format!(
        "{}/tests/golden/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        collection.name()
    );
    let text = std::fs::read_to_string(path).expect("golden file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    match Bson::try_from(json).expect("extended json") {
        Bson::Document(doc) => doc,
        other => panic!("golden is not a document: {other}"),
    }
}

fn set(doc: &mut Document, path: &str, value: Bson) {
    promptforge_sync::store::codec::set_path(doc, path, value).expect("path");
}

/// Applies `changes` to the collection's golden document and expects exactly
/// `field` to be reported.
fn assert_rejected(collection: Collection, changes: &[(&str, Bson)], field: &str) {
    let mut doc = golden(collection);
    for (path, value) in changes {
        set(&mut doc, path, value.clone());
    }
    match canonicalize_in(collection, doc) {
        Err(SchemaError::Invalid(err)) => {
            assert!(
                err.fields().contains(&field),
                "{collection} {changes:?}: expected `{field}`, got {err}"
            );
            assert!(
                err.to_string().contains(field),
                "the message names the field: {err}"
            );
        }
        other => panic!(
            "{collection} {changes:?}: expected rejection of {field}, got {:?}",
            other.map(|_| ())
        ),
    }
}

fn assert_accepted(collection: Collection, changes: &[(&str, Bson)]) {
    let mut doc = golden(collection);
    for (path, value) in changes {
        set(&mut doc, path, value.clone());
    }
    if let Err(err) = canonicalize_in(collection, doc) {
        panic!("{collection} {changes:?}: expected acceptance, got {err}");
    }
}

fn s(text: &str) -> Bson {
    Bson::String(text.to_owned())
}

#[test]
fn golden_documents_are_valid() {
    for collection in Collection::ALL {
        assert_accepted(collection, &[]);
    }
}

#[test]
fn required_fields_and_ids_are_checked() {
    assert_rejected(Collection::Prompts, &[("title", s(""))], "title");
    assert_rejected(Collection::Prompts, &[("content", s(" \n"))], "content");
    assert_rejected(
        Collection::Prompts,
        &[("user_id", s("has space"))],
        "user_id",
    );
    assert_rejected(Collection::Prompts, &[("_id", s(&"x".repeat(129)))], "_id");
    assert_rejected(
        Collection::Ideas,
        &[(
            "related_prompt_ids",
            Bson::Array(vec![s("ok"), s("bad/id")]),
        )],
        "related_prompt_ids[1]",
    );
    assert_rejected(Collection::Users, &[("email", s("not-an-email"))], "email");
    assert_rejected(Collection::Teams, &[("name", s(""))], "name");
    assert_rejected(Collection::Notifications, &[("message", s(""))], "message");
    assert_rejected(
        Collection::AnalyticsEvents,
        &[("session_id", s(""))],
        "session_id",
    );
    let mut missing = golden(Collection::Prompts);
    missing.remove("title");
    match canonicalize_in(Collection::Prompts, missing) {
        Err(SchemaError::Invalid(err)) => assert!(err.to_string().contains("title"), "{err}"),
        other => panic!("missing title accepted: {:?}", other.map(|_| ())),
    }
}

#[test]
fn enum_values_are_the_seeds() {
    assert_rejected(Collection::Prompts, &[("status", s("published"))], "status");
    assert_rejected(
        Collection::Prompts,
        &[("visibility", s("Private"))],
        "visibility",
    );
    assert_rejected(
        Collection::Ideas,
        &[("complexity", s("hard"))],
        "complexity",
    );
    assert_rejected(
        Collection::Projects,
        &[("priority", s("critical"))],
        "priority",
    );
    assert_rejected(
        Collection::MarketplaceListings,
        &[("moderation_status", s("ok"))],
        "moderation_status",
    );
    assert_rejected(
        Collection::MarketplacePurchases,
        &[("payment_method", s("paypal"))],
        "payment_method",
    );
    assert_rejected(Collection::Notifications, &[("type", s("alert"))], "type");
    assert_rejected(Collection::Teams, &[("plan_type", s("gold"))], "plan_type");
    assert_rejected(
        Collection::Users,
        &[("account_status", s("banned"))],
        "account_status",
    );
    assert_accepted(
        Collection::MarketplaceListings,
        &[("moderation_status", s("under_review"))],
    );
    assert_accepted(
        Collection::MarketplacePurchases,
        &[("payment_method", s("apple_pay"))],
    );
}

#[test]
fn ranges_are_enforced() {
    assert_rejected(Collection::Reviews, &[("rating", Bson::Int64(0))], "rating");
    assert_rejected(Collection::Reviews, &[("rating", Bson::Int64(6))], "rating");
    assert_accepted(Collection::Reviews, &[("rating", Bson::Int64(5))]);
    assert_rejected(
        Collection::Projects,
        &[("progress", Bson::Int64(101))],
        "progress",
    );
    assert_rejected(
        Collection::Projects,
        &[("progress", Bson::Int64(-1))],
        "progress",
    );
    assert_accepted(Collection::Projects, &[("progress", Bson::Int64(100))]);
    assert_rejected(
        Collection::Ideas,
        &[("viral_potential", Bson::Int64(150))],
        "viral_potential",
    );
    assert_rejected(
        Collection::MarketplaceListings,
        &[("discount_percentage", Bson::Int64(101))],
        "discount_percentage",
    );
    assert_rejected(
        Collection::MarketplaceListings,
        &[("price", Bson::Int64(-5))],
        "price",
    );
    assert_rejected(
        Collection::Prompts,
        &[("performance.success_rate", Bson::Double(100.5))],
        "performance.success_rate",
    );
    assert_rejected(
        Collection::Prompts,
        &[("performance.rating", Bson::Double(f64::NAN))],
        "performance.rating",
    );
    assert_rejected(
        Collection::MarketplacePurchases,
        &[("platform_fee_rate", Bson::Double(1.5))],
        "platform_fee_rate",
    );
    assert_rejected(
        Collection::Users,
        &[("credits.balance", Bson::Int64(-1))],
        "credits.balance",
    );
    assert_rejected(
        Collection::MarketplacePurchases,
        &[("customer_satisfaction.rating", Bson::Int64(9))],
        "customer_satisfaction.rating",
    );
}

#[test]
fn money_fields_must_add_up() {
    assert_rejected(
        Collection::MarketplacePurchases,
        &[("seller_earnings", Bson::Int64(9))],
        "seller_earnings",
    );
    assert_rejected(
        Collection::MarketplacePurchases,
        &[("refund.amount", Bson::Int64(11))],
        "refund.amount",
    );
    assert_rejected(
        Collection::MarketplacePurchases,
        &[("buyer_id", s("same")), ("seller_id", s("same"))],
        "buyer_id",
    );
    assert_rejected(
        Collection::MarketplaceListings,
        &[
            ("original_price", Bson::Int64(1000)),
            ("discount_percentage", Bson::Int64(20)),
            ("price", Bson::Int64(900)),
        ],
        "price",
    );
    assert_accepted(
        Collection::MarketplaceListings,
        &[
            ("original_price", Bson::Int64(1000)),
            ("discount_percentage", Bson::Int64(20)),
            ("price", Bson::Int64(800)),
        ],
    );
}

#[test]
fn free_form_objects_refuse_operator_and_dotted_keys() {
    assert_rejected(
        Collection::AnalyticsEvents,
        &[("event_data", Bson::Document(doc! { "$set": 1 }))],
        "event_data.$set",
    );
    assert_rejected(
        Collection::AnalyticsEvents,
        &[("metadata", Bson::Document(doc! { "ok": { "a.b": 1 } }))],
        "metadata.ok.a.b",
    );
    assert_rejected(
        Collection::Notifications,
        &[(
            "delivery_status",
            Bson::Document(doc! { "list": [{ "$x": 1 }] }),
        )],
        "delivery_status.list[0].$x",
    );
    assert_rejected(
        Collection::Prompts,
        &[("ai_metadata.parameters", Bson::Document(doc! { "$gt": 1 }))],
        "ai_metadata.parameters.$gt",
    );
    assert_accepted(
        Collection::AnalyticsEvents,
        &[(
            "event_data",
            Bson::Document(doc! { "nested": { "deep": [1, 2] } }),
        )],
    );
}

#[test]
fn lengths_formats_and_cross_field_rules() {
    assert_rejected(
        Collection::Prompts,
        &[("title", s(&"t".repeat(301)))],
        "title",
    );
    assert_rejected(
        Collection::Prompts,
        &[(
            "tags",
            Bson::Array((0..101).map(|i| s(&format!("t{i}"))).collect()),
        )],
        "tags",
    );
    assert_rejected(
        Collection::Prompts,
        &[("language", s("english"))],
        "language",
    );
    assert_accepted(Collection::Prompts, &[("language", s("pt-BR"))]);
    assert_rejected(Collection::Projects, &[("color", s("blue"))], "color");
    assert_rejected(
        Collection::MarketplaceListings,
        &[("seo.slug", s("Has Spaces"))],
        "seo.slug",
    );
    assert_rejected(
        Collection::MarketplaceListings,
        &[("screenshots", Bson::Array(vec![s("ftp://x")]))],
        "screenshots[0]",
    );
    assert_rejected(
        Collection::AnalyticsEvents,
        &[("context.ip_address", s("999.1.1.1"))],
        "context.ip_address",
    );
    assert_rejected(
        Collection::AnalyticsEvents,
        &[("context.country", s("Germany"))],
        "context.country",
    );
    assert_rejected(
        Collection::Notifications,
        &[("read", Bson::Boolean(false))],
        "read_at",
    );
    let later = Bson::DateTime(DateTime::from_millis(1_800_000_000_000));
    let earlier = Bson::DateTime(DateTime::from_millis(1_600_000_000_000));
    assert_rejected(
        Collection::Projects,
        &[
            ("timeline.start_date", later),
            ("timeline.end_date", earlier),
        ],
        "timeline.end_date",
    );
}

#[test]
fn derived_counts_are_recomputed_not_trusted() {
    let mut team = golden(Collection::Teams);
    team.insert("member_count", 40_i64);
    let canonical = canonicalize_in(Collection::Teams, team).expect("valid");
    assert_eq!(canonical.get_i64("member_count").expect("count"), 1);
    let mut project = golden(Collection::Projects);
    set(&mut project, "stats.prompt_count", Bson::Int64(99));
    let canonical = canonicalize_in(Collection::Projects, project).expect("valid");
    let stats = canonical.get_document("stats").expect("stats");
    assert_eq!(stats.get_i64("prompt_count").expect("count"), 1);
}

#[test]
fn unknown_fields_from_a_newer_schema_are_kept() {
    let mut doc = golden(Collection::Ideas);
    doc.insert("future_field", "from a newer server");
    let canonical = canonicalize_in(Collection::Ideas, doc).expect("valid");
    assert_eq!(
        canonical.get_str("future_field").expect("kept"),
        "from a newer server"
    );
}
