//! Access control as an attacker meets it, against the real `pramaan serve`:
//! CSRF protection of cookie sessions, lock-out after failed logins, mutual
//! TLS on the syslog TLS listener, and no secrets in the server's own log.

mod support;

use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::*;

const ADMIN_PASSWORD: &str = "Adm1n-e2e-Passw0rd-7f3c9b";

/// An HTTP client without the tests' bearer token: it authenticates only
/// with what each request carries (a session cookie, HTTP Basic).
fn bare_client() -> &'static reqwest::Client {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client")
    })
}

/// An answer: status, `Set-Cookie` values, body.
struct Answer {
    status: u16,
    set_cookie: Vec<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// POST `body` as JSON to `path` with `headers`, without the bearer token.
fn post_bare(s: &Server, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
    let url = format!("{}{path}", s.url());
    block_on(async {
        let mut req = bare_client()
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e:?}"));
        let status = r.status().as_u16();
        let set_cookie = r
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let body = r.text().await.unwrap_or_default();
        Answer {
            status,
            set_cookie,
            body,
        }
    })
}

fn login(s: &Server, user: &str, password: &str) -> Answer {
    post_bare(
        s,
        "/api/v1/login",
        &[],
        &json!({ "user": user, "password": password }),
    )
}

/// A logged-in session: the `Cookie` header value and the CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    must_change: bool,
}

fn session(s: &Server, user: &str, password: &str) -> Session {
    let a = login(s, user, password);
    assert_eq!(a.status, 200, "login as {user}: {}", a.body);
    let sc = a
        .set_cookie
        .iter()
        .find(|c| c.starts_with("pramaan_session="))
        .unwrap_or_else(|| panic!("no session cookie in {:?}", a.set_cookie));
    assert!(sc.contains("HttpOnly"), "{sc}");
    assert!(sc.contains("SameSite=Strict"), "{sc}");
    let cookie = sc.split(';').next().unwrap().trim().to_owned();
    let v = a.json();
    let csrf = v["csrf_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no csrf_token: {v}"))
        .to_owned();
    assert!(!csrf.is_empty());
    Session {
        cookie,
        csrf,
        must_change: v["must_change_password"]
            .as_bool()
            .expect("must_change_password"),
    }
}

