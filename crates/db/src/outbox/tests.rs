use super::*;
use pramaan_core::{FindFuture, MemorySink, SinkFuture};
use proptest::prelude::*;
use std::sync::atomic::AtomicU64;

const SRC: &str = "pramaan:test";

/// A database with the outbox and a component table marked back.
fn db() -> Mutex<Connection> {
    let c = Connection::open_in_memory().unwrap();
    create_table(&c).unwrap();
    create_table(&c).unwrap(); // a second open changes nothing
    c.execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY, body BLOB, ledger_seq INTEGER)")
        .unwrap();
    Mutex::new(c)
}

const MARK_BACK: &str = "UPDATE events SET ledger_seq = ?1 WHERE id = ?2";

/// The component's change: an events row and its outbox row, one transaction.
fn change(db: &Mutex<Connection>, sink: &dyn LedgerSink, body: &[u8]) {
    let mut c = db.lock().unwrap();
    let tx = c.transaction().unwrap();
    tx.execute("INSERT INTO events (body) VALUES (?1)", [body])
        .unwrap();
    let id = tx.last_insert_rowid();
    stage_for(&tx, SRC, body, sink.committed(), id).unwrap();
    tx.commit().unwrap();
}

fn block<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn of_source(sink: &MemorySink, source: &str) -> Vec<Vec<u8>> {
    sink.records()
        .into_iter()
        .filter(|(s, _)| s == source)
        .map(|(_, b)| b)
        .collect()
}

/// A memory sink that refuses appends once its budget is spent.
struct Flaky {
    inner: MemorySink,
    budget: AtomicU64,
}

impl LedgerSink for Flaky {
    fn append(&self, source: &str, body: Vec<u8>) -> SinkFuture<'_> {
        let left = self.budget.load(Ordering::Relaxed);
        if left == 0 {
            return Box::pin(async { Err(SinkError::Refused("the vault is closed".into())) });
        }
        self.budget.store(left - 1, Ordering::Relaxed);
        self.inner.append(source, body)
    }
    fn committed(&self) -> u64 {
        self.inner.committed()
    }
    fn find(&self, source: &str, body: &[u8], from: u64) -> FindFuture<'_> {
        self.inner.find(source, body, from)
    }
}

