//! IPsec virtual IPs at the source, end to end: a real strongSwan gateway
//! (charon 5.9, Debian `strongswan-charon`, configured over vici with
//! `swanctl`, Debian `strongswan-swanctl`) hands addresses from its pools to
//! two real road-warrior charons, alice and bob, each in a network namespace
//! made here; `serve` follows the gateway's log file (`files.paths`), named
//! as a session source with the `ipsec` parser, and `whois` names the IKE
//! identity that held each address: until alice's client deletes its SA, and
//! until the gateway's dead-peer detection finds bob's client killed.
//!
//! This kernel has XFRM but no ESP, so no CHILD_SA can be installed: the
//! clients negotiate the IKE_SA only (`childless = force`, RFC 6023), which is
//! where the virtual IP is assigned. Each charon has its own configuration
//! (`STRONGSWAN_CONF`), vici socket and, under `unshare --mount`, its own
//! `/run` for the pid file it cannot be told to put elsewhere. No packet
//! leaves the namespaces.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const CHARON: &str = "/usr/lib/ipsec/charon";
const PLUGINS: &str = "random nonce aes sha1 sha2 md5 hmac kdf gmp drbg pem pkcs1 x509 pubkey \
    revocation constraints kernel-netlink socket-default vici updown";

/// The gateway (10.88.0.1 on a bridge) and a namespace per client, each
/// on the bridge by a veth pair made inside the gateway's namespace;
/// the charons killed and the namespaces removed when dropped.
struct Site {
    dir: PathBuf,
    id: u32,
    charons: Vec<(String, Child)>,
}

