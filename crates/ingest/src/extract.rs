//! Search fields from free text: IP addresses, ports and user names.
//!
//! One left-to-right pass over the message, looking only at the start of
//! each word and at each `=`, so the cost is a table lookup per byte plus a
//! little work per candidate. No regex, no allocation except for the values
//! kept. Results are deduplicated, keep their order of appearance, and are
//! capped ([`MAX_IPS`], [`MAX_PORTS`], [`MAX_USERS`]) so a hostile line cannot
//! make a record's fields large.
//!
//! What is recognised:
//!
//! * IPv4 `a.b.c.d` (no leading zeros, each part ≤ 255), not inside a longer
//!   dotted run (`1.2.3.4.5`, `v1.2.3.4`, `15.42.50.6` in `2005-06-03-15.42.50.6`
//!   are not addresses). Optional `:port` (also Java's `/1.2.3.4:port`), and
//!   tcpdump's `a.b.c.d.port` next to `>`.
//! * IPv6 (validated by `std`), bracketed `[v6]:port`, and Java's unbracketed
//!   9-group `0:0:0:0:0:0:0:0:2181` (8 groups plus a port). IPv4-mapped
//!   addresses (`::ffff:1.2.3.4`) are kept as IPv4 so one search finds both.
//! * Ports: `port 22`, `port: 22`, `:port` after an address or a dotted host
//!   name (`proxy.example.com:5070`, but not `Foo.java:123`), and the keys
//!   `port=`, `sport=`, `dport=`, `spt=`, `dpt=`, `src_port=`, `srcport=`, ...
//! * Users: the keys `user=`, `USER=`, `ruser=`, `acct="x"`, `username=`, ...,
//!   OpenSSH's `for X from`, and `user X` after `invalid`, `illegal`, `for`,
//!   `from` or `authenticating`, or followed by `from`.
//! * `src=`, `dst=`, `rhost=`, `client=` need no special case: their values
//!   are found by the address scan.

use pramaan_core::ParsedFields;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const MAX_IPS: usize = 16;
pub const MAX_PORTS: usize = 16;
pub const MAX_USERS: usize = 16;
/// Longer "user names" are not user names.
pub const MAX_USER_LEN: usize = 64;

/// Longest textual IPv6 address (`ffff:...:255.255.255.255`).
const MAX_V6_TEXT: usize = 45;
/// Longest key looked at in `key=value`.
const MAX_KEY: usize = 24;
/// Longest value looked at in `key=value`.
const MAX_VALUE: usize = 128;

const WORD: u8 = 1;
const HEX: u8 = 2;
const HOST: u8 = 4;

/// Byte classes: word = `[A-Za-z0-9_]`, hex = `[0-9A-Fa-f]`, host = `[A-Za-z0-9.-]`.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric() || b == b'_' {
            c |= WORD;
        }
        if b.is_ascii_hexdigit() {
            c |= HEX;
        }
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            c |= HOST;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline]
fn is_word(b: u8) -> bool {
    CLASS[b as usize] & WORD != 0
}

