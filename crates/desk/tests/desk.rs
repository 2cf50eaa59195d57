//! The desk against real services on loopback: an SMTP server (Python's
//! aiosmtpd, `tests/smtp_sink.py`) that stores and parses what it receives,
//! and an HTTP receiver for webhooks. Times are passed in: no sleeps.

use base64::Engine;
use pramaan_core::MemorySink;
use pramaan_desk::clock::Reminder;
use pramaan_desk::render::Templates;
use pramaan_desk::settings::Secret;
use pramaan_desk::*;
use sha2::{Digest, Sha256};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const H: i64 = 3600 * 1_000_000_000;
const M: i64 = 60 * 1_000_000_000;
/// 2026-03-03T08:32:11Z
const T0: i64 = 1_772_526_731_000_000_000;

/// aiosmtpd on 127.0.0.1:`port`, storing into `dir`; killed on drop.
struct SmtpSink {
    child: Child,
    dir: PathBuf,
}

impl SmtpSink {
    fn start(port: u16, dir: &Path, refuse: bool) -> SmtpSink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .arg(if refuse { "refuse" } else { "accept" })
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (scripts/test installs aiosmtpd)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "aiosmtpd did not start: is it installed (pip install aiosmtpd)?"
        );
        SmtpSink {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Every message received so far, parsed, in order.
    fn messages(&self) -> Vec<serde_json::Value> {
        messages(&self.dir)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn messages(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for n in 1.. {
        let p = dir.join(format!("{n}.json"));
        match std::fs::read(&p) {
            Ok(b) => out.push(serde_json::from_slice(&b).unwrap()),
            Err(_) => break,
        }
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn settings(smtp_port: u16) -> Settings {
    let mut s = Settings {
        report_to: "incident@cert-in.test".into(),
        organisation: "Example Networks".into(),
        webhook_backoff: Duration::from_millis(10),
        ..Default::default()
    };
    s.smtp.host = "127.0.0.1".into();
    s.smtp.port = smtp_port;
    s.smtp.security = Security::Plain;
    s.smtp.timeout = Duration::from_secs(5);
    s
}

fn open(dir: &Path) -> (Desk, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::new());
    (
        Desk::open(&dir.join("desk.db"), sink.clone()).unwrap(),
        sink,
    )
}

fn new_incident(kinds: &[&str], detected: i64) -> NewIncident {
    NewIncident {
        fields: Fields {
            title: "Ransomware on the billing server".into(),
            kinds: kinds.iter().map(|s| s.to_string()).collect(),
            occurred_at_ns: Some(detected - 2 * H),
            systems: vec![System::parse(
                "ip=10.0.0.5,hostname=billing1,os=Debian 12,function=billing,location=Mumbai DC",
            )
            .unwrap()],
            symptoms: "Files renamed with .lock; ransom note".into(),
            description: "Encryption of /srv/billing began at 06:10 UTC.".into(),
            scope_impact: "Billing down for 40,000 subscribers".into(),
            iocs: "203.0.113.7; sha256 9f86d081884c7d65".into(),
            actions_taken: "Host isolated; backups verified".into(),
            security_systems: "Firewall, EDR".into(),
            other_info: String::new(),
        },
        detected_at_ns: detected,
        notified_at_ns: None,
    }
}

async fn set_poc(desk: &Desk, now: i64) {
    desk.set_poc(
        PocEdit {
            name: Some("Asha Rao".into()),
            designation: Some("CISO".into()),
            organisation: Some("Example Networks Pvt Ltd".into()),
            address: Some("12 MG Road, Bengaluru 560001".into()),
            email: Some("asha.rao@example.in".into()),
            mobile: Some("+91 98450 00000".into()),
            office_phone: Some("+91 80 4000 0000".into()),
            ..Default::default()
        },
        "asha",
        now,
    )
    .await
    .unwrap();
}

fn hit_line(seq: u64, raw: &str) -> ExcerptLine {
    ExcerptLine {
        seq,
        json: serde_json::to_vec(&serde_json::json!({"seq": seq, "raw": raw})).unwrap(),
    }
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = open(dir.path());
    let now = T0;
    let e = desk
        .create(new_incident(&["ransom"], now - H), "op", now)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("unknown incident kind `ransom`"), "{msg}");
    assert!(
        msg.contains("data-breach") && msg.contains("ai-ml"),
        "{msg}"
    );

    let e = desk
        .create(new_incident(&["malicious-code"], now + H), "op", now)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("detected_at is in the future"),
        "{e}"
    );
    let mut n = new_incident(&["malicious-code"], now - H);
    n.notified_at_ns = Some(now + 2 * H);
    let e = desk.create(n, "op", now).await.unwrap_err();
    assert!(
        e.to_string().contains("notified_at is in the future"),
        "{e}"
    );
    let e = desk
        .create(new_incident(&[], now - H), "op", now)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at least one incident kind"), "{e}");
    assert!(desk.list().unwrap().is_empty(), "nothing was stored");

    // No point of contact: the report is refused, with what to do.
    let inc = desk
        .create(new_incident(&["5"], now - H), "op", now)
        .await
        .unwrap();
    assert_eq!(inc.fields.kinds, ["malicious-code"]);
    let t = Templates::load(None, None).unwrap();
    let e = mail::prepare(&desk, &settings(1), &t, inc.id, now).unwrap_err();
    assert!(matches!(e, DeskError::NoPoc));
    assert!(e.to_string().contains("pramaan poc set"), "{e}");
    let e = mail::send_report(&desk, &settings(1), &t, inc.id, "op", now)
        .await
        .unwrap_err();
    assert!(matches!(e, DeskError::NoPoc));
    assert!(desk.reports(inc.id).unwrap().is_empty());

    // Editing in a bad kind is refused too; a closed incident cannot change.
    let e = desk
        .edit(
            inc.id,
            Edit {
                kinds: Some(vec!["nope".into()]),
                ..Default::default()
            },
            "op",
            now,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("`nope`"));
    desk.close(inc.id, "false positive", "op", now)
        .await
        .unwrap();
    let e = desk
        .edit(inc.id, Edit::default(), "op", now)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is closed"), "{e}");
    assert!(matches!(
        desk.get(999).unwrap_err(),
        DeskError::NotFound { id: 999 }
    ));
}

#[tokio::test]
async fn clock_states_and_ledger_records() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, sink) = open(dir.path());
    let now = T0;
    let mut n = new_incident(&["data-leak", "data-breach", "11"], now - 2 * H);
    n.notified_at_ns = Some(now - 3 * H);
    let inc = desk.create(n, "asha", now).await.unwrap();
    // Kinds in Annexure order, once each; the clock starts at the earlier time.
    assert_eq!(inc.fields.kinds, ["data-breach", "data-leak"]);
    assert_eq!(inc.clock_start_ns, now - 3 * H);
    assert_eq!(inc.deadline_ns, now + 3 * H);
    let v = inc.view(now + H);
    assert_eq!(v.clock_text, "2 h 00 min left");
    assert!(!v.overdue);
    assert!(v.deadline.ist.contains("IST") && v.deadline.ist.contains("UTC"));
    assert_eq!(v.deadline.utc, "2026-03-03T11:32:11Z");
    assert!(inc.view(now + 3 * H + M).overdue);

    // Moving detection earlier moves the deadline.
    let inc = desk
        .edit(
            inc.id,
            Edit {
                detected_at_ns: Some(now - 4 * H),
                description: Some("more known now".into()),
                ..Default::default()
            },
            "ravi",
            now + M,
        )
        .await
        .unwrap();
    assert_eq!(inc.deadline_ns, now + 2 * H);
    let closed = desk
        .close(inc.id, "contained", "ravi", now + 2 * M)
        .await
        .unwrap();
    assert_eq!(closed.state, State::Closed);
    assert_eq!(closed.closed_by.as_deref(), Some("ravi"));
    let e = desk.close(inc.id, "again", "ravi", now).await.unwrap_err();
    assert!(e.to_string().contains("is closed"));

    // Every change is in the ledger, in order, as an audit-style record.
    let h = desk.history(inc.id).unwrap();
    let actions: Vec<&str> = h.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["incident.created", "incident.edited", "incident.closed"]
    );
    assert_eq!(h[1].actor, "ravi");
    assert!(h.iter().all(|e| e.ledger_seq.is_some()));
    let recs = sink.records();
    assert_eq!(recs.len(), 3);
    for (i, (source, body)) in recs.iter().enumerate() {
        assert_eq!(source, LEDGER_SOURCE);
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["action"], actions[i]);
        assert_eq!(v["subject"], format!("incident {}", inc.id));
        assert!(v["at"].as_str().unwrap().ends_with('Z'));
        assert!(v["actor"].is_string());
    }
    let v: serde_json::Value = serde_json::from_slice(&recs[1].1).unwrap();
    assert_eq!(
        v["details"]["changed"],
        serde_json::json!(["description", "detected_at"])
    );
}

