//! The vault on a PostgreSQL catalog (`catalog.url = "postgres://..."`):
//! sealing writes its rows there (and no `catalog.db`), a restart reads
//! them back, and a segment object whose row never committed (a crash
//! between the put and the insert) is removed at the next start, its
//! records sealed again from the WAL. Needs PostgreSQL on 127.0.0.1:5432.

mod common;
use bytes::Bytes;
use common::all;
use pramaan_core::Transport;
use pramaan_vault::catalog::{PgCatalog, PgLocation};
use pramaan_vault::{Query, Vault, VaultOptions};
use std::sync::Arc;
use std::time::Duration;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn lines(n: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            Bytes::from(format!(
                "pg line {i} from 10.0.0.{} user=u{}",
                i % 250,
                i % 7
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_on_postgres_seals_there_and_removes_orphans_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let at = PgLocation {
        url: PG_URL.into(),
        schema: format!(
            "cat_vault_{}_{}",
            std::process::id(),
            pramaan_core::time::now_ns() % 1_000_000
        ),
    };
    let mut o = VaultOptions::new(dir.path());
    o.seal_max_rows = 100;
    o.catalog_postgres = Some(at.clone());
    let (vault, workers) = Vault::open(o.clone()).await.expect(
        "PostgreSQL on 127.0.0.1:5432 (user postgres, trust, database test) must be running",
    );
    vault
        .append(Transport::Http, Arc::from("127.0.0.1:1"), lines(250))
        .await
        .unwrap();
    vault.seal_now();
    assert!(vault.wait_sealed(Duration::from_secs(60)).await);
    vault.shutdown(workers).await;

    // The rows are in PostgreSQL, and no SQLite catalog was made.
    let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let r = client
        .query_one(
            &format!(
                "SELECT COUNT(*), SUM(rows)::BIGINT, MAX(seq_max) FROM {}.segments",
                at.schema
            ),
            &[],
        )
        .await
        .unwrap();
    let (segments, rows, last): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
    assert!(segments >= 2, "{segments} segments");
    assert_eq!((rows, last), (250, 249));
    assert!(!dir.path().join("catalog.db").exists());

    // An object no row names: a seal that crashed between put and insert.
    let orphan = dir
        .path()
        .join("objects/segments/2026/01/01/00/00000000000000000250-00000000000000000299.parquet");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"PAR1 torn").unwrap();
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    assert!(!orphan.exists(), "the orphan was not removed");
    let got = all(
        &vault,
        Query {
            limit: 0,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        got.iter().map(|h| h.seq).collect::<Vec<_>>(),
        (0..250).collect::<Vec<_>>()
    );
    assert_eq!(
        vault.catalog().segments(None, None).unwrap().len() as i64,
        segments
    );
    vault.shutdown(workers).await;

    // Read-only beside no server: the same rows.
    let ro = Vault::open_read_only(o).unwrap();
    assert_eq!(ro.sealed_through(), Some(249));
    drop(ro);
    PgCatalog::open(&at).unwrap().drop_schema().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_one_catalog_schema_is_refused_naming_the_first() {
    let at = PgLocation {
        url: PG_URL.into(),
        schema: format!(
            "cat_lease_{}_{}",
            std::process::id(),
            pramaan_core::time::now_ns() % 1_000_000
        ),
    };
    let opts = |dir: &std::path::Path, node: &str| {
        let mut o = VaultOptions::new(dir);
        o.catalog_postgres = Some(at.clone());
        if let Some(l) = o.ledger.as_mut() {
            l.origin = format!("example.in/{node}");
        }
        o
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (vault, workers) = Vault::open(opts(a.path(), "node-a")).await.expect(
        "PostgreSQL on 127.0.0.1:5432 (user postgres, trust, database test) must be running",
    );
    // Another data directory (another machine) on the same schema: refused
    // before it recovers anything, naming who writes there.
    let e = Vault::open(opts(b.path(), "node-b"))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!(
            "catalog schema {} is in use by pramaan writer example.in/node-a pid {}",
            at.schema,
            std::process::id()
        )),
        "{e}"
    );
    assert!(e.contains("give each node its own catalog.schema"), "{e}");
    // Read-only readers (verify, proofs) are not writers.
    drop(Vault::open_read_only(opts(b.path(), "node-b")).unwrap());
    // Once it is closed, the lock is free: it opens again at once.
    vault.shutdown(workers).await;
    let (vault, workers) = Vault::open(opts(a.path(), "node-a")).await.unwrap();
    vault.shutdown(workers).await;
    PgCatalog::open(&at).unwrap().drop_schema().unwrap();
}
