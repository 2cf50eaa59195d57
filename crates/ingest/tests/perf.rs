//! Throughput on the Loghub samples. Run in release:
//! `cargo test -p pramaan-ingest --release --test perf -- --ignored --nocapture`

mod common;

use pramaan_ingest::framing::FrameDecoder;
use pramaan_ingest::{parse, ParseContext};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 20;

#[test]
#[ignore = "benchmark; run in release with --ignored --nocapture"]
fn parse_throughput() {
    let files = common::loghub();
    let lines: Vec<&[u8]> = files
        .iter()
        .flat_map(|(_, l)| l.iter().map(|l| &l[..]))
        .collect();
    let ctx = ParseContext {
        received_at_ns: 1_483_590_600_000_000_000,
        default_offset_secs: 19_800,
    };
    for l in &lines {
        black_box(parse(l, &ctx));
    }
    let t = Instant::now();
    for _ in 0..ROUNDS {
        for l in &lines {
            black_box(parse(black_box(l), &ctx));
        }
    }
    let el = t.elapsed();
    let n = (lines.len() * ROUNDS) as f64;
    println!(
        "parse: {} lines x {ROUNDS}: {:.0} ns/line, {:.0} lines/s",
        lines.len(),
        el.as_nanos() as f64 / n,
        n / el.as_secs_f64()
    );
    for (name, ls) in &files {
        let t = Instant::now();
        for _ in 0..ROUNDS {
            for l in ls {
                black_box(parse(black_box(l), &ctx));
            }
        }
        println!(
            "  {name:<20} {:>6.0} ns/line",
            t.elapsed().as_nanos() as f64 / (ls.len() * ROUNDS) as f64
        );
    }

    // Framing the same lines as one newline-framed stream, in 64 KiB reads.
    let mut stream = Vec::new();
    for l in lines
        .iter()
        .filter(|l| !l.first().is_some_and(u8::is_ascii_digit))
    {
        stream.extend_from_slice(l);
        stream.push(b'\n');
    }
    let t = Instant::now();
    let mut frames = 0usize;
    for _ in 0..ROUNDS {
        let mut d = FrameDecoder::new(64 * 1024);
        let mut buf = bytes::BytesMut::with_capacity(128 * 1024);
        for c in stream.chunks(64 * 1024) {
            buf.extend_from_slice(c);
            while let Some(ev) = d.decode(&mut buf) {
                black_box(&ev);
                frames += 1;
            }
        }
    }
    println!(
        "framing: {:.0} ns/frame, {:.0} MB/s",
        t.elapsed().as_nanos() as f64 / frames as f64,
        (stream.len() * ROUNDS) as f64 / t.elapsed().as_secs_f64() / 1e6
    );
}
