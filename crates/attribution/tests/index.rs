//! The index against brute force over random bindings, its file format, and
//! the generator's probes (`shared/bench/attribution/gen_bindings.py`).

use pramaan_attribution::index::{Builder, Hit, Index};
use pramaan_attribution::model::addr_bits;
use pramaan_attribution::{read_bindings_csv, Binding, Kind, MemStore, Net, Probe};
use proptest::prelude::*;
use std::io::Write;
use std::path::PathBuf;

fn arb_binding() -> impl Strategy<Value = Binding> {
    (
        0u8..6, // address
        prop_oneof![Just(128u8), Just(124u8), Just(64u8), Just(56u8)],
        0u16..8,                    // port block
        0i64..2_000,                // start
        1i64..600,                  // duration
        prop::bool::weighted(0.05), // a very long one (static)
        0u32..50,
    )
        .prop_map(|(a, len, blk, start, dur, long, sub)| {
            let v6 = len != 128 || a >= 3;
            let net = if v6 && len != 128 {
                let bits = (0x2001_0db8_u128 << 96) | ((a as u128) << 72);
                Net {
                    bits: bits & pramaan_attribution::model::mask(len),
                    len,
                }
            } else if v6 {
                Net {
                    bits: (0x2001_0db8_u128 << 96) | a as u128,
                    len: 128,
                }
            } else {
                Net::parse(&format!("203.0.113.{a}")).unwrap()
            };
            let (lo, hi) = if blk == 7 {
                (0, 65535)
            } else {
                (1024 + blk * 100, 1024 + blk * 100 + 99)
            };
            Binding {
                net,
                port_lo: lo,
                port_hi: hi,
                start_ns: start,
                end_ns: start + if long { 100_000 } else { dur },
                open: false,
                subscriber: format!("s{sub}"),
                session: format!("{a}-{start}-{dur}-{blk}"),
                kind: Kind::Import,
                detail: String::new(),
                evidence: vec![start as u64],
                key: None,
            }
        })
}

fn arb_probe() -> impl Strategy<Value = (u128, i64, Option<u16>)> {
    (
        0u8..7,
        any::<bool>(),
        -10i64..2_700,
        prop::option::of(1000u16..1900),
    )
        .prop_map(|(a, v6, t, p)| {
            let addr = if v6 || a >= 3 {
                (0x2001_0db8_u128 << 96) | ((a as u128) << 72) | (a as u128)
            } else {
                addr_bits(format!("203.0.113.{a}").parse().unwrap())
            };
            (addr, t, p)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn lookup_agrees_with_brute_force(
        bindings in prop::collection::vec(arb_binding(), 0..400),
        probes in prop::collection::vec(arb_probe(), 1..200),
    ) {
        let mut b = Builder::new();
        for x in &bindings { b.push(x); }
        let idx = b.finish();
        let mut hits = Vec::new();
        for (addr, t, port) in probes {
            hits.clear();
            idx.lookup(addr, t, port, &mut hits);
            let mut got: Vec<String> = hits.iter().map(|h| idx.binding(*h).session).collect();
            let mut want: Vec<String> = bindings.iter().filter(|x| x.matches(addr, t, port)).map(|x| x.session.clone()).collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// A retention pass's scan finds exactly the bindings that ended before
    /// their subscriber's instant, in index order, skipping none.
    #[test]
    fn the_ended_before_scan_agrees_with_a_full_one(
        bindings in prop::collection::vec(arb_binding(), 0..400),
        cuts in prop::collection::vec(prop::option::of(0i64..3_000), 50),
    ) {
        let mut b = Builder::new();
        for x in &bindings { b.push(x); }
        let idx = b.finish();
        let before = |s: &str| {
            s.strip_prefix('s')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| cuts[n])
                .unwrap_or(i64::MIN)
        };
        let mut got = Vec::new();
        idx.for_each_ended_before(before, |x| got.push(x.session));
        let mut want = Vec::new();
        idx.for_each(|x| if x.end_ns < before(&x.subscriber) { want.push(x.session) });
        prop_assert_eq!(got, want);
    }
}

#[test]
fn index_file_round_trips_and_detects_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::new();
    for i in 0..1000i64 {
        b.push(&Binding {
            net: Net::parse(&format!("10.0.{}.{}", i % 7, i % 5)).unwrap(),
            port_lo: 0,
            port_hi: 65535,
            start_ns: i * 10,
            end_ns: i * 10 + 25,
            open: false,
            subscriber: format!("sub{}", i % 13),
            session: format!("sess{i}"),
            kind: Kind::Radius,
            detail: "NAS 10.0.0.1".into(),
            evidence: vec![i as u64, i as u64 + 1],
            key: Some(format!("radius:sess{i}|x")),
        });
    }
    let idx = b.finish();
    let p = dir.path().join("x.bin");
    idx.save(&p).unwrap();
    let back = Index::load(&p).unwrap();
    assert_eq!(back.len(), 1000);
    let mut h1 = Vec::new();
    let mut h2 = Vec::new();
    let a = addr_bits("10.0.3.3".parse().unwrap());
    idx.lookup(a, 4940, None, &mut h1);
    back.lookup(a, 4940, None, &mut h2);
    let d = |i: &Index, h: &[Hit]| h.iter().map(|x| i.binding(*x)).collect::<Vec<_>>();
    assert_eq!(d(&idx, &h1), d(&back, &h2));
    assert!(!h1.is_empty());
    // flip a byte in the middle: refused, naming the file
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&p, &bytes).unwrap();
    let err = Index::load(&p).unwrap_err().to_string();
    assert!(err.contains("x.bin") && err.contains("corrupt"), "{err}");
}

#[test]
fn malformed_csv_is_located_and_nothing_imported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.csv");
    let mut f = std::fs::File::create(&p).unwrap();
    writeln!(
        f,
        "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id"
    )
    .unwrap();
    writeln!(
        f,
        "203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,1,1"
    )
    .unwrap();
    writeln!(
        f,
        "203.0.112.300,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,1,2"
    )
    .unwrap();
    writeln!(
        f,
        "203.0.112.1,2024,1024,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,1,3"
    )
    .unwrap();
    writeln!(
        f,
        "203.0.112.1,1024,2023,2025-01-01 00:00:00,2025-01-01T01:00:00Z,1,4"
    )
    .unwrap();
    writeln!(
        f,
        "203.0.112.1,1024,2023,2025-01-01T06:00:00+05:30,2025-01-01T00:00:00Z,1,5"
    )
    .unwrap();
    writeln!(
        f,
        "2001:db8::1,0,65535,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,1,6"
    )
    .unwrap();
    writeln!(
        f,
        "203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,,7"
    )
    .unwrap();
    writeln!(f, "203.0.112.1,1024,2023,2025-01-01T00:00:00Z").unwrap();
    writeln!(
        f,
        "203.0.112.1,1024,70000,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,1,9"
    )
    .unwrap();
    drop(f);
    let err = read_bindings_csv(&p, &|_, _| {}).unwrap_err();
    let pramaan_attribution::ImportError::Invalid { errors, total, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(total, 8);
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field)).collect();
    assert_eq!(
        got,
        [
            (3, "ip"),
            (4, "port_end"),
            (5, "start_utc"),
            (6, "end_utc"),
            (7, "ip"),
            (8, "subscriber_id"),
            (9, "line"),
            (10, "port_end"),
        ]
    );
    assert!(
        errors[4].reason.contains("after the prefix"),
        "{}",
        errors[4].reason
    );
    // a wrong header is refused outright
    std::fs::write(&p, "ip,port,ts\n1.2.3.4,1,2\n").unwrap();
    assert!(read_bindings_csv(&p, &|_, _| {})
        .unwrap_err()
        .to_string()
        .contains("header"));
}

