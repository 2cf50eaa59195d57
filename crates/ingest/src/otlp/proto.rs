//! OTLP logs in protobuf (`opentelemetry/proto/logs/v1/logs.proto`, read
//! with [`crate::protowire`]: no generated code).

use super::{hex, Any, At, LogRecord, OtlpError, MAX_DEPTH};
use crate::protowire::{self, Field, Value};

fn wire(at: At<'_>) -> impl Fn(protowire::WireError) -> OtlpError + '_ {
    move |source| OtlpError::Wire {
        at: at.to_string(),
        source,
    }
}

fn kind(v: &Value<'_>) -> &'static str {
    match v {
        Value::Varint(_) => "varint",
        Value::Fixed64(_) => "64-bit",
        Value::Bytes(_) => "length-delimited",
        Value::Fixed32(_) => "32-bit",
    }
}

fn wrong(at: At<'_>, f: &Field<'_>, want: &'static str) -> OtlpError {
    OtlpError::WireType {
        at: at.to_string(),
        field: f.number,
        got: kind(&f.value),
        want,
    }
}

fn bytes<'a>(at: At<'_>, f: &Field<'a>) -> Result<&'a [u8], OtlpError> {
    f.bytes().ok_or_else(|| wrong(at, f, "length-delimited"))
}

fn text(at: At<'_>, f: &Field<'_>) -> Result<String, OtlpError> {
    let b = bytes(at, f)?;
    // Checked whole first: the lossy reading goes a chunk at a time.
    Ok(match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    })
}

/// The fields of `buf`, each an error from the first bad one on (read as
/// they come: collecting them first cost an allocation per message).
fn all<'a, 'b>(buf: &'a [u8], at: At<'b>) -> impl Iterator<Item = Result<Field<'a>, OtlpError>> + 'b
where
    'a: 'b,
{
    protowire::fields(buf).map(move |f| f.map_err(wire(at)))
}

/// One `ResourceLogs` per log record of an `ExportLogsServiceRequest`.
pub(super) fn split(body: &[u8]) -> Result<Vec<Vec<u8>>, OtlpError> {
    let mut out = Vec::new();
    let mut ri = 0;
    for f in all(body, At::Root("ExportLogsServiceRequest")) {
        let f = f?;
        if f.number != 1 {
            continue;
        }
        let at = At::TOP.item("resourceLogs", ri);
        ri += 1;
        let (mut resource, mut schema, mut scopes) = (None, None, Vec::new());
        for g in all(bytes(at, &f)?, at) {
            let g = g?;
            match g.number {
                1 => resource = Some(bytes(at, &g)?),
                2 => scopes.push(bytes(at, &g)?),
                3 => schema = Some(bytes(at, &g)?),
                _ => {}
            }
        }
        for (si, sl) in scopes.into_iter().enumerate() {
            let at = at.item("scopeLogs", si);
            let (mut scope, mut sl_schema, mut logs) = (None, None, Vec::new());
            for g in all(sl, at) {
                let g = g?;
                match g.number {
                    1 => scope = Some(bytes(at, &g)?),
                    2 => logs.push(bytes(at, &g)?),
                    3 => sl_schema = Some(bytes(at, &g)?),
                    _ => {}
                }
            }
            for (li, log) in logs.into_iter().enumerate() {
                // Each record is checked as `record` will read it; the
                // resource and scope once, with the first.
                let at = at.item("logRecords", li);
                let mut r = LogRecord::default();
                if li == 0 {
                    if let Some(res) = resource {
                        read_resource(res, &mut r, at)?;
                    }
                    if let Some(s) = scope {
                        self::scope(s, &mut r, at.member("scope"))?;
                    }
                }
                log_record(body, log, &mut r, at)?;
                out.push(frame(resource, scope, log, sl_schema, schema));
            }
        }
    }
    Ok(out)
}

/// A `ResourceLogs` holding exactly these pieces, each as it was sent.
pub fn frame(
    resource: Option<&[u8]>,
    scope: Option<&[u8]>,
    log: &[u8],
    scope_schema: Option<&[u8]>,
    schema: Option<&[u8]>,
) -> Vec<u8> {
    let len = |p: Option<&[u8]>| p.map_or(0, <[u8]>::len);
    let mut sl = Vec::with_capacity(log.len() + len(scope) + len(scope_schema) + 32);
    if let Some(s) = scope {
        protowire::put_bytes(&mut sl, 1, s);
    }
    protowire::put_bytes(&mut sl, 2, log);
    if let Some(u) = scope_schema {
        protowire::put_bytes(&mut sl, 3, u);
    }
    let mut out = Vec::with_capacity(sl.len() + len(resource) + len(schema) + 32);
    if let Some(r) = resource {
        protowire::put_bytes(&mut out, 1, r);
    }
    protowire::put_bytes(&mut out, 2, &sl);
    if let Some(u) = schema {
        protowire::put_bytes(&mut out, 3, u);
    }
    out
}

/// Reads a stored `ResourceLogs` (one scope, one log record); `at` names
/// it in errors.
pub(super) fn record(raw: &[u8], at: At<'_>) -> Result<LogRecord, OtlpError> {
    let mut r = LogRecord::default();
    let (mut scope_logs, mut log) = (None, None);
    for f in all(raw, at) {
        let f = f?;
        match f.number {
            1 => read_resource(bytes(at, &f)?, &mut r, at)?,
            2 => scope_logs = Some(bytes(at, &f)?),
            _ => {}
        }
    }
    if let Some(sl) = scope_logs {
        for f in all(sl, at) {
            let f = f?;
            match f.number {
                1 => scope(bytes(at, &f)?, &mut r, at.member("scope"))?,
                2 => log = Some(bytes(at, &f)?),
                _ => {}
            }
        }
    }
    if let Some(log) = log {
        log_record(raw, log, &mut r, at)?;
    }
    Ok(r)
}

/// A `Resource`'s attributes (read once for the records that share it).
fn read_resource(res: &[u8], r: &mut LogRecord, at: At<'_>) -> Result<(), OtlpError> {
    r.resource = super::memo_resource(b'p', res, || attributes_of(res, 1, at.member("resource")))?;
    Ok(())
}

fn scope(buf: &[u8], r: &mut LogRecord, at: At<'_>) -> Result<(), OtlpError> {
    for f in all(buf, at) {
        let f = f?;
        match f.number {
            1 => r.scope_name = Some(text(at, &f)?).filter(|s| !s.is_empty()),
            2 => r.scope_version = Some(text(at, &f)?).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    Ok(())
}

/// The `KeyValue`s in field `number` of `buf` (a `Resource`, a `KeyValueList`...).
fn attributes_of(buf: &[u8], number: u32, at: At<'_>) -> Result<Vec<(String, Any)>, OtlpError> {
    attributes_at(buf, number, at, 1)
}

fn attributes_at(
    buf: &[u8],
    number: u32,
    at: At<'_>,
    depth: usize,
) -> Result<Vec<(String, Any)>, OtlpError> {
    let mut out = Vec::new();
    for f in all(buf, at) {
        let f = f?;
        if f.number == number {
            let at = at.item("attributes", out.len());
            out.push(key_value(bytes(at, &f)?, at, depth)?);
        }
    }
    Ok(out)
}

fn key_value(buf: &[u8], at: At<'_>, depth: usize) -> Result<(String, Any), OtlpError> {
    let (mut key, mut value) = (String::new(), Any::Empty);
    for f in all(buf, at) {
        let f = f?;
        match f.number {
            1 => key = text(at, &f)?,
            2 => value = any(bytes(at, &f)?, at, depth)?,
            _ => {}
        }
    }
    Ok((key, value))
}

/// An `AnyValue` at nesting level `depth` (1 for an attribute's value).
fn any(buf: &[u8], at: At<'_>, depth: usize) -> Result<Any, OtlpError> {
    if depth > MAX_DEPTH {
        return Err(OtlpError::TooDeep { at: at.to_string() });
    }
    let mut v = Any::Empty;
    for f in all(buf, at) {
        let f = f?;
        v = match (f.number, f.value) {
            (1, _) => Any::Str(text(at, &f)?),
            (2, Value::Varint(b)) => Any::Bool(b != 0),
            (3, Value::Varint(i)) => Any::Int(i as i64),
            (4, Value::Fixed64(d)) => Any::Double(f64::from_bits(d)),
            (5, _) => {
                let mut items = Vec::new();
                for g in all(bytes(at, &f)?, at) {
                    let g = g?;
                    if g.number == 1 {
                        items.push(any(bytes(at, &g)?, at, depth + 1)?);
                    }
                }
                Any::Array(items)
            }
            (6, _) => Any::KvList(attributes_at(bytes(at, &f)?, 1, at, depth + 1)?),
            (7, _) => Any::Bytes(crate::attrs::base64(bytes(at, &f)?)),
            (2 | 3, _) => return Err(wrong(at, &f, "varint")),
            (4, _) => return Err(wrong(at, &f, "64-bit")),
            _ => continue,
        };
    }
    Ok(v)
}

fn log_record(raw: &[u8], buf: &[u8], r: &mut LogRecord, at: At<'_>) -> Result<(), OtlpError> {
    let fixed = |f: &Field<'_>| match f.value {
        Value::Fixed64(v) => Ok(v),
        _ => Err(wrong(at, f, "64-bit")),
    };
    let varint = |f: &Field<'_>| f.varint().ok_or_else(|| wrong(at, f, "varint"));
    for f in all(buf, at) {
        let f = f?;
        match f.number {
            1 => r.time_unix_nano = fixed(&f)?,
            11 => r.observed_time_unix_nano = fixed(&f)?,
            2 => r.severity_number = varint(&f)?,
            3 => r.severity_text = Some(text(at, &f)?).filter(|s| !s.is_empty()),
            5 => {
                let b = bytes(at, &f)?;
                let body = any(b, at.member("body"), 1)?;
                r.body_range = None;
                if let Any::Str(_) = body {
                    r.body_range = string_range(raw, b);
                }
                r.body = Some(body);
            }
            6 => {
                let at = at.item("attributes", r.attributes.len());
                r.attributes.push(key_value(bytes(at, &f)?, at, 1)?);
            }
            9 => r.trace_id = hex(bytes(at, &f)?),
            10 => r.span_id = hex(bytes(at, &f)?),
            12 => r.event_name = Some(text(at, &f)?).filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    Ok(())
}

/// Where the last `string_value` of the `AnyValue` `any` lies in `raw`
/// (`any` is a slice of `raw`).
fn string_range(raw: &[u8], any: &[u8]) -> Option<std::ops::Range<usize>> {
    let s = protowire::fields(any)
        .filter_map(Result::ok)
        .filter(|f| f.number == 1)
        .filter_map(|f| f.bytes())
        .last()?;
    let start = s.as_ptr() as usize - raw.as_ptr() as usize;
    Some(start..start + s.len())
}
