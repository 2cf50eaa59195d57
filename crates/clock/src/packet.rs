//! The NTPv4 packet (RFC 5905 section 7.3): the 48-byte header, encoded and
//! decoded with no I/O, and the arithmetic on its timestamps.
//!
//! Extension fields and a MAC may follow the header; a client in mode 3
//! sends none and ignores any in a reply (only the header is read).

use std::fmt;

/// Length of the NTP header; a shorter datagram is not an NTP packet.
pub const HEADER_LEN: usize = 48;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// Association modes (RFC 5905 figure 10).
pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;

/// A 64-bit NTP timestamp: 32 bits of seconds since the start of the era,
/// 32 bits of fraction. Zero means "not set".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    pub fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub fn fraction(self) -> u32 {
        self.0 as u32
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The timestamp for a Unix time in nanoseconds (era 0 until 2036, then
    /// wrapping into era 1 as the wire format does).
    pub fn from_unix_ns(ns: i64) -> Self {
        let ns = i128::from(ns) + i128::from(NTP_UNIX_OFFSET_SECS) * 1_000_000_000;
        let secs = ns.div_euclid(1_000_000_000);
        let sub = ns.rem_euclid(1_000_000_000);
        let frac = ((sub << 32) / 1_000_000_000) as u64;
        NtpTimestamp(((secs as u64) << 32) | (frac & 0xffff_ffff))
    }

    /// The Unix time in nanoseconds this timestamp means, taking the era
    /// that puts it nearest `near_ns` (so it is right within 68 years of
    /// the local clock, across the 2036 era rollover too).
    pub fn to_unix_ns(self, near_ns: i64) -> i64 {
        let near_ntp_secs = near_ns.div_euclid(1_000_000_000) + NTP_UNIX_OFFSET_SECS; // no overflow: |ns / 1e9| < 2^34
                                                                                      // Difference of the 32-bit second counts, as a signed 32-bit number.
        let diff = i64::from(self.seconds().wrapping_sub(near_ntp_secs as u32) as i32);
        let ntp_secs = i128::from(near_ntp_secs) + i128::from(diff);
        let frac_ns = i128::from((u64::from(self.fraction()) * 1_000_000_000) >> 32);
        let ns = (ntp_secs - i128::from(NTP_UNIX_OFFSET_SECS)) * 1_000_000_000 + frac_ns;
        ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// The leap indicator (2 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leap {
    NoWarning,
    /// The last minute of the day has 61 seconds.
    Insert,
    /// The last minute of the day has 59 seconds.
    Delete,
    /// The clock is not synchronised (alarm).
    Unsynchronised,
}

impl Leap {
    pub fn from_bits(b: u8) -> Leap {
        match b & 3 {
            0 => Leap::NoWarning,
            1 => Leap::Insert,
            2 => Leap::Delete,
            _ => Leap::Unsynchronised,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::Insert => 1,
            Leap::Delete => 2,
            Leap::Unsynchronised => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Leap::NoWarning => "no_warning",
            Leap::Insert => "insert",
            Leap::Delete => "delete",
            Leap::Unsynchronised => "unsynchronised",
        }
    }
}

/// The NTP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub leap: Leap,
    pub version: u8,
    pub mode: u8,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    /// NTP short format (16.16 seconds).
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference_ts: NtpTimestamp,
    pub origin_ts: NtpTimestamp,
    pub receive_ts: NtpTimestamp,
    pub transmit_ts: NtpTimestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("the reply is {len} bytes, shorter than the 48-byte NTP header")]
    TooShort { len: usize },
    #[error("the reply says NTP version {version}; only 3 and 4 are understood")]
    Version { version: u8 },
}

