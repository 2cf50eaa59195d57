//! Loki push bodies (pramaan-ingest::loki): a snappy block, a protobuf
//! `PushRequest` or a JSON body is split or refused, never a panic, and
//! nothing is allocated past the limit a snappy block is held to; every
//! entry's record reads back as a `loki` record with its labels in `sd`
//! and fields that keep the invariants of any parse.
#![no_main]

#[path = "common.rs"]
#[allow(dead_code)] // only its field invariants are used here
mod common;

use libfuzzer_sys::fuzz_target;
use pramaan_ingest::loki;
use pramaan_ingest::{Format, ParseContext};

const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext {
        received_at_ns: 1_767_225_600_000_000_000,
        default_offset_secs: 19_800,
    };
    let check = |raws: Vec<Vec<u8>>| {
        for raw in raws {
            let f = loki::fields(&raw, &ctx);
            assert_eq!(f.format, Format::Loki);
            assert!(f.parse_error.as_deref().is_none_or(|e| !e.starts_with("Loki entry")), "{f:?}");
            assert!(f.structured_data.as_deref().is_some_and(|s| s.starts_with("[loki ")));
            common::check_fields(&raw, &f);
        }
    };
    if let Ok(plain) = loki::unsnappy(data, MAX) {
        assert!(plain.len() <= MAX);
        if let Ok(raws) = loki::split_proto(&plain) {
            check(raws);
        }
    }
    if let Ok(raws) = loki::split_proto(data) {
        check(raws);
    }
    if let Ok(raws) = loki::split_json(data) {
        check(raws);
    }
    common::check_fields(data, &loki::fields(data, &ctx));
});
