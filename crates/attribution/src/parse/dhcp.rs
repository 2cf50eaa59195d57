//! DHCP leases: ISC Kea's lease files and log messages, dnsmasq's and ISC
//! dhcpd's log lines. A lease is a session `SERVER|ADDRESS|CLIENT` (the
//! feeder puts the server, the source the line came from, in front): a
//! grant or renewal opens or extends it until the lease's end, a release or
//! expiry closes it. Shapes read (all seen from the real programs):
//!
//! Kea memfile lease files (`persist: true`), one row per change, followed
//! with `files.paths`:
//!
//! ```text
//! address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context
//! 10.77.0.100,62:70:66:04:08:28,,120,1796615299,7,0,0,vm,0,
//! address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,...
//! 2001:db8:7700::,00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28,120,1796615379,9,90,2,1711540264,56,0,0,,...
//! ```
//!
//! A row with a valid lifetime is a grant from `expire - valid_lifetime`
//! (Kea's client-last-transmission time) to `expire`; a row with lifetime 0
//! is Kea deleting the lease (a release: its time is the record's, as the
//! row keeps the old one); state 2 (expired-reclaimed) ends it at `expire`,
//! states 1 (declined) and 3 (released) at the record's time. An IPv6 row
//! of lease type 2 is a delegated prefix (`address/prefix_len`). The
//! header row is not a lease.
//!
//! Kea log messages (its log file or syslog; INFO severity):
//!
//! ```text
//! DHCP4_LEASE_ALLOC [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x8aa5615c: lease 10.77.0.100 has been allocated for 120 seconds
//! DHCP4_RELEASE [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x6bf2437d: address 10.77.0.100 was released properly.
//! DHCP6_LEASE_ALLOC duid=[00:01:...], tid=0x51424d: lease for address 2001:db8:77::100 and iaid=1711540264 has been allocated for 120 seconds
//! DHCP6_PD_LEASE_ALLOC duid=[00:01:...], tid=0x51424d: lease for prefix 2001:db8:7700::/56 and iaid=1711540264 has been allocated for 120 seconds
//! DHCP6_RELEASE_NA duid=[00:01:...], tid=0xee905a: binding for address 2001:db8:77::100 and iaid=1711540264 was released properly
//! DHCP6_RELEASE_PD duid=[00:01:...], tid=0xee905a: prefix 2001:db8:7700::/56 for iaid=1711540264 was released properly
//! ```
//!
//! Kea's own log file puts `2026-12-07 03:46:19.491 INFO  [kea-dhcp4.leases/...] `
//! in front: that time (at the sender's offset) is the event's.
//!
//! dnsmasq and ISC dhcpd (syslog), which give no lease time, so the binding
//! stays open until a release, an expiry line, the next grant of the address
//! or `attribution.max_session`:
//!
//! ```text
//! DHCPACK(eth0) 192.168.1.100 aa:bb:cc:dd:ee:ff laptop
//! DHCPRELEASE(eth0) 192.168.1.100 aa:bb:cc:dd:ee:ff
//! DHCPACK on 10.0.0.5 to 00:11:22:33:44:55 (laptop) via eth1
//! DHCPRELEASE of 10.0.0.5 from 00:11:22:33:44:55 (laptop) via eth1 (found)
//! DHCPEXPIRE on 10.0.0.5 to 00:11:22:33:44:55
//! ```
//!
//! The subscriber is the client as the server knows it: the hardware
//! address (`62:70:66:04:08:28`), else `client-id ...` (IPv4) or
//! `duid ...` (IPv6); the registry links it to a person.

use super::{perr, Action, Event, ParseError};
use crate::model::{Kind, Net};

const K: &str = "DHCP";

/// Kea's "infinite" lifetime: a lease that does not end by itself.
const INFINITE: i64 = 0xffff_ffff;

