//! The clock monitor over HTTP:
//!
//! * `GET /api/v1/clock`: the latest sample of each NTP server (offset,
//!   delay, stratum, reference id, leap indicator, state), whether the host
//!   is within `clock.threshold` of national time, the host's own sync
//!   state (chrony), and the per-source skew distributions with the flagged
//!   sources; every time in IST with UTC alongside.

use super::op::answer;
use super::{ApiError, AppState};
use crate::caller::Authenticated;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use pramaan_app::clock::ClockStatus;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/clock", get(status))
}

async fn status(
    State(st): State<Arc<AppState>>,
    Authenticated(who): Authenticated,
) -> Result<Json<pramaan_clock::Status>, ApiError> {
    answer(&st.app, &who, ClockStatus {}).await
}

/// The monitor's options from the configuration.
pub use pramaan_app::options::clock_options;
