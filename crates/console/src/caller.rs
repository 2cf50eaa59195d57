//! The caller of a console page: [`Signed`], an extractor over the
//! [`pramaan_app::Caller`] request extension the server's access guard
//! sets once it has authenticated the request. No page reads a header for
//! identity.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pramaan_app::Caller;

/// The signed-in caller (`Signed(who): Signed` in a handler's arguments).
#[derive(Clone, Debug)]
pub struct Signed(pub Caller);

/// A page that needs the caller ran without the guard in front of it: a
/// bug of the server, answered 500 (the error page) and logged, never
/// served as nobody.
#[derive(Debug)]
pub struct NoCaller {
    path: String,
}

impl IntoResponse for NoCaller {
    fn into_response(self) -> Response {
        tracing::error!(path = %self.path, "a console page needs the caller, but the access guard did not run for this route");
        crate::web::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = NoCaller;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, NoCaller> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Signed)
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

    async fn name(Signed(who): Signed) -> String {
        who.name
    }

    fn request() -> Request<Body> {
        Request::builder()
            .uri("/console/me")
            .header("x-pramaan-actor", "mallory")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn the_caller_is_the_extension_the_guard_set() {
        let who = Caller {
            name: "asha".into(),
            roles: pramaan_auth::RoleSet::of(&[pramaan_auth::Role::Analyst]),
            method: pramaan_auth::Method::Session,
            csrf: None,
            must_change_password: false,
        };
        let app = Router::new()
            .route("/console/me", get(name))
            .layer(axum::Extension(who));
        let r = app.oneshot(request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"asha");
    }

    #[tokio::test]
    async fn without_the_guard_the_page_is_not_served() {
        let app = Router::new().route("/console/me", get(name));
        let r = app.oneshot(request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("mallory"));
    }
}
