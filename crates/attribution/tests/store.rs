//! The same suite against both stores: the embedded one (in a temporary
//! directory) and PostgreSQL (the real server on 127.0.0.1:5432, database
//! `test`, one schema per test).

use pramaan_attribution::feed::{Feeder, LogRecord};
use pramaan_attribution::index::Builder;
use pramaan_attribution::parse::Parser;
use pramaan_attribution::{
    whois, Binding, BindingStore, Kind, MemStore, Net, Outcome, PgStore, Probe,
};
use pramaan_attribution::{SourceRule, Sources};
use pramaan_core::MemorySink;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const PG_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

fn b(net: &str, lo: u16, hi: u16, start: &str, end: &str, sub: &str, sess: &str) -> Binding {
    Binding {
        net: Net::parse(net).unwrap(),
        port_lo: lo,
        port_hi: hi,
        start_ns: ns(start),
        end_ns: ns(end),
        open: false,
        subscriber: sub.into(),
        session: sess.into(),
        kind: Kind::Static,
        detail: String::new(),
        evidence: vec![],
        key: None,
    }
}

fn probe(ip: &str, port: Option<u16>, at: &str) -> Probe {
    Probe {
        addr: ip.parse().unwrap(),
        port,
        at_ns: ns(at),
    }
}

struct Env {
    store: Box<dyn BindingStore>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<String>,
}

static SCHEMA_NO: AtomicU32 = AtomicU32::new(0);

async fn envs(test: &str) -> Vec<Env> {
    let dir = tempfile::tempdir().unwrap();
    let mem = MemStore::open(&dir.path().join("attribution")).unwrap();
    let schema = format!(
        "attr_{}_{}_{}",
        test,
        std::process::id(),
        SCHEMA_NO.fetch_add(1, Ordering::SeqCst)
    );
    let pg = PgStore::connect(PG_URL, &schema)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (user postgres, db test)");
    vec![
        Env {
            store: Box::new(mem),
            _dir: Some(dir),
            pg: None,
        },
        Env {
            store: Box::new(pg),
            _dir: None,
            pg: Some(schema),
        },
    ]
}

async fn cleanup(envs: Vec<Env>) {
    for e in envs {
        if let Some(s) = e.pg {
            let p = PgStore::connect(PG_URL, &s).await.unwrap();
            p.drop_schema().await.unwrap();
        }
    }
}

async fn sessions(store: &dyn BindingStore, p: Probe) -> Vec<String> {
    store
        .lookup(p)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.session)
        .collect()
}

#[tokio::test]
async fn port_block_edges_and_half_open_times() {
    let envs = envs("ports").await;
    for e in &envs {
        let s = &*e.store;
        s.apply(
            vec![
                b(
                    "203.0.113.5",
                    1024,
                    2023,
                    "2025-01-01T00:00:00Z",
                    "2025-01-01T01:00:00Z",
                    "A",
                    "a1",
                ),
                b(
                    "203.0.113.5",
                    2024,
                    3023,
                    "2025-01-01T00:00:00Z",
                    "2025-01-01T02:00:00Z",
                    "B",
                    "b1",
                ),
                b(
                    "203.0.113.5",
                    1024,
                    2023,
                    "2025-01-01T01:02:00Z",
                    "2025-01-01T03:00:00Z",
                    "C",
                    "c1",
                ),
            ],
            None,
        )
        .await
        .unwrap();
        // start inclusive
        assert_eq!(
            sessions(s, probe("203.0.113.5", Some(1024), "2025-01-01T00:00:00Z")).await,
            ["a1"]
        );
        // last port of the block (inclusive), first of the next
        assert_eq!(
            sessions(s, probe("203.0.113.5", Some(2023), "2025-01-01T00:30:00Z")).await,
            ["a1"]
        );
        assert_eq!(
            sessions(s, probe("203.0.113.5", Some(2024), "2025-01-01T00:30:00Z")).await,
            ["b1"]
        );
        // a probe at the end is a miss (end exclusive); one nanosecond before is a hit
        assert!(
            sessions(s, probe("203.0.113.5", Some(1500), "2025-01-01T01:00:00Z"))
                .await
                .is_empty()
        );
        let mut p = probe("203.0.113.5", Some(1500), "2025-01-01T01:00:00Z");
        p.at_ns -= 1;
        assert_eq!(sessions(s, p).await, ["a1"]);
        // port outside every block
        assert!(
            sessions(s, probe("203.0.113.5", Some(80), "2025-01-01T00:30:00Z"))
                .await
                .is_empty()
        );
        assert!(
            sessions(s, probe("203.0.113.5", Some(65535), "2025-01-01T00:30:00Z"))
                .await
                .is_empty()
        );
        // no port: shared NAT, several answers
        let mut all = sessions(s, probe("203.0.113.5", None, "2025-01-01T00:30:00Z")).await;
        all.sort();
        assert_eq!(all, ["a1", "b1"]);
        // the next holder of the block
        assert_eq!(
            sessions(s, probe("203.0.113.5", Some(1024), "2025-01-01T01:02:00Z")).await,
            ["c1"]
        );
        // unknown address
        assert!(
            sessions(s, probe("203.0.113.6", Some(1024), "2025-01-01T00:30:00Z"))
                .await
                .is_empty()
        );
    }
    cleanup(envs).await;
}

