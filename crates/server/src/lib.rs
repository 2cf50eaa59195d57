//! `pramaan serve`: the syslog listeners and the HTTP API in front of the vault.
//!
//! Owns: the listeners, the router and its handlers, the access guard
//! (`access` decides, `gate` says a refusal as JSON or a console page,
//! `caller` hands handlers the authenticated caller), the security headers,
//! metrics, and starting and stopping it all. May not touch: the access
//! table itself and the operations (`pramaan-app`), components' storage
//! (their crates), terminals.

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod access;
pub mod api;
pub mod caller;
pub mod config_audit;
pub mod error;
pub mod follow;
pub mod gate;
pub mod headers;
pub mod https;
pub mod listeners;
pub mod radius;
pub mod relp;
pub mod telemetry;
pub mod wireguard;

pub use error::ServeError;

use pramaan_config::Config;
use pramaan_vault::Vault;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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
/// excepted), and the IP bindings with them, the first time shortly after
/// start, until `stop` is set.
async fn registry_schedule(
    app: std::sync::Arc<pramaan_app::App>,
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
        match pramaan_app::registry::erase_expired(
            &app,
            pramaan_core::time::now_ns(),
            false,
            "pramaan/schedule",
        )
        .await
        {
            Ok(r) if r.erased.is_empty() && r.held.is_empty() && r.bindings_erased == Some(0) => {}
            Ok(r) => tracing::info!(
                erased = r.erased.len(),
                held = r.held.len(),
                kept = r.kept,
                bindings_erased = r.bindings_erased.unwrap_or(0),
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
    /// The RADIUS accounting server (`radius.listen`).
    pub radius: Option<SocketAddr>,
    /// The RELP listener (`relp.listen`).
    pub relp: Option<SocketAddr>,
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
    let (vault, workers) = Vault::open(vault_options(&cfg)).await?;
    // What the vault held before any listener took a line: where detection
    // rules start on their first run.
    let opened_at = vault.committed();
    // Every database at this binary's schema, or no start (a newer one);
    // after the vault, so that the data directory's lock is held.
    pramaan_app::databases::migrate_existing(&cfg)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut bound = Bound::default();
    let limits = listener_limits(&cfg)?;
    before_serving(&cfg, &vault).await?;
    let mut syslog = start_syslog(&cfg, &vault, &limits, &stop_rx, &mut bound).await?;
    syslog.extend(start_radius(&cfg, &vault, &stop_rx, &mut bound).await?);
    syslog.extend(start_relp(&cfg, &vault, &limits, &stop_rx, &mut bound).await?);
    syslog.extend(start_followers(&cfg, &vault, &stop_rx));
    // The WireGuard poller stores lines like a listener: it ends before the vault closes.
    if !cfg.wireguard.interval.is_zero() {
        syslog.push(tokio::spawn(wireguard::run(
            vault.clone(),
            cfg.data_dir.clone(),
            cfg.wireguard.clone(),
            stop_rx.clone(),
        )));
    }
    let (http, https) = bind_http(&cfg, &mut bound).await?;
    let state = api::AppState::new(vault.clone(), &cfg, metrics);
    // Records a crash left in the components' outboxes reach the ledger.
    let outboxes = tokio::spawn({
        let state = state.clone();
        async move { state.flush_outboxes().await }
    });
    // Polled once now so that the signal handlers are installed before
    // anyone is told we are ready (a SIGTERM right after the ready file
    // would otherwise kill the process without a clean shutdown).
    let mut shutdown = std::pin::pin!(shutdown);
    let stopping = futures::poll!(shutdown.as_mut()).is_ready();
    let router = api::router(state.clone());
    let http_task = tokio::spawn(run_http(http, https, router, stop_rx.clone()));
    tracing::info!(
        http = ?bound.http, udp = ?bound.udp, tcp = ?bound.tcp, tls = ?bound.tls, radius = ?bound.radius, relp = ?bound.relp,
        data_dir = %cfg.data_dir.display(), "pramaan is serving"
    );
    // Ready (the listeners are bound) before the background work starts, so
    // that a script waiting for the ready file never races the first clock
    // round or retention run.
    on_ready(&bound);
    let background = Background::start(&cfg, &state, &vault, opened_at, &stop_rx);
    // The tasks hold what they need; this handle must not keep the vault open.
    drop(state);
    if !stopping {
        shutdown.await;
    }
    tracing::info!("shutting down: closing listeners, draining the write-ahead log");
    let _ = stop_tx.send(true);
    // What it did not append yet stays pending for the next start (found,
    // never appended twice); it must not hold the vault open.
    outboxes.abort();
    let _ = outboxes.await;
    shut_down(vault, workers, syslog, http_task, background).await;
    tracing::info!("stopped");
    Ok(())
}

/// The syslog listeners' limits from `[syslog]`.
fn listener_limits(cfg: &Config) -> Result<listeners::Limits, ServeError> {
    Ok(listeners::Limits {
        max_line: cfg.syslog.max_line as usize,
        max_connections: cfg.syslog.max_connections,
        max_connections_per_source: cfg.syslog.max_connections_per_source,
        idle_timeout: (!cfg.syslog.idle_timeout.is_zero()).then_some(cfg.syslog.idle_timeout),
        first_byte_timeout: (!cfg.syslog.first_byte_timeout.is_zero())
            .then_some(cfg.syslog.first_byte_timeout),
        allow: std::sync::Arc::new(
            listeners::AllowList::parse(&cfg.syslog.allow).map_err(ServeError::Invalid)?,
        ),
    })
}

/// Before anything listens: the first admin and the bootstrap token, the
/// warnings a configuration deserves, and a changed configuration on the
/// audit trail.
async fn before_serving(cfg: &Config, vault: &Vault) -> Result<(), ServeError> {
    access::bootstrap(cfg)?;
    if !cfg.auth.audit_reads {
        tracing::warn!(
            "auth.audit_reads is false: searches, SQL queries and reads of the audit trail are \
             not recorded (meant for test rigs and benchmarks only)"
        );
    }
    if !cfg.retention.compliant() {
        tracing::warn!(windows = ?cfg.retention.short_windows(), "retention is NOT CERT-In compliant (under 180 days; retention.allow_non_compliant = true)");
    }
    // A configuration that differs from the last start is an audit event.
    if let Err(e) =
        config_audit::record_changes(cfg, &pramaan_vault::sink::VaultSink::new(vault.clone())).await
    {
        tracing::error!(error = %e, "could not record the configuration change in the audit trail");
    }
    Ok(())
}

async fn bind_tcp(
    what: &'static str,
    addr: SocketAddr,
) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}

/// The syslog listeners the configuration asks for (UDP, TCP, TLS), each a task.
async fn start_syslog(
    cfg: &Config,
    vault: &Vault,
    limits: &listeners::Limits,
    stop: &watch::Receiver<bool>,
    bound: &mut Bound,
) -> Result<Vec<JoinHandle<()>>, ServeError> {
    let mut tasks = Vec::new();
    if let Some(addr) = cfg.syslog.udp_listen {
        let sock = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                what: "syslog UDP",
                addr,
                source,
            })?;
        bound.udp = sock.local_addr().ok();
        let task = listeners::udp(sock, vault.clone(), limits.clone(), stop.clone());
        tasks.push(tokio::spawn(task));
    }
    if let Some(addr) = cfg.syslog.tcp_listen {
        let l = bind_tcp("syslog TCP", addr).await?;
        bound.tcp = l.local_addr().ok();
        let task = listeners::tcp(l, None, vault.clone(), limits.clone(), stop.clone());
        tasks.push(tokio::spawn(task));
    }
    if let Some(tls) = cfg.syslog.tls() {
        let acceptor =
            listeners::tls_acceptor_with(tls.cert, tls.key, cfg.syslog.tls_client_ca.as_deref())?;
        let l = bind_tcp("syslog TLS", tls.listen).await?;
        bound.tls = l.local_addr().ok();
        let task = listeners::tcp(
            l,
            Some(acceptor),
            vault.clone(),
            limits.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(task));
    }
    Ok(tasks)
}

