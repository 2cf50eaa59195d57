//! `pramaan backup` while `serve` is writing, and `pramaan restore`: the
//! restored directory verifies at the backup's checkpoint, serves its lines,
//! incidents and bindings, and a backup that was altered, is newer, or is
//! restored over data is refused without writing anything.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// `pramaan --data-dir DATA args...` in `cwd`.
fn cli(cwd: &Path, data: &Path, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.arg("--data-dir").arg(data).args(args);
    run(c, None, Duration::from_secs(300))
}

fn checkpoint_size_in(out: &str) -> u64 {
    let at = out
        .find("checkpoint  size ")
        .unwrap_or_else(|| panic!("no checkpoint in: {out}"));
    out[at + 17..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every file under `dir` is readable by its owner only.
fn assert_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut all = Vec::new();
    files_under(dir, &mut all);
    assert!(!all.is_empty());
    for f in all {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", f.display());
    }
}

#[test]
fn a_backup_taken_while_serving_restores_verifies_and_serves() {
    let mut s = Server::start_with(&[
        ("PRAMAAN_SEGMENTS_MAX_ROWS", "400"),
        ("PRAMAAN_SEGMENTS_COMPACT_AFTER", "1s"),
        ("PRAMAAN_WAL_FILE_SIZE", "64KiB"),
        ("PRAMAAN_WAL_MAX_BATCH", "16KiB"),
        ("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL", "100ms"),
        ("PRAMAAN_LEDGER_HISTORY_INTERVAL", "1s"),
    ]);
    let id = unique("backup");
    for b in 0..5 {
        let lines: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    "<134>1 - fw{b} sshd - - - {id} batch {b} line {i:04} from 10.1.{b}.{}",
                    i % 250
                )
            })
            .collect();
        s.ingest_lines(&lines);
    }
    // An incident (desk.db) and bindings (the attribution store).
    let poc = format!("Bearer {}", s.token("poc", "poc"));
    let officer = format!("Bearer {}", s.token("officer", "registry-officer"));
    let r = s.post(
        "/api/v1/incidents",
        &[
            ("content-type", "application/json"),
            ("authorization", &poc),
        ],
        serde_json::to_vec(&json!({
            "title": format!("{id} defacement"),
            "kinds": ["website-defacement"],
            "detected_at": "1h",
        }))
        .unwrap(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let csv = "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id\n\
               10.9.0.7,0,65535,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,sub-backup,s1\n";
    let r = s.post(
        "/api/v1/whois/import-bindings",
        &[("content-type", "text/csv"), ("authorization", &officer)],
        csv.as_bytes().to_vec(),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Lines keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let url = s.url();
    let writer = {
        let stop = stop.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body: Vec<u8> = (0..200)
                    .map(|i| format!("<134>1 - live app - - - {id} live {n} {i}\n"))
                    .collect::<String>()
                    .into_bytes();
                let r = http_post(&format!("{url}/api/v1/ingest"), &[], body).unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let work = tempfile::tempdir().unwrap();
    let (b, k) = (work.path().join("backup"), work.path().join("keys"));
    let made = cli(
        work.path(),
        &s.data_dir(),
        &[
            "backup",
            "--to",
            b.to_str().unwrap(),
            "--keys-to",
            k.to_str().unwrap(),
        ],
    );
    stop.store(true, Ordering::Relaxed);
    let batches = writer.join().unwrap();
    assert!(made.success(), "{made:?}\nserver:\n{}", s.stderr());
    assert!(batches > 0, "lines were written while the backup ran");
    let out = made.stdout();
    eprintln!("{out}");
    let size = checkpoint_size_in(&out);
    assert!(size >= 2500, "the checkpoint covers the first lines: {out}");
    assert!(b.join("pramaan-backup.json").exists());
    assert!(k.join("ledger/node.key").exists() && !b.join("data/ledger/node.key").exists());
    assert!(
        b.join("data/ledger/node.vkey").exists(),
        "the public key travels with the data"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(b.join("pramaan-backup.json")).unwrap()).unwrap();
    assert_eq!(manifest["checkpoint_size"], size);
    assert_eq!(manifest["format"], 1);
    // Logs, bindings and keys are nobody else's to read, in the backup too.
    assert_private(&b);
    assert_private(&k);
    s.stop_and_verify_deep(Duration::from_secs(120));

    // Restore into a new directory: checked, copied, verified at the backup's checkpoint.
    let restored = work.path().join("restored");
    let o = cli(
        work.path(),
        &restored.join("data"),
        &[
            "restore",
            "--from",
            b.to_str().unwrap(),
            "--keys-from",
            k.to_str().unwrap(),
        ],
    );
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout()
            .contains(&format!("latest checkpoint of size {size}")),
        "{o:?}"
    );
    ok(cli(
        work.path(),
        &restored.join("data"),
        &["verify", "--deep"],
    ));
    assert_private(&restored.join("data"));

    // The restored directory serves: every line of the first batches,
    // the incident, the bindings; and it takes new lines.
    let dir = tempfile::TempDir::new_in(work.path()).unwrap();
    std::fs::rename(restored.join("data"), dir.path().join("data")).unwrap();
    let r = Server::start_in(dir, &[]);
    let get_as = |tok: &str, path: &str, q: &[(&str, &str)]| {
        block_on(async {
            let resp = bare()
                .get(format!("{}{path}", r.url()))
                .query(q)
                .header("authorization", tok)
                .send()
                .await
                .unwrap();
            resp.text().await.unwrap()
        })
    };
    assert!(r.committed() >= size, "{} < {size}", r.committed());
    let hits = r.search_all_of(&[("q", &id)]);
    let first = hits
        .iter()
        .filter(|h| h.raw_text().contains(" batch "))
        .count();
    assert_eq!(first, 2500, "every line ingested before the backup");
    // The tokens were restored with auth.db.
    let incidents = get_as(&poc, "/api/v1/incidents", &[]);
    assert!(
        incidents.contains(&format!("{id} defacement")),
        "{incidents}"
    );
    let who = get_as(
        &officer,
        "/api/v1/whois",
        &[
            ("ip", "10.9.0.7"),
            ("at", "2025-01-01T00:30:00Z"),
            ("purpose", "backup test"),
        ],
    );
    assert!(who.contains("sub-backup"), "{who}");
    let after = unique("after-restore");
    r.ingest_lines(&[format!("<134>1 - after app - - - {after}")]);
    assert_eq!(r.search_all_of(&[("q", &after)]).len(), 1);
}

#[test]
fn an_altered_newer_or_misplaced_backup_is_refused_and_nothing_is_written() {
    let mut s = Server::start_with(&[("PRAMAAN_SEGMENTS_MAX_ROWS", "100")]);
    let id = unique("refuse");
    let lines: Vec<String> = (0..300)
        .map(|i| format!("<134>1 - fw app - - - {id} {i}"))
        .collect();
    s.ingest_lines(&lines);
    s.stop();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let data = s.data_dir();
    let b = w.join("b");

    // Keys beside the data, and a target that holds something, are refused.
    let o = cli(
        w,
        &data,
        &[
            "backup",
            "--to",
            b.to_str().unwrap(),
            "--keys-to",
            b.join("k").to_str().unwrap(),
        ],
    );
    assert!(!o.success() && o.stderr.contains("one place"), "{o:?}");
    std::fs::create_dir_all(w.join("full")).unwrap();
    std::fs::write(w.join("full/x"), b"x").unwrap();
    let o = cli(
        w,
        &data,
        &["backup", "--to", w.join("full").to_str().unwrap()],
    );
    assert!(!o.success() && o.stderr.contains("is not empty"), "{o:?}");

    // Without --keys-to the keys stay out, and the output says so.
    let o = ok(cli(w, &data, &["backup", "--to", b.to_str().unwrap()]));
    assert!(
        o.stdout().contains("not included: the signing key"),
        "{o:?}"
    );
    let mut all = Vec::new();
    files_under(&b, &mut all);
    assert!(
        !all.iter()
            .any(|p| p.ends_with("node.key") || p.ends_with("master.key")),
        "{all:?}"
    );

    // Restoring over a data directory that holds anything is refused.
    let o = cli(w, &data, &["restore", "--from", b.to_str().unwrap()]);
    assert!(!o.success() && o.stderr.contains("is not empty"), "{o:?}");

    // One byte of one segment changed: refused, naming it; nothing written.
    let seg = all
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("a segment in the backup")
        .clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();
    let target = w.join("t1");
    let o = cli(w, &target, &["restore", "--from", b.to_str().unwrap()]);
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains("was altered") && o.stderr.contains(name),
        "{o:?}"
    );
    assert!(!target.exists(), "nothing was written");
    bytes[mid] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();

    // A file added to the backup is named too.
    std::fs::write(b.join("data/extra"), b"?").unwrap();
    let o = cli(w, &target, &["restore", "--from", b.to_str().unwrap()]);
    assert!(
        !o.success() && o.stderr.contains("extra is not in the manifest"),
        "{o:?}"
    );
    std::fs::remove_file(b.join("data/extra")).unwrap();

    // A backup made by a newer pramaan: refused, naming both versions.
    let mpath = b.join("pramaan-backup.json");
    let original = std::fs::read_to_string(&mpath).unwrap();
    let mut m: Value = serde_json::from_str(&original).unwrap();
    m["format"] = json!(2);
    m["pramaan"] = json!("99.0.0");
    std::fs::write(&mpath, m.to_string()).unwrap();
    let o = cli(w, &target, &["restore", "--from", b.to_str().unwrap()]);
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains("pramaan 99.0.0 (backup format 2)")
            && o.stderr.contains("(backup format 1)"),
        "{o:?}"
    );
    assert!(!target.exists());
    std::fs::write(&mpath, &original).unwrap();

    // A backup that did not finish (no manifest).
    std::fs::remove_file(&mpath).unwrap();
    let o = cli(w, &target, &["restore", "--from", b.to_str().unwrap()]);
    assert!(!o.success() && o.stderr.contains("did not finish"), "{o:?}");
    std::fs::write(&mpath, &original).unwrap();

    // Intact again: it restores, and says the keys were not restored.
    let o = ok(cli(w, &target, &["restore", "--from", b.to_str().unwrap()]));
    assert!(o.stdout().contains("keys        none restored"), "{o:?}");
    assert!(o.stdout().contains("verify      OK: 300 records"), "{o:?}");
}

