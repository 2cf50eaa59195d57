//! `pramaan incident ...` and `pramaan poc ...`: each command builds the
//! desk's operation (`pramaan_app::desk`) and runs it where the data is,
//! through a running server's API or on the data directory itself
//! ([`crate::runner`]); what it prints is the same either way. Changes are
//! recorded under the caller: the token's user over HTTP, `<user> (local)`
//! on the data directory.

use crate::runner::{run_once, Common, Runner};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pramaan_app::desk::{
    AttachExcerpt, CloseIncident, EditIncident, IncidentDetail, ListIncidents, OpenIncident,
    PocHistory, RenderReport, SendReport, SetPoc, ShowIncident, ShowPoc,
};
use pramaan_config::Config;
use pramaan_core::time::human;
use pramaan_desk::{IncidentView, PocEdit, PocView, System};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct IncidentArgs {
    #[command(subcommand)]
    command: IncidentCommand,
}

#[derive(Subcommand, Debug)]
enum IncidentCommand {
    /// Record an incident; its 6-hour clock starts at the earlier of --detected and --notified.
    New(NewArgs),
    /// List incidents with their deadline and time left (overdue ones flagged).
    List(ListArgs),
    /// Show one incident: fields, deadline, history, reports sent, logs attached.
    Show(ShowArgs),
    /// Change an incident's fields.
    Edit(EditArgs),
    /// Attach the log lines a search finds (with their sequence numbers) to the report.
    Attach(AttachArgs),
    /// Render the next report (the first, or a follow-up) without sending it.
    Report(ReportArgs),
    /// Send the next report to CERT-In (desk.report_to) by SMTP, the point of contact in copy.
    Send(SendArgs),
    /// Close an incident.
    Close(CloseArgs),
    /// The 20 kinds of incident of CERT-In's Annexure I, with their codes.
    Kinds,
    /// Print the shipped report template (a start for a custom one).
    Template(TemplateArgs),
}

#[derive(Args, Debug)]
pub struct PocArgs {
    #[command(subcommand)]
    command: PocCommand,
}

#[derive(Subcommand, Debug)]
enum PocCommand {
    /// Show the point of contact (and, with --history, every earlier version).
    Show(PocShowArgs),
    /// Set or change the point of contact's details, or confirm them (--reviewed).
    Set(PocSetArgs),
}

#[derive(Args, Debug, Default)]
struct FieldArgs {
    /// Title of the incident.
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// Kind(s) of incident: codes from `pramaan incident kinds` (or numbers 1-20); repeat or separate by commas.
    #[arg(long = "kind", value_name = "CODE", value_delimiter = ',')]
    kinds: Vec<String>,
    /// When the incident was detected: RFC 3339 with any offset, a date-time read in IST, or an age like 2h.
    #[arg(long, value_name = "TIME")]
    detected: Option<String>,
    /// When the organisation was told of it (the clock starts at the earlier of this and --detected).
    #[arg(long, value_name = "TIME")]
    notified: Option<String>,
    /// When it happened, if known.
    #[arg(long, value_name = "TIME")]
    occurred: Option<String>,
    /// An affected system: `ip=10.0.0.5,hostname=web1,os=Debian 12,function=web,location=Mumbai DC`; repeat for more.
    #[arg(long = "system", value_name = "FIELDS")]
    systems: Vec<String>,
    /// Symptoms observed.
    #[arg(long, value_name = "TEXT")]
    symptoms: Option<String>,
    /// Description of the incident.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Scope and impact.
    #[arg(long, value_name = "TEXT")]
    scope_impact: Option<String>,
    /// Indicators of compromise (addresses, hashes, domains).
    #[arg(long, value_name = "TEXT")]
    iocs: Option<String>,
    /// Actions taken so far.
    #[arg(long, value_name = "TEXT")]
    actions_taken: Option<String>,
    /// Security systems deployed.
    #[arg(long, value_name = "TEXT")]
    security_systems: Option<String>,
    /// Anything else the report should say.
    #[arg(long, value_name = "TEXT")]
    other_info: Option<String>,
}

