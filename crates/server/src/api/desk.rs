//! The incident desk over HTTP (`pramaan_desk`):
//!
//! * `GET /api/v1/incidents`: every incident, newest first, each with its
//!   deadline (IST and UTC), time left and `overdue`.
//! * `POST /api/v1/incidents`: a new one (`title`, `kinds`, `detected_at`,
//!   optional `notified_at`, `occurred_at`, `systems`, text fields); 201.
//! * `GET /api/v1/incidents/kinds`: the 20 kinds of Annexure I with their codes.
//! * `GET /api/v1/incidents/{id}`: the incident, its history (each change with
//!   its ledger sequence number), report attempts, excerpts, reminders.
//! * `PATCH /api/v1/incidents/{id}`: change fields.
//! * `POST /api/v1/incidents/{id}/excerpts`: attach the log lines a search
//!   finds (`name`, `search`: the parameters of `GET /api/v1/search`).
//! * `GET /api/v1/incidents/{id}/report?format=text|html|json`: the next report, rendered.
//! * `GET /api/v1/incidents/{id}/export?file=ndjson|manifest`: the attached logs.
//! * `POST /api/v1/incidents/{id}/send`: send the next report (the first or a
//!   follow-up); 200 with the attempt, whose `error` says why when unsent.
//! * `POST /api/v1/incidents/{id}/close`: close it (`reason`).
//! * `GET /api/v1/poc`, `PUT /api/v1/poc`, `GET /api/v1/poc/history`: the point of contact.
//!
//! The acting user comes from `X-Pramaan-Actor` (default `cli`).

use super::{ApiError, AppState, SearchParams};
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_config::Config;
use pramaan_core::time::{now_ns, parse_user_time};
use pramaan_desk::render::Templates;
use pramaan_desk::settings::SmtpSettings;
use pramaan_desk::{
    mail, Desk, DeskError, Edit, ExcerptLine, Fields, NewIncident, PocEdit, Security, Settings,
    System,
};
use pramaan_vault::{search, Vault};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// The desk as `serve` holds it. Opening errors (a bad custom template, an
/// unreadable database) are kept and answered on every request, so the rest
/// of the server still starts.
pub struct DeskState {
    desk: Result<Arc<Desk>, String>,
    settings: Result<Arc<Settings>, String>,
    templates: Result<Arc<Templates>, String>,
    vault: Vault,
    interval: std::time::Duration,
}

/// `<data_dir>/desk.db`.
pub fn desk_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("desk.db")
}

/// The desk's settings from the configuration (the SMTP password read from
/// its file or environment variable).
pub fn settings(cfg: &Config) -> Result<Settings, DeskError> {
    let d = &cfg.desk;
    let security = Security::parse(&d.smtp_security)?;
    let password = SmtpSettings::resolve_password(
        d.smtp_password_file.as_deref(),
        &d.smtp_password_env,
        |k| std::env::var(k).ok(),
    )?;
    Ok(Settings {
        report_to: d.report_to.clone(),
        mail_from: d.mail_from.clone(),
        poc_review_days: d.poc_review_days,
        template_text: d.template_text.clone(),
        template_html: d.template_html.clone(),
        organisation: cfg.node.organisation.clone(),
        smtp: SmtpSettings {
            host: d.smtp_host.clone(),
            port: d.smtp_port as u16,
            security,
            user: d.smtp_user.clone(),
            password,
            timeout: d.smtp_timeout,
        },
        reminders: Settings::parse_reminders(&d.reminders)?,
        remind_overdue: d.remind_overdue,
        reminder_to: d.reminder_to.clone(),
        webhook_url: d.webhook_url.clone(),
        webhook_tries: d.webhook_tries as u32,
        webhook_backoff: std::time::Duration::from_secs(1),
    })
}

/// The configured templates (shipped or custom), checked.
pub fn templates(s: &Settings) -> Result<Templates, DeskError> {
    Templates::load(s.template_text.as_deref(), s.template_html.as_deref())
}

