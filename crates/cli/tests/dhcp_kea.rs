//! DHCP leases at the source, end to end: real DHCP servers run in a network
//! namespace made here and grant leases to the real ISC `dhclient` in a
//! second one, over a veth pair between them, and `serve` follows what the
//! server writes (`files.paths`), the file named as a session source
//! (`attribution.sources`, `file`); `whois` then names the client:
//!
//! * ISC Kea's DHCPv4 server (kea-dhcp4-server) and its lease file: the
//!   client's hardware address holds the address, the lease-file rows are
//!   the evidence, and after the client releases it nobody holds it;
//! * Kea's DHCPv6 server (kea-dhcp6-server) delegating a /56 prefix: the
//!   client's DUID holds every address inside it;
//! * dnsmasq and its log file (`DHCPACK(...)`, `DHCPRELEASE(...)`).
//!
//! No packet leaves the two namespaces.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

/// The client's hardware address, set on its end of the veth pair.
const CLIENT_MAC: &str = "02:00:5e:77:00:02";
const SERVER_ADDR: &str = "10.77.0.1";

/// Two namespaces joined by a veth pair, the server's end 10.77.0.1/24;
/// removed (with Kea and dhclient) when dropped.
struct Lan {
    server_ns: String,
    client_ns: String,
    server_if: String,
    client_if: String,
    children: Vec<Child>,
    /// dhclient's pid file: once bound it goes on in the background.
    dhclient_pid: Option<PathBuf>,
}

