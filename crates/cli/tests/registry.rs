//! The subscriber register as a user meets it, on a data directory with no
//! server running: `pramaan registry import` (malformed files located and
//! refused whole, --skip-invalid, idempotent re-import, the bindings file
//! refused as "not a subscriber file"), `show --purpose` (audited in the
//! ledger first), `completeness`, `terminate`, holds and `erase-expired`,
//! then no plaintext of an erased subscriber anywhere in the data directory.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

const T: Duration = Duration::from_secs(180);

fn cmd(cwd: &Path, data: &Path, args: &[&str]) -> Output {
    let mut c = pramaan(cwd);
    c.arg("--data-dir").arg(data).args(args);
    run(c, None, T)
}

fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p.display().to_string(), b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const HEADER: &str = "subscriber_id,name,kyc_method,kyc_verified_at,email,registration_ip,registration_at,purpose,address,phone,ownership,owners,hire_start,hire_end";

#[test]
fn import_show_erase_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let data = cwd.join("data");
    let good_1 = "1,Ishaan Erasable-Bose,video-kyc,2019-05-01T10:00:00+05:30,ishaan.erasable@mail.example.in,198.51.100.9,2019-05-01T04:00:00Z,game server,\"9, Park Street, Kolkata, West Bengal 700001\",+919830012345,individual,,2019-05-02,2019-12-31";
    let good_2 = "2,Mehta Labs Private Limited,gst-mca,2024-01-01T00:00:00Z,it2@mehta-corp.example.in,2001:db8:ffff::2,2023-12-31T18:00:00-05:00,web hosting,\"1, MG Road, Mumbai, Maharashtra 400001\",+912212345678,company,Kavya Joshi;Aarav Bose,2024-01-02,";
    let bad = format!(
        "{HEADER}\n{good_1}\n{good_2}\n3,X,video-kyc,yesterday,x@y,198.51.100.1,2024-01-01T00:00:00Z,p,a,98765,individual,,2024-01-01,\n"
    );
    std::fs::write(cwd.join("bad.csv"), &bad).unwrap();

    // Malformed: every error located, nothing imported.
    let o = cmd(cwd, &data, &["registry", "import", "bad.csv"]);
    assert!(!o.success(), "{o:?}");
    for want in [
        "bad.csv:line 4: kyc_verified_at:",
        "bad.csv:line 4: email:",
        "bad.csv:line 4: phone:",
        "nothing was imported",
    ] {
        assert!(o.stderr.contains(want), "no `{want}` in {}", o.stderr);
    }
    let o = ok(cmd(cwd, &data, &["registry", "completeness", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["subscribers"], 0);

    // --dry-run changes nothing; --skip-invalid imports the two good ones.
    let o = ok(cmd(
        cwd,
        &data,
        &[
            "registry",
            "import",
            "bad.csv",
            "--skip-invalid",
            "--dry-run",
        ],
    ));
    assert!(o.stdout().contains("Dry run"), "{o:?}");
    let o = ok(cmd(
        cwd,
        &data,
        &["registry", "import", "bad.csv", "--skip-invalid"],
    ));
    assert!(o.stdout().contains("2 created"), "{o:?}");
    assert!(
        o.stderr.contains("skipping 1 invalid records (lines 4)"),
        "{o:?}"
    );
    // Again: nothing changes.
    let o = ok(cmd(
        cwd,
        &data,
        &["registry", "import", "bad.csv", "--skip-invalid"],
    ));
    assert!(
        o.stdout().contains("0 created, 0 updated, 2 unchanged"),
        "{o:?}"
    );

    // A bindings file goes to the attribution store (not the subscribers).
    std::fs::write(
        cwd.join("bindings.csv"),
        "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id\n203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,2,1\n",
    )
    .unwrap();
    let o = cmd(
        cwd,
        &data,
        &["registry", "import", "bindings.csv", "--dry-run"],
    );
    assert!(!o.success(), "{o:?}");
    let o = ok(cmd(
        cwd,
        &data,
        &["registry", "import", "bindings.csv", "--json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).unwrap();
    assert_eq!(v["rows"], 1, "{v}");
    // whois finds the holder, with the registered details joined in (an audited read).
    let o = ok(cmd(
        cwd,
        &data,
        &[
            "whois",
            "203.0.112.1",
            "--port",
            "1500",
            "--at",
            "2025-01-01T00:30:00Z",
            "--purpose",
            "case 7",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).unwrap();
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["matches"][0]["subscriber"], "2", "{v}");
    assert!(v["matches"][0]["details"].is_object(), "{v}");
    // The lookup and the read of the holder are audited in one write:
    // consecutive ledger records, the lookup's first.
    let seq = v["audit_seq"].as_u64().unwrap();
    let o = ok(cmd(
        cwd,
        &data,
        &[
            "search",
            "--internal",
            "--seq",
            &format!("{seq}-{}", seq + 1),
            "--format",
            "json",
        ],
    ));
    let recs: Vec<serde_json::Value> = o
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|h| serde_json::from_str(h["raw"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(recs.len(), 2, "{}", o.stdout());
    assert_eq!(recs[0]["action"], "whois", "{recs:?}");
    assert_eq!(recs[0]["purpose"], "case 7");
    assert_eq!(recs[1]["action"], "registry.read", "{recs:?}");
    assert_eq!(recs[1]["subject"], "2");
    assert_eq!(recs[1]["purpose"], "case 7");

    // Reading needs a purpose, and is audited in the ledger.
    let o = cmd(cwd, &data, &["registry", "show", "2", "--purpose", " "]);
    assert!(!o.success());
    let o = ok(cmd(
        cwd,
        &data,
        &[
            "registry",
            "show",
            "2",
            "--purpose",
            "CERT-In order 77/2025",
        ],
    ));
    let out = o.stdout();
    assert!(out.contains("Mehta Labs Private Limited"), "{out}");
    assert!(out.contains("Kavya Joshi; Aarav Bose"), "{out}");
    // 2023-12-31T18:00:00-05:00 is 04:30 IST on 1 January.
    assert!(out.contains("2024-01-01 04:30:00.000 IST"), "{out}");
    // The audit record is a ledger record in the vault (sealed segments are
    // compressed, so search for it rather than grepping the files).
    let o = ok(cmd(
        cwd,
        &data,
        &[
            "search",
            "--internal",
            "registry.read",
            "--format",
            "json",
            "--limit",
            "0",
        ],
    ));
    let audited = o
        .stdout()
        .lines()
        .any(|l| l.contains("pramaan:audit") && l.contains("CERT-In order 77/2025"));
    assert!(
        audited,
        "no audit record of the read in the vault: {}",
        o.stdout()
    );

    // Completeness: complete register, exit 0.
    ok(cmd(cwd, &data, &["registry", "completeness"]));

    // Subscriber 1's hire ended 2019-12-31: erased now (5 years later),
    // unless held.
    let o = ok(cmd(
        cwd,
        &data,
        &[
            "registry",
            "hold",
            "add",
            "1",
            "--reason",
            "inquiry",
            "--order-ref",
            "HC 12/2025",
        ],
    ));
    assert!(o.stdout().contains("#1 subscriber 1 (active)"), "{o:?}");
    let o = ok(cmd(cwd, &data, &["registry", "erase-expired"]));
    assert!(o.stdout().contains("0 erased, 1 held"), "{o:?}");
    ok(cmd(
        cwd,
        &data,
        &["registry", "hold", "release", "1", "--reason", "closed"],
    ));
    let o = ok(cmd(cwd, &data, &["registry", "erase-expired", "--dry-run"]));
    assert!(o.stdout().contains("would erase 1"), "{o:?}");
    let o = ok(cmd(cwd, &data, &["registry", "erase-expired"]));
    assert!(o.stdout().contains("1 erased"), "{o:?}");
    let o = ok(cmd(cwd, &data, &["registry", "erasures"]));
    assert!(o.stdout().contains("subscriber 1 erased"), "{o:?}");
    let o = cmd(cwd, &data, &["registry", "show", "1", "--purpose", "check"]);
    assert!(
        !o.success() && o.stderr.contains("no subscriber 1"),
        "{o:?}"
    );

    // Terminate the other one; twice is fine.
    ok(cmd(
        cwd,
        &data,
        &[
            "registry",
            "terminate",
            "2",
            "--at",
            "2025-06-30T12:00:00+05:30",
        ],
    ));
    let o = ok(cmd(cwd, &data, &["registry", "terminate", "2"]));
    assert!(o.stdout().contains("nothing changed"), "{o:?}");

    // Rotation keeps the register readable.
    ok(cmd(cwd, &data, &["registry", "rotate-key"]));
    ok(cmd(
        cwd,
        &data,
        &["registry", "show", "2", "--purpose", "after rotation"],
    ));

    // No plaintext of the erased subscriber anywhere (SQLite, its WAL, the vault).
    for (path, b) in all_bytes(&data) {
        for needle in [
            "Ishaan Erasable-Bose",
            "ishaan.erasable@mail.example.in",
            "+919830012345",
            "9, Park Street",
        ] {
            assert!(!contains(&b, needle), "`{needle}` found in {path}");
        }
    }
    // Nor of the live one: everything personal is encrypted.
    for (path, b) in all_bytes(&data) {
        assert!(
            !contains(&b, "Mehta Labs Private Limited"),
            "plaintext in {path}"
        );
    }
}
