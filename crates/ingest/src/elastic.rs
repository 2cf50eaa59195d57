//! Elasticsearch's `_bulk` API (`POST /_bulk`, `POST /{index}/_bulk`): an
//! NDJSON body of action lines, each but `delete` followed by its document.
//!
//! Each `index` or `create` item becomes one record whose raw bytes are a
//! `_bulk` request holding just that item:
//!
//! ```text
//! /{index}/_bulk            (only when the URL named an index)
//! {"index":{"_id":"7"}}     (the action line, byte-exact)
//! {"message":"..."}         (the document line, byte-exact)
//! ```
//!
//! lines joined by `\n` (a line's own CR LF ending is not kept). The first
//! line is the request's path, so an index named only in the URL is kept in
//! the record (the proof covers it) and the record can be sent again as it is
//! (`curl --data-binary` to `http://host:port` + the first line, with the
//! rest as the body). `delete` and `update` are answered with a per-item
//! error (pramaan never changes or removes a record), as is an action line
//! with no document, a document that is not a JSON object, an item with no
//! index, and an item over `syslog.max_line`: the others in the body are
//! stored. A malformed action line refuses the whole body, as Elasticsearch
//! does, since no line after it can be told action from document.
//!
//! [`fields`]: the index, action and id go to `sd` (`[es index="logs"
//! action="create" id="7"]`); the document is read as any JSON line is
//! ([`crate::syslog`]: `message`, `@timestamp`, `host.name`, `log.level`,
//! addresses).

use crate::last::Last;
use crate::ParseContext;
use pramaan_core::{Format, ParsedFields};
use serde_json::{Map, Value};

/// Why a whole `_bulk` body was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    #[error("Malformed action/metadata line [{line}]: {what}")]
    Action { line: usize, what: String },
    #[error("Invalid index name [{0}]: it must not contain `/`, `\\`, spaces, quotes or control characters")]
    IndexName(String),
}

impl BulkError {
    /// Elasticsearch's error type for it.
    pub fn kind(&self) -> &'static str {
        match self {
            BulkError::Action { .. } => "illegal_argument_exception",
            BulkError::IndexName(_) => "invalid_index_name_exception",
        }
    }
}

/// One item of a `_bulk` body, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The action as sent (`index`, `create`, `delete`, `update`).
    pub action: String,
    pub index: Option<String>,
    pub id: Option<String>,
    pub outcome: Outcome,
}

/// What becomes of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored as this record.
    Store(Vec<u8>),
    /// Answered with an error and not stored.
    Refuse(Refusal),
}

/// A per-item error, as the `_bulk` answer says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Elasticsearch's error type.
    pub kind: &'static str,
    pub reason: String,
    /// The refusal's reason in pramaan's metrics (`pramaan_lines_refused_total`).
    pub counted_as: &'static str,
}

fn refuse(status: u16, kind: &'static str, counted_as: &'static str, reason: String) -> Outcome {
    Outcome::Refuse(Refusal {
        status,
        kind,
        reason,
        counted_as,
    })
}

/// Whether `name` may be kept on the record's path line.
fn valid_index(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | ' ' | '"' | '\n'))
}

/// The lines of a body: split at LF, one CR before it dropped, with their
/// 1-based numbers; blank lines between items are skipped by the caller.
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

fn blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// An action line read: its action, and `_index` and `_id` if it names them.
type Action = (String, Option<String>, Option<String>);

/// An action line: its action, and `_index` and `_id` if it names them.
fn action(line: &[u8]) -> Result<Action, String> {
    let map: Map<String, Value> =
        serde_json::from_slice(line).map_err(|e| format!("expected a JSON object ({e})"))?;
    let mut it = map.into_iter();
    let (Some((name, meta)), None) = (it.next(), it.next()) else {
        return Err("expected an object with exactly one action".into());
    };
    let Value::Object(meta) = meta else {
        return Err(format!("the `{name}` action's metadata is not an object"));
    };
    let text = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok((name, text("_index"), text("_id")))
}

/// Whether `doc` is one JSON object (checked without building it).
fn json_object(doc: &[u8]) -> Result<(), String> {
    let raw: &serde_json::value::RawValue =
        serde_json::from_slice(doc).map_err(|e| e.to_string())?;
    match raw.get().trim_start().starts_with('{') {
        true => Ok(()),
        false => Err("it is not an object".into()),
    }
}

