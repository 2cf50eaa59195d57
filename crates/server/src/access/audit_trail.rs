//! Reading the audit trail back: pramaan's own `pramaan:audit` records in
//! the vault, filtered (the API's `/api/v1/audit`, the console's audit page
//! and `pramaan audit` on the data directory).

use pramaan_auth::audit;

/// The audit records matching `filter`, oldest first, each with its `seq`
/// (internal records with peer `pramaan:audit`, read with SQL).
pub async fn search_audit(
    vault: &pramaan_vault::Vault,
    filter: &audit::Filter,
    limit: usize,
) -> Result<Vec<serde_json::Value>, pramaan_vault::VaultError> {
    let q = format!(
        "SELECT seq, text(raw) AS body FROM logs WHERE transport = 'internal' AND peer = '{}' ORDER BY seq",
        audit::SOURCE
    );
    // The whole trail, uncapped: the filter is applied below (sql.timeout
    // and sql.memory_limit still hold).
    use pramaan_vault::sql::{Caps, Records};
    let batches = pramaan_vault::sql::run_capped(vault, &q, Records::All, Caps::NONE).await?;
    let nd = pramaan_vault::sql::to_ndjson(&batches)?;
    let mut out = Vec::new();
    for line in nd.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(row) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let body = row.get("body").and_then(|b| b.as_str()).unwrap_or_default();
        let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        if !filter.matches(&doc) {
            continue;
        }
        if let Some(o) = doc.as_object_mut() {
            o.insert("seq".into(), row.get("seq").cloned().unwrap_or_default());
        }
        out.push(doc);
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
    Ok(out)
}
