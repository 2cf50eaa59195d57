//! The subscriber register that CERT-In's directions of 28 April 2022 ask
//! VPN, VPS, cloud and data-centre providers to keep (clause (vi) a–g, for
//! 5 years after the service ends), built so the data it is forced to keep
//! is not a new risk:
//!
//! * [`model`]: the record and its validation (E.164 phones, KYC method and
//!   time, ownership pattern with owners, periods of hire; for VASP
//!   customers PAN, bank accounts and wallets); pure.
//! * [`import`]: CSV / JSON / NDJSON files, every bad record located; pure.
//! * [`wallet`]: crypto wallet addresses (the chains and each one's address
//!   form), for VASP customers' declared wallets; pure.
//! * [`crypto`]: personal fields sealed with a per-subscriber data key,
//!   wrapped by a master key (file or environment), rotation.
//! * [`store`]: one [`Store`] trait, SQLite and PostgreSQL.
//! * [`Registry`]: writes, audited reads ([`Registry::read_subscriber`]),
//!   retention with legal holds and crypto-shredding, key rotation.
//!
//! Owns: subscriber records, their encryption and keys, the SQLite and
//! PostgreSQL stores, audited reads, erasure.
//! May not touch: HTTP, the vault's files (records go through `LedgerSink`),
//! who may call it (the application layer decides).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod crypto;
pub mod import;
pub mod model;
mod registry;
pub mod store;
pub mod wallet;

pub use crypto::{CryptoError, MasterKey};
pub use model::{FieldError, KycMethod, Ownership, Period, Personal, Subscriber, SubscriberInput};
pub use registry::{
    decide, retain_until, Backend, Decision, EraseRun, ImportSummary, Incomplete, KeySource, Reads,
    Registry, RegistryError, RegistryOptions, RotateReport, WriteMode, WriteOutcome, CERT_IN_YEARS,
    SOURCE_AUDIT, SOURCE_REGISTRY,
};
pub use store::{ErasureReport, Hold, Store, StoreError};

use std::sync::Arc;

/// A register opened at first use (the server starts without waiting for
/// PostgreSQL; a failed open is retried at the next use).
pub struct LazyRegistry {
    opts: RegistryOptions,
    sink: Arc<dyn pramaan_core::LedgerSink>,
    cell: tokio::sync::OnceCell<Arc<Registry>>,
}

impl LazyRegistry {
    pub fn new(opts: RegistryOptions, sink: Arc<dyn pramaan_core::LedgerSink>) -> Self {
        LazyRegistry {
            opts,
            sink,
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// Appends the records a crash left staged: through the open register,
    /// or by opening an SQLite one that exists (PostgreSQL waits for the
    /// first use, so a start never waits for it).
    pub async fn flush_if_present(&self) {
        let present = self.cell.get().is_some()
            || matches!(&self.opts.backend, Backend::Sqlite(p) if p.exists());
        if present {
            match self.get().await {
                Ok(r) => {
                    r.flush().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the subscriber register did not open; its pending records wait")
                }
            }
        }
    }

    /// Records staged but not yet in the ledger; `None` until the register
    /// is open.
    pub async fn pending(&self) -> Option<u64> {
        match self.cell.get() {
            Some(r) => Some(r.pending().await),
            None => None,
        }
    }

    pub async fn get(&self) -> Result<Arc<Registry>, RegistryError> {
        self.cell
            .get_or_try_init(|| async {
                Registry::open(self.opts.clone(), self.sink.clone())
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
    }
}
