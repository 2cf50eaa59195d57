//! One suite, run against both stores: SQLite in a temporary directory and
//! the real PostgreSQL on 127.0.0.1:5432 (a fresh schema per test).
//!
//! Each test is written once as an `async fn(Env)`; the `both!` macro makes
//! a `sqlite_*` and a `postgres_*` test of it.

use pramaan_core::{LedgerSink, MemorySink};
use pramaan_registry::crypto::MasterKey;
use pramaan_registry::import;
use pramaan_registry::store::{PgStore, SqliteStore, Store};
use pramaan_registry::{
    KeySource, Registry, RegistryError, Subscriber, SubscriberInput, WriteMode, WriteOutcome,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What a test gets: a registry over one backend, its sink, and a way to
/// look at every stored byte.
struct Env {
    reg: Registry,
    sink: Arc<MemorySink>,
    store: Arc<dyn Store>,
    key: KeySource,
    backend: Backend,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
enum Backend {
    Sqlite(PathBuf),
    Pg(PgStore),
}

impl Env {
    /// All stored bytes: every file under the data directory (SQLite, its
    /// WAL, the key) or every row of the PostgreSQL tables as text.
    async fn stored_bytes(&self) -> Vec<Vec<u8>> {
        match &self.backend {
            Backend::Sqlite(dir) => {
                let mut out = Vec::new();
                let mut stack = vec![dir.clone()];
                while let Some(d) = stack.pop() {
                    for e in std::fs::read_dir(&d).unwrap() {
                        let p = e.unwrap().path();
                        if p.is_dir() {
                            stack.push(p);
                        } else {
                            out.push(std::fs::read(&p).unwrap());
                        }
                    }
                }
                out
            }
            Backend::Pg(pg) => pg
                .rows_as_text()
                .await
                .unwrap()
                .into_iter()
                .map(String::into_bytes)
                .collect(),
        }
    }

    /// A second registry over the same store and key (a restart).
    async fn reopen(&self) -> Registry {
        Registry::with_store(self.store.clone(), self.key.clone(), 5, self.sink.clone())
            .await
            .unwrap()
    }
}

static SCHEMA_N: AtomicU64 = AtomicU64::new(0);

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("registry.db")).unwrap());
    let key = KeySource::File(dir.path().join("registry").join("master.key"));
    let sink = Arc::new(MemorySink::new());
    let reg = Registry::with_store(store.clone(), key.clone(), 5, sink.clone())
        .await
        .unwrap();
    Env {
        reg,
        sink,
        store,
        key,
        backend: Backend::Sqlite(dir.path().to_owned()),
        _dir: dir,
    }
}

async fn pg_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!(
        "reg_t{}_{}_{}",
        std::process::id(),
        SCHEMA_N.fetch_add(1, Ordering::Relaxed),
        pramaan_core::time::now_ns() % 1_000_000
    );
    let pg = PgStore::connect(PG_URL, &schema).await.expect(
        "PostgreSQL on 127.0.0.1:5432 (user postgres, trust, database test) must be running",
    );
    let store: Arc<dyn Store> = Arc::new(pg.clone());
    let key = KeySource::Key(MasterKey::generate());
    let sink = Arc::new(MemorySink::new());
    let reg = Registry::with_store(store.clone(), key.clone(), 5, sink.clone())
        .await
        .unwrap();
    Env {
        reg,
        sink,
        store,
        key,
        backend: Backend::Pg(pg),
        _dir: dir,
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite_env().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = super::pg_env().await;
                    let pg = match &env.backend { super::Backend::Pg(p) => p.clone(), _ => unreachable!() };
                    super::$name(env).await;
                    pg.drop_schema().await.unwrap();
                }
            )*
        }
    };
}

both!(
    create_is_idempotent,
    update_and_terminate,
    import_all_or_nothing,
    import_is_idempotent,
    every_read_is_audited_first,
    several_reads_are_one_audited_write_after_the_lead,
    erasure_leaves_no_plaintext,
    holds_block_erasure,
    key_rotation_rewraps_every_key,
    times_in_any_offset,
    completeness_lists_missing_fields,
    comparing_sent_data_with_the_stored_is_audited_first,
    a_change_the_ledger_refused_is_appended_once_later,
);

