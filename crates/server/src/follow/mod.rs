//! Log files that `serve` follows (`files.paths`): each complete line is
//! stored (transport `file`, peer `file:/the/path`, raw = the line without
//! its newline), across rotation, and nothing is stored twice or skipped
//! across restarts and crashes.
//!
//! ```text
//! poll: read from the offset ─► lines ([`lines::Splitter`])
//!   ─► state: pending {from_seq = vault's next seq, lines, bytes}  (fsync'd)
//!   ─► vault.append, waits for the WAL's fsync
//!   ─► state: offset += bytes, pending cleared                     (fsync'd)
//! at EOF: the path names another file (rename rotation): read the rest of
//!   the old one, then the new one from 0; the file is shorter than the
//!   offset or its bytes before it changed (copytruncate): read the rest
//!   from the copy (a sibling whose bytes before the offset are the ones
//!   read last), then the truncated file from 0.
//! ```
//!
//! | crash between | at the next start |
//! |---|---|
//! | reading and the pending write | nothing stored: read again from `offset` |
//! | the pending write and the WAL's fsync | no record from `from_seq` on: read again from `offset` |
//! | the fsync and the offset's write | the batch's records are found from `from_seq` on (peer = this file); the bytes they came from are checked against them and skipped |
//!
//! A new path is read from its beginning. Limits (written in the README):
//! lines that a writer adds to a file after pramaan's last read and before
//! logrotate's copy are read from the copy; lines written between the copy
//! and the truncation are lost (logrotate's copytruncate says so itself); a
//! file truncated before pramaan read any of it leaves nothing to recognise
//! the copy by (no bytes before the offset), so it is read from its new
//! start. A rotated file that is deleted or compressed before pramaan read
//! its rest is reported, and the new file is read from 0.

pub mod lines;
pub mod state;

use bytes::Bytes;
use lines::{Piece, Splitter};
use pramaan_core::Transport;
use pramaan_vault::Vault;
use state::{Pending, Saved, StateError, StateFile};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most bytes read (and stored as one batch) at a time.
const READ_CHUNK: usize = 1024 * 1024;

/// Why following a file stopped or paused.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("storing lines of {path}: {why}")]
    Store { path: PathBuf, why: String },
}

/// What one follower is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub max_line: usize,
    pub partial_wait: Duration,
    pub poll_interval: Duration,
}

/// The file being read.
struct Open {
    file: File,
    /// Bytes read from `saved.offset` on, not yet stored.
    buf: Vec<u8>,
    /// Since when `buf` holds a line without its newline, with nothing new.
    partial_since: Option<Instant>,
    /// A rotated file: once read to its end, the path is opened afresh.
    rotated: bool,
}

/// Follows one path; runs on a blocking thread of its own.
pub struct Follower {
    path: PathBuf,
    peer: Arc<str>,
    vault: Vault,
    rt: tokio::runtime::Handle,
    state: StateFile,
    saved: Option<Saved>,
    open: Option<Open>,
    splitter: Splitter,
    settings: Settings,
    stop: watch::Receiver<bool>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FollowError + '_ {
    move |source| FollowError::Io {
        path: path.to_owned(),
        source,
    }
}

fn refused(path: &str, reason: &'static str) {
    metrics::counter!("pramaan_lines_refused_total", "transport" => "file", "source" => path.to_owned(), "reason" => reason).increment(1);
}

impl Follower {
    pub fn new(
        path: PathBuf,
        vault: Vault,
        rt: tokio::runtime::Handle,
        settings: Settings,
        stop: watch::Receiver<bool>,
    ) -> Follower {
        Follower {
            peer: Arc::from(format!("file:{}", path.display()).as_str()),
            state: StateFile::new(&settings.data_dir, &path),
            splitter: Splitter::new(settings.max_line),
            path,
            vault,
            rt,
            saved: None,
            open: None,
            settings,
            stop,
        }
    }

    /// Follows until the server stops. Errors are logged and retried.
    pub fn run(mut self) {
        let mut last_error: Option<String> = None;
        loop {
            if *self.stop.borrow() {
                return;
            }
            let step = match self.saved {
                None => self.start().map(|()| true),
                Some(_) => self.poll(),
            };
            match step {
                Ok(true) => {
                    last_error = None;
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    let text = e.to_string();
                    if last_error.as_deref() != Some(text.as_str()) {
                        tracing::warn!(path = %self.path.display(), error = %text, "following a file: retrying");
                    }
                    last_error = Some(text);
                    // Read again from the saved offset: nothing half-done is kept.
                    self.open = None;
                    self.saved = None;
                }
            }
            let mut stop = self.stop.clone();
            let wait = self.settings.poll_interval;
            self.rt.block_on(async move {
                let _ = tokio::time::timeout(wait, stop.wait_for(|s| *s)).await;
            });
        }
    }

