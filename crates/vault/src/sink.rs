//! [`LedgerSink`] over the running vault: component records become `internal`
//! records, sequenced and hashed like every log line. [`find_records`] is how
//! the outbox (`pramaan_db::outbox`) learns, after a crash between an append
//! and its mark, whether a record already reached the vault.

use crate::schema::col;
use crate::search::{self, Query};
use crate::{Vault, VaultError};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use pramaan_core::{FindFuture, LedgerSink, SinkError, SinkFuture, Transport};
use std::sync::Arc;

#[derive(Clone)]
pub struct VaultSink {
    vault: Vault,
}

impl VaultSink {
    pub fn new(vault: Vault) -> Self {
        VaultSink { vault }
    }
}

impl LedgerSink for VaultSink {
    fn append(&self, source: &str, body: Vec<u8>) -> SinkFuture<'_> {
        let peer: Arc<str> = Arc::from(source);
        Box::pin(async move {
            self.vault
                .append(Transport::Internal, peer, vec![body.into()])
                .await
                .map(|r| r.first)
                .map_err(|e| SinkError::Refused(e.to_string()))
        })
    }

    fn append_all(&self, source: &str, bodies: Vec<Vec<u8>>) -> SinkFuture<'_> {
        let peer: Arc<str> = Arc::from(source);
        Box::pin(async move {
            if bodies.is_empty() {
                return Err(SinkError::Refused("no records to append".into()));
            }
            // One submission: one WAL write and fsync, consecutive numbers.
            self.vault
                .append(
                    Transport::Internal,
                    peer,
                    bodies.into_iter().map(Into::into).collect(),
                )
                .await
                .map(|r| r.first)
                .map_err(|e| SinkError::Refused(e.to_string()))
        })
    }

    fn committed(&self) -> u64 {
        self.vault.committed()
    }

    fn find(&self, source: &str, body: &[u8], from: u64) -> FindFuture<'_> {
        let (source, body) = (source.to_owned(), body.to_vec());
        Box::pin(async move {
            find_records(&self.vault, &source, &body, from)
                .await
                .map_err(|e| SinkError::Search(e.to_string()))
        })
    }
}

/// The sequence numbers, in order, of the `internal` records whose peer is
/// `peer` and whose bytes are exactly `body`, from sequence number `from` on.
/// A search of the vault: unsealed records and the segments from `from` on.
pub async fn find_records(
    vault: &Vault,
    peer: &str,
    body: &[u8],
    from: u64,
) -> Result<Vec<u64>, VaultError> {
    let q = Query {
        seq_from: Some(from),
        // The text filter only narrows what is read; the match is exact below.
        text: std::str::from_utf8(body).ok().map(str::to_owned),
        limit: 0,
        internal: true,
        ..Default::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let searching = search::search(vault, &q, tx);
    let collecting = async {
        let mut found = Vec::new();
        while let Some(b) = rx.recv().await {
            found.extend(matches(&b, peer, body));
        }
        found
    };
    let (res, mut found) = futures::join!(searching, collecting);
    res?;
    found.sort_unstable();
    Ok(found)
}

/// The sequence numbers of one batch of hits that are exactly that record.
fn matches(b: &RecordBatch, peer: &str, body: &[u8]) -> Vec<u64> {
    let (Some(seq), Some(raw), Some(peers), Some(transports)) = (
        b.column_by_name(col::SEQ),
        b.column_by_name(col::RAW),
        b.column_by_name(col::PEER),
        b.column_by_name(col::TRANSPORT),
    ) else {
        return Vec::new();
    };
    let seq = seq.as_primitive::<UInt64Type>();
    let raw = raw.as_binary::<i32>();
    let peers = peers.as_string::<i32>();
    let transports = transports.as_string::<i32>();
    (0..b.num_rows())
        .filter(|&i| {
            !raw.is_null(i)
                && raw.value(i) == body
                && peers.value(i) == peer
                && transports.value(i) == Transport::Internal.as_str()
        })
        .map(|i| seq.value(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[tokio::test]
    async fn several_records_are_one_write_with_consecutive_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, workers) = Vault::open(crate::VaultOptions::new(dir.path()))
            .await
            .unwrap();
        let sink = VaultSink::new(vault.clone());
        let one = sink
            .append("pramaan:audit", b"{\"n\":0}".to_vec())
            .await
            .unwrap();
        let writes = vault.stats().fsyncs.load(Relaxed);
        let bodies = (1..=3)
            .map(|n| format!("{{\"n\":{n}}}").into_bytes())
            .collect();
        let first = sink.append_all("pramaan:audit", bodies).await.unwrap();
        assert_eq!(first, one + 1);
        assert_eq!(
            vault.stats().fsyncs.load(Relaxed),
            writes + 1,
            "one WAL write"
        );
        assert_eq!(vault.committed(), first + 3);
        assert!(sink.append_all("pramaan:audit", Vec::new()).await.is_err());
        drop(sink);
        vault.shutdown(workers).await;
    }

    #[tokio::test]
    async fn find_names_exactly_the_records_of_that_source_and_body_from_a_number_on() {
        let dir = tempfile::tempdir().unwrap();
        let (vault, workers) = Vault::open(crate::VaultOptions::new(dir.path()))
            .await
            .unwrap();
        let sink = VaultSink::new(vault.clone());
        let body = br#"{"event":1}"#.to_vec();
        let a = sink.append("pramaan:incident", body.clone()).await.unwrap();
        // Same bytes from another source, a longer body, a log line with those bytes.
        sink.append("pramaan:order", body.clone()).await.unwrap();
        sink.append("pramaan:incident", br#"{"event":1} "#.to_vec())
            .await
            .unwrap();
        vault
            .append(
                Transport::Tcp,
                Arc::from("10.0.0.1"),
                vec![body.clone().into()],
            )
            .await
            .unwrap();
        let b = sink.append("pramaan:incident", body.clone()).await.unwrap();
        assert_eq!(sink.committed(), b + 1);
        assert_eq!(
            sink.find("pramaan:incident", &body, 0).await.unwrap(),
            vec![a, b]
        );
        assert_eq!(
            sink.find("pramaan:incident", &body, a + 1).await.unwrap(),
            vec![b]
        );
        assert!(sink
            .find("pramaan:incident", &body, b + 1)
            .await
            .unwrap()
            .is_empty());
        assert!(sink
            .find("pramaan:clock", &body, 0)
            .await
            .unwrap()
            .is_empty());
        drop(sink);
        vault.shutdown(workers).await;
    }
}
