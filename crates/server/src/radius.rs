//! The RADIUS accounting server (RFC 2866 over UDP, `radius.listen`).
//!
//! ```text
//! datagram ─► client known? (radius.clients, else the default secret) ─► decode (lengths)
//!   ─► Message-Authenticator (when sent) and Request Authenticator checked
//!   ─► a copy of a packet in flight or answered lately? (same client address and
//!      port, Identifier and authenticator: RFC 5080 §2.2.2) ─► answer again, store nothing
//!   ─► vault: the datagram exactly as received, peer `radius:<client>`, with an ack
//!   ─► WAL fsync'd ─► Accounting-Response
//! ```
//!
//! The response goes out only once the record is durable, so a NAS that gets
//! none retransmits until pramaan has the packet. Whatever is dropped (an
//! unknown client, a wrong authenticator, a malformed packet, too many in
//! flight, a full disk) gets no answer, is counted in
//! `pramaan_radius_dropped_total{reason,source}` and logged at most once a
//! minute per reason. Secrets are never logged. The feeder
//! (`api::whois::feed_task`) turns the stored packets into bindings.

use crate::error::ServeError;
use crate::listeners::{stopped, RefusalLog, REFUSAL_LOG_INTERVAL};
use bytes::Bytes;
use pramaan_core::Transport;
use pramaan_ingest::radius::{self, code};
use pramaan_vault::{Submit, Vault};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch, Semaphore};

/// The shared secrets, read once at start from the files and variables the
/// configuration names.
pub struct Secrets {
    default: Option<Vec<u8>>,
    /// Most specific network first.
    clients: Vec<(ipnet::IpNet, Vec<u8>)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Secrets")
            .field("default", &self.default.is_some())
            .field("clients", &self.clients.len())
            .finish()
    }
}

