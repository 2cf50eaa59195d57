//! The command line as a user meets it: help, configuration and its errors,
//! ingesting files (plain, gzip, zstd, stdin) through a server or directly
//! into a data directory, searching, SQL and output formats.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

fn cmd(cwd: &Path, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.args(args);
    run(c, None, T)
}

/// NDJSON hits printed by `search --format json`.
fn json_hits(o: &Output) -> Vec<Hit> {
    parse_hits(&o.stdout)
}

// ------------------------------------------------------------------ help

#[test]
fn help_of_every_command_exits_0_and_names_each_flag() {
    let dir = tempfile::tempdir().unwrap();
    let global = ["--config", "--data-dir", "--help"];
    let commands: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "--version",
                "serve",
                "config",
                "ingest",
                "search",
                "sql",
                "status",
            ],
        ),
        (
            "serve",
            &[
                "--http-listen",
                "--syslog-udp-listen",
                "--syslog-tcp-listen",
                "--syslog-tls-listen",
                "--syslog-tls-cert",
                "--syslog-tls-key",
                "--ready-file",
            ],
        ),
        ("config", &["--reference"]),
        (
            "ingest",
            &["--server", "--batch-lines", "--quiet", "<FILE>"],
        ),
        (
            "search",
            &[
                "--from",
                "--to",
                "--host",
                "--app",
                "--ip",
                "--user",
                "--severity",
                "--regex",
                "--seq",
                "--format",
                "--limit",
                "--newest",
                "--utc",
                "--server",
                "[TEXT]",
            ],
        ),
        ("sql", &["--json", "--server", "<QUERY>"]),
        ("status", &["--server"]),
        ("compact", &["--all", "--level", "--quiet", "--json"]),
    ];
    for (sub, flags) in commands {
        let args: Vec<&str> = if sub.is_empty() {
            vec!["--help"]
        } else {
            vec![sub, "--help"]
        };
        let o = ok(cmd(dir.path(), &args));
        let text = o.stdout();
        for f in flags.iter().chain(global.iter()) {
            assert!(
                text.contains(f),
                "`pramaan {}` does not mention {f}:\n{text}",
                args.join(" ")
            );
        }
        // `help SUB` says the same.
        if !sub.is_empty() {
            let h = ok(cmd(dir.path(), &["help", sub]));
            assert_eq!(h.stdout(), text, "pramaan help {sub}");
        }
    }
    let v = ok(cmd(dir.path(), &["--version"]));
    assert!(v.stdout().starts_with("pramaan "), "{v:?}");
    // A mistyped command or flag is an error with a hint, not a silent default.
    let o = cmd(dir.path(), &["serach"]);
    assert!(!o.success());
    assert!(o.stderr.contains("search"), "{o:?}");
    let o = cmd(dir.path(), &["search", "--hots", "x"]);
    assert!(!o.success());
    assert!(o.stderr.contains("--host"), "{o:?}");
}

// ------------------------------------------------------------------ config

/// Every key listed by `config --reference`.
fn reference_keys(dir: &Path) -> Vec<String> {
    let o = ok(cmd(dir, &["config", "--reference"]));
    let keys: Vec<String> = o
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("| [`"))
        .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_owned()))
        .collect();
    assert!(keys.len() >= 25, "{keys:?}");
    keys
}

/// `pramaan config` output: key → (value text, origin).
fn parse_config(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[') {
            section = s.trim_end_matches(']').to_owned();
            continue;
        }
        let (kv, origin) = line
            .rsplit_once("# from ")
            .unwrap_or_else(|| panic!("a value without its origin: {line:?}"));
        let (k, v) = kv.split_once('=').expect("key = value");
        let key = if section.is_empty() {
            k.trim().to_owned()
        } else {
            format!("{section}.{}", k.trim())
        };
        out.insert(key, (v.trim().to_owned(), origin.trim().to_owned()));
    }
    out
}

