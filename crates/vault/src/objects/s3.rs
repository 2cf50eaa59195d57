//! A bucket of an S3-compatible store as the vault's object store
//! (`storage.url = "s3://bucket/prefix"`): AWS, an Indian cloud region's
//! S3 service, or a store on premises (Garage, MinIO, Ceph RGW, ...).
//!
//! A `PUT` that returns success is durable in the store, so the local
//! store's fsync discipline has no counterpart here. Keys are the same as
//! on a local disk, under the URL's prefix. The secret key is read from a
//! credentials file or the environment when the store is built, is held
//! only by the client, and is never put in a message or log line.

use crate::VaultError;
use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the bucket is and how to reach it (`storage.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Options {
    pub bucket: String,
    /// Key prefix under which every object is kept; empty for the bucket's root.
    pub prefix: String,
    /// `https://host:port` of the server; empty: AWS.
    pub endpoint: String,
    /// The region requests are signed for; empty: `us-east-1`.
    pub region: String,
    /// The bucket in the path rather than the host name.
    pub path_style: bool,
    /// A plain `http://` endpoint is allowed.
    pub allow_http: bool,
    pub credentials: Credentials,
    /// Bytes of segments kept on local disk for search (`storage.cache_size`;
    /// 0: none).
    pub cache_bytes: u64,
}

/// Where the access key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and (optional)
    /// `AWS_SESSION_TOKEN`.
    Environment,
    /// An AWS-style credentials file and the section to read.
    File { path: PathBuf, profile: String },
}

impl S3Options {
    /// The URL the objects are under, as shown to people (no secret is in it).
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The region requests are signed for.
    pub fn signing_region(&self) -> &str {
        if self.region.is_empty() {
            "us-east-1"
        } else {
            &self.region
        }
    }
}

/// An access key. Its `Debug` never shows the secret.
pub(super) struct AccessKey {
    pub(super) id: String,
    pub(super) secret: String,
    pub(super) token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A store error at opening, naming the store and the setting to check.
fn config_error(o: &S3Options, what: impl std::fmt::Display) -> VaultError {
    let at = if o.endpoint.is_empty() {
        format!("AWS, {}", o.signing_region())
    } else {
        pramaan_config::redact(&o.endpoint)
    };
    VaultError::Store(format!("{} at {at}: {what}", o.url()))
}

impl Credentials {
    pub(super) fn read(&self) -> Result<AccessKey, String> {
        match self {
            Credentials::Environment => {
                let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                    (Some(id), Some(secret)) => Ok(AccessKey {
                        id,
                        secret,
                        token: var("AWS_SESSION_TOKEN"),
                    }),
                    _ => Err(
                        "no access key: set storage.credentials_file, or AWS_ACCESS_KEY_ID and \
                              AWS_SECRET_ACCESS_KEY in pramaan's environment"
                            .into(),
                    ),
                }
            }
            Credentials::File { path, profile } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("storage.credentials_file {}: {e}", path.display()))?;
                warn_if_readable_by_others(path);
                parse_credentials(&text, profile)
                    .map_err(|why| format!("storage.credentials_file {}: {why}", path.display()))
            }
        }
    }
}

/// The access key in section `[profile]` of an AWS-style credentials file
/// (`key = value` lines, `#` and `;` comments). Errors name what is
/// missing, never a value.
fn parse_credentials(text: &str, profile: &str) -> Result<AccessKey, String> {
    let mut in_profile = false;
    let mut seen_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            in_profile = name == profile || name == format!("profile {profile}");
            seen_profile |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_owned();
        match k.trim() {
            "aws_access_key_id" => id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    if !seen_profile {
        return Err(format!("it has no [{profile}] section"));
    }
    match (
        id.filter(|v| !v.is_empty()),
        secret.filter(|v| !v.is_empty()),
    ) {
        (Some(id), Some(secret)) => Ok(AccessKey {
            id,
            secret,
            token: token.filter(|t| !t.is_empty()),
        }),
        (None, _) => Err(format!("[{profile}] has no aws_access_key_id")),
        (_, None) => Err(format!("[{profile}] has no aws_secret_access_key")),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the S3 credentials file can be read by other users: chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &std::path::Path) {}

/// The store for `o`: requests time out, and transient failures are
/// retried with back-off for a bounded time (the sealer retries a failed
/// seal after that on its own, so nothing is lost while the store is away).
/// With `object_lock`, every put carries its body's SHA-256 and says so
/// (`x-amz-sdk-checksum-algorithm`), which S3 requires of a put into a
/// bucket with a default retention (Loki's puts lack it: grafana/loki#4215).
pub fn open(o: &S3Options, object_lock: bool) -> Result<Arc<dyn ObjectStore>, VaultError> {
    let key = o.credentials.read().map_err(|why| config_error(o, why))?;
    let mut client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120))
        .with_allow_http(o.allow_http);
    if object_lock {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            reqwest::header::HeaderValue::from_static("SHA256"),
        );
        client = client.with_default_headers(headers);
    }
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(&o.bucket)
        .with_region(o.signing_region())
        .with_access_key_id(&key.id)
        .with_secret_access_key(&key.secret)
        .with_virtual_hosted_style_request(!o.path_style)
        .with_allow_http(o.allow_http)
        .with_client_options(client)
        .with_retry(RetryConfig {
            max_retries: 4,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        });
    if let Some(t) = &key.token {
        b = b.with_token(t);
    }
    if object_lock {
        b = b.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
    }
    if !o.endpoint.is_empty() {
        b = b.with_endpoint(&o.endpoint);
    }
    let store = b.build().map_err(|e| config_error(o, e))?;
    Ok(if o.prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(super::under::Under::new(store, &o.prefix))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_sections_and_missing_keys() {
        let text = "# keys\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\n\
                    [profile audit]\naws_access_key_id=AKIA2\naws_secret_access_key=other\naws_session_token = tok\n";
        let k = parse_credentials(text, "default").unwrap();
        assert_eq!(
            (k.id.as_str(), k.secret.as_str(), k.token),
            ("AKIA1", "s3cr3t", None)
        );
        let k = parse_credentials(text, "audit").unwrap();
        assert_eq!((k.id.as_str(), k.token.as_deref()), ("AKIA2", Some("tok")));
        assert!(!format!("{k:?}").contains("other"), "Debug shows no secret");
        let e = parse_credentials(text, "ops").err().unwrap();
        assert_eq!(e, "it has no [ops] section");
        let e = parse_credentials("[default]\naws_access_key_id = A\n", "default")
            .err()
            .unwrap();
        assert_eq!(e, "[default] has no aws_secret_access_key");
        let e = parse_credentials("[default]\naws_secret_access_key = hunter2\n", "default")
            .err()
            .unwrap();
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn a_missing_credentials_file_is_named() {
        let o = S3Options {
            bucket: "evidence".into(),
            prefix: "p".into(),
            endpoint: "http://127.0.0.1:1".into(),
            region: String::new(),
            path_style: true,
            allow_http: true,
            credentials: Credentials::File {
                path: "/nonexistent/creds".into(),
                profile: "default".into(),
            },
            cache_bytes: 0,
        };
        let e = open(&o, false).err().unwrap().to_string();
        assert!(e.starts_with("object store: s3://evidence/p at http://127.0.0.1:1: storage.credentials_file /nonexistent/creds:"), "{e}");
    }
}
