//! The clock monitor over HTTP:
//!
//! * `GET /api/v1/clock`: the latest sample of each NTP server (offset,
//!   delay, stratum, reference id, leap indicator, state), whether the host
//!   is within `clock.threshold` of national time, the host's own sync
//!   state (chrony), and the per-source skew distributions with the flagged
//!   sources; every time in IST with UTC alongside.

use super::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/clock", get(status))
}

async fn status(State(st): State<Arc<AppState>>) -> Json<pramaan_clock::Status> {
    Json(st.clock.status())
}

/// The monitor's options from the configuration.
pub fn clock_options(cfg: &pramaan_config::Config) -> pramaan_clock::ClockOptions {
    let c = &cfg.clock;
    pramaan_clock::ClockOptions {
        enabled: c.enabled,
        servers: c.server_list(),
        interval: c.interval,
        timeout: c.timeout,
        threshold: c.threshold,
        skew_interval: c.skew_interval,
        skew_window: c.skew_window,
        zones: pramaan_clock::skew::ZoneMap {
            entries: c.source_zone_list().unwrap_or_default(),
        },
        db_path: cfg.data_dir.join("clock.db"),
        keep: std::time::Duration::from_secs(cfg.retention.days.saturating_mul(86_400)),
        chronyc: "chronyc".into(),
        chronyc_socket: None,
    }
}
