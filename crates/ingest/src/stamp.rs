//! Calendar arithmetic and the timestamp grammars that syslog and log lines
//! use. Hand-written rather than through a date library because it runs for
//! every line: no allocation, no locale, integer math only.

use std::fmt;

const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// RFC 3164 year inference never places an event further ahead of its
/// receive time than this (half a year plus a day of slack).
pub(crate) const MAX_AHEAD_NS: i64 = 184 * SECS_PER_DAY * NS_PER_SEC;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A wall-clock time as written, before a zone is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanos: u32,
}

/// Why a well-formed stamp names no real instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Impossible {
    Month(u8),
    Day {
        year: Option<i64>,
        month: u8,
        day: u8,
    },
    Hour(u8),
    Minute(u8),
    Second(u8),
    Offset,
    OutOfRange,
}

impl fmt::Display for Impossible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Impossible::Month(m) => write!(f, "month {m} does not exist"),
            Impossible::Day { year, month, day } => {
                let name = MONTH_NAMES[usize::from(month.clamp(1, 12)) - 1];
                match year {
                    Some(y) => write!(f, "day {day} does not exist in {name} {y}"),
                    None => write!(f, "day {day} does not exist in {name}"),
                }
            }
            Impossible::Hour(h) => write!(f, "hour {h} does not exist"),
            Impossible::Minute(m) => write!(f, "minute {m} does not exist"),
            Impossible::Second(s) => write!(f, "second {s} does not exist"),
            Impossible::Offset => f.write_str("zone offset out of range"),
            Impossible::OutOfRange => f.write_str("outside the years 1678-2261 that can be stored"),
        }
    }
}

pub(crate) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(crate) fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil year of a day count (inverse of [`days_from_civil`], year only).
pub(crate) fn year_of_days(z: i64) -> i64 {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let y = yoe + era * 400;
    if mp >= 10 {
        y + 1
    } else {
        y
    }
}

impl Civil {
    pub(crate) fn check(&self) -> Result<(), Impossible> {
        if !(1..=12).contains(&self.month) {
            return Err(Impossible::Month(self.month));
        }
        if self.day == 0 || self.day > days_in_month(self.year, self.month) {
            return Err(Impossible::Day {
                year: Some(self.year),
                month: self.month,
                day: self.day,
            });
        }
        self.check_time()
    }

    fn check_time(&self) -> Result<(), Impossible> {
        if self.hour > 23 {
            return Err(Impossible::Hour(self.hour));
        }
        if self.minute > 59 {
            return Err(Impossible::Minute(self.minute));
        }
        // 60 is a leap second (RFC 3339); it reads as the next minute's :00.
        if self.second > 60 {
            return Err(Impossible::Second(self.second));
        }
        Ok(())
    }

    /// The instant this wall time names at `offset_secs` east of UTC.
    pub(crate) fn to_utc_ns(self, offset_secs: i32) -> Result<i64, Impossible> {
        self.check()?;
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days
            .checked_mul(SECS_PER_DAY)
            .and_then(|s| {
                s.checked_add(
                    i64::from(self.hour) * 3600
                        + i64::from(self.minute) * 60
                        + i64::from(self.second)
                        - i64::from(offset_secs),
                )
            })
            .ok_or(Impossible::OutOfRange)?;
        secs.checked_mul(NS_PER_SEC)
            .and_then(|ns| ns.checked_add(i64::from(self.nanos)))
            .ok_or(Impossible::OutOfRange)
    }
}

/// Reads a BSD stamp's missing year: the year (in the zone `offset_secs`)
/// that puts the stamp closest to `received_at_ns`, but never more than
/// [`MAX_AHEAD_NS`] after it. So `Dec 31 23:59:59` arriving on 1 January is
/// last year, and a sender a few seconds fast on New Year's Eve is next year.
/// 29 February looks back up to four years for a leap year.
pub(crate) fn infer_year(
    mut c: Civil,
    received_at_ns: i64,
    offset_secs: i32,
) -> Result<i64, Impossible> {
    if !(1..=12).contains(&c.month) {
        return Err(Impossible::Month(c.month));
    }
    // Days that exist in no year are reported without a year.
    let max_day = if c.month == 2 {
        29
    } else {
        days_in_month(2000, c.month)
    };
    if c.day == 0 || c.day > max_day {
        return Err(Impossible::Day {
            year: None,
            month: c.month,
            day: c.day,
        });
    }
    c.check_time()?;
    let local_secs = received_at_ns.div_euclid(NS_PER_SEC) + i64::from(offset_secs);
    let year = year_of_days(local_secs.div_euclid(SECS_PER_DAY));
    let mut best: Option<(i128, i64)> = None;
    for y in (year - 4..=year + 1).rev() {
        if c.day > days_in_month(y, c.month) {
            continue;
        }
        c.year = y;
        let Ok(ns) = c.to_utc_ns(offset_secs) else {
            continue;
        };
        let ahead = i128::from(ns) - i128::from(received_at_ns);
        if ahead > i128::from(MAX_AHEAD_NS) {
            continue;
        }
        let dist = ahead.abs();
        if best.is_none_or(|(d, _)| dist < d) {
            best = Some((dist, ns));
        }
    }
    best.map(|(_, ns)| ns).ok_or(Impossible::OutOfRange)
}

