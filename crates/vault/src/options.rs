//! What a vault is opened with: the options of the engine, of compaction
//! and of SQL, taken from the configuration.
//!
//! Plain data in a module of its own, so that the parts they configure
//! (`vault`, `compact`, `sql`) all read them without reaching into each
//! other.

use crate::segment::SegmentOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the vault needs to know, taken from the configuration.
#[derive(Clone, Debug)]
pub struct VaultOptions {
    pub data_dir: PathBuf,
    /// The local directory of objects (when `s3` is `None`).
    pub objects_dir: PathBuf,
    /// Objects in a bucket of an S3-compatible store instead (`storage.url
    /// = "s3://..."`).
    pub s3: Option<crate::objects::s3::S3Options>,
    /// Where the store is declared to be (`storage.location`), checked
    /// against a bucket's own answer ([`crate::objects::region`]).
    pub location: pramaan_config::location::Location,
    /// Keep the bucket's objects under S3 Object Lock (COMPLIANCE) until
    /// their windows under this policy end (`storage.object_lock`;
    /// [`crate::objects::lock`]).
    pub object_lock: Option<crate::retention::Policy>,
    /// The SQLite catalog's file (when `catalog_postgres` is `None`).
    pub catalog_path: PathBuf,
    /// The catalog in PostgreSQL (`catalog.url = "postgres://..."`).
    pub catalog_postgres: Option<crate::catalog::PgLocation>,
    pub fsync: bool,
    pub wal_file_bytes: u64,
    pub wal_max_batch: usize,
    pub seal_max_rows: u64,
    pub seal_max_bytes: u64,
    pub seal_max_age: Duration,
    pub cut_hourly: bool,
    pub segment: SegmentOptions,
    /// Rewriting sealed segments smaller in the background (`compact`).
    pub compact: CompactOptions,
    /// The zone zone-less stamps are read in (`syslog.default_timezone`)...
    pub default_offset_secs: i32,
    /// ...unless their source has its own (`clock.source_zones`).
    pub source_zones: pramaan_core::zones::ZoneMap,
    /// The Merkle ledger over every record; `None` runs without one (for
    /// benchmarks that measure its cost).
    pub ledger: Option<crate::ledger::LedgerOptions>,
    /// Rebuild the tree over the stored records because their checkpoints
    /// are missing (`pramaan ledger rebuild`; see [`crate::ledger`]).
    /// `None`: such a vault refuses to open.
    pub ledger_rebuild: Option<crate::ledger::RebuildRequest>,
    /// Nice value of the threads that scan segments for searches
    /// (`segments.search_nice`; 0: ingest's priority). See [`crate::priority`].
    pub search_nice: i32,
    /// The limits of every SQL query (`sql.*`; the `sql` module).
    pub sql: SqlOptions,
}

impl VaultOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        VaultOptions {
            objects_dir: data_dir.join("objects"),
            s3: None,
            location: pramaan_config::location::Location::Undeclared,
            object_lock: None,
            catalog_path: data_dir.join("catalog.db"),
            catalog_postgres: None,
            ledger: Some(crate::ledger::LedgerOptions::new(&data_dir)),
            data_dir,
            fsync: true,
            wal_file_bytes: 64 << 20,
            wal_max_batch: 4 << 20,
            seal_max_rows: 1_000_000,
            seal_max_bytes: 16 << 20,
            seal_max_age: Duration::from_secs(300),
            cut_hourly: true,
            segment: SegmentOptions::default(),
            compact: CompactOptions::off(),
            default_offset_secs: pramaan_core::time::IST_OFFSET_SECS,
            source_zones: Default::default(),
            search_nice: 10,
            ledger_rebuild: None,
            sql: Default::default(),
        }
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.data_dir.join("wal")
    }
    pub fn objects_dir(&self) -> PathBuf {
        self.objects_dir.clone()
    }
    pub fn catalog_path(&self) -> PathBuf {
        self.catalog_path.clone()
    }
}

/// When and how segments are rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactOptions {
    /// zstd level of the rewrite; 0 switches compaction off.
    pub level: i32,
    /// Largest data page of the rewrite, in bytes.
    pub page_bytes: usize,
    /// A segment is rewritten once it has been sealed this long.
    pub after: Duration,
}

impl CompactOptions {
    /// No compaction (the library default; `serve` takes it from the configuration).
    pub fn off() -> Self {
        CompactOptions {
            level: 0,
            page_bytes: 8 << 20,
            after: Duration::from_secs(600),
        }
    }

    pub fn enabled(&self) -> bool {
        self.level > 0
    }
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self::off()
    }
}

/// The `[sql]` limits of every query (`sql.*` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlOptions {
    /// `sql.timeout`: a query still running after this is cancelled.
    pub timeout: Duration,
    /// `sql.memory_limit`: bytes the operators of all running queries
    /// (joins, sorts, aggregations) may hold together.
    pub memory_limit: u64,
    /// `sql.max_result_rows`.
    pub max_result_rows: u64,
    /// `sql.max_result_bytes`: the result's values as Arrow holds them.
    pub max_result_bytes: u64,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            timeout: Duration::from_secs(30),
            memory_limit: 512 << 20,
            max_result_rows: 100_000,
            max_result_bytes: 64 << 20,
        }
    }
}
