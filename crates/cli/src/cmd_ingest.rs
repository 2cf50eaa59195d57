//! `pramaan ingest FILE...`: lines from files into the vault, acknowledged only once durable.

use crate::client::{self, Target};
use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pramaan_config::Config;
use pramaan_core::Transport;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Files to read: plain text, .gz or .zst (by extension), or - for standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Base URL of a running server (default: the server holding the data directory, at http.listen).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Lines per request (each request is one group commit).
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    batch_lines: usize,
    /// Do not show a progress bar.
    #[arg(long)]
    quiet: bool,
}

struct Totals {
    accepted: u64,
    blank: u64,
    refused: Vec<String>,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
}

fn open(name: &str) -> Result<(Box<dyn Read + Send>, Option<u64>)> {
    if name == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = std::fs::File::open(name).with_context(|| format!("cannot open {name}"))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

fn decoder<'a>(name: &str, r: Box<dyn Read + Send + 'a>) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if name.ends_with(".zst") || name.ends_with(".zstd") {
        Box::new(
            zstd::stream::read::Decoder::new(r).with_context(|| format!("{name} is not zstd"))?,
        )
    } else {
        r
    })
}

/// Counts bytes read from the file (before decompression) for the progress bar.
struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

pub async fn run(cfg: &Config, a: IngestArgs) -> Result<ExitCode> {
    let dest = Dest::open(cfg, a.server.as_deref()).await?;
    let max_line = cfg.syslog.max_line as usize;
    let mut totals = Totals {
        accepted: 0,
        blank: 0,
        refused: Vec::new(),
        first_seq: None,
        last_seq: None,
    };
    let hidden = a.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut sent = Ok(());
    for name in &a.files {
        sent = send_file(&dest, name, &a, max_line, hidden, &mut totals).await;
        if sent.is_err() {
            break;
        }
    }
    dest.close().await?;
    sent?;
    Ok(print_totals(&totals))
}

/// Reads one file (or stdin) in batches and stores each.
async fn send_file(
    dest: &Dest,
    name: &str,
    a: &IngestArgs,
    max_line: usize,
    hidden: bool,
    totals: &mut Totals,
) -> Result<()> {
    let (raw, len) = open(name)?;
    let bar = progress_bar(name, len, hidden);
    let counted = Counting {
        inner: raw,
        bar: bar.clone(),
    };
    let mut reader = BufReader::with_capacity(1 << 20, decoder(name, Box::new(counted))?);
    let mut line_no = 0usize;
    loop {
        let batch = read_batch(
            &mut reader,
            name,
            &mut line_no,
            a.batch_lines,
            max_line,
            totals,
        )?;
        if batch.lines.is_empty() {
            break;
        }
        dest.store(name, batch, totals).await?;
    }
    bar.finish_and_clear();
    Ok(())
}

fn progress_bar(name: &str, len: Option<u64>, hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len.unwrap_or(0))
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    bar.set_message(name.to_owned());
    bar
}

/// Up to `max` lines to store, with the NDJSON body that carries them.
struct Batch {
    lines: Vec<Bytes>,
    body: Vec<u8>,
    first_line: usize,
    last_line: usize,
}

/// The next lines of `reader`, counting blank and over-long ones in `totals`.
fn read_batch(
    reader: &mut impl BufRead,
    name: &str,
    line_no: &mut usize,
    max: usize,
    max_line: usize,
    totals: &mut Totals,
) -> Result<Batch> {
    let mut batch = Batch {
        lines: Vec::with_capacity(max),
        body: Vec::new(),
        first_line: *line_no + 1,
        last_line: *line_no,
    };
    while batch.lines.len() < max {
        let mut buf = Vec::new();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {name} at line {}", *line_no + 1))?;
        if n == 0 {
            break;
        }
        *line_no += 1;
        // The same rules as HTTP NDJSON (pramaan_ingest::ndjson), so a file
        // gives the same records with or without a server: the line ends at
        // LF, one CR before it is line ending too, blank lines are skipped.
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            totals.blank += 1;
            continue;
        }
        if buf.len() > max_line {
            totals.refused.push(format!(
                "{name}:{line_no}: {} bytes is longer than syslog.max_line ({max_line})",
                buf.len()
            ));
            continue;
        }
        batch.body.extend_from_slice(&buf);
        batch.body.push(b'\n');
        batch.lines.push(Bytes::from(buf));
    }
    batch.last_line = *line_no;
    Ok(batch)
}

