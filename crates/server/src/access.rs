//! Access control for the HTTP API: ONE table saying which roles may call
//! each route, and the middleware that enforces it on the whole router.
//!
//! * Every request is matched against [`TABLE`] by method and route pattern
//!   (axum's `MatchedPath`, e.g. `/api/v1/holds/{id}/release`). A pattern
//!   ending in `*` covers every route that starts with what comes before it.
//!   The most specific (longest) matching row wins.
//! * A route that no row covers is refused with 403 to everyone but `admin`
//!   (fail closed): a route added without a row cannot leak.
//!   `crates/server/tests/access.rs` walks the router and fails on such a route.
//! * `admin` passes every check.
//! * Callers authenticate with `Authorization: Bearer <token>` (machines),
//!   HTTP Basic (people, scripts) or the `pramaan_session` cookie from
//!   `POST /api/v1/login` (people in a browser). A state-changing request
//!   made with the cookie must carry the session's CSRF token in
//!   `X-CSRF-Token` (a console form: the `_csrf` field). A console form
//!   sent with Basic or a token must come from a console page (a
//!   same-origin `Origin` or `Sec-Fetch-Site`), and any state-changing
//!   request a browser marks as sent by another site is refused, whatever
//!   the credentials ([`cross_site`]).
//! * [`security_headers`] puts `nosniff`, `X-Frame-Options`, a Content
//!   Security Policy and `Referrer-Policy` on every answer.
//! * The handler finds the caller as an [`Identity`] request extension, and
//!   the `X-Pramaan-Actor` header is overwritten with the caller's name (so
//!   components that read it record the real user).
//! * Rows with an audit action make the middleware append an audit record
//!   (`pramaan:audit`): who, what, the query or body (for rows that say so).
//!   Reads (searches, SQL, the audit trail: `Audit::Read*`) are recorded
//!   before the handler runs, with outcome `allowed`; when the record
//!   cannot be written the request is answered 503 and never runs. Other
//!   rows are recorded once the handler answered, with the status.

use crate::api::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use pramaan_auth::audit::{self, AuditEvent};
use pramaan_auth::{Auth, AuthStore, Identity, LoginError, Role};
use pramaan_config::Config;
use pramaan_vault::sink::VaultSink;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use pramaan_app::access::PASSWORD_CHANGE_ROUTES;
pub use pramaan_app::access::{allowed, Audit, Need, Rule, TABLE};

/// The row for a request (see [`pramaan_app::access::lookup`]).
pub fn lookup(method: &Method, pattern: &str) -> Option<&'static Rule> {
    pramaan_app::access::lookup(method.as_str(), pattern)
}

pub use pramaan_auth::Identity as Caller;

/// The access part of the server's state (one field of [`AppState`]).
pub struct AccessState {
    pub auth: Auth,
    pub sink: VaultSink,
    /// HTTPS is on: cookies are `Secure`, responses carry HSTS.
    pub tls: bool,
    pub metrics_public: bool,
    /// `auth.audit_reads`.
    pub audit_reads: bool,
}

/// Configuration of the limiter from `[auth]`.
pub fn limiter_config(cfg: &Config) -> pramaan_auth::limiter::LimiterConfig {
    pramaan_auth::limiter::LimiterConfig {
        max_failures: cfg.auth.max_failures as u32,
        lockout_ns: cfg.auth.lockout.as_nanos().min(i64::MAX as u128) as i64,
        per_address_per_minute: cfg.auth.login_rate as u32,
    }
}

impl AccessState {
    pub fn open(
        vault: &pramaan_vault::Vault,
        cfg: &Config,
    ) -> Result<Self, pramaan_auth::AuthError> {
        let store = AuthStore::open(&pramaan_auth::store::path_in(&cfg.data_dir))?;
        Ok(AccessState {
            auth: Auth::new(
                store,
                limiter_config(cfg),
                cfg.auth.session_ttl.as_nanos().min(i64::MAX as u128) as i64,
            )?,
            sink: VaultSink::new(vault.clone()),
            tls: cfg.http.tls_cert.is_some() && cfg.http.tls_key.is_some(),
            metrics_public: cfg.metrics.public,
            audit_reads: cfg.auth.audit_reads,
        })
    }

