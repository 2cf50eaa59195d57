//! Structured search: time range first (catalog, then row-group statistics),
//! then field predicates (bloom filters prune row groups on ip, host and
//! user), then text. Every hit carries its sequence number.

use crate::schema::col;
use crate::segment::leaf_path;
use crate::vault::Snapshot;
use crate::{SegmentMeta, Vault, VaultError};
use arrow::array::{
    Array, AsArray, BinaryArray, BooleanArray, ListArray, RecordBatch, StringArray, UInt32Array,
    UInt64Array, UInt8Array,
};
use arrow::datatypes::{TimestampNanosecondType, UInt16Type, UInt64Type};
use futures::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
};
use parquet::arrow::ProjectionMask;
// Deprecated upstream in favour of a hand-written AsyncFileReader; it still does exactly what we need.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first (chronological).
    #[default]
    Oldest,
    Newest,
}

/// A search. Times are received_at, `from` inclusive, `to` exclusive.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub seq_from: Option<u64>,
    pub seq_to: Option<u64>,
    pub host: Option<String>,
    pub app: Option<String>,
    pub ip: Option<IpAddr>,
    pub user: Option<String>,
    /// This severity or more severe (0 emerg ... 7 debug).
    pub severity: Option<u8>,
    /// Substring of the raw bytes or of the structured data (`sd`).
    pub text: Option<String>,
    pub regex: Option<regex::bytes::Regex>,
    pub limit: usize,
    pub order: Order,
    /// Search the components' own records (transport `internal`: the audit
    /// trail, clock, incidents, orders, registry, retention) instead of the
    /// log lines. They never mix: log searches are the analysts', these the
    /// auditors'.
    pub internal: bool,
}

/// The transport of the components' own records.
const INTERNAL: &str = pramaan_core::Transport::Internal.as_str();

/// Severity names in RFC 5424 order.
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `err`, `error`, `warn`, `3`... → 0..=7.
pub fn parse_severity(s: &str) -> Option<u8> {
    let s = s.to_ascii_lowercase();
    if let Ok(n) = s.parse::<u8>() {
        return (n < 8).then_some(n);
    }
    let alias = match s.as_str() {
        "emergency" | "panic" => "emerg",
        "critical" => "crit",
        "error" => "err",
        "warn" => "warning",
        "informational" => "info",
        other => other,
    };
    SEVERITIES.iter().position(|n| *n == alias).map(|p| p as u8)
}

/// What a search looked at.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SearchStats {
    pub segments_total: usize,
    pub segments_read: usize,
    pub row_groups_read: usize,
    pub row_groups_pruned: usize,
    pub rows_scanned: u64,
    pub hits: usize,
    /// The limit stopped the search before everything was scanned.
    pub truncated: bool,
}

