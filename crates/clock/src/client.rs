//! One NTPv4 client exchange (mode 3) over UDP, and what it says: a
//! [`Sample`] whose [`State`] is always explicit (ok, timeout, kiss-o'-death,
//! unsynchronised, bad reply, unreachable), never an error to log and forget.

use crate::packet::{self, NtpTimestamp, Packet, MODE_SERVER};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// What one query of one server found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// A valid reply from a synchronised server.
    Ok,
    /// No valid reply within the timeout.
    Timeout,
    /// The server said stratum 0: a kiss-o'-death with this code (`RATE`,
    /// `DENY`, `RSTR`...). Such a server must not be asked again soon.
    KissOfDeath { code: String },
    /// The server answered but is not synchronised itself (stratum 16 or
    /// more, or leap indicator 3): its time proves nothing.
    Unsynchronised { reason: String },
    /// A reply that cannot be used (wrong mode, zero timestamps, not an NTP
    /// packet); says what was wrong.
    BadReply { reason: String },
    /// The name does not resolve, or the request cannot be sent.
    Unreachable { reason: String },
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Timeout => "timeout",
            State::KissOfDeath { .. } => "kiss_of_death",
            State::Unsynchronised { .. } => "unsynchronised",
            State::BadReply { .. } => "bad_reply",
            State::Unreachable { .. } => "unreachable",
        }
    }

    /// The code or reason, if the state has one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            State::KissOfDeath { code } => Some(code),
            State::Unsynchronised { reason }
            | State::BadReply { reason }
            | State::Unreachable { reason } => Some(reason),
            State::Ok | State::Timeout => None,
        }
    }

    pub fn from_parts(name: &str, detail: Option<String>) -> State {
        let d = detail.unwrap_or_default();
        match name {
            "ok" => State::Ok,
            "timeout" => State::Timeout,
            "kiss_of_death" => State::KissOfDeath { code: d },
            "unsynchronised" => State::Unsynchronised { reason: d },
            "unreachable" => State::Unreachable { reason: d },
            _ => State::BadReply { reason: d },
        }
    }
}

/// One query's result. Offsets are how far the server's clock is ahead of
/// ours (positive: our clock is behind national time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The server as configured (`host:port`).
    pub server: String,
    /// The address asked, once resolved.
    pub address: Option<String>,
    /// When the request was sent (our clock, Unix ns).
    pub at_ns: i64,
    #[serde(flatten)]
    pub state: State,
    /// Only when the reply was usable (`ok`, or `unsynchronised` where it
    /// is shown for information).
    pub offset_ns: Option<i64>,
    pub delay_ns: Option<i64>,
    pub stratum: Option<u8>,
    /// Reference id as text (`GPS`, an IPv4 address, a kiss code).
    pub refid: Option<String>,
    pub leap: Option<packet::Leap>,
    /// The server's root delay and dispersion (how far it is from its
    /// reference), in ns.
    pub root_delay_ns: Option<i64>,
    pub root_dispersion_ns: Option<i64>,
}

impl Sample {
    fn bare(server: &str, at_ns: i64, state: State) -> Sample {
        Sample {
            server: server.to_owned(),
            address: None,
            at_ns,
            state,
            offset_ns: None,
            delay_ns: None,
            stratum: None,
            refid: None,
            leap: None,
            root_delay_ns: None,
            root_dispersion_ns: None,
        }
    }
}

