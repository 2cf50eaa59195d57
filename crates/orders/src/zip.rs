//! A deterministic ZIP writer and a careful ZIP reader (deflate and stored
//! entries, ZIP64 where sizes need it, no encryption).
//!
//! Why our own: a bundle must be byte-identical when re-made, so every entry
//! has the same fixed timestamp (1980-01-01 00:00, the format's epoch), no
//! operating-system attributes and no extra fields but ZIP64's, and entries
//! are written in name order. The reader is what `verify-bundle` trusts with
//! a file from outside: every offset and length is checked against the file
//! before it is used, sizes are capped before anything is allocated, and each
//! entry's CRC-32 and size are checked as it is read.
//!
//! ZIP64 (APPNOTE 6.3.x, 4.3.9, 4.4 and 4.5.3) is written only where a value
//! does not fit its classic field (a size, offset or count reaching
//! 0xFFFFFFFF or 0xFFFF), so a bundle under 4 GiB has none and keeps its
//! bytes. The local header is written before its entry's sizes are known, so
//! room for ZIP64 sizes there is decided from the length the caller gives
//! ([`ZipWriter::add_sized`]).

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};
use std::io::{self, Read, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// The header id of the ZIP64 extended-information extra field.
const ZIP64_EXTRA: u16 = 0x0001;
/// Version needed to extract: 2.0 (deflate), 4.5 (ZIP64).
const V20: u16 = 20;
const V45: u16 = 45;
/// A classic field holding this defers to the ZIP64 record.
const MAX16: u64 = 0xFFFF;
const MAX32: u64 = 0xFFFF_FFFF;
const END_LEN: u64 = 22;
/// Without the (unused) extensible data sector.
const ZIP64_END_LEN: u64 = 56;
const LOCATOR_LEN: u64 = 20;
/// 1980-01-01 in MS-DOS date format (the time is 00:00:00 = 0).
const DOS_DATE: u16 = (1 << 5) | 1;
/// Bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const STORED: u16 = 0;
const DEFLATE: u16 = 8;
/// Entry names longer than this are refused.
const MAX_NAME: usize = 1024;
/// More entries than this is not a bundle.
pub const MAX_ENTRIES: usize = 10_000;
/// A larger central directory is not a bundle's (ours take ~1.1 KiB an entry
/// at most); it is read whole, so it is capped before the allocation.
const MAX_CD_LEN: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a ZIP file: {0}")]
    Format(String),
    #[error("{name}: {reason}")]
    Entry { name: String, reason: String },
    #[error(
        "{0} reached 4 GiB but was added without its length (ZipWriter::add_sized), \
         so its local header has no room for ZIP64 sizes"
    )]
    Zip64NotReserved(String),
}

struct Written {
    name: String,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
    /// The local header carries ZIP64 sizes.
    local64: bool,
}

/// Writes entries one after another; [`ZipWriter::finish`] writes the
/// central directory.
pub struct ZipWriter<W: Write + Seek> {
    out: W,
    entries: Vec<Written>,
    /// Sizes and offsets from this value on (and counts from this value or
    /// 0xFFFF on) go to ZIP64 records: 0xFFFFFFFF except in tests.
    limit: u64,
}

/// At least the deflated length of `len` bytes: level 6 falls back to stored
/// blocks for incompressible data, 5 bytes of header per block of up to
/// 64 KiB, so this has a wide margin.
fn deflate_bound(len: u64) -> u64 {
    len.saturating_add(len / 1024).saturating_add(256)
}

/// The 32-bit field for `v`: `v` itself, or 0xFFFFFFFF with `v` appended to
/// the ZIP64 extra field's data.
fn field32(v: u64, limit: u64, zip64: &mut Vec<u8>) -> u32 {
    if v >= limit {
        zip64.extend_from_slice(&v.to_le_bytes());
        MAX32 as u32
    } else {
        v as u32
    }
}

