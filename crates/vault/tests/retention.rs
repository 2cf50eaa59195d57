//! Retention and legal holds on a real vault, with an injected clock:
//! segments with chosen `received_at` are written through the vault's own
//! segment and catalog APIs before the vault opens; runs, holds and releases
//! then go through [`Retention`] at chosen times.
//!
//! * `the_window_is_exact_to_the_nanosecond_on_a_real_vault`
//! * `a_property_no_expired_unheld_record_survives_and_nothing_else_is_gone`:
//!   random segments, holds, releases and runs against a brute-force model.
//! * `a_crash_at_any_step_is_finished_by_the_next_run`: stops a run after
//!   each step (fault injection, as a `kill -9` would), reopens a copy of the
//!   data directory as it was left, runs again: nothing deleted twice or not
//!   at all, every deletion recorded in the vault exactly once.
//! * `a_search_in_progress_keeps_the_object_until_the_next_run`
//! * `sequence_numbers_continue_after_every_segment_is_deleted`

mod common;
use bytes::Bytes;
use common::{all, copy_dir};
use pramaan_core::Transport;
use pramaan_ingest::ParseContext;
use pramaan_vault::memtable::Generation;
use pramaan_vault::retention::{
    Class, Faults, Hold, NewHold, Policy, Retention, RetentionError, Step, NS_PER_DAY,
};
use pramaan_vault::search;
use pramaan_vault::{segment, Catalog, Query, SegmentMeta, Vault, VaultOptions, Workers};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NS_PER_HOUR: i64 = 3_600_000_000_000;
/// 2025-01-01T00:00:00Z: test records are received from here on.
const BASE: i64 = 1_735_689_600_000_000_000;

/// One test record: when it was received, which source sent it, and an IP
/// address its text names.
#[derive(Clone, Debug)]
struct Rec {
    at: i64,
    source: String,
    ip: Option<String>,
}

/// The line a test record stores: the source as the syslog host, or (for an
/// address) no host, so the sender's address is the source.
fn line_and_peer(seq: u64, r: &Rec) -> (String, String) {
    let ip =
        r.ip.as_deref()
            .map(|ip| format!(" from {ip}"))
            .unwrap_or_default();
    if r.source.parse::<std::net::IpAddr>().is_ok() {
        (
            format!("<13>1 - - app - - - test record {seq}{ip}"),
            format!("{}:514", r.source),
        )
    } else {
        (
            format!("<13>1 - {} app - - - test record {seq}{ip}", r.source),
            "127.0.0.1:514".into(),
        )
    }
}

fn opts(dir: &Path) -> VaultOptions {
    let mut o = VaultOptions::new(dir);
    // Internal records stay in the memtable during a test.
    o.seal_max_age = Duration::from_secs(86_400);
    o.fsync = true;
    if let Some(l) = o.ledger.as_mut() {
        l.checkpoint_interval = Duration::from_millis(50);
    }
    o
}

