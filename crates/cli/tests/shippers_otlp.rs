//! OTLP/HTTP logs (`POST /v1/logs`) from the real SDKs: the OpenTelemetry
//! Python SDK's protobuf exporter (gzip) and the OpenTelemetry JS SDK's
//! JSON exporter, each sending Loghub lines with an ingest token; every line
//! comes back by search with its fields (host and app from the resource,
//! severity, event time, trace and span ids in `sd`). Then bad input sent
//! by hand: malformed protobuf, values nesting 1,000 deep, a record over
//! `syslog.max_line` (partial success), a body over `http.max_body`.
//!
//! The clients are installed by `scripts/test` (pip, and `npm ci` in
//! `tests/clients/otlp-js`); a missing one fails the test.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::*;

fn loghub(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/loghub")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("the Loghub sample {} ({e})", p.display()))
}

/// A file's lines: split at LF, one CR removed, blank ones skipped (as the
/// clients send them).
fn lines_of(data: &[u8]) -> Vec<String> {
    data.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8(l.to_vec()).expect("UTF-8 sample"))
        .collect()
}

fn clients() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

fn run_client(cmd: Command, what: &str) -> String {
    let out = run(cmd, None, Duration::from_secs(300));
    assert!(out.success(), "{what} failed: {out:?}");
    out.stdout()
}

fn counts(v: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in v {
        *m.entry(s).or_insert(0) += 1;
    }
    m
}

/// What every record of a client run must show.
fn check_hits(
    s: &Server,
    app: &str,
    host: &str,
    lines: &[String],
    trace: &str,
    severity: &str,
) -> Vec<Hit> {
    let hits = s.wait_for_hits(&[("app", app)], lines.len());
    assert_eq!(hits.len(), lines.len());
    let got = counts(
        hits.iter()
            .map(|h| h.str("message").unwrap_or_default().to_owned()),
    );
    assert_eq!(
        got,
        counts(lines.iter().cloned()),
        "the messages are the lines sent"
    );
    for h in &hits {
        assert_eq!(h.str("host"), Some(host), "{:?}", h.json);
        assert_eq!(h.str("format"), Some("otlp"), "{:?}", h.json);
        assert_eq!(h.str("severity"), Some(severity), "{:?}", h.json);
        assert!(
            h.str("peer").unwrap().starts_with("otlp:127.0.0.1:"),
            "{:?}",
            h.json
        );
        assert!(h.json.get("event_time").is_some(), "{:?}", h.json);
        assert_eq!(h.json.get("parse_error"), None, "{:?}", h.json);
        let sd = h.str("structured_data").unwrap();
        assert!(sd.contains(&format!("trace_id=\"{trace}\"")), "{sd}");
        assert!(sd.contains(&format!("service.name=\"{app}\"")), "{sd}");
        // The record holds its line byte for byte.
        let msg = h.str("message").unwrap().as_bytes();
        assert!(
            h.raw.windows(msg.len().max(1)).any(|w| w == msg),
            "{:?}",
            h.json
        );
    }
    // The trace id finds them (structured data is a column).
    let rows = s.sql(&format!(
        "SELECT count(*) AS n FROM logs WHERE structured_data LIKE '%{trace}%'"
    ));
    assert_eq!(rows[0]["n"].as_u64(), Some(lines.len() as u64), "{rows:?}");
    // And so does a text search: it looks at the structured data too (in a
    // protobuf record the id is binary in the raw bytes).
    let found = s.search_all_of(&[("q", trace)]);
    assert_eq!(found.len(), lines.len(), "search q={trace}");
    hits
}

