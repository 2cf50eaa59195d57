//! `pramaan backup` and `pramaan restore` (the work is `pramaan_app::backup`).

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pramaan_app::backup::{backup, restore};
use pramaan_app::backup_s3::{backup_to_s3, default_staging, restore_from_s3};
use pramaan_config::Config;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The directory to write the backup into (new, or empty), or
    /// `s3://BUCKET/PREFIX` (a prefix holding nothing yet; the bucket is
    /// reached with the storage.endpoint, storage.region, storage.path_style,
    /// storage.allow_http and credentials settings).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    to: String,
    /// For an s3:// target: where the backup is made before it is put in
    /// the bucket (a new directory, removed afterwards; default: one under
    /// the system's temporary directory). It needs room for the whole backup.
    #[arg(long, value_name = "DIR")]
    staging: Option<PathBuf>,
    /// Also copy the ledger's signing key and the register's master key,
    /// into this directory (new or empty, and not inside the backup).
    #[arg(long, value_name = "DIR")]
    keys_to: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup directory (the one holding pramaan-backup.json), or the
    /// `s3://BUCKET/PREFIX` a backup was put under.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    from: String,
    /// For an s3:// source: where its objects are taken before the restore
    /// (a new directory, removed afterwards; default: one under the
    /// system's temporary directory).
    #[arg(long, value_name = "DIR")]
    staging: Option<PathBuf>,
    /// The keys directory `backup --keys-to` wrote; without it the data
    /// verifies, but `serve` needs the signing key put back first.
    #[arg(long, value_name = "DIR")]
    keys_from: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    b
}

/// The progress callback that drives `bar`.
fn shown(bar: &ProgressBar) -> impl FnMut(&'static str, u64, u64) + '_ {
    move |stage, done, total| {
        bar.set_prefix(stage);
        bar.set_length(total);
        bar.set_position(done);
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub fn backup_cmd(cfg: &Config, a: BackupArgs) -> Result<ExitCode> {
    let bar = bar(a.quiet);
    let made = match pramaan_app::backup_s3::parse(&a.to) {
        Some(place) => {
            let staging = a.staging.unwrap_or_else(|| default_staging("backup"));
            backup_to_s3(
                cfg,
                &place?,
                a.keys_to.as_deref(),
                &staging,
                &mut shown(&bar),
            )?
        }
        None => backup(
            cfg,
            Path::new(&a.to),
            a.keys_to.as_deref(),
            &mut shown(&bar),
        )?,
    };
    bar.finish_and_clear();
    let e = &made.evidence;
    println!("backup of {} in {}", cfg.data_dir.display(), a.to);
    println!(
        "checkpoint  size {} (the evidence in the backup is consistent with it)",
        e.checkpoint_size
    );
    println!(
        "segments    {} ({:.1} MB), WAL files {} ({:.1} MB), tiles {}{}",
        e.segments,
        mb(e.segment_bytes),
        e.wal_files,
        mb(e.wal_bytes),
        e.tiles,
        if e.tiles_cut > 0 {
            format!(" ({} cut from wider ones)", e.tiles_cut)
        } else {
            String::new()
        }
    );
    println!(
        "total       {} files, {:.1} MB; manifest {}/{}",
        made.manifest.files.len(),
        mb(made.bytes),
        a.to.trim_end_matches('/'),
        pramaan_app::backup::MANIFEST
    );
    if let Some(k) = &a.keys_to {
        println!(
            "keys        {} copied to {}",
            made.keys.join(", "),
            k.display()
        );
    }
    for n in &made.manifest.not_included {
        println!("not included: {n}");
    }
    println!(
        "restore with: pramaan --data-dir NEW_DIR restore --from {}",
        a.to
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore_cmd(cfg: &Config, a: RestoreArgs) -> Result<ExitCode> {
    let bar = bar(a.quiet);
    let r = match pramaan_app::backup_s3::parse(&a.from) {
        Some(place) => {
            let staging = a.staging.unwrap_or_else(|| default_staging("restore"));
            restore_from_s3(
                cfg,
                &place?,
                a.keys_from.as_deref(),
                &staging,
                &mut shown(&bar),
            )?
        }
        None => restore(
            cfg,
            Path::new(&a.from),
            a.keys_from.as_deref(),
            &mut shown(&bar),
        )?,
    };
    bar.finish_and_clear();
    println!(
        "restored    {} into {}: {} files, {:.1} MB, each as the manifest says",
        a.from,
        cfg.data_dir.display(),
        r.files,
        mb(r.bytes)
    );
    println!(
        "backup      made {} by pramaan {} from {}",
        r.manifest.made_at, r.manifest.pramaan, r.manifest.data_dir
    );
    println!(
        "verify      OK: {} records in the tree, {} segments, latest checkpoint of size {} (the backup's)",
        r.report.tree_size, r.report.segments, r.manifest.checkpoint_size
    );
    if r.keys.is_empty() {
        println!(
            "keys        none restored: put the signing key back at ledger.key_file before `pramaan serve` \
             (restore --keys-from DIR does it), or serve would refuse the checkpoints"
        );
    } else {
        println!("keys        {}", r.keys.join(", "));
    }
    for n in &r.manifest.not_included {
        println!("not in the backup: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