// ---- grammars -------------------------------------------------------------

#[inline]
pub(crate) fn digit(b: u8) -> Option<u8> {
    b.is_ascii_digit().then(|| b - b'0')
}

#[inline]
pub(crate) fn d2(s: &[u8], i: usize) -> Option<u8> {
    Some(digit(*s.get(i)?)? * 10 + digit(*s.get(i + 1)?)?)
}

#[inline]
fn d4(s: &[u8], i: usize) -> Option<i64> {
    Some(i64::from(d2(s, i)?) * 100 + i64::from(d2(s, i + 2)?))
}

/// `Jan`..`Dec`, any case.
pub(crate) fn month_abbrev(s: &[u8]) -> Option<u8> {
    let m = s.get(..3)?;
    let lower = [m[0] | 0x20, m[1] | 0x20, m[2] | 0x20];
    MONTHS
        .iter()
        .position(|name| **name == lower)
        .map(|i| i as u8 + 1)
}

/// Fractional seconds after the `.`: 1 to 9 digits. Returns nanoseconds and
/// the digits consumed.
fn fraction(s: &[u8], i: usize) -> Option<(u32, usize)> {
    let mut n = 0u32;
    let mut k = 0;
    while let Some(d) = s.get(i + k).and_then(|&b| digit(b)) {
        if k == 9 {
            return None;
        }
        n = n * 10 + u32::from(d);
        k += 1;
    }
    if k == 0 {
        return None;
    }
    Some((n * 10u32.pow(9 - k as u32), k))
}

/// `hh:mm:ss` at `i`.
fn hms(s: &[u8], i: usize) -> Option<(u8, u8, u8)> {
    if s.get(i + 2) != Some(&b':') || s.get(i + 5) != Some(&b':') {
        return None;
    }
    Some((d2(s, i)?, d2(s, i + 3)?, d2(s, i + 6)?))
}

/// Options for [`iso`].
#[derive(Clone, Copy)]
pub(crate) struct IsoRules {
    /// Accept a space between date and time (not RFC 3339, common in logs).
    pub space_sep: bool,
    /// Accept `,` before the fraction (Java's default).
    pub comma_frac: bool,
    /// A zone is required (RFC 5424).
    pub zone_required: bool,
}

pub(crate) const RFC3339: IsoRules = IsoRules {
    space_sep: false,
    comma_frac: false,
    zone_required: true,
};
pub(crate) const LENIENT: IsoRules = IsoRules {
    space_sep: true,
    comma_frac: true,
    zone_required: false,
};

/// An ISO 8601 / RFC 3339 stamp at the start of `s`:
/// `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)`. `None` if `s` does not have
/// that shape; a shape with impossible values is returned (check with
/// [`Civil::to_utc_ns`]). Returns the wall time, the zone if any, and the
/// length consumed.
pub(crate) fn iso(s: &[u8], rules: IsoRules) -> Option<(Civil, Option<i32>, usize)> {
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let year = d4(s, 0)?;
    let month = d2(s, 5)?;
    let day = d2(s, 8)?;
    match s.get(10)? {
        b'T' | b't' => {}
        b' ' if rules.space_sep => {}
        _ => return None,
    }
    let (hour, minute, second) = hms(s, 11)?;
    let mut i = 19;
    let mut nanos = 0;
    match s.get(i) {
        Some(b'.') => {
            let (n, k) = fraction(s, i + 1)?;
            nanos = n;
            i += 1 + k;
        }
        Some(b',') if rules.comma_frac => {
            let (n, k) = fraction(s, i + 1)?;
            nanos = n;
            i += 1 + k;
        }
        _ => {}
    }
    let zone = match s.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            Some(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = d2(s, i + 1)?;
            let mm = if s.get(i + 3) == Some(&b':') {
                let mm = d2(s, i + 4)?;
                i += 6;
                mm
            } else if !rules.zone_required {
                // `+0530`, common outside RFC 3339.
                let mm = d2(s, i + 3)?;
                i += 5;
                mm
            } else {
                return None;
            };
            let secs = if hh > 23 || mm > 59 {
                // Keep the shape; the caller reports it as impossible.
                i32::MAX
            } else {
                i32::from(hh) * 3600 + i32::from(mm) * 60
            };
            Some(if sign == b'-' && secs != i32::MAX {
                -secs
            } else {
                secs
            })
        }
        _ if rules.zone_required => return None,
        _ => None,
    };
    Some((
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
        },
        zone,
        i,
    ))
}

