//! The NTP client and the monitor against real servers on loopback: Debian's
//! chronyd serving on 127.0.0.1 (`local stratum 8`, `-x`: it never touches
//! the system clock), a socket that never answers, tiny responders that
//! answer unsynchronised, with a kiss-o'-death, or with a wrong origin, and
//! a real vault for the per-source skew.
//!
//! Nothing here sends a packet anywhere but 127.0.0.1.

use pramaan_clock::client::{query, State};
use pramaan_clock::host::{host_sync, HostSync};
use pramaan_clock::packet::{Leap, NtpTimestamp, Packet, MODE_SERVER};
use pramaan_clock::skew::ZoneMap;
use pramaan_clock::{ClockOptions, Monitor};
use pramaan_core::{MemorySink, Transport};
use std::net::UdpSocket as StdUdp;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// chronyd serving NTP on 127.0.0.1:port, its command socket in its own
/// directory; killed on drop.
struct Chronyd {
    child: Child,
    port: u16,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    StdUdp::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port on loopback")
}

fn chronyd_path() -> &'static str {
    for p in ["/usr/sbin/chronyd", "/sbin/chronyd"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!(
        "chronyd is not installed: scripts/test installs Debian's chrony (apt-get install chrony)"
    );
}

fn start_chronyd() -> Chronyd {
    let dir = tempfile::tempdir().expect("temp dir");
    // chronyd wants its socket directory private to the user it runs as.
    let _ = std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    );
    let port = free_udp_port();
    let socket = dir.path().join("chronyd.sock");
    let conf = dir.path().join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "local stratum 8\nallow 127.0.0.1\nbindaddress 127.0.0.1\nport {port}\ncmdport 0\n\
             bindcmdaddress {sock}\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n",
            sock = socket.display(),
            d = dir.path().display()
        ),
    )
    .unwrap();
    // Run as the current user: as root chronyd would otherwise switch to
    // _chrony, which cannot use a directory root owns.
    let user = Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into());
    let log = std::fs::File::create(dir.path().join("chronyd.log")).unwrap();
    let child = Command::new(chronyd_path())
        .args(["-x", "-d", "-u", &user, "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start chronyd");
    Chronyd {
        child,
        port,
        socket,
        _dir: dir,
    }
}

/// Queries until chronyd answers (it needs a moment to start).
async fn wait_ok(server: &str) -> pramaan_clock::client::Sample {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = query(server, Duration::from_millis(500)).await;
        if s.state == State::Ok || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A responder that answers each request with `make(request)`.
async fn responder(make: impl Fn(&Packet) -> Vec<Vec<u8>> + Send + 'static) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if let Ok(req) = Packet::decode(&buf[..n]) {
                for d in make(&req) {
                    let _ = sock.send_to(&d, from).await;
                }
            }
        }
    });
    addr.to_string()
}

fn reply_to(req: &Packet, leap: Leap, stratum: u8, refid: [u8; 4]) -> Vec<u8> {
    let now = NtpTimestamp::from_unix_ns(pramaan_core::time::now_ns());
    Packet {
        leap,
        version: 4,
        mode: MODE_SERVER,
        stratum,
        poll: 6,
        precision: -20,
        root_delay: 0,
        root_dispersion: 0,
        reference_id: refid,
        reference_ts: now,
        origin_ts: req.transmit_ts,
        receive_ts: now,
        transmit_ts: now,
    }
    .encode()
    .to_vec()
}

