//! Wall-clock text in the **store's** time zone, for receipts, tickets, X/Z reports and
//! messages: never the device's own zone, so a till whose system clock is set to another zone
//! still prints the store's time.
//!
//! The zone and the business day are the store's settings (`StoreSettings::time_zone`,
//! `business_day_start`), read through `pos_core::calendar::StoreClock` (jiff and the IANA
//! database); no calendar arithmetic is written here. Settings that are missing, or that name a
//! zone this device's time-zone database does not know, give UTC, and then every text says
//! `UTC`, so a receipt never shows a time that looks local and is not. Nothing here panics.

use pos_core::calendar::StoreClock;
use pos_core::catalog::StoreSettings;
use pos_core::store::Store;

/// The store's clock, as the app's texts use it.
#[derive(Debug, Clone)]
pub struct Clock {
    clock: StoreClock,
    /// The store's zone could not be had: the times are UTC and say so.
    fallback: bool,
}

impl Clock {
    /// The clock of a store with these settings (UTC, labelled, if their zone is unknown here).
    pub fn of_settings(settings: &StoreSettings) -> Clock {
        match settings.clock() {
            Ok(clock) => Clock {
                clock,
                fallback: false,
            },
            Err(_) => Clock::fallback(),
        }
    }

    /// The clock of the store (UTC, labelled, while it has no settings).
    pub fn of_store(store: &Store) -> Clock {
        store
            .settings()
            .map(Clock::of_settings)
            .unwrap_or_else(|_| Clock::fallback())
    }

    /// UTC, for when the store's zone cannot be had.
    pub fn fallback() -> Clock {
        Clock {
            clock: StoreClock::utc(),
            fallback: true,
        }
    }

    /// The core clock (zone, business day).
    pub fn store_clock(&self) -> &StoreClock {
        &self.clock
    }

    /// `YYYY-MM-DD HH:MM` in the store's zone (receipts, tickets, reports); with ` UTC` after
    /// it when the store's zone could not be had.
    pub fn date_time(&self, ms: i64) -> String {
        let text = self.clock.date_time(ms);
        match self.fallback {
            true => format!("{text} UTC"),
            false => text,
        }
    }

    /// `YYYY-MM-DD HH:MM ZONE` in the store's zone (X/Z report periods): the zone's
    /// abbreviation tells apart the two 02:30s of a fall-back night (`CEST`, then `CET`).
    pub fn date_time_zone(&self, ms: i64) -> String {
        let time = self.clock.time_of_day(ms);
        match time.split_once(' ') {
            Some((_, zone)) => format!("{} {zone}", self.clock.date_time(ms)),
            // Out of the calendar's range: core's text for it, as it is.
            None => time,
        }
    }

    /// `HH:MM:SS ZONE` in the store's zone (messages), the zone's abbreviation telling summer
    /// from winter time (`CEST`, `CET`).
    pub fn time_of_day(&self, ms: i64) -> String {
        self.clock.time_of_day(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-07-15T12:00:00Z and 2026-01-15T12:00:00Z.
    const JULY_NOON_UTC: i64 = 1_784_116_800_000;
    const JANUARY_NOON_UTC: i64 = 1_768_478_400_000;

    fn settings_in(zone: &str) -> StoreSettings {
        StoreSettings {
            time_zone: zone.into(),
            ..pos_core::demo::settings()
        }
    }

    #[test]
    fn the_instants_of_these_tests_are_noon_utc() {
        assert_eq!(
            StoreClock::utc().date_time(JULY_NOON_UTC),
            "2026-07-15 12:00"
        );
        assert_eq!(
            StoreClock::utc().date_time(JANUARY_NOON_UTC),
            "2026-01-15 12:00"
        );
    }

    #[test]
    fn text_is_in_the_stores_zone_with_its_summer_and_winter_time() {
        let paris = Clock::of_settings(&settings_in("Europe/Paris"));
        assert_eq!(paris.date_time(JULY_NOON_UTC), "2026-07-15 14:00");
        assert_eq!(paris.time_of_day(JULY_NOON_UTC), "14:00:00 CEST");
        assert_eq!(paris.date_time(JANUARY_NOON_UTC), "2026-01-15 13:00");
        assert_eq!(paris.time_of_day(JANUARY_NOON_UTC), "13:00:00 CET");
        let tokyo = Clock::of_settings(&settings_in("Asia/Tokyo"));
        assert_eq!(tokyo.date_time(JULY_NOON_UTC), "2026-07-15 21:00");
        assert_eq!(tokyo.time_of_day(JANUARY_NOON_UTC), "21:00:00 JST");
        assert_eq!(tokyo.date_time_zone(JULY_NOON_UTC), "2026-07-15 21:00 JST");
    }

    #[test]
    fn the_two_half_past_twos_of_a_fall_back_night_differ_by_their_zone() {
        // 2026-10-25T00:30:00Z and 01:30:00Z: Paris shows 02:30 twice, in CEST then in CET.
        let (first, second) = (1_792_888_200_000, 1_792_891_800_000);
        let paris = Clock::of_settings(&settings_in("Europe/Paris"));
        assert_eq!(paris.date_time(first), paris.date_time(second));
        assert_eq!(paris.date_time_zone(first), "2026-10-25 02:30 CEST");
        assert_eq!(paris.date_time_zone(second), "2026-10-25 02:30 CET");
    }

    #[test]
    fn an_unknown_zone_gives_utc_that_says_so_and_never_panics() {
        let mars = Clock::of_settings(&settings_in("Mars/Olympus"));
        assert_eq!(mars.date_time(JULY_NOON_UTC), "2026-07-15 12:00 UTC");
        assert_eq!(mars.time_of_day(JULY_NOON_UTC), "12:00:00 UTC");
        assert_eq!(mars.date_time_zone(JULY_NOON_UTC), "2026-07-15 12:00 UTC");
        assert_eq!(mars.store_clock().zone(), "UTC");
        // An instant out of the calendar's range is text too.
        assert!(!mars.date_time(i64::MAX).is_empty());
        assert!(!mars.date_time_zone(i64::MAX).is_empty());
    }

    #[test]
    fn a_store_without_settings_gives_utc_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let identity = pos_core::store::DeviceIdentity {
            tenant_id: uuid::Uuid::now_v7(),
            store_id: uuid::Uuid::now_v7(),
            device_id: uuid::Uuid::now_v7(),
            store_code: "S01".into(),
            device_code: "T1".into(),
            kind: pos_core::auth::DeviceKind::Till,
        };
        let store = Store::create(&dir.path().join("s.sqlite"), identity).unwrap();
        assert!(store.settings().is_err());
        let clock = Clock::of_store(&store);
        assert_eq!(clock.date_time(JULY_NOON_UTC), "2026-07-15 12:00 UTC");
    }

    #[test]
    fn a_seeded_store_gives_its_settings_zone() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = pos_core::demo::seed(&dir.path().join("s.sqlite")).unwrap();
        // The demo store is in Europe/Berlin.
        let clock = Clock::of_store(&store);
        assert_eq!(clock.store_clock().zone(), "Europe/Berlin");
        assert_eq!(clock.time_of_day(JULY_NOON_UTC), "14:00:00 CEST");
    }
}
