//! RELP (`relp.listen`) against the real binary: rsyslog's `omrelp` sends
//! Loghub lines (plain and over TLS) and each is found by search, once; a
//! raw client checks the protocol's answers and every refusal; a `kill -9`
//! while frames are in flight loses nothing that was acknowledged, and
//! rsyslog's resends after it are counted.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

fn loghub_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub")
}

/// `per_file` lines of every Loghub file (CR removed), without control
/// characters (rsyslog would escape them) or empty lines.
fn loghub_lines(per_file: usize) -> Vec<String> {
    let dir = loghub_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the Loghub samples are not at {} ({e})", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12, "twelve Loghub files in {}", dir.display());
    let mut out = Vec::new();
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        out.extend(
            text.lines()
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| !l.trim().is_empty() && !l.chars().any(char::is_control))
                .filter(|l| !l.contains('\u{FFFD}'))
                .take(per_file)
                .map(str::to_owned),
        );
    }
    out
}

/// A server with RELP on a fixed loopback port (so that it keeps it across
/// restarts) and `env` besides.
fn relp_server(env: &[(&str, &str)]) -> (Server, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    let mut all = vec![("PRAMAAN_RELP_LISTEN", listen.as_str())];
    all.extend_from_slice(env);
    let server = Server::start_with(&all);
    let ready: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(server.dir.path().join("ready.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ready["relp"].as_str(), Some(listen.as_str()), "{ready}");
    (server, addr)
}

// ------------------------------------------------------------- rsyslog

const OMRELP: &[(&str, &str)] = &[("omrelp", "rsyslog-relp")];

/// imfile reads `input` and omrelp sends each line to `to` as an RFC 5424
/// line whose APP-NAME is `app` and whose MSG is the line; `tls` adds
/// omrelp's TLS parameters.
fn omrelp_conf(dir: &Path, input: &Path, to: SocketAddr, app: &str, tls: &str) -> String {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    format!(
        r#"global(workDirectory="{work}")
module(load="imfile")
module(load="omrelp")
template(name="relp5424" type="string" string="<13>1 %TIMESTAMP:::date-rfc3339% relp-host {app} - - - %msg%")
input(type="imfile" file="{input}" tag="t" ruleset="fwd")
ruleset(name="fwd") {{
  action(type="omrelp" target="127.0.0.1" port="{port}" template="relp5424"
         action.resumeRetryCount="-1" action.resumeInterval="1" {tls})
}}
"#,
        work = work.display(),
        input = input.display(),
        port = to.port(),
    )
}

/// The MSG of a stored line (after the header `omrelp_conf` writes).
fn msg_of(raw: &str) -> &str {
    raw.split_once(" - - - ").map_or(raw, |(_, m)| m)
}

fn append_lines(input: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(input)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
}

/// Starts the server again; the records it has then.
fn server_committed_after_restart(server: &mut Server) -> u64 {
    server.start_again();
    server.committed()
}

/// Waits until `want` records of `app` are stored; returns them.
fn wait_for_app(server: &Server, rsyslog: &mut Rsyslog, app: &str, want: usize) -> Vec<Hit> {
    wait_until(
        Duration::from_secs(120),
        &format!("{want} omrelp lines in pramaan"),
        || {
            rsyslog.assert_running();
            let h = server.search_all_of(&[("q", app)]);
            (h.len() >= want).then_some(h)
        },
    )
}

/// Every line once, byte-exact, as RELP records over `transport`.
fn assert_each_once(hits: &[Hit], lines: &[String], transport: &str) {
    let mut want: HashMap<String, i64> = HashMap::new();
    for l in lines {
        *want.entry(l.clone()).or_default() += 1;
    }
    for h in hits {
        let raw = h.raw_text();
        *want.entry(msg_of(&raw).to_owned()).or_default() -= 1;
        assert_eq!(h.str("transport"), Some(transport), "{:?}", h.json);
        assert!(
            h.str("peer")
                .is_some_and(|p| p.starts_with("relp:127.0.0.1:")),
            "{:?}",
            h.json
        );
        assert_eq!(h.str("format"), Some("rfc5424"), "{:?}", h.json);
        assert_eq!(h.str("host"), Some("relp-host"), "{:?}", h.json);
    }
    let off: Vec<_> = want.iter().filter(|(_, n)| **n != 0).collect();
    assert!(
        off.is_empty(),
        "lines missing (>0) or repeated (<0): {off:?}"
    );
}

#[test]
fn rsyslog_omrelp_delivers_loghub_lines_each_once() {
    let (server, addr) = relp_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.log");
    let lines = loghub_lines(40);
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let app = unique("omrelp");
    let mut rsyslog = Rsyslog::start(
        dir.path(),
        &omrelp_conf(dir.path(), &input, addr, &app, ""),
        OMRELP,
    );
    let hits = wait_for_app(&server, &mut rsyslog, &app, lines.len());
    // Nothing more arrives (no resends in a session that never broke).
    std::thread::sleep(Duration::from_secs(2));
    let hits_after = server.search_all_of(&[("q", &app)]);
    assert_eq!(hits_after.len(), hits.len());
    assert_each_once(&hits_after, &lines, "tcp");
    // Searchable by the words of the lines themselves.
    let one = &lines[lines.len() / 2];
    let word = one.split_whitespace().max_by_key(|w| w.len()).unwrap();
    let found = server.search_all_of(&[("q", word), ("app", &app)]);
    assert!(
        found.iter().any(|h| msg_of(&h.raw_text()) == one),
        "{word:?} finds {one:?}"
    );
    let m = server.metrics();
    let received = m.sum("pramaan_lines_received_total", &[("transport", "relp")]);
    assert_eq!(received as usize, lines.len());
    drop(rsyslog);
}

/// A CA (`ca.pem`), a server certificate it signed for 127.0.0.1 and
/// localhost (`server.pem`, `server.key`), and a client certificate
/// (`client.pem`, `client.key`): librelp speaks anonymous TLS (ANON-DH,
/// which rustls rightly refuses) unless it has a certificate of its own.
fn ca_and_server(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509", "-days", "2", "-subj", "/CN=relp test CA"];
    a.extend(ec);
    a.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    a.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    a.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &a);
    sign(
        dir,
        "server",
        "serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost",
    );
    sign(dir, "client", "clientAuth");
}

/// `name.pem`, `name.key`: a certificate the CA signed, with `usage`.
fn sign(dir: &Path, name: &str, usage: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (key, csr, pem, ext, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
        format!("/CN={}", if name == "server" { "localhost" } else { name }),
    );
    let mut a = vec!["req", "-subj", &subj];
    a.extend(ec);
    a.extend(["-keyout", &key, "-out", &csr]);
    openssl(dir, &a);
    std::fs::write(
        dir.join(&ext),
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}

#[test]
fn rsyslog_omrelp_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    ca_and_server(certs.path());
    let p = |n: &str| certs.path().join(n).display().to_string();
    let (server, addr) = relp_server(&[
        ("PRAMAAN_RELP_TLS_CERT", &p("server.pem")),
        ("PRAMAAN_RELP_TLS_KEY", &p("server.key")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.log");
    let lines = loghub_lines(10);
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let app = unique("omrelp-tls");
    let tls = format!(
        r#"tls="on" tls.caCert="{}" tls.myCert="{}" tls.myPrivKey="{}" tls.authMode="name" tls.permittedPeer=["localhost"]"#,
        p("ca.pem"),
        p("client.pem"),
        p("client.key")
    );
    let conf = omrelp_conf(dir.path(), &input, addr, &app, &tls);
    let mut rsyslog = Rsyslog::start(dir.path(), &conf, OMRELP);
    let hits = wait_for_app(&server, &mut rsyslog, &app, lines.len());
    assert_each_once(&hits, &lines, "tls");
    // A plain-text RELP client gets no session on the TLS port.
    let mut c = RelpClient::connect(addr);
    c.send("open", b"relp_version=0\ncommands=syslog");
    assert!(c.answers(Duration::from_secs(5)).is_empty());
    drop(rsyslog);
}

// ------------------------------------------------------------ raw client

/// A RELP client on a plain socket, for what rsyslog would never send.
struct RelpClient {
    s: TcpStream,
    next: u32,
    buf: Vec<u8>,
    eof: bool,
}

/// One frame from the server: (txnr, command, data).
type Answer = (u32, String, String);

impl RelpClient {
    fn connect(addr: SocketAddr) -> RelpClient {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        RelpClient {
            s,
            next: 1,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// A frame with the next transaction number.
    fn send(&mut self, cmd: &str, data: &[u8]) -> u32 {
        let t = self.next;
        self.next += 1;
        self.send_as(t, cmd, data);
        t
    }

    fn send_as(&mut self, txnr: u32, cmd: &str, data: &[u8]) {
        let mut f = format!("{txnr} {cmd} {}", data.len()).into_bytes();
        if !data.is_empty() {
            f.push(b' ');
            f.extend_from_slice(data);
        }
        f.push(b'\n');
        self.raw(&f);
    }

    fn raw(&mut self, b: &[u8]) {
        let _ = self.s.write_all(b);
    }

    fn open(&mut self) {
        self.send(
            "open",
            b"relp_version=0\nrelp_software=test,1\ncommands=syslog",
        );
        let a = self.answers_until(1, Duration::from_secs(10));
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].2.starts_with("200 OK\n"), "{a:?}");
        assert!(a[0].2.contains("commands=syslog"), "{a:?}");
    }

    /// Frames that arrive within `wait` (until the server closes or stays silent).
    fn answers(&mut self, wait: Duration) -> Vec<Answer> {
        self.answers_until(usize::MAX, wait)
    }

    fn answers_until(&mut self, n: usize, wait: Duration) -> Vec<Answer> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            while let Some(f) = self.parse() {
                out.push(f);
            }
            if out.len() >= n || self.eof || Instant::now() >= deadline {
                return out;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .unwrap();
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                // Reset: the server closed.
                Err(_) => self.eof = true,
            }
        }
    }

    fn parse(&mut self) -> Option<Answer> {
        let text = &self.buf;
        let sp1 = text.iter().position(|b| *b == b' ')?;
        let sp2 = sp1 + 1 + text[sp1 + 1..].iter().position(|b| *b == b' ')?;
        let end = sp2
            + 1
            + text[sp2 + 1..]
                .iter()
                .position(|b| *b == b' ' || *b == b'\n')?;
        let txnr: u32 = std::str::from_utf8(&text[..sp1]).ok()?.parse().ok()?;
        let cmd = String::from_utf8_lossy(&text[sp1 + 1..sp2]).into_owned();
        let len: usize = std::str::from_utf8(&text[sp2 + 1..end])
            .ok()?
            .parse()
            .ok()?;
        let start = if len == 0 { end } else { end + 1 };
        if text.len() < start + len + 1 {
            return None;
        }
        let data = String::from_utf8_lossy(&text[start..start + len]).into_owned();
        assert_eq!(text[start + len], b'\n', "trailer");
        self.buf.drain(..start + len + 1);
        Some((txnr, cmd, data))
    }
}

fn refused(server: &Server, reason: &str) -> f64 {
    server.metrics().sum(
        "pramaan_lines_refused_total",
        &[("transport", "relp"), ("reason", reason)],
    )
}

#[test]
fn bad_sessions_get_500_or_are_closed_and_are_counted() {
    let (server, addr) = relp_server(&[("PRAMAAN_SYSLOG_MAX_LINE", "1024")]);
    let id = unique("relp-bad");
    let msg = |s: &str| format!("<13>1 2026-12-06T10:00:00Z h {id} - - - {s}").into_bytes();

    // A skipped transaction number: the frames before it are stored and
    // acknowledged; it gets a 500 naming the expected number; the session closes.
    let mut c = RelpClient::connect(addr);
    c.open();
    c.send("syslog", &msg("first"));
    c.send_as(4, "syslog", &msg("after a skipped number"));
    let a = c.answers(Duration::from_secs(10));
    assert_eq!(a[0], (2, "rsp".into(), "200 OK".into()), "{a:?}");
    assert_eq!(a[1].0, 4, "{a:?}");
    assert!(
        a[1].2.starts_with("500 ") && a[1].2.contains("expected 3"),
        "{a:?}"
    );
    assert_eq!(a[2], (0, "serverclose".into(), String::new()), "{a:?}");
    assert!(c.eof, "the session is closed");
    // A repeated one, likewise.
    let mut c = RelpClient::connect(addr);
    c.open();
    c.send("syslog", &msg("once"));
    c.send_as(2, "syslog", &msg("once"));
    let a = c.answers(Duration::from_secs(10));
    assert_eq!(a[0].2, "200 OK", "{a:?}");
    assert!(
        a[1].2.starts_with("500 ") && a[1].2.contains("out of sequence"),
        "{a:?}"
    );
    assert!(c.eof);
    assert_eq!(refused(&server, "txnr_sequence"), 2.0);

    // A message over syslog.max_line: 500 naming the limit, skipped, and
    // the session goes on; so does an unknown command.
    let mut c = RelpClient::connect(addr);
    c.open();
    c.send("syslog", &vec![b'x'; 5000]);
    c.send("starttls", b"");
    c.send("syslog", &msg("after the refusals"));
    let a = c.answers_until(3, Duration::from_secs(10));
    assert!(
        a[0].2.starts_with("500 ") && a[0].2.contains("1024-byte limit"),
        "{a:?}"
    );
    assert!(
        a[1].2.starts_with("500 ") && a[1].2.contains("starttls"),
        "{a:?}"
    );
    assert_eq!(a[2].2, "200 OK", "{a:?}");
    c.send("close", b"");
    let a = c.answers(Duration::from_secs(10));
    assert_eq!(a, [(5, "rsp".into(), "200 OK".into())]);
    assert!(c.eof, "closed after close");
    assert_eq!(refused(&server, "too_long"), 1.0);
    assert_eq!(refused(&server, "unknown_command"), 1.0);

    // A DATALEN of 999999999 is skipped as it comes, never buffered.
    let mut c = RelpClient::connect(addr);
    c.open();
    c.raw(b"2 syslog 999999999 ");
    for _ in 0..64 {
        c.raw(&[b'y'; 16384]);
    }
    drop(c);

    // Garbage, and a frame before open: closed without a session.
    let mut c = RelpClient::connect(addr);
    c.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let a = c.answers(Duration::from_secs(10));
    assert_eq!(a, [(0, "serverclose".into(), String::new())]);
    assert!(c.eof);
    let mut c = RelpClient::connect(addr);
    c.send("syslog", &msg("before open"));
    let a = c.answers(Duration::from_secs(10));
    assert!(
        a[0].2.starts_with("500 ") && a[0].2.contains("open"),
        "{a:?}"
    );
    assert!(c.eof);
    assert_eq!(refused(&server, "bad_frame"), 1.0);
    assert_eq!(refused(&server, "not_open"), 1.0);

    // What was acknowledged is stored, once; nothing refused is.
    let hits = server.search_all_of(&[("q", &id)]);
    let mut got: Vec<String> = hits
        .iter()
        .map(|h| msg_of(&h.raw_text()).to_owned())
        .collect();
    got.sort();
    assert_eq!(got, ["after the refusals", "first", "once"]);
    server.assert_still_serving();
}

/// A raw client pipelines frames while the server is killed: everything it
/// got `200 OK` for is in the vault after the restart.
#[test]
fn a_kill_9_loses_nothing_acknowledged() {
    let (mut server, addr) = relp_server(&[]);
    let id = unique("relp-crash");
    let mut c = RelpClient::connect(addr);
    c.open();
    let mut acked = Vec::new();
    let mut sent = HashMap::new();
    for round in 0..200 {
        for k in 0..20 {
            let i = round * 20 + k;
            let t = c.send(
                "syslog",
                format!("<13>1 2026-12-06T10:00:00Z h {id} - - - line {i}").as_bytes(),
            );
            sent.insert(t, i);
        }
        for (t, _, d) in c.answers(Duration::from_millis(1)) {
            assert_eq!(d, "200 OK");
            acked.push(sent[&t]);
        }
        if round == 100 {
            server.kill9();
            break;
        }
    }
    for (t, _, d) in c.answers(Duration::from_secs(1)) {
        assert_eq!(d, "200 OK");
        acked.push(sent[&t]);
    }
    assert!(
        acked.len() > 100,
        "acknowledged before the kill: {}",
        acked.len()
    );
    server.start_again();
    let stored: Vec<usize> = server
        .search_all_of(&[("q", &id)])
        .iter()
        .map(|h| {
            msg_of(&h.raw_text())
                .trim_start_matches("line ")
                .parse()
                .unwrap()
        })
        .collect();
    let lost: Vec<_> = acked.iter().filter(|i| !stored.contains(i)).collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    let mut unique_stored = stored.clone();
    unique_stored.sort_unstable();
    unique_stored.dedup();
    assert_eq!(
        unique_stored.len(),
        stored.len(),
        "one session never stores twice"
    );
}

/// rsyslog sends while pramaan is killed (`kill -9`) and restarted twice:
/// every line arrives; resends of lines that were stored but not yet
/// acknowledged are the only duplicates, and they are counted.
#[test]
fn rsyslog_resends_after_kill_9_and_every_line_arrives() {
    let (mut server, addr) = relp_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.log");
    std::fs::write(&input, "").unwrap();
    let app = unique("omrelp-crash");
    let mut rsyslog = Rsyslog::start(
        dir.path(),
        &omrelp_conf(dir.path(), &input, addr, &app, ""),
        OMRELP,
    );
    let lines: Vec<String> = loghub_lines(500)
        .into_iter()
        .enumerate()
        .map(|(i, l)| format!("{i} {l}"))
        .collect();
    // All at once, so that rsyslog has frames in flight when the kill comes:
    // at a third and at two thirds of the lines stored.
    append_lines(&input, &lines);
    let base = server.committed();
    let n = lines.len() as u64;
    for at in [base + n / 3, base + 2 * n / 3] {
        wait_until(Duration::from_secs(120), "rsyslog to send a part", || {
            rsyslog.assert_running();
            (server.committed() >= at).then_some(())
        });
        server.kill9();
        let stored = server_committed_after_restart(&mut server) - base;
        eprintln!("kill -9 with {stored} of {n} lines stored");
        assert!(stored < n, "the kill came while rsyslog was sending");
    }
    let hits = wait_for_app(&server, &mut rsyslog, &app, lines.len());
    std::thread::sleep(Duration::from_secs(3));
    let hits = {
        let again = server.search_all_of(&[("q", &app)]);
        assert!(again.len() >= hits.len());
        again
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for h in &hits {
        *count.entry(msg_of(&h.raw_text()).to_owned()).or_default() += 1;
    }
    let missing: Vec<_> = lines.iter().filter(|l| !count.contains_key(*l)).collect();
    assert!(missing.is_empty(), "lost after kill -9: {missing:?}");
    let duplicates: usize = count.values().map(|n| n - 1).sum();
    eprintln!(
        "omrelp after 2 × kill -9: {} lines, {} records, {duplicates} duplicates (resent: stored before the kill, unacknowledged)",
        lines.len(),
        hits.len()
    );
    assert_eq!(hits.len(), lines.len() + duplicates);
    // At most omrelp's window (128 frames) of resends per crash.
    assert!(duplicates <= 2 * 128, "{duplicates} duplicates");
    drop(rsyslog);
}
