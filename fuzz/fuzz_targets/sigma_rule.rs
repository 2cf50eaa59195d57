//! The Sigma rule loader (pramaan-detect): any text, never a panic; a rule
//! that loads is run over a line made of the same text without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_core::ParsedFields;
use pramaan_detect::{load, Event};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match load("fuzz.yml", text) {
        Ok(rule) => {
            let fields = ParsedFields {
                message: 0..data.len(),
                ..ParsedFields::default()
            };
            let _ = rule.matches(&Event::new(data, &fields));
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.yml:")),
    }
});
