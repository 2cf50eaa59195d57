//! OTLP logs in OTLP's JSON mapping: lowerCamelCase names, trace and span
//! ids in hex, 64-bit integers as strings (numbers accepted too), enums as
//! numbers, bytes in base64.

use super::jsonspan::{self, Doc, SpanError};
use super::{Any, LogRecord, OtlpError, MAX_DEPTH};
use serde_json::Value;
use std::ops::Range;

fn span_err(at: &str) -> impl Fn(SpanError) -> OtlpError + '_ {
    move |source| OtlpError::Span {
        at: at.to_owned(),
        source,
    }
}

fn items(d: &Doc<'_>, v: Option<Range<usize>>, at: &str) -> Result<Vec<Range<usize>>, OtlpError> {
    v.map_or(Ok(Vec::new()), |v| d.items(v).map_err(span_err(at)))
}

fn member(
    d: &Doc<'_>,
    span: Range<usize>,
    name: &str,
    at: &str,
) -> Result<Option<Range<usize>>, OtlpError> {
    d.member(span, name).map_err(span_err(at))
}

fn pick<const N: usize>(
    d: &Doc<'_>,
    span: Range<usize>,
    names: [&str; N],
    at: &str,
) -> Result<[Option<Range<usize>>; N], OtlpError> {
    d.pick(span, names).map_err(span_err(at))
}

