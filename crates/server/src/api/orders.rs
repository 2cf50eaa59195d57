//! Lawful orders over HTTP: each route answers one operation of
//! `pramaan_app::orders` for the authenticated caller (the four-eyes rule
//! compares the caller with the user who registered the order).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/v1/orders` | analyst, poc, approver, auditor | every order with its deadline and time left |
//! | `GET /api/v1/orders/show?reference=R` | same | one order and its history |
//! | `POST /api/v1/orders` | analyst, poc | register (`{reference, authority, due, from, to, sources, hosts, ips, subscribers, texts, legal_basis, notes, received?, hold?}`), 201; places legal holds unless `hold: false` |
//! | `POST /api/v1/orders/approve` | approver | `{reference, note?}`; not the registering user |
//! | `POST /api/v1/orders/export` | analyst, poc | `{reference}`; the bundle, `application/zip` |
//! | `POST /api/v1/orders/deliver`, `/close` | analyst, poc | `{reference, note?}`; close takes `release_hold` |

use super::{op, ApiError, AppState};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pramaan_app::orders::{
    ApproveOrder, Bundle, CloseOrder, DeliverOrder, ExportOrder, ListOrders, RegisterOrder,
    ShowOrder,
};
use pramaan_app::{Caller, Operation};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/orders", get(in_query::<ListOrders>).post(register))
        .route("/api/v1/orders/show", get(in_query::<ShowOrder>))
        .route("/api/v1/orders/approve", post(in_body::<ApproveOrder>))
        .route("/api/v1/orders/deliver", post(in_body::<DeliverOrder>))
        .route("/api/v1/orders/close", post(in_body::<CloseOrder>))
        .route("/api/v1/orders/export", post(export_bundle))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// A route whose operation is its query string.
async fn in_query<O: Operation>(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    q: Result<Query<O>, QueryRejection>,
) -> Result<Json<O::Output>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    op::answer(&st.app, &who, q).await
}

/// A route whose operation is its JSON body.
async fn in_body<O: Operation>(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    b: Result<Json<O>, JsonRejection>,
) -> Result<Json<O::Output>, ApiError> {
    op::answer(&st.app, &who, body(b)?).await
}

/// Registering answers 201 Created.
async fn register(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    b: Result<Json<RegisterOrder>, JsonRejection>,
) -> Result<Response, ApiError> {
    let created = op::answer(&st.app, &who, body(b)?).await?;
    Ok((StatusCode::CREATED, created).into_response())
}

async fn export_bundle(
    State(st): State<Arc<AppState>>,
    Extension(who): Extension<Caller>,
    b: Result<Json<ExportOrder>, JsonRejection>,
) -> Result<Response, ApiError> {
    let bundle = body(b)?.run(&st.app, &who).await?;
    Ok(zip_download(bundle))
}

/// The bundle as a download (`application/zip`, named for the reference),
/// streamed from its file.
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
