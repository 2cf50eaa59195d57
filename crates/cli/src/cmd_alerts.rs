//! `pramaan alerts`: the compliance alerts `serve` raises (a silent source,
//! the clock, storage, checkpoints, retention), firing first; `ack KEY`
//! stops a firing alert's repeats until it resolves and fires anew.

use crate::runner;
use anyhow::Result;
use clap::{Args, Subcommand};
use pramaan_app::alerting::{Ack, AlertView, List};
use pramaan_config::Config;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(subcommand)]
    command: Option<AlertsCommand>,
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else the directory itself).
    #[arg(long, value_name = "URL", global = true)]
    server: Option<String>,
    /// Print JSON (as GET /api/v1/alerts answers).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum AlertsCommand {
    /// List the alerts, firing first (the default).
    List,
    /// Acknowledge a firing alert: not sent again until it resolves.
    Ack {
        /// The alert's key, as listed (`source_silent/web1`, `clock_offset`...).
        key: String,
    },
}

pub async fn alerts(cfg: &Config, a: AlertsArgs) -> Result<ExitCode> {
    let rows: Vec<AlertView> = match a.command.unwrap_or(AlertsCommand::List) {
        AlertsCommand::List => runner::run_once(cfg, a.server.as_deref(), List {}).await?,
        AlertsCommand::Ack { key } => {
            vec![runner::run_once(cfg, a.server.as_deref(), Ack { key }).await?]
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no compliance alerts");
    }
    for v in &rows {
        let al = &v.alert;
        let state = match (&al.state[..], &al.acked_by) {
            ("firing", Some(by)) => format!("FIRING (acknowledged by {by})"),
            ("firing", None) => "FIRING".to_owned(),
            _ => format!("resolved {}", v.resolved_at.as_deref().unwrap_or_default()),
        };
        println!("{:<10} {}  since {}", state, al.key, v.since);
        println!("           {}", al.summary);
    }
    Ok(ExitCode::SUCCESS)
}
