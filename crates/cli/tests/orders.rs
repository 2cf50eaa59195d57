//! Lawful orders as a user meets them, with the real binary on a real data
//! directory: register (a legal hold is placed), four eyes, export, verify
//! the bundle offline, tampering, deliver, close (releasing the hold), the
//! deadline across time zones, and every step in the ledger.

mod support;

use pramaan_orders::bundle;
use pramaan_orders::zip::{ZipReader, ZipWriter};
use serde_json::Value;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);
const REF: &str = "CERT-In/2026/042";

fn cmd(cwd: &Path, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.args(args);
    run(c, None, T)
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let o = cmd(cwd, args);
    assert!(o.success(), "pramaan {args:?}: {o:?}");
    o.stdout()
}

/// As `cmd`, run by the operating-system user `user`: on the data
/// directory the caller is `<user> (local)` (nobody names themselves).
fn cmd_as(cwd: &Path, user: &str, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.env("USER", user).args(args);
    run(c, None, T)
}

fn ok_as(cwd: &Path, user: &str, args: &[&str]) -> String {
    let o = cmd_as(cwd, user, args);
    assert!(o.success(), "{user}: pramaan {args:?}: {o:?}");
    o.stdout()
}

fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut r = ZipReader::new(Cursor::new(zip.to_vec())).unwrap();
    let names: Vec<String> = r.entries().iter().map(|e| e.name.clone()).collect();
    names
        .into_iter()
        .map(|n| {
            let d = r.read_all(&n, u64::MAX).unwrap();
            (n, d)
        })
        .collect()
}

fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(ns as i128)
        .unwrap()
        .to_string()
}

