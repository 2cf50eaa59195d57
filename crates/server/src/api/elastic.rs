//! Elasticsearch's `_bulk` API, for Filebeat, Logstash, Vector, rsyslog's
//! `omelasticsearch` and the Elasticsearch client libraries, and the probes
//! they send before it.
//!
//! * `POST|PUT /_bulk` and `/{index}/_bulk`: NDJSON, plain, gzip or zstd.
//!   Each `index`/`create` item is stored as one record
//!   (`pramaan_ingest::elastic` says what its raw bytes are) with peer
//!   `es:ADDRESS`. The answer is Elasticsearch's bulk answer (`took`,
//!   `errors`, `items` with each item's `status`, and `error.type` and
//!   `error.reason` for a refused one), sent only once the stored items are
//!   in the WAL (fsync'd). `_id` is the one the action gave, else the
//!   record's sequence number; `_seq_no` is always the sequence number.
//! * Probes, answered just enough for a client to go on (nothing is kept):
//!   `GET|HEAD /` (the version; a browser, whose `Accept` has `text/html`,
//!   is sent to the console instead), `GET /_license`, `GET /_xpack`,
//!   `GET /_nodes...`, `GET /_cat/health` (rsyslog's health check); index
//!   templates, component templates and ILM policies answer `GET`/`HEAD`
//!   as if present and `PUT` as acknowledged: pramaan keeps every record
//!   as it came, for as long as its own retention says.
//! * Every answer carries `X-Elastic-Product: Elasticsearch` (the Python
//!   client 8.x refuses a server without it); errors are in
//!   Elasticsearch's shape (`{"error":{"type","reason"},"status"}`).

use super::intake::{inflate, read_body, refused, store};
use super::{internal, ApiError, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_core::peer::Via;
use pramaan_ingest::elastic::{self, Item, Outcome};
use serde_json::{json, Value};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The Elasticsearch version pramaan answers as: clients choose their
/// request format by it (8.x: no mapping types, `create` for data streams).
pub const ES_VERSION: &str = "8.17.0";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(root))
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/_license", get(license))
        .route("/_xpack", get(xpack))
        .route("/_nodes", get(nodes))
        .route("/_nodes/{*rest}", get(nodes))
        .route("/_cat/health", get(health))
        .route("/_index_template/{name}", get(template).put(acknowledged))
        .route(
            "/_component_template/{name}",
            get(template).put(acknowledged),
        )
        .route("/_template/{name}", get(template).put(acknowledged))
        .route("/_ilm/policy/{name}", get(ilm_policy).put(acknowledged))
        .layer(axum::middleware::map_response(product_header))
}

async fn product_header(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    resp
}

/// An error in Elasticsearch's shape, with the status (and `Retry-After`)
/// pramaan's own error would have.
fn es_error(e: ApiError) -> Response {
    let reason = e.to_string();
    let mut resp = e.into_response();
    let status = resp.status();
    let kind = match status {
        StatusCode::BAD_REQUEST => "illegal_argument_exception",
        StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
            "es_rejected_execution_exception"
        }
        _ => "exception",
    };
    let body = json!({
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status.as_u16(),
    });
    *resp.body_mut() = Body::from(body.to_string());
    resp
}

async fn root(headers: HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser {
        return Redirect::to("/console").into_response();
    }
    Json(json!({
        "name": "pramaan",
        "cluster_name": "pramaan",
        "cluster_uuid": "pramaan",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "pramaan",
            "build_hash": "pramaan",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }))
    .into_response()
}

async fn license() -> Json<Value> {
    Json(json!({"license": {
        "status": "active", "uid": "pramaan", "type": "basic",
        "issue_date_in_millis": 0, "max_nodes": 1000, "issued_to": "pramaan", "issuer": "pramaan",
    }}))
}

async fn xpack() -> Json<Value> {
    Json(json!({
        "build": {"hash": "pramaan"},
        "license": {"uid": "pramaan", "type": "basic", "mode": "basic", "status": "active"},
        "features": {},
    }))
}

async fn nodes() -> Json<Value> {
    Json(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": "pramaan",
        "nodes": {},
    }))
}

async fn health() -> &'static str {
    "pramaan green 1 1 0 0 0 0 0 0 - 100.0%\n"
}

async fn template(Path(name): Path<String>) -> Json<Value> {
    Json(json!({
        "index_templates": [{"name": &name, "index_template": {"index_patterns": [format!("{name}*")], "composed_of": []}}],
        "component_templates": [{"name": &name, "component_template": {"template": {}}}],
        name.clone(): {"index_patterns": [format!("{name}*")], "settings": {}, "mappings": {}},
    }))
}

async fn ilm_policy(Path(name): Path<String>) -> Json<Value> {
    Json(json!({ name: {"version": 1, "policy": {"phases": {}}} }))
}

async fn acknowledged() -> Json<Value> {
    Json(json!({"acknowledged": true}))
}

async fn bulk(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_bulk(st, from, None, headers, body)
        .await
        .unwrap_or_else(es_error)
}

