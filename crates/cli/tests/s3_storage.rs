//! `storage.url = "s3://bucket/prefix"`: `serve` keeps its segments, ledger
//! tiles and checkpoint in a bucket of a real S3-compatible server
//! (s3s-fs on loopback, which `scripts/test` installs), and search, SQL,
//! proofs and `verify` read them there; a store that cannot be used stops
//! `serve` at start with its cause; a store that goes away mid-run loses
//! nothing (the WAL keeps the lines and sealing resumes); an object altered
//! behind pramaan's back is named by `verify`.

mod support;

use std::time::Duration;
use support::*;

const BUCKET: &str = "evidence";
const PREFIX: &str = "site-a/pramaan";

fn env_of(store: &S3Store, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = store.env(BUCKET, PREFIX);
    env.push(("PRAMAAN_SEGMENTS_MAX_ROWS".into(), "100".into()));
    env.push(("PRAMAAN_LEDGER_CHECKPOINT_INTERVAL".into(), "200ms".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn start_on(store: &S3Store, extra: &[(&str, &str)]) -> Server {
    let env = env_of(store, extra);
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Server::start_with(&refs)
}

/// `pramaan <args>` on the server's data directory, with the store's settings.
fn cli(server: &Server, store: &S3Store, args: &[&str]) -> Output {
    let mut c = pramaan(server.dir.path());
    c.arg("--data-dir").arg(server.data_dir()).args(args);
    for (k, v) in env_of(store, &[]) {
        c.env(k, v);
    }
    run(c, None, Duration::from_secs(300))
}

/// `n` lines, each naming its own address, `tag` and number.
fn lines(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "<134>1 2026-12-06T10:00:00+05:30 gw-{tag} sshd 1 - - Accepted password for u{i} from 10.{}.{}.{} port 22 {tag}-{i}",
                (i / 65536) % 256,
                (i / 256) % 256,
                i % 256
            )
        })
        .collect()
}

fn wait_sealed(server: &Server, segments: u64) {
    wait_until(Duration::from_secs(60), "segments to be sealed", || {
        (server.status()["segments"].as_u64() >= Some(segments)).then_some(())
    });
}

