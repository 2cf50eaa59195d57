//! The web console as an attacker meets it, against the real `pramaan serve`
//! on loopback: a dashboard that thousands of invented host names cannot
//! blow up, CSV downloads that no spreadsheet runs as formulas, forms that
//! another site cannot post (whatever the login method), security headers
//! on every answer; and, kept as regression tests, what held under attack:
//! stored XSS, session fixation, spoofed identity headers, token revocation.

mod support;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest;
use support::*;

const ADMIN_PASSWORD: &str = "Console-sec-Passw0rd-1c4e";

/// What a request carries besides its headers.
enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Json(Value),
}

fn send(
    s: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    basic: Option<(&str, &str)>,
    body: Body<'_>,
) -> Answer {
    let url = format!("{}{path}", s.url());
    block_on(async {
        let mut r = bare().request(method.parse().unwrap(), &url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some((u, p)) = basic {
            r = r.basic_auth(u, Some(p));
        }
        r = match body {
            Body::None => r,
            Body::Form(f) => r.form(f),
            Body::Json(v) => r.json(&v),
        };
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

/// GET with the tests' admin token.
fn get_admin(s: &Server, path: &str) -> Answer {
    send(
        s,
        "GET",
        path,
        &[("authorization", &format!("Bearer {TEST_TOKEN}"))],
        None,
        Body::None,
    )
}

/// POST JSON with the tests' admin token.
fn post_admin(s: &Server, path: &str, body: Value) -> Answer {
    send(
        s,
        "POST",
        path,
        &[("authorization", &format!("Bearer {TEST_TOKEN}"))],
        None,
        Body::Json(body),
    )
}

/// A console login: the session cookie (`name=value`).
fn console_login(s: &Server, extra: &[(&str, &str)]) -> (Answer, Option<String>) {
    let a = send(
        s,
        "POST",
        "/console/login",
        extra,
        None,
        Body::Form(&[("user", "admin"), ("password", ADMIN_PASSWORD)]),
    );
    let cookie = a
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("pramaan_session="))
        .map(|c| c.split(';').next().unwrap().trim().to_owned());
    (a, cookie)
}

/// The value of the first `_csrf` field of a page.
fn csrf_in(html: &str) -> String {
    let key = r#"name="_csrf" value=""#;
    let i = html.find(key).expect("a CSRF field") + key.len();
    html[i..].split('"').next().unwrap().to_owned()
}

fn holds(s: &Server) -> Vec<Value> {
    let r = get_admin(s, "/api/v1/holds");
    assert_eq!(r.status, 200, "{}", r.body);
    match r.json() {
        Value::Array(a) => a,
        v => v["holds"].as_array().cloned().unwrap_or_default(),
    }
}

const HOLD: [(&str, &str); 6] = [
    ("from", "2026-01-01"),
    ("to", "2026-02-01"),
    ("source", ""),
    ("ip", ""),
    ("reason", "forged by another site"),
    ("order_ref", "EVIL/1"),
];

// ---------------------------------------------------------------- item 8

/// 2,000 invented host names in one ingest: the dashboard (every role's
/// landing page) stays small, says how many sources it leaves out, and
/// links to the next page of sources, which works.
#[test]
fn the_dashboard_stays_small_with_2000_sources_and_pages_the_rest() {
    let s = Server::start();
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("<134>1 - flood-{i:04}.example sshd - - - probe {i}"))
        .collect();
    s.ingest_lines(&lines);
    // A real source that went silent: lines 25 hours ago, none today. Ranked
    // first, it is on the dashboard whatever the flood.
    let yesterday = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 25 * 3600)
        .unwrap()
        .to_string();
    s.ingest_lines(&[format!(
        "<134>1 {yesterday} core-router sshd - - - link down"
    )]);

    let dash = get_admin(&s, "/console");
    assert_eq!(dash.status, 200, "{}", dash.body);
    assert!(
        dash.body.len() < 1_000_000,
        "the dashboard is {} bytes with 2,001 sources",
        dash.body.len()
    );
    let rows = dash.body.matches("<g data-source=").count();
    assert_eq!(rows, 50, "console.heatmap_rows rows by default");
    assert!(
        dash.body.contains("1951 source(s) not shown"),
        "the dashboard says how many sources it leaves out"
    );
    assert!(dash.body.contains("others (1951 sources)"));
    // The silent source comes first, before any of the flood.
    let first = dash.body.find("<g data-source=").unwrap();
    assert!(
        dash.body[first..].starts_with(r#"<g data-source="core-router""#),
        "{}",
        &dash.body[first..first + 80]
    );
    assert!(dash.body.contains(r#"href="/console/sources?page=2""#));

    let p2 = get_admin(&s, "/console/sources?page=2");
    assert_eq!(p2.status, 200, "{}", p2.body);
    assert!(p2.body.len() < 1_000_000);
    assert!(p2.body.contains("Page 2 of 41"), "2,001 sources, 50 a page");
    assert_eq!(p2.body.matches("<tr data-source=").count(), 50);
    assert!(!p2.body.contains(r#"data-source="core-router""#));
    assert!(p2.body.contains(r#"href="/console/sources?page=3""#));
    assert!(p2.body.contains(r#"href="/console/sources?page=1""#));
    // Page 1 of the table is the dashboard's rows; page 41 holds the last one.
    let p1 = get_admin(&s, "/console/sources");
    assert!(p1.body.contains(r#"<tr data-source="core-router""#));
    let last = get_admin(&s, "/console/sources?page=41");
    assert_eq!(last.body.matches("<tr data-source=").count(), 1);
    let bad = get_admin(&s, "/console/sources?page=zero");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a page number"), "{}", bad.body);

    // The logs card counts every silent source and names a few.
    assert!(
        dash.body
            .contains("1 log source(s) sent lines earlier but none today"),
        "{}",
        dash.body
    );
}

// ---------------------------------------------------------------- item 11

/// A minimal RFC 4180 reader: rows of cells.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

/// No cell a spreadsheet reads starts like a formula, and the raw column
/// holds `raws` (in any order).
fn check_csv(what: &str, text: &str, raws: &[String]) {
    let rows = parse_csv(text);
    assert_eq!(rows.len(), 1 + raws.len(), "{what}: {text}");
    let raw_col = rows[0]
        .iter()
        .position(|c| c == "raw")
        .expect("a raw column");
    for row in &rows {
        for c in row {
            assert!(
                !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{what}: the cell {c:?} starts like a formula"
            );
        }
    }
    let mut got: Vec<&str> = rows[1..].iter().map(|r| r[raw_col].as_str()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = raws.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want, "{what}");
}

/// Lines that start like formulas (`=HYPERLINK(...)`, `+1`, `-2`, `@SUM`),
/// and a line whose host and app do: each CSV view shows them as text, with
/// a `'` in front; NDJSON keeps the exact line.
#[test]
fn csv_views_neutralise_formulas_and_ndjson_keeps_the_bytes() {
    let s = Server::start();
    let tag = unique("fx");
    let lines = vec![
        format!(r#"=HYPERLINK("http://evil.example/?{tag}","click")"#),
        format!("+1 {tag}"),
        format!("-2 {tag}"),
        format!("@SUM(A1:A9) {tag}"),
        format!("<13>1 - -2host @SUM - - - {tag} parsed"),
    ];
    s.ingest_lines(&lines);
    // As a spreadsheet shows the raw column: every line but the last (it
    // starts with `<`) with a `'` in front.
    let shown: Vec<String> = lines
        .iter()
        .map(|l| {
            if l.starts_with('<') {
                l.clone()
            } else {
                format!("'{l}")
            }
        })
        .collect();

    // The console's download.
    let csv = get_admin(&s, &format!("/console/search/download?q={tag}&format=csv"));
    assert_eq!(csv.status, 200, "{}", csv.body);
    check_csv("console", &csv.body, &shown);
    assert!(csv.body.contains("\"'-2host\",\"'@SUM\""), "{}", csv.body);
    // NDJSON keeps the exact line.
    let nd = get_admin(
        &s,
        &format!("/console/search/download?q={tag}&format=ndjson"),
    );
    assert_eq!(nd.status, 200, "{}", nd.body);
    let mut raws: Vec<String> = nd
        .body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["raw"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    raws.sort_unstable();
    let mut want = lines.clone();
    want.sort_unstable();
    assert_eq!(raws, want);

    // The CLI's `search --format csv`.
    let dir = tempfile::tempdir().unwrap();
    let o = pramaan(dir.path())
        .args([
            "search",
            "--server",
            &s.url(),
            "--format",
            "csv",
            "--limit",
            "0",
            &tag,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    check_csv("cli", &text, &shown);
    assert!(text.contains("\"'-2host\",\"'@SUM\""), "{text}");
    // (records.csv in evidence bundles: crates/orders/tests/bundle.rs.)
}

// ---------------------------------------------------------------- item 14

#[test]
fn console_forms_need_the_session_token_or_a_same_origin_header_whatever_the_login() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let basic = Some(("admin", ADMIN_PASSWORD));
    let here = s.url();
    let post = |headers: &[(&str, &str)], basic: Option<(&str, &str)>, form: &[(&str, &str)]| {
        send(
            &s,
            "POST",
            "/console/holds",
            headers,
            basic,
            Body::Form(form),
        )
    };

    // HTTP Basic (a browser that cached the password), no token, no Origin.
    let r = post(&[], basic, &HOLD);
    assert_eq!(
        r.status, 403,
        "Basic without a same-origin header: {}",
        r.body
    );
    // Basic, from another site's page.
    let r = post(&[("origin", "https://evil.example")], basic, &HOLD);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(&[("sec-fetch-site", "cross-site")], basic, &HOLD);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(&[("origin", "null")], basic, &HOLD);
    assert_eq!(r.status, 403, "{}", r.body);
    // A look-alike host is another site.
    let r = post(&[("origin", &format!("{here}.evil.example"))], basic, &HOLD);
    assert_eq!(r.status, 403, "{}", r.body);
    // A bearer token, the same.
    let bearer = format!("Bearer {TEST_TOKEN}");
    let r = post(
        &[
            ("authorization", &bearer),
            ("origin", "https://evil.example"),
        ],
        None,
        &HOLD,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(&[("authorization", &bearer)], None, &HOLD);
    assert_eq!(
        r.status, 403,
        "a token without a same-origin header: {}",
        r.body
    );
    assert!(holds(&s).is_empty(), "no refused form placed a hold");

    // A session: its token is needed, and another site's page is refused even with it.
    let (_, cookie) = console_login(&s, &[]);
    let cookie = cookie.expect("a session cookie");
    let page = send(
        &s,
        "GET",
        "/console/holds",
        &[("cookie", &cookie)],
        None,
        Body::None,
    );
    let token = csrf_in(&page.body);
    let mut with_token = HOLD.to_vec();
    with_token.push(("_csrf", &token));
    let r = post(
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        None,
        &with_token,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &[("cookie", &cookie), ("sec-fetch-site", "same-site")],
        None,
        &with_token,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(holds(&s).is_empty());
    // Another site cannot log a browser into its own account either.
    let (r, c) = console_login(&s, &[("origin", "https://evil.example")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(c.is_none());

    // What a console page sends works: Basic with its own Origin or Sec-Fetch-Site ...
    let r = post(&[("origin", &here)], basic, &HOLD);
    assert_eq!(r.status, 303, "Basic from a console page: {}", r.body);
    let r = post(&[("sec-fetch-site", "same-origin")], basic, &HOLD);
    assert_eq!(r.status, 303, "{}", r.body);
    // ... and the session's form with its token (with or without Origin).
    let r = post(&[("cookie", &cookie)], None, &with_token);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = post(
        &[
            ("cookie", &cookie),
            ("origin", &here),
            ("sec-fetch-site", "same-origin"),
        ],
        None,
        &with_token,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(holds(&s).len(), 4);

    // The API: programs send no Origin and are not affected; a page of
    // another site is refused there too.
    let api = |origin: Option<&str>| {
        let mut h = vec![("authorization", bearer.as_str())];
        if let Some(o) = origin {
            h.push(("origin", o));
        }
        send(
            &s,
            "POST",
            "/api/v1/holds",
            &h,
            None,
            Body::Json(
                json!({"from": "2026-01-01", "to": "2026-01-02", "reason": "api", "order_ref": "API/1"}),
            ),
        )
    };
    assert_eq!(api(Some("https://evil.example")).status, 403);
    assert_eq!(api(None).status, 201);
    assert_eq!(holds(&s).len(), 5);
}

// ---------------------------------------------------------------- headers

#[test]
fn every_answer_carries_security_headers_and_pages_need_only_their_hashed_style() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    s.ingest_lines(&["<134>1 - fw1 sshd - - - hello"]);
    let (login, cookie) = console_login(&s, &[]);
    let cookie = cookie.unwrap();
    let login_page = send(&s, "GET", "/console/login", &[], None, Body::None);
    let mut pages = vec![login, login_page];
    for path in [
        "/console",
        "/console/sources",
        "/console/search?q=hello",
        "/console/records/0",
        "/console/holds",
        "/console/incidents",
        "/console/incidents/new",
        "/console/orders",
        "/console/orders/new",
        "/console/audit",
        "/console/settings",
        "/console/whois",
        "/console/subscribers",
        "/console/vasp",
        "/console/no-such-page",
    ] {
        pages.push(send(
            &s,
            "GET",
            path,
            &[("cookie", &cookie)],
            None,
            Body::None,
        ));
    }
    for p in &pages {
        assert_eq!(p.header("x-content-type-options"), "nosniff");
        assert_eq!(p.header("x-frame-options"), "DENY");
        assert_eq!(p.header("referrer-policy"), "same-origin");
        let csp = p.header("content-security-policy");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("form-action 'self'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
        if p.header("content-type").starts_with("text/html") && p.status == 200 {
            // The one <style> of the page is the one the policy allows, by its hash;
            // no style attribute, no script.
            let b = &p.body;
            assert_eq!(b.matches("<style>").count(), 1, "one style element");
            let css = &b[b.find("<style>").unwrap() + 7..b.find("</style>").unwrap()];
            let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css));
            assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
            assert!(
                !b.contains(" style="),
                "a style attribute the policy would block"
            );
            assert!(!b.contains("<script"));
        }
    }
    // API answers: nosniff (and no frame), refusals included.
    for r in [
        get_admin(&s, "/api/v1/status"),
        send(&s, "GET", "/api/v1/status", &[], None, Body::None),
        send(&s, "GET", "/healthz", &[], None, Body::None),
    ] {
        assert_eq!(r.header("x-content-type-options"), "nosniff");
        assert_eq!(r.header("x-frame-options"), "DENY");
    }
    // A refused request with a body may leave it unread: the answer says the
    // connection closes, so that no client sends its next request on it.
    let refused = send(
        &s,
        "POST",
        "/api/v1/incidents",
        &[],
        None,
        Body::Json(json!({})),
    );
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("connection"), "close");
    let refused_get = send(&s, "GET", "/api/v1/status", &[], None, Body::None);
    assert_eq!(refused_get.status, 401);
    assert_eq!(refused_get.header("connection"), "");
}

// ---------------------------------------------------------------- kept: XSS

const XSS: [&str; 3] = [
    "<script>alert(1)</script>",
    r#""><img src=x onerror=alert(1)>"#,
    r#""><svg/onload=alert(1)>"#,
];

/// Stored payloads in a log line (its host, app and text), an incident, a
/// hold, the point of contact and a login name come back escaped on every
/// console page that shows them.
#[test]
fn stored_xss_payloads_are_escaped_on_every_console_page() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    s.ingest_lines(&[
        format!("<134>1 - {} {} - - - {} {}", XSS[0], XSS[2], XSS[0], XSS[1]),
        format!("<134>Mar  3 14:02:11 {} sshd[1]: {}", XSS[0], XSS[1]),
    ]);
    let inc = post_admin(
        &s,
        "/api/v1/incidents",
        json!({
            "title": format!("{} {}", XSS[0], XSS[1]),
            "kinds": ["website-defacement"],
            "detected_at": "1h",
            "description": XSS[1],
            "iocs": XSS[0],
        }),
    );
    assert_eq!(inc.status, 201, "{}", inc.body);
    let id = inc.json()["id"].as_i64().expect("an incident id");
    let poc = send(
        &s,
        "PUT",
        "/api/v1/poc",
        &[("authorization", &format!("Bearer {TEST_TOKEN}"))],
        None,
        Body::Json(json!({
            "name": XSS[0], "designation": XSS[1], "organisation": XSS[2],
            "address": "1 MG Road", "email": "poc@example.in",
            "mobile": "+91 98450 00000", "office_phone": "+91 80 4000 0000",
        })),
    );
    assert_eq!(poc.status, 200, "{}", poc.body);
    let hold = post_admin(
        &s,
        "/api/v1/holds",
        json!({"from": "2026-01-01", "to": "2026-01-02", "reason": XSS[1], "order_ref": XSS[0]}),
    );
    assert_eq!(hold.status, 201, "{}", hold.body);
    // A login attempt under a payload's name lands in the audit trail.
    let _ = send(
        &s,
        "POST",
        "/console/login",
        &[],
        None,
        Body::Form(&[("user", XSS[0]), ("password", "x")]),
    );
    let (_, cookie) = console_login(&s, &[]);
    let cookie = cookie.unwrap();
    let seqs: Vec<u64> = s
        .search(&[("q", "alert(1)"), ("limit", "0")])
        .iter()
        .map(|h| h.seq)
        .collect();
    assert_eq!(seqs.len(), 2);
    let mut shown = 0;
    for path in [
        "/console".to_owned(),
        "/console/sources".to_owned(),
        format!("/console/search?q={}", urlencode("alert(1)")),
        format!("/console/search?host={}", urlencode(XSS[0])),
        format!("/console/records/{}", seqs[0]),
        format!("/console/records/{}", seqs[1]),
        "/console/incidents".to_owned(),
        format!("/console/incidents/{id}"),
        format!("/console/incidents/{id}/report"),
        "/console/holds".to_owned(),
        "/console/audit".to_owned(),
        "/console/settings".to_owned(),
        format!(
            "/console/whois?ip=203.0.113.1&at=1h&purpose={}",
            urlencode(XSS[1])
        ),
        format!("/console/login?next={}", urlencode(XSS[1])),
        format!("/console/holds?error={}", urlencode(XSS[0])),
    ] {
        let p = send(&s, "GET", &path, &[("cookie", &cookie)], None, Body::None);
        assert!(p.status < 500, "{path}: {}", p.status);
        for x in XSS {
            assert!(!p.body.contains(x), "{path} shows {x} unescaped");
        }
        assert!(!p.body.contains("<img"), "{path}");
        assert!(!p.body.contains("<svg/"), "{path}");
        assert_eq!(p.body.matches("<script").count(), 0, "{path}");
        if p.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") {
            shown += 1;
        }
    }
    assert!(
        shown >= 10,
        "the payloads were shown (escaped) on {shown} pages only"
    );
    // The incident report's HTML (the API's, for the e-mail) escapes them too.
    let html = get_admin(&s, &format!("/api/v1/incidents/{id}/report?format=html"));
    assert_eq!(html.status, 200, "{}", html.body);
    for x in XSS {
        assert!(
            !html.body.contains(x),
            "the HTML report shows {x} unescaped"
        );
    }
}

/// `s` percent-encoded for a query string (everything but letters and digits).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------- kept: sessions, identity, tokens

/// A session id that the client set before logging in is not the one it
/// gets, and does not authenticate.
#[test]
fn a_session_id_chosen_by_the_client_is_never_the_one_after_login() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let planted = "pramaan_session=attacker-chosen-session-id-0123456789abcdef";
    let (r, cookie) = console_login(&s, &[("cookie", planted)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = cookie.expect("a new session cookie");
    assert_ne!(cookie, planted);
    let api = send(
        &s,
        "POST",
        "/api/v1/login",
        &[("cookie", planted)],
        None,
        Body::Json(json!({"user": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(api.status, 200, "{}", api.body);
    assert!(!api.header("set-cookie").contains("attacker-chosen"));
    // The planted id opens nothing; the issued one does.
    let with = |c: &str| {
        send(
            &s,
            "GET",
            "/console/holds",
            &[("cookie", c)],
            None,
            Body::None,
        )
    };
    assert_eq!(with(planted).status, 303, "to the login page");
    assert_eq!(with(&cookie).status, 200);
    let me = send(
        &s,
        "GET",
        "/api/v1/me",
        &[("cookie", planted)],
        None,
        Body::None,
    );
    assert_eq!(me.status, 401);
}

/// `X-Pramaan-Actor` and `X-Forwarded-For` sent by a client change neither
/// who the server thinks is calling nor what the audit trail records.
#[test]
fn actor_and_forwarded_headers_from_a_client_change_no_identity() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let t = post_admin(
        &s,
        "/api/v1/tokens",
        json!({"name": "ana", "roles": "analyst"}),
    );
    assert_eq!(t.status, 201, "{}", t.body);
    let secret = t.json()["secret"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {secret}");
    let spoof = [
        ("authorization", auth.as_str()),
        ("x-pramaan-actor", "admin"),
        ("x-forwarded-for", "198.51.100.66"),
        ("x-real-ip", "198.51.100.66"),
    ];
    let me = send(&s, "GET", "/api/v1/me", &spoof, None, Body::None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["name"], "token:ana", "{}", me.body);
    // Admin-only routes stay closed.
    let users = send(&s, "GET", "/api/v1/users", &spoof, None, Body::None);
    assert_eq!(users.status, 403, "{}", users.body);
    // A hold placed with the spoofed headers is recorded under the token.
    let h = send(
        &s,
        "POST",
        "/api/v1/holds",
        &spoof,
        None,
        Body::Json(
            json!({"from": "2026-01-01", "to": "2026-01-02", "reason": "spoof", "order_ref": "SPOOF/1"}),
        ),
    );
    assert_eq!(h.status, 201, "{}", h.body);
    // A failed password under a forwarded address is recorded from the real peer.
    let bad = send(
        &s,
        "GET",
        "/api/v1/me",
        &[("x-forwarded-for", "198.51.100.66")],
        Some(("admin", "wrong-password")),
        Body::None,
    );
    assert_eq!(bad.status, 401);
    let audit = get_admin(&s, "/api/v1/audit?action=hold.add");
    assert_eq!(audit.status, 200, "{}", audit.body);
    let text = audit.body.clone();
    assert!(text.contains("token:ana"), "{text}");
    assert!(!text.contains("\"actor\":\"admin\""), "{text}");
    let failed = get_admin(&s, "/api/v1/audit?action=login.failed");
    assert!(failed.body.contains("127.0.0.1"), "{}", failed.body);
    assert!(!failed.body.contains("198.51.100.66"), "{}", failed.body);
}

/// A revoked token is refused on its very next request.
#[test]
fn a_revoked_token_is_refused_at_once() {
    let s = Server::start();
    let t = post_admin(
        &s,
        "/api/v1/tokens",
        json!({"name": "short-lived", "roles": "auditor"}),
    );
    assert_eq!(t.status, 201, "{}", t.body);
    let auth = format!("Bearer {}", t.json()["secret"].as_str().unwrap());
    let me = || {
        send(
            &s,
            "GET",
            "/api/v1/me",
            &[("authorization", &auth)],
            None,
            Body::None,
        )
    };
    assert_eq!(me().status, 200);
    let dash = send(
        &s,
        "GET",
        "/console",
        &[("authorization", &auth)],
        None,
        Body::None,
    );
    assert_eq!(dash.status, 200);
    let r = post_admin(&s, "/api/v1/tokens/short-lived/revoke", json!({}));
    assert!(r.status < 300, "{}: {}", r.status, r.body);
    assert_eq!(me().status, 401);
    let dash = send(
        &s,
        "GET",
        "/console",
        &[("authorization", &auth)],
        None,
        Body::None,
    );
    assert_eq!(
        dash.status, 303,
        "a console page sends the browser to log in"
    );
}
