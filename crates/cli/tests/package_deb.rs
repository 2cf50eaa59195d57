//! The Debian package (`scripts/package`, `packaging/debian/`), made from the
//! binary under test:
//!
//! * its control data, conffiles, maintainer scripts and files (paths,
//!   modes, owners) as `dpkg-deb` reads them, and the systemd unit rated by
//!   `systemd-analyze security --offline=true` (exposure at most 2.0);
//! * the packaged binary and configuration, unpacked with `dpkg-deb -x`,
//!   serving on loopback under memory-deny-write-execute and printing the
//!   one-time admin password once;
//! * the package installed with `dpkg -i` on a Debian 12 booted with
//!   systemd as PID 1 in a throwaway container (`systemd-nspawn --boot
//!   --private-network` over a `debootstrap` tree, made once and kept in
//!   `target/tmp/`): postinst's user, directory and modes, the unit started
//!   with all its hardening, lines sent and found, restart, remove (data
//!   kept), reinstall (the edited conffile kept), purge (data deleted, and
//!   said). `packaging/debian/check-install` is what runs inside.
//!
//! The host is never installed on. Nothing here sends traffic anywhere but
//! 127.0.0.1 (the container has no network but its own loopback); the clock
//! monitor is off (`PRAMAAN_CLOCK_ENABLED=false`, in the container by a
//! drop-in). Only making the Debian tree, once, downloads from the Debian
//! mirror the machine's apt uses.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Packaging strips and compresses a debug binary of several hundred MB.
const PACKAGE_TIMEOUT: Duration = Duration::from_secs(600);
const T: Duration = Duration::from_secs(120);

/// The highest exposure `systemd-analyze security` may give the unit.
const MAX_EXPOSURE: f64 = 2.0;

/// A program the test needs, or a failure naming the Debian package that has it.
fn tool(name: &str, package: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!("{name} is missing (Debian package {package}): run scripts/test, which installs it")
    })
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `program args...`.
fn command(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn ok_run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.env("LC_ALL", "C.UTF-8");
    let o = run(cmd, None, timeout);
    assert!(o.success(), "{o:?}");
    o
}

/// `scripts/package --binary BIN` into `out`; the .deb's path.
fn build_package(out: &Path) -> PathBuf {
    tool("dpkg-deb", "dpkg");
    tool("dpkg-shlibdeps", "dpkg-dev");
    tool("strip", "binutils");
    std::fs::create_dir_all(out).unwrap();
    let mut c = Command::new(repo().join("scripts/package"));
    c.arg("--binary")
        .arg(BIN)
        .arg("--out")
        .arg(out)
        // Fast to compress; the format of the contents does not change.
        .args(["-Z", "gzip"])
        .env("TMPDIR", out);
    let o = ok_run(c, PACKAGE_TIMEOUT);
    let deb = PathBuf::from(o.stdout().lines().last().unwrap_or_default().trim());
    assert!(deb.is_file(), "scripts/package printed no .deb: {o:?}");
    deb
}

fn binary_version() -> String {
    let o = ok_run(command(BIN, &["--version"]), T);
    o.stdout()
        .split_whitespace()
        .nth(1)
        .expect("`pramaan --version` prints `pramaan VERSION`")
        .to_owned()
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let mut c = Command::new(tool("dpkg-deb", "dpkg"));
    c.args(args).arg(deb);
    ok_run(c, T).stdout()
}

/// One line of `dpkg-deb --contents` (tar's verbose listing).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    mode: String,
    owner: String,
}

fn contents(deb: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for line in dpkg_deb(&["--contents"], deb).lines() {
        // drwxr-xr-x root/root         0 2026-03-03 10:00 ./etc/pramaan/
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 6, "unexpected dpkg-deb --contents line: {line}");
        let path = f[5]
            .trim_start_matches('.')
            .trim_end_matches('/')
            .to_owned();
        if path.is_empty() {
            continue;
        }
        out.insert(
            path,
            Entry {
                mode: f[0].to_owned(),
                owner: f[1].to_owned(),
            },
        );
    }
    out
}

/// The value of `Field:` in control data.
fn field<'a>(control: &'a str, name: &str) -> &'a str {
    control
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name}: in the control data:\n{control}"))
        .trim()
}