/// Judges a reply to a request whose transmit timestamp was `nonce`, sent at
/// `t1` and received at `t4` (our clock, Unix ns). Pure: the tests feed it
/// packets directly.
pub fn judge(server: &str, nonce: NtpTimestamp, t1: i64, t4: i64, reply: &[u8]) -> Sample {
    let mut s = Sample::bare(server, t1, State::Ok);
    let p = match Packet::decode(reply) {
        Ok(p) => p,
        Err(e) => {
            s.state = State::BadReply {
                reason: e.to_string(),
            };
            return s;
        }
    };
    s.stratum = Some(p.stratum);
    s.leap = Some(p.leap);
    s.refid = Some(p.reference_text());
    if p.mode != MODE_SERVER {
        s.state = State::BadReply {
            reason: format!("mode {} in the reply, not 4 (server)", p.mode),
        };
        return s;
    }
    if p.origin_ts != nonce {
        // RFC 5905 "bogus" test: a reply to another request, or spoofed.
        s.state = State::BadReply {
            reason: format!(
                "origin timestamp {} is not the request's transmit timestamp {}",
                p.origin_ts, nonce
            ),
        };
        return s;
    }
    if let Some(code) = p.kiss_code() {
        s.state = State::KissOfDeath { code };
        return s;
    }
    if p.receive_ts.is_zero() || p.transmit_ts.is_zero() {
        s.state = State::BadReply {
            reason: "the server's receive or transmit timestamp is zero".into(),
        };
        return s;
    }
    let t2 = p.receive_ts.to_unix_ns(t1);
    let t3 = p.transmit_ts.to_unix_ns(t4);
    let (offset, delay) = packet::offset_delay(t1, t2, t3, t4);
    s.offset_ns = Some(offset);
    s.delay_ns = Some(delay);
    s.root_delay_ns = Some(packet::short_to_ns(p.root_delay));
    s.root_dispersion_ns = Some(packet::short_to_ns(p.root_dispersion));
    if p.leap == packet::Leap::Unsynchronised {
        s.state = State::Unsynchronised {
            reason: "leap indicator 3 (alarm: clock not synchronised)".into(),
        };
    } else if p.stratum >= 16 {
        s.state = State::Unsynchronised {
            reason: format!("stratum {} (16 and above mean unsynchronised)", p.stratum),
        };
    }
    s
}

fn random_nonce() -> NtpTimestamp {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back on the hasher's random keys.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(pramaan_core::time::now_ns());
        b = h.finish().to_be_bytes();
    }
    // Never zero (zero means "unset" and would match an unset origin).
    NtpTimestamp(u64::from_be_bytes(b) | 1)
}

/// Asks `server` (`host:port`, or `host` for port 123) once and waits up to
/// `timeout` for a reply whose origin timestamp matches; datagrams that do
/// not match are ignored (and counted in the timeout case's reason).
pub async fn query(server: &str, timeout: Duration) -> Sample {
    let started = pramaan_core::time::now_ns();
    let addr = match resolve(server, timeout).await {
        Ok(a) => a,
        Err(reason) => return Sample::bare(server, started, State::Unreachable { reason }),
    };
    let mut s = query_addr(server, addr, timeout).await;
    s.address = Some(addr.to_string());
    s
}

async fn resolve(server: &str, timeout: Duration) -> Result<SocketAddr, String> {
    let target = if server.parse::<SocketAddr>().is_ok()
        || server
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok())
    {
        server.to_owned()
    } else {
        format!("{server}:123")
    };
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host(target.clone()))
        .await
        .map_err(|_| format!("resolving {target} took longer than {timeout:?}"))?
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .collect::<Vec<_>>();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("{target} resolves to no address"))
}