/// One raw record per log record of the request `body`.
pub(super) fn split(b: &[u8]) -> Result<Vec<Vec<u8>>, OtlpError> {
    if let Err(e) = std::str::from_utf8(b) {
        return Err(OtlpError::Span {
            at: "the body".into(),
            source: SpanError {
                at: e.valid_up_to(),
                what: "a byte that is not UTF-8",
            },
        });
    }
    let (d, top) = Doc::new(b, 0).map_err(span_err("the body"))?;
    if jsonspan::skip_ws(b, top.end) != b.len() {
        return Err(OtlpError::Span {
            at: "the body".into(),
            source: SpanError {
                at: top.end,
                what: "text after the request object",
            },
        });
    }
    let mut out = Vec::new();
    let rls = member(&d, top, "resourceLogs", "the body")?;
    for (ri, rl) in items(&d, rls, "resourceLogs")?.into_iter().enumerate() {
        let at = format!("resourceLogs[{ri}]");
        let [resource, schema, sls] = pick(&d, rl, ["resource", "schemaUrl", "scopeLogs"], &at)?;
        for (si, sl) in items(&d, sls, &at)?.into_iter().enumerate() {
            let at = format!("{at}.scopeLogs[{si}]");
            let [scope, sl_schema, logs] = pick(&d, sl, ["scope", "schemaUrl", "logRecords"], &at)?;
            for (li, log) in items(&d, logs, &at)?.into_iter().enumerate() {
                // Each record is checked as `record` will read it; the
                // resource and scope once, with the first.
                let at = format!("{at}.logRecords[{li}]");
                let mut r = LogRecord::default();
                if li == 0 {
                    read_resource(b, resource.clone(), &mut r, &at)?;
                    read_scope(b, scope.clone(), &mut r, &at)?;
                }
                log_record(&d, log.clone(), &mut r, &at)?;
                let piece = |r: &Option<Range<usize>>| r.clone().map(|r| &b[r]);
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
    let mut o = Vec::with_capacity(log.len() + 128);
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

/// serde_json's reading of a piece; its recursion limit (128 brackets) is
/// the depth limit of JSON values.
fn parse(b: &[u8], at: &str) -> Result<Value, OtlpError> {
    serde_json::from_slice(b).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            OtlpError::TooDeep { at: at.to_owned() }
        } else {
            OtlpError::Json {
                at: at.to_owned(),
                msg: e.to_string(),
            }
        }
    })
}

fn bad(at: &str, msg: impl Into<String>) -> OtlpError {
    OtlpError::Json {
        at: at.to_owned(),
        msg: msg.into(),
    }
}

/// Reads a stored record (one resource, one scope, one log record).
pub(super) fn record(raw: &[u8], at: &str) -> Result<LogRecord, OtlpError> {
    let (d, top) = Doc::new(raw, 0).map_err(span_err(at))?;
    let mut r = LogRecord::default();
    let [res, sls] = pick(&d, top, ["resource", "scopeLogs"], at)?;
    read_resource(raw, res, &mut r, at)?;
    let Some(sl) = items(&d, sls, at)?.into_iter().next() else {
        return Ok(r);
    };
    let [scope, logs] = pick(&d, sl, ["scope", "logRecords"], at)?;
    read_scope(raw, scope, &mut r, at)?;
    if let Some(log) = items(&d, logs, at)?.into_iter().next() {
        log_record(&d, log, &mut r, at)?;
    }
    Ok(r)
}

fn read_resource(
    b: &[u8],
    res: Option<Range<usize>>,
    r: &mut LogRecord,
    at: &str,
) -> Result<(), OtlpError> {
    if let Some(res) = res {
        r.resource = super::memo_resource(b'j', &b[res.clone()], || {
            let at = format!("{at}.resource");
            attributes(parse(&b[res], &at)?.get("attributes"), &at)
        })?;
    }
    Ok(())
}

fn read_scope(
    b: &[u8],
    scope: Option<Range<usize>>,
    r: &mut LogRecord,
    at: &str,
) -> Result<(), OtlpError> {
    if let Some(scope) = scope {
        let v = parse(&b[scope], &format!("{at}.scope"))?;
        r.scope_name = str_of(v.get("name"));
        r.scope_version = str_of(v.get("version"));
    }
    Ok(())
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A 64-bit integer written as a string or a number.
fn int(v: Option<&Value>, at: &str, name: &str) -> Result<u64, OtlpError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(at, format!("`{name}` is not a non-negative integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| bad(at, format!("`{name}` is not a non-negative integer"))),
        Some(_) => Err(bad(at, format!("`{name}` is not an integer"))),
    }
}

fn log_record(
    d: &Doc<'_>,
    log: Range<usize>,
    r: &mut LogRecord,
    at: &str,
) -> Result<(), OtlpError> {
    let v = parse(&d.b[log.clone()], at)?;
    if !v.is_object() {
        return Err(bad(at, "a log record is not an object"));
    }
    r.time_unix_nano = int(v.get("timeUnixNano"), at, "timeUnixNano")?;
    r.observed_time_unix_nano = int(v.get("observedTimeUnixNano"), at, "observedTimeUnixNano")?;
    r.severity_number = match v.get("severityNumber") {
        Some(Value::String(s)) => severity_name(s),
        other => int(other, at, "severityNumber")?,
    };
    r.severity_text = str_of(v.get("severityText"));
    r.event_name = str_of(v.get("eventName"));
    r.trace_id = str_of(v.get("traceId")).map(|s| s.to_ascii_lowercase());
    r.span_id = str_of(v.get("spanId")).map(|s| s.to_ascii_lowercase());
    r.attributes = attributes(v.get("attributes"), at)?;
    if let Some(b) = v.get("body").filter(|b| !b.is_null()) {
        let body = any(b, &format!("{at}.body"), 1)?;
        if let Any::Str(_) = body {
            r.body_range = body_range(d, log)?;
        }
        r.body = Some(body);
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

/// Where the text of `body.stringValue` lies in `raw` (between its quotes, as sent).
fn body_range(d: &Doc<'_>, log: Range<usize>) -> Result<Option<Range<usize>>, OtlpError> {
    let at = "logRecord.body";
    let Some(body) = member(d, log, "body", at)? else {
        return Ok(None);
    };
    Ok(member(d, body, "stringValue", at)?
        .filter(|s| d.b[s.start] == b'"')
        .map(|s| s.start + 1..s.end - 1))
}

fn attributes(v: Option<&Value>, at: &str) -> Result<Vec<(String, Any)>, OtlpError> {
    attributes_at(v, at, 1)
}

fn attributes_at(
    v: Option<&Value>,
    at: &str,
    depth: usize,
) -> Result<Vec<(String, Any)>, OtlpError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad(at, "`attributes` (or `values`) is not an array")),
    };
    list.iter()
        .enumerate()
        .map(|(i, kv)| {
            let at = format!("{at}.attributes[{i}]");
            let key = kv
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let value = match kv.get("value") {
                Some(v) if !v.is_null() => any(v, &at, depth)?,
                _ => Any::Empty,
            };
            Ok((key, value))
        })
        .collect()
}

/// An `AnyValue` at nesting level `depth`.
fn any(v: &Value, at: &str, depth: usize) -> Result<Any, OtlpError> {
    if depth > MAX_DEPTH {
        return Err(OtlpError::TooDeep { at: at.to_owned() });
    }
    let Some(o) = v.as_object() else {
        return Err(bad(at, "an AnyValue is not an object"));
    };
    const KINDS: [&str; 7] = [
        "stringValue",
        "boolValue",
        "intValue",
        "doubleValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
    ];
    let Some((k, x)) = KINDS
        .iter()
        .find_map(|k| o.get(*k).filter(|x| !x.is_null()).map(|x| (*k, x)))
    else {
        return Ok(Any::Empty);
    };
    let wrong = || bad(at, format!("`{k}` has the wrong type"));
    Ok(match k {
        "stringValue" => Any::Str(x.as_str().ok_or_else(wrong)?.to_owned()),
        "boolValue" => Any::Bool(x.as_bool().ok_or_else(wrong)?),
        "intValue" => Any::Int(match x {
            Value::String(s) => s.parse().map_err(|_| wrong())?,
            _ => x.as_i64().ok_or_else(wrong)?,
        }),
        "doubleValue" => Any::Double(match x {
            Value::String(s) => s.parse().map_err(|_| wrong())?,
            _ => x.as_f64().ok_or_else(wrong)?,
        }),
        "bytesValue" => Any::Bytes(x.as_str().ok_or_else(wrong)?.to_owned()),
        "arrayValue" => Any::Array(match x.get("values") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|i| any(i, at, depth + 1))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(wrong()),
        }),
        "kvlistValue" => Any::KvList(attributes_at(x.get("values"), at, depth + 1)?),
        _ => Any::Empty,
    })
}
