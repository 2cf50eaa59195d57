use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::keys::{Check, Kind, KEYS};
use crate::load::{flag_name, load_with_default_file, suggest_key};
use crate::value::{self, Raw};
use crate::*;

/// Loads with no `./pramaan.toml` to find.
fn load_in(
    dir: &Path,
    file: Option<&Path>,
    env: &[(&str, &str)],
    flags: &[(&str, String)],
) -> Result<Loaded, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    load_with_default_file(&dir.join("pramaan.toml"), file, env, flags)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn env_error(var: &str, value: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    match load_in(dir.path(), None, &[(var, value)], &[]) {
        Ok(_) => panic!("{var}={value:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

fn file_error(text: &str) -> (ConfigError, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "pramaan.toml", text);
    match load_in(dir.path(), Some(&path), &[], &[]) {
        Ok(_) => panic!("{text:?} was accepted"),
        Err(e) => (e, path),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn defaults_load_with_no_file_and_no_env() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load_in(dir.path(), None, &[("HOME", "/root")], &[]).unwrap();
    assert_eq!(loaded.config, Config::default());
    assert_eq!(loaded.file, None);
    assert_eq!(loaded.origins.len(), KEYS.len());
    assert!(loaded.origins.values().all(|o| *o == Origin::Default));

    let c = &loaded.config;
    assert_eq!(c.data_dir, PathBuf::from("./pramaan-data"));
    assert_eq!(c.node.organisation, "");
    assert_eq!(c.node.organisation(), "pramaan");
    assert_eq!(c.node.name, "");
    assert_eq!(c.syslog.udp_listen, Some(addr("127.0.0.1:5514")));
    assert_eq!(c.syslog.tcp_listen, Some(addr("127.0.0.1:5514")));
    assert_eq!(c.syslog.tls_listen, Some(addr("127.0.0.1:6514")));
    assert_eq!(c.syslog.tls_cert, None);
    assert_eq!(c.syslog.tls_key, None);
    assert_eq!(c.syslog.tls(), None);
    assert_eq!(c.syslog.max_line, 64 * 1024);
    assert_eq!(c.syslog.max_connections, 1024);
    assert_eq!(c.syslog.idle_timeout, Duration::from_secs(600));
    assert_eq!(c.syslog.max_connections_per_source, 64);
    assert_eq!(c.syslog.first_byte_timeout, Duration::from_secs(10));
    assert_eq!(c.syslog.default_timezone, 19_800);
    assert_eq!(c.http.listen, addr("127.0.0.1:8080"));
    assert_eq!(c.http.max_body, 64 << 20);
    assert_eq!(c.http.max_concurrent_ingests, 4);
    assert_eq!(c.http.ingest_wait, Duration::from_secs(10));
    assert_eq!(c.http.request_timeout, Duration::from_secs(60));
    assert!(c.wal.fsync);
    assert_eq!(c.wal.file_size, 64 << 20);
    assert_eq!(c.wal.max_batch, 4 << 20);
    assert_eq!(c.segments.max_rows, 1_000_000);
    assert_eq!(c.segments.max_bytes, 16 << 20);
    assert_eq!(c.segments.max_age, Duration::from_secs(300));
    assert_eq!(c.segments.row_group_rows, 65_536);
    assert_eq!(c.segments.zstd_level, 1);
    assert!(c.segments.cut_hourly);
    assert_eq!(c.catalog_path(), PathBuf::from("./pramaan-data/catalog.db"));
    assert_eq!(c.objects_dir(), PathBuf::from("./pramaan-data/objects"));
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Text);
    assert!(c.metrics.enabled);
    assert_eq!(c.metrics.max_sources, 1000);
    c.validate().unwrap();
}

#[test]
fn file_then_env_then_flags_with_origins() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "custom.toml",
        r#"
data_dir = "/from/file"
[http]
listen = "0.0.0.0:9000"
max_body = "1MiB"
[wal]
fsync = false
[segments]
zstd_level = 3
"#,
    );
    let env = [
        ("PRAMAAN_DATA_DIR", "/from/env"),
        ("PRAMAAN_HTTP_LISTEN", "127.0.0.1:9001"),
        ("PRAMAAN_SYSLOG_UDP_LISTEN", "off"),
        ("PRAMAAN_SEGMENTS_MAX_AGE", "90s"),
        ("PATH", "/usr/bin"),
    ];
    let flags = [("data_dir", "/from/flag".to_string())];
    let loaded = load_in(dir.path(), Some(&path), &env, &flags).unwrap();
    let c = &loaded.config;
    assert_eq!(loaded.file.as_deref(), Some(path.as_path()));

    // flag > env > file
    assert_eq!(c.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(
        loaded.origin("data_dir"),
        Some(&Origin::Flag("--data-dir".into()))
    );
    // env > file
    assert_eq!(c.http.listen, addr("127.0.0.1:9001"));
    assert_eq!(
        loaded.origin("http.listen"),
        Some(&Origin::Env("PRAMAAN_HTTP_LISTEN".into()))
    );
    // file > default
    assert_eq!(c.http.max_body, 1 << 20);
    assert_eq!(
        loaded.origin("http.max_body"),
        Some(&Origin::File(path.clone()))
    );
    assert!(!c.wal.fsync);
    assert_eq!(
        loaded.origin("wal.fsync"),
        Some(&Origin::File(path.clone()))
    );
    assert_eq!(c.segments.zstd_level, 3);
    // env > default
    assert_eq!(c.syslog.udp_listen, None);
    assert_eq!(c.segments.max_age, Duration::from_secs(90));
    assert_eq!(
        loaded.origin("segments.max_age"),
        Some(&Origin::Env("PRAMAAN_SEGMENTS_MAX_AGE".into()))
    );
    // untouched
    assert_eq!(c.syslog.tcp_listen, Some(addr("127.0.0.1:5514")));
    assert_eq!(loaded.origin("syslog.tcp_listen"), Some(&Origin::Default));
    assert_eq!(loaded.origin("no.such.key"), None);
}

#[test]
fn finds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // ./pramaan.toml is read when it exists.
    let default_file = write(dir.path(), "pramaan.toml", "data_dir = \"/d\"\n");
    let loaded = load_in(dir.path(), None, &[], &[]).unwrap();
    assert_eq!(loaded.config.data_dir, PathBuf::from("/d"));
    assert_eq!(loaded.file.as_deref(), Some(default_file.as_path()));

    // $PRAMAAN_CONFIG wins over it, and must exist.
    let other = write(dir.path(), "other.toml", "data_dir = \"/o\"\n");
    let other_text = other.to_str().unwrap();
    let loaded = load_in(dir.path(), None, &[("PRAMAAN_CONFIG", other_text)], &[]).unwrap();
    assert_eq!(loaded.config.data_dir, PathBuf::from("/o"));
    assert_eq!(
        loaded.origin("data_dir"),
        Some(&Origin::File(other.clone()))
    );
    let missing = dir.path().join("missing.toml");
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_CONFIG", missing.to_str().unwrap())],
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");

    // An explicit path wins over both, and must exist.
    let explicit = write(dir.path(), "explicit.toml", "");
    let loaded = load_in(
        dir.path(),
        Some(&explicit),
        &[("PRAMAAN_CONFIG", other_text)],
        &[],
    )
    .unwrap();
    assert_eq!(loaded.config, Config::default());
    let err = load_in(dir.path(), Some(&missing), &[], &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot read configuration file "),
        "{text}"
    );
    assert!(text.contains("missing.toml"), "{text}");
}

