//! Hostile lines of the largest size a frame may have (64 KiB) must parse in
//! time linear in their length: a quadratic scan here would let one sender
//! stall ingest for everyone.

use pramaan_ingest::{parse, ParseContext};
use std::time::{Duration, Instant};

const LEN: usize = 64 * 1024;

fn repeat(prefix: &str, unit: &str, suffix: &str) -> Vec<u8> {
    let mut v = prefix.as_bytes().to_vec();
    while v.len() + unit.len() + suffix.len() <= LEN {
        v.extend_from_slice(unit.as_bytes());
    }
    v.extend_from_slice(suffix.as_bytes());
    v
}

#[test]
fn hostile_lines_parse_in_linear_time() {
    let ctx = ParseContext {
        received_at_ns: 1_767_225_600_000_000_000,
        default_offset_secs: 19_800,
    };
    let cases = [
        repeat("", "user ", ""),
        repeat("", "for x ", "from"),
        repeat("", "invalid user ", ""),
        repeat("", "a.b.", ":80"),
        repeat("", "1.1.1.1.", ""),
        repeat("", "1.", ""),
        repeat("", "::", "1"),
        repeat("", "a:", ""),
        repeat("", "ff:", ""),
        repeat("", "=", ""),
        repeat("", "_", "=1"),
        repeat("", "a_", "port=1"),
        repeat("", "port ", ""),
        repeat("", "x", ""),
        repeat("", "9", ""),
        repeat("", "[", ""),
        repeat("", "[1.2.3.4]:", ""),
        repeat("<13>1 - - - - - ", "[a", ""),
        repeat("<13>1 - - - - - [a b=\"", "\\", ""),
        repeat("<13>1 - - - - - ", "[a b=\"c\"]", " m"),
        repeat("<13>Dec 10 06:55:46 host ", "a", "[1]: m"),
        repeat("{\"message\":\"", "a", "\"}"),
        repeat("{\"message\":\"a\",\"x\":\"", "a", "\"}"),
        repeat("", "{\"a\":", ""),
        repeat("", "[", "]"),
        repeat("{\"msg\":\"", "\\\"", "\"}"),
        repeat("{\"ip\":[", "\"1.2.3.4\",", "\"5.6.7.8\"]}"),
    ];
    // Generous: linear work is well under a millisecond per 64 KiB in
    // release and a few in debug; a quadratic scan takes seconds.
    let budget = Duration::from_millis(if cfg!(debug_assertions) { 300 } else { 30 });
    for raw in &cases {
        // Best of three: the machine is shared, a stall is not the parser's.
        let mut el = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let f = parse(raw, &ctx);
            el = el.min(t.elapsed());
            assert!(f.message.end <= raw.len());
        }
        assert!(
            el < budget,
            "{el:?} for {}…",
            String::from_utf8_lossy(&raw[..40.min(raw.len())])
        );
    }
}
