//! Retention and legal holds as a user meets them: `pramaan hold ...` and
//! `pramaan retention run [--dry-run]` through a running server and directly
//! on a data directory, the HTTP API (`/api/v1/holds`,
//! `/api/v1/retention/run`), the scheduled run in `serve`, and compliance in
//! status and metrics.
//!
//! Old records cannot be sent to a real server (it stamps `received_at`
//! itself), so the tests write sealed segments received 200 days ago into the
//! data directory with the vault's own segment and catalog code while no
//! server runs, as the sealer would have.

mod support;

use pramaan_core::Transport;
use pramaan_ingest::ParseContext;
use pramaan_vault::memtable::Generation;
use pramaan_vault::{segment, Catalog, SegmentMeta};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);
const DAY: i64 = 86_400 * 1_000_000_000;
const HOUR: i64 = 3_600 * 1_000_000_000;

fn cmd(cwd: &Path, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.args(args);
    run(c, None, T)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Writes a sealed segment of `n` lines from `host`, received at `at` (plus
/// a nanosecond per line), with sequence numbers from `first_seq`; as the
/// sealer would (object, then catalog row).
fn write_segment(data_dir: &Path, first_seq: u64, at: i64, host: &str, n: u64) -> SegmentMeta {
    let catalog =
        pramaan_vault::catalog::SqliteCatalog::open(&data_dir.join("catalog.db")).unwrap();
    let mut g = Generation::default();
    for i in 0..n {
        let seq = first_seq + i;
        let line = format!("<13>1 - {host} app - - - old record {seq} of {host}");
        let t = at + i as i64;
        let rec =
            pramaan_vault::wal::record(seq, t, Transport::Tcp, "192.0.2.1:514", line.as_bytes());
        let p = pramaan_ingest::parse(
            line.as_bytes(),
            &ParseContext {
                received_at_ns: t,
                default_offset_secs: 19_800,
            },
        );
        g.push(&rec, &p);
    }
    let f = g.freeze();
    let enc = segment::encode(&f.batches, &Default::default()).unwrap();
    let path = segment::object_path(f.time_min_ns, f.seq_min, f.seq_max);
    let file = data_dir.join("objects").join(&path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &enc.bytes).unwrap();
    let mut meta = SegmentMeta {
        id: 0,
        path,
        seq_min: f.seq_min,
        seq_max: f.seq_max,
        time_min_ns: f.time_min_ns,
        time_max_ns: f.time_max_ns,
        rows: f.rows,
        bytes: enc.bytes.len() as u64,
        sha256: enc.sha256,
        sources: f.sources,
        raw_bytes: f.raw_bytes,
        created_at_ns: f.time_max_ns,
    };
    meta.id = catalog.insert(&meta).unwrap();
    meta
}

fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns as i128)
        .unwrap()
        .to_string()
}

/// Internal records of one type, found by searching the server.
fn records_of(server: &Server, kind: &str) -> Vec<Value> {
    server
        .search_all_of(&[
            ("q", &format!("{{\"type\":\"{kind}\"")),
            ("internal", "true"),
        ])
        .into_iter()
        .inspect(|h| assert_eq!(h.str("transport"), Some("internal")))
        .map(|h| serde_json::from_str(&h.raw_text()).unwrap())
        .collect()
}

