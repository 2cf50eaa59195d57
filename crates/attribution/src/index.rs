//! The in-memory attribution index: immutable, columnar, sorted by
//! (address or prefix, start), persisted as one binary file.
//!
//! A lookup of address `A` at time `T` (port `P`):
//! 1. for each prefix length present in the index (usually two: /32 for
//!    IPv4, /64 for delegated IPv6), mask `A` and binary-search the group of
//!    bindings on that network;
//! 2. binary-search the last binding of the group that starts at or before `T`;
//! 3. walk back from there while a binding could still cover `T`: the walk
//!    stops at the first start older than `T - longest duration in this
//!    group`, and skips whole blocks of 32 bindings whose latest end is not
//!    after `T` (so one long static allotment does not make every lookup
//!    scan the group);
//! 4. keep every binding with `start <= T < end` and, when a port is given,
//!    `port_lo <= P <= port_hi`.
//!
//! Exact for any data (no "LIMIT k"); the cost is the number of bindings on
//! one address that start within one maximal duration before `T`, divided by
//! what the block maxima skip.

use crate::model::{mask, Binding, Kind, Net};
use std::collections::HashMap;
use std::io::{Read, Write};

const BLOCK: usize = 32;
const MAGIC: &[u8; 16] = b"PRAMAAN-ATTRIB1\n";

/// Reading or writing an index file failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not an attribution index (bad magic)")]
    Magic { path: String },
    #[error("{path}: corrupt: {what}")]
    Corrupt { path: String, what: String },
}

/// A binding's identity inside an index (group, row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub group: u32,
    pub row: u32,
}

#[derive(Default, Debug)]
pub struct Index {
    g_key: Vec<(u128, u8)>,
    g_off: Vec<u64>,
    g_maxdur: Vec<i64>,
    lens: Vec<u8>,
    start: Vec<i64>,
    end: Vec<i64>,
    plo: Vec<u16>,
    phi: Vec<u16>,
    bmax: Vec<i64>,
    kind: Vec<u8>,
    sub: Vec<u32>,
    subs: Vec<String>,
    meta_off: Vec<u64>,
    meta: Vec<u8>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let c = *b.get(*pos)?;
        *pos += 1;
        if shift >= 64 {
            return None;
        }
        v |= ((c & 0x7f) as u64) << shift;
        if c & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

fn get_str(b: &[u8], pos: &mut usize) -> Option<String> {
    let n = get_varint(b, pos)? as usize;
    let s = b.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(String::from_utf8_lossy(s).into_owned())
}

/// Encodes session, detail, evidence and key of one binding.
pub(crate) fn encode_meta(
    out: &mut Vec<u8>,
    session: &str,
    detail: &str,
    evidence: &[u64],
    key: Option<&str>,
) {
    put_varint(out, session.len() as u64);
    out.extend_from_slice(session.as_bytes());
    put_varint(out, detail.len() as u64);
    out.extend_from_slice(detail.as_bytes());
    put_varint(out, evidence.len() as u64);
    for e in evidence {
        put_varint(out, *e);
    }
    match key {
        Some(k) => {
            put_varint(out, k.len() as u64 + 1);
            out.extend_from_slice(k.as_bytes());
        }
        None => put_varint(out, 0),
    }
}

/// Collects bindings, then sorts them into an [`Index`].
#[derive(Default)]
pub struct Builder {
    nets: HashMap<(u128, u8), u32>,
    net_list: Vec<(u128, u8)>,
    gid: Vec<u32>,
    start: Vec<i64>,
    end: Vec<i64>,
    plo: Vec<u16>,
    phi: Vec<u16>,
    kind: Vec<u8>,
    sub: Vec<u32>,
    subs_map: HashMap<String, u32>,
    subs: Vec<String>,
    meta_off: Vec<u64>,
    meta: Vec<u8>,
}

impl Builder {
    pub fn new() -> Builder {
        let mut b = Builder::default();
        b.meta_off.push(0);
        b
    }

    pub fn with_capacity(n: usize) -> Builder {
        let mut b = Builder::new();
        b.gid.reserve(n);
        b.start.reserve(n);
        b.end.reserve(n);
        b.plo.reserve(n);
        b.phi.reserve(n);
        b.kind.reserve(n);
        b.sub.reserve(n);
        b.meta_off.reserve(n + 1);
        b.meta.reserve(n * 10);
        b
    }

    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    fn intern_sub(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.subs_map.get(s) {
            return i;
        }
        let i = self.subs.len() as u32;
        self.subs.push(s.to_owned());
        self.subs_map.insert(s.to_owned(), i);
        i
    }