#[test]
fn unknown_key_in_file_suggests_the_nearest() {
    let (err, path) = file_error("[http]\nlisen = \"127.0.0.1:1\"\n");
    match &err {
        ConfigError::UnknownKey {
            key,
            origin,
            suggestion,
        } => {
            assert_eq!(key, "http.lisen");
            assert_eq!(*origin, Origin::File(path.clone()));
            assert_eq!(suggestion.as_deref(), Some("http.listen"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "unknown key http.lisen (from {}); did you mean http.listen?",
            path.display()
        )
    );

    // Dotted keys are the same thing.
    let (err, _) = file_error("http.lisen = \"127.0.0.1:1\"\n");
    assert!(
        err.to_string().contains("did you mean http.listen?"),
        "{err}"
    );
    // A key outside its section.
    // (`listen` alone is now both http.listen and radius.listen.)
    let (err, _) = file_error("tcp_listen = \"127.0.0.1:1\"\n");
    assert!(err.to_string().contains("unknown key tcp_listen"), "{err}");
    assert!(
        err.to_string().contains("did you mean syslog.tcp_listen?"),
        "{err}"
    );
    // A misspelt section.
    let (err, _) = file_error("[htp]\nlisten = \"127.0.0.1:1\"\n");
    assert!(err.to_string().contains("unknown key htp"), "{err}");
    assert!(err.to_string().contains("did you mean http?"), "{err}");
    // Nothing near.
    let (err, _) = file_error("[http]\nbanana_split = 1\n");
    assert_eq!(
        err.to_string().split(" (from").next(),
        Some("unknown key http.banana_split")
    );
    assert!(!err.to_string().contains("did you mean"), "{err}");
    // A section given as a value.
    let (err, _) = file_error("http = \"127.0.0.1:1\"\n");
    assert!(
        err.to_string().contains("expected a table: [http]"),
        "{err}"
    );

    assert_eq!(suggest_key("syslog.max_lines"), Some("syslog.max_line"));
    assert_eq!(suggest_key("data-dir"), Some("data_dir"));
    assert_eq!(suggest_key("zstd_level"), Some("segments.zstd_level"));
}

#[test]
fn unknown_flag_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_in(dir.path(), None, &[], &[("data_dirs", "/x".into())]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown key data_dirs (from --data-dirs); did you mean data_dir?"
    );
    assert_eq!(flag_name("http.max_body"), "--http-max-body");
}

#[test]
fn unknown_pramaan_variable_is_an_error() {
    let text = env_error("PRAMAAN_HTTP_LISTN", "127.0.0.1:1");
    assert_eq!(
        text,
        "unknown environment variable $PRAMAAN_HTTP_LISTN: no configuration key is named so; did you mean $PRAMAAN_HTTP_LISTEN?"
    );
    let text = env_error("PRAMAAN_FROBNICATE", "1");
    assert!(text.contains("$PRAMAAN_FROBNICATE"), "{text}");
    assert!(!text.contains("did you mean"), "{text}");
    // A section is not a key.
    let text = env_error("PRAMAAN_HTTP", "x");
    assert!(text.contains("$PRAMAAN_HTTP:"), "{text}");

    // Variables that are not configuration are let through.
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("PRAMAAN_LOG", "debug"),
        ("PRAMAAN_CONFIG", ""),
        ("PRAMAAN_TEST_SLOW", "1"),
        ("PRAMAAN_BENCH_LINES", "1000"),
        ("PRAMAANX", "1"),
        ("RUST_LOG", "trace"),
    ];
    let loaded = load_in(dir.path(), None, &env, &[]).unwrap();
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn bad_values_name_key_value_origin_and_what_is_allowed() {
    assert_eq!(
        env_error("PRAMAAN_HTTP_LISTEN", "localhost:99999"),
        "http.listen = \"localhost:99999\" (from $PRAMAAN_HTTP_LISTEN): expected a socket address like 127.0.0.1:8080 or [::1]:8080"
    );
    // (variable, value, what the message must say is allowed)
    let cases = [
        (
            "PRAMAAN_HTTP_LISTEN",
            "example.com:80",
            "expected a socket address",
        ),
        ("PRAMAAN_HTTP_LISTEN", "", "expected a socket address"),
        ("PRAMAAN_SYSLOG_TCP_LISTEN", "127.0.0.1", "or \"off\""),
        (
            "PRAMAAN_SYSLOG_MAX_LINE",
            "64MB",
            "expected a size from 256B to 16MiB",
        ),
        (
            "PRAMAAN_SYSLOG_MAX_LINE",
            "100",
            "expected a size from 256B to 16MiB",
        ),
        (
            "PRAMAAN_SYSLOG_MAX_LINE",
            "17MiB",
            "expected a size from 256B to 16MiB",
        ),
        (
            "PRAMAAN_SEGMENTS_MAX_BYTES",
            "512KiB",
            "expected a size from 1MiB to 64GiB",
        ),
        ("PRAMAAN_HTTP_MAX_BODY", "-1", "expected a size"),
        (
            "PRAMAAN_SYSLOG_IDLE_TIMEOUT",
            "10 minutes",
            "expected a duration from 0s to 7d",
        ),
        (
            "PRAMAAN_SYSLOG_IDLE_TIMEOUT",
            "8d",
            "expected a duration from 0s to 7d",
        ),
        (
            "PRAMAAN_SEGMENTS_MAX_AGE",
            "0",
            "expected a duration from 1s to 1d",
        ),
        (
            "PRAMAAN_HTTP_REQUEST_TIMEOUT",
            "1.5s",
            "expected a duration",
        ),
        (
            "PRAMAAN_SYSLOG_DEFAULT_TIMEZONE",
            "+25:00",
            "expected a UTC offset",
        ),
        (
            "PRAMAAN_SYSLOG_DEFAULT_TIMEZONE",
            "Asia/Kolkata",
            "expected a UTC offset",
        ),
        (
            "PRAMAAN_SYSLOG_DEFAULT_TIMEZONE",
            "+05:60",
            "expected a UTC offset",
        ),
        (
            "PRAMAAN_SEGMENTS_ZSTD_LEVEL",
            "23",
            "expected a whole number from 1 to 22",
        ),
        (
            "PRAMAAN_SEGMENTS_ZSTD_LEVEL",
            "0",
            "expected a whole number from 1 to 22",
        ),
        (
            "PRAMAAN_SEGMENTS_ZSTD_LEVEL",
            "nine",
            "expected a whole number from 1 to 22",
        ),
        (
            "PRAMAAN_SYSLOG_MAX_CONNECTIONS",
            "0",
            "expected a whole number from 1 to",
        ),
        ("PRAMAAN_WAL_FSYNC", "maybe", "expected true or false"),
        ("PRAMAAN_LOG_LEVEL", "verbose", "expected a tracing filter"),
        (
            "PRAMAAN_LOG_LEVEL",
            "pramaan=loud",
            "expected a tracing filter",
        ),
        ("PRAMAAN_LOG_FORMAT", "xml", "expected \"text\" or \"json\""),
        ("PRAMAAN_DATA_DIR", "", "expected a path"),
        ("PRAMAAN_NODE_NAME", "a\nb", "without control characters"),
        (
            "PRAMAAN_CATALOG_URL",
            "mysql://db/pramaan",
            "neither sqlite nor postgres",
        ),
        (
            "PRAMAAN_CATALOG_SCHEMA",
            "pramaan-catalog",
            "a PostgreSQL schema name",
        ),
        (
            "PRAMAAN_CATALOG_SCHEMA",
            "1catalog",
            "not starting with a digit",
        ),
        ("PRAMAAN_CATALOG_URL", "sqlite::memory:", "in-memory"),
        ("PRAMAAN_STORAGE_URL", "s3://Bucket", "lower-case letters"),
        ("PRAMAAN_STORAGE_URL", "s3://ab", "3 to 63"),
        (
            "PRAMAAN_STORAGE_URL",
            "s3://bucket:9000/p",
            "credentials and ports do not go in storage.url",
        ),
        (
            "PRAMAAN_STORAGE_URL",
            "s3://bucket/a/../b",
            "plain path segments",
        ),
        (
            "PRAMAAN_STORAGE_URL",
            "s3://bucket/a//b",
            "plain path segments",
        ),
        (
            "PRAMAAN_STORAGE_URL",
            "file://relative/dir",
            "absolute path",
        ),
        (
            "PRAMAAN_STORAGE_URL",
            "/var/lib/objects",
            "file:///absolute/path",
        ),
    ];
    for (var, value, allowed) in cases {
        let text = env_error(var, value);
        let key = KEYS.iter().find(|d| d.env_var() == var).unwrap().key;
        let shown = value::toml_string(value);
        assert!(
            text.starts_with(&format!("{key} = {shown} (from ${var}): ")),
            "{var}={value:?}: {text}"
        );
        assert!(text.contains(allowed), "{var}={value:?}: {text}");
        assert!(!text.contains('\n'), "{var}={value:?}: {text}");
    }

    // From the file: the TOML value as written, and the file as origin.
    let (err, path) = file_error("[http]\nlisten = 8080\n");
    assert_eq!(
        err.to_string(),
        format!(
            "http.listen = 8080 (from {}): expected a socket address like 127.0.0.1:8080 or [::1]:8080",
            path.display()
        )
    );
    let (err, _) = file_error("[segments]\nzstd_level = 40\n");
    assert!(
        err.to_string()
            .starts_with("segments.zstd_level = 40 (from "),
        "{err}"
    );
    let (err, _) = file_error("[syslog]\nmax_line = [1, 2]\n");
    assert!(
        err.to_string()
            .starts_with("syslog.max_line = [1, 2] (from "),
        "{err}"
    );
    let (err, _) = file_error("[wal]\nfsync = \"sometimes\"\n");
    assert!(
        err.to_string()
            .starts_with("wal.fsync = \"sometimes\" (from "),
        "{err}"
    );

    // From a flag.
    let dir = tempfile::tempdir().unwrap();
    let err = load_in(dir.path(), None, &[], &[("http.max_body", "lots".into())]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("http.max_body = \"lots\" (from --http-max-body): expected a size"),
        "{err}"
    );
}

#[test]
fn values_in_their_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pramaan.toml",
        r#"
[syslog]
udp_listen = ""
tcp_listen = "[::]:1514"
tls_listen = "localhost:6515"
tls_cert = "/etc/pramaan/cert.pem"
tls_key = "/etc/pramaan/key.pem"
max_line = 1024
idle_timeout = 0
default_timezone = "UTC"
[http]
request_timeout = 5
[catalog]
url = "sqlite:///var/lib/pramaan/catalog.db"
[storage]
url = "file:///srv/objects"
[log]
level = "warn,pramaan_ingest=debug"
format = "JSON"
"#,
    );
    let env = [
        ("PRAMAAN_SEGMENTS_MAX_ROWS", "2_000_000"),
        ("PRAMAAN_SEGMENTS_CUT_HOURLY", "no"),
        ("PRAMAAN_METRICS_ENABLED", "0"),
        ("PRAMAAN_WAL_FILE_SIZE", "1 GiB"),
        ("PRAMAAN_SEGMENTS_MAX_AGE", "1h30m"),
    ];
    let c = load_in(dir.path(), Some(&path), &env, &[]).unwrap().config;
    assert_eq!(c.syslog.udp_listen, None);
    assert_eq!(c.syslog.tcp_listen, Some(addr("[::]:1514")));
    assert_eq!(c.syslog.tls_listen, Some(addr("127.0.0.1:6515")));
    let tls = c.syslog.tls().unwrap();
    assert_eq!(tls.listen, addr("127.0.0.1:6515"));
    assert_eq!(tls.cert, Path::new("/etc/pramaan/cert.pem"));
    assert_eq!(tls.key, Path::new("/etc/pramaan/key.pem"));
    assert_eq!(c.syslog.max_line, 1024);
    assert_eq!(c.syslog.idle_timeout, Duration::ZERO);
    assert_eq!(c.syslog.default_timezone, 0);
    assert_eq!(c.http.request_timeout, Duration::from_secs(5));
    assert_eq!(
        c.catalog_path(),
        PathBuf::from("/var/lib/pramaan/catalog.db")
    );
    assert_eq!(c.objects_dir(), PathBuf::from("/srv/objects"));
    assert_eq!(c.log.level, "warn,pramaan_ingest=debug");
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.segments.max_rows, 2_000_000);
    assert!(!c.segments.cut_hourly);
    assert!(!c.metrics.enabled);
    assert_eq!(c.wal.file_size, 1 << 30);
    assert_eq!(c.segments.max_age, Duration::from_secs(5400));
}