#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// Appends the addresses, ports and users found in `msg` to `out`.
pub fn extract(msg: &[u8], out: &mut ParsedFields) {
    let n = msg.len();
    let mut i = 0;
    while i < n {
        let b = msg[i];
        if !is_word(b) {
            match b {
                b'=' => kv(msg, i, out),
                b':' if at(msg, i + 1) == b':' && v6_may_start(msg, i) => {
                    if let Some(end) = v6(msg, i, out) {
                        i = end.max(i + 1);
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        // `i` starts a word.
        let mut j = i + 1;
        while j < n && is_word(msg[j]) {
            j += 1;
        }
        if CLASS[b as usize] & HEX != 0 {
            if let Some(end) = address(msg, i, out) {
                i = end.max(i + 1);
                continue;
            }
        }
        let word = &msg[i..j];
        match word.len() {
            3 if word.eq_ignore_ascii_case(b"for") => for_user_from(msg, j, out),
            4 if word.eq_ignore_ascii_case(b"port") => port_word(msg, j, out),
            4 if word.eq_ignore_ascii_case(b"user") => user_word(msg, i, j, out),
            _ => {}
        }
        if at(msg, j) == b'.' && !b.is_ascii_digit() {
            if let Some(end) = host_port(msg, i, out) {
                // Always forward, whatever a helper returned.
                i = end.max(j);
                continue;
            }
        }
        i = j;
    }
}

// ---- pushing, with dedupe and caps ----------------------------------------

/// Keeps IPv4-mapped IPv6 as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

pub(crate) fn push_ip(out: &mut ParsedFields, ip: IpAddr) {
    let ip = canonical(ip);
    if out.ips.len() < MAX_IPS && !out.ips.contains(&ip) {
        out.ips.push(ip);
    }
}

pub(crate) fn push_port(out: &mut ParsedFields, port: u16) {
    if port != 0 && out.ports.len() < MAX_PORTS && !out.ports.contains(&port) {
        out.ports.push(port);
    }
}

/// Keeps `name` if it looks like a user name: 1-64 bytes of UTF-8 without
/// spaces or control characters, and not a placeholder (`?`, `-`, `(unknown)`).
pub(crate) fn push_user(out: &mut ParsedFields, name: &[u8]) {
    if out.users.len() >= MAX_USERS
        || name.is_empty()
        || name.len() > MAX_USER_LEN
        || name
            .iter()
            .any(|&b| b <= b' ' || matches!(b, 0x7f | b'"' | b'='))
    {
        return;
    }
    const PLACEHOLDERS: [&[u8]; 8] = [
        b"?",
        b"-",
        b"(unknown)",
        b"(none)",
        b"unknown",
        b"null",
        b"none",
        b"n/a",
    ];
    if PLACEHOLDERS.iter().any(|p| name.eq_ignore_ascii_case(p)) {
        return;
    }
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    if !out.users.iter().any(|u| u == name) {
        out.users.push(name.to_owned());
    }
}

// ---- addresses -----------------------------------------------------------

/// A port at `i`: 1-5 digits, 1-65535, not followed by a word character.
fn port_at(s: &[u8], i: usize) -> Option<(u16, usize)> {
    let mut v: u32 = 0;
    let mut k = i;
    while k < s.len() && s[k].is_ascii_digit() {
        if k - i == 5 {
            return None;
        }
        v = v * 10 + u32::from(s[k] - b'0');
        k += 1;
    }
    if k == i || is_word(at(s, k)) || v == 0 || v > 65535 {
        return None;
    }
    Some((v as u16, k))
}

/// An IPv4 or IPv6 address starting at word start `i` (a hex digit).
fn address(s: &[u8], i: usize, out: &mut ParsedFields) -> Option<usize> {
    let prev = if i == 0 { 0 } else { s[i - 1] };
    // Inside a dotted run or a hyphenated token: not an address.
    if prev == b'.' || prev == b'-' {
        return None;
    }
    if s[i].is_ascii_digit() {
        if let Some(end) = v4(s, i, out) {
            return Some(end);
        }
    }
    // IPv6 needs a colon within the first group.
    let lim = (i + 5).min(s.len());
    let colon = s[i..lim]
        .iter()
        .position(|&b| CLASS[b as usize] & HEX == 0)
        .is_some_and(|k| s[i + k] == b':');
    if colon && prev != b':' {
        return v6(s, i, out);
    }
    None
}

/// One dotted-decimal part: 1-3 digits, no leading zero, ≤ 255.
fn octet(s: &[u8], i: usize) -> Option<(u8, usize)> {
    let a = s.get(i).copied().filter(u8::is_ascii_digit)?;
    let mut v = u32::from(a - b'0');
    let mut k = i + 1;
    while k < s.len() && s[k].is_ascii_digit() {
        if k - i == 3 || a == b'0' {
            return None;
        }
        v = v * 10 + u32::from(s[k] - b'0');
        k += 1;
    }
    (v <= 255).then_some((v as u8, k))
}

fn v4(s: &[u8], i: usize, out: &mut ParsedFields) -> Option<usize> {
    let mut parts = [0u8; 4];
    let mut k = i;
    for (n, part) in parts.iter_mut().enumerate() {
        if n > 0 {
            if at(s, k) != b'.' {
                return None;
            }
            k += 1;
        }
        let (v, e) = octet(s, k)?;
        *part = v;
        k = e;
    }
    let next = at(s, k);
    if is_word(next) {
        return None;
    }
    let ip = IpAddr::V4(Ipv4Addr::from(parts));
    let mut end = k;
    let mut port = None;
    if next == b'.' && at(s, k + 1).is_ascii_digit() {
        // A fifth part: a version number, unless tcpdump wrote `a.b.c.d.port >`.
        let (p, e) = port_at(s, k + 1)?;
        let arrow_after = s[e..].starts_with(b" >");
        let arrow_before = s[..i].ends_with(b"> ");
        if !(arrow_after || arrow_before) || at(s, e) == b'.' {
            return None;
        }
        port = Some(p);
        end = e;
    } else if next == b':' {
        if let Some((p, e)) = port_at(s, k + 1) {
            port = Some(p);
            end = e;
        }
    }
    push_ip(out, ip);
    if let Some(p) = port {
        push_port(out, p);
    }
    Some(end)
}

/// May an IPv6 address start at `i`? Not inside a word, a dotted run or
/// another colon run.
fn v6_may_start(s: &[u8], i: usize) -> bool {
    i == 0 || !(is_word(s[i - 1]) || matches!(s[i - 1], b'.' | b'-' | b':'))
}

fn v6(s: &[u8], i: usize, out: &mut ParsedFields) -> Option<usize> {
    let n = s.len();
    let mut e = i;
    while e < n && (CLASS[s[e] as usize] & HEX != 0 || s[e] == b':' || s[e] == b'.') {
        e += 1;
        if e - i > MAX_V6_TEXT + 6 {
            return None;
        }
    }
    if is_word(at(s, e)) {
        // `...:2181:FastLeader`: the last group belongs to the word after it.
        e = i + s[i..e].iter().rposition(|&b| b == b':')?;
    }
    // Sentence punctuation, not part of the address.
    if e > i && s[e - 1] == b'.' {
        e -= 1;
    }
    if e > i + 1 && s[e - 1] == b':' && s[e - 2] != b':' {
        e -= 1;
    }
    let text = &s[i..e];
    let colons = text.iter().filter(|&&b| b == b':').count();
    // (a window test: `memmem` would build a searcher for every candidate)
    let compressed = text.windows(2).any(|w| w == b"::");
    let dotted = text.contains(&b'.');
    if colons < 2 || text.len() > MAX_V6_TEXT + 6 {
        return None;
    }
    let mut port = None;
    let addr_text = if compressed || colons == 7 || (colons == 6 && dotted) {
        text
    } else if colons == 8 && !dotted {
        // Java prints `0:0:0:0:0:0:0:0:2181`: eight groups and a port.
        let c = text.iter().rposition(|&b| b == b':')?;
        let (p, pe) = port_at(s, i + c + 1)?;
        if pe != e {
            return None;
        }
        port = Some(p);
        &text[..c]
    } else {
        // Times (`06:55:46`), MAC addresses: not IPv6.
        return None;
    };
    if addr_text.len() > MAX_V6_TEXT {
        return None;
    }
    let ip: Ipv6Addr = std::str::from_utf8(addr_text).ok()?.parse().ok()?;
    let mut end = e;
    if i > 0 && s[i - 1] == b'[' && at(s, e) == b']' && at(s, e + 1) == b':' {
        if let Some((p, pe)) = port_at(s, e + 2) {
            port = Some(p);
            end = pe;
        }
    }
    push_ip(out, IpAddr::V6(ip));
    if let Some(p) = port {
        push_port(out, p);
    }
    Some(end)
}

/// `host.example.com:5070`: a dotted host name whose last label is
/// alphabetic and not a source file extension, then a port.
fn host_port(s: &[u8], i: usize, out: &mut ParsedFields) -> Option<usize> {
    if !s[i].is_ascii_alphanumeric()
        || (i > 0 && matches!(s[i - 1], b'(' | b'.' | b'-' | b'$' | b'@' | b':'))
    {
        return None;
    }
    let mut e = i;
    while e < s.len() && CLASS[s[e] as usize] & HOST != 0 {
        e += 1;
        if e - i > 253 {
            return None;
        }
    }
    if at(s, e) != b':' {
        return Some(e);
    }
    let host = &s[i..e];
    let dot = host.iter().rposition(|&b| b == b'.')?;
    let tld = &host[dot + 1..];
    const CODE: [&[u8]; 16] = [
        b"java", b"scala", b"py", b"go", b"rs", b"cc", b"cpp", b"hpp", b"js", b"ts", b"kt", b"rb",
        b"php", b"cs", b"pl", b"swift",
    ];
    if tld.len() < 2
        || !tld.iter().all(u8::is_ascii_alphabetic)
        || CODE.iter().any(|c| tld.eq_ignore_ascii_case(c))
    {
        return Some(e);
    }
    match port_at(s, e + 1) {
        Some((p, pe)) => {
            push_port(out, p);
            Some(pe)
        }
        None => Some(e),
    }
}

// ---- keywords --------------------------------------------------------------

/// `port 22`, `port: 22` after the word `port` ending at `j`.
fn port_word(s: &[u8], j: usize, out: &mut ParsedFields) {
    let mut k = j;
    if at(s, k) == b':' {
        k += 1;
    }
    if at(s, k) != b' ' {
        return;
    }
    if let Some((p, _)) = port_at(s, k + 1) {
        push_port(out, p);
    }
}

/// The space-delimited token starting at `k`, without trailing `,` `;`.
/// Looks no further than a user name can be long.
fn token(s: &[u8], k: usize) -> &[u8] {
    let rest = s.get(k..).unwrap_or_default();
    let rest = &rest[..rest.len().min(MAX_USER_LEN + 2)];
    let end = rest
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let mut t = &rest[..end];
    while let [head @ .., b',' | b';'] = t {
        t = head;
    }
    t
}

/// The letters of the word ending just before the single space before `i`.
fn word_before(s: &[u8], i: usize) -> &[u8] {
    if i < 2 || s[i - 1] != b' ' {
        return &[];
    }
    let end = i - 1;
    let start = s[..end]
        .iter()
        .rposition(|b| !b.is_ascii_alphabetic())
        .map_or(0, |p| p + 1);
    &s[start..end]
}

/// `user X` after the word `user` at `i..j`.
fn user_word(s: &[u8], i: usize, j: usize, out: &mut ParsedFields) {
    if at(s, j) != b' ' {
        return;
    }
    let name = token(s, j + 1);
    if name.is_empty() {
        return;
    }
    let prev = word_before(s, i);
    let known_prev = [
        &b"invalid"[..],
        b"illegal",
        b"for",
        b"from",
        b"authenticating",
    ]
    .iter()
    .any(|w| prev.eq_ignore_ascii_case(w));
    if known_prev || s[j + 1 + name.len()..].starts_with(b" from ") {
        push_user(out, name);
    }
}

/// OpenSSH `for X from` after the word `for` ending at `j`.
fn for_user_from(s: &[u8], j: usize, out: &mut ParsedFields) {
    if at(s, j) != b' ' {
        return;
    }
    let name = token(s, j + 1);
    if name.is_empty() || !s[j + 1 + name.len()..].starts_with(b" from ") {
        return;
    }
    // `for invalid user X from` is handled by `user X`.
    if name.eq_ignore_ascii_case(b"user") || name.eq_ignore_ascii_case(b"invalid") {
        return;
    }
    push_user(out, name);
}

/// `key=value` around the `=` at `eq`.
fn kv(s: &[u8], eq: usize, out: &mut ParsedFields) {
    // The key: word characters, `.` and `-` before the `=`, lowercased and
    // with separators dropped, so `src_port`, `src-port`, `source.port` and
    // `SRCPORT` compare alike.
    let key_byte = |b: u8| is_word(b) || b == b'.' || b == b'-';
    let mut key = [0u8; MAX_KEY];
    let mut len = 0;
    let mut k = eq;
    let stop = eq.saturating_sub(2 * MAX_KEY);
    while k > stop {
        let b = s[k - 1];
        if !key_byte(b) {
            break;
        }
        if b != b'_' && b != b'.' && b != b'-' {
            if len == MAX_KEY {
                return;
            }
            key[len] = b.to_ascii_lowercase();
            len += 1;
        }
        k -= 1;
    }
    if len == 0 || (k > 0 && key_byte(s[k - 1])) {
        // No key, or one too long to be any we know.
        return;
    }
    key[..len].reverse();
    let key = &key[..len];
    let kind = match key {
        b"port" | b"sport" | b"dport" | b"spt" | b"dpt" | b"srcport" | b"dstport"
        | b"sourceport" | b"destport" | b"destinationport" | b"lport" | b"rport" | b"localport"
        | b"remoteport" | b"clientport" | b"serverport" => Kind::Port,
        b"user" | b"username" | b"ruser" | b"suser" | b"duser" | b"srcuser" | b"dstuser"
        | b"acct" | b"login" | b"usr" | b"logname" | b"loginname" | b"account" | b"accountname"
        | b"targetusername" | b"subjectusername" => Kind::User,
        _ => return,
    };
    let value = kv_value(s, eq + 1);
    match kind {
        Kind::Port => {
            if let Some((p, e)) = port_at(value, 0) {
                if e == value.len() {
                    push_port(out, p);
                }
            }
        }
        Kind::User => push_user(out, value),
    }
}

enum Kind {
    Port,
    User,
}

/// The value after `=` at `v`: quoted (without the quotes) or up to a delimiter.
fn kv_value(s: &[u8], v: usize) -> &[u8] {
    let rest = s.get(v..).unwrap_or_default();
    let rest = &rest[..rest.len().min(MAX_VALUE + 2)];
    match rest.first() {
        Some(&q @ (b'"' | b'\'')) => match memchr::memchr(q, &rest[1..]) {
            Some(e) => &rest[1..1 + e],
            None => &[],
        },
        _ => {
            let e = rest
                .iter()
                .position(|&b| {
                    b.is_ascii_whitespace() || matches!(b, b',' | b';' | b')' | b']' | b'}' | b'"')
                })
                .unwrap_or(rest.len());
            &rest[..e]
        }
    }
}

/// An address given alone, as in a JSON field: `1.2.3.4`, `1.2.3.4:80`,
/// `::1`, `[::1]:80`. Returns the address and the port if one was given.
pub fn parse_addr(s: &str) -> Option<(IpAddr, Option<u16>)> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((canonical(ip), None));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once("]:")?;
        let ip: Ipv6Addr = a.parse().ok()?;
        return Some((canonical(IpAddr::V6(ip)), Some(p.parse().ok()?)));
    }
    let (a, p) = s.rsplit_once(':')?;
    let ip: Ipv4Addr = a.parse().ok()?;
    Some((IpAddr::V4(ip), Some(p.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> ParsedFields {
        let mut f = ParsedFields::default();
        extract(s.as_bytes(), &mut f);
        f
    }

    fn ips(f: &ParsedFields) -> Vec<String> {
        f.ips.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn openssh_lines() {
        let f =
            ex("Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2");
        assert_eq!(ips(&f), ["173.234.31.186"]);
        assert_eq!(f.ports, [38926]);
        assert_eq!(f.users, ["webmaster"]);

        let f = ex("Failed password for root from 5.36.59.76 port 42393 ssh2");
        assert_eq!(f.users, ["root"]);
        assert_eq!(f.ports, [42393]);

        let f = ex("Invalid user 0 from 112.95.230.3");
        assert_eq!(f.users, ["0"]);
        assert_eq!(ips(&f), ["112.95.230.3"]);

        let f = ex("input_userauth_request: invalid user webmaster [preauth]");
        assert_eq!(f.users, ["webmaster"]);

        let f = ex("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=218.65.30.43  user=root");
        assert_eq!(f.users, ["root"]);
        assert_eq!(ips(&f), ["218.65.30.43"]);
        assert!(f.ports.is_empty());

        let f = ex("reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!");
        assert_eq!(ips(&f), ["173.234.31.186"]);
        assert!(f.users.is_empty());

        let f = ex("Received disconnect from 139.59.209.18: 11: Bye Bye [preauth]");
        assert_eq!(ips(&f), ["139.59.209.18"]);
        assert!(f.ports.is_empty());

        for line in [
            "pam_unix(sshd:auth): check pass; user unknown",
            "error: Received disconnect from 103.99.0.122: 14: No more user authentication methods available. [preauth]",
            "Received disconnect from 1.2.3.4: 11: Closed due to user request. [preauth]",
        ] {
            assert!(ex(line).users.is_empty(), "{line}");
        }

        let f = ex("Accepted publickey for fztu from 119.137.62.142 port 49116 ssh2");
        assert_eq!(f.users, ["fztu"]);
        let f = ex("pam_unix(sshd:session): session opened for user fztu by (uid=0)");
        assert_eq!(f.users, ["fztu"]);
        let f = ex("Connection closed by authenticating user root 10.0.0.5 port 50022 [preauth]");
        assert_eq!(f.users, ["root"]);
        assert_eq!(f.ports, [50022]);
    }

    #[test]
    fn proxifier_lines() {
        let f = ex("chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy proxy.cse.cuhk.edu.hk:5070 HTTPS");
        assert!(f.ips.is_empty());
        assert_eq!(f.ports, [5070]);
        let f = ex("Skype.exe - 86.99.222.235:443 error : Could not connect through proxy proxy.cse.cuhk.edu.hk:5070 - Proxy closed the connection unexpectedly.");
        assert_eq!(ips(&f), ["86.99.222.235"]);
        assert_eq!(f.ports, [443, 5070]);
        let f = ex("spoolsv.exe *64 - 127.0.0.1:135 error : Could not connect");
        assert_eq!(ips(&f), ["127.0.0.1"]);
        assert_eq!(f.ports, [135]);
    }

    #[test]
    fn java_lines() {
        let f = ex("Received connection request /10.10.34.11:45307");
        assert_eq!(ips(&f), ["10.10.34.11"]);
        assert_eq!(f.ports, [45307]);
        let f = ex("[/10.10.34.11:3888:QuorumCnxManager$Listener@493] - x");
        assert_eq!(ips(&f), ["10.10.34.11"]);
        assert_eq!(f.ports, [3888]);
        let f =
            ex("[QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification");
        assert_eq!(ips(&f), ["::"]);
        assert_eq!(f.ports, [2181]);
        let f =
            ex("at org.apache.hadoop.ipc.Client.call(Client.java:1476) at x.Foo.bar(Foo.scala:12)");
        assert!(f.ports.is_empty());
    }

    #[test]
    fn not_addresses() {
        for line in [
            "version 1.2.3 released",
            "version 1.2.3.4.5 released",
            "v1.2.3.4",
            "2005-06-03-15.42.50.67 R02",
            "Dec 10 06:55:46 LabSZ",
            "MAC=00:0c:29:ab:cd:ef:00:50:56:c0:00:08:08:00",
            "at 18:01:47,978 and 03-17 16:13:38.811",
            "01.02.03.04",
            "1.2.3.256",
            "std::io::Error",
        ] {
            assert!(ex(line).ips.is_empty(), "{line}: {:?}", ex(line).ips);
        }
    }

    #[test]
    fn ipv6_forms() {
        let f = ex("from 2001:0db8:0000:0000:0000:0000:0000:0001 and [fe80::1]:8443, ::1.");
        assert_eq!(ips(&f), ["2001:db8::1", "fe80::1", "::1"]);
        assert_eq!(f.ports, [8443]);
        let f = ex("client ::ffff:10.1.2.3 connected");
        assert_eq!(ips(&f), ["10.1.2.3"]);
        let f = ex("addr=fe80::1%eth0 dead::beef:");
        assert_eq!(ips(&f), ["fe80::1", "dead::beef"]);
    }

    #[test]
    fn firewall_lines() {
        // iptables
        let f = ex("IN=eth0 OUT= MAC=00:0c:29:ab:cd:ef:00:50:56:c0:00:08:08:00 SRC=203.0.113.5 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=4242 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0");
        assert_eq!(ips(&f), ["203.0.113.5", "10.0.0.2"]);
        assert_eq!(f.ports, [51234, 22]);
        // pf via tcpdump
        let f = ex(
            "rule 0/(match) block in on em0: 198.51.100.7.51234 > 192.0.2.10.22: Flags [S], seq 1",
        );
        assert_eq!(ips(&f), ["198.51.100.7", "192.0.2.10"]);
        assert_eq!(f.ports, [51234, 22]);
        // Fortinet
        let f = ex(
            r#"date=2019-05-10 time=11:37:47 logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.1.100.11 srcport=58012 srcintf="port12" dstip=172.16.200.55 dstport=443 user="bob" action="deny""#,
        );
        assert_eq!(ips(&f), ["10.1.100.11", "172.16.200.55"]);
        assert_eq!(f.ports, [58012, 443]);
        assert_eq!(f.users, ["bob"]);
        // sudo, auditd
        let f = ex("alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls");
        assert_eq!(f.users, ["root"]);
        let f = ex(
            r#"type=USER_AUTH msg=audit(1.2:3): pid=1 uid=0 acct="carol" exe="/usr/sbin/sshd" addr=192.0.2.1 terminal=ssh res=failed"#,
        );
        assert_eq!(f.users, ["carol"]);
        assert_eq!(ips(&f), ["192.0.2.1"]);
        let f = ex("src=10.0.0.1 dst=10.0.0.2 sport=1 dport=65535 port=70000 rhost=fe80::2 client=mail[192.0.2.9]");
        assert_eq!(ips(&f), ["10.0.0.1", "10.0.0.2", "fe80::2", "192.0.2.9"]);
        assert_eq!(f.ports, [1, 65535]);
    }

    #[test]
    fn dedupes_and_caps() {
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(&format!("10.0.0.{i}:{} user={i}x 10.0.0.1 ", 1000 + i));
        }
        let f = ex(&s);
        assert_eq!(f.ips.len(), MAX_IPS);
        assert_eq!(f.ports.len(), MAX_PORTS);
        assert_eq!(f.users.len(), MAX_USERS);
        assert_eq!(ips(&f)[..3], ["10.0.0.0", "10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn words_starting_with_underscore_make_progress() {
        // Regression: `_` is a word byte but not a host byte; this looped forever.
        let f = ex("_foo.bar x __a.b:80 _.:_ _1.2.3.4");
        assert!(f.ports.is_empty());
        let f = ex("Hadoop job_1445144423722_0020.jhist 10.0.0.1:50010");
        assert_eq!(f.ports, [50010]);
    }

    #[test]
    fn parse_addr_forms() {
        assert_eq!(
            parse_addr("1.2.3.4"),
            Some(("1.2.3.4".parse().unwrap(), None))
        );
        assert_eq!(
            parse_addr("1.2.3.4:80"),
            Some(("1.2.3.4".parse().unwrap(), Some(80)))
        );
        assert_eq!(
            parse_addr("[::1]:443"),
            Some(("::1".parse().unwrap(), Some(443)))
        );
        assert_eq!(parse_addr("::1"), Some(("::1".parse().unwrap(), None)));
        assert_eq!(parse_addr("example.com"), None);
    }
}
