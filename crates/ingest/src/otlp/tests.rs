use super::*;
use crate::protowire::{put_bytes, put_varint, put_varint_field};
use proptest::prelude::*;

fn kv(key: &str, value: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    put_bytes(&mut o, 1, key.as_bytes());
    put_bytes(&mut o, 2, value);
    o
}

fn str_any(s: &str) -> Vec<u8> {
    let mut o = Vec::new();
    put_bytes(&mut o, 1, s.as_bytes());
    o
}

fn fixed64(o: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(o, (u64::from(field) << 3) | 1);
    o.extend_from_slice(&v.to_le_bytes());
}

/// A protobuf `LogRecord` as an SDK writes it.
fn log_pb(time: u64, sev: u64, body: &str, attrs: &[(&str, &str)]) -> Vec<u8> {
    let mut o = Vec::new();
    fixed64(&mut o, 1, time);
    put_varint_field(&mut o, 2, sev);
    put_bytes(&mut o, 3, b"WARN");
    put_bytes(&mut o, 5, &str_any(body));
    for (k, v) in attrs {
        put_bytes(&mut o, 6, &kv(k, &str_any(v)));
    }
    put_bytes(&mut o, 9, &[0xab; 16]);
    put_bytes(&mut o, 10, &[0x01; 8]);
    fixed64(&mut o, 11, 7);
    o
}

fn request_pb(resource: &[(&str, &str)], logs: &[Vec<u8>]) -> Vec<u8> {
    let mut res = Vec::new();
    for (k, v) in resource {
        put_bytes(&mut res, 1, &kv(k, &str_any(v)));
    }
    let mut scope = Vec::new();
    put_bytes(&mut scope, 1, b"my.scope");
    put_bytes(&mut scope, 2, b"1.0");
    let mut sl = Vec::new();
    put_bytes(&mut sl, 1, &scope);
    for l in logs {
        put_bytes(&mut sl, 2, l);
    }
    let mut rl = Vec::new();
    put_bytes(&mut rl, 1, &res);
    put_bytes(&mut rl, 2, &sl);
    put_bytes(&mut rl, 3, b"https://opentelemetry.io/schemas/1.21.0");
    let mut req = Vec::new();
    put_bytes(&mut req, 1, &rl);
    req
}

#[test]
fn protobuf_records_keep_resource_scope_and_their_fields() {
    let logs = [
        log_pb(
            1_700_000_000_123_456_789,
            13,
            "Failed password for root from 10.0.0.9 port 22",
            &[("user", "root")],
        ),
        log_pb(0, 9, "second", &[]),
    ];
    let body = request_pb(&[("service.name", "sshd"), ("host.name", "web1")], &logs);
    let raws = split(&body, Encoding::Protobuf).unwrap();
    assert_eq!(raws.len(), 2);
    // The log record is in the raw bytes byte for byte.
    assert!(raws[0].windows(logs[0].len()).any(|w| w == logs[0]));
    let f = fields(&raws[0]);
    assert_eq!(f.parse_error, None);
    assert_eq!(f.format, Format::Otlp);
    assert_eq!(
        &raws[0][f.message.clone()],
        b"Failed password for root from 10.0.0.9 port 22"
    );
    assert_eq!(f.event_time.unwrap().utc_ns, 1_700_000_000_123_456_789);
    assert!(!f.event_time.unwrap().zone_assumed);
    assert_eq!(f.severity, Some(4));
    assert_eq!(f.host.as_deref(), Some("web1"));
    assert_eq!(f.app.as_deref(), Some("sshd"));
    assert_eq!(f.ips, vec!["10.0.0.9".parse::<std::net::IpAddr>().unwrap()]);
    let sd = f.structured_data.unwrap();
    assert!(
        sd.contains(&format!("trace_id=\"{}\"", "ab".repeat(16))),
        "{sd}"
    );
    assert!(sd.contains("span_id=\"0101010101010101\""), "{sd}");
    assert!(
        sd.contains("severity_text=\"WARN\" scope=\"my.scope\" scope_version=\"1.0\""),
        "{sd}"
    );
    assert!(
        sd.contains("[otlp.resource service.name=\"sshd\" host.name=\"web1\"]"),
        "{sd}"
    );
    assert!(sd.contains("[otlp.attributes user=\"root\"]"), "{sd}");
    // No time: the observed time.
    assert_eq!(fields(&raws[1]).event_time.unwrap().utc_ns, 7);
}