impl Query {
    fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }

    fn overlaps_time(&self, min: i64, max: i64) -> bool {
        self.from_ns.is_none_or(|f| max >= f) && self.to_ns.is_none_or(|t| min < t)
    }

    fn overlaps_seq(&self, min: u64, max: u64) -> bool {
        self.seq_from.is_none_or(|f| max >= f) && self.seq_to.is_none_or(|t| min <= t)
    }

    fn segment_may_match(&self, s: &SegmentMeta) -> bool {
        self.overlaps_time(s.time_min_ns, s.time_max_ns) && self.overlaps_seq(s.seq_min, s.seq_max)
    }

    /// Indices of matching rows, in order.
    pub fn matching_rows(&self, b: &RecordBatch) -> Vec<u32> {
        let n = b.num_rows();
        let seq = b.column(0).as_primitive::<UInt64Type>();
        let at = b.column(1).as_primitive::<TimestampNanosecondType>();
        let raw: &BinaryArray = b.column_by_name(col::RAW).expect("raw").as_binary();
        let sd: &StringArray = b.column_by_name(col::SD).expect("sd").as_string();
        let host: &StringArray = b.column_by_name(col::HOST).expect("host").as_string();
        let app: &StringArray = b.column_by_name(col::APP).expect("app").as_string();
        let sev: &UInt8Array = b
            .column_by_name(col::SEVERITY)
            .expect("severity")
            .as_primitive();
        let transport: &StringArray = b
            .column_by_name(col::TRANSPORT)
            .expect("transport")
            .as_string();
        let ips: &ListArray = b.column_by_name(col::IPS).expect("ips").as_list();
        let users: &ListArray = b.column_by_name(col::USERS).expect("users").as_list();
        let ip = self.ip_text();
        let raw_match = RawMatch::of(self);
        let mut out = Vec::new();
        for i in 0..n {
            let t = at.value(i);
            if self.from_ns.is_some_and(|f| t < f) || self.to_ns.is_some_and(|to| t >= to) {
                continue;
            }
            if (transport.value(i) == INTERNAL) != self.internal {
                continue;
            }
            let s = seq.value(i);
            if self.seq_from.is_some_and(|f| s < f) || self.seq_to.is_some_and(|to| s > to) {
                continue;
            }
            if let Some(h) = &self.host {
                if host.is_null(i) || !host.value(i).eq_ignore_ascii_case(h) {
                    continue;
                }
            }
            if let Some(a) = &self.app {
                if app.is_null(i) || app.value(i) != a {
                    continue;
                }
            }
            if let Some(max) = self.severity {
                if sev.is_null(i) || sev.value(i) > max {
                    continue;
                }
            }
            if let Some(ip) = &ip {
                if !list_has(ips, i, ip) {
                    continue;
                }
            }
            if let Some(u) = &self.user {
                if !list_has(users, i, u) {
                    continue;
                }
            }
            if raw_match
                .as_ref()
                .is_some_and(|m| !m.matches(raw.value(i), sd.is_valid(i).then(|| sd.value(i))))
            {
                continue;
            }
            out.push(i as u32);
        }
        out
    }
}

/// A query's text and regex, checked against a raw line.
struct RawMatch {
    finder: Option<memchr::memmem::Finder<'static>>,
    regex: Option<regex::bytes::Regex>,
}

impl RawMatch {
    /// `None` when the query has neither.
    fn of(q: &Query) -> Option<RawMatch> {
        (q.text.is_some() || q.regex.is_some()).then(|| RawMatch {
            finder: q
                .text
                .as_ref()
                .map(|t| memchr::memmem::Finder::new(t.as_bytes()).into_owned()),
            regex: q.regex.clone(),
        })
    }

    /// The text and the regex each occur in the raw line or in its
    /// structured data (where the shippers' labels, attributes and trace
    /// ids are, `pramaan_ingest::sd`, some of them not text in raw).
    fn matches(&self, raw: &[u8], sd: Option<&str>) -> bool {
        let sd = sd.map_or(&b""[..], str::as_bytes);
        self.finder
            .as_ref()
            .is_none_or(|f| f.find(raw).is_some() || f.find(sd).is_some())
            && self
                .regex
                .as_ref()
                .is_none_or(|r| r.is_match(raw) || (!sd.is_empty() && r.is_match(sd)))
    }
}

fn list_has(list: &ListArray, row: usize, needle: &str) -> bool {
    let offsets = list.value_offsets();
    let values: &StringArray = list.values().as_string();
    (offsets[row] as usize..offsets[row + 1] as usize).any(|j| values.value(j) == needle)
}

