//! The journal export format (systemd's `journal-export-format`), as
//! `systemd-journal-upload` sends it to `POST /upload`.
//!
//! An entry is a run of fields, each either `NAME=value\n` (text) or
//! `NAME\n` + the value's length (64-bit little-endian) + the value + `\n`
//! (binary: values holding a newline or other bytes journald does not write
//! as text); entries are separated by an empty line. A record's raw bytes
//! are one entry exactly as sent: from its first field up to and including
//! the `\n` that ends its last field (the separating empty line is not
//! part of it). Binary values are kept as they are.
//!
//! Every length is checked against what remains before it is used; a body
//! that breaks the format is refused whole, naming the entry and the byte.

use crate::attrs::{clip, MAX_PAIRS};
use crate::{extract, sd};
use pramaan_core::{EventTime, Format, ParsedFields};
use std::borrow::Cow;
use std::ops::Range;

/// Field names longer than this are refused (journald's own limit).
pub const MAX_NAME: usize = 64;

/// Why a body is not journal export format; `at` is the byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("entry {entry}: a field name at byte {at} is not 1-64 of A-Z, 0-9 and _")]
    BadName { entry: usize, at: usize },
    #[error("entry {entry}: the body ends inside a field at byte {at}")]
    Truncated { entry: usize, at: usize },
    #[error(
        "entry {entry}: binary field {name} says {len} bytes at byte {at}, past the body's end"
    )]
    Length {
        entry: usize,
        name: String,
        at: usize,
        len: u64,
    },
    #[error("entry {entry}: binary field {name} is not followed by a newline at byte {at}")]
    NoNewline {
        entry: usize,
        name: String,
        at: usize,
    },
}

/// One field of an entry: its name and value, as slices of the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// Written in the binary form.
    pub binary: bool,
}

/// The entries of `body` as byte ranges (see the module documentation).
pub fn entries(body: &[u8]) -> Result<Vec<Range<usize>>, ExportError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        // Empty lines between entries (and before the first).
        if body[pos] == b'\n' {
            pos += 1;
            continue;
        }
        let start = pos;
        let entry = out.len();
        while pos < body.len() && body[pos] != b'\n' {
            let (_, next) = field(body, pos, entry)?;
            pos = next;
        }
        out.push(start..pos);
    }
    Ok(out)
}

