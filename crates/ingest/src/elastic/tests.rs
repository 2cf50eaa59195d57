use super::*;
use proptest::prelude::*;

const CTX: ParseContext = ParseContext {
    received_at_ns: 1_795_000_000_000_000_000,
    default_offset_secs: 19_800,
};

fn stored(it: &Item) -> &[u8] {
    match &it.outcome {
        Outcome::Store(r) => r,
        Outcome::Refuse(r) => panic!("refused: {r:?}"),
    }
}

fn refused(it: &Item) -> &Refusal {
    match &it.outcome {
        Outcome::Refuse(r) => r,
        Outcome::Store(_) => panic!("stored: {it:?}"),
    }
}

#[test]
fn items_become_one_item_bulk_requests_byte_exact() {
    let body = concat!(
        "{\"index\":{\"_index\":\"logs\",\"_id\":\"7\"}}\r\n",
        "{\"@timestamp\":\"2026-01-02T03:04:05.5Z\",\"message\":\"Failed password for root from 10.0.0.9 port 22\",\"host\":{\"name\":\"web1\"},\"log\":{\"level\":\"warning\"}}\r\n",
        "\n",
        "{ \"create\" : { } }\n",
        "{\"message\":\"second\"}\n",
    );
    let items = split(body.as_bytes(), Some("fallback"), 1 << 16).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].index.as_deref(), Some("logs"));
    assert_eq!(items[0].id.as_deref(), Some("7"));
    let raw = stored(&items[0]);
    assert_eq!(
        String::from_utf8_lossy(raw),
        "/fallback/_bulk\n{\"index\":{\"_index\":\"logs\",\"_id\":\"7\"}}\n{\"@timestamp\":\"2026-01-02T03:04:05.5Z\",\"message\":\"Failed password for root from 10.0.0.9 port 22\",\"host\":{\"name\":\"web1\"},\"log\":{\"level\":\"warning\"}}"
    );
    let f = fields(raw, &CTX);
    assert_eq!(f.format, Format::ElasticBulk);
    assert_eq!(
        &raw[f.message.clone()],
        b"Failed password for root from 10.0.0.9 port 22"
    );
    assert_eq!(f.host.as_deref(), Some("web1"));
    assert_eq!(f.severity, Some(4));
    assert_eq!(f.ports, vec![22]);
    let t = f.event_time.unwrap();
    assert_eq!(t.utc_ns, 1_767_323_045_500_000_000);
    assert!(!t.zone_assumed);
    assert_eq!(
        f.structured_data.as_deref(),
        Some(r#"[es index="logs" action="index" id="7"]"#)
    );
    // The index named only by the URL is read from the path line.
    let raw = stored(&items[1]);
    assert_eq!(
        String::from_utf8_lossy(raw),
        "/fallback/_bulk\n{ \"create\" : { } }\n{\"message\":\"second\"}"
    );
    let f = fields(raw, &CTX);
    assert_eq!(
        f.structured_data.as_deref(),
        Some(r#"[es index="fallback" action="create"]"#)
    );
    assert_eq!(&raw[f.message.clone()], b"second");
    // Without a URL index there is no path line.
    let items = split(
        b"{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}\n",
        None,
        1 << 16,
    )
    .unwrap();
    assert_eq!(
        stored(&items[0]),
        b"{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}"
    );
    assert_eq!(
        fields(stored(&items[0]), &CTX).structured_data.as_deref(),
        Some(r#"[es index="a" action="index"]"#)
    );
}

#[test]
fn per_item_errors_leave_the_other_items() {
    let body = concat!(
        "{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
        "{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
        "{\"doc\":{\"x\":1}}\n",
        "{\"index\":{}}\n",
        "{\"m\":\"no index\"}\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "not json\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"m\":\"ok\"}\n",
        "{\"index\":{\"_index\":\"a\"}}\n",
        "{\"m\":\"this one is too long for the limit, well over sixty-four bytes of it\"}\n",
        "{\"create\":{\"_index\":\"a\"}}\n",
    );
    let items = split(body.as_bytes(), None, 64).unwrap();
    let got: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| {
            (
                i.action.as_str(),
                match &i.outcome {
                    Outcome::Store(_) => None,
                    Outcome::Refuse(r) => Some(r.counted_as),
                },
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("delete", Some("unsupported_action")),
            ("update", Some("unsupported_action")),
            ("index", Some("no_index")),
            ("index", Some("not_json")),
            ("index", None),
            ("index", Some("too_long")),
            ("create", Some("no_document")),
        ]
    );
    let r = refused(&items[6]);
    assert_eq!(r.status, 400);
    assert!(
        r.reason.contains("line 12") && r.reason.contains("no document"),
        "{r:?}"
    );
    let r = refused(&items[5]);
    assert_eq!(r.status, 413);
    assert!(r.reason.contains("syslog.max_line (64 bytes)"), "{r:?}");
    assert!(refused(&items[3]).reason.starts_with("line 7:"));
}

#[test]
fn a_malformed_action_line_refuses_the_body() {
    let e = split(b"{\"index\":{}}\n{}\nnot an action\n", None, 100).unwrap_err();
    assert_eq!(e.kind(), "illegal_argument_exception");
    assert!(e.to_string().contains("line [3]"), "{e}");
    let e = split(b"{\"upsert\":{}}\n", None, 100).unwrap_err();
    assert!(e.to_string().contains("unknown action [upsert]"), "{e}");
    let e = split(b"{\"index\":{},\"create\":{}}\n", None, 100).unwrap_err();
    assert!(e.to_string().contains("exactly one"), "{e}");
    assert!(matches!(
        split(b"", Some("a b"), 100),
        Err(BulkError::IndexName(_))
    ));
    assert_eq!(split(b"\n\n", None, 100).unwrap(), vec![]);
}

proptest! {
    /// Re-framed raw decodes to the same item: index, action, id, and the
    /// document's message at its place.
    #[test]
    fn reframed_raw_decodes_to_the_same_item(
        url in proptest::option::of("[a-z][a-z0-9_.-]{0,10}"),
        own in proptest::option::of("[a-z][a-z0-9_.-]{0,10}"),
        id in proptest::option::of("[ -~]{0,12}"),
        create in any::<bool>(),
        message in "[ -~\u{a0}-\u{3ff}]{1,60}",
    ) {
        let mut meta = serde_json::Map::new();
        if let Some(i) = &own { meta.insert("_index".into(), i.clone().into()); }
        if let Some(i) = &id { meta.insert("_id".into(), i.clone().into()); }
        let name = if create { "create" } else { "index" };
        let action = serde_json::json!({ name: meta }).to_string();
        let doc = serde_json::json!({ "message": message }).to_string();
        let body = format!("{action}\n{doc}\n");
        let items = split(body.as_bytes(), url.as_deref(), 1 << 16).unwrap();
        prop_assert_eq!(items.len(), 1);
        let index = own.clone().or(url.clone());
        prop_assert_eq!(&items[0].index, &index);
        match &items[0].outcome {
            Outcome::Refuse(r) => prop_assert!(index.is_none() && r.counted_as == "no_index"),
            Outcome::Store(raw) => {
                let f = fields(raw, &CTX);
                let mut pairs = vec![("index", index.as_deref().unwrap()), ("action", name)];
                if let Some(i) = &id { pairs.push(("id", i)); }
                prop_assert_eq!(f.structured_data, Some(crate::sd::element("es", pairs)));
                let tail = format!("{action}\n{doc}");
                prop_assert!(raw.ends_with(tail.as_bytes()));
                let m = &raw[f.message.clone()];
                if !doc.contains('\\') {
                    prop_assert_eq!(m, message.as_bytes());
                }
            }
        }
    }

    /// Any bytes: an answer, never a panic.
    #[test]
    fn any_body_is_answered(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(items) = split(&body, Some("i"), 1 << 10) {
            for it in items {
                if let Outcome::Store(raw) = it.outcome {
                    let f = fields(&raw, &CTX);
                    prop_assert!(f.message.end <= raw.len());
                }
            }
        }
        let _ = fields(&body, &CTX);
    }
}

#[test]
fn a_repeated_action_line_is_read_once_and_a_changed_one_again() {
    let body = concat!(
        "{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"1\"}\n",
        "{\"create\":{\"_index\":\"a\"}}\n{\"message\":\"2\"}\n",
        "{\"index\":{\"_index\":\"b\",\"_id\":\"x\"}}\n{\"message\":\"3\"}\n",
        "{\"create\":{\"_index\":\"a\"}}\n[1]\n",
    );
    let items = split(body.as_bytes(), None, 1 << 16).unwrap();
    let seen: Vec<_> = items
        .iter()
        .map(|i| (i.action.as_str(), i.index.as_deref(), i.id.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("create", Some("a"), None),
            ("create", Some("a"), None),
            ("index", Some("b"), Some("x")),
            ("create", Some("a"), None),
        ]
    );
    // A document that is JSON but not an object is refused, the rest kept.
    assert_eq!(refused(&items[3]).counted_as, "not_json");
    // The indexer reads stored items one by one, each with its own action.
    let f = |i: usize| fields(stored(&items[i]), &CTX).structured_data.unwrap();
    assert_eq!(f(0), r#"[es index="a" action="create"]"#);
    assert_eq!(f(2), r#"[es index="b" action="index" id="x"]"#);
    assert_eq!(f(1), r#"[es index="a" action="create"]"#);
}
