//! The embedded store: immutable sorted runs ([`Index`]) plus a small delta
//! and the open sessions, all in memory; persisted in
//! `<data_dir>/attribution/`:
//!
//! * `run-NNNNNN.bin`: one index file each (a bulk import, or the delta
//!   once it reached [`DELTA_LIMIT`] bindings), CRC-32C checked at load;
//! * `journal-NNNNNN.jsonl`: one line per [`BindingStore::apply`] (bindings
//!   and the feeder's progress), fsync'd before `apply` returns; a torn last
//!   line is ignored at load;
//! * `manifest.json`: which runs and which journal are current, plus the
//!   progress and open sessions as of that journal's start. Replaced
//!   atomically (temporary file, fsync, rename).
//!
//! A crash leaves either the old or the new manifest; run files and
//! journals it does not name are deleted at open.

use crate::index::{Builder, Hit, Index};
use crate::model::{mask, Binding, Probe};
use crate::store::{BindingStore, Erasure, FeedState, StoreError, StoreFuture, StoreStats};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The delta becomes a run at this many bindings.
pub const DELTA_LIMIT: usize = 100_000;
/// Runs are merged when there are more than this many.
const MAX_RUNS: usize = 8;

#[derive(Serialize, Deserialize, Default, Clone)]
struct Manifest {
    runs: Vec<String>,
    journal: String,
    next_file: u64,
    last_seq: Option<u64>,
    open: Vec<Binding>,
}

#[derive(Serialize, Deserialize)]
struct JournalLine {
    seq: Option<u64>,
    b: Vec<Binding>,
}

#[derive(Default)]
struct State {
    runs: Vec<Arc<Index>>,
    run_files: Vec<String>,
    delta: Vec<Binding>,
    delta_by_net: HashMap<(u128, u8), Vec<u32>>,
    open: HashMap<String, Binding>,
    open_by_net: HashMap<(u128, u8), Vec<String>>,
    lens: BTreeSet<u8>,
    last_seq: Option<u64>,
    journal: Option<std::fs::File>,
    journal_name: String,
    next_file: u64,
}

impl State {
    fn add_closed(&mut self, b: Binding) {
        let k = (b.net.bits, b.net.len);
        self.lens.insert(b.net.len);
        self.delta_by_net
            .entry(k)
            .or_default()
            .push(self.delta.len() as u32);
        self.delta.push(b);
    }

    fn remove_open(&mut self, key: &str) {
        if let Some(old) = self.open.remove(key) {
            let k = (old.net.bits, old.net.len);
            if let Some(v) = self.open_by_net.get_mut(&k) {
                v.retain(|x| x != key);
                if v.is_empty() {
                    self.open_by_net.remove(&k);
                }
            }
        }
    }

    fn upsert(&mut self, b: Binding) {
        match b.key.clone() {
            Some(key) => {
                self.remove_open(&key);
                if b.open {
                    self.lens.insert(b.net.len);
                    self.open_by_net
                        .entry((b.net.bits, b.net.len))
                        .or_default()
                        .push(key.clone());
                    self.open.insert(key, b);
                } else {
                    self.add_closed(b);
                }
            }
            None => self.add_closed(b),
        }
    }