/// Runs a search, sending batches of hits (in the query's order) to `out`
/// until the limit is reached or the receiver goes away.
pub async fn search(
    vault: &Vault,
    q: &Query,
    out: mpsc::Sender<RecordBatch>,
) -> Result<SearchStats, VaultError> {
    let snap = vault.snapshot().await;
    let store = vault.store();
    let Some(pool) = vault.search_pool() else {
        return search_snapshot(&store, snap, q, out).await;
    };
    // Scanned below ingest's priority (crate::priority).
    let q = q.clone();
    let mut stop = vault.reads_stopped();
    let task = pool.spawn(async move { search_snapshot(&store, snap, &q, out).await });
    tokio::select! {
        res = task => match res {
            Ok(res) => res,
            // A panic is the caller's, as it was before searches moved threads.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(VaultError::SearchStopped),
        },
        // A shutdown does not wait for a long scan (dropping the task ends it).
        _ = stop.wait_for(|s| *s) => Err(VaultError::SearchStopped),
    }
}

/// A search already under way ([`search_started`]).
pub struct Started {
    /// The first batch of hits; `None` when there are none.
    pub first: Option<RecordBatch>,
    /// The rest, then an `Err` if the search failed after the first batch.
    pub rest: mpsc::Receiver<Result<RecordBatch, VaultError>>,
}

/// Runs a search and waits, at most `wait`, for its first batch of hits
/// (or its end), so that a search that fails before it has anything to send
/// (a segment that cannot be read, say) is an error the caller answers with
/// a status, not a success with an empty body. A failure after that ends
/// `rest` with the error. A search still scanning after `wait` comes back
/// with `first: None` and goes on in `rest` (the caller's own deadline must
/// not cut a long, sparse search short). Dropping `rest` stops the search.
pub async fn search_started(
    vault: &Vault,
    q: Query,
    wait: std::time::Duration,
) -> Result<Started, VaultError> {
    let (tx, mut rx) = mpsc::channel(4);
    let v = vault.clone();
    let task = tokio::spawn(async move { search(&v, &q, tx).await });
    let (out_tx, mut out_rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if out_tx.send(Ok(b)).await.is_err() {
                // The caller went away: dropping `rx` stops the search.
                return;
            }
        }
        let end = match task.await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e,
            Err(e) if e.is_panic() => {
                tracing::error!(error = %e, "a search panicked");
                VaultError::SearchStopped
            }
            Err(_) => VaultError::SearchStopped,
        };
        let _ = out_tx.send(Err(end)).await;
    });
    match tokio::time::timeout(wait, out_rx.recv()).await {
        Ok(Some(Err(e))) => Err(e),
        Ok(Some(Ok(b))) => Ok(Started {
            first: Some(b),
            rest: out_rx,
        }),
        // Finished without hits, or still scanning.
        Ok(None) | Err(_) => Ok(Started {
            first: None,
            rest: out_rx,
        }),
    }
}

/// The hits of a snapshot's in-memory records, taken when the search starts.
/// The snapshot's memtable batches are released at once: a search that
/// scans segments for seconds must not keep generations alive that have
/// been sealed meanwhile (at full ingest that is a generation a second).
struct MemHits {
    /// Matching rows only, in the order they are sent (newest first for
    /// [`Order::Newest`]); an oldest-first batch whose every row matches is
    /// shared, not copied.
    batches: Vec<RecordBatch>,
    rows_scanned: u64,
    /// More rows matched than the limit lets through.
    truncated: bool,
}

impl MemHits {
    /// Keeps at most `limit` hits, the first ones in the query's order.
    fn take(mem: Vec<RecordBatch>, q: &Query) -> MemHits {
        let mut need = if q.limit == 0 { usize::MAX } else { q.limit };
        let newest = q.order == Order::Newest;
        let mut hits = MemHits {
            batches: Vec::new(),
            rows_scanned: 0,
            truncated: false,
        };
        let order: Box<dyn Iterator<Item = RecordBatch>> = if newest {
            Box::new(mem.into_iter().rev())
        } else {
            Box::new(mem.into_iter())
        };
        for b in order {
            if need == 0 {
                break;
            }
            let seq = b.column(0).as_primitive::<UInt64Type>();
            if seq.is_empty() || !q.overlaps_seq(seq.value(0), seq.value(seq.len() - 1)) {
                continue;
            }
            hits.rows_scanned += b.num_rows() as u64;
            let mut idx = q.matching_rows(&b);
            if newest {
                idx.reverse();
            }
            if idx.len() > need {
                hits.truncated = true;
                idx.truncate(need);
            }
            if idx.is_empty() {
                continue;
            }
            need -= idx.len();
            hits.batches.push(if !newest && idx.len() == b.num_rows() {
                b
            } else {
                take_rows(&b, &idx)
            });
        }
        hits
    }