#[test]
fn serve_keeps_its_evidence_in_the_bucket_and_every_reader_finds_it_there() {
    let store = S3Store::start(BUCKET);
    let mut server = start_on(&store, &[]);
    let tag = unique("s3");
    let sent = lines(&tag, 450);
    assert_eq!(server.ingest_lines(&sent).accepted, 450);
    wait_sealed(&server, 4);

    // The bucket holds the segments, tiles and checkpoint, under the prefix;
    // the local objects directory holds none of them.
    let keys = store.keys(BUCKET, PREFIX);
    let segs: Vec<&String> = keys.iter().filter(|k| k.starts_with("segments/")).collect();
    assert!(segs.len() >= 4, "{keys:?}");
    assert!(segs.iter().all(|k| k.ends_with(".parquet")), "{keys:?}");
    assert!(keys.iter().any(|k| k == "checkpoint"), "{keys:?}");
    let local = server.data_dir().join("objects").join("segments");
    assert!(
        !local.exists(),
        "segments were written to {}",
        local.display()
    );

    // Search (from sealed segments) and SQL find every line, once.
    let hit = server.search(&[("ip", "10.0.1.44")]);
    assert_eq!(hit.len(), 1, "{hit:?}");
    assert!(
        hit[0].raw_text().ends_with(&format!("{tag}-300")),
        "{hit:?}"
    );
    let rows = server.sql(&format!(
        "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM logs WHERE text(raw) LIKE '%{tag}-%'"
    ));
    assert_eq!(rows[0]["n"], 450, "{rows:?}");
    assert_eq!(rows[0]["d"], 450, "{rows:?}");
    // What search and SQL read is now kept on local disk (storage.cache_size).
    let cache_dir = server.data_dir().join("cache");
    let cached = |key: &str| cache_dir.join(key).exists();
    assert!(
        segs.iter().all(|k| cached(k)),
        "not every segment is cached"
    );
    // SQL reaches nothing but the vault's objects.
    let r = server.post(
        "/api/v1/sql",
        &[("content-type", "application/json")],
        serde_json::to_vec(&serde_json::json!({
            "query": "SELECT * FROM read_parquet('file:///etc/passwd')"
        }))
        .unwrap(),
    );
    assert_ne!(r.status, 200, "{}", r.text());

    // An inclusion proof of a sealed record, against the checkpoint in the bucket.
    wait_until(
        Duration::from_secs(30),
        "a checkpoint over every line",
        || (server.status()["ledger"]["checkpoint_size"].as_u64() >= Some(450)).then_some(()),
    );
    let seq = hit[0].seq.to_string();
    let r = server.get("/api/v1/proof/inclusion", &[("seq", &seq)]);
    assert_eq!(r.status, 200, "{}", r.text());

    // The status says where the evidence is.
    let st = server.status();
    assert_eq!(
        st["store"]["url"],
        format!("s3://{BUCKET}/{PREFIX}"),
        "{st}"
    );
    assert_eq!(st["store"]["remote"], true, "{st}");
    let catalog = st["store"]["catalog"].as_str().unwrap();
    assert!(
        catalog.starts_with("sqlite:") && catalog.ends_with("catalog.db"),
        "{st}"
    );

    // verify, on the data directory with the server stopped, reads the bucket.
    assert!(server.stop().success(), "{}", server.stderr());
    let o = cli(&server, &store, &["verify", "--quiet"]);
    assert!(o.success(), "verify: {o:?}");
    let o = cli(&server, &store, &["search", "--ip", "10.0.1.44"]);
    assert!(o.success(), "search: {o:?}");
    assert!(o.stdout().contains(&format!("{tag}-300")), "{o:?}");

    // A crash between writing a segment and its catalog row leaves an
    // object no row names: the next start removes it from the bucket.
    let stray = "segments/2026/12/06/23/99999999999999990000-99999999999999990099.parquet";
    let stray_file = store.root.path().join(BUCKET).join(PREFIX).join(stray);
    std::fs::create_dir_all(stray_file.parent().unwrap()).unwrap();
    std::fs::write(&stray_file, b"PAR1 an unfinished seal").unwrap();
    assert!(store.keys(BUCKET, PREFIX).iter().any(|k| k == stray));
    server.start_again();
    assert!(
        !store.keys(BUCKET, PREFIX).iter().any(|k| k == stray),
        "the orphan is still in the bucket"
    );
    assert_eq!(server.search(&[("ip", "10.0.1.44")]).len(), 1);
    assert!(server.stop().success(), "{}", server.stderr());

    // A segment altered in the bucket behind pramaan's back is named, though
    // a good copy of it is cached: verify reads the bucket itself.
    let seg = segs[1];
    assert!(cached(seg), "{seg} is not cached");
    let file = store.root.path().join(BUCKET).join(PREFIX).join(seg);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let o = cli(&server, &store, &["verify", "--quiet"]);
    assert!(!o.success(), "verify passed over an altered segment: {o:?}");
    let name = seg.rsplit('/').next().unwrap();
    assert!(
        o.stdout().contains(name) || o.stderr.contains(name),
        "verify does not name {name}: {o:?}"
    );
    // And one deleted from the bucket.
    let gone = segs[2];
    std::fs::remove_file(store.root.path().join(BUCKET).join(PREFIX).join(gone)).unwrap();
    let o = cli(&server, &store, &["verify"]);
    assert!(!o.success(), "verify passed without a segment: {o:?}");
    let name = gone.rsplit('/').next().unwrap();
    assert!(
        o.stdout().contains(name) || o.stderr.contains(name),
        "verify does not name the missing {name}: {o:?}"
    );
}

