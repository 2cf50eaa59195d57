//! `pramaan serve`: the syslog listeners and the HTTP API in front of the vault.

pub mod access;
pub mod api;
pub mod config_audit;
pub mod https;
pub mod listeners;
pub mod telemetry;

use pramaan_config::Config;
use pramaan_vault::Vault;
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
    #[error("the user store: {0}")]
    Auth(#[from] pramaan_auth::AuthError),
    #[error("{0}")]
    Invalid(String),
}

pub use pramaan_app::options::{retention_policy, vault_options};

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

/// Erases subscribers past retention every `interval` (legal holds
/// excepted), the first time shortly after start, until `stop` is set.
async fn registry_schedule(
    registry: std::sync::Arc<pramaan_registry::LazyRegistry>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = interval.min(Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        wait = interval;
        let reg = match registry.get().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the subscriber register; erasure is tried again at the next interval");
                continue;
            }
        };
        match reg
            .erase_expired(pramaan_core::time::now_ns(), false, "pramaan/schedule")
            .await
        {
            Ok(r) if r.erased.is_empty() && r.held.is_empty() => {}
            Ok(r) => tracing::info!(
                erased = r.erased.len(),
                held = r.held.len(),
                kept = r.kept,
                "subscriber erasure run finished"
            ),
            Err(e) => {
                tracing::error!(error = %e, "subscriber erasure failed; it is tried again at the next interval")
            }
        }
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
    telemetry::set_max_sources(cfg.metrics.max_sources);
    let (mut vault, workers) = Vault::open(vault_options(&cfg)).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut bound = Bound::default();
    let mut tasks = Vec::new();
    let limits = listeners::Limits {
        max_line: cfg.syslog.max_line as usize,
        max_connections: cfg.syslog.max_connections,
        max_connections_per_source: cfg.syslog.max_connections_per_source,
        idle_timeout: (!cfg.syslog.idle_timeout.is_zero()).then_some(cfg.syslog.idle_timeout),
        first_byte_timeout: (!cfg.syslog.first_byte_timeout.is_zero())
            .then_some(cfg.syslog.first_byte_timeout),
        allow: std::sync::Arc::new(
            listeners::AllowList::parse(&cfg.syslog.allow).map_err(ServeError::Invalid)?,
        ),
    };
    // The first admin, the bootstrap token (crate::access).
    access::bootstrap(&cfg)?;
    if !cfg.auth.audit_reads {
        tracing::warn!(
            "auth.audit_reads is false: searches, SQL queries and reads of the audit trail are \
             not recorded (meant for test rigs and benchmarks only)"
        );
    }
    // A configuration that differs from the last start is an audit event.
    if let Err(e) =
        config_audit::record_changes(&cfg, &pramaan_vault::sink::VaultSink::new(vault.clone()))
            .await
    {
        tracing::error!(error = %e, "could not record the configuration change in the audit trail");
    }
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
        let acceptor =
            listeners::tls_acceptor_with(tls.cert, tls.key, cfg.syslog.tls_client_ca.as_deref())?;
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
    // Records a crash left in the components' outboxes reach the ledger.
    let _outboxes = tokio::spawn({
        let state = state.clone();
        async move { state.flush_outboxes().await }
    });
    if !cfg.retention.compliant() {
        tracing::warn!(windows = ?cfg.retention.short_windows(), "retention is NOT CERT-In compliant (under 180 days; retention.allow_non_compliant = true)");
    }
    let mut schedule = tokio::spawn(retention_schedule(
        state.retention(),
        cfg.retention.interval,
        stop_rx.clone(),
    ));
    // Subscriber erasure (registry retention); stops on the same watch.
    let _registry_schedule = tokio::spawn(registry_schedule(
        state.registry(),
        cfg.registry.erase_interval,
        stop_rx.clone(),
    ));
    // IP attribution: session logs in the vault -> bindings; stops on the same watch.
    let _attribution_feed = tokio::spawn(api::whois::feed_task(
        state.attribution(),
        vault.clone(),
        stop_rx.clone(),
    ));
    // The clock monitor (NTP rounds, per-source skew); returns at once when clock.enabled = false.
    let clock_task = tokio::spawn(state.clock().run(vault.clone(), stop_rx.clone()));
    // Incident reminders before the 6-hour deadline, every desk.reminder_interval; same watch.
    let desk_reminders = state.desk().reminders(stop_rx.clone()).map(tokio::spawn);
    let app = api::router(state);
    let mut http_stop = stop_rx.clone();
    // HTTPS when http.tls_cert and http.tls_key are set (crate::https).
    let https = match (&cfg.http.tls_cert, &cfg.http.tls_key) {
        (Some(c), Some(k)) => Some(https::acceptor(c, k)?),
        (None, None) => None,
        _ => {
            return Err(ServeError::Invalid(
                "set http.tls_cert and http.tls_key together, or neither".into(),
            ))
        }
    };
    let http_task = tokio::spawn(async move {
        let stop = async move {
            let _ = http_stop.wait_for(|s| *s).await;
        };
        match https {
            None => {
                let _ = axum::serve(
                    http,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(stop)
                .await;
            }
            Some(acc) => {
                use axum::serve::ListenerExt;
                let l = match https::TlsListener::new(http, acc) {
                    Ok(l) => l.tap_io(|_| {}),
                    Err(e) => {
                        tracing::error!(error = %e, "HTTPS listener");
                        return;
                    }
                };
                let _ = axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(stop)
                    .await;
            }
        }
    });
    tracing::info!(
        http = ?bound.http, udp = ?bound.udp, tcp = ?bound.tcp, tls = ?bound.tls,
        data_dir = %cfg.data_dir.display(), "pramaan is serving"
    );
    on_ready(&bound);
    shutdown.await;
    tracing::info!("shutting down: closing listeners, draining the write-ahead log");
    let _ = stop_tx.send(true);
    // Running SQL queries and searches end now: an HTTP connection waiting
    // for one would otherwise hold the shutdown until its deadline.
    vault.stop_reads();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), http_task).await;
    // A clock round in progress ends within clock.timeout.
    let _ = tokio::time::timeout(Duration::from_secs(70), clock_task).await;
    // A reminder tick in progress (a webhook in its back-off) is cut after a while:
    // what it had not recorded is sent again by the next start.
    if let Some(mut t) = desk_reminders {
        if tokio::time::timeout(Duration::from_secs(15), &mut t)
            .await
            .is_err()
        {
            t.abort();
            let _ = t.await;
        }
    }
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
