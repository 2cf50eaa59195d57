//! Where a followed file was read up to, kept durably in
//! `<data_dir>/follow/<hash of the path>.json`: written whole to a temporary
//! file, fsync'd, renamed over the old one, and the directory fsync'd, so
//! that a crash leaves either the old state or the new one, never a torn one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many of the last bytes read are kept to recognise the file again.
pub const TAIL: usize = 64;

/// A batch being stored: written before it is appended, cleared once it
/// is durable and `offset` is past it. Found at start, it says a crash came
/// in between: its records (if any were stored) are found in the vault from
/// `from_seq` on, and the bytes they came from are skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The vault's next sequence number before the batch was appended.
    pub from_seq: u64,
    /// Lines in the batch.
    pub lines: u64,
    /// Bytes of the file the batch covers, from `offset`.
    pub bytes: u64,
}

/// One followed file's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The path followed.
    pub path: PathBuf,
    /// The device and inode of the file read (after a rename, not the path's).
    pub dev: u64,
    pub ino: u64,
    /// Every byte before it is stored (or refused and counted).
    pub offset: u64,
    /// The last bytes before `offset` (at most [`TAIL`]): after copytruncate,
    /// the copy is the file whose bytes before `offset` are these.
    pub tail: Vec<u8>,
    pub pending: Option<Pending>,
}

impl Saved {
    pub fn new(path: &Path, dev: u64, ino: u64) -> Saved {
        Saved {
            path: path.to_owned(),
            dev,
            ino,
            offset: 0,
            tail: Vec::new(),
            pending: None,
        }
    }

    /// `bytes` (the file's next bytes) are stored: `offset` moves past them.
    pub fn advance(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        let keep = TAIL.saturating_sub(bytes.len()).min(self.tail.len());
        self.tail.drain(..self.tail.len() - keep);
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL)..]);
    }
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a state file pramaan wrote ({source}); move it away to start over (a followed file from its beginning, WireGuard from every peer)")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The state file of one followed path.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(data_dir: &Path, followed: &Path) -> StateFile {
        let h = Sha256::digest(followed.as_os_str().as_encoded_bytes());
        StateFile {
            path: data_dir
                .join("follow")
                .join(format!("{}.json", hex::encode(&h[..8]))),
        }
    }

    /// A state file at `path` (the WireGuard poller's peers).
    pub fn at(path: PathBuf) -> StateFile {
        StateFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The saved state; `None` when the path was never followed.
    pub fn load<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, StateError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| StateError::Corrupt {
                    path: self.path.clone(),
                    source,
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Replaces the saved state, durably (see the module's comment).
    pub fn save<T: serde::Serialize>(&self, s: &T) -> Result<(), StateError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(s).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&body).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_round_trips_and_keeps_the_last_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path(), Path::new("/var/log/app.log"));
        assert!(f.load::<Saved>().unwrap().is_none());
        let mut s = Saved::new(Path::new("/var/log/app.log"), 1, 2);
        s.advance(b"first line\n");
        assert_eq!(s.tail, b"first line\n");
        s.advance(&[b'x'; 100]);
        assert_eq!(s.tail, vec![b'x'; TAIL]);
        s.advance(b"end\n");
        assert_eq!(s.tail.len(), TAIL);
        assert!(s.tail.ends_with(b"xend\n"));
        assert_eq!(s.offset, 115);
        s.pending = Some(Pending {
            from_seq: 7,
            lines: 2,
            bytes: 10,
        });
        f.save(&s).unwrap();
        assert_eq!(f.load().unwrap(), Some(s));
        assert!(!f.path().with_extension("json.tmp").exists());
        std::fs::write(f.path(), b"{").unwrap();
        let e = f.load::<Saved>().unwrap_err().to_string();
        assert!(e.contains("move it away"), "{e}");
    }
}
