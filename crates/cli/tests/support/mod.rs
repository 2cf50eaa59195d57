//! Shared by the end-to-end tests: runs the real `pramaan` binary on a fresh
//! data directory with every listener on 127.0.0.1 port 0, and talks to it.
//!
//! Nothing here sends traffic anywhere but 127.0.0.1. Every wait polls with a
//! generous deadline, because the tests share a slow 2-core machine.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pramaan");

/// How long a server may take to start listening.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for lines sent without acknowledgement (syslog) to show up.
pub const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(60);

/// A `pramaan` command with a clean environment: no inherited `PRAMAAN_*`
/// variable (an unknown one is an error, and a stray one would change the
/// configuration), no colours, run in `cwd` so that no `pramaan.toml` from
/// elsewhere is read.
pub fn pramaan(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PRAMAAN_") {
            c.env_remove(&k);
        }
    }
    c.env("NO_COLOR", "1").current_dir(cwd);
    // Every test server accepts this admin token (see `Server::spawn`).
    c.env("PRAMAAN_TOKEN", TEST_TOKEN);
    c
}

/// The admin token every test server is started with
/// (`PRAMAAN_BOOTSTRAP_TOKEN`) and every request of the tests carries.
pub const TEST_TOKEN: &str = "pmn_e2e-test-admin-token-not-a-secret-0123456789";

/// Output of a finished command, with text accessors.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout(),
            self.stderr
        )
    }
}

/// Runs `cmd` to completion (with `stdin` as input), killing it after `timeout`.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let feeder = stdin.map(|data| {
        let mut w = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        })
    });
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&e.join().unwrap()).into_owned();
            panic!("{cmd:?} did not finish within {timeout:?}; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Output {
        status,
        stdout: o.join().unwrap(),
        stderr: String::from_utf8_lossy(&e.join().unwrap()).into_owned(),
    }
}

/// A string that no other test (or earlier run) produces.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------- HTTP

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime")
    })
}

/// Runs a future to completion on the tests' runtime (callable from any thread).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