#[test]
fn an_order_from_registration_to_a_verified_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut lines = String::new();
    for i in 0..300u32 {
        lines.push_str(&format!(
            "<134>1 2026-03-03T08:{:02}:00Z web{} sshd 77 - - Accepted password for user{} from 203.0.113.{} port {}\n",
            i % 60,
            i % 3,
            i % 5,
            i % 7,
            if i.is_multiple_of(2) { 22 } else { 443 }
        ));
    }
    std::fs::write(d.join("lines.txt"), &lines).unwrap();
    ok(d, &["ingest", "lines.txt"]);

    // Every stored line, to compute the expected scope by hand.
    let all: Vec<Value> = ok(d, &["search", "--format", "json", "--limit", "0"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 300);
    let at = |h: &Value| -> i64 {
        h["received_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_nanosecond() as i64
    };
    let from = at(&all[0]);
    let to = at(&all[299]) + 1;
    let expected: Vec<u64> = all
        .iter()
        .filter(|h| {
            let ips: Vec<&str> = h["ips"]
                .as_array()
                .map_or(vec![], |a| a.iter().filter_map(|x| x.as_str()).collect());
            let ports: Vec<u64> = h["ports"]
                .as_array()
                .map_or(vec![], |a| a.iter().filter_map(|x| x.as_u64()).collect());
            let users: Vec<&str> = h["users"]
                .as_array()
                .map_or(vec![], |a| a.iter().filter_map(|x| x.as_str()).collect());
            (ips.contains(&"203.0.113.3") && ports.contains(&22) || ips.contains(&"203.0.113.5"))
                && users.contains(&"user3")
        })
        .map(|h| h["seq"].as_u64().unwrap())
        .collect();
    assert!(expected.len() >= 5, "{expected:?}");

    let out = ok_as(
        d,
        "asha",
        &[
            "order",
            "new",
            "--reference",
            REF,
            "--authority",
            "CERT-In",
            "--due",
            "2030-12-01T17:00:00+05:30",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--ip",
            "203.0.113.3:22",
            "--ip",
            "203.0.113.5",
            "--subscriber",
            "user3",
            "--legal-basis",
            "IT Act s.70B(6)",
        ],
    );
    assert!(out.contains("Registered order CERT-In/2026/042."), "{out}");
    assert!(
        out.contains("Due 2030-12-01T17:00:00+05:30 (IST) = 2030-12-01T11:30:00Z (UTC):"),
        "{out}"
    );
    assert!(out.contains("Legal hold(s) #1, #2 placed"), "{out}");
    let holds = ok(d, &["hold", "list", "--json"]);
    assert!(holds.contains(REF), "{holds}");

    // Four eyes.
    let o = cmd_as(d, "asha", &["export", REF, "--out", "b.zip"]);
    assert!(!o.success());
    assert!(o.stderr.contains("needs a second user's approval"), "{o:?}");
    assert!(!d.join("b.zip").exists());
    let o = cmd_as(d, "asha", &["order", "approve", REF]);
    assert!(!o.success());
    assert!(
        o.stderr
            .contains("asha (local) registered order CERT-In/2026/042 and cannot approve it"),
        "{o:?}"
    );
    ok_as(d, "ravi", &["order", "approve", REF]);

    let out = ok_as(d, "asha", &["export", REF, "--out", "b.zip"]);
    assert!(
        out.contains(&format!("Wrote b.zip: {} record(s)", expected.len())),
        "{out}"
    );

    // Verified offline, from another directory (no data directory there).
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::copy(d.join("b.zip"), elsewhere.path().join("b.zip")).unwrap();
    std::fs::copy(
        d.join("pramaan-data/ledger/node.vkey"),
        elsewhere.path().join("node.vkey"),
    )
    .unwrap();
    let out = ok(
        elsewhere.path(),
        &["verify-bundle", "b.zip", "--key", "node.vkey"],
    );
    assert!(
        out.contains("bundle for order CERT-In/2026/042: OK"),
        "{out}"
    );
    assert!(
        out.contains(&format!("records:    {} (seq", expected.len())),
        "{out}"
    );
    assert!(out.contains("(the key you gave)"), "{out}");
    assert!(!elsewhere.path().join("pramaan-data").exists());

    // Exactly the records in scope, raw bytes as received.
    let zip = std::fs::read(d.join("b.zip")).unwrap();
    let es = entries(&zip);
    let recs = &es.iter().find(|e| e.0 == bundle::RECORDS).unwrap().1;
    let got: Vec<u64> = recs
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(got, expected);

    // Exported again: byte-identical data files.
    ok_as(d, "asha", &["export", REF, "--out", "b2.zip"]);
    let es2 = entries(&std::fs::read(d.join("b2.zip")).unwrap());
    for name in [
        bundle::RECORDS,
        bundle::RECORDS_CSV,
        bundle::ORDER,
        bundle::SUBSCRIBERS,
        bundle::BINDINGS,
    ] {
        let a = &es.iter().find(|e| e.0 == name).unwrap().1;
        let b = &es2.iter().find(|e| e.0 == name).unwrap().1;
        assert_eq!(a, b, "{name} differs between two exports");
    }

    // Tampering: one changed record, re-zipped; then a flipped byte in the ZIP.
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (n, data) in &es {
        let mut data = data.clone();
        if n == bundle::RECORDS {
            let s = String::from_utf8(data)
                .unwrap()
                .replacen("\"peer\":\"", "\"peer\":\"x", 1);
            data = s.into_bytes();
        }
        w.add(n, &mut &data[..]).unwrap();
    }
    std::fs::write(
        elsewhere.path().join("t.zip"),
        w.finish().unwrap().into_inner(),
    )
    .unwrap();
    let o = cmd(elsewhere.path(), &["verify-bundle", "t.zip"]);
    assert!(!o.success());
    assert!(
        o.stderr.contains("t.zip: FAILED: records.ndjson: SHA-256 "),
        "{o:?}"
    );
    let mut flipped = zip.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    std::fs::write(elsewhere.path().join("f.zip"), &flipped).unwrap();
    let o = cmd(elsewhere.path(), &["verify-bundle", "f.zip"]);
    assert!(!o.success());
    assert!(o.stderr.contains("f.zip: FAILED: "), "{o:?}");

    // Deliver and close, releasing the hold.
    ok_as(d, "asha", &["order", "deliver", REF]);
    let out = ok(d, &["order", "show", REF]);
    assert!(out.contains("delivered in time ("), "{out}");
    let out = ok_as(d, "asha", &["order", "close", REF, "--release-hold"]);
    assert!(out.contains("Legal hold(s) #1, #2 released."), "{out}");
    let active = ok(d, &["hold", "list", "--active", "--json"]);
    assert!(!active.contains(REF), "{active}");

    // Every step is a ledger record.
    let show: Value = serde_json::from_str(&ok(d, &["order", "show", REF, "--json"])).unwrap();
    let actions: Vec<&str> = show["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "register",
            "hold",
            "approve",
            "export",
            "export",
            "deliver",
            "close",
            "release_holds"
        ]
    );
    assert!(show["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ledger_seq"].is_u64()));
    let ledger = ok(
        d,
        &[
            "search",
            "--internal",
            "--format",
            "json",
            "--limit",
            "0",
            "\"kind\":\"order\"",
        ],
    );
    assert_eq!(ledger.lines().count(), 8, "{ledger}");
}