    /// Adds one row; the fields are those of [`Binding`].
    #[allow(clippy::too_many_arguments)]
    pub fn push_parts(
        &mut self,
        net: Net,
        port_lo: u16,
        port_hi: u16,
        start_ns: i64,
        end_ns: i64,
        subscriber: &str,
        kind: Kind,
        session: &str,
        detail: &str,
        evidence: &[u64],
        key: Option<&str>,
    ) {
        let next = self.net_list.len() as u32;
        let g = *self.nets.entry((net.bits, net.len)).or_insert(next);
        if g == next {
            self.net_list.push((net.bits, net.len));
        }
        self.gid.push(g);
        self.start.push(start_ns);
        self.end.push(end_ns);
        self.plo.push(port_lo);
        self.phi.push(port_hi);
        self.kind.push(kind.code());
        let s = self.intern_sub(subscriber);
        self.sub.push(s);
        encode_meta(&mut self.meta, session, detail, evidence, key);
        self.meta_off.push(self.meta.len() as u64);
    }

    pub fn push(&mut self, b: &Binding) {
        self.push_parts(
            b.net,
            b.port_lo,
            b.port_hi,
            b.start_ns,
            b.end_ns,
            &b.subscriber,
            b.kind,
            &b.session,
            &b.detail,
            &b.evidence,
            b.key.as_deref(),
        );
    }

    /// Sorts by (network, start) and builds the block maxima.
    pub fn finish(self) -> Index {
        let Builder {
            net_list,
            gid,
            start,
            end,
            plo,
            phi,
            kind,
            sub,
            subs,
            meta_off,
            meta,
            ..
        } = self;
        let n = start.len();
        // rank of each group in (bits, len) order
        let mut order_g: Vec<u32> = (0..net_list.len() as u32).collect();
        order_g.sort_unstable_by_key(|&g| net_list[g as usize]);
        let mut rank = vec![0u32; net_list.len()];
        for (r, &g) in order_g.iter().enumerate() {
            rank[g as usize] = r as u32;
        }
        let mut keys: Vec<u128> = (0..n)
            .map(|i| {
                let s = (start[i] as u64) ^ (1 << 63); // order-preserving for i64
                ((rank[gid[i] as usize] as u128) << 96) | ((s as u128) << 32) | i as u128
            })
            .collect();
        keys.sort_unstable();
        let order: Vec<u32> = keys.iter().map(|&k| k as u32).collect();
        let ng = order_g.len();
        let mut g_off = vec![0u64; ng + 1];
        for &k in &keys {
            g_off[(k >> 96) as usize + 1] += 1;
        }
        for g in 0..ng {
            g_off[g + 1] += g_off[g];
        }
        let mut g_maxdur = vec![0i64; ng];
        drop(keys);
        let perm = |v: &Vec<i64>| -> Vec<i64> { order.iter().map(|&i| v[i as usize]).collect() };
        let start2 = perm(&start);
        drop(start);
        let end2 = perm(&end);
        drop(end);
        let plo2: Vec<u16> = order.iter().map(|&i| plo[i as usize]).collect();
        drop(plo);
        let phi2: Vec<u16> = order.iter().map(|&i| phi[i as usize]).collect();
        drop(phi);
        let kind2: Vec<u8> = order.iter().map(|&i| kind[i as usize]).collect();
        drop(kind);
        let sub2: Vec<u32> = order.iter().map(|&i| sub[i as usize]).collect();
        drop(sub);
        let mut meta2 = Vec::with_capacity(meta.len());
        let mut meta_off2 = Vec::with_capacity(n + 1);
        meta_off2.push(0u64);
        for &i in &order {
            let (a, b) = (
                meta_off[i as usize] as usize,
                meta_off[i as usize + 1] as usize,
            );
            meta2.extend_from_slice(&meta[a..b]);
            meta_off2.push(meta2.len() as u64);
        }
        drop(meta);
        drop(order);
        for g in 0..order_g.len() {
            let (a, b) = (g_off[g] as usize, g_off[g + 1] as usize);
            g_maxdur[g] = (a..b)
                .map(|i| end2[i].saturating_sub(start2[i]))
                .max()
                .unwrap_or(0);
        }
        let g_key: Vec<(u128, u8)> = order_g.iter().map(|&g| net_list[g as usize]).collect();
        let mut idx = Index {
            g_key,
            g_off,
            g_maxdur,
            lens: Vec::new(),
            start: start2,
            end: end2,
            plo: plo2,
            phi: phi2,
            bmax: Vec::new(),
            kind: kind2,
            sub: sub2,
            subs,
            meta_off: meta_off2,
            meta: meta2,
        };
        idx.derive();
        idx
    }
}

impl Index {
    /// Recomputes what is derived from the columns (prefix lengths, block maxima).
    fn derive(&mut self) {
        let mut lens: Vec<u8> = self.g_key.iter().map(|k| k.1).collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        lens.dedup();
        self.lens = lens;
        self.bmax = self
            .end
            .chunks(BLOCK)
            .map(|c| c.iter().copied().max().unwrap_or(i64::MIN))
            .collect();
    }

