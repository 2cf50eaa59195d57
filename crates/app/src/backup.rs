//! `pramaan backup` and `pramaan restore`: a copy of a data directory taken
//! while `serve` runs, that a restore checks file by file and then proves
//! with `verify` against the checkpoint it was taken at.
//!
//! A backup is a directory:
//!
//! ```text
//! DIR/pramaan-backup.json   the manifest: format, pramaan's version, the checkpoint,
//!                           every file's size and SHA-256 (written last: a directory
//!                           without it is a backup that did not finish)
//! DIR/data/...              the data directory's layout, objects in a local store
//! ```
//!
//! The databases are copied first (each one transaction-consistent, SQLite's
//! `VACUUM INTO`), then the attribution store, then the evidence
//! (`pramaan_vault::backup`: checkpoint, WAL, catalog, segments, tiles), so
//! every sequence number a database names is a record the copy holds.
//!
//! The signing key and the register's master key are secrets: they are
//! copied only when asked (`--keys-to`), never into the backup's own
//! directory, with their own manifest. The public verifier key is in the
//! backup, so `verify` checks a restored directory without them.

use crate::databases;
use pramaan_config::Config;
use pramaan_vault::backup::{copy_evidence, copy_file, write_file, BackupError as EvidenceError};
use pramaan_vault::ledger::verify::{verify, VerifyOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The backup layout this binary writes and reads.
pub const FORMAT: u32 = 1;
/// The manifest's name in a backup directory.
pub const MANIFEST: &str = "pramaan-backup.json";
/// The keys' manifest in a keys directory.
pub const KEYS_MANIFEST: &str = "pramaan-keys.json";
/// Where the ledger's signing key and the register's master key go in a
/// keys directory and in a restored data directory (the defaults).
const NODE_KEY: &str = "ledger/node.key";
const MASTER_KEY: &str = "registry/master.key";

/// What went wrong, said so that the operator knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The request itself cannot be done as asked (a non-empty target,
    /// keys beside the data, a newer backup, an altered file).
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    #[error("copying {what}: {why}")]
    Copy { what: String, why: String },
    #[error("verifying the restored data directory: {0}")]
    Verify(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The manifest of a backup.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The version of pramaan that made it.
    pub pramaan: String,
    pub made_at: String,
    #[serde(default)]
    pub made_at_ns: i64,
    /// The data directory it was taken from.
    pub data_dir: String,
    /// The checkpoint the evidence is consistent with.
    pub checkpoint_size: u64,
    pub checkpoint: String,
    /// What the backup does not hold, and why (PostgreSQL stores, keys).
    pub not_included: Vec<String>,
    /// Every file under `data/`, by its path there (`/`-separated).
    pub files: BTreeMap<String, FileSum>,
}

/// A file's size and SHA-256 (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub bytes: u64,
    pub sha256: String,
}

/// What a backup made.
#[derive(Clone, Debug)]
pub struct Made {
    pub manifest: Manifest,
    pub evidence: pramaan_vault::backup::Copied,
    pub bytes: u64,
    pub keys: Vec<String>,
}

