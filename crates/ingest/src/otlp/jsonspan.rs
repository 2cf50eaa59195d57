//! Where JSON values start and end in a text, without building them.
//!
//! OTLP/JSON's raw bytes per record are slices of what the client sent (a
//! resource, a scope, one log record, each exact), so the body is walked as
//! spans; serde_json then reads the small pieces it needs. The walk is
//! iterative (a nesting of any depth costs a byte of stack per level on the
//! heap, not a stack frame) and checks the grammar of what it passes over
//! (strings, numbers, literals, brackets); what a value means is left to
//! serde_json.

use std::ops::Range;

/// Why a text is not JSON; `at` is the byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("JSON: {what} at byte {at}")]
pub struct SpanError {
    pub at: usize,
    pub what: &'static str,
}

fn err(at: usize, what: &'static str) -> SpanError {
    SpanError { at, what }
}

/// The first byte at or after `i` that is not JSON whitespace.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `i` (one past the closing quote).
fn string_end(b: &[u8], i: usize) -> Result<usize, SpanError> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'"' => return Ok(j + 1),
            b'\\' => j += 2,
            0..=0x1f => return Err(err(j, "a control character inside a string")),
            _ => j += 1,
        }
    }
    Err(err(i, "a string that does not end"))
}

/// The end of a scalar (number or literal) starting at `i`.
fn scalar_end(b: &[u8], i: usize) -> Result<usize, SpanError> {
    for lit in [&b"true"[..], b"false", b"null"] {
        if b[i..].starts_with(lit) {
            return Ok(i + lit.len());
        }
    }
    let mut j = i;
    while j < b.len() && matches!(b[j], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
        j += 1;
    }
    if j == i {
        return Err(err(i, "an unexpected character"));
    }
    Ok(j)
}

/// The span of the value starting at `i` (after whitespace).
pub fn value(b: &[u8], i: usize) -> Result<Range<usize>, SpanError> {
    let start = skip_ws(b, i);
    let Some(&first) = b.get(start) else {
        return Err(err(start, "the text ends where a value should be"));
    };
    if !matches!(first, b'{' | b'[') {
        let end = if first == b'"' {
            string_end(b, start)?
        } else {
            scalar_end(b, start)?
        };
        return Ok(start..end);
    }
    // Brackets still open, innermost last.
    let mut open: Vec<u8> = vec![first];
    let mut j = start + 1;
    while let Some(&top) = open.last() {
        j = skip_ws(b, j);
        let Some(&c) = b.get(j) else {
            return Err(err(start, "an object or array that does not end"));
        };
        match c {
            b'{' | b'[' => {
                open.push(c);
                j += 1;
            }
            b'}' | b']' => {
                if (top == b'{') != (c == b'}') {
                    return Err(err(j, "a closing bracket that does not match"));
                }
                open.pop();
                j += 1;
            }
            b',' | b':' => j += 1,
            b'"' => j = string_end(b, j)?,
            _ => j = scalar_end(b, j)?,
        }
    }
    Ok(start..j)
}

/// The members of the object at `span`: (key without its quotes, value span).
/// A key with escapes is kept as written.
pub fn members(
    b: &[u8],
    span: Range<usize>,
) -> Result<Vec<(Range<usize>, Range<usize>)>, SpanError> {
    let mut out = Vec::new();
    let mut i = skip_ws(b, span.start);
    if b.get(i) != Some(&b'{') {
        return Err(err(i, "an object was expected"));
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(out);
    }
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return Err(err(i, "a member name was expected"));
        }
        let key_end = string_end(b, i)?;
        let key = i + 1..key_end - 1;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(err(i, "`:` was expected"));
        }
        let v = value(b, i + 1)?;
        i = skip_ws(b, v.end);
        out.push((key, v));
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(out),
            _ => return Err(err(i, "`,` or `}` was expected")),
        }
    }
}

/// The item spans of the array at `span`.
pub fn items(b: &[u8], span: Range<usize>) -> Result<Vec<Range<usize>>, SpanError> {
    let mut out = Vec::new();
    let mut i = skip_ws(b, span.start);
    if b.get(i) != Some(&b'[') {
        return Err(err(i, "an array was expected"));
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Ok(out);
    }
    loop {
        let v = value(b, i)?;
        i = skip_ws(b, v.end);
        out.push(v);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Ok(out),
            _ => return Err(err(i, "`,` or `]` was expected")),
        }
    }
}

/// The value of member `name` of the object at `span`, if it has one (the
/// last, if several) and it is not `null`.
pub fn member(b: &[u8], span: Range<usize>, name: &str) -> Result<Option<Range<usize>>, SpanError> {
    Ok(members(b, span)?
        .into_iter()
        .rev()
        .find(|(k, _)| &b[k.clone()] == name.as_bytes())
        .map(|(_, v)| v)
        .filter(|v| &b[v.clone()] != b"null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_exact_and_nesting_costs_no_stack() {
        let t = br#" {"a" : [1, {"b":"x\"]"}], "c":null, "d": -1.5e3 } "#;
        let whole = value(t, 0).unwrap();
        assert_eq!(&t[whole.clone()], &t[1..t.len() - 1]);
        let m = members(t, whole.clone()).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(&t[m[0].1.clone()], br#"[1, {"b":"x\"]"}]"#);
        assert_eq!(items(t, m[0].1.clone()).unwrap().len(), 2);
        assert_eq!(member(t, whole.clone(), "c").unwrap(), None);
        assert_eq!(&t[member(t, whole, "d").unwrap().unwrap()], b"-1.5e3");
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(value(deep.as_bytes(), 0).unwrap(), 0..400_000);
    }

    #[test]
    fn broken_texts_are_named_with_their_offset() {
        assert_eq!(
            value(b"[1, {]", 0).unwrap_err().what,
            "a closing bracket that does not match"
        );
        assert_eq!(value(b"  [1, 2", 0).unwrap_err().at, 2);
        assert!(value(b"\"abc", 0).is_err());
        assert!(members(b"{\"a\" 1}", 0..7).is_err());
        assert!(items(b"[1 2]", 0..5).is_err());
        assert!(value(b"", 0).is_err());
        assert!(value(b"@", 0).is_err());
    }
}
