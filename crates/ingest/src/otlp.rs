//! OTLP/HTTP logs (`POST /v1/logs`): an `ExportLogsServiceRequest`, in
//! protobuf or in OTLP's JSON mapping, split into one record per log record.
//!
//! A record's raw bytes are a `ResourceLogs` message in the request's own
//! encoding holding the resource (exact bytes), one `ScopeLogs` with the
//! scope (exact) and the one `LogRecord` (exact), and the schema URLs if
//! sent:
//!
//! * protobuf: the fields re-framed with [`protowire::put_bytes`], so the
//!   raw bytes decode with OTLP's own `.proto` files;
//! * JSON: `{"resource":R,"scopeLogs":[{"scope":S,"logRecords":[L],
//!   "schemaUrl":U}],"schemaUrl":U}` with R, S, L and U the texts as sent.
//!
//! A raw JSON record starts with `{`; a raw protobuf one with the tag of a
//! `ResourceLogs` field (`0x0a`, `0x12` or `0x1a`), never `{` (that would
//! be field 15 as a group): [`fields`] tells them apart by that first byte.
//!
//! Values (`AnyValue`) nest: at most [`MAX_DEPTH`] levels are read, deeper
//! is refused, so a hostile request costs no more stack than that. JSON is
//! checked by an iterative walk ([`crate::jsonspan`]) and its values read from
//! their spans in place, so brackets nested in a member pramaan does not
//! read cost no stack either.

mod json;
mod proto;

use crate::attrs::{clip, MAX_PAIRS};
use crate::last::Last;
use crate::{extract, sd};
use pramaan_core::{EventTime, Format, ParsedFields};
use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

pub use crate::jsonspan::SpanError;

/// How deep `AnyValue`s may nest (an attribute holding a list holding a
/// list... counts one level per value).
pub const MAX_DEPTH: usize = 32;

/// The request's encoding, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

/// Why a request (or a stored record) does not decode; `at` names the
/// place (`resourceLogs[0].scopeLogs[1].logRecords[2].attributes[0]`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    #[error("{at}: {source}")]
    Wire {
        at: String,
        source: crate::protowire::WireError,
    },
    #[error("{at}: field {field} has wire type {got}, not the {want} its schema says")]
    WireType {
        at: String,
        field: u32,
        got: &'static str,
        want: &'static str,
    },
    #[error("{at}: {source}")]
    Span { at: String, source: SpanError },
    #[error("{at}: {msg}")]
    Json { at: String, msg: String },
    #[error("{at}: values nest deeper than {MAX_DEPTH} levels (AnyValue inside AnyValue), the most pramaan reads")]
    TooDeep { at: String },
}

/// Where a reader is in a request, written out only when an error names it
/// (`resourceLogs[0].scopeLogs[1].logRecords[2].body`): built as text for
/// every record and attribute, the paths cost more than reading them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum At<'a> {
    /// A name of its own (`record`, `the body`).
    Root(&'a str),
    /// Member `name` of the place before.
    Member(&'a At<'a>, &'static str),
    /// Item `i` of the list `name` of the place before.
    Item(&'a At<'a>, &'static str, usize),
}

impl At<'_> {
    /// The path a top-level list's items are named under (`resourceLogs[0]`).
    const TOP: At<'static> = At::Root("");

    fn member<'a>(&'a self, name: &'static str) -> At<'a> {
        At::Member(self, name)
    }

    fn item<'a>(&'a self, name: &'static str, i: usize) -> At<'a> {
        At::Item(self, name, i)
    }
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parent = |f: &mut std::fmt::Formatter<'_>, p: &At<'_>| match p {
            At::Root("") => Ok(()),
            p => write!(f, "{p}."),
        };
        match self {
            At::Root(s) => f.write_str(s),
            At::Member(p, name) => {
                parent(f, p)?;
                f.write_str(name)
            }
            At::Item(p, name, i) => {
                parent(f, p)?;
                write!(f, "{name}[{i}]")
            }
        }
    }
}

/// An `AnyValue`, read.
#[derive(Clone, Debug, PartialEq)]
pub enum Any {
    Empty,
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Base64 (as OTLP/JSON writes bytes).
    Bytes(String),
    Array(Vec<Any>),
    KvList(Vec<(String, Any)>),
}

impl Any {
    /// The value as text: a string as it is, a list or map as JSON.
    pub fn text(&self) -> String {
        self.text_ref().into_owned()
    }

