//! The marketplace's books: typed views of the figures it keeps on users,
//! listings and purchases, and the steps that move credits and earnings.
//!
//! Figures are read by decoding the stored document into a small view and
//! written through the field names below, so a misspelt field cannot read
//! as 0: it fails to compile when read, and the schema refuses it when
//! written. Money (prices, balances, amounts, earnings, revenue) must be
//! there: a document without it fails the request with
//! [`StoredError::MissingField`], because reading it as 0 would mint or burn
//! credits. Counts and ratings nobody kept yet start at 0, as the schema's
//! own defaults do.

use std::fmt;

use bson::{Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::get_path;
use promptforge_wire::schema::Collection;
use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;

use super::write::{overwrite, set};
use crate::db::Db;
use crate::error::{ServerError, StoredError};

// The fields the ledger writes. Reads go through the views, whose serde
// names must match; the tests below hold the two together.
const PRICE: &str = "price";
const BALANCE: &str = "credits.balance";
const TOTAL_SPENT: &str = "credits.total_spent";
const LAST_PURCHASE_AT: &str = "credits.last_purchase_at";
const TOTAL_EARNINGS: &str = "stats.total_earnings";
const MARKETPLACE_SALES: &str = "stats.marketplace_sales";
const SELLER_RATING: &str = "stats.average_rating";
const SELLER_REVIEWS: &str = "stats.total_reviews";
const PURCHASE_COUNT: &str = "analytics.purchase_count";
const REVENUE: &str = "analytics.revenue";
const CONVERSION_RATE: &str = "analytics.conversion_rate";
const REFUND_COUNT: &str = "analytics.refund_count";
const REFUND_RATE: &str = "analytics.refund_rate";
const LISTED_SALES: &str = "seller.total_sales";
const TOTAL_REVIEWS: &str = "reviews.total_reviews";
const AVERAGE_RATING: &str = "reviews.average_rating";
const RATING_DISTRIBUTION: &str = "reviews.rating_distribution";
const AMOUNT: &str = "amount";
const SELLER_EARNINGS: &str = "seller_earnings";

/// The fields of one stored document that a ledger step reads.
pub(super) trait View: DeserializeOwned {
    const COLLECTION: Collection;
    /// What the view holds, for the error when a document does not fit.
    const WHAT: &'static str;
    /// The money the view requires, to name the field a document lacks.
    const MONEY: &'static [&'static str];
}

/// Reads `doc` through the view `V`. When it does not fit, the error names
/// the money field it lacks, if that is why.
pub(super) fn read<V: View>(doc: &Document) -> Result<V, StoredError> {
    bson::from_document(doc.clone()).map_err(|_| {
        let id = id_of(doc);
        // A null is as absent as a missing key: neither says how much.
        let missing = V::MONEY
            .iter()
            .find(|field| matches!(get_path(doc, field), None | Some(Bson::Null)));
        match missing {
            Some(field) => StoredError::MissingField {
                collection: V::COLLECTION,
                id,
                field,
            },
            // The serde message can quote the stored value, and this error
            // reaches the client: only the view is named.
            None => StoredError::Unreadable {
                collection: V::COLLECTION,
                id,
                what: V::WHAT,
            },
        }
    })
}

fn id_of(doc: &Document) -> String {
    match doc.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A whole number as stored: Int64, Int32, or the double another backend's
/// driver may write for one (cut toward zero, as the server always has).
fn whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Whole;
    impl Visitor<'_> for Whole {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i32<E>(self, v: i32) -> Result<i64, E> {
            Ok(i64::from(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_f64<E>(self, v: f64) -> Result<i64, E> {
            Ok(v as i64)
        }
    }
    deserializer.deserialize_any(Whole)
}

/// A count: absent or null means nothing counted yet.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    struct Count(#[serde(deserialize_with = "whole")] i64);
    Ok(Option::<Count>::deserialize(deserializer)?.map_or(0, |c| c.0))
}

/// A rating: absent or null means unrated.
fn rating<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(0.0))
}

/// A listing's price, as a sale charges it.
#[derive(Debug, Deserialize)]
pub(super) struct Price {
    #[serde(deserialize_with = "whole")]
    pub(super) price: i64,
}

impl View for Price {
    const COLLECTION: Collection = Collection::MarketplaceListings;
    const WHAT: &'static str = "a price";
    const MONEY: &'static [&'static str] = &[PRICE];
}

/// The buyer's credits.
#[derive(Debug, Deserialize)]
pub(super) struct Wallet {
    credits: WalletCredits,
}

