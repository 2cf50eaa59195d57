//! Sealed segments: immutable Parquet files holding a contiguous range of
//! records, sorted by (received_at, seq), written through `object_store`.
//!
//! # Versions
//!
//! Every segment says its layout in its Parquet key-value metadata,
//! [`VERSION_KEY`] = [`VERSION`]. A segment without it is version 0: the
//! layout of the releases before versions were kept, which is version 1's
//! (the key is all that changed), so both read alike. A segment of a newer
//! version than [`VERSION`] is refused by every reader (search, proofs,
//! compaction, retention's probe, `verify`) with [`SegmentError::TooNew`],
//! naming the segment and both versions: this binary cannot know what it
//! holds. A layout change bumps [`VERSION`] and teaches the readers the old
//! one (or compaction rewrites old segments forward).

use crate::schema::{col, schema};
use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{FileMetaData, KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

/// How segments are encoded.
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    pub zstd_level: i32,
    pub row_group_rows: usize,
    /// Largest data page, in bytes: larger pages give zstd more context.
    pub data_page_bytes: usize,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            zstd_level: 1,
            row_group_rows: 65536,
            data_page_bytes: 1 << 20,
        }
    }
}

/// Parquet column paths of list elements (arrow-rs names them `<col>.list.item`).
pub fn leaf_path(column: &str) -> ColumnPath {
    match column {
        col::IPS | col::PORTS | col::USERS => {
            ColumnPath::new(vec![column.into(), "list".into(), "item".into()])
        }
        _ => ColumnPath::from(column),
    }
}

fn properties(opts: &SegmentOptions, rows: usize) -> WriterProperties {
    let zstd = ZstdLevel::try_new(opts.zstd_level).unwrap_or_default();
    // Bloom filters are sized for at most one distinct value per row and
    // folded down to what the row group holds when written.
    let ndv = rows.clamp(1, opts.row_group_rows) as u64;
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_compression(Compression::ZSTD(zstd))
        .set_data_page_size_limit(opts.data_page_bytes)
        // Pages end at the byte limit only (not after 20,000 rows): for the
        // raw column, more context per page is what makes it small.
        .set_data_page_row_count_limit(usize::MAX)
        .set_max_row_group_row_count(Some(opts.row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_sorting_columns(Some(vec![
            SortingColumn {
                column_idx: 1,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            },
        ]))
        .set_created_by(format!("pramaan {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            VERSION_KEY.to_owned(),
            VERSION.to_string(),
        )]));
    // Measured on loghub (24k lines): delta encoding halves event_time against
    // a dictionary, which overflows to plain; line ends (msg_end) vary too much
    // for deltas and compress best plain.
    for c in [col::SEQ, col::RECEIVED_AT, col::MSG_START, col::EVENT_TIME] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(c), false)
            .set_column_encoding(ColumnPath::from(c), Encoding::DELTA_BINARY_PACKED);
    }
    b = b
        .set_column_dictionary_enabled(ColumnPath::from(col::MSG_END), false)
        .set_column_encoding(ColumnPath::from(col::MSG_END), Encoding::PLAIN);
    b = b
        .set_column_dictionary_enabled(ColumnPath::from(col::RAW), false)
        .set_column_statistics_enabled(ColumnPath::from(col::RAW), EnabledStatistics::None);
    for c in [col::HOST, col::IPS, col::USERS] {
        b = b
            .set_column_bloom_filter_enabled(leaf_path(c), true)
            .set_column_bloom_filter_fpp(leaf_path(c), 0.01)
            .set_column_bloom_filter_max_ndv(leaf_path(c), ndv);
    }
    b.build()
}

/// An encoded segment ready to upload.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("encoding a segment: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(
        "segment {path} is of segment version {found}, but this pramaan reads versions up to {known}: \
         it was written by a newer release; run that release (or a newer one) on this data"
    )]
    TooNew {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("segment {path} says its segment version is {found:?}, which is not a version number")]
    BadVersion { path: String, found: String },
}

/// The Parquet key-value metadata key that holds a segment's version.
pub const VERSION_KEY: &str = "pramaan.segment_version";

/// The segment version this binary writes, and the newest it reads.
pub const VERSION: u32 = 1;

/// A segment's version from its footer (0: written before versions were
/// kept); refuses one newer than [`VERSION`].
pub fn version_of(path: &str, md: &FileMetaData) -> Result<u32, SegmentError> {
    let found = md
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == VERSION_KEY))
        .and_then(|k| k.value.clone());
    let Some(text) = found else {
        return Ok(0);
    };
    let v: u32 = text.trim().parse().map_err(|_| SegmentError::BadVersion {
        path: path.to_owned(),
        found: text.clone(),
    })?;
    if v > VERSION {
        return Err(SegmentError::TooNew {
            path: path.to_owned(),
            found: v,
            known: VERSION,
        });
    }
    Ok(v)
}

