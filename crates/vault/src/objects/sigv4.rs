//! The few S3 requests `object_store` has no call for (a bucket's region,
//! its Object Lock configuration, an object's retention, legal hold and
//! versions), made here with AWS Signature Version 4 (header form).
//!
//! One place builds the URL (bucket in the path or the host name, the
//! configured key prefix), signs and sends; callers name the operation by
//! its method, key and sub-resource.

use super::s3::{AccessKey, S3Options};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// An answer: its status and body. Errors before an answer (no connection,
/// no credentials) are the `Err` of [`send`].
pub(super) struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `<status> <Code> <Message>` of an S3 error answer.
    pub fn error(&self, operation: &str) -> String {
        let part = |tag: &str| element(&self.body, tag).unwrap_or_default();
        format!(
            "{operation} was answered {} {} {}",
            self.status,
            part("Code"),
            part("Message")
        )
        .trim_end()
        .to_owned()
    }
}

/// A request to the bucket (`key: None`) or to one of its objects (the key
/// under the configured prefix), with the query's sub-resource and
/// parameters (`("retention", "")`, `("versionId", id)`) and a body.
pub(super) struct Call<'a> {
    pub method: &'static str,
    pub key: Option<&'a str>,
    pub query: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
}

/// A client for these requests: they time out (connect 5 s, whole 30 s).
pub(super) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())
}

/// Sends `call` with `client`, signed with the store's credentials.
pub(super) async fn send(
    client: &reqwest::Client,
    o: &S3Options,
    call: Call<'_>,
) -> Result<Answer, String> {
    let key = o.credentials.read()?;
    let (url, canonical_path, canonical_query) = url_of(o, &call)?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(format!("{url} has no host")),
    };
    let now = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut extra = Vec::new();
    if !call.body.is_empty() {
        // Object Lock's calls require a checksum of the body.
        let md5 = <md5::Md5 as md5::Digest>::digest(&call.body);
        extra.push((
            "content-md5".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(md5),
        ));
    }
    let signed = sign(
        &Request {
            method: call.method,
            host: &host,
            path: &canonical_path,
            query: &canonical_query,
            headers: extra,
            payload_sha256: &hex::encode(Sha256::digest(&call.body)),
        },
        &key,
        o.signing_region(),
        &now,
    );
    let method = reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method, url.clone()).body(call.body);
    for (name, value) in signed {
        req = req.header(name, value);
    }
    // reqwest's words name the URL: the endpoint's password, if any, is hidden.
    let resp = req
        .send()
        .await
        .map_err(|e| pramaan_config::redact(&e.to_string()))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// The URL of `call` at the endpoint (or AWS's regional endpoint), with
/// its canonical path and query as SigV4 signs them.
fn url_of(o: &S3Options, call: &Call<'_>) -> Result<(url::Url, String, String), String> {
    let base = if o.endpoint.is_empty() {
        format!("https://s3.{}.amazonaws.com", o.signing_region())
    } else {
        o.endpoint.trim_end_matches('/').to_owned()
    };
    let mut url = url::Url::parse(&base).map_err(|e| format!("storage.endpoint: {e}"))?;
    let object = call.key.map(|k| {
        let prefix = o.prefix.trim_matches('/');
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}/{k}")
        }
    });
    let mut path = url.path().trim_end_matches('/').to_owned();
    if o.path_style {
        path.push('/');
        path.push_str(&encode(&o.bucket, false));
    } else {
        let host = format!("{}.{}", o.bucket, url.host_str().unwrap_or_default());
        url.set_host(Some(&host))
            .map_err(|e| format!("storage.endpoint: {e}"))?;
    }
    match &object {
        Some(k) => {
            path.push('/');
            path.push_str(&encode(k, true));
        }
        None if !o.path_style => path.push('/'),
        None => {}
    }
    url.set_path(&path);
    let mut sorted: Vec<(String, String)> = call
        .query
        .iter()
        .map(|(k, v)| (encode(k, false), encode(v, false)))
        .collect();
    sorted.sort();
    let canonical_query: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // On the wire a sub-resource goes without `=` (`?retention`), as the SDKs send it.
    let wire: Vec<String> = sorted
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    url.set_query((!wire.is_empty()).then(|| wire.join("&")).as_deref());
    Ok((
        url.clone(),
        url.path().to_owned(),
        canonical_query.join("&"),
    ))
}

