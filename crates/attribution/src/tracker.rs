//! Turns session events into bindings: pairs Starts with Stops, closes a
//! session whose Stop never came at the next Start on the same address (and
//! overlapping ports; for RADIUS, from the same NAS) or after
//! `attribution.max_session`.
//!
//! Evidence: a binding keeps the sequence numbers of its Start, of the latest
//! Interim/alive record, and of its Stop (interims in between are dropped so
//! a week-long session does not carry thousands of numbers).

use crate::model::{Binding, Kind};
use crate::parse::{Action, Event};
use std::collections::{HashMap, VecDeque};

/// The open sessions, by `kind:session`.
#[derive(Debug, Default)]
pub struct Tracker {
    max_session_ns: i64,
    open: HashMap<String, Vec<Binding>>,
    /// Sessions closed by a Stop lately, with their end (at most
    /// [`RECENTLY_CLOSED`], oldest forgotten first): a copy of their Start,
    /// Interim or Stop (a RADIUS packet retransmitted and stored twice),
    /// dated at or before that end, must not open or rebuild them; a later
    /// Start with the same id (a NAS reusing ids after a restart) is a new session.
    closed: HashMap<String, i64>,
    closed_order: VecDeque<String>,
}

/// How long after a session's end a retransmitted Interim or Stop (timed
/// by its arrival when the NAS sends no Event-Timestamp) is still taken for
/// a copy: NASes and proxies give up retransmitting well within it.
pub const COPY_SLACK_NS: i64 = 300 * 1_000_000_000;

/// How many closed sessions the tracker remembers.
pub const RECENTLY_CLOSED: usize = 100_000;

fn session_key(kind: Kind, session: &str) -> String {
    format!("{}:{}", kind.as_str(), session)
}

/// Whether a Start of `ev` may close the open binding `b` on the same
/// address: RADIUS sessions only when both come from the same NAS (its
/// `detail`), DHCP leases only when both come from the same server (the
/// first part of their session, which the feeder gives; IPsec gateways
/// likewise), WireGuard peers only
/// on the same interface, since two NASes, servers or interfaces can hold one
/// address at once (overlapping pools, a move between
/// them) and both must be kept for `whois`.
fn same_origin(b: &Binding, ev: &Event) -> bool {
    let server = |s: &str| s.split('|').next().unwrap_or_default().to_owned();
    match (b.kind, ev.kind) {
        (Kind::Radius, Kind::Radius) => b.detail == ev.detail,
        // A DHCP server, a WireGuard interface: the session's first part.
        (Kind::Dhcp, Kind::Dhcp)
        | (Kind::Ipsec, Kind::Ipsec)
        | (Kind::Wireguard, Kind::Wireguard) => server(&b.session) == server(&ev.session),
        _ => true,
    }
}

/// The end an event gives its session: `at` plus the lease's lifetime.
fn lease_end(ev: &Event, at: i64) -> Option<i64> {
    ev.lifetime_secs
        .map(|s| at.saturating_add(s.saturating_mul(1_000_000_000)))
}

impl Tracker {
    pub fn new(max_session: std::time::Duration) -> Tracker {
        Tracker {
            max_session_ns: i64::try_from(max_session.as_nanos()).unwrap_or(i64::MAX / 4),
            open: HashMap::new(),
            closed: HashMap::new(),
            closed_order: VecDeque::new(),
        }
    }

    /// Restores the open sessions (the store keeps them, `open == true`).
    pub fn restore(&mut self, open: Vec<Binding>) {
        for b in open {
            let Some(key) = b.key.as_deref() else {
                continue;
            };
            let sk = key
                .rsplit_once('|')
                .map(|(a, _)| a)
                .unwrap_or(key)
                .to_owned();
            self.open.entry(sk).or_default().push(b);
        }
    }

    /// Whether `ev`'s session is open, or `ev` is dated within a session
    /// closed lately (a copy of one of its packets).
    pub fn knows(&self, ev: &Event) -> bool {
        let sk = session_key(ev.kind, &ev.session);
        self.open.contains_key(&sk) || self.closed_copy(&sk, ev.action, ev.at_ns)
    }

