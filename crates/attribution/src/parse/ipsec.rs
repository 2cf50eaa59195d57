//! IPsec virtual IPs: strongSwan's charon assigning an address from a pool
//! to a road-warrior and the lease going offline. Shapes read (seen from
//! strongSwan 5.9's gateway log, `charon.filelog` or syslog, default levels:
//! the IKE and CFG groups at level 1):
//!
//! ```text
//! 2026-12-07T06:55:53+0000 03[IKE] <rw|1> assigning virtual IP 10.3.0.1 to peer 'alice@example.net'
//! 2026-12-07T06:55:53+0000 03[IKE] <rw|1> assigning virtual IP fd00:3::1 to peer 'alice@example.net'
//! 2026-12-07T06:55:55+0000 10[CFG] <rw|1> lease fd00:3::1 by 'alice@example.net' went offline
//! ```
//!
//! The lease goes offline whenever the IKE_SA ends: a DELETE from the
//! client, its death found by dead-peer detection, the gateway shutting
//! down, or a duplicate SA replaced on INITIAL_CONTACT. A lease is a session
//! `SERVER|IDENTITY|ADDRESS` (the feeder puts the source the line came from
//! in front, as for DHCP), so one address given out by two gateways keeps
//! both holders. The subscriber is the peer's IKE identity (an e-mail
//! address, a distinguished name, an EAP identity), as authenticated by the
//! gateway; the register links it to a person. The time is the line's own
//! when it starts with one carrying its date and offset (give charon
//! `time_format = %Y-%m-%dT%H:%M:%S%z`); else the record's (syslog's
//! header, or when a followed line was read). The connection name and IKE_SA
//! number (`<rw|1>`, with `ike_name = yes`) go into the binding's detail.

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};

const K: &str = "strongSwan";

/// What every line read here holds (in `super::MARKERS`).
pub const MARKERS: [&str; 2] = ["assigning virtual IP ", "' went offline"];

/// `ADDRESS to peer 'ID'` / `ADDRESS by 'ID' went offline` → (address, id).
fn address_and_id<'a>(
    rest: &'a str,
    between: &str,
    after: &str,
) -> Result<(Net, &'a str), ParseError> {
    let (addr, tail) = rest
        .split_once(between)
        .ok_or_else(|| perr(K, format!("`{between}` does not follow the address")))?;
    let id = tail
        .strip_suffix(after)
        .ok_or_else(|| perr(K, "the peer's identity is not quoted"))?;
    if id.is_empty() || id.len() > 1024 {
        return Err(perr(K, "the peer's identity is empty or over 1 KiB"));
    }
    let ip: std::net::IpAddr = addr
        .parse()
        .map_err(|_| perr(K, format!("`{addr}` is not an IP address")))?;
    let net = Net::parse(&ip.to_string()).map_err(|e| perr(K, e.to_string()))?;
    Ok((net, id))
}

/// The line's own time: its first word, `2026-12-07T06:55:53+0000` (with
/// charon's `time_add_ms`, `.123` after the offset).
fn leading_time(line: &str) -> Option<i64> {
    let word = line.split(' ').next()?;
    if word.len() < 20 || !word.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (stamp, ms) = match word.rsplit_once('.') {
        Some((s, ms)) if ms.len() == 3 && ms.bytes().all(|c| c.is_ascii_digit()) => {
            (s, ms.parse::<i64>().ok()?)
        }
        _ => (word, 0),
    };
    // `get`, not `split_at`: a line is any text, and the cut may fall inside a character.
    let cut = stamp.len().checked_sub(5)?;
    let (civil, zone) = (stamp.get(..cut)?, stamp.get(cut..)?);
    let offset = super::zone_offset(zone)?;
    let secs = super::parse_civil(civil, offset)?;
    super::secs_to_ns(secs)?.checked_add(ms * 1_000_000)
}

/// `<NAME|N> ` before the message, when charon's `ike_name` is on.
fn sa_name(before: &str) -> Option<&str> {
    let start = before.rfind('<')?;
    let end = before[start..].find('>')? + start;
    Some(&before[start + 1..end])
}

