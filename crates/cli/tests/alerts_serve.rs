//! `serve`'s compliance alerts over real sockets: a source is the sender's
//! address without its port (several connections, one source), it fires
//! `PramaanSourceSilent` once silent longer than `alerts.silence_after`,
//! resolves when a line comes, and is acknowledged with `pramaan alerts ack`.

mod support;

use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(60);

fn alerts(s: &Server) -> Vec<serde_json::Value> {
    let r = s.get("/api/v1/alerts", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

fn silent(s: &Server) -> Vec<serde_json::Value> {
    alerts(s)
        .into_iter()
        .filter(|a| a["alertname"] == "PramaanSourceSilent")
        .collect()
}

#[test]
fn a_silent_source_fires_resolves_and_is_acknowledged() {
    let s = Server::start_with(&[
        ("PRAMAAN_ALERTS_ENABLED", "true"),
        ("PRAMAAN_ALERTS_INTERVAL", "200ms"),
        ("PRAMAAN_ALERTS_SILENCE_AFTER", "2s"),
    ]);
    // Three requests, three connections (three ephemeral ports): lines
    // that name no host, so their source is the sender's address.
    for i in 0..3 {
        let r = http_post(
            &format!("{}/api/v1/ingest", s.url()),
            &[
                ("authorization", &format!("Bearer {TEST_TOKEN}")),
                ("connection", "close"),
            ],
            format!("a line without a host {i}\n").into_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let firing = wait_until(T, "the silence alert", || {
        let a = silent(&s);
        (!a.is_empty()).then_some(a)
    });
    // One source for the three connections: the address, no port.
    assert_eq!(firing.len(), 1, "{firing:?}");
    let key = firing[0]["key"].as_str().unwrap().to_owned();
    assert_eq!(firing[0]["state"], "firing");
    let source = firing[0]["labels"]["source"].as_str().unwrap();
    assert!(source.ends_with("127.0.0.1"), "{source}");
    assert!(firing[0]["summary"]
        .as_str()
        .unwrap()
        .contains("missing from the 180 days"));

    // Acknowledged through the CLI.
    let mut c = pramaan(s.dir.path());
    c.args(["alerts", "ack", &key, "--server", &s.url()]);
    let o = run(c, None, T);
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("acknowledged by"), "{o:?}");

    // A line from it again: resolved.
    s.ingest_lines(&["it speaks again"]);
    wait_until(T, "the resolution", || {
        silent(&s)
            .iter()
            .any(|a| a["state"] == "resolved")
            .then_some(())
    });
    let mut c = pramaan(s.dir.path());
    c.args(["alerts", "--server", &s.url()]);
    let o = run(c, None, T);
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("resolved"), "{o:?}");

    // Each change is in the ledger.
    let recs = s.search(&[("internal", "true"), ("q", "alert.")]);
    let actions: Vec<String> = recs
        .iter()
        .filter_map(|h| serde_json::from_str::<serde_json::Value>(&h.raw_text()).ok())
        .filter_map(|v| v["action"].as_str().map(str::to_owned))
        .collect();
    for want in ["alert.firing", "alert.acknowledged", "alert.resolved"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing: {actions:?}"
        );
    }
}
