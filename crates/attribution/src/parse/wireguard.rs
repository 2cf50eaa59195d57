//! WireGuard peers, polled: the output of `wg show all dump` read into
//! peers, two polls compared into changes, each change written as one line
//! that `serve` stores (transport `file`, peer `wireguard:INTERFACE`), and
//! that line read back into a session event.
//!
//! WireGuard has no sessions and logs nothing. What a poll shows is the
//! configuration at that instant: each peer's public key, the addresses it
//! may use inside the tunnel (allowed IPs, which WireGuard enforces: a
//! packet from an inner address is accepted only from the peer whose key
//! the address is bound to), its last outer endpoint and its last handshake.
//! So a binding here says: *from the poll that first saw this key with these
//! allowed IPs until the poll that saw them gone, an inner packet from these
//! addresses could only have come from this key.* It cannot say:
//!
//! * which person or device holds the key (the register must map the key to
//!   a subscriber: register the subscriber with the key as its id);
//! * that the peer was connected at a given instant: only the handshakes,
//!   recorded when they advance, show it was (a handshake happens at least
//!   every two minutes while traffic flows);
//! * when, between two polls, a change happened: a start or end is known to
//!   within `wireguard.interval`;
//! * what happened while `serve` was not polling: a peer removed then is
//!   ended at the first poll after, and its line says when it was last seen.
//!
//! A line: `wireguard EVENT INTERFACE peer=KEY allowed-ips=NET,NET
//! endpoint=ADDR:PORT handshake=TIME at=TIME` (`remove` adds `seen=TIME`,
//! the previous poll; `(none)` and `never` where there is nothing). Events:
//! `add` (the key with these allowed IPs appeared: start), `remove` (the key
//! or its allowed IPs went: stop; a change of allowed IPs is a `remove` then
//! an `add`), `endpoint` and `handshake` (alive). Private and preshared keys
//! are dropped as the dump is read: they never reach a line.

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

const K: &str = "WireGuard";

/// How every line the poller writes begins.
pub const LINE_PREFIX: &str = "wireguard ";
/// The peer of the records the poller stores: this and the interface.
pub const RECORD_PEER: &str = "wireguard:";

/// One peer of one interface, as a poll saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub iface: String,
    /// The peer's public key (base64, as `wg` prints it).
    pub key: String,
    /// Its outer address, once it has sent anything.
    pub endpoint: Option<String>,
    /// The inner addresses and prefixes bound to the key.
    pub allowed: Vec<String>,
    /// Its last handshake, Unix seconds.
    pub handshake: Option<i64>,
}

/// Every peer of every interface at one poll.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the poll ran, Unix nanoseconds.
    pub at_ns: i64,
    /// By `(interface, key)`.
    pub peers: BTreeMap<String, Peer>,
}

/// `wg show all dump` output that is not what `wg` writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`wg show all dump` line {line}: {reason}")]
pub struct DumpError {
    pub line: usize,
    pub reason: String,
}

fn is_key(s: &str) -> bool {
    s.len() == 44
        && s.ends_with('=')
        && s[..43]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// An allowed IP as `wg` prints it (`10.9.0.2/32`), with any host bits
/// cleared, as WireGuard itself does.
fn allowed_net(s: &str) -> Option<Net> {
    let (a, l) = s.split_once('/')?;
    let ip: IpAddr = a.parse().ok()?;
    let len: u8 = l.parse().ok()?;
    let masked = match ip {
        IpAddr::V4(v4) if len <= 32 => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::from((u32::from(v4) & m).to_be_bytes())
        }
        IpAddr::V6(v6) if len <= 128 => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::from((u128::from(v6) & m).to_be_bytes())
        }
        _ => return None,
    };
    Net::parse(&format!("{masked}/{len}")).ok()
}

