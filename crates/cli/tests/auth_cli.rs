//! Access control from the command line, as an administrator meets it:
//! `pramaan user ...`, `pramaan token ...` and `pramaan audit search`
//! through a running server and directly on a data directory, and
//! `pramaan tls self-signed` serving HTTPS that curl trusts.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

fn cmd(cwd: &Path, env: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = pramaan(cwd);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c, stdin, T)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {o:?}"))
}

fn ndjson(o: &Output) -> Vec<Value> {
    o.stdout()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn login(s: &Server, user: &str, password: &str) -> u16 {
    let body = serde_json::json!({ "user": user, "password": password });
    s.post(
        "/api/v1/login",
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .status
}

#[test]
fn users_tokens_and_audit_through_a_running_server() {
    let s = Server::start();
    let cwd = s.dir.path().to_owned();
    let url = s.url();
    let srv = ["--server", url.as_str()];
    let c = |args: &[&str], stdin: Option<&[u8]>| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend_from_slice(&srv);
        cmd(&cwd, &[], &a, stdin)
    };

    // A user with a password given on stdin, one with a generated one.
    let pw = "alice-password-0123";
    ok(c(
        &[
            "user",
            "add",
            "alice",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        Some(format!("{pw}\n").as_bytes()),
    ));
    let bob = ok(c(&["user", "add", "bob", "--role", "auditor,poc"], None));
    assert!(bob.stdout().contains("one-time password"), "{bob:?}");
    let otp = bob
        .stdout()
        .lines()
        .skip_while(|l| !l.contains("one-time password"))
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
        .expect("the one-time password")
        .to_owned();
    // bob replaces his one-time password himself (HTTP Basic, not the token).
    let wrong = c(
        &["user", "passwd", "bob", "--own"],
        Some(b"not-the-password-1\nbob-new-password-42\n"),
    );
    assert!(!wrong.success(), "{wrong:?}");
    ok(c(
        &["user", "passwd", "bob", "--own"],
        Some(format!("{otp}\nbob-new-password-42\n").as_bytes()),
    ));
    assert_eq!(login(&s, "bob", "bob-new-password-42"), 200);
    let again = c(&["user", "add", "bob", "--role", "auditor"], None);
    assert!(!again.success(), "adding bob twice: {again:?}");
    assert!(again.stderr.contains("409"), "{again:?}");
    let bad_role = c(&["user", "add", "carol", "--role", "superuser"], None);
    assert!(
        !bad_role.success() && bad_role.stderr.contains("not a role"),
        "{bad_role:?}"
    );

    // list shows them, with their roles; --json never holds a hash.
    let list = ok(c(&["user", "list", "--json"], None));
    let users = json(&list);
    let alice = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice")
        .unwrap_or_else(|| panic!("alice not listed: {users}"));
    assert_eq!(alice["roles"], serde_json::json!(["analyst"]));
    assert!(!list.stdout().contains("argon2"), "{list:?}");
    let table = ok(c(&["user", "list"], None)).stdout();
    assert!(
        table.contains("alice") && table.contains("poc,auditor"),
        "{table}"
    );

    // alice logs in (an audited login); disabled, she cannot; enabled again, she can.
    assert_eq!(login(&s, "alice", pw), 200);
    ok(c(&["user", "disable", "alice"], None));
    assert_eq!(login(&s, "alice", pw), 401);
    ok(c(&["user", "enable", "alice"], None));
    assert_eq!(login(&s, "alice", pw), 200);

    // A token: its secret is printed once, and it works against the server.
    let created = json(&ok(c(
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "analyst",
            "--expires",
            "90d",
            "--json",
        ],
        None,
    )));
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("pmn_"), "{created}");
    let as_ci = [("PRAMAAN_TOKEN", secret.as_str())];
    let status = ok(cmd(&cwd, &as_ci, &["status", "--server", &url], None));
    assert!(status.stdout().contains("committed_records"), "{status:?}");
    // An analyst's token is not an admin's.
    let denied = cmd(&cwd, &as_ci, &["user", "list", "--server", &url], None);
    assert!(
        !denied.success() && denied.stderr.contains("403"),
        "{denied:?}"
    );

    // list never shows a secret.
    let tokens = ok(c(&["token", "list", "--json"], None));
    assert!(!tokens.stdout().contains(&secret), "{tokens:?}");
    assert!(tokens.stdout().contains("\"ci\""), "{tokens:?}");
    let table = ok(c(&["token", "list"], None)).stdout();
    assert!(
        table.contains("ci") && table.contains("active") && !table.contains(&secret),
        "{table}"
    );

    // Revoked, the same call fails with 401.
    ok(c(&["token", "revoke", "ci"], None));
    let after = cmd(&cwd, &as_ci, &["status", "--server", &url], None);
    assert!(!after.success(), "the revoked token still works: {after:?}");
    assert!(after.stderr.contains("401"), "{after:?}");
    let table = ok(c(&["token", "list"], None)).stdout();
    assert!(table.contains("revoked"), "{table}");
    let unknown = c(&["token", "revoke", "nope"], None);
    assert!(
        !unknown.success() && unknown.stderr.contains("404"),
        "{unknown:?}"
    );

    // Without a token the server refuses.
    let mut anon = pramaan(&cwd);
    anon.env_remove("PRAMAAN_TOKEN")
        .args(["user", "list", "--server", &url]);
    let anon = run(anon, None, T);
    assert!(!anon.success() && anon.stderr.contains("401"), "{anon:?}");

    // The audit trail has the logins and the user and token changes.
    let logins = ndjson(&ok(c(
        &[
            "audit", "search", "--action", "login", "--actor", "alice", "--format", "json",
        ],
        None,
    )));
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(logins.iter().all(|r| r["action"] == "login"), "{logins:?}");
    let changes = ndjson(&ok(c(
        &["audit", "search", "--action", "user.*", "--format", "json"],
        None,
    )));
    let acts: Vec<(String, String)> = changes
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for want in [
        ("user.add", "alice"),
        ("user.add", "bob"),
        ("user.disable", "alice"),
        ("user.enable", "alice"),
    ] {
        assert!(
            acts.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} missing from {acts:?}"
        );
    }
    let revokes = ndjson(&ok(c(
        &["audit", "search", "--action", "token.*", "--format", "json"],
        None,
    )));
    assert_eq!(revokes.len(), 2, "create and revoke: {revokes:?}");
    assert!(
        !serde_json::to_string(&revokes).unwrap().contains(&secret),
        "a secret in the audit trail"
    );
    let limited = ndjson(&ok(c(
        &["audit", "search", "--limit", "1", "--format", "json"],
        None,
    )));
    assert_eq!(limited.len(), 1);
    let table = ok(c(&["audit", "search", "--action", "login"], None)).stdout();
    assert!(table.contains("alice") && table.contains("IST"), "{table}");
    let bad = c(&["audit", "search", "--from", "yesterday-ish"], None);
    assert!(!bad.success() && bad.stderr.contains("400"), "{bad:?}");
}