/// `pramaan doctor` on a stopped server's directory: the backup counts when
/// it is fresh, a readable key and an unreachable clock server are named
/// with their fix, and the exit status says whether anything must be fixed.
#[test]
fn doctor_names_what_to_fix() {
    let mut s = Server::start();
    s.ingest_lines(&["<134>1 - fw app - - - doctor"]);
    s.stop();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let data = s.data_dir();
    let data_s = data.to_str().unwrap();
    let backups = w.join("backups");
    ok(cli(
        w,
        &data,
        &["backup", "--to", backups.join("one").to_str().unwrap()],
    ));
    // The disk's headroom is this machine's: not what this test judges.
    let quiet = [
        ("PRAMAAN_CLOCK_ENABLED", "false"),
        ("PRAMAAN_ALERTS_DISK_FREE_MIN", "0"),
    ];
    let args = [
        "--data-dir",
        data_s,
        "doctor",
        "--backups",
        backups.to_str().unwrap(),
    ];
    let o = cmd_env(w, &quiet, &args);
    assert!(o.success(), "{o:?}");
    let out = o.stdout();
    assert!(out.contains("ok   backups"), "{out}");
    assert!(
        out.contains("WARN clock        the clock monitor is off"),
        "{out}"
    );
    assert!(out.contains("ok   retention"), "{out}");
    assert!(out.contains("0 to fix"), "{out}");

    // A signing key others may read, and a clock server that never answers.
    let key = data.join("ledger/node.key");
    let mode = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(0o644);
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap().to_string();
    let o = cmd_env(
        w,
        &[
            ("PRAMAAN_CLOCK_ENABLED", "true"),
            ("PRAMAAN_CLOCK_SERVERS", &server),
            ("PRAMAAN_CLOCK_TIMEOUT", "300ms"),
            ("PRAMAAN_ALERTS_DISK_FREE_MIN", "0"),
        ],
        &args,
    );
    mode(0o600);
    assert!(!o.success(), "{o:?}");
    let out = o.stdout();
    assert!(
        out.contains("FAIL permissions") && out.contains("mode 0644"),
        "{out}"
    );
    assert!(
        out.contains(&format!("chmod go-rwx {}", key.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("FAIL clock        {server}: timeout")),
        "{out}"
    );
    assert!(out.contains("2 to fix"), "{out}");
    // No backup directory given: said, not guessed.
    let o = cmd_env(w, &quiet, &["--data-dir", data_s, "doctor", "--json"]);
    assert!(o.success(), "{o:?}");
    let lines: Vec<Value> = o
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|f| f["check"] == "backups" && f["level"] == "warn" && f["what"] == "not checked"),
        "{lines:?}"
    );
}