    /// Loads the state, finishes a batch a crash interrupted, and opens the
    /// file read last (the path's file, or the rotated one it became).
    fn start(&mut self) -> Result<(), FollowError> {
        let mut saved = match self.state.load::<Saved>()? {
            Some(s) => s,
            None => {
                let Some((file, dev, ino)) = open_path(&self.path)? else {
                    return Err(FollowError::Io {
                        path: self.path.clone(),
                        source: std::io::ErrorKind::NotFound.into(),
                    });
                };
                let s = Saved::new(&self.path, dev, ino);
                self.state.save(&s)?;
                self.saved = Some(s);
                self.open = Some(Open::new(file, false));
                return Ok(());
            }
        };
        let found = find_by_inode(&self.path, saved.dev, saved.ino);
        if saved.pending.is_some() {
            self.recover(&mut saved, found.as_ref().map(|(f, _)| f))?;
        }
        self.splitter = Splitter::new(self.settings.max_line);
        match found {
            Some((file, rotated)) => {
                self.open = Some(Open::new(file, rotated));
                self.saved = Some(saved);
            }
            None => {
                tracing::warn!(path = %self.path.display(), offset = saved.offset,
                    "the file read last before the restart is gone (rotated and deleted or compressed); its unread rest cannot be stored");
                self.saved = Some(saved);
                self.reopen_path()?;
            }
        }
        Ok(())
    }

    /// A batch was pending at the crash: its records stored from
    /// `from_seq` on are found, checked against the file and skipped.
    fn recover(&mut self, saved: &mut Saved, file: Option<&File>) -> Result<(), FollowError> {
        let Some(p) = saved.pending.take() else {
            return Ok(());
        };
        let stored = self.stored_since(&p)?;
        if !stored.is_empty() {
            let mut bytes = vec![0u8; p.bytes as usize];
            let mut n = match file {
                Some(f) => read_at(f, &mut bytes, saved.offset).map_err(io(&self.path))?,
                None => 0,
            };
            if n < bytes.len() {
                // Truncated (copytruncate) since: the batch is in the copy.
                if let Some((copy, _)) = find_copy(&self.path, saved) {
                    n = read_at(&copy, &mut bytes, saved.offset).map_err(io(&self.path))?;
                }
            }
            let recs: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
            match lines::skip_stored(&bytes[..n], &recs, self.settings.max_line) {
                Some(k) => {
                    saved.advance(&bytes[..k]);
                    tracing::info!(path = %self.path.display(), lines = stored.len(), "lines stored before a crash were found in the vault and are not stored again");
                }
                None => tracing::warn!(path = %self.path.display(), lines = stored.len(),
                    "lines stored before a crash do not match the file any more; it is read again from the saved offset"),
            }
        }
        self.state.save(saved)?;
        Ok(())
    }

    /// The raw bytes of this file's records from `p.from_seq` on (at most `p.lines`).
    fn stored_since(&self, p: &Pending) -> Result<Vec<Vec<u8>>, FollowError> {
        let store_err = |e: pramaan_vault::VaultError| FollowError::Store {
            path: self.path.clone(),
            why: e.to_string(),
        };
        let mut out = Vec::new();
        let end = self.vault.committed();
        let mut from = p.from_seq;
        while from < end && (out.len() as u64) < p.lines {
            let to = (from + 50_000).min(end);
            let recs = self
                .rt
                .block_on(self.vault.records(from, to))
                .map_err(store_err)?;
            out.extend(
                recs.into_iter()
                    .filter(|r| r.transport == Transport::File && r.peer.as_str() == &*self.peer)
                    .map(|r| r.raw),
            );
            from = to;
        }
        out.truncate(p.lines as usize);
        Ok(out)
    }

    /// One look at the file: reads and stores what is new, or checks for
    /// rotation. `true` when there was something to do.
    fn poll(&mut self) -> Result<bool, FollowError> {
        if self.open.is_none() {
            return self.reopen_path();
        }
        let got = self.read_more()?;
        if got > 0 && !self.tail_intact() {
            // Truncated (and written again past the offset) before or while
            // this was read: what was read may be the new content; the
            // copy has the rest of the old.
            return self.truncated();
        }
        let stored = self.store_lines(false)?;
        if got > 0 || stored {
            return Ok(true);
        }
        // At the end of the file.
        if self.open.as_ref().is_some_and(|o| o.rotated) {
            self.store_lines(true)?;
            return self.reopen_path();
        }
        match self.rotation()? {
            Rotation::None => self.partial_due(),
            Rotation::Renamed => {
                // What the writer added since the last read, then the last line.
                while self.read_more()? > 0 {
                    self.store_lines(false)?;
                }
                self.store_lines(true)?;
                self.reopen_path()
            }
            Rotation::Truncated => self.truncated(),
        }
    }

