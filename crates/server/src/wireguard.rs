//! The WireGuard poller (`wireguard.interval`): runs `wireguard.command`,
//! reads its `wg show all dump`, and stores one line for each change since
//! the last poll (`pramaan_attribution::parse::wireguard`: the format and
//! what it can and cannot prove), transport `file`, peer
//! `wireguard:INTERFACE`; the attribution feeder turns them into bindings.
//!
//! The last poll's peers are kept in `<data_dir>/wireguard/peers.json`,
//! written (fsync, rename, fsync of the directory) only once its lines are
//! durable, so that after a restart the first poll is compared with what was
//! stored: a peer removed meanwhile gets its `remove`. A crash between the
//! two writes the same lines again at the next poll; the tracker takes them
//! for what they are (a Start of an open session is an update, a Stop of a
//! closed one a copy).

use crate::follow::state::StateFile;
use bytes::Bytes;
use pramaan_attribution::parse::wireguard::{self, Snapshot};
use pramaan_core::record::Transport;
use pramaan_vault::Vault;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The most output a poll reads (about 300,000 peers).
const MAX_OUTPUT: usize = 64 << 20;

/// What one poll did.
#[derive(Debug, PartialEq, Eq)]
pub struct Polled {
    pub peers: usize,
    pub lines: usize,
}

/// Why a poll stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("wireguard.command is empty")]
    NoCommand,
    #[error("running `{command}`: {source}")]
    Start {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {secs} s; killed")]
    Timeout { command: String, secs: u64 },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("`{command}` printed more than {MAX_OUTPUT} bytes")]
    TooLarge { command: String },
    #[error(transparent)]
    Dump(#[from] wireguard::DumpError),
    #[error("storing the WireGuard lines: {0}")]
    Store(#[from] pramaan_vault::AppendError),
    #[error(transparent)]
    State(#[from] crate::follow::state::StateError),
}

/// The poller: the command, where its state is kept, the last poll.
pub struct Poller {
    command: Vec<String>,
    timeout: Duration,
    state: StateFile,
    last: Option<Snapshot>,
}

impl Poller {
    /// Loads the last poll's peers from `<data_dir>/wireguard/peers.json`.
    pub fn new(data_dir: &Path, command: &str, timeout: Duration) -> Result<Poller, PollError> {
        let state = StateFile::at(data_dir.join("wireguard").join("peers.json"));
        let last = state.load::<Snapshot>()?;
        Ok(Poller {
            command: command.split_whitespace().map(str::to_owned).collect(),
            timeout,
            state,
            last,
        })
    }

    async fn dump(&self) -> Result<String, PollError> {
        let Some((program, args)) = self.command.split_first() else {
            return Err(PollError::NoCommand);
        };
        let command = self.command.join(" ");
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| PollError::Start {
                command: command.clone(),
                source,
            })?;
        let out = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| PollError::Timeout {
                command: command.clone(),
                secs: self.timeout.as_secs(),
            })?
            .map_err(|source| PollError::Start {
                command: command.clone(),
                source,
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(PollError::Failed {
                command,
                status: out.status,
                stderr: stderr
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
        if out.stdout.len() > MAX_OUTPUT {
            return Err(PollError::TooLarge { command });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// One poll: the peers now, the lines for what changed stored (durable
    /// when this returns), then the peers kept as the last poll.
    pub async fn poll(&mut self, vault: &Vault) -> Result<Polled, PollError> {
        let text = self.dump().await?;
        let now = pramaan_core::time::now_ns();
        let snapshot = Snapshot::new(now, wireguard::read_dump(&text)?);
        let lines = wireguard::changes(self.last.as_ref(), &snapshot);
        // One append per run of lines of one interface (its peer names it).
        let mut i = 0;
        while i < lines.len() {
            let iface = &lines[i].0;
            let run: Vec<Bytes> = lines[i..]
                .iter()
                .take_while(|(f, _)| f == iface)
                .map(|(_, l)| Bytes::from(l.clone()))
                .collect();
            let n = run.len();
            let peer: Arc<str> = Arc::from(format!("{}{iface}", wireguard::RECORD_PEER).as_str());
            vault.append(Transport::File, peer, run).await?;
            i += n;
        }
        let polled = Polled {
            peers: snapshot.peers.len(),
            lines: lines.len(),
        };
        self.state.save(&snapshot)?;
        self.last = Some(snapshot);
        Ok(polled)
    }
}

/// Polls every `interval` (the first at once) until `stop`.
pub async fn run(
    vault: Vault,
    data_dir: std::path::PathBuf,
    cfg: pramaan_config::Wireguard,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = cfg
        .interval
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut poller = match Poller::new(&data_dir, &cfg.command, timeout) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "WireGuard poller cannot start; WireGuard peers are not read");
            return;
        }
    };
    tracing::info!(command = %cfg.command, interval_secs = cfg.interval.as_secs_f64(), "polling WireGuard peers");
    let mut failing = false;
    loop {
        match poller.poll(&vault).await {
            Ok(p) => {
                metrics::counter!("pramaan_wireguard_polls_total").increment(1);
                metrics::gauge!("pramaan_wireguard_peers").set(p.peers as f64);
                metrics::counter!("pramaan_wireguard_changes_total").increment(p.lines as u64);
                if failing {
                    tracing::info!(peers = p.peers, "WireGuard poll succeeds again");
                    failing = false;
                }
            }
            Err(e) => {
                metrics::counter!("pramaan_wireguard_poll_errors_total").increment(1);
                // Said once per run of failures, not at every poll.
                if !failing {
                    tracing::warn!(error = %e, "WireGuard poll failed; nothing stored, retrying every wireguard.interval");
                    failing = true;
                }
            }
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(cfg.interval) => {}
        }
    }
}
