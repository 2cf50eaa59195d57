//! Helpers shared by the vault's integration tests.
#![allow(dead_code)]

use std::io::ErrorKind;
use std::path::Path;

/// Copies a data directory as a crashed process left it (without its lock
/// file), to crash or corrupt the copy. The vault being copied may still be
/// running (a leaked one stands for a crashed process): a file it renames or
/// deletes during the copy is left out, as a crash at that moment would have.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_name() == "LOCK" {
            continue;
        }
        let is_dir = match e.file_type() {
            Ok(ft) => ft.is_dir(),
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => panic!("{}: {err}", e.path().display()),
        };
        if is_dir {
            copy_dir(&e.path(), &t);
        } else {
            match std::fs::copy(e.path(), &t) {
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => panic!("copying {}: {err}", e.path().display()),
            }
        }
    }
}

/// Every hit of a search, collected (as a user reads a streamed answer).
pub async fn all(vault: &pramaan_vault::Vault, q: pramaan_vault::Query) -> Vec<pramaan_vault::Hit> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let v = vault.clone();
    let task = tokio::spawn(async move { pramaan_vault::search::search(&v, &q, tx).await });
    let mut out = Vec::new();
    while let Some(b) = rx.recv().await {
        out.extend(pramaan_vault::search::hits(&b));
    }
    task.await.unwrap().unwrap();
    out
}
