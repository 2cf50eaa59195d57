//! The strongSwan virtual-IP parser of pramaan-attribution (checks in
//! attribution_check.rs).
#![no_main]

#[path = "attribution_check.rs"]
mod check;

use pramaan_attribution::parse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data, |t, _| parse::ipsec::parse(t)));
