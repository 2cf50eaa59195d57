//! `pramaan serve`: the syslog listeners and the HTTP API in front of the vault.

pub mod api;
pub mod listeners;
pub mod sink;
pub mod telemetry;

use pramaan_config::Config;
use pramaan_vault::{Vault, VaultOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Vault(#[from] pramaan_vault::VaultError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// The vault options a configuration asks for.
pub fn vault_options(cfg: &Config) -> VaultOptions {
    let mut o = VaultOptions::new(&cfg.data_dir);
    o.objects_dir = cfg.objects_dir();
    o.catalog_path = cfg.catalog_path();
    o.fsync = cfg.wal.fsync;
    o.wal_file_bytes = cfg.wal.file_size;
    o.wal_max_batch = cfg.wal.max_batch as usize;
    o.seal_max_rows = cfg.segments.max_rows;
    o.seal_max_bytes = cfg.segments.max_bytes;
    o.seal_max_age = cfg.segments.max_age;
    o.cut_hourly = cfg.segments.cut_hourly;
    o.segment.zstd_level = cfg.segments.zstd_level;
    o.segment.row_group_rows = cfg.segments.row_group_rows;
    o.default_offset_secs = cfg.syslog.default_timezone;
    o.ledger = Some(pramaan_vault::ledger::LedgerOptions {
        key_file: cfg.ledger_key_file(),
        origin: pramaan_vault::ledger::origin_for(
            cfg.node.organisation(),
            &cfg.node.resolved_name(),
        ),
        checkpoint_interval: cfg.ledger.checkpoint_interval,
        history_interval: cfg.ledger.history_interval,
    });
    o
}

/// The retention policy a configuration asks for.
pub fn retention_policy(cfg: &Config) -> pramaan_vault::retention::Policy {
    pramaan_vault::retention::Policy {
        default_days: cfg.retention.days,
        classes: cfg
            .retention
            .classes
            .iter()
            .map(|c| pramaan_vault::retention::Class {
                name: c.name.clone(),
                sources: c.sources.clone(),
                days: c.days,
            })
            .collect(),
    }
}

/// Runs retention every `interval`, the first time shortly after start,
/// until `stop` is set.
async fn retention_schedule(
    retention: std::sync::Arc<pramaan_vault::retention::Retention>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = interval.min(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match retention.run(pramaan_core::time::now_ns(), false).await {
            Ok(r) => tracing::info!(
                run = r.run,
                deleted = r.deleted.len(),
                held = r.held.len(),
                kept = r.kept,
                "retention run finished"
            ),
            Err(e) => {
                tracing::error!(error = %e, "retention run failed; it is tried again at the next interval")
            }
        }
        wait = interval;
    }
}

/// Addresses the running server actually listens on (ports may be 0 in tests).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Bound {
    pub http: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
}

/// Runs until `shutdown` completes, then drains and stops.
/// `on_ready` is told the bound addresses once every listener is up.
pub async fn serve(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Bound),
) -> Result<(), ServeError> {
    let metrics = telemetry::install();
    let (mut vault, workers) = Vault::open(vault_options(&cfg)).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut bound = Bound::default();
    let mut tasks = Vec::new();
    let limits = listeners::Limits {
        max_line: cfg.syslog.max_line as usize,
        max_connections: cfg.syslog.max_connections,
        idle_timeout: (!cfg.syslog.idle_timeout.is_zero()).then_some(cfg.syslog.idle_timeout),
    };
    if let Some(addr) = cfg.syslog.udp_listen {
        let sock = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "syslog UDP",
                addr,
                source,
            })?;
        bound.udp = sock.local_addr().ok();
        tasks.push(tokio::spawn(listeners::udp(
            sock,
            vault.clone(),
            limits.clone(),
            stop_rx.clone(),
        )));
    }
    if let Some(addr) = cfg.syslog.tcp_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "syslog TCP",
                addr,
                source,
            })?;
        bound.tcp = l.local_addr().ok();
        tasks.push(tokio::spawn(listeners::tcp(
            l,
            None,
            vault.clone(),
            limits.clone(),
            stop_rx.clone(),
        )));
    }
    if let Some(tls) = cfg.syslog.tls() {
        let acceptor = listeners::tls_acceptor(tls.cert, tls.key)?;
        let addr = tls.listen;
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "syslog TLS",
                addr,
                source,
            })?;
        bound.tls = l.local_addr().ok();
        tasks.push(tokio::spawn(listeners::tcp(
            l,
            Some(acceptor),
            vault.clone(),
            limits.clone(),
            stop_rx.clone(),
        )));
    }
    let http = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|source| ServeError::Bind {
            what: "HTTP",
            addr: cfg.http.listen,
            source,
        })?;
    bound.http = http.local_addr().ok();
    let state = api::AppState::new(vault.clone(), &cfg, metrics);
    if !cfg.retention.compliant() {
        tracing::warn!(windows = ?cfg.retention.short_windows(), "retention is NOT CERT-In compliant (under 180 days; retention.allow_non_compliant = true)");
    }
    let mut schedule = tokio::spawn(retention_schedule(
        state.retention(),
        cfg.retention.interval,
        stop_rx.clone(),
    ));
    let app = api::router(state);
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(async move {
        let _ = axum::serve(
            http,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        })
        .await;
    });
    tracing::info!(
        http = ?bound.http, udp = ?bound.udp, tcp = ?bound.tcp, tls = ?bound.tls,
        data_dir = %cfg.data_dir.display(), "pramaan is serving"
    );
    on_ready(&bound);
    shutdown.await;
    tracing::info!("shutting down: closing listeners, draining the write-ahead log");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), http_task).await;
    // A retention run in progress finishes (or, after a while, is dropped: every step is safe to cut).
    if tokio::time::timeout(Duration::from_secs(30), &mut schedule)
        .await
        .is_err()
    {
        schedule.abort();
        let _ = schedule.await;
    }
    vault.close();
    drop(vault);
    tokio::task::spawn_blocking(move || workers.join())
        .await
        .ok();
    tracing::info!("stopped");
    Ok(())
}
