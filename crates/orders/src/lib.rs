//! Lawful orders (CERT-In directions, obligation 3) and the evidence bundles
//! that answer them.
//!
//! * [`scope`]: an order's time window and selectors, and exactly which log
//!   lines they cover (pure; property-tested against a brute-force filter).
//! * [`state`]: `received → approved → exported → delivered → closed`, the
//!   four-eyes rule, and the time left to the deadline (pure).
//! * [`store`]: the register in `<data_dir>/orders.db` (SQLite): each change
//!   one transaction with an `events` row, then appended to the ledger as a
//!   `pramaan:order` record.
//! * [`export`]: reads the records in scope from the vault, with the proof
//!   hashes of the latest signed checkpoint, and writes the bundle.
//! * [`bundle`]: the bundle's files and its deterministic ZIP ([`zip`]).
//! * [`proofs`]: per-record RFC 9162 inclusion proofs shared through the
//!   few subtree hashes the records do not give.
//! * [`verify`]: `verify-bundle`, offline: only the pure crates.
//!
//! Owns: the order register (`orders.db`), scopes, the four-eyes rule, exports,
//! bundles and their offline verification.
//! May not touch: HTTP, users and roles (the approver is whoever the
//! application layer says called), the vault's files beyond reading records.

// No function over 150 lines (clippy.toml): a long one is split into named steps.
#![warn(clippy::too_many_lines)]

pub mod bundle;
#[cfg(feature = "register")]
pub mod export;
pub mod proofs;
#[cfg(feature = "register")]
pub mod record;
#[cfg(feature = "register")]
pub mod schema;
pub mod scope;
pub mod state;
#[cfg(feature = "register")]
pub mod store;
pub mod verify;
pub mod zip;

pub use scope::{IpSelector, Scope, SubscriberBinding};
pub use state::{Action, State};
pub use verify::{verify_bundle, Summary, VerifyError};
