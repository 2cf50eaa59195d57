//! Syslog listeners: UDP (one datagram, one line), TCP and TLS (RFC 6587
//! framing detected per frame). Syslog has no acknowledgement: lines are
//! handed to the vault and back-pressure is applied by not reading the socket
//! while the vault's queue is full.
//!
//! Connection slots are shared, so they are guarded against one sender taking
//! them all: at most `syslog.max_connections_per_source` per source address
//! ([`PerSource`]), a connection that sends nothing within
//! `syslog.first_byte_timeout` is closed, and refusals are logged at most once
//! a minute per reason, with their count ([`RefusalLog`]); every one is
//! counted in `pramaan_connections_refused_total`.

use crate::error::ServeError;
use bytes::{Bytes, BytesMut};
use pramaan_core::Transport;
use pramaan_ingest::framing::{FrameDecoder, FrameEvent, Refusal};
use pramaan_vault::{Submit, Vault};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_line: usize,
    pub max_connections: usize,
    /// `syslog.max_connections_per_source`, for each listener apart.
    pub max_connections_per_source: usize,
    pub idle_timeout: Option<Duration>,
    /// `syslog.first_byte_timeout`: from accept to the first byte read.
    pub first_byte_timeout: Option<Duration>,
    /// Source addresses accepted (`syslog.allow`).
    pub allow: Arc<AllowList>,
}

/// The source addresses the syslog listeners accept (`syslog.allow`).
#[derive(Clone, Debug)]
pub struct AllowList(Vec<ipnet::IpNet>);

impl AllowList {
    /// CIDRs (or single addresses) separated by commas or spaces.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for part in s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            let net = part
                .parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!("syslog.allow: `{part}` is not a CIDR like 10.0.0.0/8 or an address")
                })?;
            nets.push(net);
        }
        Ok(AllowList(nets))
    }

    /// Every address (tests, benchmarks).
    pub fn any() -> Self {
        AllowList::parse("0.0.0.0/0, ::/0").unwrap_or(AllowList(Vec::new()))
    }

    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Open connections of one listener by source address.
