//! SHA-256 of many messages at once, for the ledger's hot path.
//!
//! The x86 SHA extensions compute one round pair per `sha256rnds2`, and each
//! depends on the one before, so a single message leaves the unit idle for
//! most of the instruction's latency. Independent messages interleaved fill
//! those gaps: here four lanes, each taking the next message when its own
//! ends. The ledger hashes every record once (and about one interior node
//! per record), and records are independent. The digests are plain SHA-256
//! (FIPS 180-4): the tests compare them with the `sha2` crate on every
//! length up to a few blocks and on random batches.
//!
//! Without the extensions (or on another architecture) it falls back to the
//! `sha2` crate, one message after the other.
//!
//! The only unsafe code of the workspace: the instructions are reached
//! through `std::arch`, whose functions are unsafe to call without proof
//! that the CPU has them (`is_x86_feature_detected!`, checked once), and
//! whose loads take raw pointers (to blocks whose length is checked).
#![allow(unsafe_code)]

use crate::Hash;
use sha2::{Digest, Sha256};

/// `SHA-256(prefix || body)` of each body, appended to `out` in order.
pub fn sha256_prefixed<'a>(
    prefix: u8,
    bodies: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<Hash>,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if ni::available() {
            return ni::PADDED.with(|p| {
                let (buf, spans) = &mut *p.borrow_mut();
                pad_all(prefix, bodies, buf, spans);
                let base = out.len();
                out.resize(base + spans.len(), [0u8; 32]);
                // SAFETY: the CPU has the instructions `ni` is compiled for.
                unsafe { ni::many(buf, spans, &mut out[base..]) }
            });
        }
    }
    out.extend(bodies.into_iter().map(|b| portable(&[&[prefix], b])));
}

