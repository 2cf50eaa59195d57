//! Loki's push API (`POST /loki/api/v1/push`): streams, each a label set
//! and its entries, as JSON or as protobuf (`logproto.PushRequest`, sent
//! snappy block compressed).
//!
//! Each entry becomes one record whose raw bytes are a message of Loki's own
//! format holding just that stream and that entry, every leaf byte-exact as
//! the client sent it:
//!
//! * JSON: `{"stream":<the stream object>,"values":[<the value array>]}`;
//! * protobuf: a `StreamAdapter` (field 1 the labels string, field 2 the one
//!   `EntryAdapter`), written with [`protowire::put_bytes`].
//!
//! So anyone can decode a record with Loki's schema, and its proof covers
//! exactly what the client sent of that entry. [`fields`] reads either form
//! (a protobuf `StreamAdapter` never starts with `{`): the labels go to `sd`
//! (`[loki job="varlogs" host="web1"]`, structured metadata in
//! `[loki-meta ...]`), well-known ones to host, app and severity
//! ([`crate::labels`]), the entry's timestamp to the event time (UTC), and
//! the line is parsed as any line is (syslog, JSON or plain) for what it
//! says itself.

use crate::last::Last;
use crate::protowire::{self, WireError};
use crate::ParseContext;
use pramaan_core::{EventTime, Format, ParsedFields};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;

/// Why a push body was refused (the whole request: Loki answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("snappy: the block declares {declared} bytes, more than {compressed} compressed bytes can hold: the length is a lie")]
    SnappyLies { declared: u64, compressed: usize },
    #[error("snappy: the block declares {declared} bytes, more than http.max_body ({max} bytes)")]
    SnappyTooLarge { declared: u64, max: usize },
    #[error("snappy: {0}")]
    Snappy(String),
    #[error("JSON: {0}")]
    Json(String),
    #[error("{at}: {source}")]
    Proto { at: String, source: WireError },
    #[error("{0}")]
    Invalid(String),
}

impl PushError {
    /// Whether the body is over the server's limit (413) rather than bad (400).
    pub fn too_large(&self) -> bool {
        matches!(self, PushError::SnappyTooLarge { .. })
    }
}

/// The most one byte of a snappy block can expand to: a 3-byte copy
/// element writes at most 64 bytes (22 per byte, rounded up).
const SNAPPY_MAX_RATIO: u64 = 22;

/// Decompresses a snappy block (not the framed format), checking the length
/// it declares before anything is allocated: one more than `max` is a 413,
/// one more than its compressed bytes could ever hold a lie (400).
pub fn unsnappy(body: &[u8], max: usize) -> Result<Vec<u8>, PushError> {
    let (declared, _) =
        protowire::varint(body, 0).map_err(|e| PushError::Snappy(format!("length: {e}")))?;
    if declared > (body.len() as u64).saturating_mul(SNAPPY_MAX_RATIO) {
        return Err(PushError::SnappyLies {
            declared,
            compressed: body.len(),
        });
    }
    if declared > max as u64 {
        return Err(PushError::SnappyTooLarge { declared, max });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushError::Snappy(e.to_string()))
}

// ------------------------------------------------------------------ JSON

fn json_err(at: &str, e: impl std::fmt::Display) -> PushError {
    PushError::Json(format!("{at}: {e}"))
}

/// Splits a JSON push body into the raw bytes of one record per entry.
/// The body is walked once ([`crate::jsonspan::Doc`]): each stream, its
/// labels and entries are then found on the walk's tape, and a line (an
/// entry's bulk) is scanned no more.
pub fn split_json(body: &[u8]) -> Result<Vec<Vec<u8>>, PushError> {
    let (d, top) = crate::jsonspan::Doc::whole(body).map_err(|e| json_err("the body", e))?;
    let object = |span: &std::ops::Range<usize>| body[span.start] == b'{';
    if !object(&top) {
        return Err(PushError::Json("the body is not a JSON object".into()));
    }
    let [streams] = d
        .pick(top, ["streams"])
        .map_err(|e| json_err("the body", e))?;
    let streams =
        streams.ok_or_else(|| PushError::Json("the body has no `streams` array".into()))?;
    let streams = d.items(streams).map_err(|e| json_err("`streams`", e))?;
    let mut out = Vec::new();
    for (i, s) in streams.into_iter().enumerate() {
        let at = || format!("streams[{i}]");
        if !object(&s) {
            return Err(json_err(&at(), "a stream is not an object"));
        }
        let [labels, values] = d
            .pick(s, ["stream", "values"])
            .map_err(|e| json_err(&at(), e))?;
        let labels =
            labels.ok_or_else(|| PushError::Json(format!("{} has no `stream` object", at())))?;
        let pairs: BTreeMap<String, String> = serde_json::from_slice(&body[labels.clone()])
            .map_err(|e| json_err(&format!("{}.stream", at()), e))?;
        if pairs.is_empty() {
            return Err(PushError::Invalid(format!("{}.stream has no labels", at())));
        }
        let values = match values {
            Some(v) => d
                .items(v)
                .map_err(|e| json_err(&format!("{}.values", at()), e))?,
            None => Vec::new(),
        };
        let labels = &body[labels];
        for (j, v) in values.into_iter().enumerate() {
            d.items(v.clone())
                .map_err(|e| e.to_string())
                .and_then(|parts| entry(body, &parts))
                .map_err(|e| json_err(&format!("{}.values[{j}]", at()), e))?;
            let entry = &body[v];
            let mut raw = Vec::with_capacity(labels.len() + entry.len() + 24);
            raw.extend_from_slice(b"{\"stream\":");
            raw.extend_from_slice(labels);
            raw.extend_from_slice(b",\"values\":[");
            raw.extend_from_slice(entry);
            raw.extend_from_slice(b"]}");
            out.push(raw);
        }
    }
    Ok(out)
}

