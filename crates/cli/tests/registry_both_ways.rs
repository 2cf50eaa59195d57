//! Every `pramaan registry` and `pramaan whois` command run both ways, on
//! the same input: against a running server (`--server`, the admin token)
//! and on a data directory no server holds. The JSON answers agree, apart
//! from what differs by nature (sequence numbers, times of the run, who
//! acted, random key ids). Over HTTP a token without the registry officer's
//! role is refused, and nothing it asked for happens.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(180);

const SUBSCRIBERS: &str = "subscriber_id,name,kyc_method,kyc_verified_at,email,registration_ip,registration_at,purpose,address,phone,ownership,owners,hire_start,hire_end
1,Ishaan Erasable-Bose,video-kyc,2019-05-01T10:00:00+05:30,ishaan.erasable@mail.example.in,198.51.100.9,2019-05-01T04:00:00Z,game server,\"9, Park Street, Kolkata, West Bengal 700001\",+919830012345,individual,,2019-05-02,2019-12-31
2,Mehta Labs Private Limited,gst-mca,2024-01-01T00:00:00Z,it2@mehta-corp.example.in,2001:db8:ffff::2,2023-12-31T18:00:00-05:00,web hosting,\"1, MG Road, Mumbai, Maharashtra 400001\",+912212345678,company,Kavya Joshi;Aarav Bose,2024-01-02,
";

const BINDINGS: &str = "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id
203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,2,1
";

/// Where a command runs: a server's URL, or a data directory.
enum Way<'a> {
    Server(&'a str),
    Directory(&'a Path),
}

fn cli(cwd: &Path, way: &Way, args: &[&str], token: Option<&str>) -> Output {
    let mut c = pramaan(cwd);
    if let Some(t) = token {
        c.env("PRAMAAN_TOKEN", t);
    }
    c.args(args);
    match way {
        Way::Server(url) => c.arg("--server").arg(url),
        Way::Directory(d) => c.arg("--data-dir").arg(d),
    };
    run(c, None, T)
}

fn json(cwd: &Path, way: &Way, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = cli(cwd, way, &a, None);
    assert!(o.success(), "{args:?}: {o:?}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {o:?}"))
}

