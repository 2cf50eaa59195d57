//! The subscriber record (CERT-In directions of 28 April 2022, clause (vi)
//! a–g) and its validation. Pure: no I/O.
//!
//! Input comes as [`SubscriberInput`] (strings, as a CSV row, a JSON object
//! or an HTTP body gives them); [`SubscriberInput::validate`] turns it into a
//! [`Subscriber`] or names every bad field. Fields the directions require but
//! the input leaves out are allowed (a provider's legacy records are often
//! incomplete) and listed by [`Subscriber::missing`], which
//! `pramaan registry completeness` reports.

use pramaan_core::time::{rfc3339_ist, rfc3339_utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Longest free-text field, in bytes.
pub const MAX_TEXT: usize = 1024;
/// Longest external id, in bytes.
pub const MAX_ID: usize = 128;
/// Most phone numbers, owners or periods on one subscriber.
pub const MAX_LIST: usize = 64;

/// How a subscriber's name (and address) were validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KycMethod {
    /// Aadhaar e-KYC (OTP or biometric, through UIDAI).
    AadhaarEkyc,
    /// Aadhaar offline XML / QR verification.
    AadhaarOffline,
    /// Video-based customer identification (V-CIP).
    VideoKyc,
    /// Officially valid documents checked by the provider.
    Documents,
    /// Documents fetched from DigiLocker.
    Digilocker,
    /// Central KYC registry (CKYCR).
    Ckyc,
    /// GST registration and MCA (company/LLP) records, for organisations.
    GstMca,
}

/// The value named `name` in a (name, value) table: the enums' text forms.
fn by_name<T: Copy>(table: &[(&'static str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The name of `v` in its table (every variant is listed there).
fn name_of<T: Copy + PartialEq>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|(_, x)| *x == v).map_or("", |(n, _)| *n)
}

impl KycMethod {
    pub const ALL: [(&'static str, KycMethod); 7] = [
        ("aadhaar-ekyc", KycMethod::AadhaarEkyc),
        ("aadhaar-offline", KycMethod::AadhaarOffline),
        ("video-kyc", KycMethod::VideoKyc),
        ("documents", KycMethod::Documents),
        ("digilocker", KycMethod::Digilocker),
        ("ckyc", KycMethod::Ckyc),
        ("gst-mca", KycMethod::GstMca),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        by_name(&Self::ALL, &s.trim().to_ascii_lowercase().replace('_', "-"))
    }

    pub fn as_str(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// The ownership pattern of the subscriber (clause (vi) g).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ownership {
    Individual,
    Proprietorship,
    Partnership,
    Company,
    Llp,
    Trust,
    Society,
    Government,
}

impl Ownership {
    pub const ALL: [(&'static str, Ownership); 8] = [
        ("individual", Ownership::Individual),
        ("proprietorship", Ownership::Proprietorship),
        ("partnership", Ownership::Partnership),
        ("company", Ownership::Company),
        ("llp", Ownership::Llp),
        ("trust", Ownership::Trust),
        ("society", Ownership::Society),
        ("government", Ownership::Government),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        by_name(&Self::ALL, &s.trim().to_ascii_lowercase())
    }

    pub fn as_str(self) -> &'static str {
        name_of(&Self::ALL, self)
    }

    /// Organisations must name their owners, partners or directors.
    pub fn is_organisation(self) -> bool {
        self != Ownership::Individual
    }
}

/// One period of hire: `[from, to)`, `to` absent while the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from_ns: i64,
    pub to_ns: Option<i64>,
}

/// The personal fields: encrypted at rest, read only with a purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Personal {
    /// (a) validated name of the person or organisation.
    pub name: Option<String>,
    /// (a) how the name was validated.
    pub kyc_method: Option<KycMethod>,
    /// (a) when it was validated.
    pub kyc_verified_at_ns: Option<i64>,
    /// (d) e-mail given at registration.
    pub email: Option<String>,
    /// (d) IP address used at registration.
    pub registration_ip: Option<IpAddr>,
    /// (d) when the subscriber registered.
    pub registration_at_ns: Option<i64>,
    /// (e) the purpose of hiring the service.
    pub purpose: Option<String>,
    /// (f) validated postal address.
    pub address: Option<String>,
    /// (f) validated contact numbers, E.164 (`+919876543210`).
    pub phones: Vec<String>,
    /// (g) ownership pattern.
    pub ownership: Option<Ownership>,
    /// (g) owners, partners or directors of an organisation.
    pub owners: Vec<String>,
}

/// A subscriber as the register keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The provider's own id for the subscriber (billing/KYC system). Not
    /// personal; stored in plain text; makes create idempotent.
    pub external_id: String,
    /// (b) periods of hire, in order.
    pub periods: Vec<Period>,
    pub personal: Personal,
}

