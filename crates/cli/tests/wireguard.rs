//! WireGuard peers at the source, end to end: two real WireGuard endpoints
//! (wireguard-go, the userspace implementation, since this kernel has no
//! WireGuard module; Debian `wireguard-go`) in two network namespaces made
//! here, joined by a veth pair and configured with `wg` (Debian
//! `wireguard-tools`); a datagram sent into the tunnel makes the handshake. `serve` polls
//! `wg show all dump` (`wireguard.command`, through a wrapper that keeps the
//! server's interface, as an operator's sudo wrapper would) and `whois`
//! names the peer's key for its allowed IPs, from the poll that saw them
//! until the one that saw them go, across a restart.
//!
//! No packet leaves the two namespaces.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

fn cmd(prog: &Path, args: &[&str]) -> String {
    let o = Command::new(prog).args(args).output().expect("runs");
    assert!(
        o.status.success(),
        "{} {}: {}",
        prog.display(),
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `wg` in namespace `ns`.
fn wg(ns: &str, args: &[&str]) -> String {
    let mut a = vec!["netns", "exec", ns, "wg"];
    a.extend_from_slice(args);
    cmd(&program("ip", "iproute2"), &a)
}

/// A key pair from `wg genkey` and `wg pubkey`: (file of the private key, public key).
fn keys(dir: &Path, name: &str) -> (PathBuf, String, String) {
    let wg = program("wg", "wireguard-tools");
    let private = cmd(&wg, &["genkey"]);
    let mut c = Command::new(&wg)
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), private.as_bytes()).unwrap();
    let public = String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap();
    let file = dir.join(format!("{name}.key"));
    std::fs::write(&file, &private).unwrap();
    (file, private.trim().to_owned(), public.trim().to_owned())
}

/// Two namespaces, a veth pair (server 10.89.0.1, client 10.89.0.2), and a
/// WireGuard interface in each; removed when dropped.
struct Tunnel {
    server_ns: String,
    client_ns: String,
    server_wg: String,
    client_wg: String,
    children: Vec<Child>,
}

impl Tunnel {
    fn new() -> Tunnel {
        let id = std::process::id() % 100_000;
        let t = Tunnel {
            server_ns: format!("pwg-s-{id}"),
            client_ns: format!("pwg-c-{id}"),
            server_wg: format!("pwgs{id}"),
            client_wg: format!("pwgc{id}"),
            children: Vec::new(),
        };
        let (vs, vc) = (format!("pwvs{id}"), format!("pwvc{id}"));
        for ns in [&t.server_ns, &t.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc]);
        for (ns, dev, addr) in [
            (&t.server_ns, &vs, "10.89.0.1/24"),
            (&t.client_ns, &vc, "10.89.0.2/24"),
        ] {
            ip(&["link", "set", dev, "netns", ns]);
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        t
    }

