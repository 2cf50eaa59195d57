//! NDJSON bodies: lines are slices of the body, without LF, within the limit,
//! numbered in order; each parses within its bounds.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use pramaan_ingest::ndjson;

fuzz_target!(|data: &[u8]| {
    let Some((&m, body)) = data.split_first() else {
        return;
    };
    let max = usize::from(m) * 4 + 1;
    let base = body.as_ptr() as usize;
    let mut last_line = 0;
    let mut it = ndjson::lines(body, max);
    for item in it.by_ref() {
        match item {
            Ok(line) => {
                let at = line.as_ptr() as usize - base;
                assert!(at + line.len() <= body.len(), "line outside the body");
                assert!(!line.is_empty() && line.len() <= max);
                assert!(!line.contains(&b'\n'));
                common::check(line);
            }
            Err(r) => {
                assert!(r.line_no > last_line, "line numbers go backwards");
                last_line = r.line_no;
            }
        }
    }
    assert!(it.empty_lines() <= it.lines_seen());
    assert!(it.lines_seen() <= body.iter().filter(|&&b| b == b'\n').count() + 1);
});
