//! `storage.location`: where the evidence store is, in India (direction
//! (v) of CERT-In's directions of 28 April 2022 asks that logs be kept
//! within Indian jurisdiction). It is either a cloud region in India, by
//! its provider's name for it, or a site on premises in India that the
//! provider names itself.

/// A cloud region in India: its id as the provider's S3 API reports it
/// (`GetBucketLocation`), the provider and the city.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: &'static str,
    pub cloud: &'static str,
    pub city: &'static str,
}

/// The cloud regions in India that pramaan knows by name. A store not in
/// this list (an Indian provider's own, or one on premises) is declared as
/// `on-premises:<site>`.
pub const INDIAN_REGIONS: &[Region] = &[
    Region {
        id: "ap-south-1",
        cloud: "AWS",
        city: "Mumbai",
    },
    Region {
        id: "ap-south-2",
        cloud: "AWS",
        city: "Hyderabad",
    },
    Region {
        id: "centralindia",
        cloud: "Microsoft Azure",
        city: "Pune",
    },
    Region {
        id: "southindia",
        cloud: "Microsoft Azure",
        city: "Chennai",
    },
    Region {
        id: "westindia",
        cloud: "Microsoft Azure",
        city: "Mumbai",
    },
    Region {
        id: "jioindiawest",
        cloud: "Microsoft Azure",
        city: "Jamnagar",
    },
    Region {
        id: "jioindiacentral",
        cloud: "Microsoft Azure",
        city: "Nagpur",
    },
    Region {
        id: "asia-south1",
        cloud: "Google Cloud",
        city: "Mumbai",
    },
    Region {
        id: "asia-south2",
        cloud: "Google Cloud",
        city: "Delhi",
    },
    Region {
        id: "ap-mumbai-1",
        cloud: "Oracle Cloud",
        city: "Mumbai",
    },
    Region {
        id: "ap-hyderabad-1",
        cloud: "Oracle Cloud",
        city: "Hyderabad",
    },
];

/// The prefix of a site on premises.
pub const ON_PREMISES: &str = "on-premises:";

/// What `storage.location` declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// Nothing (the key is empty).
    Undeclared,
    /// A cloud region in India.
    Region(Region),
    /// A site in India the provider names (`on-premises:Mumbai DC-2`): the
    /// store's own region name cannot say where it is, so pramaan checks it
    /// reports the region configured (`storage.region`) and shows the site.
    Site(String),
}

impl Location {
    /// Reads `storage.location`; an error says what is allowed.
    pub fn parse(text: &str) -> Result<Location, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Location::Undeclared);
        }
        if let Some(site) = text.strip_prefix(ON_PREMISES) {
            let site = site.trim();
            if site.is_empty() || site.chars().any(char::is_control) {
                return Err(format!("{ON_PREMISES} is followed by the site's name"));
            }
            return Ok(Location::Site(site.to_owned()));
        }
        INDIAN_REGIONS
            .iter()
            .find(|r| r.id == text)
            .map(|r| Location::Region(*r))
            .ok_or_else(|| format!("{text:?} is not a cloud region in India that pramaan knows"))
    }

    /// The place in words: `AWS Mumbai (ap-south-1)`, `on premises: DC-2`, or "".
    pub fn place(&self) -> String {
        match self {
            Location::Undeclared => String::new(),
            Location::Region(r) => format!("{} {} ({})", r.cloud, r.city, r.id),
            Location::Site(s) => format!("on premises: {s}"),
        }
    }
}

/// What `storage.location` allows, as a phrase that follows "expected".
pub fn allowed() -> String {
    let ids: Vec<&str> = INDIAN_REGIONS.iter().map(|r| r.id).collect();
    format!(
        "a cloud region in India ({}), or \"{ON_PREMISES}<site>\" for a store on premises in \
         India (or an Indian provider's region not in that list), or \"\" for not declared",
        ids.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_sites_and_refusals() {
        assert_eq!(Location::parse(" ").unwrap(), Location::Undeclared);
        let mumbai = Location::parse("ap-south-1").unwrap();
        assert_eq!(mumbai.place(), "AWS Mumbai (ap-south-1)");
        assert_eq!(
            Location::parse("on-premises: Navi Mumbai DC-2").unwrap(),
            Location::Site("Navi Mumbai DC-2".into())
        );
        let e = Location::parse("us-east-1").unwrap_err();
        assert_eq!(
            e,
            "\"us-east-1\" is not a cloud region in India that pramaan knows"
        );
        assert!(Location::parse("on-premises:").is_err());
        assert!(allowed().contains("ap-hyderabad-1"));
    }
}
