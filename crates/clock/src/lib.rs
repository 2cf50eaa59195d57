//! Clock compliance (CERT-In direction 1: clocks follow NIC/NPL time).
//!
//! - [`packet`]: the NTPv4 header and timestamp arithmetic (pure).
//! - [`client`]: one mode-3 exchange over UDP, judged into an explicit
//!   [`client::State`] (ok, timeout, kiss-o'-death, unsynchronised, bad
//!   reply, unreachable).
//! - [`host`]: the host's own sync state from `chronyc -c tracking`.
//! - [`skew`]: per log source `received_at − event time` distributions
//!   (pure); [`vault_rows`] reads the rows from the vault with SQL.
//! - [`store`]: `clock.db`, the time series.
//! - [`Monitor`]: what `serve` runs: a round every `clock.interval` (query
//!   every server, read the host state, store the samples with one
//!   `pramaan:clock` record each staged in `clock.db`'s outbox, then append
//!   them: `pramaan_db::outbox`) and a skew pass every `clock.skew_interval`.
//!
//! Owns: NTP queries, host sync state, skew distributions, `clock.db`, the
//! monitor loop.
//! May not touch: HTTP, users and roles, the vault's files (it reads records
//! through SQL and appends through `LedgerSink`).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod host;
pub mod packet;
pub mod skew;

#[cfg(feature = "monitor")]
pub mod client;
#[cfg(feature = "monitor")]
mod monitor;
#[cfg(feature = "monitor")]
pub mod schema;
#[cfg(feature = "monitor")]
pub mod store;
#[cfg(feature = "monitor")]
pub mod vault_rows;

#[cfg(feature = "monitor")]
pub use monitor::*;
