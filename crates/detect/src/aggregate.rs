//! Aggregation rules: `selection | count() by src_ip > 5` with a
//! `timeframe`, and the sliding windows that decide when one fires.
//!
//! Semantics (what pramaan promises, since SigmaHQ leaves the streaming
//! meaning open): for each group (`by` field's value; one group without
//! `by`), a rule fires at the matching line at which the matches of the
//! last `timeframe` (receipt times in `(t - timeframe, t]`) first satisfy
//! the comparison; `count(field)` counts distinct values of the field. A
//! group that fired does not fire again until `timeframe` has passed since
//! its firing, so a burst makes one detection, not one per line. A line
//! without a value for `by` counts in no group. Only `>`
//! and `>=` can fire over a stream (a count below a bound is never final).
//!
//! The state is a function of the lines of the last `timeframe` and the
//! last firing per group, so a restart rebuilds it exactly by reading
//! those lines again ([`Windows::observe`] with `may_fire: false`) and the
//! firings recorded ([`Windows::fired_at`]).

use std::collections::{HashMap, VecDeque};

/// The part of a condition after `|`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregation {
    /// `count(field)`: distinct values of this field; `count()`: lines.
    pub distinct: Option<String>,
    /// `by field`: one window per value.
    pub by: Option<String>,
    /// `>=` when true, else `>`.
    pub inclusive: bool,
    pub bound: u64,
}

impl Aggregation {
    /// Parses `count() by src_ip > 5` (the text after the `|`).
    pub fn parse(text: &str) -> Result<Aggregation, String> {
        let t = text.trim();
        let rest = t.strip_prefix("count").ok_or_else(|| {
            let f = t.split(['(', ' ']).next().unwrap_or(t);
            if matches!(f, "min" | "max" | "avg" | "sum") {
                format!("the aggregation `{f}()` is not supported: only count() is")
            } else if f == "near" {
                "`near` (temporal correlation) is not supported".to_owned()
            } else {
                format!("`| {t}` is not an aggregation this engine runs (only `count()`)")
            }
        })?;
        let rest = rest.trim_start();
        let inner_end = rest
            .strip_prefix('(')
            .and_then(|r| r.find(')'))
            .ok_or_else(|| format!("`| {t}`: count needs parentheses, as in `count()`"))?;
        let inner = rest[1..=inner_end].trim();
        let mut words = rest[inner_end + 2..].split_whitespace();
        let mut by = None;
        let mut op = words.next();
        if op == Some("by") {
            by = Some(
                words
                    .next()
                    .ok_or_else(|| format!("`| {t}`: `by` names no field"))?
                    .to_owned(),
            );
            op = words.next();
        }
        let op = op.ok_or_else(|| format!("`| {t}`: no comparison (`> N`)"))?;
        let inclusive = match op {
            ">" => false,
            ">=" => true,
            "<" | "<=" | "=" | "==" => {
                return Err(format!(
                    "`| {t}`: `{op}` cannot fire over a stream of lines (a count below a bound is never final); use `>` or `>=`"
                ))
            }
            other => return Err(format!("`| {t}`: `{other}` is not a comparison")),
        };
        let bound = words
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("`| {t}`: the bound must be a whole number"))?;
        if let Some(extra) = words.next() {
            return Err(format!("`| {t}`: unexpected `{extra}`"));
        }
        Ok(Aggregation {
            distinct: (!inner.is_empty()).then(|| inner.to_owned()),
            by,
            inclusive,
            bound,
        })
    }

    /// How many the window must hold to fire.
    pub fn needed(&self) -> usize {
        let n = if self.inclusive {
            self.bound
        } else {
            self.bound + 1
        };
        usize::try_from(n.max(1)).unwrap_or(usize::MAX)
    }
}

