//! When a scheduled oneshot runs: cron expressions and `@every` intervals.
//!
//! Hand-rolled rather than a crate: the cron crates on crates.io (`cron`, `croner`,
//! `saffron`) compute times with chrono (and chrono-tz for named zones), which costs far more
//! of the static binary's size budget than the few hundred lines here (see README,
//! "Dependencies"). Pure: times are Unix seconds passed in, so tests control the clock.
//!
//! Supported: the five Vixie-cron fields (minute hour day-of-month month day-of-week) with
//! `*`, numbers, ranges `a-b`, steps `*/n` `a-b/n` `a/n`, lists `a,b`, month and weekday
//! names (`jan`, `mon`), 7 as Sunday; the macros `@yearly` `@annually` `@monthly` `@weekly`
//! `@daily` `@midnight` `@hourly`; and `@every <duration>`. When both day fields are
//! restricted (neither starts with `*`), a day matches if *either* does, as in Vixie cron.
//! `@reboot` is refused: a oneshot without `schedule` already runs once at start.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Cron(Cron),
    /// Every so long, counted from pidone's start (monotonic; not aligned to the clock).
    Every(Duration),
}

/// A UTC offset in seconds east of Greenwich. Named zones (Europe/Berlin) are not
/// supported: their DST rules live in tzdata, which minimal images lack.
pub type Offset = i32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// The field began with `*`: Vixie cron then ANDs the two day fields instead of ORing.
    days_star: bool,
    weekdays_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// How far ahead `next_after` looks for a matching day: more than a full leap-year cycle, so
/// `0 0 29 2 *` is found from any date; an expression with no match in that span never fires.
const SEARCH_DAYS: i64 = 366 * 9;

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("@every") {
            let d = crate::values::parse_duration(rest.trim())
                .map_err(|e| format!("`@every` needs a duration like \"15m\": {e}"))?;
            if d < Duration::from_secs(1) {
                return Err("`@every` needs at least 1s".into());
            }
            return Ok(Schedule::Every(d));
        }
        let expr = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            "@reboot" => {
                return Err(
                    "`@reboot` is not supported: a oneshot without `schedule` runs once at start"
                        .into(),
                );
            }
            t if t.starts_with('@') => {
                return Err(format!(
                    "unknown macro `{t}`; use @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>"
                ));
            }
            t => t,
        };
        Cron::parse(expr).map(Schedule::Cron)
    }
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {}",
                fields.len()
            ));
        }
        let minutes = field(fields[0], "minute", 0, 59, &[])?;
        let hours = field(fields[1], "hour", 0, 23, &[])?;
        let days = field(fields[2], "day-of-month", 1, 31, &[])?;
        let months = field(fields[3], "month", 1, 12, &MONTHS)?;
        // 7 is Sunday too; fold it onto 0.
        let mut weekdays = field(fields[4], "day-of-week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        let cron = Cron {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            days_star: fields[2].starts_with('*'),
            weekdays_star: fields[4].starts_with('*'),
        };
        if cron.next_after(0, 0).is_none() {
            return Err(format!("`{expr}` never fires (no such date)"));
        }
        Ok(cron)
    }

    fn day_matches(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching minute of a day at or after `from` (minutes since midnight).
    fn first_minute_from(&self, from: i64) -> Option<i64> {
        (from / 60..24).find_map(|h| {
            if self.hours & (1 << h) == 0 {
                return None;
            }
            let start = if h == from / 60 { from % 60 } else { 0 };
            (start..60)
                .find(|m| self.minutes & (1 << m) != 0)
                .map(|m| h * 60 + m)
        })
    }

    /// The first firing time strictly after `after` (Unix seconds), in a zone `offset`
    /// seconds east of UTC. `None` if nothing matches within nine years.
    pub fn next_after(&self, after: i64, offset: Offset) -> Option<i64> {
        let local = after + i64::from(offset);
        let first = local.div_euclid(60) + 1;
        let first_day = first.div_euclid(1440);
        let mut from = first.rem_euclid(1440);
        for day in first_day..first_day + SEARCH_DAYS {
            let (_, month, dom) = crate::values::civil_from_days(day);
            // 1970-01-01 was a Thursday (4).
            let weekday = (day + 4).rem_euclid(7) as u32;
            if self.day_matches(month, dom, weekday)
                && let Some(m) = self.first_minute_from(from)
            {
                return Some(day * 86400 + m * 60 - i64::from(offset));
            }
            from = 0;
        }
        None
    }
}

