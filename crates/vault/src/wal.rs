//! The write-ahead log: where a record becomes durable before it is acknowledged.
//!
//! A WAL is a directory of files named by the sequence number of their first
//! record (`00000000000000000042.wal`). Each file is a run of frames:
//!
//! ```text
//! len    u32 BE   length of the canonical record encoding
//! crc    u32 BE   CRC-32C of the canonical encoding
//! body   len bytes (pramaan_core::record, the bytes the ledger hashes)
//! ```
//!
//! Crash safety: frames are appended and `fdatasync`ed before any record in
//! them is acknowledged. A crash can leave a torn frame only at the end of the
//! newest file; [`Wal::open`] truncates it there. A bad frame anywhere else is
//! corruption and is reported with its file and offset, never skipped.
//! Files are deleted only when every record in them is in a sealed segment
//! recorded in the catalog.

use pramaan_core::{RecordRef, Transport};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const FRAME_HEAD: usize = 8;
/// Larger frames cannot be written (records are capped far below this).
pub const MAX_FRAME: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("WAL file {path} is corrupt at byte {offset}: {reason} (not at the end of the newest file, so it is not a torn write; refusing to guess)")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("WAL sequence gap: {path} starts at {found}, expected {expected}")]
    Gap {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One WAL file on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalFile {
    pub first_seq: u64,
    pub path: PathBuf,
}

/// Appends frames to the newest WAL file and rolls files by size.
pub struct Wal {
    dir: PathBuf,
    file: File,
    file_first_seq: u64,
    file_len: u64,
    roll_bytes: u64,
    fsync: bool,
    files: Vec<WalFile>,
}

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

pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

/// WAL files in `dir`, oldest first.
pub fn list_files(dir: &Path) -> Result<Vec<WalFile>, WalError> {
    let mut files = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for ent in rd {
        let ent = ent.map_err(io_err(dir))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if let Ok(first_seq) = stem.parse::<u64>() {
            files.push(WalFile {
                first_seq,
                path: ent.path(),
            });
        }
    }
    files.sort_by_key(|f| f.first_seq);
    Ok(files)
}

/// Reads a whole WAL file.
pub fn read_file(path: &Path) -> Result<Vec<u8>, WalError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(io_err(path))?;
    Ok(data)
}

/// Records found by [`Wal::open`], for the caller to re-index.
pub struct Recovered {
    pub wal: Wal,
    /// Next sequence number to assign.
    pub next_seq: u64,
    /// Files truncated because of a torn tail: (path, bytes cut).
    pub truncated: Vec<(PathBuf, u64)>,
}

