//! Helpers shared by the vault's integration tests.
#![allow(dead_code)]

use std::path::Path;

/// Copies a data directory as a crashed process left it (without its lock
/// file), to crash or corrupt the copy.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_name() == "LOCK" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}