impl Packet {
    /// A client request (version 4, mode 3) whose transmit timestamp is
    /// `transmit`: the server copies it into the reply's origin timestamp.
    pub fn request(transmit: NtpTimestamp) -> Packet {
        Packet {
            leap: Leap::NoWarning,
            version: 4,
            mode: MODE_CLIENT,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: 0,
            root_dispersion: 0,
            reference_id: [0; 4],
            reference_ts: NtpTimestamp(0),
            origin_ts: NtpTimestamp(0),
            receive_ts: NtpTimestamp(0),
            transmit_ts: transmit,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap.bits() << 6) | ((self.version & 7) << 3) | (self.mode & 7);
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id);
        b[16..24].copy_from_slice(&self.reference_ts.0.to_be_bytes());
        b[24..32].copy_from_slice(&self.origin_ts.0.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive_ts.0.to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit_ts.0.to_be_bytes());
        b
    }

    /// Reads the header from a datagram (anything after byte 48 is ignored).
    pub fn decode(buf: &[u8]) -> Result<Packet, PacketError> {
        let h: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(PacketError::TooShort { len: buf.len() })?;
        let version = (h[0] >> 3) & 7;
        if !(3..=4).contains(&version) {
            return Err(PacketError::Version { version });
        }
        let u32_at = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let ts_at =
            |i: usize| NtpTimestamp((u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4)));
        Ok(Packet {
            leap: Leap::from_bits(h[0] >> 6),
            version,
            mode: h[0] & 7,
            stratum: h[1],
            poll: h[2] as i8,
            precision: h[3] as i8,
            root_delay: u32_at(4),
            root_dispersion: u32_at(8),
            reference_id: [h[12], h[13], h[14], h[15]],
            reference_ts: ts_at(16),
            origin_ts: ts_at(24),
            receive_ts: ts_at(32),
            transmit_ts: ts_at(40),
        })
    }

    /// The kiss code of a kiss-o'-death packet (stratum 0): the reference id
    /// as ASCII, e.g. `RATE`, `DENY`, `RSTR`.
    pub fn kiss_code(&self) -> Option<String> {
        (self.stratum == 0).then(|| kiss_code(self.reference_id))
    }

    /// The reference id as people read it: four ASCII letters for stratum 0
    /// and 1 (`GPS`, `PPS`, a kiss code), else an IPv4 address (or, for an
    /// IPv6 reference, the first four bytes of its MD5 hash, shown the same way).
    pub fn reference_text(&self) -> String {
        reference_text(self.stratum, self.reference_id)
    }
}

fn kiss_code(id: [u8; 4]) -> String {
    id.iter()
        .take_while(|b| **b != 0)
        .map(|b| {
            if b.is_ascii_graphic() {
                char::from(*b)
            } else {
                '?'
            }
        })
        .collect()
}

pub fn reference_text(stratum: u8, id: [u8; 4]) -> String {
    if stratum <= 1 {
        kiss_code(id)
    } else {
        format!("{}.{}.{}.{}", id[0], id[1], id[2], id[3])
    }
}

/// Offset and round-trip delay from the four timestamps (RFC 5905 section 8),
/// all in Unix nanoseconds: `t1` request sent (our clock), `t2` received by
/// the server, `t3` reply sent by the server, `t4` reply received (our clock).
/// The offset is how far the server's clock is ahead of ours; the delay is
/// never negative (a negative one, from the server's precision, reads as 0).
pub fn offset_delay(t1: i64, t2: i64, t3: i64, t4: i64) -> (i64, i64) {
    let (t1, t2, t3, t4) = (
        i128::from(t1),
        i128::from(t2),
        i128::from(t3),
        i128::from(t4),
    );
    let offset = ((t2 - t1) + (t3 - t4)) / 2;
    let delay = ((t4 - t1) - (t3 - t2)).max(0);
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    (clamp(offset), clamp(delay))
}

/// NTP short format (16.16) in nanoseconds.
pub fn short_to_ns(v: u32) -> i64 {
    ((u64::from(v) * 1_000_000_000) >> 16) as i64
}

