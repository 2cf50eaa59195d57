//! The guard's decision for one request, step by step: where the browser
//! says it comes from, who is calling, whether a one-time password must be
//! changed first, the console's form rules and the CSRF token, the access
//! table's row, then the audit record (before a read runs, after a change
//! answered). It returns the handler's answer or a typed [`Refusal`]; how a
//! refusal looks is decided outside (the server's `gate`).

use super::credentials::{self, authenticate, form_field, is_form, CSRF_FIELD, CSRF_HEADER};
use super::origin::{cross_site, same_origin};
use super::refusal::{Refusal, Unauthenticated};
use super::state::AccessState;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use pramaan_app::access::{allowed, lookup, needs, Need, Rule, PASSWORD_CHANGE_ROUTES};
use pramaan_app::audited;
use pramaan_auth::audit::{self, AuditEvent};
use pramaan_auth::Identity;
use std::sync::Arc;

/// A header old clients sent to name the acting user. The caller is who
/// the credentials say, never what a request claims: the guard removes it
/// from every request, so no handler can read it.
const STRIPPED_ACTOR_HEADER: &str = "x-pramaan-actor";

/// Whether a request path is a console page (HTML for people), where
/// forms carry their CSRF token as a field and must come from a console page.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// What the guard knows of a request before anyone is authenticated.
struct Asked {
    /// The route pattern (`None`: no route matched; the fallback's 404).
    pattern: Option<String>,
    rule: Option<&'static Rule>,
    public: bool,
    console: bool,
    /// GET, HEAD or OPTIONS: changes nothing.
    safe: bool,
}

impl Asked {
    fn of(req: &Request, st: &AccessState) -> Asked {
        let pattern = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned());
        let rule = pattern
            .as_deref()
            .and_then(|p| lookup(req.method().as_str(), p));
        let public = match rule.map(|r| r.need) {
            Some(Need::Public) => true,
            Some(Need::Metrics(_)) => st.metrics_public,
            _ => false,
        };
        Asked {
            pattern,
            rule,
            public,
            console: is_console(req.uri().path()),
            safe: matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
        }
    }
}

/// Authenticates, checks, records, then calls the handler; or refuses.
pub async fn pass(
    st: &Arc<AccessState>,
    mut req: Request,
    next: Next,
) -> Result<Response, Refusal> {
    req.headers_mut().remove(STRIPPED_ACTOR_HEADER);
    let asked = Asked::of(&req, st);
    // A state-changing request sent by another site's page is refused
    // whoever the caller is (the login form included).
    if !asked.safe {
        if let Some(why) = cross_site(req.headers(), req.uri()) {
            tracing::info!(path = %req.uri().path(), why = %why, "refused a cross-site request");
            return Err(Refusal::CrossSite);
        }
    }
    if asked.public {
        return Ok(next.run(req).await);
    }
    let id = authenticate(st, req.headers(), credentials::peer(&req))
        .await?
        .ok_or(Refusal::Unauthenticated(Unauthenticated::NoCredentials))?;
    let Some(pattern) = asked.pattern.clone() else {
        // No route: the 404 of the fallback, to authenticated callers only.
        return Ok(next.run(req).await);
    };
    if id.must_change_password && !PASSWORD_CHANGE_ROUTES.contains(&pattern.as_str()) {
        return Err(Refusal::PasswordChange);
    }
    let mut req = check_forms(st, &asked, &id, &pattern, req).await?;
    check_table(st, &asked, &id, &pattern, req.method()).await?;
    req.extensions_mut().insert(id.clone());
    run_audited(st, &asked, &id, &pattern, req, next).await
}

