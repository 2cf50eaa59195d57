//! IP attribution for pramaan: who held an address (and port) at an instant.
//!
//! * [`model`]: addresses/prefixes ([`Net`]) and [`Binding`]s with their
//!   validity `[start, end)`, port range and evidence sequence numbers;
//! * [`parse`]: session-log parsers (FreeRADIUS accounting, OpenVPN,
//!   the generic JSON event, CGNAT port blocks), pure, fuzzed;
//! * [`sources`]: which senders' lines the parsers may read (`attribution.sources`);
//! * [`tracker`]: pairs Starts and Stops into bindings;
//! * [`feed`]: vault records → parsers → tracker → store, with progress;
//! * [`index`]: the in-memory sorted index and its file format;
//! * [`store`]: the [`BindingStore`] trait; [`mem::MemStore`] (embedded,
//!   default) and [`pg::PgStore`] (PostgreSQL) implement it;
//! * [`csv_import`]: bulk import of the bindings CSV;
//! * [`whois`]: the audited lookup.
//!
//! Owns: session-log parsers, the binding tracker, the binding stores and the
//! audited whois lookup.
//! May not touch: HTTP, the vault's files (records come from the feeder, go out
//! through `LedgerSink`), who may call it.

// No function over 150 lines (clippy.toml): a long one is split into named steps.
#![warn(clippy::too_many_lines)]

pub mod csv_import;
pub mod feed;
pub mod index;
pub mod mem;
pub mod model;
pub mod parse;
pub mod pg;
pub mod sources;
pub mod store;
pub mod tracker;
pub mod whois;

pub use csv_import::{
    import_bindings_csv, read_bindings, read_bindings_csv, CsvChecker, ImportError, ImportReport,
    LineError,
};
pub use feed::{FeedReport, Feeder, LogRecord};
pub use mem::MemStore;
pub use model::{Binding, Kind, Net, Probe};
pub use pg::PgStore;
pub use sources::{Origin, SourceRule, Sources};
pub use store::{BindingStore, Erasure, FeedState, StoreError, StoreStats};
pub use whois::{whois, Answer, EvidenceRecord, Match, Outcome, Source, WhoisError};

/// Opens the configured store: PostgreSQL when `url` is a `postgres://` or
/// `postgresql://` URL (schema `pramaan_attribution`), else the embedded
/// store in `<data_dir>/attribution`.
pub async fn open_store(
    data_dir: &std::path::Path,
    url: Option<&str>,
) -> Result<std::sync::Arc<dyn BindingStore>, StoreError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => Ok(
            std::sync::Arc::new(PgStore::connect(u, "pramaan_attribution").await?),
        ),
        _ => {
            let dir = MemStore::dir_for(data_dir);
            let s = tokio::task::spawn_blocking(move || MemStore::open(&dir))
                .await
                .map_err(|e| StoreError::Other(e.to_string()))??;
            Ok(std::sync::Arc::new(s))
        }
    }
}
