//! Loki push (`POST /loki/api/v1/push`) against the real binary: the npm
//! package winston-loki sends real Loki lines, protobuf+snappy and JSON,
//! with an ingest token as its Basic password; each line is then found by
//! search with its labels, host and event time. Bad bodies get 400 naming
//! what is wrong, a body over `http.max_body` 413 naming the limit, an
//! entry over `syslog.max_line` is refused alone, and every refusal is
//! counted by reason.

mod support;

use pramaan_ingest::protowire::{put_bytes, put_varint, put_varint_field};
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

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/loki")
}

/// Sends `lines` with winston-loki (`send.js`), in `mode`, with `labels`.
fn winston_loki(
    s: &Server,
    token: &str,
    mode: &str,
    labels: &Value,
    lines: &[String],
    first_ms: i64,
) {
    let dir = clients_dir();
    assert!(
        dir.join("node_modules/winston-loki").is_dir() && dir.join("node_modules/snappy").is_dir(),
        "winston-loki and snappy are not installed in {} (npm ci there): {TEST_COMMAND_HINT}",
        dir.display()
    );
    let node = find_program("node").unwrap_or_else(|| {
        panic!("node is not installed (Debian package nodejs): {TEST_COMMAND_HINT}")
    });
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lines.log");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut cmd = Command::new(node);
    cmd.current_dir(&dir)
        .arg(dir.join("send.js"))
        .arg(s.url())
        .arg(token)
        .arg(mode)
        .arg(labels.to_string())
        .arg(&file)
        .arg(first_ms.to_string());
    let out = run(cmd, None, Duration::from_secs(120));
    assert!(
        out.success(),
        "winston-loki ({mode}) failed: {out:?}\nserver:\n{}",
        s.stderr()
    );
}

/// Sends `body` to `path` with these headers and `Authorization` (none when `None`).
fn send(
    s: &Server,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut req = c.post(format!("{}{path}", s.url())).body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("an answer");
        Resp {
            status: r.status().as_u16(),
            retry_after: None,
            body: r.bytes().await.unwrap().to_vec(),
        }
    })
}

fn snappy(b: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(b).unwrap()
}

/// The hits of a stream (its `job` label is its app).
fn stream_hits(s: &Server, job: &str, n: usize) -> Vec<Hit> {
    let hits = s.wait_for_hits(&[("app", job)], n);
    assert_eq!(hits.len(), n, "exactly {n} records of {job}");
    hits
}

/// The checks a user makes on every line a client sent: found once, by its
/// message, with the stream's labels, host and the event time it was sent with.
fn check_lines(hits: &[Hit], lines: &[String], labels: &Value, first_ms: i64) {
    let host = labels["host"].as_str().unwrap();
    for (i, line) in lines.iter().enumerate() {
        // Each line was sent with its own timestamp (Loghub has repeated lines).
        let t = jiff::Timestamp::from_millisecond(first_ms + i as i64).unwrap();
        let found: Vec<&Hit> = hits
            .iter()
            .filter(|h| h.str("event_time").and_then(|e| e.parse().ok()) == Some(t))
            .collect();
        assert_eq!(found.len(), 1, "line {i} {line:?} is stored once, at {t}");
        let h = found[0];
        // The line as it lies in the raw entry: as is (protobuf), or a JSON string.
        let json = serde_json::to_string(line).unwrap();
        assert!(
            h.raw_text().contains(line.as_str()) || h.raw_text().contains(&json),
            "line {i} {line:?}: {:?}",
            h.json
        );
        // The message is the line, after a syslog header if it has one.
        let message = h.str("message").unwrap_or_default();
        assert!(
            !message.is_empty() && line.ends_with(message),
            "{line:?}: {:?}",
            h.json
        );
        assert_eq!(h.str("format"), Some("loki"), "{:?}", h.json);
        assert_eq!(h.str("transport"), Some("http"));
        assert!(
            h.str("peer").unwrap().starts_with("loki:127.0.0.1:"),
            "{:?}",
            h.json
        );
        assert_eq!(h.str("host"), Some(host), "{:?}", h.json);
        let sd = h.str("structured_data").unwrap();
        for (k, v) in labels.as_object().unwrap() {
            assert!(
                sd.contains(&format!("{k}=\"{}\"", v.as_str().unwrap())),
                "{k} in {sd}"
            );
        }
        assert!(
            sd.starts_with("[loki ") && sd.contains("level=\"info\""),
            "{sd}"
        );
    }
}

#[test]
fn winston_loki_protobuf_and_json_lines_are_found_with_their_labels() {
    let s = Server::start();
    let token = s.token(&unique("loki"), "ingest");
    let first_ms = 1_765_000_000_000;
    for (mode, file) in [("protobuf", "OpenSSH_2k.log"), ("json", "Apache_2k.log")] {
        let lines: Vec<String> = loghub(file).into_iter().take(300).collect();
        let job = unique(&format!("loghub-{mode}"));
        let labels = json!({ "job": job, "host": format!("{mode}-host-1"), "file": file });
        winston_loki(&s, &token, mode, &labels, &lines, first_ms);
        let hits = stream_hits(&s, &job, lines.len());
        check_lines(&hits, &lines, &labels, first_ms);
        for h in &hits {
            // protobuf: a StreamAdapter (field 1, the labels); JSON: the stream object.
            match mode {
                "protobuf" => assert_eq!(h.raw[0], 0x0a, "{:?}", h.raw_text()),
                _ => assert!(
                    h.raw_text().starts_with("{\"stream\":{"),
                    "{}",
                    h.raw_text()
                ),
            }
        }
    }
    // The OpenSSH lines' addresses and users are extracted as any line's.
    let hits = s.search_all_of(&[("ip", "173.234.31.186")]);
    assert!(
        hits.iter().any(|h| h.str("format") == Some("loki")),
        "{hits:?}"
    );
    s.wait_for_metric(
        "pramaan_lines_received_total",
        &[("transport", "loki")],
        600.0,
    );
    // `verify --deep` derives the same fields from the sealed records alone.
    let mut s = s;
    s.stop_and_verify_deep(Duration::from_secs(120));
}

