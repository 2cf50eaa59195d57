//! `pramaan doctor`: a deployment checked in one command, each finding with
//! what to do about it. It reads the configuration and the data directory
//! and asks the clock servers once; it changes nothing.

use pramaan_config::Config;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// Works, but not as a reviewer would want (or could not be checked).
    Warn,
    /// Out of compliance, or a secret exposed: fix before relying on it.
    Fail,
}

/// One check's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub what: String,
    /// What to do; empty when nothing is.
    pub fix: String,
}

fn finding(level: Level, check: &'static str, what: String, fix: &str) -> Finding {
    Finding {
        level,
        check,
        what,
        fix: fix.to_owned(),
    }
}

/// Where backups are kept, for the "backups recent" check.
pub struct Backups<'a> {
    pub root: &'a Path,
    pub max_age: Duration,
}

/// Every check, in the order printed.
pub async fn check(cfg: &Config, backups: Option<Backups<'_>>) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(secrets(cfg));
    out.extend(listeners(cfg));
    out.push(retention(cfg));
    out.push(store_location(cfg).await);
    out.extend(object_lock(cfg).await);
    out.push(disk(cfg));
    out.extend(clock(cfg).await);
    out.push(match backups {
        Some(b) => recent_backup(b.root, b.max_age, pramaan_core::time::now_ns()),
        None => finding(
            Level::Warn,
            "backups",
            "not checked".into(),
            "pass --backups DIR (the directory holding your `pramaan backup --to` directories)",
        ),
    });
    out
}

/// Key files and the data directory: the owner's only.
fn secrets(cfg: &Config) -> Vec<Finding> {
    let vo = crate::options::vault_options(cfg);
    let key = vo
        .ledger
        .map(|l| l.key_file)
        .unwrap_or_else(|| cfg.data_dir.join("ledger").join("node.key"));
    let mut files: Vec<(PathBuf, &str)> = vec![
        (cfg.data_dir.clone(), "data directory"),
        (key, "ledger signing key"),
    ];
    if let pramaan_registry::KeySource::File(p) =
        pramaan_registry::RegistryOptions::from_config(cfg).master_key
    {
        files.push((p, "register master key"));
    }
    for (p, what) in [
        (&cfg.http.tls_key, "HTTPS private key"),
        (&cfg.syslog.tls_key, "syslog TLS private key"),
        (&cfg.relp.tls_key, "RELP TLS private key"),
        (&cfg.radius.secret_file, "RADIUS shared secret"),
    ] {
        if let Some(p) = p {
            files.push((p.clone(), what));
        }
    }
    files
        .into_iter()
        .map(|(p, what)| private(&p, what))
        .collect()
}

fn private(path: &Path, what: &str) -> Finding {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return finding(
                Level::Ok,
                "permissions",
                format!(
                    "{what} {}: not made yet (made 0600/0700 at first use)",
                    path.display()
                ),
                "",
            )
        }
        Err(e) => {
            return finding(
                Level::Warn,
                "permissions",
                format!("{what} {}: cannot be read ({e})", path.display()),
                "run doctor as the user pramaan runs as",
            )
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o7777;
        let mine = meta.uid() == my_uid();
        if mode & 0o077 != 0 {
            return finding(
                Level::Fail,
                "permissions",
                format!(
                    "{what} {} is mode {mode:04o}: others may read it",
                    path.display()
                ),
                &format!("chmod go-rwx {}", path.display()),
            );
        }
        if !mine {
            return finding(
                Level::Warn,
                "permissions",
                format!(
                    "{what} {} belongs to uid {}, not to this user",
                    path.display(),
                    meta.uid()
                ),
                "run doctor as the user pramaan runs as (e.g. sudo -u pramaan pramaan doctor)",
            );
        }
        finding(
            Level::Ok,
            "permissions",
            format!("{what} {} is mode {mode:04o}", path.display()),
            "",
        )
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        finding(
            Level::Ok,
            "permissions",
            format!("{what} {}", path.display()),
            "",
        )
    }
}

