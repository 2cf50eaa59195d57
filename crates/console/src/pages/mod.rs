//! Every console page: `/console/...`, server-rendered HTML that works
//! without JavaScript; forms carry the session's CSRF token as the `_csrf`
//! field (the server's access guard checks it). Each handler reads the
//! request, runs the application's operation for the signed-in caller
//! (`pramaan_app`, as the JSON API does, so what a page shows is what the
//! API answers and the same audit records are written) and renders. Every
//! route has a row in the access table; which forms a page offers is that
//! table's answer ([`crate::web::may`]).

use crate::Host;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

mod audit;
mod dashboard;
mod holds;
mod incidents;
mod orders;
mod password;
mod search;
pub mod session;
mod settings;
mod vasp;
mod whois;

pub use search::{to_csv, MAX_DOWNLOAD, PAGE};

/// The console's router, for the server to mount behind its access guard.
pub fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route("/console", get(dashboard::show::<H>))
        .route("/console/sources", get(dashboard::sources::<H>))
        .merge(session::routes())
        .merge(search::routes())
        .merge(whois::routes())
        .merge(vasp::routes())
        .merge(holds::routes())
        .merge(audit::routes())
        .merge(settings::routes())
        .merge(incidents::routes())
        .merge(orders::routes())
        .merge(password::routes())
}
