//! A store whose keys live under a prefix of another (`s3://bucket/prefix`).
//!
//! `object_store`'s `PrefixStore` (0.13) strips the prefix from the keys
//! that listings return, but not from the object a `get` or `head`
//! returns: DataFusion, which checks that object's key against the segment
//! it asked for, then found no segment at all and answered SQL over the
//! memtable only, without an error. This wrapper gives every answer in the
//! caller's keys.

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path as ObjPath;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::fmt;
use std::ops::Range;

/// `inner`'s objects under `prefix`, keyed without it.
#[derive(Debug)]
pub struct Under<T: ObjectStore> {
    inner: PrefixStore<T>,
    prefix: ObjPath,
}

impl<T: ObjectStore> Under<T> {
    pub fn new(store: T, prefix: &str) -> Under<T> {
        let prefix = ObjPath::from(prefix);
        Under {
            inner: PrefixStore::new(store, prefix.clone()),
            prefix,
        }
    }

    /// `key` without the prefix (a key outside it, which no store returns
    /// for a request under it, is left as it is).
    fn strip(&self, key: ObjPath) -> ObjPath {
        let stripped: Option<ObjPath> = key.prefix_match(&self.prefix).map(|p| p.collect());
        stripped.unwrap_or(key)
    }
}

impl<T: ObjectStore> fmt::Display for Under<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl<T: ObjectStore> ObjectStore for Under<T> {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let mut r = self.inner.get_opts(location, options).await?;
        r.meta.location = self.strip(r.meta.location);
        Ok(r)
    }

    async fn get_ranges(
        &self,
        location: &ObjPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
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
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn every_answer_is_in_the_callers_keys() {
        let store = Under::new(InMemory::new(), "site-a/pramaan");
        let key = ObjPath::from("segments/2026/12/06/10/a.parquet");
        store
            .put(&key, PutPayload::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(store.head(&key).await.unwrap().location, key);
        let got = store.get(&key).await.unwrap();
        assert_eq!(got.meta.location, key);
        let listed: Vec<ObjectMeta> =
            futures::TryStreamExt::try_collect(store.list(Some(&ObjPath::from("segments"))))
                .await
                .unwrap();
        assert_eq!(listed[0].location, key);
    }
}
