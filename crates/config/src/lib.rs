//! pramaan's configuration.
//!
//! Values come from four layers, each overriding the one before it:
//!
//! 1. built-in defaults,
//! 2. the configuration file (`pramaan.toml`),
//! 3. `PRAMAAN_*` environment variables,
//! 4. command-line flags.
//!
//! Every key is described once, in the key table of the private `keys`
//! module: its type, default, allowed values and help text. Loading,
//! environment-variable names, [`Loaded::render`] (what `pramaan config`
//! prints), [`reference()`] (`docs/configuration.md`) and [`example()`]
//! (`pramaan.example.toml`) are all derived from that table, so they cannot
//! disagree with each other.
//!
//! ```no_run
//! let loaded = pramaan_config::load(None, pramaan_config::process_env(), &[])?;
//! println!("{}", loaded.render());
//! # Ok::<(), pramaan_config::ConfigError>(())
//! ```
//!
//! Owns: every configuration key, its default, validation and provenance.
//! May not touch: the data directory's contents, the network, other pramaan
//! crates but `core`.

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

mod error;
mod keys;
mod load;
pub mod location;
mod redaction;
mod text;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
pub use keys::{env_var_for, keys, KeyDoc};
pub use load::{load, process_env, ENV_CONFIG_FILE, ENV_LOG_FILTER};
pub use redaction::{redact, REDACTED};
pub use text::{example, reference};

/// The complete, validated configuration.
///
/// [`Config::default()`] is the built-in defaults. Each field's documentation
/// names its key; the meaning of each key is in `docs/configuration.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `data_dir`: directory holding the WAL, segments, catalog and objects.
    pub data_dir: PathBuf,
    /// `[node]`
    pub node: Node,
    /// `[syslog]`
    pub syslog: Syslog,
    /// `[http]`
    pub http: Http,
    /// `[wal]`
    pub wal: Wal,
    /// `[segments]`
    pub segments: Segments,
    /// `[sql]`
    pub sql: Sql,
    /// `[retention]`
    pub retention: Retention,
    /// `[catalog]`
    pub catalog: Catalog,
    /// `[storage]`
    pub storage: Storage,
    /// `[log]`
    pub log: Log,
    /// `[metrics]`
    pub metrics: Metrics,
    /// `[ledger]`
    pub ledger: Ledger,
    /// `[auth]`
    pub auth: Auth,
    /// `[attribution]`
    pub attribution: Attribution,
    /// `[radius]`
    pub radius: Radius,
    /// `[relp]`
    pub relp: Relp,
    /// `[files]`
    pub files: Files,
    /// `[wireguard]`
    pub wireguard: Wireguard,
    /// `[registry]`
    pub registry: Registry,
    /// `[clock]`
    pub clock: Clock,
    /// `[desk]`
    pub desk: Desk,
    /// `[console]`
    pub console: Console,
    /// `[detect]`
    pub detect: Detect,
    /// `[alerts]`
    pub alerts: Alerts,
}

/// `[detect]`: detection with Sigma rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detect {
    /// `detect.rules_dir`: the directory of Sigma rules (`*.yml`, searched
    /// recursively); `None`: no rules.
    pub rules_dir: Option<PathBuf>,
    /// `detect.interval`: how often `serve`'s detector looks for new lines
    /// once it has read every one (the delay between receipt and detection).
    pub interval: Duration,
    /// `detect.incident_window`: a detection adds to the open incident of
    /// its rule whose last detection is at most this long before it.
    pub incident_window: Duration,
    /// `detect.excerpt_lines`: matched lines a detected incident's excerpt
    /// holds at most (every matched sequence number is recorded).
    pub excerpt_lines: usize,
    /// `detect.max_groups`: groups an aggregation rule keeps windows for.
    pub max_groups: usize,
}

/// `[alerts]`: compliance alerts (a silent source, the clock, storage,
/// checkpoints, retention).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alerts {
    /// `alerts.enabled`: `serve` checks and raises compliance alerts.
    pub enabled: bool,
    /// `alerts.interval`: how often `serve` checks.
    pub interval: Duration,
    /// `alerts.silence_after`: a source silent longer than this fires.
    pub silence_after: Duration,
    /// `alerts.silence_per_source`: `PATTERN=DURATION,...`, a source's own
    /// limit (first match wins; glob `*`).
    pub silence_per_source: String,
    /// `alerts.source_lookback`: sources seen in this window are checked.
    pub source_lookback: Duration,
    /// `alerts.repeat_interval`: a firing alert not acknowledged is sent again.
    pub repeat_interval: Duration,
    /// `alerts.alertmanager_url`: Alertmanager (or a receiver of its v2 body).
    pub alertmanager_url: String,
    /// `alerts.email`: also by e-mail through the desk's SMTP settings.
    pub email: bool,
    /// `alerts.disk_free_min`: percent of the data directory's disk.
    pub disk_free_min: u64,
}

