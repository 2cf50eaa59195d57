//! [`LedgerSink`] over the running vault: component records become `internal`
//! records, sequenced and hashed like every log line.

use crate::Vault;
use pramaan_core::{LedgerSink, SinkError, SinkFuture, Transport};
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
}
