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
//!
//! Zeros ahead: while `wal.fsync` is on, a small batch that reaches past
//! the file's end is written with [`ZERO_AHEAD`] bytes of zeros after it
//! (fewer where the file would reach its roll size),
//! and the next small batches are written over those zeros. An
//! `fdatasync` that changes no file size flushes only the data, not the
//! inode (nor, on a journalled ext4, a journal commit): on this project's
//! test disk a write and `fdatasync` took 160 us instead of 250 us at the
//! median (BENCHMARKS.md), which a lone audit record or a shipper's small
//! batch waits for.
//! Zeros are never a frame (no record encodes to nothing), so a file's
//! frames end where a zero frame header begins and only zeros follow
//! ([`read_valid`] stops there). Zeros never reach past the size at which
//! a file rolls, so a file the log has rolled past holds none; the newest
//! is cut to its frames when the WAL is opened again.
//!
//! A failed append (a write or fsync error) is cut off its file
//! (`set_len` back to the last acknowledged frame), and the file is never
//! written again: the next append rolls to a new file (after an fsync error
//! the kernel may have dropped the file's dirty pages, so its later fsyncs
//! prove nothing). When even the cut fails, the valid length is written
//! beside the file (`<file>.cut`, synced, renamed into place) before
//! rolling, so that the torn tail of a file that is no longer the newest is
//! known for a failed append's and cut at the next open; without that mark
//! it would be corruption. If neither can be written the WAL takes nothing
//! more (every append fails, naming both errors) rather than write after
//! torn bytes.

pub use pramaan_core::frame::{encode_frame, scan_frames, zeros_from, Scan, MAX_FRAME};
use pramaan_core::{RecordRef, Transport};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The zeros written after a small batch that reaches past the file's end
/// (see the module docs); a batch this large or larger is written alone.
pub const ZERO_AHEAD: usize = 1 << 20;

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
    #[error("WAL append to {path} failed: {source}{}", match cut {
        None => String::new(),
        Some(e) => format!("; cutting the partly written batch off the file failed too ({e}), so its valid \
                            length is marked beside it and the next append goes to a new file"),
    })]
    Append {
        path: PathBuf,
        source: io::Error,
        /// Why cutting the partly written bytes off failed, if it did.
        cut: Option<String>,
    },
    #[error("WAL file {path} cannot be left after a failed append: cutting it failed ({cut}) and so did marking its valid length ({mark}); not writing after a torn frame")]
    Unsettled {
        path: PathBuf,
        cut: String,
        mark: String,
    },
    #[error("WAL sequence gap: {path} starts at {found}, expected {expected}")]
    Gap {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

impl WalError {
    /// The I/O error underneath, if any (to tell a full disk apart).
    pub fn io_source(&self) -> Option<&io::Error> {
        match self {
            WalError::Io { source, .. } | WalError::Append { source, .. } => Some(source),
            _ => None,
        }
    }
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
    /// Bytes of acknowledged frames in the current file.
    file_len: u64,
    /// The current file's length on disk: `file_len`, then zeros.
    zeroed_to: u64,
    /// [`ZERO_AHEAD`] zeros, allocated at the first use.
    zeros: Vec<u8>,
    roll_bytes: u64,
    fsync: bool,
    files: Vec<WalFile>,
    /// The last append to the current file failed: it is written no more.
    failed: Option<Failed>,
    /// Test seam: the next write fails as given.
    #[cfg(test)]
    fault: Option<Fault>,
}

/// A failed append's file.
#[derive(Clone, Copy, Debug)]
struct Failed {
    /// The file holds only whole, acknowledged frames (cut back), or its
    /// valid length is marked beside it.
    settled: bool,
}

/// An injected failure of the next write (tests only).
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
struct Fault {
    /// Bytes of the batch written before the write fails.
    written: usize,
    /// Cutting the file back fails too (this many times).
    cut_failures: u32,
    /// Marking the valid length fails too (this many times).
    mark_failures: u32,
}

/// Where the valid length of `wal_file` is kept after a failed append
/// whose bytes could not be cut off (`….wal.cut`).
pub fn cut_mark_path(wal_file: &Path) -> PathBuf {
    let mut name = wal_file.as_os_str().to_owned();
    name.push(".cut");
    PathBuf::from(name)
}

/// The valid length marked beside `wal_file`, if one is.
pub fn read_cut_mark(wal_file: &Path) -> Result<Option<u64>, WalError> {
    let mark = cut_mark_path(wal_file);
    match fs::read_to_string(&mark) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| WalError::Corrupt {
                path: mark,
                offset: 0,
                reason: format!(
                    "the mark of a failed append holds {:?}, not a length",
                    text.trim()
                ),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&mark)(e)),
    }
}

