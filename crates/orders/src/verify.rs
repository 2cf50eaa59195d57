//! Checking a bundle offline: `pramaan verify-bundle`.
//!
//! Depends only on the pure crates (`pramaan-core` for the record encoding,
//! `pramaan-ledger` for proofs and signed notes) and this crate's ZIP reader
//! and proof rebuilding: no vault, no server, no data directory.
//!
//! In order (one function each): the ZIP's structure; the manifest
//! (`read_manifest`: its format; `check_listing`: every entry listed,
//! nothing unlisted; `check_file_hashes`: sizes and SHA-256 equal); the
//! checkpoint's signature (`check_checkpoint`, with the key given, or the
//! bundle's own); then every record, rebuilt from its canonical fields
//! (`read_records`) and proved included in the checkpoint's tree
//! (`prove_records`). The first failure is returned, naming the file, the
//! record or the proof.

use crate::bundle::{self, BundleRecord, Manifest};
use crate::proofs::{Range, Resolver};
use crate::zip::{ZipError, ZipReader};
use pramaan_ledger::verify::verify_inclusion;
use pramaan_ledger::{Checkpoint, Hash, VerifierKey, Verifiers};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Seek};

/// Limits on the small entries read whole (the records are streamed).
const MAX_SMALL: u64 = 64 << 20;
const MAX_RECORD_LINE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the bundle is not a readable ZIP: {0}")]
    Zip(#[from] ZipError),
    #[error("manifest.json: {0}")]
    Manifest(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("checkpoint.txt: {0}")]
    Checkpoint(String),
    #[error("key: {0}")]
    Key(String),
    #[error("records.ndjson line {line}: {reason}")]
    Record { line: u64, reason: String },
    #[error("proof of record {seq} (records.ndjson line {line}): {reason}")]
    Proof { seq: u64, line: u64, reason: String },
    #[error("proof-hashes.csv line {line}: {reason}")]
    ProofHashes { line: usize, reason: String },
}

/// What a bundle that checks out holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub order: String,
    pub records: u64,
    pub seq_range: Option<(u64, u64)>,
    pub files: usize,
    pub checkpoint_origin: String,
    pub checkpoint_size: u64,
    pub root_hex: String,
    /// `name+id` of the key that verified the checkpoint.
    pub key: String,
    /// True when the key came from `--key`, false when from the bundle itself.
    pub key_given: bool,
    pub proof_hashes: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "bundle for order {}: OK", self.order)?;
        writeln!(
            f,
            "  files:      {} listed in the manifest, SHA-256 match",
            self.files
        )?;
        match self.seq_range {
            Some((a, b)) => writeln!(
                f,
                "  records:    {} (seq {a}..={b}), each proved included",
                self.records
            )?,
            None => writeln!(f, "  records:    0")?,
        }
        writeln!(
            f,
            "  checkpoint: {} size {} root {}",
            self.checkpoint_origin, self.checkpoint_size, self.root_hex
        )?;
        writeln!(
            f,
            "  signed by:  {} ({})",
            self.key,
            if self.key_given {
                "the key you gave"
            } else {
                "the key inside the bundle: pass --key with a copy obtained separately to rule out a substituted key"
            }
        )
    }
}