/// Progress: the stage, then bytes done and the total known so far.
pub type Progress<'a> = &'a mut dyn FnMut(&'static str, u64, u64);

/// Copies the data directory of `cfg` into `to` (new or empty) while `serve`
/// may run; the keys into `keys_to` when given (see the module's
/// documentation).
pub fn backup(
    cfg: &Config,
    to: &Path,
    keys_to: Option<&Path>,
    progress: Progress<'_>,
) -> Result<Made, BackupError> {
    let vo = crate::options::vault_options(cfg);
    if let Some(k) = keys_to {
        apart(to, k)?;
        empty_target(k, "the keys directory")?;
    }
    empty_target(to, "the backup directory")?;
    let data = to.join("data");
    make_dir(&data)?;
    let mut not_included = Vec::new();

    // 1. The databases (not the catalog: the evidence copy takes it in order).
    let catalog = vo.catalog_path();
    for db in databases::all(cfg) {
        if db.path == catalog || !db.path.exists() {
            continue;
        }
        let name = under(&cfg.data_dir, &db.path);
        progress("databases", 0, 0);
        pramaan_db::snapshot(&db.path, &data.join(&name)).map_err(|e| BackupError::Copy {
            what: db.path.display().to_string(),
            why: e.to_string(),
        })?;
    }
    // 2. The attribution store (the embedded one; PostgreSQL's is its own).
    match pramaan_registry::RegistryOptions::from_config(cfg).backend {
        pramaan_registry::Backend::Sqlite(_) => {
            let src = pramaan_attribution::mem::MemStore::dir_for(&cfg.data_dir);
            if src.exists() {
                progress("attribution", 0, 0);
                pramaan_attribution::mem::MemStore::copy_consistent(&src, &data.join("attribution"))
                    .map_err(|e| BackupError::Copy {
                        what: src.display().to_string(),
                        why: e.to_string(),
                    })?;
            }
        }
        pramaan_registry::Backend::Postgres { .. } => not_included.push(
            "the subscriber register and IP bindings are in PostgreSQL (registry.url): back them up with pg_dump"
                .to_owned(),
        ),
    }
    // 3. What the server wrote beside them: the applied configuration's
    //    record and the public verifier key.
    let lo = vo
        .ledger
        .clone()
        .unwrap_or_else(|| pramaan_vault::ledger::LedgerOptions::new(&cfg.data_dir));
    for (src, name) in [
        (
            cfg.data_dir.join("config.applied"),
            "config.applied".to_owned(),
        ),
        (lo.vkey_file(), "ledger/node.vkey".to_owned()),
    ] {
        if let Some(bytes) = read_if_exists(&src)? {
            write_file(&data.join(name), &bytes)?;
        }
    }
    // 4. The evidence.
    let evidence = copy_evidence(&vo, &data, &mut |done, total| {
        progress("evidence", done, total)
    })?;
    // 5. The keys, elsewhere, only when asked.
    let mut keys = Vec::new();
    let secrets = secret_files(cfg, &lo.key_file);
    match keys_to {
        Some(k) => {
            let mut sums = BTreeMap::new();
            for (src, name) in &secrets {
                if let Some(bytes) = read_if_exists(src)? {
                    write_file(&k.join(name), &bytes)?;
                    sums.insert((*name).to_owned(), sum_of(&bytes));
                    keys.push(src.display().to_string());
                }
            }
            let km = serde_json::json!({
                "format": FORMAT,
                "pramaan": env!("CARGO_PKG_VERSION"),
                "checkpoint_size": evidence.checkpoint_size,
                "files": sums,
            });
            write_file(
                &k.join(KEYS_MANIFEST),
                serde_json::to_string_pretty(&km).expect("JSON").as_bytes(),
            )?;
            sync_tree(k)?;
        }
        None => not_included.push(format!(
            "the signing key ({}) and the register's master key: `--keys-to DIR` copies them (elsewhere than the backup)",
            lo.key_file.display()
        )),
    }
    // 6. The manifest, last.
    let files = sum_tree(&data, &mut |done, total| progress("checksums", done, total))?;
    let bytes = files.values().map(|f| f.bytes).sum();
    let now_ns = pramaan_core::time::now_ns();
    let manifest = Manifest {
        format: FORMAT,
        pramaan: env!("CARGO_PKG_VERSION").to_owned(),
        made_at: pramaan_core::time::rfc3339_utc(now_ns),
        made_at_ns: now_ns,
        data_dir: cfg.data_dir.display().to_string(),
        checkpoint_size: evidence.checkpoint_size,
        checkpoint: evidence.checkpoint_note.clone(),
        not_included,
        files,
    };
    sync_tree(&data)?;
    write_file(
        &to.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)
            .expect("JSON")
            .as_bytes(),
    )?;
    sync_dir(to)?;
    Ok(Made {
        manifest,
        evidence,
        bytes,
        keys,
    })
}

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub files: usize,
    pub bytes: u64,
    pub keys: Vec<String>,
    pub report: pramaan_vault::ledger::verify::Report,
}