#[derive(Debug, Deserialize)]
struct WalletCredits {
    #[serde(deserialize_with = "whole")]
    balance: i64,
    #[serde(deserialize_with = "whole")]
    total_spent: i64,
}

impl View for Wallet {
    const COLLECTION: Collection = Collection::Users;
    const WHAT: &'static str = "the buyer's credits";
    const MONEY: &'static [&'static str] = &[BALANCE, TOTAL_SPENT];
}

impl Wallet {
    pub(super) fn balance(&self) -> i64 {
        self.credits.balance
    }
}

/// The seller's earnings and sales.
#[derive(Debug, Deserialize)]
struct Earnings {
    stats: EarningStats,
}

#[derive(Debug, Deserialize)]
struct EarningStats {
    #[serde(deserialize_with = "whole")]
    total_earnings: i64,
    #[serde(default, deserialize_with = "count")]
    marketplace_sales: i64,
}

impl View for Earnings {
    const COLLECTION: Collection = Collection::Users;
    const WHAT: &'static str = "the seller's earnings";
    const MONEY: &'static [&'static str] = &[TOTAL_EARNINGS];
}

/// A seller's standing as listings show it and reviews update it.
#[derive(Debug, Deserialize)]
pub(super) struct Standing {
    #[serde(default)]
    stats: StandingStats,
}

#[derive(Debug, Default, Deserialize)]
struct StandingStats {
    #[serde(default, deserialize_with = "rating")]
    average_rating: f64,
    #[serde(default, deserialize_with = "count")]
    total_reviews: i64,
    #[serde(default, deserialize_with = "count")]
    marketplace_sales: i64,
}

impl View for Standing {
    const COLLECTION: Collection = Collection::Users;
    const WHAT: &'static str = "the seller's ratings and sales";
    const MONEY: &'static [&'static str] = &[];
}

impl Standing {
    pub(super) fn average_rating(&self) -> f64 {
        self.stats.average_rating
    }

    pub(super) fn sales(&self) -> i64 {
        self.stats.marketplace_sales
    }
}

/// A listing's sales figures.
#[derive(Debug, Deserialize)]
struct Sales {
    analytics: SalesFigures,
}

#[derive(Debug, Deserialize)]
struct SalesFigures {
    #[serde(default, deserialize_with = "count")]
    view_count: i64,
    #[serde(default, deserialize_with = "count")]
    purchase_count: i64,
    #[serde(default, deserialize_with = "count")]
    refund_count: i64,
    #[serde(deserialize_with = "whole")]
    revenue: i64,
}

impl View for Sales {
    const COLLECTION: Collection = Collection::MarketplaceListings;
    const WHAT: &'static str = "the listing's sales";
    const MONEY: &'static [&'static str] = &[REVENUE];
}

/// What a purchase charged, as a refund pays it back.
#[derive(Debug, Deserialize)]
pub(super) struct Charge {
    #[serde(deserialize_with = "whole")]
    pub(super) amount: i64,
    #[serde(deserialize_with = "whole")]
    pub(super) seller_earnings: i64,
}

impl View for Charge {
    const COLLECTION: Collection = Collection::MarketplacePurchases;
    const WHAT: &'static str = "the purchase's amount and earnings";
    const MONEY: &'static [&'static str] = &[AMOUNT, SELLER_EARNINGS];
}

/// A listing's reviews.
#[derive(Debug, Deserialize)]
struct ListingReviews {
    #[serde(default)]
    reviews: ReviewFigures,
}

#[derive(Debug, Default, Deserialize)]
struct ReviewFigures {
    #[serde(default, deserialize_with = "count")]
    total_reviews: i64,
    #[serde(default, deserialize_with = "rating")]
    average_rating: f64,
    /// Star count ("1".."5") to number of reviews.
    #[serde(default)]
    rating_distribution: Document,
}

impl ReviewFigures {
    /// The reviews counted with `stars`; `None` when that count is not a
    /// number. The other buckets are the schema's to judge on the write.
    fn counted(&self, stars: &str) -> Option<i64> {
        #[derive(Deserialize)]
        struct Bucket(#[serde(deserialize_with = "count")] i64);
        match self.rating_distribution.get(stars) {
            None => Some(0),
            Some(value) => bson::from_bson::<Bucket>(value.clone()).ok().map(|b| b.0),
        }
    }
}

impl View for ListingReviews {
    const COLLECTION: Collection = Collection::MarketplaceListings;
    const WHAT: &'static str = "the listing's reviews";
    const MONEY: &'static [&'static str] = &[];
}