/// A secret from `file` (its first line) or the variable `env`; `what` names
/// the key in errors. The secret itself is never in an error.
fn read_secret(
    what: &str,
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> Result<Option<Vec<u8>>, ServeError> {
    let secret = match (file, env) {
        (Some(f), _) => {
            let text = std::fs::read(f).map_err(|e| {
                ServeError::Invalid(format!("{what}: cannot read {}: {e}", f.display()))
            })?;
            let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            if line.is_empty() {
                return Err(ServeError::Invalid(format!(
                    "{what}: the first line of {} is empty (it must be the shared secret)",
                    f.display()
                )));
            }
            line
        }
        (None, Some(var)) => match std::env::var_os(var) {
            Some(v) if !v.is_empty() => v.into_encoded_bytes(),
            _ => {
                return Err(ServeError::Invalid(format!(
                    "{what}: the environment variable {var} is not set or is empty"
                )))
            }
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(secret))
}

impl Secrets {
    /// Reads every secret `[radius]` names; an unreadable or empty one stops
    /// the start, naming the key and the file or variable.
    pub fn load(cfg: &pramaan_config::Radius) -> Result<Secrets, ServeError> {
        let env = (!cfg.secret_env.is_empty()).then_some(cfg.secret_env.as_str());
        let default = read_secret(
            "radius.secret_file / radius.secret_env",
            cfg.secret_file.as_deref(),
            env,
        )?;
        let mut clients = Vec::new();
        for (i, c) in cfg.clients.iter().enumerate() {
            let (ip, len) = c.address;
            let net = ipnet::IpNet::new(ip, len)
                .map_err(|e| ServeError::Invalid(format!("radius.clients entry {}: {e}", i + 1)))?;
            let what = format!("radius.clients entry {} ({net})", i + 1);
            let secret = read_secret(&what, c.secret_file.as_deref(), c.secret_env.as_deref())?
                .ok_or_else(|| {
                    ServeError::Invalid(format!("{what}: no secret_file or secret_env"))
                })?;
            clients.push((net, secret));
        }
        clients.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
        if default.is_none() && clients.is_empty() {
            return Err(ServeError::Invalid(
                "radius.listen is set but no secret is: give radius.clients, or radius.secret_file or radius.secret_env".into(),
            ));
        }
        Ok(Secrets { default, clients })
    }

    /// For tests: the default secret only.
    pub fn with_default(secret: &[u8]) -> Secrets {
        Secrets {
            default: Some(secret.to_vec()),
            clients: Vec::new(),
        }
    }

    /// The secret of the client at `ip`: its own (the most specific entry),
    /// else the default, else none (an unknown client).
    pub fn for_client(&self, ip: IpAddr) -> Option<&[u8]> {
        let ip = ip.to_canonical();
        self.clients
            .iter()
            .find(|(n, _)| n.contains(&ip))
            .map(|(_, s)| s.as_slice())
            .or(self.default.as_deref())
    }
}

/// How long a packet is remembered after it was answered: a retransmission
/// within this time is answered again without being stored again.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// The most packets remembered (the oldest answered are forgotten first).
const DUPLICATES_KEPT: usize = 200_000;

/// RFC 5080 §2.2.2: a retransmission has the same source, Identifier and
/// Request Authenticator.
type PacketKey = (SocketAddr, u8, [u8; 16]);

enum Seen {
    /// Being stored: a copy gets nothing (the answer is on its way).
    InFlight,
    Answered([u8; radius::HEADER_LEN]),
}

/// Packets in flight and answered lately.
#[derive(Default)]
struct Recent {
    seen: HashMap<PacketKey, Seen>,
    order: VecDeque<(Instant, PacketKey)>,
}

impl Recent {
    fn forget_old(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front().copied() {
            let old = now.saturating_duration_since(at) > DUPLICATE_WINDOW;
            if !old && self.order.len() <= DUPLICATES_KEPT {
                break;
            }
            self.order.pop_front();
            if matches!(self.seen.get(&key), Some(Seen::Answered(_))) {
                self.seen.remove(&key);
            }
        }
    }
}

/// Drops and their once-a-minute log lines.
struct Drops(HashMap<&'static str, RefusalLog>);

impl Drops {
    fn note(&mut self, reason: &'static str, from: SocketAddr) {
        metrics::counter!("pramaan_radius_dropped_total", "reason" => reason, "source" => from.ip().to_canonical().to_string()).increment(1);
        let log = self
            .0
            .entry(reason)
            .or_insert_with(|| RefusalLog::new(REFUSAL_LOG_INTERVAL));
        if let Some(n) = log.note(Instant::now()) {
            tracing::warn!(
                reason,
                dropped = n,
                last = %from,
                "dropped RADIUS packets, unanswered (logged at most once a minute per reason; every one is counted in pramaan_radius_dropped_total)"
            );
        }
    }
}

/// What the receive loop shares with the tasks waiting for the WAL.
struct Shared {
    sock: UdpSocket,
    vault: Vault,
    secrets: Secrets,
    recent: Mutex<Recent>,
    pending: Arc<Semaphore>,
}

/// Serves accounting on `sock` until `stop`; at most `max_pending` packets
/// wait for the WAL at once.
pub async fn serve(
    sock: UdpSocket,
    vault: Vault,
    secrets: Secrets,
    max_pending: usize,
    mut stop: watch::Receiver<bool>,
) {
    let shared = Arc::new(Shared {
        sock,
        vault,
        secrets,
        recent: Mutex::new(Recent::default()),
        pending: Arc::new(Semaphore::new(max_pending.max(1))),
    });
    let mut drops = Drops(HashMap::new());
    // Larger than any RADIUS packet, so that an oversized one is seen whole and refused.
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = tokio::select! {
            r = shared.sock.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "RADIUS receive failed");
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        if let Err(reason) = receive(&shared, &buf[..n], from) {
            drops.note(reason, from);
        }
    }
}

/// One datagram: checked, then stored and answered by a task of its own, or
/// answered again, or dropped (the reason returned).
fn receive(shared: &Arc<Shared>, datagram: &[u8], from: SocketAddr) -> Result<(), &'static str> {
    if datagram.len() > radius::MAX_PACKET {
        return Err("too_long");
    }
    let secret = shared
        .secrets
        .for_client(from.ip())
        .ok_or("unknown_client")?;
    let packet = radius::decode(datagram).map_err(|_| "malformed")?;
    if packet.code != code::ACCOUNTING_REQUEST {
        return Err("not_accounting_request");
    }
    if packet.message_authenticator_ok(secret) == Some(false) {
        return Err("bad_message_authenticator");
    }
    if !packet.request_authenticator_ok(secret) {
        return Err("bad_authenticator");
    }
    let key: PacketKey = (from, packet.identifier, packet.authenticator);
    let response = radius::accounting_response(&packet, secret);
    {
        let mut recent = shared.recent.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        recent.forget_old(now);
        match recent.seen.get(&key) {
            Some(Seen::InFlight) => return Err("duplicate_in_flight"),
            Some(Seen::Answered(r)) => {
                let r = *r;
                drop(recent);
                metrics::counter!("pramaan_radius_requests_total", "result" => "answered_again")
                    .increment(1);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = shared.sock.send_to(&r, from).await;
                });
                return Ok(());
            }
            None => {}
        }
        if shared.vault.stats().storage.refuses_new() {
            return Err("storage_full");
        }
        let Ok(permit) = shared.pending.clone().try_acquire_owned() else {
            return Err("too_many_pending");
        };
        recent.seen.insert(key, Seen::InFlight);
        recent.order.push_back((now, key));
        let shared = shared.clone();
        let raw = Bytes::copy_from_slice(datagram);
        tokio::spawn(async move {
            let _permit = permit;
            store_then_answer(&shared, raw, from, key, response).await;
        });
    }
    Ok(())
}

