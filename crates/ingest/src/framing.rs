//! RFC 6587 stream framing for syslog over TCP and TLS.
//!
//! The framing method is detected **per frame**, as rsyslog and syslog-ng do,
//! so one stream may mix both:
//!
//! * **Octet counting** (`LEN SP MSG`): the frame starts with a digit `1`-`9`,
//!   then more digits, then one SP (and, with [`FrameDecoder::syslog`], the `<`
//!   that opens the syslog message's PRI). Exactly `LEN` bytes follow; they may
//!   hold anything, LF and NUL included.
//! * **Non-transparent** framing: anything else is a line ending at LF. The LF
//!   is not part of the frame; a CR before it is kept, because the bytes are
//!   evidence and stay exact.
//!
//! RFC 6587 alone would read a newline-framed line that starts with digits and
//! a space (`134681 node-246 ...`, every HPC log line) as an octet-counted
//! frame and lose the stream; the syslog listeners use
//! [`FrameDecoder::syslog`], which also requires the `<` after the space.
//!
//! Bad input never stops the stream; the decoder refuses what it cannot keep,
//! says why, and carries on. Every length is checked against `max_frame`
//! before anything is buffered for it:
//!
//! | input | event | then |
//! |---|---|---|
//! | octet-counted `LEN` > `max_frame` | [`Refusal::TooLong`] | skip exactly `LEN` bytes as they arrive, never buffering them |
//! | line longer than `max_frame` | [`Refusal::LineTooLong`] | discard through the next LF |
//! | length prefix of more than [`MAX_LEN_DIGITS`] digits, or above `u64` | [`Refusal::BadLength`] | discard through the next LF (resync) |
//! | empty line (`LF`, or `CR LF`) | [`Refusal::Empty`] | nothing stored |
//! | invalid UTF-8, NUL bytes | kept in the frame as they are | |
//! | last line without LF at end of stream | [`FrameEvent::Frame`] ([`Refusal::LineTooLong`] if longer than `max_frame`) | |
//! | end of stream inside an octet-counted frame | [`FrameEvent::Truncated`] | |
//! | end of stream while skipping a refused frame | nothing more (the refusal was reported) | |
//!
//! The events do not depend on how the stream was cut into reads.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Longest accepted octet-count prefix. `u64::MAX` has 20 digits.
pub const MAX_LEN_DIGITS: usize = 20;

/// Default cap on one frame, for callers that have no configuration.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;

/// What the decoder yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameEvent {
    /// One complete frame (the message bytes, without length prefix or LF).
    Frame(Bytes),
    /// Input that is not stored; the caller counts it and the stream continues.
    Refused(Refusal),
    /// The stream ended inside an octet-counted frame. The caller stores the
    /// partial bytes marked as a parse error, so nothing sent is lost.
    Truncated { bytes: Bytes, expected: usize },
}

/// Why input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "octet-counted frame of {len} bytes exceeds the {max}-byte limit; its bytes were skipped"
    )]
    TooLong { len: u64, max: usize },
    #[error("line longer than the {max}-byte limit; discarded through the next LF")]
    LineTooLong { max: usize },
    #[error("empty line")]
    Empty,
    #[error("octet-count length prefix {why}; discarded through the next LF")]
    BadLength { why: BadLength },
}

/// What is wrong with an octet-count prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadLength {
    /// More than [`MAX_LEN_DIGITS`] digits.
    TooManyDigits,
    /// Fits the digit limit but not in a `u64`.
    Overflow,
}

impl fmt::Display for BadLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadLength::TooManyDigits => write!(f, "has more than {MAX_LEN_DIGITS} digits"),
            BadLength::Overflow => f.write_str("does not fit in 64 bits"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a frame boundary. `scanned` bytes of the buffer are known to hold no
    /// LF, so a line trickling in one byte at a time is not rescanned (which
    /// would be quadratic).
    Start { scanned: usize },
    /// The header of an accepted octet-counted frame was consumed; `len` bytes follow.
    Counted { len: usize },
    /// Skipping the body of a refused octet-counted frame.
    SkipCount { remaining: u64 },
    /// Discarding through the next LF.
    SkipLine,
}

/// Splits a byte stream into frames. A state machine over a caller-owned
/// buffer: it consumes from the buffer what it returns or skips and never
/// copies frame bytes.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    state: State,
    require_pri: bool,
}

/// How the bytes at a frame boundary start.
enum Head {
    /// Not enough bytes to tell.
    NeedMore,
    /// Octet counting: `LEN`, and the header length including the SP.
    Counted {
        len: u64,
        header: usize,
    },
    BadLength(BadLength),
    Line,
}