/// The platform's fee and the seller's earnings of a sale at `price`: whole
/// credits, the fee rounded to the nearest one and the seller getting the
/// rest, so the two always add up to the price.
pub(super) fn split(price: i64, fee_rate: f64) -> (i64, i64) {
    let fee = ((price as f64) * fee_rate).round() as i64;
    (fee, price - fee)
}

/// Debits the buyer `price` for a sale made `now`.
pub(super) async fn charge_buyer(
    db: &Db,
    session: &mut ClientSession,
    buyer: &Document,
    wallet: &Wallet,
    price: i64,
    now: DateTime,
) -> Result<(), ServerError> {
    let mut debited = buyer.clone();
    set(&mut debited, BALANCE, wallet.credits.balance - price)?;
    set(
        &mut debited,
        TOTAL_SPENT,
        wallet.credits.total_spent + price,
    )?;
    set(&mut debited, LAST_PURCHASE_AT, now)?;
    overwrite(db, session, Collection::Users, buyer, debited).await?;
    Ok(())
}

/// Credits the seller the `earnings` of a sale. Returns the seller's sales
/// before it, which the listing's `seller` block counts from.
pub(super) async fn pay_seller(
    db: &Db,
    session: &mut ClientSession,
    seller: &Document,
    earnings: i64,
) -> Result<i64, ServerError> {
    let books: Earnings = read(seller)?;
    let mut credited = seller.clone();
    set(
        &mut credited,
        TOTAL_EARNINGS,
        books.stats.total_earnings + earnings,
    )?;
    set(
        &mut credited,
        MARKETPLACE_SALES,
        books.stats.marketplace_sales + 1,
    )?;
    overwrite(db, session, Collection::Users, seller, credited).await?;
    Ok(books.stats.marketplace_sales)
}

/// Counts a sale at `price` on the listing; `seller_sales` are the seller's
/// sales before it.
pub(super) async fn record_sale(
    db: &Db,
    session: &mut ClientSession,
    listing: &Document,
    price: i64,
    seller_sales: i64,
) -> Result<(), ServerError> {
    let Sales { analytics: figures } = read(listing)?;
    let mut sold = listing.clone();
    let purchases = figures.purchase_count + 1;
    set(&mut sold, PURCHASE_COUNT, purchases)?;
    set(&mut sold, REVENUE, figures.revenue + price)?;
    if figures.view_count > 0 {
        set(
            &mut sold,
            CONVERSION_RATE,
            (purchases as f64 / figures.view_count as f64).min(1.0),
        )?;
    }
    set(&mut sold, LISTED_SALES, seller_sales + 1)?;
    overwrite(db, session, Collection::MarketplaceListings, listing, sold).await?;
    Ok(())
}

/// Gives the buyer back the `amount` of a refunded purchase; returns the
/// new balance.
pub(super) async fn refund_buyer(
    db: &Db,
    session: &mut ClientSession,
    buyer: &Document,
    amount: i64,
) -> Result<i64, ServerError> {
    let wallet: Wallet = read(buyer)?;
    let balance = wallet.credits.balance + amount;
    let mut restored = buyer.clone();
    set(&mut restored, BALANCE, balance)?;
    set(
        &mut restored,
        TOTAL_SPENT,
        wallet.credits.total_spent - amount,
    )?;
    overwrite(db, session, Collection::Users, buyer, restored).await?;
    Ok(balance)
}

/// Takes back from the seller the `earnings` of a refunded purchase.
/// Returns the seller's sales before the refund.
pub(super) async fn reverse_seller(
    db: &Db,
    session: &mut ClientSession,
    seller: &Document,
    earnings: i64,
) -> Result<i64, ServerError> {
    let books: Earnings = read(seller)?;
    let mut debited = seller.clone();
    set(
        &mut debited,
        TOTAL_EARNINGS,
        books.stats.total_earnings - earnings,
    )?;
    set(
        &mut debited,
        MARKETPLACE_SALES,
        (books.stats.marketplace_sales - 1).max(0),
    )?;
    overwrite(db, session, Collection::Users, seller, debited).await?;
    Ok(books.stats.marketplace_sales)
}

