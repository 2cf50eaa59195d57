//! Bad input gets its documented treatment, and the server keeps serving:
//! every test ends by sending normal lines over TCP, UDP and HTTP and finding
//! them.
//!
//! Not here: an RFC 3164 line stamped `Dec 31 23:59:59` received on 1 January
//! must get the old year. That needs the receive clock on 1 January, and the
//! binary has no way to set its clock; the parser's unit tests in
//! `crates/ingest` cover it with an injected receive time.

mod support;

use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

const LOCAL: (&str, &str) = ("source", "127.0.0.1");

fn refused(server: &Server, transport: &str, reason: &str) -> f64 {
    server.metrics().sum(
        "pramaan_lines_refused_total",
        &[("transport", transport), ("reason", reason), LOCAL],
    )
}

#[test]
fn invalid_utf8_is_stored_byte_exact_and_returned_as_raw_b64() {
    let server = Server::start();
    let id = unique("bad-utf8");
    let line = |via: &str| {
        let mut v = format!("<13>1 - host app - - - {id} {via} ").into_bytes();
        // A lone continuation byte, a cut sequence, an overlong encoding, 0xFF.
        v.extend_from_slice(b"\x80 \xe0\xa4 \xc0\xaf \xff end");
        v
    };
    let mut tcp = line("tcp");
    tcp.push(b'\n');
    server.tcp_send(&tcp);
    server.udp_send(&line("udp"));
    let mut http = line("http");
    http.push(b'\n');
    let r = server.ingest(http);
    assert_eq!(r.accepted, 1, "{r:?}");

    let hits = server.wait_for_hits(&[("q", &id)], 3);
    assert_eq!(hits.len(), 3);
    for h in &hits {
        let via = h.str("transport").unwrap().to_owned();
        assert_eq!(h.raw, line(&via), "byte-exact over {via}");
        assert!(
            h.json.get("raw").is_none(),
            "not UTF-8: no `raw`: {}",
            h.json
        );
        assert!(h.str("raw_b64").is_some(), "{}", h.json);
        // The header is still read.
        assert_eq!(h.str("host"), Some("host"), "{}", h.json);
        assert_eq!(h.str("app"), Some("app"), "{}", h.json);
    }
    server.assert_still_serving();
}

#[test]
fn nul_bytes_are_stored_byte_exact() {
    let server = Server::start();
    let id = unique("nul");
    let line = |via: &str| format!("<13>1 - host app - - - {id} {via} a\0b\0\0c").into_bytes();
    let mut stream = line("tcp-newline");
    stream.push(b'\n');
    stream.extend_from_slice(&octet(&line("tcp-octet")));
    server.tcp_send(&stream);
    // UDP: one trailing NUL is framing (some senders add it), inner NULs are content.
    let mut dgram = line("udp");
    dgram.push(0);
    server.udp_send(&dgram);
    let mut http = line("http");
    http.push(b'\n');
    assert_eq!(server.ingest(http).accepted, 1);

    let hits = server.wait_for_hits(&[("q", &id)], 4);
    let mut got: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    got.sort();
    let mut want: Vec<Vec<u8>> = ["tcp-newline", "tcp-octet", "udp", "http"]
        .iter()
        .map(|v| line(v))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // NUL is valid UTF-8: the line comes back as `raw`, with the NULs in it.
    assert!(hits
        .iter()
        .all(|h| h.str("raw").is_some_and(|r| r.contains('\0'))));
    server.assert_still_serving();
}

#[test]
fn truncated_octet_counted_frame_at_close_is_refused_as_truncated() {
    let server = Server::start();
    let id = unique("truncated");
    let before = format!("<13>1 - host app - - - {id} complete");
    let mut s = octet(before.as_bytes());
    // Announces 100 bytes, sends fewer, closes.
    s.extend_from_slice(format!("100 <13>1 - host app - - - {id} partial").as_bytes());
    server.tcp_send(&s);
    server.wait_for_metric(
        "pramaan_lines_refused_total",
        &[("transport", "tcp"), ("reason", "truncated"), LOCAL],
        1.0,
    );
    let hits = server.wait_for_hits(&[("q", &id)], 1);
    assert_eq!(hits.len(), 1, "only the complete frame is stored: {hits:?}");
    assert_eq!(hits[0].raw_text(), before);
    server.assert_still_serving();
}