impl FrameDecoder {
    /// `max_frame` is the largest frame kept, in bytes (at least 1).
    /// RFC 6587 as written: `LEN SP` starts an octet-counted frame whatever follows.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            max_frame: max_frame.max(1),
            state: State::Start { scanned: 0 },
            require_pri: false,
        }
    }

    /// For syslog listeners: `LEN SP` starts an octet-counted frame only when
    /// the syslog message's `<` follows, so that newline-framed lines starting
    /// with a number (`134681 node-246 ...`, every HPC line) stay lines.
    pub fn syslog(max_frame: usize) -> Self {
        FrameDecoder {
            require_pri: true,
            ..FrameDecoder::new(max_frame)
        }
    }

    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The next event from `buf`, consuming what it returns or skips.
    /// `None`: more bytes are needed (everything useful has been consumed or
    /// must stay in `buf` until the rest arrives).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<FrameEvent> {
        loop {
            match self.state {
                State::SkipCount { remaining } => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    buf.advance(n);
                    let remaining = remaining - n as u64;
                    if remaining > 0 {
                        self.state = State::SkipCount { remaining };
                        return None;
                    }
                    self.state = State::Start { scanned: 0 };
                }
                State::SkipLine => match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.state = State::Start { scanned: 0 };
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                },
                State::Counted { len } => {
                    if buf.len() < len {
                        // The length was checked against max_frame: reserving is bounded.
                        buf.reserve(len - buf.len());
                        return None;
                    }
                    self.state = State::Start { scanned: 0 };
                    return Some(FrameEvent::Frame(buf.split_to(len).freeze()));
                }
                State::Start { scanned } => {
                    if buf.is_empty() {
                        return None;
                    }
                    match head(buf, self.require_pri) {
                        Head::NeedMore => return None,
                        Head::BadLength(why) => {
                            self.state = State::SkipLine;
                            return Some(FrameEvent::Refused(Refusal::BadLength { why }));
                        }
                        Head::Counted { len, header } => {
                            buf.advance(header);
                            if len > self.max_frame as u64 {
                                self.state = State::SkipCount { remaining: len };
                                return Some(FrameEvent::Refused(Refusal::TooLong {
                                    len,
                                    max: self.max_frame,
                                }));
                            }
                            // len <= max_frame, so it fits in usize.
                            self.state = State::Counted { len: len as usize };
                        }
                        Head::Line => return self.line(buf, scanned),
                    }
                }
            }
        }
    }

    fn line(&mut self, buf: &mut BytesMut, scanned: usize) -> Option<FrameEvent> {
        let from = scanned.min(buf.len());
        match memchr::memchr(b'\n', &buf[from..]) {
            Some(i) => {
                let end = from + i;
                self.state = State::Start { scanned: 0 };
                if end > self.max_frame {
                    buf.advance(end + 1);
                    return Some(FrameEvent::Refused(Refusal::LineTooLong {
                        max: self.max_frame,
                    }));
                }
                let frame = buf.split_to(end).freeze();
                buf.advance(1);
                if frame.is_empty() || frame[..] == b"\r"[..] {
                    // A blank line (CR LF counts as blank) carries nothing to keep.
                    return Some(FrameEvent::Refused(Refusal::Empty));
                }
                Some(FrameEvent::Frame(frame))
            }
            None if buf.len() > self.max_frame => {
                // Already too long whatever follows: stop buffering it.
                buf.clear();
                self.state = State::SkipLine;
                Some(FrameEvent::Refused(Refusal::LineTooLong {
                    max: self.max_frame,
                }))
            }
            None => {
                self.state = State::Start { scanned: buf.len() };
                None
            }
        }
    }

    /// Call at end of stream, repeatedly until it returns `None`: it yields
    /// the complete frames still in `buf`, then what is left (a last line
    /// without LF as a frame, or a cut octet-counted frame as
    /// [`FrameEvent::Truncated`]). Leaves the decoder ready for a new stream.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Option<FrameEvent> {
        if let Some(ev) = self.decode(buf) {
            return Some(ev);
        }
        let state = std::mem::replace(&mut self.state, State::Start { scanned: 0 });
        match state {
            State::Start { .. } if buf.is_empty() => None,
            // A digit prefix that never got its SP was a line; decode could not
            // yet tell, so it may still exceed max_frame (up to MAX_LEN_DIGITS + 1
            // bytes are held while undecided).
            State::Start { .. } if buf.len() > self.max_frame => {
                buf.clear();
                Some(FrameEvent::Refused(Refusal::LineTooLong {
                    max: self.max_frame,
                }))
            }
            // A last line without LF, within max_frame (decode refuses longer lines).
            State::Start { .. } => {
                let frame = buf.split().freeze();
                if frame[..] == b"\r"[..] {
                    return Some(FrameEvent::Refused(Refusal::Empty));
                }
                Some(FrameEvent::Frame(frame))
            }
            State::Counted { len } => Some(FrameEvent::Truncated {
                bytes: buf.split().freeze(),
                expected: len,
            }),
            State::SkipCount { .. } | State::SkipLine => {
                buf.clear();
                None
            }
        }
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME)
    }
}

