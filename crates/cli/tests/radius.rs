//! The RADIUS accounting server, end to end, with real clients: FreeRADIUS's
//! `radclient` sends Start, Interim-Update and Stop to `serve`
//! (`radius.listen`), and FreeRADIUS itself (its own process, a config
//! directory made here) proxies a NAS's accounting to it. `pramaan whois`
//! then names the subscriber; a wrong secret gets no answer, is counted,
//! and makes no binding; a retransmitted packet is answered again and
//! stored once.

mod support;

use pramaan_ingest::radius::{self, accounting_request, attr, status};
use serde_json::Value;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const SECRET: &str = "e2e-radius-shared-secret";
/// The variable the server reads its default secret from (never a PRAMAAN_ one).
const SECRET_VAR: &str = "RADIUS_E2E_SECRET";
const PURPOSE: &str = "CERT-In order 26/2026";

fn radius_server() -> (Server, SocketAddr) {
    let s = Server::start_with(&[
        ("PRAMAAN_RADIUS_LISTEN", "127.0.0.1:0"),
        ("PRAMAAN_RADIUS_SECRET_ENV", SECRET_VAR),
        (SECRET_VAR, SECRET),
    ]);
    let ready: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("ready.json")).unwrap())
            .unwrap();
    let addr: SocketAddr = ready["radius"]
        .as_str()
        .expect("the ready file names the RADIUS address")
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback());
    (s, addr)
}

fn need(cmd: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{cmd} is not installed: install Debian's {package} (scripts/test does)"
    );
}