/// One cron field as a bit set of the values it allows.
fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(n) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names count from 1, weekday names from 0 (Sunday).
            return Ok(n as u32 + min);
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("{what} field: `{s}` is not a number"))?;
        if v < min || v > max {
            return Err(format!("{what} field: {v} is out of range {min}-{max}"));
        }
        Ok(v)
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("{what} field: step `{s}` is not a positive number")
                    })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("{what} field: range `{range}` runs backwards"));
            }
            (a, b)
        } else if range.is_empty() {
            return Err(format!("{what} field: empty item in `{text}`"));
        } else {
            let a = value(range)?;
            // `a/n` means from a to the end, stepping n (as cronie reads it).
            (a, if item.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

/// Parse a `timezone` value: `UTC`/`Z`, or a fixed offset `+HH:MM` / `-HH:MM` / `+HH`.
pub fn parse_offset(text: &str) -> Result<Offset, String> {
    let t = text.trim();
    if matches!(t, "UTC" | "utc" | "Z" | "Etc/UTC" | "GMT") {
        return Ok(0);
    }
    let bad = || {
        format!(
            "`{t}` is not a supported time zone: use \"UTC\" or a fixed offset like \"+02:00\" (named zones with daylight saving are not supported)"
        )
    };
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Seconds since 1970 for a UTC date and time; tests and the loop's log lines use it.
pub fn unix_from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if mo > 2 { mo - 3 } else { mo + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86400 + i64::from(h) * 3600 + i64::from(mi) * 60
}

/// `2026-12-02 03:00:00Z`, for log lines.
pub fn format_utc(unix: i64) -> String {
    let (y, m, d) = crate::values::civil_from_days(unix.div_euclid(86400));
    let s = unix.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        unix_from_civil(y, mo, d, h, mi)
    }

    fn next(expr: &str, from: i64) -> i64 {
        match Schedule::parse(expr).unwrap() {
            Schedule::Cron(c) => c.next_after(from, 0).unwrap(),
            Schedule::Every(_) => panic!("not cron"),
        }
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(at(1970, 1, 1, 0, 0), 0);
        assert_eq!(at(2000, 3, 1, 0, 0), 951_868_800);
        for day in [-800_000i64, -1, 0, 59, 11_016, 20_000, 400_000] {
            let (y, m, d) = crate::values::civil_from_days(day);
            assert_eq!(at(y, m, d, 0, 0), day * 86400);
        }
        assert_eq!(
            format_utc(at(2026, 12, 2, 3, 4) + 5),
            "2026-12-02 03:04:05Z"
        );
    }

    #[test]
    fn daily_at_three() {
        assert_eq!(
            next("0 3 * * *", at(2026, 1, 1, 2, 59)),
            at(2026, 1, 1, 3, 0)
        );
        // Strictly after: at exactly 03:00 the next one is tomorrow.
        assert_eq!(
            next("0 3 * * *", at(2026, 1, 1, 3, 0)),
            at(2026, 1, 2, 3, 0)
        );
        assert_eq!(
            next("0 3 * * *", at(2026, 1, 1, 3, 0) + 59),
            at(2026, 1, 2, 3, 0)
        );
    }

    #[test]
    fn month_and_year_ends() {
        assert_eq!(
            next("0 0 1 * *", at(2026, 1, 31, 12, 0)),
            at(2026, 2, 1, 0, 0)
        );
        assert_eq!(
            next("@yearly", at(2026, 12, 31, 23, 59)),
            at(2027, 1, 1, 0, 0)
        );
        assert_eq!(
            next("30 12 31 * *", at(2026, 4, 1, 0, 0)),
            at(2026, 5, 31, 12, 30)
        );
        assert_eq!(
            next("*/15 * * * *", at(2026, 12, 31, 23, 50)),
            at(2027, 1, 1, 0, 0)
        );
    }

    #[test]
    fn february_29_waits_for_a_leap_year() {
        assert_eq!(
            next("0 0 29 2 *", at(2026, 3, 1, 0, 0)),
            at(2028, 2, 29, 0, 0)
        );
        assert_eq!(
            next("0 0 29 feb *", at(2028, 2, 28, 23, 0)),
            at(2028, 2, 29, 0, 0)
        );
        // 2100 is not a leap year.
        assert_eq!(
            next("0 0 29 2 *", at(2096, 3, 1, 0, 0)),
            at(2104, 2, 29, 0, 0)
        );
    }

    #[test]
    fn day_fields_or_when_both_restricted_and_when_one_is_star() {
        // 2026-03-01 is a Sunday. The 15th or any Monday.
        assert_eq!(
            next("0 0 15 * mon", at(2026, 3, 1, 0, 0)),
            at(2026, 3, 2, 0, 0)
        );
        assert_eq!(
            next("0 0 15 * 1", at(2026, 3, 10, 0, 0)),
            at(2026, 3, 15, 0, 0)
        );
        // With a star day-of-month only the weekday counts; 7 is Sunday.
        assert_eq!(
            next("0 0 * * 7", at(2026, 3, 2, 0, 0)),
            at(2026, 3, 8, 0, 0)
        );
        assert_eq!(next("@weekly", at(2026, 3, 2, 0, 0)), at(2026, 3, 8, 0, 0));
        // `*/2` begins with a star: AND, as Vixie cron reads it.
        assert_eq!(
            next("0 0 */2 * mon", at(2026, 3, 1, 0, 0)),
            at(2026, 3, 9, 0, 0)
        );
    }

    #[test]
    fn ranges_steps_lists_and_names() {
        let from = at(2026, 6, 1, 0, 0); // a Monday
        assert_eq!(next("5,35 8-10/2 * * *", from), at(2026, 6, 1, 8, 5));
        assert_eq!(
            next("5,35 8-10/2 * * *", at(2026, 6, 1, 8, 5)),
            at(2026, 6, 1, 8, 35)
        );
        assert_eq!(
            next("5,35 8-10/2 * * *", at(2026, 6, 1, 8, 35)),
            at(2026, 6, 1, 10, 5)
        );
        assert_eq!(next("0 9 * * sat,sun", from), at(2026, 6, 6, 9, 0));
        assert_eq!(next("0 9 1 dec *", from), at(2026, 12, 1, 9, 0));
        assert_eq!(
            next("50/5 * * * *", at(2026, 6, 1, 0, 56)),
            at(2026, 6, 1, 1, 50)
        );
        assert_eq!(next("@hourly", at(2026, 6, 1, 0, 56)), at(2026, 6, 1, 1, 0));
    }

    #[test]
    fn fixed_offsets() {
        let c = match Schedule::parse("0 3 * * *").unwrap() {
            Schedule::Cron(c) => c,
            _ => unreachable!(),
        };
        // 03:00 at +02:00 is 01:00 UTC; at -05:00 it is 08:00 UTC.
        let plus2 = parse_offset("+02:00").unwrap();
        assert_eq!(
            c.next_after(at(2026, 1, 1, 0, 0), plus2),
            Some(at(2026, 1, 1, 1, 0))
        );
        let minus5 = parse_offset("-05").unwrap();
        assert_eq!(
            c.next_after(at(2026, 1, 1, 0, 0), minus5),
            Some(at(2026, 1, 1, 8, 0))
        );
        assert_eq!(parse_offset("+05:30"), Ok(5 * 3600 + 1800));
        assert_eq!(parse_offset("UTC"), Ok(0));
        assert!(
            parse_offset("Europe/Berlin")
                .unwrap_err()
                .contains("fixed offset")
        );
        assert!(parse_offset("+25:00").is_err());
    }

    #[test]
    fn every_and_bad_input() {
        assert_eq!(
            Schedule::parse("@every 15m"),
            Ok(Schedule::Every(Duration::from_secs(900)))
        );
        assert_eq!(
            Schedule::parse("@every 2s"),
            Ok(Schedule::Every(Duration::from_secs(2)))
        );
        for (bad, says) in [
            ("@every 0s", "at least 1s"),
            ("@every soon", "duration"),
            ("@reboot", "not supported"),
            ("@often", "unknown macro"),
            ("0 3 * *", "5 fields"),
            ("60 * * * *", "out of range 0-59"),
            ("0 24 * * *", "out of range 0-23"),
            ("0 0 0 * *", "out of range 1-31"),
            ("0 0 * 13 *", "out of range 1-12"),
            ("0 0 * * 8", "out of range 0-7"),
            ("0 0 * * funday", "not a number"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("1,,2 * * * *", "empty item"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
