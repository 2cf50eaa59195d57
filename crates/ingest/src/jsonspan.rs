//! Where JSON values start and end in a text, without building them.
//!
//! OTLP/JSON's and Loki's raw bytes per record are slices of what the client
//! sent (a resource, a scope, one log record; a stream's labels, one entry;
//! each exact), so the body is walked as spans, and the values given meaning
//! are read from their spans in place (`otlp/json.rs`, `loki.rs`). The walk
//! is iterative (a nesting of any depth costs a byte of stack per level on
//! the heap, not a stack frame) and checks JSON's grammar (RFC 8259) on the
//! way, so every piece cut out of a valid body is valid JSON.

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
/// A short string (a member name) is looked through byte by byte; past 32
/// bytes the rest is skipped with `memchr` (the walk spends its time in strings).
fn string_end(b: &[u8], i: usize) -> Result<usize, SpanError> {
    let special = |c: &u8| matches!(c, b'"' | b'\\' | 0..=0x1f);
    let mut j = i + 1;
    loop {
        let rest = b.get(j..).unwrap_or_default();
        // Where the first quote, backslash or control character is (else the end).
        let k = match rest.iter().take(32).position(special) {
            Some(k) => k,
            None => {
                let far = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                rest[..far].iter().position(special).unwrap_or(far)
            }
        };
        j += k;
        match b.get(j) {
            None => return Err(err(i, "a string that does not end")),
            Some(b'"') => return Ok(j + 1),
            Some(b'\\') => match b.get(j + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                Some(b'u')
                    if b.get(j + 2..j + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    j += 6
                }
                _ => return Err(err(j, "a bad escape inside a string")),
            },
            Some(_) => return Err(err(j, "a control character inside a string")),
        }
    }
}

/// The end of the digits starting at `i` (at least one).
fn digits(b: &[u8], i: usize) -> Result<usize, SpanError> {
    let n = b[i.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 {
        return Err(err(i, "a digit was expected"));
    }
    Ok(i + n)
}

/// The end of a scalar (number or literal) starting at `i`.
fn scalar_end(b: &[u8], i: usize) -> Result<usize, SpanError> {
    for lit in [&b"true"[..], b"false", b"null"] {
        if b[i..].starts_with(lit) {
            return Ok(i + lit.len());
        }
    }
    // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    let mut j = i + usize::from(b.get(i) == Some(&b'-'));
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => j = digits(b, j)?,
        _ => return Err(err(i, "an unexpected character")),
    }
    if b.get(j) == Some(&b'.') {
        j = digits(b, j + 1)?;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        j = digits(b, j)?;
    }
    Ok(j)
}

/// The span of the value starting at `i` (after whitespace), checked
/// against JSON's grammar.
pub fn value(b: &[u8], i: usize) -> Result<Range<usize>, SpanError> {
    walk(b, i, &mut Vec::new())
}

/// Strings longer than this are noted on a [`Doc`]'s tape: a shorter one
/// (a member name, a number as text) is cheaper to scan again than to look up.
const LONG_STRING: usize = 32;

