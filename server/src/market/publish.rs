//! Publishing and moderation, and the listing upkeep both share with
//! desktop edits: a listing's seller block and slug are the server's, and
//! what buyers get must be what a moderator saw.

use bson::{doc, Bson, DateTime, Document};
use mongodb::ClientSession;
use promptforge_wire::codec::is_deleted;
use promptforge_wire::market::{
    MarketOutcome, MarketRefusal, ModerateRequest, ModerationAction, PublishRequest,
};
use promptforge_wire::schema::Collection;

use super::ledger::{self, Price, Standing};
use super::once::once;
use super::write::{notify, overwrite, refused};
use super::MarketRules;
use crate::db::{strip_seq, Db};
use crate::error::ServerError;

/// A URL-safe slug from a title, unique by the listing's id:
/// `{title words}--{id}`. The title part never holds `--`, and the id is
/// written so that distinct ids stay distinct (`-` as `--`, an upper-case
/// letter as `-` and the letter, `_`, `:` and `.` as `-1`, `-2`, `-3`), so no
/// two listings share a slug.
fn slug(title: &str, id: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let mut slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        slug.push_str("listing");
    }
    slug.push_str("--");
    for c in id.chars() {
        match c {
            'a'..='z' | '0'..='9' => slug.push(c),
            'A'..='Z' => {
                slug.push('-');
                slug.push(c.to_ascii_lowercase());
            }
            '-' => slug.push_str("--"),
            '_' => slug.push_str("-1"),
            ':' => slug.push_str("-2"),
            '.' => slug.push_str("-3"),
            // Ids hold nothing else; anything that slips through still
            // yields a valid, if less distinct, slug.
            _ => slug.push_str("-0"),
        }
    }
    slug
}

/// What buyers get must be what a moderator saw: any change a seller makes
/// to an approved (or pending) listing sends it back to review, or to draft
/// when it no longer meets what publishing requires.
pub fn back_to_review_if_changed(current: &Document, updated: &mut Document) {
    let live = matches!(current.get_str("status"), Ok("approved" | "pending"));
    // `seo` is the seller's but for its slug.
    let seo = |doc: &Document| {
        let mut seo = doc.get_document("seo").cloned().unwrap_or_default();
        seo.remove("slug");
        seo
    };
    let sellers = |field: &str| {
        !field.starts_with('_')
            && !matches!(field, "created_at" | "last_modified_by" | "seo")
            && !promptforge_wire::access::is_server_owned(Collection::MarketplaceListings, field)
    };
    let changed = seo(current) != seo(updated)
        || updated
            .keys()
            .chain(current.keys())
            .any(|field| sellers(field) && current.get(field) != updated.get(field));
    if !live || !changed {
        return;
    }
    if publishable(updated).is_ok() {
        updated.insert("status", "pending");
        updated.insert("moderation_status", "under_review");
    } else {
        updated.insert("status", "draft");
        updated.insert("moderation_status", "not_reviewed");
    }
}

/// The listing's `seller` block, from the seller's profile.
fn seller_block(seller: Option<&Document>) -> Result<Document, ServerError> {
    let Some(seller) = seller else {
        return Ok(
            doc! { "display_name": "", "verified_seller": false, "seller_rating": 0.0, "total_sales": 0_i64 },
        );
    };
    let standing: Standing = ledger::read(seller)?;
    let mut block = doc! {
        "display_name": seller.get_str("display_name").unwrap_or_default(),
        "verified_seller": seller.get_bool("email_verified").unwrap_or(false)
            && seller.get_str("account_status").unwrap_or("active") == "active",
        "seller_rating": standing.average_rating(),
        "total_sales": standing.sales(),
    };
    if let Ok(image) = seller.get_str("photo_url") {
        block.insert("profile_image", image);
    }
    Ok(block)
}

/// Fills a listing's server-kept fields: the seller block and the slug.
/// Called for every listing the server writes or accepts from a desktop.
pub async fn fill_listing(
    db: &Db,
    session: &mut ClientSession,
    listing: &mut Document,
) -> Result<(), ServerError> {
    let seller_id = listing.get_str("seller_id").unwrap_or_default().to_owned();
    let seller = db
        .find_by_id(session, Collection::Users, &seller_id)
        .await?;
    listing.insert("seller", seller_block(seller.as_ref())?);
    let id = listing.get_str("_id").unwrap_or_default().to_owned();
    let title = listing.get_str("title").unwrap_or_default().to_owned();
    let mut seo = listing.get_document("seo").cloned().unwrap_or_default();
    if seo.get_str("slug").is_err() {
        seo.insert("slug", slug(&title, &id));
        listing.insert("seo", seo);
    }
    Ok(())
}

