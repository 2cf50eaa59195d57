//! SigmaHQ's own rules (`../shared/data/sigma`, unchanged, DRL 1.1: see its
//! README) loaded by this engine, and run over real log lines
//! (`../shared/data/loghub`) parsed as ingest parses them.

use pramaan_detect::{load, Event, Rule};
use std::path::{Path, PathBuf};

fn shared(sub: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    assert!(
        p.is_dir(),
        "{} is missing: the tests need ../shared/data",
        p.display()
    );
    p
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rule_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

fn all_rules() -> Vec<(PathBuf, Result<Rule, pramaan_detect::RuleError>)> {
    let mut files = Vec::new();
    rule_files(&shared("sigma"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let r = load(&f.display().to_string(), &text);
            (f, r)
        })
        .collect()
}

#[test]
fn every_rule_of_the_set_loads_or_is_refused_naming_file_line_and_feature() {
    let rules = all_rules();
    assert!(rules.len() >= 100, "only {} rules found", rules.len());
    let mut refused = Vec::new();
    for (f, r) in &rules {
        match r {
            Ok(rule) => {
                assert!(!rule.title.is_empty(), "{}", f.display());
            }
            Err(e) => {
                assert!(e.line > 0, "{e}");
                assert!(
                    e.file.ends_with(&*f.file_name().unwrap().to_string_lossy()),
                    "{e}"
                );
                refused.push(e.to_string());
            }
        }
    }
    eprintln!("{} rules, {} refused:", rules.len(), refused.len());
    for r in &refused {
        eprintln!("  {r}");
    }
    // Every refusal is for a feature this engine does not have yet, said so.
    for r in &refused {
        assert!(
            r.contains("is not supported") || r.contains("not supported yet"),
            "refused for another reason: {r}"
        );
    }
    assert!(
        refused.len() * 10 <= rules.len(),
        "too many refused: {refused:#?}"
    );
}

fn parse(line: &str) -> pramaan_core::ParsedFields {
    let ctx = pramaan_ingest::ParseContext {
        received_at_ns: 1_795_000_000_000_000_000,
        default_offset_secs: 0,
    };
    pramaan_ingest::parse(line.as_bytes(), &ctx)
}

fn matches(rule: &Rule, line: &str) -> bool {
    let f = parse(line);
    rule.matches(&Event::new(line.as_bytes(), &f))
}

fn rule_named(file: &str) -> Rule {
    all_rules()
        .into_iter()
        .find(|(f, _)| f.ends_with(file))
        .unwrap_or_else(|| panic!("{file} is not in the set"))
        .1
        .unwrap()
}

fn own_rule(file: &str) -> Rule {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules")
        .join(file);
    load(file, &std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_sigmahq_sshd_rule_matches_its_phrases_in_sshd_lines_only() {
    let rule = rule_named("lnx_sshd_susp_ssh.yml");
    assert!(matches(
        &rule,
        "<38>Dec 10 06:55:46 LabSZ sshd[24200]: Corrupted MAC on input"
    ));
    assert!(matches(
        &rule,
        "<38>Dec 10 06:55:46 LabSZ sshd[24200]: error: INCORRECT SIGNATURE"
    ));
    // Nearly: another service, or a phrase cut short.
    assert!(!matches(
        &rule,
        "<38>Dec 10 06:55:46 LabSZ cron[24200]: Corrupted MAC on input"
    ));
    assert!(!matches(
        &rule,
        "<38>Dec 10 06:55:46 LabSZ sshd[24200]: Corrupted MAC"
    ));
}

#[test]
fn the_ssh_rule_finds_exactly_the_loghub_lines_with_its_phrases() {
    let rule = own_rule("pramaan_ssh_auth_failures.yml");
    assert_eq!(rule.kind(), Some("unauthorised-access"));
    let text = std::fs::read_to_string(shared("loghub").join("OpenSSH_2k.log")).unwrap();
    let phrases = [
        "failed password for",
        "invalid user ",
        "authentication failure;",
        "failed publickey for",
    ];
    let (mut by_rule, mut by_hand) = (0, 0);
    for line in text.lines() {
        // loghub's OpenSSH lines are BSD syslog without the priority.
        let line = format!("<38>{line}");
        let lower = line.to_lowercase();
        let hand = phrases.iter().any(|p| lower.contains(p));
        let got = matches(&rule, &line);
        assert_eq!(got, hand, "{line}");
        by_rule += got as usize;
        by_hand += hand as usize;
    }
    assert_eq!(by_rule, by_hand);
    assert!(
        by_hand > 500,
        "only {by_hand} lines: the test proves little"
    );
}

#[test]
fn the_defacement_rule_sees_writes_and_signatures_in_access_logs() {
    let rule = own_rule("pramaan_web_defacement.yml");
    assert_eq!(rule.kind(), Some("website-defacement"));
    let line = |method: &str, uri: &str, status: &str| {
        format!(
            r#"<14>1 2026-12-06T10:00:00Z web1 nginx - - - 10.0.0.7 - - [06/Dec/2026:10:00:00 +0000] "{method} {uri} HTTP/1.1" {status} 10 "-" "x""#
        )
    };
    assert!(matches(&rule, &line("PUT", "/index.html", "201")));
    assert!(!matches(&rule, &line("PUT", "/index.html", "403")));
    assert!(!matches(&rule, &line("GET", "/index.html", "200")));
    assert!(matches(&rule, &line("GET", "/?q=Hacked%20By%20x", "200")));
}

#[test]
fn field_rules_match_and_nearly_match() {
    // A web rule over an access log line in combined format.
    let rule = load(
        "web.yml",
        "title: t\nlogsource:\n  category: webserver\ndetection:\n  selection:\n    cs-method: POST\n    c-uri|contains|all:\n      - '/wp-'\n      - '.php'\n  filter:\n    sc-status: 404\n  condition: selection and not filter\n",
    )
    .unwrap();
    let line = |method: &str, uri: &str, status: &str| {
        format!(
            r#"<14>1 2026-12-06T10:00:00Z web1 apache - - - 10.0.0.7 - - [06/Dec/2026:10:00:00 +0000] "{method} {uri} HTTP/1.1" {status} 10 "-" "x""#
        )
    };
    assert!(matches(&rule, &line("POST", "/wp-admin/x.php", "200")));
    assert!(!matches(&rule, &line("GET", "/wp-admin/x.php", "200")));
    assert!(!matches(&rule, &line("POST", "/wp-admin/x.html", "200")));
    assert!(!matches(&rule, &line("POST", "/wp-admin/x.php", "404")));
    // A firewall rule over key=value pairs with a network.
    let rule = load(
        "fw.yml",
        "title: t\nlogsource:\n  category: firewall\ndetection:\n  selection:\n    dst_port:\n      - 23\n      - 21\n    src|cidr: 10.0.0.0/8\n  condition: selection\n",
    )
    .unwrap();
    assert!(matches(
        &rule,
        "<14>Dec  6 10:00:00 fw1 kernel: action=allow src=10.1.2.3 dst=8.8.8.8 dst_port=23"
    ));
    assert!(!matches(
        &rule,
        "<14>Dec  6 10:00:00 fw1 kernel: action=allow src=11.1.2.3 dst=8.8.8.8 dst_port=23"
    ));
    assert!(!matches(
        &rule,
        "<14>Dec  6 10:00:00 fw1 kernel: action=allow src=10.1.2.3 dst=8.8.8.8 dst_port=22"
    ));
}

#[test]
fn an_unknown_modifier_is_refused_naming_the_rule_line_and_modifier() {
    let text = "title: t\nlogsource:\n  product: linux\ndetection:\n  selection:\n    CommandLine|base64offset|contains: 'sh -i'\n  condition: selection\n";
    let e = load("rules/b64.yml", text).unwrap_err();
    assert_eq!(e.file, "rules/b64.yml");
    assert_eq!(e.line, 6);
    assert!(e.what.contains("`base64offset`"), "{e}");
    assert_eq!(
        e.to_string(),
        "rules/b64.yml:6: the modifier `base64offset` (in `CommandLine|base64offset|contains`) is not supported"
    );
    // Other problems are named as precisely.
    let e = load(
        "c.yml",
        "title: t\ndetection:\n  sel: x\n  condition: sel and nope\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.what.as_str()),
        (
            4,
            "condition `sel and nope`: `nope` names no search identifier of this rule"
        )
    );
    let e = load(
        "l.yml",
        "title: t\nlevel: urgent\ndetection:\n  sel: x\n  condition: sel\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 2);
    let e = load("y.yml", "title: [unclosed\n").unwrap_err();
    assert!(e.what.starts_with("not YAML"), "{e}");
}

/// Runs an aggregation rule over lines received one second apart; returns
/// the indices of the lines at which it fired and the groups.
fn firings(rule: &Rule, lines: &[String]) -> Vec<(usize, String)> {
    use pramaan_detect::aggregate::{Seen, Windows};
    let (agg, tf) = rule.aggregation.clone().expect("an aggregation rule");
    let mut w = Windows::new(agg, tf, 1000);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let f = parse(l);
        let e = Event::new(l.as_bytes(), &f);
        if !rule.matches(&e) {
            continue;
        }
        let Some((g, v)) = rule.group_of(&e) else {
            continue;
        };
        let seen = Seen {
            seq: i as u64,
            received_ns: i as i64 * 1_000_000_000,
        };
        if let Some(fired) = w.observe(&g, v.as_deref(), seen, true) {
            out.push((i, fired.group));
        }
    }
    out
}

#[test]
fn the_ssh_brute_force_rule_counts_failures_per_address() {
    let rule = own_rule("pramaan_ssh_brute_force.yml");
    assert_eq!(rule.kind(), Some("unauthorised-access"));
    let (agg, tf) = rule.aggregation.clone().unwrap();
    assert_eq!(
        (agg.by.as_deref(), agg.needed(), tf),
        (Some("src_ip"), 10, 300_000_000_000)
    );
    let fail = |ip: &str| {
        format!("<38>Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from {ip} port 38926 ssh2")
    };
    // Nine failures from one address, nine from another, interleaved with
    // accepted logins: nothing. The tenth from the first: one firing, its group.
    let mut lines = Vec::new();
    for _ in 0..9 {
        lines.push(fail("203.0.113.7"));
        lines.push(fail("198.51.100.9"));
        lines.push("<38>Dec 10 06:55:46 LabSZ sshd[24200]: Accepted password for fztu from 203.0.113.7 port 1 ssh2".to_owned());
    }
    assert!(firings(&rule, &lines).is_empty());
    lines.push(fail("203.0.113.7"));
    assert_eq!(firings(&rule, &lines), [(27, "203.0.113.7".to_owned())]);
    // Another app's line with the same words is not sshd's.
    let other =
        "<38>Dec 10 06:55:46 LabSZ su[1]: Failed password for root from 203.0.113.7".to_owned();
    assert!(!matches(&rule, &other));

    // Over loghub's real sshd lines: as many firings as a count per
    // address over every sliding 5 minutes (here: one line a second) gives.
    let text = std::fs::read_to_string(shared("loghub").join("OpenSSH_2k.log")).unwrap();
    let lines: Vec<String> = text.lines().map(|l| format!("<38>{l}")).collect();
    let got = firings(&rule, &lines);
    assert!(
        !got.is_empty(),
        "loghub's sshd lines hold brute-force bursts"
    );
    let mut groups: Vec<&str> = got.iter().map(|(_, g)| g.as_str()).collect();
    groups.sort();
    groups.dedup();
    assert!(
        groups.iter().all(|g| g.parse::<std::net::IpAddr>().is_ok()),
        "{groups:?}"
    );
}

#[test]
fn the_port_scan_rule_counts_distinct_ports_per_source() {
    let rule = own_rule("pramaan_port_scan.yml");
    assert_eq!(rule.kind(), Some("targeted-scanning"));
    let deny = |src: &str, dpt: u16| {
        format!("<4>Dec  6 10:00:00 fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC={src} DST=192.0.2.1 PROTO=TCP SPT=40000 DPT={dpt} WINDOW=1024")
    };
    // Forty denials on one port, nineteen distinct ports: no scan.
    let mut lines: Vec<String> = (0..40).map(|_| deny("203.0.113.50", 22)).collect();
    lines.extend((1..19).map(|p| deny("203.0.113.50", 1000 + p)));
    assert!(firings(&rule, &lines).is_empty());
    // The twentieth distinct port: a scan from that source.
    lines.push(deny("203.0.113.50", 3389));
    let f = firings(&rule, &lines);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].1, "203.0.113.50");
}
