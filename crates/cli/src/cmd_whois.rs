//! `pramaan whois ADDR --at TIME --purpose TEXT` and
//! `pramaan whois import-bindings FILE`: through a running server's HTTP API
//! when one holds the data directory (the file is read here and sent as the
//! request's body), else directly on it.

use crate::client::{self, Target};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pramaan_config::Config;
use pramaan_core::time::{human, now_ns, parse_user_time};
use pramaan_vault::Vault;
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
    /// Who asks (default: $USER); recorded in the audit trail.
    #[arg(long, value_name = "WHO")]
    actor: Option<String>,
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

#[derive(Args, Debug)]
struct Common {
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else work on it directly).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The data directory opened by the CLI itself (no server holds it): the
/// attribution store, and the vault whose ledger takes the audit records.
struct Direct {
    store: std::sync::Arc<dyn pramaan_attribution::BindingStore>,
    vault: Vault,
    workers: pramaan_vault::Workers,
    sink: pramaan_vault::sink::VaultSink,
}

impl Direct {
    async fn open(cfg: &Config) -> Result<Self> {
        let store = pramaan_attribution::open_store(&cfg.data_dir, Some(&cfg.registry.url))
            .await
            .context("opening the attribution store")?;
        let (vault, workers) = Vault::open(pramaan_server::vault_options(cfg))
            .await
            .with_context(|| format!("opening the data directory {}", cfg.data_dir.display()))?;
        let sink = pramaan_vault::sink::VaultSink::new(vault.clone());
        Ok(Direct {
            store,
            vault,
            workers,
            sink,
        })
    }

    /// Closes the vault (its records flushed) and keeps the store.
    async fn close(self) -> Result<std::sync::Arc<dyn pramaan_attribution::BindingStore>> {
        let Direct {
            store,
            mut vault,
            workers,
            sink,
        } = self;
        drop(sink);
        vault.close();
        drop(vault);
        tokio::task::spawn_blocking(move || workers.join()).await?;
        Ok(store)
    }
}

