//! Retention and legal holds.
//!
//! Records are kept for a rolling window of `received_at` (CERT-In: 180
//! days), per source class, and then deleted a whole segment at a time.
//! Segments never span a UTC hour (`segments.cut_hourly`), so deletion is
//! exact to the hour.
//!
//! * [`decide`] is the whole decision, a pure function of the segments, the
//!   holds, the [`Policy`] and the time: what is expired, what is expired but
//!   held (and by which holds), what is still inside its window.
//! * [`store`] keeps holds, deletions, runs and the outbox of internal records
//!   in the catalog's SQLite database.
//! * [`run`] carries a decision out on a running vault ([`Retention`]), in an
//!   order that a crash at any point leaves finishable (see `ARCHITECTURE.md`).
//!
//! # The rules
//!
//! A source's name is the host a line names, else the sender's address
//! ([`crate::memtable::source_name`]). A source's window is that of the first
//! class with a pattern matching its name, else the default window. A segment
//! is **expired** when its newest record is older than the window of every
//! source in it: `time_max_ns < now_ns - window` for the longest window among
//! its sources (a record received exactly at the cutoff is kept).
//!
//! A **hold** blocks the deletion of every segment it touches. It touches a
//! segment when the time ranges overlap (both inclusive), and, when it names
//! a source, a source of the segment matches it (a pattern like a class's),
//! and, when it names an IP address, the segment may hold a line with that
//! address: the address is one of the segment's sources, or the segment's
//! Bloom filters on the extracted addresses do not rule it out. Without that
//! proof an IP hold is taken to touch the segment (conservative).

pub mod run;
pub mod store;

pub use run::{Faults, Retention, RetentionError, Step};
pub use store::{Deletion, Hold, NewHold, RetentionCatalog, RunRow};

use crate::SegmentMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Nanoseconds in a day.
pub const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// The window CERT-In requires.
pub const CERT_IN_DAYS: u64 = 180;

/// Windows for sources matched by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    pub name: String,
    /// Glob patterns on source names (see [`glob_match`]).
    pub sources: Vec<String>,
    pub days: u64,
}

/// What to keep and for how long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The window of sources no class names.
    pub default_days: u64,
    /// Tried in order; the first class with a matching pattern wins.
    pub classes: Vec<Class>,
}

/// The name a policy goes by in reports and records when no class matched.
pub const DEFAULT_POLICY: &str = "default";

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_days: CERT_IN_DAYS,
            classes: Vec::new(),
        }
    }
}

impl Policy {
    /// The class (name, days) that decides `source`'s window.
    pub fn class_for(&self, source: &str) -> (&str, u64) {
        for c in &self.classes {
            if c.sources.iter().any(|p| glob_match(p, source)) {
                return (&c.name, c.days);
            }
        }
        (DEFAULT_POLICY, self.default_days)
    }

    /// The class that keeps `seg` longest: the longest window among its
    /// sources (the first such class on a tie), or the default window for a
    /// segment without sources.
    pub fn governing(&self, seg: &SegmentMeta) -> (&str, u64) {
        let mut best: Option<(&str, u64)> = None;
        for src in seg.sources.keys() {
            let c = self.class_for(src);
            if best.is_none_or(|b| c.1 > b.1) {
                best = Some(c);
            }
        }
        best.unwrap_or((DEFAULT_POLICY, self.default_days))
    }

    /// True when no window is under CERT-In's 180 days.
    pub fn compliant(&self) -> bool {
        self.default_days >= CERT_IN_DAYS && self.classes.iter().all(|c| c.days >= CERT_IN_DAYS)
    }

    /// `default:180d`, `firewalls:365d`: how a policy is named in records.
    pub fn label(name: &str, days: u64) -> String {
        format!("{name}:{days}d")
    }
}

/// Window length in nanoseconds (saturating; days are at most 36 500).
pub fn window_ns(days: u64) -> i64 {
    (days as i64).saturating_mul(NS_PER_DAY)
}

/// The oldest `received_at` a window of `days` keeps at `now_ns`: records
/// strictly older are past it.
pub fn cutoff_ns(now_ns: i64, days: u64) -> i64 {
    now_ns.saturating_sub(window_ns(days))
}

/// Glob patterns name sources here as everywhere (`pramaan_core::zones`).
pub use pramaan_core::zones::glob_match;

