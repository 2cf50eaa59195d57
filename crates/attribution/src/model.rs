//! Addresses, prefixes and bindings.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 address or prefix, kept as one 128-bit number: IPv4 is
/// stored IPv4-mapped (`::ffff:a.b.c.d`), its prefix length plus 96.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Net {
    /// The network address (host bits zero).
    pub bits: u128,
    /// Prefix length over the 128 bits (IPv4 /32 = 128).
    pub len: u8,
}

const V4_MAPPED: u128 = 0xffff_u128 << 32;

/// Why a text is not an address or prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("`{0}` is not an IPv4 or IPv6 address")]
    NotAnAddress(String),
    #[error("`{0}`: the prefix length must be 0..=32 for IPv4 and 0..=128 for IPv6")]
    BadLength(String),
    #[error("`{0}`: bits are set after the prefix length (did you mean its network address?)")]
    HostBits(String),
}

impl NetError {
    /// What is wrong, without the text that was given.
    pub fn reason(&self) -> &'static str {
        match self {
            NetError::NotAnAddress(_) => "not an IPv4 or IPv6 address",
            NetError::BadLength(_) => {
                "the prefix length must be 0..=32 for IPv4 and 0..=128 for IPv6"
            }
            NetError::HostBits(_) => {
                "bits are set after the prefix length (did you mean its network address?)"
            }
        }
    }
}

/// The mask keeping the first `len` bits.
pub fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else if len >= 128 {
        u128::MAX
    } else {
        !(u128::MAX >> len)
    }
}

/// An address as 128 bits (IPv4 mapped).
pub fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => V4_MAPPED | u32::from(v4) as u128,
        IpAddr::V6(v6) => {
            let b = u128::from(v6);
            // An IPv4-mapped IPv6 address is the IPv4 address.
            b
        }
    }
}

impl Net {
    /// One address (/32 or /128).
    pub fn host(a: IpAddr) -> Net {
        Net {
            bits: addr_bits(a),
            len: 128,
        }
    }

    pub fn is_v4(&self) -> bool {
        self.len >= 96 && self.bits & mask(96) == V4_MAPPED
    }

    /// The prefix length as written (IPv4 lengths are 0..=32).
    pub fn prefix_len(&self) -> u8 {
        if self.is_v4() {
            self.len - 96
        } else {
            self.len
        }
    }

    /// `a.b.c.d`, `a.b.c.d/len`, `x::y`, `x::/len`. Host bits after the
    /// length are an error. An IPv6 address without a length is a /128
    /// here; see [`Net::parse_default_v6`] for delegated prefixes.
    pub fn parse(s: &str) -> Result<Net, NetError> {
        Self::parse_default_v6(s, 128)
    }

    /// Like [`Net::parse`], but an IPv6 address written without a length is
    /// a prefix of `v6_len` bits (the generator's CSV writes a delegated /64
    /// as its network address); its host bits must then be zero.
    pub fn parse_default_v6(s: &str, v6_len: u8) -> Result<Net, NetError> {
        let t = s.trim();
        let (a, l) = match t.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (t, None),
        };
        let ip: IpAddr = a
            .parse()
            .map_err(|_| NetError::NotAnAddress(s.to_owned()))?;
        let len = match (ip, l) {
            (IpAddr::V4(_), None) => 128,
            (IpAddr::V6(_), None) => v6_len.min(128),
            (IpAddr::V4(_), Some(l)) => match l.parse::<u8>() {
                Ok(n) if n <= 32 => n + 96,
                _ => return Err(NetError::BadLength(s.to_owned())),
            },
            (IpAddr::V6(_), Some(l)) => match l.parse::<u8>() {
                Ok(n) if n <= 128 => n,
                _ => return Err(NetError::BadLength(s.to_owned())),
            },
        };
        let bits = addr_bits(ip);
        if bits & !mask(len) != 0 {
            return Err(NetError::HostBits(s.to_owned()));
        }
        Ok(Net { bits, len })
    }

    /// The prefix's first address.
    pub fn first_addr(&self) -> IpAddr {
        if self.is_v4() {
            IpAddr::V4(Ipv4Addr::from(self.bits as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.bits))
        }
    }

    /// Whether the address (as 128 bits) is inside this prefix.
    pub fn contains(&self, addr: u128) -> bool {
        addr & mask(self.len) == self.bits
    }

    /// Whether two prefixes share any address.
    pub fn overlaps(&self, o: &Net) -> bool {
        let l = self.len.min(o.len);
        self.bits & mask(l) == o.bits & mask(l)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_v4() {
            let a = Ipv4Addr::from(self.bits as u32);
            if self.len == 128 {
                write!(f, "{a}")
            } else {
                write!(f, "{a}/{}", self.len - 96)
            }
        } else {
            let a = Ipv6Addr::from(self.bits);
            if self.len == 128 {
                write!(f, "{a}")
            } else {
                write!(f, "{a}/{}", self.len)
            }
        }
    }
}

