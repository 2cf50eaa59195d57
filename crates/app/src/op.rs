//! An operation: one thing a caller can ask of pramaan, with its input and
//! output types. The input is the operation value itself (its fields are
//! the request), so the CLI can send it over HTTP or run it in-process with
//! the same code, and the API's route for it is named once, here.

use crate::{App, AppError, Caller};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// How an operation's output travels over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// One JSON document.
    Json,
    /// Rows (the output is a `Vec<_>`), one JSON object a line, so that
    /// large answers stream.
    Ndjson,
    /// Plain text (the output is a `String`), e.g. a signed note.
    Text,
}

pub trait Operation: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// What a successful call answers.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// The API route that answers this operation, exactly as registered in
    /// the router and in the access table (`POST`, `/api/v1/incidents`).
    const METHOD: &'static str;
    const ROUTE: &'static str;

    /// The route with its `{parameters}` filled in from the value, for a
    /// client (`/api/v1/incidents/7`). Without parameters, the route.
    fn path(&self) -> String {
        Self::ROUTE.to_owned()
    }

    /// How the output travels over HTTP.
    const WIRE: Wire = Wire::Json;

    /// Whether the value travels as the query string (GET, DELETE) or as a
    /// JSON body.
    fn in_query() -> bool {
        matches!(Self::METHOD, "GET" | "HEAD" | "DELETE")
    }

    /// Runs the operation for `who`. Implementations start with
    /// `app.authorise::<Self>(who)?` and write any audit record before
    /// returning data.
    fn run(
        self,
        app: &App,
        who: &Caller,
    ) -> impl Future<Output = Result<Self::Output, AppError>> + Send;
}

/// Fills `{name}` in `route` with `value` (percent-encoded as a path segment).
pub fn fill(route: &str, name: &str, value: &str) -> String {
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    route.replace(&format!("{{{name}}}"), &encoded)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_are_filled_and_encoded() {
        assert_eq!(
            super::fill(
                "/api/v1/orders/{reference}/approve",
                "reference",
                "MHA/2026 #7"
            ),
            "/api/v1/orders/MHA%2F2026%20%237/approve"
        );
        assert_eq!(
            super::fill("/api/v1/incidents/{id}", "id", "7"),
            "/api/v1/incidents/7"
        );
    }
}
