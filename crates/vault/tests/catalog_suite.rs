//! The catalog's conformance suite: what the vault relies on from any
//! [`Catalog`], written once and run on every implementation: SQLite, and
//! PostgreSQL on 127.0.0.1:5432 (user postgres, database test; a fresh
//! schema per test, dropped after), as `registry/tests/store_suite.rs` does
//! for the registry. Without that server the PostgreSQL tests fail, saying
//! so. What PostgreSQL adds (several processes on one schema, its schema
//! version) is checked at the end.
//!
//! Each check is a function of a [`Backend`]: the catalog the vault writes
//! through and a way to open another handle on the same catalog, as
//! `verify` and the command line do beside a running server.

use pramaan_core::{LedgerSink, MemorySink};
use pramaan_db::outbox::Flusher;
use pramaan_vault::catalog::{PgCatalog, PgLocation, SqliteCatalog};
use pramaan_vault::ledger::{LedgerRebuild, StoredCheckpoint};
use pramaan_vault::retention::store::{OutboxEntry, RetireInfo, Retired};
use pramaan_vault::retention::{Hold, NewHold, RetentionCatalog};
use pramaan_vault::{Catalog, SegmentMeta};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

type Open = Box<dyn Fn() -> Arc<dyn Catalog> + Send + Sync>;

struct Backend {
    /// The catalog the vault writes through.
    writer: Arc<dyn Catalog>,
    /// Another handle on the same catalog (a reader beside the vault).
    reader: Open,
    _dir: tempfile::TempDir,
    /// PostgreSQL: drops the test's schema when the test ends.
    _schema: Option<DropSchema>,
}

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PG_NEEDED: &str =
    "PostgreSQL on 127.0.0.1:5432 (user postgres, trust, database test) must be running (scripts/test starts it)";

/// A schema of its own for each test.
fn pg_location() -> PgLocation {
    static N: AtomicUsize = AtomicUsize::new(0);
    PgLocation {
        url: PG_URL.into(),
        schema: format!(
            "cat_t{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            pramaan_core::time::now_ns() % 1_000_000
        ),
    }
}

struct DropSchema(PgLocation);

impl Drop for DropSchema {
    fn drop(&mut self) {
        if let Ok(c) = PgCatalog::open(&self.0) {
            let _ = c.drop_schema();
        }
    }
}

fn postgres() -> Backend {
    let at = pg_location();
    let writer: Arc<dyn Catalog> = Arc::new(PgCatalog::open(&at).expect(PG_NEEDED));
    let reader_at = at.clone();
    let reader: Open = Box::new(move || Arc::new(PgCatalog::open_read_only(&reader_at).unwrap()));
    Backend {
        writer,
        reader,
        _dir: tempfile::tempdir().unwrap(),
        _schema: Some(DropSchema(at)),
    }
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let writer: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).unwrap());
    let reader: Open = Box::new(move || Arc::new(SqliteCatalog::open_read_only(&path).unwrap()));
    Backend {
        writer,
        reader,
        _dir: dir,
        _schema: None,
    }
}

/// One test per check and backend.
macro_rules! suite {
    ($backend:ident: $($check:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::$backend()).await
                }
            )*
        }
    };
}

/// Every check, on every implementation.
macro_rules! every_backend {
    ($($backend:ident),*) => {
        $(
            suite!($backend:
                rows_listed_in_sequence_order_and_by_time,
                a_row_is_seen_whole_by_another_reader_once_inserted,
                concurrent_readers_see_a_growing_prefix,
                deletion_moves_the_row_and_keeps_the_sealed_mark,
                holds_block_deletion,
                outbox_rows_carry_their_watermark_and_are_appended_once,
                compaction_switches_only_the_named_object,
                checkpoint_history_and_rebuilds,
            );
        )*
    };
}

every_backend!(sqlite, postgres);

fn seg(path: &str, seq: (u64, u64), t: (i64, i64)) -> SegmentMeta {
    SegmentMeta {
        id: 0,
        path: path.into(),
        seq_min: seq.0,
        seq_max: seq.1,
        time_min_ns: t.0,
        time_max_ns: t.1,
        rows: seq.1 - seq.0 + 1,
        bytes: 1000 + seq.0,
        sha256: format!("{:064x}", seq.0),
        sources: BTreeMap::from([("host-a".to_string(), seq.1 - seq.0 + 1)]),
        raw_bytes: 10 * (seq.1 - seq.0 + 1),
        created_at_ns: 42,
    }
}

fn insert(c: &dyn Catalog, s: &SegmentMeta) -> SegmentMeta {
    let mut s = s.clone();
    s.id = c.insert(&s).unwrap();
    s
}

