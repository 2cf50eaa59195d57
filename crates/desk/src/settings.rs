//! The desk's settings (from the `[desk]` configuration keys), with the SMTP
//! password resolved and never shown.

use crate::clock::{parse_reminders, Reminder};
use crate::DeskError;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required), port 587 by default.
    StartTls,
    /// TLS from the first byte ("SMTPS"), port 465 by default.
    Tls,
    /// No TLS at all: for a relay on loopback only (and tests).
    Plain,
}

impl Security {
    pub fn parse(s: &str) -> Result<Security, DeskError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(Security::StartTls),
            "tls" | "smtps" | "implicit" => Ok(Security::Tls),
            "plain" | "none" => Ok(Security::Plain),
            other => Err(DeskError::Config {
                key: "desk.smtp_security",
                why: format!("`{other}` is not one of starttls, tls, plain"),
            }),
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::Plain => 25,
        }
    }
}

/// A password that never shows in logs or debug output.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Empty = not configured: reports cannot be sent, reminders go by webhook only.
    pub host: String,
    /// 0 = the security's default port.
    pub port: u16,
    pub security: Security,
    /// Empty = no authentication.
    pub user: String,
    pub password: Option<Secret>,
    pub timeout: Duration,
}

impl SmtpSettings {
    pub fn port(&self) -> u16 {
        if self.port == 0 {
            self.security.default_port()
        } else {
            self.port
        }
    }

    /// Reads the password from a file (first line) or from the environment
    /// variable named, file first. Neither given = `None`.
    pub fn resolve_password(
        file: Option<&std::path::Path>,
        env_name: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, DeskError> {
        if let Some(p) = file {
            let text = std::fs::read_to_string(p).map_err(|e| DeskError::Config {
                key: "desk.smtp_password_file",
                why: format!("cannot read {}: {e}", p.display()),
            })?;
            let line = text.lines().next().unwrap_or("").to_owned();
            return Ok(Some(Secret(line)));
        }
        if !env_name.trim().is_empty() {
            return match env(env_name.trim()) {
                Some(v) => Ok(Some(Secret(v))),
                None => Err(DeskError::Config {
                    key: "desk.smtp_password_env",
                    why: format!("the environment variable {} is not set", env_name.trim()),
                }),
            };
        }
        Ok(None)
    }
}

/// Everything the desk is told by the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where reports go (`desk.report_to`, default incident@cert-in.org.in).
    pub report_to: String,
    /// The From address; empty = the point of contact's e-mail.
    pub mail_from: String,
    /// Warn when the point of contact was not reviewed for this many days.
    pub poc_review_days: u64,
    /// Custom templates; `None` = the shipped defaults.
    pub template_text: Option<PathBuf>,
    pub template_html: Option<PathBuf>,
    /// The organisation, for reports (`node.organisation`).
    pub organisation: String,
    pub smtp: SmtpSettings,
    /// Reminders before the deadline, largest first.
    pub reminders: Vec<Reminder>,
    pub remind_overdue: bool,
    /// Reminder e-mails go here; empty = the point of contact.
    pub reminder_to: String,
    /// JSON POST for reminders; empty = none.
    pub webhook_url: String,
    /// Tries per webhook call (with back-off doubling from `webhook_backoff`).
    pub webhook_tries: u32,
    pub webhook_backoff: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            report_to: "incident@cert-in.org.in".into(),
            mail_from: String::new(),
            poc_review_days: 90,
            template_text: None,
            template_html: None,
            organisation: String::new(),
            smtp: SmtpSettings {
                host: String::new(),
                port: 0,
                security: Security::StartTls,
                user: String::new(),
                password: None,
                timeout: Duration::from_secs(30),
            },
            reminders: parse_reminders("3h,1h,30m").unwrap_or_default(),
            remind_overdue: true,
            reminder_to: String::new(),
            webhook_url: String::new(),
            webhook_tries: 5,
            webhook_backoff: Duration::from_secs(1),
        }
    }
}

impl Settings {
    /// `desk.reminders` text into the list, naming the key on error.
    pub fn parse_reminders(text: &str) -> Result<Vec<Reminder>, DeskError> {
        parse_reminders(text).map_err(|why| DeskError::Config {
            key: "desk.reminders",
            why,
        })
    }
}
