//! The log excerpt of an incident as NDJSON (one search hit per line, each
//! with its sequence number) and a manifest of SHA-256 hashes: of the file,
//! and of every line, so a single record can be checked on its own.

use crate::model::{Excerpt, ExcerptLine};
use pramaan_core::time::rfc3339_utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Export {
    pub ndjson_name: String,
    #[serde(skip)]
    pub ndjson: Vec<u8>,
    pub manifest_name: String,
    #[serde(skip)]
    pub manifest: Vec<u8>,
    /// SHA-256 of the NDJSON file, hex.
    pub sha256: String,
    pub bytes: u64,
    pub records: u64,
    pub seq_min: Option<u64>,
    pub seq_max: Option<u64>,
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Builds the NDJSON and its manifest (pretty JSON).
pub fn export(incident: i64, lines: &[ExcerptLine], excerpts: &[Excerpt], now_ns: i64) -> Export {
    let mut ndjson = Vec::new();
    let mut per_line = Vec::with_capacity(lines.len());
    for l in lines {
        ndjson.extend_from_slice(&l.json);
        ndjson.push(b'\n');
        per_line.push(serde_json::json!({ "seq": l.seq, "sha256": sha256_hex(&l.json) }));
    }
    let ndjson_name = format!("incident-{incident}-logs.ndjson");
    let manifest_name = format!("incident-{incident}-manifest.json");
    let sha = sha256_hex(&ndjson);
    let seq_min = lines.iter().map(|l| l.seq).min();
    let seq_max = lines.iter().map(|l| l.seq).max();
    let manifest = serde_json::json!({
        "format": "pramaan incident log excerpt manifest, version 1",
        "incident": incident,
        "generated_at": rfc3339_utc(now_ns),
        "hash": "SHA-256, hex; a record's hash is of its NDJSON line without the newline",
        "files": [{
            "name": ndjson_name,
            "sha256": sha,
            "bytes": ndjson.len(),
            "records": lines.len(),
            "seq_min": seq_min,
            "seq_max": seq_max,
        }],
        "excerpts": excerpts.iter().map(|e| serde_json::json!({
            "name": e.name, "query": e.query, "records": e.records,
            "added_at": rfc3339_utc(e.added_at_ns), "added_by": e.added_by,
        })).collect::<Vec<_>>(),
        "records": per_line,
    });
    let mut manifest = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    manifest.push(b'\n');
    Export {
        ndjson_name,
        bytes: ndjson.len() as u64,
        ndjson,
        manifest_name,
        manifest,
        sha256: sha,
        records: lines.len() as u64,
        seq_min,
        seq_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_hashes_match() {
        let lines = vec![
            ExcerptLine {
                seq: 4,
                json: br#"{"seq":4,"raw":"a"}"#.to_vec(),
            },
            ExcerptLine {
                seq: 9,
                json: br#"{"seq":9,"raw":"b"}"#.to_vec(),
            },
        ];
        let e = export(3, &lines, &[], 0);
        let m: serde_json::Value = serde_json::from_slice(&e.manifest).unwrap();
        assert_eq!(m["files"][0]["sha256"], sha256_hex(&e.ndjson));
        assert_eq!(m["records"][1]["seq"], 9);
        assert_eq!(
            m["records"][1]["sha256"],
            sha256_hex(br#"{"seq":9,"raw":"b"}"#)
        );
        assert_eq!(e.ndjson.iter().filter(|b| **b == b'\n').count(), 2);
    }
}