fn client() -> &'static reqwest::Client {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    C.get_or_init(|| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {TEST_TOKEN}")).unwrap(),
        );
        reqwest::Client::builder()
            // Never through a proxy: everything goes straight to 127.0.0.1.
            .no_proxy()
            .default_headers(headers)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client")
    })
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Retry-After` header, when the answer had one.
    pub retry_after: Option<String>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// GET `url`; `Err` only when no answer came (connection refused, timeout...).
pub fn http_get(url: &str, query: &[(&str, &str)]) -> Result<Resp, String> {
    block_on(async {
        let r = client()
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.bytes().await.map_err(|e| format!("{e:?}"))?.to_vec();
        Ok(Resp {
            status,
            body,
            retry_after,
        })
    })
}

/// POST `body` to `url` with `headers`.
pub fn http_post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Resp, String> {
    block_on(async {
        let mut req = client().post(url).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.map_err(|e| format!("{e:?}"))?;
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.bytes().await.map_err(|e| format!("{e:?}"))?.to_vec();
        Ok(Resp {
            status,
            body,
            retry_after,
        })
    })
}

/// The answer to a successful POST /api/v1/ingest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub empty_lines: u64,
    /// (line number, reason)
    pub refused: Vec<(u64, String)>,
}

impl Ingested {
    pub fn from_json(v: &Value) -> Ingested {
        Ingested {
            accepted: v["accepted"].as_u64().expect("accepted"),
            first_seq: v["first_seq"].as_u64(),
            last_seq: v["last_seq"].as_u64(),
            empty_lines: v["empty_lines"].as_u64().expect("empty_lines"),
            refused: v["refused"]
                .as_array()
                .expect("refused")
                .iter()
                .map(|r| {
                    (
                        r["line"].as_u64().expect("line"),
                        r["reason"].as_str().expect("reason").to_owned(),
                    )
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------- hits

/// One search result (the NDJSON object), with its raw bytes decoded.
#[derive(Clone, Debug)]
pub struct Hit {
    pub seq: u64,
    /// The stored bytes: `raw`, or `raw_b64` decoded.
    pub raw: Vec<u8>,
    pub json: Value,
}

impl Hit {
    pub fn from_json(v: Value) -> Hit {
        let raw = match (v.get("raw"), v.get("raw_b64")) {
            (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
            (None, Some(Value::String(b))) => {
                base64_decode(b).unwrap_or_else(|| panic!("raw_b64 is not base64: {v}"))
            }
            _ => panic!("a hit must carry exactly one of raw and raw_b64: {v}"),
        };
        Hit {
            seq: v["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("hit without seq: {v}")),
            raw,
            json: v,
        }
    }

    /// A string field, `None` when absent or null.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.json.get(field).and_then(Value::as_str)
    }

    /// A list-of-strings field (`ips`, `users`); absent means empty.
    pub fn list(&self, field: &str) -> Vec<String> {
        self.json
            .get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// Parses an NDJSON body of hits.
pub fn parse_hits(body: &[u8]) -> Vec<Hit> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            Hit::from_json(serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!(
                    "a search result line is not JSON ({e}): {}",
                    String::from_utf8_lossy(l)
                )
            }))
        })
        .collect()
}

/// Standard base64 (with padding), written out here so that the tests do not
/// decode with the product's own code.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for chunk in s.chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

// ---------------------------------------------------------------- metrics

/// Prometheus text, parsed into (name, labels) → value.
#[derive(Debug, Default)]
pub struct Metrics {
    pub series: Vec<(String, BTreeMap<String, String>, f64)>,
    pub text: String,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut series = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name_labels, value) = line.rsplit_once(' ').expect("name value");
            let value: f64 = value.parse().unwrap_or(f64::NAN);
            let (name, labels) = match name_labels.split_once('{') {
                None => (name_labels.to_owned(), BTreeMap::new()),
                Some((n, rest)) => (n.to_owned(), parse_labels(rest.trim_end_matches('}'))),
            };
            series.push((name, labels, value));
        }
        Metrics {
            series,
            text: text.to_owned(),
        }
    }

    /// Sum of every series called `name` that carries all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let eq = i + s[i..].find('=').expect("label =");
        let key = s[i..eq].trim().trim_start_matches(',').trim().to_owned();
        let mut j = eq + 2; // past ="
        let mut val = String::new();
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' && j + 1 < b.len() {
                j += 1;
                val.push(match b[j] {
                    b'n' => '\n',
                    c => c as char,
                });
            } else {
                let ch = s[j..].chars().next().unwrap();
                val.push(ch);
                j += ch.len_utf8() - 1;
            }
            j += 1;
        }
        out.insert(key, val);
        i = j + 1;
        while i < b.len() && (b[i] == b',' || b[i] == b' ') {
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------- server

/// A running `pramaan serve` on its own temporary data directory.
pub struct Server {
    /// Holds the data directory, the ready file and the server's stderr.
    pub dir: tempfile::TempDir,
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: u32,
}

impl Server {
    /// Starts a server with the default configuration.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra environment variables (`PRAMAAN_<KEY>`).
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("pramaan-e2e-")
            .tempdir()
            .expect("a temporary directory");
        Server::start_in(dir, env)
    }

    /// Starts a server in `dir` (its data directory is `dir/data`, which may
    /// already exist, e.g. as a mount point).
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        let unbound: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut s = Server {
            dir,
            http: unbound,
            udp: unbound,
            tcp: unbound,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            starts: 0,
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    fn ready_path(&self) -> PathBuf {
        self.dir.path().join("ready.json")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("server-{}.stderr", self.starts))
    }

    /// The current (or last) server process's standard error.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let _ = std::fs::remove_file(self.ready_path());
        self.starts += 1;
        let err = std::fs::File::create(self.stderr_path()).expect("stderr file");
        let mut cmd = pramaan(self.dir.path());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--http-listen", "127.0.0.1:0"])
            .args(["--syslog-udp-listen", "127.0.0.1:0"])
            .args(["--syslog-tcp-listen", "127.0.0.1:0"])
            .arg("--ready-file")
            .arg(self.ready_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            // Never ask the real NIC/NPL NTP servers from a test; a test that
            // wants the clock monitor passes PRAMAAN_CLOCK_ENABLED=true itself.
            .env("PRAMAAN_CLOCK_ENABLED", "false");
        cmd.env("PRAMAAN_BOOTSTRAP_TOKEN", TEST_TOKEN);
        // Searches are not recorded, so that counts of records stay what the tests ingested.
        cmd.env("PRAMAAN_AUTH_AUDIT_READS", "false");
        // Compliance alerts write ledger records of their own (a disk the
        // machine has nearly full, say); the tests that want them say so.
        cmd.env("PRAMAAN_ALERTS_ENABLED", "false");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(self.ready_path()) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    let addr = |k: &str| -> SocketAddr {
                        v[k].as_str()
                            .unwrap_or_else(|| panic!("ready file without {k}: {text}"))
                            .parse()
                            .unwrap()
                    };
                    self.http = addr("http");
                    self.udp = addr("udp");
                    self.tcp = addr("tcp");
                    for a in [self.http, self.udp, self.tcp] {
                        assert!(a.ip().is_loopback(), "listening on {a}, not loopback");
                    }
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("wait") {
                self.child = None;
                panic!(
                    "pramaan serve exited ({status}) before it was ready; its stderr:\n{}",
                    self.stderr()
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                self.kill9();
                panic!(
                    "pramaan serve wrote no ready file within {READY_TIMEOUT:?}; its stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `kill -9`: SIGKILL, no chance to flush or seal.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A clean stop (SIGTERM, as an init system would); returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("the server is running");
        let pid = c.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = c.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "pramaan serve did not stop within 60s of SIGTERM; its stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sets (`Some`) or removes (`None`) an environment variable for the
    /// next start.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_owned(), v.to_owned()));
        }
    }

    /// Waits for the server process to end by itself (it aborted, say) and
    /// returns its exit status; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.child.as_mut().expect("the server was started");
            if let Some(status) = c.try_wait().expect("wait") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "pramaan serve did not exit within {timeout:?}; its stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Starts the server again on the same data directory (after [`stop`] or [`kill9`]).
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Clean stop, then start on the same data directory.
    pub fn restart(&mut self) {
        let s = self.stop();
        assert!(
            s.success(),
            "pramaan serve exited with {s} on SIGTERM:\n{}",
            self.stderr()
        );
        self.spawn();
    }

    /// `kill -9`, then start on the same data directory.
    pub fn crash_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    // ------------------------------------------------------------ HTTP API

    /// A new API token for `roles` (`ingest`, `analyst`...), its secret.
    pub fn token(&self, name: &str, roles: &str) -> String {
        let body = serde_json::json!({ "name": name, "roles": roles });
        let r = self.post(
            "/api/v1/tokens",
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        );
        assert!(
            r.status == 200 || r.status == 201,
            "token {name}: {}",
            r.text()
        );
        r.json()["secret"].as_str().expect("secret").to_owned()
    }

    /// Stops the server, then checks that `pramaan verify --deep` passes on
    /// its data directory (every stored record's fields derived again).
    pub fn stop_and_verify_deep(&mut self, timeout: Duration) {
        self.stop();
        let mut c = pramaan(self.dir.path());
        c.arg("--data-dir")
            .arg(self.data_dir())
            .args(["verify", "--deep"]);
        let o = run(c, None, timeout);
        assert!(o.success() && o.stdout().contains("OK"), "{o:?}");
    }

    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Resp {
        http_get(&format!("{}{path}", self.url()), query)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nserver stderr:\n{}", self.stderr()))
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        http_post(&format!("{}{path}", self.url()), headers, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}\nserver stderr:\n{}", self.stderr()))
    }

    /// POST /api/v1/ingest; panics unless the answer is 200.
    pub fn ingest(&self, body: impl Into<Vec<u8>>) -> Ingested {
        let r = self.post(
            "/api/v1/ingest",
            &[("content-type", "application/x-ndjson")],
            body.into(),
        );
        assert_eq!(r.status, 200, "ingest answered {}: {}", r.status, r.text());
        Ingested::from_json(&r.json())
    }

    /// Ingests `lines` (joined with LF) and checks that all were accepted.
    pub fn ingest_lines<S: AsRef<[u8]>>(&self, lines: &[S]) -> Ingested {
        let mut body = Vec::new();
        for l in lines {
            body.extend_from_slice(l.as_ref());
            body.push(b'\n');
        }
        let r = self.ingest(body);
        assert_eq!(r.accepted, lines.len() as u64, "{r:?}");
        assert!(r.refused.is_empty(), "{r:?}");
        r
    }

    /// GET /api/v1/search with `params` (add `limit=0` for every hit).
    pub fn search(&self, params: &[(&str, &str)]) -> Vec<Hit> {
        let r = self.get("/api/v1/search", params);
        assert_eq!(
            r.status,
            200,
            "search {params:?} answered {}: {}",
            r.status,
            r.text()
        );
        parse_hits(&r.body)
    }

    /// Every hit for `params`, no limit.
    pub fn search_all_of(&self, params: &[(&str, &str)]) -> Vec<Hit> {
        let mut p = params.to_vec();
        p.push(("limit", "0"));
        self.search(&p)
    }

    /// Every stored record, fetched by sequence-number ranges of `page` up
    /// to the committed count, in sequence order.
    pub fn scan(&self, page: u64) -> Vec<Hit> {
        self.scan_to(self.committed(), page)
    }

    /// Every record with a sequence number below `committed`, by ranges of `page`.
    pub fn scan_to(&self, committed: u64, page: u64) -> Vec<Hit> {
        let mut out: Vec<Hit> = Vec::with_capacity(committed as usize);
        let mut from = 0;
        while from < committed {
            let to = (from + page - 1).min(committed - 1);
            let range = format!("{from}-{to}");
            let hits = self.search(&[("seq", &range), ("limit", "0")]);
            for h in &hits {
                assert!(
                    (from..=to).contains(&h.seq),
                    "seq {} returned for the range {range}",
                    h.seq
                );
            }
            out.extend(hits);
            from = to + 1;
        }
        out
    }

    /// Every stored record (see [`scan`]).
    pub fn all(&self) -> Vec<Hit> {
        self.scan(5000)
    }

    /// Polls a search until it has at least `n` hits.
    pub fn wait_for_hits(&self, params: &[(&str, &str)], n: usize) -> Vec<Hit> {
        wait_until(ARRIVAL_TIMEOUT, &format!("{n} hits for {params:?}"), || {
            let h = self.search_all_of(params);
            (h.len() >= n).then_some(h)
        })
    }

    /// Polls until exactly one record contains `text`, and returns it.
    pub fn wait_for_text(&self, text: &str) -> Hit {
        let mut h = self.wait_for_hits(&[("q", text)], 1);
        assert_eq!(h.len(), 1, "more than one record contains {text:?}: {h:?}");
        h.pop().unwrap()
    }

    pub fn status(&self) -> Value {
        let r = self.get("/api/v1/status", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Records committed (the next sequence number).
    pub fn committed(&self) -> u64 {
        self.status()["committed_records"]
            .as_u64()
            .expect("committed_records")
    }

    pub fn metrics(&self) -> Metrics {
        let r = self.get("/metrics", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        Metrics::parse(&r.text())
    }

    /// Polls /metrics until the sum of `name{labels}` reaches `want` (and
    /// checks it does not overshoot).
    pub fn wait_for_metric(&self, name: &str, labels: &[(&str, &str)], want: f64) {
        let got = wait_until(
            ARRIVAL_TIMEOUT,
            &format!("{name}{labels:?} to reach {want}"),
            || {
                let m = self.metrics();
                let v = m.sum(name, labels);
                (v >= want).then_some(v)
            },
        );
        assert_eq!(got, want, "{name}{labels:?}");
    }

    /// POST /api/v1/sql; the NDJSON rows.
    pub fn sql(&self, query: &str) -> Vec<Value> {
        let body = serde_json::to_vec(&serde_json::json!({ "query": query })).unwrap();
        let r = self.post("/api/v1/sql", &[("content-type", "application/json")], body);
        assert_eq!(r.status, 200, "sql {query}: {}", r.text());
        r.text()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    // ------------------------------------------------------------ syslog

    /// One TCP connection: sends `bytes`, closes its sending side and waits
    /// until the server has closed the connection (so it has read everything).
    pub fn tcp_send(&self, bytes: &[u8]) {
        tcp_send_to(self.tcp, bytes);
    }

    /// One UDP datagram.
    pub fn udp_send(&self, datagram: &[u8]) {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        s.send_to(datagram, self.udp).expect("send UDP");
    }

    /// Checks that the server still takes and finds lines on TCP, UDP and HTTP.
    pub fn assert_still_serving(&self) {
        let t = unique("still-serving-tcp");
        self.tcp_send(format!("<13>1 - host app - - - {t}\n").as_bytes());
        let u = unique("still-serving-udp");
        self.udp_send(format!("<13>1 - host app - - - {u}").as_bytes());
        let h = unique("still-serving-http");
        self.ingest_lines(&[format!("<13>1 - host app - - - {h}")]);
        for (text, transport) in [(&t, "tcp"), (&u, "udp"), (&h, "http")] {
            let hit = self.wait_for_text(text);
            assert_eq!(hit.str("transport"), Some(transport));
            assert_eq!(hit.raw_text(), format!("<13>1 - host app - - - {text}"));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: Vec<&str> = err.lines().rev().take(60).collect();
            eprintln!(
                "--- last lines of the server's stderr ({}):",
                self.stderr_path().display()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        self.kill9();
    }
}

/// See [`Server::tcp_send`].
pub fn tcp_send_to(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.write_all(bytes).expect("write");
    close_and_wait(s);
}

/// Closes the sending side and waits for the server to close the connection.
pub fn close_and_wait(mut s: TcpStream) {
    s.shutdown(Shutdown::Write).expect("shutdown");
    s.set_read_timeout(Some(ARRIVAL_TIMEOUT)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("waiting for the server to close the connection: {e}"),
        }
    }
}

/// `LEN SP MSG` (RFC 6587 octet counting).
pub fn octet(msg: &[u8]) -> Vec<u8> {
    let mut v = format!("{} ", msg.len()).into_bytes();
    v.extend_from_slice(msg);
    v
}

/// `pramaan <args>` in `cwd` with extra environment variables, within two minutes.
pub fn cmd_env(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c, None, Duration::from_secs(120))
}

/// `o`, after checking that the command succeeded.
pub fn ok(o: Output) -> Output {
    assert!(o.success(), "{o:?}");
    o
}

/// Sorted copy, to compare multisets.
pub fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Finds a program on PATH (or in /usr/sbin and /sbin, where Debian puts daemons).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A program the test needs, or a panic naming its Debian package and the
/// test command that installs it.
pub fn program(name: &str, package: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!("{name} is not installed (Debian package {package}): {TEST_COMMAND_HINT}")
    })
}

/// `ip ARGS` (iproute2), which must succeed: the tests' network namespaces.
pub fn ip(args: &[&str]) {
    let o = Command::new(program("ip", "iproute2"))
        .args(args)
        .output()
        .expect("ip runs");
    assert!(
        o.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The purpose the tests' whois lookups state (recorded in the audit trail).
pub const WHOIS_PURPOSE: &str = "CERT-In order (end-to-end test)";

/// Now, as RFC 3339 (for `at=`).
pub fn now_text() -> String {
    jiff::Timestamp::now().to_string()
}

impl Server {
    /// `GET /api/v1/whois` for `ip` at `at`: the answer, which must be a 200.
    pub fn whois(&self, ip: &str, at: &str) -> Value {
        let r = self.get(
            "/api/v1/whois",
            &[("ip", ip), ("at", at), ("purpose", WHOIS_PURPOSE)],
        );
        assert_eq!(r.status, 200, "whois {ip} at {at}: {}", r.text());
        r.json()
    }

    /// Waits until `whois ip` now names `who` as its one holder; the answer.
    pub fn wait_for_holder(&self, ip: &str, who: &str) -> Value {
        wait_until(
            Duration::from_secs(60),
            &format!("whois {ip} to name {who}"),
            || {
                let a = self.whois(ip, &now_text());
                (a["count"] == 1 && a["matches"][0]["subscriber"] == who).then_some(a)
            },
        )
    }

    /// Waits until nobody holds `ip` now.
    pub fn wait_until_nobody_holds(&self, ip: &str) {
        wait_until(
            Duration::from_secs(60),
            &format!("nobody to hold {ip}"),
            || (self.whois(ip, &now_text())["count"] == 0).then_some(()),
        );
    }
}

/// rsyslogd in the foreground, as a child of the test, with its own work
/// directory and no system inputs; killed on drop.
pub struct Rsyslog {
    child: Child,
    dir: PathBuf,
}

impl Rsyslog {
    /// Starts rsyslogd on `conf` (written into `dir`) once each output
    /// module of `modules` (`omrelp`, with its Debian package) is installed
    /// and rsyslogd has accepted the configuration.
    pub fn start(dir: &Path, conf: &str, modules: &[(&str, &str)]) -> Rsyslog {
        let bin = find_program("rsyslogd").unwrap_or_else(|| {
            panic!("rsyslogd is not installed (Debian package rsyslog): {TEST_COMMAND_HINT}")
        });
        for (module, package) in modules {
            let found = [
                "/usr/lib/rsyslog",
                "/usr/lib64/rsyslog",
                "/usr/lib/x86_64-linux-gnu/rsyslog",
            ]
            .iter()
            .any(|d| Path::new(d).join(format!("{module}.so")).exists());
            assert!(
                found,
                "rsyslog's {module} is not installed (Debian package {package}): {TEST_COMMAND_HINT}"
            );
        }
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // Validate first, so that a bad configuration fails with rsyslog's own words.
        let mut check = Command::new(&bin);
        check.arg("-N1").arg("-f").arg(&conf_path);
        let check = run(check, None, Duration::from_secs(30));
        assert!(
            check.success(),
            "rsyslogd rejects its configuration: {check:?}"
        );
        let child = Command::new(&bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("rsyslogd.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("rsyslogd.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Rsyslog {
            child,
            dir: dir.to_owned(),
        }
    }

    /// What rsyslogd printed.
    pub fn output(&self) -> String {
        let r = |n: &str| std::fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            r("rsyslogd.out"),
            r("rsyslogd.err")
        )
    }

    /// Fails the test with rsyslogd's output if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(s) = self.child.try_wait().unwrap() {
            panic!("rsyslogd exited ({s}):\n{}", self.output());
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's test command, for messages about missing tools.
pub const TEST_COMMAND_HINT: &str = "run the README's test command, `scripts/test` (CI runs it as \
    `.ci/run`), which installs the Debian packages the end-to-end tests use \
    (rsyslog, bsdutils for `logger`, zstd)";

/// Runs the `openssl` command line in `dir` (certificates made as an operator
/// would make them), failing the test with openssl's message on an error.
pub fn openssl(dir: &Path, args: &[&str]) {
    let bin = find_program("openssl")
        .unwrap_or_else(|| panic!("openssl is missing: {TEST_COMMAND_HINT}"));
    let o = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// aiosmtpd on loopback (`crates/desk/tests/smtp_sink.py`), keeping each
/// message it receives in a file under `dir`; stopped when dropped.
pub struct SmtpSink(Child);

impl SmtpSink {
    pub fn start(port: u16, dir: &Path) -> SmtpSink {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../desk/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpSink(child)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chronyd serving NTP on 127.0.0.1 (`-x`: it never sets the clock),
/// killed when dropped.
pub struct Chronyd {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chronyd on a free loopback port; panics when it is not installed
/// (`scripts/test` installs Debian's chrony).
pub fn start_chronyd() -> Chronyd {
    use std::process::{Command, Stdio};
    let chronyd = ["/usr/sbin/chronyd", "/sbin/chronyd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chronyd is not installed: scripts/test installs Debian's chrony");
    let dir = tempfile::tempdir().unwrap();
    let _ = std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    );
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "local stratum 8\nallow 127.0.0.1\nbindaddress 127.0.0.1\nport {port}\ncmdport 0\n\
             bindcmdaddress {d}/chronyd.sock\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let user = Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "root".into());
    let child = Command::new(chronyd)
        .args(["-x", "-d", "-u", &user, "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chronyd");
    Chronyd {
        child,
        port,
        _dir: dir,
    }
}

/// A client that carries no credentials of its own and follows no redirect.
pub fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// An HTTP answer as the console tests read it.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The session cookie this answer sets (`name=value`).
    pub fn session(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("pramaan_session=") && !c.starts_with("pramaan_session=;"))
            .map(|c| c.split(';').next().unwrap().trim().to_owned())
    }
}

/// An S3-compatible store on loopback: s3s-fs (crates.io `s3s-fs`, which
/// `scripts/test` installs), keeping each bucket as a directory under
/// `root`, with one access key. Stopped when dropped.
pub struct S3Store {
    child: Option<Child>,
    pub port: u16,
    pub root: tempfile::TempDir,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Store {
    /// Starts the store with one (empty) bucket named `bucket`.
    pub fn start(bucket: &str) -> S3Store {
        let root = tempfile::Builder::new()
            .prefix("pramaan-s3-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let mut s = S3Store {
            child: None,
            port: free_port(),
            root,
            access_key: unique("AKTEST").to_uppercase(),
            secret_key: unique("secret-"),
        };
        s.start_again();
        s
    }

    /// (Re)starts the server on the same port and root.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "s3s-fs is already running");
        let bin = find_program("s3s-fs").unwrap_or_else(|| {
            panic!(
                "s3s-fs is missing: scripts/test installs it (cargo install s3s-fs --features binary); {TEST_COMMAND_HINT}"
            )
        });
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--access-key",
                &self.access_key,
                "--secret-key",
                &self.secret_key,
            ])
            .arg(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        wait_until(Duration::from_secs(20), "s3s-fs to listen", || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        });
    }

    /// Kills the server (the store "goes away"); its data stays in `root`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `PRAMAAN_STORAGE_*` and credential variables of a server that
    /// keeps its objects in `bucket` under `prefix`.
    pub fn env(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        vec![
            (
                "PRAMAAN_STORAGE_URL".into(),
                format!("s3://{bucket}/{prefix}"),
            ),
            ("PRAMAAN_STORAGE_ENDPOINT".into(), self.endpoint()),
            ("PRAMAAN_STORAGE_ALLOW_HTTP".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
        ]
    }

    /// Every object's key under `bucket/prefix`, as files in the store's root.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let base = self.root.path().join(bucket).join(prefix);
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let key = p
                        .strip_prefix(&base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    out.push(key);
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `pramaan serve` with `env` on a new data directory, which must fail to
/// start (loopback listeners, the clock monitor and alerts off).
pub fn serve_fails(env: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut c = pramaan(dir.path());
    c.arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--syslog-udp-listen", "127.0.0.1:0"])
        .args(["--syslog-tcp-listen", "127.0.0.1:0"])
        .env("PRAMAAN_CLOCK_ENABLED", "false")
        .env("PRAMAAN_ALERTS_ENABLED", "false");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = run(c, None, Duration::from_secs(120));
    assert!(!o.success(), "serve started: {o:?}");
    o
}

/// moto's S3 server on loopback (`python3 -m moto.server`, which
/// scripts/test installs): the S3 server here that enforces Object Lock (a
/// mock; see README). Its buckets are made, and their locks read back, with
/// boto3 through `crates/vault/tests/clients/s3lock.py`.
pub struct MotoS3 {
    child: Child,
    pub endpoint: String,
}

impl MotoS3 {
    pub const KEY_ID: &'static str = "AKIAPRAMAANTEST";
    pub const SECRET: &'static str = "pramaan-object-lock-secret";

    pub fn start() -> MotoS3 {
        let port = free_port();
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
        let mut m = MotoS3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_until(
            Duration::from_secs(30),
            "moto's S3 server to listen",
            || {
                if let Ok(Some(status)) = m.child.try_wait() {
                    panic!("moto's server exited ({status}): scripts/test installs it (pip install 'moto[server]'); {TEST_COMMAND_HINT}");
                }
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
            },
        );
        m
    }

    /// `s3lock.py <endpoint> <args>` (boto3): its standard output.
    pub fn client(&self, args: &[&str]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vault/tests/clients/s3lock.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", Self::KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", Self::SECRET)
            .output()
            .expect("run s3lock.py");
        assert!(
            out.status.success(),
            "s3lock.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The settings of a server that keeps its objects in `bucket` under
    /// `prefix` with `storage.object_lock = "compliance"`.
    pub fn env(&self, bucket: &str, prefix: &str) -> Vec<(String, String)> {
        vec![
            (
                "PRAMAAN_STORAGE_URL".into(),
                format!("s3://{bucket}/{prefix}"),
            ),
            ("PRAMAAN_STORAGE_ENDPOINT".into(), self.endpoint.clone()),
            ("PRAMAAN_STORAGE_ALLOW_HTTP".into(), "true".into()),
            ("PRAMAAN_STORAGE_OBJECT_LOCK".into(), "compliance".into()),
            ("AWS_ACCESS_KEY_ID".into(), Self::KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), Self::SECRET.into()),
        ]
    }
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The PostgreSQL the tests use (scripts/test starts it).
pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A query of the test's own against PostgreSQL.
pub fn pg_query(sql: &str) -> Vec<tokio_postgres::Row> {
    block_on(async {
        let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (user postgres, trust, database test) must be running (scripts/test starts it)");
        tokio::spawn(conn);
        client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    })
}

/// A PostgreSQL schema a test uses, dropped however the test ends.
pub struct PgSchema(pub String);

impl PgSchema {
    /// A fresh schema name (made by whoever first uses it).
    pub fn fresh(prefix: &str) -> PgSchema {
        let _ = pg_query("SELECT 1");
        PgSchema(unique(prefix).replace('-', "_").to_ascii_lowercase())
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = pg_query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
    }
}