impl<W: Write + Seek> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        Self::with_zip64_threshold(out, MAX32)
    }

    /// For tests: ZIP64 from `threshold` bytes (or entries) on instead of
    /// 0xFFFFFFFF, so that ZIP64 archives can be made small.
    #[doc(hidden)]
    pub fn with_zip64_threshold(out: W, threshold: u64) -> Self {
        ZipWriter {
            out,
            entries: Vec::new(),
            limit: threshold.min(MAX32),
        }
    }

    /// Adds an entry of less than 4 GiB (see [`ZipWriter::add_sized`]).
    pub fn add(&mut self, name: &str, src: &mut dyn Read) -> Result<u64, ZipError> {
        self.add_sized(name, src, 0)
    }

    /// Adds an entry, deflated (level 6: level 9 costs twice the time for
    /// ~1% here), its content read from `src`, whose length is expected to
    /// be `len` (a file's, say). When `len` could reach 4 GiB deflated, the
    /// local header gets ZIP64 sizes; content that reaches 4 GiB without
    /// that is refused. Returns the number of uncompressed bytes.
    pub fn add_sized(&mut self, name: &str, src: &mut dyn Read, len: u64) -> Result<u64, ZipError> {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(ZipError::Entry {
                name: name.to_owned(),
                reason: "bad entry name length".into(),
            });
        }
        let local64 = deflate_bound(len) >= self.limit;
        let offset = self.out.stream_position()?;
        // The header is patched once the sizes and CRC are known.
        self.local_header(name, DEFLATE, 0, 0, 0, local64)?;
        let data_start = self.out.stream_position()?;
        let mut crc = Crc::new();
        let mut enc = DeflateEncoder::new(&mut self.out, Compression::default());
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            enc.write_all(&buf[..n])?;
            total += n as u64;
        }
        enc.finish()?;
        let end = self.out.stream_position()?;
        let csize = end - data_start;
        if !local64 && (total >= self.limit || csize >= self.limit) {
            return Err(ZipError::Zip64NotReserved(name.to_owned()));
        }
        self.out.seek(SeekFrom::Start(offset))?;
        self.local_header(name, DEFLATE, crc.sum(), csize, total, local64)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.entries.push(Written {
            name: name.to_owned(),
            method: DEFLATE,
            crc: crc.sum(),
            csize,
            usize: total,
            offset,
            local64,
        });
        Ok(total)
    }

    fn local_header(
        &mut self,
        name: &str,
        method: u16,
        crc: u32,
        csize: u64,
        usize: u64,
        zip64: bool,
    ) -> io::Result<()> {
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&(if zip64 { V45 } else { V20 }).to_le_bytes());
        h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        if zip64 {
            // APPNOTE 4.5.3: a local ZIP64 field holds both sizes, and both
            // classic fields say so.
            h.extend_from_slice(&[0xFF; 8]);
        } else {
            h.extend_from_slice(&(csize as u32).to_le_bytes());
            h.extend_from_slice(&(usize as u32).to_le_bytes());
        }
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&usize.to_le_bytes());
            h.extend_from_slice(&csize.to_le_bytes());
        }
        self.out.write_all(&h)
    }

    /// Writes the central directory and the end record(s); returns the
    /// output.
    pub fn finish(mut self) -> Result<W, ZipError> {
        let limit = self.limit;
        let cd_start = self.out.stream_position()?;
        let mut cd = Vec::new();
        let mut any64 = false;
        for e in &self.entries {
            // APPNOTE order: uncompressed size, compressed size, offset.
            let mut z = Vec::new();
            let usize32 = field32(e.usize, limit, &mut z);
            let csize32 = field32(e.csize, limit, &mut z);
            let offset32 = field32(e.offset, limit, &mut z);
            let version = if e.local64 || !z.is_empty() { V45 } else { V20 };
            any64 |= version == V45;
            let extra_len = if z.is_empty() { 0 } else { 4 + z.len() as u16 };
            cd.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            cd.extend_from_slice(&version.to_le_bytes()); // made by: MS-DOS attributes
            cd.extend_from_slice(&version.to_le_bytes());
            cd.extend_from_slice(&FLAG_UTF8.to_le_bytes());
            cd.extend_from_slice(&e.method.to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&DOS_DATE.to_le_bytes());
            cd.extend_from_slice(&e.crc.to_le_bytes());
            cd.extend_from_slice(&csize32.to_le_bytes());
            cd.extend_from_slice(&usize32.to_le_bytes());
            cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&extra_len.to_le_bytes());
            cd.extend_from_slice(&[0; 6]); // comment, disk, internal attr
            cd.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            cd.extend_from_slice(&offset32.to_le_bytes());
            cd.extend_from_slice(e.name.as_bytes());
            if !z.is_empty() {
                cd.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
                cd.extend_from_slice(&(z.len() as u16).to_le_bytes());
                cd.extend_from_slice(&z);
            }
        }
        let n = self.entries.len() as u64;
        let cd_len = cd.len() as u64;
        let n16 = if n >= limit.min(MAX16) {
            MAX16 as u16
        } else {
            n as u16
        };
        let mut unused = Vec::new();
        let cd_len32 = field32(cd_len, limit, &mut unused);
        let cd_start32 = field32(cd_start, limit, &mut unused);
        self.out.write_all(&cd)?;
        if any64 || n16 as u64 == MAX16 || !unused.is_empty() {
            let at = cd_start + cd_len;
            let mut z = Vec::with_capacity((ZIP64_END_LEN + LOCATOR_LEN) as usize);
            z.extend_from_slice(&ZIP64_END_SIG.to_le_bytes());
            z.extend_from_slice(&(ZIP64_END_LEN - 12).to_le_bytes());
            z.extend_from_slice(&V45.to_le_bytes()); // made by
            z.extend_from_slice(&V45.to_le_bytes());
            z.extend_from_slice(&[0; 8]); // disk numbers
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&n.to_le_bytes());
            z.extend_from_slice(&cd_len.to_le_bytes());
            z.extend_from_slice(&cd_start.to_le_bytes());
            z.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes()); // its disk
            z.extend_from_slice(&at.to_le_bytes());
            z.extend_from_slice(&1u32.to_le_bytes()); // disks in all
            self.out.write_all(&z)?;
        }
        let mut end = Vec::with_capacity(END_LEN as usize);
        end.extend_from_slice(&END_SIG.to_le_bytes());
        end.extend_from_slice(&[0; 4]); // disk numbers
        end.extend_from_slice(&n16.to_le_bytes());
        end.extend_from_slice(&n16.to_le_bytes());
        end.extend_from_slice(&cd_len32.to_le_bytes());
        end.extend_from_slice(&cd_start32.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One entry of the central directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    header_offset: u64,
}