#[test]
fn syntax_error_gives_line_and_column() {
    let (err, path) = file_error("[http]\nlisten = \"127.0.0.1:8080\"\nmax_body = = 3\n");
    match &err {
        ConfigError::Syntax { line, column, .. } => {
            assert_eq!(*line, 3);
            assert!(*column >= 10, "{err}");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:3:", path.display())),
        "{text}"
    );
    assert!(text.contains("invalid TOML: "), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn object_lock_needs_a_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = [
        ("PRAMAAN_STORAGE_URL", "s3://evidence/p"),
        ("PRAMAAN_STORAGE_ENDPOINT", "https://s3.example.in"),
        ("PRAMAAN_STORAGE_OBJECT_LOCK", "compliance"),
    ];
    let c = load_in(dir.path(), None, &bucket, &[]).unwrap().config;
    assert!(c.storage.object_lock());
    assert!(!Config::default().storage.object_lock(), "off by default");
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_STORAGE_OBJECT_LOCK", "compliance")],
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("needs a bucket"), "{err}");
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_STORAGE_OBJECT_LOCK", "governance")],
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("\"off\" or \"compliance\""),
        "{err}"
    );
}

#[test]
fn s3_storage_is_read_and_its_keys_checked_together() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_in(
        dir.path(),
        None,
        &[
            ("PRAMAAN_STORAGE_URL", "s3://evidence.in-1/pramaan/node-a/"),
            ("PRAMAAN_STORAGE_ENDPOINT", "https://s3.example.in"),
        ],
        &[],
    )
    .unwrap()
    .config;
    assert_eq!(
        c.storage.url,
        Some(StorageTarget::S3 {
            bucket: "evidence.in-1".into(),
            prefix: "pramaan/node-a".into()
        })
    );
    assert!(c.storage.path_style, "path style by default");
    assert_eq!(c.storage.credentials_profile, "default");
    // Nothing is kept in the local objects directory then.
    assert_eq!(c.objects_dir(), c.data_dir.join("objects"));

    // AWS itself (no endpoint) needs the region.
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_STORAGE_URL", "s3://evidence")],
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("storage.region is empty"), "{err}");
    // Plain http only when allowed, and the endpoint's password is never shown.
    let http = [
        ("PRAMAAN_STORAGE_URL", "s3://evidence"),
        (
            "PRAMAAN_STORAGE_ENDPOINT",
            "http://u:hunter2@127.0.0.1:3900",
        ),
    ];
    let err = load_in(dir.path(), None, &http, &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("is plain http"), "{text}");
    assert!(text.contains("storage.allow_http = true"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let mut allowed = http.to_vec();
    allowed.push(("PRAMAAN_STORAGE_ALLOW_HTTP", "true"));
    assert!(load_in(dir.path(), None, &allowed, &[]).is_ok());
    let err = load_in(
        dir.path(),
        None,
        &[
            ("PRAMAAN_STORAGE_URL", "s3://evidence"),
            ("PRAMAAN_STORAGE_ENDPOINT", "s3.example.in"),
        ],
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("not an http(s):// URL"), "{err}");
    // A local directory ignores the S3 keys.
    let c = load_in(
        dir.path(),
        None,
        &[
            ("PRAMAAN_STORAGE_URL", "file:///srv/objects"),
            ("PRAMAAN_STORAGE_ENDPOINT", "http://127.0.0.1:3900"),
        ],
        &[],
    )
    .unwrap()
    .config;
    assert_eq!(c.objects_dir(), PathBuf::from("/srv/objects"));
}

#[test]
fn relp_and_files_keys_are_checked_together() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_in(dir.path(), None, &[("PRAMAAN_RELP_LISTEN", "on")], &[])
        .unwrap()
        .config;
    assert_eq!(c.relp.listen, Some("127.0.0.1:2514".parse().unwrap()));
    let err = load_in(dir.path(), None, &[("PRAMAAN_RELP_TLS_KEY", "/k.pem")], &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("relp.tls_cert and relp.tls_key must be set together"),
        "{err}"
    );
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_RELP_LISTEN", "127.0.0.1:5514")],
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("relp.listen (127.0.0.1:5514)"),
        "{err}"
    );
    let c = load_in(
        dir.path(),
        None,
        &[(
            "PRAMAAN_FILES_PATHS",
            "/var/log/a.log, /var/log/b.log /var/log/a.log",
        )],
        &[],
    )
    .unwrap()
    .config;
    assert_eq!(
        c.files.list(),
        [
            PathBuf::from("/var/log/a.log"),
            PathBuf::from("/var/log/b.log")
        ]
    );
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_FILES_PATHS", "/ok.log,rel.log")],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string().split(" (").next(),
        Some("files.paths: `rel.log` is not an absolute path")
    );
}