const NAME: &str = "Zoya Kulkarni-Unique";
const EMAIL: &str = "zoya.unique77@mail.example.in";
const PHONE: &str = "+917700112233";
const ADDRESS: &str = "77, Unique Lane, Kochi, Kerala 682001";
const OWNER: &str = "Tenzin Sherpa-Director";
const PAN: &str = "AAACT7701K";
const BANK: &str = "UTIB0007701:917010077011234";
const WALLET: &str = "tron:TJRabPrwbZy45sbavfcjinPJC18kjpRTv8";

fn input(id: &str) -> SubscriberInput {
    SubscriberInput {
        subscriber_id: Some(id.into()),
        name: Some(format!("{NAME} {id}")),
        kyc_method: Some("aadhaar-ekyc".into()),
        kyc_verified_at: Some("2020-01-02T10:00:00+05:30".into()),
        email: Some(EMAIL.replace("77", id)),
        registration_ip: Some("198.51.100.7".into()),
        registration_at: Some("2020-01-01T23:30:00-04:00".into()),
        purpose: Some("web hosting".into()),
        address: Some(ADDRESS.into()),
        phone: Some(pramaan_registry::model::TextOrList::Text(PHONE.into())),
        ownership: Some("company".into()),
        owners: Some(pramaan_registry::model::TextOrList::Text(OWNER.into())),
        hire_start: Some("2020-01-02".into()),
        hire_end: None,
        periods: None,
        pan: Some(PAN.into()),
        bank_accounts: Some(pramaan_registry::model::TextOrList::Text(BANK.into())),
        wallets: Some(pramaan_registry::model::TextOrList::Text(WALLET.into())),
    }
}

fn sub(id: &str) -> Subscriber {
    input(id).validate().unwrap()
}

