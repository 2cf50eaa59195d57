//! Walks every route the server registers (found in the sources of
//! `src/api.rs` and `src/api/*.rs`, and of the console's pages that the
//! server mounts, `crates/console/src/pages/*.rs`, so a route someone adds
//! is walked too)
//! and checks against the access table:
//!
//! * every route has a row in `access::TABLE`;
//! * every route except the public ones refuses an anonymous caller (401;
//!   a console page redirects to its login page) and a caller holding only
//!   roles the row does not name (403);
//! * `/healthz` (and `/metrics` with `metrics.public`) answer anyone.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use pramaan_auth::{AuthStore, Role, RoleSet};
use pramaan_server::access::{self, Need};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tower::ServiceExt;

/// (method, pattern) of every `.route("pattern", get(..).post(..))` in the API sources.
fn registered_routes() -> Vec<(Method, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![dir.join("api.rs")];
    // Every source file under src/api/, and the console's pages (their own crate).
    let mut dirs = vec![dir.join("api"), dir.join("../../console/src/pages")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let Some(q1) = rest.find('"') else { break };
            let Some(q2) = rest[q1 + 1..].find('"') else {
                break;
            };
            let pattern = rest[q1 + 1..q1 + 1 + q2].to_owned();
            // The method router: up to the parenthesis closing `.route(`.
            let mut depth = 1;
            let mut end = 0;
            for (j, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let body = &rest[q1 + q2 + 2..end];
            let mut found = false;
            for (name, m) in [
                ("get(", Method::GET),
                ("post(", Method::POST),
                ("put(", Method::PUT),
                ("delete(", Method::DELETE),
                ("patch(", Method::PATCH),
            ] {
                let hit = body.match_indices(name).any(|(k, _)| {
                    k == 0 || !body[..k].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    out.push((m, pattern.clone()));
                    found = true;
                }
            }
            assert!(
                found,
                "{}: no method found for route {pattern}",
                f.display()
            );
        }
    }
    assert!(out.len() > 20, "found only {} routes: {out:?}", out.len());
    out
}

/// A concrete path for a pattern: `{id}` → `1`, `{*rest}` → `x/1`.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| {
            if seg.starts_with("{*") {
                "x/1".to_owned()
            } else if seg.starts_with('{') {
                "1".to_owned()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Env {
    _dir: tempfile::TempDir,
    app: axum::Router,
    tokens: BTreeMap<&'static str, String>,
}

async fn env(metrics_public: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = pramaan_config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    cfg.metrics.public = metrics_public;
    std::fs::create_dir_all(&cfg.data_dir).unwrap();
    let store = AuthStore::open(&pramaan_auth::store::path_in(&cfg.data_dir)).unwrap();
    let mut tokens = BTreeMap::new();
    for r in Role::ALL {
        let t = store
            .create_token(
                r.as_str(),
                RoleSet::of(&[r]),
                "test",
                None,
                pramaan_core::time::now_ns(),
            )
            .unwrap();
        tokens.insert(r.as_str(), t.secret);
    }
    drop(store);
    let (vault, workers) = pramaan_vault::Vault::open(pramaan_server::vault_options(&cfg))
        .await
        .unwrap();
    std::mem::forget(workers);
    let state =
        pramaan_server::api::AppState::new(vault, &cfg, pramaan_server::telemetry::install());
    Env {
        _dir: dir,
        app: pramaan_server::api::router(state),
        tokens,
    }
}

async fn call(app: &axum::Router, m: &Method, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = Request::builder().method(m.clone()).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnectInfo(
        "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
    ));
    app.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_has_a_row_and_refuses_anonymous_and_wrong_roles() {
    let e = env(false).await;
    let routes = registered_routes();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (m, pattern) in &routes {
        let Some(rule) = access::lookup(m, pattern) else {
            missing.push(format!("{m} {pattern}"));
            continue;
        };
        let path = concrete(pattern);
        if rule.need == Need::Public {
            continue;
        }
        // A console page sends an anonymous browser to the login page instead.
        let anonymous = if pramaan_server::api::console::is_console(&path) {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(
            call(&e.app, m, &path, None).await,
            anonymous,
            "{m} {path} without credentials"
        );
        assert_eq!(
            call(&e.app, m, &path, Some("pmn_not-a-token")).await,
            anonymous,
            "{m} {path} with an unknown token"
        );
        let wrong: Vec<Role> = match rule.need {
            Need::Roles(ok) | Need::Metrics(ok) => Role::ALL
                .into_iter()
                .filter(|r| *r != Role::Admin && !ok.contains(r))
                .collect(),
            Need::Admin => Role::ALL
                .into_iter()
                .filter(|r| *r != Role::Admin)
                .collect(),
            Need::Authenticated | Need::Public => Vec::new(),
        };
        for r in wrong {
            assert_eq!(
                call(&e.app, m, &path, Some(&e.tokens[r.as_str()])).await,
                StatusCode::FORBIDDEN,
                "{m} {path} as {r}"
            );
        }
        checked += 1;
    }
    assert!(
        missing.is_empty(),
        "routes without a row in access::TABLE: {missing:?}"
    );
    assert!(checked > 15);
    // Public: health. Metrics needs a role unless metrics.public.
    assert_eq!(
        call(&e.app, &Method::GET, "/healthz", None).await,
        StatusCode::OK
    );
    assert_eq!(
        call(&e.app, &Method::GET, "/metrics", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&e.app, &Method::GET, "/metrics", Some(&e.tokens["auditor"])).await,
        StatusCode::OK
    );
    let open = env(true).await;
    assert_eq!(
        call(&open.app, &Method::GET, "/metrics", None).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_a_row_is_admin_only() {
    // Not in the table: fail closed.
    let r = access::lookup(&Method::GET, "/api/v1/not-in-the-table");
    assert!(r.is_none());
    let id = |roles: &[Role]| pramaan_auth::Identity {
        name: "x".into(),
        roles: RoleSet::of(roles),
        method: pramaan_auth::Method::Token,
        csrf: None,
        must_change_password: false,
    };
    for role in Role::ALL {
        assert_eq!(
            access::allowed(r, &id(&[role]), false),
            role == Role::Admin,
            "{role}"
        );
    }
    // The most specific row wins: auditors read incidents, only poc writes them.
    let read = access::lookup(&Method::GET, "/api/v1/incidents/{id}").unwrap();
    let write = access::lookup(&Method::POST, "/api/v1/incidents/{id}").unwrap();
    assert!(access::allowed(Some(read), &id(&[Role::Auditor]), false));
    assert!(!access::allowed(Some(write), &id(&[Role::Auditor]), false));
    assert!(access::allowed(Some(write), &id(&[Role::Poc]), false));
    // Routes others add under the announced prefixes are covered.
    for (m, p, role) in [
        (Method::GET, "/api/v1/clock", Role::Auditor),
        (Method::GET, "/api/v1/whois", Role::RegistryOfficer),
        (
            Method::POST,
            "/api/v1/registry/import",
            Role::RegistryOfficer,
        ),
        (
            Method::GET,
            "/api/v1/subscribers/{id}",
            Role::RegistryOfficer,
        ),
        (Method::GET, "/api/v1/audit", Role::Auditor),
        (Method::POST, "/api/v1/poc/report", Role::Poc),
    ] {
        let rule = access::lookup(&m, p);
        assert!(
            access::allowed(rule, &id(&[role]), false),
            "{m} {p} as {role}"
        );
        assert!(
            !access::allowed(rule, &id(&[Role::Ingest]), false),
            "{m} {p} as ingest"
        );
    }
}
