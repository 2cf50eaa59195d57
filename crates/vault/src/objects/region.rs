//! Where the evidence store is: the place `storage.location` declares,
//! checked against the region the bucket reports (S3's `GetBucketLocation`,
//! `GET /<bucket>?location`, made by [`sigv4`]).
//!
//! `object_store` has no call for a bucket's location, so this one request
//! is made here. It is asked once, when the vault opens; a mismatch does
//! not stop `serve` (refusing logs would lose evidence the directions also
//! ask to keep) but is shown red by `pramaan status` and the dashboard.

use super::s3::S3Options;
use super::sigv4;
use pramaan_config::location::Location;
use serde::{Deserialize, Serialize};

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
    let answer = sigv4::send(
        &sigv4::client()?,
        o,
        sigv4::Call {
            method: "GET",
            key: None,
            query: vec![("location", String::new())],
            body: Vec::new(),
        },
    )
    .await?;
    if !answer.ok() {
        return Err(answer.error("GetBucketLocation"));
    }
    let region = sigv4::element(&answer.body, "LocationConstraint")
        .ok_or_else(|| "GetBucketLocation's answer has no LocationConstraint".to_owned())?;
    // S3's two legacy answers: nothing for us-east-1, `EU` for eu-west-1.
    Ok(match region.as_str() {
        "" => "us-east-1".into(),
        "EU" => "eu-west-1".into(),
        r => r.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
