//! Users, tokens and the audit trail as operations on a real data
//! directory, in process: an admin adds a user (the one-time password is
//! in the answer only), the access table refuses everyone else, disabling
//! stops logins in the very store the server's guard uses, every change is
//! on the audit trail, and a read of the trail is itself recorded before it
//! answers (and refused when that record cannot be written).

use pramaan_app::audit_trail::SearchAudit;
use pramaan_app::local::Local;
use pramaan_app::tokens::{CreateToken, ListTokens, RevokeToken};
use pramaan_app::users::{AddUser, DisableUser, EnableUser, ListUsers, ResetPassword, SetRoles};
use pramaan_app::{App, AppError, Caller, Operation};
use pramaan_auth::{Method, Role, RoleSet};
use std::net::{IpAddr, Ipv4Addr};

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

fn forbidden<T: std::fmt::Debug>(r: Result<T, AppError>, what: &str) {
    match r {
        Err(AppError::Forbidden(m)) => assert!(m.contains("admin"), "{what}: {m}"),
        other => panic!("{what}: {other:?}, not Forbidden"),
    }
}

const FROM: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn login(app: &App, user: &str, password: &str) -> bool {
    let now = pramaan_core::time::now_ns();
    app.users().auth().login(user, password, FROM, now).is_ok()
}