/// SHA-256 of the concatenation of `parts` (the `sha2` crate).
pub fn portable(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Each `prefix || body` padded as FIPS 180-4 §5.1.1 says (a 1 bit, zeros,
/// the length in bits as 64-bit big-endian) to whole 64-byte blocks, one
/// after the other in `buf`; `spans` says where each is.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn pad_all<'a>(
    prefix: u8,
    bodies: impl IntoIterator<Item = &'a [u8]>,
    buf: &mut Vec<u8>,
    spans: &mut Vec<(usize, usize)>,
) {
    buf.clear();
    spans.clear();
    for body in bodies {
        let start = buf.len();
        buf.push(prefix);
        buf.extend_from_slice(body);
        let bits = ((body.len() + 1) as u64).wrapping_mul(8);
        buf.push(0x80);
        let fill = (64 - (buf.len() - start + 8) % 64) % 64;
        buf.resize(buf.len() + fill, 0);
        buf.extend_from_slice(&bits.to_be_bytes());
        spans.push((start, buf.len()));
    }
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use super::Hash;
    use std::arch::x86_64::*;
    use std::cell::RefCell;
    use std::sync::OnceLock;

    pub fn available() -> bool {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("sha")
                && is_x86_feature_detected!("sse2")
                && is_x86_feature_detected!("ssse3")
                && is_x86_feature_detected!("sse4.1")
        })
    }

    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Padded messages, one after the other, and where each one is.
    type Padded = (Vec<u8>, Vec<(usize, usize)>);

    thread_local! {
        /// The padded messages of the last call (reused).
        pub static PADDED: RefCell<Padded> = const { RefCell::new((Vec::new(), Vec::new())) };
    }

    /// The hardware's state layout: (ABEF, CDGH) from a..h.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn load(h: &[u32; 8]) -> [__m128i; 2] {
        let abcd = _mm_loadu_si128(h.as_ptr() as *const __m128i);
        let efgh = _mm_loadu_si128(h.as_ptr().add(4) as *const __m128i);
        let cdab = _mm_shuffle_epi32(abcd, 0xB1);
        let hgfe = _mm_shuffle_epi32(efgh, 0x1B);
        [
            _mm_alignr_epi8(cdab, hgfe, 8),
            _mm_blend_epi16(hgfe, cdab, 0xF0),
        ]
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn digest(s: [__m128i; 2]) -> Hash {
        let feba = _mm_shuffle_epi32(s[0], 0x1B);
        let dchg = _mm_shuffle_epi32(s[1], 0xB1);
        let abcd = _mm_blend_epi16(feba, dchg, 0xF0);
        let efgh = _mm_alignr_epi8(dchg, feba, 8);
        let mut words = [0u32; 8];
        _mm_storeu_si128(words.as_mut_ptr() as *mut __m128i, abcd);
        _mm_storeu_si128(words.as_mut_ptr().add(4) as *mut __m128i, efgh);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(words) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// One 64-byte block into each of `N` independent states. With N = 2 the
    /// two dependency chains interleave.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    unsafe fn compress<const N: usize>(s: &mut [[__m128i; 2]; N], blocks: [&[u8; 64]; N]) {
        let swap = _mm_set_epi64x(0x0c0d0e0f_08090a0b, 0x04050607_00010203);
        let saved = *s;
        let mut w = [[_mm_setzero_si128(); 4]; N];
        for l in 0..N {
            for (g, wg) in w[l].iter_mut().enumerate() {
                let m = _mm_loadu_si128(blocks[l].as_ptr().add(16 * g) as *const __m128i);
                *wg = _mm_shuffle_epi8(m, swap);
            }
        }
        for g in 0..16 {
            let k = _mm_loadu_si128(K.as_ptr().add(4 * g) as *const __m128i);
            for l in 0..N {
                let wk = _mm_add_epi32(w[l][g % 4], k);
                s[l][1] = _mm_sha256rnds2_epu32(s[l][1], s[l][0], wk);
                s[l][0] = _mm_sha256rnds2_epu32(s[l][0], s[l][1], _mm_shuffle_epi32(wk, 0x0E));
                if g < 12 {
                    // Words 4(g+4)..4(g+4)+3 of the schedule replace words 4g..4g+3.
                    let x = &w[l];
                    let t = _mm_add_epi32(
                        _mm_sha256msg1_epu32(x[g % 4], x[(g + 1) % 4]),
                        _mm_alignr_epi8(x[(g + 3) % 4], x[(g + 2) % 4], 4),
                    );
                    w[l][g % 4] = _mm_sha256msg2_epu32(t, x[(g + 3) % 4]);
                }
            }
        }
        for l in 0..N {
            s[l][0] = _mm_add_epi32(s[l][0], saved[l][0]);
            s[l][1] = _mm_add_epi32(s[l][1], saved[l][1]);
        }
    }

    fn block(padded: &[u8], at: usize) -> &[u8; 64] {
        padded[at..at + 64]
            .try_into()
            .expect("padded to whole blocks")
    }

    /// Lanes in flight: four independent messages fill the SHA unit on
    /// the CPUs measured (one lane 42 ns a block, two 24.5, four 15.3).
    const LANES: usize = 4;

    /// The digest of each padded message `buf[spans[i]]` into `out[i]`.
    /// Every lane takes the next message as soon as its own ends, so that
    /// messages of different lengths keep all lanes busy; the last few
    /// finish one by one.
    ///
    /// # Safety
    /// Only when [`available`] says so.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn many(buf: &[u8], spans: &[(usize, usize)], out: &mut [Hash]) {
        debug_assert_eq!(spans.len(), out.len());
        let h0 = load(&H0);
        let mut next = 0;
        if spans.len() >= LANES {
            // (message, next block's offset, end) of each lane.
            let mut lanes: [(usize, usize, usize); LANES] =
                std::array::from_fn(|l| (l, spans[l].0, spans[l].1));
            let mut st = [h0; LANES];
            next = LANES;
            let mut running = true;
            while running {
                let blocks: [&[u8; 64]; LANES] = std::array::from_fn(|l| block(buf, lanes[l].1));
                compress(&mut st, blocks);
                for l in 0..LANES {
                    let lane = &mut lanes[l];
                    lane.1 += 64;
                    if lane.1 < lane.2 {
                        continue;
                    }
                    out[lane.0] = digest(st[l]);
                    if next < spans.len() {
                        *lane = (next, spans[next].0, spans[next].1);
                        st[l] = h0;
                        next += 1;
                    } else {
                        running = false;
                        lane.0 = usize::MAX;
                    }
                }
            }
            for (l, &(msg, at, end)) in lanes.iter().enumerate() {
                if msg != usize::MAX {
                    out[msg] = single(buf, at, end, st[l]);
                }
            }
        }
        for i in next..spans.len() {
            out[i] = single(buf, spans[i].0, spans[i].1, h0);
        }
    }

    /// Finishes one message from `state`, its blocks from `at` to `end`.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn single(buf: &[u8], mut at: usize, end: usize, state: [__m128i; 2]) -> Hash {
        let mut one = [state];
        while at < end {
            compress(&mut one, [block(buf, at)]);
            at += 64;
        }
        digest(one[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(prefix: u8, bodies: &[&[u8]]) -> Vec<Hash> {
        bodies.iter().map(|b| portable(&[&[prefix], b])).collect()
    }

    #[test]
    fn every_length_and_mix_of_lengths_matches_sha2() {
        let data: Vec<u8> = (0..700u32).map(|i| (i * 131 + 7) as u8).collect();
        // Lengths around every block boundary (55/56 bytes with the prefix
        // and padding), alone, in mixed batches and in batches of one length.
        for n in 0..200 {
            let mixed: Vec<&[u8]> = (0..n % 11)
                .map(|i| &data[i..i + (n * 7 + i * 61) % 300])
                .chain([&data[..n]])
                .collect();
            for prefix in [0u8, 1] {
                let mut out = vec![[7u8; 32]];
                sha256_prefixed(prefix, mixed.iter().copied(), &mut out);
                assert_eq!(out[0], [7u8; 32], "what was there stays");
                assert_eq!(out[1..], reference(prefix, &mixed)[..], "{n}");
                let same: Vec<&[u8]> = (0..9).map(|i| &data[i..i + n]).collect();
                let mut out = Vec::new();
                sha256_prefixed(prefix, same.iter().copied(), &mut out);
                assert_eq!(out, reference(prefix, &same), "9 of {n} bytes");
            }
        }
    }

    #[test]
    fn known_digests() {
        // FIPS 180-2 appendix B: "abc" and the two-block message (their first
        // byte as the prefix), and the empty message's (with a prefix, "a").
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let mut out = Vec::new();
        sha256_prefixed(
            b'a',
            [&b"bc"[..], &long[1..], &long[1..], &b"bc"[..], &b"bc"[..]],
            &mut out,
        );
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let two = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
        let got: Vec<String> = out.iter().map(hex::encode).collect();
        assert_eq!(got, [abc, two, two, abc, abc]);
        assert_eq!(
            hex::encode(portable(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn uses_the_extensions_where_the_cpu_has_them() {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("sha") {
            assert!(ni::available());
        }
    }

    proptest! {
        #[test]
        fn any_batch_hashes_as_sha2_does(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..23),
            prefix in any::<u8>(),
        ) {
            let bodies: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
            let mut out = Vec::new();
            sha256_prefixed(prefix, bodies.iter().copied(), &mut out);
            prop_assert_eq!(out, reference(prefix, &bodies));
        }
    }
}
