//! The monitor `serve` runs, its options and the status it shows.

use crate::client::{Sample, State};
use crate::host::HostSync;
use crate::skew::{SkewOptions, SkewTracker, SourceSkew, ZoneMap};
use crate::store::Store;
use crate::{client, host, store, vault_rows};
use pramaan_core::time::{rfc3339_ist, rfc3339_utc};
use pramaan_core::LedgerSink;
use pramaan_db::outbox;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ledger source of clock records.
pub const LEDGER_SOURCE: &str = "pramaan:clock";

/// Everything the monitor needs, from the `[clock]` configuration.
#[derive(Clone, Debug)]
pub struct ClockOptions {
    /// `clock.enabled`: false = no queries, no skew analysis.
    pub enabled: bool,
    /// `clock.servers`, each `host` or `host:port`.
    pub servers: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub threshold: Duration,
    pub skew_interval: Duration,
    pub skew_window: Duration,
    pub zones: ZoneMap,
    /// `<data_dir>/clock.db`.
    pub db_path: PathBuf,
    /// Samples older than this are deleted (the log retention period).
    pub keep: Duration,
    /// The `chronyc` program, and chronyd's command socket if not the default.
    pub chronyc: String,
    pub chronyc_socket: Option<String>,
}

impl ClockOptions {
    /// Splits `clock.servers` (commas or whitespace).
    pub fn parse_servers(text: &str) -> Vec<String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn threshold_ns(&self) -> i64 {
        i64::try_from(self.threshold.as_nanos()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("the clock monitor is switched off (clock.enabled = false)")]
    Disabled,
}

/// The clock monitor of one `serve`.
pub struct Monitor {
    opts: ClockOptions,
    sink: Arc<dyn LedgerSink>,
    store: Mutex<Option<Store>>,
    store_error: Mutex<Option<String>>,
    skew: Mutex<SkewTracker>,
    /// Appends the samples' records staged in `clock.db`.
    flusher: outbox::Flusher,
}

/// How the flusher marks a sample with its record's sequence number.
const MARK_BACK: &str = "UPDATE samples SET ledger_seq = ?1 WHERE id = ?2";

/// `clock.db`'s outbox behind the monitor's own lock, taken per statement.
struct ClockRows<'a>(&'a Mutex<Option<Store>>);

impl ClockRows<'_> {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, outbox::OutboxError> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut() {
            Some(s) => Ok(f(s.conn_mut())?),
            None => Err(outbox::OutboxError::Store("clock.db is not open".into())),
        }
    }
}

impl outbox::Rows for ClockRows<'_> {
    fn next_pending(&self, after: i64) -> outbox::RowsFuture<'_, Option<outbox::Pending>> {
        let r = self.with(|c| outbox::next_pending_in(c, after));
        Box::pin(std::future::ready(r))
    }

    fn claimed<'a>(&'a self, row: &'a outbox::Pending, seq: u64) -> outbox::RowsFuture<'a, bool> {
        let r = self.with(|c| outbox::claimed_in(c, row, seq));
        Box::pin(std::future::ready(r))
    }

    fn mark<'a>(&'a self, row: &'a outbox::Pending, seq: u64) -> outbox::RowsFuture<'a, ()> {
        let r = self.with(|c| outbox::mark_in(c, row, seq, Some(MARK_BACK)));
        Box::pin(std::future::ready(r))
    }
}

/// One round's outcome.
#[derive(Clone, Debug)]
pub struct Round {
    pub at_ns: i64,
    pub samples: Vec<Sample>,
    pub host: HostSync,
    /// The `pramaan:clock` record of each sample (None where the ledger refused).
    pub ledger_seqs: Vec<Option<u64>>,
}