#[test]
fn frame_length_of_10_to_the_12_is_refused_as_too_long() {
    let server = Server::start();
    let id = unique("huge-count");
    server.tcp_send(format!("1000000000000 <13>1 - host app - - - {id}").as_bytes());
    server.wait_for_metric(
        "pramaan_lines_refused_total",
        &[("transport", "tcp"), ("reason", "too_long"), LOCAL],
        1.0,
    );
    // A prefix of more than 20 digits is not a length at all: refused, and
    // the stream resynchronises at the next LF.
    let after = format!("<13>1 - host app - - - {id} after the bad prefix");
    server.tcp_send(format!("123456789012345678901234 junk\n{after}\n").as_bytes());
    let hit = server.wait_for_text(&format!("{id} after"));
    assert_eq!(hit.raw_text(), after);
    assert_eq!(refused(&server, "tcp", "bad_frame_length"), 1.0);
    assert_eq!(server.search_all_of(&[("q", &id)]).len(), 1);
    server.assert_still_serving();
}

#[test]
fn ten_megabyte_line_over_tcp_is_refused_as_too_long() {
    let server = Server::start();
    let id = unique("10mb-tcp");
    let next = format!("<13>1 - host app - - - {id} the line after");
    let mut s = TcpStream::connect(server.tcp).unwrap();
    let big = vec![b'a'; 10 << 20];
    s.write_all(format!("<13>1 - host app - - - {id} ").as_bytes())
        .unwrap();
    s.write_all(&big).unwrap();
    // The same connection carries on after the refused line.
    s.write_all(format!("\n{next}\n").as_bytes()).unwrap();
    close_and_wait(s);
    let hit = server.wait_for_text(&id);
    assert_eq!(hit.raw_text(), next);
    assert_eq!(refused(&server, "tcp", "too_long"), 1.0);
    // And as one octet-counted frame of 10 MiB.
    let mut frame = format!("<13>1 - host app - - - {id} counted ").into_bytes();
    frame.extend_from_slice(&big);
    let mut s = octet(&frame);
    s.extend_from_slice(&octet(format!("{next} (counted)").as_bytes()));
    server.tcp_send(&s);
    server.wait_for_hits(&[("q", &id)], 2);
    assert_eq!(refused(&server, "tcp", "too_long"), 2.0);
    assert_eq!(server.search_all_of(&[("q", &id)]).len(), 2);
    server.assert_still_serving();
}

#[test]
fn ten_megabyte_line_over_http_is_refused_with_its_line_number() {
    let server = Server::start();
    let id = unique("10mb-http");
    let mut body = format!("{id} line 1\n").into_bytes();
    body.extend_from_slice(&vec![b'b'; 10 << 20]);
    body.extend_from_slice(format!("\n{id} line 3\n").as_bytes());
    let r = server.ingest(body);
    assert_eq!(r.accepted, 2, "{r:?}");
    assert_eq!(r.refused.len(), 1, "{r:?}");
    let (line, reason) = &r.refused[0];
    assert_eq!(*line, 2, "{r:?}");
    assert!(
        reason.contains(&(10u64 << 20).to_string()) && reason.contains("65536"),
        "the reason gives the length and the limit: {reason}"
    );
    let hits = server.search_all_of(&[("q", &id)]);
    let got: Vec<String> = hits.iter().map(Hit::raw_text).collect();
    assert_eq!(got, [format!("{id} line 1"), format!("{id} line 3")]);
    assert_eq!(
        (r.first_seq, r.last_seq),
        (Some(hits[0].seq), Some(hits[1].seq))
    );
    assert_eq!(refused(&server, "http", "too_long"), 1.0);
    server.assert_still_serving();
}