fn paths(v: &[SegmentMeta]) -> Vec<&str> {
    v.iter().map(|s| s.path.as_str()).collect()
}

fn info(run: i64) -> RetireInfo {
    RetireInfo {
        policy: "default 180d".into(),
        cutoff_ns: 1_000,
        run,
        deleted_at_ns: 2_000,
    }
}

fn entry(body: &str, watermark: u64) -> OutboxEntry {
    OutboxEntry {
        peer: "pramaan:retention".into(),
        body: body.into(),
        watermark,
    }
}

fn no_block(_: &[Hold]) -> Vec<i64> {
    Vec::new()
}

async fn rows_listed_in_sequence_order_and_by_time(b: Backend) {
    let c = &*b.writer;
    assert_eq!(c.sealed_through().unwrap(), None);
    assert!(c.segments(None, None).unwrap().is_empty());
    // Inserted out of order (compaction and replays do not seal in order).
    let s2 = insert(c, &seg("segments/c", (20, 29), (500, 600)));
    let s0 = insert(c, &seg("segments/a", (0, 9), (100, 200)));
    let s1 = insert(c, &seg("segments/b", (10, 19), (300, 400)));
    assert!(s0.id > 0 && s1.id > 0 && s2.id > 0);
    assert_ne!(s0.id, s1.id);
    let all = c.segments(None, None).unwrap();
    assert_eq!(all, vec![s0.clone(), s1.clone(), s2.clone()]);
    assert_eq!(c.sealed_through().unwrap(), Some(29));
    // Time bounds are inclusive at both ends.
    assert_eq!(
        paths(&c.segments(Some(200), Some(300)).unwrap()),
        ["segments/a", "segments/b"]
    );
    assert_eq!(
        paths(&c.segments(Some(201), Some(299)).unwrap()),
        Vec::<&str>::new()
    );
    assert_eq!(paths(&c.segments(Some(401), None).unwrap()), ["segments/c"]);
    assert_eq!(paths(&c.segments(None, Some(100)).unwrap()), ["segments/a"]);
    // A path names one segment.
    assert!(c.insert(&seg("segments/a", (30, 39), (700, 800))).is_err());
    assert_eq!(c.segments(None, None).unwrap().len(), 3);
}

async fn a_row_is_seen_whole_by_another_reader_once_inserted(b: Backend) {
    let reader = (b.reader)();
    assert!(reader.segments(None, None).unwrap().is_empty());
    let s = insert(&*b.writer, &seg("segments/a", (0, 99), (10, 20)));
    // Once `insert` returns, the row is committed: another handle sees it
    // whole, and the sealed mark with it.
    assert_eq!(reader.segments(None, None).unwrap(), vec![s]);
    assert_eq!(reader.sealed_through().unwrap(), Some(99));
    // A handle opened afterwards too.
    assert_eq!((b.reader)().segments(None, None).unwrap().len(), 1);
}