/// One JSON entry: `[timestamp, line]` or `[timestamp, line, {metadata}]`.
struct JsonEntry<'a> {
    ts_ns: i64,
    /// The line as a JSON string token (quotes included), exact.
    line: &'a [u8],
    meta: BTreeMap<String, String>,
}

/// An entry from its items' spans in `b`: `[timestamp, line]` or
/// `[timestamp, line, {metadata}]`.
fn entry<'a>(b: &'a [u8], parts: &[std::ops::Range<usize>]) -> Result<JsonEntry<'a>, String> {
    if !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "an entry is [timestamp, line] or [timestamp, line, {{metadata}}], not {} items",
            parts.len()
        ));
    }
    let ts: String = serde_json::from_slice(&b[parts[0].clone()])
        .map_err(|_| "the timestamp is not a string of nanoseconds".to_string())?;
    let ts_ns = ts
        .parse::<i64>()
        .map_err(|_| format!("the timestamp {ts:?} is not nanoseconds since the epoch"))?;
    // A span of a checked text is valid JSON already: one that opens with a
    // quote is a string (not read into one: the line is the entry's bulk).
    let line = &b[parts[1].clone()];
    if line.first() != Some(&b'"') {
        return Err("the line is not a string".to_string());
    }
    let meta = match parts.get(2) {
        Some(m) => serde_json::from_slice(&b[m.clone()])
            .map_err(|e| format!("the structured metadata is not an object of strings: {e}"))?,
        None => BTreeMap::new(),
    };
    Ok(JsonEntry { ts_ns, line, meta })
}

// -------------------------------------------------------------- protobuf

/// `PushRequest.streams`, `StreamAdapter.labels`/`entries`,
/// `EntryAdapter.timestamp`/`line`/`structuredMetadata`,
/// `LabelPairAdapter.name`/`value`, `Timestamp.seconds`/`nanos`.
mod tag {
    pub const STREAMS: u32 = 1;
    pub const LABELS: u32 = 1;
    pub const ENTRIES: u32 = 2;
    pub const TIMESTAMP: u32 = 1;
    pub const LINE: u32 = 2;
    pub const METADATA: u32 = 3;
    pub const NAME: u32 = 1;
    pub const VALUE: u32 = 2;
    pub const SECONDS: u32 = 1;
    pub const NANOS: u32 = 2;
}

fn wire(at: impl Into<String>) -> impl FnOnce(WireError) -> PushError {
    let at = at.into();
    move |source| PushError::Proto { at, source }
}

/// Splits a (decompressed) protobuf `PushRequest` into the raw bytes of one
/// record per entry.
pub fn split_proto(body: &[u8]) -> Result<Vec<Vec<u8>>, PushError> {
    let mut out = Vec::new();
    for (i, field) in protowire::fields(body).enumerate() {
        let field = field.map_err(wire("the PushRequest"))?;
        let (tag::STREAMS, Some(stream)) = (field.number, field.bytes()) else {
            continue;
        };
        let at = format!("stream {i}");
        let mut labels = None;
        let mut entries = Vec::new();
        for f in protowire::fields(stream) {
            let f = f.map_err(wire(at.clone()))?;
            match (f.number, f.bytes()) {
                (tag::LABELS, Some(l)) => labels = Some(l),
                (tag::ENTRIES, Some(e)) => entries.push(e),
                _ => {}
            }
        }
        let labels = labels.ok_or_else(|| PushError::Invalid(format!("{at} has no labels")))?;
        let text = std::str::from_utf8(labels)
            .map_err(|_| PushError::Invalid(format!("{at}: the labels are not UTF-8")))?;
        parse_labels(text)
            .map_err(|e| PushError::Invalid(format!("{at}: labels {text:?}: {e}")))?;
        for (j, e) in entries.iter().enumerate() {
            proto_entry(e).map_err(wire(format!("{at} entry {j}")))?;
            let mut raw = Vec::with_capacity(labels.len() + e.len() + 12);
            protowire::put_bytes(&mut raw, tag::LABELS, labels);
            protowire::put_bytes(&mut raw, tag::ENTRIES, e);
            out.push(raw);
        }
    }
    Ok(out)
}