#[test]
fn empty_lines_are_counted_and_not_stored() {
    let server = Server::start();
    let id = unique("empty");
    // TCP: an LF, and a CR LF, both blank.
    server.tcp_send(format!("\n\r\n<13>1 - host app - - - {id} tcp\n\n").as_bytes());
    // UDP: an empty datagram and one holding only LF.
    server.udp_send(b"");
    server.udp_send(b"\n");
    // HTTP: blank lines are skipped and counted in the answer.
    let r = server.ingest(format!("\n  \n\t\r\n{id} http\n\n").into_bytes());
    assert_eq!(r.accepted, 1, "{r:?}");
    assert_eq!(r.empty_lines, 4, "{r:?}");
    assert!(r.refused.is_empty(), "{r:?}");
    server.wait_for_metric(
        "pramaan_lines_refused_total",
        &[("transport", "tcp"), ("reason", "empty"), LOCAL],
        3.0,
    );
    server.wait_for_metric(
        "pramaan_lines_refused_total",
        &[("transport", "udp"), ("reason", "empty"), LOCAL],
        2.0,
    );
    assert_eq!(refused(&server, "http", "empty"), 4.0);
    let hits = server.wait_for_hits(&[("q", &id)], 2);
    assert_eq!(hits.len(), 2);
    // Nothing else was stored.
    assert_eq!(server.committed(), 2);
    server.assert_still_serving();
}

#[test]
fn impossible_header_date_is_stored_with_a_parse_error() {
    let server = Server::start();
    let id = unique("bad-date");
    let line = format!("<13>1 2026-13-45T25:61:00Z host app - - - msg {id}");
    server.tcp_send(format!("{line}\n").as_bytes());
    let hit = server.wait_for_text(&id);
    assert_eq!(hit.raw_text(), line, "stored byte-exact");
    let err = hit
        .str("parse_error")
        .unwrap_or_else(|| panic!("no parse_error: {}", hit.json));
    assert!(err.contains("2026-13-45T25:61:00Z"), "{err}");
    assert!(hit.str("event_time").is_none(), "{}", hit.json);
    // The rest of the header is still read.
    assert_eq!(hit.str("host"), Some("host"));
    assert_eq!(hit.str("app"), Some("app"));
    assert_eq!(hit.str("message"), Some(format!("msg {id}").as_str()));
    server.wait_for_metric(
        "pramaan_lines_unparsable_total",
        &[("transport", "tcp")],
        1.0,
    );
    assert_eq!(server.status()["unparsable_lines"], 1);
    server.assert_still_serving();
}

#[test]
fn rfc5424_nil_timestamp_is_stored_without_event_time_or_error() {
    let server = Server::start();
    let id = unique("nil-ts");
    let line = format!("<13>1 - host app - - - msg {id}");
    server.tcp_send(format!("{line}\n").as_bytes());
    let hit = server.wait_for_text(&id);
    assert_eq!(hit.raw_text(), line);
    assert!(hit.str("event_time").is_none(), "{}", hit.json);
    assert!(hit.str("parse_error").is_none(), "{}", hit.json);
    assert_eq!(hit.str("format"), Some("rfc5424"));
    assert_eq!(hit.str("host"), Some("host"));
    assert_eq!(hit.str("app"), Some("app"));
    assert_eq!(hit.str("severity"), Some("notice"));
    assert!(hit.str("received_at").is_some());
    assert_eq!(server.status()["unparsable_lines"], 0);
    server.assert_still_serving();
}

#[test]
fn idle_tcp_connection_blocks_no_one_and_is_closed_after_idle_timeout() {
    let server = Server::start_with(&[("PRAMAAN_SYSLOG_IDLE_TIMEOUT", "2s")]);
    let mut idle = TcpStream::connect(server.tcp).unwrap();
    let opened = Instant::now();
    // Others are served while it sits there.
    let id = unique("beside-idle");
    server.tcp_send(format!("<13>1 - host app - - - {id}\n").as_bytes());
    server.wait_for_text(&id);
    server.assert_still_serving();
    // The server closes it after about 2 s of silence.
    idle.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 16];
    match idle.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("the server sent {n} bytes on a syslog connection"),
        Err(e) => panic!("the idle connection was not closed by the server: {e}"),
    }
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_millis(1500),
        "closed after {after:?}, before the 2 s timeout"
    );
    assert!(
        after < Duration::from_secs(45),
        "closed only after {after:?}"
    );
    assert_eq!(server.committed(), 4, "the idle connection stored nothing");
}