/// Converts an ISO stamp read by [`iso`]; a missing zone is `default_offset`.
pub(crate) fn iso_to_utc(
    c: &Civil,
    zone: Option<i32>,
    default_offset: i32,
) -> Result<(i64, i32, bool), Impossible> {
    let (offset, assumed) = match zone {
        Some(i32::MAX) => return Err(Impossible::Offset),
        Some(z) => (z, false),
        None => (default_offset, true),
    };
    Ok((c.to_utc_ns(offset)?, offset, assumed))
}

/// A BSD (RFC 3164) stamp at the start of `s`: `Mmm dd hh:mm:ss`, the day
/// padded with a space or a zero (or a single digit), optionally with
/// fractional seconds (`.123`, Cisco) or a year before the time
/// (`Mmm dd yyyy hh:mm:ss`, Cisco). Returns the wall time (year 0 if none
/// was written), whether a year was written, and the length consumed.
pub(crate) fn bsd(s: &[u8]) -> Option<(Civil, bool, usize)> {
    let month = month_abbrev(s)?;
    if s.get(3) != Some(&b' ') {
        return None;
    }
    let (day, mut i) = match (s.get(4)?, s.get(5)?) {
        (b' ', &d) => (digit(d)?, 6),
        (&a, b' ') => (digit(a)?, 5),
        (&a, &b) => (digit(a)? * 10 + digit(b)?, 6),
    };
    if s.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let mut year = None;
    if s.get(i + 4) == Some(&b' ') {
        year = Some(d4(s, i)?);
        i += 5;
    }
    let (hour, minute, second) = hms(s, i)?;
    i += 8;
    let mut nanos = 0;
    if s.get(i) == Some(&b'.') {
        if let Some((n, k)) = fraction(s, i + 1) {
            nanos = n;
            i += 1 + k;
        }
    }
    Some((
        Civil {
            year: year.unwrap_or(0),
            month,
            day,
            hour,
            minute,
            second,
            nanos,
        },
        year.is_some(),
        i,
    ))
}

/// Apache error-log stamp `[Www Mmm dd hh:mm:ss yyyy]`.
pub(crate) fn apache(s: &[u8]) -> Option<(Civil, usize)> {
    if s.first() != Some(&b'[') || s.get(4) != Some(&b' ') || s.get(25) != Some(&b']') {
        return None;
    }
    let (mut c, has_year, n) = bsd(&s[5..])?;
    // `Mmm dd hh:mm:ss yyyy`: the year comes after the time here.
    if has_year || n != 15 || s.get(20) != Some(&b' ') {
        return None;
    }
    c.year = d4(s, 21)?;
    Some((c, 26))
}

/// HDFS `yyMMdd hhmmss` (years 2000-2099).
pub(crate) fn compact(s: &[u8]) -> Option<(Civil, usize)> {
    if s.get(6) != Some(&b' ') || s.get(13) != Some(&b' ') {
        return None;
    }
    Some((
        Civil {
            year: 2000 + i64::from(d2(s, 0)?),
            month: d2(s, 2)?,
            day: d2(s, 4)?,
            hour: d2(s, 7)?,
            minute: d2(s, 9)?,
            second: d2(s, 11)?,
            nanos: 0,
        },
        13,
    ))
}

