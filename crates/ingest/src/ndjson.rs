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

/// The same rules as [`lines`] over a body that arrives in pieces (a
/// decompressor's output). Lines are handed out as they end, as slices of the
/// piece they lie in (a line across pieces is copied once); a line found to be
/// longer than `max_line` is counted, not kept. Memory thus holds the lines
/// kept and at most one line's worth more, never a whole over-long line.
#[derive(Debug)]
pub struct NdjsonSplitter {
    max_line: usize,
    /// Lines ended so far (stored, refused or blank).
    line_no: usize,
    empty: usize,
    /// The start of the current line, when it began in an earlier piece.
    partial: Vec<u8>,
    /// The current line is too long to keep: what is known of it.
    over: Option<Over>,
}

#[derive(Clone, Copy, Debug)]
struct Over {
    /// Bytes so far, the BOM and the CR included.
    len: usize,
    /// Only blanks so far (after a BOM).
    blank: bool,
    bom: bool,
    last: u8,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

impl NdjsonSplitter {
    pub fn new(max_line: usize) -> Self {
        NdjsonSplitter {
            max_line,
            line_no: 0,
            empty: 0,
            partial: Vec::new(),
            over: None,
        }
    }

    /// Blank lines skipped so far.
    pub fn empty_lines(&self) -> usize {
        self.empty
    }

    /// More than any line kept can be: `max_line`, a BOM and a CR.
    fn keep_max(&self) -> usize {
        self.max_line.saturating_add(BOM.len() + 1)
    }

    /// The next piece of the body; `out` gets each line that ends in it.
    pub fn push(
        &mut self,
        piece: bytes::Bytes,
        out: &mut impl FnMut(Result<bytes::Bytes, LineRefusal>),
    ) {
        let mut pos = 0;
        while pos < piece.len() {
            match memchr::memchr(b'\n', &piece[pos..]) {
                Some(i) => {
                    let seg = piece.slice(pos..pos + i);
                    pos += i + 1;
                    if self.over.is_none() && self.partial.is_empty() {
                        self.line(seg, out);
                    } else {
                        self.extend(&seg);
                        self.end_held(out);
                    }
                }
                None => {
                    self.extend(&piece[pos..]);
                    break;
                }
            }
        }
    }

    /// The end of the body: a last line without LF counts.
    pub fn finish(&mut self, out: &mut impl FnMut(Result<bytes::Bytes, LineRefusal>)) {
        if self.over.is_some() || !self.partial.is_empty() {
            if self.line_no == 0 && self.partial == BOM {
                // Only the encoding marker: no line at all, as [`lines`] sees it.
                self.partial.clear();
                return;
            }
            self.end_held(out);
        }
    }

    /// Adds bytes to the line being held, switching to counting only once
    /// it cannot be kept.
    fn extend(&mut self, b: &[u8]) {
        if let Some(o) = &mut self.over {
            o.len += b.len();
            o.blank = o.blank && b.iter().all(|&c| is_blank(c));
            if let Some(&l) = b.last() {
                o.last = l;
            }
            return;
        }
        self.partial.extend_from_slice(b);
        if self.partial.len() > self.keep_max() {
            let bom = self.line_no == 0 && self.partial.starts_with(BOM);
            let content = if bom {
                &self.partial[BOM.len()..]
            } else {
                &self.partial[..]
            };
            self.over = Some(Over {
                len: self.partial.len(),
                blank: content.iter().all(|&c| is_blank(c)),
                bom,
                last: self.partial.last().copied().unwrap_or(0),
            });
            self.partial = Vec::new();
        }
    }

    /// Ends the line being held (in `partial` or counted in `over`).
    fn end_held(&mut self, out: &mut impl FnMut(Result<bytes::Bytes, LineRefusal>)) {
        match self.over.take() {
            None => {
                let line = bytes::Bytes::from(std::mem::take(&mut self.partial));
                self.line(line, out);
            }
            Some(o) => {
                self.line_no += 1;
                if o.blank {
                    self.empty += 1;
                    return;
                }
                let len = o.len - if o.bom { BOM.len() } else { 0 } - usize::from(o.last == b'\r');
                out(Err(LineRefusal {
                    line_no: self.line_no,
                    reason: LineRefusalReason::TooLong {
                        len,
                        max: self.max_line,
                    },
                }));
            }
        }
    }

