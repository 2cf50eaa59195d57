//! FreeRADIUS accounting, one request per line.
//!
//! The line is a list of `Attribute = value` pairs (or `Attribute=value`),
//! separated by spaces, tabs or commas; values may be double-quoted with
//! `\"` and `\\` escapes. This is what FreeRADIUS's `linelog` module writes
//! when its format lists the attributes below as `Name = value`, and also a
//! `detail` file entry flattened onto one line (its attributes joined by
//! spaces), so both reach the vault through syslog. Recognised attributes:
//!
//! * `Acct-Status-Type`: `Start`, `Interim-Update` (or `Alive`), `Stop`
//!   (or the numbers 1, 3, 2). Required; `Accounting-On`/`-Off` are ignored.
//! * `Framed-IP-Address` (IPv4), `Framed-IPv6-Address`, `Framed-IPv6-Prefix`,
//!   `Delegated-IPv6-Prefix`: the addresses bound. At least one for a Start.
//! * `User-Name`: the subscriber reference. Required.
//! * `Acct-Session-Id` (required), `Acct-Unique-Session-Id` (preferred when
//!   present), `NAS-IP-Address`/`NAS-Identifier` (make the id unique).
//! * `Event-Timestamp`: Unix seconds, or the detail form
//!   `Jan  1 2025 10:00:00 IST` (zone `UTC`, `GMT`, `IST` or `+hhmm`;
//!   fractional seconds allowed); else `Timestamp` (Unix seconds); else the
//!   record's own time.
//! * `Acct-Session-Time` (seconds): places the start of an Interim or Stop
//!   whose Start is not in the vault.

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};

const K: &str = "FreeRADIUS";

/// Why a line is not a list of attribute pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// A word that is not `Attribute = value`, after this many pairs.
    Word(usize),
    /// A quoted value without its closing quote.
    Parse(ParseError),
}

impl From<ParseError> for Shape {
    fn from(e: ParseError) -> Self {
        Shape::Parse(e)
    }
}

/// Splits a line into (attribute, value) pairs; every word must belong to one.
pub fn pairs(line: &str) -> Result<Vec<(&str, String)>, Shape> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let sep = |c: u8| c == b' ' || c == b'\t' || c == b',';
    while i < b.len() {
        while i < b.len() && sep(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'_') {
            i += 1;
        }
        let key = &line[ks..i];
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if key.is_empty() || i >= b.len() || b[i] != b'=' {
            // Not an attribute: the line is not a list of attributes. Whoever
            // could put `Acct-Status-Type=Start ...` after other words (a
            // user name in an sshd message) must not make a session line.
            return Err(Shape::Word(out.len()));
        }
        i += 1;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut closed = false;
            let mut run = i;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        val.push_str(&line[run..i]);
                        i += 1;
                        // the escaped byte is ASCII here or the start of a char
                        let ch = line[i..].chars().next().unwrap_or('\\');
                        val.push(ch);
                        i += ch.len_utf8();
                        run = i;
                    }
                    b'"' => {
                        val.push_str(&line[run..i]);
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return Err(perr(K, format!("the value of {key} has no closing quote")).into());
            }
        } else {
            let vs = i;
            while i < b.len() && !sep(b[i]) {
                i += 1;
            }
            val.push_str(&line[vs..i]);
            // The detail file's Event-Timestamp is several words: "Jan  1 2025 10:00:00 IST".
            if key == "Event-Timestamp" && super::month(&val).is_some() {
                let mut words = 1;
                while words < 5 && i < b.len() {
                    while i < b.len() && b[i] == b' ' {
                        i += 1;
                    }
                    let ws = i;
                    while i < b.len() && !sep(b[i]) {
                        i += 1;
                    }
                    val.push(' ');
                    val.push_str(&line[ws..i]);
                    words += 1;
                }
            }
        }
        out.push((key, val));
    }
    Ok(out)
}

/// `Jan  1 2025 10:00:00 IST`, `Jan 1 2025 10:00:00.123456 +0530` → ns.
fn detail_time(s: &str, default_offset: i32) -> Option<i64> {
    let w: Vec<&str> = s.split_whitespace().collect();
    if w.len() < 4 {
        return None;
    }
    let mo = super::month(w[0])?;
    let d: u32 = w[1].parse().ok()?;
    let y: i64 = w[2].parse().ok()?;
    let (hms, frac) = match w[3].split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (w[3], None),
    };
    let mut it = hms.split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let mi: u32 = it.next()?.parse().ok()?;
    let se: u32 = it.next()?.parse().ok()?;
    let off = match w.get(4) {
        Some(z) => super::zone_offset(z)?,
        None => default_offset,
    };
    let secs = super::civil_secs(y, mo, d, h, mi, se, off)?;
    let mut ns = super::secs_to_ns(secs)?;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: i64 = f.parse().ok()?;
        // Near the end of the i64 range the fraction can still overflow.
        ns = ns.checked_add(v * 10_i64.pow(9 - f.len() as u32))?;
    }
    Some(ns)
}