fn ended(id: &str, end: &str) -> Subscriber {
    let mut i = input(id);
    i.hire_start = Some("2018-01-01".into());
    i.hire_end = Some(end.into());
    i.validate().unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn records(sink: &MemorySink, source: &str) -> Vec<serde_json::Value> {
    sink.records()
        .into_iter()
        .filter(|(s, _)| s == source)
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect()
}

async fn create_is_idempotent(env: Env) {
    let r = &env.reg;
    assert_eq!(
        r.write(sub("1"), WriteMode::Create, "billing")
            .await
            .unwrap(),
        WriteOutcome::Created
    );
    assert_eq!(
        r.write(sub("1"), WriteMode::Create, "billing")
            .await
            .unwrap(),
        WriteOutcome::Unchanged
    );
    assert_eq!(r.count().await.unwrap(), 1);
    let mut other = sub("1");
    other.personal.purpose = Some("game server".into());
    assert!(matches!(
        r.write(other, WriteMode::Create, "billing").await,
        Err(RegistryError::Conflict(_))
    ));
    // Only the creation went to the ledger.
    assert_eq!(records(&env.sink, "pramaan:registry").len(), 1);
    // Surviving a restart.
    let again = env.reopen().await;
    assert_eq!(
        again
            .write(sub("1"), WriteMode::Create, "billing")
            .await
            .unwrap(),
        WriteOutcome::Unchanged
    );
}

async fn update_and_terminate(env: Env) {
    let r = &env.reg;
    assert!(matches!(
        r.write(sub("2"), WriteMode::Update, "kyc").await,
        Err(RegistryError::NotFound(_))
    ));
    r.write(sub("2"), WriteMode::Create, "kyc").await.unwrap();
    let mut s = sub("2");
    s.personal.phones.push("+14155552671".into());
    assert_eq!(
        r.write(s.clone(), WriteMode::Update, "kyc").await.unwrap(),
        WriteOutcome::Updated {
            fields: vec!["phones".into()]
        }
    );
    s.personal
        .wallets
        .push("solana:9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM".into());
    assert_eq!(
        r.write(s.clone(), WriteMode::Update, "kyc").await.unwrap(),
        WriteOutcome::Updated {
            fields: vec!["wallets".into()]
        }
    );
    assert_eq!(
        r.write(s, WriteMode::Update, "kyc").await.unwrap(),
        WriteOutcome::Unchanged
    );
    let end = pramaan_registry::model::parse_instant("2024-05-01T12:00:00+05:30").unwrap();
    let (o, periods) = r.terminate("2", end, "kyc").await.unwrap();
    assert!(matches!(o, WriteOutcome::Updated { .. }));
    assert_eq!(periods[0].to_ns, Some(end));
    // A second terminate changes nothing and says so.
    let (o, periods2) = r.terminate("2", end + 5, "kyc").await.unwrap();
    assert_eq!(o, WriteOutcome::Unchanged);
    assert_eq!(periods2, periods);
    assert!(matches!(
        r.terminate("nope", end, "kyc").await,
        Err(RegistryError::NotFound(_))
    ));
    let got = r.read_subscriber("2", "test", "t").await.unwrap().unwrap();
    assert_eq!(got.personal.phones.len(), 2);
    assert!(!got.active());
    let last = records(&env.sink, "pramaan:registry").pop().unwrap();
    assert_eq!(last["action"], "registry.terminated");
    assert_eq!(last["retain_until"], "2029-05-01T06:30:00Z");
}

async fn import_all_or_nothing(env: Env) {
    let csv = "subscriber_id,name,email,phone,hire_start,hire_end\n\
               10,A B,a@b.example.in,+919876543210,2024-01-01,\n\
               11,C D,not-an-email,+919876543210,2024-01-01,\n\
               12,E F,e@f.example.in,12345,2024-01-01,2023-01-01\n";
    let p = import::parse(csv.as_bytes(), &mut |_| {});
    let located: Vec<(u64, String)> = p.errors.iter().map(|e| (e.line, e.field.clone())).collect();
    assert_eq!(
        located,
        [
            (3, "email".to_owned()),
            (4, "phone".to_owned()),
            (4, "hire_end".to_owned())
        ]
    );
    // The caller imports nothing when anything is invalid: here we check the
    // registry is untouched by a parse, then that --skip-invalid imports the rest.
    assert_eq!(env.reg.count().await.unwrap(), 0);
    let subs: Vec<Subscriber> = p.valid.into_iter().map(|(_, s)| s).collect();
    let dry = env
        .reg
        .import(subs.clone(), "t", true, &|_| {})
        .await
        .unwrap();
    assert_eq!((dry.created, dry.dry_run), (1, true));
    assert_eq!(env.reg.count().await.unwrap(), 0);
    let done = env.reg.import(subs, "t", false, &|_| {}).await.unwrap();
    assert_eq!(done.created, 1);
    assert_eq!(env.reg.count().await.unwrap(), 1);
}

async fn import_is_idempotent(env: Env) {
    let out = std::process::Command::new("python3")
        .args([
            "../../../shared/bench/attribution/gen_subscribers.py",
            "--subscribers",
            "300",
            "--seed",
            "7",
        ])
        .output();
    let data = match out {
        Ok(o) if o.status.success() => o.stdout,
        _ => {
            // The generator lives outside the repository; fall back to a copy of its output.
            include_bytes!("data/subscribers_sample.csv").to_vec()
        }
    };
    let p = import::parse(&data, &mut |_| {});
    assert!(
        p.errors.is_empty(),
        "{:?}",
        &p.errors[..p.errors.len().min(5)]
    );
    let subs: Vec<Subscriber> = p.valid.into_iter().map(|(_, s)| s).collect();
    let n = subs.len() as u64;
    let seen = AtomicU64::new(0);
    let a = env
        .reg
        .import(subs.clone(), "t", false, &|d| {
            seen.store(d, Ordering::Relaxed)
        })
        .await
        .unwrap();
    assert_eq!(a.created, n);
    assert_eq!(seen.load(Ordering::Relaxed), n);
    let b = env
        .reg
        .import(subs.clone(), "t", false, &|_| {})
        .await
        .unwrap();
    assert_eq!((b.created, b.updated, b.unchanged), (0, 0, n));
    assert_eq!(env.reg.count().await.unwrap(), n);
    let mut changed = subs;
    changed[0].personal.purpose = Some("changed purpose".into());
    let c = env.reg.import(changed, "t", false, &|_| {}).await.unwrap();
    assert_eq!((c.created, c.updated, c.unchanged), (0, 1, n - 1));
}

async fn every_read_is_audited_first(env: Env) {
    let r = &env.reg;
    r.write(sub("5"), WriteMode::Create, "t").await.unwrap();
    assert!(matches!(
        r.read_subscriber("5", "  ", "alice").await,
        Err(RegistryError::NoPurpose)
    ));
    assert!(records(&env.sink, "pramaan:audit").is_empty());
    let s = r
        .read_subscriber("5", "CERT-In order 2025/17", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.personal.name.as_deref(), Some(&*format!("{NAME} 5")));
    assert_eq!(s.personal.pan.as_deref(), Some(PAN));
    assert_eq!(s.personal.bank_accounts, [BANK]);
    assert_eq!(s.personal.wallets, [WALLET]);
    assert!(r
        .read_subscriber("6", "order 9", "bob")
        .await
        .unwrap()
        .is_none());
    let audit = records(&env.sink, "pramaan:audit");
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["actor"], "alice");
    assert_eq!(audit[0]["subject"], "5");
    assert_eq!(audit[0]["purpose"], "CERT-In order 2025/17");
    assert_eq!(audit[0]["found"], true);
    assert_eq!(audit[1]["found"], false);
    // No personal data in any ledger record.
    for (_, b) in env.sink.records() {
        assert!(!contains(&b, NAME.as_bytes()));
        assert!(!contains(&b, PHONE.as_bytes()));
        assert!(!contains(&b, PAN.as_bytes()));
    }
    // A sink that refuses: the data is not returned.
    struct Refuse;
    impl LedgerSink for Refuse {
        fn append(&self, _: &str, _: Vec<u8>) -> pramaan_core::SinkFuture<'_> {
            Box::pin(async { Err(pramaan_core::SinkError::Refused("read-only".into())) })
        }
        fn committed(&self) -> u64 {
            0
        }
        fn find(&self, _: &str, _: &[u8], _: u64) -> pramaan_core::FindFuture<'_> {
            Box::pin(async { Err(pramaan_core::SinkError::Search("read-only".into())) })
        }
    }
    let closed = Registry::with_store(env.store.clone(), env.key.clone(), 5, Arc::new(Refuse))
        .await
        .unwrap();
    assert!(matches!(
        closed.read_subscriber("5", "order", "x").await,
        Err(RegistryError::Ledger { .. })
    ));
}

