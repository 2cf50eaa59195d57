//! Issue 23: every order command works both ways, over HTTP against the
//! running server that holds the data directory and on the data directory
//! itself, through the same operations, and the answers agree. Who acts is
//! the caller (a token's user over HTTP, `<os user> (local)` on the
//! directory), never a name given on the command line.

mod support;

use pramaan_orders::bundle;
use pramaan_orders::zip::ZipReader;
use serde_json::Value;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

/// `pramaan ARGS` in `cwd` with extra environment variables.
fn cmd(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args);
    run(c, None, T)
}

fn ok(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let o = cmd(cwd, env, args);
    assert!(o.success(), "pramaan {args:?}: {o:?}");
    o.stdout()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// An order's answer without what depends on the instant it was asked
/// (`time_left` counts minutes) or on the run (numbers, instants, actors).
fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for k in [
        "time_left",
        "id",
        "reference",
        "received_at_ns",
        "registered_by",
        "registered_at_ns",
        "approved_by",
        "approved_at_ns",
        "exported_by",
        "exported_at_ns",
        "delivered_by",
        "delivered_at_ns",
        "closed_by",
        "closed_at_ns",
        "holds",
    ] {
        o.remove(k);
    }
    if let Some(Value::Array(events)) = o.get_mut("events") {
        for e in events {
            let e = e.as_object_mut().unwrap();
            for k in ["id", "order", "at_ns", "actor", "ledger_seq", "details"] {
                e.remove(k);
            }
        }
    }
    v
}

fn without_time_left(v: &Value) -> Value {
    let mut v = v.clone();
    match &mut v {
        Value::Array(a) => a.iter_mut().for_each(|o| {
            o.as_object_mut().unwrap().remove("time_left");
        }),
        Value::Object(o) => {
            o.remove("time_left");
        }
        _ => {}
    }
    v
}

fn records(zip: &Path) -> Vec<u8> {
    let mut r = ZipReader::new(Cursor::new(std::fs::read(zip).unwrap())).unwrap();
    r.read_all(bundle::RECORDS, u64::MAX).unwrap()
}

/// Registers, approves, exports, delivers and closes one order with the
/// CLI, each step as `who(step)` says; returns each step's JSON answer.
fn lifecycle(
    cwd: &Path,
    reference: &str,
    place: &[&str],
    who: &dyn Fn(&str) -> Vec<(String, String)>,
) -> Vec<Value> {
    let run_as = |step: &str, args: &[&str]| -> String {
        let env = who(step);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(place);
        ok(cwd, &env, &all)
    };
    let mut answers = Vec::new();
    answers.push(json(&run_as(
        "register",
        &[
            "order",
            "new",
            "--reference",
            reference,
            "--due",
            "2030-12-01T17:00:00+05:30",
            "--from",
            "2000-01-01T00:00:00Z",
            "--to",
            "2100-01-01T00:00:00Z",
            "--ip",
            "192.0.2.1",
            "--legal-basis",
            "IT Act s.70B(6)",
            "--json",
        ],
    )));
    for step in ["approve", "deliver"] {
        if step == "deliver" {
            let zip = format!("{}.zip", reference.replace('/', "-"));
            let out = run_as("export", &["export", reference, "--out", &zip]);
            assert!(out.contains(&format!("Wrote {zip}: ")), "{out}");
            assert!(!cwd.join(format!("{zip}.part")).exists());
        }
        answers.push(json(&run_as(
            step,
            &["order", step, reference, "--note", "n", "--json"],
        )));
    }
    answers.push(json(&run_as(
        "close",
        &["order", "close", reference, "--release-hold", "--json"],
    )));
    answers
}