#[test]
fn package_holds_the_binary_config_unit_and_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let version = binary_version();
    let arch = ok_run(command(tool("dpkg", "dpkg"), &["--print-architecture"]), T)
        .stdout()
        .trim()
        .to_owned();
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("pramaan_{version}_{arch}.deb")
    );

    // Control data: name, the binary's version, dependencies found by
    // dpkg-shlibdeps (glibc at least) and adduser for the postinst.
    let info = dpkg_deb(&["--info"], &deb);
    let control = dpkg_deb(&["--field"], &deb);
    assert_eq!(field(&control, "Package"), "pramaan");
    assert_eq!(field(&control, "Version"), version);
    assert_eq!(field(&control, "Architecture"), arch);
    let depends = field(&control, "Depends");
    assert!(depends.starts_with("adduser, "), "{depends}");
    assert!(depends.contains("libc6 (>= "), "{depends}");
    for script in ["postinst", "prerm", "postrm", "conffiles"] {
        assert!(
            info.contains(&format!(" {script} ")),
            "no {script}:\n{info}"
        );
    }

    // Debian's own checker finds nothing to warn about (one override, for
    // a false positive, is in packaging/debian/lintian-overrides).
    let mut c = command(
        tool("lintian", "lintian"),
        &["--fail-on", "error,warning", "--no-tag-display-limit"],
    );
    c.arg(&deb);
    let o = ok_run(c, T);
    assert!(
        !o.stdout().contains("W: ") && !o.stdout().contains("E: "),
        "{o:?}"
    );

    // Files: exactly these, owned by root in the archive (postinst gives
    // pramaan what it owns); the data directory is made by postinst.
    let files = contents(&deb);
    let want: &[(&str, &str)] = &[
        ("/etc", "drwxr-xr-x"),
        ("/etc/pramaan", "drwxr-xr-x"),
        ("/etc/pramaan/pramaan.toml", "-rw-r--r--"),
        ("/lib", "drwxr-xr-x"),
        ("/lib/systemd", "drwxr-xr-x"),
        ("/lib/systemd/system", "drwxr-xr-x"),
        ("/lib/systemd/system/pramaan.service", "-rw-r--r--"),
        ("/usr", "drwxr-xr-x"),
        ("/usr/bin", "drwxr-xr-x"),
        ("/usr/bin/pramaan", "-rwxr-xr-x"),
        ("/usr/share", "drwxr-xr-x"),
        ("/usr/share/doc", "drwxr-xr-x"),
        ("/usr/share/doc/pramaan", "drwxr-xr-x"),
        ("/usr/share/doc/pramaan/README.Debian", "-rw-r--r--"),
        ("/usr/share/doc/pramaan/README.md.gz", "-rw-r--r--"),
        ("/usr/share/doc/pramaan/changelog.gz", "-rw-r--r--"),
        ("/usr/share/doc/pramaan/configuration.md.gz", "-rw-r--r--"),
        ("/usr/share/doc/pramaan/copyright", "-rw-r--r--"),
        ("/usr/share/lintian", "drwxr-xr-x"),
        ("/usr/share/lintian/overrides", "drwxr-xr-x"),
        ("/usr/share/lintian/overrides/pramaan", "-rw-r--r--"),
        ("/usr/share/man", "drwxr-xr-x"),
        ("/usr/share/man/man1", "drwxr-xr-x"),
        ("/usr/share/man/man1/pramaan.1.gz", "-rw-r--r--"),
    ];
    let got: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, e)| (p.as_str(), e.mode.as_str()))
        .collect();
    assert_eq!(got, want);
    for (p, e) in &files {
        assert_eq!(e.owner, "root/root", "{p}");
    }

    // The one conffile.
    let root = dir.path().join("root");
    let ctl = dir.path().join("control");
    let mut c = Command::new(tool("dpkg-deb", "dpkg"));
    c.arg("-x").arg(&deb).arg(&root);
    ok_run(c, T);
    let mut c = Command::new(tool("dpkg-deb", "dpkg"));
    c.arg("-e").arg(&deb).arg(&ctl);
    ok_run(c, T);
    assert_eq!(
        std::fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/pramaan/pramaan.toml\n"
    );

    // Maintainer scripts: POSIX sh that parses; the user, directory, config
    // modes and the purge as the README says.
    for s in ["postinst", "prerm", "postrm"] {
        let mut c = Command::new("sh");
        c.arg("-n").arg(ctl.join(s));
        ok_run(c, T);
        assert!(
            std::fs::read_to_string(ctl.join(s))
                .unwrap()
                .starts_with("#!/bin/sh\n"),
            "{s}"
        );
    }
    let postinst = std::fs::read_to_string(ctl.join("postinst")).unwrap();
    for want in [
        "adduser --quiet --system --group --no-create-home --home \"$DATA\"",
        "--shell /usr/sbin/nologin",
        "install -d -o pramaan -g pramaan -m 0700 \"$DATA\"",
        "chown root:pramaan \"$CONF\"",
        "chmod 0640 \"$CONF\"",
        "deb-systemd-helper enable pramaan.service",
    ] {
        assert!(postinst.contains(want), "postinst lacks {want:?}");
    }
    let postrm = std::fs::read_to_string(ctl.join("postrm")).unwrap();
    assert!(postrm.contains("if [ \"$1\" = purge ]; then"), "{postrm}");
    assert!(postrm.contains("rm -rf \"$DATA\""), "{postrm}");
    assert!(
        postrm.contains("pramaan: purged: deleted $DATA"),
        "{postrm}"
    );

    // The unit: its hardening as systemd rates it, and the few settings a
    // rating does not show.
    let unit = root.join("lib/systemd/system/pramaan.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for want in [
        "User=pramaan",
        "ExecStart=/usr/bin/pramaan serve --config /etc/pramaan/pramaan.toml",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/pramaan\n",
        "CapabilityBoundingSet=\n",
        "UMask=0077",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
    ] {
        assert!(text.contains(want), "the unit lacks {want:?}");
    }
    let rw: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ReadWritePaths="))
        .collect();
    assert_eq!(rw, ["ReadWritePaths=/var/lib/pramaan"]);
    let exposure = exposure(&unit);
    assert!(
        exposure <= MAX_EXPOSURE,
        "systemd-analyze security rates the unit {exposure}, above {MAX_EXPOSURE}"
    );
    eprintln!("systemd-analyze security: overall exposure {exposure}");

    // The packaged configuration is every default but the data directory,
    // and the packaged binary reads it.
    let conf = root.join("etc/pramaan/pramaan.toml");
    let o = ok_run(
        {
            let mut c = command(root.join("usr/bin/pramaan"), &["--config"]);
            c.arg(&conf)
                .arg("config")
                .env_clear()
                .env("NO_COLOR", "1")
                .current_dir(dir.path());
            c
        },
        T,
    );
    let shown = o.stdout();
    let data_line = shown
        .lines()
        .find(|l| l.starts_with("data_dir = "))
        .unwrap_or_else(|| panic!("no data_dir in `pramaan config`:\n{shown}"));
    assert_eq!(
        data_line,
        format!("data_dir = \"/var/lib/pramaan\"  # from {}", conf.display())
    );
    let from_file: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("# from ") && l.contains("pramaan.toml"))
        .collect();
    assert_eq!(from_file, [data_line], "{shown}");
}

