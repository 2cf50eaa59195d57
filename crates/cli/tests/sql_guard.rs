//! `POST /api/v1/sql` against the real binary, as an attacker with an
//! analyst's reach would use it: SQL writes no file and reads none by name,
//! shows no server path, and no query stalls the server: a cross join ends
//! at `sql.timeout` while `/healthz`, syslog and HTTP ingest carry on, a
//! client that goes away cancels its query, results are capped, each user
//! runs a bounded number of queries at once, and SIGTERM stops `serve` with
//! a query running.

mod support;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// Trillions of rows from 100 lines, never more than one table's worth of
/// them held in memory: it runs until stopped.
const CROSS_JOIN: &str = "SELECT count(*) FROM logs a CROSS JOIN (logs b CROSS JOIN (logs c \
     CROSS JOIN (logs d CROSS JOIN logs e))) WHERE a.seq + b.seq + c.seq + d.seq + e.seq >= 0";

fn sql(s: &Server, query: &str) -> Resp {
    sql_as(s, TEST_TOKEN, query)
}

fn sql_as(s: &Server, token: &str, query: &str) -> Resp {
    let body = serde_json::to_vec(&json!({ "query": query })).unwrap();
    s.post(
        "/api/v1/sql",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {token}")),
        ],
        body,
    )
}

/// Sends a SQL request on a connection of its own and leaves the answer
/// unread: dropping the stream is a client that goes away.
fn start_sql(s: &Server, token: &str, query: &str) -> TcpStream {
    let body = json!({ "query": query }).to_string();
    let mut c = TcpStream::connect(s.http).expect("connect");
    write!(
        c,
        "POST /api/v1/sql HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        s.http,
        body.len()
    )
    .expect("send");
    c
}

/// The whole answer on a connection from [`start_sql`]: status and text.
fn answer(mut c: TcpStream) -> (u16, String) {
    c.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).expect("read the answer");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    (status, text)
}

fn wait_running(s: &Server, n: f64) {
    wait_until(ARRIVAL_TIMEOUT, &format!("{n} SQL queries running"), || {
        (s.metrics().sum("pramaan_sql_running", &[]) == n).then_some(())
    });
}

fn sha(p: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

fn token(s: &Server, name: &str, role: &str) -> String {
    let r = s.post(
        "/api/v1/tokens",
        &[("content-type", "application/json")],
        serde_json::to_vec(&json!({ "name": name, "roles": role })).unwrap(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["secret"].as_str().expect("a secret").to_owned()
}

#[test]
fn sql_writes_no_file_reads_none_by_name_and_shows_no_path() {
    let s = Server::start_with(&[("PRAMAAN_SEGMENTS_MAX_ROWS", "20")]);
    let lines: Vec<String> = (0..60)
        .map(|i| format!("<13>1 - fw-1 app - - - sql-guard line {i}"))
        .collect();
    s.ingest_lines(&lines);
    let data = s.data_dir();
    let segments = wait_until(ARRIVAL_TIMEOUT, "sealed segments", || {
        let v = segment_files(&data.join("objects"));
        (v.len() >= 2).then_some(v)
    });
    let before = sha(&segments[0]);
    let analyst = token(&s, "sql-analyst", "analyst");

    // Writes: the working directory's pramaan.toml, a sealed segment, a new file.
    let config = s.dir.path().join("pramaan.toml");
    let fresh = data.join("written-by-sql.csv");
    for q in [
        "COPY (SELECT 'x' AS a) TO 'pramaan.toml' STORED AS CSV".to_owned(),
        format!(
            "COPY (SELECT * FROM logs LIMIT 1) TO '{}' STORED AS PARQUET",
            segments[0].display()
        ),
        format!(
            "COPY (SELECT text(raw) FROM logs) TO '{}' STORED AS CSV",
            fresh.display()
        ),
        "CREATE TABLE t AS SELECT * FROM logs".into(),
        "SET datafusion.execution.batch_size = 1".into(),
    ] {
        let r = sql_as(&s, &analyst, &q);
        assert_eq!(r.status, 403, "{q}: {}", r.text());
        assert!(r.text().contains("only one SELECT"), "{q}: {}", r.text());
    }
    assert!(!config.exists(), "SQL wrote {}", config.display());
    assert!(!fresh.exists(), "SQL wrote {}", fresh.display());
    assert_eq!(sha(&segments[0]), before, "SQL rewrote a segment");
    assert_eq!(sql(&s, "SELECT 1 AS one").status, 200);

    // Reads by name: the same answer whatever the file's first line says
    // (it was an oracle), and never its content.
    let secret = s.dir.path().join("secret.csv");
    std::fs::write(&secret, "hunter2,b\n1,2\n").unwrap();
    let mut answers = Vec::new();
    for guess in ["hunter2", "nothing"] {
        let q = format!(
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}' WITH ORDER ({guess}) \
             OPTIONS ('format.has_header' 'true')",
            secret.display()
        );
        let r = sql_as(&s, &analyst, &q);
        answers.push((r.status, r.text()));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 403, "{:?}", answers[0]);
    let r = sql_as(
        &s,
        &analyst,
        &format!("SELECT * FROM '{}'", secret.display()),
    );
    assert_ne!(r.status, 200);
    assert!(!r.text().contains("hunter2"), "{}", r.text());

    // EXPLAIN names the segments, not where the data directory is.
    let abs = std::fs::canonicalize(&data).unwrap();
    let abs = abs.to_string_lossy();
    let r = sql_as(&s, &analyst, "EXPLAIN SELECT count(*) FROM logs");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !r.text().contains(abs.trim_start_matches('/')),
        "{}",
        r.text()
    );
    // (each by its key in the vault's store)
    assert!(r.text().contains(" segments/20"), "{}", r.text());
}

#[test]
fn a_cross_join_ends_at_sql_timeout_while_health_and_ingest_go_on() {
    let s = Server::start_with(&[("PRAMAAN_SQL_TIMEOUT", "3s")]);
    let lines: Vec<String> = (0..100)
        .map(|i| format!("<13>1 - fw-1 app - - - join line {i}"))
        .collect();
    s.ingest_lines(&lines);
    let q = start_sql(&s, TEST_TOKEN, CROSS_JOIN);
    wait_running(&s, 1.0);
    // Meanwhile: health, and lines on every transport.
    assert_eq!(s.get("/healthz", &[]).status, 200);
    let tag = unique("during-join");
    let mut sent = Vec::new();
    for i in 0..20 {
        let (u, t, h) = (
            format!("{tag}-udp-{i}-end"),
            format!("{tag}-tcp-{i}-end"),
            format!("{tag}-http-{i}-end"),
        );
        s.udp_send(format!("<13>1 - host app - - - {u}").as_bytes());
        s.tcp_send(format!("<13>1 - host app - - - {t}\n").as_bytes());
        s.ingest_lines(&[format!("<13>1 - host app - - - {h}")]);
        sent.extend([u, t, h]);
    }
    let (status, text) = answer(q);
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("sql.timeout (3s)"), "{text}");
    s.wait_for_metric("pramaan_sql_queries_total", &[("outcome", "timeout")], 1.0);
    wait_running(&s, 0.0);
    for text in &sent {
        s.wait_for_text(text);
    }
    assert_eq!(
        s.search_all_of(&[("q", tag.as_str())]).len(),
        sent.len(),
        "every line sent during the query is stored once"
    );
}