/// Where the lines go: the server holding the data directory, or the
/// directory itself.
enum Dest {
    Vault(pramaan_vault::Vault, pramaan_vault::Workers),
    Server(String, reqwest::Client),
}

impl Dest {
    async fn open(cfg: &Config, server: Option<&str>) -> Result<Dest> {
        Ok(match client::target(cfg, server) {
            Target::Server(url) => Dest::Server(url, client::http()),
            Target::Direct => {
                let (vault, workers) =
                    pramaan_vault::Vault::open(pramaan_server::vault_options(cfg))
                        .await
                        .with_context(|| {
                            format!("opening the data directory {}", cfg.data_dir.display())
                        })?;
                Dest::Vault(vault, workers)
            }
        })
    }

    /// Stores one batch; its lines are durable when this returns.
    async fn store(&self, name: &str, batch: Batch, totals: &mut Totals) -> Result<()> {
        let n = batch.lines.len() as u64;
        let (first_line, line_no) = (batch.first_line, batch.last_line);
        let what = || format!("storing lines {first_line}..={line_no} of {name}");
        let (first, last) = match self {
            Dest::Vault(vault, _) => {
                let peer = Arc::from(format!("file:{}", display_name(name)).as_str());
                let r = vault
                    .append(Transport::File, peer, batch.lines)
                    .await
                    .with_context(what)?;
                (r.first, r.last)
            }
            Dest::Server(url, http) => {
                let resp = http
                    .post(format!("{url}/api/v1/ingest"))
                    .header("content-type", "application/x-ndjson")
                    .body(batch.body)
                    .send()
                    .await
                    .with_context(|| format!("sending to {url}"))?;
                let resp: pramaan_server::api::IngestResponse =
                    client::check(resp).await.with_context(what)?.json().await?;
                for r in resp.refused {
                    totals
                        .refused
                        .push(format!("{name}: request line {}: {}", r.line, r.reason));
                }
                if resp.accepted != n {
                    anyhow::bail!(
                        "the server accepted {} of the {n} lines {first_line}..={line_no} of {name} (refused: {})",
                        resp.accepted,
                        totals.refused.len()
                    );
                }
                match (resp.first_seq, resp.last_seq) {
                    (Some(f), Some(l)) => (f, l),
                    _ => return Ok(()),
                }
            }
        };
        totals.accepted += n;
        totals.first_seq.get_or_insert(first);
        totals.last_seq = Some(last);
        Ok(())
    }

    /// Closes the data directory when this process opened it.
    async fn close(self) -> Result<()> {
        if let Dest::Vault(vault, workers) = self {
            vault.shutdown(workers).await;
        }
        Ok(())
    }
}

/// What was stored and refused; exit status 1 when any line was refused.
fn print_totals(totals: &Totals) -> ExitCode {
    let blank = match totals.blank {
        0 => String::new(),
        n => format!("; skipped {n} blank lines"),
    };
    match (totals.first_seq, totals.last_seq) {
        (Some(f), Some(l)) => println!(
            "ingested {} lines (sequence numbers {f}-{l}){blank}",
            totals.accepted
        ),
        _ => println!("ingested {} lines{blank}", totals.accepted),
    }
    if totals.refused.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("refused {} lines:", totals.refused.len());
    for r in &totals.refused {
        eprintln!("  {r}");
    }
    ExitCode::from(1)
}

fn display_name(name: &str) -> String {
    if name == "-" {
        return "stdin".into();
    }
    Path::new(name)
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| name.to_owned())
}
