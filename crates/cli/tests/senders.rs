//! Real senders against the real binary: util-linux `logger` (UDP and TCP,
//! RFC 3164 and RFC 5424), rsyslog forwarding with octet counting, and a raw
//! TCP client that mixes both RFC 6587 framings on one connection.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

fn logger_path() -> PathBuf {
    let p = PathBuf::from("/usr/bin/logger");
    if p.is_file() {
        return p;
    }
    find_program("logger")
        .unwrap_or_else(|| panic!("util-linux `logger` is not installed: {TEST_COMMAND_HINT}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("/proc/sys/kernel/hostname")
        .trim()
        .to_owned()
}

#[derive(Clone, Copy, Debug)]
enum Proto {
    Udp,
    Tcp,
}

#[derive(Clone, Copy, Debug)]
enum Rfc {
    R3164,
    R5424,
}

const TAG: &str = "pramaan-e2e";

/// Sends a unique message with `logger` to a fresh server and checks what was stored.
fn send_with_logger(proto: Proto, rfc: Rfc) {
    let server = Server::start();
    let msg = unique(&format!("logger {proto:?} {rfc:?} message"));
    let port = match proto {
        Proto::Udp => server.udp.port(),
        Proto::Tcp => server.tcp.port(),
    };
    let mut cmd = Command::new(logger_path());
    cmd.args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .arg(match proto {
            Proto::Udp => "--udp",
            Proto::Tcp => "--tcp",
        })
        .arg(match rfc {
            Rfc::R3164 => "--rfc3164",
            Rfc::R5424 => "--rfc5424",
        })
        .args(["--tag", TAG, "--priority", "auth.warning", "--", &msg]);
    let out = run(cmd, None, Duration::from_secs(30));
    assert!(out.success(), "logger failed: {out:?}");

    let hit = server.wait_for_text(&msg);
    let raw = hit.raw_text();
    assert_eq!(raw.matches(msg.as_str()).count(), 1, "{raw}");
    assert!(
        raw.ends_with(&msg),
        "the message is the end of the line: {raw:?}"
    );
    // auth (4) * 8 + warning (4) = 36
    assert!(raw.starts_with("<36>"), "{raw:?}");
    let transport = match proto {
        Proto::Udp => "udp",
        Proto::Tcp => "tcp",
    };
    assert_eq!(hit.str("transport"), Some(transport), "{:?}", hit.json);
    assert!(
        hit.str("peer")
            .unwrap_or_default()
            .starts_with("127.0.0.1:"),
        "{:?}",
        hit.json
    );
    assert_eq!(hit.str("severity"), Some("warning"), "{:?}", hit.json);
    assert_eq!(hit.json["facility"].as_u64(), Some(4), "{:?}", hit.json);
    assert_eq!(hit.str("app"), Some(TAG), "{:?}", hit.json);
    assert_eq!(hit.str("message"), Some(msg.as_str()), "{:?}", hit.json);
    assert!(hit.str("parse_error").is_none(), "{:?}", hit.json);
    assert!(hit.str("event_time").is_some(), "{:?}", hit.json);
    match rfc {
        Rfc::R5424 => {
            assert!(raw.starts_with("<36>1 "), "{raw:?}");
            assert_eq!(hit.str("format"), Some("rfc5424"), "{:?}", hit.json);
            // logger writes the full host name in RFC 5424.
            assert_eq!(hit.str("host"), Some(hostname().as_str()), "{:?}", hit.json);
            // The header's HOSTNAME and APP-NAME, read from the line itself.
            let fields: Vec<&str> = raw.splitn(5, ' ').collect();
            assert_eq!(hit.str("host"), Some(fields[2]));
            assert_eq!(hit.str("app"), Some(fields[3]));
            // event_time is the header's timestamp, with its offset.
            let ts = fields[1];
            let et = hit.str("event_time").unwrap();
            assert_eq!(
                ts.parse::<jiff::Timestamp>().unwrap(),
                et.parse::<jiff::Timestamp>().unwrap(),
                "{ts} vs {et}"
            );
            assert_eq!(hit.json["event_zone_assumed"], serde_json::json!(false));
        }
        Rfc::R3164 => {
            assert_eq!(hit.str("format"), Some("rfc3164"), "{:?}", hit.json);
            let short = hostname().split('.').next().unwrap().to_owned();
            assert_eq!(hit.str("host"), Some(short.as_str()), "{:?}", hit.json);
            // RFC 3164 stamps carry no zone: it is assumed.
            assert_eq!(hit.json["event_zone_assumed"], serde_json::json!(true));
        }
    }
    let m = server.metrics();
    assert_eq!(
        m.sum(
            "pramaan_lines_received_total",
            &[("transport", transport), ("source", "127.0.0.1")]
        ),
        1.0,
        "{}",
        m.text
    );
}

#[test]
fn logger_udp_rfc3164() {
    send_with_logger(Proto::Udp, Rfc::R3164);
}

#[test]
fn logger_udp_rfc5424() {
    send_with_logger(Proto::Udp, Rfc::R5424);
}

#[test]
fn logger_tcp_rfc3164() {
    send_with_logger(Proto::Tcp, Rfc::R3164);
}

#[test]
fn logger_tcp_rfc5424() {
    send_with_logger(Proto::Tcp, Rfc::R5424);
}

/// `logger --octet-count` over TCP, several messages from one file on one connection.
#[test]
fn logger_tcp_octet_counted_file() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..20)
        .map(|i| unique(&format!("octet-file-{i}")))
        .collect();
    let file = dir.path().join("lines.txt");
    std::fs::write(&file, ids.join("\n") + "\n").unwrap();
    let mut cmd = Command::new(logger_path());
    cmd.args([
        "--server",
        "127.0.0.1",
        "--port",
        &server.tcp.port().to_string(),
    ])
    .args([
        "--tcp",
        "--octet-count",
        "--rfc5424",
        "--tag",
        TAG,
        "--file",
    ])
    .arg(&file);
    let out = run(cmd, None, Duration::from_secs(30));
    assert!(out.success(), "logger failed: {out:?}");
    for id in &ids {
        let hit = server.wait_for_text(id);
        assert_eq!(hit.str("message"), Some(id.as_str()));
        assert_eq!(hit.str("app"), Some(TAG));
        assert_eq!(hit.str("transport"), Some("tcp"));
    }
}

