//! `pramaan backup --to s3://bucket/prefix` and `restore --from s3://...`:
//! the backup is made in a local staging directory exactly as `--to DIR`
//! makes it ([`crate::backup`]), then put into the bucket object by object,
//! its manifest last (a prefix without `pramaan-backup.json` is a backup
//! that did not finish); a restore takes every object under the prefix into
//! a staging directory and restores from there, so each file is checked
//! against the manifest, and an object the manifest does not name is
//! refused, before anything is written into the data directory. The
//! staging directory is removed afterwards, whatever happened (it holds
//! personal data).
//!
//! The bucket is reached with the `storage.*` settings (endpoint, region,
//! path style, plain HTTP, credentials file or environment), through the
//! same object-store layer as the evidence; the keys never go there
//! (`--keys-to` is a directory, apart from the backup).

use crate::backup::{backup, restore, BackupError, Made, Progress, Restored, MANIFEST};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use pramaan_config::Config;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Objects up to this size are put in one request; bigger ones in parts
/// of this size (S3 wants parts of at least 5 MiB but the last).
const PART: usize = 8 << 20;

/// A bucket and a key prefix, from `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Place {
    pub bucket: String,
    pub prefix: String,
}

impl std::fmt::Display for S3Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// `Some` when `target` is an `s3://` URL (an error when it names no
/// bucket); `None` for a directory.
pub fn parse(target: &str) -> Option<Result<S3Place, BackupError>> {
    let rest = target.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    if bucket.is_empty() || prefix.split('/').any(|p| p == ".." || p == ".") {
        return Some(Err(BackupError::Refused(format!(
            "{target}: write s3://BUCKET/PREFIX (a bucket, then the key prefix to keep the backup under)"
        ))));
    }
    Some(Ok(S3Place {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    }))
}

fn store_for(cfg: &Config, place: &S3Place) -> Result<Arc<dyn ObjectStore>, BackupError> {
    let mut o = crate::options::s3_options_for(cfg, &place.bucket, &place.prefix);
    o.cache_bytes = 0;
    pramaan_vault::objects::s3::open(&o, false).map_err(|e| BackupError::Refused(e.to_string()))
}

