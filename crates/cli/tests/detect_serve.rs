//! `serve` running Sigma rules over each new line: an aggregation rule
//! (pramaan's SSH brute force) opens one incident per burst with its
//! 6-hour clock started at the first matching line's receipt, adds later
//! bursts to it, and an informational rule only records; a restart (a
//! crash) in the middle of a window neither misses nor repeats a
//! detection; every detection is a ledger record.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(60);

fn own_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../detect/rules")
}

/// A rules directory holding pramaan's own rules.
fn rules_dir(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for e in std::fs::read_dir(own_rules()).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, rules.join(p.file_name().unwrap())).unwrap();
    }
    rules
}

fn start(rules: &Path) -> Server {
    Server::start_with(&[
        ("PRAMAAN_DETECT_RULES_DIR", rules.to_str().unwrap()),
        ("PRAMAAN_DETECT_INTERVAL", "200ms"),
    ])
}

fn failure(ip: &str, n: usize) -> String {
    format!(
        "<38>Dec  6 10:00:00 web1 sshd[{n}]: Failed password for root from {ip} port {} ssh2",
        40000 + n
    )
}

fn detections(s: &Server) -> Vec<serde_json::Value> {
    let r = s.get("/api/v1/detect/detections", &[("limit", "1000")]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

/// Lines the informational failures rule has recorded (each line once).
fn recorded_failures(s: &Server) -> u64 {
    detections(s)
        .iter()
        .filter(|d| d["rule_title"] == "SSH Authentication Failures")
        .map(|d| d["matches"].as_u64().unwrap())
        .sum()
}

fn wait_recorded(s: &Server, n: u64) {
    wait_until(T, &format!("{n} failures recorded"), || {
        (recorded_failures(s) >= n).then_some(())
    });
    assert_eq!(recorded_failures(s), n, "each line recorded once");
}

fn incidents(s: &Server) -> Vec<serde_json::Value> {
    s.get("/api/v1/incidents", &[])
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_burst_opens_one_incident_and_later_bursts_add_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(&rules_dir(dir.path()));
    // Nine failures from one address: recorded by the informational rule,
    // no incident (the brute-force rule needs ten within five minutes).
    let first: Vec<String> = (0..9).map(|i| failure("203.0.113.7", i)).collect();
    assert_eq!(s.ingest_lines(&first).accepted, 9);
    wait_recorded(&s, 9);
    assert!(incidents(&s).is_empty(), "{:?}", incidents(&s));

    // The tenth: one incident, of the rule's kind, its clock started at the
    // first of the ten lines' receipt.
    assert_eq!(s.ingest_lines(&[failure("203.0.113.7", 9)]).accepted, 1);
    let list = wait_until(T, "an incident", || {
        let l = incidents(&s);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(list.len(), 1, "{list:?}");
    let inc = &list[0];
    assert_eq!(
        inc["kinds"],
        serde_json::json!(["unauthorised-access"]),
        "{inc}"
    );
    assert!(
        inc["title"]
            .as_str()
            .unwrap()
            .contains("src_ip=203.0.113.7"),
        "{inc}"
    );
    let lines = s.search(&[("q", "Failed password"), ("order", "oldest")]);
    assert_eq!(lines.len(), 10);
    let first_receipt = lines[0].str("received_at").unwrap().to_owned();
    assert_eq!(inc["detected_at"]["utc"], first_receipt.as_str(), "{inc}");
    let id = inc["id"].as_i64().unwrap();
    let shown = s.get(&format!("/api/v1/incidents/{id}"), &[]).json();
    assert_eq!(shown["incident"]["created_by"], "pramaan:detect", "{shown}");
    // The point of contact is told at once: the "opened" notice is decided.
    assert_eq!(shown["reminders"][0]["name"], "opened", "{shown}");
    let ex = shown["excerpts"].as_array().unwrap();
    assert_eq!(ex.len(), 1, "{shown}");
    assert_eq!(ex[0]["records"], 10, "{shown}");

    // The burst goes on: no second detection for that address within the
    // timeframe. Another address's burst adds to the same incident.
    let more: Vec<String> = (10..20).map(|i| failure("203.0.113.7", i)).collect();
    s.ingest_lines(&more);
    let other: Vec<String> = (20..30).map(|i| failure("198.51.100.9", i)).collect();
    s.ingest_lines(&other);
    wait_recorded(&s, 30);
    let brute: Vec<serde_json::Value> = detections(&s)
        .into_iter()
        .filter(|d| d["rule_title"] == "SSH Brute Force From One Address")
        .collect();
    let groups: Vec<&str> = brute.iter().map(|d| d["group"].as_str().unwrap()).collect();
    assert_eq!(
        groups,
        ["src_ip=198.51.100.9", "src_ip=203.0.113.7"],
        "{brute:?}"
    );
    assert!(brute.iter().all(|d| d["incident_id"] == id), "{brute:?}");
    assert_eq!(incidents(&s).len(), 1);
    // Every matched sequence number is kept, as runs.
    let runs = brute[0]["runs"].as_array().unwrap();
    let n: u64 = runs
        .iter()
        .map(|r| r[1].as_u64().unwrap() - r[0].as_u64().unwrap() + 1)
        .sum();
    assert_eq!(n, 10, "{brute:?}");

    // The ledger holds each step: the incident, both detections.
    let recs = s.search(&[("internal", "true"), ("q", "pramaan:detect")]);
    let actions: Vec<String> = recs
        .iter()
        .filter_map(|h| {
            serde_json::from_str::<serde_json::Value>(&h.raw_text())
                .ok()
                .and_then(|v| v["action"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "incident.detected").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "incident.created").count(),
        1,
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "detection.recorded"),
        "{actions:?}"
    );

    // The CLI lists them.
    let mut c = pramaan(s.dir.path());
    c.args(["detect", "list", "--server", &s.url()]);
    let o = run(c, None, T);
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout().contains("src_ip=198.51.100.9: 10 line(s)"),
        "{o:?}"
    );
    assert!(o.stdout().contains(&format!("incident #{id}")), "{o:?}");
}

#[test]
fn a_crash_in_the_middle_of_a_window_neither_misses_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(&rules_dir(dir.path()));
    let ip = "192.0.2.44";
    let six: Vec<String> = (0..6).map(|i| failure(ip, i)).collect();
    s.ingest_lines(&six);
    wait_recorded(&s, 6);
    // Killed: the six are in the window only in memory.
    s.crash_restart();
    let four: Vec<String> = (6..10).map(|i| failure(ip, i)).collect();
    s.ingest_lines(&four);
    wait_recorded(&s, 10);
    let list = wait_until(T, "the incident", || {
        let l = incidents(&s);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(list.len(), 1);
    // Restarted again with nothing new: nothing detected twice.
    s.crash_restart();
    s.ingest_lines(&[failure(ip, 10)]);
    wait_recorded(&s, 11);
    let brute: Vec<serde_json::Value> = detections(&s)
        .into_iter()
        .filter(|d| d["rule_title"] == "SSH Brute Force From One Address")
        .collect();
    assert_eq!(brute.len(), 1, "{brute:?}");
    assert_eq!(brute[0]["matches"], 10, "{brute:?}");
    assert_eq!(incidents(&s).len(), 1);
}

/// The server's peak resident memory (VmHWM), in MiB.
fn peak_mib(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid().unwrap())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

#[test]
fn a_rule_matching_a_million_lines_makes_one_incident_of_bounded_size() {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("flood.yml"),
        "title: Beacon\nid: flood\nlevel: high\ntags: [pramaan.kind.malicious-code]\n\
         logsource: {product: linux}\ndetection:\n  keywords: ['beacon to 203.0.113.99']\n  condition: keywords\n",
    )
    .unwrap();
    let s = Server::start_with(&[
        ("PRAMAAN_DETECT_RULES_DIR", rules.to_str().unwrap()),
        ("PRAMAAN_DETECT_INTERVAL", "200ms"),
        ("PRAMAAN_DETECT_EXCERPT_LINES", "50"),
    ]);
    let started = std::time::Instant::now();
    let chunk = 50_000;
    for c in 0..N / chunk {
        let body: String = (0..chunk)
            .map(|i| {
                format!(
                    "<14>Dec  6 10:00:00 h{} agent[1]: beacon to 203.0.113.99 n={}\n",
                    i % 97,
                    c * chunk + i
                )
            })
            .collect();
        assert_eq!(s.ingest(body).accepted, chunk);
    }
    let ingested = started.elapsed();
    let total = wait_until(Duration::from_secs(600), "every line judged", || {
        let n: u64 = detections(&s)
            .iter()
            .map(|d| d["matches"].as_u64().unwrap())
            .sum();
        (n >= N).then_some(n)
    });
    assert_eq!(total, N, "each line counted once");
    eprintln!(
        "1M lines: ingested in {ingested:?}, judged by {:?}; peak RSS {} MiB",
        started.elapsed(),
        peak_mib(&s)
    );
    let list = incidents(&s);
    assert_eq!(list.len(), 1, "one incident");
    let id = list[0]["id"].as_i64().unwrap();
    let shown = s.get(&format!("/api/v1/incidents/{id}"), &[]).json();
    let held: u64 = shown["excerpts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["records"].as_u64().unwrap())
        .sum();
    assert_eq!(held, 50, "the excerpt stops at detect.excerpt_lines");
    // Every match is kept as sequence-number runs: the lines came in order,
    // so a few runs, not a million rows.
    let runs: usize = detections(&s)
        .iter()
        .map(|d| d["runs"].as_array().unwrap().len())
        .sum();
    assert!(runs < 1000, "{runs} runs");
    // (about 400 MiB here, most of it the vault's memtable; holding every
    // match in memory would add about as much again)
    assert!(peak_mib(&s) < 1024, "peak RSS {} MiB", peak_mib(&s));
}