async fn several_reads_are_one_audited_write_after_the_lead(env: Env) {
    let r = &env.reg;
    r.write(sub("7"), WriteMode::Create, "t").await.unwrap();
    r.write(sub("8"), WriteMode::Create, "t").await.unwrap();
    let before = env.sink.records().len();
    let lead = br#"{"action":"whois","subject":"203.0.113.9"}"#.to_vec();
    let reads = r
        .read_subscribers(
            &["8", "nobody", "7", "8"],
            " order 12 ",
            "carol",
            vec![lead],
        )
        .await
        .unwrap();
    // One record for the lead, then one per distinct id, in the order asked.
    assert_eq!(reads.first_seq, Some(before as u64));
    assert_eq!(reads.ids, ["8", "nobody", "7"]);
    let names: Vec<Option<String>> = reads
        .subscribers
        .iter()
        .map(|s| s.as_ref().and_then(|s| s.personal.name.clone()))
        .collect();
    assert_eq!(
        names,
        [Some(format!("{NAME} 8")), None, Some(format!("{NAME} 7"))]
    );
    let audit = records(&env.sink, "pramaan:audit");
    let audit = &audit[audit.len() - 4..];
    assert_eq!(audit[0]["action"], "whois");
    let subjects: Vec<&str> = audit[1..]
        .iter()
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["8", "nobody", "7"]);
    for a in &audit[1..] {
        assert_eq!(a["action"], "registry.read");
        assert_eq!(a["purpose"], "order 12");
        assert_eq!(a["actor"], "carol");
    }
    assert_eq!(audit[2]["found"], false);
    // No purpose: nothing appended, nothing read.
    let n = env.sink.records().len();
    assert!(matches!(
        r.read_subscribers(&["7"], "", "carol", Vec::new()).await,
        Err(RegistryError::NoPurpose)
    ));
    assert_eq!(env.sink.records().len(), n);
    // Nothing asked: nothing written.
    let none = r
        .read_subscribers(&[], "order 12", "carol", Vec::new())
        .await
        .unwrap();
    assert_eq!(none.first_seq, None);
    assert!(none.subscribers.is_empty());
    assert_eq!(env.sink.records().len(), n);
}

