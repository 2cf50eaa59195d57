//! The crash loop: `kill -9` again and again under mixed load (HTTP and
//! syslog TCP ingest, searches, retention runs). After every kill,
//! `pramaan verify` passes on the image the crash left; after every restart,
//! every acknowledged line is there exactly once at the sequence number its
//! acknowledgement gave, no line is stored twice, and sequence numbers have
//! no gap.
//!
//! `PRAMAAN_CRASH_CYCLES` sets the number of cycles (5 by default, so the
//! default test command stays short). The long run of the issue:
//!
//! ```text
//! PRAMAAN_CRASH_CYCLES=200 cargo test --workspace --test crash_loop -- --nocapture
//! ```
//!
//! (`cargo test`, because nextest's `ci` profile stops a test after 5 minutes.)

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const BATCH: usize = 50;

const ENV: &[(&str, &str)] = &[
    ("PRAMAAN_SEGMENTS_MAX_ROWS", "400"),
    ("PRAMAAN_WAL_FILE_SIZE", "128KiB"),
    ("PRAMAAN_WAL_MAX_BATCH", "64KiB"),
];

fn cycles() -> usize {
    match std::env::var("PRAMAAN_CRASH_CYCLES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("PRAMAAN_CRASH_CYCLES={v} is not a number")),
        Err(_) => 5,
    }
}

fn line(run: &str, id: &str, i: usize) -> String {
    format!(
        "<14>1 - loop-host app - - - {run} id={id} from 10.7.{}.{} user=u{} {}",
        i % 200,
        i % 250,
        i % 11,
        "p".repeat(i % 37)
    )
}

fn id_of(run: &str, raw: &str) -> Option<String> {
    if !raw.contains(run) {
        return None;
    }
    let rest = &raw[raw.find(" id=")? + 4..];
    Some(rest[..rest.find(' ')?].to_owned())
}

/// What the HTTP client was told.
#[derive(Default, Clone)]
struct Acks {
    /// attempt → first seq of its batch (acknowledged with 200).
    acked: BTreeMap<u64, u64>,
    /// Answers other than 200 from a live server (never expected).
    bad: Vec<String>,
}

/// Load threads share these.
struct Load {
    run: String,
    addr: Mutex<(SocketAddr, SocketAddr)>,
    stop: AtomicBool,
    /// The HTTP client acknowledges a pause (by number) between requests,
    /// so that its record of acknowledgements is exact during a check.
    pause: AtomicU64,
    paused: AtomicU64,
    acks: Mutex<Acks>,
    acked_batches: AtomicU64,
    searches: AtomicU64,
    retention_runs: AtomicU64,
    tcp_lines: AtomicU64,
    bad: Mutex<Vec<String>>,
}

impl Load {
    fn http(&self) -> String {
        format!("http://{}", self.addr.lock().unwrap().0)
    }
}

