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
    let mut out = String::with_capacity(64);
    out.push('[');
    push_name(&mut out, id);
    for (k, v) in pairs {
        out.push(' ');
        push_name(&mut out, k);
        out.push_str("=\"");
        // Whole runs between the three characters that need a `\`.
        let mut rest = v;
        while let Some(i) = memchr::memchr3(b'"', b'\\', b']', rest.as_bytes()) {
            out.push_str(&rest[..i]);
            out.push('\\');
            out.push_str(&rest[i..i + 1]);
            rest = &rest[i + 1..];
        }
        out.push_str(rest);
        out.push('"');
    }
    out.push(']');
    out
}

fn allowed(c: char) -> bool {
    matches!(c, '!'..='~') && !matches!(c, '=' | ']' | '"')
}

fn push_name(out: &mut String, s: &str) {
    if !s.is_empty() && s.len() <= 32 && s.chars().all(allowed) {
        out.push_str(s);
        return;
    }
    let start = out.len();
    out.extend(s.chars().map(|c| if allowed(c) { c } else { '_' }).take(32));
    if out.len() == start {
        out.push('_');
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