    pub fn len(&self) -> usize {
        self.start.len()
    }

    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// The prefix lengths present (over 128 bits), longest first.
    pub fn lens(&self) -> &[u8] {
        &self.lens
    }

    /// Number of distinct addresses or prefixes.
    pub fn networks(&self) -> usize {
        self.g_key.len()
    }

    /// Appends the hits for `addr` (128 bits) at `t` on `port` to `out`.
    pub fn lookup(&self, addr: u128, t: i64, port: Option<u16>, out: &mut Vec<Hit>) {
        for &len in &self.lens {
            let key = (addr & mask(len), len);
            let Ok(g) = self.g_key.binary_search(&key) else {
                continue;
            };
            let a = self.g_off[g] as usize;
            let b = self.g_off[g + 1] as usize;
            let md = self.g_maxdur[g];
            let mut i = a + self.start[a..b].partition_point(|&s| s <= t);
            while i > a {
                i -= 1;
                if self.start[i].saturating_add(md) <= t {
                    break;
                }
                let blk = i / BLOCK;
                if self.bmax[blk] <= t {
                    i = (blk * BLOCK).max(a);
                    continue;
                }
                if self.end[i] > t && port.is_none_or(|p| self.plo[i] <= p && p <= self.phi[i]) {
                    out.push(Hit {
                        group: g as u32,
                        row: i as u32,
                    });
                }
            }
        }
    }

    /// The subscriber and session of a hit, without decoding the rest.
    pub fn ids(&self, h: Hit) -> (&str, String) {
        let i = h.row as usize;
        let m = &self.meta[self.meta_off[i] as usize..self.meta_off[i + 1] as usize];
        let mut p = 0;
        let session = get_str(m, &mut p).unwrap_or_default();
        (
            self.subs
                .get(self.sub[i] as usize)
                .map(String::as_str)
                .unwrap_or(""),
            session,
        )
    }

    /// The whole binding of a hit.
    pub fn binding(&self, h: Hit) -> Binding {
        let i = h.row as usize;
        let (bits, len) = self.g_key[h.group as usize];
        let m = &self.meta[self.meta_off[i] as usize..self.meta_off[i + 1] as usize];
        let mut p = 0;
        let session = get_str(m, &mut p).unwrap_or_default();
        let detail = get_str(m, &mut p).unwrap_or_default();
        let n = get_varint(m, &mut p).unwrap_or(0) as usize;
        let mut evidence = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            match get_varint(m, &mut p) {
                Some(v) => evidence.push(v),
                None => break,
            }
        }
        let key = match get_varint(m, &mut p) {
            Some(k) if k > 0 => m
                .get(p..p + (k as usize - 1))
                .map(|s| String::from_utf8_lossy(s).into_owned()),
            _ => None,
        };
        Binding {
            net: Net { bits, len },
            port_lo: self.plo[i],
            port_hi: self.phi[i],
            start_ns: self.start[i],
            end_ns: self.end[i],
            open: false,
            subscriber: self
                .subs
                .get(self.sub[i] as usize)
                .cloned()
                .unwrap_or_default(),
            session,
            kind: Kind::from_code(self.kind[i]).unwrap_or(Kind::Import),
            detail,
            evidence,
            key,
        }
    }

