//! `pramaan search`, `pramaan sql` and `pramaan status`.

use crate::runner::{self, Runner};
use anyhow::Result;
use clap::{Args, ValueEnum};
use pramaan_config::Config;
use pramaan_server::api::SearchParams;
use pramaan_vault::search::{Hit, Order, CSV_COLUMNS};
use std::io::Write;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Aligned columns for people: time in IST with UTC alongside.
    Table,
    /// One JSON object per line (NDJSON), as the HTTP API sends.
    Json,
    /// CSV with a header row, for spreadsheets: a cell that starts with
    /// = + - @, a tab or CR gets a ' in front (never run as a formula);
    /// `json` keeps the exact line.
    Csv,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Text the raw line or its structured data contains (case-sensitive,
    /// exact bytes; structured data holds the labels, attributes and trace
    /// ids shippers send).
    #[arg(value_name = "TEXT")]
    text: Option<String>,
    #[command(flatten)]
    filter: LineFilter,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Most results to print (0 = no limit).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Newest results first instead of oldest first.
    #[arg(long)]
    newest: bool,
    /// Show UTC times only (table format).
    #[arg(long)]
    utc: bool,
    /// Search pramaan's own records (audit trail, clock, incidents, retention...)
    /// instead of log lines; through a server this needs the auditor role.
    #[arg(long)]
    internal: bool,
    /// Base URL of a running server (default: the server holding the data directory).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

/// Which lines: the selectors `pramaan search` and `pramaan incident attach` share.
#[derive(Args, Debug)]
pub struct LineFilter {
    /// Start of the window (received time, inclusive): RFC 3339 (2026-03-03T14:02:11+05:30), a date (IST), or an age like 2h.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the window (exclusive), same forms as --from.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Host name the line carries (case-insensitive).
    #[arg(long)]
    host: Option<String>,
    /// Application (syslog APP-NAME or tag).
    #[arg(long)]
    app: Option<String>,
    /// An IPv4 or IPv6 address found in the line.
    #[arg(long, value_name = "ADDR")]
    ip: Option<String>,
    /// A user name found in the line.
    #[arg(long)]
    user: Option<String>,
    /// This severity or worse: emerg, alert, crit, err, warning, notice, info, debug (or 0-7).
    #[arg(long, value_name = "LEVEL")]
    severity: Option<String>,
    /// Regular expression the raw line matches (with, or instead of, the text).
    #[arg(long, value_name = "RE")]
    regex: Option<String>,
    /// A sequence number or an inclusive range (100-200).
    #[arg(long, value_name = "N|A-B")]
    seq: Option<String>,
}

impl LineFilter {
    /// The search parameters for these selectors and `text`.
    pub fn params(&self, text: Option<String>, limit: usize, order: Option<Order>) -> SearchParams {
        SearchParams {
            from: self.from.clone(),
            to: self.to.clone(),
            host: self.host.clone(),
            app: self.app.clone(),
            ip: self.ip.clone(),
            user: self.user.clone(),
            severity: self.severity.clone(),
            q: text,
            regex: self.regex.clone(),
            seq: self.seq.clone(),
            limit: Some(limit),
            order,
            internal: None,
        }
    }
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The query; the table is `logs` (see docs/search.md for its columns; text(raw) gives the line as text).
    query: String,
    /// Print NDJSON instead of a table.
    #[arg(long)]
    json: bool,
    /// `logs` also holds pramaan's own records (audit trail, clock, incidents,
    /// retention...): the auditor role's (through a server as on the data directory).
    #[arg(long)]
    internal: bool,
    /// Base URL of a running server (default: the server holding the data directory).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Base URL of a running server (default: the server holding the data directory).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

impl SearchArgs {
    fn params(&self) -> SearchParams {
        let order = if self.newest {
            Order::Newest
        } else {
            Order::Oldest
        };
        SearchParams {
            internal: self.internal.then_some(true),
            ..self
                .filter
                .params(self.text.clone(), self.limit, Some(order))
        }
    }
}

struct Printer {
    format: Format,
    utc: bool,
    out: std::io::BufWriter<std::io::Stdout>,
    n: usize,
}

impl Printer {
    fn new(format: Format, utc: bool) -> Result<Self> {
        let mut p = Printer {
            format,
            utc,
            out: std::io::BufWriter::new(std::io::stdout()),
            n: 0,
        };
        if let Format::Csv = format {
            p.out
                .write_all(pramaan_core::csv::row(CSV_COLUMNS).as_bytes())?;
        }
        Ok(p)
    }

    fn hit(&mut self, h: &Hit) -> Result<()> {
        self.n += 1;
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, h)?;
                writeln!(self.out)?;
            }
            Format::Csv => self.out.write_all(h.csv_row().as_bytes())?,
            Format::Table => {
                let when = if self.utc {
                    h.received_at.clone()
                } else {
                    let ns = jiff::Timestamp::from_str_lossy(&h.received_at);
                    pramaan_core::time::human(ns)
                };
                let raw = String::from_utf8_lossy(&h.raw_bytes()).into_owned();
                writeln!(
                    self.out,
                    "{:>10}  {}  {}",
                    h.seq,
                    when,
                    raw.escape_debug_controls()
                )?;
            }
        }
        Ok(())
    }
}