/// Counts a refund of `amount` on the listing; `seller_sales` are the
/// seller's sales before it.
pub(super) async fn record_refund(
    db: &Db,
    session: &mut ClientSession,
    listing: &Document,
    amount: i64,
    seller_sales: i64,
) -> Result<(), ServerError> {
    let Sales { analytics: figures } = read(listing)?;
    let mut updated = listing.clone();
    let refunds = figures.refund_count + 1;
    let purchases = figures.purchase_count.max(1);
    set(&mut updated, REFUND_COUNT, refunds)?;
    set(
        &mut updated,
        REFUND_RATE,
        (refunds as f64 / purchases as f64).min(1.0),
    )?;
    set(&mut updated, REVENUE, figures.revenue - amount)?;
    set(&mut updated, LISTED_SALES, (seller_sales - 1).max(0))?;
    overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        listing,
        updated,
    )
    .await?;
    Ok(())
}

/// Adds a review of `stars` (1 to 5) to the listing's average, total and
/// distribution.
pub(super) async fn rate_listing(
    db: &Db,
    session: &mut ClientSession,
    listing: &Document,
    stars: i64,
) -> Result<(), ServerError> {
    let ListingReviews { reviews } = read(listing)?;
    let bucket = stars.to_string();
    let counted = reviews
        .counted(&bucket)
        .ok_or_else(|| StoredError::Unreadable {
            collection: Collection::MarketplaceListings,
            id: id_of(listing),
            what: "the listing's rating counts",
        })?;
    let total = reviews.total_reviews;
    let new_total = total + 1;
    let mut updated = listing.clone();
    set(&mut updated, TOTAL_REVIEWS, new_total)?;
    set(
        &mut updated,
        AVERAGE_RATING,
        (reviews.average_rating * total as f64 + stars as f64) / new_total as f64,
    )?;
    set(
        &mut updated,
        &format!("{RATING_DISTRIBUTION}.{bucket}"),
        counted + 1,
    )?;
    overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        listing,
        updated,
    )
    .await?;
    Ok(())
}

