//! The clock monitor's findings ([`ClockStatus`]): the latest sample of each
//! NTP server, whether the host is within `clock.threshold` of national
//! time, and the skew of each log source. `serve` runs the monitor; a
//! process that does not (the CLI on the data directory) reads what it kept.

use crate::{App, AppError, Caller, Operation};
use serde::{Deserialize, Serialize};

/// `GET /api/v1/clock`.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ClockStatus {}

impl Operation for ClockStatus {
    type Output = pramaan_clock::Status;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/clock";

    async fn run(self, app: &App, who: &Caller) -> Result<pramaan_clock::Status, AppError> {
        app.authorise::<Self>(who)?;
        Ok(app.clock().status())
    }
}