    /// The bindings of `subscriber` overlapping `[from_ns, to_ns)`, appended to `out`.
    /// A scan of the interned subscriber column: for exports, not for lookups.
    pub fn of_subscriber(
        &self,
        subscriber: &str,
        from_ns: i64,
        to_ns: i64,
        out: &mut Vec<Binding>,
    ) {
        let Some(id) = self.subs.iter().position(|s| s == subscriber) else {
            return;
        };
        let id = id as u32;
        for g in 0..self.g_key.len() {
            for i in self.g_off[g]..self.g_off[g + 1] {
                let r = i as usize;
                if self.sub[r] == id && self.start[r] < to_ns && self.end[r] > from_ns {
                    out.push(self.binding(Hit {
                        group: g as u32,
                        row: i as u32,
                    }));
                }
            }
        }
    }

    /// The bindings that ended before their subscriber's instant in
    /// `before` (asked once per distinct subscriber), in index order; the
    /// others are skipped undecoded (a retention pass over every binding).
    pub fn for_each_ended_before(&self, before: impl Fn(&str) -> i64, mut f: impl FnMut(Binding)) {
        let cut: Vec<i64> = self.subs.iter().map(|s| before(s)).collect();
        let none = before("");
        for g in 0..self.g_key.len() {
            for i in self.g_off[g]..self.g_off[g + 1] {
                let r = i as usize;
                let c = cut.get(self.sub[r] as usize).copied().unwrap_or(none);
                if self.end[r] < c {
                    f(self.binding(Hit {
                        group: g as u32,
                        row: i as u32,
                    }));
                }
            }
        }
    }

    /// Every binding, in index order (for merging indexes).
    pub fn for_each(&self, mut f: impl FnMut(Binding)) {
        for g in 0..self.g_key.len() {
            for i in self.g_off[g]..self.g_off[g + 1] {
                f(self.binding(Hit {
                    group: g as u32,
                    row: i as u32,
                }));
            }
        }
    }

