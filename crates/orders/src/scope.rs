//! What an order covers, and exactly which log lines that is.
//!
//! A scope is a received-time window `[from, to)` and selectors. A line is in
//! scope when it falls in the window and, for every *kind* of selector the
//! order names, matches at least one selector of that kind (kinds combine
//! with AND, selectors of one kind with OR). An order with no selectors
//! covers every line in its window.
//!
//! A VASP transaction (a ledger record of `pramaan:vasp`, whose parties,
//! wallets and hash [`Transaction::of`] reads) is in scope only when the
//! order names subscribers, wallets or transactions: a subscriber selector
//! takes the transactions the subscriber made or received, a wallet selector
//! those from or to the wallet, a transaction selector those with that chain
//! hash. A log line never matches a wallet or transaction selector.
//!
//! Matching is a pure function of the line's stored fields; the export asks
//! the vault for the window and filters with [`Scope::matches`], and a
//! property test checks [`select`] against a brute-force reading of the
//! rules over the same lines.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An IP address, optionally with a port, that the order names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpSelector {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl std::str::FromStr for IpSelector {
    type Err = String;

    /// `192.0.2.7`, `192.0.2.7:443`, `2001:db8::1` or `[2001:db8::1]:443`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(IpSelector { ip, port: None });
        }
        if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
            return Ok(IpSelector {
                ip: sa.ip(),
                port: Some(sa.port()),
            });
        }
        Err(format!(
            "{s:?} is not an IP address or IP:port (e.g. 192.0.2.7, 192.0.2.7:443, [2001:db8::1]:443)"
        ))
    }
}

impl std::fmt::Display for IpSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip, self.port) {
            (ip, None) => write!(f, "{ip}"),
            (IpAddr::V4(ip), Some(p)) => write!(f, "{ip}:{p}"),
            (IpAddr::V6(ip), Some(p)) => write!(f, "[{ip}]:{p}"),
        }
    }
}

/// The time window and the selectors of an order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Start of the window, received time, inclusive (ns since the epoch).
    pub from_ns: i64,
    /// End of the window, exclusive.
    pub to_ns: i64,
    /// The sender's address as stored (`peer`), or its address part without the port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Host names the line carries (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// An address among the line's IPs (and, with a port, that port among its ports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpSelector>,
    /// Subscriber ids: the line names the id as a user, or carries an
    /// address that was bound to the subscriber when it was received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<String>,
    /// Text the raw line contains (exact bytes, case-sensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
    /// Wallet addresses: the VASP transactions from or to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallets: Vec<String>,
    /// Chain transaction hashes: the VASP transactions carrying them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<String>,
}

/// The ledger source of VASP transaction records.
pub const VASP_SOURCE: &str = "pramaan:vasp";

/// What a scope reads of a VASP transaction record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    /// The customer and the counterparty.
    pub parties: Vec<String>,
    pub wallets: Vec<String>,
    pub hash: Option<String>,
}

impl Transaction {
    /// The record's transaction, when it is one (`raw` is its JSON).
    pub fn of(peer: &str, raw: &[u8]) -> Option<Transaction> {
        if peer != VASP_SOURCE {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(raw).ok()?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Some(Transaction {
            parties: ["customer", "counterparty"]
                .iter()
                .filter_map(|k| s(k))
                .collect(),
            wallets: ["from_wallet", "to_wallet"]
                .iter()
                .filter_map(|k| s(k))
                .collect(),
            hash: s("tx_hash"),
        })
    }
}

/// An address bound to a subscriber for a while (from the attribution
/// bindings), used to decide the subscriber selector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberBinding {
    pub subscriber: String,
    /// The address, or the network address of a prefix (a delegated IPv6 /64).
    pub ip: IpAddr,
    /// Prefix length in the address's own family: 32 (IPv4) or 128 (IPv6)
    /// for one address.
    pub prefix: u8,
    /// Inclusive port range; `None` means every port.
    pub ports: Option<(u16, u16)>,
    pub from_ns: i64,
    /// Exclusive; `None` while the binding is open.
    pub to_ns: Option<i64>,
}

impl SubscriberBinding {
    fn covers(&self, ip: &IpAddr, ports: &[u16], at_ns: i64) -> bool {
        in_prefix(self.ip, self.prefix, ip)
            && at_ns >= self.from_ns
            && self.to_ns.is_none_or(|t| at_ns < t)
            && match self.ports {
                None => true,
                Some((lo, hi)) => ports.iter().any(|p| (lo..=hi).contains(p)),
            }
    }
}

/// `ip` is inside `net`/`prefix` (same family; a prefix over the family's
/// length means the one address).
fn in_prefix(net: IpAddr, prefix: u8, ip: &IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & m == u32::from(*a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & m == u128::from(*a) & m
        }
        _ => false,
    }
}