/// Rebuilds the data directory of `cfg` (new or empty) from the backup in
/// `from`, every file checked against the manifest before any is written,
/// then verifies it.
pub fn restore(
    cfg: &Config,
    from: &Path,
    keys_from: Option<&Path>,
    progress: Progress<'_>,
) -> Result<Restored, BackupError> {
    let vo = crate::options::vault_options(cfg);
    if vo.s3.is_some() || vo.catalog_postgres.is_some() {
        return Err(BackupError::Refused(
            "restore writes a data directory with its own object store and catalog: run it with \
             storage.url and catalog.url unset (copy the objects to a bucket afterwards if you use one)"
                .into(),
        ));
    }
    let manifest = read_manifest(from)?;
    empty_target(&cfg.data_dir, "the data directory to restore into")?;
    // Every file, checked before anything is written.
    let data = from.join("data");
    let found = sum_tree(&data, &mut |done, total| progress("checking", done, total))?;
    let mut wrong = Vec::new();
    for (name, want) in &manifest.files {
        match found.get(name) {
            None => wrong.push(format!("{name} is missing")),
            Some(got) if got != want => wrong.push(format!(
                "{name} was altered ({} bytes, SHA-256 {}; the manifest says {} bytes, {})",
                got.bytes, got.sha256, want.bytes, want.sha256
            )),
            Some(_) => {}
        }
    }
    for name in found.keys().filter(|n| !manifest.files.contains_key(*n)) {
        wrong.push(format!("{name} is not in the manifest"));
    }
    if !wrong.is_empty() {
        return Err(BackupError::Refused(format!(
            "the backup in {} does not match its manifest, so nothing was restored: {}",
            from.display(),
            wrong.join("; ")
        )));
    }
    let keys = match keys_from {
        Some(k) => read_keys(k, &manifest)?,
        None => Vec::new(),
    };
    // Copy, then the keys.
    make_dir(&cfg.data_dir)?;
    let total: u64 = manifest.files.values().map(|f| f.bytes).sum();
    let mut done = 0;
    for (name, f) in &manifest.files {
        let src = data.join(name);
        copy_file(&src, &cfg.data_dir.join(name))?;
        done += f.bytes;
        progress("restoring", done, total);
    }
    let mut restored_keys = Vec::new();
    for (name, bytes) in keys {
        let dest = cfg.data_dir.join(name);
        write_file(&dest, &bytes)?;
        restored_keys.push(dest.display().to_string());
    }
    sync_tree(&cfg.data_dir)?;
    // Proof: the restored directory verifies, at the backup's checkpoint or beyond.
    let report = verify(&vo, &VerifyOptions::default(), &mut |done, total| {
        progress("verifying", done, total)
    })
    .map_err(|e| BackupError::Verify(e.to_string()))?;
    if !report.ok() {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        return Err(BackupError::Verify(problems.join("; ")));
    }
    if report.latest_checkpoint != Some(manifest.checkpoint_size) {
        return Err(BackupError::Verify(format!(
            "the latest checkpoint is of size {:?}, the backup was taken at {}",
            report.latest_checkpoint, manifest.checkpoint_size
        )));
    }
    Ok(Restored {
        files: manifest.files.len(),
        bytes: total,
        manifest,
        keys: restored_keys,
        report,
    })
}