impl Site {
    fn new(dir: &Path) -> Site {
        let site = Site {
            dir: dir.to_owned(),
            id: std::process::id() % 100_000,
            charons: Vec::new(),
        };
        let gw = site.ns("gw");
        site.prepare(&gw);
        ip(&["-n", &gw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &gw, "link", "set", "br0", "addrgenmode", "none"]);
        ip(&["-n", &gw, "addr", "add", "10.88.0.1/24", "dev", "br0"]);
        ip(&["-n", &gw, "link", "set", "br0", "up"]);
        for (client, addr) in [("alice", "10.88.0.2/24"), ("bob", "10.88.0.3/24")] {
            let ns = site.ns(client);
            site.prepare(&ns);
            let v = format!("v-{client}");
            ip(&[
                "-n", &gw, "link", "add", &v, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["-n", &gw, "link", "set", &v, "addrgenmode", "none"]);
            ip(&["-n", &ns, "link", "set", "eth0", "addrgenmode", "none"]);
            ip(&["-n", &gw, "link", "set", &v, "master", "br0", "up"]);
            ip(&["-n", &ns, "addr", "add", addr, "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        site
    }

    fn ns(&self, name: &str) -> String {
        format!("pipsec-{name}-{}", self.id)
    }

    /// A fresh namespace; no link-local IPv6 addresses, whose arrival would
    /// make charon start MOBIKE updates.
    fn prepare(&self, ns: &str) {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
        ip(&["netns", "add", ns]);
        let o = Command::new(program("ip", "iproute2"))
            .args(["netns", "exec", ns, "sysctl", "-qw"])
            .args([
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.addr_gen_mode=1",
            ])
            .output()
            .expect("sysctl runs");
        assert!(o.status.success(), "sysctl in {ns}: {o:?}");
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    fn conf(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("strongswan.conf")
    }

    fn vici(&self, name: &str) -> String {
        format!(
            "unix://{}",
            self.dir.join(name).join("charon.vici").display()
        )
    }

    /// Writes `name`'s strongswan.conf (its log at `<dir>/<name>/charon.log`)
    /// and swanctl.conf.
    fn configure(&self, name: &str, extra: &str, swanctl: &str) {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let conf = format!(
            "charon {{\n  load = {PLUGINS}\n  plugins {{\n    vici {{\n      socket = {vici}\n    }}\n  }}\n  \
             filelog {{\n    main {{\n      path = {log}\n      time_format = %Y-%m-%dT%H:%M:%S%z\n      \
             time_add_ms = yes\n      ike_name = yes\n      append = no\n      flush_line = yes\n      default = 1\n    }}\n  }}\n{extra}\n}}\n\
             swanctl {{\n  load = pem pkcs1 x509 pubkey revocation constraints random nonce aes sha1 sha2 gmp hmac\n}}\n",
            vici = self.vici(name),
            log = d.join("charon.log").display(),
        );
        std::fs::write(self.conf(name), conf).unwrap();
        std::fs::write(d.join("swanctl.conf"), swanctl).unwrap();
    }

    /// `swanctl ARGS` against `name`'s charon; its output.
    fn swanctl(&self, name: &str, args: &[&str]) -> Result<String, String> {
        let o = Command::new(program("swanctl", "strongswan-swanctl"))
            .args(args)
            .args(["--uri", &self.vici(name)])
            .env("STRONGSWAN_CONF", self.conf(name))
            .output()
            .expect("swanctl runs");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() {
            Ok(out)
        } else {
            Err(format!("{out}{}", String::from_utf8_lossy(&o.stderr)))
        }
    }

    /// Starts `name`'s charon in namespace `ns` (its own /run) and loads its
    /// connections, secrets and pools.
    fn start(&mut self, name: &str, ns: &str) {
        assert!(
            Path::new(CHARON).exists(),
            "{CHARON} is not installed (Debian package strongswan-charon): {TEST_COMMAND_HINT}"
        );
        let child = Command::new(program("ip", "iproute2"))
            .args([
                "netns",
                "exec",
                ns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
            ])
            .args([
                "/bin/sh",
                "-c",
                "mount -t tmpfs -o mode=0755 tmpfs /run && exec \"$@\"",
                "sh",
            ])
            .arg(CHARON)
            .env("STRONGSWAN_CONF", self.conf(name))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("charon starts");
        self.charons.push((name.to_owned(), child));
        wait_until(Duration::from_secs(30), &format!("{name}'s charon"), || {
            self.swanctl(name, &["--stats"]).ok()
        });
        let file = self.dir.join(name).join("swanctl.conf");
        let loaded = self.swanctl(
            name,
            &["--load-all", "--noprompt", "--file", file.to_str().unwrap()],
        );
        assert!(loaded.is_ok(), "loading {name}'s configuration: {loaded:?}");
    }

    /// A client's connection to the gateway; its virtual IPs.
    fn connect(&self, client: &str) -> Vec<String> {
        let r = self.swanctl(client, &["--initiate", "--ike", "home", "--timeout", "30"]);
        assert!(r.is_ok(), "{client} connects: {r:?}");
        let raw = self
            .swanctl(client, &["--list-sas", "--ike", "home", "--raw"])
            .unwrap();
        let vips = raw
            .split("local-vips=[")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or_else(|| panic!("{client} got no virtual IP: {raw}"));
        vips.split_whitespace().map(str::to_owned).collect()
    }

    fn kill(&mut self, name: &str) {
        for (n, c) in &mut self.charons {
            if n == name {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for (_, c) in &mut self.charons {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in ["gw", "alice", "bob"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(n)])
                .output();
        }
    }
}

const GATEWAY: &str = "connections {
    rw {
        version = 2
        local_addrs = 10.88.0.1
        pools = pool4, pool6
        dpd_delay = 2s
        local { auth = psk
            id = gw.example.net }
        remote { auth = psk }
        children { net { local_ts = 10.88.0.0/24 } }
    }
}
pools {
    pool4 { addrs = 10.3.0.0/28 }
    pool6 { addrs = fd00:3::/124 }
}
secrets {
    ike-alice { id = alice@example.net
        secret = alice-secret-0123456789 }
    ike-bob { id = bob@example.net
        secret = bob-secret-0123456789 }
}
";

fn client(name: &str) -> String {
    format!(
        "connections {{
    home {{
        version = 2
        remote_addrs = 10.88.0.1
        vips = 0.0.0.0, ::
        childless = force
        local {{ auth = psk
            id = {name}@example.net }}
        remote {{ auth = psk
            id = gw.example.net }}
        children {{ home {{ remote_ts = 10.88.0.0/24 }} }}
    }}
}}
secrets {{
    ike-{name} {{ id-1 = {name}@example.net
        id-2 = gw.example.net
        secret = {name}-secret-0123456789 }}
}}
"
    )
}

#[test]
fn a_virtual_ip_names_its_ike_identity_until_the_sa_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut site = Site::new(dir.path());
    // Dead-peer detection in about 5 s: 2 retransmits, from 1 s, times 1.5.
    site.configure(
        "gw",
        "  retransmit_tries = 2\n  retransmit_timeout = 1\n  retransmit_base = 1.5\n",
        GATEWAY,
    );
    for c in ["alice", "bob"] {
        site.configure(c, "", &client(c));
    }
    site.start("gw", &site.ns("gw"));
    let log = dir.path().join("gw").join("charon.log");
    let path = log.to_str().unwrap();
    let sources = format!(r#"[{{ file = "{path}", parsers = ["ipsec"] }}]"#);
    let mut s = Server::start_with(&[
        ("PRAMAAN_FILES_PATHS", path),
        ("PRAMAAN_FILES_POLL_INTERVAL", "20ms"),
        ("PRAMAAN_ATTRIBUTION_SOURCES", &sources),
    ]);
    site.start("alice", &site.ns("alice"));
    site.start("bob", &site.ns("bob"));

    let alice = site.connect("alice");
    assert_eq!(alice, ["10.3.0.1", "fd00:3::1"], "alice's virtual IPs");
    let a = s.wait_for_holder("10.3.0.1", "alice@example.net");
    let what = a["matches"][0]["source"]["what"]
        .as_str()
        .unwrap_or_default();
    assert!(
        what.starts_with("IPsec virtual IP (strongSwan), IKE_SA rw|1"),
        "{a}"
    );
    s.wait_for_holder("fd00:3::1", "alice@example.net");
    // The evidence is the gateway's own line, byte for byte.
    let ev = a["matches"][0]["evidence"][0].as_u64().expect("evidence");
    let line = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .find(|l| l.ends_with("assigning virtual IP 10.3.0.1 to peer 'alice@example.net'"))
        .expect("the assignment in the gateway's log")
        .to_owned();
    let hits = s.search_all_of(&[("q", "assigning virtual IP 10.3.0.1")]);
    assert_eq!(
        hits.iter()
            .map(|h| (h.seq, h.raw_text()))
            .collect::<Vec<_>>(),
        vec![(ev, line)]
    );

    let bob = site.connect("bob");
    assert_eq!(bob[0], "10.3.0.2", "bob's virtual IPs: {bob:?}");
    s.wait_for_holder("10.3.0.2", "bob@example.net");
    s.wait_for_holder("10.3.0.1", "alice@example.net");

    // Alice's client deletes its SA: the gateway's lease goes offline.
    let while_on = now_text();
    std::thread::sleep(Duration::from_millis(50));
    let r = site.swanctl(
        "alice",
        &["--terminate", "--ike", "home", "--timeout", "30"],
    );
    assert!(r.is_ok(), "alice terminates: {r:?}");
    s.wait_until_nobody_holds("10.3.0.1");
    s.wait_until_nobody_holds("fd00:3::1");
    let then = s.whois("10.3.0.1", &while_on);
    assert_eq!(
        then["matches"][0]["subscriber"], "alice@example.net",
        "{then}"
    );
    assert_eq!(
        then["matches"][0]["evidence"].as_array().map(Vec::len),
        Some(2),
        "{then}"
    );
    s.wait_for_holder("10.3.0.2", "bob@example.net");

    // Bob's client dies without a word: dead-peer detection ends his lease.
    site.kill("bob");
    s.wait_until_nobody_holds("10.3.0.2");
    s.stop_and_verify_deep(Duration::from_secs(120));
}
