//! Answers an application operation over HTTP: the handler extracts the
//! operation's value (path, query or body), this runs it for the caller
//! the guard authenticated and renders the output as JSON or the error with
//! its status.

use super::ApiError;
use axum::Json;
use pramaan_app::{App, AppError, Caller, Operation};

pub async fn answer<O: Operation>(
    app: &App,
    who: &Caller,
    op: O,
) -> Result<Json<O::Output>, ApiError> {
    Ok(Json(op.run(app, who).await?))
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
