//! One stored record as a Sigma rule reads it: the whole line for keywords,
//! and fields by the names rules use, looked up in this order:
//!
//! 1. a JSON message's keys (`id.orig_h` as a key, else as a path);
//! 2. an access-log message (Apache/nginx common or combined format) under
//!    the W3C names web rules use: `c-ip`, `cs-method`, `c-uri`/`cs-uri`
//!    (the request target), `cs-uri-stem`, `cs-uri-query`/`c-uri-query`,
//!    `c-uri-extension`, `sc-status`, `cs-referer`,
//!    `c-useragent`/`cs-user-agent`; also `method`, `uri`, `user_agent`;
//! 3. `name=value` pairs in the message (firewalls: `src=`, `dst=`...);
//! 4. what pramaan parsed: `Hostname`/`ComputerName`/`host` (the host),
//!    `app`/`ProcessName`/`program` (the app), `User`/`user`/`username`
//!    (the first user name found).
//!
//! Names compare ignoring ASCII case. A field no source gives is absent.

use pramaan_core::ParsedFields;
use regex::Regex;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::LazyLock;

/// A record seen by rules; the lookups are done once, when first asked.
pub struct Event<'a> {
    raw: &'a [u8],
    fields: &'a ParsedFields,
    line: OnceCell<Cow<'a, str>>,
    json: OnceCell<Option<serde_json::Map<String, serde_json::Value>>>,
    web: OnceCell<Vec<(&'static str, String)>>,
    kv: OnceCell<Vec<(String, String)>>,
}

static ACCESS_LOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^(\S+) \S+ (\S+) \[[^\]]+\] "([A-Z]+) (\S+)(?: [^"]*)?" (\d{3}) \S+(?: "([^"]*)" "([^"]*)")?"#,
    )
    .expect("access-log regex")
});

static KV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[\s,;])([A-Za-z_][\w.\-]*)=(?:"([^"]*)"|([^\s,;"]*))"#).expect("kv regex")
});

impl<'a> Event<'a> {
    pub fn new(raw: &'a [u8], fields: &'a ParsedFields) -> Event<'a> {
        Event {
            raw,
            fields,
            line: OnceCell::new(),
            json: OnceCell::new(),
            web: OnceCell::new(),
            kv: OnceCell::new(),
        }
    }

    /// The whole line, for keywords.
    pub fn line(&self) -> &str {
        self.line.get_or_init(|| String::from_utf8_lossy(self.raw))
    }

    /// The message part of the line.
    fn message(&self) -> &str {
        let r = &self.fields.message;
        let line = self.line();
        if r.end <= self.raw.len() && r.start <= r.end {
            std::str::from_utf8(&self.raw[r.clone()]).unwrap_or(line)
        } else {
            line
        }
    }

    /// The app pramaan parsed (for logsource matching).
    pub fn app(&self) -> Option<&str> {
        self.fields.app.as_deref()
    }

    /// Every value of field `name` (empty: absent).
    pub fn values(&self, name: &str) -> Vec<String> {
        if let Some(obj) = self.json() {
            if let Some(v) = json_lookup(obj, name) {
                return json_values(v);
            }
        }
        let web: Vec<String> = self
            .web()
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect();
        if !web.is_empty() {
            return web;
        }
        let kv: Vec<String> = self
            .kv()
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect();
        if !kv.is_empty() {
            return kv;
        }
        let f = self.fields;
        let own = match name.to_ascii_lowercase().as_str() {
            "hostname" | "computername" | "host" => f.host.clone(),
            "app" | "processname" | "program" => f.app.clone(),
            "user" | "username" => f.users.first().cloned(),
            // The first address of the line: the client in sshd's, web
            // servers' and most appliances' lines.
            "src_ip" | "source_ip" | "sourceip" | "ipaddress" | "ip" | "clientip" => {
                f.ips.first().map(|ip| ip.to_string())
            }
            _ => None,
        };
        own.into_iter().collect()
    }

    fn json(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.json
            .get_or_init(|| {
                let m = self.message().trim_start();
                if !m.starts_with('{') {
                    return None;
                }
                match serde_json::from_str::<serde_json::Value>(m) {
                    Ok(serde_json::Value::Object(o)) => Some(o),
                    _ => None,
                }
            })
            .as_ref()
    }

    fn web(&self) -> &[(&'static str, String)] {
        self.web.get_or_init(|| access_log_fields(self.message()))
    }

    fn kv(&self) -> &[(String, String)] {
        self.kv.get_or_init(|| {
            KV.captures_iter(self.message())
                .map(|c| {
                    let v = c.get(2).or(c.get(3)).map_or("", |m| m.as_str());
                    (c[1].to_owned(), v.to_owned())
                })
                .collect()
        })
    }
}

