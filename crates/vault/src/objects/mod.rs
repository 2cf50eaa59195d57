//! Where sealed evidence lives: one object store for segments, ledger tiles
//! and checkpoints, built in one place ([`Objects::open`]) from
//! `storage.url`: a local directory ([`local::DurableLocal`]) or a bucket
//! of an S3-compatible store ([`s3`]).
//!
//! # Layout (keys in the store)
//!
//! | key | what | written by |
//! |---|---|---|
//! | `segments/YYYY/MM/DD/HH/<seq_min>-<seq_max>.parquet` | a sealed segment (`.zN` before `.parquet` once compacted at zstd level N) | the sealer, compaction; deleted by retention |
//! | `tile/<L>/<N>` and `tile/<L>/<N>.p/<W>` | ledger tiles of level ≥ 1 (C2SP paths; level 0 only at the edges of deleted ranges) | the ledger thread, retention (`preserve_boundaries`) |
//! | `checkpoint` | the latest signed checkpoint (a C2SP signed note) | the ledger thread, `ledger cosign` |
//!
//! The keys are the paths under the objects directory that earlier releases
//! wrote, so a data directory of theirs opens unchanged.
//!
//! Under `storage.object_lock` ([`lock`]) segments, full tiles and the
//! checkpoint are put under the bucket's COMPLIANCE retention, and a delete
//! removes every version of its key.
//!
//! # Sync callers
//!
//! The ledger's [`TileStore`] is synchronous: it runs on the ledger's own
//! thread, in `spawn_blocking` (recovery, `preserve_boundaries`), on
//! `verify`'s worker threads, and in a few sync calls made from async code
//! (a read-only vault's checkpoint, proofs). [`Objects::block_on`] bridges
//! them to the async store on the vault's runtime: a thread outside the
//! runtime (its own or the blocking pool) simply blocks on the runtime's
//! handle; a runtime worker first hands its other tasks to another worker
//! (`block_in_place`), so no async task waits behind a store call. Making
//! `TileStore` async instead would have turned the ledger crate's pure tree
//! code (the appender, proofs) async for the sake of one I/O edge.

pub mod cache;
pub mod counted;
pub mod local;
pub mod lock;
pub mod region;
pub mod s3;
mod sigv4;
pub mod under;

use crate::bridge::Bridge;
use crate::{VaultError, VaultOptions};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use pramaan_ledger::{LedgerError, TileStore};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The prefix of every segment's key.
pub const SEGMENTS: &str = "segments";
/// The prefix of every ledger tile's key.
pub const TILES: &str = "tile";
/// The key of the latest signed checkpoint.
pub const CHECKPOINT: &str = "checkpoint";

/// The object store of a vault and how to reach it from sync code.
#[derive(Clone)]
pub struct Objects {
    /// What reads and writes go through: the store, or for a bucket the
    /// store with its segments cached on local disk ([`cache`]).
    store: Arc<dyn ObjectStore>,
    /// The store itself, never a cached copy: what judges the evidence
    /// (`verify`, compaction) reads here.
    origin: Arc<dyn ObjectStore>,
    /// The directory, for a local store (messages name files there).
    local_root: Option<PathBuf>,
    /// Where the objects are: `file:///dir` or `s3://bucket/prefix`.
    url: String,
    /// The S3 server (a password in it redacted); empty for a local
    /// directory or AWS itself.
    endpoint: String,
    /// Requests to the store and their failures ([`counted`]).
    stats: Arc<counted::StoreStats>,
    /// Where the store is, declared and checked ([`region`]): set by
    /// [`Objects::probe`] for a bucket.
    location: region::LocationCheck,
    /// The bucket's Object Lock, when `storage.object_lock` asks for it
    /// ([`lock`]): puts are locked, deletes remove every version.
    lock: Option<Arc<lock::ObjectLock>>,
    /// The local copies of a bucket's segments, when kept.
    cache: Option<Arc<cache::SegmentCache>>,
    bridge: Bridge,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("store", &self.store.to_string())
            .finish()
    }
}

