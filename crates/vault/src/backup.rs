//! A consistent copy of the vault's evidence (checkpoint, WAL, catalog,
//! segments, tiles) taken while `serve` may be writing it, into a directory
//! laid out as a data directory with a local object store
//! (`objects/<key>`, `wal/`, `catalog.db`). `pramaan backup` calls it (see
//! `app::backup` for the rest of the data directory and the manifest).
//!
//! # Why this order is consistent
//!
//! Nothing is paused; the copy is what a crash could have left, because each
//! part is taken after the parts that must not be newer than it:
//!
//! 1. **The checkpoint** (size N). Every record below N was durable when it
//!    was signed: in the WAL, or sealed into a segment.
//! 2. **The WAL files**, whole frames only. A file gone by the time it is
//!    read was released after its records were sealed, so they are in a
//!    segment the catalog (taken next) names.
//! 3. **The catalog** (`VACUUM INTO`: one snapshot). Its segments are every
//!    segment sealed so far: with the WAL copy they hold every record up to
//!    the WAL copy's end without a gap. A segment that compaction or
//!    retention deletes before it is copied sends the copy back to a newer
//!    snapshot of the catalog (which names its replacement, or the
//!    deletion). Checkpoints in its history newer than N are dropped from
//!    the copy: their records may have come after the WAL was copied.
//! 4. **The tiles** of the tree of size N (level ≥ 1) and the kept level-0
//!    tiles. A partial tile of N that a later checkpoint superseded (and
//!    deleted) is the prefix of the wider tile that replaced it, so it is
//!    cut from that one.
//! 5. **The checkpoint object**, written last.
//!
//! Every segment is checked against the SHA-256 the catalog holds for it as
//! it is copied: a damaged segment stops the backup naming it.

use crate::ledger::{Published, CHECKPOINT_OBJECT};
use crate::objects::{Objects, TILES};
use crate::wal::{self, WalError};
use crate::VaultOptions;
use pramaan_ledger::tiles::{tiles_for_size, TileId};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many times a segment deleted under the copy sends it back to a
/// newer catalog before the backup gives up.
const CATALOG_ATTEMPTS: usize = 10;

/// What went wrong while copying the evidence.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the catalog is in PostgreSQL ({0}): `pramaan backup` copies a SQLite catalog only; back the catalog up with pg_dump, or use a SQLite catalog")]
    PostgresCatalog(String),
    #[error("copying the catalog {path}: {why}")]
    Catalog { path: PathBuf, why: String },
    #[error("the object store: {0}")]
    Store(String),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(
        "there is no checkpoint object ({0}): start `pramaan serve` once, or see `pramaan verify`"
    )]
    NoCheckpoint(String),
    #[error("the checkpoint {place} cannot be read: {why}")]
    BadCheckpoint { place: String, why: String },
    #[error("segment {path} is not what the catalog recorded (SHA-256 {found}, the catalog says {expected}): the evidence is damaged; run `pramaan verify` and see the README's recovery section. Nothing was backed up past this point")]
    Altered {
        path: String,
        expected: String,
        found: String,
    },
    #[error(
        "the tile {0} of the checkpoint is missing from the store, and no wider tile holds it"
    )]
    MissingTile(String),
    #[error("segments kept being deleted while they were copied ({0} newer catalogs tried); run the backup again when compaction and retention are quiet")]
    Unsettled(usize),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

fn store(e: object_store::Error) -> BackupError {
    BackupError::Store(crate::objects::store_cause(&e))
}

/// What [`copy_evidence`] copied.
#[derive(Clone, Debug, Default)]
pub struct Copied {
    /// The checkpoint the copy is consistent with (its size and signed note).
    pub checkpoint_size: u64,
    pub checkpoint_note: String,
    pub segments: u64,
    pub segment_bytes: u64,
    pub wal_files: u64,
    pub wal_bytes: u64,
    pub tiles: u64,
    /// Partial tiles cut from a wider one (see the module's documentation).
    pub tiles_cut: u64,
    /// Times a segment deleted under the copy sent it to a newer catalog.
    pub catalog_retries: u64,
}