#[derive(Args, Debug)]
struct NewArgs {
    #[command(flatten)]
    fields: FieldArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only incidents not closed.
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// The incident's number.
    id: i64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct EditArgs {
    /// The incident's number.
    id: i64,
    #[command(flatten)]
    fields: FieldArgs,
    /// Replace the affected systems with the --system ones (default: add them).
    #[arg(long)]
    replace_systems: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct AttachArgs {
    /// The incident's number.
    id: i64,
    /// A name for this excerpt (shown in the report).
    #[arg(long, value_name = "NAME", default_value = "logs")]
    name: String,
    /// Text the raw line contains.
    #[arg(long, value_name = "TEXT")]
    text: Option<String>,
    #[command(flatten)]
    filter: crate::cmd_search::LineFilter,
    /// Most lines to attach.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// The incident's number.
    id: i64,
    /// Print the report to standard output (the default when --out is not given).
    #[arg(long)]
    preview: bool,
    /// Print the HTML part instead of the plain text.
    #[arg(long)]
    html: bool,
    /// Write report.txt, report.html, the NDJSON log excerpt and its manifest into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct SendArgs {
    /// The incident's number.
    id: i64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct CloseArgs {
    /// The incident's number.
    id: i64,
    /// Why it is closed.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct TemplateArgs {
    /// The HTML template instead of the plain-text one.
    #[arg(long)]
    html: bool,
}

#[derive(Args, Debug)]
struct PocShowArgs {
    /// Every version, oldest first.
    #[arg(long)]
    history: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct PocSetArgs {
    /// Name.
    #[arg(long)]
    name: Option<String>,
    /// Designation.
    #[arg(long)]
    designation: Option<String>,
    /// Organisation.
    #[arg(long)]
    organisation: Option<String>,
    /// Postal address.
    #[arg(long)]
    address: Option<String>,
    /// E-mail (copied on every report).
    #[arg(long)]
    email: Option<String>,
    /// Mobile number.
    #[arg(long)]
    mobile: Option<String>,
    /// Office telephone.
    #[arg(long)]
    office_phone: Option<String>,
    /// Record that the details were reviewed and are current (resets the review warning).
    #[arg(long)]
    reviewed: bool,
    /// A note kept with this version.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    #[command(flatten)]
    common: Common,
}

fn systems(list: &[String]) -> Result<Vec<System>> {
    list.iter()
        .map(|s| System::parse(s).map_err(|e| anyhow::anyhow!("--system: {e}")))
        .collect()
}

fn print_json(v: &impl Serialize) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

/// A sequence number as the record shows it (`null` when there is none).
fn seq(s: Option<u64>) -> serde_json::Value {
    serde_json::json!(s)
}

pub async fn incident(cfg: &Config, a: IncidentArgs) -> Result<ExitCode> {
    match a.command {
        IncidentCommand::New(a) => new(cfg, a).await,
        IncidentCommand::List(a) => list(cfg, a).await,
        IncidentCommand::Show(a) => show(cfg, a).await,
        IncidentCommand::Edit(a) => edit(cfg, a).await,
        IncidentCommand::Attach(a) => attach(cfg, a).await,
        IncidentCommand::Report(a) => report(cfg, a).await,
        IncidentCommand::Send(a) => send(cfg, a).await,
        IncidentCommand::Close(a) => close(cfg, a).await,
        IncidentCommand::Kinds => {
            for k in &pramaan_desk::kinds::KINDS {
                println!("{:>2}  {:<24} {}", k.number, k.code, k.wording);
            }
            Ok(ExitCode::SUCCESS)
        }
        IncidentCommand::Template(a) => {
            print!(
                "{}",
                if a.html {
                    pramaan_desk::render::DEFAULT_HTML
                } else {
                    pramaan_desk::render::DEFAULT_TEXT
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn new(cfg: &Config, a: NewArgs) -> Result<ExitCode> {
    let f = a.fields;
    let op = OpenIncident {
        title: f.title.unwrap_or_default(),
        kinds: f.kinds,
        detected_at: f.detected,
        notified_at: f.notified,
        occurred_at: f.occurred,
        systems: systems(&f.systems)?,
        symptoms: f.symptoms.unwrap_or_default(),
        description: f.description.unwrap_or_default(),
        scope_impact: f.scope_impact.unwrap_or_default(),
        iocs: f.iocs.unwrap_or_default(),
        actions_taken: f.actions_taken.unwrap_or_default(),
        security_systems: f.security_systems.unwrap_or_default(),
        other_info: f.other_info.unwrap_or_default(),
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    print_changed(&v, a.common.json, "Recorded")
}

/// Prints an incident a command created or changed: JSON, or "VERB incident #N." and the incident.
fn print_changed(v: &IncidentView, json: bool, verb: &str) -> Result<ExitCode> {
    if json {
        return print_json(v);
    }
    println!("{verb} incident #{}.", v.incident.id);
    print_incident(v);
    Ok(ExitCode::SUCCESS)
}

async fn list(cfg: &Config, a: ListArgs) -> Result<ExitCode> {
    let mut views = run_once(cfg, a.common.server.as_deref(), ListIncidents {}).await?;
    if a.open {
        views.retain(|v| v.incident.state != pramaan_desk::State::Closed);
    }
    if a.common.json {
        return print_json(&views);
    }
    if views.is_empty() {
        println!("No incidents.");
    }
    for v in &views {
        let flag = if v.overdue { "OVERDUE " } else { "" };
        println!(
            "#{:<4} {flag}{:<8} {}  [{}]",
            v.incident.id,
            v.incident.state.as_str(),
            v.incident.fields.title,
            v.incident.fields.kinds.join(", ")
        );
        println!("      deadline {}: {}", v.deadline.ist, v.clock_text);
    }
    let overdue = views.iter().filter(|v| v.overdue).count();
    if overdue > 0 {
        eprintln!("WARNING: {overdue} incident(s) are past their 6-hour deadline and not reported to CERT-In.");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_incident(v: &IncidentView) {
    let i = &v.incident;
    let f = &i.fields;
    if v.overdue {
        println!(
            "!! OVERDUE: not reported to CERT-In, deadline was {}",
            v.deadline.ist
        );
    }
    println!("#{} {} ({})", i.id, f.title, i.state.as_str());
    println!("  kinds:");
    for k in &v.kinds_detail {
        println!("    {} ({}): {}", k.code, k.number, k.wording);
    }
    if let Some(o) = &v.occurred_at {
        println!("  occurred:   {}", o.ist);
    }
    println!("  detected:   {}", v.detected_at.ist);
    if let Some(n) = &v.notified_at {
        println!("  notified:   {}", n.ist);
    }
    println!(
        "  deadline:   {} (clock started {})",
        v.deadline.ist, v.clock_start.ist
    );
    println!("  status:     {}", v.clock_text);
    for s in &f.systems {
        println!(
            "  system:     ip {} host {} os {} function {} location {}",
            s.ip, s.hostname, s.os, s.function, s.location
        );
    }
    for (name, val) in [
        ("symptoms", &f.symptoms),
        ("description", &f.description),
        ("scope/impact", &f.scope_impact),
        ("IOCs", &f.iocs),
        ("actions", &f.actions_taken),
        ("security", &f.security_systems),
        ("other", &f.other_info),
    ] {
        if !val.is_empty() {
            println!("  {name:<11} {val}");
        }
    }
    println!(
        "  recorded:   {} by {}",
        human(i.created_at_ns),
        i.created_by
    );
    if let Some(at) = i.closed_at_ns {
        println!(
            "  closed:     {} by {}: {}",
            human(at),
            i.closed_by.as_deref().unwrap_or("?"),
            i.close_reason.as_deref().unwrap_or("")
        );
    }
}

async fn show(cfg: &Config, a: ShowArgs) -> Result<ExitCode> {
    let op = ShowIncident { id: a.id };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        return print_json(&v);
    }
    print_detail(&v);
    Ok(ExitCode::SUCCESS)
}

fn print_detail(v: &IncidentDetail) {
    print_incident(&v.incident);
    if !v.excerpts.is_empty() {
        println!("  logs attached:");
        for e in &v.excerpts {
            println!(
                "    {}: {} line(s), seq {}-{}, by `{}`",
                e.name,
                e.records,
                seq(e.seq_min),
                seq(e.seq_max),
                e.query
            );
        }
    }
    if !v.reports.is_empty() {
        println!("  reports:");
        for r in &v.reports {
            let at = human(r.attempted_at_ns);
            match &r.error {
                None => println!(
                    "    #{} sent {at} to {} (cc {}), Message-ID {}, server: {}",
                    r.number,
                    r.to,
                    r.cc,
                    r.message_id,
                    r.smtp_reply.as_deref().unwrap_or("")
                ),
                Some(e) => println!("    #{} NOT SENT {at}: {e}", r.number),
            }
        }
    }
    println!("  history:");
    for e in &v.history {
        println!(
            "    {} {} by {}{}",
            human(e.at_ns),
            e.action,
            e.actor,
            e.ledger_seq
                .map(|s| format!(" (ledger seq {s})"))
                .unwrap_or_else(|| " (not yet in the ledger)".into())
        );
    }
    if let Some(w) = &v.poc_warning {
        eprintln!("WARNING: {w}");
    }
}

async fn edit(cfg: &Config, a: EditArgs) -> Result<ExitCode> {
    let f = a.fields;
    let sys = systems(&f.systems)?;
    let (systems, add_systems) = if a.replace_systems {
        (Some(sys), Vec::new())
    } else {
        (None, sys)
    };
    let op = EditIncident {
        id: a.id,
        title: f.title,
        kinds: (!f.kinds.is_empty()).then_some(f.kinds),
        detected_at: f.detected,
        notified_at: f.notified,
        occurred_at: f.occurred,
        systems,
        add_systems,
        symptoms: f.symptoms,
        description: f.description,
        scope_impact: f.scope_impact,
        iocs: f.iocs,
        actions_taken: f.actions_taken,
        security_systems: f.security_systems,
        other_info: f.other_info,
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    print_changed(&v, a.common.json, "Changed")
}

async fn attach(cfg: &Config, a: AttachArgs) -> Result<ExitCode> {
    let op = AttachExcerpt {
        id: a.id,
        name: Some(a.name.clone()),
        search: a.filter.params(a.text.clone(), a.limit, None),
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        return print_json(&v);
    }
    println!(
        "Attached {} log line(s) (sequence numbers {} to {}) to incident #{} as `{}`.",
        v.records,
        seq(v.seq_min),
        seq(v.seq_max),
        a.id,
        v.name
    );
    Ok(ExitCode::SUCCESS)
}

async fn report(cfg: &Config, a: ReportArgs) -> Result<ExitCode> {
    let op = RenderReport {
        id: a.id,
        format: Some("json".into()),
        files: a.out.is_some(),
    };
    let p = run_once(cfg, a.common.server.as_deref(), op).await?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = vec![
            (dir.join("report.txt"), p.text.as_str()),
            (dir.join("report.html"), p.html.as_str()),
        ];
        if let Some(f) = p.files.as_ref().filter(|f| !f.ndjson.is_empty()) {
            written.push((dir.join(&f.ndjson_name), f.ndjson.as_str()));
            written.push((dir.join(&f.manifest_name), f.manifest.as_str()));
        }
        for (path, text) in &written {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if a.preview || a.out.is_none() {
        print!("{}", if a.html { &p.html } else { &p.text });
    }
    Ok(ExitCode::SUCCESS)
}

async fn send(cfg: &Config, a: SendArgs) -> Result<ExitCode> {
    let v = run_once(cfg, a.common.server.as_deref(), SendReport { id: a.id }).await?;
    if a.common.json {
        print_json(&v)?;
    }
    let at = &v.attempt;
    if let Some(e) = &at.error {
        eprintln!(
            "NOT SENT: report {} of incident #{} to {}: {e}",
            at.number, a.id, at.to
        );
        eprintln!("The failure is recorded on the incident; run `pramaan incident send {}` again to retry.", a.id);
        return Ok(ExitCode::from(1));
    }
    if !a.common.json {
        println!(
            "Sent report {} of incident #{} to {} (cc {}).",
            at.number, a.id, at.to, at.cc
        );
        println!("  subject:    {}", at.subject);
        println!("  Message-ID: {}", at.message_id);
        println!("  server:     {}", at.smtp_reply.as_deref().unwrap_or(""));
        println!("  clock:      {}", v.incident.clock_text);
    }
    Ok(ExitCode::SUCCESS)
}

async fn close(cfg: &Config, a: CloseArgs) -> Result<ExitCode> {
    let op = CloseIncident {
        id: a.id,
        reason: a.reason,
    };
    let v = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        return print_json(&v);
    }
    println!("Closed incident #{}.", v.incident.id);
    if v.incident.first_reported_at_ns.is_none() {
        eprintln!("Note: it was never reported to CERT-In.");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn poc(cfg: &Config, a: PocArgs) -> Result<ExitCode> {
    match a.command {
        PocCommand::Show(a) => poc_show(cfg, a).await,
        PocCommand::Set(a) => poc_set(cfg, a).await,
    }
}

fn print_poc(v: &PocView) {
    let p = &v.record.poc;
    println!("Point of contact (version {}):", v.record.version);
    for (k, val) in [
        ("name", &p.name),
        ("designation", &p.designation),
        ("organisation", &p.organisation),
        ("address", &p.address),
        ("e-mail", &p.email),
        ("mobile", &p.mobile),
        ("office phone", &p.office_phone),
    ] {
        println!(
            "  {k:<13} {}",
            if val.is_empty() { "(not given)" } else { val }
        );
    }
    println!("  set:          {} by {}", v.set_at.ist, v.record.set_by);
    if let Some(n) = &v.record.note {
        println!("  note:         {n}");
    }
}

fn warn_poc(v: &PocView) {
    if let Some(w) = &v.warning {
        eprintln!("WARNING: {w}");
    }
    if !v.missing.is_empty() {
        eprintln!(
            "WARNING: the point of contact lacks: {} (CERT-In asks for each)",
            v.missing.join(", ")
        );
    }
}

/// The current point of contact (none when no version was ever set: the
/// API answers 404 then) and, when asked, every version.
async fn poc_show(cfg: &Config, a: PocShowArgs) -> Result<ExitCode> {
    let r = Runner::open(cfg, a.common.server.as_deref()).await?;
    let got = async {
        let hist = r.run(PocHistory {}).await?;
        let cur = if hist.is_empty() {
            None
        } else {
            Some(r.run(ShowPoc {}).await?)
        };
        anyhow::Ok((cur, hist))
    }
    .await;
    r.close().await;
    let (cur, hist) = got?;
    let hist = a.history.then_some(hist);
    if a.common.json {
        return print_json(&serde_json::json!({ "current": cur, "history": hist }));
    }
    let Some(v) = cur else {
        bail!("no point of contact is set: set one with `pramaan poc set --name ... --designation ... --organisation ... --address ... --email ... --mobile ... --office-phone ...`");
    };
    print_poc(&v);
    if let Some(h) = &hist {
        println!("History:");
        for r in h {
            println!(
                "  v{} {} by {}: {} <{}>, {}, {}{}",
                r.version,
                human(r.set_at_ns),
                r.set_by,
                r.poc.name,
                r.poc.email,
                r.poc.designation,
                r.poc.mobile,
                r.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
    }
    warn_poc(&v);
    Ok(ExitCode::SUCCESS)
}

async fn poc_set(cfg: &Config, a: PocSetArgs) -> Result<ExitCode> {
    let op = SetPoc(PocEdit {
        name: a.name,
        designation: a.designation,
        organisation: a.organisation,
        address: a.address,
        email: a.email,
        mobile: a.mobile,
        office_phone: a.office_phone,
        reviewed: a.reviewed,
        note: a.note,
    });
    let v: PocView = run_once(cfg, a.common.server.as_deref(), op).await?;
    if a.common.json {
        return print_json(&v);
    }
    print_poc(&v);
    warn_poc(&v);
    Ok(ExitCode::SUCCESS)
}