#[test]
fn a_store_that_cannot_be_used_stops_serve_at_start_with_its_cause() {
    let store = S3Store::start(BUCKET);
    // Nothing listens at the endpoint.
    let mut env = store.env(BUCKET, PREFIX);
    let closed = format!("http://127.0.0.1:{}", free_port());
    env[1].1 = closed.clone();
    let o = serve_fails(&env);
    assert!(
        o.stderr.contains(&format!(
            "s3://{BUCKET}/{PREFIX} at {closed} cannot be used"
        )),
        "{o:?}"
    );

    // The wrong secret: refused by the store, and the secret is not shown.
    let mut env = store.env(BUCKET, PREFIX);
    let wrong = unique("wrong-secret-");
    env[4].1 = wrong.clone();
    let o = serve_fails(&env);
    assert!(o.stderr.contains("cannot be used"), "{o:?}");
    assert!(o.stderr.contains("403"), "{o:?}");
    assert!(!o.stderr.contains(&wrong), "the secret was printed: {o:?}");
    assert!(!o.stderr.contains(&store.secret_key), "{o:?}");

    // A bucket that does not exist.
    let mut env = store.env("no-such-bucket", PREFIX);
    env.truncate(5);
    let o = serve_fails(&env);
    assert!(o.stderr.contains("s3://no-such-bucket/"), "{o:?}");
    assert!(o.stderr.contains("cannot be used"), "{o:?}");

    // No credentials at all.
    let env: Vec<(String, String)> = store.env(BUCKET, PREFIX).into_iter().take(3).collect();
    let o = serve_fails(&env);
    assert!(o.stderr.contains("no access key"), "{o:?}");
}

#[test]
fn the_store_going_away_mid_run_loses_nothing() {
    let mut store = S3Store::start(BUCKET);
    let mut server = start_on(&store, &[]);
    let tag = unique("away");
    assert_eq!(server.ingest_lines(&lines(&tag, 150)).accepted, 150);
    wait_sealed(&server, 1);

    // The store goes away: ingest still acknowledges (the WAL holds the
    // lines), sealing fails and says so, and a search that needs a sealed
    // segment says the store is not answering (503: ask again), not that
    // the evidence is damaged.
    store.stop();
    let more = lines(&format!("{tag}-b"), 300);
    assert_eq!(server.ingest_lines(&more).accepted, 300);
    wait_until(
        Duration::from_secs(60),
        "a failed seal to be counted",
        || (server.status()["seal_errors"].as_u64() > Some(0)).then_some(()),
    );
    let r = server.get("/api/v1/search", &[("q", &format!("{tag}-b-299"))]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text()
            .contains("object store holding the sealed segments is not answering"),
        "{}",
        r.text()
    );
    let st = server.status();
    assert_eq!(st["store"]["remote"], true);
    // The store's failed requests are counted, the latest in its words, and
    // the dashboard and the settings page say so.
    let requests = &st["store"]["requests"];
    assert!(requests["errors"]["put"].as_u64() > Some(0), "{st}");
    assert!(
        requests["requests"]["put"].as_u64() > requests["errors"]["put"].as_u64(),
        "{st}"
    );
    assert!(requests["last_error"]["error"].as_str().is_some(), "{st}");
    // The dashboard still answers: its charts cannot be read from the
    // bucket, and its logs card says why.
    let dash = server.get("/console", &[]);
    assert_eq!(dash.status, 200, "the dashboard fails with the store away");
    let dash = dash.text();
    let card: String = dash
        .split("data-obligation=\"Logs of all ICT")
        .nth(1)
        .unwrap_or(&dash)
        .chars()
        .take(1500)
        .collect();
    assert!(
        card.contains("sealing error(s) (evidence store: s3://")
            && card.contains("its latest failure, at "),
        "the logs card does not name the failure: {card}"
    );
    assert!(dash.contains("The coverage could not be read: "), "{dash}");
    let settings = server.get("/console/settings", &[]).text();
    assert!(settings.contains("Latest failure: "), "{settings}");
    assert!(settings.contains("Records not yet sealed"), "{settings}");

    // It comes back: sealing catches up by itself, every line once.
    store.start_again();
    wait_until(Duration::from_secs(120), "sealing to catch up", || {
        let st = server.status();
        (st["segments"].as_u64() >= Some(4)).then_some(())
    });
    assert_eq!(server.search(&[("q", &format!("{tag}-b-299"))]).len(), 1);
    let rows = server.sql(&format!(
        "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM logs WHERE text(raw) LIKE '%{tag}-%'"
    ));
    assert_eq!(rows[0]["n"], 450, "{rows:?}");
    assert_eq!(rows[0]["d"], 450, "{rows:?}");
    assert!(server.stop().success(), "{}", server.stderr());
    let o = cli(&server, &store, &["verify", "--quiet"]);
    assert!(o.success(), "verify after the store came back: {o:?}");
}

