//! Files followed by `serve` (`files.paths`) against the real binary: the
//! real `logrotate` rotates them by rename (`create`) and by `copytruncate`
//! while lines are written, the server is restarted and killed (`kill -9`),
//! and every line is stored exactly once, byte-exact.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

/// A server following `log` (polled every 20 ms, partial lines after 300 ms).
fn follower(log: &Path) -> Server {
    Server::start_with(&[
        ("PRAMAAN_FILES_PATHS", log.to_str().unwrap()),
        ("PRAMAAN_FILES_POLL_INTERVAL", "20ms"),
        ("PRAMAAN_FILES_PARTIAL_WAIT", "300ms"),
    ])
}

fn append(log: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
}

/// Runs the real logrotate once, forced, with `directives` for `log`.
fn logrotate(dir: &Path, log: &Path, directives: &str) {
    let bin = find_program("logrotate").unwrap_or_else(|| {
        panic!("logrotate is not installed (Debian package logrotate): {TEST_COMMAND_HINT}")
    });
    let conf = dir.join("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 50\n  missingok\n  nocompress\n  {directives}\n}}\n",
            log.display()
        ),
    )
    .unwrap();
    let mut c = Command::new(bin);
    c.arg("-f")
        .arg("-s")
        .arg(dir.join("logrotate.status"))
        .arg(&conf);
    let o = run(c, None, Duration::from_secs(30));
    assert!(o.success(), "logrotate: {o:?}");
}

/// Waits until `n` records contain `id`; then checks that each of `lines`
/// is stored exactly once, byte-exact, as a line of `log`.
fn assert_each_once(server: &Server, id: &str, log: &Path, lines: &[String]) {
    // Until every line is there (or a while has passed: then the check
    // below says which are missing).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.search_all_of(&[("q", id)]).len() < lines.len()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing more arrives later.
    std::thread::sleep(Duration::from_millis(800));
    let hits = server.search_all_of(&[("q", id)]);
    let mut count: HashMap<String, i64> = lines.iter().map(|l| (l.clone(), 1)).collect();
    for h in &hits {
        *count.entry(h.raw_text()).or_default() -= 1;
        assert_eq!(h.str("transport"), Some("file"), "{:?}", h.json);
        let peer = format!("file:{}", log.display());
        assert_eq!(h.str("peer"), Some(peer.as_str()), "{:?}", h.json);
    }
    let mut off: Vec<_> = count.iter().filter(|(_, n)| **n != 0).collect();
    off.sort();
    let stderr: Vec<String> = server
        .stderr()
        .lines()
        .filter(|l| l.contains("follow"))
        .map(str::to_owned)
        .collect();
    assert!(
        off.is_empty(),
        "{} records for {} lines; missing (1) or stored twice (-1): {off:?}\nthe server on following:\n{}",
        hits.len(),
        lines.len(),
        stderr.join("\n")
    );
}

fn lines(id: &str, from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            format!(
                "<13>Dec  6 10:00:00 web1 app[7]: {id} line {i} user=alice from 10.1.{}.{}",
                i / 250,
                i % 250
            )
        })
        .collect()
}

fn rotate_while_writing(directives: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let id = unique("follow");
    let mut all = lines(&id, 0, 100);
    append(&log, &all);
    let server = follower(&log);
    // Read once before the first rotation: a file copytruncated before
    // pramaan read any of it cannot be told from a new one (README).
    server.wait_for_hits(&[("q", &id)], all.len());
    for round in 1..=6 {
        let more = lines(&id, round * 100, 100);
        append(&log, &more[..50]);
        // Rotated right after the write: pramaan has read some of it at most.
        logrotate(dir.path(), &log, directives);
        append(&log, &more[50..]);
        // One rotation per look at the file (files.poll_interval): a file
        // rotated twice between two looks would skip the middle one.
        std::thread::sleep(Duration::from_millis(150));
        all.extend(more);
    }
    // A last line without its newline is stored once it has waited.
    let last = format!("{id} the last line, no newline");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(last.as_bytes())
        .unwrap();
    all.push(last);
    assert_each_once(&server, &id, &log, &all);
    let m = server.metrics();
    assert_eq!(
        m.sum("pramaan_lines_received_total", &[("transport", "file")]) as usize,
        all.len()
    );
}

#[test]
fn logrotate_create_rotation_loses_and_repeats_nothing() {
    rotate_while_writing("create");
}

#[test]
fn logrotate_copytruncate_rotation_loses_and_repeats_nothing() {
    rotate_while_writing("copytruncate");
}

/// Lines keep coming while the server is stopped cleanly once and killed
/// (`kill -9`) three times, with rotations in between: each line once.
#[test]
fn restarts_and_kill_9_store_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let id = unique("follow-crash");
    let mut all = Vec::new();
    let mut server = follower(&log);
    let mut next = 0;
    for round in 0..8 {
        for _ in 0..20 {
            let batch = lines(&id, next, 50);
            next += 50;
            append(&log, &batch);
            all.extend(batch);
            std::thread::sleep(Duration::from_millis(5));
        }
        match round {
            1 => server.restart(),
            3 => logrotate(dir.path(), &log, "create"),
            5 => logrotate(dir.path(), &log, "copytruncate"),
            _ => {}
        }
        if round % 2 == 0 {
            server.kill9();
            // Written while the server is down.
            let batch = lines(&id, next, 100);
            next += 100;
            append(&log, &batch);
            all.extend(batch);
            server.start_again();
        }
    }
    assert_each_once(&server, &id, &log, &all);
}

/// Empty lines and lines over `syslog.max_line` are counted, not stored,
/// and a missing file is waited for.
#[test]
fn refused_lines_are_counted_and_a_missing_file_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("later.log");
    let id = unique("follow-bad");
    let server = Server::start_with(&[
        ("PRAMAAN_FILES_PATHS", log.to_str().unwrap()),
        ("PRAMAAN_FILES_POLL_INTERVAL", "20ms"),
        ("PRAMAAN_SYSLOG_MAX_LINE", "300"),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let ok = vec![format!("{id} first"), format!("{id} second")];
    let long = format!("{id} {}", "x".repeat(1000));
    append(&log, &[ok[0].clone(), String::new(), long, ok[1].clone()]);
    assert_each_once(&server, &id, &log, &ok);
    let m = server.metrics();
    let refused = |r: &str| {
        m.sum(
            "pramaan_lines_refused_total",
            &[("transport", "file"), ("reason", r)],
        )
    };
    assert_eq!(refused("empty"), 1.0);
    assert_eq!(refused("too_long"), 1.0);
}
