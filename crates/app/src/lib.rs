//! The application layer: pramaan's operations (open an incident, register
//! an order, whois, add a user, search, ...) written once, each taking the
//! caller's [`Caller`] identity, authorised against THE access table
//! ([`access`]), audited before it returns data, and recording in the
//! ledger through its component's outbox. The HTTP API, the console and the
//! CLI only parse, call an [`Operation`] and render:
//!
//! * the API answers each operation at its route ([`Operation::ROUTE`]);
//! * the CLI runs the same operation over HTTP against a running server, or
//!   on the data directory itself through [`local::Local`] (as the local
//!   operator), with no second copy of the logic.
//!
//! Owns: the operations, the access table, the caller's identity type, the
//! errors a caller can see ([`AppError`]), how a configuration becomes vault
//! options. May not touch: HTTP (no axum, no status codes; the server maps
//! [`AppError`] to them), terminals, HTML; components' storage (each
//! component crate owns its tables).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod access;
pub mod alerting;
pub mod app;
pub mod audit_trail;
pub mod audited;
pub mod backup;
pub mod backup_s3;
pub mod clock;
pub mod databases;
pub mod desk;
pub mod detect;
pub mod detector;
pub mod doctor;
pub mod error;
pub mod holds;
pub mod ledger;
pub mod local;
pub mod op;
pub mod options;
pub mod orders;
pub mod registry;
pub mod search;
pub mod search_params;
pub mod status;
pub mod tokens;
pub mod users;
pub mod vasp;
pub mod whois;

pub use app::App;
pub use error::AppError;
pub use op::{Operation, Wire};
pub use pramaan_auth::Identity as Caller;