impl Objects {
    /// THE place a vault's object store is built, from its options
    /// (`storage.url`: a local directory or an S3 bucket). Nothing is
    /// asked of the store yet; [`Objects::probe`] does.
    pub fn open(opts: &VaultOptions) -> Result<Objects, VaultError> {
        match &opts.s3 {
            None => {
                let mut objects = Objects::local(&opts.objects_dir())?;
                objects.location = region::LocationCheck::local(&opts.location);
                Ok(objects)
            }
            Some(o) => {
                let bucket = s3::open(o, opts.object_lock.is_some())?;
                let mut objects = Objects::with_store(bucket, None)?;
                if let Some(policy) = &opts.object_lock {
                    let lock = lock::ObjectLock::new(o.clone(), policy.clone())
                        .map_err(|e| VaultError::Store(format!("{}: {e}", o.url())))?;
                    objects.lock = Some(Arc::new(lock));
                }
                if o.cache_bytes > 0 {
                    let dir = opts.data_dir.join("cache");
                    let cached = cache::SegmentCache::new(objects.origin(), &dir, o.cache_bytes)
                        .map_err(|e| {
                            VaultError::Store(format!(
                                "the segment cache {} cannot be used: {e}",
                                dir.display()
                            ))
                        })?;
                    let cached = Arc::new(cached);
                    objects.cache = Some(cached.clone());
                    objects.store = cached;
                }
                objects.url = o.url();
                objects.endpoint = pramaan_config::redact(&o.endpoint);
                objects.location = region::LocationCheck {
                    declared: opts.location.place(),
                    reported_region: None,
                    verdict: region::Verdict::Unknown,
                    detail: "the bucket has not been asked yet".into(),
                };
                Ok(objects)
            }
        }
    }

    /// Asks the store for its list of checkpoints (one small request), so
    /// that a store that cannot be reached, a bucket that does not exist
    /// or credentials it refuses stop `serve` at start with their cause,
    /// instead of at the first seal.
    ///
    /// A bucket is then asked where it is, which is compared with
    /// `storage.location` ([`region`]); a mismatch is logged, not refused.
    pub async fn probe(&mut self, opts: &VaultOptions) -> Result<(), VaultError> {
        let prefix = ObjPath::from(TILES);
        if let Err(e) = self.store.list_with_delimiter(Some(&prefix)).await {
            return Err(VaultError::Store(format!(
                "{} cannot be used: {}",
                self.describe(),
                store_cause(&e)
            )));
        }
        if let Some(lock) = &self.lock {
            lock.check_bucket().await.map_err(|why| {
                VaultError::Store(format!("{} cannot be used: {why}", self.describe()))
            })?;
            tracing::info!(store = %self.describe(), "Object Lock: every segment, full tile and checkpoint is kept in COMPLIANCE mode until its window ends");
        }
        if let Some(o) = &opts.s3 {
            self.location = region::check(o, &opts.location).await;
            let l = &self.location;
            match l.verdict {
                region::Verdict::Mismatch => {
                    tracing::error!(store = %self.describe(), "evidence store location: {}", l.detail)
                }
                region::Verdict::Matches => {
                    tracing::info!(store = %self.describe(), "evidence store location: {}", l.detail)
                }
                _ => {
                    tracing::warn!(store = %self.describe(), "evidence store location: {}", l.detail)
                }
            }
        }
        Ok(())
    }

    /// The bucket's Object Lock, when the objects are kept under one.
    pub fn object_lock(&self) -> Option<&lock::ObjectLock> {
        self.lock.as_deref()
    }

    /// Where the store is, as declared and as checked.
    pub fn location(&self) -> &region::LocationCheck {
        &self.location
    }

    /// Requests made to the store since start, and their failures.
    pub fn requests(&self) -> &counted::StoreStats {
        &self.stats
    }

    /// Where the objects are: `file:///dir` or `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The S3 server's URL (a password in it redacted); empty for a local
    /// directory or AWS itself.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What the store is, for messages: its URL, and where it is served.
    pub fn describe(&self) -> String {
        if self.endpoint.is_empty() {
            self.url.clone()
        } else {
            format!("{} at {}", self.url, self.endpoint)
        }
    }

    /// True for a bucket of an S3-compatible store.
    pub fn is_remote(&self) -> bool {
        self.local_root.is_none()
    }

    /// A local directory as the store (created if missing).
    pub fn local(root: &Path) -> Result<Objects, VaultError> {
        let store = local::DurableLocal::new(root).map_err(VaultError::store)?;
        Objects::with_store(Arc::new(store), Some(root.to_owned()))
    }

