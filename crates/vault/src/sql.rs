//! `pramaan sql`: DataFusion SQL over a `logs` table made of the sealed
//! segments and the unsealed memtable of one snapshot; the components' own
//! records are in it only for [`Records::All`].
//!
//! [`run`] and its siblings are the one way in, for every caller (the HTTP
//! API, the console, the clock monitor, `pramaan sql` on the data
//! directory), and each query gets the same rules:
//!
//! * **Read-only.** The text must be one `SELECT` (or `WITH`/`VALUES`)
//!   query, or `EXPLAIN` of one; it is parsed and refused before anything is
//!   planned, and the plan is checked again with DataFusion's [`SQLOptions`]
//!   (no DDL, no DML or `COPY`, no statements such as `SET`). The session
//!   knows only the `logs` view: no table reads a file by name, no
//!   information schema, and spilling to disk is off, so a query writes no
//!   file at all.
//! * **No paths.** Errors and `EXPLAIN` plans show `<data_dir>` and
//!   `<objects>` where the data directory's absolute path would be.
//! * **Bounded.** It runs on the `pramaan-sql` threads, below ingest's CPU
//!   priority ([`crate::priority`]); it is cancelled at `sql.timeout`, when
//!   its caller goes away, or when the vault stops reads at shutdown
//!   ([`Vault::stop_reads`]); its operators share one memory pool of
//!   `sql.memory_limit`; its result may hold at most `sql.max_result_rows`
//!   rows and `sql.max_result_bytes` bytes (Arrow's size of the values), or
//!   it fails saying which limit and key, never with a cut result.
//!
//! `pramaan_sql_running` counts the queries running now and
//! `pramaan_sql_queries_total{outcome}` how each ended (`ok`, `refused`,
//! `invalid`, `timeout`, `memory`, `too_large`, `cancelled`, `stopped`).

pub use crate::options::SqlOptions;
use crate::options::VaultOptions;
use crate::schema::schema;
use crate::vault::{Snapshot, Vault};
use crate::VaultError;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{col, lit, SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as AstStatement;
use futures::StreamExt;
use object_store::ObjectStore;
use pramaan_core::Transport;
use std::sync::Arc;
use std::time::Duration;

/// How large a result one call may collect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    pub rows: u64,
    pub bytes: u64,
}

impl Caps {
    /// `sql.max_result_rows` and `sql.max_result_bytes`.
    pub fn of(opts: &SqlOptions) -> Caps {
        Caps {
            rows: opts.max_result_rows,
            bytes: opts.max_result_bytes,
        }
    }

    /// No cap: for pramaan's own fixed queries whose answer it needs whole
    /// (the audit trail an auditor asked for). The timeout and memory pool
    /// still apply.
    pub const NONE: Caps = Caps {
        rows: u64::MAX,
        bytes: u64::MAX,
    };
}

/// Why a query gave no result. The texts are for the client: they never
/// hold the data directory's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// Not one read-only query: DDL, DML, `COPY`, `SET`, several statements...
    #[error("only one SELECT query (WITH and VALUES included) over `logs`, or EXPLAIN of one, may run; {0}")]
    NotReadOnly(String),
    /// The query's own error (syntax, unknown column, type...), paths removed.
    #[error("{0}")]
    Invalid(String),
    #[error("the query ran longer than sql.timeout ({}) and was cancelled; narrow it (a time range, a LIMIT, fewer joins) or raise sql.timeout", fmt_duration(*.0))]
    Timeout(Duration),
    #[error("the query needs more memory than sql.memory_limit ({} MiB, shared by the queries running at once) allows; narrow it or raise sql.memory_limit", .0 >> 20)]
    Memory(u64),
    #[error("the result has more than sql.max_result_rows ({0}) rows; add a LIMIT or aggregate, or raise sql.max_result_rows")]
    TooManyRows(u64),
    #[error("the result is larger than sql.max_result_bytes ({0} bytes); select fewer columns or rows, or raise sql.max_result_bytes")]
    TooManyBytes(u64),
    #[error("the query was stopped: the server is shutting down")]
    Stopped,
    /// The result could not be encoded (a bug, not the query's fault).
    #[error("encoding the result: {0}")]
    Output(String),
}

