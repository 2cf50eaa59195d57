//! Property tests: framing is independent of how the stream is cut and
//! round-trips; parsing never panics, keeps the message inside the line,
//! reads back generated RFC 5424 lines, and never dates an RFC 3164 line
//! more than about six months after it arrived.

use bytes::BytesMut;
use pramaan_ingest::framing::{encode_octet_counted, FrameDecoder, FrameEvent};
use pramaan_ingest::{parse, EventTime, Format, ParseContext};
use proptest::prelude::*;

fn decode_chunks(max: usize, input: &[u8], cuts: &[usize]) -> Vec<FrameEvent> {
    let mut d = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut from = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    for c in cuts {
        buf.extend_from_slice(&input[from..c]);
        from = c;
        while let Some(ev) = d.decode(&mut buf) {
            out.push(ev);
        }
    }
    while let Some(ev) = d.decode_eof(&mut buf) {
        out.push(ev);
    }
    out
}

/// Streams that exercise every path: octet frames (some too long, some with
/// huge or malformed lengths), lines (some too long, some blank), noise.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..40).prop_map(|m| {
            let mut v = Vec::new();
            encode_octet_counted(&m, &mut v);
            v
        }),
        "[^\n]{0,40}\n".prop_map(String::into_bytes),
        "[ -~]{0,20}\r\n".prop_map(String::into_bytes),
        Just(b"\n".to_vec()),
        Just(b"99999999999999999999999 x\n".to_vec()),
        Just(b"1000000 ".to_vec()),
        "[1-9][0-9]{0,3} ".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..30),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn framing_is_independent_of_chunking(
        input in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        max in 1usize..64,
    ) {
        let whole = decode_chunks(max, &input, &[]);
        prop_assert_eq!(&decode_chunks(max, &input, &cuts), &whole);
        let bytewise: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(&decode_chunks(max, &input, &bytewise), &whole);
    }

    #[test]
    fn octet_counting_round_trips(
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut input = Vec::new();
        for m in &msgs {
            encode_octet_counted(m, &mut input);
        }
        let got = decode_chunks(200, &input, &cuts);
        let want: Vec<FrameEvent> = msgs
            .iter()
            .map(|m| FrameEvent::Frame(bytes::Bytes::copy_from_slice(m)))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn newline_framing_round_trips(
        lines in prop::collection::vec(
            // Not starting like an octet count, not blank.
            ("[^\n\r1-9]", prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..100)),
            0..20,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        last_lf in any::<bool>(),
    ) {
        let lines: Vec<Vec<u8>> = lines
            .into_iter()
            .map(|(first, rest)| [first.into_bytes(), rest].concat())
            .collect();
        let mut input = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            input.extend_from_slice(l);
            if i + 1 < lines.len() || last_lf {
                input.push(b'\n');
            }
        }
        let got = decode_chunks(1000, &input, &cuts);
        let want: Vec<FrameEvent> = lines
            .iter()
            .map(|m| FrameEvent::Frame(bytes::Bytes::copy_from_slice(m)))
            .collect();
        prop_assert_eq!(got, want);
    }
}

fn ctx(received_at_ns: i64, default_offset_secs: i32) -> ParseContext {
    ParseContext {
        received_at_ns,
        default_offset_secs,
    }
}

