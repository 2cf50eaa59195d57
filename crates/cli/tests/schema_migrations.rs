//! A data directory written by the previous release (before schema versions;
//! `tests/fixtures/data-dir-before-versions.tar.zst`, made by
//! `scripts/make-fixture-data-dir`) opens with this binary: read-only tools
//! read it as it is, `serve` migrates every database to this binary's
//! version, and nothing in it is lost. A database written by a newer release
//! stops `serve`, naming the database and both versions.

mod support;

use rusqlite::Connection;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(180);

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/data-dir-before-versions.tar.zst"
);

/// Every database of the fixture and the version this binary writes.
fn databases() -> Vec<(&'static str, u32)> {
    vec![
        (
            "catalog.db",
            pramaan_vault::catalog::schema::SCHEMA.latest(),
        ),
        ("desk.db", pramaan_desk::schema::SCHEMA.latest()),
        ("orders.db", pramaan_orders::schema::SCHEMA.latest()),
        ("auth.db", pramaan_auth::schema::SCHEMA.latest()),
        ("clock.db", pramaan_clock::schema::SCHEMA.latest()),
        (
            "registry.db",
            pramaan_registry::store::sqlite::SCHEMA.latest(),
        ),
    ]
}

/// The fixture unpacked into `<tmp>/data`.
fn unpack() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pramaan-e2e-")
        .tempdir()
        .unwrap();
    let packed = std::fs::read(FIXTURE).expect("the fixture (scripts/make-fixture-data-dir)");
    let tar = zstd::decode_all(&packed[..]).expect("the fixture decompresses");
    let mut child = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .expect("run tar");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "tar -x of the fixture");
    assert!(dir.path().join("data/catalog.db").exists());
    dir
}

fn version(data: &Path, db: &str) -> u32 {
    let c = Connection::open_with_flags(data.join(db), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .unwrap() as u32
}

fn set_version(data: &Path, db: &str, v: u32) {
    Connection::open(data.join(db))
        .unwrap()
        .pragma_update(None, "user_version", v as i64)
        .unwrap();
}

fn cli(cwd: &Path, data: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.arg("--data-dir").arg(data).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c, None, T)
}

fn ok(cwd: &Path, data: &Path, args: &[&str]) -> String {
    let o = cli(cwd, data, &[], args);
    assert!(o.success(), "pramaan {args:?}: {o:?}");
    o.stdout()
}

#[test]
fn the_previous_releases_data_directory_opens_and_migrates() {
    let dir = unpack();
    let cwd = dir.path().to_path_buf();
    let data: PathBuf = cwd.join("data");
    for (db, _) in databases() {
        assert_eq!(version(&data, db), 0, "{db} in the fixture");
    }
    // The checkpoint the previous release published, where it put it.
    let old_size =
        checkpoint_size(&std::fs::read_to_string(data.join("objects/checkpoint")).unwrap());
    assert!(old_size > 100, "{old_size}");

    // A read-only tool does not migrate: since the catalog gained a table
    // (the outbox, version 3), it refuses the old file and says what to do,
    // changing nothing (pramaan_db::schema::check).
    let o = cli(&cwd, &data, &[], &["verify"]);
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains("catalog.db has schema version 0")
            && o.stderr.contains("start `pramaan serve`"),
        "{o:?}"
    );
    assert_eq!(version(&data, "catalog.db"), 0, "a read-only open migrated");

    // serve migrates every database (the clock is off: clock.db too), and
    // recovers the ledger from the old checkpoint (found through the object
    // store at the old key): no rebuild.
    let mut s = Server::start_in(dir, &[]);
    let st = s.status();
    assert!(st.is_object(), "{st}");
    let ledger = &st["ledger"];
    assert!(ledger["checkpoint_size"].as_u64() >= Some(old_size), "{st}");
    assert_eq!(ledger["rebuilds"].as_array().map(Vec::len), Some(0), "{st}");
    let stopped = s.stop();
    assert!(
        stopped.success(),
        "serve stopped with {stopped}: {}",
        s.stderr()
    );
    for (db, latest) in databases() {
        assert_eq!(version(&data, db), latest, "{db} after serve");
    }

    // Everything is still there, and the ledger still verifies.
    let cwd = s.dir.path().to_path_buf();
    ok(&cwd, &data, &["verify"]);
    let hits = ok(&cwd, &data, &["search", "--format", "json", "--limit", "0"]);
    assert_eq!(hits.lines().count(), 120, "{hits}");
    let incidents: Value =
        serde_json::from_str(&ok(&cwd, &data, &["incident", "list", "--json"])).unwrap();
    assert!(
        incidents.to_string().contains("SSH brute force on bastion"),
        "{incidents}"
    );
    let orders = ok(&cwd, &data, &["order", "list", "--json"]);
    assert!(orders.contains("FIX/2026/001"), "{orders}");
    let users = ok(&cwd, &data, &["user", "list", "--json"]);
    assert!(users.contains("\"ravi\""), "{users}");
    let tokens = ok(&cwd, &data, &["token", "list", "--json"]);
    assert!(tokens.contains("\"nightly\""), "{tokens}");
    let holds = ok(&cwd, &data, &["hold", "list", "--json"]);
    assert!(
        holds.contains("fixture hold") && holds.contains("FIX/2026/001"),
        "{holds}"
    );
    let runs: i64 = Connection::open(data.join("catalog.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM retention_runs", [], |r| r.get(0))
        .unwrap();
    assert!(runs >= 1, "the retention run is gone");
    let sub = ok(
        &cwd,
        &data,
        &[
            "registry",
            "show",
            "1",
            "--purpose",
            "schema migration test",
        ],
    );
    assert!(sub.contains("Diya Chatterjee"), "{sub}");
    let clock = cli(
        &cwd,
        &data,
        &[("PRAMAAN_CLOCK_ENABLED", "true")],
        &["clock", "status", "--json"],
    );
    assert!(clock.success(), "{clock:?}");
    assert!(clock.stdout().contains("127.0.0.1:"), "{clock:?}");

    sealed_evidence_still_serves(&cwd, &data, old_size);
}

