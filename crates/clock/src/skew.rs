//! Per log source clock skew: the distribution of `received_at − event
//! time` over a sliding window, and which sources are off by more than the
//! threshold. Pure: rows go in, statistics come out.
//!
//! Sources are named as retention names them: the host a line names, else
//! the sender's address (`pramaan_core::zones::source_name`). A line whose
//! stamp had no zone (RFC 3164, or RFC 3339 without an offset) was read by
//! ingest in its source's zone and stored with `event_zone_assumed = true`
//! and that offset; when `clock.source_zones` names another zone for the
//! source now (it changed since), the event time is re-read in that zone
//! here (the stored offset tells how it was read).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

pub use pramaan_core::zones::{format_offset, parse_offset, ZoneMap, ZoneMapError};

const NS: i64 = 1_000_000_000;

/// One stored line, as the skew analysis needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkewRow {
    pub seq: u64,
    pub received_at_ns: i64,
    pub event_ns: i64,
    /// The offset the event time was read at (stored `event_offset`).
    pub event_offset_secs: Option<i32>,
    /// The stamp carried no zone.
    pub zone_assumed: bool,
    pub source: String,
}

/// Settings of the analysis.
#[derive(Clone, Debug)]
pub struct SkewOptions {
    /// How far back the window reaches (by `received_at`).
    pub window_ns: i64,
    /// A line is off when its skew is outside ±threshold (plus one second
    /// above for stamps with whole seconds only, like RFC 3164's).
    pub threshold_ns: i64,
    /// Most lines kept per source (the newest); the window is cut to this.
    pub max_per_source: usize,
    /// Most sources tracked; lines of further sources are counted, not kept.
    pub max_sources: usize,
    pub zones: ZoneMap,
}

#[derive(Clone, Copy, Debug)]
struct Point {
    seq: u64,
    received_ns: i64,
    skew_ns: i64,
    off: bool,
}

#[derive(Default, Debug)]
struct SourceWindow {
    points: VecDeque<Point>,
    zone_assumed: u64,
    /// Seq of the first off line of the current flagged episode.
    episode_first: Option<u64>,
    latest_off: Option<u64>,
}

/// The distribution for one source, as reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSkew {
    pub source: String,
    /// Lines in the window.
    pub count: usize,
    pub min_ms: f64,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Lines in the window off by more than the threshold.
    pub off: usize,
    /// Most of the window is off.
    pub flagged: bool,
    /// While flagged: the first line of this episode that showed it.
    pub first_seq: Option<u64>,
    /// The latest line off by more than the threshold.
    pub latest_seq: Option<u64>,
    /// Lines in the window whose stamp had no zone.
    pub zone_assumed: u64,
    /// The zone such stamps were read in, when `clock.source_zones` names
    /// the source (else they are as ingest read them, `syslog.default_timezone`).
    pub zone: Option<String>,
}

/// The state kept between passes.
#[derive(Debug)]
pub struct SkewTracker {
    opts: SkewOptions,
    sources: BTreeMap<String, SourceWindow>,
    /// The highest sequence number seen (the next pass reads after it).
    pub last_seq: Option<u64>,
    /// Lines not kept because `max_sources` was reached.
    pub dropped: u64,
}

impl SkewTracker {
    pub fn new(opts: SkewOptions) -> Self {
        SkewTracker {
            opts,
            sources: BTreeMap::new(),
            last_seq: None,
            dropped: 0,
        }
    }

    pub fn options(&self) -> &SkewOptions {
        &self.opts
    }

