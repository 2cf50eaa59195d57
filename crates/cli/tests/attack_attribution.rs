//! IP attribution, imports and proofs as an attacker meets them, against the
//! real `pramaan serve` on loopback with ordinary roles' tokens:
//!
//! * an import never opens a server path a client names, never echoes what
//!   it read, and is audited; the CLI sends the file's bytes (large files
//!   too, past `http.max_body`);
//! * text put into a log line (an sshd user name) creates no binding: only
//!   configured session sources, only whole session lines;
//! * an inclusion proof carries a record's bytes only to roles that may
//!   read that record;
//! * a purpose of zero-width characters is no purpose;
//! * path traversal on tiles and record routes answers 4xx, never a file.

mod support;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use support::*;

const PURPOSE: &str = "CERT-In order 28/2026";
const HEADER: &str = "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id";

/// A token with `roles`, made by the tests' admin token.
fn token(s: &Server, name: &str, roles: &str) -> String {
    let r = s.post(
        "/api/v1/tokens",
        &[("content-type", "application/json")],
        serde_json::to_vec(&json!({ "name": name, "roles": roles })).unwrap(),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "token {name}: {}",
        r.text()
    );
    r.json()["secret"].as_str().expect("secret").to_owned()
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// A request with `tok` as the bearer token (not the admin's).
fn call(
    s: &Server,
    method: reqwest::Method,
    tok: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    block_on(async {
        let mut req = plain_client()
            .request(method, format!("{}{path}", s.url()))
            .bearer_auth(tok)
            .query(query)
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e:?}"));
        Resp {
            status: r.status().as_u16(),
            retry_after: None,
            body: r.bytes().await.unwrap().to_vec(),
        }
    })
}

fn get_as(s: &Server, tok: &str, path: &str, query: &[(&str, &str)]) -> Resp {
    call(s, reqwest::Method::GET, tok, path, query, &[], Vec::new())
}

fn import_as(s: &Server, tok: &str, content_type: &str, body: Vec<u8>) -> Resp {
    call(
        s,
        reqwest::Method::POST,
        tok,
        "/api/v1/whois/import-bindings",
        &[],
        &[("content-type", content_type)],
        body,
    )
}

/// pramaan's own audit records holding `text` (searched with the admin token).
fn audit_records(s: &Server, text: &str) -> Vec<Value> {
    s.search_all_of(&[("internal", "true"), ("q", text)])
        .iter()
        .filter_map(|h| serde_json::from_str(&h.raw_text()).ok())
        .collect()
}

fn whois(s: &Server, ip: &str, at: &str) -> Value {
    let r = s.get(
        "/api/v1/whois",
        &[("ip", ip), ("at", at), ("purpose", PURPOSE)],
    );
    assert_eq!(r.status, 200, "whois {ip}: {}", r.text());
    r.json()
}

