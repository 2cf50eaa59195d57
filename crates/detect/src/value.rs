//! One value of a search identifier and its modifiers (`|contains`,
//! `|startswith`, `|endswith`, `|all`, `|re`, `|cidr`, `|cased`,
//! `|exists`), compiled once into what matches a field's text.
//!
//! As Sigma says: a plain value matches the whole field, `*` any run of
//! characters and `?` one (`\*`, `\?`, `\\` escape them), ignoring case
//! unless `|cased`; `|re` is a regular expression, case-sensitive (`|i`
//! makes it not); `|cidr` an address inside a network; `null` an absent or
//! empty field.

use regex::Regex;
use std::net::IpAddr;

/// The modifiers after a field name, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Modifiers {
    pub contains: bool,
    pub startswith: bool,
    pub endswith: bool,
    pub all: bool,
    pub re: bool,
    pub re_i: bool,
    pub re_m: bool,
    pub re_s: bool,
    pub cidr: bool,
    pub cased: bool,
    pub exists: bool,
}

impl Modifiers {
    /// `names` in order; `Err(name)` for one this engine does not know.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Modifiers, String> {
        let mut m = Modifiers::default();
        for n in names {
            match n {
                "contains" => m.contains = true,
                "startswith" => m.startswith = true,
                "endswith" => m.endswith = true,
                "all" => m.all = true,
                "re" => m.re = true,
                "i" => m.re_i = true,
                "m" => m.re_m = true,
                "s" => m.re_s = true,
                "cidr" => m.cidr = true,
                "cased" => m.cased = true,
                "exists" => m.exists = true,
                other => return Err(other.to_owned()),
            }
        }
        Ok(m)
    }
}

/// A compiled value.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// Matches the field's whole text.
    Text(Regex),
    /// The field's text is an address inside the network.
    Cidr { net: u128, bits: u8, v4: bool },
    /// The field is absent or empty (`null`).
    Null,
    /// `|exists: true/false`.
    Exists(bool),
}

impl Pattern {
    /// The pattern of `value` under `m`; `Err` says why it cannot be one.
    pub fn compile(value: Option<&str>, m: &Modifiers) -> Result<Pattern, String> {
        if m.exists {
            return match value {
                Some("true") => Ok(Pattern::Exists(true)),
                Some("false") => Ok(Pattern::Exists(false)),
                other => Err(format!("`|exists` takes true or false, not {other:?}")),
            };
        }
        let Some(v) = value else {
            return Ok(Pattern::Null);
        };
        if m.cidr {
            return cidr(v).ok_or_else(|| format!("`{v}` is not a network like 10.0.0.0/8"));
        }
        if m.re {
            let flags: String = [(m.re_i, 'i'), (m.re_m, 'm'), (m.re_s, 's')]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, c)| *c)
                .collect();
            let src = if flags.is_empty() {
                v.to_owned()
            } else {
                format!("(?{flags}){v}")
            };
            return Regex::new(&src)
                .map(Pattern::Text)
                .map_err(|e| format!("`{v}` is not a regular expression: {e}"));
        }
        let mut glob = glob_regex(v);
        if m.contains || m.endswith {
            glob.insert_str(0, ".*");
        }
        if m.contains || m.startswith {
            glob.push_str(".*");
        }
        let case = if m.cased { "" } else { "(?i)" };
        Regex::new(&format!("{case}(?s)\\A(?:{glob})\\z"))
            .map(Pattern::Text)
            .map_err(|e| format!("`{v}`: {e}"))
    }

    /// Whether a field with these values (none: absent) matches.
    pub fn matches(&self, values: &[&str]) -> bool {
        match self {
            Pattern::Null => values.iter().all(|v| v.is_empty()),
            Pattern::Exists(want) => values.iter().any(|v| !v.is_empty()) == *want,
            Pattern::Text(re) => values.iter().any(|v| re.is_match(v)),
            Pattern::Cidr { net, bits, v4 } => values.iter().any(|v| {
                v.parse::<IpAddr>()
                    .ok()
                    .and_then(|a| addr_bits(a, *v4))
                    .is_some_and(|a| mask(a, *bits, *v4) == *net)
            }),
        }
    }
}