#[test]
fn config_prints_every_key_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let keys = reference_keys(dir.path());
    let o = ok(cmd(dir.path(), &["config"]));
    assert!(o.stdout().contains("# Configuration file: none"), "{o:?}");
    let cfg = parse_config(&o.stdout());
    assert_eq!(cfg.keys().cloned().collect::<Vec<_>>(), sorted(&keys));
    for (k, (_, origin)) in &cfg {
        assert_eq!(origin, "default", "{k}");
    }
    assert_eq!(cfg["http.listen"].0, "\"127.0.0.1:8080\"");

    // From the environment.
    let o = ok(cmd_env(
        dir.path(),
        &[("PRAMAAN_HTTP_LISTEN", "127.0.0.1:9999")],
        &["config"],
    ));
    let cfg = parse_config(&o.stdout());
    assert_eq!(
        cfg["http.listen"],
        (
            "\"127.0.0.1:9999\"".to_owned(),
            "$PRAMAAN_HTTP_LISTEN".to_owned()
        )
    );
    assert!(cfg
        .iter()
        .filter(|(k, _)| *k != "http.listen")
        .all(|(_, (_, o))| o == "default"));

    // From ./pramaan.toml, and the environment over the file.
    let toml = dir.path().join("pramaan.toml");
    std::fs::write(
        &toml,
        "[segments]\nmax_rows = 500\n[http]\nlisten = \"127.0.0.1:7777\"\n",
    )
    .unwrap();
    let o = ok(cmd_env(
        dir.path(),
        &[("PRAMAAN_HTTP_LISTEN", "127.0.0.1:9999")],
        &["config"],
    ));
    let cfg = parse_config(&o.stdout());
    assert_eq!(cfg["segments.max_rows"].0, "500");
    assert!(
        cfg["segments.max_rows"].1.contains("pramaan.toml"),
        "{:?}",
        cfg["segments.max_rows"]
    );
    assert_eq!(cfg["http.listen"].1, "$PRAMAAN_HTTP_LISTEN");
    assert!(
        o.stdout().contains("pramaan.toml"),
        "names the file it read: {o:?}"
    );
    // --config names another file.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "data_dir = \"/tmp/elsewhere\"\n").unwrap();
    let o = ok(cmd(
        dir.path(),
        &["--config", other.to_str().unwrap(), "config"],
    ));
    let cfg = parse_config(&o.stdout());
    assert_eq!(cfg["data_dir"].0, "\"/tmp/elsewhere\"");
    assert!(cfg["data_dir"].1.contains("other.toml"));
    assert_eq!(
        cfg["segments.max_rows"].1, "default",
        "./pramaan.toml is not read when --config is given"
    );
}

#[test]
fn bad_configuration_value_is_refused_naming_key_value_and_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let o = cmd_env(
        dir.path(),
        &[("PRAMAAN_HTTP_LISTEN", "nonsense")],
        &["serve", "--data-dir", "data"],
    );
    assert!(!o.success(), "{o:?}");
    for part in [
        "http.listen",
        "nonsense",
        "PRAMAAN_HTTP_LISTEN",
        "socket address",
        "127.0.0.1:8080",
    ] {
        assert!(
            o.stderr.contains(part),
            "stderr should contain {part:?}: {o:?}"
        );
    }
    assert!(!dir.path().join("data").exists(), "nothing was created");
    // A size with an ambiguous unit, a number out of range.
    for (var, val, key) in [
        ("PRAMAAN_SYSLOG_MAX_LINE", "64MB", "syslog.max_line"),
        ("PRAMAAN_SEGMENTS_ZSTD_LEVEL", "99", "segments.zstd_level"),
        ("PRAMAAN_WAL_FSYNC", "maybe", "wal.fsync"),
    ] {
        let o = cmd_env(dir.path(), &[(var, val)], &["config"]);
        assert!(!o.success(), "{var}={val}: {o:?}");
        assert!(o.stderr.contains(key) && o.stderr.contains(val), "{o:?}");
    }
    // An environment variable that names no key.
    let o = cmd_env(
        dir.path(),
        &[("PRAMAAN_HTTP_LISTN", "127.0.0.1:1")],
        &["config"],
    );
    assert!(!o.success(), "{o:?}");
    assert!(o.stderr.contains("PRAMAAN_HTTP_LISTN"), "{o:?}");
}

