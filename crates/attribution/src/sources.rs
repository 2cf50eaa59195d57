//! Which log lines may create bindings: only lines from the configured
//! session sources (`attribution.sources`), and for each source only the
//! parsers it names. Anyone who can get text into a log line (a user name
//! in an sshd message, a URL in a web log) could otherwise write a line that
//! looks like a RADIUS Start and be taken as the holder of an address.
//!
//! A rule matches a record when every field it gives matches:
//!
//! * `peer`: the sender's address (the syslog or HTTP client) is this
//!   address or inside this prefix (`10.0.0.5`, `10.0.0.0/24`, `2001:db8::/32`).
//!   The only field the sender cannot write itself (UDP can be spoofed: pin
//!   RADIUS sources on TCP or TLS where you can).
//! * `host`: a glob (`*`, `?`, ASCII case ignored) on the host the line names.
//! * `app`: a glob on the line's application name (RFC 5424 APP-NAME, RFC 3164 TAG).
//! * `file`: a glob on the path of a file `serve` follows (`files.paths`;
//!   the record's peer is `file:PATH`). Like `peer`, not written by the
//!   sender: the file is on this machine, named by the operator.
//!
//! A rule that gives `host` or `app` never matches a line without one. No
//! rule, no binding: the default is an empty list.

use crate::parse::Parser;
use std::net::IpAddr;

/// One configured session source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRule {
    /// The sender's address or network: (address, prefix length).
    pub peer: Option<(IpAddr, u8)>,
    pub host: Option<String>,
    pub app: Option<String>,
    /// A glob on the path of a followed file.
    pub file: Option<String>,
    /// The parsers that may read this source's lines.
    pub parsers: Vec<Parser>,
}

/// The peer of a followed file's lines: `file:` and the path.
const FILE_PEER: &str = "file:";

/// Where a record came from, as the feeder sees it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The record's peer (`1.2.3.4:5514`, `[::1]:40000`).
    pub peer: &'a str,
    pub host: Option<&'a str>,
    pub app: Option<&'a str>,
}