#[test]
fn cross_field_problems() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_SYSLOG_TLS_CERT", "/c.pem")],
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }));
    assert_eq!(
        err.to_string(),
        "syslog.tls_cert is set (/c.pem) but syslog.tls_key is not: the TLS listener needs both, or neither \
         (syslog.tls_cert from $PRAMAAN_SYSLOG_TLS_CERT, syslog.tls_key from default)"
    );
    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_SYSLOG_TLS_KEY", "/k.pem")],
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("syslog.tls_key is set (/k.pem) but syslog.tls_cert is not"),
        "{err}"
    );

    // TCP and TLS on one address, once TLS is on.
    let tls = [
        ("PRAMAAN_SYSLOG_TLS_CERT", "/c.pem"),
        ("PRAMAAN_SYSLOG_TLS_KEY", "/k.pem"),
        ("PRAMAAN_SYSLOG_TLS_LISTEN", "0.0.0.0:5514"),
    ];
    let err = load_in(dir.path(), None, &tls, &[]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "syslog.tcp_listen (127.0.0.1:5514) and syslog.tls_listen (0.0.0.0:5514) are the same TCP address"
        ),
        "{err}"
    );
    // Without the certificate the TLS listener does not start: no clash.
    load_in(dir.path(), None, &tls[2..], &[]).unwrap();

    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_HTTP_LISTEN", "127.0.0.1:5514")],
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("syslog.tcp_listen (127.0.0.1:5514) and http.listen (127.0.0.1:5514)"),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("(syslog.tcp_listen from default, http.listen from $PRAMAAN_HTTP_LISTEN)"),
        "{err}"
    );

    // Port 0 (any free port) never clashes; UDP and TCP may share; other
    // addresses on the same port do not clash.
    let ok = [
        ("PRAMAAN_HTTP_LISTEN", "127.0.0.1:0"),
        ("PRAMAAN_SYSLOG_TCP_LISTEN", "127.0.0.1:0"),
        ("PRAMAAN_SYSLOG_UDP_LISTEN", "127.0.0.1:0"),
    ];
    load_in(dir.path(), None, &ok, &[]).unwrap();
    load_in(
        dir.path(),
        None,
        &[("PRAMAAN_HTTP_LISTEN", "127.0.0.2:5514")],
        &[],
    )
    .unwrap();

    let err = load_in(
        dir.path(),
        None,
        &[("PRAMAAN_WAL_MAX_BATCH", "128MiB")],
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("wal.max_batch (128MiB) is larger than wal.file_size (64MiB)"),
        "{err}"
    );

    // validate() on a Config changed in code.
    let mut config = Config::default();
    config.validate().unwrap();
    config.syslog.tls_key = Some("/k.pem".into());
    let err = config.validate().unwrap_err();
    assert!(
        err.to_string().starts_with("syslog.tls_key is set"),
        "{err}"
    );
}

#[test]
fn render_is_toml_that_loads_back_to_the_same_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pramaan.toml",
        "[node]\norganisation = \"Acme \\\"Ltd\\\"\"\n[syslog]\nmax_line = 1000\n[catalog]\nurl = \"sqlite:rel/cat.db\"\n",
    );
    let env = [
        ("PRAMAAN_HTTP_LISTEN", "[::1]:9999"),
        ("PRAMAAN_SYSLOG_DEFAULT_TIMEZONE", "-03:30"),
        ("PRAMAAN_SYSLOG_UDP_LISTEN", ""),
        ("PRAMAAN_SEGMENTS_MAX_AGE", "1500ms"),
        ("PRAMAAN_STORAGE_URL", "file:///srv/o"),
        ("PRAMAAN_SYSLOG_TLS_CERT", "/c.pem"),
        ("PRAMAAN_SYSLOG_TLS_KEY", "/k.pem"),
        ("PRAMAAN_LOG_FORMAT", "json"),
    ];
    let flags = [("data_dir", "/srv/pramaan".to_string())];
    let loaded = load_in(dir.path(), Some(&path), &env, &flags).unwrap();
    let text = loaded.render();

    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["data_dir"].as_str(), Some("/srv/pramaan"));
    assert_eq!(table["syslog"]["max_line"].as_str(), Some("1000B"));
    assert_eq!(table["syslog"]["udp_listen"].as_str(), Some("off"));

    for line in text.lines().filter(|l| l.contains(" = ")) {
        assert!(line.contains("  # from "), "{line}");
    }
    let line = |leaf: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{leaf} = ")))
            .unwrap()
            .to_string()
    };
    assert!(line("data_dir").ends_with("# from --data-dir"), "{text}");
    assert!(
        line("listen").ends_with("# from $PRAMAAN_HTTP_LISTEN"),
        "{text}"
    );
    assert!(
        line("max_line").ends_with(&format!("# from {}", path.display())),
        "{text}"
    );
    assert!(line("max_rows").ends_with("# from default"), "{text}");
    assert!(text.contains(&format!("# Configuration file: {}\n", path.display())));

    let rendered = write(dir.path(), "rendered.toml", &text);
    let again = load_in(dir.path(), Some(&rendered), &[], &[]).unwrap();
    assert_eq!(again.config, loaded.config);
    assert!(again
        .origins
        .values()
        .all(|o| *o == Origin::File(rendered.clone())));

    // Defaults too.
    let empty = tempfile::tempdir().unwrap();
    let defaults = load_in(empty.path(), None, &[], &[]).unwrap();
    let text = defaults.render();
    assert!(text.contains("# Configuration file: none\n"));
    let rendered = write(dir.path(), "defaults.toml", &text);
    let again = load_in(dir.path(), Some(&rendered), &[], &[]).unwrap();
    assert_eq!(again.config, Config::default());
}

/// The committed file must equal `generated`; with `PRAMAAN_TEST_BLESS=1`
/// it is rewritten instead.
fn check_generated(relative: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    if std::env::var_os("PRAMAAN_TEST_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is out of date with crates/config/src/keys.rs; \
         regenerate it with: PRAMAAN_TEST_BLESS=1 cargo test -p pramaan-config"
    );
}