fn http_ingest(load: &Load) {
    let mut attempt = 0u64;
    let mut seen_pause = 0;
    while !load.stop.load(Ordering::Acquire) {
        let want = load.pause.load(Ordering::Acquire);
        if want != seen_pause {
            load.paused.store(want, Ordering::Release);
            seen_pause = want;
        }
        if want % 2 == 1 {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        attempt += 1;
        let body: String = (0..BATCH)
            .map(|i| line(&load.run, &format!("h{attempt}-{i}"), i) + "\n")
            .collect();
        let url = format!("{}/api/v1/ingest", load.http());
        match http_post(
            &url,
            &[("content-type", "application/x-ndjson")],
            body.into_bytes(),
        ) {
            Ok(r) if r.status == 200 => {
                let ing = Ingested::from_json(&r.json());
                assert_eq!(ing.accepted, BATCH as u64);
                load.acks
                    .lock()
                    .unwrap()
                    .acked
                    .insert(attempt, ing.first_seq.unwrap());
                load.acked_batches.fetch_add(1, Ordering::AcqRel);
                // A steady stream rather than the maximum: the data (and the
                // time each check and verify takes) grows with every cycle.
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(r) => {
                load.acks
                    .lock()
                    .unwrap()
                    .bad
                    .push(format!("ingest {}: {}", r.status, r.text()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Syslog over TCP, one connection at a time, reconnecting after a kill.
fn tcp_ingest(load: &Load) {
    let mut conn = 0u64;
    while !load.stop.load(Ordering::Acquire) {
        conn += 1;
        let addr = load.addr.lock().unwrap().1;
        let Ok(mut s) = TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let mut i = 0usize;
        while !load.stop.load(Ordering::Acquire) {
            let chunk: String = (0..20)
                .map(|k| line(&load.run, &format!("t{conn}-{}", i + k), i + k) + "\n")
                .collect();
            if s.write_all(chunk.as_bytes()).is_err() {
                break;
            }
            i += 20;
            load.tcp_lines.fetch_add(20, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(15));
        }
    }
}

fn searches(load: &Load) {
    let queries: [&[(&str, &str)]; 4] = [
        &[("ip", "10.7.3.4"), ("limit", "50")],
        &[("user", "u3"), ("limit", "20")],
        &[("q", "loop-host"), ("limit", "10"), ("order", "newest")],
        &[("seq", "0-99"), ("limit", "0")],
    ];
    let mut n = 0usize;
    while !load.stop.load(Ordering::Acquire) {
        let q = queries[n % queries.len()];
        n += 1;
        match http_get(&format!("{}/api/v1/search", load.http()), q) {
            Ok(r) if r.status == 200 => {
                load.searches.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) if r.status == 503 => {}
            Ok(r) => {
                load.bad
                    .lock()
                    .unwrap()
                    .push(format!("search {q:?}: {} {}", r.status, r.text()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn retention_runs(load: &Load) {
    while !load.stop.load(Ordering::Acquire) {
        let url = format!("{}/api/v1/retention/run", load.http());
        match http_post(&url, &[], Vec::new()) {
            Ok(r) if r.status == 200 => {
                load.retention_runs.fetch_add(1, Ordering::Relaxed);
            }
            // A run already in progress, or the server is starting.
            Ok(r) if r.status == 409 || r.status == 503 => {}
            Ok(r) => {
                load.bad
                    .lock()
                    .unwrap()
                    .push(format!("retention run: {} {}", r.status, r.text()))
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

fn verify_cli(server: &Server) -> Output {
    let mut c = pramaan(server.dir.path());
    c.arg("--data-dir")
        .arg(server.data_dir())
        .args(["verify", "--quiet"]);
    for (k, v) in ENV {
        c.env(k, v);
    }
    run(c, None, Duration::from_secs(300))
}

/// What the checks have established so far.
#[derive(Default)]
struct Checked {
    /// Records with a seq below this were checked.
    upto: u64,
    /// id → seq of every test line seen.
    ids: HashMap<String, u64>,
    /// HTTP attempts already found complete.
    attempts_done: u64,
}

/// Checks the records from `checked.upto` up to the committed count (or all
/// of them with `full`), against the acknowledgements made so far.
fn check(server: &Server, run: &str, acks: &Acks, checked: &mut Checked, full: bool, when: &str) {
    let committed = server.committed();
    assert!(
        committed >= checked.upto,
        "{when}: committed went back from {} to {committed}",
        checked.upto
    );
    if full {
        *checked = Checked::default();
    }
    let from = checked.upto;
    let mut hits = Vec::new();
    let mut at = from;
    while at < committed {
        let to = (at + 3999).min(committed - 1);
        // Log lines and pramaan's own records (retention runs') together are every record.
        let range = format!("{at}-{to}");
        hits.extend(server.search(&[("seq", &range), ("limit", "0")]));
        hits.extend(server.search(&[("seq", &range), ("limit", "0"), ("internal", "true")]));
        at = to + 1;
    }
    hits.sort_by_key(|h| h.seq);
    assert_eq!(
        hits.len() as u64,
        committed - from,
        "{when}: records {from}..{committed} are not all there"
    );
    for (k, h) in hits.iter().enumerate() {
        assert_eq!(h.seq, from + k as u64, "{when}: a gap or a duplicate seq");
        if let Some(id) = id_of(run, &h.raw_text()) {
            if let Some(prev) = checked.ids.insert(id.clone(), h.seq) {
                panic!("{when}: line {id} stored twice, at {prev} and {}", h.seq);
            }
        }
    }
    checked.upto = committed;
    // Every acknowledged line at the seq its acknowledgement gave.
    for (attempt, first) in acks.acked.range(checked.attempts_done + 1..) {
        for i in 0..BATCH {
            let id = format!("h{attempt}-{i}");
            assert_eq!(
                checked.ids.get(&id),
                Some(&(first + i as u64)),
                "{when}: acknowledged line {id} is missing or elsewhere"
            );
        }
    }
    if let Some((last, _)) = acks.acked.last_key_value() {
        checked.attempts_done = *last;
    }
}

#[test]
fn crash_loop_under_mixed_load() {
    let n = cycles();
    let run = unique("loop");
    let mut server = Server::start_with(ENV);
    let load = Arc::new(Load {
        run: run.clone(),
        addr: Mutex::new((server.http, server.tcp)),
        stop: AtomicBool::new(false),
        pause: AtomicU64::new(0),
        paused: AtomicU64::new(0),
        acks: Mutex::default(),
        acked_batches: AtomicU64::new(0),
        searches: AtomicU64::new(0),
        retention_runs: AtomicU64::new(0),
        tcp_lines: AtomicU64::new(0),
        bad: Mutex::default(),
    });
    let threads: Vec<_> = [http_ingest, tcp_ingest, searches, retention_runs]
        .into_iter()
        .map(|f| {
            let load = load.clone();
            std::thread::spawn(move || f(&load))
        })
        .collect();
    let started = Instant::now();
    let mut checked = Checked::default();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for cycle in 1..=n {
        let before = load.acked_batches.load(Ordering::Acquire);
        wait_until(Duration::from_secs(60), "batches acknowledged", || {
            (load.acked_batches.load(Ordering::Acquire) >= before + 2).then_some(())
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % 400));
        server.kill9();
        let o = verify_cli(&server);
        assert!(o.success(), "verify after kill -9 #{cycle}: {o:?}");
        server.start_again();
        // Pause the HTTP client (odd numbers), check, then let it go on.
        let pause = 2 * cycle as u64 - 1;
        load.pause.store(pause, Ordering::Release);
        wait_until(Duration::from_secs(150), "the client to pause", || {
            (load.paused.load(Ordering::Acquire) == pause).then_some(())
        });
        *load.addr.lock().unwrap() = (server.http, server.tcp);
        let acks = load.acks.lock().unwrap().clone();
        let full = cycle % 25 == 0;
        check(
            &server,
            &run,
            &acks,
            &mut checked,
            full,
            &format!("after kill -9 #{cycle}"),
        );
        load.pause.store(pause + 1, Ordering::Release);
        if cycle % 10 == 0 || cycle == n {
            eprintln!(
                "cycle {cycle}/{n}: {} records, {} acknowledged batches, {} TCP lines sent, {} searches, {} retention runs, {:?}",
                checked.upto,
                acks.acked.len(),
                load.tcp_lines.load(Ordering::Relaxed),
                load.searches.load(Ordering::Relaxed),
                load.retention_runs.load(Ordering::Relaxed),
                started.elapsed()
            );
        }
    }
    load.stop.store(true, Ordering::Release);
    for t in threads {
        t.join().expect("a load thread");
    }
    let acks = load.acks.lock().unwrap().clone();
    assert!(acks.bad.is_empty(), "ingest answers: {:?}", acks.bad);
    let bad = load.bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "answers from a live server: {bad:?}");
    assert!(load.searches.load(Ordering::Relaxed) > 0, "no search ran");
    assert!(
        load.retention_runs.load(Ordering::Relaxed) > 0,
        "no retention run"
    );
    // Everything, once more, after a clean stop and start; and verify.
    server.restart();
    check(&server, &run, &acks, &mut checked, true, "at the end");
    assert!(server.stop().success());
    let o = verify_cli(&server);
    assert!(o.success(), "verify at the end: {o:?}");
    assert!(o.stdout().contains("OK: everything verifies"), "{o:?}");
}
