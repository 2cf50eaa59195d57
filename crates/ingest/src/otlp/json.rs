//! OTLP logs in OTLP's JSON mapping: lowerCamelCase names, trace and span
//! ids in hex, 64-bit integers as strings (numbers accepted too), enums as
//! numbers, bytes in base64.

use super::{Any, At, LogRecord, OtlpError, MAX_DEPTH};
use crate::jsonspan::{Doc, SpanError};
use std::borrow::Cow;
use std::ops::Range;

type Span = Range<usize>;

fn span_err(at: At<'_>) -> impl Fn(SpanError) -> OtlpError + '_ {
    move |source| OtlpError::Span {
        at: at.to_string(),
        source,
    }
}

fn items(d: &Doc<'_>, v: Option<Span>, at: At<'_>) -> Result<Vec<Span>, OtlpError> {
    v.map_or(Ok(Vec::new()), |v| d.items(v).map_err(span_err(at)))
}

fn pick<const N: usize>(
    d: &Doc<'_>,
    span: Span,
    names: [&str; N],
    at: At<'_>,
) -> Result<[Option<Span>; N], OtlpError> {
    d.pick(span, names).map_err(span_err(at))
}

/// [`pick`] of an object; of anything else, nothing (as a missing member).
fn pick_in<const N: usize>(
    d: &Doc<'_>,
    span: Span,
    names: [&str; N],
    at: At<'_>,
) -> Result<[Option<Span>; N], OtlpError> {
    if d.b[span.start] == b'{' {
        pick(d, span, names, at)
    } else {
        Ok([const { None }; N])
    }
}

/// One raw record per log record of the request `body`.
pub(super) fn split(b: &[u8]) -> Result<Vec<Vec<u8>>, OtlpError> {
    let whole = At::Root("the body");
    let (d, top) = Doc::whole(b).map_err(span_err(whole))?;
    let mut out = Vec::new();
    let [rls] = pick(&d, top, ["resourceLogs"], whole)?;
    for (ri, rl) in items(&d, rls, whole)?.into_iter().enumerate() {
        let at = At::TOP.item("resourceLogs", ri);
        let [resource, schema, sls] = pick(&d, rl, ["resource", "schemaUrl", "scopeLogs"], at)?;
        for (si, sl) in items(&d, sls, at)?.into_iter().enumerate() {
            let at = at.item("scopeLogs", si);
            let [scope, sl_schema, logs] = pick(&d, sl, ["scope", "schemaUrl", "logRecords"], at)?;
            for (li, log) in items(&d, logs, at)?.into_iter().enumerate() {
                // Each record is checked as `record` will read it; the
                // resource and scope once, with the first.
                let at = at.item("logRecords", li);
                let mut r = LogRecord::default();
                if li == 0 {
                    read_resource(&d, resource.clone(), &mut r, at)?;
                    read_scope(&d, scope.clone(), &mut r, at)?;
                }
                log_record(&d, log.clone(), &mut r, at)?;
                let piece = |r: &Option<Span>| r.clone().map(|r| &b[r]);
                out.push(frame(
                    piece(&resource),
                    piece(&scope),
                    &b[log],
                    piece(&sl_schema),
                    piece(&schema),
                ));
            }
        }
    }
    Ok(out)
}

/// `{"resource":R,"scopeLogs":[{"scope":S,"logRecords":[L],"schemaUrl":U}],"schemaUrl":U}`
/// with the pieces as sent (absent ones left out).
pub fn frame(
    resource: Option<&[u8]>,
    scope: Option<&[u8]>,
    log: &[u8],
    scope_schema: Option<&[u8]>,
    schema: Option<&[u8]>,
) -> Vec<u8> {
    let pieces = [resource, scope, scope_schema, schema].map(|p| p.map_or(0, <[u8]>::len));
    // The pieces and the names around them: one allocation, no growing.
    let mut o = Vec::with_capacity(log.len() + pieces.iter().sum::<usize>() + 96);
    o.push(b'{');
    if let Some(r) = resource {
        o.extend_from_slice(b"\"resource\":");
        o.extend_from_slice(r);
        o.push(b',');
    }
    o.extend_from_slice(b"\"scopeLogs\":[{");
    if let Some(s) = scope {
        o.extend_from_slice(b"\"scope\":");
        o.extend_from_slice(s);
        o.push(b',');
    }
    o.extend_from_slice(b"\"logRecords\":[");
    o.extend_from_slice(log);
    o.push(b']');
    if let Some(u) = scope_schema {
        o.extend_from_slice(b",\"schemaUrl\":");
        o.extend_from_slice(u);
    }
    o.extend_from_slice(b"}]");
    if let Some(u) = schema {
        o.extend_from_slice(b",\"schemaUrl\":");
        o.extend_from_slice(u);
    }
    o.push(b'}');
    o
}

fn bad(at: At<'_>, msg: impl Into<String>) -> OtlpError {
    OtlpError::Json {
        at: at.to_string(),
        msg: msg.into(),
    }
}

/// Reads a stored record (one resource, one scope, one log record).
pub(super) fn record(raw: &[u8], at: At<'_>) -> Result<LogRecord, OtlpError> {
    let (d, top) = Doc::new(raw, 0).map_err(span_err(at))?;
    let mut r = LogRecord::default();
    let [res, sls] = pick(&d, top, ["resource", "scopeLogs"], at)?;
    read_resource(&d, res, &mut r, at)?;
    let Some(sl) = items(&d, sls, at)?.into_iter().next() else {
        return Ok(r);
    };
    let [scope, logs] = pick(&d, sl, ["scope", "logRecords"], at)?;
    read_scope(&d, scope, &mut r, at)?;
    if let Some(log) = items(&d, logs, at)?.into_iter().next() {
        log_record(&d, log, &mut r, at)?;
    }
    Ok(r)
}

// What follows reads values from their spans in the checked text (`Doc`),
// as OTLP/JSON gives them meaning: a member is matched by its name as
// written, the last of a name counts, and `null` is as absent. Where a
// value of the wrong kind has no meaning to lose (a name that is not a
// string, a resource that is not an object), it is read as absent.

/// The resource's attributes (read once for the records that share it).
fn read_resource(
    d: &Doc<'_>,
    res: Option<Span>,
    r: &mut LogRecord,
    at: At<'_>,
) -> Result<(), OtlpError> {
    if let Some(res) = res {
        r.resource = super::memo_resource(b'j', &d.b[res.clone()], || {
            let at = at.member("resource");
            let [attrs] = pick_in(d, res, ["attributes"], at)?;
            attributes_at(d, attrs, at, 1)
        })?;
    }
    Ok(())
}

fn read_scope(
    d: &Doc<'_>,
    scope: Option<Span>,
    r: &mut LogRecord,
    at: At<'_>,
) -> Result<(), OtlpError> {
    if let Some(scope) = scope {
        let at = at.member("scope");
        let [name, version] = pick_in(d, scope, ["name", "version"], at)?;
        r.scope_name = name_of(d, name, at)?;
        r.scope_version = name_of(d, version, at)?;
    }
    Ok(())
}

/// The text of the string at `v` (its escapes read), borrowed when it has
/// none; `None` when `v` is not a string.
fn string<'b>(d: &Doc<'b>, v: &Span, at: At<'_>) -> Result<Option<Cow<'b, str>>, OtlpError> {
    let s = &d.b[v.clone()];
    if s[0] != b'"' {
        return Ok(None);
    }
    let inner = &s[1..s.len() - 1];
    let text = if memchr::memchr(b'\\', inner).is_none() {
        std::str::from_utf8(inner).map(Cow::Borrowed).ok()
    } else {
        // Escapes are rare: serde_json reads them.
        serde_json::from_slice(s).map(Cow::Owned).ok()
    };
    let text = text.ok_or_else(|| {
        bad(
            at,
            "a string is not Unicode text (a lone surrogate escape or a byte that is not UTF-8)",
        )
    })?;
    Ok(Some(text))
}

/// A name-like member (`severityText`, `traceId`...): its text, or `None`
/// when absent, empty or not a string.
fn name_of(d: &Doc<'_>, v: Option<Span>, at: At<'_>) -> Result<Option<String>, OtlpError> {
    let Some(v) = v else { return Ok(None) };
    Ok(string(d, &v, at)?
        .filter(|s| !s.is_empty())
        .map(Cow::into_owned))
}

/// The text of the number or string at `v` (a number's token as written,
/// which JSON's grammar makes a subset of what Rust's `parse` reads);
/// `None` when it is neither.
fn number_text<'b>(d: &Doc<'b>, v: &Span, at: At<'_>) -> Result<Option<Cow<'b, str>>, OtlpError> {
    Ok(match d.b[v.start] {
        b'"' => string(d, v, at)?,
        b'-' | b'0'..=b'9' => std::str::from_utf8(&d.b[v.clone()]).ok().map(Cow::Borrowed),
        _ => None,
    })
}

/// A 64-bit integer written as a string or a number; absent is 0.
fn uint(d: &Doc<'_>, v: Option<Span>, at: At<'_>, name: &str) -> Result<u64, OtlpError> {
    let Some(v) = v else { return Ok(0) };
    let text =
        number_text(d, &v, at)?.ok_or_else(|| bad(at, format!("`{name}` is not an integer")))?;
    text.parse()
        .map_err(|_| bad(at, format!("`{name}` is not a non-negative integer")))
}

fn log_record(d: &Doc<'_>, log: Span, r: &mut LogRecord, at: At<'_>) -> Result<(), OtlpError> {
    if d.b[log.start] != b'{' {
        return Err(bad(at, "a log record is not an object"));
    }
    let [time, observed, sev_n, sev_t, event, trace, span, attrs, body] = pick(
        d,
        log,
        [
            "timeUnixNano",
            "observedTimeUnixNano",
            "severityNumber",
            "severityText",
            "eventName",
            "traceId",
            "spanId",
            "attributes",
            "body",
        ],
        at,
    )?;
    r.time_unix_nano = uint(d, time, at, "timeUnixNano")?;
    r.observed_time_unix_nano = uint(d, observed, at, "observedTimeUnixNano")?;
    r.severity_number = match sev_n {
        Some(s) if d.b[s.start] == b'"' => severity_name(&string(d, &s, at)?.unwrap_or_default()),
        other => uint(d, other, at, "severityNumber")?,
    };
    r.severity_text = name_of(d, sev_t, at)?;
    r.event_name = name_of(d, event, at)?;
    r.trace_id = name_of(d, trace, at)?.map(|s| s.to_ascii_lowercase());
    r.span_id = name_of(d, span, at)?.map(|s| s.to_ascii_lowercase());
    r.attributes = attributes_at(d, attrs, at, 1)?;
    if let Some(body) = body {
        let value = any(d, body.clone(), at.member("body"), 1)?;
        if let Any::Str(_) = value {
            // Where the text lies as sent (escapes and all), for the message.
            let [s] = pick(d, body, ["stringValue"], at)?;
            r.body_range = s.map(|s| s.start + 1..s.end - 1);
        }
        r.body = Some(value);
    }
    Ok(())
}

/// `SEVERITY_NUMBER_WARN` and the like, for senders that write enums by name.
pub(super) fn severity_name(s: &str) -> u64 {
    const NAMES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let n = s.trim_start_matches("SEVERITY_NUMBER_");
    let (base, k) = n.split_at(n.find(|c: char| c.is_ascii_digit()).unwrap_or(n.len()));
    let k: u64 = k.parse().unwrap_or(1);
    NAMES
        .iter()
        .position(|x| *x == base)
        .filter(|_| (1..=4).contains(&k))
        .map_or(0, |i| i as u64 * 4 + k)
}

/// The `KeyValue`s of the list at `v` (`attributes`, or a `kvlistValue`'s `values`).
fn attributes_at(
    d: &Doc<'_>,
    v: Option<Span>,
    at: At<'_>,
    depth: usize,
) -> Result<Vec<(String, Any)>, OtlpError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    if d.b[v.start] != b'[' {
        return Err(bad(at, "`attributes` (or `values`) is not an array"));
    }
    let list = d.items(v).map_err(span_err(at))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, kv) in list.into_iter().enumerate() {
        let at = at.item("attributes", i);
        let [key, value] = pick_in(d, kv, ["key", "value"], at)?;
        let key = match key {
            Some(k) => string(d, &k, at)?.unwrap_or_default().into_owned(),
            None => String::new(),
        };
        let value = match value {
            Some(v) => any(d, v, at, depth)?,
            None => Any::Empty,
        };
        out.push((key, value));
    }
    Ok(out)
}

