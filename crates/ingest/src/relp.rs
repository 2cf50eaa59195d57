//! RELP, the Reliable Event Logging Protocol of rsyslog (`omrelp`/`imrelp`):
//! the frame codec and the server's session rules, with no I/O.
//!
//! A frame is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`: `TXNR` 1 to 9
//! digits, `COMMAND` 1 to 32 letters, `DATALEN` 1 to 9 digits, and the SP
//! and `DATA` only when `DATALEN` is not 0. The client opens a session with
//! `open` (its offers: `relp_version`, `relp_software`, `commands`), sends
//! each message as a `syslog` frame, and ends with `close`; the server
//! answers every frame with `rsp` and the same `TXNR`: `200 OK`, or `500`
//! and why. The client keeps a message until its `200 OK` comes back and
//! sends it again in a new session if the session breaks first.
//!
//! [`Decoder`] cuts a byte stream into [`Event`]s. Every length is checked
//! before anything is buffered for it: a header longer than
//! [`MAX_HEADER`] bytes is an error; a `syslog` frame whose `DATALEN` is over
//! the message limit (the other commands: over [`MAX_CONTROL_DATA`]) is
//! skipped as it arrives, never buffered, and reported as
//! [`Event::TooLong`] so that the session answers it with `500` and goes on.
//! A frame that does not parse ([`FrameError`]) ends the session: RELP has no
//! point to resynchronise at.
//!
//! [`Session`] applies the server's rules to each frame and says what to do
//! ([`Step`]); the listener (`pramaan-server`'s `relp`) stores and answers.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;

/// Largest transaction number; the next after it is 1 (0 is the server's).
pub const MAX_TXNR: u32 = 999_999_999;
/// Longest command name.
pub const MAX_COMMAND: usize = 32;
/// Most digits of `TXNR` and of `DATALEN`.
pub const MAX_DIGITS: usize = 9;
/// Longest header: `TXNR SP COMMAND SP DATALEN` and the SP or LF after it.
pub const MAX_HEADER: usize = MAX_DIGITS + 1 + MAX_COMMAND + 1 + MAX_DIGITS + 1;
/// Largest `DATA` of a frame other than `syslog` (offers, `close`).
pub const MAX_CONTROL_DATA: usize = 16 * 1024;

/// A frame's command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Open,
    Syslog,
    Close,
    /// Any other name (`rsp` from a client, or a command pramaan does not know).
    Other(String),
}

impl Command {
    fn from_name(name: &[u8]) -> Command {
        match name {
            b"open" => Command::Open,
            b"syslog" => Command::Syslog,
            b"close" => Command::Close,
            other => Command::Other(String::from_utf8_lossy(other).into_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Command::Open => "open",
            Command::Syslog => "syslog",
            Command::Close => "close",
            Command::Other(s) => s,
        }
    }
}

/// One complete frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u32,
    pub command: Command,
    /// Exactly the `DATALEN` bytes after the SP (a `syslog` frame's message).
    pub data: Bytes,
}

/// What the decoder yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Frame(Frame),
    /// A frame whose data was over its limit: skipped whole, session goes on.
    TooLong {
        txnr: u32,
        command: Command,
        len: usize,
        max: usize,
    },
}

/// A frame that cannot be read: the session ends (no resynchronisation).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the transaction number is not 1 to 9 digits followed by a space")]
    BadTxnr,
    #[error("the command is not 1 to 32 letters followed by a space")]
    BadCommand,
    #[error("DATALEN is not 1 to 9 digits followed by a space (or the line feed when 0)")]
    BadDatalen,
    #[error("the frame does not end with a line feed after its {datalen} data bytes")]
    NoTrailer { datalen: usize },
    #[error("the stream ended inside a frame")]
    Truncated,
}

/// What the decoder is in the middle of.
#[derive(Clone, Debug)]
enum State {
    /// Waiting for a whole header.
    Header,
    /// Skipping `left` bytes of data (and then the trailer) of a refused frame.
    Skip {
        txnr: u32,
        command: Command,
        len: usize,
        left: usize,
        max: usize,
    },
}

/// Cuts a RELP byte stream into frames.
#[derive(Clone, Debug)]
pub struct Decoder {
    max_message: usize,
    state: State,
}