fn epoch_ns(s: &str) -> Option<i64> {
    let v: i64 = s.parse().ok()?;
    (0..=super::MAX_UNIX_SECS)
        .contains(&v)
        .then(|| v * 1_000_000_000)
}

/// The attributes this parser reads: each may appear once (or repeated
/// with the same value), so that a value written into a line unquoted
/// cannot bring a second, different one.
const READ: [&str; 13] = [
    "Acct-Status-Type",
    "User-Name",
    "Acct-Session-Id",
    "Acct-Unique-Session-Id",
    "NAS-IP-Address",
    "NAS-Identifier",
    "Framed-IP-Address",
    "Framed-IPv6-Address",
    "Framed-IPv6-Prefix",
    "Delegated-IPv6-Prefix",
    "Event-Timestamp",
    "Timestamp",
    "Acct-Session-Time",
];

/// A detail file's entry header, `Wed Jan  1 10:00:00 2025`, at the start of
/// a flattened entry: the rest of the line after it.
fn strip_detail_header(line: &str) -> &str {
    let mut rest = line;
    let mut words = Vec::with_capacity(5);
    for _ in 0..5 {
        let t = rest.trim_start_matches([' ', '\t']);
        let end = t.find([' ', '\t']).unwrap_or(t.len());
        if end == 0 {
            return line;
        }
        words.push(&t[..end]);
        rest = &t[end..];
    }
    let is_day = |w: &str| ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&w);
    let digits = |w: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&w.len()) && w.bytes().all(|c| c.is_ascii_digit())
    };
    let time = |w: &str| {
        let p: Vec<&str> = w.split(':').collect();
        p.len() == 3 && p.iter().all(|x| digits(x, 2..=2))
    };
    if is_day(words[0])
        && super::month(words[1]).is_some()
        && digits(words[2], 1..=2)
        && time(words[3])
        && digits(words[4], 4..=4)
    {
        rest
    } else {
        line
    }
}

