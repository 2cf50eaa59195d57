//! The web console, end to end: the real `pramaan serve`, driven by Debian's
//! chromium through chromedriver (fantoccini), as a person would use it; and
//! every page fetched over plain HTTP with a session cookie, as a browser
//! with JavaScript off would.
//!
//! Screenshots of each page go to `<target>/console-screenshots/`.
//! `scripts/test` installs chromium and chromium-driver; without
//! `chromedriver` the browser test fails and says so.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const ADMIN_PASSWORD: &str = "console-test-password-1";
const DAY_NS: i64 = 86_400_000_000_000;
const IST_NS: i64 = 19_800_000_000_000;

fn screenshots_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("console-screenshots");
    std::fs::create_dir_all(&d).expect("the screenshots directory");
    d
}

/// RFC 3339 in IST at 10:00 on the IST day `days_ago` days before today.
fn ist_ten_am(days_ago: i64) -> String {
    let now = pramaan_core_now();
    let day = (now + IST_NS).div_euclid(DAY_NS) - days_ago;
    // Civil date from days (proleptic Gregorian), to avoid a dependency for one line.
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}T10:00:00+05:30")
}

fn day_label(days_ago: i64) -> String {
    ist_ten_am(days_ago)[..10].to_owned()
}

fn pramaan_core_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Howard Hinnant's days-to-civil.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `fw1` sends lines 3 days ago, 1 day ago and today: 2 days ago is its gap.
/// `vpn-gw` sends every day but today. 120 lines in all.
fn seed(s: &Server) {
    let mut lines = Vec::new();
    for (days_ago, n, host) in [
        (3, 5, "fw1"),
        (1, 30, "fw1"),
        (0, 70, "fw1"),
        (4, 3, "vpn-gw"),
        (3, 3, "vpn-gw"),
        (2, 3, "vpn-gw"),
        (1, 6, "vpn-gw"),
    ] {
        for i in 0..n {
            lines.push(format!(
                "<134>1 {} {host} sshd 100 - - Failed password for root from 203.0.113.{} port {}",
                ist_ten_am(days_ago),
                i % 250,
                40_000 + i
            ));
        }
    }
    s.ingest_lines(&lines);
    // One binding for whois.
    let csv = s.dir.path().join("bindings.csv");
    std::fs::write(
        &csv,
        "ip,port_start,port_end,start_utc,end_utc,subscriber_id,session_id\n\
         203.0.112.1,1024,2023,2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,sub-42,1\n",
    )
    .unwrap();
    let r = s.post(
        "/api/v1/whois/import-bindings",
        &[("content-type", "text/csv")],
        std::fs::read(&csv).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `chromedriver` ({e}). The console's browser test needs Debian's \
                 chromium and chromium-driver: apt-get install chromium chromium-driver \
                 (scripts/test installs them)"
            )
        });
    let d = Driver { child, port };
    wait_until(Duration::from_secs(60), "chromedriver listening", || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    d
}

async fn browser(d: &Driver) -> Client {
    browser_saving_to(d, None).await
}

/// A browser that saves downloads, without asking, in `downloads`.
async fn browser_saving_to(d: &Driver, downloads: Option<&std::path::Path>) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    let mut opts = json!({
        "binary": "/usr/bin/chromium",
        // Runs as root in CI: no sandbox. A laptop-sized window.
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,1600"],
    });
    if let Some(dir) = downloads {
        opts["prefs"] = json!({
            "download.default_directory": dir,
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
        });
    }
    caps.insert("goog:chromeOptions".into(), opts);
    let conn = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(conn)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a chromium session through chromedriver")
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    let url = c.current_url().await.ok();
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!(
            "no `{css}` on {url:?}: {e}\n{}",
            c.source().await.unwrap_or_default()
        ),
    }
}

async fn fill(c: &Client, css: &str, v: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
    e.clear().await.unwrap();
    e.send_keys(v).await.unwrap();
}

/// WebDriver's codes for the Tab and Enter keys.
const TAB: char = '\u{E004}';
const ENTER: char = '\u{E007}';

