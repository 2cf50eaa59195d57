//! Every line of the Loghub samples goes in and comes back byte for byte.
//!
//! The samples (`../shared/data/loghub/*.log`, twelve files of 2,000 lines)
//! end their lines with CR LF (all but Proxifier), most have no LF after the
//! last line, and none has a blank line. What "the line" is depends on the
//! path, as documented:
//!
//! * HTTP NDJSON strips one CR before each LF (the CR is the HTTP client's
//!   line ending, not content) and skips blank lines. So a file's lines are
//!   its bytes split at LF with one trailing CR removed; as there are no blank
//!   lines, nothing is skipped and every line must come back.
//! * Syslog over TCP keeps every byte of a frame: a CR before the LF of a
//!   newline-framed line is kept, and an octet-counted frame is exactly what
//!   was counted. There we send the bytes between LFs, CR included, and expect
//!   exactly those back.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;
use support::*;

fn loghub_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub")
}

/// (file name, raw bytes) of every `*.log`, sorted by name.
fn files() -> Vec<(String, Vec<u8>)> {
    let dir = loghub_dir();
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the Loghub samples are not at {} ({e})", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 12, "twelve Loghub files in {}", dir.display());
    out
}

/// The bytes between LFs (a last line without LF counts; an LF at the very
/// end does not start another line).
fn split_lf(data: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = data.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if data.ends_with(b"\n") {
        v.pop();
    }
    v
}

/// A file's lines as HTTP NDJSON defines them: one trailing CR removed.
fn ndjson_lines(data: &[u8]) -> Vec<Vec<u8>> {
    split_lf(data)
        .into_iter()
        .map(|l| l.strip_suffix(b"\r").map(<[u8]>::to_vec).unwrap_or(l))
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn counts(lines: &[Vec<u8>]) -> BTreeMap<Vec<u8>, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.clone()).or_insert(0) += 1;
    }
    m
}

/// Compares two multisets of lines and reports the first differences readably.
fn assert_same_lines(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    if got.len() == want.len() && counts(got) == counts(want) {
        return;
    }
    let (g, w) = (counts(got), counts(want));
    let missing: Vec<String> = w
        .iter()
        .filter(|(l, n)| g.get(*l).copied().unwrap_or(0) < **n)
        .take(5)
        .map(|(l, _)| format!("{:?}", String::from_utf8_lossy(l)))
        .collect();
    let extra: Vec<String> = g
        .iter()
        .filter(|(l, n)| w.get(*l).copied().unwrap_or(0) < **n)
        .take(5)
        .map(|(l, _)| format!("{:?}", String::from_utf8_lossy(l)))
        .collect();
    panic!(
        "{what}: got {} lines, want {}\nmissing (first 5): {missing:#?}\nunexpected (first 5): {extra:#?}",
        got.len(),
        want.len()
    );
}

