//! The web console: every page under `/console` ([`pages`]; [`routes`] is
//! the router the server mounts behind its access guard). A page handler
//! reads the request, runs the application's operation for the signed-in
//! caller ([`caller::Signed`], the `Caller` extension the guard set) and
//! renders HTML; which forms and links it offers is the access table's
//! answer ([`web::may`]). What the console needs of the server that is not
//! the application's (sessions, the clock monitor, the audit trail read
//! back, the bundle download) it asks through [`Host`], which the server
//! implements for its state. The rendering itself is pure, checked against
//! known data: the page frame and its style ([`layout`]), the dashboard's
//! green/amber/red decisions ([`dashboard`]) and the SVG charts ([`charts`]).
//!
//! Owns: the console's pages and their routes, the console's HTML (frame,
//! style, dashboard decisions, charts), the error page, the session cookie's
//! use on the console (not its format: the host's).
//! May not touch: `pramaan-server` (no dependency: the server depends on
//! this crate and implements [`Host`]), the user store and sessions
//! (through [`Host`] only), role comparisons (the access table decides),
//! a component's state changes except through an application operation.

#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod caller;
pub mod charts;
pub mod dashboard;
pub mod host;
pub mod layout;
pub mod pages;
pub mod web;

pub use host::{Host, Refused, Session};
pub use maud::{html, Markup, PreEscaped};
pub use pages::routes;
pub use pages::session::login_message;

/// "2026-03-03 14:02:11.000 IST (08:32:11.000 UTC)": every time the console shows.
pub fn when(ns: i64) -> String {
    pramaan_core::time::human(ns)
}

/// "3 h 12 min", "45 min", "20 s": a duration for people (sign ignored).
pub fn duration(ns: i64) -> String {
    let s = ns.unsigned_abs() / 1_000_000_000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_people_say_them() {
        let s = 1_000_000_000i64;
        assert_eq!(super::duration(3 * 3600 * s + 12 * 60 * s), "3 h 12 min");
        assert_eq!(super::duration(-45 * 60 * s), "45 min");
        assert_eq!(super::duration(20 * s), "20 s");
        assert_eq!(super::duration(2 * 86_400 * s + 3600 * s), "2 d 1 h");
    }
}