#[tokio::test]
async fn ipv6_prefixes_and_times_at_any_offset() {
    let envs = envs("v6").await;
    for e in &envs {
        let s = &*e.store;
        s.apply(
            vec![
                b(
                    "2001:db8:7f3a:12c9::/64",
                    0,
                    65535,
                    "2025-03-01T10:00:00+05:30",
                    "2025-03-01T12:00:00+05:30",
                    "V",
                    "v1",
                ),
                b(
                    "2001:db8:100::/48",
                    0,
                    65535,
                    "2025-01-01T00:00:00Z",
                    "2026-01-01T00:00:00Z",
                    "ORG",
                    "static-48",
                ),
                b(
                    "192.0.2.0/28",
                    0,
                    65535,
                    "2025-01-01T00:00:00Z",
                    "2026-01-01T00:00:00Z",
                    "ORG4",
                    "static-28",
                ),
            ],
            None,
        )
        .await
        .unwrap();
        // an address inside the /64, at the start given in UTC
        assert_eq!(
            sessions(
                s,
                probe(
                    "2001:db8:7f3a:12c9:dead:beef:1:2",
                    None,
                    "2025-03-01T04:30:00Z"
                )
            )
            .await,
            ["v1"]
        );
        // the same instant in other offsets
        assert_eq!(
            sessions(
                s,
                probe(
                    "2001:db8:7f3a:12c9::1",
                    Some(443),
                    "2025-03-01T00:30:00-04:00"
                )
            )
            .await,
            ["v1"]
        );
        assert_eq!(
            sessions(
                s,
                probe(
                    "2001:db8:7f3a:12c9::1",
                    None,
                    "2025-03-01T11:59:59.999+05:30"
                )
            )
            .await,
            ["v1"]
        );
        assert!(sessions(
            s,
            probe("2001:db8:7f3a:12c9::1", None, "2025-03-01T12:00:00+05:30")
        )
        .await
        .is_empty());
        assert!(sessions(
            s,
            probe("2001:db8:7f3a:12ca::1", None, "2025-03-01T11:00:00+05:30")
        )
        .await
        .is_empty());
        // a /48 static allotment covers every /64 in it
        assert_eq!(
            sessions(
                s,
                probe("2001:db8:100:ffff::9", None, "2025-06-01T00:00:00Z")
            )
            .await,
            ["static-48"]
        );
        assert!(
            sessions(s, probe("2001:db8:101::9", None, "2025-06-01T00:00:00Z"))
                .await
                .is_empty()
        );
        // an IPv4 prefix
        assert_eq!(
            sessions(s, probe("192.0.2.15", Some(25), "2025-06-01T00:00:00Z")).await,
            ["static-28"]
        );
        assert!(
            sessions(s, probe("192.0.2.16", Some(25), "2025-06-01T00:00:00Z"))
                .await
                .is_empty()
        );
    }
    cleanup(envs).await;
}

fn rec(seq: u64, at: &str, msg: &str) -> LogRecord {
    LogRecord {
        seq,
        time_ns: ns(at),
        offset_secs: 19800,
        message: msg.into(),
        peer: "10.0.0.1:40000".into(),
        host: Some("nas-1".into()),
        app: Some("sessiond".into()),
        packet: None,
    }
}

/// The session sources of these tests: every parser for the sender 10.0.0.1.
fn sources() -> Sources {
    Sources::new(vec![SourceRule {
        peer: Some(("10.0.0.1".parse().unwrap(), 32)),
        host: None,
        app: None,
        file: None,
        parsers: Parser::ALL.to_vec(),
    }])
}