    /// [`Any::text`], borrowed where it can be (a string is most values).
    fn text_ref(&self) -> Cow<'_, str> {
        match self {
            Any::Str(s) | Any::Bytes(s) => Cow::Borrowed(s),
            _ => Cow::Owned(self.json().to_string()),
        }
    }

    fn json(&self) -> serde_json::Value {
        use serde_json::Value as V;
        match self {
            Any::Empty => V::Null,
            Any::Str(s) | Any::Bytes(s) => V::String(s.clone()),
            Any::Bool(b) => V::Bool(*b),
            Any::Int(i) => V::from(*i),
            Any::Double(d) => {
                serde_json::Number::from_f64(*d).map_or(V::String(d.to_string()), V::Number)
            }
            Any::Array(a) => V::Array(a.iter().map(Any::json).collect()),
            Any::KvList(kv) => V::Object(kv.iter().map(|(k, v)| (k.clone(), v.json())).collect()),
        }
    }
}

/// One log record with its resource and scope, read from a record's raw bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogRecord {
    pub resource: Vec<(String, Any)>,
    pub scope_name: Option<String>,
    pub scope_version: Option<String>,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: u64,
    pub severity_text: Option<String>,
    pub body: Option<Any>,
    /// Where the body's string sits in the raw bytes (as sent: JSON escapes included).
    pub body_range: Option<Range<usize>>,
    pub attributes: Vec<(String, Any)>,
    /// Lower-case hex; `None` when absent or empty.
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub event_name: Option<String>,
}

thread_local! {
    /// The resource read last (see [`crate::last`]): a request's records share it.
    static LAST_RESOURCE: RefCell<Last<Vec<(String, Any)>>> = const { RefCell::new(Last::new()) };
}

/// The attributes of the resource `bytes` (`form`: `j`son or `p`rotobuf),
/// read by `read` unless they were read last.
fn memo_resource(
    form: u8,
    bytes: &[u8],
    read: impl FnOnce() -> Result<Vec<(String, Any)>, OtlpError>,
) -> Result<Vec<(String, Any)>, OtlpError> {
    LAST_RESOURCE.with_borrow_mut(|last| last.get(form, bytes, read))
}

/// The raw bytes of every log record in `body`, in order; every record is
/// decoded on the way, so a request is taken whole or refused whole.
pub fn split(body: &[u8], enc: Encoding) -> Result<Vec<Vec<u8>>, OtlpError> {
    let raws = match enc {
        Encoding::Protobuf => proto::split(body)?,
        Encoding::Json => json::split(body)?,
    };
    Ok(raws)
}

/// Reads one stored record (see the module documentation).
pub fn decode(raw: &[u8]) -> Result<LogRecord, OtlpError> {
    if raw.first() == Some(&b'{') {
        json::record(raw, At::Root("record"))
    } else {
        proto::record(raw, At::Root("record"))
    }
}

/// The search fields of a stored record. Never fails: a record that does
/// not decode keeps a parse error and its raw bytes as the message.
pub fn fields(raw: &[u8]) -> ParsedFields {
    let mut f = ParsedFields {
        format: Format::Otlp,
        message: 0..raw.len(),
        ..ParsedFields::default()
    };
    match decode(raw) {
        Ok(r) => apply(&r, raw, &mut f),
        Err(e) => f.parse_error = Some(format!("OTLP log record: {e}")),
    }
    f
}

fn attr<'a>(kvs: &'a [(String, Any)], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        kvs.iter().find_map(|(n, v)| match v {
            Any::Str(s) if n == k && !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
    })
}

fn apply(r: &LogRecord, raw: &[u8], f: &mut ParsedFields) {
    let t = if r.time_unix_nano != 0 {
        r.time_unix_nano
    } else {
        r.observed_time_unix_nano
    };
    if t != 0 {
        f.event_time = i64::try_from(t).ok().map(|utc_ns| EventTime {
            utc_ns,
            offset_secs: 0,
            zone_assumed: false,
        });
    }
    f.severity = severity(r.severity_number, r.severity_text.as_deref());
    let host_keys = ["host.name", "host.hostname", "hostname", "host"];
    f.host = attr(&r.resource, &host_keys)
        .or_else(|| attr(&r.attributes, &host_keys))
        .map(str::to_owned);
    f.app = attr(&r.resource, &["service.name"])
        .or_else(|| attr(&r.attributes, &["service.name"]))
        .map(str::to_owned);
    f.procid = r.resource.iter().find_map(|(k, v)| match v {
        Any::Int(p) if k == "process.pid" => Some(p.to_string()),
        _ => None,
    });
    f.message = r.body_range.clone().unwrap_or(0..0);
    f.structured_data = Some(structured_data(r));
    if let Some(b) = &r.body {
        extract::extract(b.text_ref().as_bytes(), f);
    }
    for (_, v) in r.attributes.iter().take(MAX_PAIRS) {
        if let Any::Str(s) = v {
            extract::extract(s.as_bytes(), f);
        }
    }
    if f.message.end > raw.len() {
        f.message = 0..0;
    }
}