impl SqlError {
    /// The label of `pramaan_sql_queries_total{outcome}`.
    fn outcome(&self) -> &'static str {
        match self {
            SqlError::NotReadOnly(_) => "refused",
            SqlError::Invalid(_) | SqlError::Output(_) => "invalid",
            SqlError::Timeout(_) => "timeout",
            SqlError::Memory(_) => "memory",
            SqlError::TooManyRows(_) | SqlError::TooManyBytes(_) => "too_large",
            SqlError::Stopped => "stopped",
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
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

/// Runs one query over the log lines and collects its result.
pub async fn run(vault: &Vault, query: &str) -> Result<Vec<RecordBatch>, VaultError> {
    run_with(vault, query, Records::Logs).await
}

/// Runs one query over `records`, its result capped by `sql.max_result_*`.
pub async fn run_with(
    vault: &Vault,
    query: &str,
    records: Records,
) -> Result<Vec<RecordBatch>, VaultError> {
    run_capped(vault, query, records, Caps::of(&vault.options().sql)).await
}

/// Runs one query over `records` with its result capped by `caps`.
pub async fn run_capped(
    vault: &Vault,
    query: &str,
    records: Records,
    caps: Caps,
) -> Result<Vec<RecordBatch>, VaultError> {
    run_inner(vault, query, records, caps)
        .await
        .map_err(VaultError::Sql)
}

/// Time the caller waits past `sql.timeout` for the query's own deadline
/// to report, before it gives up on it (and cancels it) by itself.
const GRACE: Duration = Duration::from_secs(2);

async fn run_inner(
    vault: &Vault,
    query: &str,
    records: Records,
    caps: Caps,
) -> Result<Vec<RecordBatch>, SqlError> {
    if let Err(e) = read_only(query) {
        metrics::counter!("pramaan_sql_queries_total", "outcome" => e.outcome()).increment(1);
        return Err(e);
    }
    let opts = vault.options().sql.clone();
    let paths = Paths::of(vault.options());
    let memory = vault.sql_memory();
    let mut stop = vault.reads_stopped();
    if *stop.borrow() {
        return Err(SqlError::Stopped);
    }
    let snap = vault.snapshot().await;
    let objects = vault.objects().store();
    let query = query.to_owned();
    let timeout = opts.timeout;
    let job = async move {
        let mut running = Running::start();
        let res = match tokio::time::timeout(timeout, async {
            let ctx = session(objects, &snap, records, memory).await?;
            execute(&ctx, &query, caps, &paths, opts.memory_limit).await
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(SqlError::Timeout(timeout)),
        };
        running.outcome = Some(match &res {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        });
        res
    };
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Here the caller's own clock runs too: if the pool's threads were
    // too busy to notice the deadline, the caller still answers at it, and
    // dropping the task cancels the query at its next yield.
    let backstop = tokio::time::sleep(timeout + GRACE);
    match vault.sql_pool() {
        Some(pool) => {
            let task = pool.spawn(job);
            tokio::select! {
                r = task => match r {
                    Ok(r) => r,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => Err(SqlError::Stopped),
                },
                _ = stopped => Err(SqlError::Stopped),
                _ = backstop => Err(SqlError::Timeout(timeout)),
            }
        }
        None => tokio::select! {
            r = job => r,
            _ = stopped => Err(SqlError::Stopped),
            _ = backstop => Err(SqlError::Timeout(timeout)),
        },
    }
}

/// A query on the pool: `pramaan_sql_running` while it lives, and how it
/// ended when it goes (`cancelled` when it was dropped before it ended:
/// its caller went away or gave up).
struct Running {
    outcome: Option<&'static str>,
}

impl Running {
    fn start() -> Running {
        metrics::gauge!("pramaan_sql_running").increment(1.0);
        Running { outcome: None }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        metrics::gauge!("pramaan_sql_running").decrement(1.0);
        let outcome = self.outcome.unwrap_or("cancelled");
        metrics::counter!("pramaan_sql_queries_total", "outcome" => outcome).increment(1);
    }
}

/// Refuses all but one read-only query, before anything is planned (so a
/// refused statement never reaches a file).
fn read_only(query: &str) -> Result<(), SqlError> {
    let statements = DFParser::parse_sql(query).map_err(|e| SqlError::Invalid(e.to_string()))?;
    let mut it = statements.iter();
    let (Some(only), None) = (it.next(), it.next()) else {
        return Err(SqlError::NotReadOnly(format!(
            "the text holds {} statements",
            statements.len()
        )));
    };
    fn allowed(s: &DfStatement) -> Result<(), String> {
        match s {
            DfStatement::Statement(st) => match st.as_ref() {
                AstStatement::Query(_) => Ok(()),
                other => Err(statement_name(&other.to_string())),
            },
            DfStatement::Explain(e) => allowed(&e.statement),
            DfStatement::CreateExternalTable(_) => Err("CREATE EXTERNAL TABLE".into()),
            DfStatement::CopyTo(_) => Err("COPY".into()),
            DfStatement::Reset(_) => Err("RESET".into()),
        }
    }
    allowed(only).map_err(|what| SqlError::NotReadOnly(format!("{what} is not allowed")))
}

/// The first words of a statement, up to its first name or value
/// (`CREATE TABLE`, `SET`, `DROP VIEW`), to name it without echoing it.
fn statement_name(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(3)
        .collect();
    if words.is_empty() {
        "this statement".into()
    } else {
        words.join(" ")
    }
}

/// DataFusion's own check of the plan: no DDL, no DML or `COPY`, no statements.
fn plan_rules() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A session with `logs` registered (holding `records`), and the helper
/// function `text(raw)`. The sealed and unsealed parts are not registered
/// under names of their own, so a query cannot go around the filter.
async fn session(
    objects: Arc<dyn ObjectStore>,
    snap: &Snapshot,
    records: Records,
    memory: Arc<dyn MemoryPool>,
) -> Result<SessionContext, SqlError> {
    let err = |e: DataFusionError| SqlError::Output(e.to_string());
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(OnlyObjects(objects)))
        .with_memory_pool(memory)
        // Nothing spills to disk: a query that needs more memory fails.
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(err)?;
    let config = SessionConfig::new().with_information_schema(false);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let mem: Vec<RecordBatch> = snap.mem.clone();
    let mem_table = MemTable::try_new(schema(), vec![mem]).map_err(err)?;
    let mut all = ctx.read_table(Arc::new(mem_table)).map_err(err)?;
    if !snap.segments.is_empty() {
        let urls = snap
            .segments
            .iter()
            .map(|s| ListingTableUrl::parse(format!("{OBJECTS_URL}{}", s.path)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let opts =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let cfg = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(opts)
            .with_schema(schema());
        let table = ListingTable::try_new(cfg).map_err(err)?;
        let sealed = ctx.read_table(Arc::new(table)).map_err(err)?;
        all = sealed.union(all).map_err(err)?;
    }
    let logs = match records {
        Records::All => all,
        Records::Logs => all
            .filter(col(crate::schema::col::TRANSPORT).not_eq(lit(Transport::Internal.as_str())))
            .map_err(err)?,
    };
    ctx.register_table("logs", logs.into_view()).map_err(err)?;
    ctx.register_udf(text_udf());
    Ok(ctx)
}

/// Where a query finds the sealed segments: the vault's object store (a
/// local directory or a bucket alike), under a name of its own.
const OBJECTS_URL: &str = "pramaan://objects/";

/// The only store a query can reach: the vault's objects, through the
/// same store the sealer writes (so SQL reads a bucket as it reads a
/// disk). DataFusion's default registry would also hand out the server's
/// whole file system (`file://`); this one has no other store to give.
struct OnlyObjects(Arc<dyn ObjectStore>);

impl std::fmt::Debug for OnlyObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnlyObjects")
    }
}

impl ObjectStoreRegistry for OnlyObjects {
    fn register_store(
        &self,
        _url: &url::Url,
        _store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        None
    }

    fn get_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if url.scheme() == "pramaan" && url.host_str() == Some("objects") {
            Ok(self.0.clone())
        } else {
            Err(DataFusionError::Plan(
                "a query reads the vault's `logs` table only".into(),
            ))
        }
    }
}

/// Plans (checked again), runs and collects one query within `caps`.
async fn execute(
    ctx: &SessionContext,
    query: &str,
    caps: Caps,
    paths: &Paths,
    memory_limit: u64,
) -> Result<Vec<RecordBatch>, SqlError> {
    let failed = |e: DataFusionError| classify(e, paths, memory_limit);
    let df = ctx
        .sql_with_options(query, plan_rules())
        .await
        .map_err(failed)?;
    let explain = matches!(
        df.logical_plan(),
        LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)
    );
    let task = df.task_ctx();
    let plan = df.create_physical_plan().await.map_err(failed)?;
    let plan = cooperative(plan).map_err(failed)?;
    let mut stream =
        datafusion::physical_plan::execute_stream(plan, Arc::new(task)).map_err(failed)?;
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(failed)?;
        rows += batch.num_rows() as u64;
        if rows > caps.rows {
            return Err(SqlError::TooManyRows(caps.rows));
        }
        bytes = bytes.saturating_add(batch_bytes(&batch));
        if bytes > caps.bytes {
            return Err(SqlError::TooManyBytes(caps.bytes));
        }
        out.push(batch);
    }
    if explain {
        out = out
            .iter()
            .map(|b| paths.redact_batch(b))
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

/// Every operator of `plan` yields to the runtime now and then: DataFusion
/// makes only the scans do so, and a cross join or aggregation that works
/// on batches it already holds would otherwise run on without a pause, so
/// that neither its deadline nor its caller going away could stop it.
fn cooperative(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
    plan.transform_up(|node| {
        if node.children().is_empty() || node.name() == "CooperativeExec" {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(
            Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
        ))
    })
    .map(|t| t.data)
}

/// The bytes of the values a batch holds (slices count only their part).
fn batch_bytes(b: &RecordBatch) -> u64 {
    b.columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size()) as u64
        })
        .sum()
}

