//! Where a browser says a request comes from (`Origin`, `Sec-Fetch-Site`):
//! a state-changing request sent by another site's page is refused whoever
//! the caller is, and a console form without a session must come from a
//! console page. Programs send neither header and are not affected.

use axum::http::{header, HeaderMap, Uri};

/// The authority (`host[:port]`) the request was sent to: HTTP/2's
/// `:authority`, else the `Host` header.
fn request_authority(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// Whether an `Origin` (`scheme://host[:port]`) names the authority the
/// request was sent to (ASCII case ignored, the scheme's default port
/// optional). The scheme itself is not compared: behind a proxy that ends
/// TLS, pages are `https` while the server sees `http`.
fn origin_is(origin: &str, authority: &str) -> bool {
    let Some((scheme, auth)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let norm = |a: &str| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix(default) {
            Some(b) => b.to_owned(),
            None => a,
        }
    };
    !auth.is_empty() && !auth.contains('/') && norm(auth) == norm(authority)
}

/// Why a state-changing request comes from another site's page, if it does:
/// `Sec-Fetch-Site` other than `same-origin` or `none` (the user's own
/// action), or an `Origin` (`null` included) that is not this server.
pub fn cross_site(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers.get("sec-fetch-site") {
        let v = v.to_str().unwrap_or("?").trim().to_ascii_lowercase();
        if v != "same-origin" && v != "none" {
            return Some(format!("Sec-Fetch-Site: {v}"));
        }
    }
    if let Some(o) = headers.get(header::ORIGIN) {
        let o = o.to_str().unwrap_or("?").trim();
        let here = request_authority(headers, uri).unwrap_or_default();
        if !origin_is(o, &here) {
            return Some(format!("Origin: {o}"));
        }
    }
    None
}

/// Whether the browser says the request comes from one of this server's
/// pages (`Sec-Fetch-Site: same-origin`, or an `Origin` naming this server).
pub fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    if cross_site(headers, uri).is_some() {
        return false;
    }
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("same-origin"));
    fetch_site || headers.contains_key(header::ORIGIN)
}
