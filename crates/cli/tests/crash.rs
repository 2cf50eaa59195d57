//! Durability: an acknowledged line survives `kill -9`, exactly once, and
//! sequence numbers continue across restarts without reuse.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const BATCH: usize = 200;

/// Small segments and WAL files, so that sealing, WAL rotation and WAL
/// release all happen while the test kills the server.
const SMALL: &[(&str, &str)] = &[
    ("PRAMAAN_SEGMENTS_MAX_ROWS", "500"),
    ("PRAMAAN_WAL_FILE_SIZE", "256KiB"),
    ("PRAMAAN_WAL_MAX_BATCH", "64KiB"),
];

/// The line `i` of attempt `attempt`; its id is `a{attempt}-{i}`.
fn line(run: &str, attempt: u64, i: usize) -> String {
    format!(
        "<14>1 - crash-host loader - - - {run} id=a{attempt}-{i} from 10.9.{}.{} user=u{} padding {}",
        attempt % 250,
        i % 250,
        i % 13,
        "x".repeat(i % 61)
    )
}

/// `a{attempt}-{i}` from a stored line of this run.
fn id_of(raw: &[u8]) -> Option<(u64, usize)> {
    let s = std::str::from_utf8(raw).ok()?;
    let rest = &s[s.find(" id=a")? + 5..];
    let id = &rest[..rest.find(' ')?];
    let (a, i) = id.split_once('-')?;
    Some((a.parse().ok()?, i.parse().ok()?))
}

#[derive(Default)]
struct Ledger {
    /// attempt → (first_seq, last_seq): acknowledged with 200.
    acked: BTreeMap<u64, (u64, u64)>,
    /// Attempts that got no acknowledgement (error, or the server died).
    unacked: Vec<u64>,
    /// Attempts answered with something other than 200 (never expected).
    bad_answers: Vec<(u64, u16, String)>,
}

/// Checks what the server holds against what it acknowledged.
fn verify(server: &Server, run: &str, ledger: &Ledger, when: &str) {
    // The client may still be adding lines: look at a fixed prefix.
    let committed = server.committed();
    let hits = server.scan_to(committed, 4000);
    // No gaps: every sequence number below the committed count is there, once.
    assert_eq!(
        hits.len() as u64,
        committed,
        "{when}: {committed} records committed, {} found by seq ranges",
        hits.len()
    );
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(
            h.seq, i as u64,
            "{when}: seq gap or duplicate at position {i}"
        );
    }
    let mut where_: HashMap<(u64, usize), Vec<u64>> = HashMap::new();
    for h in &hits {
        let id = id_of(&h.raw).unwrap_or_else(|| {
            panic!(
                "{when}: a record this test did not send: {:?}",
                h.raw_text()
            )
        });
        assert!(h.raw_text().contains(run), "{when}: {:?}", h.raw_text());
        where_.entry(id).or_default().push(h.seq);
    }
    // Nothing twice, acknowledged or not.
    for (id, seqs) in &where_ {
        assert_eq!(
            seqs.len(),
            1,
            "{when}: line a{}-{} stored {} times: {seqs:?}",
            id.0,
            id.1,
            seqs.len()
        );
    }
    // Every acknowledged line, at the sequence number the acknowledgement gave.
    let mut acked_lines = 0;
    for (attempt, (first, last)) in &ledger.acked {
        assert_eq!(last - first + 1, BATCH as u64);
        for i in 0..BATCH {
            let seq = first + i as u64;
            let found = where_.get(&(*attempt, i));
            assert_eq!(
                found.map(Vec::as_slice),
                Some(&[seq][..]),
                "{when}: acknowledged line a{attempt}-{i} (seq {seq}) is missing or elsewhere"
            );
            let h = &hits[seq as usize];
            assert_eq!(h.raw_text(), line(run, *attempt, i), "{when}: seq {seq}");
            acked_lines += 1;
        }
    }
    // Whatever else is there belongs to an attempt that was made.
    for (attempt, _) in where_.keys() {
        assert!(
            ledger.acked.contains_key(attempt) || ledger.unacked.contains(attempt),
            "{when}: lines of attempt {attempt}, which was never sent"
        );
    }
    eprintln!(
        "{when}: {committed} records, {} acknowledged batches ({acked_lines} lines), {} unacknowledged attempts, {} segments",
        ledger.acked.len(),
        ledger.unacked.len(),
        server.status()["segments"]
    );
}

