//! File modes of the data directory: what pramaan creates is for its own
//! user only, and what it finds open to others it says at start.
//!
//! Everything under the data directory holds evidence (WAL, segments,
//! catalog, tiles, checkpoints, the databases) or keys (`ledger/node.key`,
//! `registry/master.key`), so the binary sets its umask to 077 before doing
//! anything ([`restrict_umask`]), the vault creates the data directory 0700,
//! and [`loose_modes`] lists whatever group or others may read, write or
//! enter: `Vault::open` logs each at WARN and `/api/v1/status` shows them
//! (`loose_file_modes`); only the public verifier key (`*.vkey`) may be
//! readable by others. Nothing is changed: a wider mode may be the
//! operator's choice (a backup agent's group, say), so it is said, not undone.

use std::path::{Path, PathBuf};

/// The umask every file and directory pramaan creates is made under:
/// nothing for group and others.
pub const UMASK: u32 = 0o077;

/// How many entries [`loose_modes`] lists at most (the count goes on).
pub const MAX_LISTED: usize = 50;

/// Sets the process's umask to [`UMASK`] (call first thing in `main`,
/// before any thread or file is made). A no-op off Unix.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK as _));
    }
}

/// Creates `dir` (and its missing parents) with mode 0700 where it makes them.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// One entry of the data directory that group or others may use.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LooseMode {
    /// Relative to the data directory (`.` is the directory itself).
    pub path: PathBuf,
    /// The permission bits (`0o755`).
    pub mode: u32,
}

impl std::fmt::Display for LooseMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:04o})", self.path.display(), self.mode)
    }
}

/// What [`loose_modes`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LooseModes {
    /// The first [`MAX_LISTED`] entries, in walk order (directories first).
    pub listed: Vec<LooseMode>,
    /// Every such entry.
    pub count: u64,
}

/// The data directory and every file and directory under it whose mode
/// gives group or others any permission. Symbolic links are not followed
/// (their own mode means nothing); unreadable directories are skipped.
pub fn loose_modes(data_dir: &Path) -> LooseModes {
    let mut out = LooseModes::default();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![PathBuf::from(".")];
        while let Some(rel) = stack.pop() {
            let path = data_dir.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o7777;
            // A verifier key is public by design (auditors are given it).
            let public = meta.is_file() && rel.extension().is_some_and(|e| e == "vkey");
            if mode & 0o077 != 0 && !public {
                out.count += 1;
                if out.listed.len() < MAX_LISTED {
                    out.listed.push(LooseMode {
                        path: rel.clone(),
                        mode,
                    });
                }
            }
            if meta.is_dir() {
                let Ok(rd) = std::fs::read_dir(&path) else {
                    continue;
                };
                let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
                names.sort();
                // Reversed, so the walk pops them in name order.
                for n in names.into_iter().rev() {
                    stack.push(if rel == Path::new(".") {
                        PathBuf::from(n)
                    } else {
                        rel.join(n)
                    });
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = data_dir;
    out
}

/// Logs each loose entry at WARN (at most [`MAX_LISTED`], then how many more).
pub fn warn_loose(data_dir: &Path, found: &LooseModes) {
    for m in &found.listed {
        tracing::warn!(
            data_dir = %data_dir.display(),
            path = %m.path.display(),
            mode = %format!("{:04o}", m.mode),
            "group or others may use this part of the data directory (it holds evidence or keys): \
             chmod go= it unless that is meant"
        );
    }
    let more = found.count.saturating_sub(found.listed.len() as u64);
    if more > 0 {
        tracing::warn!(
            more,
            "and more entries of the data directory are open to group or others"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lists_what_group_or_others_may_use() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        create_private_dir(&d.join("wal")).unwrap();
        std::fs::write(d.join("wal/a.wal"), b"x").unwrap();
        std::fs::write(d.join("catalog.db"), b"x").unwrap();
        for (p, m) in [
            (".", 0o700),
            ("wal", 0o700),
            ("wal/a.wal", 0o600),
            ("catalog.db", 0o600),
        ] {
            std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        assert_eq!(loose_modes(&d), LooseModes::default());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("wal/a.wal"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let found = loose_modes(&d);
        assert_eq!(found.count, 2);
        assert_eq!(
            found
                .listed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [". (0755)", "wal/a.wal (0644)"]
        );
    }
}
