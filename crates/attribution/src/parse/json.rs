//! The generic JSON session event: one JSON object per line, for any source
//! that can write it (a billing system, a custom BNG, a script).
//!
//! ```json
//! {"schema": "pramaan.session.v1", "event": "start", "ip": "100.64.1.2",
//!  "subscriber": "CUST-0042", "session": "s-981", "at": "2025-01-01T10:00:00+05:30"}
//! ```
//!
//! * `schema`: exactly `pramaan.session.v1` (other JSON lines are not ours).
//! * `event`: `start`, `update`, `stop`, or `allot` (a static allotment from
//!   `at` until `until`, or open-ended).
//! * `ip`: an address or prefix (`2001:db8:1::/48`); required except for `stop`.
//! * `port_start`, `port_end`: optional port range (inclusive), default 0–65535.
//! * `subscriber`: external id or user name (required); `session`: the
//!   session's id (required, except for `allot`, where it defaults to the prefix).
//! * `at`: RFC 3339 with an offset (required); `until`: same (`allot` only).
//! * `session_seconds`: optional, like RADIUS Acct-Session-Time.
//! * `detail`: optional free text.

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};
use serde::Deserialize;

const K: &str = "JSON session";
pub const SCHEMA: &str = "pramaan.session.v1";

#[derive(Deserialize)]
struct Raw {
    schema: Option<String>,
    event: Option<String>,
    ip: Option<String>,
    port_start: Option<u16>,
    port_end: Option<u16>,
    subscriber: Option<String>,
    session: Option<String>,
    at: Option<String>,
    until: Option<String>,
    session_seconds: Option<i64>,
    detail: Option<String>,
}

pub fn parse(line: &str) -> Result<Option<Event>, ParseError> {
    if memchr::memmem::find(line.as_bytes(), SCHEMA.as_bytes()).is_none() {
        return Ok(None);
    }
    let r: Raw = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => return Err(perr(K, format!("not a valid event: {e}"))),
    };
    if r.schema.as_deref() != Some(SCHEMA) {
        return Ok(None);
    }
    let action = match r.event.as_deref() {
        Some("start") => Action::Start,
        Some("update") => Action::Update,
        Some("stop") => Action::Stop,
        Some("allot") => Action::Allot,
        Some(o) => {
            return Err(perr(
                K,
                format!("`event` is `{o}`; expected start, update, stop or allot"),
            ))
        }
        None => return Err(perr(K, "`event` is missing")),
    };
    let kind = if action == Action::Allot {
        Kind::Static
    } else {
        Kind::Json
    };
    let mut ev = Event::new(kind, action);
    if let Some(ip) = r.ip.as_deref() {
        ev.nets
            .push(Net::parse(ip).map_err(|e| perr(K, format!("`ip`: {e}")))?);
    } else if action != Action::Stop {
        return Err(perr(K, "`ip` is missing"));
    }
    ev.port_lo = r.port_start.unwrap_or(0);
    ev.port_hi = r.port_end.unwrap_or(u16::MAX);
    if ev.port_lo > ev.port_hi {
        return Err(perr(K, "`port_start` is after `port_end`"));
    }
    ev.subscriber = r
        .subscriber
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| perr(K, "`subscriber` is missing"))?;
    ev.session = match (r.session.filter(|s| !s.is_empty()), action) {
        (Some(s), _) => s,
        (None, Action::Allot) => ev.nets.first().map(|n| n.to_string()).unwrap_or_default(),
        (None, _) => return Err(perr(K, "`session` is missing")),
    };
    let at = r.at.ok_or_else(|| perr(K, "`at` is missing"))?;
    ev.at_ns = Some(
        super::rfc3339_ns(&at)
            .ok_or_else(|| perr(K, format!("`at` `{at}` is not RFC 3339 with an offset")))?,
    );
    if let Some(u) = r.until {
        if action != Action::Allot {
            return Err(perr(K, "`until` is only for `allot`"));
        }
        let u = super::rfc3339_ns(&u)
            .ok_or_else(|| perr(K, format!("`until` `{u}` is not RFC 3339 with an offset")))?;
        if Some(u) <= ev.at_ns {
            return Err(perr(K, "`until` is not after `at`"));
        }
        ev.until_ns = Some(u);
    }
    if let Some(s) = r.session_seconds {
        if s < 0 {
            return Err(perr(K, "`session_seconds` is negative"));
        }
        ev.session_secs = Some(s);
    }
    ev.detail = r.detail.unwrap_or_default();
    Ok(Some(ev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events() {
        let e = parse(r#"{"schema":"pramaan.session.v1","event":"start","ip":"2001:db8:1::/48","subscriber":"C-1","session":"s1","at":"2025-01-01T10:00:00+05:30"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.nets[0].to_string(), "2001:db8:1::/48");
        assert_eq!(e.at_ns, Some(1_735_705_800_000_000_000));
        let e = parse(r#"{"schema":"pramaan.session.v1","event":"allot","ip":"192.0.2.0/28","subscriber":"C-2","at":"2025-01-01T00:00:00Z","until":"2026-01-01T00:00:00Z"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.kind, Kind::Static);
        assert_eq!(e.session, "192.0.2.0/28");
        assert_eq!(parse(r#"{"msg":"hello"}"#), Ok(None));
        assert!(parse(r#"{"schema":"pramaan.session.v1","event":"start","ip":"10.0.0.1","subscriber":"x","session":"s","at":"2025-01-01 10:00"}"#)
            .unwrap_err()
            .reason
            .contains("`at`"));
        assert!(parse(r#"{"schema":"pramaan.session.v1","event":"start"#).is_err());
    }
}