    /// The hits that fit in `remaining`, counted in `st`.
    fn send(&self, st: &mut SearchStats, remaining: &mut usize) -> Vec<RecordBatch> {
        st.truncated |= self.truncated;
        let mut out = Vec::new();
        for b in &self.batches {
            if *remaining == 0 {
                st.truncated = true;
                break;
            }
            let b = if b.num_rows() > *remaining {
                st.truncated = true;
                b.slice(0, *remaining)
            } else {
                b.clone()
            };
            *remaining -= b.num_rows();
            st.hits += b.num_rows();
            out.push(b);
        }
        out
    }
}

pub async fn search_snapshot(
    store: &Arc<dyn ObjectStore>,
    snap: Snapshot,
    q: &Query,
    out: mpsc::Sender<RecordBatch>,
) -> Result<SearchStats, VaultError> {
    let Snapshot {
        segments: all, mem, ..
    } = snap;
    let mem = MemHits::take(mem, q);
    let mut st = SearchStats {
        segments_total: all.len(),
        rows_scanned: mem.rows_scanned,
        ..Default::default()
    };
    let mut remaining = if q.limit == 0 { usize::MAX } else { q.limit };
    let segments: Vec<&SegmentMeta> = all.iter().filter(|s| q.segment_may_match(s)).collect();
    let newest = q.order == Order::Newest;
    let mut emit =
        |b: &RecordBatch, st: &mut SearchStats, remaining: &mut usize| -> Option<RecordBatch> {
            st.rows_scanned += b.num_rows() as u64;
            let mut idx = q.matching_rows(b);
            if newest {
                idx.reverse();
            }
            if idx.len() > *remaining {
                idx.truncate(*remaining);
                st.truncated = true;
            }
            if idx.is_empty() {
                return None;
            }
            *remaining -= idx.len();
            st.hits += idx.len();
            Some(take_rows(b, &idx))
        };
    if newest {
        for r in mem.send(&mut st, &mut remaining) {
            if out.send(r).await.is_err() {
                return Ok(st);
            }
        }
        if remaining == 0 {
            return Ok(st);
        }
        for seg in segments.iter().rev() {
            if scan_segment(
                store,
                seg,
                q,
                true,
                &mut st,
                &mut remaining,
                &mut emit,
                &out,
            )
            .await?
            {
                return Ok(st);
            }
        }
    } else {
        for seg in &segments {
            if scan_segment(
                store,
                seg,
                q,
                false,
                &mut st,
                &mut remaining,
                &mut emit,
                &out,
            )
            .await?
            {
                return Ok(st);
            }
        }
        for r in mem.send(&mut st, &mut remaining) {
            if out.send(r).await.is_err() {
                return Ok(st);
            }
        }
    }
    Ok(st)
}