impl Decoder {
    /// A decoder whose `syslog` frames carry at most `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            state: State::Header,
        }
    }

    fn limit(&self, c: &Command) -> usize {
        match c {
            Command::Syslog => self.max_message,
            _ => MAX_CONTROL_DATA,
        }
    }

    /// The next event from `buf` (consuming its bytes), `Ok(None)` when more
    /// input is needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, FrameError> {
        loop {
            match &mut self.state {
                State::Skip { left, .. } => {
                    let n = (*left).min(buf.len());
                    buf.advance(n);
                    *left -= n;
                    if *left > 0 || buf.is_empty() {
                        return Ok(None);
                    }
                    let b = buf.get_u8();
                    let State::Skip {
                        txnr,
                        command,
                        len,
                        max,
                        ..
                    } = std::mem::replace(&mut self.state, State::Header)
                    else {
                        unreachable!("matched above")
                    };
                    if b != b'\n' {
                        return Err(FrameError::NoTrailer { datalen: len });
                    }
                    return Ok(Some(Event::TooLong {
                        txnr,
                        command,
                        len,
                        max,
                    }));
                }
                State::Header => {
                    let Some(h) = header(buf)? else {
                        return Ok(None);
                    };
                    let max = self.limit(&h.command);
                    if h.datalen > max {
                        buf.advance(h.len);
                        self.state = State::Skip {
                            txnr: h.txnr,
                            command: h.command,
                            len: h.datalen,
                            left: h.datalen,
                            max,
                        };
                        continue;
                    }
                    // Header, data and trailer, all here?
                    let total = h.len + h.datalen + usize::from(h.datalen > 0);
                    if buf.len() < total {
                        buf.reserve(total - buf.len());
                        return Ok(None);
                    }
                    if h.datalen > 0 && buf[total - 1] != b'\n' {
                        return Err(FrameError::NoTrailer { datalen: h.datalen });
                    }
                    let mut frame = buf.split_to(total);
                    frame.advance(h.len);
                    frame.truncate(h.datalen);
                    return Ok(Some(Event::Frame(Frame {
                        txnr: h.txnr,
                        command: h.command,
                        data: frame.freeze(),
                    })));
                }
            }
        }
    }

    /// At the end of the stream: an error when it ended inside a frame.
    pub fn finish(&self, buf: &BytesMut) -> Result<(), FrameError> {
        match self.state {
            State::Header if buf.is_empty() => Ok(()),
            _ => Err(FrameError::Truncated),
        }
    }
}

/// A parsed header; `len` bytes long including the SP (or LF) after DATALEN.
struct Header {
    txnr: u32,
    command: Command,
    datalen: usize,
    len: usize,
}

/// Digits `buf[at..]` up to `stop`: the number and the index of `stop`.
/// `Ok(None)`: not all here yet; `Err(())`: not 1 to 9 digits then `stop`.
fn number(buf: &[u8], at: usize, stop: &[u8]) -> Result<Option<(u32, usize)>, ()> {
    let mut v: u32 = 0;
    for i in at..(at + MAX_DIGITS + 1) {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        if b.is_ascii_digit() && i < at + MAX_DIGITS {
            v = v * 10 + u32::from(b - b'0');
        } else if i > at && stop.contains(&b) {
            return Ok(Some((v, i)));
        } else {
            return Err(());
        }
    }
    Err(())
}

fn header(buf: &[u8]) -> Result<Option<Header>, FrameError> {
    let Some((txnr, sp)) = number(buf, 0, b" ").map_err(|()| FrameError::BadTxnr)? else {
        return Ok(None);
    };
    let start = sp + 1;
    let mut end = start;
    loop {
        let Some(&b) = buf.get(end) else {
            return Ok(None);
        };
        if b == b' ' && end > start {
            break;
        }
        if !b.is_ascii_alphabetic() || end - start >= MAX_COMMAND {
            return Err(FrameError::BadCommand);
        }
        end += 1;
    }
    let Some((datalen, stop)) =
        number(buf, end + 1, b" \n").map_err(|()| FrameError::BadDatalen)?
    else {
        return Ok(None);
    };
    // The SP comes only with data, the LF only without.
    if (datalen == 0) != (buf[stop] == b'\n') {
        return Err(FrameError::BadDatalen);
    }
    Ok(Some(Header {
        txnr,
        command: Command::from_name(&buf[start..end]),
        datalen: datalen as usize,
        len: stop + 1,
    }))
}

/// A frame as bytes: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
pub fn encode(txnr: u32, command: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("{txnr} {command} {}", data.len()).into_bytes();
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
    out
}

/// The `rsp` frame answering `txnr` with `200 OK` (and `extra` lines after it).
pub fn ok(txnr: u32, extra: &str) -> Vec<u8> {
    if extra.is_empty() {
        encode(txnr, "rsp", b"200 OK")
    } else {
        encode(txnr, "rsp", format!("200 OK\n{extra}").as_bytes())
    }
}

