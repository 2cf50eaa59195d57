//! The `pramaan` binary: thin glue between the command line and the crates.
//!
//! Owns: arguments, output for people (text, tables, JSON), where an
//! operation runs (`runner`: the server holding the data directory, or the
//! directory itself), the process allocator. May not touch: domain logic
//! (operations live in `pramaan-app`), components' storage where an
//! operation exists.

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

#[cfg(all(target_os = "linux", not(target_env = "musl")))]
mod alloc;
mod client;
mod cmd_alerts;
mod cmd_backup;
mod cmd_clock;
mod cmd_compact;
mod cmd_detect;
mod cmd_doctor;
mod cmd_incident;
mod cmd_ingest;
mod cmd_ledger;
mod cmd_order;
mod cmd_registry;
mod cmd_retention;
mod cmd_search;
mod cmd_user;
mod cmd_vasp;
mod cmd_whois;
mod runner;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use pramaan_config::{Config, Loaded};
use std::path::PathBuf;

const ABOUT: &str =
    "pramaan keeps every log line for CERT-In's 180 days, provably unaltered, and finds it again.";

#[derive(Parser)]
#[command(name = "pramaan", version, about = ABOUT, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Args, Clone, Debug)]
struct Global {
    /// Configuration file (default: $PRAMAAN_CONFIG, else ./pramaan.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (config key `data_dir`, default ./pramaan-data).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the vault: syslog listeners (UDP/TCP/TLS), the HTTP API and sealing.
    Serve(ServeArgs),
    /// Print the effective configuration and where each value came from.
    Config(ConfigArgs),
    /// Send log files (plain, .gz, .zst, or - for stdin) to the vault; each
    /// line is acknowledged only once it is durable.
    Ingest(cmd_ingest::IngestArgs),
    /// Search stored lines by time, host, app, IP, user, severity and text.
    Search(cmd_search::SearchArgs),
    /// Run DataFusion SQL over the `logs` table (try: pramaan sql "SELECT count(*) FROM logs").
    Sql(cmd_search::SqlArgs),
    /// Show what the vault holds: records, segments, bytes, memtable.
    Status(cmd_search::StatusArgs),
    /// Print the latest signed checkpoint (tree head), or co-sign it (cosign --key).
    Checkpoint(cmd_ledger::CheckpointArgs),
    /// Get an inclusion or consistency proof and check it with the node's public key.
    Proof(cmd_ledger::ProofArgs),
    /// Check everything: segments against the catalog, the WAL, the Merkle
    /// tree rebuilt from the records against the stored tiles, and every
    /// checkpoint's signatures. Exit status 0 only when all of it verifies.
    Verify(cmd_ledger::VerifyArgs),
    /// Copy the data directory while `serve` runs: databases, bindings,
    /// segments, WAL, tiles and the checkpoint, each file's SHA-256 in a
    /// manifest; the keys only with --keys-to, elsewhere.
    Backup(cmd_backup::BackupArgs),
    /// Rebuild a data directory (--data-dir, new or empty) from a backup:
    /// every file checked first, then `verify` at the backup's checkpoint.
    Restore(cmd_backup::RestoreArgs),
    /// Check this deployment: key files private, listeners not public
    /// without TLS, retention at 180 days, disk headroom, the clock
    /// servers, the newest backup. Exits 1 when something must be fixed.
    Doctor(cmd_doctor::DoctorArgs),
    /// The ledger's upkeep: `rebuild --reason` signs a new tree over records
    /// whose checkpoints are missing (recorded for good).
    Ledger(cmd_ledger::LedgerArgs),
    /// Legal holds: keep records from retention until released (add, list, release).
    Hold(cmd_retention::HoldArgs),
    /// Retention: delete segments past their window (run, or run --dry-run).
    Retention(cmd_retention::RetentionArgs),
    /// Rewrite sealed segments smaller now (zstd 19, larger pages); `serve`
    /// does it in the background. Records and proofs do not change.
    Compact(cmd_compact::CompactArgs),
    /// Incidents for CERT-In: the 20 kinds, the 6-hour clock, reports by e-mail with logs attached.
    Incident(cmd_incident::IncidentArgs),
    #[command(flatten)]
    Orders(cmd_order::OrderCommands),
    /// The point of contact with CERT-In: show, set, review.
    Poc(cmd_incident::PocArgs),
    /// Clock compliance: offset to NIC/NPL time, host sync, drifting log sources (status).
    Clock(cmd_clock::ClockArgs),
    /// Sigma rules: check every rule of detect.rules_dir, test one over stored lines.
    Detect(cmd_detect::DetectArgs),
    /// Compliance alerts (a silent source, the clock, storage, checkpoints,
    /// retention): list them, acknowledge one.
    Alerts(cmd_alerts::AlertsArgs),
    /// The subscriber register (5-year records of VPN/VPS/cloud customers):
    /// import, show --purpose, completeness, terminate, erase-expired, rotate-key, hold.
    Registry(cmd_registry::RegistryArgs),
    /// Who held an IP address (and port) at an instant: `whois ADDR --at TIME --purpose TEXT`
    /// (every lookup is audited); `whois import-bindings FILE` loads a bindings CSV.
    Whois(cmd_whois::WhoisArgs),
    /// Virtual asset service providers: import transactions (each a ledger
    /// record, kept 5 years), and the trail of funds from a customer, wallet or
    /// chain transaction (`--purpose`, audited).
    Vasp(cmd_vasp::VaspArgs),
    /// Users (people): add, passwd, disable, enable, list.
    User(cmd_user::UserArgs),
    /// API tokens (machines, scripts): create (secret shown once), list, revoke.
    Token(cmd_user::TokenArgs),
    /// The audit trail of logins, searches, reads, exports and user/token changes: search.
    Audit(cmd_user::AuditArgs),
    /// TLS helpers: self-signed writes a certificate and key for HTTPS and syslog over TLS.
    Tls(cmd_user::TlsArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// HTTP API address (config key `http.listen`, default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<String>,
    /// Syslog UDP address, or `off` (config key `syslog.udp_listen`, default 127.0.0.1:5514).
    #[arg(long, value_name = "ADDR")]
    syslog_udp_listen: Option<String>,
    /// Syslog TCP address, or `off` (config key `syslog.tcp_listen`, default 127.0.0.1:5514).
    #[arg(long, value_name = "ADDR")]
    syslog_tcp_listen: Option<String>,
    /// Syslog TLS address (config key `syslog.tls_listen`, default 127.0.0.1:6514; starts only with a certificate and key).
    #[arg(long, value_name = "ADDR")]
    syslog_tls_listen: Option<String>,
    /// PEM certificate chain for syslog over TLS (config key `syslog.tls_cert`).
    #[arg(long, value_name = "FILE")]
    syslog_tls_cert: Option<String>,
    /// PEM private key for syslog over TLS (config key `syslog.tls_key`).
    #[arg(long, value_name = "FILE")]
    syslog_tls_key: Option<String>,
    /// Write the bound addresses as JSON to this file once listening (for scripts and tests).
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Args)]
struct ConfigArgs {
    /// Print the reference of every key (type, default, environment variable, meaning) instead.
    #[arg(long)]
    reference: bool,
}

