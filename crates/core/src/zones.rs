//! Which zone a log source writes its zone-less stamps in, and the glob
//! patterns that name sources. Shared by ingest (stamps without a zone are
//! read in their source's zone), the clock's skew analysis and retention.

/// Glob match: `*` is any run of characters (also none), `?` exactly one;
/// everything else matches itself, ignoring ASCII case (host names are
/// case-insensitive).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Iterative matcher with backtracking to the last star: O(|p|·|n|) at worst.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The name a line's source goes by: the host the line names, else the
/// sender's address without its (ephemeral) port (`-` is RFC 5424's nil host).
pub fn source_name<'a>(host: Option<&'a str>, peer: &'a str) -> &'a str {
    match host {
        Some(h) if !h.is_empty() && h != "-" => h,
        _ => peer_host(peer),
    }
}

/// `1.2.3.4:5514` → `1.2.3.4`; `[::1]:5514` → `::1`; a peer that names its
/// protocol (`radius:1.2.3.4:40312`, [`crate::peer::Via`]) → `1.2.3.4`;
/// anything else as is.
pub fn peer_host(peer: &str) -> &str {
    let peer = crate::peer::address(peer);
    if let Some(rest) = peer.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return &rest[..end];
        }
    }
    match peer.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => peer,
    }
}

/// `clock.source_zones`: which zone to read zone-less stamps of a source in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneMap {
    /// (pattern with `*` and `?`, offset east of UTC in seconds); first match wins.
    pub entries: Vec<(String, i32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneMapError {
    #[error("clock.source_zones entry {entry:?} is not PATTERN=OFFSET (for example `fw-*=+05:30` or `10.0.0.5=UTC`)")]
    Entry { entry: String },
    #[error("clock.source_zones entry {entry:?}: {offset:?} is not a UTC offset (`+05:30`, `-0800`, `UTC`, `IST`)")]
    Offset { entry: String, offset: String },
}

impl ZoneMap {
    /// Parses `pattern=offset` pairs separated by commas or whitespace.
    pub fn parse(text: &str) -> Result<ZoneMap, ZoneMapError> {
        let mut entries = Vec::new();
        for entry in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let (pat, off) = entry.split_once('=').ok_or_else(|| ZoneMapError::Entry {
                entry: entry.to_owned(),
            })?;
            if pat.is_empty() {
                return Err(ZoneMapError::Entry {
                    entry: entry.to_owned(),
                });
            }
            let secs = parse_offset(off).ok_or_else(|| ZoneMapError::Offset {
                entry: entry.to_owned(),
                offset: off.to_owned(),
            })?;
            entries.push((pat.to_owned(), secs));
        }
        Ok(ZoneMap { entries })
    }

    pub fn offset_for(&self, source: &str) -> Option<i32> {
        self.entries
            .iter()
            .find(|(p, _)| glob_match(p, source))
            .map(|(_, o)| *o)
    }
}

/// `+05:30`, `+0530`, `-08:00`, `Z`, `UTC`, `IST`.
pub fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    match s.to_ascii_uppercase().as_str() {
        "Z" | "UTC" | "GMT" => return Some(0),
        "IST" => return Some(crate::time::IST_OFFSET_SECS),
        _ => {}
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    (h <= 18 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// `+05:30` style, for people.
pub fn format_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("fw-*", "fw-1"));
        assert!(glob_match("fw-*", "FW-"));
        assert!(glob_match("*", ""));
        assert!(glob_match("10.1.2.?", "10.1.2.7"));
        assert!(!glob_match("10.1.2.?", "10.1.2.17"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*.example.in", "ns1.Example.IN"));
        assert!(!glob_match("db", "db2"));
        assert!(glob_match("db", "DB"));
        assert!(glob_match("**a", "a"));
        assert!(glob_match("10.1.?.*", "10.1.2.77"));
        assert!(!glob_match("fw-?", "fw-12"));
    }

    #[test]
    fn zone_map_parsing() {
        let m = ZoneMap::parse("a=+05:30 b*=-0800,c=IST").unwrap();
        assert_eq!(m.offset_for("a"), Some(19_800));
        assert_eq!(m.offset_for("B-1"), Some(-28_800));
        assert_eq!(m.offset_for("zzz"), None);
        assert!(matches!(
            ZoneMap::parse("a"),
            Err(ZoneMapError::Entry { .. })
        ));
        assert!(matches!(
            ZoneMap::parse("a=+25:00"),
            Err(ZoneMapError::Offset { .. })
        ));
        assert_eq!(ZoneMap::parse("").unwrap(), ZoneMap::default());
        assert_eq!(format_offset(-28_800), "-08:00");
        assert_eq!(format_offset(19_800), "+05:30");
    }

    #[test]
    fn sources_are_named_by_host_then_address() {
        assert_eq!(source_name(Some("fw-1"), "10.0.0.5:514"), "fw-1");
        assert_eq!(source_name(None, "10.0.0.5:514"), "10.0.0.5");
        assert_eq!(source_name(Some(""), "[::1]:9"), "::1");
        assert_eq!(source_name(None, "pramaan:audit"), "pramaan:audit");
        assert_eq!(source_name(Some("-"), "10.0.0.5:514"), "10.0.0.5");
        assert_eq!(peer_host("[::1]:5514"), "::1");
        assert_eq!(peer_host("file:/var/log/x"), "file:/var/log/x");
        assert_eq!(peer_host("::1"), "::1");
    }
}
