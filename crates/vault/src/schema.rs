//! The Arrow schema of stored records, shared by the memtable, the Parquet
//! segments and SQL, and the builder that turns records into Arrow batches.

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, ListBuilder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pramaan_core::{ParsedFields, RecordRef};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

/// Column names, in schema order.
pub mod col {
    pub const SEQ: &str = "seq";
    pub const RECEIVED_AT: &str = "received_at";
    pub const TRANSPORT: &str = "transport";
    pub const PEER: &str = "peer";
    pub const RAW: &str = "raw";
    pub const FORMAT: &str = "format";
    pub const EVENT_TIME: &str = "event_time";
    pub const EVENT_OFFSET: &str = "event_offset";
    pub const EVENT_ZONE_ASSUMED: &str = "event_zone_assumed";
    pub const FACILITY: &str = "facility";
    pub const SEVERITY: &str = "severity";
    pub const HOST: &str = "host";
    pub const APP: &str = "app";
    pub const PROCID: &str = "procid";
    pub const MSGID: &str = "msgid";
    pub const SD: &str = "structured_data";
    pub const MSG_START: &str = "msg_start";
    pub const MSG_END: &str = "msg_end";
    pub const IPS: &str = "ips";
    pub const PORTS: &str = "ports";
    pub const USERS: &str = "users";
    pub const PARSE_ERROR: &str = "parse_error";
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn list_of(dt: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", dt, true)))
}

/// The schema of the `logs` table.
pub fn schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new(col::SEQ, DataType::UInt64, false),
            Field::new(col::RECEIVED_AT, ts_type(), false),
            Field::new(col::TRANSPORT, DataType::Utf8, false),
            Field::new(col::PEER, DataType::Utf8, false),
            Field::new(col::RAW, DataType::Binary, false),
            Field::new(col::FORMAT, DataType::Utf8, false),
            Field::new(col::EVENT_TIME, ts_type(), true),
            Field::new(col::EVENT_OFFSET, DataType::Int32, true),
            Field::new(col::EVENT_ZONE_ASSUMED, DataType::Boolean, true),
            Field::new(col::FACILITY, DataType::UInt8, true),
            Field::new(col::SEVERITY, DataType::UInt8, true),
            Field::new(col::HOST, DataType::Utf8, true),
            Field::new(col::APP, DataType::Utf8, true),
            Field::new(col::PROCID, DataType::Utf8, true),
            Field::new(col::MSGID, DataType::Utf8, true),
            Field::new(col::SD, DataType::Utf8, true),
            Field::new(col::MSG_START, DataType::UInt32, false),
            Field::new(col::MSG_END, DataType::UInt32, false),
            Field::new(col::IPS, list_of(DataType::Utf8), false),
            Field::new(col::PORTS, list_of(DataType::UInt16), false),
            Field::new(col::USERS, list_of(DataType::Utf8), false),
            Field::new(col::PARSE_ERROR, DataType::Utf8, true),
        ]))
    })
    .clone()
}

