//! The vault's catalog in PostgreSQL (`catalog.url = "postgres://..."`), as
//! a user runs it: `serve` on the real PostgreSQL at 127.0.0.1:5432 (a fresh
//! `catalog.schema` per test, dropped after), lines in over HTTP, sealed;
//! then search, SQL, an inclusion proof, a legal hold and a retention run
//! through the server, and `verify` on the data directory once it stopped.
//! The rows are read back from PostgreSQL with a query of our own, and no
//! `catalog.db` is made. PostgreSQL unreachable: `serve` refuses to start,
//! naming the URL without its password. PostgreSQL restarted, then stopped
//! and started, while lines come in (a cluster of the test's own): every
//! line is acknowledged, sealed once the catalog is back, and verified.

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

/// A PostgreSQL cluster of the test's own (initdb into a temporary
/// directory, loopback only, trust), so that restarting it disturbs no
/// other test; stopped when dropped.
struct OwnPostgres {
    _dir: tempfile::TempDir,
    /// The cluster's directory (owned by `postgres`).
    data: String,
    bin: std::path::PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path().join("bin")).find(|b| b.join("initdb").exists()))
            .expect("PostgreSQL's server programs (/usr/lib/postgresql/*/bin/initdb) are needed: the machine's PostgreSQL provides them");
        let dir = tempfile::tempdir().unwrap();
        // The server runs as `postgres` (it refuses root): its directory is its own.
        std::process::Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .unwrap();
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).unwrap();
        let st = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&data)
            .status()
            .unwrap();
        assert!(st.success(), "chown postgres {}", data.display());
        let pg = OwnPostgres {
            data: data.to_string_lossy().into_owned(),
            _dir: dir,
            bin,
            port: free_port(),
        };
        pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.ctl(&["start"]);
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let o = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("runuser {program}: {e}"));
        assert!(
            o.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `pg_ctl start|stop|restart`, waiting for it to finish.
    fn ctl(&self, what: &[&str]) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port, &self.data
        );
        let log = format!("{}/server.log", &self.data);
        let mut args = vec!["-D", &self.data, "-w", "-l", &log, "-o", &opts];
        args.extend_from_slice(what);
        self.as_postgres("pg_ctl", &args);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data, "-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn a_postgres_restart_under_load_loses_nothing() {
    let pg = OwnPostgres::start();
    let url = pg.url();
    let env = [
        ("PRAMAAN_CATALOG_URL", url.as_str()),
        ("PRAMAAN_SEGMENTS_MAX_ROWS", "100"),
        ("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "200ms"),
        ("PRAMAAN_LEDGER_HISTORY_INTERVAL", "1s"),
    ];
    let mut server = Server::start_with(&env);
    let tag = unique("pgrestart");
    let batch = |k: usize| -> Vec<String> {
        (0..100)
            .map(|i| format!("<14>1 - fw-1 app - - - {tag} {k}-{i} from 10.1.{k}.{i}"))
            .collect()
    };
    // Lines go in while PostgreSQL is restarted (fast: connections are
    // cut), then stopped for a while and started again: every batch is
    // acknowledged throughout (the WAL holds it; sealing waits for the catalog).
    let mut sent = 0;
    for k in 0..30 {
        match k {
            10 => pg.ctl(&["-m", "fast", "restart"]),
            18 => pg.ctl(&["-m", "fast", "stop"]),
            24 => pg.ctl(&["start"]),
            _ => {}
        }
        assert_eq!(server.ingest_lines(&batch(k)).accepted, 100, "batch {k}");
        sent += 100;
        std::thread::sleep(Duration::from_millis(150));
    }
    // Sealing catches up by itself once the catalog is back.
    wait_until(T, "every line sealed after the restarts", || {
        let st = server.status();
        (st["store"]["unsealed_records"].as_u64() == Some(0)
            && st["committed_records"].as_u64() >= Some(sent))
        .then_some(())
    });
    let st = server.status();
    assert!(
        st["seal_errors"].as_u64() > Some(0),
        "the stopped catalog was never noticed: {st}"
    );
    let rows = server.sql(&format!(
        "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM logs WHERE text(raw) LIKE '%{tag} %'"
    ));
    assert_eq!(rows[0]["n"], sent, "{rows:?}");
    assert_eq!(rows[0]["d"], sent, "{rows:?}");
    assert_eq!(server.search(&[("ip", "10.1.25.7")]).len(), 1);
    let dir = server.dir.path().to_owned();
    let data = server.data_dir();
    assert!(server.stop().success(), "{}", server.stderr());
    let o = ok(cmd_env(
        &dir,
        &env,
        &["--data-dir", data.to_str().unwrap(), "verify"],
    ));
    assert!(o.stdout().contains("OK"), "{o:?}");
}
