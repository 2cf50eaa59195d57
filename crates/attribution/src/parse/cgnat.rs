//! CGNAT port-block allocation logs (Juniper MX/SRX `JSERVICES_NAT_PORT_BLOCK_*`
//! and the same shape from other NATs):
//!
//! ```text
//! JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.5:1024-2023 0x6774a500
//! JSERVICES_NAT_PORT_BLOCK_ACTIVE: 100.64.1.2 -> 203.0.113.5:1024-2023 0x6774b310
//! JSERVICES_NAT_PORT_BLOCK_RELEASE: 100.64.1.2 -> 203.0.113.5:1024-2023 0x6774c120
//! ```
//!
//! `INSIDE -> PUBLIC:FIRST-LAST` (ports inclusive), then optionally the
//! event's Unix time in hexadecimal (Juniper writes it), else the record's
//! time is used. The binding is on the public address and port block; its
//! subscriber is `inside:INSIDE`, which `whois` resolves with a second lookup
//! of the inside address at the same instant (a RADIUS or static binding).

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};

const K: &str = "CGNAT";

/// A Juniper service-set tag before the event, `{cgn-sset}[FWNAT]: `: the rest.
fn strip_service_tag(line: &str) -> &str {
    let Some(r) = line.strip_prefix('{') else {
        return line;
    };
    let Some((set, r)) = r.split_once("}[") else {
        return line;
    };
    let Some((tag, r)) = r.split_once("]: ") else {
        return line;
    };
    let word = |w: &str| !w.is_empty() && !w.contains(char::is_whitespace);
    if word(set) && word(tag) {
        r
    } else {
        line
    }
}

/// Reads one port-block line. The message is the event and nothing else:
/// `[{service-set}[TAG]: ]NAME_PORT_BLOCK_EVENT: INSIDE -> PUBLIC:LO-HI [0xTIME]`,
/// optionally in braces; the event name is one word of capitals and `_`
/// at the start. A line that only holds such text somewhere is not one.
pub fn parse(line: &str) -> Result<Option<Event>, ParseError> {
    let mut line = strip_service_tag(line.trim());
    if let Some(inner) = line.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
        line = inner;
    }
    let Some(colon) = line.find(':') else {
        return Ok(None);
    };
    let name = &line[..colon];
    let Some(pos) = name.find("PORT_BLOCK_") else {
        return Ok(None);
    };
    if !name
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
    {
        return Ok(None);
    }
    let word = &name[pos + "PORT_BLOCK_".len()..];
    let tail = &line[colon + 1..];
    let action = match word.trim() {
        "ALLOC" => Action::Start,
        "ACTIVE" | "INTERIM" => Action::Update,
        "RELEASE" => Action::Stop,
        other => return Err(perr(K, format!("unknown port-block event `{other}`"))),
    };
    let mut w = tail.split_whitespace();
    let inside = w
        .next()
        .ok_or_else(|| perr(K, "the inside address is missing"))?;
    let inside_ip: std::net::IpAddr = inside
        .parse()
        .map_err(|_| perr(K, format!("inside address `{inside}` is not an address")))?;
    if w.next() != Some("->") {
        return Err(perr(K, "expected `->` after the inside address"));
    }
    let public = w
        .next()
        .ok_or_else(|| perr(K, "the public address and ports are missing"))?
        .trim_end_matches(['}', ';', ',']);
    let (addr, ports) = public
        .rsplit_once(':')
        .ok_or_else(|| perr(K, format!("`{public}` is not ADDRESS:FIRST-LAST")))?;
    let net = Net::parse(addr.trim_matches(|c| c == '[' || c == ']'))
        .map_err(|e| perr(K, format!("public address: {e}")))?;
    let (lo, hi) = ports
        .split_once('-')
        .ok_or_else(|| perr(K, format!("`{ports}` is not FIRST-LAST")))?;
    let lo: u16 = lo
        .parse()
        .map_err(|_| perr(K, format!("first port `{lo}` is not a port")))?;
    let hi: u16 = hi
        .parse()
        .map_err(|_| perr(K, format!("last port `{hi}` is not a port")))?;
    if lo > hi {
        return Err(perr(K, format!("port range {lo}-{hi} is reversed")));
    }
    let mut ev = Event::new(Kind::Cgnat, action);
    if let Some(h) = w.next().map(|h| h.trim_end_matches(['}', ';', ','])) {
        let Some(hex) = h.strip_prefix("0x") else {
            return Err(perr(K, "after the port block only a 0x time may follow"));
        };
        let v = i64::from_str_radix(hex, 16)
            .map_err(|_| perr(K, format!("`{h}` is not a hexadecimal time")))?;
        // A sign is accepted by from_str_radix (`0x-1`); a time before 1970 is no stamp.
        if !(0..=super::MAX_UNIX_SECS).contains(&v) {
            return Err(perr(K, format!("`{h}` is not a plausible time")));
        }
        ev.at_ns = Some(v * 1_000_000_000);
    }
    if w.next().is_some() {
        return Err(perr(K, "more text after the port block's time"));
    }
    ev.nets.push(net);
    ev.port_lo = lo;
    ev.port_hi = hi;
    ev.subscriber = format!("inside:{inside_ip}");
    ev.session = format!("{net}:{lo}-{hi}/{inside_ip}");
    ev.detail = format!("inside address {inside_ip}");
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn juniper_lines() {
        let e =
            parse("JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.5:1024-2023 0x6774a500")
                .unwrap()
                .unwrap();
        assert_eq!(e.action, Action::Start);
        assert_eq!((e.port_lo, e.port_hi), (1024, 2023));
        assert_eq!(e.subscriber, "inside:100.64.1.2");
        assert_eq!(e.at_ns, Some(0x6774a500_i64 * 1_000_000_000));
        let e = parse("{JSERVICES_NAT_PORT_BLOCK_RELEASE: 100.64.1.2 -> 203.0.113.5:1024-2023}")
            .unwrap();
        assert_eq!(e.unwrap().action, Action::Stop);
        assert!(
            parse("JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.5:2023-1024").is_err()
        );
        assert!(parse("JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 203.0.113.5:1-2").is_err());
    }

    /// Found by the fuzzer: a signed hexadecimal time overflowed when scaled to nanoseconds.
    #[test]
    fn a_negative_hexadecimal_time_is_an_error_not_an_overflow() {
        let e = parse(
            "JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.5:1024-2023 0x-60074a500",
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a plausible time"), "{e}");
    }
}