/// Brings the `seller` block of every listing of `seller_id` up to date
/// (after the seller's profile or rating changed).
pub async fn refresh_seller_listings(
    db: &Db,
    session: &mut ClientSession,
    seller_id: &str,
) -> Result<(), ServerError> {
    use futures_util::TryStreamExt;
    let seller = db.find_by_id(session, Collection::Users, seller_id).await?;
    let block = seller_block(seller.as_ref())?;
    db.flush(session).await?;
    let listings: Vec<Document> = db
        .collection(Collection::MarketplaceListings)
        .find(doc! { "seller_id": seller_id })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    for listing in listings {
        if listing.get_document("seller").ok() == Some(&block) {
            continue;
        }
        let mut updated = listing.clone();
        updated.insert("seller", block.clone());
        // Another document's fault is not this request's to report.
        overwrite(
            db,
            session,
            Collection::MarketplaceListings,
            &listing,
            updated,
        )
        .await
        .map_err(|e| match e {
            ServerError::Schema(e) => ServerError::Internal(format!("seller listing: {e}")),
            other => other,
        })?;
    }
    Ok(())
}

/// Checks what a listing must satisfy before review: a price in credits,
/// a consistent discount, and licensing stated.
fn publishable(listing: &Document) -> Result<(), String> {
    // A seller's half-edited listing may have no price, or none that reads
    // as a number: either way it is not ready for review.
    let price = match ledger::read::<Price>(listing) {
        Ok(Price { price }) if price > 0 => price,
        _ => return Err("price must be at least 1 credit".into()),
    };
    if listing.get_str("currency").unwrap_or("credits") != "credits" {
        return Err("only listings priced in credits can be sold on the desktop".into());
    }
    if let Some(original) = listing.get("original_price").filter(|v| **v != Bson::Null) {
        let original = original.as_i64().unwrap_or(0);
        if original < price {
            return Err("original_price must not be below price".into());
        }
    }
    let stated = |path: &str| {
        promptforge_wire::codec::get_path(listing, path)
            .and_then(Bson::as_str)
            .is_some_and(|text| !text.trim().is_empty())
    };
    if !stated("preview_content") {
        return Err("a preview is required so buyers can judge the prompt".into());
    }
    if !stated("licensing.license_type") {
        return Err("licensing.license_type is required".into());
    }
    Ok(())
}

pub async fn publish(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    request: &PublishRequest,
) -> Result<MarketOutcome, ServerError> {
    let Some(key) = request.idempotency_key.clone() else {
        return decide_publish(db, session, user, request).await;
    };
    let (db2, user2, request2) = (db.clone(), user.to_owned(), request.clone());
    once(
        db,
        session,
        user,
        "publish",
        (key.as_str(), request),
        move |session| {
            Box::pin(async move { decide_publish(&db2, session, &user2, &request2).await })
        },
    )
    .await
}

async fn decide_publish(
    db: &Db,
    session: &mut ClientSession,
    user: &str,
    request: &PublishRequest,
) -> Result<MarketOutcome, ServerError> {
    let listing = db
        .find_by_id(
            session,
            Collection::MarketplaceListings,
            &request.listing_id,
        )
        .await?;
    let Some(listing) = listing.filter(|l| !is_deleted(l)) else {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    };
    if listing.get_str("seller_id") != Ok(user) {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    }
    let status = listing.get_str("status").unwrap_or("draft");
    if status == "pending" {
        return Ok(MarketOutcome::Done {
            document: strip_seq(listing),
            balance: None,
            delivered_prompt_id: None,
        });
    }
    if !matches!(status, "draft" | "rejected") {
        return Ok(refused(
            MarketRefusal::WrongState,
            format!("a {status} listing cannot be submitted for review"),
        ));
    }
    // The prompt must be the seller's own.
    let prompt_id = listing.get_str("prompt_id").unwrap_or_default();
    let prompt = db
        .find_by_id(session, Collection::Prompts, prompt_id)
        .await?;
    if !prompt.is_some_and(|p| p.get_str("user_id") == Ok(user) && !is_deleted(&p)) {
        return Ok(refused(
            MarketRefusal::Invalid,
            "the listing must sell one of your own prompts",
        ));
    }
    if let Err(why) = publishable(&listing) {
        return Ok(refused(MarketRefusal::Invalid, why));
    }
    let mut updated = listing.clone();
    updated.insert("status", "pending");
    updated.insert("moderation_status", "under_review");
    fill_listing(db, session, &mut updated).await?;
    let document = overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        &listing,
        updated,
    )
    .await?;
    Ok(MarketOutcome::Done {
        document,
        balance: None,
        delivered_prompt_id: None,
    })
}

