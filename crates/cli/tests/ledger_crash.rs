//! `kill -9` while checkpoints are being published (every 100 ms, with lines
//! arriving all the time): every restart recovers the tree (a mismatch would
//! stop it), and `pramaan verify` passes on the image a crash leaves and at
//! the end.

mod support;

use pramaan_ledger::{Checkpoint, VerifierKey, Verifiers};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const ORIGIN: &str = "Crash-Org/node-9";

const ENV: &[(&str, &str)] = &[
    ("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "100ms"),
    ("PRAMAAN_LEDGER_HISTORY_INTERVAL", "1s"),
    ("PRAMAAN_NODE_ORGANISATION", "Crash Org"),
    ("PRAMAAN_NODE_NAME", "node-9"),
    ("PRAMAAN_SEGMENTS_MAX_ROWS", "700"),
    ("PRAMAAN_WAL_FILE_SIZE", "256KiB"),
    ("PRAMAAN_WAL_MAX_BATCH", "64KiB"),
];

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

fn checkpoint_size(server: &Server, key: &VerifierKey) -> Option<u64> {
    let r = http_get(&format!("{}/api/v1/checkpoint", server.url()), &[]).ok()?;
    let cp = Checkpoint::open(&r.body, ORIGIN, &Verifiers::new([key.clone()])).ok()?;
    Some(cp.checkpoint.size)
}

#[test]
fn kill_9_during_checkpointing_then_restart_and_verify() {
    let mut server = Server::start_with(ENV);
    let key = VerifierKey::parse(
        std::fs::read_to_string(server.data_dir().join("ledger/node.vkey"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let url = Arc::new(Mutex::new(server.url()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let sender = {
        let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || {
            let run_id = unique("ledger-crash");
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                let body: Vec<u8> = (0..100)
                    .flat_map(|i| {
                        format!(
                            "<14>1 - h app - - - {run_id} {n} {i} {}\n",
                            "x".repeat(i % 40)
                        )
                        .into_bytes()
                    })
                    .collect();
                n += 1;
                let u = format!("{}/api/v1/ingest", url.lock().unwrap());
                match http_post(&u, &[("content-type", "application/x-ndjson")], body) {
                    Ok(r) if r.status == 200 => {
                        acked.fetch_add(100, Ordering::AcqRel);
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    // Kill at moments spread over a few checkpoint intervals each time.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..6 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait = 250 + rng % 900;
        std::thread::sleep(Duration::from_millis(wait));
        server.kill9();
        if round == 2 {
            // The image a crash leaves verifies as it is.
            let o = verify_cli(&server);
            assert!(o.success(), "verify after kill -9 (round {round}):\n{o:?}");
        }
        server.start_again();
        *url.lock().unwrap() = server.url();
        // The restart recovered the tree (it refuses to start otherwise) and
        // goes on publishing.
        let before = checkpoint_size(&server, &key).expect("a checkpoint after restart");
        wait_until(Duration::from_secs(60), "a newer checkpoint", || {
            checkpoint_size(&server, &key)
                .filter(|s| *s > before || acked.load(Ordering::Acquire) == 0)
        });
    }
    stop.store(true, Ordering::Release);
    sender.join().unwrap();
    assert!(
        acked.load(Ordering::Acquire) > 0,
        "nothing was acknowledged"
    );
    let committed = server.committed();
    wait_until(Duration::from_secs(60), "the last checkpoint", || {
        checkpoint_size(&server, &key).filter(|s| *s >= committed)
    });
    assert!(server.stop().success());
    let o = verify_cli(&server);
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("OK: everything verifies"), "{o:?}");
}
