//! The table of every configuration key: the one definition that loading,
//! environment-variable names, `render`, `reference` and `example` all use.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use crate::value::{self, Raw};
use crate::{
    AttributionSource, Config, LogFormat, RadiusClient, RetentionClass, StorageTarget,
    ATTRIBUTION_PARSERS,
};

/// Reads and writes one field of [`Config`].
pub(crate) struct Access<T: 'static> {
    get: fn(&Config) -> &T,
    set: fn(&mut Config) -> &mut T,
}

/// `at!(syslog.max_line)`: the [`Access`] for that field.
macro_rules! at {
    ($($field:ident).+) => {
        Access { get: |c| &c.$($field).+, set: |c| &mut c.$($field).+ }
    };
}

/// Integer fields come in a few Rust types; all are read as `u64` and are
/// range-checked before they are stored, so the conversions cannot fail.
pub(crate) enum IntAt {
    U64(Access<u64>),
    Usize(Access<usize>),
    I32(Access<i32>),
}

impl IntAt {
    fn get(&self, c: &Config) -> u64 {
        match self {
            IntAt::U64(at) => *(at.get)(c),
            IntAt::Usize(at) => u64::try_from(*(at.get)(c)).unwrap_or(u64::MAX),
            IntAt::I32(at) => u64::try_from(*(at.get)(c)).unwrap_or(0),
        }
    }

    fn set(&self, c: &mut Config, v: u64) {
        match self {
            IntAt::U64(at) => *(at.set)(c) = v,
            IntAt::Usize(at) => *(at.set)(c) = usize::try_from(v).unwrap_or(usize::MAX),
            IntAt::I32(at) => *(at.set)(c) = i32::try_from(v).unwrap_or(i32::MAX),
        }
    }
}

/// Extra rule for a free-text key.
pub(crate) enum Check {
    /// Anything without control characters.
    Plain,
    /// A tracing filter directive (`log.level`).
    Filter,
    /// A PostgreSQL schema name: letters, digits and `_`, not starting
    /// with a digit, at most 63 bytes (`catalog.schema`).
    Identifier,
    /// `storage.location` ([`crate::location::Location`]).
    Location,
    /// `storage.object_lock`: `off` or `compliance`.
    ObjectLock,
}

/// True when `s` is a usable PostgreSQL schema name (see [`Check::Identifier`]).
pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// A key's type, where it lives in [`Config`], its default and its limits.
pub(crate) enum Kind {
    /// A path that must not be empty.
    Path {
        at: Access<PathBuf>,
        default: &'static str,
    },
    Text {
        at: Access<String>,
        default: &'static str,
        check: Check,
    },
    /// A PEM file path; empty = not set. Defaults to not set.
    PemFile {
        at: Access<Option<PathBuf>>,
    },
    /// A listener address; `""` or `"off"` = no listener.
    Listen {
        at: Access<Option<SocketAddr>>,
        default: Option<SocketAddr>,
        /// The address `"on"` stands for, if the key takes `"on"`.
        on: Option<SocketAddr>,
    },
    Addr {
        at: Access<SocketAddr>,
        default: SocketAddr,
    },
    Bool {
        at: Access<bool>,
        default: bool,
    },
    Int {
        at: IntAt,
        default: u64,
        min: u64,
        max: u64,
    },
    Size {
        at: Access<u64>,
        default: u64,
        min: u64,
        max: u64,
    },
    Duration {
        at: Access<Duration>,
        default: Duration,
        min: Duration,
        max: Duration,
    },
    /// A UTC offset, stored as seconds east of UTC.
    Offset {
        at: Access<i32>,
        default: i32,
    },
    LogFormat {
        at: Access<LogFormat>,
        default: LogFormat,
    },
    /// `catalog.url`: empty, `sqlite:PATH` or `postgres://...`. Defaults to empty.
    CatalogUrl {
        at: Access<crate::CatalogUrl>,
    },
    /// `storage.url`: empty, `file:///abs/path` or `s3://bucket/prefix`.
    /// Defaults to empty.
    StorageUrl {
        at: Access<Option<StorageTarget>>,
    },
    /// A file path; empty = the default that `empty` names (a phrase such
    /// as "<data_dir>/ledger/node.key"). Defaults to empty.
    OptPath {
        at: Access<Option<PathBuf>>,
        empty: &'static str,
    },
    /// `retention.classes`: a list of `{ name, sources, days }` tables.
    /// Defaults to the empty list.
    RetentionClasses {
        at: Access<Vec<RetentionClass>>,
        max_days: u64,
    },
    /// `attribution.sources`: a list of `{ peer, host, app, parsers }`
    /// tables. Defaults to the empty list.
    AttributionSources {
        at: Access<Vec<AttributionSource>>,
    },
    /// `radius.clients`: a list of `{ address, secret_file, secret_env }`
    /// tables. Defaults to the empty list.
    RadiusClients {
        at: Access<Vec<RadiusClient>>,
    },
}

const SIZE_FORMS: &str =
    "a number of bytes or a string like \"64KiB\", \"4MiB\", \"1GiB\" (units B, KiB, MiB, GiB, TiB)";
const DURATION_FORMS: &str =
    "a number of seconds or a string like \"500ms\", \"5s\", \"15m\", \"2h\", \"180d\"";
const LISTEN_FORMS: &str =
    "a socket address like \"127.0.0.1:5514\" or \"[::]:5514\", or \"off\" (or \"\") for no listener";
const CATALOG_FORMS: &str =
    "\"\" (SQLite at <data_dir>/catalog.db), \"sqlite:PATH\" (an SQLite database file) or \"postgres://user@host:port/db\" (PostgreSQL)";
const STORAGE_FORMS: &str = "\"\" (the directory <data_dir>/objects), \"file:///absolute/path\" (a local directory) \
    or \"s3://bucket/prefix\" (a bucket of an S3-compatible store, with storage.endpoint and storage.region)";
const CLASSES_FORMS: &str = "a list of tables like [{ name = \"firewalls\", sources = [\"fw-*\", \"10.1.2.*\"], days = 365 }]: \
    each with a unique name, at least one source pattern (`*` and `?` are wildcards) and days";

const SOURCES_FORMS: &str = "a list of tables like [{ peer = \"10.0.0.5\", app = \"radiusd\", parsers = [\"radius\"] }]: \
    each with at least one of peer (an address or network like 10.0.0.0/24), host, app and file (patterns, `*` and \
    `?` wildcards; file on the path of a followed file), and parsers (at least one of radius, openvpn, cgnat, json, dhcp)";

const RADIUS_CLIENTS_FORMS: &str = "a list of tables like [{ address = \"10.0.0.0/24\", secret_file = \"/etc/pramaan/nas.secret\" }]: \
    each with an address (an IP address or a network) and exactly one of secret_file (a file whose first line is \
    the shared secret) and secret_env (the name of an environment variable holding it)";

fn raw_str(raw: &Raw) -> Option<&str> {
    match raw {
        Raw::Str(s) => Some(s),
        _ => None,
    }
}