/// `[console]`: the web console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    /// `console.heatmap_rows`: sources drawn on the dashboard's coverage
    /// heatmap (problems first), and per page of `/console/sources`.
    pub heatmap_rows: usize,
}

/// `[node]`: who this vault belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `node.organisation`; empty means "pramaan" (see [`Node::organisation`]).
    pub organisation: String,
    /// `node.name`; empty means the host name (see [`Node::resolved_name`]).
    pub name: String,
}

/// `[syslog]`: the syslog listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    /// `syslog.udp_listen`; `None` = listener off.
    pub udp_listen: Option<SocketAddr>,
    /// `syslog.tcp_listen`; `None` = listener off.
    pub tcp_listen: Option<SocketAddr>,
    /// `syslog.tls_listen`; `None` = listener off. The TLS listener only starts
    /// when the certificate and key are set too: use [`Syslog::tls`].
    pub tls_listen: Option<SocketAddr>,
    /// `syslog.tls_cert`: PEM certificate chain; `None` = not set.
    pub tls_cert: Option<PathBuf>,
    /// `syslog.tls_key`: PEM private key; `None` = not set.
    pub tls_key: Option<PathBuf>,
    /// `syslog.max_line`, in bytes.
    pub max_line: u64,
    /// `syslog.max_connections`.
    pub max_connections: usize,
    /// `syslog.idle_timeout`; [`Duration::ZERO`] = never.
    pub idle_timeout: Duration,
    /// `syslog.max_connections_per_source`.
    pub max_connections_per_source: usize,
    /// `syslog.first_byte_timeout`; [`Duration::ZERO`] = only the idle timeout.
    pub first_byte_timeout: Duration,
    /// `syslog.default_timezone`, as an offset in seconds east of UTC
    /// (IST = 19800).
    pub default_timezone: i32,
    /// `syslog.allow`: CIDRs the syslog listeners accept connections and
    /// datagrams from, separated by commas or spaces (parsed by the server).
    pub allow: String,
    /// `syslog.tls_client_ca`: with it, TLS senders must present a client
    /// certificate signed by this CA (mTLS); `None` = no client certificate asked.
    pub tls_client_ca: Option<PathBuf>,
}

/// `[http]`: the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    /// `http.listen`.
    pub listen: SocketAddr,
    /// `http.max_body`, in bytes, after decompression.
    pub max_body: u64,
    /// `http.max_concurrent_ingests`.
    pub max_concurrent_ingests: usize,
    /// `http.ingest_wait`: how long an ingest over the limit waits for a turn.
    pub ingest_wait: Duration,
    /// `http.request_timeout`.
    pub request_timeout: Duration,
    /// `http.tls_cert`: HTTPS with this certificate chain (and `http.tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// `http.tls_key`.
    pub tls_key: Option<PathBuf>,
}

/// `[wal]`: the write-ahead log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wal {
    /// `wal.fsync`. `false` loses acknowledged lines on a crash: benchmarks only.
    pub fsync: bool,
    /// `wal.file_size`, in bytes.
    pub file_size: u64,
    /// `wal.max_batch`, in bytes.
    pub max_batch: u64,
}

/// `[segments]`: sealing the memtable into Parquet segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    /// `segments.max_rows`.
    pub max_rows: u64,
    /// `segments.max_bytes`, in bytes.
    pub max_bytes: u64,
    /// `segments.max_age`.
    pub max_age: Duration,
    /// `segments.row_group_rows`.
    pub row_group_rows: usize,
    /// `segments.zstd_level`, 1..=22.
    pub zstd_level: i32,
    /// `segments.compact_level`, 0 (off) ..=22.
    pub compact_level: i32,
    /// `segments.compact_after`.
    pub compact_after: Duration,
    /// `segments.cut_hourly`.
    pub cut_hourly: bool,
    /// `segments.search_nice`, 0..=19.
    pub search_nice: i32,
}

/// `[sql]`: the limits of every SQL query (`POST /api/v1/sql`, `pramaan sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    /// `sql.timeout`: a query still running after this is cancelled.
    pub timeout: Duration,
    /// `sql.memory_limit`, in bytes, shared by the queries running at once.
    pub memory_limit: u64,
    /// `sql.max_result_rows`.
    pub max_result_rows: u64,
    /// `sql.max_result_bytes`.
    pub max_result_bytes: u64,
    /// `sql.max_concurrent_per_user`: queries one user may run at once.
    pub max_concurrent_per_user: usize,
}

/// The retention window CERT-In requires: 180 days.
pub const CERT_IN_RETENTION_DAYS: u64 = 180;

/// `[retention]`: how long records are kept before whole segments are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `retention.days`: the window for sources that no class names.
    pub days: u64,
    /// `retention.classes`: windows for sources matched by name; the first
    /// class with a matching pattern wins.
    pub classes: Vec<RetentionClass>,
    /// `retention.allow_non_compliant`: permit a window under
    /// [`CERT_IN_RETENTION_DAYS`].
    pub allow_non_compliant: bool,
    /// `retention.interval`: time between scheduled retention runs in `serve`.
    pub interval: Duration,
}