/// The message ids and words that every DHCP line this module reads holds
/// (the lease-file rows excepted: see [`is_lease_row`]).
pub const MARKERS: &[&str] = &[
    "DHCP4_LEASE_ALLOC",
    "DHCP4_RELEASE",
    "DHCP6_LEASE_ALLOC",
    "DHCP6_PD_LEASE_ALLOC",
    "DHCP6_RELEASE_",
    "DHCPACK",
    "DHCPRELEASE",
    "DHCPEXPIRE",
];

/// The shape of a Kea lease-file row, as a byte regex over the whole line
/// (the feeder's filter in the vault): an address, two fields, then three
/// numbers, each followed by a comma. [`is_lease_row`] is the same test.
/// Leading white space is skipped, as the parsers trim it.
pub const LEASE_ROW_REGEX: &str =
    r"\A(?u:\s)*(?-u:[0-9A-Fa-f:.]{2,45},[^,\n]*,[^,\n]*,[0-9]+,[0-9]+,[0-9]+,)";

/// Whether `line` has the shape of a Kea lease-file row
/// ([`LEASE_ROW_REGEX`]); the header row has not.
pub fn is_lease_row(line: &[u8]) -> bool {
    let line = match std::str::from_utf8(line) {
        Ok(s) => s.trim_start().as_bytes(),
        Err(_) => line.trim_ascii_start(),
    };
    let mut fields = line.split(|&b| b == b',');
    let addr_ok = |f: &[u8]| {
        (2..=45).contains(&f.len())
            && f.iter()
                .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
    };
    let free = |f: &[u8]| !f.contains(&b'\n');
    let num = |f: &[u8]| !f.is_empty() && f.iter().all(u8::is_ascii_digit);
    let (Some(a), Some(b), Some(c), Some(d), Some(e), Some(f)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return false;
    };
    // A seventh field, even empty: the sixth was followed by a comma.
    addr_ok(a) && free(b) && free(c) && num(d) && num(e) && num(f) && fields.next().is_some()
}

/// Reads one DHCP line. `Ok(None)`: not a lease line (a header row, an
/// offer, a client's own log line, an INFORM answer).
pub fn parse(line: &str, default_offset_secs: i32) -> Result<Option<Event>, ParseError> {
    let t = line.trim();
    if is_lease_row(t.as_bytes()) {
        return lease_row(t);
    }
    let (at, body) = kea_time(t, default_offset_secs);
    for (id, f) in KEA_MESSAGES {
        if let Some(rest) = message_after(body, id) {
            return f(rest).map(|ev| ev.map(|e| with_time(e, at)));
        }
    }
    if let Some(rest) = message_after(t, "DHCPACK") {
        return granted(rest);
    }
    if let Some(rest) = message_after(t, "DHCPRELEASE") {
        return ended(rest, "of", "from");
    }
    if let Some(rest) = message_after(t, "DHCPEXPIRE") {
        return ended(rest, "on", "to");
    }
    Ok(None)
}

type KeaMessage = fn(&str) -> Result<Option<Event>, ParseError>;

const KEA_MESSAGES: [(&str, KeaMessage); 6] = [
    ("DHCP4_LEASE_ALLOC", kea4_alloc),
    ("DHCP4_RELEASE", kea4_release),
    ("DHCP6_LEASE_ALLOC", kea6_alloc),
    ("DHCP6_PD_LEASE_ALLOC", kea6_alloc),
    ("DHCP6_RELEASE_NA", kea6_release),
    ("DHCP6_RELEASE_PD", kea6_release),
];

fn with_time(mut ev: Event, at: Option<i64>) -> Event {
    ev.at_ns = ev.at_ns.or(at);
    ev
}

/// The text after `id` when `id` is a word of the line (at its start or
/// after a space, and followed by a space, `(` or the end). The first
/// occurrence only: what a client controls comes after the message id.
fn message_after<'a>(line: &'a str, id: &str) -> Option<&'a str> {
    let pos = line.find(id)?;
    if pos > 0 && line.as_bytes()[pos - 1] != b' ' {
        return None;
    }
    let rest = &line[pos + id.len()..];
    match rest.as_bytes().first() {
        None | Some(b' ') | Some(b'(') => Some(rest),
        _ => None,
    }
}