    /// Appends an audit record; a failure is logged (the vault is closing or read-only).
    pub async fn audit(&self, ev: AuditEvent) {
        if let Err(e) = audit::record(&self.sink, &ev).await {
            tracing::error!(error = %e, action = %ev.action, "could not append an audit record");
        }
    }
}

/// Environment variable: the first admin's password (else a one-time one is printed).
pub const ENV_ADMIN_PASSWORD: &str = "PRAMAAN_ADMIN_PASSWORD";
/// Environment variable: a token with the admin role stored at start (automation, tests).
pub const ENV_BOOTSTRAP_TOKEN: &str = "PRAMAAN_BOOTSTRAP_TOKEN";

/// At start: the first admin user when there is no user, and the bootstrap
/// token when one is given. Secrets go to standard error once, never to the log.
pub fn bootstrap(cfg: &Config) -> Result<(), pramaan_auth::AuthError> {
    let store = AuthStore::open(&pramaan_auth::store::path_in(&cfg.data_dir))?;
    let now = pramaan_core::time::now_ns();
    let admins = pramaan_auth::RoleSet::of(&[Role::Admin]);
    if store.user_count()? == 0 {
        match std::env::var(ENV_ADMIN_PASSWORD) {
            Ok(p) if !p.is_empty() => {
                store.add_user("admin", &p, admins, false, now)?;
                tracing::info!(
                    "created the user `admin` with the password from ${ENV_ADMIN_PASSWORD}"
                );
            }
            _ => {
                let p = pramaan_auth::secret::one_time_password()?;
                store.add_user("admin", &p, admins, true, now)?;
                eprintln!(
                    "\npramaan: created the user `admin` with the one-time password\n\n    {p}\n\n\
                     It is shown only now. Change it: printf '%s\\n%s\\n' OLD NEW | pramaan user passwd admin --own --server URL\n"
                );
                tracing::info!("created the user `admin` with a one-time password (printed once on standard error)");
            }
        }
    }
    if let Ok(t) = std::env::var(ENV_BOOTSTRAP_TOKEN) {
        if !t.is_empty() {
            store.ensure_token("bootstrap", &t, admins, "environment", now)?;
        }
    }
    Ok(())
}

fn deny(status: StatusCode, msg: &str) -> Response {
    let mut r = (status, Json(serde_json::json!({ "error": msg }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"pramaan\", charset=\"UTF-8\""),
        );
    }
    r
}

/// The form field a console form carries the session's CSRF token in.
pub const CSRF_FIELD: &str = "_csrf";

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// One field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The authority (`host[:port]`) the request was sent to: HTTP/2's
/// `:authority`, else the `Host` header.
fn request_authority(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// Whether an `Origin` (`scheme://host[:port]`) names the authority the
/// request was sent to (ASCII case ignored, the scheme's default port
/// optional). The scheme itself is not compared: behind a proxy that ends
/// TLS, pages are `https` while the server sees `http`.
fn origin_is(origin: &str, authority: &str) -> bool {
    let Some((scheme, auth)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let norm = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default) {
            Some(b) => b.to_owned(),
            None => a,
        }
    };
    !auth.is_empty() && !auth.contains('/') && norm(auth) == norm(authority)
}