    /// Reads up to [`READ_CHUNK`] more bytes; how many.
    fn read_more(&mut self) -> Result<usize, FollowError> {
        let (Some(o), Some(s)) = (self.open.as_mut(), self.saved.as_ref()) else {
            return Ok(0);
        };
        let at = s.offset + o.buf.len() as u64;
        let have = o.buf.len();
        o.buf.resize(have + READ_CHUNK, 0);
        let n = read_at(&o.file, &mut o.buf[have..], at).map_err(io(&self.path))?;
        o.buf.truncate(have + n);
        if n > 0 {
            o.partial_since = None;
        }
        Ok(n)
    }

    /// Stores the complete lines read (and, with `last`, a last line without
    /// its newline); `true` when bytes were consumed.
    fn store_lines(&mut self, last: bool) -> Result<bool, FollowError> {
        let Some(o) = self.open.as_mut() else {
            return Ok(false);
        };
        let source = self.path.display().to_string();
        let mut lines = Vec::new();
        let mut at = 0;
        loop {
            let next = match self.splitter.next(&o.buf[at..]) {
                None if last => self.splitter.partial(&o.buf[at..]),
                other => other,
            };
            let Some((piece, n)) = next else { break };
            match piece {
                Piece::Line(k) => lines.push(Bytes::copy_from_slice(&o.buf[at..at + k])),
                Piece::Empty => refused(&source, "empty"),
                Piece::TooLong => refused(&source, "too_long"),
                Piece::Discarded => {}
            }
            at += n;
        }
        if at == 0 {
            return Ok(false);
        }
        let consumed: Vec<u8> = o.buf.drain(..at).collect();
        self.commit(lines, &consumed)?;
        Ok(true)
    }

    /// Stores `lines`, which came from `consumed` (the file's next bytes),
    /// then moves the offset past them (see the module's crash table).
    fn commit(&mut self, lines: Vec<Bytes>, consumed: &[u8]) -> Result<(), FollowError> {
        let Some(saved) = self.saved.as_mut() else {
            return Ok(());
        };
        if !lines.is_empty() {
            saved.pending = Some(Pending {
                from_seq: self.vault.committed(),
                lines: lines.len() as u64,
                bytes: consumed.len() as u64,
            });
            self.state.save(saved)?;
            let n = lines.len() as u64;
            metrics::counter!("pramaan_lines_received_total", "transport" => "file", "source" => self.path.display().to_string()).increment(n);
            let r = self
                .rt
                .block_on(self.vault.append(Transport::File, self.peer.clone(), lines));
            if let Err(e) = r {
                return Err(FollowError::Store {
                    path: self.path.clone(),
                    why: e.to_string(),
                });
            }
        }
        saved.pending = None;
        saved.advance(consumed);
        self.state.save(saved)?;
        Ok(())
    }

    /// A last line without its newline is stored once it has waited long enough.
    fn partial_due(&mut self) -> Result<bool, FollowError> {
        let wait = self.settings.partial_wait;
        let Some(o) = self.open.as_mut() else {
            return Ok(false);
        };
        if o.buf.is_empty() {
            return Ok(false);
        }
        match o.partial_since {
            None => {
                o.partial_since = Some(Instant::now());
                Ok(false)
            }
            Some(t) if t.elapsed() >= wait => self.store_lines(true),
            Some(_) => Ok(false),
        }
    }

