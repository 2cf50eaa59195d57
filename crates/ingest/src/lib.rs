//! From bytes on a wire to records and search fields, with no I/O.
//!
//! * [`framing`] splits a TCP/TLS byte stream into frames (RFC 6587:
//!   octet-counting or newline, detected per frame), capping every length
//!   before anything is allocated.
//! * [`parse`] derives search fields from one raw line (RFC 5424, RFC 3164,
//!   a JSON object, or anything else as a plain message) and never fails: a
//!   line whose header does not parse gets `parse_error` set and is kept.
//! * [`extract`] finds IP addresses, ports and user names in a message; it
//!   runs inside [`parse`].
//! * [`ndjson`] splits an HTTP NDJSON body into the lines to store.
//! * [`radius`] decodes RADIUS accounting packets and checks their
//!   authenticators (RFC 2866, RFC 3579).
//! * [`protowire`] reads protobuf messages field by field, handing out
//!   sub-messages byte-exact (Loki and OTLP bodies).
//! * [`relp`] cuts a RELP stream into frames and applies the server's
//!   session rules (rsyslog's `omrelp`).
//! * [`sd`] writes a protocol's labels and attributes as RFC 5424
//!   structured data (the `sd` field every protocol shares).
//! * [`otlp`] splits OTLP/HTTP log requests (protobuf or JSON) into one
//!   record per log record and reads them; [`journal`] does the same for
//!   the journal export format (`systemd-journal-upload`); [`attrs`]
//!   bounds what their attributes add to `sd`.
//! * [`elastic`] splits an Elasticsearch `_bulk` body into one record per
//!   item and reads a stored item's fields.
//! * [`loki`] splits a Loki push body (JSON, or protobuf after
//!   [`loki::unsnappy`]) into one record per entry and reads its fields;
//!   [`labels`] maps well-known labels to host, app and severity.
//!
//! Owns: framing and parsing of received bytes into records' search fields.
//! May not touch: any I/O (no files, sockets or clocks: bytes in, fields out).

// No function over 150 lines (clippy.toml): a long one is split into named steps.
#![warn(clippy::too_many_lines)]

pub mod attrs;
pub mod elastic;
pub mod extract;
pub mod framing;
pub mod journal;
mod jsonspan;
pub mod labels;
mod last;
pub mod loki;
pub mod ndjson;
pub mod otlp;
pub mod protowire;
pub mod radius;
pub mod relp;
pub mod sd;
mod stamp;
pub mod syslog;

use pramaan_core::peer::Via;
use pramaan_core::zones::source_name;
pub use pramaan_core::zones::ZoneMap;
pub use pramaan_core::{EventTime, Format, ParsedFields};

/// What a parser needs to know besides the bytes.
#[derive(Clone, Copy, Debug)]
pub struct ParseContext {
    /// When pramaan received the line (ns since the epoch, UTC). RFC 3164
    /// stamps carry no year; it is inferred from this so that a line stamped
    /// 31 Dec 23:59:59 that arrives on 1 January belongs to the old year.
    pub received_at_ns: i64,
    /// Zone (seconds east of UTC) in which to read stamps that carry none.
    pub default_offset_secs: i32,
}

/// Derives search fields from one raw line. Never fails.
pub fn parse(raw: &[u8], ctx: &ParseContext) -> ParsedFields {
    syslog::parse_line(raw, ctx)
}

/// The fields of a stored record, by the protocol its peer names
/// ([`Via`]): a packet the RADIUS server stored (`radius:...`) is decoded
/// ([`radius::fields`]); a syslog line (plain, or `relp:...`) parsed
/// ([`parse`]). What ingest and `verify --deep` both derive.
pub fn parse_record(raw: &[u8], peer: &str, ctx: &ParseContext) -> ParsedFields {
    match Via::of(peer) {
        Some((Via::Radius, _)) => radius::fields(raw),
        Some((Via::Otlp, _)) => otlp::fields(raw),
        Some((Via::Journal, _)) => journal::fields(raw),
        // A RELP frame's message is a syslog line, stored as sent.
        Some((Via::Relp, _)) => parse(raw, ctx),
        Some((Via::ElasticBulk, _)) => elastic::fields(raw, ctx),
        Some((Via::Loki, _)) => loki::fields(raw, ctx),
        _ => parse(raw, ctx),
    }
}

/// [`parse_record`], reading a stamp that carries no zone in the zone `zones` gives
/// the line's source (its host, else the sender `peer`), instead of
/// `ctx.default_offset_secs`. The stored offset then says which zone was used.
pub fn parse_from(raw: &[u8], peer: &str, ctx: &ParseContext, zones: &ZoneMap) -> ParsedFields {
    let fields = parse_record(raw, peer, ctx);
    if zones.entries.is_empty() || !fields.event_time.is_some_and(|t| t.zone_assumed) {
        return fields;
    }
    let source = source_name(fields.host.as_deref(), peer);
    match zones.offset_for(source) {
        // The year of a BSD stamp depends on the zone too, so read it again.
        Some(off) if off != ctx.default_offset_secs => parse_record(
            raw,
            peer,
            &ParseContext {
                default_offset_secs: off,
                ..*ctx
            },
        ),
        _ => fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sources_zone_replaces_the_default_only_for_zoneless_stamps() {
        let ctx = ParseContext {
            received_at_ns: 1_795_000_000_000_000_000, // 2026-11-18
            default_offset_secs: 19_800,
        };
        let zones = ZoneMap::parse("utc-*=UTC").unwrap();
        let at = |line: &str, peer: &str| {
            let t = parse_from(line.as_bytes(), peer, &ctx, &zones)
                .event_time
                .unwrap();
            (t.offset_secs, t.zone_assumed)
        };
        assert_eq!(
            at("<13>Nov 17 10:00:00 utc-1 a: x", "10.0.0.1:5"),
            (0, true)
        );
        assert_eq!(
            at("<13>Nov 17 10:00:00 ist-1 a: x", "10.0.0.1:5"),
            (19_800, true)
        );
        let own = "<13>1 2026-11-17T10:00:00-03:00 utc-1 a - - - x";
        assert_eq!(at(own, "10.0.0.1:5"), (-10_800, false));
        // The instant moves by exactly the difference of the zones.
        let utc = parse_from(b"<13>Nov 17 10:00:00 utc-1 a: x", "p", &ctx, &zones);
        let ist = parse_from(b"<13>Nov 17 10:00:00 ist-1 a: x", "p", &ctx, &zones);
        assert_eq!(
            utc.event_time.unwrap().utc_ns - ist.event_time.unwrap().utc_ns,
            19_800 * 1_000_000_000
        );
    }
}