/// Why a state-changing request comes from another site's page, if it does:
/// `Sec-Fetch-Site` other than `same-origin` or `none` (the user's own
/// action), or an `Origin` (`null` included) that is not this server.
pub fn cross_site(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    if let Some(v) = headers.get("sec-fetch-site") {
        let v = v.to_str().unwrap_or("?").trim().to_ascii_lowercase();
        if v != "same-origin" && v != "none" {
            return Some(format!("Sec-Fetch-Site: {v}"));
        }
    }
    if let Some(o) = headers.get(header::ORIGIN) {
        let o = o.to_str().unwrap_or("?").trim();
        let here = request_authority(headers, uri).unwrap_or_default();
        if !origin_is(o, &here) {
            return Some(format!("Origin: {o}"));
        }
    }
    None
}

/// Whether the browser says the request comes from one of this server's
/// pages (`Sec-Fetch-Site: same-origin`, or an `Origin` naming this server).
pub fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    if cross_site(headers, uri).is_some() {
        return false;
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("same-origin"));
    fetch_site || headers.contains_key(header::ORIGIN)
}

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pramaan_session";
/// The header a cookie-authenticated state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

enum Credentials {
    None,
    Bearer(String),
    Basic(String, String),
    Session(String),
    Malformed,
}

fn credentials(headers: &HeaderMap) -> Credentials {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let Ok(v) = v.to_str() else {
            return Credentials::Malformed;
        };
        let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v, ""));
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Credentials::Bearer(rest.trim().to_owned()),
            "basic" => base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
                .map(|(u, p)| Credentials::Basic(u, p))
                .unwrap_or(Credentials::Malformed),
            _ => Credentials::Malformed,
        };
    }
    match session_cookie(headers) {
        Some(s) => Credentials::Session(s),
        None => Credentials::None,
    }
}