#[test]
fn basic_with_a_token_as_password_and_bearer_are_accepted_others_refused() {
    let s = Server::start();
    let token = s.token(&unique("loki"), "ingest");
    let body = json!({"streams": [{"stream": {"job": "auth-test"}, "values": [["1765000000000000000", "x"]]}]});
    let post = |auth: Option<String>| {
        send(
            &s,
            "/loki/api/v1/push",
            auth.as_deref(),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .status
    };
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        ))
    };
    assert_eq!(post(Some(format!("Bearer {token}"))), 204);
    assert_eq!(post(basic("anyone", &token)), 204);
    assert_eq!(post(basic("", &token)), 204);
    assert_eq!(post(None), 401);
    assert_eq!(post(basic("anyone", "pmn_not-a-token")), 401);
    assert_eq!(post(Some("Bearer pmn_not-a-token".into())), 401);
    // A token without the ingest role may not push.
    let analyst = s.token("reader", "analyst");
    assert_eq!(post(basic("x", &analyst)), 403);
    assert_eq!(s.search_all_of(&[("app", "auth-test")]).len(), 3);
}

fn entry(line: &[u8]) -> Vec<u8> {
    let mut ts = Vec::new();
    put_varint_field(&mut ts, 1, 1_765_000_000);
    let mut e = Vec::new();
    put_bytes(&mut e, 1, &ts);
    put_bytes(&mut e, 2, line);
    e
}

fn push_request(labels: &str, lines: &[&[u8]]) -> Vec<u8> {
    let mut st = Vec::new();
    put_bytes(&mut st, 1, labels.as_bytes());
    for l in lines {
        put_bytes(&mut st, 2, &entry(l));
    }
    let mut body = Vec::new();
    put_bytes(&mut body, 1, &st);
    body
}

#[test]
fn bad_bodies_are_refused_with_what_and_where_and_counted() {
    let s = Server::start_with(&[
        ("PRAMAAN_HTTP_MAX_BODY", "64KiB"),
        ("PRAMAAN_SYSLOG_MAX_LINE", "1KiB"),
    ]);
    let token = s.token(&unique("loki"), "ingest");
    let bearer = format!("Bearer {token}");
    let proto = [("content-type", "application/x-protobuf")];
    let push = |headers: &[(&str, &str)], body: Vec<u8>| {
        send(&s, "/loki/api/v1/push", Some(&bearer), headers, body)
    };

    // Malformed protobuf: an entry whose length runs past the stream's end.
    let mut st = Vec::new();
    put_bytes(&mut st, 1, br#"{job="bad"}"#);
    st.extend_from_slice(&[0x12, 0x40, 0x0a]);
    let mut body = Vec::new();
    put_bytes(&mut body, 1, &st);
    let r = push(&proto, snappy(&body));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("stream 0") && r.text().contains("runs past"),
        "{}",
        r.text()
    );

    // A snappy block that declares 1 GiB in a few bytes: a clear 400, not an allocation.
    let mut liar = Vec::new();
    put_varint(&mut liar, 1 << 30);
    liar.extend_from_slice(&[0x08, b'a', b'b', b'c']);
    let r = push(&proto, liar);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("is a lie"), "{}", r.text());
    // Not snappy at all.
    let r = push(&proto, b"\x05not snappy".to_vec());
    assert_eq!(r.status, 400, "{}", r.text());

    // An honest block that inflates past http.max_body: 413 naming the limit.
    let a900 = vec![b'a'; 900];
    let big = push_request(r#"{job="big"}"#, &[a900.as_slice(); 100]);
    let r = push(&proto, snappy(&big));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("http.max_body (65536 bytes)"),
        "{}",
        r.text()
    );
    // A body over the limit as sent.
    let r = push(&[("content-type", "application/json")], vec![b' '; 70_000]);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("http.max_body (65536 bytes)"),
        "{}",
        r.text()
    );

    // Bad JSON: a timestamp that is not nanoseconds, named with where it is.
    let r = push(
        &[("content-type", "application/json")],
        br#"{"streams":[{"stream":{"job":"bad"},"values":[["yesterday","x"]]}]}"#.to_vec(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("streams[0].values[0]"), "{}", r.text());

    // An entry over syslog.max_line is refused alone; the other is stored.
    let long = vec![b'x'; 2000];
    let body = push_request(r#"{job="long"}"#, &[b"short line kept", &long]);
    let r = push(&proto, snappy(&body));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("syslog.max_line (1024 bytes)"),
        "{}",
        r.text()
    );
    let kept = s.wait_for_hits(&[("app", "long")], 1);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].str("message"), Some("short line kept"));
    let refused = |reason: &str| {
        s.metrics().sum(
            "pramaan_lines_refused_total",
            &[("transport", "loki"), ("reason", reason)],
        )
    };
    assert_eq!(refused("too_long"), 1.0);
    assert_eq!(refused("malformed_body"), 4.0);
    assert_eq!(refused("body_too_large"), 1.0);
    for job in ["bad", "big"] {
        assert!(
            s.search_all_of(&[("app", job)]).is_empty(),
            "nothing of {job} was stored"
        );
    }
}
