//! The detector `serve` runs: every new log line, in sequence order, through
//! every rule of `detect.rules_dir` that loads; what they find is recorded
//! with the incident desk (`Desk::record_detections`), which opens or adds
//! to incidents in the same transaction as the detector's progress.
//!
//! * Exactly once across restarts: the progress (the last sequence number
//!   read) is stored with the detections, so a batch is recorded whole or
//!   not at all, and a repeated batch changes nothing.
//! * Aggregation rules (`| count() by F > N`, `timeframe`) keep sliding
//!   windows in memory ([`pramaan_detect::aggregate`]); at start they are
//!   rebuilt by reading again the lines of the last timeframe before the
//!   progress (without firing) and restoring the firings recorded, so a
//!   restart in the middle of a window neither misses nor repeats one.
//! * Bounded memory whatever a rule matches: a batch holds at most
//!   [`BATCH`] lines; a detection keeps its matched sequence numbers as
//!   runs and at most `detect.excerpt_lines` lines.
//! * The rules' first run begins with the lines received since `serve`
//!   opened the vault: history is what `pramaan detect test` (a back-test)
//!   is for, and an incident opened for a months-old line would be born
//!   overdue.

use crate::detect::{load_dir, Line};
use pramaan_config::Config;
use pramaan_desk::detections::{runs, Batch, Found, Limits};
use pramaan_desk::{Desk, ExcerptLine};
use pramaan_detect::aggregate::{Seen, Windows};
use pramaan_detect::{Level, Rule};
use pramaan_vault::search::{self, Hit, Order, Query};
use pramaan_vault::Vault;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Lines read at a time.
pub const BATCH: usize = 5000;

/// A rule the detector runs.
pub struct Armed {
    pub rule: Rule,
    /// The rule's `id`, else its file's name.
    pub key: String,
    /// The incident kind (checked), or `None`: detections only recorded.
    pub kind: Option<String>,
    windows: Option<Windows>,
}

/// The rules of `dir` that can run; each refused one is logged with why.
pub fn arm(dir: &std::path::Path, max_groups: usize) -> Result<Vec<Armed>, String> {
    let mut out = Vec::new();
    for (path, loaded) in load_dir(dir)? {
        let rule = match loaded {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(rule = %path.display(), error = %e, "rule refused: it does not run");
                continue;
            }
        };
        let kind = match rule.kind() {
            None => None,
            Some(k) => match pramaan_desk::store::check_kinds(&[k.to_owned()]) {
                Ok(mut v) => v.pop(),
                Err(e) => {
                    tracing::error!(rule = %path.display(), error = %e, "rule refused: its pramaan.kind tag names no incident kind");
                    continue;
                }
            },
        };
        let key = rule.id.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let windows = rule
            .aggregation
            .as_ref()
            .map(|(a, tf)| Windows::new(a.clone(), *tf, max_groups));
        out.push(Armed {
            rule,
            key,
            kind,
            windows,
        });
    }
    Ok(out)
}

/// What the detector needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub interval: Duration,
    pub incident_window: Duration,
    pub excerpt_lines: usize,
}

impl Settings {
    pub fn of(cfg: &Config) -> Settings {
        Settings {
            interval: cfg.detect.interval,
            incident_window: cfg.detect.incident_window,
            excerpt_lines: cfg.detect.excerpt_lines,
        }
    }
}

/// Runs until `stop`: rules from `cfg.detect.rules_dir` (nothing to do
/// without one), detections into `desk`; `start` is where a first run
/// begins (see [`Detector::start`]).
pub async fn run(
    cfg: Arc<Config>,
    vault: Vault,
    start: u64,
    desk: Arc<Desk>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(dir) = cfg.detect.rules_dir.clone() else {
        return;
    };
    let settings = Settings::of(&cfg);
    loop {
        let mut rules = match arm(&dir, cfg.detect.max_groups) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "detect.rules_dir cannot be read: no rule runs");
                return;
            }
        };
        tracing::info!(
            rules = rules.len(),
            dir = %dir.display(),
            "detector: rules armed"
        );
        if rules.is_empty() {
            return;
        }
        let mut d = Detector {
            start,
            vault: vault.clone(),
            desk: desk.clone(),
            settings: settings.clone(),
            rules: std::mem::take(&mut rules),
        };
        match d.watch(&mut stop).await {
            Ok(()) => return,
            Err(e) => {
                // The windows may hold a batch that was not recorded: start
                // again from the stored progress.
                tracing::warn!(error = %e, "detector: batch not recorded; resuming from the stored progress");
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(settings.interval) => {}
                }
            }
        }
    }
}

