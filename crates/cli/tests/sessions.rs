//! Sessions derived from logs, end to end: FreeRADIUS accounting and OpenVPN
//! lines sent over syslog, and a generic JSON session event over HTTP, are
//! read by `serve`'s attribution feeder from the vault (from the session
//! sources configured in `attribution.sources`); `whois` then names the
//! holder with the sequence numbers of the very lines it came from.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

const PURPOSE: &str = "CERT-In order 12/2026";

fn whois(s: &Server, ip: &str, at: &str) -> Value {
    let r = s.get(
        "/api/v1/whois",
        &[("ip", ip), ("at", at), ("purpose", PURPOSE)],
    );
    assert_eq!(r.status, 200, "whois {ip} at {at}: {}", r.text());
    r.json()
}

/// Polls until the feeder has turned the lines into a binding for `ip` at `at`.
fn wait_for_holder(s: &Server, ip: &str, at: &str) -> Value {
    wait_until(
        Duration::from_secs(120),
        &format!("a holder of {ip} at {at}"),
        || {
            let a = whois(s, ip, at);
            (a["count"] == 1).then_some(a)
        },
    )
}

/// The sequence numbers of the log lines containing `text`.
fn seqs_of(s: &Server, text: &str) -> Vec<u64> {
    let mut v: Vec<u64> = s
        .search_all_of(&[("q", text)])
        .iter()
        .map(|h| h.seq)
        .collect();
    v.sort();
    v
}

fn evidence(answer: &Value) -> Vec<u64> {
    let mut v: Vec<u64> = answer["matches"][0]["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    v.sort();
    v
}

/// The session sources of this test: everything is sent from 127.0.0.1,
/// RADIUS as `radiusd`, OpenVPN as `openvpn`, the JSON event over HTTP.
const SOURCES: &str = r#"[{ peer = "127.0.0.1", app = "radiusd", parsers = ["radius"] }, { peer = "127.0.0.1", app = "openvpn", parsers = ["openvpn"] }, { peer = "127.0.0.1", parsers = ["json"] }]"#;

#[test]
fn sessions_in_the_logs_answer_whois_with_their_evidence() {
    let s = Server::start_with(&[("PRAMAAN_ATTRIBUTION_SOURCES", SOURCES)]);
    // 1735705800 is 2025-01-01 10:00 IST.
    let syslog = [
        r#"<134>1 2025-01-01T10:00:00+05:30 nas-1 radiusd - - - Acct-Status-Type=Start Event-Timestamp=1735705800 User-Name="alice" Acct-Session-Id="S1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10"#,
        r#"<134>1 2025-01-01T11:00:00+05:30 nas-1 radiusd - - - Acct-Status-Type=Stop Event-Timestamp=1735709400 User-Name="alice" Acct-Session-Id="S1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10 Acct-Session-Time=3600"#,
        "<30>1 2025-01-01T10:00:00+05:30 vpn-1 openvpn - - - bob/198.51.100.7:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=fd00::1000",
        "<30>1 2025-01-01T12:00:00+05:30 vpn-1 openvpn - - - bob/198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting",
    ];
    let mut bytes = syslog.join("\n").into_bytes();
    bytes.push(b'\n');
    s.tcp_send(&bytes);
    s.ingest_lines(&[
        r#"{"schema":"pramaan.session.v1","event":"start","ip":"100.64.1.2","port_start":1024,"port_end":2047,"subscriber":"CUST-0042","session":"s-981","at":"2025-01-01T10:00:00+05:30"}"#,
    ]);

    // RADIUS: alice held 100.64.0.10 from the Start to the Stop, shown by both lines.
    let a = wait_for_holder(&s, "100.64.0.10", "2025-01-01T10:30:00+05:30");
    assert_eq!(a["matches"][0]["subscriber"], "alice", "{a}");
    assert_eq!(evidence(&a), seqs_of(&s, "Acct-Session-Id=\"S1\""), "{a}");
    assert_eq!(seqs_of(&s, "Acct-Session-Id=\"S1\"").len(), 2);
    // The same instant written in UTC is the same answer.
    let utc = whois(&s, "100.64.0.10", "2025-01-01T05:00:00Z");
    assert_eq!(utc["matches"][0]["subscriber"], "alice", "{utc}");
    // After the Stop nobody held it: an explicit empty answer.
    let after = whois(&s, "100.64.0.10", "2025-01-01T11:00:01+05:30");
    assert_eq!(after["count"], 0, "{after}");
    assert_eq!(after["outcome"], "none", "{after}");

    // OpenVPN: the virtual address, from the connect to the disconnect.
    let b = wait_for_holder(&s, "10.8.0.6", "2025-01-01T11:59:00+05:30");
    assert_eq!(b["matches"][0]["subscriber"], "bob", "{b}");
    assert_eq!(evidence(&b), seqs_of(&s, "bob/198.51.100.7:51234"), "{b}");
    assert_eq!(
        whois(&s, "10.8.0.6", "2025-01-01T12:00:01+05:30")["count"],
        0
    );

    // The JSON event (no stop yet: open until `attribution.max_session`), for its port block only.
    let c = wait_for_holder(&s, "100.64.1.2", "2025-01-01T10:30:00+05:30");
    assert_eq!(c["matches"][0]["subscriber"], "CUST-0042", "{c}");
    assert_eq!(evidence(&c), seqs_of(&s, "s-981"), "{c}");
    let r = s.get(
        "/api/v1/whois",
        &[
            ("ip", "100.64.1.2"),
            ("port", "4000"),
            ("at", "2025-01-01T10:30:00+05:30"),
            ("purpose", PURPOSE),
        ],
    );
    assert_eq!(r.json()["count"], 0, "{}", r.text());
    // A Stop that never comes: closed by the maximum (7 days by default).
    let later = whois(&s, "100.64.1.2", "2025-01-08T10:30:01+05:30");
    assert_eq!(later["count"], 0, "{later}");

    // A purpose is mandatory.
    let r = s.get(
        "/api/v1/whois",
        &[("ip", "100.64.0.10"), ("at", "2025-01-01T10:30:00+05:30")],
    );
    assert_eq!(r.status, 400, "{}", r.text());
}
