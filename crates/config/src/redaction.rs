//! Credentials out of anything recorded or shown: the one function every
//! place that writes a setting's value down (`pramaan config`,
//! `config.applied`, the `config.changed` ledger record, error messages,
//! logs) passes it through.

/// What a hidden credential is replaced with.
pub const REDACTED: &str = "***";

/// `text` with the credentials it may carry replaced by [`REDACTED`]:
///
/// - the password of a URL's user information
///   (`postgres://u:secretpw@host/db` → `postgres://u:***@host/db`);
/// - the value of a URL query parameter or of a `key=value` connection
///   string word (`host=db password=x`) whose name says it is a secret
///   (`password`, `sslpassword`, `pass`, `pwd`, `secret`, `token`, `key`, ...).
///
/// Text with neither comes back unchanged.
pub fn redact(text: &str) -> String {
    let mut out = redact_userinfo(text);
    out = redact_params(&out);
    out
}

/// Hides the password of every `scheme://user:password@` in `text`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?' or '#' (or whitespace).
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon + 1]);
                        out.push_str(REDACTED);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Whether a parameter named `name` holds a secret.
pub(crate) fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Hides the value of every `name=value` whose name is a secret's, where
/// the pair follows `?`, `&`, `;`, whitespace or the start of the text.
fn redact_params(text: &str) -> String {
    let sep = |c: u8| matches!(c, b'?' | b'&' | b';') || c.is_ascii_whitespace();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // `text[copied..]` is not in `out` yet.
    let mut copied = 0;
    let mut word_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if sep(c) {
            word_start = i + 1;
        } else if c == b'=' && i > word_start && secret_name(&text[word_start..i]) {
            out.push_str(&text[copied..=i]);
            out.push_str(REDACTED);
            // Skip the value, up to the next separator.
            let mut j = i + 1;
            while j < bytes.len() && !sep(bytes[j]) && bytes[j] != b'#' {
                j += 1;
            }
            copied = j;
            word_start = j;
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// A TOML value with the values of secret-named table fields replaced by
/// [`REDACTED`] (a `[[radius.clients]]` entry with a `secret = "..."` field
/// written by mistake must not be echoed by the error that refuses it).
/// Fields naming where a secret is (`*_file`, `*_env`) are kept.
pub(crate) fn redact_toml(v: &toml::Value) -> toml::Value {
    match v {
        toml::Value::Array(items) => toml::Value::Array(items.iter().map(redact_toml).collect()),
        toml::Value::Table(t) => toml::Value::Table(
            t.iter()
                .map(|(k, v)| {
                    let hide = secret_name(k) && !k.ends_with("_file") && !k.ends_with("_env");
                    let v = if hide {
                        toml::Value::String(REDACTED.to_owned())
                    } else {
                        redact_toml(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        toml::Value::String(s) => toml::Value::String(redact(s)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_url_passwords_and_secret_parameters() {
        assert_eq!(
            redact("postgres://u:secretpw@127.0.0.1:5432/test"),
            "postgres://u:***@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact("postgresql://u:p%40ss@db/x?sslmode=require&password=hunter2"),
            "postgresql://u:***@db/x?sslmode=require&password=***"
        );
        assert_eq!(
            redact("host=db user=u password=hunter2 dbname=x"),
            "host=db user=u password=*** dbname=x"
        );
        assert_eq!(
            redact("https://hooks.example/x?token=abc&x=1"),
            "https://hooks.example/x?token=***&x=1"
        );
        // Nothing secret: unchanged.
        for plain in [
            "",
            "postgres://u@127.0.0.1/db",
            "sqlite:/var/lib/pramaan/registry.db",
            "file:///var/lib/x",
            "127.0.0.1:8080",
            "a=b",
        ] {
            assert_eq!(redact(plain), plain);
        }
        // A password with '@' in it: everything before the last '@' of the authority is hidden.
        assert!(!redact("postgres://u:se@cret@h/db").contains("se@cret"));
    }
}
