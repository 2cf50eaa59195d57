//! Lawful orders over HTTP (the register in `<data_dir>/orders.db`).
//!
//! References contain `/` (`CERT-In/2026/042`), so they travel in the query
//! string or the body, never in the path. The actor is the authenticated
//! user (`X-Pramaan-Actor`, set by the access middleware): the four-eyes rule
//! compares it with the user who registered the order.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/v1/orders` | analyst, poc, approver, auditor | every order with its deadline and time left |
//! | `GET /api/v1/orders/show?reference=R` | same | one order and its history |
//! | `POST /api/v1/orders` | analyst, poc | register (`{reference, authority, due, from, to, sources, hosts, ips, subscribers, texts, legal_basis, notes, received?, hold?}`); places legal holds unless `hold: false` |
//! | `POST /api/v1/orders/approve` | approver | `{reference, note?}`; not the registering user |
//! | `POST /api/v1/orders/export` | analyst, poc | `{reference}`; the bundle, `application/zip` |
//! | `POST /api/v1/orders/deliver`, `/close` | analyst, poc | `{reference, note?}`; close takes `release_hold` |

use super::{internal, ApiError, AppState};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pramaan_core::time::{now_ns, parse_user_time, rfc3339_ist, rfc3339_utc};
use pramaan_orders::bundle::SystemInfo;
use pramaan_orders::export::{self, ExportError};
use pramaan_orders::store::{NewOrder, Order, Register, StoreError};
use pramaan_orders::{Action, IpSelector, Scope};
use pramaan_vault::retention::NewHold;
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/orders", get(list).post(register))
        .route("/api/v1/orders/show", get(show))
        .route("/api/v1/orders/approve", post(approve))
        .route("/api/v1/orders/deliver", post(deliver))
        .route("/api/v1/orders/close", post(close))
        .route("/api/v1/orders/export", post(export_bundle))
}

fn actor(h: &HeaderMap) -> String {
    h.get("x-pramaan-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

pub(super) fn open(st: &AppState) -> Result<Register, ApiError> {
    Register::open(
        &st.vault.options().data_dir.join("orders.db"),
        Arc::new(pramaan_vault::sink::VaultSink::new(st.vault.clone())),
    )
    .map_err(err)
}

pub(super) fn err(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::Missing(e.to_string()),
        StoreError::Duplicate(_) | StoreError::Invalid(_) | StoreError::Refused(_) => {
            ApiError::BadRequest(e.to_string())
        }
        other => internal(other),
    }
}

fn view(o: &Order, now: i64) -> serde_json::Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    v["due_at"] = rfc3339_utc(o.due_at_ns).into();
    v["due_at_ist"] = rfc3339_ist(o.due_at_ns).into();
    v["time_left"] = o.deadline_text(now).into();
    v
}

async fn list(State(st): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let r = open(&st)?;
    let now = now_ns();
    let v: Vec<_> = r
        .list()
        .map_err(err)?
        .iter()
        .map(|o| view(o, now))
        .collect();
    Ok(Json(v.into()))
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RefParams {
    reference: String,
}

async fn show(
    State(st): State<Arc<AppState>>,
    q: Result<Query<RefParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let r = open(&st)?;
    let o = r.get(&q.reference).map_err(err)?;
    let mut v = view(&o, now_ns());
    v["events"] = serde_json::to_value(r.events(&q.reference).map_err(err)?).unwrap_or_default();
    Ok(Json(v))
}

/// A new order as the API's body and the console's form give it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBody {
    pub reference: String,
    #[serde(default = "cert_in")]
    pub authority: String,
    pub received: Option<String>,
    pub due: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub ips: Vec<String>,
    #[serde(default)]
    pub subscribers: Vec<String>,
    #[serde(default)]
    pub texts: Vec<String>,
    pub legal_basis: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default = "yes")]
    pub hold: bool,
}

fn cert_in() -> String {
    "CERT-In".into()
}
fn yes() -> bool {
    true
}

async fn register(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Result<Json<NewBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = now_ns();
    let o = register_order(&st, b, &actor(&h), now).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view(&o, now))).into_response())
}

