//! The WireGuard decoders of pramaan-attribution: `wg show all dump` output
//! and the poller's lines. Neither panics; a dump that reads gives lines that
//! read back into events naming its peers and their allowed IPs; the tracker
//! takes any event without panicking.
#![no_main]

use pramaan_attribution::model::Net;
use pramaan_attribution::parse::wireguard::{changes, parse, read_dump, Snapshot};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut events = Vec::new();
    if let Ok(Some(ev)) = parse(&text) {
        events.push(ev);
    }
    if let Ok(peers) = read_dump(&text) {
        let snap = Snapshot::new(1_796_000_000_000_000_000, peers);
        for (iface, line) in changes(None, &snap) {
            let ev = parse(&line)
                .unwrap_or_else(|e| panic!("{line:?}: {e}"))
                .expect("a poller line is an event");
            let peer = &snap.peers[&format!("{iface}|{}", ev.subscriber)];
            assert_eq!(peer.iface, iface);
            assert_eq!(ev.subscriber, peer.key);
            let nets: Vec<Net> = peer.allowed.iter().map(|a| Net::parse(a).unwrap()).collect();
            assert_eq!(ev.nets, nets);
            events.push(ev);
        }
    }
    for ev in events {
        let mut t = pramaan_attribution::tracker::Tracker::new(std::time::Duration::from_secs(86_400));
        let _ = t.feed(&ev, 1, 0);
        let _ = t.feed(&ev, 2, i64::MAX);
        let _ = t.expire(i64::MAX);
    }
});