/// One entry of `retention.classes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionClass {
    /// Unique name, shown in reports and deletion records.
    pub name: String,
    /// Glob patterns (`*` any run of characters, `?` one character) on a
    /// source's name: the host a line names, else the sender's address.
    /// Matched without regard to ASCII case.
    pub sources: Vec<String>,
    /// The window for these sources, in days.
    pub days: u64,
}

impl Retention {
    /// Every window shorter than CERT-In's 180 days, as `(what, days)`:
    /// `("retention.days", 90)` or `("class \"lab\"", 30)`.
    pub fn short_windows(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        if self.days < CERT_IN_RETENTION_DAYS {
            out.push(("retention.days".to_owned(), self.days));
        }
        for class in &self.classes {
            if class.days < CERT_IN_RETENTION_DAYS {
                out.push((format!("retention class \"{}\"", class.name), class.days));
            }
        }
        out
    }

    /// True when every window is at least CERT-In's 180 days.
    pub fn compliant(&self) -> bool {
        self.short_windows().is_empty()
    }
}

/// `[catalog]`: where the segment catalog lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// `catalog.url`, as what it names. Use [`Config::catalog_path`] and
    /// [`Config::catalog_postgres`].
    pub url: CatalogUrl,
    /// `catalog.schema`: the PostgreSQL schema of a PostgreSQL catalog.
    pub schema: String,
}

/// What `catalog.url` names.
#[derive(Clone, PartialEq, Eq)]
pub enum CatalogUrl {
    /// Empty: SQLite at `<data_dir>/catalog.db`.
    DataDir,
    /// `sqlite:PATH`.
    Sqlite(PathBuf),
    /// `postgres://...` (as written: it may carry a password).
    Postgres(String),
}

impl std::fmt::Debug for CatalogUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogUrl::DataDir => f.write_str("DataDir"),
            CatalogUrl::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            CatalogUrl::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

/// `[storage]`: where sealed segments, ledger tiles and checkpoints are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// `storage.url`; `None` (the key is empty) = the directory
    /// `<data_dir>/objects`. Use [`Config::objects_dir`] for a local one.
    pub url: Option<StorageTarget>,
    /// `storage.endpoint`: the S3 server (`https://host:port`); empty = AWS.
    pub endpoint: String,
    /// `storage.region`: the bucket's region (SigV4 signs with it).
    pub region: String,
    /// `storage.location`: where the store is, in India (checked; see
    /// [`location::Location`], which [`Storage::location`] gives).
    pub location: String,
    /// `storage.path_style`: `https://endpoint/bucket/key` rather than
    /// `https://bucket.endpoint/key`.
    pub path_style: bool,
    /// `storage.allow_http`: an `http://` endpoint is allowed.
    pub allow_http: bool,
    /// `storage.credentials_file`: an AWS-style credentials file; `None` =
    /// the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub credentials_file: Option<PathBuf>,
    /// `storage.credentials_profile`: the section of that file.
    pub credentials_profile: String,
    /// `storage.cache_size`: bytes of a bucket's segments kept on local
    /// disk for search (0: none).
    pub cache_size: u64,
    /// `storage.object_lock`: `off` or `compliance` (see [`Storage::object_lock`]).
    pub object_lock: String,
}

/// What `storage.url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    /// `file:///abs/path`: a local directory.
    Dir(PathBuf),
    /// `s3://bucket/prefix`: a bucket of an S3-compatible store, and the
    /// key prefix under which pramaan keeps its objects (may be empty).
    S3 { bucket: String, prefix: String },
}

