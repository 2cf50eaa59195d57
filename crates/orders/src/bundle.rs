//! The evidence bundle: what leaves the building for an order.
//!
//! A ZIP (deterministic: fixed timestamps, entries in name order) holding:
//!
//! | entry | what |
//! |---|---|
//! | `README.txt` | for the recipient: what is here and how to check it |
//! | `order.json` | the order as registered: reference, authority, scope, approvals |
//! | `records.ndjson` | one log record per line: the canonical fields (raw bytes in base64) and the parsed fields |
//! | `records.csv` | the same records for a spreadsheet (raw line as text), a view: cells that start like a formula get a `'` (`pramaan_core::csv`) |
//! | `subscribers.ndjson` | the subscriber records the order names |
//! | `bindings.ndjson` | their IP bindings overlapping the window |
//! | `proof-hashes.csv` | the subtree hashes the inclusion proofs need that the records do not give (`docs/bundle.md`) |
//! | `checkpoint.txt` | the signed checkpoint (C2SP signed note) the proofs lead to |
//! | `node.vkey` | the node's public key (Go `vkey` format) |
//! | `manifest.json` | size and SHA-256 of every entry above |
//! | `section63-certificate.txt` | the pre-filled certificate, quoting the manifest's SHA-256 |
//!
//! The data entries depend only on the records, so the same order exported
//! twice gives byte-identical data files; the proof entries and checkpoint
//! change only when a later checkpoint is used.

use crate::proofs::Range;
use crate::zip::{ZipError, ZipWriter};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pramaan_core::Record;
use pramaan_ledger::Hash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const CERTIFICATE: &str = "section63-certificate.txt";
pub const RECORDS: &str = "records.ndjson";
pub const RECORDS_CSV: &str = "records.csv";
pub const SUBSCRIBERS: &str = "subscribers.ndjson";
pub const BINDINGS: &str = "bindings.ndjson";
pub const PROOF_HASHES: &str = "proof-hashes.csv";
pub const CHECKPOINT: &str = "checkpoint.txt";
pub const VKEY: &str = "node.vkey";
pub const ORDER: &str = "order.json";
pub const README: &str = "README.txt";

/// One line of `records.ndjson`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRecord {
    pub seq: u64,
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    pub received_at_ns: i64,
    /// The same instant, RFC 3339 UTC.
    pub received_at: String,
    /// `udp`, `tcp`, `tls`, `http`, `file` or `internal`.
    pub transport: String,
    pub transport_code: u8,
    pub peer: String,
    /// The raw bytes exactly as received.
    pub raw_b64: String,
    /// Fields parsed from the line (for reading; not covered by the proof).
    #[serde(default)]
    pub fields: serde_json::Value,
}

impl BundleRecord {
    pub fn new(r: &Record, fields: serde_json::Value) -> Self {
        BundleRecord {
            seq: r.seq,
            received_at_ns: r.received_at_ns,
            received_at: pramaan_core::time::rfc3339_utc(r.received_at_ns),
            transport: r.transport.as_str().to_owned(),
            transport_code: r.transport as u8,
            peer: r.peer.clone(),
            raw_b64: B64.encode(&r.raw),
            fields,
        }
    }

    /// The record whose leaf the ledger hashed, or what is inconsistent.
    pub fn to_record(&self) -> Result<Record, String> {
        let transport = pramaan_core::Transport::from_code(self.transport_code)
            .ok_or_else(|| format!("unknown transport code {}", self.transport_code))?;
        if transport.as_str() != self.transport {
            return Err(format!(
                "transport {:?} does not match its code {}",
                self.transport, self.transport_code
            ));
        }
        if pramaan_core::time::rfc3339_utc(self.received_at_ns) != self.received_at {
            return Err(format!(
                "received_at {:?} is not received_at_ns {}",
                self.received_at, self.received_at_ns
            ));
        }
        let raw = B64
            .decode(&self.raw_b64)
            .map_err(|e| format!("raw_b64: {e}"))?;
        Ok(Record {
            seq: self.seq,
            received_at_ns: self.received_at_ns,
            transport,
            peer: self.peer.clone(),
            raw,
        })
    }
}