/// Encodes batches (already in sequence order) into one Parquet file in memory.
pub fn encode(batches: &[RecordBatch], opts: &SegmentOptions) -> Result<Encoded, SegmentError> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let capacity = batches
        .iter()
        .map(|b| b.get_array_memory_size())
        .sum::<usize>()
        / 6;
    let mut enc = Encoder::with_capacity(opts, rows, capacity)?;
    for b in batches {
        enc.write(b)?;
    }
    enc.finish()
}

/// Writes a segment batch by batch (compaction streams an existing one).
pub struct Encoder {
    writer: ArrowWriter<Vec<u8>>,
}

impl Encoder {
    /// `rows`: how many rows the segment will have (sizes the bloom filters).
    pub fn new(opts: &SegmentOptions, rows: usize) -> Result<Self, SegmentError> {
        Self::with_capacity(opts, rows, 0)
    }

    fn with_capacity(
        opts: &SegmentOptions,
        rows: usize,
        capacity: usize,
    ) -> Result<Self, SegmentError> {
        let writer = ArrowWriter::try_new(
            Vec::with_capacity(capacity),
            schema(),
            Some(properties(opts, rows)),
        )?;
        Ok(Encoder { writer })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SegmentError> {
        Ok(self.writer.write(batch)?)
    }

    pub fn finish(self) -> Result<Encoded, SegmentError> {
        let bytes = self.writer.into_inner()?;
        let sha256 = sha256_hex(&bytes);
        Ok(Encoded { bytes, sha256 })
    }
}

/// SHA-256 of an object, lowercase hex (as the catalog keeps it).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `segments/YYYY/MM/DD/HH/<seq_min>-<seq_max>.parquet`, by the UTC hour of the first record.
pub fn object_path(time_min_ns: i64, seq_min: u64, seq_max: u64) -> String {
    let t = pramaan_core::time::ts(time_min_ns).to_zoned(jiff::tz::TimeZone::UTC);
    format!(
        "segments/{}/{seq_min:020}-{seq_max:020}.parquet",
        t.strftime("%Y/%m/%d/%H")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memtable::Generation;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// A segment of a few records, its footer's metadata replaced by `kv`.
    fn footer(kv: Option<Vec<KeyValue>>) -> FileMetaData {
        let mut g = Generation::default();
        let rec = crate::wal::record(
            0,
            1,
            pramaan_core::Transport::Tcp,
            "192.0.2.1:514",
            b"<13>x",
        );
        let p = pramaan_ingest::parse(
            b"<13>x",
            &pramaan_ingest::ParseContext {
                received_at_ns: 1,
                default_offset_secs: 0,
            },
        );
        g.push(&rec, &p);
        let batches = g.freeze().batches;
        let props = match kv {
            None => properties(&SegmentOptions::default(), 1),
            Some(kv) => WriterProperties::builder()
                .set_key_value_metadata(Some(kv))
                .build(),
        };
        let mut w = ArrowWriter::try_new(Vec::new(), schema(), Some(props)).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        let bytes = bytes::Bytes::from(w.into_inner().unwrap());
        let r = SerializedFileReader::new(bytes).unwrap();
        r.metadata().file_metadata().clone()
    }

    #[test]
    fn segments_say_their_version_and_newer_ones_are_refused() {
        assert_eq!(version_of("s", &footer(None)).unwrap(), VERSION);
        // Before versions were kept: no key at all.
        assert_eq!(version_of("s", &footer(Some(Vec::new()))).unwrap(), 0);
        let newer = footer(Some(vec![KeyValue::new(
            VERSION_KEY.into(),
            "2".to_string(),
        )]));
        let e = version_of("segments/2026/12/06/12/x.parquet", &newer).unwrap_err();
        assert!(matches!(
            e,
            SegmentError::TooNew {
                found: 2,
                known: 1,
                ..
            }
        ));
        let text = e.to_string();
        assert!(
            text.contains("segments/2026/12/06/12/x.parquet") && text.contains("version 2"),
            "{text}"
        );
        assert!(text.contains("up to 1"), "{text}");
        let bad = footer(Some(vec![KeyValue::new(
            VERSION_KEY.into(),
            "two".to_string(),
        )]));
        assert!(matches!(
            version_of("s", &bad),
            Err(SegmentError::BadVersion { .. })
        ));
    }
}