/// Reads `wg show all dump`: interface lines (5 fields) are checked and
/// skipped (they hold the private key), peer lines (9 fields) give peers
/// (their preshared key dropped).
pub fn read_dump(text: &str) -> Result<Vec<Peer>, DumpError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |reason: String| DumpError {
            line: i + 1,
            reason,
        };
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let iface = f[0];
        if iface.is_empty() || iface.len() > 64 || iface.bytes().any(|c| c <= b' ' || c == b'/') {
            return Err(err(
                "the interface name is empty or holds a space or `/`".into()
            ));
        }
        match f.len() {
            5 => continue,
            9 => {}
            n => {
                return Err(err(format!(
                    "{n} tab-separated fields; an interface line has 5 and a peer line 9"
                )))
            }
        }
        if !is_key(f[1]) {
            return Err(err(
                "the peer's public key is not 44 characters of base64".into()
            ));
        }
        let endpoint = match f[3] {
            "(none)" => None,
            e => match e.parse::<SocketAddr>() {
                Ok(a) => Some(a.to_string()),
                Err(_) => return Err(err(format!("endpoint `{e}` is not ADDRESS:PORT"))),
            },
        };
        let mut allowed = Vec::new();
        if f[4] != "(none)" {
            for a in f[4].split(',') {
                match allowed_net(a) {
                    Some(n) => allowed.push(n.to_string()),
                    None => return Err(err(format!("allowed IP `{a}` is not ADDRESS/LENGTH"))),
                }
            }
        }
        let handshake = match f[5].parse::<i64>() {
            Ok(0) => None,
            Ok(s) if (1..=super::MAX_UNIX_SECS).contains(&s) => Some(s),
            _ => {
                return Err(err(format!(
                    "latest handshake `{}` is not Unix seconds",
                    f[5]
                )))
            }
        };
        out.push(Peer {
            iface: iface.to_owned(),
            key: f[1].to_owned(),
            endpoint,
            allowed,
            handshake,
        });
    }
    Ok(out)
}

impl Snapshot {
    pub fn new(at_ns: i64, peers: Vec<Peer>) -> Snapshot {
        let peers = peers
            .into_iter()
            .map(|p| (format!("{}|{}", p.iface, p.key), p))
            .collect();
        Snapshot { at_ns, peers }
    }
}

fn time(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns as i128)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "never".into())
}

fn line(event: &str, p: &Peer, at_ns: i64, seen_ns: Option<i64>) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.join(",")
        }
    };
    let mut s = format!(
        "{LINE_PREFIX}{event} {} peer={} allowed-ips={} endpoint={} handshake={} at={}",
        p.iface,
        p.key,
        list(&p.allowed),
        p.endpoint.as_deref().unwrap_or("(none)"),
        p.handshake
            .map(|h| time(h.saturating_mul(1_000_000_000)))
            .unwrap_or_else(|| "never".into()),
        time(at_ns),
    );
    if let Some(seen) = seen_ns {
        s.push_str(&format!(" seen={}", time(seen)));
    }
    s
}

/// The lines that say what changed from `prev` (none: the first poll ever,
/// so every peer is new) to `now`, by interface, in a stable order.
pub fn changes(prev: Option<&Snapshot>, now: &Snapshot) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    let before = prev.map_or(&empty, |p| &p.peers);
    let seen = prev.map(|p| p.at_ns);
    for (id, p) in &now.peers {
        let mut push =
            |ev: &str, q: &Peer, seen| out.push((q.iface.clone(), line(ev, q, now.at_ns, seen)));
        match before.get(id) {
            None => push("add", p, None),
            Some(old) if old.allowed != p.allowed => {
                push("remove", old, seen);
                push("add", p, None);
            }
            Some(old) if old.endpoint != p.endpoint => push("endpoint", p, None),
            Some(old) if p.handshake > old.handshake => push("handshake", p, None),
            Some(_) => {}
        }
    }
    for (id, old) in before {
        if !now.peers.contains_key(id) {
            out.push((old.iface.clone(), line("remove", old, now.at_ns, seen)));
        }
    }
    out
}

/// FNV-1a, 64 bits: a digest that never changes between builds (sessions
/// are stored).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn field<'a>(words: &[&'a str], name: &str) -> Result<&'a str, ParseError> {
    words
        .iter()
        .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .ok_or_else(|| perr(K, format!("`{name}=` is missing")))
}

