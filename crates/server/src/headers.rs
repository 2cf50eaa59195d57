//! Headers on every answer (the router's outermost layer): browsers never
//! guess a content type (`nosniff`), never show an answer in a frame
//! (`X-Frame-Options`, CSP `frame-ancestors`), run no script, and send no
//! `Referer` to other sites (`same-origin`: `no-referrer` would make them
//! send `Origin: null` on the console's own forms, which the guard refuses
//! as cross-site). A refused request with a body is answered with
//! `Connection: close`.

use crate::access::is_console;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;

/// The console's Content Security Policy: nothing but the page's own style
/// sheet (by its SHA-256: the one inline `<style>`, no `style` attribute),
/// no script at all, forms only to this server, never in a frame.
fn console_csp() -> HeaderValue {
    static CSP: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use sha2::Digest;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(
            pramaan_console::layout::CSS.as_bytes(),
        ));
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(OTHER_CSP))
    })
    .clone()
}

/// Every other answer's policy: no script, no frame, no form (the incident
/// report's HTML keeps its inline style).
const OTHER_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

/// The middleware (see the module's documentation).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let console = is_console(req.uri().path());
    let with_body = has_body(req.headers());
    let mut r = next.run(req).await;
    let refused = r.status().is_client_error() || r.status().is_server_error();
    let h = r.headers_mut();
    if with_body && refused {
        // A refusal may leave the body unread (413, 401, 503 before it was
        // read), so the server closes this connection after the answer; saying
        // so keeps the client from sending its next request on it.
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        if console {
            console_csp()
        } else {
            HeaderValue::from_static(OTHER_CSP)
        },
    );
    r
}

/// Whether the request says it carries a body.
fn has_body(h: &axum::http::HeaderMap) -> bool {
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}
