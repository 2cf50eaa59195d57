//! `pramaan hold ...` and `pramaan retention run`: the operations of
//! `pramaan_app::holds`, run through a running server's HTTP API when one
//! holds the data directory, else on the directory itself; this file only
//! parses arguments and prints.

use crate::runner::{run_once, Common};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pramaan_app::holds::{AddHold, ListHolds, ReleaseHold, RunRetention};
use pramaan_app::local::os_user;
use pramaan_config::Config;
use pramaan_core::time::human;
use pramaan_vault::retention::{Hold, RunReport, SegmentReport};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct HoldArgs {
    #[command(subcommand)]
    command: HoldCommand,
}

#[derive(Subcommand, Debug)]
enum HoldCommand {
    /// Put a legal hold on records: retention deletes no segment the hold
    /// touches until it is released.
    Add(HoldAddArgs),
    /// List every hold, released ones too.
    List(HoldListArgs),
    /// Release a hold; it stays listed, with when, by whom and why.
    Release(HoldReleaseArgs),
}

#[derive(Args, Debug)]
struct HoldAddArgs {
    /// Start of the held received-time range (inclusive): RFC 3339, a date (IST), or an age like 30d.
    #[arg(long, value_name = "TIME")]
    from: String,
    /// End of the held range (inclusive), same forms as --from.
    #[arg(long, value_name = "TIME")]
    to: String,
    /// Only segments with this source (host name or sender address; `*` and `?` are wildcards).
    #[arg(long, value_name = "S")]
    source: Option<String>,
    /// Only segments that may hold a line with this IP address.
    #[arg(long, value_name = "ADDR")]
    ip: Option<String>,
    /// Why the records are held.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// The order behind the hold (court order, CERT-In direction, case number).
    #[arg(long, value_name = "REF")]
    order_ref: String,
    /// Who asks for it, kept after the caller's identity (default: $USER).
    #[arg(long, value_name = "WHO")]
    by: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct HoldListArgs {
    /// Only holds not released.
    #[arg(long)]
    active: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct HoldReleaseArgs {
    /// The hold's number (see `pramaan hold list`).
    id: i64,
    /// Why it is released.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Who releases it, kept after the caller's identity (default: $USER).
    #[arg(long, value_name = "WHO")]
    by: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub struct RetentionArgs {
    #[command(subcommand)]
    command: RetentionCommand,
}

#[derive(Subcommand, Debug)]
enum RetentionCommand {
    /// Delete the segments past their retention window now, except those a
    /// hold keeps; prints what was (or, with --dry-run, would be) deleted and why.
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Only show what would be deleted and what is held; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: Common,
}

pub async fn hold(cfg: &Config, a: HoldArgs) -> Result<ExitCode> {
    match a.command {
        HoldCommand::Add(a) => hold_add(cfg, a).await,
        HoldCommand::List(a) => hold_list(cfg, a).await,
        HoldCommand::Release(a) => hold_release(cfg, a).await,
    }
}

pub async fn retention(cfg: &Config, a: RetentionArgs) -> Result<ExitCode> {
    match a.command {
        RetentionCommand::Run(a) => run(cfg, a).await,
    }
}

async fn hold_add(cfg: &Config, a: HoldAddArgs) -> Result<ExitCode> {
    let op = AddHold {
        from: a.from,
        to: a.to,
        source: a.source,
        ip: a.ip,
        reason: a.reason,
        order_ref: a.order_ref,
        by: Some(a.by.unwrap_or_else(os_user)),
        via: None,
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    print_changed(v, a.common.json, "Added")
}

/// A hold a command added or released: JSON, or "VERB hold #N." and the hold.
fn print_changed(v: serde_json::Value, json: bool, verb: &str) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let h: Hold = serde_json::from_value(v).context("the answer")?;
        println!("{verb} hold #{}.", h.id);
        print_hold(&h);
    }
    Ok(ExitCode::SUCCESS)
}

async fn hold_list(cfg: &Config, a: HoldListArgs) -> Result<ExitCode> {
    let mut holds = run_once(cfg, a.common.server.as_deref(), ListHolds {}).await?;
    if a.active {
        holds.retain(|h| h["active"].as_bool() == Some(true));
    }
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&holds)?);
        return Ok(ExitCode::SUCCESS);
    }
    if holds.is_empty() {
        println!("No holds.");
    }
    for v in holds {
        let h: Hold = serde_json::from_value(v).context("the answer")?;
        print_hold(&h);
    }
    Ok(ExitCode::SUCCESS)
}

