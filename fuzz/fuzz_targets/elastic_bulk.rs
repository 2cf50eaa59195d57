//! Elasticsearch `_bulk` bodies (pramaan-ingest::elastic): any body is split
//! or refused, never a panic; every stored item is within the limit, reads
//! back as an `es-bulk` record of the index it was answered with, and its
//! fields keep the invariants of any parse.
#![no_main]

#[path = "common.rs"]
#[allow(dead_code)] // only its field invariants are used here
mod common;

use libfuzzer_sys::fuzz_target;
use pramaan_ingest::elastic::{self, Outcome};
use pramaan_ingest::{Format, ParseContext};

fuzz_target!(|data: &[u8]| {
    let Some((&m, body)) = data.split_first() else {
        return;
    };
    let max = usize::from(m) * 8 + 1;
    let ctx = ParseContext {
        received_at_ns: 1_767_225_600_000_000_000,
        default_offset_secs: 19_800,
    };
    for url_index in [None, Some("logs")] {
        let Ok(items) = elastic::split(body, url_index, max) else {
            continue;
        };
        for it in items {
            if let Outcome::Store(raw) = it.outcome {
                assert!(raw.len() <= max);
                let f = elastic::fields(&raw, &ctx);
                assert_eq!(f.format, Format::ElasticBulk);
                common::check_fields(&raw, &f);
                let index = it.index.expect("a stored item has an index");
                let sd = f.structured_data.expect("sd");
                let named = pramaan_ingest::sd::element("es", [("index", index.as_str())]);
                assert!(sd.starts_with(named.trim_end_matches(']')), "{sd} names {index}");
            }
        }
    }
    // A stored record is any bytes to `verify --deep`.
    common::check_fields(body, &elastic::fields(body, &ctx));
});
