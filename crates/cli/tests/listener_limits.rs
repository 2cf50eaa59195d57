//! What one sender, or many spoofed ones, can make the server hold, against
//! the real `pramaan serve`: metric series per source (`metrics.max_sources`),
//! syslog connection slots (`syslog.max_connections_per_source`,
//! `syslog.first_byte_timeout`, refusals logged once a minute), and HTTP
//! ingest memory (`http.max_body` on the inflated body,
//! `http.max_concurrent_ingests`). Also regression checks of what already
//! held under attack: regex blow-up in searches, secrets absent from
//! `/metrics`.
//!
//! Senders other than 127.0.0.1 are other loopback addresses (127.0.0.2 and
//! up, all of 127.0.0.0/8 is the loopback interface on Linux): nothing leaves
//! the machine.

mod support;

use flate2::write::GzEncoder;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;
use support::*;

/// A loopback address other than 127.0.0.1.
fn lo(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// A TCP connection to `to` from the loopback address `from`.
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    block_on(async {
        let s = tokio::net::TcpSocket::new_v4().expect("a socket");
        s.bind(SocketAddr::new(IpAddr::V4(from), 0))
            .unwrap_or_else(|e| panic!("bind {from}: {e}"));
        let c = s
            .connect(to)
            .await
            .unwrap_or_else(|e| panic!("connect {from} -> {to}: {e}"));
        let c = c.into_std().expect("a std stream");
        c.set_nonblocking(false).expect("blocking");
        c
    })
}

/// Whether the server closed `s` (a read finds the end or a reset), waiting
/// at most `within`; `false` when it is still open.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => true,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Ok(n) => panic!("the server sent {n} bytes on a syslog connection"),
        Err(e) => panic!("reading: {e}"),
    }
}

/// Every value of the `source` label in `/metrics`.
fn source_labels(m: &Metrics) -> BTreeSet<String> {
    m.series
        .iter()
        .filter_map(|(_, l, _)| l.get("source").cloned())
        .collect()
}

/// Lines of the server's stderr at WARN level that mention `text`.
fn warn_lines(server: &Server, text: &str) -> usize {
    server
        .stderr()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(text))
        .count()
}

// ---------------------------------------------------------------- metrics

#[test]
fn metrics_keep_max_sources_labels_and_count_the_rest_as_other() {
    let server = Server::start_with(&[("PRAMAAN_METRICS_MAX_SOURCES", "5")]);
    let id = unique("many-sources");
    // 20 senders, 3 datagrams each (as spoofed UDP sources would be).
    let senders = 20u8;
    for n in 0..senders {
        let s = UdpSocket::bind((lo(2 + n), 0)).expect("bind a loopback address");
        for i in 0..3 {
            s.send_to(
                format!("<13>1 - host app - - - {id} from {n} #{i}").as_bytes(),
                server.udp,
            )
            .unwrap();
        }
    }
    let want = f64::from(senders) * 3.0;
    // Nothing is lost from the counts: kept sources and `other` add up.
    server.wait_for_metric(
        "pramaan_lines_received_total",
        &[("transport", "udp")],
        want,
    );
    let m = server.metrics();
    let labels = source_labels(&m);
    assert!(
        labels.len() <= 6,
        "at most 5 sources and `other`: {labels:?}"
    );
    assert!(labels.contains("other"), "{labels:?}");
    let other = m.sum(
        "pramaan_lines_received_total",
        &[("transport", "udp"), ("source", "other")],
    );
    assert!(
        other >= 15.0 * 3.0,
        "the 15 or more folded senders: {other}"
    );
    assert!(
        m.sum("pramaan_metrics_sources_folded", &[]) >= 15.0,
        "how many were folded is said: {}",
        m.text
    );
    // The lines themselves are all stored, each with its own sender.
    let hits = server.wait_for_hits(&[("q", &id)], 60);
    let peers: BTreeSet<String> = hits
        .iter()
        .filter_map(|h| {
            h.str("peer")
                .map(|p| p.split(':').next().unwrap_or("").to_owned())
        })
        .collect();
    assert_eq!(peers.len(), usize::from(senders), "{peers:?}");
    // Refusals by source are bounded the same way.
    for n in 0..senders {
        let s = UdpSocket::bind((lo(2 + n), 0)).unwrap();
        s.send_to(b"", server.udp).unwrap();
    }
    server.wait_for_metric(
        "pramaan_lines_refused_total",
        &[("transport", "udp"), ("reason", "empty")],
        f64::from(senders),
    );
    let labels = source_labels(&server.metrics());
    assert!(labels.len() <= 6, "{labels:?}");
}

// ---------------------------------------------------------------- syslog TCP

