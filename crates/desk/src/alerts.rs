//! Compliance alerts: what breaks the directions' obligations without any
//! attack (a source gone silent, the clock off NIC/NPL time, storage
//! filling, checkpoints no longer signed, retention behind), each firing
//! until its condition ends, kept in `desk.db`, sent by e-mail and in
//! Prometheus Alertmanager's format (`POST /api/v2/alerts`) so that a
//! provider's Alertmanager, PagerDuty or Slack routing takes them, and sent
//! again every repeat interval until resolved or acknowledged.
//!
//! [`Desk::sync_alerts`] takes the conditions true now (gathered by the
//! caller, with the time passed in) and records each change, firing or
//! resolved, as an `events` row and a ledger record in one transaction.
//! [`notify`] sends what is due ([`due`]: a pure decision).

use crate::remind::post_webhook;
use crate::store::insert_event;
use crate::{Desk, DeskError, Settings};
use pramaan_core::time::rfc3339_utc;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who the desk's records name for alert changes.
pub const ACTOR: &str = "pramaan:alerts";

/// A condition true now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Unique per alert: `source_silent/web1`, `clock`, `disk`.
    pub key: String,
    /// Alertmanager's `alertname` (`PramaanSourceSilent`...).
    pub alertname: String,
    /// Further labels (`source`, `server`...).
    pub labels: BTreeMap<String, String>,
    /// One sentence for a person.
    pub summary: String,
    /// Since when it holds, as far as the facts tell (else now).
    pub since_ns: i64,
}

/// An alert as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub key: String,
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub since_ns: i64,
    pub resolved_at_ns: Option<i64>,
    pub last_sent_ns: Option<i64>,
    pub sends: u32,
    /// Whether its resolution has been sent.
    pub resolved_sent: bool,
    pub acked_by: Option<String>,
    pub acked_at_ns: Option<i64>,
}

impl Alert {
    pub fn firing(&self) -> bool {
        self.state == "firing"
    }
}

/// Whether an alert is to be sent at `now`: a firing one not acknowledged,
/// never sent or last sent `repeat_ns` ago; a resolved one whose
/// resolution has not been sent (when its firing was).
pub fn due(a: &Alert, repeat_ns: i64, now_ns: i64) -> bool {
    if a.firing() {
        a.acked_at_ns.is_none() && a.last_sent_ns.is_none_or(|t| now_ns - t >= repeat_ns)
    } else {
        !a.resolved_sent && a.last_sent_ns.is_some()
    }
}

/// Alerts in the body of Alertmanager's `POST /api/v2/alerts`.
pub fn alertmanager_body(alerts: &[&Alert], generator_url: &str) -> serde_json::Value {
    let items: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let mut labels = a.labels.clone();
            labels.insert("alertname".into(), a.alertname.clone());
            labels.insert("service".into(), "pramaan".into());
            let mut v = serde_json::json!({
                "labels": labels,
                "annotations": {"summary": a.summary},
                "startsAt": rfc3339_utc(a.since_ns),
                "generatorURL": generator_url,
            });
            if let Some(r) = a.resolved_at_ns {
                v["endsAt"] = rfc3339_utc(r).into();
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
}

/// What a sync changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub fired: Vec<String>,
    pub resolved: Vec<String>,
}

fn row_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let labels: String = r.get("labels")?;
    Ok(Alert {
        key: r.get("key")?,
        alertname: r.get("alertname")?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        summary: r.get("summary")?,
        state: r.get("state")?,
        since_ns: r.get("since_ns")?,
        resolved_at_ns: r.get("resolved_at_ns")?,
        last_sent_ns: r.get("last_sent_ns")?,
        sends: r.get("sends")?,
        resolved_sent: r.get::<_, i64>("resolved_sent")? != 0,
        acked_by: r.get("acked_by")?,
        acked_at_ns: r.get("acked_at_ns")?,
    })
}