/// [`value`], noting in `tape` the span of every object, array and long
/// string in it, in the order they start.
fn walk(b: &[u8], i: usize, tape: &mut Vec<(usize, usize)>) -> Result<Range<usize>, SpanError> {
    let start = skip_ws(b, i);
    // Containers still open, innermost last (`true`: an object), with their place on the tape.
    let mut open: Vec<(bool, usize)> = Vec::new();
    let mut j = start;
    'value: loop {
        // A value starts at `j` (after whitespace).
        j = skip_ws(b, j);
        match b.get(j) {
            None => return Err(err(j, "the text ends where a value should be")),
            Some(&c @ (b'[' | b'{')) => {
                let in_object = c == b'{';
                tape.push((j, j));
                open.push((in_object, tape.len() - 1));
                j = skip_ws(b, j + 1);
                match (b.get(j), in_object) {
                    (Some(b']'), false) | (Some(b'}'), true) => {
                        open.pop();
                        j += 1;
                        tape.last_mut().expect("just pushed").1 = j;
                    }
                    (_, false) => continue 'value,
                    (_, true) => {
                        j = key(b, j)?;
                        continue 'value;
                    }
                }
            }
            Some(b'"') => {
                let end = string_end(b, j)?;
                if end - j > LONG_STRING {
                    tape.push((j, end));
                }
                j = end;
            }
            Some(_) => j = scalar_end(b, j)?,
        }
        // After a value: close what ends here, or go on to the next member or item.
        loop {
            let Some(&(in_object, k)) = open.last() else {
                return Ok(start..j);
            };
            j = skip_ws(b, j);
            match (b.get(j), in_object) {
                (Some(b','), false) => {
                    j += 1;
                    continue 'value;
                }
                (Some(b','), true) => {
                    j = key(b, skip_ws(b, j + 1))?;
                    continue 'value;
                }
                (Some(b']'), false) | (Some(b'}'), true) => {
                    open.pop();
                    j += 1;
                    tape[k].1 = j;
                }
                (None, _) => return Err(err(start, "an object or array that does not end")),
                (Some(_), false) => return Err(err(j, "`,` or `]` was expected")),
                (Some(_), true) => return Err(err(j, "`,` or `}` was expected")),
            }
        }
    }
}

/// A text checked once, with the span of each of its objects, arrays and
/// long strings noted: reading a member or an item then skips a nested
/// container or a log line at once instead of walking it again (an OTLP
/// request nests its records four levels deep, and each level was walked by
/// the one above; the strings were scanned once more by each reader).
pub struct Doc<'a> {
    pub b: &'a [u8],
    tape: Vec<(usize, usize)>,
}

impl<'a> Doc<'a> {
    /// The value at `i` checked whole, and its span.
    pub fn new(b: &'a [u8], i: usize) -> Result<(Doc<'a>, Range<usize>), SpanError> {
        let mut tape = Vec::new();
        let span = walk(b, i, &mut tape)?;
        Ok((Doc { b, tape }, span))
    }

    /// A request body checked whole: UTF-8, one JSON value, nothing after
    /// it but whitespace.
    pub fn whole(b: &'a [u8]) -> Result<(Doc<'a>, Range<usize>), SpanError> {
        if let Err(e) = std::str::from_utf8(b) {
            return Err(err(e.valid_up_to(), "a byte that is not UTF-8"));
        }
        let (d, span) = Doc::new(b, 0)?;
        if skip_ws(b, span.end) != b.len() {
            return Err(err(span.end, "text after the value"));
        }
        Ok((d, span))
    }

    /// The span of the value at `i`: a container's or a long string's from the tape.
    fn value(&self, i: usize) -> Result<Range<usize>, SpanError> {
        let s = skip_ws(self.b, i);
        match self.tape.binary_search_by_key(&s, |t| t.0) {
            Ok(k) => Ok(s..self.tape[k].1),
            Err(_) => value(self.b, s),
        }
    }