/// The fields of a stored line that a scope looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFields<'a> {
    pub seq: u64,
    pub received_at_ns: i64,
    pub peer: &'a str,
    pub raw: &'a [u8],
    pub host: Option<&'a str>,
    pub ips: &'a [IpAddr],
    pub ports: &'a [u16],
    pub users: &'a [String],
    /// The record's VASP transaction, when it is one.
    pub vasp: Option<&'a Transaction>,
}

/// Why a scope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the window is empty: from ({from}) must be before to ({to})")]
    EmptyWindow { from: String, to: String },
    #[error("{kind} selector {index} is empty")]
    EmptySelector { kind: &'static str, index: usize },
}

impl Scope {
    /// Checks the window and that no selector is blank.
    pub fn validate(&self) -> Result<(), ScopeError> {
        if self.from_ns >= self.to_ns {
            return Err(ScopeError::EmptyWindow {
                from: pramaan_core::time::rfc3339_utc(self.from_ns),
                to: pramaan_core::time::rfc3339_utc(self.to_ns),
            });
        }
        for (kind, list) in [
            ("source", &self.sources),
            ("host", &self.hosts),
            ("subscriber", &self.subscribers),
            ("text", &self.texts),
            ("wallet", &self.wallets),
            ("transaction", &self.transactions),
        ] {
            if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
                return Err(ScopeError::EmptySelector { kind, index: i });
            }
        }
        Ok(())
    }

    /// True when the order names subscribers (their records and bindings
    /// leave with the bundle, so it needs a second person's approval).
    pub fn names_subscribers(&self) -> bool {
        !self.subscribers.is_empty()
    }

    /// True when VASP transactions can be in scope (the order names
    /// subscribers, wallets or transactions).
    pub fn names_vasp(&self) -> bool {
        !(self.subscribers.is_empty() && self.wallets.is_empty() && self.transactions.is_empty())
    }

    /// Whether `line` is in scope; `bindings` are the subscriber selectors'
    /// address bindings (only those of [`Scope::subscribers`] count).
    pub fn matches(&self, line: &LineFields<'_>, bindings: &[SubscriberBinding]) -> bool {
        if line.received_at_ns < self.from_ns || line.received_at_ns >= self.to_ns {
            return false;
        }
        if line.vasp.is_some() && !self.names_vasp() {
            return false;
        }
        if !self.wallets.is_empty()
            && !line
                .vasp
                .is_some_and(|t| t.wallets.iter().any(|w| self.wallets.contains(w)))
        {
            return false;
        }
        if !self.transactions.is_empty()
            && !line
                .vasp
                .and_then(|t| t.hash.as_ref())
                .is_some_and(|h| self.transactions.contains(h))
        {
            return false;
        }
        if !self.sources.is_empty() && !self.sources.iter().any(|s| source_is(line.peer, s)) {
            return false;
        }
        if !self.hosts.is_empty()
            && !line
                .host
                .is_some_and(|h| self.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)))
        {
            return false;
        }
        if !self.ips.is_empty()
            && !self.ips.iter().any(|sel| {
                line.ips.contains(&sel.ip) && sel.port.is_none_or(|p| line.ports.contains(&p))
            })
        {
            return false;
        }
        if !self.subscribers.is_empty() && !self.subscriber_matches(line, bindings) {
            return false;
        }
        if !self.texts.is_empty()
            && !self
                .texts
                .iter()
                .any(|t| memchr::memmem::find(line.raw, t.as_bytes()).is_some())
        {
            return false;
        }
        true
    }

    fn subscriber_matches(&self, line: &LineFields<'_>, bindings: &[SubscriberBinding]) -> bool {
        self.subscribers.iter().any(|s| {
            line.users.iter().any(|u| u == s)
                || line.vasp.is_some_and(|t| t.parties.contains(s))
                || bindings.iter().any(|b| {
                    &b.subscriber == s
                        && line
                            .ips
                            .iter()
                            .any(|ip| b.covers(ip, line.ports, line.received_at_ns))
                })
        })
    }
}

/// `peer` is `source`, or `source` is its address without the port
/// (`10.0.0.5` for `10.0.0.5:514`, `2001:db8::1` for `[2001:db8::1]:514`).
fn source_is(peer: &str, source: &str) -> bool {
    if peer == source {
        return true;
    }
    match peer.parse::<std::net::SocketAddr>() {
        Ok(sa) => source.parse::<IpAddr>().is_ok_and(|ip| ip == sa.ip()),
        Err(_) => false,
    }
}