/// Kea's log-file prefix `YYYY-MM-DD HH:MM:SS.mmm SEVERITY [logger] `:
/// its time (ns) and the rest. Without it, no time and the whole line.
fn kea_time(line: &str, offset: i32) -> (Option<i64>, &str) {
    let Some(head) = line.get(..19) else {
        return (None, line);
    };
    let Some(secs) = super::parse_civil(head, offset) else {
        return (None, line);
    };
    let mut rest = &line[19..];
    let mut frac_ns = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return (None, line);
        }
        let d: i64 = frac[..digits].parse().unwrap_or(0);
        frac_ns = d * 10i64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let at = super::secs_to_ns(secs).and_then(|s| s.checked_add(frac_ns));
    (at, rest.trim_start())
}

fn net(text: &str) -> Result<Net, ParseError> {
    Net::parse(text).map_err(|e| perr(K, format!("address: {e}")))
}

fn lifetime(text: &str) -> Result<i64, ParseError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| (0..=INFINITE).contains(n))
        .ok_or_else(|| perr(K, format!("lifetime `{text}` is not a number of seconds")))
}

/// A hardware address or client id as Kea and the others write it:
/// hexadecimal octets separated by `:` (or `-`), lower-cased.
fn octets(text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() || t.len() > 300 {
        return None;
    }
    let ok = t
        .split([':', '-'])
        .all(|o| (1..=2).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| t.to_ascii_lowercase().replace('-', ":"))
}

fn event(action: Action, n: Net, client: &str, detail: String) -> Event {
    let mut ev = Event::new(Kind::Dhcp, action);
    ev.session = format!("{n}|{client}");
    ev.subscriber = client.to_owned();
    ev.nets = vec![n];
    ev.detail = detail;
    ev
}

/// Kea's CSV escape of commas in free text.
fn unescape(s: &str) -> String {
    s.replace("&#x2c", ",")
}

/// Where a Kea lease file keeps each field (Kea 2.x memfile, `lease4` and
/// `lease6` schemas); later versions add columns at the end.
struct Columns {
    /// The fewest fields a row has.
    fields: usize,
    /// The client: the hardware address, then (v4) the client id or (v6) the DUID.
    hwaddr: usize,
    client_id: Option<usize>,
    duid: Option<usize>,
    valid: usize,
    expire: usize,
    subnet: usize,
    hostname: usize,
    state: usize,
    /// v6: the lease type (2: a delegated prefix) and the prefix length.
    lease_type: Option<(usize, usize)>,
}

const LEASE4: Columns = Columns {
    fields: 9,
    hwaddr: 1,
    client_id: Some(2),
    duid: None,
    valid: 3,
    expire: 4,
    subnet: 5,
    hostname: 8,
    state: 9,
    lease_type: None,
};

const LEASE6: Columns = Columns {
    fields: 14,
    hwaddr: 12,
    client_id: None,
    duid: Some(1),
    valid: 2,
    expire: 3,
    subnet: 4,
    hostname: 11,
    state: 13,
    lease_type: Some((6, 8)),
};

