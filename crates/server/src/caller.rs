//! The caller of a request, as handlers take it: [`Authenticated`], an
//! extractor over the `Identity` extension the access guard sets once it
//! has authenticated the request. No handler reads a header for identity.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pramaan_app::Caller;

/// The authenticated caller (`Authenticated(who): Authenticated` in a
/// handler's arguments; `who` is a [`pramaan_app::Caller`]).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Caller);

impl std::ops::Deref for Authenticated {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// A handler that needs the caller ran without the guard in front of it (a
/// route mounted outside the guarded router): a bug of the server, answered
/// 500 and logged, never served as nobody.
#[derive(Debug)]
pub struct NoCaller {
    path: String,
}

impl IntoResponse for NoCaller {
    fn into_response(self) -> Response {
        tracing::error!(path = %self.path, "a handler needs the caller, but the access guard did not run for this route");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": "internal error; see the server log" })),
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = NoCaller;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, NoCaller> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Authenticated)
            .ok_or_else(|| NoCaller {
                path: parts.uri.path().to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn name(Authenticated(who): Authenticated) -> String {
        who.name
    }

    fn request() -> Request<Body> {
        Request::builder()
            .uri("/me")
            // A client's claim is no identity.
            .header("x-pramaan-actor", "mallory")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn the_caller_is_the_extension_the_guard_set() {
        let who = Caller {
            name: "asha".into(),
            roles: pramaan_auth::RoleSet::of(&[pramaan_auth::Role::Analyst]),
            method: pramaan_auth::Method::Token,
            csrf: None,
            must_change_password: false,
        };
        let app = Router::new()
            .route("/me", get(name))
            .layer(axum::Extension(who));
        let r = app.oneshot(request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"asha");
    }

    #[tokio::test]
    async fn without_the_guard_the_handler_does_not_run() {
        let app = Router::new().route("/me", get(name));
        let r = app.oneshot(request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("mallory"));
    }
}