#[test]
fn docs_configuration_md_is_the_reference() {
    check_generated("docs/configuration.md", &reference());
}

#[test]
fn example_file_is_generated_and_loads_to_the_defaults() {
    let text = example();
    check_generated("pramaan.example.toml", &text);

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "example.toml", &text);
    let loaded = load_in(dir.path(), Some(&path), &[], &[]).unwrap();
    assert_eq!(loaded.config, Config::default());

    // Every key is there, commented out; uncommented, it is the default.
    let mut uncommented = String::new();
    let mut seen = 0;
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[') {
            section = format!("{}.", name.trim_end_matches(']'));
        }
        match line.strip_prefix("# ").and_then(|l| l.split_once(" = ")) {
            Some((leaf, _)) if KEYS.iter().any(|d| d.key == format!("{section}{leaf}")) => {
                seen += 1;
                uncommented.push_str(&line[2..]);
            }
            _ => uncommented.push_str(line),
        }
        uncommented.push('\n');
    }
    assert_eq!(seen, KEYS.len());
    let path = write(dir.path(), "uncommented.toml", &uncommented);
    let loaded = load_in(dir.path(), Some(&path), &[], &[]).unwrap();
    assert_eq!(loaded.config, Config::default());
    assert!(loaded
        .origins
        .values()
        .all(|o| matches!(o, Origin::File(_))));
    assert!(text.contains("WARNING"), "wal.fsync must warn");
}

#[test]
fn reference_documents_every_key() {
    let text = reference();
    for doc in keys() {
        assert!(text.contains(&format!("### `{}`", doc.key)), "{}", doc.key);
        assert!(text.contains(&format!("`{}`", doc.env)), "{}", doc.env);
        assert!(!doc.help.is_empty());
    }
    assert!(text.contains("- Default: `\"64KiB\"`"));
    assert!(text.contains("&lt;data_dir&gt;/catalog.db"));
}

#[test]
fn key_table_is_consistent() {
    let mut names: Vec<&str> = KEYS.iter().map(|d| d.key).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), KEYS.len(), "duplicate key");
    let mut vars: Vec<String> = KEYS.iter().map(|d| d.env_var()).collect();
    vars.sort_unstable();
    vars.dedup();
    assert_eq!(
        vars.len(),
        KEYS.len(),
        "two keys share an environment variable"
    );
    for def in KEYS {
        assert!(
            def.key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
            "{}",
            def.key
        );
        assert!(def.key.matches('.').count() <= 1, "{}", def.key);
        let var = def.env_var();
        assert!(var != ENV_CONFIG_FILE && var != ENV_LOG_FILTER, "{var}");
        assert!(!var.starts_with("PRAMAAN_TEST_") && !var.starts_with("PRAMAAN_BENCH_"));
        assert!(def.help.ends_with('.'), "{}", def.key);
    }
    // Section-less keys come first, so that render() is valid TOML.
    let first_sectioned = KEYS.iter().position(|d| d.section().is_some()).unwrap();
    assert!(KEYS[first_sectioned..]
        .iter()
        .all(|d| d.section().is_some()));
    assert_eq!(env_var_for("http.listen"), "PRAMAAN_HTTP_LISTEN");
    assert_eq!(env_var_for("data_dir"), "PRAMAAN_DATA_DIR");
}

/// Every field of `Config` has exactly one key, and each key reads and writes
/// its own field.
#[test]
fn every_field_has_its_own_key() {
    // Exhaustive: a new field fails to compile here until it is counted.
    let Config {
        data_dir: _,
        node: Node {
            organisation: _,
            name: _,
        },
        syslog:
            Syslog {
                udp_listen: _,
                tcp_listen: _,
                tls_listen: _,
                tls_cert: _,
                tls_key: _,
                max_line: _,
                max_connections: _,
                idle_timeout: _,
                max_connections_per_source: _,
                first_byte_timeout: _,
                default_timezone: _,
                allow: _,
                tls_client_ca: _,
            },
        http:
            Http {
                listen: _,
                max_body: _,
                max_concurrent_ingests: _,
                ingest_wait: _,
                request_timeout: _,
                tls_cert: _,
                tls_key: _,
            },
        wal:
            Wal {
                fsync: _,
                file_size: _,
                max_batch: _,
            },
        segments:
            Segments {
                max_rows: _,
                max_bytes: _,
                max_age: _,
                row_group_rows: _,
                zstd_level: _,
                compact_level: _,
                compact_after: _,
                cut_hourly: _,
                search_nice: _,
            },
        sql:
            crate::Sql {
                timeout: _,
                memory_limit: _,
                max_result_rows: _,
                max_result_bytes: _,
                max_concurrent_per_user: _,
            },
        retention:
            Retention {
                days: _,
                classes: _,
                allow_non_compliant: _,
                interval: _,
            },
        catalog: Catalog { url: _, schema: _ },
        storage:
            Storage {
                url: _,
                endpoint: _,
                region: _,
                location: _,
                path_style: _,
                allow_http: _,
                credentials_file: _,
                credentials_profile: _,
                cache_size: _,
                object_lock: _,
            },
        log: Log {
            level: _,
            format: _,
        },
        metrics:
            Metrics {
                enabled: _,
                public: _,
                max_sources: _,
            },
        auth:
            Auth {
                max_failures: _,
                lockout: _,
                login_rate: _,
                session_ttl: _,
                audit_reads: _,
            },
        ledger:
            Ledger {
                key_file: _,
                checkpoint_interval: _,
                history_interval: _,
            },
        clock:
            Clock {
                enabled: _,
                servers: _,
                interval: _,
                timeout: _,
                threshold: _,
                skew_interval: _,
                skew_window: _,
                source_zones: _,
            },
        desk:
            Desk {
                report_to: _,
                mail_from: _,
                poc_review_days: _,
                template_text: _,
                template_html: _,
                smtp_host: _,
                smtp_port: _,
                smtp_security: _,
                smtp_user: _,
                smtp_password_file: _,
                smtp_password_env: _,
                smtp_timeout: _,
                reminders: _,
                remind_overdue: _,
                reminder_to: _,
                webhook_url: _,
                webhook_tries: _,
                reminder_interval: _,
            },
        attribution:
            crate::Attribution {
                max_session: _,
                sources: _,
                import_max_body: _,
            },
        registry:
            crate::Registry {
                url: _,
                retention_years: _,
                allow_non_compliant: _,
                master_key_file: _,
                master_key_env: _,
                erase_interval: _,
            },
        radius:
            crate::Radius {
                listen: _,
                secret_file: _,
                secret_env: _,
                clients: _,
                max_pending: _,
                max_clock_skew: _,
            },
        relp:
            crate::Relp {
                listen: _,
                tls_cert: _,
                tls_key: _,
            },
        files:
            crate::Files {
                paths: _,
                partial_wait: _,
                poll_interval: _,
            },
        wireguard: crate::Wireguard {
            interval: _,
            command: _,
        },
        console: crate::Console { heatmap_rows: _ },
        detect:
            crate::Detect {
                rules_dir: _,
                interval: _,
                incident_window: _,
                excerpt_lines: _,
                max_groups: _,
            },
        alerts:
            crate::Alerts {
                enabled: _,
                interval: _,
                silence_after: _,
                silence_per_source: _,
                source_lookback: _,
                repeat_interval: _,
                alertmanager_url: _,
                email: _,
                disk_free_min: _,
            },
    } = Config::default();
    const FIELDS: usize =
        1 + 2 + 9 + 3 + 3 + 6 + 2 /* segments.compact_* */ + 1 /* segments.search_nice */ + 5 /* sql */ + 4 + 1 + 1 + 2 + 1 + 3 + 8 /* clock */ + 18 /* desk */
        + 2 /* syslog.allow, syslog.tls_client_ca */ + 2 /* http.tls_* */ + 1 /* metrics.public */
        + 2 /* syslog per source, first byte */ + 2 /* http ingest turns */ + 1 /* metrics.max_sources */
        + 5 /* auth */ + 3 /* attribution */ + 6 /* registry */ + 6 /* radius */ + 1 /* console */
        + 1 /* catalog.schema */ + 6 /* storage: S3 */ + 1 /* storage.cache_size */ + 1 /* storage.location */ + 1 /* storage.object_lock */ + 5 /* detect */ + 9 /* alerts */ + 3 /* relp */ + 3 /* files */ + 2 /* wireguard */;
    assert_eq!(KEYS.len(), FIELDS);

    let defaults = Config::default();
    for def in KEYS {
        // Each default reads back as itself.
        let mut c = Config::default();
        let rendered: toml::Value = def.kind.render(&defaults).parse().unwrap();
        def.kind.apply(&mut c, &Raw::from_toml(&rendered)).unwrap();
        assert_eq!(c, defaults, "{}", def.key);

        // Changing the key changes its field and no other key's.
        let other = |default: u64, min: u64, max: u64| if default == max { min } else { max };
        let raw = match &def.kind {
            Kind::Path { .. } => Raw::Str("/other".into()),
            Kind::Text {
                check: Check::Plain | Check::Identifier,
                ..
            } => Raw::Str("other".into()),
            Kind::Text {
                check: Check::Filter,
                ..
            } => Raw::Str("trace".into()),
            Kind::Text {
                check: Check::Location,
                ..
            } => Raw::Str("ap-south-2".into()),
            Kind::Text {
                check: Check::ObjectLock,
                ..
            } => Raw::Str("compliance".into()),
            Kind::PemFile { .. } => Raw::Str("/other.pem".into()),
            Kind::Listen { .. } => Raw::Str("127.0.0.9:9".into()),
            Kind::Addr { .. } => Raw::Str("127.0.0.9:9".into()),
            Kind::Bool { default, .. } => Raw::Bool(!default),
            Kind::Int {
                default, min, max, ..
            }
            | Kind::Size {
                default, min, max, ..
            } => Raw::Int(other(*default, *min, *max) as i64),
            Kind::Duration {
                default, min, max, ..
            } => Raw::Str(value::format_duration(Duration::from_millis(other(
                default.as_millis() as u64,
                min.as_millis() as u64,
                max.as_millis() as u64,
            )))),
            Kind::Offset { .. } => Raw::Str("-03:00".into()),
            Kind::LogFormat { .. } => Raw::Str("json".into()),
            Kind::CatalogUrl { .. } => Raw::Str("sqlite:/other.db".into()),
            Kind::StorageUrl { .. } => Raw::Str("s3://other/prefix".into()),
            Kind::OptPath { .. } => Raw::Str("/other.key".into()),
            Kind::RetentionClasses { .. } => {
                Raw::Str("[{ name = \"other\", sources = [\"o*\"], days = 400 }]".into())
            }
            Kind::AttributionSources { .. } => Raw::Str(
                "[{ peer = \"10.0.0.0/24\", app = \"radiusd\", parsers = [\"radius\"] }]".into(),
            ),
            Kind::RadiusClients { .. } => {
                Raw::Str("[{ address = \"10.0.0.0/24\", secret_env = \"NAS_SECRET\" }]".into())
            }
        };
        let mut c = Config::default();
        def.kind.apply(&mut c, &raw).unwrap();
        assert_ne!(c, defaults, "{}", def.key);
        for other_def in KEYS.iter().filter(|d| d.key != def.key) {
            assert_eq!(
                other_def.kind.render(&c),
                other_def.kind.render(&defaults),
                "setting {} changed {}",
                def.key,
                other_def.key
            );
        }
    }
}