impl StorageTarget {
    /// The URL that reads back to this target.
    pub fn url(&self) -> String {
        match self {
            StorageTarget::Dir(path) => format!("file://{}", path.to_string_lossy()),
            StorageTarget::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            StorageTarget::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// `[log]`: pramaan's own diagnostic log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// `log.level`: a tracing filter directive such as `info` or
    /// `info,pramaan_ingest=debug`.
    pub level: String,
    /// `log.format`.
    pub format: LogFormat,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The configuration spelling: `"text"` or `"json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// `metrics.enabled`.
    pub enabled: bool,
    /// `metrics.public`: `/metrics` without authentication.
    pub public: bool,
    /// `metrics.max_sources`: distinct `source` label values kept.
    pub max_sources: usize,
}

/// `[auth]`: logins, sessions, lock-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// `auth.max_failures`: failed logins that lock a user name; 0 = never.
    pub max_failures: u64,
    /// `auth.lockout`: how long the lock lasts (and the window failures count in).
    pub lockout: Duration,
    /// `auth.login_rate`: login attempts per source address per minute; 0 = no limit.
    pub login_rate: u64,
    /// `auth.session_ttl`: how long a login session lasts.
    pub session_ttl: Duration,
    /// `auth.audit_reads`: record searches, SQL queries and audit-trail reads.
    pub audit_reads: bool,
}

/// `[attribution]`: IP bindings derived from session logs (`pramaan whois`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// `attribution.max_session`: a session whose Stop never came ends this
    /// long after its start (or at the next Start on the same address).
    pub max_session: Duration,
    /// `attribution.sources`: the senders whose log lines the session
    /// parsers read. Empty: no log line creates bindings.
    pub sources: Vec<AttributionSource>,
    /// `attribution.import_max_body`: the largest bindings CSV one
    /// `POST /api/v1/whois/import-bindings` takes.
    pub import_max_body: u64,
}

/// `[radius]`: the RADIUS accounting server (RFC 2866).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Radius {
    /// `radius.listen`: the UDP address; `None` = no server.
    pub listen: Option<SocketAddr>,
    /// `radius.secret_file`: the default shared secret's file.
    pub secret_file: Option<PathBuf>,
    /// `radius.secret_env`: the variable holding the default shared secret.
    pub secret_env: String,
    /// `radius.clients`: clients with their own secrets.
    pub clients: Vec<RadiusClient>,
    /// `radius.max_pending`: Accounting-Requests waiting to be stored at once.
    pub max_pending: usize,
    /// `radius.max_clock_skew`: how far an Event-Timestamp may be from the arrival.
    pub max_clock_skew: Duration,
}

/// `[relp]`: the RELP listener (rsyslog's `omrelp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relp {
    /// `relp.listen`: the TCP address; `None` = no listener.
    pub listen: Option<SocketAddr>,
    /// `relp.tls_cert`: with `relp.tls_key`, the listener speaks TLS.
    pub tls_cert: Option<PathBuf>,
    /// `relp.tls_key`: the private key for `relp.tls_cert`.
    pub tls_key: Option<PathBuf>,
}

/// `[files]`: log files `serve` follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files {
    /// `files.paths`: absolute paths, separated by commas or spaces.
    pub paths: String,
    /// `files.partial_wait`: how long a last line without its newline waits.
    pub partial_wait: Duration,
    /// `files.poll_interval`: how often an idle file is looked at.
    pub poll_interval: Duration,
}

/// `[wireguard]`: WireGuard peers polled for bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wireguard {
    /// `wireguard.interval`: time between polls; zero = no polling.
    pub interval: Duration,
    /// `wireguard.command`: the program and its arguments, split on spaces.
    pub command: String,
}

impl Files {
    /// The paths `files.paths` names, in order, each once.
    pub fn list(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in self
            .paths
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            let p = PathBuf::from(p);
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// One entry of `radius.clients`: where the secret is, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusClient {
    /// The client's address, or a network: (address, prefix length).
    pub address: (std::net::IpAddr, u8),
    /// A file whose first line is the secret.
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    pub secret_env: Option<String>,
}

/// The session parsers `attribution.sources` may name.
pub const ATTRIBUTION_PARSERS: [&str; 6] = ["radius", "openvpn", "cgnat", "json", "dhcp", "ipsec"];

/// One entry of `attribution.sources`: every field given must match a
/// record for `parsers` to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributionSource {
    /// The sender's address, or a network: (address, prefix length).
    pub peer: Option<(std::net::IpAddr, u8)>,
    /// Glob (`*`, `?`) on the host the line names.
    pub host: Option<String>,
    /// Glob on the line's application name (APP-NAME, TAG).
    pub app: Option<String>,
    /// Glob on the path of a file `serve` follows (`files.paths`): its lines
    /// only.
    pub file: Option<String>,
    /// Names from [`ATTRIBUTION_PARSERS`], at least one.
    pub parsers: Vec<String>,
}

/// The subscriber-record retention CERT-In requires: 5 years after the service ends.
pub const CERT_IN_REGISTRY_YEARS: u64 = 5;

/// `[registry]`: the subscriber register (direction 6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// `registry.url`: empty (SQLite at `<data_dir>/registry.db`),
    /// `sqlite:PATH` or `postgres://...`.
    pub url: String,
    /// `registry.retention_years`.
    pub retention_years: u64,
    /// `registry.allow_non_compliant`: permit `retention_years` under 5.
    pub allow_non_compliant: bool,
    /// `registry.master_key_file`; `None` = `<data_dir>/registry/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// `registry.master_key_env`: name of an environment variable holding
    /// the master key (64 hex digits); when set, the file is not used.
    pub master_key_env: String,
    /// `registry.erase_interval`: time between erasure runs in `serve`.
    pub erase_interval: Duration,
}

