//! Object Lock (`storage.object_lock = "compliance"`) on a real S3 server
//! on loopback: moto's server mode (`python3 -m moto.server`, which
//! `scripts/test` installs). It is a mock, the only S3 server installable
//! here that enforces Object Lock: a versioned delete of an object under
//! COMPLIANCE retention or a legal hold is refused, as on AWS. What the
//! bucket keeps is read back with boto3 (`clients/s3lock.py`), a client
//! independent of pramaan's.
//!
//! * `a_bucket_without_object_lock_is_refused_at_open`
//! * `sealed_objects_are_locked_until_their_window_ends`: every segment
//!   until its newest record's arrival plus 180 days, the checkpoint for
//!   180 days; a versioned delete by boto3 is refused; a legal hold sets the
//!   object legal hold and its release clears it; retention run with a clock
//!   past the window (pramaan wrong about the date) is refused by the store:
//!   the segment is reported locked and its object stays, every version.
//! * `a_delete_removes_every_version_once_the_lock_ends`

use bytes::Bytes;
use pramaan_core::Transport;
use pramaan_vault::objects::lock::Locked;
use pramaan_vault::objects::s3::{Credentials, S3Options};
use pramaan_vault::retention::{NewHold, Policy, Retention, NS_PER_DAY};
use pramaan_vault::{Vault, VaultOptions};
use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY_ID: &str = "AKIAPRAMAANTEST";
const SECRET: &str = "pramaan-object-lock-secret";
const PREFIX: &str = "site-a/pramaan";

