//! The ledger through the real binary: proofs served over HTTP checked with
//! the independent verifier (`pramaan_ledger::verify`) and the node's public
//! key; checkpoints published within the interval and at shutdown; the tree
//! kept across a restart; `pramaan checkpoint`, `proof`, `checkpoint cosign`
//! and `verify`.

mod support;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pramaan_ledger::merkle::root_of;
use pramaan_ledger::verify::{verify_consistency, verify_inclusion};
use pramaan_ledger::{Checkpoint, Hash, VerifierKey, Verifiers};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const ORIGIN: &str = "Test-Org/node-1";

/// Fast checkpoints, a named node.
const LEDGER: &[(&str, &str)] = &[
    ("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "200ms"),
    ("PRAMAAN_LEDGER_HISTORY_INTERVAL", "1s"),
    ("PRAMAAN_NODE_ORGANISATION", "Test Org"),
    ("PRAMAAN_NODE_NAME", "node-1"),
    ("PRAMAAN_SEGMENTS_MAX_ROWS", "400"),
];

fn vkey(server: &Server) -> VerifierKey {
    let text =
        std::fs::read_to_string(server.data_dir().join("ledger/node.vkey")).expect("node.vkey");
    VerifierKey::parse(text.trim()).unwrap()
}

/// (size, root) of a signed checkpoint, checked with the node's key.
fn open(note: &str, key: &VerifierKey) -> (u64, Hash) {
    let cp = Checkpoint::open(note.as_bytes(), ORIGIN, &Verifiers::new([key.clone()]))
        .unwrap_or_else(|e| panic!("checkpoint does not verify: {e}\n{note}"))
        .checkpoint;
    (cp.size, cp.root)
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

fn latest(server: &Server) -> String {
    let r = server.get("/api/v1/checkpoint", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// Waits for a checkpoint that covers `size` records; returns it.
fn checkpoint_covering(server: &Server, key: &VerifierKey, size: u64) -> (String, u64, Hash) {
    wait_until(
        Duration::from_secs(60),
        &format!("a checkpoint of {size} records"),
        || {
            let note = latest(server);
            let (s, root) = open(&note, key);
            (s >= size).then_some((note, s, root))
        },
    )
}

/// Checks an inclusion proof as an outsider: signature, leaf recomputed from
/// the canonical encoding (whose fields must be the record's), the path.
fn check_inclusion(p: &Value, key: &VerifierKey) -> (u64, Vec<u8>) {
    let (size, root) = open(p["checkpoint"].as_str().unwrap(), key);
    assert_eq!(size, p["tree_size"].as_u64().unwrap());
    let rec = &p["record"];
    let canonical = B64.decode(rec["canonical_b64"].as_str().unwrap()).unwrap();
    let decoded = pramaan_core::RecordRef::decode(&canonical).unwrap();
    assert_eq!(decoded.seq, rec["seq"].as_u64().unwrap());
    assert_eq!(
        decoded.received_at_ns,
        rec["received_at_ns"].as_i64().unwrap()
    );
    assert_eq!(
        decoded.transport as u8 as u64,
        rec["transport_code"].as_u64().unwrap()
    );
    assert_eq!(decoded.peer, rec["peer"].as_str().unwrap());
    assert_eq!(
        decoded.raw,
        &B64.decode(rec["raw_b64"].as_str().unwrap()).unwrap()[..]
    );
    let leaf = pramaan_core::leaf_hash(&canonical);
    assert_eq!(hex::encode(leaf), p["leaf_hash"].as_str().unwrap());
    let index = p["leaf_index"].as_u64().unwrap();
    verify_inclusion(&leaf, index, size, &hashes(&p["proof"]), &root).unwrap();
    (index, decoded.raw.to_vec())
}

fn cli(server: &Server, args: &[&str]) -> Output {
    let mut c: Command = pramaan(server.dir.path());
    c.arg("--data-dir").arg(server.data_dir());
    for (k, v) in LEDGER {
        c.env(k, v);
    }
    c.args(args);
    run(c, None, Duration::from_secs(120))
}

#[test]
fn proofs_over_http_verify_with_the_node_key() {
    let server = Server::start_with(LEDGER);
    let key = vkey(&server);
    assert_eq!(key.name(), ORIGIN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data_dir().join("ledger/node.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
    let run_id = unique("proof");
    let mut sent = Vec::new();
    for b in 0..4 {
        let lines: Vec<String> = (0..250)
            .map(|i| format!("<14>1 - host{b} app - - - {run_id} batch {b} line {i}"))
            .collect();
        server.ingest_lines(&lines);
        sent.extend(lines);
    }
    let (note, size, root) = checkpoint_covering(&server, &key, 1000);
    assert_eq!(size, 1000);

    for seq in [0u64, 1, 255, 256, 511, 777, 999] {
        let r = server.get("/api/v1/proof/inclusion", &[("seq", &seq.to_string())]);
        assert_eq!(r.status, 200, "{}", r.text());
        let (index, raw) = check_inclusion(&r.json(), &key);
        assert_eq!(index, seq);
        assert_eq!(raw, sent[seq as usize].as_bytes());
    }
    // The kept checkpoints: inclusion at an older size, consistency to the latest.
    let kept = server.get("/api/v1/checkpoints", &[]).json();
    let sizes: Vec<u64> = kept
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["size"].as_u64().unwrap())
        .collect();
    let older = *sizes
        .iter()
        .find(|s| **s > 0 && **s < 1000)
        .unwrap_or(&1000);
    let r = server.get(
        "/api/v1/proof/inclusion",
        &[
            ("seq", &(older - 1).to_string()),
            ("size", &older.to_string()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    check_inclusion(&r.json(), &key);
    let r = server.get(
        "/api/v1/proof/consistency",
        &[("from", &older.to_string()), ("to", "1000")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    let (s1, r1) = open(c["from_checkpoint"].as_str().unwrap(), &key);
    let (s2, r2) = open(c["to_checkpoint"].as_str().unwrap(), &key);
    assert_eq!((s1, s2), (older, 1000));
    verify_consistency(s1, s2, &r1, &r2, &hashes(&c["proof"])).unwrap();
    assert_eq!(r2, root);

    // Tiles at their C2SP paths: level 0 recomputed, level 1 stored, and they agree.
    let t = server.get("/ledger/checkpoint", &[]);
    assert_eq!(t.text(), note);
    let t0 = server.get("/ledger/tile/0/000", &[]);
    assert_eq!(t0.status, 200);
    assert_eq!(t0.body.len(), 256 * 32);
    let level0: Vec<Hash> = t0.body.chunks(32).map(|c| c.try_into().unwrap()).collect();
    let t1 = server.get("/ledger/tile/1/000.p/3", &[]);
    assert_eq!(t1.status, 200, "{}", t1.text());
    assert_eq!(&t1.body[..32], &root_of(&level0)[..]);
    let on_disk = std::fs::read(server.data_dir().join("objects/tile/1/000.p/3")).unwrap();
    assert_eq!(t1.body, on_disk);
    assert!(
        !server.data_dir().join("objects/tile/0").exists(),
        "level 0 is not stored"
    );

    // Errors, through the API's error mapping.
    for (path, q, status) in [
        ("/api/v1/proof/inclusion", vec![("seq", "1000")], 400),
        ("/api/v1/proof/inclusion", vec![("seq", "abc")], 400),
        (
            "/api/v1/proof/inclusion",
            vec![("seq", "1"), ("size", "5000")],
            400,
        ),
        (
            "/api/v1/proof/inclusion",
            vec![("seq", "1"), ("size", "7")],
            404,
        ),
        (
            "/api/v1/proof/consistency",
            vec![("from", "900"), ("to", "5000")],
            400,
        ),
        ("/ledger/tile/0/004", vec![], 404),
        ("/ledger/tile/entries/000", vec![], 404),
        ("/ledger/tile/1/abc", vec![], 404),
    ] {
        let r = server.get(path, &q);
        assert_eq!(r.status, status, "{path} {q:?}: {}", r.text());
        if status != 200 {
            assert!(r.json()["error"].is_string(), "{}", r.text());
        }
    }
}

#[test]
fn a_checkpoint_is_published_at_shutdown() {
    // A long interval: after the first checkpoint, only shutdown publishes.
    let mut env = LEDGER.to_vec();
    env[0] = ("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "1h");
    let mut server = Server::start_with(&env);
    let key = vkey(&server);
    let (_, first, _) = checkpoint_covering(&server, &key, 0);
    assert_eq!(first, 0, "the empty tree is published at first start");
    let lines: Vec<String> = (0..300)
        .map(|i| format!("<14>1 - h app - - - {} {i}", unique("shut")))
        .collect();
    server.ingest_lines(&lines);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(open(&latest(&server), &key).0, 0, "not before the interval");
    assert!(server.stop().success());
    let note = std::fs::read_to_string(server.data_dir().join("objects/checkpoint")).unwrap();
    assert_eq!(open(&note, &key).0, 300, "published at shutdown");
    // And kept in the history, for verify's chain.
    server.start_again();
    let kept = server.get("/api/v1/checkpoints", &[]).json();
    assert!(
        kept.as_array().unwrap().iter().any(|c| c["size"] == 300),
        "{kept}"
    );
}

#[test]
fn a_checkpoint_is_published_within_the_interval_and_the_tree_survives_a_restart() {
    let mut server = Server::start_with(LEDGER);
    let key = vkey(&server);
    let lines: Vec<String> = (0..300)
        .map(|i| format!("<14>1 - h app - - - {} {i}", unique("restart")))
        .collect();
    server.ingest_lines(&lines);
    let started = Instant::now();
    let (_, s1, r1) = checkpoint_covering(&server, &key, 300);
    // 200 ms interval; the slack is for a loaded 2-core machine.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "published after {:?}",
        started.elapsed()
    );
    assert_eq!(s1, 300);
    server.restart();
    let (note, s2, r2) = checkpoint_covering(&server, &key, 300);
    assert_eq!(
        (s2, r2),
        (s1, r1),
        "same root at the same size after a restart:\n{note}"
    );
    server.ingest_lines(&lines);
    let (_, s3, r3) = checkpoint_covering(&server, &key, 600);
    let c = server
        .get(
            "/api/v1/proof/consistency",
            &[("from", &s1.to_string()), ("to", &s3.to_string())],
        )
        .json();
    verify_consistency(s1, s3, &r1, &r3, &hashes(&c["proof"])).unwrap();
}

fn flip(file: &Path, at: usize) {
    let mut d = std::fs::read(file).unwrap();
    let at = at % d.len();
    d[at] ^= 0x5a;
    std::fs::write(file, d).unwrap();
}

#[test]
fn cli_checkpoint_proof_cosign_and_verify() {
    let mut server = Server::start_with(LEDGER);
    let key = vkey(&server);
    let url = server.url();
    let srv = format!("--server={url}");
    let lines: Vec<String> = (0..700)
        .map(|i| format!("<14>1 - h app - - - {} {i}", unique("cli")))
        .collect();
    server.ingest_lines(&lines);
    checkpoint_covering(&server, &key, 700);

    let o = cli(&server, &["checkpoint", &srv]);
    assert!(o.success(), "{o:?}");
    assert_eq!(open(&o.stdout(), &key).0, 700);
    let o = cli(&server, &["proof", "inclusion", "--seq", "42", &srv]);
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout()
            .contains("OK: record 42 is in the tree of 700 records"),
        "{o:?}"
    );
    let o = cli(
        &server,
        &["proof", "inclusion", "--seq", "42", "--json", &srv],
    );
    assert!(o.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_inclusion(&v, &key);

    // A wrong node key: the CLI says FAILED.
    let other = server.dir.path().join("other.key");
    let o = cli(
        &server,
        &[
            "checkpoint",
            "keygen",
            "--name",
            ORIGIN,
            "--out",
            other.to_str().unwrap(),
        ],
    );
    assert!(o.success(), "{o:?}");
    let other_v = server.dir.path().join("other.vkey");
    let o = cli(
        &server,
        &[
            "proof",
            "inclusion",
            "--seq",
            "1",
            "--vkey",
            other_v.to_str().unwrap(),
            &srv,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout().contains("FAILED"), "{o:?}");

    // An auditor co-signs the latest checkpoint through the server.
    let aud = server.dir.path().join("auditor.key");
    let o = cli(
        &server,
        &[
            "checkpoint",
            "keygen",
            "--name",
            "auditor.example/cert-in",
            "--out",
            aud.to_str().unwrap(),
        ],
    );
    assert!(o.success(), "{o:?}");
    let o = cli(
        &server,
        &["checkpoint", "cosign", "--key", aud.to_str().unwrap(), &srv],
    );
    assert!(o.success(), "{o:?}");
    let aud_v = VerifierKey::parse(
        std::fs::read_to_string(server.dir.path().join("auditor.vkey"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let both = Verifiers::new([key.clone(), aud_v.clone()]);
    let cosigned = latest(&server);
    let opened = Checkpoint::open(cosigned.as_bytes(), ORIGIN, &both).unwrap();
    opened.verified.require([&key, &aud_v]).unwrap();
    // Still a valid checkpoint for a client that knows only the node key.
    assert_eq!(open(&cosigned, &key).0, 700);

    // verify with the server running (read-only), then stopped.
    let aud_vkey = server.dir.path().join("auditor.vkey");
    let o = cli(&server, &["verify", "--key", aud_vkey.to_str().unwrap()]);
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("OK: everything verifies"), "{o:?}");
    assert!(
        o.stdout()
            .contains("co-signed   1 checkpoint(s) by auditor.example/cert-in"),
        "{o:?}"
    );
    assert!(
        o.stdout()
            .lines()
            .last()
            .unwrap()
            .starts_with("bench: verify"),
        "{o:?}"
    );
    assert!(server.stop().success());
    let o = cli(
        &server,
        &["verify", "--deep", "--key", aud_vkey.to_str().unwrap()],
    );
    assert!(o.success(), "{o:?}");
    // Without a server, proofs come from the data directory.
    let o = cli(&server, &["proof", "inclusion", "--seq", "699"]);
    assert!(o.success(), "{o:?}");
    let o = cli(&server, &["checkpoint"]);
    assert!(o.success() && o.stdout() == cosigned, "{o:?}");

    // Tampering is found and located, and the exit status says so.
    let seg_dir = server.data_dir().join("objects/segments");
    let mut segs = Vec::new();
    let mut stack = vec![seg_dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                segs.push(p)
            }
        }
    }
    let seg = &segs[0];
    flip(seg, 100);
    let o = cli(&server, &["verify"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        o.stdout()
            .lines()
            .any(|l| l.starts_with("PROBLEM") && l.contains(&name)),
        "{o:?}"
    );
    assert!(o.stdout().contains("FAILED"), "{o:?}");
    flip(seg, 100);
    let tile = server.data_dir().join("objects/tile/1/000.p/2");
    flip(&tile, 3);
    let o = cli(&server, &["verify"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout().contains("tile/1/000.p/2"), "{o:?}");
    flip(&tile, 3);
    let o = cli(&server, &["verify"]);
    assert!(o.success(), "{o:?}");
}
