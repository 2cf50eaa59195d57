//! Types shared by every part of pramaan: the stored record and its canonical
//! encoding (the bytes the ledger hashes), the fields a parser derives from a
//! line, how times are shown to people (IST with UTC alongside), and the CSV
//! cell every CSV view is written with (formulas neutralised).
//!
//! Owns: the record, its canonical encoding and leaf hash, parsed-field types,
//! times for people, CSV cells, the `LedgerSink` contract.
//! May not touch: any I/O, storage, the network, other pramaan crates (every
//! crate depends on this one, it on none).

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod csv;
pub mod fields;
pub mod frame;
pub mod peer;
pub mod purpose;
pub mod query;
pub mod record;
pub mod sink;
pub mod time;
pub mod zones;

pub use fields::{EventTime, Format, ParsedFields};
pub use record::{leaf_hash, DecodeError, Record, RecordRef, Transport, CANONICAL_VERSION};
pub use sink::{FindFuture, LedgerSink, MemorySink, SinkError, SinkFuture};
