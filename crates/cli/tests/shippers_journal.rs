//! `POST /upload` from `systemd-journal-upload` (Debian's
//! `systemd-journal-remote`): Loghub lines made into journal entries
//! (export format → `systemd-journal-remote -o FILE.journal -`, as there is
//! no journald here), uploaded with an ingest token in the URL's user info
//! (journal-upload sends no other header; curl turns it into Basic), and
//! found by search with their fields; binary fields kept byte for byte.
//! Then the refusals: no token, a truncated binary field, a body over
//! `http.max_body`, an entry over `syslog.max_line`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

fn program(name: &str) -> PathBuf {
    ["/lib/systemd", "/usr/lib/systemd"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed (Debian's systemd-journal-remote): {TEST_COMMAND_HINT}")
        })
}

fn loghub_lines(name: &str) -> Vec<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/loghub")
        .join(name);
    let data =
        std::fs::read(&p).unwrap_or_else(|e| panic!("the Loghub sample {} ({e})", p.display()));
    data.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect()
}

fn binary_field(out: &mut Vec<u8>, name: &str, v: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    out.extend_from_slice(v);
    out.push(b'\n');
}

const T0_US: u64 = 1_700_000_000_000_000;
const BLOB: &[u8] = b"\x00\x01binary\xff\n\x02";

/// Journal export text: one entry per line, and a last one with a binary
/// field and a message of two lines.
fn export(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        out.extend_from_slice(
            format!(
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
                 _HOSTNAME=journal-host\n_COMM=sshd\nSYSLOG_IDENTIFIER=sshd\n_PID={}\nPRIORITY={}\n\
                 SYSLOG_FACILITY=10\nMESSAGE={l}\n\n",
                T0_US + i as u64 * 1000,
                i + 1,
                1000 + i,
                i % 8
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
             _HOSTNAME=journal-host\nSYSLOG_IDENTIFIER=binary-test\n",
            T0_US + 10_000_000,
            lines.len() + 1
        )
        .as_bytes(),
    );
    binary_field(&mut out, "MESSAGE", b"first line\nsecond line");
    binary_field(&mut out, "BLOB", BLOB);
    out.push(b'\n');
    out
}

/// `systemd-journal-remote` writes `text` (export format) into a journal file.
fn journal_file(dir: &Path, text: &[u8]) -> PathBuf {
    let file = dir.join("loghub.journal");
    let mut cmd = Command::new(program("systemd-journal-remote"));
    cmd.arg("-o").arg(&file).arg("-");
    let out = run(cmd, Some(text), Duration::from_secs(120));
    assert!(out.success(), "systemd-journal-remote: {out:?}");
    file
}

/// `systemd-journal-upload` of `file` to the server, with `userinfo` (`user:token@`) in its URL.
fn upload(s: &Server, file: &Path, state: &Path, userinfo: &str) -> Output {
    let mut cmd = Command::new(program("systemd-journal-upload"));
    cmd.arg("--follow=no")
        .arg(format!("--file={}", file.display()))
        .arg(format!("--save-state={}", state.display()))
        .arg(format!("--url=http://{userinfo}{}", s.http));
    run(cmd, None, Duration::from_secs(300))
}

