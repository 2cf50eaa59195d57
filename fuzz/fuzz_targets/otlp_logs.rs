//! OTLP/HTTP log requests (first byte even: protobuf, odd: JSON): every
//! record split out decodes alone, its fields keep their bounds, and the
//! record, sent again as a request of its own, splits into exactly itself.
#![no_main]

#[path = "common.rs"]
#[allow(dead_code)] // only `check_fields` is used here
mod common;

use libfuzzer_sys::fuzz_target;
use pramaan_ingest::otlp::{self, Encoding};
use pramaan_ingest::protowire;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let enc = if sel % 2 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let Ok(raws) = otlp::split(body, enc) else {
        return;
    };
    for raw in raws {
        otlp::decode(&raw).expect("a record split out decodes alone");
        let f = otlp::fields(&raw);
        assert_eq!(f.parse_error, None);
        common::check_fields(&raw, &f);
        let again = match enc {
            Encoding::Protobuf => {
                let mut req = Vec::new();
                protowire::put_bytes(&mut req, 1, &raw);
                req
            }
            Encoding::Json => {
                let mut req = b"{\"resourceLogs\":[".to_vec();
                req.extend_from_slice(&raw);
                req.extend_from_slice(b"]}");
                req
            }
        };
        assert_eq!(otlp::split(&again, enc).expect("a record is a request"), vec![raw]);
    }
});