impl DeskState {
    pub fn new(vault: Vault, cfg: &Config) -> DeskState {
        let settings = settings(cfg).map(Arc::new).map_err(|e| e.to_string());
        let templates = match &settings {
            Ok(s) => templates(s).map(Arc::new).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        for e in [settings.as_ref().err(), templates.as_ref().err()]
            .into_iter()
            .flatten()
        {
            tracing::error!(error = %e, "the incident desk cannot send reports until this is fixed");
        }
        let desk = Desk::open(
            &desk_path(cfg),
            Arc::new(pramaan_vault::sink::VaultSink::new(vault.clone())),
        )
        .map(Arc::new)
        .map_err(|e| {
            tracing::error!(error = %e, "the incident desk is unavailable");
            e.to_string()
        });
        DeskState {
            desk,
            settings,
            templates,
            vault,
            interval: cfg.desk.reminder_interval,
        }
    }

    pub(super) fn desk(&self) -> Result<&Arc<Desk>, ApiError> {
        self.desk
            .as_ref()
            .map_err(|e| ApiError::BadRequest(format!("the incident desk is unavailable: {e}")))
    }

    pub(super) fn settings(&self) -> Result<&Arc<Settings>, ApiError> {
        self.settings
            .as_ref()
            .map_err(|e| ApiError::BadRequest(e.clone()))
    }

    pub(super) fn templates(&self) -> Result<&Arc<Templates>, ApiError> {
        self.templates
            .as_ref()
            .map_err(|e| ApiError::BadRequest(e.clone()))
    }

    /// The reminder schedule `serve` runs (nothing when the desk could not open).
    pub fn reminders(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let desk = self.desk.as_ref().ok()?.clone();
        let settings = self.settings.as_ref().ok()?.clone();
        Some(pramaan_desk::remind::schedule(
            desk,
            settings,
            self.interval,
            stop,
        ))
    }
}

impl AppState {
    /// The incident desk (`serve` runs its reminders).
    pub fn desk(&self) -> Arc<DeskState> {
        self.desk.clone()
    }
}

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/incidents", get(list).post(create))
        .route("/api/v1/incidents/kinds", get(kinds))
        .route("/api/v1/incidents/{id}", get(show).patch(edit))
        .route("/api/v1/incidents/{id}/excerpts", post(attach))
        .route("/api/v1/incidents/{id}/report", get(report))
        .route("/api/v1/incidents/{id}/export", get(export))
        .route("/api/v1/incidents/{id}/send", post(send))
        .route("/api/v1/incidents/{id}/close", post(close))
        .route("/api/v1/poc", get(poc_show).put(poc_set))
        .route("/api/v1/poc/history", get(poc_history))
}

fn actor(h: &HeaderMap) -> String {
    h.get("x-pramaan-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("cli")
        .to_owned()
}

pub(super) fn err(e: DeskError) -> ApiError {
    match &e {
        DeskError::NotFound { .. } => ApiError::Missing(e.to_string()),
        _ if e.is_user_error() => ApiError::BadRequest(e.to_string()),
        _ => super::internal(e),
    }
}

fn time(name: &str, v: &Option<String>, now: i64) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_user_time(s, now).map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))))
        .transpose()
}

/// A new incident as the API and the CLI send it (times as text).
#[derive(Deserialize, serde::Serialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct NewBody {
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

