//! Syslog listeners: UDP (one datagram, one line), TCP and TLS (RFC 6587
//! framing detected per frame). Syslog has no acknowledgement: lines are
//! handed to the vault and back-pressure is applied by not reading the socket
//! while the vault's queue is full.

use crate::ServeError;
use bytes::{Bytes, BytesMut};
use pramaan_core::Transport;
use pramaan_ingest::framing::{FrameDecoder, FrameEvent, Refusal};
use pramaan_vault::{Submit, Vault};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_line: usize,
    pub max_connections: usize,
    pub idle_timeout: Option<Duration>,
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
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
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
            _ = stopped(&mut stop) => return,
        };
        if !limits.allow.allows(from.ip()) {
            metrics::counter!("pramaan_connections_refused_total", "transport" => transport.as_str(), "reason" => "not_allowed").increment(1);
            tracing::info!(peer = %from, "refused a connection: source not in syslog.allow");
            drop(stream);
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics::counter!("pramaan_connections_refused_total", "transport" => transport.as_str(), "reason" => "max_connections").increment(1);
            tracing::warn!(peer = %from, limit = limits.max_connections, "refused a connection: syslog.max_connections reached");
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
            metrics::gauge!("pramaan_connections_open", "transport" => transport.as_str())
                .increment(1.0);
            match tls {
                None => connection(stream, from, transport, tx, &vault, &limits, stop).await,
                Some(acc) => {
                    let hs =
                        tokio::time::timeout(Duration::from_secs(30), acc.accept(stream)).await;
                    match hs {
                        Ok(Ok(s)) => {
                            connection(s, from, transport, tx, &vault, &limits, stop).await
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("pramaan_connections_refused_total", "transport" => "tls", "reason" => "handshake").increment(1);
                            tracing::info!(peer = %from, error = %e, "TLS handshake failed");
                        }
                        Err(_) => tracing::info!(peer = %from, "TLS handshake timed out"),
                    }
                }
            }
            metrics::gauge!("pramaan_connections_open", "transport" => transport.as_str())
                .decrement(1.0);
        });
    }
}

async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
    from: SocketAddr,
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
        let n = tokio::select! {
            r = async {
                match limits.idle_timeout {
                    Some(t) => tokio::time::timeout(t, read).await.map_err(|_| ()),
                    None => Ok(read.await),
                }
            } => r,
            _ = stopped(&mut stop) => Ok(Ok(0)),
        };
        match n {
            Ok(Ok(0)) => eof = true,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(peer = %from, error = %e, "connection read failed");
                eof = true;
            }
            Err(()) => {
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