async fn bulk_index(
    State(st): State<Arc<AppState>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_bulk(st, from, Some(index), headers, body)
        .await
        .unwrap_or_else(es_error)
}

async fn run_bulk(
    st: Arc<AppState>,
    from: SocketAddr,
    index: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let _turn = st.ingest.take().await?;
    let (max_body, max_line) = (st.max_body, st.max_line);
    let body = read_body(&headers, body, max_body).await?;
    let mut items = tokio::task::spawn_blocking(move || {
        let body = inflate(&headers, body, max_body)?;
        elastic::split(&body, index.as_deref(), max_line)
            .map_err(|e| ApiError::BadRequest(format!("{e}; nothing was stored")))
    })
    .await
    .map_err(internal)?
    .inspect_err(|e| {
        refused(
            Some(Via::ElasticBulk),
            &from,
            super::loki::body_refusal(e),
            1,
        )
    })?;
    let mut lines = Vec::new();
    for it in &mut items {
        match &mut it.outcome {
            // The answer needs only which items were stored, not their bytes.
            Outcome::Store(raw) => lines.push(Bytes::from(std::mem::take(raw))),
            Outcome::Refuse(r) => refused(Some(Via::ElasticBulk), &from, r.counted_as, 1),
        }
    }
    let first = match lines.is_empty() {
        true => 0,
        false => store(&st, Some(Via::ElasticBulk), from, lines).await?.first,
    };
    let body = answer(&items, first, started);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The bulk answer: stored items numbered from `first` in order. Written
/// as text directly: a tree of `Value`s per item cost more than the decode.
fn answer(items: &[Item], first: u64, started: Instant) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        serde_json::to_writer(&mut *out, s).expect("a string is written to memory");
    }
    let mut out = Vec::with_capacity(64 + items.len() * 192);
    let errors = items
        .iter()
        .any(|it| matches!(it.outcome, Outcome::Refuse(_)));
    let took = started.elapsed().as_millis() as u64;
    let _ = write!(out, r#"{{"took":{took},"errors":{errors},"items":["#);
    let mut seq = first;
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        text(&mut out, &it.action);
        out.extend_from_slice(br#":{"_index":"#);
        text(&mut out, it.index.as_deref().unwrap_or_default());
        match &it.outcome {
            Outcome::Store(_) => {
                out.extend_from_slice(br#","_id":"#);
                match &it.id {
                    Some(id) => text(&mut out, id),
                    None => {
                        let _ = write!(out, r#""{seq}""#);
                    }
                }
                let _ = write!(
                    out,
                    r#","_version":1,"result":"created","_shards":{{"total":1,"successful":1,"failed":0}},"_seq_no":{seq},"_primary_term":1,"status":201"#
                );
                seq += 1;
            }
            Outcome::Refuse(r) => {
                if let Some(id) = &it.id {
                    out.extend_from_slice(br#","_id":"#);
                    text(&mut out, id);
                }
                let _ = write!(out, r#","status":{},"error":{{"type":"#, r.status);
                text(&mut out, r.kind);
                out.extend_from_slice(br#","reason":"#);
                text(&mut out, &r.reason);
                out.push(b'}');
            }
        }
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_ingest::elastic::Refusal;

    #[test]
    fn the_bulk_answer_numbers_stored_items_and_names_refused_ones() {
        let item = |action: &str, id: Option<&str>, outcome| Item {
            action: action.into(),
            index: Some("lo\"gs".into()),
            id: id.map(Into::into),
            outcome,
        };
        let refusal = Refusal {
            status: 400,
            kind: "illegal_argument_exception",
            reason: "`delete` is not \"supported\"".into(),
            counted_as: "unsupported_action",
        };
        let items = [
            item("create", None, Outcome::Store(Vec::new())),
            item("delete", Some("9"), Outcome::Refuse(refusal)),
            item("index", Some("x"), Outcome::Store(Vec::new())),
        ];
        let v: Value = serde_json::from_slice(&answer(&items, 41, Instant::now())).unwrap();
        assert_eq!(v["errors"], json!(true));
        let got = &v["items"];
        assert_eq!(got[0]["create"]["_id"], json!("41"));
        assert_eq!(got[0]["create"]["_seq_no"], json!(41));
        assert_eq!(got[0]["create"]["status"], json!(201));
        assert_eq!(got[0]["create"]["_index"], json!("lo\"gs"));
        assert_eq!(got[1]["delete"]["_id"], json!("9"));
        assert_eq!(got[1]["delete"]["status"], json!(400));
        assert_eq!(
            got[1]["delete"]["error"],
            json!({"type": "illegal_argument_exception", "reason": "`delete` is not \"supported\""})
        );
        assert_eq!(got[2]["index"]["_id"], json!("x"));
        assert_eq!(got[2]["index"]["_seq_no"], json!(42));
        let clean: Value = serde_json::from_slice(&answer(&items[..1], 7, Instant::now())).unwrap();
        assert_eq!(clean["errors"], json!(false));
    }
}
