//! Reading a subscriber file: CSV (the columns `gen_subscribers.py` writes),
//! a JSON array of objects, or NDJSON (one object a line). Pure: bytes in,
//! validated subscribers or located errors out.
//!
//! [`sniff`] looks at a file's start and says what it is, so that
//! `pramaan registry import` can hand a file that is not a subscriber file
//! (the IP-bindings CSV, `ip,port_start,...`) to whoever reads it.

use crate::model::{FieldError, Subscriber, SubscriberInput, CSV_COLUMNS};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// Most bytes read from one import file.
pub const MAX_FILE: u64 = 4 << 30;

/// What a file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Subscribers(Format),
    /// A CSV whose header is the IP-bindings header of `gen_bindings.py`
    /// (`ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id`).
    Bindings,
    /// Something else; the reason says what was seen.
    NotSubscribers(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    Csv,
    JsonArray,
    Ndjson,
}

/// The header `gen_bindings.py` writes.
pub const BINDINGS_HEADER: [&str; 7] = [
    "ip",
    "port_start",
    "port_end",
    "start_utc",
    "end_utc",
    "subscriber_id",
    "session_id",
];

/// Looks at the start of `data` (a few KiB are enough).
pub fn sniff(data: &[u8]) -> FileKind {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = data.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| data[i]) {
        None => FileKind::NotSubscribers("the file is empty".into()),
        Some(b'[') => FileKind::Subscribers(Format::JsonArray),
        Some(b'{') => FileKind::Subscribers(Format::Ndjson),
        Some(_) => {
            let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let cols: Vec<String> = line
                .trim_end_matches('\r')
                .split(',')
                .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
                .collect();
            if cols.iter().map(String::as_str).eq(BINDINGS_HEADER) {
                FileKind::Bindings
            } else if cols
                .iter()
                .any(|c| c == "subscriber_id" || c == "external_id")
            {
                FileKind::Subscribers(Format::Csv)
            } else {
                FileKind::NotSubscribers(format!(
                    "the first line is not a subscriber CSV header (it needs a subscriber_id column) nor JSON: `{}`",
                    line.chars().take(120).collect::<String>()
                ))
            }
        }
    }
}

/// Sniffs a file on disk by its first 8 KiB. This is the hook for files
/// that are not subscriber files: on [`FileKind::Bindings`] the caller hands
/// the path to the bindings importer.
pub fn sniff_file(path: &Path) -> std::io::Result<FileKind> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    buf.truncate(n);
    Ok(sniff(&buf))
}

/// One invalid record: where and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line of the record's start in the file.
    pub line: u64,
    /// The record's subscriber id, when it could be read.
    pub subscriber_id: Option<String>,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)?;
        if let Some(id) = &self.subscriber_id {
            write!(f, " (subscriber {id})")?;
        }
        Ok(())
    }
}

/// Every record of a file: the valid ones with their line, and every error.
#[derive(Debug, Default)]
pub struct Parsed {
    pub format: Option<Format>,
    pub valid: Vec<(u64, Subscriber)>,
    pub errors: Vec<RowError>,
    /// Records seen (valid or not).
    pub records: u64,
}

impl Parsed {
    fn push(&mut self, line: u64, input: SubscriberInput, seen: &mut HashSet<String>) {
        self.records += 1;
        let id = input
            .subscriber_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let dup = id.as_ref().is_some_and(|i| !seen.insert(i.clone()));
        if dup {
            self.errors.push(RowError {
                line,
                subscriber_id: id.clone(),
                field: "subscriber_id".into(),
                reason: "appears more than once in this file".into(),
            });
        }
        match input.validate() {
            Ok(s) => {
                if !dup {
                    self.valid.push((line, s));
                }
            }
            Err(errs) => {
                for FieldError { field, reason } in errs {
                    self.errors.push(RowError {
                        line,
                        subscriber_id: id.clone(),
                        field,
                        reason,
                    });
                }
            }
        }
    }

    fn bad(&mut self, line: u64, field: &str, reason: impl Into<String>) {
        self.records += 1;
        self.errors.push(RowError {
            line,
            subscriber_id: None,
            field: field.to_owned(),
            reason: reason.into(),
        });
    }
}

