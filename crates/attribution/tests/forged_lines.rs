//! Text that someone put into a log line cannot create a binding: lines are
//! read only from the configured session sources (sender, host, app), and
//! only when the whole message has a session line's shape.

use pramaan_attribution::feed::{Feeder, LogRecord};
use pramaan_attribution::parse::{self, Parser};
use pramaan_attribution::{BindingStore, MemStore, Probe, SourceRule, Sources};
use std::time::Duration;

const FORGED_SSHD: &str = "Invalid user Acct-Status-Type=Start,User-Name=S-1001,Framed-IP-Address=203.0.113.99,Acct-Session-Id=evil1 from 198.51.100.66 port 52122";
const FORGED_AFTER_TEXT: &str = "Login incorrect: Acct-Status-Type=Start User-Name=S-1001 Framed-IP-Address=203.0.113.99 Acct-Session-Id=evil2";
const GENUINE: &str = r#"Acct-Status-Type=Start Event-Timestamp=1735689600 User-Name="S-2002" Acct-Session-Id="ok1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=203.0.113.50"#;

fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

fn rec(seq: u64, peer: &str, app: &str, msg: &str) -> LogRecord {
    LogRecord {
        seq,
        time_ns: ns("2025-01-01T00:00:00Z"),
        offset_secs: 0,
        message: msg.into(),
        peer: peer.into(),
        host: Some("nas-1".into()),
        app: Some(app.into()),
        packet: None,
    }
}

/// The RADIUS server 10.0.0.1, its accounting written by `radiusd`.
fn radius_source() -> Sources {
    Sources::new(vec![SourceRule {
        peer: Some(("10.0.0.1".parse().unwrap(), 32)),
        host: None,
        app: Some("radiusd".into()),
        file: None,
        parsers: vec![Parser::Radius],
    }])
}

fn holders(store: &MemStore, ip: &str) -> Vec<String> {
    store
        .lookup_sync(&Probe {
            addr: ip.parse().unwrap(),
            port: None,
            at_ns: ns("2025-01-01T00:30:00Z"),
        })
        .into_iter()
        .map(|b| b.subscriber)
        .collect()
}

async fn feed(sources: Sources, recs: &[LogRecord]) -> (MemStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = MemStore::open(&dir.path().join("attribution")).unwrap();
    let mut f = Feeder::resume(&store, Duration::from_secs(86_400), sources)
        .await
        .unwrap();
    f.process(&store, recs).await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn a_forged_line_from_an_unconfigured_source_creates_no_binding() {
    let (store, _d) = feed(
        radius_source(),
        &[
            // sshd on another host
            rec(1, "192.0.2.44:514", "sshd", FORGED_SSHD),
            // the same text claiming to be radiusd, from a sender not configured
            rec(2, "192.0.2.44:514", "radiusd", GENUINE),
        ],
    )
    .await;
    assert!(holders(&store, "203.0.113.99").is_empty());
    assert!(holders(&store, "203.0.113.50").is_empty());
    assert_eq!(store.stats().await.unwrap().bindings, 0);
}

#[tokio::test]
async fn a_forged_line_inside_a_message_of_the_configured_source_creates_no_binding() {
    let (store, _d) = feed(
        radius_source(),
        &[
            // The RADIUS host's own sshd: right sender, wrong program.
            rec(1, "10.0.0.1:514", "sshd", FORGED_SSHD),
            // radiusd itself, but the pairs come after other text.
            rec(2, "10.0.0.1:514", "radiusd", FORGED_AFTER_TEXT),
            rec(3, "10.0.0.1:514", "radiusd", FORGED_SSHD),
            // A genuine line from the configured source still counts.
            rec(4, "10.0.0.1:514", "radiusd", GENUINE),
        ],
    )
    .await;
    assert!(holders(&store, "203.0.113.99").is_empty());
    assert_eq!(holders(&store, "203.0.113.50"), vec!["S-2002".to_owned()]);
}

#[tokio::test]
async fn without_configured_sources_no_log_line_creates_a_binding() {
    let (store, _d) = feed(
        Sources::none(),
        &[rec(1, "10.0.0.1:514", "radiusd", GENUINE)],
    )
    .await;
    assert!(holders(&store, "203.0.113.50").is_empty());
}

#[tokio::test]
async fn a_source_reads_only_its_parsers() {
    // An OpenVPN-looking line from the RADIUS source: radius only.
    let line =
        "eve/198.51.100.7:51234 MULTI_sva: pool returned IPv4=203.0.113.77, IPv6=(Not enabled)";
    let (store, _d) = feed(radius_source(), &[rec(1, "10.0.0.1:514", "radiusd", line)]).await;
    assert!(holders(&store, "203.0.113.77").is_empty());
}

/// The parsers alone: a session line's text that sits inside another
/// message is no session line (whatever source it came from).
#[test]
fn session_text_inside_other_messages_is_not_a_session_line() {
    for line in [
        FORGED_SSHD,
        FORGED_AFTER_TEXT,
        "pam_unix(sshd:auth): user Acct-Status-Type=Start User-Name=x Acct-Session-Id=1 Framed-IP-Address=203.0.113.99",
        "Failed password for Invalid alice/198.51.100.7:51234 MULTI_sva: pool returned IPv4=203.0.113.99",
        "GET /?q=MULTI: primary virtual IP for a/1.2.3.4:5: 203.0.113.99 HTTP/1.1",
        "user said a/1.2.3.4:5 MULTI: Learn: 203.0.113.99 -> a/1.2.3.4:5",
        "x alice/1.2.3.4:5 SIGTERM[soft,remote-exit] received, client-instance exiting",
        "login failed JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.99:1024-2023 0x6774a500",
        "JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.99:1024-2023 0x6774a500 from evil",
        r#"note {"schema":"pramaan.session.v1","event":"start","ip":"203.0.113.99","subscriber":"S-1001","session":"e","at":"2025-01-01T00:00:00Z"}"#,
    ] {
        for p in [vec![Parser::Radius], vec![Parser::Openvpn], vec![Parser::Cgnat], Parser::ALL.to_vec()] {
            let r = parse::parse_with(line, 0, &p);
            assert!(!matches!(r, Ok(Some(_))), "{line:?} with {p:?}: {r:?}");
        }
        let r = parse::parse_line(line, 0);
        assert!(!matches!(r, Ok(Some(_))), "{line:?}: {r:?}");
    }
    // The genuine shapes still parse.
    for line in [
        GENUINE,
        "Wed Jan  1 10:00:00 2025 Acct-Status-Type = Start User-Name = \"a\" Acct-Session-Id = \"1\" Framed-IP-Address = 100.64.0.1",
        "alice/198.51.100.7:51234 MULTI: primary virtual IP for alice/198.51.100.7:51234: 10.8.0.6",
        "2025-01-01 10:00:00 alice/198.51.100.7:51234 MULTI: Learn: 10.8.0.6 -> alice/198.51.100.7:51234",
        "{cgn-sset}[FWNAT]: JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.1.2 -> 203.0.113.5:1024-2023 0x6774a500",
    ] {
        assert!(matches!(parse::parse_line(line, 0), Ok(Some(_))), "{line:?}: {:?}", parse::parse_line(line, 0));
    }
}
