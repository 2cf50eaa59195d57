//! OpenVPN server log lines (2.4–2.6, `verb 3`), as written to its log file
//! or to syslog, and `CLIENT_LIST` lines of its status file (versions 2, 3).
//!
//! * connect: `alice/198.51.100.7:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=fd00::1000`
//! * connect: `MULTI: primary virtual IP for alice/198.51.100.7:51234: 10.8.0.6`
//! * connect: `alice/198.51.100.7:51234 MULTI: Learn: 10.8.0.6 -> alice/198.51.100.7:51234`
//! * disconnect: `alice/198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting`
//!   (also `... client-instance restarting`)
//! * alive: `CLIENT_LIST,alice,198.51.100.7:51234,10.8.0.6,,1234,5678,2025-01-01 10:00:00,1735725600,...`
//!   (comma- or tab-separated; the Unix time is "connected since")
//!
//! A line may begin with OpenVPN's own time stamp, `2025-01-01 10:00:00 ` or
//! `Wed Jan  1 10:00:00 2025 `, read at the sender's offset (the record's
//! zone, else `syslog.default_timezone`). The subscriber is the client's
//! common name; the session is `cn/real-address:port`; the real address
//! goes into the binding's detail.

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};

const K: &str = "OpenVPN";

/// Strips a leading OpenVPN time stamp; returns (ns, rest).
fn strip_time(line: &str, offset: i32) -> (Option<i64>, &str) {
    if let Some(head) = line.get(..19) {
        if let Some(s) = super::parse_civil(head, offset) {
            return (s.checked_mul(1_000_000_000), line[19..].trim_start());
        }
    }
    // "Wed Jan  1 10:00:00 2025 "
    let mut words = Vec::with_capacity(5);
    let mut pos = 0;
    let bytes = line.as_bytes();
    while words.len() < 5 {
        while pos < bytes.len() && bytes[pos] == b' ' {
            pos += 1;
        }
        let ws = pos;
        while pos < bytes.len() && bytes[pos] != b' ' {
            pos += 1;
        }
        if ws == pos {
            break;
        }
        words.push(&line[ws..pos]);
    }
    if words.len() == 5 && words[0].len() == 3 && super::month(words[1]).is_some() {
        let w = &words;
        let parsed = (|| {
            let mo = super::month(w[1])?;
            let d: u32 = w[2].parse().ok()?;
            let mut it = w[3].split(':');
            let h: u32 = it.next()?.parse().ok()?;
            let mi: u32 = it.next()?.parse().ok()?;
            let s: u32 = it.next()?.parse().ok()?;
            let y: i64 = w[4].parse().ok()?;
            super::civil_secs(y, mo, d, h, mi, s, offset)
        })();
        if let Some(s) = parsed {
            return (s.checked_mul(1_000_000_000), line[pos..].trim_start());
        }
    }
    (None, line)
}

/// `cn/addr:port` → (cn, "addr:port").
fn split_peer(p: &str) -> Option<(&str, &str)> {
    let (cn, real) = p.rsplit_once('/')?;
    let real = real
        .strip_prefix("[AF_INET]")
        .or_else(|| real.strip_prefix("[AF_INET6]"))
        .unwrap_or(real);
    let (host, port) = real.rsplit_once(':')?;
    if cn.is_empty() || host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    host.trim_matches(|c| c == '[' || c == ']')
        .parse::<std::net::IpAddr>()
        .ok()?;
    Some((cn, real))
}

fn virt(s: &str) -> Result<Net, ParseError> {
    let s = s.trim().trim_end_matches(',');
    // A Learn line in tap mode names a MAC address: not ours.
    Net::parse(s).map_err(|e| perr(K, format!("virtual address: {e}")))
}