fn json_lookup<'v>(
    obj: &'v serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'v serde_json::Value> {
    if let Some((_, v)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
        return Some(v);
    }
    let (head, rest) = name.split_once('.')?;
    match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(head))?.1 {
        serde_json::Value::Object(inner) => json_lookup(inner, rest),
        _ => None,
    }
}

fn json_values(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(json_values).collect(),
        other => vec![other.to_string()],
    }
}

fn access_log_fields(msg: &str) -> Vec<(&'static str, String)> {
    let Some(c) = ACCESS_LOG.captures(msg) else {
        return Vec::new();
    };
    let target = c[4].to_owned();
    let (stem, query) = match target.split_once('?') {
        Some((s, q)) => (s.to_owned(), q.to_owned()),
        None => (target.clone(), String::new()),
    };
    let ext = stem
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e.to_owned())
        .unwrap_or_default();
    let mut out = vec![
        ("c-ip", c[1].to_owned()),
        ("cs-username", c[2].to_owned()),
        ("cs-method", c[3].to_owned()),
        ("method", c[3].to_owned()),
        ("c-uri", target.clone()),
        ("cs-uri", target.clone()),
        ("uri", target),
        ("cs-uri-stem", stem),
        ("c-uri-extension", ext),
        ("sc-status", c[5].to_owned()),
    ];
    if !query.is_empty() {
        out.push(("cs-uri-query", query.clone()));
        out.push(("c-uri-query", query));
    }
    if let (Some(r), Some(ua)) = (c.get(6), c.get(7)) {
        out.push(("cs-referer", r.as_str().to_owned()));
        for k in ["c-useragent", "cs-user-agent", "user_agent"] {
            out.push((k, ua.as_str().to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(raw: &str, app: Option<&str>) -> ParsedFields {
        ParsedFields {
            message: 0..raw.len(),
            app: app.map(String::from),
            ..ParsedFields::default()
        }
    }

    #[test]
    fn fields_come_from_json_access_logs_pairs_and_the_parse() {
        let j = r#"{"id.orig_h":"10.0.0.1","query":"x.tk","nested":{"a":["1","2"]}}"#;
        let f = fields_of(j, None);
        let e = Event::new(j.as_bytes(), &f);
        assert_eq!(e.values("id.orig_h"), ["10.0.0.1"]);
        assert_eq!(e.values("nested.a"), ["1", "2"]);
        assert!(e.values("absent").is_empty());

        let a = r#"10.1.1.1 - bob [06/Dec/2026:10:00:00 +0530] "GET /a/b.php?cmd=id HTTP/1.1" 200 512 "-" "curl/8.0""#;
        let f = fields_of(a, None);
        let e = Event::new(a.as_bytes(), &f);
        assert_eq!(e.values("cs-method"), ["GET"]);
        assert_eq!(e.values("c-uri-query"), ["cmd=id"]);
        assert_eq!(e.values("c-uri-extension"), ["php"]);
        assert_eq!(e.values("sc-status"), ["200"]);
        assert_eq!(e.values("c-useragent"), ["curl/8.0"]);

        let k = r#"action=deny src=10.0.0.9 dst="192.168.1.1" dpt=22"#;
        let f = fields_of(k, Some("fw"));
        let e = Event::new(k.as_bytes(), &f);
        assert_eq!(e.values("SRC"), ["10.0.0.9"]);
        assert_eq!(e.values("dst"), ["192.168.1.1"]);
        assert_eq!(e.values("app"), ["fw"]);
    }
}