/// Waits until the ledger has published a checkpoint of every committed
/// record, so that a copy of the data directory taken now is not torn by a
/// publish in progress (the "crashed" vault's threads still run).
async fn quiesce(vault: &Vault) {
    let Some(l) = vault.ledger() else { return };
    let start = std::time::Instant::now();
    while l.latest().unwrap().map_or(0, |p| p.size) < vault.committed() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the ledger published no checkpoint"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A publish that had begun is finished by then.
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Writes one sealed segment (object and catalog row) holding `recs`, with
/// sequence numbers from `first_seq`, as the sealer would.
fn write_segment(dir: &Path, catalog: &dyn Catalog, first_seq: u64, recs: &[Rec]) -> SegmentMeta {
    let mut g = Generation::default();
    for (i, r) in recs.iter().enumerate() {
        let seq = first_seq + i as u64;
        let (line, peer) = line_and_peer(seq, r);
        let rec = pramaan_vault::wal::record(seq, r.at, Transport::Tcp, &peer, line.as_bytes());
        let p = pramaan_ingest::parse(
            line.as_bytes(),
            &ParseContext {
                received_at_ns: r.at,
                default_offset_secs: 19_800,
            },
        );
        g.push(&rec, &p);
    }
    let f = g.freeze();
    let enc = segment::encode(&f.batches, &Default::default()).unwrap();
    let path = segment::object_path(f.time_min_ns, f.seq_min, f.seq_max);
    let file = dir.join("objects").join(&path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &enc.bytes).unwrap();
    let mut meta = SegmentMeta {
        id: 0,
        path,
        seq_min: f.seq_min,
        seq_max: f.seq_max,
        time_min_ns: f.time_min_ns,
        time_max_ns: f.time_max_ns,
        rows: f.rows,
        bytes: enc.bytes.len() as u64,
        sha256: enc.sha256,
        sources: f.sources,
        raw_bytes: f.raw_bytes,
        created_at_ns: f.time_max_ns,
    };
    meta.id = catalog.insert(&meta).unwrap();
    meta
}

/// Writes segments (each a list of records) into a fresh data directory.
/// What a vault's first open does before it takes any record: sign the
/// empty tree (a vault with records and no checkpoint refuses to open). The
/// segments written next stand for records it took after that.
fn sign_empty_tree(dir: &Path) {
    let o = opts(dir);
    let Some(l) = &o.ledger else { return };
    let key = pramaan_vault::ledger::load_or_create_key(l).unwrap();
    let empty = pramaan_ledger::Appender::new().root();
    let note = pramaan_ledger::Checkpoint::new(l.origin.clone(), 0, empty)
        .unwrap()
        .sign(&key)
        .unwrap()
        .to_string();
    let store = pramaan_vault::ledger::tile_store(&o.objects_dir()).unwrap();
    pramaan_ledger::TileStore::put(
        &*store,
        pramaan_vault::ledger::CHECKPOINT_OBJECT,
        note.as_bytes(),
    )
    .unwrap();
}

fn write_segments(dir: &Path, segs: &[Vec<Rec>]) -> Vec<SegmentMeta> {
    std::fs::create_dir_all(dir).unwrap();
    sign_empty_tree(dir);
    let catalog = pramaan_vault::catalog::SqliteCatalog::open(&dir.join("catalog.db")).unwrap();
    let mut seq = 0;
    let mut out = Vec::new();
    for recs in segs {
        let m = write_segment(dir, &catalog, seq, recs);
        seq = m.seq_max + 1;
        out.push(m);
    }
    out
}

/// The internal records of one type, as parsed JSON.
async fn records_of(vault: &Vault, kind: &str) -> Vec<serde_json::Value> {
    let q = Query {
        text: Some(format!("{{\"type\":\"{kind}\"")),
        limit: 0,
        internal: true,
        ..Default::default()
    };
    all(vault, q)
        .await
        .into_iter()
        .inspect(|h| assert_eq!(h.transport, "internal"))
        .map(|h| serde_json::from_str(h.raw.as_deref().unwrap()).unwrap())
        .collect()
}

async fn close(vault: Vault, retention: Option<Retention>, workers: Workers) {
    drop(retention);
    vault.shutdown(workers).await;
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn rec(at: i64, source: &str) -> Rec {
    Rec {
        at,
        source: source.into(),
        ip: None,
    }
}

fn new_hold(from_ns: i64, to_ns: i64, source: Option<&str>, ip: Option<&str>) -> NewHold {
    NewHold {
        from_ns,
        to_ns,
        source: source.map(str::to_owned),
        ip: ip.map(str::to_owned),
        reason: "investigation".into(),
        order_ref: "CERT-In/2025/17".into(),
        created_by: "test".into(),
    }
}

// ---------------------------------------------------------------- boundary

#[test]
fn the_window_is_exact_to_the_nanosecond_on_a_real_vault() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let t = BASE + 5 * NS_PER_HOUR;
        let segs = write_segments(
            dir.path(),
            &[
                vec![rec(t - 10, "h1"), rec(t, "h1")],
                vec![rec(t + NS_PER_HOUR, "h1")],
            ],
        );
        let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
        let r = Retention::new(vault.clone(), Policy::default());
        let exact = t + 180 * NS_PER_DAY;
        // The newest record is exactly at the cutoff: kept.
        let rep = r.run(exact, false).await.unwrap();
        assert!(rep.deleted.is_empty(), "{rep:?}");
        assert_eq!(rep.kept, 2);
        // One nanosecond later it is past the window: deleted, and only that segment.
        let rep = r.run(exact + 1, false).await.unwrap();
        assert_eq!(rep.deleted.len(), 1, "{rep:?}");
        assert_eq!(rep.deleted[0].segment, segs[0].path);
        assert_eq!(rep.deleted[0].policy, "default:180d");
        assert_eq!(rep.deleted[0].received_to_ns, t);
        assert!(!dir.path().join("objects").join(&segs[0].path).exists());
        assert!(dir.path().join("objects").join(&segs[1].path).exists());
        let left = all(
            &vault,
            Query {
                seq_to: Some(segs[1].seq_max),
                limit: 0,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            left.iter().map(|h| h.seq).collect::<Vec<_>>(),
            vec![segs[1].seq_min]
        );
        let recs = records_of(&vault, "retention.deleted").await;
        assert_eq!(recs.len(), 1);
        let want = serde_json::json!({
            "type": "retention.deleted",
            "segment": segs[0].path,
            "seq_min": 0,
            "seq_max": 1,
            "sha256": segs[0].sha256,
            "rows": 2,
            "received_from": pramaan_core::time::rfc3339_utc(t - 10),
            "received_to": pramaan_core::time::rfc3339_utc(t),
            "policy": "default:180d",
            "run": rep.run.unwrap(),
        });
        assert_eq!(recs[0], want);
        let hit = all(
            &vault,
            Query {
                text: Some("retention.deleted".into()),
                limit: 0,
                internal: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(hit[0].peer, "pramaan:retention");
        // The catalog keeps the row in `deletions`.
        let dels = vault.catalog().deletions().unwrap();
        assert_eq!(dels.len(), 1);
        assert_eq!(dels[0].segment, segs[0]);
        assert_eq!(dels[0].run, rep.run.unwrap());
        assert!(dels[0].object_deleted_at_ns.is_some());
        close(vault, Some(r), workers).await;
    });
}

// ---------------------------------------------------------------- model

/// Brute-force glob, independent of the product's: via a regular expression.
fn model_glob(pattern: &str, name: &str) -> bool {
    let mut re = String::from("(?i)^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).unwrap().is_match(name)
}

fn model_window(policy: &Policy, source: &str) -> i64 {
    for c in &policy.classes {
        for p in &c.sources {
            if model_glob(p, source) {
                return c.days as i64 * NS_PER_DAY;
            }
        }
    }
    policy.default_days as i64 * NS_PER_DAY
}

#[derive(Clone, Debug)]
struct ModelHold {
    id: i64,
    from: i64,
    to: i64,
    source: Option<String>,
    ip: Option<String>,
    active: bool,
}

/// Whether a hold touches a segment's records: `Some(true)` certainly,
/// `Some(false)` certainly not, `None` when it depends on a Bloom filter (an
/// IP hold whose address is in no record: the filter may or may not rule it out).
fn model_touches(h: &ModelHold, recs: &[Rec]) -> Option<bool> {
    if !h.active {
        return Some(false);
    }
    let min = recs.iter().map(|r| r.at).min().unwrap();
    let max = recs.iter().map(|r| r.at).max().unwrap();
    if h.from > max || h.to < min {
        return Some(false);
    }
    if let Some(s) = &h.source {
        if !recs.iter().any(|r| model_glob(s, &r.source)) {
            return Some(false);
        }
    }
    match &h.ip {
        None => Some(true),
        Some(ip)
            if recs
                .iter()
                .any(|r| &r.source == ip || r.ip.as_deref() == Some(ip)) =>
        {
            Some(true)
        }
        Some(_) => None,
    }
}

/// A record is past its window when it is older than its own source's window.
fn past(policy: &Policy, r: &Rec, now: i64) -> bool {
    r.at < now - model_window(policy, &r.source)
}

/// Every record of the segment is past the window of every source in it.
fn model_expired(policy: &Policy, recs: &[Rec], now: i64) -> bool {
    recs.iter().all(|r| {
        recs.iter()
            .all(|s| r.at < now - model_window(policy, &s.source))
    })
}

#[derive(Clone, Debug)]
enum Op {
    /// Move the clock forward by this many hours, then run retention.
    Run(i64),
    /// Add a hold over these hours (relative to BASE), maybe for a source or an IP address.
    Hold(i64, i64, Option<String>, Option<String>),
    /// Release the n-th hold added so far (modulo), if any.
    Release(usize),
}

const SOURCES: [&str; 5] = ["fw-1", "fw-2", "db", "10.0.0.9", "web"];
const IPS: [&str; 2] = ["192.0.2.7", "198.51.100.1"];

fn segments_strategy() -> impl Strategy<Value = Vec<Vec<Rec>>> {
    // Up to 6 segments, each in its own hour (hours increasing), 1-4 records.
    proptest::collection::vec(
        (
            1i64..400,
            proptest::collection::vec(
                (
                    0i64..NS_PER_HOUR,
                    0usize..SOURCES.len(),
                    proptest::option::weighted(0.3, 0usize..IPS.len()),
                ),
                1..4,
            ),
        ),
        1..7,
    )
    .prop_map(|segs| {
        let mut hour = 0;
        segs.into_iter()
            .map(|(gap, recs)| {
                hour += gap;
                let mut recs: Vec<Rec> = recs
                    .into_iter()
                    .map(|(off, s, ip)| Rec {
                        at: BASE + hour * NS_PER_HOUR + off,
                        source: SOURCES[s].into(),
                        ip: ip.map(|i| IPS[i].into()),
                    })
                    .collect();
                recs.sort_by_key(|r| r.at);
                recs
            })
            .collect()
    })
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![Just(180u64), 1u64..400],
        proptest::option::of(1u64..400),
        proptest::option::of(1u64..400),
    )
        .prop_map(|(default_days, fw, addr)| {
            let mut classes = Vec::new();
            if let Some(days) = fw {
                classes.push(Class {
                    name: "firewalls".into(),
                    sources: vec!["FW-*".into()],
                    days,
                });
            }
            if let Some(days) = addr {
                classes.push(Class {
                    name: "by-address".into(),
                    sources: vec!["10.0.0.?".into(), "w?b".into()],
                    days,
                });
            }
            Policy {
                default_days,
                classes,
            }
        })
}

fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0i64..24 * 120).prop_map(Op::Run),
        2 => (
            0i64..24 * 40,
            0i64..24 * 30,
            proptest::option::weighted(0.3, prop_oneof![Just("fw-*".to_string()), Just("db".to_string()), Just("10.0.0.9".to_string())]),
            proptest::option::weighted(0.3, prop_oneof![Just(IPS[0].to_string()), Just(IPS[1].to_string()), Just("10.0.0.9".to_string())]),
        )
            .prop_map(|(start_day, len, source, ip)| Op::Hold(start_day, start_day + len, source, ip)),
        1 => (0usize..8).prop_map(Op::Release),
    ];
    proptest::collection::vec(op, 1..10)
}

