//! Attribution: "who had this address (and port) at this instant?", with
//! the purpose recorded in the audit trail before the answer is given.

use crate::model::{Binding, Kind, Probe};
use crate::store::{BindingStore, StoreError};
use pramaan_core::LedgerSink;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub const AUDIT_SOURCE: &str = "pramaan:audit";

#[derive(Debug, thiserror::Error)]
pub enum WhoisError {
    #[error("a purpose or order reference is required for every lookup (--purpose / purpose=), with at least one visible character")]
    PurposeRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit record could not be written, so no answer is given: {0}")]
    Audit(String),
}

/// How many bindings matched: each is an explicit answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nobody held it then.
    None,
    One,
    /// Several holders: a shared (NAT) address and no port, or overlapping records.
    Several,
    /// No record kept: whoever held it then was erased under the 5-year
    /// rule ([`Answer::note`] says when and why).
    Erased,
}

/// One matching binding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Match {
    pub binding: Binding,
    /// The subscriber's external id or user name (for CGNAT, the holder of
    /// the inside address when `via` found one, else `inside:ADDR`).
    pub subscriber: String,
    /// Vault sequence numbers the binding came from (the CGNAT and inside
    /// bindings' together).
    pub evidence: Vec<u64>,
    /// For a CGNAT binding: the bindings of the inside address at the same instant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<Binding>,
    /// Which source made the binding, and the evidence records' senders.
    #[serde(default)]
    pub source: Source,
    /// The subscriber's registered details: the caller joins them in from
    /// the registry (`pramaan_app::whois`), whose reads are audited
    /// in the same write as the lookup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// Where a match's binding came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// What made it, said from the binding ([`source_of`]): `RADIUS
    /// accounting, NAS 10.0.0.1`, `bindings CSV import`, ...
    pub what: String,
    /// The evidence records, each with how and from whom it arrived (the
    /// caller looks them up in the vault; empty for imported bindings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<EvidenceRecord>,
}

/// One record a binding was made from, as the vault keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub received_at: String,
    /// `udp`, `tcp`, `tls`, `http`, `file`.
    pub transport: String,
    /// The sender (`10.0.0.5:514`; `radius:10.0.0.1:1645` for the RADIUS server).
    pub peer: String,
}

/// The source of a binding in words, from its kind and detail.
pub fn source_of(b: &Binding) -> String {
    let what = match b.kind {
        Kind::Radius => "RADIUS accounting",
        Kind::Openvpn => "OpenVPN server log",
        Kind::Json => "JSON session event (pramaan.session.v1)",
        Kind::Cgnat => "CGNAT port-block log",
        Kind::Import => "bindings CSV import",
        Kind::Static => "static allotment",
        Kind::Dhcp => "DHCP lease",
        Kind::Erased => "erased",
        Kind::Ipsec => "IPsec virtual IP (strongSwan)",
        Kind::Wireguard => "WireGuard peer (allowed IPs, polled)",
    };
    if b.detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}, {}", b.detail)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub ip: String,
    pub port: Option<u16>,
    /// RFC 3339, UTC and IST.
    pub at_utc: String,
    pub at_ist: String,
    pub at_ns: i64,
    pub purpose: String,
    pub outcome: Outcome,
    /// How many holders are named (`matches`).
    pub count: usize,
    pub matches: Vec<Match>,
    /// What erasure left of bindings of that instant (address, ports,
    /// times; nobody).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erased: Vec<Binding>,
    /// For [`Outcome::Erased`]: "no record kept: erased on DATE under the
    /// 5-year rule (why)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Sequence number of the audit record of this lookup.
    pub audit_seq: u64,
}

/// Answers one lookup: looks the address up, resolves CGNAT inside
/// addresses, appends the `pramaan:audit` record (actor, query, purpose,
/// answer count), and only then returns the answer.
pub async fn whois(
    store: &dyn BindingStore,
    sink: &dyn LedgerSink,
    actor: &str,
    addr: IpAddr,
    port: Option<u16>,
    at_ns: i64,
    purpose: &str,
) -> Result<Answer, WhoisError> {
    let purpose = checked_purpose(purpose)?;
    let matches = resolve(store, addr, port, at_ns).await?;
    let body = audit_record(actor, addr, port, at_ns, purpose, &matches)?;
    let audit_seq = sink
        .append(AUDIT_SOURCE, body)
        .await
        .map_err(|e| WhoisError::Audit(e.to_string()))?;
    Ok(answer(addr, port, at_ns, purpose, matches, audit_seq))
}