/// `radclient -x ADDR acct SECRET` with `attrs` on stdin; whether an
/// Accounting-Response came (radclient exits 0 only then).
fn radclient(addr: SocketAddr, secret: &str, attrs: &str) -> (bool, String) {
    need("radclient", "freeradius-utils");
    let mut c = Command::new("radclient")
        .args([
            "-x",
            "-r",
            "2",
            "-t",
            "2",
            &addr.to_string(),
            "acct",
            secret,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient runs");
    c.stdin.take().unwrap().write_all(attrs.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn whois_cli(s: &Server, ip: &str, at: &str) -> Value {
    let mut c = pramaan(s.dir.path());
    c.args([
        "whois",
        ip,
        "--at",
        at,
        "--purpose",
        PURPOSE,
        "--json",
        "--server",
        &s.url(),
    ]);
    let o = run(c, None, Duration::from_secs(60));
    assert!(o.success(), "pramaan whois: {o:?}");
    serde_json::from_str(&o.stdout()).unwrap()
}

fn wait_for_holders(s: &Server, ip: &str, at: &str, n: usize) -> Value {
    wait_until(
        Duration::from_secs(120),
        &format!("{n} holder(s) of {ip} at {at}"),
        || {
            let v = whois_cli(s, ip, at);
            (v["count"] == n).then_some(v)
        },
    )
}

fn subscribers(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subscriber"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// Now, in Unix seconds: a NAS stamps its events with its own clock, and
/// stamps minutes away from pramaan's are not taken (`radius.max_clock_skew`).
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Unix seconds as RFC 3339 (UTC), for `--at`.
fn rfc3339(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64)
        .unwrap()
        .to_string()
}

fn acct(kind: &str, user: &str, sid: &str, ip: &str, t: u64, extra: &str) -> String {
    format!(
        "Acct-Status-Type = {kind}\nUser-Name = \"{user}\"\nAcct-Session-Id = \"{sid}\"\n\
         NAS-IP-Address = 10.0.0.1\nFramed-IP-Address = {ip}\nEvent-Timestamp = {t}\n{extra}"
    )
}

#[test]
fn radclient_start_interim_stop_answer_whois_and_a_wrong_secret_does_nothing() {
    let (s, addr) = radius_server();
    let t0 = now_secs() - 30;
    for (kind, t, extra) in [
        ("Start", t0, ""),
        // radclient signs this one with a Message-Authenticator (RFC 3579) too.
        (
            "Interim-Update",
            t0 + 10,
            "Acct-Session-Time = 10\nMessage-Authenticator = 0x00\n",
        ),
        ("Stop", t0 + 20, "Acct-Session-Time = 20\n"),
    ] {
        let (ok, out) = radclient(
            addr,
            SECRET,
            &acct(kind, "alice", "S1", "100.64.0.10", t, extra),
        );
        assert!(ok, "radclient {kind}: {out}");
        assert!(out.contains("Accounting-Response"), "{out}");
    }
    // A NAS with the wrong secret: no answer, no record, counted.
    let before = s.committed();
    let (ok, out) = radclient(
        addr,
        "not-the-secret",
        &acct("Start", "mallory", "X1", "100.64.0.99", t0, ""),
    );
    assert!(!ok, "a wrong secret must get no response: {out}");
    wait_until(ARRIVAL_TIMEOUT, "the wrong secret to be counted", || {
        let n = s.metrics().sum(
            "pramaan_radius_dropped_total",
            &[("reason", "bad_authenticator")],
        );
        (n >= 1.0).then_some(())
    });
    assert_eq!(
        s.committed(),
        before,
        "nothing stored from the wrong secret"
    );

    let v = wait_for_holders(&s, "100.64.0.10", &rfc3339(t0 + 5), 1);
    assert_eq!(subscribers(&v), ["alice"], "{v}");
    // The binding is backed by the three stored packets.
    let evidence = v["matches"][0]["evidence"].as_array().unwrap().len();
    assert_eq!(evidence, 3, "{v}");
    // Which source made it, and each evidence record's sender (issue 26, item 5).
    let source = &v["matches"][0]["source"];
    assert_eq!(source["what"], "RADIUS accounting, NAS 10.0.0.1", "{v}");
    let records = source["records"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{v}");
    for r in records {
        assert_eq!(r["transport"], "udp", "{v}");
        assert!(
            r["peer"].as_str().unwrap().starts_with("radius:127.0.0.1:"),
            "{v}"
        );
    }
    let mut c = pramaan(s.dir.path());
    c.args([
        "whois",
        "100.64.0.10",
        "--at",
        &rfc3339(t0 + 5),
        "--purpose",
        PURPOSE,
        "--server",
        &s.url(),
    ]);
    let text = run(c, None, Duration::from_secs(60)).stdout();
    assert!(
        text.contains("source:     RADIUS accounting, NAS 10.0.0.1"),
        "{text}"
    );
    assert!(text.contains("over udp from radius:127.0.0.1:"), "{text}");
    assert_eq!(whois_cli(&s, "100.64.0.10", &rfc3339(t0 + 21))["count"], 0);
    assert_eq!(whois_cli(&s, "100.64.0.99", &rfc3339(t0 + 5))["count"], 0);
    // The stored records are the packets as received, found by their peer.
    let rows = s.sql("SELECT count(*) AS n FROM logs WHERE peer LIKE 'radius:%'");
    assert_eq!(rows[0]["n"], 3, "{rows:?}");

    // A NAS whose clock is 10 minutes fast: its stamp is not taken, the
    // arrival is (pramaan's clock), and the packet is counted.
    let fast = now_secs() + 600;
    let (ok, out) = radclient(
        addr,
        SECRET,
        &acct("Start", "dave", "D1", "100.64.0.11", fast, ""),
    );
    assert!(ok, "{out}");
    let arrived = now_secs();
    let v = wait_for_holders(&s, "100.64.0.11", &rfc3339(arrived + 2), 1);
    assert_eq!(subscribers(&v), ["dave"], "{v}");
    let start = v["matches"][0]["binding"]["start_ns"].as_i64().unwrap();
    assert!(
        start < (fast as i64 - 300) * 1_000_000_000,
        "the binding starts at the arrival, not at the NAS's stamp: {v}"
    );
    assert_eq!(
        s.metrics().sum("pramaan_radius_clock_skewed_total", &[]),
        1.0
    );
    assert!(!s.stderr().contains(SECRET), "the secret was logged");

    // The stored packets are found by address and user like any line.
    let hits = s.search_all_of(&[("ip", "100.64.0.10")]);
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits.iter().all(|h| h.str("format") == Some("radius")));
    assert_eq!(s.search_all_of(&[("user", "alice")]).len(), 3);
    // And `verify --deep` derives the same fields from the sealed packets.
    let mut s = s;
    s.stop();
    let mut c = pramaan(s.dir.path());
    c.arg("--data-dir")
        .arg(s.data_dir())
        .args(["verify", "--deep"]);
    let o = run(c, None, Duration::from_secs(120));
    assert!(o.success() && o.stdout().contains("OK"), "{o:?}");
}

#[test]
fn a_retransmission_is_answered_again_and_stored_once() {
    let (s, addr) = radius_server();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let attrs = vec![
        (attr::ACCT_STATUS_TYPE, status::START.to_be_bytes().to_vec()),
        (attr::USER_NAME, b"bob".to_vec()),
        (attr::ACCT_SESSION_ID, b"R1".to_vec()),
        (attr::NAS_IDENTIFIER, b"bng-1".to_vec()),
        (attr::FRAMED_IP_ADDRESS, vec![100, 64, 0, 20]),
        (
            attr::EVENT_TIMESTAMP,
            (now_secs() as u32).to_be_bytes().to_vec(),
        ),
    ];
    // With a Message-Authenticator, as RFC 3579 senders add it.
    let packet = accounting_request(42, &attrs, SECRET.as_bytes(), true).unwrap();
    let request = radius::decode(&packet).unwrap();
    let before = s.committed();
    let mut answers = Vec::new();
    for _ in 0..2 {
        sock.send_to(&packet, addr).unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = sock.recv_from(&mut buf).expect("an Accounting-Response");
        assert!(radius::response_ok(&buf[..n], &request, SECRET.as_bytes()));
        answers.push(buf[..n].to_vec());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(s.committed(), before + 1, "the copy is not stored again");
    // Malformed (an attribute of the wrong length) and a changed
    // Message-Authenticator: dropped and counted, no answer.
    let mut bad_ma = packet.clone();
    let n = bad_ma.len();
    bad_ma[n - 1] ^= 0xff;
    sock.send_to(&bad_ma, addr).unwrap();
    let mut short = accounting_request(7, &attrs[..3], SECRET.as_bytes(), false).unwrap();
    short[21] = 200;
    sock.send_to(&short, addr).unwrap();
    s.wait_for_metric(
        "pramaan_radius_dropped_total",
        &[("reason", "bad_message_authenticator")],
        1.0,
    );
    s.wait_for_metric(
        "pramaan_radius_dropped_total",
        &[("reason", "malformed")],
        1.0,
    );
    assert_eq!(s.committed(), before + 1);
    let v = wait_for_holders(&s, "100.64.0.20", &rfc3339(now_secs() + 1), 1);
    assert_eq!(subscribers(&v), ["bob"]);
    assert_eq!(v["matches"][0]["binding"]["detail"], "NAS bng-1", "{v}");
}

/// A free UDP port on loopback (bound, then let go).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A FreeRADIUS configuration directory that takes accounting from
/// radclient on `port` (secret `nas_secret`) and proxies it to pramaan.
fn freeradius_config(dir: &Path, port: u16, pramaan: SocketAddr, nas_secret: &str) {
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::create_dir_all(dir.join("log")).unwrap();
    std::fs::write(dir.join("dictionary"), "").unwrap();
    let conf = format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
raddbdir = {dir}
confdir = {dir}
modconfdir = {dir}/mods-config
logdir = {dir}/log
run_dir = {dir}/run
db_dir = {dir}
radacctdir = {dir}/radacct
libdir = /usr/lib/freeradius
pidfile = {dir}/run/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
    destination = stderr
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}
thread pool {{
    start_servers = 1
    max_servers = 4
    min_spare_servers = 1
    max_spare_servers = 2
}}
proxy_requests = yes
proxy server {{
    default_fallback = no
}}
home_server pramaan {{
    type = acct
    ipaddr = {pip}
    port = {pport}
    secret = {psecret}
    response_window = 20
    zombie_period = 40
    status_check = none
}}
home_server_pool pramaan_pool {{
    type = fail-over
    home_server = pramaan
}}
realm pramaan {{
    acct_pool = pramaan_pool
    nostrip
}}
client nas {{
    ipaddr = 127.0.0.1
    secret = {nas_secret}
}}
modules {{
    always ok {{
        rcode = ok
    }}
}}
server default {{
    listen {{
        type = acct
        ipaddr = 127.0.0.1
        port = {port}
    }}
    preacct {{
        update control {{
            &Proxy-To-Realm := "pramaan"
        }}
    }}
    accounting {{
        ok
    }}
}}
"#,
        dir = dir.display(),
        pip = pramaan.ip(),
        pport = pramaan.port(),
        psecret = SECRET,
    );
    std::fs::write(dir.join("radiusd.conf"), conf).unwrap();
}

/// FreeRADIUS in the foreground; killed when dropped.
struct FreeRadius(Child, std::path::PathBuf);

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn freeradius_proxies_a_nas_accounting_to_pramaan() {
    need("freeradius", "freeradius");
    let (s, addr) = radius_server();
    let dir = tempfile::tempdir().unwrap();
    let raddb = dir.path().join("raddb");
    let port = free_udp_port();
    freeradius_config(&raddb, port, addr, "nas-secret");
    let log = dir.path().join("freeradius.log");
    let child = Command::new("freeradius")
        .args(["-f", "-X", "-d"])
        .arg(&raddb)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("freeradius.err")).unwrap())
        .spawn()
        .expect("freeradius starts");
    let fr = FreeRadius(child, log.clone());
    let front: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let errors = dir.path().join("freeradius.err");
    let mut fr = fr;
    wait_until(Duration::from_secs(60), "FreeRADIUS to listen", || {
        if let Ok(Some(status)) = fr.0.try_wait() {
            panic!(
                "freeradius exited ({status}):\n{}\n{}",
                std::fs::read_to_string(&fr.1).unwrap_or_default(),
                std::fs::read_to_string(&errors).unwrap_or_default()
            );
        }
        std::fs::read_to_string(&fr.1)
            .ok()
            .filter(|t| t.contains("Ready to process requests"))
    });
    let t0 = now_secs() - 30;
    for (kind, user, t) in [("Start", "carol", t0), ("Stop", "carol", t0 + 20)] {
        let extra = if kind == "Stop" {
            "Acct-Session-Time = 20\n"
        } else {
            ""
        };
        let (ok, out) = radclient(
            front,
            "nas-secret",
            &acct(kind, user, "F1", "100.64.0.30", t, extra),
        );
        assert!(
            ok,
            "radclient through FreeRADIUS ({kind}): {out}\nFreeRADIUS:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let v = wait_for_holders(&s, "100.64.0.30", &rfc3339(t0 + 5), 1);
    assert_eq!(subscribers(&v), ["carol"], "{v}");
    // Both packets came to pramaan from FreeRADIUS (its proxy socket), stored as received.
    let rows = s.sql("SELECT count(*) AS n FROM logs WHERE peer LIKE 'radius:127.0.0.1:%'");
    assert_eq!(rows[0]["n"], 2, "{rows:?}");
    drop(fr);
}

/// One Start for `user` on `ip`, signed with `secret`, sent from `sock`;
/// the Accounting-Response if one came within `wait`.
fn send_start(
    sock: &UdpSocket,
    to: SocketAddr,
    secret: &str,
    user: &str,
    ip: [u8; 4],
    wait: Duration,
) -> Option<Vec<u8>> {
    let attrs = vec![
        (attr::ACCT_STATUS_TYPE, status::START.to_be_bytes().to_vec()),
        (attr::USER_NAME, user.as_bytes().to_vec()),
        (attr::ACCT_SESSION_ID, user.as_bytes().to_vec()),
        (attr::FRAMED_IP_ADDRESS, ip.to_vec()),
    ];
    let packet = accounting_request(1, &attrs, secret.as_bytes(), false).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(&packet, to).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let request = radius::decode(&packet).unwrap();
    assert!(radius::response_ok(&buf[..n], &request, secret.as_bytes()));
    Some(buf[..n].to_vec())
}

/// Per-client secrets from a file: the listed client is answered with its
/// own secret; with no default secret, any other address is an unknown
/// client (dropped, counted). `pramaan config` shows where the secret is,
/// never the secret.
#[test]
fn per_client_secrets_come_from_files_and_unknown_clients_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loopback.secret");
    std::fs::write(&file, "loopback-only-secret\n").unwrap();
    let clients = format!(
        "[{{ address = \"127.0.0.1\", secret_file = \"{}\" }}, {{ address = \"10.0.0.0/8\", secret_env = \"{SECRET_VAR}\" }}]",
        file.display()
    );
    let s = Server::start_with(&[
        ("PRAMAAN_RADIUS_LISTEN", "127.0.0.1:0"),
        ("PRAMAAN_RADIUS_CLIENTS", &clients),
        (SECRET_VAR, SECRET),
    ]);
    let ready: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.path().join("ready.json")).unwrap())
            .unwrap();
    let addr: SocketAddr = ready["radius"].as_str().unwrap().parse().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let long = Duration::from_secs(30);
    assert!(send_start(
        &sock,
        addr,
        "loopback-only-secret",
        "ira",
        [100, 64, 0, 40],
        long
    )
    .is_some());
    // 10.0.0.0/8's secret is not 127.0.0.1's.
    assert!(send_start(
        &sock,
        addr,
        SECRET,
        "joe",
        [100, 64, 0, 41],
        Duration::from_secs(2)
    )
    .is_none());
    s.wait_for_metric(
        "pramaan_radius_dropped_total",
        &[("reason", "bad_authenticator")],
        1.0,
    );
    // From 127.0.0.2 (no entry, no default secret): an unknown client.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    assert!(send_start(
        &other,
        addr,
        "loopback-only-secret",
        "kim",
        [100, 64, 0, 42],
        Duration::from_secs(2)
    )
    .is_none());
    s.wait_for_metric(
        "pramaan_radius_dropped_total",
        &[("reason", "unknown_client")],
        1.0,
    );
    let v = wait_for_holders(&s, "100.64.0.40", &rfc3339(now_secs() + 1), 1);
    assert_eq!(subscribers(&v), ["ira"]);

    let mut c = pramaan(dir.path());
    c.env("PRAMAAN_RADIUS_CLIENTS", &clients).arg("config");
    let o = run(c, None, Duration::from_secs(30));
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("loopback.secret"), "{}", o.stdout());
    assert!(
        !o.stdout().contains("loopback-only-secret"),
        "{}",
        o.stdout()
    );
    for log in [s.stderr(), o.stdout()] {
        assert!(!log.contains(SECRET) && !log.contains("loopback-only-secret"));
    }
}

/// `radius.listen` with a secret variable that is not set: `serve` does
/// not start, and says which key and which variable.
#[test]
fn a_missing_secret_stops_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = pramaan(dir.path());
    c.args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--http-listen", "127.0.0.1:0"])
        .env("PRAMAAN_CLOCK_ENABLED", "false")
        .env("PRAMAAN_ALERTS_ENABLED", "false")
        .env("PRAMAAN_RADIUS_LISTEN", "127.0.0.1:0")
        .env("PRAMAAN_RADIUS_SECRET_ENV", "RADIUS_E2E_UNSET_SECRET")
        .env_remove("RADIUS_E2E_UNSET_SECRET");
    let o = run(c, None, Duration::from_secs(60));
    assert!(!o.success(), "{o:?}");
    let err = o.stderr.clone();
    assert!(
        err.contains("radius.secret_file / radius.secret_env"),
        "{err}"
    );
    assert!(err.contains("RADIUS_E2E_UNSET_SECRET is not set"), "{err}");
}