fn token_names(s: &Server) -> Vec<String> {
    let r = s.get("/api/v1/tokens", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .expect("a list of tokens")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_cookie_session_needs_the_csrf_token_for_state_changing_requests() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let admin = session(&s, "admin", ADMIN_PASSWORD);
    // A password given at first start is the administrator's own choice.
    assert!(!admin.must_change);

    let create = |name: &str, csrf: Option<&str>| {
        let mut h = vec![("cookie", admin.cookie.as_str())];
        if let Some(c) = csrf {
            h.push(("x-csrf-token", c));
        }
        post_bare(
            &s,
            "/api/v1/tokens",
            &h,
            &json!({ "name": name, "roles": "auditor" }),
        )
    };
    let none = create("csrf-none", None);
    assert_eq!(none.status, 403, "without X-CSRF-Token: {}", none.body);
    assert!(none.body.contains("X-CSRF-Token"), "{}", none.body);
    let wrong = create("csrf-wrong", Some("not-the-csrf-token"));
    assert_eq!(wrong.status, 403, "with a wrong token: {}", wrong.body);
    let empty = create("csrf-empty", Some(""));
    assert_eq!(empty.status, 403, "with an empty token: {}", empty.body);
    // Another session's token does not do either.
    let other = session(&s, "admin", ADMIN_PASSWORD);
    assert_ne!(other.csrf, admin.csrf);
    let crossed = create("csrf-crossed", Some(&other.csrf));
    assert_eq!(
        crossed.status, 403,
        "another session's token: {}",
        crossed.body
    );
    let right = create("csrf-right", Some(&admin.csrf));
    assert_eq!(right.status, 201, "with the right token: {}", right.body);
    assert!(right.json()["secret"].as_str().is_some(), "{}", right.body);

    // Only the accepted request changed anything.
    let names = token_names(&s);
    assert!(names.contains(&"csrf-right".to_owned()), "{names:?}");
    for refused in ["csrf-none", "csrf-wrong", "csrf-empty", "csrf-crossed"] {
        assert!(!names.contains(&refused.to_owned()), "{refused}: {names:?}");
    }

    // A cookie GET needs no CSRF token.
    let me = block_on(async {
        bare_client()
            .get(format!("{}/api/v1/me", s.url()))
            .header("cookie", &admin.cookie)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(me, 200);

    // A user with a one-time password may only change it, CSRF-checked too.
    let added = s.post(
        "/api/v1/users",
        &[("content-type", "application/json")],
        serde_json::to_vec(&json!({ "name": "bob", "roles": "analyst" })).unwrap(),
    );
    assert_eq!(added.status, 201, "{}", added.text());
    let otp = added.json()["one_time_password"]
        .as_str()
        .expect("one_time_password")
        .to_owned();
    let bob = session(&s, "bob", &otp);
    assert!(bob.must_change);
    let blocked = post_bare(
        &s,
        "/api/v1/tokens",
        &[("cookie", &bob.cookie), ("x-csrf-token", &bob.csrf)],
        &json!({ "name": "bob-token", "roles": "analyst" }),
    );
    assert_eq!(blocked.status, 403, "{}", blocked.body);
    let change = json!({ "current": otp, "new": "bob-new-password-0042" });
    let no_csrf = post_bare(&s, "/api/v1/password", &[("cookie", &bob.cookie)], &change);
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let changed = post_bare(
        &s,
        "/api/v1/password",
        &[("cookie", &bob.cookie), ("x-csrf-token", &bob.csrf)],
        &change,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let bob2 = session(&s, "bob", "bob-new-password-0042");
    assert!(!bob2.must_change);
    assert_eq!(login(&s, "bob", &otp).status, 401);
}

#[test]
fn repeated_wrong_passwords_lock_the_user_out_until_the_lockout_ends() {
    let s = Server::start_with(&[
        ("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("PRAMAAN_AUTH_MAX_FAILURES", "3"),
        ("PRAMAAN_AUTH_LOCKOUT", "3s"),
    ]);
    // Sanity: the right password works before anything happened.
    assert_eq!(login(&s, "admin", ADMIN_PASSWORD).status, 200);
    for i in 0..3 {
        let a = login(&s, "admin", &format!("wrong-password-{i}"));
        assert_eq!(a.status, 401, "wrong password {i}: {}", a.body);
    }
    let last_failure = Instant::now();
    let locked = login(&s, "admin", ADMIN_PASSWORD);
    assert_eq!(
        locked.status, 429,
        "the right password during the lock-out: {}",
        locked.body
    );
    // HTTP Basic is locked the same way.
    let basic = block_on(async {
        bare_client()
            .get(format!("{}/api/v1/me", s.url()))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(basic, 429, "HTTP Basic during the lock-out");
    // Another user name is not locked.
    let other = login(&s, "nobody-here", "whatever-password");
    assert_eq!(other.status, 401, "{}", other.body);

    // After the lock-out (3 s from the last failure) the right password works.
    let wait = Duration::from_millis(3300).saturating_sub(last_failure.elapsed());
    std::thread::sleep(wait);
    let ok = wait_until(Duration::from_secs(30), "the lock-out to end", || {
        let a = login(&s, "admin", ADMIN_PASSWORD);
        match a.status {
            200 => Some(a),
            429 => {
                std::thread::sleep(Duration::from_millis(300));
                None
            }
            other => panic!("after the lock-out: {other} {}", a.body),
        }
    });
    assert!(ok.json()["csrf_token"].as_str().is_some());
    assert!(last_failure.elapsed() >= Duration::from_secs(3));
}

// ---------------------------------------------------------------- mTLS

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// A self-signed certificate (`name.pem`, `name.key`) with extra `-addext`s.
fn self_signed(dir: &Path, name: &str, cn: &str, ext: &[&str]) {
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN={cn}"),
    );
    let mut a = vec!["req", "-x509"];
    a.extend(EC);
    a.extend(["-nodes", "-days", "2", "-subj", &subj]);
    for e in ext {
        a.extend(["-addext", e]);
    }
    a.extend(["-keyout", &key, "-out", &pem]);
    openssl(dir, &a);
}

/// A client certificate `name.pem`/`name.key` signed by `ca`.
fn client_signed_by(dir: &Path, name: &str, ca: &str) {
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let subj = format!("/CN={name}");
    let mut a = vec!["req"];
    a.extend(EC);
    a.extend(["-nodes", "-subj", &subj, "-keyout", &key, "-out", &csr]);
    openssl(dir, &a);
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}

/// Sends `bytes` over TLS with `openssl s_client`, presenting `client`
/// (`name.pem`/`name.key`) when given; waits for s_client to finish.
fn s_client(dir: &Path, addr: SocketAddr, client: Option<&str>, bytes: &[u8]) {
    let mut c = Command::new("openssl");
    c.current_dir(dir).args([
        "s_client",
        "-quiet",
        "-no_ign_eof",
        "-verify_return_error",
        "-connect",
        &addr.to_string(),
        "-CAfile",
        "server.pem",
    ]);
    if let Some(n) = client {
        c.args(["-cert", &format!("{n}.pem"), "-key", &format!("{n}.key")]);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(bytes);
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openssl s_client did not finish within 60s");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn tls_addr(s: &Server) -> SocketAddr {
    let text = std::fs::read_to_string(s.dir.path().join("ready.json")).expect("the ready file");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["tls"]
        .as_str()
        .unwrap_or_else(|| panic!("no TLS listener in the ready file: {text}"))
        .parse()
        .unwrap()
}

#[test]
fn the_tls_listener_with_a_client_ca_takes_only_senders_with_a_certificate_it_signed() {
    if find_program("openssl").is_none() {
        eprintln!("SKIPPED: openssl is not installed; {TEST_COMMAND_HINT}");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    self_signed(
        d,
        "server",
        "localhost",
        &["subjectAltName=IP:127.0.0.1,DNS:localhost"],
    );
    self_signed(
        d,
        "ca",
        "pramaan e2e sender CA",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    client_signed_by(d, "good", "ca");
    // Unrelated: its own CA, with the same subject as the good one.
    self_signed(
        d,
        "otherca",
        "pramaan e2e sender CA",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    client_signed_by(d, "stranger", "otherca");
    let path = |n: &str| -> PathBuf { d.join(n) };
    let (cert, key, ca) = (path("server.pem"), path("server.key"), path("ca.pem"));
    let s = Server::start_with(&[
        ("PRAMAAN_SYSLOG_TLS_LISTEN", "127.0.0.1:0"),
        ("PRAMAAN_SYSLOG_TLS_CERT", cert.to_str().unwrap()),
        ("PRAMAAN_SYSLOG_TLS_KEY", key.to_str().unwrap()),
        ("PRAMAAN_SYSLOG_TLS_CLIENT_CA", ca.to_str().unwrap()),
    ]);
    let addr = tls_addr(&s);
    assert!(addr.ip().is_loopback(), "{addr}");
    let refused = |m: &Metrics| {
        m.sum(
            "pramaan_connections_refused_total",
            &[("transport", "tls"), ("reason", "handshake")],
        )
    };
    let before = refused(&s.metrics());

    let line = |text: &str| octet(format!("<13>1 - mtlshost app - - - {text}").as_bytes());
    let good = unique("mtls-good");
    s_client(d, addr, Some("good"), &line(&good));
    let hit = s.wait_for_text(&good);
    assert_eq!(hit.str("transport"), Some("tls"), "{:?}", hit.json);
    assert_eq!(hit.raw_text(), format!("<13>1 - mtlshost app - - - {good}"));

    let stranger = unique("mtls-stranger");
    s_client(d, addr, Some("stranger"), &line(&stranger));
    let anonymous = unique("mtls-anonymous");
    s_client(d, addr, None, &line(&anonymous));

    s.wait_for_metric(
        "pramaan_connections_refused_total",
        &[("transport", "tls"), ("reason", "handshake")],
        before + 2.0,
    );
    // The good sender still gets through afterwards (ordering: once its
    // line is stored, anything the refused ones could have sent earlier would be too).
    let after = unique("mtls-good-after");
    s_client(d, addr, Some("good"), &line(&after));
    s.wait_for_text(&after);
    for text in [&stranger, &anonymous] {
        let h = s.search_all_of(&[("q", text)]);
        assert!(h.is_empty(), "a refused sender's line was stored: {h:?}");
    }
    let all = s.search_all_of(&[("q", "mtlshost")]);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(refused(&s.metrics()), before + 2.0);
}

// ---------------------------------------------------------------- logs

#[test]
fn the_server_log_holds_no_passwords_or_token_secrets_even_at_debug() {
    let wrong = "Wr0ng-Distinctive-Pa55word-q8z4";
    let mut s = Server::start_with(&[
        ("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("PRAMAAN_LOG_LEVEL", "debug"),
    ]);
    let bad = login(&s, "admin", wrong);
    assert_eq!(bad.status, 401, "{}", bad.body);
    let basic_bad = block_on(async {
        bare_client()
            .get(format!("{}/api/v1/me", s.url()))
            .basic_auth("admin", Some(wrong))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(basic_bad, 401);
    let admin = session(&s, "admin", ADMIN_PASSWORD);
    let created = post_bare(
        &s,
        "/api/v1/tokens",
        &[("cookie", &admin.cookie), ("x-csrf-token", &admin.csrf)],
        &json!({ "name": "log-check", "roles": "auditor" }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.json()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    // The new token is used once, so that using it is logged too.
    let used = block_on(async {
        bare_client()
            .get(format!("{}/api/v1/me", s.url()))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(used, 200);
    let st = s.stop();
    assert!(st.success(), "{st}");

    let log = s.stderr();
    // The log is there, at debug, and tells of the refused login.
    assert!(log.contains("refused a login"), "{log}");
    assert!(log.contains("DEBUG"), "no debug messages in:\n{log}");
    let session_id = admin.cookie.trim_start_matches("pramaan_session=");
    for (what, value) in [
        ("the admin password", ADMIN_PASSWORD),
        ("the wrong password", wrong),
        ("the bootstrap token", TEST_TOKEN),
        ("the created token's secret", secret.as_str()),
        ("the session id", session_id),
        ("the CSRF token", admin.csrf.as_str()),
    ] {
        assert!(
            !value.is_empty() && !log.contains(value),
            "{what} is in the server's log"
        );
    }
}
