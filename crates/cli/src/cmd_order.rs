//! `pramaan order ...`, `pramaan export ORDER` and `pramaan verify-bundle`.
//!
//! The register and the export work on the data directory directly (no
//! server may hold it): the vault is opened so that every step is appended
//! to the ledger as a `pramaan:order` record and legal holds can be placed.
//! `verify-bundle` needs neither: it reads only the bundle (and a key).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pramaan_config::Config;
use pramaan_core::time::{now_ns, parse_user_time, rfc3339_ist, rfc3339_utc};
use pramaan_orders::bundle::SystemInfo;
use pramaan_orders::export::{self, ExportError};
use pramaan_orders::store::{NewOrder, Order, Register};
use pramaan_orders::{Action, IpSelector, Scope};
use pramaan_vault::retention::Retention;
use pramaan_vault::Vault;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The commands this module adds to `pramaan`.
#[derive(Subcommand, Debug)]
pub enum OrderCommands {
    /// Lawful orders (CERT-In directions): register, approve, deliver, close.
    Order(OrderArgs),
    /// Write an order's evidence bundle: the records in scope, proofs, manifest, section 63 certificate.
    Export(ExportArgs),
    /// Check an evidence bundle offline: manifest hashes, every inclusion proof, the checkpoint signature.
    VerifyBundle(VerifyBundleArgs),
}

#[derive(Args, Debug)]
pub struct OrderArgs {
    #[command(subcommand)]
    command: OrderCommand,
}

#[derive(Subcommand, Debug)]
enum OrderCommand {
    /// Register an order; a legal hold is placed on its scope.
    New(Box<NewArgs>),
    /// Every order, the soonest deadline first, with the time left.
    List(ListArgs),
    /// One order: fields, scope, deadline, holds and history.
    Show(ShowArgs),
    /// Approve an order (a second user: not the one who registered it).
    Approve(StepArgs),
    /// Record that the bundle was delivered to the authority.
    Deliver(StepArgs),
    /// Close an order (with --release-hold, release its legal holds).
    Close(CloseArgs),
}

#[derive(Args, Debug)]
struct NewArgs {
    /// The order's reference (e.g. CERT-In/2026/042).
    #[arg(long)]
    reference: String,
    /// Who issued it.
    #[arg(long, default_value = "CERT-In")]
    authority: String,
    /// When it was received (RFC 3339, a date in IST, or an age like 2h; default now).
    #[arg(long, value_name = "TIME")]
    received: Option<String>,
    /// When the information is due (RFC 3339 with its offset, or a date in IST).
    #[arg(long, value_name = "TIME")]
    due: String,
    /// Start of the window of records ordered (received time, inclusive).
    #[arg(long, value_name = "TIME")]
    from: String,
    /// End of the window (exclusive).
    #[arg(long, value_name = "TIME")]
    to: String,
    /// A sender address (peer) as stored, or its address without the port (repeatable).
    #[arg(long, value_name = "ADDR")]
    source: Vec<String>,
    /// A host name the line carries (repeatable).
    #[arg(long)]
    host: Vec<String>,
    /// An IP address, or IP:port, found in the line (repeatable).
    #[arg(long, value_name = "IP[:PORT]")]
    ip: Vec<String>,
    /// A subscriber id (repeatable); its records leave with the bundle, so the export needs approval.
    #[arg(long, value_name = "ID")]
    subscriber: Vec<String>,
    /// Text the raw line contains (repeatable).
    #[arg(long)]
    text: Vec<String>,
    /// The legal basis (e.g. "IT Act s.70B(6); CERT-In direction 2022 para (ii)").
    #[arg(long)]
    legal_basis: String,
    #[arg(long, default_value = "")]
    notes: String,
    /// Do not place a legal hold on the scope.
    #[arg(long)]
    no_hold: bool,
    /// Who registers it (default $USER).
    #[arg(long)]
    by: Option<String>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ShowArgs {
    reference: String,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct StepArgs {
    reference: String,
    /// Who does it (default $USER).
    #[arg(long)]
    by: Option<String>,
    /// A note kept with the step.
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Args, Debug)]
struct CloseArgs {
    reference: String,
    #[arg(long)]
    by: Option<String>,
    /// Also release the legal holds placed for the order.
    #[arg(long)]
    release_hold: bool,
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The order's reference.
    reference: String,
    /// Where to write the bundle (a ZIP).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Who exports it (default $USER).
    #[arg(long)]
    by: Option<String>,
}

#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// The bundle (ZIP).
    bundle: PathBuf,
    /// The node's verifier key (vkey), obtained separately; default: the bundle's own.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

fn user(by: Option<String>) -> String {
    by.filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn orders_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("orders.db")
}

/// The vault opened for writing and the register appending to its ledger.
struct Direct {
    vault: Vault,
    workers: pramaan_vault::Workers,
    register: Register,
}

impl Direct {
    async fn open(cfg: &Config) -> Result<Direct> {
        let (vault, workers) = Vault::open(pramaan_server::vault_options(cfg))
            .await
            .with_context(|| {
                format!(
                    "opening the data directory {} (orders work on it directly: stop a server that holds it)",
                    cfg.data_dir.display()
                )
            })?;
        let register = Register::open(
            &orders_path(cfg),
            Arc::new(pramaan_vault::sink::VaultSink::new(vault.clone())),
        )?;
        register.flush().await;
        Ok(Direct {
            vault,
            workers,
            register,
        })
    }

