//! User profiles in the central database, as the web platform creates them
//! (the sync server makes one only for a brand-new account on its first
//! handshake, from its token): written straight to MongoDB,
//! then put on the pull cursor by the server's sequencer like any external
//! write.

use bson::{doc, Document};
use promptforge_sync::schema::User;

/// Creates (or replaces) the profile of `id` with `credits` to spend.
pub async fn put_user(uri: &str, database: &str, id: &str, credits: i64) -> User {
    let mut user = User::new(id, &format!("{id}@example.com"), &format!("User {id}"));
    user.email_verified = true;
    user.credits.balance = credits;
    user.credits.total_purchased = credits;
    user.created_at = bson::DateTime::now();
    user.last_login_at = user.created_at;
    user.last_active_at = user.created_at;
    user.updated_at = user.created_at;
    user.version = 1;
    let client = mongodb::Client::with_uri_str(uri)
        .await
        .expect("connect to MongoDB");
    let document = bson::to_document(&user).expect("encode a user");
    client
        .database(database)
        .collection::<Document>("users")
        .replace_one(doc! { "_id": id }, document)
        .upsert(true)
        .await
        .expect("write a user");
    user
}

/// A user's profile as stored now.
pub async fn get_user(uri: &str, database: &str, id: &str) -> Document {
    let client = mongodb::Client::with_uri_str(uri)
        .await
        .expect("connect to MongoDB");
    client
        .database(database)
        .collection::<Document>("users")
        .find_one(doc! { "_id": id })
        .await
        .expect("read a user")
        .expect("the user exists")
}

/// Profiles of people others find by email, as the web app makes them:
/// `<id>@example.com`, verified (sharing and invitations find verified
/// emails only), named `display_name(id)`.
pub async fn put_verified_profiles(
    server: &crate::server::TestServer,
    users: &[&str],
    display_name: impl Fn(&str) -> String,
) {
    let profiles = server.collection("users").await;
    for user in users {
        let mut profile = User::new(user, &format!("{user}@example.com"), &display_name(user));
        profile.email_verified = true;
        profiles
            .insert_one(bson::to_document(&profile).expect("encode a user"))
            .await
            .expect("profile");
    }
}
