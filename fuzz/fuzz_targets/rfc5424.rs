//! RFC 5424 parsing: arbitrary bytes as they are, and after a valid
//! `<PRI>1 ` so the fuzzer spends its time inside the header and SD.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check(data);
    if !data.starts_with(b"<") {
        let mut line = b"<165>1 ".to_vec();
        line.extend_from_slice(data);
        common::check(&line);
    }
});