/// Copies the evidence of the vault `opts` names into `dest` (see the
/// module's documentation). `progress(done, total)` is called in bytes.
pub fn copy_evidence(
    opts: &VaultOptions,
    dest: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Copied, BackupError> {
    if let Some(pg) = &opts.catalog_postgres {
        return Err(BackupError::PostgresCatalog(pg.shown()));
    }
    // The store itself, never the segment cache: the bucket's bytes are the evidence.
    let objects = Objects::open(opts)
        .map_err(|e| BackupError::Store(e.to_string()))?
        .uncached();
    let mut out = Copied::default();

    // 1. The checkpoint.
    let place = objects.place(CHECKPOINT_OBJECT);
    let note = objects
        .get_blocking(CHECKPOINT_OBJECT)
        .map_err(store)?
        .ok_or_else(|| BackupError::NoCheckpoint(place.clone()))?;
    let cp = Published::parse(&note).map_err(|why| BackupError::BadCheckpoint {
        place: place.clone(),
        why,
    })?;
    out.checkpoint_size = cp.size;
    out.checkpoint_note = cp.note.to_string();

    // 2. The WAL, whole frames only.
    let wal_dest = dest.join("wal");
    create_dir(&wal_dest)?;
    for f in wal::list_files(&opts.wal_dir())? {
        let data = match wal::read_valid(&f.path) {
            Ok(d) => d,
            Err(WalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue; // released: its records are sealed (step 3 sees them)
            }
            Err(e) => return Err(e.into()),
        };
        let valid = wal::scan_frames(&data, |_, _| Ok(())).valid_len as usize;
        let name = f.path.file_name().expect("a WAL file has a name");
        write_file(&wal_dest.join(name), &data[..valid])?;
        out.wal_files += 1;
        out.wal_bytes += valid as u64;
    }

    // 3. The catalog and its segments.
    let catalog_dest = dest.join("catalog.db");
    let mut copied: BTreeSet<String> = BTreeSet::new();
    let mut done = out.wal_bytes;
    let mut settled = false;
    for attempt in 0..CATALOG_ATTEMPTS {
        let segments = snapshot_catalog(&opts.catalog_path(), &catalog_dest)?;
        let total = out.wal_bytes + segments.iter().map(|s| s.bytes).sum::<u64>();
        let mut vanished = false;
        for s in &segments {
            if copied.contains(&s.path) {
                continue;
            }
            let Some(bytes) = objects.get_blocking(&s.path).map_err(store)? else {
                vanished = true; // compacted or retired since the snapshot
                continue;
            };
            let found = hex::encode(Sha256::digest(&bytes));
            if !found.eq_ignore_ascii_case(&s.sha256) {
                return Err(BackupError::Altered {
                    path: objects.place(&s.path),
                    expected: s.sha256.clone(),
                    found,
                });
            }
            write_file(&object_path(dest, &s.path), &bytes)?;
            copied.insert(s.path.clone());
            done += bytes.len() as u64;
            progress(done, total);
        }
        if !vanished {
            // Copies of segments a newer catalog replaced are not part of this one.
            let keep: BTreeSet<&String> = segments.iter().map(|s| &s.path).collect();
            for stale in copied.iter().filter(|p| !keep.contains(p)) {
                let p = object_path(dest, stale);
                std::fs::remove_file(&p).map_err(io(&p))?;
            }
            out.segments = segments.len() as u64;
            out.segment_bytes = segments.iter().map(|s| s.bytes).sum();
            out.catalog_retries = attempt as u64;
            settled = true;
            break;
        }
    }
    if !settled {
        return Err(BackupError::Unsettled(CATALOG_ATTEMPTS));
    }
    trim_history(&catalog_dest, cp.size)?;

    // 4. The tiles of the tree of size N, and the kept level-0 tiles.
    let listed = objects.list_blocking(TILES).map_err(store)?;
    let present: Vec<TileId> = listed
        .iter()
        .filter_map(|(k, _)| TileId::parse(k).ok())
        .collect();
    for t in present.iter().filter(|t| t.level == 0) {
        if let Some(bytes) = objects.get_blocking(&t.path()).map_err(store)? {
            write_file(&object_path(dest, &t.path()), &bytes)?;
            out.tiles += 1;
        }
    }
    for t in tiles_for_size(cp.size, 1) {
        let bytes = match objects.get_blocking(&t.path()).map_err(store)? {
            Some(b) => b.to_vec(),
            None => {
                out.tiles_cut += 1;
                cut_from_wider(&objects, t)?
            }
        };
        write_file(&object_path(dest, &t.path()), &bytes)?;
        out.tiles += 1;
    }

    // 5. The checkpoint, last.
    write_file(&object_path(dest, CHECKPOINT_OBJECT), &note)?;
    Ok(out)
}

/// A segment row of the catalog copy.
struct Row {
    path: String,
    sha256: String,
    bytes: u64,
}

/// Snapshots the catalog into `dest` (replacing an earlier snapshot there)
/// and reads its segments.
fn snapshot_catalog(src: &Path, dest: &Path) -> Result<Vec<Row>, BackupError> {
    let fail = |why: String| BackupError::Catalog {
        path: src.to_owned(),
        why,
    };
    match std::fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dest)(e)),
    }
    pramaan_db::snapshot(src, dest).map_err(|e| fail(e.to_string()))?;
    let c = rusqlite::Connection::open(dest).map_err(|e| fail(e.to_string()))?;
    let mut st = c
        .prepare("SELECT path, sha256, bytes FROM segments ORDER BY seq_min")
        .map_err(|e| fail(e.to_string()))?;
    let rows = st
        .query_map([], |r| {
            Ok(Row {
                path: r.get(0)?,
                sha256: r.get(1)?,
                bytes: r.get::<_, i64>(2)? as u64,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(e.to_string()))?;
    Ok(rows)
}

/// Drops the checkpoints newer than `size` from the catalog copy's history.
fn trim_history(catalog: &Path, size: u64) -> Result<(), BackupError> {
    let c = rusqlite::Connection::open(catalog).map_err(|e| BackupError::Catalog {
        path: catalog.to_owned(),
        why: e.to_string(),
    })?;
    c.execute(
        "DELETE FROM ledger_checkpoints WHERE size > ?1",
        [size as i64],
    )
    .map_err(|e| BackupError::Catalog {
        path: catalog.to_owned(),
        why: e.to_string(),
    })?;
    Ok(())
}

/// A partial tile that a later checkpoint superseded: the first `width`
/// hashes of a wider tile at the same place.
fn cut_from_wider(objects: &Objects, t: TileId) -> Result<Vec<u8>, BackupError> {
    let prefix = format!("{TILES}/{}", t.level);
    let wider = objects
        .list_blocking(&prefix)
        .map_err(store)?
        .into_iter()
        .filter_map(|(k, _)| TileId::parse(&k).ok())
        .filter(|w| w.level == t.level && w.index == t.index && w.width > t.width)
        .max_by_key(|w| w.width);
    let Some(w) = wider else {
        return Err(BackupError::MissingTile(objects.place(&t.path())));
    };
    let bytes = objects
        .get_blocking(&w.path())
        .map_err(store)?
        .ok_or_else(|| BackupError::MissingTile(objects.place(&t.path())))?;
    Ok(bytes[..t.byte_len()].to_vec())
}

/// Where an object's copy goes: `<dest>/objects/<key>`.
fn object_path(dest: &Path, key: &str) -> PathBuf {
    let mut p = dest.join("objects");
    for part in key.split('/') {
        p.push(part);
    }
    p
}

fn create_dir(dir: &Path) -> Result<(), BackupError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io(dir))
}

/// A new file readable by its owner only (never one that exists), its
/// directories made as needed.
pub fn create_new(path: &Path) -> Result<std::fs::File, BackupError> {
    if let Some(d) = path.parent() {
        create_dir(d)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map_err(io(path))
}

/// Writes a new file readable by its owner only, synced before it returns.
pub fn write_file(path: &Path, data: &[u8]) -> Result<(), BackupError> {
    let mut f = create_new(path)?;
    f.write_all(data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Copies `src` to a new file as [`write_file`] writes one, streamed (a
/// segment need not fit in memory).
pub fn copy_file(src: &Path, dest: &Path) -> Result<(), BackupError> {
    let mut from = std::fs::File::open(src).map_err(io(src))?;
    let mut f = create_new(dest)?;
    std::io::copy(&mut from, &mut f).map_err(io(dest))?;
    f.sync_all().map_err(io(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_key_becomes_a_path_under_objects() {
        let p = object_path(Path::new("/b"), "segments/2026/12/07/01/1-2.parquet");
        assert_eq!(
            p,
            Path::new("/b/objects/segments/2026/12/07/01/1-2.parquet")
        );
    }
}