#[test]
fn a_flush_appends_in_order_marks_back_and_a_second_flush_does_nothing() {
    let db = db();
    let sink = MemorySink::new();
    for b in ["a", "b", "c"] {
        change(&db, &sink, b.as_bytes());
    }
    assert_eq!(pending(&db.lock().unwrap()).unwrap(), 3);
    let f = Flusher::new("test");
    let done = block(f.flush_sqlite(&db, Some(MARK_BACK), &sink)).unwrap();
    assert_eq!(
        done,
        Flushed {
            appended: 3,
            found: 0
        }
    );
    assert_eq!(
        of_source(&sink, SRC),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    let c = db.lock().unwrap();
    assert_eq!(pending(&c).unwrap(), 0);
    let marks: Vec<(i64, Option<i64>)> = c
        .prepare("SELECT id, ledger_seq FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(marks, vec![(1, Some(0)), (2, Some(1)), (3, Some(2))]);
    drop(c);
    let again = block(f.flush_sqlite(&db, Some(MARK_BACK), &sink)).unwrap();
    assert_eq!(again, Flushed::default());
    assert_eq!(sink.records().len(), 3);
}

#[test]
fn a_crash_between_append_and_mark_is_found_not_appended_again() {
    let db = db();
    let sink = MemorySink::new();
    change(&db, &sink, b"x");
    change(&db, &sink, b"y");
    let rows = SqliteRows {
        db: &db,
        mark_back: Some(MARK_BACK),
    };
    // The first append succeeds, then the "process" dies before the mark.
    let err = block(flush_rows(&rows, &sink, &|p, _| p == Point::Appended)).unwrap_err();
    assert!(
        matches!(err, OutboxError::Injected(Point::Appended, 1)),
        "{err}"
    );
    assert_eq!(sink.records().len(), 1);
    assert_eq!(pending(&db.lock().unwrap()).unwrap(), 2);
    let done = block(flush_rows(&rows, &sink, &|_, _| false)).unwrap();
    assert_eq!(
        done,
        Flushed {
            appended: 1,
            found: 1
        }
    );
    assert_eq!(of_source(&sink, SRC), vec![b"x".to_vec(), b"y".to_vec()]);
    let marked = super::rows(&db.lock().unwrap(), SRC).unwrap();
    assert_eq!(
        marked.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![Some(0), Some(1)]
    );
}

#[test]
fn a_refusing_ledger_leaves_that_row_and_the_rest_pending_in_order() {
    let db = db();
    let sink = Flaky {
        inner: MemorySink::new(),
        budget: AtomicU64::new(1),
    };
    for b in ["1", "2", "3"] {
        change(&db, &sink, b.as_bytes());
    }
    let f = Flusher::new("test");
    let err = block(f.flush_sqlite(&db, None, &sink)).unwrap_err();
    match &err {
        OutboxError::Ledger { id, of, .. } => assert_eq!((*id, of.as_str()), (2, SRC)),
        other => panic!("{other}"),
    }
    assert_eq!(pending(&db.lock().unwrap()).unwrap(), 2);
    // It fails again: still pending, still in order.
    assert!(block(f.flush_sqlite(&db, None, &sink)).is_err());
    sink.budget.store(10, Ordering::Relaxed);
    let done = block(f.flush_sqlite(&db, None, &sink)).unwrap();
    assert_eq!(done.appended, 2);
    assert_eq!(
        of_source(&sink.inner, SRC),
        vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
    );
}

#[test]
fn identical_bodies_staged_twice_are_each_appended_once() {
    let db = db();
    let sink = MemorySink::new();
    change(&db, &sink, b"same");
    change(&db, &sink, b"same");
    let rows = SqliteRows {
        db: &db,
        mark_back: None,
    };
    // Crash after the second append: the first row is marked, the second not.
    let n = AtomicU64::new(0);
    let crash =
        |p: Point, _: &Pending| p == Point::Appended && n.fetch_add(1, Ordering::Relaxed) == 1;
    assert!(block(flush_rows(&rows, &sink, &crash)).is_err());
    let done = block(flush_rows(&rows, &sink, &|_, _| false)).unwrap();
    assert_eq!(
        done,
        Flushed {
            appended: 0,
            found: 1
        }
    );
    assert_eq!(of_source(&sink, SRC).len(), 2);
}

#[test]
fn prune_deletes_only_marked_rows_of_that_source() {
    let db = db();
    let sink = Flaky {
        inner: MemorySink::new(),
        budget: AtomicU64::new(1),
    };
    change(&db, &sink, b"kept");
    change(&db, &sink, b"waiting");
    let _ = block(Flusher::new("t").flush_sqlite(&db, None, &sink));
    let c = db.lock().unwrap();
    assert_eq!(prune(&c, "other", i64::MAX).unwrap(), 0);
    assert_eq!(prune(&c, SRC, i64::MAX).unwrap(), 1);
    assert_eq!(pending(&c).unwrap(), 1, "a pending row is never pruned");
}

/// One flush in the model: new changes staged before it (with records of
/// other sources appended meanwhile, some with the same bytes), then a flush
/// that crashes after its `crash_after`-th append or finds the ledger
/// refusing after `budget` appends.
#[derive(Clone, Debug)]
struct Round {
    staged: Vec<u8>,
    noise: Vec<u8>,
    crash_after: Option<u8>,
    budget: Option<u8>,
}

fn round() -> impl Strategy<Value = Round> {
    (
        prop::collection::vec(0u8..4, 0..5),
        prop::collection::vec(0u8..4, 0..3),
        prop::option::of(0u8..4),
        prop::option::of(0u8..4),
    )
        .prop_map(|(staged, noise, crash_after, budget)| Round {
            staged,
            noise,
            crash_after,
            budget,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the crash points and refusals, once a flush completes every
    /// staged body is in the ledger exactly once, in staging order, and each
    /// row is marked with its own record.
    #[test]
    fn every_staged_body_reaches_the_ledger_exactly_once_in_order(
        rounds in prop::collection::vec(round(), 1..6)
    ) {
        let db = db();
        let sink = Flaky { inner: MemorySink::new(), budget: AtomicU64::new(u64::MAX) };
        let rows = SqliteRows { db: &db, mark_back: Some(MARK_BACK) };
        let mut staged = Vec::new();
        for r in &rounds {
            for b in &r.staged {
                let body = format!("body {b}").into_bytes();
                change(&db, &sink, &body);
                staged.push(body);
            }
            for b in &r.noise {
                block(sink.inner.append("pramaan:other", format!("body {b}").into_bytes())).unwrap();
            }
            sink.budget.store(r.budget.map_or(u64::MAX, u64::from), Ordering::Relaxed);
            let appends = AtomicU64::new(0);
            let crash = |p: Point, _: &Pending| {
                if p == Point::Marked {
                    return false;
                }
                let n = appends.fetch_add(1, Ordering::Relaxed);
                r.crash_after.is_some_and(|k| n == u64::from(k))
            };
            let _ = block(flush_rows(&rows, &sink, &crash));
        }
        sink.budget.store(u64::MAX, Ordering::Relaxed);
        block(flush_rows(&rows, &sink, &|_, _| false)).unwrap();
        prop_assert_eq!(of_source(&sink.inner, SRC), staged.clone());
        let c = db.lock().unwrap();
        prop_assert_eq!(pending(&c).unwrap(), 0);
        let records = sink.inner.records();
        for row in super::rows(&c, SRC).unwrap() {
            let seq = row.seq.unwrap();
            prop_assert_eq!(&records[seq as usize].1, &row.pending.body);
            let back: Option<i64> = c
                .query_row("SELECT ledger_seq FROM events WHERE id = ?1", [row.pending.ref_id.unwrap()], |r| r.get(0))
                .unwrap();
            prop_assert_eq!(back, Some(seq as i64));
        }
        // Marks are distinct: no record stands for two rows.
        let mut seqs: Vec<u64> = super::rows(&c, SRC).unwrap().iter().filter_map(|r| r.seq).collect();
        let n = seqs.len();
        seqs.sort_unstable();
        seqs.dedup();
        prop_assert_eq!(seqs.len(), n);
    }
}