/// `[otlp ...][otlp.resource ...][otlp.attributes ...]`.
fn structured_data(r: &LogRecord) -> String {
    let body = match &r.body {
        Some(
            b @ (Any::Array(_)
            | Any::KvList(_)
            | Any::Bool(_)
            | Any::Int(_)
            | Any::Double(_)
            | Any::Bytes(_)),
        ) => Some(b.text()),
        _ => None,
    };
    let own = [
        ("trace_id", r.trace_id.as_deref()),
        ("span_id", r.span_id.as_deref()),
        ("severity_text", r.severity_text.as_deref()),
        ("event_name", r.event_name.as_deref()),
        ("scope", r.scope_name.as_deref()),
        ("scope_version", r.scope_version.as_deref()),
        ("body", body.as_deref()),
    ];
    let own: Vec<(&str, Cow<'_, str>)> = own
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, clip(v))))
        .collect();
    let mut out = sd::element("otlp", own.iter().map(|(k, v)| (*k, v.as_ref())));
    for (id, kvs) in [
        ("otlp.resource", &r.resource),
        ("otlp.attributes", &r.attributes),
    ] {
        if kvs.is_empty() {
            continue;
        }
        let texts: Vec<(&str, Cow<'_, str>)> = kvs
            .iter()
            .take(MAX_PAIRS)
            .map(|(k, v)| {
                let t = match v.text_ref() {
                    Cow::Borrowed(t) => clip(t),
                    Cow::Owned(t) => Cow::Owned(clip(&t).into_owned()),
                };
                (k.as_str(), t)
            })
            .collect();
        out.push_str(&sd::element(
            id,
            texts.iter().map(|(k, v)| (*k, v.as_ref())),
        ));
    }
    out
}

/// RFC 5424 severity from OTLP's `SeverityNumber` (1-24), else from its text.
pub fn severity(number: u64, text: Option<&str>) -> Option<u8> {
    match number {
        1..=8 => Some(7),   // TRACE, DEBUG
        9..=12 => Some(6),  // INFO
        13..=16 => Some(4), // WARN
        17..=20 => Some(3), // ERROR
        21..=24 => Some(2), // FATAL
        _ => {
            let t = text?.trim().to_ascii_lowercase();
            Some(match t.as_str() {
                "trace" | "debug" => 7,
                "info" | "information" => 6,
                "notice" => 5,
                "warn" | "warning" => 4,
                "error" | "err" => 3,
                "fatal" | "critical" | "crit" => 2,
                "alert" => 1,
                "emerg" | "emergency" => 0,
                _ => return None,
            })
        }
    }
}

/// Lower-case hex of an id; `None` when empty.
fn hex(b: &[u8]) -> Option<String> {
    (!b.is_empty()).then(|| hex::encode(b))
}

/// The answer: an `ExportLogsServiceResponse` in the request's encoding,
/// with `partialSuccess` when some records were refused.
pub fn response(enc: Encoding, rejected: u64, message: &str) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => {
            let mut out = Vec::new();
            if rejected > 0 || !message.is_empty() {
                let mut ps = Vec::new();
                crate::protowire::put_varint_field(&mut ps, 1, rejected);
                crate::protowire::put_bytes(&mut ps, 2, message.as_bytes());
                crate::protowire::put_bytes(&mut out, 1, &ps);
            }
            out
        }
        Encoding::Json => {
            let v = if rejected > 0 || !message.is_empty() {
                serde_json::json!({"partialSuccess": {
                    "rejectedLogRecords": rejected.to_string(),
                    "errorMessage": message,
                }})
            } else {
                serde_json::json!({})
            };
            v.to_string().into_bytes()
        }
    }
}

/// A refusal's body: a `google.rpc.Status` (as OTLP/HTTP says) with gRPC
/// code `code` and `message`, in the request's encoding.
pub fn status(enc: Encoding, code: u64, message: &str) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => {
            let mut out = Vec::new();
            crate::protowire::put_varint_field(&mut out, 1, code);
            crate::protowire::put_bytes(&mut out, 2, message.as_bytes());
            out
        }
        Encoding::Json => serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests;
