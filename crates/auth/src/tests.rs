use crate::audit::{self, AuditEvent, Filter};
use crate::limiter::LimiterConfig;
use crate::*;
use std::net::{IpAddr, Ipv4Addr};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_772_500_000 * S;
const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn auth(max_failures: u32, lockout_s: i64, per_minute: u32) -> Auth {
    Auth::new(
        AuthStore::in_memory().unwrap(),
        LimiterConfig {
            max_failures,
            lockout_ns: lockout_s * S,
            per_address_per_minute: per_minute,
        },
        3600 * S,
    )
    .unwrap()
}

#[test]
fn roles_parse_and_print() {
    let r = RoleSet::parse("analyst, registry_officer,AUDITOR").unwrap();
    assert_eq!(r.to_string(), "analyst,registry-officer,auditor");
    assert!(r.contains(Role::RegistryOfficer) && !r.contains(Role::Admin));
    assert!(matches!(
        RoleSet::parse("root"),
        Err(AuthError::UnknownRole(_))
    ));
    assert!(matches!(RoleSet::parse(" , "), Err(AuthError::NoRole)));
    for role in Role::ALL {
        assert_eq!(Role::parse(role.as_str()).unwrap(), role);
    }
}

#[test]
fn password_life_cycle() {
    let a = auth(5, 900, 0);
    let s = a.store();
    let u = s
        .add_user(
            "asha",
            "first-password-1",
            RoleSet::of(&[Role::Analyst]),
            true,
            T0,
        )
        .unwrap();
    assert!(u.must_change_password);
    assert!(matches!(
        s.add_user(
            "asha",
            "another-password",
            RoleSet::of(&[Role::Analyst]),
            false,
            T0
        ),
        Err(AuthError::UserExists(_))
    ));
    assert!(matches!(
        s.add_user("bob", "short", RoleSet::of(&[Role::Analyst]), false, T0),
        Err(AuthError::WeakPassword { .. })
    ));
    assert!(matches!(
        s.add_user(
            "bad name",
            "long-enough-pass",
            RoleSet::of(&[Role::Analyst]),
            false,
            T0
        ),
        Err(AuthError::BadName(_))
    ));
    // The stored hash is argon2id, never the password.
    let hash: String = s
        .conn()
        .query_row(
            "SELECT password_hash FROM users WHERE name='asha'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("first-password-1"));

    let id = a
        .check_password("asha", "first-password-1", HOME, T0)
        .unwrap();
    assert!(id.must_change_password);
    assert!(matches!(
        a.check_password("asha", "wrong-password!", HOME, T0),
        Err(LoginError::BadCredentials)
    ));
    assert!(matches!(
        a.check_password("nobody", "first-password-1", HOME, T0),
        Err(LoginError::BadCredentials)
    ));
    // The user changes it: no longer one-time; the old one stops working.
    s.set_password("asha", "second-password-2", false, T0 + S)
        .unwrap();
    assert!(
        !a.check_password("asha", "second-password-2", HOME, T0 + S)
            .unwrap()
            .must_change_password
    );
    assert!(a
        .check_password("asha", "first-password-1", HOME, T0 + S)
        .is_err());
    // Disabled: refused, sessions end; enabled again: works.
    let (_, sid, _) = a.login("asha", "second-password-2", HOME, T0 + S).unwrap();
    assert!(a.by_session(&sid, T0 + 2 * S).unwrap().is_some());
    s.set_disabled("asha", true, T0 + 2 * S).unwrap();
    assert!(a.by_session(&sid, T0 + 2 * S).unwrap().is_none());
    assert!(a
        .check_password("asha", "second-password-2", HOME, T0 + 3 * S)
        .is_err());
    s.set_disabled("asha", false, T0 + 3 * S).unwrap();
    a.check_password("asha", "second-password-2", HOME, T0 + 3 * S)
        .unwrap();
    assert_eq!(s.users().unwrap().len(), 1);
}

#[test]
fn sessions_expire_and_end() {
    let a = auth(5, 900, 0);
    a.store()
        .add_user(
            "ravi",
            "ravis-password",
            RoleSet::of(&[Role::Poc]),
            false,
            T0,
        )
        .unwrap();
    let (id, sid, csrf) = a.login("ravi", "ravis-password", HOME, T0).unwrap();
    assert_eq!(id.method, Method::Session);
    assert_ne!(sid, csrf);
    let got = a.by_session(&sid, T0 + 10 * S).unwrap().unwrap();
    assert_eq!(got.csrf.as_deref(), Some(csrf.as_str()));
    assert!(a.by_session("made-up", T0).unwrap().is_none());
    assert!(
        a.by_session(&sid, T0 + 3600 * S).unwrap().is_none(),
        "expired"
    );
    let (_, sid2, _) = a.login("ravi", "ravis-password", HOME, T0).unwrap();
    a.store().end_session(&sid2).unwrap();
    assert!(a.by_session(&sid2, T0 + S).unwrap().is_none(), "logged out");
}

#[test]
fn token_life_cycle() {
    let a = auth(5, 900, 0);
    let s = a.store();
    let t = s
        .create_token(
            "fw-01",
            RoleSet::of(&[Role::Ingest]),
            "admin",
            Some(T0 + 90 * 86400 * S),
            T0,
        )
        .unwrap();
    assert!(
        t.secret.starts_with("pmn_") && t.secret.len() == 4 + 43,
        "{}",
        t.secret
    );
    // Only the hash is stored.
    let stored: String = s
        .conn()
        .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, secret::sha256_hex(&t.secret));
    let id = a.by_token(&t.secret, T0 + S).unwrap().unwrap();
    assert_eq!(id.name, "token:fw-01");
    assert!(id.has(Role::Ingest) && !id.has(Role::Analyst));
    assert!(a.by_token("pmn_wrong", T0).unwrap().is_none());
    assert!(
        a.by_token(&t.secret, T0 + 91 * 86400 * S)
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(matches!(
        s.create_token("fw-01", RoleSet::of(&[Role::Ingest]), "admin", None, T0),
        Err(AuthError::TokenExists(_))
    ));
    let r = s.revoke_token("fw-01", "admin", T0 + 2 * S).unwrap();
    assert_eq!(r.revoked_at_ns, Some(T0 + 2 * S));
    assert!(
        a.by_token(&t.secret, T0 + 3 * S).unwrap().is_none(),
        "revoked"
    );
    // Revoking again keeps the first time; by number works.
    let r2 = s
        .revoke_token(&r.id.to_string(), "other", T0 + 9 * S)
        .unwrap();
    assert_eq!(r2.revoked_at_ns, Some(T0 + 2 * S));
    assert!(matches!(
        s.revoke_token("nope", "admin", T0),
        Err(AuthError::UnknownToken(_))
    ));
    // A bootstrap token is stored once.
    s.ensure_token(
        "bootstrap",
        "pmn_chosen-secret",
        RoleSet::of(&[Role::Admin]),
        "env",
        T0,
    )
    .unwrap();
    s.ensure_token(
        "bootstrap",
        "pmn_chosen-secret",
        RoleSet::of(&[Role::Admin]),
        "env",
        T0,
    )
    .unwrap();
    assert_eq!(s.tokens().unwrap().len(), 2);
    assert!(a
        .by_token("pmn_chosen-secret", T0)
        .unwrap()
        .unwrap()
        .has(Role::Admin));
}

#[test]
fn lockout_and_its_expiry() {
    let a = auth(3, 600, 0);
    a.store()
        .add_user(
            "meera",
            "meeras-password",
            RoleSet::of(&[Role::Auditor]),
            false,
            T0,
        )
        .unwrap();
    for i in 0..3 {
        assert!(matches!(
            a.check_password("meera", "guess-guess-guess", HOME, T0 + i * S),
            Err(LoginError::BadCredentials)
        ));
    }
    // Locked: even the right password is refused until the lock ends.
    match a.check_password("meera", "meeras-password", HOME, T0 + 10 * S) {
        Err(LoginError::Locked { until_ns, .. }) => assert_eq!(until_ns, T0 + 2 * S + 600 * S),
        other => panic!("expected a lock, got {other:?}"),
    }
    assert!(matches!(
        a.check_password("meera", "meeras-password", HOME, T0 + 2 * S + 599 * S),
        Err(LoginError::Locked { .. })
    ));
    // After it: works, and the count starts again.
    a.check_password("meera", "meeras-password", HOME, T0 + 2 * S + 600 * S)
        .unwrap();
    assert!(a
        .check_password("meera", "bad-bad-bad-bad", HOME, T0 + 700 * S)
        .is_err());
    a.check_password("meera", "meeras-password", HOME, T0 + 701 * S)
        .unwrap();
}

#[test]
fn a_lock_outlives_a_restart_and_still_ends_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = store::path_in(dir.path());
    let limits = LimiterConfig {
        max_failures: 3,
        lockout_ns: 600 * S,
        per_address_per_minute: 0,
    };
    let open = || Auth::new(AuthStore::open(&path).unwrap(), limits, 3600 * S).unwrap();
    let a = open();
    for who in ["meera", "ravi"] {
        a.store()
            .add_user(
                who,
                "a-good-password",
                RoleSet::of(&[Role::Auditor]),
                false,
                T0,
            )
            .unwrap();
    }
    for i in 0..3 {
        let _ = a.check_password("meera", "guess-guess-guess", HOME, T0 + i * S);
    }
    // Two failures of three: not locked, but counted across the restart.
    for i in 0..2 {
        let _ = a.check_password("ravi", "guess-guess-guess", HOME, T0 + i * S);
    }
    drop(a);

    let b = open();
    match b.check_password("meera", "a-good-password", HOME, T0 + 10 * S) {
        Err(LoginError::Locked { until_ns, .. }) => assert_eq!(until_ns, T0 + 2 * S + 600 * S),
        other => panic!("a restart lifted the lock: {other:?}"),
    }
    assert!(matches!(
        b.check_password("ravi", "guess-guess-guess", HOME, T0 + 20 * S),
        Err(LoginError::BadCredentials)
    ));
    assert!(matches!(
        b.check_password("ravi", "a-good-password", HOME, T0 + 21 * S),
        Err(LoginError::Locked { .. })
    ));
    // The lock still ends by itself, after a second restart too.
    drop(b);
    let c = open();
    c.check_password("meera", "a-good-password", HOME, T0 + 2 * S + 600 * S)
        .unwrap();
    // A success forgets the failures in the store as well.
    drop(c);
    let d = open();
    assert!(d
        .store()
        .login_failures()
        .unwrap()
        .iter()
        .all(|(u, ..)| u != "meera"));
    // Names whose window and lock are long over are pruned on the next write.
    let _ = d.check_password("nobody", "guess-guess-guess", HOME, T0 + 10_000 * S);
    let left: Vec<String> = d
        .store()
        .login_failures()
        .unwrap()
        .into_iter()
        .map(|(u, ..)| u)
        .collect();
    assert_eq!(left, vec!["nobody".to_owned()]);
}

