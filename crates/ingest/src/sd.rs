//! Key-value pairs a protocol carries beside the message (Loki's stream
//! labels, OTLP's resource and log attributes, an Elasticsearch index,
//! journal fields), written as RFC 5424 structured data: one SD-ELEMENT per
//! kind, `[loki job="varlogs" host="web1"]`. They go in the `sd` field that
//! syslog's own structured data uses, so one text search and one SQL column
//! find them whatever protocol brought them.

/// `[id name="value" ...]`. A name keeps the characters RFC 5424 allows in an
/// SD-NAME (printable ASCII but `=`, space, `]` and `"`), others become `_`,
/// at most 32; a value has `"`, `\` and `]` escaped with `\` as RFC 5424 says.
pub fn element<'a>(id: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("[");
    out.push_str(&sd_name(id));
    for (k, v) in pairs {
        out.push(' ');
        out.push_str(&sd_name(k));
        out.push_str("=\"");
        for c in v.chars() {
            if matches!(c, '"' | '\\' | ']') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(']');
    out
}

fn sd_name(s: &str) -> String {
    let name: String = s
        .chars()
        .map(|c| match c {
            '!'..='~' if !matches!(c, '=' | ']' | '"') => c,
            _ => '_',
        })
        .take(32)
        .collect();
    if name.is_empty() {
        "_".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_escape_what_rfc_5424_says() {
        assert_eq!(
            element("loki", [("job", "varlogs"), ("host", "web1")]),
            r#"[loki job="varlogs" host="web1"]"#
        );
        assert_eq!(
            element("otlp", [("a b=c", r#"x"y\z]"#)]),
            r#"[otlp a_b_c="x\"y\\z\]"]"#
        );
        assert_eq!(element("es", [("", "")]), r#"[es _=""]"#);
        assert_eq!(element("es", []), "[es]");
        let long = "k".repeat(40);
        assert_eq!(element("x", [(long.as_str(), "v")]).len(), 3 + 1 + 32 + 4);
    }
}
