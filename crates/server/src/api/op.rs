//! Answers an application operation over HTTP: the handler extracts the
//! operation's value (path, query or body), this runs it for the caller
//! the guard authenticated and renders the output as JSON or the error with
//! its status.

use super::ApiError;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pramaan_app::{App, AppError, Caller, Operation};
use serde::Serialize;

pub async fn answer<O: Operation>(
    app: &App,
    who: &Caller,
    op: O,
) -> Result<Json<O::Output>, ApiError> {
    Ok(Json(op.run(app, who).await?))
}

/// As [`answer`], for an operation whose output is rows
/// ([`Operation::NDJSON`]): one JSON object a line.
pub async fn answer_rows<O, R>(app: &App, who: &Caller, op: O) -> Result<Response, ApiError>
where
    O: Operation<Output = Vec<R>>,
    R: Serialize,
{
    let rows = op.run(app, who).await?;
    let mut body = Vec::new();
    for r in &rows {
        serde_json::to_writer(&mut body, r).map_err(|e| {
            tracing::error!(error = %e, route = O::ROUTE, "a row could not be written");
            ApiError::Internal
        })?;
        body.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::Invalid(m) => ApiError::BadRequest(m),
            AppError::Forbidden(m) => ApiError::Forbidden(m),
            AppError::Missing(m) => ApiError::Missing(m),
            AppError::Conflict(m) => ApiError::Conflict(m),
            AppError::OverLimit(m) => ApiError::OverLimit(m),
            AppError::TooMany(m) => ApiError::TooManyRequests(m),
            AppError::NotNow(m) => ApiError::NotNow(m),
            AppError::StorageFull(m) => ApiError::StorageFull(m),
            AppError::Damaged(m) => ApiError::Damaged(m),
            AppError::Internal => ApiError::Internal,
        }
    }
}