/// A ZIP file opened for reading.
pub struct ZipReader<R: Read + Seek> {
    src: R,
    len: u64,
    entries: Vec<Entry>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn read_at<R: Read + Seek>(src: &mut R, at: u64, buf: &mut [u8]) -> io::Result<()> {
    src.seek(SeekFrom::Start(at))?;
    src.read_exact(buf)
}

/// What the ZIP64 end record says.
struct End64 {
    /// Where it starts: the central directory ends before.
    at: u64,
    count: u64,
    cd_len: u64,
    cd_off: u64,
}

/// The ZIP64 end record, if a locator sits just before the end record at
/// `end_at`.
fn zip64_end<R: Read + Seek>(src: &mut R, end_at: u64) -> Result<Option<End64>, ZipError> {
    let bad = |m: String| ZipError::Format(m);
    let Some(loc_at) = end_at.checked_sub(LOCATOR_LEN) else {
        return Ok(None);
    };
    let mut loc = [0u8; LOCATOR_LEN as usize];
    read_at(src, loc_at, &mut loc)?;
    if u32_at(&loc, 0) != ZIP64_LOCATOR_SIG {
        return Ok(None);
    }
    // Disks in all: 1, or 0 from some writers.
    if u32_at(&loc, 4) != 0 || u32_at(&loc, 16) > 1 {
        return Err(bad("multi-disk archives are not supported".into()));
    }
    let at = u64_at(&loc, 8);
    if at.checked_add(ZIP64_END_LEN).is_none_or(|e| e > loc_at) {
        return Err(bad(format!(
            "the ZIP64 locator points at offset {at}, where no ZIP64 end record fits \
             before the locator (at {loc_at})"
        )));
    }
    let mut r = [0u8; ZIP64_END_LEN as usize];
    read_at(src, at, &mut r)?;
    if u32_at(&r, 0) != ZIP64_END_SIG {
        return Err(bad(format!(
            "no ZIP64 end record at offset {at}, where the locator points"
        )));
    }
    let rec_len = u64_at(&r, 4);
    // The record runs up to the locator (no overflow: `at + 56 <= loc_at`).
    if rec_len != loc_at - at - 12 {
        return Err(bad(format!(
            "the ZIP64 end record's length ({rec_len}) does not reach its locator"
        )));
    }
    let count = u64_at(&r, 32);
    if u32_at(&r, 16) != 0 || u32_at(&r, 20) != 0 || u64_at(&r, 24) != count {
        return Err(bad("multi-disk archives are not supported".into()));
    }
    Ok(Some(End64 {
        at,
        count,
        cd_len: u64_at(&r, 40),
        cd_off: u64_at(&r, 48),
    }))
}

/// Replaces each of `fields` (uncompressed size, compressed size, local
/// header offset: APPNOTE's order) that is 0xFFFFFFFF with its value from
/// the ZIP64 field in `extra`.
fn apply_zip64(extra: &[u8], fields: [&mut u64; 3]) -> Result<(), String> {
    let needed = fields.iter().filter(|f| ***f == MAX32).count();
    if needed == 0 {
        return Ok(());
    }
    let mut found = None;
    let mut rest = extra;
    while rest.len() >= 4 {
        let (id, n) = (u16_at(rest, 0), 4 + u16_at(rest, 2) as usize);
        let Some(data) = rest.get(4..n) else {
            return Err("its extra field is damaged (a block runs past its end)".into());
        };
        if id == ZIP64_EXTRA {
            if found.is_some() {
                return Err("it has two ZIP64 extra fields".into());
            }
            found = Some(data);
        }
        rest = &rest[n..];
    }
    let Some(data) = found else {
        return Err("a size or offset is 0xFFFFFFFF but there is no ZIP64 extra field".into());
    };
    if data.len() < 8 * needed {
        return Err(format!(
            "its ZIP64 extra field has {} bytes, {} are needed",
            data.len(),
            8 * needed
        ));
    }
    let mut at = 0;
    for f in fields {
        if *f == MAX32 {
            *f = u64_at(data, at);
            at += 8;
        }
    }
    Ok(())
}

impl<R: Read + Seek> ZipReader<R> {
    pub fn new(mut src: R) -> Result<Self, ZipError> {
        let bad = |m: &str| ZipError::Format(m.to_owned());
        let len = src.seek(SeekFrom::End(0))?;
        if len < END_LEN {
            return Err(bad("too short for an end-of-central-directory record"));
        }
        // The end record is the last 22 bytes plus a comment of up to 64 KiB.
        let tail_len = len.min(END_LEN + 65_535);
        let mut tail = vec![0u8; tail_len as usize];
        read_at(&mut src, len - tail_len, &mut tail)?;
        let at = (0..=tail.len() - END_LEN as usize)
            .rev()
            .find(|&i| u32_at(&tail, i) == END_SIG)
            .ok_or_else(|| bad("no end-of-central-directory record"))?;
        let end = &tail[at..];
        let end_at = len - tail_len + at as u64;
        let mut count = u16_at(end, 10) as u64;
        let mut cd_len = u32_at(end, 12) as u64;
        let mut cd_off = u32_at(end, 16) as u64;
        if u16_at(end, 4) != 0 || u16_at(end, 6) != 0 || u16_at(end, 8) as u64 != count {
            return Err(bad("multi-disk archives are not supported"));
        }
        // Where the central directory must end.
        let mut cd_limit = end_at;
        if let Some(z) = zip64_end(&mut src, end_at)? {
            // Each classic field holds the value too, or defers to ZIP64.
            for (what, classic, placeholder, real) in [
                ("entry count", count, MAX16, z.count),
                ("central directory size", cd_len, MAX32, z.cd_len),
                ("central directory offset", cd_off, MAX32, z.cd_off),
            ] {
                if classic != placeholder && classic != real {
                    return Err(bad(&format!(
                        "the end record and the ZIP64 end record disagree on the {what} \
                         ({classic} and {real})"
                    )));
                }
            }
            (count, cd_len, cd_off, cd_limit) = (z.count, z.cd_len, z.cd_off, z.at);
        } else if count == MAX16 || cd_len == MAX32 || cd_off == MAX32 {
            return Err(bad(
                "the end record defers to a ZIP64 end record (0xFFFF or 0xFFFFFFFF), \
                 but there is no ZIP64 locator",
            ));
        }
        if count > MAX_ENTRIES as u64 {
            return Err(bad(&format!("{count} entries (at most {MAX_ENTRIES})")));
        }
        if cd_len > MAX_CD_LEN {
            return Err(bad(&format!(
                "a central directory of {cd_len} bytes (at most {MAX_CD_LEN})"
            )));
        }
        match cd_off.checked_add(cd_len) {
            Some(e) if e <= cd_limit => {}
            Some(e) if e <= len => {
                return Err(bad("the central directory overlaps the end records"));
            }
            _ => return Err(bad("the central directory lies outside the file")),
        }
        let mut cd = vec![0u8; cd_len as usize];
        read_at(&mut src, cd_off, &mut cd)?;
        let count = count as usize;
        let mut entries = Vec::with_capacity(count);
        let mut p = 0usize;
        for i in 0..count {
            if p + 46 > cd.len() || u32_at(&cd, p) != CENTRAL_SIG {
                return Err(bad(&format!("central directory entry {i} is damaged")));
            }
            let flags = u16_at(&cd, p + 8);
            let method = u16_at(&cd, p + 10);
            let crc = u32_at(&cd, p + 16);
            let mut compressed = u32_at(&cd, p + 20) as u64;
            let mut size = u32_at(&cd, p + 24) as u64;
            let (nl, xl, cl) = (
                u16_at(&cd, p + 28) as usize,
                u16_at(&cd, p + 30) as usize,
                u16_at(&cd, p + 32) as usize,
            );
            let disk = u16_at(&cd, p + 34);
            let mut header_offset = u32_at(&cd, p + 42) as u64;
            let next = p + 46 + nl + xl + cl;
            if next > cd.len() || nl == 0 || nl > MAX_NAME {
                return Err(bad(&format!("central directory entry {i} is damaged")));
            }
            let name = std::str::from_utf8(&cd[p + 46..p + 46 + nl])
                .map_err(|_| bad(&format!("entry {i}'s name is not UTF-8")))?
                .to_owned();
            let extra = &cd[p + 46 + nl..p + 46 + nl + xl];
            if let Err(reason) =
                apply_zip64(extra, [&mut size, &mut compressed, &mut header_offset])
            {
                return Err(ZipError::Entry { name, reason });
            }
            if disk != 0 {
                return Err(bad("multi-disk archives are not supported"));
            }
            if flags & 1 != 0 {
                return Err(ZipError::Entry {
                    name,
                    reason: "encrypted entries are not supported".into(),
                });
            }
            if method != STORED && method != DEFLATE {
                return Err(ZipError::Entry {
                    name,
                    reason: format!("compression method {method} is not supported"),
                });
            }
            if entries.iter().any(|e: &Entry| e.name == name) {
                return Err(ZipError::Entry {
                    name,
                    reason: "appears twice".into(),
                });
            }
            entries.push(Entry {
                name,
                method,
                crc,
                compressed,
                size,
                header_offset,
            });
            p = next;
        }
        Ok(ZipReader { src, len, entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// A reader of the entry's content; it fails (with an error naming the
    /// entry) if the content is longer or shorter than the directory says,
    /// or its CRC-32 differs.
    pub fn open(&mut self, name: &str) -> Result<EntryReader<'_>, ZipError> {
        let e = self.entry(name).cloned().ok_or_else(|| ZipError::Entry {
            name: name.to_owned(),
            reason: "is not in the bundle".into(),
        })?;
        let damaged = |reason: &str| ZipError::Entry {
            name: e.name.clone(),
            reason: reason.to_owned(),
        };
        // ZIP64 offsets are 64-bit: no sum here may overflow.
        let Some(header_end) = e.header_offset.checked_add(30).filter(|&x| x <= self.len) else {
            return Err(damaged("its local header lies outside the file"));
        };
        let mut h = [0u8; 30];
        read_at(&mut self.src, e.header_offset, &mut h)?;
        if u32_at(&h, 0) != LOCAL_SIG {
            return Err(damaged("its local header is damaged"));
        }
        // Its sizes, ZIP64 or not, are the central directory's to give.
        let data = header_end + u16_at(&h, 26) as u64 + u16_at(&h, 28) as u64;
        if data
            .checked_add(e.compressed)
            .is_none_or(|end| end > self.len)
        {
            return Err(damaged("its data lies outside the file"));
        }
        self.src.seek(SeekFrom::Start(data))?;
        let raw: Box<dyn Read + '_> = {
            let taken = (&mut self.src).take(e.compressed);
            if e.method == DEFLATE {
                Box::new(DeflateDecoder::new(taken))
            } else {
                Box::new(taken)
            }
        };
        Ok(EntryReader {
            inner: raw,
            crc: Crc::new(),
            read: 0,
            entry: e,
        })
    }

    /// The whole content of an entry, refused when larger than `max` bytes.
    pub fn read_all(&mut self, name: &str, max: u64) -> Result<Vec<u8>, ZipError> {
        let size = self.entry(name).map(|e| e.size).unwrap_or(0);
        if size > max {
            return Err(ZipError::Entry {
                name: name.to_owned(),
                reason: format!("{size} bytes is more than the {max} allowed"),
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.open(name)?.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Reads one entry, checking its size and CRC-32 at the end.
pub struct EntryReader<'a> {
    inner: Box<dyn Read + 'a>,
    crc: Crc,
    read: u64,
    entry: Entry,
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        // Never inflate past the size the directory announced (a zip bomb
        // stops here), but read one byte more to notice a longer entry (a
        // ZIP64 size may be u64::MAX: saturate).
        let room = (self.entry.size.saturating_add(1) - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if self.read > self.entry.size {
            return Err(bad(format!(
                "{}: longer than the {} bytes the directory says",
                self.entry.name, self.entry.size
            )));
        }
        self.crc.update(&buf[..n]);
        if n == 0 && !buf.is_empty() {
            if self.read != self.entry.size {
                return Err(bad(format!(
                    "{}: {} bytes, the directory says {}",
                    self.entry.name, self.read, self.entry.size
                )));
            }
            if self.crc.sum() != self.entry.crc {
                return Err(bad(format!(
                    "{}: CRC-32 mismatch (the entry is damaged)",
                    self.entry.name
                )));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::Cursor;
    use std::process::Command;

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for (n, d) in entries {
            w.add(n, &mut &d[..]).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// With ZIP64 from `threshold` on, each entry's length given.
    fn build64(threshold: u64, entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut w = ZipWriter::with_zip64_threshold(Cursor::new(Vec::new()), threshold);
        for (n, d) in entries {
            w.add_sized(n, &mut &d[..], d.len() as u64).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn text(n: usize) -> Vec<u8> {
        b"line of log text\n"
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()
    }

    /// Incompressible bytes (xorshift), the same every run.
    fn noise(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn has(z: &[u8], sig: u32) -> bool {
        z.windows(4).any(|w| w == sig.to_le_bytes())
    }

    fn open(z: &[u8]) -> Result<ZipReader<Cursor<Vec<u8>>>, String> {
        ZipReader::new(Cursor::new(z.to_vec())).map_err(|e| e.to_string())
    }

    fn open_err(z: &[u8]) -> String {
        match open(z) {
            Ok(_) => panic!("a damaged archive was accepted"),
            Err(e) => e,
        }
    }

    /// (name, size, compressed) of each entry, as our reader lists them.
    fn listing(z: &[u8]) -> Vec<(String, u64, u64)> {
        let r = open(z).unwrap();
        r.entries()
            .iter()
            .map(|e| (e.name.clone(), e.size, e.compressed))
            .collect()
    }

    /// Where each central directory record starts, walked by hand from
    /// the ZIP64 end record (the archive must have one and no comment).
    fn central(z: &[u8]) -> Vec<usize> {
        let z64 = z.len() - (END_LEN + LOCATOR_LEN + ZIP64_END_LEN) as usize;
        assert_eq!(u32_at(z, z64), ZIP64_END_SIG);
        let mut p = u64_at(z, z64 + 48) as usize;
        let mut out = Vec::new();
        while p < z64 {
            assert_eq!(u32_at(z, p), CENTRAL_SIG);
            out.push(p);
            p += 46
                + [28, 30, 32]
                    .iter()
                    .map(|&f| u16_at(z, p + f) as usize)
                    .sum::<usize>();
        }
        out
    }

    /// Every entry and the directory use ZIP64.
    fn all_zip64() -> (Vec<(&'static str, Vec<u8>)>, Vec<u8>) {
        let es = vec![
            ("a.txt", b"hello".to_vec()),
            ("b/c.ndjson", text(170_000)),
            ("d.bin", noise(300_000)),
            ("empty", Vec::new()),
        ];
        let z = build64(0, &es);
        (es, z)
    }

    /// ZIP64 only where a value reaches 100,000: each combination of
    /// fields in the central directory's ZIP64 field.
    fn some_zip64() -> (Vec<(&'static str, Vec<u8>)>, Vec<u8>) {
        let es = vec![
            ("a.log", text(99_900)),      // local ZIP64 reserved, not needed
            ("b.log", text(200_000)),     // the uncompressed size
            ("c.bin", noise(150_000)),    // both sizes
            ("d.txt", b"hello".to_vec()), // the offset
            ("e.txt", Vec::new()),        // the offset
        ];
        let z = build64(100_000, &es);
        (es, z)
    }

    #[test]
    fn round_trip_and_determinism() {
        let big = b"line of log text\n".repeat(10_000);
        let a = build(&[("a.txt", b"hello"), ("b/c.ndjson", &big), ("empty", b"")]);
        assert_eq!(
            a,
            build(&[("a.txt", b"hello"), ("b/c.ndjson", &big), ("empty", b"")])
        );
        let mut r = ZipReader::new(Cursor::new(a)).unwrap();
        let names: Vec<_> = r.entries().iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["a.txt", "b/c.ndjson", "empty"]);
        assert_eq!(r.read_all("a.txt", 100).unwrap(), b"hello");
        assert_eq!(r.read_all("b/c.ndjson", 1 << 20).unwrap(), big);
        assert_eq!(r.read_all("empty", 0).unwrap(), b"");
        assert!(r.read_all("b/c.ndjson", 10).is_err());
    }

    #[test]
    fn small_archives_have_no_zip64_and_keep_their_bytes() {
        let big = b"line of log text\n".repeat(10_000);
        let es: [(&str, &[u8]); 3] = [("a.txt", b"hello"), ("b/c.ndjson", &big), ("empty", b"")];
        let z = build(&es);
        // What the writer made before it knew ZIP64.
        assert_eq!(z.len(), 1327);
        assert_eq!(
            hex::encode(Sha256::digest(&z)),
            "115aadcec164e64b7229a92d0a0f65701c1b693af701509810de62cf3164b39c"
        );
        assert!(!has(&z, ZIP64_END_SIG) && !has(&z, ZIP64_LOCATOR_SIG));
        // Lengths far from 4 GiB change nothing.
        let sized: Vec<_> = es.iter().map(|(n, d)| (*n, d.to_vec())).collect();
        assert_eq!(build64(MAX32, &sized), z);
    }

    #[test]
    fn zip64_round_trip() {
        let (es, z) = all_zip64();
        assert_eq!(z, all_zip64().1, "not deterministic");
        let end = z.len() - END_LEN as usize;
        assert_eq!(u32_at(&z, end - 20), ZIP64_LOCATOR_SIG);
        // The classic end record defers every value.
        assert_eq!(u16_at(&z, end + 10), 0xFFFF);
        assert_eq!(u32_at(&z, end + 12), u32::MAX);
        assert_eq!(u32_at(&z, end + 16), u32::MAX);
        for p in central(&z) {
            assert_eq!(u16_at(&z, p + 6), V45);
            for f in [20, 24, 42] {
                assert_eq!(u32_at(&z, p + f), u32::MAX);
            }
            let nl = u16_at(&z, p + 28) as usize;
            assert_eq!(u16_at(&z, p + 30), 28);
            assert_eq!(u16_at(&z, p + 46 + nl), ZIP64_EXTRA);
            assert_eq!(u16_at(&z, p + 46 + nl + 2), 24);
        }
        let mut r = open(&z).unwrap();
        assert_eq!(r.entries().len(), es.len());
        for (n, d) in &es {
            let e = r.entry(n).unwrap().clone();
            assert_eq!(e.size, d.len() as u64);
            assert!(e.compressed <= deflate_bound(e.size), "{n}: {e:?}");
            assert_eq!(&r.read_all(n, 1 << 20).unwrap(), d);
        }
    }

    #[test]
    fn zip64_fields_hold_only_the_values_that_need_them() {
        let (es, z) = some_zip64();
        let cd = central(&z);
        let extra: Vec<u16> = cd.iter().map(|&p| u16_at(&z, p + 30)).collect();
        assert_eq!(extra, [0, 12, 20, 12, 12]);
        assert!(cd.iter().all(|&p| u16_at(&z, p + 6) == V45));
        // b.log: only its uncompressed size; d.txt: only its offset.
        assert_eq!(u32_at(&z, cd[1] + 24), u32::MAX);
        assert_ne!(u32_at(&z, cd[1] + 20), u32::MAX);
        assert_eq!(u64_at(&z, cd[1] + 46 + 5 + 4), 200_000);
        assert_eq!(u32_at(&z, cd[3] + 42), u32::MAX);
        // Local headers: room for ZIP64 sizes where the length could need it.
        assert_eq!((u16_at(&z, 4), u16_at(&z, 28)), (V45, 20));
        assert_eq!(u32_at(&z, 18), u32::MAX);
        let d = u64_at(&z, cd[3] + 46 + 5 + 4) as usize;
        assert_eq!((u16_at(&z, d + 4), u16_at(&z, d + 28)), (V20, 0));
        // The end record keeps the values that fit.
        let end = z.len() - END_LEN as usize;
        assert_eq!(u16_at(&z, end + 10), 5);
        assert_eq!(u32_at(&z, end + 16), u32::MAX);
        let mut r = open(&z).unwrap();
        for (n, d) in &es {
            assert_eq!(&r.read_all(n, 1 << 20).unwrap(), d);
        }
    }

    #[test]
    fn a_large_entry_added_without_its_length_is_refused() {
        let mut w = ZipWriter::with_zip64_threshold(Cursor::new(Vec::new()), 1000);
        let e = w.add("x.bin", &mut &noise(5000)[..]).unwrap_err();
        assert!(
            matches!(e, ZipError::Zip64NotReserved(ref n) if n == "x.bin"),
            "{e}"
        );
    }

    /// Info-ZIP's `unzip -t` and Python's `zipfile` test both ZIP64
    /// archives (every CRC) and list what our reader lists.
    #[test]
    fn zip64_archives_open_in_unzip_and_python() {
        let dir = tempfile::tempdir().unwrap();
        for (i, z) in [all_zip64().1, some_zip64().1].iter().enumerate() {
            let path = dir.path().join(format!("{i}.zip"));
            std::fs::write(&path, z).unwrap();
            let ours = listing(z);

            let t = Command::new("unzip")
                .arg("-t")
                .arg(&path)
                .output()
                .expect("unzip is installed (scripts/test installs it)");
            let out = String::from_utf8_lossy(&t.stdout);
            assert!(
                t.status.success(),
                "unzip -t: {out}{}",
                String::from_utf8_lossy(&t.stderr)
            );
            assert!(out.contains("No errors detected"), "{out}");
            // zipinfo's long listing: ... size, type, compressed size, method, date, time, name
            let l = Command::new("unzip")
                .arg("-Zl")
                .arg(&path)
                .output()
                .unwrap();
            assert!(l.status.success());
            let theirs: Vec<(String, u64, u64)> = String::from_utf8(l.stdout)
                .unwrap()
                .lines()
                .filter(|l| l.starts_with('-'))
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (
                        f[9].to_owned(),
                        f[3].parse().unwrap(),
                        f[5].parse().unwrap(),
                    )
                })
                .collect();
            assert_eq!(theirs, ours, "unzip -Zl");

            let py = Command::new("python3")
                .args([
                    "-c",
                    "import sys, zipfile\n\
                     with zipfile.ZipFile(sys.argv[1]) as z:\n\
                     \x20   assert z.testzip() is None\n\
                     \x20   for i in z.infolist():\n\
                     \x20       print(i.filename, i.file_size, i.compress_size)\n",
                ])
                .arg(&path)
                .output()
                .expect("python3 runs");
            assert!(
                py.status.success(),
                "{}",
                String::from_utf8_lossy(&py.stderr)
            );
            let theirs: Vec<(String, u64, u64)> = String::from_utf8(py.stdout)
                .unwrap()
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    (
                        f[0].to_owned(),
                        f[1].parse().unwrap(),
                        f[2].parse().unwrap(),
                    )
                })
                .collect();
            assert_eq!(theirs, ours, "python3 zipfile");
        }
    }

    #[test]
    fn damaged_zip64_end_records_are_refused_clearly() {
        let (_, z) = all_zip64();
        let n = z.len();
        let end = n - END_LEN as usize;
        let loc = end - LOCATOR_LEN as usize;
        let z64 = loc - ZIP64_END_LEN as usize;
        let with = |at: usize, bytes: &[u8]| {
            let mut b = z.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            open_err(&b)
        };
        for bad in [n as u64 + 100, u64::MAX, z64 as u64 + 1] {
            let e = with(loc + 8, &bad.to_le_bytes());
            assert!(e.contains("the ZIP64 locator points at offset"), "{e}");
        }
        let e = with(loc + 8, &0u64.to_le_bytes());
        assert!(e.contains("no ZIP64 end record at offset 0"), "{e}");
        for bad in [43, 45, u64::MAX] {
            let e = with(z64 + 4, &bad.to_le_bytes());
            assert!(e.contains("does not reach its locator"), "{e}");
        }
        let e = with(z64 + 48, &(n as u64).to_le_bytes());
        assert!(
            e.contains("the central directory lies outside the file"),
            "{e}"
        );
        let e = with(z64 + 48, &u64::MAX.to_le_bytes());
        assert!(
            e.contains("the central directory lies outside the file"),
            "{e}"
        );
        let e = with(z64 + 40, &(u64::MAX - 1).to_le_bytes());
        assert!(e.contains("a central directory of"), "{e}");
        let e = with(z64 + 24, &[0xFF; 16]);
        assert!(e.contains("entries (at most 10000)"), "{e}");
        let e = with(z64 + 24, &[9; 8]);
        assert!(e.contains("multi-disk"), "{e}");
        // Placeholders in the end record with no locator to back them.
        let e = with(loc, &[0; 4]);
        assert!(e.contains("there is no ZIP64 locator"), "{e}");
        // A value both records hold must agree.
        let (_, s) = some_zip64();
        let mut b = s.clone();
        let count = b.len() - END_LEN as usize + 8;
        b[count..count + 4].copy_from_slice(&[4, 0, 4, 0]);
        let e = open_err(&b);
        assert!(e.contains("disagree on the entry count (4 and 5)"), "{e}");
        // Cut anywhere in the end records.
        for cut in z64..n {
            open_err(&z[..cut]);
        }
    }

    #[test]
    fn damaged_zip64_extra_fields_are_refused_clearly() {
        let (_, s) = some_zip64();
        let cd = central(&s);
        let with = |z: &[u8], at: usize, bytes: &[u8]| {
            let mut b = z.to_vec();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        // b.log's ZIP64 field holds its size only; a second 0xFFFFFFFF
        // needs a longer one.
        let e = open_err(&with(&s, cd[1] + 20, &[0xFF; 4]));
        assert_eq!(e, "b.log: its ZIP64 extra field has 8 bytes, 16 are needed");
        let e = open_err(&with(&s, cd[1] + 46 + 5 + 2, &[200, 0]));
        assert!(e.contains("b.log: its extra field is damaged"), "{e}");
        // a.log has no extra field in the central directory.
        let e = open_err(&with(&s, cd[0] + 24, &[0xFF; 4]));
        assert!(
            e.contains("a.log: a size or offset is 0xFFFFFFFF but there is no ZIP64"),
            "{e}"
        );
        // Offsets and sizes past the end of the file (d.txt: offset only).
        let (_, z) = all_zip64();
        let cd = central(&z);
        let data = cd[0] + 46 + 5 + 4; // a.txt: size, compressed, offset
        for (at, v, want) in [
            (
                data + 16,
                z.len() as u64,
                "its local header lies outside the file",
            ),
            (
                data + 16,
                u64::MAX - 10,
                "its local header lies outside the file",
            ),
            (data + 8, z.len() as u64, "its data lies outside the file"),
            (data + 8, u64::MAX, "its data lies outside the file"),
            (data, u64::MAX, "more than the"),
        ] {
            let mut r = open(&with(&z, at, &v.to_le_bytes())).unwrap();
            let e = r.read_all("a.txt", 1 << 20).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        // An announced size of u64::MAX read through open(): an error, no overflow.
        let mut r = open(&with(&z, data, &u64::MAX.to_le_bytes())).unwrap();
        let mut out = Vec::new();
        let e = r.open("a.txt").unwrap().read_to_end(&mut out).unwrap_err();
        assert!(
            e.to_string().contains("a.txt: 5 bytes, the directory says"),
            "{e}"
        );
    }

    /// Any one byte of a small ZIP64 archive changed: an answer, never a
    /// panic.
    #[test]
    fn every_damaged_byte_of_a_zip64_archive_is_survived() {
        let z = build64(
            0,
            &[
                ("a.txt", b"hello".to_vec()),
                ("b", text(3000)),
                ("c", vec![]),
            ],
        );
        for i in 0..z.len() {
            for v in [z[i] ^ 0xFF, 0, 0xFF] {
                let mut b = z.clone();
                b[i] = v;
                if let Ok(mut r) = open(&b) {
                    let names: Vec<String> = r.entries().iter().map(|e| e.name.clone()).collect();
                    for n in names {
                        let _ = r.read_all(&n, 1 << 20);
                    }
                }
            }
        }
    }

    #[test]
    fn a_flipped_data_byte_is_caught() {
        let mut z = build(&[("a.txt", &b"x".repeat(1000))]);
        // The deflated data starts after the 30-byte header and the name.
        z[30 + 5 + 1] ^= 0x55;
        let mut r = ZipReader::new(Cursor::new(z)).unwrap();
        let e = r.read_all("a.txt", 1 << 20).unwrap_err().to_string();
        assert!(e.contains("a.txt") || e.contains("deflate"), "{e}");
    }

    #[test]
    fn truncated_and_garbage_files_are_refused() {
        let z = build(&[("a.txt", b"hello")]);
        for cut in [0, 10, z.len() - 1] {
            assert!(ZipReader::new(Cursor::new(z[..cut].to_vec())).is_err());
        }
        assert!(ZipReader::new(Cursor::new(vec![0u8; 100])).is_err());
    }
}