#[test]
fn python_sdk_sends_protobuf_and_every_line_comes_back_with_its_fields() {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.exporter.otlp.proto.http, opentelemetry.sdk",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the OpenTelemetry Python SDK is not installed: {TEST_COMMAND_HINT}"
    );
    let s = Server::start();
    let tok = s.token("otel-py", "ingest");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("OpenSSH_2k.log");
    let data = loghub("OpenSSH_2k.log");
    std::fs::write(&file, &data).unwrap();
    let lines = lines_of(&data);
    let mut cmd = Command::new("python3");
    cmd.arg(clients().join("otlp-py/send_logs.py"))
        .arg(format!("{}/v1/logs", s.url()))
        .arg(&tok)
        .arg(&file);
    let out = run_client(cmd, "send_logs.py");
    let trace = out
        .split_whitespace()
        .next()
        .expect("the trace id")
        .to_owned();
    let hits = check_hits(&s, "loghub-py", "py-host", &lines, &trace, "warning");
    // Fields found in the lines: sshd's users and addresses.
    let h = hits
        .iter()
        .find(|h| h.str("message") == Some(lines[0].as_str()))
        .unwrap();
    assert!(!h.list("ips").is_empty(), "{:?}", h.json);
    // A protobuf record: a ResourceLogs message (field 1, the resource, first).
    assert_eq!(h.raw[0], 0x0a, "{:?}", h.raw);
    let m = s.metrics();
    assert_eq!(
        m.sum("pramaan_lines_received_total", &[("transport", "otlp")]),
        lines.len() as f64
    );
    // `verify --deep` derives the same fields again from the stored records.
    let mut s = s;
    s.stop_and_verify_deep(Duration::from_secs(300));
}

#[test]
fn js_sdk_sends_json_and_every_line_comes_back_with_its_fields() {
    let dir = clients().join("otlp-js");
    assert!(
        dir.join("node_modules/@opentelemetry/exporter-logs-otlp-http")
            .is_dir(),
        "the OpenTelemetry JS SDK is not installed in {} (`npm ci` there): {TEST_COMMAND_HINT}",
        dir.display()
    );
    let s = Server::start();
    let tok = s.token("otel-js", "ingest");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("Apache_2k.log");
    let data = loghub("Apache_2k.log");
    std::fs::write(&file, &data).unwrap();
    let lines = lines_of(&data);
    let (trace, span) = ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174");
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg("send_logs.mjs")
        .arg(format!("{}/v1/logs", s.url()))
        .arg(&tok)
        .arg(&file)
        .args([trace, span]);
    run_client(cmd, "send_logs.mjs");
    let hits = check_hits(&s, "loghub-js", "js-host", &lines, trace, "err");
    for h in hits.iter().take(50) {
        // A JSON record: the resource, scope and log record as the SDK wrote them.
        let v: Value = serde_json::from_slice(&h.raw).expect("a JSON record");
        let rec = &v["scopeLogs"][0]["logRecords"][0];
        assert_eq!(rec["spanId"], span, "{v}");
        assert_eq!(v["scopeLogs"][0]["scope"]["name"], "pramaan.tests", "{v}");
        assert!(h
            .str("structured_data")
            .unwrap()
            .contains(&format!("span_id=\"{span}\"")));
    }
}

// ------------------------------------------------------------- bad input

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field(out: &mut Vec<u8>, n: u32, b: &[u8]) {
    varint(out, u64::from(n) << 3 | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// An ExportLogsServiceRequest with one record whose attribute nests `depth` lists.
fn nested(depth: usize) -> Vec<u8> {
    let mut v = Vec::new();
    field(&mut v, 1, b"leaf");
    for _ in 1..depth {
        let mut arr = Vec::new();
        field(&mut arr, 1, &v);
        v.clear();
        field(&mut v, 5, &arr);
    }
    let mut kv = Vec::new();
    field(&mut kv, 1, b"deep");
    field(&mut kv, 2, &v);
    let mut log = Vec::new();
    field(&mut log, 6, &kv);
    let mut sl = Vec::new();
    field(&mut sl, 2, &log);
    let mut rl = Vec::new();
    field(&mut rl, 2, &sl);
    let mut req = Vec::new();
    field(&mut req, 1, &rl);
    req
}

fn json_request(bodies: &[&str]) -> Vec<u8> {
    let recs: Vec<Value> = bodies
        .iter()
        .map(|b| json!({"timeUnixNano": "1700000000000000000", "body": {"stringValue": b}}))
        .collect();
    serde_json::to_vec(&json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "bad-input"}}]},
        "scopeLogs": [{"logRecords": recs}]}]}))
    .unwrap()
}