#[test]
fn json_records_are_the_texts_sent() {
    let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}},{"key":"host.name","value":{"stringValue":"h1"}}]},
      "scopeLogs":[{"scope":{"name":"s"},"logRecords":[
        {"timeUnixNano":"1700000000000000001","severityNumber":17,"severityText":"ERROR","traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","body":{"stringValue":"disk \"full\" on 10.1.2.3"},"attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"m","value":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[{"boolValue":true},{"doubleValue":1.5}]}}}]}}}]},
        {"observedTimeUnixNano":5,"body":{"kvlistValue":{"values":[]}}}
      ]}],"schemaUrl":"u"}]}"#;
    let raws = split(body, Encoding::Json).unwrap();
    assert_eq!(raws.len(), 2);
    let raw = String::from_utf8(raws[0].clone()).unwrap();
    assert!(
        raw.starts_with(r#"{"resource":{"attributes":[{"key":"service.name""#),
        "{raw}"
    );
    assert!(raw.ends_with(r#"}]}],"schemaUrl":"u"}"#), "{raw}");
    serde_json::from_str::<serde_json::Value>(&raw).unwrap();
    let f = fields(&raws[0]);
    assert_eq!(f.parse_error, None);
    assert_eq!(&raw[f.message.clone()], r#"disk \"full\" on 10.1.2.3"#);
    assert_eq!(f.severity, Some(3));
    assert_eq!(f.event_time.unwrap().utc_ns, 1_700_000_000_000_000_001);
    assert_eq!(
        (f.host.as_deref(), f.app.as_deref()),
        (Some("h1"), Some("api"))
    );
    let sd = f.structured_data.unwrap();
    assert!(
        sd.contains("trace_id=\"5b8efff798038103d269b633813fc60c\" span_id=\"eee19b7ec3c1b174\""),
        "{sd}"
    );
    assert!(
        sd.contains(r#"[otlp.attributes n="42" m="{\"a\":[true,1.5\]}"]"#),
        "{sd}"
    );
    let f = fields(&raws[1]);
    assert_eq!(f.event_time.unwrap().utc_ns, 5);
    assert_eq!(f.message, 0..0);
    assert!(f.structured_data.unwrap().contains("body=\"{}\""));
}

fn nested_pb(depth: usize) -> Vec<u8> {
    // An attribute whose value is a list holding a list ... `depth` values deep.
    let mut v = str_any("leaf");
    for _ in 1..depth {
        let mut arr = Vec::new();
        put_bytes(&mut arr, 1, &v);
        v = Vec::new();
        put_bytes(&mut v, 5, &arr);
    }
    let mut log = Vec::new();
    put_bytes(&mut log, 6, &kv("deep", &v));
    request_pb(&[], &[log])
}

fn nested_json(depth: usize) -> String {
    let mut v = r#"{"stringValue":"leaf"}"#.to_owned();
    for _ in 1..depth {
        v = format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{v}}}]}}}}"#);
    }
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[{{"key":"deep","value":{v}}}]}}]}}]}}]}}"#
    )
}

#[test]
fn values_nesting_past_the_limit_are_refused_by_name() {
    assert!(split(&nested_pb(MAX_DEPTH), Encoding::Protobuf).is_ok());
    let e = split(&nested_pb(MAX_DEPTH + 1), Encoding::Protobuf).unwrap_err();
    assert!(matches!(e, OtlpError::TooDeep { .. }), "{e}");
    let e = split(&nested_pb(1000), Encoding::Protobuf)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "resourceLogs[0].scopeLogs[0].logRecords[0].attributes[0]: values nest deeper than 32"
        ),
        "{e}"
    );
    assert!(split(nested_json(MAX_DEPTH - 1).as_bytes(), Encoding::Json).is_ok());
    for d in [MAX_DEPTH + 1, 1000] {
        let e = split(nested_json(d).as_bytes(), Encoding::Json).unwrap_err();
        assert!(matches!(e, OtlpError::TooDeep { .. }), "{d}: {e}");
    }
}