#[test]
fn journal_upload_sends_entries_and_every_field_comes_back() {
    let lines = loghub_lines("OpenSSH_2k.log");
    let dir = tempfile::tempdir().unwrap();
    let file = journal_file(dir.path(), &export(&lines));
    let s = Server::start();
    let tok = s.token("journal-upload", "ingest");
    let state = dir.path().join("state");
    let out = upload(&s, &file, &state, &format!("journal:{tok}@"));
    assert!(
        out.success(),
        "systemd-journal-upload: {out:?}\nserver:\n{}",
        s.stderr()
    );
    // journal-upload saves its cursor only after a 2xx answer.
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("LAST_CURSOR="), "{saved}");

    let hits = s.wait_for_hits(&[("app", "sshd")], lines.len());
    assert_eq!(hits.len(), lines.len());
    let mut by_pid: Vec<(u64, &Hit)> = hits
        .iter()
        .map(|h| (h.str("procid").unwrap().parse::<u64>().unwrap() - 1000, h))
        .collect();
    by_pid.sort_by_key(|(i, _)| *i);
    for (i, h) in by_pid {
        let i = i as usize;
        let line = &lines[i];
        assert_eq!(h.str("message"), Some(line.as_str()), "{:?}", h.json);
        assert_eq!(h.str("host"), Some("journal-host"));
        assert_eq!(h.str("format"), Some("journal"));
        assert!(h.str("peer").unwrap().starts_with("journal:127.0.0.1:"));
        assert_eq!(h.json["facility"], 10);
        let sev = [
            "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        ][i % 8];
        assert_eq!(h.str("severity"), Some(sev), "{:?}", h.json);
        assert_eq!(h.json.get("parse_error"), None, "{:?}", h.json);
        // The entry as journal-upload exported it: its cursor first, every field.
        let raw = h.raw_text();
        assert!(raw.starts_with("__CURSOR="), "{raw}");
        assert!(raw.contains(&format!("\nMESSAGE={line}\n")), "{raw}");
        assert!(raw.ends_with('\n') && !raw.ends_with("\n\n"), "{raw:?}");
        let sd = h.str("structured_data").unwrap();
        assert!(
            sd.contains("_BOOT_ID=\"0123456789abcdef0123456789abcdef\""),
            "{sd}"
        );
        assert!(
            sd.contains(&format!(
                "__REALTIME_TIMESTAMP=\"{}\"",
                T0_US + i as u64 * 1000
            )),
            "{sd}"
        );
    }
    // Event time from __REALTIME_TIMESTAMP (µs).
    let first = hits
        .iter()
        .find(|h| h.str("procid") == Some("1000"))
        .unwrap();
    assert!(
        first
            .str("event_time")
            .unwrap()
            .starts_with("2023-11-14T22:13:20"),
        "{:?}",
        first.json
    );
    // Addresses and users found in the messages.
    assert!(hits.iter().any(|h| !h.list("ips").is_empty()));

    // The entry with binary fields: kept byte for byte, the message whole.
    let b = s.wait_for_hits(&[("app", "binary-test")], 1).pop().unwrap();
    let mut blob = b"\nBLOB\n".to_vec();
    blob.extend_from_slice(&(BLOB.len() as u64).to_le_bytes());
    blob.extend_from_slice(BLOB);
    blob.push(b'\n');
    assert!(b.raw.windows(blob.len()).any(|w| w == blob), "{:?}", b.raw);
    assert_eq!(
        b.str("message"),
        Some("first line\nsecond line"),
        "{:?}",
        b.json
    );
    assert!(b
        .str("structured_data")
        .unwrap()
        .contains(&format!("BLOB=\"<{} bytes>\"", BLOB.len())));
    let m = s.metrics();
    assert_eq!(
        m.sum("pramaan_lines_received_total", &[("transport", "journal")]),
        (lines.len() + 1) as f64
    );
    // `verify --deep` derives the same fields again from the stored records.
    let mut s = s;
    s.stop_and_verify_deep(Duration::from_secs(300));
}

/// journal-upload following (its default, as its service runs it) keeps one
/// request open and writes entries into it as they come: they are stored
/// while the request is still open, and its end (journal-upload stopping)
/// is answered 2xx, so it saves its cursor.
#[test]
fn a_following_upload_is_stored_while_its_request_is_still_open() {
    let lines = loghub_lines("HDFS_2k.log");
    let dir = tempfile::tempdir().unwrap();
    let file = journal_file(dir.path(), &export(&lines[..300]));
    let s = Server::start_with(&[("PRAMAAN_HTTP_REQUEST_TIMEOUT", "2s")]);
    let tok = s.token("journal-follow", "ingest");
    let state = dir.path().join("state");
    let err = std::fs::File::create(dir.path().join("upload.stderr")).unwrap();
    let mut child = Command::new(program("systemd-journal-upload"))
        .arg(format!("--file={}", file.display()))
        .arg(format!("--save-state={}", state.display()))
        .arg(format!("--url=http://journal:{tok}@{}", s.http))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("systemd-journal-upload starts");
    let hits = s.wait_for_hits(&[("app", "sshd")], 300);
    assert_eq!(hits.len(), 300);
    // Longer than http.request_timeout: this route is not cut off by it.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "journal-upload follows: it has not ended"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_until(Duration::from_secs(60), "journal-upload to exit", || {
        child.try_wait().unwrap()
    });
    let stderr = std::fs::read_to_string(dir.path().join("upload.stderr")).unwrap();
    let saved = std::fs::read_to_string(&state)
        .unwrap_or_else(|e| panic!("no cursor saved ({e}); exit {status}; stderr:\n{stderr}"));
    assert!(saved.contains("LAST_CURSOR="), "{saved}");
    assert!(!stderr.contains("failed with code"), "{stderr}");
    // The binary-test entry was in the stream too; nothing twice.
    assert_eq!(s.search_all_of(&[("app", "binary-test")]).len(), 1);
    assert_eq!(s.search_all_of(&[("app", "sshd")]).len(), 300);
}