/// `timeframe` (`30s`, `5m`, `1h`, `2d`) in nanoseconds.
pub fn parse_timeframe(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("timeframe `{s}` is not a number with a unit (30s, 5m, 1h, 2d)"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
            "timeframe `{s}`: the unit must be s, m, h or d (months and years are not supported)"
        ))
        }
    };
    if n <= 0 {
        return Err(format!("timeframe `{s}` must be longer than zero"));
    }
    n.checked_mul(secs)
        .and_then(|x| x.checked_mul(1_000_000_000))
        .ok_or_else(|| format!("timeframe `{s}` is too long"))
}

/// A line that counts towards a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub seq: u64,
    pub received_ns: i64,
}

/// One group's recent matches: at most `needed` (the latest; for
/// distinct counts, the latest line of each of the latest values).
#[derive(Debug, Default)]
struct Group {
    /// Oldest first. For distinct counts, one entry per value.
    recent: VecDeque<(Option<String>, Seen)>,
    fired_at: Option<i64>,
}

/// Sliding windows of one aggregation rule.
#[derive(Debug)]
pub struct Windows {
    agg: Aggregation,
    timeframe_ns: i64,
    groups: HashMap<String, Group>,
    /// Most groups kept; the least recently seen go first.
    max_groups: usize,
}

/// What a firing covers: the group and the lines in its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firing {
    pub group: String,
    pub lines: Vec<Seen>,
}

impl Windows {
    pub fn new(agg: Aggregation, timeframe_ns: i64, max_groups: usize) -> Windows {
        Windows {
            agg,
            timeframe_ns,
            groups: HashMap::new(),
            max_groups: max_groups.max(1),
        }
    }

    pub fn aggregation(&self) -> &Aggregation {
        &self.agg
    }

    pub fn timeframe_ns(&self) -> i64 {
        self.timeframe_ns
    }

    /// Groups held now.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Restores a firing recorded before a restart.
    pub fn fired_at(&mut self, group: &str, at_ns: i64) {
        let g = self.groups.entry(group.to_owned()).or_default();
        g.fired_at = Some(g.fired_at.map_or(at_ns, |f| f.max(at_ns)));
    }

    /// A matching line of `group` (with the counted field's `value` for
    /// distinct counts). Returns the firing it causes, if `may_fire`.
    pub fn observe(
        &mut self,
        group: &str,
        value: Option<&str>,
        seen: Seen,
        may_fire: bool,
    ) -> Option<Firing> {
        if self.agg.distinct.is_some() && value.is_none() {
            // count(field) counts values: a line without one adds none.
            return None;
        }
        if !self.groups.contains_key(group) && self.groups.len() >= self.max_groups {
            self.evict(seen.received_ns);
        }
        let needed = self.agg.needed();
        let tf = self.timeframe_ns;
        let now = seen.received_ns;
        let g = self.groups.entry(group.to_owned()).or_default();
        if value.is_some() {
            g.recent.retain(|(v, _)| v.as_deref() != value);
        }
        g.recent.push_back((value.map(str::to_owned), seen));
        while g.recent.len() > needed {
            g.recent.pop_front();
        }
        let start = now.saturating_sub(tf);
        let in_window = g
            .recent
            .iter()
            .filter(|(_, s)| s.received_ns > start)
            .count();
        let quiet = g.fired_at.is_none_or(|f| f <= start);
        if in_window >= needed && quiet && may_fire {
            g.fired_at = Some(now);
            let mut lines: Vec<Seen> = g.recent.iter().map(|(_, s)| s.clone()).collect();
            lines.sort_by_key(|s| s.seq);
            return Some(Firing {
                group: group.to_owned(),
                lines,
            });
        }
        None
    }