#[test]
fn malformed_bodies_are_named_with_where() {
    let e = split(&[0x0a, 0x02, 0x12, 0x7f], Encoding::Protobuf)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "resourceLogs[0]: protobuf: a length of 127 bytes at byte 1 runs past the message's end"
    );
    let e = split(b"\x0a", Encoding::Protobuf).unwrap_err().to_string();
    assert!(e.starts_with("ExportLogsServiceRequest: protobuf"), "{e}");
    let e = split(
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"x"}]}]}]}"#,
        Encoding::Json,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("logRecords[0]: `timeUnixNano` is not a non-negative integer"),
        "{e}"
    );
    let e = split(br#"{"resourceLogs":[}"#, Encoding::Json)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the body: JSON"), "{e}");
    assert!(split(b"{} x", Encoding::Json).is_err());
    let e = split(b"{\"resourceLogs\":[\"\xff\"]}", Encoding::Json).unwrap_err();
    assert!(e.to_string().contains("not UTF-8 at byte 18"), "{e}");
    assert_eq!(split(b"{}", Encoding::Json).unwrap().len(), 0);
    assert_eq!(split(b"", Encoding::Protobuf).unwrap().len(), 0);
    // A stored record that does not decode keeps a parse error.
    assert!(fields(b"\x12\x7f")
        .parse_error
        .unwrap()
        .starts_with("OTLP log record: record: protobuf"));
}

#[test]
fn answers_in_the_requests_encoding() {
    assert_eq!(response(Encoding::Protobuf, 0, ""), b"");
    assert_eq!(response(Encoding::Json, 0, ""), b"{}");
    let pb = response(Encoding::Protobuf, 2, "too long");
    assert_eq!(pb, b"\x0a\x0c\x08\x02\x12\x08too long");
    let j: serde_json::Value = serde_json::from_slice(&response(Encoding::Json, 2, "x")).unwrap();
    assert_eq!(j["partialSuccess"]["rejectedLogRecords"], "2");
    assert_eq!(status(Encoding::Protobuf, 3, "bad"), b"\x08\x03\x12\x03bad");
}

#[test]
fn severities_map_to_rfc_5424() {
    assert_eq!(severity(1, None), Some(7));
    assert_eq!(severity(9, None), Some(6));
    assert_eq!(severity(24, None), Some(2));
    assert_eq!(severity(0, Some("Warning")), Some(4));
    assert_eq!(severity(0, Some("x")), None);
    assert_eq!(json::severity_name("SEVERITY_NUMBER_WARN2"), 14);
}

