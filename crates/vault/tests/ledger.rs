//! The ledger inside the vault, in one process: checkpoints, proofs checked by
//! the independent verifier, restart, retention, refusals, and `verify`
//! finding every flipped byte.
//!
//! * `proofs_verify_and_the_tree_survives_a_restart`
//! * `a_deleted_segment_leaves_its_neighbours_provable`
//! * `recovery_refuses_a_bad_key_or_a_checkpoint_the_records_do_not_match`
//! * `verify_finds_and_locates_every_flipped_byte` (1,000 flips)
//! * `the_ledger_costs_under_5_percent_of_the_segment_bytes` (loghub)

mod common;
use bytes::Bytes;
use common::copy_dir;
use pramaan_core::Transport;
use pramaan_ledger::verify::{verify_consistency, verify_inclusion};
use pramaan_ledger::{Checkpoint, Hash, SignerKey, VerifierKey, Verifiers};
use pramaan_vault::ledger::proofs::{self, decode_hashes, InclusionProof};
use pramaan_vault::ledger::verify::{verify, VerifyOptions};
use pramaan_vault::ledger::{LedgerCatalog, Published};
use pramaan_vault::{Vault, VaultOptions, Workers};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORIGIN: &str = "Test-Org/node-a";

fn opts(dir: &Path) -> VaultOptions {
    let mut o = VaultOptions::new(dir);
    o.seal_max_rows = 300;
    let l = o.ledger.as_mut().unwrap();
    l.origin = ORIGIN.into();
    l.checkpoint_interval = Duration::from_millis(100);
    l.history_interval = Duration::from_secs(1);
    o
}

fn lines(prefix: &str, n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            Bytes::from(format!(
                "<13>1 - host-{prefix} app - - - {prefix} line {i} from 10.1.{}.{}",
                i / 250,
                i % 250
            ))
        })
        .collect()
}

async fn append(vault: &Vault, l: Vec<Bytes>) {
    vault
        .append(Transport::Tcp, Arc::from("127.0.0.1:9"), l)
        .await
        .unwrap();
}

async fn close(vault: Vault, workers: Workers) {
    vault.shutdown(workers).await;
}

