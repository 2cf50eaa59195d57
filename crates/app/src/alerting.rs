//! Compliance alerts `serve` raises: every `alerts.interval` it gathers the
//! facts (the sources' last lines, the clock monitor, the storage, the
//! ledger's checkpoint, retention), turns them into the conditions true now
//! ([`conditions`], pure), hands those to the desk (`Desk::sync_alerts`:
//! firing, resolved, each a ledger record) and sends what is due
//! (`pramaan_desk::alerts::notify`).
//!
//! A source is the host a line names, else the sender's address without
//! its port ([`SOURCE_SQL`]): a sender's every connection is one source.

use crate::App;
use pramaan_desk::alerts::{self, Channels, Condition};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A record's source in SQL over `logs`: the host it names, else the
/// sender's address with its port (`:5514`, `]:5514`) cut off.
pub const SOURCE_SQL: &str = r"COALESCE(host, regexp_replace(peer, ':[0-9]+$', ''))";

/// What the checks read.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub now_ns: i64,
    /// Each source seen in the look-back window, with its last line's receipt.
    pub sources: Vec<(String, i64)>,
    /// Why the sources could not be read.
    pub sources_error: Option<String>,
    pub clock_enabled: bool,
    /// `Some(false)`: out of threshold; `None`: no usable sample.
    pub clock_within: Option<bool>,
    pub clock_servers_failing: Vec<(String, String)>,
    pub clock_threshold_ms: f64,
    pub storage_full: Option<String>,
    /// Free space on the data directory's disk, as a fraction.
    pub disk_free: Option<f64>,
    pub store_errors: u64,
    /// Records appended, and those the latest signed checkpoint covers.
    pub committed: u64,
    pub checkpoint_size: Option<u64>,
    /// Since when the checkpoint has not grown while records wait for it
    /// (kept by the caller across rounds; `None`: it is keeping up).
    pub checkpoint_stalled_since: Option<i64>,
    pub retention_compliant: bool,
    pub retention_error: Option<String>,
}

/// Thresholds (`alerts.*`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub silence_after_ns: i64,
    /// Per source (exact name or glob): its own silence limit.
    pub silence_per_source: Vec<(String, i64)>,
    pub disk_free_min: f64,
    /// How long the checkpoint may stall while records wait.
    pub checkpoint_stall_ns: i64,
}

fn cond(
    key: String,
    alertname: &str,
    labels: &[(&str, &str)],
    summary: String,
    since: i64,
) -> Condition {
    Condition {
        key,
        alertname: alertname.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        summary,
        since_ns: since,
    }
}

/// The conditions true given the facts (pure).
pub fn conditions(f: &Facts, l: &Limits) -> Vec<Condition> {
    let mut out = Vec::new();
    let now = f.now_ns;
    for (src, last) in &f.sources {
        let limit = l
            .silence_per_source
            .iter()
            .find(|(p, _)| pramaan_core::zones::glob_match(p, src))
            .map_or(l.silence_after_ns, |(_, d)| *d);
        if now - last > limit {
            out.push(cond(
                format!("source_silent/{src}"),
                "PramaanSourceSilent",
                &[("source", src)],
                format!(
                    "The source {src} has sent no line since {} ({} silent, more than {} allowed): its logs are missing from the 180 days.",
                    pramaan_core::time::human(*last),
                    span(now - last),
                    span(limit)
                ),
                last.saturating_add(limit),
            ));
        }
    }
    if let Some(e) = &f.sources_error {
        out.push(cond(
            "sources_unreadable".into(),
            "PramaanSourcesUnreadable",
            &[],
            format!("The sources' last lines cannot be read, so silence is not checked: {e}"),
            now,
        ));
    }
    if f.clock_enabled {
        if f.clock_within == Some(false) {
            out.push(cond(
                "clock_offset".into(),
                "PramaanClockOutOfThreshold",
                &[],
                format!(
                    "The system clock is off NIC/NPL time by more than {:.0} ms.",
                    f.clock_threshold_ms
                ),
                now,
            ));
        }
        if f.clock_within.is_none() && !f.clock_servers_failing.is_empty() {
            let names: Vec<String> = f
                .clock_servers_failing
                .iter()
                .map(|(s, st)| format!("{s} ({st})"))
                .collect();
            out.push(cond(
                "clock_unreachable".into(),
                "PramaanClockUnreachable",
                &[],
                format!("No NTP server answered usably: {}.", names.join(", ")),
                now,
            ));
        }
    }
    if let Some(r) = &f.storage_full {
        out.push(cond(
            "storage_full".into(),
            "PramaanStorageFull",
            &[],
            format!("Storage is full: {r}."),
            now,
        ));
    }
    if let Some(free) = f.disk_free.filter(|x| *x < l.disk_free_min) {
        out.push(cond(
            "disk_filling".into(),
            "PramaanDiskFilling",
            &[],
            format!(
                "The data directory's disk has {:.1}% free, under the {:.0}% set (alerts.disk_free_min).",
                free * 100.0,
                l.disk_free_min * 100.0
            ),
            now,
        ));
    }
    if f.store_errors > 0 {
        out.push(cond(
            "store_errors".into(),
            "PramaanStoreErrors",
            &[],
            format!("The vault has reported {} write or sealing error(s) since it started: lines may not be stored.", f.store_errors),
            now,
        ));
    }
    if let Some(since) = f
        .checkpoint_stalled_since
        .filter(|t| now - t > l.checkpoint_stall_ns)
    {
        out.push(cond(
            "checkpoint_stalled".into(),
            "PramaanCheckpointStalled",
            &[],
            format!(
                "No checkpoint signed for {}: the latest covers {} of {} records, so the newer ones are not yet provably unaltered.",
                span(now - since),
                f.checkpoint_size.unwrap_or(0),
                f.committed
            ),
            since,
        ));
    }
    if !f.retention_compliant {
        out.push(cond(
            "retention".into(),
            "PramaanRetentionNonCompliant",
            &[],
            "Logs are kept less than the 180 days the directions require (retention.*).".into(),
            now,
        ));
    }
    if let Some(e) = &f.retention_error {
        out.push(cond(
            "retention_failing".into(),
            "PramaanRetentionFailing",
            &[],
            format!("The latest retention run failed: {e}"),
            now,
        ));
    }
    out
}

