//! A virtual asset service provider's transactions, end to end: the
//! exchange's system posts them with an ingest token, `pramaan vasp import`
//! sends a CSV file, each transaction becomes a ledger record (its JSON,
//! provable like a log line), bad and conflicting input is refused whole,
//! and the trail of funds is answered only to the registry officer, with a
//! purpose, after its audit record.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const W_IN: &str = "0x1111111111111111111111111111111111111111";
const W_OUT: &str = "0x2222222222222222222222222222222222222222";

fn hash(n: u32) -> String {
    format!("0x{n:064x}")
}

/// C-1 deposits from W_IN, trades with C-2 and sends to C-2; C-2
/// withdraws to W_OUT, from which C-3 deposits.
fn transactions() -> Value {
    json!([
        {"id": "T-1", "time": "2026-03-01T15:30:00+05:30", "kind": "deposit", "customer": "C-1",
         "asset": "ETH", "amount": "10", "chain": "ethereum", "from_wallet": W_IN,
         "to_wallet": "0x00000000000000000000000000000000000000c1", "tx_hash": hash(1), "ip": "198.51.100.1"},
        {"id": "T-2", "time": "2026-03-01T11:00:00Z", "kind": "trade", "customer": "C-1",
         "asset": "ETH", "amount": "2", "counterparty": "C-2", "counter_asset": "USDT",
         "counter_amount": "7000.5", "ip": "198.51.100.1", "device": "android 14 / app 3.2"},
        {"id": "T-3", "time": "2026-03-01T12:00:00Z", "kind": "transfer", "customer": "C-1",
         "asset": "ETH", "amount": "5", "fee": "0.01", "received": "4.99", "counterparty": "C-2",
         "ip": "198.51.100.2"}
    ])
}

fn post(s: &Server, token: &str, body: &Value) -> Resp {
    post_to(s, "/api/v1/vasp/transactions", token, body)
}

/// POST `body` as JSON to `path` with `token`.
fn post_to(s: &Server, path: &str, token: &str, body: &Value) -> Resp {
    http_post(
        &format!("{}{path}", s.url()),
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {token}")),
        ],
        serde_json::to_vec(body).unwrap(),
    )
    .unwrap()
}