#[test]
fn every_order_command_answers_the_same_over_http_and_on_the_data_directory() {
    let mut s = Server::start();
    let cwd = s.dir.path().to_owned();
    let url = s.url();
    let data = s.data_dir().display().to_string();
    let lines: Vec<String> = (0..40)
        .map(|i| format!("fw-1 deny src=192.0.2.{} dport=22 n={i}", i % 4))
        .collect();
    s.ingest_lines(&lines);
    // One token per person: the caller is the token's user.
    let token = |name: &str, role: &str| {
        let created = json(&ok(
            &cwd,
            &[],
            &[
                "token", "create", "--name", name, "--role", role, "--json", "--server", &url,
            ],
        ));
        created["secret"].as_str().expect("a secret").to_owned()
    };
    let (alice, ravi, audrey) = (
        token("alice", "analyst"),
        token("ravi", "approver"),
        token("audrey", "auditor"),
    );

    // Over HTTP: each step by the user whose role it needs.
    let remote = ["--server", url.as_str()];
    let over_http = lifecycle(&cwd, "CERT-In/2026/H", &remote, &|step| {
        let t = if step == "approve" { &ravi } else { &alice };
        vec![("PRAMAAN_TOKEN".into(), t.clone())]
    });
    assert_eq!(over_http[0]["registered_by"], "token:alice");
    assert_eq!(over_http[1]["approved_by"], "token:ravi");
    assert_eq!(over_http[2]["delivered_by"], "token:alice");
    assert_eq!(over_http[3]["state"], "closed");
    let http_list = json(&ok(
        &cwd,
        &[],
        &["order", "list", "--json", "--server", &url],
    ));
    let http_show = json(&ok(
        &cwd,
        &[],
        &[
            "order",
            "show",
            "CERT-In/2026/H",
            "--json",
            "--server",
            &url,
        ],
    ));
    // The CLI prints what the API answers.
    let api_show = s
        .get("/api/v1/orders/show", &[("reference", "CERT-In/2026/H")])
        .json();
    assert_eq!(without_time_left(&http_show), without_time_left(&api_show));

    // A caller without the role is refused, and nothing changes.
    let o = cmd(
        &cwd,
        &[("PRAMAAN_TOKEN", &audrey)],
        &[
            "order",
            "new",
            "--reference",
            "X",
            "--due",
            "2030-01-01",
            "--from",
            "2000-01-01",
            "--to",
            "2001-01-01",
            "--legal-basis",
            "x",
            "--server",
            &url,
        ],
    );
    assert!(!o.success());
    assert!(o.stderr.contains("403"), "{o:?}");
    let o = cmd(
        &cwd,
        &[("PRAMAAN_TOKEN", &alice)],
        &["order", "approve", "CERT-In/2026/H", "--server", &url],
    );
    assert!(!o.success());
    assert!(o.stderr.contains("403"), "{o:?}");
    assert_eq!(
        json(&ok(
            &cwd,
            &[],
            &["order", "list", "--json", "--server", &url]
        )),
        http_list
    );
    s.stop();

    // On the data directory, no server: the same answers for what HTTP made...
    let local = ["--data-dir", data.as_str()];
    let mut args = vec!["order", "list", "--json"];
    args.extend_from_slice(&local);
    assert_eq!(
        without_time_left(&json(&ok(&cwd, &[], &args))),
        without_time_left(&http_list)
    );
    let mut args = vec!["order", "show", "CERT-In/2026/H", "--json"];
    args.extend_from_slice(&local);
    let local_show = json(&ok(&cwd, &[], &args));
    assert_eq!(
        without_time_left(&local_show),
        without_time_left(&http_show)
    );

    // ...and the same steps give the same answers, by the local operators.
    let on_disk = lifecycle(&cwd, "CERT-In/2026/L", &local, &|step| {
        let user = if step == "approve" { "ravi" } else { "asha" };
        vec![("USER".into(), user.into())]
    });
    assert_eq!(on_disk[0]["registered_by"], "asha (local)");
    assert_eq!(on_disk[1]["approved_by"], "ravi (local)");
    for (h, l) in over_http.iter().zip(&on_disk) {
        assert_eq!(shape(h), shape(l));
    }
    // The same scope: the same records in both bundles, and both verify.
    let (hz, lz) = (
        cwd.join("CERT-In-2026-H.zip"),
        cwd.join("CERT-In-2026-L.zip"),
    );
    assert_eq!(records(&hz), records(&lz));
    assert_eq!(
        records(&hz)
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        10
    );
    for z in ["CERT-In-2026-H.zip", "CERT-In-2026-L.zip"] {
        let out = ok(&cwd, &[], &["verify-bundle", z]);
        assert!(out.contains(": OK"), "{out}");
    }
    // Four eyes on the directory too: the OS user who registered cannot approve.
    let mut args = vec![
        "order",
        "new",
        "--reference",
        "R-own",
        "--due",
        "2030-01-01",
        "--from",
        "2000-01-01",
        "--to",
        "2001-01-01",
        "--legal-basis",
        "x",
        "--no-hold",
    ];
    args.extend_from_slice(&local);
    ok(&cwd, &[("USER", "asha")], &args);
    let mut args = vec!["order", "approve", "R-own"];
    args.extend_from_slice(&local);
    let o = cmd(&cwd, &[("USER", "asha")], &args);
    assert!(!o.success());
    assert!(
        o.stderr
            .contains("asha (local) registered order R-own and cannot approve it"),
        "{o:?}"
    );
    // No one names themselves: the option is gone.
    let mut args = vec!["order", "approve", "R-own", "--by", "ravi"];
    args.extend_from_slice(&local);
    assert!(!cmd(&cwd, &[("USER", "asha")], &args).success());

    // Back over HTTP, what the directory made reads the same.
    let mut args = vec!["order", "show", "CERT-In/2026/L", "--json"];
    args.extend_from_slice(&local);
    let local_l = json(&ok(&cwd, &[], &args));
    s.start_again();
    let http = json(&ok(
        &cwd,
        &[],
        &[
            "order",
            "show",
            "CERT-In/2026/L",
            "--json",
            "--server",
            &s.url(),
        ],
    ));
    assert_eq!(without_time_left(&http), without_time_left(&local_l));
    assert_eq!(shape(&http)["state"], "closed");
    assert_eq!(http["events"].as_array().unwrap().len(), 7, "{http}");
    assert!(http["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ledger_seq"].is_u64()));
}