#[test]
fn failures_outside_the_window_do_not_lock() {
    let a = auth(3, 60, 0);
    a.store()
        .add_user(
            "kiran",
            "kirans-password",
            RoleSet::of(&[Role::Auditor]),
            false,
            T0,
        )
        .unwrap();
    for i in 0..6 {
        let _ = a.check_password("kiran", "nope-nope-nope", HOME, T0 + i * 40 * S);
    }
    a.check_password("kiran", "kirans-password", HOME, T0 + 241 * S)
        .unwrap();
}

#[test]
fn rate_limit_per_address() {
    let a = auth(0, 60, 4);
    a.store()
        .add_user(
            "dev",
            "devs-password1",
            RoleSet::of(&[Role::Analyst]),
            false,
            T0,
        )
        .unwrap();
    let other: IpAddr = "192.0.2.9".parse().unwrap();
    for i in 0..4 {
        let _ = a.check_password("dev", "wrong-password", other, T0 + i * S);
    }
    assert!(matches!(
        a.check_password("dev", "devs-password1", other, T0 + 5 * S),
        Err(LoginError::RateLimited)
    ));
    // Another address is not affected; a minute later the first one may try again.
    a.check_password("dev", "devs-password1", HOME, T0 + 5 * S)
        .unwrap();
    a.check_password("dev", "devs-password1", other, T0 + 61 * S)
        .unwrap();
}