    /// One whole line (without its LF), by the module's rules.
    fn line(
        &mut self,
        mut line: bytes::Bytes,
        out: &mut impl FnMut(Result<bytes::Bytes, LineRefusal>),
    ) {
        self.line_no += 1;
        if self.line_no == 1 && line.starts_with(BOM) {
            line = line.slice(BOM.len()..);
        }
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.iter().all(|&c| is_blank(c)) {
            self.empty += 1;
            return;
        }
        if line.len() > self.max_line {
            out(Err(LineRefusal {
                line_no: self.line_no,
                reason: LineRefusalReason::TooLong {
                    len: line.len(),
                    max: self.max_line,
                },
            }));
            return;
        }
        out(Ok(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`NdjsonSplitter`] hands out for `body` cut at `cuts`.
    fn split(
        body: &[u8],
        max: usize,
        cuts: &[usize],
    ) -> (Vec<Result<Vec<u8>, LineRefusal>>, usize) {
        let mut sp = NdjsonSplitter::new(max);
        let mut got = Vec::new();
        let mut out = |r: Result<bytes::Bytes, LineRefusal>| got.push(r.map(|b| b.to_vec()));
        let mut from = 0;
        for &c in cuts.iter().chain(std::iter::once(&body.len())) {
            let c = c.clamp(from, body.len());
            sp.push(bytes::Bytes::copy_from_slice(&body[from..c]), &mut out);
            from = c;
        }
        sp.finish(&mut out);
        (got, sp.empty_lines())
    }

    #[test]
    fn the_splitter_agrees_with_lines_wherever_the_body_is_cut() {
        let bodies: [&[u8]; 8] = [
            b"{\"a\":1}\r\nplain line\n{\"b\":2}",
            b"\n\r\n  \t\na\n\n",
            b"ok\n\n0123456789\nok2",
            b"\xEF\xBB\xBF{}\n\xff\x00\n",
            b"\xEF\xBB\xBF0123456789\r\n          \r\n\xEF\xBB\xBFx",
            b"\xEF\xBB\xBF      \t     \n01234\r",
            b"x\r\r\n0123456789012345678901234567890\n",
            b"\xEF\xBB\xBF",
        ];
        for body in bodies {
            for max in [1, 5, 10, 100] {
                let mut it = lines(body, max);
                let want: Vec<_> = it.by_ref().map(|r| r.map(<[u8]>::to_vec)).collect();
                let want_empty = it.empty_lines();
                for a in 0..=body.len() {
                    for b in a..=body.len() {
                        let (got, empty) = split(body, max, &[a, b]);
                        assert_eq!(got, want, "{body:?} max {max} cut at {a}, {b}");
                        assert_eq!(empty, want_empty, "{body:?} max {max} cut at {a}, {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_over_long_line_is_not_held_in_memory() {
        let mut sp = NdjsonSplitter::new(10);
        let mut got = Vec::new();
        let mut out = |r: Result<bytes::Bytes, LineRefusal>| got.push(r);
        for _ in 0..1000 {
            sp.push(bytes::Bytes::from(vec![b'z'; 4096]), &mut out);
            assert!(
                sp.partial.capacity() <= 4096 + 14,
                "{}",
                sp.partial.capacity()
            );
        }
        sp.push(bytes::Bytes::from_static(b"\nok\n"), &mut out);
        sp.finish(&mut out);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].clone().unwrap_err().reason,
            LineRefusalReason::TooLong {
                len: 4096 * 1000,
                max: 10
            }
        );
        assert_eq!(got[1].clone().unwrap(), bytes::Bytes::from_static(b"ok"));
    }

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