#[test]
fn unknown_key_in_pramaan_toml_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // Listeners on port 0 so that, were the key ignored, nothing would take a fixed port.
    std::fs::write(
        dir.path().join("pramaan.toml"),
        "data_dir = \"data\"\n[http]\nlisten = \"127.0.0.1:0\"\nmax_bodyy = \"1MiB\"\n\
         [syslog]\nudp_listen = \"off\"\ntcp_listen = \"off\"\n",
    )
    .unwrap();
    for args in [
        &["config"][..],
        &["serve", "--ready-file", "ready.json"][..],
    ] {
        let o = cmd(dir.path(), args);
        assert!(!o.success(), "{args:?}: {o:?}");
        assert!(o.stderr.contains("http.max_bodyy"), "{args:?}: {o:?}");
        assert!(o.stderr.contains("pramaan.toml"), "names the file: {o:?}");
    }
    assert!(!dir.path().join("ready.json").exists());
}

// ------------------------------------------------------------------ ingest

fn write_gz(path: &Path, data: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap();
}

fn write_zst(path: &Path, data: &[u8]) {
    std::fs::write(path, zstd::encode_all(data, 3).unwrap()).unwrap();
}

/// Lines with a tag, an address and a user, and some awkward bytes.
fn sample_lines(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("{tag} {i} Accepted password for alice from 10.3.{}.{} port 22 ssh2", i % 256, i / 256),
            1 => format!("<34>1 2026-03-03T14:02:11+05:30 web-{i} nginx - - - {tag} {i} \"GET /a,b HTTP/1.1\" 200"),
            2 => format!("{{\"msg\":\"{tag} {i}\",\"user\":\"bob\",\"ip\":\"192.0.2.{}\"}}", i % 250),
            _ => format!("{tag} {i} tab\there, comma, and \"quotes\" — नमस्ते"),
        })
        .collect()
}

#[test]
fn ingest_plain_gz_zst_and_stdin_through_a_server_then_search_finds_every_line() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let tag = unique("files");
    let plain = sample_lines(&format!("{tag} plain"), 250);
    let gz = sample_lines(&format!("{tag} gz"), 250);
    let zst = sample_lines(&format!("{tag} zst"), 250);
    let stdin = sample_lines(&format!("{tag} stdin"), 100);
    let (p1, p2, p3) = (
        dir.path().join("a.log"),
        dir.path().join("b.log.gz"),
        dir.path().join("c.log.zst"),
    );
    // CR LF line ends in one file, no LF at the end of another: the CLI reads lines
    // like a person would (a trailing CR is part of the line only over syslog).
    std::fs::write(&p1, plain.join("\n") + "\n").unwrap();
    write_gz(&p2, gz.join("\n").as_bytes());
    write_zst(&p3, (zst.join("\n") + "\n").as_bytes());
    let url = server.url();
    let o = ok(cmd(
        dir.path(),
        &[
            "ingest",
            "--server",
            &url,
            "--batch-lines",
            "100",
            "--quiet",
            p1.to_str().unwrap(),
            p2.to_str().unwrap(),
            p3.to_str().unwrap(),
        ],
    ));
    assert!(o.stdout().contains("ingested 750 lines"), "{o:?}");
    let mut c = pramaan(dir.path());
    c.args(["ingest", "--server", &url, "-"]);
    let o = run(c, Some((stdin.join("\n") + "\n").as_bytes()), T);
    assert!(
        o.success() && o.stdout().contains("ingested 100 lines"),
        "{o:?}"
    );

    let o = ok(cmd(
        dir.path(),
        &[
            "search", "--server", &url, "--format", "json", "--limit", "0", &tag,
        ],
    ));
    let hits = json_hits(&o);
    let got: Vec<String> = hits.iter().map(Hit::raw_text).collect();
    let want: Vec<String> = [plain, gz, zst, stdin].concat();
    assert_eq!(got, want, "every line, byte-exact, in order");
    assert!(hits.iter().all(|h| h.str("transport") == Some("http")));
    // JSON output is the API's NDJSON.
    let api: Vec<String> = server
        .search_all_of(&[("q", &tag)])
        .iter()
        .map(|h| h.json.to_string())
        .collect();
    let cli: Vec<String> = hits.iter().map(|h| h.json.to_string()).collect();
    assert_eq!(cli, api);

    // Field searches through the CLI.
    let o = ok(cmd(
        dir.path(),
        &[
            "search", "--server", &url, "--format", "json", "--limit", "0", "--user", "alice", &tag,
        ],
    ));
    assert_eq!(
        json_hits(&o).len(),
        want.iter().filter(|l| l.contains("for alice")).count()
    );
    let o = ok(cmd(
        dir.path(),
        &[
            "search", "--server", &url, "--format", "json", "--app", "nginx", "--limit", "0",
        ],
    ));
    assert_eq!(
        json_hits(&o).len(),
        want.iter().filter(|l| l.contains(" nginx ")).count()
    );
    let o = ok(cmd(
        dir.path(),
        &[
            "search",
            "--server",
            &url,
            "--format",
            "json",
            "--severity",
            "crit",
            "--limit",
            "0",
        ],
    ));
    assert_eq!(
        json_hits(&o).len(),
        want.iter().filter(|l| l.starts_with("<34>")).count()
    );
    // --limit and --newest.
    let o = ok(cmd(
        dir.path(),
        &[
            "search", "--server", &url, "--format", "json", "--limit", "3", "--newest", &tag,
        ],
    ));
    let newest: Vec<String> = json_hits(&o).iter().map(Hit::raw_text).collect();
    assert_eq!(
        newest,
        want.iter().rev().take(3).cloned().collect::<Vec<_>>()
    );
    // The table format ends with a count on stderr.
    let o = ok(cmd(
        dir.path(),
        &["search", "--server", &url, "--limit", "5", &tag],
    ));
    assert_eq!(o.stdout().lines().count(), 5, "{o:?}");
    assert!(o.stderr.contains("5 results"), "{o:?}");

    // Without --server, a command finds the server that holds the data directory.
    let data = server.data_dir();
    let http = server.http.to_string();
    let o = ok(cmd_env(
        dir.path(),
        &[("PRAMAAN_HTTP_LISTEN", http.as_str())],
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "search",
            "--format",
            "json",
            "--limit",
            "0",
            &tag,
        ],
    ));
    assert_eq!(json_hits(&o).len(), want.len());
}