/// The process's user id, from `/proc/self` (no `libc` call needed).
#[cfg(unix)]
fn my_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// Listeners on addresses other hosts reach: fine with TLS, a finding without.
fn listeners(cfg: &Config) -> Vec<Finding> {
    let tls = |cert: &Option<PathBuf>| cert.is_some();
    let mut v: Vec<(&str, Option<SocketAddr>, bool, &str)> = vec![
        ("HTTP API", Some(cfg.http.listen), tls(&cfg.http.tls_cert), "set http.tls_cert and http.tls_key, or listen on 127.0.0.1 behind a TLS proxy"),
        ("syslog UDP", cfg.syslog.udp_listen, false, "senders on other hosts: use syslog over TLS (syslog.tls_listen) or RELP with TLS; UDP is for the same host or a trusted segment with syslog.allow"),
        ("syslog TCP", cfg.syslog.tcp_listen, false, "use syslog.tls_listen with a certificate, or limit senders with syslog.allow"),
        ("RELP", cfg.relp.listen, tls(&cfg.relp.tls_cert), "set relp.tls_cert and relp.tls_key"),
    ];
    if let Some(t) = cfg.syslog.tls() {
        v.push(("syslog TLS", Some(t.listen), true, ""));
    }
    // RADIUS authenticates each packet with the shared secret (RFC 2866).
    v.push(("RADIUS accounting", cfg.radius.listen, true, ""));
    v.into_iter()
        .filter_map(|(name, addr, tls, fix)| {
            let addr = addr?;
            let public = !addr.ip().is_loopback();
            Some(if public && !tls {
                finding(
                    Level::Warn,
                    "listeners",
                    format!("{name} listens on {addr}, reachable from other hosts, without TLS"),
                    fix,
                )
            } else {
                finding(
                    Level::Ok,
                    "listeners",
                    format!(
                        "{name} on {addr}{}",
                        if public {
                            " (TLS)"
                        } else {
                            " (this host only)"
                        }
                    ),
                    "",
                )
            })
        })
        .collect()
}

/// CERT-In: 180 days for every log.
fn retention(cfg: &Config) -> Finding {
    let short = cfg.retention.short_windows();
    if short.is_empty() {
        finding(
            Level::Ok,
            "retention",
            format!(
                "every log kept at least 180 days (retention.days = {}, {} classes)",
                cfg.retention.days,
                cfg.retention.classes.len()
            ),
            "",
        )
    } else {
        let list: Vec<String> = short
            .iter()
            .map(|(w, d)| format!("{w} = {d} days"))
            .collect();
        finding(
            Level::Fail,
            "retention",
            format!("under CERT-In's 180 days: {}", list.join(", ")),
            "raise them to 180 days or more",
        )
    }
}

/// Where the evidence store is (direction (v): within India): a bucket is
/// asked its region and judged against `storage.location`.
async fn store_location(cfg: &Config) -> Finding {
    use pramaan_vault::objects::region::{self, LocationCheck, Verdict};
    let declared = cfg.storage.location();
    let check = match crate::options::s3_options(cfg) {
        Some(o) => region::check(&o, &declared).await,
        None => LocationCheck::local(&declared),
    };
    let (level, fix) = match check.verdict {
        Verdict::Matches | Verdict::Local => (Level::Ok, ""),
        Verdict::Mismatch => (
            Level::Fail,
            "keep the evidence in a bucket in India, or correct storage.location (and, for a \
             site, storage.region) to where the bucket is",
        ),
        Verdict::Undeclared => (
            Level::Warn,
            "set storage.location to the bucket's region in India (e.g. \"ap-south-1\") or \
             \"on-premises:<site>\"",
        ),
        Verdict::Unknown => (
            Level::Warn,
            "let pramaan's access key read the bucket's location (s3:GetBucketLocation) and \
             check that the store answers",
        ),
    };
    finding(level, "location", check.detail, fix)
}