pub fn parse(line: &str) -> Result<Option<Event>, ParseError> {
    let (at, action, rest) = if let Some(i) = line.find(MARKERS[0]) {
        (i, Action::Start, &line[i + MARKERS[0].len()..])
    } else if line.contains(MARKERS[1]) {
        let Some(i) = line.find("lease ") else {
            return Ok(None);
        };
        (i, Action::Stop, &line[i + "lease ".len()..])
    } else {
        return Ok(None);
    };
    let (net, id) = match action {
        Action::Start => address_and_id(rest.trim_end(), " to peer '", "'")?,
        _ => address_and_id(rest.trim_end(), " by '", "' went offline")?,
    };
    let mut ev = Event::new(Kind::Ipsec, action);
    ev.nets.push(net);
    ev.subscriber = id.to_owned();
    ev.session = format!("{id}|{}", net.first_addr());
    ev.at_ns = leading_time(line);
    ev.detail = match sa_name(&line[..at]) {
        Some(sa) => format!("IKE_SA {sa}"),
        None => String::new(),
    };
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = "2026-12-07T06:55:53+0000 03[IKE] <rw|1> assigning virtual IP 10.3.0.1 to peer 'alice@example.net'";
    const STOP: &str = "2026-12-07T06:55:55+0000 10[CFG] <rw|1> lease 10.3.0.1 by 'alice@example.net' went offline";

    #[test]
    fn an_assignment_starts_and_going_offline_stops_one_lease() {
        let s = parse(START).unwrap().unwrap();
        assert_eq!(s.action, Action::Start);
        assert_eq!(s.kind, Kind::Ipsec);
        assert_eq!(s.nets, vec![Net::parse("10.3.0.1").unwrap()]);
        assert_eq!(s.subscriber, "alice@example.net");
        assert_eq!(s.session, "alice@example.net|10.3.0.1");
        assert_eq!(s.detail, "IKE_SA rw|1");
        assert_eq!(
            s.at_ns,
            Some(super::super::rfc3339_ns("2026-12-07T06:55:53Z").unwrap())
        );
        let e = parse(STOP).unwrap().unwrap();
        assert_eq!((e.action, &e.session), (Action::Stop, &s.session));
        // IPv6, syslog's message part (no time, no SA name), milliseconds, IST.
        let v6 =
            parse("charon: 05[IKE] assigning virtual IP fd00:3::1 to peer 'CN=bob, O=Example'")
                .unwrap()
                .unwrap();
        assert_eq!(v6.nets, vec![Net::parse("fd00:3::1").unwrap()]);
        assert_eq!(
            (v6.at_ns, v6.detail.as_str(), v6.subscriber.as_str()),
            (None, "", "CN=bob, O=Example")
        );
        // Found by the fuzzer: a stamp whose zone would be cut inside a character.
        let odd = parse(&STOP.replace("+0000", "+00\u{e9}0"))
            .unwrap()
            .unwrap();
        assert_eq!(odd.at_ns, None);
        let ms = parse(&STOP.replace("+0000", "+0530.250")).unwrap().unwrap();
        assert_eq!(
            ms.at_ns,
            Some(super::super::rfc3339_ns("2026-12-07T01:25:55.25Z").unwrap())
        );
    }

    #[test]
    fn other_lines_are_not_leases_and_bad_ones_say_why() {
        assert_eq!(
            parse("03[IKE] <rw|1> peer requested virtual IP %any").unwrap(),
            None
        );
        assert_eq!(
            parse("03[CFG] <rw|1> assigning new lease to 'alice@example.net'").unwrap(),
            None
        );
        for (bad, says) in [
            (START.replace("10.3.0.1", "10.3.0.300"), "not an IP address"),
            (START.replace(" to peer ", " for "), "does not follow"),
            (
                START.replace("'alice@example.net'", "alice"),
                "does not follow",
            ),
            (STOP.replace("'alice@example.net'", "''"), "empty"),
        ] {
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