impl fmt::Display for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}.{:08x}", self.seconds(), self.fraction())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply captured from chronyd 4.3 (`local stratum 8`) answering a
    /// request whose transmit timestamp was 0x0123456789abcdef.
    const CHRONY_REPLY: [u8; 48] = [
        0x24, 0x08, 0x00, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x7f, 0x01,
        0x01, 0xee, 0xb4, 0x9d, 0xa0, 0x76, 0x41, 0x33, 0xa6, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
        0xcd, 0xef, 0xee, 0xb4, 0x9d, 0xa1, 0xe9, 0x7b, 0x04, 0x35, 0xee, 0xb4, 0x9d, 0xa1, 0xe9,
        0x81, 0x2d, 0x74,
    ];

    #[test]
    fn decodes_a_real_chrony_reply() {
        let p = Packet::decode(&CHRONY_REPLY).unwrap();
        assert_eq!(p.leap, Leap::NoWarning);
        assert_eq!(p.version, 4);
        assert_eq!(p.mode, MODE_SERVER);
        assert_eq!(p.precision, -25);
        // Received and sent at 2026-11-28T00:2x UTC (NTP seconds 0xeeb49da1).
        assert_eq!(p.receive_ts.seconds(), 0xeeb4_9da1);
        assert!(p.transmit_ts.0 > p.receive_ts.0);
        assert_eq!(p.stratum, 8);
        assert_eq!(p.reference_id, [0x7f, 0x7f, 1, 1]);
        assert_eq!(p.reference_text(), "127.127.1.1");
        assert_eq!(p.origin_ts, NtpTimestamp(0x0123_4567_89ab_cdef));
        assert_eq!(p.kiss_code(), None);
        assert_eq!(p.encode(), CHRONY_REPLY);
    }

    #[test]
    fn request_layout() {
        let r = Packet::request(NtpTimestamp(0x1122_3344_5566_7788)).encode();
        assert_eq!(r[0], 0x23, "LI 0, VN 4, mode 3");
        assert!(r[1..40].iter().all(|b| *b == 0));
        assert_eq!(&r[40..], &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
    }

    #[test]
    fn short_and_bad_versions_are_refused() {
        assert_eq!(
            Packet::decode(&CHRONY_REPLY[..47]),
            Err(PacketError::TooShort { len: 47 })
        );
        let mut b = CHRONY_REPLY;
        b[0] = 0x14 | 0x04; // version 2
        assert_eq!(Packet::decode(&b), Err(PacketError::Version { version: 2 }));
    }

    #[test]
    fn kiss_codes() {
        let mut b = CHRONY_REPLY;
        b[1] = 0;
        b[12..16].copy_from_slice(b"RATE");
        assert_eq!(
            Packet::decode(&b).unwrap().kiss_code().as_deref(),
            Some("RATE")
        );
        b[12..16].copy_from_slice(&[b'G', b'P', b'S', 0]);
        b[1] = 1;
        assert_eq!(Packet::decode(&b).unwrap().reference_text(), "GPS");
    }

    #[test]
    fn timestamps_round_trip_across_eras() {
        // 2026-03-03T08:32:11.25Z
        let ns = 1_772_526_731_250_000_000;
        let t = NtpTimestamp::from_unix_ns(ns);
        assert_eq!(t.seconds() as i64, 1_772_526_731 + NTP_UNIX_OFFSET_SECS);
        assert!((t.to_unix_ns(ns) - ns).abs() <= 1);
        // The Unix epoch is NTP 2208988800.
        assert_eq!(NtpTimestamp::from_unix_ns(0).seconds(), 2_208_988_800);
        // 2036-02-07T06:28:16Z is the start of era 1 (seconds wrap to 0).
        let era1 = (1u64 << 32) as i64 - NTP_UNIX_OFFSET_SECS;
        let after = (era1 + 10) * 1_000_000_000;
        let t = NtpTimestamp::from_unix_ns(after);
        assert_eq!(t.seconds(), 10);
        assert_eq!(t.to_unix_ns(after - 60_000_000_000), after);
        let before = (era1 - 10) * 1_000_000_000;
        assert_eq!(NtpTimestamp::from_unix_ns(before).to_unix_ns(after), before);
    }

    #[test]
    fn offset_and_delay() {
        // Server 5 ms ahead, 2 ms each way, 1 ms in the server.
        let t1 = 1_000_000_000;
        let t2 = t1 + 2_000_000 + 5_000_000;
        let t3 = t2 + 1_000_000;
        let t4 = t1 + 2_000_000 + 1_000_000 + 2_000_000;
        assert_eq!(offset_delay(t1, t2, t3, t4), (5_000_000, 4_000_000));
        // Server behind.
        assert_eq!(offset_delay(100, 50, 50, 100), (-50, 0));
    }

    #[test]
    fn short_format() {
        assert_eq!(short_to_ns(0x0001_0000), 1_000_000_000);
        assert_eq!(short_to_ns(0x0000_8000), 500_000_000);
    }
}