/// Under `storage.object_lock`: the bucket must have Object Lock enabled
/// (as `serve` requires at start).
async fn object_lock(cfg: &Config) -> Option<Finding> {
    let o = crate::options::s3_options(cfg).filter(|_| cfg.storage.object_lock())?;
    let bucket = o.bucket.clone();
    let checked = match pramaan_vault::objects::lock::ObjectLock::new(
        o,
        crate::options::retention_policy(cfg),
    ) {
        Ok(lock) => lock.check_bucket().await,
        Err(e) => Err(e),
    };
    Some(match checked {
        Ok(()) => finding(
            Level::Ok,
            "object lock",
            format!(
                "bucket {bucket} has Object Lock enabled: segments, full tiles and checkpoints \
                 are kept in COMPLIANCE mode until their windows end"
            ),
            "",
        ),
        Err(why) => finding(
            Level::Fail,
            "object lock",
            why,
            "use a bucket made with Object Lock enabled, or set storage.object_lock = \"off\"",
        ),
    })
}

fn disk(cfg: &Config) -> Finding {
    let min = cfg.alerts.disk_free_min;
    let dir = if cfg.data_dir.exists() {
        cfg.data_dir.clone()
    } else {
        cfg.data_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    };
    match crate::alerting::disk_free(&dir) {
        Some(f) if f * 100.0 >= min as f64 => finding(
            Level::Ok,
            "disk",
            format!("{:.0}% free where {} is", f * 100.0, dir.display()),
            "",
        ),
        Some(f) => finding(
            Level::Fail,
            "disk",
            format!(
                "{:.1}% free where {} is, under alerts.disk_free_min ({min}%)",
                f * 100.0,
                dir.display()
            ),
            "add space, or move segments to a bucket (storage.url): when the disk fills, ingest stops with 507",
        ),
        None => finding(
            Level::Warn,
            "disk",
            format!("the free space of {} could not be read", dir.display()),
            "",
        ),
    }
}

/// Each clock server asked once.
async fn clock(cfg: &Config) -> Vec<Finding> {
    if !cfg.clock.enabled {
        return vec![finding(
            Level::Warn,
            "clock",
            "the clock monitor is off (clock.enabled = false): nothing shows the clocks follow NIC/NPL time".into(),
            "set clock.enabled = true (the default) with clock.servers reachable from this host",
        )];
    }
    let mut out = Vec::new();
    for server in cfg.clock.server_list() {
        let s = pramaan_clock::client::query(&server, cfg.clock.timeout).await;
        out.push(match &s.state {
            pramaan_clock::client::State::Ok => {
                let off = s.offset_ns.unwrap_or(0);
                let limit = cfg.clock.threshold.as_nanos() as i64;
                if off.abs() > limit {
                    finding(
                        Level::Fail,
                        "clock",
                        format!(
                            "{server}: this host is {:.3} s off, over clock.threshold ({:?})",
                            off as f64 / 1e9,
                            cfg.clock.threshold
                        ),
                        "point chronyd or timesyncd at the NIC/NPL servers",
                    )
                } else {
                    finding(
                        Level::Ok,
                        "clock",
                        format!("{server}: offset {:.3} s", off as f64 / 1e9),
                        "",
                    )
                }
            }
            other => finding(
                Level::Fail,
                "clock",
                match other.detail() {
                    Some(why) if !why.is_empty() => format!("{server}: {} ({why})", other.name()),
                    _ => format!("{server}: {}", other.name()),
                },
                "let this host reach the server on UDP port 123, or name one it can reach in clock.servers",
            ),
        });
    }
    out
}