const PB: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON_CT: (&str, &str) = ("content-type", "application/json");

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn bad_requests_are_refused_by_name_and_a_long_record_alone() {
    let s = Server::start_with(&[
        ("PRAMAAN_SYSLOG_MAX_LINE", "1KiB"),
        ("PRAMAAN_HTTP_MAX_BODY", "64KiB"),
    ]);
    // Malformed protobuf: a length past the end. 400, a google.rpc.Status saying where.
    let r = s.post("/v1/logs", &[PB], vec![0x0a, 0x02, 0x12, 0x7f]);
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(
        text(&r).contains("resourceLogs[0]: protobuf: a length of 127 bytes at byte 1"),
        "{}",
        text(&r)
    );
    // Values nesting 1,000 deep: refused cleanly, in both encodings, naming the limit.
    let r = s.post("/v1/logs", &[PB], nested(1000));
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(
        text(&r).contains("attributes[0]: values nest deeper than 32 levels"),
        "{}",
        text(&r)
    );
    let mut deep = r#"{"stringValue":"leaf"}"#.to_owned();
    for _ in 0..1000 {
        deep = format!(r#"{{"arrayValue":{{"values":[{deep}]}}}}"#);
    }
    let body = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[{{"key":"k","value":{deep}}}]}}]}}]}}]}}"#
    );
    let r = s.post("/v1/logs", &[JSON_CT], body.into_bytes());
    assert_eq!(r.status, 400, "{}", text(&r));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["code"], 3, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("logRecords[0].attributes[0]: values nest deeper than 32"),
        "{v}"
    );
    // Not OTLP's content types: 415.
    let r = s.post("/v1/logs", &[("content-type", "text/plain")], b"x".to_vec());
    assert_eq!(r.status, 415, "{}", text(&r));
    // Over http.max_body: 413 with the limit (on a connection of its own: the
    // server closes it without reading the body).
    let (status, body) = post_alone(&s, JSON_CT, json_request(&[&"x".repeat(70_000)]));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("http.max_body (65536 bytes)"), "{body}");
    // One record over syslog.max_line: it alone is refused (partial success).
    let long = "y".repeat(2000);
    let r = s.post(
        "/v1/logs",
        &[JSON_CT],
        json_request(&["short one 1", &long, "short one 2"]),
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedLogRecords"], "1", "{v}");
    let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("syslog.max_line (1024 bytes)") && msg.contains("log record 2"),
        "{msg}"
    );
    let hits = s.wait_for_hits(&[("app", "bad-input")], 2);
    assert_eq!(hits.len(), 2);
    // Every refusal counted by reason.
    let m = s.metrics();
    let refused = |reason: &str| {
        m.sum(
            "pramaan_lines_refused_total",
            &[("transport", "otlp"), ("reason", reason)],
        )
    };
    assert_eq!(refused("too_long"), 1.0);
    assert_eq!(refused("malformed"), 1.0);
    assert_eq!(refused("too_deep"), 2.0);
    s.assert_still_serving();
}

#[test]
fn only_ingest_tokens_may_send() {
    let s = Server::start();
    let analyst = s.token("a", "analyst");
    let body = json_request(&["who may send"]);
    let plain = reqwest_post(&s, None, body.clone());
    assert_eq!(plain, 401);
    assert_eq!(
        reqwest_post(&s, Some(&format!("Bearer {analyst}")), body.clone()),
        403
    );
    let ingest = s.token("i", "ingest");
    assert_eq!(
        reqwest_post(&s, Some(&format!("Bearer {ingest}")), body),
        200
    );
    assert_eq!(s.wait_for_hits(&[("app", "bad-input")], 1).len(), 1);
}

/// POSTs `body` to /v1/logs on a new connection; the status and body.
fn post_alone(s: &Server, ct: (&str, &str), body: Vec<u8>) -> (u16, String) {
    let url = format!("{}/v1/logs", s.url());
    let ct = ct.1.to_owned();
    block_on(async move {
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let r = c
            .post(url)
            .header("content-type", ct)
            .header("authorization", format!("Bearer {TEST_TOKEN}"))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

/// POSTs a JSON export with the given Authorization (none: none); the status.
fn reqwest_post(s: &Server, auth: Option<&str>, body: Vec<u8>) -> u16 {
    let url = format!("{}/v1/logs", s.url());
    block_on(async move {
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut r = c
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send().await.unwrap().status().as_u16()
    })
}
