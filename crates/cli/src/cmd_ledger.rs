//! `pramaan checkpoint`, `pramaan proof`, `pramaan verify` and `pramaan ledger rebuild`.
//!
//! Proofs come from the running server when there is one, else from the
//! data directory; either way this command checks what it received with the
//! independent verifier (`pramaan_ledger::verify`) and the node's public key
//! before saying OK.

use crate::runner;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pramaan_app::ledger::{Consistency, Cosign, Inclusion, LatestCheckpoint};
use pramaan_config::Config;
use pramaan_ledger::note::Note;
use pramaan_ledger::verify::{verify_consistency, verify_inclusion};
use pramaan_ledger::{Checkpoint, SignerKey, VerifierKey, Verifiers};
use pramaan_vault::ledger::proofs::{decode_hashes, ConsistencyProof, InclusionProof};
use pramaan_vault::ledger::verify::{read_key_file, verify, VerifyOptions};
use pramaan_vault::ledger::{node_verifier, origin_for, vkey_path};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    #[command(subcommand)]
    cmd: Option<CheckpointCmd>,
    /// Base URL of a running server (default: the server holding the data directory).
    #[arg(long, value_name = "URL", global = true)]
    server: Option<String>,
}

#[derive(Subcommand, Debug)]
enum CheckpointCmd {
    /// Add a signature by another key (an auditor's, say) to the latest
    /// checkpoint. The note stays a valid C2SP signed note; the co-signed
    /// checkpoint is kept in the history and checked by `pramaan verify --key`.
    Cosign {
        /// The co-signer's private key file (`PRIVATE+KEY+<name>+<id>+<key>`, mode 0600).
        #[arg(long, value_name = "SKEY_FILE")]
        key: PathBuf,
    },
    /// Make a new Ed25519 key pair for co-signing (an auditor's): the private
    /// key in FILE (mode 0600) and its verifier key in FILE with `.vkey`.
    Keygen {
        /// The key's name, e.g. `auditor.example/cert-in` (no spaces or `+`).
        #[arg(long)]
        name: String,
        /// Where to write the private key; must not exist.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct ProofArgs {
    #[command(subcommand)]
    cmd: ProofCmd,
    /// The node's verifier key file (default: the `.vkey` beside `ledger.key_file`).
    #[arg(long, value_name = "FILE", global = true)]
    vkey: Option<PathBuf>,
    /// Print the proof as JSON (what the HTTP API sends) instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    /// Base URL of a running server (default: the server holding the data directory).
    #[arg(long, value_name = "URL", global = true)]
    server: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ProofCmd {
    /// That a record is in the tree a signed checkpoint commits to.
    Inclusion {
        /// The record's sequence number.
        #[arg(long)]
        seq: u64,
        /// Tree size of a kept checkpoint (default: the latest).
        #[arg(long)]
        size: Option<u64>,
    },
    /// That a later checkpoint's tree extends an earlier one's.
    Consistency {
        /// Size of the older tree.
        #[arg(long)]
        from: u64,
        /// Size of the newer tree (the latest checkpoint's, or a kept one's).
        #[arg(long)]
        to: u64,
        /// A checkpoint of size FROM saved earlier (needed when the node does not keep one of that size).
        #[arg(long, value_name = "FILE")]
        from_checkpoint: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Recompute leaves from this sequence number on; the tree before it is
    /// taken from the stored tiles.
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Also parse every record again and compare the derived columns.
    #[arg(long)]
    deep: bool,
    /// A co-signer's verifier key (or signer key) file; its signatures on
    /// checkpoints must verify. Repeat for several.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// The node's verifier key file (default: derived from `ledger.key_file`, or the `.vkey` beside it).
    #[arg(long, value_name = "FILE")]
    vkey: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn origin(cfg: &Config) -> String {
    origin_for(cfg.node.organisation(), &cfg.node.resolved_name())
}

/// The node's public key: `--vkey`, else from the key file or the `.vkey` beside it.
fn node_key(cfg: &Config, vkey: Option<&PathBuf>) -> Result<VerifierKey> {
    match vkey {
        Some(p) => read_key_file(p).map_err(anyhow::Error::msg),
        None => node_verifier(&cfg.ledger_key_file()).with_context(|| {
            format!(
                "the node's verifier key (give it with --vkey; it is written to {})",
                vkey_path(&cfg.ledger_key_file()).display()
            )
        }),
    }
}

/// Opens a signed checkpoint with the node's key: (size, root, signers).
fn open_checkpoint(note: &str, origin: &str, key: &VerifierKey) -> Result<(u64, [u8; 32])> {
    let cp = Checkpoint::open(note.as_bytes(), origin, &Verifiers::new([key.clone()]))
        .with_context(|| {
            format!(
                "the checkpoint does not verify with the node key {}",
                key.name()
            )
        })?;
    Ok((cp.checkpoint.size, cp.checkpoint.root))
}

fn b64(h: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// The latest signed checkpoint, from the server or the data directory.
async fn latest_note(cfg: &Config, server: Option<&str>) -> Result<String> {
    runner::run_once(cfg, server, LatestCheckpoint {}).await
}

pub async fn checkpoint(cfg: &Config, a: CheckpointArgs) -> Result<ExitCode> {
    let server = a.server.as_deref();
    match a.cmd {
        None => {
            let note = latest_note(cfg, server).await?;
            print!("{note}");
            if let Ok(key) = node_key(cfg, None) {
                match open_checkpoint(&note, &origin(cfg), &key) {
                    Ok((size, _)) => eprintln!(
                        "signed by the node key {} (tree of {size} records)",
                        key.to_vkey()
                    ),
                    Err(e) => {
                        eprintln!("FAILED: {e:#}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(CheckpointCmd::Keygen { name, out }) => {
            let key = SignerKey::generate(&name)?;
            key.write_new_file(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            let vpath = vkey_path(&out);
            std::fs::write(&vpath, format!("{}\n", key.verifier().to_vkey()))
                .with_context(|| format!("writing {}", vpath.display()))?;
            println!("{}", key.verifier().to_vkey());
            eprintln!(
                "private key {} (keep it secret), verifier key {}",
                out.display(),
                vpath.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(CheckpointCmd::Cosign { key }) => {
            let signer =
                SignerKey::read_file(&key).with_context(|| format!("reading {}", key.display()))?;
            let note = latest_note(cfg, server).await?;
            let mut n = Note::parse(note.as_bytes()).context("the latest checkpoint")?;
            Checkpoint::parse(n.text()).context("the latest checkpoint")?;
            n.sign(&signer)?;
            let cosign = Cosign {
                note: n.to_string(),
                vkey: signer.verifier().to_vkey(),
            };
            let merged = runner::run_once(cfg, server, cosign).await?;
            print!("{merged}");
            eprintln!("co-signed by {}", signer.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn fetch_inclusion(
    cfg: &Config,
    server: Option<&str>,
    seq: u64,
    size: Option<u64>,
) -> Result<InclusionProof> {
    runner::run_once(cfg, server, Inclusion { seq, size }).await
}

async fn fetch_consistency(
    cfg: &Config,
    server: Option<&str>,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof> {
    runner::run_once(cfg, server, Consistency { from, to }).await
}

/// Checks an inclusion proof as an outsider would; the summary lines on success.
pub fn check_inclusion(p: &InclusionProof, origin: &str, key: &VerifierKey) -> Result<Vec<String>> {
    let (size, root) = open_checkpoint(&p.checkpoint, origin, key)?;
    if size != p.tree_size {
        bail!(
            "the checkpoint is for {size} records, the proof for {}",
            p.tree_size
        );
    }
    if let Some(why) = &p.record.withheld {
        // Not allowed to read the record: the leaf hash is all there is to check.
        let leaf: [u8; 32] = hex::decode(&p.leaf_hash)
            .ok()
            .and_then(|v| v.try_into().ok())
            .with_context(|| format!("the leaf hash `{}` is not 32 bytes of hex", p.leaf_hash))?;
        let proof = decode_hashes(&p.proof).map_err(anyhow::Error::msg)?;
        verify_inclusion(&leaf, p.leaf_index, size, &proof, &root)
            .context("the inclusion proof does not verify")?;
        return Ok(vec![
            format!(
                "record     {} received {} over {} from {}",
                p.leaf_index, p.record.received_at, p.record.transport, p.record.peer
            ),
            format!("raw        (withheld: {why})"),
            format!("leaf hash  {}", p.leaf_hash),
            format!("tree       {size} records, root {}", b64(&root)),
            format!("proof      {} hashes", proof.len()),
            format!("OK: leaf {} (hash above) is in the tree of {size} records that the checkpoint signed by {} commits to; the record itself was not shown", p.leaf_index, key.name()),
        ]);
    }
    let rec = p
        .record
        .to_record()
        .map_err(anyhow::Error::msg)
        .context("the record's fields")?;
    if rec.seq != p.leaf_index {
        bail!(
            "the record is {}, the proof is for leaf {}",
            rec.seq,
            p.leaf_index
        );
    }
    let leaf = rec.as_ref().leaf_hash();
    if hex::encode(leaf) != p.leaf_hash {
        bail!(
            "the record hashes to {}, not to the leaf hash {} sent with it",
            hex::encode(leaf),
            p.leaf_hash
        );
    }
    let proof = decode_hashes(&p.proof).map_err(anyhow::Error::msg)?;
    verify_inclusion(&leaf, p.leaf_index, size, &proof, &root)
        .context("the inclusion proof does not verify")?;
    Ok(vec![
        format!(
            "record     {} received {} over {} from {}",
            rec.seq, p.record.received_at, p.record.transport, rec.peer
        ),
        format!("raw        {}", p.record.raw.as_deref().unwrap_or("(not UTF-8; see raw_b64 in --json)")),
        format!("leaf hash  {}", p.leaf_hash),
        format!("tree       {size} records, root {}", b64(&root)),
        format!("proof      {} hashes", proof.len()),
        format!("OK: record {} is in the tree of {size} records that the checkpoint signed by {} commits to", rec.seq, key.name()),
    ])
}

/// Checks a consistency proof as an outsider would, against the older
/// checkpoint `saved` (else the one sent with the proof).
pub fn check_consistency(
    p: &ConsistencyProof,
    saved: Option<&str>,
    origin: &str,
    key: &VerifierKey,
) -> Result<Vec<String>> {
    let older = saved.or(p.from_checkpoint.as_deref()).with_context(|| {
        format!(
            "the node keeps no checkpoint of size {}: give the one you saved with --from-checkpoint",
            p.from_size
        )
    })?;
    let (s1, r1) = open_checkpoint(older, origin, key).context("the older checkpoint")?;
    let (s2, r2) =
        open_checkpoint(&p.to_checkpoint, origin, key).context("the newer checkpoint")?;
    if (s1, s2) != (p.from_size, p.to_size) {
        bail!(
            "the checkpoints are of sizes {s1} and {s2}, the proof for {} and {}",
            p.from_size,
            p.to_size
        );
    }
    let proof = decode_hashes(&p.proof).map_err(anyhow::Error::msg)?;
    verify_consistency(s1, s2, &r1, &r2, &proof)
        .context("the consistency proof does not verify")?;
    Ok(vec![
        format!("older      {s1} records, root {}", b64(&r1)),
        format!("newer      {s2} records, root {}", b64(&r2)),
        format!("proof      {} hashes", proof.len()),
        format!("OK: the tree of {s2} records extends the tree of {s1} records (both checkpoints signed by {})", key.name()),
    ])
}

pub async fn proof(cfg: &Config, a: ProofArgs) -> Result<ExitCode> {
    let key = node_key(cfg, a.vkey.as_ref())?;
    let origin = origin(cfg);
    let server = a.server.as_deref();
    let (json, checked) = match a.cmd {
        ProofCmd::Inclusion { seq, size } => {
            let p = fetch_inclusion(cfg, server, seq, size).await?;
            (
                serde_json::to_string_pretty(&p)?,
                check_inclusion(&p, &origin, &key),
            )
        }
        ProofCmd::Consistency {
            from,
            to,
            from_checkpoint,
        } => {
            let saved = match &from_checkpoint {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                None => None,
            };
            let p = fetch_consistency(cfg, server, from, to).await?;
            (
                serde_json::to_string_pretty(&p)?,
                check_consistency(&p, saved.as_deref(), &origin, &key),
            )
        }
    };
    if a.json {
        println!("{json}");
    }
    match checked {
        Ok(lines) => {
            for l in lines {
                if a.json {
                    eprintln!("{l}");
                } else {
                    println!("{l}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `pramaan verify`: the whole vault, checked; exit 0 only when all of it verifies.
pub fn verify_cmd(cfg: &Config, a: VerifyArgs) -> Result<ExitCode> {
    let opts = pramaan_server::vault_options(cfg);
    let mut vo = VerifyOptions {
        from_seq: a.from,
        deep: a.deep,
        ..Default::default()
    };
    for k in &a.keys {
        vo.cosigners
            .push(read_key_file(k).map_err(anyhow::Error::msg)?);
    }
    if let Some(v) = &a.vkey {
        vo.node_key = Some(read_key_file(v).map_err(anyhow::Error::msg)?);
    }
    let hidden = a.quiet || !std::io::stderr().is_terminal();
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "verifying {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    let report = verify(&opts, &vo, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("verifying the data directory {}", cfg.data_dir.display()))?;
    bar.finish_and_clear();

    let r = &report;
    let mb = r.raw_bytes as f64 / 1e6;
    for p in &r.problems {
        println!("PROBLEM {p}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    println!(
        "records     {} in the tree ({} hashed, {:.1} MB of raw log bytes; {} unsealed, in the WAL)",
        r.tree_size, r.records_hashed, mb, r.unsealed
    );
    println!(
        "segments    {} ({:.1} MB), WAL files {}",
        r.segments,
        r.segment_bytes as f64 / 1e6,
        r.wal_files
    );
    if r.deleted_ranges > 0 || r.blocks_from_tiles > 0 {
        println!(
            "deleted     {} ranges ({} records) deleted on schedule; {} blocks of 256 taken from the stored tiles",
            r.deleted_ranges, r.deleted_records, r.blocks_from_tiles
        );
    }
    println!("tiles       {} checked", r.tiles_checked);
    println!(
        "checkpoints {} checked against the rebuilt tree, latest of size {}{}",
        r.checkpoints_checked,
        r.latest_checkpoint
            .map_or("(none)".into(), |s| s.to_string()),
        r.node_key
            .as_ref()
            .map(|k| format!(", node key {k}"))
            .unwrap_or_default()
    );
    for (name, n) in &r.cosigned {
        println!("co-signed   {n} checkpoint(s) by {name}");
    }
    for k in &vo.cosigners {
        if !r.cosigned.contains_key(k.name()) {
            println!("note: no kept checkpoint is co-signed by {}", k.name());
        }
    }
    let secs = r.elapsed.as_secs_f64();
    if r.ok() {
        println!("OK: everything verifies");
    } else {
        println!("FAILED: {} problem(s)", r.problems.len());
    }
    // For benchmarks: compare with `openssl dgst -sha256` over the same bytes.
    println!(
        "bench: verify {:.1} MB raw in {secs:.2} s = {:.1} MB/s ({} records, deep={})",
        mb,
        r.mb_per_s(),
        r.records_hashed,
        a.deep
    );
    Ok(if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Args, Debug)]
pub struct LedgerArgs {
    #[command(subcommand)]
    cmd: LedgerCmd,
}

#[derive(Subcommand, Debug)]
enum LedgerCmd {
    /// Sign a new tree over the stored records when their checkpoints are
    /// missing (the vault refuses to start otherwise). The rebuild is
    /// recorded in the ledger (a `pramaan:ledger` record: who, when, why,
    /// how many records) and shown in `pramaan status` for good. Run
    /// `pramaan verify` first: the new tree vouches for the records as they
    /// are now, not as they were. The server must be stopped.
    Rebuild {
        /// Why the checkpoints are missing and why rebuilding is right (kept for good).
        #[arg(long)]
        reason: String,
    },
}

/// The longest `--reason` kept.
const MAX_REASON_CHARS: usize = 2000;

/// `pramaan ledger ...`.
pub async fn ledger(cfg: &Config, a: LedgerArgs) -> Result<ExitCode> {
    match a.cmd {
        LedgerCmd::Rebuild { reason } => rebuild(cfg, reason).await,
    }
}

async fn rebuild(cfg: &Config, reason: String) -> Result<ExitCode> {
    let reason = reason.trim().to_owned();
    if !reason
        .chars()
        .any(|c| c.is_alphanumeric() || c.is_ascii_punctuation())
    {
        bail!("--reason must say why (it is kept in the ledger for good)");
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        bail!("--reason is longer than {MAX_REASON_CHARS} characters");
    }
    if reason.chars().any(char::is_control) {
        bail!("--reason must be one line of text");
    }
    let by = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown user".into());
    let mut opts = pramaan_server::vault_options(cfg);
    opts.ledger_rebuild = Some(pramaan_vault::ledger::RebuildRequest {
        by: by.clone(),
        reason,
    });
    let (vault, workers) = pramaan_vault::Vault::open(opts)
        .await
        .with_context(|| format!("opening the data directory {}", cfg.data_dir.display()))?;
    let last = vault
        .ledger()
        .and_then(|l| l.rebuilds().into_iter().last())
        .context("the ledger is switched off; there is nothing to rebuild")?;
    let size = vault.committed();
    vault.shutdown(workers).await;
    let Some(seq) = last.seq else {
        bail!(
            "the tree was rebuilt over {} records, but its record could not be appended to the ledger \
             (see the log above); it is appended at the next start",
            last.records
        );
    };
    println!(
        "rebuilt the ledger over {} records and signed a new checkpoint; recorded as record {seq} \
         (pramaan:ledger, by {by}); `pramaan status` lists every rebuild",
        last.records
    );
    println!("the vault now holds {size} records");
    Ok(ExitCode::SUCCESS)
}
