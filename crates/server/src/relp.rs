//! The RELP listener (`relp.listen`, TLS with `relp.tls_cert`/`relp.tls_key`):
//! rsyslog's `omrelp` sends here, and every message is acknowledged only
//! once it is durable.
//!
//! ```text
//! connection ─► allowed? (syslog.allow, per-source and total caps) ─► TLS handshake
//!   reader: bytes ─► relp::Decoder ─► relp::Session ─► a batch: the messages
//!           of one read, appended with one ack, and the answers in frame order
//!   writer: per batch, in order: wait for the WAL's fsync ─► `rsp 200 OK` for
//!           each stored message (and the other answers) ─► one write
//! ```
//!
//! rsyslog keeps up to its window (128 by default) of frames in flight
//! before it waits for answers, so the reader goes on reading while the
//! writer waits for the fsync: one read's frames share one group commit.
//!
//! What is guaranteed. A message is answered `200 OK` only after its record
//! is fsync'd, so nothing acknowledged is ever lost; rsyslog resends in a new
//! session whatever it had no `200 OK` for. A crash (or a lost connection)
//! after the fsync and before the answer reached rsyslog makes rsyslog send
//! those messages again, and they are stored again: RELP gives a message no
//! identity that outlives its session (transaction numbers start again at 1),
//! and two identical lines may well be two events, so pramaan cannot tell a
//! resend from a repeat. Delivery is at least once: duplicates only in that
//! window, at most the frames in flight (rsyslog's window) per session.
//!
//! Refusals (each counted in `pramaan_lines_refused_total{transport="relp"}`
//! by reason; frames that end the session also close it with `serverclose`):
//! a message over `syslog.max_line` (`500`, skipped unbuffered, session goes
//! on), an empty message, an unknown command; a skipped or repeated
//! transaction number, a frame before `open`, `open` without `syslog`
//! (`500`, session closed: the client reconnects and resends what it had not
//! had acknowledged); a frame that does not parse (`bad_frame`, closed).
//! A message that could not be stored (the WAL failed) is not answered: the
//! session is closed and rsyslog resends it.

use crate::listeners::{read_wait, stopped, Limits, PerSource, RefusalLog, Wait};
use crate::listeners::{SourceSlot, REFUSAL_LOG_INTERVAL};
use bytes::{Bytes, BytesMut};
use pramaan_core::peer::Via;
use pramaan_core::Transport;
use pramaan_ingest::relp::{self, Decoder, Session, Step};
use pramaan_vault::{AppendError, SeqRange, Submit, Vault};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

/// The `transport` label of RELP's metrics.
const LABEL: &str = "relp";

/// Batches read but not yet answered, per connection.
const BATCHES_IN_FLIGHT: usize = 16;

fn refused(ip: &str, reason: &'static str, n: u64) {
    metrics::counter!("pramaan_lines_refused_total", "transport" => LABEL, "source" => ip.to_owned(), "reason" => reason).increment(n);
}

fn closed(reason: &'static str) {
    metrics::counter!("pramaan_connections_closed_total", "transport" => LABEL, "reason" => reason)
        .increment(1);
}

/// Refused connections, logged at most once a minute per reason.
struct Refusals(HashMap<&'static str, RefusalLog>);

impl Refusals {
    fn note(&mut self, reason: &'static str, from: SocketAddr) {
        metrics::counter!("pramaan_connections_refused_total", "transport" => LABEL, "reason" => reason).increment(1);
        let log = self
            .0
            .entry(reason)
            .or_insert_with(|| RefusalLog::new(REFUSAL_LOG_INTERVAL));
        if let Some(n) = log.note(Instant::now()) {
            tracing::warn!(
                reason, refused = n, last = %from,
                "refused RELP connections (logged at most once a minute per reason; every one is counted in pramaan_connections_refused_total)"
            );
        }
    }
}

/// Accepts RELP connections (TLS ones with an acceptor) until `stop`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    vault: Vault,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_source = Arc::new(PerSource::default());
    let mut refusals = Refusals(HashMap::new());
    loop {
        let (stream, from) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "RELP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => return,
        };
        let admitted =
            admit(&limits, &slots, &per_source, from).map_err(|r| refusals.note(r, from));
        let Ok((permit, slot)) = admitted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            from,
            accepted: Instant::now(),
            transport: if tls.is_some() {
                Transport::Tls
            } else {
                Transport::Tcp
            },
            vault: vault.clone(),
            limits: limits.clone(),
            stop: stop.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            metrics::gauge!("pramaan_connections_open", "transport" => LABEL).increment(1.0);
            conn.start(stream, tls).await;
            metrics::gauge!("pramaan_connections_open", "transport" => LABEL).decrement(1.0);
        });
    }
}