/// Reads the facts from the running components.
pub async fn facts(app: &App, lookback_ns: i64, now_ns: i64) -> Facts {
    let vault = app.vault();
    let mut f = Facts {
        now_ns,
        committed: vault.committed(),
        ..Facts::default()
    };
    let q = format!(
        "SELECT {SOURCE_SQL} AS source, MAX(CAST(received_at AS BIGINT)) AS last FROM logs \
         WHERE transport <> 'internal' AND CAST(received_at AS BIGINT) >= {} GROUP BY 1",
        now_ns - lookback_ns
    );
    match pramaan_vault::sql::run(vault, &q)
        .await
        .and_then(|b| pramaan_vault::sql::to_ndjson(&b))
    {
        Ok(nd) => {
            for line in nd.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
                    if let (Some(s), Some(t)) = (v["source"].as_str(), v["last"].as_i64()) {
                        f.sources.push((s.to_owned(), t));
                    }
                }
            }
        }
        Err(e) => f.sources_error = Some(e.to_string()),
    }
    let clock = app.clock().status();
    f.clock_enabled = clock.enabled;
    f.clock_within = clock.within_threshold;
    f.clock_threshold_ms = clock.threshold_ms;
    f.clock_servers_failing = clock
        .servers
        .iter()
        .filter(|s| s.state != "ok")
        .map(|s| (s.server.clone(), s.state.clone()))
        .collect();
    f.storage_full = vault.storage().storage_full_reason;
    f.disk_free = disk_free(&app.config().data_dir);
    let stats = vault.stats();
    f.store_errors = stats.wal_errors.load(std::sync::atomic::Ordering::Relaxed)
        + stats.seal_errors.load(std::sync::atomic::Ordering::Relaxed);
    f.checkpoint_size = pramaan_vault::ledger::proofs::checkpoint(vault)
        .ok()
        .map(|p| p.size);
    let policy = app.retention().policy();
    f.retention_compliant = policy.compliant();
    if let Ok(s) = pramaan_vault::retention::RetentionStatus::read(&*vault.catalog(), policy) {
        f.retention_error = s.last_run.and_then(|r| r.error);
    }
    f
}

/// Whether the checkpoint keeps up: since when its size has not changed
/// while records wait for it.
#[derive(Debug, Default)]
pub struct Stall {
    last: Option<u64>,
    since: Option<i64>,
}

impl Stall {
    pub fn observe(&mut self, size: Option<u64>, committed: u64, now_ns: i64) -> Option<i64> {
        let behind = size.is_none_or(|s| s < committed) && committed > 0;
        if !behind {
            self.since = None;
        } else if size != self.last || self.since.is_none() {
            self.since = Some(now_ns);
        }
        self.last = size;
        self.since
    }
}

