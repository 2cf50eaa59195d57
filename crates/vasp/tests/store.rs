//! The transaction store against a ledger in memory: imports are whole,
//! idempotent and exactly once in the ledger, even when the numbering after
//! an append is lost; the trail follows funds through customers and wallets.

use pramaan_core::sink::{FindFuture, MemorySink, SinkFuture};
use pramaan_core::{LedgerSink, SinkError};
use pramaan_vasp::store::{Store, StoreError, Touching, SOURCE};
use pramaan_vasp::{import, trail, Limits, Start, Transaction};
use std::sync::atomic::{AtomicBool, Ordering};

const W1: &str = "0x1111111111111111111111111111111111111111";
const W2: &str = "0x2222222222222222222222222222222222222222";

fn hash(n: u32) -> String {
    format!("0x{n:064x}")
}

/// Transactions written as CSV: C-1 deposits from W1, trades with C-2,
/// sends to C-2; C-2 withdraws to W2; W2 deposits to C-3 (funds leaving
/// and coming back); C-9 has nothing to do with it.
fn fixture() -> Vec<Transaction> {
    let csv = format!(
        "id,time,kind,customer,asset,amount,fee,chain,from_wallet,to_wallet,tx_hash,counterparty,counter_asset,counter_amount,received,ip
T-1,2026-03-01T10:00:00Z,deposit,C-1,ETH,10,,ethereum,{W1},0x00000000000000000000000000000000000000c1,{h1},,,,,
T-2,2026-03-01T11:00:00Z,trade,C-1,ETH,2,,,,,,C-2,USDT,7000,,198.51.100.1
T-3,2026-03-01T12:00:00Z,transfer,C-1,ETH,5,0.01,,,,,C-2,,,4.99,198.51.100.2
T-4,2026-03-02T09:00:00Z,withdrawal,C-2,ETH,4.5,,ethereum,,{W2},{h4},,,,,203.0.113.9
T-5,2026-03-03T09:00:00Z,deposit,C-3,ETH,4.4,,ethereum,{W2},0x00000000000000000000000000000000000000c3,{h5},,,,,
T-6,2026-03-03T09:30:00Z,transfer,C-9,BTC,1,,,,,,C-8,,,,192.0.2.99
",
        h1 = hash(1),
        h4 = hash(4),
        h5 = hash(5),
    );
    import::read(csv.as_bytes()).unwrap_or_else(|p| panic!("{p:?}"))
}

fn all_time() -> Limits {
    Limits {
        from_ns: 0,
        to_ns: i64::MAX,
        hops: 5,
        max_edges: 1000,
    }
}

#[tokio::test]
async fn an_import_is_in_the_ledger_once_and_sending_it_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vasp.db")).unwrap();
    let sink = MemorySink::new();
    let r = store.import(fixture(), &sink).await.unwrap();
    assert_eq!((r.added, r.unchanged), (6, 0));
    let records = sink.records();
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(|(s, _)| s == SOURCE));
    // Each transaction knows its record, and the record is its JSON.
    let t3 = store.get("T-3").unwrap().unwrap();
    let seq = t3.seq.expect("numbered") as usize;
    assert_eq!(records[seq].1, t3.tx.body());
    let again = store.import(fixture(), &sink).await.unwrap();
    assert_eq!((again.added, again.unchanged), (0, 6));
    assert_eq!(sink.records().len(), 6, "nothing twice in the ledger");
    // The same id with other content refuses the whole request.
    let mut changed = fixture();
    changed[2].amount = "6".into();
    changed.push(Transaction {
        id: "T-7".into(),
        ..changed[5].clone()
    });
    let e = store.import(changed, &sink).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("`T-3` is already stored (or given twice) with other content")),
        "{e}"
    );
    assert!(store.get("T-7").unwrap().is_none(), "all or nothing");
    assert_eq!(store.count().unwrap(), 6);
}

/// A ledger that takes a batch but loses the answer, once (a crash between
/// the append and the numbering).
struct LosesAnAnswer {
    inner: MemorySink,
    lost: AtomicBool,
}

impl LedgerSink for LosesAnAnswer {
    fn append(&self, source: &str, body: Vec<u8>) -> SinkFuture<'_> {
        self.inner.append(source, body)
    }
    fn committed(&self) -> u64 {
        self.inner.committed()
    }
    fn find(&self, source: &str, body: &[u8], from: u64) -> FindFuture<'_> {
        self.inner.find(source, body, from)
    }
    fn append_all(&self, source: &str, bodies: Vec<Vec<u8>>) -> SinkFuture<'_> {
        let source = source.to_owned();
        Box::pin(async move {
            let first = self.inner.committed();
            for b in bodies {
                self.inner.append(&source, b).await?;
            }
            if !self.lost.swap(true, Ordering::SeqCst) {
                return Err(SinkError::Refused("the answer was lost".into()));
            }
            Ok(first)
        })
    }
}

