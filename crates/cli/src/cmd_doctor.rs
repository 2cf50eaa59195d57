//! `pramaan doctor` (the checks are `pramaan_app::doctor`).

use anyhow::Result;
use clap::Args;
use pramaan_app::doctor::{check, Backups, Level};
use pramaan_config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The directory holding your backups (each one a `backup --to`
    /// directory): the newest finished one must be recent.
    #[arg(long, value_name = "DIR")]
    backups: Option<PathBuf>,
    /// How old the newest backup may be, in hours.
    #[arg(long, value_name = "HOURS", default_value_t = 26)]
    backup_max_age_hours: u64,
    /// One JSON object per finding instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints every finding; exits 1 when one fails.
pub async fn doctor(cfg: &Config, a: DoctorArgs) -> Result<ExitCode> {
    let backups = a.backups.as_deref().map(|root| Backups {
        root,
        max_age: Duration::from_secs(a.backup_max_age_hours * 3600),
    });
    let findings = check(cfg, backups).await;
    for f in &findings {
        if a.json {
            println!("{}", serde_json::to_string(f)?);
            continue;
        }
        let tag = match f.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        println!("{tag} {:<12} {}", f.check, f.what);
        if !f.fix.is_empty() {
            println!("     {:<12} fix: {}", "", f.fix);
        }
    }
    let fails = findings.iter().filter(|f| f.level == Level::Fail).count();
    let warns = findings.iter().filter(|f| f.level == Level::Warn).count();
    if !a.json {
        println!(
            "{fails} to fix, {warns} to look at, {} fine",
            findings.len() - fails - warns
        );
    }
    Ok(if fails > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