/// Registers an order and, unless the body says `hold: false`, places its
/// legal holds (one per IP selector, or one for the whole window).
pub(super) async fn register_order(
    st: &AppState,
    b: NewBody,
    by: &str,
    now: i64,
) -> Result<Order, ApiError> {
    let by = by.to_owned();
    let t = |s: &str, what: &str| {
        parse_user_time(s, now).map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))
    };
    let ips = b
        .ips
        .iter()
        .map(|s| s.parse::<IpSelector>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::BadRequest(format!("ips: {e}")))?;
    let o = NewOrder {
        reference: b.reference.trim().to_owned(),
        authority: b.authority,
        received_at_ns: match &b.received {
            Some(r) => t(r, "received")?,
            None => now,
        },
        due_at_ns: t(&b.due, "due")?,
        scope: Scope {
            from_ns: t(&b.from, "from")?,
            to_ns: t(&b.to, "to")?,
            sources: b.sources,
            hosts: b.hosts,
            ips,
            subscribers: b.subscribers,
            texts: b.texts,
        },
        legal_basis: b.legal_basis,
        notes: b.notes,
    };
    let r = open(st)?;
    let order = r.register(&o, &by, now).await.map_err(err)?;
    if b.hold {
        let mut ids = Vec::new();
        let holds = holds_for(&order, &by);
        for hold in holds {
            ids.push(
                st.retention
                    .add_hold(&hold, now)
                    .await
                    .map_err(internal)?
                    .id,
            );
        }
        r.set_holds(&order.reference, &ids, &by, now, false)
            .await
            .map_err(err)?;
    }
    r.get(&order.reference).map_err(err)
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct StepBody {
    reference: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    release_hold: bool,
}

async fn step(
    st: &AppState,
    h: &HeaderMap,
    body: Result<Json<StepBody>, JsonRejection>,
    action: Action,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let now = now_ns();
    let o = act(
        st,
        &b.reference,
        action,
        &actor(h),
        &b.note,
        b.release_hold,
        now,
    )
    .await?;
    Ok(Json(view(&o, now)))
}

/// Approves, delivers or closes an order (closing may release its holds).
pub(super) async fn act(
    st: &AppState,
    reference: &str,
    action: Action,
    by: &str,
    note: &str,
    release_hold: bool,
    now: i64,
) -> Result<Order, ApiError> {
    let r = open(st)?;
    let o = r
        .act(
            reference,
            action,
            by,
            now,
            serde_json::json!({"note": note}),
        )
        .await
        .map_err(err)?;
    if action == Action::Close && release_hold && !o.holds.is_empty() {
        for id in &o.holds {
            st.retention
                .release_hold(*id, by, &format!("order {} closed", o.reference), now)
                .await
                .map_err(internal)?;
        }
        r.set_holds(&o.reference, &o.holds, by, now, true)
            .await
            .map_err(err)?;
    }
    r.get(reference).map_err(err)
}

async fn approve(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Result<Json<StepBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(&st, &h, body, Action::Approve).await
}

async fn deliver(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Result<Json<StepBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(&st, &h, body, Action::Deliver).await
}

async fn close(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Result<Json<StepBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    step(&st, &h, body, Action::Close).await
}

async fn export_bundle(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Result<Json<RefParams>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let bundle = export_zip(&st, &b.reference, &actor(&h)).await?;
    Ok(zip_download(bundle))
}

/// An exported bundle on its way out: its file, open and already unlinked
/// (nothing is left behind however the download ends), streamed rather than
/// read into memory, as a bundle may be gigabytes.
pub(super) struct Bundle {
    /// The reference, made safe for a file name.
    pub name: String,
    file: tokio::fs::File,
    len: u64,
}

/// The bundle as a download (`application/zip`, named for the reference).
pub(super) fn zip_download(b: Bundle) -> Response {
    use tokio::io::AsyncReadExt as _;
    let chunks = futures::stream::unfold(Some(b.file), |f| async move {
        let mut f = f?;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), Some(f)))
            }
            // The response ends there; the client sees a short download.
            Err(e) => Some((Err(e), None)),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.zip\"", b.name),
            ),
            (header::CONTENT_LENGTH, b.len.to_string()),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}

