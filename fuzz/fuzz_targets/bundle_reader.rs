//! The evidence bundle reader: `verify-bundle` opens ZIP files from outside.
//! Any input must give a summary or an error, never a panic, and never
//! allocate past the caps (entry sizes are checked before reading).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let _ = pramaan_orders::verify_bundle(Cursor::new(data), None);
    // The ZIP layer alone, reading every entry it lists.
    if let Ok(mut z) = pramaan_orders::zip::ZipReader::new(Cursor::new(data)) {
        let names: Vec<String> = z.entries().iter().map(|e| e.name.clone()).collect();
        for n in names {
            let _ = z.read_all(&n, 1 << 20);
        }
    }
});
