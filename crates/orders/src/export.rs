//! Making an order's bundle from the vault: the records in scope (exactly:
//! the vault is asked for the window, [`Scope::matches`] decides), the proof
//! hashes of the latest signed checkpoint, and the files of [`crate::bundle`].

use crate::bundle::{BundleError, BundleWriter, Manifest, Parts, SystemInfo};
use crate::proofs::{needed_ranges, Range};
use crate::scope::{LineFields, Scope, SubscriberBinding};
use crate::store::Order;
use pramaan_core::{Record, Transport};
use pramaan_ledger::{Hash, TileHashReader};
use pramaan_vault::ledger::proofs::{self as vproofs, ProofRequestError};
use pramaan_vault::search::{self, Hit, Query};
use pramaan_vault::{Vault, VaultError};
use std::net::IpAddr;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the ledger: {0}")]
    Ledger(#[from] ProofRequestError),
    #[error("searching the vault: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("record {seq}: {reason}")]
    Record { seq: u64, reason: String },
    #[error("record {seq} is in scope but no checkpoint covers it yet (the latest has {size} records): export again in a few seconds")]
    NotYetCheckpointed { seq: u64, size: u64 },
    #[error("computing the proof hashes: {0}")]
    Tree(String),
}

/// What [`export`] did.
#[derive(Clone, Debug)]
pub struct Exported {
    pub manifest: Manifest,
    pub records: u64,
    /// Lines of the window the vault returned (before the selectors).
    pub scanned: u64,
}

/// The parsed fields of a hit that the bundle keeps beside the raw bytes.
fn fields(h: &Hit) -> serde_json::Value {
    let mut v = serde_json::to_value(h).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        for k in [
            "seq",
            "received_at",
            "received_at_ist",
            "transport",
            "peer",
            "raw",
            "raw_b64",
            // A slice of the raw bytes: kept once, in raw_b64.
            "message",
        ] {
            m.remove(k);
        }
    }
    v
}

fn record_of(h: &Hit) -> Result<Record, ExportError> {
    let bad = |reason: String| ExportError::Record { seq: h.seq, reason };
    let at: jiff::Timestamp = h
        .received_at
        .parse()
        .map_err(|e| bad(format!("received_at {:?}: {e}", h.received_at)))?;
    Ok(Record {
        seq: h.seq,
        received_at_ns: at.as_nanosecond() as i64,
        transport: Transport::parse(&h.transport)
            .ok_or_else(|| bad(format!("unknown transport {:?}", h.transport)))?,
        peer: h.peer.clone(),
        raw: h.raw_bytes(),
    })
}