#[tokio::test]
async fn point_of_contact_history_and_review_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = open(dir.path());
    let e = desk
        .set_poc(
            PocEdit {
                name: Some("A".into()),
                email: Some("not-an-address".into()),
                ..Default::default()
            },
            "x",
            T0,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not-an-address"), "{e}");
    set_poc(&desk, T0).await;
    let p = desk.poc().unwrap().unwrap();
    assert!(p.view(90, T0 + 89 * 24 * H).warning.is_none());
    let w = p.view(90, T0 + 91 * 24 * H).warning.unwrap();
    assert!(
        w.contains("91 days") && w.contains("poc set --reviewed"),
        "{w}"
    );
    desk.set_poc(
        PocEdit {
            reviewed: true,
            ..Default::default()
        },
        "asha",
        T0 + 91 * 24 * H,
    )
    .await
    .unwrap();
    desk.set_poc(
        PocEdit {
            mobile: Some("+91 90000 11111".into()),
            ..Default::default()
        },
        "asha",
        T0 + 92 * 24 * H,
    )
    .await
    .unwrap();
    let hist = desk.poc_history().unwrap();
    assert_eq!(hist.len(), 3);
    assert_eq!(hist[1].note.as_deref(), Some("reviewed, unchanged"));
    assert_eq!(hist[2].poc.mobile, "+91 90000 11111");
    assert_eq!(hist[2].poc.name, "Asha Rao", "unchanged fields are kept");
    assert!(desk
        .poc()
        .unwrap()
        .unwrap()
        .view(90, T0 + 100 * 24 * H)
        .warning
        .is_none());
}

