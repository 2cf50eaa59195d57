//! Compaction: sealed segments rewritten smaller, with every record, every
//! search result and every proof unchanged, and safe at each crash point.

mod common;
use bytes::Bytes;
use common::{all, copy_dir};
use pramaan_core::Transport;
use pramaan_vault::compact::{compacted_path, CompactOptions, Compacted};
use pramaan_vault::ledger::verify::{verify, VerifyOptions};
use pramaan_vault::search::Hit;
use pramaan_vault::{Query, SegmentMeta, Vault, VaultOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn opts(dir: &Path) -> VaultOptions {
    let mut o = VaultOptions::new(dir);
    o.seal_max_rows = 1500;
    o
}

fn level19() -> CompactOptions {
    CompactOptions {
        level: 19,
        page_bytes: 8 << 20,
        after: Duration::ZERO,
    }
}

/// Real lines: 400 from each loghub file, so that the segments compress as logs do.
fn loghub_lines() -> Vec<Bytes> {
    let dir = std::env::var_os("PRAMAAN_LOGHUB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub")
        });
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("loghub samples at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        out.extend(
            data.split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.is_empty())
                .take(400)
                .map(Bytes::copy_from_slice),
        );
    }
    out
}

fn everything() -> Query {
    Query {
        limit: 0,
        ..Default::default()
    }
}

async fn filled(dir: &Path) -> (Vault, pramaan_vault::Workers, Vec<Hit>) {
    let (vault, workers) = Vault::open(opts(dir)).await.unwrap();
    for chunk in loghub_lines().chunks(1000) {
        vault
            .append(Transport::Tcp, Arc::from("127.0.0.1:5"), chunk.to_vec())
            .await
            .unwrap();
    }
    vault.seal_now();
    let ok = vault.wait_sealed(Duration::from_secs(10)).await;
    assert!(
        ok,
        "committed {} sealed {:?} seal errors {:?} mem {:?}",
        vault.committed(),
        vault.sealed_through(),
        vault.stats().seal_errors,
        vault.memtable_size()
    );
    let before = all(&vault, everything()).await;
    (vault, workers, before)
}

async fn compact(vault: &Vault, o: CompactOptions) -> Vec<Compacted> {
    let v = vault.clone();
    tokio::task::spawn_blocking(move || {
        let handle = tokio::runtime::Handle::current();
        v.compact_due(
            &handle,
            &o,
            pramaan_core::time::now_ns(),
            &|| false,
            &mut |_, _, _| {},
        )
    })
    .await
    .unwrap()
    .unwrap()
}

fn object(o: &VaultOptions, seg: &SegmentMeta) -> PathBuf {
    o.objects_dir().join(&seg.path)
}

