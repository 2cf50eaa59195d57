//! Segments of a remote store kept on local disk, for search.
//!
//! A search reads a segment's footer, then the row groups its statistics
//! and Bloom filters leave: a handful of small ranged reads per segment.
//! Each is a round trip to an S3 server (tens of them for one search), where
//! a local disk answers from its page cache; a rare address cost 22.6 × the
//! local time over a bucket (BENCHMARKS.md). Sealed segments never change
//! (compaction writes a new key, retention deletes), so a local copy of one
//! stays right until it is deleted: this store fetches a segment whole on
//! its first read, keeps it under `<data_dir>/cache/`, serves later reads
//! from there, and drops the least recently read copies once they take
//! more than `storage.cache_size` bytes.
//!
//! The copies are for reading only. Everything that judges the evidence
//! reads the bucket itself ([`super::Objects::origin`]): `verify` (so a
//! segment altered or deleted in the bucket is named even when a good copy
//! is cached) and compaction (which must not rewrite a damaged segment from
//! a copy). Writes and deletes go to the bucket; a delete also drops the
//! copy. Keys outside `segments/` (tiles, the checkpoint, which changes)
//! are never cached.

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Suffix of a copy being written (removed at start if a crash left one).
const PARTIAL: &str = ".partial";

/// `inner` with its segments cached in `dir`, at most `max_bytes` of them.
pub struct SegmentCache {
    inner: Arc<dyn ObjectStore>,
    dir: PathBuf,
    local: LocalFileSystem,
    max_bytes: u64,
    kept: Arc<Mutex<Kept>>,
}

/// The copies on disk: size and when last read, for eviction.
#[derive(Default)]
struct Kept {
    files: HashMap<String, (u64, u64)>,
    total: u64,
    clock: u64,
}

impl fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SegmentCache({}, {})", self.inner, self.dir.display())
    }
}

impl fmt::Display for SegmentCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

fn is_segment(key: &ObjPath) -> bool {
    key.as_ref().starts_with(super::SEGMENTS) && key.as_ref().ends_with(".parquet")
}