fn file_err(path: &str, reason: impl std::fmt::Display) -> VerifyError {
    VerifyError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Checks the bundle read from `src`; `key` is the text of a `vkey` the
/// recipient trusts (else the bundle's `node.vkey` is used).
pub fn verify_bundle<R: Read + Seek>(src: R, key: Option<&str>) -> Result<Summary, VerifyError> {
    let mut z = ZipReader::new(src)?;
    let manifest = read_manifest(&mut z)?;
    check_listing(&z, &manifest)?;
    check_file_hashes(&mut z, &manifest)?;
    let signed = check_checkpoint(&mut z, key, &manifest)?;
    let cp = &signed.checkpoint;
    let ph = String::from_utf8(z.read_all(bundle::PROOF_HASHES, MAX_SMALL)?)
        .map_err(|_| file_err(bundle::PROOF_HASHES, "is not UTF-8"))?;
    let stored = parse_proof_hashes(&ph, cp.size)?;
    let proof_hashes = stored.len();
    let records = read_records(&mut z, cp.size)?;
    if records.leaves.len() as u64 != manifest.records {
        return Err(VerifyError::Manifest(format!(
            "says {} records, records.ndjson has {}",
            manifest.records,
            records.leaves.len()
        )));
    }
    prove_records(&records, stored, cp)?;

    let leaves = &records.leaves;
    Ok(Summary {
        order: manifest.order.clone(),
        records: leaves.len() as u64,
        seq_range: leaves.first().zip(leaves.last()).map(|(a, b)| (a.0, b.0)),
        files: manifest.files.len(),
        checkpoint_origin: cp.origin.clone(),
        checkpoint_size: cp.size,
        root_hex: hex::encode(cp.root),
        key: format!("{}+{:08x}", signed.key.name(), signed.key.key_id()),
        key_given: signed.key_given,
        proof_hashes,
    })
}

/// Step 1: the manifest, in a format and with a hash this version reads.
fn read_manifest<R: Read + Seek>(z: &mut ZipReader<R>) -> Result<Manifest, VerifyError> {
    let mj = z
        .read_all(bundle::MANIFEST, MAX_SMALL)
        .map_err(|e| VerifyError::Manifest(e.to_string()))?;
    let manifest: Manifest =
        serde_json::from_slice(&mj).map_err(|e| VerifyError::Manifest(e.to_string()))?;
    if manifest.format != bundle::FORMAT {
        return Err(VerifyError::Manifest(format!(
            "format {} is not one this version reads ({})",
            manifest.format,
            bundle::FORMAT
        )));
    }
    if manifest.hash_algorithm != "SHA-256" {
        return Err(VerifyError::Manifest(format!(
            "hash algorithm {:?} is not SHA-256",
            manifest.hash_algorithm
        )));
    }
    Ok(manifest)
}

/// Step 2: every entry but the manifest and the certificate is listed, and
/// every file a bundle must have is.
fn check_listing<R: Read + Seek>(z: &ZipReader<R>, manifest: &Manifest) -> Result<(), VerifyError> {
    for e in z.entries() {
        let n = &e.name;
        if n != bundle::MANIFEST
            && n != bundle::CERTIFICATE
            && !manifest.files.iter().any(|f| &f.path == n)
        {
            return Err(file_err(n, "is in the bundle but not in the manifest"));
        }
    }
    for required in [
        bundle::RECORDS,
        bundle::PROOF_HASHES,
        bundle::CHECKPOINT,
        bundle::VKEY,
        bundle::ORDER,
    ] {
        if !manifest.files.iter().any(|f| f.path == required) {
            return Err(VerifyError::Manifest(format!("does not list {required}")));
        }
    }
    Ok(())
}

/// Step 3: every listed file is in the bundle with the size and SHA-256 the
/// manifest gives.
fn check_file_hashes<R: Read + Seek>(
    z: &mut ZipReader<R>,
    manifest: &Manifest,
) -> Result<(), VerifyError> {
    for f in &manifest.files {
        if z.entry(&f.path).is_none() {
            return Err(file_err(
                &f.path,
                "is in the manifest but not in the bundle",
            ));
        }
        let mut r = z.open(&f.path).map_err(|e| file_err(&f.path, e))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf).map_err(|e| file_err(&f.path, e))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        let got = hex::encode(h.finalize());
        if n != f.bytes || !got.eq_ignore_ascii_case(&f.sha256) {
            return Err(file_err(
                &f.path,
                format!(
                    "SHA-256 {got} ({n} bytes) differs from the manifest's {} ({} bytes): the file was changed",
                    f.sha256, f.bytes
                ),
            ));
        }
    }
    Ok(())
}

/// The checkpoint, verified, and the key that verified it.
struct SignedCheckpoint {
    checkpoint: Checkpoint,
    key: VerifierKey,
    /// The key came from the caller (`--key`), not from the bundle.
    key_given: bool,
}

/// Step 4: the checkpoint's signature (with the key given, else the
/// bundle's own), and the manifest naming that checkpoint.
fn check_checkpoint<R: Read + Seek>(
    z: &mut ZipReader<R>,
    key: Option<&str>,
    manifest: &Manifest,
) -> Result<SignedCheckpoint, VerifyError> {
    let bundle_key = String::from_utf8(z.read_all(bundle::VKEY, 4096)?)
        .map_err(|_| file_err(bundle::VKEY, "is not UTF-8"))?;
    let (key_text, key_given) = match key {
        Some(k) => (k.trim().to_owned(), true),
        None => (bundle_key.trim().to_owned(), false),
    };
    let vkey = VerifierKey::parse(&key_text).map_err(|e| {
        if key_given {
            VerifyError::Key(e.to_string())
        } else {
            file_err(bundle::VKEY, e)
        }
    })?;
    let note = z.read_all(bundle::CHECKPOINT, 1 << 16)?;
    let text =
        pramaan_ledger::Note::parse(&note).map_err(|e| VerifyError::Checkpoint(e.to_string()))?;
    let origin = Checkpoint::parse(text.text())
        .map_err(|e| VerifyError::Checkpoint(e.to_string()))?
        .origin;
    let signed =
        Checkpoint::open(&note, &origin, &Verifiers::new([vkey.clone()])).map_err(|e| {
            VerifyError::Checkpoint(format!(
                "does not verify with key {}+{:08x}: {e}",
                vkey.name(),
                vkey.key_id()
            ))
        })?;
    let cp = signed.checkpoint;
    if cp.size != manifest.checkpoint_size || cp.origin != manifest.checkpoint_origin {
        return Err(VerifyError::Manifest(format!(
            "says checkpoint {} size {}, checkpoint.txt is {} size {}",
            manifest.checkpoint_origin, manifest.checkpoint_size, cp.origin, cp.size
        )));
    }
    Ok(SignedCheckpoint {
        checkpoint: cp,
        key: vkey,
        key_given,
    })
}