    /// Whether the path still names the file being read, unchanged.
    fn rotation(&self) -> Result<Rotation, FollowError> {
        let (Some(o), Some(s)) = (self.open.as_ref(), self.saved.as_ref()) else {
            return Ok(Rotation::None);
        };
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Renamed away, the new one not created yet: read the rest once it is.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Rotation::None),
            Err(e) => return Err(io(&self.path)(e)),
        };
        if (meta.dev(), meta.ino()) != (s.dev, s.ino) {
            return Ok(Rotation::Renamed);
        }
        let read = s.offset + o.buf.len() as u64;
        if meta.len() < read || !has_tail(&o.file, s) {
            return Ok(Rotation::Truncated);
        }
        Ok(Rotation::None)
    }

    /// Whether the bytes before the offset are still the ones read last.
    fn tail_intact(&self) -> bool {
        match (self.open.as_ref(), self.saved.as_ref()) {
            (Some(o), Some(s)) => has_tail(&o.file, s),
            _ => true,
        }
    }

    /// After copytruncate: the rest of the old content, then the file from 0.
    fn truncated(&mut self) -> Result<bool, FollowError> {
        self.read_rest_from_copy()?;
        self.reopen_path()
    }

    /// After copytruncate: the rest from the copy, when it is found.
    fn read_rest_from_copy(&mut self) -> Result<(), FollowError> {
        let Some(s) = self.saved.as_ref() else {
            return Ok(());
        };
        match find_copy(&self.path, s) {
            Some((copy, name)) => {
                tracing::info!(path = %self.path.display(), copy = %name.display(), "the file was truncated (copytruncate); reading its rest from the copy");
                let Some(o) = self.open.as_mut() else {
                    return Ok(());
                };
                o.file = copy;
                o.buf.clear();
                while self.read_more()? > 0 {
                    self.store_lines(false)?;
                }
                self.store_lines(true)?;
            }
            None if s.offset > 0 => {
                tracing::warn!(path = %self.path.display(), offset = s.offset, "the file was truncated and no copy of it was found; lines written after the last read may be missing");
            }
            None => {}
        }
        Ok(())
    }

    /// The path's file from its beginning (after rotation).
    fn reopen_path(&mut self) -> Result<bool, FollowError> {
        let Some((file, dev, ino)) = open_path(&self.path)? else {
            self.open = None;
            return Ok(false);
        };
        let s = Saved::new(&self.path, dev, ino);
        self.state.save(&s)?;
        self.saved = Some(s);
        self.splitter = Splitter::new(self.settings.max_line);
        self.open = Some(Open::new(file, false));
        Ok(true)
    }
}

impl Open {
    fn new(file: File, rotated: bool) -> Open {
        Open {
            file,
            buf: Vec::new(),
            partial_since: None,
            rotated,
        }
    }
}

enum Rotation {
    None,
    Renamed,
    Truncated,
}

/// `read_at` until `buf` is full or the end of the file.
fn read_at(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The path's file and its device and inode; `None` when there is none.
fn open_path(path: &Path) -> Result<Option<(File, u64, u64)>, FollowError> {
    match File::open(path) {
        Ok(f) => {
            let m = f.metadata().map_err(io(path))?;
            Ok(Some((f, m.dev(), m.ino())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// The file `(dev, ino)`: the path itself, or a sibling it was renamed to
/// (`true`: rotated).
fn find_by_inode(path: &Path, dev: u64, ino: u64) -> Option<(File, bool)> {
    let same = |p: &Path| std::fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == (dev, ino));
    if same(path) {
        return File::open(path).ok().map(|f| (f, false));
    }
    siblings(path)
        .into_iter()
        .find(|p| same(p))
        .and_then(|p| File::open(p).ok())
        .map(|f| (f, true))
}

/// Files beside `path` whose names start with its name and `.` or `-`
/// (`app.log.1`, `app.log-20261206`), not compressed ones.
fn siblings(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.len() > name.len()
                && n.starts_with(name.as_ref())
                && matches!(n.as_bytes()[name.len()], b'.' | b'-')
                && ![".gz", ".xz", ".bz2", ".zst", ".tmp"]
                    .iter()
                    .any(|x| n.ends_with(x))
        })
        .collect()
}

/// Whether the bytes of `f` before the saved offset are the ones read last.
fn has_tail(f: &File, s: &Saved) -> bool {
    if s.tail.is_empty() || s.offset < s.tail.len() as u64 {
        return true;
    }
    let mut b = vec![0u8; s.tail.len()];
    matches!(read_at(f, &mut b, s.offset - s.tail.len() as u64), Ok(n) if n == b.len())
        && b == s.tail
}

/// After copytruncate: the copy, a sibling at least `offset` long whose
/// bytes before `offset` are the last ones read (the most recent if several).
fn find_copy(path: &Path, s: &Saved) -> Option<(File, PathBuf)> {
    if s.tail.is_empty() {
        return None;
    }
    let mut best: Option<(std::time::SystemTime, File, PathBuf)> = None;
    for p in siblings(path) {
        let Ok(f) = File::open(&p) else { continue };
        let Ok(m) = f.metadata() else { continue };
        if m.len() < s.offset || !has_tail(&f, s) {
            continue;
        }
        let t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(bt, _, _)| t > *bt) {
            best = Some((t, f, p));
        }
    }
    best.map(|(_, f, p)| (f, p))
}