fn path_text(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

impl Kind {
    /// The type, as the reference names it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Kind::Path { .. } | Kind::PemFile { .. } | Kind::OptPath { .. } => "path",
            Kind::Text { .. } | Kind::LogFormat { .. } => "string",
            Kind::Listen { .. } | Kind::Addr { .. } => "address",
            Kind::Bool { .. } => "boolean",
            Kind::Int { .. } => "integer",
            Kind::Size { .. } => "size",
            Kind::Duration { .. } => "duration",
            Kind::Offset { .. } => "UTC offset",
            Kind::CatalogUrl { .. } | Kind::StorageUrl { .. } => "URL",
            Kind::RetentionClasses { .. }
            | Kind::AttributionSources { .. }
            | Kind::RadiusClients { .. } => "list of tables",
        }
    }

    /// What values are allowed, as a phrase that follows "expected".
    pub(crate) fn allowed(&self) -> String {
        match self {
            Kind::Path { .. } => "a path (not empty)".to_owned(),
            Kind::Text {
                check: Check::Plain,
                ..
            } => "a string without control characters".to_owned(),
            Kind::Text {
                check: Check::Identifier,
                ..
            } => "a PostgreSQL schema name: letters, digits and _, not starting with a digit, at most 63".to_owned(),
            Kind::Text {
                check: Check::Filter,
                ..
            } => "a tracing filter like \"info\" or \"info,pramaan_ingest=debug\" (levels trace, debug, info, warn, error, off)".to_owned(),
            Kind::Text {
                check: Check::Location,
                ..
            } => crate::location::allowed(),
            Kind::Text {
                check: Check::ObjectLock,
                ..
            } => "\"off\" or \"compliance\"".to_owned(),
            Kind::PemFile { .. } => "the path of a PEM file, or \"\" for none".to_owned(),
            Kind::Listen { on: None, .. } => LISTEN_FORMS.to_owned(),
            Kind::Listen { on: Some(on), .. } => {
                format!("{LISTEN_FORMS}, or \"on\" for {on}")
            }
            Kind::Addr { .. } => "a socket address like 127.0.0.1:8080 or [::1]:8080".to_owned(),
            Kind::Bool { .. } => "true or false".to_owned(),
            Kind::Int { min, max, .. } => format!("a whole number from {min} to {max}"),
            Kind::Size { min, max, .. } => format!(
                "a size from {} to {}: {SIZE_FORMS}",
                value::format_size(*min),
                value::format_size(*max)
            ),
            Kind::Duration { min, max, .. } => format!(
                "a duration from {} to {}: {DURATION_FORMS}",
                value::format_duration(*min),
                value::format_duration(*max)
            ),
            Kind::Offset { .. } => "a UTC offset like \"+05:30\", \"-03:00\", \"Z\", \"UTC\" or \"IST\", at most 14 hours".to_owned(),
            Kind::LogFormat { .. } => "\"text\" or \"json\"".to_owned(),
            Kind::CatalogUrl { .. } => CATALOG_FORMS.to_owned(),
            Kind::StorageUrl { .. } => STORAGE_FORMS.to_owned(),
            Kind::OptPath { empty, .. } => format!("a path, or \"\" for {empty}"),
            Kind::RetentionClasses { max_days, .. } => {
                format!("{CLASSES_FORMS} from 1 to {max_days}")
            }
            Kind::AttributionSources { .. } => SOURCES_FORMS.to_owned(),
            Kind::RadiusClients { .. } => RADIUS_CLIENTS_FORMS.to_owned(),
        }
    }

    pub(crate) fn set_default(&self, c: &mut Config) {
        match self {
            Kind::Path { at, default } => *(at.set)(c) = PathBuf::from(default),
            Kind::Text { at, default, .. } => *(at.set)(c) = (*default).to_owned(),
            Kind::PemFile { at } => *(at.set)(c) = None,
            Kind::StorageUrl { at } => *(at.set)(c) = None,
            Kind::CatalogUrl { at } => *(at.set)(c) = crate::CatalogUrl::DataDir,
            Kind::OptPath { at, .. } => *(at.set)(c) = None,
            Kind::Listen { at, default, .. } => *(at.set)(c) = *default,
            Kind::Addr { at, default } => *(at.set)(c) = *default,
            Kind::Bool { at, default } => *(at.set)(c) = *default,
            Kind::Int { at, default, .. } => at.set(c, *default),
            Kind::Size { at, default, .. } => *(at.set)(c) = *default,
            Kind::Duration { at, default, .. } => *(at.set)(c) = *default,
            Kind::Offset { at, default } => *(at.set)(c) = *default,
            Kind::LogFormat { at, default } => *(at.set)(c) = *default,
            Kind::RetentionClasses { at, .. } => *(at.set)(c) = Vec::new(),
            Kind::AttributionSources { at } => *(at.set)(c) = Vec::new(),
            Kind::RadiusClients { at } => *(at.set)(c) = Vec::new(),
        }
    }

    /// Parses `raw` and stores it; on failure, says what is allowed
    /// (a phrase like "expected a size from ...").
    pub(crate) fn apply(&self, c: &mut Config, raw: &Raw) -> Result<(), String> {
        let expected = || format!("expected {}", self.allowed());
        match self {
            Kind::Path { at, .. } => {
                let text = raw_str(raw)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(expected)?;
                *(at.set)(c) = PathBuf::from(text);
            }
            Kind::Text { at, check, .. } => {
                let text = raw_str(raw).ok_or_else(expected)?;
                let ok = match check {
                    Check::Plain => !text.chars().any(char::is_control),
                    Check::Filter => value::is_filter(text),
                    Check::Identifier => is_identifier(text),
                    Check::Location => {
                        crate::location::Location::parse(text)
                            .map_err(|why| format!("{why}; {}", expected()))?;
                        true
                    }
                    Check::ObjectLock => matches!(text, "off" | "compliance"),
                };
                if !ok {
                    return Err(expected());
                }
                *(at.set)(c) = text.to_owned();
            }
            Kind::PemFile { at } | Kind::OptPath { at, .. } => {
                let text = raw_str(raw).ok_or_else(expected)?;
                *(at.set)(c) = (!text.is_empty()).then(|| PathBuf::from(text));
            }
            Kind::Listen { at, on, .. } => {
                let text = raw_str(raw).ok_or_else(expected)?;
                *(at.set)(c) = if text.is_empty() || text.eq_ignore_ascii_case("off") {
                    None
                } else if let Some(on) = on.filter(|_| text.eq_ignore_ascii_case("on")) {
                    Some(on)
                } else {
                    Some(value::parse_addr(text).ok_or_else(expected)?)
                };
            }
            Kind::Addr { at, .. } => {
                let text = raw_str(raw).ok_or_else(expected)?;
                *(at.set)(c) = value::parse_addr(text).ok_or_else(expected)?;
            }
            Kind::Bool { at, .. } => *(at.set)(c) = value::raw_bool(raw).ok_or_else(expected)?,
            Kind::Int { at, min, max, .. } => {
                let n = value::raw_uint(raw)
                    .filter(|n| (*min..=*max).contains(n))
                    .ok_or_else(expected)?;
                at.set(c, n);
            }
            Kind::Size { at, min, max, .. } => {
                *(at.set)(c) = value::raw_size(raw)
                    .filter(|n| (*min..=*max).contains(n))
                    .ok_or_else(expected)?;
            }
            Kind::Duration { at, min, max, .. } => {
                *(at.set)(c) = value::raw_duration(raw)
                    .filter(|d| (*min..=*max).contains(d))
                    .ok_or_else(expected)?;
            }
            Kind::Offset { at, .. } => {
                *(at.set)(c) = raw_str(raw)
                    .and_then(value::parse_offset)
                    .ok_or_else(expected)?;
            }
            Kind::LogFormat { at, .. } => {
                *(at.set)(c) = match raw_str(raw).map(str::to_ascii_lowercase).as_deref() {
                    Some("text") => LogFormat::Text,
                    Some("json") => LogFormat::Json,
                    _ => return Err(expected()),
                };
            }
            Kind::CatalogUrl { at } => {
                let text = raw_str(raw).ok_or_else(expected)?;
                *(at.set)(c) = parse_catalog_url(text)
                    .map_err(|why| format!("{why}: expected {CATALOG_FORMS}"))?;
            }
            Kind::StorageUrl { at } => {
                let text = raw_str(raw).ok_or_else(expected)?;
                *(at.set)(c) = parse_storage_url(text)
                    .map_err(|why| format!("{why}: expected {STORAGE_FORMS}"))?;
            }
            Kind::RetentionClasses { at, max_days } => {
                *(at.set)(c) = parse_classes(raw, *max_days)
                    .map_err(|why| format!("{why}: {}", expected()))?;
            }
            Kind::AttributionSources { at } => {
                *(at.set)(c) =
                    parse_sources(raw).map_err(|why| format!("{why}: {}", expected()))?;
            }
            Kind::RadiusClients { at } => {
                *(at.set)(c) =
                    parse_radius_clients(raw).map_err(|why| format!("{why}: {}", expected()))?;
            }
        }
        Ok(())
    }

    /// The field's current value as a TOML literal that [`Kind::apply`]
    /// reads back to the same value.
    pub(crate) fn render(&self, c: &Config) -> String {
        let string = |s: &str| value::toml_string(s);
        match self {
            Kind::Path { at, .. } => string(&path_text((at.get)(c))),
            // A URL may carry a password: never shown or recorded.
            Kind::Text { at, .. } => string(&crate::redact((at.get)(c))),
            Kind::PemFile { at } | Kind::OptPath { at, .. } => {
                string(&(at.get)(c).as_deref().map(path_text).unwrap_or_default())
            }
            Kind::Listen { at, .. } => match (at.get)(c) {
                Some(addr) => string(&addr.to_string()),
                None => string("off"),
            },
            Kind::Addr { at, .. } => string(&(at.get)(c).to_string()),
            Kind::Bool { at, .. } => (at.get)(c).to_string(),
            Kind::Int { at, .. } => at.get(c).to_string(),
            Kind::Size { at, .. } => string(&value::format_size(*(at.get)(c))),
            Kind::Duration { at, .. } => string(&value::format_duration(*(at.get)(c))),
            Kind::Offset { at, .. } => string(&value::format_offset(*(at.get)(c))),
            Kind::LogFormat { at, .. } => string((at.get)(c).as_str()),
            Kind::CatalogUrl { at } => match (at.get)(c) {
                crate::CatalogUrl::Sqlite(path) => string(&format!("sqlite:{}", path_text(path))),
                // May carry a password: never shown or recorded.
                crate::CatalogUrl::Postgres(url) => string(&crate::redact(url)),
                crate::CatalogUrl::DataDir => string(""),
            },
            Kind::StorageUrl { at } => match (at.get)(c) {
                Some(target) => string(&target.url()),
                None => string(""),
            },
            Kind::RetentionClasses { at, .. } => {
                let tables: Vec<String> = (at.get)(c)
                    .iter()
                    .map(|class| {
                        let sources: Vec<String> =
                            class.sources.iter().map(|s| string(s)).collect();
                        format!(
                            "{{ name = {}, sources = [{}], days = {} }}",
                            string(&class.name),
                            sources.join(", "),
                            class.days
                        )
                    })
                    .collect();
                format!("[{}]", tables.join(", "))
            }
            Kind::AttributionSources { at } => {
                let tables: Vec<String> = (at.get)(c)
                    .iter()
                    .map(|src| {
                        let mut fields = Vec::new();
                        if let Some((ip, len)) = src.peer {
                            fields.push(format!("peer = {}", string(&format!("{ip}/{len}"))));
                        }
                        if let Some(h) = &src.host {
                            fields.push(format!("host = {}", string(h)));
                        }
                        if let Some(a) = &src.app {
                            fields.push(format!("app = {}", string(a)));
                        }
                        if let Some(f) = &src.file {
                            fields.push(format!("file = {}", string(f)));
                        }
                        let parsers: Vec<String> = src.parsers.iter().map(|p| string(p)).collect();
                        fields.push(format!("parsers = [{}]", parsers.join(", ")));
                        format!("{{ {} }}", fields.join(", "))
                    })
                    .collect();
                format!("[{}]", tables.join(", "))
            }
            // Paths and variable names only: the secrets are never in the configuration.
            Kind::RadiusClients { at } => {
                let tables: Vec<String> = (at.get)(c)
                    .iter()
                    .map(|cl| {
                        let (ip, len) = cl.address;
                        let mut fields =
                            vec![format!("address = {}", string(&format!("{ip}/{len}")))];
                        if let Some(f) = &cl.secret_file {
                            fields.push(format!("secret_file = {}", string(&path_text(f))));
                        }
                        if let Some(e) = &cl.secret_env {
                            fields.push(format!("secret_env = {}", string(e)));
                        }
                        format!("{{ {} }}", fields.join(", "))
                    })
                    .collect();
                format!("[{}]", tables.join(", "))
            }
        }
    }
}

/// A TOML list from the file, or the same list written inline as text (an
/// environment variable; `""` = none).
fn raw_list(raw: &Raw) -> Result<Vec<toml::Value>, String> {
    match raw {
        Raw::Array(items) => Ok(items.clone()),
        Raw::Str(text) if text.trim().is_empty() => Ok(Vec::new()),
        Raw::Str(text) => {
            let table: toml::Table = format!("list = {text}")
                .parse()
                .map_err(|_| "not a TOML list".to_owned())?;
            match table.get("list") {
                Some(toml::Value::Array(items)) => Ok(items.clone()),
                _ => Err("not a TOML list".to_owned()),
            }
        }
        _ => Err("not a list".to_owned()),
    }
}

/// `10.0.0.5`, `10.0.0.0/24`, `2001:db8::/32` → (network address, length).
fn parse_peer_net(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: std::net::IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => l.parse().ok()?,
        Some(_) => return None,
        None => max,
    };
    if len > max {
        return None;
    }
    // Keep the network address (host bits cleared).
    let ip = match ip {
        std::net::IpAddr::V4(v4) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            std::net::IpAddr::V4((u32::from(v4) & m).into())
        }
        std::net::IpAddr::V6(v6) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            std::net::IpAddr::V6((u128::from(v6) & m).into())
        }
    };
    Some((ip, len))
}