    /// Drops the groups with nothing in their window at `now_ns` (and
    /// no firing that still silences them); when none is idle, the one
    /// seen least recently.
    fn evict(&mut self, now_ns: i64) {
        let start = now_ns.saturating_sub(self.timeframe_ns);
        self.groups.retain(|_, g| {
            g.recent.back().is_some_and(|(_, s)| s.received_ns > start)
                || g.fired_at.is_some_and(|f| f > start)
        });
        if self.groups.len() >= self.max_groups {
            let oldest = self
                .groups
                .iter()
                .min_by_key(|(_, g)| g.recent.back().map_or(i64::MIN, |(_, s)| s.received_ns))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.groups.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    fn seen(seq: u64, secs: i64) -> Seen {
        Seen {
            seq,
            received_ns: secs * S,
        }
    }

    #[test]
    fn parses_counts_and_refuses_what_cannot_fire() {
        assert_eq!(
            Aggregation::parse("count() by src_ip > 5").unwrap(),
            Aggregation {
                distinct: None,
                by: Some("src_ip".into()),
                inclusive: false,
                bound: 5
            }
        );
        let a = Aggregation::parse(" count(TargetUserName) by IpAddress >= 10").unwrap();
        assert_eq!(a.distinct.as_deref(), Some("TargetUserName"));
        assert!(a.inclusive);
        assert_eq!(a.needed(), 10);
        assert_eq!(Aggregation::parse("count() > 0").unwrap().needed(), 1);
        for (bad, says) in [
            ("count() < 5", "cannot fire"),
            ("max(bytes) > 5", "only count()"),
            ("count() by > 5", "not a comparison"),
            ("count() by x > many", "whole number"),
            ("near b", "near"),
            ("count > 5", "parentheses"),
        ] {
            let e = Aggregation::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!(parse_timeframe("5m").unwrap(), 300 * S);
        assert_eq!(parse_timeframe("2d").unwrap(), 172_800 * S);
        assert!(parse_timeframe("1M").unwrap_err().contains("unit"));
        assert!(parse_timeframe("0s").is_err());
    }

    #[test]
    fn fires_once_per_burst_and_again_after_the_timeframe() {
        let agg = Aggregation::parse("count() by ip > 2").unwrap();
        let mut w = Windows::new(agg, 60 * S, 100);
        assert!(w.observe("a", None, seen(1, 0), true).is_none());
        assert!(w.observe("b", None, seen(2, 1), true).is_none());
        assert!(w.observe("a", None, seen(3, 2), true).is_none());
        let f = w.observe("a", None, seen(4, 3), true).unwrap();
        assert_eq!(f.group, "a");
        assert_eq!(f.lines.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 3, 4]);
        // the burst goes on: no second firing within the timeframe
        for i in 0..10 {
            assert!(w
                .observe("a", None, seen(10 + i, 4 + i as i64), true)
                .is_none());
        }
        // across the boundary: 60 s after the firing, fires again
        assert!(w.observe("a", None, seen(30, 63), true).is_some());
        // a window that slid past its old lines does not fire
        let mut w = Windows::new(Aggregation::parse("count() > 2").unwrap(), 60 * S, 100);
        w.observe("", None, seen(1, 0), true);
        w.observe("", None, seen(2, 30), true);
        assert!(
            w.observe("", None, seen(3, 60), true).is_none(),
            "line 1 left the window"
        );
        assert!(w.observe("", None, seen(4, 61), true).is_some());
    }

    #[test]
    fn distinct_counts_values_not_lines() {
        let agg = Aggregation::parse("count(user) by ip > 2").unwrap();
        let mut w = Windows::new(agg, 60 * S, 100);
        for (i, u) in ["root", "root", "admin", "admin", "root"]
            .iter()
            .enumerate()
        {
            assert!(w
                .observe("x", Some(u), seen(i as u64, i as i64), true)
                .is_none());
        }
        assert!(
            w.observe("x", None, seen(9, 9), true).is_none(),
            "no value, no count"
        );
        assert!(w.observe("x", Some("guest"), seen(10, 10), true).is_some());
    }

    #[test]
    fn groups_are_bounded() {
        let agg = Aggregation::parse("count() by ip > 5").unwrap();
        let mut w = Windows::new(agg, 60 * S, 10);
        for i in 0..10_000u64 {
            w.observe(&format!("g{i}"), None, seen(i, i as i64 / 100), true);
            assert!(w.groups() <= 10);
        }
    }

    /// Brute force: at each line, the matches of its group within the
    /// timeframe (distinct values when counted), and the last firing.
    fn brute(events: &[(u8, u8, i64)], needed: usize, distinct: bool, tf: i64) -> Vec<usize> {
        let mut fired: HashMap<u8, i64> = HashMap::new();
        let mut out = Vec::new();
        for (i, &(g, _, t)) in events.iter().enumerate() {
            let mut vals: Vec<u8> = events[..=i]
                .iter()
                .filter(|(g2, _, t2)| *g2 == g && *t2 > t - tf)
                .map(|(_, v2, _)| if distinct { *v2 } else { 0 })
                .collect();
            let n = if distinct {
                vals.sort();
                vals.dedup();
                vals.len()
            } else {
                vals.len()
            };
            let quiet = fired.get(&g).is_none_or(|f| *f <= t - tf);
            if n >= needed && quiet {
                fired.insert(g, t);
                out.push(i);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn windows_match_brute_force(
            steps in proptest::collection::vec((0u8..3, 0u8..4, 0i64..20), 1..120),
            bound in 0u64..5,
            distinct in any::<bool>(),
        ) {
            let mut t = 0;
            let events: Vec<(u8, u8, i64)> = steps.into_iter().map(|(g, v, dt)| { t += dt; (g, v, t) }).collect();
            let text = if distinct { format!("count(v) by g > {bound}") } else { format!("count() by g > {bound}") };
            let agg = Aggregation::parse(&text).unwrap();
            let needed = agg.needed();
            let mut w = Windows::new(agg, 30 * S, 1000);
            let mut got = Vec::new();
            for (i, &(g, v, t)) in events.iter().enumerate() {
                let value = v.to_string();
                if w.observe(&g.to_string(), distinct.then_some(value.as_str()), seen(i as u64, t), true).is_some() {
                    got.push(i);
                }
            }
            prop_assert_eq!(got, brute(&events, needed, distinct, 30));
        }

        /// A restart that re-reads the last timeframe's lines without
        /// firing and restores the firings decides the same afterwards.
        #[test]
        fn rebuilt_state_decides_the_same(
            steps in proptest::collection::vec((0u8..3, 0i64..15), 2..100),
            cut in 1usize..99,
            bound in 0u64..4,
        ) {
            let mut t = 0;
            let events: Vec<(u8, i64)> = steps.into_iter().map(|(g, dt)| { t += dt; (g, t) }).collect();
            let cut = cut.min(events.len() - 1);
            let tf = 30 * S;
            let agg = Aggregation::parse(&format!("count() by g > {bound}")).unwrap();
            let mut whole = Windows::new(agg.clone(), tf, 1000);
            let mut fired_before: Vec<(String, i64)> = Vec::new();
            let mut after_whole = Vec::new();
            for (i, &(g, t)) in events.iter().enumerate() {
                if let Some(f) = whole.observe(&g.to_string(), None, seen(i as u64, t), true) {
                    if i < cut { fired_before.push((f.group, t * S)); } else { after_whole.push(i); }
                }
            }
            // restart: the lines of the last timeframe before the cut, replayed
            let last = events[cut - 1].1 * S;
            let mut again = Windows::new(agg, tf, 1000);
            for (g, at) in &fired_before { again.fired_at(g, *at); }
            for (i, &(g, t)) in events[..cut].iter().enumerate() {
                if t * S > last - tf {
                    again.observe(&g.to_string(), None, seen(i as u64, t), false);
                }
            }
            let mut after_again = Vec::new();
            for (i, &(g, t)) in events.iter().enumerate().skip(cut) {
                if again.observe(&g.to_string(), None, seen(i as u64, t), true).is_some() {
                    after_again.push(i);
                }
            }
            prop_assert_eq!(after_whole, after_again);
        }
    }
}