/// The purpose, trimmed; one without a visible character (empty, blanks,
/// zero-width characters) is refused ([`pramaan_core::purpose::checked`]).
pub fn checked_purpose(purpose: &str) -> Result<&str, WhoisError> {
    pramaan_core::purpose::checked(purpose).ok_or(WhoisError::PurposeRequired)
}

/// The bindings that held `addr` (and `port`) at `at_ns`, CGNAT inside
/// addresses resolved to their holders. Not audited: callers that show the
/// result go through [`whois`], or append [`audit_record`] first themselves
/// (the server does, in one write with the subscriber reads it joins).
pub async fn resolve(
    store: &dyn BindingStore,
    addr: IpAddr,
    port: Option<u16>,
    at_ns: i64,
) -> Result<Vec<Match>, StoreError> {
    let bindings = store.lookup(Probe { addr, port, at_ns }).await?;
    let mut matches = Vec::with_capacity(bindings.len());
    for b in bindings {
        let mut m = Match {
            subscriber: b.subscriber.clone(),
            evidence: b.evidence.clone(),
            via: Vec::new(),
            source: Source {
                what: source_of(&b),
                records: Vec::new(),
            },
            details: None,
            binding: b,
        };
        if m.binding.kind == Kind::Cgnat {
            if let Some(inside) = m
                .binding
                .subscriber
                .strip_prefix("inside:")
                .and_then(|s| s.parse::<IpAddr>().ok())
            {
                let via = store
                    .lookup(Probe {
                        addr: inside,
                        port: None,
                        at_ns,
                    })
                    .await?;
                let via: Vec<Binding> = via
                    .into_iter()
                    .filter(|v| v.kind != Kind::Cgnat && v.kind != Kind::Erased)
                    .collect();
                if via.len() == 1 {
                    m.subscriber = via[0].subscriber.clone();
                }
                for v in &via {
                    m.evidence.extend(v.evidence.iter().copied());
                }
                m.via = via;
            }
        }
        matches.push(m);
    }
    Ok(matches)
}

/// The `pramaan:audit` record of one lookup: who asked, what, why, and
/// whom the answer named.
pub fn audit_record(
    actor: &str,
    addr: IpAddr,
    port: Option<u16>,
    at_ns: i64,
    purpose: &str,
    matches: &[Match],
) -> Result<Vec<u8>, WhoisError> {
    let audit = serde_json::json!({
        "action": "whois",
        "actor": actor,
        "at": pramaan_core::time::rfc3339_utc(pramaan_core::time::now_ns()),
        "purpose": purpose,
        "subject": addr.to_string(),
        "query": {"ip": addr.to_string(), "port": port, "at": pramaan_core::time::rfc3339_utc(at_ns)},
        "answers": matches.iter().filter(|m| m.binding.kind != Kind::Erased).count(),
        "erased": matches.iter().filter(|m| m.binding.kind == Kind::Erased).count(),
        "subscribers": matches.iter().filter(|m| m.binding.kind != Kind::Erased).map(|m| m.subscriber.clone()).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&audit).map_err(|e| WhoisError::Audit(e.to_string()))
}

/// The answer to give once the lookup's audit record is `audit_seq`.
pub fn answer(
    addr: IpAddr,
    port: Option<u16>,
    at_ns: i64,
    purpose: &str,
    matches: Vec<Match>,
    audit_seq: u64,
) -> Answer {
    let (erased, matches): (Vec<Match>, Vec<Match>) = matches
        .into_iter()
        .partition(|m| m.binding.kind == Kind::Erased);
    let outcome = match (matches.len(), erased.is_empty()) {
        (0, false) => Outcome::Erased,
        (0, true) => Outcome::None,
        (1, _) => Outcome::One,
        _ => Outcome::Several,
    };
    let note = (outcome == Outcome::Erased).then(|| erased[0].binding.detail.clone());
    Answer {
        ip: addr.to_string(),
        port,
        at_ist: pramaan_core::time::rfc3339_ist(at_ns),
        at_utc: pramaan_core::time::rfc3339_utc(at_ns),
        at_ns,
        purpose: purpose.to_owned(),
        outcome,
        count: matches.len(),
        matches,
        erased: erased.into_iter().map(|m| m.binding).collect(),
        note,
        audit_seq,
    }
}