pub async fn moderate(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    user: &str,
    request: &ModerateRequest,
) -> Result<MarketOutcome, ServerError> {
    let Some(key) = request.idempotency_key.clone() else {
        return decide_moderation(db, session, rules, user, request).await;
    };
    let (db2, rules2, user2, request2) =
        (db.clone(), rules.clone(), user.to_owned(), request.clone());
    once(
        db,
        session,
        user,
        "moderate",
        (key.as_str(), request),
        move |session| {
            Box::pin(
                async move { decide_moderation(&db2, session, &rules2, &user2, &request2).await },
            )
        },
    )
    .await
}

async fn decide_moderation(
    db: &Db,
    session: &mut ClientSession,
    rules: &MarketRules,
    user: &str,
    request: &ModerateRequest,
) -> Result<MarketOutcome, ServerError> {
    if !rules.moderators.iter().any(|m| m == user) {
        return Ok(refused(
            MarketRefusal::Forbidden,
            "only moderators review listings",
        ));
    }
    let Some(listing) = db
        .find_by_id(
            session,
            Collection::MarketplaceListings,
            &request.listing_id,
        )
        .await?
    else {
        return Ok(refused(MarketRefusal::NotFound, "no such listing"));
    };
    let status = listing.get_str("status").unwrap_or("draft");
    let (allowed, next, moderation) = match request.action {
        ModerationAction::Approve => (
            matches!(status, "pending" | "suspended"),
            "approved",
            "approved",
        ),
        ModerationAction::Reject => (status == "pending", "rejected", "flagged"),
        ModerationAction::Suspend => (status == "approved", "suspended", "flagged"),
    };
    if !allowed {
        return Ok(refused(
            MarketRefusal::WrongState,
            format!("a {status} listing cannot be {next}"),
        ));
    }
    let now = DateTime::now();
    let mut updated = listing.clone();
    updated.insert("status", next);
    updated.insert("moderation_status", moderation);
    updated.insert("moderated_by", user);
    updated.insert("moderated_at", now);
    match &request.notes {
        Some(notes) => updated.insert("moderation_notes", notes.clone()),
        None => updated.remove("moderation_notes"),
    };
    if next == "approved" && updated.get_datetime("published_at").is_err() {
        updated.insert("published_at", now);
    }
    fill_listing(db, session, &mut updated).await?;
    let document = overwrite(
        db,
        session,
        Collection::MarketplaceListings,
        &listing,
        updated,
    )
    .await?;
    let seller = document.get_str("seller_id").unwrap_or_default().to_owned();
    let title = document.get_str("title").unwrap_or_default().to_owned();
    let message = match &request.notes {
        Some(notes) => format!("Your listing \"{title}\" was {next}: {notes}"),
        None => format!("Your listing \"{title}\" was {next}."),
    };
    let kind = if next == "approved" {
        "success"
    } else {
        "warning"
    };
    notify(db, session, &seller, kind, "Listing reviewed", &message).await?;
    Ok(MarketOutcome::Done {
        document,
        balance: None,
        delivered_prompt_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::slug;

    fn is_slug(text: &str) -> bool {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    #[test]
    fn every_valid_id_gives_a_valid_slug_and_no_two_listings_share_one() {
        let ids = [
            "65a1b2c3d4e5f60718293a4b",
            "a",
            "x41",
            "ab-",
            "ab",
            "-a",
            "b-a",
            "11111111abc",
            "22222222abc",
            "Listing_A",
            "listing_a",
            "LISTING-A",
            "a.b:c",
            "-",
            "x",
            "ABCDEFGHIJ",
            "abcdefghij",
        ];
        // Two listings (distinct ids) never share a slug, whatever their titles.
        let mut seen = std::collections::HashMap::new();
        for id in ids {
            for title in ["My Listing!", "", "日本語", "---", "a b", "a"] {
                let made = slug(title, id);
                assert!(is_slug(&made), "{title:?} {id:?} gave {made:?}");
                assert!(made.len() <= 400);
                if let Some(other) = seen.insert(made.clone(), id) {
                    assert_eq!(other, id, "{made} is the slug of two listings");
                }
            }
        }
        assert!(slug(&"t".repeat(500), &"Z".repeat(128)).len() <= 400);
    }
}