/// `2 h 05 min`, `12 min`, `40 s`.
fn span(ns: i64) -> String {
    let s = ns.max(0) / 1_000_000_000;
    match s {
        s if s >= 3600 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// `backup-*=26h,10.0.0.5=10m` (`alerts.silence_per_source`).
pub fn parse_silences(text: &str) -> Result<Vec<(String, i64)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (pat, d) = p
                .rsplit_once('=')
                .ok_or_else(|| format!("alerts.silence_per_source: `{p}` is not PATTERN=DURATION"))?;
            let secs = pramaan_core::time::parse_age_secs(d.trim())
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("alerts.silence_per_source: `{d}` in `{p}` is not a duration like 30m or 26h"))?;
            Ok((pat.trim().to_owned(), secs.saturating_mul(1_000_000_000)))
        })
        .collect()
}

/// Free space of the filesystem holding `dir`, as a fraction.
pub(crate) fn disk_free(dir: &std::path::Path) -> Option<f64> {
    let out = std::process::Command::new("df")
        .args(["--output=avail,size", "-B1"])
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut nums = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .map(|n| n.parse::<f64>().ok());
    let (avail, size) = (nums.next()??, nums.next()??);
    (size > 0.0).then(|| avail / size)
}

/// `serve`'s alert loop: every `alerts.interval` until `stop`.
pub async fn run(app: Arc<App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let cfg = app.config().clone();
    let a = &cfg.alerts;
    if !a.enabled {
        return;
    }
    let (Ok(desk), Ok(settings)) = (app.desk().desk(), app.desk().settings()) else {
        tracing::error!("the incident desk is unavailable: no compliance alert is raised");
        return;
    };
    let (desk, settings) = (desk.clone(), settings.clone());
    let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let per_source = match parse_silences(&a.silence_per_source) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "no compliance alert is raised until this is fixed");
            return;
        }
    };
    let limits = Limits {
        silence_after_ns: ns(a.silence_after),
        silence_per_source: per_source,
        disk_free_min: a.disk_free_min as f64 / 100.0,
        // Checkpoints are signed every ledger.checkpoint_interval; ten of
        // them (at least a minute) missed is a stall.
        checkpoint_stall_ns: ns(cfg
            .ledger
            .checkpoint_interval
            .saturating_mul(10)
            .max(Duration::from_secs(60))),
    };
    let mut stall = Stall::default();
    let channels = Channels {
        alertmanager_url: a.alertmanager_url.clone(),
        email: a.email,
        repeat_ns: ns(a.repeat_interval),
        generator_url: format!("http://{}/console", cfg.http.listen),
    };
    loop {
        let now = pramaan_core::time::now_ns();
        let mut f = facts(&app, ns(a.source_lookback), now).await;
        f.checkpoint_stalled_since = stall.observe(f.checkpoint_size, f.committed, now);
        let now_true = conditions(&f, &limits);
        match desk.sync_alerts(&now_true, now).await {
            Ok(ch) if !ch.fired.is_empty() || !ch.resolved.is_empty() => {
                tracing::warn!(fired = ?ch.fired, resolved = ?ch.resolved, "compliance alerts")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "compliance alerts not recorded"),
        }
        if let Err(e) = alerts::notify(&desk, &settings, &channels, now).await {
            tracing::error!(error = %e, "compliance alerts not sent");
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(a.interval) => {}
        }
    }
}

/// `GET /api/v1/alerts`: the compliance alerts, firing first.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct List {}

/// An alert as listed, with its times readable.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: alerts::Alert,
    pub since: String,
    pub resolved_at: Option<String>,
}

impl crate::Operation for List {
    type Output = Vec<AlertView>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/alerts";

    async fn run(self, app: &App, who: &crate::Caller) -> Result<Self::Output, crate::AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let t = pramaan_core::time::human;
        Ok(desk
            .alerts()
            .map_err(crate::desk::app_error)?
            .into_iter()
            .map(|a| AlertView {
                since: t(a.since_ns),
                resolved_at: a.resolved_at_ns.map(t),
                alert: a,
            })
            .collect())
    }
}

/// `POST /api/v1/alerts/ack`: a firing alert is not sent again until it
/// resolves and fires anew.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub key: String,
}

impl crate::Operation for Ack {
    type Output = AlertView;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/alerts/ack";