/// `systemd-analyze security --offline=true UNIT`'s overall exposure.
fn exposure(unit: &Path) -> f64 {
    let mut c = Command::new(tool("systemd-analyze", "systemd"));
    c.args(["security", "--offline=true", "--no-pager"])
        .arg(format!("--threshold={}", (MAX_EXPOSURE * 10.0) as u32))
        .arg(unit);
    let o = run(c, None, T);
    let value = parse_exposure(&o.stdout());
    // --threshold: it fails above MAX_EXPOSURE too.
    assert!(
        o.success(),
        "systemd-analyze security refused the unit: {o:?}"
    );
    value
}

/// The figure of `→ Overall exposure level for pramaan.service: 1.5 OK 🙂`.
fn parse_exposure(text: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for pramaan.service:"))
        .unwrap_or_else(|| panic!("no overall exposure from systemd-analyze:\n{text}"));
    line.split_once("pramaan.service:")
        .and_then(|(_, v)| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in {line:?}"))
}

/// Starts the unpacked binary with the unpacked configuration, the way the
/// unit does but on a temporary data directory and loopback ports, under
/// memory-deny-write-execute (`prctl(PR_SET_MDWE)`, set by a Python
/// launcher, kept across exec: the unit's MemoryDenyWriteExecute=yes).
#[test]
fn packaged_binary_serves_with_its_config_and_prints_the_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(dir.path());
    let root = dir.path().join("root");
    let mut c = Command::new(tool("dpkg-deb", "dpkg"));
    c.arg("-x").arg(&deb).arg(&root);
    ok_run(c, T);
    let bin = root.join("usr/bin/pramaan");
    let conf = root.join("etc/pramaan/pramaan.toml");
    let data = dir.path().join("data");

    let banner = "pramaan: created the user `admin` with the one-time password";
    let password_of = |out: &str| -> String {
        out.split(banner)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no password after the banner:\n{out}"))
            .to_owned()
    };
    let first = serve_once(dir.path(), &bin, &conf, &data, "1", |http, out| {
        // The printed password is the admin's, one-time (to be changed
        // first); a wrong one is no login at all.
        let me = |password: &str| {
            block_on(async {
                let r = bare()
                    .get(format!("http://{http}/api/v1/me"))
                    .basic_auth("admin", Some(password))
                    .send()
                    .await
                    .expect("GET /api/v1/me");
                (r.status().as_u16(), r.text().await.unwrap_or_default())
            })
        };
        let (status, body) = me(&password_of(out));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["must_change_password"], true, "{body}");
        assert_eq!(me("not-the-password").0, 401);
    });
    assert_eq!(first.matches(banner).count(), 1, "{first}");
    let password = password_of(&first);
    assert_eq!(password.chars().count(), 20, "{password:?}");
    assert_eq!(first.matches(&password).count(), 1, "{first}");

    // Restarted on the same data directory: the admin exists, nothing printed.
    let second = serve_once(dir.path(), &bin, &conf, &data, "2", |_, _| {});
    assert!(!second.contains(banner), "{second}");
    assert!(!second.contains(&password), "{second}");
}