/// The configured session sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    rules: Vec<SourceRule>,
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn in_net(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let bits = |a: IpAddr| -> (u128, u8) {
        match canonical(a) {
            IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    };
    let (a, fa) = bits(ip);
    let (n, fn_) = bits(net);
    if fa != fn_ || len > fa {
        return false;
    }
    if len == 0 {
        return true;
    }
    let shift = fa - len;
    (a >> shift) == (n >> shift)
}

fn glob(pattern: &Option<String>, value: Option<&str>) -> bool {
    match (pattern, value) {
        (None, _) => true,
        (Some(p), Some(v)) if !v.is_empty() && v != "-" => pramaan_core::zones::glob_match(p, v),
        (Some(_), _) => false,
    }
}

impl SourceRule {
    /// Does this rule cover a record from `o`?
    pub fn matches(&self, o: &Origin<'_>) -> bool {
        if let Some(net) = self.peer {
            let host = pramaan_core::zones::peer_host(o.peer);
            match host.parse::<IpAddr>() {
                Ok(ip) if in_net(ip, net) => {}
                _ => return false,
            }
        }
        if self.file.is_some() {
            let path = o.peer.strip_prefix(FILE_PEER);
            if !glob(&self.file, path) {
                return false;
            }
        }
        glob(&self.host, o.host) && glob(&self.app, o.app)
    }
}

impl Sources {
    /// No source: no log line creates bindings.
    pub fn none() -> Sources {
        Sources::default()
    }

    pub fn new(rules: Vec<SourceRule>) -> Sources {
        Sources { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether some rule lets `parser` read its lines.
    pub fn allows(&self, parser: Parser) -> bool {
        self.rules.iter().any(|r| r.parsers.contains(&parser))
    }

    /// The parsers allowed for a record from `o`: those of every rule that
    /// matches it (none when no rule does).
    pub fn parsers_for(&self, o: &Origin<'_>) -> Vec<Parser> {
        let mut out: Vec<Parser> = Vec::new();
        for r in self.rules.iter().filter(|r| r.matches(o)) {
            for p in &r.parsers {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(peer: Option<&str>, host: Option<&str>, app: Option<&str>) -> SourceRule {
        SourceRule {
            peer: peer.map(|p| {
                let (a, l) = p.split_once('/').unwrap_or((p, ""));
                let a: IpAddr = a.parse().unwrap();
                let l = l.parse().unwrap_or(if a.is_ipv4() { 32 } else { 128 });
                (a, l)
            }),
            host: host.map(str::to_owned),
            app: app.map(str::to_owned),
            file: None,
            parsers: vec![Parser::Radius],
        }
    }

    fn o<'a>(peer: &'a str, host: Option<&'a str>, app: Option<&'a str>) -> Origin<'a> {
        Origin { peer, host, app }
    }

    #[test]
    fn every_given_field_must_match() {
        let r = rule(Some("10.0.0.0/24"), Some("nas-*"), Some("radiusd"));
        assert!(r.matches(&o("10.0.0.7:5514", Some("NAS-1"), Some("radiusd"))));
        assert!(!r.matches(&o("10.0.1.7:5514", Some("nas-1"), Some("radiusd"))));
        assert!(!r.matches(&o("10.0.0.7:5514", Some("nas-1"), Some("sshd"))));
        assert!(!r.matches(&o("10.0.0.7:5514", None, Some("radiusd"))));
        assert!(!r.matches(&o("10.0.0.7:5514", Some("-"), Some("radiusd"))));
        assert!(!r.matches(&o("pramaan:audit", Some("nas-1"), Some("radiusd"))));
        // IPv4-mapped IPv6 senders are their IPv4 address.
        assert!(r.matches(&o("[::ffff:10.0.0.9]:5514", Some("nas-1"), Some("radiusd"))));
        let v6 = rule(Some("2001:db8::/32"), None, None);
        assert!(v6.matches(&o("[2001:db8:1::5]:514", None, None)));
        assert!(!v6.matches(&o("[2001:db9::5]:514", None, None)));
        assert!(!v6.matches(&o("10.0.0.1:514", None, None)));
        let one = rule(Some("127.0.0.1"), None, None);
        assert!(one.matches(&o("127.0.0.1:40000", None, None)));
        assert!(!one.matches(&o("127.0.0.2:40000", None, None)));
    }

    #[test]
    fn a_file_rule_matches_only_that_files_lines() {
        let r = SourceRule {
            file: Some("/var/lib/kea/kea-leases*.csv".into()),
            ..rule(None, None, None)
        };
        assert!(r.matches(&o("file:/var/lib/kea/kea-leases4.csv", None, None)));
        assert!(r.matches(&o("file:/var/lib/kea/kea-leases6.csv", None, None)));
        assert!(!r.matches(&o("file:/var/log/syslog", None, None)));
        // A sender cannot be a file, whatever it writes.
        assert!(!r.matches(&o(
            "10.0.0.1:514",
            Some("/var/lib/kea/kea-leases4.csv"),
            None
        )));
        assert!(!r.matches(&o("/var/lib/kea/kea-leases4.csv", None, None)));
        // And a peer rule never takes a file's lines.
        assert!(!rule(Some("0.0.0.0/0"), None, None).matches(&o(
            "file:/var/lib/kea/kea-leases4.csv",
            None,
            None
        )));
    }

    #[test]
    fn no_rule_no_parser() {
        assert!(Sources::none()
            .parsers_for(&o("10.0.0.1:1", Some("h"), Some("a")))
            .is_empty());
        let s = Sources::new(vec![
            rule(None, None, Some("radiusd")),
            SourceRule {
                parsers: vec![Parser::Openvpn, Parser::Radius],
                ..rule(Some("10.0.0.1"), None, None)
            },
        ]);
        assert_eq!(
            s.parsers_for(&o("10.0.0.1:1", None, Some("radiusd"))),
            vec![Parser::Radius, Parser::Openvpn]
        );
        assert_eq!(
            s.parsers_for(&o("10.0.0.2:1", None, Some("radiusd"))),
            vec![Parser::Radius]
        );
        assert!(s
            .parsers_for(&o("10.0.0.2:1", None, Some("sshd")))
            .is_empty());
        assert!(s.allows(Parser::Openvpn) && !s.allows(Parser::Dhcp));
    }
}