/// `attribution.sources` from the file (a TOML array) or from text.
fn parse_sources(raw: &Raw) -> Result<Vec<AttributionSource>, String> {
    let items = raw_list(raw)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let toml::Value::Table(t) = item else {
            return Err(format!("entry {n} is not a table"));
        };
        if let Some(k) = t
            .keys()
            .find(|k| !matches!(k.as_str(), "peer" | "host" | "app" | "file" | "parsers"))
        {
            return Err(format!("entry {n} has an unknown field `{k}`"));
        }
        let text = |k: &str| -> Result<Option<String>, String> {
            match t.get(k) {
                None => Ok(None),
                Some(toml::Value::String(s))
                    if !s.trim().is_empty() && !s.chars().any(char::is_control) =>
                {
                    Ok(Some(s.trim().to_owned()))
                }
                Some(_) => Err(format!("entry {n}: {k} must be a non-empty string")),
            }
        };
        let peer = match text("peer")? {
            None => None,
            Some(p) => Some(parse_peer_net(&p).ok_or_else(|| {
                format!("entry {n}: peer must be an IP address or a network like 10.0.0.0/24")
            })?),
        };
        let host = text("host")?;
        let app = text("app")?;
        let file = text("file")?;
        if let Some(f) = &file {
            if !f.starts_with('/') {
                return Err(format!(
                    "entry {n}: file must be an absolute path (or a pattern of one), as files.paths gives it"
                ));
            }
            if peer.is_some() {
                return Err(format!(
                    "entry {n}: give file or peer, not both (a followed file's lines have no sender address)"
                ));
            }
        }
        if peer.is_none() && host.is_none() && app.is_none() && file.is_none() {
            return Err(format!(
                "entry {n} needs at least one of peer, host, app and file (an entry that names no source would take every line)"
            ));
        }
        let parsers = match t.get("parsers") {
            Some(toml::Value::Array(list)) if !list.is_empty() => {
                let mut ps: Vec<String> = Vec::new();
                for v in list {
                    match v {
                        toml::Value::String(s) if ATTRIBUTION_PARSERS.contains(&s.as_str()) => {
                            if !ps.contains(s) {
                                ps.push(s.clone());
                            }
                        }
                        _ => {
                            return Err(format!(
                                "entry {n}: parsers are names among {}",
                                ATTRIBUTION_PARSERS.join(", ")
                            ))
                        }
                    }
                }
                ps
            }
            _ => {
                return Err(format!(
                    "entry {n} needs parsers (a list of at least one of {})",
                    ATTRIBUTION_PARSERS.join(", ")
                ))
            }
        };
        out.push(AttributionSource {
            peer,
            host,
            app,
            file,
            parsers,
        });
    }
    Ok(out)
}

/// `radius.clients` from the file (a TOML array) or from text.
fn parse_radius_clients(raw: &Raw) -> Result<Vec<RadiusClient>, String> {
    let items = raw_list(raw)?;
    let mut out: Vec<RadiusClient> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let toml::Value::Table(t) = item else {
            return Err(format!("entry {n} is not a table"));
        };
        if let Some(k) = t
            .keys()
            .find(|k| !matches!(k.as_str(), "address" | "secret_file" | "secret_env"))
        {
            return Err(format!(
                "entry {n} has an unknown field `{k}` (the secret itself never goes in the configuration: name a file or an environment variable)"
            ));
        }
        let text = |k: &str| -> Result<Option<String>, String> {
            match t.get(k) {
                None => Ok(None),
                Some(toml::Value::String(s))
                    if !s.trim().is_empty() && !s.chars().any(char::is_control) =>
                {
                    Ok(Some(s.trim().to_owned()))
                }
                Some(_) => Err(format!("entry {n}: {k} must be a non-empty string")),
            }
        };
        let address = text("address")?
            .and_then(|a| parse_peer_net(&a))
            .ok_or_else(|| {
                format!("entry {n} needs an address: an IP address or a network like 10.0.0.0/24")
            })?;
        if out.iter().any(|c| c.address == address) {
            return Err(format!(
                "entry {n}: the address {}/{} is given twice",
                address.0, address.1
            ));
        }
        let secret_file = text("secret_file")?.map(std::path::PathBuf::from);
        let secret_env = text("secret_env")?;
        if secret_file.is_some() == secret_env.is_some() {
            return Err(format!(
                "entry {n} needs exactly one of secret_file and secret_env"
            ));
        }
        out.push(RadiusClient {
            address,
            secret_file,
            secret_env,
        });
    }
    Ok(out)
}

/// `retention.classes` from the file (a TOML array) or from text (the same
/// array written inline, as in an environment variable; `""` = none).
fn parse_classes(raw: &Raw, max_days: u64) -> Result<Vec<RetentionClass>, String> {
    let items = raw_list(raw)?;
    let mut out: Vec<RetentionClass> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let toml::Value::Table(t) = item else {
            return Err(format!("entry {n} is not a table"));
        };
        if let Some(k) = t
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "sources" | "days"))
        {
            return Err(format!("entry {n} has an unknown field `{k}`"));
        }
        let name = match t.get("name") {
            Some(toml::Value::String(s))
                if !s.trim().is_empty() && !s.chars().any(char::is_control) =>
            {
                s.clone()
            }
            _ => return Err(format!("entry {n} needs a name (a non-empty string)")),
        };
        if out.iter().any(|c| c.name == name) {
            return Err(format!("the name \"{name}\" is used twice"));
        }
        let sources = match t.get("sources") {
            Some(toml::Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) if !s.is_empty() && !s.chars().any(char::is_control) => {
                        Ok(s.clone())
                    }
                    _ => Err(format!(
                        "class \"{name}\": sources must be non-empty strings"
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(format!(
                    "class \"{name}\" needs sources (a list of at least one pattern)"
                ))
            }
        };
        let days = match t.get("days") {
            Some(toml::Value::Integer(d)) if (1..=max_days as i64).contains(d) => *d as u64,
            _ => {
                return Err(format!(
                    "class \"{name}\" needs days (a whole number from 1 to {max_days})"
                ))
            }
        };
        out.push(RetentionClass {
            name,
            sources,
            days,
        });
    }
    Ok(out)
}

/// `""` → the data directory's file; `sqlite:PATH`, `sqlite://PATH` → that
/// file; `postgres://...`, `postgresql://...` → PostgreSQL (the URL is
/// checked when the catalog connects, and its errors never show it whole).
fn parse_catalog_url(text: &str) -> Result<crate::CatalogUrl, &'static str> {
    if text.is_empty() {
        return Ok(crate::CatalogUrl::DataDir);
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return if text.chars().any(char::is_whitespace) {
            Err("a PostgreSQL URL has no spaces")
        } else {
            Ok(crate::CatalogUrl::Postgres(text.to_owned()))
        };
    }
    let Some(rest) = text.strip_prefix("sqlite:") else {
        return Err("neither sqlite nor postgres");
    };
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        Err("the SQLite path is missing")
    } else if path == ":memory:" || path.starts_with("file::memory:") {
        Err("an in-memory catalog would be lost at exit")
    } else if path.contains('?') {
        Err("URL parameters are not supported")
    } else {
        Ok(crate::CatalogUrl::Sqlite(PathBuf::from(path)))
    }
}

/// `""` → `None`; `file:///abs/path` → a directory; `s3://bucket[/prefix]`
/// → a bucket and key prefix.
fn parse_storage_url(text: &str) -> Result<Option<StorageTarget>, &'static str> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(rest) = text.strip_prefix("s3://") {
        return parse_s3(rest).map(Some);
    }
    let Some(path) = text.strip_prefix("file://") else {
        return Err("unsupported storage URL");
    };
    if !path.starts_with('/') {
        Err("a file:// URL needs an absolute path (three slashes: file:///var/lib/pramaan/objects)")
    } else {
        Ok(Some(StorageTarget::Dir(PathBuf::from(path))))
    }
}

/// `bucket[/prefix]`: an S3 bucket name (3-63 lower-case letters, digits,
/// `.` and `-`) and a prefix of plain path segments (no `..`, no empty
/// segment, no `?`, `#` or `\\`: the keys pramaan makes are joined to it).
fn parse_s3(rest: &str) -> Result<StorageTarget, &'static str> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
    if bucket.contains('@') || bucket.contains(':') {
        return Err("credentials and ports do not go in storage.url: use storage.credentials_file (or the environment) and storage.endpoint");
    }
    if !bucket_ok {
        return Err("the bucket name must be 3 to 63 lower-case letters, digits, '.' or '-'");
    }
    let prefix_ok = prefix.is_empty()
        || prefix.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && !seg.contains(['?', '#', '\\'])
                && !seg.chars().any(char::is_control)
        });
    if !prefix_ok {
        return Err("the key prefix after the bucket must be plain path segments (no empty, `.` or `..` segment, no ? # or \\)");
    }
    Ok(StorageTarget::S3 {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// One configuration key.
pub(crate) struct KeyDef {
    /// Dotted name: `data_dir`, `http.listen`.
    pub key: &'static str,
    pub kind: Kind,
    /// One or two sentences for the reference and the example file.
    pub help: &'static str,
}

impl KeyDef {
    /// `data_dir` → `None`; `http.listen` → `Some("http")`.
    pub(crate) fn section(&self) -> Option<&'static str> {
        self.key.split_once('.').map(|(section, _)| section)
    }

    /// `http.listen` → `listen`.
    pub(crate) fn leaf(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(_, leaf)| leaf)
    }

    pub(crate) fn env_var(&self) -> String {
        env_var_for(self.key)
    }
}

/// The environment variable for a dotted key: `PRAMAAN_` and the key
/// uppercased with `.` as `_` (`http.listen` → `PRAMAAN_HTTP_LISTEN`).
pub fn env_var_for(key: &str) -> String {
    format!("PRAMAAN_{}", key.to_ascii_uppercase().replace('.', "_"))
}

