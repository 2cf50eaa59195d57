//! Reading the vault: searches ([`Search`]) and SQL ([`Sql`]). Log lines
//! are the analysts'; pramaan's own records (the audit trail among them,
//! itself personal data) are the auditors'. The access table lets both
//! roles reach the routes; which records are asked for decides.
//!
//! Both are reads: their audit record is written before they run (the
//! server's guard, or [`crate::audited::run`] on the data directory).

use crate::search_params::SearchParams;
use crate::{App, AppError, Caller, Operation, Wire};
use pramaan_auth::Role;
use pramaan_vault::search::{self, Hit, Started};
use pramaan_vault::sql::{Records, SqlError};
use pramaan_vault::VaultError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `GET /api/v1/search`: the lines matching the parameters, oldest first
/// (or as `order` says), as NDJSON.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(transparent)]
pub struct Search(pub SearchParams);

impl Search {
    /// Authorises, then starts the search and waits at most `wait` for its
    /// first hits, so that a search failing at once is an error, not an
    /// empty answer (the API streams the rest).
    pub async fn start(self, app: &App, who: &Caller, wait: Duration) -> Result<Started, AppError> {
        app.authorise::<Self>(who)?;
        let q = self
            .0
            .to_query(pramaan_core::time::now_ns())
            .map_err(AppError::Invalid)?;
        may_read(who, q.internal)?;
        tracing::info!(user = %who.name, query = ?self.0, "search");
        search::search_started(app.vault(), q, wait)
            .await
            .map_err(search_failed)
    }
}

impl Operation for Search {
    type Output = Vec<Hit>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/search";
    const WIRE: Wire = Wire::Ndjson;

    async fn run(self, app: &App, who: &Caller) -> Result<Vec<Hit>, AppError> {
        let wait = app.config().http.request_timeout / 2;
        let mut started = self.start(app, who, wait).await?;
        let mut out: Vec<Hit> = started.first.iter().flat_map(search::hits).collect();
        while let Some(b) = started.rest.recv().await {
            out.extend(search::hits(&b.map_err(search_failed)?));
        }
        Ok(out)
    }
}

/// A search that failed: said without server paths, logged in full.
pub fn search_failed(e: VaultError) -> AppError {
    tracing::error!(error = %e, "search failed");
    match e {
        // Nothing is wrong with the evidence: ask again later (503).
        VaultError::Unreachable { .. } => AppError::NotNow(e.client_message()),
        _ => AppError::Damaged(e.client_message()),
    }
}

/// `POST /api/v1/sql`: one read-only SQL query over the log lines (table
/// `logs`), or with `internal` over pramaan's own records too (auditors).
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    pub query: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
}

/// One row of a SQL answer: column name to value (binary as base64).
pub type Row = serde_json::Map<String, serde_json::Value>;

impl Operation for Sql {
    type Output = Vec<Row>;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/sql";
    const WIRE: Wire = Wire::Ndjson;

    async fn run(self, app: &App, who: &Caller) -> Result<Vec<Row>, AppError> {
        app.authorise::<Self>(who)?;
        may_read(who, self.internal)?;
        // Held until the answer is made, or until the caller goes away
        // (dropping this future cancels the query and frees the slot).
        let _slot = app.sql_slots().enter(&who.name).ok_or_else(|| {
            AppError::TooMany(format!(
                "you already run {} SQL queries at once (sql.max_concurrent_per_user); retry when one has ended",
                app.sql_slots().max
            ))
        })?;
        tracing::info!(user = %who.name, query = %self.query, internal = self.internal, "sql");
        let records = if self.internal {
            Records::All
        } else {
            Records::Logs
        };
        let batches = pramaan_vault::sql::run_with(app.vault(), &self.query, records)
            .await
            .map_err(sql_error)?;
        let ndjson = pramaan_vault::sql::to_ndjson(&batches).map_err(AppError::internal)?;
        ndjson
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).map_err(AppError::internal))
            .collect()
    }
}

/// Log lines need the analyst role, pramaan's own records the auditor's.
fn may_read(who: &Caller, internal: bool) -> Result<(), AppError> {
    let may = |r: Role| who.has(r) || who.has(Role::Admin);
    if internal && !may(Role::Auditor) {
        return Err(AppError::Forbidden(
            "internal=true (pramaan's own records, such as the audit trail) needs the auditor role"
                .into(),
        ));
    }
    if !internal && !may(Role::Analyst) {
        return Err(AppError::Forbidden(
            "searching log lines needs the analyst role (auditors search pramaan's own records with internal=true)".into(),
        ));
    }
    Ok(())
}

/// A refused or failed SQL query as the caller sees it (the vault's
/// messages hold no server paths).
fn sql_error(e: VaultError) -> AppError {
    match e {
        VaultError::Sql(e) => match e {
            SqlError::NotReadOnly(_) => AppError::Forbidden(e.to_string()),
            SqlError::Invalid(_) => AppError::Invalid(e.to_string()),
            SqlError::Timeout(_)
            | SqlError::Memory(_)
            | SqlError::TooManyRows(_)
            | SqlError::TooManyBytes(_) => AppError::OverLimit(e.to_string()),
            SqlError::Stopped => AppError::NotNow(e.to_string()),
            other => AppError::internal(other),
        },
        other => AppError::internal(other),
    }
}

/// How many SQL queries each caller runs now, against
/// `sql.max_concurrent_per_user`.
pub struct SqlSlots {
    pub max: usize,
    running: Mutex<HashMap<String, usize>>,
}

/// One running query's place; given back when dropped.
pub struct SqlSlot {
    slots: Arc<SqlSlots>,
    user: String,
}

impl SqlSlots {
    pub fn new(max: usize) -> SqlSlots {
        SqlSlots {
            max: max.max(1),
            running: Default::default(),
        }
    }

    /// A place for `user`'s query, or `None` when they run `max` already.
    pub fn enter(self: &Arc<Self>, user: &str) -> Option<SqlSlot> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.entry(user.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SqlSlot {
            slots: self.clone(),
            user: user.to_owned(),
        })
    }
}

impl Drop for SqlSlot {
    fn drop(&mut self) {
        let mut running = self.slots.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_their_own_slots_and_gets_them_back() {
        let slots = Arc::new(SqlSlots::new(2));
        let a1 = slots.enter("a").unwrap();
        let _a2 = slots.enter("a").unwrap();
        assert!(slots.enter("a").is_none());
        let _b = slots.enter("b").unwrap();
        drop(a1);
        let _a3 = slots.enter("a").unwrap();
    }

    #[test]
    fn the_search_travels_as_its_parameters() {
        let s = Search(SearchParams {
            ip: Some("10.0.0.1".into()),
            limit: Some(5),
            ..Default::default()
        });
        let q = serde_urlencoded::to_string(&s).unwrap();
        assert!(q.contains("ip=10.0.0.1") && q.contains("limit=5"), "{q}");
        let back: Search = serde_urlencoded::from_str(&q).unwrap();
        assert_eq!(back.0.ip.as_deref(), Some("10.0.0.1"));
    }
}