/// Waits until the latest checkpoint covers `size` records.
async fn checkpoint_at(vault: &Vault, size: u64) -> Published {
    let start = Instant::now();
    loop {
        if let Some(p) = vault.ledger().unwrap().latest().unwrap() {
            if p.size >= size {
                return p;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no checkpoint of size {size}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn vkey(dir: &Path) -> VerifierKey {
    let text = std::fs::read_to_string(dir.join("ledger/node.vkey")).unwrap();
    VerifierKey::parse(text.trim()).unwrap()
}

/// Size and root of a signed checkpoint, checked with the node's key only.
fn open(note: &str, key: &VerifierKey) -> (u64, Hash) {
    let cp = Checkpoint::open(note.as_bytes(), ORIGIN, &Verifiers::new([key.clone()]))
        .unwrap()
        .checkpoint;
    (cp.size, cp.root)
}

/// What a client does with an inclusion proof: signature, leaf from the
/// record's canonical fields, path to the root.
fn check_inclusion(p: &InclusionProof, key: &VerifierKey) {
    let (size, root) = open(&p.checkpoint, key);
    assert_eq!(size, p.tree_size);
    let rec = p.record.to_record().unwrap();
    assert_eq!(rec.seq, p.leaf_index);
    let leaf = rec.as_ref().leaf_hash();
    assert_eq!(hex::encode(leaf), p.leaf_hash);
    let proof = decode_hashes(&p.proof).unwrap();
    verify_inclusion(&leaf, p.leaf_index, size, &proof, &root).unwrap();
    // A wrong leaf, index or root does not verify.
    let mut other = leaf;
    other[0] ^= 1;
    assert!(verify_inclusion(&other, p.leaf_index, size, &proof, &root).is_err());
    if size > 1 {
        let i = (p.leaf_index + 1) % size;
        assert!(verify_inclusion(&leaf, i, size, &proof, &root).is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_and_the_tree_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    // The key was created with mode 0600 and its public half beside it.
    let key_file = dir.path().join("ledger/node.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = vkey(dir.path());
    assert_eq!(key.name(), ORIGIN);
    assert_eq!(SignerKey::read_file(&key_file).unwrap().verifier(), key);

    for b in 0..5 {
        append(&vault, lines(&format!("b{b}"), 200)).await;
    }
    let cp = checkpoint_at(&vault, 1000).await;
    assert_eq!(open(&cp.note, &key), (1000, cp.root));
    // Published as the `checkpoint` object too.
    let object = std::fs::read_to_string(dir.path().join("objects/checkpoint")).unwrap();
    assert_eq!(object, cp.note.as_ref());
    // Level 0 is not stored.
    assert!(!dir.path().join("objects/tile/0").exists());

    for seq in [0, 1, 255, 256, 511, 512, 700, 998, 999] {
        let p = proofs::inclusion(&vault, seq, None).await.unwrap();
        check_inclusion(&p, &key);
        let rec = &vault.records(seq, seq + 1).await.unwrap()[0];
        assert_eq!(p.record.to_record().unwrap(), *rec);
    }
    assert!(matches!(
        proofs::inclusion(&vault, 1000, None).await,
        Err(proofs::ProofRequestError::BadRequest(_))
    ));
    assert!(matches!(
        proofs::inclusion(&vault, 5, Some(2000)).await,
        Err(proofs::ProofRequestError::BadRequest(_))
    ));

    // The first kept checkpoint is older: consistency with the latest, and
    // inclusion at its size.
    let kept = vault.catalog().checkpoints().unwrap();
    assert!(!kept.is_empty());
    let first = kept
        .iter()
        .find(|c| c.size > 0)
        .map(|c| c.size)
        .unwrap_or(1000);
    let c = proofs::consistency(&vault, first, 1000).await.unwrap();
    let (s1, r1) = open(c.from_checkpoint.as_deref().unwrap(), &key);
    let (s2, r2) = open(&c.to_checkpoint, &key);
    verify_consistency(s1, s2, &r1, &r2, &decode_hashes(&c.proof).unwrap()).unwrap();
    let p = proofs::inclusion(&vault, first - 1, Some(first))
        .await
        .unwrap();
    check_inclusion(&p, &key);
    // From a size the node did not keep: the proof, without a checkpoint.
    let c = proofs::consistency(&vault, 3, 1000).await.unwrap();
    assert!(c.from_checkpoint.is_none() || kept.iter().any(|c| c.size == 3));
    let r3 = pramaan_ledger::merkle::root_of(
        &vault
            .records(0, 3)
            .await
            .unwrap()
            .iter()
            .map(|r| r.as_ref().leaf_hash())
            .collect::<Vec<_>>(),
    );
    verify_consistency(3, 1000, &r3, &cp.root, &decode_hashes(&c.proof).unwrap()).unwrap();

    // Tiles as a C2SP client reads them: level 1 stored, level 0 recomputed.
    let t1 = proofs::tile(&vault, "tile/1/000.p/3").await.unwrap();
    assert_eq!(
        t1,
        std::fs::read(dir.path().join("objects/tile/1/000.p/3")).unwrap()
    );
    let t0 = proofs::tile(&vault, "tile/0/000").await.unwrap();
    let recs = vault.records(0, 256).await.unwrap();
    let leaves: Vec<u8> = recs.iter().flat_map(|r| r.as_ref().leaf_hash()).collect();
    assert_eq!(t0, leaves);
    assert!(matches!(
        proofs::tile(&vault, "tile/0/003").await,
        Err(proofs::ProofRequestError::NotFound(_))
    ));
    close(vault, workers).await;

    // At shutdown the last checkpoint went into the history.
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    let last = vault.catalog().last_checkpoint().unwrap().unwrap();
    assert_eq!(last.size, 1000);
    // Same tree at the same size, and it grows on.
    let again = vault.ledger().unwrap().latest().unwrap().unwrap();
    assert_eq!((again.size, again.root), (1000, cp.root));
    append(&vault, lines("after", 300)).await;
    let grown = checkpoint_at(&vault, 1300).await;
    let c = proofs::consistency(&vault, 1000, 1300).await.unwrap();
    verify_consistency(
        1000,
        1300,
        &cp.root,
        &grown.root,
        &decode_hashes(&c.proof).unwrap(),
    )
    .unwrap();
    check_inclusion(&proofs::inclusion(&vault, 1299, None).await.unwrap(), &key);
    close(vault, workers).await;

    let report = verify(&opts(dir.path()), &VerifyOptions::default(), &mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.tree_size, 1300);
    assert!(report.checkpoints_checked >= 2, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_segment_leaves_its_neighbours_provable() {
    use pramaan_vault::retention::{Class, Policy, Retention, NS_PER_DAY};
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    // Segments of 300: 0..=299 keep, 300..=599 short-lived, 600..=1199 keep.
    append(&vault, lines("keep", 300)).await;
    append(&vault, lines("short", 300)).await;
    append(&vault, lines("keep", 300)).await;
    append(&vault, lines("keep", 300)).await;
    assert!(vault.wait_sealed(Duration::from_secs(30)).await);
    let key = vkey(dir.path());
    let policy = Policy {
        classes: vec![Class {
            name: "short".into(),
            sources: vec!["host-short".into()],
            days: 1,
        }],
        ..Policy::default()
    };
    let r = Retention::new(vault.clone(), policy);
    let report = r
        .run(pramaan_core::time::now_ns() + 2 * NS_PER_DAY, false)
        .await
        .unwrap();
    assert_eq!(report.deleted.len(), 1, "{report:?}");
    // The level-0 tiles at both edges were kept: 256..511 and 512..767.
    assert!(dir.path().join("objects/tile/0/001").is_file());
    assert!(dir.path().join("objects/tile/0/002").is_file());
    let size = checkpoint_at(&vault, 1201).await.size;
    for seq in [0, 255, 256, 299, 600, 767, 768, 1199, 1200] {
        check_inclusion(&proofs::inclusion(&vault, seq, None).await.unwrap(), &key);
    }
    assert!(matches!(
        proofs::inclusion(&vault, 400, None).await,
        Err(proofs::ProofRequestError::NotFound(_))
    ));
    drop(r);
    close(vault, workers).await;

    // The tree survives the restart, the deletion is on schedule for verify.
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    assert_eq!(
        vault.ledger().unwrap().latest().unwrap().unwrap().size,
        size
    );
    check_inclusion(&proofs::inclusion(&vault, 299, None).await.unwrap(), &key);
    close(vault, workers).await;
    let report = verify(&opts(dir.path()), &VerifyOptions::default(), &mut |_, _| {}).unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.deleted_ranges, 1);
    assert_eq!(report.deleted_records, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_refuses_a_bad_key_or_a_checkpoint_the_records_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    append(&vault, lines("a", 600)).await;
    checkpoint_at(&vault, 600).await;
    close(vault, workers).await;
    let key_file = dir.path().join("ledger/node.key");

    // A key that others can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::open(opts(dir.path()))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("open to group or others"), "{err}");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // The node was renamed: its key no longer names the origin.
    let mut renamed = opts(dir.path());
    renamed.ledger.as_mut().unwrap().origin = "Test-Org/node-b".into();
    let err = Vault::open(renamed).await.err().unwrap().to_string();
    assert!(err.contains("node-b") && err.contains("node.key"), "{err}");

    // A checkpoint signed by the node key over another root: loud, and names it.
    let signer = SignerKey::read_file(&key_file).unwrap();
    let forged = Checkpoint::new(ORIGIN, 600, [7u8; 32])
        .unwrap()
        .sign(&signer)
        .unwrap()
        .to_string();
    let cp_file = dir.path().join("objects/checkpoint");
    let good = std::fs::read(&cp_file).unwrap();
    std::fs::write(&cp_file, &forged).unwrap();
    let err = Vault::open(opts(dir.path()))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("objects/checkpoint") && err.contains("changed or lost"),
        "{err}"
    );
    // Signed by someone else.
    let other = SignerKey::generate(ORIGIN).unwrap();
    let alien = Checkpoint::new(ORIGIN, 600, [7u8; 32])
        .unwrap()
        .sign(&other)
        .unwrap()
        .to_string();
    std::fs::write(&cp_file, &alien).unwrap();
    let err = Vault::open(opts(dir.path()))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("objects/checkpoint") && err.contains("not valid"),
        "{err}"
    );
    // A checkpoint beyond the records.
    let beyond = Checkpoint::new(ORIGIN, 900, [7u8; 32])
        .unwrap()
        .sign(&signer)
        .unwrap()
        .to_string();
    std::fs::write(&cp_file, &beyond).unwrap();
    let err = Vault::open(opts(dir.path()))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("records were lost"), "{err}");

    std::fs::write(&cp_file, &good).unwrap();
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    close(vault, workers).await;
}

/// Every file of a data directory that verify must vouch for.
fn evidence_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("objects"), root.join("wal")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The words a problem's place must contain to locate a change to `file`.
fn locator(root: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    if let Some(obj) = rel.strip_prefix("objects/") {
        if obj == "checkpoint" {
            return "checkpoint object".into();
        }
        return obj.to_owned();
    }
    file.file_name().unwrap().to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_and_locates_every_flipped_byte() {
    // A tiny vault as a crash would leave it: four segments, a WAL file that
    // still holds every record (100 of them unsealed), level-1 tiles and the
    // checkpoint that covers everything.
    let live = tempfile::tempdir().unwrap();
    let mut o = opts(live.path());
    o.seal_max_rows = 150;
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    for b in 0..14 {
        append(&vault, lines(&format!("m{b}"), 50)).await;
    }
    checkpoint_at(&vault, 700).await;
    let start = Instant::now();
    while vault.sealed_through() != Some(599) {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let image = tempfile::tempdir().unwrap();
    copy_dir(live.path(), image.path());
    close(vault, workers).await;
    let mut o = opts(image.path());
    o.seal_max_rows = 150;

    let files = evidence_files(image.path());
    let kinds = |needle: &str| {
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains(needle))
            .count()
    };
    assert!(
        kinds("segments/") >= 4 && kinds("/tile/") >= 1 && kinds("wal/") >= 1,
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("objects/checkpoint")));
    let clean = verify(&o, &VerifyOptions::default(), &mut |_, _| {}).unwrap();
    assert!(clean.ok(), "{:#?}", clean.problems);
    assert_eq!(clean.tree_size, 700);
    assert_eq!(clean.unsealed, 100);

    // 1,000 flips of one byte each, at random (a fixed seed, so a failure
    // can be replayed).
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let started = Instant::now();
    let flips: usize = std::env::var("PRAMAAN_TEST_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for n in 0..flips {
        let file = &files[(next() % files.len() as u64) as usize];
        let mut data = std::fs::read(file).unwrap();
        let at = (next() % data.len() as u64) as usize;
        let flip = (next() % 255 + 1) as u8;
        let before = data[at];
        data[at] ^= flip;
        std::fs::write(file, &data).unwrap();
        if std::env::var_os("PRAMAAN_TEST_TRACE").is_some() {
            eprintln!("flip #{n}: byte {at} of {} ^{flip:#04x}", file.display());
        }
        let report = verify(&o, &VerifyOptions::default(), &mut |_, _| {}).unwrap();
        data[at] = before;
        std::fs::write(file, &data).unwrap();
        let want = locator(image.path(), file);
        assert!(
            !report.ok(),
            "flip #{n}: byte {at} of {} (^{flip:#04x}) went unnoticed",
            file.display()
        );
        assert!(
            report.problems.iter().any(|p| p.place.contains(&want)),
            "flip #{n}: byte {at} of {} (^{flip:#04x}) was noticed but not located at {want:?}: {:#?}",
            file.display(),
            report.problems
        );
    }
    eprintln!("{flips} flips verified in {:.1?}", started.elapsed());
    // And the image is whole again.
    assert!(verify(&o, &VerifyOptions::default(), &mut |_, _| {})
        .unwrap()
        .ok());
}

fn loghub_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                std::fs::metadata(&p).unwrap().len()
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_costs_under_5_percent_of_the_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = VaultOptions::new(dir.path());
    o.ledger.as_mut().unwrap().checkpoint_interval = Duration::from_millis(200);
    o.ledger.as_mut().unwrap().history_interval = Duration::from_secs(1);
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    let mut lines_total = 0;
    for f in loghub_files() {
        let data = std::fs::read(&f).unwrap();
        let peer: Arc<str> = Arc::from(format!("file:{}", f.display()).as_str());
        let all: Vec<Bytes> = data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(Bytes::copy_from_slice)
            .collect();
        lines_total += all.len();
        for chunk in all.chunks(500) {
            vault
                .append(Transport::File, peer.clone(), chunk.to_vec())
                .await
                .unwrap();
        }
    }
    checkpoint_at(&vault, lines_total as u64).await;
    close(vault, workers).await;

    let catalog = pramaan_vault::catalog::SqliteCatalog::open_read_only(&o.catalog_path()).unwrap();
    use pramaan_vault::Catalog;
    let segments: u64 = catalog
        .segments(None, None)
        .unwrap()
        .iter()
        .map(|s| s.bytes)
        .sum();
    let history: u64 = catalog
        .checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.note.len() as u64 + 16)
        .sum();
    let tiles = dir_bytes(&dir.path().join("objects/tile"));
    let checkpoint = std::fs::metadata(dir.path().join("objects/checkpoint"))
        .unwrap()
        .len();
    let ledger = tiles + checkpoint + history;
    let ratio = ledger as f64 / segments as f64;
    eprintln!(
        "loghub: {lines_total} lines; segments {segments} B; ledger {ledger} B (tiles {tiles}, checkpoint {checkpoint}, \
         history {history}) = {:.2}% of the segment bytes",
        ratio * 100.0
    );
    assert!(
        ratio < 0.05,
        "the ledger is {:.2}% of the segment bytes",
        ratio * 100.0
    );

    let report = verify(
        &o,
        &VerifyOptions {
            deep: true,
            ..Default::default()
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.tree_size, lines_total as u64);
    eprintln!(
        "verify --deep: {} records, {} raw bytes in {:.2?} ({:.1} MB/s)",
        report.records_hashed,
        report.raw_bytes,
        report.elapsed,
        report.mb_per_s()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_tiles_and_the_checkpoint_recovers() {
    // Tiles of a 600-record tree in the store, the published checkpoint still
    // the 300-record one: what a crash between steps 1 and 2 leaves.
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.ledger.as_mut().unwrap().history_interval = Duration::from_secs(3600);
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    append(&vault, lines("one", 300)).await;
    let old = checkpoint_at(&vault, 300).await;
    let old_note = std::fs::read(dir.path().join("objects/checkpoint")).unwrap();
    let old_partial = std::fs::read(dir.path().join("objects/tile/1/000.p/1")).unwrap();
    append(&vault, lines("two", 300)).await;
    checkpoint_at(&vault, 600).await;
    let image = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), image.path());
    close(vault, workers).await;
    let _ = std::fs::remove_file(image.path().join("LOCK"));
    let mut io = o.clone();
    io.data_dir = image.path().to_owned();
    io.objects_dir = image.path().join("objects");
    io.catalog_path = image.path().join("catalog.db");
    io.ledger.as_mut().unwrap().key_file = image.path().join("ledger/node.key");
    std::fs::write(image.path().join("objects/checkpoint"), &old_note).unwrap();
    let key = vkey(image.path());
    for with_old_partial in [false, true] {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(image.path(), copy.path());
        let mut co = io.clone();
        co.data_dir = copy.path().to_owned();
        co.objects_dir = copy.path().join("objects");
        co.catalog_path = copy.path().join("catalog.db");
        co.ledger.as_mut().unwrap().key_file = copy.path().join("ledger/node.key");
        if with_old_partial {
            std::fs::write(copy.path().join("objects/tile/1/000.p/1"), &old_partial).unwrap();
        }
        let (vault, workers) = Vault::open(co.clone()).await.unwrap();
        let p = checkpoint_at(&vault, 600).await;
        let c = proofs::consistency(&vault, 600, 600).await.unwrap();
        assert!(c.proof.is_empty());
        let r = proofs::consistency(&vault, 300, 600).await.unwrap();
        verify_consistency(
            300,
            600,
            &old.root,
            &p.root,
            &decode_hashes(&r.proof).unwrap(),
        )
        .unwrap();
        check_inclusion(&proofs::inclusion(&vault, 450, None).await.unwrap(), &key);
        close(vault, workers).await;
        assert!(
            !copy.path().join("objects/tile/1/000.p/1").exists(),
            "the superseded partial tile is gone"
        );
        let report = verify(&co, &VerifyOptions::default(), &mut |_, _| {}).unwrap();
        assert!(report.ok(), "{:#?}", report.problems);
    }
}

/// Ingest rate with and without the ledger, for the lead's comparison (not a
/// pass/fail test): `cargo test --release -p pramaan-vault --test ledger --
/// --ignored --nocapture ledger_cost`. Lines are the loghub samples repeated;
/// fsync is off so the measure is CPU (the worst case for the ledger's share).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn ledger_cost_on_ingest() {
    let mut sample: Vec<Bytes> = Vec::new();
    for f in loghub_files() {
        let data = std::fs::read(&f).unwrap();
        sample.extend(
            data.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(Bytes::copy_from_slice),
        );
    }
    let target: usize = std::env::var("PRAMAAN_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600_000);
    let lines: Vec<Bytes> = sample.iter().cycle().take(target).cloned().collect();
    let raw: usize = lines.iter().map(|l| l.len()).sum();
    let mut results: Vec<(bool, f64, f64)> = Vec::new();
    for round in 0..6 {
        let with_ledger = round % 2 == 0;
        let dir = tempfile::tempdir().unwrap();
        let mut o = VaultOptions::new(dir.path());
        o.fsync = false;
        o.seal_max_rows = 10_000_000;
        o.seal_max_bytes = 1 << 40;
        o.seal_max_age = Duration::from_secs(3600);
        if with_ledger {
            o.ledger.as_mut().unwrap().checkpoint_interval = Duration::from_secs(1);
        } else {
            o.ledger = None;
        }
        let (vault, workers) = Vault::open(o).await.unwrap();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for part in lines.chunks(lines.len() / 4 + 1) {
            let (v, part) = (vault.clone(), part.to_vec());
            tasks.push(tokio::spawn(async move {
                for chunk in part.chunks(2000) {
                    v.append(Transport::Tcp, Arc::from("10.0.0.1:514"), chunk.to_vec())
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let _ = vault.snapshot().await; // indexed
        let ingest = start.elapsed().as_secs_f64();
        if with_ledger {
            vault.ledger().unwrap().options();
            checkpoint_at(&vault, lines.len() as u64).await;
        }
        let all = start.elapsed().as_secs_f64();
        results.push((
            with_ledger,
            lines.len() as f64 / ingest,
            lines.len() as f64 / all,
        ));
        eprintln!(
            "round {round}: ledger {with_ledger:5}: {:.0} lines/s acknowledged and indexed, {:.0} lines/s to the checkpoint ({:.1} MB raw)",
            lines.len() as f64 / ingest,
            lines.len() as f64 / all,
            raw as f64 / 1e6
        );
        close(vault, workers).await;
        if round == 4 {
            let o = VaultOptions::new(dir.path());
            for deep in [false, true] {
                let vo = VerifyOptions {
                    deep,
                    ..Default::default()
                };
                let o = o.clone();
                let r =
                    tokio::task::spawn_blocking(move || verify(&o, &vo, &mut |_, _| {}).unwrap())
                        .await
                        .unwrap();
                assert!(r.ok(), "{:#?}", r.problems);
                eprintln!(
                    "verify (deep={deep}): {} records, {:.1} MB raw in {:.2?}: {:.1} MB/s",
                    r.records_hashed,
                    r.raw_bytes as f64 / 1e6,
                    r.elapsed,
                    r.mb_per_s()
                );
            }
        }
    }
    let median = |on: bool| {
        let mut v: Vec<f64> = results.iter().filter(|r| r.0 == on).map(|r| r.1).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (on, off) = (median(true), median(false));
    eprintln!(
        "median: with the ledger {on:.0} lines/s, without {off:.0} lines/s: the ledger costs {:.1}% of the ingest rate",
        (1.0 - on / off) * 100.0
    );
}

/// A new vault signs its empty tree at once: from its first open on, a vault
/// with records always has a checkpoint (object or history), so records
/// without one can only mean the checkpoints were taken away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_vault_has_a_checkpoint_before_its_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    let note = std::fs::read_to_string(dir.path().join("objects/checkpoint")).unwrap();
    let (size, _) = open(&note, &vkey(dir.path()));
    assert_eq!(size, 0);
    append(&vault, lines("n", 10)).await;
    checkpoint_at(&vault, 10).await;
    close(vault, workers).await;
}

/// Deleting the checkpoint object and the history (after altering records,
/// say) does not get a freshly signed tree: every open refuses, naming what
/// is missing, until `ledger rebuild` is asked for, which is then recorded
/// in the ledger and kept in status for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_checkpoints_refuse_every_open_until_an_explicit_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    append(&vault, lines("m", 500)).await;
    checkpoint_at(&vault, 500).await;
    close(vault, workers).await;

    // Someone with the disk removes every checkpoint.
    std::fs::remove_file(dir.path().join("objects/checkpoint")).unwrap();
    rusqlite::Connection::open(dir.path().join("catalog.db"))
        .unwrap()
        .execute("DELETE FROM ledger_checkpoints", [])
        .unwrap();
    let missing = |err: String| {
        assert!(
            err.contains("objects/checkpoint")
                && err.contains("500 records")
                && err.contains("pramaan ledger rebuild"),
            "{err}"
        );
    };
    missing(
        Vault::open(opts(dir.path()))
            .await
            .err()
            .unwrap()
            .to_string(),
    );
    missing(
        Vault::open_read_only(opts(dir.path()))
            .err()
            .unwrap()
            .to_string(),
    );
    // Still refused: nothing was signed by the refused opens.
    assert!(!dir.path().join("objects/checkpoint").exists());

    let mut o = opts(dir.path());
    o.ledger_rebuild = Some(pramaan_vault::ledger::RebuildRequest {
        by: "alice".into(),
        reason: "checkpoint lost with the old disk; segments verified".into(),
    });
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    let rebuilds = vault.ledger().unwrap().rebuilds();
    assert_eq!(rebuilds.len(), 1, "{rebuilds:?}");
    assert_eq!(rebuilds[0].records, 500);
    assert_eq!(rebuilds[0].by, "alice");
    assert_eq!(rebuilds[0].seq, Some(500), "{rebuilds:?}");
    // The record saying so is in the ledger (an internal record of the ledger's own).
    assert_eq!(vault.committed(), 501);
    checkpoint_at(&vault, 501).await;
    close(vault, workers).await;

    // A checkpoint is there now: a second rebuild is refused, a plain open is fine,
    // and status shows the rebuild.
    let err = Vault::open(o).await.err().unwrap().to_string();
    assert!(err.contains("only replaces missing checkpoints"), "{err}");
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    let st = vault.ledger().unwrap().status(vault.committed());
    assert_eq!(st.rebuilds.len(), 1);
    assert!(st.rebuilds[0].reason.contains("old disk"));
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["rebuilds"][0]["by"], "alice", "{json}");
    let mut q = pramaan_vault::Query {
        internal: true,
        ..Default::default()
    };
    q.limit = 10;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    pramaan_vault::search::search(&vault, &q, tx).await.unwrap();
    let mut found = Vec::new();
    while let Some(b) = rx.recv().await {
        found.extend(pramaan_vault::search::hits(&b));
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let raw = found[0].raw.clone().unwrap_or_default();
    assert_eq!(found[0].peer, "pramaan:ledger");
    assert!(
        raw.contains("ledger.rebuilt") && raw.contains("alice"),
        "{raw}"
    );
    close(vault, workers).await;
    let ro = Vault::open_read_only(opts(dir.path())).unwrap();
    assert_eq!(ro.ledger().unwrap().rebuilds().len(), 1);
}

/// Two nodes given one store (here one objects directory, each with its own
/// catalog): the second is refused at open, the message naming the other
/// node's origin and its own, instead of sealing over the first's segments
/// and checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_another_node_writes_to_is_refused_naming_both() {
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = |dir: &Path, node: &str| {
        let mut o = VaultOptions::new(dir);
        o.objects_dir = shared.path().to_owned();
        if let Some(l) = o.ledger.as_mut() {
            l.origin = format!("example.in/{node}");
            l.checkpoint_interval = Duration::from_millis(50);
        }
        o
    };
    let (vault, workers) = Vault::open(opts(a.path(), "node-a")).await.unwrap();
    vault
        .append(
            Transport::Http,
            Arc::from("127.0.0.1:1"),
            vec![Bytes::from("one line")],
        )
        .await
        .unwrap();
    vault.seal_now();
    assert!(vault.wait_sealed(Duration::from_secs(30)).await);
    vault.shutdown(workers).await;
    let e = Vault::open(opts(b.path(), "node-b"))
        .await
        .err()
        .expect("a store another node writes to must be refused")
        .to_string();
    assert!(
        e.contains("it is the checkpoint of `example.in/node-a`, not of this node (`example.in/node-b`): another node writes to this store"),
        "{e}"
    );
    // The first node's own evidence is untouched: it opens again.
    let (vault, workers) = Vault::open(opts(a.path(), "node-a")).await.unwrap();
    assert_eq!(vault.sealed_through(), Some(0));
    vault.shutdown(workers).await;
}