/// `[clock]`: the clock monitor (offset to NIC/NPL time, per-source skew).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// `clock.enabled`: false switches the whole monitor off (no NTP query,
    /// no skew analysis).
    pub enabled: bool,
    /// `clock.servers`: NTP servers, `host` or `host:port`, separated by
    /// commas or spaces. Use [`Clock::server_list`].
    pub servers: String,
    /// `clock.interval`: time between rounds of queries.
    pub interval: Duration,
    /// `clock.timeout`: how long to wait for one server's reply.
    pub timeout: Duration,
    /// `clock.threshold`: the largest offset (and per-source skew) accepted.
    pub threshold: Duration,
    /// `clock.skew_interval`: time between per-source skew passes.
    pub skew_interval: Duration,
    /// `clock.skew_window`: how far back the per-source skew looks.
    pub skew_window: Duration,
    /// `clock.source_zones`: `pattern=offset` pairs; the zone in which to
    /// read zone-less stamps of those sources for the skew analysis.
    pub source_zones: String,
}

impl Clock {
    /// `clock.servers`, split.
    pub fn server_list(&self) -> Vec<String> {
        self.servers
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `clock.source_zones` as (pattern, seconds east of UTC), or the
    /// first entry that is not `pattern=offset`.
    pub fn source_zone_list(&self) -> Result<Vec<(String, i32)>, String> {
        self.source_zones
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(|e| match e.split_once('=') {
                Some((p, o)) if !p.is_empty() => value::parse_offset(o)
                    .map(|secs| (p.to_owned(), secs))
                    .ok_or_else(|| e.to_owned()),
                _ => Err(e.to_owned()),
            })
            .collect()
    }

    fn problem(&self) -> Option<(String, Vec<&'static str>)> {
        if let Err(entry) = self.source_zone_list() {
            return Some((
                format!("clock.source_zones entry `{entry}` is not `pattern=offset` (for example `fw-*=+05:30`, `box=UTC`)"),
                vec!["clock.source_zones"],
            ));
        }
        if self.enabled && self.server_list().is_empty() {
            return Some((
                "clock.servers is empty while clock.enabled is true: name at least one NTP server, or set clock.enabled = false".into(),
                vec!["clock.servers", "clock.enabled"],
            ));
        }
        None
    }
}

/// `[desk]`: the incident desk (reports to CERT-In, reminders, the point of contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desk {
    /// `desk.report_to`: where reports are sent.
    pub report_to: String,
    /// `desk.mail_from`: the From address; empty = the point of contact's e-mail.
    pub mail_from: String,
    /// `desk.poc_review_days`.
    pub poc_review_days: u64,
    /// `desk.template_text`; `None` = the shipped template.
    pub template_text: Option<PathBuf>,
    /// `desk.template_html`; `None` = the shipped template.
    pub template_html: Option<PathBuf>,
    /// `desk.smtp_host`; empty = no SMTP (reports cannot be sent).
    pub smtp_host: String,
    /// `desk.smtp_port`; 0 = 587 (starttls), 465 (tls) or 25 (plain).
    pub smtp_port: u64,
    /// `desk.smtp_security`: `starttls`, `tls` or `plain` (checked by the desk).
    pub smtp_security: String,
    /// `desk.smtp_user`; empty = no authentication.
    pub smtp_user: String,
    /// `desk.smtp_password_file`.
    pub smtp_password_file: Option<PathBuf>,
    /// `desk.smtp_password_env`: the name of a variable holding the password.
    pub smtp_password_env: String,
    /// `desk.smtp_timeout`.
    pub smtp_timeout: Duration,
    /// `desk.reminders`: like `"3h,1h,30m"` (checked by the desk).
    pub reminders: String,
    /// `desk.remind_overdue`.
    pub remind_overdue: bool,
    /// `desk.reminder_to`; empty = the point of contact.
    pub reminder_to: String,
    /// `desk.webhook_url`; empty = no webhook.
    pub webhook_url: String,
    /// `desk.webhook_tries`.
    pub webhook_tries: u64,
    /// `desk.reminder_interval`.
    pub reminder_interval: Duration,
}

/// `[ledger]`: the Merkle tree over every record, its signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// `ledger.key_file`; `None` (the key is empty) =
    /// `<data_dir>/ledger/node.key`. Use [`Config::ledger_key_file`].
    pub key_file: Option<PathBuf>,
    /// `ledger.checkpoint_interval`.
    pub checkpoint_interval: Duration,
    /// `ledger.history_interval`.
    pub history_interval: Duration,
}

impl Default for Config {
    /// The built-in defaults, as listed in `docs/configuration.md`.
    fn default() -> Self {
        let mut config = Config::blank();
        for key in keys::KEYS {
            key.kind.set_default(&mut config);
        }
        config
    }
}

impl Config {
    /// Every key with its value as TOML text (`"127.0.0.1:8080"`, `180`, ...),
    /// in table order: what `serve` compares with the previous start to
    /// record configuration changes. Passwords are read from files or
    /// variables the settings name; a credential written into a URL
    /// (`postgres://u:pw@...`) is shown as `***` ([`redact`]).
    pub fn values(&self) -> Vec<(&'static str, String)> {
        keys::KEYS
            .iter()
            .map(|def| (def.key, def.kind.render(self)))
            .collect()
    }