const fn local(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const MINUTE: u64 = 60;
const DAY: u64 = 86_400;
/// A hundred years.
const MAX_RETENTION_DAYS: u64 = 36_500;

/// Every key, in the order `render`, the reference and the example use.
/// Keys without a section come first.
pub(crate) static KEYS: &[KeyDef] = &[
    KeyDef {
        key: "data_dir",
        kind: Kind::Path {
            at: at!(data_dir),
            default: "./pramaan-data",
        },
        help: "Directory for everything pramaan keeps: the write-ahead log, the segments, the \
            catalog and (unless `storage.url` says otherwise) the stored objects. A relative \
            path is relative to the working directory.",
    },
    // [node]
    KeyDef {
        key: "node.organisation",
        kind: Kind::Text {
            at: at!(node.organisation),
            default: "",
            check: Check::Plain,
        },
        help: "Name of the organisation that owns these logs, for reports and exports. Empty \
            means \"pramaan\".",
    },
    KeyDef {
        key: "node.name",
        kind: Kind::Text {
            at: at!(node.name),
            default: "",
            check: Check::Plain,
        },
        help: "Name of this vault node. Empty means the host name from /etc/hostname, or \
            \"node\" when that cannot be read.",
    },
    // [syslog]
    KeyDef {
        key: "syslog.udp_listen",
        kind: Kind::Listen {
            at: at!(syslog.udp_listen),
            default: Some(local(5514)),
            on: None,
        },
        help: "Address to receive syslog over UDP (RFC 5426), or \"off\".",
    },
    KeyDef {
        key: "syslog.tcp_listen",
        kind: Kind::Listen {
            at: at!(syslog.tcp_listen),
            default: Some(local(5514)),
            on: None,
        },
        help: "Address to receive syslog over TCP (RFC 6587, octet-counted or newline-framed), \
            or \"off\". It may share its address with `syslog.udp_listen`, not with another TCP \
            listener.",
    },
    KeyDef {
        key: "syslog.tls_listen",
        kind: Kind::Listen {
            at: at!(syslog.tls_listen),
            default: Some(local(6514)),
            on: None,
        },
        help: "Address to receive syslog over TLS (RFC 5425), or \"off\". The TLS listener \
            starts only when `syslog.tls_cert` and `syslog.tls_key` are both set.",
    },
    KeyDef {
        key: "syslog.tls_cert",
        kind: Kind::PemFile {
            at: at!(syslog.tls_cert),
        },
        help: "PEM file with the certificate chain for the TLS listener. Set it together with \
            `syslog.tls_key`, or neither.",
    },
    KeyDef {
        key: "syslog.tls_key",
        kind: Kind::PemFile {
            at: at!(syslog.tls_key),
        },
        help: "PEM file with the private key for `syslog.tls_cert`.",
    },
    KeyDef {
        key: "syslog.tls_client_ca",
        kind: Kind::PemFile {
            at: at!(syslog.tls_client_ca),
        },
        help: "PEM file with the CA certificate(s) that sign senders' client certificates. When \
            set, the TLS listener accepts only senders presenting such a certificate (mTLS); \
            refused handshakes are counted in `pramaan_connections_refused_total`.",
    },
    KeyDef {
        key: "syslog.allow",
        kind: Kind::Text {
            at: at!(syslog.allow),
            default: "127.0.0.0/8, ::1/128",
            check: Check::Plain,
        },
        help: "Source addresses the syslog listeners (UDP, TCP, TLS) accept, as CIDRs separated \
            by commas or spaces (`10.0.0.0/8, 192.0.2.7/32`; `0.0.0.0/0, ::/0` for any). \
            Others are refused, counted in `pramaan_connections_refused_total` (reason \
            `not_allowed`) and logged. The default is loopback only, like the listen \
            addresses: widen both together.",
    },
    KeyDef {
        key: "syslog.max_line",
        kind: Kind::Size {
            at: at!(syslog.max_line),
            default: 64 * KIB,
            min: 256,
            max: 16 * MIB,
        },
        help: "Longest syslog message accepted, in bytes. A longer message is refused whole, \
            never stored cut short.",
    },
    KeyDef {
        key: "syslog.max_connections",
        kind: Kind::Int {
            at: IntAt::Usize(at!(syslog.max_connections)),
            default: 1024,
            min: 1,
            max: 1_000_000,
        },
        help: "Most TCP and TLS syslog connections open at once.",
    },
    KeyDef {
        key: "syslog.idle_timeout",
        kind: Kind::Duration {
            at: at!(syslog.idle_timeout),
            default: secs(10 * MINUTE),
            min: secs(0),
            max: secs(7 * DAY),
        },
        help: "A TCP or TLS connection that sends nothing for this long is closed. 0 means never.",
    },
    KeyDef {
        key: "syslog.max_connections_per_source",
        kind: Kind::Int {
            at: IntAt::Usize(at!(syslog.max_connections_per_source)),
            default: 64,
            min: 1,
            max: 1_000_000,
        },
        help: "Most TCP (and, apart, TLS) syslog connections open at once from one source \
            address, so that one sender cannot take every slot of `syslog.max_connections`. \
            Refusals are counted in `pramaan_connections_refused_total` (reason `per_source`) \
            and logged at most once a minute with their count.",
    },
    KeyDef {
        key: "syslog.first_byte_timeout",
        kind: Kind::Duration {
            at: at!(syslog.first_byte_timeout),
            default: secs(10),
            min: secs(0),
            max: secs(DAY),
        },
        help: "A TCP or TLS connection that has sent nothing (for TLS: not finished its \
            handshake and sent a first byte) this long after it was accepted is closed, and \
            counted in `pramaan_connections_closed_total` (reason `first_byte_timeout`). 0 \
            means only `syslog.idle_timeout` applies.",
    },
    KeyDef {
        key: "syslog.default_timezone",
        kind: Kind::Offset {
            at: at!(syslog.default_timezone),
            default: 5 * 3600 + 30 * 60,
        },
        help: "Time zone in which to read message timestamps that carry none (RFC 3164 stamps \
            never do).",
    },
    // [http]
    KeyDef {
        key: "http.listen",
        kind: Kind::Addr {
            at: at!(http.listen),
            default: local(8080),
        },
        help: "Address of the HTTP API.",
    },
    KeyDef {
        key: "http.max_body",
        kind: Kind::Size {
            at: at!(http.max_body),
            default: 64 * MIB,
            min: KIB,
            max: 4 * GIB,
        },
        help: "Largest HTTP request body accepted, in bytes after decompression.",
    },
    KeyDef {
        key: "http.max_concurrent_ingests",
        kind: Kind::Int {
            at: IntAt::Usize(at!(http.max_concurrent_ingests)),
            default: 4,
            min: 1,
            max: 4096,
        },
        help: "Most `POST /api/v1/ingest` requests read and decoded at once. Each may hold up \
            to `http.max_body` bytes of lines (and its compressed body) in memory; a request \
            beyond the limit waits up to `http.ingest_wait` for a turn, then is answered 503 \
            with `Retry-After`.",
    },
    KeyDef {
        key: "http.ingest_wait",
        kind: Kind::Duration {
            at: at!(http.ingest_wait),
            default: secs(10),
            min: secs(0),
            max: secs(10 * MINUTE),
        },
        help: "How long an ingest request over `http.max_concurrent_ingests` waits for a turn \
            before it is answered 503 with `Retry-After` (nothing of it stored). 0 answers at once.",
    },
    KeyDef {
        key: "http.request_timeout",
        kind: Kind::Duration {
            at: at!(http.request_timeout),
            default: secs(60),
            min: secs(1),
            max: secs(DAY),
        },
        help: "An HTTP request that takes longer than this is abandoned with an error.",
    },
    KeyDef {
        key: "http.tls_cert",
        kind: Kind::PemFile {
            at: at!(http.tls_cert),
        },
        help: "PEM certificate chain: with `http.tls_key`, the HTTP API speaks HTTPS only \
            (rustls), sends HSTS and marks session cookies Secure. `pramaan tls self-signed` \
            makes a pair for trials. The syslog TLS listener may use the same files.",
    },
    KeyDef {
        key: "http.tls_key",
        kind: Kind::PemFile {
            at: at!(http.tls_key),
        },
        help: "PEM private key for `http.tls_cert`.",
    },
    // [wal]
    KeyDef {
        key: "wal.fsync",
        kind: Kind::Bool {
            at: at!(wal.fsync),
            default: true,
        },
        help: "Flush the write-ahead log to disk before a line is acknowledged. WARNING: false \
            is for benchmarks only; with it, lines already acknowledged to senders can be lost \
            on a crash or power cut.",
    },
    KeyDef {
        key: "wal.file_size",
        kind: Kind::Size {
            at: at!(wal.file_size),
            default: 64 * MIB,
            min: 64 * KIB,
            max: 64 * GIB,
        },
        help: "Start a new write-ahead-log file once the current one reaches this size.",
    },
    KeyDef {
        key: "wal.max_batch",
        kind: Kind::Size {
            at: at!(wal.max_batch),
            default: 4 * MIB,
            min: 4 * KIB,
            max: GIB,
        },
        help: "Most bytes written and flushed together in one group commit. At most \
            `wal.file_size`.",
    },
    // [segments]
    KeyDef {
        key: "segments.max_rows",
        kind: Kind::Int {
            at: IntAt::U64(at!(segments.max_rows)),
            default: 1_000_000,
            min: 1,
            max: 1_000_000_000,
        },
        help: "Seal the in-memory table into a segment once it holds this many lines.",
    },
    KeyDef {
        key: "segments.max_bytes",
        kind: Kind::Size {
            at: at!(segments.max_bytes),
            default: 16 * MIB,
            min: MIB,
            max: 64 * GIB,
        },
        help: "Seal the in-memory table into a segment once its raw lines add up to this many \
            bytes. Memory in use while ingesting is a few times this (the \
            generation being filled, the one being sealed, Arrow and Parquet buffers): 16 MiB \
            keeps peak RSS under 512 MiB at full speed.",
    },
    KeyDef {
        key: "segments.max_age",
        kind: Kind::Duration {
            at: at!(segments.max_age),
            default: secs(5 * MINUTE),
            min: secs(1),
            max: secs(DAY),
        },
        help: "Seal a non-empty in-memory table once its oldest line has waited this long.",
    },
    KeyDef {
        key: "segments.row_group_rows",
        kind: Kind::Int {
            at: IntAt::Usize(at!(segments.row_group_rows)),
            default: 65_536,
            min: 1,
            max: 16_777_216,
        },
        help: "Lines per Parquet row group inside a segment.",
    },
    KeyDef {
        key: "segments.zstd_level",
        kind: Kind::Int {
            at: IntAt::I32(at!(segments.zstd_level)),
            default: 1,
            min: 1,
            max: 22,
        },
        help: "Zstandard compression level at which segments are sealed: the fastest, so that \
            sealing takes as little as possible of the CPU ingest needs (a sealer that falls behind \
            slows ingest down); `compact_level` makes them small later.",
    },
    KeyDef {
        key: "segments.compact_level",
        kind: Kind::Int {
            at: IntAt::I32(at!(segments.compact_level)),
            default: 19,
            min: 0,
            max: 22,
        },
        help: "Zstandard level at which `serve` rewrites each sealed segment once, in the \
            background at the lowest CPU priority and in larger pages (about a fifth smaller \
            than sealed at `zstd_level` 1 on typical logs; the records and their proofs do not change). \
            0 switches compaction off. `pramaan compact` does it on demand.",
    },
    KeyDef {
        key: "segments.compact_after",
        kind: Kind::Duration {
            at: at!(segments.compact_after),
            default: secs(10 * MINUTE),
            min: secs(0),
            max: secs(30 * DAY),
        },
        help: "Compact a segment once it has been sealed this long.",
    },
    KeyDef {
        key: "segments.cut_hourly",
        kind: Kind::Bool {
            at: at!(segments.cut_hourly),
            default: true,
        },
        help: "Never let a segment span a UTC hour boundary of `received_at`, so that retention \
            removes data exactly to the hour.",
    },
    KeyDef {
        key: "segments.search_nice",
        kind: Kind::Int {
            at: IntAt::I32(at!(segments.search_nice)),
            default: 10,
            min: 0,
            max: 19,
        },
        help: "Nice value (CPU priority, 19 lowest) of the threads that scan segments for searches. \
            Searches use every idle cycle, but ingest comes first: at the same priority, searches \
            that scan a large vault without pause take the CPU that sealing needs, and unsealed \
            lines pile up in memory. 0 runs them at ingest's priority.",
    },
    // [sql]
    KeyDef {
        key: "sql.timeout",
        kind: Kind::Duration {
            at: at!(sql.timeout),
            default: secs(30),
            min: secs(1),
            max: secs(DAY),
        },
        help: "A SQL query (`POST /api/v1/sql`, `pramaan sql`) still running after this is \
            cancelled and answered with an error naming this key. Keep it under \
            `http.request_timeout`, or HTTP clients get that timeout's 408 instead.",
    },
    KeyDef {
        key: "sql.memory_limit",
        kind: Kind::Size {
            at: at!(sql.memory_limit),
            default: 512 << 20,
            min: 16 << 20,
            max: 1 << 40,
        },
        help: "Memory the joins, sorts and aggregations of all SQL queries running at once may \
            hold together. A query that needs more fails with an error naming this key; nothing \
            spills to disk.",
    },
    KeyDef {
        key: "sql.max_result_rows",
        kind: Kind::Int {
            at: IntAt::U64(at!(sql.max_result_rows)),
            default: 100_000,
            min: 1,
            max: 1_000_000_000,
        },
        help: "Most rows one SQL answer may hold. A query whose result has more fails with an \
            error naming this key (the answer is never cut short); add a LIMIT or aggregate.",
    },
    KeyDef {
        key: "sql.max_result_bytes",
        kind: Kind::Size {
            at: at!(sql.max_result_bytes),
            default: 64 << 20,
            min: 1 << 10,
            max: 1 << 40,
        },
        help: "Most bytes of values one SQL answer may hold (as the query engine holds them, \
            before they are written as JSON or a table). A larger result fails with an error \
            naming this key.",
    },
    KeyDef {
        key: "sql.max_concurrent_per_user",
        kind: Kind::Int {
            at: IntAt::Usize(at!(sql.max_concurrent_per_user)),
            default: 2,
            min: 1,
            max: 1000,
        },
        help: "SQL queries one user (or token) may run at once through the HTTP API; one more \
            is refused with 429 Too Many Requests.",
    },
    // [retention]
    KeyDef {
        key: "retention.days",
        kind: Kind::Int {
            at: IntAt::U64(at!(retention.days)),
            default: 180,
            min: 1,
            max: MAX_RETENTION_DAYS,
        },
        help: "Keep records this many days after they were received (by `received_at`) before \
            retention deletes them, for every source that no `retention.classes` entry names. \
            CERT-In requires 180; a shorter window is refused unless \
            `retention.allow_non_compliant` is true.",
    },
    KeyDef {
        key: "retention.classes",
        kind: Kind::RetentionClasses {
            at: at!(retention.classes),
            max_days: MAX_RETENTION_DAYS,
        },
        help: "Other windows for some sources: a list of `{ name, sources, days }` tables, \
            written `[[retention.classes]]` in the file. `sources` are patterns (`*`, `?`) on a \
            source's name, which is the host a line names, else the sender's address; the \
            first class that matches a source decides its window. A segment is deleted only \
            when every source in it is past its window.",
    },
    KeyDef {
        key: "retention.allow_non_compliant",
        kind: Kind::Bool {
            at: at!(retention.allow_non_compliant),
            default: false,
        },
        help: "Allow a retention window under CERT-In's 180 days. The vault then reports itself \
            as non-compliant in `pramaan status`, the status API and the \
            `pramaan_retention_compliant` metric.",
    },
    KeyDef {
        key: "retention.interval",
        kind: Kind::Duration {
            at: at!(retention.interval),
            default: secs(3600),
            min: secs(1),
            max: secs(7 * DAY),
        },
        help: "Time between retention runs in `pramaan serve`; the first run is shortly after \
            start.",
    },
    // [catalog]
    KeyDef {
        key: "catalog.url",
        kind: Kind::CatalogUrl {
            at: at!(catalog.url),
        },
        help: "Where the segment catalog lives (the segments, retention's holds, deletions and \
            runs, the ledger's checkpoint history). Empty means SQLite at <data_dir>/catalog.db; \
            `sqlite:PATH` another SQLite file; `postgres://user@host:port/db` PostgreSQL, in the \
            schema `catalog.schema` (a password in the URL is never shown or logged).",
    },
    KeyDef {
        key: "catalog.schema",
        kind: Kind::Text {
            at: at!(catalog.schema),
            default: "pramaan_catalog",
            check: Check::Identifier,
        },
        help: "The PostgreSQL schema of a PostgreSQL catalog (created, and migrated, by `pramaan \
            serve`). Unused with SQLite.",
    },
    // [storage]
    KeyDef {
        key: "storage.url",
        kind: Kind::StorageUrl {
            at: at!(storage.url),
        },
        help: "Where sealed segments, ledger tiles and checkpoints are stored. Empty means the \
            local directory <data_dir>/objects; `file:///path` another directory; \
            `s3://bucket/prefix` a bucket of an S3-compatible store (AWS, an Indian cloud region, \
            or one on premises), reached with the `storage.endpoint`, `storage.region` and \
            credentials below.",
    },
    KeyDef {
        key: "storage.endpoint",
        kind: Kind::Text {
            at: at!(storage.endpoint),
            default: "",
            check: Check::Plain,
        },
        help: "The S3 server's URL, like `https://s3.example.in` or `http://127.0.0.1:3900`; \
            empty means AWS itself. Only read when `storage.url` is `s3://`.",
    },
    KeyDef {
        key: "storage.region",
        kind: Kind::Text {
            at: at!(storage.region),
            default: "",
            check: Check::Plain,
        },
        help: "The bucket's region, which requests are signed for (AWS Mumbai is `ap-south-1`, \
            Hyderabad `ap-south-2`). Empty with an endpoint means `us-east-1`, what most \
            S3-compatible stores accept; with AWS itself it must be set.",
    },
    KeyDef {
        key: "storage.location",
        kind: Kind::Text {
            at: at!(storage.location),
            default: "",
            check: Check::Location,
        },
        help: "Where the evidence store is, in India (direction (v): logs are kept within Indian \
            jurisdiction): a cloud region in India by its id (`ap-south-1`, `centralindia`, \
            `asia-south1`...), or `on-premises:<site>` for a store on premises or an Indian \
            provider's region pramaan does not list. With a bucket, the region the bucket reports \
            is checked against it at start (a cloud region's id; for a site, `storage.region`); \
            `pramaan status` and the dashboard's logs card show it, red on a mismatch. Empty: not \
            declared (amber with a bucket).",
    },
    KeyDef {
        key: "storage.path_style",
        kind: Kind::Bool {
            at: at!(storage.path_style),
            default: true,
        },
        help: "Address the bucket in the path (`https://endpoint/bucket/key`), as most stores on \
            premises need; false puts it in the host name (`https://bucket.endpoint/key`).",
    },
    KeyDef {
        key: "storage.allow_http",
        kind: Kind::Bool {
            at: at!(storage.allow_http),
            default: false,
        },
        help: "Allow a plain `http://` endpoint. Off, because credentials and evidence would cross \
            the network unencrypted; turn on only for a store on this machine or a trusted network.",
    },
    KeyDef {
        key: "storage.credentials_file",
        kind: Kind::OptPath {
            at: at!(storage.credentials_file),
            empty: "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)",
        },
        help: "An AWS-style credentials file (`[default]` with `aws_access_key_id` and \
            `aws_secret_access_key`) holding the S3 access key. Empty means the environment. \
            The secret is never logged or shown.",
    },
    KeyDef {
        key: "storage.credentials_profile",
        kind: Kind::Text {
            at: at!(storage.credentials_profile),
            default: "default",
            check: Check::Plain,
        },
        help: "The section of `storage.credentials_file` to read.",
    },
    KeyDef {
        key: "storage.cache_size",
        kind: Kind::Size {
            at: at!(storage.cache_size),
            default: 10 * GIB,
            min: 0,
            max: 64 * TIB,
        },
        help: "With a bucket (`storage.url = \"s3://...\"`): bytes of segments kept on local disk \
            under <data_dir>/cache, so that searches read them there instead of making a round \
            trip to the store for each range; the least recently read go first. 0 keeps none. \
            `verify` and compaction always read the bucket itself.",
    },
    KeyDef {
        key: "storage.object_lock",
        kind: Kind::Text {
            at: at!(storage.object_lock),
            default: "off",
            check: Check::ObjectLock,
        },
        help: "Write once, read many: \"compliance\" puts every segment, full ledger tile and \
            checkpoint under S3 Object Lock in COMPLIANCE mode until its retention window ends (a \
            segment: its newest line's arrival plus its window; a tile or checkpoint: the longest \
            window from when it is written), which no one can shorten, and a legal hold adds an \
            object legal hold. Needs a bucket made with Object Lock (start refuses one without); \
            retention deletes every version of a segment on the day its lock ends. Compaction \
            (segments.compact_level) is not run under it: the bucket would keep each locked \
            original beside its copy. \"off\": no lock.",
    },
    // [log]
    KeyDef {
        key: "log.level",
        kind: Kind::Text {
            at: at!(log.level),
            default: "info",
            check: Check::Filter,
        },
        help: "Which of pramaan's own diagnostic messages to print, as a tracing filter directive.",
    },
    KeyDef {
        key: "log.format",
        kind: Kind::LogFormat {
            at: at!(log.format),
            default: LogFormat::Text,
        },
        help: "Format of pramaan's own diagnostic messages on standard error: \"text\" for \
            people, \"json\" for log collectors.",
    },
    // [metrics]
    KeyDef {
        key: "metrics.enabled",
        kind: Kind::Bool {
            at: at!(metrics.enabled),
            default: true,
        },
        help: "Serve Prometheus metrics on `http.listen`.",
    },
    KeyDef {
        key: "metrics.public",
        kind: Kind::Bool {
            at: at!(metrics.public),
            default: false,
        },
        help: "Serve `/metrics` without authentication. When false, a scraper needs a token \
            with the auditor or poc role (or admin).",
    },
    KeyDef {
        key: "metrics.max_sources",
        kind: Kind::Int {
            at: IntAt::Usize(at!(metrics.max_sources)),
            default: 1000,
            min: 1,
            max: 1_000_000,
        },
        help: "Most distinct `source` label values in `/metrics` (sender addresses can be \
            many, and UDP ones spoofed). The first ones seen keep their own series; counts \
            of later sources go under `source=\"other\"`, and \
            `pramaan_metrics_sources_folded` says how many sources were folded there.",
    },
    // [auth]
    KeyDef {
        key: "auth.max_failures",
        kind: Kind::Int {
            at: IntAt::U64(at!(auth.max_failures)),
            default: 5,
            min: 0,
            max: 1000,
        },
        help: "Failed logins (within `auth.lockout`) after which a user name is locked for \
            `auth.lockout`, even with the right password. 0 never locks.",
    },
    KeyDef {
        key: "auth.lockout",
        kind: Kind::Duration {
            at: at!(auth.lockout),
            default: secs(15 * MINUTE),
            min: secs(1),
            max: secs(DAY),
        },
        help: "How long a lock-out lasts, counted from the last failure; also the window in \
            which failures are counted.",
    },
    KeyDef {
        key: "auth.login_rate",
        kind: Kind::Int {
            at: IntAt::U64(at!(auth.login_rate)),
            default: 30,
            min: 0,
            max: 1_000_000,
        },
        help: "Login attempts (password checks) accepted per source address per minute; more \
            are answered 429. 0 means no limit.",
    },
    KeyDef {
        key: "auth.session_ttl",
        kind: Kind::Duration {
            at: at!(auth.session_ttl),
            default: secs(8 * 3600),
            min: secs(60),
            max: secs(30 * DAY),
        },
        help: "How long a console login session lasts.",
    },
    KeyDef {
        key: "auth.audit_reads",
        kind: Kind::Bool {
            at: at!(auth.audit_reads),
            default: true,
        },
        help: "Record every search and SQL query (with the query) and every read of the audit \
            trail in the audit trail. Logins, changes, holds, deletions and reads of personal \
            data are always recorded. The records are pramaan's own (auditors search them with \
            `search --internal`; log searches never show them). false is for test rigs and \
            benchmarks only, which count the records committed.",
    },
    // [registry]
    KeyDef {
        key: "registry.url",
        kind: Kind::Text {
            at: at!(registry.url),
            default: "",
            check: Check::Plain,
        },
        help: "Where the subscriber register lives: empty means SQLite at <data_dir>/registry.db, \
            `sqlite:PATH` another SQLite file, `postgres://user@host:port/db` PostgreSQL (tables \
            in the schema `pramaan_registry`).",
    },
    KeyDef {
        key: "registry.retention_years",
        kind: Kind::Int {
            at: IntAt::U64(at!(registry.retention_years)),
            default: 5,
            min: 1,
            max: 100,
        },
        help: "Keep a subscriber's record this many years after the end of their last period of \
            hire, then erase it (crypto-shredding). CERT-In requires 5; fewer is refused unless \
            `registry.allow_non_compliant` is true.",
    },
    KeyDef {
        key: "registry.allow_non_compliant",
        kind: Kind::Bool {
            at: at!(registry.allow_non_compliant),
            default: false,
        },
        help: "Allow `registry.retention_years` under CERT-In's 5 years. The register is then \
            reported as non-compliant.",
    },
    KeyDef {
        key: "registry.master_key_file",
        kind: Kind::OptPath {
            at: at!(registry.master_key_file),
            empty: "<data_dir>/registry/master.key",
        },
        help: "The master key that wraps every subscriber's data key (64 hex digits). Empty means \
            <data_dir>/registry/master.key, created readable by its owner only at first use. \
            Without it the register cannot be read: back it up apart from the data.",
    },
    KeyDef {
        key: "registry.master_key_env",
        kind: Kind::Text {
            at: at!(registry.master_key_env),
            default: "",
            check: Check::Plain,
        },
        help: "The name of an environment variable that holds the master key (64 hex digits), \
            instead of the file. The key itself never goes in the configuration.",
    },
    KeyDef {
        key: "registry.erase_interval",
        kind: Kind::Duration {
            at: at!(registry.erase_interval),
            default: secs(3600),
            min: secs(1),
            max: secs(7 * DAY),
        },
        help: "Time between runs in `pramaan serve` that erase subscribers past retention (legal \
            holds excepted); the first run is shortly after start.",
    },
    // [attribution]
    KeyDef {
        key: "attribution.max_session",
        kind: Kind::Duration {
            at: at!(attribution.max_session),
            default: secs(7 * DAY),
            min: secs(60),
            max: secs(366 * DAY),
        },
        help: "Longest a dynamic session (RADIUS, OpenVPN, JSON session event, CGNAT port \
            block) is taken to last when its Stop never came and no later Start on the same \
            address closed it. `pramaan whois` treats it as held from its start up to this long.",
    },
    KeyDef {
        key: "attribution.sources",
        kind: Kind::AttributionSources {
            at: at!(attribution.sources),
        },
        help: "The session sources: the senders whose log lines may create bindings, written \
            `[[attribution.sources]]` in the file, each `{ peer, host, app, file, parsers }`. A \
            line is read only by the `parsers` (radius, openvpn, cgnat, json, dhcp, ipsec) of an entry \
            whose every given field matches it: `peer` is the sender's address or network \
            (`10.0.0.5`, `10.0.0.0/24`), `host` and `app` are patterns (`*`, `?`) on the host \
            and application the line names, `file` a pattern on the path of a file that \
            `files.paths` follows (Kea's lease file, `/var/lib/kea/kea-leases4.csv`). Empty (the default): no log line creates bindings, so \
            text that someone put into another program's log cannot claim an address. `host` \
            and `app` are written by the sender: give `peer` to trust only a machine.",
    },
    KeyDef {
        key: "attribution.import_max_body",
        kind: Kind::Size {
            at: at!(attribution.import_max_body),
            default: 4 * GIB,
            min: MIB,
            max: TIB,
        },
        help: "Largest bindings CSV that one `POST /api/v1/whois/import-bindings` (and so \
            `pramaan whois import-bindings` against a running server) takes, in bytes. The \
            body is read as it arrives and checked line by line, so memory holds the \
            bindings, not the file.",
    },
    // [radius]
    KeyDef {
        key: "radius.listen",
        kind: Kind::Listen {
            at: at!(radius.listen),
            default: None,
            on: Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1813))),
        },
        help: "The RADIUS accounting server (RFC 2866, UDP): NASes and RADIUS servers send \
            Accounting-Requests here, and each is answered only once it is stored durably, so a \
            sender retransmits until pramaan has it. Start, Interim-Update and Stop become IP \
            bindings for `pramaan whois`. Off by default; \"on\" is 127.0.0.1:1813. Only \
            senders in `radius.clients`, or any sender when `radius.secret_file` or \
            `radius.secret_env` is set, are answered.",
    },
    KeyDef {
        key: "radius.secret_file",
        kind: Kind::OptPath {
            at: at!(radius.secret_file),
            empty: "none",
        },
        help: "A file whose first line is the shared secret for RADIUS clients that \
            `radius.clients` does not list. Empty (the default): such clients are refused. The \
            secret is never logged or shown.",
    },
    KeyDef {
        key: "radius.secret_env",
        kind: Kind::Text {
            at: at!(radius.secret_env),
            default: "",
            check: Check::Plain,
        },
        help: "The name of an environment variable holding the shared secret for RADIUS \
            clients that `radius.clients` does not list (instead of `radius.secret_file`). \
            Never logged or shown.",
    },
    KeyDef {
        key: "radius.clients",
        kind: Kind::RadiusClients {
            at: at!(radius.clients),
        },
        help: "RADIUS clients with their own shared secret, written `[[radius.clients]]` in the \
            file, each `{ address, secret_file }` or `{ address, secret_env }`: `address` is the \
            client's address or network (`10.0.0.5`, `10.0.0.0/24`; the most specific entry \
            wins), `secret_file` a file whose first line is the secret, `secret_env` the name \
            of an environment variable holding it. A packet from any other address is dropped \
            (and counted) unless `radius.secret_file` or `radius.secret_env` gives a default \
            secret.",
    },
    KeyDef {
        key: "radius.max_pending",
        kind: Kind::Int {
            at: IntAt::Usize(at!(radius.max_pending)),
            default: 4096,
            min: 1,
            max: 1_000_000,
        },
        help: "Most Accounting-Requests waiting to be stored at once; more are dropped (and \
            counted) and their senders retransmit.",
    },
    KeyDef {
        key: "radius.max_clock_skew",
        kind: Kind::Duration {
            at: at!(radius.max_clock_skew),
            default: secs(60),
            min: secs(1),
            max: secs(DAY),
        },
        help: "How far a NAS's Event-Timestamp may be from the packet's arrival (pramaan's \
            synchronised clock, minus Acct-Delay-Time) and still give the binding its time. \
            Further off, the NAS's clock is wrong: the arrival is used, and the packet is \
            counted in `pramaan_radius_clock_skewed_total`.",
    },
    // [relp]
    KeyDef {
        key: "relp.listen",
        kind: Kind::Listen {
            at: at!(relp.listen),
            default: None,
            on: Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2514))),
        },
        help: "The RELP listener (rsyslog's `omrelp`, TCP): each `syslog` frame's message is \
            stored as a syslog line and acknowledged (`rsp 200 OK`) only once it is fsync'd in \
            the WAL, so rsyslog resends whatever was not acknowledged. Off by default; \"on\" is \
            127.0.0.1:2514. It shares `syslog.allow`, `syslog.max_line`, \
            `syslog.max_connections`, `syslog.max_connections_per_source`, \
            `syslog.first_byte_timeout` and `syslog.idle_timeout` with the syslog listeners.",
    },
    KeyDef {
        key: "relp.tls_cert",
        kind: Kind::PemFile {
            at: at!(relp.tls_cert),
        },
        help: "PEM file with the certificate chain for RELP over TLS (`omrelp` with `tls=\"on\"`). \
            Set it together with `relp.tls_key`: the RELP listener then takes TLS only.",
    },
    KeyDef {
        key: "relp.tls_key",
        kind: Kind::PemFile {
            at: at!(relp.tls_key),
        },
        help: "PEM file with the private key for `relp.tls_cert`.",
    },
    // [files]
    KeyDef {
        key: "files.paths",
        kind: Kind::Text {
            at: at!(files.paths),
            default: "",
            check: Check::Plain,
        },
        help: "Log files that `serve` follows, as absolute paths separated by commas or spaces \
            (empty, the default: none). Each line is stored (transport `file`, peer \
            `file:/the/path`, the line without its newline) once it is complete; the file is \
            followed across rotation by rename (create) and by copytruncate, and where it was \
            read up to is kept in <data_dir>/follow/, so that a restart, even after a crash, \
            neither stores a line twice nor skips one.",
    },
    KeyDef {
        key: "files.partial_wait",
        kind: Kind::Duration {
            at: at!(files.partial_wait),
            default: secs(5),
            min: Duration::from_millis(100),
            max: secs(3600),
        },
        help: "How long a followed file's last line may stay without its newline before it is \
            stored as it is (a writer may be in the middle of it).",
    },
    KeyDef {
        key: "files.poll_interval",
        kind: Kind::Duration {
            at: at!(files.poll_interval),
            default: Duration::from_millis(250),
            min: Duration::from_millis(10),
            max: secs(60),
        },
        help: "How often a followed file that had nothing new is looked at again (for new \
            lines and for rotation).",
    },
    // [wireguard]
    KeyDef {
        key: "wireguard.interval",
        kind: Kind::Duration {
            at: at!(wireguard.interval),
            default: secs(0),
            min: secs(0),
            max: secs(DAY),
        },
        help: "How often `serve` reads the WireGuard peers (`wireguard.command`) and stores a \
            line for each change: a peer added or removed, its allowed IPs changed, a new \
            endpoint or handshake. Those lines become bindings of each peer's allowed IPs to its \
            public key, which `pramaan whois` answers (the start and end are known to within \
            this interval). 0 (the default): WireGuard is not read.",
    },
    KeyDef {
        key: "wireguard.command",
        kind: Kind::Text {
            at: at!(wireguard.command),
            default: "wg show all dump",
            check: Check::Plain,
        },
        help: "The program (and its arguments, split on spaces) that prints every WireGuard \
            peer in `wg show all dump`'s format. It needs the right to read the interfaces \
            (CAP_NET_ADMIN, or the userspace implementation's socket), which the pramaan \
            service does not have: give it a wrapper, such as `sudo -n /usr/bin/wg show all \
            dump` with a sudoers rule for that one command. Private and preshared keys in its \
            output are dropped as it is read.",
    },
    // [ledger]
    KeyDef {
        key: "ledger.key_file",
        kind: Kind::OptPath {
            at: at!(ledger.key_file),
            empty: "<data_dir>/ledger/node.key",
        },
        help: "The node's Ed25519 key that signs checkpoints. Empty means \
            <data_dir>/ledger/node.key. It is created at first start, readable by its owner only \
            (pramaan refuses a key that group or others can read), and its public verifier key \
            is written beside it with the extension `.vkey` for auditors.",
    },
    KeyDef {
        key: "ledger.checkpoint_interval",
        kind: Kind::Duration {
            at: at!(ledger.checkpoint_interval),
            default: secs(5),
            min: Duration::from_millis(100),
            max: secs(3600),
        },
        help: "How often a new signed checkpoint (tree head) is published, when records were \
            added since the last one. One is also published at a clean shutdown.",
    },
    KeyDef {
        key: "ledger.history_interval",
        kind: Kind::Duration {
            at: at!(ledger.history_interval),
            default: secs(MINUTE),
            min: secs(1),
            max: secs(DAY),
        },
        help: "At most one checkpoint per interval is kept in the catalog's history (plus the \
            one at each clean shutdown), so `pramaan verify` can check that each extends the one \
            before.",
    },
    // [clock]
    KeyDef {
        key: "clock.enabled",
        kind: Kind::Bool {
            at: at!(clock.enabled),
            default: true,
        },
        help: "Run the clock monitor in `pramaan serve`: NTP queries to `clock.servers` and the \
            per-source skew analysis. false switches all of it off (no packet is sent; tests \
            and air-gapped test rigs set PRAMAAN_CLOCK_ENABLED=false).",
    },
    KeyDef {
        key: "clock.servers",
        kind: Kind::Text {
            at: at!(clock.servers),
            default: "samay1.nic.in, samay2.nic.in, time.nplindia.org",
            check: Check::Plain,
        },
        help: "NTP servers whose time is national time (CERT-In: NIC's and NPL's, or servers \
            traceable to them), `host` or `host:port` (port 123 if none), separated by commas.",
    },
    KeyDef {
        key: "clock.interval",
        kind: Kind::Duration {
            at: at!(clock.interval),
            default: secs(5 * MINUTE),
            min: secs(1),
            max: secs(DAY),
        },
        help: "Time between rounds of NTP queries (one query per server per round; the first \
            round is at start). Each sample is kept in <data_dir>/clock.db for `retention.days` \
            and appended to the ledger as a `pramaan:clock` record.",
    },
    KeyDef {
        key: "clock.timeout",
        kind: Kind::Duration {
            at: at!(clock.timeout),
            default: secs(5),
            min: Duration::from_millis(100),
            max: secs(MINUTE),
        },
        help: "How long to wait for a server's reply before the sample is a timeout.",
    },
    KeyDef {
        key: "clock.threshold",
        kind: Kind::Duration {
            at: at!(clock.threshold),
            default: Duration::from_millis(100),
            min: Duration::from_millis(1),
            max: secs(3600),
        },
        help: "Largest offset from national time (either way) that counts as synchronised, and \
            largest `received_at - event time` (either way) before a log source is flagged.",
    },
    KeyDef {
        key: "clock.skew_interval",
        kind: Kind::Duration {
            at: at!(clock.skew_interval),
            default: secs(MINUTE),
            min: secs(1),
            max: secs(DAY),
        },
        help: "Time between passes of the per-source skew analysis (each reads the lines stored \
            since the last pass).",
    },
    KeyDef {
        key: "clock.skew_window",
        kind: Kind::Duration {
            at: at!(clock.skew_window),
            default: secs(3600),
            min: secs(60),
            max: secs(7 * DAY),
        },
        help: "The sliding window (by `received_at`) over which each source's skew distribution \
            is computed; a source is flagged while most of its lines in it are off.",
    },
    KeyDef {
        key: "clock.source_zones",
        kind: Kind::Text {
            at: at!(clock.source_zones),
            default: "",
            check: Check::Plain,
        },
        help: "Zones for sources whose stamps carry none: `pattern=offset` pairs separated by \
            commas (`utc-box=UTC, fw-*=+04:00`); patterns (`*`, `?`) match a source's name (the \
            host a line names, else the sender's address), first match wins. Ingest reads such \
            stamps in the source's zone (stored with the offset used, marked \
            `event_zone_assumed`), and so does the skew analysis; sources not named are read in \
            `syslog.default_timezone` (IST by default). A change applies to lines received \
            after it.",
    },
    // [desk]
    KeyDef {
        key: "desk.report_to",
        kind: Kind::Text {
            at: at!(desk.report_to),
            default: "incident@cert-in.org.in",
            check: Check::Plain,
        },
        help: "Where `pramaan incident send` sends incident reports: CERT-In's incident \
            address. The point of contact is copied on each report.",
    },
    KeyDef {
        key: "desk.mail_from",
        kind: Kind::Text {
            at: at!(desk.mail_from),
            default: "",
            check: Check::Plain,
        },
        help: "The From address of reports and reminder e-mails. Empty means the point of \
            contact's e-mail.",
    },
    KeyDef {
        key: "desk.poc_review_days",
        kind: Kind::Int {
            at: IntAt::U64(at!(desk.poc_review_days)),
            default: 90,
            min: 1,
            max: 3650,
        },
        help: "Warn (in `pramaan poc show`, incident commands and the API) when the point of \
            contact's details were not set or reviewed (`pramaan poc set --reviewed`) for this \
            many days.",
    },
    KeyDef {
        key: "desk.template_text",
        kind: Kind::OptPath {
            at: at!(desk.template_text),
            empty: "the shipped template",
        },
        help: "A custom template for the plain-text part of incident reports (MiniJinja; \
            placeholders in docs/incident-report.md). An unknown placeholder is an error.",
    },
    KeyDef {
        key: "desk.template_html",
        kind: Kind::OptPath {
            at: at!(desk.template_html),
            empty: "the shipped template",
        },
        help: "A custom template for the HTML part of incident reports (values are \
            HTML-escaped).",
    },
    KeyDef {
        key: "desk.smtp_host",
        kind: Kind::Text {
            at: at!(desk.smtp_host),
            default: "",
            check: Check::Plain,
        },
        help: "The SMTP relay that sends reports and reminders. Empty means none: reports \
            cannot be sent and reminders go by webhook only.",
    },
    KeyDef {
        key: "desk.smtp_port",
        kind: Kind::Int {
            at: IntAt::U64(at!(desk.smtp_port)),
            default: 0,
            min: 0,
            max: 65535,
        },
        help: "The relay's port. 0 means the usual one for `desk.smtp_security`: 587 for \
            starttls, 465 for tls, 25 for plain.",
    },
    KeyDef {
        key: "desk.smtp_security",
        kind: Kind::Text {
            at: at!(desk.smtp_security),
            default: "starttls",
            check: Check::Plain,
        },
        help: "`starttls` (a plain connection upgraded to TLS, required), `tls` (TLS from the \
            first byte) or `plain` (no TLS: only for a relay on loopback).",
    },
    KeyDef {
        key: "desk.smtp_user",
        kind: Kind::Text {
            at: at!(desk.smtp_user),
            default: "",
            check: Check::Plain,
        },
        help: "User name for SMTP authentication. Empty means no authentication.",
    },
    KeyDef {
        key: "desk.smtp_password_file",
        kind: Kind::OptPath {
            at: at!(desk.smtp_password_file),
            empty: "none",
        },
        help: "A file whose first line is the SMTP password. It is never logged or shown.",
    },
    KeyDef {
        key: "desk.smtp_password_env",
        kind: Kind::Text {
            at: at!(desk.smtp_password_env),
            default: "",
            check: Check::Plain,
        },
        help: "The name of an environment variable holding the SMTP password (used when \
            `desk.smtp_password_file` is empty). Never logged or shown.",
    },
    KeyDef {
        key: "desk.smtp_timeout",
        kind: Kind::Duration {
            at: at!(desk.smtp_timeout),
            default: secs(30),
            min: secs(1),
            max: secs(600),
        },
        help: "How long to wait for the SMTP relay before the report is left unsent (and \
            the failure recorded).",
    },
    KeyDef {
        key: "desk.reminders",
        kind: Kind::Text {
            at: at!(desk.reminders),
            default: "3h,1h,30m",
            check: Check::Plain,
        },
        help: "When to remind before an incident's 6-hour deadline, while it is not reported: \
            times left, separated by commas (`3h,1h,30m`; units s, m, h). Empty means none.",
    },
    KeyDef {
        key: "desk.remind_overdue",
        kind: Kind::Bool {
            at: at!(desk.remind_overdue),
            default: true,
        },
        help: "Also remind once when the deadline has passed and the incident is still not \
            reported.",
    },
    KeyDef {
        key: "desk.reminder_to",
        kind: Kind::Text {
            at: at!(desk.reminder_to),
            default: "",
            check: Check::Plain,
        },
        help: "Where reminder e-mails go. Empty means the point of contact's e-mail.",
    },
    KeyDef {
        key: "desk.webhook_url",
        kind: Kind::Text {
            at: at!(desk.webhook_url),
            default: "",
            check: Check::Plain,
        },
        help: "An http(s) URL that each reminder is POSTed to as JSON (retried with back-off). \
            Empty means no webhook.",
    },
    KeyDef {
        key: "desk.webhook_tries",
        kind: Kind::Int {
            at: IntAt::U64(at!(desk.webhook_tries)),
            default: 5,
            min: 1,
            max: 20,
        },
        help: "Tries per webhook call, waiting 1 s, 2 s, 4 s... between them.",
    },
    KeyDef {
        key: "desk.reminder_interval",
        kind: Kind::Duration {
            at: at!(desk.reminder_interval),
            default: secs(30),
            min: Duration::from_millis(100),
            max: secs(3600),
        },
        help: "How often `pramaan serve` checks incidents for reminders to send.",
    },
    // [console]
    KeyDef {
        key: "console.heatmap_rows",
        kind: Kind::Int {
            at: IntAt::Usize(at!(console.heatmap_rows)),
            default: 50,
            min: 5,
            max: 1000,
        },
        help: "Sources the dashboard's coverage heatmap draws, problems first: silent today \
            (longest silence first), then with silent days, then the busiest. The other sources \
            are one \"others\" row, counted (and how many of them are silent), with a link to \
            `/console/sources`, which pages through every source this many at a time. Each row \
            adds at most about 24 KB to the page.",
    },
    // [detect]
    KeyDef {
        key: "detect.rules_dir",
        kind: Kind::OptPath {
            at: at!(detect.rules_dir),
            empty: "no rules",
        },
        help: "A directory of Sigma rules (SigmaHQ's YAML format, `*.yml` and `*.yaml`, searched \
            recursively). `pramaan detect check` loads every one and says which it refuses and \
            why (file, line, the feature); `pramaan detect test` runs one over stored lines. \
            pramaan's own rules for CERT-In's kinds are in `crates/detect/rules/`. `serve` runs \
            every rule that loads over each new line: a match opens an incident of the kind its \
            `pramaan.kind.CODE` tag names (its 6-hour clock starting at the first matching \
            line's receipt), or adds to the open one; a rule of `level: informational`, or \
            without a kind, only records its detections.",
    },
    KeyDef {
        key: "detect.interval",
        kind: Kind::Duration {
            at: at!(detect.interval),
            default: secs(5),
            min: Duration::from_millis(100),
            max: secs(60),
        },
        help: "How often `serve`'s detector looks for new lines once it has read every one. A \
            line is judged within about this long of its receipt while the detector keeps up \
            (`pramaan_detect_lag_seconds` in `/metrics` says how far behind it is).",
    },
    KeyDef {
        key: "detect.incident_window",
        kind: Kind::Duration {
            at: at!(detect.incident_window),
            default: secs(24 * 3600),
            min: secs(60),
            max: secs(30 * 24 * 3600),
        },
        help: "A detection adds to the open incident of the same rule when that incident's last \
            detection is at most this long before it; otherwise (or once the incident is closed) \
            it opens a new incident with its own 6-hour clock.",
    },
    KeyDef {
        key: "detect.excerpt_lines",
        kind: Kind::Int {
            at: IntAt::Usize(at!(detect.excerpt_lines)),
            default: 100,
            min: 1,
            max: 100_000,
        },
        help: "Matched lines a detected incident's excerpt holds at most (the first ones; later \
            detections add lines until it is full). Every matched sequence number is recorded \
            with its detection whatever this is, so a rule matching millions of lines makes one \
            incident of bounded size.",
    },
    KeyDef {
        key: "detect.max_groups",
        kind: Kind::Int {
            at: IntAt::Usize(at!(detect.max_groups)),
            default: 100_000,
            min: 1,
            max: 100_000_000,
        },
        help: "Groups (`count() by FIELD`) an aggregation rule keeps windows for; past it, the \
            groups with nothing in their window go first, then the least recently seen.",
    },
    // [alerts]
    KeyDef {
        key: "alerts.enabled",
        kind: Kind::Bool {
            at: at!(alerts.enabled),
            default: true,
        },
        help: "Whether `serve` checks what compliance depends on and raises alerts (see the \
            other `alerts.*` keys).",
    },
    KeyDef {
        key: "alerts.interval",
        kind: Kind::Duration {
            at: at!(alerts.interval),
            default: secs(60),
            min: Duration::from_millis(100),
            max: secs(3600),
        },
        help: "How often `serve` checks what compliance depends on: each source's last line, the \
            clock monitor, the storage, the ledger's checkpoint, retention. A change (firing, \
            resolved) is recorded in the ledger and shown by `pramaan alerts`.",
    },
    KeyDef {
        key: "alerts.silence_after",
        kind: Kind::Duration {
            at: at!(alerts.silence_after),
            default: secs(3600),
            min: secs(1),
            max: secs(30 * 24 * 3600),
        },
        help: "A source (the host its lines name, else the sender's address without its port) \
            that sent lines within `alerts.source_lookback` but none for longer than this fires \
            `PramaanSourceSilent`: its logs are then missing from the 180 days.",
    },
    KeyDef {
        key: "alerts.silence_per_source",
        kind: Kind::Text {
            at: at!(alerts.silence_per_source),
            default: "",
            check: Check::Plain,
        },
        help: "Sources with their own silence limit: `PATTERN=DURATION,...` (`*` as a wildcard; \
            the first pattern that matches wins), e.g. `backup-*=26h,10.0.0.5=10m`.",
    },
    KeyDef {
        key: "alerts.source_lookback",
        kind: Kind::Duration {
            at: at!(alerts.source_lookback),
            default: secs(7 * 24 * 3600),
            min: secs(60),
            max: secs(180 * 24 * 3600),
        },
        help: "Sources that sent a line within this window are checked for silence (a source \
            gone longer is no longer alerted on; the coverage heatmap still shows it).",
    },
    KeyDef {
        key: "alerts.repeat_interval",
        kind: Kind::Duration {
            at: at!(alerts.repeat_interval),
            default: secs(4 * 3600),
            min: secs(1),
            max: secs(7 * 24 * 3600),
        },
        help: "A firing alert is sent again this often until it resolves or someone \
            acknowledges it (`pramaan alerts ack KEY`).",
    },
    KeyDef {
        key: "alerts.alertmanager_url",
        kind: Kind::Text {
            at: at!(alerts.alertmanager_url),
            default: "",
            check: Check::Plain,
        },
        help: "Prometheus Alertmanager's address (`http://127.0.0.1:9093`; `/api/v2/alerts` is \
            added) or any URL that takes its v2 alerts body: firing alerts are POSTed there \
            with their labels (`alertname`, `service=pramaan`, `source`...), `summary` and \
            `startsAt`; resolved ones with `endsAt`. Empty: no webhook.",
    },
    KeyDef {
        key: "alerts.email",
        kind: Kind::Bool {
            at: at!(alerts.email),
            default: true,
        },
        help: "Also send alerts by e-mail, through the incident desk's SMTP settings, to \
            `desk.reminder_to` (else the point of contact), when `desk.smtp_host` is set.",
    },
    KeyDef {
        key: "alerts.disk_free_min",
        kind: Kind::Int {
            at: IntAt::U64(at!(alerts.disk_free_min)),
            default: 10,
            min: 0,
            max: 99,
        },
        help: "Percent of the data directory's disk that must stay free; less fires \
            `PramaanDiskFilling` (a full disk fires `PramaanStorageFull`).",
    },
];

