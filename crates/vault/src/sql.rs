//! `pramaan sql`: DataFusion SQL over a `logs` table made of the sealed
//! segments and the unsealed memtable of one snapshot; the components' own
//! records are in it only for [`Records::All`].

use crate::schema::schema;
use crate::vault::Snapshot;
use crate::VaultError;
use arrow::array::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::{col, lit, SessionContext};
use pramaan_core::Transport;
use std::path::Path;
use std::sync::Arc;

fn sql_err(e: impl std::fmt::Display) -> VaultError {
    VaultError::Sql(e.to_string())
}

/// Which records a session's `logs` table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    /// The log lines only: what analysts query.
    Logs,
    /// Also the components' own records (transport `internal`: the audit
    /// trail, clock, incidents, orders, registry, retention), for auditors.
    All,
}

/// A session with `logs` (log lines only) registered, and the helper function `text(raw)`.
pub async fn session(objects_dir: &Path, snap: &Snapshot) -> Result<SessionContext, VaultError> {
    session_with(objects_dir, snap, Records::Logs).await
}

/// A session whose `logs` holds `records`. The sealed and unsealed parts are
/// not registered under names of their own, so a query cannot go around the
/// filter.
pub async fn session_with(
    objects_dir: &Path,
    snap: &Snapshot,
    records: Records,
) -> Result<SessionContext, VaultError> {
    let ctx = SessionContext::new();
    let mem: Vec<RecordBatch> = snap.mem.clone();
    let mem_table = MemTable::try_new(schema(), vec![mem]).map_err(sql_err)?;
    let mut all = ctx.read_table(Arc::new(mem_table)).map_err(sql_err)?;
    if !snap.segments.is_empty() {
        let urls = snap
            .segments
            .iter()
            .map(|s| {
                ListingTableUrl::parse(objects_dir.join(&s.path).to_string_lossy()).map_err(sql_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let opts =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let cfg = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(opts)
            .with_schema(schema());
        let table = ListingTable::try_new(cfg).map_err(sql_err)?;
        let sealed = ctx.read_table(Arc::new(table)).map_err(sql_err)?;
        all = sealed.union(all).map_err(sql_err)?;
    }
    let logs = match records {
        Records::All => all,
        Records::Logs => all
            .filter(col(crate::schema::col::TRANSPORT).not_eq(lit(Transport::Internal.as_str())))
            .map_err(sql_err)?,
    };
    ctx.register_table("logs", logs.into_view())
        .map_err(sql_err)?;
    ctx.register_udf(text_udf());
    Ok(ctx)
}

/// Runs one query over the log lines and collects its result.
pub async fn run(
    objects_dir: &Path,
    snap: &Snapshot,
    query: &str,
) -> Result<Vec<RecordBatch>, VaultError> {
    run_with(objects_dir, snap, query, Records::Logs).await
}

/// Runs one query over `records` and collects its result.
pub async fn run_with(
    objects_dir: &Path,
    snap: &Snapshot,
    query: &str,
    records: Records,
) -> Result<Vec<RecordBatch>, VaultError> {
    let ctx = session_with(objects_dir, snap, records).await?;
    let df = ctx.sql(query).await.map_err(sql_err)?;
    df.collect().await.map_err(sql_err)
}

/// `text(raw)`: the raw bytes as text (invalid UTF-8 replaced by U+FFFD).
fn text_udf() -> datafusion::logical_expr::ScalarUDF {
    use arrow::array::{Array, AsArray, StringBuilder};
    use arrow::datatypes::DataType;
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    let f = Arc::new(|args: &[ColumnarValue]| {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let bin = arrays[0].as_binary::<i32>();
        let mut out = StringBuilder::with_capacity(bin.len(), bin.value_data().len());
        for i in 0..bin.len() {
            if bin.is_null(i) {
                out.append_null();
            } else {
                out.append_value(String::from_utf8_lossy(bin.value(i)));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    });
    create_udf(
        "text",
        vec![DataType::Binary],
        DataType::Utf8,
        Volatility::Immutable,
        f,
    )
}

/// Renders batches as a text table.
pub fn pretty(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_else(|e| format!("(cannot format result: {e})"))
}

/// Renders batches as NDJSON, one object per row (binary columns as base64).
pub fn to_ndjson(batches: &[RecordBatch]) -> Result<Vec<u8>, VaultError> {
    let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
    for b in batches {
        w.write(b).map_err(sql_err)?;
    }
    w.finish().map_err(sql_err)?;
    Ok(w.into_inner())
}