/// Scans one segment; returns true when the search is finished.
#[allow(clippy::too_many_arguments)]
async fn scan_segment(
    store: &Arc<dyn ObjectStore>,
    seg: &SegmentMeta,
    q: &Query,
    newest: bool,
    st: &mut SearchStats,
    remaining: &mut usize,
    emit: &mut impl FnMut(&RecordBatch, &mut SearchStats, &mut usize) -> Option<RecordBatch>,
    out: &mpsc::Sender<RecordBatch>,
) -> Result<bool, VaultError> {
    let read_err = |e: &(dyn std::error::Error + 'static)| VaultError::reading(&seg.path, e);
    st.segments_read += 1;
    let location = ObjPath::from(seg.path.as_str());
    #[allow(deprecated)]
    let mut reader = ParquetObjectReader::new(store.clone(), location).with_file_size(seg.bytes);
    let meta = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| read_err(&e))?;
    crate::segment::version_of(&seg.path, meta.metadata().file_metadata())?;
    let md = meta.metadata().clone();
    let schema_descr = md.file_metadata().schema_descr();
    let checks = field_checks(schema_descr, q);
    let mut groups = row_groups_to_read(&reader, &meta, q, &checks, st).await;
    if newest {
        groups.reverse();
    }
    // Late materialisation: an address or user is selective, so only its
    // list column is decoded for every row; the raw line and the other
    // columns only for the rows whose list holds it.
    let selective: Vec<FieldCheck> = checks.into_iter().filter(|c| !c.is_host).collect();
    let mut sink = Sink {
        st,
        remaining,
        emit,
        out,
    };
    for rg in groups {
        sink.st.row_groups_read += 1;
        let mut builder =
            ParquetRecordBatchStreamBuilder::new_with_metadata(reader.clone(), meta.clone())
                .with_row_groups(vec![rg])
                .with_batch_size(8192);
        let predicates = row_predicates(schema_descr, &selective, q);
        if !predicates.is_empty() {
            builder = builder.with_row_filter(RowFilter::new(predicates));
        }
        let stream = builder.build().map_err(|e| read_err(&e))?;
        let mut stream = std::pin::pin!(stream);
        // Newest first: a row group's batches are kept, then given in reverse.
        let mut batches: Vec<RecordBatch> = Vec::new();
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| read_err(&e))?;
            if newest {
                batches.push(b);
            } else if sink.give(&b).await {
                return Ok(true);
            }
        }
        for b in batches.iter().rev() {
            if sink.give(b).await {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A value a row must hold in one list (or string) column.
struct FieldCheck {
    /// Leaf column index in the file.
    column: usize,
    value: String,
    /// Host matching is case-insensitive, the column holds it as sent: its
    /// Bloom filter cannot rule a row group out, nor may a row filter.
    is_host: bool,
}

/// The leaf column of `name` in a segment file.
fn leaf_column(schema_descr: &SchemaDescriptor, name: &str) -> Option<usize> {
    let path = leaf_path(name);
    (0..schema_descr.num_columns()).find(|i| schema_descr.column(*i).path() == &path)
}

/// The query's address, host and user, with the columns they are looked up in.
fn field_checks(schema_descr: &SchemaDescriptor, q: &Query) -> Vec<FieldCheck> {
    [
        (q.ip_text(), col::IPS),
        (q.host.clone(), col::HOST),
        (q.user.clone(), col::USERS),
    ]
    .into_iter()
    .filter_map(|(value, name)| {
        Some(FieldCheck {
            column: leaf_column(schema_descr, name)?,
            value: value?,
            is_host: name == col::HOST,
        })
    })
    .collect()
}

/// The row groups that may hold a hit: their time and sequence statistics
/// overlap the query's, and no Bloom filter rules out its address or user.
#[allow(deprecated)]
async fn row_groups_to_read(
    reader: &ParquetObjectReader,
    meta: &ArrowReaderMetadata,
    q: &Query,
    checks: &[FieldCheck],
    st: &mut SearchStats,
) -> Vec<usize> {
    let md = meta.metadata();
    let mut groups: Vec<usize> = Vec::new();
    let mut probe =
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader.clone(), meta.clone());
    for rg in 0..md.num_row_groups() {
        let rgm = md.row_group(rg);
        let in_time = int64_range(rgm.column(1).statistics())
            .is_none_or(|(min, max)| q.overlaps_time(min, max));
        let in_seq = int64_range(rgm.column(0).statistics())
            .is_none_or(|(min, max)| q.overlaps_seq(min as u64, max as u64));
        let mut keep = in_time && in_seq;
        if keep {
            for c in checks.iter().filter(|c| !c.is_host) {
                if let Ok(Some(bf)) = probe.get_row_group_column_bloom_filter(rg, c.column).await {
                    if !bf.check(c.value.as_str()) {
                        keep = false;
                        break;
                    }
                }
            }
        }
        if keep {
            groups.push(rg);
        } else {
            st.row_groups_pruned += 1;
        }
    }
    groups
}

/// A column chunk's minimum and maximum, when its statistics give both.
fn int64_range(stats: Option<&Statistics>) -> Option<(i64, i64)> {
    match stats {
        Some(Statistics::Int64(s)) => Some((*s.min_opt()?, *s.max_opt()?)),
        _ => None,
    }
}

/// The row filter of a row group: each address or user must be in its
/// list; without one, text is what narrows, so the raw line is decoded for
/// every row and the other columns only where it matches.
fn row_predicates(
    schema_descr: &SchemaDescriptor,
    selective: &[FieldCheck],
    q: &Query,
) -> Vec<Box<dyn ArrowPredicate>> {
    let mut predicates: Vec<Box<dyn ArrowPredicate>> = selective
        .iter()
        .map(|c| {
            let v = c.value.clone();
            let mask = ProjectionMask::leaves(schema_descr, [c.column]);
            Box::new(ArrowPredicateFn::new(mask, move |b: RecordBatch| {
                let list: &ListArray = b.column(0).as_list();
                Ok((0..b.num_rows())
                    .map(|i| Some(list_has(list, i, &v)))
                    .collect::<BooleanArray>())
            })) as Box<dyn ArrowPredicate>
        })
        .collect();
    if let (true, Some(r), Some(d), Some(m)) = (
        predicates.is_empty(),
        leaf_column(schema_descr, col::RAW),
        leaf_column(schema_descr, col::SD),
        RawMatch::of(q),
    ) {
        let mask = ProjectionMask::leaves(schema_descr, [r, d]);
        predicates.push(Box::new(ArrowPredicateFn::new(
            mask,
            move |b: RecordBatch| {
                let raw: &BinaryArray = b.column_by_name(col::RAW).expect("raw").as_binary();
                let sd: &StringArray = b.column_by_name(col::SD).expect("sd").as_string();
                Ok((0..b.num_rows())
                    .map(|i| Some(m.matches(raw.value(i), sd.is_valid(i).then(|| sd.value(i)))))
                    .collect::<BooleanArray>())
            },
        )));
    }
    predicates
}

/// Where a segment scan's batches go: `emit` keeps the hits (counting them
/// against `remaining`), `out` takes them.
struct Sink<'a, E> {
    st: &'a mut SearchStats,
    remaining: &'a mut usize,
    emit: &'a mut E,
    out: &'a mpsc::Sender<RecordBatch>,
}