fn post_json(server: &Server, path: &str, body: Value) -> Resp {
    server.post(
        path,
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
}

#[test]
fn help_names_the_retention_and_hold_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let top = ok(cmd(dir.path(), &["--help"])).stdout();
    assert!(top.contains("hold") && top.contains("retention"), "{top}");
    for (args, flags) in [
        (
            vec!["hold", "add", "--help"],
            vec![
                "--from",
                "--to",
                "--source",
                "--ip",
                "--reason",
                "--order-ref",
                "--by",
                "--server",
                "--json",
            ],
        ),
        (
            vec!["hold", "list", "--help"],
            vec!["--active", "--server", "--json"],
        ),
        (
            vec!["hold", "release", "--help"],
            vec!["<ID>", "--reason", "--by", "--server"],
        ),
        (
            vec!["retention", "run", "--help"],
            vec!["--dry-run", "--server", "--json"],
        ),
    ] {
        let text = ok(cmd(dir.path(), &args)).stdout();
        for f in flags {
            assert!(
                text.contains(f),
                "`pramaan {}` does not mention {f}:\n{text}",
                args.join(" ")
            );
        }
    }
    // Reason and order reference are required.
    let o = cmd(
        dir.path(),
        &[
            "hold", "add", "--from", "1d", "--to", "now", "--reason", "x",
        ],
    );
    assert!(!o.success());
    assert!(o.stderr.contains("--order-ref"), "{o:?}");
}

