//! `pramaan order ...`, `pramaan export ORDER` and `pramaan verify-bundle`.
//!
//! Every order command runs an operation of `pramaan_app::orders`: over
//! HTTP against the server holding the data directory (or `--server`), else
//! on the data directory itself as the local operator (`<os user> (local)`).
//! Who acts is always the caller, never a name given on the command line:
//! the four-eyes rule compares identities nobody can choose.
//! `verify-bundle` needs neither: it reads only the bundle (and a key).

use crate::client;
use crate::runner::{run_once, Runner};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pramaan_app::orders::{
    ApproveOrder, CloseOrder, DeliverOrder, ExportOrder, ListOrders, OrderView, RegisterOrder,
    ShowOrder, Step,
};
use pramaan_config::Config;
use pramaan_core::time::rfc3339_ist;
use pramaan_orders::store::Order;
use pramaan_orders::IpSelector;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// The server to ask, as the user of $PRAMAAN_TOKEN (default: the one
    /// holding the data directory; with none, the directory itself, as
    /// `<os user> (local)`).
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// Print the answer as JSON (as the API gives it).
    #[arg(long, global = true)]
    json: bool,
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

/// Where an order command runs (`--server`), and how it answers (`--json`).
struct Common {
    server: Option<String>,
    json: bool,
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
    #[arg(long, value_name = "IP[:PORT]", value_parser = ip_selector)]
    ip: Vec<String>,
    /// A subscriber id (repeatable): the lines naming them or their bound addresses, and (VASP) the
    /// transactions they made or received; their register records leave with the bundle, so the export needs approval.
    #[arg(long, value_name = "ID")]
    subscriber: Vec<String>,
    /// Text the raw line contains (repeatable).
    #[arg(long)]
    text: Vec<String>,
    /// VASP: a wallet address; the transactions from or to it (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    wallet: Vec<String>,
    /// VASP: a chain transaction hash; the transactions carrying it (repeatable).
    #[arg(long = "transaction", value_name = "HASH")]
    transaction: Vec<String>,
    /// The legal basis (e.g. "IT Act s.70B(6); CERT-In direction 2022 para (ii)").
    #[arg(long)]
    legal_basis: String,
    #[arg(long, default_value = "")]
    notes: String,
    /// Do not place a legal hold on the scope.
    #[arg(long)]
    no_hold: bool,
}

/// An `--ip` value, checked before anything is sent (the operation checks
/// it again; this names the option).
fn ip_selector(s: &str) -> Result<String, String> {
    s.parse::<IpSelector>().map(|_| s.to_owned())
}

#[derive(Args, Debug)]
struct ListArgs {}

#[derive(Args, Debug)]
struct ShowArgs {
    reference: String,
}

#[derive(Args, Debug)]
struct StepArgs {
    reference: String,
    /// A note kept with the step.
    #[arg(long, default_value = "")]
    note: String,
}

