//! Sync code calling async clients (the object store, PostgreSQL): the
//! runtime their futures run on, and how a sync caller waits for one.
//!
//! A thread outside the runtime (its own or the blocking pool) simply
//! blocks on the runtime's handle; a runtime worker first hands its other
//! tasks to another worker (`block_in_place`), so no async task waits
//! behind the call; the thread of a current-thread runtime (tests) polls
//! the future itself.

use crate::VaultError;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// The runtime a client's futures run on.
#[derive(Clone)]
pub enum Bridge {
    /// The runtime the client was opened in.
    Handle(Handle),
    /// Opened outside any runtime (`verify` from the command line): a
    /// small one of its own.
    Own(Arc<OwnRuntime>),
}

/// A runtime shut down in the background when dropped (dropping a runtime
/// inside another one's context would panic).
pub struct OwnRuntime(Option<Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Bridge {
    /// The current runtime, or (outside any) one of one worker thread
    /// named `name`.
    pub fn here(name: &str) -> Result<Bridge, VaultError> {
        match Handle::try_current() {
            Ok(h) => Ok(Bridge::Handle(h)),
            Err(_) => Bridge::own(name),
        }
    }

    /// A small runtime of its own (one worker named `name`), wherever it
    /// is called from: for a client whose connection task must keep
    /// running while a caller blocks, even the thread of a current-thread
    /// runtime (the PostgreSQL catalog).
    pub fn own(name: &str) -> Result<Bridge, VaultError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(VaultError::io(Path::new("client runtime")))?;
        Ok(Bridge::Own(Arc::new(OwnRuntime(Some(rt)))))
    }

    /// The handle of the runtime the futures run on.
    pub fn handle(&self) -> Handle {
        match self {
            Bridge::Handle(h) => h.clone(),
            Bridge::Own(rt) => {
                rt.0.as_ref()
                    .expect("taken only when dropped")
                    .handle()
                    .clone()
            }
        }
    }

    /// Runs a future to completion from sync code (see the module docs).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match Handle::try_current() {
            Err(_) => self.handle().block_on(fut),
            Ok(cur) if cur.runtime_flavor() == RuntimeFlavor::MultiThread => {
                let h = self.handle();
                tokio::task::block_in_place(move || h.block_on(fut))
            }
            Ok(_) => futures::executor::block_on(fut),
        }
    }
}
