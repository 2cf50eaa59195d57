//! The order operations check the access table and the four-eyes rule
//! themselves, whoever calls them (the API's guard checks the same rows
//! before; the CLI on the data directory has no guard).

use pramaan_app::local::Local;
use pramaan_app::orders::{ApproveOrder, ExportOrder, ListOrders, RegisterOrder, ShowOrder, Step};
use pramaan_app::{AppError, Caller, Operation};
use pramaan_auth::{Method, Role, RoleSet};

fn caller(name: &str, roles: &[Role]) -> Caller {
    Caller {
        name: name.into(),
        roles: RoleSet::of(roles),
        method: Method::Token,
        csrf: None,
        must_change_password: false,
    }
}

fn order(reference: &str) -> RegisterOrder {
    RegisterOrder {
        reference: reference.into(),
        authority: "CERT-In".into(),
        received: None,
        due: "2030-01-01T17:00:00+05:30".into(),
        from: "2000-01-01T00:00:00Z".into(),
        to: "2001-01-01T00:00:00Z".into(),
        sources: vec![],
        hosts: vec![],
        ips: vec!["192.0.2.1".into()],
        subscribers: vec!["S-1".into()],
        texts: vec![],
        wallets: vec![],
        transactions: vec![],
        legal_basis: "IT Act s.70B(6)".into(),
        notes: String::new(),
        hold: false,
    }
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, AppError>) -> String {
    match r {
        Err(AppError::Forbidden(m)) => m,
        other => panic!("expected a refusal for the role, got {other:?}"),
    }
}

#[tokio::test]
async fn each_operation_refuses_a_caller_without_the_role_and_keeps_four_eyes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = pramaan_config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let local = Local::open(&cfg).await.unwrap();
    let app = local.app();
    let alice = caller("alice", &[Role::Analyst]);
    let alice_approver = caller("alice", &[Role::Approver]);
    let ravi = caller("ravi", &[Role::Approver]);
    let audrey = caller("audrey", &[Role::Auditor]);
    let rita = caller("rita", &[Role::RegistryOfficer]);

    // An auditor reads but does not register; a registry officer does neither.
    let m = forbidden(order("R-1").run(app, &audrey).await);
    assert!(
        m.contains("POST /api/v1/orders needs one of the roles: analyst, poc, admin"),
        "{m}"
    );
    forbidden(ListOrders {}.run(app, &rita).await);
    assert!(ListOrders {}.run(app, &audrey).await.unwrap().is_empty());

    // The actor is the caller.
    let v = order("R-1").run(app, &alice).await.unwrap();
    assert_eq!(v.order.registered_by, "alice");
    assert_eq!(v.due_at, "2030-01-01T11:30:00Z");

    // Only an approver approves, and not the user who registered the order.
    let approve = || ApproveOrder(Step::new("R-1", ""));
    let m = forbidden(approve().run(app, &alice).await);
    assert!(m.contains("needs one of the roles: approver, admin"), "{m}");
    match approve().run(app, &alice_approver).await {
        Err(AppError::Invalid(m)) => {
            assert!(
                m.contains("alice registered order R-1 and cannot approve it"),
                "{m}"
            )
        }
        other => panic!("four eyes: {other:?}"),
    }
    // An auditor may not export; before approval nobody may (it names a subscriber).
    forbidden(
        ExportOrder {
            reference: "R-1".into(),
        }
        .run(app, &audrey)
        .await
        .map(|_| ()),
    );
    match (ExportOrder {
        reference: "R-1".into(),
    })
    .run(app, &alice)
    .await
    {
        Err(AppError::Invalid(m)) => assert!(m.contains("approval"), "{m}"),
        other => panic!("export before approval: {:?}", other.map(|b| b.len)),
    }
    let v = approve().run(app, &ravi).await.unwrap();
    assert_eq!(v.order.approved_by.as_deref(), Some("ravi"));

    // Nothing the refusals tried was recorded.
    let d = ShowOrder {
        reference: "R-1".into(),
    }
    .run(app, &audrey)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = d
        .events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(actions, [("register", "alice"), ("approve", "ravi")]);
    match (ShowOrder {
        reference: "nope".into(),
    })
    .run(app, &audrey)
    .await
    {
        Err(AppError::Missing(m)) => assert!(m.contains("nope"), "{m}"),
        other => panic!("{other:?}"),
    }
    local.close().await;
}
