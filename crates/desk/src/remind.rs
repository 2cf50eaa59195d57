//! Reminders before the 6-hour deadline (and when it has passed), by e-mail
//! and by webhook. [`tick`] takes the time as a parameter, so tests drive it
//! through a whole incident without sleeping; `serve` calls it every
//! `desk.reminder_interval` ([`schedule`]).
//!
//! Each reminder is decided once (a row in `reminders`); when several are due
//! at once (an incident recorded late), only the most urgent is sent and the
//! others are marked skipped. A channel that failed is tried again at the
//! next ticks, up to [`MAX_ATTEMPTS`] times.

use crate::clock::{self, Reminder};
use crate::model::{Incident, State};
use crate::settings::Settings;
use crate::{mail, Desk, DeskError, TimeView};
use lettre::message::Mailbox;
use lettre::Message;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Ticks that try a failed channel again, at most.
pub const MAX_ATTEMPTS: u32 = 5;

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// (incident, reminder) newly decided and sent (or tried).
    pub sent: Vec<(i64, String)>,
    pub skipped: Vec<(i64, String)>,
    /// (incident, reminder, channel, error).
    pub failures: Vec<(i64, String, &'static str, String)>,
}

fn reminder_from_name(name: &str) -> Reminder {
    if name == "overdue" {
        Reminder::Overdue
    } else if name == "opened" {
        Reminder::Opened
    } else {
        Reminder::Before(pramaan_core::time::parse_age_secs(name).unwrap_or(0) as u64)
    }
}

/// The text of a reminder, for e-mail and the webhook's `text`.
fn reminder_text(inc: &Incident, which: Reminder, now_ns: i64) -> (String, String) {
    let v = inc.view(now_ns);
    let subject = match which {
        Reminder::Opened => format!(
            "New incident #{} detected: {} (report to CERT-In by {})",
            inc.id, inc.fields.title, v.deadline.ist
        ),
        Reminder::Overdue => format!(
            "OVERDUE: incident #{} not reported to CERT-In (deadline {})",
            inc.id, v.deadline.ist
        ),
        Reminder::Before(_) => format!(
            "Reminder: incident #{} must be reported to CERT-In by {} ({})",
            inc.id, v.deadline.ist, v.clock_text
        ),
    };
    let body = format!(
        "Incident #{id}: {title}\nKinds: {kinds}\nDetected: {det}\nDeadline (6 hours): {dl}\nStatus: {clock}\n\nSend the report with: pramaan incident send {id}\n",
        id = inc.id,
        title = inc.fields.title,
        kinds = inc.fields.kinds.join(", "),
        det = v.detected_at.ist,
        dl = v.deadline.ist,
        clock = v.clock_text,
    );
    (subject, body)
}

pub(crate) async fn send_email(
    desk: &Desk,
    settings: &Settings,
    subject: &str,
    body: &str,
) -> Result<(), String> {
    let poc = desk.poc().map_err(|e| e.to_string())?;
    let to = if !settings.reminder_to.trim().is_empty() {
        settings.reminder_to.clone()
    } else {
        poc.as_ref()
            .map(|p| p.poc.email.clone())
            .ok_or("no recipient: set desk.reminder_to or a point of contact")?
    };
    let from = if !settings.mail_from.trim().is_empty() {
        settings.mail_from.clone()
    } else {
        poc.as_ref()
            .map(|p| p.poc.email.clone())
            .unwrap_or_else(|| to.clone())
    };
    let parse = |a: &str| -> Result<Mailbox, String> {
        a.trim()
            .parse::<Mailbox>()
            .map_err(|e| format!("`{a}` is not an e-mail address: {e}"))
    };
    let msg = Message::builder()
        .from(parse(&from)?)
        .to(parse(&to)?)
        .subject(subject)
        .body(body.to_owned())
        .map_err(|e| e.to_string())?;
    mail::smtp_send(&settings.smtp, msg).await.map(|_| ())
}

/// POSTs `body` as JSON, trying up to `tries` times with back-off doubling
/// from `backoff`. Success is any 2xx answer.
pub async fn post_webhook(
    url: &str,
    body: &serde_json::Value,
    tries: u32,
    backoff: Duration,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut last = String::new();
    let tries = tries.max(1);
    for i in 0..tries {
        if i > 0 {
            tokio::time::sleep(backoff.saturating_mul(1 << (i - 1).min(10))).await;
        }
        match client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{url} answered {}", r.status()),
            Err(e) => last = format!("{url}: {e}"),
        }
        tracing::debug!(try_ = i + 1, error = %last, "webhook failed");
    }
    Err(format!("{last} (after {tries} tries)"))
}