    /// A placeholder that every key then overwrites with its default.
    fn blank() -> Self {
        Config {
            data_dir: PathBuf::new(),
            node: Node {
                organisation: String::new(),
                name: String::new(),
            },
            syslog: Syslog {
                udp_listen: None,
                tcp_listen: None,
                tls_listen: None,
                tls_cert: None,
                tls_key: None,
                max_line: 0,
                max_connections: 0,
                idle_timeout: Duration::ZERO,
                max_connections_per_source: 0,
                first_byte_timeout: Duration::ZERO,
                default_timezone: 0,
                allow: String::new(),
                tls_client_ca: None,
            },
            http: Http {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                max_body: 0,
                max_concurrent_ingests: 0,
                ingest_wait: Duration::ZERO,
                request_timeout: Duration::ZERO,
                tls_cert: None,
                tls_key: None,
            },
            wal: Wal {
                fsync: true,
                file_size: 0,
                max_batch: 0,
            },
            segments: Segments {
                max_rows: 0,
                max_bytes: 0,
                max_age: Duration::ZERO,
                row_group_rows: 0,
                zstd_level: 0,
                compact_level: 0,
                compact_after: Duration::ZERO,
                cut_hourly: true,
                search_nice: 0,
            },
            sql: Sql {
                timeout: Duration::ZERO,
                memory_limit: 0,
                max_result_rows: 0,
                max_result_bytes: 0,
                max_concurrent_per_user: 0,
            },
            retention: Retention {
                days: 0,
                classes: Vec::new(),
                allow_non_compliant: false,
                interval: Duration::ZERO,
            },
            catalog: Catalog {
                url: CatalogUrl::DataDir,
                schema: String::new(),
            },
            storage: Storage {
                url: None,
                endpoint: String::new(),
                region: String::new(),
                location: String::new(),
                path_style: true,
                allow_http: false,
                credentials_file: None,
                credentials_profile: String::new(),
                cache_size: 0,
                object_lock: "off".into(),
            },
            log: Log {
                level: String::new(),
                format: LogFormat::Text,
            },
            metrics: Metrics {
                enabled: true,
                public: false,
                max_sources: 0,
            },
            auth: Auth {
                max_failures: 0,
                lockout: Duration::ZERO,
                login_rate: 0,
                session_ttl: Duration::ZERO,
                audit_reads: true,
            },
            ledger: Ledger {
                key_file: None,
                checkpoint_interval: Duration::ZERO,
                history_interval: Duration::ZERO,
            },
            desk: Desk {
                report_to: String::new(),
                mail_from: String::new(),
                poc_review_days: 0,
                template_text: None,
                template_html: None,
                smtp_host: String::new(),
                smtp_port: 0,
                smtp_security: String::new(),
                smtp_user: String::new(),
                smtp_password_file: None,
                smtp_password_env: String::new(),
                smtp_timeout: Duration::ZERO,
                reminders: String::new(),
                remind_overdue: true,
                reminder_to: String::new(),
                webhook_url: String::new(),
                webhook_tries: 0,
                reminder_interval: Duration::ZERO,
            },
            attribution: Attribution {
                max_session: Duration::ZERO,
                sources: Vec::new(),
                import_max_body: 0,
            },
            radius: Radius {
                listen: None,
                secret_file: None,
                secret_env: String::new(),
                clients: Vec::new(),
                max_pending: 0,
                max_clock_skew: Duration::ZERO,
            },
            relp: Relp::default(),
            files: Files::default(),
            wireguard: Wireguard::default(),
            registry: Registry::default(),
            clock: Clock {
                enabled: true,
                servers: String::new(),
                interval: Duration::ZERO,
                timeout: Duration::ZERO,
                threshold: Duration::ZERO,
                skew_interval: Duration::ZERO,
                skew_window: Duration::ZERO,
                source_zones: String::new(),
            },
            console: Console { heatmap_rows: 0 },
            detect: Detect::default(),
            alerts: Alerts::default(),
        }
    }

