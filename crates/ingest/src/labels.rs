//! What a shipper's labels say about an event beside the message: the host
//! it came from, the application, its severity. Shared by the protocols
//! whose events carry key-value labels (Loki's stream labels, an
//! Elasticsearch document's members are read by [`crate::syslog`]'s JSON
//! rules instead). Keys are compared case-insensitively; the first key of a
//! list that a label set has wins.

use pramaan_core::ParsedFields;

/// Keys naming the host, best first.
const HOST: &[&str] = &[
    "host",
    "hostname",
    "host_name",
    "host.name",
    "nodename",
    "node_name",
];
/// Keys naming the application, best first.
const APP: &[&str] = &[
    "app",
    "application",
    "service_name",
    "service.name",
    "syslog_identifier",
    "unit",
    "container",
    "job",
];
/// Keys naming the severity, best first.
const SEVERITY: &[&str] = &["level", "severity", "detected_level", "lvl", "log.level"];

/// The value of the first of `keys` that `pairs` has (non-empty).
fn first<'a>(pairs: &[(&'a str, &'a str)], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        pairs
            .iter()
            .find(|(name, v)| name.eq_ignore_ascii_case(k) && !v.is_empty())
            .map(|(_, v)| *v)
    })
}

/// Sets `host`, `app` and `severity` from the labels that name them; a
/// field the labels do not name keeps what the line itself gave.
pub fn apply(pairs: &[(&str, &str)], f: &mut ParsedFields) {
    if let Some(h) = first(pairs, HOST) {
        f.host = Some(h.to_owned());
    }
    if let Some(a) = first(pairs, APP) {
        f.app = Some(a.to_owned());
    }
    if let Some(s) = first(pairs, SEVERITY)
        .and_then(|s| crate::syslog::severity(&serde_json::Value::String(s.to_owned())))
    {
        f.severity = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_labels_name_host_app_and_severity() {
        let mut f = ParsedFields {
            host: Some("from-line".into()),
            app: Some("sshd".into()),
            ..Default::default()
        };
        apply(
            &[("job", "varlogs"), ("Host", "web1"), ("level", "warn")],
            &mut f,
        );
        assert_eq!(f.host.as_deref(), Some("web1"));
        assert_eq!(f.app.as_deref(), Some("varlogs"));
        assert_eq!(f.severity, Some(4));
        // `app` outranks `job`; an empty value names nothing.
        let mut f = ParsedFields::default();
        apply(
            &[("job", "j"), ("app", "a"), ("host", ""), ("level", "bogus")],
            &mut f,
        );
        assert_eq!(
            (f.app.as_deref(), f.host, f.severity),
            (Some("a"), None, None)
        );
    }
}