#[test]
fn store_on_disk_survives_reopen_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let p = store::path_in(dir.path());
    {
        let s = AuthStore::open(&p).unwrap();
        s.add_user(
            "admin",
            "admin-password",
            RoleSet::of(&[Role::Admin]),
            true,
            T0,
        )
        .unwrap();
    }
    let s = AuthStore::open(&p).unwrap();
    assert_eq!(s.user_count().unwrap(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn audit_records_go_to_the_ledger() {
    let sink = pramaan_core::MemorySink::new();
    let ev = AuditEvent::new(audit::action::SEARCH, "asha", "logs")
        .purpose("order 7/2026")
        .detail("query", "ip=203.0.113.7");
    let seq = audit::record_at(&sink, &ev, T0).await.unwrap();
    assert_eq!(seq, 0);
    let recs = sink.records();
    assert_eq!(recs[0].0, "pramaan:audit");
    let v: serde_json::Value = serde_json::from_slice(&recs[0].1).unwrap();
    assert_eq!(v["action"], "search");
    assert_eq!(v["actor"], "asha");
    assert_eq!(v["subject"], "logs");
    assert_eq!(v["purpose"], "order 7/2026");
    assert_eq!(v["query"], "ip=203.0.113.7");
    assert_eq!(v["at"], pramaan_core::time::rfc3339_utc(T0));
    let f = Filter {
        actor: Some("asha".into()),
        action: Some("sea*".into()),
        from_ns: Some(T0 - S),
        to_ns: Some(T0 + S),
    };
    assert!(f.matches(&v));
    assert!(!Filter {
        actor: Some("bob".into()),
        ..Default::default()
    }
    .matches(&v));
    assert!(!Filter {
        to_ns: Some(T0),
        ..Default::default()
    }
    .matches(&v));
}
