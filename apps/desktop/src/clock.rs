//! Wall-clock text in the device's local time, for receipts, tickets, reports and messages.
//!
//! The offset from UTC at an instant comes from the C library (`localtime_r`, which reads `TZ`
//! or `/etc/localtime`, daylight saving included); the calendar arithmetic is ours, so no
//! time-zone database is bundled. Where the offset cannot be had, the text is UTC and says so.

/// Local civil time of `ms` since the epoch: (year, month, day, hour, minute, second) and the
/// zone's name (`CET`, `UTC`, ...).
pub fn local(ms: i64) -> ([i64; 6], String) {
    let secs = ms.div_euclid(1000);
    match offset_at(secs) {
        Some((offset, zone)) => (civil(secs + offset), zone),
        None => (civil(secs), "UTC".into()),
    }
}

/// `YYYY-MM-DD HH:MM`, local time.
pub fn date_time(ms: i64) -> String {
    let ([y, m, d, h, min, _], _) = local(ms);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}")
}

/// `HH:MM:SS ZONE`, local time.
pub fn time_of_day(ms: i64) -> String {
    let ([.., h, min, s], zone) = local(ms);
    format!("{h:02}:{min:02}:{s:02} {zone}")
}

/// Seconds since the epoch as UTC calendar fields (days-from-civil inverted, proleptic
/// Gregorian).
pub fn civil(secs: i64) -> [i64; 6] {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    [y, m, d, sod / 3600, (sod / 60) % 60, sod % 60]
}

#[cfg(unix)]
fn offset_at(secs: i64) -> Option<(i64, String)> {
    let t: libc::time_t = secs.try_into().ok()?;
    // SAFETY: `localtime_r` only writes the `tm` we own; `t` lives for the call. `tm_zone`
    // points into the C library's static zone table (or is null), read at once.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        Some((i64::from(tm.tm_gmtoff), zone))
    }
}

#[cfg(not(unix))]
fn offset_at(_secs: i64) -> Option<(i64, String)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_fields_from_the_epoch() {
        assert_eq!(civil(0), [1970, 1, 1, 0, 0, 0]);
        assert_eq!(civil(1_709_210_096), [2024, 2, 29, 12, 34, 56]);
        assert_eq!(civil(-1), [1969, 12, 31, 23, 59, 59]);
    }

    #[test]
    fn local_text_is_utc_shifted_by_the_c_library_offset() {
        let at = 1_709_210_096;
        let (offset, zone) = offset_at(at).unwrap_or((0, "UTC".into()));
        let [y, m, d, h, min, s] = civil(at + offset);
        assert_eq!(
            date_time(at * 1000),
            format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}")
        );
        assert_eq!(
            time_of_day(at * 1000),
            format!("{h:02}:{min:02}:{s:02} {zone}")
        );
    }
}