/// SigV4's URI encoding: every byte but `A-Za-z0-9-._~` (and `/` in a key) as `%XX`.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The text of the first `<tag ...>text</tag>` (or `""` for `<tag/>`) in an XML answer.
pub(super) fn element(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).into_iter().next()
}

/// The text of every `<tag ...>text</tag>` (or `""` for `<tag/>`) in an XML answer, in order.
pub(super) fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = xml[from..].find(&open).map(|i| from + i) {
        let after = i + open.len();
        // `<LocationConstraintX` is another element.
        match xml[after..].chars().next() {
            Some('>' | ' ' | '/' | '\t' | '\r' | '\n') => {}
            _ => {
                from = after;
                continue;
            }
        }
        let Some(end) = xml[after..].find('>').map(|e| after + e) else {
            break;
        };
        if xml[..end].ends_with('/') {
            out.push(String::new());
            from = end + 1;
            continue;
        }
        let Some(stop) = xml[end + 1..].find(&close).map(|s| end + 1 + s) else {
            break;
        };
        out.push(xml[end + 1..stop].trim().to_owned());
        from = stop + close.len();
    }
    out
}

/// What is signed: `path` and `query` in canonical form, the headers
/// beyond `host`, `x-amz-content-sha256` and `x-amz-date` (names in lower
/// case), and the body's SHA-256 in hex.
pub(super) struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(String, String)>,
    pub payload_sha256: &'a str,
}

