//! Shared by the integration tests: where the Loghub samples are.

use std::path::PathBuf;

/// `/work/shared/data/loghub` seen from this crate, or `PRAMAAN_LOGHUB_DIR`.
pub fn loghub_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PRAMAAN_LOGHUB_DIR") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub")
}

/// Every `*.log` file: (file name, lines without their line ends).
pub fn loghub() -> Vec<(String, Vec<Vec<u8>>)> {
    let dir = loghub_dir();
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "Loghub samples not found at {} ({e}); set PRAMAAN_LOGHUB_DIR",
            dir.display()
        )
    });
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "log") {
            let data = std::fs::read(&path).unwrap();
            let lines = data
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
                .filter(|l| !l.is_empty())
                .collect();
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                lines,
            ));
        }
    }
    out.sort();
    assert_eq!(
        out.len(),
        12,
        "expected 12 Loghub files in {}",
        dir.display()
    );
    out
}
