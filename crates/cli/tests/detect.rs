//! `pramaan detect`: SigmaHQ's rules (`../shared/data/sigma`) checked, a
//! rule with a feature this engine lacks refused by file, line and name, and
//! a rule's back-test over real sshd lines (`../shared/data/loghub`) stored
//! through a running server, audited before it answers.

mod support;

use std::path::PathBuf;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(120);

fn shared(sub: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    assert!(
        p.is_dir(),
        "{} is missing: the tests need ../shared/data",
        p.display()
    );
    p
}

fn own_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../detect/rules")
}

fn detect(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut c = pramaan(dir);
    c.arg("detect").args(args);
    run(c, None, T)
}

#[test]
fn check_loads_the_sigmahq_set_and_names_what_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let sigma = shared("sigma");
    let o = detect(
        dir.path(),
        &["check", "--rules-dir", sigma.to_str().unwrap()],
    );
    assert!(o.success(), "{o:?}");
    let out = o.stdout();
    assert!(out.contains("120 rules: 120 loaded, 0 refused"), "{out}");
    assert!(out.contains("lnx_sshd_susp_ssh.yml"), "{out}");
    assert!(
        out.contains("logsource product=linux service=sshd → lines of app sshd"),
        "{out}"
    );

    // pramaan's own rules name their incident kinds.
    let o = detect(
        dir.path(),
        &["check", "--rules-dir", own_rules().to_str().unwrap()],
    );
    assert!(o.success(), "{o:?}");
    assert!(o.stdout().contains("kind unauthorised-access"), "{o:?}");
    assert!(o.stdout().contains("kind website-defacement"), "{o:?}");

    // One rule with an unknown modifier: refused by file, line and name; the
    // others still load; the exit status says so.
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("sub")).unwrap();
    std::fs::copy(
        own_rules().join("pramaan_ssh_auth_failures.yml"),
        rules.join("ok.yml"),
    )
    .unwrap();
    std::fs::write(
        rules.join("sub/b64.yml"),
        "title: t\nlogsource:\n  product: linux\ndetection:\n  selection:\n    CommandLine|base64offset|contains: 'sh -i'\n  condition: selection\n",
    )
    .unwrap();
    let o = detect(
        dir.path(),
        &["check", "--rules-dir", rules.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = o.stdout();
    assert!(
        out.contains("sub/b64.yml:6: the modifier `base64offset`"),
        "{out}"
    );
    assert!(out.contains("2 rules: 1 loaded, 1 refused"), "{out}");

    // No directory at all: a clear error, not an empty success.
    let o = detect(dir.path(), &["check"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        o.stderr
            .contains("set detect.rules_dir or pass --rules-dir"),
        "{o:?}"
    );
}

#[test]
fn test_back_tests_a_rule_over_stored_sshd_lines_audited_first() {
    // Reads audited, as in production (the tests' default turns it off).
    let server = Server::start_with(&[("PRAMAAN_AUTH_AUDIT_READS", "true")]);
    let text = std::fs::read_to_string(shared("loghub").join("OpenSSH_2k.log")).unwrap();
    // BSD syslog lines as sshd's host would send them.
    let lines: Vec<String> = text.lines().map(|l| format!("<38>{l}")).collect();
    let want = lines
        .iter()
        .filter(|l| {
            let l = l.to_lowercase();
            [
                "failed password for",
                "invalid user ",
                "authentication failure;",
                "failed publickey for",
            ]
            .iter()
            .any(|p| l.contains(p))
        })
        .count();
    assert!(want > 500, "{want}");
    assert_eq!(server.ingest_lines(&lines).accepted as usize, lines.len());

    let rule = own_rules().join("pramaan_ssh_auth_failures.yml");
    let mut c = pramaan(server.dir.path());
    c.args([
        "detect",
        "test",
        rule.to_str().unwrap(),
        "--server",
        &server.url(),
        "--json",
        "--examples",
        "3",
    ]);
    let o = run(c, None, T);
    assert!(o.success(), "{o:?}");
    let r: serde_json::Value = serde_json::from_str(&o.stdout()).unwrap();
    assert_eq!(r["lines_read"], lines.len(), "{r}");
    assert_eq!(r["matched"], want, "{r}");
    assert_eq!(r["kind"], "unauthorised-access", "{r}");
    assert_eq!(r["examples"].as_array().unwrap().len(), 3, "{r}");
    assert!(
        r["examples"][0]["raw"].as_str().unwrap().contains("sshd["),
        "{r}"
    );

    // The brute-force rule counts per address: every address with ten or
    // more failures fires once (the lines arrived within seconds, inside
    // one five-minute window).
    let brute = own_rules().join("pramaan_ssh_brute_force.yml");
    let mut c = pramaan(server.dir.path());
    c.args([
        "detect",
        "test",
        brute.to_str().unwrap(),
        "--server",
        &server.url(),
        "--json",
    ]);
    let o = run(c, None, T);
    assert!(o.success(), "{o:?}");
    let r: serde_json::Value = serde_json::from_str(&o.stdout()).unwrap();
    let mut per_ip: std::collections::BTreeMap<String, usize> = Default::default();
    for l in &lines {
        if [
            "Failed password for",
            "Invalid user ",
            "Failed publickey for",
        ]
        .iter()
        .any(|p| l.contains(p))
        {
            if let Some(ip) = l
                .split_whitespace()
                .find(|w| w.parse::<std::net::IpAddr>().is_ok())
            {
                *per_ip.entry(ip.to_owned()).or_default() += 1;
            }
        }
    }
    let want_groups: Vec<String> = per_ip
        .iter()
        .filter(|(_, n)| **n >= 10)
        .map(|(ip, _)| format!("src_ip={ip}"))
        .collect();
    assert!(!want_groups.is_empty());
    let mut got: Vec<String> = r["fired_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, want_groups, "{r}");
    assert_eq!(r["firings"], want_groups.len(), "{r}");

    // Audited: the rule's back-test is in the audit trail.
    let audit = server.search(&[("internal", "true"), ("q", "detect.test")]);
    assert!(!audit.is_empty(), "no audit record of the back-test");

    // A rule that does not load is a 400 naming its line, not a scan.
    let bad = server.dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "title: t\ndetection:\n  sel: x\n  condition: sel or nope\n",
    )
    .unwrap();
    let mut c = pramaan(server.dir.path());
    c.args([
        "detect",
        "test",
        bad.to_str().unwrap(),
        "--server",
        &server.url(),
    ]);
    let o = run(c, None, T);
    assert!(!o.success(), "{o:?}");
    assert!(
        o.stderr.contains("bad.yml:4: condition `sel or nope`"),
        "{o:?}"
    );
    // With no server, on the data directory itself: the same answer.
    let mut server = server;
    assert!(server.stop().success(), "{}", server.stderr());
    let local = |extra: &[&str]| -> serde_json::Value {
        let mut c = pramaan(server.dir.path());
        c.arg("--data-dir").arg(server.data_dir());
        c.args(["detect", "test", rule.to_str().unwrap(), "--json"])
            .args(extra);
        let o = run(c, None, T);
        assert!(o.success(), "{o:?}");
        serde_json::from_str(&o.stdout()).unwrap()
    };
    let r = local(&["--from", "30d"]);
    assert_eq!(r["matched"], want, "{r}");
    // A window with nothing in it matches nothing.
    let r = local(&["--to", "2000-01-01"]);
    assert_eq!(
        (r["lines_read"].as_u64(), r["matched"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
}