/// `pramaan DATA args...` with the S3 store's endpoint and credentials (the
/// data directory itself keeps its objects on disk).
fn cli_s3(cwd: &Path, data: &Path, store: &S3Store, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.arg("--data-dir").arg(data).args(args);
    for (k, v) in store.env("unused", "unused") {
        if k != "PRAMAAN_STORAGE_URL" {
            c.env(k, v);
        }
    }
    run(c, None, Duration::from_secs(300))
}

/// A backup put in an S3-compatible store (the real s3s-fs on loopback):
/// every file is an object, the manifest among them; the restore from the
/// bucket verifies at the backup's checkpoint and serves; a prefix that
/// holds something is never written over, a changed object is refused,
/// and no staging directory is left behind.
#[test]
fn a_backup_in_s3_restores_verifies_and_a_changed_object_is_refused() {
    const BUCKET: &str = "pramaan-backups";
    let store = S3Store::start(BUCKET);
    let mut s = Server::start_with(&[("PRAMAAN_SEGMENTS_MAX_ROWS", "100")]);
    let id = unique("s3backup");
    let lines: Vec<String> = (0..300)
        .map(|i| format!("<134>1 - fw app - - - {id} {i}"))
        .collect();
    s.ingest_lines(&lines);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (keys, staging) = (w.join("keys"), w.join("staging"));
    let url = format!("s3://{BUCKET}/nightly/1");
    let made = cli_s3(
        w,
        &s.data_dir(),
        &store,
        &[
            "backup",
            "--to",
            &url,
            "--keys-to",
            keys.to_str().unwrap(),
            "--staging",
            staging.to_str().unwrap(),
        ],
    );
    assert!(made.success(), "{made:?}");
    let size = checkpoint_size_in(&made.stdout());
    s.stop();
    assert!(!staging.exists(), "the staging directory is removed");
    let objects = store.keys(BUCKET, "nightly/1");
    assert!(
        objects.iter().any(|k| k == "pramaan-backup.json"),
        "{objects:?}"
    );
    assert!(
        objects
            .iter()
            .any(|k| k.starts_with("data/objects/segments/")),
        "{objects:?}"
    );
    assert!(
        !objects.iter().any(|k| k.contains("node.key")),
        "no key in the bucket: {objects:?}"
    );

    // Never written over.
    let again = cli_s3(w, &s.data_dir(), &store, &["backup", "--to", &url]);
    assert!(
        !again.success() && again.stderr.contains("already holds objects"),
        "{again:?}"
    );

    // Restored from the bucket: verified at the backup's checkpoint, and it serves.
    let restored = w.join("restored");
    let o = cli_s3(
        w,
        &restored.join("data"),
        &store,
        &[
            "restore",
            "--from",
            &url,
            "--keys-from",
            keys.to_str().unwrap(),
        ],
    );
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout()
            .contains(&format!("latest checkpoint of size {size}")),
        "{o:?}"
    );
    ok(cli(w, &restored.join("data"), &["verify", "--deep"]));
    assert_private(&restored.join("data"));
    let dir = tempfile::TempDir::new_in(w).unwrap();
    std::fs::rename(restored.join("data"), dir.path().join("data")).unwrap();
    let mut r = Server::start_in(dir, &[]);
    assert_eq!(r.search_all_of(&[("q", id.as_str())]).len(), 300);
    r.stop();

    // One object changed in the bucket: refused, nothing written.
    let seg = objects
        .iter()
        .find(|k| k.starts_with("data/objects/segments/"))
        .unwrap();
    let file = store.root.path().join(BUCKET).join("nightly/1").join(seg);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let target = w.join("second");
    let o = cli_s3(
        w,
        &target.join("data"),
        &store,
        &["restore", "--from", &url],
    );
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains(seg.trim_start_matches("data/")),
        "the altered file is named: {o:?}"
    );
    assert!(!target.join("data").exists(), "nothing is written");
    let no_backup = cli_s3(
        w,
        &target.join("data"),
        &store,
        &["restore", "--from", &format!("s3://{BUCKET}/nothing")],
    );
    assert!(
        !no_backup.success() && no_backup.stderr.contains("holds no pramaan-backup.json"),
        "{no_backup:?}"
    );
}
