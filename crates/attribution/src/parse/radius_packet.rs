//! RADIUS Accounting-Requests as pramaan's own listener stored them (the
//! packet exactly as received, peer `radius:<client>`): one packet in, at
//! most one session event out. Pure, no I/O; the packet's authenticators
//! were checked by the listener before it was stored (the secret is not
//! needed here, and may have changed since).
//!
//! * `Acct-Status-Type` Start, Interim-Update, Stop (Accounting-On/-Off and
//!   others: no event);
//! * `User-Name`: the subscriber; `Acct-Session-Id`: the session, made unique
//!   by the NAS (`NAS-IP-Address`, else `NAS-IPv6-Address`, else
//!   `NAS-Identifier`, else the client's address), as the text parser does;
//! * `Framed-IP-Address`, `Framed-IPv6-Address`, `Framed-IPv6-Prefix`,
//!   `Delegated-IPv6-Prefix`: the addresses bound (at least one for a Start);
//! * the time: `Event-Timestamp` when sent and within `max_skew` of the
//!   arrival (receipt minus `Acct-Delay-Time`); else the arrival, which is
//!   pramaan's own synchronised clock: a NAS whose clock is minutes off
//!   does not move its bindings (the skew is returned so it can be counted);
//! * `Acct-Session-Time` places the start of an Interim or Stop without a Start.

use super::{perr, Action, Event, ParseError};
use crate::model::{mask, Kind, Net};
use pramaan_ingest::radius::{self, attr, status, Packet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const K: &str = "RADIUS";

/// What one stored packet says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub event: Event,
    /// `Event-Timestamp − arrival` when it was more than the allowed skew
    /// (the event then took the arrival time), in nanoseconds.
    pub skew_ns: Option<i64>,
}

/// Attributes read here: each at most once, so a packet cannot name two
/// subscribers or two sessions.
const SINGLE: [u8; 9] = [
    attr::ACCT_STATUS_TYPE,
    attr::USER_NAME,
    attr::ACCT_SESSION_ID,
    attr::NAS_IP_ADDRESS,
    attr::NAS_IPV6_ADDRESS,
    attr::NAS_IDENTIFIER,
    attr::EVENT_TIMESTAMP,
    attr::ACCT_DELAY_TIME,
    attr::ACCT_SESSION_TIME,
];

fn text<'a>(p: &'a Packet<'_>, typ: u8, name: &str) -> Result<Option<&'a str>, ParseError> {
    match p.get(typ) {
        None => Ok(None),
        Some(v) => std::str::from_utf8(v)
            .map(Some)
            .map_err(|_| perr(K, format!("{name} is not UTF-8"))),
    }
}

fn v6_prefix(v: &[u8], name: &str) -> Result<Net, ParseError> {
    // reserved, prefix length, prefix octets (trailing zeros may be left out)
    let len = v[1];
    let octets = &v[2..];
    if len > 128 || octets.len() * 8 < len as usize {
        return Err(perr(
            K,
            format!("{name}: prefix length {len} with {} octets", octets.len()),
        ));
    }
    let mut b = [0u8; 16];
    b[..octets.len()].copy_from_slice(octets);
    let bits = u128::from_be_bytes(b) & mask(len);
    let net = Net { bits, len };
    if net.is_v4() {
        return Err(perr(K, format!("{name} is an IPv4-mapped prefix")));
    }
    Ok(net)
}

fn nets(p: &Packet<'_>) -> Result<Vec<Net>, ParseError> {
    let mut out: Vec<Net> = Vec::new();
    let mut push = |n: Net| {
        if !out.contains(&n) {
            out.push(n);
        }
    };
    for v in p.all(attr::FRAMED_IP_ADDRESS) {
        let a = Ipv4Addr::from(<[u8; 4]>::try_from(v).map_err(|_| perr(K, "Framed-IP-Address"))?);
        push(Net::host(IpAddr::V4(a)));
    }
    for v in p.all(attr::FRAMED_IPV6_ADDRESS) {
        let a =
            Ipv6Addr::from(<[u8; 16]>::try_from(v).map_err(|_| perr(K, "Framed-IPv6-Address"))?);
        push(Net::host(IpAddr::V6(a)));
    }
    for (typ, name) in [
        (attr::FRAMED_IPV6_PREFIX, "Framed-IPv6-Prefix"),
        (attr::DELEGATED_IPV6_PREFIX, "Delegated-IPv6-Prefix"),
    ] {
        for v in p.all(typ) {
            push(v6_prefix(v, name)?);
        }
    }
    Ok(out)
}