/// One protobuf entry; `line` is its range in the entry's bytes.
struct ProtoEntry<'a> {
    ts_ns: Option<i64>,
    line: Range<usize>,
    meta: Vec<(&'a [u8], &'a [u8])>,
}

fn proto_entry(e: &[u8]) -> Result<ProtoEntry<'_>, WireError> {
    let mut out = ProtoEntry {
        ts_ns: None,
        line: 0..0,
        meta: Vec::new(),
    };
    let mut it = protowire::fields(e);
    while let Some(r) = it.next_with_span() {
        let (f, span) = r?;
        match (f.number, f.bytes()) {
            (tag::TIMESTAMP, Some(t)) => out.ts_ns = timestamp(t)?,
            (tag::LINE, Some(l)) => out.line = span.end - l.len()..span.end,
            (tag::METADATA, Some(p)) => {
                let (mut name, mut value) = (&b""[..], &b""[..]);
                for f in protowire::fields(p) {
                    let f = f?;
                    match (f.number, f.bytes()) {
                        (tag::NAME, Some(n)) => name = n,
                        (tag::VALUE, Some(v)) => value = v,
                        _ => {}
                    }
                }
                out.meta.push((name, value));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A `google.protobuf.Timestamp` in ns, `None` past what an i64 holds.
fn timestamp(t: &[u8]) -> Result<Option<i64>, WireError> {
    let (mut secs, mut nanos) = (0i64, 0i64);
    for f in protowire::fields(t) {
        let f = f?;
        match (f.number, f.varint()) {
            (tag::SECONDS, Some(v)) => secs = v as i64,
            (tag::NANOS, Some(v)) => nanos = i64::from(v as i32),
            _ => {}
        }
    }
    Ok(secs
        .checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos)))
}

// ---------------------------------------------------------------- labels

/// Parses a label set as Prometheus writes it: `{job="varlogs", host="web1"}`
/// (values with `\"`, `\\` and `\n` escaped).
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let inner = s
        .trim()
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or("a label set is written `{name=\"value\", ...}`")?;
    let mut out = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("a label has no `=`")?;
        let name = rest[..eq].trim();
        let valid = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid {
            return Err(format!("{name:?} is not a label name"));
        }
        let after = rest[eq + 1..].trim_start();
        let body = after
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of {name} is not quoted"))?;
        let (value, used) =
            unquote(body).ok_or_else(|| format!("the value of {name} has no closing quote"))?;
        out.push((name.to_owned(), value));
        rest = body[used..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return Err(format!("after the value of {name}: expected `,` or `}}`")),
        }
    }
    if out.is_empty() {
        return Err("a stream needs at least one label".into());
    }
    Ok(out)
}