async fn erasure_leaves_no_plaintext(env: Env) {
    let r = &env.reg;
    r.write(ended("old", "2019-12-31"), WriteMode::Create, "t")
        .await
        .unwrap();
    r.write(sub("live"), WriteMode::Create, "t").await.unwrap();
    r.write(ended("recent", "2024-06-30"), WriteMode::Create, "t")
        .await
        .unwrap();
    let wrapped_old = env.store.get("old").await.unwrap().unwrap();
    // Nothing personal is ever stored in plain text.
    let needles: Vec<Vec<u8>> = vec![
        format!("{NAME} old").into_bytes(),
        EMAIL.replace("77", "old").into_bytes(),
        PHONE.as_bytes().to_vec(),
        ADDRESS.as_bytes().to_vec(),
        OWNER.as_bytes().to_vec(),
        PAN.as_bytes().to_vec(),
        BANK.as_bytes().to_vec(),
        WALLET.split_once(':').unwrap().1.as_bytes().to_vec(),
    ];
    for blob in env.stored_bytes().await {
        for n in &needles {
            assert!(
                !contains(&blob, n),
                "plaintext {:?} stored",
                String::from_utf8_lossy(n)
            );
        }
    }
    let now = pramaan_registry::model::parse_instant("2026-01-01T00:00:00Z").unwrap();
    let dry = r.erase_expired(now, true, "t").await.unwrap();
    assert_eq!(dry.erased.len(), 1);
    assert_eq!(r.count().await.unwrap(), 3);
    let run = r.erase_expired(now, false, "scheduler").await.unwrap();
    assert_eq!(run.erased.len(), 1);
    assert_eq!(run.erased[0].subscriber_id, "old");
    assert_eq!(
        pramaan_core::time::rfc3339_utc(run.erased[0].retain_until_ns),
        "2025-01-01T00:00:00Z"
    );
    assert!(run.erased[0].ledger_seq.is_some());
    assert_eq!(r.count().await.unwrap(), 2);
    assert!(r
        .read_subscriber("old", "check", "t")
        .await
        .unwrap()
        .is_none());
    // The erasure report is kept and in the ledger.
    let reports = r.erasure_reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].ledger_seq, run.erased[0].ledger_seq);
    let rec = records(&env.sink, "pramaan:registry")
        .into_iter()
        .find(|v| v["action"] == "registry.erased")
        .unwrap();
    assert_eq!(rec["subject"], "old");
    // Neither the wrapped data key nor the ciphertext is left anywhere.
    for blob in env.stored_bytes().await {
        assert!(
            !contains(&blob, &wrapped_old.wrapped_key[..24]),
            "wrapped key survived"
        );
        assert!(
            !contains(&blob, &wrapped_old.sealed[..24]),
            "ciphertext survived"
        );
        for n in &needles[..1] {
            assert!(!contains(&blob, n));
        }
    }
    // A second run erases nothing more.
    assert!(r
        .erase_expired(now, false, "t")
        .await
        .unwrap()
        .erased
        .is_empty());
}

async fn holds_block_erasure(env: Env) {
    let r = &env.reg;
    r.write(ended("h1", "2019-01-31"), WriteMode::Create, "t")
        .await
        .unwrap();
    assert!(matches!(
        r.add_hold("h1", "", "order", "t").await,
        Err(RegistryError::Invalid(_))
    ));
    let h = r
        .add_hold("h1", "investigation", "Court order 12/2025", "officer")
        .await
        .unwrap();
    let now = pramaan_registry::model::parse_instant("2026-01-01T00:00:00+05:30").unwrap();
    let run = r.erase_expired(now, false, "t").await.unwrap();
    assert!(run.erased.is_empty());
    assert_eq!(run.held, vec![("h1".to_owned(), vec![h.id])]);
    assert_eq!(r.count().await.unwrap(), 1);
    r.release_hold(h.id, "officer", "case closed")
        .await
        .unwrap();
    assert!(matches!(
        r.release_hold(h.id, "officer", "again").await,
        Err(RegistryError::Store(
            pramaan_registry::StoreError::AlreadyReleased(_)
        ))
    ));
    let run = r.erase_expired(now, false, "t").await.unwrap();
    assert_eq!(run.erased.len(), 1);
    assert_eq!(r.holds().await.unwrap().len(), 1);
}