async fn concurrent_readers_see_a_growing_prefix(b: Backend) {
    const N: u64 = 200;
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (r, done) = ((b.reader)(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0usize;
                let mut looks = 0u64;
                while !done.load(Ordering::Acquire) || looks == 0 {
                    let mark = r.sealed_through().unwrap();
                    let list = r.segments(None, None).unwrap();
                    looks += 1;
                    // Never fewer rows than before, always rows 0..k whole,
                    // and the mark read just before never ahead of them.
                    assert!(
                        list.len() >= seen,
                        "went back from {seen} to {}",
                        list.len()
                    );
                    seen = list.len();
                    for (i, s) in list.iter().enumerate() {
                        let want = seg(
                            &format!("segments/{i:05}"),
                            (i as u64 * 10, i as u64 * 10 + 9),
                            (i as i64, i as i64),
                        );
                        assert_eq!(
                            (
                                s.path.as_str(),
                                s.seq_min,
                                s.seq_max,
                                s.rows,
                                &s.sources,
                                &s.sha256
                            ),
                            (
                                want.path.as_str(),
                                want.seq_min,
                                want.seq_max,
                                want.rows,
                                &want.sources,
                                &want.sha256
                            )
                        );
                    }
                    if let Some(m) = mark {
                        assert!(
                            list.last().is_some_and(|s| s.seq_max >= m),
                            "mark {m} ahead of the rows"
                        );
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..N {
        insert(
            &*b.writer,
            &seg(
                &format!("segments/{i:05}"),
                (i * 10, i * 10 + 9),
                (i as i64, i as i64),
            ),
        );
    }
    done.store(true, Ordering::Release);
    for r in readers {
        let seen = r.join().expect("a reader failed");
        assert!(seen <= N as usize);
    }
    assert_eq!((b.reader)().segments(None, None).unwrap().len(), N as usize);
}

async fn deletion_moves_the_row_and_keeps_the_sealed_mark(b: Backend) {
    let c = &*b.writer;
    let s0 = insert(c, &seg("segments/a", (0, 9), (100, 200)));
    let s1 = insert(c, &seg("segments/b", (10, 19), (300, 400)));
    let run = c.begin_run(5_000, 5_001).unwrap();
    // The highest segment goes: sequence numbers are still never reused.
    let r = c
        .retire_segment(
            s1.id,
            &info(run),
            &no_block,
            &entry("{\"deleted\":\"b\"}", 20),
        )
        .unwrap();
    let Retired::Moved(deletion) = r else {
        panic!("not moved: {r:?}")
    };
    assert_eq!(c.segments(None, None).unwrap(), vec![s0.clone()]);
    assert_eq!(c.sealed_through().unwrap(), Some(19));
    let pending = c.pending_object_deletions().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, deletion);
    assert_eq!(pending[0].segment.path, "segments/b");
    assert_eq!(pending[0].segment.seq_max, 19);
    assert_eq!(pending[0].run, run);
    assert_eq!(c.deletion_counts().unwrap(), (1, 1));
    // Seen by another reader at once.
    assert_eq!((b.reader)().pending_object_deletions().unwrap().len(), 1);
    c.mark_object_deleted(deletion, 6_000).unwrap();
    assert!(c.pending_object_deletions().unwrap().is_empty());
    assert_eq!(c.deletion_counts().unwrap(), (1, 0));
    let all = c.deletions().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].object_deleted_at_ns, Some(6_000));
    // Retiring it again finds nothing.
    assert_eq!(
        c.retire_segment(s1.id, &info(run), &no_block, &entry("again", 20))
            .unwrap(),
        Retired::Gone
    );
    c.finish_run(run, 1, 0, 7_000, None).unwrap();
    let last = c.last_run().unwrap().unwrap();
    assert_eq!(
        (last.id, last.deleted, last.finished_at_ns),
        (run, 1, Some(7_000))
    );
    // The next segment continues after the deleted one.
    assert_eq!(c.sealed_through().unwrap(), Some(19));
}

async fn holds_block_deletion(b: Backend) {
    let c = &*b.writer;
    let s = insert(c, &seg("segments/a", (0, 9), (100, 200)));
    let hold = c
        .add_hold(
            &NewHold {
                from_ns: 0,
                to_ns: 1_000,
                source: None,
                ip: None,
                reason: "order 7".into(),
                order_ref: "ORD-7".into(),
                created_by: "auditor".into(),
            },
            3_000,
            "pramaan:retention",
            0,
            &|h| format!("{{\"hold\":{}}}", h.id),
        )
        .unwrap();
    assert!(hold.active());
    let blocked = |holds: &[Hold]| holds.iter().filter(|h| h.active()).map(|h| h.id).collect();
    let r = c
        .retire_segment(s.id, &info(1), &blocked, &entry("x", 10))
        .unwrap();
    assert_eq!(r, Retired::Held(vec![hold.id]));
    assert_eq!(c.segments(None, None).unwrap().len(), 1);
    // Only the hold's own outbox row: the refused deletion wrote none.
    assert_eq!(c.outbox().unwrap().len(), 1);
    assert_eq!(c.holds().unwrap(), vec![hold.clone()]);
    assert_eq!(c.hold(hold.id).unwrap(), Some(hold));
}

async fn outbox_rows_carry_their_watermark_and_are_appended_once(b: Backend) {
    let c = &*b.writer;
    let sink = MemorySink::new();
    // An identical record from before the rows were staged (seq 0).
    sink.append("pramaan:retention", b"{\"n\":2}".to_vec())
        .await
        .unwrap();
    let a = insert(c, &seg("segments/a", (0, 9), (100, 200)));
    let z = insert(c, &seg("segments/z", (10, 19), (300, 400)));
    // Staged when the ledger held 1 record: the watermark.
    c.retire_segment(a.id, &info(1), &no_block, &entry("{\"n\":1}", 1))
        .unwrap();
    c.retire_segment(z.id, &info(1), &no_block, &entry("{\"n\":2}", 1))
        .unwrap();
    let pending = c.outbox_pending().unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|r| (r.body.as_str(), r.watermark, r.seq))
            .collect::<Vec<_>>(),
        [("{\"n\":1}", 1, None), ("{\"n\":2}", 1, None)]
    );
    assert!(pending[0].id < pending[1].id);
    // The first row's record reached the ledger (seq 1) before a crash, unmarked.
    sink.append("pramaan:retention", b"{\"n\":1}".to_vec())
        .await
        .unwrap();
    let flushed = Flusher::new("retention")
        .flush(&*c.outbox_rows(), &sink)
        .await
        .unwrap();
    // The first is found from its watermark on; the second's look-alike at
    // seq 0 is before its watermark, so it is appended.
    assert_eq!((flushed.found, flushed.appended), (1, 1));
    assert_eq!(sink.records().len(), 3);
    assert!(c.outbox_pending().unwrap().is_empty());
    let marked: Vec<Option<u64>> = c.outbox().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(marked, [Some(1), Some(2)]);
    assert!((b.reader)().outbox_pending().unwrap().is_empty());
    // Nothing left: a second flush appends nothing.
    let again = Flusher::new("retention")
        .flush(&*c.outbox_rows(), &sink)
        .await
        .unwrap();
    assert_eq!((again.found, again.appended), (0, 0));
    assert_eq!(sink.records().len(), 3);
}

