//! SHA-256 of two messages at once, for the ledger's hot path.
//!
//! The x86 SHA extensions compute one round pair per `sha256rnds2`, and each
//! depends on the one before, so a single message leaves the unit idle for
//! most of the instruction's latency. Two independent messages interleaved
//! fill those gaps. The ledger hashes every record once (and about one
//! interior node per record), and records are independent, so it hashes them
//! two by two. The digests are plain SHA-256 (FIPS 180-4): the tests compare
//! them with the `sha2` crate on every length up to a few blocks.
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

/// SHA-256 of the concatenation of `a`'s parts and of `b`'s parts.
pub fn sha256_pair(a: &[&[u8]], b: &[&[u8]]) -> (Hash, Hash) {
    #[cfg(target_arch = "x86_64")]
    {
        if ni::available() {
            // SAFETY: the CPU has the instructions `ni` is compiled for.
            return unsafe { ni::pair(a, b) };
        }
    }
    (portable(a), portable(b))
}

/// SHA-256 of the concatenation of `parts` (the `sha2` crate).
pub fn portable(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `parts` padded as FIPS 180-4 §5.1.1 says (a 1 bit, zeros, the length in
/// bits as 64-bit big-endian), into `buf`, a whole number of 64-byte blocks.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn pad_into(parts: &[&[u8]], buf: &mut Vec<u8>) {
    buf.clear();
    for p in parts {
        buf.extend_from_slice(p);
    }
    let bits = (buf.len() as u64).wrapping_mul(8);
    buf.push(0x80);
    let fill = (64 - (buf.len() + 8) % 64) % 64;
    buf.resize(buf.len() + fill, 0);
    buf.extend_from_slice(&bits.to_be_bytes());
    debug_assert_eq!(buf.len() % 64, 0);
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use super::{pad_into, Hash};
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

    thread_local! {
        /// Padded copies of the two messages, reused from call to call.
        static BUFS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
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

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn pair_padded(a: &[u8], b: &[u8]) -> (Hash, Hash) {
        let h0 = load(&H0);
        let mut both = [h0, h0];
        let common = a.len().min(b.len());
        let mut off = 0;
        while off < common {
            compress(&mut both, [block(a, off), block(b, off)]);
            off += 64;
        }
        let [mut sa, mut sb] = both;
        let (rest, st) = if a.len() > off {
            (&a[off..], &mut sa)
        } else {
            (&b[off..], &mut sb)
        };
        let mut one = [*st];
        for at in (0..rest.len()).step_by(64) {
            compress(&mut one, [block(rest, at)]);
        }
        *st = one[0];
        (digest(sa), digest(sb))
    }

    /// # Safety
    /// Only when [`available`] says so.
    pub unsafe fn pair(a: &[&[u8]], b: &[&[u8]]) -> (Hash, Hash) {
        BUFS.with(|bufs| {
            let (pa, pb) = &mut *bufs.borrow_mut();
            pad_into(a, pa);
            pad_into(b, pb);
            pair_padded(pa, pb)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_length_and_split_matches_sha2() {
        let data: Vec<u8> = (0..400u32).map(|i| (i * 131 + 7) as u8).collect();
        for la in 0..200 {
            for lb in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300, la] {
                let a = &data[..la];
                let b = &data[100..100 + lb];
                let (ha, hb) = sha256_pair(&[&[0u8], a], &[b]);
                assert_eq!(ha, portable(&[&[0u8], a]), "a: {la} bytes");
                assert_eq!(hb, portable(&[b]), "b: {lb} bytes");
                let (hb2, ha2) = sha256_pair(&[b], &[&[0u8], &a[..la / 2], &a[la / 2..]]);
                assert_eq!((ha2, hb2), (ha, hb));
            }
        }
    }

    #[test]
    fn known_digests() {
        // FIPS 180-2 appendix B: "abc", and the two-block message.
        let (abc, long) = sha256_pair(
            &[b"abc"],
            &[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"],
        );
        assert_eq!(
            hex::encode(abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(long),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let (empty, _) = sha256_pair(&[], &[b""]);
        assert_eq!(
            hex::encode(empty),
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
        fn any_two_messages_hash_as_sha2_does(
            a in proptest::collection::vec(any::<u8>(), 0..700),
            b in proptest::collection::vec(any::<u8>(), 0..700),
            cut in any::<usize>(),
        ) {
            let cut = if a.is_empty() { 0 } else { cut % a.len() };
            let (ha, hb) = sha256_pair(&[&a[..cut], &a[cut..]], &[&b]);
            prop_assert_eq!(ha, portable(&[&a]));
            prop_assert_eq!(hb, portable(&[&b]));
        }
    }
}