    async fn run(self, app: &App, who: &crate::Caller) -> Result<Self::Output, crate::AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let a = desk
            .ack_alert(&self.key, &who.name, pramaan_core::time::now_ns())
            .await
            .map_err(crate::desk::app_error)?;
        let t = pramaan_core::time::human;
        Ok(AlertView {
            since: t(a.since_ns),
            resolved_at: a.resolved_at_ns.map(t),
            alert: a,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_796_000_000 * S;

    fn limits() -> Limits {
        Limits {
            silence_after_ns: 3600 * S,
            silence_per_source: parse_silences("backup-*=26h, 10.0.0.5=10m").unwrap(),
            disk_free_min: 0.10,
            checkpoint_stall_ns: 60 * S,
        }
    }

    fn healthy(now: i64) -> Facts {
        Facts {
            now_ns: now,
            clock_enabled: true,
            clock_within: Some(true),
            committed: 10,
            checkpoint_size: Some(10),
            retention_compliant: true,
            disk_free: Some(0.5),
            ..Facts::default()
        }
    }

    fn keys(f: &Facts) -> Vec<String> {
        conditions(f, &limits())
            .into_iter()
            .map(|c| c.key)
            .collect()
    }

    #[test]
    fn a_source_goes_silent_and_comes_back_on_an_injected_clock() {
        let mut f = healthy(T0);
        f.sources = vec![
            ("web1".into(), T0 - 59 * 60 * S),
            ("backup-db".into(), T0 - 25 * 3600 * S),
        ];
        assert!(keys(&f).is_empty(), "{:?}", keys(&f));
        // Two minutes later web1 has been silent 61 minutes: it fires, since
        // the moment its limit passed; the backup host has its own 26 h.
        f.now_ns = T0 + 2 * 60 * S;
        let c = conditions(&f, &limits());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].key, "source_silent/web1");
        assert_eq!(c[0].labels["source"], "web1");
        assert_eq!(c[0].since_ns, T0 + 60 * S);
        assert!(
            c[0].summary.contains("1 h 01 min silent"),
            "{}",
            c[0].summary
        );
        // A line arrives: resolved (no condition).
        f.sources[0].1 = T0 + 2 * 60 * S;
        assert!(keys(&f).is_empty());
        // A per-source limit shorter than the default.
        f.sources.push(("10.0.0.5".into(), f.now_ns - 11 * 60 * S));
        assert_eq!(keys(&f), ["source_silent/10.0.0.5"]);
        assert!(parse_silences("x=soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_silences("nothing")
            .unwrap_err()
            .contains("PATTERN=DURATION"));
    }

    #[test]
    fn a_checkpoint_that_stops_growing_while_records_wait_is_a_stall() {
        let mut st = Stall::default();
        assert_eq!(st.observe(Some(10), 10, T0), None, "keeping up");
        assert_eq!(st.observe(Some(10), 15, T0 + S), Some(T0 + S));
        assert_eq!(
            st.observe(Some(10), 20, T0 + 90 * S),
            Some(T0 + S),
            "still stuck"
        );
        assert_eq!(
            st.observe(Some(20), 25, T0 + 91 * S),
            Some(T0 + 91 * S),
            "it grew: a new wait"
        );
        assert_eq!(st.observe(Some(25), 25, T0 + 92 * S), None);
        assert_eq!(
            st.observe(None, 3, T0 + 93 * S),
            Some(T0 + 93 * S),
            "never signed"
        );
    }

    #[test]
    fn clock_storage_checkpoint_and_retention_each_fire() {
        let mut f = healthy(T0);
        f.clock_within = Some(false);
        f.clock_threshold_ms = 100.0;
        f.storage_full = Some("the disk holding the write-ahead log is full".into());
        f.disk_free = Some(0.05);
        f.checkpoint_size = Some(7);
        f.checkpoint_stalled_since = Some(T0 - 61 * S);
        f.retention_compliant = false;
        assert_eq!(
            keys(&f),
            [
                "clock_offset",
                "storage_full",
                "disk_filling",
                "checkpoint_stalled",
                "retention"
            ]
        );
        // Unreachable servers count only when no sample is usable.
        let mut f = healthy(T0);
        f.clock_servers_failing = vec![("127.0.0.1:123".into(), "timeout".into())];
        assert!(keys(&f).is_empty());
        f.clock_within = None;
        assert_eq!(keys(&f), ["clock_unreachable"]);
        // The clock monitor off: nothing about it (the dashboard says so).
        f.clock_enabled = false;
        assert!(keys(&f).is_empty());
    }
}
