//! The data directory as someone with disk access, or another user of the
//! machine, finds it: files for pramaan's user only, checkpoints that cannot
//! be deleted away, credentials never written down, damage reported.
//!
//! * `serve_makes_nothing_that_group_or_others_may_use`
//! * `a_data_directory_open_to_others_is_warned_about_at_start`
//! * `missing_checkpoints_stop_every_start_until_an_explicit_recorded_rebuild`
//! * `a_password_in_a_url_is_never_written_down_or_shown`
//! * `a_search_over_a_damaged_segment_is_an_error_naming_it`

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

const CMD_TIMEOUT: Duration = Duration::from_secs(120);

/// Every entry under `dir` (the directory itself included) with its mode.
#[cfg(unix)]
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        out.push((p.clone(), m.permissions().mode() & 0o7777));
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

/// A `pramaan` command on `server`'s data directory (the server stopped).
fn cli(server: &Server, args: &[&str]) -> Output {
    let mut c = pramaan(server.dir.path());
    c.arg("--data-dir").arg(server.data_dir()).args(args);
    c.env("PRAMAAN_CLOCK_ENABLED", "false");
    run(c, None, CMD_TIMEOUT)
}

#[cfg(unix)]
#[test]
fn serve_makes_nothing_that_group_or_others_may_use() {
    let mut server = Server::start_with(&[("PRAMAAN_SEGMENTS_MAX_ROWS", "100")]);
    let run_id = unique("modes");
    let lines: Vec<String> = (0..250)
        .map(|i| format!("<14>1 - host app - - - {run_id} line {i}"))
        .collect();
    server.ingest_lines(&lines);
    wait_until(Duration::from_secs(60), "two sealed segments", || {
        (server.status()["segments"].as_u64() >= Some(2)).then_some(())
    });
    let found = modes(&server.data_dir());
    // The WAL, segments, catalog, tiles, checkpoint, keys and databases.
    for want in [
        "wal",
        "objects",
        "catalog.db",
        "ledger/node.key",
        "objects/checkpoint",
        "auth.db",
    ] {
        assert!(
            found.iter().any(|(p, _)| p.ends_with(want)),
            "no {want} in {found:?}"
        );
    }
    assert!(
        found
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "parquet")),
        "no segment in {found:?}"
    );
    let open: Vec<String> = found
        .iter()
        .filter(|(_, m)| m & 0o077 != 0)
        .map(|(p, m)| format!("{} {m:04o}", p.display()))
        .collect();
    assert!(open.is_empty(), "open to group or others: {open:#?}");
    let status = server.status();
    assert_eq!(status["loose_file_modes_count"], 0, "{status}");
    assert_eq!(
        status["loose_file_modes"],
        serde_json::json!([]),
        "{status}"
    );
    // And what a clean stop writes last (the final checkpoint, history row).
    let s = server.stop();
    assert!(s.success(), "{}", server.stderr());
    let after: Vec<String> = modes(&server.data_dir())
        .into_iter()
        .filter(|(_, m)| m & 0o077 != 0)
        .map(|(p, m)| format!("{} {m:04o}", p.display()))
        .collect();
    assert!(after.is_empty(), "open to group or others: {after:#?}");
    assert!(!server.stderr().contains("group or others may use"));
}

#[cfg(unix)]
#[test]
fn a_data_directory_open_to_others_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("pramaan-e2e-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_in(dir, &[]);
    let err = server.stderr();
    let warned = err
        .lines()
        .find(|l| l.contains("WARN") && l.contains("group or others may use"))
        .unwrap_or_else(|| panic!("no warning about the data directory's mode:\n{err}"));
    assert!(warned.contains("0755"), "{warned}");
    assert!(warned.contains(&data.display().to_string()), "{warned}");
    let status = server.status();
    assert_eq!(status["loose_file_modes_count"], 1, "{status}");
    assert_eq!(status["loose_file_modes"][0], ". (0755)", "{status}");
    // Said, not undone: the operator may mean it.
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
}