/// Appends the packet with an acknowledgement; answers once it is durable.
async fn store_then_answer(
    shared: &Shared,
    raw: Bytes,
    from: SocketAddr,
    key: PacketKey,
    response: [u8; radius::HEADER_LEN],
) {
    let (ack, durable) = oneshot::channel();
    let submit = Submit {
        transport: Transport::Udp,
        peer: Arc::from(pramaan_core::peer::Via::Radius.peer(from).as_str()),
        lines: vec![raw],
        ack: Some(ack),
    };
    let stored = match shared.vault.sender() {
        Some(tx) if tx.send(submit).await.is_ok() => matches!(durable.await, Ok(Ok(_))),
        _ => false,
    };
    {
        let mut recent = shared.recent.lock().unwrap_or_else(|e| e.into_inner());
        if stored {
            recent.seen.insert(key, Seen::Answered(response));
            recent.order.push_back((Instant::now(), key));
        } else {
            // Not durable: no answer, and the retransmission is stored afresh.
            recent.seen.remove(&key);
        }
    }
    if !stored {
        metrics::counter!("pramaan_radius_dropped_total", "reason" => "not_stored", "source" => from.ip().to_canonical().to_string()).increment(1);
        tracing::warn!(client = %from, "a RADIUS Accounting-Request could not be stored; unanswered, the NAS will retransmit");
        return;
    }
    metrics::counter!("pramaan_radius_requests_total", "result" => "stored").increment(1);
    if let Err(e) = shared.sock.send_to(&response, from).await {
        tracing::debug!(client = %from, error = %e, "sending an Accounting-Response failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_client_entry_wins_then_the_default() {
        let s = Secrets {
            default: Some(b"d".to_vec()),
            clients: {
                let mut v = vec![
                    ("10.0.0.0/8".parse().unwrap(), b"wide".to_vec()),
                    ("10.1.0.0/16".parse().unwrap(), b"narrow".to_vec()),
                ];
                v.sort_by_key(|(n, _): &(ipnet::IpNet, Vec<u8>)| std::cmp::Reverse(n.prefix_len()));
                v
            },
        };
        assert_eq!(
            s.for_client("10.1.2.3".parse().unwrap()),
            Some(&b"narrow"[..])
        );
        assert_eq!(
            s.for_client("10.2.2.3".parse().unwrap()),
            Some(&b"wide"[..])
        );
        assert_eq!(
            s.for_client("::ffff:10.2.2.3".parse().unwrap()),
            Some(&b"wide"[..])
        );
        assert_eq!(s.for_client("192.0.2.1".parse().unwrap()), Some(&b"d"[..]));
        let none = Secrets { default: None, ..s };
        assert_eq!(none.for_client("192.0.2.1".parse().unwrap()), None);
        // Debug never shows a secret.
        assert!(!format!("{none:?}").contains("narrow"));
    }
}
