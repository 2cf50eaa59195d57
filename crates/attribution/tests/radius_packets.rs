//! Accounting-Requests stored by pramaan's RADIUS server become bindings:
//! the cases a NAS really produces (a Stop whose Start was lost, a NAS clock
//! minutes off, one address held through two NASes at once, a packet stored
//! twice after a retransmission) each answer `whois` as a person would expect.

use pramaan_attribution::feed::{Feeder, LogRecord};
use pramaan_attribution::{Binding, MemStore, Probe, Sources};
use pramaan_ingest::radius::{accounting_request, attr, status};
use std::time::Duration;

const S: i64 = 1_000_000_000;

fn ns(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339.parse().unwrap();
    t.as_nanosecond() as i64
}

/// One Accounting-Request from NAS `nas` (an IPv4 address) for `user`,
/// session `sid`, address `ip`, with these extra attributes.
fn packet(
    st: u32,
    user: &str,
    sid: &str,
    nas: [u8; 4],
    ip: [u8; 4],
    extra: &[(u8, Vec<u8>)],
) -> Vec<u8> {
    let mut a = vec![
        (attr::ACCT_STATUS_TYPE, st.to_be_bytes().to_vec()),
        (attr::USER_NAME, user.as_bytes().to_vec()),
        (attr::ACCT_SESSION_ID, sid.as_bytes().to_vec()),
        (attr::NAS_IP_ADDRESS, nas.to_vec()),
        (attr::FRAMED_IP_ADDRESS, ip.to_vec()),
    ];
    a.extend_from_slice(extra);
    accounting_request(1, &a, b"secret", false).unwrap()
}

fn at(t: &str) -> (u8, Vec<u8>) {
    (
        attr::EVENT_TIMESTAMP,
        ((ns(t) / S) as u32).to_be_bytes().to_vec(),
    )
}

/// Packet `st` for `user`'s session `sid` on `nas`, for the address `IP`,
/// stamped with the time it arrives at.
fn stamped(seq: u64, t: &str, st: u32, user: &str, sid: &str, nas: [u8; 4]) -> LogRecord {
    rec(seq, t, packet(st, user, sid, nas, IP, &[at(t)]))
}

fn rec(seq: u64, received: &str, packet: Vec<u8>) -> LogRecord {
    LogRecord {
        seq,
        time_ns: ns(received),
        offset_secs: 0,
        message: String::new(),
        peer: "radius:127.0.0.1:40000".into(),
        host: None,
        app: None,
        packet: Some(packet),
    }
}

/// Feeds the records (no `attribution.sources`: RADIUS packets need none).
async fn feed(recs: &[LogRecord]) -> (MemStore, tempfile::TempDir, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = MemStore::open(&dir.path().join("attribution")).unwrap();
    let mut f = Feeder::resume(&store, Duration::from_secs(86_400), Sources::none())
        .await
        .unwrap();
    let rep = f.process(&store, recs).await.unwrap();
    (store, dir, rep.skewed)
}

/// `first` fed, the feeder restarted (resumed from the store), then `then` fed.
async fn feed_then_restart(
    first: &[LogRecord],
    then: &[LogRecord],
) -> (MemStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = MemStore::open(&dir.path().join("attribution")).unwrap();
    for recs in [first, then] {
        let mut f = Feeder::resume(&store, Duration::from_secs(86_400), Sources::none())
            .await
            .unwrap();
        f.process(&store, recs).await.unwrap();
    }
    (store, dir)
}

fn holders(store: &MemStore, ip: &str, t: &str) -> Vec<Binding> {
    let mut v = store.lookup_sync(&Probe {
        addr: ip.parse().unwrap(),
        port: None,
        at_ns: ns(t),
    });
    v.sort_by(|a, b| a.subscriber.cmp(&b.subscriber));
    v
}

fn names(v: &[Binding]) -> Vec<&str> {
    v.iter().map(|b| b.subscriber.as_str()).collect()
}

const NAS1: [u8; 4] = [10, 0, 0, 1];
const NAS2: [u8; 4] = [10, 0, 0, 2];
const IP: [u8; 4] = [100, 64, 1, 2];