#[test]
fn loghub_over_http_comes_back_byte_exact_and_fields_search() {
    let files = files();
    // What the test relies on about the samples (see the module comment).
    let mut with_cr = 0;
    for (name, data) in &files {
        let lines = split_lf(data);
        assert!(
            lines
                .iter()
                .all(|l| !l.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))),
            "{name} has a blank line; the NDJSON path skips those"
        );
        assert!(
            !data.starts_with(b"\xEF\xBB\xBF"),
            "{name} starts with a BOM"
        );
        // (A last line without LF has no CR either.)
        if lines[..lines.len() - 1].iter().all(|l| l.ends_with(b"\r")) {
            with_cr += 1;
        }
    }
    assert!(with_cr >= 10, "the samples end their lines with CR LF");

    let server = Server::start();
    let mut all_lines: Vec<Vec<u8>> = Vec::new();
    let mut by_seq: Vec<(u64, Vec<u8>, String)> = Vec::new();
    for (name, data) in &files {
        // The file's bytes as they are (CR LF included), cut into requests of
        // 500 lines at LF boundaries.
        let want = ndjson_lines(data);
        assert!(want.len() >= 1999, "{name}: {} lines", want.len());
        let mut start = 0;
        let mut line_no = 0;
        while start < data.len() {
            let mut end = start;
            let mut n = 0;
            while end < data.len() && n < 500 {
                end = match data[end..].iter().position(|b| *b == b'\n') {
                    Some(i) => end + i + 1,
                    None => data.len(),
                };
                n += 1;
            }
            let r = server.ingest(data[start..end].to_vec());
            assert_eq!(r.accepted, n as u64, "{name}: {r:?}");
            assert!(r.refused.is_empty(), "{name}: {r:?}");
            assert_eq!(r.empty_lines, 0, "{name}: {r:?}");
            let (first, last) = (r.first_seq.unwrap(), r.last_seq.unwrap());
            assert_eq!(last - first + 1, n as u64, "{r:?}");
            for (i, seq) in (first..=last).enumerate() {
                by_seq.push((seq, want[line_no + i].clone(), name.clone()));
            }
            line_no += n;
            start = end;
        }
        assert_eq!(line_no, want.len(), "{name}");
        all_lines.extend(want);
    }
    assert_eq!(all_lines.len(), by_seq.len());

    // Everything back, by sequence-number ranges.
    let hits = server.all();
    let got: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    assert_same_lines("all Loghub lines over HTTP", &got, &all_lines);
    // And each at the sequence number its request was given.
    assert_eq!(hits.len(), by_seq.len());
    for (h, (seq, line, name)) in hits.iter().zip(&by_seq) {
        assert_eq!(h.seq, *seq);
        assert!(
            h.raw == *line,
            "{name}, seq {seq}: stored {:?}, sent {:?}",
            h.raw_text(),
            String::from_utf8_lossy(line)
        );
        assert_eq!(h.str("transport"), Some("http"));
        assert!(h.str("raw").is_some(), "UTF-8 lines come back as `raw`");
    }
    assert_eq!(server.committed(), all_lines.len() as u64);

    let openssh = ndjson_lines(&files.iter().find(|(n, _)| n == "OpenSSH_2k.log").unwrap().1);

    // --ip through the CLI: exactly the OpenSSH lines that contain the address.
    let ip = "173.234.31.186";
    let want: Vec<Vec<u8>> = all_lines
        .iter()
        .filter(|l| contains(l, ip.as_bytes()))
        .cloned()
        .collect();
    assert_eq!(want.len(), 10);
    assert!(want.iter().all(|l| openssh.contains(l)));
    let mut cmd = pramaan(server.dir.path());
    cmd.args(["search", "--server", &server.url(), "--ip", ip])
        .args(["--format", "json", "--limit", "0"]);
    let out = run(cmd, None, Duration::from_secs(120));
    assert!(out.success(), "{out:?}");
    let hits = parse_hits(&out.stdout);
    let got: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    assert_same_lines("--ip 173.234.31.186", &got, &want);
    assert!(hits.iter().all(|h| h.list("ips").contains(&ip.to_owned())));

    // host=LabSZ: every OpenSSH line (`Dec 10 06:55:46 LabSZ sshd[...]: ...`), nothing else.
    let want: Vec<Vec<u8>> = all_lines
        .iter()
        .filter(|l| {
            std::str::from_utf8(l)
                .ok()
                .and_then(|s| s.split_whitespace().nth(3))
                .is_some_and(|h| h.eq_ignore_ascii_case("LabSZ"))
        })
        .cloned()
        .collect();
    assert_eq!(want.len(), openssh.len());
    let got: Vec<Vec<u8>> = server
        .search_all_of(&[("host", "LabSZ")])
        .into_iter()
        .map(|h| h.raw)
        .collect();
    assert_same_lines("host=LabSZ", &got, &want);

    // user=webmaster: the six OpenSSH lines about that invalid user.
    let want: Vec<Vec<u8>> = all_lines
        .iter()
        .filter(|l| {
            String::from_utf8_lossy(l)
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == "webmaster")
        })
        .cloned()
        .collect();
    assert_eq!(want.len(), 6);
    let hits = server.search_all_of(&[("user", "webmaster")]);
    let got: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    assert_same_lines("user=webmaster", &got, &want);

    // Text search counts equal a grep -F -c over the files.
    for text in [
        "Failed password",
        "PacketResponder",
        "ERROR",
        "173.234.31.186",
        "proxy.cse.cuhk.edu.hk:5070",
        "[preauth]",
        "node-",
    ] {
        let grep = all_lines
            .iter()
            .filter(|l| contains(l, text.as_bytes()))
            .count();
        assert!(grep > 0, "{text} occurs in the samples");
        let hits = server.search_all_of(&[("q", text)]);
        assert_eq!(hits.len(), grep, "q={text}");
        assert!(hits.iter().all(|h| contains(&h.raw, text.as_bytes())));
    }
    // The default limit is 100, and a limit is honoured.
    assert_eq!(server.search(&[("q", "Failed password")]).len(), 100);
    assert_eq!(
        server
            .search(&[("q", "Failed password"), ("limit", "7")])
            .len(),
        7
    );
    // The text search is case-sensitive and exact.
    let lower = all_lines
        .iter()
        .filter(|l| contains(l, b"failed password"))
        .count();
    assert_eq!(
        server.search_all_of(&[("q", "failed password")]).len(),
        lower
    );
}