fn classify(e: DataFusionError, paths: &Paths, memory_limit: u64) -> SqlError {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => SqlError::Memory(memory_limit),
        _ => SqlError::Invalid(paths.redact(&e.to_string())),
    }
}

/// The data directory's and objects directory's paths as they may appear in
/// a message (absolute, resolved, with or without the leading `/`), and
/// what each is shown as instead.
struct Paths(Vec<(String, &'static str)>);

impl Paths {
    fn of(opts: &VaultOptions) -> Paths {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        for (dir, label) in [
            (&opts.objects_dir, "<objects>"),
            (&opts.data_dir, "<data_dir>"),
        ] {
            let forms = [
                std::path::absolute(dir).ok(),
                std::fs::canonicalize(dir).ok(),
                Some(dir.clone()),
            ];
            for p in forms.into_iter().flatten() {
                let s = p.to_string_lossy();
                let s = s.trim_end_matches('/').trim_start_matches('/');
                if s.len() > 1 && !out.iter().any(|(o, _)| o == s) {
                    out.push((s.to_owned(), label));
                }
            }
        }
        // How DataFusion names the store's objects (see `OnlyObjects`).
        out.push((OBJECTS_URL.trim_end_matches('/').to_owned(), "<objects>"));
        // The longest first: the objects directory inside the data directory.
        out.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        Paths(out)
    }

    fn redact(&self, text: &str) -> String {
        let mut t = text.to_owned();
        for (p, label) in &self.0 {
            if t.contains(p.as_str()) {
                t = t
                    .replace(&format!("/{p}"), label)
                    .replace(p.as_str(), label);
            }
        }
        t
    }

    /// Every text column with the paths replaced (EXPLAIN's plans).
    fn redact_batch(&self, b: &RecordBatch) -> Result<RecordBatch, SqlError> {
        let columns: Vec<ArrayRef> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Utf8 => {
                    let s = c.as_string::<i32>();
                    Arc::new(
                        s.iter()
                            .map(|v| v.map(|v| self.redact(v)))
                            .collect::<StringArray>(),
                    ) as ArrayRef
                }
                _ => c.clone(),
            })
            .collect();
        RecordBatch::try_new(b.schema(), columns).map_err(|e| SqlError::Output(e.to_string()))
    }
}