/// Checks one run against the model, then makes the model follow the run
/// (the run decides the cases the model leaves open).
fn check_run(
    policy: &Policy,
    segs: &[Vec<Rec>],
    metas: &[SegmentMeta],
    present: &mut [bool],
    holds: &[ModelHold],
    now: i64,
    deleted_paths: &BTreeSet<String>,
) {
    for (i, recs) in segs.iter().enumerate() {
        if !present[i] {
            assert!(
                !deleted_paths.contains(&metas[i].path),
                "segment {i} deleted twice"
            );
            continue;
        }
        let gone = deleted_paths.contains(&metas[i].path);
        let expired = model_expired(policy, recs, now);
        let touches: Vec<Option<bool>> = holds.iter().map(|h| model_touches(h, recs)).collect();
        let surely_held = touches.contains(&Some(true));
        let maybe_held = touches.contains(&None);
        if gone {
            // Nothing younger than its window, nothing held, is gone.
            assert!(expired, "segment {i} deleted before every record in it was past its window: {recs:?} at {now}");
            assert!(!surely_held, "segment {i} deleted under a hold: {holds:?}");
            for r in recs {
                assert!(
                    past(policy, r, now),
                    "record {r:?} deleted inside its window"
                );
            }
            present[i] = false;
        } else {
            // Nothing past its window survives without a reason.
            if expired {
                assert!(
                    surely_held || maybe_held,
                    "segment {i} expired, unheld, but kept: {recs:?} at {now}, holds {holds:?}"
                );
            }
            for r in recs.iter().filter(|r| past(policy, r, now)) {
                let kept_by_neighbour = !expired;
                assert!(
                    kept_by_neighbour || surely_held || maybe_held,
                    "record {r:?} past its window kept without a hold"
                );
            }
        }
    }
}

