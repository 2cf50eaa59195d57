//! Helpers shared by the vault's integration tests.
#![allow(dead_code)]

use std::path::Path;

/// Copies a directory tree (a snapshot of a data directory, to crash or corrupt a copy).
pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&t).unwrap();
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}
