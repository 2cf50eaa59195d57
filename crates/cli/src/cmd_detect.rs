//! `pramaan detect`: Sigma rules. `check` loads every rule of
//! `detect.rules_dir` (or `--rules-dir`) and says which it refuses and why;
//! `test` runs one rule over the lines stored in a window (through a
//! running server, or on the data directory), audited as a search is;
//! `list` shows what `serve`'s rules detected.

use crate::runner;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pramaan_app::detect::{load_dir, DetectionView, Detections, Test, TestReport};
use pramaan_config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct DetectArgs {
    #[command(subcommand)]
    command: DetectCommand,
}

#[derive(Subcommand, Debug)]
enum DetectCommand {
    /// Load every rule (`*.yml`, `*.yaml`, recursively) and list each: its
    /// level, incident kind, logsource and the fields it reads; or why it is
    /// refused (file, line, the feature). Exits 1 when any is refused.
    Check(CheckArgs),
    /// What one rule would have matched among the stored lines of a window:
    /// how many lines were read, how many matched, first and last, examples.
    Test(TestArgs),
    /// What the rules `serve` runs have detected, newest first: the rule,
    /// the group (aggregation rules), how many lines matched, their
    /// sequence numbers and the incident it opened or added to.
    List(ListArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Most detections shown.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else the directory itself).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print JSON (the same as GET /api/v1/detect/detections).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The rules' directory (default: detect.rules_dir).
    #[arg(long, value_name = "DIR")]
    rules_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct TestArgs {
    /// The rule file.
    rule: PathBuf,
    /// Start of the window: `7d`, `24h`, `2026-12-01`, RFC 3339 (default: the beginning).
    #[arg(long)]
    from: Option<String>,
    /// End of the window (default: now).
    #[arg(long)]
    to: Option<String>,
    /// Matches to show.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// Most lines read.
    #[arg(long, default_value_t = pramaan_app::detect::DEFAULT_MAX_LINES)]
    max_lines: usize,
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else the directory itself).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Print JSON (the same as POST /api/v1/detect/test) instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn detect(cfg: &Config, a: DetectArgs) -> Result<ExitCode> {
    match a.command {
        DetectCommand::Check(a) => check(cfg, a),
        DetectCommand::Test(a) => test(cfg, a).await,
        DetectCommand::List(a) => list(cfg, a).await,
    }
}

async fn list(cfg: &Config, a: ListArgs) -> Result<ExitCode> {
    let op = Detections {
        limit: Some(a.limit),
    };
    let rows: Vec<DetectionView> = runner::run_once(cfg, a.server.as_deref(), op).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no detections (rules run in `serve` when detect.rules_dir is set)");
    }
    for r in &rows {
        let d = &r.detection;
        let group = if d.group.is_empty() {
            String::new()
        } else {
            format!(" {}", d.group)
        };
        let incident = d
            .incident_id
            .map(|i| format!("incident #{i}"))
            .unwrap_or_else(|| "recorded only".into());
        println!(
            "#{} {} [{}]{group}: {} line(s), seq {}..{}, first {}, {incident}",
            d.id, d.rule_title, d.level, d.matches, d.seq_min, d.seq_max, r.first_received
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check(cfg: &Config, a: CheckArgs) -> Result<ExitCode> {
    let Some(dir) = a.rules_dir.or_else(|| cfg.detect.rules_dir.clone()) else {
        bail!("no rules to check: set detect.rules_dir or pass --rules-dir DIR");
    };
    let rules = load_dir(&dir).map_err(anyhow::Error::msg)?;
    if rules.is_empty() {
        bail!("{}: no rule files (*.yml, *.yaml)", dir.display());
    }
    let mut refused = 0;
    for (file, r) in &rules {
        match r {
            Ok(rule) => {
                let src = &rule.logsource;
                let logsource: Vec<String> = [
                    ("product", &src.product),
                    ("service", &src.service),
                    ("category", &src.category),
                ]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect();
                println!(
                    "ok       {}  [{}{}] {}",
                    file.display(),
                    rule.level,
                    rule.kind()
                        .map(|k| format!(", kind {k}"))
                        .unwrap_or_default(),
                    rule.title
                );
                if !logsource.is_empty() {
                    let apps = if rule.apps.is_empty() {
                        "every line".to_owned()
                    } else {
                        format!("lines of app {}", rule.apps.join(", "))
                    };
                    println!("         logsource {} → {apps}", logsource.join(" "));
                }
                if !rule.fields.is_empty() {
                    println!("         reads fields {}", rule.fields.join(", "));
                }
                if let (Some((a, _)), Some(tf)) = (&rule.aggregation, &rule.timeframe) {
                    println!(
                        "         fires when {} {} within {tf}{}",
                        a.distinct
                            .as_deref()
                            .map(|f| format!("distinct {f} values"))
                            .unwrap_or_else(|| "matching lines".into()),
                        format_args!("{} {}", if a.inclusive { ">=" } else { ">" }, a.bound),
                        a.by.as_deref()
                            .map(|b| format!(", per {b}"))
                            .unwrap_or_default()
                    );
                }
                let serve = match rule.kind() {
                    _ if rule.level.as_str() == "informational" => {
                        "records its detections (level informational: no incident)".to_owned()
                    }
                    None => "records its detections (no pramaan.kind tag: no incident)".to_owned(),
                    Some(k) => match pramaan_desk::store::check_kinds(&[k.to_owned()]) {
                        Ok(_) => format!("opens or adds to incidents of kind {k}"),
                        Err(e) => {
                            refused += 1;
                            format!("REFUSED: its pramaan.kind tag: {e}")
                        }
                    },
                };
                println!("         in serve: {serve}");
            }
            Err(e) => {
                refused += 1;
                println!("REFUSED  {e}");
            }
        }
    }
    println!(
        "{} rules: {} loaded, {refused} refused",
        rules.len(),
        rules.len() - refused
    );
    Ok(if refused > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn test(cfg: &Config, a: TestArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.rule)
        .with_context(|| format!("reading the rule {}", a.rule.display()))?;
    let op = Test {
        rule: text,
        name: a.rule.display().to_string(),
        from: a.from,
        to: a.to,
        examples: Some(a.examples),
        max_lines: Some(a.max_lines),
    };
    let r: TestReport = runner::run_once(cfg, a.server.as_deref(), op).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{} [{}{}]",
            r.title,
            r.level,
            r.kind
                .as_deref()
                .map(|k| format!(", kind {k}"))
                .unwrap_or_default()
        );
        println!(
            "{} of {} lines matched{}",
            r.matched,
            r.lines_read,
            if r.truncated {
                " (stopped at --max-lines)"
            } else {
                ""
            }
        );
        if let Some(n) = r.firings {
            println!(
                "would have fired {n} time(s){}",
                if r.fired_groups.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.fired_groups.join(", "))
                }
            );
        }
        if let (Some(f), Some(l)) = (&r.first_match, &r.last_match) {
            println!("first {f}, last {l}");
        }
        for h in &r.examples {
            println!(
                "  #{} {} {}",
                h.seq,
                h.received_at,
                h.raw.as_deref().unwrap_or("(binary)")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
