//! `pramaan whois ADDR --at TIME --purpose TEXT` and
//! `pramaan whois import-bindings FILE`: operations of `pramaan_app::whois`,
//! run where the data is (a running server, or the data directory; see
//! [`crate::runner`]). A bindings file is read and checked here on the data
//! directory, or sent as it is read to the server, which checks it as it
//! arrives; either way `pramaan_app::whois::import_bindings` audits and
//! stores it.

use crate::client;
use crate::runner::{run_once, Common, Runner};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pramaan_app::local::Local;
use pramaan_app::whois::{
    check_bindings_file, import_bindings, ImportedBindings, Whois, IMPORT_ROUTE,
};
use pramaan_config::Config;
use pramaan_core::time::human;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WhoisArgs {
    #[command(subcommand)]
    command: Option<WhoisCommand>,
    /// The address to attribute (IPv4 or IPv6; an IPv6 address is matched
    /// against the prefixes that contain it).
    #[arg(value_name = "ADDR", required = true)]
    addr: Option<String>,
    /// The port (public side of a CGNAT); without it, every holder of the
    /// address at that instant is listed.
    #[arg(long, value_name = "P")]
    port: Option<u16>,
    /// The instant: RFC 3339 with any offset (2025-01-01T10:00:00+05:30, ...Z),
    /// a civil time read in IST, or an age like 2h.
    #[arg(long, value_name = "TIME", required = true)]
    at: Option<String>,
    /// Why you look (order or case reference); recorded in the audit trail. Required.
    #[arg(long, value_name = "TEXT", required = true)]
    purpose: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug)]
enum WhoisCommand {
    /// Import a bindings CSV (ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id),
    /// all or nothing. Temporary: `pramaan registry import` will take these files.
    ImportBindings(ImportArgs),
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// The CSV file, read here (and sent to the server when one runs).
    file: std::path::PathBuf,
    #[command(flatten)]
    common: Common,
}

pub async fn run(cfg: &Config, a: WhoisArgs) -> Result<ExitCode> {
    if let Some(WhoisCommand::ImportBindings(i)) = a.command {
        return import(cfg, i).await;
    }
    let addr_text = a.addr.context("ADDR is required")?;
    let at = a.at.context("--at is required")?;
    let purpose = a.purpose.context("--purpose is required")?;
    let op = Whois {
        ip: addr_text,
        port: a.port.map(|p| p.to_string()),
        at,
        purpose,
    };
    let v = serde_json::to_value(run_once(cfg, a.common.server.as_deref(), op).await?)?;
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_answer(&v);
    Ok(ExitCode::SUCCESS)
}

fn print_answer(v: &serde_json::Value) {
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_owned();
    let port = v["port"]
        .as_u64()
        .map(|p| format!(" port {p}"))
        .unwrap_or_default();
    let at_ns = v["at_ns"].as_i64().unwrap_or(0);
    let count = v["count"].as_u64().unwrap_or(0);
    let what = match count {
        0 if v["outcome"] == "erased" => s(&v["note"]),
        0 => "nobody held it".to_owned(),
        1 => "one holder".to_owned(),
        n => format!("{n} holders (shared address: give --port to narrow)"),
    };
    println!("{}{} at {}: {}", s(&v["ip"]), port, human(at_ns), what);
    println!(
        "purpose: {} (audit record #{})",
        s(&v["purpose"]),
        v["audit_seq"]
    );
    for m in v["matches"].as_array().into_iter().flatten() {
        let b = &m["binding"];
        let start = b["start_ns"].as_i64().unwrap_or(0);
        let end = b["end_ns"].as_i64().unwrap_or(0);
        println!();
        println!("  subscriber: {}", s(&m["subscriber"]));
        println!(
            "  binding:    {} ports {}-{} ({}, session {})",
            s(&b["net"]),
            b["port_lo"],
            b["port_hi"],
            s(&b["kind"]),
            s(&b["session"])
        );
        let end_text = if end >= i64::MAX / 2 {
            "no end".to_owned()
        } else {
            human(end)
        };
        let open = if b["open"].as_bool() == Some(true) {
            " (still open: no Stop yet; it lapses then without one)"
        } else {
            ""
        };
        println!("  held:       {} to {}{}", human(start), end_text, open);
        if !s(&b["detail"]).is_empty() {
            println!("  detail:     {}", s(&b["detail"]));
        }
        if !s(&m["source"]["what"]).is_empty() {
            println!("  source:     {}", s(&m["source"]["what"]));
        }
        let ev: Vec<String> = m["evidence"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x.to_string())
            .collect();
        if !ev.is_empty() {
            println!(
                "  evidence:   records {} (pramaan proof SEQ proves each)",
                ev.join(", ")
            );
        }
        for r in m["source"]["records"].as_array().into_iter().flatten() {
            println!(
                "    record {}: received {} over {} from {}",
                r["seq"],
                s(&r["received_at"]),
                s(&r["transport"]),
                s(&r["peer"])
            );
        }
        for via in m["via"].as_array().into_iter().flatten() {
            println!(
                "  via:        inside address {} held by {} ({}, session {})",
                s(&via["net"]),
                s(&via["subscriber"]),
                s(&via["kind"]),
                s(&via["session"])
            );
        }
    }
}