#[tokio::test]
async fn chronyd_offset_matches_its_own_view() {
    let c = start_chronyd();
    let server = format!("127.0.0.1:{}", c.port);
    let s = wait_ok(&server).await;
    assert_eq!(s.state, State::Ok, "{s:?}");
    assert_eq!(s.stratum, Some(8), "local stratum 8");
    assert_eq!(s.refid.as_deref(), Some("127.127.1.1"));
    assert_eq!(s.leap, Some(Leap::NoWarning));
    // chronyd serves this very clock (-x, local reference): chrony's own
    // view of the offset is its "System time" field; ours must agree.
    let host = host_sync(
        "chronyc",
        Some(c.socket.to_str().unwrap()),
        Duration::from_secs(10),
    )
    .await;
    let HostSync::Chrony {
        synchronised,
        stratum,
        tracking,
        ..
    } = &host
    else {
        panic!("chronyc did not answer: {host:?}");
    };
    assert!(*synchronised);
    assert_eq!(*stratum, 8);
    let chrony_ms = tracking.system_time_s * 1000.0;
    // Best of several exchanges, as NTP clients do (a busy 2-core machine
    // can delay one datagram by milliseconds).
    let mut best = s;
    for _ in 0..8 {
        let s = query(&server, Duration::from_secs(2)).await;
        assert_eq!(s.state, State::Ok, "{s:?}");
        if s.delay_ns < best.delay_ns {
            best = s;
        }
    }
    let ours_ms = best.offset_ns.unwrap() as f64 / 1e6;
    let delay_ms = best.delay_ns.unwrap() as f64 / 1e6;
    eprintln!(
        "measured offset {ours_ms:.3} ms, delay {delay_ms:.3} ms; chrony's view {chrony_ms:.6} ms"
    );
    assert!(
        (ours_ms - chrony_ms).abs() <= delay_ms / 2.0 + 5.0,
        "offset {ours_ms} ms vs chrony's {chrony_ms} ms (delay {delay_ms} ms)"
    );
    assert!(delay_ms < 100.0, "loopback delay {delay_ms} ms");
}

#[tokio::test]
async fn silent_server_is_a_timeout() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = sock.local_addr().unwrap().to_string();
    let started = Instant::now();
    let s = query(&server, Duration::from_millis(400)).await;
    assert_eq!(s.state, State::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(s.offset_ns, None);
    drop(sock);
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = free_udp_port();
    let s = query(&format!("127.0.0.1:{port}"), Duration::from_millis(500)).await;
    assert!(
        matches!(s.state, State::Unreachable { .. } | State::Timeout),
        "{s:?}"
    );
}

#[tokio::test]
async fn unsynchronised_server() {
    let leap3 = responder(|r| vec![reply_to(r, Leap::Unsynchronised, 3, [10, 0, 0, 1])]).await;
    let s = query(&leap3, Duration::from_secs(2)).await;
    assert!(
        matches!(s.state, State::Unsynchronised { ref reason } if reason.contains("leap indicator 3")),
        "{s:?}"
    );
    assert_eq!(s.leap, Some(Leap::Unsynchronised));
    let s16 = responder(|r| vec![reply_to(r, Leap::NoWarning, 16, [0; 4])]).await;
    let s = query(&s16, Duration::from_secs(2)).await;
    assert!(
        matches!(s.state, State::Unsynchronised { ref reason } if reason.contains("stratum 16")),
        "{s:?}"
    );
    assert_eq!(s.stratum, Some(16));
}

#[tokio::test]
async fn kiss_of_death() {
    let kod = responder(|r| vec![reply_to(r, Leap::Unsynchronised, 0, *b"RATE")]).await;
    let s = query(&kod, Duration::from_secs(2)).await;
    assert_eq!(
        s.state,
        State::KissOfDeath {
            code: "RATE".into()
        }
    );
    assert_eq!(s.offset_ns, None);
}

#[tokio::test]
async fn spoofed_replies_are_ignored() {
    // First a reply with another origin (what an off-path spoofer sends),
    // then the genuine one: the client takes only the genuine one.
    let srv = responder(|r| {
        let mut fake = Packet::decode(&reply_to(r, Leap::NoWarning, 1, *b"GPS\0")).unwrap();
        fake.origin_ts = NtpTimestamp(r.transmit_ts.0 ^ 0xffff);
        fake.receive_ts = NtpTimestamp::from_unix_ns(0);
        vec![
            fake.encode().to_vec(),
            reply_to(r, Leap::NoWarning, 2, [192, 0, 2, 7]),
        ]
    })
    .await;
    let s = query(&srv, Duration::from_secs(2)).await;
    assert_eq!(s.state, State::Ok, "{s:?}");
    assert_eq!(s.refid.as_deref(), Some("192.0.2.7"));
    // Only spoofed replies: a bad reply, saying so.
    let only_fake = responder(|r| {
        let mut fake = Packet::decode(&reply_to(r, Leap::NoWarning, 1, *b"GPS\0")).unwrap();
        fake.origin_ts = NtpTimestamp(1);
        vec![fake.encode().to_vec()]
    })
    .await;
    let s = query(&only_fake, Duration::from_millis(500)).await;
    assert!(
        matches!(s.state, State::BadReply { ref reason } if reason.contains("none a reply")),
        "{s:?}"
    );
}