impl Desk {
    /// Every alert kept, firing first, then the latest resolved.
    pub fn alerts(&self) -> Result<Vec<Alert>, DeskError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT * FROM alerts ORDER BY state = 'firing' DESC, coalesce(resolved_at_ns, since_ns) DESC",
        )?;
        let rows = st
            .query_map([], row_alert)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Makes the kept alerts follow the conditions true now: a new one
    /// fires, one no longer true is resolved, one firing again after its
    /// resolution fires anew (its acknowledgement forgotten). Each change
    /// is a ledger record.
    pub async fn sync_alerts(&self, now: &[Condition], now_ns: i64) -> Result<Changes, DeskError> {
        let mut ch = Changes::default();
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let watermark = self.sink.committed();
            let kept: Vec<Alert> = {
                let mut st = tx.prepare("SELECT * FROM alerts")?;
                let rows = st
                    .query_map([], row_alert)?
                    .collect::<Result<Vec<_>, _>>()?;
                rows
            };
            for c in now {
                let old = kept.iter().find(|a| a.key == c.key);
                let labels = serde_json::to_string(&c.labels).map_err(DeskError::json)?;
                match old {
                    Some(a) if a.firing() => {
                        // Still firing: the words may change (a longer silence).
                        tx.execute(
                            "UPDATE alerts SET summary = ?2, labels = ?3 WHERE key = ?1",
                            params![c.key, c.summary, labels],
                        )?;
                        continue;
                    }
                    _ => {}
                }
                tx.execute(
                    "INSERT INTO alerts (key, alertname, labels, summary, state, since_ns)
                     VALUES (?1, ?2, ?3, ?4, 'firing', ?5)
                     ON CONFLICT (key) DO UPDATE SET alertname = ?2, labels = ?3, summary = ?4,
                        state = 'firing', since_ns = ?5, resolved_at_ns = NULL, last_sent_ns = NULL,
                        sends = 0, resolved_sent = 0, acked_by = NULL, acked_at_ns = NULL",
                    params![
                        c.key,
                        c.alertname,
                        labels,
                        c.summary,
                        c.since_ns.min(now_ns)
                    ],
                )?;
                insert_event(
                    &tx,
                    watermark,
                    None,
                    now_ns,
                    ACTOR,
                    "alert.firing",
                    &serde_json::json!({
                        "alert": c.key, "alertname": c.alertname, "labels": c.labels,
                        "summary": c.summary, "since": rfc3339_utc(c.since_ns.min(now_ns)),
                    }),
                )?;
                ch.fired.push(c.key.clone());
            }
            for a in kept.iter().filter(|a| a.firing()) {
                if now.iter().any(|c| c.key == a.key) {
                    continue;
                }
                tx.execute(
                    "UPDATE alerts SET state = 'resolved', resolved_at_ns = ?2 WHERE key = ?1",
                    params![a.key, now_ns],
                )?;
                insert_event(
                    &tx,
                    watermark,
                    None,
                    now_ns,
                    ACTOR,
                    "alert.resolved",
                    &serde_json::json!({
                        "alert": a.key, "alertname": a.alertname, "labels": a.labels,
                        "summary": a.summary, "since": rfc3339_utc(a.since_ns),
                    }),
                )?;
                ch.resolved.push(a.key.clone());
            }
            tx.commit()?;
        }
        if !ch.fired.is_empty() || !ch.resolved.is_empty() {
            self.flush().await;
        }
        Ok(ch)
    }

    /// Acknowledges a firing alert: it is not sent again until it resolves
    /// and fires anew.
    pub async fn ack_alert(&self, key: &str, actor: &str, now_ns: i64) -> Result<Alert, DeskError> {
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            let a = tx
                .query_row("SELECT * FROM alerts WHERE key = ?1", [key], row_alert)
                .optional()?
                .ok_or_else(|| DeskError::Invalid {
                    field: "alert",
                    why: format!("no alert `{key}` (pramaan alerts lists them)"),
                })?;
            if !a.firing() {
                return Err(DeskError::Invalid {
                    field: "alert",
                    why: format!("the alert `{key}` is resolved: nothing to acknowledge"),
                });
            }
            tx.execute(
                "UPDATE alerts SET acked_by = ?2, acked_at_ns = ?3 WHERE key = ?1",
                params![key, actor, now_ns],
            )?;
            insert_event(
                &tx,
                self.sink.committed(),
                None,
                now_ns,
                actor,
                "alert.acknowledged",
                &serde_json::json!({"alert": key, "alertname": a.alertname}),
            )?;
            tx.commit()?;
        }
        self.flush().await;
        let db = self.db();
        Ok(db.query_row("SELECT * FROM alerts WHERE key = ?1", [key], row_alert)?)
    }

    fn alert_sent(&self, key: &str, firing: bool, now_ns: i64) -> Result<(), DeskError> {
        if firing {
            self.db().execute(
                "UPDATE alerts SET last_sent_ns = ?2, sends = sends + 1 WHERE key = ?1",
                params![key, now_ns],
            )?;
        } else {
            self.db()
                .execute("UPDATE alerts SET resolved_sent = 1 WHERE key = ?1", [key])?;
        }
        Ok(())
    }
}