#[test]
fn idle_tcp_connection_is_kept_without_a_timeout_and_blocks_no_one() {
    // Default idle timeout (10 minutes): a connection that has sent a line
    // and then falls silent stays open. (One that never sends anything is
    // closed after syslog.first_byte_timeout: `listener_limits.rs`.)
    let server = Server::start();
    let mut idle = TcpStream::connect(server.tcp).unwrap();
    let first = unique("first");
    idle.write_all(format!("<13>1 - host app - - - {first}\n").as_bytes())
        .unwrap();
    server.wait_for_text(&first);
    for _ in 0..3 {
        server.assert_still_serving();
    }
    idle.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 16];
    match idle.read(&mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the idle connection should still be open: {other:?}"),
    }
    // It can still send.
    let id = unique("late");
    idle.write_all(format!("<13>1 - host app - - - {id}\n").as_bytes())
        .unwrap();
    close_and_wait(idle);
    server.wait_for_text(&id);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_and_zstd_bodies_are_accepted() {
    let server = Server::start();
    for (enc, compress) in [
        ("gzip", gzip as fn(&[u8]) -> Vec<u8>),
        ("zstd", |d: &[u8]| zstd::encode_all(d, 3).unwrap()),
        ("identity", |d: &[u8]| d.to_vec()),
    ] {
        let id = unique(enc);
        let lines: Vec<String> = (0..300)
            .map(|i| format!("{id} line {i} from 10.1.2.{}", i % 200))
            .collect();
        let body = lines.join("\n") + "\n";
        let r = server.post(
            "/api/v1/ingest",
            &[
                ("content-type", "application/x-ndjson"),
                ("content-encoding", enc),
            ],
            compress(body.as_bytes()),
        );
        assert_eq!(r.status, 200, "{enc}: {}", r.text());
        let ing = Ingested::from_json(&r.json());
        assert_eq!(ing.accepted, 300, "{enc}: {ing:?}");
        let got: Vec<String> = server
            .search_all_of(&[("q", &id)])
            .iter()
            .map(Hit::raw_text)
            .collect();
        assert_eq!(got, lines, "{enc}");
    }
    server.assert_still_serving();
}

#[test]
fn unknown_content_encoding_is_refused_with_415() {
    let server = Server::start();
    let id = unique("brotli");
    let r = server.post(
        "/api/v1/ingest",
        &[
            ("content-type", "application/x-ndjson"),
            ("content-encoding", "br"),
        ],
        format!("{id}\n").into_bytes(),
    );
    assert_eq!(r.status, 415, "{}", r.text());
    let msg = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        msg.contains("br") && msg.contains("gzip") && msg.contains("zstd"),
        "{msg}"
    );
    // A body that does not decompress is a 400, not a crash.
    let r = server.post(
        "/api/v1/ingest",
        &[("content-encoding", "gzip")],
        b"this is not gzip".to_vec(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|m| m.contains("gzip")),
        "{}",
        r.text()
    );
    assert_eq!(server.committed(), 0);
    server.assert_still_serving();
}