impl NewBody {
    pub fn into_new(self, now: i64) -> Result<NewIncident, ApiError> {
        let detected = time("detected_at", &self.detected_at, now)?.ok_or_else(|| {
            ApiError::BadRequest(
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

/// Changes as the API and the CLI send them (times as text).
#[derive(Deserialize, serde::Serialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct EditBody {
    pub title: Option<String>,
    pub kinds: Option<Vec<String>>,
    pub detected_at: Option<String>,
    pub notified_at: Option<String>,
    pub occurred_at: Option<String>,
    pub systems: Option<Vec<System>>,
    pub add_systems: Vec<System>,
    pub symptoms: Option<String>,
    pub description: Option<String>,
    pub scope_impact: Option<String>,
    pub iocs: Option<String>,
    pub actions_taken: Option<String>,
    pub security_systems: Option<String>,
    pub other_info: Option<String>,
}

impl EditBody {
    pub fn into_edit(self, now: i64) -> Result<Edit, ApiError> {
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

/// Everything about one incident at `now`: what `GET /api/v1/incidents/{id}`
/// answers and `pramaan incident show` prints.
pub fn detail_json(
    desk: &Desk,
    settings: &Settings,
    id: i64,
    now: i64,
) -> Result<serde_json::Value, DeskError> {
    let inc = desk.get(id)?;
    Ok(serde_json::json!({
        "incident": inc.view(now),
        "history": desk.history(id)?,
        "reports": desk.reports(id)?,
        "excerpts": desk.excerpts(id)?,
        "reminders": desk.reminders(id)?,
        "poc_warning": poc_warning(desk, settings, now),
    }))
}

/// Why the point of contact needs attention, if it does.
pub fn poc_warning(desk: &Desk, settings: &Settings, now: i64) -> Option<String> {
    match desk.poc() {
        Ok(None) => {
            Some("no point of contact is set: reports cannot be sent (pramaan poc set)".into())
        }
        Ok(Some(p)) => p.view(settings.poc_review_days, now).warning,
        Err(_) => None,
    }
}

/// Runs a search and returns its hits as excerpt lines (at most `limit`).
pub async fn search_lines(
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
pub fn describe(p: &SearchParams) -> String {
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

async fn kinds() -> Json<serde_json::Value> {
    Json(serde_json::to_value(&pramaan_desk::kinds::KINDS[..]).unwrap_or_default())
}

async fn list(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let now = now_ns();
    let views: Vec<_> = d.list().map_err(err)?.iter().map(|i| i.view(now)).collect();
    Ok(Json(serde_json::to_value(views).map_err(super::internal)?))
}

async fn create(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Json(body): Json<NewBody>,
) -> Result<Response, ApiError> {
    let d = st.desk.desk()?;
    let now = now_ns();
    let inc = d
        .create(body.into_new(now)?, &actor(&h), now)
        .await
        .map_err(err)?;
    Ok((StatusCode::CREATED, Json(inc.view(now))).into_response())
}

async fn show(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let s = st.desk.settings()?;
    Ok(Json(detail_json(d, s, id, now_ns()).map_err(err)?))
}

async fn edit(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    h: HeaderMap,
    Json(body): Json<EditBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let now = now_ns();
    let inc = d
        .edit(id, body.into_edit(now)?, &actor(&h), now)
        .await
        .map_err(err)?;
    Ok(Json(
        serde_json::to_value(inc.view(now)).map_err(super::internal)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    name: Option<String>,
    search: SearchParams,
}

async fn attach(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    h: HeaderMap,
    Json(body): Json<AttachBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let now = now_ns();
    d.get(id).map_err(err)?;
    let lines = search_lines(&st.desk.vault, &body.search, now)
        .await
        .map_err(ApiError::BadRequest)?;
    let query = describe(&body.search);
    let name = body.name.unwrap_or_else(|| "logs".into());
    let ex = d
        .attach(id, &name, &query, lines, &actor(&h), now)
        .await
        .map_err(err)?;
    Ok(Json(serde_json::to_value(ex).map_err(super::internal)?))
}

#[derive(Deserialize)]
struct ReportParams {
    format: Option<String>,
}

async fn report(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    QueryParams(p): QueryParams<ReportParams>,
) -> Result<Response, ApiError> {
    let d = st.desk.desk()?;
    let p2 =
        mail::prepare(d, st.desk.settings()?, st.desk.templates()?, id, now_ns()).map_err(err)?;
    Ok(match p.format.as_deref().unwrap_or("text") {
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            p2.rendered.text,
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            p2.rendered.html,
        )
            .into_response(),
        "json" => Json(serde_json::json!({
            "subject": p2.rendered.subject, "to": p2.to, "from": p2.from,
            "cc": p2.poc.poc.email, "number": p2.number, "in_reply_to": p2.in_reply_to,
            "text": p2.rendered.text, "html": p2.rendered.html, "logs": p2.export,
        }))
        .into_response(),
        other => {
            return Err(ApiError::BadRequest(format!(
                "format: `{other}` is not text, html or json"
            )))
        }
    })
}

#[derive(Deserialize)]
struct ExportParams {
    file: Option<String>,
}

async fn export(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    QueryParams(p): QueryParams<ExportParams>,
) -> Result<Response, ApiError> {
    let d = st.desk.desk()?;
    d.get(id).map_err(err)?;
    let e = pramaan_desk::export::export(
        id,
        &d.excerpt_lines(id).map_err(err)?,
        &d.excerpts(id).map_err(err)?,
        now_ns(),
    );
    Ok(match p.file.as_deref().unwrap_or("ndjson") {
        "ndjson" => ([(header::CONTENT_TYPE, "application/x-ndjson")], e.ndjson).into_response(),
        "manifest" => ([(header::CONTENT_TYPE, "application/json")], e.manifest).into_response(),
        other => {
            return Err(ApiError::BadRequest(format!(
                "file: `{other}` is not ndjson or manifest"
            )))
        }
    })
}

async fn send(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    h: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let (inc, attempt) = mail::send_report(
        d,
        st.desk.settings()?,
        st.desk.templates()?,
        id,
        &actor(&h),
        now_ns(),
    )
    .await
    .map_err(err)?;
    Ok(Json(
        serde_json::json!({ "incident": inc.view(now_ns()), "attempt": attempt }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    reason: String,
}

async fn close(
    State(st): State<Arc<AppState>>,
    Path(id): Path<i64>,
    h: HeaderMap,
    Json(b): Json<CloseBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let now = now_ns();
    let inc = d.close(id, &b.reason, &actor(&h), now).await.map_err(err)?;
    Ok(Json(
        serde_json::to_value(inc.view(now)).map_err(super::internal)?,
    ))
}

async fn poc_show(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let s = st.desk.settings()?;
    let p = d.poc().map_err(err)?.ok_or_else(|| {
        ApiError::Missing("no point of contact is set (PUT /api/v1/poc, or pramaan poc set)".into())
    })?;
    Ok(Json(
        serde_json::to_value(p.view(s.poc_review_days, now_ns())).map_err(super::internal)?,
    ))
}

async fn poc_set(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Json(e): Json<PocEdit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    let s = st.desk.settings()?;
    let now = now_ns();
    let p = d.set_poc(e, &actor(&h), now).await.map_err(err)?;
    Ok(Json(
        serde_json::to_value(p.view(s.poc_review_days, now)).map_err(super::internal)?,
    ))
}

async fn poc_history(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let d = st.desk.desk()?;
    Ok(Json(
        serde_json::to_value(d.poc_history().map_err(err)?).map_err(super::internal)?,
    ))
}