/// One Kea lease-file row (IPv4 or IPv6, told apart by the address).
fn lease_row(line: &str) -> Result<Option<Event>, ParseError> {
    let f: Vec<&str> = line.split(',').collect();
    let c = if f[0].contains(':') { &LEASE6 } else { &LEASE4 };
    if f.len() < c.fields {
        return Err(perr(
            K,
            format!(
                "a Kea lease row has {} fields; at least {} expected",
                f.len(),
                c.fields
            ),
        ));
    }
    let num = |i: usize, what: &str| -> Result<i64, ParseError> {
        f[i].parse::<i64>().map_err(|_| {
            perr(
                K,
                format!("Kea lease row: {what} `{}` is not a number", f[i]),
            )
        })
    };
    let duid = match c.duid {
        Some(i) => Some(
            octets(f[i])
                .ok_or_else(|| perr(K, "Kea lease row: the DUID is not hexadecimal octets"))?,
        ),
        None => None,
    };
    let client = match (
        octets(f[c.hwaddr]),
        c.client_id.and_then(|i| octets(f[i])),
        duid,
    ) {
        (Some(hw), _, _) => hw,
        (None, Some(cid), _) => format!("client-id {cid}"),
        (None, None, Some(duid)) => format!("duid {duid}"),
        (None, None, None) => String::new(),
    };
    let prefix = match c.lease_type {
        Some((t, len)) => match num(t, "lease type")? {
            2 => Some(num(len, "prefix length")?),
            0 | 1 => None,
            t => return Err(perr(K, format!("Kea lease row: unknown lease type {t}"))),
        },
        None => None,
    };
    let state = match f.get(c.state) {
        Some(s) if !s.is_empty() => num(c.state, "state")?,
        _ => 0,
    };
    let (addr, valid, expire) = (f[0], lifetime(f[c.valid])?, num(c.expire, "expire")?);
    let (subnet, hostname, v6) = (f[c.subnet], f[c.hostname], c.duid.is_some());
    let n = match prefix {
        Some(len) if (0..=128).contains(&len) => net(&format!("{addr}/{len}"))?,
        Some(len) => return Err(perr(K, format!("Kea lease row: prefix length {len}"))),
        None => net(addr)?,
    };
    if (v6 && !n.first_addr().is_ipv6()) || (!v6 && !n.is_v4()) {
        return Err(perr(
            K,
            "Kea lease row: the address is not of the file's family",
        ));
    }
    if !subnet.bytes().all(|b| b.is_ascii_digit()) {
        return Err(perr(
            K,
            format!("Kea lease row: subnet id `{subnet}` is not a number"),
        ));
    }
    let mut detail = format!("Kea subnet {subnet}");
    let hostname = unescape(hostname);
    if !hostname.is_empty() {
        detail.push_str(&format!(", host {hostname}"));
    }
    let secs =
        |s: i64| super::secs_to_ns(s).ok_or_else(|| perr(K, "Kea lease row: time out of range"));
    if valid == 0 || state == 1 || state == 3 {
        // Deleted (released), declined or released: ends now.
        return Ok(Some(event(Action::Stop, n, &client, detail)));
    }
    if state == 2 {
        let mut ev = event(Action::Stop, n, &client, detail);
        ev.at_ns = Some(secs(expire.min(super::MAX_UNIX_SECS))?);
        return Ok(Some(ev));
    }
    if state != 0 {
        return Err(perr(K, format!("Kea lease row: unknown state {state}")));
    }
    if client.is_empty() {
        return Err(perr(
            K,
            "Kea lease row: a lease that names no client (no hwaddr, no client id)",
        ));
    }
    let mut ev = event(Action::Start, n, &client, detail);
    if valid == INFINITE {
        // No end: the session stays open until a release (or max_session).
        return Ok(Some(ev));
    }
    let cltt = expire
        .checked_sub(valid)
        .filter(|c| (0..=super::MAX_UNIX_SECS).contains(c))
        .ok_or_else(|| perr(K, format!("Kea lease row: expire {expire} is out of range")))?;
    ev.at_ns = Some(secs(cltt)?);
    ev.lifetime_secs = Some(valid);
    Ok(Some(ev))
}

/// `[hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x...: ` → (client, the rest).
fn kea4_client(rest: &str) -> Result<(String, &str), ParseError> {
    let (head, tail) = rest
        .split_once(": ")
        .ok_or_else(|| perr(K, "Kea message: no `: ` after the client"))?;
    let between = |open: &str| -> Option<&str> {
        let s = &head[head.find(open)? + open.len()..];
        Some(&s[..s.find(']')?])
    };
    let hw = between("[hwtype=")
        .and_then(|s| s.split_once(' '))
        .and_then(|(_, m)| octets(m));
    let cid = between("cid=[").and_then(octets);
    let client = match (hw, cid) {
        (Some(hw), _) => hw,
        (None, Some(cid)) => format!("client-id {cid}"),
        (None, None) => {
            return Err(perr(
                K,
                "Kea message names no client (no hwaddr, no client id)",
            ))
        }
    };
    Ok((client, tail))
}

