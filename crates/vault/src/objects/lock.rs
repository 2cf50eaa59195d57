//! Write once, read many (`storage.object_lock = "compliance"`): every
//! segment, full ledger tile and checkpoint is put under S3 Object Lock in
//! COMPLIANCE mode, which no one, the bucket's owner included, can shorten
//! or lift before its date; a legal hold adds an object legal hold.
//!
//! * A segment is kept until its window ends: its newest record's arrival
//!   plus the longest window of its sources' retention classes, the instant
//!   retention would delete it (rounded up to the second, as S3 keeps
//!   dates). So retention deletes on the day the lock ends, never before;
//!   should the policy have been shortened since, the store refuses and the
//!   deletion waits ([`Locked`]).
//! * A full tile and each checkpoint are kept for the policy's longest
//!   window from when they are written (every version of `checkpoint`: the
//!   bucket keeps them all). Partial tiles are not locked: they are replaced
//!   as the tree grows and the full tile that replaces them is.
//!
//! Object Lock needs a versioned bucket, where a plain `DELETE` only hides
//! an object behind a delete marker. Deleting here removes every version of
//! the key ([`ObjectLock::delete`]), so what retention deletes is gone and
//! what the lock still keeps makes the delete fail.
//!
//! `object_store` cannot send Object Lock's headers, so a put is followed by
//! `PutObjectRetention` (before the catalog row that names a segment
//! commits); these calls go through [`super::sigv4`].

use super::s3::S3Options;
use super::sigv4::{self, Call};
use crate::retention::{window_ns, Policy};
use crate::SegmentMeta;
use std::sync::Arc;

const NS_PER_SEC: i64 = 1_000_000_000;
const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The store refused to delete an object its Object Lock still keeps.
#[derive(Debug, thiserror::Error)]
#[error("{key} is still kept by the bucket's Object Lock ({detail})")]
pub struct Locked {
    pub key: String,
    pub detail: String,
}

/// A failure here as the object store's error, so that callers of
/// [`super::Objects`] meet one error type ([`super::is_locked`] finds a
/// [`Locked`] in it).
fn store_error(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3 Object Lock",
        source: source.into(),
    }
}

/// How the store keeps one object, as it reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockState {
    /// `COMPLIANCE` or `GOVERNANCE`; `None` without a retention.
    pub mode: Option<String>,
    /// RFC 3339, as the store answered.
    pub until: Option<String>,
    /// The object legal hold is on.
    pub legal_hold: bool,
}

/// The bucket's Object Lock, and the policy that dates its locks.
#[derive(Clone, Debug)]
pub struct ObjectLock {
    s3: S3Options,
    policy: Policy,
    /// One client, so that its connections are kept between requests.
    client: reqwest::Client,
    /// The bucket has a default retention ([`ObjectLock::check_bucket`]):
    /// each object is locked at its upload, perhaps past its window.
    default_retention: Arc<std::sync::atomic::AtomicBool>,
}

/// A full tile or the checkpoint, which a put locks for the longest window
/// ([`ObjectLock::ledger_until`]); not a partial tile, which the tree
/// replaces as it grows, nor a segment (locked to its own window when
/// sealed, [`ObjectLock::segment_until`]).
pub fn is_ledger_object(key: &str) -> bool {
    key == super::CHECKPOINT || (key.starts_with(super::TILES) && !key.contains(".p/"))
}

impl ObjectLock {
    pub fn new(s3: S3Options, policy: Policy) -> Result<ObjectLock, String> {
        Ok(ObjectLock {
            s3,
            policy,
            client: sigv4::client()?,
            default_retention: Arc::default(),
        })
    }

