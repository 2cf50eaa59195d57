//! How a configuration becomes the vault's options and retention policy
//! (one place: `serve`, the CLI and the tools open the vault the same way).

use pramaan_config::Config;
use pramaan_vault::VaultOptions;

/// The vault options a configuration asks for.
pub fn vault_options(cfg: &Config) -> VaultOptions {
    let mut o = VaultOptions::new(&cfg.data_dir);
    o.objects_dir = cfg.objects_dir();
    o.s3 = s3_options(cfg);
    o.location = cfg.storage.location();
    // Checked at load: only with a bucket.
    o.object_lock = (cfg.storage.object_lock() && o.s3.is_some()).then(|| retention_policy(cfg));
    o.catalog_path = cfg.catalog_path();
    o.catalog_postgres =
        cfg.catalog_postgres()
            .map(|(url, schema)| pramaan_vault::catalog::PgLocation {
                url: url.to_owned(),
                schema: schema.to_owned(),
            });
    o.fsync = cfg.wal.fsync;
    o.wal_file_bytes = cfg.wal.file_size;
    o.wal_max_batch = cfg.wal.max_batch as usize;
    o.seal_max_rows = cfg.segments.max_rows;
    o.seal_max_bytes = cfg.segments.max_bytes;
    o.seal_max_age = cfg.segments.max_age;
    o.cut_hourly = cfg.segments.cut_hourly;
    o.segment.zstd_level = cfg.segments.zstd_level;
    o.segment.row_group_rows = cfg.segments.row_group_rows;
    o.compact.level = cfg.segments.compact_level;
    o.compact.after = cfg.segments.compact_after;
    o.search_nice = cfg.segments.search_nice;
    o.sql = pramaan_vault::sql::SqlOptions {
        timeout: cfg.sql.timeout,
        memory_limit: cfg.sql.memory_limit,
        max_result_rows: cfg.sql.max_result_rows,
        max_result_bytes: cfg.sql.max_result_bytes,
    };
    o.default_offset_secs = cfg.syslog.default_timezone;
    // Validated at load; zone-less stamps of these sources are read in their own zone.
    o.source_zones = pramaan_core::zones::ZoneMap {
        entries: cfg.clock.source_zone_list().unwrap_or_default(),
    };
    o.ledger = Some(pramaan_vault::ledger::LedgerOptions {
        key_file: cfg.ledger_key_file(),
        origin: pramaan_vault::ledger::origin_for(
            cfg.node.organisation(),
            &cfg.node.resolved_name(),
        ),
        checkpoint_interval: cfg.ledger.checkpoint_interval,
        history_interval: cfg.ledger.history_interval,
    });
    o
}

/// The bucket a configuration names, with how to reach it (`None`: the
/// objects are in a local directory).
pub fn s3_options(cfg: &Config) -> Option<pramaan_vault::objects::s3::S3Options> {
    let pramaan_config::StorageTarget::S3 { bucket, prefix } = cfg.storage.url.as_ref()? else {
        return None;
    };
    Some(s3_options_for(cfg, bucket, prefix))
}

/// `bucket` and `prefix`, reached with the configuration's `storage.*`
/// settings (endpoint, region, path style, plain HTTP, credentials).
pub fn s3_options_for(
    cfg: &Config,
    bucket: &str,
    prefix: &str,
) -> pramaan_vault::objects::s3::S3Options {
    let s = &cfg.storage;
    pramaan_vault::objects::s3::S3Options {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        endpoint: s.endpoint.trim().to_owned(),
        region: s.region.trim().to_owned(),
        path_style: s.path_style,
        allow_http: s.allow_http,
        credentials: match &s.credentials_file {
            Some(file) => pramaan_vault::objects::s3::Credentials::File {
                path: file.clone(),
                profile: s.credentials_profile.clone(),
            },
            None => pramaan_vault::objects::s3::Credentials::Environment,
        },
        cache_bytes: s.cache_size,
    }
}

/// The retention policy a configuration asks for.
pub fn retention_policy(cfg: &Config) -> pramaan_vault::retention::Policy {
    pramaan_vault::retention::Policy {
        default_days: cfg.retention.days,
        classes: cfg
            .retention
            .classes
            .iter()
            .map(|c| pramaan_vault::retention::Class {
                name: c.name.clone(),
                sources: c.sources.clone(),
                days: c.days,
            })
            .collect(),
    }
}

/// The monitor's options from the configuration.
pub fn clock_options(cfg: &pramaan_config::Config) -> pramaan_clock::ClockOptions {
    let c = &cfg.clock;
    pramaan_clock::ClockOptions {
        enabled: c.enabled,
        servers: c.server_list(),
        interval: c.interval,
        timeout: c.timeout,
        threshold: c.threshold,
        skew_interval: c.skew_interval,
        skew_window: c.skew_window,
        zones: pramaan_clock::skew::ZoneMap {
            entries: c.source_zone_list().unwrap_or_default(),
        },
        db_path: cfg.data_dir.join("clock.db"),
        keep: std::time::Duration::from_secs(cfg.retention.days.saturating_mul(86_400)),
        chronyc: "chronyc".into(),
        chronyc_socket: None,
    }
}
