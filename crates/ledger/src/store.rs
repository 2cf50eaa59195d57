//! [`TileStore`]s for tests and tools: in memory, and in a directory laid out
//! exactly like the C2SP URL space (so it can be served as static files).

use crate::{LedgerError, TileStore};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Tiles in a map, behind a mutex.
#[derive(Debug, Default)]
pub struct MemStore {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Stored paths, sorted.
    pub fn paths(&self) -> Vec<String> {
        self.objects
            .lock()
            .expect("store lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.objects.lock().expect("store lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the sizes of all stored objects.
    pub fn total_bytes(&self) -> u64 {
        let objects = self.objects.lock().expect("store lock");
        objects.values().map(|v| v.len() as u64).sum()
    }
}

impl TileStore for MemStore {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.objects.lock().expect("store lock").get(path).cloned())
    }

    fn put(&self, path: &str, data: &[u8]) -> Result<(), LedgerError> {
        self.objects
            .lock()
            .expect("store lock")
            .insert(path.to_owned(), data.to_vec());
        Ok(())
    }

    fn delete(&self, path: &str) -> Result<(), LedgerError> {
        self.objects.lock().expect("store lock").remove(path);
        Ok(())
    }
}

/// Tiles as files under a root directory: `tile/1/x001/234.p/17` is the file
/// `<root>/tile/1/x001/234.p/17`. Writes go to a temporary file that is synced
/// and renamed into place, so readers never see a torn tile.
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DirStore {
    /// Uses (and creates if needed) `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<DirStore, LedgerError> {
        let root = root.into();
        fs::create_dir_all(&root)
            .map_err(|e| LedgerError::backend(format!("create {}", root.display()), e))?;
        Ok(DirStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a store path to a file, refusing anything that could escape the
    /// root (absolute paths, `..`, empty components).
    fn file(&self, path: &str) -> Result<PathBuf, LedgerError> {
        let ok = !path.is_empty()
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'))
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
            && Path::new(path)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !ok {
            return Err(LedgerError::InvalidArgument(format!(
                "unsafe store path {path:?}"
            )));
        }
        Ok(self.root.join(path))
    }
}

impl TileStore for DirStore {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let file = self.file(path)?;
        match fs::read(&file) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            // A path whose "directory" is a file (e.g. `tile/1/000.p` when
            // asked for `tile/1/000.p/17`) cannot exist either.
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(None),
            Err(e) => Err(LedgerError::backend(format!("read {}", file.display()), e)),
        }
    }

    fn put(&self, path: &str, data: &[u8]) -> Result<(), LedgerError> {
        let file = self.file(path)?;
        let dir = file.parent().expect("joined path has a parent");
        let ctx = |what: &str| format!("{what} {}", file.display());
        fs::create_dir_all(dir)
            .map_err(|e| LedgerError::backend(ctx("create directory for"), e))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{}",
            file.file_name().and_then(|n| n.to_str()).unwrap_or("tile"),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &file)?;
            // Make the rename durable; not every platform can sync a directory.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            LedgerError::backend(ctx("write"), e)
        })
    }

    fn delete(&self, path: &str) -> Result<(), LedgerError> {
        let file = self.file(path)?;
        match fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LedgerError::backend(
                format!("delete {}", file.display()),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path()).unwrap();
        assert_eq!(store.get("tile/1/000").unwrap(), None);
        store.put("tile/1/x001/234.p/17", b"abc").unwrap();
        assert_eq!(
            store.get("tile/1/x001/234.p/17").unwrap(),
            Some(b"abc".to_vec())
        );
        store.put("tile/1/x001/234.p/17", b"abcd").unwrap();
        assert_eq!(
            store.get("tile/1/x001/234.p/17").unwrap(),
            Some(b"abcd".to_vec())
        );
        store.put("tile/1/x001/234", b"full").unwrap();
        assert_eq!(
            store.get("tile/1/x001/234").unwrap(),
            Some(b"full".to_vec())
        );
        store.delete("tile/1/x001/234.p/17").unwrap();
        store.delete("tile/1/x001/234.p/17").unwrap();
        assert_eq!(store.get("tile/1/x001/234.p/17").unwrap(), None);
        assert!(dir.path().join("tile/1/x001/234").is_file());
        // No temporary files left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("tile/1/x001"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn dir_store_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path()).unwrap();
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "tile/../../x",
            "tile//0",
            "tile/./0",
            "a\\b",
        ] {
            assert!(store.put(bad, b"x").is_err(), "{bad:?}");
            assert!(store.get(bad).is_err(), "{bad:?}");
        }
    }
}
