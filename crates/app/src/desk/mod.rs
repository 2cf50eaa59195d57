//! The incident desk's operations (`pramaan_desk` does the work): incidents
//! ([`incidents`]), the point of contact ([`poc`]), and the desk as the
//! application holds it ([`DeskState`]: the database, the settings and the
//! templates, opened at first use).
//!
//! Every change is recorded under the caller's name (`who.name`), and the
//! desk appends it to the ledger itself (its `events` table is its outbox;
//! [`DeskState::flush`] appends what a crash or a refusing ledger left).

pub mod incidents;
pub mod poc;

pub use incidents::*;
pub use poc::*;

use crate::AppError;
use pramaan_config::Config;
use pramaan_core::LedgerSink;
use pramaan_desk::render::Templates;
use pramaan_desk::settings::SmtpSettings;
use pramaan_desk::{Desk, DeskError, PocView, Security, Settings};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

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

/// What a desk error tells the caller: a missing incident is 404, a mistake
/// in what they gave 400, a failing store 500 (details in the log).
pub fn app_error(e: DeskError) -> AppError {
    match &e {
        DeskError::NotFound { .. } => AppError::Missing(e.to_string()),
        _ if e.is_user_error() => AppError::Invalid(e.to_string()),
        _ => AppError::internal(e),
    }
}

/// The desk, its settings and its templates once opened. Opening errors (a
/// bad custom template, an unreadable database) are kept and answered on
/// every request, so the rest of pramaan still works.
struct Opened {
    desk: Result<Arc<Desk>, String>,
    settings: Result<Arc<Settings>, String>,
    templates: Result<Arc<Templates>, String>,
}

/// The incident desk as the application holds it. Nothing is opened until
/// an operation (or `serve`'s reminders) first needs it, so a command of
/// another component does not create `desk.db`, and [`crate::App::new`]
/// cannot fail.
pub struct DeskState {
    cfg: Arc<Config>,
    sink: Arc<dyn LedgerSink>,
    opened: OnceLock<Opened>,
}

impl DeskState {
    pub fn new(cfg: Arc<Config>, sink: Arc<dyn LedgerSink>) -> DeskState {
        DeskState {
            cfg,
            sink,
            opened: OnceLock::new(),
        }
    }

    fn opened(&self) -> &Opened {
        self.opened.get_or_init(|| {
            let settings = settings(&self.cfg)
                .map(Arc::new)
                .map_err(|e| e.to_string());
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
            let desk = Desk::open(&desk_path(&self.cfg), self.sink.clone())
                .map(Arc::new)
                .map_err(|e| {
                    tracing::error!(error = %e, "the incident desk is unavailable");
                    e.to_string()
                });
            Opened {
                desk,
                settings,
                templates,
            }
        })
    }

    /// The desk's store, or why it could not be opened.
    pub fn desk(&self) -> Result<&Arc<Desk>, AppError> {
        self.opened()
            .desk
            .as_ref()
            .map_err(|e| AppError::Invalid(format!("the incident desk is unavailable: {e}")))
    }

    /// The desk's settings, or what is wrong with them in the configuration.
    pub fn settings(&self) -> Result<&Arc<Settings>, AppError> {
        self.opened()
            .settings
            .as_ref()
            .map_err(|e| AppError::Invalid(e.clone()))
    }

    /// The report templates, or what is wrong with them.
    pub fn templates(&self) -> Result<&Arc<Templates>, AppError> {
        self.opened()
            .templates
            .as_ref()
            .map_err(|e| AppError::Invalid(e.clone()))
    }

    /// The point of contact as the console's pages show it (no access check:
    /// those pages are guarded by their own rows), `None` when unset or
    /// unreadable.
    pub fn poc_view(&self, now_ns: i64) -> Option<PocView> {
        let d = self.desk().ok()?;
        let s = self.settings().ok()?;
        d.poc()
            .ok()
            .flatten()
            .map(|p| p.view(s.poc_review_days, now_ns))
    }

    /// The reminder schedule `serve` runs (nothing when the desk could not open).
    pub fn reminders(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let desk = self.desk().ok()?.clone();
        let settings = self.settings().ok()?.clone();
        Some(pramaan_desk::remind::schedule(
            desk,
            settings,
            self.cfg.desk.reminder_interval,
            stop,
        ))
    }

    /// Appends the desk records still pending (left by a crash between the
    /// row and its ledger record, or refused by the ledger); returns how
    /// many remain. Does not open the desk if nothing has used it.
    pub async fn flush(&self) -> usize {
        match self.opened.get().map(|o| &o.desk) {
            Some(Ok(d)) => d.flush().await,
            _ => 0,
        }
    }
}