/// Holds whose IP provably appears in no line of a segment: `(segment id,
/// hold id)` pairs, from the segment's Bloom filters.
pub type IpClear = BTreeSet<(i64, i64)>;

/// True when an active hold touches `seg` (see the module documentation).
pub fn hold_touches(h: &Hold, seg: &SegmentMeta, ip_clear: &IpClear) -> bool {
    if h.released_at_ns.is_some() {
        return false;
    }
    if h.from_ns > seg.time_max_ns || seg.time_min_ns > h.to_ns {
        return false;
    }
    if let Some(src) = &h.source {
        if !seg.sources.keys().any(|s| glob_match(src, s)) {
            return false;
        }
    }
    if h.ip.is_some() && ip_clear.contains(&(seg.id, h.id)) {
        return false;
    }
    true
}

/// A segment the decision is about, with the class that decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub segment: SegmentMeta,
    /// The governing class's name ([`DEFAULT_POLICY`] when none matched).
    pub class: String,
    pub days: u64,
    /// `now - window`: the segment is expired when `time_max_ns < cutoff_ns`.
    pub cutoff_ns: i64,
}

/// What one retention run should do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub now_ns: i64,
    /// Expired and touched by no active hold: to delete, in sequence order.
    pub expired: Vec<Judged>,
    /// Expired but kept, each with the ids of the active holds touching it.
    pub held: Vec<(Judged, Vec<i64>)>,
    /// Segments still inside their window.
    pub kept: usize,
}

/// The retention decision: pure, so it can be checked against a brute-force
/// model. `ip_clear` lists (segment, hold) pairs where the hold's IP address
/// is known not to occur in the segment (pass an empty set to treat every IP
/// hold as touching every segment in its time range).
pub fn decide(
    segments: &[SegmentMeta],
    holds: &[Hold],
    policy: &Policy,
    now_ns: i64,
    ip_clear: &IpClear,
) -> Decision {
    let mut d = Decision {
        now_ns,
        ..Default::default()
    };
    let mut segs: Vec<&SegmentMeta> = segments.iter().collect();
    segs.sort_by_key(|s| s.seq_min);
    for seg in segs {
        let (class, days) = policy.governing(seg);
        let cutoff = cutoff_ns(now_ns, days);
        if seg.time_max_ns >= cutoff {
            d.kept += 1;
            continue;
        }
        let judged = Judged {
            segment: seg.clone(),
            class: class.to_owned(),
            days,
            cutoff_ns: cutoff,
        };
        let by: Vec<i64> = holds
            .iter()
            .filter(|h| hold_touches(h, seg, ip_clear))
            .map(|h| h.id)
            .collect();
        if by.is_empty() {
            d.expired.push(judged);
        } else {
            d.held.push((judged, by));
        }
    }
    d
}

/// One segment in a report, with times for people (IST, UTC alongside).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentReport {
    pub segment: String,
    pub seq_min: u64,
    pub seq_max: u64,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    pub received_from_ns: i64,
    pub received_to_ns: i64,
    /// RFC 3339, UTC.
    pub received_from: String,
    pub received_to: String,
    /// RFC 3339, IST.
    pub received_from_ist: String,
    pub received_to_ist: String,
    pub sources: Vec<String>,
    /// `default:180d`, `firewalls:365d`.
    pub policy: String,
    pub cutoff: String,
    /// Why it is deleted or kept, in a sentence.
    pub why: String,
    /// The holds that keep it (held segments only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<HoldRef>,
}

/// A hold as named in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRef {
    pub id: i64,
    pub reason: String,
    pub order_ref: String,
}

impl SegmentReport {
    pub fn new(j: &Judged, why: String, holds: Vec<HoldRef>) -> Self {
        use pramaan_core::time::{rfc3339_ist, rfc3339_utc};
        let s = &j.segment;
        SegmentReport {
            segment: s.path.clone(),
            seq_min: s.seq_min,
            seq_max: s.seq_max,
            rows: s.rows,
            bytes: s.bytes,
            sha256: s.sha256.clone(),
            received_from_ns: s.time_min_ns,
            received_to_ns: s.time_max_ns,
            received_from: rfc3339_utc(s.time_min_ns),
            received_to: rfc3339_utc(s.time_max_ns),
            received_from_ist: rfc3339_ist(s.time_min_ns),
            received_to_ist: rfc3339_ist(s.time_max_ns),
            sources: s.sources.keys().cloned().collect(),
            policy: Policy::label(&j.class, j.days),
            cutoff: rfc3339_utc(j.cutoff_ns),
            why,
            holds,
        }
    }
}