#[test]
fn ingest_reports_lines_over_the_limit_and_exits_1() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let tag = unique("long");
    let f = dir.path().join("long.log");
    std::fs::write(
        &f,
        format!("{tag} short\n{}\n{tag} after\n", "L".repeat(70_000)),
    )
    .unwrap();
    let o = cmd(
        dir.path(),
        &["ingest", "--server", &server.url(), f.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout().contains("ingested 2 lines"), "{o:?}");
    assert!(
        o.stderr.contains("refused 1 lines") && o.stderr.contains(":2:"),
        "{o:?}"
    );
    assert_eq!(server.search_all_of(&[("q", &tag)]).len(), 2);
}

#[test]
fn direct_mode_ingest_search_sql_and_status_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let tag = unique("direct");
    let lines = sample_lines(&tag, 1200);
    let f = dir.path().join("direct.log.gz");
    write_gz(&f, (lines.join("\n") + "\n").as_bytes());
    let o = ok(cmd_env(
        dir.path(),
        &[("PRAMAAN_SEGMENTS_MAX_ROWS", "500")],
        &[
            "--data-dir",
            d,
            "ingest",
            "--batch-lines",
            "300",
            f.to_str().unwrap(),
        ],
    ));
    assert!(
        o.stdout()
            .contains("ingested 1200 lines (sequence numbers 0-1199)"),
        "{o:?}"
    );
    // Again: sequence numbers continue.
    let more = sample_lines(&format!("{tag} more"), 10);
    let mut c = pramaan(dir.path());
    c.args(["--data-dir", d, "ingest", "-"]);
    let o = run(c, Some(more.join("\n").as_bytes()), T);
    assert!(
        o.success() && o.stdout().contains("(sequence numbers 1200-1209)"),
        "{o:?}"
    );

    let o = ok(cmd(
        dir.path(),
        &[
            "--data-dir",
            d,
            "search",
            "--format",
            "json",
            "--limit",
            "0",
            &tag,
        ],
    ));
    let hits = json_hits(&o);
    let got: Vec<String> = hits.iter().map(Hit::raw_text).collect();
    assert_eq!(got, [lines.clone(), more.clone()].concat());
    assert!(hits.iter().enumerate().all(|(i, h)| h.seq == i as u64));
    assert!(
        hits.iter().all(|h| h.str("transport") == Some("file")),
        "{:?}",
        hits[0].json
    );
    let o = ok(cmd(
        dir.path(),
        &[
            "--data-dir",
            d,
            "search",
            "--format",
            "json",
            "--limit",
            "0",
            "--user",
            "bob",
        ],
    ));
    let bob = [&lines[..], &more[..]]
        .concat()
        .iter()
        .filter(|l| l.contains("\"user\":\"bob\""))
        .count();
    assert_eq!(bob, 302);
    assert_eq!(json_hits(&o).len(), bob, "user=bob from the JSON lines");

    let o = ok(cmd(
        dir.path(),
        &[
            "--data-dir",
            d,
            "sql",
            "--json",
            "SELECT count(*) AS n FROM logs",
        ],
    ));
    assert_eq!(o.stdout().trim(), "{\"n\":1210}", "{o:?}");
    let o = ok(cmd(
        dir.path(),
        &["--data-dir", d, "sql", "SELECT count(*) AS n FROM logs"],
    ));
    assert!(o.stdout().contains("1210"), "{o:?}");
    // Each read on the data directory left its audit record first, as
    // through a server: 1210 lines and the four reads above.
    let o = ok(cmd(dir.path(), &["--data-dir", d, "status"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["committed_records"], 1210 + 4, "{v}");
    assert!(v["server"].as_str().unwrap().contains("not running"), "{v}");
    let o = ok(cmd(
        dir.path(),
        &[
            "--data-dir",
            d,
            "sql",
            "--json",
            "--internal",
            "SELECT count(*) AS n FROM logs WHERE peer = 'pramaan:audit' AND text(raw) LIKE '%(local)%' AND (text(raw) LIKE '%\"search\"%' OR text(raw) LIKE '%\"sql\"%')",
        ],
    ));
    // The four, and this query's own, written before it ran.
    assert_eq!(o.stdout().trim(), "{\"n\":5}", "{o:?}");

    // A server then opens the same directory and sees the same.
    let mut server = Server::start();
    server.kill9();
    std::fs::remove_dir_all(server.data_dir()).ok();
    let copy_from = data.clone();
    copy_dir(&copy_from, &server.data_dir());
    server.start_again();
    assert_eq!(
        server.committed(),
        1210 + 5,
        "the lines and the reads' records"
    );
    let got: Vec<String> = server.all().iter().map(Hit::raw_text).collect();
    assert_eq!(got, [lines, more].concat());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn sql_counts_through_the_server_and_directly() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let lines = sample_lines(&unique("sql"), 321);
    server.ingest_lines(&lines);
    let url = server.url();
    let q = "SELECT count(*) AS n FROM logs";
    let o = ok(cmd(dir.path(), &["sql", "--server", &url, "--json", q]));
    assert_eq!(o.stdout().trim(), "{\"n\":321}", "{o:?}");
    let o = ok(cmd(dir.path(), &["sql", "--server", &url, q]));
    assert!(o.stdout().lines().any(|l| l.trim() == "321"), "{o:?}");
    assert_eq!(server.sql(q), [serde_json::json!({"n": 321})]);
    let rows = server.sql("SELECT transport, count(*) AS n FROM logs GROUP BY transport");
    assert_eq!(rows, [serde_json::json!({"transport": "http", "n": 321})]);
    // A bad query is a 400 with DataFusion's words, and a non-zero exit.
    let o = cmd(
        dir.path(),
        &["sql", "--server", &url, "SELECT nope FROM logs"],
    );
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains("400") && o.stderr.contains("nope"),
        "{o:?}"
    );

    // Directly, once the server has stopped.
    server.stop();
    let d = server.data_dir();
    let o = ok(cmd(
        dir.path(),
        &["--data-dir", d.to_str().unwrap(), "sql", "--json", q],
    ));
    assert_eq!(o.stdout().trim(), "{\"n\":321}", "{o:?}");
    // And after a kill -9, with the lines only in the WAL.
    server.start_again();
    server.ingest_lines(&lines[..21]);
    server.kill9();
    let o = ok(cmd(
        dir.path(),
        &["--data-dir", d.to_str().unwrap(), "sql", "--json", q],
    ));
    assert_eq!(o.stdout().trim(), "{\"n\":342}", "{o:?}");
}

