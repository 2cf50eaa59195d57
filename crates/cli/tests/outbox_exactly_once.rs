//! Every component that records its changes in the ledger does so exactly
//! once, even when the process dies between appending a record and marking
//! it appended (`pramaan_db::outbox`). For each component the real binary
//! runs with `PRAMAAN_TEST_CRASH_AFTER_APPEND=<its source>`, which makes the
//! flusher abort right after a successful append and before the mark; one
//! change is made (an incident, an order, a registry import, a legal hold, a
//! clock sample from a chronyd on 127.0.0.1); the process dies; it starts
//! again without the variable, and an auditor's search of the ledger must
//! find that change's record exactly once.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::*;

const CRASH: &str = "PRAMAAN_TEST_CRASH_AFTER_APPEND";

/// The internal records of `source`, as an auditor searches them.
fn records(s: &Server, source: &str) -> Vec<Hit> {
    s.search_all_of(&[("internal", "true")])
        .into_iter()
        .filter(|h| h.str("peer") == Some(source))
        .collect()
}

/// The records of `source` by body, with how often each body is there.
fn by_body(s: &Server, source: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for h in records(s, source) {
        *m.entry(h.raw_text()).or_insert(0) += 1;
    }
    m
}

/// Starts a server that aborts after appending a `source` record, makes
/// `change` (whose answer never comes: the process dies), checks that it
/// died where the hook says, starts it again without the hook, waits until
/// `component`'s outbox is empty, and returns the server.
fn crash_after_append(
    source: &str,
    component: &str,
    env: &[(&str, &str)],
    change: impl FnOnce(&Server),
) -> Server {
    let mut env = env.to_vec();
    env.push((CRASH, source));
    let mut s = Server::start_with(&env);
    change(&s);
    let status = s.wait_exit(Duration::from_secs(60));
    assert!(
        !status.success(),
        "the server should have aborted: {status}"
    );
    let err = s.stderr();
    assert!(
        err.contains(&format!("{CRASH}: aborting after appending outbox row"))
            && err.contains(source),
        "the server did not die at the crash point:\n{err}"
    );
    s.set_env(CRASH, None);
    s.start_again();
    wait_until(Duration::from_secs(60), "the outbox to empty", || {
        let st = s.status();
        (st["outbox"][component].as_u64() == Some(0)).then_some(())
    });
    s
}

/// No body twice; returns how many records there are.
fn assert_each_once(s: &Server, source: &str) -> usize {
    let bodies = by_body(s, source);
    for (body, n) in &bodies {
        assert_eq!(*n, 1, "{source} record recorded {n} times: {body}");
    }
    bodies.len()
}

fn post_json(s: &Server, path: &str, v: serde_json::Value) -> Result<Resp, String> {
    http_post(
        &format!("{}{path}", s.url()),
        &[("content-type", "application/json")],
        serde_json::to_vec(&v).unwrap(),
    )
}