/// Spark / log4j `yy/MM/dd hh:mm:ss` (years 2000-2099).
pub(crate) fn slashed(s: &[u8]) -> Option<(Civil, usize)> {
    if s.get(2) != Some(&b'/') || s.get(5) != Some(&b'/') || s.get(8) != Some(&b' ') {
        return None;
    }
    let (hour, minute, second) = hms(s, 9)?;
    Some((
        Civil {
            year: 2000 + i64::from(d2(s, 0)?),
            month: d2(s, 3)?,
            day: d2(s, 6)?,
            hour,
            minute,
            second,
            nanos: 0,
        },
        17,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(year: i64, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Civil {
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos: 0,
        }
    }

    #[test]
    fn day_math_matches_jiff() {
        for days in (-800_000..800_000).step_by(997) {
            let d = jiff::civil::Date::new(1970, 1, 1)
                .unwrap()
                .checked_add(jiff::Span::new().days(days))
                .unwrap();
            assert_eq!(
                days_from_civil(i64::from(d.year()), d.month() as u8, d.day() as u8),
                days
            );
            assert_eq!(year_of_days(days), i64::from(d.year()));
        }
    }

    #[test]
    fn converts_with_offset() {
        // 2026-03-03T14:02:11+05:30 = 2026-03-03T08:32:11Z
        let c = civil(2026, 3, 3, 14, 2, 11);
        assert_eq!(c.to_utc_ns(19800).unwrap(), 1_772_526_731_000_000_000);
    }

    #[test]
    fn impossible_dates() {
        assert_eq!(
            civil(2026, 2, 29, 0, 0, 0).check(),
            Err(Impossible::Day {
                year: Some(2026),
                month: 2,
                day: 29
            })
        );
        assert!(civil(2024, 2, 29, 0, 0, 0).check().is_ok());
        assert_eq!(
            civil(2026, 13, 1, 0, 0, 0).check(),
            Err(Impossible::Month(13))
        );
        assert_eq!(
            civil(2026, 1, 1, 25, 0, 0).check(),
            Err(Impossible::Hour(25))
        );
        assert_eq!(
            civil(9999, 1, 1, 0, 0, 0).to_utc_ns(0),
            Err(Impossible::OutOfRange)
        );
        assert_eq!(
            Impossible::Day {
                year: Some(2026),
                month: 2,
                day: 30
            }
            .to_string(),
            "day 30 does not exist in February 2026"
        );
    }

    #[test]
    fn year_inference() {
        let ist = 19800;
        // Received 2026-01-01T00:00:05+05:30.
        let recv = civil(2026, 1, 1, 0, 0, 5).to_utc_ns(ist).unwrap();
        let dec31 = civil(0, 12, 31, 23, 59, 59);
        assert_eq!(
            infer_year(dec31, recv, ist).unwrap(),
            civil(2025, 12, 31, 23, 59, 59).to_utc_ns(ist).unwrap()
        );
        // Received 2025-12-31T23:59:58+05:30, sender two seconds fast.
        let recv = civil(2025, 12, 31, 23, 59, 58).to_utc_ns(ist).unwrap();
        let jan1 = civil(0, 1, 1, 0, 0, 0);
        assert_eq!(
            infer_year(jan1, recv, ist).unwrap(),
            civil(2026, 1, 1, 0, 0, 0).to_utc_ns(ist).unwrap()
        );
        // Feb 29 received in 2026 is 2024, not 2028.
        let recv = civil(2026, 3, 10, 0, 0, 0).to_utc_ns(ist).unwrap();
        let feb29 = civil(0, 2, 29, 1, 0, 0);
        assert_eq!(
            infer_year(feb29, recv, ist).unwrap(),
            civil(2024, 2, 29, 1, 0, 0).to_utc_ns(ist).unwrap()
        );
        assert!(infer_year(civil(0, 2, 30, 0, 0, 0), recv, ist).is_err());
    }

    #[test]
    fn grammars() {
        let (c, z, n) = iso(b"2026-11-27T21:09:49.123456+00:00 x", RFC3339).unwrap();
        assert_eq!((c.nanos, z, n), (123_456_000, Some(0), 32));
        assert!(iso(b"2026-11-27 21:09:49Z", RFC3339).is_none());
        assert!(iso(b"2026-11-27T21:09:49", RFC3339).is_none());
        assert!(iso(b"2026-11-27T21:09:49.1234567890Z", RFC3339).is_none());
        let (c, z, n) = iso(b"2015-10-18 18:01:47,978 INFO", LENIENT).unwrap();
        assert_eq!((c.hour, c.nanos, z, n), (18, 978_000_000, None, 23));
        let (c, has_year, n) = bsd(b"Dec  5 06:55:46 x").unwrap();
        assert_eq!((c.month, c.day, has_year, n), (12, 5, false, 15));
        let (c, has_year, n) = bsd(b"Jan 01 2026 10:00:00.123: x").unwrap();
        assert_eq!(
            (c.year, c.nanos, has_year, n),
            (2026, 123_000_000, true, 24)
        );
        assert!(bsd(b"Decx 5 06:55:46").is_none());
        let (c, n) = apache(b"[Sun Dec 04 04:47:44 2005] [notice]").unwrap();
        assert_eq!((c.year, c.month, c.day, n), (2005, 12, 4, 26));
        let (c, _) = compact(b"081109 203615 148 INFO").unwrap();
        assert_eq!((c.year, c.month, c.hour, c.second), (2008, 11, 20, 15));
        let (c, _) = slashed(b"17/06/09 20:10:40 INFO").unwrap();
        assert_eq!((c.year, c.month, c.day, c.minute), (2017, 6, 9, 10));
    }
}
