//! Reading one raw line: RFC 5424, RFC 3164 (with or without `<PRI>`), a JSON
//! object, or anything else as a plain message. Never fails; the raw bytes
//! are the evidence and these fields only help to find them.
//!
//! Which grammar applies is decided by the first bytes:
//!
//! * `<` and a digit: the line claims a syslog header. A bad PRI (not 1-3
//!   digits closed by `>`, or above 191) sets `parse_error`; the format is
//!   then [`Format::Raw`] and the message is the whole line.
//!   * `<PRI>1 `: RFC 5424. Each header field is one SP-delimited token, so a
//!     bad one (an impossible date, an empty field) sets `parse_error` and
//!     parsing goes on with the next; a header that ends early or broken
//!     structured data sets `parse_error` and the message is the rest of
//!     the line from there.
//!   * otherwise RFC 3164: a BSD stamp (`Mmm dd hh:mm:ss`) or an RFC 3339
//!     stamp (rsyslog's high-precision template), HOST, `TAG[PID]:`. With no
//!     stamp at all the rest of the line is the message and there is no error
//!     (RFC 3164 §4.3.3 allows it); an impossible stamp sets `parse_error`.
//! * First non-blank byte `{`: a JSON object ([`Format::Json`]). If it does
//!   not parse, the line is [`Format::Raw`]; `parse_error` is set only if it
//!   also ends with `}` (then it claimed to be JSON).
//! * A BSD stamp at the start without `<PRI>` (files written by syslog
//!   daemons: `Dec 10 06:55:46 LabSZ sshd[24200]: ...`): RFC 3164. An RFC 3339
//!   stamp at the start is RFC 3164 only if HOST and `TAG:` follow.
//! * Anything else: [`Format::Raw`], the whole line is the message, no
//!   `parse_error`. A few common leading stamps give an event time (zone
//!   assumed): `2015-10-18 18:01:47,978`, `[Sun Dec 04 04:47:44 2005]`,
//!   `081109 203615`, `17/06/09 20:10:40`.
//!
//! Stamps without a zone are read at `ctx.default_offset_secs` and marked
//! `zone_assumed`. Trailing CR, LF and NUL bytes are not part of the message
//! range (they stay in the raw bytes). Addresses, ports and users are then
//! extracted from the message ([`crate::extract`]).

use crate::extract::{self, parse_addr, push_ip, push_port, push_user};
use crate::stamp::{self, Civil, IsoRules};
use crate::{EventTime, Format, ParseContext, ParsedFields};
use serde_json::{Number, Value};
use std::ops::Range;

/// Longest HOSTNAME, APP-NAME, PROCID or MSGID kept (RFC 5424's largest, HOSTNAME's, for all).
const MAX_FIELD: usize = 255;
/// RFC 3164 TAG.
const MAX_TAG: usize = 48;
/// RFC 5424 PROCID.
const MAX_PID: usize = 128;
/// How much of a bad token an error message quotes.
const MAX_QUOTED: usize = 40;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Derives search fields from one raw line. Never fails.
pub fn parse_line(raw: &[u8], ctx: &ParseContext) -> ParsedFields {
    let end = content_end(raw);
    let line = &raw[..end];
    let mut f = ParsedFields {
        message: 0..end,
        ..Default::default()
    };
    let first = line.iter().position(|&b| b != b' ' && b != b'\t');
    match first.map(|p| (p, line[p])) {
        Some((0, b'<')) if line.get(1).is_some_and(u8::is_ascii_digit) => {
            with_pri(line, ctx, &mut f)
        }
        Some((p, b'{')) => {
            if json(line, p, ctx, &mut f) {
                return f;
            }
        }
        _ => without_pri(line, ctx, &mut f),
    }
    debug_assert!(f.message.start <= f.message.end && f.message.end <= raw.len());
    extract::extract(&raw[f.message.clone()], &mut f);
    f
}