/// The bytes of `wal_file` that hold records: the whole file, or up to the
/// length a failed append marked ([`cut_mark_path`]). A mark beyond the
/// file's end is corruption.
pub fn read_valid(wal_file: &Path) -> Result<Vec<u8>, WalError> {
    let mut data = read_file(wal_file)?;
    if let Some(n) = read_cut_mark(wal_file)? {
        if n > data.len() as u64 {
            return Err(WalError::Corrupt {
                path: wal_file.to_owned(),
                offset: data.len() as u64,
                reason: format!(
                    "a failed append marked {n} bytes as valid, but the file has only {}",
                    data.len()
                ),
            });
        }
        data.truncate(n as usize);
    }
    if let Some(end) = zeros_from(&data) {
        data.truncate(end);
    }
    Ok(data)
}

/// Writes the mark of `wal_file`'s valid length: a temporary file, synced,
/// renamed into place, the directory synced.
fn write_cut_mark(dir: &Path, wal_file: &Path, valid_len: u64) -> io::Result<()> {
    let mark = cut_mark_path(wal_file);
    let mut tmp = mark.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(format!("{valid_len}\n").as_bytes())?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, &mark)?;
    File::open(dir).and_then(|d| d.sync_all())
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
            let whole = read_file(&wf.path)?.len() as u64;
            let data = read_valid(&wf.path)?;
            let marked = read_cut_mark(&wf.path)?.is_some();
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
                cut_to(&wf.path, scan.valid_len)?;
                tracing::warn!(file = %wf.path.display(), offset, reason, cut, "truncated a torn WAL tail");
                truncated.push((wf.path.clone(), whole - scan.valid_len));
            } else if !marked && whole > scan.valid_len {
                // The zeros written ahead of the frames (not a torn write).
                cut_to(&wf.path, scan.valid_len)?;
                tracing::debug!(file = %wf.path.display(), valid = scan.valid_len, zeros = whole - scan.valid_len, "cut the zeros written ahead of the frames");
            } else if marked && whole > scan.valid_len {
                // A failed append's bytes, which could not be cut then.
                cut_to(&wf.path, scan.valid_len)?;
                let cut = whole - scan.valid_len;
                tracing::warn!(file = %wf.path.display(), valid = scan.valid_len, cut, "cut the bytes a failed append left (marked at the time)");
                truncated.push((wf.path.clone(), cut));
            }
            if marked {
                let mark = cut_mark_path(&wf.path);
                fs::remove_file(&mark).map_err(io_err(&mark))?;
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
            zeroed_to: 0,
            zeros: Vec::new(),
            roll_bytes,
            fsync,
            failed: None,
            #[cfg(test)]
            fault: None,
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
        if self.failed.is_some() {
            self.roll_after_failure(first_seq)?;
        } else if self.file_len >= self.roll_bytes && first_seq != self.file_first_seq {
            self.roll(first_seq)?;
        }
        let path = self.current_path();
        let res = self.write(frames);
        if let Err(source) = res {
            // Cut what was partly written, and never write this file again
            // (the next append rolls): see the module docs.
            let cut = self.cut_back().err();
            let settled = cut.is_none() || self.mark_valid_len().is_ok();
            if let Some(e) = &cut {
                tracing::error!(file = %path.display(), error = %e, valid_len = self.file_len, "could not cut a failed WAL append off its file");
            }
            self.failed = Some(Failed { settled });
            return Err(WalError::Append {
                path,
                source,
                cut: cut.map(|e| e.to_string()),
            });
        }
        self.file_len += frames.len() as u64;
        Ok(())
    }

    /// Writes `frames` at the end of the acknowledged ones (over zeros
    /// written earlier, or with zeros after them: see the module docs),
    /// then `fdatasync`s.
    fn write(&mut self, frames: &[u8]) -> io::Result<()> {
        let end = self.file_len + frames.len() as u64;
        #[cfg(test)]
        if let Some(f) = self.fault.as_mut() {
            if f.written != usize::MAX {
                let n = f.written.min(frames.len());
                f.written = usize::MAX;
                self.file.write_all_at(&frames[..n], self.file_len)?;
                self.zeroed_to = self.zeroed_to.max(self.file_len + n as u64);
                return Err(io::Error::other("injected write failure"));
            }
        }
        self.file.write_all_at(frames, self.file_len)?;
        self.zeroed_to = self.zeroed_to.max(end);
        // Never past the size at which the file rolls.
        let ahead = (self.roll_bytes.saturating_sub(end)).min(ZERO_AHEAD as u64) as usize;
        if self.fsync && end == self.zeroed_to && frames.len() < ZERO_AHEAD && ahead > 0 {
            if self.zeros.is_empty() {
                self.zeros = vec![0; ZERO_AHEAD];
            }
            // Only an optimisation: on a disk too full for the zeros, the
            // frames are still written and synced as they would be without.
            match self.file.write_all_at(&self.zeros[..ahead], end) {
                Ok(()) => self.zeroed_to = end + ahead as u64,
                Err(e) => {
                    tracing::debug!(error = %e, "no zeros written ahead of the WAL's frames");
                    let _ = self.file.set_len(end);
                }
            }
        }
        if self.fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Cuts the current file back to its acknowledged frames.
    fn cut_back(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(f) = self.fault.as_mut() {
            if f.cut_failures > 0 {
                f.cut_failures -= 1;
                return Err(io::Error::other("injected set_len failure"));
            }
        }
        self.file.set_len(self.file_len)?;
        self.file.sync_all()?;
        self.zeroed_to = self.file_len;
        Ok(())
    }

    /// Marks the current file's valid length beside it.
    fn mark_valid_len(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(f) = self.fault.as_mut() {
            if f.mark_failures > 0 {
                f.mark_failures -= 1;
                return Err(io::Error::other("injected mark failure"));
            }
        }
        write_cut_mark(&self.dir, &self.current_path(), self.file_len)
    }

    /// After a failed append: makes sure the file's torn bytes are cut or
    /// marked, then continues in a new file starting at `first_seq`.
    fn roll_after_failure(&mut self, first_seq: u64) -> Result<(), WalError> {
        let path = self.current_path();
        let settled = self.failed.is_some_and(|f| f.settled);
        if !settled {
            if let Err(cut) = self.cut_back() {
                if let Err(mark) = self.mark_valid_len() {
                    return Err(WalError::Unsettled {
                        path,
                        cut: cut.to_string(),
                        mark: mark.to_string(),
                    });
                }
            }
            self.failed = Some(Failed { settled: true });
        }
        if first_seq == self.file_first_seq {
            // The failed file holds no acknowledged record (its first one is
            // being written again): a new file of the same name replaces it.
            if self.file_len != 0 {
                return Err(WalError::Corrupt {
                    path,
                    offset: self.file_len,
                    reason: format!(
                        "an append starting at {first_seq} after a failed one, but the file already \
                         holds records from {first_seq}"
                    ),
                });
            }
            // Gone already when an earlier try got this far.
            for p in [path.clone(), cut_mark_path(&path)] {
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&p)(e)),
                }
            }
            self.file = open_new(&self.dir, first_seq)?;
            self.zeroed_to = 0;
            sync_dir(&self.dir)?;
        } else {
            self.roll(first_seq)?;
        }
        tracing::warn!(from = %path.display(), to = %self.current_path().display(), "rolled to a new WAL file after a failed append");
        self.failed = None;
        Ok(())
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join(file_name(self.file_first_seq))
    }

    fn roll(&mut self, first_seq: u64) -> Result<(), WalError> {
        self.file = open_new(&self.dir, first_seq)?;
        self.file_first_seq = first_seq;
        self.file_len = 0;
        self.zeroed_to = 0;
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
            let _ = fs::remove_file(cut_mark_path(&f.path));
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
    // Written at explicit offsets (over the zeros ahead), so not O_APPEND.
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))
}