/// A quoted value's text and how many bytes it took, closing quote included.
fn unquote(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------- fields

/// The fields of a stored Loki record (JSON or protobuf, see the module).
pub fn fields(raw: &[u8], ctx: &ParseContext) -> ParsedFields {
    let decoded = if raw.first() == Some(&b'{') {
        from_json(raw)
    } else {
        from_proto(raw)
    };
    match decoded {
        Ok(d) => d.fields(raw, ctx),
        Err(e) => ParsedFields {
            format: Format::Loki,
            message: 0..raw.len(),
            parse_error: Some(format!("Loki entry: {e}")),
            ..Default::default()
        },
    }
}

/// A stream's labels, read.
type Labels = Rc<[(String, String)]>;

thread_local! {
    /// The label set read last (see [`crate::last`]).
    static LAST_LABELS: RefCell<Last<Labels>> = const { RefCell::new(Last::new()) };
}

/// The labels `text` holds (`form`: `j`son or `p`rotobuf), read by `read`
/// unless they were read last.
fn memo_labels(
    form: u8,
    text: &[u8],
    read: impl FnOnce() -> Result<Vec<(String, String)>, String>,
) -> Result<Labels, String> {
    LAST_LABELS.with_borrow_mut(|last| last.get(form, text, || read().map(Labels::from)))
}

/// One entry, decoded from a record.
struct Decoded {
    labels: Labels,
    meta: Vec<(String, String)>,
    ts_ns: Option<i64>,
    /// The line's bytes, where they lie verbatim in raw.
    line_at: Option<Range<usize>>,
    /// The line's text when it does not lie verbatim in raw (JSON escapes).
    line_text: Option<String>,
}

fn from_json(raw: &[u8]) -> Result<Decoded, String> {
    let (d, top) = crate::jsonspan::Doc::new(raw, 0).map_err(|e| e.to_string())?;
    if raw[top.start] != b'{' {
        return Err("the record is not a JSON object".into());
    }
    let [stream, values] = d
        .pick(top, ["stream", "values"])
        .map_err(|e| e.to_string())?;
    let stream = stream.map_or(&b""[..], |s| &raw[s]);
    let labels = memo_labels(b'j', stream, || {
        let labels: BTreeMap<String, String> = match stream {
            b"" => BTreeMap::new(),
            s => serde_json::from_slice(s).map_err(|e| e.to_string())?,
        };
        Ok(labels.into_iter().collect())
    })?;
    let values = match values {
        Some(v) => d.items(v).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let [v] = values.as_slice() else {
        return Err(format!("{} entries, not one", values.len()));
    };
    let parts = d.items(v.clone()).map_err(|e| e.to_string())?;
    let e = entry(raw, &parts)?;
    // A request's body was checked as UTF-8 whole; a stored record's line
    // is checked here, where it becomes the message.
    let token = std::str::from_utf8(e.line).map_err(|e| format!("the line: {e}"))?;
    let at = parts[1].start;
    let (line_at, line_text) = if token.contains('\\') {
        (None, serde_json::from_str::<String>(token).ok())
    } else {
        (Some(at + 1..at + token.len() - 1), None)
    };
    Ok(Decoded {
        labels,
        meta: e.meta.into_iter().collect(),
        ts_ns: Some(e.ts_ns),
        line_at,
        line_text,
    })
}

fn from_proto(raw: &[u8]) -> Result<Decoded, String> {
    let mut labels = None;
    let mut entry = None;
    let mut it = protowire::fields(raw);
    while let Some(r) = it.next_with_span() {
        let (f, span) = r.map_err(|e| e.to_string())?;
        match (f.number, f.bytes()) {
            (tag::LABELS, Some(l)) => labels = Some(l),
            (tag::ENTRIES, Some(e)) => entry = Some((e, span.end - e.len())),
            _ => {}
        }
    }
    let labels = labels.unwrap_or_default();
    let labels = memo_labels(b'p', labels, || {
        std::str::from_utf8(labels)
            .map_err(|_| "the labels are not UTF-8".to_string())
            .and_then(parse_labels)
    })?;
    let (e, at) = entry.ok_or("no entry")?;
    let pe = proto_entry(e).map_err(|e| e.to_string())?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(Decoded {
        labels,
        meta: pe.meta.iter().map(|(n, v)| (text(n), text(v))).collect(),
        ts_ns: pe.ts_ns,
        line_at: Some(at + pe.line.start..at + pe.line.end),
        line_text: None,
    })
}

impl Decoded {
    fn fields(self, raw: &[u8], ctx: &ParseContext) -> ParsedFields {
        // The line says what it says (a syslog header, JSON members,
        // addresses); the labels and the entry's timestamp come on top.
        let mut f = match (&self.line_at, &self.line_text) {
            (Some(r), _) => {
                let mut f = crate::parse(&raw[r.clone()], ctx);
                f.message = f.message.start + r.start..f.message.end + r.start;
                f
            }
            (None, text) => ParsedFields {
                message: 0..raw.len(),
                ..crate::parse(text.as_deref().unwrap_or_default().as_bytes(), ctx)
            },
        };
        f.format = Format::Loki;
        f.event_time = self.ts_ns.map(|utc_ns| EventTime {
            utc_ns,
            offset_secs: 0,
            zone_assumed: false,
        });
        let pairs: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        crate::labels::apply(&pairs, &mut f);
        let mut sd = crate::sd::element("loki", pairs);
        if !self.meta.is_empty() {
            let meta = self.meta.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            sd.push_str(&crate::sd::element("loki-meta", meta));
        }
        if let Some(own) = f.structured_data.take() {
            sd.push_str(&own);
        }
        f.structured_data = Some(sd);
        f
    }
}

#[cfg(test)]
mod tests;