/// The records' leaves, in the bundle's order.
struct RecordLeaves {
    /// (sequence number, leaf hash), strictly increasing.
    leaves: Vec<(u64, Hash)>,
    /// The `records.ndjson` line of each, for messages.
    lines: Vec<u64>,
}

/// Step 5: every record rebuilt from its canonical fields and hashed, in
/// increasing order and inside the checkpoint's tree.
fn read_records<R: Read + Seek>(
    z: &mut ZipReader<R>,
    tree_size: u64,
) -> Result<RecordLeaves, VerifyError> {
    let mut out = RecordLeaves {
        leaves: Vec::new(),
        lines: Vec::new(),
    };
    let mut r = BufReader::with_capacity(1 << 20, z.open(bundle::RECORDS)?);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let k = (&mut r)
            .take(MAX_RECORD_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| file_err(bundle::RECORDS, e))?;
        if k == 0 {
            break;
        }
        line += 1;
        let bad = |reason: String| VerifyError::Record { line, reason };
        if buf.len() > MAX_RECORD_LINE {
            return Err(bad(format!("longer than {MAX_RECORD_LINE} bytes")));
        }
        let rec: BundleRecord = serde_json::from_slice(&buf).map_err(|e| bad(e.to_string()))?;
        let record = rec.to_record().map_err(bad)?;
        if let Some(&(prev, _)) = out.leaves.last() {
            if record.seq <= prev {
                return Err(bad(format!("seq {} does not follow {prev}", record.seq)));
            }
        }
        if record.seq >= tree_size {
            return Err(bad(format!(
                "seq {} is beyond the checkpoint's {tree_size} records",
                record.seq
            )));
        }
        out.leaves.push((record.seq, record.as_ref().leaf_hash()));
        out.lines.push(line);
    }
    Ok(out)
}

/// Step 6: every record proved included in the checkpoint's tree, with the
/// hashes the records give and the `stored` ones they do not.
fn prove_records(
    records: &RecordLeaves,
    stored: Vec<(Range, Hash)>,
    cp: &Checkpoint,
) -> Result<(), VerifyError> {
    let mut res = Resolver::new(&records.leaves, stored);
    for ((seq, leaf), line) in records.leaves.iter().zip(&records.lines) {
        let proof_err = |reason: String| VerifyError::Proof {
            seq: *seq,
            line: *line,
            reason,
        };
        let proof = res
            .proof(*seq, cp.size)
            .map_err(|e| proof_err(e.to_string()))?;
        verify_inclusion(leaf, *seq, cp.size, &proof, &cp.root).map_err(|e| {
            proof_err(format!(
                "{e} (checkpoint size {}): the record or a proof hash was changed",
                cp.size
            ))
        })?;
    }
    Ok(())
}

fn parse_proof_hashes(text: &str, size: u64) -> Result<Vec<(Range, Hash)>, VerifyError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if line == 1 {
            if l != "start,end,sha256" {
                return Err(VerifyError::ProofHashes {
                    line,
                    reason: "the header must be start,end,sha256".into(),
                });
            }
            continue;
        }
        let bad = |reason: &str| VerifyError::ProofHashes {
            line,
            reason: reason.to_owned(),
        };
        let mut it = l.split(',');
        let (a, b, h) = match (it.next(), it.next(), it.next(), it.next()) {
            (Some(a), Some(b), Some(h), None) => (a, b, h),
            _ => return Err(bad("expected start,end,sha256")),
        };
        let a: u64 = a.parse().map_err(|_| bad("start is not a number"))?;
        let b: u64 = b.parse().map_err(|_| bad("end is not a number"))?;
        if a >= b || b > size {
            return Err(bad(&format!("[{a}, {b}) is not a range of the tree")));
        }
        let h: Hash = hex::decode(h)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("sha256 is not 64 hex digits"))?;
        out.push(((a, b), h));
    }
    Ok(out)
}
