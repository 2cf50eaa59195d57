//! `pramaan vasp import FILE` and `pramaan vasp trail ...`: operations of
//! `pramaan_app::vasp`, run where the data is (a running server, or the
//! data directory; see [`crate::runner`]). A file is read and checked here
//! first, every bad field located by line, then sent in parts.

use crate::runner::{run_once, Common, Runner};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pramaan_app::vasp::{ImportTransactions, TrailQuery};
use pramaan_config::Config;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct VaspArgs {
    #[command(subcommand)]
    command: VaspCommand,
}

#[derive(Subcommand, Debug)]
enum VaspCommand {
    /// Import transactions (CSV with a header, a JSON array or NDJSON; columns
    /// id,time,kind,customer,asset,amount,fee,chain,from_wallet,to_wallet,
    /// contract,tx_hash,counterparty,counter_asset,counter_amount,received,ip,device).
    /// Checked whole first: a bad field anywhere imports nothing. Each
    /// transaction becomes a ledger record; one sent again is left unchanged.
    Import(ImportArgs),
    /// The trail of funds from a customer, a wallet or a chain transaction,
    /// through internal transfers and trades, with the IP addresses each
    /// customer used. Audited with its purpose before anything is read.
    Trail(TrailArgs),
}

#[derive(Args, Debug)]
struct ImportArgs {
    file: std::path::PathBuf,
    /// Transactions sent per request.
    #[arg(long, default_value_t = 50_000, value_name = "N")]
    batch: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("start").required(true).args(["customer", "wallet", "tx"])))]
struct TrailArgs {
    /// Start at this customer (their id in the register).
    #[arg(long, value_name = "ID")]
    customer: Option<String>,
    /// Start at this wallet address.
    #[arg(long, value_name = "ADDRESS")]
    wallet: Option<String>,
    /// Start at this chain transaction hash.
    #[arg(long, value_name = "HASH")]
    tx: Option<String>,
    /// From (RFC 3339, a civil time in IST, or an age like 30d); default: the beginning.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// To (exclusive); default: now and after.
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Steps from the start (at most 10).
    #[arg(long, default_value_t = 3)]
    hops: u32,
    /// Why (order or case reference); recorded in the audit trail. Required.
    #[arg(long, value_name = "TEXT")]
    purpose: String,
    #[command(flatten)]
    common: Common,
}

pub async fn run(cfg: &Config, a: VaspArgs) -> Result<ExitCode> {
    match a.command {
        VaspCommand::Import(i) => import(cfg, i).await,
        VaspCommand::Trail(t) => trail(cfg, t).await,
    }
}

async fn import(cfg: &Config, a: ImportArgs) -> Result<ExitCode> {
    use pramaan_vasp::import::{located, records, MAX_PROBLEMS};
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let name = a.file.display().to_string();
    // The whole file is checked before anything is sent.
    let mut problems = Vec::new();
    let mut total = 0usize;
    for r in records(&bytes) {
        match r.and_then(|(at, t)| t.validate().map(|_| ()).map_err(|e| located(&at, &e))) {
            Ok(()) => total += 1,
            Err(p) => problems.extend(p),
        }
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        return Ok(refuse(&name, &problems));
    }
    let runner = Runner::open(cfg, a.common.server.as_deref()).await?;
    let mut sum = pramaan_app::vasp::Imported::default();
    let mut sent = 0;
    let mut part = Vec::with_capacity(a.batch.max(1).min(total));
    let mut all = records(&bytes)
        .filter_map(Result::ok)
        .map(|(_, t)| t)
        .peekable();
    while all.peek().is_some() {
        part.extend(all.by_ref().take(a.batch.max(1)));
        let n = part.len();
        let op = ImportTransactions {
            transactions: std::mem::take(&mut part),
        };
        let out = match runner.run(op).await {
            Ok(o) => o,
            Err(e) => {
                runner.close().await;
                return Err(e.context(format!(
                    "importing {name}: {sent} of {total} transactions were imported before this (sending the file again imports the rest)"
                )));
            }
        };
        sent += n;
        sum.added += out.added;
        sum.unchanged += out.unchanged;
        sum.recovered += out.recovered;
        if total > a.batch {
            eprintln!("{name}: {sent} of {total} transactions");
        }
    }
    runner.close().await;
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&sum)?);
    } else {
        println!(
            "{name}: {total} transactions: {} added (each a ledger record), {} already stored unchanged",
            sum.added, sum.unchanged
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn refuse(name: &str, problems: &[pramaan_vasp::import::Problem]) -> ExitCode {
    eprintln!("{name}: nothing imported; fix these and send the file again:");
    for p in problems {
        eprintln!("  {p}");
    }
    if problems.len() >= pramaan_vasp::import::MAX_PROBLEMS {
        eprintln!(
            "  (only the first {} are shown)",
            pramaan_vasp::import::MAX_PROBLEMS
        );
    }
    ExitCode::FAILURE
}

async fn trail(cfg: &Config, a: TrailArgs) -> Result<ExitCode> {
    let op = TrailQuery {
        customer: a.customer,
        wallet: a.wallet,
        tx: a.tx,
        from: a.from,
        to: a.to,
        hops: Some(a.hops),
        purpose: a.purpose,
    };
    let t = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} transactions between {} parties (purpose: {}){}",
        t.trail.edges.len(),
        t.trail.nodes.len(),
        t.purpose,
        if t.trail.truncated {
            "; cut at the limit: narrow the window or the hops"
        } else {
            ""
        }
    );
    println!();
    for n in &t.trail.nodes {
        let ips = if n.ips.is_empty() {
            String::new()
        } else {
            format!("  IP: {}", n.ips.join(", "))
        };
        println!("  hop {}  {:<8} {}{ips}", n.hop, n.kind, n.label);
    }
    println!();
    let label = |id: &str| {
        t.trail
            .nodes
            .iter()
            .find(|n| n.id == id)
            .map_or(id.to_owned(), |n| n.label.clone())
    };
    for e in &t.trail.edges {
        let x = &e.tx;
        let what = match &x.counter_asset {
            Some(ca) => format!(
                "{} {} for {} {ca}",
                x.amount,
                x.asset,
                x.counter_amount.as_deref().unwrap_or("?")
            ),
            None => format!("{} {}", x.amount, x.asset),
        };
        let hash = x
            .tx_hash
            .as_deref()
            .map(|h| format!("  hash {h}"))
            .unwrap_or_default();
        let ip =
            x.ip.as_deref()
                .map(|i| format!("  from IP {i}"))
                .unwrap_or_default();
        let seq = e.seq.map(|s| format!("  record #{s}")).unwrap_or_default();
        println!(
            "  {}  {:<10} {} -> {}: {what}{hash}{ip}{seq}  [{}]",
            x.time,
            x.kind.as_str(),
            label(&e.from),
            label(&e.to),
            x.id
        );
    }
    Ok(ExitCode::SUCCESS)
}