fn options(dir: &Path, servers: Vec<String>, chrony_sock: Option<String>) -> ClockOptions {
    ClockOptions {
        enabled: true,
        servers,
        interval: Duration::from_secs(300),
        timeout: Duration::from_millis(700),
        threshold: Duration::from_millis(100),
        skew_interval: Duration::from_secs(60),
        skew_window: Duration::from_secs(3600),
        zones: ZoneMap::parse("utc-box=UTC").unwrap(),
        db_path: dir.join("clock.db"),
        keep: Duration::from_secs(180 * 86_400),
        chronyc: "chronyc".into(),
        chronyc_socket: chrony_sock,
    }
}

#[tokio::test]
async fn a_round_is_stored_and_in_the_ledger() {
    let c = start_chronyd();
    let chrony = format!("127.0.0.1:{}", c.port);
    assert_eq!(wait_ok(&chrony).await.state, State::Ok);
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let kod = responder(|r| vec![reply_to(r, Leap::Unsynchronised, 0, *b"DENY")]).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(MemorySink::new());
    let servers = vec![
        chrony.clone(),
        silent.local_addr().unwrap().to_string(),
        kod.clone(),
    ];
    let m = Monitor::new(
        options(
            dir.path(),
            servers,
            Some(c.socket.to_string_lossy().into_owned()),
        ),
        sink.clone(),
    );
    let r = m.round().await;
    assert_eq!(r.samples.len(), 3);
    assert_eq!(r.samples[0].state, State::Ok, "{:?}", r.samples[0]);
    assert_eq!(r.samples[1].state, State::Timeout);
    assert_eq!(
        r.samples[2].state,
        State::KissOfDeath {
            code: "DENY".into()
        }
    );
    assert_eq!(r.host.state_name(), "synchronised");
    // One ledger record per sample, as JSON.
    let recs = sink.records();
    assert_eq!(recs.len(), 3);
    for (src, body) in &recs {
        assert_eq!(src, "pramaan:clock");
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["type"], "clock.sample");
        assert_eq!(v["host_sync"], "synchronised");
        assert!(v["at"].as_str().unwrap().ends_with('Z'));
    }
    let v: serde_json::Value = serde_json::from_slice(&recs[0].1).unwrap();
    assert_eq!(v["server"], chrony);
    assert_eq!(v["state"], "ok");
    assert_eq!(v["stratum"], 8);
    assert_eq!(v["refid"], "127.127.1.1");
    assert_eq!(v["leap"], "no_warning");
    assert!(v["offset_ms"].as_f64().unwrap().abs() < 100.0);
    assert!(v["delay_ms"].as_f64().is_some());
    assert_eq!(v["within_threshold"], true);
    let v: serde_json::Value = serde_json::from_slice(&recs[2].1).unwrap();
    assert_eq!(v["state"], "kiss_of_death");
    assert_eq!(v["detail"], "DENY");
    // The status shows the latest sample per server, and their ledger seqs.
    m.round().await;
    let st = m.status();
    assert_eq!(st.servers.len(), 3);
    assert_eq!(st.within_threshold, Some(true));
    let ok = st.servers.iter().find(|s| s.server == chrony).unwrap();
    assert_eq!(ok.state, "ok");
    assert_eq!(ok.ledger_seq, Some(3));
    assert!(ok.at.ist.ends_with("+05:30"));
    assert!(ok.at.utc.ends_with('Z'));
    assert!(st.host_sync.is_some());
    // clock.db holds the time series (two rounds), readable without the monitor.
    let offline = pramaan_clock::status_offline(m.options()).unwrap();
    assert_eq!(offline.servers, st.servers);
    let store = pramaan_clock::store::Store::open_read_only(&dir.path().join("clock.db")).unwrap();
    assert_eq!(store.count_samples().unwrap(), 6);
    let series = store.samples_since(0).unwrap();
    assert_eq!(series.len(), 6);
    assert_eq!(series[0].server, chrony);
    assert_eq!(series[1].state, "timeout");
    // Pruning by the retention period.
    let store = pramaan_clock::store::Store::open(&dir.path().join("clock.db")).unwrap();
    assert_eq!(store.prune(pramaan_core::time::now_ns() + 1).unwrap(), 6);
    drop(silent);
}