/// A console form without a session must come from a console page, and a
/// state-changing request with a session must carry its CSRF token (a
/// console form: the `_csrf` field, read from the body, which is put back).
async fn check_forms(
    st: &AccessState,
    asked: &Asked,
    id: &Identity,
    pattern: &str,
    req: Request,
) -> Result<Request, Refusal> {
    if asked.safe {
        return Ok(req);
    }
    // A browser that keeps HTTP Basic credentials (or a token a page set)
    // sends them with any form another site makes it post.
    if asked.console
        && id.method != pramaan_auth::Method::Session
        && !same_origin(req.headers(), req.uri())
    {
        tracing::info!(user = %id.name, route = %pattern, "refused a console form without a session and without a same-origin Origin or Sec-Fetch-Site");
        return Err(Refusal::FormWithoutOrigin);
    }
    if id.method != pramaan_auth::Method::Session {
        return Ok(req);
    }
    let mut sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut req = req;
    // A console form posted without JavaScript carries the token as the `_csrf` field.
    if sent.is_empty() && asked.console && is_form(req.headers()) {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, st.max_body)
            .await
            .map_err(|_| Refusal::TooLarge("form"))?;
        sent = form_field(&bytes, CSRF_FIELD).unwrap_or_default();
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let want = id.csrf.as_deref().unwrap_or_default();
    if want.is_empty() || !pramaan_auth::secret::constant_time_eq(&sent, want) {
        tracing::info!(user = %id.name, route = %pattern, "refused a cookie request without the CSRF token");
        return Err(Refusal::CsrfMissing);
    }
    Ok(req)
}

/// The access table's row lets the caller in, or the refusal is recorded
/// (`access.denied`) and said with the roles the route needs.
async fn check_table(
    st: &AccessState,
    asked: &Asked,
    id: &Identity,
    pattern: &str,
    method: &Method,
) -> Result<(), Refusal> {
    if allowed(asked.rule, id, st.metrics_public) {
        return Ok(());
    }
    tracing::info!(user = %id.name, method = %method, route = %pattern, "access denied");
    st.audit(
        AuditEvent::new(audit::action::ACCESS_DENIED, &id.name, pattern)
            .outcome("denied")
            .detail("method", method.as_str()),
    )
    .await;
    Err(match asked.rule {
        None => Refusal::NoRow {
            route: pattern.to_owned(),
        },
        Some(_) => Refusal::Forbidden {
            method: method.to_string(),
            route: pattern.to_owned(),
            needs: needs(asked.rule),
            has: id.roles.to_string(),
        },
    })
}

/// Runs the handler with the row's audit record (`pramaan_app::audited`
/// decides what and when): reads are recorded before they run and refused
/// when the record cannot be written, so nothing is answered unaudited;
/// changes are recorded once answered, with their status.
async fn run_audited(
    st: &AccessState,
    asked: &Asked,
    id: &Identity,
    pattern: &str,
    req: Request,
    next: Next,
) -> Result<Response, Refusal> {
    let Some(plan) = audited::plan(asked.rule, st.audit_reads) else {
        return Ok(next.run(req).await);
    };
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let (req, body) = if plan.with_body {
        let (parts, body) = req.into_parts();
        let bytes: Bytes = axum::body::to_bytes(body, st.max_body)
            .await
            .map_err(|_| Refusal::TooLarge("body"))?;
        let doc = serde_json::from_slice::<serde_json::Value>(&bytes)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into());
        (Request::from_parts(parts, Body::from(bytes)), Some(doc))
    } else {
        (req, None)
    };
    let ev = audited::event(plan.action, &id.name, pattern, method.as_str(), query, body);
    if plan.before {
        if let Err(e) = audit::record(&st.sink, &ev.outcome("allowed")).await {
            tracing::error!(error = %e, user = %id.name, route = %pattern, "refused a read: its audit record could not be written");
            return Err(Refusal::AuditUnavailable);
        }
        return Ok(next.run(req).await);
    }
    let resp = next.run(req).await;
    let ok = resp.status().is_success();
    st.audit(
        ev.detail("status", resp.status().as_u16())
            .outcome(if ok { "ok" } else { "failed" }),
    )
    .await;
    Ok(resp)
}
