//! The caller's own password: `GET/POST /console/password`. A person whose
//! password is one-time is sent here from any console page (the guard's
//! refusal, said by the server's `gate`) and, once it is changed, goes on
//! to the page they asked for. The change is the API's `POST
//! /api/v1/password` ([`Host::change_own_password`]: same rules, same
//! audit record); it ends the user's sessions, so the person gets a new one.

use super::session::with_session;
use crate::caller::Signed;
use crate::layout::Flash;
use crate::web::{csrf, page, safe_next, see_other, with_query, PASSWORD_PAGE};
use crate::{html, Host, Markup};
use axum::extract::{Form, Query as QueryParams, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use pramaan_app::Caller as Identity;
use pramaan_auth::{Method, MIN_PASSWORD_LEN};
use serde::Deserialize;
use std::sync::Arc;

pub(super) fn routes<H: Host>() -> Router<Arc<H>> {
    // A literal, as every route (the access test reads them from the
    // sources); the guard's redirect names it as `web::PASSWORD_PAGE`.
    Router::new().route("/console/password", get(show_form).post(change::<H>))
}

#[derive(Deserialize, Default)]
struct NextParams {
    next: Option<String>,
}

/// What the form sends (its `_csrf` field is the guard's).
#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    current: String,
    new: String,
    again: String,
    next: Option<String>,
}

fn form(id: &Identity, next: &str) -> Markup {
    html! {
        @if id.must_change_password {
            p role="status" {
                strong { "Your password is one-time. " }
                "It was given to you by an administrator: choose your own before you go on."
            }
        }
        @if id.method == Method::Token {
            p { "A token has no password; log in as a user to change yours." }
        }
        form.stack method="post" action=(PASSWORD_PAGE) {
            (csrf(id))
            input type="hidden" name="next" value=(next);
            div {
                label for="current" { "Current password" }
                input #current name="current" type="password" autocomplete="current-password" required;
            }
            div {
                label for="new" { "New password" }
                input #new name="new" type="password" autocomplete="new-password" required minlength=(MIN_PASSWORD_LEN) aria-describedby="new-hint";
                small.muted #new-hint { "At least " (MIN_PASSWORD_LEN) " characters, not the current one." }
            }
            div {
                label for="again" { "New password again" }
                input #again name="again" type="password" autocomplete="new-password" required;
            }
            div { button type="submit" { "Change the password" } }
        }
    }
}

fn answer(id: &Identity, next: &str, status: StatusCode, flash: Option<Flash>) -> Response {
    let mut r = page(id, "Your password", "", flash, form(id, next));
    *r.status_mut() = status;
    r
}

async fn show_form(Signed(id): Signed, QueryParams(p): QueryParams<NextParams>) -> Response {
    answer(&id, safe_next(p.next.as_deref()), StatusCode::OK, None)
}

async fn change<H: Host>(
    State(st): State<Arc<H>>,
    Signed(id): Signed,
    Form(f): Form<PasswordForm>,
) -> Response {
    let next = safe_next(f.next.as_deref()).to_owned();
    let refuse = |status, msg: &str| answer(&id, &next, status, Some(Flash::Error(msg.into())));
    if f.new != f.again {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The two new passwords are not the same; nothing was changed.",
        );
    }
    if let Err(e) = st.change_own_password(&id, f.current, f.new).await {
        return refuse(e.status, &e.message);
    }
    // The change ended every session of the user, this one included: a
    // person on the console goes on in a new one.
    if id.method != Method::Session {
        return see_other(&next);
    }
    match st
        .open_session(&id, "console, after changing the password")
        .await
    {
        Ok(sid) => with_session(&*st, see_other(&next), &sid),
        Err(e) => {
            // The password is changed; only the new session is missing.
            tracing::error!(error = %e, user = %id.name, "could not open a session after a password change");
            see_other(&with_query("/console/login", "next", &next))
        }
    }
}
