//! What the HTTP API and the CLI hand out: checkpoints, inclusion and
//! consistency proofs, tiles, and co-signatures added to checkpoints.
//!
//! Every answer is built from a snapshot of the vault and a tree size that a
//! published checkpoint covers, so its tiles are in the store; level 0 is
//! recomputed from the records. The JSON forms carry everything a client
//! needs to check them offline with the node's verifier key: the signed
//! checkpoint, the proof hashes, and for inclusion the record's canonical
//! fields (the leaf is `SHA-256(0x00 || canonical)`).

use super::history::{LedgerCatalog, StoredCheckpoint};
use super::leaves::RecordSource;
use super::{LedgerFault, LedgerState, Published, CHECKPOINT_OBJECT};
use crate::{Vault, VaultError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pramaan_core::{Record, Transport};
use pramaan_ledger::note::Note;
use pramaan_ledger::{Checkpoint, Hash, TileHashReader, TileId, TileStore, VerifierKey, Verifiers};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Why a request for a proof, tile or checkpoint cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum ProofRequestError {
    #[error("this vault runs without a ledger")]
    NoLedger,
    #[error("no checkpoint has been published yet")]
    NoCheckpoint,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Failed(#[from] VaultError),
}

impl From<LedgerFault> for ProofRequestError {
    fn from(e: LedgerFault) -> Self {
        ProofRequestError::Failed(VaultError::Ledger(e))
    }
}

impl From<crate::CatalogError> for ProofRequestError {
    fn from(e: crate::CatalogError) -> Self {
        ProofRequestError::Failed(VaultError::Catalog(e))
    }
}

fn tree_err(e: pramaan_ledger::LedgerError) -> ProofRequestError {
    match e {
        pramaan_ledger::LedgerError::OutOfRange { .. }
        | pramaan_ledger::LedgerError::InvalidArgument(_) => {
            ProofRequestError::BadRequest(e.to_string())
        }
        other => LedgerFault::from(other).into(),
    }
}

/// A record as its leaf was hashed: the canonical fields and encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofRecord {
    pub seq: u64,
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    pub received_at_ns: i64,
    /// The same instant, RFC 3339 in UTC.
    pub received_at: String,
    /// `udp`, `tcp`, `tls`, `http`, `file` or `internal`.
    pub transport: String,
    /// The transport's code in the canonical encoding.
    pub transport_code: u8,
    pub peer: String,
    /// The raw bytes when they are UTF-8 (for reading; `raw_b64` is exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The raw bytes, base64 (empty when withheld).
    #[serde(default)]
    pub raw_b64: String,
    /// The canonical encoding (docs/record-encoding.md), base64 (empty when withheld).
    #[serde(default)]
    pub canonical_b64: String,
    /// Why the record's bytes are not here (the caller may not read this
    /// kind of record): the proof still shows that the leaf is in the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
}

impl ProofRecord {
    pub fn new(r: &Record) -> ProofRecord {
        ProofRecord {
            seq: r.seq,
            received_at_ns: r.received_at_ns,
            received_at: pramaan_core::time::rfc3339_utc(r.received_at_ns),
            transport: r.transport.as_str().to_owned(),
            transport_code: r.transport as u8,
            peer: r.peer.clone(),
            raw: std::str::from_utf8(&r.raw).ok().map(str::to_owned),
            raw_b64: B64.encode(&r.raw),
            canonical_b64: B64.encode(r.as_ref().encode()),
            withheld: None,
        }
    }

    /// Removes the record's bytes (raw and canonical), saying why; the
    /// sequence number, time, transport and sender stay.
    pub fn withhold(&mut self, why: impl Into<String>) {
        self.raw = None;
        self.raw_b64 = String::new();
        self.canonical_b64 = String::new();
        self.withheld = Some(why.into());
    }

    /// The record from the fields, checked against the canonical encoding
    /// (so a client hashes exactly what the fields say).
    pub fn to_record(&self) -> Result<Record, String> {
        if let Some(why) = &self.withheld {
            return Err(format!("the record's bytes were withheld: {why}"));
        }
        let transport = Transport::from_code(self.transport_code)
            .ok_or_else(|| format!("unknown transport code {}", self.transport_code))?;
        if transport.as_str() != self.transport {
            return Err(format!(
                "transport {:?} does not match its code {}",
                self.transport, self.transport_code
            ));
        }
        let raw = B64
            .decode(&self.raw_b64)
            .map_err(|e| format!("raw_b64: {e}"))?;
        let rec = Record {
            seq: self.seq,
            received_at_ns: self.received_at_ns,
            transport,
            peer: self.peer.clone(),
            raw,
        };
        let canonical = B64
            .decode(&self.canonical_b64)
            .map_err(|e| format!("canonical_b64: {e}"))?;
        if rec.as_ref().encode() != canonical {
            return Err("the canonical encoding does not match the record's fields".into());
        }
        Ok(rec)
    }
}

/// `GET /api/v1/proof/inclusion`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The leaf's index: the record's sequence number.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// `SHA-256(0x00 || canonical)`, hex.
    pub leaf_hash: String,
    /// RFC 9162 inclusion path, base64 each.
    pub proof: Vec<String>,
    /// The signed checkpoint of `tree_size` (C2SP signed note).
    pub checkpoint: String,
    pub record: ProofRecord,
}

