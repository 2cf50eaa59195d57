//! Every `pramaan incident` and `pramaan poc` command runs the same
//! operation against a running server (over HTTP, with a token) and on the
//! data directory itself (as the local operator): the answers agree, each
//! change is recorded under the caller (the token's user, or `<user>
//! (local)`) and reaches the ledger, and a caller without the role is
//! refused over HTTP.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

/// The desk's configuration, the same for the server and the CLI: an SMTP
/// server nobody listens on (every send fails fast, and says so).
fn desk_env(smtp_port: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PRAMAAN_DESK_SMTP_HOST", "127.0.0.1".into()),
        ("PRAMAAN_DESK_SMTP_PORT", smtp_port.into()),
        ("PRAMAAN_DESK_SMTP_SECURITY", "plain".into()),
        ("PRAMAAN_DESK_SMTP_TIMEOUT", "5s".into()),
        ("PRAMAAN_DESK_REPORT_TO", "incident@cert-in.test".into()),
        ("PRAMAAN_NODE_ORGANISATION", "Example Networks".into()),
    ]
}

/// Where a command runs.
enum Way<'a> {
    Http(&'a Server),
    Local(&'a Path),
}

fn pramaan_cmd(way: &Way, env: &[(&'static str, String)], args: &[&str]) -> Output {
    let mut c = match way {
        Way::Http(s) => {
            let mut c = pramaan(s.dir.path());
            c.args(args).args(["--server", &s.url()]);
            c
        }
        Way::Local(data) => {
            let mut c = pramaan(data.parent().unwrap());
            c.arg("--data-dir").arg(data).args(args);
            c
        }
    };
    for (k, v) in env {
        c.env(k, v);
    }
    run(c, None, T)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {o:?}"))
}

/// Runs `args --json` and returns the answer (the command must succeed,
/// unless `may_fail`: `incident send` exits 1 when the report is not sent).
fn answer(way: &Way, env: &[(&'static str, String)], args: &[&str], may_fail: bool) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = pramaan_cmd(way, env, &a);
    assert!(o.success() || may_fail, "{args:?}: {o:?}");
    json(&o)
}

/// What depends on when or by whom or on which incident an answer was
/// given, taken out so that the rest can be compared.
const VOLATILE: &[&str] = &[
    "id",
    "incident_id",
    "now",
    "clock",
    "clock_text",
    "created_at_ns",
    "created_by",
    "at_ns",
    "actor",
    "ledger_seq",
    "set_at_ns",
    "set_at",
    "set_by",
    "version",
    "days_since_review",
    "attempted_at_ns",
    "message_id",
    "subject",
    "added_at_ns",
    "added_by",
    "closed_at_ns",
    "closed_by",
    "details",
    "note",
    // The server's reminder loop acts on overdue incidents; the CLI runs none.
    "reminders",
    "history",
];

fn stable(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), stable(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(stable).collect()),
        other => other.clone(),
    }
}

fn assert_agree(what: &str, http: &Value, local: &Value) {
    assert_eq!(
        stable(http),
        stable(local),
        "{what}: the server and the data directory answer differently\n--- http\n{http:#}\n--- local\n{local:#}"
    );
}

const NEW: &[&str] = &[
    "incident",
    "new",
    "--title",
    "SSH brute force on bastion",
    "--kind",
    "unauthorised-access,1",
    "--detected",
    "2026-03-03T08:00:00Z",
    "--notified",
    "2026-03-03T07:45:00Z",
    "--system",
    "ip=10.0.0.9,hostname=bastion,os=Debian 12,function=SSH gateway,location=Pune",
    "--symptoms",
    "thousands of failed logins",
];

/// What the rendered report says of the incident, whoever renders it.
const REPORT_SAYS: &[&str] = &[
    "SSH brute force on bastion",
    "Asha Rao",
    "CISO",
    "Pune",
    "root and admin tried",
    "thousands of failed logins",
    "Unauthorised access of IT systems/data",
    "ip=203.0.113.7",
];

/// Each command once, through `way`; returns its answers by name.
fn every_command(way: &Way, env: &[(&'static str, String)], out: &Path) -> Vec<(String, Value)> {
    let mut got = Vec::new();
    let mut put = |k: &str, v: Value| got.push((k.to_owned(), v));
    let poc = answer(
        way,
        env,
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
            // The second run sets the same details: record a review then.
            "--reviewed",
        ],
        false,
    );
    put("poc set", poc);
    let created = answer(way, env, NEW, false);
    let id = created["id"]
        .as_i64()
        .expect("an incident number")
        .to_string();
    put("incident new", created);
    put(
        "incident edit",
        answer(
            way,
            env,
            &[
                "incident",
                "edit",
                &id,
                "--description",
                "root and admin tried",
            ],
            false,
        ),
    );
    put(
        "incident attach",
        answer(
            way,
            env,
            &[
                "incident",
                "attach",
                &id,
                "--ip",
                "203.0.113.7",
                "--name",
                "ssh",
            ],
            false,
        ),
    );
    // The report, rendered: printed, and written with the logs into a directory.
    let o = pramaan_cmd(way, env, &["incident", "report", &id, "--preview"]);
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout().contains("SSH brute force on bastion") && o.stdout().contains("Asha Rao"),
        "{o:?}"
    );
    let o = pramaan_cmd(
        way,
        env,
        &["incident", "report", &id, "--out", out.to_str().unwrap()],
    );
    assert!(o.success(), "{o:?}");
    let ndjson = std::fs::read(out.join(format!("incident-{id}-logs.ndjson")))
        .unwrap_or_else(|e| panic!("the log excerpt was not written ({e}): {o:?}"));
    let hits = parse_hits(&ndjson);
    assert_eq!(hits.len(), 2, "{o:?}");
    assert!(hits.iter().all(|h| h.raw_text().contains("203.0.113.7")));
    let report_text = std::fs::read_to_string(out.join("report.txt")).unwrap();
    let report_html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report_html.contains("Asha Rao"), "{report_html}");
    put(
        "incident report --out",
        serde_json::json!({
            // The report names the time it was made and the time left: what
            // must agree is what it says of the incident.
            "text": REPORT_SAYS
                .iter()
                .map(|w| (w, report_text.contains(w)))
                .collect::<Vec<_>>(),
            "logs": hits.iter().map(|h| h.raw_text()).collect::<Vec<_>>(),
        }),
    );
    // Nobody listens for SMTP: the attempt is recorded as not sent (exit 1).
    let sent = answer(way, env, &["incident", "send", &id], true);
    assert!(
        sent["attempt"]["error"].as_str().is_some(),
        "the send should fail: {sent}"
    );
    put("incident send", sent);
    put(
        "incident show",
        answer(way, env, &["incident", "show", &id], false),
    );
    put(
        "incident close",
        answer(
            way,
            env,
            &["incident", "close", &id, "--reason", "attacker blocked"],
            false,
        ),
    );
    put(
        "poc show",
        answer(way, env, &["poc", "show", "--history"], false),
    );
    let list = answer(way, env, &["incident", "list"], false);
    let mine: Vec<Value> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|v| v["id"].as_i64().map(|n| n.to_string()) == Some(id.clone()))
        .cloned()
        .collect();
    put("incident list", Value::Array(mine));
    got
}

#[test]
fn every_desk_command_agrees_over_http_and_on_the_data_directory() {
    let smtp_port = free_port().to_string();
    let env = desk_env(&smtp_port);
    let server_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut s = Server::start_with(&server_env);
    let lines = [
        "<38>1 2026-03-03T08:30:00Z bastion sshd 1 - - Failed password for root from 203.0.113.7 port 41234 ssh2",
        "<38>1 2026-03-03T08:30:01Z bastion sshd 1 - - Failed password for admin from 203.0.113.7 port 41236 ssh2",
        "<38>1 2026-03-03T08:30:02Z bastion sshd 1 - - Accepted publickey for ops from 10.0.0.2",
    ];
    s.ingest_lines(&lines);

    // A caller without the point of contact's role is refused, and nothing changes.
    let created = answer(
        &Way::Http(&s),
        &[],
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "analyst",
            "--expires",
            "1d",
        ],
        false,
    );
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    let analyst = [("PRAMAAN_TOKEN", secret.clone())];
    for args in [
        &["incident", "list"][..],
        NEW,
        &["poc", "set", "--name", "Mallory"],
        &["poc", "show"],
    ] {
        let o = pramaan_cmd(&Way::Http(&s), &analyst, args);
        assert!(
            !o.success() && o.stderr.contains("403") && o.stderr.contains("poc"),
            "{args:?} should be refused to an analyst: {o:?}"
        );
    }

    let http_out = s.dir.path().join("report-http");
    let http = every_command(&Way::Http(&s), &env, &http_out);
    // Recorded under the token's user, never under a name the client chose.
    for (what, v) in &http {
        if let Some(by) = v["created_by"].as_str().or(v["set_by"].as_str()) {
            assert!(!by.contains("(local)") && !by.is_empty(), "{what}: {v}");
        }
    }
    assert_eq!(
        answer(&Way::Http(&s), &env, &["incident", "list"], false)
            .as_array()
            .unwrap()
            .len(),
        1,
        "the analyst's attempt created nothing"
    );

    // The same commands on the data directory, the server stopped.
    s.stop();
    let data = s.data_dir();
    let local_out = s.dir.path().join("report-local");
    let local = every_command(&Way::Local(&data), &env, &local_out);
    assert_eq!(http.len(), local.len());
    for ((what, h), (_, l)) in http.iter().zip(&local) {
        assert_agree(what, h, l);
    }
    let (_, created_locally) = &local[1];
    let by = created_locally["created_by"].as_str().unwrap();
    assert!(by.ends_with(" (local)"), "{created_locally}");

    // The server sees what was done without it, and every change of the
    // local run reached the ledger.
    s.start_again();
    let id = created_locally["id"].as_i64().unwrap().to_string();
    let shown = answer(&Way::Http(&s), &env, &["incident", "show", &id], false);
    assert_eq!(shown["incident"]["state"], "closed", "{shown}");
    let history = shown["history"].as_array().unwrap();
    assert!(history.len() >= 5, "{shown}");
    for e in history {
        assert!(e["ledger_seq"].as_u64().is_some(), "not in the ledger: {e}");
        assert_eq!(e["actor"], by, "{e}");
    }
    let poc = answer(&Way::Http(&s), &env, &["poc", "show", "--history"], false);
    assert_eq!(poc["history"].as_array().unwrap().len(), 2, "{poc}");
}
