//! A local directory as an object store whose puts are durable when they
//! return.
//!
//! `object_store`'s `LocalFileSystem` writes a staging file and renames it
//! into place, so a reader never sees a torn object, but it syncs neither
//! the file nor the directory: after a power cut the object may be empty,
//! or absent although the catalog names it and the WAL that held its
//! records is gone. [`DurableLocal`] wraps it: every put (and copy, rename
//! and completed multipart upload) syncs the file, then every directory
//! from its parent up to the root (a put may have created the hour and day
//! directories of a segment, whose entries live in their parents); every
//! delete syncs the nearest directory that still exists. Directories a
//! delete leaves empty are removed (up to the root, never the root), as
//! retention used to do for segments.
//!
//! The syncs are blocking system calls: they run on Tokio's blocking pool
//! when there is a runtime (never on a worker), inline otherwise.

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const NAME: &str = "DurableLocal";

/// A `LocalFileSystem` rooted at a directory, with fsync discipline (see the
/// module docs).
#[derive(Debug)]
pub struct DurableLocal {
    inner: Arc<LocalFileSystem>,
    root: Arc<PathBuf>,
}

impl DurableLocal {
    /// The store rooted at `root`, which is created if missing.
    pub fn new(root: &Path) -> Result<DurableLocal, object_store::Error> {
        std::fs::create_dir_all(root).map_err(|e| generic(root, e))?;
        let root = std::fs::canonicalize(root).map_err(|e| generic(root, e))?;
        let inner = LocalFileSystem::new_with_prefix(&root)?.with_automatic_cleanup(true);
        Ok(DurableLocal {
            inner: Arc::new(inner),
            root: Arc::new(root),
        })
    }

    /// The directory the objects are in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file an object is kept in.
    pub fn file(&self, location: &ObjPath) -> Result<PathBuf, object_store::Error> {
        self.inner.path_to_filesystem(location)
    }

    /// Syncs a file just written and its directories up to the root.
    async fn sync_written(&self, location: &ObjPath) -> object_store::Result<()> {
        let file = self.file(location)?;
        let root = self.root.clone();
        blocking(move || sync_file_and_dirs(&file, &root)).await
    }

    async fn sync_deleted(&self, location: &ObjPath) -> object_store::Result<()> {
        sync_deleted(&self.inner, &self.root, location).await
    }
}

/// Syncs the directory that held a deleted object (or, when the delete
/// removed it as empty, the nearest one that is left).
async fn sync_deleted(
    fs: &LocalFileSystem,
    root: &Arc<PathBuf>,
    location: &ObjPath,
) -> object_store::Result<()> {
    let file = fs.path_to_filesystem(location)?;
    let root = root.clone();
    blocking(move || {
        let mut dir = file.parent();
        while let Some(d) = dir {
            if !d.starts_with(&*root) {
                return Ok(());
            }
            match sync_dir(d) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => dir = d.parent(),
                other => return other.map_err(|e| generic(d, e)),
            }
        }
        Ok(())
    })
    .await
}

impl fmt::Display for DurableLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAME}({})", self.root.display())
    }
}

/// Runs `f` on the blocking pool when there is a runtime, else inline.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> object_store::Result<T> + Send + 'static,
) -> object_store::Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h
            .spawn_blocking(f)
            .await
            .map_err(|e| object_store::Error::Generic {
                store: NAME,
                source: Box::new(e),
            })?,
        Err(_) => f(),
    }
}

fn generic(path: &Path, e: io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: NAME,
        source: Box::new(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    note_synced(dir);
    Ok(())
}

/// Every file and directory synced, for the tests to check the discipline.
#[cfg(test)]
pub(crate) static SYNCED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn note_synced(_path: &Path) {
    #[cfg(test)]
    SYNCED.lock().expect("synced lock").push(_path.to_owned());
}

/// The file's data and metadata, then each directory from its parent up to
/// `root` (the entries that name it and the directories made for it).
fn sync_file_and_dirs(file: &Path, root: &Path) -> object_store::Result<()> {
    match std::fs::File::open(file).and_then(|f| f.sync_all()) {
        Ok(()) => note_synced(file),
        // Deleted again meanwhile: nothing left to make durable.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(generic(file, e)),
    }
    let mut dir = file.parent();
    while let Some(d) = dir {
        if !d.starts_with(root) {
            break;
        }
        sync_dir(d).map_err(|e| generic(d, e))?;
        dir = d.parent();
    }
    Ok(())
}

/// `tile/1/000.p/17` where `tile/1/000.p` is a file is an object that
/// cannot exist: not found, as on any object store.
fn not_a_directory_is_not_found(e: object_store::Error, location: &ObjPath) -> object_store::Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::NotADirectory {
                return object_store::Error::NotFound {
                    path: location.to_string(),
                    source: Box::new(io::Error::new(io.kind(), io.to_string())),
                };
            }
        }
        cur = err.source();
    }
    e
}

#[async_trait]
impl ObjectStore for DurableLocal {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let r = self.inner.put_opts(location, payload, opts).await?;
        self.sync_written(location).await?;
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(DurableUpload {
            inner,
            file: self.file(location)?,
            root: self.root.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner
            .get_opts(location, options)
            .await
            .map_err(|e| not_a_directory_is_not_found(e, location))
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner
            .get_ranges(location, ranges)
            .await
            .map_err(|e| not_a_directory_is_not_found(e, location))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        let (fs, root) = (self.inner.clone(), self.root.clone());
        self.inner
            .delete_stream(locations)
            .then(move |r| {
                let (fs, root) = (fs.clone(), root.clone());
                async move {
                    let location = r?;
                    sync_deleted(&fs, &root, &location).await?;
                    Ok(location)
                }
            })
            .boxed()
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
        self.inner.copy_opts(from, to, options).await?;
        self.sync_written(to).await
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await?;
        self.sync_written(to).await?;
        self.sync_deleted(from).await
    }
}

/// A multipart upload whose completion is durable.
#[derive(Debug)]
struct DurableUpload {
    inner: Box<dyn MultipartUpload>,
    file: PathBuf,
    root: Arc<PathBuf>,
}

#[async_trait]
impl MultipartUpload for DurableUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let r = self.inner.complete().await?;
        let (file, root) = (self.file.clone(), self.root.clone());
        blocking(move || sync_file_and_dirs(&file, &root)).await?;
        Ok(r)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}