impl Serialize for Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Net::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a binding came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A static allotment (address or prefix, from–to).
    Static,
    /// FreeRADIUS accounting (Framed-IP-Address / Framed-IPv6-Prefix).
    Radius,
    /// OpenVPN server log (virtual address of a client).
    Openvpn,
    /// The generic JSON session event (`pramaan.session.v1`).
    Json,
    /// A CGNAT port-block allocation.
    Cgnat,
    /// A row of an imported bindings CSV.
    Import,
    /// A DHCP lease (Kea, dnsmasq, ISC dhcpd).
    Dhcp,
    /// What erasure leaves of a binding ([`crate::store::Erasure`]): the
    /// address, ports and times, nobody; its detail says when and why.
    Erased,
    /// An IPsec virtual IP (strongSwan's log).
    Ipsec,
    /// A WireGuard peer's allowed IPs (`wg show all dump`, polled).
    Wireguard,
}

impl Kind {
    /// In code order: a kind's code is its place here, so new kinds go last.
    pub const ALL: [Kind; 10] = [
        Kind::Static,
        Kind::Radius,
        Kind::Openvpn,
        Kind::Json,
        Kind::Cgnat,
        Kind::Import,
        Kind::Dhcp,
        Kind::Erased,
        Kind::Ipsec,
        Kind::Wireguard,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Static => "static",
            Kind::Radius => "radius",
            Kind::Openvpn => "openvpn",
            Kind::Json => "json",
            Kind::Cgnat => "cgnat",
            Kind::Import => "import",
            Kind::Dhcp => "dhcp",
            Kind::Erased => "erased",
            Kind::Ipsec => "ipsec",
            Kind::Wireguard => "wireguard",
        }
    }

    pub fn code(&self) -> u8 {
        *self as u8
    }

    pub fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.get(c as usize).copied()
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who held an address (or prefix, and port range) during `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The address or prefix held.
    pub net: Net,
    /// First port of the range held (inclusive); 0 when the whole address.
    pub port_lo: u16,
    /// Last port of the range held (inclusive); 65535 when the whole address.
    pub port_hi: u16,
    /// Start, nanoseconds since the Unix epoch (inclusive).
    pub start_ns: i64,
    /// End, nanoseconds since the Unix epoch (exclusive). For an open
    /// session: its start plus `attribution.max_session`.
    pub end_ns: i64,
    /// The session has not ended (no Stop yet).
    #[serde(default)]
    pub open: bool,
    /// The subscriber's external id or user name (for CGNAT: `inside:ADDR`,
    /// the private address, resolved by a second lookup).
    pub subscriber: String,
    /// The session's id in its source (Acct-Session-Id, OpenVPN
    /// `cn/real-address`, the CSV's session_id...).
    pub session: String,
    pub kind: Kind,
    /// Anything else the source said (NAS, OpenVPN real address...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Sequence numbers of the vault records it was derived from.
    #[serde(default)]
    pub evidence: Vec<u64>,
    /// The key under which later records update it (dynamic sessions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Binding {
    /// Whether this binding answers a lookup of `addr` (128 bits) at `t_ns`,
    /// on `port` if given.
    pub fn matches(&self, addr: u128, t_ns: i64, port: Option<u16>) -> bool {
        self.net.contains(addr)
            && self.start_ns <= t_ns
            && t_ns < self.end_ns
            && port.is_none_or(|p| self.port_lo <= p && p <= self.port_hi)
    }
}

/// One lookup: which binding(s) held `addr` (and `port`) at `at_ns`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub at_ns: i64,
}

impl Probe {
    pub fn bits(&self) -> u128 {
        addr_bits(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_parse_and_print() {
        let n = Net::parse("203.0.113.5").unwrap();
        assert_eq!(n.to_string(), "203.0.113.5");
        assert!(n.is_v4());
        let p = Net::parse("2001:db8:1::/48").unwrap();
        assert_eq!(p.to_string(), "2001:db8:1::/48");
        assert!(p.contains(addr_bits("2001:db8:1:ff::1".parse().unwrap())));
        assert!(!p.contains(addr_bits("2001:db8:2::1".parse().unwrap())));
        assert_eq!(
            Net::parse("10.0.0.1/24"),
            Err(NetError::HostBits("10.0.0.1/24".into()))
        );
        assert!(matches!(
            Net::parse("10.0.0.0/33"),
            Err(NetError::BadLength(_))
        ));
        let v6 = Net::parse_default_v6("2001:db8:7f3a:12c9::", 64).unwrap();
        assert_eq!(v6.to_string(), "2001:db8:7f3a:12c9::/64");
        let v4net = Net::parse("100.64.0.0/10").unwrap();
        assert_eq!(v4net.prefix_len(), 10);
        assert!(v4net.contains(addr_bits("100.127.1.1".parse().unwrap())));
        assert!(!v4net.contains(addr_bits("100.128.1.1".parse().unwrap())));
    }
}
