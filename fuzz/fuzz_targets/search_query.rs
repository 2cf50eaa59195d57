//! Search query strings (`GET /api/v1/search?...`): decoded as the server's
//! query extractor decodes them (serde_urlencoded), then every parameter
//! that parses without an index goes through the server's own parser. No
//! panic; a sequence range that parses is in order; a time that parses
//! stays within i64 nanoseconds (checked arithmetic, never wrapped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_core::query::parse_seq_range;
use pramaan_core::time::{parse_age_secs, parse_user_time};

fuzz_target!(|data: &[u8]| {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else {
        return;
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "from" | "to" => {
                for now in [0, 1_772_526_731_000_000_000, i64::MIN, i64::MAX] {
                    if let Ok(t) = parse_user_time(v, now) {
                        if let Some(age) = parse_age_secs(v.trim()) {
                            assert!(age >= 0);
                            assert!(t <= now, "an age is in the past: {v:?} at {now}");
                        }
                    }
                }
            }
            "seq" => {
                if let Ok((Some(a), Some(b))) = parse_seq_range(v) {
                    assert!(a <= b, "{v:?}");
                }
            }
            "ip" => {
                let _ = v.trim().parse::<std::net::IpAddr>();
            }
            "limit" => {
                let _ = v.parse::<usize>();
            }
            _ => {}
        }
    }
});