proptest! {
    /// Whatever a request holds, each record's raw bytes, decoded alone,
    /// give back that record's own fields, in both encodings.
    #[test]
    fn reframed_records_decode_to_the_record_sent(
        recs in proptest::collection::vec(
            (any::<u64>(), 0u64..30, "[ -~]{0,40}", proptest::collection::vec(("[a-z.]{1,8}", "[ -~]{0,12}"), 0..4)),
            1..6),
        res in proptest::collection::vec(("[a-z.]{1,8}", "[ -~]{0,12}"), 0..4),
    ) {
        let attrs = |a: &[(String, String)]| a.iter().map(|(k, v)| (k.clone(), Any::Str(v.clone()))).collect::<Vec<_>>();
        let res_ref: Vec<(&str, &str)> = res.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let logs: Vec<Vec<u8>> = recs.iter().map(|(t, s, b, a)| {
            let a: Vec<(&str, &str)> = a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            log_pb(*t, *s, b, &a)
        }).collect();
        let raws = split(&request_pb(&res_ref, &logs), Encoding::Protobuf).unwrap();
        prop_assert_eq!(raws.len(), recs.len());
        let json_logs: Vec<String> = recs.iter().map(|(t, s, b, a)| {
            let a: Vec<serde_json::Value> = a.iter().map(|(k, v)| serde_json::json!({"key": k, "value": {"stringValue": v}})).collect();
            serde_json::json!({"timeUnixNano": t.to_string(), "severityNumber": s, "severityText": "WARN",
                "body": {"stringValue": b}, "attributes": a, "traceId": "ab".repeat(16), "spanId": "01".repeat(8),
                "observedTimeUnixNano": "7"}).to_string()
        }).collect();
        let res_json: Vec<serde_json::Value> = res.iter().map(|(k, v)| serde_json::json!({"key": k, "value": {"stringValue": v}})).collect();
        let body = format!(r#"{{"resourceLogs":[{{"resource":{{"attributes":{}}},"scopeLogs":[{{"scope":{{"name":"my.scope","version":"1.0"}},"logRecords":[{}]}}]}}]}}"#,
            serde_json::Value::from(res_json), json_logs.join(","));
        let jraws = split(body.as_bytes(), Encoding::Json).unwrap();
        for (i, (t, s, b, a)) in recs.iter().enumerate() {
            for raw in [&raws[i], &jraws[i]] {
                let r = decode(raw).unwrap();
                prop_assert_eq!(r.time_unix_nano, *t);
                prop_assert_eq!(r.severity_number, *s);
                prop_assert_eq!(r.body.clone(), Some(Any::Str(b.clone())));
                prop_assert_eq!(&r.attributes, &attrs(a));
                prop_assert_eq!(&r.resource, &attrs(&res));
                prop_assert_eq!(r.scope_name.as_deref(), Some("my.scope"));
                prop_assert_eq!(r.trace_id.clone(), Some("ab".repeat(16)));
                let f = fields(raw);
                prop_assert_eq!(f.parse_error, None);
                // Bodies with nothing to escape lie in the raw bytes as they are.
                if !b.contains(['"', '\\']) {
                    prop_assert_eq!(&raw[f.message.clone()], b.as_bytes());
                }
            }
        }
    }
}

/// An `AnyValue` of up to four levels: what it reads as, its protobuf
/// bytes and its OTLP/JSON (64-bit integers and doubles as a string or a
/// number, as senders write either).
fn any_value() -> impl Strategy<Value = (Any, Vec<u8>, serde_json::Value)> {
    use serde_json::json;
    let pb = |field: u32, put: &dyn Fn(&mut Vec<u8>)| {
        let mut o = Vec::new();
        put_varint(&mut o, u64::from(field) << 3);
        put(&mut o);
        o
    };
    let leaf = prop_oneof![
        any::<String>().prop_map(|s| (Any::Str(s.clone()), str_any(&s), json!({"stringValue": s}))),
        any::<bool>().prop_map(move |b| (
            Any::Bool(b),
            pb(2, &|o| put_varint(o, u64::from(b))),
            json!({"boolValue": b})
        )),
        (any::<i64>(), any::<bool>()).prop_map(move |(i, quoted)| (
            Any::Int(i),
            pb(3, &|o| put_varint(o, i as u64)),
            json!({"intValue": if quoted { json!(i.to_string()) } else { json!(i) }})
        )),
        (
            any::<f64>().prop_filter("finite", |d| d.is_finite()),
            any::<bool>()
        )
            .prop_map(|(d, quoted)| {
                let mut o = Vec::new();
                fixed64(&mut o, 4, d.to_bits());
                (
                    Any::Double(d),
                    o,
                    json!({"doubleValue": if quoted { json!(d.to_string()) } else { json!(d) }}),
                )
            }),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| {
            let mut o = Vec::new();
            put_bytes(&mut o, 7, &b);
            let text = crate::attrs::base64(&b);
            (Any::Bytes(text.clone()), o, json!({"bytesValue": text}))
        }),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|vs| {
                let mut list = Vec::new();
                for (_, p, _) in &vs {
                    put_bytes(&mut list, 1, p);
                }
                let mut o = Vec::new();
                put_bytes(&mut o, 5, &list);
                let json: Vec<_> = vs.iter().map(|v| v.2.clone()).collect();
                let any = Any::Array(vs.into_iter().map(|v| v.0).collect());
                (any, o, json!({"arrayValue": {"values": json}}))
            }),
            proptest::collection::vec((any::<String>(), inner), 0..4).prop_map(|kvs| {
                let mut list = Vec::new();
                for (k, (_, p, _)) in &kvs {
                    put_bytes(&mut list, 1, &kv(k, p));
                }
                let mut o = Vec::new();
                put_bytes(&mut o, 6, &list);
                let json: Vec<_> = kvs
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v.2}))
                    .collect();
                let any = Any::KvList(kvs.into_iter().map(|(k, v)| (k, v.0)).collect());
                (any, o, json!({"kvlistValue": {"values": json}}))
            }),
        ]
    })
}

