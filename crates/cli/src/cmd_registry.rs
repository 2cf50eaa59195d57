//! `pramaan registry ...`: the subscriber register (CERT-In direction 6).
//! Each command builds an operation of `pramaan_app::registry` and runs it
//! where the data is (a running server, or the data directory; see
//! [`crate::runner`]), then prints its answer. A file to import is read and
//! checked here; its subscribers travel in the operation.

use crate::runner::{run_once, Common, Runner};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pramaan_app::registry::{
    AddHold, CheckCompleteness, EraseExpired, ImportSubscribers, ListErasures, ListHolds,
    ReadSubscriber, ReleaseHold, RotateKey, Terminate,
};
use pramaan_config::Config;
use pramaan_core::time::{human, parse_user_time};
use pramaan_registry::import::{self, FileKind};
use pramaan_registry::Subscriber;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Subscribers sent per HTTP request by `import` when a server runs (on the
/// data directory, one operation takes them all: all or nothing).
const BATCH: usize = 1000;

#[derive(Args, Debug)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Subcommand, Debug)]
enum RegistryCommand {
    /// Import subscribers from CSV (the columns of gen_subscribers.py), a
    /// JSON array or NDJSON. Every invalid record is reported with its line,
    /// field and reason; nothing is imported if any is invalid, unless
    /// --skip-invalid. Subscribers are matched by their id: importing the
    /// same file twice changes nothing.
    Import(ImportArgs),
    /// Show one subscriber's record. A purpose (or order reference) is
    /// required, and the read is written to the audit trail first.
    Show(ShowArgs),
    /// List subscribers missing a field the directions require.
    Completeness(Common),
    /// End a subscriber's current period of hire (the 5-year clock starts).
    Terminate(TerminateArgs),
    /// Erase subscribers past retention (legal holds excepted): the data
    /// key is destroyed and the rows deleted; an erasure report is kept.
    /// Their IP bindings go too, and those of subscribers not in the
    /// register once retention_years have passed since they ended (whois
    /// then answers "no record kept").
    EraseExpired(EraseArgs),
    /// Re-wrap every subscriber's data key under a new master key.
    RotateKey(RotateArgs),
    /// Legal holds on subscribers: erasure skips them until released.
    Hold(HoldArgs),
    /// List the erasure reports (what was erased, when).
    Erasures(Common),
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// The file to import (.csv, .json, .ndjson; the format is read from its start). A CSV
    /// with the header ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id is
    /// a file of IP bindings and goes to the attribution store.
    file: PathBuf,
    /// Check and say what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Import the valid records even when some are invalid (those are reported and skipped).
    #[arg(long)]
    skip_invalid: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// The subscriber's id (the provider's own).
    id: String,
    /// Why the record is read, or the order's reference (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    purpose: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct TerminateArgs {
    /// The subscriber's id.
    id: String,
    /// When the service ended: RFC 3339, a date (IST) or an age like 2d (default: now).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct EraseArgs {
    /// Only show what would be erased and what is held; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct RotateArgs {
    /// When the master key comes from an environment variable: the variable
    /// that holds the new key (64 hex digits). With a key file, a new key
    /// is generated.
    #[arg(long, value_name = "VAR")]
    new_key_env: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct HoldArgs {
    #[command(subcommand)]
    command: HoldCommand,
}

#[derive(Subcommand, Debug)]
enum HoldCommand {
    /// Hold a subscriber's record: it is not erased until released.
    Add {
        /// The subscriber's id.
        id: String,
        /// Why the record is held.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// The order behind the hold.
        #[arg(long, value_name = "REF")]
        order_ref: String,
        #[command(flatten)]
        common: Common,
    },
    /// List every hold, released ones too.
    List(Common),
    /// Release a hold.
    Release {
        /// The hold's number.
        id: i64,
        /// Why it is released.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(cfg: &Config, a: RegistryArgs) -> Result<ExitCode> {
    match a.command {
        RegistryCommand::Import(a) => import_cmd(cfg, a).await,
        RegistryCommand::Show(a) => show(cfg, a).await,
        RegistryCommand::Completeness(a) => completeness(cfg, a).await,
        RegistryCommand::Terminate(a) => terminate(cfg, a).await,
        RegistryCommand::EraseExpired(a) => erase(cfg, a).await,
        RegistryCommand::RotateKey(a) => rotate(cfg, a).await,
        RegistryCommand::Hold(a) => hold(cfg, a).await,
        RegistryCommand::Erasures(a) => erasures(cfg, a).await,
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{what:>10} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

async fn import_cmd(cfg: &Config, a: ImportArgs) -> Result<ExitCode> {
    let path = &a.file;
    match import::sniff_file(path).with_context(|| format!("reading {}", path.display()))? {
        // IP bindings (ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id)
        // go to the attribution store, all or nothing, errors located the same way.
        FileKind::Bindings => {
            if a.dry_run || a.skip_invalid {
                bail!("--dry-run and --skip-invalid apply to subscriber files; an IP-bindings file is checked whole and imported all or nothing");
            }
            return crate::cmd_whois::import_file(
                cfg,
                path,
                a.common.server.as_deref(),
                a.common.json,
            )
            .await;
        }
        FileKind::NotSubscribers(why) => {
            bail!("{} is not a subscriber file: {why}", path.display())
        }
        FileKind::Subscribers(_) => {}
    }
    let len = std::fs::metadata(path)?.len();
    if len > import::MAX_FILE {
        bail!(
            "{} is {len} bytes; split it (at most {} per import)",
            path.display(),
            import::MAX_FILE
        );
    }
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let pb = bar(data.len() as u64, "checking");
    let parsed = import::parse(&data, &mut |n| pb.set_position(n));
    pb.finish_and_clear();
    drop(data);
    let name = path.display();
    for e in &parsed.errors {
        eprintln!("{name}:{e}");
    }
    let bad_records: std::collections::BTreeSet<u64> =
        parsed.errors.iter().map(|e| e.line).collect();
    if !parsed.errors.is_empty() && !a.skip_invalid {
        bail!(
            "{} of {} records are invalid ({} problems, listed above); nothing was imported. Fix them, or import the {} valid ones with --skip-invalid",
            bad_records.len(),
            parsed.records,
            parsed.errors.len(),
            parsed.valid.len()
        );
    }
    if !parsed.errors.is_empty() {
        eprintln!(
            "skipping {} invalid records (lines {})",
            bad_records.len(),
            bad_records
                .iter()
                .take(50)
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
                + if bad_records.len() > 50 { ", ..." } else { "" }
        );
    }
    let subs: Vec<Subscriber> = parsed.valid.into_iter().map(|(_, s)| s).collect();
    let n = subs.len() as u64;
    let pb = bar(n, "importing");
    let runner = Runner::open(cfg, a.common.server.as_deref()).await?;
    // Over HTTP in batches (each within the server's body limit); on the
    // data directory in one operation, all or nothing.
    let batch = match runner {
        Runner::Server(_) => BATCH,
        Runner::Local(_) => subs.len().max(1),
    };
    let mut summary = pramaan_registry::ImportSummary {
        dry_run: a.dry_run,
        ..Default::default()
    };
    for chunk in subs.chunks(batch) {
        let op = ImportSubscribers {
            dry_run: a.dry_run,
            subscribers: chunk.iter().map(Subscriber::to_input).collect(),
        };
        let done = match runner.run(op).await {
            Ok(d) => d,
            Err(e) => {
                runner.close().await;
                return Err(e);
            }
        };
        summary.created += done.created;
        summary.updated += done.updated;
        summary.unchanged += done.unchanged;
        summary.ledger_seq = done.ledger_seq.or(summary.ledger_seq);
        pb.inc(chunk.len() as u64);
    }
    runner.close().await;
    pb.finish_and_clear();
    if a.common.json {
        print_json(&serde_json::json!({
            "summary": summary, "invalid": parsed.errors, "records": parsed.records,
        }))?;
    } else {
        println!(
            "{}{} subscribers: {} created, {} updated, {} unchanged{}.",
            if a.dry_run {
                "Dry run, nothing changed. "
            } else {
                ""
            },
            n,
            summary.created,
            summary.updated,
            summary.unchanged,
            if parsed.errors.is_empty() {
                String::new()
            } else {
                format!("; {} invalid records skipped", bad_records.len())
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(cfg: &Config, a: ShowArgs) -> Result<ExitCode> {
    let op = ReadSubscriber {
        id: a.id.clone(),
        purpose: a.purpose.clone(),
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = |x: &serde_json::Value| -> String {
        x["utc"]
            .as_str()
            .and_then(|u| parse_user_time(u, 0).ok())
            .map(human)
            .unwrap_or_else(|| "-".into())
    };
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("-").to_owned();
    let list = |x: &serde_json::Value| {
        x.as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "subscriber       {} ({})",
        s(&v["subscriber_id"]),
        s(&v["status"])
    );
    println!("name             {}", s(&v["name"]));
    println!(
        "validated        {} at {}",
        s(&v["kyc_method"]),
        t(&v["kyc_verified_at"])
    );
    for p in v["periods"].as_array().into_iter().flatten() {
        println!(
            "period of hire   {} to {}",
            t(&p["from"]),
            if p["to"].is_null() {
                "(active)".into()
            } else {
                t(&p["to"])
            }
        );
    }
    println!("e-mail           {}", s(&v["email"]));
    println!(
        "registered       from {} at {}",
        s(&v["registration_ip"]),
        t(&v["registration_at"])
    );
    println!("purpose          {}", s(&v["purpose"]));
    println!("address          {}", s(&v["address"]));
    println!("phones           {}", list(&v["phones"]));
    println!("ownership        {}", s(&v["ownership"]));
    println!("owners/directors {}", list(&v["owners"]));
    // VASP customers only: shown when the record has them.
    if !v["pan"].is_null() {
        println!("PAN              {}", s(&v["pan"]));
    }
    let banks = list(&v["bank_accounts"]);
    if banks != "-" {
        println!("bank accounts    {banks}");
    }
    let wallets = list(&v["wallets"]);
    if wallets != "-" {
        println!("wallets          {wallets}");
    }
    let missing = list(&v["missing"]);
    if missing != "-" {
        println!("MISSING          {missing}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn completeness(cfg: &Config, a: Common) -> Result<ExitCode> {
    let v = serde_json::to_value(run_once(cfg, a.server.as_deref(), CheckCompleteness {}).await?)?;
    if a.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let list = v["incomplete"].as_array().cloned().unwrap_or_default();
    for i in &list {
        let missing: Vec<&str> = i["missing"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
            .collect();
        println!(
            "{}\tmissing {}",
            i["subscriber_id"].as_str().unwrap_or("?"),
            missing.join(", ")
        );
    }
    println!(
        "{} of {} subscribers are missing required fields.",
        list.len(),
        v["subscribers"]
    );
    Ok(if list.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn terminate(cfg: &Config, a: TerminateArgs) -> Result<ExitCode> {
    let op = Terminate {
        id: a.id.clone(),
        at: a.at.clone(),
    };
    let v = serde_json::to_value(run_once(cfg, a.common.server.as_deref(), op).await?)?;
    if a.common.json {
        print_json(&v)?;
    } else if v["result"] == "unchanged" {
        println!(
            "Subscriber {} had no open period of hire; nothing changed.",
            a.id
        );
    } else {
        println!("Ended the period of hire of subscriber {}.", a.id);
    }
    Ok(ExitCode::SUCCESS)
}

async fn erase(cfg: &Config, a: EraseArgs) -> Result<ExitCode> {
    let op = EraseExpired { dry_run: a.dry_run };
    let v = serde_json::to_value(run_once(cfg, a.common.server.as_deref(), op).await?)?;
    if a.common.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if a.dry_run { "would erase" } else { "erased" };
    for e in v["erased"].as_array().into_iter().flatten() {
        println!(
            "{verb} {} (last period ended {}, kept until {})",
            e["subscriber_id"].as_str().unwrap_or("?"),
            e["last_end_ns"].as_i64().map(human).unwrap_or_default(),
            e["retain_until_ns"].as_i64().map(human).unwrap_or_default()
        );
    }
    for h in v["held"].as_array().into_iter().flatten() {
        println!("held   {} (holds {})", h[0].as_str().unwrap_or("?"), h[1]);
    }
    println!(
        "{} {}, {} held, {} kept.",
        v["erased"].as_array().map_or(0, Vec::len),
        verb,
        v["held"].as_array().map_or(0, Vec::len),
        v["kept"]
    );
    if let Some(n) = v["bindings_erased"].as_u64() {
        println!("{n} IP binding(s) erased with them, or past registry.retention_years (whois answers \"no record kept\" for their times).");
    }
    if let Some(n) = v["transactions_erased"].as_u64() {
        println!("{n} VASP transaction(s) past registry.retention_years erased (none with a party under a legal hold).");
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate(cfg: &Config, a: RotateArgs) -> Result<ExitCode> {
    let new = match &a.new_key_env {
        Some(var) => {
            let v = std::env::var(var).with_context(|| format!("${var} is not set"))?;
            Some(pramaan_registry::MasterKey::from_hex(
                &v,
                &format!("in ${var}"),
            )?)
        }
        None => None,
    };
    let runner = Runner::open(cfg, a.common.server.as_deref()).await?;
    if new.is_some() && matches!(runner, Runner::Server(_)) {
        // A key does not travel in a request.
        bail!("--new-key-env works on the data directory directly; stop the server first");
    }
    let out = runner.run(RotateKey { new_key: new }).await;
    runner.close().await;
    let v = serde_json::to_value(out?)?;
    if a.common.json {
        print_json(&v)?;
    } else {
        println!(
            "Master key rotated: {} -> {}; {} data keys re-wrapped.",
            v["old_key_id"].as_str().unwrap_or("?"),
            v["new_key_id"].as_str().unwrap_or("?"),
            v["rewrapped"]
        );
        if a.new_key_env.is_some() {
            println!("Put the new key in the variable named by registry.master_key_env before the next start.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn hold(cfg: &Config, a: HoldArgs) -> Result<ExitCode> {
    let (v, json) = match a.command {
        HoldCommand::Add {
            id,
            reason,
            order_ref,
            common,
        } => {
            let op = AddHold {
                subscriber_id: id,
                reason,
                order_ref,
            };
            let h = run_once(cfg, common.server.as_deref(), op).await?;
            (serde_json::to_value([h])?, common.json)
        }
        HoldCommand::List(common) => {
            let h = run_once(cfg, common.server.as_deref(), ListHolds {}).await?;
            (serde_json::to_value(h)?, common.json)
        }
        HoldCommand::Release { id, reason, common } => {
            let h = run_once(cfg, common.server.as_deref(), ReleaseHold { id, reason }).await?;
            (serde_json::to_value([h])?, common.json)
        }
    };
    if json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    for h in v.as_array().into_iter().flatten() {
        println!(
            "#{} subscriber {} ({}) order {}: {}; by {} at {}{}",
            h["id"],
            h["subscriber_id"].as_str().unwrap_or("?"),
            if h["released_at_ns"].is_null() {
                "active"
            } else {
                "released"
            },
            h["order_ref"].as_str().unwrap_or("?"),
            h["reason"].as_str().unwrap_or("?"),
            h["created_by"].as_str().unwrap_or("?"),
            h["created_at_ns"].as_i64().map(human).unwrap_or_default(),
            h["released_at_ns"]
                .as_i64()
                .map(|t| format!(
                    "; released {} by {}: {}",
                    human(t),
                    h["released_by"].as_str().unwrap_or("?"),
                    h["release_reason"].as_str().unwrap_or("?")
                ))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn erasures(cfg: &Config, a: Common) -> Result<ExitCode> {
    let v = serde_json::to_value(run_once(cfg, a.server.as_deref(), ListErasures {}).await?)?;
    if a.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    for e in v.as_array().into_iter().flatten() {
        println!(
            "#{} subscriber {} erased {} (kept until {}); ledger record {}",
            e["id"],
            e["subscriber_id"].as_str().unwrap_or("?"),
            e["erased_at_ns"].as_i64().map(human).unwrap_or_default(),
            e["retain_until_ns"].as_i64().map(human).unwrap_or_default(),
            e["ledger_seq"]
        );
    }
    Ok(ExitCode::SUCCESS)
}