#[tokio::test]
async fn start_interim_stop_make_one_binding_with_its_evidence() {
    let recs = [
        stamped(
            0,
            "2025-01-01T10:00:00Z",
            status::START,
            "alice",
            "s1",
            NAS1,
        ),
        stamped(
            1,
            "2025-01-01T10:30:00Z",
            status::INTERIM_UPDATE,
            "alice",
            "s1",
            NAS1,
        ),
        stamped(2, "2025-01-01T11:00:00Z", status::STOP, "alice", "s1", NAS1),
    ];
    let (store, _d, _) = feed(&recs).await;
    let h = holders(&store, "100.64.1.2", "2025-01-01T10:45:00Z");
    assert_eq!(names(&h), ["alice"]);
    assert_eq!(h[0].evidence, vec![0, 1, 2]);
    assert_eq!(h[0].start_ns, ns("2025-01-01T10:00:00Z"));
    assert_eq!(h[0].end_ns, ns("2025-01-01T11:00:00Z"));
    assert!(holders(&store, "100.64.1.2", "2025-01-01T11:00:01Z").is_empty());
}

/// The Start never reached pramaan: Acct-Session-Time places the start.
#[tokio::test]
async fn a_stop_without_a_start_is_placed_by_its_session_time() {
    let secs = 3600u32.to_be_bytes().to_vec();
    let recs = [rec(
        7,
        "2025-01-01T11:00:00Z",
        packet(
            status::STOP,
            "bob",
            "s2",
            NAS1,
            IP,
            &[at("2025-01-01T11:00:00Z"), (attr::ACCT_SESSION_TIME, secs)],
        ),
    )];
    let (store, _d, _) = feed(&recs).await;
    let h = holders(&store, "100.64.1.2", "2025-01-01T10:15:00Z");
    assert_eq!(names(&h), ["bob"]);
    assert_eq!(h[0].start_ns, ns("2025-01-01T10:00:00Z"));
    assert_eq!(h[0].evidence, vec![7]);
    assert!(holders(&store, "100.64.1.2", "2025-01-01T09:59:59Z").is_empty());
}

/// The NAS's clock is 10 minutes fast: its Event-Timestamps are not used
/// (pramaan's arrival time is), and the packets are counted as skewed.
#[tokio::test]
async fn a_nas_clock_ten_minutes_fast_does_not_move_the_binding() {
    let recs = [
        rec(
            0,
            "2025-01-01T10:00:00Z",
            packet(
                status::START,
                "carol",
                "s3",
                NAS1,
                IP,
                &[at("2025-01-01T10:10:00Z")],
            ),
        ),
        rec(
            1,
            "2025-01-01T10:20:00Z",
            packet(
                status::STOP,
                "carol",
                "s3",
                NAS1,
                IP,
                &[at("2025-01-01T10:30:00Z")],
            ),
        ),
    ];
    let (store, _d, skewed) = feed(&recs).await;
    assert_eq!(skewed, 2);
    // 10:05 (before the NAS's own idea of the start) is inside the session.
    assert_eq!(
        names(&holders(&store, "100.64.1.2", "2025-01-01T10:05:00Z")),
        ["carol"]
    );
    // 10:25 (inside it by the NAS's clock) is after the real end.
    assert!(holders(&store, "100.64.1.2", "2025-01-01T10:25:00Z").is_empty());
}

/// Acct-Delay-Time: the NAS tried for 2 minutes before pramaan had it.
#[tokio::test]
async fn without_event_timestamp_the_delay_is_taken_off_the_arrival() {
    let delay = (attr::ACCT_DELAY_TIME, 120u32.to_be_bytes().to_vec());
    let recs = [rec(
        0,
        "2025-01-01T10:02:00Z",
        packet(status::START, "dan", "s4", NAS1, IP, &[delay]),
    )];
    let (store, _d, _) = feed(&recs).await;
    let h = holders(&store, "100.64.1.2", "2025-01-01T10:01:00Z");
    assert_eq!(names(&h), ["dan"]);
    assert_eq!(h[0].start_ns, ns("2025-01-01T10:00:00Z"));
}