/// Length of `raw` without trailing CR, LF and NUL.
fn content_end(raw: &[u8]) -> usize {
    raw.iter()
        .rposition(|&b| !matches!(b, b'\r' | b'\n' | 0))
        .map_or(0, |p| p + 1)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A token for an error message, cut short.
fn quoted(b: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(&b[..b.len().min(MAX_QUOTED)]).into_owned();
    if b.len() > MAX_QUOTED {
        s.push('…');
    }
    s
}

/// Keeps the first error: it is the cause, later ones are consequences.
fn fail(f: &mut ParsedFields, why: String) {
    if f.parse_error.is_none() {
        f.parse_error = Some(why);
    }
}

// ---- <PRI> ------------------------------------------------------------------

/// `<PRI>` at the start of `line` (which starts `<` digit): the value and the
/// length consumed.
fn pri(line: &[u8]) -> Result<(u8, usize), String> {
    let mut v: u32 = 0;
    let mut k = 1;
    while let Some(d) = line.get(k).and_then(|&b| stamp::digit(b)) {
        if k == 4 {
            return Err("syslog PRI has more than 3 digits".into());
        }
        v = v * 10 + u32::from(d);
        k += 1;
    }
    if line.get(k) != Some(&b'>') {
        return Err("syslog PRI is not closed by `>`".into());
    }
    if v > 191 {
        return Err(format!(
            "syslog PRI {v} is above 191 (facility 23, severity 7)"
        ));
    }
    Ok((v as u8, k + 1))
}

fn with_pri(line: &[u8], ctx: &ParseContext, f: &mut ParsedFields) {
    let (pri, p) = match pri(line) {
        Ok(v) => v,
        Err(why) => {
            f.parse_error = Some(why);
            return;
        }
    };
    f.facility = Some(pri >> 3);
    f.severity = Some(pri & 7);
    let rest = &line[p..];
    if rest.starts_with(b"1 ") || rest == b"1" {
        rfc5424(line, p + 2, ctx, f);
    } else {
        rfc3164(line, p, ctx, true, f);
    }
}

// ---- RFC 5424 -----------------------------------------------------------------

/// The SP-delimited token at `pos`: its range and where the next one starts.
fn token(line: &[u8], pos: usize) -> Option<(Range<usize>, usize)> {
    if pos >= line.len() {
        return None;
    }
    match memchr::memchr(b' ', &line[pos..]) {
        Some(k) => Some((pos..pos + k, pos + k + 1)),
        None => Some((pos..line.len(), line.len())),
    }
}

/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]`,
/// from the TIMESTAMP at `pos`.
fn rfc5424(line: &[u8], pos: usize, ctx: &ParseContext, f: &mut ParsedFields) {
    f.format = Format::Rfc5424;
    let header_start = pos.min(line.len());
    let mut pos = pos;
    const NAMES: [&str; 5] = ["TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID", "MSGID"];
    for (n, name) in NAMES.iter().enumerate() {
        let Some((r, next)) = token(line, pos) else {
            fail(f, format!("RFC 5424 header ends before {name}"));
            f.message = header_start..line.len();
            return;
        };
        pos = next;
        let tok = &line[r];
        if tok == b"-" {
            continue;
        }
        if tok.is_empty() {
            fail(f, format!("RFC 5424 {name} is empty (two spaces in a row)"));
            continue;
        }
        if n == 0 {
            timestamp_5424(tok, ctx, f);
            continue;
        }
        if tok.len() > MAX_FIELD {
            fail(
                f,
                format!("RFC 5424 {name} is longer than {MAX_FIELD} bytes"),
            );
            continue;
        }
        let v = Some(lossy(tok));
        match n {
            1 => f.host = v,
            2 => f.app = v,
            3 => f.procid = v,
            _ => f.msgid = v,
        }
    }
    match line.get(pos) {
        None => {
            fail(f, "RFC 5424 header ends before STRUCTURED-DATA".into());
            f.message = header_start..line.len();
            return;
        }
        Some(b'-') => pos += 1,
        Some(b'[') => match sd_end(line, pos) {
            Ok(e) => {
                f.structured_data = Some(lossy(&line[pos..e]));
                pos = e;
            }
            Err(why) => {
                fail(f, format!("RFC 5424 STRUCTURED-DATA: {why}"));
                f.message = pos..line.len();
                return;
            }
        },
        Some(_) => {
            fail(
                f,
                "RFC 5424 STRUCTURED-DATA is neither `-` nor `[...]`".into(),
            );
            f.message = pos..line.len();
            return;
        }
    }
    let mut start = match line.get(pos) {
        None => line.len(),
        Some(b' ') => pos + 1,
        Some(_) => {
            fail(
                f,
                "RFC 5424 STRUCTURED-DATA is not followed by a space".into(),
            );
            pos
        }
    };
    if line[start..].starts_with(BOM) {
        start += BOM.len();
    }
    f.message = start..line.len();
}

fn timestamp_5424(tok: &[u8], ctx: &ParseContext, f: &mut ParsedFields) {
    match stamp::iso(tok, stamp::RFC3339) {
        Some((c, zone, n)) if n == tok.len() => {
            match stamp::iso_to_utc(&c, zone, ctx.default_offset_secs) {
                Ok((utc_ns, offset_secs, zone_assumed)) => {
                    f.event_time = Some(EventTime {
                        utc_ns,
                        offset_secs,
                        zone_assumed,
                    })
                }
                Err(e) => fail(
                    f,
                    format!("RFC 5424 TIMESTAMP `{}`: {e}", quoted(tok)),
                ),
            }
        }
        _ => fail(
            f,
            format!(
                "RFC 5424 TIMESTAMP `{}` is not RFC 3339 (YYYY-MM-DDThh:mm:ss[.fraction]Z or ±hh:mm)",
                quoted(tok)
            ),
        ),
    }
}

/// End of the SD-ELEMENTs starting at the `[` at `pos`. Checks structure
/// only: `[ID param="value" ...]`, values quoted, `\"` `\\` `\]` escapes.
fn sd_end(line: &[u8], pos: usize) -> Result<usize, &'static str> {
    let n = line.len();
    let name_end = |mut i: usize| {
        while i < n && !matches!(line[i], b' ' | b'=' | b']' | b'"') {
            i += 1;
        }
        i
    };
    let mut i = pos;
    while line.get(i) == Some(&b'[') {
        let id = i + 1;
        i = name_end(id);
        if i == id {
            return Err("empty SD-ID");
        }
        loop {
            match line.get(i) {
                None => return Err("SD-ELEMENT is not closed by `]`"),
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => {
                    let name = i + 1;
                    i = name_end(name);
                    if i == name {
                        return Err("empty PARAM-NAME");
                    }
                    if line.get(i) != Some(&b'=') || line.get(i + 1) != Some(&b'"') {
                        return Err("PARAM-NAME is not followed by =\"");
                    }
                    i += 2;
                    // The value, up to the first unescaped quote.
                    loop {
                        match memchr::memchr2(b'"', b'\\', &line[i..]) {
                            None => return Err("PARAM-VALUE is not closed by `\"`"),
                            Some(k) if line[i + k] == b'\\' => i += k + 2,
                            Some(k) => {
                                i += k + 1;
                                break;
                            }
                        }
                        if i > n {
                            return Err("PARAM-VALUE is not closed by `\"`");
                        }
                    }
                }
                Some(_) => return Err("expected a space or `]` after SD-ID or PARAM-VALUE"),
            }
        }
    }
    Ok(i)
}

// ---- RFC 3164 -----------------------------------------------------------------