/// The attack of issue 28: idle connections from one address held every
/// slot, a legitimate sender was reset, and each refusal was a WARN line.
#[test]
fn one_source_cannot_hold_every_syslog_slot_nor_flood_the_log() {
    let server = Server::start_with(&[
        ("PRAMAAN_SYSLOG_MAX_CONNECTIONS", "40"),
        ("PRAMAAN_SYSLOG_MAX_CONNECTIONS_PER_SOURCE", "10"),
        ("PRAMAAN_SYSLOG_FIRST_BYTE_TIMEOUT", "10m"),
    ]);
    // 60 idle connections from 127.0.0.2: 10 are taken, 50 refused.
    let mut idle: Vec<TcpStream> = (0..60).map(|_| connect_from(lo(2), server.tcp)).collect();
    server.wait_for_metric(
        "pramaan_connections_refused_total",
        &[("transport", "tcp"), ("reason", "per_source")],
        50.0,
    );
    let mut open = 0;
    for s in idle.iter_mut() {
        if !closed_by_server(s, Duration::from_millis(200)) {
            open += 1;
        }
    }
    assert_eq!(open, 10, "syslog.max_connections_per_source");
    // Another sender still gets in, and its lines are stored.
    let id = unique("beside-the-flood");
    let mut s = connect_from(lo(3), server.tcp);
    s.write_all(format!("<13>1 - host app - - - {id} legit\n").as_bytes())
        .unwrap();
    close_and_wait(s);
    let hit = server.wait_for_text(&id);
    assert!(
        hit.str("peer").is_some_and(|p| p.starts_with("127.0.0.3:")),
        "{}",
        hit.json
    );
    // 50 refusals, not 50 lines in the log: one (the first) within the minute.
    let refusal_warns = warn_lines(&server, "refused");
    assert!(
        (1..=2).contains(&refusal_warns),
        "{refusal_warns} WARN lines about refusals:\n{}",
        server.stderr()
    );
    assert!(
        server
            .stderr()
            .contains("syslog.max_connections_per_source"),
        "the log names the limit:\n{}",
        server.stderr()
    );
    drop(idle);
    server.assert_still_serving();
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_first_byte_timeout() {
    let server = Server::start_with(&[("PRAMAAN_SYSLOG_FIRST_BYTE_TIMEOUT", "1s")]);
    let mut silent = TcpStream::connect(server.tcp).unwrap();
    // A sender that has started talking is not cut by it (only by
    // syslog.idle_timeout, 10 minutes by default).
    let id = unique("first-byte");
    let mut talking = TcpStream::connect(server.tcp).unwrap();
    talking
        .write_all(format!("<13>1 - host app - - - {id} one\n").as_bytes())
        .unwrap();
    server.wait_for_text(&format!("{id} one"));
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(60)),
        "the silent connection was not closed"
    );
    server.wait_for_metric(
        "pramaan_connections_closed_total",
        &[("transport", "tcp"), ("reason", "first_byte_timeout")],
        1.0,
    );
    assert!(
        !closed_by_server(&mut talking, Duration::from_millis(500)),
        "the talking connection was closed"
    );
    talking
        .write_all(format!("<13>1 - host app - - - {id} two\n").as_bytes())
        .unwrap();
    close_and_wait(talking);
    server.wait_for_text(&format!("{id} two"));
    // Counted, not logged one line each.
    assert_eq!(warn_lines(&server, "first"), 0, "{}", server.stderr());
}

// ---------------------------------------------------------------- HTTP ingest

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

