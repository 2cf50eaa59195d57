//! The desk's operations on a real data directory (`Local`): who may call
//! them is decided by the operation itself (the access table), changes are
//! recorded under the caller and reach the ledger, and mistakes come back
//! as the errors a caller sees.

use pramaan_app::desk::{
    CloseIncident, ListIncidents, OpenIncident, SetPoc, ShowIncident, ShowPoc,
};
use pramaan_app::local::Local;
use pramaan_app::{AppError, Caller, Operation};
use pramaan_auth::{Method, Role, RoleSet};
use pramaan_config::Config;
use pramaan_desk::PocEdit;

fn caller(name: &str, roles: &[Role]) -> Caller {
    Caller {
        name: name.into(),
        roles: RoleSet::of(roles),
        method: Method::Token,
        csrf: None,
        must_change_password: false,
    }
}

fn incident() -> OpenIncident {
    OpenIncident {
        title: "SSH brute force".into(),
        kinds: vec!["unauthorised-access".into()],
        detected_at: Some("2h".into()),
        ..OpenIncident::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_authorise_record_the_caller_and_reach_the_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = Config {
        data_dir: tmp.path().join("data"),
        ..Config::default()
    };
    let local = Local::open(&cfg).await.unwrap();
    let app = local.app().clone();

    // Without the point of contact's role: refused by the operation, nothing recorded.
    let analyst = caller("ravi", &[Role::Analyst]);
    let e = incident().run(&app, &analyst).await.unwrap_err();
    assert!(
        matches!(&e, AppError::Forbidden(m) if m.contains("poc")),
        "{e:?}"
    );
    let e = ListIncidents {}.run(&app, &analyst).await.unwrap_err();
    assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
    assert!(local.run(ListIncidents {}).await.unwrap().is_empty());

    // The point of contact opens one: recorded under its name.
    let poc = caller("asha", &[Role::Poc]);
    let v = incident().run(&app, &poc).await.unwrap();
    assert_eq!(v.incident.created_by, "asha");
    let id = v.incident.id;

    // An auditor reads, but does not close.
    let auditor = caller("meera", &[Role::Auditor]);
    let shown = ShowIncident { id }.run(&app, &auditor).await.unwrap();
    assert_eq!(shown.incident.incident.id, id);
    assert!(
        shown
            .poc_warning
            .as_deref()
            .unwrap_or("")
            .contains("no point of contact"),
        "{shown:?}"
    );
    let e = CloseIncident {
        id,
        reason: "done".into(),
    }
    .run(&app, &auditor)
    .await
    .unwrap_err();
    assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");
    let e = ShowPoc {}.run(&app, &auditor).await.unwrap_err();
    assert!(matches!(e, AppError::Forbidden(_)), "{e:?}");

    // Mistakes, as a caller sees them.
    let e = local.run(ShowIncident { id: id + 100 }).await.unwrap_err();
    assert!(matches!(e, AppError::Missing(_)), "{e:?}");
    let e = local
        .run(OpenIncident {
            kinds: vec!["ransom".into()],
            ..incident()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AppError::Invalid(m) if m.contains("unknown incident kind `ransom`")),
        "{e:?}"
    );
    let e = local
        .run(OpenIncident {
            detected_at: None,
            ..incident()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AppError::Invalid(m) if m.starts_with("detected_at")),
        "{e:?}"
    );
    let e = local.run(ShowPoc {}).await.unwrap_err();
    assert!(matches!(e, AppError::Missing(_)), "{e:?}");

    // The local operator acts as `<user> (local)`.
    let set = local
        .run(SetPoc(PocEdit {
            name: Some("Asha Rao".into()),
            email: Some("asha@example.in".into()),
            ..PocEdit::default()
        }))
        .await
        .unwrap();
    assert!(set.record.set_by.ends_with(" (local)"), "{set:?}");
    let closed = local
        .run(CloseIncident {
            id,
            reason: "blocked".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        closed.incident.closed_by.as_deref(),
        Some(local.caller().name.as_str())
    );
    // The vault closes once no handle is left: ours goes first.
    drop(app);
    local.close().await;

    // Opened again: every change has its ledger sequence number.
    let local = Local::open(&cfg).await.unwrap();
    let shown = local.run(ShowIncident { id }).await.unwrap();
    let actions: Vec<_> = shown.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["incident.created", "incident.closed"],
        "{shown:?}"
    );
    assert!(
        shown.history.iter().all(|e| e.ledger_seq.is_some()),
        "{:?}",
        shown.history
    );
    local.close().await;
}