impl SegmentCache {
    /// The cache over `inner` in `dir` (created; copies a crash left half
    /// written are removed, the others kept and counted).
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        dir: &Path,
        max_bytes: u64,
    ) -> std::io::Result<SegmentCache> {
        std::fs::create_dir_all(dir)?;
        let local = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let cache = SegmentCache {
            inner,
            dir: dir.to_owned(),
            local,
            max_bytes,
            kept: Arc::new(Mutex::new(Kept::default())),
        };
        let mut found = Vec::new();
        walk(dir, dir, &mut found)?;
        {
            let mut k = cache.kept.lock().expect("cache lock");
            for (key, size) in found {
                k.total += size;
                k.files.insert(key, (size, 0));
            }
        }
        cache.evict(None);
        Ok(cache)
    }

    fn file(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Marks `key` read now; false when no copy is kept.
    fn touch(&self, key: &str) -> bool {
        let mut k = self.kept.lock().expect("cache lock");
        k.clock += 1;
        let now = k.clock;
        match k.files.get_mut(key) {
            Some(e) => {
                e.1 = now;
                true
            }
            None => false,
        }
    }

    /// Fetches `location` whole from the store and keeps it (unless it
    /// alone is over the limit). Two searches missing the same segment at
    /// once both fetch it; the second rename replaces an identical file.
    async fn fill(&self, location: &ObjPath) -> object_store::Result<bool> {
        let data = self.inner.get(location).await?.bytes().await?;
        let size = data.len() as u64;
        if size > self.max_bytes {
            return Ok(false);
        }
        let key = location.as_ref().to_owned();
        let path = self.file(&key);
        let partial = PathBuf::from(format!("{}{PARTIAL}{}", path.display(), std::process::id()));
        let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(parent) = partial.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&partial, &data)?;
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r);
        if let Err(e) = written {
            // A cache that cannot write (disk full) only costs speed.
            tracing::warn!(error = %e, "a segment could not be cached; read from the store");
            return Ok(false);
        }
        {
            let mut k = self.kept.lock().expect("cache lock");
            k.clock += 1;
            let now = k.clock;
            if let Some((old, _)) = k.files.insert(key.clone(), (size, now)) {
                k.total -= old;
            }
            k.total += size;
        }
        self.evict(Some(&key));
        Ok(true)
    }

    /// Removes the least recently read copies until they fit (never `keep`).
    fn evict(&self, keep: Option<&str>) {
        let mut gone = Vec::new();
        {
            let mut k = self.kept.lock().expect("cache lock");
            while k.total > self.max_bytes {
                let oldest = k
                    .files
                    .iter()
                    .filter(|(key, _)| Some(key.as_str()) != keep)
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(key, _)| key.clone());
                let Some(key) = oldest else { break };
                let (size, _) = k.files.remove(&key).expect("present");
                k.total -= size;
                gone.push(key);
            }
            metrics::gauge!("pramaan_segment_cache_bytes").set(k.total as f64);
        }
        for key in gone {
            let _ = std::fs::remove_file(self.file(&key));
        }
    }

    /// Forgets and removes the copy of `key`, if any.
    pub(crate) fn drop_copy(&self, key: &str) {
        forget(&self.kept, &self.dir, key);
    }

    /// Whether a copy of the segment is kept, fetching it first when none
    /// is; false when it cannot be kept (then the store answers).
    async fn cached(&self, location: &ObjPath) -> object_store::Result<bool> {
        if self.touch(location.as_ref()) {
            metrics::counter!("pramaan_segment_cache_hits_total").increment(1);
            return Ok(true);
        }
        metrics::counter!("pramaan_segment_cache_misses_total").increment(1);
        self.fill(location).await
    }
}

/// Forgets and removes the copy of `key` in `dir`, if any.
fn forget(kept: &Mutex<Kept>, dir: &Path, key: &str) {
    let had = {
        let mut k = kept.lock().expect("cache lock");
        match k.files.remove(key) {
            Some((size, _)) => {
                k.total -= size;
                true
            }
            None => false,
        }
    };
    if had {
        let _ = std::fs::remove_file(dir.join(key));
    }
}

