//! Runs an application operation where the data is: over HTTP against the
//! server that holds the data directory (or `--server`), else in this
//! process on the directory itself. Commands build the operation, call
//! [`Runner::run`], and print; nothing else differs between the two ways.

use crate::client::{self, Target};
use anyhow::{Context, Result};
use futures::StreamExt as _;
use pramaan_app::audited;
use pramaan_app::local::Local;
use pramaan_app::{Operation, Wire};
use pramaan_config::Config;
use pramaan_vault::search::{self, Hit};

/// The options every command that runs operations takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Common {
    /// Base URL of a running server (default: the configured http.listen
    /// when a server holds the data directory, else work on the data
    /// directory itself, as `<os user> (local)`, audited as the server would).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub enum Runner {
    Server(String),
    Local(Box<Local>),
}

impl Runner {
    /// The server holding the data directory (or `server`), else the directory.
    pub async fn open(cfg: &Config, server: Option<&str>) -> Result<Runner> {
        Ok(match client::target(cfg, server) {
            Target::Server(url) => Runner::Server(url),
            Target::Direct => Runner::Local(Box::new(Local::open(cfg).await?)),
        })
    }

    pub async fn run<O: Operation>(&self, op: O) -> Result<O::Output> {
        match self {
            Runner::Local(l) => Ok(l.run(op).await?),
            Runner::Server(url) => remote(url, op).await,
        }
    }

    /// Closes the data directory when this process opened it.
    pub async fn close(self) {
        if let Runner::Local(l) = self {
            l.close().await;
        }
    }
}

/// Opens, runs one operation, closes (also when it failed).
pub async fn run_once<O: Operation>(
    cfg: &Config,
    server: Option<&str>,
    op: O,
) -> Result<O::Output> {
    let r = Runner::open(cfg, server).await?;
    let out = r.run(op).await;
    r.close().await;
    out
}

async fn remote<O: Operation>(base: &str, op: O) -> Result<O::Output> {
    let url = format!("{base}{}", op.path());
    let method = reqwest::Method::from_bytes(O::METHOD.as_bytes())
        .with_context(|| format!("the method of {}", O::ROUTE))?;
    let req = client::http().request(method, &url);
    let req = if O::in_query() {
        req.query(&op)
    } else {
        req.json(&op)
    };
    let resp = req.send().await.with_context(|| format!("asking {url}"))?;
    let resp = client::check(resp).await?;
    match O::WIRE {
        Wire::Json => {
            return resp
                .json::<O::Output>()
                .await
                .with_context(|| format!("reading the answer of {url}"))
        }
        Wire::Text => {
            let text = resp
                .text()
                .await
                .with_context(|| format!("reading the answer of {url}"))?;
            return serde_json::from_value(text.into())
                .with_context(|| format!("reading the answer of {url}"));
        }
        Wire::Ndjson => {}
    }
    let body = resp
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    let rows = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<Vec<serde_json::Value>, _>>()
        .with_context(|| format!("reading the rows {url} answered"))?;
    serde_json::from_value(rows.into()).with_context(|| format!("reading the rows {url} answered"))
}

impl Runner {
    /// Runs a search, handing each hit to `each` as it comes (the server
    /// streams NDJSON; on the directory the vault hands batches over).
    pub async fn search(
        &self,
        op: pramaan_app::search::Search,
        mut each: impl FnMut(&Hit) -> Result<()>,
    ) -> Result<()> {
        match self {
            Runner::Server(base) => {
                let url = format!("{base}{}", op.path());
                let resp = client::http()
                    .get(&url)
                    .query(&op)
                    .send()
                    .await
                    .with_context(|| format!("searching through {url}"))?;
                let mut stream = client::check(resp).await?.bytes_stream();
                let mut pending: Vec<u8> = Vec::new();
                while let Some(chunk) = stream.next().await {
                    pending.extend_from_slice(&chunk?);
                    while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=pos).collect();
                        let hit: Hit =
                            serde_json::from_slice(&line).context("reading a search result")?;
                        each(&hit)?;
                    }
                }
            }
            Runner::Local(l) => {
                let (app, who) = (l.app(), l.caller());
                let wait = app.config().http.request_timeout / 2;
                let mut started =
                    audited::around(app, who, op, |op| op.start(app, who, wait)).await?;
                for h in started.first.iter().flat_map(search::hits) {
                    each(&h)?;
                }
                while let Some(b) = started.rest.recv().await {
                    let b = b.map_err(pramaan_app::search::search_failed)?;
                    for h in search::hits(&b) {
                        each(&h)?;
                    }
                }
            }
        }
        Ok(())
    }
}