/// Reads a backup's manifest, refusing one this binary cannot read.
pub fn read_manifest(from: &Path) -> Result<Manifest, BackupError> {
    let path = from.join(MANIFEST);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::Refused(format!(
                "{} has no {MANIFEST}: it is not a pramaan backup, or one that did not finish",
                from.display()
            )))
        }
        Err(e) => return Err(io(&path)(e)),
    };
    // The format first, so that a newer backup is refused for what it is.
    let head: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        BackupError::Refused(format!("{} is not a backup manifest: {e}", path.display()))
    })?;
    let format = head["format"].as_u64().unwrap_or(0);
    if format > u64::from(FORMAT) {
        return Err(BackupError::Refused(format!(
            "the backup was made by pramaan {} (backup format {format}); this is pramaan {} \
             (backup format {FORMAT}): restore it with pramaan {} or later",
            head["pramaan"].as_str().unwrap_or("?"),
            env!("CARGO_PKG_VERSION"),
            head["pramaan"].as_str().unwrap_or("?"),
        )));
    }
    serde_json::from_value(head).map_err(|e| {
        BackupError::Refused(format!("{} is not a backup manifest: {e}", path.display()))
    })
}

/// The keys of `keys_from`, checked against their manifest and against the
/// backup's public key: (path in the data directory, bytes).
fn read_keys(keys_from: &Path, m: &Manifest) -> Result<Vec<(String, Vec<u8>)>, BackupError> {
    let path = keys_from.join(KEYS_MANIFEST);
    let text = std::fs::read(&path).map_err(io(&path))?;
    let km: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Refused(format!("{}: {e}", path.display())))?;
    let sums: BTreeMap<String, FileSum> = serde_json::from_value(km["files"].clone())
        .map_err(|e| BackupError::Refused(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (name, want) in sums {
        if name != NODE_KEY && name != MASTER_KEY {
            return Err(BackupError::Refused(format!(
                "{} names {name}, which is not a key pramaan keeps",
                path.display()
            )));
        }
        let p = keys_from.join(&name);
        let bytes = std::fs::read(&p).map_err(io(&p))?;
        if sum_of(&bytes) != want {
            return Err(BackupError::Refused(format!(
                "{} was altered (its SHA-256 is not the one in {KEYS_MANIFEST}); no key was restored",
                p.display()
            )));
        }
        out.push((name, bytes));
    }
    // The signing key must be the one whose public half the backup holds.
    if let Some((_, key)) = out.iter().find(|(n, _)| n == NODE_KEY) {
        let text = String::from_utf8_lossy(key).trim().to_owned();
        let signer = pramaan_ledger::SignerKey::parse(&text).map_err(|e| {
            BackupError::Refused(format!("{}: {e}", keys_from.join(NODE_KEY).display()))
        })?;
        let public = format!("{}\n", signer.verifier().to_vkey());
        let want = sum_of(public.as_bytes());
        if m.files.get("ledger/node.vkey").map(|f| &f.sha256) != Some(&want.sha256) {
            return Err(BackupError::Refused(format!(
                "the signing key in {} is not this backup's node's (its public key differs from the \
                 backup's ledger/node.vkey); no key was restored",
                keys_from.display()
            )));
        }
    }
    Ok(out)
}

/// The secret files a configuration uses: (where, name in a keys directory).
fn secret_files(cfg: &Config, node_key: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut v = vec![(node_key.to_owned(), NODE_KEY)];
    if let pramaan_registry::KeySource::File(p) =
        pramaan_registry::RegistryOptions::from_config(cfg).master_key
    {
        v.push((p, MASTER_KEY));
    }
    v
}

/// `path` relative to the data directory, or its file name when it lives
/// elsewhere (a restore puts it in the data directory).
fn under(data_dir: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(data_dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| PathBuf::from(path.file_name().unwrap_or_default()))
}

/// Refuses keys and data in one place: neither directory may hold the other.
fn apart(to: &Path, keys: &Path) -> Result<(), BackupError> {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .map(|a| a.components().collect::<PathBuf>())
            .unwrap_or_else(|_| p.to_owned())
    };
    let (a, b) = (abs(to), abs(keys));
    if a.starts_with(&b) || b.starts_with(&a) {
        return Err(BackupError::Refused(format!(
            "the keys directory {} and the backup {} are one place: keep the signing and master keys \
             apart from the data they protect (another disk, another custodian)",
            keys.display(),
            to.display()
        )));
    }
    Ok(())
}

