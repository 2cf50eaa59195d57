//! The stored record and its canonical encoding.
//!
//! The canonical encoding is what the write-ahead log stores and what the
//! ledger hashes (`SHA-256(0x00 || canonical)`, an RFC 6962 leaf). It is fixed
//! and documented in `docs/record-encoding.md`; changing it breaks every proof
//! ever issued, so it carries a version byte.
//!
//! ```text
//! version      u8      = 1
//! seq          u64 BE  sequence number, from 0, dense
//! received_at  i64 BE  nanoseconds since 1970-01-01T00:00:00Z
//! transport    u8      see [`Transport`]
//! peer_len     u16 BE
//! peer         peer_len bytes, UTF-8 ("127.0.0.1:40312", "file:/var/log/x")
//! raw_len      u32 BE
//! raw          raw_len bytes, exactly as received
//! ```

use sha2::{Digest, Sha256};
use std::fmt;

/// Version byte at the head of every canonical encoding.
pub const CANONICAL_VERSION: u8 = 1;
const FIXED_LEN: usize = 1 + 8 + 8 + 1 + 2 + 4;

/// How a record reached pramaan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Transport {
    Udp = 1,
    Tcp = 2,
    Tls = 3,
    Http = 4,
    File = 5,
    /// Records pramaan writes about itself (audit, deletions, clock status).
    Internal = 6,
}

impl Transport {
    pub const ALL: [Transport; 6] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Http,
        Transport::File,
        Transport::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Http => "http",
            Transport::File => "file",
            Transport::Internal => "internal",
        }
    }

    pub fn from_code(code: u8) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| *t as u8 == code)
    }

    pub fn parse(s: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored log line with its provenance. `raw` is never altered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub received_at_ns: i64,
    pub transport: Transport,
    pub peer: String,
    pub raw: Vec<u8>,
}

/// A borrowed view of a record, as decoded from a WAL buffer without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub seq: u64,
    pub received_at_ns: i64,
    pub transport: Transport,
    pub peer: &'a str,
    pub raw: &'a [u8],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record encoding too short: {0} bytes")]
    Truncated(usize),
    #[error("unknown record encoding version {0}")]
    Version(u8),
    #[error("unknown transport code {0}")]
    Transport(u8),
    #[error("peer is not UTF-8")]
    Peer,
    #[error("length fields disagree with the buffer: expected {expected} bytes, have {actual}")]
    Length { expected: usize, actual: usize },
}

impl Record {
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            seq: self.seq,
            received_at_ns: self.received_at_ns,
            transport: self.transport,
            peer: &self.peer,
            raw: &self.raw,
        }
    }
}

impl<'a> RecordRef<'a> {
    pub fn to_owned(self) -> Record {
        Record {
            seq: self.seq,
            received_at_ns: self.received_at_ns,
            transport: self.transport,
            peer: self.peer.to_owned(),
            raw: self.raw.to_vec(),
        }
    }

    /// Length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + self.peer.len().min(u16::MAX as usize) + self.raw.len()
    }

    /// Appends the canonical encoding to `out`. Peers longer than 65535 bytes
    /// are cut (they are addresses; callers keep them short).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let peer = truncate_utf8(self.peer, u16::MAX as usize);
        out.reserve(FIXED_LEN + peer.len() + self.raw.len());
        out.push(CANONICAL_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.received_at_ns.to_be_bytes());
        out.push(self.transport as u8);
        out.extend_from_slice(&(peer.len() as u16).to_be_bytes());
        out.extend_from_slice(peer.as_bytes());
        out.extend_from_slice(&(self.raw.len() as u32).to_be_bytes());
        out.extend_from_slice(self.raw);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut v);
        v
    }

    /// Decodes exactly one canonical encoding occupying all of `buf`.
    pub fn decode(buf: &'a [u8]) -> Result<RecordRef<'a>, DecodeError> {
        if buf.len() < FIXED_LEN {
            return Err(DecodeError::Truncated(buf.len()));
        }
        if buf[0] != CANONICAL_VERSION {
            return Err(DecodeError::Version(buf[0]));
        }
        let seq = u64::from_be_bytes(buf[1..9].try_into().expect("8 bytes"));
        let received_at_ns = i64::from_be_bytes(buf[9..17].try_into().expect("8 bytes"));
        let transport = Transport::from_code(buf[17]).ok_or(DecodeError::Transport(buf[17]))?;
        let peer_len = u16::from_be_bytes([buf[18], buf[19]]) as usize;
        let peer_end = 20 + peer_len;
        if buf.len() < peer_end + 4 {
            return Err(DecodeError::Length {
                expected: peer_end + 4,
                actual: buf.len(),
            });
        }
        let peer = std::str::from_utf8(&buf[20..peer_end]).map_err(|_| DecodeError::Peer)?;
        let raw_len =
            u32::from_be_bytes(buf[peer_end..peer_end + 4].try_into().expect("4 bytes")) as usize;
        let raw_start = peer_end + 4;
        if buf.len() != raw_start + raw_len {
            return Err(DecodeError::Length {
                expected: raw_start + raw_len,
                actual: buf.len(),
            });
        }
        Ok(RecordRef {
            seq,
            received_at_ns,
            transport,
            peer,
            raw: &buf[raw_start..],
        })
    }

    /// The RFC 6962 leaf hash of this record.
    pub fn leaf_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0u8]);
        let mut head = [0u8; 20];
        head[0] = CANONICAL_VERSION;
        head[1..9].copy_from_slice(&self.seq.to_be_bytes());
        head[9..17].copy_from_slice(&self.received_at_ns.to_be_bytes());
        head[17] = self.transport as u8;
        let peer = truncate_utf8(self.peer, u16::MAX as usize);
        head[18..20].copy_from_slice(&(peer.len() as u16).to_be_bytes());
        h.update(head);
        h.update(peer.as_bytes());
        h.update((self.raw.len() as u32).to_be_bytes());
        h.update(self.raw);
        h.finalize().into()
    }
}

/// RFC 6962 leaf hash of an already encoded record: `SHA-256(0x00 || canonical)`.
pub fn leaf_hash(canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(canonical);
    h.finalize().into()
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn transport() -> impl Strategy<Value = Transport> {
        proptest::sample::select(Transport::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn encoding_round_trips(seq: u64, at: i64, t in transport(), peer in ".{0,40}", raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let rec = Record { seq, received_at_ns: at, transport: t, peer, raw };
            let enc = rec.as_ref().encode();
            prop_assert_eq!(enc.len(), rec.as_ref().encoded_len());
            let back = RecordRef::decode(&enc).unwrap();
            prop_assert_eq!(back.to_owned(), rec.clone());
            prop_assert_eq!(rec.as_ref().leaf_hash(), leaf_hash(&enc));
        }

        #[test]
        fn truncated_encodings_are_refused(raw in proptest::collection::vec(any::<u8>(), 0..50), cut in 1usize..20) {
            let rec = Record { seq: 1, received_at_ns: 2, transport: Transport::Tcp, peer: "p".into(), raw };
            let enc = rec.as_ref().encode();
            let cut = cut.min(enc.len());
            prop_assert!(RecordRef::decode(&enc[..enc.len() - cut]).is_err());
        }
    }

    #[test]
    fn known_encoding() {
        let rec = Record {
            seq: 7,
            received_at_ns: 1_000,
            transport: Transport::Udp,
            peer: "a".into(),
            raw: b"hi".to_vec(),
        };
        assert_eq!(
            rec.as_ref().encode(),
            [
                1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 3, 232, 1, 0, 1, b'a', 0, 0, 0, 2,
                b'h', b'i'
            ]
        );
    }
}