#[tokio::test]
async fn a_batch_whose_numbering_was_lost_is_found_not_appended_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vasp.db")).unwrap();
    let sink = LosesAnAnswer {
        inner: MemorySink::new(),
        lost: AtomicBool::new(false),
    };
    sink.inner
        .append("pramaan:audit", b"{}".to_vec())
        .await
        .unwrap();
    let e = store.import(fixture(), &sink).await.unwrap_err();
    assert!(matches!(e, StoreError::Ledger(_)), "{e}");
    assert_eq!(
        store.get("T-1").unwrap().unwrap().seq,
        None,
        "stored, not yet numbered"
    );
    // Sending it again (what a client does after an error) finishes it.
    let r = store.import(fixture(), &sink).await.unwrap();
    assert_eq!((r.recovered, r.added, r.unchanged), (1, 0, 6));
    assert_eq!(sink.inner.records().len(), 7, "each transaction once");
    assert_eq!(store.get("T-1").unwrap().unwrap().seq, Some(1));
    assert_eq!(store.get("T-6").unwrap().unwrap().seq, Some(6));
}

#[tokio::test]
async fn the_trail_follows_funds_through_customers_and_wallets() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vasp.db")).unwrap();
    store.import(fixture(), &MemorySink::new()).await.unwrap();
    let t = trail(&store, &Start::Customer("C-1".into()), all_time()).unwrap();
    let ids: Vec<&str> = t.edges.iter().map(|e| e.tx.id.as_str()).collect();
    assert_eq!(
        ids,
        ["T-1", "T-2", "T-3", "T-4", "T-5"],
        "C-9's transfer is not on it"
    );
    let hop = |id: &str| t.nodes.iter().find(|n| n.id == id).map(|n| n.hop);
    assert_eq!(hop("customer:C-1"), Some(0));
    assert_eq!(hop("customer:C-2"), Some(1));
    assert_eq!(hop(&format!("wallet:ethereum:{W2}")), Some(2));
    assert_eq!(hop("customer:C-3"), Some(3));
    let c1 = t.nodes.iter().find(|n| n.id == "customer:C-1").unwrap();
    assert_eq!(c1.ips, ["198.51.100.1", "198.51.100.2"]);
    assert!(!t.truncated);
    // Fewer hops, a window, a cap.
    let short = trail(
        &store,
        &Start::Customer("C-1".into()),
        Limits {
            hops: 1,
            ..all_time()
        },
    )
    .unwrap();
    assert_eq!(short.edges.len(), 3);
    let day = |d: &str| pramaan_core::time::parse_user_time(d, 0).unwrap();
    let window = Limits {
        from_ns: day("2026-03-01T11:30:00Z"),
        to_ns: day("2026-03-02T12:00:00Z"),
        ..all_time()
    };
    let w = trail(&store, &Start::Customer("C-1".into()), window).unwrap();
    assert_eq!(
        w.edges.iter().map(|e| e.tx.id.as_str()).collect::<Vec<_>>(),
        ["T-3", "T-4"]
    );
    let capped = trail(
        &store,
        &Start::Customer("C-1".into()),
        Limits {
            max_edges: 2,
            ..all_time()
        },
    )
    .unwrap();
    assert!(capped.truncated && capped.edges.len() == 2);
    // From a wallet and from a chain transaction hash.
    let from_w2 = trail(
        &store,
        &Start::Wallet(W2.into()),
        Limits {
            hops: 1,
            ..all_time()
        },
    )
    .unwrap();
    assert_eq!(
        from_w2.edges.len(),
        4,
        "{:?}",
        from_w2.edges.iter().map(|e| &e.tx.id).collect::<Vec<_>>()
    );
    let by_hash = trail(
        &store,
        &Start::Hash(hash(4)),
        Limits {
            hops: 0,
            ..all_time()
        },
    )
    .unwrap();
    assert_eq!(by_hash.edges.len(), 1);
    assert_eq!(
        store
            .touching(&Touching::Wallet(W1), 0, i64::MAX, 10)
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn erasure_keeps_what_is_recent_or_held() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vasp.db")).unwrap();
    store.import(fixture(), &MemorySink::new()).await.unwrap();
    let cutoff = pramaan_core::time::parse_user_time("2026-03-02T12:00:00Z", 0).unwrap();
    let held: std::collections::HashSet<String> = ["C-2".to_owned()].into();
    // T-1 goes (C-1 alone); T-2, T-3 (C-2 the counterparty) and T-4 (C-2's) are held; T-5, T-6 are recent.
    assert_eq!(store.erase_before(cutoff, &held).unwrap(), 1);
    assert!(store.get("T-1").unwrap().is_none());
    for id in ["T-2", "T-3", "T-4", "T-5", "T-6"] {
        assert!(store.get(id).unwrap().is_some(), "{id}");
    }
    assert_eq!(
        store.erase_before(cutoff, &Default::default()).unwrap(),
        3,
        "without the hold"
    );
    assert_eq!(
        store.erase_before(cutoff, &Default::default()).unwrap(),
        0,
        "a second run changes nothing"
    );
}