async fn hold_release(cfg: &Config, a: HoldReleaseArgs) -> Result<ExitCode> {
    let op = ReleaseHold {
        id: a.id,
        reason: a.reason,
        by: Some(a.by.unwrap_or_else(os_user)),
        via: None,
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    print_changed(v, a.common.json, "Released")
}

fn print_hold(h: &Hold) {
    let state = if h.active() { "active" } else { "released" };
    println!(
        "#{} {state}: received {} to {}",
        h.id,
        human(h.from_ns),
        human(h.to_ns)
    );
    let mut scope = Vec::new();
    if let Some(s) = &h.source {
        scope.push(format!("source {s}"));
    }
    if let Some(ip) = &h.ip {
        scope.push(format!("IP {ip}"));
    }
    if scope.is_empty() {
        scope.push("every source".into());
    }
    println!("    scope:     {}", scope.join(", "));
    println!("    order ref: {}", h.order_ref);
    println!("    reason:    {}", h.reason);
    println!(
        "    added:     {} by {}",
        human(h.created_at_ns),
        h.created_by
    );
    if let Some(at) = h.released_at_ns {
        println!(
            "    released:  {} by {}: {}",
            human(at),
            h.released_by.as_deref().unwrap_or("?"),
            h.release_reason.as_deref().unwrap_or("")
        );
    }
}

async fn run(cfg: &Config, a: RunArgs) -> Result<ExitCode> {
    let op = RunRetention {
        dry_run: Some(a.dry_run),
    };
    let report = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &RunReport) {
    let windows: Vec<String> = std::iter::once(format!("default {} days", r.policy.default_days))
        .chain(
            r.policy
                .classes
                .iter()
                .map(|c| format!("{} {} days", c.name, c.days)),
        )
        .collect();
    match r.run {
        Some(id) => println!("Retention run #{id} at {}", human(r.now_ns)),
        None => println!(
            "Retention dry run at {} (nothing is changed)",
            human(r.now_ns)
        ),
    }
    println!("Windows: {}", windows.join(", "));
    if !r.compliant {
        println!("WARNING: a window is under CERT-In's 180 days: this vault is NOT compliant.");
    }
    if r.finished_interrupted > 0 {
        println!(
            "Finished {} deletion(s) an earlier, interrupted run had begun.",
            r.finished_interrupted
        );
    }
    let verb = if r.dry_run { "Would delete" } else { "Deleted" };
    println!();
    println!("{verb} {} segment(s):", r.deleted.len());
    for s in &r.deleted {
        print_segment(s);
    }
    println!();
    println!("Held {} expired segment(s):", r.held.len());
    for s in &r.held {
        print_segment(s);
        for h in &s.holds {
            println!(
                "    held by hold #{} (order ref {}): {}",
                h.id, h.order_ref, h.reason
            );
        }
    }
    println!();
    println!("Kept {} segment(s) inside their window.", r.kept);
    if let Some(why) = &r.stopped {
        println!("STOPPED early, the remaining expired segments are kept for a later run: {why}");
    }
    for d in &r.deferred {
        println!(
            "Note: {d} is still being read by a search; its object is deleted by the next run."
        );
    }
    for l in &r.locked {
        println!("Note: {l}; a later run deletes it once the lock ends.");
    }
}

fn print_segment(s: &SegmentReport) {
    println!("  {}", s.segment);
    println!(
        "    seq {}-{}, {} rows, policy {}, sources {}",
        s.seq_min,
        s.seq_max,
        s.rows,
        s.policy,
        s.sources.join(", ")
    );
    println!(
        "    received {} to {}",
        human(s.received_from_ns),
        human(s.received_to_ns)
    );
    println!("    why: {}", s.why);
}