    fn lookup(&self, p: &Probe) -> Vec<Binding> {
        let addr = p.bits();
        let mut out = Vec::new();
        let mut hits: Vec<Hit> = Vec::new();
        for run in &self.runs {
            hits.clear();
            run.lookup(addr, p.at_ns, p.port, &mut hits);
            out.extend(hits.iter().map(|h| run.binding(*h)));
        }
        for &len in self.lens.iter().rev() {
            let k = (addr & mask(len), len);
            if let Some(v) = self.delta_by_net.get(&k) {
                for &i in v {
                    let b = &self.delta[i as usize];
                    if b.matches(addr, p.at_ns, p.port) {
                        out.push(b.clone());
                    }
                }
            }
            if let Some(v) = self.open_by_net.get(&k) {
                for key in v {
                    if let Some(b) = self.open.get(key) {
                        if b.matches(addr, p.at_ns, p.port) {
                            out.push(b.clone());
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| (a.start_ns, &a.session).cmp(&(b.start_ns, &b.session)));
        out
    }
}

/// The embedded store. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemStore {
    dir: PathBuf,
    state: Arc<RwLock<State>>,
    /// Serialises writers (apply, import, compaction) without blocking lookups.
    write: Arc<Mutex<()>>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(d) = path.parent() {
        if let Ok(d) = std::fs::File::open(d) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

impl MemStore {
    /// The store's directory for a data directory: `<data_dir>/attribution`.
    pub fn dir_for(data_dir: &Path) -> PathBuf {
        data_dir.join("attribution")
    }

    /// Opens (creating if needed) the store in `dir`: loads the runs and
    /// replays the journal.
    pub fn open(dir: &Path) -> Result<MemStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mpath = dir.join("manifest.json");
        let manifest: Manifest = match std::fs::read(&mpath) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt {
                path: mpath.display().to_string(),
                what: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest {
                journal: "journal-000000.jsonl".into(),
                next_file: 1,
                ..Manifest::default()
            },
            Err(e) => return Err(io_err(&mpath)(e)),
        };
        let mut st = State {
            next_file: manifest.next_file,
            last_seq: manifest.last_seq,
            journal_name: manifest.journal.clone(),
            ..State::default()
        };
        for r in &manifest.runs {
            let idx = Index::load(&dir.join(r))?;
            for g in idx_lens(&idx) {
                st.lens.insert(g);
            }
            st.runs.push(Arc::new(idx));
            st.run_files.push(r.clone());
        }
        for b in manifest.open {
            st.upsert(b);
        }
        // Replay the journal (complete lines only).
        let jpath = dir.join(&manifest.journal);
        let mut good_len = 0u64;
        if let Ok(f) = std::fs::File::open(&jpath) {
            let mut r = std::io::BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = r.read_line(&mut line).map_err(io_err(&jpath))?;
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                let Ok(j) = serde_json::from_str::<JournalLine>(&line) else {
                    break;
                };
                good_len += n as u64;
                for b in j.b {
                    st.upsert(b);
                }
                if j.seq.is_some() {
                    st.last_seq = j.seq;
                }
            }
        }
        let jf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .map_err(io_err(&jpath))?;
        // Cut a torn tail so later appends start on a line boundary.
        if jf.metadata().map_err(io_err(&jpath))?.len() != good_len {
            jf.set_len(good_len).map_err(io_err(&jpath))?;
        }
        st.journal = Some(jf);
        // Files the manifest does not name: left by a crash.
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let known = manifest.runs.contains(&name)
                    || name == manifest.journal
                    || name == "manifest.json";
                let ours = name.starts_with("run-")
                    || name.starts_with("journal-")
                    || name.ends_with(".tmp");
                if ours && !known {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(MemStore {
            dir: dir.to_owned(),
            state: Arc::new(RwLock::new(st)),
            write: Arc::new(Mutex::new(())),
        })
    }

    /// Copies the store in `src` to `dest` (a new directory) while another
    /// process may be writing it: the manifest, the runs it names (never
    /// changed once written) and the complete lines of its journal, which is
    /// what a crash at that moment would leave. A run gone by the time it is
    /// read (a compaction replaced it) starts the copy again from the newer
    /// manifest. Returns the number of bytes copied.
    pub fn copy_consistent(src: &Path, dest: &Path) -> Result<u64, StoreError> {
        let mpath = src.join("manifest.json");
        for _ in 0..10 {
            let raw = match std::fs::read(&mpath) {
                Ok(b) => b,
                // No manifest yet: the first journal is the whole store.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_err(&mpath)(e)),
            };
            let manifest: Manifest = if raw.is_empty() {
                Manifest {
                    journal: "journal-000000.jsonl".into(),
                    ..Manifest::default()
                }
            } else {
                serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                    path: mpath.display().to_string(),
                    what: e.to_string(),
                })?
            };
            let mut files: Vec<(String, Vec<u8>)> = Vec::new();
            let mut gone = false;
            for r in &manifest.runs {
                match std::fs::read(src.join(r)) {
                    Ok(b) => files.push((r.clone(), b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone = true,
                    Err(e) => return Err(io_err(&src.join(r))(e)),
                }
            }
            let jpath = src.join(&manifest.journal);
            match std::fs::read(&jpath) {
                Ok(mut b) => {
                    // Complete lines only: a torn last line is not a binding yet.
                    b.truncate(b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1));
                    files.push((manifest.journal.clone(), b));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !raw.is_empty() => {
                    gone = true
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&jpath)(e)),
            }
            if gone {
                continue;
            }
            if !raw.is_empty() {
                files.push(("manifest.json".into(), raw));
            }
            // Bindings are personal data: the copy is its owner's only.
            let mut dir = std::fs::DirBuilder::new();
            dir.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
            dir.create(dest).map_err(io_err(dest))?;
            let mut bytes = 0;
            for (name, data) in files {
                let path = dest.join(name);
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                let mut f = o.open(&path).map_err(io_err(&path))?;
                f.write_all(&data).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
                bytes += data.len() as u64;
            }
            return Ok(bytes);
        }
        Err(StoreError::Other(format!(
            "{}: its runs kept being replaced while they were copied; run the backup again",
            src.display()
        )))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// In-process lookup (what [`BindingStore::lookup`] does, without a future).
    pub fn lookup_sync(&self, p: &Probe) -> Vec<Binding> {
        self.read().lookup(p)
    }

    /// Number of bindings (closed and open).
    pub fn len(&self) -> u64 {
        let st = self.read();
        st.runs.iter().map(|r| r.len() as u64).sum::<u64>()
            + st.delta.len() as u64
            + st.open.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn manifest(&self, st: &State) -> Manifest {
        Manifest {
            runs: st.run_files.clone(),
            journal: st.journal_name.clone(),
            next_file: st.next_file,
            last_seq: st.last_seq,
            open: st.open.values().cloned().collect(),
        }
    }

    pub fn apply_sync(
        &self,
        upserts: Vec<Binding>,
        last_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let line = serde_json::to_vec(&JournalLine {
            seq: last_seq,
            b: upserts.clone(),
        })
        .map_err(|e| StoreError::Other(e.to_string()))?;
        {
            let st = self.read();
            let jpath = self.dir.join(&st.journal_name);
            let mut f = st
                .journal
                .as_ref()
                .ok_or_else(|| StoreError::Other("journal closed".into()))?;
            let mut buf = line;
            buf.push(b'\n');
            f.write_all(&buf).map_err(io_err(&jpath))?;
            f.sync_data().map_err(io_err(&jpath))?;
        }
        let compact = {
            let mut st = self.write_state();
            for b in upserts {
                st.upsert(b);
            }
            if last_seq.is_some() {
                st.last_seq = last_seq;
            }
            st.delta.len() >= DELTA_LIMIT
        };
        if compact {
            self.compact_locked()?;
        }
        Ok(())
    }

    /// Turns the delta into a run and starts a new journal. Caller holds `write`.
    fn compact_locked(&self) -> Result<(), StoreError> {
        let (delta, n) = {
            let st = self.read();
            (st.delta.clone(), st.next_file)
        };
        let mut b = Builder::with_capacity(delta.len());
        for x in &delta {
            b.push(x);
        }
        let idx = b.finish();
        let run_name = format!("run-{n:06}.bin");
        idx.save(&self.dir.join(&run_name))?;
        let journal_name = format!("journal-{:06}.jsonl", n + 1);
        let jpath = self.dir.join(&journal_name);
        let jf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jpath)
            .map_err(io_err(&jpath))?;
        let old_journal;
        {
            let mut st = self.write_state();
            st.runs.push(Arc::new(idx));
            st.run_files.push(run_name);
            st.delta.clear();
            st.delta_by_net.clear();
            old_journal = std::mem::replace(&mut st.journal_name, journal_name);
            st.journal = Some(jf);
            st.next_file = n + 2;
            let m = self.manifest(&st);
            drop(st);
            self.save_manifest(&m)?;
        }
        let _ = std::fs::remove_file(self.dir.join(old_journal));
        self.merge_runs_locked()
    }

    fn save_manifest(&self, m: &Manifest) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(m).map_err(|e| StoreError::Other(e.to_string()))?;
        write_atomic(&self.dir.join("manifest.json"), &bytes)
    }

    /// When there are too many runs, merges all but the largest into one.
    fn merge_runs_locked(&self) -> Result<(), StoreError> {
        let (runs, files, n) = {
            let st = self.read();
            if st.runs.len() <= MAX_RUNS {
                return Ok(());
            }
            (st.runs.clone(), st.run_files.clone(), st.next_file)
        };
        let big = (0..runs.len()).max_by_key(|&i| runs[i].len()).unwrap_or(0);
        let mut b = Builder::new();
        for (i, r) in runs.iter().enumerate() {
            if i != big {
                r.for_each(|x| b.push(&x));
            }
        }
        let merged = b.finish();
        let name = format!("run-{n:06}.bin");
        merged.save(&self.dir.join(&name))?;
        let old: Vec<String> = files
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != big)
            .map(|(_, f)| f.clone())
            .collect();
        {
            let mut st = self.write_state();
            st.runs = vec![runs[big].clone(), Arc::new(merged)];
            st.run_files = vec![files[big].clone(), name];
            st.next_file = n + 1;
            let m = self.manifest(&st);
            drop(st);
            self.save_manifest(&m)?;
        }
        for f in old {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        Ok(())
    }

    /// Adds a bulk-imported index as a run (saved first, then named in the manifest).
    pub fn import_sync(&self, idx: Index) -> Result<u64, StoreError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let n = idx.len() as u64;
        let file_no = self.read().next_file;
        let name = format!("run-{file_no:06}.bin");
        idx.save(&self.dir.join(&name))?;
        let mut st = self.write_state();
        for l in idx_lens(&idx) {
            st.lens.insert(l);
        }
        st.runs.push(Arc::new(idx));
        st.run_files.push(name);
        st.next_file = file_no + 1;
        let m = self.manifest(&st);
        drop(st);
        self.save_manifest(&m)?;
        drop(_w);
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        self.merge_runs_locked()?;
        Ok(n)
    }

    /// [`BindingStore::erase`]: each run holding a binding that goes is
    /// written again without it (then named in the manifest, the old file
    /// deleted); the delta's are replaced and the delta made a run, so that
    /// the journal that still names them is deleted too.
    pub fn erase_sync(&self, e: &Erasure) -> Result<u64, StoreError> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0u64;
        let delta_changed = {
            let mut st = self.write_state();
            let mut changed = false;
            for b in st.delta.iter_mut() {
                if let Some(left) = e.apply(b) {
                    *b = left;
                    changed = true;
                    n += 1;
                }
            }
            changed
        };
        let (runs, files, mut next) = {
            let st = self.read();
            (st.runs.clone(), st.run_files.clone(), st.next_file)
        };
        let (mut new_runs, mut new_files, mut replaced) = (runs.clone(), files.clone(), Vec::new());
        for (i, run) in runs.iter().enumerate() {
            let mut hits = 0u64;
            run.for_each_ended_before(
                |s| e.ended_before(s),
                |x| hits += u64::from(e.apply(&x).is_some()),
            );
            if hits == 0 {
                continue;
            }
            let mut b = Builder::with_capacity(run.len());
            run.for_each(|x| b.push(&e.apply(&x).unwrap_or(x)));
            let idx = b.finish();
            let name = format!("run-{next:06}.bin");
            next += 1;
            idx.save(&self.dir.join(&name))?;
            new_runs[i] = Arc::new(idx);
            replaced.push(std::mem::replace(&mut new_files[i], name));
            n += hits;
        }
        if !replaced.is_empty() {
            let mut st = self.write_state();
            st.runs = new_runs;
            st.run_files = new_files;
            st.next_file = next;
            let m = self.manifest(&st);
            drop(st);
            self.save_manifest(&m)?;
            for f in replaced {
                let _ = std::fs::remove_file(self.dir.join(f));
            }
        }
        if delta_changed {
            self.compact_locked()?;
        }
        Ok(n)
    }

    pub fn feed_state_sync(&self) -> FeedState {
        let st = self.read();
        FeedState {
            last_seq: st.last_seq,
            open: st.open.values().cloned().collect(),
        }
    }

    pub fn stats_sync(&self) -> StoreStats {
        let st = self.read();
        StoreStats {
            bindings: st.runs.iter().map(|r| r.len() as u64).sum::<u64>() + st.delta.len() as u64,
            open: st.open.len() as u64,
            last_seq: st.last_seq,
            backend: "embedded",
        }
    }
}

fn idx_lens(idx: &Index) -> Vec<u8> {
    idx.lens().to_vec()
}

impl BindingStore for MemStore {
    fn lookup(&self, probe: Probe) -> StoreFuture<'_, Vec<Binding>> {
        Box::pin(async move { Ok(self.lookup_sync(&probe)) })
    }