fn s3_err(place: &S3Place, e: object_store::Error) -> BackupError {
    BackupError::Copy {
        what: place.to_string(),
        why: e.to_string(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, BackupError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BackupError::Copy {
            what: "the S3 client's runtime".into(),
            why: e.to_string(),
        })
}

/// A staging directory of this process's, removed when dropped.
struct Staging(PathBuf);

impl Staging {
    fn new(dir: &Path) -> Result<Staging, BackupError> {
        if dir.exists() {
            return Err(BackupError::Refused(format!(
                "the staging directory {} exists: name a new one (--staging), it is removed afterwards",
                dir.display()
            )));
        }
        crate::backup::make_dir(dir)?;
        Ok(Staging(dir.to_owned()))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The staging directory to use when none is given: a new one under the
/// system's temporary directory.
pub fn default_staging(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "pramaan-{what}-{}-{}",
        std::process::id(),
        pramaan_core::time::now_ns()
    ))
}

/// Makes a backup of `cfg`'s data directory in `staging`, then puts it
/// under `place` (which must hold nothing yet), the manifest last.
pub fn backup_to_s3(
    cfg: &Config,
    place: &S3Place,
    keys_to: Option<&Path>,
    staging: &Path,
    progress: Progress<'_>,
) -> Result<Made, BackupError> {
    let rt = runtime()?;
    let store = store_for(cfg, place)?;
    let first = rt
        .block_on(async { store.list(None).try_next().await })
        .map_err(|e| s3_err(place, e))?;
    if let Some(o) = first {
        return Err(BackupError::Refused(format!(
            "{place} already holds objects ({} among them): nothing is ever written over (choose a new prefix)",
            o.location
        )));
    }
    if let Some(k) = keys_to {
        if k.starts_with(staging) {
            return Err(BackupError::Refused(format!(
                "the keys directory {} is inside the staging directory, which is removed",
                k.display()
            )));
        }
    }
    let stage = Staging::new(staging)?;
    let made = backup(cfg, &stage.0, keys_to, progress)?;
    let mut names: Vec<String> = made
        .manifest
        .files
        .keys()
        .map(|f| format!("data/{f}"))
        .collect();
    names.push(MANIFEST.to_owned());
    let (total, mut done) = (made.bytes, 0u64);
    rt.block_on(async {
        for name in &names {
            done += put_file(&*store, &stage.0.join(name), name)
                .await
                .map_err(|e| match e {
                    Put::Io(source) => BackupError::Io {
                        path: stage.0.join(name),
                        source,
                    },
                    Put::Local(e) => BackupError::Evidence(e),
                    Put::Store(e) => s3_err(place, e),
                })?;
            progress("upload", done, total.max(done));
        }
        Ok::<_, BackupError>(())
    })?;
    Ok(made)
}

enum Put {
    Io(std::io::Error),
    /// Making the local file.
    Local(pramaan_vault::backup::BackupError),
    Store(object_store::Error),
}

/// Puts one file under `key`: in one request, or in parts when it is big.
async fn put_file(store: &dyn ObjectStore, file: &Path, key: &str) -> Result<u64, Put> {
    let key = ObjPath::parse(key).map_err(|e| Put::Store(e.into()))?;
    let mut f = std::fs::File::open(file).map_err(Put::Io)?;
    let len = f.metadata().map_err(Put::Io)?.len();
    let chunk = |f: &mut std::fs::File| -> Result<Vec<u8>, Put> {
        let mut buf = Vec::with_capacity(PART);
        std::io::Read::by_ref(f)
            .take(PART as u64)
            .read_to_end(&mut buf)
            .map_err(Put::Io)?;
        Ok(buf)
    };
    if len <= PART as u64 {
        let bytes = chunk(&mut f)?;
        store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(Put::Store)?;
        return Ok(len);
    }
    let mut up = store.put_multipart(&key).await.map_err(Put::Store)?;
    loop {
        let part = chunk(&mut f)?;
        if part.is_empty() {
            break;
        }
        if let Err(e) = up.put_part(PutPayload::from(part)).await {
            let _ = up.abort().await;
            return Err(Put::Store(e));
        }
    }
    up.complete().await.map_err(Put::Store)?;
    Ok(len)
}

/// Takes every object under `place` into `staging`, then restores
/// `cfg`'s data directory from there ([`restore`]: every file checked
/// against the manifest first).
pub fn restore_from_s3(
    cfg: &Config,
    place: &S3Place,
    keys_from: Option<&Path>,
    staging: &Path,
    progress: Progress<'_>,
) -> Result<Restored, BackupError> {
    let rt = runtime()?;
    let store = store_for(cfg, place)?;
    let objects: Vec<object_store::ObjectMeta> = rt
        .block_on(async { store.list(None).try_collect().await })
        .map_err(|e| s3_err(place, e))?;
    if !objects.iter().any(|o| o.location.as_ref() == MANIFEST) {
        return Err(BackupError::Refused(format!(
            "{place} holds no {MANIFEST}: not a backup, or one that did not finish"
        )));
    }
    let stage = Staging::new(staging)?;
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let mut done = 0u64;
    rt.block_on(async {
        for o in &objects {
            let file = stage.0.join(o.location.as_ref());
            if !file.starts_with(&stage.0) {
                return Err(BackupError::Refused(format!(
                    "{place}: object {} is not a backup's file",
                    o.location
                )));
            }
            done += get_file(&*store, &o.location, &file)
                .await
                .map_err(|e| match e {
                    Put::Io(source) => BackupError::Io { path: file, source },
                    Put::Local(e) => BackupError::Evidence(e),
                    Put::Store(e) => s3_err(place, e),
                })?;
            progress("download", done, total.max(done));
        }
        Ok(())
    })?;
    restore(cfg, &stage.0, keys_from, progress)
}

/// Writes one object to `file` (its owner's only), streamed.
async fn get_file(store: &dyn ObjectStore, key: &ObjPath, file: &Path) -> Result<u64, Put> {
    let mut f = pramaan_vault::backup::create_new(file).map_err(Put::Local)?;
    let mut stream = store.get(key).await.map_err(Put::Store)?.into_stream();
    let mut n = 0u64;
    while let Some(bytes) = stream.try_next().await.map_err(Put::Store)? {
        f.write_all(&bytes).map_err(Put::Io)?;
        n += bytes.len() as u64;
    }
    f.sync_all().map_err(Put::Io)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_targets_are_told_from_directories() {
        assert!(parse("/mnt/backup/b1").is_none());
        assert_eq!(
            parse("s3://evidence-backups/pramaan/2026-12-07/")
                .unwrap()
                .unwrap(),
            S3Place {
                bucket: "evidence-backups".into(),
                prefix: "pramaan/2026-12-07".into()
            }
        );
        assert_eq!(parse("s3://b").unwrap().unwrap().prefix, "");
        for bad in ["s3://", "s3:///p", "s3://b/../x"] {
            assert!(parse(bad).unwrap().is_err(), "{bad}");
        }
    }

    /// A file bigger than a part goes in parts and comes back byte for byte.
    #[tokio::test]
    async fn a_big_file_goes_in_parts_and_comes_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big");
        let data: Vec<u8> = (0..(2 * PART + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        let store = object_store::memory::InMemory::new();
        let n = put_file(&store, &src, "data/objects/segments/big")
            .await
            .ok()
            .unwrap();
        assert_eq!(n, data.len() as u64);
        let back = dir.path().join("out/big");
        let key = ObjPath::parse("data/objects/segments/big").unwrap();
        assert_eq!(get_file(&store, &key, &back).await.ok().unwrap(), n);
        assert!(std::fs::read(&back).unwrap() == data, "the same bytes");
        // Never over an existing file.
        assert!(matches!(
            get_file(&store, &key, &back).await,
            Err(Put::Local(_))
        ));
    }
}
