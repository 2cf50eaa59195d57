//! The protobuf wire format, read without a schema.
//!
//! Loki's and OTLP's protobuf bodies are read field by field. A
//! length-delimited value is handed out as the exact bytes the sender wrote,
//! so a decoder can keep a sub-message (an entry, a log record) byte-exact
//! as a record's raw bytes and re-frame it ([`put_bytes`]) into a message of
//! the protocol's own schema that holds just that one event. Every length is
//! checked against what remains before it is used; nothing is allocated
//! while reading.

use std::ops::Range;

/// A field's value, by wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: a string, bytes, a sub-message or a packed repeated field.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// One field of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
}

impl<'a> Field<'a> {
    /// The value of a length-delimited field, else `None`.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value of a varint field, else `None`.
    pub fn varint(&self) -> Option<u64> {
        match self.value {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }
}

/// Why bytes are not a protobuf message. `at` is the byte offset in the
/// message being read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("protobuf: the message ends inside a field at byte {at}")]
    Truncated { at: usize },
    #[error("protobuf: a varint at byte {at} is longer than 10 bytes")]
    VarintTooLong { at: usize },
    #[error("protobuf: field number 0 at byte {at}")]
    FieldZero { at: usize },
    #[error("protobuf: wire type {wire_type} at byte {at} is not supported (groups are not)")]
    WireType { at: usize, wire_type: u8 },
    #[error("protobuf: a length of {len} bytes at byte {at} runs past the message's end")]
    Length { at: usize, len: u64 },
}

/// The fields of `buf`, in order. Stops at the first error (which it yields).
pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        buf,
        pos: 0,
        failed: false,
    }
}

/// Iterator over a message's fields; see [`fields`].
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    /// The next field and the byte range it takes (tag included).
    pub fn next_with_span(&mut self) -> Option<Result<(Field<'a>, Range<usize>), WireError>> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let r = self.read_field();
        if r.is_err() {
            self.failed = true;
        }
        Some(r.map(|f| (f, start..self.pos)))
    }

    fn read_field(&mut self) -> Result<Field<'a>, WireError> {
        let at = self.pos;
        let (tag, n) = varint(&self.buf[self.pos..], at)?;
        self.pos += n;
        let number = u32::try_from(tag >> 3).map_err(|_| WireError::FieldZero { at })?;
        if number == 0 {
            return Err(WireError::FieldZero { at });
        }
        let rest = &self.buf[self.pos..];
        let value = match (tag & 7) as u8 {
            0 => {
                let (v, n) = varint(rest, self.pos)?;
                self.pos += n;
                Value::Varint(v)
            }
            1 => {
                let b: [u8; 8] = rest
                    .get(..8)
                    .ok_or(WireError::Truncated { at: self.pos })?
                    .try_into()
                    .expect("8 bytes");
                self.pos += 8;
                Value::Fixed64(u64::from_le_bytes(b))
            }
            2 => {
                let len_at = self.pos;
                let (len, n) = varint(rest, len_at)?;
                let body = &rest[n..];
                if len > body.len() as u64 {
                    return Err(WireError::Length { at: len_at, len });
                }
                let len = len as usize;
                self.pos += n + len;
                Value::Bytes(&body[..len])
            }
            5 => {
                let b: [u8; 4] = rest
                    .get(..4)
                    .ok_or(WireError::Truncated { at: self.pos })?
                    .try_into()
                    .expect("4 bytes");
                self.pos += 4;
                Value::Fixed32(u32::from_le_bytes(b))
            }
            wire_type => return Err(WireError::WireType { at, wire_type }),
        };
        Ok(Field { number, value })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_span().map(|r| r.map(|(f, _)| f))
    }
}

/// A varint at the start of `buf` and its length in bytes; `at` is `buf`'s
/// offset in the message, for the error.
pub fn varint(buf: &[u8], at: usize) -> Result<(u64, usize), WireError> {
    let mut v = 0u64;
    for (i, b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    if buf.len() < 10 {
        Err(WireError::Truncated { at: at + buf.len() })
    } else {
        Err(WireError::VarintTooLong { at })
    }
}

/// Appends `v` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends field `number` with wire type 2 and `bytes` as its value, as is.
pub fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(number) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends field `number` with wire type 0.
pub fn put_varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    put_varint(out, u64::from(number) << 3);
    put_varint(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_with_their_spans() {
        let mut m = Vec::new();
        put_varint_field(&mut m, 1, 300);
        put_bytes(&mut m, 2, b"hello");
        m.extend_from_slice(&[0x19, 1, 0, 0, 0, 0, 0, 0, 0]); // field 3, fixed64 = 1
        m.extend_from_slice(&[0x25, 2, 0, 0, 0]); // field 4, fixed32 = 2
        put_bytes(&mut m, 5, b"");
        let mut it = fields(&m);
        let mut got = Vec::new();
        while let Some(r) = it.next_with_span() {
            got.push(r.unwrap());
        }
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].0.varint(), Some(300));
        assert_eq!(got[1].0.bytes(), Some(&b"hello"[..]));
        assert_eq!(
            &m[got[1].1.clone()],
            &[0x12, 5, b'h', b'e', b'l', b'l', b'o']
        );
        assert_eq!(got[2].0.value, Value::Fixed64(1));
        assert_eq!(got[3].0.value, Value::Fixed32(2));
        assert_eq!(got[4].0.bytes(), Some(&b""[..]));
        assert_eq!(got[4].1.end, m.len());
    }

    #[test]
    fn bad_messages_are_named_with_their_offset() {
        // A length that runs past the end (a lying length), at byte 1.
        let e = fields(&[0x12, 0x7f, b'a']).next().unwrap().unwrap_err();
        assert_eq!(e, WireError::Length { at: 1, len: 127 });
        assert!(e.to_string().contains("127 bytes at byte 1"), "{e}");
        // Ends inside a varint; field number 0; a group; an 11-byte varint.
        assert_eq!(
            fields(&[0x08, 0x80]).next().unwrap(),
            Err(WireError::Truncated { at: 2 })
        );
        assert_eq!(
            fields(&[0x00, 0x01]).next().unwrap(),
            Err(WireError::FieldZero { at: 0 })
        );
        assert_eq!(
            fields(&[0x0b]).next().unwrap(),
            Err(WireError::WireType {
                at: 0,
                wire_type: 3
            })
        );
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(
            fields(&long).next().unwrap(),
            Err(WireError::VarintTooLong { at: 1 })
        );
        // After an error the iterator ends.
        let mut it = fields(&[0x12, 0x7f]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn varints_of_every_width() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(varint(&b, 0), Ok((v, b.len())));
        }
    }
}