    /// Writes the index to `path` (through a temporary file, fsync'd, renamed).
    pub fn save(&self, path: &std::path::Path) -> Result<(), IndexFileError> {
        let ps = path.display().to_string();
        let io = |source| IndexFileError::Io {
            path: ps.clone(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let f = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = CrcWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, f),
            crc: 0,
        };
        w.write_all(MAGIC).map_err(io)?;
        let n_groups = self.g_key.len() as u64;
        w.write_all(&n_groups.to_le_bytes()).map_err(io)?;
        for (bits, len) in &self.g_key {
            w.write_all(&bits.to_le_bytes()).map_err(io)?;
            w.write_all(&[*len]).map_err(io)?;
        }
        write_col(&mut w, &self.g_off, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.g_maxdur, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.start, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.end, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.plo, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.phi, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.kind, |v| [*v]).map_err(io)?;
        write_col(&mut w, &self.sub, |v| v.to_le_bytes()).map_err(io)?;
        w.write_all(&(self.subs.len() as u64).to_le_bytes())
            .map_err(io)?;
        for s in &self.subs {
            w.write_all(&(s.len() as u64).to_le_bytes()).map_err(io)?;
            w.write_all(s.as_bytes()).map_err(io)?;
        }
        write_col(&mut w, &self.meta_off, |v| v.to_le_bytes()).map_err(io)?;
        write_col(&mut w, &self.meta, |v| [*v]).map_err(io)?;
        let crc = w.crc;
        let mut inner = w.inner;
        inner.write_all(&crc.to_le_bytes()).map_err(io)?;
        let f = inner.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Reads an index written by [`Index::save`], checking its CRC-32C.
    pub fn load(path: &std::path::Path) -> Result<Index, IndexFileError> {
        let ps = path.display().to_string();
        let io = |source| IndexFileError::Io {
            path: ps.clone(),
            source,
        };
        let corrupt = |what: &str| IndexFileError::Corrupt {
            path: ps.clone(),
            what: what.to_owned(),
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let mut r = CrcReader {
            inner: std::io::BufReader::with_capacity(1 << 20, f),
            crc: 0,
            left: size.saturating_sub(4),
        };
        let mut magic = [0u8; 16];
        r.read_exact(&mut magic)
            .map_err(|_| IndexFileError::Magic { path: ps.clone() })?;
        if &magic != MAGIC {
            return Err(IndexFileError::Magic { path: ps.clone() });
        }
        let trunc = |_| corrupt("truncated");
        let n_groups = read_u64(&mut r).map_err(trunc)?;
        if n_groups > size / 17 {
            return Err(corrupt("group count larger than the file"));
        }
        let mut g_key = Vec::with_capacity(n_groups as usize);
        for _ in 0..n_groups {
            let mut b = [0u8; 17];
            r.read_exact(&mut b).map_err(trunc)?;
            let mut bits = [0u8; 16];
            bits.copy_from_slice(&b[..16]);
            g_key.push((u128::from_le_bytes(bits), b[16]));
        }
        let g_off = read_col(&mut r, size, u64::from_le_bytes).map_err(trunc)?;
        let g_maxdur = read_col(&mut r, size, i64::from_le_bytes).map_err(trunc)?;
        let start = read_col(&mut r, size, i64::from_le_bytes).map_err(trunc)?;
        let end = read_col(&mut r, size, i64::from_le_bytes).map_err(trunc)?;
        let plo = read_col(&mut r, size, u16::from_le_bytes).map_err(trunc)?;
        let phi = read_col(&mut r, size, u16::from_le_bytes).map_err(trunc)?;
        let kind = read_col(&mut r, size, |b: [u8; 1]| b[0]).map_err(trunc)?;
        let sub = read_col(&mut r, size, u32::from_le_bytes).map_err(trunc)?;
        let n_subs = read_u64(&mut r).map_err(trunc)?;
        if n_subs > size / 8 {
            return Err(corrupt("subscriber count larger than the file"));
        }
        let mut subs = Vec::with_capacity(n_subs as usize);
        for _ in 0..n_subs {
            let l = read_u64(&mut r).map_err(trunc)?;
            if l > size {
                return Err(corrupt("subscriber length larger than the file"));
            }
            let mut b = vec![0u8; l as usize];
            r.read_exact(&mut b).map_err(trunc)?;
            subs.push(String::from_utf8(b).map_err(|_| corrupt("subscriber is not UTF-8"))?);
        }
        let meta_off = read_col(&mut r, size, u64::from_le_bytes).map_err(trunc)?;
        let meta = read_col(&mut r, size, |b: [u8; 1]| b[0]).map_err(trunc)?;
        let crc = r.crc;
        let mut tail = [0u8; 4];
        r.inner.read_exact(&mut tail).map_err(trunc)?;
        if u32::from_le_bytes(tail) != crc {
            return Err(corrupt("CRC-32C mismatch"));
        }
        // shape checks, so lookups cannot index out of bounds
        let n = start.len();
        let ok = g_off.len() == g_key.len() + 1
            && g_maxdur.len() == g_key.len()
            && g_off.first() == Some(&0)
            && g_off.last() == Some(&(n as u64))
            && g_off.windows(2).all(|w| w[0] <= w[1])
            && g_key.windows(2).all(|w| w[0] < w[1])
            && [end.len(), kind.len(), sub.len()].iter().all(|&l| l == n)
            && plo.len() == n
            && phi.len() == n
            && meta_off.len() == n + 1
            && meta_off.first() == Some(&0)
            && meta_off.last() == Some(&(meta.len() as u64))
            && meta_off.windows(2).all(|w| w[0] <= w[1])
            && sub.iter().all(|&s| (s as usize) < subs.len())
            && g_key.iter().all(|k| k.1 <= 128);
        if !ok {
            return Err(corrupt("inconsistent column lengths"));
        }
        let mut idx = Index {
            g_key,
            g_off,
            g_maxdur,
            lens: Vec::new(),
            start,
            end,
            plo,
            phi,
            bmax: Vec::new(),
            kind,
            sub,
            subs,
            meta_off,
            meta,
        };
        idx.derive();
        Ok(idx)
    }
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct CrcReader<R: Read> {
    inner: R,
    crc: u32,
    left: u64,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let max = (buf.len() as u64).min(self.left) as usize;
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn write_col<T, const N: usize>(
    w: &mut impl Write,
    v: &[T],
    enc: impl Fn(&T) -> [u8; N],
) -> std::io::Result<()> {
    w.write_all(&(v.len() as u64).to_le_bytes())?;
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in v.chunks((1 << 16) / N.max(1)) {
        buf.clear();
        for x in chunk {
            buf.extend_from_slice(&enc(x));
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

fn read_col<T, const N: usize>(
    r: &mut impl Read,
    file_size: u64,
    dec: impl Fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    let n = read_u64(r)?;
    if n.saturating_mul(N as u64) > file_size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "column longer than the file",
        ));
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut buf = vec![0u8; (1 << 16) / N * N];
    let mut left = n as usize;
    while left > 0 {
        let take = left.min(buf.len() / N);
        let b = &mut buf[..take * N];
        r.read_exact(b)?;
        for c in b.chunks_exact(N) {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            out.push(dec(a));
        }
        left -= take;
    }
    Ok(out)
}