/// The `rsp` frame refusing `txnr`: `500` and why.
pub fn error(txnr: u32, why: &str) -> Vec<u8> {
    encode(txnr, "rsp", format!("500 {why}").as_bytes())
}

/// The server's hint that it closes the session (RELP's `serverclose`, txnr 0).
pub fn serverclose() -> Vec<u8> {
    encode(0, "serverclose", b"")
}

/// The transaction number after `t` (999999999 wraps to 1).
pub fn next_txnr(t: u32) -> u32 {
    if t >= MAX_TXNR {
        1
    } else {
        t + 1
    }
}

/// Why the session refuses a frame (also the `reason` label it is counted by).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A frame before `open`, or a second `open`.
    NotOpen,
    /// `open` without `syslog` among its `commands`, or an unknown `relp_version`.
    BadOffers(String),
    /// The transaction number is not the one after the last.
    TxnrSequence { got: u32, expected: u32 },
    /// A command pramaan does not serve.
    UnknownCommand(String),
    /// Over the limit (from [`Event::TooLong`]).
    TooLong { len: usize, max: usize },
    /// A `syslog` frame with no message.
    Empty,
}

impl Refused {
    /// The metrics label.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::NotOpen => "not_open",
            Refused::BadOffers(_) => "bad_offers",
            Refused::TxnrSequence { .. } => "txnr_sequence",
            Refused::UnknownCommand(_) => "unknown_command",
            Refused::TooLong { .. } => "too_long",
            Refused::Empty => "empty",
        }
    }

    /// Whether the session ends after the `500`.
    pub fn closes(&self) -> bool {
        matches!(
            self,
            Refused::NotOpen | Refused::BadOffers(_) | Refused::TxnrSequence { .. }
        )
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NotOpen => f.write_str("the session must begin with one open command"),
            Refused::BadOffers(why) => write!(f, "open refused: {why}"),
            Refused::TxnrSequence { got, expected } => write!(
                f,
                "transaction number {got} out of sequence (expected {expected}); closing the session"
            ),
            Refused::UnknownCommand(c) => write!(f, "command {c:?} is not supported"),
            Refused::TooLong { len, max } => write!(
                f,
                "message of {len} bytes is over the {max}-byte limit (syslog.max_line); not stored"
            ),
            Refused::Empty => f.write_str("empty message; not stored"),
        }
    }
}

/// What the server does with one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Answer now (`open`): the `rsp` frame.
    Answer(Vec<u8>),
    /// Store the message; answer `200 OK` once it is durable.
    Store { txnr: u32, message: Bytes },
    /// Answer `close` (after everything before it), then end the session.
    Close { txnr: u32 },
    /// Answer `500`; end the session too when [`Refused::closes`].
    Refuse { txnr: u32, why: Refused },
}

/// The server's side of one session: `open` first, transaction numbers in
/// sequence, only `syslog` and `close` after it.
///
/// A skipped or repeated transaction number means frames were lost or are
/// being replayed inside one session, which a correct client never does: the
/// frame is refused and the session closed, so the client opens a new one and
/// resends what it has not had acknowledged (nothing is stored for it).
#[derive(Clone, Debug, Default)]
pub struct Session {
    last: Option<u32>,
    open: bool,
}

/// The offers pramaan answers `open` with.
pub const SERVER_OFFERS: &str = "relp_version=0\nrelp_software=pramaan\ncommands=syslog";

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// The step for one decoder event.
    pub fn on_event(&mut self, ev: Event) -> Step {
        match ev {
            Event::Frame(f) => self.on_frame(f),
            Event::TooLong { txnr, len, max, .. } => match self.sequence(txnr) {
                Err(why) => Step::Refuse { txnr, why },
                Ok(()) => Step::Refuse {
                    txnr,
                    why: Refused::TooLong { len, max },
                },
            },
        }
    }

    /// Checks and records `txnr`.
    fn sequence(&mut self, txnr: u32) -> Result<(), Refused> {
        if let Some(last) = self.last {
            let expected = next_txnr(last);
            if txnr != expected {
                return Err(Refused::TxnrSequence {
                    got: txnr,
                    expected,
                });
            }
        } else if !(1..=MAX_TXNR).contains(&txnr) {
            return Err(Refused::TxnrSequence {
                got: txnr,
                expected: 1,
            });
        }
        self.last = Some(txnr);
        Ok(())
    }

    pub fn on_frame(&mut self, f: Frame) -> Step {
        let txnr = f.txnr;
        if let Err(why) = self.sequence(txnr) {
            return Step::Refuse { txnr, why };
        }
        let refuse = |why| Step::Refuse { txnr, why };
        match (&f.command, self.open) {
            (Command::Open, false) => match check_offers(&f.data) {
                Ok(()) => {
                    self.open = true;
                    Step::Answer(ok(txnr, SERVER_OFFERS))
                }
                Err(why) => refuse(Refused::BadOffers(why)),
            },
            (Command::Open, true) | (_, false) => refuse(Refused::NotOpen),
            (Command::Syslog, true) if f.data.is_empty() => refuse(Refused::Empty),
            (Command::Syslog, true) => Step::Store {
                txnr,
                message: f.data,
            },
            (Command::Close, true) => Step::Close { txnr },
            (Command::Other(c), true) => refuse(Refused::UnknownCommand(c.clone())),
        }
    }
}