#[test]
fn an_incident_change_is_recorded_once_across_a_crash_after_its_append() {
    let s = crash_after_append("pramaan:incident", "desk", &[], |s| {
        let r = post_json(
            s,
            "/api/v1/incidents",
            serde_json::json!({"title": "Defaced home page", "kinds": ["website-defacement"], "detected_at": "1h"}),
        );
        assert!(
            r.is_err(),
            "the request should have died with the server: {r:?}"
        );
    });
    assert_eq!(assert_each_once(&s, "pramaan:incident"), 1);
    let rec = &records(&s, "pramaan:incident")[0];
    assert!(
        rec.raw_text().contains("incident.created"),
        "{}",
        rec.raw_text()
    );
    // The incident's history shows the record's number (the flusher's mark-back).
    let list = s.get("/api/v1/incidents", &[]).json();
    let id = list[0]["id"].as_i64().expect("the incident");
    let shown = s.get(&format!("/api/v1/incidents/{id}"), &[]).json();
    let seqs: Vec<u64> = shown["history"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["ledger_seq"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(seqs, vec![rec.seq], "{shown}");
}

#[test]
fn an_order_step_is_recorded_once_across_a_crash_after_its_append() {
    let s = crash_after_append("pramaan:order", "orders", &[], |s| {
        let r = post_json(
            s,
            "/api/v1/orders",
            serde_json::json!({
                "reference": "CERT-In/2026/9", "due": "2030-01-01T17:00:00+05:30",
                "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
                "ips": ["192.0.2.1"], "legal_basis": "s.70B(6)",
            }),
        );
        assert!(
            r.is_err(),
            "the request should have died with the server: {r:?}"
        );
    });
    assert_eq!(assert_each_once(&s, "pramaan:order"), 1);
    let rec = &records(&s, "pramaan:order")[0];
    let body: serde_json::Value = serde_json::from_slice(&rec.raw).unwrap();
    assert_eq!(
        (body["action"].as_str(), body["order"].as_str()),
        (Some("register"), Some("CERT-In/2026/9"))
    );
}

#[test]
fn a_registry_import_is_recorded_once_across_a_crash_after_its_append() {
    let s = crash_after_append("pramaan:registry", "registry", &[], |s| {
        let r = post_json(
            s,
            "/api/v1/registry/import",
            serde_json::json!([{
                "subscriber_id": "2", "name": "Mehta Labs Private Limited", "kyc_method": "gst-mca",
                "kyc_verified_at": "2024-01-01T00:00:00Z", "email": "it2@mehta-corp.example.in",
                "registration_ip": "2001:db8:ffff::2", "registration_at": "2023-12-31T18:00:00-05:00",
                "purpose": "web hosting", "address": "1, MG Road, Mumbai, Maharashtra 400001",
                "phone": "+912212345678", "ownership": "company", "owners": "Kavya Joshi;Aarav Bose",
                "hire_start": "2024-01-02",
            }]),
        );
        assert!(
            r.is_err(),
            "the request should have died with the server: {r:?}"
        );
    });
    assert_eq!(assert_each_once(&s, "pramaan:registry"), 1);
    assert!(records(&s, "pramaan:registry")[0]
        .raw_text()
        .contains("registry.imported"));
}

#[test]
fn a_legal_hold_is_recorded_once_across_a_crash_after_its_append() {
    let s = crash_after_append("pramaan:holds", "retention", &[], |s| {
        let r = post_json(
            s,
            "/api/v1/holds",
            serde_json::json!({"from": "2026-01-01", "to": "2026-01-02", "reason": "court order", "order_ref": "W.P. 9/2026"}),
        );
        assert!(
            r.is_err(),
            "the request should have died with the server: {r:?}"
        );
    });
    assert_eq!(assert_each_once(&s, "pramaan:holds"), 1);
    assert!(records(&s, "pramaan:holds")[0]
        .raw_text()
        .contains("hold.added"));
}

#[test]
fn a_clock_sample_is_recorded_once_across_a_crash_after_its_append() {
    let chronyd = start_chronyd();
    let ntp = format!("127.0.0.1:{}", chronyd.port);
    // One round at start, the next an hour later: one sample per start.
    let env = [
        ("PRAMAAN_CLOCK_ENABLED", "true"),
        ("PRAMAAN_CLOCK_SERVERS", ntp.as_str()),
        ("PRAMAAN_CLOCK_INTERVAL", "1h"),
        ("PRAMAAN_CLOCK_TIMEOUT", "1s"),
    ];
    let s = crash_after_append("pramaan:clock", "clock", &env, |_| {});
    // The sample of the first start (appended, then the crash) and the one
    // of the second start, each once.
    wait_until(Duration::from_secs(60), "two clock records", || {
        (records(&s, "pramaan:clock").len() >= 2).then_some(())
    });
    assert_eq!(assert_each_once(&s, "pramaan:clock"), 2);
    let samples = s.get("/api/v1/clock", &[]).json();
    assert!(samples.is_object(), "{samples}");
    drop(chronyd);
}