    /// wireguard-go's interface `name` in `ns`, with `addr` on it once up.
    fn interface(&mut self, ns: &str, name: &str) {
        let go = program("wireguard-go", "wireguard-go");
        let child = Command::new(program("ip", "iproute2"))
            .args(["netns", "exec", ns])
            .arg(go)
            .arg(name)
            .env("WG_PROCESS_FOREGROUND", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wireguard-go starts");
        self.children.push(child);
        let sock = PathBuf::from(format!("/var/run/wireguard/{name}.sock"));
        wait_until(Duration::from_secs(30), "wireguard-go's socket", || {
            sock.exists().then_some(())
        });
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        for i in [&self.server_wg, &self.client_wg] {
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{i}.sock"));
        }
    }
}

/// The stored lines of the poller that start with `prefix`.
fn lines(s: &Server, prefix: &str) -> Vec<String> {
    s.search_all_of(&[("q", "wireguard")])
        .into_iter()
        .map(|h| h.raw_text())
        .filter(|l| l.starts_with(prefix))
        .collect()
}

/// A wrapper printing `wg show all dump` for `iface` only (tests in
/// parallel have their own interfaces; all share /var/run/wireguard).
fn wrapper(dir: &Path, iface: &str) -> PathBuf {
    let wg = program("wg", "wireguard-tools");
    let path = dir.join("wg-dump");
    std::fs::write(
        &path,
        format!(
            "#!/bin/bash\nset -o pipefail\n{} show all dump | awk -F'\\t' '$1 == \"{iface}\"'\n",
            wg.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_peer_is_named_from_the_poll_that_saw_it_to_the_one_that_saw_it_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tunnel::new();
    let (sw, cw) = (t.server_wg.clone(), t.client_wg.clone());
    let (sns, cns) = (t.server_ns.clone(), t.client_ns.clone());
    t.interface(&sns, &sw);
    t.interface(&cns, &cw);
    let (server_key_file, server_private, server_pub) = keys(dir.path(), "server");
    let (client_key_file, _, client_pub) = keys(dir.path(), "client");
    let skf = server_key_file.to_str().unwrap();
    wg(
        &sns,
        &["set", &sw, "private-key", skf, "listen-port", "51820"],
    );
    wg(
        &sns,
        &[
            "set",
            &sw,
            "peer",
            &client_pub,
            "allowed-ips",
            "10.9.0.2/32,fd00:9::2/128",
        ],
    );
    wg(
        &cns,
        &["set", &cw, "private-key", client_key_file.to_str().unwrap()],
    );
    wg(
        &cns,
        &[
            "set",
            &cw,
            "peer",
            &server_pub,
            "endpoint",
            "10.89.0.1:51820",
            "allowed-ips",
            "10.9.0.0/24",
        ],
    );
    for (ns, dev, addr) in [(&sns, &sw, "10.9.0.1/24"), (&cns, &cw, "10.9.0.2/24")] {
        ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }

    let command = wrapper(dir.path(), &sw);
    let mut s = Server::start_with(&[
        ("PRAMAAN_WIREGUARD_INTERVAL", "300ms"),
        ("PRAMAAN_WIREGUARD_COMMAND", command.to_str().unwrap()),
    ]);
    // The first poll: the peer's allowed IPs (both families) name its key.
    let a = s.wait_for_holder("10.9.0.2", &client_pub);
    let m = &a["matches"][0];
    let what = m["source"]["what"].as_str().unwrap_or_default();
    assert!(what.starts_with("WireGuard peer"), "{a}");
    assert!(what.contains(&format!("{sw}, no endpoint yet")), "{a}");
    s.wait_for_holder("fd00:9::2", &client_pub);
    assert_eq!(
        s.whois("10.9.0.5", &now_text())["count"],
        0,
        "an address no peer may use"
    );

    // A datagram into the tunnel: the client's handshake gives the server
    // its endpoint, which the next poll stores.
    let sent = Command::new(program("ip", "iproute2"))
        .args([
            "netns",
            "exec",
            &cns,
            "bash",
            "-c",
            "echo hello >/dev/udp/10.9.0.1/9",
        ])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "a datagram into the tunnel: {sent:?}"
    );
    let endpoint = wait_until(Duration::from_secs(30), "the endpoint line", || {
        lines(&s, &format!("wireguard endpoint {sw} ")).pop()
    });
    assert!(
        endpoint.contains(&format!("peer={client_pub}")),
        "{endpoint}"
    );
    assert!(endpoint.contains("endpoint=10.89.0.2:"), "{endpoint}");
    assert!(!endpoint.contains("handshake=never"), "{endpoint}");
    // The binding's evidence: the add and the latest sign of life.
    let a = wait_until(
        Duration::from_secs(30),
        "the endpoint in the evidence",
        || {
            let a = s.whois("10.9.0.2", &now_text());
            (a["matches"][0]["evidence"].as_array().map(Vec::len) == Some(2)).then_some(a)
        },
    );
    assert_eq!(
        a["matches"][0]["source"]["records"][0]["transport"], "file",
        "{a}"
    );

    // The peer's allowed IPs change: the old address is no longer its.
    let before_change = now_text();
    std::thread::sleep(Duration::from_millis(50));
    wg(
        &sns,
        &[
            "set",
            &sw,
            "peer",
            &client_pub,
            "allowed-ips",
            "10.9.0.3/32",
        ],
    );
    s.wait_for_holder("10.9.0.3", &client_pub);
    s.wait_until_nobody_holds("10.9.0.2");
    let then = s.whois("10.9.0.2", &before_change);
    assert_eq!(
        then["matches"][0]["subscriber"],
        client_pub.as_str(),
        "before the change: {then}"
    );

    // While pramaan is stopped, the peer goes and another comes: the first
    // poll after the restart says both, against what the last one stored.
    s.stop();
    let (_, _, other_pub) = keys(dir.path(), "other");
    wg(&sns, &["set", &sw, "peer", &client_pub, "remove"]);
    wg(
        &sns,
        &["set", &sw, "peer", &other_pub, "allowed-ips", "10.9.0.7/32"],
    );
    s.start_again();
    s.wait_for_holder("10.9.0.7", &other_pub);
    s.wait_until_nobody_holds("10.9.0.3");
    let removed = lines(&s, &format!("wireguard remove {sw} peer={client_pub}"));
    assert_eq!(removed.len(), 2, "the change and the removal: {removed:?}");
    assert!(removed.iter().all(|l| l.contains(" seen=")), "{removed:?}");
    // Nothing twice: one add for each of the client's allowed-IP sets.
    let added = lines(&s, &format!("wireguard add {sw} peer={client_pub}"));
    assert_eq!(added.len(), 2, "{added:?}");
    // The private key never reaches the vault or the poller's state.
    assert!(s.search_all_of(&[("q", &server_private)]).is_empty());
    let state = std::fs::read_to_string(s.data_dir().join("wireguard/peers.json")).unwrap();
    assert!(state.contains(&other_pub) && !state.contains(&server_private));
    s.stop_and_verify_deep(Duration::from_secs(120));
}

/// Prometheus' value of `name`, 0 when absent.
fn metric(s: &Server, name: &str) -> f64 {
    s.metrics().sum(name, &[])
}

#[test]
fn a_failing_or_garbled_wg_is_counted_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let garbled = dir.path().join("garbled");
    std::fs::write(&garbled, "#!/bin/sh\necho 'wg0\tnot-a-key\t(none)'\n").unwrap();
    std::fs::set_permissions(
        &garbled,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for command in [
        garbled.to_str().unwrap(),
        "/bin/false",
        "/nonexistent/wg show all dump",
    ] {
        let mut s = Server::start_with(&[
            ("PRAMAAN_WIREGUARD_INTERVAL", "100ms"),
            ("PRAMAAN_WIREGUARD_COMMAND", command),
        ]);
        wait_until(Duration::from_secs(30), "a failed poll counted", || {
            (metric(&s, "pramaan_wireguard_poll_errors_total") >= 2.0).then_some(())
        });
        assert_eq!(
            metric(&s, "pramaan_wireguard_polls_total"),
            0.0,
            "{command}"
        );
        assert!(lines(&s, "wireguard ").is_empty(), "{command}");
        s.stop();
        let log = s.stderr();
        assert_eq!(
            log.matches("WireGuard poll failed").count(),
            1,
            "said once for a run of failures ({command}): {log}"
        );
    }
}