#[tokio::test]
async fn report_and_follow_up_reach_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, sink) = open(dir.path());
    let port = free_port();
    let smtp = SmtpSink::start(port, &dir.path().join("mail"), false);
    let s = settings(port);
    let t = Templates::load(None, None).unwrap();
    let now = T0;
    set_poc(&desk, now - 24 * H).await;
    let inc = desk
        .create(
            new_incident(&["malicious-code", "server-network-attack"], now - H),
            "asha",
            now,
        )
        .await
        .unwrap();
    let lines = vec![
        hit_line(41, "Mar  3 06:10:01 billing1 kernel: EXT4 rename storm"),
        hit_line(
            57,
            "Failed password for root from 203.0.113.7 port 41234 ssh2",
        ),
    ];
    desk.attach(
        inc.id,
        "ssh",
        "--ip 203.0.113.7",
        lines.clone(),
        "asha",
        now,
    )
    .await
    .unwrap();
    // The same record again (another search) is exported once.
    desk.attach(
        inc.id,
        "again",
        "--seq 57",
        vec![lines[1].clone()],
        "asha",
        now,
    )
    .await
    .unwrap();

    let preview = mail::prepare(&desk, &s, &t, inc.id, now + M).unwrap();
    assert!(preview
        .rendered
        .text
        .contains("Ransomware on the billing server"));
    assert!(
        desk.reports(inc.id).unwrap().is_empty(),
        "a preview sends nothing"
    );

    let (after, a) = mail::send_report(&desk, &s, &t, inc.id, "asha", now + M)
        .await
        .unwrap();
    assert!(a.error.is_none(), "{:?}", a.error);
    assert_eq!(a.sent_at_ns, Some(now + M));
    assert!(
        a.smtp_reply.as_deref().unwrap().starts_with("250"),
        "{:?}",
        a.smtp_reply
    );
    assert_eq!(after.state, State::Reported);
    assert_eq!(after.first_reported_at_ns, Some(now + M));
    assert!(after
        .view(now + 10 * H)
        .clock_text
        .contains("reported in time"));
    assert!(!after.view(now + 10 * H).overdue);

    let got = smtp.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    let mut rcpt: Vec<String> = serde_json::from_value(m["rcpt_tos"].clone()).unwrap();
    rcpt.sort();
    assert_eq!(rcpt, ["asha.rao@example.in", "incident@cert-in.test"]);
    assert_eq!(m["to"], "incident@cert-in.test");
    assert!(m["cc"].as_str().unwrap().contains("asha.rao@example.in"));
    assert_eq!(
        m["subject"],
        format!(
            "Cyber security incident report: Ransomware on the billing server [Example Networks incident #{}]",
            inc.id
        )
    );
    assert_eq!(m["message_id"], a.message_id);
    let text = m["text"].as_str().unwrap();
    for want in [
        "Ransomware on the billing server",
        "Asha Rao",
        "CISO",
        "+91 98450 00000",
        "(v) Malicious code attacks such as spreading of virus/worm/Trojan/Bots/ Spyware/Ransomware/Cryptominers",
        "(vi) Attack on servers such as Database, Mail and DNS and network devices such as Routers",
        "10.0.0.5",
        "billing1",
        "Mumbai DC",
        "Files renamed with .lock",
        "203.0.113.7; sha256 9f86d081884c7d65",
        "Host isolated",
        "Firewall, EDR",
        "2 record(s), sequence numbers 41 to 57",
        "IST",
    ] {
        assert!(text.contains(want), "the text lacks {want:?}:\n{text}");
    }
    assert!(m["html"].as_str().unwrap().contains("<td>billing1</td>"));

    // The attachments: the NDJSON excerpt and a manifest whose hashes match it.
    let atts = m["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    let data = |i: usize| {
        base64::engine::general_purpose::STANDARD
            .decode(atts[i]["data_b64"].as_str().unwrap())
            .unwrap()
    };
    assert_eq!(
        atts[0]["filename"],
        format!("incident-{}-logs.ndjson", inc.id)
    );
    assert_eq!(atts[0]["content_type"], "application/x-ndjson");
    let ndjson = data(0);
    let manifest: serde_json::Value = serde_json::from_slice(&data(1)).unwrap();
    assert_eq!(manifest["files"][0]["sha256"], sha(&ndjson));
    assert_eq!(manifest["files"][0]["records"], 2);
    let got_lines: Vec<&[u8]> = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got_lines.len(), 2);
    for (i, l) in got_lines.iter().enumerate() {
        assert_eq!(manifest["records"][i]["sha256"], sha(l));
        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
        assert_eq!(manifest["records"][i]["seq"], v["seq"]);
    }
    assert!(
        text.contains(&sha(&ndjson)),
        "the body names the file's hash"
    );

    // A follow-up references the first report.
    desk.edit(
        inc.id,
        Edit {
            actions_taken: Some("Host rebuilt from backup".into()),
            ..Default::default()
        },
        "asha",
        now + 2 * H,
    )
    .await
    .unwrap();
    let (after, b) = mail::send_report(&desk, &s, &t, inc.id, "asha", now + 2 * H)
        .await
        .unwrap();
    assert!(b.error.is_none());
    assert_eq!(after.state, State::Updated);
    assert_eq!(after.reports_sent, 2);
    let got = smtp.messages();
    assert_eq!(got.len(), 2);
    let m2 = &got[1];
    assert_eq!(
        m2["subject"],
        format!("Update 1: {}", m["subject"].as_str().unwrap())
    );
    assert_eq!(m2["in_reply_to"], a.message_id);
    assert_eq!(m2["references"], a.message_id);
    assert_ne!(m2["message_id"], a.message_id);
    assert!(m2["text"].as_str().unwrap().contains("Follow-up report 1"));
    assert!(m2["text"]
        .as_str()
        .unwrap()
        .contains("Host rebuilt from backup"));

    let actions: Vec<String> = sink
        .records()
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(actions.contains(&"incident.reported".to_owned()));
    assert!(actions.contains(&"incident.updated".to_owned()));
}

