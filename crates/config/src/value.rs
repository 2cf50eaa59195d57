//! Parsing and formatting of the value types: sizes, durations, addresses,
//! time-zone offsets, booleans, integers, and TOML string literals.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A value as given, before it is checked against its key's type: from the
/// file it keeps its TOML type; from the environment or a flag it is text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Str(String),
    Int(i64),
    Bool(bool),
    /// A TOML array from the file (`retention.classes`).
    Array(Vec<toml::Value>),
    /// Any other TOML value (float, date, table), as TOML text.
    Other(String),
}

impl Raw {
    pub(crate) fn from_toml(value: &toml::Value) -> Raw {
        match value {
            toml::Value::String(s) => Raw::Str(s.clone()),
            toml::Value::Integer(i) => Raw::Int(*i),
            toml::Value::Boolean(b) => Raw::Bool(*b),
            toml::Value::Array(items) => Raw::Array(items.clone()),
            toml::Value::Table(t) if t.is_empty() => Raw::Other("{}".to_owned()),
            other => Raw::Other(one_line(&other.to_string())),
        }
    }

    /// The value as the person wrote it, for error messages: strings quoted.
    pub(crate) fn shown(&self) -> String {
        match self {
            Raw::Str(s) => toml_string(&crate::redact(s)),
            Raw::Int(i) => i.to_string(),
            Raw::Bool(b) => b.to_string(),
            Raw::Array(items) => one_line(
                &crate::redaction::redact_toml(&toml::Value::Array(items.clone())).to_string(),
            ),
            Raw::Other(text) => text.clone(),
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` as a TOML basic string, quotes included.
pub(crate) fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Digits with optional `_` separators, e.g. `1_000_000`.
pub(crate) fn parse_uint(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty()
        || text.starts_with('_')
        || text.ends_with('_')
        || !text.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    text.bytes()
        .filter(u8::is_ascii_digit)
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
}

/// A non-negative integer from the file (`Int`) or from text.
pub(crate) fn raw_uint(raw: &Raw) -> Option<u64> {
    match raw {
        Raw::Int(i) => u64::try_from(*i).ok(),
        Raw::Str(s) => parse_uint(s),
        _ => None,
    }
}

pub(crate) fn raw_bool(raw: &Raw) -> Option<bool> {
    match raw {
        Raw::Bool(b) => Some(*b),
        Raw::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

const KIB: u64 = 1 << 10;
const SIZE_UNITS: [(&str, u64); 5] = [
    ("TiB", KIB * KIB * KIB * KIB),
    ("GiB", KIB * KIB * KIB),
    ("MiB", KIB * KIB),
    ("KiB", KIB),
    ("B", 1),
];

/// `65536`, `"64KiB"`, `"4 MiB"`, `"1GiB"`: binary units only, so there is no
/// doubt whether `M` means 10⁶ or 2²⁰. A unit-less number is bytes.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let number = parse_uint(&text[..split])?;
    let unit = text[split..].trim();
    if unit.is_empty() {
        return Some(number);
    }
    let (_, multiplier) = SIZE_UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))?;
    number.checked_mul(*multiplier)
}

pub(crate) fn raw_size(raw: &Raw) -> Option<u64> {
    match raw {
        Raw::Int(i) => u64::try_from(*i).ok(),
        Raw::Str(s) => parse_size(s),
        _ => None,
    }
}

/// The largest unit that divides `bytes` exactly: `65536` → `"64KiB"`.
pub(crate) fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_owned();
    }
    for (name, unit) in SIZE_UNITS {
        if bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

const DURATION_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// `30` (seconds), `"500ms"`, `"5s"`, `"15m"`, `"2h"`, `"180d"`, `"1h30m"`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(secs) = parse_uint(text) {
        return Some(Duration::from_secs(secs));
    }
    let mut rest = text;
    let mut millis: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let number = parse_uint(&rest[..digits])?;
        rest = rest[digits..].trim_start();
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..letters];
        let (_, multiplier) = DURATION_UNITS.iter().find(|(name, _)| *name == unit)?;
        millis = millis.checked_add(number.checked_mul(*multiplier)?)?;
        rest = rest[letters..].trim_start();
    }
    Some(Duration::from_millis(millis))
}

pub(crate) fn raw_duration(raw: &Raw) -> Option<Duration> {
    match raw {
        Raw::Int(i) => u64::try_from(*i).ok().map(Duration::from_secs),
        Raw::Str(s) => parse_duration(s),
        _ => None,
    }
}

/// `"10m"`, `"1h30m"`, `"0s"`. Below a millisecond is rounded up, as the
/// parser only goes down to milliseconds.
pub(crate) fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        millis += 1;
    }
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, unit) in DURATION_UNITS {
        let unit = u128::from(unit);
        if millis >= unit {
            out.push_str(&format!("{}{name}", millis / unit));
            millis %= unit;
        }
    }
    out
}

/// `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:514`, or `localhost:8080`
/// (= 127.0.0.1). Host names are not looked up.
pub(crate) fn parse_addr(text: &str) -> Option<SocketAddr> {
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().ok()?;
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse().ok()
}

/// Whether two TCP listen addresses would fight over the same port.
/// Port 0 (any free port) never clashes.
pub(crate) fn addrs_clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

const MAX_OFFSET: i32 = 14 * 3600;

/// `"+05:30"`, `"-03:00"`, `"+0530"`, `"+05"`, `"Z"`, `"UTC"`, `"GMT"`,
/// `"IST"` → seconds east of UTC.
pub(crate) fn parse_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    match text.to_ascii_uppercase().as_str() {
        "Z" | "UTC" | "GMT" => return Some(0),
        "IST" => return Some(5 * 3600 + 30 * 60),
        _ => {}
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let fields: Vec<&str> = if rest.contains(':') {
        rest.split(':').collect()
    } else if rest.len() == 4 {
        vec![&rest[..2], &rest[2..]]
    } else {
        vec![rest]
    };
    if fields.len() > 3 || fields.iter().any(|f| f.len() != 2) {
        return None;
    }
    let mut numbers = [0i32; 3];
    for (slot, field) in numbers.iter_mut().zip(&fields) {
        if !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = field.parse().ok()?;
    }
    let [hours, minutes, seconds] = numbers;
    if minutes >= 60 || seconds >= 60 {
        return None;
    }
    let total = hours * 3600 + minutes * 60 + seconds;
    (total <= MAX_OFFSET).then_some(sign * total)
}

/// `19800` → `"+05:30"`; `0` → `"+00:00"`.
pub(crate) fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// A loose check of a tracing `EnvFilter` directive list such as
/// `info,pramaan_ingest=debug`: every level named must be a real level and
/// every target a plausible module path. The full syntax is
/// tracing-subscriber's; this only catches the likely mistakes.
pub(crate) fn is_filter(text: &str) -> bool {
    let is_level = |s: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    let is_target = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
    };
    !text.trim().is_empty()
        && text.split(',').all(|directive| {
            let directive = directive.trim();
            if directive.contains('[') {
                // Span filters (`target[span{field=value}]=level`): only the
                // level after the closing bracket is checked.
                return match directive.rsplit_once(']') {
                    Some((_, "")) => true,
                    Some((_, rest)) => rest.strip_prefix('=').is_some_and(is_level),
                    None => false,
                };
            }
            match directive.rsplit_once('=') {
                Some((target, level)) => is_target(target.trim()) && is_level(level),
                // A bare word that is not a level is a target to tracing, but
                // `warning` or `verbose` are far more likely mistaken levels:
                // a bare target must look like a module path.
                None => {
                    is_level(directive)
                        || (is_target(directive) && directive.contains(['_', ':', '-']))
                }
            }
        })
}
