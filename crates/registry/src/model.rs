//! The subscriber record (CERT-In directions of 28 April 2022, clause (vi)
//! a–g) and its validation. Pure: no I/O.
//!
//! Input comes as [`SubscriberInput`] (strings, as a CSV row, a JSON object
//! or an HTTP body gives them); [`SubscriberInput::validate`] turns it into a
//! [`Subscriber`] or names every bad field. Fields the directions require but
//! the input leaves out are allowed (a provider's legacy records are often
//! incomplete) and listed by [`Subscriber::missing`], which
//! `pramaan registry completeness` reports.
//!
//! A virtual asset service provider's customers (an exchange's, a custodian
//! wallet provider's) are subscribers too, with three more fields: the PAN,
//! linked Indian bank accounts and declared crypto wallets ([`crate::wallet`]).
//! They are optional and not among [`Subscriber::missing`]'s requirements
//! (only VASPs hold them).

use pramaan_core::time::{rfc3339_ist, rfc3339_utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Longest free-text field, in bytes.
pub const MAX_TEXT: usize = 1024;
/// Longest external id, in bytes.
pub const MAX_ID: usize = 128;
/// Most phone numbers, owners, bank accounts, wallets or periods on one subscriber.
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
    /// VASP customers: Permanent Account Number (`ABCPE1234F`).
    ///
    /// The three VASP fields are left out of the sealed JSON when empty, and
    /// default to empty when absent, so records stored before them read as
    /// they were and seal to the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pan: Option<String>,
    /// VASP customers: linked Indian bank accounts, `IFSC:ACCOUNT`
    /// (`HDFC0001234:50100012345678`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bank_accounts: Vec<String>,
    /// VASP customers: declared or linked wallets, `chain:address`
    /// (`ethereum:0x5290...9ee7`), see [`crate::wallet`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallets: Vec<String>,
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
/// `phones`/`owners`/`bank_accounts`/`wallets` as lists and several `periods`.
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
    /// VASP customers: the PAN.
    #[serde(default)]
    pub pan: Option<String>,
    /// VASP customers: `IFSC:ACCOUNT`, `;`-separated or a list.
    #[serde(default, alias = "bank_account")]
    pub bank_accounts: Option<TextOrList>,
    /// VASP customers: `CHAIN:ADDRESS`, `;`-separated or a list.
    #[serde(default, alias = "wallet")]
    pub wallets: Option<TextOrList>,
}