async fn property_case(segs: Vec<Vec<Rec>>, policy: Policy, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let metas = write_segments(dir.path(), &segs);
    let test_seqs = metas.last().unwrap().seq_max + 1;
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    let r = Retention::new(vault.clone(), policy.clone());
    let mut present = vec![true; segs.len()];
    let mut holds: Vec<ModelHold> = Vec::new();
    let mut now = BASE;
    let mut deletions_seen = 0;
    let mut released = 0;
    for op in ops {
        match op {
            Op::Run(hours) => {
                // Big steps, so that windows of up to 400 days pass.
                now += hours * NS_PER_HOUR * 5;
                let rep = r.run(now, false).await.unwrap();
                assert_eq!(rep.stopped, None);
                let deleted: BTreeSet<String> =
                    rep.deleted.iter().map(|d| d.segment.clone()).collect();
                assert_eq!(deleted.len(), rep.deleted.len());
                check_run(&policy, &segs, &metas, &mut present, &holds, now, &deleted);
                deletions_seen += deleted.len();
                // Every held segment names its holds, and they are active.
                for h in &rep.held {
                    assert!(!h.holds.is_empty());
                    for hr in &h.holds {
                        assert!(holds.iter().any(|m| m.id == hr.id && m.active));
                    }
                }
            }
            Op::Hold(from_h, to_h, source, ip) => {
                let (from, to) = (BASE + from_h * NS_PER_HOUR, BASE + to_h * NS_PER_HOUR);
                let h = r
                    .add_hold(&new_hold(from, to, source.as_deref(), ip.as_deref()), now)
                    .await
                    .unwrap();
                holds.push(ModelHold {
                    id: h.id,
                    from,
                    to,
                    source,
                    ip,
                    active: true,
                });
            }
            Op::Release(n) => {
                if holds.is_empty() {
                    continue;
                }
                let k = n % holds.len();
                let res = r
                    .release_hold(holds[k].id, "test", "case closed", now)
                    .await;
                if holds[k].active {
                    res.unwrap();
                    holds[k].active = false;
                    released += 1;
                } else {
                    assert!(
                        matches!(res, Err(RetentionError::AlreadyReleased(_))),
                        "{res:?}"
                    );
                }
            }
        }
    }
    // The vault agrees with the model record by record.
    let hits = all(
        &vault,
        Query {
            seq_to: Some(test_seqs - 1),
            limit: 0,
            ..Default::default()
        },
    )
    .await;
    let found: BTreeSet<u64> = hits.iter().map(|h| h.seq).collect();
    for (i, m) in metas.iter().enumerate() {
        for seq in m.seq_min..=m.seq_max {
            assert_eq!(
                found.contains(&seq),
                present[i],
                "record {seq} of segment {i}"
            );
        }
        assert_eq!(
            dir.path().join("objects").join(&m.path).exists(),
            present[i],
            "object of segment {i}"
        );
    }
    let catalog = vault.catalog();
    let listed: BTreeSet<String> = catalog
        .segments(None, None)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    let dels = catalog.deletions().unwrap();
    assert_eq!(dels.len(), deletions_seen);
    for (i, m) in metas.iter().enumerate() {
        assert_eq!(listed.contains(&m.path), present[i]);
        assert_eq!(
            dels.iter().filter(|d| d.segment.path == m.path).count(),
            usize::from(!present[i])
        );
    }
    // Each deletion, hold and release is recorded in the vault exactly once.
    let recorded: Vec<String> = records_of(&vault, "retention.deleted")
        .await
        .iter()
        .map(|v| v["segment"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recorded.len(), deletions_seen);
    assert_eq!(
        recorded.iter().collect::<BTreeSet<_>>().len(),
        deletions_seen
    );
    assert_eq!(records_of(&vault, "hold.added").await.len(), holds.len());
    assert_eq!(records_of(&vault, "hold.released").await.len(), released);
    assert!(catalog.outbox_pending().unwrap().is_empty());
    close(vault, Some(r), workers).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_property_no_expired_unheld_record_survives_and_nothing_else_is_gone(
        segs in segments_strategy(),
        policy in policy_strategy(),
        ops in ops_strategy(),
    ) {
        rt().block_on(property_case(segs, policy, ops));
    }
}

/// Segments, holds, policy, now, and (segment, hold) pairs whose IP the Bloom filters rule out.
type DecideCase = (
    Vec<SegmentMeta>,
    Vec<Hold>,
    Policy,
    i64,
    Vec<(usize, usize)>,
);

fn decide_case_strategy() -> impl Strategy<Value = DecideCase> {
    let seg = (
        0i64..500 * 24,
        0i64..3,
        proptest::collection::btree_set(0usize..SOURCES.len(), 0..4),
    );
    let hold = (
        0i64..500 * 24,
        0i64..24 * 60,
        proptest::option::weighted(
            0.4,
            prop_oneof![
                Just("fw-*"),
                Just("db"),
                Just("10.0.0.9"),
                Just("W?B"),
                Just("*")
            ],
        ),
        proptest::option::weighted(0.3, Just("192.0.2.7")),
        proptest::bool::weighted(0.2),
    );
    (
        proptest::collection::vec(seg, 0..12),
        proptest::collection::vec(hold, 0..5),
        policy_strategy(),
        0i64..800 * 24,
        proptest::collection::vec((0usize..12, 0usize..5), 0..6),
    )
        .prop_map(|(segs, holds, policy, now_h, clear)| {
            let segs = segs
                .into_iter()
                .enumerate()
                .map(|(i, (start_h, len_h, srcs))| SegmentMeta {
                    id: i as i64 + 1,
                    path: format!("s{i}"),
                    seq_min: i as u64 * 10,
                    seq_max: i as u64 * 10 + 9,
                    time_min_ns: BASE + start_h * NS_PER_HOUR,
                    time_max_ns: BASE + (start_h + len_h) * NS_PER_HOUR,
                    rows: 10,
                    bytes: 1,
                    sha256: String::new(),
                    sources: srcs
                        .into_iter()
                        .map(|s| (SOURCES[s].to_string(), 1))
                        .collect(),
                    raw_bytes: 1,
                    created_at_ns: 0,
                })
                .collect();
            let holds = holds
                .into_iter()
                .enumerate()
                .map(|(i, (from_h, len_h, source, ip, released))| Hold {
                    id: i as i64 + 1,
                    from_ns: BASE + from_h * NS_PER_HOUR,
                    to_ns: BASE + (from_h + len_h) * NS_PER_HOUR,
                    source: source.map(str::to_owned),
                    ip: ip.map(str::to_owned),
                    reason: "r".into(),
                    order_ref: "o".into(),
                    created_by: "t".into(),
                    created_at_ns: 0,
                    released_at_ns: released.then_some(1),
                    released_by: None,
                    release_reason: None,
                })
                .collect();
            (segs, holds, policy, BASE + now_h * NS_PER_HOUR, clear)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The pure decision against a brute-force model, with exact boundaries.
    #[test]
    fn decide_matches_a_brute_force_model((segs, holds, policy, now, clear) in decide_case_strategy()) {
        let clear: pramaan_vault::retention::IpClear =
            clear.into_iter().map(|(s, h)| (s as i64 + 1, h as i64 + 1)).collect();
        let d = pramaan_vault::retention::decide(&segs, &holds, &policy, now, &clear);
        let mut want_expired = Vec::new();
        let mut want_held = Vec::new();
        let mut want_kept = 0;
        for seg in &segs {
            // Every source past its own window (a segment without sources: the default window).
            let windows: Vec<i64> = if seg.sources.is_empty() {
                vec![policy.default_days as i64 * NS_PER_DAY]
            } else {
                seg.sources.keys().map(|s| model_window(&policy, s)).collect()
            };
            if !windows.iter().all(|w| seg.time_max_ns < now - w) {
                want_kept += 1;
                continue;
            }
            let longest = *windows.iter().max().unwrap();
            let by: Vec<i64> = holds
                .iter()
                .filter(|h| {
                    h.released_at_ns.is_none()
                        && !(h.to_ns < seg.time_min_ns || h.from_ns > seg.time_max_ns)
                        && h.source.as_ref().is_none_or(|p| seg.sources.keys().any(|s| model_glob(p, s)))
                        && (h.ip.is_none() || !clear.contains(&(seg.id, h.id)))
                })
                .map(|h| h.id)
                .collect();
            if by.is_empty() {
                want_expired.push((seg.id, longest));
            } else {
                want_held.push((seg.id, by));
            }
        }
        let got_expired: Vec<(i64, i64)> = d
            .expired
            .iter()
            .map(|j| {
                assert_eq!(j.cutoff_ns, now - j.days as i64 * NS_PER_DAY);
                (j.segment.id, j.days as i64 * NS_PER_DAY)
            })
            .collect();
        prop_assert_eq!(got_expired, want_expired);
        let got_held: Vec<(i64, Vec<i64>)> = d.held.iter().map(|(j, by)| (j.segment.id, by.clone())).collect();
        prop_assert_eq!(got_held, want_held);
        prop_assert_eq!(d.kept, want_kept);
    }
}

// ---------------------------------------------------------------- crashes

/// Stops at the `nth` time `step` is reached.
fn stop_at(step: Step, nth: usize) -> Faults {
    let seen = AtomicUsize::new(0);
    Faults::new(move |s| s == step && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth)
}

/// Old segments a, b (expired), c (expired but held), d (young).
fn crash_fixture(dir: &Path) -> Vec<SegmentMeta> {
    write_segments(
        dir,
        &[
            vec![rec(BASE, "fw-1"), rec(BASE + 5, "db")],
            vec![rec(BASE + NS_PER_HOUR, "db")],
            vec![rec(BASE + 2 * NS_PER_HOUR, "held-host")],
            vec![rec(BASE + 300 * NS_PER_DAY, "db")],
        ],
    )
}

async fn crash_then_finish(step: Step, nth: usize, in_hold: bool) {
    let now = BASE + 200 * NS_PER_DAY;
    let dir = tempfile::tempdir().unwrap();
    let segs = crash_fixture(dir.path());
    let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
    let committed_before = vault.committed();
    let faulty = Retention::new(vault.clone(), Policy::default()).with_faults(stop_at(step, nth));
    let hold = new_hold(BASE, BASE + 3 * NS_PER_HOUR, Some("held-host"), None);
    let crashed = if in_hold {
        faulty.add_hold(&hold, now).await.map(|_| ())
    } else {
        faulty.add_hold(&hold, now).await.unwrap();
        faulty.run(now, false).await.map(|_| ())
    };
    match crashed {
        Err(RetentionError::Injected(s)) => assert_eq!(s, step),
        other => panic!("expected to stop after {step:?} #{nth}, got {other:?}"),
    }
    // kill -9: nothing more happens in this process; the files stay as they are.
    quiesce(&vault).await;
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    std::mem::forget(faulty);
    std::mem::forget(vault);
    std::mem::forget(workers);

    let (vault, workers) = Vault::open(opts(copy.path())).await.unwrap();
    assert!(vault.committed() >= committed_before);
    let r = Retention::new(vault.clone(), Policy::default());
    if in_hold {
        // The hold is in the catalog; its record may or may not be in the vault yet.
        assert_eq!(r.holds().unwrap().len(), 1);
    }
    let first = r.run(now, false).await.unwrap();
    assert_eq!(first.stopped, None);
    let again = r.run(now + NS_PER_HOUR, false).await.unwrap();
    assert!(
        again.deleted.is_empty(),
        "a second run deletes nothing more: {again:?}"
    );
    assert_eq!(again.finished_interrupted, 0);

    let (a, b, c, d) = (&segs[0], &segs[1], &segs[2], &segs[3]);
    let catalog = vault.catalog();
    let listed: Vec<String> = catalog
        .segments(None, None)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(
        listed,
        vec![c.path.clone(), d.path.clone()],
        "held and young segments stay, expired ones go"
    );
    let dels = catalog.deletions().unwrap();
    let mut deleted: Vec<&str> = dels.iter().map(|d| d.segment.path.as_str()).collect();
    deleted.sort_unstable();
    let mut want = vec![a.path.as_str(), b.path.as_str()];
    want.sort_unstable();
    assert_eq!(deleted, want, "each expired segment deleted exactly once");
    assert!(dels.iter().all(|d| d.object_deleted_at_ns.is_some()));
    assert!(catalog.pending_object_deletions().unwrap().is_empty());
    assert!(catalog.outbox_pending().unwrap().is_empty());
    for s in [a, b] {
        assert!(
            !copy.path().join("objects").join(&s.path).exists(),
            "{} left behind",
            s.path
        );
    }
    for s in [c, d] {
        assert!(
            copy.path().join("objects").join(&s.path).exists(),
            "{} deleted",
            s.path
        );
    }
    assert!(first.deleted.len() <= 2, "{first:?}");
    // Every deletion and the hold are recorded in the vault exactly once.
    let recorded: Vec<String> = records_of(&vault, "retention.deleted")
        .await
        .iter()
        .map(|v| v["segment"].as_str().unwrap().to_owned())
        .collect();
    let mut recorded_sorted = recorded.clone();
    recorded_sorted.sort_unstable();
    assert_eq!(
        recorded_sorted, want,
        "deletion records after stopping at {step:?} #{nth}"
    );
    assert_eq!(records_of(&vault, "hold.added").await.len(), 1);
    // Records of the deleted segments are gone, the others are found.
    let hits = all(
        &vault,
        Query {
            seq_to: Some(d.seq_max),
            limit: 0,
            ..Default::default()
        },
    )
    .await;
    let seqs: Vec<u64> = hits.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, vec![c.seq_min, d.seq_min]);
    assert_eq!(vault.sealed_through(), Some(d.seq_max));
    close(vault, Some(r), workers).await;
}

#[test]
fn a_crash_at_any_step_is_finished_by_the_next_run() {
    let rt = rt();
    for step in [
        Step::BoundariesPreserved,
        Step::CatalogMoved,
        Step::ViewDropped,
        Step::ObjectDeleted,
        Step::ObjectMarked,
    ] {
        for nth in [1, 2] {
            rt.block_on(crash_then_finish(step, nth, false));
        }
    }
    // Records: the hold's (1st), then the deletions' (2nd, 3rd).
    for step in [Step::RecordAppended, Step::RecordMarked] {
        for nth in [2, 3] {
            rt.block_on(crash_then_finish(step, nth, false));
        }
    }
    // Adding a hold: stopped before or after its record was marked.
    for step in [Step::RecordAppended, Step::RecordMarked] {
        rt.block_on(crash_then_finish(step, 1, true));
    }
}

// ---------------------------------------------------------------- readers

#[test]
fn a_search_in_progress_keeps_the_object_until_the_next_run() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_segments(
            dir.path(),
            &[
                vec![rec(BASE, "h")],
                vec![rec(BASE + 300 * NS_PER_DAY, "h")],
            ],
        );
        let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
        let r = Retention::new(vault.clone(), Policy::default())
            .with_reader_wait(Duration::from_millis(200));
        let reading = vault.snapshot().await;
        assert_eq!(reading.segments.len(), 2);
        let now = BASE + 200 * NS_PER_DAY;
        let rep = r.run(now, false).await.unwrap();
        assert_eq!(rep.deleted.len(), 1);
        assert_eq!(rep.deferred, vec![segs[0].path.clone()]);
        // New searches no longer see it; the one in progress still reads it whole.
        assert_eq!(vault.snapshot().await.segments.len(), 1);
        let object = dir.path().join("objects").join(&segs[0].path);
        assert!(object.exists());
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let q = Query {
            limit: 0,
            seq_to: Some(1),
            ..Default::default()
        };
        let store = vault.store();
        let task =
            tokio::spawn(async move { search::search_snapshot(&store, reading, &q, tx).await });
        let mut n = 0;
        while let Some(b) = rx.recv().await {
            n += b.num_rows();
        }
        task.await.unwrap().unwrap();
        assert_eq!(n, 2);
        // The next run deletes the object.
        let rep = r.run(now, false).await.unwrap();
        assert_eq!(rep.finished_interrupted, 1);
        assert!(rep.deleted.is_empty());
        assert!(!object.exists());
        assert_eq!(records_of(&vault, "retention.deleted").await.len(), 1);
        close(vault, Some(r), workers).await;
    });
}