#[tokio::test]
async fn overlapping_and_unterminated_sessions_from_logs() {
    let envs = envs("sessions").await;
    for e in &envs {
        let s = &*e.store;
        let mut f = Feeder::resume(s, Duration::from_secs(7 * 86400), sources())
            .await
            .unwrap();
        let recs = vec![
            // alice starts on 100.64.0.10, her Stop never comes...
            rec(
                10,
                "2025-01-01T00:00:00Z",
                r#"Acct-Status-Type=Start Event-Timestamp=1735689600 User-Name="alice" Acct-Session-Id="S1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10"#,
            ),
            rec(
                11,
                "2025-01-01T00:05:00Z",
                r#"Acct-Status-Type=Interim-Update Event-Timestamp=1735689900 User-Name="alice" Acct-Session-Id="S1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10"#,
            ),
            // ...bob's Start on the same address closes it at 01:00
            rec(
                12,
                "2025-01-01T01:00:00Z",
                r#"Acct-Status-Type=Start Event-Timestamp=1735693200 User-Name="bob" Acct-Session-Id="S2" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10"#,
            ),
            // carol: a normal session on another address, with an IPv6 prefix too
            rec(
                13,
                "2025-01-01T00:10:00Z",
                r#"Acct-Status-Type=Start Event-Timestamp=1735690200 User-Name="carol" Acct-Session-Id="S3" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.11 Delegated-IPv6-Prefix=2001:db8:c::/56"#,
            ),
            rec(
                14,
                "2025-01-01T00:40:00Z",
                r#"Acct-Status-Type=Stop Event-Timestamp=1735692000 User-Name="carol" Acct-Session-Id="S3" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.11 Acct-Session-Time=1800"#,
            ),
            rec(15, "2025-01-01T00:00:00Z", "some unrelated line"),
        ];
        let r = f.process(s, &recs).await.unwrap();
        assert_eq!(r.events, 5);
        let alice = s
            .lookup(probe("100.64.0.10", None, "2025-01-01T00:59:59Z"))
            .await
            .unwrap();
        assert_eq!(alice.len(), 1);
        assert_eq!(alice[0].subscriber, "alice");
        assert_eq!(alice[0].end_ns, ns("2025-01-01T01:00:00Z"));
        assert_eq!(alice[0].evidence, vec![10, 11]);
        let bob = s
            .lookup(probe("100.64.0.10", None, "2025-01-01T01:00:00Z"))
            .await
            .unwrap();
        assert_eq!(bob.len(), 1);
        assert_eq!(bob[0].subscriber, "bob");
        assert!(bob[0].open, "bob's session is still open");
        // bob is still open: answered up to max_session after his start, not after
        assert_eq!(
            s.lookup(probe("100.64.0.10", None, "2025-01-08T00:59:59Z"))
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(s
            .lookup(probe("100.64.0.10", None, "2025-01-08T01:00:00Z"))
            .await
            .unwrap()
            .is_empty());
        let carol = s
            .lookup(probe("2001:db8:c:ff::1", None, "2025-01-01T06:00:00+05:30"))
            .await
            .unwrap();
        assert_eq!(carol.len(), 1);
        assert_eq!(carol[0].subscriber, "carol");
        assert_eq!(carol[0].evidence, vec![13, 14]);
        assert!(s
            .lookup(probe("100.64.0.11", None, "2025-01-01T00:40:00Z"))
            .await
            .unwrap()
            .is_empty());

        // A restart: the progress and bob's open session come back; nothing is repeated.
        let mut f2 = Feeder::resume(s, Duration::from_secs(7 * 86400), sources())
            .await
            .unwrap();
        assert_eq!(f2.next_seq(), 16);
        assert_eq!(f2.tracker.open_count(), 1);
        let again = f2.process(s, &recs).await.unwrap();
        assert_eq!(again.records, 0, "already processed records are skipped");
        // bob's Stop after the restart closes the restored session
        let r = f2
            .process(
                s,
                &[rec(20, "2025-01-01T02:00:00Z", r#"Acct-Status-Type=Stop Event-Timestamp=1735696800 User-Name="bob" Acct-Session-Id="S2" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.0.10"#)],
            )
            .await
            .unwrap();
        assert_eq!(r.bindings, 1);
        let bob = s
            .lookup(probe("100.64.0.10", None, "2025-01-01T01:30:00Z"))
            .await
            .unwrap();
        assert_eq!(bob.len(), 1);
        assert!(!bob[0].open);
        assert_eq!(bob[0].evidence, vec![12, 20]);
        assert!(s
            .lookup(probe("100.64.0.10", None, "2025-01-01T02:00:00Z"))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.feed_state().await.unwrap().last_seq, Some(20));
    }
    cleanup(envs).await;
}

#[tokio::test]
async fn openvpn_json_and_cgnat_through_the_feeder() {
    let envs = envs("sources").await;
    for e in &envs {
        let s = &*e.store;
        let mut f = Feeder::resume(s, Duration::from_secs(86400), sources())
            .await
            .unwrap();
        let recs = vec![
            rec(1, "2025-02-01T10:00:00+05:30", "2025-02-01 10:00:00 dave/198.51.100.7:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=(Not enabled)"),
            rec(2, "2025-02-01T11:00:00+05:30", "dave/198.51.100.7:51234 SIGTERM[soft,remote-exit] received, client-instance exiting"),
            rec(3, "2025-02-01T00:00:00Z", r#"{"schema":"pramaan.session.v1","event":"start","ip":"100.64.5.5","subscriber":"erin","session":"j1","at":"2025-02-01T00:00:00Z"}"#),
            rec(4, "2025-02-01T00:01:00Z", "JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.5.5 -> 203.0.113.50:4096-5119 0x679d6400"),
            rec(5, "2025-02-01T01:00:00Z", "JSERVICES_NAT_PORT_BLOCK_RELEASE: 100.64.5.5 -> 203.0.113.50:4096-5119 0x679d7210"),
        ];
        f.process(s, &recs).await.unwrap();
        let d = s
            .lookup(probe("10.8.0.6", None, "2025-02-01T04:45:00Z"))
            .await
            .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].subscriber.as_str(), d[0].kind),
            ("dave", Kind::Openvpn)
        );
        assert_eq!(d[0].detail, "real address 198.51.100.7:51234");
        assert!(s
            .lookup(probe("10.8.0.6", None, "2025-02-01T05:30:00Z"))
            .await
            .unwrap()
            .is_empty());
        // CGNAT: the public address and port resolve through the inside address to erin
        let sink = MemorySink::new();
        let a = whois(
            s,
            &sink,
            "tester",
            "203.0.113.50".parse().unwrap(),
            Some(5119),
            ns("2025-02-01T00:30:00Z"),
            "test order 1",
        )
        .await
        .unwrap();
        assert_eq!(a.outcome, Outcome::One);
        assert_eq!(a.matches[0].subscriber, "erin");
        assert_eq!(a.matches[0].evidence, vec![4, 5, 3]);
        let a = whois(
            s,
            &sink,
            "tester",
            "203.0.113.50".parse().unwrap(),
            Some(5120),
            ns("2025-02-01T00:30:00Z"),
            "test order 1",
        )
        .await
        .unwrap();
        assert_eq!(a.outcome, Outcome::None);
    }
    cleanup(envs).await;
}

#[tokio::test]
async fn whois_needs_a_purpose_and_audits_every_lookup() {
    let envs = envs("audit").await;
    for e in &envs {
        let s = &*e.store;
        s.apply(
            vec![
                b(
                    "203.0.113.9",
                    1024,
                    2023,
                    "2025-01-01T00:00:00Z",
                    "2025-01-02T00:00:00Z",
                    "A",
                    "a",
                ),
                b(
                    "203.0.113.9",
                    2024,
                    3023,
                    "2025-01-01T00:00:00Z",
                    "2025-01-02T00:00:00Z",
                    "B",
                    "b",
                ),
            ],
            None,
        )
        .await
        .unwrap();
        let sink = MemorySink::new();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let t = ns("2025-01-01T12:00:00+05:30");
        let err = whois(s, &sink, "x", ip, None, t, "  ").await.unwrap_err();
        assert!(err.to_string().contains("purpose"), "{err}");
        assert!(sink.records().is_empty(), "a refused lookup reads nothing");
        let several = whois(s, &sink, "officer", ip, None, t, "CERT-In direction 42")
            .await
            .unwrap();
        assert_eq!(several.outcome, Outcome::Several);
        assert_eq!(several.count, 2);
        let one = whois(
            s,
            &sink,
            "officer",
            ip,
            Some(2024),
            t,
            "CERT-In direction 42",
        )
        .await
        .unwrap();
        assert_eq!(one.outcome, Outcome::One);
        assert_eq!(one.matches[0].subscriber, "B");
        let none = whois(s, &sink, "officer", ip, Some(1), t, "CERT-In direction 42")
            .await
            .unwrap();
        assert_eq!(none.outcome, Outcome::None);
        let recs = sink.records();
        assert_eq!(recs.len(), 3);
        let v: serde_json::Value = serde_json::from_slice(&recs[0].1).unwrap();
        assert_eq!(recs[0].0, "pramaan:audit");
        assert_eq!(v["action"], "whois");
        assert_eq!(v["actor"], "officer");
        assert_eq!(v["purpose"], "CERT-In direction 42");
        assert_eq!(v["answers"], 2);
        assert_eq!(v["query"]["at"], "2025-01-01T06:30:00Z");
        assert_eq!(one.audit_seq, 1);
    }
    cleanup(envs).await;
}

#[tokio::test]
async fn bulk_import_is_found_and_survives_reopen() {
    let envs = envs("import").await;
    for e in &envs {
        let s = &*e.store;
        let mut bld = Builder::new();
        bld.push(&b(
            "203.0.112.1",
            1024,
            2023,
            "2025-01-01T00:00:00Z",
            "2025-01-01T05:00:00Z",
            "7",
            "1",
        ));
        bld.push(&b(
            "2001:db8:1:2::/64",
            0,
            65535,
            "2025-01-01T00:00:00Z",
            "2025-01-01T05:00:00Z",
            "8",
            "2",
        ));
        assert_eq!(s.import(bld.finish()).await.unwrap(), 2);
        assert_eq!(
            sessions(s, probe("203.0.112.1", Some(1024), "2025-01-01T04:59:59Z")).await,
            ["1"]
        );
        assert_eq!(
            sessions(
                s,
                probe("2001:db8:1:2:3::4", Some(0), "2025-01-01T00:00:00Z")
            )
            .await,
            ["2"]
        );
        assert_eq!(s.stats().await.unwrap().bindings, 2);
    }
    // the embedded store, reopened, has the same answers
    let dir = envs[0]._dir.as_ref().unwrap().path().join("attribution");
    let re = MemStore::open(&dir).unwrap();
    assert_eq!(
        re.lookup_sync(&probe("203.0.112.1", Some(2023), "2025-01-01T00:00:00Z"))
            .len(),
        1
    );
    cleanup(envs).await;
}

/// An order's bundle carries a subscriber's bindings in its window: from a
/// bulk import, from applied sessions and still-open ones, in both stores.
#[tokio::test]
async fn a_subscribers_bindings_in_a_window() {
    let envs = envs("of_sub").await;
    for e in &envs {
        let s = &*e.store;
        let mut bld = Builder::new();
        bld.push(&b(
            "203.0.113.9",
            0,
            65535,
            "2025-01-01T00:00:00Z",
            "2025-01-02T00:00:00Z",
            "asha",
            "imp",
        ));
        bld.push(&b(
            "203.0.113.10",
            0,
            65535,
            "2025-01-01T00:00:00Z",
            "2025-01-02T00:00:00Z",
            "ravi",
            "other",
        ));
        s.import(bld.finish()).await.unwrap();
        let mut open = b(
            "2001:db8:a::/56",
            0,
            65535,
            "2025-01-03T00:00:00Z",
            "2025-01-10T00:00:00Z",
            "asha",
            "open",
        );
        open.open = true;
        open.key = Some("k-open".into());
        let mut closed = b(
            "100.64.0.7",
            1024,
            2047,
            "2025-01-02T10:00:00Z",
            "2025-01-02T11:00:00Z",
            "asha",
            "closed",
        );
        closed.key = Some("k-closed".into());
        s.apply(vec![closed, open], Some(9)).await.unwrap();

        let of = |from: &str, to: &str| {
            let (from, to) = (ns(from), ns(to));
            async move {
                s.of_subscriber("asha", from, to)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|b| b.session)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            of("2024-12-31T00:00:00Z", "2025-02-01T00:00:00Z").await,
            ["imp", "closed", "open"]
        );
        // Half-open on both sides: a binding ending at `from` or starting at `to` is out.
        assert_eq!(
            of("2025-01-02T00:00:00Z", "2025-01-02T10:00:00Z").await,
            Vec::<String>::new()
        );
        assert_eq!(
            of("2025-01-02T10:59:59Z", "2025-01-03T00:00:01Z").await,
            ["closed", "open"]
        );
        assert!(s
            .of_subscriber("nobody", 0, i64::MAX)
            .await
            .unwrap()
            .is_empty());
    }
    cleanup(envs).await;
}

/// Records after the last log line (pramaan's own, never fed) are not read
/// again: the progress moves past them, and survives a resume.
#[tokio::test]
async fn the_feeder_moves_past_what_it_read_even_without_log_lines() {
    let envs = envs("through").await;
    for e in &envs {
        let s = &*e.store;
        let mut f = Feeder::resume(s, Duration::from_secs(86400), sources())
            .await
            .unwrap();
        let line = rec(
            3,
            "2025-01-01T00:00:00Z",
            r#"Acct-Status-Type=Start Event-Timestamp=1735689600 User-Name="u" Acct-Session-Id="T1" NAS-IP-Address=10.0.0.1 Framed-IP-Address=100.64.9.9"#,
        );
        f.process_through(s, &[line], Some(9)).await.unwrap();
        assert_eq!(f.next_seq(), 10);
        f.process_through(s, &[], Some(15)).await.unwrap();
        assert_eq!(f.next_seq(), 16);
        let again = Feeder::resume(s, Duration::from_secs(86400), sources())
            .await
            .unwrap();
        assert_eq!(again.next_seq(), 16);
        assert_eq!(
            sessions(s, probe("100.64.9.9", None, "2025-01-01T00:00:01Z"))
                .await
                .len(),
            1
        );
    }
    cleanup(envs).await;
}

/// A line of a followed file, as `files.paths` stores it.
fn file_rec(seq: u64, at_unix: i64, path: &str, line: &str) -> LogRecord {
    LogRecord {
        seq,
        time_ns: at_unix * 1_000_000_000,
        offset_secs: 0,
        message: line.into(),
        peer: format!("file:{path}"),
        host: None,
        app: None,
        packet: None,
    }
}

#[tokio::test]
async fn dhcp_leases_renewed_released_expired_and_from_two_servers() {
    const KEA: &str = "/var/lib/kea/kea-leases4.csv";
    let t0: i64 = 1_740_787_200; // 2025-03-01T00:00:00Z
    let at = |s: i64| (t0 + s) * 1_000_000_000;
    let holders = |v: Vec<Binding>| {
        let mut h: Vec<String> = v.into_iter().map(|b| b.subscriber).collect();
        h.sort();
        h
    };
    let src = Sources::new(vec![
        SourceRule {
            peer: None,
            host: None,
            app: None,
            file: Some("/var/lib/kea/kea-leases*.csv".into()),
            parsers: vec![Parser::Dhcp],
        },
        sources_rule(),
    ]);
    let envs = envs("dhcp").await;
    for e in &envs {
        let s = &*e.store;
        let mut f = Feeder::resume(s, Duration::from_secs(86400), src.clone())
            .await
            .unwrap();
        let row = |valid: i64, expire: i64, mac: &str| {
            format!("10.77.0.100,{mac},,{valid},{expire},7,0,0,host-{mac},0,")
        };
        let recs = vec![
            file_rec(1, t0, KEA, "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context"),
            // A at t0 for an hour, renewed at t0+30min.
            file_rec(2, t0, KEA, &row(3600, t0 + 3600, "aa:aa:aa:aa:aa:aa")),
            file_rec(3, t0 + 1800, KEA, &row(3600, t0 + 5400, "aa:aa:aa:aa:aa:aa")),
            // A second server (dnsmasq on dhcp-2) leases the same address to B.
            LogRecord {
                host: Some("dhcp-2".into()),
                ..rec_unix(4, t0 + 2000, "DHCPACK(eth0) 10.77.0.100 bb:bb:bb:bb:bb:bb laptop")
            },
            // A releases (Kea keeps the old times in the row: the record's is the end).
            file_rec(5, t0 + 4000, KEA, &row(0, t0 + 1800, "aa:aa:aa:aa:aa:aa")),
            // C gets it for 10 minutes and never renews.
            file_rec(6, t0 + 5000, KEA, &row(600, t0 + 5600, "cc:cc:cc:cc:cc:cc")),
            // The same row from a file no source names: no binding.
            file_rec(7, t0 + 5000, "/tmp/other.csv", &row(600, t0 + 5600, "dd:dd:dd:dd:dd:dd")),
            rec_unix(8, t0 + 7000, "an unrelated line"),
        ];
        let r = f.process(s, &recs).await.unwrap();
        assert_eq!((r.events, r.errors, r.foreign), (5, 0, 1), "{r:?}");
        let q = |secs: i64| Probe {
            addr: "10.77.0.100".parse().unwrap(),
            port: None,
            at_ns: at(secs),
        };
        let (a, b, c) = (
            "aa:aa:aa:aa:aa:aa",
            "bb:bb:bb:bb:bb:bb",
            "cc:cc:cc:cc:cc:cc",
        );
        for (secs, want) in [
            (-1, vec![]),
            (0, vec![a]),
            // Both servers' leases are kept and answered.
            (3999, vec![a, b]),
            // A released at t0+4000.
            (4000, vec![b]),
            (5599, vec![b, c]),
            // C's lease ran out at its end, no renewal came.
            (5600, vec![b]),
        ] {
            assert_eq!(
                holders(s.lookup(q(secs)).await.unwrap()),
                want,
                "t0+{secs}s"
            );
        }
        let a = s.lookup(q(100)).await.unwrap();
        assert_eq!(a[0].kind, Kind::Dhcp);
        assert_eq!(a[0].evidence, vec![2, 3, 5]);
        assert_eq!(a[0].detail, "Kea subnet 7, host host-aa:aa:aa:aa:aa:aa");
        assert_eq!(
            a[0].session,
            format!("file:{KEA}|10.77.0.100|aa:aa:aa:aa:aa:aa")
        );
        // Renewed to t0+5400, released at t0+4000: the release is the end.
        assert_eq!(a[0].end_ns, at(4000));
    }
    cleanup(envs).await;
}

fn sources_rule() -> SourceRule {
    SourceRule {
        peer: Some(("10.0.0.1".parse().unwrap(), 32)),
        host: None,
        app: None,
        file: None,
        parsers: Parser::ALL.to_vec(),
    }
}

fn rec_unix(seq: u64, at_unix: i64, msg: &str) -> LogRecord {
    LogRecord {
        time_ns: at_unix * 1_000_000_000,
        ..rec(seq, "2025-01-01T00:00:00Z", msg)
    }
}

/// Erasure (the register's retention, DPDP): the bindings of an erased
/// register entry and, 5 years after they ended, those of subscribers the
/// register does not hold, are left as nobody's; `whois` answers "no record
/// kept"; the rest stay; nothing of the erased stays in the store's files.
#[tokio::test]
async fn erasure_leaves_nobody_and_whois_says_so() {
    use pramaan_attribution::Erasure;
    let envs = envs("erase").await;
    for e in &envs {
        let s = &*e.store;
        let mut a1 = b(
            "100.64.0.1",
            0,
            65535,
            "2025-01-01T00:00:00Z",
            "2025-01-02T00:00:00Z",
            "alice",
            "s-alice-2025",
        );
        a1.key = Some("radius:s-alice-2025|100.64.0.1".into());
        a1.evidence = vec![7, 9];
        a1.detail = "NAS nas-alice-2025".into();
        // Runs (an import) and the delta and open sessions (the feeder's apply).
        let mut bld = Builder::new();
        for x in [
            &a1,
            &b(
                "100.64.0.3",
                0,
                65535,
                "2020-01-01T00:00:00Z",
                "2020-01-02T00:00:00Z",
                "bob",
                "s-bob",
            ),
            &b(
                "100.64.0.4",
                0,
                65535,
                "2020-01-01T00:00:00Z",
                "2020-01-02T00:00:00Z",
                "carol",
                "s-carol",
            ),
        ] {
            bld.push(x);
        }
        s.import(bld.finish()).await.unwrap();
        let mut open = b(
            "100.64.0.7",
            0,
            65535,
            "2031-05-20T00:00:00Z",
            "2031-06-20T00:00:00Z",
            "alice",
            "s-alice-open",
        );
        open.open = true;
        open.key = Some("radius:s-alice-open|100.64.0.7".into());
        s.apply(
            vec![
                // alice again, a new subscription after her entry was erased
                b(
                    "100.64.0.2",
                    0,
                    65535,
                    "2031-05-10T00:00:00Z",
                    "2031-05-11T00:00:00Z",
                    "alice",
                    "s-alice-2031",
                ),
                b(
                    "100.64.0.5",
                    0,
                    65535,
                    "2030-01-01T00:00:00Z",
                    "2030-01-02T00:00:00Z",
                    "dave",
                    "s-dave",
                ),
                b(
                    "100.64.0.6",
                    0,
                    65535,
                    "2020-01-01T00:00:00Z",
                    "2020-01-02T00:00:00Z",
                    "erin",
                    "s-erin",
                ),
                b(
                    "100.64.0.8",
                    0,
                    65535,
                    "2020-03-01T00:00:00Z",
                    "2020-03-02T00:00:00Z",
                    "frank",
                    "s-frank-2020",
                ),
                open,
            ],
            Some(1),
        )
        .await
        .unwrap();
        let erasure = Erasure {
            at_ns: ns("2031-06-01T00:00:00Z"),
            subscribers: [("alice".to_owned(), ns("2031-05-01T00:00:00Z"))].into(),
            ended_before_ns: ns("2026-06-01T00:00:00Z"),
            // bob is in the register; erin is under a legal hold.
            kept: ["bob".to_owned(), "erin".to_owned()].into(),
            years: 5,
        };
        assert_eq!(
            s.erase(erasure.clone()).await.unwrap(),
            3,
            "alice 2025, carol, frank"
        );
        assert_eq!(
            s.erase(erasure).await.unwrap(),
            0,
            "a second run changes nothing"
        );

        let at = |ip: &str, t: &str| probe(ip, None, t);
        for (ip, t, why) in [
            (
                "100.64.0.1",
                "2025-01-01T12:00:00Z",
                "register entry was erased",
            ),
            ("100.64.0.4", "2020-01-01T12:00:00Z", "not in the register"),
            ("100.64.0.8", "2020-03-01T12:00:00Z", "not in the register"),
        ] {
            let found = s.lookup(at(ip, t)).await.unwrap();
            assert_eq!(found.len(), 1, "{ip}: {found:?}");
            let left = &found[0];
            assert_eq!(left.kind, Kind::Erased, "{ip}");
            assert_eq!(
                (left.subscriber.as_str(), left.session.as_str()),
                ("", ""),
                "{ip}"
            );
            assert!(
                left.evidence.is_empty() && left.key.is_none(),
                "{ip}: {left:?}"
            );
            assert!(
                left.detail.contains("erased on 2031-06-01"),
                "{}",
                left.detail
            );
            assert!(left.detail.contains(why), "{}", left.detail);
            assert_eq!(
                left.end_ns - left.start_ns,
                86_400_000_000_000,
                "times kept"
            );
        }
        for (ip, t, who) in [
            ("100.64.0.2", "2031-05-10T12:00:00Z", "alice"),
            ("100.64.0.3", "2020-01-01T12:00:00Z", "bob"),
            ("100.64.0.5", "2030-01-01T12:00:00Z", "dave"),
            ("100.64.0.6", "2020-01-01T12:00:00Z", "erin"),
            ("100.64.0.7", "2031-05-25T12:00:00Z", "alice"),
        ] {
            let found = s.lookup(at(ip, t)).await.unwrap();
            assert_eq!(found.len(), 1, "{ip}");
            assert_eq!(found[0].subscriber, who, "{ip} is kept");
        }

        // whois: "no record kept", not "nobody"; the audit names no one.
        let sink = MemorySink::new();
        let a = whois(
            s,
            &sink,
            "officer",
            "100.64.0.1".parse().unwrap(),
            None,
            ns("2025-01-01T12:00:00Z"),
            "order 9",
        )
        .await
        .unwrap();
        assert_eq!((a.outcome, a.count), (Outcome::Erased, 0));
        assert!(a.matches.is_empty());
        assert_eq!(a.erased.len(), 1);
        assert!(
            a.note
                .as_deref()
                .unwrap()
                .starts_with("no record kept: erased on 2031-06-01"),
            "{:?}",
            a.note
        );
        let audit: serde_json::Value = serde_json::from_slice(&sink.records()[0].1).unwrap();
        assert_eq!(
            (audit["answers"].as_u64(), audit["erased"].as_u64()),
            (Some(0), Some(1)),
            "{audit}"
        );
        assert_eq!(audit["subscribers"], serde_json::json!([]));
        let none = whois(
            s,
            &sink,
            "officer",
            "100.64.0.1".parse().unwrap(),
            None,
            ns("2024-01-01T00:00:00Z"),
            "order 9",
        )
        .await
        .unwrap();
        assert_eq!(none.outcome, Outcome::None, "before the binding: nobody");

        // The embedded store: gone from its files, and still so once reopened.
        if let Some(dir) = &e._dir {
            let dir = dir.path().join("attribution");
            for f in std::fs::read_dir(&dir).unwrap().flatten() {
                let bytes = std::fs::read(f.path()).unwrap();
                for erased in ["carol", "s-alice-2025", "nas-alice-2025", "s-frank-2020"] {
                    assert!(
                        memchr::memmem::find(&bytes, erased.as_bytes()).is_none(),
                        "{erased} is still in {}",
                        f.path().display()
                    );
                }
            }
            let again = MemStore::open(&dir).unwrap();
            let found = again.lookup_sync(&at("100.64.0.4", "2020-01-01T12:00:00Z"));
            assert_eq!(found[0].kind, Kind::Erased);
            let kept = again.lookup_sync(&at("100.64.0.7", "2031-05-25T12:00:00Z"));
            assert_eq!(
                kept[0].subscriber, "alice",
                "the open session is still open"
            );
        }
    }
    cleanup(envs).await;
}