/// `GET /api/v1/proof/consistency`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub from_size: u64,
    pub to_size: u64,
    /// RFC 9162 consistency path, base64 each.
    pub proof: Vec<String>,
    /// The signed checkpoint of `from_size` when it is kept (a client that
    /// saved it checks the proof against its own copy either way).
    pub from_checkpoint: Option<String>,
    /// The signed checkpoint of `to_size`.
    pub to_checkpoint: String,
}

/// Decodes base64 proof hashes.
pub fn decode_hashes(proof: &[String]) -> Result<Vec<Hash>, String> {
    proof
        .iter()
        .enumerate()
        .map(|(i, p)| {
            B64.decode(p)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("proof hash {i} is not the base64 of 32 bytes"))
        })
        .collect()
}

fn encode_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

fn state(vault: &Vault) -> Result<Arc<LedgerState>, ProofRequestError> {
    vault.ledger().cloned().ok_or(ProofRequestError::NoLedger)
}

fn latest(st: &LedgerState) -> Result<Published, ProofRequestError> {
    st.latest()?.ok_or(ProofRequestError::NoCheckpoint)
}

/// The latest signed checkpoint.
pub fn checkpoint(vault: &Vault) -> Result<Published, ProofRequestError> {
    latest(&*state(vault)?)
}

/// The kept checkpoints (history), smallest first, with the latest last if
/// it is not among them.
pub fn checkpoints(vault: &Vault) -> Result<Vec<StoredCheckpoint>, ProofRequestError> {
    let st = state(vault)?;
    let mut all = vault.catalog().checkpoints()?;
    if let Some(p) = st.latest()? {
        if all.last().is_none_or(|c| c.size < p.size) {
            all.push(StoredCheckpoint {
                size: p.size,
                note: p.note.to_string(),
                published_at_ns: 0,
            });
        }
    }
    Ok(all)
}

/// The signed checkpoint of exactly `size`: the latest, or one kept in the history.
fn note_for(vault: &Vault, latest: &Published, size: u64) -> Result<String, ProofRequestError> {
    if size == latest.size {
        return Ok(latest.note.to_string());
    }
    match vault.catalog().checkpoint_at(size)? {
        Some(c) => Ok(c.note),
        None => Err(ProofRequestError::NotFound(format!(
            "no checkpoint of size {size} is kept: use the latest ({}) or a size from GET /api/v1/checkpoints",
            latest.size
        ))),
    }
}