    /// The item spans of the array at `span`.
    pub fn items(&self, span: Range<usize>) -> Result<Vec<Range<usize>>, SpanError> {
        let b = self.b;
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
            let v = self.value(i)?;
            i = skip_ws(b, v.end);
            out.push(v);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b']') => return Ok(out),
                _ => return Err(err(i, "`,` or `]` was expected")),
            }
        }
    }

    /// The members of the object at `span`, one by one: (key without its
    /// quotes, as written; value span). An error ends them.
    pub fn members(
        &self,
        span: Range<usize>,
    ) -> impl Iterator<Item = Result<Member, SpanError>> + '_ {
        let b = self.b;
        let i = skip_ws(b, span.start);
        // Where the next member starts; `None` once the object has ended.
        let mut next = None;
        let mut first = None;
        if b.get(i) == Some(&b'{') {
            let j = skip_ws(b, i + 1);
            next = Some(j).filter(|&j| b.get(j) != Some(&b'}'));
        } else {
            first = Some(Err(err(i, "an object was expected")));
        }
        first.into_iter().chain(std::iter::from_fn(move || {
            let i = next.take()?;
            Some(self.member_at(i).map(|(m, after)| {
                next = after;
                m
            }))
        }))
    }

    /// The member starting at `i`, and where the next one starts if one follows.
    fn member_at(&self, i: usize) -> Result<(Member, Option<usize>), SpanError> {
        let b = self.b;
        let i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return Err(err(i, "a member name was expected"));
        }
        let key_end = string_end(b, i)?;
        let colon = skip_ws(b, key_end);
        if b.get(colon) != Some(&b':') {
            return Err(err(colon, "`:` was expected"));
        }
        let v = self.value(colon + 1)?;
        let j = skip_ws(b, v.end);
        let after = match b.get(j) {
            Some(b',') => Some(j + 1),
            Some(b'}') => None,
            _ => return Err(err(j, "`,` or `}` was expected")),
        };
        Ok(((i + 1..key_end - 1, v), after))
    }

    /// The values of members `names` of the object at `span`, in one walk of
    /// it: of each, the last if several, and not `null`.
    pub fn pick<const N: usize>(
        &self,
        span: Range<usize>,
        names: [&str; N],
    ) -> Result<[Option<Range<usize>>; N], SpanError> {
        let b = self.b;
        let mut out = [const { None }; N];
        for m in self.members(span) {
            let (k, v) = m?;
            if let Some(n) = names.iter().position(|n| &b[k.clone()] == n.as_bytes()) {
                out[n] = Some(v).filter(|v| &b[v.clone()] != b"null");
            }
        }
        Ok(out)
    }
}

/// A member's name and its `:` at `j`; where its value starts.
fn key(b: &[u8], j: usize) -> Result<usize, SpanError> {
    if b.get(j) != Some(&b'"') {
        return Err(err(j, "a member name was expected"));
    }
    let k = skip_ws(b, string_end(b, j)?);
    if b.get(k) != Some(&b':') {
        return Err(err(k, "`:` was expected"));
    }
    Ok(k + 1)
}

