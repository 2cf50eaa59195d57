//! Where a command finds the vault: a running `serve` (over HTTP), or the
//! data directory itself when no server holds it.

use anyhow::Result;
use pramaan_config::Config;

pub enum Target {
    /// A running server at this base URL.
    Server(String),
    /// No server: the data directory, opened by this process.
    Direct,
}

/// A server holds the data directory's lock: talk to it; otherwise open the directory.
pub fn target(cfg: &Config, server: Option<&str>) -> Target {
    if let Some(s) = server {
        return Target::Server(s.trim_end_matches('/').to_owned());
    }
    if pramaan_vault::is_locked(&cfg.data_dir) {
        Target::Server(format!("http://{}", cfg.http.listen))
    } else {
        Target::Direct
    }
}

/// Environment variable holding the API token the CLI sends to a running
/// server (`pramaan token create` makes one).
pub const ENV_TOKEN: &str = "PRAMAAN_TOKEN";

/// The HTTP client for talking to a server: sends `Authorization: Bearer
/// $PRAMAAN_TOKEN` when that variable is set.
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(t) = std::env::var(ENV_TOKEN) {
        if let Ok(mut v) = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", t.trim())) {
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
    }
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .build()
        .expect("an HTTP client builds")
}

/// Turns an HTTP error answer into a readable error.
pub async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or(body);
    anyhow::bail!("the server answered {status}: {msg}")
}