    /// Checks the rules that involve more than one key (each key's own range
    /// is checked when it is parsed). [`load`] calls this; call it again after
    /// changing a `Config` in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.conflict() {
            None => Ok(()),
            Some((message, _keys)) => Err(ConfigError::Conflict { message }),
        }
    }

    /// The first cross-field problem, with the keys involved.
    fn conflict(&self) -> Option<(String, Vec<&'static str>)> {
        if let Some(problem) = self.clock.problem() {
            return Some(problem);
        }
        let s = &self.syslog;
        match (&s.tls_cert, &s.tls_key) {
            (Some(cert), None) => {
                return Some((
                    format!(
                        "syslog.tls_cert is set ({}) but syslog.tls_key is not: the TLS listener needs both, or neither",
                        cert.display()
                    ),
                    vec!["syslog.tls_cert", "syslog.tls_key"],
                ))
            }
            (None, Some(key)) => {
                return Some((
                    format!(
                        "syslog.tls_key is set ({}) but syslog.tls_cert is not: the TLS listener needs both, or neither",
                        key.display()
                    ),
                    vec!["syslog.tls_cert", "syslog.tls_key"],
                ))
            }
            _ => {}
        }
        if let Some(p) = self.files.list().iter().find(|p| !p.is_absolute()) {
            return Some((
                format!("files.paths: `{}` is not an absolute path", p.display()),
                vec!["files.paths"],
            ));
        }
        if self.relp.tls_cert.is_some() != self.relp.tls_key.is_some() {
            return Some((
                "relp.tls_cert and relp.tls_key must be set together (a TLS RELP listener), or neither".into(),
                vec!["relp.tls_cert", "relp.tls_key"],
            ));
        }
        // Listeners that all take TCP connections must not share an address.
        // (UDP and TCP syslog may share one: they are different sockets.)
        let tcp: [(&'static str, Option<SocketAddr>); 4] = [
            ("syslog.tcp_listen", s.tcp_listen),
            ("syslog.tls_listen", self.syslog.tls().map(|t| t.listen)),
            ("http.listen", Some(self.http.listen)),
            ("relp.listen", self.relp.listen),
        ];
        for (i, (key_a, a)) in tcp.iter().enumerate() {
            for (key_b, b) in &tcp[i + 1..] {
                if let (Some(a), Some(b)) = (a, b) {
                    if value::addrs_clash(*a, *b) {
                        return Some((
                            format!("{key_a} ({a}) and {key_b} ({b}) are the same TCP address: give each listener its own port"),
                            vec![key_a, key_b],
                        ));
                    }
                }
            }
        }
        if self.wal.max_batch > self.wal.file_size {
            return Some((
                format!(
                    "wal.max_batch ({}) is larger than wal.file_size ({}): a batch must fit in one WAL file",
                    value::format_size(self.wal.max_batch),
                    value::format_size(self.wal.file_size)
                ),
                vec!["wal.max_batch", "wal.file_size"],
            ));
        }
        if self.registry.retention_years < CERT_IN_REGISTRY_YEARS
            && !self.registry.allow_non_compliant
        {
            return Some((
                format!(
                    "registry.retention_years is {}, under the {CERT_IN_REGISTRY_YEARS} years CERT-In requires for subscriber records: \
                     lengthen it, or set registry.allow_non_compliant = true to run anyway (the register is then reported as non-compliant)",
                    self.registry.retention_years
                ),
                vec!["registry.retention_years", "registry.allow_non_compliant"],
            ));
        }
        let url = self.registry.url.trim();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Some((
                format!("registry.url `{url}` is neither empty, sqlite:PATH nor postgres://..."),
                vec!["registry.url"],
            ));
        }
        if let Some(problem) = self.storage.problem() {
            return Some(problem);
        }
        let short = self.retention.short_windows();
        if !short.is_empty() && !self.retention.allow_non_compliant {
            let list: Vec<String> = short
                .iter()
                .map(|(what, days)| format!("{what} is {days} days"))
                .collect();
            let mut keys = Vec::new();
            if self.retention.days < CERT_IN_RETENTION_DAYS {
                keys.push("retention.days");
            }
            if short.len() > keys.len() {
                keys.push("retention.classes");
            }
            keys.push("retention.allow_non_compliant");
            return Some((
                format!(
                    "{}, under the {CERT_IN_RETENTION_DAYS} days CERT-In requires: lengthen the window, or set \
                     retention.allow_non_compliant = true to run anyway (the vault is then reported as non-compliant)",
                    list.join(", ")
                ),
                keys,
            ));
        }
        None
    }

    /// The SQLite catalog database: `catalog.url`'s path, or
    /// `<data_dir>/catalog.db` when it is empty (or names PostgreSQL: the
    /// file is then not used).
    pub fn catalog_path(&self) -> PathBuf {
        match &self.catalog.url {
            CatalogUrl::Sqlite(path) => path.clone(),
            CatalogUrl::DataDir | CatalogUrl::Postgres(_) => self.data_dir.join("catalog.db"),
        }
    }

    /// The PostgreSQL catalog's URL and schema, when `catalog.url` names one.
    pub fn catalog_postgres(&self) -> Option<(&str, &str)> {
        match &self.catalog.url {
            CatalogUrl::Postgres(url) => Some((url, &self.catalog.schema)),
            _ => None,
        }
    }

    /// The node's Ed25519 signing key for checkpoints: `ledger.key_file`, or
    /// `<data_dir>/ledger/node.key` when it is empty. The public verifier
    /// key is kept beside it, with the extension `.vkey`.
    pub fn ledger_key_file(&self) -> PathBuf {
        match &self.ledger.key_file {
            Some(path) => path.clone(),
            None => self.data_dir.join("ledger").join("node.key"),
        }
    }

    /// The local object directory: `storage.url`'s path, or
    /// `<data_dir>/objects` when it is empty (or names a bucket: then
    /// nothing is kept there).
    pub fn objects_dir(&self) -> PathBuf {
        match &self.storage.url {
            Some(StorageTarget::Dir(path)) => path.clone(),
            _ => self.data_dir.join("objects"),
        }
    }
}

