//! Session-log parsers: one line in, at most one session event out. Pure, no
//! I/O; each has a fuzz target. The module docs give the exact line shapes
//! (the README's "IP attribution" section, a summary).

pub mod cgnat;
pub mod dhcp;
pub mod ipsec;
pub mod json;
pub mod openvpn;
pub mod radius;
pub mod radius_packet;
pub mod wireguard;

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
    /// RADIUS Accounting-On or -Off: the NAS named by `detail` (re)started
    /// or is going down, so every session it had open has ended (RFC 2866 §5.1).
    NasReset,
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
    /// How long from this event the address is allotted (a DHCP lease's
    /// valid lifetime), seconds: the open binding ends then unless a
    /// renewal extends it.
    pub lifetime_secs: Option<i64>,
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
            lifetime_secs: None,
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

/// Text that every session line of every source holds, Kea's lease-file
/// rows excepted (they have a shape instead, [`dhcp::is_lease_row`]): a line
/// holding none of these and of no such shape is not one (`parse_line` gives
/// `Ok(None)` without parsing). The feeder in `serve` asks the vault only for
/// lines holding one or of that shape ([`dhcp::LEASE_ROW_REGEX`]), so that it
/// does not turn every log line into a search hit.
pub const MARKERS: &[&str] = &[
    json::SCHEMA,
    "Acct-Status-Type",
    "PORT_BLOCK_",
    "CLIENT_LIST",
    "MULTI_sva: pool returned ",
    "MULTI: ",
    "client-instance ",
    dhcp::MARKERS[0],
    dhcp::MARKERS[1],
    dhcp::MARKERS[2],
    dhcp::MARKERS[3],
    dhcp::MARKERS[4],
    dhcp::MARKERS[5],
    dhcp::MARKERS[6],
    dhcp::MARKERS[7],
    ipsec::MARKERS[0],
    ipsec::MARKERS[1],
];

/// True when `line` holds one of [`MARKERS`] or is a Kea lease-file row.
pub fn has_marker(line: &[u8]) -> bool {
    MARKERS
        .iter()
        .any(|m| memchr::memmem::find(line, m.as_bytes()).is_some())
        || dhcp::is_lease_row(line)
}

/// One of the session-log parsers, as `attribution.sources` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parser {
    /// FreeRADIUS accounting ([`radius`]).
    Radius,
    /// OpenVPN server logs and status lines ([`openvpn`]).
    Openvpn,
    /// CGNAT port-block logs ([`cgnat`]).
    Cgnat,
    /// The generic JSON session event ([`json`]).
    Json,
    /// DHCP leases: Kea, dnsmasq, ISC dhcpd ([`dhcp`]).
    Dhcp,
    /// IPsec virtual IPs: strongSwan ([`ipsec`]).
    Ipsec,
}

impl Parser {
    pub const ALL: [Parser; 6] = [
        Parser::Radius,
        Parser::Openvpn,
        Parser::Cgnat,
        Parser::Json,
        Parser::Dhcp,
        Parser::Ipsec,
    ];

