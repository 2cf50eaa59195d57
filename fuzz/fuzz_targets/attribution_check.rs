//! Shared by the `attribution_*` fuzz targets: a session-log parser never
//! panics, an event it returns is well-formed (prefixes without host bits,
//! ports in order), the tracker takes it without panicking, a line
//! without a marker is no session line (the feeder reads only those), and
//! the feeder's source-restricted parse agrees with it.

use pramaan_attribution::parse::{self, Action, Event, ParseError};

pub fn run(data: &[u8], parse_one: impl Fn(&str, i32) -> Result<Option<Event>, ParseError>) {
    let text = String::from_utf8_lossy(data);
    for offset in [0, 19_800, -43_200] {
        let r = parse_one(&text, offset);
        let all = parse::parse_any(&text, offset);
        if !parse::has_marker(text.as_bytes()) {
            assert_eq!(all, Ok(None), "a session line without a marker: {text:?}");
        }
        assert_eq!(parse::parse_line(&text, offset), all);
        // With every parser allowed, the feeder's parse is parse_line; with
        // none (a line from no configured session source), nothing.
        assert_eq!(parse::parse_with(&text, offset, &parse::Parser::ALL), all);
        assert_eq!(parse::parse_with(&text, offset, &[]), Ok(None));
        if let Ok(Some(ev)) = r {
            assert!(ev.port_lo <= ev.port_hi);
            for n in &ev.nets {
                assert!(n.len <= 128);
                assert_eq!(n.bits & !pramaan_attribution::model::mask(n.len), 0);
            }
            if ev.action == Action::Start {
                assert!(!ev.session.is_empty() || ev.kind != pramaan_attribution::Kind::Radius);
            }
            let mut t = pramaan_attribution::tracker::Tracker::new(std::time::Duration::from_secs(
                86_400,
            ));
            let _ = t.feed(&ev, 1, 0);
            let _ = t.feed(&ev, 2, i64::MAX);
            let _ = t.expire(i64::MAX);
        }
    }
}
