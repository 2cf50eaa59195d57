//! `pramaan clock status`: the latest NTP sample per server, whether the
//! host is within the threshold of national time, the host's own sync state
//! and the log sources whose clocks are off; from a running server, else
//! from `<data_dir>/clock.db`.

use crate::runner;
use anyhow::Result;
use clap::{Args, Subcommand};
use pramaan_app::clock::ClockStatus;
use pramaan_clock::Status;
use pramaan_config::Config;
use pramaan_core::time::human;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ClockArgs {
    #[command(subcommand)]
    command: ClockCommand,
}

#[derive(Subcommand, Debug)]
enum ClockCommand {
    /// Offset to national time (NIC/NPL NTP servers), the host's sync state
    /// and the log sources whose clocks drift. Exits 1 when the host is
    /// outside the threshold or a source is flagged, 0 otherwise.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else read <data_dir>/clock.db).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print JSON (the same as GET /api/v1/clock) instead of text.
    #[arg(long)]
    json: bool,
    /// Show times in UTC only (default: IST with UTC alongside).
    #[arg(long)]
    utc: bool,
}

pub async fn clock(cfg: &Config, a: ClockArgs) -> Result<ExitCode> {
    match a.command {
        ClockCommand::Status(a) => status(cfg, a).await,
    }
}

async fn status(cfg: &Config, a: StatusArgs) -> Result<ExitCode> {
    let st: Status = runner::run_once(cfg, a.server.as_deref(), ClockStatus {}).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        print!("{}", render(&st, a.utc));
    }
    let bad = st.within_threshold == Some(false) || st.flagged_sources > 0;
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn when(ns: i64, utc: bool) -> String {
    if utc {
        pramaan_core::time::rfc3339_utc(ns)
    } else {
        human(ns)
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:+.3} ms"))
        .unwrap_or_else(|| "-".into())
}

/// The text report.
pub fn render(st: &Status, utc: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    if !st.enabled {
        let _ = writeln!(o, "Clock monitor: switched off (clock.enabled = false).");
        return o;
    }
    let verdict = match st.within_threshold {
        Some(true) => format!("WITHIN ±{} ms of national time", st.threshold_ms),
        Some(false) => format!("OUTSIDE ±{} ms of national time", st.threshold_ms),
        None => "unknown: no server gave a usable sample".into(),
    };
    let _ = writeln!(o, "Clock: {verdict}");
    match &st.last_round {
        Some(t) => {
            let _ = writeln!(o, "Last round: {}", when(t.ns, utc));
        }
        None => {
            let _ = writeln!(
                o,
                "Last round: none yet (servers: {})",
                st.servers_configured.join(", ")
            );
        }
    }
    if let Some(h) = &st.host_sync {
        let _ = writeln!(o, "Host sync: {}", h.summary());
    }
    if !st.servers.is_empty() {
        let _ = writeln!(o, "\nServers:");
        for s in &st.servers {
            let state = match &s.detail {
                Some(d) => format!("{} ({d})", s.state),
                None => s.state.clone(),
            };
            let _ =
                writeln!(
                o,
                "  {:<28} {:<16} offset {:>14}  delay {:>12}  stratum {:>2}  refid {:<15} leap {}",
                s.server,
                state,
                ms(s.offset_ms),
                s.delay_ms.map(|v| format!("{v:.3} ms")).unwrap_or_else(|| "-".into()),
                s.stratum.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                s.refid.as_deref().unwrap_or("-"),
                s.leap.as_deref().unwrap_or("-"),
            );
            let _ = writeln!(
                o,
                "  {:<28} at {}{}",
                "",
                when(s.at.ns, utc),
                s.ledger_seq
                    .map(|q| format!(", ledger seq {q}"))
                    .unwrap_or_default()
            );
        }
    }
    if st.sources.is_empty() {
        let _ = writeln!(
            o,
            "\nLog sources: no lines with an event time in the last {} s.",
            st.skew_window_s
        );
    } else {
        let _ = writeln!(
            o,
            "\nLog sources (received_at − event time over the last {} s; {} flagged):",
            st.skew_window_s, st.flagged_sources
        );
        for s in &st.sources {
            let flag = if s.flagged {
                format!(
                    "FLAGGED since seq {}, latest seq {}",
                    s.first_seq
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into()),
                    s.latest_seq
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                )
            } else {
                "ok".into()
            };
            let zone = match (&s.zone, s.zone_assumed) {
                (_, 0) => String::new(),
                (Some(z), n) => format!(", {n} zone-less read at {z}"),
                (None, n) => format!(", {n} zone-less read at syslog.default_timezone"),
            };
            let _ = writeln!(
                o,
                "  {:<28} n={:<6} min {:.1}  median {:.1}  p95 {:.1}  max {:.1} ms  {flag}{zone}",
                s.source, s.count, s.min_ms, s.median_ms, s.p95_ms, s.max_ms
            );
        }
    }
    if let Some(e) = &st.store_error {
        let _ = writeln!(o, "\nWARNING: clock database: {e}");
    }
    o
}
