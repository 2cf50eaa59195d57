//! Times as shown to people: IST (+05:30) first, UTC alongside.

use jiff::{tz::Offset, Timestamp};

/// India Standard Time's offset from UTC, in seconds.
pub const IST_OFFSET_SECS: i32 = 5 * 3600 + 30 * 60;

pub fn ist() -> Offset {
    Offset::from_seconds(IST_OFFSET_SECS).expect("valid offset")
}

/// Current time in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    Timestamp::now().as_nanosecond() as i64
}

pub fn ts(ns: i64) -> Timestamp {
    Timestamp::from_nanosecond(ns as i128).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// RFC 3339 in IST with the given sub-second digits, e.g. `2026-03-03T14:02:11.123+05:30`.
pub fn rfc3339_ist(ns: i64) -> String {
    let z = ts(ns).to_zoned(ist().to_time_zone());
    z.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
}

/// RFC 3339 in UTC, e.g. `2026-03-03T08:32:11.123Z`.
pub fn rfc3339_utc(ns: i64) -> String {
    ts(ns).to_string()
}

/// RFC 3339 at an arbitrary offset (the offset a sender wrote).
pub fn rfc3339_at(ns: i64, offset_secs: i32) -> String {
    let off = Offset::from_seconds(offset_secs).unwrap_or(Offset::UTC);
    ts(ns)
        .to_zoned(off.to_time_zone())
        .strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
        .to_string()
}

/// "2026-03-03 14:02:11 IST (08:32:11 UTC)": for tables meant for people.
pub fn human(ns: i64) -> String {
    let t = ts(ns);
    let i = t.to_zoned(ist().to_time_zone());
    let u = t.to_zoned(jiff::tz::TimeZone::UTC);
    let day_differs = i.date() != u.date();
    if day_differs {
        format!(
            "{} IST ({} UTC)",
            i.strftime("%Y-%m-%d %H:%M:%S%.3f"),
            u.strftime("%Y-%m-%d %H:%M:%S%.3f")
        )
    } else {
        format!(
            "{} IST ({} UTC)",
            i.strftime("%Y-%m-%d %H:%M:%S%.3f"),
            u.strftime("%H:%M:%S%.3f")
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a time: give RFC 3339 with a zone (2026-03-03T14:02:11+05:30 or ...Z), a date (2026-03-03, read in IST), `now`, or an age like `15m`, `2h`, `7d` ago")]
pub struct TimeParseError {
    pub input: String,
}

/// Parses a time given by a person on the command line or in a query.
/// Accepts RFC 3339 with offset, a civil date-time without offset (read in
/// IST), a date (midnight IST), `now`, or a relative age (`90s`, `15m`, `2h`, `7d`).
pub fn parse_user_time(s: &str, now_ns: i64) -> Result<i64, TimeParseError> {
    let err = || TimeParseError {
        input: s.to_owned(),
    };
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ns);
    }
    if let Some(secs) = parse_age_secs(t) {
        // An age too large for the nanosecond range is refused, not wrapped.
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|ns| now_ns.checked_sub(ns))
            .ok_or_else(err);
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts.as_nanosecond() as i64);
    }
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        let z = dt.to_zoned(ist().to_time_zone()).map_err(|_| err())?;
        return Ok(z.timestamp().as_nanosecond() as i64);
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        let z = d
            .to_datetime(jiff::civil::Time::midnight())
            .to_zoned(ist().to_time_zone())
            .map_err(|_| err())?;
        return Ok(z.timestamp().as_nanosecond() as i64);
    }
    Err(err())
}

/// `90s`, `15m`, `2h`, `7d`, `1w` → seconds.
pub fn parse_age_secs(s: &str) -> Option<i64> {
    let at = s.len().checked_sub(1)?;
    // The unit is one ASCII letter; a multi-byte last character is no unit
    // (and splitting inside it would panic).
    if !s.is_char_boundary(at) {
        return None;
    }
    let (num, unit) = s.split_at(at);
    let n: i64 = num.parse().ok()?;
    if n < 0 {
        return None;
    }
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return None,
    };
    n.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_ist_and_utc() {
        // 2026-03-03T08:32:11Z
        let ns = 1_772_526_731_000_000_000;
        assert_eq!(rfc3339_ist(ns), "2026-03-03T14:02:11+05:30");
        assert_eq!(rfc3339_utc(ns), "2026-03-03T08:32:11Z");
        assert_eq!(human(ns), "2026-03-03 14:02:11.000 IST (08:32:11.000 UTC)");
    }

    #[test]
    fn user_times() {
        let now = 1_772_526_731_000_000_000;
        assert_eq!(
            parse_user_time("2026-03-03T14:02:11+05:30", 0).unwrap(),
            now
        );
        assert_eq!(parse_user_time("2026-03-03T08:32:11Z", 0).unwrap(), now);
        assert_eq!(parse_user_time("2026-03-03T14:02:11", 0).unwrap(), now);
        assert_eq!(parse_user_time("1h", now).unwrap(), now - 3_600_000_000_000);
        assert!(parse_user_time("yesterday-ish", now).is_err());
        assert!(parse_user_time("2026-02-30", now).is_err());
    }

    /// Found while writing the `search_query` fuzz target: a multi-byte last
    /// character panicked in `split_at`, and a huge age overflowed.
    #[test]
    fn odd_ages_are_errors_not_panics() {
        let now = 1_772_526_731_000_000_000;
        assert_eq!(parse_age_secs("1é"), None);
        assert_eq!(parse_age_secs("é"), None);
        assert!(parse_user_time("5€", now).is_err());
        assert!(parse_user_time("10000000000s", now).is_err());
        assert!(parse_user_time("9223372036854775807s", now).is_err());
        assert!(parse_user_time("106752d", 0).is_err());
        assert_eq!(
            parse_user_time("1d", now).unwrap(),
            now - 86_400_000_000_000
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_user_time_never_panics(s in ".{0,40}", now in proptest::num::i64::ANY) {
            let _ = parse_user_time(&s, now);
        }
    }
}
