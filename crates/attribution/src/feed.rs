//! Feeding session logs from the vault into the store: the parsers, the
//! tracker and the progress, independent of how records are read (the
//! server reads them from the vault, see `pramaan_server::api::whois`).

use crate::parse::parse_with;
use crate::sources::{Origin, Sources};
use crate::store::{BindingStore, StoreError};
use crate::tracker::Tracker;

/// One vault record, as the feeder needs it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub seq: u64,
    /// The line's own time when it had one, else when it was received.
    pub time_ns: i64,
    /// The sender's UTC offset (seconds east), for times written without a zone.
    pub offset_secs: i32,
    /// The message part of the line.
    pub message: String,
    /// The sender's address (`1.2.3.4:5514`), as the record keeps it.
    pub peer: String,
    /// The host the line names, if it names one.
    pub host: Option<String>,
    /// The line's application name (APP-NAME, TAG), if any.
    pub app: Option<String>,
    /// The raw bytes of a record that pramaan's RADIUS listener stored (peer
    /// `radius:...`): an Accounting-Request whose authenticator it checked.
    /// Read by [`crate::parse::radius_packet`], whatever `attribution.sources` says
    /// (`radius.clients` is what trusts its sender). `None` for log lines.
    pub packet: Option<Vec<u8>>,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FeedReport {
    pub records: usize,
    /// Records from no configured session source (or for a parser their
    /// source is not given): never parsed.
    pub foreign: usize,
    pub events: usize,
    pub bindings: usize,
    pub errors: usize,
    /// RADIUS packets whose Event-Timestamp was further from their arrival
    /// than `radius.max_clock_skew` (their arrival was used).
    pub skewed: usize,
}

/// The feeder's state: the tracker, where it is in the vault, and the
/// session sources whose lines it reads.
pub struct Feeder {
    pub tracker: Tracker,
    pub last_seq: Option<u64>,
    pub sources: Sources,
    /// `radius.max_clock_skew`, in nanoseconds.
    pub radius_max_skew_ns: i64,
}

/// The default of `radius.max_clock_skew`: one minute.
pub const DEFAULT_RADIUS_MAX_SKEW_NS: i64 = 60_000_000_000;

impl Feeder {
    /// Restores the open sessions and the progress from the store. Only
    /// lines from `sources` are parsed (none when it is empty).
    pub async fn resume(
        store: &dyn BindingStore,
        max_session: std::time::Duration,
        sources: Sources,
    ) -> Result<Feeder, StoreError> {
        let st = store.feed_state().await?;
        let mut tracker = Tracker::new(max_session);
        tracker.restore(st.open);
        Ok(Feeder {
            tracker,
            last_seq: st.last_seq,
            sources,
            radius_max_skew_ns: DEFAULT_RADIUS_MAX_SKEW_NS,
        })
    }

