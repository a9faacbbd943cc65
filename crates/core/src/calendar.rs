//! Store time: the store's IANA time zone and its business day.
//!
//! **One rule for "which day is this?"**: a business day `D` runs from `D` at the store's
//! business-day start (say 04:00, for a bar open past midnight) in the store's zone, to `D + 1`
//! at the same local time. An instant belongs to the day whose bounds hold it
//! ([`StoreClock::business_day`]), computed from the same bounds the reports query
//! ([`StoreClock::day_bounds`]), so a daylight-saving day (23 or 25 hours) is counted the same
//! way by the till's Z report, the server's reports and the console.
//!
//! Zone rules come from `jiff` and the IANA database (the system's, or jiff's bundled copy
//! where the platform has none). Nothing here is hand-written calendar arithmetic.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp as JiffTs, Zoned};
use thiserror::Error;

use crate::sale::Timestamp;

/// The zone of a store whose settings predate time zones.
pub const DEFAULT_ZONE: &str = "UTC";
/// The business-day start of a store whose settings predate it: midnight.
pub const DEFAULT_DAY_START: &str = "00:00";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}; expected an IANA name such as \"Europe/Paris\"")]
    UnknownZone(String),
    #[error("business-day start must be HH:MM on a quarter hour (00:00 to 23:45), got {0:?}")]
    BadDayStart(String),
    #[error("invalid date {0:?}; expected YYYY-MM-DD")]
    BadDate(String),
    #[error("instant {0} ms is out of the calendar's range")]
    OutOfRange(i64),
}

/// A store's clock: its zone and its business-day start.
#[derive(Debug, Clone)]
pub struct StoreClock {
    tz: TimeZone,
    zone: String,
    day_start: Time,
}

/// A calendar date (`YYYY-MM-DD` as text). Business days are named by the date they start on.
pub type Day = Date;

/// Parses `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Result<Day, CalendarError> {
    if s.len() != 10 {
        return Err(CalendarError::BadDate(crate::text::clip(s, 40)));
    }
    s.parse::<Date>()
        .map_err(|_| CalendarError::BadDate(crate::text::clip(s, 40)))
}

/// The days from `from` to `to`, both included (none when reversed).
pub fn days(from: Day, to: Day) -> Vec<Day> {
    from.series(jiff::Span::new().days(1))
        .take_while(|d| *d <= to)
        .collect()
}

/// `day` plus `n` days.
pub fn add_days(day: Day, n: i64) -> Result<Day, CalendarError> {
    day.checked_add(jiff::Span::new().days(n))
        .map_err(|_| CalendarError::BadDate(format!("{day} + {n} days")))
}

