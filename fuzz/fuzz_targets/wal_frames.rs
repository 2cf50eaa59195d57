//! The WAL's frame reader (`pramaan_core::frame`), on the bytes as given and
//! on valid frames built from them, then cut short, with a byte changed, or
//! followed by the zeros a small batch writes ahead of itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pramaan_core::frame::{encode_frame, scan_frames, zeros_from, FRAME_HEAD};
use pramaan_core::{RecordRef, Transport};

/// Reads `data` and checks what any reading must hold; returns the end of
/// the valid frames.
fn check(data: &[u8]) -> usize {
    let mut again = Vec::new();
    let scan = scan_frames(data, |off, rec| {
        // A frame read is exactly the bytes its record encodes to, where it was read.
        let start = again.len();
        assert_eq!(start as u64, off, "frames are read one after the other");
        encode_frame(&rec, &mut again);
        assert_eq!(&again[start..], &data[start..again.len()]);
        Ok(())
    });
    let valid = scan.valid_len as usize;
    assert_eq!(again.len(), valid, "the valid length is the frames read");
    match &scan.stopped {
        None => assert_eq!(valid, data.len()),
        Some((at, why)) => {
            assert_eq!(*at as usize, valid);
            assert!(valid < data.len() && !why.is_empty());
        }
    }
    if let Some(z) = zeros_from(data) {
        assert!(z <= data.len() && data[z..].iter().all(|&b| b == 0));
    }
    // Zeros after the valid frames are found where the frames end.
    let mut padded = data[..valid].to_vec();
    padded.extend_from_slice(&[0u8; FRAME_HEAD + 5]);
    assert_eq!(zeros_from(&padded), Some(valid));
    valid
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() < 4 {
        return;
    }
    // Records from the input: up to 8, their lines cut from the rest.
    let (head, rest) = data.split_at(4);
    let n = (head[0] % 8) as usize + 1;
    let mut frames = Vec::new();
    for (i, raw) in rest.chunks(rest.len() / n + 1).enumerate() {
        let transport = [Transport::Udp, Transport::Tcp, Transport::Http][i % 3];
        let rec = RecordRef {
            seq: u64::from(head[1]) << 8 | i as u64,
            received_at_ns: i64::from(head[2]) * 1_000_000_007 - i as i64,
            transport,
            peer: "127.0.0.1:514",
            raw,
        };
        encode_frame(&rec, &mut frames);
    }
    assert_eq!(check(&frames), frames.len(), "frames as written read whole");
    // Cut anywhere: the frames before the cut read, nothing after.
    let cut = usize::from(head[3]) * frames.len() / 255;
    assert!(check(&frames[..cut]) <= cut);
    // One byte changed: the CRC or the record's own checks stop there.
    if !frames.is_empty() {
        let at = usize::from(head[1]) * (frames.len() - 1) / 255;
        let mut bad = frames.clone();
        bad[at] ^= head[2] | 1;
        assert!(check(&bad) <= at, "a changed byte at {at} was read as valid");
    }
});
