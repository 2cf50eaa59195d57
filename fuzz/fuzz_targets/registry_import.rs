//! Subscriber files (CSV, JSON array, NDJSON): parsing never panics, every
//! error is located on a line that exists, and every accepted subscriber
//! validates again from its own round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_registry::import;

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let p = import::parse(data, &mut |_| {});
    for e in &p.errors {
        assert!(e.line >= 1 && e.line <= lines, "error on line {} of {lines}", e.line);
    }
    for (line, s) in &p.valid {
        assert!(*line >= 1 && *line <= lines);
        assert_eq!(s.to_input().validate().as_ref(), Ok(s));
    }
    assert!(p.valid.len() as u64 <= p.records);
});