/// The entries of the start of a body still arriving: those ended by
/// their empty line, and where the rest (an entry not complete yet, or
/// empty lines) starts. A field cut off by the end of `buf` is not an
/// error here (more may come); [`entries`] reads the last piece once the
/// body has ended. `first` numbers the entries in errors.
pub fn complete(buf: &[u8], first: usize) -> Result<(Vec<Range<usize>>, usize), ExportError> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while buf.get(pos) == Some(&b'\n') {
            pos += 1;
        }
        let start = pos;
        loop {
            match buf.get(pos) {
                None => return Ok((out, start)),
                Some(b'\n') => break,
                Some(_) => match field(buf, pos, first + out.len()) {
                    Ok((_, next)) => pos = next,
                    Err(ExportError::Truncated { .. } | ExportError::Length { .. }) => {
                        return Ok((out, start))
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        out.push(start..pos);
    }
}

impl ExportError {
    /// The same error for a piece that starts at entry `entries` and byte `bytes` of the body.
    pub fn shifted(self, entries: usize, bytes: usize) -> ExportError {
        match self {
            ExportError::BadName { entry, at } => ExportError::BadName {
                entry: entry + entries,
                at: at + bytes,
            },
            ExportError::Truncated { entry, at } => ExportError::Truncated {
                entry: entry + entries,
                at: at + bytes,
            },
            ExportError::Length {
                entry,
                name,
                at,
                len,
            } => ExportError::Length {
                entry: entry + entries,
                name,
                at: at + bytes,
                len,
            },
            ExportError::NoNewline { entry, name, at } => ExportError::NoNewline {
                entry: entry + entries,
                name,
                at: at + bytes,
            },
        }
    }
}

/// The field at `pos` and where the next one starts.
fn field(b: &[u8], pos: usize, entry: usize) -> Result<(Field<'_>, usize), ExportError> {
    let line_end = memchr::memchr(b'\n', &b[pos..]).map(|i| pos + i);
    let eq = memchr::memchr(b'=', &b[pos..line_end.unwrap_or(b.len())]).map(|i| pos + i);
    let name_end = eq
        .or(line_end)
        .ok_or(ExportError::Truncated { entry, at: b.len() })?;
    let name = &b[pos..name_end];
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .iter()
            .all(|c| matches!(c, b'A'..=b'Z' | b'0'..=b'9' | b'_'))
    {
        return Err(ExportError::BadName { entry, at: pos });
    }
    if let Some(eq) = eq {
        let end = line_end.ok_or(ExportError::Truncated { entry, at: b.len() })?;
        let f = Field {
            name,
            value: &b[eq + 1..end],
            binary: false,
        };
        return Ok((f, end + 1));
    }
    let len_at = name_end + 1;
    let len_bytes: [u8; 8] = b
        .get(len_at..len_at + 8)
        .ok_or(ExportError::Truncated { entry, at: b.len() })?
        .try_into()
        .expect("8 bytes");
    let len = u64::from_le_bytes(len_bytes);
    let start = len_at + 8;
    let name_s = || String::from_utf8_lossy(name).into_owned();
    if len > (b.len() - start) as u64 {
        return Err(ExportError::Length {
            entry,
            name: name_s(),
            at: len_at,
            len,
        });
    }
    let end = start + len as usize;
    match b.get(end) {
        Some(b'\n') => {}
        None => return Err(ExportError::Truncated { entry, at: b.len() }),
        Some(_) => {
            return Err(ExportError::NoNewline {
                entry,
                name: name_s(),
                at: end,
            })
        }
    }
    let f = Field {
        name,
        value: &b[start..end],
        binary: true,
    };
    Ok((f, end + 1))
}

/// The fields of one entry's raw bytes.
pub fn fields_of(raw: &[u8]) -> Result<Vec<Field<'_>>, ExportError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() && raw[pos] != b'\n' {
        let (f, next) = field(raw, pos, 0)?;
        out.push(f);
        pos = next;
    }
    Ok(out)
}

fn text(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok()
}

fn num<T: std::str::FromStr>(v: &[u8]) -> Option<T> {
    text(v)?.trim().parse().ok()
}