#[test]
fn users_and_tokens_directly_on_a_data_directory() {
    let mut s = Server::start();
    s.stop();
    let cwd = s.dir.path().to_owned();
    let data = s.data_dir();
    let data = data.to_str().unwrap();
    let d = |args: &[&str], stdin: Option<&[u8]>| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend_from_slice(&["--data-dir", data]);
        cmd(&cwd, &[("USER", "ops")], &a, stdin)
    };

    let pw = "direct-password-0123";
    ok(d(
        &[
            "user",
            "add",
            "dana",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        Some(format!("{pw}\n").as_bytes()),
    ));
    let short = d(
        &[
            "user",
            "add",
            "erin",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        Some(b"short\n"),
    );
    assert!(
        !short.success() && short.stderr.contains("too short"),
        "{short:?}"
    );
    let list = ok(d(&["user", "list"], None)).stdout();
    assert!(list.contains("dana") && list.contains("admin"), "{list}");
    let created = json(&ok(d(
        &[
            "token", "create", "--name", "nightly", "--role", "auditor", "--json",
        ],
        None,
    )));
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    ok(d(
        &["user", "passwd", "dana", "--password-stdin"],
        Some(b"another-password-456\n"),
    ));

    // The audit trail of the direct changes, read directly.
    let recs = ndjson(&ok(d(&["audit", "search", "--format", "json"], None)));
    let acts: Vec<&str> = recs.iter().filter_map(|r| r["action"].as_str()).collect();
    assert!(
        acts.contains(&"user.add")
            && acts.contains(&"token.create")
            && acts.contains(&"user.password"),
        "{recs:?}"
    );
    // The local operator, as every command on the data directory records it.
    assert!(recs.iter().all(|r| r["actor"] == "ops (local)"), "{recs:?}");
    // The read of the trail is on the trail too, written before it answered.
    assert!(acts.contains(&"audit.search"), "{recs:?}");

    // The server started on that directory accepts the token made offline.
    s.start_again();
    let url = s.url();
    let ok_status = cmd(
        &cwd,
        &[("PRAMAAN_TOKEN", secret.as_str())],
        &[
            "audit",
            "search",
            "--server",
            &url,
            "--action",
            "token.create",
            "--format",
            "json",
        ],
        None,
    );
    let recs = ndjson(&ok(ok_status));
    assert_eq!(recs.len(), 1, "{recs:?}");
    // And dana logs in with the password set offline.
    assert_eq!(login(&s, "dana", "another-password-456"), 200);
}

/// `user add`'s answer with what differs from one user to the next (its
/// name, times, one-time password) replaced by placeholders.
fn same_shape(v: &Value, name: &str) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().expect("an object");
    assert_eq!(o["name"], name, "{o:?}");
    let otp = o["one_time_password"]
        .as_str()
        .expect("a one-time password");
    assert!(otp.len() >= 12, "{otp}");
    for k in [
        "name",
        "one_time_password",
        "created_at",
        "created_at_ns",
        "changed_at",
        "changed_at_ns",
    ] {
        o.insert(k.into(), Value::from("<varies>"));
    }
    v
}