/// Eight gzip bombs of 1 GiB of zeros each, at once (the default limits:
/// 64 MiB inflated, 4 requests at a time): each is refused with 413 naming
/// the limit, nothing is stored, and the server's memory stays bounded.
#[test]
fn concurrent_gzip_bombs_are_refused_with_413_and_memory_stays_bounded() {
    let server = Server::start();
    // 64 gzip members of 16 MiB of zeros: 1 GiB inflated, about 1 MiB sent.
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 16 << 20]).unwrap();
    let member = e.finish().unwrap();
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 64)
        .collect();
    assert!(bomb.len() < 4 << 20, "{}", bomb.len());
    let url = format!("{}/api/v1/ingest", server.url());
    let answers: Vec<Resp> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (url, bomb) = (&url, bomb.clone());
                sc.spawn(move || {
                    http_post(url, &[("content-encoding", "gzip")], bomb).expect("an answer")
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &answers {
        // Over the limit (413), or (if the wait ran out) busy (503): never stored.
        assert!(
            r.status == 413 || r.status == 503,
            "{} {}",
            r.status,
            r.text()
        );
        if r.status == 413 {
            let msg = r.json()["error"].as_str().unwrap_or_default().to_owned();
            assert!(
                msg.contains("http.max_body") && msg.contains(&(64u64 << 20).to_string()),
                "{msg}"
            );
        }
    }
    assert!(answers.iter().any(|r| r.status == 413));
    assert_eq!(server.committed(), 0, "nothing of a refused body is stored");
    let peak = peak_rss(server.pid().expect("running"));
    assert!(
        peak < 300 << 20,
        "peak RSS {} MiB after the bombs",
        peak >> 20
    );
    // A normal gzip body still works.
    let id = unique("after-bombs");
    let lines: Vec<String> = (0..1000).map(|i| format!("{id} line {i}")).collect();
    let r = server.post(
        "/api/v1/ingest",
        &[("content-encoding", "gzip")],
        gzip((lines.join("\n") + "\n").as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(Ingested::from_json(&r.json()).accepted, 1000);
    assert_eq!(server.search_all_of(&[("q", &id)]).len(), 1000);
    server.assert_still_serving();
}

/// `http.max_concurrent_ingests` = 1 and no wait: while one request is
/// being read, another is answered 503 with `Retry-After`, naming the limit;
/// once the first ends, ingest works again.
#[test]
fn an_ingest_past_the_concurrency_limit_is_answered_503_with_retry_after() {
    let server = Server::start_with(&[
        ("PRAMAAN_HTTP_MAX_CONCURRENT_INGESTS", "1"),
        ("PRAMAAN_HTTP_INGEST_WAIT", "0s"),
    ]);
    let id = unique("slow-ingest");
    let first = format!("{id} first\n");
    // A request whose body comes slowly: it holds the one turn.
    let mut slow = TcpStream::connect(server.http).unwrap();
    slow.write_all(
        format!(
            "POST /api/v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TEST_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{}",
            first.len(),
            &first[..5]
        )
        .as_bytes(),
    )
    .unwrap();
    server.wait_for_metric("pramaan_http_ingests_in_flight", &[], 1.0);
    let r = server.post(
        "/api/v1/ingest",
        &[("content-type", "application/x-ndjson")],
        format!("{id} second\n").into_bytes(),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.retry_after.is_some(), "Retry-After");
    let msg = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains("http.max_concurrent_ingests"), "{msg}");
    assert_eq!(
        server
            .metrics()
            .sum("pramaan_http_ingests_refused_total", &[]),
        1.0
    );
    // The slow one finishes and is stored; then the turn is free again.
    slow.write_all(&first.as_bytes()[5..]).unwrap();
    slow.set_read_timeout(Some(ARRIVAL_TIMEOUT)).unwrap();
    let mut answer = [0u8; 12];
    slow.read_exact(&mut answer).unwrap();
    assert_eq!(
        &answer,
        b"HTTP/1.1 200",
        "{}",
        String::from_utf8_lossy(&answer)
    );
    server.wait_for_text(&format!("{id} first"));
    server.ingest_lines(&[format!("{id} third")]);
    assert!(server
        .search_all_of(&[("q", &format!("{id} second"))])
        .is_empty());
}

// ---------------------------------------------------------------- regressions

/// A pathological regex over long lines answers (the regex engine has no
/// backtracking), and one too large to compile is a clear 400.
#[test]
fn a_pathological_regex_is_answered_and_an_oversized_one_refused() {
    let server = Server::start();
    let id = unique("regex");
    let long = format!("{id} {}!", "a".repeat(60_000));
    server.ingest_lines(&[long.as_str(), &format!("{id} aaa")]);
    let r = server.get(
        "/api/v1/search",
        &[("regex", "(a+)+$"), ("q", &id), ("limit", "10")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let hits = parse_hits(&r.body);
    assert_eq!(hits.len(), 1, "only the line ending in a's");
    assert_eq!(hits[0].raw_text(), format!("{id} aaa"));
    let r = server.get("/api/v1/search", &[("regex", "(\\w{500}){500}")]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("regex"), "{}", r.text());
    server.assert_still_serving();
}

/// The bearer token and passwords used against the server never show in
/// `/metrics` (the log is checked in `auth_security.rs`).
#[test]
fn secrets_used_in_requests_never_appear_in_metrics() {
    let password = "Metr1cs-Distinctive-Pa55word-k2v7";
    let server = Server::start();
    let r = server.post(
        "/api/v1/login",
        &[("content-type", "application/json")],
        serde_json::to_vec(&serde_json::json!({"user": "admin", "password": password})).unwrap(),
    );
    assert_ne!(r.status, 200, "{}", r.text());
    server.ingest_lines(&["<13>1 - host app - - - a line"]);
    let m = server.metrics();
    assert!(
        m.text.contains("pramaan_lines_received_total"),
        "{}",
        m.text
    );
    for (what, secret) in [("the bearer token", TEST_TOKEN), ("the password", password)] {
        assert!(!m.text.contains(secret), "{what} is in /metrics");
    }
    let log = server.stderr();
    assert!(!log.contains(TEST_TOKEN) && !log.contains(password));
}