/// Blanks what differs by nature between two runs on two data directories.
fn normalised(mut v: Value) -> Value {
    const VARY: &[&str] = &[
        "ledger_seq",
        "audit_seq",
        "at_ns",
        "created_at_ns",
        "released_at_ns",
        "erased_at_ns",
        "created_by",
        "released_by",
        "old_key_id",
        "new_key_id",
        "key_id",
        "parse_secs",
        "index_secs",
        "store_secs",
    ];
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if VARY.contains(&k.as_str()) && !x.is_null() {
                        *x = Value::String("*".into());
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[test]
fn every_command_answers_the_same_over_http_and_on_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::write(cwd.join("subscribers.csv"), SUBSCRIBERS).unwrap();
    std::fs::write(cwd.join("bindings.csv"), BINDINGS).unwrap();
    let server = Server::start();
    let url = server.url();
    let dir = cwd.join("data");
    let ways = [Way::Server(&url), Way::Directory(&dir)];

    let steps: &[&[&str]] = &[
        &["registry", "import", "subscribers.csv", "--dry-run"],
        &["registry", "import", "subscribers.csv"],
        &["registry", "import", "subscribers.csv"],
        &["registry", "completeness"],
        &["registry", "show", "2", "--purpose", "case 7"],
        &["whois", "import-bindings", "bindings.csv"],
        &["registry", "import", "bindings.csv"],
        &[
            "whois",
            "203.0.112.1",
            "--port",
            "1500",
            "--at",
            "2025-01-01T00:30:00Z",
            "--purpose",
            "case 7",
        ],
        &[
            "registry",
            "hold",
            "add",
            "1",
            "--reason",
            "inquiry",
            "--order-ref",
            "HC 12/2025",
        ],
        &["registry", "hold", "list"],
        &["registry", "erase-expired"],
        &["registry", "hold", "release", "1", "--reason", "closed"],
        &["registry", "erase-expired", "--dry-run"],
        &["registry", "erase-expired"],
        &["registry", "erasures"],
        &[
            "registry",
            "terminate",
            "2",
            "--at",
            "2025-06-30T12:00:00+05:30",
        ],
        &["registry", "terminate", "2"],
        &["registry", "rotate-key"],
        &["registry", "show", "2", "--purpose", "after rotation"],
    ];
    for step in steps {
        let [http, local] = [&ways[0], &ways[1]].map(|w| normalised(json(cwd, w, step)));
        assert_eq!(http, local, "{step:?} answered differently");
    }

    // A few answers, so that agreeing is not agreeing on nothing.
    let local = &ways[1];
    let v = json(cwd, local, &["registry", "completeness"]);
    assert_eq!(v["subscribers"], 1, "{v}");
    let v = json(cwd, local, &["registry", "erasures"]);
    assert_eq!(v[0]["subscriber_id"], "1", "{v}");
    let v = json(
        cwd,
        local,
        &[
            "whois",
            "203.0.112.1",
            "--at",
            "2025-01-01T00:30:00Z",
            "--purpose",
            "case 8",
        ],
    );
    assert_eq!(v["matches"][0]["subscriber"], "2", "{v}");
    assert_eq!(
        v["matches"][0]["details"]["name"], "Mehta Labs Private Limited",
        "{v}"
    );
    // Who acted: the token's user over HTTP, the OS user (local) here.
    let holds = json(cwd, &ways[0], &["registry", "hold", "list"]);
    assert!(
        holds[0]["created_by"]
            .as_str()
            .is_some_and(|b| !b.ends_with("(local)")),
        "{holds}"
    );
    let holds = json(cwd, local, &["registry", "hold", "list"]);
    assert!(
        holds[0]["created_by"]
            .as_str()
            .is_some_and(|b| b.ends_with("(local)")),
        "{holds}"
    );
    // The same failure both ways: no such subscriber, no purpose.
    for way in &ways {
        let o = cli(
            cwd,
            way,
            &["registry", "show", "1", "--purpose", "check"],
            None,
        );
        assert!(
            !o.success() && o.stderr.contains("no subscriber 1"),
            "{o:?}"
        );
        let o = cli(cwd, way, &["registry", "show", "2", "--purpose", " "], None);
        assert!(
            !o.success() && o.stderr.contains("needs a purpose"),
            "{o:?}"
        );
    }
}

#[test]
fn over_http_a_token_without_the_role_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    std::fs::write(cwd.join("subscribers.csv"), SUBSCRIBERS).unwrap();
    std::fs::write(cwd.join("bindings.csv"), BINDINGS).unwrap();
    let server = Server::start();
    let url = server.url();
    let r = server.post(
        "/api/v1/tokens",
        &[("content-type", "application/json")],
        br#"{"name":"reader","roles":"analyst,auditor,poc"}"#.to_vec(),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let token = r.json()["secret"].as_str().unwrap().to_owned();
    let way = Way::Server(&url);
    let steps: &[&[&str]] = &[
        &["registry", "import", "subscribers.csv"],
        &["registry", "show", "2", "--purpose", "case 7"],
        &["registry", "completeness"],
        &[
            "registry",
            "hold",
            "add",
            "1",
            "--reason",
            "r",
            "--order-ref",
            "o",
        ],
        &["registry", "hold", "list"],
        &["registry", "erase-expired"],
        &["registry", "erasures"],
        &["registry", "terminate", "2"],
        &["registry", "rotate-key"],
        &["whois", "import-bindings", "bindings.csv"],
        &[
            "whois",
            "203.0.112.1",
            "--at",
            "2025-01-01T00:30:00Z",
            "--purpose",
            "case 7",
        ],
    ];
    for step in steps {
        let o = cli(cwd, &way, step, Some(&token));
        assert!(!o.success(), "{step:?}: {o:?}");
        assert!(o.stderr.contains("403"), "{step:?}: {o:?}");
    }
    // Nothing happened: the admin finds an empty register and store.
    let v = json(cwd, &way, &["registry", "completeness"]);
    assert_eq!(v["subscribers"], 0, "{v}");
    let r = server.get("/api/v1/whois/stats", &[]);
    assert_eq!(r.json()["bindings"], 0, "{}", r.text());
}
