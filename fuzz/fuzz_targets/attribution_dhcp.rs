//! The DHCP lease parser of pramaan-attribution (Kea lease rows and
//! messages, dnsmasq, dhcpd; checks in attribution_check.rs).
#![no_main]

#[path = "attribution_check.rs"]
mod check;

use pramaan_attribution::parse;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::run(data, parse::dhcp::parse));
