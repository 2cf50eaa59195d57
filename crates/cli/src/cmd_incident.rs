//! `pramaan incident ...` and `pramaan poc ...`: through a running server's
//! HTTP API when one holds the data directory, else directly on the desk's
//! database (opening the vault too when a change must reach the ledger or a
//! search must choose log lines).

use crate::client::{self, Target};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pramaan_config::Config;
use pramaan_core::time::now_ns;
use pramaan_desk::{Desk, IncidentView, PocEdit, PocView, System};
use pramaan_server::api::desk::{self as api, EditBody, NewBody};
use pramaan_vault::Vault;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
struct Common {
    /// Base URL of a running server (default: the server holding the data directory, else work on it directly).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Who acts (recorded with the change; default: $USER).
    #[arg(long, value_name = "WHO")]
    by: Option<String>,
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

fn user(by: &Option<String>) -> String {
    by.clone()
        .filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn systems(list: &[String]) -> Result<Vec<System>> {
    list.iter()
        .map(|s| System::parse(s).map_err(|e| anyhow::anyhow!("--system: {e}")))
        .collect()
}

fn api_err(e: pramaan_server::api::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The desk opened directly, and the vault when changes must reach the ledger.
struct Direct {
    desk: Desk,
    settings: pramaan_desk::Settings,
    vault: Option<(Vault, pramaan_vault::Workers)>,
}

impl Direct {
    /// Read-only use: no vault (nothing is appended).
    fn read(cfg: &Config) -> Result<Direct> {
        let settings = api::settings(cfg)?;
        let desk = Desk::open(
            &api::desk_path(cfg),
            Arc::new(pramaan_core::MemorySink::new()),
        )?;
        Ok(Direct {
            desk,
            settings,
            vault: None,
        })
    }

    /// Changes: the vault is opened so that each change is appended to the ledger.
    async fn write(cfg: &Config) -> Result<Direct> {
        let settings = api::settings(cfg)?;
        let (vault, workers) = Vault::open(pramaan_server::vault_options(cfg))
            .await
            .with_context(|| format!("opening the data directory {}", cfg.data_dir.display()))?;
        let desk = Desk::open(
            &api::desk_path(cfg),
            Arc::new(pramaan_vault::sink::VaultSink::new(vault.clone())),
        )?;
        desk.flush().await;
        Ok(Direct {
            desk,
            settings,
            vault: Some((vault, workers)),
        })
    }

    async fn close(self) -> Result<()> {
        let Direct { desk, vault, .. } = self;
        let pending = desk.flush().await;
        drop(desk);
        if let Some((mut v, workers)) = vault {
            v.close();
            drop(v);
            tokio::task::spawn_blocking(move || workers.join()).await?;
        }
        if pending > 0 {
            eprintln!("warning: {pending} desk record(s) are not yet in the ledger; they are appended at the next change");
        }
        Ok(())
    }
}

async fn get_json(url: &str) -> Result<serde_json::Value> {
    let resp = client::http()
        .get(url)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    Ok(client::check(resp).await?.json().await?)
}

async fn send_json(
    method: reqwest::Method,
    url: &str,
    // The server records the authenticated caller; `by` names the actor
    // only on the data directory.
    _by: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    let resp = client::http()
        .request(method, url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    Ok(client::check(resp).await?.json().await?)
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
    let by = user(&a.common.by);
    let body = NewBody {
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
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            send_json(
                reqwest::Method::POST,
                &format!("{url}/api/v1/incidents"),
                &by,
                &serde_json::to_value(&body)?,
            )
            .await?
        }
        Target::Direct => {
            let d = Direct::write(cfg).await?;
            let now = now_ns();
            let r = match body.into_new(now).map_err(api_err) {
                Ok(n) => d
                    .desk
                    .create(n, &format!("{by} (local)"), now)
                    .await
                    .map(|i| i.view(now)),
                Err(e) => {
                    d.close().await?;
                    return Err(e);
                }
            };
            d.close().await?;
            serde_json::to_value(r?)?
        }
    };
    print_changed(v, a.common.json, "Recorded")
}

/// Prints an incident a command created or changed: JSON, or "VERB incident #N." and the incident.
fn print_changed(v: serde_json::Value, json: bool, verb: &str) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let view: IncidentView = serde_json::from_value(v).context("the server's answer")?;
        println!("{verb} incident #{}.", view.incident.id);
        print_incident(&view);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(cfg: &Config, a: ListArgs) -> Result<ExitCode> {
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => get_json(&format!("{url}/api/v1/incidents")).await?,
        Target::Direct => {
            let d = Direct::read(cfg)?;
            let now = now_ns();
            let views: Vec<IncidentView> = d.desk.list()?.iter().map(|i| i.view(now)).collect();
            serde_json::to_value(views)?
        }
    };
    let mut views: Vec<IncidentView> = serde_json::from_value(v).context("the server's answer")?;
    if a.open {
        views.retain(|v| v.incident.state != pramaan_desk::State::Closed);
    }
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(ExitCode::SUCCESS);
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
        pramaan_core::time::human(i.created_at_ns),
        i.created_by
    );
    if let Some(at) = i.closed_at_ns {
        println!(
            "  closed:     {} by {}: {}",
            pramaan_core::time::human(at),
            i.closed_by.as_deref().unwrap_or("?"),
            i.close_reason.as_deref().unwrap_or("")
        );
    }
}

async fn show(cfg: &Config, a: ShowArgs) -> Result<ExitCode> {
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => get_json(&format!("{url}/api/v1/incidents/{}", a.id)).await?,
        Target::Direct => {
            let d = Direct::read(cfg)?;
            api::detail_json(&d.desk, &d.settings, a.id, now_ns())?
        }
    };
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let view: IncidentView =
        serde_json::from_value(v["incident"].clone()).context("the server's answer")?;
    print_incident(&view);
    if let Some(ex) = v["excerpts"].as_array().filter(|e| !e.is_empty()) {
        println!("  logs attached:");
        for e in ex {
            println!(
                "    {}: {} line(s), seq {}-{}, by `{}`",
                e["name"].as_str().unwrap_or(""),
                e["records"],
                e["seq_min"],
                e["seq_max"],
                e["query"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(rs) = v["reports"].as_array().filter(|r| !r.is_empty()) {
        println!("  reports:");
        for r in rs {
            let at = r["attempted_at_ns"].as_i64().unwrap_or(0);
            match r["error"].as_str() {
                None => println!(
                    "    #{} sent {} to {} (cc {}), Message-ID {}, server: {}",
                    r["number"],
                    pramaan_core::time::human(at),
                    r["to"].as_str().unwrap_or(""),
                    r["cc"].as_str().unwrap_or(""),
                    r["message_id"].as_str().unwrap_or(""),
                    r["smtp_reply"].as_str().unwrap_or("")
                ),
                Some(e) => println!(
                    "    #{} NOT SENT {}: {e}",
                    r["number"],
                    pramaan_core::time::human(at)
                ),
            }
        }
    }
    if let Some(h) = v["history"].as_array() {
        println!("  history:");
        for e in h {
            println!(
                "    {} {} by {}{}",
                pramaan_core::time::human(e["at_ns"].as_i64().unwrap_or(0)),
                e["action"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or(""),
                e["ledger_seq"]
                    .as_u64()
                    .map(|s| format!(" (ledger seq {s})"))
                    .unwrap_or_else(|| " (not yet in the ledger)".into())
            );
        }
    }
    if let Some(w) = v["poc_warning"].as_str() {
        eprintln!("WARNING: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn edit(cfg: &Config, a: EditArgs) -> Result<ExitCode> {
    let f = a.fields;
    let by = user(&a.common.by);
    let sys = systems(&f.systems)?;
    let (systems, add_systems) = if a.replace_systems {
        (Some(sys), Vec::new())
    } else {
        (None, sys)
    };
    let body = EditBody {
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
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            send_json(
                reqwest::Method::PATCH,
                &format!("{url}/api/v1/incidents/{}", a.id),
                &by,
                &serde_json::to_value(&body)?,
            )
            .await?
        }
        Target::Direct => {
            let d = Direct::write(cfg).await?;
            let now = now_ns();
            let r = match body.into_edit(now).map_err(api_err) {
                Ok(e) => d
                    .desk
                    .edit(a.id, e, &format!("{by} (local)"), now)
                    .await
                    .map(|i| i.view(now)),
                Err(e) => {
                    d.close().await?;
                    return Err(e);
                }
            };
            d.close().await?;
            serde_json::to_value(r?)?
        }
    };
    print_changed(v, a.common.json, "Changed")
}

async fn attach(cfg: &Config, a: AttachArgs) -> Result<ExitCode> {
    let by = user(&a.common.by);
    let params = a.filter.params(a.text.clone(), a.limit, None);
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            let search: serde_json::Map<String, serde_json::Value> = serde_json::to_value(&params)?
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            send_json(
                reqwest::Method::POST,
                &format!("{url}/api/v1/incidents/{}/excerpts", a.id),
                &by,
                &serde_json::json!({ "name": a.name, "search": search }),
            )
            .await?
        }
        Target::Direct => {
            let d = Direct::write(cfg).await?;
            let now = now_ns();
            let r = async {
                d.desk.get(a.id)?;
                let (vault, _) = d.vault.as_ref().context("the vault")?;
                let lines = api::search_lines(vault, &params, now)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let ex = d
                    .desk
                    .attach(
                        a.id,
                        &a.name,
                        &api::describe(&params),
                        lines,
                        &format!("{by} (local)"),
                        now,
                    )
                    .await?;
                anyhow::Ok(serde_json::to_value(ex)?)
            }
            .await;
            d.close().await?;
            r?
        }
    };
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "Attached {} log line(s) (sequence numbers {} to {}) to incident #{} as `{}`.",
            v["records"],
            v["seq_min"],
            v["seq_max"],
            a.id,
            v["name"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn report(cfg: &Config, a: ReportArgs) -> Result<ExitCode> {
    let (text, html, ndjson, manifest, names) =
        match client::target(cfg, a.common.server.as_deref()) {
            Target::Server(url) => {
                let j = get_json(&format!(
                    "{url}/api/v1/incidents/{}/report?format=json",
                    a.id
                ))
                .await?;
                let (nd, man) = if a.out.is_some() {
                    let get = |f: &'static str| {
                        let u = format!("{url}/api/v1/incidents/{}/export?file={f}", a.id);
                        async move {
                            let r = client::http()
                                .get(&u)
                                .send()
                                .await
                                .with_context(|| format!("asking {u}"))?;
                            anyhow::Ok(client::check(r).await?.bytes().await?.to_vec())
                        }
                    };
                    (get("ndjson").await?, get("manifest").await?)
                } else {
                    (Vec::new(), Vec::new())
                };
                let names = (
                    j["logs"]["ndjson_name"]
                        .as_str()
                        .unwrap_or("logs.ndjson")
                        .to_owned(),
                    j["logs"]["manifest_name"]
                        .as_str()
                        .unwrap_or("manifest.json")
                        .to_owned(),
                );
                (
                    j["text"].as_str().unwrap_or("").to_owned(),
                    j["html"].as_str().unwrap_or("").to_owned(),
                    nd,
                    man,
                    names,
                )
            }
            Target::Direct => {
                let d = Direct::read(cfg)?;
                let t = api::templates(&d.settings)?;
                let p = pramaan_desk::mail::prepare(&d.desk, &d.settings, &t, a.id, now_ns())?;
                (
                    p.rendered.text,
                    p.rendered.html,
                    p.export.ndjson,
                    p.export.manifest,
                    (p.export.ndjson_name, p.export.manifest_name),
                )
            }
        };
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = vec![
            (dir.join("report.txt"), text.as_bytes().to_vec()),
            (dir.join("report.html"), html.as_bytes().to_vec()),
        ];
        if !ndjson.is_empty() {
            written.push((dir.join(&names.0), ndjson));
            written.push((dir.join(&names.1), manifest));
        }
        for (p, b) in &written {
            std::fs::write(p, b).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
    }
    if a.preview || a.out.is_none() {
        print!("{}", if a.html { &html } else { &text });
    }
    Ok(ExitCode::SUCCESS)
}

async fn send(cfg: &Config, a: SendArgs) -> Result<ExitCode> {
    let by = user(&a.common.by);
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            send_json(
                reqwest::Method::POST,
                &format!("{url}/api/v1/incidents/{}/send", a.id),
                &by,
                &serde_json::json!({}),
            )
            .await?
        }
        Target::Direct => {
            let d = Direct::write(cfg).await?;
            let r = async {
                let t = api::templates(&d.settings)?;
                let (inc, attempt) = pramaan_desk::mail::send_report(
                    &d.desk,
                    &d.settings,
                    &t,
                    a.id,
                    &format!("{by} (local)"),
                    now_ns(),
                )
                .await?;
                anyhow::Ok(
                    serde_json::json!({ "incident": inc.view(now_ns()), "attempt": attempt }),
                )
            }
            .await;
            d.close().await?;
            r?
        }
    };
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    let at = &v["attempt"];
    match at["error"].as_str() {
        Some(e) => {
            eprintln!(
                "NOT SENT: report {} of incident #{} to {}: {e}",
                at["number"],
                a.id,
                at["to"].as_str().unwrap_or("")
            );
            eprintln!("The failure is recorded on the incident; run `pramaan incident send {}` again to retry.", a.id);
            Ok(ExitCode::from(1))
        }
        None => {
            if !a.common.json {
                println!(
                    "Sent report {} of incident #{} to {} (cc {}).",
                    at["number"],
                    a.id,
                    at["to"].as_str().unwrap_or(""),
                    at["cc"].as_str().unwrap_or("")
                );
                println!("  subject:    {}", at["subject"].as_str().unwrap_or(""));
                println!("  Message-ID: {}", at["message_id"].as_str().unwrap_or(""));
                println!("  server:     {}", at["smtp_reply"].as_str().unwrap_or(""));
                if let Some(c) = v["incident"]["clock_text"].as_str() {
                    println!("  clock:      {c}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn close(cfg: &Config, a: CloseArgs) -> Result<ExitCode> {
    let by = user(&a.common.by);
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            send_json(
                reqwest::Method::POST,
                &format!("{url}/api/v1/incidents/{}/close", a.id),
                &by,
                &serde_json::json!({ "reason": a.reason }),
            )
            .await?
        }
        Target::Direct => {
            let d = Direct::write(cfg).await?;
            let now = now_ns();
            let r = d
                .desk
                .close(a.id, &a.reason, &format!("{by} (local)"), now)
                .await
                .map(|i| i.view(now));
            d.close().await?;
            serde_json::to_value(r?)?
        }
    };
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let view: IncidentView = serde_json::from_value(v).context("the server's answer")?;
        println!("Closed incident #{}.", view.incident.id);
        if view.incident.first_reported_at_ns.is_none() {
            eprintln!("Note: it was never reported to CERT-In.");
        }
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

async fn poc_show(cfg: &Config, a: PocShowArgs) -> Result<ExitCode> {
    let (cur, hist) = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            let resp = client::http()
                .get(format!("{url}/api/v1/poc"))
                .send()
                .await
                .with_context(|| format!("asking {url}"))?;
            let cur = if resp.status() == reqwest::StatusCode::NOT_FOUND {
                None
            } else {
                Some(
                    client::check(resp)
                        .await?
                        .json::<serde_json::Value>()
                        .await?,
                )
            };
            let hist = if a.history {
                get_json(&format!("{url}/api/v1/poc/history")).await?
            } else {
                serde_json::Value::Null
            };
            (cur, hist)
        }
        Target::Direct => {
            let d = Direct::read(cfg)?;
            let cur = d
                .desk
                .poc()?
                .map(|p| serde_json::to_value(p.view(d.settings.poc_review_days, now_ns())))
                .transpose()?;
            let hist = if a.history {
                serde_json::to_value(d.desk.poc_history()?)?
            } else {
                serde_json::Value::Null
            };
            (cur, hist)
        }
    };
    if a.common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "current": cur, "history": hist }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(cur) = cur else {
        bail!("no point of contact is set: set one with `pramaan poc set --name ... --designation ... --organisation ... --address ... --email ... --mobile ... --office-phone ...`");
    };
    let v: PocView = serde_json::from_value(cur).context("the server's answer")?;
    print_poc(&v);
    if let Some(h) = hist.as_array() {
        println!("History:");
        for r in h {
            println!(
                "  v{} {} by {}: {} <{}>, {}, {}{}",
                r["version"],
                pramaan_core::time::human(r["set_at_ns"].as_i64().unwrap_or(0)),
                r["set_by"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
                r["email"].as_str().unwrap_or(""),
                r["designation"].as_str().unwrap_or(""),
                r["mobile"].as_str().unwrap_or(""),
                r["note"]
                    .as_str()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
    }
    warn_poc(&v);
    Ok(ExitCode::SUCCESS)
}

async fn poc_set(cfg: &Config, a: PocSetArgs) -> Result<ExitCode> {
    let by = user(&a.common.by);
    let e = PocEdit {
        name: a.name,
        designation: a.designation,
        organisation: a.organisation,
        address: a.address,
        email: a.email,
        mobile: a.mobile,
        office_phone: a.office_phone,
        reviewed: a.reviewed,
        note: a.note,
    };
    let v = match client::target(cfg, a.common.server.as_deref()) {
        Target::Server(url) => {
            send_json(
                reqwest::Method::PUT,
                &format!("{url}/api/v1/poc"),
                &by,
                &serde_json::to_value(&e)?,
            )
            .await?
        }
        Target::Direct => {
            let d = Direct::write(cfg).await?;
            let now = now_ns();
            let r = d.desk.set_poc(e, &format!("{by} (local)"), now).await;
            let days = d.settings.poc_review_days;
            d.close().await?;
            serde_json::to_value(r?.view(days, now))?
        }
    };
    if a.common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let v: PocView = serde_json::from_value(v).context("the server's answer")?;
    print_poc(&v);
    warn_poc(&v);
    Ok(ExitCode::SUCCESS)
}