/// Parses a business-day start, `HH:MM` on a quarter hour. Quarter hours, because every zone's
/// offset from UTC is a whole number of quarter hours, so a report can add up sales in
/// 15-minute buckets of UTC and give each bucket to exactly one local hour and business day.
pub fn parse_day_start(s: &str) -> Result<Time, CalendarError> {
    let bad = || CalendarError::BadDayStart(crate::text::clip(s, 40));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    if !(0..24).contains(&h) || !(0..60).contains(&m) || m % 15 != 0 {
        return Err(bad());
    }
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// Checks an IANA zone name.
pub fn check_zone(name: &str) -> Result<TimeZone, CalendarError> {
    if name.is_empty() || name.len() > 64 {
        return Err(CalendarError::UnknownZone(crate::text::clip(name, 64)));
    }
    TimeZone::get(name).map_err(|_| CalendarError::UnknownZone(name.to_string()))
}

impl StoreClock {
    /// The clock of a store in `zone` whose business day starts at `day_start` (`HH:MM`).
    pub fn new(zone: &str, day_start: &str) -> Result<StoreClock, CalendarError> {
        Ok(StoreClock {
            tz: check_zone(zone)?,
            zone: zone.to_string(),
            day_start: parse_day_start(day_start)?,
        })
    }

    /// UTC with days starting at midnight.
    pub fn utc() -> StoreClock {
        StoreClock {
            tz: TimeZone::UTC,
            zone: DEFAULT_ZONE.into(),
            day_start: Time::midnight(),
        }
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// `HH:MM`.
    pub fn day_start(&self) -> String {
        format!(
            "{:02}:{:02}",
            self.day_start.hour(),
            self.day_start.minute()
        )
    }

    fn zoned(&self, ms: Timestamp) -> Result<Zoned, CalendarError> {
        let ts = JiffTs::from_millisecond(ms).map_err(|_| CalendarError::OutOfRange(ms))?;
        Ok(ts.to_zoned(self.tz.clone()))
    }

    /// The instant (ms) where business day `day` starts. A start that falls in a spring-forward
    /// gap moves to the first instant after it; one that falls twice (fall back) is the first.
    pub fn day_start_ms(&self, day: Day) -> Result<Timestamp, CalendarError> {
        let z = day
            .to_datetime(self.day_start)
            .to_zoned(self.tz.clone())
            .map_err(|_| CalendarError::BadDate(day.to_string()))?;
        Ok(z.timestamp().as_millisecond())
    }

    /// `[start, end)` of business day `day`, in ms since the epoch.
    pub fn day_bounds(&self, day: Day) -> Result<(Timestamp, Timestamp), CalendarError> {
        let next = day
            .tomorrow()
            .map_err(|_| CalendarError::BadDate(day.to_string()))?;
        Ok((self.day_start_ms(day)?, self.day_start_ms(next)?))
    }

    /// The business day holding the instant `ms`.
    pub fn business_day(&self, ms: Timestamp) -> Result<Day, CalendarError> {
        let date = self.zoned(ms)?.date();
        if ms < self.day_start_ms(date)? {
            date.yesterday().map_err(|_| CalendarError::OutOfRange(ms))
        } else {
            Ok(date)
        }
    }

    /// The local hour (0–23) of the instant, by the wall clock.
    pub fn local_hour(&self, ms: Timestamp) -> Result<i8, CalendarError> {
        Ok(self.zoned(ms)?.hour())
    }

    /// `YYYY-MM-DD HH:MM`, local time (receipts, lists).
    pub fn date_time(&self, ms: Timestamp) -> String {
        match self.zoned(ms) {
            Ok(z) => z.strftime("%Y-%m-%d %H:%M").to_string(),
            Err(_) => format!("@{ms}"),
        }
    }

    /// `HH:MM:SS ZONE`, local time, with the zone's abbreviation (`CET`, `CEST`, `UTC`).
    pub fn time_of_day(&self, ms: Timestamp) -> String {
        match self.zoned(ms) {
            Ok(z) => z.strftime("%H:%M:%S %Z").to_string(),
            Err(_) => format!("@{ms}"),
        }
    }

    /// RFC 3339 with the local offset, `2026-03-29T04:00:00+02:00` (exports).
    pub fn rfc3339(&self, ms: Timestamp) -> String {
        match self.zoned(ms) {
            Ok(z) => z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            Err(_) => format!("@{ms}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Timestamp {
        s.parse::<JiffTs>().unwrap().as_millisecond()
    }

    #[test]
    fn a_bar_open_past_midnight_counts_2am_on_the_day_before() {
        let c = StoreClock::new("Europe/Berlin", "04:00").unwrap();
        // 01:30 local on 2026-06-13 is 23:30 UTC the day before.
        let d = c.business_day(ms("2026-06-12T23:30:00Z")).unwrap();
        assert_eq!(d.to_string(), "2026-06-12");
        let d = c.business_day(ms("2026-06-13T02:00:00Z")).unwrap();
        assert_eq!(d.to_string(), "2026-06-13");
    }

    #[test]
    fn daylight_saving_days_are_23_and_25_hours_long() {
        let c = StoreClock::new("Europe/Paris", "04:00").unwrap();
        let (s, e) = c.day_bounds(parse_day("2026-03-28").unwrap()).unwrap();
        assert_eq!(
            e - s,
            23 * 3_600_000,
            "spring forward in the night of 28 to 29 March"
        );
        let (s, e) = c.day_bounds(parse_day("2026-10-24").unwrap()).unwrap();
        assert_eq!(
            e - s,
            25 * 3_600_000,
            "fall back in the night of 24 to 25 October"
        );
        let (s, e) = c.day_bounds(parse_day("2026-06-01").unwrap()).unwrap();
        assert_eq!(e - s, 24 * 3_600_000);
    }

    #[test]
    fn a_day_start_inside_the_spring_gap_moves_past_it_and_every_instant_has_one_day() {
        // New York springs forward at 02:00 → 03:00 on 2026-03-08.
        let c = StoreClock::new("America/New_York", "02:30").unwrap();
        let day = parse_day("2026-03-08").unwrap();
        let (s, e) = c.day_bounds(day).unwrap();
        assert_eq!(c.rfc3339(s), "2026-03-08T03:30:00-04:00");
        for t in (s - 3_600_000..e + 3_600_000).step_by(900_000) {
            let d = c.business_day(t).unwrap();
            let (ds, de) = c.day_bounds(d).unwrap();
            assert!(ds <= t && t < de, "{t} is not inside its own day {d}");
        }
    }

    #[test]
    fn every_instant_of_a_fall_back_night_is_inside_its_days_bounds() {
        let c = StoreClock::new("Europe/Paris", "02:30").unwrap();
        let start = ms("2026-10-24T00:00:00Z");
        for t in (start..start + 2 * 86_400_000).step_by(60_000) {
            let d = c.business_day(t).unwrap();
            let (ds, de) = c.day_bounds(d).unwrap();
            assert!(ds <= t && t < de, "{t} is not inside its own day {d}");
        }
    }

    #[test]
    fn zones_and_day_starts_are_checked() {
        assert_eq!(
            StoreClock::new("Mars/Olympus", "04:00").unwrap_err(),
            CalendarError::UnknownZone("Mars/Olympus".into())
        );
        for bad in ["4:00", "24:00", "04:10", "04-00", "", "0400", "aa:bb"] {
            assert!(
                matches!(parse_day_start(bad), Err(CalendarError::BadDayStart(_))),
                "{bad:?} accepted"
            );
        }
        assert!(parse_day("2026-02-30").is_err());
        assert!(parse_day("2026-2-3").is_err());
        assert_eq!(
            StoreClock::new("Asia/Kolkata", "23:45")
                .unwrap()
                .day_start(),
            "23:45"
        );
    }

    #[test]
    fn local_text_shows_the_zones_abbreviation() {
        let c = StoreClock::new("Europe/Paris", "00:00").unwrap();
        assert_eq!(c.time_of_day(ms("2026-01-15T12:00:00Z")), "13:00:00 CET");
        assert_eq!(c.time_of_day(ms("2026-07-15T12:00:00Z")), "14:00:00 CEST");
        assert_eq!(c.date_time(ms("2026-07-15T12:00:00Z")), "2026-07-15 14:00");
    }
}
