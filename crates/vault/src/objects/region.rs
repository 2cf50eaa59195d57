//! Where the evidence store is: the place `storage.location` declares,
//! checked against the region the bucket reports (S3's `GetBucketLocation`,
//! `GET /<bucket>?location`, signed with AWS Signature Version 4).
//!
//! `object_store` has no call for a bucket's location, so this one request
//! is made here. It is asked once, when the vault opens; a mismatch does
//! not stop `serve` (refusing logs would lose evidence the directions also
//! ask to keep) but is shown red by `pramaan status` and the dashboard.

use super::s3::{AccessKey, S3Options};
use pramaan_config::location::Location;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How the declared place and the store's answer compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The bucket reports the region declared (a cloud region's id; for a
    /// site on premises, `storage.region`).
    Matches,
    /// It reports another: the evidence may be kept outside India.
    Mismatch,
    /// A bucket whose place is not declared (`storage.location` is empty).
    Undeclared,
    /// The bucket's region could not be read (the reason is in `detail`).
    Unknown,
    /// A directory on this machine: there is no region to ask.
    Local,
}

/// Where the evidence store is, as declared and as checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationCheck {
    /// The declared place in words (`AWS Mumbai (ap-south-1)`,
    /// `on premises: DC-2`); empty when not declared.
    pub declared: String,
    /// The region the bucket reports; absent for a directory or when it
    /// could not be read.
    pub reported_region: Option<String>,
    pub verdict: Verdict,
    /// One sentence saying what was found.
    pub detail: String,
}

impl LocationCheck {
    /// A directory on this machine.
    pub fn local(declared: &Location) -> LocationCheck {
        let detail = match declared {
            Location::Undeclared => {
                "a directory on this machine (storage.location not declared)".into()
            }
            d => format!(
                "a directory on this machine (storage.location: {})",
                d.place()
            ),
        };
        LocationCheck {
            declared: declared.place(),
            reported_region: None,
            verdict: Verdict::Local,
            detail,
        }
    }

    /// True when it should be shown red.
    pub fn is_mismatch(&self) -> bool {
        self.verdict == Verdict::Mismatch
    }
}

/// Compares the declared place with what the bucket answered
/// (`configured`: the region requests are signed for, `storage.region`).
pub fn judge(
    declared: &Location,
    configured: &str,
    reported: Result<String, String>,
) -> LocationCheck {
    let place = declared.place();
    let (verdict, detail) = match (&reported, declared) {
        (Err(why), _) => (
            Verdict::Unknown,
            format!("the bucket's region could not be read: {why}"),
        ),
        (Ok(r), Location::Undeclared) => (
            Verdict::Undeclared,
            format!(
                "the bucket reports region {r}; storage.location does not say where it is \
                 (a cloud region in India, or on-premises:<site>)"
            ),
        ),
        (Ok(r), Location::Region(want)) if r == want.id => (
            Verdict::Matches,
            format!("the bucket reports region {r}, as declared ({place})"),
        ),
        (Ok(r), Location::Region(want)) => (
            Verdict::Mismatch,
            format!(
                "the bucket reports region {r}, not {} as storage.location declares ({place}): \
                 the evidence may be kept outside India",
                want.id
            ),
        ),
        (Ok(r), Location::Site(_)) if r == configured => (
            Verdict::Matches,
            format!(
                "the store reports region {r}, the one configured (storage.region); the site is \
                 as declared ({place})"
            ),
        ),
        (Ok(r), Location::Site(_)) => (
            Verdict::Mismatch,
            format!(
                "the store reports region {r}, not {configured} (storage.region): it is not the \
                 store declared ({place})"
            ),
        ),
    };
    LocationCheck {
        declared: place,
        reported_region: reported.ok(),
        verdict,
        detail,
    }
}

/// Asks the bucket where it is and compares that with `declared`.
pub async fn check(o: &S3Options, declared: &Location) -> LocationCheck {
    judge(declared, o.signing_region(), bucket_region(o).await)
}

/// The region the bucket reports (`us-east-1` for S3's empty answer).
pub async fn bucket_region(o: &S3Options) -> Result<String, String> {
    let key = o.credentials.read()?;
    let url = location_url(o)?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(format!("{url} has no host")),
    };
    let now = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let signed = sign_get(
        &host,
        url.path(),
        "location=",
        &key,
        o.signing_region(),
        &now,
    );
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(url.clone());
    for (name, value) in signed {
        req = req.header(name, value);
    }
    // reqwest's words name the URL: the endpoint's password, if any, is hidden.
    let resp = req
        .send()
        .await
        .map_err(|e| pramaan_config::redact(&e.to_string()))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let part = |tag: &str| element(&body, tag).unwrap_or_default();
        return Err(format!(
            "GetBucketLocation was answered {status} {} {}",
            part("Code"),
            part("Message")
        )
        .trim_end()
        .to_owned());
    }
    let region = element(&body, "LocationConstraint")
        .ok_or_else(|| "GetBucketLocation's answer has no LocationConstraint".to_owned())?;
    // S3's two legacy answers: nothing for us-east-1, `EU` for eu-west-1.
    Ok(match region.as_str() {
        "" => "us-east-1".into(),
        "EU" => "eu-west-1".into(),
        r => r.to_owned(),
    })
}