/// One `serve` from start to SIGTERM: waits for the ready file, checks
/// `/healthz`, calls `check` with the HTTP address and the output so far,
/// stops it; returns what it wrote on stdout and stderr.
fn serve_once(
    dir: &Path,
    bin: &Path,
    conf: &Path,
    data: &Path,
    run_id: &str,
    check: impl FnOnce(&str, &str),
) -> String {
    let python = tool("python3", "python3");
    let ready = dir.join(format!("ready-{run_id}.json"));
    let out_path = dir.join(format!("serve-{run_id}.out"));
    let out = std::fs::File::create(&out_path).unwrap();
    // prctl(PR_SET_MDWE = 65, PR_MDWE_REFUSE_EXEC_GAIN = 1); then a
    // writable and executable mapping must be refused, or the check is void.
    let launcher = "import ctypes, mmap, os, sys\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        if libc.prctl(65, 1, 0, 0, 0) != 0:\n\
        \x20   sys.exit('prctl(PR_SET_MDWE) failed: ' + os.strerror(ctypes.get_errno()) + ' (Linux 6.3 or later needed)')\n\
        try:\n\
        \x20   mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n\
        \x20   sys.exit('PR_SET_MDWE did not refuse a writable and executable mapping')\n\
        except OSError:\n\
        \x20   pass\n\
        os.execv(sys.argv[1], sys.argv[1:])\n";
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(launcher).arg(bin);
    cmd.args(["--config"])
        .arg(conf)
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--syslog-udp-listen", "127.0.0.1:0"])
        .args(["--syslog-tcp-listen", "127.0.0.1:0"])
        .arg("--ready-file")
        .arg(&ready)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        // Never ask the real NIC/NPL NTP servers from a test.
        .env("PRAMAAN_CLOCK_ENABLED", "false")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut child = cmd
        .spawn()
        .expect("start python3 with the packaged pramaan");
    let read_out = || std::fs::read_to_string(&out_path).unwrap_or_default();
    let started = Instant::now();
    let http = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                break v["http"]
                    .as_str()
                    .expect("http in the ready file")
                    .to_owned();
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "serve exited ({status}) before it was ready:\n{}",
                read_out()
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            let _ = child.kill();
            panic!("serve wrote no ready file:\n{}", read_out());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let health = http_get(&format!("http://{http}/healthz"), &[]).expect("GET /healthz");
    assert_eq!((health.status, health.text().trim()), (200, "ok"));
    check(&http, &read_out());

    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not stop within 60 s of SIGTERM:\n{}", read_out());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = read_out();
    assert!(status.success(), "serve exited {status}:\n{text}");
    text
}

