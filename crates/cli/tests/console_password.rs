//! A person with a one-time password in the web console, against the real
//! `pramaan serve` on loopback: an administrator adds them
//! (`pramaan user add`), they log in through `/console/login`, every page
//! sends them to `/console/password` first, a wrong current password or two
//! different new ones are refused with a clear message, the change succeeds
//! and takes them to the page they asked for, and the old password no
//! longer logs in.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

const NEW_PASSWORD: &str = "asha-own-password-2026";

fn send(
    s: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> Answer {
    let url = format!("{}{path}", s.url());
    block_on(async {
        let mut r = bare().request(method.parse().unwrap(), &url);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        if let Some(f) = form {
            r = r.form(f);
        }
        let a = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        let status = a.status().as_u16();
        let headers = a.headers().clone();
        let body = a.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    })
}

fn console_login(s: &Server, user: &str, password: &str) -> Answer {
    send(
        s,
        "POST",
        "/console/login",
        None,
        Some(&[("user", user), ("password", password)]),
    )
}

/// The value of the first `_csrf` field of a page.
fn csrf_in(html: &str) -> String {
    let key = r#"name="_csrf" value=""#;
    let i = html.find(key).expect("a CSRF field") + key.len();
    html[i..].split('"').next().unwrap().to_owned()
}

/// The one-time password `pramaan user add` prints once.
fn add_user(s: &Server, name: &str, roles: &str) -> String {
    let mut c = pramaan(s.dir.path());
    c.args(["user", "add", name, "--role", roles, "--server", &s.url()]);
    let out = run(c, None, Duration::from_secs(120));
    assert!(out.success(), "{out:?}");
    out.stdout()
        .lines()
        .skip_while(|l| !l.contains("one-time password"))
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("no one-time password in {out:?}"))
        .to_owned()
}

#[test]
fn a_one_time_password_is_changed_in_the_console_before_anything_else() {
    let s = Server::start();
    let otp = add_user(&s, "asha", "analyst");

    // She logs in with the one-time password: a session, then the dashboard...
    let login = console_login(&s, "asha", &otp);
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = login.session().expect("a session cookie");
    // ...which, like every page, sends her to the password page first, with
    // the page she asked for to come back to.
    let dash = send(&s, "GET", "/console", Some(&cookie), None);
    assert_eq!(dash.status, 303, "{}", dash.body);
    assert_eq!(dash.header("location"), "/console/password?next=%2Fconsole");
    let holds = send(&s, "GET", "/console/holds", Some(&cookie), None);
    assert_eq!(holds.status, 303, "{}", holds.body);
    assert_eq!(
        holds.header("location"),
        "/console/password?next=%2Fconsole%2Fholds"
    );
    // The API says the same to the same session, as JSON.
    let api = send(&s, "GET", "/api/v1/status", Some(&cookie), None);
    assert_eq!(api.status, 403, "{}", api.body);
    let err: Value = serde_json::from_str(&api.body).expect("a JSON refusal");
    assert!(
        err["error"]
            .as_str()
            .unwrap_or_default()
            .contains("one-time password"),
        "{err}"
    );

    // The page says why and carries the form.
    let page = send(&s, "GET", holds.header("location"), Some(&cookie), None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Your password is one-time"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"name="next" value="/console/holds""#));
    let csrf = csrf_in(&page.body);
    let post = |fields: &[(&str, &str)]| {
        let mut f = vec![("next", "/console/holds")];
        f.extend_from_slice(fields);
        send(&s, "POST", "/console/password", Some(&cookie), Some(&f))
    };

    // Without the session's CSRF token, nothing changes.
    let forged = post(&[
        ("current", &otp),
        ("new", NEW_PASSWORD),
        ("again", NEW_PASSWORD),
    ]);
    assert_eq!(forged.status, 403, "{}", forged.body);
    // A wrong current password.
    let wrong = post(&[
        ("_csrf", &csrf),
        ("current", "not-the-one-time-password"),
        ("new", NEW_PASSWORD),
        ("again", NEW_PASSWORD),
    ]);
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(
        wrong.body.contains("the current password is wrong"),
        "{}",
        wrong.body
    );
    assert!(
        !wrong.body.contains(NEW_PASSWORD),
        "the page echoes a password"
    );
    // Two different new passwords.
    let mismatch = post(&[
        ("_csrf", &csrf),
        ("current", &otp),
        ("new", NEW_PASSWORD),
        ("again", "asha-own-password-2027"),
    ]);
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    assert!(
        mismatch.body.contains("two new passwords are not the same"),
        "{}",
        mismatch.body
    );
    // The API's rules hold here too: too short.
    let short = post(&[
        ("_csrf", &csrf),
        ("current", &otp),
        ("new", "short"),
        ("again", "short"),
    ]);
    assert_eq!(short.status, 400, "{}", short.body);
    assert!(short.body.contains("too short"), "{}", short.body);
    // Still one-time: every refusal above changed nothing.
    let still = send(&s, "GET", "/console", Some(&cookie), None);
    assert_eq!(still.status, 303, "{}", still.body);

    // The change: on to the page she asked for, in a new session.
    let changed = post(&[
        ("_csrf", &csrf),
        ("current", &otp),
        ("new", NEW_PASSWORD),
        ("again", NEW_PASSWORD),
    ]);
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(changed.header("location"), "/console/holds");
    let fresh = changed.session().expect("a new session cookie");
    assert_ne!(fresh, cookie);
    let holds = send(&s, "GET", "/console/holds", Some(&fresh), None);
    assert_eq!(holds.status, 200, "{}", holds.body);
    let dash = send(&s, "GET", "/console", Some(&fresh), None);
    assert_eq!(dash.status, 200, "{}", dash.body);
    // The session of the one-time password ended with it.
    let old = send(&s, "GET", "/console", Some(&cookie), None);
    assert_eq!(old.status, 303);
    assert!(old.header("location").starts_with("/console/login"));

    // The old password no longer logs in; the new one does.
    let again = console_login(&s, "asha", &otp);
    assert_eq!(again.status, 401, "{}", again.body);
    assert!(again.body.contains("Wrong user name or password."));
    assert!(again.session().is_none());
    let new = console_login(&s, "asha", NEW_PASSWORD);
    assert_eq!(new.status, 303, "{}", new.body);
    assert_eq!(new.header("location"), "/console");

    // The audit trail has the change, by herself, as the API records it.
    let trail = s.get(
        "/api/v1/audit",
        &[("action", "user.password"), ("actor", "asha")],
    );
    assert_eq!(trail.status, 200, "{}", trail.text());
    let recs: Vec<Value> = trail
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["subject"], "asha", "{recs:?}");
}

#[test]
fn a_token_or_an_anonymous_browser_cannot_change_a_password_here() {
    let s = Server::start();
    // Anonymous: the login page, coming back here.
    let anon = send(&s, "GET", "/console/password", None, None);
    assert_eq!(anon.status, 303);
    assert_eq!(
        anon.header("location"),
        "/console/login?next=%2Fconsole%2Fpassword"
    );
    // The admin token is authenticated but has no password: the page says
    // so, and a form it posts (from a console page) is refused.
    let page = s.get("/console/password", &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("A token has no password"));
    let body = format!("current=x-current-password&new={NEW_PASSWORD}&again={NEW_PASSWORD}");
    let refused = s.post(
        "/console/password",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("sec-fetch-site", "same-origin"),
        ],
        body.into_bytes(),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("a token has no password"));
}