fn stats(s: &Server) -> Value {
    let r = s.get("/api/v1/whois/stats", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn first_line(p: &Path) -> Option<String> {
    let text = std::fs::read(p).ok()?;
    let line = text.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line).trim().to_owned();
    (line.len() >= 4).then_some(line)
}

#[test]
fn an_import_opens_no_server_path_echoes_nothing_and_is_audited() {
    let s = Server::start();
    let officer = token(&s, "officer", "registry-officer");
    // The register's master key exists once the register is opened.
    let r = get_as(&s, &officer, "/api/v1/registry/completeness", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let secrets = [
        s.data_dir().join("ledger/node.key"),
        s.data_dir().join("registry/master.key"),
        "/etc/passwd".into(),
        "/etc/shadow".into(),
        "/etc/hostname".into(),
    ];
    for path in &secrets {
        let body = serde_json::to_vec(&json!({ "path": path })).unwrap();
        for ctype in ["application/json", "text/csv"] {
            let r = import_as(&s, &officer, ctype, body.clone());
            assert!(
                (400..500).contains(&r.status),
                "{} as {ctype}: {} {}",
                path.display(),
                r.status,
                r.text()
            );
            if let Some(line) = first_line(path) {
                assert!(
                    !r.text().contains(&line),
                    "{} came back: {}",
                    path.display(),
                    r.text()
                );
            }
            assert!(!r.text().contains("root:"), "{}", r.text());
        }
    }
    assert_eq!(stats(&s)["bindings"], 0);

    // Invalid lines are named by number and field, never by what they hold.
    let secret = "S3CR3T-0xDEADBEEF";
    let body = format!(
        "{HEADER}\n203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,sub-1,1\n\
         {secret},1,2,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,x,1\n\
         203.0.112.2,1,2,{secret},2025-01-01T01:00:00Z,x,1\n"
    );
    let r = import_as(&s, &officer, "text/csv", body.into_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!r.text().contains(secret), "{}", r.text());
    let v = r.json();
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(v["errors"][0]["line"], 3, "{v}");
    assert_eq!(v["errors"][0]["field"], "ip", "{v}");
    assert_eq!(v["errors"][1]["line"], 4, "{v}");
    assert_eq!(v["errors"][1]["field"], "start_utc", "{v}");
    // A first line that is not the header is not repeated either.
    let r = import_as(&s, &officer, "text/csv", format!("{secret}\n").into_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!r.text().contains(secret), "{}", r.text());
    assert_eq!(
        stats(&s)["bindings"],
        0,
        "nothing of an invalid file is imported"
    );
    assert!(audit_records(&s, "bindings.import").is_empty());

    // The bytes themselves: imported, and on the audit trail first.
    let body = format!(
        "{HEADER}\n203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,sub-42,1\n"
    );
    let r = import_as(&s, &officer, "text/csv", body.into_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let sha = r.json()["sha256"].as_str().unwrap().to_owned();
    let a = whois(&s, "203.0.112.1", "2025-01-01T00:30:00Z");
    assert_eq!(a["matches"][0]["subscriber"], "sub-42", "{a}");
    let recs = audit_records(&s, "bindings.import");
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["action"], "bindings.import");
    assert_eq!(recs[0]["actor"], "token:officer");
    assert_eq!(recs[0]["rows"], 1);
    assert_eq!(recs[0]["sha256"], sha.as_str());
    // Other roles may not import at all.
    let analyst = token(&s, "analyst", "analyst");
    let r = import_as(&s, &analyst, "text/csv", b"x".to_vec());
    assert_eq!(r.status, 403, "{}", r.text());
}

fn bindings_csv(rows: usize) -> String {
    let mut out = String::with_capacity(rows * 90);
    out.push_str(HEADER);
    out.push('\n');
    for i in 0..rows {
        out.push_str(&format!(
            "10.{}.{}.{},0,65535,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,sub-{i},s{i}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    out
}

#[test]
fn the_cli_sends_the_file_and_large_files_pass_the_body_limit() {
    let s = Server::start_with(&[
        ("PRAMAAN_HTTP_MAX_BODY", "64KiB"),
        ("PRAMAAN_ATTRIBUTION_IMPORT_MAX_BODY", "2MiB"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cli = |args: &[&str]| {
        let mut c = pramaan(d);
        c.args(args).args(["--server", &s.url()]);
        run(c, None, Duration::from_secs(300))
    };
    // ~1.3 MB: twenty times http.max_body, under the import's own limit.
    let big = bindings_csv(18_000);
    assert!(
        big.len() > 1_000_000 && big.len() < 2 << 20,
        "{}",
        big.len()
    );
    std::fs::write(d.join("big.csv"), &big).unwrap();
    let o = cli(&["whois", "import-bindings", "big.csv", "--json"]);
    assert!(o.success(), "{o:?}");
    let v: Value = serde_json::from_str(&o.stdout()).unwrap();
    assert_eq!(v["rows"], 18_000, "{v}");
    let a = whois(&s, "10.0.70.16", "2025-01-01T00:30:00Z");
    assert_eq!(a["matches"][0]["subscriber"], "sub-17936", "{a}");
    // Over attribution.import_max_body: refused whole.
    std::fs::write(d.join("huge.csv"), bindings_csv(30_000)).unwrap();
    let o = cli(&["whois", "import-bindings", "huge.csv"]);
    assert!(!o.success(), "{o:?}");
    assert!(o.stderr.contains("import_max_body"), "{o:?}");
    assert_eq!(stats(&s)["bindings"], 18_000);
    // A large file with a wrong first line: the answer comes (not a reset
    // connection), and the line is not repeated.
    let wrong = big.replacen(HEADER, "secret-first-line,a,b", 1);
    std::fs::write(d.join("wrong.csv"), &wrong).unwrap();
    let o = cli(&["whois", "import-bindings", "wrong.csv"]);
    assert!(!o.success(), "{o:?}");
    assert!(o.stderr.contains("must be the header"), "{o:?}");
    assert!(!o.stderr.contains("secret-first-line"), "{o:?}");
    // Invalid lines: number and field, exit 1, and the values are not shown.
    std::fs::write(
        d.join("bad.csv"),
        format!("{HEADER}\n10.9.9.9,0,65535,PRIVATE-VALUE,2025-01-01T01:00:00Z,x,1\n"),
    )
    .unwrap();
    let o = cli(&["whois", "import-bindings", "bad.csv"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stderr.contains("line 2, field start_utc"), "{o:?}");
    assert!(!o.stderr.contains("PRIVATE-VALUE"), "{o:?}");
    // `registry import` hands a bindings file to the same path.
    std::fs::write(
        d.join("one.csv"),
        format!(
            "{HEADER}\n192.0.2.77,0,65535,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,sub-one,1\n"
        ),
    )
    .unwrap();
    let o = cli(&["registry", "import", "one.csv", "--json"]);
    assert!(o.success(), "{o:?}");
    assert_eq!(
        whois(&s, "192.0.2.77", "2025-01-01T00:30:00Z")["matches"][0]["subscriber"],
        "sub-one"
    );
    assert_eq!(audit_records(&s, "bindings.import").len(), 2);
}

/// The forged sshd line of issue 28, and a RADIUS-looking line whose pairs
/// come after other text.
fn forged(app_of_radius: &str) -> Vec<String> {
    vec![
        "<38>1 2025-01-01T10:00:00+05:30 nas-1 sshd 4242 - - Invalid user Acct-Status-Type=Start,User-Name=S-1001,Framed-IP-Address=203.0.113.99,Acct-Session-Id=evil1 from 198.51.100.66 port 52122".into(),
        format!("<134>1 2025-01-01T10:00:01+05:30 nas-1 {app_of_radius} - - - Login incorrect: Acct-Status-Type=Start User-Name=S-1001 Framed-IP-Address=203.0.113.99 Acct-Session-Id=evil2"),
    ]
}

const GENUINE: &str = r#"<134>1 2025-01-01T10:00:02+05:30 nas-1 radiusd - - - Acct-Status-Type=Start Event-Timestamp=1735705802 User-Name="alice" Acct-Session-Id="S1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10"#;

fn send_lines(s: &Server, lines: &[String]) {
    let mut bytes = lines.join("\n").into_bytes();
    bytes.push(b'\n');
    s.tcp_send(&bytes);
}

/// Waits until the feeder has read every record up to the last committed one.
fn wait_fed(s: &Server, n_lines: usize) {
    wait_until(Duration::from_secs(120), "the lines in the vault", || {
        (s.search_all_of(&[("q", "nas-1")]).len() >= n_lines).then_some(())
    });
    let last = s.committed() - 1;
    wait_until(Duration::from_secs(120), "the feeder to read them", || {
        (stats(s)["last_seq"].as_u64().is_some_and(|l| l >= last)).then_some(())
    });
}

#[test]
fn forged_session_lines_inside_other_messages_create_no_binding() {
    let s = Server::start_with(&[(
        "PRAMAAN_ATTRIBUTION_SOURCES",
        r#"[{ peer = "127.0.0.1", app = "radiusd", parsers = ["radius"] }]"#,
    )]);
    let mut lines = forged("radiusd");
    lines.push(GENUINE.into());
    send_lines(&s, &lines);
    // The genuine line from the configured source still makes its binding...
    let a = wait_until(Duration::from_secs(120), "alice's binding", || {
        let a = whois(&s, "100.64.0.10", "2025-01-01T10:30:00+05:30");
        (a["count"] == 1).then_some(a)
    });
    assert_eq!(a["matches"][0]["subscriber"], "alice", "{a}");
    wait_fed(&s, 3);
    // ...and the forged ones, read before it, made none.
    let f = whois(&s, "203.0.113.99", "2025-01-01T10:30:00+05:30");
    assert_eq!(f["count"], 0, "{f}");
    assert_eq!(stats(&s)["sources"], 1);
}

#[test]
fn lines_from_an_unconfigured_source_create_no_binding() {
    // The configured RADIUS server is ::1; everything here comes from 127.0.0.1.
    let s = Server::start_with(&[(
        "PRAMAAN_ATTRIBUTION_SOURCES",
        r#"[{ peer = "::1", app = "radiusd", parsers = ["radius"] }]"#,
    )]);
    let mut lines = forged("radiusd");
    lines.push(GENUINE.into());
    send_lines(&s, &lines);
    wait_fed(&s, 3);
    for ip in ["203.0.113.99", "100.64.0.10"] {
        let a = whois(&s, ip, "2025-01-01T10:30:00+05:30");
        assert_eq!(a["count"], 0, "{ip}: {a}");
    }
    assert_eq!(stats(&s)["bindings"], 0);
}

#[test]
fn without_sources_no_log_line_creates_a_binding_and_stats_say_so() {
    let s = Server::start();
    send_lines(&s, &[GENUINE.into()]);
    wait_fed(&s, 1);
    assert_eq!(
        whois(&s, "100.64.0.10", "2025-01-01T10:30:00+05:30")["count"],
        0
    );
    let st = stats(&s);
    assert_eq!(st["sources"], 0, "{st}");
    assert!(
        st["sources_note"]
            .as_str()
            .unwrap_or("")
            .contains("attribution.sources is empty"),
        "{st}"
    );
}

/// Fast checkpoints, so that proofs can be asked for at once.
const LEDGER: &[(&str, &str)] = &[("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "200ms")];

#[test]
fn an_inclusion_proof_carries_the_record_only_to_its_readers() {
    let s = Server::start_with(LEDGER);
    let line = "fw-1 deny src=198.51.100.20 secret-log-text-5c1d";
    let log_seq = s.ingest_lines(&[line]).first_seq.expect("a seq");
    // An audit record with a purpose in it: a whois lookup.
    let purpose = "private purpose 7f3e";
    let r = s.get(
        "/api/v1/whois",
        &[
            ("ip", "192.0.2.1"),
            ("at", "2025-01-01T00:00:00Z"),
            ("purpose", purpose),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let audit_seq = r.json()["audit_seq"].as_u64().unwrap();
    let tokens: Vec<(&str, String)> = [
        "ingest",
        "analyst",
        "auditor",
        "registry-officer",
        "approver",
        "poc",
    ]
    .iter()
    .map(|role| (*role, token(&s, &format!("t-{role}"), role)))
    .collect();
    let proof = |tok: &str, seq: u64| -> Value {
        wait_until(
            Duration::from_secs(60),
            "a checkpoint covering the records",
            || {
                let r = get_as(
                    &s,
                    tok,
                    "/api/v1/proof/inclusion",
                    &[("seq", &seq.to_string())],
                );
                match r.status {
                    200 => Some(r.json()),
                    400 | 404 => None,
                    _ => panic!("proof of {seq}: {} {}", r.status, r.text()),
                }
            },
        )
    };
    for (role, tok) in &tokens {
        for (seq, secret, internal) in [
            (log_seq, "secret-log-text-5c1d", false),
            (audit_seq, purpose, true),
        ] {
            let p = proof(tok, seq);
            let text = p.to_string();
            let may = *role == "auditor" || (*role == "analyst" && !internal);
            // Hashes for everyone: the leaf and its path.
            assert_eq!(
                p["leaf_hash"].as_str().map(str::len),
                Some(64),
                "{role}: {text}"
            );
            assert!(p["proof"].is_array(), "{role}: {text}");
            if may {
                assert!(
                    p["record"]["raw_b64"]
                        .as_str()
                        .is_some_and(|r| !r.is_empty()),
                    "{role} {seq}: {text}"
                );
                assert!(p["record"]["withheld"].is_null(), "{role}: {text}");
            } else {
                assert!(!text.contains(secret), "{role} read record {seq}: {text}");
                assert!(
                    p["record"]["raw_b64"].as_str().is_none_or(str::is_empty),
                    "{role} {seq}: {text}"
                );
                assert!(
                    p["record"]["canonical_b64"]
                        .as_str()
                        .is_none_or(str::is_empty),
                    "{role} {seq}: {text}"
                );
                assert!(p["record"]["withheld"].is_string(), "{role}: {text}");
            }
        }
    }
}

#[test]
fn a_purpose_of_invisible_characters_is_refused() {
    let s = Server::start();
    for p in [
        "\u{200B}",
        " \u{200B}\u{200D} ",
        "\u{2060}\u{FEFF}",
        "\u{3164}",
    ] {
        let r = s.get(
            "/api/v1/whois",
            &[
                ("ip", "192.0.2.1"),
                ("at", "2025-01-01T00:00:00Z"),
                ("purpose", p),
            ],
        );
        assert_eq!(r.status, 400, "{p:?}: {}", r.text());
        let r = s.get("/api/v1/registry/subscribers/1", &[("purpose", p)]);
        assert_eq!(r.status, 400, "{p:?}: {}", r.text());
    }
    assert!(audit_records(&s, "\"whois\"").is_empty());
}

/// GET `path` as written (no client normalises `..` away), with the admin token.
fn raw_get(s: &Server, path: &str) -> (u16, String) {
    let mut c = std::net::TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TEST_TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn path_traversal_on_tiles_and_records_answers_4xx_and_no_file() {
    let s = Server::start_with(LEDGER);
    s.ingest_lines(&["one line so that there is a tree"]);
    wait_until(Duration::from_secs(60), "a checkpoint", || {
        (s.get("/ledger/checkpoint", &[]).status == 200).then_some(())
    });
    let key = std::fs::read(s.data_dir().join("ledger/node.key")).unwrap();
    let key_text = String::from_utf8_lossy(&key).trim().to_owned();
    let data = s.data_dir().display().to_string();
    for path in [
        "/ledger/tile/../../ledger/node.key",
        "/ledger/tile/%2e%2e/%2e%2e/ledger/node.key",
        "/ledger/tile/..%2f..%2fledger%2fnode.key",
        "/ledger/tile/0/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/ledger/tile//etc/passwd",
        "/ledger/tile/%2fetc%2fpasswd",
        "/ledger/tile/0/000/../../../../../etc/passwd",
        "/ledger/tile/0/x001/../../node.key",
        "/ledger/tile/entries/000",
        "/api/v1/proof/inclusion?seq=../../etc/passwd",
        "/api/v1/proof/inclusion?seq=%2fetc%2fpasswd",
        "/console/records/..%2f..%2fetc%2fpasswd",
        "/console/records/../../etc/passwd/raw",
        "/console/records/%2e%2e/raw",
    ] {
        let (status, text) = raw_get(&s, path);
        assert!((400..500).contains(&status), "{path}: {status}\n{text}");
        assert!(!text.contains("root:"), "{path}: {text}");
        assert!(!text.contains(&key_text), "{path}: the node key came back");
        assert!(
            !text.contains(&data),
            "{path}: the data directory's path came back: {text}"
        );
    }
}