/// `user add`'s text with the user's name and one-time password replaced.
fn same_text(o: &Output, name: &str) -> String {
    let text = o.stdout();
    let otp = text
        .lines()
        .skip_while(|l| !l.contains("one-time password"))
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
        .expect("the one-time password")
        .to_owned();
    text.replace(&otp, "<otp>").replace(name, "<name>")
}

/// `pramaan user add` is one operation run where the data is: while serve
/// holds the data directory the CLI finds it (by the directory's lock and
/// the configured address) and asks it over HTTP; with no server it opens
/// the directory itself. Both answer the same, text and JSON.
#[test]
fn user_add_answers_the_same_over_http_and_on_the_data_directory() {
    let mut s = Server::start();
    let cwd = s.dir.path().to_owned();
    let data = s.data_dir();
    let data = data.to_str().unwrap().to_owned();
    let listen = s.url().trim_start_matches("http://").to_owned();
    // No --server: the lock says a server runs, http.listen says where.
    let c = |args: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend_from_slice(&["--data-dir", &data]);
        cmd(
            &cwd,
            &[("USER", "ops"), ("PRAMAAN_HTTP_LISTEN", listen.as_str())],
            &a,
            None,
        )
    };
    let add = |name: &str, json: bool| {
        let mut a = vec!["user", "add", name, "--role", "auditor,poc"];
        if json {
            a.push("--json");
        }
        ok(c(&a))
    };

    let http_json = json(&add("over-http", true));
    let http_text = add("over-http-text", false);
    s.stop();
    let local_json = json(&add("on-disk", true));
    let local_text = add("on-disk-text", false);

    assert_eq!(
        same_shape(&http_json, "over-http"),
        same_shape(&local_json, "on-disk"),
        "the server and the data directory answer differently"
    );
    assert_eq!(
        same_text(&http_text, "over-http-text"),
        same_text(&local_text, "on-disk-text")
    );

    // Both are users of the one store, recorded under who asked: the
    // server's caller (its admin token) and the local operator.
    let users = json(&ok(c(&["user", "list", "--json"])));
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    for n in ["over-http", "over-http-text", "on-disk", "on-disk-text"] {
        assert!(names.contains(&n), "{n} not listed: {names:?}");
    }
    let recs = ndjson(&ok(c(&[
        "audit", "search", "--action", "user.add", "--format", "json",
    ])));
    let by = |subject: &str| {
        recs.iter()
            .find(|r| r["subject"] == subject)
            .and_then(|r| r["actor"].as_str())
            .unwrap_or_else(|| panic!("no user.add of {subject}: {recs:?}"))
            .to_owned()
    };
    assert_eq!(by("on-disk"), "ops (local)");
    assert!(by("over-http").starts_with("token:"), "{recs:?}");
}

#[test]
fn tls_self_signed_certificate_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");
    let o = ok(cmd(
        dir.path(),
        &[],
        &["tls", "self-signed", "--out", out.to_str().unwrap()],
        None,
    ));
    let text = o.stdout();
    assert!(
        text.contains("tls_cert") && text.contains("tls_key"),
        "{text}"
    );
    let (cert, key) = (out.join("cert.pem"), out.join("key.pem"));
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        cert_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{cert_pem}"
    );
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key.pem mode {mode:o}");
    }
    // Not overwritten without --force.
    let again = cmd(
        dir.path(),
        &[],
        &["tls", "self-signed", "--out", out.to_str().unwrap()],
        None,
    );
    assert!(
        !again.success() && again.stderr.contains("--force"),
        "{again:?}"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_pem);

    let s = Server::start_with(&[
        ("PRAMAAN_HTTP_TLS_CERT", cert.to_str().unwrap()),
        ("PRAMAAN_HTTP_TLS_KEY", key.to_str().unwrap()),
    ]);
    let url = format!("https://127.0.0.1:{}/healthz", s.http.port());
    let out = curl(&url, Some(&cert));
    assert!(
        out.status.success(),
        "curl {url}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.stderr()
    );
    // Without trusting the certificate, curl refuses it.
    assert!(!curl(&url, None).status.success());
}