fn load_config(g: &Global, extra: Vec<(&'static str, String)>) -> Result<Loaded> {
    let mut flags: Vec<(&str, String)> = Vec::new();
    if let Some(d) = &g.data_dir {
        flags.push(("data_dir", d.clone()));
    }
    flags.extend(extra);
    let loaded = pramaan_config::load(g.config.as_deref(), pramaan_config::process_env(), &flags)?;
    Ok(loaded)
}

fn init_logging(cfg: &Config) {
    let filter =
        std::env::var(pramaan_config::ENV_LOG_FILTER).unwrap_or_else(|_| cfg.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        pramaan_config::LogFormat::Json => b.json().init(),
        pramaan_config::LogFormat::Text => b.init(),
    }
}

fn main() -> std::process::ExitCode {
    // Before anything is created: what pramaan writes (evidence, keys,
    // databases, exports) is for its own user only (`pramaan_vault::modes`).
    pramaan_vault::modes::restrict_umask();
    let cli = Cli::parse();
    quiet_on_closed_stdout();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::from(2)
        }
    }
}

/// `pramaan status | head`: once the reader has gone, the next `println!`
/// fails with a broken pipe (the process ignores SIGPIPE, as `serve` must)
/// and panics. That is a reader that has read enough, not an error: end
/// quietly, with the status a shell gives a writer killed by SIGPIPE. Any
/// other panic is reported as before.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let g = cli.global;
    match cli.command {
        Command::Serve(a) => serve(&g, a),
        Command::Config(a) => {
            if a.reference {
                print!("{}", pramaan_config::reference());
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let loaded = load_config(&g, Vec::new())?;
            print!("{}", loaded.render());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Tls(a) => {
            init_cli_logging();
            cmd_user::tls(a)
        }
        Command::Verify(a) => {
            let loaded = load_config(&g, Vec::new())?;
            init_cli_logging();
            cmd_ledger::verify_cmd(&loaded.config, a)
        }
        Command::Backup(a) => {
            let loaded = load_config(&g, Vec::new())?;
            init_cli_logging();
            cmd_backup::backup_cmd(&loaded.config, a)
        }
        Command::Restore(a) => {
            let loaded = load_config(&g, Vec::new())?;
            init_cli_logging();
            cmd_backup::restore_cmd(&loaded.config, a)
        }
        other => {
            let loaded = load_config(&g, Vec::new())?;
            init_cli_logging();
            runtime()?.block_on(command(&loaded.config, other))
        }
    }
}

/// `pramaan serve`: the flags become configuration, then the server runs
/// until a signal.
fn serve(g: &Global, a: ServeArgs) -> Result<std::process::ExitCode> {
    let mut extra = Vec::new();
    for (k, v) in [
        ("http.listen", a.http_listen),
        ("syslog.udp_listen", a.syslog_udp_listen),
        ("syslog.tcp_listen", a.syslog_tcp_listen),
        ("syslog.tls_listen", a.syslog_tls_listen),
        ("syslog.tls_cert", a.syslog_tls_cert),
        ("syslog.tls_key", a.syslog_tls_key),
    ] {
        if let Some(v) = v {
            extra.push((k, v));
        }
    }
    let loaded = load_config(g, extra)?;
    init_logging(&loaded.config);
    let cfg = loaded.config;
    let ready = a.ready_file;
    #[cfg(all(target_os = "linux", not(target_env = "musl")))]
    pramaan_server::telemetry::set_heap_stats(alloc::heap_stats);
    runtime()?.block_on(async move {
        pramaan_server::serve(cfg, shutdown_signal(), move |b| {
            if let Some(p) = ready {
                let json = serde_json::to_string(b).expect("addresses serialise");
                let tmp = p.with_extension("tmp");
                if std::fs::write(&tmp, json)
                    .and_then(|_| std::fs::rename(&tmp, &p))
                    .is_err()
                {
                    tracing::warn!(path = %p.display(), "could not write the ready file");
                }
            }
        })
        .await
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// The commands that run on the async runtime with the loaded configuration.
async fn command(cfg: &Config, c: Command) -> Result<std::process::ExitCode> {
    match c {
        Command::Ingest(a) => cmd_ingest::run(cfg, a).await,
        Command::Search(a) => cmd_search::search(cfg, a).await,
        Command::Sql(a) => cmd_search::sql(cfg, a).await,
        Command::Status(a) => cmd_search::status(cfg, a).await,
        Command::Checkpoint(a) => cmd_ledger::checkpoint(cfg, a).await,
        Command::Proof(a) => cmd_ledger::proof(cfg, a).await,
        Command::Ledger(a) => cmd_ledger::ledger(cfg, a).await,
        Command::Hold(a) => cmd_retention::hold(cfg, a).await,
        Command::Retention(a) => cmd_retention::retention(cfg, a).await,
        Command::Compact(a) => cmd_compact::compact(cfg, a).await,
        Command::Orders(c) => cmd_order::run(cfg, c).await,
        Command::Incident(a) => cmd_incident::incident(cfg, a).await,
        Command::Poc(a) => cmd_incident::poc(cfg, a).await,
        Command::Clock(a) => cmd_clock::clock(cfg, a).await,
        Command::Detect(a) => cmd_detect::detect(cfg, a).await,
        Command::Alerts(a) => cmd_alerts::alerts(cfg, a).await,
        Command::Doctor(a) => cmd_doctor::doctor(cfg, a).await,
        Command::Registry(a) => cmd_registry::run(cfg, a).await,
        Command::Whois(a) => cmd_whois::run(cfg, a).await,
        Command::Vasp(a) => cmd_vasp::run(cfg, a).await,
        Command::User(a) => cmd_user::user(cfg, a).await,
        Command::Token(a) => cmd_user::token(cfg, a).await,
        Command::Audit(a) => cmd_user::audit(cfg, a).await,
        Command::Serve(_)
        | Command::Config(_)
        | Command::Tls(_)
        | Command::Verify(_)
        | Command::Backup(_)
        | Command::Restore(_) => {
            anyhow::bail!("this command runs before the runtime starts")
        }
    }
}

/// Commands other than `serve` log only warnings unless PRAMAAN_LOG says otherwise.
fn init_cli_logging() {
    let filter = std::env::var(pramaan_config::ENV_LOG_FILTER).unwrap_or_else(|_| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