#[test]
fn missing_checkpoints_stop_every_start_until_an_explicit_recorded_rebuild() {
    let mut server = Server::start();
    let run_id = unique("rebuild");
    let lines: Vec<String> = (0..50)
        .map(|i| format!("<14>1 - host app - - - {run_id} line {i}"))
        .collect();
    server.ingest_lines(&lines);
    wait_until(Duration::from_secs(60), "a checkpoint of 50", || {
        (server.status()["ledger"]["checkpoint_size"].as_u64() >= Some(50)).then_some(())
    });
    server.kill9();

    // Someone with the disk deletes the checkpoint and the catalog holding
    // its history (the records are still in the WAL).
    let data = server.data_dir();
    std::fs::remove_file(data.join("objects/checkpoint")).unwrap();
    for f in ["catalog.db", "catalog.db-wal", "catalog.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let mut serve = pramaan(server.dir.path());
    serve
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--syslog-udp-listen", "off", "--syslog-tcp-listen", "off"])
        .env("PRAMAAN_CLOCK_ENABLED", "false");
    let out = run(serve, None, CMD_TIMEOUT);
    assert!(!out.success(), "{out:?}");
    for want in ["objects/checkpoint", "50 records", "pramaan ledger rebuild"] {
        assert!(out.stderr.contains(want), "{want}: {out:?}");
    }
    // A command that only reads refuses too, and nothing was signed meanwhile.
    let out = cli(&server, &["status"]);
    assert!(
        !out.success() && out.stderr.contains("50 records"),
        "{out:?}"
    );
    assert!(!data.join("objects/checkpoint").exists());

    // A reason is required.
    let out = cli(&server, &["ledger", "rebuild", "--reason", "  "]);
    assert!(!out.success(), "{out:?}");
    let out = cli(
        &server,
        &[
            "ledger",
            "rebuild",
            "--reason",
            "checkpoint lost in the disk swap; verify was clean",
        ],
    );
    assert!(out.success(), "{out:?}");
    assert!(out.stdout().contains("50 records"), "{out:?}");

    server.start_again();
    let status = server.status();
    let rebuilds = &status["ledger"]["rebuilds"];
    assert_eq!(rebuilds.as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(rebuilds[0]["records"], 50, "{status}");
    assert_eq!(rebuilds[0]["seq"], 50, "{status}");
    assert!(
        rebuilds[0]["reason"]
            .as_str()
            .unwrap()
            .contains("disk swap"),
        "{status}"
    );
    let hits = server.search(&[("internal", "true"), ("q", "ledger.rebuilt")]);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].seq, 50);
    assert_eq!(hits[0].str("peer"), Some("pramaan:ledger"));
    assert!(hits[0].raw_text().contains("disk swap"));
    // Shown again after another restart: it is kept, not a one-off message.
    server.restart();
    assert_eq!(server.status()["ledger"]["rebuilds"][0]["seq"], 50);
}

#[test]
fn a_password_in_a_url_is_never_written_down_or_shown() {
    const URL: &str = "postgres://u:secretpw@127.0.0.1:5432/test";
    let mut server = Server::start();
    server.stop();
    // The next start reads ./pramaan.toml (the server's working directory).
    std::fs::write(
        server.dir.path().join("pramaan.toml"),
        format!("[registry]\nurl = \"{URL}\"\n"),
    )
    .unwrap();
    server.start_again();
    let changed = server.wait_for_hits(&[("internal", "true"), ("q", "config.changed")], 1);
    let record = changed[0].raw_text();
    assert!(record.contains("registry.url"), "{record}");
    assert!(record.contains("u:***@127.0.0.1"), "{record}");
    assert!(!record.contains("secretpw"), "{record}");
    let status = server.get("/api/v1/status", &[]).text();
    assert!(!status.contains("secretpw"));
    server.stop();
    let applied = std::fs::read_to_string(server.data_dir().join("config.applied")).unwrap();
    assert!(applied.contains("registry.url"), "{applied}");
    assert!(!applied.contains("secretpw"), "{applied}");
    for start in 1..=2 {
        let log = std::fs::read_to_string(server.dir.path().join(format!("server-{start}.stderr")))
            .unwrap();
        assert!(!log.contains("secretpw"), "{log}");
    }
    let out = cli(&server, &["config"]);
    assert!(out.success(), "{out:?}");
    assert!(out.stdout().contains("u:***@127.0.0.1"), "{out:?}");
    assert!(!out.stdout().contains("secretpw") && !out.stderr.contains("secretpw"));
}

#[test]
fn a_search_over_a_damaged_segment_is_an_error_naming_it() {
    let server = Server::start_with(&[("PRAMAAN_SEGMENTS_MAX_ROWS", "100")]);
    let run_id = unique("damaged");
    let lines: Vec<String> = (0..100)
        .map(|i| format!("<14>1 - host app - - - {run_id} line {i}"))
        .collect();
    server.ingest_lines(&lines);
    wait_until(Duration::from_secs(60), "a sealed segment", || {
        (server.status()["segments"].as_u64() >= Some(1)).then_some(())
    });
    assert_eq!(server.search(&[("q", &run_id)]).len(), 100);
    let objects = server.data_dir().join("objects");
    let segment = modes_free_walk(&objects)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("a segment file");
    // Damage: the footer is overwritten (same size, as bit rot would).
    let good = std::fs::read(&segment).unwrap();
    let mut bytes = good.clone();
    let n = bytes.len();
    for b in &mut bytes[n - 64..] {
        *b = 0x5a;
    }
    std::fs::write(&segment, &bytes).unwrap();
    let r = server.get("/api/v1/search", &[("q", &run_id)]);
    assert_eq!(r.status, 500, "{}", r.text());
    let body = r.text();
    let rel = segment
        .strip_prefix(&objects)
        .unwrap()
        .display()
        .to_string();
    assert!(body.contains(&rel), "{body}");
    assert!(body.contains("pramaan verify"), "{body}");
    assert!(
        !body.contains(&server.dir.path().display().to_string()),
        "{body}"
    );
    // The server still serves, and the same search answers again once the
    // segment is whole.
    assert_eq!(server.status()["segments"], 1);
    std::fs::write(&segment, &good).unwrap();
    assert_eq!(server.search(&[("q", &run_id)]).len(), 100);
}

/// Every file under `dir`.
fn modes_free_walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else {
            out.push(p);
        }
    }
    out
}
