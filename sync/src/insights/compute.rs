//! The dashboards' figures from the documents this device holds.

use std::collections::HashMap;

use bson::{doc, Document};

use super::{
    BucketLabel, Calendar, CreatorView, Dashboard, DashboardRequest, ListingConversion, PromptUse,
    PromptVersions, SalesBucket, SalesTotals, SellerView, UseBucket,
};
use crate::error::{Result, StoreError};
use crate::schema::{
    AnalyticsEvent, MarketplaceListing, MarketplacePurchase, PaymentStatus, Prompt, PromptVersion,
    RefundStatus, Review,
};
use crate::store::Store;

/// How many prompts the "most" charts name.
const TOP: usize = 10;
/// The most periods one chart asks for: a year of days.
pub const MAX_BUCKETS: u32 = 366;

/// Both dashboards for the store's user, cut into `request.period`s ending
/// with the one holding `now_ms`.
pub async fn dashboard(
    store: &Store,
    request: &DashboardRequest,
    now_ms: i64,
) -> Result<Dashboard> {
    if !(1..=MAX_BUCKETS).contains(&request.buckets) {
        return Err(StoreError::BadField {
            path: "buckets".into(),
            reason: format!("must be 1 to {MAX_BUCKETS}, not {}", request.buckets),
        });
    }
    let calendar = match &request.time_zone {
        Some(name) => Calendar::named(name).map_err(|e| StoreError::BadField {
            path: "time_zone".into(),
            reason: e.to_string(),
        })?,
        None => Calendar::system(),
    };
    let buckets = calendar.buckets(request.period, request.buckets, now_ms);
    let user = store.user_id();
    Ok(Dashboard {
        time_zone: calendar.zone_name().to_owned(),
        period: request.period,
        creator: creator(store, &user, &calendar, request, &buckets).await?,
        seller: seller(store, &user, &calendar, request, &buckets).await?,
    })
}

fn millis(at: &bson::DateTime) -> i64 {
    at.timestamp_millis()
}

async fn creator(
    store: &Store,
    user: &str,
    calendar: &Calendar,
    request: &DashboardRequest,
    buckets: &[BucketLabel],
) -> Result<CreatorView> {
    let mut prompts: Vec<Prompt> = store.find_all(doc! { "user_id": user }).await?;
    prompts.retain(|p| p.deleted_at.is_none());
    let titles: HashMap<&str, &str> = prompts
        .iter()
        .map(|p| (p.id.as_str(), p.title.as_str()))
        .collect();
    let mut most_used: Vec<PromptUse> = prompts
        .iter()
        .filter(|p| p.analytics.use_count > 0)
        .map(|p| PromptUse {
            prompt_id: p.id.clone(),
            title: p.title.clone(),
            uses: p.analytics.use_count,
            views: p.analytics.view_count,
            last_used_ms: p.analytics.last_used_at.as_ref().map(millis),
        })
        .collect();
    most_used.sort_by(|a, b| b.uses.cmp(&a.uses).then_with(|| a.title.cmp(&b.title)));
    most_used.truncate(TOP);

    let mut uses: Vec<UseBucket> = buckets
        .iter()
        .map(|at| UseBucket {
            at: at.clone(),
            uses: 0,
            copies: 0,
        })
        .collect();
    let events: Vec<AnalyticsEvent> = store.find_all(doc! { "event_category": "prompts" }).await?;
    for event in &events {
        let Some(i) = calendar.index_of(request.period, buckets, millis(&event.timestamp)) else {
            continue;
        };
        match event.event_type.as_str() {
            "prompt_used" => uses[i].uses += 1,
            "prompt_copied" => uses[i].copies += 1,
            _ => {}
        }
    }

    let mut counts: HashMap<String, i64> = HashMap::new();
    let versions: Vec<PromptVersion> = store.find_all(doc! {}).await?;
    for version in versions {
        if titles.contains_key(version.prompt_id.as_str()) {
            *counts.entry(version.prompt_id).or_default() += 1;
        }
    }
    let mut versions: Vec<PromptVersions> = counts
        .into_iter()
        .map(|(prompt_id, versions)| PromptVersions {
            title: titles
                .get(prompt_id.as_str())
                .copied()
                .unwrap_or_default()
                .to_owned(),
            prompt_id,
            versions,
        })
        .collect();
    versions.sort_by(|a, b| {
        b.versions
            .cmp(&a.versions)
            .then_with(|| a.title.cmp(&b.title))
    });
    versions.truncate(TOP);

    Ok(CreatorView {
        prompt_count: i64::try_from(prompts.len()).unwrap_or(i64::MAX),
        most_used,
        uses,
        versions,
    })
}

fn add_purchase(totals: &mut SalesTotals, purchase: &MarketplacePurchase) {
    totals.sales += 1;
    totals.revenue += purchase.amount;
    totals.earnings += purchase.seller_earnings;
    let refunded = purchase.payment_status == PaymentStatus::Refunded
        || purchase.refund.status == Some(RefundStatus::Processed);
    if refunded {
        totals.refunds += 1;
        totals.refunded += if purchase.refund.amount > 0 {
            purchase.refund.amount
        } else {
            purchase.amount
        };
    }
}

async fn seller(
    store: &Store,
    user: &str,
    calendar: &Calendar,
    request: &DashboardRequest,
    buckets: &[BucketLabel],
) -> Result<SellerView> {
    let purchases: Vec<MarketplacePurchase> = store.find_all(doc! { "seller_id": user }).await?;
    let mut sales: Vec<SalesBucket> = buckets
        .iter()
        .map(|at| SalesBucket {
            at: at.clone(),
            totals: SalesTotals::default(),
        })
        .collect();
    let mut totals = SalesTotals::default();
    for purchase in purchases
        .iter()
        .filter(|p| p.payment_status != PaymentStatus::Failed)
    {
        let at = millis(&purchase.created_at);
        if let Some(i) = calendar.index_of(request.period, buckets, at) {
            add_purchase(&mut sales[i].totals, purchase);
            add_purchase(&mut totals, purchase);
        }
    }

    let mut listings: Vec<MarketplaceListing> = store.find_all(doc! { "seller_id": user }).await?;
    listings.retain(|l| l.deleted_at.is_none());
    let mut conversions: Vec<ListingConversion> = listings
        .iter()
        .map(|l| ListingConversion {
            listing_id: l.id.clone(),
            title: l.title.clone(),
            views: l.analytics.view_count,
            purchases: l.analytics.purchase_count,
            conversion: if l.analytics.view_count > 0 {
                (l.analytics.purchase_count as f64 / l.analytics.view_count as f64).min(1.0)
            } else {
                0.0
            },
        })
        .collect();
    conversions.sort_by(|a, b| b.views.cmp(&a.views).then_with(|| a.title.cmp(&b.title)));

    let sold: std::collections::HashSet<&str> =
        listings.iter().map(|l| l.prompt_id.as_str()).collect();
    let mut ratings = [0_i64; 5];
    let reviews: Vec<Review> = store.find_all(Document::new()).await?;
    for review in reviews
        .iter()
        .filter(|r| sold.contains(r.prompt_id.as_str()))
    {
        if let Some(slot) = usize::try_from(review.rating - 1)
            .ok()
            .and_then(|i| ratings.get_mut(i))
        {
            *slot += 1;
        }
    }
    Ok(SellerView {
        sales,
        totals,
        listings: conversions,
        ratings,
    })
}