    /// The name in `attribution.sources` (`radius`, `openvpn`, `cgnat`, `json`, `dhcp`, `ipsec`).
    pub fn as_str(self) -> &'static str {
        match self {
            Parser::Radius => "radius",
            Parser::Openvpn => "openvpn",
            Parser::Cgnat => "cgnat",
            Parser::Json => "json",
            Parser::Dhcp => "dhcp",
            Parser::Ipsec => "ipsec",
        }
    }

    pub fn from_name(name: &str) -> Option<Parser> {
        Parser::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// The parser a message is for, by its shape: `None` when no parser reads it.
pub fn parser_for(msg: &str) -> Option<Parser> {
    let t = msg.trim();
    if t.is_empty() {
        return None;
    }
    if t.starts_with('{') && memchr::memmem::find(t.as_bytes(), json::SCHEMA.as_bytes()).is_some() {
        return Some(Parser::Json);
    }
    if memchr::memmem::find(t.as_bytes(), b"Acct-Status-Type").is_some() {
        return Some(Parser::Radius);
    }
    if memchr::memmem::find(t.as_bytes(), b"PORT_BLOCK_").is_some() {
        return Some(Parser::Cgnat);
    }
    if dhcp::is_lease_row(t.as_bytes())
        || dhcp::MARKERS
            .iter()
            .any(|m| memchr::memmem::find(t.as_bytes(), m.as_bytes()).is_some())
    {
        return Some(Parser::Dhcp);
    }
    if ipsec::MARKERS
        .iter()
        .any(|m| memchr::memmem::find(t.as_bytes(), m.as_bytes()).is_some())
    {
        return Some(Parser::Ipsec);
    }
    Some(Parser::Openvpn)
}

/// As [`parse_line`], with only the parsers in `allowed` (those
/// `attribution.sources` gives the line's source): a line for another
/// parser is no session line (`Ok(None)`).
pub fn parse_with(
    msg: &str,
    default_offset_secs: i32,
    allowed: &[Parser],
) -> Result<Option<Event>, ParseError> {
    if allowed.is_empty() || !has_marker(msg.as_bytes()) {
        return Ok(None);
    }
    match parser_for(msg) {
        Some(p) if allowed.contains(&p) => parse_any(msg, default_offset_secs),
        _ => Ok(None),
    }
}

/// Tries every parser on one message. `Ok(None)`: not a session line.
/// `default_offset_secs` is the UTC offset for times written without a zone.
pub fn parse_line(msg: &str, default_offset_secs: i32) -> Result<Option<Event>, ParseError> {
    if !has_marker(msg.as_bytes()) {
        return Ok(None);
    }
    parse_any(msg, default_offset_secs)
}

/// Every parser in turn, without the marker check (which must never change
/// the answer: the tests and the fuzz targets compare the two).
pub fn parse_any(msg: &str, default_offset_secs: i32) -> Result<Option<Event>, ParseError> {
    let t = msg.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match parser_for(t) {
        Some(Parser::Json) => json::parse(t),
        Some(Parser::Radius) => radius::parse(t, default_offset_secs),
        Some(Parser::Cgnat) => cgnat::parse(t),
        Some(Parser::Dhcp) => dhcp::parse(t, default_offset_secs),
        Some(Parser::Ipsec) => ipsec::parse(t),
        Some(Parser::Openvpn) => openvpn::parse(t, default_offset_secs),
        None => Ok(None),
    }
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
    use proptest::prelude::*;

    /// A session line of every shape each parser reads.
    const SESSION_LINES: &[&str] = &[
        r#"{"schema":"pramaan.session.v1","event":"start","ip":"100.64.1.2","subscriber":"C-1","session":"s1","at":"2025-01-01T10:00:00+05:30"}"#,
        r#"Acct-Status-Type=Start Event-Timestamp=1735689600 User-Name="alice@isp" Acct-Session-Id="5A3B0001" Framed-IP-Address=100.64.1.2 NAS-IP-Address=10.0.0.1"#,
        r#"Acct-Status-Type = Stop, User-Name = "bob", Acct-Session-Id = "00000A2F", NAS-Identifier = "bng-1", Framed-IPv6-Prefix = 2001:db8:42::/56, Acct-Session-Time = 3600"#,
        "JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.5:1024-2023 0x6774a500",
        "2025-01-01 10:00:00 alice/198.51.100.7:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=fd00::1000",
        "Wed Jan  1 10:00:00 2025 MULTI: primary virtual IP for alice/198.51.100.7:51234: 10.8.0.6",
        "alice/198.51.100.7:51234 MULTI: Learn: 10.8.0.6 -> alice/198.51.100.7:51234",
        "alice/198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting",
        "alice/198.51.100.7:51234 SIGUSR1[soft,ping-restart] received, client-instance restarting",
        "CLIENT_LIST,alice,198.51.100.7:51234,10.8.0.6,,1234,5678,2025-01-01 10:00:00,1735725600,UNDEF,0,0",
        "10.77.0.100,62:70:66:04:08:28,,120,1796615299,7,0,0,vm,0,",
        "2001:db8:7700::,00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28,120,1796615379,9,90,2,1711540264,56,0,0,,,0,,1,2",
        "DHCP4_LEASE_ALLOC [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x8aa5615c: lease 10.77.0.100 has been allocated for 120 seconds",
        "DHCP6_PD_LEASE_ALLOC duid=[00:01:00:01], tid=0x51424d: lease for prefix 2001:db8:7700::/56 and iaid=1 has been allocated for 120 seconds",
        "DHCP6_RELEASE_NA duid=[00:01:00:01], tid=0xee905a: binding for address 2001:db8:77::100 and iaid=1 was released properly",
        "DHCPACK(eth0) 192.168.1.100 aa:bb:cc:dd:ee:ff laptop",
        "DHCPRELEASE of 10.0.0.5 from 00:11:22:33:44:55 (laptop) via eth1 (found)",
        "DHCPEXPIRE on 10.0.0.5 to 00:11:22:33:44:55",
        "DHCP4_RELEASE [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x6b: address 10.77.0.100 was released properly.",
        "2026-12-07T06:55:53+0000 03[IKE] <rw|1> assigning virtual IP 10.3.0.1 to peer 'alice@example.net'",
        "2026-12-07T06:55:55+0000 10[CFG] <rw|1> lease fd00:3::1 by 'alice@example.net' went offline",
    ];

    #[test]
    fn every_session_shape_holds_a_marker() {
        for l in SESSION_LINES {
            assert!(has_marker(l.as_bytes()), "{l}");
            assert!(
                matches!(parse_line(l, 0), Ok(Some(_))),
                "{l}: {:?}",
                parse_line(l, 0)
            );
        }
    }

    proptest! {
        /// The marker check never hides a session line or an error: a line
        /// without a marker parses to nothing with or without it. The lines
        /// are real session lines with a piece cut out (which often cuts a
        /// marker) and other text put in its place.
        #[test]
        fn a_line_without_a_marker_is_never_a_session_line(
            which in 0..SESSION_LINES.len(),
            cut_at in 0usize..200,
            cut_len in 0usize..40,
            insert in "[ -~]{0,12}",
        ) {
            let l = SESSION_LINES[which];
            let mut b: Vec<char> = l.chars().collect();
            let at = cut_at.min(b.len());
            let end = (at + cut_len).min(b.len());
            b.splice(at..end, insert.chars());
            let line: String = b.into_iter().collect();
            if !has_marker(line.as_bytes()) {
                prop_assert_eq!(parse_any(&line, 0), Ok(None), "{}", line);
            }
            prop_assert_eq!(parse_line(&line, 0), parse_any(&line, 0));
        }
    }

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