    fn apply(&self, upserts: Vec<Binding>, last_seq: Option<u64>) -> StoreFuture<'_, ()> {
        let me = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.apply_sync(upserts, last_seq))
                .await
                .map_err(|e| StoreError::Other(e.to_string()))?
        })
    }

    fn feed_state(&self) -> StoreFuture<'_, FeedState> {
        Box::pin(async move { Ok(self.feed_state_sync()) })
    }

    fn import(&self, bindings: Index) -> StoreFuture<'_, u64> {
        let me = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.import_sync(bindings))
                .await
                .map_err(|e| StoreError::Other(e.to_string()))?
        })
    }

    fn stats(&self) -> StoreFuture<'_, StoreStats> {
        Box::pin(async move { Ok(self.stats_sync()) })
    }

    fn erase(&self, e: Erasure) -> StoreFuture<'_, u64> {
        let me = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.erase_sync(&e))
                .await
                .map_err(|e| StoreError::Other(e.to_string()))?
        })
    }

    fn of_subscriber(
        &self,
        subscriber: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> StoreFuture<'_, Vec<Binding>> {
        let (me, subscriber) = (self.clone(), subscriber.to_owned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let st = me.read();
                let mut out = Vec::new();
                for run in &st.runs {
                    run.of_subscriber(&subscriber, from_ns, to_ns, &mut out);
                }
                let overlaps = |b: &&Binding| {
                    b.subscriber == subscriber && b.start_ns < to_ns && b.end_ns > from_ns
                };
                out.extend(st.delta.iter().filter(overlaps).cloned());
                out.extend(st.open.values().filter(overlaps).cloned());
                out.sort_by(|a, b| (a.start_ns, &a.session).cmp(&(b.start_ns, &b.session)));
                out
            })
            .await
            .map_err(|e| StoreError::Other(e.to_string()))
        })
    }
}