    /// Adds rows (in sequence order) and drops what left the window.
    pub fn add(&mut self, rows: &[SkewRow], now_ns: i64) {
        let thr = self.opts.threshold_ns;
        for r in rows {
            self.last_seq = Some(self.last_seq.map_or(r.seq, |s| s.max(r.seq)));
            let mut event = r.event_ns;
            if r.zone_assumed {
                if let (Some(zone), Some(read_at)) =
                    (self.opts.zones.offset_for(&r.source), r.event_offset_secs)
                {
                    event += i64::from(read_at - zone) * NS;
                }
            }
            let skew = r.received_at_ns.saturating_sub(event);
            // Stamps with whole seconds only are truncated: up to 1 s early.
            let res = if r.event_ns.rem_euclid(NS) == 0 {
                NS
            } else {
                0
            };
            let off = skew < -thr || skew > thr + res;
            if !self.sources.contains_key(&r.source) && self.sources.len() >= self.opts.max_sources
            {
                self.dropped += 1;
                continue;
            }
            let w = self.sources.entry(r.source.clone()).or_default();
            w.points.push_back(Point {
                seq: r.seq,
                received_ns: r.received_at_ns,
                skew_ns: skew,
                off,
            });
            if r.zone_assumed {
                w.zone_assumed += 1;
            }
            if off {
                w.latest_off = Some(r.seq);
            }
            while w.points.len() > self.opts.max_per_source {
                w.points.pop_front();
            }
            Self::update_episode(w);
        }
        self.expire(now_ns);
    }

    fn update_episode(w: &mut SourceWindow) {
        let off = w.points.iter().filter(|p| p.off).count();
        if off * 2 > w.points.len() {
            if w.episode_first.is_none() {
                w.episode_first = w.points.iter().find(|p| p.off).map(|p| p.seq);
            }
        } else {
            w.episode_first = None;
        }
    }

    /// Drops points older than the window, and sources left empty.
    pub fn expire(&mut self, now_ns: i64) {
        let cutoff = now_ns.saturating_sub(self.opts.window_ns);
        self.sources.retain(|_, w| {
            while w.points.front().is_some_and(|p| p.received_ns < cutoff) {
                w.points.pop_front();
            }
            // The count of zone-less lines is approximate once lines leave; reset when empty.
            if w.points.is_empty() {
                return false;
            }
            Self::update_episode(w);
            true
        });
    }