#[derive(Debug, Default)]
pub struct PerSource(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted against its source; given back when dropped.
#[derive(Debug)]
pub struct SourceSlot {
    of: Arc<PerSource>,
    ip: IpAddr,
}

impl PerSource {
    /// A slot for `ip`, unless `max` connections from it are open already.
    pub fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<SourceSlot> {
        let ip = ip.to_canonical();
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            of: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip`.
    pub fn open(&self, ip: IpAddr) -> usize {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&ip.to_canonical()).copied().unwrap_or(0)
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut m = self.of.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// How often, at most, one kind of refusal is logged.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Refusals of one kind, logged at most once per interval with how many
/// there were: a flood of refused connections must not flood the log too.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    last: Option<Instant>,
    pending: u64,
}

impl RefusalLog {
    pub fn new(interval: Duration) -> Self {
        RefusalLog {
            interval,
            last: None,
            pending: 0,
        }
    }

    /// One refusal at `now`; `Some(n)` when a line is due now, for the `n`
    /// refusals since the last one (this one included).
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.pending += 1;
        self.flush(now)
    }

    /// `Some(n)` when `n` refusals wait to be logged and the interval has passed.
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        if self.pending == 0 {
            return None;
        }
        if self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) < self.interval)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

/// The refusals a TCP or TLS listener logs, one [`RefusalLog`] each.
struct Refusals {
    transport: Transport,
    not_allowed: RefusalLog,
    per_source: RefusalLog,
    max_connections: RefusalLog,
}

impl Refusals {
    fn new(transport: Transport) -> Self {
        Refusals {
            transport,
            not_allowed: RefusalLog::new(REFUSAL_LOG_INTERVAL),
            per_source: RefusalLog::new(REFUSAL_LOG_INTERVAL),
            max_connections: RefusalLog::new(REFUSAL_LOG_INTERVAL),
        }
    }

    /// Counts a refusal (always) and logs it (at most once per interval).
    fn refuse(&mut self, reason: &'static str, from: Option<SocketAddr>, limits: &Limits) {
        metrics::counter!("pramaan_connections_refused_total", "transport" => self.transport.as_str(), "reason" => reason).increment(1);
        let now = Instant::now();
        let n = match reason {
            "not_allowed" => self.not_allowed.note(now),
            "per_source" => self.per_source.note(now),
            _ => self.max_connections.note(now),
        };
        if let Some(n) = n {
            self.log(reason, n, from, limits);
        }
    }

    /// Logs what is pending and due (called once per interval).
    fn flush(&mut self, limits: &Limits) {
        let now = Instant::now();
        for reason in ["not_allowed", "per_source", "max_connections"] {
            let n = match reason {
                "not_allowed" => self.not_allowed.flush(now),
                "per_source" => self.per_source.flush(now),
                _ => self.max_connections.flush(now),
            };
            if let Some(n) = n {
                self.log(reason, n, None, limits);
            }
        }
    }

    fn log(&self, reason: &str, n: u64, last: Option<SocketAddr>, limits: &Limits) {
        let transport = self.transport.as_str();
        let last = last.map(|a| a.to_string()).unwrap_or_default();
        match reason {
            "not_allowed" => tracing::info!(
                transport, refused = n, last = %last,
                "refused syslog connections: source not in syslog.allow (logged at most once a minute; every one is counted in pramaan_connections_refused_total)"
            ),
            "per_source" => tracing::warn!(
                transport, refused = n, last = %last, limit = limits.max_connections_per_source,
                "refused syslog connections: syslog.max_connections_per_source reached (logged at most once a minute; every one is counted in pramaan_connections_refused_total)"
            ),
            _ => tracing::warn!(
                transport, refused = n, last = %last, limit = limits.max_connections,
                "refused syslog connections: syslog.max_connections reached (logged at most once a minute; every one is counted in pramaan_connections_refused_total)"
            ),
        }
    }
}

fn received(t: Transport, peer: &str, n: u64) {
    metrics::counter!("pramaan_lines_received_total", "transport" => t.as_str(), "source" => peer.to_owned()).increment(n);
}

pub(crate) fn refused(t: Transport, peer: &str, reason: &'static str, n: u64) {
    metrics::counter!("pramaan_lines_refused_total", "transport" => t.as_str(), "source" => peer.to_owned(), "reason" => reason).increment(n);
}

fn refusal_reason(r: &Refusal) -> &'static str {
    match r {
        Refusal::TooLong { .. } | Refusal::LineTooLong { .. } => "too_long",
        Refusal::Empty => "empty",
        Refusal::BadLength { .. } => "bad_frame_length",
    }
}

fn peer_ip(addr: &SocketAddr) -> String {
    addr.ip().to_canonical().to_string()
}

/// UDP: each datagram is one line. One trailing LF (and a NUL some senders
/// add) is framing, not content, and is removed.
pub async fn udp(sock: UdpSocket, vault: Vault, limits: Limits, mut stop: watch::Receiver<bool>) {
    let Some(tx) = vault.sender() else { return };
    // Datagrams larger than the limit are read whole (up to 64 KiB) so that they can be counted.
    let mut buf = vec![0u8; 65536.max(limits.max_line + 1)];
    loop {
        let (n, from) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "UDP receive failed");
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        if !limits.allow.allows(from.ip()) {
            metrics::counter!("pramaan_connections_refused_total", "transport" => "udp", "reason" => "not_allowed").increment(1);
            tracing::debug!(peer = %from, "refused a UDP datagram: source not in syslog.allow");
            continue;
        }
        let peer = from.to_string();
        let ip = peer_ip(&from);
        let mut line = &buf[..n];
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\0") {
            line = l;
        }
        if line.is_empty() {
            refused(Transport::Udp, &ip, "empty", 1);
            continue;
        }
        if line.len() > limits.max_line || n == buf.len() {
            refused(Transport::Udp, &ip, "too_long", 1);
            tracing::debug!(peer = %peer, len = n, "refused a UDP datagram over the line limit");
            continue;
        }
        if vault.stats().storage.refuses_new() {
            // UDP cannot be paused: the datagram would be lost in the kernel
            // anyway, so it is counted here instead (the status says why).
            refused(Transport::Udp, &ip, "storage_full", 1);
            continue;
        }
        received(Transport::Udp, &ip, 1);
        let submit = Submit {
            transport: Transport::Udp,
            peer: Arc::from(peer.as_str()),
            lines: vec![Bytes::copy_from_slice(line)],
            ack: None,
        };
        if tx.send(submit).await.is_err() {
            return;
        }
    }
}

/// Accepts TCP (or, with an acceptor, TLS) connections up to the connection limit.
pub async fn tcp(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    vault: Vault,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let Some(tx) = vault.sender() else { return };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_source = Arc::new(PerSource::default());
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    let mut refusals = Refusals::new(transport);
    let mut flush = tokio::time::interval(REFUSAL_LOG_INTERVAL);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, from) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = flush.tick() => {
                refusals.flush(&limits);
                continue;
            }
            _ = stopped(&mut stop) => return,
        };
        let accepted = Instant::now();
        if !limits.allow.allows(from.ip()) {
            refusals.refuse("not_allowed", Some(from), &limits);
            drop(stream);
            continue;
        }
        let Some(source_slot) = per_source.take(from.ip(), limits.max_connections_per_source)
        else {
            refusals.refuse("per_source", Some(from), &limits);
            drop(stream);
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refusals.refuse("max_connections", Some(from), &limits);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        let limits = limits.clone();
        let stop = stop.clone();
        let tls = tls.clone();
        let vault = vault.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _source_slot = source_slot;
            metrics::gauge!("pramaan_connections_open", "transport" => transport.as_str())
                .increment(1.0);
            match tls {
                None => {
                    connection(stream, from, accepted, transport, tx, &vault, &limits, stop).await
                }
                Some(acc) => {
                    // The handshake counts against the first-byte timeout too.
                    let hs_limit = limits
                        .first_byte_timeout
                        .map_or(Duration::from_secs(30), |t| t.min(Duration::from_secs(30)));
                    let hs = tokio::time::timeout(hs_limit, acc.accept(stream)).await;
                    match hs {
                        Ok(Ok(s)) => {
                            connection(s, from, accepted, transport, tx, &vault, &limits, stop)
                                .await
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("pramaan_connections_refused_total", "transport" => "tls", "reason" => "handshake").increment(1);
                            tracing::info!(peer = %from, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            metrics::counter!("pramaan_connections_closed_total", "transport" => "tls", "reason" => "handshake_timeout").increment(1);
                            tracing::debug!(peer = %from, "TLS handshake timed out");
                        }
                    }
                }
            }
            metrics::gauge!("pramaan_connections_open", "transport" => transport.as_str())
                .decrement(1.0);
        });
    }
}

/// Why a connection's read stopped waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Nothing yet since accept: `syslog.first_byte_timeout`.
    FirstByte,
    /// Silence after data: `syslog.idle_timeout`.
    Idle,
}

/// How long the next read may wait, and which limit ends it: before the
/// first byte, what is left of the first-byte timeout (or the idle timeout
/// when shorter); after it, the idle timeout.
pub(crate) fn read_wait(
    limits: &Limits,
    seen_data: bool,
    accepted: Instant,
    now: Instant,
) -> Option<(Duration, Wait)> {
    let idle = limits.idle_timeout.map(|t| (t, Wait::Idle));
    if seen_data {
        return idle;
    }
    let Some(first) = limits.first_byte_timeout else {
        return idle;
    };
    let left = (accepted + first).saturating_duration_since(now);
    match idle {
        Some((t, w)) if t < left => Some((t, w)),
        _ => Some((left, Wait::FirstByte)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
    from: SocketAddr,
    accepted: Instant,
    transport: Transport,
    tx: mpsc::Sender<Submit>,
    vault: &Vault,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
) {
    let peer: Arc<str> = Arc::from(from.to_string().as_str());
    let ip = peer_ip(&from);
    let mut dec = FrameDecoder::syslog(limits.max_line);
    let mut buf = BytesMut::with_capacity(128 * 1024);
    let mut eof = false;
    let mut seen_data = false;
    while !eof {
        // The disk is full: read nothing more until the vault writes again,
        // so the sender's socket fills and it waits (nothing is dropped).
        while vault.stats().storage.refuses_new() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stopped(&mut stop) => return,
            }
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(128 * 1024);
        }
        let read = stream.read_buf(&mut buf);
        let wait = read_wait(limits, seen_data, accepted, Instant::now());
        let n = tokio::select! {
            r = async {
                match wait {
                    Some((t, why)) => tokio::time::timeout(t, read).await.map_err(|_| why),
                    None => Ok(read.await),
                }
            } => r,
            _ = stopped(&mut stop) => Ok(Ok(0)),
        };
        match n {
            Ok(Ok(0)) => eof = true,
            Ok(Ok(_)) => seen_data = true,
            Ok(Err(e)) => {
                tracing::debug!(peer = %from, error = %e, "connection read failed");
                eof = true;
            }
            Err(Wait::FirstByte) => {
                // Many at once are an attack's signature, not news: counted, not logged.
                metrics::counter!("pramaan_connections_closed_total", "transport" => transport.as_str(), "reason" => "first_byte_timeout").increment(1);
                tracing::debug!(peer = %from, "closing a syslog connection that sent nothing (syslog.first_byte_timeout)");
                eof = true;
            }
            Err(Wait::Idle) => {
                metrics::counter!("pramaan_connections_closed_total", "transport" => transport.as_str(), "reason" => "idle_timeout").increment(1);
                tracing::info!(peer = %from, "closing an idle syslog connection (syslog.idle_timeout)");
                eof = true;
            }
        }
        let mut lines: Vec<Bytes> = Vec::new();
        loop {
            let ev = if eof {
                dec.decode_eof(&mut buf)
            } else {
                dec.decode(&mut buf)
            };
            match ev {
                Some(FrameEvent::Frame(b)) => lines.push(b),
                Some(FrameEvent::Refused(r)) => {
                    refused(transport, &ip, refusal_reason(&r), 1);
                    tracing::debug!(peer = %from, reason = %r, "refused a frame");
                }
                Some(FrameEvent::Truncated { bytes, expected }) => {
                    refused(transport, &ip, "truncated", 1);
                    tracing::info!(peer = %from, got = bytes.len(), expected, "connection closed inside an octet-counted frame; the partial frame is refused");
                }
                None => break,
            }
        }
        if !lines.is_empty() {
            received(transport, &ip, lines.len() as u64);
            let submit = Submit {
                transport,
                peer: peer.clone(),
                lines,
                ack: None,
            };
            if tx.send(submit).await.is_err() {
                return;
            }
        }
    }
}

/// A TLS acceptor from PEM files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServeError> {
    tls_acceptor_with(cert, key, None)
}

/// A TLS acceptor from PEM files; with `client_ca`, clients must present a
/// certificate that this CA signed (mTLS).
pub fn tls_acceptor_with(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<TlsAcceptor, ServeError> {
    use rustls_pemfile::{certs, private_key};
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| ServeError::Tls(format!("{}: {e}", p.display())));
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain: Vec<_> = certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| ServeError::Tls(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(ServeError::Tls(format!(
            "{}: no certificate found",
            cert.display()
        )));
    }
    let key_der = private_key(&mut key_pem.as_slice())
        .map_err(|e| ServeError::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| ServeError::Tls(format!("{}: no private key found", key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem = read(ca)?;
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            for c in certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
                roots
                    .add(c)
                    .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            }
            if roots.is_empty() {
                return Err(ServeError::Tls(format!(
                    "{}: no CA certificate found",
                    ca.display()
                )));
            }
            let verifier =
                tokio_rustls::rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Resolves when the server is asked to stop.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(first: Option<u64>, idle: Option<u64>) -> Limits {
        Limits {
            max_line: 1024,
            max_connections: 10,
            max_connections_per_source: 2,
            idle_timeout: idle.map(Duration::from_secs),
            first_byte_timeout: first.map(Duration::from_secs),
            allow: Arc::new(AllowList::any()),
        }
    }

    #[test]
    fn a_source_gets_its_cap_and_slots_come_back_on_drop() {
        let per = Arc::new(PerSource::default());
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let one = per.take(a, 2).unwrap();
        let _two = per.take(a, 2).unwrap();
        assert!(per.take(a, 2).is_none(), "a third from the same source");
        assert!(per.take(b, 2).is_some(), "another source is not held up");
        // An IPv4-mapped IPv6 address is the same source.
        assert!(per.take("::ffff:127.0.0.2".parse().unwrap(), 2).is_none());
        drop(one);
        assert_eq!(per.open(a), 1);
        assert!(per.take(a, 2).is_some());
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_their_count() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut log = RefusalLog::new(s(60));
        assert_eq!(log.note(t0), Some(1), "the first is logged at once");
        for i in 1..=99 {
            assert_eq!(log.note(t0 + s(i % 59)), None);
        }
        assert_eq!(log.flush(t0 + s(59)), None, "not before the interval");
        assert_eq!(
            log.flush(t0 + s(60)),
            Some(99),
            "then all that came meanwhile"
        );
        assert_eq!(
            log.flush(t0 + s(200)),
            None,
            "nothing pending, nothing logged"
        );
        assert_eq!(log.note(t0 + s(201)), Some(1));
    }

    #[test]
    fn the_first_read_waits_for_the_first_byte_timeout_then_idle() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let l = limits(Some(10), Some(600));
        assert_eq!(read_wait(&l, false, t0, t0), Some((s(10), Wait::FirstByte)));
        assert_eq!(
            read_wait(&l, false, t0, t0 + s(4)),
            Some((s(6), Wait::FirstByte))
        );
        assert_eq!(
            read_wait(&l, false, t0, t0 + s(11)),
            Some((s(0), Wait::FirstByte))
        );
        assert_eq!(
            read_wait(&l, true, t0, t0 + s(4)),
            Some((s(600), Wait::Idle))
        );
        // A shorter idle timeout wins; without a first-byte timeout, idle only.
        let l = limits(Some(10), Some(2));
        assert_eq!(read_wait(&l, false, t0, t0), Some((s(2), Wait::Idle)));
        let l = limits(None, None);
        assert_eq!(read_wait(&l, false, t0, t0), None);
        let l = limits(Some(10), None);
        assert_eq!(read_wait(&l, true, t0, t0), None);
    }
}
