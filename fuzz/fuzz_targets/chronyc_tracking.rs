//! The parser of `chronyc -c tracking` output: any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_clock::host::{parse_tracking, HostSync};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = parse_tracking(&text) {
        assert!(t.estimated_error_s().is_finite() || t.estimated_error_s().is_infinite());
        let _ = t.synchronised();
        let _ = t.reference_text();
        let h = HostSync::from_tracking(t);
        let _ = h.summary();
    }
});