/// The memory pool all queries of one vault share (`sql.memory_limit`).
pub(crate) fn memory_pool(opts: &SqlOptions) -> Arc<dyn MemoryPool> {
    let limit = usize::try_from(opts.memory_limit).unwrap_or(usize::MAX);
    Arc::new(TrackConsumersPool::new(
        GreedyMemoryPool::new(limit),
        std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN),
    ))
}

/// `text(raw)`: the raw bytes as text (invalid UTF-8 replaced by U+FFFD).
fn text_udf() -> datafusion::logical_expr::ScalarUDF {
    use arrow::array::StringBuilder;
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
    let enc = |e: arrow::error::ArrowError| VaultError::Sql(SqlError::Output(e.to_string()));
    let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
    for b in batches {
        w.write(b).map_err(enc)?;
    }
    w.finish().map_err(enc)?;
    Ok(w.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_read_only_query_passes() {
        for ok in [
            "SELECT 1",
            "select count(*) from logs",
            "WITH x AS (SELECT seq FROM logs) SELECT * FROM x",
            "VALUES (1)",
            "EXPLAIN SELECT * FROM logs",
            "EXPLAIN ANALYZE SELECT seq FROM logs",
        ] {
            assert!(read_only(ok).is_ok(), "{ok}");
        }
        for (bad, named) in [
            ("COPY (SELECT 1) TO '/tmp/x.csv' STORED AS CSV", "COPY"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x' STORED AS CSV", "COPY"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("INSERT INTO logs VALUES (1)", "INSERT"),
            ("DROP TABLE logs", "DROP TABLE"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("SELECT 1; SELECT 2", "2 statements"),
        ] {
            match read_only(bad) {
                Err(SqlError::NotReadOnly(m)) => assert!(m.contains(named), "{bad}: {m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn paths_are_replaced_in_every_form() {
        let mut o = VaultOptions::new("/srv/pramaan/data");
        o.objects_dir = "/srv/pramaan/data/objects".into();
        let p = Paths::of(&o);
        assert_eq!(
            p.redact("file_groups={1 group: [[srv/pramaan/data/objects/segments/a.parquet]]}"),
            "file_groups={1 group: [[<objects>/segments/a.parquet]]}"
        );
        assert_eq!(
            p.redact("file:///srv/pramaan/data/objects/x and /srv/pramaan/data/catalog.db"),
            "file://<objects>/x and <data_dir>/catalog.db"
        );
    }
}