/// A member of an object: its name's span (without the quotes) and its value's.
pub type Member = (Range<usize>, Range<usize>);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain reading of a string's end, byte by byte, that `string_end` must agree with.
    fn string_end_bytewise(b: &[u8], i: usize) -> Result<usize, SpanError> {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'"' => return Ok(j + 1),
                b'\\' => match b.get(j + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                    Some(b'u')
                        if b.get(j + 2..j + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        j += 6
                    }
                    _ => return Err(err(j, "a bad escape inside a string")),
                },
                0..=0x1f => return Err(err(j, "a control character inside a string")),
                _ => j += 1,
            }
        }
        Err(err(i, "a string that does not end"))
    }

    proptest! {
        #[test]
        fn string_ends_agree_with_the_bytewise_reading(
            text in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(b'u'), Just(b'0'), Just(b'\n'), Just(b'a'), any::<u8>()],
                0..120,
            )
        ) {
            let mut b = vec![b'"'];
            b.extend_from_slice(&text);
            prop_assert_eq!(string_end(&b, 0), string_end_bytewise(&b, 0));
        }

        #[test]
        fn a_docs_spans_are_a_fresh_walks(v in json_value()) {
            // Every member and item, containers and long strings from the
            // tape included, spans what a walk from its start finds.
            let t = serde_json::to_string_pretty(&v).unwrap();
            let b = t.as_bytes();
            let (d, whole) = Doc::new(b, 0).unwrap();
            let mut todo = vec![whole];
            while let Some(span) = todo.pop() {
                prop_assert_eq!(&span, &value(b, span.start).unwrap());
                match b[span.start] {
                    b'{' => {
                        for m in d.members(span) {
                            todo.push(m.unwrap().1);
                        }
                    }
                    b'[' => todo.extend(d.items(span).unwrap()),
                    _ => {}
                }
            }
        }

        #[test]
        fn any_serialised_string_is_one_whole_span(s in ".{0,80}") {
            let t = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(value(t.as_bytes(), 0), Ok(0..t.len()));
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as V;
        let leaf = prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            any::<i64>().prop_map(V::from),
            ".{0,70}".prop_map(V::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
                proptest::collection::vec((".{0,40}", inner), 0..6)
                    .prop_map(|kv| V::Object(kv.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn spans_are_exact_and_nesting_costs_no_stack() {
        let t = br#" {"a" : [1, {"b":"x\"]"}], "c":null, "d": -1.5e3 } "#;
        let whole = value(t, 0).unwrap();
        assert_eq!(&t[whole.clone()], &t[1..t.len() - 1]);
        let (d, span) = Doc::new(t, 0).unwrap();
        assert_eq!(span, whole);
        let m: Vec<_> = d.members(whole.clone()).collect::<Result<_, _>>().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(&t[m[0].1.clone()], br#"[1, {"b":"x\"]"}]"#);
        let inner = d.items(m[0].1.clone()).unwrap();
        assert_eq!(inner.len(), 2);
        // A container's span from the tape is the one a fresh walk finds.
        assert_eq!(inner[1], value(t, inner[1].start).unwrap());
        assert_eq!(&t[inner[1].clone()], br#"{"b":"x\"]"}"#);
        let [c, dd] = d.pick(whole, ["c", "d"]).unwrap();
        assert_eq!(c, None);
        assert_eq!(&t[dd.unwrap()], b"-1.5e3");
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(value(deep.as_bytes(), 0).unwrap(), 0..400_000);
        let (d, span) = Doc::new(deep.as_bytes(), 0).unwrap();
        assert_eq!(span, 0..400_000);
        assert_eq!(d.items(1..399_999).unwrap(), vec![2..399_998]);
    }

    #[test]
    fn a_whole_body_is_utf8_and_one_value() {
        assert!(Doc::whole(b" {\"a\":1} \n").is_ok());
        let e = Doc::whole(b"{\"a\":\"\xff\"}").err().unwrap();
        assert_eq!((e.at, e.what), (6, "a byte that is not UTF-8"));
        let e = Doc::whole(b"{} {}").err().unwrap();
        assert_eq!((e.at, e.what), (2, "text after the value"));
    }

    #[test]
    fn broken_texts_are_named_with_their_offset() {
        assert_eq!(
            value(b"[1, {]", 0).unwrap_err().what,
            "a member name was expected"
        );
        assert_eq!(
            value(b"[1, 2}", 0).unwrap_err().what,
            "`,` or `]` was expected"
        );
        assert_eq!(value(b"  [1, 2", 0).unwrap_err().at, 2);
        let bad: [&[u8]; 12] = [
            br#"[1,]"#,
            br#"{"a" 1}"#,
            b"[01]",
            b"[1.]",
            b"[-]",
            b"[1e]",
            br#""\x""#,
            br#""\u12""#,
            b"{,}",
            b"[,1]",
            b"tru",
            b"\"abc",
        ];
        for t in bad {
            assert!(value(t, 0).is_err(), "{}", String::from_utf8_lossy(t));
        }
        let good: [&[u8]; 4] = [
            b"[]",
            b"{}",
            br#"[-0.5e+10, 1E2, true, null, "\u00e9\n", 0]"#,
            br#"{"a":{"b":[{}]}}"#,
        ];
        for t in good {
            assert_eq!(
                value(t, 0).unwrap(),
                0..t.len(),
                "{}",
                String::from_utf8_lossy(t)
            );
        }
        assert!(Doc::new(b"{\"a\" 1}", 0).is_err());
        assert!(Doc::new(b"[1 2]", 0).is_err());
        assert!(value(b"", 0).is_err());
        assert!(value(b"@", 0).is_err());
    }
}
