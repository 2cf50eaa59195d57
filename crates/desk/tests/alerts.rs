//! Compliance alerts kept by the desk and sent to a real Prometheus
//! Alertmanager (Debian's `prometheus-alertmanager`, its own process on a
//! loopback port, clustering off), which routes them on to a webhook
//! receiver in this test: firing, repeated, acknowledged, resolved, each
//! change a ledger record. Times are passed in.

use pramaan_core::MemorySink;
use pramaan_desk::alerts::{self, Channels, Condition};
use pramaan_desk::*;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const S: i64 = 1_000_000_000;
/// 2026-12-06T10:00:00Z
const T0: i64 = 1_796_551_200 * S;

struct Alertmanager {
    child: Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Alertmanager on loopback, routing everything at once to `hook`.
async fn alertmanager(dir: &std::path::Path, hook: &str) -> Alertmanager {
    let conf = dir.join("alertmanager.yml");
    std::fs::write(
        &conf,
        format!(
            "route:\n  receiver: hook\n  group_by: ['alertname', 'source']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: '{hook}'\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", conf.display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus-alertmanager runs (scripts/test installs Debian's prometheus-alertmanager)",
        );
    let url = format!("http://127.0.0.1:{port}");
    // Killed and waited for on drop, whatever happens next.
    let am = Alertmanager { child, url };
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{}/-/ready", am.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return am;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Alertmanager did not become ready on {}", am.url);
}

/// A webhook receiver (what Alertmanager routes to).
async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use axum::routing::post;
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(v);
                axum::http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/hook"), got)
}

fn silent(source: &str, since: i64) -> Condition {
    Condition {
        key: format!("source_silent/{source}"),
        alertname: "PramaanSourceSilent".into(),
        labels: BTreeMap::from([("source".to_owned(), source.to_owned())]),
        summary: format!("The source {source} has sent no line."),
        since_ns: since,
    }
}

/// Waits for the receiver to hold a notification with `status`.
async fn wait_for(got: &Mutex<Vec<serde_json::Value>>, status: &str) -> serde_json::Value {
    for _ in 0..150 {
        if let Some(v) = got.lock().unwrap().iter().find(|v| v["status"] == status) {
            return v.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "Alertmanager sent no `{status}` notification: {:?}",
        got.lock().unwrap()
    );
}

#[tokio::test]
async fn alerts_fire_repeat_until_acknowledged_resolve_and_reach_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(MemorySink::new());
    let desk = Desk::open(&dir.path().join("desk.db"), sink.clone()).unwrap();
    let (hook, got) = receiver().await;
    let am = alertmanager(dir.path(), &hook).await;
    let settings = Settings {
        webhook_backoff: Duration::from_millis(10),
        ..Default::default()
    };
    let ch = Channels {
        alertmanager_url: am.url.clone(),
        email: false,
        repeat_ns: 3600 * S,
        generator_url: "http://127.0.0.1:8080/console".into(),
    };

    // web1 goes silent: one alert fires and goes to Alertmanager.
    let c = desk
        .sync_alerts(&[silent("web1", T0 - 60 * S)], T0)
        .await
        .unwrap();
    assert_eq!(c.fired, ["source_silent/web1"]);
    let sent = alerts::notify(&desk, &settings, &ch, T0).await.unwrap();
    assert_eq!(sent.sent, ["source_silent/web1"], "{:?}", sent.failures);
    // Alertmanager holds it, with pramaan's labels, and routed it on.
    let held: serde_json::Value = reqwest::get(format!("{}/api/v2/alerts", am.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        held[0]["labels"]["alertname"], "PramaanSourceSilent",
        "{held}"
    );
    assert_eq!(held[0]["labels"]["source"], "web1", "{held}");
    assert_eq!(held[0]["labels"]["service"], "pramaan", "{held}");
    let firing = wait_for(&got, "firing").await;
    assert_eq!(
        firing["alerts"][0]["annotations"]["summary"],
        "The source web1 has sent no line."
    );

    // Still silent: not sent again before the repeat interval, then again.
    desk.sync_alerts(&[silent("web1", T0 - 60 * S)], T0 + 60 * S)
        .await
        .unwrap();
    assert!(alerts::notify(&desk, &settings, &ch, T0 + 60 * S)
        .await
        .unwrap()
        .sent
        .is_empty());
    assert_eq!(
        alerts::notify(&desk, &settings, &ch, T0 + 3601 * S)
            .await
            .unwrap()
            .sent,
        ["source_silent/web1"]
    );
    // Acknowledged: no more repeats.
    let a = desk
        .ack_alert("source_silent/web1", "asha", T0 + 3700 * S)
        .await
        .unwrap();
    assert_eq!(a.acked_by.as_deref(), Some("asha"));
    assert!(alerts::notify(&desk, &settings, &ch, T0 + 9000 * S)
        .await
        .unwrap()
        .sent
        .is_empty());
    // A resolved alert cannot be acknowledged; an unknown one says so.
    assert!(desk
        .ack_alert("nope", "asha", T0)
        .await
        .unwrap_err()
        .to_string()
        .contains("no alert `nope`"));

    // A line arrives: resolved, and the resolution is sent once.
    let c = desk.sync_alerts(&[], T0 + 9100 * S).await.unwrap();
    assert_eq!(c.resolved, ["source_silent/web1"]);
    let sent = alerts::notify(&desk, &settings, &ch, T0 + 9100 * S)
        .await
        .unwrap();
    assert_eq!(sent.sent, ["source_silent/web1"]);
    assert!(alerts::notify(&desk, &settings, &ch, T0 + 9200 * S)
        .await
        .unwrap()
        .sent
        .is_empty());
    let resolved = wait_for(&got, "resolved").await;
    assert_eq!(
        resolved["alerts"][0]["labels"]["source"], "web1",
        "{resolved}"
    );
    let kept = desk.alerts().unwrap();
    assert_eq!(kept[0].state, "resolved");

    // Silent again later: fires anew, its acknowledgement forgotten.
    let c = desk
        .sync_alerts(&[silent("web1", T0 + 20_000 * S)], T0 + 20_000 * S)
        .await
        .unwrap();
    assert_eq!(c.fired, ["source_silent/web1"]);
    assert_eq!(desk.alerts().unwrap()[0].acked_by, None);

    // Each change is a ledger record.
    let actions: Vec<String> = sink
        .records()
        .into_iter()
        .filter(|(s, _)| s == LEDGER_SOURCE)
        .map(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(&b).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "alert.firing",
            "alert.acknowledged",
            "alert.resolved",
            "alert.firing"
        ]
    );
}

#[tokio::test]
async fn an_unreachable_alertmanager_leaves_the_alert_to_send_again() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::open(&dir.path().join("desk.db"), Arc::new(MemorySink::new())).unwrap();
    let settings = Settings {
        webhook_tries: 1,
        ..Default::default()
    };
    let ch = Channels {
        alertmanager_url: format!("http://127.0.0.1:{}", free_port()),
        email: false,
        repeat_ns: 3600 * S,
        generator_url: String::new(),
    };
    desk.sync_alerts(&[silent("db1", T0)], T0).await.unwrap();
    let r = alerts::notify(&desk, &settings, &ch, T0).await.unwrap();
    assert!(r.sent.is_empty());
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(
        desk.alerts().unwrap()[0].last_sent_ns,
        None,
        "tried again at the next round"
    );
}
