//! Reads are audited before they are answered: a search, a SQL query or a
//! read of the audit trail whose audit record cannot be written is refused
//! with 503 and runs not at all (no rows), and a read that is answered has
//! its record in the ledger before the answer is made (an auditor's search
//! of pramaan's own records finds its own record).

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use pramaan_auth::{AuthStore, Role, RoleSet};
use pramaan_core::Transport;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

const MARK: &str = "marked-line-10.9.8.7";

struct Env {
    _dir: tempfile::TempDir,
    app: axum::Router,
    tokens: BTreeMap<&'static str, String>,
}

/// A server state over a vault holding three lines. With `writable` false
/// the vault is opened read-only, so every append (the audit record's
/// among them) fails: the audit trail cannot be written.
async fn env(writable: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cfg = pramaan_config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    assert!(cfg.auth.audit_reads, "reads are audited by default");
    std::fs::create_dir_all(&cfg.data_dir).unwrap();
    let store = AuthStore::open(&pramaan_auth::store::path_in(&cfg.data_dir)).unwrap();
    let mut tokens = BTreeMap::new();
    for r in [Role::Analyst, Role::Auditor] {
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
    let opts = pramaan_server::vault_options(&cfg);
    let (vault, workers) = pramaan_vault::Vault::open(opts.clone()).await.unwrap();
    let lines = (0..3)
        .map(|i| format!("<13>1 - fw-1 app - - - {MARK} n={i}").into())
        .collect();
    vault
        .append(Transport::Http, Arc::from("127.0.0.1:1"), lines)
        .await
        .unwrap();
    let vault = if writable {
        std::mem::forget(workers);
        vault
    } else {
        vault.shutdown(workers).await;
        pramaan_vault::Vault::open_read_only(opts).unwrap()
    };
    let state =
        pramaan_server::api::AppState::new(vault, &cfg, pramaan_server::telemetry::install());
    Env {
        _dir: dir,
        app: pramaan_server::api::router(state),
        tokens,
    }
}

async fn call(
    e: &Env,
    m: Method,
    path: &str,
    role: &str,
    body: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(m)
        .uri(path)
        .header("authorization", format!("Bearer {}", e.tokens[role]));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let mut req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(
        "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
    ));
    let resp = e.app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_audit_record_cannot_be_written_is_refused_with_nothing() {
    let e = env(false).await;
    let sql = r#"{"query": "SELECT text(raw) AS line FROM logs"}"#;
    for (m, path, role, body) in [
        (
            Method::GET,
            "/api/v1/search?q=marked&limit=0",
            "analyst",
            None,
        ),
        (Method::POST, "/api/v1/sql", "analyst", Some(sql)),
        (Method::GET, "/console/search?q=marked", "analyst", None),
        (
            Method::GET,
            "/api/v1/search?internal=true&limit=0",
            "auditor",
            None,
        ),
        (Method::GET, "/api/v1/audit", "auditor", None),
    ] {
        let (status, text) = call(&e, m.clone(), path, role, body).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{m} {path}: {text}"
        );
        assert!(!text.contains(MARK), "{m} {path} answered rows: {text}");
        assert!(text.contains("audit record"), "{m} {path}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_read_is_on_the_audit_trail_before_its_answer() {
    let e = env(true).await;
    // The auditor's search for its own unique text finds the record of
    // that very search: it was in the ledger before the search began.
    let unique = format!("own-record-{}", pramaan_core::time::now_ns());
    let (status, text) = call(
        &e,
        Method::GET,
        &format!("/api/v1/search?internal=true&limit=0&q={unique}"),
        "auditor",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains("pramaan:audit") && text.contains(&unique),
        "the search does not see its own audit record: {text}"
    );
    // SQL: answered, and its record (with the query) is there at once.
    let (status, text) = call(
        &e,
        Method::POST,
        "/api/v1/sql",
        "analyst",
        Some(&format!(
            r#"{{"query": "SELECT count(*) AS n FROM logs WHERE text(raw) <> '{unique}-sql'"}}"#
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, trail) = call(&e, Method::GET, "/api/v1/audit?action=sql", "auditor", None).await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    assert!(trail.contains(&format!("{unique}-sql")), "{trail}");
    assert!(trail.contains("\"allowed\""), "{trail}");
}