    /// Any store (tests, and the backends to come).
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        local_root: Option<PathBuf>,
    ) -> Result<Objects, VaultError> {
        let bridge = Bridge::here("pramaan-objects")?;
        let url = match &local_root {
            Some(root) => format!(
                "file://{}",
                std::path::absolute(root)
                    .unwrap_or_else(|_| root.clone())
                    .display()
            ),
            None => store.to_string(),
        };
        let stats = Arc::new(counted::StoreStats::default());
        let store: Arc<dyn ObjectStore> = Arc::new(counted::Counted::new(store, stats.clone()));
        Ok(Objects {
            origin: store.clone(),
            store,
            stats,
            local_root,
            url,
            endpoint: String::new(),
            location: region::LocationCheck::local(&pramaan_config::location::Location::Undeclared),
            lock: None,
            cache: None,
            bridge,
        })
    }

    /// The store itself, for async callers.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The store itself, never a cached copy (for `verify` and compaction,
    /// which judge what the store holds).
    pub fn origin(&self) -> Arc<dyn ObjectStore> {
        self.origin.clone()
    }

    /// These objects read from the store itself only (what `verify` opens).
    pub fn uncached(mut self) -> Objects {
        self.store = self.origin.clone();
        self
    }

    /// The local directory, when the store is one.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// How to name an object in messages: its file for a local store.
    pub fn place(&self, key: &str) -> String {
        match &self.local_root {
            Some(root) => root.join(key).display().to_string(),
            None => format!("{}/{key}", self.store),
        }
    }

    /// Runs a store future to completion from sync code (see the module
    /// docs and [`Bridge::block_on`]).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.bridge.block_on(fut)
    }

    /// An object's bytes; `None` when there is no such object.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, object_store::Error> {
        let path = ObjPath::parse(key)?;
        match self.store.get(&path).await {
            Ok(r) => r.bytes().await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes an object, durable (and replacing any old one atomically)
    /// when this returns; under Object Lock, a full tile or a checkpoint is
    /// locked for the longest window (a segment goes through
    /// [`Objects::put_segment`]).
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), object_store::Error> {
        let path = ObjPath::parse(key)?;
        self.store.put(&path, PutPayload::from(data)).await?;
        if let Some(lock) = &self.lock {
            if lock::is_ledger_object(key) {
                let until = lock.ledger_until(pramaan_core::time::now_ns());
                lock.retain(key, until).await?;
            }
        }
        Ok(())
    }

    /// Writes a sealed segment (durable when this returns); under Object
    /// Lock it is locked until its window ends, before anything names it.
    pub async fn put_segment(
        &self,
        meta: &crate::SegmentMeta,
        data: PutPayload,
    ) -> Result<(), object_store::Error> {
        let path = ObjPath::parse(&meta.path)?;
        self.store.put(&path, data).await?;
        if let Some(lock) = &self.lock {
            lock.retain(&meta.path, lock.segment_until(meta)).await?;
        }
        Ok(())
    }

    /// Deletes an object; a missing one is no error. Under Object Lock every
    /// version of the key goes, and one the lock still keeps fails the
    /// delete with [`lock::Locked`] as its source ([`is_locked`]).
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        let path = ObjPath::parse(key)?;
        if let Some(lock) = &self.lock {
            // A cached copy goes first, as the cache's own delete does
            // (which would only hide the versions behind a delete marker).
            if let Some(cache) = &self.cache {
                cache.drop_copy(path.as_ref());
            }
            return lock.delete(key).await;
        }
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix` (a key prefix on `/` boundaries), as
    /// `(key, size)`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, object_store::Error> {
        let prefix = ObjPath::parse(prefix)?;
        let mut out: Vec<(String, u64)> = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect()
            .await?;
        out.sort();
        Ok(out)
    }

    /// [`Objects::get`] from sync code.
    pub fn get_blocking(&self, key: &str) -> Result<Option<Bytes>, object_store::Error> {
        self.block_on(self.get(key))
    }

    /// [`Objects::put`] from sync code.
    pub fn put_blocking(&self, key: &str, data: &[u8]) -> Result<(), object_store::Error> {
        self.block_on(self.put(key, Bytes::copy_from_slice(data)))
    }

    /// [`Objects::delete`] from sync code.
    pub fn delete_blocking(&self, key: &str) -> Result<(), object_store::Error> {
        self.block_on(self.delete(key))
    }

    /// [`Objects::list`] from sync code.
    pub fn list_blocking(&self, prefix: &str) -> Result<Vec<(String, u64)>, object_store::Error> {
        self.block_on(self.list(prefix))
    }
}

/// True when `e` is a delete the bucket's Object Lock refused.
pub fn is_locked(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::Generic { source, .. } if source.is::<lock::Locked>())
}

/// An object store error said in full: its own words and those of every
/// cause (a refused connection, a 403 and its S3 error code), which its
/// `Display` alone does not show.
pub fn store_cause(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = c.source();
    }
    // The client's words may carry the endpoint's URL, password and all.
    pramaan_config::redact(&text)
}

/// A key that is not a valid object path (`..`, empty parts) is refused
/// before the store sees it.
fn tile_error(what: &str, key: &str, e: object_store::Error) -> LedgerError {
    match e {
        object_store::Error::InvalidPath { .. } => {
            LedgerError::InvalidArgument(format!("unsafe store path {key:?}: {e}"))
        }
        e => LedgerError::backend(format!("{what} {key}"), e),
    }
}

/// The ledger's tiles and checkpoint, in the same store as the segments.
impl TileStore for Objects {
    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.get_blocking(path)
            .map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| tile_error("get", path, e))
    }

    fn put(&self, path: &str, data: &[u8]) -> Result<(), LedgerError> {
        self.put_blocking(path, data)
            .map_err(|e| tile_error("put", path, e))
    }

    fn delete(&self, path: &str) -> Result<(), LedgerError> {
        self.delete_blocking(path)
            .map_err(|e| tile_error("delete", path, e))
    }
}

#[cfg(test)]
mod tests;