/// A minimal RFC 4180 reader.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[test]
fn search_csv_has_a_header_and_quoted_fields() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let tag = unique("csv");
    let lines = vec![
        format!("{tag} plain"),
        format!("{tag} with, commas"),
        format!("{tag} with \"quotes\", and commas"),
        format!("<13>1 - web-1 app - - - {tag} user=carol from 10.0.0.9"),
    ];
    server.ingest_lines(&lines);
    let o = ok(cmd(
        dir.path(),
        &[
            "search",
            "--server",
            &server.url(),
            "--format",
            "csv",
            "--limit",
            "0",
            &tag,
        ],
    ));
    let text = o.stdout();
    let rows = parse_csv(&text);
    // The same columns as the console's CSV download.
    let header =
        "seq,received_at,received_at_ist,transport,peer,host,app,severity,event_time,ips,users,raw";
    assert_eq!(text.lines().next(), Some(header));
    assert_eq!(rows.len(), 1 + lines.len(), "{text}");
    let cols: Vec<&str> = header.split(',').collect();
    for (row, line) in rows[1..].iter().zip(&lines) {
        assert_eq!(row.len(), cols.len(), "{row:?}");
        let get = |c: &str| row[cols.iter().position(|x| *x == c).unwrap()].as_str();
        assert_eq!(get("raw"), line);
        assert_eq!(get("transport"), "http");
    }
    // Fields with commas or quotes are quoted, quotes doubled.
    assert!(text.contains(&format!("\"{tag} with, commas\"")), "{text}");
    assert!(
        text.contains(&format!("\"{tag} with \"\"quotes\"\", and commas\"")),
        "{text}"
    );
    let last = &rows[4];
    let get = |c: &str| last[cols.iter().position(|x| *x == c).unwrap()].as_str();
    assert_eq!(get("host"), "web-1");
    assert_eq!(get("app"), "app");
    assert_eq!(get("severity"), "notice");
    assert_eq!(get("ips"), "10.0.0.9");
    assert_eq!(get("users"), "carol");
}

