use super::*;
use proptest::prelude::*;

const CTX: ParseContext = ParseContext {
    received_at_ns: 1_795_000_000_000_000_000,
    default_offset_secs: 19_800,
};

/// A `PushRequest` as a client writes it: streams of (labels, entries),
/// an entry (seconds, nanos, line, metadata).
type Entry<'a> = (i64, i32, &'a [u8], Vec<(&'a str, &'a str)>);

fn entry(seconds: i64, nanos: i32, line: &[u8], meta: &[(&str, &str)]) -> Vec<u8> {
    let mut ts = Vec::new();
    protowire::put_varint_field(&mut ts, 1, seconds as u64);
    protowire::put_varint_field(&mut ts, 2, nanos as i64 as u64);
    let mut e = Vec::new();
    protowire::put_bytes(&mut e, 1, &ts);
    protowire::put_bytes(&mut e, 2, line);
    for (n, v) in meta {
        let mut p = Vec::new();
        protowire::put_bytes(&mut p, 1, n.as_bytes());
        protowire::put_bytes(&mut p, 2, v.as_bytes());
        protowire::put_bytes(&mut e, 3, &p);
    }
    e
}

fn push(streams: &[(&str, Vec<Entry>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (labels, entries) in streams {
        let mut s = Vec::new();
        protowire::put_bytes(&mut s, 1, labels.as_bytes());
        for (secs, nanos, line, meta) in entries {
            protowire::put_bytes(&mut s, 2, &entry(*secs, *nanos, line, meta));
        }
        protowire::put_varint_field(&mut s, 3, 12345); // hash: not kept
        protowire::put_bytes(&mut body, 1, &s);
    }
    body
}

#[test]
fn a_protobuf_push_becomes_one_stream_adapter_per_entry() {
    let body = push(&[
        (
            r#"{job="varlogs", host="web1", level="warn"}"#,
            vec![
                (
                    1_765_000_000,
                    5,
                    b"Failed password for root from 10.1.2.3 port 22",
                    vec![],
                ),
                (1_765_000_001, 0, b"second", vec![("trace_id", "abc")]),
            ],
        ),
        (r#"{app="db"}"#, vec![(7, 0, b"x", vec![])]),
    ]);
    let raws = split_proto(&body).unwrap();
    assert_eq!(raws.len(), 3);
    // Each raw is labels then the entry, byte-exact: the client's entry bytes.
    let e0 = entry(
        1_765_000_000,
        5,
        b"Failed password for root from 10.1.2.3 port 22",
        &[],
    );
    let mut want = Vec::new();
    protowire::put_bytes(
        &mut want,
        1,
        br#"{job="varlogs", host="web1", level="warn"}"#,
    );
    protowire::put_bytes(&mut want, 2, &e0);
    assert_eq!(raws[0], want);

    let f = fields(&raws[0], &CTX);
    assert_eq!(f.format, Format::Loki);
    assert_eq!(
        &raws[0][f.message.clone()],
        b"Failed password for root from 10.1.2.3 port 22"
    );
    assert_eq!(f.event_time.unwrap().utc_ns, 1_765_000_000_000_000_005);
    assert!(!f.event_time.unwrap().zone_assumed);
    assert_eq!(f.host.as_deref(), Some("web1"));
    assert_eq!(f.app.as_deref(), Some("varlogs"));
    assert_eq!(f.severity, Some(4));
    assert_eq!(f.ports, vec![22]);
    assert_eq!(f.ips, vec!["10.1.2.3".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(
        f.structured_data.as_deref(),
        Some(r#"[loki job="varlogs" host="web1" level="warn"]"#)
    );
    let f = fields(&raws[1], &CTX);
    assert_eq!(
        f.structured_data.as_deref(),
        Some(r#"[loki job="varlogs" host="web1" level="warn"][loki-meta trace_id="abc"]"#)
    );
    assert_eq!(fields(&raws[2], &CTX).app.as_deref(), Some("db"));
}

#[test]
fn a_json_push_keeps_the_stream_and_value_exactly() {
    let body = br#"{"streams":[{"stream":{"job":"varlogs","host":"web1"},"values":[["1765000000000000005","Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"],
      [ "1765000000000000006" , "quote \" in it", {"trace_id":"abc"}]]}]}"#;
    let raws = split_json(body).unwrap();
    assert_eq!(raws.len(), 2);
    assert_eq!(
        String::from_utf8_lossy(&raws[0]),
        r#"{"stream":{"job":"varlogs","host":"web1"},"values":[["1765000000000000005","Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"]]}"#
    );
    assert_eq!(
        String::from_utf8_lossy(&raws[1]),
        r#"{"stream":{"job":"varlogs","host":"web1"},"values":[[ "1765000000000000006" , "quote \" in it", {"trace_id":"abc"}]]}"#
    );
    let f = fields(&raws[0], &CTX);
    assert_eq!(
        &raws[0][f.message.clone()],
        b"Invalid user webmaster from 173.234.31.186"
    );
    // The labels win over the line's own host; its app stays.
    assert_eq!(f.host.as_deref(), Some("web1"));
    assert_eq!(f.app.as_deref(), Some("varlogs"));
    assert_eq!(f.event_time.unwrap().utc_ns, 1_765_000_000_000_000_005);
    assert_eq!(f.ips.len(), 1);
    let f = fields(&raws[1], &CTX);
    assert_eq!(
        f.message,
        0..raws[1].len(),
        "an escaped line is not verbatim in raw"
    );
    assert!(f
        .structured_data
        .unwrap()
        .ends_with(r#"[loki-meta trace_id="abc"]"#));
}

#[test]
fn bad_bodies_are_refused_naming_where() {
    let e = split_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["x","l"]]}]}"#).unwrap_err();
    assert!(e.to_string().contains("streams[0].values[0]"), "{e}");
    assert!(e.to_string().contains("not nanoseconds"), "{e}");
    let e = split_json(br#"{"streams":[{"stream":{},"values":[]}]}"#).unwrap_err();
    assert!(e.to_string().contains("no labels"), "{e}");
    assert!(split_json(b"{").is_err());
    assert!(split_json(br#"{"x":1}"#)
        .unwrap_err()
        .to_string()
        .contains("streams"));
    // A stream whose entry's length runs past its end.
    let mut s = Vec::new();
    protowire::put_bytes(&mut s, 1, br#"{a="b"}"#);
    s.extend_from_slice(&[0x12, 0x05, 0x0a, 0x7f]);
    let mut body = Vec::new();
    protowire::put_bytes(&mut body, 1, &s);
    let e = split_proto(&body).unwrap_err();
    assert!(e.to_string().starts_with("stream 0"), "{e}");
    let e = split_proto(&[0x0a, 0x7f, 1]).unwrap_err();
    assert!(e.to_string().contains("PushRequest"), "{e}");
    let e = split_proto(&push(&[("job=x", vec![])])).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
}

#[test]
fn snappy_lengths_are_checked_before_anything_is_allocated() {
    let plain = push(&[(r#"{a="b"}"#, vec![(1, 0, b"hello hello hello", vec![])])]);
    let block = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
    assert_eq!(unsnappy(&block, 1 << 20).unwrap(), plain);
    // Over the limit: 413.
    let e = unsnappy(&block, 10).unwrap_err();
    assert!(
        e.too_large() && e.to_string().contains("http.max_body (10 bytes)"),
        "{e}"
    );
    // A block that declares 4 GiB in 8 bytes lies (400, nothing allocated).
    let mut liar = Vec::new();
    protowire::put_varint(&mut liar, 4 << 30);
    liar.extend_from_slice(&[0, b'a', 0]);
    let e = unsnappy(&liar, usize::MAX).unwrap_err();
    assert!(
        matches!(e, PushError::SnappyLies { .. }) && !e.too_large(),
        "{e}"
    );
    // A plausible length that the data does not fill.
    let mut short = Vec::new();
    protowire::put_varint(&mut short, 40);
    short.extend_from_slice(&[4 << 2, b'a', b'b', b'c']);
    assert!(matches!(unsnappy(&short, 1000), Err(PushError::Snappy(_))));
    assert!(matches!(unsnappy(&[], 1000), Err(PushError::Snappy(_))));
}

#[test]
fn label_sets_parse_as_prometheus_writes_them() {
    assert_eq!(
        parse_labels(r#"{ a="1" , b_2="x\"y\\z\n" }"#).unwrap(),
        vec![("a".into(), "1".into()), ("b_2".into(), "x\"y\\z\n".into())]
    );
    for bad in [
        "{}",
        "a=\"1\"",
        "{a=1}",
        "{a=\"1}",
        "{1a=\"x\"}",
        "{a=\"1\" b=\"2\"}",
    ] {
        assert!(parse_labels(bad).is_err(), "{bad}");
    }
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}"
}

proptest! {
    /// Re-framed raw decodes to the same event the client sent: labels,
    /// timestamp and line, for protobuf and JSON alike.
    #[test]
    fn reframed_raw_decodes_to_the_same_event(
        labels in proptest::collection::btree_map(label_name(), "[ -~]{0,12}", 1..4),
        entries in proptest::collection::vec((0i64..4_000_000_000, 0i32..1_000_000_000, "[ -~\u{a0}-\u{3ff}]{0,40}"), 1..4),
    ) {
        let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap())).collect();
        let set = format!("{{{}}}", text.join(","));
        let pairs: Vec<(String, String)> = labels.clone().into_iter().collect();
        let es: Vec<Entry> = entries.iter().map(|(s, n, l)| (*s, *n, l.as_bytes(), vec![])).collect();
        let raws = split_proto(&push(&[(set.as_str(), es)])).unwrap();
        let json = serde_json::json!({"streams": [{"stream": labels, "values":
            entries.iter().map(|(s, n, l)| serde_json::json!([(*s as i128 * 1_000_000_000 + *n as i128).to_string(), l])).collect::<Vec<_>>()}]});
        let jraws = split_json(json.to_string().as_bytes()).unwrap();
        prop_assert_eq!(raws.len(), entries.len());
        prop_assert_eq!(jraws.len(), entries.len());
        for ((raw, jraw), (s, n, line)) in raws.iter().zip(&jraws).zip(&entries) {
            for r in [raw, jraw] {
                let d = if r[0] == b'{' { from_json(r) } else { from_proto(r) }.unwrap();
                let mut got = d.labels.to_vec();
                got.sort();
                prop_assert_eq!(&got, &pairs);
                prop_assert_eq!(d.ts_ns, Some(s * 1_000_000_000 + i64::from(*n)));
                let l = match (&d.line_at, &d.line_text) {
                    (Some(at), _) => String::from_utf8(r[at.clone()].to_vec()).unwrap(),
                    (None, t) => t.clone().unwrap(),
                };
                prop_assert_eq!(&l, line);
                let f = fields(r, &CTX);
                prop_assert!(f.message.end <= r.len());
            }
        }
    }

    /// Any bytes: the decoders answer (an error or entries), never panic.
    #[test]
    fn any_body_is_answered(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = split_proto(&body);
        let _ = split_json(&body);
        let _ = unsnappy(&body, 1 << 16);
        let _ = fields(&body, &CTX);
    }
}