fn parsed<T: std::str::FromStr>(text: Option<Cow<'_, str>>) -> Option<T> {
    text?.parse().ok()
}

/// An `AnyValue` at nesting level `depth` (1 for an attribute's value).
fn any(d: &Doc<'_>, v: Span, at: At<'_>, depth: usize) -> Result<Any, OtlpError> {
    if depth > MAX_DEPTH {
        return Err(OtlpError::TooDeep { at: at.to_string() });
    }
    if d.b[v.start] != b'{' {
        return Err(bad(at, "an AnyValue is not an object"));
    }
    const KINDS: [&str; 7] = [
        "stringValue",
        "boolValue",
        "intValue",
        "doubleValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
    ];
    let kinds = pick(d, v, KINDS, at)?;
    // The first kind given, in the order above.
    let Some((k, x)) = kinds
        .into_iter()
        .enumerate()
        .find_map(|(k, x)| Some((k, x?)))
    else {
        return Ok(Any::Empty);
    };
    let wrong = || bad(at, format!("`{}` has the wrong type", KINDS[k]));
    Ok(match KINDS[k] {
        "stringValue" => Any::Str(string(d, &x, at)?.ok_or_else(wrong)?.into_owned()),
        "boolValue" => match &d.b[x] {
            b"true" => Any::Bool(true),
            b"false" => Any::Bool(false),
            _ => return Err(wrong()),
        },
        "intValue" => Any::Int(parsed(number_text(d, &x, at)?).ok_or_else(wrong)?),
        "doubleValue" => Any::Double(parsed(number_text(d, &x, at)?).ok_or_else(wrong)?),
        "bytesValue" => Any::Bytes(string(d, &x, at)?.ok_or_else(wrong)?.into_owned()),
        "arrayValue" => {
            let [values] = pick_in(d, x, ["values"], at)?;
            let Some(values) = values else {
                return Ok(Any::Array(Vec::new()));
            };
            if d.b[values.start] != b'[' {
                return Err(wrong());
            }
            let list = d.items(values).map_err(span_err(at))?;
            Any::Array(
                list.into_iter()
                    .map(|i| any(d, i, at, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let [values] = pick_in(d, x, ["values"], at)?;
            Any::KvList(attributes_at(d, values, at, depth + 1)?)
        }
    })
}
