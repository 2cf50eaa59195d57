//! Reads the rows the skew analysis needs from the vault, with SQL on the
//! `logs` table (sealed segments and the memtable of one snapshot).

use crate::skew::SkewRow;
use pramaan_vault::Vault;

/// Rows per query.
pub const PAGE: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    #[error("reading lines for the skew analysis: {0}")]
    Vault(#[from] pramaan_vault::VaultError),
    #[error("reading lines for the skew analysis: row {row}: {what}")]
    Row { row: usize, what: String },
}

/// Lines with an event time, after sequence number `after` (all when None)
/// and received at or after `since_ns`, in sequence order, at most `limit`.
/// pramaan's own internal records are left out.
pub async fn read(
    vault: &Vault,
    after: Option<u64>,
    since_ns: i64,
    limit: usize,
) -> Result<Vec<SkewRow>, RowsError> {
    let seq_cond = match after {
        Some(s) => format!("seq > {s}"),
        None => "TRUE".to_owned(),
    };
    let q = format!(
        "SELECT seq, CAST(received_at AS BIGINT) AS r, CAST(event_time AS BIGINT) AS e, \
                event_offset AS o, event_zone_assumed AS z, host AS h, peer AS p \
         FROM logs \
         WHERE {seq_cond} AND CAST(received_at AS BIGINT) >= {since_ns} \
           AND event_time IS NOT NULL AND transport <> 'internal' \
         ORDER BY seq LIMIT {limit}"
    );
    let batches = pramaan_vault::sql::run(vault, &q).await?;
    let nd = pramaan_vault::sql::to_ndjson(&batches)?;
    let mut out = Vec::new();
    for (i, line) in nd
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| RowsError::Row {
            row: i,
            what: e.to_string(),
        })?;
        let int = |k: &str| v.get(k).and_then(serde_json::Value::as_i64);
        let (Some(seq), Some(r), Some(e)) =
            (v.get("seq").and_then(|s| s.as_u64()), int("r"), int("e"))
        else {
            return Err(RowsError::Row {
                row: i,
                what: format!("missing seq, received_at or event_time in {v}"),
            });
        };
        let source = pramaan_core::zones::source_name(
            v.get("h").and_then(|h| h.as_str()),
            v.get("p").and_then(|p| p.as_str()).unwrap_or(""),
        )
        .to_owned();
        out.push(SkewRow {
            seq,
            received_at_ns: r,
            event_ns: e,
            event_offset_secs: int("o").and_then(|o| i32::try_from(o).ok()),
            zone_assumed: v.get("z").and_then(|z| z.as_bool()).unwrap_or(false),
            source,
        });
    }
    Ok(out)
}
