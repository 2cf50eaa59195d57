//! Bulk import of a bindings CSV, exactly as
//! `shared/bench/attribution/gen_bindings.py` writes it:
//!
//! ```text
//! ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id
//! 203.0.112.7,1024,2023,2025-01-01T00:00:00Z,2025-01-01T03:12:09Z,4711,1
//! 2001:db8:7f3a:12c9::,0,65535,2025-01-01T00:00:01Z,2025-01-02T00:00:00Z,99,2
//! ```
//!
//! * `ip`: IPv4 address (or `a.b.c.d/len`), or IPv6: written without a length
//!   it is a delegated /64 (its network address, host bits zero); with a
//!   length, that prefix.
//! * `port_start`, `port_end`: the port block, both inclusive (0–65535 = the
//!   whole address).
//! * `start_utc`, `end_utc`: RFC 3339 with any offset; the binding holds
//!   `[start, end)`; end must be after start.
//! * `subscriber_id`, `session_id`: non-empty text.
//!
//! Every line is checked before anything is stored; any invalid line means
//! nothing is imported, and each error names its line, field and reason.

use crate::index::{Builder, Index};
use crate::model::{Kind, Net};
use crate::parse::civil_secs;
use crate::store::{BindingStore, StoreError};
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

pub const HEADER: &str = "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id";
const FIELDS: [&str; 7] = [
    "ip",
    "port_start",
    "port_end",
    "start_utc",
    "end_utc",
    "subscriber_id",
    "session_id",
];
/// At most this many errors are listed (all are counted).
pub const MAX_LISTED_ERRORS: usize = 100;

/// One invalid line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, field {}: {}",
            self.line, self.field, self.reason
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: line 1 must be the header `{HEADER}`, found `{found}`")]
    Header { path: String, found: String },
    #[error("{path}: {total} invalid line(s), nothing imported; first: {}", errors.first().map(|e| e.to_string()).unwrap_or_default())]
    Invalid {
        path: String,
        total: u64,
        errors: Vec<LineError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub networks: u64,
    pub bytes: u64,
    /// Reading and checking the CSV.
    pub parse_secs: f64,
    /// Sorting and indexing.
    pub index_secs: f64,
    /// Writing to the store (the index file, or PostgreSQL's COPY).
    pub store_secs: f64,
}

/// `2025-01-01T00:00:00Z` quickly, anything RFC 3339 otherwise → ns.
fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
    {
        let d = |r: std::ops::Range<usize>| -> Option<u32> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + (c - b'0') as u32;
            }
            Some(v)
        };
        let secs = civil_secs(
            d(0..4)? as i64,
            d(5..7)?,
            d(8..10)?,
            d(11..13)?,
            d(14..16)?,
            d(17..19)?,
            0,
        )?;
        return secs.checked_mul(1_000_000_000);
    }
    crate::parse::rfc3339_ns(s)
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .map_err(|_| format!("`{s}` is not a port (0-65535)"))
}

/// Reads and checks the whole file into an index (nothing is stored).
/// `progress(bytes_read, total_bytes)` is called now and then.
pub fn read_bindings_csv(
    path: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<(Index, ImportReport), ImportError> {
    let ps = path.display().to_string();
    let io = |source| ImportError::Io {
        path: ps.clone(),
        source,
    };
    let t0 = Instant::now();
    let f = std::fs::File::open(path).map_err(io)?;
    let total = f.metadata().map_err(io)?.len();
    let mut r = std::io::BufReader::with_capacity(4 << 20, f);
    let mut line = Vec::with_capacity(256);
    let mut lineno = 0u64;
    let mut bytes = 0u64;
    let mut errors = Vec::new();
    let mut n_err = 0u64;
    // ~83 bytes a row in the generator's file
    let mut b = Builder::with_capacity((total / 80) as usize);
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        lineno += 1;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let mut err = |field: &'static str, reason: String| {
            n_err += 1;
            if errors.len() < MAX_LISTED_ERRORS {
                errors.push(LineError {
                    line: lineno,
                    field,
                    reason,
                });
            }
        };
        let Ok(text) = std::str::from_utf8(&line) else {
            err("line", "not UTF-8".into());
            continue;
        };
        if lineno == 1 {
            let h = text.trim_start_matches('\u{feff}').trim();
            if h != HEADER {
                return Err(ImportError::Header {
                    path: ps,
                    found: h.chars().take(200).collect(),
                });
            }
            continue;
        }
        if text.trim().is_empty() {
            continue;
        }
        if lineno.is_multiple_of(1 << 20) {
            progress(bytes, total);
        }
        let mut f = [""; 7];
        let mut count = 0;
        for (i, part) in text.split(',').enumerate() {
            if i < 7 {
                f[i] = part;
            }
            count = i + 1;
        }
        if count != 7 {
            err("line", format!("{count} fields; expected 7 ({HEADER})"));
            continue;
        }
        if let Some(i) = f.iter().position(|x| x.starts_with('"')) {
            err(FIELDS[i], "quoted fields are not supported".into());
            continue;
        }
        let net = match Net::parse_default_v6(f[0], 64) {
            Ok(n) => n,
            Err(e) => {
                err("ip", e.to_string());
                continue;
            }
        };
        let (lo, hi) = match (parse_port(f[1]), parse_port(f[2])) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            (Ok(a), Ok(b)) => {
                err("port_end", format!("{b} is before port_start {a}"));
                continue;
            }
            (Err(e), _) => {
                err("port_start", e);
                continue;
            }
            (_, Err(e)) => {
                err("port_end", e);
                continue;
            }
        };
        let Some(start) = parse_ts(f[3]) else {
            err(
                "start_utc",
                format!("`{}` is not an RFC 3339 time with an offset", f[3]),
            );
            continue;
        };
        let Some(end) = parse_ts(f[4]) else {
            err(
                "end_utc",
                format!("`{}` is not an RFC 3339 time with an offset", f[4]),
            );
            continue;
        };
        if end <= start {
            err(
                "end_utc",
                format!("{} is not after start_utc {}", f[4], f[3]),
            );
            continue;
        }
        if f[5].trim().is_empty() {
            err("subscriber_id", "empty".into());
            continue;
        }
        if f[6].trim().is_empty() {
            err("session_id", "empty".into());
            continue;
        }
        if n_err == 0 {
            b.push_parts(
                net,
                lo,
                hi,
                start,
                end,
                f[5],
                Kind::Import,
                f[6],
                "",
                &[],
                None,
            );
        }
    }
    if lineno == 0 {
        return Err(ImportError::Header {
            path: ps,
            found: String::new(),
        });
    }
    progress(bytes, total);
    if n_err > 0 {
        return Err(ImportError::Invalid {
            path: ps,
            total: n_err,
            errors,
        });
    }
    let parse_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let idx = b.finish();
    let report = ImportReport {
        rows: idx.len() as u64,
        networks: idx.networks() as u64,
        bytes,
        parse_secs,
        index_secs: t1.elapsed().as_secs_f64(),
        store_secs: 0.0,
    };
    Ok((idx, report))
}

/// Checks the whole file, then imports every row into `store`; nothing is
/// imported if any line is invalid.
pub async fn import_bindings_csv(
    path: &Path,
    store: &dyn BindingStore,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ImportReport, ImportError> {
    let (idx, mut report) = read_bindings_csv(path, progress)?;
    let t = Instant::now();
    store.import(idx).await?;
    report.store_secs = t.elapsed().as_secs_f64();
    Ok(report)
}
