//! Every line of the Loghub samples parses without panicking, and known
//! lines give the fields they should.

mod common;

use pramaan_ingest::framing::{FrameDecoder, FrameEvent};
use pramaan_ingest::{parse, Format, ParseContext};
use std::collections::BTreeMap;
use std::net::IpAddr;

fn ctx() -> ParseContext {
    ParseContext {
        // 2017-01-05T04:30:00Z
        received_at_ns: 1_483_590_600_000_000_000,
        default_offset_secs: 19_800,
    }
}

#[test]
fn every_loghub_line_parses() {
    let mut report = BTreeMap::new();
    for (name, lines) in common::loghub() {
        assert!(lines.len() >= 1999, "{name}: {} lines", lines.len());
        let mut formats = BTreeMap::new();
        let (mut timed, mut with_ip, mut errors) = (0, 0, 0);
        for line in &lines {
            let f = parse(line, &ctx());
            assert!(f.message.start <= f.message.end && f.message.end <= line.len());
            *formats.entry(f.format.as_str()).or_insert(0) += 1;
            timed += usize::from(f.event_time.is_some());
            with_ip += usize::from(!f.ips.is_empty());
            errors += usize::from(f.parse_error.is_some());
        }
        assert_eq!(errors, 0, "{name}: plain lines are not errors");
        report.insert(name, (formats, timed, with_ip));
    }
    for (name, r) in &report {
        println!("{name}: {r:?}");
    }
    let openssh = &report["OpenSSH_2k.log"];
    assert_eq!(openssh.0.get("rfc3164"), Some(&2000));
    assert_eq!(openssh.1, 2000);
    for name in [
        "Apache_2k.log",
        "HDFS_2k.log",
        "Hadoop_2k.log",
        "Spark_2k.log",
        "Zookeeper_2k.log",
    ] {
        assert_eq!(
            report[name].1, 2000,
            "{name}: every line has a leading stamp"
        );
    }
}

fn find<'a>(lines: &'a [Vec<u8>], needle: &str) -> &'a [u8] {
    lines
        .iter()
        .find(|l| l.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or_else(|| panic!("no line with {needle}"))
}

#[test]
fn known_loghub_extractions() {
    let all: BTreeMap<_, _> = common::loghub().into_iter().collect();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();

    let ssh = &all["OpenSSH_2k.log"];
    let line = find(
        ssh,
        "Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
    );
    let f = parse(line, &ctx());
    assert_eq!(f.format, Format::Rfc3164);
    assert_eq!(f.host.as_deref(), Some("LabSZ"));
    assert_eq!(f.app.as_deref(), Some("sshd"));
    assert_eq!(f.procid.as_deref(), Some("24200"));
    assert_eq!(f.ips, [ip("173.234.31.186")]);
    assert_eq!(f.ports, [38926]);
    assert_eq!(f.users, ["webmaster"]);
    // Received 2017-01-05: the December stamps are from 2016.
    assert_eq!(f.event_time.unwrap().utc_ns, 1_481_333_148_000_000_000); // 2016-12-10T06:55:48+05:30

    let f = parse(find(ssh, "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=112.95.230.3  user=root"), &ctx());
    assert_eq!(
        (f.ips.as_slice(), f.users.as_slice()),
        (&[ip("112.95.230.3")][..], &["root".to_string()][..])
    );

    let proxifier = &all["Proxifier_2k.log"];
    let f = parse(
        find(proxifier, "Skype.exe - 86.99.222.235:443 error"),
        &ctx(),
    );
    assert_eq!(f.format, Format::Raw);
    assert_eq!(f.ips, [ip("86.99.222.235")]);
    assert_eq!(f.ports, [443, 5070]);

    let zk = &all["Zookeeper_2k.log"];
    let f = parse(
        find(zk, "Received connection request /10.10.34.11:45307"),
        &ctx(),
    );
    assert_eq!(f.ips, [ip("10.10.34.11")]);
    assert_eq!(f.ports, [3888, 45307]);

    let hdfs = &all["HDFS_2k.log"];
    let f = parse(
        find(hdfs, "blockMap updated: 10.251.73.220:50010 is added"),
        &ctx(),
    );
    assert_eq!(f.ips, [ip("10.251.73.220")]);
    assert_eq!(f.ports, [50010]);

    let openstack = &all["OpenStack_2k.log"];
    let f = parse(find(openstack, "10.11.10.1 \"GET /v2/"), &ctx());
    assert_eq!(f.ips, [ip("10.11.10.1")]);

    // Dotted dates, times and versions are not addresses.
    for (name, lines) in &all {
        if name.starts_with("BGL") || name.starts_with("Android") || name.starts_with("HealthApp") {
            for l in lines {
                let f = parse(l, &ctx());
                // BGL names real peers (`socket to 172.16.96.116:33569`,
                // `ip=10.0.0.151`, `mIp(10.2.2.80)`); they must stand alone.
                let text = String::from_utf8_lossy(l);
                for ip in &f.ips {
                    let s = ip.to_string();
                    let alone = text.match_indices(&s).any(|(at, _)| {
                        let before = text[..at].chars().next_back();
                        let after = text[at + s.len()..].chars().next();
                        let part =
                            |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
                        !part(before) && !part(after)
                    });
                    assert!(alone, "{name}: {s} in {text}");
                }
            }
        }
    }
}

/// Loghub lines sent newline-framed come back as the same lines, however
/// the stream is cut.
#[test]
fn loghub_through_the_framer() {
    for (name, lines) in common::loghub() {
        if name.starts_with("HPC") {
            // `134681 node-246 ...` starts like an octet count (RFC 6587's
            // ambiguity): such senders must use octet counting.
            continue;
        }
        let mut stream = Vec::new();
        for l in &lines {
            stream.extend_from_slice(l);
            stream.extend_from_slice(b"\r\n");
        }
        for chunk in [1usize, 7, 4096, stream.len()] {
            let mut d = FrameDecoder::new(64 * 1024);
            let mut buf = bytes::BytesMut::new();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                buf.extend_from_slice(c);
                while let Some(ev) = d.decode(&mut buf) {
                    got.push(ev);
                }
            }
            while let Some(ev) = d.decode_eof(&mut buf) {
                got.push(ev);
            }
            assert_eq!(got.len(), lines.len(), "{name}");
            for (ev, l) in got.iter().zip(&lines) {
                match ev {
                    FrameEvent::Frame(b) => {
                        assert_eq!(&b[..b.len() - 1], &l[..]);
                        assert_eq!(b[b.len() - 1], b'\r');
                    }
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
    }
}