/// Two data sets over syslog TCP. HPC newline-framed: its lines start with
/// digits and a space, which plain RFC 6587 detection would read as a length
/// prefix; pramaan's syslog framing counts octets only when `<PRI>` follows,
/// so every line stays a line. OpenSSH octet-counted, each line inside an
/// RFC 5424 message as rsyslog would send it. Every byte, CR included, comes
/// back exactly, in order.
#[test]
fn loghub_over_syslog_tcp_comes_back_byte_exact() {
    let files = files();
    let get = |n: &str| split_lf(&files.iter().find(|(f, _)| f == n).unwrap().1);
    let hpc = get("HPC_2k.log");
    let ssh = get("OpenSSH_2k.log");
    assert!(hpc
        .iter()
        .all(|l| l.first().is_some_and(u8::is_ascii_digit)));
    assert!(hpc[..hpc.len() - 1].iter().all(|l| l.ends_with(b"\r")));

    let server = Server::start();
    // Newline framing: the file as it is, CR LF and all, in uneven pieces so
    // that lines straddle reads.
    let data = &files.iter().find(|(f, _)| f == "HPC_2k.log").unwrap().1;
    let mut s = TcpStream::connect(server.tcp).unwrap();
    for piece in data.chunks(7919) {
        s.write_all(piece).unwrap();
    }
    close_and_wait(s);
    let hits = wait_until(ARRIVAL_TIMEOUT, "all HPC lines", || {
        (server.committed() >= hpc.len() as u64).then(|| server.all())
    });
    let got: Vec<Vec<u8>> = hits.iter().map(|h| h.raw.clone()).collect();
    assert_same_lines("HPC over TCP, newline-framed", &got, &hpc);
    assert_eq!(got, hpc, "in the order sent");
    assert!(hits.iter().all(|h| h.str("transport") == Some("tcp")));

    // Octet counting, each line as the MSG of an RFC 5424 message.
    let ssh: Vec<Vec<u8>> = ssh
        .iter()
        .map(|l| [b"<38>1 - relay-01 fwd - - - ".as_slice(), l].concat())
        .collect();
    let mut counted = Vec::new();
    for l in &ssh {
        counted.extend_from_slice(&octet(l));
    }
    server.tcp_send(&counted);
    let total = (hpc.len() + ssh.len()) as u64;
    wait_until(ARRIVAL_TIMEOUT, "all OpenSSH lines", || {
        (server.committed() >= total).then_some(())
    });
    let hits = server.scan(1000);
    assert_eq!(hits.len() as u64, total);
    let got: Vec<Vec<u8>> = hits[hpc.len()..].iter().map(|h| h.raw.clone()).collect();
    assert_same_lines("OpenSSH over TCP, octet-counted", &got, &ssh);
    assert_eq!(got, ssh, "in the order sent");
    assert!(hits[hpc.len()..]
        .iter()
        .all(|h| h.str("host") == Some("relay-01") && h.str("app") == Some("fwd")));
    let m = server.metrics();
    assert_eq!(
        m.sum("pramaan_lines_received_total", &[("transport", "tcp")]),
        total as f64
    );
    assert_eq!(m.sum("pramaan_lines_refused_total", &[]), 0.0, "{}", m.text);
}