#[test]
fn a_bucket_and_a_postgres_catalog_together_with_compaction() {
    let store = S3Store::start(BUCKET);
    let pg = PgSchema::fresh("s3cat");
    let pg_env = [
        ("PRAMAAN_CATALOG_URL", PG_URL),
        ("PRAMAAN_CATALOG_SCHEMA", pg.0.as_str()),
    ];
    let mut server = start_on(&store, &pg_env);
    let tag = unique("both");
    assert_eq!(server.ingest_lines(&lines(&tag, 300)).accepted, 300);
    wait_sealed(&server, 3);
    let st = server.status();
    assert!(
        st["store"]["catalog"]
            .as_str()
            .unwrap()
            .starts_with("postgres://postgres@127.0.0.1:5432/test"),
        "{st}"
    );
    // The catalog rows name the objects in the bucket.
    let rows = pg_query(&format!(
        "SELECT path FROM {}.segments ORDER BY seq_min",
        pg.0
    ));
    let keys = store.keys(BUCKET, PREFIX);
    for r in &rows {
        let path: String = r.get(0);
        assert!(keys.contains(&path), "{path} not in the bucket: {keys:?}");
    }
    assert!(!server.data_dir().join("catalog.db").exists());
    assert!(server.stop().success(), "{}", server.stderr());

    // Compaction on the data directory rewrites each segment in the bucket
    // and points its row at the rewrite; the old objects go.
    let run_with = |args: &[&str]| {
        let mut c = pramaan(server.dir.path());
        c.arg("--data-dir").arg(server.data_dir()).args(args);
        for (k, v) in env_of(&store, &pg_env) {
            c.env(k, v);
        }
        run(c, None, Duration::from_secs(300))
    };
    let o = run_with(&["compact", "--all", "--quiet"]);
    assert!(o.success(), "compact: {o:?}");
    let after = store.keys(BUCKET, PREFIX);
    let segs: Vec<&String> = after
        .iter()
        .filter(|k| k.starts_with("segments/"))
        .collect();
    assert_eq!(segs.len(), rows.len(), "{after:?}");
    assert!(
        segs.iter().all(|k| k.ends_with(".z19.parquet")),
        "not every segment was rewritten: {after:?}"
    );
    let o = run_with(&["verify", "--quiet"]);
    assert!(o.success(), "verify after compaction: {o:?}");
    let o = run_with(&["search", "--ip", "10.0.0.250"]);
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains(&format!("{tag}-250")), "{o:?}");
}