/// The newest backup manifest under `root` (its directories, one level
/// down, or `root` itself), no older than `max_age`.
pub fn recent_backup(root: &Path, max_age: Duration, now_ns: i64) -> Finding {
    let mut manifests = vec![root.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(root) {
        manifests.extend(rd.flatten().map(|e| e.path()));
    }
    let newest = manifests
        .iter()
        .filter_map(|d| crate::backup::read_manifest(d).ok().map(|m| (d.clone(), m)))
        .map(|(d, m)| (m.made_at_ns, d, m.checkpoint_size))
        .max_by_key(|(at, _, _)| *at);
    match newest {
        None => finding(
            Level::Fail,
            "backups",
            format!("no finished backup under {}", root.display()),
            "run `pramaan backup --to DIR` regularly (a timer or cron job)",
        ),
        Some((at, dir, size)) => {
            let age = Duration::from_nanos(now_ns.saturating_sub(at).max(0) as u64);
            let hours = age.as_secs() / 3600;
            if age > max_age {
                finding(
                    Level::Fail,
                    "backups",
                    format!("the newest backup, {}, is {hours} h old", dir.display()),
                    "run `pramaan backup --to DIR`, and check the job that should",
                )
            } else {
                finding(
                    Level::Ok,
                    "backups",
                    format!("{} ({hours} h old, checkpoint size {size})", dir.display()),
                    "",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)], data: &Path) -> Config {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("PRAMAAN_DATA_DIR".into(), data.display().to_string()));
        pramaan_config::load(None, env, &[]).unwrap().config
    }

    #[tokio::test]
    async fn a_local_store_is_placed_as_declared() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            &[("PRAMAAN_STORAGE_LOCATION", "on-premises:DC-2")],
            dir.path(),
        );
        let f = store_location(&c).await;
        assert_eq!(f.level, Level::Ok);
        assert_eq!(
            f.what,
            "a directory on this machine (storage.location: on premises: DC-2)"
        );
    }

    #[test]
    fn a_short_window_fails_and_names_it() {
        let d = tempfile::tempdir().unwrap();
        let ok = retention(&config(&[], d.path()));
        assert_eq!(ok.level, Level::Ok, "{ok:?}");
        let short = retention(&config(
            &[
                ("PRAMAAN_RETENTION_DAYS", "90"),
                ("PRAMAAN_RETENTION_ALLOW_NON_COMPLIANT", "true"),
            ],
            d.path(),
        ));
        assert_eq!(short.level, Level::Fail);
        assert!(short.what.contains("retention.days = 90"), "{short:?}");
    }

    #[test]
    fn a_public_listener_without_tls_is_named_loopback_ones_are_fine() {
        let d = tempfile::tempdir().unwrap();
        let f = listeners(&config(&[], d.path()));
        assert!(f.iter().all(|f| f.level == Level::Ok), "{f:?}");
        let f = listeners(&config(
            &[("PRAMAAN_HTTP_LISTEN", "0.0.0.0:8080")],
            d.path(),
        ));
        let http = f.iter().find(|f| f.what.starts_with("HTTP API")).unwrap();
        assert_eq!(http.level, Level::Warn);
        assert!(
            http.what.contains("0.0.0.0:8080") && http.fix.contains("http.tls_cert"),
            "{http:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_key_others_can_read_fails_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("node.key");
        std::fs::write(&key, b"k").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let f = private(&key, "ledger signing key");
        assert_eq!(f.level, Level::Fail);
        assert!(
            f.what.contains("0644") && f.fix.contains("chmod go-rwx"),
            "{f:?}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(private(&key, "ledger signing key").level, Level::Ok);
        assert_eq!(private(&d.path().join("none"), "x").level, Level::Ok);
    }

    #[test]
    fn backups_are_judged_by_the_newest_finished_one() {
        let d = tempfile::tempdir().unwrap();
        let day = Duration::from_secs(86_400);
        let none = recent_backup(d.path(), day, 0);
        assert_eq!(none.level, Level::Fail);
        assert!(none.what.contains("no finished backup"), "{none:?}");
        let hour_ns = 3_600_000_000_000i64;
        for (name, at) in [("old", 0i64), ("new", 10 * hour_ns)] {
            std::fs::create_dir(d.path().join(name)).unwrap();
            let m = serde_json::json!({
                "format": 1, "pramaan": "0", "made_at": "", "made_at_ns": at,
                "data_dir": "/d", "checkpoint_size": 7, "checkpoint": "",
                "not_included": [], "files": {}
            });
            std::fs::write(
                d.path().join(name).join(crate::backup::MANIFEST),
                m.to_string(),
            )
            .unwrap();
        }
        // An unfinished one (no manifest) does not count.
        std::fs::create_dir(d.path().join("unfinished")).unwrap();
        let fresh = recent_backup(d.path(), day, 12 * hour_ns);
        assert_eq!(fresh.level, Level::Ok, "{fresh:?}");
        assert!(
            fresh.what.contains("new") && fresh.what.contains("2 h old"),
            "{fresh:?}"
        );
        let stale = recent_backup(d.path(), day, 40 * hour_ns);
        assert_eq!(stale.level, Level::Fail, "{stale:?}");
        assert!(stale.what.contains("30 h old"), "{stale:?}");
    }
}