impl Lan {
    /// `tag` tells apart the tests of this file (they may run at once).
    fn new(tag: char) -> Lan {
        let id = std::process::id() % 100_000;
        let lan = Lan {
            server_ns: format!("pkea-s{tag}-{id}"),
            client_ns: format!("pkea-c{tag}-{id}"),
            server_if: format!("pks{tag}{id}"),
            client_if: format!("pkc{tag}{id}"),
            children: Vec::new(),
            dhclient_pid: None,
        };
        for ns in [&lan.server_ns, &lan.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
        }
        ip(&[
            "link",
            "add",
            &lan.server_if,
            "type",
            "veth",
            "peer",
            "name",
            &lan.client_if,
            "address",
            CLIENT_MAC,
        ]);
        ip(&["link", "set", &lan.server_if, "netns", &lan.server_ns]);
        ip(&["link", "set", &lan.client_if, "netns", &lan.client_ns]);
        ip(&[
            "-n",
            &lan.server_ns,
            "addr",
            "add",
            &format!("{SERVER_ADDR}/24"),
            "dev",
            &lan.server_if,
        ]);
        ip(&[
            "-n",
            &lan.server_ns,
            "addr",
            "add",
            "2001:db8:77::1/64",
            "dev",
            &lan.server_if,
            "nodad",
        ]);
        for (ns, dev) in [
            (&lan.server_ns, &lan.server_if),
            (&lan.client_ns, &lan.client_if),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // DHCPv6 goes from and to link-local addresses: wait until both are usable.
        for (ns, dev) in [
            (&lan.server_ns, &lan.server_if),
            (&lan.client_ns, &lan.client_if),
        ] {
            wait_until(Duration::from_secs(30), "a link-local IPv6 address", || {
                let o = Command::new("ip")
                    .args(["-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"])
                    .output()
                    .ok()?;
                let t = String::from_utf8_lossy(&o.stdout).into_owned();
                (t.contains("inet6") && !t.contains("tentative")).then_some(())
            });
        }
        lan
    }

    /// Starts `prog` with `args` in the server's namespace.
    fn serve(&mut self, dir: &Path, prog: &Path, args: &[&std::ffi::OsStr]) {
        let child = self
            .in_ns(&self.server_ns.clone(), prog)
            .args(args)
            .env("KEA_PIDFILE_DIR", dir)
            .env("KEA_LOCKFILE_DIR", dir)
            // India's time, as the servers of the providers pramaan serves
            // keep it: their log stamps carry no zone (syslog.default_timezone).
            .env("TZ", "IST-5:30")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", prog.display()));
        self.children.push(child);
    }

    fn in_ns(&self, ns: &str, prog: &Path) -> Command {
        let mut c = Command::new(program("ip", "iproute2"));
        c.args(["netns", "exec", ns]).arg(prog);
        c
    }

    /// Starts Kea in the server's namespace, its lease file `leases`.
    fn start_kea(&mut self, dir: &Path, leases: &Path) {
        let conf = dir.join("kea-dhcp4.conf");
        let config = serde_json::json!({ "Dhcp4": {
            "interfaces-config": { "interfaces": [ self.server_if ], "dhcp-socket-type": "raw" },
            "lease-database": { "type": "memfile", "persist": true,
                "name": leases, "lfc-interval": 0 },
            "valid-lifetime": 600, "renew-timer": 300, "rebind-timer": 450,
            "subnet4": [ { "id": 7, "subnet": "10.77.0.0/24",
                "pools": [ { "pool": "10.77.0.100 - 10.77.0.150" } ] } ],
            "loggers": [ { "name": "kea-dhcp4", "severity": "INFO",
                "output_options": [ { "output": dir.join("kea.log") } ] } ]
        }});
        std::fs::write(&conf, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let kea = program("kea-dhcp4", "kea-dhcp4-server");
        self.serve(dir, &kea, &["-c".as_ref(), conf.as_os_str()]);
        wait_until(Duration::from_secs(30), "Kea's lease file", || {
            leases.exists().then_some(())
        });
    }

    /// Starts Kea's DHCPv6 server, delegating /56 prefixes of 2001:db8:7700::/40.
    fn start_kea6(&mut self, dir: &Path, leases: &Path) {
        let conf = dir.join("kea-dhcp6.conf");
        let config = serde_json::json!({ "Dhcp6": {
            "interfaces-config": { "interfaces": [ self.server_if ] },
            "lease-database": { "type": "memfile", "persist": true,
                "name": leases, "lfc-interval": 0 },
            "server-id": { "type": "LLT", "persist": false },
            "valid-lifetime": 600, "preferred-lifetime": 500,
            "renew-timer": 300, "rebind-timer": 450,
            "subnet6": [ { "id": 9, "subnet": "2001:db8:77::/64", "interface": self.server_if,
                "pools": [ { "pool": "2001:db8:77::100-2001:db8:77::1ff" } ],
                "pd-pools": [ { "prefix": "2001:db8:7700::", "prefix-len": 40,
                    "delegated-len": 56 } ] } ],
            "loggers": [ { "name": "kea-dhcp6", "severity": "INFO",
                "output_options": [ { "output": dir.join("kea6.log") } ] } ]
        }});
        std::fs::write(&conf, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let kea = program("kea-dhcp6", "kea-dhcp6-server");
        self.serve(dir, &kea, &["-c".as_ref(), conf.as_os_str()]);
        wait_until(Duration::from_secs(30), "Kea's DHCPv6 lease file", || {
            leases.exists().then_some(())
        });
    }

    /// Starts dnsmasq as a DHCP server only (no DNS), logging to `log`.
    fn start_dnsmasq(&mut self, dir: &Path, log: &Path) {
        let prog = program("dnsmasq", "dnsmasq-base");
        let iface = format!("--interface={}", self.server_if);
        let log_to = format!("--log-facility={}", log.display());
        let leases = format!("--dhcp-leasefile={}", dir.join("dnsmasq.leases").display());
        let pid = format!("--pid-file={}", dir.join("dnsmasq.pid").display());
        let args: Vec<&str> = vec![
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            &iface,
            "--bind-interfaces",
            "--dhcp-range=10.77.0.160,10.77.0.170,10m",
            &leases,
            &log_to,
            &pid,
            "--user=root",
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        self.serve(dir, &prog, &args);
        wait_until(Duration::from_secs(30), "dnsmasq's log", || {
            std::fs::read_to_string(log)
                .ok()
                .filter(|t| t.contains("DHCP, sockets bound"))
                .map(|_| ())
        });
    }

    /// `dhclient` once in the client's namespace (`-r`: release); its
    /// script does nothing, so the host's resolv.conf is left alone.
    fn dhclient(&mut self, dir: &Path, extra: &[&str]) -> String {
        let prog = program("dhclient", "isc-dhcp-client");
        let pid = dir.join("dhclient.pid");
        self.dhclient_pid = Some(pid.clone());
        let mut c = self.in_ns(&self.client_ns, &prog);
        c.args(["-v", "-pf"])
            .arg(&pid)
            .arg("-lf")
            .arg(dir.join("dhclient.leases"))
            .args(["-sf", "/bin/true"])
            .args(extra)
            .arg(&self.client_if);
        let o = run(c, None, Duration::from_secs(60));
        assert!(o.success(), "dhclient {extra:?}: {o:?}");
        format!("{}{}", o.stdout(), o.stderr)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let pid = self
            .dhclient_pid
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok());
        if let Some(pid) = pid {
            let _ = Command::new("kill").arg(pid.trim()).output();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A server following `file`, whose lines the DHCP parser may read.
fn follower(file: &Path) -> Server {
    let path = file.to_str().unwrap();
    let sources = format!(r#"[{{ file = "{path}", parsers = ["dhcp"] }}]"#);
    Server::start_with(&[
        ("PRAMAAN_FILES_PATHS", path),
        ("PRAMAAN_FILES_POLL_INTERVAL", "20ms"),
        ("PRAMAAN_ATTRIBUTION_SOURCES", &sources),
    ])
}

/// The client releases `addr` (from `addr` itself, as a client does); once
/// the release joins the binding's evidence, the client held it at `at`
/// and nobody holds it now.
fn release(lan: &mut Lan, dir: &Path, s: &Server, addr: &str, at: &str) {
    ip(&[
        "-n",
        &lan.client_ns.clone(),
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        &lan.client_if.clone(),
    ]);
    lan.dhclient(dir, &["-r"]);
    let before = wait_until(
        Duration::from_secs(60),
        "the release in the evidence",
        || {
            let a = s.whois(addr, at);
            (a["matches"][0]["evidence"].as_array().map(Vec::len) == Some(2)).then_some(a)
        },
    );
    assert_eq!(
        before["count"], 1,
        "before the release, the client held it: {before}"
    );
    let after = now_text();
    let a = s.whois(addr, &after);
    assert_eq!(a["count"], 0, "nobody holds {addr} after the release: {a}");
}

/// The client asks for a lease; once `serve` has read it, `whois` names the
/// client, the binding's source starting with `source`. The address, the
/// instant asked about, and the answer.
fn lease_is_named(lan: &mut Lan, dir: &Path, s: &Server, source: &str) -> (String, String, Value) {
    let addr = granted(&lan.dhclient(dir, &["-1"]), "DHCPACK of ");
    let at = now_text();
    let a = wait_for_holder(s, &addr, &at);
    let m = &a["matches"][0];
    assert_eq!(m["subscriber"], CLIENT_MAC, "{a}");
    let what = m["source"]["what"].as_str().unwrap_or_default();
    assert!(what.starts_with(source), "{what}: {a}");
    (addr, at, a)
}

#[test]
fn a_lease_granted_by_kea_names_its_client_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("kea-leases4.csv");
    let mut lan = Lan::new('4');
    lan.start_kea(dir.path(), &leases);
    let mut s = follower(&leases);
    let (granted, at, a) = lease_is_named(&mut lan, dir.path(), &s, "DHCP lease, Kea subnet 7");
    let m = &a["matches"][0];
    // The evidence is the lease-file row, as Kea wrote it, from the file.
    let rows: Vec<String> = std::fs::read_to_string(&leases)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(&format!("{granted},{CLIENT_MAC},")))
        .map(str::to_owned)
        .collect();
    assert_eq!(rows.len(), 1, "one row for the grant: {rows:?}");
    let ev = m["evidence"][0].as_u64().expect("evidence");
    let hits = s.search_all_of(&[("q", rows[0].as_str())]);
    assert_eq!(hits.len(), 1, "the row is stored once");
    assert_eq!(hits[0].seq, ev);
    assert_eq!(hits[0].raw_text(), rows[0]);
    assert_eq!(m["source"]["records"][0]["transport"], "file", "{a}");

    // Kea's release row is the binding's end and joins its evidence.
    release(&mut lan, dir.path(), &s, &granted, &at);
    assert!(
        std::fs::read_to_string(&leases)
            .unwrap()
            .contains(&format!("{granted},{CLIENT_MAC},,0,")),
        "Kea wrote the release as a row of lifetime 0"
    );
    s.stop();
}

/// The grant of a `dhclient` run: the address after `prefix` on its output.
fn granted(out: &str, prefix: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("dhclient got nothing ({prefix}): {out}"))
        .trim_end_matches('.')
        .to_owned()
}

fn wait_for_holder(s: &Server, ip: &str, at: &str) -> Value {
    wait_until(
        Duration::from_secs(60),
        &format!("a holder of {ip}"),
        || {
            let a = s.whois(ip, at);
            (a["count"] == 1).then_some(a)
        },
    )
}

#[test]
fn a_prefix_delegated_by_kea_names_the_clients_duid() {
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("kea-leases6.csv");
    let mut lan = Lan::new('6');
    lan.start_kea6(dir.path(), &leases);
    let mut s = follower(&leases);
    // -P: a delegated prefix only.
    lan.dhclient(dir.path(), &["-6", "-1", "-P"]);
    let row = wait_until(Duration::from_secs(30), "the delegation's row", || {
        std::fs::read_to_string(&leases)
            .unwrap()
            .lines()
            .find(|l| l.split(',').nth(6) == Some("2"))
            .map(str::to_owned)
    });
    let f: Vec<&str> = row.split(',').collect();
    let (prefix, duid) = (format!("{}/{}", f[0], f[8]), f[1].to_owned());
    assert!(
        prefix.starts_with("2001:db8:77") && prefix.ends_with("/56"),
        "{row}"
    );
    // An address deep inside the delegated /56, and the first of the next /56.
    let net = u128::from(f[0].parse::<std::net::Ipv6Addr>().unwrap());
    let inside = std::net::Ipv6Addr::from(net | 0xab_0001_0002_0003_0004).to_string();
    let outside = std::net::Ipv6Addr::from(net + (1u128 << 72)).to_string();
    let at = now_text();
    let a = wait_for_holder(&s, &inside, &at);
    let m = &a["matches"][0];
    // Kea writes the client's hardware address beside its DUID when it knows it.
    let holder = m["subscriber"].as_str().unwrap();
    assert!(
        holder == CLIENT_MAC || holder == format!("duid {duid}"),
        "{holder} holds {prefix}: {a}"
    );
    assert_eq!(m["binding"]["net"], prefix.as_str(), "{a}");
    assert_eq!(
        s.whois(&outside, &at)["count"],
        0,
        "{outside} is not delegated"
    );
    s.stop();
}

#[test]
fn a_dnsmasq_lease_in_its_log_names_the_client_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("dnsmasq.log");
    let mut lan = Lan::new('d');
    lan.start_dnsmasq(dir.path(), &log);
    let mut s = follower(&log);
    let (addr, at, a) = lease_is_named(&mut lan, dir.path(), &s, "DHCP lease, dnsmasq on ");
    let m = &a["matches"][0];
    // The evidence is dnsmasq's own DHCPACK line, from its log file.
    let ev = m["evidence"][0].as_u64().expect("evidence");
    let hits = s.search_all_of(&[("q", addr.as_str())]);
    let line = hits
        .iter()
        .find(|h| h.seq == ev)
        .expect("the evidence record");
    assert!(
        line.raw_text().contains("DHCPACK(") && line.raw_text().contains(CLIENT_MAC),
        "{}",
        line.raw_text()
    );
    release(&mut lan, dir.path(), &s, &addr, &at);
    s.stop();
}