    /// Ok when the bucket has Object Lock enabled; otherwise what is wrong,
    /// in words for the operator.
    pub async fn check_bucket(&self) -> Result<(), String> {
        let a = self
            .send(
                "GET",
                None,
                vec![("object-lock", String::new())],
                Vec::new(),
            )
            .await?;
        let bucket = &self.s3.bucket;
        if a.ok() && sigv4::element(&a.body, "ObjectLockEnabled").as_deref() == Some("Enabled") {
            if let Some(rule) = sigv4::element(&a.body, "DefaultRetention") {
                let part = |tag: &str| sigv4::element(&rule, tag).unwrap_or_default();
                tracing::warn!(
                    bucket = %bucket,
                    mode = %part("Mode"),
                    days = %part("Days"),
                    years = %part("Years"),
                    "the bucket locks every object for a default time from its upload: a segment's lock \
                     then ends that long after its upload (not when its window ends), never earlier, \
                     and partial ledger tiles are locked too (their deletes are refused until then)"
                );
                self.default_retention
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            return Ok(());
        }
        let code = sigv4::element(&a.body, "Code").unwrap_or_default();
        if a.ok() || code == "ObjectLockConfigurationNotFoundError" {
            return Err(format!(
                "storage.object_lock is \"compliance\" but bucket {bucket} does not have Object Lock enabled: \
                 S3 enables it only on a versioned bucket, normally when the bucket is created \
                 (aws s3api create-bucket --object-lock-enabled-for-bucket ...); use such a bucket, \
                 or set storage.object_lock = \"off\""
            ));
        }
        Err(a.error("GetObjectLockConfiguration"))
    }

    /// When a segment's lock ends: its newest record's arrival plus the
    /// window that governs it, rounded up to the second.
    pub fn segment_until(&self, meta: &SegmentMeta) -> i64 {
        let (_, days) = self.policy.governing(meta);
        round_up(meta.time_max_ns.saturating_add(window_ns(days)))
    }

    /// When a full tile or a checkpoint written at `now_ns` may go: the
    /// policy's longest window later.
    pub fn ledger_until(&self, now_ns: i64) -> i64 {
        let longest = self
            .policy
            .classes
            .iter()
            .map(|c| c.days)
            .chain([self.policy.default_days])
            .max()
            .unwrap_or(0);
        round_up(now_ns.saturating_add(window_ns(longest)))
    }

    /// Puts `key` under COMPLIANCE retention until `until_ns` (a date
    /// already past is not set: the object's window is over).
    pub async fn retain(&self, key: &str, until_ns: i64) -> Result<(), object_store::Error> {
        if until_ns <= pramaan_core::time::now_ns() {
            return Ok(());
        }
        if self
            .default_retention
            .load(std::sync::atomic::Ordering::Relaxed)
            && self.missing_lock(key, until_ns).await.is_none()
        {
            // The bucket's default already keeps it as long, or longer; a
            // COMPLIANCE date cannot be moved earlier.
            return Ok(());
        }
        let body = format!(
            "<Retention xmlns=\"{XMLNS}\"><Mode>COMPLIANCE</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            s3_date(until_ns)
        );
        let a = self
            .send(
                "PUT",
                Some(key),
                vec![("retention", String::new())],
                body.into_bytes(),
            )
            .await
            .map_err(store_error)?;
        if a.ok() {
            Ok(())
        } else {
            Err(store_error(format!(
                "{key}: {}",
                a.error("PutObjectRetention")
            )))
        }
    }

    /// How the store keeps `key` now (`HeadObject`'s Object Lock headers,
    /// which stores answer more widely than `GetObjectRetention`).
    pub async fn state(&self, key: &str) -> Result<LockState, String> {
        let a = self.send("HEAD", Some(key), Vec::new(), Vec::new()).await?;
        if !a.ok() {
            return Err(format!("{key}: HeadObject was answered {}", a.status));
        }
        let header = |name: &str| {
            a.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(LockState {
            mode: header("x-amz-object-lock-mode"),
            until: header("x-amz-object-lock-retain-until-date"),
            legal_hold: header("x-amz-object-lock-legal-hold").as_deref() == Some("ON"),
        })
    }

    /// What is wrong with how the store keeps `key`, which should be under
    /// COMPLIANCE retention until at least `until_ns`; `None` when nothing.
    pub async fn missing_lock(&self, key: &str, until_ns: i64) -> Option<String> {
        let state = match self.state(key).await {
            Ok(s) => s,
            Err(why) => return Some(format!("its Object Lock cannot be read: {why}")),
        };
        let want = s3_date(until_ns);
        let until = state.until.as_deref().unwrap_or("no date");
        let held_to = state
            .until
            .as_deref()
            .and_then(|u| u.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second());
        match (state.mode.as_deref(), held_to) {
            (Some("COMPLIANCE"), Some(t)) if t >= round_up(until_ns) / NS_PER_SEC => None,
            (Some("COMPLIANCE"), _) => Some(format!(
                "its COMPLIANCE retention ends at {until}, before its window ends ({want})"
            )),
            (mode, _) => Some(format!(
                "it is not under COMPLIANCE retention (the store reports {}, until {until}); it should be until {want}",
                mode.unwrap_or("no retention")
            )),
        }
    }

    /// Sets or clears the object legal hold of `key`.
    pub async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), String> {
        let status = if on { "ON" } else { "OFF" };
        let body = format!("<LegalHold xmlns=\"{XMLNS}\"><Status>{status}</Status></LegalHold>");
        let a = self
            .send(
                "PUT",
                Some(key),
                vec![("legal-hold", String::new())],
                body.into_bytes(),
            )
            .await?;
        if a.ok() {
            Ok(())
        } else {
            Err(format!("{key}: {}", a.error("PutObjectLegalHold")))
        }
    }

    /// Every version id of `key` (objects and delete markers), oldest last
    /// as S3 lists them.
    pub async fn versions(&self, key: &str) -> Result<Vec<String>, String> {
        let full = self.full_key(key);
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = vec![("versions", String::new()), ("prefix", full.clone())];
            if let Some((k, v)) = &marker {
                query.push(("key-marker", k.clone()));
                query.push(("version-id-marker", v.clone()));
            }
            let a = self.send("GET", None, query, Vec::new()).await?;
            if !a.ok() {
                return Err(format!("{key}: {}", a.error("ListObjectVersions")));
            }
            for tag in ["Version", "DeleteMarker"] {
                for block in sigv4::elements(&a.body, tag) {
                    if sigv4::element(&block, "Key").as_deref() == Some(full.as_str()) {
                        if let Some(id) = sigv4::element(&block, "VersionId") {
                            out.push(id);
                        }
                    }
                }
            }
            if sigv4::element(&a.body, "IsTruncated").as_deref() != Some("true") {
                return Ok(out);
            }
            let next = (
                sigv4::element(&a.body, "NextKeyMarker").unwrap_or_default(),
                sigv4::element(&a.body, "NextVersionIdMarker").unwrap_or_default(),
            );
            if marker.as_ref() == Some(&next) || next.0.is_empty() {
                return Ok(out);
            }
            marker = Some(next);
        }
    }