#[test]
fn search_with_bad_arguments_exits_non_zero_with_a_clear_message() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let o = cmd(
        dir.path(),
        &["search", "--server", &url, "--from", "yesterday-ish"],
    );
    assert!(!o.success(), "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    assert!(
        o.stderr.contains("from")
            && o.stderr.contains("yesterday-ish")
            && o.stderr.contains("RFC 3339"),
        "{o:?}"
    );
    // The same without a server (direct mode never opens anything for a bad argument).
    let o = cmd(
        dir.path(),
        &["--data-dir", "nowhere", "search", "--from", "2026-02-30"],
    );
    assert!(!o.success() && o.stderr.contains("2026-02-30"), "{o:?}");
    for (flag, val, words) in [
        ("--ip", "10.0.0.300", "not an IPv4 or IPv6 address"),
        ("--severity", "loud", "not a level"),
        ("--seq", "9-3", "sequence number or range"),
        ("--regex", "(unclosed", "regex"),
    ] {
        let o = cmd(dir.path(), &["search", "--server", &url, flag, val]);
        assert!(!o.success(), "{flag} {val}: {o:?}");
        assert!(
            o.stderr.contains(words) && o.stderr.contains(val),
            "{flag} {val}: {o:?}"
        );
    }
    let o = cmd(
        dir.path(),
        &[
            "search",
            "--server",
            &url,
            "--from",
            "2026-03-04",
            "--to",
            "2026-03-03",
        ],
    );
    assert!(
        !o.success() && o.stderr.contains("from must be before to"),
        "{o:?}"
    );
    // The API answers the same mistakes with 400 and the same words.
    let r = server.get("/api/v1/search", &[("from", "yesterday-ish")]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("yesterday-ish"), "{}", r.text());
    let r = server.get("/api/v1/search", &[("colour", "blue")]);
    assert_eq!(
        r.status,
        400,
        "unknown parameters are refused: {}",
        r.text()
    );
    assert!(r.text().contains("colour"), "{}", r.text());
    // A server that is not there: a clear error, not a hang.
    let o = cmd(
        dir.path(),
        &["search", "--server", "http://127.0.0.1:9", "x"],
    );
    assert!(!o.success(), "{o:?}");
    assert!(o.stderr.contains("127.0.0.1:9"), "{o:?}");
}

