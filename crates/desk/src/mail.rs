//! Preparing a report (rendering, the excerpt export, the subject and
//! Message-ID) and sending it by SMTP with lettre. A refused or unreachable
//! server leaves the report unsent; the attempt and its failure are recorded
//! on the incident, and sending again retries.

use crate::export::{self, Export};
use crate::model::{Incident, PocRecord, ReportAttempt, State};
use crate::render::{self, Rendered, ReportMeta, Templates};
use crate::settings::{Security, Settings, SmtpSettings};
use crate::{Desk, DeskError, TimeView};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// True when `s` parses as an e-mail address.
pub fn looks_like_address(s: &str) -> bool {
    !s.trim().is_empty() && s.trim().parse::<lettre::Address>().is_ok()
}

/// A report ready to send (or to preview).
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    pub incident: Incident,
    pub poc: PocRecord,
    pub number: u32,
    pub in_reply_to: Option<String>,
    pub to: String,
    pub from: String,
    pub rendered: Rendered,
    pub export: Export,
}

/// Renders the next report of incident `id` as it would be sent at `now`.
pub fn prepare(
    desk: &Desk,
    settings: &Settings,
    templates: &Templates,
    id: i64,
    now_ns: i64,
) -> Result<Prepared, DeskError> {
    let inc = desk.get(id)?;
    let poc = desk.poc()?.ok_or(DeskError::NoPoc)?;
    let sent: Vec<ReportAttempt> = desk
        .reports(id)?
        .into_iter()
        .filter(|r| r.sent_at_ns.is_some())
        .collect();
    let number = sent.len() as u32;
    let org = if settings.organisation.is_empty() {
        poc.poc.organisation.clone()
    } else {
        settings.organisation.clone()
    };
    let first_subject = match sent.first() {
        Some(f) => f.subject.clone(),
        None => format!(
            "Cyber security incident report: {} [{} incident #{}]",
            inc.fields.title,
            if org.is_empty() { "pramaan" } else { &org },
            inc.id
        ),
    };
    let subject = if number == 0 {
        first_subject.clone()
    } else {
        format!("Update {number}: {first_subject}")
    };
    let in_reply_to = sent.first().map(|f| f.message_id.clone());
    let excerpts = desk.excerpts(id)?;
    let lines = desk.excerpt_lines(id)?;
    let export = export::export(id, &lines, &excerpts, now_ns);
    let meta = ReportMeta {
        kind: if number == 0 { "initial" } else { "follow-up" },
        number,
        subject: subject.clone(),
        first_subject,
        first_message_id: in_reply_to.clone().unwrap_or_default(),
        to: settings.report_to.clone(),
        generated_at: TimeView::of(now_ns),
    };
    let ctx = render::context(&inc, &poc, &excerpts, &export, &meta, &org, now_ns);
    let rendered = templates.render(&ctx, &subject)?;
    let from = if settings.mail_from.trim().is_empty() {
        poc.poc.email.clone()
    } else {
        settings.mail_from.clone()
    };
    Ok(Prepared {
        incident: inc,
        poc,
        number,
        in_reply_to,
        to: settings.report_to.clone(),
        from,
        rendered,
        export,
    })
}

fn mailbox(name: &str, addr: &str, what: &'static str) -> Result<Mailbox, DeskError> {
    let a: lettre::Address = addr.trim().parse().map_err(|e| DeskError::Invalid {
        field: what,
        why: format!("`{addr}` is not an e-mail address: {e}"),
    })?;
    Ok(Mailbox::new(
        (!name.trim().is_empty()).then(|| name.trim().to_owned()),
        a,
    ))
}

fn system_time(ns: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64)
}

/// The Message-ID for a report attempt: unique, naming the incident.
fn message_id(p: &Prepared, now_ns: i64) -> String {
    let domain = p
        .from
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "pramaan.invalid".into());
    format!(
        "<pramaan.incident-{}.report-{}.{}@{}>",
        p.incident.id, p.number, now_ns, domain
    )
}

