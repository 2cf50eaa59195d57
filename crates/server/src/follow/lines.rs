//! A followed file's bytes cut into lines, and stored records matched
//! against them after a crash. No I/O.

/// What is at the front of the unread bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    /// A line of this many bytes (its newline not included): stored.
    Line(usize),
    /// An empty line: refused (`empty`), nothing stored.
    Empty,
    /// A line over the limit: refused (`too_long`) once, never stored cut short.
    TooLong,
    /// More of a line already refused as too long: skipped silently.
    Discarded,
}

/// Cuts lines; remembers that it is inside a line refused as too long.
#[derive(Clone, Debug)]
pub struct Splitter {
    max_line: usize,
    discarding: bool,
}

impl Splitter {
    pub fn new(max_line: usize) -> Splitter {
        Splitter {
            max_line,
            discarding: false,
        }
    }

    /// The piece at the front of `buf` and how many bytes it takes (its
    /// newline included); `None` when `buf` holds no complete line yet. A
    /// line that has grown past the limit without a newline is refused at
    /// once, and the rest of it skipped as it comes, so that memory never
    /// holds more than the limit.
    pub fn next(&mut self, buf: &[u8]) -> Option<(Piece, usize)> {
        let nl = memchr::memchr(b'\n', buf);
        if self.discarding {
            return match nl {
                Some(i) => {
                    self.discarding = false;
                    Some((Piece::Discarded, i + 1))
                }
                None if buf.is_empty() => None,
                None => Some((Piece::Discarded, buf.len())),
            };
        }
        match nl {
            Some(0) => Some((Piece::Empty, 1)),
            Some(i) if i > self.max_line => Some((Piece::TooLong, i + 1)),
            Some(i) => Some((Piece::Line(i), i + 1)),
            None if buf.len() > self.max_line => {
                self.discarding = true;
                Some((Piece::TooLong, buf.len()))
            }
            None => None,
        }
    }

    /// The last line, which has no newline (yet), taken as it is.
    pub fn partial(&mut self, buf: &[u8]) -> Option<(Piece, usize)> {
        if buf.is_empty() {
            return None;
        }
        if self.discarding {
            return Some((Piece::Discarded, buf.len()));
        }
        Some((Piece::Line(buf.len()), buf.len()))
    }
}

/// How many bytes at the front of `file` the `records` account for, when
/// they were stored in order from there: each record is the next line (a
/// partial one has no newline after it), after any lines that were refused
/// (empty, or over `max_line`). `None` when they do not match: the file is
/// not the one they came from.
pub fn skip_stored(file: &[u8], records: &[&[u8]], max_line: usize) -> Option<usize> {
    let mut p = 0;
    for r in records {
        // Lines refused before this record left no record.
        loop {
            let rest = file.get(p..)?;
            match memchr::memchr(b'\n', rest) {
                Some(0) => p += 1,
                Some(i) if i > max_line => p += i + 1,
                _ => break,
            }
        }
        if !file.get(p..)?.starts_with(r) {
            return None;
        }
        p += r.len();
        if file.get(p) == Some(&b'\n') {
            p += 1;
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(s: &mut Splitter, mut buf: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        while let Some((p, n)) = s.next(buf) {
            out.push(p);
            buf = &buf[n..];
        }
        out
    }

    #[test]
    fn lines_empty_lines_and_too_long_ones() {
        let mut s = Splitter::new(5);
        assert_eq!(
            all(&mut s, b"abc\n\nabcdef\nx\r\ntail"),
            [Piece::Line(3), Piece::Empty, Piece::TooLong, Piece::Line(2)]
        );
        assert_eq!(s.partial(b"tail"), Some((Piece::Line(4), 4)));
        // A line growing past the limit is refused before its newline comes.
        let mut s = Splitter::new(5);
        assert_eq!(s.next(b"abcdef"), Some((Piece::TooLong, 6)));
        assert_eq!(s.next(b"ghi"), Some((Piece::Discarded, 3)));
        assert_eq!(s.next(b""), None);
        assert_eq!(s.next(b"jk\nok\n"), Some((Piece::Discarded, 3)));
        assert_eq!(s.next(b"ok\n"), Some((Piece::Line(2), 3)));
    }

    #[test]
    fn stored_records_are_matched_with_the_lines_they_came_from() {
        let file = b"a1\n\nway too long line\nb2\nc3 partial";
        let recs: [&[u8]; 3] = [b"a1", b"b2", b"c3 partial"];
        assert_eq!(skip_stored(file, &recs, 10), Some(file.len()));
        assert_eq!(skip_stored(file, &recs[..1], 10), Some(3));
        assert_eq!(skip_stored(file, &recs[..2], 10), Some(25));
        assert_eq!(skip_stored(file, &[], 10), Some(0));
        assert_eq!(skip_stored(file, &[b"zz"], 10), None);
        // A partial line stored, then completed by the writer.
        assert_eq!(
            skip_stored(b"c3 partial and more\n", &[b"c3 partial"], 100),
            Some(10)
        );
    }

    proptest! {
        /// Whatever the lines and however they were stored, the records
        /// account for exactly the bytes that produced them.
        #[test]
        fn split_then_skip_agree(lines in proptest::collection::vec("[a-z]{0,12}", 0..20), max in 4usize..10) {
            let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
            let mut s = Splitter::new(max);
            let mut at = 0;
            let mut recs: Vec<&[u8]> = Vec::new();
            let mut ends = Vec::new();
            while let Some((p, n)) = s.next(&text.as_bytes()[at..]) {
                if let Piece::Line(k) = p {
                    recs.push(&text.as_bytes()[at..at + k]);
                    ends.push(at + n);
                }
                at += n;
            }
            prop_assert_eq!(at, text.len());
            for j in 0..=recs.len() {
                let want = if j == 0 { 0 } else { ends[j - 1] };
                let got = skip_stored(text.as_bytes(), &recs[..j], max).unwrap();
                // Refused lines right before a record are skipped with it.
                prop_assert!(got == want, "{} records: {} != {}", j, got, want);
            }
        }
    }
}