/// Exports an order's evidence bundle and records the export.
pub(super) async fn export_zip(
    st: &AppState,
    reference: &str,
    by: &str,
) -> Result<Bundle, ApiError> {
    let by = by.to_owned();
    let r = open(st)?;
    let order = r.get(reference).map_err(err)?;
    pramaan_orders::state::next(&order.facts(), Action::Export, &by)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut subscribers = Vec::new();
    if order.scope.names_subscribers() {
        let reg = st.registry().get().await.map_err(internal)?;
        let purpose = format!("order {}", order.reference);
        let ids: Vec<&str> = order.scope.subscribers.iter().map(String::as_str).collect();
        // One audit record per subscriber, in one ledger write.
        let reads = reg
            .read_subscribers(&ids, &purpose, &by, Vec::new())
            .await
            .map_err(internal)?;
        subscribers.extend(reads.subscribers.into_iter().flatten().map(|s| s.to_json()));
    }
    let bindings = if order.scope.names_subscribers() {
        let store = st.attribution().store().await.map_err(internal)?;
        subscriber_bindings(&*store, &order.scope)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    let system = SystemInfo {
        software: format!("pramaan {}", env!("CARGO_PKG_VERSION")),
        origin: st
            .vault
            .ledger()
            .map(|l| l.origin().to_owned())
            .unwrap_or_default(),
        exported_by: by.clone(),
        exported_at_ns: now_ns(),
    };
    let dir = st.vault.options().data_dir.join("tmp");
    std::fs::create_dir_all(&dir).map_err(internal)?;
    let out = dir.join(format!("export-{}.zip", now_ns()));
    let mut tries = 0;
    let e = loop {
        tries += 1;
        match export::export(
            &st.vault,
            &order,
            subscribers.clone(),
            &bindings,
            system.clone(),
            &out,
            &|_| {},
        )
        .await
        {
            Err(ExportError::NotYetCheckpointed { .. } | ExportError::Tree(_)) if tries < 20 => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e @ ExportError::NotYetCheckpointed { .. }) => {
                return Err(ApiError::Unavailable).inspect_err(|_| tracing::warn!(error = %e))
            }
            other => break other.map_err(internal)?,
        }
    };
    let file = tokio::fs::File::open(&out).await.map_err(internal);
    let _ = std::fs::remove_file(&out);
    let file = file?;
    let len = file.metadata().await.map_err(internal)?.len();
    // Everything the answer needs is ready before the order is marked
    // exported: nothing after this step can fail (the file name is plain
    // ASCII, so its header is always valid).
    let name = bundle_file_name(&order.reference);
    r.act(
        &order.reference,
        Action::Export,
        &by,
        now_ns(),
        serde_json::json!({
            "records": e.records,
            "checkpoint_size": e.manifest.checkpoint_size,
            "manifest": e.manifest.files,
            "via": "http",
        }),
    )
    .await
    .map_err(err)?;
    Ok(Bundle { name, file, len })
}

/// The bundle's file name (without `.zip`): the reference with every
/// character other than ASCII letters, digits, `.`, `_` and `-` made `-`, so
/// that it is a valid `Content-Disposition` and a safe file name whatever the
/// reference holds.
fn bundle_file_name(reference: &str) -> String {
    let name: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.trim_matches(['-', '.']).is_empty() {
        "order".into()
    } else {
        name
    }
}

/// The IP bindings of the order's subscribers overlapping its window: they
/// decide which log lines the subscriber selector takes, and they are
/// `bindings.ndjson` in the bundle (`pramaan export` uses this too).
pub async fn subscriber_bindings(
    store: &dyn pramaan_attribution::store::BindingStore,
    scope: &Scope,
) -> Result<Vec<pramaan_orders::SubscriberBinding>, pramaan_attribution::store::StoreError> {
    let mut out = Vec::new();
    for s in &scope.subscribers {
        for b in store.of_subscriber(s, scope.from_ns, scope.to_ns).await? {
            let (ip, prefix) = if b.net.is_v4() {
                let a = std::net::Ipv4Addr::from(b.net.bits as u32);
                (std::net::IpAddr::V4(a), b.net.len.saturating_sub(96))
            } else {
                (std::net::IpAddr::V6(b.net.bits.into()), b.net.len)
            };
            out.push(pramaan_orders::SubscriberBinding {
                subscriber: b.subscriber,
                ip,
                prefix,
                ports: ((b.port_lo, b.port_hi) != (0, u16::MAX)).then_some((b.port_lo, b.port_hi)),
                from_ns: b.start_ns,
                to_ns: (!b.open).then_some(b.end_ns),
            });
        }
    }
    Ok(out)
}

/// The legal holds registering `order` places: one per IP selector (each
/// with the address), else one over the whole window.
pub fn holds_for(order: &Order, created_by: &str) -> Vec<NewHold> {
    let base = NewHold {
        from_ns: order.scope.from_ns,
        to_ns: order.scope.to_ns,
        source: None,
        ip: None,
        reason: format!("order {} ({})", order.reference, order.authority),
        order_ref: order.reference.clone(),
        created_by: created_by.to_owned(),
    };
    if order.scope.ips.is_empty() {
        return vec![base];
    }
    order
        .scope
        .ips
        .iter()
        .map(|s| NewHold {
            ip: Some(s.ip.to_string()),
            ..base.clone()
        })
        .collect()
}
