//! The vault's catalog in PostgreSQL (`catalog.url = "postgres://..."`), as
//! a user runs it: `serve` on the real PostgreSQL at 127.0.0.1:5432 (a fresh
//! `catalog.schema` per test, dropped after), lines in over HTTP, sealed;
//! then search, SQL, an inclusion proof, a legal hold and a retention run
//! through the server, and `verify` on the data directory once it stopped.
//! The rows are read back from PostgreSQL with a query of our own, and no
//! `catalog.db` is made. PostgreSQL unreachable: `serve` refuses to start,
//! naming the URL without its password.

mod support;

use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

#[test]
fn serve_search_sql_proofs_holds_retention_and_verify_on_a_postgres_catalog() {
    // Made before the server, so that a failure below still drops it.
    let cleanup = PgSchema::fresh("pgcat");
    let schema = cleanup.0.clone();
    let env = [
        ("PRAMAAN_CATALOG_URL", PG_URL),
        ("PRAMAAN_CATALOG_SCHEMA", schema.as_str()),
        ("PRAMAAN_SEGMENTS_MAX_ROWS", "100"),
        ("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "200ms"),
        ("PRAMAAN_LEDGER_HISTORY_INTERVAL", "1s"),
    ];
    let mut server = Server::start_with(&env);
    let url = server.url();
    let tag = unique("pgline");
    let lines: Vec<String> = (0..250)
        .map(|i| format!("<14>1 - fw-1 app - - - {tag} {i} from 10.0.0.{}", i % 200))
        .collect();
    server.ingest_lines(&lines);
    let sealed = |min: i64| {
        wait_until(T, "the lines sealed into PostgreSQL's catalog", || {
            let r = &pg_query(&format!(
                "SELECT COALESCE(SUM(rows), 0)::BIGINT FROM {schema}.segments"
            ))[0];
            let n: i64 = r.get(0);
            (n >= min).then_some(n)
        })
    };
    sealed(200);
    let dir = server.dir.path().to_owned();
    let d = server.data_dir();
    let data = d.to_str().unwrap();

    let o = ok(cmd_env(
        &dir,
        &env,
        &[
            "search", "--server", &url, "--format", "json", "--limit", "0", &tag,
        ],
    ));
    let got: Vec<String> = parse_hits(&o.stdout).iter().map(Hit::raw_text).collect();
    assert_eq!(got, lines);
    let o = ok(cmd_env(
        &dir,
        &env,
        &[
            "sql",
            "--server",
            &url,
            "--json",
            &format!("SELECT count(*) AS n FROM logs WHERE text(raw) LIKE '%{tag}%'"),
        ],
    ));
    assert!(o.stdout().contains("250"), "{o:?}");
    let o = ok(cmd_env(
        &dir,
        &env,
        &[
            "--data-dir",
            data,
            "proof",
            "inclusion",
            "--seq",
            "42",
            "--server",
            &url,
        ],
    ));
    assert!(o.stdout().contains("OK: record 42 is in the tree"), "{o:?}");

    // A legal hold, then a retention run: nothing is due, the hold is kept.
    let o = ok(cmd_env(
        &dir,
        &env,
        &[
            "--data-dir",
            data,
            "hold",
            "add",
            "--server",
            &url,
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-02",
            "--source",
            "fw-*",
            "--reason",
            "Incident 42",
            "--order-ref",
            "CERT-In/2026/17",
        ],
    ));
    assert!(o.stdout().contains("hold #1"), "{o:?}");
    ok(cmd_env(
        &dir,
        &env,
        &["--data-dir", data, "retention", "run", "--server", &url],
    ));
    let holds = pg_query(&format!(
        "SELECT reason, order_ref, released_at_ns IS NULL FROM {schema}.holds"
    ));
    assert_eq!(holds.len(), 1);
    assert_eq!(
        (
            holds[0].get::<_, String>(0),
            holds[0].get::<_, String>(1),
            holds[0].get::<_, bool>(2)
        ),
        ("Incident 42".into(), "CERT-In/2026/17".into(), true)
    );
    let runs = pg_query(&format!(
        "SELECT COUNT(*)::BIGINT FROM {schema}.retention_runs WHERE finished_at_ns IS NOT NULL"
    ));
    assert!(runs[0].get::<_, i64>(0) >= 1);
    let checkpoints = pg_query(&format!(
        "SELECT COUNT(*)::BIGINT FROM {schema}.ledger_checkpoints"
    ));
    assert!(checkpoints[0].get::<_, i64>(0) >= 1);
    let version = pg_query(&format!(
        "SELECT version FROM {schema}.pramaan_schema WHERE component = 'catalog'"
    ));
    assert_eq!(version[0].get::<_, i32>(0), 1);
    // The status names the catalog in use (the server, never a password).
    let st = server.status();
    assert_eq!(
        st["store"]["catalog"],
        format!("postgres://postgres@127.0.0.1:5432/test (schema {schema})"),
        "{st}"
    );

    let stopped = server.stop();
    assert!(stopped.success(), "{}", server.stderr());
    assert!(!d.join("catalog.db").exists(), "an SQLite catalog was made");
    let o = ok(cmd_env(&dir, &env, &["--data-dir", data, "verify"]));
    assert!(o.stdout().contains("OK"), "{o:?}");
}

#[test]
fn postgres_unreachable_at_start_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let o = cmd_env(
        dir.path(),
        &[
            (
                "PRAMAAN_CATALOG_URL",
                "postgres://pramaan:s3cretpw@127.0.0.1:1/test",
            ),
            ("PRAMAAN_CLOCK_ENABLED", "false"),
            ("PRAMAAN_ALERTS_ENABLED", "false"),
        ],
        &[
            "serve",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--http-listen",
            "127.0.0.1:0",
            "--syslog-udp-listen",
            "off",
            "--syslog-tcp-listen",
            "off",
        ],
    );
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains("postgres://pramaan@127.0.0.1:1/test"),
        "{o:?}"
    );
    assert!(o.stderr.contains("cannot connect"), "{o:?}");
    assert!(!o.stderr.contains("s3cretpw"), "{o:?}");
    assert!(!o.stderr.contains("panicked"), "{o:?}");
}