    /// The first sequence number still to read.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.map(|s| s + 1).unwrap_or(0)
    }

    /// Parses a batch of records (in sequence order, all after
    /// [`Feeder::next_seq`]) and stores the bindings with the new progress
    /// in one step, so a restart neither loses nor repeats a record.
    pub async fn process(
        &mut self,
        store: &dyn BindingStore,
        records: &[LogRecord],
    ) -> Result<FeedReport, StoreError> {
        self.process_through(store, records, None).await
    }

    /// [`Feeder::process`], when the caller read every log line up to
    /// `read_through` and `records` are all of them: the progress moves there
    /// even if the last records were not log lines (pramaan's own records are
    /// never fed), so they are not read again.
    pub async fn process_through(
        &mut self,
        store: &dyn BindingStore,
        records: &[LogRecord],
        read_through: Option<u64>,
    ) -> Result<FeedReport, StoreError> {
        let mut rep = FeedReport::default();
        let mut out = Vec::new();
        let mut last = self.last_seq;
        let mut latest_time = i64::MIN;
        for r in records {
            if last.is_some_and(|l| r.seq <= l) {
                continue;
            }
            rep.records += 1;
            last = Some(r.seq);
            latest_time = latest_time.max(r.time_ns);
            if let Some(packet) = &r.packet {
                self.radius_packet(store, r, packet, &mut rep, &mut out)
                    .await?;
                continue;
            }
            // The WireGuard poller's lines: pramaan wrote them (no sender's
            // peer starts so), whatever `attribution.sources` says.
            if r.peer.starts_with(crate::parse::wireguard::RECORD_PEER) {
                self.event(
                    crate::parse::wireguard::parse(&r.message),
                    r,
                    &mut rep,
                    &mut out,
                );
                continue;
            }
            let parsers = self.sources.parsers_for(&Origin {
                peer: &r.peer,
                host: r.host.as_deref(),
                app: r.app.as_deref(),
            });
            if parsers.is_empty() {
                rep.foreign += 1;
                continue;
            }
            let parsed = parse_with(&r.message, r.offset_secs, &parsers).map(|ev| {
                ev.map(|mut ev| {
                    if matches!(
                        ev.kind,
                        crate::model::Kind::Dhcp | crate::model::Kind::Ipsec
                    ) {
                        server_origin(&mut ev, r);
                    }
                    ev
                })
            });
            self.event(parsed, r, &mut rep, &mut out);
        }
        if latest_time > i64::MIN {
            out.extend(self.tracker.expire(latest_time));
        }
        if let Some(t) = read_through {
            last = last.max(Some(t));
        }
        if last == self.last_seq {
            return Ok(rep);
        }
        rep.bindings = out.len();
        store.apply(out, last).await?;
        self.last_seq = last;
        Ok(rep)
    }

    /// One parsed log line: its event tracked, or its error counted.
    fn event(
        &mut self,
        parsed: Result<Option<crate::parse::Event>, crate::parse::ParseError>,
        r: &LogRecord,
        rep: &mut FeedReport,
        out: &mut Vec<crate::model::Binding>,
    ) {
        match parsed {
            Ok(Some(ev)) => {
                rep.events += 1;
                out.extend(self.tracker.feed(&ev, r.seq, r.time_ns));
            }
            Ok(None) => {}
            Err(e) => {
                rep.errors += 1;
                tracing::warn!(seq = r.seq, error = %e, "session line not understood; no binding taken from it");
            }
        }
    }

    /// One record of the RADIUS listener: its packet, decoded and tracked.
    async fn radius_packet(
        &mut self,
        store: &dyn BindingStore,
        r: &LogRecord,
        packet: &[u8],
        rep: &mut FeedReport,
        out: &mut Vec<crate::model::Binding>,
    ) -> Result<(), StoreError> {
        match crate::parse::radius_packet::parse(
            packet,
            &r.peer,
            r.time_ns,
            self.radius_max_skew_ns,
        ) {
            Ok(Some(d)) => {
                rep.events += 1;
                if let Some(skew) = d.skew_ns {
                    rep.skewed += 1;
                    tracing::warn!(seq = r.seq, peer = %r.peer, skew_seconds = skew / 1_000_000_000,
                        "RADIUS Event-Timestamp is off by more than radius.max_clock_skew; the arrival time is used");
                }
                if !self.tracker.knows(&d.event) && stored_copy(store, &d.event, out).await? {
                    return Ok(());
                }
                out.extend(self.tracker.feed(&d.event, r.seq, r.time_ns));
            }
            Ok(None) => {}
            Err(e) => {
                rep.errors += 1;
                tracing::warn!(seq = r.seq, error = %e, "RADIUS packet not understood; no binding taken from it");
            }
        }
        Ok(())
    }
}

/// A DHCP or strongSwan line names no server: the source it came from is the
/// server, so that leases of one address from two servers (gateways) are two
/// sessions, both kept (`SERVER|...`). Its time is the record's when the line
/// has none, so that a new lease after a release is never taken for a copy.
fn server_origin(ev: &mut crate::parse::Event, r: &LogRecord) {
    let server = if r.peer.starts_with("file:") {
        r.peer.as_str()
    } else {
        match r.host.as_deref() {
            Some(h) if !h.is_empty() && h != "-" => h,
            _ => pramaan_core::zones::peer_host(&r.peer),
        }
    };
    ev.session = format!("{server}|{}", ev.session);
    ev.at_ns = ev.at_ns.or(Some(r.time_ns));
}

/// Whether a Stop of a session the tracker does not know is a copy of one
/// already applied (a retransmission stored again after a restart, when the
/// tracker's memory of closed sessions was lost): the store (or this batch)
/// holds a closed binding of that session ending at its time.
async fn stored_copy(
    store: &dyn BindingStore,
    ev: &crate::parse::Event,
    batch: &[crate::model::Binding],
) -> Result<bool, StoreError> {
    let (Some(net), Some(at)) = (ev.nets.first(), ev.at_ns) else {
        return Ok(false);
    };
    if ev.action != crate::parse::Action::Stop {
        return Ok(false);
    }
    let key = Tracker::binding_key(ev, net);
    let same = |b: &crate::model::Binding| !b.open && b.key.as_deref() == Some(key.as_str());
    if batch.iter().any(same) {
        return Ok(true);
    }
    // Just before this Stop's time, and (a copy timed by a later arrival)
    // halfway through the session its Acct-Session-Time gives.
    let mut probes = vec![at.saturating_sub(1)];
    if let Some(secs) = ev.session_secs {
        probes.push(at.saturating_sub(secs.saturating_mul(500_000_000)));
    }
    for at_ns in probes {
        let found = store
            .lookup(crate::model::Probe {
                addr: net.first_addr(),
                port: None,
                at_ns,
            })
            .await?;
        if found.iter().any(same) {
            return Ok(true);
        }
    }
    Ok(false)
}