#[derive(Args, Debug)]
struct CloseArgs {
    reference: String,
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
    /// The server to ask (default: as for `pramaan order`).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// The bundle (ZIP).
    bundle: PathBuf,
    /// The node's verifier key (vkey), obtained separately; default: the bundle's own.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

pub async fn run(cfg: &Config, c: OrderCommands) -> Result<ExitCode> {
    match c {
        OrderCommands::Order(o) => {
            let c = Common {
                server: o.server,
                json: o.json,
            };
            match o.command {
                OrderCommand::New(a) => new(cfg, &c, *a).await,
                OrderCommand::List(_) => list(cfg, &c).await,
                OrderCommand::Show(a) => show(cfg, &c, a).await,
                OrderCommand::Approve(a) => {
                    let op = ApproveOrder(Step::new(a.reference, a.note));
                    step(cfg, &c, op, |o| &o.approved_by).await
                }
                OrderCommand::Deliver(a) => {
                    let op = DeliverOrder(Step::new(a.reference, a.note));
                    step(cfg, &c, op, |o| &o.delivered_by).await
                }
                OrderCommand::Close(a) => close(cfg, &c, a).await,
            }
        }
        OrderCommands::Export(a) => export(cfg, a).await,
        OrderCommands::VerifyBundle(a) => verify_bundle(a),
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

fn holds_text(o: &Order) -> String {
    let l: Vec<String> = o.holds.iter().map(|h| format!("#{h}")).collect();
    l.join(", ")
}

async fn new(cfg: &Config, c: &Common, a: NewArgs) -> Result<ExitCode> {
    let op = RegisterOrder {
        reference: a.reference,
        authority: a.authority,
        received: a.received,
        due: a.due,
        from: a.from,
        to: a.to,
        sources: a.source,
        hosts: a.host,
        ips: a.ip,
        subscribers: a.subscriber,
        texts: a.text,
        wallets: a.wallet,
        transactions: a.transaction,
        legal_basis: a.legal_basis,
        notes: a.notes,
        hold: !a.no_hold,
    };
    let v = run_once(cfg, c.server.as_deref(), op).await?;
    if c.json {
        return print_json(&v);
    }
    let o = &v.order;
    println!("Registered order {}.", o.reference);
    print_deadline(&v);
    if o.holds.is_empty() {
        println!("No legal hold placed (--no-hold).");
    } else {
        println!("Legal hold(s) {} placed on its scope.", holds_text(o));
    }
    if o.scope.names_subscribers() {
        println!("It names subscribers: a second user must approve it before export (pramaan order approve {}).", o.reference);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_deadline(v: &OrderView) {
    println!(
        "Due {} (IST) = {} (UTC): {}.",
        v.due_at_ist, v.due_at, v.time_left
    );
}

async fn list(cfg: &Config, c: &Common) -> Result<ExitCode> {
    let orders = run_once(cfg, c.server.as_deref(), ListOrders {}).await?;
    if c.json {
        return print_json(&orders);
    }
    if orders.is_empty() {
        println!("No orders.");
    }
    for v in &orders {
        println!(
            "{:<24} {:<10} due {}  {}",
            v.order.reference,
            v.order.state.as_str(),
            v.due_at_ist,
            v.time_left
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(cfg: &Config, c: &Common, a: ShowArgs) -> Result<ExitCode> {
    let op = ShowOrder {
        reference: a.reference,
    };
    let d = run_once(cfg, c.server.as_deref(), op).await?;
    if c.json {
        return print_json(&d);
    }
    let o = &d.view.order;
    println!(
        "Order {} from {}: {}",
        o.reference,
        o.authority,
        o.state.as_str()
    );
    println!("Received {} (IST)", rfc3339_ist(o.received_at_ns));
    print_deadline(&d.view);
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
        ("wallets", s.wallets.clone()),
        ("transactions", s.transactions.clone()),
    ] {
        if !v.is_empty() {
            println!("  {k}: {}", v.join(", "));
        }
    }
    if !o.holds.is_empty() {
        println!("Legal holds: {}", holds_text(o));
    }
    println!("History:");
    for e in &d.events {
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

/// Approve or deliver; `by` picks who the register says did it.
async fn step<O>(
    cfg: &Config,
    c: &Common,
    op: O,
    by: fn(&Order) -> &Option<String>,
) -> Result<ExitCode>
where
    O: pramaan_app::Operation<Output = OrderView>,
{
    let v = run_once(cfg, c.server.as_deref(), op).await?;
    if c.json {
        return print_json(&v);
    }
    let o = &v.order;
    println!(
        "Order {} {} by {}.",
        o.reference,
        o.state.as_str(),
        by(o).as_deref().unwrap_or("?")
    );
    print_deadline(&v);
    Ok(ExitCode::SUCCESS)
}

async fn close(cfg: &Config, c: &Common, a: CloseArgs) -> Result<ExitCode> {
    let reference = a.reference.clone();
    let op = CloseOrder(Step {
        reference: a.reference,
        note: a.note,
        release_hold: a.release_hold,
    });
    let runner = Runner::open(cfg, c.server.as_deref()).await?;
    let out = async {
        let v = runner.run(op).await?;
        // The answer lists the holds still kept; the history, those released.
        let shown = runner.run(ShowOrder { reference }).await?;
        anyhow::Ok((v, shown.events))
    }
    .await;
    runner.close().await;
    let (v, events) = out?;
    if c.json {
        return print_json(&v);
    }
    let o = &v.order;
    println!(
        "Order {} closed by {}.",
        o.reference,
        o.closed_by.as_deref().unwrap_or("?")
    );
    let released = events
        .iter()
        .rev()
        .take_while(|e| e.action != "close")
        .find(|e| e.action == "release_holds")
        .and_then(|e| serde_json::from_value::<Vec<i64>>(e.details["holds"].clone()).ok());
    if let Some(ids) = released {
        let l: Vec<String> = ids.iter().map(|h| format!("#{h}")).collect();
        println!("Legal hold(s) {} released.", l.join(", "));
    }
    if !o.holds.is_empty() {
        println!(
            "Its legal hold(s) {} still keep the records; release them with: pramaan order close {} --release-hold (or pramaan hold release N)",
            holds_text(o),
            o.reference
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn export(cfg: &Config, a: ExportArgs) -> Result<ExitCode> {
    let op = ExportOrder {
        reference: a.reference.clone(),
    };
    // Written beside the destination, renamed when complete: a failed
    // export leaves nothing at --out.
    let part = part_path(&a.out);
    let runner = Runner::open(cfg, a.server.as_deref()).await?;
    let written = fetch_bundle(&runner, op, &part).await;
    runner.close().await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &a.out)
        .with_context(|| format!("moving the bundle to {}", a.out.display()))?;
    let m = manifest(&a.out)?;
    println!(
        "Wrote {}: {} record(s) of order {}, proofs against checkpoint size {}.",
        a.out.display(),
        m.records,
        m.order,
        m.checkpoint_size
    );
    println!("Check it with: pramaan verify-bundle {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

fn part_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    out.with_file_name(name)
}

/// The bundle of `op` into the file `to`: the server's download, or the
/// file the operation wrote in this process.
async fn fetch_bundle(runner: &Runner, op: ExportOrder, to: &Path) -> Result<()> {
    let mut file = tokio::fs::File::create(to)
        .await
        .with_context(|| format!("creating {}", to.display()))?;
    match runner {
        Runner::Local(l) => {
            let mut b = op.run(l.app(), l.caller()).await?;
            tokio::io::copy(&mut b.file, &mut file)
                .await
                .with_context(|| format!("writing {}", to.display()))?;
        }
        Runner::Server(base) => {
            use tokio::io::AsyncWriteExt as _;
            let url = format!("{base}{}", ExportOrder::ROUTE);
            let resp = client::http()
                .post(&url)
                .json(&op)
                .send()
                .await
                .with_context(|| format!("asking {url}"))?;
            let mut resp = client::check(resp).await?;
            while let Some(chunk) = resp
                .chunk()
                .await
                .with_context(|| format!("reading the bundle from {url}"))?
            {
                file.write_all(&chunk)
                    .await
                    .with_context(|| format!("writing {}", to.display()))?;
            }
        }
    }
    file.sync_all()
        .await
        .with_context(|| format!("writing {}", to.display()))
}

/// The bundle's own account of itself (`manifest.json`).
fn manifest(path: &Path) -> Result<pramaan_orders::bundle::Manifest> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut z = pramaan_orders::zip::ZipReader::new(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", path.display()))?;
    let m = z
        .read_all(pramaan_orders::bundle::MANIFEST, 16 << 20)
        .with_context(|| format!("reading the manifest of {}", path.display()))?;
    serde_json::from_slice(&m).with_context(|| format!("the manifest of {}", path.display()))
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
