//! [`LedgerSink`] over the running vault: component records become `internal`
//! records, sequenced and hashed like every log line.

use pramaan_core::{LedgerSink, SinkError, SinkFuture, Transport};
use pramaan_vault::Vault;
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
}