/// The rules with their windows, over one vault and desk.
pub struct Detector {
    /// Where the rules' first run starts: the records the vault held when
    /// `serve` opened it, before any listener took a line.
    pub start: u64,
    pub vault: Vault,
    pub desk: Arc<Desk>,
    pub settings: Settings,
    pub rules: Vec<Armed>,
}

impl Detector {
    /// Resumes from the stored progress, then judges new lines until `stop`.
    pub async fn watch(
        &mut self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), String> {
        let (mut next, mut last_received) = self.resume().await?;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let (n, through) = self.step(next, &mut last_received).await?;
            if let Some(t) = through {
                next = t + 1;
            }
            if n < BATCH {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                    _ = tokio::time::sleep(self.settings.interval) => {}
                }
            }
        }
    }

    /// Where to start, with the aggregation windows rebuilt. Without a
    /// stored progress (the rules' first run) it is `self.start`, the lines
    /// received since this `serve` opened the vault, and that is stored at
    /// once, so that a crash before the first batch skips nothing.
    pub async fn resume(&mut self) -> Result<(u64, i64), String> {
        let Some((next, at)) = self.desk.detect_progress().map_err(|e| e.to_string())? else {
            let first = Batch {
                next_seq: self.start,
                received_ns: 0,
                found: Vec::new(),
            };
            self.desk
                .record_detections(first, self.limits(), pramaan_core::time::now_ns())
                .await
                .map_err(|e| e.to_string())?;
            return Ok((self.start, 0));
        };
        if next == 0 {
            return Ok((0, at));
        }
        let through = next - 1;
        let longest = self
            .rules
            .iter()
            .filter_map(|r| r.windows.as_ref().map(Windows::timeframe_ns))
            .max();
        if let Some(tf) = longest {
            let since = at.saturating_sub(tf);
            for d in self
                .desk
                .detections_since(since)
                .map_err(|e| e.to_string())?
            {
                if let Some(w) = self
                    .rules
                    .iter_mut()
                    .find(|r| r.key == d.rule_key)
                    .and_then(|r| r.windows.as_mut())
                {
                    w.fired_at(&d.group, d.last_received_ns);
                }
            }
            let q = Query {
                from_ns: Some(since),
                seq_to: Some(through),
                limit: usize::MAX,
                order: Order::Oldest,
                ..Query::default()
            };
            let opts = self.vault.options().clone();
            let rules = &mut self.rules;
            read(&self.vault, q, |hits| {
                for hit in hits {
                    let line = Line::of(&hit, &opts);
                    let e = line.event();
                    for r in rules.iter_mut() {
                        if let Some(w) = r.windows.as_mut() {
                            if let (true, Some((g, v))) = (r.rule.matches(&e), r.rule.group_of(&e))
                            {
                                let seen = Seen {
                                    seq: hit.seq,
                                    received_ns: line.received_ns,
                                };
                                w.observe(&group_label(&r.rule, &g), v.as_deref(), seen, false);
                            }
                        }
                    }
                }
            })
            .await?;
        }
        Ok((next, at))
    }

    fn limits(&self) -> Limits {
        Limits {
            window_ns: i64::try_from(self.settings.incident_window.as_nanos()).unwrap_or(i64::MAX),
            excerpt_max: self.settings.excerpt_lines,
        }
    }

    /// Reads the lines from `next` on (at most [`BATCH`]), judges them and
    /// records the batch. Returns the lines read and the last sequence
    /// number covered (`None` when there was nothing new).
    pub async fn step(
        &mut self,
        next: u64,
        last_received: &mut i64,
    ) -> Result<(usize, Option<u64>), String> {
        let committed = self.vault.committed();
        if next >= committed {
            return Ok((0, None));
        }
        let upto = committed - 1;
        let q = Query {
            seq_from: Some(next),
            seq_to: Some(upto),
            limit: BATCH,
            order: Order::Oldest,
            ..Query::default()
        };
        let mut hits = Vec::new();
        read(&self.vault, q, |b| hits.extend(b)).await?;
        let n = hits.len();
        // Fewer lines than asked for: every log line through `upto` was read.
        let through = if n < BATCH {
            upto
        } else {
            hits.iter().map(|h| h.seq).max().unwrap_or(upto)
        };
        let found = self.judge(&hits, last_received).await?;
        metrics::counter!("pramaan_detect_lines_total").increment(n as u64);
        let now = pramaan_core::time::now_ns();
        if *last_received > 0 {
            metrics::gauge!("pramaan_detect_lag_seconds")
                .set((now - *last_received).max(0) as f64 / 1e9);
        }
        let batch = Batch {
            next_seq: through + 1,
            received_ns: *last_received,
            found,
        };
        let rec = self
            .desk
            .record_detections(batch, self.limits(), now)
            .await
            .map_err(|e| e.to_string())?;
        if rec.detections > 0 {
            metrics::counter!("pramaan_detections_total").increment(rec.detections as u64);
            tracing::info!(
                detections = rec.detections,
                opened = ?rec.opened,
                added_to = ?rec.added_to,
                "detector: recorded"
            );
        }
        Ok((n, Some(through)))
    }

    /// Runs every rule over the batch's lines: one detection per plain rule
    /// that matched, one per aggregation firing.
    async fn judge(&mut self, hits: &[Hit], last_received: &mut i64) -> Result<Vec<Found>, String> {
        let opts = self.vault.options().clone();
        let max_lines = self.settings.excerpt_lines;
        // Which rules each line matches: the rules are pure and each line
        // independent, so the lines are judged on every core; the windows
        // then see the matches in sequence order.
        let rules: Vec<&Rule> = self.rules.iter().map(|r| &r.rule).collect();
        let judged = in_place(|| judge_lines(&rules, hits, &opts));
        // Per plain rule: its matches in this batch.
        let mut plain: HashMap<usize, Acc> = HashMap::new();
        let mut firings: Vec<(usize, String, Vec<Seen>)> = Vec::new();
        for (hit, (received_ns, matched)) in hits.iter().zip(judged) {
            *last_received = (*last_received).max(received_ns);
            for (i, group) in matched {
                let seen = Seen {
                    seq: hit.seq,
                    received_ns,
                };
                let r = &mut self.rules[i];
                match (r.windows.as_mut(), group) {
                    (None, _) => plain.entry(i).or_default().add(hit, &seen, max_lines)?,
                    (Some(w), Some((label, v))) => {
                        if let Some(f) = w.observe(&label, v.as_deref(), seen, true) {
                            firings.push((i, f.group, f.lines));
                        }
                    }
                    // An aggregation's line without a value for `by`.
                    (Some(_), None) => {}
                }
            }
        }
        let mut found = Vec::new();
        let mut order: Vec<usize> = plain.keys().copied().collect();
        order.sort_unstable();
        for i in order {
            let acc = plain.remove(&i).expect("key");
            found.push(self.found(i, String::new(), acc));
        }
        for (i, group, lines) in firings {
            let mut acc = Acc::default();
            let in_batch: HashMap<u64, &Hit> = hits.iter().map(|h| (h.seq, h)).collect();
            for s in &lines {
                match in_batch.get(&s.seq) {
                    Some(h) => acc.add(h, s, max_lines)?,
                    None => match fetch(&self.vault, s.seq).await? {
                        Some(h) => acc.add(&h, s, max_lines)?,
                        // gone (retention): still counted, not shown
                        None => acc.count(s),
                    },
                }
            }
            found.push(self.found(i, group, acc));
        }
        Ok(found)
    }

    fn found(&self, i: usize, group: String, acc: Acc) -> Found {
        let r = &self.rules[i];
        Found {
            rule_key: r.key.clone(),
            rule_title: r.rule.title.clone(),
            level: r.rule.level.to_string(),
            description: r.rule.description.clone().unwrap_or_default(),
            kind: r.kind.clone(),
            record_only: r.rule.level == Level::Informational,
            group,
            runs: runs(acc.seqs),
            matches: acc.matches,
            first_received_ns: acc.first,
            last_received_ns: acc.last,
            lines: acc.lines,
        }
    }
}

