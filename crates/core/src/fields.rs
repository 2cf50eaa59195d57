//! What a parser derives from a raw line. Everything here is for search; the
//! raw bytes stay the evidence. The message is a range into the raw bytes, so
//! it is never stored twice.

use std::net::IpAddr;
use std::ops::Range;

/// Which grammar recognised the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    Json,
    /// No syslog header: the whole line is the message.
    #[default]
    Raw,
    /// A RADIUS Accounting-Request stored by pramaan's accounting server
    /// (binary: no message text; fields from its attributes).
    Radius,
    /// An Elasticsearch `_bulk` item (action line and document).
    ElasticBulk,
    /// A Loki push entry with its stream's labels.
    Loki,
    /// An OTLP log record with its resource and scope.
    Otlp,
    /// A systemd journal export entry.
    Journal,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Json => "json",
            Format::Raw => "raw",
            Format::Radius => "radius",
            Format::ElasticBulk => "es-bulk",
            Format::Loki => "loki",
            Format::Otlp => "otlp",
            Format::Journal => "journal",
        }
    }
}

/// An event time as written by the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventTime {
    /// The instant, in nanoseconds since the Unix epoch (UTC).
    pub utc_ns: i64,
    /// Offset from UTC in seconds that the line carried, or the zone it was
    /// read in when it carried none (then `zone_assumed` is true).
    pub offset_secs: i32,
    /// The line carried no zone; `offset_secs` is the source's configured zone.
    pub zone_assumed: bool,
}

/// Fields derived from one raw line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ParsedFields {
    pub format: Format,
    pub event_time: Option<EventTime>,
    pub facility: Option<u8>,
    pub severity: Option<u8>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub procid: Option<String>,
    pub msgid: Option<String>,
    /// RFC 5424 structured data, verbatim (without the NILVALUE).
    pub structured_data: Option<String>,
    /// Byte range of the message inside the raw line.
    pub message: Range<usize>,
    /// Addresses found in the message (and JSON fields), in order of appearance, deduplicated.
    pub ips: Vec<IpAddr>,
    /// Ports found next to addresses or in `port`/`sport`/`dport`/`spt`/`dpt` fields.
    pub ports: Vec<u16>,
    /// User names found in `user=`, `for USER from`, `Invalid user X`, JSON `user` fields...
    pub users: Vec<String>,
    /// Why the header did not parse; the line is still stored raw.
    pub parse_error: Option<String>,
}
