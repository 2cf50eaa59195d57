//! Runs an application operation where the data is: over HTTP against the
//! server that holds the data directory (or `--server`), else in this
//! process on the directory itself. Commands build the operation, call
//! [`Runner::run`], and print; nothing else differs between the two ways.

use crate::client::{self, Target};
use anyhow::{Context, Result};
use pramaan_app::local::Local;
use pramaan_app::Operation;
use pramaan_config::Config;

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
    client::check(resp)
        .await?
        .json::<O::Output>()
        .await
        .with_context(|| format!("reading the answer of {url}"))
}