/// moto's S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m moto.server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let start = Instant::now();
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto's server exited ({status}): scripts/test installs it (pip install 'moto[server]')"
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto's server did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// `s3lock.py <endpoint> <args>`: its standard output.
    fn client(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/s3lock.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .output()
            .expect("run s3lock.py");
        assert!(
            out.status.success(),
            "s3lock.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Each object under the prefix, as boto3 reads its lock.
    fn locks(&self, bucket: &str) -> Vec<Value> {
        self.client(&["locks", bucket, PREFIX])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn credentials(dir: &Path) -> PathBuf {
    let path = dir.join("s3-credentials");
    std::fs::write(
        &path,
        format!("[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    path
}

fn opts(dir: &Path, moto: &Moto, bucket: &str) -> VaultOptions {
    let mut o = VaultOptions::new(dir.join("data"));
    o.s3 = Some(S3Options {
        bucket: bucket.into(),
        prefix: PREFIX.into(),
        endpoint: moto.endpoint.clone(),
        region: String::new(),
        path_style: true,
        allow_http: true,
        credentials: Credentials::File {
            path: credentials(dir),
            profile: "default".into(),
        },
        cache_bytes: 0,
    });
    o.object_lock = Some(Policy::default());
    o.seal_max_age = Duration::from_secs(86_400);
    if let Some(l) = o.ledger.as_mut() {
        l.checkpoint_interval = Duration::from_millis(100);
    }
    o
}

/// Appends `n` lines and waits until they are sealed.
async fn seal_lines(vault: &Vault, n: usize) {
    let lines: Vec<Bytes> = (0..n)
        .map(|i| {
            Bytes::from(format!(
                "<13>1 - gw-1 sshd - - - Accepted password for u{i} from 10.0.0.{i}"
            ))
        })
        .collect();
    vault
        .append(Transport::Http, Arc::from("127.0.0.1:1"), lines)
        .await
        .unwrap();
    vault.seal_now();
    assert!(vault.wait_sealed(Duration::from_secs(60)).await);
}

fn now_ns() -> i64 {
    pramaan_core::time::now_ns()
}

/// Seconds since the epoch of a store's `2027-06-05T10:00:00Z`.
fn epoch_secs(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .as_second()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_without_object_lock_is_refused_at_open() {
    let moto = Moto::start();
    moto.client(&["bucket", "plain", "plain"]);
    let dir = tempfile::tempdir().unwrap();
    let err = Vault::open(opts(dir.path(), &moto, "plain"))
        .await
        .err()
        .expect("a bucket without Object Lock must be refused");
    let text = err.to_string();
    assert!(
        text.contains("s3://plain/site-a/pramaan")
            && text.contains("bucket plain does not have Object Lock enabled")
            && text.contains("storage.object_lock = \"off\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_are_locked_until_their_window_ends() {
    let moto = Moto::start();
    moto.client(&["bucket", "worm", "lock"]);
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path(), &moto, "worm")).await.unwrap();
    seal_lines(&vault, 40).await;
    let l = vault.ledger().expect("a ledger");
    let start = Instant::now();
    while l.latest().unwrap().map_or(0, |p| p.size) < vault.committed() {
        assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let segments = vault.segments_now();
    assert_eq!(segments.len(), 1);
    let seg = &segments[0];

    // Read back with boto3: the segment until its newest arrival + 180 days
    // (to the second, rounded up), the checkpoint 180 days from its writing.
    let locks = moto.locks("worm");
    let of = |key: &str| -> Value {
        let full = format!("{PREFIX}/{key}");
        locks
            .iter()
            .find(|r| r["key"] == full.as_str())
            .unwrap_or_else(|| panic!("{full} is not in the bucket: {locks:?}"))
            .clone()
    };
    let s = of(&seg.path);
    assert_eq!(s["mode"], "COMPLIANCE", "{s}");
    let window_end = (seg.time_max_ns + 180 * NS_PER_DAY + 999_999_999) / 1_000_000_000;
    assert_eq!(epoch_secs(s["until"].as_str().unwrap()), window_end, "{s}");
    let c = of("checkpoint");
    assert_eq!(c["mode"], "COMPLIANCE", "{c}");
    let c_until = epoch_secs(c["until"].as_str().unwrap());
    let expected = now_ns() / 1_000_000_000 + 180 * 86_400;
    assert!(
        (expected - 120..=expected + 1).contains(&c_until),
        "checkpoint until {c_until}, expected about {expected}: {c}"
    );
    // Every checkpoint the ledger wrote is a locked version of its own.
    assert!(c["versions"].as_u64().unwrap() >= 1, "{c}");
    // Partial tiles are replaced as the tree grows: not locked.
    for t in locks
        .iter()
        .filter(|r| r["key"].as_str().unwrap().contains(".p/"))
    {
        assert_eq!(t["mode"], Value::Null, "{t}");
    }

    // An operator's delete of the version is refused by the store.
    let full = format!("{PREFIX}/{}", seg.path);
    assert_eq!(
        moto.client(&["delete-version", "worm", &full]).trim(),
        "refused AccessDenied"
    );
    // And pramaan's own delete says why.
    let e = vault.objects().delete(&seg.path).await.unwrap_err();
    assert!(pramaan_vault::objects::is_locked(&e), "{e}");
    assert!(
        e.to_string()
            .contains("still kept by the bucket's Object Lock"),
        "{e}"
    );

    // A legal hold over the segment's time sets its object legal hold...
    let r = Retention::new(vault.clone(), Policy::default());
    let hold = r
        .add_hold(
            &NewHold {
                from_ns: seg.time_min_ns,
                to_ns: seg.time_max_ns,
                source: None,
                ip: None,
                reason: "Incident 7".into(),
                order_ref: "CERT-In/2026/7".into(),
                created_by: "test".into(),
            },
            now_ns(),
        )
        .await
        .unwrap();
    assert_eq!(of_now(&moto, &full)["legal_hold"], "ON");
    let lock = vault.objects().object_lock().unwrap();
    assert!(lock.state(&seg.path).await.unwrap().legal_hold);
    // ...and its release clears it.
    r.release_hold(hold.id, "test", "order closed", now_ns())
        .await
        .unwrap();
    assert_eq!(of_now(&moto, &full)["legal_hold"], "OFF");

    // Retention with a clock 181 days ahead finds the segment expired; the
    // store, whose clock is right, keeps it: reported locked, nothing lost.
    let later = now_ns() + 181 * NS_PER_DAY;
    let rep = r.run(later, false).await.unwrap();
    assert_eq!(rep.deleted.len(), 1, "{rep:?}");
    assert_eq!(rep.locked.len(), 1, "{rep:?}");
    assert!(rep.locked[0].contains(&seg.path), "{rep:?}");
    assert_eq!(moto.client(&["versions", "worm", &full]).trim(), "1");
    // The deletion stays pending: the next run tries again, and is refused again.
    let rep = r.run(later, false).await.unwrap();
    assert_eq!((rep.deleted.len(), rep.locked.len()), (0, 1), "{rep:?}");
    assert_eq!(vault.catalog().pending_object_deletions().unwrap().len(), 1);
    drop(r);
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_segment_that_is_not_locked() {
    let moto = Moto::start();
    moto.client(&["bucket", "worm", "lock"]);
    let dir = tempfile::tempdir().unwrap();
    let o = opts(dir.path(), &moto, "worm");
    let (vault, workers) = Vault::open(o.clone()).await.unwrap();
    seal_lines(&vault, 10).await;
    let seg = vault.segments_now()[0].clone();
    vault.shutdown(workers).await;
    let verify =
        || pramaan_vault::ledger::verify::verify(&o, &Default::default(), &mut |_, _| {}).unwrap();
    let report = tokio::task::block_in_place(verify);
    assert!(report.ok(), "{:?}", report.problems);
    assert!(
        report.notes.iter().any(|n| n.starts_with(
            "2 objects (segments and the checkpoint) are under the bucket's COMPLIANCE Object Lock"
        )),
        "{:?}",
        report.notes
    );
    // The lock keeps the old version, but a new one can be put over it: the
    // bytes differ, and the new version has no lock. Both are named.
    moto.client(&["overwrite", "worm", &format!("{PREFIX}/{}", seg.path)]);
    let report = tokio::task::block_in_place(verify);
    let about: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.place.contains(&seg.path))
        .map(|p| p.to_string())
        .collect();
    assert!(
        about
            .iter()
            .any(|p| p.contains("it is not under COMPLIANCE retention")),
        "{about:?}"
    );
    assert!(
        about.len() >= 2,
        "the altered bytes are named too: {about:?}"
    );
}

/// boto3's reading of one key now.
fn of_now(moto: &Moto, full: &str) -> Value {
    moto.locks("worm")
        .into_iter()
        .find(|r| r["key"] == full)
        .unwrap_or_else(|| panic!("{full} is gone"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buckets_longer_default_retention_is_never_shortened() {
    let moto = Moto::start();
    moto.client(&["bucket", "worm", "lock-default", "200"]);
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path(), &moto, "worm")).await.unwrap();
    seal_lines(&vault, 5).await;
    let seg = vault.segments_now()[0].clone();
    let full = format!("{PREFIX}/{}", seg.path);
    let v = of_now(&moto, &full);
    // Locked at its upload for 200 days: later than its 180-day window's
    // end, and kept so (S3 would refuse to move a COMPLIANCE date earlier).
    assert_eq!(v["mode"], "COMPLIANCE", "{v}");
    let until = epoch_secs(v["until"].as_str().unwrap());
    let default_end = now_ns() / 1_000_000_000 + 200 * 86_400;
    assert!(
        (default_end - 120..=default_end + 1).contains(&until),
        "{v}"
    );
    vault.shutdown(workers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_removes_every_version_once_the_lock_ends() {
    let moto = Moto::start();
    moto.client(&["bucket", "worm", "lock"]);
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = Vault::open(opts(dir.path(), &moto, "worm")).await.unwrap();
    let objects = vault.objects();
    let lock = objects.object_lock().unwrap();
    let key = "segments/2026/12/07/10/1-2.parquet";
    let full = format!("{PREFIX}/{key}");
    // Two versions (a re-seal writes over an orphan), the newer locked 2 s.
    for body in ["first", "second"] {
        objects.put(key, Bytes::from(body)).await.unwrap();
    }
    let until = now_ns() + 2_000_000_000;
    lock.retain(key, until).await.unwrap();
    let e = objects.delete(key).await.unwrap_err();
    assert!(pramaan_vault::objects::is_locked(&e), "{e}");
    let source = match &e {
        object_store::Error::Generic { source, .. } => source.downcast_ref::<Locked>().unwrap(),
        other => panic!("{other}"),
    };
    assert_eq!(source.key, key);
    while now_ns() < until + 1_000_000_000 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    objects.delete(key).await.unwrap();
    assert_eq!(moto.client(&["versions", "worm", &full]).trim(), "0");
    // A key that is not there is no error.
    objects.delete(key).await.unwrap();
    vault.shutdown(workers).await;
}