fn trail(s: &Server, token: &str, query: &[(&str, &str)]) -> (u16, Value) {
    block_on(async {
        let r = bare()
            .get(format!("{}/api/v1/vasp/trail", s.url()))
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn transactions_become_ledger_records_and_their_trail_is_read_with_a_purpose() {
    let mut s = Server::start_with(&[("PRAMAAN_AUTH_AUDIT_READS", "true")]);
    let exchange = s.token("exchange", "ingest");
    let officer = s.token("officer", "registry_officer");

    // The customer's KYC, in the register (encrypted, read with a purpose).
    let kyc = json!({"subscriber_id": "C-1", "name": "Asha Rao", "kyc_method": "video-kyc",
        "kyc_verified_at": "2025-11-02T10:00:00+05:30", "pan": "abcpr1234k",
        "bank_accounts": ["HDFC0001234:50100012345678"], "wallets": [format!("ethereum:{W_IN}")],
        "hire_start": "2025-11-02"});
    let r = post_to(&s, "/api/v1/registry/subscribers", &officer, &kyc);
    assert_eq!(r.status, 201, "{}", r.text());
    let mut bad_pan = kyc.clone();
    bad_pan["subscriber_id"] = json!("C-2");
    bad_pan["pan"] = json!("ABCXR1234K");
    let r = post_to(&s, "/api/v1/registry/subscribers", &officer, &bad_pan);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not a holder type"), "{}", r.text());
    let read = block_on(async {
        bare()
            .get(format!("{}/api/v1/registry/subscribers/C-1", s.url()))
            .bearer_auth(&officer)
            .query(&[("purpose", "CERT-In order 46/2026")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        read.contains("ABCPR1234K")
            && read.contains("HDFC0001234:50100012345678")
            && read.contains(W_IN),
        "{read}"
    );

    // Posted, then posted again: stored once.
    let r = post(&s, &exchange, &transactions());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"added": 3, "unchanged": 0, "recovered": 0})
    );
    let r = post(&s, &exchange, &transactions());
    assert_eq!(
        r.json(),
        json!({"added": 0, "unchanged": 3, "recovered": 0})
    );

    // Bad input is refused whole, each field named; a changed transaction is a conflict.
    let mut bad = transactions();
    bad[0]["id"] = json!("T-9");
    bad[0]["amount"] = json!("1.0000000000000000001");
    bad[1]["id"] = json!("T-10");
    bad[1]["asset"] = json!("NOPE");
    let r = post(&s, &exchange, &bad);
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        e.contains("record 1: amount: `1.0000000000000000001` has 19 decimals; the asset has 18"),
        "{e}"
    );
    assert!(e.contains("record 2: asset: unknown asset `NOPE`"), "{e}");
    let mut changed = transactions();
    changed[2]["amount"] = json!("6");
    changed[2]["received"] = json!("5.99");
    let r = post(&s, &exchange, &changed);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text()
            .contains("`T-3` is already stored (or given twice) with other content"),
        "{}",
        r.text()
    );

    // A CSV file through the CLI: C-2's withdrawal and C-3's deposit.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("more.csv");
    std::fs::write(
        &file,
        format!(
            "id,time,kind,customer,asset,amount,chain,from_wallet,to_wallet,tx_hash,ip\n\
             T-4,2026-03-02T09:00:00Z,withdrawal,C-2,ETH,4.5,ethereum,,{W_OUT},{h4},203.0.113.9\n\
             T-5,2026-03-03T09:00:00Z,deposit,C-3,ETH,4.4,ethereum,{W_OUT},0x00000000000000000000000000000000000000c3,{h5},\n",
            h4 = hash(4),
            h5 = hash(5)
        ),
    )
    .unwrap();
    let mut c = pramaan(dir.path());
    c.env("PRAMAAN_TOKEN", &officer)
        .args(["vasp", "import", "--server", &s.url()])
        .arg(&file);
    let o = run(c, None, Duration::from_secs(60));
    assert!(o.success(), "{o:?}");
    assert!(
        o.stdout().contains("2 transactions: 2 added"),
        "{}",
        o.stdout()
    );
    // A bad file: its line and field, and nothing sent.
    std::fs::write(
        &file,
        "id,time,kind,customer,asset,amount\nT-6,2026-03-03T09:00:00Z,deposit,C-3,ETH,-1\n",
    )
    .unwrap();
    let mut c = pramaan(dir.path());
    c.env("PRAMAAN_TOKEN", &officer)
        .args(["vasp", "import", "--server", &s.url()])
        .arg(&file);
    let o = run(c, None, Duration::from_secs(60));
    assert!(!o.success());
    assert!(
        o.stderr.contains("line 2: amount: `-1` is negative"),
        "{}",
        o.stderr
    );

    // The trail: the registry officer only, with a purpose.
    let q = [
        ("customer", "C-1"),
        ("hops", "5"),
        ("purpose", "CERT-In order 46/2026"),
    ];
    assert_eq!(
        trail(&s, &exchange, &q).0,
        403,
        "an ingest token reads nothing"
    );
    let (status, body) = trail(&s, &officer, &q[..2]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("purpose"),
        "{body}"
    );
    let (status, t) = trail(&s, &officer, &q);
    assert_eq!(status, 200, "{t}");
    let ids: Vec<&str> = t["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tx"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["T-1", "T-2", "T-3", "T-4", "T-5"]);
    let c1 = t["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "customer:C-1")
        .unwrap();
    assert_eq!(c1["ips"], json!(["198.51.100.1", "198.51.100.2"]));
    let c3 = t["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "customer:C-3")
        .unwrap();
    assert_eq!(c3["hop"], 3, "C-1 -> C-2 -> the wallet -> C-3");

    // The console draws it: a box per party, an arrow per pair, every transaction in a table.
    let html = block_on(async {
        let r = bare()
            .get(format!("{}/console/vasp", s.url()))
            .bearer_auth(&officer)
            .query(&[
                ("start", "C-1"),
                ("hops", "5"),
                ("purpose", "CERT-In order 46/2026"),
            ])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(html.0, 200, "{}", html.1);
    let page = html.1;
    assert!(page.contains(r#"<svg class="trail""#), "{page}");
    assert_eq!(
        page.matches("<g class=\"customer\"").count(),
        3,
        "C-1, C-2, C-3"
    );
    assert!(
        page.contains(r#"data-from="customer:C-1" data-to="customer:C-2""#),
        "{page}"
    );
    for id in ["T-1", "T-2", "T-3", "T-4", "T-5"] {
        let t = t["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["tx"]["id"] == id)
            .unwrap();
        assert!(
            page.contains(&format!("/console/records/{}", t["seq"])),
            "{id}"
        );
    }
    let (status, _) = trail(
        &s,
        &officer,
        &[("customer", "C-1"), ("wallet", W_IN), ("purpose", "x")],
    );
    assert_eq!(status, 400, "one start only");

    // Each edge names its ledger record: the transaction's JSON, byte for byte.
    let t3 = t["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tx"]["id"] == "T-3")
        .unwrap();
    let seq = t3["seq"].as_u64().expect("a ledger record");
    let hits = s.search_all_of(&[("seq", &seq.to_string()), ("internal", "true")]);
    let stored: Value =
        serde_json::from_str(&hits.first().map(|h| h.raw_text()).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert_eq!(stored["id"], "T-3", "{hits:?}");
    assert_eq!(
        stored["received"],
        Value::Null,
        "the record keeps the validated transaction"
    );
    assert_eq!(stored["amount"], "5");

    // The read is on the audit trail, with its purpose.
    let audit = s.get("/api/v1/audit", &[("action", "personal_data.read")]);
    assert!(
        audit.text().contains("vasp trail: customer C-1")
            && audit.text().contains("CERT-In order 46/2026"),
        "{}",
        audit.text()
    );
    s.stop_and_verify_deep(Duration::from_secs(120));
}

/// `pramaan ARGS` on the data directory in `d`, as the OS user `user`.
fn ok_as(d: &std::path::Path, user: &str, args: &[&str]) -> String {
    let mut c = pramaan(d);
    c.env("USER", user).args(args);
    let o = run(c, None, Duration::from_secs(120));
    assert!(o.success(), "{user}: pramaan {args:?}: {o:?}");
    o.stdout()
}

/// The ids of the VASP transactions and the raw log lines in a bundle.
fn bundle_contents(zip: &std::path::Path) -> (Vec<String>, Vec<String>) {
    use pramaan_orders::zip::ZipReader;
    let bytes = std::fs::read(zip).unwrap();
    let mut r = ZipReader::new(std::io::Cursor::new(bytes)).unwrap();
    let recs = r
        .read_all(pramaan_orders::bundle::RECORDS, u64::MAX)
        .unwrap();
    let (mut txs, mut lines) = (Vec::new(), Vec::new());
    for l in recs.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(l).unwrap();
        let raw = v["raw"].as_str().map(str::to_owned).unwrap_or_else(|| {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD
                .decode(v["raw_b64"].as_str().unwrap_or_default())
                .unwrap();
            String::from_utf8(b).unwrap()
        });
        if v["peer"] == "pramaan:vasp" {
            let t: Value = serde_json::from_str(&raw).unwrap();
            txs.push(t["id"].as_str().unwrap().to_owned());
        } else {
            lines.push(raw);
        }
    }
    (txs, lines)
}

#[test]
fn an_order_naming_a_customer_or_a_wallet_bundles_their_transactions_with_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let from = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    std::fs::write(
        d.join("lines.txt"),
        "vpn-1 login user=C-2 ok\nvpn-1 login user=C-7 ok\n",
    )
    .unwrap();
    ok_as(d, "asha", &["ingest", "lines.txt"]);
    std::fs::write(
        d.join("tx.json"),
        serde_json::to_vec(&transactions()).unwrap(),
    )
    .unwrap();
    ok_as(d, "asha", &["vasp", "import", "tx.json"]);
    std::fs::write(
        d.join("more.csv"),
        format!(
            "id,time,kind,customer,asset,amount,chain,from_wallet,to_wallet,tx_hash\n\
             T-4,2026-03-02T09:00:00Z,withdrawal,C-2,ETH,4.5,ethereum,,{W_OUT},{h4}\n\
             T-5,2026-03-03T09:00:00Z,deposit,C-3,ETH,4.4,ethereum,{W_OUT},0x00000000000000000000000000000000000000c3,{h5}\n",
            h4 = hash(4),
            h5 = hash(5)
        ),
    )
    .unwrap();
    ok_as(d, "asha", &["vasp", "import", "more.csv"]);
    let to = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    for (reference, selector, value) in [
        ("R-customer", "--subscriber", "C-2"),
        ("R-wallet", "--wallet", W_OUT),
        ("R-hash", "--transaction", &hash(5)),
    ] {
        ok_as(
            d,
            "asha",
            &[
                "order",
                "new",
                "--reference",
                reference,
                "--authority",
                "CERT-In",
                "--due",
                "2030-12-01T17:00:00+05:30",
                "--from",
                &from.to_string(),
                "--to",
                &to.to_string(),
                selector,
                value,
                "--legal-basis",
                "IT Act s.70B(6)",
            ],
        );
        ok_as(d, "ravi", &["order", "approve", reference]);
        let out = format!("{reference}.zip");
        ok_as(d, "asha", &["export", reference, "--out", &out]);
        let v = ok_as(d, "asha", &["verify-bundle", &out]);
        assert!(v.contains("OK"), "{v}");
        let (txs, lines) = bundle_contents(&d.join(&out));
        match reference {
            "R-customer" => {
                assert_eq!(
                    txs,
                    ["T-2", "T-3", "T-4"],
                    "C-2's trade, transfer in, withdrawal"
                );
                assert_eq!(
                    lines,
                    ["vpn-1 login user=C-2 ok"],
                    "and the line naming C-2"
                );
            }
            "R-wallet" => {
                assert_eq!(txs, ["T-4", "T-5"]);
                assert!(lines.is_empty(), "{lines:?}");
            }
            _ => {
                assert_eq!(txs, ["T-5"]);
                assert!(lines.is_empty(), "{lines:?}");
            }
        }
    }

    // Five years on, a transaction goes with the register's retention run.
    std::fs::write(
        d.join("old.csv"),
        "id,time,kind,customer,asset,amount,counterparty\nT-OLD,2019-01-01T00:00:00Z,transfer,C-9,BTC,1,C-8\n",
    )
    .unwrap();
    ok_as(d, "asha", &["vasp", "import", "old.csv"]);
    let out = ok_as(d, "asha", &["registry", "erase-expired"]);
    assert!(
        out.contains("1 VASP transaction(s) past registry.retention_years erased"),
        "{out}"
    );
    let t = ok_as(
        d,
        "asha",
        &[
            "vasp",
            "trail",
            "--customer",
            "C-9",
            "--purpose",
            "check",
            "--json",
        ],
    );
    let t: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(t["edges"], json!([]), "{t}");
    let t = ok_as(
        d,
        "asha",
        &[
            "vasp",
            "trail",
            "--customer",
            "C-2",
            "--purpose",
            "check",
            "--json",
        ],
    );
    let t: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        t["edges"].as_array().map(Vec::len),
        Some(5),
        "every recent one stays"
    );
}
