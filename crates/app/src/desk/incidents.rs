//! Incidents: open, list, show, edit, attach logs, render and send the
//! report, export the attached logs, close. Each operation's value is the
//! request its route takes (the incident's number travels in the path, so
//! it is not part of the body or query).

use super::app_error;
use crate::search_params::SearchParams;
use crate::{App, AppError, Caller, Operation};
use pramaan_core::time::{now_ns, parse_user_time};
use pramaan_desk::export::Export;
use pramaan_desk::{
    Edit, Event, Excerpt, ExcerptLine, Fields, IncidentView, NewIncident, ReminderRow,
    ReportAttempt, System,
};
use pramaan_vault::{search, Vault};
use serde::{Deserialize, Serialize};

/// A time as a person gives it (RFC 3339 with any offset, a date-time read
/// in IST, or an age like `2h`), empty meaning none.
fn time(name: &str, v: &Option<String>, now: i64) -> Result<Option<i64>, AppError> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_user_time(s, now).map_err(|e| AppError::Invalid(format!("{name}: {e}"))))
        .transpose()
}

/// `GET /api/v1/incidents`: every incident, newest first, each with its
/// deadline (IST and UTC), time left and `overdue`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct ListIncidents {}

impl Operation for ListIncidents {
    type Output = Vec<IncidentView>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/incidents";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let now = now_ns();
        let list = app.desk().desk()?.list().map_err(app_error)?;
        Ok(list.iter().map(|i| i.view(now)).collect())
    }
}

/// `POST /api/v1/incidents`: a new incident (201); its 6-hour clock starts
/// at the earlier of `detected_at` and `notified_at`.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OpenIncident {
    pub title: String,
    pub kinds: Vec<String>,
    /// RFC 3339 with any offset, a date (IST), or an age like `2h`.
    pub detected_at: Option<String>,
    pub notified_at: Option<String>,
    pub occurred_at: Option<String>,
    pub systems: Vec<System>,
    pub symptoms: String,
    pub description: String,
    pub scope_impact: String,
    pub iocs: String,
    pub actions_taken: String,
    pub security_systems: String,
    pub other_info: String,
}

impl OpenIncident {
    fn into_new(self, now: i64) -> Result<NewIncident, AppError> {
        let detected = time("detected_at", &self.detected_at, now)?.ok_or_else(|| {
            AppError::Invalid(
                "detected_at: when was the incident detected? (RFC 3339, or an age like 2h)".into(),
            )
        })?;
        Ok(NewIncident {
            detected_at_ns: detected,
            notified_at_ns: time("notified_at", &self.notified_at, now)?,
            fields: Fields {
                title: self.title,
                kinds: self.kinds,
                occurred_at_ns: time("occurred_at", &self.occurred_at, now)?,
                systems: self.systems,
                symptoms: self.symptoms,
                description: self.description,
                scope_impact: self.scope_impact,
                iocs: self.iocs,
                actions_taken: self.actions_taken,
                security_systems: self.security_systems,
                other_info: self.other_info,
            },
        })
    }
}

impl Operation for OpenIncident {
    type Output = IncidentView;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/incidents";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let now = now_ns();
        let inc = desk
            .create(self.into_new(now)?, &who.name, now)
            .await
            .map_err(app_error)?;
        Ok(inc.view(now))
    }
}

/// `GET /api/v1/incidents/{id}`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct ShowIncident {
    #[serde(skip)]
    pub id: i64,
}

/// Everything about one incident: its history (each change with its ledger
/// sequence number), report attempts, excerpts, reminders, and why the point
/// of contact needs attention, if it does.
#[derive(Serialize, Deserialize, Debug)]
pub struct IncidentDetail {
    pub incident: IncidentView,
    pub history: Vec<Event>,
    pub reports: Vec<ReportAttempt>,
    pub excerpts: Vec<Excerpt>,
    pub reminders: Vec<ReminderRow>,
    pub poc_warning: Option<String>,
}

impl Operation for ShowIncident {
    type Output = IncidentDetail;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/incidents/{id}";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let settings = app.desk().settings()?;
        let now = now_ns();
        let id = self.id;
        let inc = desk.get(id).map_err(app_error)?;
        let poc_warning = match desk.poc() {
            Ok(None) => {
                Some("no point of contact is set: reports cannot be sent (pramaan poc set)".into())
            }
            Ok(Some(p)) => p.view(settings.poc_review_days, now).warning,
            Err(_) => None,
        };
        Ok(IncidentDetail {
            incident: inc.view(now),
            history: desk.history(id).map_err(app_error)?,
            reports: desk.reports(id).map_err(app_error)?,
            excerpts: desk.excerpts(id).map_err(app_error)?,
            reminders: desk.reminders(id).map_err(app_error)?,
            poc_warning,
        })
    }
}