/// Adds a review of `stars` to the seller's average and total.
pub(super) async fn rate_seller(
    db: &Db,
    session: &mut ClientSession,
    seller: &Document,
    stars: i64,
) -> Result<(), ServerError> {
    let standing: Standing = read(seller)?;
    let count = standing.stats.total_reviews;
    let mut rated = seller.clone();
    set(&mut rated, SELLER_REVIEWS, count + 1)?;
    set(
        &mut rated,
        SELLER_RATING,
        (standing.stats.average_rating * count as f64 + stars as f64) / (count + 1) as f64,
    )?;
    overwrite(db, session, Collection::Users, seller, rated).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use bson::{doc, Bson, Document};

    use super::*;

    /// `doc` with `path` set to `value`; `Null` removes it, as in a write.
    fn with(mut doc: Document, path: &str, value: Bson) -> Document {
        promptforge_wire::codec::set_path(&mut doc, path, value).expect("settable path");
        doc
    }

    /// `doc` with `path` holding a stored null.
    fn null_at(mut doc: Document, path: &str) -> Document {
        let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
        let holder = match parent {
            "" => &mut doc,
            parent => doc.get_document_mut(parent).expect("parent object"),
        };
        holder.insert(leaf, Bson::Null);
        doc
    }

    fn user() -> Document {
        doc! { "_id": "bob",
        "credits": { "balance": 100_i64, "total_spent": 5_i32 },
        "stats": { "total_earnings": 7.0_f64, "marketplace_sales": 3_i64 } }
    }

    fn listing() -> Document {
        doc! { "_id": "l1", "price": 30_i64,
        "analytics": { "view_count": 10_i64, "purchase_count": 2_i64, "revenue": 60_i64 } }
    }

    #[test]
    fn figures_are_read_from_the_paths_they_are_written_to() {
        // Every whole-number type a driver may store reads as the number.
        let wallet: Wallet = read(&user()).expect("wallet");
        assert_eq!((wallet.balance(), wallet.credits.total_spent), (100, 5));
        let mut user = user();
        for (path, value) in [
            (MARKETPLACE_SALES, Bson::Int32(9)),
            (SELLER_REVIEWS, Bson::Double(9.0)),
            (SELLER_RATING, Bson::Double(4.5)),
        ] {
            user = with(user, path, value);
        }
        let standing: Standing = read(&user).expect("standing");
        let stats = &standing.stats;
        assert_eq!(
            (stats.average_rating, stats.total_reviews, standing.sales()),
            (4.5, 9, 9)
        );
        let books: Earnings = read(&user).expect("earnings");
        assert_eq!(
            (books.stats.total_earnings, books.stats.marketplace_sales),
            (7, 9)
        );
        let mut listing = listing();
        for path in [PURCHASE_COUNT, REFUND_COUNT, TOTAL_REVIEWS] {
            listing = with(listing, path, Bson::Int64(9));
        }
        listing = with(listing, AVERAGE_RATING, Bson::Double(4.5));
        listing = with(listing, &format!("{RATING_DISTRIBUTION}.3"), Bson::Int64(9));
        let Sales { analytics: a } = read(&listing).expect("sales");
        assert_eq!(
            (a.view_count, a.purchase_count, a.refund_count, a.revenue),
            (10, 9, 9, 60)
        );
        let ListingReviews { reviews } = read(&listing).expect("reviews");
        assert_eq!((reviews.total_reviews, reviews.average_rating), (9, 4.5));
        assert_eq!(reviews.counted("3"), Some(9));
    }

    #[test]
    fn missing_money_is_an_error_naming_the_document_and_field() {
        type Reader = fn(&Document) -> Result<(), StoredError>;
        let purchase = doc! { "_id": "p1", "amount": 30_i64, "seller_earnings": 27_i64 };
        let cases: [(Document, &str, Reader); 7] = [
            (user(), BALANCE, |d| read::<Wallet>(d).map(drop)),
            (user(), TOTAL_SPENT, |d| read::<Wallet>(d).map(drop)),
            (user(), TOTAL_EARNINGS, |d| read::<Earnings>(d).map(drop)),
            (listing(), PRICE, |d| read::<Price>(d).map(drop)),
            (listing(), REVENUE, |d| read::<Sales>(d).map(drop)),
            (purchase.clone(), AMOUNT, |d| read::<Charge>(d).map(drop)),
            (purchase, SELLER_EARNINGS, |d| read::<Charge>(d).map(drop)),
        ];
        for (full, field, read_it) in cases {
            assert!(read_it(&full).is_ok(), "{field} present");
            for broken in [with(full.clone(), field, Bson::Null), null_at(full, field)] {
                let err = read_it(&broken).expect_err(field);
                assert!(
                    matches!(&err, StoredError::MissingField { field: f, .. } if *f == field),
                    "{field}: {err}"
                );
            }
        }
        let err = read::<Wallet>(&doc! { "_id": "bob" }).expect_err("no credits at all");
        assert_eq!(
            err.to_string(),
            "users document `bob` has no `credits.balance`"
        );
        // A value of another type is named by its view, never quoted.
        let err = read::<Wallet>(&with(user(), BALANCE, Bson::String("lots".into())))
            .expect_err("a string balance");
        assert!(matches!(err, StoredError::Unreadable { .. }), "{err}");
        assert!(!err.to_string().contains("lots"), "{err}");
    }

    #[test]
    fn counts_and_ratings_nobody_kept_start_at_zero() {
        let standing: Standing = read(&doc! { "_id": "x" }).expect("standing");
        assert_eq!((standing.average_rating(), standing.sales()), (0.0, 0));
        let nulls = null_at(null_at(user(), MARKETPLACE_SALES), SELLER_RATING);
        let standing: Standing = read(&nulls).expect("standing of nulls");
        assert_eq!((standing.average_rating(), standing.sales()), (0.0, 0));
        let books: Earnings = read(&nulls).expect("earnings");
        assert_eq!(books.stats.marketplace_sales, 0);
        let bare = doc! { "_id": "l1", "analytics": { "revenue": 0_i64 } };
        let Sales { analytics } = read(&bare).expect("sales");
        assert_eq!((analytics.view_count, analytics.purchase_count), (0, 0));
        let ListingReviews { reviews } = read(&bare).expect("reviews");
        assert_eq!((reviews.total_reviews, reviews.average_rating), (0, 0.0));
        let kept = doc! { "_id": "l1", "reviews": { "rating_distribution": {
        "1": 2_i32, "2": 3.0_f64, "3": Bson::Null, "4": "many" } } };
        let ListingReviews { reviews } = read(&kept).expect("reviews");
        let counts = ["1", "2", "3", "4", "5"].map(|stars| reviews.counted(stars));
        assert_eq!(counts, [Some(2), Some(3), Some(0), None, Some(0)]);
    }

    #[test]
    fn fee_and_earnings_add_up_to_the_price() {
        for price in [1, 2, 3, 10, 99, 1_000_001] {
            for rate in [0.0, 0.1, 0.15, 0.5, 1.0] {
                let (fee, earnings) = split(price, rate);
                assert_eq!(fee + earnings, price);
                assert!(fee >= 0 && earnings >= 0);
            }
        }
    }
}