    async fn close(self) -> Result<()> {
        let pending = self.register.flush().await;
        drop(self.register);
        let mut v = self.vault;
        v.close();
        drop(v);
        let w = self.workers;
        tokio::task::spawn_blocking(move || w.join()).await?;
        if pending > 0 {
            eprintln!("warning: {pending} order record(s) are not yet in the ledger; they are appended at the next change");
        }
        Ok(())
    }
}

/// Read-only use of the register: nothing is appended.
fn read_register(cfg: &Config) -> Result<Register> {
    Ok(Register::open(
        &orders_path(cfg),
        Arc::new(pramaan_core::MemorySink::new()),
    )?)
}

pub async fn run(cfg: &Config, c: OrderCommands) -> Result<ExitCode> {
    match c {
        OrderCommands::Order(a) => match a.command {
            OrderCommand::New(a) => new(cfg, *a).await,
            OrderCommand::List(a) => list(cfg, a),
            OrderCommand::Show(a) => show(cfg, a),
            OrderCommand::Approve(a) => step(cfg, a, Action::Approve).await,
            OrderCommand::Deliver(a) => step(cfg, a, Action::Deliver).await,
            OrderCommand::Close(a) => close(cfg, a).await,
        },
        OrderCommands::Export(a) => export_cmd(cfg, a).await,
        OrderCommands::VerifyBundle(a) => verify_bundle(a),
    }
}

fn time(s: &str, what: &str, now: i64) -> Result<i64> {
    parse_user_time(s, now).with_context(|| format!("{what} {s:?}"))
}

async fn new(cfg: &Config, a: NewArgs) -> Result<ExitCode> {
    let now = now_ns();
    let by = user(a.by);
    let ips =
        a.ip.iter()
            .map(|s| s.parse::<IpSelector>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--ip: {e}"))?;
    let o = NewOrder {
        reference: a.reference.trim().to_owned(),
        authority: a.authority,
        received_at_ns: match &a.received {
            Some(r) => time(r, "--received", now)?,
            None => now,
        },
        due_at_ns: time(&a.due, "--due", now)?,
        scope: Scope {
            from_ns: time(&a.from, "--from", now)?,
            to_ns: time(&a.to, "--to", now)?,
            sources: a.source,
            hosts: a.host,
            ips,
            subscribers: a.subscriber,
            texts: a.text,
        },
        legal_basis: a.legal_basis,
        notes: a.notes,
    };
    let d = Direct::open(cfg).await?;
    let out = async {
        let order = d.register.register(&o, &by, now).await?;
        let mut holds = Vec::new();
        if !a.no_hold {
            let r = Retention::new(d.vault.clone(), pramaan_server::retention_policy(cfg));
            for h in pramaan_server::api::orders::holds_for(&order, &format!("{by} (local)")) {
                holds.push(r.add_hold(&h, now).await?.id);
            }
            d.register
                .set_holds(&order.reference, &holds, &by, now, false)
                .await?;
        }
        anyhow::Ok((order, holds))
    }
    .await;
    d.close().await?;
    let (order, holds) = out?;
    println!("Registered order {}.", order.reference);
    print_deadline(&order, now);
    if holds.is_empty() {
        println!("No legal hold placed (--no-hold).");
    } else {
        let list: Vec<String> = holds.iter().map(|h| format!("#{h}")).collect();
        println!("Legal hold(s) {} placed on its scope.", list.join(", "));
    }
    if order.scope.names_subscribers() {
        println!("It names subscribers: a second user must approve it before export (pramaan order approve {}).", order.reference);
    }
    Ok(ExitCode::SUCCESS)
}

/// The holds that keep at least everything in the order's scope: one per IP
/// or source selector when the order names some (a record in scope matches
/// one of them), else the whole window.
fn print_deadline(o: &Order, now: i64) {
    println!(
        "Due {} (IST) = {} (UTC): {}.",
        rfc3339_ist(o.due_at_ns),
        rfc3339_utc(o.due_at_ns),
        o.deadline_text(now)
    );
}

fn list(cfg: &Config, a: ListArgs) -> Result<ExitCode> {
    let r = read_register(cfg)?;
    let now = now_ns();
    let orders = r.list()?;
    if a.json {
        let v: Vec<serde_json::Value> = orders.iter().map(|o| order_json(o, now)).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if orders.is_empty() {
        println!("No orders.");
    }
    for o in &orders {
        println!(
            "{:<24} {:<10} due {}  {}",
            o.reference,
            o.state.as_str(),
            rfc3339_ist(o.due_at_ns),
            o.deadline_text(now)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn order_json(o: &Order, now: i64) -> serde_json::Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    v["due_at"] = rfc3339_utc(o.due_at_ns).into();
    v["due_at_ist"] = rfc3339_ist(o.due_at_ns).into();
    v["time_left"] = o.deadline_text(now).into();
    v
}

fn show(cfg: &Config, a: ShowArgs) -> Result<ExitCode> {
    let r = read_register(cfg)?;
    let now = now_ns();
    let o = r.get(&a.reference)?;
    let events = r.events(&a.reference)?;
    if a.json {
        let mut v = order_json(&o, now);
        v["events"] = serde_json::to_value(&events)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Order {} from {}: {}",
        o.reference,
        o.authority,
        o.state.as_str()
    );
    println!("Received {} (IST)", rfc3339_ist(o.received_at_ns));
    print_deadline(&o, now);
    println!("Legal basis: {}", o.legal_basis);
    if !o.notes.is_empty() {
        println!("Notes: {}", o.notes);
    }
    let s = &o.scope;
    println!(
        "Scope: {} to {} (IST)",
        rfc3339_ist(s.from_ns),
        rfc3339_ist(s.to_ns)
    );
    for (k, v) in [
        ("sources", s.sources.clone()),
        ("hosts", s.hosts.clone()),
        ("ips", s.ips.iter().map(|i| i.to_string()).collect()),
        ("subscribers", s.subscribers.clone()),
        ("texts", s.texts.clone()),
    ] {
        if !v.is_empty() {
            println!("  {k}: {}", v.join(", "));
        }
    }
    if !o.holds.is_empty() {
        let l: Vec<String> = o.holds.iter().map(|h| format!("#{h}")).collect();
        println!("Legal holds: {}", l.join(", "));
    }
    println!("History:");
    for e in &events {
        println!(
            "  {}  {:<14} {}{}",
            rfc3339_ist(e.at_ns),
            e.action,
            e.actor,
            e.ledger_seq
                .map(|s| format!("  (ledger seq {s})"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn step(cfg: &Config, a: StepArgs, action: Action) -> Result<ExitCode> {
    let by = user(a.by);
    let now = now_ns();
    let d = Direct::open(cfg).await?;
    let out = d
        .register
        .act(
            &a.reference,
            action,
            &by,
            now,
            serde_json::json!({ "note": a.note }),
        )
        .await;
    d.close().await?;
    let o = out?;
    println!("Order {} {} by {by}.", o.reference, action.past());
    print_deadline(&o, now);
    Ok(ExitCode::SUCCESS)
}

async fn close(cfg: &Config, a: CloseArgs) -> Result<ExitCode> {
    let by = user(a.by);
    let now = now_ns();
    let d = Direct::open(cfg).await?;
    let out = async {
        let o = d
            .register
            .act(
                &a.reference,
                Action::Close,
                &by,
                now,
                serde_json::json!({ "note": a.note }),
            )
            .await?;
        if a.release_hold && !o.holds.is_empty() {
            let r = Retention::new(d.vault.clone(), pramaan_server::retention_policy(cfg));
            for id in &o.holds {
                r.release_hold(*id, &by, &format!("order {} closed", o.reference), now)
                    .await?;
            }
            d.register
                .set_holds(&o.reference, &o.holds, &by, now, true)
                .await?;
        }
        anyhow::Ok(o)
    }
    .await;
    d.close().await?;
    let o = out?;
    println!("Order {} closed by {by}.", o.reference);
    if !o.holds.is_empty() {
        let l: Vec<String> = o.holds.iter().map(|h| format!("#{h}")).collect();
        if a.release_hold {
            println!("Legal hold(s) {} released.", l.join(", "));
        } else {
            println!(
                "Its legal hold(s) {} still keep the records; release them with: pramaan order close {} --release-hold (or pramaan hold release N)",
                l.join(", "),
                o.reference
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn export_cmd(cfg: &Config, a: ExportArgs) -> Result<ExitCode> {
    let by = user(a.by.clone());
    let d = Direct::open(cfg).await?;
    let out = export_inner(cfg, &d, &a, &by).await;
    d.close().await?;
    let (o, e) = out?;
    println!(
        "Wrote {}: {} record(s) of order {} ({} line(s) in the window), proofs against checkpoint size {}.",
        a.out.display(),
        e.records,
        o.reference,
        e.scanned,
        e.manifest.checkpoint_size
    );
    println!("Check it with: pramaan verify-bundle {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

async fn export_inner(
    cfg: &Config,
    d: &Direct,
    a: &ExportArgs,
    by: &str,
) -> Result<(Order, export::Exported)> {
    let order = d.register.get(&a.reference)?;
    // Check the rules before any personal data is read.
    pramaan_orders::state::next(&order.facts(), Action::Export, by)?;
    let mut subscribers = Vec::new();
    if order.scope.names_subscribers() {
        let reg = pramaan_registry::Registry::open(
            pramaan_registry::RegistryOptions::from_config(cfg),
            Arc::new(pramaan_vault::sink::VaultSink::new(d.vault.clone())),
        )
        .await?;
        let purpose = format!("order {}", order.reference);
        let ids: Vec<&str> = order.scope.subscribers.iter().map(String::as_str).collect();
        // One audit record per subscriber, in one ledger write (as the server does).
        let reads = reg.read_subscribers(&ids, &purpose, by, Vec::new()).await?;
        for (id, s) in reads.ids.iter().zip(reads.subscribers) {
            match s {
                Some(s) => subscribers.push(s.to_json()),
                None => eprintln!("note: subscriber {id} is not in the registry"),
            }
        }
    }
    let bindings = if order.scope.names_subscribers() {
        let store = pramaan_attribution::open_store(&cfg.data_dir, Some(&cfg.registry.url))
            .await
            .context("opening the attribution store")?;
        pramaan_server::api::orders::subscriber_bindings(&*store, &order.scope).await?
    } else {
        Vec::new()
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} records  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let system = SystemInfo {
        software: format!("pramaan {}", env!("CARGO_PKG_VERSION")),
        origin: d
            .vault
            .ledger()
            .map(|l| l.origin().to_owned())
            .unwrap_or_default(),
        exported_by: by.to_owned(),
        exported_at_ns: now_ns(),
    };
    // Records just appended (this command's own ledger records, or lines
    // still arriving) wait for the next checkpoint: try again a few times.
    let mut tries = 0;
    let e = loop {
        tries += 1;
        let progress = |n: u64| bar.set_position(n);
        match export::export(
            &d.vault,
            &order,
            subscribers.clone(),
            &bindings,
            system.clone(),
            &a.out,
            &progress,
        )
        .await
        {
            Err(ExportError::NotYetCheckpointed { .. } | ExportError::Tree(_)) if tries < 20 => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            other => break other?,
        }
    };
    bar.finish_and_clear();
    let o = d
        .register
        .act(
            &order.reference,
            Action::Export,
            by,
            now_ns(),
            serde_json::json!({
                "records": e.records,
                "checkpoint_size": e.manifest.checkpoint_size,
                "manifest": e.manifest.files,
            }),
        )
        .await?;
    Ok((o, e))
}

fn verify_bundle(a: VerifyBundleArgs) -> Result<ExitCode> {
    let key = match &a.key {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the key {}", p.display()))?,
        ),
        None => None,
    };
    let f = std::fs::File::open(&a.bundle)
        .with_context(|| format!("opening {}", a.bundle.display()))?;
    match pramaan_orders::verify_bundle(std::io::BufReader::new(f), key.as_deref()) {
        Ok(s) => {
            print!("{s}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bail!("{}: FAILED: {e}", a.bundle.display()),
    }
}
