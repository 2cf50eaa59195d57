//! What an incident, a point of contact and a report attempt are.

use crate::clock::{self, ClockStatus};
use crate::kinds;
use pramaan_core::time::{human, rfc3339_utc};
use serde::{Deserialize, Serialize};

/// An affected system, as CERT-In's form asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct System {
    pub ip: String,
    pub hostname: String,
    pub os: String,
    /// What the system does (web server, domain controller...).
    pub function: String,
    /// Where it is (data centre, city).
    pub location: String,
}

impl System {
    /// `ip=10.0.0.5,hostname=web1,os=Debian 12,function=web,location=Mumbai DC`.
    pub fn parse(text: &str) -> Result<System, String> {
        let mut s = System::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("`{part}` in `{text}` is not key=value (keys: ip, hostname, os, function, location)")
            })?;
            let v = v.trim().to_owned();
            match k.trim() {
                "ip" => s.ip = v,
                "hostname" | "host" => s.hostname = v,
                "os" => s.os = v,
                "function" => s.function = v,
                "location" => s.location = v,
                other => {
                    return Err(format!(
                        "unknown system field `{other}` in `{text}`: use ip, hostname, os, function, location"
                    ))
                }
            }
        }
        if s == System::default() {
            return Err(format!("`{text}` names no field of the system"));
        }
        Ok(s)
    }
}

/// The descriptive fields of an incident: what the report tells CERT-In.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fields {
    pub title: String,
    /// Codes from [`kinds::KINDS`], at least one.
    pub kinds: Vec<String>,
    /// When the incident happened, if known.
    pub occurred_at_ns: Option<i64>,
    pub systems: Vec<System>,
    pub symptoms: String,
    pub description: String,
    pub scope_impact: String,
    /// Indicators of compromise (addresses, hashes, domains...), free text.
    pub iocs: String,
    pub actions_taken: String,
    pub security_systems: String,
    /// Anything else the report should say.
    pub other_info: String,
}

/// A new incident.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewIncident {
    #[serde(flatten)]
    pub fields: Fields,
    pub detected_at_ns: i64,
    pub notified_at_ns: Option<i64>,
}

/// Changes to an incident: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Edit {
    pub title: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub occurred_at_ns: Option<i64>,
    /// Replaces the list.
    pub systems: Option<Vec<System>>,
    /// Appended to the list.
    pub add_systems: Vec<System>,
    pub symptoms: Option<String>,
    pub description: Option<String>,
    pub scope_impact: Option<String>,
    pub iocs: Option<String>,
    pub actions_taken: Option<String>,
    pub security_systems: Option<String>,
    pub other_info: Option<String>,
    pub detected_at_ns: Option<i64>,
    pub notified_at_ns: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not yet reported to CERT-In: the clock runs.
    Open,
    /// The first report was sent.
    Reported,
    /// At least one follow-up report was sent.
    Updated,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Reported => "reported",
            State::Updated => "updated",
            State::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "open" => State::Open,
            "reported" => State::Reported,
            "updated" => State::Updated,
            "closed" => State::Closed,
            _ => return None,
        })
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    #[serde(flatten)]
    pub fields: Fields,
    pub detected_at_ns: i64,
    pub notified_at_ns: Option<i64>,
    /// The earlier of detection and notification.
    pub clock_start_ns: i64,
    /// Clock start + 6 h.
    pub deadline_ns: i64,
    pub state: State,
    pub created_at_ns: i64,
    pub created_by: String,
    /// When the first report was sent (the clock stops).
    pub first_reported_at_ns: Option<i64>,
    /// Reports sent so far (the first, then follow-ups).
    pub reports_sent: u32,
    pub closed_at_ns: Option<i64>,
    pub closed_by: Option<String>,
    pub close_reason: Option<String>,
}

/// A time for people and for programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeView {
    /// "2026-03-03 14:02:11.000 IST (08:32:11.000 UTC)"
    pub ist: String,
    pub utc: String,
}

impl TimeView {
    pub fn of(ns: i64) -> Self {
        TimeView {
            ist: human(ns),
            utc: rfc3339_utc(ns),
        }
    }
}

/// An incident with what follows from it at a given time: the deadline in
/// IST and UTC, the time left, overdue or not, the kinds' wording.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub kinds_detail: Vec<kinds::Kind>,
    pub detected_at: TimeView,
    pub notified_at: Option<TimeView>,
    pub occurred_at: Option<TimeView>,
    pub clock_start: TimeView,
    pub deadline: TimeView,
    pub clock: ClockStatus,
    /// "3 h 12 min left", "OVERDUE by 20 min: not reported to CERT-In", ...
    pub clock_text: String,
    /// Not reported and past the deadline: shown everywhere the incident is.
    pub overdue: bool,
    pub now: TimeView,
}

impl<'de> Deserialize<'de> for kinds::Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct K {
            code: String,
        }
        let k = K::deserialize(d)?;
        kinds::find(&k.code)
            .copied()
            .ok_or_else(|| serde::de::Error::custom(format!("unknown kind {}", k.code)))
    }
}