// ---------------------------------------------------------------- sequence

#[test]
fn sequence_numbers_continue_after_every_segment_is_deleted() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let segs = write_segments(
            dir.path(),
            &[vec![rec(BASE, "h"), rec(BASE + 1, "h"), rec(BASE + 2, "h")]],
        );
        let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
        let r = Retention::new(vault.clone(), Policy::default());
        let rep = r.run(BASE + 400 * NS_PER_DAY, false).await.unwrap();
        assert_eq!(rep.deleted.len(), 1);
        assert!(vault.catalog().segments(None, None).unwrap().is_empty());
        // Crash with the deletion record (seq 3) only in the WAL: no segment
        // is left in the catalog, yet numbering must go on from 4.
        quiesce(&vault).await;
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        std::mem::forget(r);
        std::mem::forget(vault);
        std::mem::forget(workers);

        let (vault, workers) = Vault::open(opts(copy.path())).await.unwrap();
        assert_eq!(
            vault.sealed_through(),
            Some(segs[0].seq_max),
            "deleted segments count as sealed"
        );
        assert_eq!(
            vault.committed(),
            segs[0].seq_max + 2,
            "the deletion record was replayed from the WAL"
        );
        let got = vault
            .append(
                Transport::Http,
                Arc::from("127.0.0.1:1"),
                vec![Bytes::from_static(b"after")],
            )
            .await
            .unwrap();
        assert_eq!(
            got.first,
            segs[0].seq_max + 2,
            "sequence numbers are never reused"
        );
        assert_eq!(records_of(&vault, "retention.deleted").await.len(), 1);
        close(vault, None, workers).await;
        let (vault, workers) = Vault::open(opts(copy.path())).await.unwrap();
        assert_eq!(vault.committed(), segs[0].seq_max + 3);
        close(vault, None, workers).await;
    });
}