#[tokio::test]
async fn smtp_down_or_refusing_leaves_the_report_unsent_and_a_retry_works() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = open(dir.path());
    let port = free_port();
    let s = settings(port);
    let t = Templates::load(None, None).unwrap();
    let now = T0;
    set_poc(&desk, now).await;
    let inc = desk
        .create(new_incident(&["dos-ddos"], now - H), "op", now)
        .await
        .unwrap();

    // Nothing listens.
    let (after, a) = mail::send_report(&desk, &s, &t, inc.id, "op", now)
        .await
        .unwrap();
    assert_eq!(after.state, State::Open);
    assert!(a.sent_at_ns.is_none());
    let err = a.error.clone().unwrap();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        err.to_lowercase().contains("connect") || err.contains("refused"),
        "{err}"
    );

    // The server refuses the message.
    {
        let _refusing = SmtpSink::start(port, &dir.path().join("refused"), true);
        let (after, b) = mail::send_report(&desk, &s, &t, inc.id, "op", now + M)
            .await
            .unwrap();
        assert_eq!(after.state, State::Open);
        let err = b.error.unwrap();
        assert!(err.contains("550"), "{err}");
        assert!(messages(&dir.path().join("refused")).is_empty());
    }

    // Retry once the server takes it: sent, numbered as the first report.
    let ok = SmtpSink::start(port, &dir.path().join("ok"), false);
    let (after, c) = mail::send_report(&desk, &s, &t, inc.id, "op", now + 2 * M)
        .await
        .unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.number, 0);
    assert_eq!(after.state, State::Reported);
    assert_eq!(ok.messages().len(), 1);
    let attempts = desk.reports(inc.id).unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts.iter().filter(|a| a.sent_at_ns.is_some()).count(),
        1
    );
    let h: Vec<String> = desk
        .history(inc.id)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        h,
        [
            "incident.created",
            "incident.report_failed",
            "incident.report_failed",
            "incident.reported"
        ]
    );
}

