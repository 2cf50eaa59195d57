//! A configuration change between two starts is an audit record naming the
//! keys, old and new; an unchanged start records nothing.

use pramaan_config::Config;
use pramaan_core::MemorySink;
use pramaan_server::config_audit::record_changes;

fn records(sink: &MemorySink) -> Vec<serde_json::Value> {
    sink.records()
        .into_iter()
        .map(|(source, body)| {
            assert_eq!(source, "pramaan:audit");
            serde_json::from_slice(&body).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn a_changed_key_is_recorded_with_its_old_and_new_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let sink = MemorySink::new();

    // The first start only remembers; the same configuration again records nothing.
    record_changes(&cfg, &sink).await.unwrap();
    record_changes(&cfg, &sink).await.unwrap();
    assert!(records(&sink).is_empty());

    cfg.retention.interval = std::time::Duration::from_secs(120);
    cfg.metrics.enabled = !cfg.metrics.enabled;
    record_changes(&cfg, &sink).await.unwrap();
    let r = records(&sink);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["action"], "config.changed");
    assert_eq!(r[0]["actor"], "serve");
    let changed = r[0]["changed"].as_array().unwrap();
    let keys: Vec<&str> = changed.iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["metrics.enabled", "retention.interval"],
        "{changed:?}"
    );
    let interval = changed
        .iter()
        .find(|c| c["key"] == "retention.interval")
        .unwrap();
    assert_eq!(interval["new"], "\"2m\"", "{interval}");
    assert_ne!(interval["old"], interval["new"]);
}

#[tokio::test]
async fn an_unreadable_record_of_the_last_start_is_an_error_not_a_silent_skip() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    std::fs::create_dir(dir.path().join("config.applied")).unwrap();
    let err = record_changes(&cfg, &MemorySink::new()).await.unwrap_err();
    assert!(err.contains("config.applied"), "{err}");
}

/// A password in a URL setting is never written to `config.applied` nor to
/// the permanent `config.changed` record, whether it is the new value or one
/// a file written before redaction still holds in clear.
#[tokio::test]
async fn a_password_in_a_url_is_never_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let sink = MemorySink::new();
    record_changes(&cfg, &sink).await.unwrap();
    cfg.registry.url = "postgres://u:secretpw@127.0.0.1:5432/test".into();
    record_changes(&cfg, &sink).await.unwrap();
    let applied = std::fs::read_to_string(dir.path().join("config.applied")).unwrap();
    assert!(!applied.contains("secretpw"), "{applied}");
    assert!(
        applied.contains("postgres://u:***@127.0.0.1:5432/test"),
        "{applied}"
    );
    let r = records(&sink);
    assert_eq!(r.len(), 1);
    let text = r[0].to_string();
    assert!(!text.contains("secretpw"), "{text}");
    assert!(text.contains("registry.url"), "{text}");

    // A `config.applied` from before redaction, holding the password in clear:
    // the change away from it does not copy it into the ledger.
    let mut old: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&applied).unwrap();
    old.insert(
        "registry.url".into(),
        "\"postgres://u:oldsecret@127.0.0.1:5432/test\"".into(),
    );
    std::fs::write(
        dir.path().join("config.applied"),
        serde_json::to_vec(&old).unwrap(),
    )
    .unwrap();
    cfg.registry.url = "postgres://u@127.0.0.1:5432/test".into();
    record_changes(&cfg, &sink).await.unwrap();
    let r = records(&sink);
    assert_eq!(r.len(), 2);
    let text = r[1].to_string();
    assert!(!text.contains("oldsecret"), "{text}");
    assert!(text.contains("registry.url"), "{text}");
}