impl Wal {
    /// Opens the WAL in `dir`, calling `on_record` for every record with
    /// `seq >= from_seq` in order, and truncating a torn tail. `start_seq` is
    /// the next sequence number when the WAL is empty (the catalog knows it).
    pub fn open(
        dir: &Path,
        start_seq: u64,
        roll_bytes: u64,
        fsync: bool,
        mut on_record: impl FnMut(RecordRef<'_>),
    ) -> Result<Recovered, WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let files = list_files(dir)?;
        let mut truncated = Vec::new();
        let last_idx = files.len().checked_sub(1);
        // Continuity follows the files themselves; the catalog's mark only
        // decides which records are handed back (sealed ones are not).
        let mut prev_end: Option<u64> = None;
        for (i, wf) in files.iter().enumerate() {
            if let Some(end) = prev_end {
                if wf.first_seq != end {
                    return Err(WalError::Gap {
                        path: wf.path.clone(),
                        expected: end,
                        found: wf.first_seq,
                    });
                }
            }
            let data = read_file(&wf.path)?;
            let is_last = Some(i) == last_idx;
            let mut expected = wf.first_seq;
            let scan = scan_frames(&data, |_, rec| {
                if rec.seq != expected {
                    return Err(format!(
                        "sequence {} where {} was expected",
                        rec.seq, expected
                    ));
                }
                expected += 1;
                if rec.seq >= start_seq {
                    on_record(rec);
                }
                Ok(())
            });
            if let Some((offset, reason)) = scan.stopped {
                if !is_last {
                    return Err(WalError::Corrupt {
                        path: wf.path.clone(),
                        offset,
                        reason,
                    });
                }
                let cut = data.len() as u64 - scan.valid_len;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&wf.path)
                    .map_err(io_err(&wf.path))?;
                f.set_len(scan.valid_len).map_err(io_err(&wf.path))?;
                f.sync_all().map_err(io_err(&wf.path))?;
                tracing::warn!(file = %wf.path.display(), offset, reason, cut, "truncated a torn WAL tail");
                truncated.push((wf.path.clone(), cut));
            }
            prev_end = Some(expected);
        }
        if let (Some(first), Some(end)) = (files.first(), prev_end) {
            // Records between the catalog's mark and the WAL's start would be lost records.
            if first.first_seq > start_seq && end > start_seq {
                return Err(WalError::Gap {
                    path: first.path.clone(),
                    expected: start_seq,
                    found: first.first_seq,
                });
            }
        }
        let next_seq = prev_end.map_or(start_seq, |e| e.max(start_seq));
        // Always start a fresh file: appending after a truncation point is fine,
        // but a new file keeps "only the newest file may be torn" simple to check.
        let mut wal = Wal {
            dir: dir.to_owned(),
            file: open_new(dir, next_seq)?,
            file_first_seq: next_seq,
            file_len: 0,
            roll_bytes,
            fsync,
            files: files
                .into_iter()
                .filter(|f| f.first_seq != next_seq)
                .collect(),
        };
        wal.files.push(WalFile {
            first_seq: next_seq,
            path: dir.join(file_name(next_seq)),
        });
        sync_dir(dir)?;
        Ok(Recovered {
            wal,
            next_seq,
            truncated,
        })
    }

    /// Appends already framed bytes holding records starting at `first_seq`,
    /// then makes them durable. Rolls to a new file first when the current one is full.
    pub fn append(&mut self, first_seq: u64, frames: &[u8]) -> Result<(), WalError> {
        if self.file_len >= self.roll_bytes && first_seq != self.file_first_seq {
            self.roll(first_seq)?;
        }
        let path = self.current_path();
        let res = self.file.write_all(frames).and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = res {
            // Cut what was partly written, so that the next append does not
            // follow a torn frame in the middle of the file.
            let _ = self.file.set_len(self.file_len);
            return Err(io_err(&path)(e));
        }
        self.file_len += frames.len() as u64;
        Ok(())
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join(file_name(self.file_first_seq))
    }

    fn roll(&mut self, first_seq: u64) -> Result<(), WalError> {
        self.file = open_new(&self.dir, first_seq)?;
        self.file_first_seq = first_seq;
        self.file_len = 0;
        self.files.push(WalFile {
            first_seq,
            path: self.dir.join(file_name(first_seq)),
        });
        sync_dir(&self.dir)
    }

    /// Deletes files whose every record has `seq <= sealed_through`.
    /// The file currently written to is never deleted.
    pub fn release_through(&mut self, sealed_through: u64) -> Result<usize, WalError> {
        let mut removed = 0;
        while self.files.len() > 1 && self.files[1].first_seq <= sealed_through + 1 {
            let f = self.files.remove(0);
            fs::remove_file(&f.path).map_err(io_err(&f.path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    pub fn files(&self) -> &[WalFile] {
        &self.files
    }
}

fn open_new(dir: &Path, first_seq: u64) -> Result<File, WalError> {
    let path = dir.join(file_name(first_seq));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Builds a record view for framing.
pub fn record<'a>(
    seq: u64,
    received_at_ns: i64,
    transport: Transport,
    peer: &'a str,
    raw: &'a [u8],
) -> RecordRef<'a> {
    RecordRef {
        seq,
        received_at_ns,
        transport,
        peer,
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(seqs: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for s in seqs {
            encode_frame(
                &record(
                    s,
                    s as i64,
                    Transport::Tcp,
                    "p",
                    format!("line {s}").as_bytes(),
                ),
                &mut out,
            );
        }
        out
    }

    #[test]
    fn replays_and_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = Wal::open(dir.path(), 0, 1 << 20, true, |_| {}).unwrap();
            assert_eq!(r.next_seq, 0);
            r.wal.append(0, &frames(0..10)).unwrap();
        }
        // Tear the last frame.
        let f = dir.path().join(file_name(0));
        let len = fs::metadata(&f).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 0, 1 << 20, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, (0..9).collect::<Vec<_>>());
        assert_eq!(r.next_seq, 9);
        assert_eq!(r.truncated.len(), 1);
    }

    #[test]
    fn corruption_in_an_older_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = Wal::open(dir.path(), 0, 10, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..5)).unwrap();
            r.wal.append(5, &frames(5..8)).unwrap();
        }
        let f = dir.path().join(file_name(0));
        let mut data = fs::read(&f).unwrap();
        data[20] ^= 0xff;
        fs::write(&f, data).unwrap();
        let err = Wal::open(dir.path(), 0, 10, true, |_| {}).err().unwrap();
        assert!(matches!(err, WalError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("00000000000000000000.wal"));
    }

    #[test]
    fn reopens_when_sealed_files_remain_before_the_catalog_mark() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = Wal::open(dir.path(), 0, 10, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..5)).unwrap();
            r.wal.append(5, &frames(5..8)).unwrap();
            r.wal.append(8, &frames(8..12)).unwrap();
        }
        // The catalog has sealed through 9: records 10 and 11 are handed back.
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 10, 10, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, vec![10, 11]);
        assert_eq!(r.next_seq, 12);
        // Everything sealed and the WAL files gone: numbering continues from the mark.
        let empty = tempfile::tempdir().unwrap();
        let r = Wal::open(empty.path(), 12, 10, true, |_| {}).unwrap();
        assert_eq!(r.next_seq, 12);
    }

    #[test]
    fn a_missing_wal_file_is_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = Wal::open(dir.path(), 0, 10, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..5)).unwrap();
            r.wal.append(5, &frames(5..8)).unwrap();
            r.wal.append(8, &frames(8..12)).unwrap();
        }
        fs::remove_file(dir.path().join(file_name(5))).unwrap();
        let err = Wal::open(dir.path(), 0, 10, true, |_| {}).err().unwrap();
        assert!(
            matches!(
                err,
                WalError::Gap {
                    expected: 5,
                    found: 8,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn releases_sealed_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Wal::open(dir.path(), 0, 10, true, |_| {}).unwrap();
        r.wal.append(0, &frames(0..5)).unwrap();
        r.wal.append(5, &frames(5..8)).unwrap();
        r.wal.append(8, &frames(8..9)).unwrap();
        assert_eq!(r.wal.files().len(), 3);
        assert_eq!(r.wal.release_through(4).unwrap(), 1);
        assert_eq!(r.wal.release_through(6).unwrap(), 0);
        assert_eq!(r.wal.release_through(100).unwrap(), 1);
        drop(r);
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 8, 10, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, vec![8]);
        assert_eq!(r.next_seq, 9);
    }
}