/// A line the poller wrote, into its event: the session is the interface,
/// the key and its allowed IPs, the subscriber the key; the binding stays
/// open until a `remove` (WireGuard has no lifetime).
pub fn parse(msg: &str) -> Result<Option<Event>, ParseError> {
    let Some(rest) = msg.trim().strip_prefix(LINE_PREFIX) else {
        return Ok(None);
    };
    let words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    let (Some(event), Some(iface)) = (words.first(), words.get(1)) else {
        return Err(perr(K, "the event and the interface are missing"));
    };
    let action = match *event {
        "add" => Action::Start,
        "remove" => Action::Stop,
        "endpoint" | "handshake" => Action::Update,
        o => {
            return Err(perr(
                K,
                format!("event `{o}`; expected add, remove, endpoint or handshake"),
            ))
        }
    };
    let key = field(&words, "peer")?;
    if !is_key(key) {
        return Err(perr(K, "`peer=` is not a public key"));
    }
    let at = field(&words, "at")?;
    let at_ns =
        super::rfc3339_ns(at).ok_or_else(|| perr(K, format!("`at={at}` is not RFC 3339")))?;
    let mut ev = Event::new(Kind::Wireguard, action);
    let allowed = field(&words, "allowed-ips")?;
    if allowed != "(none)" {
        for a in allowed.split(',') {
            ev.nets
                .push(Net::parse(a).map_err(|e| perr(K, format!("`allowed-ips`: {e}")))?);
        }
    }
    let endpoint = field(&words, "endpoint")?;
    ev.at_ns = Some(at_ns);
    // Open until the key or its addresses go: the end is the `remove`.
    ev.lifetime_secs = (action != Action::Stop).then_some(super::MAX_UNIX_SECS);
    ev.subscriber = key.to_owned();
    // A change of allowed IPs is a new session (its `remove` and `add` share
    // their time, and a Start at a closed session's end would be its copy).
    ev.session = format!("{iface}|{key}|{:016x}", fnv1a(allowed.as_bytes()));
    ev.detail = if endpoint == "(none)" {
        format!("{iface}, no endpoint yet")
    } else {
        format!("{iface}, endpoint {endpoint}")
    };
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "S88t9L0ewiveZLyEoOKbLhouTEHXDS3LjQWfwH9XbGs=";
    const B: &str = "7U+1DsHyKJNHs94FovDCVgvhLk6lQgzGFUTXC4z3ZCo=";

    /// `wg show all dump` from wireguard-go with one peer, as written here.
    const DUMP: &str = "wg0\tYGKRRVsg7SrhfBAmmXSQlTtkX/8MjfPMiy09fLLpB30=\t7U+1DsHyKJNHs94FovDCVgvhLk6lQgzGFUTXC4z3ZCo=\t51999\toff\n\
        wg0\tS88t9L0ewiveZLyEoOKbLhouTEHXDS3LjQWfwH9XbGs=\t(none)\t127.0.0.1:51998\t10.9.0.2/32,fd00:9::2/128\t0\t0\t0\toff\n";

    fn at(s: &str) -> i64 {
        super::super::rfc3339_ns(s).unwrap()
    }

    #[test]
    fn a_dump_gives_peers_and_never_a_private_or_preshared_key() {
        let with_psk = DUMP.replace(
            "(none)\t127",
            "cHJlc2hhcmVkcHJlc2hhcmVkcHJlc2hhcmVkcHJlc2g=\t127",
        );
        let peers = read_dump(&with_psk).unwrap();
        assert_eq!(
            peers,
            vec![Peer {
                iface: "wg0".into(),
                key: A.into(),
                endpoint: Some("127.0.0.1:51998".into()),
                allowed: vec!["10.9.0.2".into(), "fd00:9::2".into()],
                handshake: None,
            }]
        );
        let snap = Snapshot::new(at("2026-12-07T10:00:00Z"), peers);
        let all: String = changes(None, &snap).into_iter().map(|(_, l)| l).collect();
        assert!(
            !all.contains("YGKRRVsg7") && !all.contains("cHJlc2hh"),
            "{all}"
        );
        assert_eq!(read_dump("").unwrap(), vec![]);
    }

    #[test]
    fn bad_dumps_name_the_line_and_the_field() {
        let bad = DUMP.replace("10.9.0.2/32", "10.9.0.2");
        assert_eq!(read_dump(&bad).unwrap_err().line, 2);
        assert!(read_dump(&bad).unwrap_err().reason.contains("10.9.0.2"));
        assert!(read_dump("wg0\tx\ty\n")
            .unwrap_err()
            .reason
            .contains("3 tab-separated"));
        let bad = DUMP.replace("\t0\t0\t0\t", "\t-5\t0\t0\t");
        assert!(read_dump(&bad).unwrap_err().reason.contains("handshake"));
        let bad = DUMP.replace(A, "short=");
        assert!(read_dump(&bad).unwrap_err().reason.contains("public key"));
        // Host bits are cleared, as WireGuard does.
        let p = read_dump(&DUMP.replace("10.9.0.2/32", "10.9.0.2/24")).unwrap();
        assert_eq!(p[0].allowed[0], "10.9.0.0/24");
    }

    fn peer(key: &str, allowed: &[&str], endpoint: Option<&str>, hs: Option<i64>) -> Peer {
        Peer {
            iface: "wg0".into(),
            key: key.into(),
            endpoint: endpoint.map(str::to_owned),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            handshake: hs,
        }
    }

    #[test]
    fn each_change_is_a_line_that_parses_back_into_its_event() {
        let t0 = at("2026-12-07T10:00:00Z");
        let t1 = at("2026-12-07T10:01:00Z");
        let first = Snapshot::new(
            t0,
            vec![
                peer(A, &["10.9.0.2"], None, None),
                peer(B, &["10.9.0.3"], None, None),
            ],
        );
        let lines = changes(None, &first);
        assert_eq!(lines.len(), 2);
        let ev = parse(&lines[0].1).unwrap().unwrap();
        assert_eq!(ev.action, Action::Start);
        assert_eq!(ev.kind, Kind::Wireguard);
        assert_eq!(ev.at_ns, Some(t0));
        assert_eq!(ev.nets, vec![Net::parse("10.9.0.3").unwrap()]);
        assert!(ev.session.starts_with("wg0|"));
        // Nothing changed: nothing written.
        assert!(changes(
            Some(&first),
            &Snapshot {
                at_ns: t1,
                ..first.clone()
            }
        )
        .is_empty());
        // A handshake, a new endpoint, changed allowed IPs, a peer gone.
        let second = Snapshot::new(
            t1,
            vec![peer(
                A,
                &["10.9.0.2"],
                Some("192.0.2.7:4000"),
                Some(1_796_000_000),
            )],
        );
        let lines = changes(Some(&first), &second);
        let events: Vec<_> = lines
            .iter()
            .map(|(_, l)| parse(l).unwrap().unwrap())
            .collect();
        assert_eq!(events.len(), 2, "{lines:?}");
        assert_eq!(events[0].action, Action::Update);
        assert_eq!(events[0].detail, "wg0, endpoint 192.0.2.7:4000");
        assert_eq!(events[1].action, Action::Stop);
        assert_eq!(events[1].subscriber, B);
        assert!(
            lines[1].1.contains(" seen=2026-12-07T10:00:00Z"),
            "{}",
            lines[1].1
        );
        let third = Snapshot::new(
            t1 + 60_000_000_000,
            vec![peer(
                A,
                &["10.9.0.9"],
                Some("192.0.2.7:4000"),
                Some(1_796_000_060),
            )],
        );
        let lines = changes(Some(&second), &third);
        let acts: Vec<_> = lines
            .iter()
            .map(|(_, l)| parse(l).unwrap().unwrap().action)
            .collect();
        assert_eq!(acts, vec![Action::Stop, Action::Start]);
        // The tracker ends the old addresses and opens the new at that poll.
        let mut t = crate::tracker::Tracker::new(std::time::Duration::from_secs(86_400));
        for (seq, (_, l)) in changes(None, &second).iter().chain(&lines).enumerate() {
            t.feed(&parse(l).unwrap().unwrap(), seq as u64, 0);
        }
        let open = t.expire(i64::MAX);
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(
            (open[0].net, open[0].start_ns),
            (Net::parse("10.9.0.9").unwrap(), third.at_ns)
        );
        let hs = Snapshot::new(
            t1 + 120_000_000_000,
            vec![peer(
                A,
                &["10.9.0.9"],
                Some("192.0.2.7:4000"),
                Some(1_796_000_180),
            )],
        );
        let lines = changes(Some(&third), &hs);
        assert!(
            lines[0].1.starts_with("wireguard handshake wg0 "),
            "{lines:?}"
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert_eq!(parse("not ours"), Ok(None));
        let good = format!("wireguard add wg0 peer={A} allowed-ips=10.9.0.2 endpoint=(none) handshake=never at=2026-12-07T10:00:00Z");
        assert!(parse(&good).unwrap().is_some());
        for (bad, says) in [
            (good.replace("add", "join"), "event `join`"),
            (good.replace(A, "abc"), "public key"),
            (
                good.replace(" at=2026-12-07T10:00:00Z", ""),
                "`at=` is missing",
            ),
            (good.replace("10.9.0.2", "10.9.0.300"), "allowed-ips"),
            ("wireguard add".to_owned(), "missing"),
        ] {
            let e = parse(&bad).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
    }
}
