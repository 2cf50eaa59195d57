//! The NTP packet parser and the client's judgement of a reply: any bytes
//! as a reply to a request with a fixed transmit timestamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_clock::packet::{offset_delay, reference_text, NtpTimestamp, Packet, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    match Packet::decode(data) {
        Ok(p) => {
            assert!(data.len() >= HEADER_LEN);
            assert!((3..=4).contains(&p.version));
            // Encoding gives back the header byte for byte.
            assert_eq!(&p.encode()[..], &data[..HEADER_LEN]);
            let _ = p.kiss_code();
            let r = reference_text(p.stratum, p.reference_id);
            assert!(r.len() <= 15);
            // Era arithmetic near any local time never panics, and stays
            // within 68 years of it.
            for near in [0i64, 1_772_526_731_000_000_000, i64::MAX / 4, i64::MIN / 4] {
                for t in [p.receive_ts, p.transmit_ts, p.origin_ts] {
                    let ns = t.to_unix_ns(near);
                    assert!(
                        (i128::from(ns) - i128::from(near)).abs()
                            <= (1i128 << 31) * 1_000_000_000 + 1_000_000_000
                    );
                }
            }
            let t1 = 1_772_526_731_000_000_000;
            let (_, delay) = offset_delay(
                t1,
                p.receive_ts.to_unix_ns(t1),
                p.transmit_ts.to_unix_ns(t1),
                t1 + 1_000_000,
            );
            assert!(delay >= 0);
        }
        Err(_) => {}
    }
    // Timestamps round-trip within a nanosecond for times near now.
    if data.len() >= 8 {
        let ns = i64::from_le_bytes(data[..8].try_into().unwrap_or_default()) >> 4;
        let back = NtpTimestamp::from_unix_ns(ns).to_unix_ns(ns);
        assert!((back - ns).abs() <= 1, "{ns} -> {back}");
    }
});