/// The RADIUS accounting server when `radius.listen` is set: its secrets
/// read (or no start, naming the key), its socket bound, its task.
async fn start_radius(
    cfg: &Config,
    vault: &Vault,
    stop: &watch::Receiver<bool>,
    bound: &mut Bound,
) -> Result<Option<JoinHandle<()>>, ServeError> {
    let Some(addr) = cfg.radius.listen else {
        return Ok(None);
    };
    let secrets = radius::Secrets::load(&cfg.radius)?;
    let sock = tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            what: "RADIUS accounting",
            addr,
            source,
        })?;
    bound.radius = sock.local_addr().ok();
    Ok(Some(tokio::spawn(radius::serve(
        sock,
        vault.clone(),
        secrets,
        cfg.radius.max_pending,
        stop.clone(),
    ))))
}

/// The RELP listener when `relp.listen` is set (TLS when `relp.tls_cert`
/// and `relp.tls_key` are), with the syslog listeners' limits.
async fn start_relp(
    cfg: &Config,
    vault: &Vault,
    limits: &listeners::Limits,
    stop: &watch::Receiver<bool>,
    bound: &mut Bound,
) -> Result<Option<JoinHandle<()>>, ServeError> {
    let Some(addr) = cfg.relp.listen else {
        return Ok(None);
    };
    let tls = match (&cfg.relp.tls_cert, &cfg.relp.tls_key) {
        (Some(c), Some(k)) => Some(listeners::tls_acceptor(c, k)?),
        _ => None,
    };
    let l = bind_tcp("RELP", addr).await?;
    bound.relp = l.local_addr().ok();
    Ok(Some(tokio::spawn(relp::serve(
        l,
        tls,
        vault.clone(),
        limits.clone(),
        stop.clone(),
    ))))
}

