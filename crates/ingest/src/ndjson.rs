//! Splitting an HTTP NDJSON body (already decompressed) into the lines to store.
//!
//! Each non-empty line is stored as it is: a JSON object text or a plain log
//! line (the vault keeps bytes; [`crate::parse`] reads the JSON later). Rules:
//!
//! * Lines end at LF. One CR before the LF is **stripped**: HTTP clients on
//!   Windows send CR LF, and the CR is transport, not content (unlike a syslog
//!   stream, where the framing keeps it). A last line without LF counts.
//! * A UTF-8 byte-order mark at the very start of the body is the body's
//!   encoding marker, not part of the first line, and is skipped.
//! * Lines that are empty or only blanks (SP, TAB, CR) are skipped and counted
//!   ([`NdjsonLines::empty_lines`]).
//! * A line longer than `max_line` bytes is refused with its line number.
//! * Anything else (invalid UTF-8, invalid JSON, NUL) is kept.

use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A line that is not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line_no}: {reason}")]
pub struct LineRefusal {
    /// 1-based line number in the body (empty lines count).
    pub line_no: usize,
    pub reason: LineRefusalReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineRefusalReason {
    TooLong { len: usize, max: usize },
}

impl fmt::Display for LineRefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineRefusalReason::TooLong { len, max } => {
                write!(f, "{len} bytes is longer than the {max}-byte line limit")
            }
        }
    }
}

/// Iterator over the lines of a body; see the module documentation.
#[derive(Clone, Debug)]
pub struct NdjsonLines<'a> {
    body: &'a [u8],
    pos: usize,
    line_no: usize,
    max_line: usize,
    empty: usize,
}

/// Lines of `body`, each at most `max_line` bytes.
pub fn lines(body: &[u8], max_line: usize) -> NdjsonLines<'_> {
    let pos = if body.starts_with(BOM) { BOM.len() } else { 0 };
    NdjsonLines {
        body,
        pos,
        line_no: 0,
        max_line,
        empty: 0,
    }
}

impl NdjsonLines<'_> {
    /// Blank lines skipped so far.
    pub fn empty_lines(&self) -> usize {
        self.empty
    }

    /// Lines seen so far, stored, refused or blank.
    pub fn lines_seen(&self) -> usize {
        self.line_no
    }
}

impl<'a> Iterator for NdjsonLines<'a> {
    type Item = Result<&'a [u8], LineRefusal>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pos >= self.body.len() {
                return None;
            }
            let rest = &self.body[self.pos..];
            let (mut line, advance) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            self.pos += advance;
            self.line_no += 1;
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                self.empty += 1;
                continue;
            }
            if line.len() > self.max_line {
                return Some(Err(LineRefusal {
                    line_no: self.line_no,
                    reason: LineRefusalReason::TooLong {
                        len: line.len(),
                        max: self.max_line,
                    },
                }));
            }
            return Some(Ok(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &[u8], max: usize) -> (Vec<Result<&[u8], LineRefusal>>, usize) {
        let mut it = lines(body, max);
        let v: Vec<_> = it.by_ref().collect();
        (v, it.empty_lines())
    }

    #[test]
    fn splits_and_strips_one_cr() {
        let (v, empty) = collect(b"{\"a\":1}\r\nplain line\n{\"b\":2}", 100);
        assert_eq!(
            v,
            vec![
                Ok(&b"{\"a\":1}"[..]),
                Ok(&b"plain line"[..]),
                Ok(&b"{\"b\":2}"[..])
            ]
        );
        assert_eq!(empty, 0);
        let (v, _) = collect(b"x\r\r\n", 100);
        assert_eq!(v, vec![Ok(&b"x\r"[..])]);
    }

    #[test]
    fn blank_lines_are_skipped_and_counted() {
        let (v, empty) = collect(b"\n\r\n  \t\na\n\n", 100);
        assert_eq!(v, vec![Ok(&b"a"[..])]);
        assert_eq!(empty, 4);
    }

    #[test]
    fn long_lines_are_refused_with_line_number() {
        let (v, _) = collect(b"ok\n\n0123456789\nok2", 5);
        assert_eq!(
            v,
            vec![
                Ok(&b"ok"[..]),
                Err(LineRefusal {
                    line_no: 3,
                    reason: LineRefusalReason::TooLong { len: 10, max: 5 }
                }),
                Ok(&b"ok2"[..]),
            ]
        );
        assert_eq!(
            v[1].clone().unwrap_err().to_string(),
            "line 3: 10 bytes is longer than the 5-byte line limit"
        );
    }

    #[test]
    fn leading_bom_is_skipped_and_bytes_are_kept() {
        let (v, _) = collect(b"\xEF\xBB\xBF{}\n\xff\x00\n", 100);
        assert_eq!(v, vec![Ok(&b"{}"[..]), Ok(&b"\xff\x00"[..])]);
    }

    #[test]
    fn empty_body() {
        assert_eq!(collect(b"", 10).0, vec![]);
    }
}