    /// Deletes every version of `key`; none is no error. A version the
    /// lock still keeps stops it with [`Locked`] (the others may be gone).
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        for id in self.versions(key).await.map_err(store_error)? {
            let a = self
                .send("DELETE", Some(key), vec![("versionId", id)], Vec::new())
                .await
                .map_err(store_error)?;
            match a.status {
                200..=299 | 404 => {}
                403 => {
                    return Err(store_error(Locked {
                        key: key.to_owned(),
                        detail: a.error("DeleteObject"),
                    }))
                }
                _ => return Err(store_error(format!("{key}: {}", a.error("DeleteObject")))),
            }
        }
        Ok(())
    }

    fn full_key(&self, key: &str) -> String {
        let prefix = self.s3.prefix.trim_matches('/');
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        }
    }

    async fn send(
        &self,
        method: &'static str,
        key: Option<&str>,
        query: Vec<(&str, String)>,
        body: Vec<u8>,
    ) -> Result<sigv4::Answer, String> {
        sigv4::send(
            &self.client,
            &self.s3,
            Call {
                method,
                key,
                query,
                body,
            },
        )
        .await
    }
}

/// `ns` rounded up to a whole second.
fn round_up(ns: i64) -> i64 {
    let r = ns.rem_euclid(NS_PER_SEC);
    if r == 0 {
        ns
    } else {
        ns.saturating_add(NS_PER_SEC - r)
    }
}

