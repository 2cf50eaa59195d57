//! Every sealed segment says its version (`pramaan.segment_version` in its
//! Parquet key-value metadata), and a segment of a newer version than this
//! binary knows is refused by the readers, naming the segment and both
//! versions.

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use pramaan_core::Transport;
use pramaan_vault::catalog::SqliteCatalog;
use pramaan_vault::ledger::verify::{verify, VerifyOptions};
use pramaan_vault::segment::{VERSION, VERSION_KEY};
use pramaan_vault::{Catalog, Query, SegmentMeta, Vault, VaultOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn opts(dir: &Path) -> VaultOptions {
    let mut o = VaultOptions::new(dir.join("data"));
    o.seal_max_rows = 100;
    o
}

/// Replaces a sealed segment's object, its catalog row following (as a
/// release that wrote it so would have recorded it).
fn replace_object(dir: &Path, seg: &SegmentMeta, bytes: &[u8]) {
    let o = opts(dir);
    std::fs::write(o.objects_dir().join(&seg.path), bytes).unwrap();
    let c = SqliteCatalog::open(&o.catalog_path()).unwrap();
    let sha = pramaan_vault::segment::sha256_hex(bytes);
    assert!(c
        .switch_object(seg.id, &seg.path, &seg.path, bytes.len() as u64, &sha, 0)
        .unwrap());
}

fn version_in(bytes: &Bytes) -> Option<String> {
    let b = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    b.metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == VERSION_KEY))
        .and_then(|k| k.value.clone())
}

/// The same rows, the footer saying `version`.
fn rewritten(bytes: Bytes, version: &str) -> Vec<u8> {
    let b = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let schema = Arc::new(
        b.schema()
            .as_ref()
            .clone()
            .with_metadata(Default::default()),
    );
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            VERSION_KEY.into(),
            version.to_string(),
        )]))
        .build();
    let mut w = ArrowWriter::try_new(Vec::new(), schema, Some(props)).unwrap();
    for batch in b.build().unwrap() {
        w.write(&batch.unwrap()).unwrap();
    }
    w.into_inner().unwrap()
}

/// A vault in `dir` holding `n` lines in one sealed segment, closed again.
async fn one_sealed_segment(dir: &std::path::Path, n: usize) -> pramaan_vault::SegmentMeta {
    let (vault, workers) = Vault::open(opts(dir)).await.unwrap();
    let lines = (0..n)
        .map(|i| Bytes::from(format!("<13>1 - fw-1 app - - - line {i}")))
        .collect();
    vault
        .append(Transport::Http, Arc::from("127.0.0.1:1"), lines)
        .await
        .unwrap();
    vault.seal_now();
    assert!(vault.wait_sealed(Duration::from_secs(60)).await);
    let seg = vault.segments_now()[0].clone();
    vault.shutdown(workers).await;
    seg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_newer_than_the_binary_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let seg = one_sealed_segment(dir.path(), 150).await;
    let first = seg.path.clone();

    let file = opts(dir.path()).objects_dir().join(&first);
    let bytes = Bytes::from(std::fs::read(&file).unwrap());
    assert_eq!(
        version_in(&bytes),
        Some(VERSION.to_string()),
        "sealed segments say their version"
    );
    replace_object(
        dir.path(),
        &seg,
        &rewritten(bytes, &(VERSION + 1).to_string()),
    );

    let vault = Vault::open_read_only(opts(dir.path())).unwrap();
    let q = Query {
        text: Some("line 5".into()),
        limit: 10,
        ..Default::default()
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let e = pramaan_vault::search::search(&vault, &q, tx)
        .await
        .expect_err("a search read a segment of a newer version")
        .to_string();
    let want = format!("segment {first} is of segment version {}", VERSION + 1);
    assert!(
        e.contains(&want) && e.contains(&format!("up to {VERSION}")),
        "{e}"
    );

    let report = verify(&opts(dir.path()), &VerifyOptions::default(), &mut |_, _| {}).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.place == format!("segment {first}") && p.what.contains(&want)),
        "{:?}",
        report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_without_a_version_reads_as_version_0() {
    let dir = tempfile::tempdir().unwrap();
    let seg = one_sealed_segment(dir.path(), 50).await;
    // As the releases before versions wrote it: no key.
    let file = opts(dir.path()).objects_dir().join(&seg.path);
    let bytes = Bytes::from(std::fs::read(&file).unwrap());
    let b = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let schema = Arc::new(
        b.schema()
            .as_ref()
            .clone()
            .with_metadata(Default::default()),
    );
    let mut w = ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
    for batch in b.build().unwrap() {
        w.write(&batch.unwrap()).unwrap();
    }
    let old = Bytes::from(w.into_inner().unwrap());
    assert_eq!(version_in(&old), None);
    replace_object(dir.path(), &seg, &old);
    let vault = Vault::open_read_only(opts(dir.path())).unwrap();
    let q = Query {
        text: Some("line 7".into()),
        limit: 10,
        ..Default::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    pramaan_vault::search::search(&vault, &q, tx).await.unwrap();
    let mut hits = 0;
    while let Some(b) = rx.recv().await {
        hits += b.num_rows();
    }
    assert_eq!(hits, 1);
}