/// One follower per path in `files.paths`, each on a blocking thread.
fn start_followers(
    cfg: &Config,
    vault: &Vault,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let settings = follow::Settings {
        data_dir: cfg.data_dir.clone(),
        max_line: cfg.syslog.max_line as usize,
        partial_wait: cfg.files.partial_wait,
        poll_interval: cfg.files.poll_interval,
    };
    cfg.files
        .list()
        .into_iter()
        .map(|path| {
            tracing::info!(path = %path.display(), "following a file");
            let f = follow::Follower::new(
                path,
                vault.clone(),
                tokio::runtime::Handle::current(),
                settings.clone(),
                stop.clone(),
            );
            tokio::task::spawn_blocking(move || f.run())
        })
        .collect()
}

/// The HTTP listener, and the TLS acceptor when `http.tls_cert` and
/// `http.tls_key` are set (HTTPS: `https`).
async fn bind_http(
    cfg: &Config,
    bound: &mut Bound,
) -> Result<(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>), ServeError> {
    let http = bind_tcp("HTTP", cfg.http.listen).await?;
    bound.http = http.local_addr().ok();
    let https = match (&cfg.http.tls_cert, &cfg.http.tls_key) {
        (Some(c), Some(k)) => Some(https::acceptor(c, k)?),
        (None, None) => None,
        _ => {
            return Err(ServeError::Invalid(
                "set http.tls_cert and http.tls_key together, or neither".into(),
            ))
        }
    };
    Ok((http, https))
}

/// Serves the router until `stop` is set (HTTPS when an acceptor is given).
async fn run_http(
    http: tokio::net::TcpListener,
    https: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    let stop = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    match https {
        None => {
            let _ = axum::serve(http, service)
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
            let _ = axum::serve(l, service).with_graceful_shutdown(stop).await;
        }
    }
}