/// `2027-06-05T10:00:00Z`: the whole seconds of `ns`, in UTC.
fn s3_date(ns: i64) -> String {
    jiff::Timestamp::from_second(ns.div_euclid(NS_PER_SEC))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{decide, Class, IpClear, NS_PER_DAY};
    use proptest::prelude::*;

    fn lock(policy: Policy) -> ObjectLock {
        ObjectLock::new(
            S3Options {
                bucket: "b".into(),
                prefix: "p".into(),
                endpoint: "http://127.0.0.1:1".into(),
                region: String::new(),
                path_style: true,
                allow_http: true,
                credentials: super::super::s3::Credentials::Environment,
                cache_bytes: 0,
            },
            policy,
        )
        .unwrap()
    }

    fn segment(time_max_ns: i64, sources: &[&str]) -> SegmentMeta {
        SegmentMeta {
            id: 1,
            path: "segments/x.parquet".into(),
            seq_min: 1,
            seq_max: 1,
            time_min_ns: time_max_ns,
            time_max_ns,
            rows: 1,
            bytes: 1,
            sha256: String::new(),
            sources: sources.iter().map(|s| (s.to_string(), 1)).collect(),
            raw_bytes: 1,
            created_at_ns: time_max_ns,
        }
    }

    #[test]
    fn a_put_locks_full_tiles_and_the_checkpoint() {
        assert!(!is_ledger_object("segments/2026/12/07/10/1-9.parquet"));
        assert!(is_ledger_object("checkpoint"));
        assert!(is_ledger_object("tile/1/000"));
        assert!(is_ledger_object("tile/0/x001/234"));
        assert!(!is_ledger_object("tile/1/000.p/17"));
    }

    #[test]
    fn dates_are_whole_seconds_in_utc() {
        assert_eq!(s3_date(1_735_689_600_000_000_000), "2025-01-01T00:00:00Z");
        assert_eq!(
            round_up(1_735_689_600_000_000_001),
            1_735_689_601_000_000_000
        );
        assert_eq!(
            round_up(1_735_689_600_000_000_000),
            1_735_689_600_000_000_000
        );
        let l = lock(Policy {
            default_days: 180,
            classes: vec![Class {
                name: "fw".into(),
                sources: vec!["fw-*".into()],
                days: 365,
            }],
        });
        assert_eq!(l.ledger_until(0), 365 * NS_PER_DAY);
    }

    proptest! {
        /// Retention never finds a segment expired while its lock holds,
        /// and finds it expired within a second of the lock's end.
        #[test]
        fn the_lock_ends_when_retention_would_delete(
            time_max in 1_600_000_000_000_000_000i64..1_900_000_000_000_000_000,
            fw in any::<bool>(),
            default_days in 1u64..400,
            class_days in 1u64..4000,
            before in 0i64..(3 * NS_PER_DAY),
        ) {
            let policy = Policy {
                default_days,
                classes: vec![Class { name: "fw".into(), sources: vec!["fw-*".into()], days: class_days }],
            };
            let seg = segment(time_max, if fw { &["fw-1", "app"] } else { &["app"] });
            let until = lock(policy.clone()).segment_until(&seg);
            let expired = |now: i64| !decide(std::slice::from_ref(&seg), &[], &policy, now, &IpClear::new()).expired.is_empty();
            prop_assert!(!expired(until - NS_PER_SEC - before), "expired a second before the lock ends");
            prop_assert!(expired(until + 1), "kept after the lock ended");
            prop_assert!(until % NS_PER_SEC == 0);
        }
    }
}