/// Writes the bundle of `order` to `out`. `progress` is called with the
/// number of records written so far.
#[allow(clippy::too_many_arguments)]
pub async fn export(
    vault: &Vault,
    order: &Order,
    subscribers: Vec<serde_json::Value>,
    bindings: &[SubscriberBinding],
    system: SystemInfo,
    out: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Exported, ExportError> {
    let published = vproofs::checkpoint(vault)?;
    let size = published.size;
    let scope: &Scope = &order.scope;
    let q = Query {
        from_ns: Some(scope.from_ns),
        to_ns: Some(scope.to_ns),
        limit: 0,
        ..Query::default()
    };
    let mut txs = vasp_in_scope(vault, scope, bindings, size)
        .await?
        .into_iter()
        .peekable();
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let v2 = vault.clone();
    let searching = tokio::spawn(async move { search::search(&v2, &q, tx).await });
    let mut w = BundleWriter::new()?;
    let mut scanned = 0u64;
    let mut last = None;
    while let Some(batch) = rx.recv().await {
        for h in search::hits(&batch) {
            scanned += 1;
            let ips: Vec<IpAddr> = h.ips.iter().filter_map(|s| s.parse().ok()).collect();
            let rec = record_of(&h)?;
            let line = LineFields {
                seq: h.seq,
                received_at_ns: rec.received_at_ns,
                peer: &h.peer,
                raw: &rec.raw,
                host: h.host.as_deref(),
                ips: &ips,
                ports: &h.ports,
                users: &h.users,
                vasp: None,
            };
            if !scope.matches(&line, bindings) {
                continue;
            }
            if h.seq >= size {
                return Err(ExportError::NotYetCheckpointed { seq: h.seq, size });
            }
            // The memtable and segments are read in sequence order; a
            // record seen twice would be a vault bug, never silently kept.
            if last.is_some_and(|l| h.seq <= l) {
                return Err(ExportError::Record {
                    seq: h.seq,
                    reason: "the vault returned records out of order".into(),
                });
            }
            last = Some(h.seq);
            // The VASP transactions in scope before this line, in order.
            while let Some(t) = txs.next_if(|t| t.seq < h.seq) {
                w.add(&record_of(&t)?, fields(&t))?;
            }
            w.add(&rec, fields(&h))?;
            let n = w.seqs().len() as u64;
            if n.is_multiple_of(10_000) {
                progress(n);
            }
        }
    }
    searching
        .await
        .map_err(|e| ExportError::Tree(e.to_string()))??;
    for t in txs {
        w.add(&record_of(&t)?, fields(&t))?;
    }
    let records = w.seqs().len() as u64;
    progress(records);

    let needed = needed_ranges(w.seqs(), size);
    let proof_hashes = subtree_hashes(vault, size, needed).await?;
    let parts = Parts {
        reference: order.reference.clone(),
        order_json: order.bundle_json(),
        subscribers,
        bindings: bindings
            .iter()
            .map(|b| serde_json::to_value(b).unwrap_or_default())
            .collect(),
        proof_hashes,
        checkpoint_note: published.note.to_string(),
        checkpoint_origin: vault
            .ledger()
            .map(|l| l.origin().to_owned())
            .unwrap_or_default(),
        checkpoint_size: size,
        vkey: vault
            .ledger()
            .ok_or(ProofRequestError::NoLedger)?
            .node_verifier()
            .map_err(|e| ExportError::Tree(e.to_string()))?
            .to_vkey(),
        system,
    };
    let out = out.to_path_buf();
    let manifest = tokio::task::spawn_blocking(move || w.finish(parts, &out))
        .await
        .map_err(|e| ExportError::Tree(e.to_string()))??;
    Ok(Exported {
        manifest,
        records,
        scanned,
    })
}

/// The VASP transaction records in scope (pramaan's own records, searched
/// apart from the log lines), in sequence order; none unless the order names
/// subscribers, wallets or transactions.
async fn vasp_in_scope(
    vault: &Vault,
    scope: &Scope,
    bindings: &[SubscriberBinding],
    size: u64,
) -> Result<Vec<Hit>, ExportError> {
    if !scope.names_vasp() {
        return Ok(Vec::new());
    }
    let q = Query {
        from_ns: Some(scope.from_ns),
        to_ns: Some(scope.to_ns),
        limit: 0,
        internal: true,
        ..Query::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let v2 = vault.clone();
    let searching = tokio::spawn(async move { search::search(&v2, &q, tx).await });
    let mut out = Vec::new();
    while let Some(batch) = rx.recv().await {
        for h in search::hits(&batch) {
            let raw = h.raw_bytes();
            let Some(t) = crate::scope::Transaction::of(&h.peer, &raw) else {
                continue;
            };
            let ips: Vec<IpAddr> = h.ips.iter().filter_map(|s| s.parse().ok()).collect();
            let line = LineFields {
                seq: h.seq,
                received_at_ns: record_of(&h)?.received_at_ns,
                peer: &h.peer,
                raw: &raw,
                host: h.host.as_deref(),
                ips: &ips,
                ports: &h.ports,
                users: &h.users,
                vasp: Some(&t),
            };
            if !scope.matches(&line, bindings) {
                continue;
            }
            if h.seq >= size {
                return Err(ExportError::NotYetCheckpointed { seq: h.seq, size });
            }
            out.push(h);
        }
    }
    searching
        .await
        .map_err(|e| ExportError::Tree(e.to_string()))??;
    out.sort_by_key(|h| h.seq);
    Ok(out)
}

/// The hashes of `ranges` in the tree of `size` leaves, from the stored
/// tiles (level 0 recomputed from the records where needed).
async fn subtree_hashes(
    vault: &Vault,
    size: u64,
    ranges: Vec<Range>,
) -> Result<Vec<(Range, Hash)>, ExportError> {
    let st = vault.ledger().cloned().ok_or(ProofRequestError::NoLedger)?;
    let snap = vault.snapshot().await;
    let store = vault.store();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let src = st.record_source(snap, store, handle);
        let tiles = st.tiles();
        let reader = TileHashReader::new(&*tiles, &src, size);
        ranges
            .into_iter()
            .map(|r| {
                pramaan_ledger::merkle::subtree_root(&reader, r.0, r.1)
                    .map(|h| (r, h))
                    .map_err(|e| ExportError::Tree(format!("[{}, {}): {e}", r.0, r.1)))
            })
            .collect()
    })
    .await
    .map_err(|e| ExportError::Tree(e.to_string()))?
}