async fn key_rotation_rewraps_every_key(env: Env) {
    let r = &env.reg;
    for i in 0..20 {
        r.write(sub(&format!("k{i}")), WriteMode::Create, "t")
            .await
            .unwrap();
    }
    let old = r.master_key_id();
    let rep = r.rotate_key(None, "admin").await.unwrap();
    assert_eq!(rep.old_key_id, old);
    assert_eq!(rep.rewrapped, 20);
    assert_ne!(r.master_key_id(), old);
    for (_, kid, _) in env.store.wrapped_keys().await.unwrap() {
        assert_eq!(kid, rep.new_key_id);
    }
    let s = r
        .read_subscriber("k3", "after rotation", "t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.personal.email.as_deref(),
        Some(&*EMAIL.replace("77", "k3"))
    );
    // With the key file, a restart reads the new key.
    if let KeySource::File(_) = env.key {
        let again = env.reopen().await;
        assert_eq!(again.master_key_id(), rep.new_key_id);
        assert!(again
            .read_subscriber("k7", "p", "t")
            .await
            .unwrap()
            .is_some());
    }
}

async fn times_in_any_offset(env: Env) {
    // The same instants in IST, UTC and -04:00 give the same subscriber.
    let mut a = input("t1");
    a.registration_at = Some("2020-01-02T09:00:00+05:30".into());
    a.periods = Some(vec![pramaan_registry::model::PeriodInput {
        from: "2021-01-01T00:00:00+05:30".into(),
        to: Some("2021-06-30T18:30:00Z".into()),
    }]);
    a.hire_start = None;
    let mut b = a.clone();
    b.registration_at = Some("2020-01-02T03:30:00Z".into());
    b.periods = Some(vec![pramaan_registry::model::PeriodInput {
        from: "2020-12-31T14:30:00-04:00".into(),
        to: Some("2021-07-01T00:00:00+05:30".into()),
    }]);
    env.reg
        .write(a.validate().unwrap(), WriteMode::Create, "t")
        .await
        .unwrap();
    assert_eq!(
        env.reg
            .write(b.validate().unwrap(), WriteMode::Create, "t")
            .await
            .unwrap(),
        WriteOutcome::Unchanged
    );
    let s = env
        .reg
        .read_subscriber("t1", "p", "t")
        .await
        .unwrap()
        .unwrap();
    let j = s.to_json();
    assert_eq!(j["registration_at"]["ist"], "2020-01-02T09:00:00+05:30");
    assert_eq!(j["registration_at"]["utc"], "2020-01-02T03:30:00Z");
    assert_eq!(j["periods"][0]["to"]["utc"], "2021-06-30T18:30:00Z");
    // Zone-less times are refused, not guessed.
    let mut c = input("t2");
    c.registration_at = Some("2020-01-02T09:00:00".into());
    assert_eq!(c.validate().unwrap_err()[0].field, "registration_at");
}

async fn completeness_lists_missing_fields(env: Env) {
    env.reg
        .write(sub("c1"), WriteMode::Create, "t")
        .await
        .unwrap();
    let mut i = input("c2");
    i.email = None;
    i.owners = None;
    env.reg
        .write(i.validate().unwrap(), WriteMode::Create, "t")
        .await
        .unwrap();
    let list = env.reg.completeness().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].subscriber_id, "c2");
    assert_eq!(list[0].missing, ["email", "owners"]);
    // Completeness reads no personal data: no audit record.
    assert!(records(&env.sink, "pramaan:audit").is_empty());
}

