//! Benchmark driver for scripts/bench-attribution (not a test).
//!
//! ```text
//! bench inproc BINDINGS.csv PROBES.csv DIR   load into an embedded store in DIR, reopen, replay probes
//! bench http BASE_URL PROBES.csv [CLIENTS]    replay probes against GET /api/v1/whois
//!                                             from CLIENTS clients at once (default 1)
//! ```
//! Prints one JSON object with the timings.

use pramaan_attribution::{read_bindings_csv, MemStore, Probe};
use std::time::Instant;

struct P {
    ip: String,
    port: u16,
    ts: String,
    at_ns: i64,
    want: Option<(String, String)>,
}

fn probes(path: &str) -> Vec<P> {
    let text = std::fs::read_to_string(path).expect("probes file");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let t: jiff::Timestamp = f[2].parse().expect("probe time");
            P {
                ip: f[0].to_owned(),
                port: f[1].parse().expect("probe port"),
                ts: f[2].to_owned(),
                at_ns: t.as_nanosecond() as i64,
                want: (!f[3].is_empty()).then(|| (f[3].to_owned(), f[4].to_owned())),
            }
        })
        .collect()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0 * v.len() as f64 + 0.5).round() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("inproc") => inproc(&a[2], &a[3], &a[4]),
        Some("http") => http(
            &a[2],
            &a[3],
            a.get(4)
                .map_or(1, |n| n.parse().expect("CLIENTS is a number")),
        ),
        _ => {
            eprintln!("usage: bench inproc CSV PROBES DIR | bench http URL PROBES [CLIENTS]");
            std::process::exit(2);
        }
    }
}

fn inproc(csv: &str, probes_path: &str, dir: &str) {
    let dir = std::path::Path::new(dir);
    let _ = std::fs::remove_dir_all(dir);
    let t0 = Instant::now();
    let (idx, rep) = read_bindings_csv(std::path::Path::new(csv), &|done, total| {
        eprint!(
            "\r  reading {:.0}%",
            done as f64 * 100.0 / total.max(1) as f64
        );
    })
    .expect("import");
    eprintln!();
    let store = MemStore::open(dir).expect("store");
    let t_save = Instant::now();
    store.import_sync(idx).expect("save");
    let save_s = t_save.elapsed().as_secs_f64();
    let load_total = t0.elapsed().as_secs_f64();
    drop(store);
    let t1 = Instant::now();
    let store = MemStore::open(dir).expect("reopen");
    let reopen_s = t1.elapsed().as_secs_f64();
    let ps = probes(probes_path);
    let run = |lat: &mut Vec<f64>| -> usize {
        let mut ok = 0;
        for p in &ps {
            let probe = Probe {
                addr: p.ip.parse().expect("probe ip"),
                port: Some(p.port),
                at_ns: p.at_ns,
            };
            let t = Instant::now();
            let got = store.lookup_sync(&probe);
            lat.push(t.elapsed().as_secs_f64() * 1e6);
            let got: Vec<(String, String)> =
                got.into_iter().map(|b| (b.session, b.subscriber)).collect();
            let want: Vec<(String, String)> = p.want.clone().into_iter().collect();
            ok += usize::from(got == want);
        }
        ok
    };
    let mut warm = Vec::new();
    run(&mut warm);
    let mut lat = Vec::new();
    let correct = run(&mut lat);
    let out = serde_json::json!({
        "engine": "pramaan embedded", "rows": rep.rows, "networks": rep.networks,
        "load_s": load_total, "parse_s": rep.parse_secs, "index_s": rep.index_secs, "save_s": save_s,
        "reopen_s": reopen_s,
        "p50_us": pct(&mut lat.clone(), 50.0), "p99_us": pct(&mut lat.clone(), 99.0),
        "max_us": pct(&mut lat, 100.0), "correct": correct, "total": ps.len(),
    });
    println!("{out}");
}

/// Replays the probes through `GET /api/v1/whois` from `clients` clients at
/// once, each on its own thread and connection, probe `i` sent by client
/// `i % clients`: a warm-up pass, then the timed pass, which all clients
/// start together. Every latency counts in the percentiles.
fn http(base: &str, probes_path: &str, clients: usize) {
    let ps = std::sync::Arc::new(probes(probes_path));
    // Every API route needs a login; the server was started with this token.
    let token = std::env::var("PRAMAAN_TOKEN").unwrap_or_default();
    let start = std::sync::Arc::new(std::sync::Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (ps, start, base, token) =
                (ps.clone(), start.clone(), base.to_owned(), token.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("client");
                let mine: Vec<&P> = ps.iter().skip(c).step_by(clients).collect();
                let mut lat = Vec::with_capacity(mine.len());
                let mut correct = 0;
                rt.block_on(async {
                    for p in &mine {
                        lookup(&client, &base, &token, p).await;
                    }
                });
                start.wait();
                rt.block_on(async {
                    for p in &mine {
                        let t = Instant::now();
                        let got = lookup(&client, &base, &token, p).await;
                        lat.push(t.elapsed().as_secs_f64() * 1e6);
                        let want: Vec<(String, String)> = p.want.clone().into_iter().collect();
                        correct += usize::from(got == want);
                    }
                });
                (lat, correct)
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut correct = 0;
    for t in threads {
        let (l, c) = t.join().expect("client thread");
        lat.extend(l);
        correct += c;
    }
    let wall = t0.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "engine": "pramaan HTTP", "clients": clients,
        "p50_us": pct(&mut lat.clone(), 50.0), "p99_us": pct(&mut lat.clone(), 99.0),
        "max_us": pct(&mut lat, 100.0), "lookups_per_s": ps.len() as f64 / wall,
        "correct": correct, "total": ps.len(),
    });
    println!("{out}");
}

/// One lookup: the (session, subscriber) pairs of its answer. A refusal
/// must never count as an answer.
async fn lookup(client: &reqwest::Client, base: &str, token: &str, p: &P) -> Vec<(String, String)> {
    let r = client
        .get(format!("{base}/api/v1/whois"))
        .query(&[
            ("ip", p.ip.as_str()),
            ("port", &p.port.to_string()),
            ("at", p.ts.as_str()),
            ("purpose", "benchmark"),
        ])
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status();
    if !status.is_success() {
        let body = r.text().await.unwrap_or_default();
        panic!("GET /api/v1/whois answered {status}: {body}");
    }
    let v: serde_json::Value = r.json().await.expect("json");
    v["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| {
                    (
                        x["binding"]["session"].as_str().unwrap_or("").to_owned(),
                        x["subscriber"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
