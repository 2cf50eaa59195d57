//! Invariants every parse must keep, whatever the input and context.

use pramaan_ingest::{parse, ParseContext, ParsedFields};

/// Receive times and zones at the edges: the epoch, now-ish, the extremes.
const CONTEXTS: [(i64, i32); 4] = [
    (1_767_225_600_000_000_000, 19_800), // 2026-01-01T00:00:00Z, IST
    (0, 0),
    (i64::MIN, -86_399),
    (i64::MAX, 86_399),
];

pub fn check(raw: &[u8]) {
    for (received_at_ns, default_offset_secs) in CONTEXTS {
        let ctx = ParseContext {
            received_at_ns,
            default_offset_secs,
        };
        let f = parse(raw, &ctx);
        check_fields(raw, &f);
    }
}

pub fn check_fields(raw: &[u8], f: &ParsedFields) {
    assert!(f.message.start <= f.message.end, "message range reversed");
    assert!(f.message.end <= raw.len(), "message range outside raw");
    assert!(f.ips.len() <= 16 && f.ports.len() <= 16 && f.users.len() <= 16);
    assert!(f.facility.is_none_or(|x| x <= 23));
    assert!(f.severity.is_none_or(|x| x <= 7));
    assert!(!f.ports.contains(&0));
    for u in &f.users {
        assert!(!u.is_empty() && u.len() <= 64);
    }
    if let Some(t) = f.event_time {
        assert!(t.offset_secs.abs() < 86_400);
    }
}
