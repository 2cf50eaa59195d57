//! Session-log parsers: one line in, at most one session event out. Pure, no
//! I/O; each has a fuzz target. `docs/attribution.md` and the module docs
//! give the exact line shapes.

pub mod cgnat;
pub mod json;
pub mod openvpn;
pub mod radius;

/// The latest Unix time (in seconds) whose nanoseconds fit an i64
/// (2262-04-11): later stamps are refused, so `* 1_000_000_000` cannot overflow.
pub(crate) const MAX_UNIX_SECS: i64 = i64::MAX / 1_000_000_000;

use crate::model::{Kind, Net};

/// What a line says happened to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    /// Interim-Update, a status line, a CGNAT "active" line: the session is alive.
    Update,
    Stop,
    /// A static allotment `[at, until)` (JSON `allot`).
    Allot,
}

/// One session event taken from one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub action: Action,
    /// The addresses or prefixes concerned (a RADIUS line may carry an IPv4
    /// address and an IPv6 prefix). Empty when the line names only the
    /// session (an OpenVPN disconnect).
    pub nets: Vec<Net>,
    pub port_lo: u16,
    pub port_hi: u16,
    /// When it happened, if the line says; else the record's time is used.
    pub at_ns: Option<i64>,
    /// For `Allot`: the end of the allotment, if any.
    pub until_ns: Option<i64>,
    /// How long the session had lasted at this event (Acct-Session-Time),
    /// seconds; lets an Interim or Stop without a Start place the start.
    pub session_secs: Option<i64>,
    /// The session's start when the line says it (OpenVPN status "connected since").
    pub started_ns: Option<i64>,
    pub subscriber: String,
    /// Identifies the session among the source's others.
    pub session: String,
    pub detail: String,
}

impl Event {
    pub(crate) fn new(kind: Kind, action: Action) -> Event {
        Event {
            kind,
            action,
            nets: Vec::new(),
            port_lo: 0,
            port_hi: u16::MAX,
            at_ns: None,
            until_ns: None,
            session_secs: None,
            started_ns: None,
            subscriber: String::new(),
            session: String::new(),
            detail: String::new(),
        }
    }
}

/// A line that looks like a session line of some source but is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_kind} line: {reason}")]
pub struct ParseError {
    pub source_kind: &'static str,
    pub reason: String,
}

pub(crate) fn perr(source_kind: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError {
        source_kind,
        reason: reason.into(),
    }
}

/// Tries every parser on one message. `Ok(None)`: not a session line.
/// `default_offset_secs` is the UTC offset for times written without a zone.
pub fn parse_line(msg: &str, default_offset_secs: i32) -> Result<Option<Event>, ParseError> {
    let t = msg.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.starts_with('{') {
        return json::parse(t);
    }
    if memchr::memmem::find(t.as_bytes(), b"Acct-Status-Type").is_some() {
        return radius::parse(t, default_offset_secs);
    }
    if memchr::memmem::find(t.as_bytes(), b"PORT_BLOCK_").is_some() {
        return cgnat::parse(t);
    }
    openvpn::parse(t, default_offset_secs)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Seconds since the epoch of a civil time at a UTC offset; `None` if out of range.
pub(crate) fn civil_secs(
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    offset_secs: i32,
) -> Option<i64> {
    if !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || s > 60
        || !(1900..=9999).contains(&y)
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64 - offset_secs as i64)
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`) → seconds, at the given offset.
pub(crate) fn parse_civil(s: &str, offset_secs: i32) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19 || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    civil_secs(
        n(0..4)? as i64,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
        offset_secs,
    )
}

/// A month's three-letter English name → 1..=12.
pub(crate) fn month(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    M.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// A zone name or numeric offset → seconds east of UTC.
pub(crate) fn zone_offset(z: &str) -> Option<i32> {
    match z {
        "UTC" | "GMT" | "Z" => Some(0),
        "IST" => Some(pramaan_core::time::IST_OFFSET_SECS),
        _ => {
            let (sign, rest) = match z.as_bytes().first()? {
                b'+' => (1, &z[1..]),
                b'-' => (-1, &z[1..]),
                _ => return None,
            };
            let rest = rest.replace(':', "");
            if rest.len() != 4 || !rest.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i32 = rest[..2].parse().ok()?;
            let m: i32 = rest[2..].parse().ok()?;
            (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
        }
    }
}

/// RFC 3339 with an offset → ns.
pub(crate) fn rfc3339_ns(s: &str) -> Option<i64> {
    let t: jiff::Timestamp = s.trim().parse().ok()?;
    i64::try_from(t.as_nanosecond()).ok()
}

pub(crate) fn secs_to_ns(s: i64) -> Option<i64> {
    s.checked_mul(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            civil_secs(2025, 1, 1, 0, 0, 0, 0),
            Some(1_735_689_600),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            parse_civil("2025-01-01 05:30:00", 19800),
            Some(1_735_689_600)
        );
        assert_eq!(civil_secs(2025, 2, 29, 0, 0, 0, 0), None);
        assert!(civil_secs(2024, 2, 29, 0, 0, 0, 0).is_some());
        assert_eq!(zone_offset("+05:30"), Some(19800));
        assert_eq!(zone_offset("-0400"), Some(-14400));
        assert_eq!(zone_offset("XYZ"), None);
    }
}