fn connect(peer: &str, nets: Vec<Net>, at: Option<i64>) -> Result<Option<Event>, ParseError> {
    let (cn, real) = split_peer(peer)
        .ok_or_else(|| perr(K, format!("`{peer}` is not common-name/address:port")))?;
    let mut ev = Event::new(Kind::Openvpn, Action::Start);
    ev.subscriber = cn.to_owned();
    ev.session = peer.to_owned();
    ev.detail = format!("real address {real}");
    ev.nets = nets;
    ev.at_ns = at;
    Ok(Some(ev))
}

pub fn parse(line: &str, offset: i32) -> Result<Option<Event>, ParseError> {
    let (at, rest) = strip_time(line.trim(), offset);
    if let Some(r) = rest.strip_prefix("CLIENT_LIST") {
        let sep = if r.starts_with('\t') { '\t' } else { ',' };
        let f: Vec<&str> = r.split(sep).collect();
        // f[0] is empty (after the tag)
        if f.len() < 9 {
            return Err(perr(K, "a CLIENT_LIST line with fewer than 8 fields"));
        }
        let (cn, real, v4, v6) = (f[1], f[2], f[3], f[4]);
        if cn == "Common Name" {
            return Ok(None); // the HEADER line
        }
        let peer = format!("{cn}/{real}");
        let mut nets = Vec::new();
        for a in [v4, v6] {
            if !a.is_empty() {
                nets.push(virt(a)?);
            }
        }
        if nets.is_empty() {
            return Err(perr(K, "CLIENT_LIST without a virtual address"));
        }
        let since: i64 = f[8]
            .trim()
            .parse()
            .ok()
            .filter(|v| (0..=super::MAX_UNIX_SECS).contains(v))
            .ok_or_else(|| perr(K, format!("CLIENT_LIST: `{}` is not a Unix time", f[8])))?;
        let mut ev = match connect(&peer, nets, at)? {
            Some(e) => e,
            None => return Ok(None),
        };
        ev.action = Action::Update;
        ev.started_ns = Some(since * 1_000_000_000);
        return Ok(Some(ev));
    }
    if let Some((prefix, tail)) = after_prefix(rest, "MULTI_sva: pool returned ") {
        let Some(peer) = prefix else {
            return Ok(None);
        };
        let mut nets = Vec::new();
        for part in tail.split(", ") {
            let (fam, val) = part
                .split_once('=')
                .ok_or_else(|| perr(K, "pool line without IPv4=/IPv6="))?;
            if fam != "IPv4" && fam != "IPv6" {
                return Err(perr(K, "a pool line names only IPv4= and IPv6="));
            }
            if !val.starts_with('(') {
                nets.push(virt(val)?);
            }
        }
        if nets.is_empty() {
            return Ok(None);
        }
        return connect(peer, nets, at);
    }
    if let Some((prefix, tail)) = after_prefix(rest, "MULTI: primary virtual IP for ") {
        let (peer, addr) = tail
            .rsplit_once(": ")
            .ok_or_else(|| perr(K, "primary virtual IP line without `: address`"))?;
        if !one_token(peer) || !one_token(addr) {
            return Ok(None);
        }
        if prefix.is_some_and(|p| p != peer) {
            return Err(perr(
                K,
                "the line's client prefix and the client it names differ",
            ));
        }
        return connect(peer, vec![virt(addr)?], at);
    }
    if let Some((prefix, tail)) = after_prefix(rest, "MULTI: Learn: ") {
        let (addr, peer) = tail
            .split_once(" -> ")
            .ok_or_else(|| perr(K, "Learn line without `->`"))?;
        if !one_token(addr) || !one_token(peer) {
            return Ok(None);
        }
        if prefix.is_some_and(|p| p != peer) {
            return Err(perr(
                K,
                "the line's client prefix and the client it names differ",
            ));
        }
        if addr.contains('@') || addr.matches(':').count() == 5 && addr.len() == 17 {
            return Ok(None); // a MAC address (tap mode), optionally @vlan
        }
        return connect(peer, vec![virt(addr)?], at);
    }
    // `PEER SIGTERM[soft,remote-exit] received, client-instance exiting`, nothing else.
    for end in [
        " received, client-instance exiting",
        " received, client-instance restarting",
    ] {
        let Some(head) = rest.strip_suffix(end) else {
            continue;
        };
        let Some((peer, signal)) = head.split_once(' ') else {
            return Ok(None);
        };
        let is_signal = signal.starts_with("SIG")
            && signal.ends_with(']')
            && signal.contains('[')
            && one_token(signal);
        if !is_signal || !one_token(peer) {
            return Ok(None);
        }
        let Some((cn, _)) = split_peer(peer) else {
            return Ok(None);
        };
        let mut ev = Event::new(Kind::Openvpn, Action::Stop);
        ev.subscriber = cn.to_owned();
        ev.session = peer.to_owned();
        ev.at_ns = at;
        return Ok(Some(ev));
    }
    Ok(None)
}