/// Every cached file under `dir` as (key, size); half-written ones removed.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(root, &path, out)?;
        } else if path.to_string_lossy().contains(PARTIAL) {
            let _ = std::fs::remove_file(&path);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().into_owned(), entry.metadata()?.len()));
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for SegmentCache {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        // A key is written once; should one be written again, no copy of
        // the old bytes may answer for it.
        self.drop_copy(location.as_ref());
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.drop_copy(location.as_ref());
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if is_segment(location) && self.cached(location).await? {
            match self.local.get_opts(location, options.clone()).await {
                Ok(r) => return Ok(r),
                // Evicted meanwhile, or removed by hand: the store answers.
                Err(e) => tracing::debug!(error = %e, "cached segment unreadable"),
            }
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        if is_segment(location) && self.cached(location).await? {
            if let Ok(r) = self.local.get_ranges(location, ranges).await {
                return Ok(r);
            }
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        // Drop the copy before the store deletes: a search after the
        // delete must not find the segment here.
        let (kept, dir) = (self.kept.clone(), self.dir.clone());
        let locations = locations
            .map(move |r| {
                if let Ok(p) = &r {
                    forget(&kept, &dir, p.as_ref());
                }
                r
            })
            .boxed();
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjPath>,
        offset: &ObjPath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.drop_copy(to.as_ref());
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.drop_copy(from.as_ref());
        self.drop_copy(to.as_ref());
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn seg(n: u32) -> ObjPath {
        ObjPath::from(format!("segments/2026/12/06/10/{n}-{n}.parquet"))
    }

    async fn put(store: &dyn ObjectStore, key: &ObjPath, len: usize) {
        store
            .put(key, PutPayload::from(vec![b'a' + (len % 26) as u8; len]))
            .await
            .unwrap();
    }

    async fn read(store: &dyn ObjectStore, key: &ObjPath) -> object_store::Result<Vec<u8>> {
        Ok(store.get(key).await?.bytes().await?.to_vec())
    }

    #[tokio::test]
    async fn a_segment_read_once_is_read_from_disk_after() {
        let dir = tempfile::tempdir().unwrap();
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let cache = SegmentCache::new(bucket.clone(), dir.path(), 1 << 20).unwrap();
        put(&cache, &seg(1), 1000).await;
        assert_eq!(read(&cache, &seg(1)).await.unwrap().len(), 1000);
        assert!(dir.path().join(seg(1).as_ref()).exists());
        // Gone from the bucket behind the cache's back: the copy answers,
        // ranges too; the bucket itself does not.
        bucket.delete(&seg(1)).await.unwrap();
        assert_eq!(read(&cache, &seg(1)).await.unwrap().len(), 1000);
        let parts = cache
            .get_ranges(&seg(1), &[0..10, 990..1000])
            .await
            .unwrap();
        assert_eq!((parts[0].len(), parts[1].len()), (10, 10));
        assert!(read(&*bucket, &seg(1)).await.is_err());
        // Deleted through the cache: the copy goes too.
        put(&*bucket, &seg(2), 10).await;
        read(&cache, &seg(2)).await.unwrap();
        cache.delete(&seg(2)).await.unwrap();
        assert!(!dir.path().join(seg(2).as_ref()).exists());
        assert!(matches!(
            read(&cache, &seg(2)).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn only_segments_are_cached_and_the_least_recently_read_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let cache = SegmentCache::new(bucket.clone(), dir.path(), 2500).unwrap();
        let checkpoint = ObjPath::from("checkpoint");
        put(&*bucket, &checkpoint, 10).await;
        read(&cache, &checkpoint).await.unwrap();
        assert!(!dir.path().join("checkpoint").exists());
        for n in 1..=3 {
            put(&*bucket, &seg(n), 1000).await;
        }
        read(&cache, &seg(1)).await.unwrap();
        read(&cache, &seg(2)).await.unwrap();
        read(&cache, &seg(1)).await.unwrap(); // 2 is now the least recent
        read(&cache, &seg(3)).await.unwrap(); // 3000 > 2500: 2 goes
        let kept = |n: u32| dir.path().join(seg(n).as_ref()).exists();
        assert!(kept(1) && !kept(2) && kept(3));
        // A segment larger than the whole cache is read, not kept.
        put(&*bucket, &seg(4), 3000).await;
        assert_eq!(read(&cache, &seg(4)).await.unwrap().len(), 3000);
        assert!(!kept(4) && kept(1) && kept(3));
    }

    #[tokio::test]
    async fn a_restart_counts_the_copies_and_removes_half_written_ones() {
        let dir = tempfile::tempdir().unwrap();
        let bucket: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        {
            let cache = SegmentCache::new(bucket.clone(), dir.path(), 1 << 20).unwrap();
            for n in 1..=2 {
                put(&*bucket, &seg(n), 1000).await;
                read(&cache, &seg(n)).await.unwrap();
            }
        }
        let partial = dir.path().join(format!("{}{PARTIAL}42", seg(3)));
        std::fs::write(&partial, b"half").unwrap();
        // Reopened smaller: the copies found count against the limit.
        let cache = SegmentCache::new(bucket.clone(), dir.path(), 1500).unwrap();
        assert!(!partial.exists());
        let kept = (1..=2)
            .filter(|n| dir.path().join(seg(*n).as_ref()).exists())
            .count();
        assert_eq!(kept, 1);
        assert_eq!(cache.kept.lock().unwrap().total, 1000);
    }
}