/// One bad field of one input record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// A list field given either as one string (`;`-separated) or as a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TextOrList {
    Text(String),
    List(Vec<String>),
}

impl TextOrList {
    fn items(&self) -> Vec<String> {
        match self {
            TextOrList::Text(s) => s
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            TextOrList::List(v) => v
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// A period as given: times or dates (a date alone is a whole UTC day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodInput {
    pub from: String,
    #[serde(default)]
    pub to: Option<String>,
}

/// A subscriber as a CSV row, a JSON object or an HTTP body gives it. The
/// field names are those `gen_subscribers.py` writes; JSON may also give
/// `phones`/`owners` as lists and several `periods`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberInput {
    #[serde(alias = "external_id")]
    pub subscriber_id: Option<String>,
    pub name: Option<String>,
    pub kyc_method: Option<String>,
    pub kyc_verified_at: Option<String>,
    pub email: Option<String>,
    pub registration_ip: Option<String>,
    pub registration_at: Option<String>,
    pub purpose: Option<String>,
    pub address: Option<String>,
    #[serde(alias = "phones")]
    pub phone: Option<TextOrList>,
    pub ownership: Option<String>,
    pub owners: Option<TextOrList>,
    pub hire_start: Option<String>,
    pub hire_end: Option<String>,
    pub periods: Option<Vec<PeriodInput>>,
}

/// The CSV columns this module understands (`external_id` is taken for `subscriber_id`).
pub const CSV_COLUMNS: [&str; 14] = [
    "subscriber_id",
    "name",
    "kyc_method",
    "kyc_verified_at",
    "email",
    "registration_ip",
    "registration_at",
    "purpose",
    "address",
    "phone",
    "ownership",
    "owners",
    "hire_start",
    "hire_end",
];

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Free text: no control characters (other than none at all), at most [`MAX_TEXT`] bytes.
fn text(field: &str, v: &Option<String>, errs: &mut Vec<FieldError>) -> Option<String> {
    let s = nonempty(v)?;
    if s.len() > MAX_TEXT {
        errs.push(FieldError::new(
            field,
            format!("longer than {MAX_TEXT} bytes ({})", s.len()),
        ));
        return None;
    }
    if s.chars().any(char::is_control) {
        errs.push(FieldError::new(field, "contains a control character"));
        return None;
    }
    Some(s.to_owned())
}

/// An instant: RFC 3339 with an explicit offset (`Z`, `+05:30`, `-04:00`...).
pub fn parse_instant(s: &str) -> Result<i64, String> {
    let t = s.trim();
    t.parse::<jiff::Timestamp>()
        .map(|ts| ts.as_nanosecond() as i64)
        .map_err(|_| {
            format!("`{t}` is not a time: give RFC 3339 with a zone, like 2025-03-03T14:02:11+05:30 or 2025-03-03T08:32:11Z")
        })
}

/// A period boundary: an instant, or a date (`2025-03-03`) meaning that UTC
/// day. `end` = true makes a date mean the end of that day (the next
/// midnight, UTC): `hire_end` is the last day of hire.
pub fn parse_boundary(s: &str, end: bool) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        if t.len() == 10 {
            let d = if end {
                d.tomorrow().map_err(|_| format!("`{t}` is out of range"))?
            } else {
                d
            };
            let z = d
                .to_datetime(jiff::civil::Time::midnight())
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_err(|_| format!("`{t}` is out of range"))?;
            return Ok(z.timestamp().as_nanosecond() as i64);
        }
    }
    parse_instant(t).map_err(|_| {
        format!("`{t}` is neither a date (2025-03-03, a UTC day) nor RFC 3339 with a zone")
    })
}