/// `duid=[00:01:...], ...: ` → (`duid ...`, the rest).
fn kea6_client(rest: &str) -> Result<(String, &str), ParseError> {
    let (head, tail) = rest
        .split_once(": ")
        .ok_or_else(|| perr(K, "Kea message: no `: ` after the client"))?;
    let duid = head
        .find("duid=[")
        .map(|p| &head[p + 6..])
        .and_then(|s| s.find(']').map(|e| &s[..e]))
        .and_then(octets)
        .ok_or_else(|| perr(K, "Kea DHCPv6 message names no DUID"))?;
    Ok((format!("duid {duid}"), tail))
}

/// `... has been allocated for N seconds` → N.
fn allocated_for(tail: &str) -> Result<i64, ParseError> {
    let n = tail
        .rsplit_once("has been allocated for ")
        .and_then(|(_, r)| r.trim().strip_suffix("seconds"))
        .ok_or_else(|| {
            perr(
                K,
                "Kea message: expected `has been allocated for N seconds`",
            )
        })?;
    lifetime(n.trim())
}

/// One Kea lease message: the client (`kea4_client`/`kea6_client`), then
/// the address or prefix after one of `before`; a grant (`Start`) says for
/// how long, a release (`Stop`) that it went properly.
fn kea_message(
    action: Action,
    (client, tail): (String, &str),
    before: &[&str],
) -> Result<Option<Event>, ParseError> {
    let what = before
        .iter()
        .find_map(|p| tail.strip_prefix(p))
        .and_then(|r| r.split(' ').next())
        .ok_or_else(|| {
            perr(
                K,
                format!(
                    "Kea message: expected `{}ADDRESS`",
                    before.join("ADDRESS` or `")
                ),
            )
        })?;
    let mut ev = event(action, net(what)?, &client, "Kea".into());
    if action == Action::Start {
        let secs = allocated_for(tail)?;
        ev.lifetime_secs = (secs != INFINITE).then_some(secs);
    } else if !tail.contains("was released properly") {
        return Ok(None);
    }
    Ok(Some(ev))
}

fn kea4_alloc(rest: &str) -> Result<Option<Event>, ParseError> {
    kea_message(Action::Start, kea4_client(rest)?, &["lease "])
}

fn kea4_release(rest: &str) -> Result<Option<Event>, ParseError> {
    kea_message(Action::Stop, kea4_client(rest)?, &["address "])
}

fn kea6_alloc(rest: &str) -> Result<Option<Event>, ParseError> {
    kea_message(
        Action::Start,
        kea6_client(rest)?,
        &["lease for address ", "lease for prefix "],
    )
}

fn kea6_release(rest: &str) -> Result<Option<Event>, ParseError> {
    kea_message(
        Action::Stop,
        kea6_client(rest)?,
        &["binding for address ", "prefix "],
    )
}

/// After `DHCPACK`: dnsmasq `(IFACE) ADDRESS MAC [HOST]`, or dhcpd
/// `on ADDRESS to MAC [(HOST)] via IFACE`. dhcpd's `DHCPACK to ADDRESS`
/// (an INFORM answer) and a client's `DHCPACK of ADDRESS from SERVER` are
/// no lease.
fn granted(rest: &str) -> Result<Option<Event>, ParseError> {
    server_line(Action::Start, rest, "on", "to")
}

/// After `DHCPRELEASE` or `DHCPEXPIRE`: dnsmasq `(IFACE) ADDRESS MAC`, or
/// dhcpd `PREP ADDRESS LINK MAC ...`.
fn ended(rest: &str, prep: &str, link: &str) -> Result<Option<Event>, ParseError> {
    server_line(Action::Stop, rest, prep, link)
}

