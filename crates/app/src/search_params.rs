//! The parameters of a search over the vault's lines, as `GET /api/v1/search`
//! and `pramaan search` take them, turned into a vault [`Query`]. The search
//! route and the incident desk's excerpts (which attach the lines a search
//! finds) read them the same way.

use pramaan_vault::search::{self, parse_severity, Order};
use pramaan_vault::Query;
use serde::{Deserialize, Serialize};

/// Search parameters, as in `pramaan search`.
#[derive(Deserialize, Serialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
    pub user: Option<String>,
    pub severity: Option<String>,
    /// Text that the raw line, or its structured data (labels, attributes,
    /// trace ids a shipper sent), contains.
    pub q: Option<String>,
    pub regex: Option<String>,
    pub seq: Option<String>,
    pub limit: Option<usize>,
    pub order: Option<Order>,
    /// pramaan's own records (audit trail, clock, incidents, retention...)
    /// instead of log lines: auditors only.
    pub internal: Option<bool>,
}

/// Most results one search returns (without a limit, a default of 100 applies).
pub const MAX_LIMIT: usize = 1_000_000;

impl SearchParams {
    pub fn to_query(&self, now_ns: i64) -> Result<Query, String> {
        let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, String> {
            v.as_deref()
                .map(|s| {
                    pramaan_core::time::parse_user_time(s, now_ns)
                        .map_err(|e| format!("{name}: {e}"))
                })
                .transpose()
        };
        let ip = self
            .ip
            .as_deref()
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| format!("ip: `{s}` is not an IPv4 or IPv6 address"))
            })
            .transpose()?;
        let severity = self
            .severity
            .as_deref()
            .map(|s| {
                parse_severity(s).ok_or_else(|| {
                    format!(
                        "severity: `{s}` is not a level; use one of {}",
                        search::SEVERITIES.join(", ")
                    )
                })
            })
            .transpose()?;
        let regex = self
            .regex
            .as_deref()
            .map(|r| {
                regex::bytes::RegexBuilder::new(r)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("regex: {e}"))
            })
            .transpose()?;
        let (seq_from, seq_to) = match self.seq.as_deref() {
            None => (None, None),
            Some(s) => pramaan_core::query::parse_seq_range(s)?,
        };
        let limit = self.limit.unwrap_or(100);
        if limit > MAX_LIMIT {
            return Err(format!("limit: {limit} is more than {MAX_LIMIT}"));
        }
        let q = Query {
            from_ns: time("from", &self.from)?,
            to_ns: time("to", &self.to)?,
            seq_from,
            seq_to,
            host: self.host.clone(),
            app: self.app.clone(),
            ip,
            user: self.user.clone(),
            severity,
            text: self.q.clone().filter(|s| !s.is_empty()),
            regex,
            limit,
            order: self.order.unwrap_or_default(),
            internal: self.internal.unwrap_or(false),
        };
        if let (Some(f), Some(t)) = (q.from_ns, q.to_ns) {
            if f >= t {
                return Err("from must be before to".into());
            }
        }
        Ok(q)
    }
}
