//! RFC 3164 parsing (and what falls back to raw, JSON and extraction):
//! arbitrary bytes as they are and after a `<PRI>`.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check(data);
    if !data.starts_with(b"<") {
        let mut line = b"<13>".to_vec();
        line.extend_from_slice(data);
        common::check(&line);
    }
});
