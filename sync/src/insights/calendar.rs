//! Days, ISO weeks and months in the user's time zone. A period starts at a
//! local midnight, so a day across a daylight-saving change lasts 23 or 25
//! hours and an event belongs to the day its owner's clock showed.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::BucketLabel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("`{0}` is not a time zone name such as Europe/Berlin")]
    UnknownZone(String),
}

/// A zone to cut periods in.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    zone: Tz,
}

impl Calendar {
    /// The named IANA zone.
    pub fn named(name: &str) -> Result<Calendar, CalendarError> {
        name.parse::<Tz>()
            .map(|zone| Calendar { zone })
            .map_err(|_| CalendarError::UnknownZone(name.to_owned()))
    }

    /// The system's zone, or UTC when the system does not say.
    pub fn system() -> Calendar {
        iana_time_zone::get_timezone()
            .ok()
            .and_then(|name| Calendar::named(&name).ok())
            .unwrap_or(Calendar { zone: Tz::UTC })
    }

    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// The local date of an instant.
    fn local_date(&self, ms: i64) -> NaiveDate {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        utc.with_timezone(&self.zone).date_naive()
    }

    /// The first day of the period holding `date`.
    fn first_day(period: Period, date: NaiveDate) -> NaiveDate {
        match period {
            Period::Day => date,
            Period::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Period::Month => date.with_day(1).unwrap_or(date),
        }
    }

    fn step(period: Period, first: NaiveDate, back: u32) -> NaiveDate {
        let n = u64::from(back);
        let stepped = match period {
            Period::Day => first.checked_sub_days(Days::new(n)),
            Period::Week => first.checked_sub_days(Days::new(n * 7)),
            Period::Month => first.checked_sub_months(Months::new(back)),
        };
        stepped.unwrap_or(NaiveDate::MIN)
    }

    /// The instant a local day begins: its midnight, or the first moment
    /// after a gap where a zone skips midnight.
    fn day_start_ms(&self, date: NaiveDate) -> i64 {
        for hour in 0..24 {
            let Some(local) = date.and_hms_opt(hour, 0, 0) else {
                break;
            };
            if let Some(at) = self.zone.from_local_datetime(&local).earliest() {
                return at.timestamp_millis();
            }
        }
        date.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default()
    }

    fn label(period: Period, first: NaiveDate) -> String {
        match period {
            Period::Day => first.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let week = first.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Period::Month => first.format("%Y-%m").to_string(),
        }
    }

    /// The `count` periods ending with the one holding `now_ms`, oldest first.
    pub fn buckets(&self, period: Period, count: u32, now_ms: i64) -> Vec<BucketLabel> {
        let current = Self::first_day(period, self.local_date(now_ms));
        (0..count.max(1))
            .rev()
            .map(|back| {
                let first = Self::step(period, current, back);
                BucketLabel {
                    label: Self::label(period, first),
                    start_ms: self.day_start_ms(first),
                }
            })
            .collect()
    }

    /// Which of `buckets` (as [`Calendar::buckets`] made them) holds the
    /// instant `ms`, if any: the last one starting at or before it, unless
    /// it falls after the last period's end.
    pub fn index_of(&self, period: Period, buckets: &[BucketLabel], ms: i64) -> Option<usize> {
        let first = buckets.first()?;
        if ms < first.start_ms {
            return None;
        }
        let label = Self::label(period, Self::first_day(period, self.local_date(ms)));
        buckets.iter().rposition(|b| b.label == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
    }

    #[test]
    fn days_follow_the_local_clock_across_the_spring_change() {
        // Berlin moves from UTC+1 to UTC+2 at 02:00 on 2026-03-29.
        let berlin = Calendar::named("Europe/Berlin").expect("zone");
        let now = ms("2026-03-31T12:00:00+02:00");
        let days = berlin.buckets(Period::Day, 4, now);
        let labels: Vec<&str> = days.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
        );
        // The 29th lasted 23 hours.
        assert_eq!(days[2].start_ms - days[1].start_ms, 23 * 3_600_000);
        assert_eq!(days[1].start_ms - days[0].start_ms, 24 * 3_600_000);
        // 23:30 local on the 29th is 21:30 UTC: still the 29th, where a
        // fixed 24-hour grid from the 28th's midnight would say the 30th.
        let late = ms("2026-03-29T23:30:00+02:00");
        assert_eq!(berlin.index_of(Period::Day, &days, late), Some(1));
        let after_midnight = ms("2026-03-30T00:30:00+02:00");
        assert_eq!(berlin.index_of(Period::Day, &days, after_midnight), Some(2));
        assert_eq!(
            berlin.index_of(Period::Day, &days, ms("2026-03-27T23:59:00+01:00")),
            None
        );
    }

    #[test]
    fn weeks_and_months_across_the_autumn_change() {
        // Berlin goes back to UTC+1 at 03:00 on Sunday 2026-10-25.
        let berlin = Calendar::named("Europe/Berlin").expect("zone");
        let now = ms("2026-11-03T09:00:00+01:00");
        let weeks = berlin.buckets(Period::Week, 3, now);
        let labels: Vec<&str> = weeks.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["2026-W43", "2026-W44", "2026-W45"]);
        // The week holding the change lasted 7 days and one hour.
        assert_eq!(
            weeks[1].start_ms - weeks[0].start_ms,
            (7 * 24 + 1) * 3_600_000
        );
        // Sunday 23:30 local after the change is Sunday 22:30 UTC: week 43.
        let sunday_night = ms("2026-10-25T23:30:00+01:00");
        assert_eq!(berlin.index_of(Period::Week, &weeks, sunday_night), Some(0));
        let monday = ms("2026-10-26T00:10:00+01:00");
        assert_eq!(berlin.index_of(Period::Week, &weeks, monday), Some(1));

        let months = berlin.buckets(Period::Month, 2, now);
        assert_eq!(months[0].label, "2026-10");
        assert_eq!(months[1].label, "2026-11");
        // October had 31 days and one extra hour.
        assert_eq!(
            months[1].start_ms - months[0].start_ms,
            (31 * 24 + 1) * 3_600_000
        );
        // The last hour of October, local, is already November in UTC+0's eyes
        // but stays October here.
        let halloween = ms("2026-10-31T23:30:00+01:00");
        assert_eq!(berlin.index_of(Period::Month, &months, halloween), Some(0));
    }

    #[test]
    fn a_zone_that_skips_midnight_starts_its_day_after_the_gap() {
        // Santiago de Chile moved clocks from 00:00 to 01:00 on 2022-09-11.
        let santiago = Calendar::named("America/Santiago").expect("zone");
        let days = santiago.buckets(Period::Day, 2, ms("2022-09-11T12:00:00-03:00"));
        assert_eq!(days[1].label, "2022-09-11");
        assert_eq!(days[1].start_ms, ms("2022-09-11T01:00:00-03:00"));
    }

    #[test]
    fn unknown_zones_are_named() {
        assert_eq!(
            Calendar::named("Mars/Olympus").err(),
            Some(CalendarError::UnknownZone("Mars/Olympus".into()))
        );
    }
}