fn verify_clean(o: &VaultOptions, records: u64) {
    let deep = VerifyOptions {
        deep: true,
        ..VerifyOptions::default()
    };
    let report = verify(o, &deep, &mut |_, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.records_hashed >= records, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_shrinks_segments_and_changes_no_record_result_or_proof() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let (vault, workers, before) = filled(dir.path()).await;
    let sealed = vault.segments_now();
    assert!(sealed.len() >= 3, "{} segments", sealed.len());
    let ip_before = all(
        &vault,
        Query {
            ip: Some("5.188.10.180".parse().unwrap()),
            limit: 0,
            ..Default::default()
        },
    )
    .await;
    assert!(!ip_before.is_empty(), "the OpenSSH lines name this address");

    let done = compact(&vault, level19()).await;
    assert_eq!(done.len(), sealed.len());
    let old: u64 = done.iter().map(|c| c.old_bytes).sum();
    let new: u64 = done.iter().map(|c| c.new_bytes).sum();
    assert!(new < old, "compacted {new} bytes, sealed {old}");
    for (c, s) in done.iter().zip(sealed.iter()) {
        assert!(c.old_deleted);
        assert_eq!(c.new_path, compacted_path(&s.path, 19));
        assert!(!object(&o, s).exists(), "{} is still there", s.path);
    }
    // What searches see now is the rewrite, with the same answers.
    let now = vault.segments_now();
    assert!(now.iter().all(|s| s.path.ends_with(".z19.parquet")));
    assert_eq!(all(&vault, everything()).await, before);
    let ip_after = all(
        &vault,
        Query {
            ip: Some("5.188.10.180".parse().unwrap()),
            limit: 0,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ip_after, ip_before);
    let snap = vault.snapshot().await;
    let b = pramaan_vault::sql::run(&vault, "SELECT count(*) AS n FROM logs")
        .await
        .unwrap();
    let text = pramaan_vault::sql::pretty(&b);
    assert!(text.contains(&format!("| {} |", before.len())), "{text}");
    drop(snap);
    // Nothing is left to do at that level; a higher one would rewrite again.
    assert!(vault
        .compaction_candidates(&level19(), pramaan_core::time::now_ns())
        .unwrap()
        .is_empty());
    vault.shutdown(workers).await;

    // After a restart: the catalog kept the new objects; verify (deep) passes.
    verify_clean(&o, before.len() as u64);
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    assert_eq!(vault.segments_now(), now);
    assert_eq!(all(&vault, everything()).await, before);
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_either_step_leaves_one_object_per_segment_and_verify_passes() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let (vault, workers, before) = filled(dir.path()).await;
    let sealed = vault.segments_now();
    let first = sealed[0].clone();
    let old_bytes = std::fs::read(object(&o, &first)).unwrap();
    // Step 1: the rewrite is written but the catalog not switched. (Its
    // content does not matter: no catalog row names it.)
    let image1 = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), image1.path());
    let o1 = opts(image1.path());
    let stray = o1.objects_dir().join(compacted_path(&first.path, 19));
    std::fs::write(&stray, b"half a parquet file").unwrap();

    let done = compact(&vault, level19()).await;
    assert_eq!(done.len(), sealed.len());
    vault.shutdown(workers).await;
    // Step 2: the catalog is switched but the old object not yet deleted.
    let image2 = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), image2.path());
    let o2 = opts(image2.path());
    std::fs::write(o2.objects_dir().join(&first.path), &old_bytes).unwrap();

    for (o, stray) in [
        (o1, stray),
        (o2.clone(), o2.objects_dir().join(&first.path)),
    ] {
        let (vault, workers) = Vault::open(o.clone()).await.unwrap();
        assert!(!stray.exists(), "{} survived the restart", stray.display());
        assert_eq!(all(&vault, everything()).await, before);
        vault.shutdown(workers).await;
        verify_clean(&o, before.len() as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_started_before_the_switch_keeps_its_object_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let (vault, workers, _) = filled(dir.path()).await;
    let seg = vault.segments_now()[0].clone();
    let reading = vault.snapshot().await;
    let v = vault.clone();
    let s = seg.clone();
    let job = tokio::task::spawn_blocking(move || {
        let handle = tokio::runtime::Handle::current();
        v.compact_segment(&handle, &level19(), &s, &|| false)
    });
    // The switch happens, but the old object stays while the snapshot lives.
    let new_path = compacted_path(&seg.path, 19);
    for _ in 0..600 {
        if vault.segments_now()[0].path == new_path {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(vault.segments_now()[0].path, new_path);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(object(&o, &seg).exists(), "deleted under a running search");
    assert_eq!(reading.segments[0].path, seg.path);
    drop(reading);
    let done = job.await.unwrap().unwrap().unwrap();
    assert!(done.old_deleted);
    assert!(!object(&o, &seg).exists());
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_segment_is_not_rewritten_so_verify_still_sees_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path());
    let (vault, workers, _) = filled(dir.path()).await;
    let seg = vault.segments_now()[0].clone();
    let file = object(&o, &seg);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let v = vault.clone();
    let s = seg.clone();
    let err = tokio::task::spawn_blocking(move || {
        let handle = tokio::runtime::Handle::current();
        v.compact_segment(&handle, &level19(), &s, &|| false)
    })
    .await
    .unwrap()
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&seg.path) && msg.contains("not compacted"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(vault.segments_now()[0], seg);
    vault.shutdown(workers).await;
    let report = verify(&o, &VerifyOptions::default(), &mut |_, _| {}).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains(&seg.path)),
        "{:?}",
        report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_thread_compacts_sealed_segments_and_stops_with_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.compact = level19();
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    let lines = loghub_lines();
    vault
        .append(
            Transport::Tcp,
            Arc::from("127.0.0.1:5"),
            lines[..2000].to_vec(),
        )
        .await
        .unwrap();
    vault.seal_now();
    assert!(vault.wait_sealed(Duration::from_secs(60)).await);
    let mut compacted = false;
    for _ in 0..1200 {
        let segs = vault.segments_now();
        if !segs.is_empty() && segs.iter().all(|s| s.path.ends_with(".z19.parquet")) {
            compacted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(compacted, "{:?}", vault.segments_now());
    assert_eq!(all(&vault, everything()).await.len(), 2000);
    let t = std::time::Instant::now();
    vault.shutdown(workers).await;
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    verify_clean(&o, 2000);
}
