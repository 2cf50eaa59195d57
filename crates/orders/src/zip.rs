//! A deterministic ZIP writer and a careful ZIP reader (deflate and stored
//! entries, no ZIP64, no encryption).
//!
//! Why our own: a bundle must be byte-identical when re-made, so every entry
//! has the same fixed timestamp (1980-01-01 00:00, the format's epoch), no
//! extra fields and no operating-system attributes, and entries are written
//! in name order. The reader is what `verify-bundle` trusts with a file from
//! outside: every offset and length is checked against the file before it is
//! used, sizes are capped before anything is allocated, and each entry's
//! CRC-32 and size are checked as it is read.

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};
use std::io::{self, Read, Seek, SeekFrom, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
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

#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a ZIP file: {0}")]
    Format(String),
    #[error("{name}: {reason}")]
    Entry { name: String, reason: String },
    #[error("{0} is over 4 GiB, which needs ZIP64 (not supported)")]
    TooLarge(String),
}

struct Written {
    name: String,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
}

/// Writes entries one after another; [`ZipWriter::finish`] writes the
/// central directory.
pub struct ZipWriter<W: Write + Seek> {
    out: W,
    entries: Vec<Written>,
}

impl<W: Write + Seek> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        ZipWriter {
            out,
            entries: Vec::new(),
        }
    }

    /// Adds an entry, deflated (level 6: level 9 costs twice the time for ~1% here), its content read from `src`.
    /// Returns the number of uncompressed bytes.
    pub fn add(&mut self, name: &str, src: &mut dyn Read) -> Result<u64, ZipError> {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(ZipError::Entry {
                name: name.to_owned(),
                reason: "bad entry name length".into(),
            });
        }
        let offset = self.out.stream_position()?;
        // The header is patched once the sizes and CRC are known.
        self.local_header(name, DEFLATE, 0, 0, 0)?;
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
        if total > u32::MAX as u64 || csize > u32::MAX as u64 || end > u32::MAX as u64 {
            return Err(ZipError::TooLarge(name.to_owned()));
        }
        self.out.seek(SeekFrom::Start(offset))?;
        self.local_header(name, DEFLATE, crc.sum(), csize, total)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.entries.push(Written {
            name: name.to_owned(),
            method: DEFLATE,
            crc: crc.sum(),
            csize,
            usize: total,
            offset,
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
    ) -> io::Result<()> {
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        h.extend_from_slice(&FLAG_UTF8.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // time
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&(csize as u32).to_le_bytes());
        h.extend_from_slice(&(usize as u32).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // extra
        h.extend_from_slice(name.as_bytes());
        self.out.write_all(&h)
    }

    /// Writes the central directory and the end record; returns the output.
    pub fn finish(mut self) -> Result<W, ZipError> {
        let cd_start = self.out.stream_position()?;
        let mut cd = Vec::new();
        for e in &self.entries {
            cd.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes()); // made by: 2.0, MS-DOS attributes
            cd.extend_from_slice(&20u16.to_le_bytes());
            cd.extend_from_slice(&FLAG_UTF8.to_le_bytes());
            cd.extend_from_slice(&e.method.to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&DOS_DATE.to_le_bytes());
            cd.extend_from_slice(&e.crc.to_le_bytes());
            cd.extend_from_slice(&(e.csize as u32).to_le_bytes());
            cd.extend_from_slice(&(e.usize as u32).to_le_bytes());
            cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attr
            cd.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            cd.extend_from_slice(&(e.offset as u32).to_le_bytes());
            cd.extend_from_slice(e.name.as_bytes());
        }
        if cd_start + cd.len() as u64 > u32::MAX as u64 || self.entries.len() > u16::MAX as usize {
            return Err(ZipError::TooLarge("the bundle".into()));
        }
        let n = self.entries.len() as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&END_SIG.to_le_bytes());
        end.extend_from_slice(&[0; 4]); // disk numbers
        end.extend_from_slice(&n.to_le_bytes());
        end.extend_from_slice(&n.to_le_bytes());
        end.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        end.extend_from_slice(&(cd_start as u32).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&cd)?;
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

impl<R: Read + Seek> ZipReader<R> {
    pub fn new(mut src: R) -> Result<Self, ZipError> {
        let bad = |m: &str| ZipError::Format(m.to_owned());
        let len = src.seek(SeekFrom::End(0))?;
        if len < 22 {
            return Err(bad("too short for an end-of-central-directory record"));
        }
        // The end record is the last 22 bytes plus a comment of up to 64 KiB.
        let tail_len = len.min(22 + 65_535);
        src.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        src.read_exact(&mut tail)?;
        let at = (0..=tail.len() - 22)
            .rev()
            .find(|&i| u32_at(&tail, i) == END_SIG)
            .ok_or_else(|| bad("no end-of-central-directory record"))?;
        let end = &tail[at..];
        let count = u16_at(end, 10) as usize;
        let cd_len = u32_at(end, 12) as u64;
        let cd_off = u32_at(end, 16) as u64;
        if u16_at(end, 4) != 0 || u16_at(end, 6) != 0 || u16_at(end, 8) as usize != count {
            return Err(bad("multi-disk archives are not supported"));
        }
        if count > MAX_ENTRIES {
            return Err(bad(&format!("{count} entries (at most {MAX_ENTRIES})")));
        }
        if cd_off.checked_add(cd_len).is_none_or(|e| e > len) {
            return Err(bad("the central directory lies outside the file"));
        }
        src.seek(SeekFrom::Start(cd_off))?;
        let mut cd = vec![0u8; cd_len as usize];
        src.read_exact(&mut cd)?;
        let mut entries = Vec::with_capacity(count);
        let mut p = 0usize;
        for i in 0..count {
            if p + 46 > cd.len() || u32_at(&cd, p) != CENTRAL_SIG {
                return Err(bad(&format!("central directory entry {i} is damaged")));
            }
            let flags = u16_at(&cd, p + 8);
            let method = u16_at(&cd, p + 10);
            let crc = u32_at(&cd, p + 16);
            let compressed = u32_at(&cd, p + 20) as u64;
            let size = u32_at(&cd, p + 24) as u64;
            let (nl, xl, cl) = (
                u16_at(&cd, p + 28) as usize,
                u16_at(&cd, p + 30) as usize,
                u16_at(&cd, p + 32) as usize,
            );
            let header_offset = u32_at(&cd, p + 42) as u64;
            let next = p + 46 + nl + xl + cl;
            if next > cd.len() || nl == 0 || nl > MAX_NAME {
                return Err(bad(&format!("central directory entry {i} is damaged")));
            }
            let name = std::str::from_utf8(&cd[p + 46..p + 46 + nl])
                .map_err(|_| bad(&format!("entry {i}'s name is not UTF-8")))?
                .to_owned();
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
        if e.header_offset + 30 > self.len {
            return Err(damaged("its local header lies outside the file"));
        }
        self.src.seek(SeekFrom::Start(e.header_offset))?;
        let mut h = [0u8; 30];
        self.src.read_exact(&mut h)?;
        if u32_at(&h, 0) != LOCAL_SIG {
            return Err(damaged("its local header is damaged"));
        }
        let data = e.header_offset + 30 + u16_at(&h, 26) as u64 + u16_at(&h, 28) as u64;
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
        // stops here), but read one byte more to notice a longer entry.
        let room = (self.entry.size + 1 - self.read).min(buf.len() as u64) as usize;
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
    use std::io::Cursor;

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for (n, d) in entries {
            w.add(n, &mut &d[..]).unwrap();
        }
        w.finish().unwrap().into_inner()
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