#[test]
fn results_over_the_caps_fail_naming_the_key() {
    let s = Server::start_with(&[
        ("PRAMAAN_SQL_MAX_RESULT_ROWS", "10"),
        ("PRAMAAN_SQL_MAX_RESULT_BYTES", "1KiB"),
    ]);
    let lines: Vec<String> = (0..30)
        .map(|i| format!("<13>1 - fw-1 app - - - capped line {i} {}", "x".repeat(200)))
        .collect();
    s.ingest_lines(&lines);
    let r = sql(&s, "SELECT seq FROM logs");
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("sql.max_result_rows (10)"),
        "{}",
        r.text()
    );
    let r = sql(&s, "SELECT text(raw) FROM logs LIMIT 10");
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("sql.max_result_bytes"), "{}", r.text());
    let rows = s.sql("SELECT seq FROM logs ORDER BY seq LIMIT 10");
    assert_eq!(rows.len(), 10);
    let n: Value = s.sql("SELECT count(*) AS n FROM logs").remove(0);
    assert_eq!(n["n"], 30);
}

#[test]
fn queries_per_user_are_limited_a_client_that_leaves_cancels_and_sigterm_stops_serve() {
    let mut s = Server::start_with(&[
        ("PRAMAAN_SQL_TIMEOUT", "1h"),
        ("PRAMAAN_SQL_MAX_CONCURRENT_PER_USER", "1"),
    ]);
    let lines: Vec<String> = (0..100)
        .map(|i| format!("<13>1 - fw-1 app - - - slot line {i}"))
        .collect();
    s.ingest_lines(&lines);
    let (a, b) = (token(&s, "a", "analyst"), token(&s, "b", "analyst"));
    let long = start_sql(&s, &a, CROSS_JOIN);
    wait_running(&s, 1.0);
    // One at a time for `a`; `b` is not held up.
    let r = sql_as(&s, &a, "SELECT 1 AS one");
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(
        r.text().contains("sql.max_concurrent_per_user"),
        "{}",
        r.text()
    );
    assert_eq!(sql_as(&s, &b, "SELECT 1 AS one").status, 200);
    // `a` goes away: the query is cancelled and the slot is free again.
    drop(long);
    s.wait_for_metric(
        "pramaan_sql_queries_total",
        &[("outcome", "cancelled")],
        1.0,
    );
    wait_running(&s, 0.0);
    let r = sql_as(&s, &a, "SELECT 1 AS one");
    assert_eq!(r.status, 200, "{}", r.text());

    // SIGTERM with a query running: serve stops (Server::stop fails the
    // test if it has not within 60 s), cleanly.
    let _running = start_sql(&s, &a, CROSS_JOIN);
    wait_running(&s, 1.0);
    let status = s.stop();
    assert!(status.success(), "{status}: {}", s.stderr());
}