#[test]
fn the_deadline_is_the_same_instant_in_any_zone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (r, due) in [
        ("A", "2030-03-05T17:00:00+05:30"),
        ("B", "2030-03-05T11:30:00Z"),
        ("C", "2030-03-05T07:00:00-04:30"),
    ] {
        ok(
            d,
            &[
                "order",
                "new",
                "--reference",
                r,
                "--due",
                due,
                "--from",
                "2026-01-01T00:00:00Z",
                "--to",
                "2026-01-02T00:00:00Z",
                "--legal-basis",
                "s.70B",
                "--no-hold",
            ],
        );
    }
    let list: Value = serde_json::from_str(&ok(d, &["order", "list", "--json"])).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for o in list {
        assert_eq!(o["due_at"], "2030-03-05T11:30:00Z");
        assert_eq!(o["due_at_ist"], "2030-03-05T17:00:00+05:30");
        assert!(o["time_left"].as_str().unwrap().ends_with(" left"), "{o}");
    }
    let text = ok(d, &["order", "list"]);
    assert_eq!(
        text.matches("due 2030-03-05T17:00:00+05:30").count(),
        3,
        "{text}"
    );
    // A past deadline is overdue.
    ok(
        d,
        &[
            "order",
            "new",
            "--reference",
            "D",
            "--received",
            "2020-01-01T00:00:00Z",
            "--due",
            "2020-01-02T00:00:00Z",
            "--from",
            "2019-12-01T00:00:00Z",
            "--to",
            "2019-12-02T00:00:00Z",
            "--legal-basis",
            "s.70B",
            "--no-hold",
        ],
    );
    let out = ok(d, &["order", "show", "D"]);
    assert!(out.contains("OVERDUE by "), "{out}");
    // Bad input names what is wrong.
    let o = cmd(
        d,
        &[
            "order",
            "new",
            "--reference",
            "E",
            "--due",
            "2030-01-01",
            "--from",
            "2026-01-02T00:00:00Z",
            "--to",
            "2026-01-01T00:00:00Z",
            "--legal-basis",
            "x",
            "--no-hold",
        ],
    );
    assert!(!o.success());
    assert!(o.stderr.contains("scope: the window is empty"), "{o:?}");
    let o = cmd(
        d,
        &[
            "order",
            "new",
            "--reference",
            "E",
            "--due",
            "2030-01-01",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
            "--legal-basis",
            "x",
            "--ip",
            "1.2.3",
        ],
    );
    assert!(!o.success());
    assert!(
        o.stderr
            .contains("'--ip <IP[:PORT]>': \"1.2.3\" is not an IP address"),
        "{o:?}"
    );
}