    /// Whether an event of session `sk` at `at` is a copy of one of a
    /// session closed lately: dated before its end, or (an Interim or Stop
    /// timed by its arrival, retransmitted later) within [`COPY_SLACK_NS`] after it.
    fn closed_copy(&self, sk: &str, action: Action, at: Option<i64>) -> bool {
        let slack = if action == Action::Start {
            0
        } else {
            COPY_SLACK_NS
        };
        match (self.closed.get(sk), at) {
            (Some(end), Some(at)) => at <= end.saturating_add(slack),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The key the bindings of `ev`'s session on `net` are stored under.
    pub fn binding_key(ev: &Event, net: &crate::model::Net) -> String {
        format!("{}|{net}", session_key(ev.kind, &ev.session))
    }

    fn remember_closed(&mut self, sk: &str, end: i64) {
        if self.closed.insert(sk.to_owned(), end).is_none() {
            self.closed_order.push_back(sk.to_owned());
            while self.closed_order.len() > RECENTLY_CLOSED {
                if let Some(old) = self.closed_order.pop_front() {
                    self.closed.remove(&old);
                }
            }
        }
    }

    pub fn open_count(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }

    /// Feeds one event from record `seq` (time `record_ns` when the line has
    /// none). Returns the bindings to store (upserts by key).
    pub fn feed(&mut self, ev: &Event, seq: u64, record_ns: i64) -> Vec<Binding> {
        let at = ev.at_ns.unwrap_or(record_ns);
        let sk = session_key(ev.kind, &ev.session);
        let mut out = Vec::new();
        match ev.action {
            Action::Allot => {
                for net in &ev.nets {
                    out.push(Binding {
                        net: *net,
                        port_lo: ev.port_lo,
                        port_hi: ev.port_hi,
                        start_ns: at,
                        end_ns: ev.until_ns.unwrap_or(i64::MAX),
                        open: false,
                        subscriber: ev.subscriber.clone(),
                        session: ev.session.clone(),
                        kind: ev.kind,
                        detail: ev.detail.clone(),
                        evidence: vec![seq],
                        key: Some(format!("{sk}|{net}")),
                    });
                }
            }
            Action::NasReset => out.extend(self.reset_nas(ev, seq, at)),
            Action::Start | Action::Update if self.closed_copy(&sk, ev.action, Some(at)) => {
                // A copy of a packet of a session already stopped.
            }
            Action::Start | Action::Update => {
                if let Some(list) = self.open.get_mut(&sk) {
                    // Known session: an update (a repeated Start counts as one);
                    // a renewed lease ends at its new end.
                    let end = lease_end(ev, at);
                    for b in list.iter_mut() {
                        if b.evidence.len() >= 2 {
                            b.evidence.truncate(1);
                        }
                        b.evidence.push(seq);
                        if let Some(e) = end {
                            b.end_ns = e.max(b.start_ns.saturating_add(1));
                        }
                        out.push(b.clone());
                    }
                    // Addresses the session did not have yet.
                    let known: Vec<_> = list.iter().map(|b| b.net).collect();
                    let start = list.first().map(|b| b.start_ns).unwrap_or(at);
                    let new: Vec<_> = ev
                        .nets
                        .iter()
                        .filter(|n| !known.contains(n))
                        .copied()
                        .collect();
                    if !new.is_empty() {
                        out.extend(self.open_session(ev, &sk, &new, start, at, seq));
                    }
                    return out;
                }
                let start = match (ev.action, ev.started_ns, ev.session_secs) {
                    (_, Some(s), _) => s,
                    (Action::Update, None, Some(secs)) => {
                        at.saturating_sub(secs.saturating_mul(1_000_000_000))
                    }
                    _ => at,
                };
                if ev.nets.is_empty() {
                    return out;
                }
                out.extend(self.open_session(ev, &sk, &ev.nets.clone(), start, at, seq));
            }
            Action::Stop => {
                if self.closed_copy(&sk, Action::Stop, Some(at)) {
                    // A copy of the Stop: the session is already closed.
                } else if let Some(list) = self.open.remove(&sk) {
                    self.remember_closed(&sk, at);
                    for mut b in list {
                        b.open = false;
                        b.end_ns = at.max(b.start_ns.saturating_add(1));
                        b.evidence.push(seq);
                        out.push(b);
                    }
                } else if let Some(secs) = ev.session_secs {
                    self.remember_closed(&sk, at);
                    // A Stop whose Start is not in the vault: Acct-Session-Time places the start.
                    let start = at.saturating_sub(secs.saturating_mul(1_000_000_000));
                    for net in &ev.nets {
                        out.push(Binding {
                            net: *net,
                            port_lo: ev.port_lo,
                            port_hi: ev.port_hi,
                            start_ns: start,
                            end_ns: at.max(start.saturating_add(1)),
                            open: false,
                            subscriber: ev.subscriber.clone(),
                            session: ev.session.clone(),
                            kind: ev.kind,
                            detail: ev.detail.clone(),
                            evidence: vec![seq],
                            key: Some(format!("{sk}|{net}")),
                        });
                    }
                }
            }
        }
        out
    }

    /// Opens `ev`'s session on `nets` from `start`; it ends at the lease's
    /// end (a lifetime from `at`) or, without one, `attribution.max_session`
    /// after `start` unless a Stop comes first.
    fn open_session(
        &mut self,
        ev: &Event,
        sk: &str,
        nets: &[crate::model::Net],
        start: i64,
        at: i64,
        seq: u64,
    ) -> Vec<Binding> {
        let mut out = Vec::new();
        // The next Start on the same address (overlapping ports) closes an open session.
        let mut emptied = Vec::new();
        for (other, list) in self.open.iter_mut() {
            list.retain(|b| {
                let clash = same_origin(b, ev)
                    && nets.iter().any(|n| n.overlaps(&b.net))
                    && b.port_lo <= ev.port_hi
                    && ev.port_lo <= b.port_hi
                    && b.start_ns <= start;
                if clash {
                    let mut c = b.clone();
                    c.open = false;
                    c.end_ns = c.end_ns.min(start).max(c.start_ns.saturating_add(1));
                    out.push(c);
                }
                !clash
            });
            if list.is_empty() {
                emptied.push(other.clone());
            }
        }
        for k in emptied {
            self.open.remove(&k);
        }
        let end = lease_end(ev, at)
            .map(|e| e.max(start.saturating_add(1)))
            .unwrap_or_else(|| start.saturating_add(self.max_session_ns));
        let list = self.open.entry(sk.to_owned()).or_default();
        for net in nets {
            let b = Binding {
                net: *net,
                port_lo: ev.port_lo,
                port_hi: ev.port_hi,
                start_ns: start,
                end_ns: end,
                open: true,
                subscriber: ev.subscriber.clone(),
                session: ev.session.clone(),
                kind: ev.kind,
                detail: ev.detail.clone(),
                evidence: vec![seq],
                key: Some(format!("{sk}|{net}")),
            };
            out.push(b.clone());
            list.push(b);
        }
        out
    }

    /// Accounting-On/-Off from a NAS: every RADIUS session open on it
    /// (same `detail`) ended at `at`; the reset's record joins their evidence.
    fn reset_nas(&mut self, ev: &Event, seq: u64, at: i64) -> Vec<Binding> {
        let mut out = Vec::new();
        let mut ended = Vec::new();
        for (sk, list) in self.open.iter_mut() {
            let before = list.len();
            list.retain(|b| {
                let mine = b.kind == Kind::Radius && b.detail == ev.detail && b.start_ns <= at;
                if mine {
                    let mut c = b.clone();
                    c.open = false;
                    c.end_ns = at.max(c.start_ns.saturating_add(1));
                    c.evidence.push(seq);
                    out.push(c);
                }
                !mine
            });
            if list.is_empty() && before > 0 {
                ended.push(sk.clone());
            }
        }
        // Not remembered as closed: a NAS that restarted may reuse the ids at once.
        for sk in ended {
            self.open.remove(&sk);
        }
        out
    }

    /// Closes open sessions whose end came before `now_ns` (start +
    /// `attribution.max_session`, or a lease's end); returns them, closed.
    pub fn expire(&mut self, now_ns: i64) -> Vec<Binding> {
        let mut out = Vec::new();
        self.open.retain(|_, list| {
            list.retain(|b| {
                if b.end_ns <= now_ns {
                    let mut c = b.clone();
                    c.open = false;
                    out.push(c);
                    false
                } else {
                    true
                }
            });
            !list.is_empty()
        });
        out
    }
}