/// Where the session lives: the NAS the packet names, else the client.
fn nas(p: &Packet<'_>, client: &str) -> Result<String, ParseError> {
    if let Some(v) = p.get(attr::NAS_IP_ADDRESS) {
        let a: [u8; 4] = v.try_into().map_err(|_| perr(K, "NAS-IP-Address"))?;
        return Ok(Ipv4Addr::from(a).to_string());
    }
    if let Some(v) = p.get(attr::NAS_IPV6_ADDRESS) {
        let a: [u8; 16] = v.try_into().map_err(|_| perr(K, "NAS-IPv6-Address"))?;
        return Ok(Ipv6Addr::from(a).to_string());
    }
    if let Some(id) = text(p, attr::NAS_IDENTIFIER, "NAS-Identifier")? {
        return Ok(id.to_owned());
    }
    Ok(pramaan_core::zones::peer_host(client).to_owned())
}

/// Reads one stored Accounting-Request. `client` is the record's peer,
/// `received_ns` when pramaan received it; `max_skew_ns` how far the NAS's
/// `Event-Timestamp` may be from the arrival before the arrival is used.
pub fn parse(
    packet: &[u8],
    client: &str,
    received_ns: i64,
    max_skew_ns: i64,
) -> Result<Option<Decoded>, ParseError> {
    let p = radius::decode(packet).map_err(|e| perr(K, e.to_string()))?;
    if p.code != radius::code::ACCOUNTING_REQUEST {
        return Err(perr(
            K,
            format!("code {} is not an Accounting-Request", p.code),
        ));
    }
    for typ in SINGLE {
        let mut vals = p.all(typ);
        if let Some(first) = vals.next() {
            if vals.any(|v| v != first) {
                return Err(perr(
                    K,
                    format!("attribute {typ} is given twice, with different values"),
                ));
            }
        }
    }
    let action = match p.int(attr::ACCT_STATUS_TYPE) {
        Some(status::START) => Action::Start,
        Some(status::STOP) => Action::Stop,
        Some(status::INTERIM_UPDATE) => Action::Update,
        Some(status::ACCOUNTING_ON | status::ACCOUNTING_OFF) => Action::NasReset,
        Some(_) => return Ok(None),
        None => return Err(perr(K, "Acct-Status-Type is missing")),
    };
    let mut ev = Event::new(Kind::Radius, action);
    let nas = nas(&p, client)?;
    ev.detail = format!("NAS {nas}");
    let skew_ns = set_time(&mut ev, &p, received_ns, max_skew_ns);
    if action == Action::NasReset {
        return Ok(Some(Decoded { event: ev, skew_ns }));
    }
    ev.subscriber = text(&p, attr::USER_NAME, "User-Name")?
        .ok_or_else(|| perr(K, "User-Name is missing"))?
        .to_owned();
    let sid = text(&p, attr::ACCT_SESSION_ID, "Acct-Session-Id")?
        .ok_or_else(|| perr(K, "Acct-Session-Id is missing"))?;
    ev.session = format!("{sid}@{nas}");
    ev.nets = nets(&p)?;
    if action == Action::Start && ev.nets.is_empty() {
        return Err(perr(
            K,
            "a Start without Framed-IP-Address, Framed-IPv6-Address, Framed-IPv6-Prefix or Delegated-IPv6-Prefix",
        ));
    }
    ev.session_secs = p.int(attr::ACCT_SESSION_TIME).map(i64::from);
    Ok(Some(Decoded { event: ev, skew_ns }))
}