#[test]
fn the_bucket_is_asked_where_it_is_and_a_place_it_is_not_is_red() {
    let store = S3Store::start(BUCKET);
    // s3s-fs answers GetBucketLocation with S3's empty constraint: us-east-1.
    let mut server = start_on(&store, &[("PRAMAAN_STORAGE_LOCATION", "ap-south-1")]);
    let st = server.status();
    let loc = &st["store"]["location"];
    assert_eq!(loc["verdict"], "mismatch", "{st}");
    assert_eq!(loc["reported_region"], "us-east-1", "{st}");
    assert_eq!(loc["declared"], "AWS Mumbai (ap-south-1)", "{st}");
    assert!(
        loc["detail"]
            .as_str()
            .unwrap()
            .contains("not ap-south-1 as storage.location declares"),
        "{st}"
    );
    assert!(
        server.stderr().contains("evidence store location"),
        "{}",
        server.stderr()
    );
    let dash = server.get("/console", &[]);
    assert_eq!(dash.status, 200, "{}", dash.text());
    let html = dash.text();
    assert!(
        html.contains("The evidence store is not where storage.location declares: the bucket reports region us-east-1"),
        "the logs card does not say so"
    );
    let settings = server.get("/console/settings", &[]).text();
    assert!(
        settings.contains("AWS Mumbai (ap-south-1) — the bucket reports us-east-1"),
        "{settings}"
    );
    assert!(
        settings.contains("sqlite:"),
        "the catalog is not shown: {settings}"
    );
    // The mismatch does not stop ingest: evidence is still kept.
    server.ingest_lines(&lines("loc", 3));
    assert!(server.stop().success(), "{}", server.stderr());
    // `pramaan status` on the data directory asks the bucket too, and warns.
    let mut c = pramaan(server.dir.path());
    c.arg("--data-dir").arg(server.data_dir()).arg("status");
    for (k, v) in env_of(&store, &[("PRAMAAN_STORAGE_LOCATION", "ap-south-1")]) {
        c.env(k, v);
    }
    let o = run(c, None, Duration::from_secs(120));
    assert!(o.success(), "{o:?}");
    assert!(
        o.stderr.contains(
            "WARNING: evidence store location: the bucket reports region us-east-1, not ap-south-1"
        ),
        "{o:?}"
    );

    // `pramaan doctor` fails the place, with what to do.
    let mut c = pramaan(server.dir.path());
    c.arg("doctor");
    for (k, v) in env_of(&store, &[("PRAMAAN_STORAGE_LOCATION", "ap-south-1")]) {
        c.env(k, v);
    }
    c.env("PRAMAAN_CLOCK_ENABLED", "false");
    let o = run(c, None, Duration::from_secs(120));
    assert!(
        !o.success(),
        "doctor passed a bucket outside the declared region: {o:?}"
    );
    assert!(
        o.stdout()
            .contains("FAIL location     the bucket reports region us-east-1, not ap-south-1"),
        "{o:?}"
    );
    assert!(
        o.stdout()
            .contains("keep the evidence in a bucket in India"),
        "{o:?}"
    );

    // A store on premises declared by its site: its answer is the region
    // configured (storage.region; empty is us-east-1), so the place holds.
    // (Each server below has a data directory, so a prefix, of its own.)
    let start_under = |prefix: &str, extra: &[(&str, &str)]| {
        let mut env = store.env(BUCKET, prefix);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start_with(&refs)
    };
    let server = start_under(
        "site-b",
        &[("PRAMAAN_STORAGE_LOCATION", "on-premises:Navi Mumbai DC-2")],
    );
    let st = server.status();
    let loc = &st["store"]["location"];
    assert_eq!(loc["verdict"], "matches", "{st}");
    assert_eq!(loc["declared"], "on premises: Navi Mumbai DC-2", "{st}");
    let html = server.get("/console", &[]).text();
    assert!(
        !html.contains("not where storage.location declares"),
        "a matching place is shown red"
    );
    // Configured for another region than the store reports: the mismatch is named.
    let server = start_under(
        "site-c",
        &[
            ("PRAMAAN_STORAGE_LOCATION", "on-premises:Navi Mumbai DC-2"),
            ("PRAMAAN_STORAGE_REGION", "in-west-dc2"),
        ],
    );
    let loc = &server.status()["store"]["location"];
    assert_eq!(loc["verdict"], "mismatch", "{loc}");
    assert!(
        loc["detail"]
            .as_str()
            .unwrap()
            .contains("not in-west-dc2 (storage.region)"),
        "{loc}"
    );
}