/// Stamp forms accepted in place of the BSD one: RFC 3339 as rsyslog writes
/// it; a missing zone is assumed.
const ISO_3164: IsoRules = IsoRules {
    space_sep: false,
    comma_frac: false,
    zone_required: false,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stamp3164 {
    Bsd,
    Iso,
    None,
}

/// RFC 3164 from `p` (after the PRI if any). Without a PRI the line must
/// start with a stamp (and, for an RFC 3339 one, have HOST and TAG); returns
/// false, having changed nothing, if it does not.
fn rfc3164(
    line: &[u8],
    p: usize,
    ctx: &ParseContext,
    with_pri: bool,
    f: &mut ParsedFields,
) -> bool {
    let rest = &line[p..];
    let mut time: Option<Result<EventTime, String>> = None;
    let mut kind = Stamp3164::None;
    let mut pos = p;
    let followed_ok = |n: usize| matches!(rest.get(n), None | Some(b' '));
    if let Some((c, has_year, n)) = stamp::bsd(rest).filter(|s| followed_ok(s.2)) {
        let off = ctx.default_offset_secs;
        let ns = if has_year {
            c.to_utc_ns(off)
        } else {
            stamp::infer_year(c, ctx.received_at_ns, off)
        };
        time = Some(
            ns.map(|utc_ns| EventTime {
                utc_ns,
                offset_secs: off,
                zone_assumed: true,
            })
            .map_err(|e| format!("RFC 3164 TIMESTAMP `{}`: {e}", quoted(&rest[..n]))),
        );
        kind = Stamp3164::Bsd;
        pos = p + n + 1;
    } else if let Some((c, zone, n)) = stamp::iso(rest, ISO_3164).filter(|s| followed_ok(s.2)) {
        time = Some(
            stamp::iso_to_utc(&c, zone, ctx.default_offset_secs)
                .map(|(utc_ns, offset_secs, zone_assumed)| EventTime {
                    utc_ns,
                    offset_secs,
                    zone_assumed,
                })
                .map_err(|e| format!("RFC 3164 TIMESTAMP `{}`: {e}", quoted(&rest[..n]))),
        );
        kind = Stamp3164::Iso;
        pos = p + n + 1;
    } else if !with_pri {
        return false;
    }
    let mut host = None;
    let mut tag = None;
    let mut msg_start = pos.min(line.len());
    if kind != Stamp3164::None {
        // HOST, unless the first token is already the TAG (senders that omit HOST).
        if let Some((r, next)) = token(line, pos) {
            let tok = &line[r.clone()];
            let tag_like = tok.ends_with(b":") || tok.contains(&b'[');
            if !tag_like && !tok.is_empty() && tok.len() <= MAX_FIELD {
                host = Some(r);
                pos = next;
            }
        }
        tag = tag_3164(line, pos);
        msg_start = match &tag {
            Some(t) => t.msg_start,
            None => pos.min(line.len()),
        };
        if !with_pri && kind == Stamp3164::Iso && (host.is_none() || tag.is_none()) {
            return false;
        }
    }
    f.format = Format::Rfc3164;
    match time {
        Some(Ok(t)) => f.event_time = Some(t),
        Some(Err(why)) => fail(f, why),
        None => {}
    }
    f.host = host.map(|r| lossy(&line[r]));
    if let Some(t) = tag {
        f.app = Some(lossy(&line[t.app]));
        f.procid = t.pid.map(|r| lossy(&line[r]));
    }
    f.message = msg_start..line.len();
    true
}

struct Tag {
    app: Range<usize>,
    pid: Option<Range<usize>>,
    msg_start: usize,
}

fn is_tag_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-' | b'@' | b'#')
}

/// `TAG[PID]: ` or `TAG: ` at `pos`.
fn tag_3164(line: &[u8], pos: usize) -> Option<Tag> {
    let n = line.len();
    let mut k = pos;
    while k < n && is_tag_char(line[k]) {
        k += 1;
        if k - pos > MAX_TAG {
            return None;
        }
    }
    if k == pos {
        return None;
    }
    let app = pos..k;
    let mut pid = None;
    if line.get(k) == Some(&b'[') {
        let lim = (k + 2 + MAX_PID).min(n);
        let close = k + 1 + memchr::memchr(b']', &line[k + 1..lim])?;
        if close == k + 1 {
            return None;
        }
        pid = Some(k + 1..close);
        k = close + 1;
        if line.get(k) == Some(&b':') {
            k += 1;
        }
    } else if line.get(k) == Some(&b':') {
        k += 1;
    } else {
        return None;
    }
    match line.get(k) {
        None => {}
        Some(b' ') => k += 1,
        Some(_) => return None,
    }
    Some(Tag {
        app,
        pid,
        msg_start: k,
    })
}

// ---- no PRI -------------------------------------------------------------------

fn without_pri(line: &[u8], ctx: &ParseContext, f: &mut ParsedFields) {
    let may_be_stamp = line.first().is_some_and(u8::is_ascii_alphanumeric);
    if may_be_stamp && rfc3164(line, 0, ctx, false, f) {
        return;
    }
    f.format = Format::Raw;
    raw_stamp(line, ctx, f);
}

/// An event time from a common leading stamp of a non-syslog line. Quietly
/// nothing if there is none or it is impossible: a plain line is not an error.
fn raw_stamp(line: &[u8], ctx: &ParseContext, f: &mut ParsedFields) {
    let found: Option<(Civil, Option<i32>)> = match line.first() {
        Some(b'[') => stamp::apache(line).map(|(c, _)| (c, None)),
        Some(b'0'..=b'9') => stamp::iso(line, stamp::LENIENT)
            .map(|(c, z, _)| (c, z))
            .or_else(|| stamp::compact(line).map(|(c, _)| (c, None)))
            .or_else(|| stamp::slashed(line).map(|(c, _)| (c, None))),
        _ => None,
    };
    if let Some((c, zone)) = found {
        if let Ok((utc_ns, offset_secs, zone_assumed)) =
            stamp::iso_to_utc(&c, zone, ctx.default_offset_secs)
        {
            f.event_time = Some(EventTime {
                utc_ns,
                offset_secs,
                zone_assumed,
            });
        }
    }
}

// ---- JSON -----------------------------------------------------------------------

/// A JSON object line. Returns true if it was one (fields and extraction
/// done); false leaves a [`Format::Raw`] line for the caller to finish.
fn json(line: &[u8], start: usize, ctx: &ParseContext, f: &mut ParsedFields) -> bool {
    let map = match serde_json::from_slice::<Value>(&line[start..]) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return false,
        Err(e) => {
            if line.ends_with(b"}") {
                f.parse_error = Some(format!("invalid JSON: {e}"));
            }
            return false;
        }
    };
    f.format = Format::Json;
    let mut best = Best::default();
    for (k, v) in &map {
        json_field(k, None, v, &mut best, f);
        if let Value::Object(inner) = v {
            if NESTED.iter().any(|p| k.eq_ignore_ascii_case(p)) {
                for (k2, v2) in inner {
                    json_field(k2, Some(k), v2, &mut best, f);
                }
            }
        }
    }
    best.apply(line, ctx, f);
    true
}