/// One entry of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub order: String,
    pub hash_algorithm: String,
    pub records: u64,
    pub checkpoint_origin: String,
    pub checkpoint_size: u64,
    pub files: Vec<ManifestFile>,
}

/// Who made the bundle and from what, for the certificate.
#[derive(Clone, Debug, Default)]
pub struct SystemInfo {
    /// E.g. "pramaan 0.1.0".
    pub software: String,
    /// The organisation / node (the checkpoint origin).
    pub origin: String,
    pub exported_by: String,
    pub exported_at_ns: i64,
}

/// What the bundle needs besides the records.
pub struct Parts {
    pub reference: String,
    /// `order.json` (already the JSON text).
    pub order_json: String,
    pub subscribers: Vec<serde_json::Value>,
    pub bindings: Vec<serde_json::Value>,
    pub proof_hashes: Vec<(Range, Hash)>,
    pub checkpoint_note: String,
    pub checkpoint_origin: String,
    pub checkpoint_size: u64,
    pub vkey: String,
    pub system: SystemInfo,
}

/// Writes the records as they come to temporary files, then the ZIP.
pub struct BundleWriter {
    dir: tempfile::TempDir,
    ndjson: BufWriter<File>,
    csv: BufWriter<File>,
    seqs: Vec<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("writing the bundle: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Zip(#[from] ZipError),
    #[error("records must come in ascending sequence order: {0} after {1}")]
    Order(u64, u64),
}

const CSV_HEADER: &str = "seq,received_at,transport,peer,host,app,severity,ips,ports,users,raw\n";

fn joined(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl BundleWriter {
    pub fn new() -> Result<Self, BundleError> {
        let dir = tempfile::tempdir()?;
        let ndjson = BufWriter::with_capacity(1 << 20, File::create(dir.path().join(RECORDS))?);
        let mut csv =
            BufWriter::with_capacity(1 << 20, File::create(dir.path().join(RECORDS_CSV))?);
        csv.write_all(CSV_HEADER.as_bytes())?;
        Ok(BundleWriter {
            dir,
            ndjson,
            csv,
            seqs: Vec::new(),
        })
    }

    /// Adds a record (in ascending sequence order) with its parsed fields.
    pub fn add(&mut self, r: &Record, fields: serde_json::Value) -> Result<(), BundleError> {
        if let Some(&last) = self.seqs.last() {
            if r.seq <= last {
                return Err(BundleError::Order(r.seq, last));
            }
        }
        let rec = BundleRecord::new(r, fields);
        serde_json::to_writer(&mut self.ndjson, &rec).map_err(std::io::Error::from)?;
        self.ndjson.write_all(b"\n")?;
        let f = &rec.fields;
        let row = [
            rec.seq.to_string(),
            rec.received_at.clone(),
            rec.transport.clone(),
            rec.peer.clone(),
            joined(f, "host"),
            joined(f, "app"),
            joined(f, "severity"),
            joined(f, "ips"),
            joined(f, "ports"),
            joined(f, "users"),
            String::from_utf8_lossy(&r.raw).into_owned(),
        ];
        // A view for spreadsheets: formulas neutralised (`pramaan_core::csv`);
        // the exact bytes are in records.ndjson.
        self.csv
            .write_all(pramaan_core::csv::row(&row).as_bytes())?;
        self.seqs.push(r.seq);
        Ok(())
    }

    /// The sequence numbers added so far, ascending.
    pub fn seqs(&self) -> &[u64] {
        &self.seqs
    }

    /// Writes the ZIP to `out` (through a temporary file renamed into place)
    /// and returns its manifest.
    pub fn finish(mut self, parts: Parts, out: &Path) -> Result<Manifest, BundleError> {
        self.ndjson.flush()?;
        self.csv.flush()?;
        drop(self.ndjson);
        drop(self.csv);
        let d = self.dir.path();
        let write = |name: &str, data: &[u8]| std::fs::write(d.join(name), data);
        write(ORDER, parts.order_json.as_bytes())?;
        write(SUBSCRIBERS, &ndjson(&parts.subscribers))?;
        write(BINDINGS, &ndjson(&parts.bindings))?;
        let mut ph = String::from("start,end,sha256\n");
        for ((a, b), h) in &parts.proof_hashes {
            ph.push_str(&format!("{a},{b},{}\n", hex::encode(h)));
        }
        write(PROOF_HASHES, ph.as_bytes())?;
        write(CHECKPOINT, parts.checkpoint_note.as_bytes())?;
        write(VKEY, format!("{}\n", parts.vkey.trim()).as_bytes())?;
        write(README, readme(&parts, self.seqs.len() as u64).as_bytes())?;

        let mut names = vec![
            BINDINGS,
            CHECKPOINT,
            VKEY,
            ORDER,
            PROOF_HASHES,
            README,
            RECORDS_CSV,
            RECORDS,
            SUBSCRIBERS,
        ];
        names.sort_unstable();
        let mut files = Vec::new();
        for n in &names {
            let (bytes, sha256) = hash_file(&d.join(n))?;
            files.push(ManifestFile {
                path: (*n).to_owned(),
                bytes,
                sha256,
            });
        }
        let manifest = Manifest {
            format: FORMAT,
            order: parts.reference.clone(),
            hash_algorithm: "SHA-256".into(),
            records: self.seqs.len() as u64,
            checkpoint_origin: parts.checkpoint_origin.clone(),
            checkpoint_size: parts.checkpoint_size,
            files,
        };
        let mut mj = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::from)?;
        mj.push(b'\n');
        write(MANIFEST, &mj)?;
        let cert = certificate(&parts, &manifest, &hex::encode(Sha256::digest(&mj)));
        write(CERTIFICATE, cert.as_bytes())?;

        let mut all: Vec<&str> = names.clone();
        all.push(MANIFEST);
        all.push(CERTIFICATE);
        all.sort_unstable();
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(parent)?;
        let mut z = ZipWriter::new(BufWriter::with_capacity(1 << 20, tmp.reopen()?));
        for n in all {
            let mut f = File::open(d.join(n))?;
            let len = f.metadata()?.len();
            z.add_sized(n, &mut f, len)?;
        }
        let w = z.finish()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        tmp.persist(out).map_err(|e| e.error)?;
        Ok(manifest)
    }
}

fn ndjson(v: &[serde_json::Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        out.extend_from_slice(x.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn hash_file(p: &Path) -> std::io::Result<(u64, String)> {
    let mut f = File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

fn readme(p: &Parts, records: u64) -> String {
    format!(
        "Evidence bundle for order {reference}\n\
         ======================================\n\n\
         Made by {software} at {origin}. It holds {records} log record(s), each\n\
         with the bytes exactly as received, and a proof that each record is in\n\
         the node's append-only Merkle log (RFC 6962/9162 hashing, SHA-256)\n\
         whose state {size} records long is signed in checkpoint.txt.\n\n\
         Files\n-----\n\
         order.json                 the order as registered (scope, approvals)\n\
         records.ndjson             one record per line: seq, received_at_ns,\n\
         \x20                          transport_code, peer, raw_b64 (the exact bytes),\n\
         \x20                          and fields parsed from the line (for reading)\n\
         records.csv                the same, for a spreadsheet (raw line as text);\n\
         \x20                          a view only: a cell starting with = + - @,\n\
         \x20                          tab or CR has a ' put in front so that no\n\
         \x20                          spreadsheet runs it as a formula; the exact\n\
         \x20                          bytes are records.ndjson's raw_b64\n\
         subscribers.ndjson         subscriber records named by the order\n\
         bindings.ndjson            their IP bindings in the window\n\
         proof-hashes.csv           subtree hashes the proofs need (start,end,sha256)\n\
         checkpoint.txt             the signed checkpoint (C2SP signed note, Ed25519)\n\
         node.vkey                  the node's public key\n\
         manifest.json              size and SHA-256 of every file above\n\
         section63-certificate.txt  certificate under section 63 of the Bharatiya\n\
         \x20                          Sakshya Adhiniyam, 2023 (to be signed)\n\n\
         How to check it\n---------------\n\
         With the pramaan binary, offline (no server, no data):\n\n\
         \x20   pramaan verify-bundle bundle.zip --key node.vkey\n\n\
         Obtain node.vkey from the provider through a separate channel (or\n\
         compare its fingerprint); without --key the copy inside the bundle is used.\n\n\
         By hand: (1) the SHA-256 of each file equals the manifest's; (2) for each\n\
         record, the canonical encoding (docs/record-encoding.md: seq, received_at_ns,\n\
         transport code, peer, raw) hashed as SHA-256(0x00 || encoding) is its leaf;\n\
         (3) its RFC 9162 inclusion proof in the tree of {size} leaves is made of the\n\
         subtrees PATH(seq, {size}) names: each is either in proof-hashes.csv or made\n\
         only of records in this bundle (hash them as RFC 6962 MTH); (4) the proof\n\
         leads to the root in checkpoint.txt; (5) checkpoint.txt's Ed25519 signature\n\
         verifies with node.vkey. docs/bundle.md describes each file.\n",
        reference = p.reference,
        software = p.system.software,
        origin = p.system.origin,
        size = p.checkpoint_size,
    )
}

fn certificate(p: &Parts, m: &Manifest, manifest_sha: &str) -> String {
    let mut files = String::new();
    for f in &m.files {
        files.push_str(&format!(
            "  {:<26} {:>12} bytes  SHA-256 {}\n",
            f.path, f.bytes, f.sha256
        ));
    }
    files.push_str(&format!(
        "  {:<26} {:>12}        SHA-256 {}\n",
        MANIFEST, "", manifest_sha
    ));
    format!(
        "CERTIFICATE UNDER SECTION 63 OF THE BHARATIYA SAKSHYA ADHINIYAM, 2023\n\
         (electronic record: evidence bundle for order {reference})\n\n\
         Part A (to be completed by the party)\n\n\
         1. The electronic records: {records} log record(s) in records.ndjson (with a\n\
         \x20  CSV view in records.csv for reading: a cell that a spreadsheet would\n\
         \x20  run as a formula starts with ' there; records.ndjson holds the exact\n\
         \x20  bytes), the subscriber records and IP bindings named by\n\
         \x20  order {reference}, and the proofs listed below, all in the file\n\
         \x20  bundle.zip produced by the system described in 2.\n\n\
         2. The system: {software}, node {origin}. The records were received over\n\
         \x20  the network by that system, stored as received, each numbered and added\n\
         \x20  to an append-only Merkle log (RFC 6962) whose state is signed\n\
         \x20  (checkpoint.txt: {size} records). The bundle was produced on\n\
         \x20  {at} by {by}.\n\n\
         3. Hash algorithm: SHA-256. Hash values:\n{files}\n\
         4. To the best of my knowledge and belief the computer was operating\n\
         \x20  properly during the period, and the records are reproduced from the\n\
         \x20  information fed into it in the ordinary course of activities.\n\n\
         Name:          ____________________________\n\
         Designation:   ____________________________\n\
         Signature:     ____________________________\n\
         Date / place:  ____________________________\n\n\
         Part B (to be completed by the expert)\n\n\
         Name:          ____________________________\n\
         Designation:   ____________________________\n\
         Signature:     ____________________________\n\
         Date / place:  ____________________________\n",
        reference = p.reference,
        records = m.records,
        software = p.system.software,
        origin = p.system.origin,
        size = p.checkpoint_size,
        at = pramaan_core::time::rfc3339_ist(p.system.exported_at_ns),
        by = p.system.exported_by,
    )
}