/// Text without whitespace (a client, an address, a signal word).
fn one_token(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

/// `PHRASE rest` or `PEER PHRASE rest` (OpenVPN prefixes a client's lines
/// with `cn/address:port`): the prefix, if any, and what follows the
/// phrase. Anything else before the phrase: `None` (the phrase sits inside
/// some other message, not at the start of an OpenVPN line).
fn after_prefix<'a>(rest: &'a str, phrase: &str) -> Option<(Option<&'a str>, &'a str)> {
    if let Some(t) = rest.strip_prefix(phrase) {
        return Some((None, t));
    }
    let (first, after) = rest.split_once(' ')?;
    let t = after.strip_prefix(phrase)?;
    one_token(first).then_some((Some(first), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_line_with_timestamp() {
        let e = parse(
            "2025-01-01 10:00:00 alice/198.51.100.7:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=(Not enabled)",
            19800,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.action, Action::Start);
        assert_eq!(e.subscriber, "alice");
        assert_eq!(e.session, "alice/198.51.100.7:51234");
        assert_eq!(e.nets, vec![Net::parse("10.8.0.6").unwrap()]);
        assert_eq!(e.at_ns, Some(1_735_705_800_000_000_000));
        assert_eq!(e.detail, "real address 198.51.100.7:51234");
    }

    #[test]
    fn other_shapes() {
        let e = parse("Wed Jan  1 10:00:00 2025 MULTI: primary virtual IP for bob/203.0.113.9:1194: 10.8.0.10", 0)
            .unwrap()
            .unwrap();
        assert_eq!(e.subscriber, "bob");
        assert_eq!(e.at_ns, Some(1_735_725_600_000_000_000));
        let e = parse(
            "bob/203.0.113.9:1194 MULTI: Learn: 10.8.0.10 -> bob/203.0.113.9:1194",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.nets[0].to_string(), "10.8.0.10");
        assert_eq!(e.at_ns, None);
        assert_eq!(
            parse(
                "bob/203.0.113.9:1194 MULTI: Learn: 52:54:00:12:34:56 -> bob/203.0.113.9:1194",
                0
            ),
            Ok(None)
        );
        let e = parse(
            "bob/203.0.113.9:1194 SIGTERM[soft,remote-exit] received, client-instance exiting",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.action, Action::Stop);
        assert_eq!(e.session, "bob/203.0.113.9:1194");
        let e = parse(
            "CLIENT_LIST,carol,192.0.2.44:40000,10.8.0.14,,12345,67890,2025-01-01 10:00:00,1735725600,UNDEF,3,4,AES-256-GCM",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.action, Action::Update);
        assert_eq!(e.started_ns, Some(1_735_725_600_000_000_000));
        assert_eq!(
            parse("HEADER,CLIENT_LIST,Common Name,Real Address", 0),
            Ok(None)
        );
        assert_eq!(parse("Initialization Sequence Completed", 0), Ok(None));
        assert!(parse(
            "x/1.2.3.4:5 MULTI_sva: pool returned IPv4=10.8.0.300, IPv6=(Not enabled)",
            0
        )
        .is_err());
    }
}