impl Storage {
    /// `storage.location`, read (it was checked when the configuration was loaded).
    pub fn location(&self) -> location::Location {
        location::Location::parse(&self.location).unwrap_or(location::Location::Undeclared)
    }

    /// `storage.object_lock = "compliance"`: objects are kept under S3
    /// Object Lock in COMPLIANCE mode.
    pub fn object_lock(&self) -> bool {
        self.object_lock == "compliance"
    }

    /// What is wrong with the S3 keys taken together, with the keys to change.
    fn problem(&self) -> Option<(String, Vec<&'static str>)> {
        if !matches!(self.url, Some(StorageTarget::S3 { .. })) {
            if self.object_lock() {
                return Some((
                    "storage.object_lock = \"compliance\" needs a bucket (storage.url = \"s3://bucket/prefix\") \
                     with Object Lock: a directory on this machine cannot be made write-once"
                        .to_owned(),
                    vec!["storage.object_lock", "storage.url"],
                ));
            }
            return None;
        }
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() && self.region.trim().is_empty() {
            return Some((
                "storage.url names an S3 bucket on AWS (storage.endpoint is empty) but storage.region is empty: \
                 set it to the bucket's region, e.g. \"ap-south-1\" (Mumbai) or \"ap-south-2\" (Hyderabad)"
                    .to_owned(),
                vec!["storage.region", "storage.endpoint"],
            ));
        }
        let is_url = endpoint.starts_with("https://") || endpoint.starts_with("http://");
        if !endpoint.is_empty() && !is_url {
            return Some((
                format!(
                    "storage.endpoint `{}` is not an http(s):// URL",
                    crate::redact(endpoint)
                ),
                vec!["storage.endpoint"],
            ));
        }
        if endpoint.starts_with("http://") && !self.allow_http {
            return Some((
                format!(
                    "storage.endpoint `{}` is plain http: credentials and evidence would cross the network unencrypted; \
                     use https, or set storage.allow_http = true (for a store on this machine or a trusted network)",
                    crate::redact(endpoint)
                ),
                vec!["storage.endpoint", "storage.allow_http"],
            ));
        }
        None
    }
}

impl Node {
    /// `node.organisation`, or `"pramaan"` when it is empty.
    pub fn organisation(&self) -> &str {
        if self.organisation.is_empty() {
            "pramaan"
        } else {
            &self.organisation
        }
    }

    /// `node.name`, or when it is empty the host name from `/etc/hostname`,
    /// or `"node"` when that cannot be read.
    pub fn resolved_name(&self) -> String {
        self.resolved_name_from(Path::new("/etc/hostname"))
    }

    fn resolved_name_from(&self, hostname_file: &Path) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        std::fs::read_to_string(hostname_file)
            .ok()
            .and_then(|text| {
                let name = text.lines().next().unwrap_or("").trim().to_owned();
                (!name.is_empty()).then_some(name)
            })
            .unwrap_or_else(|| "node".to_owned())
    }
}

/// The TLS syslog listener, when it is fully configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsListener<'a> {
    /// `syslog.tls_listen`.
    pub listen: SocketAddr,
    /// `syslog.tls_cert`.
    pub cert: &'a Path,
    /// `syslog.tls_key`.
    pub key: &'a Path,
}

impl Syslog {
    /// The TLS listener to start: `Some` only when `tls_listen` is on and both
    /// `tls_cert` and `tls_key` are set.
    pub fn tls(&self) -> Option<TlsListener<'_>> {
        Some(TlsListener {
            listen: self.tls_listen?,
            cert: self.tls_cert.as_deref()?,
            key: self.tls_key.as_deref()?,
        })
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// This environment variable, e.g. `PRAMAAN_HTTP_LISTEN`.
    Env(String),
    /// This command-line flag, e.g. `--data-dir`.
    Flag(String),
}

impl fmt::Display for Origin {
    /// `default`, `pramaan.toml`, `$PRAMAAN_HTTP_LISTEN` or `--data-dir`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(var) => write!(f, "${var}"),
            Origin::Flag(flag) => f.write_str(flag),
        }
    }
}

/// A loaded configuration and where each value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// For every key (dotted, e.g. `http.listen`), where its value came from.
    pub origins: BTreeMap<String, Origin>,
    /// The configuration file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Loaded {
    /// Where `key` (dotted, e.g. `http.listen`) got its value; `None` for an
    /// unknown key.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.origins.get(key)
    }

    /// The effective configuration as valid TOML, each key followed by a
    /// comment saying where its value came from: `# from default`,
    /// `# from pramaan.toml`, `# from $PRAMAAN_HTTP_LISTEN` or
    /// `# from --data-dir`. Loading the output as a file gives the same
    /// [`Config`], except for credentials in URLs, shown as `***` ([`redact`]).
    pub fn render(&self) -> String {
        text::render(self)
    }
}