/// Accumulates rows and finishes them into a [`RecordBatch`].
pub struct BatchBuilder {
    seq: UInt64Builder,
    received_at: TimestampNanosecondBuilder,
    transport: StringBuilder,
    peer: StringBuilder,
    raw: BinaryBuilder,
    format: StringBuilder,
    event_time: TimestampNanosecondBuilder,
    event_offset: Int32Builder,
    event_zone_assumed: BooleanBuilder,
    facility: UInt8Builder,
    severity: UInt8Builder,
    host: StringBuilder,
    app: StringBuilder,
    procid: StringBuilder,
    msgid: StringBuilder,
    sd: StringBuilder,
    msg_start: UInt32Builder,
    msg_end: UInt32Builder,
    ips: ListBuilder<StringBuilder>,
    ports: ListBuilder<UInt16Builder>,
    users: ListBuilder<StringBuilder>,
    parse_error: StringBuilder,
    rows: usize,
    raw_bytes: usize,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    pub fn new() -> Self {
        BatchBuilder {
            seq: UInt64Builder::new(),
            received_at: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            transport: StringBuilder::new(),
            peer: StringBuilder::new(),
            raw: BinaryBuilder::new(),
            format: StringBuilder::new(),
            event_time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            event_offset: Int32Builder::new(),
            event_zone_assumed: BooleanBuilder::new(),
            facility: UInt8Builder::new(),
            severity: UInt8Builder::new(),
            host: StringBuilder::new(),
            app: StringBuilder::new(),
            procid: StringBuilder::new(),
            msgid: StringBuilder::new(),
            sd: StringBuilder::new(),
            msg_start: UInt32Builder::new(),
            msg_end: UInt32Builder::new(),
            ips: ListBuilder::new(StringBuilder::new()),
            ports: ListBuilder::new(UInt16Builder::new()),
            users: ListBuilder::new(StringBuilder::new()),
            parse_error: StringBuilder::new(),
            rows: 0,
            raw_bytes: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn raw_bytes(&self) -> usize {
        self.raw_bytes
    }

    pub fn push(&mut self, rec: &RecordRef<'_>, p: &ParsedFields) {
        self.seq.append_value(rec.seq);
        self.received_at.append_value(rec.received_at_ns);
        self.transport.append_value(rec.transport.as_str());
        self.peer.append_value(rec.peer);
        self.raw.append_value(rec.raw);
        self.format.append_value(p.format.as_str());
        match p.event_time {
            Some(t) => {
                self.event_time.append_value(t.utc_ns);
                self.event_offset.append_value(t.offset_secs);
                self.event_zone_assumed.append_value(t.zone_assumed);
            }
            None => {
                self.event_time.append_null();
                self.event_offset.append_null();
                self.event_zone_assumed.append_null();
            }
        }
        self.facility.append_option(p.facility);
        self.severity.append_option(p.severity);
        self.host.append_option(p.host.as_deref());
        self.app.append_option(p.app.as_deref());
        self.procid.append_option(p.procid.as_deref());
        self.msgid.append_option(p.msgid.as_deref());
        self.sd.append_option(p.structured_data.as_deref());
        let end = p.message.end.min(rec.raw.len());
        let start = p.message.start.min(end);
        self.msg_start.append_value(start as u32);
        self.msg_end.append_value(end as u32);
        for ip in &p.ips {
            // Written straight into the builder's buffer, not through a String.
            let _ = write!(self.ips.values(), "{ip}");
            self.ips.values().append_value("");
        }
        self.ips.append(true);
        for port in &p.ports {
            self.ports.values().append_value(*port);
        }
        self.ports.append(true);
        for u in &p.users {
            self.users.values().append_value(u);
        }
        self.users.append(true);
        self.parse_error.append_option(p.parse_error.as_deref());
        self.rows += 1;
        self.raw_bytes += rec.raw.len();
    }

    fn columns(&mut self, cloned: bool) -> Vec<ArrayRef> {
        macro_rules! fin {
            ($b:expr) => {
                if cloned {
                    Arc::new($b.finish_cloned()) as ArrayRef
                } else {
                    Arc::new($b.finish()) as ArrayRef
                }
            };
        }
        vec![
            fin!(self.seq),
            fin!(self.received_at),
            fin!(self.transport),
            fin!(self.peer),
            fin!(self.raw),
            fin!(self.format),
            fin!(self.event_time),
            fin!(self.event_offset),
            fin!(self.event_zone_assumed),
            fin!(self.facility),
            fin!(self.severity),
            fin!(self.host),
            fin!(self.app),
            fin!(self.procid),
            fin!(self.msgid),
            fin!(self.sd),
            fin!(self.msg_start),
            fin!(self.msg_end),
            fin!(self.ips),
            fin!(self.ports),
            fin!(self.users),
            fin!(self.parse_error),
        ]
    }

    /// Finishes the rows so far and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let (rows, raw_bytes) = (self.rows, self.raw_bytes);
        let cols = self.columns(false);
        // The next chunk is likely the same size: reserve it at once rather
        // than doubling (and copying) the raw bytes' buffer up to it.
        self.raw = BinaryBuilder::with_capacity(rows, raw_bytes);
        self.rows = 0;
        self.raw_bytes = 0;
        RecordBatch::try_new(schema(), cols).expect("builder matches schema")
    }

    /// A copy of the rows so far; the builder keeps them.
    pub fn snapshot(&mut self) -> RecordBatch {
        let cols = self.columns(true);
        RecordBatch::try_new(schema(), cols).expect("builder matches schema")
    }
}
