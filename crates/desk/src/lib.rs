//! The incident desk: incidents of the 20 kinds of CERT-In's Annexure I, the
//! 6-hour clock of each, the point of contact, the report rendered from an
//! editable template and sent by SMTP with the log excerpt attached, and the
//! reminders before the deadline.
//!
//! Pure parts ([`kinds`], [`clock`]) hold the rules; [`store::Desk`] keeps
//! incidents in `<data_dir>/desk.db` and appends every change to the ledger
//! through [`pramaan_core::LedgerSink`]; [`render`], [`export`], [`mail`] and
//! [`remind`] do the I/O at the edges, always with the time passed in.
//!
//! [`alerts`] keeps the compliance alerts (firing, resolved, acknowledged)
//! and sends them by e-mail and to Alertmanager.
//! [`detections`] keeps what Sigma rules detected, and opens or adds to
//! incidents for them in the same transaction as the detector's progress.
//!
//! Owns: incidents, detections, the 6-hour clock, the point of contact, reports, mail,
//! reminders, `desk.db`.
//! May not touch: HTTP, users and roles, the vault's files (records go through
//! `LedgerSink`; searches come from the caller).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod alerts;
pub mod clock;
pub mod detections;
pub mod export;
pub mod kinds;
pub mod mail;
pub mod model;
pub mod record;
pub mod remind;
pub mod render;
pub mod schema;
pub mod settings;
pub mod store;

pub use model::*;
pub use settings::{Security, Settings, SmtpSettings};
pub use store::{Desk, ReminderRow, LEDGER_SOURCE};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("unknown incident kind `{code}`: use one of the codes of CERT-In's Annexure I (or its number 1-20): {valid}")]
    UnknownKind { code: String, valid: String },
    #[error("give at least one incident kind: one of {valid}")]
    NoKind { valid: String },
    #[error("{field} is in the future ({value}; now is {now}): give the time the incident was detected or notified, not a later one")]
    FutureTime {
        field: &'static str,
        value: String,
        now: String,
    },
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("no incident #{id}")]
    NotFound { id: i64 },
    #[error("incident #{id} is {state}: cannot {action} it")]
    BadState {
        id: i64,
        state: &'static str,
        action: &'static str,
    },
    #[error("no point of contact is set: CERT-In needs the designated point of contact in every report; set one with `pramaan poc set --name ... --designation ... --organisation ... --email ... --mobile ...`")]
    NoPoc,
    #[error("template {template}: unknown placeholder `{name}` (see docs/incident-report.md for every placeholder)")]
    UnknownPlaceholder { template: String, name: String },
    #[error("template {template}: {why}")]
    Template { template: String, why: String },
    #[error("configuration {key}: {why}")]
    Config { key: &'static str, why: String },
    #[error("opening the incident database: {0}")]
    Open(#[from] pramaan_db::OpenError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("incident database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored {what} does not read back: {why}")]
    Corrupt { what: String, why: String },
    #[error("building the message: {0}")]
    Message(String),
}

impl DeskError {
    pub(crate) fn json(e: serde_json::Error) -> DeskError {
        DeskError::Message(e.to_string())
    }

    /// True for errors in what the user gave (HTTP 400), as opposed to
    /// missing things (404) or failures of the store (500).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            DeskError::UnknownKind { .. }
                | DeskError::NoKind { .. }
                | DeskError::FutureTime { .. }
                | DeskError::Invalid { .. }
                | DeskError::BadState { .. }
                | DeskError::NoPoc
                | DeskError::UnknownPlaceholder { .. }
                | DeskError::Template { .. }
                | DeskError::Config { .. }
        )
    }
}