/// The headers to send with `r` for S3 in `region` at `amz_date`
/// (`YYYYMMDDTHHMMSSZ`): its own, the three SigV4 adds, and `authorization`
/// (`host` is left out: reqwest writes it from the URL, the same text).
pub(super) fn sign(
    r: &Request<'_>,
    key: &AccessKey,
    region: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let mut headers = r.headers.clone();
    headers.push(("host".into(), r.host.to_owned()));
    headers.push(("x-amz-content-sha256".into(), r.payload_sha256.to_owned()));
    headers.push(("x-amz-date".into(), amz_date.to_owned()));
    if let Some(t) = &key.token {
        headers.push(("x-amz-security-token".into(), t.clone()));
    }
    headers.sort();
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed_names = names.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.trim()))
        .collect();
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_names}\n{}",
        r.method, r.path, r.query, r.payload_sha256
    );
    let day = &amz_date[..8];
    let scope = format!("{day}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac_sha256(format!("AWS4{}", key.secret).as_bytes(), day.as_bytes());
    for part in [region, "s3", "aws4_request"] {
        k = hmac_sha256(&k, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&k, to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_names},Signature={signature}",
            key.id
        ),
    ));
    headers.retain(|(n, _)| n != "host");
    headers
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| k.map(|b| b ^ x);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::super::s3::Credentials;
    use super::*;

    fn example_key() -> AccessKey {
        AccessKey {
            id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
        }
    }

    fn authorization(h: &[(String, String)]) -> &str {
        &h.iter().find(|(n, _)| n == "authorization").unwrap().1
    }

    #[test]
    fn hmac_sha256_is_rfc_4231s() {
        // RFC 4231, test cases 2 and 6 (a key longer than a block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_get_is_signed_as_awss_own_example() {
        // "GET Bucket Lifecycle" in AWS's examples of Signature Version 4 for S3.
        let h = sign(
            &Request {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/",
                query: "lifecycle=",
                headers: Vec::new(),
                payload_sha256: &hex::encode(Sha256::digest(b"")),
            },
            &example_key(),
            "us-east-1",
            "20130524T000000Z",
        );
        assert_eq!(
            authorization(&h),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;x-amz-content-sha256;x-amz-date,\
             Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        assert!(!h.iter().any(|(n, _)| n == "host"));
    }

    #[test]
    fn a_put_with_a_body_and_headers_is_signed_as_awss_own_example() {
        // "PUT Object" in the same examples: a body, a date and a storage class.
        let h = sign(
            &Request {
                method: "PUT",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test%24file.text",
                query: "",
                headers: vec![
                    ("date".into(), "Fri, 24 May 2013 00:00:00 GMT".into()),
                    ("x-amz-storage-class".into(), "REDUCED_REDUNDANCY".into()),
                ],
                payload_sha256: &hex::encode(Sha256::digest(b"Welcome to Amazon S3.")),
            },
            &example_key(),
            "us-east-1",
            "20130524T000000Z",
        );
        assert_eq!(
            authorization(&h),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,\
             Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn answers_are_read() {
        let ns = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
        let xml = format!(
            r#"{ns}<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">ap-south-1</LocationConstraint>"#
        );
        assert_eq!(
            element(&xml, "LocationConstraint").as_deref(),
            Some("ap-south-1")
        );
        let empty =
            format!(r#"{ns}<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#);
        assert_eq!(element(&empty, "LocationConstraint").as_deref(), Some(""));
        let err = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        assert_eq!(element(err, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(
            element("<Codes>x</Codes><Code>y</Code>", "Code").as_deref(),
            Some("y")
        );
        assert_eq!(element(err, "LocationConstraint"), None);
        let versions = "<R><Version><Key>a</Key><VersionId>1</VersionId></Version>\
                        <DeleteMarker><Key>a</Key><VersionId>2</VersionId></DeleteMarker>\
                        <Version><Key>a/b</Key><VersionId/></Version></R>";
        assert_eq!(elements(versions, "VersionId"), ["1", "2", ""]);
        assert_eq!(elements(versions, "Key"), ["a", "a", "a/b"]);
    }

    proptest::proptest! {
        /// A store's answer is untrusted text: any text reads without a
        /// panic, each element found is text of the answer, and elements
        /// written whole are found, in order.
        #[test]
        fn any_answer_reads_and_written_elements_are_found(
            noise in ".{0,200}",
            values in proptest::collection::vec("[A-Za-z0-9 ._:/-]{0,20}", 0..6),
        ) {
            for tag in ["Key", "VersionId", "Code"] {
                for text in elements(&noise, tag) {
                    proptest::prop_assert!(noise.contains(text.as_str()));
                }
            }
            let doc: String = values
                .iter()
                .map(|v| format!("<Version><Key>{v}</Key><VersionId/></Version>"))
                .collect();
            let doc = format!("<R>{doc}<KeyCount>1</KeyCount></R>");
            let found = elements(&doc, "Key");
            let want: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
            proptest::prop_assert_eq!(found, want);
            proptest::prop_assert_eq!(elements(&doc, "VersionId").len(), values.len());
        }
    }

    fn options(endpoint: &str, path_style: bool, prefix: &str) -> S3Options {
        S3Options {
            bucket: "evidence".into(),
            prefix: prefix.into(),
            endpoint: endpoint.into(),
            region: "ap-south-1".into(),
            path_style,
            allow_http: true,
            credentials: Credentials::Environment,
            cache_bytes: 0,
        }
    }

    #[test]
    fn urls_are_path_or_host_style_with_the_prefix_and_canonical_forms() {
        let call = |key: Option<&'static str>, query: Vec<(&'static str, String)>| Call {
            method: "GET",
            key,
            query,
            body: Vec::new(),
        };
        let o = options("http://127.0.0.1:9000/", true, "site a/p");
        let (url, path, query) =
            url_of(&o, &call(None, vec![("location", String::new())])).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/evidence?location");
        assert_eq!((path.as_str(), query.as_str()), ("/evidence", "location="));
        let (url, path, query) = url_of(
            &o,
            &call(
                Some("segments/2026/x.parquet"),
                vec![("versionId", "a+b/c".into())],
            ),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/evidence/site%20a/p/segments/2026/x.parquet?versionId=a%2Bb%2Fc"
        );
        assert_eq!(path, "/evidence/site%20a/p/segments/2026/x.parquet");
        assert_eq!(query, "versionId=a%2Bb%2Fc");
        let aws = options("", false, "");
        let (url, path, query) = url_of(
            &aws,
            &call(
                None,
                vec![("versions", String::new()), ("prefix", "checkpoint".into())],
            ),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://evidence.s3.ap-south-1.amazonaws.com/?prefix=checkpoint&versions"
        );
        assert_eq!(
            (path.as_str(), query.as_str()),
            ("/", "prefix=checkpoint&versions=")
        );
    }
}