/// "unchanged" and "exists with other data" confirm a guess of someone's
/// personal data: each such answer is audited first, like a read. And a
/// purpose of only invisible characters is no purpose.
async fn comparing_sent_data_with_the_stored_is_audited_first(env: Env) {
    let r = &env.reg;
    r.write(sub("1"), WriteMode::Create, "billing")
        .await
        .unwrap();
    assert!(
        records(&env.sink, "pramaan:audit").is_empty(),
        "a creation compares nothing"
    );
    assert_eq!(
        r.write(sub("1"), WriteMode::Create, "guesser")
            .await
            .unwrap(),
        WriteOutcome::Unchanged
    );
    let a = records(&env.sink, "pramaan:audit");
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["action"], "registry.compared");
    assert_eq!(a[0]["actor"], "guesser");
    assert_eq!(a[0]["subject"], "1");
    assert_eq!(a[0]["same"], 1);
    let mut guess = sub("1");
    guess.personal.purpose = Some("game server".into());
    assert!(matches!(
        r.write(guess, WriteMode::Create, "guesser").await,
        Err(RegistryError::Conflict(_))
    ));
    let a = records(&env.sink, "pramaan:audit");
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[1]["different"], 1);
    // A dry run's counts say the same of every subscriber it found.
    let sum = r
        .import(vec![sub("1"), sub("2")], "guesser", true, &|_| {})
        .await
        .unwrap();
    assert_eq!((sum.unchanged, sum.created), (1, 1));
    let a = records(&env.sink, "pramaan:audit");
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a[2]["action"], "registry.compared");
    assert_eq!(a[2]["dry_run"], true);
    assert_eq!(a[2]["subjects"], serde_json::json!(["1"]));
    // Zero-width and other invisible purposes are refused, and nothing is read.
    for p in ["\u{200B}", " \u{200C}\u{2060}\u{FEFF} ", "\u{3164}"] {
        assert!(
            matches!(
                r.read_subscriber("1", p, "guesser").await,
                Err(RegistryError::NoPurpose)
            ),
            "{p:?}"
        );
    }
    assert_eq!(records(&env.sink, "pramaan:audit").len(), 3);
}

/// A sink that refuses appends while `open` is false (the vault closed).
struct Gate {
    inner: Arc<MemorySink>,
    open: std::sync::atomic::AtomicBool,
}

impl LedgerSink for Gate {
    fn append(&self, source: &str, body: Vec<u8>) -> pramaan_core::SinkFuture<'_> {
        if !self.open.load(Ordering::Relaxed) {
            return Box::pin(async { Err(pramaan_core::SinkError::Refused("closed".into())) });
        }
        self.inner.append(source, body)
    }
    fn committed(&self) -> u64 {
        self.inner.committed()
    }
    fn find(&self, source: &str, body: &[u8], from: u64) -> pramaan_core::FindFuture<'_> {
        self.inner.find(source, body, from)
    }
}

/// The change and its record are one transaction: when the ledger refuses,
/// the change is kept with its record pending (counted), and the record is
/// appended once when the ledger takes it again (a reopen flushes too, and
/// appends nothing twice).
async fn a_change_the_ledger_refused_is_appended_once_later(env: Env) {
    let gate = Arc::new(Gate {
        inner: env.sink.clone(),
        open: std::sync::atomic::AtomicBool::new(false),
    });
    let reg = Registry::with_store(env.store.clone(), env.key.clone(), 5, gate.clone())
        .await
        .unwrap();
    reg.write(sub("41"), WriteMode::Create, "t").await.unwrap();
    reg.add_hold("41", "court", "W.P. 4/2026", "t")
        .await
        .unwrap();
    assert!(records(&env.sink, "pramaan:registry").is_empty());
    assert_eq!(reg.pending().await, 2);
    assert_eq!(reg.count().await.unwrap(), 1, "the change is kept");
    gate.open.store(true, Ordering::Relaxed);
    assert_eq!(reg.flush().await, 0);
    let recs = records(&env.sink, "pramaan:registry");
    let actions: Vec<&str> = recs.iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(actions, vec!["registry.created", "registry.hold_added"]);
    let again = env.reopen().await;
    assert_eq!(again.pending().await, 0);
    assert_eq!(records(&env.sink, "pramaan:registry").len(), 2);
}