/// The id of the element that has the keyboard focus.
async fn focused_id(c: &Client) -> String {
    c.execute("return document.activeElement.id", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Types `v` (which may hold key codes) into what `css` finds.
async fn keys(c: &Client, css: &str, v: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .send_keys(v)
        .await
        .unwrap();
}

/// Clicks what `css` finds and waits for the page it leads to (every click
/// here submits a form or follows a link, so the address changes).
async fn click(c: &Client, css: &str) {
    let before = c.current_url().await.unwrap().to_string();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
        .click()
        .await
        .unwrap();
    wait_for_new_page(c, &before).await;
}

/// Waits until the browser has left `before` and loaded the next page.
async fn wait_for_new_page(c: &Client, before: &str) {
    let started = Instant::now();
    loop {
        let now = c.current_url().await.unwrap();
        let ready = c
            .execute("return document.readyState", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(|s| s == "complete"))
            .unwrap_or(false);
        if now.as_str() != before && ready {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "on {before}, the click or key led nowhere"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn console_in_a_real_browser() {
    let smtp_port = free_port().to_string();
    let s = Server::start_with(&[
        ("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("PRAMAAN_DESK_SMTP_HOST", "127.0.0.1"),
        ("PRAMAAN_DESK_SMTP_PORT", &smtp_port),
        ("PRAMAAN_DESK_SMTP_SECURITY", "plain"),
        ("PRAMAAN_DESK_SMTP_TIMEOUT", "5s"),
    ]);
    seed(&s);
    let mail = s.dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let _smtp = SmtpSink::start(smtp_port.parse().unwrap(), &mail);
    let driver = start_chromedriver();
    let base = s.url();
    block_on(async {
        let c = browser(&driver).await;
        let r = run_browser(&c, &base).await;
        let _ = c.close().await;
        r
    });
    // The report went out by e-mail, naming the incident.
    let eml = std::fs::read_to_string(mail.join("1.eml")).expect("the report e-mail");
    assert!(eml.contains("Port scan on the VPN gateway"), "{eml}");
}

async fn run_browser(c: &Client, base: &str) {
    // An anonymous browser lands on the login page, then comes back.
    c.goto(&format!("{base}/console/search")).await.unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login"));
    shot(c, "01-login").await;
    fill(c, "#user", "admin").await;
    fill(c, "#password", "wrong").await;
    click(c, "button[type=submit]").await;
    assert!(text_of(c, ".flash.error")
        .await
        .contains("Wrong user name or password"));
    // By keyboard alone: the user field has the focus, Tab moves to the
    // password, Enter submits.
    assert_eq!(focused_id(c).await, "user");
    let before = c.current_url().await.unwrap().to_string();
    keys(c, "#user", &format!("admin{TAB}")).await;
    assert_eq!(focused_id(c).await, "password");
    keys(c, "#password", &format!("{ADMIN_PASSWORD}{ENTER}")).await;
    wait_for_new_page(c, &before).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/console/search");
    // The skip link is the first stop and shows itself when focused.
    let skip = c
        .execute(
            "const a = document.querySelector('a.skip'); a.focus(); \
             return [document.activeElement === a, a.getBoundingClientRect().left >= 0];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        skip,
        json!([true, true]),
        "the skip link is hidden when focused"
    );

    // The dashboard: six obligations' cards and the compliance alerts'.
    c.goto(&format!("{base}/console")).await.unwrap();
    let cards = c.find_all(Locator::Css("li.card")).await.unwrap();
    assert_eq!(cards.len(), 7);
    let poc = text_of(c, r#"li.card[data-obligation="Point of contact"]"#).await;
    assert!(
        poc.contains("NOT MET") && poc.contains("No point of contact"),
        "{poc}"
    );
    let logs = text_of(
        c,
        r#"li.card[data-obligation="Logs of all ICT systems (180 days)"]"#,
    )
    .await;
    assert!(logs.contains("vpn-gw"), "vpn-gw sent nothing today: {logs}");
    // The heatmap: fw1's gap day is the one silent cell in its row.
    let gap = c
        .find(Locator::Css(&format!(
            r#"g[data-source="fw1"] rect[data-day="{}"]"#,
            day_label(2)
        )))
        .await
        .expect("fw1's cell for two days ago");
    assert_eq!(gap.attr("class").await.unwrap().as_deref(), Some("silent"));
    assert_eq!(gap.attr("data-lines").await.unwrap().as_deref(), Some("0"));
    let silent = c
        .find_all(Locator::Css(r#"g[data-source="fw1"] rect.silent"#))
        .await
        .unwrap();
    assert_eq!(silent.len(), 1, "fw1 has one silent day");
    let today = c
        .find(Locator::Css(&format!(
            r#"g[data-source="fw1"] rect[data-day="{}"]"#,
            day_label(0)
        )))
        .await
        .unwrap();
    assert_eq!(
        today.attr("data-lines").await.unwrap().as_deref(),
        Some("70")
    );
    assert_eq!(today.attr("class").await.unwrap().as_deref(), Some("l2"));
    shot(c, "02-dashboard").await;

    // Search, a page at a time.
    c.goto(&format!("{base}/console/search")).await.unwrap();
    fill(c, "#f-host", "fw1").await;
    fill(c, "#f-q", "Failed password").await;
    click(c, "form[role=search] button").await;
    let rows = c.find_all(Locator::Css("table tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 50, "the first page");
    shot(c, "03-search").await;
    click(c, "a[rel=next]").await;
    let rows = c.find_all(Locator::Css("table tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 50, "the second page (105 fw1 lines)");
    let first_seq: u64 = text_of(c, "table tbody tr td").await.parse().unwrap();
    click(c, "a[rel=next]").await;
    let rows = c.find_all(Locator::Css("table tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 5, "the last page");
    assert!(
        c.find(Locator::Css("a[rel=next]")).await.is_err(),
        "no page after the last"
    );

    // A record: its raw bytes and, once a checkpoint covers it, its inclusion proof.
    c.goto(&format!("{base}/console/records/{first_seq}"))
        .await
        .unwrap();
    let raw = text_of(c, "section pre").await;
    assert!(raw.contains("fw1 sshd 100 - - Failed password"), "{raw}");
    let started = Instant::now();
    loop {
        let src = c.source().await.unwrap();
        if src.contains("Leaf hash") {
            assert!(src.contains(&format!("is leaf {first_seq} of the tree")));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no inclusion proof: {src}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.refresh().await.unwrap();
    }
    shot(c, "04-record").await;

    // Whois, with its purpose.
    c.goto(&format!("{base}/console/whois")).await.unwrap();
    fill(c, "#f-ip", "203.0.112.1").await;
    fill(c, "#f-port", "1500").await;
    fill(c, "#f-at", "2025-01-01T06:00:00+05:30").await;
    fill(c, "#f-purpose", "CERT-In order 2026/17").await;
    click(c, "main form button").await;
    let answer = text_of(c, "#answer").await;
    assert!(
        answer.starts_with("1 match(es) for 203.0.112.1 port 1500"),
        "{answer}"
    );
    assert!(c.source().await.unwrap().contains("sub-42"));
    shot(c, "05-whois").await;

    // An incident: create it and see its countdown.
    c.goto(&format!("{base}/console/incidents/new"))
        .await
        .unwrap();
    fill(c, "#f-title", "Port scan on the VPN gateway").await;
    c.find(Locator::Css("#k-targeted-scanning"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(c, "#f-detected_at", "30m").await;
    fill(
        c,
        "#f-description",
        "Sequential SYN probes from one address",
    )
    .await;
    shot(c, "06-incident-new").await;
    click(c, "form.stack button[type=submit]").await;
    let url = c.current_url().await.unwrap();
    assert!(url.path().starts_with("/console/incidents/"), "{url}");
    let countdown = text_of(c, ".countdown").await;
    assert!(
        countdown == "5 h 30 min left" || countdown == "5 h 29 min left",
        "the 6-hour clock started 30 minutes ago: {countdown}"
    );
    assert!(c
        .find(Locator::Css("svg.incidents g.running"))
        .await
        .is_ok());
    shot(c, "07-incident").await;
    c.goto(&format!("{base}/console/incidents")).await.unwrap();
    shot(c, "08-incidents").await;
    // The dashboard now shows the running clock in amber, linking to the incident.
    c.goto(&format!("{base}/console")).await.unwrap();
    let card = c
        .find(Locator::Css(
            r#"li.card[data-obligation="Incident reporting (6 hours)"]"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        card.attr("class").await.unwrap().as_deref(),
        Some("card amber")
    );
    assert!(card
        .text()
        .await
        .unwrap()
        .contains("Port scan on the VPN gateway"));

    // Designate the point of contact on the settings page, then send the report.
    c.goto(&format!("{base}/console/settings")).await.unwrap();
    for (k, v) in [
        ("name", "Asha Rao"),
        ("designation", "CISO"),
        ("organisation", "Example Networks"),
        ("address", "1 MG Road, Bengaluru"),
        ("email", "asha@example.in"),
        ("mobile", "+91 98450 00000"),
        ("office_phone", "+91 80 4000 0000"),
    ] {
        fill(c, &format!("#f-{k}"), v).await;
    }
    click(c, "form[action='/console/settings/poc'] button").await;
    assert!(text_of(c, ".flash.ok")
        .await
        .contains("Point of contact saved"));
    c.goto(url.as_str()).await.unwrap();
    click(c, "a[href$='/report']").await;
    let preview = text_of(c, "main").await;
    assert!(
        preview.contains("incident@cert-in.org.in")
            && preview.contains("Port scan on the VPN gateway"),
        "{preview}"
    );
    shot(c, "08b-report-preview").await;
    c.goto(url.as_str()).await.unwrap();
    click(c, "form[action$='/send'] button").await;
    let flash = text_of(c, ".flash.ok").await;
    assert!(
        flash.starts_with("The report was sent to incident@cert-in.org.in"),
        "{flash}"
    );
    let countdown = text_of(c, ".countdown").await;
    assert!(countdown.starts_with("reported in time"), "{countdown}");

    // The other pages render and get their screenshots.
    for (path, name, h1) in [
        ("/console/holds", "09-holds", "Legal holds"),
        ("/console/audit", "10-audit", "Audit trail"),
        ("/console/settings", "11-settings", "Settings"),
        ("/console/subscribers", "12-subscribers", "Subscribers"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert_eq!(text_of(c, "h1").await, h1);
        shot(c, name).await;
    }
    // The audit trail shows the whois lookup with its purpose.
    c.goto(&format!("{base}/console/audit?action=whois"))
        .await
        .unwrap();
    let audit = c.source().await.unwrap();
    assert!(audit.contains("CERT-In order 2026/17"), "{audit}");

    // Log out: the session ends.
    click(c, "header form button").await;
    c.goto(&format!("{base}/console")).await.unwrap();
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/login"));
}

const T: Duration = Duration::from_secs(120);

/// Adds `user` with `roles` through the CLI, then sets their own password
/// (an administrator's is one-time): `<user>-own-password-42`.
fn add_user(s: &Server, user: &str, roles: &str) -> String {
    let (cwd, url) = (s.dir.path().to_owned(), s.url());
    let mut c = pramaan(&cwd);
    c.args([
        "user",
        "add",
        user,
        "--role",
        roles,
        "--password-stdin",
        "--server",
        &url,
    ]);
    let o = run(c, Some(format!("{user}-password-0123\n").as_bytes()), T);
    assert!(o.success(), "{o:?}");
    let own = format!("{user}-own-password-42");
    let mut c = pramaan(&cwd);
    c.args(["user", "passwd", user, "--own", "--server", &url]);
    let o = run(
        c,
        Some(format!("{user}-password-0123\n{own}\n").as_bytes()),
        T,
    );
    assert!(o.success(), "{o:?}");
    own
}

async fn log_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/console/login")).await.unwrap();
    fill(c, "#user", user).await;
    fill(c, "#password", password).await;
    click(c, "button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/console", "{user}");
}

async fn log_out(c: &Client) {
    click(c, "header form button").await;
}

const ORDER: &str = "CERT-In/2026/042";

/// An order as a person handles it: an analyst registers it, an approver
/// (a second user) approves it, the analyst exports and downloads the
/// bundle, which the real `pramaan verify-bundle` checks offline; then it
/// is delivered and closed and the dashboard's card turns green.
#[test]
fn an_order_in_a_real_browser() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    seed(&s);
    let alice = add_user(&s, "alice", "analyst");
    let ravi = add_user(&s, "ravi", "approver");
    let downloads = tempfile::tempdir().unwrap();
    let driver = start_chromedriver();
    let base = s.url();
    let zip = block_on(async {
        let c = browser_saving_to(&driver, Some(downloads.path())).await;
        let zip = run_order(&c, &base, &alice, &ravi, downloads.path()).await;
        let _ = c.close().await;
        zip
    });
    // Checked offline by the real binary, from a directory with no data.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::copy(&zip, elsewhere.path().join("bundle.zip")).unwrap();
    let mut c = pramaan(elsewhere.path());
    c.args(["verify-bundle", "bundle.zip"]);
    let o = run(c, None, T);
    assert!(o.success(), "verify-bundle: {o:?}");
    let out = o.stdout();
    assert!(
        out.contains(&format!("bundle for order {ORDER}: OK")),
        "{out}"
    );
    // vpn-gw sent 15 lines (seed).
    assert!(out.contains("records:    15 (seq"), "{out}");
}

async fn run_order(
    c: &Client,
    base: &str,
    alice: &str,
    ravi: &str,
    downloads: &std::path::Path,
) -> PathBuf {
    // The analyst registers the order; it names a subscriber, so its export
    // needs a second user's approval.
    log_in(c, base, "alice", alice).await;
    click(c, "nav a[href='/console/orders']").await;
    assert_eq!(text_of(c, "h1").await, "Orders");
    click(c, "a[href='/console/orders/new']").await;
    fill(c, "#f-reference", ORDER).await;
    fill(c, "#f-due", &ist_ten_am(-2)).await;
    fill(c, "#f-from", &ist_ten_am(6)).await;
    fill(c, "#f-to", &ist_ten_am(-1)).await;
    fill(c, "#f-hosts", "vpn-gw").await;
    // The lines' user name (`Failed password for root`) is the subscriber named.
    fill(c, "#f-subscribers", "root").await;
    fill(c, "#f-legal_basis", "Section 70B(6), IT Act 2000").await;
    fill(c, "#f-notes", "Port scans on the VPN gateway").await;
    shot(c, "20-order-new").await;
    click(c, "form.stack button[type=submit]").await;
    let flash = text_of(c, ".flash.ok").await;
    assert_eq!(
        flash,
        format!("Order {ORDER} registered. 1 legal hold(s) placed.")
    );
    let order_url = c.current_url().await.unwrap();
    assert_eq!(text_of(c, "#state").await, "received");
    let left = text_of(c, ".countdown").await;
    // Due at 10:00 IST the day after tomorrow: more than a day left.
    assert!(left.contains(" d ") && left.ends_with(" left"), "{left}");
    assert!(
        c.find(Locator::Css("form[action='/console/orders/export']"))
            .await
            .is_err(),
        "no export before the approval"
    );
    assert!(text_of(c, "main")
        .await
        .contains("can be exported once a second user approved"));
    // The dashboard: an open order with a running deadline is amber, linking to it.
    c.goto(&format!("{base}/console")).await.unwrap();
    let card = c
        .find(Locator::Css(r#"li.card[data-obligation="Lawful orders"]"#))
        .await
        .unwrap();
    assert_eq!(
        card.attr("class").await.unwrap().as_deref(),
        Some("card amber")
    );
    let text = card.text().await.unwrap();
    assert!(
        text.contains(&format!("1 order(s) open; {ORDER} (received) is due in ")),
        "{text}"
    );
    c.goto(&format!("{base}/console/orders")).await.unwrap();
    let row = text_of(c, &format!("tr[data-reference='{ORDER}']")).await;
    assert!(
        row.contains("IST") && row.contains("UTC") && row.contains(" left"),
        "{row}"
    );
    shot(c, "21-orders").await;
    log_out(c).await;

    // The approver, a second user, approves it.
    log_in(c, base, "ravi", ravi).await;
    c.goto(order_url.as_str()).await.unwrap();
    fill(c, "#f-approve-note", "scope checked").await;
    click(c, "form[action='/console/orders/approve'] button").await;
    assert_eq!(
        text_of(c, ".flash.ok").await,
        format!("Order {ORDER} approved.")
    );
    assert_eq!(text_of(c, "#state").await, "approved");
    assert!(
        c.find(Locator::Css("form[action='/console/orders/export']"))
            .await
            .is_err(),
        "an approver does not export"
    );
    assert!(text_of(c, "#no-steps").await.contains("for analysts"));
    shot(c, "22-order-approved").await;
    log_out(c).await;

    // The analyst exports it: the browser downloads the bundle.
    log_in(c, base, "alice", alice).await;
    c.goto(order_url.as_str()).await.unwrap();
    assert_eq!(text_of(c, "#state").await, "approved");
    c.find(Locator::Css("form[action='/console/orders/export'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Chromium may put an empty file under the final name while it writes
    // the `.crdownload` beside it: the download is there once no
    // `.crdownload` is left and the ZIP's end record is written.
    let zip = wait_until(Duration::from_secs(90), "the downloaded bundle", || {
        let files: Vec<_> = std::fs::read_dir(downloads)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        if files
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "crdownload"))
        {
            return None;
        }
        files.into_iter().find(|p| {
            p.extension().is_some_and(|x| x == "zip")
                && std::fs::read(p).is_ok_and(|b| b.windows(4).any(|w| w == b"PK\x05\x06"))
        })
    });
    assert_eq!(
        zip.file_name().unwrap().to_str().unwrap(),
        "CERT-In-2026-042.zip"
    );
    let bytes = std::fs::read(&zip).unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"), "a ZIP");
    c.goto(order_url.as_str()).await.unwrap();
    assert_eq!(text_of(c, "#state").await, "exported");

    // Delivered, then closed with its hold released: the card turns green.
    click(c, "form[action='/console/orders/deliver'] button").await;
    assert_eq!(
        text_of(c, ".flash.ok").await,
        format!("Order {ORDER} delivered.")
    );
    assert!(text_of(c, ".countdown")
        .await
        .starts_with("delivered in time"));
    c.find(Locator::Css("#f-release_hold"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(c, "form[action='/console/orders/close'] button").await;
    assert_eq!(text_of(c, "#state").await, "closed");
    shot(c, "23-order-closed").await;
    c.goto(&format!("{base}/console")).await.unwrap();
    let card = c
        .find(Locator::Css(r#"li.card[data-obligation="Lawful orders"]"#))
        .await
        .unwrap();
    assert_eq!(
        card.attr("class").await.unwrap().as_deref(),
        Some("card green")
    );
    zip
}

/// A client that keeps nothing between calls and never follows redirects.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first `name="_csrf"` field in a page.
fn csrf_in(html: &str) -> String {
    let i = html.find(r#"name="_csrf" value=""#).expect("a CSRF field")
        + r#"name="_csrf" value=""#.len();
    html[i..].split('"').next().unwrap().to_owned()
}

/// Known clock samples in `clock.db`, as the monitor would have stored them:
/// samay1 at +5 ms, then -12 ms, then no answer; npl at +250 ms (outside ±100 ms).
fn seed_clock(s: &Server) {
    use pramaan_clock::client::{Sample, State};
    let now = pramaan_core_now();
    let hour = 3_600_000_000_000;
    let mut db = pramaan_clock::store::Store::open(&s.data_dir().join("clock.db")).unwrap();
    let host = pramaan_clock::host::HostSync::Unknown {
        reason: "test".into(),
    };
    let sample = |server: &str, at_ns: i64, state: State, offset_ms: Option<i64>| Sample {
        server: server.into(),
        address: Some("127.0.0.1:123".into()),
        at_ns,
        state,
        offset_ns: offset_ms.map(|m| m * 1_000_000),
        delay_ns: Some(1_000_000),
        stratum: Some(2),
        refid: None,
        leap: None,
        root_delay_ns: None,
        root_dispersion_ns: None,
    };
    for (at, samples) in [
        (
            now - 3 * hour,
            vec![sample(
                "samay1.nic.in:123",
                now - 3 * hour,
                State::Ok,
                Some(5),
            )],
        ),
        (
            now - 2 * hour,
            vec![sample(
                "samay1.nic.in:123",
                now - 2 * hour,
                State::Ok,
                Some(-12),
            )],
        ),
        (
            now - hour,
            vec![
                sample("samay1.nic.in:123", now - hour, State::Timeout, None),
                sample("time.nplindia.org:123", now - hour, State::Ok, Some(250)),
            ],
        ),
    ] {
        db.insert_round(at, &host, &samples, &[]).unwrap();
    }
}

#[test]
fn every_console_page_reads_without_javascript() {
    let s = Server::start_with(&[("PRAMAAN_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    seed(&s);
    seed_clock(&s);
    let base = s.url();
    block_on(async {
        let http = plain();
        // Anonymous: the login page, never a JSON 401.
        let r = http
            .get(format!("{base}/console/holds"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(
            r.headers()["location"],
            "/console/login?next=%2Fconsole%2Fholds"
        );
        // Logging in is a plain form post; the answer is a redirect and a cookie.
        let r = http
            .post(format!("{base}/console/login"))
            .form(&[
                ("user", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", "https://evil.example/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/console", "no open redirect");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let get = |path: String| {
            let (http, cookie) = (http.clone(), cookie.clone());
            async move {
                let r = http
                    .get(path.clone())
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                let st = r.status().as_u16();
                (st, r.text().await.unwrap())
            }
        };
        for path in [
            "/console",
            "/console/search",
            "/console/search?q=Failed&host=vpn-gw",
            "/console/records/1",
            "/console/whois",
            "/console/whois?ip=203.0.112.1&port=1500&at=2025-01-01T00:30:00Z&purpose=case+9",
            "/console/subscribers",
            "/console/incidents",
            "/console/incidents/new",
            "/console/orders",
            "/console/orders/new",
            "/console/holds",
            "/console/audit",
            "/console/settings",
        ] {
            let (st, body) = get(format!("{base}{path}")).await;
            assert_eq!(st, 200, "{path}: {body}");
            assert!(body.starts_with("<!DOCTYPE html>"), "{path}");
            assert!(body.contains("<h1>"), "{path}");
            assert!(!body.contains("<script"), "{path} needs no JavaScript");
            // Every input has a label (or is hidden).
            let inputs = body.matches("<input").count();
            let hidden = body.matches(r#"type="hidden""#).count()
                + body.matches(r#"type="checkbox""#).count();
            let labels = body.matches("<label").count();
            assert!(
                labels + hidden >= inputs,
                "{path}: {inputs} inputs, {labels} labels"
            );
        }
        // The offset chart draws the known samples: the ±100 ms band, two points
        // inside it, one outside, and the unanswered query at the bottom.
        let (_, dash) = get(format!("{base}/console")).await;
        let svg = &dash[dash
            .find("<svg class=\"offsets\"")
            .expect("the offset chart")..];
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert!(svg.contains(r#"data-threshold-ms="100""#), "{svg}");
        assert_eq!(svg.matches(r#"class="inside""#).count(), 2, "{svg}");
        assert_eq!(svg.matches(r#"class="outside""#).count(), 1, "{svg}");
        assert_eq!(svg.matches("no usable answer</title>").count(), 1, "{svg}");
        assert!(
            svg.contains(r#"data-server="samay1.nic.in:123""#)
                && svg.contains(r#"data-server="time.nplindia.org:123""#)
        );
        assert!(
            svg.contains("samay1.nic.in:123") && svg.contains(": -12.00 ms"),
            "{svg}"
        );

        // The test rig switches search auditing off; the settings page says so.
        let (_, set) = get(format!("{base}/console/settings")).await;
        assert!(
            set.contains("are not recorded (auth.audit_reads = false)"),
            "{set}"
        );

        // Times are in IST with UTC alongside.
        let (_, rec) = get(format!("{base}/console/search?host=fw1")).await;
        assert!(rec.contains("+05:30") && rec.contains('Z'), "IST and UTC");
        // whois without a purpose is refused, saying why.
        let (_, body) = get(format!(
            "{base}/console/whois?ip=203.0.112.1&at=2025-01-01T00:30:00Z"
        ))
        .await;
        assert!(
            body.contains("a purpose or order reference is required"),
            "{body}"
        );
        // A bad search says which field is wrong.
        let (_, body) = get(format!("{base}/console/search?ip=not-an-ip")).await;
        assert!(
            body.contains("ip: `not-an-ip` is not an IPv4 or IPv6 address"),
            "{body}"
        );

        // Downloads: NDJSON and CSV of the same search.
        let (st, nd) = get(format!(
            "{base}/console/search/download?host=vpn-gw&format=ndjson"
        ))
        .await;
        assert_eq!(st, 200);
        assert_eq!(nd.lines().count(), 15);
        let first: serde_json::Value = serde_json::from_str(nd.lines().next().unwrap()).unwrap();
        assert_eq!(first["host"], "vpn-gw");
        let (st, csv) = get(format!(
            "{base}/console/search/download?host=vpn-gw&format=csv"
        ))
        .await;
        assert_eq!(st, 200);
        assert_eq!(csv.lines().count(), 16, "a header and 15 lines");
        assert!(csv.starts_with(
            "seq,received_at,received_at_ist,transport,peer,host,app,severity,event_time,ips,users,raw\n"
        ));
        // The raw bytes of a record, exactly.
        let raw = http
            .get(format!("{base}/console/records/{}/raw", first["seq"]))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(raw.as_ref(), first["raw"].as_str().unwrap().as_bytes());

        // A form without the CSRF field is refused; with it, the hold is placed.
        let (_, page) = get(format!("{base}/console/holds")).await;
        let token = csrf_in(&page);
        let hold = [
            ("from", "2026-01-01"),
            ("to", "2026-02-01"),
            ("source", ""),
            ("ip", ""),
            ("reason", "order in hand"),
            ("order_ref", "CERT-In/2026/17"),
        ];
        let r = http
            .post(format!("{base}/console/holds"))
            .header("cookie", &cookie)
            .form(&hold)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("CSRF"));
        let mut with = hold.to_vec();
        with.push(("_csrf", &token));
        let r = http
            .post(format!("{base}/console/holds"))
            .header("cookie", &cookie)
            .form(&with)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, page) = get(format!("{base}{to}")).await;
        assert!(
            page.contains("CERT-In/2026/17") && page.contains("Hold 1 placed."),
            "{page}"
        );
        // A bad hold says what is wrong.
        let mut bad = with.clone();
        bad[0] = ("from", "yesterday-ish");
        let r = http
            .post(format!("{base}/console/holds"))
            .header("cookie", &cookie)
            .form(&bad)
            .send()
            .await
            .unwrap();
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, page) = get(format!("{base}{to}")).await;
        assert!(
            page.contains("from: `yesterday-ish` is not a time"),
            "{page}"
        );

        // An incident created without JavaScript shows its countdown.
        let r = http
            .post(format!("{base}/console/incidents"))
            .header("cookie", &cookie)
            .form(&[
                ("_csrf", token.as_str()),
                ("title", "Defacement"),
                ("kinds", "website-defacement"),
                ("kinds", "unauthorised-access"),
                ("detected_at", "2h"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, page) = get(format!("{base}{to}")).await;
        assert!(
            page.contains("4 h 00 min left") || page.contains("3 h 59 min left"),
            "{page}"
        );
        assert!(
            page.contains("(iv) Defacement of website")
                && page.contains("(iii) Unauthorised access"),
            "{page}"
        );
        // The report preview names the missing point of contact.
        let id = to
            .trim_start_matches("/console/incidents/")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let (_, page) = get(format!("{base}/console/incidents/{id}/report")).await;
        assert!(page.contains("The report cannot be prepared"), "{page}");
        // Setting the point of contact from the settings page turns its card green.
        let r = http
            .post(format!("{base}/console/settings/poc"))
            .header("cookie", &cookie)
            .form(&[
                ("_csrf", token.as_str()),
                ("name", "Asha Rao"),
                ("designation", "CISO"),
                ("organisation", "Example Networks"),
                ("address", "1 MG Road, Bengaluru"),
                ("email", "asha@example.in"),
                ("mobile", "+91 98450 00000"),
                ("office_phone", "+91 80 4000 0000"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let (_, dash) = get(format!("{base}/console")).await;
        assert!(
            dash.contains(r#"class="card green" data-obligation="Point of contact""#),
            "{dash}"
        );
        let (_, page) = get(format!("{base}/console/incidents/{id}/report")).await;
        assert!(page.contains("incident@cert-in.org.in"), "{page}");
        // Sending with no mail server to take it fails, and the page says so;
        // the clock keeps running.
        let r = http
            .post(format!("{base}/console/incidents/{id}/send"))
            .header("cookie", &cookie)
            .form(&[("_csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, page) = get(format!("{base}{to}")).await;
        assert!(page.contains("Not sent:"), "{page}");
        assert!(page.contains(" min left"), "{page}");

        // Orders without JavaScript. A bad time is refused, naming the field,
        // and the form keeps what was typed.
        let order = |due: &'static str| {
            vec![
                ("_csrf", token.clone()),
                ("reference", "CERT-In/2026/7".to_owned()),
                ("authority", "CERT-In".to_owned()),
                ("received", "1d".to_owned()),
                ("due", due.to_owned()),
                ("from", ist_ten_am(5)),
                ("to", ist_ten_am(-1)),
                ("hosts", "fw1".to_owned()),
                ("legal_basis", "s.70B(6)".to_owned()),
            ]
        };
        let r = http
            .post(format!("{base}/console/orders"))
            .header("cookie", &cookie)
            .form(&order("soon-ish"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("Not registered: due: `soon-ish` is not a time"),
            "{page}"
        );
        assert!(page.contains(r#"value="CERT-In/2026/7""#), "{page}");
        // Received yesterday, due an hour ago and not delivered: overdue, and the card is red.
        let r = http
            .post(format!("{base}/console/orders"))
            .header("cookie", &cookie)
            .form(&order("1h"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to.starts_with("/console/orders/show?reference=CERT-In%2F2026%2F7"),
            "{to}"
        );
        let (st, page) = get(format!("{base}{to}")).await;
        assert_eq!(st, 200, "{page}");
        assert!(page.contains("Order CERT-In/2026/7 registered."), "{page}");
        assert!(page.contains("OVERDUE by 1 h"), "{page}");
        let (_, dash) = get(format!("{base}/console")).await;
        assert!(
            dash.contains(r#"class="card red" data-obligation="Lawful orders""#),
            "{dash}"
        );
        assert!(
            dash.contains("1 order(s) past the due time and not delivered; CERT-In/2026/7 (received) is overdue by 1 h"),
            "{dash}"
        );
        let (_, list) = get(format!("{base}/console/orders")).await;
        assert!(
            list.contains(r#"data-reference="CERT-In/2026/7""#),
            "{list}"
        );
        // Four eyes: whoever registered an order cannot approve it.
        let r = http
            .post(format!("{base}/console/orders/approve"))
            .header("cookie", &cookie)
            .form(&[("_csrf", token.as_str()), ("reference", "CERT-In/2026/7")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, page) = get(format!("{base}{to}")).await;
        assert!(
            page.contains("Not approved: admin registered order CERT-In/2026/7 and cannot approve it: a second user must"),
            "{page}"
        );
        // No subscriber named: exported without approval, as a ZIP download.
        let r = http
            .post(format!("{base}/console/orders/export"))
            .header("cookie", &cookie)
            .form(&[("_csrf", token.as_str()), ("reference", "CERT-In/2026/7")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/zip");
        assert_eq!(
            r.headers()["content-disposition"],
            r#"attachment; filename="CERT-In-2026-7.zip""#
        );
        assert!(r.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
        // Delivering twice is refused, saying why.
        for expect in [
            "Order CERT-In/2026/7 delivered.",
            "Not delivered: order CERT-In/2026/7 is delivered",
        ] {
            let r = http
                .post(format!("{base}/console/orders/deliver"))
                .header("cookie", &cookie)
                .form(&[("_csrf", token.as_str()), ("reference", "CERT-In/2026/7")])
                .send()
                .await
                .unwrap();
            let to = r.headers()["location"].to_str().unwrap().to_owned();
            let (_, page) = get(format!("{base}{to}")).await;
            assert!(page.contains(expect), "{expect}: {page}");
        }
        let (_, dash) = get(format!("{base}/console")).await;
        assert!(
            dash.contains(r#"class="card green" data-obligation="Lawful orders""#),
            "{dash}"
        );
        let (st, _) = get(format!("{base}/console/orders/show?reference=nope")).await;
        assert_eq!(st, 404);
    });
}
