//! The incident desk end to end: the real `pramaan` binary (serve, and the
//! `incident`/`poc` commands over its HTTP API) sending a report to a real
//! SMTP server on loopback (aiosmtpd, `crates/desk/tests/smtp_sink.py`).

mod support;

use std::time::Duration;
use support::*;

fn cli(s: &Server, args: &[&str]) -> Output {
    let mut c = pramaan(s.dir.path());
    c.args(args).args(["--server", &s.url()]);
    run(c, None, Duration::from_secs(60))
}

#[test]
fn incident_reported_by_email_through_the_cli() {
    let smtp_port = free_port();
    let port_text = smtp_port.to_string();
    let s = Server::start_with(&[
        ("PRAMAAN_DESK_SMTP_HOST", "127.0.0.1"),
        ("PRAMAAN_DESK_SMTP_PORT", &port_text),
        ("PRAMAAN_DESK_SMTP_SECURITY", "plain"),
        ("PRAMAAN_DESK_SMTP_TIMEOUT", "5s"),
        ("PRAMAAN_DESK_REPORT_TO", "incident@cert-in.test"),
        ("PRAMAAN_NODE_ORGANISATION", "Example Networks"),
    ]);
    let mail_dir = s.dir.path().join("mail");

    // Bad input.
    let o = cli(
        &s,
        &[
            "incident",
            "new",
            "--title",
            "x",
            "--kind",
            "ransom",
            "--detected",
            "1h",
        ],
    );
    assert!(!o.success());
    assert!(
        o.stderr.contains("unknown incident kind `ransom`") && o.stderr.contains("data-breach"),
        "{o:?}"
    );
    let o = cli(
        &s,
        &[
            "incident",
            "new",
            "--title",
            "x",
            "--kind",
            "dos-ddos",
            "--detected",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert!(!o.success());
    assert!(o.stderr.contains("detected_at is in the future"), "{o:?}");

    let o = cli(
        &s,
        &[
            "incident",
            "new",
            "--title",
            "SSH brute force on bastion",
            "--kind",
            "unauthorised-access,1",
            "--detected",
            "30m",
            "--notified",
            "45m",
            "--system",
            "ip=10.0.0.9,hostname=bastion,os=Debian 12,function=SSH gateway,location=Pune",
            "--symptoms",
            "thousands of failed logins",
            "--json",
        ],
    );
    assert!(o.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).unwrap();
    let id = v["id"].as_i64().unwrap().to_string();
    assert_eq!(
        v["kinds"],
        serde_json::json!(["targeted-scanning", "unauthorised-access"])
    );
    assert!(
        v["clock_text"].as_str().unwrap().starts_with("5 h 1"),
        "{v}"
    );
    assert_eq!(v["overdue"], false);

    // No point of contact: refused, with what to do.
    let o = cli(&s, &["incident", "send", &id]);
    assert!(!o.success());
    assert!(
        o.stderr.contains("no point of contact") && o.stderr.contains("pramaan poc set"),
        "{o:?}"
    );
    let o = cli(
        &s,
        &[
            "poc",
            "set",
            "--name",
            "Asha Rao",
            "--designation",
            "CISO",
            "--organisation",
            "Example Networks",
            "--address",
            "12 MG Road, Bengaluru",
            "--email",
            "asha@example.in",
            "--mobile",
            "+91 98450 00000",
            "--office-phone",
            "+91 80 4000 0000",
        ],
    );
    assert!(o.success(), "{o:?}");

    // Logs chosen by a search, attached with their sequence numbers.
    s.ingest_lines(&[
        "<38>1 2026-03-03T08:30:00Z bastion sshd 1 - - Failed password for root from 203.0.113.7 port 41234 ssh2",
        "<38>1 2026-03-03T08:30:01Z bastion sshd 1 - - Failed password for admin from 203.0.113.7 port 41236 ssh2",
        "<38>1 2026-03-03T08:30:02Z bastion sshd 1 - - Accepted publickey for ops from 10.0.0.2",
    ]);
    let o = cli(
        &s,
        &[
            "incident",
            "attach",
            &id,
            "--ip",
            "203.0.113.7",
            "--name",
            "ssh",
        ],
    );
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("Attached 2 log line(s)"), "{o:?}");

    let o = cli(&s, &["incident", "report", &id, "--preview"]);
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout().contains("SSH brute force on bastion") && o.stdout().contains("Asha Rao"),
        "{o:?}"
    );
    assert!(o
        .stdout()
        .contains("Unauthorised access of IT systems/data"));

    // SMTP down: unsent, the failure shown; then a retry works.
    let o = cli(&s, &["incident", "send", &id]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        o.stderr.contains("NOT SENT") && o.stderr.contains(&format!("127.0.0.1:{smtp_port}")),
        "{o:?}"
    );
    let o = cli(&s, &["incident", "show", &id]);
    assert!(o.stdout().contains("NOT SENT"), "{o:?}");

    let _sink = SmtpSink::start(smtp_port, &mail_dir);
    let o = cli(&s, &["incident", "send", &id]);
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout().contains("Sent report 0") && o.stdout().contains("250"),
        "{o:?}"
    );

    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mail_dir.join("1.json")).unwrap()).unwrap();
    let mut rcpt: Vec<String> = serde_json::from_value(m["rcpt_tos"].clone()).unwrap();
    rcpt.sort();
    assert_eq!(rcpt, ["asha@example.in", "incident@cert-in.test"]);
    assert!(m["subject"]
        .as_str()
        .unwrap()
        .contains("SSH brute force on bastion"));
    let text = m["text"].as_str().unwrap();
    assert!(
        text.contains("bastion") && text.contains("Pune") && text.contains("CISO"),
        "{text}"
    );
    let atts = m["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    let ndjson = base64_decode(atts[0]["data_b64"].as_str().unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&base64_decode(atts[1]["data_b64"].as_str().unwrap()).unwrap())
            .unwrap();
    use sha2::Digest;
    assert_eq!(
        manifest["files"][0]["sha256"],
        hex::encode(sha2::Sha256::digest(&ndjson))
    );
    let hits = parse_hits(&ndjson);
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.raw_text().contains("203.0.113.7")));

    let o = cli(&s, &["incident", "list"]);
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout().contains("reported") && o.stdout().contains("reported in time"),
        "{o:?}"
    );
    let o = cli(
        &s,
        &["incident", "close", &id, "--reason", "attacker blocked"],
    );
    assert!(o.success(), "{o:?}");

    // Every change went to the ledger as a pramaan:incident record.
    let hits = s.search(&[("q", "incident.reported"), ("internal", "true")]);
    assert!(
        hits.iter()
            .any(|h| h.str("peer") == Some("pramaan:incident")),
        "{hits:?}"
    );
}
