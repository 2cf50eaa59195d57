//! SQL is read-only and bounded (`pramaan_vault::sql`): statements that
//! write or read files are refused before they touch anything, no answer
//! shows the data directory's path, and a query ends at its deadline, its
//! memory pool, its result caps or the vault's shutdown, with an error that
//! names the limit.

use bytes::Bytes;
use pramaan_core::Transport;
use pramaan_vault::sql::{self, SqlError, SqlOptions};
use pramaan_vault::{Vault, VaultError, VaultOptions, Workers};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn opts(dir: &Path, sql: SqlOptions) -> VaultOptions {
    let mut o = VaultOptions::new(dir.join("data"));
    o.seal_max_rows = 100;
    o.sql = sql;
    o
}

/// A vault with `n` lines, all sealed into segments.
async fn vault_with(dir: &Path, n: usize, sql: SqlOptions) -> (Vault, Workers) {
    let (vault, workers) = Vault::open(opts(dir, sql)).await.unwrap();
    let lines = (0..n)
        .map(|i| {
            Bytes::from(format!(
                "<13>1 - fw-1 app - - - line {i} from 10.0.0.{}",
                i % 250
            ))
        })
        .collect();
    vault
        .append(Transport::Http, Arc::from("127.0.0.1:1"), lines)
        .await
        .unwrap();
    vault.seal_now();
    assert!(vault.wait_sealed(Duration::from_secs(60)).await);
    (vault, workers)
}

fn refused(r: Result<Vec<arrow::array::RecordBatch>, VaultError>) -> SqlError {
    match r {
        Err(VaultError::Sql(e)) => e,
        Err(e) => panic!("not a SQL error: {e}"),
        Ok(b) => panic!("answered: {}", sql::pretty(&b)),
    }
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_write_or_read_files_are_refused_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = vault_with(dir.path(), 300, SqlOptions::default()).await;
    let objects = vault.options().objects_dir();
    let before = files(&objects);
    let segment = &before[0].0;
    let outside = dir.path().join("written-by-sql.csv");
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "hunter2,other\n1,2\n").unwrap();
    let writes = [
        format!(
            "COPY (SELECT text(raw) FROM logs) TO '{}' STORED AS CSV",
            outside.display()
        ),
        format!(
            "COPY (SELECT * FROM logs LIMIT 1) TO '{}' STORED AS PARQUET",
            segment.display()
        ),
        format!(
            "EXPLAIN ANALYZE COPY (SELECT 1) TO '{}' STORED AS CSV",
            outside.display()
        ),
        "CREATE TABLE copy AS SELECT * FROM logs".into(),
        "CREATE VIEW v AS SELECT 1".into(),
        "INSERT INTO logs SELECT * FROM logs".into(),
        "DROP VIEW logs".into(),
        "SET datafusion.execution.target_partitions = 1".into(),
        "SELECT 1; DROP VIEW logs".into(),
    ];
    for q in &writes {
        let e = refused(sql::run(&vault, q).await);
        assert!(matches!(e, SqlError::NotReadOnly(_)), "{q}: {e:?}");
    }
    assert!(!outside.exists(), "COPY wrote {}", outside.display());
    assert_eq!(files(&objects), before, "a segment changed");
    // `logs` is still there and whole.
    let n = sql::pretty(
        &sql::run(&vault, "SELECT count(*) AS n FROM logs")
            .await
            .unwrap(),
    );
    assert!(n.contains("| 300 |"), "{n}");

    // A table over a file by name: refused whatever the file holds, so
    // the answer tells nothing about it (it was an oracle of its first line).
    let mut answers = Vec::new();
    for guess in ["hunter2", "nothing"] {
        let q = format!(
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}' WITH ORDER ({guess}) OPTIONS ('format.has_header' 'true')",
            secret.display()
        );
        let e = refused(sql::run(&vault, &q).await);
        assert!(matches!(e, SqlError::NotReadOnly(_)), "{e:?}");
        answers.push(e.to_string());
    }
    assert_eq!(answers[0], answers[1]);
    for q in [
        format!("SELECT * FROM '{}'", secret.display()),
        format!("SELECT * FROM read_csv('{}')", secret.display()),
    ] {
        let e = refused(sql::run(&vault, &q).await).to_string();
        assert!(!e.contains("hunter2"), "{q}: {e}");
    }
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_shows_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = vault_with(dir.path(), 300, SqlOptions::default()).await;
    let data = std::fs::canonicalize(&vault.options().data_dir).unwrap();
    let data = data.to_string_lossy();
    let data = data.trim_start_matches('/');
    for q in [
        "EXPLAIN SELECT * FROM logs WHERE seq > 3",
        "EXPLAIN VERBOSE SELECT count(*) FROM logs",
        "EXPLAIN ANALYZE SELECT count(*) FROM logs",
    ] {
        let text = sql::pretty(&sql::run(&vault, q).await.unwrap());
        assert!(!text.contains(data), "{q}:\n{text}");
        // Segments are named by their key in the vault's store, nothing more.
        assert!(text.contains(" segments/20"), "{q}:\n{text}");
    }
    // A damaged segment: the error names no path either.
    let seg = vault.segments_now()[0].path.clone();
    std::fs::write(vault.options().objects_dir().join(&seg), b"not parquet").unwrap();
    let e = refused(sql::run(&vault, "SELECT count(*) FROM logs WHERE length(raw) > 0").await);
    let e = e.to_string();
    assert!(!e.contains(data), "{e}");
    vault.shutdown(workers).await;
}