/// Why an expired segment goes: every source is past its window.
pub fn why_expired(j: &Judged) -> String {
    format!(
        "its newest record ({}) is older than the {}-day window of `{}` (cutoff {}), the longest window of its sources",
        pramaan_core::time::human(j.segment.time_max_ns),
        j.days,
        j.class,
        pramaan_core::time::human(j.cutoff_ns)
    )
}

/// What a retention run did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub dry_run: bool,
    /// The run's id in the catalog (`None` for a dry run).
    pub run: Option<i64>,
    pub now_ns: i64,
    /// RFC 3339, UTC.
    pub now: String,
    pub policy: Policy,
    /// The policy meets CERT-In's 180 days.
    pub compliant: bool,
    /// Deleted (or, dry, to be deleted).
    pub deleted: Vec<SegmentReport>,
    /// Expired, but kept by a hold.
    pub held: Vec<SegmentReport>,
    /// Segments still inside their window.
    pub kept: usize,
    /// Deletions an earlier, interrupted run had begun and this run finished.
    pub finished_interrupted: usize,
    /// Segments taken out of the catalog whose objects are still being read
    /// by a search; the next run deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// Segments taken out of the catalog whose objects the bucket's Object
    /// Lock still keeps (a window shortened since they were sealed, or
    /// clocks a second apart), with the store's words; a later run deletes
    /// them once the lock ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<String>,
    /// Why the run stopped before deleting every expired segment (the ledger
    /// could not yet keep the tiles at a segment's edges); the rest is kept
    /// for a later run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Retention as `pramaan status` and `GET /api/v1/status` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionStatus {
    /// Every window is at least CERT-In's 180 days.
    pub compliant: bool,
    /// Why not, when not compliant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub policy: Policy,
    pub holds_active: usize,
    pub holds_released: usize,
    /// Segments retention has deleted, ever.
    pub segments_deleted: usize,
    /// Deleted segments whose objects the next run still has to remove.
    pub deletions_pending: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
}