/// A Sigma value with `*`, `?` and their escapes as a regex (unanchored).
fn glob_regex(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                let n = chars.next().expect("peeked");
                out.push_str(&regex::escape(&n.to_string()));
            }
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

fn addr_bits(a: IpAddr, v4: bool) -> Option<u128> {
    match (a.to_canonical(), v4) {
        (IpAddr::V4(a), true) => Some(u128::from(u32::from(a))),
        (IpAddr::V6(a), false) => Some(u128::from(a)),
        _ => None,
    }
}

fn mask(a: u128, bits: u8, v4: bool) -> u128 {
    let width = if v4 { 32 } else { 128 };
    if bits == 0 {
        0
    } else {
        let keep = width - u32::from(bits);
        (a >> keep) << keep
    }
}

fn cidr(v: &str) -> Option<Pattern> {
    let (addr, bits) = v.split_once('/').unwrap_or((v, ""));
    let a: IpAddr = addr.trim().parse().ok()?;
    let v4 = a.is_ipv4();
    let width = if v4 { 32 } else { 128 };
    let bits: u8 = if bits.is_empty() {
        width
    } else {
        bits.trim().parse().ok()?
    };
    if bits > width {
        return None;
    }
    let net = mask(addr_bits(a, v4)?, bits, v4);
    Some(Pattern::Cidr { net, bits, v4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mods: &[&str]) -> Modifiers {
        Modifiers::parse(mods.iter().copied()).unwrap()
    }

    fn hit(value: &str, mods: &[&str], field: &str) -> bool {
        Pattern::compile(Some(value), &m(mods))
            .unwrap()
            .matches(&[field])
    }

    #[test]
    fn values_match_as_sigma_says() {
        assert!(hit("sshd", &[], "SSHD"));
        assert!(!hit("sshd", &["cased"], "SSHD"));
        assert!(!hit("sshd", &[], "sshd2"));
        assert!(hit("*.php", &[], "/x/index.PHP"));
        assert!(hit("a?c", &[], "abc"));
        assert!(hit(r"a\*c", &[], "a*c") && !hit(r"a\*c", &[], "abc"));
        assert!(hit("wget ", &["contains"], "sh -c 'wget http://x'"));
        assert!(hit("/etc/", &["startswith"], "/etc/passwd"));
        assert!(hit(".sh", &["endswith"], "run.sh") && !hit(".sh", &["endswith"], "run.shx"));
        assert!(hit("^GET /a+$", &["re"], "GET /aaa") && !hit("^get", &["re"], "GET"));
        assert!(hit("^get", &["re", "i"], "GET"));
        assert!(
            hit("10.0.0.0/8", &["cidr"], "10.200.1.1") && !hit("10.0.0.0/8", &["cidr"], "11.0.0.1")
        );
        assert!(
            hit("2001:db8::/32", &["cidr"], "2001:db8::1")
                && !hit("2001:db8::/32", &["cidr"], "10.0.0.1")
        );
        assert!(Pattern::compile(None, &m(&[])).unwrap().matches(&[]));
        assert!(Pattern::compile(Some("true"), &m(&["exists"]))
            .unwrap()
            .matches(&["x"]));
        assert!(!Pattern::compile(Some("true"), &m(&["exists"]))
            .unwrap()
            .matches(&[]));
    }

    #[test]
    fn unknown_modifiers_and_bad_values_are_named() {
        assert_eq!(
            Modifiers::parse(["contains", "base64offset"]),
            Err("base64offset".into())
        );
        assert!(Pattern::compile(Some("10.0.0.0/33"), &m(&["cidr"])).is_err());
        assert!(Pattern::compile(Some("(unclosed"), &m(&["re"])).is_err());
    }
}
