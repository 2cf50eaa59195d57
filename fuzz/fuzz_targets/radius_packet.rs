//! The RADIUS packet decoder (pramaan-ingest::radius) and the reading of a
//! stored Accounting-Request into a session event (pramaan-attribution):
//! any bytes, never a panic; a decoded packet re-encodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_attribution::parse::radius_packet;
use pramaan_ingest::radius;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = radius::decode(data) {
        assert!(p.bytes.len() >= radius::HEADER_LEN && p.bytes.len() <= data.len());
        // The attributes tile the packet exactly.
        let total: usize = p.attrs.iter().map(|a| a.value.len() + 2).sum();
        assert_eq!(total + radius::HEADER_LEN, p.bytes.len());
        let _ = p.request_authenticator_ok(b"secret");
        let _ = p.message_authenticator_ok(b"secret");
        let _ = radius::accounting_response(&p, b"secret");
        // Built again from its attributes (signed anew), it decodes to the same attributes.
        let attrs: Vec<(u8, Vec<u8>)> = p
            .attrs
            .iter()
            .map(|a| (a.typ, a.value.to_vec()))
            .collect();
        if let Some(again) = radius::accounting_request(p.identifier, &attrs, b"secret", false) {
            let q = radius::decode(&again).expect("a built packet decodes");
            assert_eq!(q.attrs.len(), p.attrs.len());
            assert!(q.request_authenticator_ok(b"secret"));
        }
    }
    for skew in [0, 60_000_000_000, i64::MAX] {
        let _ = radius_packet::parse(data, "radius:127.0.0.1:1", 1_772_526_731_000_000_000, skew);
        let _ = radius_packet::parse(data, "radius:x", i64::MIN, skew);
    }
});