/// `curl -sS --fail -D - URL` on loopback, trusting `ca` when given.
fn curl(url: &str, ca: Option<&Path>) -> std::process::Output {
    let curl = find_program("curl")
        .expect("curl is missing: scripts/test installs it (apt-get install curl)");
    let mut c = std::process::Command::new(curl);
    c.args([
        "-sS",
        "--fail",
        "-D",
        "-",
        "--max-time",
        "60",
        "--noproxy",
        "*",
    ]);
    if let Some(ca) = ca {
        c.arg("--cacert").arg(ca);
    }
    c.arg(url).output().unwrap()
}

/// A certificate issued by the provider's own CA (made with the openssl
/// command line, as an operator would): curl trusts it through the CA, the
/// answer carries HSTS, and a client trusting another CA refuses it.
#[test]
fn a_ca_signed_certificate_serves_https_that_curl_trusts_through_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        let (key, pem, subj) = (
            format!("{ca}.key"),
            format!("{ca}.pem"),
            format!("/CN={ca}"),
        );
        args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
        openssl(d, &args);
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "key.pem",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=pramaan.test",
    ]);
    openssl(d, &args);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let s = Server::start_with(&[
        ("PRAMAAN_HTTP_TLS_CERT", cert.to_str().unwrap()),
        ("PRAMAAN_HTTP_TLS_KEY", key.to_str().unwrap()),
    ]);
    let url = format!("https://127.0.0.1:{}/healthz", s.http.port());
    let out = curl(&url, Some(&d.join("ca.pem")));
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        out.status.success(),
        "curl {url}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.stderr()
    );
    assert!(
        head.contains("strict-transport-security: max-age="),
        "{head}"
    );
    let other = curl(&url, Some(&d.join("other-ca.pem")));
    assert!(
        !other.status.success(),
        "a client trusting another CA must refuse"
    );
    // Plain HTTP to the TLS port is not served.
    let plain = curl(&format!("http://127.0.0.1:{}/healthz", s.http.port()), None);
    assert!(!plain.status.success());
}

/// Who searched what is itself personal data: an analyst's searches never
/// show pramaan's own records (the audit trail among them), and asking for
/// them is refused; an auditor sees them, the analyst's search included, and
/// no log lines.
#[test]
fn the_audit_trail_stays_out_of_analysts_searches_and_auditors_see_it() {
    let s = Server::start_with(&[("PRAMAAN_AUTH_AUDIT_READS", "true")]);
    let cwd = s.dir.path().to_owned();
    let url = s.url();
    s.ingest_lines(&["fw-1 deny src=10.9.8.7 dport=22", "fw-1 allow src=10.9.8.6"]);
    let token = |role: &str| {
        let created = json(&ok(cmd(
            &cwd,
            &[],
            &[
                "token", "create", "--name", role, "--role", role, "--json", "--server", &url,
            ],
            None,
        )));
        created["secret"].as_str().expect("a secret").to_owned()
    };
    let (analyst, auditor) = (token("analyst"), token("auditor"));
    let search = |secret: &str, extra: &[&str]| {
        let mut args = vec![
            "search", "--format", "json", "--limit", "0", "--server", &url,
        ];
        args.extend_from_slice(extra);
        cmd(&cwd, &[("PRAMAAN_TOKEN", secret)], &args, None)
    };
    let seen = ndjson(&ok(search(&analyst, &[])));
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|h| h["transport"] == "http"), "{seen:?}");
    let refused = search(&analyst, &["--internal"]);
    assert!(!refused.success(), "{refused:?}");
    assert!(refused.stderr.contains("auditor"), "{refused:?}");

    let internal = ndjson(&ok(search(&auditor, &["--internal"])));
    assert!(
        internal.iter().all(|h| h["transport"] == "internal"),
        "{internal:?}"
    );
    let audit: Vec<&Value> = internal
        .iter()
        .filter(|h| h["peer"] == "pramaan:audit")
        .collect();
    assert!(
        audit.iter().any(|h| {
            let raw = h["raw"].as_str().unwrap_or_default();
            raw.contains("\"search\"") && raw.contains("token:analyst")
        }),
        "the analyst's search is on the trail: {audit:?}"
    );
    let lines = search(&auditor, &[]);
    assert!(
        !lines.success() && lines.stderr.contains("analyst"),
        "{lines:?}"
    );
    // SQL through the server is for log lines only.
    let sql = ok(cmd(
        &cwd,
        &[("PRAMAAN_TOKEN", analyst.as_str())],
        &[
            "sql",
            "SELECT count(*) AS n FROM logs WHERE transport = 'internal'",
            "--json",
            "--server",
            &url,
        ],
        None,
    ));
    assert!(sql.stdout().contains("\"n\":0"), "{sql:?}");
}