/// Reads one accounting line. The whole message must be attribute pairs
/// (after a detail file's date header, when flattened): a line that begins
/// with other words is no accounting line (`Ok(None)`), and one with other
/// words between its pairs is an error.
pub fn parse(line: &str, default_offset: i32) -> Result<Option<Event>, ParseError> {
    let pairs = match pairs(strip_detail_header(line)) {
        Ok(p) => p,
        Err(Shape::Word(0)) => return Ok(None),
        Err(Shape::Word(n)) => {
            return Err(perr(
                K,
                format!("after attribute {n} comes a word that is not `Attribute = value`"),
            ))
        }
        Err(Shape::Parse(e)) => return Err(e),
    };
    for k in READ {
        let mut vals = pairs
            .iter()
            .filter(|(a, v)| a.eq_ignore_ascii_case(k) && !v.is_empty())
            .map(|(_, v)| v);
        if let Some(first) = vals.next() {
            if vals.any(|v| v != first) {
                return Err(perr(
                    K,
                    format!("{k} is given twice, with different values"),
                ));
            }
        }
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(a, v)| a.eq_ignore_ascii_case(k) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let Some(status) = get("Acct-Status-Type") else {
        return Ok(None);
    };
    let action = match status {
        "Start" | "1" => Action::Start,
        "Stop" | "2" => Action::Stop,
        "Interim-Update" | "Alive" | "3" => Action::Update,
        "Accounting-On" | "Accounting-Off" | "7" | "8" => return Ok(None),
        other => return Err(perr(K, format!("unknown Acct-Status-Type `{other}`"))),
    };
    let mut ev = Event::new(Kind::Radius, action);
    ev.subscriber = get("User-Name")
        .ok_or_else(|| perr(K, "User-Name is missing"))?
        .to_owned();
    let sid = get("Acct-Session-Id").ok_or_else(|| perr(K, "Acct-Session-Id is missing"))?;
    let nas = get("NAS-IP-Address").or_else(|| get("NAS-Identifier"));
    ev.session = match (get("Acct-Unique-Session-Id"), nas) {
        (Some(u), _) => u.to_owned(),
        (None, Some(n)) => format!("{sid}@{n}"),
        (None, None) => sid.to_owned(),
    };
    if let Some(n) = nas {
        ev.detail = format!("NAS {n}");
    }
    for (attr, v6) in [
        ("Framed-IP-Address", false),
        ("Framed-IPv6-Address", true),
        ("Framed-IPv6-Prefix", true),
        ("Delegated-IPv6-Prefix", true),
    ] {
        if let Some(v) = get(attr) {
            let net = match Net::parse(v) {
                Ok(n) => n,
                // RADIUS prefixes may carry host bits: keep the network.
                Err(crate::model::NetError::HostBits(_)) => {
                    let mut n = Net::parse_default_v6(v.split('/').next().unwrap_or(v), 128)
                        .map_err(|e| perr(K, format!("{attr}: {e}")))?;
                    let len: u8 = v
                        .split_once('/')
                        .and_then(|(_, l)| l.parse().ok())
                        .unwrap_or(128);
                    n.len = if n.is_v4() { len + 96 } else { len };
                    n.bits &= crate::model::mask(n.len);
                    n
                }
                Err(e) => return Err(perr(K, format!("{attr}: {e}"))),
            };
            if net.is_v4() == v6 {
                return Err(perr(
                    K,
                    format!("{attr} `{v}` is of the wrong address family"),
                ));
            }
            if !ev.nets.contains(&net) {
                ev.nets.push(net);
            }
        }
    }
    if action == Action::Start && ev.nets.is_empty() {
        return Err(perr(
            K,
            "a Start without Framed-IP-Address, Framed-IPv6-Address, Framed-IPv6-Prefix or Delegated-IPv6-Prefix",
        ));
    }
    if let Some(ts) = get("Event-Timestamp") {
        ev.at_ns = Some(
            epoch_ns(ts)
                .or_else(|| detail_time(ts, default_offset))
                .ok_or_else(|| perr(K, format!("Event-Timestamp `{ts}` is not a time")))?,
        );
    } else if let Some(ts) = get("Timestamp") {
        ev.at_ns = Some(
            epoch_ns(ts).ok_or_else(|| perr(K, format!("Timestamp `{ts}` is not Unix seconds")))?,
        );
    }
    if let Some(st) = get("Acct-Session-Time") {
        let v: i64 = st
            .parse()
            .ok()
            .filter(|v| (0..=10 * 366 * 86_400).contains(v))
            .ok_or_else(|| {
                perr(
                    K,
                    format!("Acct-Session-Time `{st}` is not a number of seconds"),
                )
            })?;
        ev.session_secs = Some(v);
    }
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    /// Found by the fuzzer: a stamp past 2262 overflowed the nanoseconds.
    #[test]
    fn a_timestamp_past_2262_is_an_error_not_an_overflow() {
        let l = r#"Acct-Status-Type=Start Event-Timestamp=17365689600 User-Name="alice" Acct-Session-Id="5A3B0001" Framed-IP-Address=100.64.1.2 NAS-IP-Address=10.0.0.1"#;
        assert!(parse(l, 19_800).is_err());
    }

    use super::*;

    #[test]
    fn linelog_start() {
        let l = r#"Acct-Status-Type=Start Event-Timestamp=1735689600 User-Name="alice@isp" Acct-Session-Id="5A3B0001" Framed-IP-Address=100.64.1.2 NAS-IP-Address=10.0.0.1"#;
        let e = parse(l, 0).unwrap().unwrap();
        assert_eq!(e.action, Action::Start);
        assert_eq!(e.subscriber, "alice@isp");
        assert_eq!(e.session, "5A3B0001@10.0.0.1");
        assert_eq!(e.nets, vec![Net::parse("100.64.1.2").unwrap()]);
        assert_eq!(e.at_ns, Some(1_735_689_600_000_000_000));
    }

    #[test]
    fn detail_flattened_stop_with_prefix_in_ist() {
        let l = r#"Acct-Status-Type = Stop, User-Name = "bob", Acct-Session-Id = "00000A2F", NAS-Identifier = "bng-1", Framed-IPv6-Prefix = 2001:db8:42::/56, Event-Timestamp = "Jan  1 2025 05:30:00 IST", Acct-Session-Time = 3600, Acct-Terminate-Cause = User-Request"#;
        let e = parse(l, 0).unwrap().unwrap();
        assert_eq!(e.action, Action::Stop);
        assert_eq!(e.nets[0].to_string(), "2001:db8:42::/56");
        assert_eq!(e.at_ns, Some(1_735_689_600_000_000_000));
        assert_eq!(e.session_secs, Some(3600));
        assert_eq!(e.session, "00000A2F@bng-1");
    }

    #[test]
    fn unquoted_detail_timestamp() {
        let l = "Acct-Status-Type = Interim-Update User-Name = carol Acct-Session-Id = 77 Framed-IP-Address = 100.64.9.9 Event-Timestamp = Feb 12 2025 10:11:12 UTC";
        let e = parse(l, 0).unwrap().unwrap();
        assert_eq!(e.action, Action::Update);
        assert_eq!(e.at_ns, Some(1_739_355_072_000_000_000));
    }

    #[test]
    fn errors_are_named() {
        let e = parse("Acct-Status-Type=Start User-Name=x Acct-Session-Id=1", 0).unwrap_err();
        assert!(e.reason.contains("Framed-IP-Address"), "{e}");
        let e = parse(
            "Acct-Status-Type=Start User-Name=x Acct-Session-Id=1 Framed-IP-Address=300.1.1.1",
            0,
        )
        .unwrap_err();
        assert!(e.reason.contains("Framed-IP-Address"), "{e}");
        let e = parse("Acct-Status-Type=Start User-Name=\"x", 0).unwrap_err();
        assert!(e.reason.contains("closing quote"), "{e}");
        assert_eq!(
            parse("Acct-Status-Type=Accounting-On NAS-IP-Address=1.2.3.4", 0),
            Ok(None)
        );
        assert_eq!(parse("hello world", 0), Ok(None));
    }
}