/// `text` with every character past ASCII written as a `\u` escape (a
/// surrogate pair past the first plane): the same JSON, as some senders write it.
fn ascii_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for u in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A value of any kind and nesting reads the same from protobuf and from
    /// JSON (with or without `\u` escapes), as an attribute and as the body.
    #[test]
    fn values_read_alike_in_both_encodings((want, pb, json) in any_value(), escaped in any::<bool>()) {
        let mut log = Vec::new();
        put_bytes(&mut log, 5, &pb);
        put_bytes(&mut log, 6, &kv("a", &pb));
        let raws = split(&request_pb(&[], &[log]), Encoding::Protobuf).unwrap();
        let body = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"body": json, "attributes": [{"key": "a", "value": json}]}]}]}]})
        .to_string();
        let body = if escaped { ascii_escaped(&body) } else { body };
        let jraws = split(body.as_bytes(), Encoding::Json).unwrap();
        for raw in [&raws[0], &jraws[0]] {
            let r = decode(raw).unwrap();
            prop_assert_eq!(r.body.as_ref(), Some(&want));
            prop_assert_eq!(&r.attributes, &vec![("a".to_owned(), want.clone())]);
        }
    }
}

#[test]
fn json_values_of_the_wrong_kind_are_named_or_read_as_absent() {
    let one = |log: &str| {
        let body = format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{log}]}}]}}]}}"#);
        split(body.as_bytes(), Encoding::Json).map(|raws| decode(&raws[0]).unwrap())
    };
    // Names that are not strings, null members and a resource-less record read as absent.
    let r = one(r#"{"severityText":5,"traceId":null,"eventName":"","attributes":[7,{"key":1}]}"#)
        .unwrap();
    assert_eq!(
        (r.severity_text, r.trace_id, r.event_name),
        (None, None, None)
    );
    assert_eq!(
        r.attributes,
        vec![(String::new(), Any::Empty), (String::new(), Any::Empty)]
    );
    // The last of a repeated member counts; escapes are read.
    let r = one(r#"{"severityNumber":1,"severityNumber":"SEVERITY_NUMBER_ERROR","body":{"stringValue":"a\u00e9\n"}}"#)
        .unwrap();
    assert_eq!(r.severity_number, 17);
    assert_eq!(r.body, Some(Any::Str("a\u{e9}\n".into())));
    // Brackets nested in a member pramaan does not read cost nothing.
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert!(one(&deep).is_ok());
    for (log, says) in [
        (r#"5"#, "logRecords[0]: a log record is not an object"),
        (
            r#"{"timeUnixNano":-1}"#,
            "`timeUnixNano` is not a non-negative integer",
        ),
        (
            r#"{"timeUnixNano":"1.5"}"#,
            "`timeUnixNano` is not a non-negative integer",
        ),
        (
            r#"{"timeUnixNano":true}"#,
            "`timeUnixNano` is not an integer",
        ),
        (
            r#"{"attributes":{}}"#,
            "`attributes` (or `values`) is not an array",
        ),
        (
            r#"{"body":"text"}"#,
            "logRecords[0].body: an AnyValue is not an object",
        ),
        (
            r#"{"body":{"boolValue":"true"}}"#,
            "`boolValue` has the wrong type",
        ),
        (
            r#"{"body":{"intValue":1.5}}"#,
            "`intValue` has the wrong type",
        ),
        (
            r#"{"body":{"stringValue":"\ud800"}}"#,
            "body: a string is not Unicode text",
        ),
        (
            r#"{"attributes":[{"key":"k","value":{"arrayValue":{"values":[null]}}}]}"#,
            "logRecords[0].attributes[0]: an AnyValue is not an object",
        ),
    ] {
        let e = one(log).unwrap_err().to_string();
        assert!(e.contains(says), "{log}: {e}");
    }
}