/// Runs `f` with a [`RecordSource`] over a fresh snapshot, on a blocking thread.
async fn with_source<T: Send + 'static>(
    vault: &Vault,
    st: Arc<LedgerState>,
    f: impl FnOnce(&LedgerState, &RecordSource) -> Result<T, ProofRequestError> + Send + 'static,
) -> Result<T, ProofRequestError> {
    let snap = vault.snapshot().await;
    let store = vault.store();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let src = st.record_source(snap, store, handle);
        f(&st, &src)
    })
    .await
    .map_err(|e| ProofRequestError::BadRequest(format!("the request failed: {e}")))?
}

/// The inclusion proof of record `seq` in the tree of `size` records (the
/// latest checkpoint's size when `None`), with the checkpoint of that size.
pub async fn inclusion(
    vault: &Vault,
    seq: u64,
    size: Option<u64>,
) -> Result<InclusionProof, ProofRequestError> {
    let st = state(vault)?;
    let latest = latest(&st)?;
    let size = size.unwrap_or(latest.size);
    if size > latest.size {
        return Err(ProofRequestError::BadRequest(format!(
            "size {size} is beyond the latest checkpoint ({}); wait for the next one",
            latest.size
        )));
    }
    if seq >= size {
        return Err(ProofRequestError::BadRequest(format!(
            "record {seq} is not in the tree of size {size}"
        )));
    }
    let checkpoint = note_for(vault, &latest, size)?;
    let served = latest.size;
    with_source(vault, st, move |st, src| {
        let tiles = st.tiles();
        let reader = TileHashReader::new(&*tiles, src, served);
        let proof = reader.inclusion_proof(seq, size).map_err(tree_err)?;
        let rec = src.record(seq)?.ok_or_else(|| {
            ProofRequestError::NotFound(format!(
                "record {seq} is no longer stored (deleted by retention)"
            ))
        })?;
        Ok(InclusionProof {
            leaf_index: seq,
            tree_size: size,
            leaf_hash: hex::encode(rec.as_ref().leaf_hash()),
            proof: encode_hashes(&proof),
            checkpoint,
            record: ProofRecord::new(&rec),
        })
    })
    .await
}

