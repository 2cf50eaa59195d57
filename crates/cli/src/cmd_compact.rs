//! `pramaan compact`: rewrite sealed segments smaller now, on a data directory
//! that no server holds (`serve` does the same in the background).

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pramaan_config::Config;
use pramaan_core::time::now_ns;
use pramaan_vault::compact::Compacted;
use pramaan_vault::Vault;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct CompactArgs {
    /// Also segments sealed less than `segments.compact_after` ago.
    #[arg(long)]
    all: bool,
    /// zstd level of the rewrite (default: `segments.compact_level`, 19).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=22))]
    level: Option<i32>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print JSON (every rewritten segment) instead of a summary.
    #[arg(long)]
    json: bool,
}

pub async fn compact(cfg: &Config, a: CompactArgs) -> Result<ExitCode> {
    if pramaan_vault::is_locked(&cfg.data_dir) {
        bail!(
            "a running `pramaan serve` holds the data directory {}; it compacts segments in the \
             background (segments.compact_level, segments.compact_after). Stop it to compact now.",
            cfg.data_dir.display()
        );
    }
    let mut opts = pramaan_server::vault_options(cfg);
    if let Some(l) = a.level {
        opts.compact.level = l;
    }
    if opts.compact.level == 0 {
        bail!("compaction is switched off (segments.compact_level = 0); give --level N to compact anyway");
    }
    if a.all {
        opts.compact.after = Duration::ZERO;
    }
    let copts = opts.compact.clone();
    // The opened vault's own background thread is not needed here.
    opts.compact.level = 0;
    let (vault, workers) = Vault::open(opts)
        .await
        .with_context(|| format!("opening the data directory {}", cfg.data_dir.display()))?;
    let quiet = a.quiet || a.json || !std::io::stderr().is_terminal();
    let handle = tokio::runtime::Handle::current();
    let v = vault.clone();
    let c = copts.clone();
    let done = tokio::task::spawn_blocking(move || {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(
            ProgressStyle::with_template("compacting {wide_bar} {pos}/{len} segments eta {eta}")
                .expect("valid template"),
        );
        let r = v.compact_due(&handle, &c, now_ns(), &|| false, &mut |done, total, _| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        });
        bar.finish_and_clear();
        r
    })
    .await?;
    vault.shutdown(workers).await;
    let done = done.context("compacting segments")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        print_summary(&done, copts.level);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(done: &[Compacted], level: i32) {
    if done.is_empty() {
        println!("No segment to compact (every segment is at zstd level {level} or newer than segments.compact_after; --all includes new ones).");
        return;
    }
    let old: u64 = done.iter().map(|c| c.old_bytes).sum();
    let new: u64 = done.iter().map(|c| c.new_bytes).sum();
    println!(
        "Compacted {} segment(s) at zstd level {level}: {} -> {} bytes ({:.1}% smaller). Records and proofs are unchanged.",
        done.len(),
        old,
        new,
        100.0 * (old as f64 - new as f64) / old.max(1) as f64
    );
    let kept = done.iter().filter(|c| !c.old_deleted).count();
    if kept > 0 {
        println!(
            "{kept} replaced object(s) could not be deleted yet; the next start removes them."
        );
    }
}