/// The sequence numbers of the lines in scope, in the order given.
pub fn select<'a>(
    scope: &Scope,
    lines: impl IntoIterator<Item = LineFields<'a>>,
    bindings: &[SubscriberBinding],
) -> Vec<u64> {
    lines
        .into_iter()
        .filter(|l| scope.matches(l, bindings))
        .map(|l| l.seq)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct Owned {
        seq: u64,
        at: i64,
        peer: String,
        raw: Vec<u8>,
        host: Option<String>,
        ips: Vec<IpAddr>,
        ports: Vec<u16>,
        users: Vec<String>,
        vasp: Option<Transaction>,
    }

    impl Owned {
        fn fields(&self) -> LineFields<'_> {
            LineFields {
                seq: self.seq,
                received_at_ns: self.at,
                peer: &self.peer,
                raw: &self.raw,
                host: self.host.as_deref(),
                ips: &self.ips,
                ports: &self.ports,
                users: &self.users,
                vasp: self.vasp.as_ref(),
            }
        }
    }

    // Small alphabets so that selectors and lines collide often.
    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u8..4).prop_map(|d| IpAddr::from([10, 0, 0, d])),
            (0u16..3).prop_map(|d| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, d])),
        ]
    }
    fn word() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["alice", "bob", "Web1", "web1", "db", "login"])
            .prop_map(str::to_owned)
    }
    fn line(seq: u64) -> impl Strategy<Value = Owned> {
        (
            0i64..100,
            prop_oneof![
                ip().prop_map(|i| std::net::SocketAddr::new(i, 514).to_string()),
                Just("file:/var/log/x".to_owned())
            ],
            prop::collection::vec(word(), 0..3),
            prop::option::of(word()),
            prop::collection::vec(ip(), 0..3),
            prop::collection::vec(prop::sample::select(vec![22u16, 443, 8080]), 0..2),
            prop::collection::vec(word(), 0..2),
            prop::option::of((
                prop::collection::vec(word(), 1..3),
                prop::collection::vec(wallet(), 0..3),
                prop::option::of(wallet()),
            )),
        )
            .prop_map(
                move |(at, peer, raw, host, ips, ports, users, vasp)| Owned {
                    seq,
                    at,
                    peer,
                    raw: raw.join(" ").into_bytes(),
                    host,
                    ips,
                    ports,
                    users,
                    vasp: vasp.map(|(parties, wallets, hash)| Transaction {
                        parties,
                        wallets,
                        hash,
                    }),
                },
            )
    }
    fn wallet() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["0xaa", "0xbb", "bc1q"]).prop_map(str::to_owned)
    }
    fn scope() -> impl Strategy<Value = Scope> {
        (
            0i64..60,
            1i64..60,
            prop::collection::vec(
                prop_oneof![
                    ip().prop_map(|i| i.to_string()),
                    ip().prop_map(|i| std::net::SocketAddr::new(i, 514).to_string())
                ],
                0..2,
            ),
            prop::collection::vec(word(), 0..2),
            prop::collection::vec(
                (
                    ip(),
                    prop::option::of(prop::sample::select(vec![22u16, 443])),
                )
                    .prop_map(|(ip, port)| IpSelector { ip, port }),
                0..2,
            ),
            prop::collection::vec(word(), 0..2),
            prop::collection::vec(word(), 0..2),
            prop::collection::vec(wallet(), 0..2),
            prop::collection::vec(wallet(), 0..2),
        )
            .prop_map(
                |(from, len, sources, hosts, ips, subscribers, texts, wallets, transactions)| {
                    Scope {
                        from_ns: from,
                        to_ns: from + len,
                        sources,
                        hosts,
                        ips,
                        subscribers,
                        texts,
                        wallets,
                        transactions,
                    }
                },
            )
    }
    fn bindings() -> impl Strategy<Value = Vec<SubscriberBinding>> {
        prop::collection::vec(
            (
                word(),
                ip(),
                prop::option::of((0u16..500, 0u16..9000)),
                0i64..100,
                prop::option::of(0i64..60),
            )
                .prop_map(|(subscriber, ip, ports, from, len)| SubscriberBinding {
                    subscriber,
                    prefix: if ip.is_ipv4() { 32 } else { 128 },
                    ip,
                    ports: ports.map(|(a, b)| (a, a.saturating_add(b))),
                    from_ns: from,
                    to_ns: len.map(|l| from + l),
                }),
            0..4,
        )
    }

    /// The rules read literally: every named kind must have a selector the
    /// line satisfies. Written without the helpers above on purpose.
    fn brute(scope: &Scope, l: &Owned, bindings: &[SubscriberBinding]) -> bool {
        let in_window = scope.from_ns <= l.at && l.at < scope.to_ns;
        let src = scope.sources.is_empty()
            || scope.sources.iter().any(|s| {
                *s == l.peer
                    || l.peer
                        .rsplit_once(':')
                        .map(|(a, _)| a.trim_start_matches('[').trim_end_matches(']'))
                        .is_some_and(|a| a == s && !l.peer.starts_with("file:"))
            });
        let host = scope.hosts.is_empty()
            || scope.hosts.iter().any(|h| {
                l.host
                    .as_ref()
                    .is_some_and(|x| x.to_lowercase() == h.to_lowercase())
            });
        let ip = scope.ips.is_empty()
            || scope.ips.iter().any(|s| {
                l.ips.contains(&s.ip)
                    && (s.port.is_none() || l.ports.iter().any(|p| Some(*p) == s.port))
            });
        let sub = scope.subscribers.is_empty()
            || scope.subscribers.iter().any(|s| {
                l.users.contains(s)
                    || l.vasp.as_ref().is_some_and(|t| t.parties.contains(s))
                    || bindings.iter().filter(|b| &b.subscriber == s).any(|b| {
                        l.ips.contains(&b.ip)
                            && b.from_ns <= l.at
                            && (b.to_ns.is_none() || l.at < b.to_ns.unwrap())
                            && (b.ports.is_none()
                                || l.ports.iter().any(|p| {
                                    let (lo, hi) = b.ports.unwrap();
                                    lo <= *p && *p <= hi
                                }))
                    })
            });
        let text = scope.texts.is_empty()
            || scope.texts.iter().any(|t| {
                let (h, n) = (&l.raw, t.as_bytes());
                n.is_empty() || h.windows(n.len()).any(|w| w == n)
            });
        let vasp_named = !(scope.subscribers.is_empty()
            && scope.wallets.is_empty()
            && scope.transactions.is_empty());
        let vasp_ok = l.vasp.is_none() || vasp_named;
        let wallet = scope.wallets.is_empty()
            || l.vasp
                .as_ref()
                .is_some_and(|t| scope.wallets.iter().any(|w| t.wallets.contains(w)));
        let tx = scope.transactions.is_empty()
            || l.vasp.as_ref().is_some_and(|t| {
                t.hash
                    .as_ref()
                    .is_some_and(|h| scope.transactions.contains(h))
            });
        in_window && src && host && ip && sub && text && vasp_ok && wallet && tx
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn select_is_exactly_the_brute_force_filter(
            lines in (0usize..40).prop_flat_map(|n| (0..n as u64).map(line).collect::<Vec<_>>()),
            scope in scope(),
            bindings in bindings(),
        ) {
            let got = select(&scope, lines.iter().map(Owned::fields), &bindings);
            let want: Vec<u64> = lines.iter().filter(|l| brute(&scope, l, &bindings)).map(|l| l.seq).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn ip_selectors_parse_and_print() {
        for s in [
            "192.0.2.7",
            "192.0.2.7:443",
            "2001:db8::1",
            "[2001:db8::1]:443",
        ] {
            assert_eq!(s.parse::<IpSelector>().unwrap().to_string(), s);
        }
        let e = "192.0.2".parse::<IpSelector>().unwrap_err();
        assert!(e.contains("\"192.0.2\" is not an IP address"), "{e}");
    }

    #[test]
    fn an_empty_window_or_selector_is_refused() {
        let s = Scope {
            from_ns: 5,
            to_ns: 5,
            ..Scope::default()
        };
        assert!(matches!(s.validate(), Err(ScopeError::EmptyWindow { .. })));
        let s = Scope {
            from_ns: 0,
            to_ns: 5,
            hosts: vec!["web1".into(), " ".into()],
            ..Scope::default()
        };
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "host selector 1 is empty"
        );
    }

    #[test]
    fn a_delegated_prefix_covers_every_address_in_it_and_no_other() {
        let b = SubscriberBinding {
            subscriber: "CUST-1".into(),
            ip: "2001:db8:c::".parse().unwrap(),
            prefix: 56,
            ports: None,
            from_ns: 10,
            to_ns: Some(20),
        };
        let inside: IpAddr = "2001:db8:c:ff::1".parse().unwrap();
        let outside: IpAddr = "2001:db8:d::1".parse().unwrap();
        assert!(b.covers(&inside, &[], 10));
        assert!(!b.covers(&inside, &[], 20));
        assert!(!b.covers(&outside, &[], 15));
        let v4 = SubscriberBinding {
            ip: "100.64.0.10".parse().unwrap(),
            prefix: 32,
            ..b
        };
        assert!(v4.covers(&"100.64.0.10".parse().unwrap(), &[], 15));
        assert!(!v4.covers(&"100.64.0.11".parse().unwrap(), &[], 15));
        assert!(!v4.covers(&inside, &[], 15));
    }
}
