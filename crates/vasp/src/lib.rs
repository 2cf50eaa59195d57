//! Virtual asset service providers (CERT-In directions of 28 April 2022:
//! KYC and every financial transaction kept for five years, so that each
//! can be reconstructed with its IP addresses, time stamps, wallet and
//! contract addresses, transaction hashes, parties and amounts):
//!
//! * [`model`]: a transaction and its validation (assets and their
//!   decimals, chains' address and hash formats, what each kind needs, the
//!   two sides of a transfer); pure.
//! * [`import`]: CSV, JSON and NDJSON files into transactions, every bad
//!   field located by record and field; pure.
//! * [`store`]: `vasp.db`, each transaction with its ledger record
//!   (`pramaan:vasp`), exactly once.
//! * [`trail`]: the trail of funds from a customer, wallet or hash.
//!
//! The customers' KYC lives in the subscriber register (`pramaan-registry`:
//! PAN, bank accounts, wallets, encrypted, read with a purpose).
//!
//! Owns: transactions and their store. May not touch: HTTP, who may call it
//! (the application layer decides), the vault (records go through `LedgerSink`).

pub mod import;
pub mod model;
pub mod store;
pub mod trail;

pub use model::{FieldError, Kind, Transaction, TransactionInput};
pub use store::{Imported, Store, StoreError};
pub use trail::{trail, Limits, Start, Trail};