/// Splits a `_bulk` body into its items. `url_index` is the `{index}` of
/// `/{index}/_bulk`; `max_line` the longest record kept.
pub fn split(
    body: &[u8],
    url_index: Option<&str>,
    max_line: usize,
) -> Result<Vec<Item>, BulkError> {
    if let Some(i) = url_index.filter(|i| !valid_index(i)) {
        return Err(BulkError::IndexName(i.to_owned()));
    }
    let mut out = Vec::new();
    let mut actions = Last::new();
    let mut it = lines(body).peekable();
    while let Some((n, line)) = it.next() {
        if blank(line) {
            continue;
        }
        let (name, own_index, id) = actions
            .get(b'a', line, || action(line))
            .map_err(|what| BulkError::Action { line: n, what })?;
        let index = own_index.or_else(|| url_index.map(str::to_owned));
        let outcome = match name.as_str() {
            "delete" => refuse(
                400,
                "illegal_argument_exception",
                "unsupported_action",
                "pramaan keeps every record as it came: `delete` is not supported".into(),
            ),
            "index" | "create" | "update" => {
                // The document line, unless the body ends (or a blank line
                // comes) right after the action.
                let doc = it.next_if(|(_, l)| !blank(l));
                match doc {
                    None => refuse(
                        400,
                        "action_request_validation_exception",
                        "no_document",
                        format!("line {n}: the `{name}` action has no document line after it"),
                    ),
                    Some(_) if name == "update" => refuse(
                        400,
                        "illegal_argument_exception",
                        "unsupported_action",
                        "pramaan keeps every record as it came: `update` is not supported".into(),
                    ),
                    Some((dn, doc)) => item(url_index, line, (dn, doc), index.as_deref(), max_line),
                }
            }
            other => {
                return Err(BulkError::Action {
                    line: n,
                    what: format!(
                        "unknown action [{other}]: expected index, create, delete or update"
                    ),
                })
            }
        };
        out.push(Item {
            action: name,
            index,
            id,
            outcome,
        });
    }
    Ok(out)
}

/// The record of an `index` or `create` item, or why it is refused.
fn item(
    url_index: Option<&str>,
    action: &[u8],
    (n, doc): (usize, &[u8]),
    index: Option<&str>,
    max_line: usize,
) -> Outcome {
    if index.is_none() {
        return refuse(
            400,
            "action_request_validation_exception",
            "no_index",
            "index is missing: name it in the action (`_index`) or the URL (`/{index}/_bulk`)"
                .into(),
        );
    }
    if let Err(e) = json_object(doc) {
        return refuse(
            400,
            "document_parsing_exception",
            "not_json",
            format!("line {n}: the document is not a JSON object: {e}"),
        );
    }
    let mut raw = Vec::new();
    if let Some(i) = url_index {
        raw.extend_from_slice(format!("/{i}/_bulk\n").as_bytes());
    }
    raw.extend_from_slice(action);
    raw.push(b'\n');
    raw.extend_from_slice(doc);
    if raw.len() > max_line {
        return refuse(
            413,
            "illegal_argument_exception",
            "too_long",
            format!(
                "line {n}: the item is {} bytes, more than syslog.max_line ({max_line} bytes); it was not stored",
                raw.len()
            ),
        );
    }
    Outcome::Store(raw)
}

thread_local! {
    /// The action line read last (see [`crate::last`]).
    static LAST_ACTION: std::cell::RefCell<Last<Action>> = const { std::cell::RefCell::new(Last::new()) };
}

/// The fields of a stored `_bulk` item (see the module).
pub fn fields(raw: &[u8], ctx: &ParseContext) -> ParsedFields {
    let mut at = 0;
    let mut next_line = || {
        let rest = &raw[at.min(raw.len())..];
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let start = at;
        at += len + 1;
        (start, &rest[..len])
    };
    let mut first = next_line();
    let mut url_index = None;
    if first.1.starts_with(b"/") {
        url_index = std::str::from_utf8(first.1)
            .ok()
            .and_then(|p| p.strip_prefix('/')?.strip_suffix("/_bulk"));
        first = next_line();
    }
    let (doc_at, doc) = next_line();
    let bad = |e: String| ParsedFields {
        format: Format::ElasticBulk,
        message: 0..raw.len(),
        parse_error: Some(format!("_bulk item: {e}")),
        ..Default::default()
    };
    let read = LAST_ACTION.with_borrow_mut(|a| a.get(b'a', first.1, || action(first.1)));
    let (name, index, id) = match read {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    if doc_at > raw.len() {
        return bad("no document line".into());
    }
    let mut f = crate::parse(doc, ctx);
    f.message = f.message.start + doc_at..f.message.end + doc_at;
    f.format = Format::ElasticBulk;
    let index = index.as_deref().or(url_index).unwrap_or_default();
    let mut pairs = vec![("index", index), ("action", name.as_str())];
    if let Some(id) = &id {
        pairs.push(("id", id));
    }
    f.structured_data = Some(crate::sd::element("es", pairs));
    f
}

#[cfg(test)]
mod tests;