/// The CSV columns this module understands (`external_id` is taken for
/// `subscriber_id`). Every column is optional but `subscriber_id`; the last
/// three are for VASP customers.
pub const CSV_COLUMNS: [&str; 17] = [
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
    "pan",
    "bank_accounts",
    "wallets",
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

/// The holder types a PAN's fourth letter gives: Person, Company, HUF,
/// Firm, Association of persons, Trust, Body of individuals, Local
/// authority, artificial Juridical person, Government.
pub const PAN_HOLDER_TYPES: &str = "PCHFATBLJG";

/// A Permanent Account Number: five letters, four digits, a letter
/// (`ABCPE1234F`), the fourth letter the holder type (one of
/// [`PAN_HOLDER_TYPES`]). Trimmed and upper-cased first.
pub fn normalise_pan(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_uppercase();
    let b = t.as_bytes();
    let shape = b.len() == 10
        && b[..5].iter().all(u8::is_ascii_uppercase)
        && b[5..9].iter().all(u8::is_ascii_digit)
        && b[9].is_ascii_uppercase();
    if !shape {
        return Err(format!(
            "`{}` is not a PAN: five letters, four digits and a letter expected, like ABCPE1234F",
            s.trim()
        ));
    }
    if !PAN_HOLDER_TYPES.as_bytes().contains(&b[3]) {
        return Err(format!(
            "`{}` is not a PAN: its fourth letter `{}` is not a holder type (one of {})",
            s.trim(),
            b[3] as char,
            PAN_HOLDER_TYPES
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(t)
}

/// A linked Indian bank account, `IFSC:ACCOUNT`: the IFSC four letters,
/// `0` and six letters or digits (`HDFC0001234`), the account 9 to 18
/// digits. Trimmed and upper-cased; spaces around the colon are dropped.
pub fn normalise_bank_account(s: &str) -> Result<String, String> {
    let t = s.trim();
    let Some((ifsc, account)) = t.split_once(':') else {
        return Err(format!(
            "`{t}` is not a bank account: give IFSC:ACCOUNT, like HDFC0001234:50100012345678"
        ));
    };
    let ifsc = ifsc.trim().to_ascii_uppercase();
    let account = account.trim();
    let i = ifsc.as_bytes();
    let ifsc_ok = i.len() == 11
        && i[..4].iter().all(u8::is_ascii_uppercase)
        && i[4] == b'0'
        && i[5..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ifsc_ok {
        return Err(format!(
            "`{t}` is not a bank account: the IFSC `{ifsc}` is not four letters, 0 and six letters or digits (like HDFC0001234)"
        ));
    }
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{t}` is not a bank account: the account number `{account}` is not all digits"
        ));
    }
    if !(9..=18).contains(&account.len()) {
        return Err(format!(
            "`{t}` is not a bank account: the account number has {} digits, 9 to 18 expected",
            account.len()
        ));
    }
    Ok(format!("{ifsc}:{account}"))
}

/// The items of a list field, each checked by `check`, without repeats:
/// at most [`MAX_LIST`] (`what` names them in the error).
fn list_checked(
    field: &str,
    what: &str,
    v: &Option<TextOrList>,
    check: fn(&str) -> Result<String, String>,
    errs: &mut Vec<FieldError>,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(v) = v else { return out };
    let items = v.items();
    if items.len() > MAX_LIST {
        errs.push(FieldError::new(
            field,
            format!("more than {MAX_LIST} {what}"),
        ));
        return out;
    }
    for it in items {
        match check(&it) {
            Ok(n) => {
                if !out.contains(&n) {
                    out.push(n)
                }
            }
            Err(e) => errs.push(FieldError::new(field, e)),
        }
    }
    out
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
        if let Some(pan) = nonempty(&self.pan) {
            match normalise_pan(pan) {
                Ok(pan) => p.pan = Some(pan),
                Err(e) => errs.push(FieldError::new("pan", e)),
            }
        }
        p.bank_accounts = list_checked(
            "bank_accounts",
            "bank accounts",
            &self.bank_accounts,
            normalise_bank_account,
            &mut errs,
        );
        p.wallets = list_checked(
            "wallets",
            "wallets",
            &self.wallets,
            crate::wallet::check_entry,
            &mut errs,
        );
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
            "pan": p.pan,
            "bank_accounts": p.bank_accounts,
            "wallets": p.wallets,
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
            pan: p.pan.clone(),
            bank_accounts: (!p.bank_accounts.is_empty())
                .then(|| TextOrList::List(p.bank_accounts.clone())),
            wallets: (!p.wallets.is_empty()).then(|| TextOrList::List(p.wallets.clone())),
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
            pan: None,
            bank_accounts: None,
            wallets: None,
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
    fn pan() {
        assert_eq!(normalise_pan(" abcpe1234f ").unwrap(), "ABCPE1234F");
        assert_eq!(normalise_pan("AAACR5055K").unwrap(), "AAACR5055K");
        assert_eq!(
            normalise_pan("ABCP1234F").unwrap_err(),
            "`ABCP1234F` is not a PAN: five letters, four digits and a letter expected, like ABCPE1234F"
        );
        assert!(normalise_pan("ABCPE12345").is_err());
        assert!(normalise_pan("ABCPÉ1234F").is_err());
        assert_eq!(
            normalise_pan("ABCXE1234F").unwrap_err(),
            "`ABCXE1234F` is not a PAN: its fourth letter `X` is not a holder type (one of P C H F A T B L J G)"
        );
    }

    #[test]
    fn bank_accounts() {
        assert_eq!(
            normalise_bank_account(" hdfc0001234 : 50100012345678 ").unwrap(),
            "HDFC0001234:50100012345678"
        );
        assert_eq!(
            normalise_bank_account("sbin0a12b3c:123456789").unwrap(),
            "SBIN0A12B3C:123456789"
        );
        assert_eq!(
            normalise_bank_account("50100012345678").unwrap_err(),
            "`50100012345678` is not a bank account: give IFSC:ACCOUNT, like HDFC0001234:50100012345678"
        );
        assert_eq!(
            normalise_bank_account("HDFC1001234:50100012345678").unwrap_err(),
            "`HDFC1001234:50100012345678` is not a bank account: the IFSC `HDFC1001234` is not four letters, 0 and six letters or digits (like HDFC0001234)"
        );
        assert!(normalise_bank_account("HDFC000123:50100012345678").is_err());
        assert_eq!(
            normalise_bank_account("HDFC0001234:5010-0012").unwrap_err(),
            "`HDFC0001234:5010-0012` is not a bank account: the account number `5010-0012` is not all digits"
        );
        assert_eq!(
            normalise_bank_account("HDFC0001234:12345678").unwrap_err(),
            "`HDFC0001234:12345678` is not a bank account: the account number has 8 digits, 9 to 18 expected"
        );
        assert!(normalise_bank_account("HDFC0001234:1234567890123456789").is_err());
        assert!(normalise_bank_account("HDFC0001234:").is_err());
    }

    #[test]
    fn vasp_fields() {
        let mut i = good();
        i.pan = Some("abcpe1234f".into());
        i.bank_accounts = Some(TextOrList::Text(
            "hdfc0001234:50100012345678; ICIC0000456:000401234567;HDFC0001234:50100012345678"
                .into(),
        ));
        i.wallets = Some(TextOrList::List(vec![
            "Ethereum:0x52908400098527886E0F7030069857D2E4169EE7".into(),
            "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
            " ".into(),
        ]));
        let s = i.validate().unwrap();
        let p = &s.personal;
        assert_eq!(p.pan.as_deref(), Some("ABCPE1234F"));
        assert_eq!(
            p.bank_accounts,
            ["HDFC0001234:50100012345678", "ICIC0000456:000401234567"]
        );
        assert_eq!(
            p.wallets,
            [
                "ethereum:0x52908400098527886e0f7030069857d2e4169ee7",
                "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
            ]
        );
        // Not among the requirements: only VASPs hold them.
        assert!(s.missing().is_empty());
        assert_eq!(s.to_input().validate().unwrap(), s);
        let j = s.to_json();
        assert_eq!(j["pan"], "ABCPE1234F");
        assert_eq!(j["bank_accounts"][1], "ICIC0000456:000401234567");
        assert_eq!(j["wallets"].as_array().unwrap().len(), 2);

        i.pan = Some("ABCXE1234F".into());
        i.bank_accounts = Some(TextOrList::Text("HDFC0001234:123".into()));
        i.wallets = Some(TextOrList::Text(
            "tron:0x52908400098527886E0F7030069857D2E4169EE7".into(),
        ));
        let errs = i.validate().unwrap_err();
        let got: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.field.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("pan", "`ABCXE1234F` is not a PAN: its fourth letter `X` is not a holder type (one of P C H F A T B L J G)"),
                ("bank_accounts", "`HDFC0001234:123` is not a bank account: the account number has 3 digits, 9 to 18 expected"),
                ("wallets", "`0x52908400098527886E0F7030069857D2E4169EE7` is not a tron address: it must start with T"),
            ]
        );
        i.pan = None;
        i.bank_accounts = None;
        i.wallets = Some(TextOrList::Text(
            std::iter::repeat_n("tron:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", MAX_LIST + 1)
                .collect::<Vec<_>>()
                .join(";"),
        ));
        assert_eq!(
            i.validate().unwrap_err()[0].reason,
            format!("more than {MAX_LIST} wallets")
        );
    }

    #[test]
    fn json_input_names() {
        let i: SubscriberInput = serde_json::from_str(
            r#"{"subscriber_id": "v1", "pan": "ABCPE1234F", "bank_account": "HDFC0001234:50100012345678",
                "wallet": ["solana:9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"]}"#,
        )
        .unwrap();
        let s = i.validate().unwrap();
        assert_eq!(s.personal.bank_accounts.len(), 1);
        assert_eq!(s.personal.wallets.len(), 1);
    }

    /// A record sealed before the VASP fields existed reads with them
    /// empty, and a record without them seals to the same JSON as before.
    #[test]
    fn personal_stored_before_the_vasp_fields_reads_the_same() {
        let old = r#"{"name":"Saanvi Nair","kyc_method":"video-kyc","kyc_verified_at_ns":1691974025000000000,"email":"saanvi@mail.example.in","registration_ip":"2001:db8:ffff::c69e","registration_at_ns":1691967485000000000,"purpose":"game server","address":"520, Station Road, Pune, Maharashtra 411001","phones":["+918305113796"],"ownership":"individual","owners":[]}"#;
        let p: Personal = serde_json::from_str(old).unwrap();
        assert_eq!(p.name.as_deref(), Some("Saanvi Nair"));
        assert_eq!(p.kyc_method, Some(KycMethod::VideoKyc));
        assert_eq!(p.phones, ["+918305113796"]);
        assert_eq!(p.pan, None);
        assert!(p.bank_accounts.is_empty());
        assert!(p.wallets.is_empty());
        assert_eq!(serde_json::to_string(&p).unwrap(), old);
        assert_eq!(p, good().validate().unwrap().personal);
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