/// A webhook receiver that answers 500 to the first `fail_first` requests.
async fn webhook_receiver(
    fail_first: usize,
) -> (
    String,
    Arc<Mutex<Vec<serde_json::Value>>>,
    Arc<Mutex<usize>>,
) {
    use axum::routing::post;
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let calls: Arc<Mutex<usize>> = Arc::default();
    let (g, c) = (got.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let (g, c) = (g.clone(), c.clone());
            async move {
                let n = {
                    let mut c = c.lock().unwrap();
                    *c += 1;
                    *c
                };
                if n <= fail_first {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock().unwrap().push(v);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/hook"), got, calls)
}

#[tokio::test]
async fn reminders_each_once_by_email_and_webhook_with_an_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = open(dir.path());
    let port = free_port();
    let smtp = SmtpSink::start(port, &dir.path().join("mail"), false);
    let (url, hooks, calls) = webhook_receiver(2).await;
    let mut s = settings(port);
    s.webhook_url = url;
    s.reminder_to = "soc@example.in".into();
    set_poc(&desk, T0).await;
    let inc = desk
        .create(new_incident(&["7"], T0), "op", T0)
        .await
        .unwrap();
    // A second incident recorded late: 20 min left at creation.
    let late = desk
        .create(
            new_incident(&["data-breach"], T0 - 5 * H - 40 * M),
            "op",
            T0,
        )
        .await
        .unwrap();

    let r = remind::tick(&desk, &s, T0).await.unwrap();
    // Only the late one: its 30m reminder, the 3h and 1h ones skipped.
    assert_eq!(r.sent, [(late.id, "30m".to_string())]);
    assert_eq!(
        r.skipped,
        [(late.id, "3h".to_string()), (late.id, "1h".to_string())]
    );
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    // The webhook failed twice and was retried with back-off.
    assert_eq!(*calls.lock().unwrap(), 3);
    assert_eq!(hooks.lock().unwrap().len(), 1);

    let mut r = remind::tick(&desk, &s, T0 + 3 * H).await.unwrap();
    r.sent.sort();
    assert_eq!(
        r.sent,
        [(inc.id, "3h".to_string()), (late.id, "overdue".to_string())]
    );
    // Again at the same time, and a minute later: nothing is sent twice.
    assert!(remind::tick(&desk, &s, T0 + 3 * H)
        .await
        .unwrap()
        .sent
        .is_empty());
    assert!(remind::tick(&desk, &s, T0 + 3 * H + M)
        .await
        .unwrap()
        .sent
        .is_empty());
    let r = remind::tick(&desk, &s, T0 + 5 * H).await.unwrap();
    assert_eq!(r.sent, [(inc.id, "1h".to_string())]);

    // Reported: no more reminders for it.
    let t = Templates::load(None, None).unwrap();
    let (_, a) = mail::send_report(&desk, &s, &t, inc.id, "op", T0 + 5 * H + M)
        .await
        .unwrap();
    assert!(a.error.is_none());
    let r = remind::tick(&desk, &s, T0 + 7 * H).await.unwrap();
    assert!(r.sent.is_empty(), "{:?}", r.sent);

    let hooks = hooks.lock().unwrap().clone();
    let names: Vec<&str> = hooks
        .iter()
        .map(|h| h["reminder"].as_str().unwrap())
        .collect();
    // Incidents are gone through newest first.
    assert_eq!(names, ["30m", "overdue", "3h", "1h"]);
    assert_eq!(hooks[1]["event"], "incident.overdue");
    assert_eq!(hooks[1]["incident"]["overdue"], true);
    assert!(hooks[2]["incident"]["time_left"]
        .as_str()
        .unwrap()
        .contains("3 h 00 min left"));

    let mails = smtp.messages();
    let reminder_mails: Vec<&serde_json::Value> = mails
        .iter()
        .filter(|m| m["to"] == "soc@example.in")
        .collect();
    assert_eq!(reminder_mails.len(), 4);
    assert!(reminder_mails[1]["subject"]
        .as_str()
        .unwrap()
        .starts_with("OVERDUE: incident #"));
    let rows = desk.reminders(late.id).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().filter(|r| r.skipped).count() == 2);
    assert!(rows
        .iter()
        .filter(|r| !r.skipped)
        .all(|r| r.email_done_at_ns.is_some() && r.webhook_done_at_ns.is_some()));
    assert!(desk.get(late.id).unwrap().view(T0 + 7 * H).overdue);
    let _ = Reminder::Overdue;
}

#[tokio::test]
async fn a_webhook_that_stays_down_is_retried_at_later_ticks_then_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = open(dir.path());
    let (url, hooks, calls) = webhook_receiver(usize::MAX).await;
    let mut s = settings(free_port());
    s.smtp.host = String::new(); // e-mail off: webhook only
    s.webhook_url = url;
    s.webhook_tries = 2;
    let inc = desk
        .create(new_incident(&["cloud"], T0 - 5 * H - 10 * M), "op", T0)
        .await
        .unwrap();
    let r = remind::tick(&desk, &s, T0).await.unwrap();
    assert_eq!(r.sent, [(inc.id, "1h".to_string())]);
    assert_eq!(r.failures.len(), 1);
    assert!(r.failures[0].3.contains("500"), "{:?}", r.failures);
    for _ in 0..10 {
        remind::tick(&desk, &s, T0 + M).await.unwrap();
    }
    assert_eq!(*calls.lock().unwrap(), 2 * remind::MAX_ATTEMPTS as usize);
    assert!(hooks.lock().unwrap().is_empty());
    let row = &desk.reminders(inc.id).unwrap()[0];
    assert_eq!(row.attempts, remind::MAX_ATTEMPTS);
    assert!(row.webhook_error.as_deref().unwrap().contains("500"));
}

