//! What the Merkle ledger costs on ingest (issue 3's benchmark). Not a test.
//!
//!   cargo run --release -p pramaan-vault --example ledger_cost -- FILE [--runs 3] [--batch 4096]
//!
//! Appends the lines of FILE (one per LF) to a fresh vault with the ledger
//! and to another without it, alternating which goes first, `--runs` times,
//! and prints both medians and their ratio. The rest of the pipeline is the
//! same as `serve`'s (WAL with fdatasync per group commit, parsing,
//! indexing, sealing); no network, so the difference is the ledger's alone.
//! Two figures per run: lines acknowledged per second (what a sender sees),
//! and lines per second until shut down, i.e. sealed and, with the ledger,
//! hashed into a published checkpoint (what the machine must sustain).

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use pramaan_core::Transport;
use pramaan_vault::{Vault, VaultOptions};
use std::sync::Arc;
use std::time::Instant;

struct Args {
    file: String,
    runs: usize,
    batch: usize,
    in_flight: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        file: String::new(),
        runs: 3,
        batch: 4096,
        in_flight: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match x.as_str() {
            "--runs" => a.runs = num("--runs")?,
            "--batch" => a.batch = num("--batch")?,
            "--in-flight" => a.in_flight = num("--in-flight")?,
            "-h" | "--help" => return Err(String::new()),
            f if !f.starts_with('-') && a.file.is_empty() => a.file = f.to_owned(),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if a.file.is_empty() {
        return Err("FILE is required".into());
    }
    Ok(a)
}

fn lines(path: &str) -> Result<Vec<Bytes>, String> {
    let data = Bytes::from(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?);
    let mut out = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &data) {
        if end > start {
            out.push(data.slice(start..end));
        }
        start = end + 1;
    }
    if start < data.len() {
        out.push(data.slice(start..));
    }
    if out.is_empty() {
        return Err(format!("{path}: no lines"));
    }
    Ok(out)
}

/// One run: (seconds until every line is acknowledged, seconds until shut down).
async fn run(lines: &[Bytes], a: &Args, ledger: bool) -> Result<(f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut opts = VaultOptions::new(dir.path());
    if !ledger {
        opts.ledger = None;
    }
    let (vault, workers) = Vault::open(opts).await.map_err(|e| e.to_string())?;
    let peer: Arc<str> = Arc::from("127.0.0.1:5140");
    let t0 = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut acked = 0u64;
    for chunk in lines.chunks(a.batch) {
        if pending.len() >= a.in_flight {
            acked += done(pending.next().await)?;
        }
        let v = vault.clone();
        let p = peer.clone();
        let chunk = chunk.to_vec();
        pending.push(async move { v.append(Transport::Tcp, p, chunk).await });
    }
    while let Some(r) = pending.next().await {
        acked += done(Some(r))?;
    }
    let ack = t0.elapsed().as_secs_f64();
    if acked != lines.len() as u64 {
        return Err(format!("{acked} of {} lines acknowledged", lines.len()));
    }
    vault.shutdown(workers).await;
    Ok((ack, t0.elapsed().as_secs_f64()))
}

fn done(
    r: Option<Result<pramaan_vault::SeqRange, pramaan_vault::AppendError>>,
) -> Result<u64, String> {
    match r {
        Some(Ok(r)) => Ok(r.last - r.first + 1),
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(0),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("ledger_cost: {e}");
            }
            eprintln!("usage: ledger_cost FILE [--runs 3] [--batch 4096] [--in-flight 8]");
            std::process::exit(2);
        }
    };
    let lines = lines(&a.file).unwrap_or_else(|e| {
        eprintln!("ledger_cost: {e}");
        std::process::exit(1)
    });
    let n = lines.len() as f64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0..a.runs {
        // Alternate the order so that drift on a shared machine hits both.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for ledger in order {
            let (ack, all) = rt.block_on(run(&lines, &a, ledger)).unwrap_or_else(|e| {
                eprintln!("ledger_cost: run {i}: {e}");
                std::process::exit(1)
            });
            println!(
                "run {i} ledger {:<3}: acknowledged {:>9.0} lines/s, shut down {:>9.0} lines/s",
                if ledger { "on" } else { "off" },
                n / ack,
                n / all
            );
            if ledger { &mut on } else { &mut off }.push((n / ack, n / all));
        }
    }
    let m = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
    let (on_ack, off_ack) = (m(&on, |x| x.0), m(&off, |x| x.0));
    let (on_all, off_all) = (m(&on, |x| x.1), m(&off, |x| x.1));
    println!("lines: {}", lines.len());
    println!(
        "acknowledged (median of {}): ledger on {on_ack:.0}/s, off {off_ack:.0}/s, on/off {:.3} (cost {:.1}%)",
        a.runs,
        on_ack / off_ack,
        (1.0 - on_ack / off_ack) * 100.0
    );
    println!(
        "until shut down (median of {}): ledger on {on_all:.0}/s, off {off_all:.0}/s, on/off {:.3} (cost {:.1}%)",
        a.runs,
        on_all / off_all,
        (1.0 - on_all / off_all) * 100.0
    );
}
