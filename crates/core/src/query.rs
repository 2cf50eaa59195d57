//! Search parameters that need no index to parse (shared by the HTTP API and
//! the fuzz targets, which must not pull in the vault).

/// `seq=100` or `seq=100-200` (inclusive, in order).
pub fn parse_seq_range(s: &str) -> Result<(Option<u64>, Option<u64>), String> {
    let bad = || format!("seq: `{s}` is not a sequence number or range like 100-200");
    match s.split_once('-') {
        None => {
            let n: u64 = s.trim().parse().map_err(|_| bad())?;
            Ok((Some(n), Some(n)))
        }
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if a > b {
                return Err(bad());
            }
            Ok((Some(a), Some(b)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_seq_range("7"), Ok((Some(7), Some(7))));
        assert_eq!(parse_seq_range(" 1 - 9 "), Ok((Some(1), Some(9))));
        let e = parse_seq_range("9-1").unwrap_err();
        assert!(e.contains("`9-1`"), "{e}");
        assert!(parse_seq_range("-1").is_err());
        assert!(parse_seq_range("1-2-3").is_err());
    }
}