/// E.164: `+`, then 8 to 15 digits, the first not 0. Spaces and hyphens
/// between digits are dropped first.
pub fn normalise_e164(s: &str) -> Result<String, String> {
    let compact: String = s
        .trim()
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .collect();
    let Some(digits) = compact.strip_prefix('+') else {
        return Err(format!(
            "`{s}` is not E.164: it must start with + and the country code, like +919876543210"
        ));
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not E.164: only digits may follow +"));
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!(
            "`{s}` is not E.164: {} digits, 8 to 15 expected",
            digits.len()
        ));
    }
    if digits.starts_with('0') {
        return Err(format!(
            "`{s}` is not E.164: a country code never starts with 0"
        ));
    }
    if let Some(national) = digits.strip_prefix("91") {
        // India: 10-digit national numbers.
        if national.len() != 10 {
            return Err(format!(
                "`{s}` is not a valid Indian number: +91 is followed by 10 digits, not {}",
                national.len()
            ));
        }
    }
    Ok(compact)
}

/// A plausible e-mail address (one `@`, a dotted domain, no spaces).
pub fn check_email(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.len() > 254 {
        return Err("longer than 254 bytes".into());
    }
    let Some((local, domain)) = t.split_once('@') else {
        return Err(format!("`{t}` has no @"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(format!("`{t}`: the part before @ is empty or too long"));
    }
    if domain.contains('@') {
        return Err(format!("`{t}` has more than one @"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    {
        return Err(format!("`{t}`: `{domain}` is not a domain name"));
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{t}` contains a space or control character"));
    }
    Ok(t.to_owned())
}

/// An external id: 1 to [`MAX_ID`] bytes of letters, digits and `-_.:/@+`.
pub fn check_external_id(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty: every subscriber needs the provider's id".into());
    }
    if t.len() > MAX_ID {
        return Err(format!("longer than {MAX_ID} bytes"));
    }
    if !t
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@+".contains(&b))
    {
        return Err(format!(
            "`{t}`: only letters, digits and - _ . : / @ + are allowed"
        ));
    }
    Ok(t.to_owned())
}

impl SubscriberInput {
    /// Checks every field and returns the subscriber, or every problem found.
    pub fn validate(&self) -> Result<Subscriber, Vec<FieldError>> {
        let mut errs = Vec::new();
        let external_id = match nonempty(&self.subscriber_id).map(check_external_id) {
            Some(Ok(id)) => id,
            Some(Err(e)) => {
                errs.push(FieldError::new("subscriber_id", e));
                String::new()
            }
            None => {
                errs.push(FieldError::new(
                    "subscriber_id",
                    "missing: every subscriber needs the provider's id",
                ));
                String::new()
            }
        };
        let mut p = Personal {
            name: text("name", &self.name, &mut errs),
            ..Personal::default()
        };
        if let Some(k) = nonempty(&self.kyc_method) {
            match KycMethod::parse(k) {
                Some(k) => p.kyc_method = Some(k),
                None => errs.push(FieldError::new(
                    "kyc_method",
                    format!(
                        "`{k}` is not one of {}",
                        KycMethod::ALL.map(|(n, _)| n).join(", ")
                    ),
                )),
            }
        }
        let instant = |field: &str, v: &Option<String>, errs: &mut Vec<FieldError>| {
            nonempty(v).and_then(|s| match parse_instant(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    errs.push(FieldError::new(field, e));
                    None
                }
            })
        };
        p.kyc_verified_at_ns = instant("kyc_verified_at", &self.kyc_verified_at, &mut errs);
        if let Some(e) = nonempty(&self.email) {
            match check_email(e) {
                Ok(e) => p.email = Some(e),
                Err(r) => errs.push(FieldError::new("email", r)),
            }
        }
        if let Some(ip) = nonempty(&self.registration_ip) {
            match ip.parse::<IpAddr>() {
                Ok(ip) => p.registration_ip = Some(ip),
                Err(_) => errs.push(FieldError::new(
                    "registration_ip",
                    format!("`{ip}` is not an IPv4 or IPv6 address"),
                )),
            }
        }
        p.registration_at_ns = instant("registration_at", &self.registration_at, &mut errs);
        p.purpose = text("purpose", &self.purpose, &mut errs);
        p.address = text("address", &self.address, &mut errs);
        if let Some(phones) = &self.phone {
            let items = phones.items();
            if items.len() > MAX_LIST {
                errs.push(FieldError::new(
                    "phone",
                    format!("more than {MAX_LIST} numbers"),
                ));
            } else {
                for ph in items {
                    match normalise_e164(&ph) {
                        Ok(n) => {
                            if !p.phones.contains(&n) {
                                p.phones.push(n)
                            }
                        }
                        Err(e) => errs.push(FieldError::new("phone", e)),
                    }
                }
            }
        }
        if let Some(o) = nonempty(&self.ownership) {
            match Ownership::parse(o) {
                Some(o) => p.ownership = Some(o),
                None => errs.push(FieldError::new(
                    "ownership",
                    format!(
                        "`{o}` is not one of {}",
                        Ownership::ALL.map(|(n, _)| n).join(", ")
                    ),
                )),
            }
        }
        if let Some(owners) = &self.owners {
            let items = owners.items();
            if items.len() > MAX_LIST {
                errs.push(FieldError::new(
                    "owners",
                    format!("more than {MAX_LIST} names"),
                ));
            }
            for o in items.into_iter().take(MAX_LIST) {
                if let Some(o) = text("owners", &Some(o), &mut errs) {
                    p.owners.push(o)
                }
            }
        }
        if p.ownership == Some(Ownership::Individual) && !p.owners.is_empty() {
            errs.push(FieldError::new(
                "owners",
                "an individual has no owners or directors; give the ownership pattern of the organisation",
            ));
        }
        let periods = self.periods_checked(&mut errs);
        if errs.is_empty() {
            Ok(Subscriber {
                external_id,
                periods,
                personal: p,
            })
        } else {
            Err(errs)
        }
    }

    fn periods_checked(&self, errs: &mut Vec<FieldError>) -> Vec<Period> {
        let mut given: Vec<(String, PeriodInput)> = Vec::new();
        if let Some(start) = nonempty(&self.hire_start) {
            given.push((
                "hire_start".into(),
                PeriodInput {
                    from: start.to_owned(),
                    to: nonempty(&self.hire_end).map(str::to_owned),
                },
            ));
        } else if nonempty(&self.hire_end).is_some() {
            errs.push(FieldError::new(
                "hire_start",
                "missing while hire_end is given",
            ));
        }
        if let Some(ps) = &self.periods {
            if ps.len() > MAX_LIST {
                errs.push(FieldError::new(
                    "periods",
                    format!("more than {MAX_LIST} periods"),
                ));
                return Vec::new();
            }
            for (i, p) in ps.iter().enumerate() {
                given.push((format!("periods[{i}]"), p.clone()));
            }
        }
        let mut out: Vec<Period> = Vec::new();
        for (field, p) in given {
            let from_field = if field == "hire_start" {
                "hire_start".to_owned()
            } else {
                format!("{field}.from")
            };
            let to_field = if field == "hire_start" {
                "hire_end".to_owned()
            } else {
                format!("{field}.to")
            };
            let from = match parse_boundary(&p.from, false) {
                Ok(t) => t,
                Err(e) => {
                    errs.push(FieldError::new(&from_field, e));
                    continue;
                }
            };
            let to = match p.to.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(t) => match parse_boundary(t, true) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        errs.push(FieldError::new(&to_field, e));
                        continue;
                    }
                },
            };
            if let Some(to) = to {
                if to <= from {
                    errs.push(FieldError::new(
                        &to_field,
                        format!(
                            "the period ends ({}) before it starts ({})",
                            rfc3339_utc(to),
                            rfc3339_utc(from)
                        ),
                    ));
                    continue;
                }
            }
            out.push(Period {
                from_ns: from,
                to_ns: to,
            });
        }
        out.sort_by_key(|p| p.from_ns);
        for w in out.windows(2) {
            let end = w[0].to_ns.unwrap_or(i64::MAX);
            if end > w[1].from_ns {
                errs.push(FieldError::new(
                    "periods",
                    format!(
                        "periods of hire overlap (one from {} has not ended when the next starts at {})",
                        rfc3339_utc(w[0].from_ns),
                        rfc3339_utc(w[1].from_ns)
                    ),
                ));
                break;
            }
        }
        out
    }
}

impl Subscriber {
    /// The end of the last period of hire, or `None` while any period is open
    /// (or there is none yet).
    pub fn last_end_ns(&self) -> Option<i64> {
        last_end(&self.periods)
    }

    /// Whether a period of hire is open.
    pub fn active(&self) -> bool {
        self.periods.iter().any(|p| p.to_ns.is_none())
    }

    /// Fields the directions require that this subscriber lacks.
    pub fn missing(&self) -> Vec<&'static str> {
        let p = &self.personal;
        let mut m = Vec::new();
        if p.name.is_none() {
            m.push("name");
        }
        if p.kyc_method.is_none() {
            m.push("kyc_method");
        }
        if p.kyc_verified_at_ns.is_none() {
            m.push("kyc_verified_at");
        }
        if self.periods.is_empty() {
            m.push("hire_start");
        }
        if p.email.is_none() {
            m.push("email");
        }
        if p.registration_ip.is_none() {
            m.push("registration_ip");
        }
        if p.registration_at_ns.is_none() {
            m.push("registration_at");
        }
        if p.purpose.is_none() {
            m.push("purpose");
        }
        if p.address.is_none() {
            m.push("address");
        }
        if p.phones.is_empty() {
            m.push("phone");
        }
        match p.ownership {
            None => m.push("ownership"),
            Some(o) if o.is_organisation() && p.owners.is_empty() => m.push("owners"),
            _ => {}
        }
        m
    }

    /// The subscriber as JSON for people and APIs: times in IST with UTC alongside.
    pub fn to_json(&self) -> serde_json::Value {
        let p = &self.personal;
        let t = |ns: Option<i64>| -> serde_json::Value {
            match ns {
                Some(ns) => serde_json::json!({ "ist": rfc3339_ist(ns), "utc": rfc3339_utc(ns) }),
                None => serde_json::Value::Null,
            }
        };
        serde_json::json!({
            "subscriber_id": self.external_id,
            "status": if self.active() { "active" } else { "terminated" },
            "name": p.name,
            "kyc_method": p.kyc_method.map(KycMethod::as_str),
            "kyc_verified_at": t(p.kyc_verified_at_ns),
            "periods": self.periods.iter().map(|pe| serde_json::json!({
                "from": t(Some(pe.from_ns)), "to": t(pe.to_ns),
            })).collect::<Vec<_>>(),
            "email": p.email,
            "registration_ip": p.registration_ip.map(|i| i.to_string()),
            "registration_at": t(p.registration_at_ns),
            "purpose": p.purpose,
            "address": p.address,
            "phones": p.phones,
            "ownership": p.ownership.map(Ownership::as_str),
            "owners": p.owners,
            "missing": self.missing(),
        })
    }

    /// The subscriber as an input that validates back to it (for round trips and updates).
    pub fn to_input(&self) -> SubscriberInput {
        let p = &self.personal;
        SubscriberInput {
            subscriber_id: Some(self.external_id.clone()),
            name: p.name.clone(),
            kyc_method: p.kyc_method.map(|k| k.as_str().to_owned()),
            kyc_verified_at: p.kyc_verified_at_ns.map(rfc3339_utc),
            email: p.email.clone(),
            registration_ip: p.registration_ip.map(|i| i.to_string()),
            registration_at: p.registration_at_ns.map(rfc3339_utc),
            purpose: p.purpose.clone(),
            address: p.address.clone(),
            phone: (!p.phones.is_empty()).then(|| TextOrList::List(p.phones.clone())),
            ownership: p.ownership.map(|o| o.as_str().to_owned()),
            owners: (!p.owners.is_empty()).then(|| TextOrList::List(p.owners.clone())),
            hire_start: None,
            hire_end: None,
            periods: Some(
                self.periods
                    .iter()
                    .map(|pe| PeriodInput {
                        from: rfc3339_utc(pe.from_ns),
                        to: pe.to_ns.map(rfc3339_utc),
                    })
                    .collect(),
            ),
        }
    }
}

/// The end of the last period, `None` while one is open or there is none.
pub fn last_end(periods: &[Period]) -> Option<i64> {
    if periods.is_empty() || periods.iter().any(|p| p.to_ns.is_none()) {
        return None;
    }
    periods.iter().filter_map(|p| p.to_ns).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> SubscriberInput {
        SubscriberInput {
            subscriber_id: Some("42".into()),
            name: Some("Saanvi Nair".into()),
            kyc_method: Some("video-kyc".into()),
            kyc_verified_at: Some("2023-08-14T06:17:05+05:30".into()),
            email: Some("saanvi@mail.example.in".into()),
            registration_ip: Some("2001:db8:ffff::c69e".into()),
            registration_at: Some("2023-08-13T22:58:05Z".into()),
            purpose: Some("game server".into()),
            address: Some("520, Station Road, Pune, Maharashtra 411001".into()),
            phone: Some(TextOrList::Text("+918305113796".into())),
            ownership: Some("individual".into()),
            owners: None,
            hire_start: Some("2023-08-14".into()),
            hire_end: Some("2025-07-20".into()),
            periods: None,
        }
    }

    #[test]
    fn a_complete_record_validates() {
        let s = good().validate().unwrap();
        assert!(s.missing().is_empty(), "{:?}", s.missing());
        assert!(!s.active());
        // hire_end is the last day: the period ends at the next midnight UTC.
        assert_eq!(
            rfc3339_utc(s.last_end_ns().unwrap()),
            "2025-07-21T00:00:00Z"
        );
        // IST and UTC give the same instant.
        assert_eq!(
            rfc3339_utc(s.personal.kyc_verified_at_ns.unwrap()),
            "2023-08-14T00:47:05Z"
        );
        assert_eq!(s.to_input().validate().unwrap(), s);
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut i = good();
        i.email = Some("no-at-sign".into());
        i.phone = Some(TextOrList::Text("+91 98765".into()));
        i.registration_ip = Some("300.1.1.1".into());
        i.kyc_verified_at = Some("2023-08-14 06:17".into());
        i.ownership = Some("cooperative".into());
        i.hire_end = Some("2020-01-01".into());
        let errs = i.validate().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "kyc_verified_at",
                "email",
                "registration_ip",
                "phone",
                "ownership",
                "hire_end"
            ]
        );
    }

    #[test]
    fn e164() {
        assert_eq!(normalise_e164("+91 98765-43210").unwrap(), "+919876543210");
        assert!(normalise_e164("9876543210").is_err());
        assert!(normalise_e164("+0123456789").is_err());
        assert!(normalise_e164("+9198765432101").is_err());
        assert!(normalise_e164("+1415555267").is_ok());
        assert!(normalise_e164("+12").is_err());
    }

    #[test]
    fn organisations_need_owners() {
        let mut i = good();
        i.ownership = Some("llp".into());
        let s = i.validate().unwrap();
        assert_eq!(s.missing(), ["owners"]);
        i.owners = Some(TextOrList::Text("Kavya Joshi;Aarav Bose".into()));
        assert_eq!(i.validate().unwrap().personal.owners.len(), 2);
        i.ownership = Some("individual".into());
        assert_eq!(i.validate().unwrap_err()[0].field, "owners");
    }

    #[test]
    fn overlapping_periods_are_refused() {
        let mut i = good();
        i.hire_end = None;
        i.periods = Some(vec![PeriodInput {
            from: "2024-01-01T00:00:00+05:30".into(),
            to: Some("2024-02-01".into()),
        }]);
        assert_eq!(i.validate().unwrap_err()[0].field, "periods");
    }
}
