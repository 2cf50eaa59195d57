//! RFC 6587 framing: the first bytes pick `max_frame` and how the stream is
//! cut into reads; the events must be the same as for one read, and frames
//! must respect the limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pramaan_ingest::framing::{FrameDecoder, FrameEvent};

fn run(max: usize, stream: &[u8], sizes: &[u8]) -> Vec<FrameEvent> {
    let mut d = FrameDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = stream;
    let mut k = 0;
    while !rest.is_empty() {
        let n = if sizes.is_empty() {
            rest.len()
        } else {
            k += 1;
            (usize::from(sizes[k % sizes.len()]) % 17 + 1).min(rest.len())
        };
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(ev) = d.decode(&mut buf) {
            out.push(ev);
        }
    }
    while let Some(ev) = d.decode_eof(&mut buf) {
        out.push(ev);
    }
    assert!(buf.is_empty(), "bytes left after end of stream");
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = usize::from(u16::from_le_bytes([data[0], data[1]]) % 512) + 1;
    let n_sizes = usize::from(data[2] % 8).min(data.len() - 3);
    let sizes = &data[3..3 + n_sizes];
    let stream = &data[3 + n_sizes..];

    let whole = run(max, stream, &[]);
    let chunked = run(max, stream, sizes);
    assert_eq!(whole, chunked, "events depend on how the stream was cut");
    let bytewise = run(max, stream, &[0]);
    assert_eq!(whole, bytewise, "events differ when fed one byte at a time");

    let mut kept = 0;
    for ev in &whole {
        match ev {
            FrameEvent::Frame(b) => {
                assert!(!b.is_empty() && b.len() <= max);
                kept += b.len();
            }
            FrameEvent::Truncated { bytes, expected } => {
                assert!(bytes.len() < *expected && *expected <= max);
                kept += bytes.len();
            }
            FrameEvent::Refused(_) => {}
        }
    }
    assert!(kept <= stream.len());
});