/// Sets the event's time (see the module docs); the skew when the NAS's
/// stamp was not taken.
fn set_time(ev: &mut Event, p: &Packet<'_>, received_ns: i64, max_skew_ns: i64) -> Option<i64> {
    let delay_ns = i64::from(p.int(attr::ACCT_DELAY_TIME).unwrap_or(0)) * 1_000_000_000;
    let arrival = received_ns.saturating_sub(delay_ns);
    let mut skew_ns = None;
    ev.at_ns = Some(match p.int(attr::EVENT_TIMESTAMP) {
        Some(ts) => {
            let stamp = i64::from(ts) * 1_000_000_000;
            let skew = stamp.saturating_sub(arrival);
            if skew.unsigned_abs() <= max_skew_ns.unsigned_abs() {
                stamp
            } else {
                skew_ns = Some(skew);
                arrival
            }
        }
        None => arrival,
    });
    skew_ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_ingest::radius::accounting_request;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

    fn pkt(extra: &[(u8, Vec<u8>)], st: u32) -> Vec<u8> {
        let mut a = vec![
            (attr::ACCT_STATUS_TYPE, st.to_be_bytes().to_vec()),
            (attr::USER_NAME, b"alice".to_vec()),
            (attr::ACCT_SESSION_ID, b"0001".to_vec()),
        ];
        a.extend_from_slice(extra);
        accounting_request(1, &a, b"k", false).unwrap()
    }

    fn ts(t: i64) -> (u8, Vec<u8>) {
        (attr::EVENT_TIMESTAMP, (t as u32).to_be_bytes().to_vec())
    }

    #[test]
    fn a_start_names_subscriber_session_addresses_and_time() {
        let p = pkt(
            &[
                (attr::FRAMED_IP_ADDRESS, vec![100, 64, 1, 2]),
                (
                    attr::DELEGATED_IPV6_PREFIX,
                    vec![0, 56, 0x20, 0x01, 0x0d, 0xb8, 0, 0x42, 0],
                ),
                (attr::NAS_IP_ADDRESS, vec![10, 0, 0, 1]),
                ts(T0),
            ],
            status::START,
        );
        let d = parse(&p, "radius:127.0.0.1:5000", T0 * S + S, 60 * S)
            .unwrap()
            .unwrap();
        let e = d.event;
        assert_eq!(e.action, Action::Start);
        assert_eq!(e.subscriber, "alice");
        assert_eq!(e.session, "0001@10.0.0.1");
        assert_eq!(
            e.nets,
            vec![
                Net::parse("100.64.1.2").unwrap(),
                Net::parse("2001:db8:42::/56").unwrap()
            ]
        );
        assert_eq!(e.at_ns, Some(T0 * S));
        assert_eq!(d.skew_ns, None);
    }

    #[test]
    fn without_event_timestamp_the_arrival_less_the_delay() {
        let p = pkt(
            &[
                (attr::FRAMED_IP_ADDRESS, vec![100, 64, 1, 2]),
                (attr::ACCT_DELAY_TIME, 30u32.to_be_bytes().to_vec()),
            ],
            status::START,
        );
        let d = parse(&p, "radius:127.0.0.1:5000", T0 * S, 60 * S)
            .unwrap()
            .unwrap();
        assert_eq!(d.event.at_ns, Some((T0 - 30) * S));
        // No NAS attribute: the client is the NAS.
        assert_eq!(d.event.session, "0001@127.0.0.1");
    }

    #[test]
    fn a_nas_clock_minutes_off_gives_way_to_the_arrival() {
        let p = pkt(
            &[(attr::FRAMED_IP_ADDRESS, vec![100, 64, 1, 2]), ts(T0 + 600)],
            status::START,
        );
        let d = parse(&p, "radius:127.0.0.1:5000", T0 * S, 60 * S)
            .unwrap()
            .unwrap();
        assert_eq!(d.event.at_ns, Some(T0 * S));
        assert_eq!(d.skew_ns, Some(600 * S));
    }

    proptest::proptest! {
        /// Any bytes, and real packets with bytes changed: an answer, never a panic.
        #[test]
        fn never_panics(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            flips in proptest::collection::vec((0usize..200, proptest::prelude::any::<u8>()), 0..6),
            received in proptest::prelude::any::<i64>(),
            skew in proptest::prelude::any::<i64>(),
        ) {
            let _ = parse(&noise, "radius:x", received, skew);
            let mut p = pkt(
                &[(attr::FRAMED_IP_ADDRESS, vec![1, 2, 3, 4]), ts(T0), (attr::ACCT_DELAY_TIME, vec![255; 4])],
                status::STOP,
            );
            for (at, b) in flips {
                let n = p.len();
                p[at % n] = b;
            }
            let _ = parse(&p, "radius:127.0.0.1:1", received, skew);
        }
    }

    #[test]
    fn bad_packets_are_named_and_others_are_no_event() {
        let no_addr = pkt(&[], status::START);
        let e = parse(&no_addr, "radius:x", 0, S).unwrap_err();
        assert!(e.reason.contains("Framed-IP-Address"), "{e}");
        let on = pkt(
            &[(attr::NAS_IP_ADDRESS, vec![10, 0, 0, 9])],
            status::ACCOUNTING_ON,
        );
        let d = parse(&on, "radius:x", 0, S).unwrap().unwrap();
        assert_eq!(d.event.action, Action::NasReset);
        assert_eq!(d.event.detail, "NAS 10.0.0.9");
        let other = pkt(&[], 15);
        assert_eq!(parse(&other, "radius:x", 0, S), Ok(None));
        let twice = pkt(
            &[
                (attr::USER_NAME, b"mallory".to_vec()),
                (attr::FRAMED_IP_ADDRESS, vec![1, 2, 3, 4]),
            ],
            status::START,
        );
        assert!(parse(&twice, "radius:x", 0, S)
            .unwrap_err()
            .reason
            .contains("twice"));
        let bad_prefix = pkt(
            &[(attr::FRAMED_IPV6_PREFIX, vec![0, 64, 0x20, 0x01])],
            status::START,
        );
        assert!(parse(&bad_prefix, "radius:x", 0, S).is_err());
        assert!(parse(b"\x04\x01\x00", "radius:x", 0, S).is_err());
    }
}