fn generator() -> Option<PathBuf> {
    let p = std::env::var_os("PRAMAAN_ATTRIB_GEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/bench/attribution/gen_bindings.py"));
    p.exists().then_some(p)
}

/// The generator's 10,000 probes on a 200,000-row set: every answer exact.
#[test]
fn generator_probes_are_all_answered_correctly() {
    let Some(gen) = generator() else {
        eprintln!("SKIP: gen_bindings.py not found (set PRAMAAN_ATTRIB_GEN)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("b.csv");
    let probes = dir.path().join("p.csv");
    let st = std::process::Command::new("python3")
        .arg(&gen)
        .args(["--rows", "200000", "--probes", "10000", "--out"])
        .arg(&csv)
        .arg("--probes-out")
        .arg(&probes)
        .status()
        .expect("python3 runs");
    assert!(
        st.success(),
        "the generator failed (numpy installed? scripts/test installs it)"
    );
    let store = MemStore::open(&dir.path().join("attribution")).unwrap();
    let (idx, rep) = read_bindings_csv(&csv, &|_, _| {}).unwrap();
    assert_eq!(rep.rows, 200_000);
    store.import_sync(idx).unwrap();
    // and again after a reopen, from the file
    let store = MemStore::open(&dir.path().join("attribution")).unwrap();
    let text = std::fs::read_to_string(&probes).unwrap();
    let mut n = 0;
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t: jiff::Timestamp = f[2].parse().unwrap();
        let p = Probe {
            addr: f[0].parse().unwrap(),
            port: Some(f[1].parse().unwrap()),
            at_ns: t.as_nanosecond() as i64,
        };
        let got: Vec<(String, String)> = store
            .lookup_sync(&p)
            .into_iter()
            .map(|b| (b.session, b.subscriber))
            .collect();
        let want: Vec<(String, String)> = if f[3].is_empty() {
            vec![]
        } else {
            vec![(f[3].to_owned(), f[4].to_owned())]
        };
        assert_eq!(got, want, "probe line {} ({})", i + 1, f[5]);
        n += 1;
    }
    assert_eq!(n, 10_000);
}
