//! Legal holds and retention runs: add, list and release holds, run
//! retention now (or see what it would do).
//!
//! Who placed or released a hold is the caller (over HTTP, where the
//! request came from too), never what the client says: a `by` the client
//! sends that names someone else is kept only after the identity, as what
//! it stated. The local operator (the CLI on the data directory) is
//! recorded as `<by or os user> (local)`.

use crate::{App, AppError, Caller, Operation};
use pramaan_auth::Method;
use pramaan_core::time::{now_ns, parse_user_time, rfc3339_ist, rfc3339_utc};
use pramaan_vault::retention::{Hold, NewHold, RetentionError, RunReport};
use serde::{Deserialize, Serialize};

/// A hold as callers see it: the stored fields, its times in RFC 3339
/// (IST, UTC alongside) and whether it is active.
pub fn hold_json(h: &Hold) -> serde_json::Value {
    let mut v = serde_json::to_value(h).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("active".into(), h.active().into());
        o.insert("from".into(), rfc3339_ist(h.from_ns).into());
        o.insert("to".into(), rfc3339_ist(h.to_ns).into());
        o.insert("from_utc".into(), rfc3339_utc(h.from_ns).into());
        o.insert("to_utc".into(), rfc3339_utc(h.to_ns).into());
        o.insert("created_at".into(), rfc3339_ist(h.created_at_ns).into());
        if let Some(r) = h.released_at_ns {
            o.insert("released_at".into(), rfc3339_ist(r).into());
        }
    }
    v
}

impl From<RetentionError> for AppError {
    fn from(e: RetentionError) -> AppError {
        match e {
            RetentionError::Invalid(m) => AppError::Invalid(m),
            RetentionError::UnknownHold(_) => AppError::Missing(e.to_string()),
            RetentionError::AlreadyReleased(_) => AppError::Conflict(e.to_string()),
            RetentionError::Append(_) | RetentionError::ReadOnly => AppError::NotNow(e.to_string()),
            other => AppError::internal(other),
        }
    }
}

/// `alice (HTTP from 10.1.2.3)`, `token:ci (HTTP from 10.1.2.3; by: ravi,
/// as stated by the client)`, or locally `ravi (local)`.
fn actor(who: &Caller, via: Option<&str>, by: Option<&str>) -> Result<String, AppError> {
    let by = by.map(str::trim).filter(|b| !b.is_empty());
    if let Some(b) = by {
        if b.chars().any(char::is_control) || b.len() > 200 {
            return Err(AppError::Invalid(
                "by must be one line of at most 200 bytes without control characters".into(),
            ));
        }
    }
    if who.method == Method::Local {
        return Ok(match by {
            Some(b) => format!("{b} (local)"),
            None => who.name.clone(),
        });
    }
    let mut notes: Vec<String> = via.map(str::to_owned).into_iter().collect();
    if let Some(b) = by.filter(|b| *b != who.name) {
        notes.push(format!("by: {b}, as stated by the client"));
    }
    Ok(if notes.is_empty() {
        who.name.clone()
    } else {
        format!("{} ({})", who.name, notes.join("; "))
    })
}

/// `POST /api/v1/holds`: puts a legal hold on records; retention deletes no
/// segment it touches until it is released.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AddHold {
    /// Start of the held received-time range: RFC 3339, a date (IST), or an age like 30d.
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub reason: String,
    pub order_ref: String,
    /// Who the client says asks for it (kept after the caller's identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Where the request came from (`HTTP from 10.1.2.3`); set by the server.
    #[serde(skip)]
    pub via: Option<String>,
}

impl Operation for AddHold {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/holds";

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let now = now_ns();
        let time = |name: &str, v: &str| {
            parse_user_time(v, now).map_err(|e| AppError::Invalid(format!("{name}: {e}")))
        };
        let h = NewHold {
            from_ns: time("from", &self.from)?,
            to_ns: time("to", &self.to)?,
            source: self.source.filter(|s| !s.trim().is_empty()),
            ip: self.ip.filter(|s| !s.trim().is_empty()),
            reason: self.reason,
            order_ref: self.order_ref,
            created_by: actor(who, self.via.as_deref(), self.by.as_deref())?,
        };
        let hold = app.retention().add_hold(&h, now).await?;
        Ok(hold_json(&hold))
    }
}

/// `GET /api/v1/holds`: every hold, released ones too.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ListHolds {}

impl Operation for ListHolds {
    type Output = Vec<serde_json::Value>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/holds";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        Ok(app.retention().holds()?.iter().map(hold_json).collect())
    }
}

/// `POST /api/v1/holds/{id}/release`: the hold stays listed, with when, by
/// whom and why it was released.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHold {
    /// The hold's number (in the route, not the body).
    #[serde(default, skip_serializing)]
    pub id: i64,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip)]
    pub via: Option<String>,
}

impl Operation for ReleaseHold {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/holds/{id}/release";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "id", &self.id.to_string())
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let by = actor(who, self.via.as_deref(), self.by.as_deref())?;
        let hold = app
            .retention()
            .release_hold(self.id, &by, &self.reason, now_ns())
            .await?;
        Ok(hold_json(&hold))
    }
}

/// `POST /api/v1/retention/run?dry_run=true`: a retention run now, or only
/// what it would do; answered with the run's report.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RunRetention {
    #[serde(default)]
    pub dry_run: Option<bool>,
}

impl Operation for RunRetention {
    type Output = RunReport;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/retention/run";

    fn in_query() -> bool {
        true
    }

    async fn run(self, app: &App, who: &Caller) -> Result<RunReport, AppError> {
        app.authorise::<Self>(who)?;
        let dry = self.dry_run.unwrap_or(false);
        tracing::info!(dry_run = dry, by = %who.name, "retention run requested");
        // In a task of its own, so that a caller that gives up (or a request
        // timeout) does not cut the run short.
        let retention = app.retention().clone();
        tokio::spawn(async move { retention.run(now_ns(), dry).await })
            .await
            .map_err(|e| AppError::internal(format!("the retention run failed: {e}")))?
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_auth::{Role, RoleSet};

    fn caller(name: &str, method: Method) -> Caller {
        Caller {
            name: name.into(),
            roles: RoleSet::of(&[Role::Analyst]),
            method,
            csrf: None,
            must_change_password: false,
        }
    }

    #[test]
    fn the_actor_is_the_caller_and_a_claimed_name_only_follows_it() {
        let t = caller("token:ci", Method::Token);
        assert_eq!(
            actor(&t, Some("HTTP from 127.0.0.1"), None).unwrap(),
            "token:ci (HTTP from 127.0.0.1)"
        );
        assert_eq!(
            actor(&t, Some("HTTP from 127.0.0.1"), Some("ravi")).unwrap(),
            "token:ci (HTTP from 127.0.0.1; by: ravi, as stated by the client)"
        );
        assert_eq!(actor(&t, None, Some("token:ci")).unwrap(), "token:ci");
        assert!(actor(&t, None, Some("a\nb")).is_err());
        let l = caller("root (local)", Method::Local);
        assert_eq!(actor(&l, None, Some("asha")).unwrap(), "asha (local)");
        assert_eq!(actor(&l, None, None).unwrap(), "root (local)");
    }
}