/// The client's offers (`name[=value]` lines) must include `commands` with
/// `syslog`, and a `relp_version` of 0 or 1 when one is given.
fn check_offers(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let mut syslog = false;
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        match name {
            "commands" => syslog |= value.split(',').any(|c| c.trim() == "syslog"),
            "relp_version" if !matches!(value.trim(), "0" | "1") => {
                return Err(format!("relp_version {value:?} is not supported (0 is)"))
            }
            _ => {}
        }
    }
    if syslog {
        Ok(())
    } else {
        Err("the offers must name syslog in commands".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Result<Vec<Event>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(e) = d.decode(&mut buf)? {
            out.push(e);
        }
        d.finish(&buf)?;
        Ok(out)
    }

    fn frame(txnr: u32, c: Command, data: &[u8]) -> Event {
        Event::Frame(Frame {
            txnr,
            command: c,
            data: Bytes::copy_from_slice(data),
        })
    }

    #[test]
    fn a_session_as_rsyslog_sends_it() {
        let open = b"relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog";
        let mut wire = encode(1, "open", open);
        wire.extend(encode(2, "syslog", b"<13>Nov 17 10:00:00 h app: a\nb"));
        wire.extend(b"3 close 0\n");
        let evs = decode_all(&mut Decoder::new(1024), &wire).unwrap();
        assert_eq!(
            evs,
            [
                frame(1, Command::Open, open),
                frame(2, Command::Syslog, b"<13>Nov 17 10:00:00 h app: a\nb"),
                frame(3, Command::Close, b""),
            ]
        );
        let mut s = Session::new();
        let steps: Vec<Step> = evs.into_iter().map(|e| s.on_event(e)).collect();
        assert_eq!(
            steps[0],
            Step::Answer(
                b"1 rsp 59 200 OK\nrelp_version=0\nrelp_software=pramaan\ncommands=syslog\n"
                    .to_vec()
            )
        );
        assert!(
            matches!(&steps[1], Step::Store { txnr: 2, message } if message.starts_with(b"<13>"))
        );
        assert_eq!(steps[2], Step::Close { txnr: 3 });
        assert_eq!(ok(2, ""), b"2 rsp 6 200 OK\n");
        assert_eq!(serverclose(), b"0 serverclose 0\n");
    }

    #[test]
    fn an_oversized_message_is_skipped_unbuffered_and_the_session_goes_on() {
        let mut d = Decoder::new(10);
        let mut buf = BytesMut::from(&b"2 syslog 999999999 "[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty(), "the header is consumed, nothing reserved");
        assert!(buf.capacity() < 1024);
        for _ in 0..100 {
            buf.extend_from_slice(&[b'x'; 1000]);
            assert_eq!(d.decode(&mut buf), Ok(None));
            assert!(buf.is_empty());
        }
        let mut d = Decoder::new(10);
        let mut wire = encode(2, "syslog", b"0123456789A");
        wire.extend(encode(3, "syslog", b"fits"));
        let evs = decode_all(&mut d, &wire).unwrap();
        assert_eq!(
            evs,
            [
                Event::TooLong {
                    txnr: 2,
                    command: Command::Syslog,
                    len: 11,
                    max: 10
                },
                frame(3, Command::Syslog, b"fits"),
            ]
        );
        // Other commands have their own cap.
        let big = vec![b'a'; MAX_CONTROL_DATA + 1];
        let evs = decode_all(&mut Decoder::new(1 << 20), &encode(1, "open", &big)).unwrap();
        assert!(matches!(
            evs[0],
            Event::TooLong {
                max: MAX_CONTROL_DATA,
                ..
            }
        ));
    }

    #[test]
    fn garbage_is_an_error_naming_the_part() {
        let err = |b: &[u8]| decode_all(&mut Decoder::new(100), b).unwrap_err();
        assert_eq!(err(b"GET / HTTP/1.1\r\n"), FrameError::BadTxnr);
        assert_eq!(err(b"1234567890 open 0\n"), FrameError::BadTxnr);
        assert_eq!(err(b" 1 open 0\n"), FrameError::BadTxnr);
        assert_eq!(err(b"1 op3n 0\n"), FrameError::BadCommand);
        assert_eq!(
            err(&[b"1 ".as_slice(), &[b'a'; 33], b" 0\n"].concat()),
            FrameError::BadCommand
        );
        assert_eq!(err(b"1 open x\n"), FrameError::BadDatalen);
        assert_eq!(err(b"1 open 0 \n"), FrameError::BadDatalen);
        assert_eq!(err(b"1 open 3\nabc\n"), FrameError::BadDatalen);
        assert_eq!(err(b"1 open 1234567890 "), FrameError::BadDatalen);
        assert_eq!(
            err(b"1 open 3 abcd\n"),
            FrameError::NoTrailer { datalen: 3 }
        );
        assert_eq!(err(b"1 syslog 5 abc"), FrameError::Truncated);
        assert_eq!(err(b"1 sys"), FrameError::Truncated);
    }

    #[test]
    fn transaction_numbers_must_follow_each_other() {
        let ev = |t, c, d: &[u8]| frame(t, c, d);
        let mut s = Session::new();
        assert!(matches!(
            s.on_event(ev(1, Command::Open, b"commands=syslog")),
            Step::Answer(_)
        ));
        assert!(matches!(
            s.on_event(ev(2, Command::Syslog, b"a")),
            Step::Store { .. }
        ));
        let skipped = s.on_event(ev(4, Command::Syslog, b"b"));
        assert_eq!(
            skipped,
            Step::Refuse {
                txnr: 4,
                why: Refused::TxnrSequence {
                    got: 4,
                    expected: 3
                }
            }
        );
        let mut s = Session::new();
        s.on_event(ev(7, Command::Open, b"commands=syslog"));
        s.on_event(ev(8, Command::Syslog, b"a"));
        let repeated = s.on_event(ev(8, Command::Syslog, b"a"));
        assert!(matches!(
            repeated,
            Step::Refuse {
                why: Refused::TxnrSequence { .. },
                ..
            }
        ));
        // Wrapping.
        let mut s = Session::new();
        s.on_event(ev(MAX_TXNR, Command::Open, b"commands=syslog"));
        assert!(matches!(
            s.on_event(ev(1, Command::Syslog, b"a")),
            Step::Store { .. }
        ));
        // Rules: open first, once, with syslog offered.
        let mut s = Session::new();
        let r = s.on_event(ev(1, Command::Syslog, b"a"));
        assert!(matches!(
            r,
            Step::Refuse {
                why: Refused::NotOpen,
                ..
            }
        ));
        let mut s = Session::new();
        let r = s.on_event(ev(1, Command::Open, b"relp_version=0\ncommands=foo"));
        assert!(matches!(
            r,
            Step::Refuse {
                why: Refused::BadOffers(_),
                ..
            }
        ));
        let mut s = Session::new();
        s.on_event(ev(1, Command::Open, b"commands=syslog"));
        let r = s.on_event(ev(2, Command::Other("rsp".into()), b"200 OK"));
        assert_eq!(
            r,
            Step::Refuse {
                txnr: 2,
                why: Refused::UnknownCommand("rsp".into())
            }
        );
        assert!(!Refused::UnknownCommand("x".into()).closes());
        assert_eq!(error(4, "x"), b"4 rsp 5 500 x\n");
    }

    proptest! {
        /// Any frames, cut into reads anywhere, decode to themselves.
        #[test]
        fn frames_round_trip_however_the_stream_is_cut(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..8),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                let t = i as u32 + 1;
                wire.extend(encode(t, "syslog", m));
                want.push(if m.len() > 200 {
                    Event::TooLong { txnr: t, command: Command::Syslog, len: m.len(), max: 200 }
                } else {
                    frame(t, Command::Syslog, m)
                });
            }
            let mut d = Decoder::new(200);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= wire.len() { break; }
                let end = (at + c).min(wire.len());
                buf.extend_from_slice(&wire[at..end]);
                at = end;
                while let Some(e) = d.decode(&mut buf).unwrap() {
                    got.push(e);
                }
            }
            d.finish(&buf).unwrap();
            prop_assert_eq!(got, want);
        }

        /// Arbitrary bytes never panic, and never make the decoder hold more
        /// than a header and one capped frame.
        #[test]
        fn arbitrary_bytes_are_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = Decoder::new(100);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = d.decode(&mut buf) {}
            prop_assert!(buf.capacity() <= (2 * bytes.len()).max(MAX_HEADER + MAX_CONTROL_DATA + 1));
        }
    }
}
