//! How documents cross the IPC boundary: MongoDB relaxed Extended JSON, the
//! same shape the seed and the server use. Dates travel as `{"$date": iso}`,
//! so nothing is lost between the store's BSON and the UI's JSON.

use bson::{Bson, Document};
use serde::Serialize;
use serde_json::Value;

use crate::error::{AppError, AppResult};

/// Anything serialisable, as the UI receives it.
pub fn to_ui<T: Serialize + ?Sized>(value: &T) -> AppResult<Value> {
    Ok(bson::to_bson(value)?.into_relaxed_extjson())
}

/// Field changes from the UI (`{"title": "x", "timeline.milestones": [...]}`)
/// as a BSON document. `what` names the argument in the error.
pub fn from_ui(value: Value, what: &str) -> AppResult<Document> {
    if !value.is_object() {
        return Err(AppError::invalid(format!(
            "{what} must be an object of field names to values"
        )));
    }
    match Bson::try_from(value) {
        Ok(Bson::Document(doc)) => Ok(doc),
        Ok(_) => Err(AppError::invalid(format!(
            "{what} must be an object of field names to values, not a special value"
        ))),
        Err(err) => Err(AppError::invalid(format!("{what}: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_extended_json() -> AppResult<()> {
        let now = bson::DateTime::from_millis(1_764_000_000_000);
        let shown = to_ui(&bson::doc! { "at": now, "n": 3_i64 })?;
        assert_eq!(shown["at"]["$date"], "2025-11-24T16:00:00Z");
        assert_eq!(shown["n"], 3);
        let back = from_ui(shown, "changes")?;
        assert_eq!(back.get_datetime("at").ok(), Some(&now));
        Ok(())
    }

    #[test]
    fn changes_that_are_not_an_object_are_refused_by_name() {
        let err = from_ui(serde_json::json!([1, 2]), "changes").err();
        assert_eq!(
            err.map(|e| e.code),
            Some(crate::error::AppErrorCode::Invalid)
        );
        let err = from_ui(serde_json::json!({"$date": "not a date"}), "fields").err();
        assert!(err.is_some_and(|e| e.message.starts_with("fields")));
    }
}