/// The MIME message: text and HTML alternatives, then the NDJSON excerpt and
/// its manifest as attachments (when logs are attached).
pub fn build_message(p: &Prepared, msg_id: &str, now_ns: i64) -> Result<Message, DeskError> {
    let mut b = Message::builder()
        .from(mailbox("", &p.from, "desk.mail_from")?)
        .to(mailbox("", &p.to, "desk.report_to")?)
        .cc(mailbox(&p.poc.poc.name, &p.poc.poc.email, "poc.email")?)
        .subject(p.rendered.subject.clone())
        .date(system_time(now_ns))
        .message_id(Some(msg_id.to_owned()))
        .user_agent(format!("pramaan {}", env!("CARGO_PKG_VERSION")));
    if let Some(first) = &p.in_reply_to {
        b = b.in_reply_to(first.clone()).references(first.clone());
    }
    let mut mixed = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
        p.rendered.text.clone(),
        p.rendered.html.clone(),
    ));
    if p.export.records > 0 {
        let ndjson = ContentType::parse("application/x-ndjson")
            .map_err(|e| DeskError::Message(e.to_string()))?;
        mixed = mixed
            .singlepart(
                Attachment::new(p.export.ndjson_name.clone()).body(p.export.ndjson.clone(), ndjson),
            )
            .singlepart(
                Attachment::new(p.export.manifest_name.clone()).body(
                    p.export.manifest.clone(),
                    ContentType::parse("application/json")
                        .map_err(|e| DeskError::Message(e.to_string()))?,
                ),
            );
    }
    b.multipart(mixed)
        .map_err(|e| DeskError::Message(e.to_string()))
}

/// Sends one message; the server's final reply, or why it failed (the
/// whole error chain, never the password).
pub async fn smtp_send(smtp: &SmtpSettings, msg: Message) -> Result<String, String> {
    if smtp.host.trim().is_empty() {
        return Err(
            "desk.smtp_host is not set: configure the SMTP relay that sends reports".into(),
        );
    }
    let builder = match smtp.security {
        Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host),
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
        Security::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            smtp.host.clone(),
        )),
    };
    let mut builder = builder
        .map_err(|e| format!("SMTP {}: {}", smtp.host, chain(&e)))?
        .port(smtp.port())
        .timeout(Some(smtp.timeout));
    if !smtp.user.is_empty() {
        let pw = smtp
            .password
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(smtp.user.clone(), pw));
    }
    let transport = builder.build();
    match transport.send(msg).await {
        Ok(resp) => {
            let lines: Vec<&str> = resp.message().collect();
            Ok(format!("{} {}", resp.code(), lines.join(" ")))
        }
        Err(e) => Err(format!(
            "SMTP {}:{} ({}): {}",
            smtp.host,
            smtp.port(),
            match smtp.security {
                Security::StartTls => "STARTTLS",
                Security::Tls => "TLS",
                Security::Plain => "plain",
            },
            chain(&e)
        )),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Sends the next report of incident `id` (the first, or a follow-up that
/// references it) and records the attempt. An SMTP failure is not an
/// error: the returned attempt has `sent_at_ns: None` and the reason.
pub async fn send_report(
    desk: &Desk,
    settings: &Settings,
    templates: &Templates,
    id: i64,
    actor: &str,
    now_ns: i64,
) -> Result<(Incident, ReportAttempt), DeskError> {
    let inc = desk.get(id)?;
    if inc.state == State::Closed {
        return Err(DeskError::BadState {
            id,
            state: "closed",
            action: "send a report for",
        });
    }
    let p = prepare(desk, settings, templates, id, now_ns)?;
    let msg_id = message_id(&p, now_ns);
    let msg = build_message(&p, &msg_id, now_ns)?;
    let result = smtp_send(&settings.smtp, msg).await;
    let (sent_at, reply, error) = match result {
        Ok(reply) => (Some(now_ns), Some(reply), None),
        Err(e) => {
            tracing::warn!(incident = id, error = %e, "the report was not sent");
            (None, None, Some(e))
        }
    };
    let attempt = ReportAttempt {
        id: 0,
        incident_id: id,
        number: p.number,
        subject: p.rendered.subject.clone(),
        message_id: msg_id,
        in_reply_to: p.in_reply_to.clone(),
        to: p.to.clone(),
        cc: p.poc.poc.email.clone(),
        attempted_at_ns: now_ns,
        sent_at_ns: sent_at,
        smtp_reply: reply,
        error,
        actor: actor.to_owned(),
    };
    let inc = desk.record_attempt(&attempt).await?;
    let attempt = desk.reports(id)?.pop().unwrap_or(attempt);
    Ok((inc, attempt))
}