async fn compaction_switches_only_the_named_object(b: Backend) {
    let c = &*b.writer;
    let s = insert(c, &seg("segments/a.parquet", (0, 9), (100, 200)));
    assert!(c.below_level(3).unwrap().contains(&s.id));
    assert!(c
        .switch_object(
            s.id,
            "segments/a.parquet",
            "segments/a-c3.parquet",
            77,
            "ff",
            3
        )
        .unwrap());
    let now = &c.segments(None, None).unwrap()[0];
    assert_eq!(
        (now.path.as_str(), now.bytes, now.sha256.as_str()),
        ("segments/a-c3.parquet", 77, "ff")
    );
    assert!(!c.below_level(3).unwrap().contains(&s.id));
    assert!(c.below_level(4).unwrap().contains(&s.id));
    // A stale path (retention or another compaction changed the row): no switch.
    assert!(!c
        .switch_object(
            s.id,
            "segments/a.parquet",
            "segments/a-c5.parquet",
            1,
            "00",
            5
        )
        .unwrap());
    assert_eq!(
        c.segments(None, None).unwrap()[0].path,
        "segments/a-c3.parquet"
    );
}

async fn checkpoint_history_and_rebuilds(b: Backend) {
    let c = &*b.writer;
    assert_eq!(c.last_checkpoint().unwrap(), None);
    let cp = |size: u64, note: &str| StoredCheckpoint {
        size,
        note: note.into(),
        published_at_ns: size as i64,
    };
    c.add_checkpoint(&cp(10, "ten")).unwrap();
    c.add_checkpoint(&cp(5, "five")).unwrap();
    c.add_checkpoint(&cp(10, "ten again")).unwrap();
    let sizes: Vec<(u64, String)> = c
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|c| (c.size, c.note))
        .collect();
    assert_eq!(sizes, [(5, "five".to_string()), (10, "ten".to_string())]);
    c.replace_checkpoint(&cp(10, "ten, co-signed")).unwrap();
    assert_eq!(c.last_checkpoint().unwrap().unwrap().note, "ten, co-signed");
    assert_eq!(c.checkpoint_at(5).unwrap().unwrap().note, "five");
    assert_eq!(c.checkpoint_at(6).unwrap(), None);
    assert_eq!((b.reader)().last_checkpoint().unwrap().unwrap().size, 10);
    let id = c
        .add_rebuild(&LedgerRebuild {
            id: 0,
            at_ns: 1,
            at: "now".into(),
            by: "root".into(),
            reason: "restored".into(),
            records: 10,
            seq: None,
        })
        .unwrap();
    c.set_rebuild_seq(id, 10).unwrap();
    let r = c.rebuilds().unwrap();
    assert_eq!((r.len(), r[0].id, r[0].seq), (1, id, Some(10)));
}

// What PostgreSQL adds.