/// The consistency proof from the tree of `from` records to that of `to`
/// (the latest checkpoint's size or a kept one's). `from` may be any size:
/// its checkpoint comes along when it is kept.
pub async fn consistency(
    vault: &Vault,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, ProofRequestError> {
    let st = state(vault)?;
    let latest = latest(&st)?;
    if from > to {
        return Err(ProofRequestError::BadRequest(format!(
            "from ({from}) is larger than to ({to})"
        )));
    }
    if to > latest.size {
        return Err(ProofRequestError::BadRequest(format!(
            "size {to} is beyond the latest checkpoint ({})",
            latest.size
        )));
    }
    let from_checkpoint = match note_for(vault, &latest, from) {
        Ok(n) => Some(n),
        Err(ProofRequestError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let to_checkpoint = note_for(vault, &latest, to)?;
    let served = latest.size;
    with_source(vault, st, move |st, src| {
        let tiles = st.tiles();
        let reader = TileHashReader::new(&*tiles, src, served);
        let proof = reader.consistency_proof(from, to).map_err(tree_err)?;
        Ok(ConsistencyProof {
            from_size: from,
            to_size: to,
            proof: encode_hashes(&proof),
            from_checkpoint,
            to_checkpoint,
        })
    })
    .await
}

/// The bytes of a C2SP tile (`tile/1/000`, `tile/0/x001/234.p/17`) of the
/// latest checkpoint's tree; level 0 is recomputed from the records.
pub async fn tile(vault: &Vault, path: &str) -> Result<Vec<u8>, ProofRequestError> {
    let st = state(vault)?;
    let tile = TileId::parse(path).map_err(|e| ProofRequestError::NotFound(e.to_string()))?;
    let latest = latest(&st)?;
    with_source(vault, st, move |st, src| {
        let tiles = st.tiles();
        let reader = TileHashReader::new(&*tiles, src, latest.size);
        reader.read_tile(tile).map_err(|e| match e {
            pramaan_ledger::LedgerError::OutOfRange { .. } => {
                ProofRequestError::NotFound(e.to_string())
            }
            other => tree_err(other),
        })
    })
    .await
}

/// Adds a co-signature to a checkpoint this node published: `note` is that
/// checkpoint signed (also) by `cosigner`. The signature is checked with
/// `cosigner`, then added to the kept note (the latest `checkpoint` object
/// when it is the latest, and the history either way). Returns the note with
/// every signature.
pub fn add_cosignature(
    st: &LedgerState,
    catalog: &dyn LedgerCatalog,
    note: &[u8],
    cosigner: &VerifierKey,
) -> Result<String, ProofRequestError> {
    let bad = ProofRequestError::BadRequest;
    let signed = Note::parse(note).map_err(|e| bad(format!("the co-signed checkpoint: {e}")))?;
    let verified = signed
        .verify(&Verifiers::new([cosigner.clone()]))
        .map_err(|e| {
            bad(format!(
                "the co-signature by {} does not verify: {e}",
                cosigner.name()
            ))
        })?;
    let sig = verified.verified[0].clone();
    let cp =
        Checkpoint::parse(signed.text()).map_err(|e| bad(format!("the co-signed text: {e}")))?;
    let _guard = st.publish.lock().expect("publish lock");
    let latest = st.latest()?;
    let kept = match &latest {
        Some(p) if p.size == cp.size => Some(p.note.to_string()),
        _ => catalog.checkpoint_at(cp.size)?.map(|c| c.note),
    }
    .ok_or_else(|| {
        ProofRequestError::NotFound(format!("no checkpoint of size {} is kept", cp.size))
    })?;
    let mut merged = Note::parse(kept.as_bytes()).map_err(|e| LedgerFault::BadCheckpoint {
        place: format!("kept checkpoint of size {}", cp.size),
        reason: e.to_string(),
    })?;
    if merged.text() != signed.text() {
        return Err(bad(format!(
            "the co-signed text is not the checkpoint this node published at size {}",
            cp.size
        )));
    }
    merged.add_signature(sig).map_err(|e| bad(e.to_string()))?;
    let text = merged.to_string();
    catalog.replace_checkpoint(&StoredCheckpoint {
        size: cp.size,
        note: text.clone(),
        published_at_ns: pramaan_core::time::now_ns(),
    })?;
    if latest.as_ref().is_some_and(|p| p.size == cp.size) {
        st.tiles()
            .put(CHECKPOINT_OBJECT, text.as_bytes())
            .map_err(LedgerFault::from)?;
        if !st.read_only {
            st.set_latest(Published {
                size: cp.size,
                root: cp.root,
                note: Arc::from(text.as_str()),
            });
        }
    }
    Ok(text)
}

/// [`add_cosignature`] on a running vault (the server's).
pub async fn cosign(
    vault: &Vault,
    note: Vec<u8>,
    cosigner: VerifierKey,
) -> Result<String, ProofRequestError> {
    let st = state(vault)?;
    if vault.is_read_only() {
        return Err(ProofRequestError::BadRequest(
            "a read-only vault cannot keep a co-signature".into(),
        ));
    }
    let catalog = vault.catalog();
    tokio::task::spawn_blocking(move || add_cosignature(&st, catalog.as_ref(), &note, &cosigner))
        .await
        .map_err(|e| ProofRequestError::BadRequest(format!("the request failed: {e}")))?
}

/// [`add_cosignature`] with no server running: takes the data directory's
/// lock for the duration.
pub fn cosign_offline(
    opts: &crate::VaultOptions,
    note: &[u8],
    cosigner: &VerifierKey,
) -> Result<String, ProofRequestError> {
    let _lock = crate::vault::lock_data_dir(&opts.data_dir)?;
    let catalog = crate::catalog::open(opts)?;
    let objects = crate::objects::Objects::open(opts)?;
    let st =
        LedgerState::open(opts, true, &*catalog, &objects)?.ok_or(ProofRequestError::NoLedger)?;
    add_cosignature(&st, &*catalog, note, cosigner)
}