/// `PATCH /api/v1/incidents/{id}`: change the fields given.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EditIncident {
    #[serde(skip)]
    pub id: i64,
    pub title: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub detected_at: Option<String>,
    pub notified_at: Option<String>,
    pub occurred_at: Option<String>,
    /// Replaces the affected systems.
    pub systems: Option<Vec<System>>,
    /// Adds to them.
    pub add_systems: Vec<System>,
    pub symptoms: Option<String>,
    pub description: Option<String>,
    pub scope_impact: Option<String>,
    pub iocs: Option<String>,
    pub actions_taken: Option<String>,
    pub security_systems: Option<String>,
    pub other_info: Option<String>,
}

impl EditIncident {
    fn into_edit(self, now: i64) -> Result<Edit, AppError> {
        Ok(Edit {
            detected_at_ns: time("detected_at", &self.detected_at, now)?,
            notified_at_ns: time("notified_at", &self.notified_at, now)?,
            occurred_at_ns: time("occurred_at", &self.occurred_at, now)?,
            title: self.title,
            kinds: self.kinds,
            systems: self.systems,
            add_systems: self.add_systems,
            symptoms: self.symptoms,
            description: self.description,
            scope_impact: self.scope_impact,
            iocs: self.iocs,
            actions_taken: self.actions_taken,
            security_systems: self.security_systems,
            other_info: self.other_info,
        })
    }
}

impl Operation for EditIncident {
    type Output = IncidentView;
    const METHOD: &'static str = "PATCH";
    const ROUTE: &'static str = "/api/v1/incidents/{id}";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let now = now_ns();
        let id = self.id;
        let inc = desk
            .edit(id, self.into_edit(now)?, &who.name, now)
            .await
            .map_err(app_error)?;
        Ok(inc.view(now))
    }
}

/// `POST /api/v1/incidents/{id}/excerpts`: attach the log lines a search
/// finds (`search`: the parameters of `GET /api/v1/search`), with their
/// sequence numbers, under `name` (default `logs`).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AttachExcerpt {
    #[serde(skip)]
    pub id: i64,
    pub name: Option<String>,
    pub search: SearchParams,
}

impl Operation for AttachExcerpt {
    type Output = Excerpt;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/incidents/{id}/excerpts";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let now = now_ns();
        desk.get(self.id).map_err(app_error)?;
        let lines = search_lines(app.vault(), &self.search, now)
            .await
            .map_err(AppError::Invalid)?;
        let query = describe(&self.search);
        let name = self.name.unwrap_or_else(|| "logs".into());
        desk.attach(self.id, &name, &query, lines, &who.name, now)
            .await
            .map_err(app_error)
    }
}

/// Runs a search and returns its hits as excerpt lines (at most its limit).
async fn search_lines(
    vault: &Vault,
    params: &SearchParams,
    now: i64,
) -> Result<Vec<ExcerptLine>, String> {
    let mut q = params.to_query(now)?;
    // Excerpts are log lines; the components' own records stay with the auditors.
    q.internal = false;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let v = vault.clone();
    let task = tokio::spawn(async move { search::search(&v, &q, tx).await });
    let mut out = Vec::new();
    while let Some(batch) = rx.recv().await {
        for h in search::hits(&batch) {
            let json = serde_json::to_vec(&h).map_err(|e| e.to_string())?;
            out.push(ExcerptLine { seq: h.seq, json });
        }
    }
    task.await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// A search as text, for the record: `ip=203.0.113.7 q=Failed`.
fn describe(p: &SearchParams) -> String {
    let v = serde_json::json!({
        "from": p.from, "to": p.to, "host": p.host, "app": p.app, "ip": p.ip,
        "user": p.user, "severity": p.severity, "q": p.q, "regex": p.regex, "seq": p.seq,
    });
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| format!("{k}={s}")))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `GET /api/v1/incidents/{id}/report`: the next report (the first, or a
/// follow-up) rendered as it would be sent now, without sending it.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct RenderReport {
    #[serde(skip)]
    pub id: i64,
    /// How the API answers: `text` (the default), `html`, or `json` (the
    /// whole [`ReportPreview`]). The operation's output is the same for all.
    pub format: Option<String>,
    /// Also the attached logs and their manifest (for `pramaan incident
    /// report --out`): only in the `json` answer, and only when asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub files: bool,
}

