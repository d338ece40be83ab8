//! Attaching a local profile to the account the server signed it in as: the
//! local user id becomes the account's everywhere it appears.

use bson::{doc, Bson, Document};
use polodb_core::CollectionT;

use super::state::{entry_id, set_sync_field};
use super::OUTBOX;
use crate::error::Result;
use crate::schema::Collection;
use crate::store::writer::Tx;
use crate::store::META_COLLECTION;

/// Replaces `from` with `to` in every string and map key of `value`.
fn rename_user(value: &mut Bson, from: &str, to: &str) {
    match value {
        Bson::String(s) if s == from => *s = to.to_owned(),
        Bson::Document(doc) => {
            let renamed: Document = std::mem::take(doc)
                .into_iter()
                .map(|(k, mut v)| {
                    rename_user(&mut v, from, to);
                    (if k == from { to.to_owned() } else { k }, v)
                })
                .collect();
            *doc = renamed;
        }
        Bson::Array(items) => items.iter_mut().for_each(|v| rename_user(v, from, to)),
        _ => {}
    }
}

/// Attaches a local profile to `account`: every reference to the local user
/// id becomes the account's, in documents and queued uploads alike.
pub(super) fn attach_account(tx: &mut Tx, local_user: &str, account: &str) -> Result<()> {
    if local_user != account {
        for collection in Collection::ALL {
            for doc in tx.raw_find(collection.name(), doc! {})? {
                let mut renamed = Bson::Document(doc.clone());
                rename_user(&mut renamed, local_user, account);
                if let Bson::Document(renamed) = renamed {
                    if renamed != doc {
                        tx.put_untracked(collection, renamed)?;
                    }
                }
            }
        }
        for entry in tx.raw_find(OUTBOX, doc! { "sent": false })? {
            let mut renamed = Bson::Document(entry.clone());
            rename_user(&mut renamed, local_user, account);
            if let Bson::Document(renamed) = renamed {
                if renamed != entry {
                    tx.raw(OUTBOX)
                        .delete_one(doc! { "_id": entry_id(&entry) })?;
                    tx.raw(OUTBOX).insert_one(renamed)?;
                }
            }
        }
        tx.raw(META_COLLECTION).update_one(
            doc! { "_id": "profile" },
            doc! { "$set": { "user_id": account } },
        )?;
    }
    set_sync_field(tx, "account", Bson::String(account.to_owned()))
}