/// Trillions of rows, never more than one table's worth held in memory.
const CROSS_JOIN: &str = "SELECT count(*) FROM logs a CROSS JOIN (logs b CROSS JOIN (logs c \
     CROSS JOIN (logs d CROSS JOIN logs e))) WHERE a.seq + b.seq + c.seq + d.seq + e.seq >= 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_ends_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SqlOptions {
        timeout: Duration::from_secs(2),
        ..SqlOptions::default()
    };
    let (vault, workers) = vault_with(dir.path(), 300, limits).await;
    match refused(sql::run(&vault, CROSS_JOIN).await) {
        SqlError::Timeout(t) => assert_eq!(t, Duration::from_secs(2)),
        e => panic!("{e:?}"),
    }
    // The vault still answers.
    let n = sql::pretty(
        &sql::run(&vault, "SELECT count(*) AS n FROM logs")
            .await
            .unwrap(),
    );
    assert!(n.contains("| 300 |"), "{n}");
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_reads_ends_a_running_query() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SqlOptions {
        timeout: Duration::from_secs(3600),
        ..SqlOptions::default()
    };
    let (vault, workers) = vault_with(dir.path(), 300, limits).await;
    let v = vault.clone();
    let running = tokio::spawn(async move { sql::run(&v, CROSS_JOIN).await });
    // Once it runs (it would for an hour), the shutdown's stop ends it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    vault.stop_reads();
    let e = refused(running.await.unwrap());
    assert!(matches!(e, SqlError::Stopped), "{e:?}");
    let e = refused(sql::run(&vault, "SELECT 1").await);
    assert!(matches!(e, SqlError::Stopped), "{e:?}");
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_memory_are_capped_with_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SqlOptions {
        max_result_rows: 50,
        max_result_bytes: 1 << 10,
        memory_limit: 1 << 20,
        ..SqlOptions::default()
    };
    let (vault, workers) = vault_with(dir.path(), 300, limits).await;
    let rows = refused(sql::run(&vault, "SELECT seq FROM logs").await);
    assert!(matches!(rows, SqlError::TooManyRows(50)), "{rows:?}");
    assert!(rows.to_string().contains("sql.max_result_rows"), "{rows}");
    let bytes = refused(sql::run(&vault, "SELECT raw FROM logs LIMIT 50").await);
    assert!(matches!(bytes, SqlError::TooManyBytes(_)), "{bytes:?}");
    assert!(
        bytes.to_string().contains("sql.max_result_bytes"),
        "{bytes}"
    );
    // Under both caps, the whole answer.
    let ok = sql::run(&vault, "SELECT seq FROM logs ORDER BY seq LIMIT 50")
        .await
        .unwrap();
    assert_eq!(ok.iter().map(|b| b.num_rows()).sum::<usize>(), 50);
    // A sort that needs more than the pool (and may not spill to disk).
    let mem = refused(
        sql::run(
            &vault,
            "SELECT a.raw, b.raw FROM logs a, logs b ORDER BY a.raw, b.raw",
        )
        .await,
    );
    assert!(matches!(mem, SqlError::Memory(_)), "{mem:?}");
    assert!(mem.to_string().contains("sql.memory_limit"), "{mem}");
    vault.shutdown(workers).await;
}