fn peer(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Who is calling, or the answer refusing them.
async fn authenticate(
    app: &Arc<AppState>,
    headers: &HeaderMap,
    from: IpAddr,
) -> Result<Option<Identity>, Response> {
    let st = app.access();
    let now = pramaan_core::time::now_ns();
    let internal = |e: pramaan_auth::AuthError| {
        tracing::error!(error = %e, "authentication failed");
        deny(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
    };
    match credentials(headers) {
        Credentials::None => Ok(None),
        Credentials::Malformed => Err(deny(
            StatusCode::UNAUTHORIZED,
            "the Authorization header is not `Bearer <token>` or `Basic <base64 user:password>`",
        )),
        Credentials::Bearer(t) => match st.auth.by_token(&t, now).map_err(internal)? {
            Some(id) => Ok(Some(id)),
            None => {
                tracing::info!(from = %from, "refused a request: unknown, revoked or expired token");
                Err(deny(
                    StatusCode::UNAUTHORIZED,
                    "the token is unknown, revoked or expired",
                ))
            }
        },
        Credentials::Session(s) => match st.auth.by_session(&s, now).map_err(internal)? {
            Some(id) => Ok(Some(id)),
            None => Err(deny(
                StatusCode::UNAUTHORIZED,
                "the session has ended; log in again",
            )),
        },
        Credentials::Basic(user, password) => {
            // argon2 is CPU work: off the async threads.
            let (app2, u) = (app.clone(), user.clone());
            let res = tokio::task::spawn_blocking(move || {
                app2.access().auth.check_password(&u, &password, from, now)
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "password check failed");
                deny(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log",
                )
            })?;
            match res {
                Ok(id) => Ok(Some(id)),
                Err(e) => Err(login_refused(st, &user, from, e, "basic").await),
            }
        }
    }
}

/// The answer to a refused login (or Basic authentication), after recording it.
pub async fn login_refused(
    st: &AccessState,
    user: &str,
    from: IpAddr,
    e: LoginError,
    how: &str,
) -> Response {
    tracing::info!(user = %user, from = %from, reason = %e, "refused a login");
    st.audit(
        AuditEvent::new(audit::action::LOGIN_FAILED, user, user)
            .outcome("refused")
            .detail("reason", e.to_string())
            .detail("from", from.to_string())
            .detail("method", how),
    )
    .await;
    match e {
        LoginError::BadCredentials => deny(StatusCode::UNAUTHORIZED, "wrong user name or password"),
        LoginError::Locked { .. } | LoginError::RateLimited => {
            let mut r = deny(StatusCode::TOO_MANY_REQUESTS, &e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            r
        }
        LoginError::Store(e) => {
            tracing::error!(error = %e, "login failed");
            deny(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log",
            )
        }
    }
}

fn with_hsts(mut r: Response, tls: bool) -> Response {
    if tls {
        r.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    r
}

/// The middleware: authenticate, check the table, record, then call the handler.
pub async fn guard(State(app): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let st = app.access();
    let tls = st.tls;
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let rule = pattern.as_deref().and_then(|p| lookup(req.method(), p));
    let public = match rule.map(|r| r.need) {
        Some(Need::Public) => true,
        Some(Need::Metrics(_)) => st.metrics_public,
        _ => false,
    };
    let console = crate::api::console::is_console(req.uri().path());
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // A browser says where a request comes from: a state-changing request
    // sent by another site's page is refused whoever the caller is (the login
    // form included). Programs send neither header and are not affected.
    if !safe {
        if let Some(why) = cross_site(req.headers(), req.uri()) {
            tracing::info!(path = %req.uri().path(), why = %why, "refused a cross-site request");
            let msg = "a state-changing request from another site's page is refused";
            return with_hsts(
                if console {
                    crate::api::console::refused(StatusCode::FORBIDDEN, msg)
                } else {
                    deny(StatusCode::FORBIDDEN, msg)
                },
                tls,
            );
        }
    }
    if public {
        return with_hsts(next.run(req).await, tls);
    }
    let from = peer(&req);
    let id = match authenticate(&app, req.headers(), from).await {
        Ok(Some(id)) => id,
        // A browser on a console page goes to the login page, not to a JSON 401.
        Ok(None) if console => return with_hsts(crate::api::console::to_login(req.uri()), tls),
        Err(r) if console && r.status() == StatusCode::UNAUTHORIZED => {
            return with_hsts(crate::api::console::to_login(req.uri()), tls)
        }
        Ok(None) => {
            return with_hsts(
                deny(StatusCode::UNAUTHORIZED, "authentication required: a token (Authorization: Bearer), HTTP Basic, or a login session"),
                tls,
            )
        }
        Err(r) => return with_hsts(r, tls),
    };
    let Some(pattern) = pattern else {
        // No route: the 404 of the fallback, to authenticated callers only.
        return with_hsts(next.run(req).await, tls);
    };
    let deny = |status: StatusCode, msg: &str| {
        if console {
            crate::api::console::refused(status, msg)
        } else {
            deny(status, msg)
        }
    };
    if id.must_change_password && !PASSWORD_CHANGE_ROUTES.contains(&pattern.as_str()) {
        return with_hsts(
            deny(StatusCode::FORBIDDEN, "change your one-time password first (POST /api/v1/password, or pramaan user passwd NAME --own)"),
            tls,
        );
    }
    // A browser that keeps HTTP Basic credentials (or a token a page set)
    // sends them with any form another site makes it post: a console form
    // without a session must show that it comes from a console page.
    if console
        && !safe
        && id.method != pramaan_auth::Method::Session
        && !same_origin(req.headers(), req.uri())
    {
        tracing::info!(user = %id.name, route = %pattern, "refused a console form without a session and without a same-origin Origin or Sec-Fetch-Site");
        return with_hsts(
            deny(StatusCode::FORBIDDEN, "a console form sent with a password or a token must come from a console page (a same-origin Origin or Sec-Fetch-Site header); log in to use the console's forms"),
            tls,
        );
    }
    if id.method == pramaan_auth::Method::Session && !safe {
        let mut sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        // A console form posted without JavaScript carries the token as the `_csrf` field.
        if sent.is_empty() && console && is_form(req.headers()) {
            let (parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, app.max_body()).await else {
                return with_hsts(
                    deny(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the form is larger than http.max_body",
                    ),
                    tls,
                );
            };
            sent = form_field(&bytes, CSRF_FIELD).unwrap_or_default();
            req = Request::from_parts(parts, Body::from(bytes));
        }
        let sent = sent.as_str();
        let want = id.csrf.as_deref().unwrap_or_default();
        if want.is_empty() || !pramaan_auth::secret::constant_time_eq(sent, want) {
            tracing::info!(user = %id.name, route = %pattern, "refused a cookie request without the CSRF token");
            return with_hsts(
                deny(StatusCode::FORBIDDEN, "a state-changing request with a session cookie needs the X-CSRF-Token header from the login answer"),
                tls,
            );
        }
    }
    if !allowed(rule, &id, st.metrics_public) {
        tracing::info!(user = %id.name, method = %req.method(), route = %pattern, "access denied");
        st.audit(
            AuditEvent::new(audit::action::ACCESS_DENIED, &id.name, &pattern)
                .outcome("denied")
                .detail("method", req.method().as_str()),
        )
        .await;
        let msg = match rule {
            None => format!("{pattern} has no row in the access table; only admin may call it"),
            Some(_) => format!(
                "{} {pattern} needs one of the roles {}; you have {}",
                req.method(),
                pramaan_app::access::needs(rule),
                id.roles
            ),
        };
        return with_hsts(deny(StatusCode::FORBIDDEN, &msg), tls);
    }
    // Reads (searches, SQL, the audit trail) are recorded before they run,
    // and refused when the record cannot be written: nothing is answered
    // unaudited. Changes are recorded once answered, with their status.
    let (audit, before) = match rule.map(|r| r.audit).unwrap_or(Audit::No) {
        Audit::ReadQuery(_) | Audit::ReadBody(_) if !st.audit_reads => (Audit::No, false),
        Audit::ReadQuery(a) => (Audit::Query(a), true),
        Audit::ReadBody(a) => (Audit::Body(a), true),
        a => (a, false),
    };
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    // Whatever the client sent under this name is never taken as the actor.
    req.headers_mut().remove("x-pramaan-actor");
    if let Ok(v) = HeaderValue::from_str(&id.name) {
        req.headers_mut().insert("x-pramaan-actor", v);
    }
    req.extensions_mut().insert(id.clone());
    let mut body_doc = None;
    if let Audit::Body(_) = audit {
        let (parts, body) = req.into_parts();
        let bytes: Bytes = match axum::body::to_bytes(body, app.max_body()).await {
            Ok(b) => b,
            Err(_) => {
                return with_hsts(
                    deny(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the body is larger than http.max_body",
                    ),
                    tls,
                )
            }
        };
        body_doc = Some(
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into()),
        );
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let action = match audit {
        Audit::No => None,
        Audit::Query(a) | Audit::Body(a) | Audit::ReadQuery(a) | Audit::ReadBody(a) => Some(a),
    };
    let event = action.map(|a| audit_event(a, &id.name, &pattern, &method, query, body_doc));
    if before {
        if let Some(ev) = event {
            if let Err(e) = audit::record(&st.sink, &ev.outcome("allowed")).await {
                tracing::error!(error = %e, user = %id.name, route = %pattern, "refused a read: its audit record could not be written");
                let mut r = deny(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the audit record of this request could not be written, so it was not run; retry later",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return with_hsts(r, tls);
            }
        }
        return with_hsts(next.run(req).await, tls);
    }
    let resp = next.run(req).await;
    if let Some(ev) = event {
        let ev =
            ev.detail("status", resp.status().as_u16())
                .outcome(if resp.status().is_success() {
                    "ok"
                } else {
                    "failed"
                });
        st.audit(ev).await;
    }
    with_hsts(resp, tls)
}

/// The audit record of a request: who, which route, the query string and
/// the JSON body (its `order_ref` or `purpose` as the purpose).
fn audit_event(
    action: &str,
    actor: &str,
    pattern: &str,
    method: &Method,
    query: Option<String>,
    body: Option<serde_json::Value>,
) -> AuditEvent {
    let mut ev = AuditEvent::new(action, actor, pattern).detail("method", method.as_str());
    if let Some(q) = query {
        ev = ev.detail("query", q);
    }
    if let Some(b) = body {
        if let Some(p) = b
            .get("order_ref")
            .or_else(|| b.get("purpose"))
            .and_then(|v| v.as_str())
        {
            ev = ev.purpose(p);
        }
        ev = ev.detail("body", b);
    }
    ev
}

/// The console's Content Security Policy: nothing but the page's own style
/// sheet (by its SHA-256: the one inline `<style>`, no `style` attribute),
/// no script at all, forms only to this server, never in a frame.
fn console_csp() -> HeaderValue {
    static CSP: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use sha2::Digest;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
            pramaan_console::layout::CSS.as_bytes(),
        ));
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(OTHER_CSP))
    })
    .clone()
}