/// As [`query`], to an address already resolved.
pub async fn query_addr(server: &str, addr: SocketAddr, timeout: Duration) -> Sample {
    let now = pramaan_core::time::now_ns;
    let unreachable = |reason: String| Sample::bare(server, now(), State::Unreachable { reason });
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return unreachable(format!("cannot open a UDP socket: {e}")),
    };
    if let Err(e) = sock.connect(addr).await {
        return unreachable(format!("cannot reach {addr}: {e}"));
    }
    let nonce = random_nonce();
    let req = Packet::request(nonce).encode();
    let t1 = now();
    if let Err(e) = sock.send(&req).await {
        return unreachable(format!("cannot send to {addr}: {e}"));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ignored = 0u32;
    let mut buf = [0u8; 1024];
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => {
                let mut s = Sample::bare(server, t1, State::Timeout);
                if ignored > 0 {
                    s.state = State::BadReply {
                        reason: format!(
                            "{ignored} datagram(s) within {timeout:?}, none a reply to this request"
                        ),
                    };
                }
                return s;
            }
            // ICMP port unreachable shows up as a receive error on a connected socket.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Sample::bare(
                    server,
                    t1,
                    State::Unreachable {
                        reason: format!("{addr} refused (no NTP server on that port)"),
                    },
                )
            }
            Ok(Err(e)) => return unreachable(format!("receiving from {addr}: {e}")),
            Ok(Ok(n)) => n,
        };
        let t4 = now();
        let reply = &buf[..n];
        // A datagram that is not a reply to this request (wrong origin) is
        // not the answer: keep waiting for the real one until the deadline.
        if let Ok(p) = Packet::decode(reply) {
            if p.origin_ts != nonce {
                ignored += 1;
                continue;
            }
        }
        return judge(server, nonce, t1, t4, reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Leap;

    fn reply(stratum: u8, leap: Leap, origin: NtpTimestamp, rx: i64, tx: i64) -> [u8; 48] {
        Packet {
            leap,
            version: 4,
            mode: MODE_SERVER,
            stratum,
            poll: 6,
            precision: -20,
            root_delay: 0x0000_0100,
            root_dispersion: 0x0000_0200,
            reference_id: [192, 0, 2, 1],
            reference_ts: NtpTimestamp::from_unix_ns(rx - 1_000_000_000),
            origin_ts: origin,
            receive_ts: NtpTimestamp::from_unix_ns(rx),
            transmit_ts: NtpTimestamp::from_unix_ns(tx),
        }
        .encode()
    }

    const T1: i64 = 1_772_526_731_000_000_000;

    #[test]
    fn good_reply() {
        let n = NtpTimestamp(0xdead_beef_0000_0001);
        let r = reply(2, Leap::NoWarning, n, T1 + 3_000_000, T1 + 3_100_000);
        let s = judge("x:123", n, T1, T1 + 2_000_000, &r);
        assert_eq!(s.state, State::Ok);
        assert_eq!(s.stratum, Some(2));
        assert_eq!(s.refid.as_deref(), Some("192.0.2.1"));
        // offset = ((3 - 0) + (3.1 - 2)) / 2 = 2.05 ms; delay = 2 - 0.1 = 1.9 ms
        let off = s.offset_ns.unwrap();
        assert!((off - 2_050_000).abs() < 10, "{off}");
        let d = s.delay_ns.unwrap();
        assert!((d - 1_900_000).abs() < 10, "{d}");
    }

    #[test]
    fn spoofed_origin_is_a_bad_reply() {
        let n = NtpTimestamp(7);
        let r = reply(2, Leap::NoWarning, NtpTimestamp(8), T1, T1);
        let s = judge("x", n, T1, T1, &r);
        assert!(matches!(s.state, State::BadReply { ref reason } if reason.contains("origin")));
        assert_eq!(s.offset_ns, None);
    }

    #[test]
    fn unsynchronised_and_kod() {
        let n = NtpTimestamp(7);
        let s = judge("x", n, T1, T1, &reply(16, Leap::NoWarning, n, T1, T1));
        assert!(
            matches!(s.state, State::Unsynchronised { ref reason } if reason.contains("stratum 16"))
        );
        let s = judge("x", n, T1, T1, &reply(3, Leap::Unsynchronised, n, T1, T1));
        assert!(matches!(s.state, State::Unsynchronised { ref reason } if reason.contains("leap")));
        let mut r = reply(0, Leap::Unsynchronised, n, 0, 0);
        r[12..16].copy_from_slice(b"RATE");
        let s = judge("x", n, T1, T1, &r);
        assert_eq!(
            s.state,
            State::KissOfDeath {
                code: "RATE".into()
            }
        );
        assert_eq!(s.state.name(), "kiss_of_death");
    }

    #[test]
    fn garbage_is_a_bad_reply() {
        let s = judge("x", NtpTimestamp(1), T1, T1, b"hello");
        assert!(matches!(s.state, State::BadReply { ref reason } if reason.contains("48-byte")));
        let n = NtpTimestamp(7);
        let mut r = reply(2, Leap::NoWarning, n, T1, T1);
        r[0] = (r[0] & !7) | 3; // mode 3
        assert!(
            matches!(judge("x", n, T1, T1, &r).state, State::BadReply { ref reason } if reason.contains("mode 3"))
        );
        let r = reply(2, Leap::NoWarning, n, T1, T1);
        let mut z = r;
        z[32..40].fill(0);
        assert!(matches!(
            judge("x", n, T1, T1, &z).state,
            State::BadReply { .. }
        ));
    }

    #[test]
    fn state_round_trips_through_parts() {
        for s in [
            State::Ok,
            State::Timeout,
            State::KissOfDeath {
                code: "DENY".into(),
            },
            State::Unsynchronised { reason: "r".into() },
            State::BadReply { reason: "b".into() },
            State::Unreachable { reason: "u".into() },
        ] {
            assert_eq!(
                State::from_parts(s.name(), s.detail().map(str::to_owned)),
                s
            );
        }
    }
}