/// A connection's slots, or why it is refused.
fn admit(
    limits: &Limits,
    slots: &Arc<Semaphore>,
    per_source: &Arc<PerSource>,
    from: SocketAddr,
) -> Result<(OwnedSemaphorePermit, SourceSlot), &'static str> {
    if !limits.allow.allows(from.ip()) {
        return Err("not_allowed");
    }
    let slot = per_source
        .take(from.ip(), limits.max_connections_per_source)
        .ok_or("per_source")?;
    let permit = slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| "max_connections")?;
    Ok((permit, slot))
}

/// One accepted connection.
struct Connection {
    from: SocketAddr,
    accepted: Instant,
    transport: Transport,
    vault: Vault,
    limits: Limits,
    stop: watch::Receiver<bool>,
}

/// One answer, in frame order.
enum Answer {
    /// Ready now (`open`, `close`, a refusal).
    Now(Vec<u8>),
    /// `200 OK` for this transaction once the batch's messages are durable.
    Durable(u32),
}

/// How a batch ends the session, if it does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent `close`: answered, then the connection is closed.
    Close,
    /// pramaan refused the session: `serverclose`, then closed.
    Refused,
}

/// The frames of one read: their messages appended together, their answers.
#[derive(Default)]
struct Batch {
    /// Taken when they are submitted.
    lines: Vec<Bytes>,
    answers: Vec<Answer>,
    end: Option<End>,
}

type Durable = oneshot::Receiver<Result<SeqRange, AppendError>>;

impl Connection {
    async fn start(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let Some(acc) = tls else {
            return self.run(stream).await;
        };
        // The handshake counts against the first-byte timeout too.
        let limit = self
            .limits
            .first_byte_timeout
            .map_or(Duration::from_secs(30), |t| t.min(Duration::from_secs(30)));
        match tokio::time::timeout(limit, acc.accept(stream)).await {
            Ok(Ok(s)) => self.run(s).await,
            Ok(Err(e)) => {
                metrics::counter!("pramaan_connections_refused_total", "transport" => LABEL, "reason" => "handshake").increment(1);
                tracing::info!(peer = %self.from, error = %e, "RELP TLS handshake failed");
            }
            Err(_) => closed("handshake_timeout"),
        }
    }

    /// Reads and answers at once: the writer answers batch after batch while
    /// the reader reads the next frames.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S) {
        let (rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(BATCHES_IN_FLIGHT);
        futures::join!(self.read(rd, tx), answer(wr, rx, self.from));
    }

