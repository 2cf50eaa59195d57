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

pub mod extract;
pub mod framing;
pub mod ndjson;
mod stamp;
pub mod syslog;

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