/// Inputs shaped like the grammars, then cut and corrupted.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        Just(&b""[..]),
        Just(&b"<13>1 "[..]),
        Just(&b"<191>1 2026-02-28T23:59:60.999999999+14:00 h a p m [x a=\"\\]\"]"[..]),
        Just(&b"<0>Feb 29 12:00:00 "[..]),
        Just(&b"<13>2026-01-01T10:00:00.123+05:30 host app[1]: "[..]),
        Just(&b"Dec 10 06:55:46 LabSZ sshd[24200]: "[..]),
        Just(&b"{\"message\":\""[..]),
        Just(&b"[Sun Dec 04 04:47:44 2005] "[..]),
        Just(&b"2015-10-18 18:01:47,978 "[..]),
        Just(&b"Failed password for invalid user "[..]),
        Just(&b"from 1.2.3.4:22 [::1]:80 port 22 user="[..]),
    ];
    (
        head,
        prop::collection::vec(any::<u8>(), 0..120),
        any::<usize>(),
    )
        .prop_map(|(h, tail, cut)| {
            let mut v = [h, &tail[..]].concat();
            v.truncate(cut % (v.len() + 1).max(1) + h.len().min(v.len()) / 2);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn parse_never_panics_and_message_is_inside(
        raw in prop_oneof![line(), prop::collection::vec(any::<u8>(), 0..300)],
        at in any::<i64>(),
        off in -86_399i32..86_400,
    ) {
        let f = parse(&raw, &ctx(at, off));
        prop_assert!(f.message.start <= f.message.end && f.message.end <= raw.len());
        prop_assert!(f.ips.len() <= 16 && f.ports.len() <= 16 && f.users.len() <= 16);
        prop_assert!(f.facility.is_none_or(|x| x <= 23));
        prop_assert!(f.severity.is_none_or(|x| x <= 7));
    }
}

#[derive(Debug, Clone)]
struct Gen5424 {
    pri: u8,
    time: Option<(jiff::civil::DateTime, Option<i32>)>,
    frac_digits: usize,
    host: Option<String>,
    app: Option<String>,
    procid: Option<String>,
    msgid: Option<String>,
    sd: Option<String>,
    msg: Option<String>,
    bom: bool,
}

fn nil_or(max: usize) -> impl Strategy<Value = Option<String>> {
    let re = proptest::string::string_regex(&format!("[!-~]{{1,{max}}}")).unwrap();
    prop::option::of(re.prop_filter("not NIL", |s| s != "-"))
}

fn sd() -> impl Strategy<Value = String> {
    let value = prop::collection::vec(
        prop_oneof![
            "[a-zA-Z0-9 =.]",
            Just("\\]".to_string()),
            Just("\\\"".to_string()),
            Just("\\\\".to_string()),
            Just("ü".to_string())
        ],
        0..10,
    )
    .prop_map(|v| v.concat());
    let param = ("[a-z]{1,8}", value).prop_map(|(n, v)| format!(" {n}=\"{v}\""));
    let element = ("[a-zA-Z@0-9.]{1,16}", prop::collection::vec(param, 0..4))
        .prop_map(|(id, ps)| format!("[{id}{}]", ps.concat()));
    prop::collection::vec(element, 1..4).prop_map(|v| v.concat())
}

fn gen5424() -> impl Strategy<Value = Gen5424> {
    let dt = (
        1900i16..2200,
        1i8..=12,
        1i8..=31,
        0i8..24,
        0i8..60,
        0i8..60,
        0i32..1_000_000_000,
    )
        .prop_filter_map("real date", |(y, mo, d, h, mi, s, ns)| {
            jiff::civil::DateTime::new(y, mo, d, h, mi, s, ns).ok()
        });
    let zone = prop::option::of(-(23 * 60 + 59)..=(23 * 60 + 59)).prop_map(|m| m.map(|m| m * 60));
    (
        0u8..=191,
        prop::option::of((dt, zone)),
        0usize..=9,
        (nil_or(255), nil_or(48), nil_or(128), nil_or(32)),
        prop::option::of(sd()),
        prop::option::of("[^\r\n\u{0}\u{feff}]{0,60}[^\r\n\u{0}\u{feff} ]"),
        any::<bool>(),
    )
        .prop_map(
            |(pri, time, frac_digits, (host, app, procid, msgid), sd, msg, bom)| Gen5424 {
                pri,
                time,
                frac_digits,
                host,
                app,
                procid,
                msgid,
                sd,
                msg,
                bom,
            },
        )
}

impl Gen5424 {
    fn render(&self) -> Vec<u8> {
        let nil = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        let ts = match self.time {
            None => "-".to_string(),
            Some((dt, zone)) => {
                let mut s = dt.strftime("%Y-%m-%dT%H:%M:%S").to_string();
                if self.frac_digits > 0 {
                    let ns = format!("{:09}", dt.subsec_nanosecond());
                    s.push('.');
                    s.push_str(&ns[..self.frac_digits]);
                }
                match zone {
                    None => s.push('Z'),
                    Some(z) => s.push_str(&format!(
                        "{}{:02}:{:02}",
                        if z < 0 { '-' } else { '+' },
                        z.abs() / 3600,
                        z.abs() % 3600 / 60
                    )),
                }
                s
            }
        };
        let mut out = format!(
            "<{}>1 {ts} {} {} {} {} {}",
            self.pri,
            nil(&self.host),
            nil(&self.app),
            nil(&self.procid),
            nil(&self.msgid),
            nil(&self.sd)
        )
        .into_bytes();
        if let Some(m) = &self.msg {
            out.push(b' ');
            if self.bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            out.extend_from_slice(m.as_bytes());
        }
        out
    }

    fn expected_time(&self) -> Option<EventTime> {
        let (dt, zone) = self.time?;
        let z = zone.unwrap_or(0);
        let keep = 10i64.pow(9 - self.frac_digits as u32);
        let dt = dt
            .with()
            .subsec_nanosecond(((dt.subsec_nanosecond() as i64 / keep) * keep) as i32)
            .build()
            .unwrap();
        let off = jiff::tz::Offset::from_seconds(z).unwrap();
        let ts = off.to_timestamp(dt).ok()?;
        Some(EventTime {
            utc_ns: ts.as_nanosecond() as i64,
            offset_secs: z,
            zone_assumed: false,
        })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn rfc5424_reads_back(g in gen5424(), at in any::<i64>()) {
        let raw = g.render();
        let f = parse(&raw, &ctx(at, 19_800));
        prop_assert_eq!(f.parse_error.as_deref(), None, "{}", String::from_utf8_lossy(&raw));
        prop_assert_eq!(f.format, Format::Rfc5424);
        prop_assert_eq!(f.facility, Some(g.pri >> 3));
        prop_assert_eq!(f.severity, Some(g.pri & 7));
        prop_assert_eq!(f.event_time, g.expected_time());
        prop_assert_eq!(&f.host, &g.host);
        prop_assert_eq!(&f.app, &g.app);
        prop_assert_eq!(&f.procid, &g.procid);
        prop_assert_eq!(&f.msgid, &g.msgid);
        prop_assert_eq!(&f.structured_data, &g.sd);
        let msg = std::str::from_utf8(&raw[f.message.clone()]).unwrap();
        prop_assert_eq!(msg, g.msg.as_deref().unwrap_or(""));
    }

    #[test]
    fn rfc3164_year_is_never_far_ahead(
        recv in 631_152_000_000_000_000i64..4_102_444_800_000_000_000, // 1990..2100
        off in -12 * 3600i32..=14 * 3600,
        mon in 0usize..12,
        day in 1u8..=31,
        (h, m, s) in (0u8..24, 0u8..60, 0u8..60),
    ) {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let max_day = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mon];
        prop_assume!(day <= max_day);
        let raw = format!("<13>{} {day:>2} {h:02}:{m:02}:{s:02} host app: x", MONTHS[mon]);
        let f = parse(raw.as_bytes(), &ctx(recv, off));
        prop_assert_eq!(f.parse_error.as_deref(), None);
        let t = f.event_time.unwrap();
        prop_assert!(t.zone_assumed && t.offset_secs == off);
        let ahead = t.utc_ns - recv;
        const DAY: i64 = 86_400_000_000_000;
        prop_assert!(ahead <= 184 * DAY, "{raw}: {} days ahead", ahead / DAY);
        if !(mon == 1 && day == 29) {
            prop_assert!(ahead >= -184 * DAY, "{raw}: {} days behind", -ahead / DAY);
        }
        // The wall time in the assumed zone is what the line says.
        let z = jiff::Timestamp::from_nanosecond(t.utc_ns as i128)
            .unwrap()
            .to_zoned(jiff::tz::Offset::from_seconds(off).unwrap().to_time_zone());
        prop_assert_eq!(
            (z.month() as usize, z.day() as u8, z.hour() as u8, z.minute() as u8, z.second() as u8),
            (mon + 1, day, h, m, s)
        );
    }
}
