//! End to end: `pramaan serve` with its clock monitor pointed at a real
//! chronyd serving NTP on 127.0.0.1, lines from a source whose clock is
//! behind, then `pramaan clock status` (JSON and text), `GET /api/v1/clock`,
//! the metrics and the `pramaan:clock` ledger records; then the same status
//! read from `clock.db` with the server stopped.
//!
//! Nothing here sends a packet anywhere but 127.0.0.1.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::*;

fn clock_status(cwd: &Path, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.args(["clock", "status"]).args(args);
    run(c, None, Duration::from_secs(60))
}

#[test]
fn serve_measures_chronyd_and_flags_a_slow_source() {
    let chrony = start_chronyd();
    let ntp = format!("127.0.0.1:{}", chrony.port);
    let mut s = Server::start_with(&[
        ("PRAMAAN_CLOCK_ENABLED", "true"),
        ("PRAMAAN_CLOCK_SERVERS", &ntp),
        ("PRAMAAN_CLOCK_INTERVAL", "1s"),
        ("PRAMAAN_CLOCK_TIMEOUT", "1s"),
        ("PRAMAAN_CLOCK_SKEW_INTERVAL", "1s"),
    ]);
    let now = pramaan_core::time::now_ns() / 1_000 * 1_000; // RFC 5424 stamps carry at most microseconds
    let at = pramaan_core::time::rfc3339_at;
    let mut body = String::new();
    for i in 0..4 {
        body.push_str(&format!(
            "<13>1 {} good-host app - - - fine {i}\n",
            at(now, 19_800)
        ));
        body.push_str(&format!(
            "<13>1 {} slow-host app - - - late {i}\n",
            at(now - 40_000_000_000, 0)
        ));
    }
    let ing = s.ingest(body.into_bytes());
    let url = s.url();
    let cwd = s.dir.path().to_owned();

    // Wait until chronyd answered and the slow source is flagged.
    let st: Value = wait_until(
        Duration::from_secs(90),
        "an ok sample and a flagged source",
        || {
            let o = clock_status(&cwd, &["--json", "--server", &url]);
            let v: Value = serde_json::from_slice(&o.stdout).ok()?;
            let ok = v["servers"][0]["state"] == "ok";
            let flagged = v["flagged_sources"].as_u64() == Some(1);
            (ok && flagged).then_some(v)
        },
    );
    assert_eq!(st["enabled"], true);
    let srv = &st["servers"][0];
    assert_eq!(srv["server"], ntp.as_str());
    assert_eq!(srv["stratum"], 8);
    assert_eq!(srv["refid"], "127.127.1.1");
    assert_eq!(srv["leap"], "no_warning");
    let off = srv["offset_ms"].as_f64().unwrap();
    assert!(off.abs() < 50.0, "offset to the local chronyd {off} ms");
    assert_eq!(srv["within_threshold"], true);
    assert!(srv["at"]["ist"].as_str().unwrap().ends_with("+05:30"));
    assert!(srv["at"]["utc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(st["within_threshold"], true);
    assert!(st["host_sync"]["source"].is_string(), "{st}");
    let slow = &st["sources"][0];
    assert_eq!(slow["source"], "slow-host");
    assert_eq!(slow["flagged"], true);
    assert_eq!(slow["count"], 4);
    assert_eq!(slow["first_seq"].as_u64(), ing.first_seq.map(|s| s + 1));
    assert_eq!(slow["latest_seq"].as_u64(), ing.first_seq.map(|s| s + 7));
    let good = st["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["source"] == "good-host")
        .unwrap();
    assert_eq!(good["flagged"], false);

    // The same from the API.
    let api = s.get("/api/v1/clock", &[]);
    assert_eq!(api.status, 200, "{}", api.text());
    assert_eq!(api.json()["servers"][0]["refid"], "127.127.1.1");

    // The text report: IST with UTC, the verdict, the flag; exit 1 (flagged).
    let o = clock_status(&cwd, &["--server", &url]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let text = o.stdout();
    for part in [
        "WITHIN ±100 ms of national time",
        "IST (",
        "UTC)",
        "127.127.1.1",
        "slow-host",
        "FLAGGED since seq",
        "Host sync:",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }

    // Metrics.
    let m = s.metrics();
    assert_eq!(m.sum("pramaan_clock_within_threshold", &[]), 1.0);
    assert_eq!(
        m.sum("pramaan_clock_source_flagged", &[("source", "slow-host")]),
        1.0
    );

    // Every sample is a `pramaan:clock` record in the ledger.
    // They are pramaan's own records: not among the log lines.
    let rows = s.sql("SELECT count(*) AS n FROM logs WHERE peer = 'pramaan:clock'");
    assert_eq!(rows[0]["n"].as_u64(), Some(0), "{rows:?}");
    let seq = srv["ledger_seq"].as_u64().expect("ledger_seq");
    let rec = s.search(&[("internal", "true"), ("seq", &seq.to_string())]);
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].str("peer"), Some("pramaan:clock"));
    let rec: Value = serde_json::from_str(&rec[0].raw_text()).unwrap();
    assert_eq!(rec["type"], "clock.sample");
    assert_eq!(rec["server"], ntp.as_str());
    assert_eq!(rec["state"], "ok");

    // Stopped: the status comes from clock.db.
    s.stop();
    let data = s.data_dir();
    let o = clock_status(&cwd, &["--json", "--data-dir", data.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o:?}"));
    assert_eq!(v["servers"][0]["refid"], "127.127.1.1", "{v}");
    assert_eq!(v["sources"][0]["source"], "slow-host");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn switched_off_by_default_in_tests_and_says_so() {
    let s = Server::start();
    let r = s.get("/api/v1/clock", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["enabled"], false);
    assert!(!s.data_dir().join("clock.db").exists());
    let o = clock_status(s.dir.path(), &["--server", &s.url()]);
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("switched off"), "{o:?}");
}

#[test]
fn unreachable_server_is_an_explicit_state_not_a_failure() {
    // A UDP socket that never answers: every sample is a timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let s = Server::start_with(&[
        ("PRAMAAN_CLOCK_ENABLED", "true"),
        ("PRAMAAN_CLOCK_SERVERS", &addr),
        ("PRAMAAN_CLOCK_INTERVAL", "1s"),
        ("PRAMAAN_CLOCK_TIMEOUT", "300ms"),
    ]);
    let v = wait_until(Duration::from_secs(60), "a timeout sample", || {
        let v = s.get("/api/v1/clock", &[]).json();
        (v["servers"][0]["state"] == "timeout").then_some(v)
    });
    assert_eq!(v["within_threshold"], Value::Null);
    let o = clock_status(s.dir.path(), &["--server", &s.url()]);
    assert!(o.success(), "unknown is not a failure: {o:?}");
    assert!(o.stdout().contains("timeout"), "{o:?}");
    assert!(
        o.stdout()
            .contains("unknown: no server gave a usable sample"),
        "{o:?}"
    );
}