/// The Debian release the package is built on and for.
const SUITE: &str = "bookworm";

/// A minimal Debian tree with systemd, made by debootstrap on first use and
/// kept (with a `.complete` mark) in the tests' target directory.
fn debian_tree() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("debian-{SUITE}-systemd"));
    if base.join(".complete").is_file() {
        return base;
    }
    let debootstrap = tool("debootstrap", "debootstrap");
    let mirror = std::env::var("PRAMAAN_TEST_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let partial = base.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).unwrap();
    }
    if base.exists() {
        std::fs::remove_dir_all(&base).unwrap();
    }
    eprintln!(
        "making a Debian {SUITE} tree with debootstrap from {mirror} in {} (once)",
        base.display()
    );
    let mut c = Command::new(debootstrap);
    c.args([
        "--variant=minbase",
        "--include=systemd,systemd-sysv,dbus,adduser,curl,ca-certificates",
        SUITE,
    ])
    .arg(&partial)
    .arg(&mirror);
    ok_run(c, Duration::from_secs(900));
    std::fs::write(partial.join(".complete"), "").unwrap();
    std::fs::rename(&partial, &base).unwrap();
    base
}

#[test]
fn package_installs_serves_and_purges_on_a_booted_debian() {
    let nspawn = tool("systemd-nspawn", "systemd-container");
    let uid = ok_run(command("id", &["-u"]), T).stdout();
    assert_eq!(
        uid.trim(),
        "0",
        "booting a container with systemd-nspawn needs root (as scripts/test runs in CI)"
    );
    let tree = debian_tree();
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let deb = build_package(&pkg);
    std::fs::copy(
        repo().join("packaging/debian/check-install"),
        pkg.join("check-install"),
    )
    .unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // A copy of the tree for this run alone, with a unit that runs the
    // check once the system is up and then powers the container off.
    let root = dir.path().join("root");
    let mut c = Command::new("cp");
    c.arg("-a").arg(&tree).arg(&root);
    ok_run(c, T);
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(
        root.join("etc/systemd/system/pkgtest.service"),
        format!(
            "[Unit]\nDescription=pramaan package test\n\n[Service]\nType=oneshot\n\
             ExecStart=/bin/sh /pkgtest/check-install /pkgtest/{name} /pkgtest-out\n\
             ExecStopPost=/bin/systemctl --no-block poweroff\nTimeoutStartSec=480\n\n\
             [Install]\nWantedBy=multi-user.target\n"
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "/etc/systemd/system/pkgtest.service",
        root.join("etc/systemd/system/multi-user.target.wants/pkgtest.service"),
    )
    .unwrap();

    let mut c = Command::new(nspawn);
    c.args([
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--private-network",
    ])
    .arg("--directory")
    .arg(&root)
    .arg(format!("--bind-ro={}:/pkgtest", pkg.display()))
    .arg(format!("--bind={}:/pkgtest-out", out.display()))
    .arg("--boot");
    let booted = run(c, None, Duration::from_secs(600));
    let log = std::fs::read_to_string(out.join("log")).unwrap_or_default();
    let result = std::fs::read_to_string(out.join("result")).unwrap_or_default();
    eprintln!("check-install's log:\n{log}");
    assert_eq!(
        result.trim(),
        "PASS",
        "check-install in the container:\n{log}\n--- the container's console:\n{booted:?}"
    );

    // The unit as systemd loaded it, drop-in included.
    let security = std::fs::read_to_string(out.join("security")).unwrap();
    let value = parse_exposure(&security);
    eprintln!("systemd-analyze security, in the booted container: {value}");
    assert!(value <= MAX_EXPOSURE, "{security}");
}
