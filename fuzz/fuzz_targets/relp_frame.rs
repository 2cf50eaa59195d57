//! RELP frames and sessions: the first bytes pick the message limit and how
//! the stream is cut into reads; the events (or the error that ends the
//! session) must be the same as for one read, frames must respect their
//! limits, and the session rules must never panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pramaan_ingest::relp::{Command, Decoder, Event, Session, Step, MAX_CONTROL_DATA};

type Outcome = (Vec<Event>, Option<pramaan_ingest::relp::FrameError>);

fn run(max: usize, stream: &[u8], sizes: &[u8]) -> Outcome {
    let mut d = Decoder::new(max);
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
        loop {
            match d.decode(&mut buf) {
                Ok(Some(ev)) => out.push(ev),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, d.finish(&buf).err())
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

    let mut session = Session::new();
    for ev in whole.0 {
        if let Event::Frame(f) = &ev {
            let cap = if f.command == Command::Syslog { max } else { MAX_CONTROL_DATA };
            assert!(f.data.len() <= cap);
        }
        if let Step::Store { message, .. } = session.on_event(ev) {
            assert!(!message.is_empty() && message.len() <= max);
        }
    }
});