    async fn read<R: AsyncRead + Unpin>(
        &self,
        mut rd: R,
        out: mpsc::Sender<(Option<Durable>, Batch)>,
    ) {
        let ip = self.from.ip().to_canonical().to_string();
        let peer: Arc<str> = Arc::from(Via::Relp.peer(self.from).as_str());
        let mut dec = Decoder::new(self.limits.max_line);
        let mut session = Session::new();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut stop = self.stop.clone();
        let mut seen_data = false;
        loop {
            // The disk is full: read nothing more until the vault writes
            // again, so that rsyslog waits (its messages stay queued there).
            while self.vault.stats().storage.refuses_new() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stopped(&mut stop) => return,
                    _ = out.closed() => return,
                }
            }
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(64 * 1024);
            }
            let wait = read_wait(&self.limits, seen_data, self.accepted, Instant::now());
            let read = async {
                match wait {
                    Some((t, why)) => tokio::time::timeout(t, rd.read_buf(&mut buf))
                        .await
                        .map_err(|_| why),
                    None => Ok(rd.read_buf(&mut buf).await),
                }
            };
            let n = tokio::select! {
                r = read => r,
                _ = stopped(&mut stop) => return closed("shutdown"),
                _ = out.closed() => return,
            };
            match n {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    if dec.finish(&buf).is_err() {
                        // Unanswered: the client sends it again.
                        refused(&ip, "truncated", 1);
                    }
                    return;
                }
                Ok(Ok(_)) => seen_data = true,
                Err(Wait::FirstByte) => return closed("first_byte_timeout"),
                Err(Wait::Idle) => return closed("idle_timeout"),
            }
            let mut batch = self.frames(&mut dec, &mut session, &mut buf, &ip);
            let end = batch.end;
            let durable = match self
                .submit(&peer, &ip, std::mem::take(&mut batch.lines))
                .await
            {
                Ok(d) => d,
                Err(()) => return,
            };
            if out.send((durable, batch)).await.is_err() || end.is_some() {
                return;
            }
        }
    }

    /// Decodes what `buf` holds into one batch.
    fn frames(
        &self,
        dec: &mut Decoder,
        session: &mut Session,
        buf: &mut BytesMut,
        ip: &str,
    ) -> Batch {
        let mut b = Batch::default();
        while b.end.is_none() {
            let ev = match dec.decode(buf) {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    refused(ip, "bad_frame", 1);
                    tracing::info!(peer = %self.from, error = %e, "closing a RELP session: a frame does not parse");
                    b.end = Some(End::Refused);
                    break;
                }
            };
            match session.on_event(ev) {
                Step::Answer(rsp) => b.answers.push(Answer::Now(rsp)),
                Step::Store { txnr, message } => {
                    b.lines.push(message);
                    b.answers.push(Answer::Durable(txnr));
                }
                Step::Close { txnr } => {
                    b.answers.push(Answer::Now(relp::ok(txnr, "")));
                    b.end = Some(End::Close);
                }
                Step::Refuse { txnr, why } => {
                    refused(ip, why.reason(), 1);
                    tracing::debug!(peer = %self.from, txnr, reason = %why, "refused a RELP frame");
                    b.answers
                        .push(Answer::Now(relp::error(txnr, &why.to_string())));
                    if why.closes() {
                        tracing::info!(peer = %self.from, reason = %why, "closing a RELP session");
                        b.end = Some(End::Refused);
                    }
                }
            }
        }
        b
    }

    /// Appends `lines` with an acknowledgement (none to append: `None`).
    async fn submit(
        &self,
        peer: &Arc<str>,
        ip: &str,
        lines: Vec<Bytes>,
    ) -> Result<Option<Durable>, ()> {
        if lines.is_empty() {
            return Ok(None);
        }
        let n = lines.len() as u64;
        metrics::counter!("pramaan_lines_received_total", "transport" => LABEL, "source" => ip.to_owned()).increment(n);
        let (ack, durable) = oneshot::channel();
        let submit = Submit {
            transport: self.transport,
            peer: peer.clone(),
            lines,
            ack: Some(ack),
        };
        match self.vault.sender() {
            Some(tx) if tx.send(submit).await.is_ok() => Ok(Some(durable)),
            _ => Err(()),
        }
    }
}

/// Answers batch after batch, each once its messages are durable. A batch
/// that could not be stored is not answered: the session is closed and the
/// client resends.
async fn answer<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut batches: mpsc::Receiver<(Option<Durable>, Batch)>,
    from: SocketAddr,
) {
    while let Some((durable, batch)) = batches.recv().await {
        let stored = match durable {
            None => Ok(()),
            Some(rx) => match rx.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("the vault is shutting down".to_owned()),
            },
        };
        if let Err(why) = stored {
            let ip = from.ip().to_canonical().to_string();
            let n = batch
                .answers
                .iter()
                .filter(|a| matches!(a, Answer::Durable(_)))
                .count();
            refused(&ip, "not_stored", n as u64);
            tracing::warn!(peer = %from, lines = n, reason = %why, "RELP messages could not be stored; the session is closed unanswered, so the client resends them");
            let _ = wr.write_all(&relp::serverclose()).await;
            let _ = wr.shutdown().await;
            return;
        }
        let mut out = Vec::with_capacity(batch.answers.len() * 16);
        for a in batch.answers {
            match a {
                Answer::Now(rsp) => out.extend_from_slice(&rsp),
                Answer::Durable(txnr) => out.extend_from_slice(&relp::ok(txnr, "")),
            }
        }
        if batch.end == Some(End::Refused) {
            out.extend_from_slice(&relp::serverclose());
        }
        if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
            return;
        }
        if let Some(end) = batch.end {
            closed(match end {
                End::Close => "client_close",
                End::Refused => "refused",
            });
            let _ = wr.shutdown().await;
            return;
        }
    }
}