#[tokio::test]
async fn skew_per_source_from_a_real_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, workers) = pramaan_vault::Vault::open(pramaan_vault::VaultOptions::new(dir.path()))
        .await
        .unwrap();
    let now = pramaan_core::time::now_ns() / 1_000 * 1_000; // RFC 5424 stamps carry at most microseconds
    let at = |ns: i64, off: i32| pramaan_core::time::rfc3339_at(ns, off);
    let mut lines: Vec<bytes::Bytes> = Vec::new();
    for i in 0..5 {
        // In time (IST, with a zone).
        lines.push(
            format!("<13>1 {} good-host app - - - ok {i}", at(now, 19_800))
                .into_bytes()
                .into(),
        );
        // 30 s behind.
        lines.push(
            format!(
                "<13>1 {} slow-host app - - - late {i}",
                at(now - 30_000_000_000, 0)
            )
            .into_bytes()
            .into(),
        );
    }
    // A box that writes UTC without a zone (RFC 3164): right once read in UTC.
    let utc = jiff::Timestamp::from_nanosecond(now as i128)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC);
    lines.push(
        format!("<13>{} utc-box app: hello", utc.strftime("%b %e %H:%M:%S"))
            .into_bytes()
            .into(),
    );
    let r = vault
        .append(Transport::Tcp, Arc::from("127.0.0.1:5000"), lines)
        .await
        .unwrap();
    // pramaan's own records are not a source.
    vault
        .append(
            Transport::Internal,
            Arc::from("pramaan:clock"),
            vec![b"{}".to_vec().into()],
        )
        .await
        .unwrap();
    let m = Monitor::new(
        options(dir.path(), vec!["127.0.0.1:1".into()], None),
        Arc::new(MemorySink::new()),
    );
    let report = m.skew_pass(&vault).await.unwrap();
    let names: Vec<&str> = report.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, ["slow-host", "good-host", "utc-box"], "{report:?}");
    let slow = &report[0];
    assert!(slow.flagged);
    assert_eq!(slow.count, 5);
    assert_eq!(slow.first_seq, Some(r.first + 1));
    assert_eq!(slow.latest_seq, Some(r.first + 9));
    assert!((slow.median_ms - 30_000.0).abs() < 5_000.0, "{slow:?}");
    assert!(!report[1].flagged, "{:?}", report[1]);
    let ub = &report[2];
    assert!(!ub.flagged, "{ub:?}");
    assert_eq!(ub.zone_assumed, 1);
    assert_eq!(ub.zone.as_deref(), Some("+00:00"));
    // The next pass reads only what is new.
    vault
        .append(
            Transport::Tcp,
            Arc::from("127.0.0.1:5000"),
            vec![format!("<13>1 {} good-host app - - - more", at(now, 0))
                .into_bytes()
                .into()],
        )
        .await
        .unwrap();
    let report = m.skew_pass(&vault).await.unwrap();
    assert_eq!(
        report
            .iter()
            .find(|s| s.source == "good-host")
            .unwrap()
            .count,
        6
    );
    let st = m.status();
    assert_eq!(st.flagged_sources, 1);
    // `serve` spawns the monitor's loop: its future must be Send.
    fn assert_send<T: Send>(_: &T) {}
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let fut = Arc::new(m).run(vault.clone(), rx);
    assert_send(&fut);
    drop(fut);
    let mut v = vault;
    v.close();
    drop(v);
    tokio::task::spawn_blocking(move || workers.join())
        .await
        .unwrap();
}