/// The size line of a signed checkpoint note.
fn checkpoint_size(note: &str) -> u64 {
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("{note}"))
}

/// After the migration: the old segments and checkpoint are read through the
/// object store (proofs, the checkpoint, retention), new records put their
/// tiles where the previous release put tiles, and `verify` checks the old
/// and the new together.
fn sealed_evidence_still_serves(cwd: &Path, data: &Path, old_size: u64) {
    let note = ok(cwd, data, &["checkpoint"]);
    let latest = checkpoint_size(&note);
    assert!(latest >= old_size, "{note}");
    // An old record, proved in the latest tree, which extends the old one.
    let incl = ok(cwd, data, &["proof", "inclusion", "--seq", "5"]);
    assert!(!incl.is_empty());
    ok(
        cwd,
        data,
        &[
            "proof",
            "consistency",
            "--from",
            &old_size.to_string(),
            "--to",
            &latest.to_string(),
        ],
    );
    // More than 256 records: a level-1 tile, at the old layout's path.
    let lines: String = (0..300)
        .map(|i| format!("<134>1 2026-03-04T08:00:00Z web9 sshd 77 - - after the upgrade {i}\n"))
        .collect();
    std::fs::write(cwd.join("more.txt"), lines).unwrap();
    ok(cwd, data, &["ingest", "more.txt"]);
    let tiles = data.join("objects/tile/1");
    let listed: Vec<_> = std::fs::read_dir(&tiles)
        .unwrap_or_else(|e| panic!("{}: {e}", tiles.display()))
        .collect();
    assert!(!listed.is_empty(), "no level-1 tile in {}", tiles.display());
    let incl = ok(
        cwd,
        data,
        &["proof", "inclusion", "--seq", &(old_size + 280).to_string()],
    );
    assert!(!incl.is_empty());
    // Retention reads the old segments' Bloom filters (an IP hold) and the
    // new ones alike.
    ok(cwd, data, &["retention", "run"]);
    let verified = ok(cwd, data, &["verify"]);
    assert!(!verified.contains("PROBLEM"), "{verified}");
    let tiles_checked: u64 = verified
        .lines()
        .find_map(|l| l.strip_prefix("tiles"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{verified}"));
    assert!(tiles_checked >= 1, "{verified}");
    let hits = ok(
        cwd,
        data,
        &[
            "search",
            "--format",
            "json",
            "--limit",
            "0",
            "after the upgrade",
        ],
    );
    assert_eq!(hits.lines().count(), 300, "{hits}");
}

#[test]
fn a_database_newer_than_the_binary_stops_serve_naming_it() {
    for db in ["catalog.db", "desk.db", "auth.db", "registry.db"] {
        let dir = unpack();
        let data = dir.path().join("data");
        let latest = databases().iter().find(|d| d.0 == db).unwrap().1;
        let newer = latest + 5;
        set_version(&data, db, newer);
        let mut c = pramaan(dir.path());
        c.arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .args(["--http-listen", "127.0.0.1:0"])
            .args(["--syslog-udp-listen", "127.0.0.1:0"])
            .args(["--syslog-tcp-listen", "127.0.0.1:0"])
            .env("PRAMAAN_CLOCK_ENABLED", "false")
            .env("PRAMAAN_ALERTS_ENABLED", "false");
        let o = run(c, None, T);
        assert!(!o.success(), "serve started on a newer {db}: {o:?}");
        let want =
            format!("{db} has schema version {newer}, newer than this pramaan knows ({latest})");
        assert!(o.stderr.contains(&want), "{db}: want `{want}` in {o:?}");
        // Refused, not changed.
        assert_eq!(version(&data, db), newer);
    }
}

#[test]
fn an_older_versioned_database_is_refused_read_only_with_what_to_do() {
    let dir = unpack();
    let data = dir.path().join("data");
    // A file a versioned release left behind this binary's version: a
    // read-only tool must say to start serve once, not read it as it is.
    let latest = pramaan_vault::catalog::schema::SCHEMA.latest();
    assert!(latest >= 2, "the catalog has a step after the first");
    set_version(&data, "catalog.db", 1);
    let o = cli(dir.path(), &data, &[], &["verify"]);
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "catalog.db has schema version 1, older than this pramaan's {latest}"
        )) && o.stderr.contains("pramaan serve"),
        "{o:?}"
    );
}