/// Decides and sends the reminders due at `now_ns` for every open incident.
pub async fn tick(desk: &Desk, settings: &Settings, now_ns: i64) -> Result<TickReport, DeskError> {
    let mut report = TickReport::default();
    let email_on = !settings.smtp.host.trim().is_empty();
    let webhook_on = !settings.webhook_url.trim().is_empty();
    for inc in desk.list()? {
        if inc.state != State::Open {
            continue;
        }
        let rows = desk.reminders(inc.id)?;
        let done: Vec<Reminder> = rows.iter().map(|r| reminder_from_name(&r.name)).collect();
        let (send, skip) = clock::due(
            inc.deadline_ns,
            &settings.reminders,
            settings.remind_overdue,
            &done,
            now_ns,
        );
        if let Some(s) = send {
            desk.decide_reminders(inc.id, s, &skip, now_ns)?;
            report.sent.push((inc.id, s.name()));
            report
                .skipped
                .extend(skip.iter().map(|r| (inc.id, r.name())));
        }
        // Every decided, not skipped reminder with a channel still to do.
        for row in desk.reminders(inc.id)? {
            if row.skipped || row.attempts >= MAX_ATTEMPTS {
                continue;
            }
            let want_email = email_on && row.email_done_at_ns.is_none();
            let want_hook = webhook_on && row.webhook_done_at_ns.is_none();
            if !want_email && !want_hook {
                continue;
            }
            let which = reminder_from_name(&row.name);
            let (subject, body) = reminder_text(&inc, which, now_ns);
            let email = if want_email {
                Some(
                    send_email(desk, settings, &subject, &body)
                        .await
                        .map(|_| now_ns),
                )
            } else {
                None
            };
            let hook = if want_hook {
                let v = inc.view(now_ns);
                let payload = serde_json::json!({
                    "event": match which {
                        Reminder::Overdue => "incident.overdue",
                        Reminder::Opened => "incident.opened",
                        Reminder::Before(_) => "incident.reminder",
                    },
                    "reminder": row.name,
                    "text": subject,
                    "incident": {
                        "id": inc.id,
                        "title": inc.fields.title,
                        "kinds": inc.fields.kinds,
                        "state": inc.state.as_str(),
                        "detected_at": v.detected_at,
                        "deadline": v.deadline,
                        "time_left": v.clock_text,
                        "overdue": v.overdue,
                    },
                    "at": TimeView::of(now_ns),
                });
                Some(
                    post_webhook(
                        &settings.webhook_url,
                        &payload,
                        settings.webhook_tries,
                        settings.webhook_backoff,
                    )
                    .await
                    .map(|_| now_ns),
                )
            } else {
                None
            };
            for (chan, r) in [("email", &email), ("webhook", &hook)] {
                if let Some(Err(e)) = r {
                    tracing::warn!(incident = inc.id, reminder = %row.name, channel = chan, error = %e, "reminder not delivered; tried again at the next tick");
                    report
                        .failures
                        .push((inc.id, row.name.clone(), chan, e.clone()));
                }
            }
            let details = serde_json::json!({
                "reminder": row.name,
                "email": email.as_ref().map(|r| r.as_ref().map(|_| "sent").map_err(|e| e.clone())),
                "webhook": hook.as_ref().map(|r| r.as_ref().map(|_| "sent").map_err(|e| e.clone())),
                "skipped": report.skipped.iter().filter(|(i, _)| *i == inc.id).map(|(_, n)| n.clone()).collect::<Vec<_>>(),
            });
            desk.reminder_result(inc.id, &row.name, email, hook, details, now_ns)
                .await?;
        }
    }
    Ok(report)
}

/// Runs [`tick`] every `interval` until `stop` turns true.
pub async fn schedule(
    desk: Arc<Desk>,
    settings: Arc<Settings>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match tick(&desk, &settings, pramaan_core::time::now_ns()).await {
            Ok(r) if !r.sent.is_empty() || !r.failures.is_empty() => {
                tracing::info!(sent = ?r.sent, skipped = ?r.skipped, failures = r.failures.len(), "incident reminders")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "incident reminders failed; tried again at the next interval")
            }
        }
        desk.flush().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