impl Monitor {
    /// Opens `clock.db`; a failure is kept and shown in the status (the
    /// monitor still measures and appends to the ledger).
    pub fn new(opts: ClockOptions, sink: Arc<dyn LedgerSink>) -> Monitor {
        let (store, err) = if opts.enabled {
            match Store::open(&opts.db_path) {
                Ok(s) => (Some(s), None),
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the clock database; samples are not kept");
                    (None, Some(e.to_string()))
                }
            }
        } else {
            (None, None)
        };
        let skew = SkewTracker::new(SkewOptions {
            window_ns: i64::try_from(opts.skew_window.as_nanos()).unwrap_or(i64::MAX),
            threshold_ns: opts.threshold_ns(),
            max_per_source: 10_000,
            max_sources: 10_000,
            zones: opts.zones.clone(),
        });
        Monitor {
            opts,
            sink,
            store: Mutex::new(store),
            store_error: Mutex::new(err),
            skew: Mutex::new(skew),
            flusher: outbox::Flusher::new("clock"),
        }
    }

    pub fn options(&self) -> &ClockOptions {
        &self.opts
    }

    fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, store::StoreError>,
    ) -> Option<T> {
        let mut g = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let s = g.as_mut()?;
        match f(s) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(error = %e, "clock database");
                *self.store_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                None
            }
        }
    }

    /// Queries every server (concurrently), reads the host state, stores the
    /// samples and appends one `pramaan:clock` record per sample.
    pub async fn round(&self) -> Round {
        let at_ns = pramaan_core::time::now_ns();
        let queries = self
            .opts
            .servers
            .iter()
            .map(|s| client::query(s, self.opts.timeout));
        let (samples, host) = futures::join!(
            futures::future::join_all(queries),
            host::host_sync(
                &self.opts.chronyc,
                self.opts.chronyc_socket.as_deref(),
                Duration::from_secs(5)
            )
        );
        let thr = self.opts.threshold_ns();
        let mut records = Vec::with_capacity(samples.len());
        for s in &samples {
            record_metrics(s, thr);
            records.push(ledger_record(s, &host, thr));
            match &s.state {
                State::Ok => {
                    tracing::debug!(server = %s.server, offset_ns = ?s.offset_ns, "clock sample")
                }
                st => {
                    tracing::warn!(server = %s.server, state = st.name(), detail = ?st.detail(), "clock sample not usable")
                }
            }
        }
        // The samples and their records in one transaction, then the
        // records are appended (exactly once, `pramaan_db::outbox`), so a
        // crash never leaves a record without its sample or the reverse.
        let watermark = self.sink.committed();
        let seqs = match self
            .with_store(|s| s.record_round(at_ns, &host, &samples, &records, watermark))
        {
            Some(round) => {
                self.flush().await;
                self.with_store(|s| s.round_seqs(round))
                    .unwrap_or_else(|| vec![None; samples.len()])
            }
            // Without clock.db the records still go to the ledger.
            None => self.append_directly(&samples, records).await,
        };
        let within = within_threshold(&samples, thr);
        metrics::gauge!("pramaan_clock_within_threshold").set(match within {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => -1.0,
        });
        metrics::gauge!("pramaan_clock_host_synchronised").set(match host.state_name() {
            "synchronised" => 1.0,
            "unsynchronised" => 0.0,
            _ => -1.0,
        });
        let keep = i64::try_from(self.opts.keep.as_nanos()).unwrap_or(i64::MAX);
        self.with_store(|s| s.prune(at_ns.saturating_sub(keep)));
        Round {
            at_ns,
            samples,
            host,
            ledger_seqs: seqs,
        }
    }

    /// Appends the records staged in `clock.db` that are not yet in the
    /// ledger, in order, exactly once; returns how many are still pending.
    pub async fn flush(&self) -> u64 {
        let _ = self
            .flusher
            .flush(&ClockRows(&self.store), &*self.sink)
            .await;
        self.pending()
    }

    /// Samples whose record is not yet in the ledger (0 without `clock.db`).
    pub fn pending(&self) -> u64 {
        self.with_store(|s| s.outbox_pending()).unwrap_or(0)
    }

    /// Appends records with nowhere to stage them (`clock.db` did not open).
    async fn append_directly(&self, samples: &[Sample], records: Vec<Vec<u8>>) -> Vec<Option<u64>> {
        let mut seqs = Vec::with_capacity(records.len());
        for (s, body) in samples.iter().zip(records) {
            seqs.push(match self.sink.append(LEDGER_SOURCE, body).await {
                Ok(seq) => Some(seq),
                Err(e) => {
                    tracing::error!(error = %e, server = %s.server, "the clock sample was not appended to the ledger");
                    None
                }
            });
        }
        seqs
    }

    /// Reads the lines stored since the last pass and updates the per-source
    /// skew distributions (and their gauges, and `clock.db`).
    pub async fn skew_pass(
        &self,
        vault: &pramaan_vault::Vault,
    ) -> Result<Vec<SourceSkew>, vault_rows::RowsError> {
        let now = pramaan_core::time::now_ns();
        let (after, since) = {
            let t = self.skew.lock().unwrap_or_else(|e| e.into_inner());
            (t.last_seq, now.saturating_sub(t.options().window_ns))
        };
        let mut after = after;
        loop {
            let rows = vault_rows::read(vault, after, since, vault_rows::PAGE).await?;
            let n = rows.len();
            let mut t = self.skew.lock().unwrap_or_else(|e| e.into_inner());
            t.add(&rows, now);
            after = t.last_seq;
            if n < vault_rows::PAGE {
                break;
            }
        }
        let (report, last) = {
            let mut t = self.skew.lock().unwrap_or_else(|e| e.into_inner());
            t.expire(now);
            (t.report(), t.last_seq)
        };
        for s in &report {
            let src = s.source.clone();
            for (q, v) in [
                ("min", s.min_ms),
                ("0.5", s.median_ms),
                ("0.95", s.p95_ms),
                ("max", s.max_ms),
            ] {
                metrics::gauge!("pramaan_clock_source_skew_seconds", "source" => src.clone(), "quantile" => q)
                    .set(v / 1000.0);
            }
            metrics::gauge!("pramaan_clock_source_flagged", "source" => src).set(if s.flagged {
                1.0
            } else {
                0.0
            });
        }
        metrics::gauge!("pramaan_clock_sources_flagged")
            .set(report.iter().filter(|s| s.flagged).count() as f64);
        self.with_store(|st| st.save_skew(now, last, &report));
        Ok(report)
    }

    /// What `GET /api/v1/clock` and `pramaan clock status` show.
    pub fn status(&self) -> Status {
        if !self.opts.enabled {
            return Status::disabled(&self.opts);
        }
        let g = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = match g.as_ref() {
            Some(s) => Status::from_store(&self.opts, s),
            None => Status::empty(&self.opts),
        };
        drop(g);
        // The live skew report (fresher than the stored one).
        let t = self.skew.lock().unwrap_or_else(|e| e.into_inner());
        if t.last_seq.is_some() {
            st.set_sources(t.report());
        }
        if let Some(e) = self
            .store_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            st.store_error = Some(e);
        }
        st
    }

    /// Runs rounds every `clock.interval` (the first at once) and skew passes
    /// every `clock.skew_interval` until `stop` is set. Returns at once when
    /// the monitor is switched off.
    pub async fn run(
        self: Arc<Self>,
        vault: pramaan_vault::Vault,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        if !self.opts.enabled {
            tracing::info!("clock monitor switched off (clock.enabled = false)");
            return;
        }
        tracing::info!(servers = ?self.opts.servers, interval = ?self.opts.interval, "clock monitor started");
        let mut next_round = tokio::time::Instant::now();
        let mut next_skew =
            tokio::time::Instant::now() + self.opts.skew_interval.min(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_round) => {
                    self.round().await;
                    next_round = tokio::time::Instant::now() + self.opts.interval;
                }
                _ = tokio::time::sleep_until(next_skew) => {
                    if let Err(e) = self.skew_pass(&vault).await {
                        tracing::error!(error = %e, "clock skew pass failed; tried again at the next interval");
                    }
                    next_skew = tokio::time::Instant::now() + self.opts.skew_interval;
                }
                // Mapped to (): the watch's guard is not Send and must not be
                // part of the select's output (the future runs on tokio::spawn).
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
        }
    }
}