/// Cuts `path` to its first `len` bytes, durably.
fn cut_to(path: &Path, len: u64) -> Result<(), WalError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    f.set_len(len).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
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
        // Tear the last frame (and the zeros written ahead of it).
        let f = dir.path().join(file_name(0));
        let len = frames(0..10).len() as u64;
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

    /// A failed append whose partly written bytes could not be cut off: the
    /// valid length is marked, the retry goes to a new file, and the next
    /// open cuts the old file at the mark instead of calling it corruption.
    #[test]
    fn a_failed_append_rolls_to_a_new_file_and_its_torn_tail_is_cut_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let valid = {
            let mut r = Wal::open(dir.path(), 0, 1 << 20, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..5)).unwrap();
            let valid = r.wal.file_len;
            let left = fs::metadata(dir.path().join(file_name(0))).unwrap().len();
            assert!(left > valid, "zeros are written ahead");
            r.wal.fault = Some(Fault {
                written: 30,
                cut_failures: 1,
                mark_failures: 0,
            });
            let err = r.wal.append(5, &frames(5..10)).unwrap_err();
            assert!(
                err.to_string()
                    .contains("cutting the partly written batch off"),
                "{err}"
            );
            let old = dir.path().join(file_name(0));
            // The torn bytes are over the zeros written ahead of the frames.
            assert_eq!(fs::metadata(&old).unwrap().len(), left, "the cut failed");
            assert_eq!(read_cut_mark(&old).unwrap(), Some(valid));
            // The retry is not written after the torn bytes: a new file.
            r.wal.append(5, &frames(5..10)).unwrap();
            r.wal.append(10, &frames(10..12)).unwrap();
            assert_eq!(
                r.wal
                    .files()
                    .iter()
                    .map(|f| f.first_seq)
                    .collect::<Vec<_>>(),
                [0, 5]
            );
            assert_eq!(fs::metadata(&old).unwrap().len(), left);
            valid
        };
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 0, 1 << 20, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, (0..12).collect::<Vec<_>>());
        assert_eq!(r.next_seq, 12);
        let old = dir.path().join(file_name(0));
        assert_eq!(fs::metadata(&old).unwrap().len(), valid);
        assert!(!cut_mark_path(&old).exists());
    }

    /// When the cut works, the file is left whole and the next append still
    /// goes to a new file; when neither the cut nor the mark can be made,
    /// nothing more is written until one can.
    #[test]
    fn a_failed_append_is_never_followed_in_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = Wal::open(dir.path(), 0, 1 << 20, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..3)).unwrap();
            let valid = r.wal.file_len;
            r.wal.fault = Some(Fault {
                written: 5,
                cut_failures: 0,
                mark_failures: 0,
            });
            let err = r.wal.append(3, &frames(3..6)).unwrap_err();
            assert!(matches!(err, WalError::Append { cut: None, .. }), "{err}");
            assert_eq!(
                fs::metadata(dir.path().join(file_name(0))).unwrap().len(),
                valid
            );
            r.wal.append(3, &frames(3..6)).unwrap();
            assert_eq!(r.wal.files().last().unwrap().first_seq, 3);

            // The first append of a file fails, and so do its cut and its
            // mark, twice: the WAL refuses rather than write after torn bytes.
            r.wal.fault = Some(Fault {
                written: 7,
                cut_failures: 2,
                mark_failures: 2,
            });
            r.wal.roll(6).unwrap();
            assert!(r.wal.append(6, &frames(6..8)).is_err());
            let err = r.wal.append(6, &frames(6..8)).unwrap_err();
            assert!(matches!(err, WalError::Unsettled { .. }), "{err}");
            // Then the cut works: the file (which holds no record) is made anew.
            r.wal.append(6, &frames(6..8)).unwrap();
            assert_eq!(r.wal.files().last().unwrap().first_seq, 6);
        }
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 0, 1 << 20, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        assert!(r.truncated.is_empty());
    }

    /// A torn tail in a file that is not the newest is corruption unless a
    /// failed append marked it; with a mark it is cut (this is what the
    /// writer leaves when its cut failed, without the fault seam).
    #[test]
    fn a_torn_tail_in_an_older_file_is_accepted_only_when_marked() {
        let dir = tempfile::tempdir().unwrap();
        let valid = {
            let mut r = Wal::open(dir.path(), 0, 10, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..5)).unwrap();
            let valid = r.wal.file_len;
            r.wal.append(5, &frames(5..8)).unwrap();
            valid
        };
        let old = dir.path().join(file_name(0));
        let mut f = OpenOptions::new().append(true).open(&old).unwrap();
        f.write_all(&frames(5..6)[..11]).unwrap();
        drop(f);
        let err = Wal::open(dir.path(), 0, 10, true, |_| {}).err().unwrap();
        assert!(matches!(err, WalError::Corrupt { .. }), "{err}");
        // A mark that does not match what is valid is no excuse either.
        fs::write(cut_mark_path(&old), format!("{}\n", valid - 1)).unwrap();
        let err = Wal::open(dir.path(), 0, 10, true, |_| {}).err().unwrap();
        assert!(matches!(err, WalError::Corrupt { .. }), "{err}");
        fs::write(cut_mark_path(&old), format!("{valid}\n")).unwrap();
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 0, 10, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        assert_eq!(r.truncated, vec![(old.clone(), 11)]);
        assert_eq!(fs::metadata(&old).unwrap().len(), valid);
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

    fn file_len(dir: &Path, first_seq: u64) -> u64 {
        fs::metadata(dir.join(file_name(first_seq))).unwrap().len()
    }

    /// Small batches: the first writes zeros after itself, the next ones
    /// are written over them (no size change); reopening reads every
    /// record, reports nothing torn and cuts the zeros.
    #[test]
    fn small_batches_are_written_over_zeros_ahead_and_reopening_cuts_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut r = Wal::open(dir.path(), 0, 1 << 30, true, |_| {}).unwrap();
            r.wal.append(0, &frames(0..3)).unwrap();
            let ahead = frames(0..3).len() as u64 + ZERO_AHEAD as u64;
            assert_eq!(file_len(dir.path(), 0), ahead);
            r.wal.append(3, &frames(3..6)).unwrap();
            assert_eq!(file_len(dir.path(), 0), ahead, "written over the zeros");
            // What a reader of the running WAL sees: the frames only.
            assert_eq!(
                read_valid(&dir.path().join(file_name(0))).unwrap(),
                frames(0..6)
            );
        }
        let mut seen = Vec::new();
        let r = Wal::open(dir.path(), 0, 1 << 30, true, |rec| seen.push(rec.seq)).unwrap();
        assert_eq!(seen, (0..6).collect::<Vec<_>>());
        assert!(r.truncated.is_empty(), "{:?}", r.truncated);
        assert_eq!(file_len(dir.path(), 0), frames(0..6).len() as u64);
    }

    /// Past the zeros, a small batch writes more; a batch of ZERO_AHEAD or
    /// more is written alone; without fsync nothing is written ahead.
    #[test]
    fn zeros_are_written_ahead_only_of_small_synced_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Wal::open(dir.path(), 0, 1 << 30, true, |_| {}).unwrap();
        let big = frames(0..60_000);
        assert!(big.len() > ZERO_AHEAD);
        r.wal.append(0, &big).unwrap();
        assert_eq!(file_len(dir.path(), 0), big.len() as u64);
        r.wal.append(60_000, &frames(60_000..60_001)).unwrap();
        let ahead = (big.len() + frames(60_000..60_001).len() + ZERO_AHEAD) as u64;
        assert_eq!(file_len(dir.path(), 0), ahead);
        drop(r);

        let unsynced = tempfile::tempdir().unwrap();
        let mut r = Wal::open(unsynced.path(), 0, 1 << 30, false, |_| {}).unwrap();
        r.wal.append(0, &frames(0..3)).unwrap();
        assert_eq!(file_len(unsynced.path(), 0), frames(0..3).len() as u64);
    }

    /// Zeros never reach past the size at which a file rolls, so a file
    /// the log rolled past holds frames only.
    #[test]
    fn zeros_never_reach_past_the_roll_size() {
        let dir = tempfile::tempdir().unwrap();
        let roll = frames(0..3).len() as u64 + 100;
        let mut r = Wal::open(dir.path(), 0, roll, true, |_| {}).unwrap();
        r.wal.append(0, &frames(0..3)).unwrap();
        assert_eq!(file_len(dir.path(), 0), roll);
        r.wal.append(3, &frames(3..6)).unwrap();
        assert_eq!(file_len(dir.path(), 0), frames(0..6).len() as u64);
        r.wal.append(6, &frames(6..7)).unwrap();
        assert_eq!(r.wal.files().len(), 2);
        assert_eq!(file_len(dir.path(), 0), frames(0..6).len() as u64);
        assert_eq!(file_len(dir.path(), 6), roll);
    }

    /// A crash while a batch was written over the zeros: a torn frame, or
    /// a later page that reached the disk before the frame's header did.
    /// Both are torn tails, cut at open; nothing acknowledged is lost.
    #[test]
    fn a_batch_torn_over_the_zeros_is_cut_at_open() {
        for tear in [11usize, 0] {
            let dir = tempfile::tempdir().unwrap();
            let valid = {
                let mut r = Wal::open(dir.path(), 0, 1 << 30, true, |_| {}).unwrap();
                r.wal.append(0, &frames(0..3)).unwrap();
                r.wal.file_len
            };
            let f = OpenOptions::new()
                .write(true)
                .open(dir.path().join(file_name(0)))
                .unwrap();
            if tear > 0 {
                f.write_all_at(&frames(3..4)[..tear], valid).unwrap();
            } else {
                f.write_all_at(b"page", valid + 4096).unwrap();
            }
            drop(f);
            let mut seen = Vec::new();
            let r = Wal::open(dir.path(), 0, 1 << 30, true, |rec| seen.push(rec.seq)).unwrap();
            assert_eq!(seen, vec![0, 1, 2], "tear {tear}");
            assert_eq!(r.next_seq, 3);
            assert_eq!(r.truncated.len(), 1, "tear {tear}");
            assert_eq!(file_len(dir.path(), 0), valid);
        }
    }

    proptest::proptest! {
        /// `zeros_from` finds exactly where the frames end, whatever the
        /// bodies hold (records ending in zero bytes included) and however
        /// many zeros follow; with data after the zeros, or none, nothing.
        #[test]
        fn zeros_are_found_where_the_frames_end(
            raws in proptest::collection::vec(proptest::collection::vec(proptest::prop_oneof![proptest::strategy::Just(0u8), proptest::num::u8::ANY], 0..40), 0..8),
            zeros in 0usize..40,
            after in proptest::option::of(1u8..=255),
        ) {
            let mut data = Vec::new();
            for (i, raw) in raws.iter().enumerate() {
                encode_frame(&record(i as u64, 0, Transport::Tcp, "", raw), &mut data);
            }
            let frames_end = data.len();
            data.resize(frames_end + zeros, 0);
            match after {
                Some(b) if zeros > 0 => {
                    data.push(b);
                    proptest::prop_assert_eq!(zeros_from(&data), None);
                }
                _ if zeros == 0 => proptest::prop_assert_eq!(zeros_from(&data), None),
                _ => proptest::prop_assert_eq!(zeros_from(&data), Some(frames_end)),
            }
        }
    }
}