/// Every other answer's policy: no script, no frame, no form (the incident
/// report's HTML keeps its inline style).
const OTHER_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

/// Headers on every answer (the outermost layer of the router): browsers
/// never guess a content type (`nosniff`), never show an answer in a frame
/// (`X-Frame-Options`, CSP `frame-ancestors`), run no script, and send no
/// `Referer` to other sites (`same-origin`: `no-referrer` would make them
/// send `Origin: null` on the console's own forms, which [`cross_site`]
/// refuses).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let console = crate::api::console::is_console(req.uri().path());
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        if console {
            console_csp()
        } else {
            HeaderValue::from_static(OTHER_CSP)
        },
    );
    r
}

/// The audit records matching `filter`, oldest first, each with its `seq`
/// (internal records with peer `pramaan:audit`, read with SQL).
pub async fn search_audit(
    vault: &pramaan_vault::Vault,
    filter: &audit::Filter,
    limit: usize,
) -> Result<Vec<serde_json::Value>, pramaan_vault::VaultError> {
    let q = format!(
        "SELECT seq, text(raw) AS body FROM logs WHERE transport = 'internal' AND peer = '{}' ORDER BY seq",
        audit::SOURCE
    );
    // The whole trail, uncapped: the filter is applied below (sql.timeout
    // and sql.memory_limit still hold).
    use pramaan_vault::sql::{Caps, Records};
    let batches = pramaan_vault::sql::run_capped(vault, &q, Records::All, Caps::NONE).await?;
    let nd = pramaan_vault::sql::to_ndjson(&batches)?;
    let mut out = Vec::new();
    for line in nd.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(row) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let body = row.get("body").and_then(|b| b.as_str()).unwrap_or_default();
        let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        if !filter.matches(&doc) {
            continue;
        }
        if let Some(o) = doc.as_object_mut() {
            o.insert("seq".into(), row.get("seq").cloned().unwrap_or_default());
        }
        out.push(doc);
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

impl AccessState {
    /// [`AccessState::open`], or, when the store cannot be opened, a state
    /// with no users and no tokens: everything but public routes is refused
    /// (`serve` opens the store first in [`bootstrap`] and stops on an error).
    pub fn open_or_closed(vault: &pramaan_vault::Vault, cfg: &Config) -> Self {
        match AccessState::open(vault, cfg) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the user store; refusing every authenticated request");
                let auth = match AuthStore::in_memory()
                    .and_then(|store| Auth::new(store, limiter_config(cfg), 0))
                {
                    Ok(a) => a,
                    Err(e) => panic!("an in-memory SQLite database cannot be opened: {e}"),
                };
                AccessState {
                    auth,
                    sink: VaultSink::new(vault.clone()),
                    tls: false,
                    metrics_public: cfg.metrics.public,
                    audit_reads: true,
                }
            }
        }
    }
}