/// Two processes (or one after a restart) over one schema: each sees the
/// other's rows, ids never collide, and a deletion through one keeps the
/// sealed mark the other reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_catalogs_over_one_schema_see_each_others_rows() {
    let b = postgres();
    let at = b._schema.as_ref().unwrap().0.clone();
    let one = &*b.writer;
    let two = PgCatalog::open(&at).unwrap();
    assert_eq!(
        two.describe(),
        format!(
            "postgres://postgres@127.0.0.1:5432/test (schema {})",
            at.schema
        )
    );
    let a = insert(one, &seg("segments/a", (0, 9), (100, 200)));
    let z = insert(&two, &seg("segments/z", (10, 19), (300, 400)));
    assert_ne!(a.id, z.id);
    assert_eq!(
        one.segments(None, None).unwrap(),
        vec![a.clone(), z.clone()]
    );
    assert_eq!(
        two.segments(None, None).unwrap(),
        vec![a.clone(), z.clone()]
    );
    let hold = two
        .add_hold(
            &NewHold {
                from_ns: 0,
                to_ns: 250,
                source: None,
                ip: None,
                reason: "order".into(),
                order_ref: "ORD-1".into(),
                created_by: "me".into(),
            },
            1,
            "pramaan:retention",
            0,
            &|h| format!("{{\"hold\":{}}}", h.id),
        )
        .unwrap();
    let blocked = |holds: &[Hold]| holds.iter().map(|h| h.id).collect();
    assert_eq!(
        one.retire_segment(a.id, &info(1), &blocked, &entry("a", 1))
            .unwrap(),
        Retired::Held(vec![hold.id])
    );
    assert!(matches!(
        one.retire_segment(z.id, &info(1), &no_block, &entry("z", 1))
            .unwrap(),
        Retired::Moved(_)
    ));
    assert_eq!(two.sealed_through().unwrap(), Some(19));
    assert_eq!(two.deletions().unwrap().len(), 1);
    // A restart: a new handle finds everything.
    drop(two);
    let again = PgCatalog::open_read_only(&at).unwrap();
    assert_eq!(again.segments(None, None).unwrap(), vec![a]);
    assert_eq!(again.holds().unwrap(), vec![hold]);
    assert_eq!(again.outbox().unwrap().len(), 2);
}

/// The schema's version is kept in `pramaan_schema`; a newer one is
/// refused naming both versions, an older one by read-only opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_version_is_recorded_and_a_newer_one_refused() {
    let b = postgres();
    let at = b._schema.as_ref().unwrap().0.clone();
    let (client, conn) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls)
        .await
        .expect(PG_NEEDED);
    tokio::spawn(conn);
    let version = |sql: String| {
        let client = &client;
        async move { client.batch_execute(&sql).await.unwrap() }
    };
    let row = client
        .query_one(
            &format!(
                "SELECT version FROM {}.pramaan_schema WHERE component = 'catalog'",
                at.schema
            ),
            &[],
        )
        .await
        .unwrap();
    let latest = pramaan_vault::catalog::postgres::PG_SCHEMA.latest() as i32;
    assert_eq!(row.get::<_, i32>(0), latest);

    version(format!(
        "UPDATE {}.pramaan_schema SET version = 99 WHERE component = 'catalog'",
        at.schema
    ))
    .await;
    for e in [
        PgCatalog::open(&at).err().unwrap().to_string(),
        PgCatalog::open_read_only(&at).err().unwrap().to_string(),
    ] {
        assert!(
            e.contains(&at.schema)
                && e.contains("version 99")
                && e.contains(&format!("({latest})")),
            "{e}"
        );
    }

    version(format!(
        "UPDATE {}.pramaan_schema SET version = 0 WHERE component = 'catalog'",
        at.schema
    ))
    .await;
    let e = PgCatalog::open_read_only(&at).err().unwrap().to_string();
    assert!(e.contains("start `pramaan serve` once"), "{e}");
    // Opening to write migrates it (the steps keep what is there).
    insert(&*b.writer, &seg("segments/a", (0, 9), (1, 2)));
    PgCatalog::open(&at).unwrap();
    let c = PgCatalog::open_read_only(&at).unwrap();
    assert_eq!(c.segments(None, None).unwrap().len(), 1);
}

/// PostgreSQL not there: a clear error naming the URL, its password hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_is_named_without_the_password() {
    let at = PgLocation {
        url: "postgres://pramaan:s3cretpw@127.0.0.1:1/test".into(),
        schema: "pramaan_catalog".into(),
    };
    let e = PgCatalog::open(&at).err().unwrap().to_string();
    assert!(e.contains("postgres://pramaan@127.0.0.1:1/test"), "{e}");
    assert!(e.contains("cannot connect"), "{e}");
    assert!(!e.contains("s3cretpw"), "{e}");
    assert!(!format!("{at:?}").contains("s3cretpw"));
    let bad = PgLocation {
        url: PG_URL.into(),
        schema: "x; DROP TABLE y".into(),
    };
    let e = PgCatalog::open(&bad).err().unwrap().to_string();
    assert!(e.contains("not a usable schema name"), "{e}");
}