#[tokio::test]
async fn custom_templates() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = open(dir.path());
    set_poc(&desk, T0).await;
    let inc = desk
        .create(new_incident(&["fake-mobile-app"], T0 - H), "op", T0)
        .await
        .unwrap();
    let text = dir.path().join("r.txt");
    std::fs::write(
        &text,
        "To CERT-In from {{ poc.name }}: {% for k in incident.kinds %}[{{ k.number }}] {{ k.wording }}{% endfor %} by {{ incident.deadline.utc }}",
    )
    .unwrap();
    let t = Templates::load(Some(&text), None).unwrap();
    let p = mail::prepare(&desk, &settings(1), &t, inc.id, T0).unwrap();
    assert_eq!(
        p.rendered.text,
        "To CERT-In from Asha Rao: [16] Fake mobile Apps by 2026-03-03T13:32:11Z"
    );
    std::fs::write(&text, "{{ incident.reporter }}").unwrap();
    let e = Templates::load(Some(&text), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown placeholder `incident.reporter`") && e.contains("r.txt"),
        "{e}"
    );
    std::fs::write(
        &text,
        "{% for s in incident.systems %}{{ s.hostnmae }}{% endfor %}",
    )
    .unwrap();
    let t = Templates::load(Some(&text), None).unwrap();
    let e = mail::prepare(&desk, &settings(1), &t, inc.id, T0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("undefined"), "{e}");
    let _ = Secret::default();
}