    /// The distribution of every source, flagged ones first.
    pub fn report(&self) -> Vec<SourceSkew> {
        let ms = |ns: i64| ns as f64 / 1e6;
        let mut out: Vec<SourceSkew> = self
            .sources
            .iter()
            .map(|(name, w)| {
                let mut v: Vec<i64> = w.points.iter().map(|p| p.skew_ns).collect();
                v.sort_unstable();
                let n = v.len();
                let rank = |q: f64| v[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
                let off = w.points.iter().filter(|p| p.off).count();
                let flagged = off * 2 > n;
                SourceSkew {
                    source: name.clone(),
                    count: n,
                    min_ms: ms(v[0]),
                    median_ms: ms(rank(0.5)),
                    p95_ms: ms(rank(0.95)),
                    max_ms: ms(v[n - 1]),
                    off,
                    flagged,
                    first_seq: if flagged { w.episode_first } else { None },
                    latest_seq: w.latest_off,
                    zone_assumed: w.zone_assumed.min(n as u64),
                    zone: self.opts.zones.offset_for(name).map(format_offset),
                }
            })
            .collect();
        out.sort_by(|a, b| b.flagged.cmp(&a.flagged).then(a.source.cmp(&b.source)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const NOW: i64 = 1_772_526_731_000_000_000;

    fn opts() -> SkewOptions {
        SkewOptions {
            window_ns: 3600 * NS,
            threshold_ns: 100 * MS,
            max_per_source: 1000,
            max_sources: 100,
            zones: ZoneMap::default(),
        }
    }

    fn row(seq: u64, source: &str, skew_ns: i64) -> SkewRow {
        let received = NOW - 1000 * NS + seq as i64 * NS + 123_456;
        SkewRow {
            seq,
            received_at_ns: received,
            event_ns: received - skew_ns,
            event_offset_secs: Some(19_800),
            zone_assumed: false,
            source: source.into(),
        }
    }

    #[test]
    fn distribution_and_flags() {
        let mut t = SkewTracker::new(opts());
        let mut rows = Vec::new();
        for i in 0..100u64 {
            rows.push(row(i * 2, "good", (i as i64) * MS)); // 0..99 ms
            rows.push(row(i * 2 + 1, "fast", -5 * NS)); // 5 s ahead
        }
        t.add(&rows, NOW);
        let r = t.report();
        assert_eq!(r[0].source, "fast");
        assert!(r[0].flagged);
        assert_eq!(r[0].first_seq, Some(1));
        assert_eq!(r[0].latest_seq, Some(199));
        assert_eq!(r[0].median_ms, -5000.0);
        let g = &r[1];
        assert_eq!(g.source, "good");
        assert!(!g.flagged);
        assert_eq!(g.count, 100);
        assert_eq!(g.min_ms, 0.0);
        assert_eq!(g.median_ms, 49.0);
        assert_eq!(g.p95_ms, 94.0);
        assert_eq!(g.max_ms, 99.0);
        assert_eq!(g.off, 0);
        assert_eq!(t.last_seq, Some(199));
    }

    #[test]
    fn flag_clears_when_the_clock_is_fixed_and_window_expires() {
        let mut t = SkewTracker::new(opts());
        t.add(&[row(1, "h", 10 * NS), row(2, "h", 10 * NS)], NOW);
        assert!(t.report()[0].flagged);
        t.add(&[row(3, "h", 0), row(4, "h", MS), row(5, "h", MS)], NOW);
        let r = &t.report()[0];
        assert!(!r.flagged);
        assert_eq!(r.first_seq, None);
        assert_eq!(r.latest_seq, Some(2));
        // Everything leaves the window after an hour.
        t.expire(NOW + 3601 * NS);
        assert!(t.report().is_empty());
    }

    #[test]
    fn whole_second_stamps_get_a_second_of_slack() {
        let mut t = SkewTracker::new(opts());
        let mut r = row(1, "bsd", 0);
        r.received_at_ns = NOW - 10 * NS + 900 * MS;
        r.event_ns = NOW - 10 * NS; // truncated to the second: 900 ms "late"
        t.add(&[r], NOW);
        assert_eq!(t.report()[0].off, 0);
    }

    #[test]
    fn per_source_zone_rereads_zoneless_stamps() {
        let mut o = opts();
        o.zones = ZoneMap::parse("utc-box=UTC, fw-*=+04:00").unwrap();
        let mut t = SkewTracker::new(o);
        // The box writes UTC without a zone; ingest read it as IST, so the
        // stored event time is 5:30 early; re-read in UTC it is right.
        let mut r = row(1, "utc-box", 5 * 3600 * NS + 1800 * NS + 20 * MS);
        r.zone_assumed = true;
        let mut same = r.clone();
        same.seq = 2;
        same.source = "other".into();
        t.add(&[r, same], NOW);
        let rep = t.report();
        let other = rep.iter().find(|s| s.source == "other").unwrap();
        assert!(other.flagged, "unmapped source stays as read: 5.5 h off");
        let b = rep.iter().find(|s| s.source == "utc-box").unwrap();
        assert!(!b.flagged);
        assert!((b.median_ms - 20.0).abs() < 0.001, "{}", b.median_ms);
        assert_eq!(b.zone.as_deref(), Some("+00:00"));
        assert_eq!(b.zone_assumed, 1);
    }

    #[test]
    fn source_cap() {
        let mut o = opts();
        o.max_sources = 1;
        o.max_per_source = 2;
        let mut t = SkewTracker::new(o);
        t.add(
            &[
                row(1, "a", 0),
                row(2, "b", 0),
                row(3, "a", 0),
                row(4, "a", 0),
            ],
            NOW,
        );
        assert_eq!(t.dropped, 1);
        assert_eq!(t.report().len(), 1);
        assert_eq!(t.report()[0].count, 2);
    }
}