/// Objects whose members are looked into (ECS and similar: `host.name`, `source.ip`).
const NESTED: [&str; 10] = [
    "host",
    "source",
    "destination",
    "client",
    "server",
    "user",
    "log",
    "service",
    "process",
    "event",
];

#[derive(Default)]
struct Best<'a> {
    message: Option<(u8, &'a str)>,
    host: Option<(u8, &'a str)>,
    app: Option<(u8, &'a str)>,
    time: Option<(u8, &'a Value)>,
    severity: Option<(u8, &'a Value)>,
    facility: Option<(u8, &'a Value)>,
    procid: Option<(u8, &'a Value)>,
    msgid: Option<(u8, &'a str)>,
}

/// Keeps `v` if it ranks better (lower) than what `slot` holds.
fn rank<T>(slot: &mut Option<(u8, T)>, r: u8, v: T) {
    if slot.as_ref().is_none_or(|(old, _)| r < *old) {
        *slot = Some((r, v));
    }
}

fn json_field<'a>(
    key: &str,
    parent: Option<&str>,
    v: &'a Value,
    best: &mut Best<'a>,
    f: &mut ParsedFields,
) {
    let mut buf = [0u8; 48];
    let Some(key) = lowercase_path(&mut buf, parent, key) else {
        return;
    };
    let Some((field, r)) = json_key(key) else {
        return;
    };
    let s = v.as_str();
    match field {
        JsonField::Message => s.into_iter().for_each(|s| rank(&mut best.message, r, s)),
        JsonField::Host => s.into_iter().for_each(|s| rank(&mut best.host, r, s)),
        JsonField::App => s.into_iter().for_each(|s| rank(&mut best.app, r, s)),
        JsonField::Msgid => s.into_iter().for_each(|s| rank(&mut best.msgid, r, s)),
        JsonField::Time => rank(&mut best.time, r, v),
        JsonField::Severity => rank(&mut best.severity, r, v),
        JsonField::Facility => rank(&mut best.facility, r, v),
        JsonField::Procid => rank(&mut best.procid, r, v),
        JsonField::Ip => json_ips(v, f),
        JsonField::Port => {
            if let Some(p) = json_u64(v).and_then(|p| u16::try_from(p).ok()) {
                push_port(f, p);
            }
        }
        JsonField::User => {
            if let Some(s) = s {
                push_user(f, s.as_bytes());
            }
        }
    }
}

/// `parent.key`, lowercased into `buf` without allocating; `None` when it
/// does not fit (no key that long is recognised).
fn lowercase_path<'b>(buf: &'b mut [u8; 48], parent: Option<&str>, key: &str) -> Option<&'b [u8]> {
    let mut len = 0;
    for part in parent.into_iter().chain(std::iter::once(key)) {
        if len > 0 {
            if len == buf.len() {
                return None;
            }
            buf[len] = b'.';
            len += 1;
        }
        if len + part.len() > buf.len() {
            return None;
        }
        for &b in part.as_bytes() {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
    }
    Some(&buf[..len])
}

/// What a JSON member holds, by its (lowercased, dotted) key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonField {
    Message,
    Host,
    App,
    Time,
    Severity,
    Facility,
    Procid,
    Msgid,
    /// Every one is extracted (no ranking): addresses, ports, users.
    Ip,
    Port,
    User,
}

/// The field a key names and its rank among that field's keys (lower wins
/// when a line has several). The ranked fields keep one value; addresses,
/// ports and users are all extracted, so their rank is 0.
fn json_key(key: &[u8]) -> Option<(JsonField, u8)> {
    use JsonField::*;
    Some(match key {
        b"message" => (Message, 0),
        b"msg" => (Message, 1),
        b"@message" => (Message, 2),
        b"log" => (Message, 3),
        b"short_message" => (Message, 4),
        b"full_message" => (Message, 5),
        b"host" => (Host, 0),
        b"hostname" => (Host, 1),
        b"host.name" => (Host, 2),
        b"host.hostname" => (Host, 3),
        b"_hostname" | b"syslog_hostname" => (Host, 4),
        b"app" => (App, 0),
        b"appname" => (App, 1),
        b"app_name" => (App, 2),
        b"program" => (App, 3),
        b"service" => (App, 4),
        b"service.name" => (App, 5),
        b"syslog_identifier" => (App, 6),
        b"process.name" => (App, 7),
        b"application" => (App, 8),
        b"@timestamp" => (Time, 0),
        b"timestamp" => (Time, 1),
        b"time" => (Time, 2),
        b"ts" => (Time, 3),
        b"datetime" => (Time, 4),
        b"date" => (Time, 5),
        b"__realtime_timestamp" => (Time, 6),
        b"event.created" => (Time, 7),
        b"severity" => (Severity, 0),
        b"level" => (Severity, 1),
        b"log.level" => (Severity, 2),
        b"loglevel" => (Severity, 3),
        b"lvl" => (Severity, 4),
        b"priority" => (Severity, 5),
        b"severity_text" => (Severity, 6),
        b"facility" => (Facility, 0),
        b"syslog_facility" => (Facility, 1),
        b"procid" => (Procid, 0),
        b"pid" => (Procid, 1),
        b"process.pid" => (Procid, 2),
        b"_pid" => (Procid, 3),
        b"msgid" => (Msgid, 0),
        b"src_ip"
        | b"dst_ip"
        | b"client_ip"
        | b"remote_addr"
        | b"remote_ip"
        | b"ip"
        | b"src"
        | b"dst"
        | b"srcip"
        | b"dstip"
        | b"clientip"
        | b"ip_address"
        | b"src_addr"
        | b"dst_addr"
        | b"source.ip"
        | b"source.address"
        | b"destination.ip"
        | b"destination.address"
        | b"client.ip"
        | b"client.address"
        | b"server.ip"
        | b"host.ip"
        | b"remoteaddr"
        | b"peer" => (Ip, 0),
        b"sport" | b"dport" | b"src_port" | b"dst_port" | b"srcport" | b"dstport" | b"port"
        | b"remote_port" | b"local_port" | b"source.port" | b"destination.port"
        | b"client.port" | b"server.port" => (Port, 0),
        b"user" | b"username" | b"user_name" | b"user.name" | b"usr" | b"login" | b"src_user"
        | b"dst_user" | b"account" => (User, 0),
        _ => return None,
    })
}

fn json_ips(v: &Value, f: &mut ParsedFields) {
    match v {
        Value::String(s) => {
            if let Some((ip, port)) = parse_addr(s) {
                push_ip(f, ip);
                if let Some(p) = port {
                    push_port(f, p);
                }
            }
        }
        Value::Array(a) => {
            for v in a.iter().take(extract::MAX_IPS) {
                if let Value::String(_) = v {
                    json_ips(v, f);
                }
            }
        }
        _ => {}
    }
}

/// A non-negative integer, given as a number or a string of digits.
fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Best<'_> {
    fn apply(&self, line: &[u8], ctx: &ParseContext, f: &mut ParsedFields) {
        f.host = self.host.map(|(_, s)| s.to_owned());
        f.app = self.app.map(|(_, s)| s.to_owned());
        f.msgid = self.msgid.map(|(_, s)| s.to_owned());
        f.procid = self.procid.and_then(|(_, v)| match v {
            Value::String(s) if !s.is_empty() && s.len() <= MAX_PID => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        f.severity = self.severity.and_then(|(_, v)| severity(v));
        f.facility = self.facility.and_then(|(_, v)| facility(v));
        f.event_time = self.time.and_then(|(_, v)| json_time(v, ctx));
        match self.message {
            Some((_, m)) => {
                f.message = message_range(line, m);
                extract::extract(m.as_bytes(), f);
            }
            // No message member: the values themselves may name addresses.
            None => extract::extract(line, f),
        }
    }
}

/// Where the message value sits in the raw line, if it is there verbatim
/// (nothing escaped) as a quoted string; else the whole line.
fn message_range(line: &[u8], m: &str) -> Range<usize> {
    let m = m.as_bytes();
    if !m.is_empty() {
        // At each quote (not with `memmem`, which builds a searcher per line).
        for q in memchr::memchr_iter(b'"', line) {
            let at = q + 1;
            if line[at..].starts_with(m) && line.get(at + m.len()) == Some(&b'"') {
                return at..at + m.len();
            }
        }
    }
    0..line.len()
}

/// Syslog severity from a number (0-7; bunyan/pino 10-60) or a name.
pub(crate) fn severity(v: &Value) -> Option<u8> {
    let from_num = |n: u64| match n {
        0..=7 => Some(n as u8),
        10 | 20 => Some(7),
        30 => Some(6),
        40 => Some(4),
        50 => Some(3),
        60 => Some(2),
        _ => None,
    };
    match v {
        Value::Number(n) => n.as_u64().and_then(from_num),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<u64>() {
                return from_num(n);
            }
            let mut buf = [0u8; 16];
            let lower = lower_ascii(s, &mut buf)?;
            Some(match lower {
                b"emerg" | b"emergency" | b"panic" => 0,
                b"alert" => 1,
                b"crit" | b"critical" | b"fatal" => 2,
                b"err" | b"error" | b"severe" => 3,
                b"warn" | b"warning" => 4,
                b"notice" => 5,
                b"info" | b"informational" | b"information" => 6,
                b"debug" | b"trace" | b"verbose" | b"fine" | b"finer" | b"finest" => 7,
                _ => return None,
            })
        }
        _ => None,
    }
}

/// Syslog facility from a number (0-23) or a name.
fn facility(v: &Value) -> Option<u8> {
    match v {
        Value::Number(n) => n.as_u64().filter(|&n| n <= 23).map(|n| n as u8),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<u8>() {
                return (n <= 23).then_some(n);
            }
            let mut buf = [0u8; 16];
            let lower = lower_ascii(s, &mut buf)?;
            Some(match lower {
                b"kern" | b"kernel" => 0,
                b"user" => 1,
                b"mail" => 2,
                b"daemon" => 3,
                b"auth" | b"security" => 4,
                b"syslog" => 5,
                b"lpr" => 6,
                b"news" => 7,
                b"uucp" => 8,
                b"cron" => 9,
                b"authpriv" => 10,
                b"ftp" => 11,
                b"ntp" => 12,
                b"audit" => 13,
                b"alert" => 14,
                b"clock" => 15,
                [b'l', b'o', b'c', b'a', b'l', d @ b'0'..=b'7'] => 16 + (d - b'0'),
                _ => return None,
            })
        }
        _ => None,
    }
}

fn lower_ascii<'b>(s: &str, buf: &'b mut [u8; 16]) -> Option<&'b [u8]> {
    let b = s.as_bytes();
    if b.len() > buf.len() {
        return None;
    }
    for (o, i) in buf.iter_mut().zip(b) {
        *o = i.to_ascii_lowercase();
    }
    Some(&buf[..b.len()])
}

/// An event time from an RFC 3339 string or epoch seconds, milliseconds,
/// microseconds or nanoseconds (told apart by magnitude), as a number or a
/// string of digits.
fn json_time(v: &Value, ctx: &ParseContext) -> Option<EventTime> {
    let epoch = |utc_ns| EventTime {
        utc_ns,
        offset_secs: 0,
        zone_assumed: false,
    };
    match v {
        Value::Number(n) => epoch_ns(n).map(epoch),
        Value::String(s) => {
            let t = s.trim().as_bytes();
            if let Some((c, zone, n)) = stamp::iso(t, stamp::LENIENT) {
                if n != t.len() {
                    return None;
                }
                let (utc_ns, offset_secs, zone_assumed) =
                    stamp::iso_to_utc(&c, zone, ctx.default_offset_secs).ok()?;
                return Some(EventTime {
                    utc_ns,
                    offset_secs,
                    zone_assumed,
                });
            }
            let n: Number = s.trim().parse().ok()?;
            epoch_ns(&n).map(epoch)
        }
        _ => None,
    }
}

fn epoch_ns(n: &Number) -> Option<i64> {
    // Magnitude tells the unit: 1e11 s is year 5138, 1e11 ms is 1973.
    let scale = |abs: u64| -> i64 {
        if abs < 100_000_000_000 {
            1_000_000_000
        } else if abs < 100_000_000_000_000 {
            1_000_000
        } else if abs < 100_000_000_000_000_000 {
            1_000
        } else {
            1
        }
    };
    if let Some(i) = n.as_i64() {
        return i.checked_mul(scale(i.unsigned_abs()));
    }
    let x = n.as_f64()?;
    if !x.is_finite() || x.abs() >= 9.2e18 {
        return None;
    }
    // Whole and fractional parts apart: `1700000000.25 * 1e9` in one f64 loses
    // the last digits.
    let whole = x.trunc();
    let s = scale(whole.abs() as u64);
    let frac = ((x - whole) * s as f64).round() as i64;
    (whole as i64).checked_mul(s)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pramaan_core::time::IST_OFFSET_SECS;

    fn ns(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64
    }

    fn ctx_at(received: &str) -> ParseContext {
        ParseContext {
            received_at_ns: ns(received),
            default_offset_secs: IST_OFFSET_SECS,
        }
    }

    fn ctx() -> ParseContext {
        ctx_at("2026-11-27T21:10:00+05:30")
    }

    fn msg<'a>(raw: &'a str, f: &ParsedFields) -> &'a str {
        &raw[f.message.clone()]
    }

    #[test]
    fn logger_rfc3164() {
        let raw = "<13>Nov 27 21:09:49 myhost root: hello";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Rfc3164);
        assert_eq!((f.facility, f.severity), (Some(1), Some(5)));
        assert_eq!(f.host.as_deref(), Some("myhost"));
        assert_eq!(f.app.as_deref(), Some("root"));
        assert_eq!(f.procid, None);
        assert_eq!(msg(raw, &f), "hello");
        assert_eq!(
            f.event_time,
            Some(EventTime {
                utc_ns: ns("2026-11-27T21:09:49+05:30"),
                offset_secs: IST_OFFSET_SECS,
                zone_assumed: true
            })
        );
        assert_eq!(f.parse_error, None);
    }

    #[test]
    fn logger_rfc5424() {
        let raw = r#"<13>1 2026-11-27T21:09:49.123456+00:00 myhost root 1234 - [timeQuality tzKnown="1" isSynced="1" syncAccuracy="48500"] hello"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Rfc5424);
        assert_eq!(f.parse_error, None);
        assert_eq!((f.facility, f.severity), (Some(1), Some(5)));
        assert_eq!(f.host.as_deref(), Some("myhost"));
        assert_eq!(f.app.as_deref(), Some("root"));
        assert_eq!(f.procid.as_deref(), Some("1234"));
        assert_eq!(f.msgid, None);
        assert_eq!(
            f.structured_data.as_deref(),
            Some(r#"[timeQuality tzKnown="1" isSynced="1" syncAccuracy="48500"]"#)
        );
        assert_eq!(msg(raw, &f), "hello");
        assert_eq!(
            f.event_time,
            Some(EventTime {
                utc_ns: ns("2026-11-27T21:09:49.123456Z"),
                offset_secs: 0,
                zone_assumed: false
            })
        );
    }

    #[test]
    fn rfc5424_offsets_fractions_and_nil() {
        let raw = "<165>1 2003-10-11T22:14:15.003000009-07:00 mymachine.example.com evntslog - ID47 - An application event";
        let f = parse_line(raw.as_bytes(), &ctx());
        let t = f.event_time.unwrap();
        assert_eq!(t.utc_ns, ns("2003-10-12T05:14:15.003000009Z"));
        assert_eq!((t.offset_secs, t.zone_assumed), (-7 * 3600, false));
        assert_eq!(f.msgid.as_deref(), Some("ID47"));
        assert_eq!(f.procid, None);
        assert_eq!(f.structured_data, None);
        assert_eq!(msg(raw, &f), "An application event");

        for raw in ["<14>1 - - - - - -", "<14>1 - - - - - - "] {
            let f = parse_line(raw.as_bytes(), &ctx());
            assert_eq!(f.format, Format::Rfc5424);
            assert_eq!(f.parse_error, None, "{raw}");
            assert_eq!(f.event_time, None);
            assert_eq!((f.host.clone(), f.app.clone()), (None, None));
            assert_eq!(msg(raw, &f), "");
        }
    }

    #[test]
    fn rfc5424_structured_data_escapes_and_bom() {
        let raw = "<14>1 2026-01-01T00:00:00Z h a p m [ex@32473 a=\"x\\]y\\\"z\" b=\"]\"][n c=\"d\\\\\"] \u{feff}body [not sd]";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.parse_error, None);
        assert_eq!(
            f.structured_data.as_deref(),
            Some("[ex@32473 a=\"x\\]y\\\"z\" b=\"]\"][n c=\"d\\\\\"]")
        );
        assert_eq!(msg(raw, &f), "body [not sd]");
    }

    #[test]
    fn rfc5424_broken_structured_data() {
        for (raw, why) in [
            ("<14>1 - h a p m [x a=\"unterminated] msg", "not closed"),
            ("<14>1 - h a p m [x a=b] msg", "=\""),
            ("<14>1 - h a p m [] msg", "empty SD-ID"),
            ("<14>1 - h a p m sd msg", "neither"),
        ] {
            let f = parse_line(raw.as_bytes(), &ctx());
            assert_eq!(f.format, Format::Rfc5424);
            assert!(
                f.parse_error.as_deref().unwrap().contains(why),
                "{raw}: {:?}",
                f.parse_error
            );
            assert_eq!(f.host.as_deref(), Some("h"));
            assert!(msg(raw, &f).ends_with("msg"));
        }
    }

    #[test]
    fn impossible_dates_keep_the_rest() {
        for (raw, why) in [
            (
                "<14>1 2026-13-01T00:00:00Z host app 1 - - the message",
                "month 13 does not exist",
            ),
            (
                "<14>1 2026-02-30T00:00:00Z host app 1 - - the message",
                "day 30 does not exist in February 2026",
            ),
            (
                "<14>1 2026-01-01T25:00:00Z host app 1 - - the message",
                "hour 25 does not exist",
            ),
            (
                "<14>1 2026-01-01T10:00:00+24:00 host app 1 - - the message",
                "offset",
            ),
            ("<14>1 yesterday host app 1 - - the message", "not RFC 3339"),
            (
                "<14>1 2026-01-01T10:00:00.1234567891Z host app 1 - - the message",
                "not RFC 3339",
            ),
        ] {
            let f = parse_line(raw.as_bytes(), &ctx());
            let err = f.parse_error.clone().unwrap();
            assert!(err.contains(why), "{raw}: {err}");
            assert_eq!(f.event_time, None);
            assert_eq!(f.host.as_deref(), Some("host"));
            assert_eq!(f.procid.as_deref(), Some("1"));
            assert_eq!(msg(raw, &f), "the message");
        }
        let raw = "<13>Feb 30 10:00:00 host app: msg";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(
            f.parse_error.as_deref(),
            Some("RFC 3164 TIMESTAMP `Feb 30 10:00:00`: day 30 does not exist in February")
        );
        assert_eq!((f.host.as_deref(), msg(raw, &f)), (Some("host"), "msg"));
    }

    #[test]
    fn rfc5424_short_header() {
        let raw = "<14>1 2026-01-01T00:00:00Z host app";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(
            f.parse_error.as_deref(),
            Some("RFC 5424 header ends before PROCID")
        );
        assert_eq!(msg(raw, &f), "2026-01-01T00:00:00Z host app");
        assert!(f.event_time.is_some());
    }

    #[test]
    fn bad_pri() {
        for (raw, why) in [
            ("<192>Nov 27 21:09:49 h a: m", "above 191"),
            ("<1234>x", "more than 3 digits"),
            ("<12 x", "not closed"),
        ] {
            let f = parse_line(raw.as_bytes(), &ctx());
            assert_eq!(f.format, Format::Raw);
            assert!(f.parse_error.as_deref().unwrap().contains(why), "{raw}");
            assert_eq!(f.message, 0..raw.len());
        }
        let f = parse_line(b"<html> not syslog", &ctx());
        assert_eq!((f.format, f.parse_error), (Format::Raw, None));
    }

    #[test]
    fn rfc3164_forms() {
        // No stamp after the PRI: allowed, the rest is the message.
        let f = parse_line(b"<13>hello world", &ctx());
        assert_eq!((f.format, f.parse_error.clone()), (Format::Rfc3164, None));
        assert_eq!(f.message, 4..15);
        // RFC 3339 stamp (rsyslog) with zone.
        let raw = "<13>2026-01-01T10:00:00.123+05:30 host app[1]: msg";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Rfc3164);
        let t = f.event_time.unwrap();
        assert_eq!(t.utc_ns, ns("2026-01-01T04:30:00.123Z"));
        assert!(!t.zone_assumed);
        assert_eq!(
            (
                f.host.as_deref(),
                f.app.as_deref(),
                f.procid.as_deref(),
                msg(raw, &f)
            ),
            (Some("host"), Some("app"), Some("1"), "msg")
        );
        // No HOST.
        let raw = "<13>Nov  7 21:09:49 sshd[12]: x y";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(
            (
                f.host.as_deref(),
                f.app.as_deref(),
                f.procid.as_deref(),
                msg(raw, &f)
            ),
            (None, Some("sshd"), Some("12"), "x y")
        );
        // Zero-padded day, postfix-style tag, no TAG.
        let raw = "<22>Nov 07 21:09:49 mx postfix/smtpd[99]: connect from unknown[192.0.2.1]";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.app.as_deref(), Some("postfix/smtpd"));
        assert_eq!(f.ips, ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]);
        let raw = "<13>Nov 27 21:09:49 host just words here";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!((f.host.as_deref(), f.app.clone()), (Some("host"), None));
        assert_eq!(msg(raw, &f), "just words here");
    }

    #[test]
    fn openssh_without_pri() {
        let raw = "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2";
        let f = parse_line(raw.as_bytes(), &ctx_at("2017-01-05T10:00:00+05:30"));
        assert_eq!(f.format, Format::Rfc3164);
        assert_eq!((f.facility, f.severity), (None, None));
        assert_eq!(f.host.as_deref(), Some("LabSZ"));
        assert_eq!(f.app.as_deref(), Some("sshd"));
        assert_eq!(f.procid.as_deref(), Some("24200"));
        assert_eq!(
            f.ips,
            ["173.234.31.186".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(f.ports, [38926]);
        assert_eq!(f.users, ["webmaster"]);
        assert!(msg(raw, &f).starts_with("Failed password"));
        // Received in early January: December is last year's.
        assert_eq!(
            f.event_time.unwrap().utc_ns,
            ns("2016-12-10T06:55:46+05:30")
        );
    }

    #[test]
    fn year_inference_across_new_year() {
        let raw = b"<13>Dec 31 23:59:59 h a: m";
        let f = parse_line(raw, &ctx_at("2026-01-01T00:00:03+05:30"));
        assert_eq!(
            f.event_time.unwrap().utc_ns,
            ns("2025-12-31T23:59:59+05:30")
        );
        let raw = b"<13>Jan  1 00:00:01 h a: m";
        let f = parse_line(raw, &ctx_at("2025-12-31T23:59:58+05:30"));
        assert_eq!(
            f.event_time.unwrap().utc_ns,
            ns("2026-01-01T00:00:01+05:30")
        );
    }

    #[test]
    fn iso_without_pri_needs_host_and_tag() {
        let raw = "2026-01-01T10:00:00.123456+05:30 web01 nginx[77]: GET /";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Rfc3164);
        assert_eq!(f.app.as_deref(), Some("nginx"));
        let raw = "2015-10-18T18:01:47 INFO [main] org.apache.Foo: x";
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Raw);
        assert_eq!(f.message, 0..raw.len());
        assert!(f.event_time.unwrap().zone_assumed);
    }

    #[test]
    fn raw_lines_and_their_stamps() {
        let c = ctx();
        for (raw, when) in [
            (
                "2015-10-18 18:01:47,978 INFO [main] x",
                "2015-10-18T18:01:47.978+05:30",
            ),
            (
                "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
                "2005-12-04T04:47:44+05:30",
            ),
            (
                "081109 203615 148 INFO dfs.DataNode$PacketResponder: x",
                "2008-11-09T20:36:15+05:30",
            ),
            (
                "17/06/09 20:10:40 INFO executor.Backend: x",
                "2017-06-09T20:10:40+05:30",
            ),
        ] {
            let f = parse_line(raw.as_bytes(), &c);
            assert_eq!(f.format, Format::Raw, "{raw}");
            assert_eq!(f.parse_error, None);
            assert_eq!(f.message, 0..raw.len());
            let t = f.event_time.unwrap();
            assert_eq!(t.utc_ns, ns(when), "{raw}");
            assert!(t.zone_assumed);
        }
        let f = parse_line(b"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 RAS", &c);
        assert_eq!(
            (f.format, f.event_time, f.parse_error),
            (Format::Raw, None, None)
        );
    }

    #[test]
    fn trailing_line_ends_are_not_message() {
        let raw = b"<13>Nov 27 21:09:49 h a: m\r\n\0";
        let f = parse_line(raw, &ctx());
        assert_eq!(&raw[f.message.clone()], b"m");
        let f = parse_line(b"\r\n", &ctx());
        assert_eq!(f.message, 0..0);
    }

    #[test]
    fn json_lines() {
        let raw = r#"{"@timestamp":"2026-03-03T14:02:11.5+05:30","host":{"name":"web01","ip":["10.0.0.5"]},"service":{"name":"api"},"log":{"level":"WARN"},"message":"login failed for user=bob from 203.0.113.9","source":{"ip":"203.0.113.9","port":51000},"user":{"name":"bob"}}"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Json);
        assert_eq!(f.parse_error, None);
        assert_eq!(f.host.as_deref(), Some("web01"));
        assert_eq!(f.app.as_deref(), Some("api"));
        assert_eq!(f.severity, Some(4));
        assert_eq!(msg(raw, &f), "login failed for user=bob from 203.0.113.9");
        let t = f.event_time.unwrap();
        assert_eq!(t.utc_ns, ns("2026-03-03T08:32:11.5Z"));
        assert_eq!(t.offset_secs, IST_OFFSET_SECS);
        let ips: Vec<String> = f.ips.iter().map(|i| i.to_string()).collect();
        assert_eq!(ips, ["10.0.0.5", "203.0.113.9"]);
        assert_eq!(f.ports, [51000]);
        assert_eq!(f.users, ["bob"]);

        // Escaped message: the range is the whole line; epoch millis; numbers.
        let raw = r#"  {"msg":"a \"quoted\" word","ts":1700000000123,"level":50,"facility":"local3","pid":42,"src_ip":"[2001:db8::1]:443","dport":"22"}"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.message, 0..raw.len());
        assert_eq!(f.event_time.unwrap().utc_ns, 1_700_000_000_123_000_000);
        assert_eq!((f.severity, f.facility), (Some(3), Some(19)));
        assert_eq!(f.procid.as_deref(), Some("42"));
        assert_eq!(f.ips, ["2001:db8::1".parse::<std::net::IpAddr>().unwrap()]);
        // JSON members are visited in key order (serde_json's map is sorted).
        assert_eq!(f.ports, [22, 443]);

        // Seconds with a fraction, syslog severity number, docker's `log`.
        let raw = r#"{"log":"Accepted password for ann from 10.1.1.1 port 2222 ssh2\n","time":1700000000.25,"severity":"2"}"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.event_time.unwrap().utc_ns, 1_700_000_000_250_000_000);
        assert_eq!(f.severity, Some(2));
        assert_eq!(f.users, ["ann"]);
        assert_eq!(f.ports, [2222]);
    }

    #[test]
    fn json_keys_rank_when_a_line_has_several() {
        // Members are visited in key order, so each pair puts the weaker key
        // first: the stronger one must still win.
        let raw = r#"{"_hostname":"h4","app_name":"a2","appname":"a1","date":"2026-01-02T00:00:00Z","facility":"local1","hostname":"h1","level":"err","lvl":"debug","message":"m0","msg":"m1","pid":7,"procid":"9","syslog_facility":"local5","timestamp":"2026-01-01T00:00:00Z"}"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Json);
        assert_eq!(msg(raw, &f), "m0");
        assert_eq!(f.host.as_deref(), Some("h1"));
        assert_eq!(f.app.as_deref(), Some("a1"));
        assert_eq!(f.procid.as_deref(), Some("9"));
        assert_eq!(f.severity, Some(3));
        assert_eq!(f.facility, Some(17));
        assert_eq!(f.event_time.unwrap().utc_ns, ns("2026-01-01T00:00:00Z"));
        // Nested members are named `parent.child`, case aside.
        let raw = r#"{"Host":{"Name":"web"},"service":{"NAME":"svc"}}"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.host.as_deref(), Some("web"));
        assert_eq!(f.app.as_deref(), Some("svc"));
    }

    #[test]
    fn json_without_message_is_searched_whole() {
        let raw = r#"{"event":"login","peer_addr":"198.51.100.4:6000","who":"x"}"#;
        let f = parse_line(raw.as_bytes(), &ctx());
        assert_eq!(f.format, Format::Json);
        assert_eq!(f.message, 0..raw.len());
        assert_eq!(f.ips, ["198.51.100.4".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(f.ports, [6000]);
    }

    #[test]
    fn invalid_json() {
        let f = parse_line(br#"{"a": 1,}"#, &ctx());
        assert_eq!(f.format, Format::Raw);
        assert!(f.parse_error.unwrap().starts_with("invalid JSON"));
        let f = parse_line(b"{main} worker started on 10.0.0.1", &ctx());
        assert_eq!((f.format, f.parse_error.clone()), (Format::Raw, None));
        assert_eq!(f.ips.len(), 1);
    }
}
