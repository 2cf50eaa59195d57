//! A full disk: telling "no space left" apart from other write failures, and
//! the state the writer, the sealer, ingest and the status page share.
//!
//! What happens when the data directory's filesystem fills up:
//! - The WAL append fails (`ENOSPC`); [`crate::wal::Wal::append`] cuts what
//!   was partly written, so nothing torn is left before the next frame.
//! - Lines waiting for an acknowledgement (HTTP, internal) are refused with
//!   [`crate::AppendError::StorageFull`] (HTTP 507 with `Retry-After`).
//! - Lines without one (syslog TCP and TLS) are kept by the writer and
//!   retried; while it holds them it stops taking more, so the listeners stop
//!   reading their sockets (back-pressure) instead of dropping. UDP cannot be
//!   paused: datagrams are counted as refused (`reason="storage_full"`).
//! - A seal that fails for lack of space is retried by the sealer; its
//!   records stay in the WAL and memtable meanwhile.
//! - When space returns, the next WAL append (the held lines' retry, or any
//!   new request) and the next seal succeed, and the flags clear themselves.

use std::error::Error;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// True when `e` means the filesystem (or the user's quota) is full.
pub fn io_is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(28 /* ENOSPC */ | 122 /* EDQUOT */))
}

/// True when any error in `e`'s source chain is a full disk: an I/O error,
/// or SQLite's "database or disk is full".
pub fn chain_is_full(e: &(dyn Error + 'static)) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io_is_full(io) {
                return true;
            }
        }
        if let Some(sq) = err.downcast_ref::<rusqlite::Error>() {
            if sq.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// Which part of the vault last found the disk full, shared by the writer,
/// the sealer, [`crate::Vault::append`] and the status page.
#[derive(Debug, Default)]
pub struct StorageState {
    wal_full: AtomicBool,
    seal_full: AtomicBool,
    /// The writer holds syslog lines it could not write and retries them by
    /// itself (so new acknowledged appends are refused without a try).
    holding: AtomicBool,
    /// Lines refused because the disk was full (all transports).
    refused_lines: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// What the start found open to group or others ([`crate::modes`]).
    loose_modes: Mutex<crate::modes::LooseModes>,
}

/// What `/api/v1/status` shows about the disk.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StorageStatus {
    pub storage_full: bool,
    /// Why ingest is pushing back, in words; `None` when it is not.
    pub storage_full_reason: Option<String>,
    pub lines_refused_storage_full: u64,
    /// Ingest is paused for lack of space: the writer holds syslog lines it
    /// had no room for, or the sealer cannot seal; the syslog listeners stop
    /// reading their sockets and HTTP ingest answers 507 until it clears.
    pub ingest_paused: bool,
    /// Entries of the data directory (relative, with their mode) that group
    /// or others may use, as found at start ([`crate::modes`]); at most
    /// [`crate::modes::MAX_LISTED`], `loose_file_modes_count` counts them all.
    pub loose_file_modes: Vec<String>,
    pub loose_file_modes_count: u64,
}

impl StorageState {
    pub(crate) fn set_loose_modes(&self, found: crate::modes::LooseModes) {
        *self.loose_modes.lock().expect("storage lock") = found;
    }

    pub(crate) fn set_wal_full(&self, full: bool, err: Option<&str>) {
        self.wal_full.store(full, Ordering::Release);
        self.note(err);
    }

    pub(crate) fn set_seal_full(&self, full: bool, err: Option<&str>) {
        self.seal_full.store(full, Ordering::Release);
        self.note(err);
    }

    pub(crate) fn set_holding(&self, holding: bool) {
        self.holding.store(holding, Ordering::Release);
    }

    pub(crate) fn count_refused(&self, n: u64) {
        self.refused_lines.fetch_add(n, Ordering::Relaxed);
    }

    fn note(&self, err: Option<&str>) {
        if let Some(e) = err {
            *self.last_error.lock().expect("storage lock") = Some(e.to_owned());
        }
        let full = self.is_full();
        metrics::gauge!("pramaan_storage_full").set(if full { 1.0 } else { 0.0 });
        metrics::gauge!("pramaan_storage_full_part", "part" => "wal").set(
            if self.wal_full.load(Ordering::Acquire) {
                1.0
            } else {
                0.0
            },
        );
        metrics::gauge!("pramaan_storage_full_part", "part" => "segments").set(
            if self.seal_full.load(Ordering::Acquire) {
                1.0
            } else {
                0.0
            },
        );
    }

    pub(crate) fn is_wal_full(&self) -> bool {
        self.wal_full.load(Ordering::Acquire)
    }

    pub(crate) fn is_seal_full(&self) -> bool {
        self.seal_full.load(Ordering::Acquire)
    }

    /// The disk was full at the last WAL append or seal.
    pub fn is_full(&self) -> bool {
        self.wal_full.load(Ordering::Acquire) || self.seal_full.load(Ordering::Acquire)
    }

    /// New acknowledged appends are refused at once: the writer is already
    /// retrying held lines, or the sealer cannot seal (the writer would soon
    /// block behind it). Both retry by themselves, so this clears without a
    /// new request having to probe.
    pub fn refuses_new(&self) -> bool {
        self.holding.load(Ordering::Acquire) || self.seal_full.load(Ordering::Acquire)
    }

    pub fn status(&self) -> StorageStatus {
        let wal = self.wal_full.load(Ordering::Acquire);
        let seal = self.seal_full.load(Ordering::Acquire);
        let last = self.last_error.lock().expect("storage lock").clone();
        let reason = match (wal, seal) {
            (false, false) => None,
            (true, false) => Some("the disk holding the write-ahead log is full"),
            (false, true) => Some("the disk holding the segments is full; sealing is retried"),
            (true, true) => {
                Some("the data directory's disk is full (write-ahead log and segments)")
            }
        }
        .map(|r| match &last {
            Some(e) => format!("{r}: {e}; ingest resumes by itself when space is freed"),
            None => format!("{r}; ingest resumes by itself when space is freed"),
        });
        let loose = self.loose_modes.lock().expect("storage lock").clone();
        StorageStatus {
            loose_file_modes: loose.listed.iter().map(ToString::to_string).collect(),
            loose_file_modes_count: loose.count,
            storage_full: wal || seal,
            storage_full_reason: reason,
            lines_refused_storage_full: self.refused_lines.load(Ordering::Relaxed),
            ingest_paused: self.refuses_new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(io::Error);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "wrapped")
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn finds_enospc_anywhere_in_the_chain() {
        let enospc = io::Error::from_raw_os_error(28);
        assert!(io_is_full(&enospc));
        assert!(chain_is_full(&Wrap(enospc)));
        assert!(!chain_is_full(&Wrap(io::Error::from_raw_os_error(5))));
        assert!(!io_is_full(&io::Error::other("x")));
        let sq = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(chain_is_full(&sq));
    }

    #[test]
    fn status_says_why_and_clears() {
        let s = StorageState::default();
        assert!(!s.status().storage_full);
        s.set_wal_full(true, Some("No space left on device (os error 28)"));
        let st = s.status();
        assert!(st.storage_full);
        let r = st.storage_full_reason.unwrap();
        assert!(r.contains("write-ahead log is full"), "{r}");
        assert!(r.contains("No space left"), "{r}");
        assert!(!s.refuses_new());
        s.set_holding(true);
        assert!(s.refuses_new());
        s.set_holding(false);
        s.set_wal_full(false, None);
        assert!(!s.status().storage_full);
        assert!(s.status().storage_full_reason.is_none());
    }
}