/// A directory that is missing or empty; anything else is refused.
fn empty_target(dir: &Path, what: &str) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(BackupError::Refused(format!(
                    "{what} {} is not empty: nothing is ever written over (choose a new directory)",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(BackupError::Refused(
            format!("{what} {} is a file, not a directory", dir.display()),
        )),
        Err(e) => Err(io(dir)(e)),
    }
}

/// A directory (and its parents) readable by its owner only.
pub(crate) fn make_dir(dir: &Path) -> Result<(), BackupError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io(dir))
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, BackupError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn sum_of(bytes: &[u8]) -> FileSum {
    FileSum {
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// Every file under `root` (by its `/`-separated path there) with its sum.
fn sum_tree(
    root: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BTreeMap<String, FileSum>, BackupError> {
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    let total = files.iter().map(|(_, _, n)| n).sum();
    let mut out = BTreeMap::new();
    let mut done = 0;
    let mut buf = vec![0u8; 1 << 20];
    for (name, path, _) in files {
        let mut f = std::fs::File::open(&path).map_err(io(&path))?;
        let mut h = Sha256::new();
        let mut bytes = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io(&path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            bytes += n as u64;
            done += n as u64;
            progress(done, total);
        }
        out.insert(
            name,
            FileSum {
                bytes,
                sha256: hex::encode(h.finalize()),
            },
        );
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, u64)>) -> Result<(), BackupError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir == root => return Ok(()),
        Err(e) => return Err(io(dir)(e)),
    };
    for e in rd {
        let e = e.map_err(io(dir))?;
        let path = e.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let rel = path.strip_prefix(root).expect("under the root");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path, meta.len()));
        } else {
            return Err(BackupError::Refused(format!(
                "{} is neither a file nor a directory",
                path.display()
            )));
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Syncs every directory under `root` (the files were synced as written).
fn sync_tree(root: &Path) -> Result<(), BackupError> {
    sync_dir(root)?;
    for e in std::fs::read_dir(root).map_err(io(root))? {
        let e = e.map_err(io(root))?;
        if e.file_type().map_err(io(&e.path()))?.is_dir() {
            sync_tree(&e.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_data_in_one_place_are_refused_either_way() {
        assert!(apart(Path::new("/b/x"), Path::new("/b/x/keys")).is_err());
        assert!(apart(Path::new("/b/x/data"), Path::new("/b/x")).is_err());
        assert!(apart(Path::new("/b/x"), Path::new("/b/x/../x")).is_err());
        assert!(apart(Path::new("/b/x"), Path::new("/k/x")).is_ok());
        assert!(apart(Path::new("/b/x"), Path::new("/b/xy")).is_ok());
    }

    #[test]
    fn a_newer_backup_is_refused_naming_both_versions() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(MANIFEST),
            r#"{"format": 99, "pramaan": "9.9.9", "shape": "unknown"}"#,
        )
        .unwrap();
        let e = read_manifest(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("pramaan 9.9.9") && e.contains("format 99"),
            "{e}"
        );
        assert!(
            e.contains(env!("CARGO_PKG_VERSION")) && e.contains("format 1"),
            "{e}"
        );
        let e = read_manifest(&d.path().join("nothing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a pramaan backup"), "{e}");
    }

    #[test]
    fn a_non_empty_target_is_refused() {
        let d = tempfile::tempdir().unwrap();
        assert!(empty_target(d.path(), "x").is_ok());
        assert!(empty_target(&d.path().join("new"), "x").is_ok());
        std::fs::write(d.path().join("f"), b"1").unwrap();
        let e = empty_target(d.path(), "the backup directory")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not empty"), "{e}");
        assert!(empty_target(&d.path().join("f"), "x").is_err());
    }
}