fn user(by: Option<String>) -> String {
    by.filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

pub async fn run(cfg: &Config, a: WhoisArgs) -> Result<ExitCode> {
    if let Some(WhoisCommand::ImportBindings(i)) = a.command {
        return import(cfg, i).await;
    }
    let addr_text = a.addr.context("ADDR is required")?;
    let at = a.at.context("--at is required")?;
    let purpose = a.purpose.context("--purpose is required")?;
    if pramaan_core::purpose::checked(&purpose).is_none() {
        anyhow::bail!("--purpose must say why (an order or case reference), in visible characters");
    }
    let actor = user(a.actor);
    let v: serde_json::Value = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            let mut q: Vec<(&str, String)> = vec![
                ("ip", addr_text.clone()),
                ("at", at.clone()),
                ("purpose", purpose.clone()),
            ];
            if let Some(p) = a.port {
                q.push(("port", p.to_string()));
            }
            let resp = client::http()
                .get(format!("{url}/api/v1/whois"))
                .header("X-Pramaan-Actor", &actor)
                .query(&q)
                .send()
                .await
                .with_context(|| format!("asking {url}"))?;
            client::check(resp).await?.json().await?
        }
        Target::Direct => {
            let addr: std::net::IpAddr = addr_text
                .trim()
                .parse()
                .with_context(|| format!("`{addr_text}` is not an IPv4 or IPv6 address"))?;
            let at_ns = parse_user_time(&at, now_ns()).context("--at")?;
            let direct = Direct::open(cfg).await?;
            let registry = pramaan_registry::Registry::open(
                pramaan_registry::RegistryOptions::from_config(cfg),
                std::sync::Arc::new(direct.sink.clone()),
            )
            .await
            .context("opening the subscriber registry")?;
            let out = pramaan_server::api::whois::audited_lookup(
                &*direct.store,
                &registry,
                &format!("{actor} (local)"),
                addr,
                a.port,
                at_ns,
                &purpose,
            )
            .await;
            drop(registry);
            direct.close().await?;
            serde_json::to_value(out?)?
        }
    };
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
            " (still open: no Stop yet; ends at attribution.max_session)"
        } else {
            ""
        };
        println!("  held:       {} to {}{}", human(start), end_text, open);
        if !s(&b["detail"]).is_empty() {
            println!("  detail:     {}", s(&b["detail"]));
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
    let a = ImportArgs {
        file: file.to_path_buf(),
        common: Common {
            server: server.map(str::to_owned),
            json,
        },
    };
    let name = a.file.display().to_string();
    let report: serde_json::Value = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            // The file is read here and its bytes sent as the body, as they
            // are read: the server opens no file a client names.
            let file = tokio::fs::File::open(&a.file)
                .await
                .with_context(|| format!("reading {name}"))?;
            let len = file
                .metadata()
                .await
                .with_context(|| format!("reading {name}"))?
                .len();
            let resp = client::http()
                .post(format!("{url}/api/v1/whois/import-bindings"))
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .header(reqwest::header::CONTENT_LENGTH, len)
                .header("X-Pramaan-Actor", user(None))
                .body(reqwest::Body::from(file))
                .send()
                .await
                .with_context(|| format!("sending {name} to {url}"))?;
            if resp.status() == reqwest::StatusCode::BAD_REQUEST {
                let v: serde_json::Value = resp.json().await.unwrap_or_default();
                if let Some(errors) = v["errors"].as_array() {
                    let total = v["total"].as_u64().unwrap_or(errors.len() as u64);
                    eprintln!("{name}: {total} invalid line(s); nothing was imported:");
                    for e in errors {
                        eprintln!(
                            "  line {}, field {}: {}",
                            e["line"],
                            e["field"].as_str().unwrap_or("?"),
                            e["reason"].as_str().unwrap_or("?")
                        );
                    }
                    if total as usize > errors.len() {
                        eprintln!("  ... and {} more", total as usize - errors.len());
                    }
                    return Ok(ExitCode::from(1));
                }
                anyhow::bail!(
                    "{name}: the server refused it: {}",
                    v["error"].as_str().unwrap_or("400 Bad Request")
                );
            }
            client::check(resp).await?.json().await?
        }
        Target::Direct => {
            let quiet = a.common.json;
            let progress = move |done: u64, total: u64| {
                if !quiet {
                    eprint!(
                        "\r  read {:.0}% ({} MB)",
                        done as f64 * 100.0 / total.max(1) as f64,
                        done >> 20
                    );
                }
            };
            let file = a.file.clone();
            let r = tokio::task::spawn_blocking(move || {
                pramaan_server::api::whois::read_bindings_file(&file, &progress)
            })
            .await?;
            if !quiet {
                eprintln!();
            }
            match r {
                Ok((idx, mut report, sha256)) => {
                    // Recorded in the ledger before anything is stored, as the server does.
                    let direct = Direct::open(cfg).await?;
                    let ev = pramaan_server::api::whois::import_audit(
                        &format!("{} (local)", user(None)),
                        &report,
                        &sha256,
                    );
                    let audited = pramaan_auth::audit::record(&direct.sink, &ev).await;
                    let store = direct.close().await?;
                    audited.context(
                        "the import's audit record could not be written; nothing was imported",
                    )?;
                    let t = std::time::Instant::now();
                    store.import(idx).await.context("storing the bindings")?;
                    report.store_secs = t.elapsed().as_secs_f64();
                    let mut v = serde_json::to_value(report)?;
                    v["sha256"] = sha256.into();
                    v
                }
                Err(pramaan_attribution::ImportError::Invalid {
                    path,
                    total,
                    errors,
                }) => {
                    eprintln!("{path}: {total} invalid line(s); nothing was imported:");
                    for e in &errors {
                        eprintln!("  {e}");
                    }
                    if total as usize > errors.len() {
                        eprintln!("  ... and {} more", total as usize - errors.len());
                    }
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Imported {} bindings on {} addresses/prefixes (read {:.1} s, index {:.1} s, store {:.1} s).",
            report["rows"], report["networks"],
            report["parse_secs"].as_f64().unwrap_or(0.0),
            report["index_secs"].as_f64().unwrap_or(0.0),
            report["store_secs"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}