/// The latest retention run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub run: i64,
    /// RFC 3339, IST.
    pub started_at: String,
    pub finished: bool,
    pub deleted: u64,
    pub held: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RetentionStatus {
    /// Reads holds, deletions and the latest run from the catalog.
    pub fn read(
        catalog: &dyn crate::Catalog,
        policy: &Policy,
    ) -> Result<Self, crate::CatalogError> {
        let holds = catalog.holds()?;
        let active = holds.iter().filter(|h| h.active()).count();
        let (deleted, pending) = catalog.deletion_counts()?;
        let compliant = policy.compliant();
        let mut short: Vec<String> = Vec::new();
        if policy.default_days < CERT_IN_DAYS {
            short.push(format!(
                "the default window is {} days",
                policy.default_days
            ));
        }
        for c in policy.classes.iter().filter(|c| c.days < CERT_IN_DAYS) {
            short.push(format!("class `{}` keeps {} days", c.name, c.days));
        }
        Ok(RetentionStatus {
            compliant,
            warning: (!compliant).then(|| {
                format!(
                    "NOT CERT-In compliant: {} (under {CERT_IN_DAYS} days; allowed by retention.allow_non_compliant)",
                    short.join(", ")
                )
            }),
            policy: policy.clone(),
            holds_active: active,
            holds_released: holds.len() - active,
            segments_deleted: deleted,
            deletions_pending: pending,
            last_run: catalog.last_run()?.map(|r| LastRun {
                run: r.id,
                started_at: pramaan_core::time::rfc3339_ist(r.started_at_ns),
                finished: r.finished_at_ns.is_some(),
                deleted: r.deleted,
                held: r.held,
                error: r.error,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn seg(id: i64, t: (i64, i64), sources: &[&str]) -> SegmentMeta {
        SegmentMeta {
            id,
            path: format!("s{id}"),
            seq_min: id as u64 * 10,
            seq_max: id as u64 * 10 + 9,
            time_min_ns: t.0,
            time_max_ns: t.1,
            rows: 10,
            bytes: 1,
            sha256: String::new(),
            sources: sources
                .iter()
                .map(|s| (s.to_string(), 1))
                .collect::<BTreeMap<_, _>>(),
            raw_bytes: 1,
            created_at_ns: 0,
        }
    }

    #[test]
    fn the_cutoff_is_exact_to_the_nanosecond() {
        let p = Policy::default();
        let now = 1_000 * NS_PER_DAY;
        let cutoff = now - 180 * NS_PER_DAY;
        let at = |t: i64| decide(&[seg(1, (t - 5, t), &["h"])], &[], &p, now, &IpClear::new());
        assert_eq!(
            at(cutoff).expired.len(),
            0,
            "received exactly at the cutoff: kept"
        );
        assert_eq!(at(cutoff).kept, 1);
        assert_eq!(
            at(cutoff - 1).expired.len(),
            1,
            "one nanosecond older: deleted"
        );
        assert_eq!(at(cutoff - 1).expired[0].cutoff_ns, cutoff);
    }

    #[test]
    fn the_longest_window_among_a_segments_sources_decides() {
        let p = Policy {
            default_days: 180,
            classes: vec![
                Class {
                    name: "fw".into(),
                    sources: vec!["fw-*".into()],
                    days: 365,
                },
                Class {
                    name: "all-fw".into(),
                    sources: vec!["fw-1".into()],
                    days: 1000,
                },
            ],
        };
        assert_eq!(
            p.class_for("fw-1"),
            ("fw", 365),
            "the first matching class wins"
        );
        assert_eq!(p.class_for("db"), (DEFAULT_POLICY, 180));
        let now = 2_000 * NS_PER_DAY;
        let t = now - 200 * NS_PER_DAY;
        let d = decide(
            &[
                seg(1, (t, t), &["db"]),
                seg(2, (t, t), &["db", "fw-2"]),
                seg(3, (t, t), &["FW-9"]),
            ],
            &[],
            &p,
            now,
            &IpClear::new(),
        );
        assert_eq!(
            d.expired.iter().map(|j| j.segment.id).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(d.kept, 2);
    }

    #[test]
    fn holds_block_by_time_source_and_ip() {
        let p = Policy::default();
        let now = 2_000 * NS_PER_DAY;
        let t = now - 200 * NS_PER_DAY;
        let segs = [
            seg(1, (t, t + 10), &["fw-1"]),
            seg(2, (t + 20, t + 30), &["db"]),
        ];
        let hold = |id, from, to, source: Option<&str>, ip: Option<&str>| Hold {
            id,
            from_ns: from,
            to_ns: to,
            source: source.map(str::to_owned),
            ip: ip.map(str::to_owned),
            reason: "r".into(),
            order_ref: "o".into(),
            created_by: "t".into(),
            created_at_ns: 0,
            released_at_ns: None,
            released_by: None,
            release_reason: None,
        };
        let held_ids = |holds: &[Hold], clear: &IpClear| {
            let d = decide(&segs, holds, &p, now, clear);
            d.held
                .iter()
                .map(|(j, by)| (j.segment.id, by.clone()))
                .collect::<Vec<_>>()
        };
        let none = IpClear::new();
        // Time: inclusive at both ends.
        assert_eq!(
            held_ids(&[hold(7, t + 10, t + 20, None, None)], &none),
            vec![(1, vec![7]), (2, vec![7])]
        );
        assert_eq!(
            held_ids(&[hold(7, t + 11, t + 19, None, None)], &none),
            vec![]
        );
        // Source, as a pattern.
        assert_eq!(
            held_ids(&[hold(7, 0, now, Some("fw-*"), None)], &none),
            vec![(1, vec![7])]
        );
        // IP: conservative unless cleared for a segment.
        assert_eq!(
            held_ids(&[hold(7, 0, now, None, Some("10.0.0.1"))], &none),
            vec![(1, vec![7]), (2, vec![7])]
        );
        let clear = IpClear::from([(1, 7)]);
        assert_eq!(
            held_ids(&[hold(7, 0, now, None, Some("10.0.0.1"))], &clear),
            vec![(2, vec![7])]
        );
        // A released hold holds nothing.
        let mut released = hold(7, 0, now, None, None);
        released.released_at_ns = Some(1);
        assert_eq!(held_ids(&[released], &none), vec![]);
    }
}
