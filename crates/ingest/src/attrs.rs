//! Bounds on what a protocol's attributes or fields add to the `sd` field.
//!
//! A record's raw bytes keep every attribute whatever its size; the `sd`
//! field only makes them searchable, so it is bounded: at most
//! [`MAX_PAIRS`] pairs per SD-ELEMENT (the first ones, in the order sent)
//! and at most [`MAX_VALUE`] bytes per value (cut at a character boundary,
//! ending in `…`). A search for text past those bounds still finds the
//! record by its raw bytes.

/// Pairs kept per SD-ELEMENT.
pub const MAX_PAIRS: usize = 64;
/// Bytes kept of one value.
pub const MAX_VALUE: usize = 1024;

/// `s` cut to at most [`MAX_VALUE`] bytes (plus the `…` that says so).
pub fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_VALUE {
        return s.into();
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end]).into()
}

/// Standard base64 with padding (bytes values in OTLP/JSON are written so;
/// the protobuf ones are rendered the same way).
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_at_a_character_boundary() {
        assert_eq!(clip("abc"), "abc");
        let long = "é".repeat(600); // 1200 bytes
        let c = clip(&long);
        assert!(c.ends_with('…'));
        assert_eq!(c.len(), 1024 + '…'.len_utf8());
    }

    #[test]
    fn base64_as_rfc_4648_says() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