// ---------------------------------------------------------------- IP holds

#[test]
fn an_ip_hold_keeps_only_segments_whose_bloom_filter_may_hold_the_address() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let with_ip = Rec {
            at: BASE,
            source: "h".into(),
            ip: Some("192.0.2.7".into()),
        };
        let segs = write_segments(
            dir.path(),
            &[
                vec![with_ip],
                vec![rec(BASE + NS_PER_HOUR, "h")],
                vec![rec(BASE + 2 * NS_PER_HOUR, "192.0.2.7")],
            ],
        );
        let (vault, workers) = Vault::open(opts(dir.path())).await.unwrap();
        let r = Retention::new(vault.clone(), Policy::default());
        let now = BASE + 200 * NS_PER_DAY;
        let h: Hold = r
            .add_hold(
                &new_hold(BASE, BASE + 3 * NS_PER_HOUR, None, Some("192.0.2.7")),
                now,
            )
            .await
            .unwrap();
        let dry = r.run(now, true).await.unwrap();
        assert!(dry.dry_run);
        let held: Vec<&str> = dry.held.iter().map(|s| s.segment.as_str()).collect();
        // The address in a line (Bloom filter: maybe) and as the sender (a source): held.
        assert_eq!(held, vec![segs[0].path.as_str(), segs[2].path.as_str()]);
        assert_eq!(dry.held[0].holds[0].id, h.id);
        assert_eq!(dry.deleted.len(), 1);
        assert_eq!(dry.deleted[0].segment, segs[1].path);
        // A dry run changes nothing.
        assert_eq!(vault.catalog().segments(None, None).unwrap().len(), 3);
        assert!(vault.catalog().last_run().unwrap().is_none());
        let real = r.run(now, false).await.unwrap();
        assert_eq!(real.deleted, dry.deleted);
        // Released, the rest goes.
        r.release_hold(h.id, "test", "order vacated", now)
            .await
            .unwrap();
        let rep = r.run(now, false).await.unwrap();
        assert_eq!(rep.deleted.len(), 2);
        let recs = records_of(&vault, "hold.released").await;
        assert_eq!(recs[0]["hold"], h.id);
        assert_eq!(recs[0]["reason"], "order vacated");
        let added = records_of(&vault, "hold.added").await;
        assert_eq!(added[0]["ip"], "192.0.2.7");
        assert_eq!(added[0]["order_ref"], "CERT-In/2025/17");
        close(vault, Some(r), workers).await;
    });
}