/// A line's receipt and the rules it matches (index, and for an
/// aggregation rule its group label and counted value).
type Judged = (i64, Vec<(usize, Option<(String, Option<String>)>)>);

/// Runs every rule over every line, the lines split across the cores.
fn judge_lines(rules: &[&Rule], hits: &[Hit], opts: &pramaan_vault::VaultOptions) -> Vec<Judged> {
    let one = |hit: &Hit| -> Judged {
        let line = Line::of(hit, opts);
        let e = line.event();
        let matched = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(&e))
            .map(|(i, r)| {
                let g = r.group_of(&e).map(|(g, v)| (group_label(r, &g), v));
                (i, g)
            })
            .collect();
        (line.received_ns, matched)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || hits.len() < 64 {
        return hits.iter().map(one).collect();
    }
    let chunk = hits.len().div_ceil(cores);
    std::thread::scope(|s| {
        let parts: Vec<_> = hits
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("judging lines does not panic"))
            .collect()
    })
}

/// Runs CPU-bound `f` without holding up the other tasks of a
/// multi-threaded runtime.
fn in_place<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// One rule's matches in a batch (sequence numbers ascending).
#[derive(Default)]
struct Acc {
    seqs: Vec<u64>,
    matches: u64,
    first: i64,
    last: i64,
    lines: Vec<ExcerptLine>,
}

