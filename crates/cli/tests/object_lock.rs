//! `storage.object_lock = "compliance"` as an operator meets it, on moto's
//! S3 server on loopback (the only S3 server installable here that enforces
//! Object Lock; a mock, see README): `serve` refuses a bucket made without
//! Object Lock, and a directory; over a bucket with it, every segment and
//! checkpoint it writes is locked in COMPLIANCE mode until its window ends
//! (read back with boto3), an operator's versioned delete is refused, a
//! legal hold sets each held segment's object legal hold, `pramaan status`
//! says so, and search and `verify` work as on any bucket. (The vault's own
//! tests, `crates/vault/tests/object_lock.rs`, run retention against the
//! lock.)

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

const PREFIX: &str = "site-a/pramaan";

/// Each object under the prefix as boto3 reads its lock, by key (without the prefix).
fn locks(moto: &MotoS3, bucket: &str) -> Vec<(String, Value)> {
    moto.client(&["locks", bucket, PREFIX])
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let key = v["key"].as_str().unwrap()[PREFIX.len() + 1..].to_owned();
            (key, v)
        })
        .collect()
}

fn epoch_secs(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .as_second()
}

#[test]
fn serve_keeps_what_it_seals_under_the_buckets_object_lock() {
    let moto = MotoS3::start();
    moto.client(&["bucket", "plain", "plain"]);
    moto.client(&["bucket", "worm", "lock"]);

    // A bucket made without Object Lock: start refuses, saying so.
    let o = serve_fails(&moto.env("plain", PREFIX));
    assert!(
        o.stderr
            .contains("bucket plain does not have Object Lock enabled"),
        "{o:?}"
    );
    // A directory cannot be made write-once.
    let o = serve_fails(&[(
        "PRAMAAN_STORAGE_OBJECT_LOCK".to_owned(),
        "compliance".to_owned(),
    )]);
    assert!(
        o.stderr
            .contains("storage.object_lock = \"compliance\" needs a bucket"),
        "{o:?}"
    );

    let mut env = moto.env("worm", PREFIX);
    env.push(("PRAMAAN_SEGMENTS_MAX_ROWS".into(), "100".into()));
    env.push(("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL".into(), "200ms".into()));
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut server = Server::start_with(&refs);
    let tag = unique("worm");
    let sent: Vec<String> = (0..250)
        .map(|i| format!("<134>1 - gw-1 sshd 1 - - Accepted password for u{i} from 10.9.0.{} port 22 {tag}-{i}", i % 250))
        .collect();
    assert_eq!(server.ingest_lines(&sent).accepted, 250);
    // 100 lines a segment: two sealed, 50 lines in the memtable.
    wait_until(Duration::from_secs(60), "two segments sealed", || {
        (server.status()["segments"].as_u64() >= Some(2)).then_some(())
    });
    wait_until(
        Duration::from_secs(30),
        "a checkpoint over every line",
        || (server.status()["ledger"]["checkpoint_size"].as_u64() >= Some(250)).then_some(()),
    );
    assert_eq!(server.status()["store"]["object_lock"], "compliance");

    // Every segment and the checkpoint: COMPLIANCE, for 180 days from now
    // (the lines arrived a moment ago).
    let now = jiff::Timestamp::now().as_second();
    let locked = locks(&moto, "worm");
    let segments: Vec<&(String, Value)> = locked
        .iter()
        .filter(|(k, _)| k.starts_with("segments/"))
        .collect();
    assert!(segments.len() >= 2, "{locked:?}");
    let checkpoint = locked.iter().filter(|(k, _)| k == "checkpoint");
    for (key, v) in segments.iter().copied().chain(checkpoint) {
        assert_eq!(v["mode"], "COMPLIANCE", "{key}: {v}");
        let until = epoch_secs(v["until"].as_str().unwrap());
        let window = now + 180 * 86_400;
        assert!((window - 300..=window + 2).contains(&until), "{key}: {v}");
    }
    // An operator's versioned delete is refused by the store.
    let first = format!("{PREFIX}/{}", segments[0].0);
    assert_eq!(
        moto.client(&["delete-version", "worm", &first]).trim(),
        "refused AccessDenied"
    );

    // Search reads the locked segments as any others.
    let hit = server.search(&[("ip", "10.9.0.144")]);
    assert_eq!(hit.len(), 1, "{hit:?}");

    // A legal hold over the last hour: every segment gets its object legal hold.
    let r = server.post(
        "/api/v1/holds",
        &[("content-type", "application/json")],
        serde_json::to_vec(&serde_json::json!({
            "from": "1h", "to": "now", "reason": "Incident 9", "order_ref": "CERT-In/2026/9"
        }))
        .unwrap(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for (key, v) in locks(&moto, "worm")
        .iter()
        .filter(|(k, _)| k.starts_with("segments/"))
    {
        assert_eq!(v["legal_hold"], "ON", "{key}: {v}");
    }

    // `verify` checks every locked object in the bucket.
    server.stop();
    let mut c = pramaan(server.dir.path());
    c.arg("--data-dir")
        .arg(server.data_dir())
        .args(["verify", "--deep"]);
    for (k, v) in &env {
        c.env(k, v);
    }
    let o = run(c, None, Duration::from_secs(300));
    assert!(o.success() && o.stdout().contains("OK"), "{o:?}");
    assert!(
        o.stdout()
            .contains("under the bucket's COMPLIANCE Object Lock until their windows end"),
        "{o:?}"
    );

    // `pramaan doctor` checks the bucket as start does.
    let doctor = |bucket: &str| {
        let mut c = pramaan(server.dir.path());
        c.arg("doctor").env("PRAMAAN_CLOCK_ENABLED", "false");
        for (k, v) in moto.env(bucket, PREFIX) {
            c.env(k, v);
        }
        run(c, None, Duration::from_secs(120)).stdout()
    };
    let out = doctor("worm");
    assert!(
        out.contains("object lock  bucket worm has Object Lock enabled"),
        "{out}"
    );
    let out = doctor("plain");
    assert!(
        out.contains("FAIL object lock  storage.object_lock is \"compliance\" but bucket plain does not have Object Lock enabled"),
        "{out}"
    );
}
