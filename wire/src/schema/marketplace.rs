//! `marketplace_listings` and `marketplace_purchases`: selling prompts for credits.
//!
//! Listings are drafted by sellers; purchases are created and settled only by
//! the server, so every money field is validated here for consistency.

use bson::{DateTime, Document};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{
    id_accessors, limits, string_enum, unset_time, Check, Collection, Model, ValidationError,
};

string_enum!(Currency { Credits => "credits", Usd => "usd" } default Credits);
string_enum!(ListingStatus { Draft => "draft", Pending => "pending", Approved => "approved", Rejected => "rejected", Suspended => "suspended", Deleted => "deleted" } default Draft);
string_enum!(ModerationStatus { NotReviewed => "not_reviewed", UnderReview => "under_review", Approved => "approved", Flagged => "flagged" } default NotReviewed);
string_enum!(PaymentMethod { Credits => "credits", Stripe => "stripe", ApplePay => "apple_pay", GooglePay => "google_pay" } default Credits);
string_enum!(PaymentStatus { Pending => "pending", Completed => "completed", Failed => "failed", Refunded => "refunded", Disputed => "disputed" } default Pending);
string_enum!(FulfillmentStatus { Pending => "pending", Delivered => "delivered", Failed => "failed" } default Pending);
string_enum!(RefundStatus { Requested => "requested", Approved => "approved", Rejected => "rejected", Processed => "processed" } default Requested);

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct PerformanceMetrics {
    /// Milliseconds.
    pub average_response_time: f64,
    /// Percentages, 0-100.
    pub success_rate: f64,
    pub user_satisfaction: f64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ListingAnalytics {
    pub view_count: i64,
    pub purchase_count: i64,
    pub revenue: i64,
    /// Percentages, 0-100.
    pub conversion_rate: f64,
    pub refund_count: i64,
    pub refund_rate: f64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ListingReviews {
    pub average_rating: f64,
    pub total_reviews: i64,
    /// Star count ("1".."5") to number of reviews.
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub rating_distribution: Document,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ListingSeo {
    pub slug: Option<String>,
    pub meta_title: Option<String>,
    pub meta_description: Option<String>,
    pub keywords: Vec<String>,
    pub searchable_content: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ListingPromotion {
    pub is_featured: bool,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub featured_until: Option<DateTime>,
    pub promotion_type: Option<String>,
    pub campaign_id: Option<String>,
}

/// Denormalised from the seller's user document by the server.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct ListingSeller {
    pub display_name: String,
    pub profile_image: Option<String>,
    pub verified_seller: bool,
    pub seller_rating: f64,
    pub total_sales: i64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Licensing {
    pub license_type: Option<String>,
    pub usage_rights: Vec<String>,
    pub restrictions: Vec<String>,
    pub attribution_required: bool,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MarketplaceListing {
    #[serde(rename = "_id")]
    pub id: String,
    pub seller_id: String,
    pub prompt_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub short_description: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// In the smallest unit of `currency` (credits, or cents).
    #[serde(default)]
    pub price: i64,
    #[serde(default)]
    pub currency: Currency,
    pub original_price: Option<i64>,
    pub discount_percentage: Option<i64>,
    #[serde(default)]
    pub preview_content: String,
    #[serde(default)]
    pub screenshots: Vec<String>,
    pub demo_url: Option<String>,
    /// 0-100.
    #[serde(default)]
    pub quality_score: i64,
    #[serde(default)]
    pub performance_metrics: PerformanceMetrics,
    #[serde(default)]
    pub status: ListingStatus,
    #[serde(default)]
    pub moderation_status: ModerationStatus,
    pub moderation_notes: Option<String>,
    pub moderated_by: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub moderated_at: Option<DateTime>,
    #[serde(default)]
    pub analytics: ListingAnalytics,
    #[serde(default)]
    pub reviews: ListingReviews,
    #[serde(default)]
    pub seo: ListingSeo,
    #[serde(default)]
    pub promotion: ListingPromotion,
    #[serde(default)]
    pub seller: ListingSeller,
    #[serde(default)]
    pub licensing: Licensing,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub published_at: Option<DateTime>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub deleted_at: Option<DateTime>,
    pub deleted_reason: Option<String>,
    /// Not in the seed; patched in so every soft delete says who did it.
    pub deleted_by: Option<String>,
    #[serde(default)]
    pub version: i64,
}

/// The most a listing may cost, in the smallest unit of its currency.
pub const MAX_PRICE: i64 = 100_000_000;

impl MarketplaceListing {
    /// A draft listing of one of the seller's prompts.
    pub fn draft(seller_id: &str, prompt_id: &str, title: &str, price: i64) -> MarketplaceListing {
        MarketplaceListing {
            id: String::new(),
            seller_id: seller_id.to_owned(),
            prompt_id: prompt_id.to_owned(),
            title: title.to_owned(),
            description: String::new(),
            short_description: String::new(),
            category: "general".to_owned(),
            tags: Vec::new(),
            price,
            currency: Currency::default(),
            original_price: None,
            discount_percentage: None,
            preview_content: String::new(),
            screenshots: Vec::new(),
            demo_url: None,
            quality_score: 0,
            performance_metrics: PerformanceMetrics::default(),
            status: ListingStatus::default(),
            moderation_status: ModerationStatus::default(),
            moderation_notes: None,
            moderated_by: None,
            moderated_at: None,
            analytics: ListingAnalytics::default(),
            reviews: ListingReviews::default(),
            seo: ListingSeo::default(),
            promotion: ListingPromotion::default(),
            seller: ListingSeller::default(),
            licensing: Licensing::default(),
            created_at: unset_time(),
            updated_at: unset_time(),
            published_at: None,
            deleted_at: None,
            deleted_reason: None,
            deleted_by: None,
            version: 0,
        }
    }
}

impl Model for MarketplaceListing {
    const COLLECTION: Collection = Collection::MarketplaceListings;
    /// Moderation, aggregates and denormalised seller data are the server's.
    const DERIVED: &'static [&'static str] = &[
        "moderation_status",
        "moderation_notes",
        "moderated_by",
        "moderated_at",
        "analytics",
        "reviews",
        "seller",
        "quality_score",
    ];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::MarketplaceListings);
        check.id("_id", &self.id);
        check.id("seller_id", &self.seller_id);
        check.id("prompt_id", &self.prompt_id);
        check.required("title", &self.title, limits::TITLE);
        check.max_len("description", &self.description, limits::DESCRIPTION);
        check.max_len(
            "short_description",
            &self.short_description,
            limits::SHORT_TEXT,
        );
        check.max_len("category", &self.category, limits::TAG);
        check.tags("tags", &self.tags);
        check.range("price", self.price, 0, MAX_PRICE);
        check.opt_range("original_price", self.original_price, 0, MAX_PRICE);
        check.opt_range("discount_percentage", self.discount_percentage, 0, 100);
        if let (Some(original), Some(discount)) = (self.original_price, self.discount_percentage) {
            let expected = original - original * discount / 100;
            if (expected - self.price).abs() > 1 {
                check.fail(
                    "price",
                    format!(
                        "is {}; original_price {original} less {discount}% is {expected}",
                        self.price
                    ),
                );
            }
        }
        check.max_len(
            "preview_content",
            &self.preview_content,
            limits::DESCRIPTION,
        );
        for (i, shot) in self.screenshots.iter().enumerate() {
            check.url(&format!("screenshots[{i}]"), Some(shot));
        }
        check.url("demo_url", self.demo_url.as_ref());
        check.range("quality_score", self.quality_score, 0, 100);
        let pm = &self.performance_metrics;
        check.non_negative_f(
            "performance_metrics.average_response_time",
            pm.average_response_time,
        );
        check.range_f(
            "performance_metrics.success_rate",
            pm.success_rate,
            0.0,
            100.0,
        );
        check.range_f(
            "performance_metrics.user_satisfaction",
            pm.user_satisfaction,
            0.0,
            100.0,
        );
        check.opt_text(
            "moderation_notes",
            self.moderation_notes.as_ref(),
            limits::DESCRIPTION,
        );
        check.opt_id("moderated_by", self.moderated_by.as_ref());
        let a = &self.analytics;
        check.non_negative("analytics.view_count", a.view_count);
        check.non_negative("analytics.purchase_count", a.purchase_count);
        check.non_negative("analytics.revenue", a.revenue);
        check.range_f("analytics.conversion_rate", a.conversion_rate, 0.0, 100.0);
        check.non_negative("analytics.refund_count", a.refund_count);
        check.range_f("analytics.refund_rate", a.refund_rate, 0.0, 100.0);
        let r = &self.reviews;
        check.range_f("reviews.average_rating", r.average_rating, 0.0, 5.0);
        check.non_negative("reviews.total_reviews", r.total_reviews);
        for (stars, count) in &r.rating_distribution {
            if !matches!(stars.as_str(), "1" | "2" | "3" | "4" | "5") {
                check.fail(
                    format!("reviews.rating_distribution.{stars}"),
                    "keys are star ratings 1 to 5",
                );
            } else if !matches!(count, bson::Bson::Int32(n) if *n >= 0)
                && !matches!(count, bson::Bson::Int64(n) if *n >= 0)
            {
                check.fail(
                    format!("reviews.rating_distribution.{stars}"),
                    "must be a count (a whole number, not negative)",
                );
            }
        }
        if let Some(slug) = &self.seo.slug {
            if slug.is_empty()
                || slug.len() > 400
                || !slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                check.fail(
                    "seo.slug",
                    format!("`{slug}` is not a slug (lowercase letters, digits and dashes)"),
                );
            }
        }
        check.opt_text(
            "seo.meta_title",
            self.seo.meta_title.as_ref(),
            limits::TITLE,
        );
        check.opt_text(
            "seo.meta_description",
            self.seo.meta_description.as_ref(),
            limits::SHORT_TEXT,
        );
        check.tags("seo.keywords", &self.seo.keywords);
        check.opt_text(
            "seo.searchable_content",
            self.seo.searchable_content.as_ref(),
            limits::DESCRIPTION,
        );
        check.opt_text(
            "promotion.promotion_type",
            self.promotion.promotion_type.as_ref(),
            limits::TAG,
        );
        check.opt_id("promotion.campaign_id", self.promotion.campaign_id.as_ref());
        let s = &self.seller;
        check.max_len("seller.display_name", &s.display_name, limits::TITLE);
        check.url("seller.profile_image", s.profile_image.as_ref());
        check.range_f("seller.seller_rating", s.seller_rating, 0.0, 5.0);
        check.non_negative("seller.total_sales", s.total_sales);
        check.opt_text(
            "licensing.license_type",
            self.licensing.license_type.as_ref(),
            limits::TAG,
        );
        check.strings(
            "licensing.usage_rights",
            &self.licensing.usage_rights,
            limits::SHORT_TEXT,
        );
        check.strings(
            "licensing.restrictions",
            &self.licensing.restrictions,
            limits::SHORT_TEXT,
        );
        check.opt_text(
            "deleted_reason",
            self.deleted_reason.as_ref(),
            limits::SHORT_TEXT,
        );
        check.opt_id("deleted_by", self.deleted_by.as_ref());
        check.non_negative("version", self.version);
        check.finish()
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct CustomerSatisfaction {
    /// 1-5 once rated.
    pub rating: Option<i64>,
    pub review: Option<String>,
    pub would_recommend: Option<bool>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub reviewed_at: Option<DateTime>,
}

/// A purchase's refund. The seed requires the object on every purchase, so a
/// purchase nobody asked to refund holds the default, `{amount: 0}` with no
/// `status`; `status` is set once a refund is asked for.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct Refund {
    pub amount: i64,
    pub reason: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub requested_at: Option<DateTime>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub processed_at: Option<DateTime>,
    pub status: Option<RefundStatus>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MarketplacePurchase {
    #[serde(rename = "_id")]
    pub id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub listing_id: String,
    pub prompt_id: String,
    pub amount: i64,
    #[serde(default)]
    pub currency: Currency,
    #[serde(default)]
    pub payment_method: PaymentMethod,
    pub platform_fee_rate: f64,
    pub platform_fee: i64,
    pub seller_earnings: i64,
    #[serde(default)]
    pub payment_status: PaymentStatus,
    #[serde(default)]
    pub fulfillment_status: FulfillmentStatus,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub delivered_at: Option<DateTime>,
    pub download_url: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub download_expires_at: Option<DateTime>,
    #[serde(default)]
    pub download_count: i64,
    #[serde(default)]
    pub customer_satisfaction: CustomerSatisfaction,
    #[serde(default)]
    pub refund: Refund,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub updated_at: DateTime,
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string } | null"))]
    pub completed_at: Option<DateTime>,
    #[serde(default)]
    pub version: i64,
}

impl Model for MarketplacePurchase {
    const COLLECTION: Collection = Collection::MarketplacePurchases;
    /// Purchases are settled by the server; a client may only rate them.
    const DERIVED: &'static [&'static str] = &[
        "buyer_id",
        "seller_id",
        "listing_id",
        "prompt_id",
        "amount",
        "currency",
        "payment_method",
        "platform_fee_rate",
        "platform_fee",
        "seller_earnings",
        "payment_status",
        "fulfillment_status",
        "delivered_at",
        "download_url",
        "download_expires_at",
        "download_count",
        "refund",
        "completed_at",
    ];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::MarketplacePurchases);
        check.id("_id", &self.id);
        check.id("buyer_id", &self.buyer_id);
        check.id("seller_id", &self.seller_id);
        if self.buyer_id == self.seller_id {
            check.fail("buyer_id", "a seller cannot buy their own listing");
        }
        check.id("listing_id", &self.listing_id);
        check.id("prompt_id", &self.prompt_id);
        check.range("amount", self.amount, 0, MAX_PRICE);
        check.range_f("platform_fee_rate", self.platform_fee_rate, 0.0, 1.0);
        check.non_negative("platform_fee", self.platform_fee);
        check.non_negative("seller_earnings", self.seller_earnings);
        if self.platform_fee.checked_add(self.seller_earnings) != Some(self.amount) {
            check.fail(
                "seller_earnings",
                format!(
                    "platform_fee {} plus seller_earnings {} must equal amount {}",
                    self.platform_fee, self.seller_earnings, self.amount
                ),
            );
        }
        check.url("download_url", self.download_url.as_ref());
        check.non_negative("download_count", self.download_count);
        let cs = &self.customer_satisfaction;
        check.opt_range("customer_satisfaction.rating", cs.rating, 1, 5);
        check.opt_text(
            "customer_satisfaction.review",
            cs.review.as_ref(),
            limits::DESCRIPTION,
        );
        let refund = &self.refund;
        check.range("refund.amount", refund.amount, 0, self.amount);
        if refund.status.is_some() {
            check.required(
                "refund.reason",
                refund.reason.as_deref().unwrap_or_default(),
                limits::SHORT_TEXT,
            );
            if refund.requested_at.is_none() {
                check.fail(
                    "refund.requested_at",
                    "a refund asked for has a request time",
                );
            }
        } else if refund.reason.is_some() || refund.requested_at.is_some() {
            check.fail("refund.status", "a refund asked for has a status");
        }
        check.non_negative("version", self.version);
        check.finish()
    }
}