async fn import(cfg: &Config, a: ImportArgs) -> Result<ExitCode> {
    import_file(cfg, &a.file, a.common.server.as_deref(), a.common.json).await
}

/// Imports an IP-bindings CSV (`pramaan registry import` hands such files here).
pub async fn import_file(
    cfg: &Config,
    file: &std::path::Path,
    server: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let runner = Runner::open(cfg, server).await?;
    let done = match &runner {
        Runner::Server(url) => send_file(url, file).await,
        Runner::Local(l) => import_here(l, file, json).await,
    };
    runner.close().await;
    let Some(report) = done? else {
        return Ok(ExitCode::from(1));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Imported {} bindings on {} addresses/prefixes (read {:.1} s, index {:.1} s, store {:.1} s).",
            report.report.rows,
            report.report.networks,
            report.report.parse_secs,
            report.report.index_secs,
            report.report.store_secs
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a file's invalid lines (by number and field, never their text).
fn print_invalid(name: &str, total: u64, errors: &[String]) {
    eprintln!("{name}: {total} invalid line(s); nothing was imported:");
    for e in errors {
        eprintln!("  {e}");
    }
    if total as usize > errors.len() {
        eprintln!("  ... and {} more", total as usize - errors.len());
    }
}

/// Checks the file here and stores it in the data directory this process
/// opened; `None` when lines are invalid (they are printed).
async fn import_here(
    local: &Local,
    file: &std::path::Path,
    quiet: bool,
) -> Result<Option<ImportedBindings>> {
    let progress = move |done: u64, total: u64| {
        if !quiet {
            eprint!(
                "\r  read {:.0}% ({} MB)",
                done as f64 * 100.0 / total.max(1) as f64,
                done >> 20
            );
        }
    };
    let path = file.to_path_buf();
    let r = tokio::task::spawn_blocking(move || check_bindings_file(&path, &progress)).await?;
    if !quiet {
        eprintln!();
    }
    match r {
        Ok(checked) => Ok(Some(
            import_bindings(local.app(), local.caller(), checked).await?,
        )),
        Err(pramaan_attribution::ImportError::Invalid {
            path,
            total,
            errors,
        }) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            print_invalid(&path, total, &errors);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends the file to the server as it is read (the server opens no file a
/// client names); `None` when the server found invalid lines (printed).
async fn send_file(url: &str, file: &std::path::Path) -> Result<Option<ImportedBindings>> {
    let name = file.display().to_string();
    let f = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("reading {name}"))?;
    let len = f
        .metadata()
        .await
        .with_context(|| format!("reading {name}"))?
        .len();
    let resp = client::http()
        .post(format!("{url}{IMPORT_ROUTE}"))
        .header(reqwest::header::CONTENT_TYPE, "text/csv")
        .header(reqwest::header::CONTENT_LENGTH, len)
        .body(reqwest::Body::from(f))
        .send()
        .await
        .with_context(|| format!("sending {name} to {url}"))?;
    if resp.status() == reqwest::StatusCode::BAD_REQUEST {
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        if let Some(errors) = v["errors"].as_array() {
            let total = v["total"].as_u64().unwrap_or(errors.len() as u64);
            let errors: Vec<String> = errors
                .iter()
                .map(|e| {
                    format!(
                        "line {}, field {}: {}",
                        e["line"],
                        e["field"].as_str().unwrap_or("?"),
                        e["reason"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            print_invalid(&name, total, &errors);
            return Ok(None);
        }
        anyhow::bail!(
            "{name}: the server refused it: {}",
            v["error"].as_str().unwrap_or("400 Bad Request")
        );
    }
    Ok(Some(client::check(resp).await?.json().await?))
}