impl Acc {
    fn count(&mut self, s: &Seen) {
        if self.matches == 0 {
            self.first = s.received_ns;
        }
        self.first = self.first.min(s.received_ns);
        self.last = self.last.max(s.received_ns);
        self.matches += 1;
        self.seqs.push(s.seq);
    }

    fn add(&mut self, hit: &Hit, s: &Seen, max_lines: usize) -> Result<(), String> {
        self.count(s);
        if self.lines.len() < max_lines {
            let json = serde_json::to_vec(hit).map_err(|e| e.to_string())?;
            self.lines.push(ExcerptLine { seq: hit.seq, json });
        }
        Ok(())
    }
}

/// `src_ip=203.0.113.7`: an aggregation group as incidents show it.
pub(crate) fn group_label(rule: &Rule, value: &str) -> String {
    match rule.aggregation.as_ref().and_then(|(a, _)| a.by.as_deref()) {
        Some(by) => format!("{by}={value}"),
        None => String::new(),
    }
}

/// Runs a search, handing each batch of hits to `each`.
async fn read(vault: &Vault, q: Query, mut each: impl FnMut(Vec<Hit>)) -> Result<(), String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let v = vault.clone();
    let task = tokio::spawn(async move { search::search(&v, &q, tx).await });
    while let Some(b) = rx.recv().await {
        each(search::hits(&b));
    }
    task.await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// One stored line by its sequence number.
async fn fetch(vault: &Vault, seq: u64) -> Result<Option<Hit>, String> {
    let q = Query {
        seq_from: Some(seq),
        seq_to: Some(seq),
        limit: 1,
        ..Query::default()
    };
    let mut out = None;
    read(vault, q, |hits| {
        if out.is_none() {
            out = hits.into_iter().next();
        }
    })
    .await?;
    Ok(out)
}