/// Two NASes hand out the same address at once (overlapping pools): both
/// leases are kept and `whois` names both holders.
#[tokio::test]
async fn one_address_from_two_nases_at_once_answers_both() {
    let recs = [
        stamped(0, "2025-01-01T10:00:00Z", status::START, "erin", "a", NAS1),
        stamped(1, "2025-01-01T10:10:00Z", status::START, "frank", "b", NAS2),
    ];
    let (store, _d, _) = feed(&recs).await;
    assert_eq!(
        names(&holders(&store, "100.64.1.2", "2025-01-01T10:05:00Z")),
        ["erin"]
    );
    let both = holders(&store, "100.64.1.2", "2025-01-01T10:20:00Z");
    assert_eq!(names(&both), ["erin", "frank"]);
    assert_eq!(both[0].detail, "NAS 10.0.0.1");
    assert_eq!(both[1].detail, "NAS 10.0.0.2");
    // On one NAS, the next Start on the address still closes a session whose Stop was lost.
    let recs = [
        stamped(0, "2025-01-01T10:00:00Z", status::START, "erin", "a", NAS1),
        stamped(1, "2025-01-01T10:10:00Z", status::START, "frank", "b", NAS1),
    ];
    let (store, _d, _) = feed(&recs).await;
    assert_eq!(
        names(&holders(&store, "100.64.1.2", "2025-01-01T10:20:00Z")),
        ["frank"]
    );
}

/// The same packet stored twice (a retransmission that crossed a restart of
/// pramaan, when the server's memory of answered packets was lost): one
/// binding, not two.
#[tokio::test]
async fn a_packet_stored_twice_does_not_double_the_binding() {
    let start = packet(
        status::START,
        "gita",
        "s5",
        NAS1,
        IP,
        &[at("2025-01-01T10:00:00Z")],
    );
    // A real Stop carries Acct-Session-Time: the copy, finding no open
    // session, rebuilds the same binding from it (same key: replaced, not added).
    let stop = packet(
        status::STOP,
        "gita",
        "s5",
        NAS1,
        IP,
        &[
            at("2025-01-01T11:00:00Z"),
            (attr::ACCT_SESSION_TIME, 3600u32.to_be_bytes().to_vec()),
        ],
    );
    let recs = [
        rec(0, "2025-01-01T10:00:00Z", start.clone()),
        rec(1, "2025-01-01T10:00:05Z", start),
        rec(2, "2025-01-01T11:00:00Z", stop.clone()),
        rec(3, "2025-01-01T11:00:05Z", stop),
    ];
    let (store, _d, _) = feed(&recs).await;
    let h = holders(&store, "100.64.1.2", "2025-01-01T10:30:00Z");
    assert_eq!(names(&h), ["gita"]);
    assert_eq!(store.stats_sync().bindings, 1);
    assert_eq!(h[0].start_ns, ns("2025-01-01T10:00:00Z"));
    assert_eq!(h[0].end_ns, ns("2025-01-01T11:00:00Z"));
}

/// The copy of a Stop comes after pramaan restarted (the tracker's memory
/// of closed sessions is gone): the store's closed binding shows it is one.
#[tokio::test]
async fn a_stop_stored_again_after_a_restart_does_not_double_the_binding() {
    let stop = packet(
        status::STOP,
        "hari",
        "s6",
        NAS1,
        IP,
        &[
            at("2025-01-01T11:00:00Z"),
            (attr::ACCT_SESSION_TIME, 3600u32.to_be_bytes().to_vec()),
        ],
    );
    let start = packet(
        status::START,
        "hari",
        "s6",
        NAS1,
        IP,
        &[at("2025-01-01T10:00:00Z")],
    );
    let first = [
        rec(0, "2025-01-01T10:00:00Z", start),
        rec(1, "2025-01-01T11:00:00Z", stop.clone()),
    ];
    let (store, _dir) = feed_then_restart(&first, &[rec(2, "2025-01-01T11:00:04Z", stop)]).await;
    assert_eq!(store.stats_sync().bindings, 1);
    let h = holders(&store, "100.64.1.2", "2025-01-01T10:30:00Z");
    assert_eq!(names(&h), ["hari"]);
    assert_eq!(h[0].evidence, vec![0, 1]);
}

