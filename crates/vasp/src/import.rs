//! Transaction files: CSV with a header naming [`CSV_COLUMNS`] (in any
//! order, unknown columns refused), a JSON array, or NDJSON (one object per
//! line). Every bad record is located: its line (CSV, NDJSON) or index
//! (JSON array), and each bad field.

use crate::model::{Transaction, TransactionInput, CSV_COLUMNS};

/// One problem: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `line 7` or `record 3`.
    pub at: String,
    pub error: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.error)
    }
}

/// Most problems reported for one file.
pub const MAX_PROBLEMS: usize = 100;

/// Reads and validates a whole file: every transaction, or the problems.
pub fn read(bytes: &[u8]) -> Result<Vec<Transaction>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for r in records(bytes) {
        match r.and_then(|(at, input)| input.validate().map_err(|errs| located(&at, &errs))) {
            Ok(t) => out.push(t),
            Err(p) => problems.extend(p),
        }
        if problems.len() >= MAX_PROBLEMS {
            problems.truncate(MAX_PROBLEMS);
            break;
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Each bad field of the record at `at`.
pub fn located(at: &str, errs: &[crate::model::FieldError]) -> Vec<Problem> {
    errs.iter()
        .map(|e| Problem {
            at: at.to_owned(),
            error: e.to_string(),
        })
        .collect()
}

/// A file's records, each with where it is, one at a time (a file of
/// millions is never held as records at once); a record that cannot be
/// read is its problem(s).
pub fn records(
    bytes: &[u8],
) -> Box<dyn Iterator<Item = Result<(String, TransactionInput), Vec<Problem>>> + '_> {
    let one = |at: String, error: String| vec![Problem { at, error }];
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Box::new(std::iter::once(Err(one(
                format!("byte {}", e.valid_up_to()),
                "not UTF-8".into(),
            ))))
        }
    };
    let first = text.trim_start();
    if first.starts_with('[') {
        return match serde_json::from_str::<Vec<TransactionInput>>(text) {
            Ok(v) => Box::new(
                v.into_iter()
                    .enumerate()
                    .map(|(i, t)| Ok((format!("record {}", i + 1), t))),
            ),
            Err(e) => Box::new(std::iter::once(Err(one(
                format!("line {}", e.line()),
                format!("not a JSON array of transactions: {e}"),
            )))),
        };
    }
    if first.starts_with('{') {
        return Box::new(
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(move |(i, line)| {
                    serde_json::from_str::<TransactionInput>(line)
                        .map(|t| (format!("line {}", i + 1), t))
                        .map_err(|e| {
                            one(
                                format!("line {}", i + 1),
                                format!("not a transaction object: {e}"),
                            )
                        })
                }),
        );
    }
    csv_records(text)
}

fn csv_records(
    text: &str,
) -> Box<dyn Iterator<Item = Result<(String, TransactionInput), Vec<Problem>>> + '_> {
    let one = |at: String, error: String| vec![Problem { at, error }];
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = match r.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_owned()).collect(),
        Err(e) => {
            return Box::new(std::iter::once(Err(one(
                "line 1".into(),
                format!("not CSV: {e}"),
            ))))
        }
    };
    if let Some(c) = columns.iter().find(|c| !CSV_COLUMNS.contains(&c.as_str())) {
        let error = format!(
            "unknown column `{c}` (the columns are: {})",
            CSV_COLUMNS.join(", ")
        );
        return Box::new(std::iter::once(Err(one("line 1".into(), error))));
    }
    Box::new(r.into_records().map(move |rec| match rec {
        Ok(rec) => {
            let line = rec.position().map_or(0, |p| p.line());
            let mut t = TransactionInput::default();
            for (name, v) in columns.iter().zip(rec.iter()) {
                if let Some(f) = t.field_mut(name) {
                    *f = (!v.trim().is_empty()).then(|| v.to_owned());
                }
            }
            Ok((format!("line {line}"), t))
        }
        Err(e) => {
            let line = e.position().map_or(0, |p| p.line());
            Err(one(format!("line {line}"), e.to_string()))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "id,time,kind,customer,asset,amount,counterparty,received,fee
T-1,2026-03-03T10:00:00+05:30,transfer,C-1,BTC,1.5,C-2,1.4999,0.0001
T-2,2026-03-03T11:00:00+05:30,transfer,C-2,BTC,2,C-3,,
";

    #[test]
    fn csv_json_and_ndjson_give_the_same_transactions() {
        let from_csv = read(CSV.as_bytes()).unwrap();
        assert_eq!(from_csv.len(), 2);
        let json = serde_json::to_string(&from_csv).unwrap();
        assert!(json.starts_with('['));
        let ndjson: String = from_csv
            .iter()
            .map(|t| serde_json::to_string(t).unwrap() + "\n")
            .collect();
        // A transaction's own JSON carries `schema`: not an input field.
        assert!(read(ndjson.as_bytes()).is_err());
    }

    #[test]
    fn every_bad_record_is_located() {
        let bad = CSV.replace("1.4999", "1.4").replace("C-3", "C 3");
        let p = read(bad.as_bytes()).unwrap_err();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].to_string()
                .starts_with("line 2: received: the two sides disagree"),
            "{}",
            p[0]
        );
        assert!(
            p[1].to_string().starts_with("line 3: counterparty:"),
            "{}",
            p[1]
        );
        let p = read(b"id,when\nT-1,now\n").unwrap_err();
        assert!(p[0].error.contains("unknown column `when`"), "{p:?}");
        let p = read(b"{\"id\":\"T-1\"}\n{\"nope\":1}\n").unwrap_err();
        assert!(
            p.iter()
                .any(|p| p.at == "line 2" && p.error.contains("not a transaction object")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|p| p.at == "line 1" && p.error.starts_with("time: missing")),
            "{p:?}"
        );
    }
}