/// A file with CR LF line ends and lines of only blanks.
const AWKWARD_FILE: &[u8] = b"crlf line one\r\n   \r\nline three\r\n\t\nlast\n";

/// Raw bytes of every record in a data directory, read directly.
fn stored_directly(cwd: &Path, data: &Path) -> Vec<Vec<u8>> {
    let o = ok(cmd(
        cwd,
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "search",
            "--format",
            "json",
            "--limit",
            "0",
        ],
    ));
    json_hits(&o).into_iter().map(|h| h.raw).collect()
}

/// The same file must give the same records whether `pramaan ingest` talks
/// to a server or opens the data directory itself: the evidence cannot
/// depend on whether a server happened to be running.
#[test]
fn ingest_stores_the_same_records_with_or_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("awkward.log");
    std::fs::write(&f, AWKWARD_FILE).unwrap();
    let direct = dir.path().join("direct");
    ok(cmd(
        dir.path(),
        &[
            "--data-dir",
            direct.to_str().unwrap(),
            "ingest",
            f.to_str().unwrap(),
        ],
    ));
    let mut server = Server::start();
    ok(cmd(
        dir.path(),
        &["ingest", "--server", &server.url(), f.to_str().unwrap()],
    ));
    server.stop();
    let via_server = stored_directly(dir.path(), &server.data_dir());
    let direct = stored_directly(dir.path(), &direct);
    let show = |v: &[Vec<u8>]| -> Vec<String> {
        v.iter()
            .map(|r| format!("{:?}", String::from_utf8_lossy(r)))
            .collect()
    };
    assert_eq!(
        show(&via_server),
        show(&direct),
        "through a server vs direct"
    );
}

/// `ingested N lines` is the number of lines stored.
#[test]
fn ingest_reports_the_lines_actually_stored() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("awkward.log");
    std::fs::write(&f, AWKWARD_FILE).unwrap();
    let o = ok(cmd(
        dir.path(),
        &["ingest", "--server", &server.url(), f.to_str().unwrap()],
    ));
    let stored = server.committed();
    assert!(
        o.stdout().contains(&format!(
            "ingested {stored} lines (sequence numbers 0-{})",
            stored - 1
        )),
        "{stored} lines stored; the command said: {o:?}"
    );
}

// ------------------------------------------------------------------ compact