/// A raw client mixes octet-counted and newline-framed messages on one
/// connection, in awkward pieces; each frame is stored exactly.
#[test]
fn raw_tcp_client_mixes_octet_counting_and_newline_framing() {
    let server = Server::start();
    let id = unique("mixed");
    let frames: Vec<(bool, Vec<u8>)> = vec![
        (
            true,
            format!("<13>1 - h app - - - {id} octet 1").into_bytes(),
        ),
        (
            false,
            format!("<13>1 - h app - - - {id} newline 1").into_bytes(),
        ),
        // An LF inside an octet-counted frame belongs to the message.
        (
            true,
            format!("<13>1 - h app - - - {id} octet 2\nsecond line of it").into_bytes(),
        ),
        (
            false,
            format!("<13>Mar  3 14:02:11 h app: {id} newline 2 (RFC 3164)").into_bytes(),
        ),
        // A CR before the LF of a newline frame is kept: the bytes are evidence.
        (
            false,
            format!("<13>1 - h app - - - {id} newline 3 with CR\r").into_bytes(),
        ),
        (
            true,
            format!("<13>{id} octet 3, no header but the PRI").into_bytes(),
        ),
        // A newline-framed line that starts with digits and a space stays a
        // line: octets are counted only when the syslog `<` follows.
        (
            false,
            format!("12345 {id} newline 5 starting with digits").into_bytes(),
        ),
        (
            false,
            format!("<13>1 - h app - - - {id} newline 4").into_bytes(),
        ),
    ];
    let mut stream = Vec::new();
    for (counted, msg) in &frames {
        if *counted {
            stream.extend_from_slice(&octet(msg));
        } else {
            stream.extend_from_slice(msg);
            stream.push(b'\n');
        }
    }
    // The last line ends without LF: the end of the connection ends it.
    let last = format!("<13>1 - h app - - - {id} last line without LF");
    stream.extend_from_slice(last.as_bytes());

    let mut s = TcpStream::connect(server.tcp).unwrap();
    s.set_nodelay(true).unwrap();
    // Cut the stream at awkward places: inside length prefixes, right after
    // them, and inside messages, with pauses so the server sees separate reads.
    let mut pos = 0;
    for (i, step) in [1usize, 2, 3, 5, 7, 11, 13, 17, 64]
        .iter()
        .cycle()
        .enumerate()
    {
        if pos >= stream.len() {
            break;
        }
        let end = (pos + step).min(stream.len());
        s.write_all(&stream[pos..end]).unwrap();
        pos = end;
        if i % 7 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    close_and_wait(s);

    let mut want: Vec<Vec<u8>> = frames.into_iter().map(|(_, m)| m).collect();
    want.push(last.into_bytes());
    let hits = server.wait_for_hits(&[("q", &id)], want.len());
    let got: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    assert_eq!(
        got.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>(),
        want.iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(got, want, "byte-exact, in the order sent");
    assert!(hits.iter().all(|h| h.str("transport") == Some("tcp")));
    // One connection: one peer.
    let peers: std::collections::HashSet<_> = hits.iter().map(|h| h.str("peer")).collect();
    assert_eq!(peers.len(), 1, "{peers:?}");
    let m = server.metrics();
    assert_eq!(
        m.sum("pramaan_lines_received_total", &[("transport", "tcp")]),
        9.0
    );
    assert_eq!(m.sum("pramaan_lines_refused_total", &[]), 0.0, "{}", m.text);
}

// ------------------------------------------------------------------ rsyslog

/// The bytes received on one connection, as they arrive.
type Capture = Arc<Mutex<Vec<u8>>>;

/// A TCP relay between rsyslog and pramaan that records, per connection,
/// every byte rsyslog forwarded.
struct Tap {
    addr: SocketAddr,
    captured: Arc<Mutex<Vec<Capture>>>,
}

impl Tap {
    fn start(to: SocketAddr) -> Tap {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let captured: Arc<Mutex<Vec<Capture>>> = Arc::default();
        let c2 = captured.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut from) = conn else { return };
                let buf: Capture = Arc::default();
                c2.lock().unwrap().push(buf.clone());
                std::thread::spawn(move || {
                    let mut to = TcpStream::connect(to).expect("the tap connects to pramaan");
                    let mut chunk = vec![0u8; 64 * 1024];
                    loop {
                        match from.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                buf.lock().unwrap().extend_from_slice(&chunk[..n]);
                                if to.write_all(&chunk[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        });
        Tap { addr, captured }
    }

    /// Every octet-counted frame forwarded so far, per connection, in order.
    fn frames(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for conn in self.captured.lock().unwrap().iter() {
            let data = conn.lock().unwrap().clone();
            let mut rest = &data[..];
            while !rest.is_empty() {
                let sp = rest
                    .iter()
                    .position(|b| *b == b' ')
                    .expect("an octet-count prefix");
                let len: usize = std::str::from_utf8(&rest[..sp])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| {
                        panic!(
                            "rsyslog did not send an octet-counted frame: {:?}",
                            String::from_utf8_lossy(&rest[..rest.len().min(80)])
                        )
                    });
                if rest.len() < sp + 1 + len {
                    break; // still arriving
                }
                out.push(rest[sp + 1..sp + 1 + len].to_vec());
                rest = &rest[sp + 1 + len..];
            }
        }
        out
    }
}

/// rsyslog reads a file (imfile) and forwards each line to pramaan over TCP
/// with octet counting in the RFC 5424 template. pramaan keeps each frame
/// exactly as rsyslog sent it, once.
#[test]
fn rsyslog_forwards_octet_counted_rfc5424() {
    let server = Server::start();
    let tap = Tap::start(server.tcp);
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let input = dir.path().join("input.log");
    let run_id = unique("rsyslog");
    let line = |i: usize| {
        format!(
            "{run_id} line {i}: Failed password for root from 10.20.{}.{} port 22 ssh2 नमस्ते \"quoted\" [x] \\ end",
            i / 200,
            i % 200 + 1
        )
    };
    // Lines already in the file when rsyslog starts, and lines appended while it runs.
    let first: Vec<String> = (0..50).map(line).collect();
    std::fs::write(&input, first.join("\n") + "\n").unwrap();
    let conf = format!(
        r#"global(workDirectory="{work}")
module(load="imfile")
input(type="imfile" file="{input}" tag="e2e" severity="warning" facility="local3" ruleset="fwd")
ruleset(name="fwd") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}}
"#,
        work = work.display(),
        input = input.display(),
        port = tap.addr.port(),
    );
    let mut rsyslog = Rsyslog::start(dir.path(), &conf, &[]);
    let all: Vec<String> = (0..150).map(line).collect();
    // Wait until rsyslog has forwarded the first lines before appending more.
    wait_until(
        ARRIVAL_TIMEOUT,
        "rsyslog to forward the first lines",
        || {
            rsyslog.assert_running();
            (tap.frames().len() >= first.len()).then_some(())
        },
    );
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        for l in &all[first.len()..] {
            writeln!(f, "{l}").unwrap();
        }
    }
    let hits = wait_until(ARRIVAL_TIMEOUT, "every rsyslog line in pramaan", || {
        rsyslog.assert_running();
        let h = server.search_all_of(&[("q", &run_id)]);
        (h.len() >= all.len()).then_some(h)
    });
    drop(rsyslog);

    let frames = tap.frames();
    assert_eq!(
        frames.len(),
        all.len(),
        "rsyslog forwarded {} frames for {} lines",
        frames.len(),
        all.len()
    );
    let stored: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    // Byte-exact, as rsyslog forwarded them (the template's trailing LF is
    // inside rsyslog's octet count, so it is part of the message and kept).
    assert_eq!(sorted(&stored), sorted(&frames));
    assert_eq!(stored, frames, "and in the order forwarded");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (h, want) in hits.iter().zip(&all) {
        let raw = h.raw_text();
        assert_eq!(raw.matches(want.as_str()).count(), 1, "{raw:?}");
        *seen.entry(want.as_str()).or_default() += 1;
        assert!(raw.starts_with("<156>1 "), "local3.warning: {raw:?}");
        assert_eq!(h.str("transport"), Some("tcp"));
        assert_eq!(h.str("format"), Some("rfc5424"), "{:?}", h.json);
        assert_eq!(h.str("app"), Some("e2e"), "{:?}", h.json);
        assert_eq!(h.str("severity"), Some("warning"), "{:?}", h.json);
        assert!(h.str("host").is_some_and(|x| !x.is_empty()), "{:?}", h.json);
        assert!(h.str("parse_error").is_none(), "{:?}", h.json);
        assert_eq!(h.list("users"), ["root"], "{:?}", h.json);
        assert_eq!(h.list("ips").len(), 1, "{:?}", h.json);
    }
    assert_eq!(seen.len(), all.len(), "every line exactly once");
}
