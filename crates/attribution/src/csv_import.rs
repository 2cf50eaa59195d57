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
//! nothing is imported, and each error names its line, field and what is
//! wrong with it, never the field's value.

use crate::index::{Builder, Index};
use crate::model::{Kind, Net};
use crate::parse::civil_secs;
use crate::store::{BindingStore, StoreError};
use std::io::Read;
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
    /// Line 1 is not the header (what it holds is not repeated: it could be
    /// anything, and an error message is no place for it).
    #[error("{path}: line 1 must be the header `{HEADER}`")]
    Header { path: String },
    #[error("{path}: {total} invalid line(s), nothing imported; first: {}", errors.first().map(|e| e.to_string()).unwrap_or_default())]
    Invalid {
        path: String,
        total: u64,
        errors: Vec<LineError>,
    },
    /// More bytes than the import may take.
    #[error("{path}: larger than {limit} bytes; nothing imported")]
    TooLarge { path: String, limit: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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

fn parse_port(s: &str) -> Result<u16, &'static str> {
    s.parse::<u16>().map_err(|_| "not a port (0-65535)")
}

/// The longest line taken (the generator's are about 83 bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// Checks a bindings CSV as its bytes come (a file read in chunks, or an
/// HTTP body as it arrives) and builds the index; nothing is stored. Every
/// error names its line and field and says what is wrong, never what the
/// line holds (an import must not become a way to read a file back).
pub struct CsvChecker {
    /// Names the input in errors (a file name, or "the request body").
    name: String,
    started: Instant,
    /// A line not yet ended by `\n`.
    carry: Vec<u8>,
    /// The current line is over [`MAX_LINE`]: skip to its end.
    overlong: bool,
    lineno: u64,
    bytes: u64,
    errors: Vec<LineError>,
    n_err: u64,
    builder: Builder,
}

impl CsvChecker {
    /// `size_hint`: the expected size in bytes, to size the index (0 if unknown).
    pub fn new(name: impl Into<String>, size_hint: u64) -> CsvChecker {
        CsvChecker {
            name: name.into(),
            started: Instant::now(),
            carry: Vec::new(),
            overlong: false,
            lineno: 0,
            bytes: 0,
            errors: Vec::new(),
            n_err: 0,
            // ~83 bytes a row in the generator's file; no more than 16 M rows up front
            builder: Builder::with_capacity((size_hint / 80).min(1 << 24) as usize),
        }
    }

    /// Bytes taken so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn error(&mut self, field: &'static str, reason: impl Into<String>) {
        self.n_err += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(LineError {
                line: self.lineno,
                field,
                reason: reason.into(),
            });
        }
    }

    /// Takes the next bytes of the input.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), ImportError> {
        self.bytes += chunk.len() as u64;
        while !chunk.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    let (head, rest) = (&chunk[..i], &chunk[i + 1..]);
                    chunk = rest;
                    if self.overlong {
                        self.overlong = false;
                        self.carry.clear();
                        continue;
                    }
                    if self.carry.is_empty() {
                        self.line(head)?;
                    } else if self.carry.len() + head.len() > MAX_LINE {
                        self.carry.clear();
                        self.lineno += 1;
                        self.error("line", format!("longer than {MAX_LINE} bytes"));
                    } else {
                        let mut l = std::mem::take(&mut self.carry);
                        l.extend_from_slice(head);
                        self.line(&l)?;
                        l.clear();
                        self.carry = l;
                    }
                }
                None => {
                    if !self.overlong {
                        if self.carry.len() + chunk.len() > MAX_LINE {
                            self.carry.clear();
                            self.overlong = true;
                            self.lineno += 1;
                            self.error("line", format!("longer than {MAX_LINE} bytes"));
                        } else {
                            self.carry.extend_from_slice(chunk);
                        }
                    }
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), ImportError> {
        self.lineno += 1;
        let mut line = line;
        while let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            if self.lineno == 1 {
                return Err(ImportError::Header {
                    path: self.name.clone(),
                });
            }
            self.error("line", "not UTF-8");
            return Ok(());
        };
        if self.lineno == 1 {
            if text.trim_start_matches('\u{feff}').trim() != HEADER {
                return Err(ImportError::Header {
                    path: self.name.clone(),
                });
            }
            return Ok(());
        }
        if text.trim().is_empty() {
            return Ok(());
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
            self.error("line", format!("{count} fields; expected 7 ({HEADER})"));
            return Ok(());
        }
        if let Some(i) = f.iter().position(|x| x.starts_with('"')) {
            self.error(FIELDS[i], "quoted fields are not supported");
            return Ok(());
        }
        let net = match Net::parse_default_v6(f[0], 64) {
            Ok(n) => n,
            Err(e) => {
                self.error("ip", e.reason());
                return Ok(());
            }
        };
        let (lo, hi) = match (parse_port(f[1]), parse_port(f[2])) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            (Ok(_), Ok(_)) => {
                self.error("port_end", "before port_start");
                return Ok(());
            }
            (Err(e), _) => {
                self.error("port_start", e);
                return Ok(());
            }
            (_, Err(e)) => {
                self.error("port_end", e);
                return Ok(());
            }
        };
        let Some(start) = parse_ts(f[3]) else {
            self.error("start_utc", "not an RFC 3339 time with an offset");
            return Ok(());
        };
        let Some(end) = parse_ts(f[4]) else {
            self.error("end_utc", "not an RFC 3339 time with an offset");
            return Ok(());
        };
        if end <= start {
            self.error("end_utc", "not after start_utc");
            return Ok(());
        }
        if f[5].trim().is_empty() {
            self.error("subscriber_id", "empty");
            return Ok(());
        }
        if f[6].trim().is_empty() {
            self.error("session_id", "empty");
            return Ok(());
        }
        if self.n_err == 0 {
            self.builder.push_parts(
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
        Ok(())
    }

    /// The end of the input: the index, or every error.
    pub fn finish(mut self) -> Result<(Index, ImportReport), ImportError> {
        if !self.carry.is_empty() {
            let l = std::mem::take(&mut self.carry);
            self.line(&l)?;
        } else if self.overlong {
            self.overlong = false;
        }
        if self.lineno == 0 {
            return Err(ImportError::Header { path: self.name });
        }
        if self.n_err > 0 {
            return Err(ImportError::Invalid {
                path: self.name,
                total: self.n_err,
                errors: self.errors,
            });
        }
        let parse_secs = self.started.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let idx = self.builder.finish();
        let report = ImportReport {
            rows: idx.len() as u64,
            networks: idx.networks() as u64,
            bytes: self.bytes,
            parse_secs,
            index_secs: t1.elapsed().as_secs_f64(),
            store_secs: 0.0,
        };
        Ok((idx, report))
    }
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
    let mut f = std::fs::File::open(path).map_err(io)?;
    let total = f.metadata().map_err(io)?.len();
    read_bindings(&mut f, &ps, total, progress)
}

/// [`read_bindings_csv`] from any reader; `name` names it in errors.
pub fn read_bindings(
    r: &mut dyn Read,
    name: &str,
    total: u64,
    progress: &dyn Fn(u64, u64),
) -> Result<(Index, ImportReport), ImportError> {
    let mut c = CsvChecker::new(name, total);
    let mut buf = vec![0u8; 4 << 20];
    let mut next_report = 64 << 20;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ImportError::Io {
                    path: name.to_owned(),
                    source,
                })
            }
        };
        c.push(&buf[..n])?;
        if c.bytes() >= next_report {
            progress(c.bytes(), total);
            next_report += 64 << 20;
        }
    }
    progress(c.bytes(), total);
    c.finish()
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