#[test]
fn node_name_and_organisation_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Config::default().node;
    let hostname = write(dir.path(), "hostname", "vault-7\n");
    assert_eq!(node.resolved_name_from(&hostname), "vault-7");
    let blank = write(dir.path(), "blank", "\n");
    assert_eq!(node.resolved_name_from(&blank), "node");
    assert_eq!(node.resolved_name_from(&dir.path().join("none")), "node");
    node.name = "given".into();
    assert_eq!(node.resolved_name_from(&hostname), "given");
    assert_eq!(node.resolved_name(), "given");
    node.organisation = "CERT-In".into();
    assert_eq!(node.organisation(), "CERT-In");
}

#[test]
fn sizes() {
    assert_eq!(value::parse_size("65536"), Some(65536));
    assert_eq!(value::parse_size("64KiB"), Some(65536));
    assert_eq!(value::parse_size("64 kib"), Some(65536));
    assert_eq!(value::parse_size("4MiB"), Some(4 << 20));
    assert_eq!(value::parse_size("1GiB"), Some(1 << 30));
    assert_eq!(value::parse_size("2TiB"), Some(2 << 40));
    assert_eq!(value::parse_size("100B"), Some(100));
    assert_eq!(value::parse_size("1_000"), Some(1000));
    for bad in [
        "",
        "MiB",
        "64MB",
        "64K",
        "1.5GiB",
        "-1",
        "99999999999TiB",
        "64 MiB B",
    ] {
        assert_eq!(value::parse_size(bad), None, "{bad}");
    }
    assert_eq!(value::raw_size(&Raw::Int(-5)), None);
    assert_eq!(value::format_size(0), "0B");
    assert_eq!(value::format_size(65536), "64KiB");
    assert_eq!(value::format_size(1000), "1000B");
    assert_eq!(value::format_size(3 << 30), "3GiB");
    assert_eq!(value::format_size(1536), "1536B");
}

