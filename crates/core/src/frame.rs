//! The WAL's frame: `len: u32 BE | crc32c(body): u32 BE | body`, the body
//! a [`RecordRef`]'s encoding. Here, apart from the WAL's files, so that the
//! decoder can be fuzzed without the vault (`fuzz/fuzz_targets/wal_frames.rs`).

use crate::RecordRef;

/// Bytes before each frame's body: its length and CRC-32C.
pub const FRAME_HEAD: usize = 8;
/// Larger frames cannot be written (records are capped far below this).
pub const MAX_FRAME: usize = 64 << 20;

/// Frame one record into `out`.
pub fn encode_frame(rec: &RecordRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEAD]);
    rec.encode_into(out);
    let body = &out[start + FRAME_HEAD..];
    let len = body.len() as u32;
    let crc = crc32c::crc32c(body);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// What one file holds, as a scan found it.
pub struct Scan {
    /// Bytes of valid frames from the start of the file.
    pub valid_len: u64,
    /// Why scanning stopped before the end, if it did.
    pub stopped: Option<(u64, String)>,
}

/// Reads every valid frame of `data`, calling `f` for each decoded record.
pub fn scan_frames<'a>(
    data: &'a [u8],
    mut f: impl FnMut(u64, RecordRef<'a>) -> Result<(), String>,
) -> Scan {
    let mut off = 0usize;
    while off < data.len() {
        if data.len() - off < FRAME_HEAD {
            return stop(off, "torn frame header");
        }
        let len = u32::from_be_bytes(data[off..off + 4].try_into().expect("4")) as usize;
        let crc = u32::from_be_bytes(data[off + 4..off + 8].try_into().expect("4"));
        if len > MAX_FRAME {
            return stop(off, &format!("frame length {len} exceeds {MAX_FRAME}"));
        }
        let body_start = off + FRAME_HEAD;
        if data.len() - body_start < len {
            return stop(off, "torn frame body");
        }
        let body = &data[body_start..body_start + len];
        if crc32c::crc32c(body) != crc {
            return stop(off, "CRC-32C mismatch");
        }
        let rec = match RecordRef::decode(body) {
            Ok(r) => r,
            Err(e) => return stop(off, &e.to_string()),
        };
        if let Err(e) = f(off as u64, rec) {
            return stop(off, &e);
        }
        off = body_start + len;
    }
    Scan {
        valid_len: off as u64,
        stopped: None,
    }
}

fn stop(off: usize, why: &str) -> Scan {
    Scan {
        valid_len: off as u64,
        stopped: Some((off as u64, why.to_owned())),
    }
}

/// Where the zeros written ahead of the frames begin, if `data` ends in
/// them: the first frame header of eight zero bytes (or shorter zero rest)
/// with only zeros after it. Walks the frames' lengths only; a frame whose
/// body ends in zero bytes is not mistaken for them.
pub fn zeros_from(data: &[u8]) -> Option<usize> {
    let mut off = 0usize;
    while off < data.len() {
        let head = &data[off..data.len().min(off + FRAME_HEAD)];
        if head.iter().all(|&b| b == 0) {
            return data[off..].iter().all(|&b| b == 0).then_some(off);
        }
        if head.len() < FRAME_HEAD {
            return None;
        }
        let len = u32::from_be_bytes(head[..4].try_into().expect("4")) as usize;
        off = off.checked_add(FRAME_HEAD + len)?;
    }
    None
}