impl Incident {
    pub fn view(&self, now_ns: i64) -> IncidentView {
        let clock = ClockStatus::of(self.deadline_ns, self.first_reported_at_ns, now_ns);
        IncidentView {
            kinds_detail: self
                .fields
                .kinds
                .iter()
                .filter_map(|c| kinds::find(c).copied())
                .collect(),
            detected_at: TimeView::of(self.detected_at_ns),
            notified_at: self.notified_at_ns.map(TimeView::of),
            occurred_at: self.fields.occurred_at_ns.map(TimeView::of),
            clock_start: TimeView::of(self.clock_start_ns),
            deadline: TimeView::of(self.deadline_ns),
            clock_text: clock.text(),
            overdue: clock.overdue() && self.state == State::Open,
            clock,
            now: TimeView::of(now_ns),
            incident: self.clone(),
        }
    }

    pub(crate) fn recompute_clock(&mut self) {
        self.clock_start_ns = clock::clock_start(self.detected_at_ns, self.notified_at_ns);
        self.deadline_ns = clock::deadline(self.clock_start_ns);
    }
}

/// The designated point of contact with CERT-In.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Poc {
    pub name: String,
    pub designation: String,
    pub organisation: String,
    pub address: String,
    pub email: String,
    pub mobile: String,
    pub office_phone: String,
}

impl Poc {
    /// The fields that are empty, by name.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        for (name, v) in [
            ("name", &self.name),
            ("designation", &self.designation),
            ("organisation", &self.organisation),
            ("address", &self.address),
            ("email", &self.email),
            ("mobile", &self.mobile),
            ("office_phone", &self.office_phone),
        ] {
            if v.trim().is_empty() {
                m.push(name);
            }
        }
        m
    }
}

/// Changes to the point of contact: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PocEdit {
    pub name: Option<String>,
    pub designation: Option<String>,
    pub organisation: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub office_phone: Option<String>,
    /// Record that the details were reviewed (even when nothing changes).
    pub reviewed: bool,
    pub note: Option<String>,
}

/// One version of the point of contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PocRecord {
    pub version: i64,
    #[serde(flatten)]
    pub poc: Poc,
    pub set_at_ns: i64,
    pub set_by: String,
    pub note: Option<String>,
}

/// The point of contact with its review status at a given time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PocView {
    #[serde(flatten)]
    pub record: PocRecord,
    pub set_at: TimeView,
    pub review_days: u64,
    pub days_since_review: i64,
    /// "not reviewed for 120 days (desk.poc_review_days = 90): ..." when due.
    pub warning: Option<String>,
    pub missing: Vec<String>,
}

impl PocRecord {
    pub fn view(&self, review_days: u64, now_ns: i64) -> PocView {
        let days = (now_ns - self.set_at_ns).max(0) / (86_400 * 1_000_000_000);
        let warning = (days as u64 >= review_days).then(|| {
            format!(
                "the point of contact was last reviewed {days} days ago (desk.poc_review_days = {review_days}): check the details and run `pramaan poc set --reviewed`"
            )
        });
        PocView {
            set_at: TimeView::of(self.set_at_ns),
            review_days,
            days_since_review: days,
            warning,
            missing: self.poc.missing().into_iter().map(String::from).collect(),
            record: self.clone(),
        }
    }
}

/// One change, as recorded (and appended to the ledger as `pramaan:incident`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub at_ns: i64,
    pub actor: String,
    /// `incident.created`, `incident.edited`, `incident.reported`,
    /// `incident.updated`, `incident.closed`, `incident.excerpt_added`,
    /// `incident.report_failed`, `incident.reminder`, `poc.set`.
    pub action: String,
    pub details: serde_json::Value,
    /// The record's sequence number in the vault, once appended.
    pub ledger_seq: Option<u64>,
}

/// One try at sending a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAttempt {
    pub id: i64,
    pub incident_id: i64,
    /// 0 = the first report, 1.. = follow-ups.
    pub number: u32,
    pub subject: String,
    pub message_id: String,
    /// The first report's Message-ID, for follow-ups.
    pub in_reply_to: Option<String>,
    pub to: String,
    pub cc: String,
    pub attempted_at_ns: i64,
    pub sent_at_ns: Option<i64>,
    /// The SMTP server's final reply ("250 2.0.0 Ok: queued as ...").
    pub smtp_reply: Option<String>,
    /// Why it was not sent.
    pub error: Option<String>,
    pub actor: String,
}

/// A log excerpt attached to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excerpt {
    pub id: i64,
    pub incident_id: i64,
    pub name: String,
    /// The search that chose the lines, as given.
    pub query: String,
    pub records: u64,
    pub seq_min: Option<u64>,
    pub seq_max: Option<u64>,
    pub added_at_ns: i64,
    pub added_by: String,
}

/// One line of an excerpt: the record's sequence number and its search
/// hit as JSON (one NDJSON line, without the newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcerptLine {
    pub seq: u64,
    pub json: Vec<u8>,
}