#[test]
fn durations() {
    let d = |text| value::parse_duration(text);
    assert_eq!(d("30"), Some(Duration::from_secs(30)));
    assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(d("5s"), Some(Duration::from_secs(5)));
    assert_eq!(d("15m"), Some(Duration::from_secs(900)));
    assert_eq!(d("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(d("180d"), Some(Duration::from_secs(180 * 86_400)));
    assert_eq!(d("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(d("1h 30m"), Some(Duration::from_secs(5400)));
    assert_eq!(d("0"), Some(Duration::ZERO));
    for bad in ["", "s", "5x", "1.5s", "5 minutes", "-5s", "5S", "h1"] {
        assert_eq!(d(bad), None, "{bad}");
    }
    let f = value::format_duration;
    assert_eq!(f(Duration::ZERO), "0s");
    assert_eq!(f(Duration::from_secs(600)), "10m");
    assert_eq!(f(Duration::from_secs(5400)), "1h30m");
    assert_eq!(f(Duration::from_millis(1500)), "1s500ms");
    assert_eq!(f(Duration::from_secs(86_400 * 180)), "180d");
    assert_eq!(f(Duration::from_micros(1)), "1ms");
    for text in ["1s500ms", "1h30m", "180d", "0s", "7d23h59m59s999ms"] {
        assert_eq!(f(d(text).unwrap()), text);
    }
}

#[test]
fn offsets() {
    let o = value::parse_offset;
    assert_eq!(o("+05:30"), Some(19_800));
    assert_eq!(o("IST"), Some(19_800));
    assert_eq!(o("ist"), Some(19_800));
    assert_eq!(o("-03:00"), Some(-10_800));
    assert_eq!(o("+0530"), Some(19_800));
    assert_eq!(o("+05"), Some(18_000));
    assert_eq!(o("Z"), Some(0));
    assert_eq!(o("UTC"), Some(0));
    assert_eq!(o("+14:00"), Some(50_400));
    for bad in [
        "",
        "05:30",
        "+5:30",
        "+14:01",
        "+05:60",
        "+05:30:00:00",
        "+ab:cd",
        "PST",
        "+",
    ] {
        assert_eq!(o(bad), None, "{bad}");
    }
    assert_eq!(value::format_offset(19_800), "+05:30");
    assert_eq!(value::format_offset(-10_800), "-03:00");
    assert_eq!(value::format_offset(0), "+00:00");
    assert_eq!(value::format_offset(61), "+00:01:01");
    assert_eq!(o(&value::format_offset(61)), Some(61));
}

#[test]
fn addresses_and_filters() {
    assert_eq!(
        value::parse_addr("localhost:80"),
        Some(addr("127.0.0.1:80"))
    );
    assert_eq!(value::parse_addr("[::1]:80"), Some(addr("[::1]:80")));
    assert_eq!(value::parse_addr("localhost:99999"), None);
    assert_eq!(value::parse_addr("localhost"), None);
    assert_eq!(value::parse_addr("example.com:80"), None);

    for good in [
        "info",
        "WARN",
        "off",
        "info,pramaan_ingest=debug",
        "pramaan_vault::wal=trace",
        "pramaan_server",
        "info,tower_http=warn,hyper=off",
        "pramaan[ingest{peer=1}]=debug",
    ] {
        assert!(value::is_filter(good), "{good}");
    }
    for bad in [
        "", " ", "verbose", "warning", "info,", "x=loud", "=info", "a b=info",
    ] {
        assert!(!value::is_filter(bad), "{bad}");
    }
}

#[test]
fn retention_defaults_classes_and_compliance() {
    let c = Config::default();
    assert_eq!(c.retention.days, 180);
    assert!(c.retention.classes.is_empty());
    assert!(!c.retention.allow_non_compliant);
    assert_eq!(c.retention.interval, Duration::from_secs(3600));
    assert!(c.retention.compliant());

    // Classes from the file, as an array of tables.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pramaan.toml",
        r#"
[retention]
days = 200

[[retention.classes]]
name = "firewalls"
sources = ["fw-*", "10.1.2.?"]
days = 365

[[retention.classes]]
name = "dns  servers"
sources = ["ns?.example.in"]
days = 400
"#,
    );
    let loaded = load_in(dir.path(), Some(&path), &[], &[]).unwrap();
    let r = &loaded.config.retention;
    assert_eq!(r.days, 200);
    assert_eq!(
        r.classes,
        vec![
            RetentionClass {
                name: "firewalls".into(),
                sources: vec!["fw-*".into(), "10.1.2.?".into()],
                days: 365
            },
            RetentionClass {
                name: "dns  servers".into(),
                sources: vec!["ns?.example.in".into()],
                days: 400
            },
        ]
    );
    assert_eq!(
        loaded.origin("retention.classes"),
        Some(&Origin::File(path.clone()))
    );
    // It renders as an inline list that loads back to the same classes.
    let text = loaded.render();
    assert!(
        text.contains(
            r#"classes = [{ name = "firewalls", sources = ["fw-*", "10.1.2.?"], days = 365 }, "#
        ),
        "{text}"
    );
    let again = write(dir.path(), "again.toml", &text);
    assert_eq!(
        load_in(dir.path(), Some(&again), &[], &[]).unwrap().config,
        loaded.config
    );

    // From the environment, the same list written inline.
    let env = [(
        "PRAMAAN_RETENTION_CLASSES",
        r#"[{ name = "lab", sources = ["lab-*"], days = 365 }]"#,
    )];
    let c = load_in(dir.path(), None, &env, &[]).unwrap().config;
    assert_eq!(c.retention.classes[0].name, "lab");
    let c = load_in(dir.path(), None, &[("PRAMAAN_RETENTION_CLASSES", "")], &[])
        .unwrap()
        .config;
    assert!(c.retention.classes.is_empty());

    // Bad classes say what is wrong.
    for (value, why) in [
        ("[1]", "entry 1 is not a table"),
        ("[{ sources = [\"a\"], days = 200 }]", "entry 1 needs a name"),
        ("[{ name = \"a\", days = 200 }]", "class \"a\" needs sources"),
        ("[{ name = \"a\", sources = [], days = 200 }]", "class \"a\" needs sources"),
        ("[{ name = \"a\", sources = [\"\"], days = 200 }]", "non-empty strings"),
        ("[{ name = \"a\", sources = [\"x\"] }]", "class \"a\" needs days"),
        ("[{ name = \"a\", sources = [\"x\"], days = 0 }]", "needs days"),
        ("[{ name = \"a\", sources = [\"x\"], days = 200, keep = true }]", "unknown field `keep`"),
        (
            "[{ name = \"a\", sources = [\"x\"], days = 200 }, { name = \"a\", sources = [\"y\"], days = 300 }]",
            "the name \"a\" is used twice",
        ),
        ("fw-*", "not a TOML list"),
    ] {
        let text = env_error("PRAMAAN_RETENTION_CLASSES", value);
        assert!(
            text.starts_with("retention.classes = "),
            "{value}: {text}"
        );
        assert!(text.contains(why), "{value}: {text}");
        assert!(text.contains("expected a list of tables"), "{value}: {text}");
    }
    let (err, _) = file_error("[retention]\nclasses = \"fw\"\n");
    assert!(err.to_string().contains("not a TOML list"), "{err}");

    // A window under 180 days is refused unless allowed, naming every short window.
    let err = load_in(dir.path(), None, &[("PRAMAAN_RETENTION_DAYS", "90")], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("retention.days is 90 days, under the 180 days CERT-In requires"),
        "{err}"
    );
    assert!(
        err.contains("retention.allow_non_compliant = true"),
        "{err}"
    );
    assert!(
        err.contains("retention.days from $PRAMAAN_RETENTION_DAYS"),
        "{err}"
    );
    let short_class = [(
        "PRAMAAN_RETENTION_CLASSES",
        r#"[{ name = "lab", sources = ["lab-*"], days = 30 }]"#,
    )];
    let err = load_in(dir.path(), None, &short_class, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("retention class \"lab\" is 30 days, under the 180 days"),
        "{err}"
    );
    let allowed = [
        ("PRAMAAN_RETENTION_DAYS", "90"),
        ("PRAMAAN_RETENTION_ALLOW_NON_COMPLIANT", "true"),
    ];
    let c = load_in(dir.path(), None, &allowed, &[]).unwrap().config;
    assert!(!c.retention.compliant());
    assert_eq!(
        c.retention.short_windows(),
        vec![("retention.days".to_owned(), 90)]
    );
    // Exactly 180 days is compliant.
    let c = load_in(dir.path(), None, &[("PRAMAAN_RETENTION_DAYS", "180")], &[])
        .unwrap()
        .config;
    assert!(c.retention.compliant());
}

#[test]
fn clock_keys_are_checked() {
    let mut c = Config::default();
    assert_eq!(
        c.clock.server_list(),
        ["samay1.nic.in", "samay2.nic.in", "time.nplindia.org"]
    );
    assert_eq!(c.clock.threshold, Duration::from_millis(100));
    c.clock.source_zones = "utc-box=UTC, fw-*=+04:00".into();
    assert_eq!(
        c.clock.source_zone_list().unwrap(),
        [("utc-box".to_owned(), 0), ("fw-*".to_owned(), 4 * 3600)]
    );
    c.validate().unwrap();
    c.clock.source_zones = "utc-box".into();
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("clock.source_zones") && e.contains("utc-box"),
        "{e}"
    );
    c.clock.source_zones.clear();
    c.clock.servers = " , ".into();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("clock.servers"), "{e}");
    c.clock.enabled = false;
    c.validate().unwrap();
}

/// `pramaan config` and the values `serve` records show a URL's password as
/// `***`, whether it came from the file or the environment; the setting
/// itself keeps it (the store needs it).
#[test]
fn a_password_in_a_url_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pramaan.toml",
        "[registry]\nurl = \"postgres://u:secretpw@127.0.0.1:5432/test\"\n\
         [catalog]\nurl = \"postgres://c:catpw@127.0.0.1:5432/test\"\n\
         [desk]\nwebhook_url = \"https://hooks.example/x?token=tok123\"\n",
    );
    for loaded in [
        load_in(dir.path(), Some(&path), &[], &[]).unwrap(),
        load_in(
            dir.path(),
            None,
            &[(
                "PRAMAAN_REGISTRY_URL",
                "postgres://u:secretpw@127.0.0.1:5432/test",
            )],
            &[],
        )
        .unwrap(),
    ] {
        assert_eq!(
            loaded.config.registry.url,
            "postgres://u:secretpw@127.0.0.1:5432/test"
        );
        let text = loaded.render();
        assert!(!text.contains("secretpw"), "{text}");
        assert!(!text.contains("catpw"), "{text}");
        assert!(!text.contains("tok123"), "{text}");
        assert!(
            text.contains("postgres://u:***@127.0.0.1:5432/test"),
            "{text}"
        );
        let values = format!("{:?}", loaded.config.values());
        assert!(!values.contains("secretpw"), "{values}");
        assert!(!format!("{:?}", loaded.config).contains("catpw"));
    }
}