impl<E> Sink<'_, E>
where
    E: FnMut(&RecordBatch, &mut SearchStats, &mut usize) -> Option<RecordBatch>,
{
    /// Sends a batch's hits; true when the search is finished (enough hits,
    /// or its caller went away).
    async fn give(&mut self, b: &RecordBatch) -> bool {
        if let Some(r) = (self.emit)(b, self.st, self.remaining) {
            if self.out.send(r).await.is_err() {
                return true;
            }
        }
        *self.remaining == 0
    }
}

fn take_rows(b: &RecordBatch, idx: &[u32]) -> RecordBatch {
    let indices = UInt32Array::from(idx.to_vec());
    let cols = b
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c.as_ref(), &indices, None).expect("indices in range"))
        .collect();
    RecordBatch::try_new(b.schema(), cols).expect("same schema")
}

/// One search result, as shown to people and sent as NDJSON.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Hit {
    pub seq: u64,
    /// RFC 3339 in UTC.
    pub received_at: String,
    /// The same instant in IST.
    pub received_at_ist: String,
    pub transport: String,
    pub peer: String,
    /// The raw bytes when they are UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw: Option<String>,
    /// The raw bytes in base64 when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub raw_b64: Option<String>,
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event_zone_assumed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub facility: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub procid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub msgid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub structured_data: Option<String>,
    /// The message part of the line (a slice of the raw bytes), when UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ips: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ports: Vec<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub users: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parse_error: Option<String>,
}