/// Parses a whole subscriber file. `progress` is called with the bytes
/// consumed so far, now and then.
pub fn parse(data: &[u8], progress: &mut dyn FnMut(u64)) -> Parsed {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    match sniff(data) {
        FileKind::Subscribers(Format::Csv) => parse_csv(data, progress),
        FileKind::Subscribers(Format::JsonArray) => parse_json_array(data, progress),
        FileKind::Subscribers(Format::Ndjson) => parse_ndjson(data, progress),
        FileKind::Bindings => {
            let mut p = Parsed::default();
            p.bad(
                1,
                "(header)",
                "this is an IP-bindings file, not a subscriber file",
            );
            p
        }
        FileKind::NotSubscribers(why) => {
            let mut p = Parsed::default();
            p.bad(1, "(header)", why);
            p
        }
    }
}

fn parse_csv(data: &[u8], progress: &mut dyn FnMut(u64)) -> Parsed {
    let mut out = Parsed {
        format: Some(Format::Csv),
        ..Parsed::default()
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut rec = csv::ByteRecord::new();
    let mut columns: Vec<Option<usize>> = Vec::new(); // column i -> index in CSV_COLUMNS
    let mut header = true;
    let mut seen = HashSet::new();
    let mut n = 0u64;
    loop {
        let line = rdr.position().line();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                out.bad(line, "(record)", format!("not valid CSV: {e}"));
                // The reader cannot go on reliably after a broken quote.
                break;
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(line);
        if header {
            header = false;
            let mut have = HashSet::new();
            for (i, raw) in rec.iter().enumerate() {
                let name = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
                let name = if name == "external_id" {
                    "subscriber_id".to_owned()
                } else {
                    name
                };
                match CSV_COLUMNS.iter().position(|c| *c == name) {
                    Some(k) => {
                        if !have.insert(k) {
                            out.errors.push(RowError {
                                line,
                                subscriber_id: None,
                                field: name.clone(),
                                reason: format!("column {} repeats this column", i + 1),
                            });
                        }
                        columns.push(Some(k))
                    }
                    None => {
                        out.errors.push(RowError {
                            line,
                            subscriber_id: None,
                            field: name.clone(),
                            reason: format!(
                                "column {} is not a subscriber field; known columns: {}",
                                i + 1,
                                CSV_COLUMNS.join(", ")
                            ),
                        });
                        columns.push(None)
                    }
                }
            }
            if !out.errors.is_empty() {
                return out;
            }
            continue;
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
            continue; // blank line
        }
        if rec.len() != columns.len() {
            out.bad(
                line,
                "(record)",
                format!("{} fields, the header has {}", rec.len(), columns.len()),
            );
            continue;
        }
        let mut input = SubscriberInput::default();
        let mut utf8_err = None;
        for (raw, col) in rec.iter().zip(&columns) {
            let Some(k) = col else { continue };
            let v = match std::str::from_utf8(raw) {
                Ok(v) => v.to_owned(),
                Err(_) => {
                    utf8_err = Some(CSV_COLUMNS[*k]);
                    continue;
                }
            };
            let v = Some(v);
            match CSV_COLUMNS[*k] {
                "subscriber_id" => input.subscriber_id = v,
                "name" => input.name = v,
                "kyc_method" => input.kyc_method = v,
                "kyc_verified_at" => input.kyc_verified_at = v,
                "email" => input.email = v,
                "registration_ip" => input.registration_ip = v,
                "registration_at" => input.registration_at = v,
                "purpose" => input.purpose = v,
                "address" => input.address = v,
                "phone" => input.phone = v.map(crate::model::TextOrList::Text),
                "ownership" => input.ownership = v,
                "owners" => input.owners = v.map(crate::model::TextOrList::Text),
                "hire_start" => input.hire_start = v,
                "hire_end" => input.hire_end = v,
                "pan" => input.pan = v,
                "bank_accounts" => input.bank_accounts = v.map(crate::model::TextOrList::Text),
                "wallets" => input.wallets = v.map(crate::model::TextOrList::Text),
                _ => {}
            }
        }
        if let Some(f) = utf8_err {
            out.bad(line, f, "not valid UTF-8");
            continue;
        }
        out.push(line, input, &mut seen);
        n += 1;
        if n.is_multiple_of(4096) {
            progress(rdr.position().byte());
        }
    }
    if header {
        out.bad(1, "(header)", "the file is empty");
    }
    progress(data.len() as u64);
    out
}

fn line_of(data: &[u8], pos: usize, from: usize, line: u64) -> u64 {
    line + data[from..pos.min(data.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
}

fn input_from_value(v: serde_json::Value) -> Result<SubscriberInput, (String, String)> {
    if !v.is_object() {
        return Err(("(record)".into(), "not a JSON object".into()));
    }
    serde_json::from_value::<SubscriberInput>(v).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in "unknown field `x`" and "invalid type ... for `x`"-like messages.
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field"))
            .unwrap_or("(record)")
            .to_owned();
        (field, msg)
    })
}

fn parse_json_array(data: &[u8], progress: &mut dyn FnMut(u64)) -> Parsed {
    let mut out = Parsed {
        format: Some(Format::JsonArray),
        ..Parsed::default()
    };
    let mut seen = HashSet::new();
    let skip_ws = |mut i: usize| {
        while i < data.len() && data[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut pos = skip_ws(0) + 1; // past '['
    let mut line = line_of(data, pos, 0, 1);
    let mut last = pos;
    let mut n = 0u64;
    loop {
        pos = skip_ws(pos);
        line = line_of(data, pos, last, line);
        last = pos;
        if pos >= data.len() {
            out.bad(line, "(file)", "the JSON array is not closed with ]");
            break;
        }
        if data[pos] == b']' {
            if skip_ws(pos + 1) != data.len() {
                let l = line_of(data, skip_ws(pos + 1), pos, line);
                out.bad(l, "(file)", "text after the closing ]");
            }
            break;
        }
        let mut it =
            serde_json::Deserializer::from_slice(&data[pos..]).into_iter::<serde_json::Value>();
        match it.next() {
            Some(Ok(v)) => {
                let end = pos + it.byte_offset();
                match input_from_value(v) {
                    Ok(input) => out.push(line, input, &mut seen),
                    Err((field, reason)) => out.bad(line, &field, reason),
                }
                pos = skip_ws(end);
                if pos < data.len() && data[pos] == b',' {
                    pos += 1;
                } else if !(pos < data.len() && data[pos] == b']') {
                    let l = line_of(data, pos, last, line);
                    out.bad(l, "(file)", "expected , or ] after an element");
                    break;
                }
            }
            Some(Err(e)) => {
                out.bad(
                    line + e.line() as u64 - 1,
                    "(record)",
                    format!("not valid JSON: {e}"),
                );
                break;
            }
            None => {
                out.bad(line, "(file)", "the JSON array is not closed with ]");
                break;
            }
        }
        n += 1;
        if n.is_multiple_of(4096) {
            progress(pos as u64);
        }
    }
    progress(data.len() as u64);
    out
}

fn parse_ndjson(data: &[u8], progress: &mut dyn FnMut(u64)) -> Parsed {
    let mut out = Parsed {
        format: Some(Format::Ndjson),
        ..Parsed::default()
    };
    let mut seen = HashSet::new();
    let mut offset = 0u64;
    for (i, l) in data.split(|b| *b == b'\n').enumerate() {
        let line = i as u64 + 1;
        offset += l.len() as u64 + 1;
        let t = l.trim_ascii();
        if t.is_empty() {
            continue;
        }
        match serde_json::from_slice::<serde_json::Value>(t) {
            Ok(v) => match input_from_value(v) {
                Ok(input) => out.push(line, input, &mut seen),
                Err((field, reason)) => out.bad(line, &field, reason),
            },
            Err(e) => out.bad(line, "(record)", format!("not valid JSON: {e}")),
        }
        if line.is_multiple_of(4096) {
            progress(offset.min(data.len() as u64));
        }
    }
    progress(data.len() as u64);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN: &str = "subscriber_id,name,kyc_method,kyc_verified_at,email,registration_ip,registration_at,purpose,address,phone,ownership,owners,hire_start,hire_end
1,Menon Technologies Private Limited,gst-mca,2023-08-14T00:47:05Z,it1@menon-corp.example.in,198.51.100.185,2023-08-13T22:58:05Z,backup and storage,\"444, Anna Salai, Pune, Maharashtra 411001\",+916747144854,llp,Lakshmi Chatterjee;Kavya Nair,2023-08-14,
3,Saanvi Nair,documents,2022-12-17T14:28:00Z,saanvi.nair3@mail.example.in,198.51.100.226,2022-12-17T05:46:00Z,game server,\"520, Station Road, Pune, Maharashtra 411001\",+918305113796,individual,,2022-12-18,2025-09-01
";

    #[test]
    fn reads_what_the_generator_writes() {
        let p = parse(GEN.as_bytes(), &mut |_| {});
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.valid.len(), 2);
        assert_eq!(p.valid[0].0, 2);
        assert_eq!(p.valid[0].1.personal.owners.len(), 2);
        assert!(p.valid[0].1.active());
        assert!(!p.valid[1].1.active());
    }

    #[test]
    fn errors_are_located() {
        let bad = GEN
            .replace("+918305113796", "98305113796")
            .replace("it1@menon-corp.example.in", "it1-at-menon")
            + "4,Only,Three\n1,Dup,documents,,,,,,,,,,2024-01-01,\n";
        let p = parse(bad.as_bytes(), &mut |_| {});
        let got: Vec<(u64, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "email"),
                (3, "phone"),
                (4, "(record)"),
                (5, "subscriber_id")
            ]
        );
    }

    #[test]
    fn vasp_columns_are_optional() {
        // The generator's CSV, without the VASP columns, reads as before.
        let p = parse(GEN.as_bytes(), &mut |_| {});
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        for (_, s) in &p.valid {
            assert_eq!(s.personal.pan, None);
            assert!(s.personal.bank_accounts.is_empty() && s.personal.wallets.is_empty());
        }
        // The VASP columns, in any place, some cells empty.
        let csv = "subscriber_id,pan,name,bank_accounts,wallets,hire_start
c1,abcpe1234f,Ishaan Rao,HDFC0001234:50100012345678;icic0000456:000401234567,\"bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa; ethereum:0x52908400098527886E0F7030069857D2E4169EE7\",2024-01-01
c2,,Anaya Das,,tron:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t,2024-02-01
c3,ABCPE1234,Bad Pan,HDFC0001234:1234,dogecoin:D8vFz4p1L37jdg47HXKtSHA5uYLYxbGgPD,2024-03-01
";
        let p = parse(csv.as_bytes(), &mut |_| {});
        assert_eq!(p.valid.len(), 2);
        let c1 = &p.valid[0].1.personal;
        assert_eq!(c1.pan.as_deref(), Some("ABCPE1234F"));
        assert_eq!(
            c1.bank_accounts,
            ["HDFC0001234:50100012345678", "ICIC0000456:000401234567"]
        );
        assert_eq!(
            c1.wallets,
            [
                "bitcoin:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                "ethereum:0x52908400098527886e0f7030069857d2e4169ee7"
            ]
        );
        let c2 = &p.valid[1].1.personal;
        assert_eq!(c2.pan, None);
        assert!(c2.bank_accounts.is_empty());
        assert_eq!(c2.wallets, ["tron:TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]);
        let got: Vec<(u64, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(got, [(4, "pan"), (4, "bank_accounts"), (4, "wallets")]);
        assert!(p.errors[2]
            .reason
            .contains("`dogecoin` is not a supported chain"));
    }

    #[test]
    fn json_and_ndjson() {
        let arr = r#"[
  {"subscriber_id": "a1", "name": "X Y", "phones": ["+919876543210"], "periods": [{"from": "2024-01-01T10:00:00+05:30", "to": "2024-06-01"}]},
  {"subscriber_id": "a2", "email": "bad"},
  {"subscriber_id": "a3", "colour": "red"}
]"#;
        let p = parse(arr.as_bytes(), &mut |_| {});
        assert_eq!(p.valid.len(), 1);
        let got: Vec<(u64, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(got, [(3, "email"), (4, "colour")]);
        let nd = "{\"subscriber_id\": \"b1\"}\n\n{\"subscriber_id\": \"b2\", \"hire_start\": \"yesterday\"}\nnot json\n";
        let p = parse(nd.as_bytes(), &mut |_| {});
        let got: Vec<(u64, &str)> = p
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(got, [(3, "hire_start"), (4, "(record)")]);
    }

    #[test]
    fn sniffs_bindings() {
        assert_eq!(
            sniff(b"ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id\n1.2.3.4,1,2,a,b,1,1\n"),
            FileKind::Bindings
        );
        assert!(matches!(sniff(b"a,b,c\n"), FileKind::NotSubscribers(_)));
        assert_eq!(sniff(b"  [ {} ]"), FileKind::Subscribers(Format::JsonArray));
    }
}