#[test]
fn attribution_sources_default_empty_and_checked() {
    let c = Config::default();
    assert!(
        c.attribution.sources.is_empty(),
        "no log line creates bindings by default"
    );
    assert_eq!(c.attribution.import_max_body, 4 << 30);

    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pramaan.toml",
        r#"
[[attribution.sources]]
peer = "10.0.0.77/24"
app = "radiusd"
parsers = ["radius"]

[[attribution.sources]]
peer = "2001:db8::1"
host = "vpn-*"
parsers = ["openvpn", "json", "openvpn"]

[[attribution.sources]]
file = "/var/lib/kea/kea-leases*.csv"
parsers = ["dhcp"]
"#,
    );
    let loaded = load_in(dir.path(), Some(&path), &[], &[]).unwrap();
    let s = &loaded.config.attribution.sources;
    assert_eq!(
        s,
        &vec![
            AttributionSource {
                peer: Some(("10.0.0.0".parse().unwrap(), 24)),
                host: None,
                app: Some("radiusd".into()),
                file: None,
                parsers: vec!["radius".into()],
            },
            AttributionSource {
                peer: Some(("2001:db8::1".parse().unwrap(), 128)),
                host: Some("vpn-*".into()),
                app: None,
                file: None,
                parsers: vec!["openvpn".into(), "json".into()],
            },
            AttributionSource {
                peer: None,
                host: None,
                app: None,
                file: Some("/var/lib/kea/kea-leases*.csv".into()),
                parsers: vec!["dhcp".into()],
            },
        ]
    );
    // Renders as an inline list that loads back to the same sources.
    let text = loaded.render();
    let again = write(dir.path(), "again.toml", &text);
    assert_eq!(
        load_in(dir.path(), Some(&again), &[], &[]).unwrap().config,
        loaded.config
    );
    let c = load_in(
        dir.path(),
        None,
        &[(
            "PRAMAAN_ATTRIBUTION_SOURCES",
            r#"[{ app = "openvpn", parsers = ["openvpn"] }]"#,
        )],
        &[],
    )
    .unwrap()
    .config;
    assert_eq!(c.attribution.sources[0].app.as_deref(), Some("openvpn"));

    for (value, why) in [
        (
            "[{ parsers = [\"radius\"] }]",
            "at least one of peer, host, app and file",
        ),
        (
            "[{ file = \"leases.csv\", parsers = [\"dhcp\"] }]",
            "file must be an absolute path",
        ),
        (
            "[{ file = \"/l.csv\", peer = \"10.0.0.1\", parsers = [\"dhcp\"] }]",
            "file or peer, not both",
        ),
        ("[{ app = \"radiusd\" }]", "needs parsers"),
        ("[{ app = \"radiusd\", parsers = [] }]", "needs parsers"),
        (
            "[{ app = \"radiusd\", parsers = [\"sshd\"] }]",
            "radius, openvpn, cgnat, json, dhcp",
        ),
        (
            "[{ peer = \"10.0.0.0/33\", parsers = [\"radius\"] }]",
            "peer must be",
        ),
        (
            "[{ peer = \"nas-1\", parsers = [\"radius\"] }]",
            "peer must be",
        ),
        (
            "[{ app = \"\", parsers = [\"radius\"] }]",
            "non-empty string",
        ),
        (
            "[{ app = \"a\", parsers = [\"radius\"], trust = true }]",
            "unknown field `trust`",
        ),
        ("radiusd", "not a TOML list"),
    ] {
        let text = env_error("PRAMAAN_ATTRIBUTION_SOURCES", value);
        assert!(
            text.starts_with("attribution.sources = "),
            "{value}: {text}"
        );
        assert!(text.contains(why), "{value}: {text}");
    }
}

#[test]
fn radius_is_off_by_default_on_means_1813_and_clients_name_where_secrets_are() {
    let c = Config::default();
    assert_eq!(c.radius.listen, None);
    assert!(c.radius.clients.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "pramaan.toml",
        r#"
[radius]
listen = "on"
secret_env = "RADIUS_DEFAULT"

[[radius.clients]]
address = "10.0.0.7/24"
secret_file = "/etc/pramaan/nas.secret"
"#,
    );
    let loaded = load_in(dir.path(), Some(&path), &[], &[]).unwrap();
    let r = &loaded.config.radius;
    assert_eq!(r.listen, Some("127.0.0.1:1813".parse().unwrap()));
    assert_eq!(r.secret_env, "RADIUS_DEFAULT");
    assert_eq!(
        r.clients,
        vec![crate::RadiusClient {
            address: ("10.0.0.0".parse().unwrap(), 24),
            secret_file: Some("/etc/pramaan/nas.secret".into()),
            secret_env: None,
        }]
    );
    for (bad, why) in [
        (
            "[[radius.clients]]\naddress = \"10.0.0.1\"\nsecret = \"s3cret\"\n",
            "unknown field `secret`",
        ),
        (
            "[[radius.clients]]\naddress = \"10.0.0.1\"\n",
            "exactly one of secret_file and secret_env",
        ),
        (
            "[[radius.clients]]\naddress = \"nas-1\"\nsecret_env = \"X\"\n",
            "needs an address",
        ),
    ] {
        let (err, _) = file_error(bad);
        assert!(err.to_string().contains(why), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

#[test]
fn storage_location_takes_indian_regions_and_sites_only() {
    let dir = tempfile::tempdir().unwrap();
    let load = |v: &str| load_in(dir.path(), None, &[("PRAMAAN_STORAGE_LOCATION", v)], &[]);
    let c = load("ap-south-1").unwrap().config;
    assert_eq!(c.storage.location().place(), "AWS Mumbai (ap-south-1)");
    let c = load("on-premises:Navi Mumbai DC-2").unwrap().config;
    assert_eq!(
        c.storage.location().place(),
        "on premises: Navi Mumbai DC-2"
    );
    let e = load("eu-west-1").unwrap_err().to_string();
    assert!(
        e.contains("storage.location")
            && e.contains("\"eu-west-1\" is not a cloud region in India"),
        "{e}"
    );
    assert!(e.contains("on-premises:<site>"), "{e}");
}