trait FromStrLossy {
    fn from_str_lossy(s: &str) -> i64;
}

impl FromStrLossy for jiff::Timestamp {
    fn from_str_lossy(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>()
            .map(|t| t.as_nanosecond() as i64)
            .unwrap_or(0)
    }
}

trait EscapeControls {
    fn escape_debug_controls(&self) -> String;
}

impl EscapeControls for String {
    /// Control characters (NUL, ESC...) are shown escaped so that a log line cannot drive the terminal.
    fn escape_debug_controls(&self) -> String {
        self.chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    }
}

pub async fn search(cfg: &Config, a: SearchArgs) -> Result<ExitCode> {
    let params = a.params();
    // Bad parameters are said before anything is opened or asked.
    params
        .to_query(pramaan_core::time::now_ns())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut printer = Printer::new(a.format, a.utc)?;
    let runner = Runner::open(cfg, a.server.as_deref()).await?;
    let done = runner
        .search(pramaan_app::search::Search(params), |h| printer.hit(h))
        .await;
    runner.close().await;
    done?;
    printer.out.flush()?;
    if let Format::Table = a.format {
        let more = if a.limit != 0 && printer.n == a.limit {
            " (limit reached; raise --limit or narrow the search)"
        } else {
            ""
        };
        eprintln!("{} results{more}", printer.n);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn sql(cfg: &Config, a: SqlArgs) -> Result<ExitCode> {
    let op = pramaan_app::search::Sql {
        query: a.query,
        internal: a.internal,
    };
    let rows = runner::run_once(cfg, a.server.as_deref(), op).await?;
    if a.json {
        let mut out = std::io::stdout().lock();
        for r in &rows {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
    } else {
        print_table(&rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Says so on stderr when the status shows retention under CERT-In's 180 days,
/// or an evidence store in another region than `storage.location` declares.
fn warn_non_compliant(status: &serde_json::Value) {
    if status["retention"]["compliant"] == serde_json::Value::Bool(false) {
        let why = status["retention"]["warning"]
            .as_str()
            .unwrap_or("a retention window is under 180 days");
        eprintln!("WARNING: {why}");
    }
    let location = &status["store"]["location"];
    if location["verdict"] == "mismatch" {
        let why = location["detail"].as_str().unwrap_or_default();
        eprintln!("WARNING: evidence store location: {why}");
    }
}

/// A plain table of SQL rows.
fn print_table(rows: &[pramaan_app::search::Row]) -> Result<()> {
    let mut cols: Vec<String> = Vec::new();
    for r in rows {
        for k in r.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let cell = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| cell(r.get(c))).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
                .min(80)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:w$}", c.chars().take(80).collect::<String>(), w = *w))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!("{}", line(&cols));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    );
    for r in &table {
        println!("{}", line(r));
    }
    eprintln!("{} rows", table.len());
    Ok(())
}

pub async fn status(cfg: &Config, a: StatusArgs) -> Result<ExitCode> {
    let runner = Runner::open(cfg, a.server.as_deref()).await?;
    let on_directory = matches!(runner, Runner::Local(_));
    let report = runner.run(pramaan_app::status::Status {}).await;
    runner.close().await;
    let mut v = serde_json::to_value(report?)?;
    if on_directory {
        v["server"] = "not running (read from the data directory)".into();
    }
    println!("{}", serde_json::to_string_pretty(&v)?);
    warn_non_compliant(&v);
    Ok(ExitCode::SUCCESS)
}
