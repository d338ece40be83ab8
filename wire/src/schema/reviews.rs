//! `reviews`: a buyer's rating of a prompt they bought.

use bson::DateTime;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{id_accessors, limits, unset_time, Check, Collection, Model, ValidationError};

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Review {
    #[serde(rename = "_id")]
    pub id: String,
    pub prompt_id: String,
    pub user_id: String,
    /// 1-5 stars.
    pub rating: i64,
    #[serde(default)]
    pub review: String,
    #[serde(default = "unset_time")]
    #[cfg_attr(feature = "ts", ts(type = "{ $date: string }"))]
    pub created_at: DateTime,
    #[serde(default)]
    pub helpful_count: i64,
    #[serde(default)]
    pub version: i64,
}

impl Model for Review {
    const COLLECTION: Collection = Collection::Reviews;
    const DERIVED: &'static [&'static str] = &["helpful_count"];

    id_accessors!();

    fn validate(&self) -> Result<(), ValidationError> {
        let mut check = Check::new(Collection::Reviews);
        check.id("_id", &self.id);
        check.id("prompt_id", &self.prompt_id);
        check.id("user_id", &self.user_id);
        check.range("rating", self.rating, 1, 5);
        check.max_len("review", &self.review, limits::DESCRIPTION);
        check.non_negative("helpful_count", self.helpful_count);
        check.non_negative("version", self.version);
        check.finish()
    }
}
