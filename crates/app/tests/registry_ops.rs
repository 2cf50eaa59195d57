//! The register's and whois's operations on a real data directory, in
//! process: the operation itself refuses a caller without the role (before
//! anything is read or recorded), and a read without a purpose; the local
//! operator's writes and reads are recorded under its name.

use pramaan_app::local::Local;
use pramaan_app::registry::{
    AddHold, CheckCompleteness, CreateSubscriber, ImportSubscribers, ReadSubscriber,
};
use pramaan_app::whois::Whois;
use pramaan_app::{AppError, Caller, Operation};
use pramaan_auth::{Method, Role, RoleSet};
use pramaan_registry::SubscriberInput;

fn config(dir: &std::path::Path) -> pramaan_config::Config {
    pramaan_config::Config {
        data_dir: dir.join("data"),
        ..Default::default()
    }
}

fn caller(name: &str, roles: &[Role]) -> Caller {
    Caller {
        name: name.into(),
        roles: RoleSet::of(roles),
        method: Method::Token,
        csrf: None,
        must_change_password: false,
    }
}

fn subscriber(id: &str) -> SubscriberInput {
    SubscriberInput {
        subscriber_id: Some(id.into()),
        name: Some("Mehta Labs Private Limited".into()),
        kyc_method: Some("gst-mca".into()),
        kyc_verified_at: Some("2024-01-01T00:00:00Z".into()),
        email: Some("it@mehta.example.in".into()),
        registration_ip: Some("198.51.100.2".into()),
        registration_at: Some("2024-01-01T00:00:00Z".into()),
        purpose: Some("web hosting".into()),
        address: Some("1, MG Road, Mumbai, Maharashtra 400001".into()),
        phone: Some(pramaan_registry::model::TextOrList::Text(
            "+912212345678".into(),
        )),
        ownership: Some("company".into()),
        owners: Some(pramaan_registry::model::TextOrList::Text(
            "Kavya Joshi".into(),
        )),
        hire_start: Some("2024-01-02".into()),
        ..Default::default()
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, AppError>, what: &str) {
    match r {
        Err(AppError::Forbidden(m)) => assert!(m.contains("registry-officer"), "{what}: {m}"),
        other => panic!("{what}: {other:?}, not Forbidden"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operations_refuse_callers_without_the_role_and_reads_without_a_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let local = Local::open(&config(dir.path())).await.unwrap();
    let app = local.app().clone();

    let created = local
        .run(CreateSubscriber {
            input: subscriber("S-1"),
        })
        .await
        .unwrap();
    assert_eq!(created.subscriber_id, "S-1");
    assert_eq!(
        serde_json::to_value(&created).unwrap()["result"],
        "created",
        "{created:?}"
    );

    // Roles that are not the registry officer's: refused by each operation,
    // even with everything else right.
    for who in [
        caller("token:analyst", &[Role::Analyst]),
        caller("token:auditor", &[Role::Auditor]),
        caller("token:poc", &[Role::Poc]),
    ] {
        let read = ReadSubscriber {
            id: "S-1".into(),
            purpose: "case 1".into(),
        };
        forbidden(read.run(&app, &who).await, &who.name);
        forbidden(
            CheckCompleteness {}.run(&app, &who).await,
            &format!("{} completeness", who.name),
        );
        let hold = AddHold {
            subscriber_id: "S-1".into(),
            reason: "r".into(),
            order_ref: "o".into(),
        };
        forbidden(hold.run(&app, &who).await, &format!("{} hold", who.name));
        let import = ImportSubscribers {
            dry_run: false,
            subscribers: vec![subscriber("S-2")],
        };
        forbidden(
            import.run(&app, &who).await,
            &format!("{} import", who.name),
        );
        let whois = Whois {
            ip: "203.0.113.1".into(),
            port: None,
            at: "2025-01-01T00:00:00Z".into(),
            purpose: "case 1".into(),
        };
        forbidden(whois.run(&app, &who).await, &format!("{} whois", who.name));
    }
    // Nothing the refused callers sent was stored.
    let c = local.run(CheckCompleteness {}).await.unwrap();
    assert_eq!(c.subscribers, 1, "the refused import stored nothing");

    // The registry officer reads, with a purpose only.
    let officer = caller("token:officer", &[Role::RegistryOfficer]);
    let read = ReadSubscriber {
        id: "S-1".into(),
        purpose: " \u{200b} ".into(),
    };
    match read.run(&app, &officer).await {
        Err(AppError::Invalid(m)) => assert!(m.contains("purpose"), "{m}"),
        other => panic!("a read without a purpose: {other:?}"),
    }
    let read = ReadSubscriber {
        id: "S-1".into(),
        purpose: "case 1".into(),
    };
    let v = read.run(&app, &officer).await.unwrap();
    assert_eq!(v["name"], "Mehta Labs Private Limited", "{v}");
    let read = ReadSubscriber {
        id: "S-404".into(),
        purpose: "case 1".into(),
    };
    match read.run(&app, &officer).await {
        Err(AppError::Missing(m)) => assert!(m.contains("no subscriber S-404"), "{m}"),
        other => panic!("an unknown subscriber: {other:?}"),
    }
    // Every handle on the vault goes before it closes (its writer waits for them).
    drop(app);
    local.close().await;
}

/// The register's erasure takes the IP bindings with it: the bindings of a
/// subscriber erased 5 years after the service ended, and those of nobody
/// the register holds 5 years after they ended, answer "no record kept";
/// an active subscriber's stay, however old.
#[tokio::test(flavor = "multi_thread")]
async fn erasing_a_subscriber_erases_their_bindings_and_whois_says_so() {
    use pramaan_app::registry::EraseExpired;
    use pramaan_attribution::{Binding, Kind, Net};
    let dir = tempfile::tempdir().unwrap();
    let local = Local::open(&config(dir.path())).await.unwrap();
    let old = SubscriberInput {
        hire_start: Some("2015-01-01".into()),
        hire_end: Some("2019-01-01".into()),
        ..subscriber("S-OLD")
    };
    for input in [old, subscriber("S-1")] {
        local.run(CreateSubscriber { input }).await.unwrap();
    }
    let ns = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_nanosecond() as i64;
    let binding = |ip: &str, who: &str| Binding {
        net: Net::parse(ip).unwrap(),
        port_lo: 0,
        port_hi: u16::MAX,
        start_ns: ns("2018-06-01T00:00:00Z"),
        end_ns: ns("2018-06-02T00:00:00Z"),
        open: false,
        subscriber: who.into(),
        session: format!("s-{who}"),
        kind: Kind::Radius,
        detail: String::new(),
        evidence: vec![],
        key: None,
    };
    let store = local.app().attribution().store().await.unwrap();
    store
        .apply(
            vec![
                binding("100.64.9.1", "S-OLD"),
                binding("100.64.9.2", "S-1"),
                binding("100.64.9.3", "not-in-the-register"),
            ],
            None,
        )
        .await
        .unwrap();

    let run = local.run(EraseExpired { dry_run: false }).await.unwrap();
    assert_eq!(run.erased.len(), 1, "{run:?}");
    assert_eq!(run.erased[0].subscriber_id, "S-OLD");
    assert_eq!(run.bindings_erased, Some(2), "{run:?}");
    let again = local.run(EraseExpired { dry_run: false }).await.unwrap();
    assert_eq!(again.bindings_erased, Some(0), "nothing more");

    let ask = |ip: &str| Whois {
        ip: ip.into(),
        port: None,
        at: "2018-06-01T12:00:00Z".into(),
        purpose: "CERT-In order 7/2026".into(),
    };
    for ip in ["100.64.9.1", "100.64.9.3"] {
        let a = local.run(ask(ip)).await.unwrap();
        assert_eq!(
            a.outcome,
            pramaan_attribution::Outcome::Erased,
            "{ip}: {a:?}"
        );
        assert!(
            a.note.as_deref().unwrap().contains("under the 5-year rule"),
            "{a:?}"
        );
    }
    let kept = local.run(ask("100.64.9.2")).await.unwrap();
    assert_eq!(
        kept.matches[0].subscriber, "S-1",
        "an active subscriber's bindings stay"
    );
}
