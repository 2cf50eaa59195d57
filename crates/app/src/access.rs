//! THE access table: which roles may call each route of the API and the
//! console, and which routes write an audit record. The server's guard
//! enforces it on every request; the application's operations check the
//! same rows (`App::authorise`), so a caller that reaches an operation some
//! other way (the CLI on the data directory) meets the same rules.
//!
//! * A request is matched by method and route pattern (axum's `MatchedPath`,
//!   e.g. `/api/v1/holds/{id}/release`). A pattern ending in `*` covers every
//!   route that starts with what comes before it. The most specific
//!   (longest) matching row wins.
//! * A route that no row covers is refused to everyone but `admin` (fail
//!   closed): a route added without a row cannot leak.
//! * `admin` passes every check.

use pramaan_auth::{audit, Identity, Role};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone, without credentials.
    Public,
    /// Anyone when `metrics.public` is on, else these roles.
    Metrics(&'static [Role]),
    /// Any authenticated caller.
    Authenticated,
    /// A caller holding one of these roles (or admin).
    Roles(&'static [Role]),
    /// Admin only.
    Admin,
}

/// What the middleware writes to the audit trail for a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audit {
    No,
    /// The action, with the query string.
    Query(&'static str),
    /// The action, with the query string and the JSON request body.
    Body(&'static str),
    /// As `Query`, for reads recorded only with `auth.audit_reads` (on by default).
    ReadQuery(&'static str),
    /// As `Body`, for reads recorded only with `auth.audit_reads`.
    ReadBody(&'static str),
}

/// One row of the access table.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// `GET`, `POST`, ... or `*` for every method. HEAD is checked as GET.
    pub method: &'static str,
    /// A route pattern as registered, or a prefix ending in `*`.
    pub pattern: &'static str,
    pub need: Need,
    pub audit: Audit,
}

use Role::*;

const fn row(method: &'static str, pattern: &'static str, need: Need, audit: Audit) -> Rule {
    Rule {
        method,
        pattern,
        need,
        audit,
    }
}

/// THE table. The README's role matrix is this table in words.
pub const TABLE: &[Rule] = &[
    // Health and telemetry.
    row("GET", "/healthz", Need::Public, Audit::No),
    row("GET", "/metrics", Need::Metrics(&[Auditor, Poc]), Audit::No),
    // Sessions and the caller's own account.
    row("POST", "/api/v1/login", Need::Public, Audit::No),
    row("POST", "/api/v1/logout", Need::Authenticated, Audit::No),
    row("GET", "/api/v1/me", Need::Authenticated, Audit::No),
    row("POST", "/api/v1/password", Need::Authenticated, Audit::No),
    // Users and tokens (the operations, `crate::users` and `crate::tokens`,
    // record each change).
    row("*", "/api/v1/users*", Need::Admin, Audit::No),
    row("*", "/api/v1/tokens*", Need::Admin, Audit::No),
    // The vault.
    row("GET", "/api/v1/status", Need::Authenticated, Audit::No),
    row("POST", "/api/v1/ingest", Need::Roles(&[Ingest]), Audit::No),
    // Shippers' protocols: OTLP/HTTP logs, systemd-journal-upload.
    row("POST", "/v1/logs", Need::Roles(&[Ingest]), Audit::No),
    row("POST", "/upload", Need::Roles(&[Ingest]), Audit::No),
    // Shippers' protocols: the same rule as `/api/v1/ingest`. Elasticsearch
    // clients' probes (`/` is public above) and the template and ILM calls
    // they make before `_bulk` (answered, nothing kept) too.
    row("*", "/_bulk", Need::Roles(&[Ingest]), Audit::No),
    row("*", "/{index}/_bulk", Need::Roles(&[Ingest]), Audit::No),
    row("GET", "/_license", Need::Roles(&[Ingest]), Audit::No),
    row("GET", "/_xpack", Need::Roles(&[Ingest]), Audit::No),
    row("GET", "/_nodes*", Need::Roles(&[Ingest]), Audit::No),
    row("GET", "/_cat/health", Need::Roles(&[Ingest]), Audit::No),
    row("*", "/_index_template/*", Need::Roles(&[Ingest]), Audit::No),
    row(
        "*",
        "/_component_template/*",
        Need::Roles(&[Ingest]),
        Audit::No,
    ),
    row("*", "/_template/*", Need::Roles(&[Ingest]), Audit::No),
    row("*", "/_ilm/policy/*", Need::Roles(&[Ingest]), Audit::No),
    row(
        "POST",
        "/loki/api/v1/push",
        Need::Roles(&[Ingest]),
        Audit::No,
    ),
    // Analysts search log lines, auditors pramaan's own records (`internal=true`);
    // the handler refuses the other kind to each.
    row(
        "GET",
        "/api/v1/search",
        Need::Roles(&[Analyst, Auditor]),
        Audit::ReadQuery(audit::action::SEARCH),
    ),
    row(
        "POST",
        "/api/v1/sql",
        Need::Roles(&[Analyst, Auditor]),
        Audit::ReadBody(audit::action::SQL),
    ),
    // A rule's back-test reads log lines: an analyst's, audited first.
    row(
        "POST",
        "/api/v1/detect/test",
        Need::Roles(&[Analyst]),
        Audit::ReadBody(audit::action::DETECT_TEST),
    ),
    // What the rules detected (rule, counts, sequence numbers; no line's
    // content): those who act on incidents and those who review them.
    row(
        "GET",
        "/api/v1/detect/detections",
        Need::Roles(&[Analyst, Poc, Auditor]),
        Audit::No,
    ),
    // Compliance alerts: read by those who answer for compliance; the
    // point of contact acknowledges.
    row(
        "GET",
        "/api/v1/alerts",
        Need::Roles(&[Poc, Auditor, Analyst]),
        Audit::No,
    ),
    row("POST", "/api/v1/alerts/ack", Need::Roles(&[Poc]), Audit::No),
    // Retention and legal holds.
    row(
        "GET",
        "/api/v1/holds",
        Need::Roles(&[Analyst, Approver, Auditor]),
        Audit::No,
    ),
    row(
        "POST",
        "/api/v1/holds",
        Need::Roles(&[Analyst, Approver]),
        Audit::Body(audit::action::HOLD_ADD),
    ),
    row(
        "POST",
        "/api/v1/holds/{id}/release",
        Need::Roles(&[Approver]),
        Audit::Body(audit::action::HOLD_RELEASE),
    ),
    row(
        "POST",
        "/api/v1/retention/run",
        Need::Admin,
        Audit::Query(audit::action::DELETION),
    ),
    // The ledger: proofs are for everyone with an account; co-signing is the auditor's.
    row("GET", "/api/v1/checkpoint", Need::Authenticated, Audit::No),
    row("GET", "/api/v1/checkpoints", Need::Authenticated, Audit::No),
    row(
        "POST",
        "/api/v1/checkpoint/cosign",
        Need::Roles(&[Auditor]),
        Audit::No,
    ),
    row("GET", "/api/v1/proof/*", Need::Authenticated, Audit::No),
    row("GET", "/ledger/*", Need::Authenticated, Audit::No),
    // The audit trail (the operation, `crate::audit_trail::SearchAudit`,
    // records each read before it answers).
    row("GET", "/api/v1/audit*", Need::Roles(&[Auditor]), Audit::No),
    // Clock monitor: read by auditors and the point of contact; changes by admin.
    row(
        "GET",
        "/api/v1/clock*",
        Need::Roles(&[Auditor, Poc]),
        Audit::No,
    ),
    // Incident desk and the point of contact's reports; auditors read.
    row("*", "/api/v1/incidents*", Need::Roles(&[Poc]), Audit::No),
    row(
        "GET",
        "/api/v1/incidents*",
        Need::Roles(&[Poc, Auditor]),
        Audit::No,
    ),
    row("*", "/api/v1/poc*", Need::Roles(&[Poc]), Audit::No),
    // Lawful orders: analysts and the point of contact register, export,
    // deliver and close; only an approver approves (the handler refuses the
    // registering user: four eyes); auditors read.
    row(
        "GET",
        "/api/v1/orders*",
        Need::Roles(&[Analyst, Poc, Approver, Auditor]),
        Audit::No,
    ),
    row(
        "POST",
        "/api/v1/orders*",
        Need::Roles(&[Analyst, Poc]),
        Audit::No,
    ),
    row(
        "POST",
        "/api/v1/orders/approve",
        Need::Roles(&[Approver]),
        Audit::Body(audit::action::APPROVAL),
    ),
    // What leaves the building is on the audit trail too (the order's own
    // records in the ledger say the same, with the bundle's files).
    row(
        "POST",
        "/api/v1/orders/export",
        Need::Roles(&[Analyst, Poc]),
        Audit::Body(audit::action::EXPORT),
    ),
    // Subscriber data: the registry officer (the handlers record each read with its purpose).
    row(
        "*",
        "/api/v1/registry*",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    row(
        "*",
        "/api/v1/subscribers*",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    row(
        "*",
        "/api/v1/whois*",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    // VASP transactions: the exchange's systems send them (ingest) or the
    // registry officer imports a file; the trail (customers, wallets, IP
    // addresses) is the registry officer's, each read audited with its purpose.
    row(
        "POST",
        "/api/v1/vasp/transactions",
        Need::Roles(&[Ingest, RegistryOfficer]),
        Audit::No,
    ),
    row(
        "GET",
        "/api/v1/vasp/trail",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    // The web console (`pramaan-console`'s pages): the same roles as the API
    // behind each page. An anonymous browser is sent to the login page.
    row("GET", "/", Need::Public, Audit::No),
    row("*", "/console/login", Need::Public, Audit::No),
    row("POST", "/console/logout", Need::Authenticated, Audit::No),
    // The caller's own password (the same change as `POST /api/v1/password`).
    row("*", "/console/password", Need::Authenticated, Audit::No),
    row("GET", "/console", Need::Roles(CONSOLE), Audit::No),
    // Every log source, a page at a time (what the dashboard's heatmap leaves out).
    row("GET", "/console/sources", Need::Roles(CONSOLE), Audit::No),
    row("GET", "/console/settings", Need::Roles(CONSOLE), Audit::No),
    row(
        "POST",
        "/console/settings/poc",
        Need::Roles(&[Poc]),
        Audit::No,
    ),
    row(
        "GET",
        "/console/search*",
        Need::Roles(&[Analyst]),
        Audit::ReadQuery(audit::action::SEARCH),
    ),
    row(
        "GET",
        "/console/records/*",
        Need::Roles(&[Analyst]),
        Audit::ReadQuery(audit::action::SEARCH),
    ),
    // whois and the subscriber page record each read with its purpose themselves.
    row(
        "GET",
        "/console/whois",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    row(
        "GET",
        "/console/subscribers",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    // The VASP trail page runs the trail operation, which records the read first.
    row(
        "GET",
        "/console/vasp",
        Need::Roles(&[RegistryOfficer]),
        Audit::No,
    ),
    row("*", "/console/incidents*", Need::Roles(&[Poc]), Audit::No),
    row(
        "GET",
        "/console/incidents*",
        Need::Roles(&[Poc, Auditor]),
        Audit::No,
    ),
    // Orders in the console: the same roles as `/api/v1/orders*`.
    row(
        "GET",
        "/console/orders*",
        Need::Roles(&[Analyst, Poc, Approver, Auditor]),
        Audit::No,
    ),
    row(
        "POST",
        "/console/orders*",
        Need::Roles(&[Analyst, Poc]),
        Audit::No,
    ),
    row(
        "POST",
        "/console/orders/approve",
        Need::Roles(&[Approver]),
        Audit::No,
    ),
    row(
        "GET",
        "/console/holds",
        Need::Roles(&[Analyst, Approver, Auditor]),
        Audit::No,
    ),
    // The hold handlers write the same audit records as the API rows (without the form's token).
    row(
        "POST",
        "/console/holds",
        Need::Roles(&[Analyst, Approver]),
        Audit::No,
    ),
    row(
        "POST",
        "/console/holds/{id}/release",
        Need::Roles(&[Approver]),
        Audit::No,
    ),
    row(
        "GET",
        "/console/audit",
        Need::Roles(&[Auditor]),
        Audit::ReadQuery(audit::action::AUDIT_SEARCH),
    ),
];

/// Every role that uses the console (not `ingest`, a machine's role).
pub const CONSOLE: &[Role] = &[Analyst, RegistryOfficer, Approver, Poc, Auditor];

/// Routes a caller whose password is one-time may still call: changing
/// it (API and console), who am I, and logging out.
pub const PASSWORD_CHANGE_ROUTES: &[&str] = &[
    "/api/v1/password",
    "/api/v1/me",
    "/api/v1/logout",
    "/console/password",
    "/console/logout",
];

fn method_matches(rule: &str, m: &str) -> bool {
    rule == "*" || rule == m || (m == "HEAD" && rule == "GET")
}

fn pattern_matches(rule: &str, path: &str) -> bool {
    match rule.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => rule == path,
    }
}

/// The row for a request: the most specific match (exact before prefix,
/// longer prefix first, a named method before `*`).
pub fn lookup(method: &str, pattern: &str) -> Option<&'static Rule> {
    TABLE
        .iter()
        .filter(|r| method_matches(r.method, method) && pattern_matches(r.pattern, pattern))
        .max_by_key(|r| (!r.pattern.ends_with('*'), r.pattern.len(), r.method != "*"))
}

/// Whether `id` may call a route with this rule (`None`: no row, fail closed).
pub fn allowed(rule: Option<&Rule>, id: &Identity, metrics_public: bool) -> bool {
    if id.has(Admin) {
        return true;
    }
    match rule.map(|r| r.need) {
        None | Some(Need::Admin) => false,
        Some(Need::Public) | Some(Need::Authenticated) => true,
        Some(Need::Metrics(roles)) => metrics_public || roles.iter().any(|r| id.has(*r)),
        Some(Need::Roles(roles)) => roles.iter().any(|r| id.has(*r)),
    }
}

/// The roles that may call a row's route, for messages ("analyst, admin").
pub fn needs(rule: Option<&Rule>) -> String {
    match rule.map(|r| r.need) {
        Some(Need::Roles(r)) | Some(Need::Metrics(r)) => r
            .iter()
            .chain([&Admin])
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => "admin".into(),
    }
}
