//! Syslog over TLS (RFC 5425) with a real client: `openssl s_client`.
#![allow(clippy::field_reassign_with_default)] // nested config structs are set field by field

use pramaan_config::Config;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "pmn_tls-test-token-not-a-secret-0123456789abcdef";

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(st.success());
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_sent_over_tls_are_stored_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let mut cfg = Config::default();
    cfg.clock.enabled = false; // no NTP queries leave this machine in tests
    cfg.data_dir = dir.path().join("data");
    cfg.http.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog.udp_listen = None;
    cfg.syslog.tcp_listen = None;
    cfg.syslog.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.syslog.tls_cert = Some(cert.clone());
    cfg.syslog.tls_key = Some(key);
    // An admin token stored at start (each test runs in its own process under nextest).
    std::env::set_var(pramaan_server::access::ENV_BOOTSTRAP_TOKEN, TOKEN);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pramaan_server::serve(
        cfg,
        async move {
            let _ = stop_rx.await;
        },
        move |b| {
            let _ = ready_tx.send(b.clone());
        },
    ));
    let bound = ready_rx.await.unwrap();
    let tls = bound.tls.expect("TLS listener is up");
    let http = bound.http.unwrap();

    let lines = [
        "<13>1 2026-11-27T10:00:00Z tlshost app - - - first over TLS",
        "<13>Nov 27 10:00:01 tlshost app: second over TLS",
    ];
    let mut stream = Vec::new();
    for l in lines {
        stream.extend_from_slice(format!("{} {l}", l.len()).as_bytes());
    }
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-verify_return_error",
            "-connect",
            &tls.to_string(),
            "-CAfile",
        ])
        .arg(&cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;

    let client = reqwest::Client::builder()
        .no_proxy()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let mut found = Vec::new();
    for _ in 0..100 {
        let body = client
            .get(format!("http://{http}/api/v1/search?q=over%20TLS&limit=10"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        found = body
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        if found.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 2, "{found:?}");
    for (hit, line) in found.iter().zip(lines) {
        assert_eq!(hit["raw"], line);
        assert_eq!(hit["transport"], "tls");
        assert_eq!(hit["host"], "tlshost");
    }

    // A client that does not trust the certificate cannot send (and the server keeps serving).
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _) = self_signed(other.path());
    let st = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-verify_return_error",
            "-connect",
            &tls.to_string(),
            "-CAfile",
        ])
        .arg(&other_ca)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success());
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.clock.enabled = false; // no NTP queries leave this machine in tests
    cfg.data_dir = dir.path().join("data");
    cfg.http.listen = "127.0.0.1:0".parse().unwrap();
    cfg.syslog.udp_listen = None;
    cfg.syslog.tcp_listen = None;
    cfg.syslog.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.syslog.tls_cert = Some(dir.path().join("nope.pem"));
    cfg.syslog.tls_key = Some(dir.path().join("nope.key"));
    let err = pramaan_server::serve(cfg, async {}, |_| {})
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("nope.pem"), "{msg}");
}