async fn trail(app: &App, who: &Caller, action: &str) -> Vec<serde_json::Value> {
    let op = SearchAudit {
        action: Some(action.into()),
        ..Default::default()
    };
    op.run(app, who).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_manages_users_and_tokens_and_the_trail_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let local = Local::open(&cfg).await.unwrap();
    let app = local.app().clone();
    let operator = local.caller().name.clone();
    assert!(operator.ends_with(" (local)"), "{operator}");

    // The admin adds a user: a one-time password in the answer, listed.
    let added = local
        .run(AddUser {
            name: "ravi".into(),
            roles: "analyst".into(),
            password: None,
        })
        .await
        .unwrap();
    let otp = added["one_time_password"]
        .as_str()
        .expect("a one-time password")
        .to_owned();
    assert_eq!(added["must_change_password"], true, "{added}");
    assert_eq!(added["roles"], serde_json::json!(["analyst"]), "{added}");
    let users = local.run(ListUsers {}).await.unwrap();
    assert!(users.iter().any(|u| u["name"] == "ravi"), "{users:?}");
    assert!(!serde_json::to_string(&users).unwrap().contains(&otp));
    // The same store the server's guard logs people in with.
    assert!(login(&app, "ravi", &otp));
    let again = local
        .run(AddUser {
            name: "ravi".into(),
            roles: "analyst".into(),
            password: None,
        })
        .await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    let weak = local
        .run(AddUser {
            name: "asha".into(),
            roles: "auditor".into(),
            password: Some("short".into()),
        })
        .await;
    assert!(
        matches!(&weak, Err(AppError::Invalid(m)) if m.contains("too short")),
        "{weak:?}"
    );

    // Anyone but an admin is refused by the access table, before anything changes.
    let analyst = caller("ravi", &[Role::Analyst]);
    let auditor = caller("token:audit", &[Role::Auditor]);
    forbidden(ListUsers {}.run(&app, &analyst).await, "list users");
    forbidden(
        AddUser {
            name: "mallory".into(),
            roles: "admin".into(),
            password: None,
        }
        .run(&app, &auditor)
        .await,
        "add user",
    );
    forbidden(
        DisableUser {
            name: "ravi".into(),
        }
        .run(&app, &analyst)
        .await,
        "disable",
    );
    forbidden(ListTokens {}.run(&app, &auditor).await, "list tokens");
    match (SearchAudit::default()).run(&app, &analyst).await {
        Err(AppError::Forbidden(m)) => assert!(m.contains("auditor"), "{m}"),
        other => panic!("an analyst read the audit trail: {other:?}"),
    }
    let users = local.run(ListUsers {}).await.unwrap();
    assert!(!users.iter().any(|u| u["name"] == "mallory"), "{users:?}");

    // Disabled, ravi cannot log in; enabled, he can. No one disables themself.
    let off = local
        .run(DisableUser {
            name: "ravi".into(),
        })
        .await
        .unwrap();
    assert_eq!(off["disabled"], true, "{off}");
    assert!(!login(&app, "ravi", &otp));
    local
        .run(EnableUser {
            name: "ravi".into(),
        })
        .await
        .unwrap();
    assert!(login(&app, "ravi", &otp));
    let boss = caller("boss", &[Role::Admin]);
    let own = DisableUser {
        name: "boss".into(),
    }
    .run(&app, &boss)
    .await;
    assert!(matches!(own, Err(AppError::Invalid(_))), "{own:?}");
    let roles = local
        .run(SetRoles {
            name: "ravi".into(),
            roles: "analyst,auditor".into(),
        })
        .await
        .unwrap();
    assert_eq!(roles["roles"], serde_json::json!(["analyst", "auditor"]));
    let reset = local
        .run(ResetPassword {
            name: "ravi".into(),
            password: None,
        })
        .await
        .unwrap();
    let otp2 = reset["one_time_password"].as_str().unwrap().to_owned();
    assert!(login(&app, "ravi", &otp2) && !login(&app, "ravi", &otp));
    let unknown = local
        .run(ResetPassword {
            name: "nobody".into(),
            password: None,
        })
        .await;
    assert!(matches!(unknown, Err(AppError::Missing(_))), "{unknown:?}");

    // A token: the secret in the answer only; it works until revoked.
    let t = local
        .run(CreateToken {
            name: "ci".into(),
            roles: "auditor".into(),
            expires: Some("90d".into()),
        })
        .await
        .unwrap();
    let secret = t["secret"].as_str().unwrap().to_owned();
    assert_eq!(t["created_by"], operator.as_str(), "{t}");
    let now = pramaan_core::time::now_ns();
    assert!(app.users().auth().by_token(&secret, now).unwrap().is_some());
    let listed = local.run(ListTokens {}).await.unwrap();
    assert!(!serde_json::to_string(&listed).unwrap().contains(&secret));
    local.run(RevokeToken { name: "ci".into() }).await.unwrap();
    assert!(app.users().auth().by_token(&secret, now).unwrap().is_none());

    // The trail: each change, by the local operator, and no secret.
    let all = trail(&app, &auditor, "*").await;
    let has = |action: &str, subject: &str| {
        all.iter().any(|r| {
            r["action"] == action && r["subject"] == subject && r["actor"] == operator.as_str()
        })
    };
    for (action, subject) in [
        ("user.add", "ravi"),
        ("user.disable", "ravi"),
        ("user.enable", "ravi"),
        ("user.roles", "ravi"),
        ("user.password", "ravi"),
        ("token.create", "ci"),
        ("token.revoke", "ci"),
    ] {
        assert!(has(action, subject), "{action} {subject} missing: {all:?}");
    }
    let text = serde_json::to_string(&all).unwrap();
    for s in [&otp, &otp2, &secret] {
        assert!(!text.contains(s.as_str()), "a secret on the audit trail");
    }
    // The refused attempts changed nothing and recorded no change.
    assert!(!text.contains("mallory"), "{text}");

    // The read of the trail is recorded before it answers: the search
    // finds its own record.
    let reads = trail(&app, &auditor, "audit.search").await;
    let last = reads.last().expect("the read's own record");
    assert_eq!(last["actor"], "token:audit", "{reads:?}");
    assert_eq!(last["outcome"], "allowed", "{reads:?}");
    assert_eq!(last["query"], "action=audit.search", "{reads:?}");
    assert!(
        reads.len() >= 2,
        "the first read is recorded too: {reads:?}"
    );
    drop(app);
    local.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trail_read_whose_record_cannot_be_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    Local::open(&cfg).await.unwrap().close().await;
    // Read-only: every append, the audit record's among them, fails.
    let vault =
        pramaan_vault::Vault::open_read_only(pramaan_app::options::vault_options(&cfg)).unwrap();
    let app = App::new(&cfg, vault);
    let auditor = caller("token:audit", &[Role::Auditor]);
    match SearchAudit::default().run(&app, &auditor).await {
        Err(AppError::NotNow(m)) => assert!(m.contains("audit record"), "{m}"),
        other => panic!("answered unaudited: {other:?}"),
    }
}