/// Where alerts go: Alertmanager (its base URL, or any URL taking its
/// v2 body) and the e-mail of the desk's reminders.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// `http://alertmanager:9093` (`/api/v2/alerts` is added) or a full
    /// URL ending in `/api/v2/alerts`; empty: no webhook.
    pub alertmanager_url: String,
    /// E-mail through the desk's SMTP settings to `desk.reminder_to` (else
    /// the point of contact) when its host is set.
    pub email: bool,
    pub repeat_ns: i64,
    /// The console's address, for `generatorURL`.
    pub generator_url: String,
}

/// What one notification round did.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    pub sent: Vec<String>,
    pub failures: Vec<String>,
}

/// Sends every alert [`due`] at `now` by each channel; an alert counts as
/// sent when every channel took it (a failed one is tried at the next round).
pub async fn notify(
    desk: &Desk,
    settings: &Settings,
    ch: &Channels,
    now_ns: i64,
) -> Result<Sent, DeskError> {
    let all = desk.alerts()?;
    let due: Vec<&Alert> = all
        .iter()
        .filter(|a| due(a, ch.repeat_ns, now_ns))
        .collect();
    let mut out = Sent::default();
    if due.is_empty() {
        return Ok(out);
    }
    let mut ok = true;
    if !ch.alertmanager_url.trim().is_empty() {
        let url = alertmanager_url(&ch.alertmanager_url);
        let body = alertmanager_body(&due, &ch.generator_url);
        if let Err(e) = post_webhook(
            &url,
            &body,
            settings.webhook_tries,
            settings.webhook_backoff,
        )
        .await
        {
            tracing::warn!(error = %e, "compliance alerts not delivered to Alertmanager; tried again at the next round");
            out.failures.push(format!("alertmanager: {e}"));
            ok = false;
        }
    }
    if ch.email && !settings.smtp.host.trim().is_empty() {
        let (subject, body) = email_text(&due, now_ns);
        if let Err(e) = crate::remind::send_email(desk, settings, &subject, &body).await {
            tracing::warn!(error = %e, "compliance alert e-mail not delivered; tried again at the next round");
            out.failures.push(format!("email: {e}"));
            ok = false;
        }
    }
    if ok {
        for a in due {
            desk.alert_sent(&a.key, a.firing(), now_ns)?;
            out.sent.push(a.key.clone());
        }
    }
    Ok(out)
}

fn alertmanager_url(base: &str) -> String {
    let b = base.trim().trim_end_matches('/');
    if b.ends_with("/api/v2/alerts") {
        b.to_owned()
    } else {
        format!("{b}/api/v2/alerts")
    }
}

fn email_text(due: &[&Alert], now_ns: i64) -> (String, String) {
    let firing = due.iter().filter(|a| a.firing()).count();
    let subject = if firing > 0 {
        format!(
            "[pramaan] {firing} compliance alert(s) firing: {}",
            due[0].summary
        )
    } else {
        format!("[pramaan] compliance alert(s) resolved: {}", due[0].summary)
    };
    let mut body = format!("As of {}:\n\n", rfc3339_utc(now_ns));
    for a in due {
        body.push_str(&format!(
            "{} {}: {}\n  since {}{}\n",
            if a.firing() { "FIRING  " } else { "RESOLVED" },
            a.key,
            a.summary,
            rfc3339_utc(a.since_ns),
            a.resolved_at_ns
                .map(|r| format!(", resolved {}", rfc3339_utc(r)))
                .unwrap_or_default()
        ));
    }
    body.push_str("\nAcknowledge a firing alert with: pramaan alerts ack KEY\n");
    (subject, body)
}