impl Hit {
    /// The raw bytes exactly as received.
    pub fn raw_bytes(&self) -> Vec<u8> {
        use base64::Engine;
        match (&self.raw, &self.raw_b64) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// The columns of [`Hit::csv_row`], the CSV view of hits (the CLI's
/// `--format csv` and the console's download).
pub const CSV_COLUMNS: [&str; 12] = [
    "seq",
    "received_at",
    "received_at_ist",
    "transport",
    "peer",
    "host",
    "app",
    "severity",
    "event_time",
    "ips",
    "users",
    "raw",
];

impl Hit {
    /// The hit as one CSV line under [`CSV_COLUMNS`]: the raw line as text
    /// (a line that is not UTF-8 in base64 with a `base64:` prefix), every
    /// cell through `pramaan_core::csv`, so a line that starts like a
    /// formula (`=`, `+`, `-`, `@`) gets a `'` in front. A view for
    /// spreadsheets; NDJSON keeps the exact line.
    pub fn csv_row(&self) -> String {
        let raw = match (&self.raw, &self.raw_b64) {
            (Some(s), _) => s.clone(),
            (None, Some(b)) => format!("base64:{b}"),
            _ => String::new(),
        };
        pramaan_core::csv::row([
            self.seq.to_string(),
            self.received_at.clone(),
            self.received_at_ist.clone(),
            self.transport.clone(),
            self.peer.clone(),
            self.host.clone().unwrap_or_default(),
            self.app.clone().unwrap_or_default(),
            self.severity.clone().unwrap_or_default(),
            self.event_time.clone().unwrap_or_default(),
            self.ips.join(" "),
            self.users.join(" "),
            raw,
        ])
    }
}

fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    (!a.is_null(i)).then(|| a.value(i).to_owned())
}

/// Converts a batch of the logs schema into hits.
/// The hits of a batch as NDJSON, one line each (the HTTP search's body).
pub fn ndjson(b: &RecordBatch) -> Vec<u8> {
    let mut buf = Vec::new();
    for h in hits(b) {
        serde_json::to_writer(&mut buf, &h).expect("hit serialises");
        buf.push(b'\n');
    }
    buf
}

pub fn hits(b: &RecordBatch) -> Vec<Hit> {
    use base64::Engine;
    let s = |name: &str| -> &StringArray { b.column_by_name(name).expect("column").as_string() };
    let seq: &UInt64Array = b.column(0).as_primitive();
    let at = b.column(1).as_primitive::<TimestampNanosecondType>();
    let raw: &BinaryArray = b.column_by_name(col::RAW).expect("raw").as_binary();
    let et = b
        .column_by_name(col::EVENT_TIME)
        .expect("event_time")
        .as_primitive::<TimestampNanosecondType>();
    let eo = b
        .column_by_name(col::EVENT_OFFSET)
        .expect("event_offset")
        .as_primitive::<arrow::datatypes::Int32Type>();
    let ez = b
        .column_by_name(col::EVENT_ZONE_ASSUMED)
        .expect("zone")
        .as_boolean();
    let fac: &UInt8Array = b
        .column_by_name(col::FACILITY)
        .expect("facility")
        .as_primitive();
    let sev: &UInt8Array = b
        .column_by_name(col::SEVERITY)
        .expect("severity")
        .as_primitive();
    let ms = b
        .column_by_name(col::MSG_START)
        .expect("msg_start")
        .as_primitive::<arrow::datatypes::UInt32Type>();
    let me = b
        .column_by_name(col::MSG_END)
        .expect("msg_end")
        .as_primitive::<arrow::datatypes::UInt32Type>();
    let ips: &ListArray = b.column_by_name(col::IPS).expect("ips").as_list();
    let ports: &ListArray = b.column_by_name(col::PORTS).expect("ports").as_list();
    let users: &ListArray = b.column_by_name(col::USERS).expect("users").as_list();
    let strings = |l: &ListArray, i: usize| -> Vec<String> {
        let v: &StringArray = l.values().as_string();
        let o = l.value_offsets();
        (o[i] as usize..o[i + 1] as usize)
            .map(|j| v.value(j).to_owned())
            .collect()
    };
    (0..b.num_rows())
        .map(|i| {
            let bytes = raw.value(i);
            let (raw_s, raw_b64) = match std::str::from_utf8(bytes) {
                Ok(s) => (Some(s.to_owned()), None),
                Err(_) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                ),
            };
            let (a, z) = (ms.value(i) as usize, me.value(i) as usize);
            let message = bytes
                .get(a.min(z)..z.min(bytes.len()))
                .and_then(|m| std::str::from_utf8(m).ok())
                .map(str::to_owned);
            let pv = ports.value(i);
            Hit {
                seq: seq.value(i),
                received_at: pramaan_core::time::rfc3339_utc(at.value(i)),
                received_at_ist: pramaan_core::time::rfc3339_ist(at.value(i)),
                transport: s(col::TRANSPORT).value(i).to_owned(),
                peer: s(col::PEER).value(i).to_owned(),
                raw: raw_s,
                raw_b64,
                format: s(col::FORMAT).value(i).to_owned(),
                event_time: (!et.is_null(i))
                    .then(|| pramaan_core::time::rfc3339_at(et.value(i), eo.value(i))),
                event_zone_assumed: (!ez.is_null(i)).then(|| ez.value(i)),
                facility: (!fac.is_null(i)).then(|| fac.value(i)),
                severity: (!sev.is_null(i)).then(|| {
                    SEVERITIES
                        .get(sev.value(i) as usize)
                        .unwrap_or(&"?")
                        .to_string()
                }),
                host: opt_str(s(col::HOST), i),
                app: opt_str(s(col::APP), i),
                procid: opt_str(s(col::PROCID), i),
                msgid: opt_str(s(col::MSGID), i),
                structured_data: opt_str(s(col::SD), i),
                message,
                ips: strings(ips, i),
                ports: pv.as_primitive::<UInt16Type>().values().to_vec(),
                users: strings(users, i),
                parse_error: opt_str(s(col::PARSE_ERROR), i),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_regex_match_the_raw_line_or_its_structured_data() {
        let q = |text: Option<&str>, re: Option<&str>| Query {
            text: text.map(String::from),
            regex: re.map(|r| regex::bytes::Regex::new(r).unwrap()),
            ..Query::default()
        };
        // A trace id that is binary in a protobuf raw record, hex in sd.
        let raw = b"\x0a\x10\x4b\xf9 sshd: Failed password";
        let sd = Some(r#"[otlp trace_id="4bf92f3577b34da6a3ce929d0e0e4736"]"#);
        let m = |q: &Query, sd: Option<&str>| RawMatch::of(q).unwrap().matches(raw, sd);
        assert!(m(&q(Some("4bf92f3577b3"), None), sd));
        assert!(!m(&q(Some("4bf92f3577b3"), None), None));
        assert!(m(&q(Some("Failed password"), None), sd));
        assert!(m(&q(None, Some("trace_id=\"4bf9[0-9a-f]+\"")), sd));
        // Both must hold, each in either place.
        assert!(m(&q(Some("sshd"), Some("trace_id")), sd));
        assert!(!m(&q(Some("sshd"), Some("span_id")), sd));
        assert!(!m(&q(Some("nowhere"), None), sd));
    }
}
