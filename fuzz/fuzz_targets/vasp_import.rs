//! The VASP transaction file reader of pramaan-vasp (CSV, JSON array,
//! NDJSON) and the transaction validation: neither panics, and a valid
//! transaction's ledger record reads back as the same transaction.
#![no_main]

use pramaan_vasp::import::records;
use pramaan_vasp::Transaction;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for (_, input) in records(data).filter_map(Result::ok).take(1000) {
        if let Ok(t) = input.validate() {
            assert_eq!(Transaction::from_body(&t.body()).as_ref(), Ok(&t));
        }
    }
});
