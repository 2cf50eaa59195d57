//! Journal export bodies: entries are slices of the body, each decodes
//! alone with its fields in bounds, and the entries joined again with
//! empty lines split into the same entries.
#![no_main]

#[path = "common.rs"]
#[allow(dead_code)] // only `check_fields` is used here
mod common;

use libfuzzer_sys::fuzz_target;
use pramaan_ingest::journal;

fuzz_target!(|body: &[u8]| {
    let Ok(entries) = journal::entries(body) else {
        return;
    };
    let mut joined = Vec::new();
    for r in &entries {
        let raw = &body[r.clone()];
        assert!(!raw.is_empty() && raw.ends_with(b"\n"), "an entry ends with its last field's LF");
        journal::fields_of(raw).expect("an entry decodes alone");
        let f = journal::fields(raw);
        assert_eq!(f.parse_error, None);
        common::check_fields(raw, &f);
        joined.extend_from_slice(raw);
        joined.push(b'\n');
    }
    let again = journal::entries(&joined).expect("entries joined are a body");
    let a: Vec<&[u8]> = again.iter().map(|r| &joined[r.clone()]).collect();
    let b: Vec<&[u8]> = entries.iter().map(|r| &body[r.clone()]).collect();
    assert_eq!(a, b);
});