pub(crate) fn find(key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|def| def.key == key)
}

/// Section names, in table order.
pub(crate) fn sections() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for section in KEYS.iter().filter_map(KeyDef::section) {
        if !out.contains(&section) {
            out.push(section);
        }
    }
    out
}

/// The documentation of one key, for help text and the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoc {
    /// Dotted key: `http.listen`.
    pub key: &'static str,
    /// Environment variable: `PRAMAAN_HTTP_LISTEN`.
    pub env: String,
    /// `path`, `string`, `address`, `boolean`, `integer`, `size`, `duration`,
    /// `UTC offset` or `URL`.
    pub type_name: &'static str,
    /// The default as a TOML value: `"127.0.0.1:8080"`, `true`, `1024`.
    pub default: String,
    /// What values are allowed, e.g. `a whole number from 1 to 22`.
    pub allowed: String,
    /// What the key does.
    pub help: &'static str,
}

/// Every configuration key, documented.
pub fn keys() -> impl Iterator<Item = KeyDoc> {
    let defaults = Config::default();
    KEYS.iter().map(move |def| KeyDoc {
        key: def.key,
        env: def.env_var(),
        type_name: def.kind.type_name(),
        default: def.kind.render(&defaults),
        allowed: def.kind.allowed(),
        help: def.help,
    })
}
