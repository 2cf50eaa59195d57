//! Elasticsearch `_bulk` against the real binary: the official Python
//! client's `helpers.bulk` (PyPI `elasticsearch` 8.x, Bearer and Basic) and
//! rsyslog's `omelasticsearch` (Basic, with an ingest token as password)
//! send real Loghub lines; each is then found by search with its index,
//! host and event time. The probes clients send first are answered (and `/`
//! still sends a browser to the console); per-item errors, a malformed
//! action line, a body over `http.max_body` and a document over
//! `syslog.max_line` get Elasticsearch's answers, and refusals are counted.

mod support;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::*;

fn loghub(name: &str) -> Vec<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/loghub")
        .join(name);
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("the Loghub samples are not at {} ({e})", p.display()));
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// An answer with its headers.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

fn call(
    s: &Server,
    method: &str,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = c.request(m, format!("{}{path}", s.url())).body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("an answer");
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    })
}

/// The checks a user makes on every line: found once, by its message,
/// with the index in `sd`, the host and the event time.
fn check_lines(hits: &[Hit], lines: &[String], index: &str, host: &str, first_ms: Option<i64>) {
    for (i, line) in lines.iter().enumerate() {
        let encoded = serde_json::to_string(line).unwrap();
        let found: Vec<&Hit> = hits
            .iter()
            .filter(|h| h.raw_text().contains(&encoded))
            .collect();
        assert_eq!(found.len(), 1, "line {i} {line:?} is stored once");
        let h = found[0];
        assert_eq!(h.str("format"), Some("es-bulk"), "{:?}", h.json);
        assert!(
            h.str("peer").unwrap().starts_with("es:127.0.0.1:"),
            "{:?}",
            h.json
        );
        assert_eq!(h.str("host"), Some(host), "{:?}", h.json);
        let sd = h.str("structured_data").unwrap();
        assert!(
            sd.starts_with(&format!("[es index=\"{index}\" action=\"")),
            "{sd}"
        );
        if !encoded[1..encoded.len() - 1].contains('\\') {
            assert_eq!(h.str("message"), Some(line.as_str()), "{:?}", h.json);
        }
        let got: jiff::Timestamp = h.str("event_time").expect("event_time").parse().unwrap();
        if let Some(ms) = first_ms {
            assert_eq!(
                got,
                jiff::Timestamp::from_millisecond(ms + i as i64).unwrap(),
                "line {i}"
            );
        }
    }
}

