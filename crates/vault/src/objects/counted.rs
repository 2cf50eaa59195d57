//! Every request to the evidence store counted, and its failures (after
//! `object_store`'s own retries) counted and the latest kept, for the
//! status, the dashboard and `pramaan_object_store_*` metrics: a store
//! that refuses or times out is seen before evidence is missed.

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The kinds of request counted (in the order of [`Op::ALL`], which their
/// values index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
    List,
    Delete,
    Copy,
}

impl Op {
    const ALL: [Op; 5] = [Op::Put, Op::Get, Op::List, Op::Delete, Op::Copy];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::List => "list",
            Op::Delete => "delete",
            Op::Copy => "copy",
        }
    }
}

/// Requests and failures per kind, and the latest failure.
#[derive(Debug, Default)]
pub struct StoreStats {
    requests: [AtomicU64; 5],
    errors: [AtomicU64; 5],
    last_error: Mutex<Option<LastError>>,
}

/// The latest failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// When (RFC 3339, IST).
    pub at: String,
    /// When, in nanoseconds since the epoch (for the dashboard's "recent").
    #[serde(skip)]
    pub at_ns: i64,
    pub op: String,
    /// The store's own words (never a secret: the client holds the key).
    pub error: String,
}

/// What the status shows of [`StoreStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    /// Requests since start, by kind (`put`, `get`, `list`, `delete`, `copy`).
    pub requests: std::collections::BTreeMap<String, u64>,
    /// Of them, those that failed after the client's retries.
    pub errors: std::collections::BTreeMap<String, u64>,
    pub last_error: Option<LastError>,
}

impl StoreStats {
    /// Counts a request of kind `op` and, if it failed (a missing object
    /// is an answer, not a failure), the failure.
    pub fn note<T>(&self, op: Op, r: &object_store::Result<T>) {
        self.request(op);
        if let Err(e) = r {
            self.failed(op, e);
        }
    }

    fn request(&self, op: Op) {
        self.requests[op as usize].fetch_add(1, Relaxed);
        metrics::counter!("pramaan_object_store_requests_total", "op" => op.as_str()).increment(1);
    }

    fn failed(&self, op: Op, e: &object_store::Error) {
        if matches!(e, object_store::Error::NotFound { .. }) {
            return;
        }
        self.errors[op as usize].fetch_add(1, Relaxed);
        metrics::counter!("pramaan_object_store_errors_total", "op" => op.as_str()).increment(1);
        let now = pramaan_core::time::now_ns();
        let last = LastError {
            at: pramaan_core::time::rfc3339_ist(now),
            at_ns: now,
            op: op.as_str().into(),
            error: super::store_cause(e),
        };
        if let Ok(mut l) = self.last_error.lock() {
            *l = Some(last);
        }
    }

    /// The counts as the status shows them.
    pub fn counts(&self) -> StoreCounts {
        let by_op = |a: &[AtomicU64; 5]| {
            Op::ALL
                .iter()
                .map(|o| (o.as_str().to_owned(), a[*o as usize].load(Relaxed)))
                .collect()
        };
        StoreCounts {
            requests: by_op(&self.requests),
            errors: by_op(&self.errors),
            last_error: self.last_error(),
        }
    }

    /// The latest failed request, if any.
    pub fn last_error(&self) -> Option<LastError> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }
}

/// `inner`, with every request counted in `stats`.
#[derive(Debug)]
pub struct Counted {
    inner: Arc<dyn ObjectStore>,
    stats: Arc<StoreStats>,
}

impl Counted {
    pub fn new(inner: Arc<dyn ObjectStore>, stats: Arc<StoreStats>) -> Counted {
        Counted { inner, stats }
    }

    fn counted<T>(&self, op: Op, r: object_store::Result<T>) -> object_store::Result<T> {
        self.stats.note(op, &r);
        r
    }

    /// A listing: one request, whose failures are counted as they come.
    fn counted_list<T: Send + 'static>(
        &self,
        s: BoxStream<'static, object_store::Result<T>>,
    ) -> BoxStream<'static, object_store::Result<T>> {
        self.stats.request(Op::List);
        let stats = self.stats.clone();
        s.inspect(move |r| {
            if let Err(e) = r {
                stats.failed(Op::List, e);
            }
        })
        .boxed()
    }
}

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Counted {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let r = self.inner.put_opts(location, payload, opts).await;
        self.counted(Op::Put, r)
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let r = self.inner.put_multipart_opts(location, opts).await;
        let upload = self.counted(Op::Put, r)?;
        Ok(Box::new(CountedUpload {
            inner: upload,
            stats: self.stats.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let r = self.inner.get_opts(location, options).await;
        self.counted(Op::Get, r)
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        let r = self.inner.get_ranges(location, ranges).await;
        self.counted(Op::Get, r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        // One request per object deleted.
        let stats = self.stats.clone();
        self.inner
            .delete_stream(locations)
            .inspect(move |r| stats.note(Op::Delete, r))
            .boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counted_list(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&ObjPath>,
        offset: &ObjPath,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counted_list(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        let r = self.inner.list_with_delimiter(prefix).await;
        self.counted(Op::List, r)
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let r = self.inner.copy_opts(from, to, options).await;
        self.counted(Op::Copy, r)
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        let r = self.inner.rename_opts(from, to, options).await;
        self.counted(Op::Copy, r)
    }
}

/// A multipart upload whose parts and completion are counted as puts.
#[derive(Debug)]
struct CountedUpload {
    inner: Box<dyn MultipartUpload>,
    stats: Arc<StoreStats>,
}

#[async_trait]
impl MultipartUpload for CountedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.inner.put_part(data);
        let stats = self.stats.clone();
        Box::pin(async move {
            let r = part.await;
            stats.note(Op::Put, &r);
            r
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let r = self.inner.complete().await;
        self.stats.note(Op::Put, &r);
        r
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let r = self.inner.abort().await;
        self.stats.note(Op::Delete, &r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn requests_and_failures_are_counted_and_a_missing_object_is_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        let disk = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let stats = Arc::new(StoreStats::default());
        let store = Counted::new(Arc::new(disk), stats.clone());
        let key = ObjPath::from("segments/a");
        store
            .put(&key, PutPayload::from_static(b"x"))
            .await
            .unwrap();
        store.get(&key).await.unwrap();
        assert!(store.get(&ObjPath::from("none")).await.is_err());
        assert_eq!(stats.last_error(), None, "a missing object is an answer");
        // A file where a directory must be: the store fails, and says why.
        let under_a_file = ObjPath::from("segments/a/b");
        assert!(store
            .put(&under_a_file, PutPayload::from_static(b"y"))
            .await
            .is_err());
        let _ = store.list(None).collect::<Vec<_>>().await;
        let c = stats.counts();
        assert_eq!(
            (c.requests["put"], c.requests["get"], c.requests["list"]),
            (2, 2, 1)
        );
        assert_eq!((c.errors["put"], c.errors["get"]), (1, 0), "{c:?}");
        let last = c.last_error.unwrap();
        assert_eq!(last.op, "put");
        assert!(!last.error.is_empty());
        // A client's words that name the endpoint keep no password.
        stats.note::<()>(
            Op::Get,
            &Err(object_store::Error::Generic {
                store: "S3",
                source: "error sending request for url (http://u:hunter2@127.0.0.1:3900/b/k)"
                    .into(),
            }),
        );
        let last = stats.counts().last_error.unwrap();
        assert!(!last.error.contains("hunter2"), "{}", last.error);
        assert!(last.error.contains("127.0.0.1:3900/b/k"), "{}", last.error);
    }
}