/// The search fields of a stored entry: `MESSAGE` as the message,
/// `__REALTIME_TIMESTAMP` (µs, UTC) as the event time, `_HOSTNAME` as the
/// host, `SYSLOG_IDENTIFIER` (else `_COMM`) as the app, `SYSLOG_PID` (else
/// `_PID`) as the process id, `PRIORITY` and `SYSLOG_FACILITY` as they are;
/// every other field in `[journal NAME="value" ...]` (bounded as
/// [`crate::attrs`] says; a value that is not UTF-8 as `<N bytes>`).
/// Never fails: an entry that does not decode keeps a parse error.
pub fn fields(raw: &[u8]) -> ParsedFields {
    let mut f = ParsedFields {
        format: Format::Journal,
        message: 0..raw.len(),
        ..ParsedFields::default()
    };
    let all = match fields_of(raw) {
        Ok(a) => a,
        Err(e) => {
            f.parse_error = Some(format!("journal export entry: {e}"));
            return f;
        }
    };
    let get = |n: &str| {
        all.iter()
            .rev()
            .find(|x| x.name == n.as_bytes())
            .map(|x| x.value)
    };
    f.message = match get("MESSAGE") {
        Some(m) => {
            let s = m.as_ptr() as usize - raw.as_ptr() as usize;
            s..s + m.len()
        }
        None => 0..0,
    };
    f.event_time = get("__REALTIME_TIMESTAMP")
        .and_then(num::<i64>)
        .and_then(|us| us.checked_mul(1000))
        .map(|utc_ns| EventTime {
            utc_ns,
            offset_secs: 0,
            zone_assumed: false,
        });
    let owned = |v: Option<&[u8]>| {
        v.and_then(text)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    f.host = owned(get("_HOSTNAME"));
    f.app = owned(get("SYSLOG_IDENTIFIER")).or_else(|| owned(get("_COMM")));
    f.procid = owned(get("SYSLOG_PID")).or_else(|| owned(get("_PID")));
    f.severity = get("PRIORITY").and_then(num::<u8>).filter(|p| *p <= 7);
    f.facility = get("SYSLOG_FACILITY")
        .and_then(num::<u8>)
        .filter(|p| *p <= 23);
    let pairs: Vec<(&str, Cow<'_, str>)> = all
        .iter()
        .filter(|x| x.name != b"MESSAGE")
        .take(MAX_PAIRS)
        .map(|x| {
            let v = match text(x.value) {
                Some(t) => clip(t),
                None => format!("<{} bytes>", x.value.len()).into(),
            };
            // A name is A-Z, 0-9 and _ (`field` checked it).
            (text(x.name).unwrap_or("_"), v)
        })
        .collect();
    f.structured_data = Some(sd::element(
        "journal",
        pairs.iter().map(|(k, v)| (*k, v.as_ref())),
    ));
    let message = f.message.clone();
    extract::extract(&raw[message], &mut f);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binary(name: &str, v: &[u8]) -> Vec<u8> {
        let mut o = format!("{name}\n").into_bytes();
        o.extend_from_slice(&(v.len() as u64).to_le_bytes());
        o.extend_from_slice(v);
        o.push(b'\n');
        o
    }

    #[test]
    fn entries_are_kept_byte_exact_with_binary_fields() {
        let mut body = b"__CURSOR=s=1;i=1\n__REALTIME_TIMESTAMP=1700000000123456\n_HOSTNAME=web1\nSYSLOG_IDENTIFIER=sshd\nPRIORITY=3\nSYSLOG_FACILITY=10\n_PID=77\nMESSAGE=Failed password for root from 10.0.0.7 port 4242 ssh2\n".to_vec();
        let first_end = body.len();
        body.push(b'\n');
        let second_start = body.len();
        body.extend_from_slice(b"_HOSTNAME=web2\n");
        body.extend_from_slice(&binary("MESSAGE", b"two\nlines \x00\xff"));
        body.extend_from_slice(&binary("BLOB", &[0, 1, 2, b'\n', 0xfe]));
        let second_end = body.len();
        body.push(b'\n');
        let e = entries(&body).unwrap();
        assert_eq!(e, vec![0..first_end, second_start..second_end]);
        let f = fields(&body[e[0].clone()]);
        assert_eq!(f.parse_error, None);
        assert_eq!(f.format, Format::Journal);
        let raw = &body[e[0].clone()];
        assert_eq!(
            &raw[f.message.clone()],
            b"Failed password for root from 10.0.0.7 port 4242 ssh2"
        );
        assert_eq!(f.event_time.unwrap().utc_ns, 1_700_000_000_123_456_000);
        assert_eq!(
            (f.host.as_deref(), f.app.as_deref(), f.procid.as_deref()),
            (Some("web1"), Some("sshd"), Some("77"))
        );
        assert_eq!((f.severity, f.facility), (Some(3), Some(10)));
        assert_eq!(f.users, vec!["root".to_owned()]);
        assert_eq!(f.ports, vec![4242]);
        assert!(f
            .structured_data
            .as_deref()
            .unwrap()
            .starts_with(r#"[journal __CURSOR="s=1;i=1" __REALTIME_TIMESTAMP="1700000000123456""#));
        let raw2 = &body[e[1].clone()];
        let f = fields(raw2);
        assert_eq!(f.parse_error, None);
        assert_eq!(&raw2[f.message.clone()], b"two\nlines \x00\xff");
        assert_eq!(
            f.structured_data.unwrap(),
            r#"[journal _HOSTNAME="web2" BLOB="<5 bytes>"]"#
        );
    }

    #[test]
    fn broken_bodies_are_named_with_entry_and_byte() {
        let mut b = b"A=1\n\nMESSAGE\n".to_vec();
        b.extend_from_slice(&100u64.to_le_bytes());
        b.extend_from_slice(b"short\n");
        assert_eq!(
            entries(&b).unwrap_err().to_string(),
            "entry 1: binary field MESSAGE says 100 bytes at byte 13, past the body's end"
        );
        assert_eq!(
            entries(b"A=1\nB=2").unwrap_err(),
            ExportError::Truncated { entry: 0, at: 7 }
        );
        assert_eq!(
            entries(b"A=1\nMESSAGE\n\x01\x00").unwrap_err(),
            ExportError::Truncated { entry: 0, at: 14 }
        );
        assert_eq!(
            entries(b"a=1\n").unwrap_err(),
            ExportError::BadName { entry: 0, at: 0 }
        );
        assert_eq!(
            entries(b"=1\n").unwrap_err(),
            ExportError::BadName { entry: 0, at: 0 }
        );
        let mut nl = b"M\n".to_vec();
        nl.extend_from_slice(&1u64.to_le_bytes());
        nl.extend_from_slice(b"xy\n");
        assert!(matches!(
            entries(&nl).unwrap_err(),
            ExportError::NoNewline { at: 11, .. }
        ));
        // The length's own bytes may not run past the end either.
        assert!(entries(&u64::MAX.to_le_bytes()).is_err());
        let mut huge = b"M\n".to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            entries(&huge).unwrap_err(),
            ExportError::Length { len: u64::MAX, .. }
        ));
        assert!(fields(b"bad\n")
            .parse_error
            .unwrap()
            .starts_with("journal export entry: "));
        assert_eq!(entries(b"\n\n").unwrap(), vec![]);
    }

    #[test]
    fn a_body_arriving_in_pieces_gives_its_entries_once_complete() {
        let mut body = b"A=1\nMESSAGE=one\n\n".to_vec();
        body.extend_from_slice(&binary("MESSAGE", b"two\n\nthree"));
        body.extend_from_slice(b"\nB=2\n");
        let whole = entries(&body).unwrap();
        // Cut anywhere: the complete entries so far, then the rest read at the end.
        for cut in 0..=body.len() {
            let (done, rest) = complete(&body[..cut], 0).unwrap();
            let mut got: Vec<Range<usize>> = done.clone();
            for r in entries(&body[rest..]).unwrap() {
                got.push(r.start + rest..r.end + rest);
            }
            assert_eq!(got, whole, "cut at {cut}");
            assert!(done.iter().all(|r| r.end < cut), "cut at {cut}");
        }
        let e = complete(b"A=1\n\nb=2\n", 5).unwrap_err().shifted(10, 100);
        assert_eq!(e, ExportError::BadName { entry: 16, at: 105 });
    }

    proptest! {
        /// Entries framed into one body and cut out again decode to the fields they were made of.
        #[test]
        fn reframed_entries_decode_to_their_fields(
            entries_in in proptest::collection::vec(
                proptest::collection::vec(("[A-Z_][A-Z0-9_]{0,10}", proptest::collection::vec(any::<u8>(), 0..20), any::<bool>()), 1..6),
                1..5),
        ) {
            let mut body = Vec::new();
            let mut want = Vec::new();
            for e in &entries_in {
                let mut fs = Vec::new();
                for (n, v, bin) in e {
                    let bin = *bin || v.contains(&b'\n');
                    if bin {
                        body.extend_from_slice(&binary(n, v));
                    } else {
                        body.extend_from_slice(n.as_bytes());
                        body.push(b'=');
                        body.extend_from_slice(v);
                        body.push(b'\n');
                    }
                    fs.push((n.as_bytes().to_vec(), v.clone(), bin));
                }
                body.push(b'\n');
                want.push(fs);
            }
            let got = entries(&body).unwrap();
            prop_assert_eq!(got.len(), want.len());
            for (r, w) in got.iter().zip(&want) {
                let fs: Vec<(Vec<u8>, Vec<u8>, bool)> = fields_of(&body[r.clone()]).unwrap().into_iter()
                    .map(|f| (f.name.to_vec(), f.value.to_vec(), f.binary)).collect();
                prop_assert_eq!(&fs, w);
                prop_assert_eq!(fields(&body[r.clone()]).parse_error, None);
            }
        }
    }
}