#[test]
fn gzip_bomb_over_max_body_is_refused_with_413() {
    let server = Server::start_with(&[("PRAMAAN_HTTP_MAX_BODY", "1MiB")]);
    // 64 gzip members of 1 MiB each (concatenated members are one gzip
    // stream): about 70 KiB on the wire, 64 MiB once inflated.
    let member = gzip(&vec![b'A'; 1 << 20]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 64)
        .collect();
    assert!(
        bomb.len() < 1 << 20,
        "the compressed body is under the limit itself"
    );
    let r = server.post(
        "/api/v1/ingest",
        &[
            ("content-type", "application/x-ndjson"),
            ("content-encoding", "gzip"),
        ],
        bomb,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    let msg = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        msg.contains("http.max_body") && msg.contains("1048576"),
        "a clear message: {msg}"
    );
    assert_eq!(server.committed(), 0);
    // Just under the limit inflated is fine.
    let id = unique("under-limit");
    let lines: Vec<String> = (0..7000)
        .map(|i| format!("{id} {i:06} {}", "z".repeat(90)))
        .collect();
    let body = lines.join("\n");
    assert!(
        body.len() < 1 << 20 && body.len() > 800_000,
        "{}",
        body.len()
    );
    let r = server.post(
        "/api/v1/ingest",
        &[("content-encoding", "gzip")],
        gzip(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(Ingested::from_json(&r.json()).accepted, 7000);
    // A plain body over the limit is refused too.
    let r = server.post("/api/v1/ingest", &[], vec![b'x'; (1 << 20) + 1]);
    assert_eq!(r.status, 413, "{}", r.text());
    server.assert_still_serving();
}

#[test]
fn over_long_udp_datagram_is_refused_as_too_long() {
    let server = Server::start_with(&[("PRAMAAN_SYSLOG_MAX_LINE", "1KiB")]);
    let id = unique("udp-long");
    server.udp_send(format!("<13>1 - host app - - - {id} {}", "u".repeat(2000)).as_bytes());
    server.wait_for_metric(
        "pramaan_lines_refused_total",
        &[("transport", "udp"), ("reason", "too_long"), LOCAL],
        1.0,
    );
    // Exactly at the limit is kept.
    let head = format!("<13>1 - host app - - - {id} ");
    let at_limit = format!("{head}{}", "k".repeat(1024 - head.len()));
    server.udp_send(at_limit.as_bytes());
    let hit = server.wait_for_text(&id);
    assert_eq!(hit.raw_text(), at_limit);
    server.assert_still_serving();
}

/// `http.request_timeout` says: "An HTTP request that takes longer than this
/// is abandoned with an error." A client that sends half a body and stalls
/// must not hold its connection (and a task) for ever.
#[test]
fn stalled_http_request_is_abandoned_after_request_timeout() {
    let server = Server::start_with(&[("PRAMAAN_HTTP_REQUEST_TIMEOUT", "2s")]);
    let mut s = TcpStream::connect(server.http).unwrap();
    s.write_all(
        format!("POST /api/v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TEST_TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100\r\n\r\nonly part of").as_bytes(),
    )
    .unwrap();
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 4096];
    // An error answer, or at least a closed connection.
    let answer = match s.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => String::new(),
        Err(e) => panic!(
            "no answer and no close within {:?} ({e}) for a request stalled past http.request_timeout (2s)",
            started.elapsed()
        ),
    };
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 5"),
        "{answer}"
    );
    assert_eq!(server.committed(), 0);
    server.assert_still_serving();
}

/// Past `syslog.max_connections`, a new connection is closed at once and
/// counted; the open ones keep working, and a slot frees when one closes.
#[test]
fn connections_past_max_connections_are_refused_and_counted() {
    let server = Server::start_with(&[
        ("PRAMAAN_SYSLOG_MAX_CONNECTIONS", "2"),
        // `b` holds its slot silently for as long as the test needs.
        ("PRAMAAN_SYSLOG_FIRST_BYTE_TIMEOUT", "0"),
    ]);
    let id = unique("max-conn");
    let mut a = TcpStream::connect(server.tcp).unwrap();
    let b = TcpStream::connect(server.tcp).unwrap();
    a.write_all(format!("<13>1 - host app - - - {id} a1\n").as_bytes())
        .unwrap();
    server.wait_for_hits(&[("q", &format!("{id} a1"))], 1);
    // The third is closed by the server without reading.
    let mut c = TcpStream::connect(server.tcp).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 8];
    match c.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the connection over the limit was not closed: {other:?}"),
    }
    server.wait_for_metric(
        "pramaan_connections_refused_total",
        &[("transport", "tcp"), ("reason", "max_connections")],
        1.0,
    );
    // The open ones still work.
    a.write_all(format!("<13>1 - host app - - - {id} a2\n").as_bytes())
        .unwrap();
    server.wait_for_hits(&[("q", &format!("{id} a2"))], 1);
    // Closing one frees a slot (the server notices the close asynchronously).
    close_and_wait(b);
    let line = format!("<13>1 - host app - - - {id} after a slot freed");
    wait_until(ARRIVAL_TIMEOUT, "a free connection slot", || {
        let mut s = TcpStream::connect(server.tcp).ok()?;
        s.write_all(format!("{line}\n").as_bytes()).ok()?;
        s.shutdown(std::net::Shutdown::Write).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let _ = s.read(&mut buf);
        let found = server.search_all_of(&[("q", &line)]);
        (!found.is_empty()).then_some(())
    });
    close_and_wait(a);
    server.assert_still_serving();
}