/// Holds over HTTP: add, list, release, the errors, the records in the vault,
/// and the CLI talking to the server.
#[test]
fn holds_through_the_api_and_the_cli() {
    let server = Server::start();
    let url = server.url();
    let d = server.data_dir();
    let data = d.to_str().unwrap();
    let dir = server.dir.path();

    // Added with the CLI through the server.
    let o = ok(cmd_env(
        dir,
        &[("USER", "asha")],
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
            "2026-03-02T12:00:00+05:30",
            "--source",
            "fw-*",
            "--reason",
            "Incident 42",
            "--order-ref",
            "CERT-In/2026/17",
        ],
    ));
    assert!(o.stdout().contains("Added hold #1."), "{o:?}");
    assert!(
        o.stdout()
            .contains("2026-03-01 00:00:00.000 IST (2026-02-28 18:30:00.000 UTC)"),
        "{o:?}"
    );

    // Added over the API, with an IP address.
    let r = post_json(
        &server,
        "/api/v1/holds",
        serde_json::json!({"from": "2026-03-01T00:00:00Z", "to": "2026-03-05T00:00:00Z", "ip": "2001:DB8::1",
                           "reason": "Subpoena", "order_ref": "W.P. 123/2026", "by": "ravi"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let h2 = r.json();
    assert_eq!(h2["id"], 2);
    assert_eq!(
        h2["ip"], "2001:db8::1",
        "the address is stored in canonical form"
    );
    assert_eq!(h2["active"], true);
    assert_eq!(h2["from_utc"], "2026-03-01T00:00:00Z");
    assert_eq!(h2["from"], "2026-03-01T05:30:00+05:30");
    assert!(
        h2["created_by"].as_str().unwrap().starts_with(
            "token:bootstrap (HTTP from 127.0.0.1; by: ravi, as stated by the client)"
        ),
        "{h2}"
    );

    // Bad requests say what is wrong.
    for (body, why) in [
        (
            serde_json::json!({"from": "2026-03-02", "to": "2026-03-01", "reason": "r", "order_ref": "o"}),
            "from must not be after to",
        ),
        (
            serde_json::json!({"from": "2026-03-01", "to": "2026-03-02", "reason": " ", "order_ref": "o"}),
            "reason must not be empty",
        ),
        (
            serde_json::json!({"from": "2026-03-01", "to": "2026-03-02", "reason": "r", "order_ref": ""}),
            "order reference must not be empty",
        ),
        (
            serde_json::json!({"from": "2026-03-01", "to": "2026-03-02", "reason": "r", "order_ref": "o", "ip": "10.0.0.300"}),
            "not an IPv4 or IPv6 address",
        ),
        (
            serde_json::json!({"from": "yesterday-ish", "to": "now", "reason": "r", "order_ref": "o"}),
            "from: ",
        ),
        (
            serde_json::json!({"from": "1d", "to": "now", "reason": "r"}),
            "order_ref",
        ),
        (
            serde_json::json!({"from": "1d", "to": "now", "reason": "r", "order_ref": "o", "extra": 1}),
            "extra",
        ),
    ] {
        let r = post_json(&server, "/api/v1/holds", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(
            r.json()["error"].as_str().unwrap().contains(why),
            "{body}: {}",
            r.text()
        );
    }

    // Listed, in order, with who added them.
    let r = server.get("/api/v1/holds", &[]);
    assert_eq!(r.status, 200);
    let holds = r.json();
    let holds = holds.as_array().unwrap();
    assert_eq!(holds.len(), 2);
    assert_eq!(holds[0]["source"], "fw-*");
    assert_eq!(holds[0]["order_ref"], "CERT-In/2026/17");
    assert!(
        holds[0]["created_by"].as_str().unwrap().starts_with(
            "token:bootstrap (HTTP from 127.0.0.1; by: asha, as stated by the client)"
        ),
        "{}",
        holds[0]
    );

    // Released (with the CLI): the row stays, with when, who and why.
    let o = ok(cmd_env(
        dir,
        &[("USER", "meera")],
        &[
            "--data-dir",
            data,
            "hold",
            "release",
            "1",
            "--server",
            &url,
            "--reason",
            "case closed",
        ],
    ));
    assert!(o.stdout().contains("Released hold #1."), "{o:?}");
    assert!(
        o.stdout()
            .contains("by token:bootstrap (HTTP from 127.0.0.1; by: meera"),
        "who released it is the authenticated caller: {o:?}"
    );
    let r = post_json(
        &server,
        "/api/v1/holds/1/release",
        serde_json::json!({"reason": "again"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = post_json(
        &server,
        "/api/v1/holds/99/release",
        serde_json::json!({"reason": "x"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = post_json(
        &server,
        "/api/v1/holds/abc/release",
        serde_json::json!({"reason": "x"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post_json(&server, "/api/v1/holds/2/release", serde_json::json!({}));
    assert_eq!(r.status, 400, "a release needs a reason: {}", r.text());

    let o = ok(cmd(
        dir,
        &[
            "--data-dir",
            data,
            "hold",
            "list",
            "--server",
            &url,
            "--json",
        ],
    ));
    let listed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed[0]["active"], false);
    assert_eq!(listed[0]["release_reason"], "case closed");
    assert!(listed[0]["released_by"]
        .as_str()
        .unwrap()
        .starts_with("token:bootstrap (HTTP from 127.0.0.1; by: meera"));
    assert_eq!(listed[1]["active"], true);
    let o = ok(cmd(
        dir,
        &[
            "--data-dir",
            data,
            "hold",
            "list",
            "--server",
            &url,
            "--active",
        ],
    ));
    assert!(
        o.stdout().contains("#2 active") && !o.stdout().contains("#1 "),
        "{o:?}"
    );

    // Each change is an internal record in the vault, once.
    let added = records_of(&server, "hold.added");
    assert_eq!(added.len(), 2, "{added:?}");
    assert_eq!(added[0]["hold"], 1);
    assert_eq!(added[0]["order_ref"], "CERT-In/2026/17");
    assert_eq!(added[0]["source"], "fw-*");
    assert_eq!(added[1]["ip"], "2001:db8::1");
    let released = records_of(&server, "hold.released");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["hold"], 1);
    assert_eq!(released[0]["reason"], "case closed");
    let peers: Vec<String> = server
        .search_all_of(&[("q", "\"type\":\"hold."), ("internal", "true")])
        .iter()
        .map(|h| h.str("peer").unwrap().to_owned())
        .collect();
    assert_eq!(peers, vec!["pramaan:holds"; 3]);
    // They are not log lines: a log search does not show them.
    assert!(server
        .search_all_of(&[("q", "\"type\":\"hold.")])
        .is_empty());

    let st = server.status();
    assert_eq!(st["retention"]["holds_active"], 1, "{st}");
    assert_eq!(st["retention"]["holds_released"], 1, "{st}");
    assert_eq!(st["retention"]["compliant"], true, "{st}");
    let m = server.metrics();
    assert_eq!(m.sum("pramaan_legal_holds_active", &[]), 1.0);
    assert_eq!(m.sum("pramaan_retention_compliant", &[]), 1.0);
}

/// The schedule in `serve`, dry runs and runs on demand through the server,
/// with a hold that keeps an expired segment until it is released.
#[test]
fn scheduled_and_on_demand_runs_with_a_hold_through_the_server() {
    let env = [("PRAMAAN_RETENTION_INTERVAL", "7d")];
    let mut server = Server::start_with(&env);
    assert!(server.stop().success());
    let d = server.data_dir();
    let data = d.to_str().unwrap().to_owned();
    let dir = server.dir.path().to_path_buf();

    // Two expired segments (200 days old), from a firewall and a database.
    let old = (now_ns() - 200 * DAY) / HOUR * HOUR;
    let fw = write_segment(&d, 0, old, "fw-1", 3);
    let db = write_segment(&d, 3, old + HOUR, "db-1", 2);
    // A hold on the firewall's records, added directly (no server runs).
    let o = ok(cmd(
        &dir,
        &[
            "--data-dir",
            &data,
            "hold",
            "add",
            "--from",
            &rfc3339(old - HOUR),
            "--to",
            &rfc3339(old + 2 * HOUR),
            "--source",
            "fw-*",
            "--reason",
            "Incident 7",
            "--order-ref",
            "CERT-In/2026/7",
            "--by",
            "asha",
        ],
    ));
    assert!(o.stdout().contains("Added hold #1."), "{o:?}");
    assert!(o.stdout().contains("by asha (local)"), "{o:?}");

    // The first scheduled run comes shortly after start: the database's
    // segment goes, the firewall's is held.
    server.start_again();
    let st = wait_until(
        Duration::from_secs(90),
        "the first scheduled retention run",
        || {
            let st = server.status();
            (st["retention"]["last_run"]["finished"] == true).then_some(st)
        },
    );
    assert_eq!(st["retention"]["last_run"]["deleted"], 1, "{st}");
    assert_eq!(st["retention"]["last_run"]["held"], 1, "{st}");
    assert_eq!(st["retention"]["segments_deleted"], 1, "{st}");
    assert!(server.search_all_of(&[("q", "of db-1")]).is_empty());
    assert_eq!(server.search_all_of(&[("q", "of fw-1")]).len(), 3);
    assert!(!d.join("objects").join(&db.path).exists());

    // A dry run shows the held segment and its hold, and changes nothing.
    let url = server.url();
    let o = ok(cmd(
        &dir,
        &[
            "--data-dir",
            &data,
            "retention",
            "run",
            "--dry-run",
            "--server",
            &url,
        ],
    ));
    let text = o.stdout();
    assert!(text.contains("Retention dry run at"), "{text}");
    assert!(text.contains("Would delete 0 segment(s)"), "{text}");
    assert!(text.contains("Held 1 expired segment(s)"), "{text}");
    assert!(text.contains(&fw.path), "{text}");
    assert!(
        text.contains("held by hold #1 (order ref CERT-In/2026/7): Incident 7"),
        "{text}"
    );
    let r = server.post("/api/v1/retention/run?dry_run=true", &[], Vec::new());
    assert_eq!(r.status, 200, "{}", r.text());
    let rep = r.json();
    assert_eq!(rep["dry_run"], true);
    assert_eq!(rep["run"], Value::Null);
    assert_eq!(rep["held"][0]["segment"], fw.path);
    assert_eq!(rep["held"][0]["holds"][0]["id"], 1);
    assert_eq!(rep["deleted"].as_array().unwrap().len(), 0);
    assert!(
        server
            .post("/api/v1/retention/run?dry_run=maybe", &[], Vec::new())
            .status
            == 400
    );

    // Released, a dry run would delete it; it is still there until a real run.
    ok(cmd(
        &dir,
        &[
            "--data-dir",
            &data,
            "hold",
            "release",
            "1",
            "--server",
            &url,
            "--reason",
            "inquiry over",
        ],
    ));
    let o = ok(cmd(
        &dir,
        &[
            "--data-dir",
            &data,
            "retention",
            "run",
            "--dry-run",
            "--server",
            &url,
        ],
    ));
    let text = o.stdout();
    assert!(text.contains("Would delete 1 segment(s)"), "{text}");
    assert!(
        text.contains(&format!(
            "  {}\n    seq 0-2, 3 rows, policy default:180d, sources fw-1",
            fw.path
        )),
        "{text}"
    );
    // Times in IST with UTC alongside.
    assert!(text.contains(" IST (") && text.contains(" UTC)"), "{text}");
    assert!(text.contains("why: its newest record"), "{text}");
    assert!(text.contains("180-day window of `default`"), "{text}");
    assert_eq!(server.search_all_of(&[("q", "of fw-1")]).len(), 3);

    let o = ok(cmd(
        &dir,
        &[
            "--data-dir",
            &data,
            "retention",
            "run",
            "--server",
            &url,
            "--json",
        ],
    ));
    let rep: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["dry_run"], false);
    assert!(rep["run"].as_i64().unwrap() >= 2);
    assert_eq!(rep["deleted"][0]["segment"], fw.path);
    assert_eq!(rep["deleted"][0]["seq_min"], 0);
    assert_eq!(rep["deleted"][0]["seq_max"], 2);
    assert_eq!(rep["deleted"][0]["rows"], 3);
    assert_eq!(rep["deleted"][0]["received_from"], rfc3339(old));
    assert!(server.search_all_of(&[("q", "of fw-1")]).is_empty());
    assert!(!d.join("objects").join(&fw.path).exists());

    // Both deletions are in the vault, once each, with the run that did them.
    let deleted = records_of(&server, "retention.deleted");
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(deleted[0]["segment"], db.path);
    assert_eq!(deleted[0]["seq_min"], 3);
    assert_eq!(deleted[0]["sha256"], db.sha256.as_str());
    assert_eq!(deleted[0]["policy"], "default:180d");
    assert_eq!(deleted[1]["segment"], fw.path);
    assert_eq!(deleted[1]["run"], rep["run"]);
    let st = server.status();
    assert_eq!(st["retention"]["segments_deleted"], 2, "{st}");
    assert_eq!(
        st["sealed_through"].as_u64().map(|s| s >= 4),
        Some(true),
        "{st}"
    );

    // After a restart, sequence numbers go on from where they were.
    let before = server.committed();
    server.restart();
    assert!(server.committed() >= before);
    let r = server.ingest_lines(&["<13>1 - h app - - - after retention"]);
    assert!(r.first_seq.unwrap() >= before, "{r:?}");
}

/// With no server, the commands work on the data directory itself.
#[test]
fn retention_and_holds_directly_on_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    std::fs::create_dir_all(&d).unwrap();
    let data = d.to_str().unwrap();
    // The vault's first open signs its empty tree (records without any
    // checkpoint refuse to open); the segments below stand for later records.
    ok(cmd(dir.path(), &["--data-dir", data, "ingest", "-"]));
    let old = (now_ns() - 400 * DAY) / HOUR * HOUR;
    let a = write_segment(&d, 0, old, "web-1", 2);
    let b = write_segment(&d, 2, old + HOUR, "lab-1", 2);

    let o = ok(cmd(dir.path(), &["--data-dir", data, "hold", "list"]));
    assert!(o.stdout().contains("No holds."), "{o:?}");
    // A class keeps the lab's records for 500 days.
    let classes = [(
        "PRAMAAN_RETENTION_CLASSES",
        r#"[{ name = "lab", sources = ["lab-*"], days = 500 }]"#,
    )];
    let o = ok(cmd_env(
        dir.path(),
        &classes,
        &[
            "--data-dir",
            data,
            "retention",
            "run",
            "--dry-run",
            "--json",
        ],
    ));
    let rep: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["deleted"].as_array().unwrap().len(), 1, "{rep}");
    assert_eq!(rep["deleted"][0]["segment"], a.path);
    assert_eq!(rep["kept"], 1);
    assert_eq!(rep["policy"]["classes"][0]["name"], "lab");
    assert!(
        d.join("objects").join(&a.path).exists(),
        "a dry run deletes nothing"
    );

    let o = ok(cmd_env(
        dir.path(),
        &classes,
        &["--data-dir", data, "retention", "run"],
    ));
    assert!(o.stdout().contains("Deleted 1 segment(s)"), "{o:?}");
    assert!(o.stdout().contains(&a.path), "{o:?}");
    assert!(!d.join("objects").join(&a.path).exists());
    assert!(d.join("objects").join(&b.path).exists());
    // Without the class, the lab's segment is past the default window too.
    let o = ok(cmd(
        dir.path(),
        &["--data-dir", data, "retention", "run", "--dry-run"],
    ));
    assert!(o.stdout().contains("Would delete 1 segment(s)"), "{o:?}");
    assert!(o.stdout().contains(&b.path), "{o:?}");

    let o = ok(cmd(dir.path(), &["--data-dir", data, "status"]));
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["retention"]["segments_deleted"], 1, "{st}");
    assert_eq!(st["retention"]["compliant"], true, "{st}");
    assert_eq!(st["retention"]["last_run"]["deleted"], 1, "{st}");
    let o = ok(cmd(
        dir.path(),
        &[
            "--data-dir",
            data,
            "search",
            "--internal",
            "--format",
            "json",
            "retention.deleted",
        ],
    ));
    // The search's own audit record (written before it ran) names the
    // text too; retention's record is the other.
    let hits = parse_hits(&o.stdout);
    let peers: Vec<_> = hits.iter().map(|h| h.str("peer").unwrap()).collect();
    assert_eq!(peers, ["pramaan:retention", "pramaan:audit"], "{o:?}");

    // Release of an unknown hold is an error.
    let o = cmd(
        dir.path(),
        &["--data-dir", data, "hold", "release", "5", "--reason", "x"],
    );
    assert!(!o.success());
    assert!(o.stderr.contains("there is no hold 5"), "{o:?}");
}

/// A window under 180 days is refused, unless allowed; then it is reported
/// as non-compliant in status (API and CLI) and metrics.
#[test]
fn a_short_window_is_refused_unless_allowed_and_then_reported() {
    let dir = tempfile::tempdir().unwrap();
    let o = cmd_env(
        dir.path(),
        &[("PRAMAAN_RETENTION_DAYS", "90")],
        &[
            "--data-dir",
            "d",
            "serve",
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
        o.stderr
            .contains("retention.days is 90 days, under the 180 days CERT-In requires"),
        "{o:?}"
    );
    assert!(o.stderr.contains("retention.allow_non_compliant"), "{o:?}");

    let server = Server::start_with(&[
        ("PRAMAAN_RETENTION_DAYS", "90"),
        ("PRAMAAN_RETENTION_ALLOW_NON_COMPLIANT", "true"),
    ]);
    let st = server.status();
    assert_eq!(st["retention"]["compliant"], false, "{st}");
    assert!(
        st["retention"]["warning"]
            .as_str()
            .unwrap()
            .contains("NOT CERT-In compliant"),
        "{st}"
    );
    assert_eq!(st["retention"]["policy"]["default_days"], 90);
    assert_eq!(
        server.metrics().sum("pramaan_retention_compliant", &[]),
        0.0
    );
    let o = ok(cmd(
        server.dir.path(),
        &[
            "--data-dir",
            server.data_dir().to_str().unwrap(),
            "status",
            "--server",
            &server.url(),
        ],
    ));
    assert!(o.stderr.contains("WARNING: NOT CERT-In compliant"), "{o:?}");
    assert!(
        server.stderr().contains("NOT CERT-In compliant"),
        "{}",
        server.stderr()
    );
}