fn record_metrics(s: &Sample, _thr: i64) {
    let server = s.server.clone();
    metrics::gauge!("pramaan_clock_sample_ok", "server" => server.clone())
        .set(if s.state == State::Ok { 1.0 } else { 0.0 });
    if let (State::Ok, Some(o), Some(d)) = (&s.state, s.offset_ns, s.delay_ns) {
        metrics::gauge!("pramaan_clock_offset_seconds", "server" => server.clone())
            .set(o as f64 / 1e9);
        metrics::gauge!("pramaan_clock_delay_seconds", "server" => server).set(d as f64 / 1e9);
    }
}

/// Within the threshold of national time: every usable sample's |offset|
/// at most the threshold; `None` when no sample was usable.
pub fn within_threshold(samples: &[Sample], threshold_ns: i64) -> Option<bool> {
    let ok: Vec<i64> = samples
        .iter()
        .filter(|s| s.state == State::Ok)
        .filter_map(|s| s.offset_ns)
        .collect();
    (!ok.is_empty()).then(|| {
        ok.iter()
            .all(|o| o.unsigned_abs() <= threshold_ns.unsigned_abs())
    })
}

fn ms(ns: Option<i64>) -> Option<f64> {
    ns.map(|v| v as f64 / 1e6)
}

/// The JSON of one `pramaan:clock` ledger record.
pub fn ledger_record(s: &Sample, host: &HostSync, threshold_ns: i64) -> Vec<u8> {
    let (host_err, host_ref) = match host {
        HostSync::Chrony {
            estimated_error_ms,
            reference,
            ..
        } => (Some(*estimated_error_ms), Some(reference.clone())),
        HostSync::Unknown { .. } => (None, None),
    };
    let v = serde_json::json!({
        "type": "clock.sample",
        "at": rfc3339_utc(s.at_ns),
        "server": s.server,
        "address": s.address,
        "state": s.state.name(),
        "detail": s.state.detail(),
        "offset_ms": ms(s.offset_ns),
        "delay_ms": ms(s.delay_ns),
        "stratum": s.stratum,
        "refid": s.refid,
        "leap": s.leap.map(|l| l.as_str()),
        "threshold_ms": threshold_ns as f64 / 1e6,
        "within_threshold": (s.state == State::Ok).then(|| s.offset_ns.map(|o| o.unsigned_abs() <= threshold_ns.unsigned_abs())).flatten(),
        "host_sync": host.state_name(),
        "host_sync_detail": host.summary(),
        "host_reference": host_ref,
        "host_estimated_error_ms": host_err,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A time for people: IST, with UTC alongside.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ShownTime {
    pub ist: String,
    pub utc: String,
    pub ns: i64,
}

impl ShownTime {
    pub fn new(ns: i64) -> Self {
        ShownTime {
            ist: rfc3339_ist(ns),
            utc: rfc3339_utc(ns),
            ns,
        }
    }
}

/// The latest sample of one server, as shown.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ServerStatus {
    pub server: String,
    pub address: Option<String>,
    pub at: ShownTime,
    pub state: String,
    pub detail: Option<String>,
    pub offset_ms: Option<f64>,
    pub delay_ms: Option<f64>,
    pub stratum: Option<u8>,
    pub refid: Option<String>,
    pub leap: Option<String>,
    pub within_threshold: Option<bool>,
    pub ledger_seq: Option<u64>,
}

/// What `GET /api/v1/clock` answers.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Status {
    pub enabled: bool,
    pub servers_configured: Vec<String>,
    pub interval_s: f64,
    pub threshold_ms: f64,
    /// The latest round, if there was one.
    pub last_round: Option<ShownTime>,
    pub servers: Vec<ServerStatus>,
    /// Every usable latest sample within ±threshold; null when none is usable.
    pub within_threshold: Option<bool>,
    pub host_sync: Option<HostSync>,
    pub skew_window_s: f64,
    pub skew_updated: Option<ShownTime>,
    pub sources: Vec<SourceSkew>,
    pub flagged_sources: usize,
    pub store_error: Option<String>,
}

impl Status {
    fn empty(o: &ClockOptions) -> Status {
        Status {
            enabled: o.enabled,
            servers_configured: o.servers.clone(),
            interval_s: o.interval.as_secs_f64(),
            threshold_ms: o.threshold.as_secs_f64() * 1000.0,
            last_round: None,
            servers: Vec::new(),
            within_threshold: None,
            host_sync: None,
            skew_window_s: o.skew_window.as_secs_f64(),
            skew_updated: None,
            sources: Vec::new(),
            flagged_sources: 0,
            store_error: None,
        }
    }

    pub fn disabled(o: &ClockOptions) -> Status {
        let mut s = Status::empty(o);
        s.enabled = false;
        s
    }

    fn set_sources(&mut self, sources: Vec<SourceSkew>) {
        self.flagged_sources = sources.iter().filter(|s| s.flagged).count();
        self.sources = sources;
    }

    /// Built from `clock.db` (what a CLI shows when no server runs).
    pub fn from_store(o: &ClockOptions, store: &Store) -> Status {
        let mut st = Status::empty(o);
        let thr = o.threshold_ns();
        let mut errs = Vec::new();
        match store.latest_round() {
            Ok(Some(r)) => {
                st.last_round = Some(ShownTime::new(r.at_ns));
                st.host_sync = Some(r.host);
            }
            Ok(None) => {}
            Err(e) => errs.push(e.to_string()),
        }
        match store.latest_samples() {
            Ok(samples) => {
                let only: Vec<Sample> = samples.iter().map(|(s, _)| s.clone()).collect();
                st.within_threshold = within_threshold(&only, thr);
                st.servers = samples
                    .into_iter()
                    .map(|(s, seq)| ServerStatus {
                        within_threshold: (s.state == State::Ok)
                            .then(|| s.offset_ns.map(|v| v.unsigned_abs() <= thr.unsigned_abs()))
                            .flatten(),
                        address: s.address.clone(),
                        at: ShownTime::new(s.at_ns),
                        state: s.state.name().to_owned(),
                        detail: s.state.detail().map(str::to_owned),
                        offset_ms: ms(s.offset_ns),
                        delay_ms: ms(s.delay_ns),
                        stratum: s.stratum,
                        refid: s.refid.clone(),
                        leap: s.leap.map(|l| l.as_str().to_owned()),
                        ledger_seq: seq,
                        server: s.server,
                    })
                    .collect();
            }
            Err(e) => errs.push(e.to_string()),
        }
        match store.load_skew() {
            Ok(Some((at, sources))) => {
                st.skew_updated = Some(ShownTime::new(at));
                st.set_sources(sources);
            }
            Ok(None) => {}
            Err(e) => errs.push(e.to_string()),
        }
        if !errs.is_empty() {
            st.store_error = Some(errs.join("; "));
        }
        st
    }
}

/// The status from `clock.db` alone, for `pramaan clock status` without a
/// running server. A missing database is an empty status, not an error.
pub fn status_offline(o: &ClockOptions) -> Result<Status, ClockError> {
    if !o.enabled {
        return Ok(Status::disabled(o));
    }
    if !o.db_path.exists() {
        return Ok(Status::empty(o));
    }
    let s = Store::open_read_only(&o.db_path)?;
    Ok(Status::from_store(o, &s))
}