/// Accounting-On from a NAS that restarted: its open sessions end then (and
/// the other NAS's stay open); the ids it hands out again are new sessions.
#[tokio::test]
async fn accounting_on_ends_the_nas_sessions_and_ids_may_be_reused() {
    let on = accounting_request(
        9,
        &[
            (
                attr::ACCT_STATUS_TYPE,
                status::ACCOUNTING_ON.to_be_bytes().to_vec(),
            ),
            (attr::NAS_IP_ADDRESS, NAS1.to_vec()),
            at("2025-01-01T12:00:00Z"),
        ],
        b"secret",
        false,
    )
    .unwrap();
    let ip2 = [100, 64, 1, 3];
    let recs = [
        stamped(0, "2025-01-01T10:00:00Z", status::START, "lena", "1", NAS1),
        rec(
            1,
            "2025-01-01T10:00:00Z",
            packet(
                status::START,
                "omar",
                "1",
                NAS2,
                ip2,
                &[at("2025-01-01T10:00:00Z")],
            ),
        ),
        rec(2, "2025-01-01T12:00:00Z", on),
        // After the restart, session id 1 again, for someone else.
        stamped(3, "2025-01-01T12:01:00Z", status::START, "pia", "1", NAS1),
    ];
    let (store, _d, _) = feed(&recs).await;
    let h = holders(&store, "100.64.1.2", "2025-01-01T11:00:00Z");
    assert_eq!(names(&h), ["lena"]);
    assert_eq!(h[0].end_ns, ns("2025-01-01T12:00:00Z"));
    assert_eq!(h[0].evidence, vec![0, 2]);
    assert!(holders(&store, "100.64.1.2", "2025-01-01T12:00:30Z").is_empty());
    assert_eq!(
        names(&holders(&store, "100.64.1.2", "2025-01-01T12:30:00Z")),
        ["pia"]
    );
    assert_eq!(
        names(&holders(&store, "100.64.1.3", "2025-01-01T12:30:00Z")),
        ["omar"]
    );
}

/// Without Event-Timestamp a copy of a Stop stored later is timed later
/// (by its arrival): still one binding.
#[tokio::test]
async fn a_stop_copy_timed_by_a_later_arrival_is_still_a_copy() {
    let secs = (attr::ACCT_SESSION_TIME, 3600u32.to_be_bytes().to_vec());
    let start = packet(status::START, "ravi", "s7", NAS1, IP, &[]);
    let stop = packet(status::STOP, "ravi", "s7", NAS1, IP, &[secs]);
    let recs = [
        rec(0, "2025-01-01T10:00:00Z", start),
        rec(1, "2025-01-01T11:00:00Z", stop.clone()),
        rec(2, "2025-01-01T11:00:30Z", stop),
    ];
    let (store, _d, _) = feed(&recs).await;
    assert_eq!(store.stats_sync().bindings, 1);
}

/// The same, across a restart of the feeder (the store's closed binding is
/// found halfway through the session its Acct-Session-Time gives).
#[tokio::test]
async fn an_arrival_timed_stop_copy_after_a_restart_is_still_a_copy() {
    let secs = (attr::ACCT_SESSION_TIME, 3600u32.to_be_bytes().to_vec());
    let start = packet(status::START, "sana", "s8", NAS1, IP, &[]);
    let stop = packet(status::STOP, "sana", "s8", NAS1, IP, &[secs]);
    let first = [
        rec(0, "2025-01-01T10:00:00Z", start),
        rec(1, "2025-01-01T11:00:00Z", stop.clone()),
    ];
    let (store, _dir) = feed_then_restart(&first, &[rec(2, "2025-01-01T11:00:40Z", stop)]).await;
    assert_eq!(store.stats_sync().bindings, 1);
}