#[test]
fn compact_rewrites_sealed_segments_and_search_and_verify_see_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let tag = unique("compact");
    let lines = sample_lines(&tag, 3000);
    let f = dir.path().join("compact.log");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let env = [
        ("PRAMAAN_SEGMENTS_MAX_ROWS", "1000"),
        ("PRAMAAN_CLOCK_ENABLED", "false"),
        ("PRAMAAN_ALERTS_ENABLED", "false"),
    ];
    ok(cmd_env(
        dir.path(),
        &env,
        &["--data-dir", d, "ingest", "--quiet", f.to_str().unwrap()],
    ));
    let segments = || -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![data.join("objects/segments")];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if e.is_dir() {
                    stack.push(e);
                } else {
                    out.push(e.file_name().unwrap().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    };
    let sealed = segments();
    assert_eq!(sealed.len(), 3, "{sealed:?}");

    // Just sealed: not due yet (segments.compact_after, 10 minutes).
    let o = ok(cmd_env(dir.path(), &env, &["--data-dir", d, "compact"]));
    assert!(o.stdout().contains("No segment to compact"), "{o:?}");
    assert_eq!(segments(), sealed);

    let o = ok(cmd_env(
        dir.path(),
        &env,
        &["--data-dir", d, "compact", "--all"],
    ));
    assert!(
        o.stdout()
            .contains("Compacted 3 segment(s) at zstd level 19"),
        "{o:?}"
    );
    let now = segments();
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.iter().all(|s| s.ends_with(".z19.parquet")), "{now:?}");

    let o = ok(cmd_env(
        dir.path(),
        &env,
        &[
            "--data-dir",
            d,
            "search",
            "--format",
            "json",
            "--limit",
            "0",
            &tag,
        ],
    ));
    let got: Vec<String> = json_hits(&o).iter().map(Hit::raw_text).collect();
    assert_eq!(got, lines);
    let o = ok(cmd_env(
        dir.path(),
        &env,
        &["--data-dir", d, "verify", "--deep"],
    ));
    assert!(o.stdout().contains("OK"), "{o:?}");
    // Left to compact: only the segment holding the search's audit record.
    let o = ok(cmd_env(
        dir.path(),
        &env,
        &["--data-dir", d, "compact", "--all", "--json"],
    ));
    let again: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        again
            .iter()
            .all(|c| !c["old_path"].as_str().unwrap().ends_with(".z19.parquet")),
        "nothing compacted twice: {again:?}"
    );

    // Bad input and a busy data directory are refused, naming why.
    let o = cmd_env(
        dir.path(),
        &env,
        &["--data-dir", d, "compact", "--level", "23"],
    );
    assert!(!o.success() && o.stderr.contains("--level"), "{o:?}");
    let server = Server::start();
    let busy = server.data_dir();
    let o = cmd_env(
        dir.path(),
        &env,
        &["--data-dir", busy.to_str().unwrap(), "compact"],
    );
    assert!(
        !o.success() && o.stderr.contains("running `pramaan serve`"),
        "{o:?}"
    );
}

/// The names of a process's threads (Linux).
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The server runs on jemalloc with background purging (src/alloc.rs and
/// `.cargo/config.toml`): without it, freed memory stays resident and the
/// soak's RSS rises. jemalloc names its purging threads `jemalloc_bg_thd`.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[test]
fn serve_gives_freed_memory_back_from_jemalloc_background_threads() {
    const BG: &str = "jemalloc_bg_thd";
    let server = Server::start();
    let pid = server.pid().expect("a running server");
    wait_until(Duration::from_secs(30), "a jemalloc purging thread", || {
        thread_names(pid).iter().any(|n| n == BG).then_some(())
    });
    // The allocator's own account of the heap is in the status: a heap that
    // holds at least what the program allocated.
    let heap = &server.status()["heap"];
    let (allocated, resident) = (
        heap["allocated"].as_u64().unwrap_or(0),
        heap["resident"].as_u64().unwrap_or(0),
    );
    assert!(
        allocated > 1 << 20 && resident >= allocated,
        "heap statistics: {heap}"
    );
    // The compiled-in settings the soak was measured with (one arena per
    // CPU, pages purged about 1 s after they are freed), as jemalloc itself
    // reports them at exit.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = pramaan(dir.path());
    cmd.arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true");
    let out = run(cmd, None, Duration::from_secs(30));
    assert!(out.success(), "{out:?}");
    for setting in [
        "opt.background_thread: true",
        "opt.percpu_arena: \"percpu\"",
        "opt.dirty_decay_ms: 1000",
        "opt.muzzy_decay_ms: 0",
    ] {
        assert!(
            out.stderr.contains(setting),
            "{setting} not in:\n{}",
            out.stderr
        );
    }
    // jemalloc's own default is no background threads: the check above sees
    // the compiled-in setting, which the environment can still override.
    let off = Server::start_with(&[("_RJEM_MALLOC_CONF", "background_thread:false")]);
    std::thread::sleep(Duration::from_secs(2));
    let names = thread_names(off.pid().expect("a running server"));
    assert!(names.iter().any(|n| n == "pramaan-wal"), "{names:?}");
    assert!(!names.iter().any(|n| n == BG), "{names:?}");
}

#[test]
fn a_reader_that_has_gone_ends_the_output_without_a_panic() {
    // `pramaan config --reference | head -0`: the reader is gone before the
    // first write (its end of the pipe is closed at once).
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::pramaan(dir.path())
        .args(["config", "--reference"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // As a writer killed by SIGPIPE ends in a shell.
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