/// A client thread ingests batches of unique lines as fast as the server
/// takes them, while the test kills the server with SIGKILL again and again.
#[test]
fn acknowledged_lines_survive_kill_9_exactly_once() {
    const CYCLES: usize = 6;
    let run = unique("crash");
    let mut server = Server::start_with(SMALL);
    let addr: Arc<Mutex<SocketAddr>> = Arc::new(Mutex::new(server.http));
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // Set by the test while it checks: the client then sends nothing and
    // acknowledges the pause (by its number) between requests, so that the
    // ledger is exact during the check.
    let pause = Arc::new(AtomicBool::new(false));
    let pause_no = Arc::new(AtomicU64::new(0));
    let paused_ack = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(AtomicU64::new(0));

    let client = {
        let (addr, ledger, stop, acks, run) = (
            addr.clone(),
            ledger.clone(),
            stop.clone(),
            acks.clone(),
            run.clone(),
        );
        let (pause, pause_no, paused_ack) = (pause.clone(), pause_no.clone(), paused_ack.clone());
        std::thread::spawn(move || {
            let mut attempt = 0u64;
            while !stop.load(Ordering::Acquire) {
                if pause.load(Ordering::Acquire) {
                    paused_ack.store(pause_no.load(Ordering::Acquire), Ordering::Release);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                attempt += 1;
                let mut body = String::new();
                for i in 0..BATCH {
                    body.push_str(&line(&run, attempt, i));
                    body.push('\n');
                }
                let url = format!("http://{}/api/v1/ingest", *addr.lock().unwrap());
                match http_post(
                    &url,
                    &[("content-type", "application/x-ndjson")],
                    body.into_bytes(),
                ) {
                    Ok(r) if r.status == 200 => {
                        let v = r.json();
                        let ing = Ingested::from_json(&v);
                        assert_eq!(ing.accepted, BATCH as u64, "{v}");
                        ledger
                            .lock()
                            .unwrap()
                            .acked
                            .insert(attempt, (ing.first_seq.unwrap(), ing.last_seq.unwrap()));
                        acks.fetch_add(1, Ordering::AcqRel);
                    }
                    Ok(r) => {
                        let mut l = ledger.lock().unwrap();
                        l.unacked.push(attempt);
                        l.bad_answers.push((attempt, r.status, r.text()));
                    }
                    Err(_) => {
                        ledger.lock().unwrap().unacked.push(attempt);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        })
    };

    let started = Instant::now();
    for cycle in 0..CYCLES {
        // Let a few batches through, then kill at a varying moment.
        let before = acks.load(Ordering::Acquire);
        wait_until(
            Duration::from_secs(60),
            "the client to get batches acknowledged",
            || (acks.load(Ordering::Acquire) >= before + 3 + cycle as u64).then_some(()),
        );
        std::thread::sleep(Duration::from_millis(37 * cycle as u64 % 150));
        server.kill9();
        server.start_again();
        // Check with the client paused, then let it carry on against the new process.
        pause_no.store(cycle as u64 + 1, Ordering::Release);
        pause.store(true, Ordering::Release);
        wait_until(Duration::from_secs(150), "the client to pause", || {
            (paused_ack.load(Ordering::Acquire) == cycle as u64 + 1).then_some(())
        });
        *addr.lock().unwrap() = server.http;
        let snap = {
            let l = ledger.lock().unwrap();
            Ledger {
                acked: l.acked.clone(),
                unacked: l.unacked.clone(),
                bad_answers: l.bad_answers.clone(),
            }
        };
        verify(
            &server,
            &run,
            &snap,
            &format!("after kill -9 #{}", cycle + 1),
        );
        pause.store(false, Ordering::Release);
    }
    stop.store(true, Ordering::Release);
    client.join().expect("the client thread");
    let ledger = ledger.lock().unwrap();
    assert!(
        ledger.bad_answers.is_empty(),
        "the server answered an ingest with an error: {:?}",
        ledger.bad_answers
    );
    // A last kill -9 with the client stopped, then everything; then once
    // more after a clean restart.
    server.crash_restart();
    verify(&server, &run, &ledger, "at the end");
    server.restart();
    verify(&server, &run, &ledger, "at the end, after a clean restart");
    let status = server.status();
    assert!(
        status["segments"].as_u64().unwrap() >= 2,
        "segments were sealed during the test: {status}"
    );
    assert_eq!(status["seal_errors"], 0, "{status}");
    assert_eq!(status["wal_errors"], 0, "{status}");
    // New lines after all that continue the sequence.
    let next = server.committed();
    let r = server.ingest_lines(&[line(&run, u64::MAX, 0)]);
    assert_eq!(r.first_seq, Some(next));
    eprintln!("{CYCLES} kill -9 cycles in {:?}", started.elapsed());
}

/// After a clean stop and start, everything is searchable and sequence
/// numbers carry on from where they were, without a gap or reuse; the same
/// after `kill -9`.
#[test]
fn sequence_numbers_continue_after_clean_and_crash_restarts() {
    let run = unique("restart");
    let mut server = Server::start_with(SMALL);
    let batch =
        |attempt: u64| -> Vec<String> { (0..BATCH).map(|i| line(&run, attempt, i)).collect() };
    let mut sent: Vec<String> = Vec::new();
    let mut next = 0u64;
    let mut attempt = 0u64;
    let mut ingest = |server: &Server, sent: &mut Vec<String>, n: usize| {
        for _ in 0..n {
            attempt += 1;
            let lines = batch(attempt);
            let r = server.ingest_lines(&lines);
            assert_eq!(r.first_seq, Some(next), "no gap, no reuse: {r:?}");
            assert_eq!(r.last_seq, Some(next + BATCH as u64 - 1));
            next += BATCH as u64;
            sent.extend(lines);
        }
    };
    let check = |server: &Server, sent: &[String], when: &str| {
        let hits = server.all();
        let got: Vec<String> = hits.iter().map(|h| h.raw_text()).collect();
        assert_eq!(got.len(), sent.len(), "{when}");
        assert!(
            got == sent,
            "{when}: the stored lines differ from those sent"
        );
        assert!(
            hits.iter().enumerate().all(|(i, h)| h.seq == i as u64),
            "{when}"
        );
        // Field searches work on sealed and unsealed records alike.
        let u = server.search_all_of(&[("user", "u3")]);
        assert_eq!(
            u.len(),
            sent.iter().filter(|l| l.contains(" user=u3 ")).count(),
            "{when}"
        );
        let ip = server.search_all_of(&[("ip", "10.9.1.7")]);
        assert_eq!(
            ip.len(),
            sent.iter()
                .filter(|l| l.contains(" from 10.9.1.7 "))
                .count(),
            "{when}"
        );
    };

    // 1,200 lines: two sealed segments of 500 and 200 lines unsealed.
    ingest(&server, &mut sent, 6);
    check(&server, &sent, "before any restart");
    let status = wait_until(Duration::from_secs(60), "two sealed segments", || {
        let s = server.status();
        (s["segments"].as_u64() >= Some(2)).then_some(s)
    });
    assert_eq!(status["committed_records"], 1200, "{status}");

    server.restart();
    check(&server, &sent, "after a clean restart");
    let status = server.status();
    assert_eq!(status["committed_records"], 1200, "{status}");
    // A clean stop seals what was in memory.
    assert_eq!(status["memtable_rows"], 0, "{status}");
    assert_eq!(status["sealed_through"], 1199, "{status}");
    ingest(&server, &mut sent, 2);
    check(&server, &sent, "after ingesting again");

    server.crash_restart();
    check(&server, &sent, "after kill -9");
    ingest(&server, &mut sent, 2);
    check(&server, &sent, "after ingesting after kill -9");

    // Twice in a row with nothing in between.
    server.restart();
    server.restart();
    check(&server, &sent, "after two more clean restarts");
    ingest(&server, &mut sent, 1);
    assert_eq!(server.committed(), sent.len() as u64);
}

/// The server seals (segments of 500 rows), sits idle, and is killed. It must
/// start again with every line once and numbering continuing.
#[test]
fn restart_after_kill_9_once_idle_after_a_seal() {
    let run = unique("idle-seal");
    let mut server = Server::start_with(&[
        ("PRAMAAN_SEGMENTS_MAX_ROWS", "500"),
        ("PRAMAAN_WAL_FILE_SIZE", "64KiB"),
        ("PRAMAAN_WAL_MAX_BATCH", "64KiB"),
    ]);
    let mut sent = Vec::new();
    for attempt in 0..5 {
        let lines: Vec<String> = (0..BATCH)
            .map(|i| format!("{} {}", line(&run, attempt, i), "p".repeat(200)))
            .collect();
        server.ingest_lines(&lines);
        sent.extend(lines);
    }
    // 1,000 lines: two segments of 500, so everything is sealed...
    wait_until(Duration::from_secs(60), "everything sealed", || {
        (server.status()["sealed_through"] == 999).then_some(())
    });
    // ...and, though idle, the server deletes the WAL files the seals cover
    // (the sealer nudges the writer). The restart below then starts from the
    // catalog's mark; the case with sealed files still present is
    // `wal::tests::reopens_when_sealed_files_remain_before_the_catalog_mark`.
    wait_until(
        Duration::from_secs(30),
        "sealed WAL files deleted while idle",
        || {
            let n = std::fs::read_dir(server.data_dir().join("wal"))
                .unwrap()
                .count();
            (n == 1).then_some(())
        },
    );
    server.crash_restart();
    let got: Vec<String> = server.all().iter().map(Hit::raw_text).collect();
    assert!(got == sent, "{} lines back of {}", got.len(), sent.len());
    let r = server.ingest_lines(&[line(&run, 99, 0)]);
    assert_eq!(r.first_seq, Some(1000));
}