/// The tasks `serve` runs beside the listeners, all stopped by the same watch.
struct Background {
    retention: JoinHandle<()>,
    clock: JoinHandle<()>,
    desk_reminders: Option<JoinHandle<()>>,
    detector: Option<JoinHandle<()>>,
    alerts: JoinHandle<()>,
}

impl Background {
    fn start(
        cfg: &Config,
        state: &api::AppState,
        vault: &Vault,
        opened_at: u64,
        stop: &watch::Receiver<bool>,
    ) -> Background {
        let retention = tokio::spawn(retention_schedule(
            state.retention(),
            cfg.retention.interval,
            stop.clone(),
        ));
        // Subscriber erasure (registry retention); ends with the watch.
        tokio::spawn(registry_schedule(
            state.app().clone(),
            cfg.registry.erase_interval,
            stop.clone(),
        ));
        // IP attribution: session logs in the vault -> bindings; ends with the watch.
        tokio::spawn(api::whois::feed_task(
            state.attribution(),
            vault.clone(),
            stop.clone(),
        ));
        // The clock monitor (NTP rounds, per-source skew); returns at once when clock.enabled = false.
        let clock = tokio::spawn(state.clock().run(vault.clone(), stop.clone()));
        // Incident reminders before the 6-hour deadline, every desk.reminder_interval.
        let desk_reminders = state.desk().reminders(stop.clone()).map(tokio::spawn);
        // Sigma rules over each new line (returns at once without detect.rules_dir).
        let detector = match (&cfg.detect.rules_dir, state.app().desk().desk()) {
            (Some(_), Ok(desk)) => Some(tokio::spawn(pramaan_app::detector::run(
                Arc::new(cfg.clone()),
                vault.clone(),
                opened_at,
                desk.clone(),
                stop.clone(),
            ))),
            (Some(_), Err(e)) => {
                tracing::error!(error = %e, "detect.rules_dir is set but the incident desk is unavailable: no rule runs");
                None
            }
            (None, _) => None,
        };
        // Compliance alerts (silent sources, clock, storage, checkpoints, retention).
        let alerts = tokio::spawn(pramaan_app::alerting::run(
            state.app().clone(),
            stop.clone(),
        ));
        Background {
            retention,
            clock,
            desk_reminders,
            detector,
            alerts,
        }
    }
}

/// Waits for `task` up to `limit`, then cuts it (what it had not finished
/// is safe to cut: the next start does it again).
async fn finish_or_abort(mut task: JoinHandle<()>, limit: Duration) {
    if tokio::time::timeout(limit, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
    }
}

/// After the stop signal: reads end, listeners and the HTTP server drain,
/// background work finishes or is cut, then the vault closes.
async fn shut_down(
    mut vault: Vault,
    workers: pramaan_vault::Workers,
    syslog: Vec<JoinHandle<()>>,
    http: JoinHandle<()>,
    background: Background,
) {
    // Running SQL queries and searches end now: an HTTP connection waiting
    // for one would otherwise hold the shutdown until its deadline.
    vault.stop_reads();
    for t in syslog {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), http).await;
    // A clock round in progress ends within clock.timeout.
    let _ = tokio::time::timeout(Duration::from_secs(70), background.clock).await;
    // A reminder tick in progress (a webhook in its back-off) is cut after a while:
    // what it had not recorded is sent again by the next start.
    if let Some(t) = background.desk_reminders {
        finish_or_abort(t, Duration::from_secs(15)).await;
    }
    // A detector batch is recorded whole or not at all: cutting it is safe.
    if let Some(t) = background.detector {
        finish_or_abort(t, Duration::from_secs(15)).await;
    }
    // An alert round in progress (a webhook in its back-off) is cut: what
    // it had not recorded is done again by the next start.
    finish_or_abort(background.alerts, Duration::from_secs(15)).await;
    // A retention run in progress finishes (or, after a while, is dropped: every step is safe to cut).
    finish_or_abort(background.retention, Duration::from_secs(30)).await;
    vault.close();
    drop(vault);
    tokio::task::spawn_blocking(move || workers.join())
        .await
        .ok();
}