/// The next report of an incident, rendered.
#[derive(Serialize, Deserialize, Debug)]
pub struct ReportPreview {
    pub subject: String,
    pub to: String,
    pub from: String,
    /// The point of contact, copied on every report.
    pub cc: String,
    /// 0 for the first report, then 1, 2, ... for follow-ups.
    pub number: u32,
    pub in_reply_to: Option<String>,
    pub text: String,
    pub html: String,
    /// What the attached logs are (names, hash, records).
    pub logs: Export,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<LogFiles>,
}

/// The attached logs of an incident (NDJSON, one search hit per line) and
/// their manifest of SHA-256 hashes, as files.
#[derive(Serialize, Deserialize, Debug)]
pub struct LogFiles {
    pub ndjson_name: String,
    pub ndjson: String,
    pub manifest_name: String,
    pub manifest: String,
}

impl LogFiles {
    fn of(e: &Export) -> Result<LogFiles, AppError> {
        let text = |what: &str, b: &[u8]| {
            String::from_utf8(b.to_vec())
                .map_err(|_| AppError::Damaged(format!("the stored {what} is not UTF-8 text")))
        };
        Ok(LogFiles {
            ndjson_name: e.ndjson_name.clone(),
            ndjson: text("log excerpt", &e.ndjson)?,
            manifest_name: e.manifest_name.clone(),
            manifest: text("manifest", &e.manifest)?,
        })
    }
}

impl Operation for RenderReport {
    type Output = ReportPreview;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/incidents/{id}/report";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let d = app.desk();
        let p = pramaan_desk::mail::prepare(
            d.desk()?,
            d.settings()?,
            d.templates()?,
            self.id,
            now_ns(),
        )
        .map_err(app_error)?;
        let files = if self.files {
            Some(LogFiles::of(&p.export)?)
        } else {
            None
        };
        Ok(ReportPreview {
            subject: p.rendered.subject,
            to: p.to,
            from: p.from,
            cc: p.poc.poc.email,
            number: p.number,
            in_reply_to: p.in_reply_to,
            text: p.rendered.text,
            html: p.rendered.html,
            logs: p.export,
            files,
        })
    }
}

/// `GET /api/v1/incidents/{id}/export`: the attached logs (`file=ndjson`,
/// the default) or their manifest (`file=manifest`).
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct ExportLogs {
    #[serde(skip)]
    pub id: i64,
    /// Which file the API answers; the operation's output holds both.
    pub file: Option<String>,
}

impl Operation for ExportLogs {
    type Output = LogFiles;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/incidents/{id}/export";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        desk.get(self.id).map_err(app_error)?;
        let e = pramaan_desk::export::export(
            self.id,
            &desk.excerpt_lines(self.id).map_err(app_error)?,
            &desk.excerpts(self.id).map_err(app_error)?,
            now_ns(),
        );
        LogFiles::of(&e)
    }
}

/// `POST /api/v1/incidents/{id}/send`: send the next report by SMTP to
/// CERT-In (`desk.report_to`), the point of contact in copy. A mail server
/// that refuses it is not an error: the attempt says why (`error`), and is
/// kept on the incident.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct SendReport {
    #[serde(skip)]
    pub id: i64,
}

/// The incident after the attempt, and the attempt.
#[derive(Serialize, Deserialize, Debug)]
pub struct SendOutcome {
    pub incident: IncidentView,
    pub attempt: ReportAttempt,
}

impl Operation for SendReport {
    type Output = SendOutcome;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/incidents/{id}/send";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let d = app.desk();
        let (inc, attempt) = pramaan_desk::mail::send_report(
            d.desk()?,
            d.settings()?,
            d.templates()?,
            self.id,
            &who.name,
            now_ns(),
        )
        .await
        .map_err(app_error)?;
        Ok(SendOutcome {
            incident: inc.view(now_ns()),
            attempt,
        })
    }
}

/// `POST /api/v1/incidents/{id}/close`: close it, saying why.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CloseIncident {
    #[serde(skip)]
    pub id: i64,
    pub reason: String,
}

impl Operation for CloseIncident {
    type Output = IncidentView;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/incidents/{id}/close";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let desk = app.desk().desk()?;
        let now = now_ns();
        let inc = desk
            .close(self.id, &self.reason, &who.name, now)
            .await
            .map_err(app_error)?;
        Ok(inc.view(now))
    }
}