/// `GET /<bucket>?location` at the endpoint, or AWS's regional endpoint;
/// the bucket in the path or in the host name as `storage.path_style` says.
fn location_url(o: &S3Options) -> Result<url::Url, String> {
    let base = if o.endpoint.is_empty() {
        format!("https://s3.{}.amazonaws.com", o.signing_region())
    } else {
        o.endpoint.trim_end_matches('/').to_owned()
    };
    let mut url = url::Url::parse(&base).map_err(|e| format!("storage.endpoint: {e}"))?;
    if o.path_style {
        let path = format!("{}/{}", url.path().trim_end_matches('/'), o.bucket);
        url.set_path(&path);
    } else {
        let host = format!("{}.{}", o.bucket, url.host_str().unwrap_or_default());
        url.set_host(Some(&host))
            .map_err(|e| format!("storage.endpoint: {e}"))?;
        url.set_path("/");
    }
    url.set_query(Some("location"));
    Ok(url)
}

/// The text of the first `<tag ...>text</tag>` (or `""` for `<tag/>`) in an XML answer.
fn element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}");
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
        let end = after + xml[after..].find('>')?;
        if xml[..end].ends_with('/') {
            return Some(String::new());
        }
        let close = format!("</{tag}>");
        let stop = end + 1 + xml[end + 1..].find(&close)?;
        return Some(xml[end + 1..stop].trim().to_owned());
    }
    None
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The headers that sign a `GET` of `path?query` (no body) at `host` for
/// S3 in `region` at `amz_date` (`YYYYMMDDTHHMMSSZ`): AWS Signature
/// Version 4, header form. `path` and `query` are already in canonical
/// form (a bucket name and `location=` need no encoding).
fn sign_get(
    host: &str,
    path: &str,
    query: &str,
    key: &AccessKey,
    region: &str,
    amz_date: &str,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("host", host.to_owned()),
        ("x-amz-content-sha256", EMPTY_SHA256.to_owned()),
        ("x-amz-date", amz_date.to_owned()),
    ];
    if let Some(t) = &key.token {
        headers.push(("x-amz-security-token", t.clone()));
    }
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    let signed_names = names.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.trim()))
        .collect();
    let canonical =
        format!("GET\n{path}\n{query}\n{canonical_headers}\n{signed_names}\n{EMPTY_SHA256}");
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
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_names},Signature={signature}",
            key.id
        ),
    ));
    // reqwest writes `host` itself, from the URL (the same text).
    headers.retain(|(n, _)| *n != "host");
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
    use super::*;

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
    fn a_request_is_signed_as_awss_own_example() {
        // "GET Bucket Lifecycle" in AWS's examples of Signature Version 4 for S3.
        let key = AccessKey {
            id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
        };
        let h = sign_get(
            "examplebucket.s3.amazonaws.com",
            "/",
            "lifecycle=",
            &key,
            "us-east-1",
            "20130524T000000Z",
        );
        let auth = &h.iter().find(|(n, _)| *n == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;x-amz-content-sha256;x-amz-date,\
             Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        assert!(!h.iter().any(|(n, _)| *n == "host"));
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
    }

    #[test]
    fn the_declared_place_is_judged_against_the_answer() {
        let mumbai = Location::parse("ap-south-1").unwrap();
        let site = Location::parse("on-premises:DC-2").unwrap();
        let ok = |r: &str| Ok(r.to_owned());
        assert_eq!(
            judge(&mumbai, "ap-south-1", ok("ap-south-1")).verdict,
            Verdict::Matches
        );
        let c = judge(&mumbai, "us-east-1", ok("us-east-1"));
        assert!(c.is_mismatch());
        assert_eq!(
            c.detail,
            "the bucket reports region us-east-1, not ap-south-1 as storage.location declares \
             (AWS Mumbai (ap-south-1)): the evidence may be kept outside India"
        );
        assert_eq!(
            judge(&site, "garage", ok("garage")).verdict,
            Verdict::Matches
        );
        assert!(judge(&site, "garage", ok("us-east-1")).is_mismatch());
        assert_eq!(
            judge(&Location::Undeclared, "x", ok("x")).verdict,
            Verdict::Undeclared
        );
        let c = judge(&mumbai, "ap-south-1", Err("AccessDenied".into()));
        assert_eq!((c.verdict, c.reported_region), (Verdict::Unknown, None));
        assert_eq!(LocationCheck::local(&site).verdict, Verdict::Local);
    }

    #[test]
    fn the_url_is_path_or_host_style() {
        let mut o = S3Options {
            bucket: "evidence".into(),
            prefix: String::new(),
            endpoint: "http://127.0.0.1:9000/".into(),
            region: String::new(),
            path_style: true,
            allow_http: true,
            credentials: super::super::s3::Credentials::Environment,
            cache_bytes: 0,
        };
        assert_eq!(
            location_url(&o).unwrap().as_str(),
            "http://127.0.0.1:9000/evidence?location"
        );
        o.endpoint = String::new();
        o.region = "ap-south-1".into();
        o.path_style = false;
        assert_eq!(
            location_url(&o).unwrap().as_str(),
            "https://evidence.s3.ap-south-1.amazonaws.com/?location"
        );
    }
}
