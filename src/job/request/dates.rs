//! Calendar days for Linkis's built-in date variables: parsing and printing `yyyyMMdd` and
//! `yyyy-MM-dd`, and the shifts Linkis applies (days, and months the way `Calendar.add` does:
//! the day clamped to the end of a shorter month).
//!
//! Days are counted from 1970-01-01 with the clock module's civil-date conversions; a day is a
//! date with no time zone of its own (the variables module decides which day "today" is). Every
//! operation stays within the years 1 to 9999 or says it cannot, so no arithmetic a request asks
//! for can overflow or print a date no client could parse.

use crate::clock;

/// One calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(i64);

/// The first and last day this module represents (0001-01-01 and 9999-12-31).
const FIRST: i64 = -719_162;
const LAST: i64 = 2_932_896;

impl Day {
    /// The day `days` after 1970-01-01, when within the years 1 to 9999.
    pub fn from_days(days: i64) -> Option<Day> {
        (FIRST..=LAST).contains(&days).then_some(Day(days))
    }

    /// The day of a calendar date, when it is one (no 30 February).
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Day> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Day::from_days(clock::days_from_civil(year, month, day))
    }

    pub fn ymd(self) -> (i64, u32, u32) {
        clock::civil_from_days(self.0)
    }

    /// Reads `yyyyMMdd` or `yyyy-MM-dd`.
    pub fn parse(text: &str) -> Option<Day> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (year, month, day) = match text.len() {
            8 if digits(text) => (&text[..4], &text[4..6], &text[6..]),
            10 if text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-' => {
                let (y, m, d) = (&text[..4], &text[5..7], &text[8..]);
                if !(digits(y) && digits(m) && digits(d)) {
                    return None;
                }
                (y, m, d)
            }
            _ => return None,
        };
        Day::from_ymd(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
    }

    /// `yyyyMMdd`, or `yyyy-MM-dd` when `std`.
    pub fn format(self, std: bool) -> String {
        let (year, month, day) = self.ymd();
        if std {
            format!("{year:04}-{month:02}-{day:02}")
        } else {
            format!("{year:04}{month:02}{day:02}")
        }
    }

    /// `yyyyMM`, or `yyyy-MM` when `std`.
    pub fn format_month(self, std: bool) -> String {
        let (year, month, _) = self.ymd();
        if std {
            format!("{year:04}-{month:02}")
        } else {
            format!("{year:04}{month:02}")
        }
    }

    pub fn add_days(self, days: i64) -> Option<Day> {
        Day::from_days(self.0.checked_add(days)?)
    }

    /// The same day `months` later, clamped to the last day of a shorter month (31 March minus
    /// one month is 29 February in a leap year), as Java's `Calendar.add(MONTH, n)` does.
    pub fn add_months(self, months: i64) -> Option<Day> {
        let (year, month, day) = self.ymd();
        let index = year.checked_mul(12)?.checked_add(i64::from(month) - 1)?.checked_add(months)?;
        let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
        if !(1..=9999).contains(&year) {
            return None;
        }
        Day::from_ymd(year, month, day.min(days_in_month(year, month)))
    }

    /// The first day of the period of `months` months (1, 3, 6 or 12) this day falls in.
    pub fn period_begin(self, months: u32) -> Day {
        let (year, month, _) = self.ymd();
        let first_month = (month - 1) / months * months + 1;
        // A valid day's period begins on a valid day.
        Day::from_ymd(year, first_month, 1).unwrap_or(self)
    }

    /// The last day of that period.
    pub fn period_end(self, months: u32) -> Day {
        let (year, month, _) = self.ymd();
        let last_month = (month - 1) / months * months + months;
        Day::from_ymd(year, last_month, days_in_month(year, last_month)).unwrap_or(self)
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        Day::parse(text).unwrap_or_else(|| panic!("{text} is a date"))
    }

    #[test]
    fn parses_both_forms_and_refuses_non_dates() {
        assert_eq!(day("20240229"), day("2024-02-29"));
        assert_eq!(day("20240229").format(false), "20240229");
        assert_eq!(day("20240229").format(true), "2024-02-29");
        for bad in ["20230229", "2024-2-29", "2024022", "20241301", "2024-02-30", "abcdefgh", "2024/02/29", "00000101"]
        {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn shifts_days_and_months_as_java_calendar_does() {
        assert_eq!(day("20240301").add_days(-1), Some(day("20240229")));
        assert_eq!(day("20241231").add_days(1), Some(day("20250101")));
        assert_eq!(day("20240331").add_months(-1), Some(day("20240229")));
        assert_eq!(day("20230131").add_months(1), Some(day("20230228")));
        assert_eq!(day("20240115").add_months(-13), Some(day("20221215")));
        assert_eq!(day("99991231").add_days(1), None);
        assert_eq!(day("00010101").add_months(-1), None);
        assert_eq!(day("20240101").add_days(i64::MAX), None);
        assert_eq!(day("20240101").add_months(i64::MIN), None);
        assert_eq!(Day::from_ymd(1, 1, 1).map(|d| d.format(true)), Some("0001-01-01".into()));
        assert_eq!(Day::from_ymd(9999, 12, 31).map(|d| d.format(false)), Some("99991231".into()));
        assert_eq!(Day::from_ymd(10_000, 1, 1), None);
    }

    #[test]
    fn periods_begin_and_end_where_linkis_says() {
        let d = day("20240229");
        assert_eq!(
            (d.period_begin(1).format(false), d.period_end(1).format(false)),
            ("20240201".into(), "20240229".into())
        );
        assert_eq!(
            (d.period_begin(3).format(false), d.period_end(3).format(false)),
            ("20240101".into(), "20240331".into())
        );
        assert_eq!(
            (d.period_begin(6).format(false), d.period_end(6).format(false)),
            ("20240101".into(), "20240630".into())
        );
        assert_eq!(
            (d.period_begin(12).format(false), d.period_end(12).format(false)),
            ("20240101".into(), "20241231".into())
        );
        let d = day("20211115");
        assert_eq!(
            (d.period_begin(3).format(true), d.period_end(3).format(true)),
            ("2021-10-01".into(), "2021-12-31".into())
        );
        assert_eq!(
            (d.period_begin(6).format(true), d.period_end(6).format(true)),
            ("2021-07-01".into(), "2021-12-31".into())
        );
    }
}
