//! API tokens for machines and scripts: list, create, revoke (admin).
//!
//! Only a token's SHA-256 is stored; its secret is returned once, in
//! [`CreateToken`]'s output, and never logged. Each change is recorded on
//! the audit trail.

use crate::users::{blocking, record_change};
use crate::{App, AppError, Caller, Operation};
use pramaan_auth::audit::{action, AuditEvent};
use pramaan_auth::{RoleSet, TokenInfo};
use pramaan_core::time::{now_ns, rfc3339_ist, rfc3339_utc};
use serde::{Deserialize, Serialize};

/// A token as callers see it (never its secret): the stored fields,
/// whether it works now, its times in RFC 3339 (IST).
pub fn token_json(t: &TokenInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("active".into(), t.active(now_ns()).into());
        o.insert("created_at".into(), rfc3339_ist(t.created_at_ns).into());
        if let Some(e) = t.expires_at_ns {
            o.insert("expires_at".into(), rfc3339_ist(e).into());
        }
        if let Some(r) = t.revoked_at_ns {
            o.insert("revoked_at".into(), rfc3339_ist(r).into());
        }
    }
    v
}

/// `90d` → now + 90 days; otherwise a time as `--to` takes it.
pub fn parse_expiry(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(secs) = pramaan_core::time::parse_age_secs(s) {
        return Ok(now.saturating_add(secs.saturating_mul(1_000_000_000)));
    }
    let t = pramaan_core::time::parse_user_time(s, now).map_err(|e| format!("expires: {e}"))?;
    if t <= now {
        return Err(format!("expires: `{s}` is in the past"));
    }
    Ok(t)
}

/// `GET /api/v1/tokens`: every token, revoked ones too (never a secret).
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ListTokens {}

impl Operation for ListTokens {
    type Output = Vec<serde_json::Value>;
    const METHOD: &'static str = "GET";
    const ROUTE: &'static str = "/api/v1/tokens";

    async fn run(self, app: &App, who: &Caller) -> Result<Self::Output, AppError> {
        app.authorise::<Self>(who)?;
        let tokens = blocking(app, |a| a.store().tokens()).await?;
        Ok(tokens.iter().map(token_json).collect())
    }
}

/// `POST /api/v1/tokens`: a new token; its `secret` is in the answer only.
#[derive(Serialize, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Comma-separated role names.
    pub roles: String,
    /// An age (`90d`) or a time (RFC 3339, a date).
    #[serde(default)]
    pub expires: Option<String>,
}

impl Operation for CreateToken {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/tokens";

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let roles = RoleSet::parse(&self.roles)?;
        let now = now_ns();
        let expires = self
            .expires
            .as_deref()
            .map(|e| parse_expiry(e, now))
            .transpose()
            .map_err(AppError::Invalid)?;
        let (name, by) = (self.name, who.name.clone());
        let t = blocking(app, move |a| {
            a.store().create_token(&name, roles, &by, expires, now)
        })
        .await?;
        record_change(
            app,
            AuditEvent::new(action::TOKEN_CREATE, &who.name, &t.info.name)
                .detail("roles", roles.to_string())
                .detail("expires_at", expires.map(rfc3339_utc)),
        )
        .await;
        let mut v = token_json(&t.info);
        v["secret"] = t.secret.into();
        Ok(v)
    }
}

/// `POST /api/v1/tokens/{name}/revoke`: the token (by name or number)
/// stops working at once.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeToken {
    #[serde(default, skip_serializing)]
    pub name: String,
}

impl Operation for RevokeToken {
    type Output = serde_json::Value;
    const METHOD: &'static str = "POST";
    const ROUTE: &'static str = "/api/v1/tokens/{name}/revoke";

    fn path(&self) -> String {
        crate::op::fill(Self::ROUTE, "name", &self.name)
    }

    async fn run(self, app: &App, who: &Caller) -> Result<serde_json::Value, AppError> {
        app.authorise::<Self>(who)?;
        let (name, by) = (self.name, who.name.clone());
        let t = blocking(app, move |a| a.store().revoke_token(&name, &by, now_ns())).await?;
        record_change(
            app,
            AuditEvent::new(action::TOKEN_REVOKE, &who.name, &t.name),
        )
        .await;
        Ok(token_json(&t))
    }
}