fn python_bulk(
    s: &Server,
    token: &str,
    auth: &str,
    index: &str,
    lines: &[String],
    first_ms: i64,
    host: &str,
) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/elastic/bulk.py");
    let python = find_program("python3")
        .unwrap_or_else(|| panic!("python3 is not installed: {TEST_COMMAND_HINT}"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lines.log");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args([&s.url(), token, auth, index])
        .arg(&file)
        .args([&first_ms.to_string(), host]);
    let out = run(cmd, None, Duration::from_secs(120));
    assert!(
        out.success(),
        "elasticsearch-py helpers.bulk failed (is PyPI `elasticsearch` 8.x installed? {TEST_COMMAND_HINT}): {out:?}\nserver:\n{}",
        s.stderr()
    );
}

#[test]
fn python_helpers_bulk_lines_are_found_with_index_host_and_time() {
    let s = Server::start();
    let token = s.token(&unique("elastic"), "ingest");
    let first_ms = 1_765_100_000_000;
    for (auth, file) in [("bearer", "OpenSSH_2k.log"), ("basic", "HDFS_2k.log")] {
        let lines: Vec<String> = loghub(file).into_iter().take(250).collect();
        let index = unique(&format!("loghub-{auth}")).to_lowercase();
        let host = format!("{auth}-host");
        python_bulk(&s, &token, auth, &index, &lines, first_ms, &host);
        let hits = s.wait_for_hits(&[("host", &host)], lines.len());
        assert_eq!(hits.len(), lines.len());
        check_lines(&hits, &lines, &index, &host, Some(first_ms));
        assert!(hits.iter().all(|h| h.str("app") == Some("loghub")));
    }
    // Addresses in the OpenSSH lines are found as any line's.
    let hits = s.search_all_of(&[("ip", "173.234.31.186")]);
    assert!(
        hits.iter().any(|h| h.str("format") == Some("es-bulk")),
        "{hits:?}"
    );
    s.wait_for_metric(
        "pramaan_lines_received_total",
        &[("transport", "es")],
        500.0,
    );
    // `verify --deep` derives the same fields from the sealed records alone.
    let mut s = s;
    s.stop_and_verify_deep(Duration::from_secs(120));
}

#[test]
fn probes_are_answered_and_a_browser_still_gets_the_console() {
    let s = Server::start();
    let token = s.token(&unique("elastic"), "ingest");
    let bearer = format!("Bearer {token}");
    let r = call(&s, "GET", "/", None, &[], vec![]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-elastic-product"), "Elasticsearch");
    assert!(r.json()["version"]["number"]
        .as_str()
        .unwrap()
        .starts_with("8."));
    let r = call(&s, "HEAD", "/", Some(&bearer), &[], vec![]);
    assert_eq!(r.status, 200);
    let browser = [("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let r = call(&s, "GET", "/", None, &browser, vec![]);
    assert!(
        r.status == 303 || r.status == 307 || r.status == 302,
        "{}",
        r.status
    );
    assert_eq!(r.header("location"), "/console");
    for path in [
        "/_license",
        "/_xpack",
        "/_nodes",
        "/_nodes/_local/http",
        "/_cat/health",
        "/_index_template/filebeat-8.17.0",
        "/_ilm/policy/filebeat",
    ] {
        let r = call(&s, "GET", path, Some(&bearer), &[], vec![]);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("x-elastic-product"), "Elasticsearch", "{path}");
        let r = call(&s, "GET", path, None, &[], vec![]);
        assert_eq!(r.status, 401, "{path} needs a token");
    }
    let r = call(
        &s,
        "HEAD",
        "/_index_template/logstash",
        Some(&bearer),
        &[],
        vec![],
    );
    assert_eq!(r.status, 200);
    let r = call(
        &s,
        "PUT",
        "/_index_template/logstash",
        Some(&bearer),
        &[("content-type", "application/json")],
        b"{}".to_vec(),
    );
    assert_eq!(
        (r.status, r.json()["acknowledged"].clone()),
        (200, json!(true))
    );
}

#[test]
fn per_item_errors_whole_body_errors_and_limits() {
    let s = Server::start_with(&[
        ("PRAMAAN_HTTP_MAX_BODY", "64KiB"),
        ("PRAMAAN_SYSLOG_MAX_LINE", "1KiB"),
    ]);
    let token = s.token(&unique("elastic"), "ingest");
    let bearer = format!("Bearer {token}");
    let nd = [("content-type", "application/x-ndjson")];
    let long = "y".repeat(2000);
    let body = [
        r#"{"index":{"_index":"app-logs","_id":"a1"}}"#.to_string(),
        r#"{"message":"kept one","host":"bulk-host"}"#.to_string(),
        r#"{"delete":{"_index":"app-logs","_id":"a1"}}"#.to_string(),
        r#"{"update":{"_index":"app-logs","_id":"a1"}}"#.to_string(),
        r#"{"doc":{"message":"x"}}"#.to_string(),
        r#"{"index":{"_index":"app-logs"}}"#.to_string(),
        format!(r#"{{"message":"{long}","host":"bulk-host"}}"#),
        r#"{"create":{}}"#.to_string(),
        r#"{"message":"kept two","host":"bulk-host"}"#.to_string(),
        r#"{"create":{"_index":"app-logs"}}"#.to_string(),
    ]
    .join("\n");
    let r = call(
        &s,
        "POST",
        "/url-index/_bulk",
        Some(&bearer),
        &nd,
        body.into_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-elastic-product"), "Elasticsearch");
    let a = r.json();
    assert_eq!(a["errors"], json!(true));
    let items = a["items"].as_array().unwrap();
    let got: Vec<(String, u64)> = items
        .iter()
        .map(|i| {
            let (action, v) = i.as_object().unwrap().iter().next().unwrap();
            (action.clone(), v["status"].as_u64().unwrap())
        })
        .collect();
    let want = [
        ("index", 201),
        ("delete", 400),
        ("update", 400),
        ("index", 413),
        ("create", 201),
        ("create", 400),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, s)| (a.to_string(), *s))
            .collect::<Vec<_>>(),
        "{a}"
    );
    assert_eq!(items[0]["index"]["_id"], json!("a1"));
    assert_eq!(items[0]["index"]["result"], json!("created"));
    assert!(items[3]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("syslog.max_line (1024 bytes)"));
    assert_eq!(items[4]["create"]["_index"], json!("url-index"));
    let reason = items[5]["create"]["error"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("line 10") && reason.contains("no document"),
        "{reason}"
    );
    assert!(items[1]["delete"]["error"]["type"].as_str().is_some());
    // What was stored: the two kept items, found by host with their index.
    let hits = s.wait_for_hits(&[("host", "bulk-host")], 2);
    let mut sds: Vec<&str> = hits
        .iter()
        .map(|h| h.str("structured_data").unwrap())
        .collect();
    sds.sort();
    assert_eq!(
        sds,
        [
            r#"[es index="app-logs" action="index" id="a1"]"#,
            r#"[es index="url-index" action="create"]"#
        ]
    );
    // The record keeps the path line that named the index.
    let two = hits
        .iter()
        .find(|h| h.str("message") == Some("kept two"))
        .unwrap();
    assert_eq!(
        two.raw_text(),
        "/url-index/_bulk\n{\"create\":{}}\n{\"message\":\"kept two\",\"host\":\"bulk-host\"}"
    );

    // A malformed action line refuses the whole body, in Elasticsearch's shape.
    let r = call(
        &s,
        "POST",
        "/_bulk",
        Some(&bearer),
        &nd,
        b"{\"index\":{\"_index\":\"x\"}}\n{\"m\":1}\nnot json\n".to_vec(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()["error"]["type"],
        json!("illegal_argument_exception")
    );
    assert!(
        r.json()["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("line [3]"),
        "{}",
        r.text()
    );
    // Over http.max_body: 413 naming it, plain or gzip.
    let r = call(
        &s,
        "POST",
        "/_bulk",
        Some(&bearer),
        &nd,
        vec![b'\n'; 70_000],
    );
    assert_eq!(r.status, 413);
    assert!(
        r.text().contains("http.max_body (65536 bytes)"),
        "{}",
        r.text()
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &vec![b'\n'; 200_000]).unwrap();
    let r = call(
        &s,
        "POST",
        "/_bulk",
        Some(&bearer),
        &[
            ("content-type", "application/x-ndjson"),
            ("content-encoding", "gzip"),
        ],
        gz.finish().unwrap(),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("http.max_body (65536 bytes)"),
        "{}",
        r.text()
    );

    let refused = |reason: &str| {
        s.metrics().sum(
            "pramaan_lines_refused_total",
            &[("transport", "es"), ("reason", reason)],
        )
    };
    assert_eq!(refused("unsupported_action"), 2.0);
    assert_eq!(refused("too_long"), 1.0);
    assert_eq!(refused("no_document"), 1.0);
    assert_eq!(refused("malformed_body"), 1.0);
    assert_eq!(refused("body_too_large"), 1.0);
    // No credentials, or a token without the ingest role: refused.
    assert_eq!(
        call(&s, "POST", "/_bulk", None, &nd, b"\n".to_vec()).status,
        401
    );
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn rsyslog_omelasticsearch_lines_are_found_with_index_and_host() {
    let s = Server::start();
    let token = s.token(&unique("elastic"), "ingest");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let input = dir.path().join("input.log");
    let lines: Vec<String> = loghub("OpenSSH_2k.log")
        .into_iter()
        .skip(300)
        .take(200)
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let index = unique("rsyslog-loghub").to_lowercase();
    let started = jiff::Timestamp::now();
    let conf = format!(
        r#"global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")
template(name="es-doc" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="programname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
input(type="imfile" file="{input}" tag="loghub" ruleset="es")
ruleset(name="es") {{
  action(type="omelasticsearch" server="127.0.0.1" serverport="{port}"
         searchIndex="{index}" bulkmode="on" template="es-doc"
         esVersion.major="8" uid="rsyslog" pwd="{token}"
         errorFile="{errors}")
}}
"#,
        work = work.display(),
        input = input.display(),
        port = s.http.port(),
        errors = dir.path().join("es-errors.json").display(),
    );
    let rsyslog = Rsyslog::start(
        dir.path(),
        &conf,
        &[("omelasticsearch", "rsyslog-elasticsearch")],
    );
    let hits = wait_until(Duration::from_secs(60), "rsyslog's lines to arrive", || {
        let h = s.search_all_of(&[("host", &hostname()), ("app", "loghub")]);
        (h.len() >= lines.len()).then_some(h)
    });
    assert_eq!(hits.len(), lines.len(), "{}", rsyslog.output());
    check_lines(&hits, &lines, &index, &hostname(), None);
    for h in &hits {
        let t: jiff::Timestamp = h.str("event_time").unwrap().parse().unwrap();
        assert!(
            t >= started
                .checked_sub(jiff::SignedDuration::from_secs(5))
                .unwrap(),
            "{t}"
        );
    }
    assert!(
        !dir.path().join("es-errors.json").exists(),
        "rsyslog recorded errors"
    );
}
