//! Configuration changes are audit events: at each start `serve` compares
//! the effective configuration with the one it last started with
//! (`<data_dir>/config.applied`) and appends a `config.changed` record to
//! the ledger naming every key whose value changed, old and new (the first
//! start has nothing to compare with and only remembers). Values are as
//! [`Config::values`] gives them: credentials in URLs are `***`.

use pramaan_config::Config;
use pramaan_core::LedgerSink;
use std::collections::BTreeMap;

const FILE: &str = "config.applied";

/// Records the difference (if any) and remembers this configuration.
/// The record is appended before the file is replaced, so a crash in
/// between records the change again at the next start rather than never.
pub async fn record_changes(cfg: &Config, sink: &dyn LedgerSink) -> Result<(), String> {
    let path = cfg.data_dir.join(FILE);
    let now: BTreeMap<String, String> = cfg
        .values()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    // `values` hides credentials; a file written before it did may hold
    // them in clear, so they are hidden on reading too (the comparison is
    // of hidden values, and the record never carries a password).
    let before: Option<BTreeMap<String, String>> = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice::<BTreeMap<String, String>>(&b)
            .ok()
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, pramaan_config::redact(&v)))
                    .collect()
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let changed: Vec<serde_json::Value> = match &before {
        None => Vec::new(),
        Some(old) => now
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(v))
            .map(|(k, v)| serde_json::json!({ "key": k, "old": old.get(k), "new": v }))
            .chain(
                old.iter()
                    .filter(|(k, _)| !now.contains_key(*k))
                    .map(|(k, v)| serde_json::json!({ "key": k, "old": v, "new": null })),
            )
            .collect(),
    };
    // The first start has nothing to compare with: it only remembers.
    if before.is_some() {
        if changed.is_empty() {
            return Ok(());
        }
        let ev = pramaan_auth::audit::AuditEvent::new("config.changed", "serve", "configuration")
            .detail("changed", serde_json::Value::Array(changed))
            .detail("keys", now.len() as u64);
        pramaan_auth::audit::record(sink, &ev)
            .await
            .map_err(|e| e.to_string())?;
    }
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec_pretty(&now).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}