#[test]
fn journal_upload_without_a_valid_token_is_refused_and_stores_nothing() {
    let lines = loghub_lines("Zookeeper_2k.log");
    let dir = tempfile::tempdir().unwrap();
    let file = journal_file(dir.path(), &export(&lines[..10]));
    let s = Server::start();
    let state = dir.path().join("state");
    for userinfo in ["", "journal:pmn_not-a-token@"] {
        let out = upload(&s, &file, &state, userinfo);
        assert!(!out.success(), "{out:?}");
        assert!(
            out.stderr.contains("failed with code 401"),
            "{}",
            out.stderr
        );
        assert!(!state.exists(), "no cursor saved after a refusal");
    }
    // An analyst's token is a token, but not one that may send.
    let analyst = s.token("a", "analyst");
    let out = upload(&s, &file, &state, &format!("x:{analyst}@"));
    assert!(
        out.stderr.contains("failed with code 403"),
        "{}",
        out.stderr
    );
    let rows = s.sql("SELECT count(*) AS n FROM logs WHERE peer LIKE 'journal:%'");
    assert_eq!(rows[0]["n"].as_u64(), Some(0), "{rows:?}");
}

#[test]
fn bad_uploads_are_refused_by_name_and_a_long_entry_alone() {
    let s = Server::start_with(&[
        ("PRAMAAN_SYSLOG_MAX_LINE", "1KiB"),
        ("PRAMAAN_HTTP_MAX_BODY", "64KiB"),
    ]);
    let ct = ("content-type", "application/vnd.fdo.journal");
    // A binary field whose length runs past the body's end.
    let mut body = b"_HOSTNAME=h\nMESSAGE=fine\n\n_HOSTNAME=h\n".to_vec();
    body.extend_from_slice(b"MESSAGE\n");
    body.extend_from_slice(&1000u64.to_le_bytes());
    body.extend_from_slice(b"short\n");
    let r = s.post("/upload", &[ct], body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains(
            "entry 1: binary field MESSAGE says 1000 bytes at byte 46, past the body's end"
        ),
        "{}",
        r.text()
    );
    // A length whose own 8 bytes are cut off.
    let r = s.post("/upload", &[ct], b"MESSAGE\n\x05\x00".to_vec());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("entry 0: the body ends inside a field"),
        "{}",
        r.text()
    );
    // Not the export format's content type.
    let r = s.post(
        "/upload",
        &[("content-type", "text/plain")],
        b"MESSAGE=x\n".to_vec(),
    );
    assert_eq!(r.status, 415, "{}", r.text());
    // Over http.max_body: an entry not complete yet that large (on a
    // connection of its own: the server closes it without reading the rest).
    let big = format!("MESSAGE={}\n", "z".repeat(70_000)).into_bytes();
    let (status, text) = block_on(async {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/upload", s.url()))
            .header("content-type", ct.1)
            .header("authorization", format!("Bearer {TEST_TOKEN}"))
            .body(big)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("http.max_body (65536 bytes)"), "{text}");
    // An entry over syslog.max_line is refused alone; a binary value is kept raw.
    let mut body = format!(
        "SYSLOG_IDENTIFIER=bad-input\nMESSAGE={}\n\n",
        "w".repeat(2000)
    )
    .into_bytes();
    let entry_start = body.len();
    body.extend_from_slice(b"SYSLOG_IDENTIFIER=bad-input\nPRIORITY=2\n");
    binary_field(&mut body, "MESSAGE", b"bin\x00ary \xfe message");
    binary_field(&mut body, "_CMDLINE", b"a\nb");
    let entry = body[entry_start..].to_vec();
    body.push(b'\n');
    let r = s.post("/upload", &[ct], body);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(
        r.text(),
        "OK. 1 entries stored. 1 refused: longer than syslog.max_line (1024 bytes).\n"
    );
    let h = s.wait_for_hits(&[("app", "bad-input")], 1).pop().unwrap();
    assert_eq!(h.raw, entry);
    assert_eq!(h.str("severity"), Some("crit"));
    assert_eq!(h.json.get("parse_error"), None, "{:?}", h.json);
    let m = s.metrics();
    let refused = |reason: &str| {
        m.sum(
            "pramaan_lines_refused_total",
            &[("transport", "journal"), ("reason", reason)],
        )
    };
    assert_eq!(refused("too_long"), 1.0);
    assert_eq!(refused("malformed"), 2.0);
    s.assert_still_serving();
}
