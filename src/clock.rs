//! Wall-clock and calendar helpers: epoch milliseconds for the wire, local time for log lines,
//! UTC dates for the data directory's day folders, and parsing of UTC dates in the config.
//!
//! Linkis clients expect dates as epoch-millisecond numbers and log lines stamped
//! `yyyy-MM-dd HH:mm:ss.SSS` in the server's local time. Monotonic time (`Instant`) is used for
//! every duration the server measures; this module is only about what people and clients read,
//! and knows nothing of jobs or HTTP.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// The UTC calendar date of `millis`, as `YYYY-MM-DD` (the day folders of the data directory).
pub fn utc_date(millis: u64) -> String {
    let (year, month, day) = civil_from_days((millis / DAY_MS) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Milliseconds since the Unix epoch, as Linkis serializes every date.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Formats `millis` as a Linkis log timestamp in local time, e.g. `2024-05-01 10:07:33.007`.
///
/// Linkis itself prints the minute where the milliseconds belong (a bug in its pattern); we print
/// real milliseconds, which every client's level regex accepts just the same.
pub fn log_timestamp(millis: u64) -> String {
    let seconds = (millis / 1000) as libc::time_t;
    // SAFETY: `tm` is plain old data that localtime_r fills in completely; both pointers are valid
    // for the duration of the call and localtime_r is the thread-safe variant.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return utc_timestamp(millis);
        }
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        millis % 1000
    )
}

/// The same format in UTC, for the unlikely case the C library cannot convert to local time.
fn utc_timestamp(millis: u64) -> String {
    let (year, month, day) = civil_from_days((millis / DAY_MS) as i64);
    let in_day = millis % DAY_MS;
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        year,
        month,
        day,
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        millis % 1000
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC) into epoch milliseconds.
pub fn parse_utc_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let seconds_in_day = match time {
        None => 0,
        Some(time) => {
            let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
            let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
            if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
                return None;
            }
            h * 3600 + m * 60 + s
        }
    };
    let days = days_from_civil(year, month, day);
    u64::try_from(days).ok().map(|d| (d * 86_400 + seconds_in_day) * 1000)
}

/// Days since 1970-01-01 of a calendar date (the inverse of `civil_from_days`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_844), (2024, 5, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn timestamps_have_the_linkis_shape() {
        let stamp = log_timestamp(1_714_529_253_007);
        assert_eq!(stamp.len(), 23, "{stamp}");
        assert!(stamp.ends_with(".007"), "{stamp}");
        assert_eq!(utc_timestamp(1_714_529_253_007), "2024-05-01 02:07:33.007");
    }
}