fn basic(user: &str, pw: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

#[test]
fn orders_over_http_with_roles_and_four_eyes() {
    let s = Server::start();
    let cwd = s.dir.path().to_owned();
    let url = s.url();
    for (user, roles) in [("alice", "analyst"), ("ravi", "approver,analyst")] {
        let mut c = pramaan(&cwd);
        c.args([
            "user",
            "add",
            user,
            "--role",
            roles,
            "--password-stdin",
            "--server",
            &url,
        ]);
        let o = run(c, Some(format!("{user}-password-0123\n").as_bytes()), T);
        assert!(o.success(), "{o:?}");
        // A password set by an administrator is one-time: the user replaces it.
        let mut c = pramaan(&cwd);
        c.args(["user", "passwd", user, "--own", "--server", &url]);
        let o = run(
            c,
            Some(format!("{user}-password-0123\n{user}-own-password-42\n").as_bytes()),
            T,
        );
        assert!(o.success(), "{o:?}");
    }
    let alice = basic("alice", "alice-own-password-42");
    let ravi = basic("ravi", "ravi-own-password-42");
    let body: String = (0..50)
        .map(|i| format!("<134>1 2026-03-03T08:00:{i:02}Z web1 sshd 7 - - Accepted password for user{} from 192.0.2.{} port 22\n", i % 3, i % 4))
        .collect();
    let r = s.post("/api/v1/ingest", &[], body.into_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let post = |who: &str, path: &str, v: Value| {
        s.post(
            path,
            &[("content-type", "application/json"), ("authorization", who)],
            serde_json::to_vec(&v).unwrap(),
        )
    };
    let order = serde_json::json!({
        "reference": "CERT-In/2026/7", "due": "2030-01-01T17:00:00+05:30",
        "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
        "ips": ["192.0.2.1"], "subscribers": ["user1"], "legal_basis": "s.70B(6)",
    });
    let r = post(&alice, "/api/v1/orders", order);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["registered_by"], "alice");
    assert_eq!(r.json()["due_at"], "2030-01-01T11:30:00Z");
    assert_eq!(r.json()["holds"].as_array().unwrap().len(), 1);
    let reference = serde_json::json!({"reference": "CERT-In/2026/7"});
    // Exporting personal data before approval, approving without the role.
    let r = post(&alice, "/api/v1/orders/export", reference.clone());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("needs a second user's approval"),
        "{}",
        r.text()
    );
    let r = post(&alice, "/api/v1/orders/approve", reference.clone());
    assert_eq!(r.status, 403, "{}", r.text());
    // An approver cannot approve an order they registered.
    let own = serde_json::json!({
        "reference": "R-own", "due": "2030-01-01", "from": "2000-01-01", "to": "2100-01-01",
        "legal_basis": "x", "hold": false,
    });
    assert_eq!(post(&ravi, "/api/v1/orders", own).status, 201);
    let r = post(
        &ravi,
        "/api/v1/orders/approve",
        serde_json::json!({"reference": "R-own"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text()
            .contains("ravi registered order R-own and cannot approve it"),
        "{}",
        r.text()
    );
    let r = post(&ravi, "/api/v1/orders/approve", reference.clone());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "approved");
    let r = post(&alice, "/api/v1/orders/export", reference.clone());
    assert_eq!(r.status, 200, "{}", r.text());
    std::fs::write(cwd.join("h.zip"), &r.body).unwrap();
    // Streamed from a file unlinked before the download: nothing left behind.
    let left: Vec<_> = std::fs::read_dir(s.data_dir().join("tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the data directory: {left:?}");
    let out = ok(&cwd, &["verify-bundle", "h.zip"]);
    // 192.0.2.1 and user1: i % 4 == 1 and i % 3 == 1, i in 0..50.
    let n = (0..50).filter(|i| i % 4 == 1 && i % 3 == 1).count();
    assert!(out.contains(&format!("records:    {n} (seq")), "{out}");
    let list = s.get("/api/v1/orders", &[]).json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let show = s
        .get("/api/v1/orders/show", &[("reference", "CERT-In/2026/7")])
        .json();
    assert_eq!(show["state"], "exported");
    assert_eq!(show["exported_by"], "alice");
    let r = s.get("/api/v1/orders/show", &[("reference", "nope")]);
    assert_eq!(r.status, 404, "{}", r.text());
    // Exports and approvals are on the audit trail, with who and which order.
    for (action, actor) in [("export", "alice"), ("approval", "ravi")] {
        let trail = s.get("/api/v1/audit", &[("action", action)]).text();
        assert!(
            trail
                .lines()
                .any(|l| l.contains(&format!("\"actor\":\"{actor}\""))
                    && l.contains("CERT-In/2026/7")),
            "{action} by {actor}: {trail}"
        );
    }
}

#[test]
fn help_and_bad_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let top = ok(d, &["--help"]);
    for c in ["order", "export", "verify-bundle"] {
        assert!(top.contains(c), "{top}");
    }
    let h = ok(d, &["order", "new", "--help"]);
    for f in [
        "--reference",
        "--due",
        "--from",
        "--to",
        "--source",
        "--host",
        "--ip",
        "--subscriber",
        "--text",
        "--legal-basis",
        "--no-hold",
        "--server",
        "--json",
    ] {
        assert!(h.contains(f), "{f}: {h}");
    }
    assert!(ok(d, &["verify-bundle", "--help"]).contains("--key"));
    // No such file, not a ZIP, an empty ZIP: each named, non-zero exit.
    let o = cmd(d, &["verify-bundle", "missing.zip"]);
    assert!(!o.success());
    assert!(o.stderr.contains("opening missing.zip"), "{o:?}");
    std::fs::write(
        d.join("text.zip"),
        b"this is not a zip file at all, just text",
    )
    .unwrap();
    let o = cmd(d, &["verify-bundle", "text.zip"]);
    assert!(!o.success());
    assert!(
        o.stderr.contains("text.zip: FAILED: the bundle is not a readable ZIP: not a ZIP file: no end-of-central-directory record"),
        "{o:?}"
    );
    let empty = ZipWriter::new(Cursor::new(Vec::new()))
        .finish()
        .unwrap()
        .into_inner();
    std::fs::write(d.join("empty.zip"), empty).unwrap();
    let o = cmd(d, &["verify-bundle", "empty.zip"]);
    assert!(!o.success());
    assert!(
        o.stderr.contains("empty.zip: FAILED: manifest.json: "),
        "{o:?}"
    );
    assert!(
        !d.join("pramaan-data").exists(),
        "verify-bundle must not create a data directory"
    );
}

/// An order naming a subscriber takes the lines of the addresses bound to
/// them in its window (from the attribution bindings) as well as the lines
/// naming them, and carries those bindings in `bindings.ndjson`.
#[test]
fn a_subscribers_bindings_bring_their_lines_and_travel_in_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lines = [
        "fw-1 deny src=198.51.100.20 dport=443",
        "fw-1 deny src=198.51.100.21 dport=443",
        "fw-1 allow src=198.51.100.20 dport=22",
        "vpn-1 login user=kavya ok",
        "fw-1 deny src=198.51.100.22 dport=25",
    ];
    std::fs::write(d.join("lines.txt"), lines.join("\n") + "\n").unwrap();
    ok(d, &["ingest", "lines.txt"]);
    let all: Vec<Value> = ok(d, &["search", "--format", "json", "--limit", "0"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 5);
    let at = |h: &Value| -> i64 {
        h["received_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_nanosecond() as i64
    };
    let (from, to) = (at(&all[0]), at(&all[4]) + 1);
    let hour = 3_600_000_000_000i64;
    std::fs::write(
        d.join("bindings.csv"),
        format!(
            "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id\n\
             198.51.100.20,0,65535,{},{},kavya,s-1\n\
             198.51.100.21,0,65535,{},{},someone-else,s-2\n",
            rfc3339(from - hour),
            rfc3339(to + hour),
            rfc3339(from - hour),
            rfc3339(to + hour),
        ),
    )
    .unwrap();
    ok(d, &["whois", "import-bindings", "bindings.csv"]);
    let r = "CERT-In/2026/099";
    ok_as(
        d,
        "asha",
        &[
            "order",
            "new",
            "--reference",
            r,
            "--authority",
            "CERT-In",
            "--due",
            "2030-12-01T17:00:00+05:30",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--subscriber",
            "kavya",
            "--legal-basis",
            "IT Act s.70B(6)",
        ],
    );
    ok_as(d, "ravi", &["order", "approve", r]);
    ok_as(d, "asha", &["export", r, "--out", "k.zip"]);
    ok(d, &["verify-bundle", "k.zip"]);

    let es = entries(&std::fs::read(d.join("k.zip")).unwrap());
    let file = |name: &str| -> Vec<Value> {
        let body = &es.iter().find(|e| e.0 == name).unwrap().1;
        body.split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    };
    // The two lines of kavya's address and the one naming her; not the others.
    let seqs: Vec<u64> = file(bundle::RECORDS)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = [0usize, 2, 3]
        .iter()
        .map(|&i| all[i]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, want);
    let bindings = file(bundle::BINDINGS);
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    assert_eq!(bindings[0]["subscriber"], "kavya");
    assert_eq!(bindings[0]["ip"], "198.51.100.20");
    assert_eq!(bindings[0]["prefix"], 32);
}

/// Issue 28: a reference with CR/LF broke the bundle's download and still
/// marked the order exported. References are now one line of visible
/// characters, refused with a 400 naming the field; any reference that is
/// accepted exports to a download with a plain file name.
#[test]
fn an_order_reference_must_be_one_visible_line() {
    let s = Server::start();
    let order = |reference: &str| {
        serde_json::json!({
            "reference": reference, "due": "2030-01-01T17:00:00+05:30",
            "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
            "ips": ["192.0.2.1"], "legal_basis": "s.70B(6)", "hold": false,
        })
    };
    let post = |path: &str, v: Value| {
        s.post(
            path,
            &[("content-type", "application/json")],
            serde_json::to_vec(&v).unwrap(),
        )
    };
    for bad in [
        "CERT-In/2026/8\r\nX-Injected: 1",
        "CERT-In\n2026/8",
        "\u{200B}",
        "CERT-In\u{202E}/2026/8",
        &"x".repeat(201),
    ] {
        let r = post("/api/v1/orders", order(bad));
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text());
        let msg = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(msg.starts_with("reference: "), "{bad:?}: {msg}");
    }
    assert_eq!(s.get("/api/v1/orders", &[]).json(), serde_json::json!([]));
    // Quotes, semicolons and Devanagari are visible: accepted, and the
    // bundle downloads under a plain ASCII name.
    let fine = "आदेश \"8\"; 2026/8";
    let r = post("/api/v1/orders", order(fine));
    assert_eq!(r.status, 201, "{}", r.text());
    let r = post(
        "/api/v1/orders/export",
        serde_json::json!({"reference": fine}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.starts_with(b"PK"), "a ZIP file");
    let shown = s.get("/api/v1/orders/show", &[("reference", fine)]).json();
    assert_eq!(shown["state"], "exported", "{shown}");
}