/// A dnsmasq line (`(IFACE) ADDRESS MAC [HOST]`) or a dhcpd one
/// (`PREP ADDRESS LINK MAC [(HOST)] [via IFACE] ...`); `None` when the
/// words after the message name are neither.
fn server_line(
    action: Action,
    rest: &str,
    prep: &str,
    link: &str,
) -> Result<Option<Event>, ParseError> {
    let (server, what) = if let Some(r) = rest.strip_prefix('(') {
        ("dnsmasq", r)
    } else {
        ("dhcpd", rest)
    };
    let mut w;
    let mut iface = None;
    let mut host = None;
    if server == "dnsmasq" {
        let (i, words) = what
            .split_once(')')
            .ok_or_else(|| perr(K, "dnsmasq line: `(` without `)`"))?;
        iface = (!i.is_empty()).then_some(i);
        w = words.split_whitespace();
    } else {
        w = what.split_whitespace();
        if w.next() != Some(prep) {
            return Ok(None);
        }
    }
    let addr = w
        .next()
        .ok_or_else(|| perr(K, format!("{server} line: the address is missing")))?;
    let n = net(addr)?;
    if server == "dhcpd" && w.next() != Some(link) {
        return Err(perr(
            K,
            format!("dhcpd line: expected `{link}` after the address"),
        ));
    }
    let mac = w.next().and_then(octets).ok_or_else(|| {
        perr(
            K,
            format!("{server} line: the hardware address is missing or not hexadecimal octets"),
        )
    })?;
    if server == "dnsmasq" {
        host = w.next();
    } else {
        while let Some(word) = w.next() {
            if word == "via" {
                iface = w.next();
            } else if let Some(h) = word.strip_prefix('(').and_then(|h| h.strip_suffix(')')) {
                if host.is_none() && iface.is_none() {
                    host = Some(h);
                }
            }
        }
    }
    let mut detail = server.to_owned();
    if let Some(i) = iface {
        detail.push_str(&format!(" on {i}"));
    }
    if let Some(h) = host {
        detail.push_str(&format!(", host {h}"));
    }
    Ok(Some(event(action, n, &mac, detail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(l: &str) -> Event {
        parse(l, 19_800).expect("parses").expect("a lease line")
    }

    #[test]
    fn kea4_rows_from_a_real_server() {
        let header = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context";
        assert!(!is_lease_row(header.as_bytes()));
        assert_eq!(parse(header, 0), Ok(None));
        let g = p("10.77.0.100,62:70:66:04:08:28,,120,1796615299,7,0,0,vm,0,");
        assert_eq!(g.action, Action::Start);
        assert_eq!(g.kind, Kind::Dhcp);
        assert_eq!(g.nets, vec![Net::parse("10.77.0.100").unwrap()]);
        assert_eq!(g.subscriber, "62:70:66:04:08:28");
        assert_eq!(g.session, "10.77.0.100|62:70:66:04:08:28");
        assert_eq!(g.at_ns, Some(1_796_615_179 * 1_000_000_000));
        assert_eq!(g.lifetime_secs, Some(120));
        assert_eq!(g.detail, "Kea subnet 7, host vm");
        // Kea deleting the lease (a release) keeps the old times: now is the end.
        let r = p("10.77.0.100,62:70:66:04:08:28,,0,1796615179,7,0,0,vm,0,");
        assert_eq!(
            (r.action, r.at_ns, r.session.as_str()),
            (Action::Stop, None, g.session.as_str())
        );
        // Expired and reclaimed: ended at its expiry.
        let e = p("10.77.0.100,62:70:66:04:08:28,,120,1796615299,7,0,0,,2,");
        assert_eq!(
            (e.action, e.at_ns),
            (Action::Stop, Some(1_796_615_299 * 1_000_000_000))
        );
        // A client id when there is no hardware address; commas in names.
        let c = p("10.77.0.101,,01:AA:bb:cc,3600,1796618899,7,0,0,a&#x2cb,0,");
        assert_eq!(c.subscriber, "client-id 01:aa:bb:cc");
        assert_eq!(c.detail, "Kea subnet 7, host a,b");
    }

    #[test]
    fn kea6_rows_address_and_delegated_prefix() {
        let a = p("2001:db8:77::100,00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28,120,1796615379,9,90,0,1711540264,128,0,0,,62:70:66:04:08:28,0,,1,2");
        assert_eq!(a.nets, vec![Net::parse("2001:db8:77::100").unwrap()]);
        assert_eq!(a.subscriber, "62:70:66:04:08:28");
        let pd = p("2001:db8:7700::,00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28,120,1796615379,9,90,2,1711540264,56,0,0,,,0,,1,2");
        assert_eq!(pd.nets, vec![Net::parse("2001:db8:7700::/56").unwrap()]);
        assert_eq!(
            pd.subscriber,
            "duid 00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28"
        );
        assert_eq!(pd.action, Action::Start);
        let gone = p("2001:db8:7700::,00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28,0,1796615259,9,0,2,1711540264,56,0,0,,,0,,1,2");
        assert_eq!((gone.action, gone.session), (Action::Stop, pd.session));
    }

    #[test]
    fn kea_messages_from_a_real_server() {
        let l = "2026-12-07 03:46:19.491 INFO  [kea-dhcp4.leases/12902.140515880784384] DHCP4_LEASE_ALLOC [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x8aa5615c: lease 10.77.0.100 has been allocated for 120 seconds";
        let g = p(l);
        assert_eq!(
            (g.action, g.subscriber.as_str()),
            (Action::Start, "62:70:66:04:08:28")
        );
        assert_eq!(g.lifetime_secs, Some(120));
        // 03:46:19.491 at +05:30.
        let at = crate::parse::civil_secs(2026, 12, 7, 3, 46, 19, 19_800).unwrap();
        assert_eq!(g.at_ns, Some(at * 1_000_000_000 + 491_000_000));
        let r = p("DHCP4_RELEASE [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x6bf2437d: address 10.77.0.100 was released properly.");
        assert_eq!(
            (r.action, r.session, r.at_ns),
            (Action::Stop, g.session, None)
        );
        let a6 = p("DHCP6_LEASE_ALLOC duid=[00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28], tid=0x51424d: lease for address 2001:db8:77::100 and iaid=1711540264 has been allocated for 120 seconds");
        assert_eq!(
            a6.subscriber,
            "duid 00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28"
        );
        let pd = p("kea-dhcp6: INFO  [kea-dhcp6.leases/1.2] DHCP6_PD_LEASE_ALLOC duid=[00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28], tid=0x51424d: lease for prefix 2001:db8:7700::/56 and iaid=1711540264 has been allocated for 120 seconds");
        assert_eq!(pd.nets, vec![Net::parse("2001:db8:7700::/56").unwrap()]);
        let rpd = p("DHCP6_RELEASE_PD duid=[00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28], tid=0xee905a: prefix 2001:db8:7700::/56 for iaid=1711540264 was released properly");
        assert_eq!((rpd.action, rpd.session), (Action::Stop, pd.session));
        let rna = p("DHCP6_RELEASE_NA duid=[00:01:00:01:32:a8:e8:d9:62:70:66:04:08:28], tid=0xee905a: binding for address 2001:db8:77::100 and iaid=1711540264 was released properly");
        assert_eq!(rna.session, a6.session);
        // An offer is not a lease.
        assert_eq!(parse("DHCP4_LEASE_ADVERT [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x1: lease 10.77.0.100 will be advertised", 0), Ok(None));
    }

    #[test]
    fn dnsmasq_and_dhcpd() {
        let a = p("DHCPACK(eth0) 192.168.1.100 AA:bb:cc:dd:ee:ff laptop");
        assert_eq!(
            (a.action, a.subscriber.as_str()),
            (Action::Start, "aa:bb:cc:dd:ee:ff")
        );
        assert_eq!(a.detail, "dnsmasq on eth0, host laptop");
        assert_eq!(a.lifetime_secs, None);
        let r = p("DHCPRELEASE(eth0) 192.168.1.100 aa:bb:cc:dd:ee:ff");
        assert_eq!((r.action, r.session), (Action::Stop, a.session));
        let d = p("DHCPACK on 10.0.0.5 to 00:11:22:33:44:55 (laptop) via eth1");
        assert_eq!(
            (d.action, d.detail.as_str()),
            (Action::Start, "dhcpd on eth1, host laptop")
        );
        let dr = p("DHCPRELEASE of 10.0.0.5 from 00:11:22:33:44:55 (laptop) via eth1 (found)");
        assert_eq!((dr.action, &dr.session), (Action::Stop, &d.session));
        let de = p("DHCPEXPIRE on 10.0.0.5 to 00:11:22:33:44:55");
        assert_eq!((de.action, de.session), (Action::Stop, d.session));
        // Not leases: an INFORM answer, a client's own line, text that only holds the word.
        assert_eq!(
            parse("DHCPACK to 10.0.0.5 (00:11:22:33:44:55) via eth1", 0),
            Ok(None)
        );
        assert_eq!(parse("DHCPACK of 10.77.0.100 from 10.77.0.1", 0), Ok(None));
        assert_eq!(
            parse("user typed XDHCPACK on 1.2.3.4 to aa:bb:cc:dd:ee:ff", 0),
            Ok(None)
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        // Not of a row's shape (a lifetime that is no number): no lease row at all.
        assert_eq!(
            parse(
                "10.77.0.100,62:70:66:04:08:28,,12x,1796615299,7,0,0,vm,0,",
                0
            ),
            Ok(None)
        );
        for (l, want) in [
            ("2001:db8::1,00:01,12x,1796615379,9,90,0,1,128,0,0,,,0,,1,2", "lifetime `12x`"),
            ("10.77.0.100,,,120,1796615299,7,0,0,vm,0,", "names no client"),
            ("10.77.0.100,aa,,120,1796615299,7,0,0,vm,9,", "unknown state 9"),
            ("10.77.0.1000,aa,,120,1796615299,7,0,0,vm,0,", "address"),
            ("10.77.0.100,aa,,120,1796615299,7,", "fields"),
            ("2001:db8::,00:01,120,1796615379,9,90,2,1,200,0,0,,,0,,1,2", "prefix length 200"),
            ("2001:db8::1,00:01,120,1796615379,9,90,7,1,128,0,0,,,0,,1,2", "lease type 7"),
            ("2001:db8::1,00:01,120,5,9,90,0,1,128,0,0,,,0,,1,2", "out of range"),
            ("DHCPACK(eth0) 192.168.1.100", "hardware address"),
            ("DHCPACK on 10.0.0.5 from aa:bb", "expected `to`"),
            ("DHCP4_LEASE_ALLOC [hwtype=1 62:70:66:04:08:28], cid=[no info], tid=0x8: lease 10.77.0.100 has been allocated", "allocated for"),
        ] {
            let e = parse(l, 0).expect_err(l);
            assert!(e.reason.contains(want), "{l}: {}", e.reason);
        }
    }

    #[test]
    fn the_row_test_is_the_feeders_regex() {
        let re = regex::bytes::Regex::new(LEASE_ROW_REGEX).unwrap();
        for l in [
            "10.77.0.100,62:70:66:04:08:28,,120,1796615299,7,0,0,vm,0,",
            "2001:db8:7700::,00:01:00,120,1796615379,9,90,2,1,56,0,0,,,0,,1,2",
            "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd",
            "10.0.0.1,a,b,1,2,3",
            "10.0.0.1,a,b,1,2,3,",
            "10.0.0.1,a,b,,2,3,",
            "1,a,b,1,2,3,",
            "ab,,,1,2,3,x",
            " \u{a0}10.0.0.1,a,b,1,2,3,",
            "",
        ] {
            assert_eq!(re.is_match(l.as_bytes()), is_lease_row(l.as_bytes()), "{l}");
        }
    }

    proptest::proptest! {
        /// The feeder's filter in the vault and the parsers' shape test
        /// agree on every line: the filter never hides a row.
        #[test]
        fn the_regex_and_the_shape_test_agree(line in "[ \u{a0}\t\n0-9a-fA-F:.,xy]{0,40}") {
            let re = regex::bytes::Regex::new(LEASE_ROW_REGEX).unwrap();
            proptest::prop_assert_eq!(re.is_match(line.as_bytes()), is_lease_row(line.as_bytes()), "{:?}", line);
        }
    }
}