/// Classifies the start of a frame. Looks at no more than
/// `MAX_LEN_DIGITS + 1` bytes.
fn head(buf: &[u8], require_pri: bool) -> Head {
    if !matches!(buf.first(), Some(b'1'..=b'9')) {
        return Head::Line;
    }
    let mut len: u64 = 0;
    let mut overflow = false;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if i == MAX_LEN_DIGITS {
                    return Head::BadLength(BadLength::TooManyDigits);
                }
                match len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(u64::from(b - b'0')))
                {
                    Some(l) => len = l,
                    None => overflow = true,
                }
            }
            // An octet-counted frame carries a syslog message, which starts
            // with `<PRI>`. Requiring the `<` keeps newline-framed lines that
            // begin with a number (`134681 node-246 ...`) from being misread.
            b' ' if require_pri && buf.get(i + 1) != Some(&b'<') => {
                return if buf.len() == i + 1 {
                    Head::NeedMore
                } else {
                    Head::Line
                };
            }
            b' ' if overflow => return Head::BadLength(BadLength::Overflow),
            b' ' => return Head::Counted { len, header: i + 1 },
            _ => return Head::Line,
        }
    }
    Head::NeedMore
}

/// Encodes `msg` as one octet-counted frame (for tests and senders).
pub fn encode_octet_counted(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

#[cfg(test)]
mod syslog_mode_tests {
    use super::*;

    fn all(d: &mut FrameDecoder, input: &[u8]) -> Vec<FrameEvent> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(e) = d.decode(&mut buf) {
            out.push(e);
        }
        while let Some(e) = d.decode_eof(&mut buf) {
            out.push(e);
        }
        out
    }

    #[test]
    fn numbered_lines_stay_lines_and_syslog_frames_are_counted() {
        let mut d = FrameDecoder::syslog(1024);
        let got = all(
            &mut d,
            b"134681 node-246 action start\n9 <13>hello134682 node-247 x\n",
        );
        assert_eq!(
            got,
            vec![
                FrameEvent::Frame(Bytes::from_static(b"134681 node-246 action start")),
                FrameEvent::Frame(Bytes::from_static(b"<13>hello")),
                FrameEvent::Frame(Bytes::from_static(b"134682 node-247 x")),
            ]
        );
    }

    #[test]
    fn a_huge_length_before_a_pri_is_still_refused() {
        let mut d = FrameDecoder::syslog(1024);
        let got = all(&mut d, b"1000000000000 <13>x");
        assert!(
            matches!(got[0], FrameEvent::Refused(Refusal::TooLong { .. })),
            "{got:?}"
        );
    }

    /// Found by the fuzzer: a bare digit prefix at end of stream that is
    /// longer than the limit was handed out as an over-long frame.
    #[test]
    fn an_undecided_digit_prefix_longer_than_the_limit_is_refused_at_eof() {
        for mut d in [FrameDecoder::new(2), FrameDecoder::syslog(2)] {
            assert_eq!(
                all(&mut d, b"1093"),
                vec![FrameEvent::Refused(Refusal::LineTooLong { max: 2 })]
            );
            assert_eq!(
                all(&mut d, b"12"),
                vec![FrameEvent::Frame(Bytes::from_static(b"12"))]
            );
        }
        // Syslog mode waits after `12 ` for a `<` that never comes: a line.
        assert_eq!(
            all(&mut FrameDecoder::syslog(2), b"12 "),
            vec![FrameEvent::Refused(Refusal::LineTooLong { max: 2 })]
        );
    }

    #[test]
    fn a_split_after_the_space_waits_for_the_next_byte() {
        let mut d = FrameDecoder::syslog(1024);
        let mut buf = BytesMut::from(&b"5 "[..]);
        assert_eq!(d.decode(&mut buf), None);
        buf.extend_from_slice(b"<1>ab");
        assert_eq!(
            d.decode(&mut buf),
            Some(FrameEvent::Frame(Bytes::from_static(b"<1>ab")))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one after the other and collects every event.
    pub(crate) fn run(max: usize, chunks: &[&[u8]]) -> Vec<FrameEvent> {
        let mut d = FrameDecoder::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(ev) = d.decode(&mut buf) {
                out.push(ev);
            }
        }
        while let Some(ev) = d.decode_eof(&mut buf) {
            out.push(ev);
        }
        out
    }

    fn bytewise(max: usize, input: &[u8]) -> Vec<FrameEvent> {
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        run(max, &chunks)
    }

    fn frame(b: &[u8]) -> FrameEvent {
        FrameEvent::Frame(Bytes::copy_from_slice(b))
    }

    #[test]
    fn newline_frames_keep_cr_and_drop_lf() {
        let input = b"<13>a\r\nb\nlast";
        let want = vec![frame(b"<13>a\r"), frame(b"b"), frame(b"last")];
        assert_eq!(run(100, &[input]), want);
        assert_eq!(bytewise(100, input), want);
    }

    #[test]
    fn octet_counted_frames_may_hold_lf_and_nul() {
        let input = b"4 a\nb\x0013 <13>1 - - - -3 xyz";
        let want = vec![frame(b"a\nb\x00"), frame(b"<13>1 - - - -"), frame(b"xyz")];
        assert_eq!(run(100, &[input]), want);
        assert_eq!(bytewise(100, input), want);
    }

    #[test]
    fn mixed_framing_on_one_stream() {
        let input = b"3 abcline one\n2015-10-18 18:01:47 x\n4 <1>zline two";
        let want = vec![
            frame(b"abc"),
            frame(b"line one"),
            frame(b"2015-10-18 18:01:47 x"),
            frame(b"<1>z"),
            frame(b"line two"),
        ];
        assert_eq!(run(100, &[input]), want);
        assert_eq!(bytewise(100, input), want);
    }

    #[test]
    fn leading_zero_or_no_space_means_a_line() {
        let input = b"081109 203615 x\n12ab\n7\n";
        let want = vec![frame(b"081109 203615 x"), frame(b"12ab"), frame(b"7")];
        assert_eq!(run(100, &[input]), want);
    }

    #[test]
    fn invalid_utf8_is_kept() {
        let input = b"\xff\xfe\x00zz\n3 \xc3\x28\x00";
        let want = vec![frame(b"\xff\xfe\x00zz"), frame(b"\xc3\x28\x00")];
        assert_eq!(run(100, &[input]), want);
    }

    #[test]
    fn empty_lines_are_refused_and_counted() {
        let input = b"\n\r\na\n\n";
        let want = vec![
            FrameEvent::Refused(Refusal::Empty),
            FrameEvent::Refused(Refusal::Empty),
            frame(b"a"),
            FrameEvent::Refused(Refusal::Empty),
        ];
        assert_eq!(run(100, &[input]), want);
        assert_eq!(bytewise(100, input), want);
    }

    #[test]
    fn over_long_octet_frame_is_skipped_exactly() {
        let mut input = b"20 ".to_vec();
        input.extend_from_slice(&[b'x'; 20]);
        input.extend_from_slice(b"after\n");
        let want = vec![
            FrameEvent::Refused(Refusal::TooLong { len: 20, max: 10 }),
            frame(b"after"),
        ];
        assert_eq!(run(10, &[&input]), want);
        assert_eq!(bytewise(10, &input), want);
    }

    #[test]
    fn huge_declared_length_does_not_allocate_and_keeps_the_stream_usable() {
        const LEN: u64 = 1_000_000_000_000;
        let mut d = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&b"1000000000000 "[..]);
        assert_eq!(
            d.decode(&mut buf),
            Some(FrameEvent::Refused(Refusal::TooLong {
                len: LEN,
                max: 1024
            }))
        );
        // Feed 16 MiB of the body in 1 MiB reads: nothing accumulates.
        let chunk = vec![b'z'; 1 << 20];
        for _ in 0..16 {
            buf.extend_from_slice(&chunk);
            assert_eq!(d.decode(&mut buf), None);
            assert!(buf.is_empty());
            assert!(
                buf.capacity() <= 2 << 20,
                "buffer grew to {}",
                buf.capacity()
            );
        }
        assert_eq!(
            d.state,
            State::SkipCount {
                remaining: LEN - (16 << 20)
            }
        );
        // Sending the other ~10^12 bytes here would take minutes; skipping is
        // per read, so continue from just before the end of the body.
        d.state = State::SkipCount { remaining: 3 };
        buf.extend_from_slice(b"zzz5 hello");
        assert_eq!(d.decode(&mut buf), Some(frame(b"hello")));
    }

    #[test]
    fn over_long_line_is_discarded_to_next_lf() {
        let input = b"0123456789ABCDEF\nok\n";
        let want = vec![
            FrameEvent::Refused(Refusal::LineTooLong { max: 8 }),
            frame(b"ok"),
        ];
        assert_eq!(run(8, &[input]), want);
        assert_eq!(bytewise(8, input), want);
        // Exactly max_frame bytes is fine.
        assert_eq!(run(8, &[b"abcdefgh\n"]), vec![frame(b"abcdefgh")]);
    }

    #[test]
    fn over_long_line_does_not_buffer() {
        let mut d = FrameDecoder::new(8);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"abcdefghij");
        assert_eq!(
            d.decode(&mut buf),
            Some(FrameEvent::Refused(Refusal::LineTooLong { max: 8 }))
        );
        for _ in 0..100 {
            buf.extend_from_slice(&[b'q'; 100]);
            assert_eq!(d.decode(&mut buf), None);
            assert!(buf.is_empty());
        }
        buf.extend_from_slice(b"q\nnext\n");
        assert_eq!(d.decode(&mut buf), Some(frame(b"next")));
    }

    #[test]
    fn too_many_length_digits_resyncs_at_lf() {
        let input = b"123456789012345678901 junk\nnext\n";
        let want = vec![
            FrameEvent::Refused(Refusal::BadLength {
                why: BadLength::TooManyDigits,
            }),
            frame(b"next"),
        ];
        assert_eq!(run(100, &[input]), want);
        assert_eq!(bytewise(100, input), want);
    }

    #[test]
    fn length_beyond_u64_resyncs_at_lf() {
        // 20 digits, above u64::MAX (18446744073709551615).
        let input = b"99999999999999999999 junk\nnext\n";
        let want = vec![
            FrameEvent::Refused(Refusal::BadLength {
                why: BadLength::Overflow,
            }),
            frame(b"next"),
        ];
        assert_eq!(run(100, &[input]), want);
        // 20 digits that fit are just too long.
        assert_eq!(
            run(100, &[b"18446744073709551615 x"]),
            vec![FrameEvent::Refused(Refusal::TooLong {
                len: u64::MAX,
                max: 100
            })]
        );
    }

    #[test]
    fn last_line_without_lf_is_a_frame() {
        assert_eq!(run(100, &[b"a\nb"]), vec![frame(b"a"), frame(b"b")]);
        assert_eq!(run(100, &[b"123"]), vec![frame(b"123")]);
    }

    #[test]
    fn eof_inside_octet_frame_is_truncated() {
        let want = vec![
            frame(b"ab"),
            FrameEvent::Truncated {
                bytes: Bytes::from_static(b"hel"),
                expected: 10,
            },
        ];
        assert_eq!(run(100, &[b"2 ab10 hel"]), want);
        assert_eq!(bytewise(100, b"2 ab10 hel"), want);
        assert_eq!(
            run(100, &[b"4 "]),
            vec![FrameEvent::Truncated {
                bytes: Bytes::new(),
                expected: 4
            }]
        );
    }

    #[test]
    fn eof_while_skipping_reports_nothing_more() {
        assert_eq!(
            run(4, &[b"10 abc"]),
            vec![FrameEvent::Refused(Refusal::TooLong { len: 10, max: 4 })]
        );
        assert_eq!(
            run(4, &[b"abcdefgh"]),
            vec![FrameEvent::Refused(Refusal::LineTooLong { max: 4 })]
        );
    }

    #[test]
    fn refusals_read_clearly() {
        assert_eq!(
            Refusal::TooLong { len: 70000, max: 65536 }.to_string(),
            "octet-counted frame of 70000 bytes exceeds the 65536-byte limit; its bytes were skipped"
        );
        assert_eq!(
            Refusal::BadLength {
                why: BadLength::TooManyDigits
            }
            .to_string(),
            "octet-count length prefix has more than 20 digits; discarded through the next LF"
        );
    }

    #[test]
    fn round_trip_encoder() {
        let mut out = Vec::new();
        encode_octet_counted(b"a b\n", &mut out);
        assert_eq!(out, b"4 a b\n");
    }
}
