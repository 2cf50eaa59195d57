//! CPU priorities: ingest first, then searches, then compaction.
//!
//! The write path (WAL writer, indexer, sealer, ledger) runs at the process's
//! own priority. Scanning segments for a search costs more as the vault
//! grows; at the same priority, searches that never pause take the CPU the
//! sealer needs, generations wait to be sealed, and the memory they hold grows
//! with the data (the soak showed it). So searches scan on their own threads
//! at a lower priority ([`SearchPool`]); they still use every idle cycle.
//! SQL queries run on a pool of their own (`pramaan-sql`) at the same
//! priority: a query that never ends costs idle cycles, never ingest's.

use std::future::Future;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Lowers the calling thread's priority to `nice` (0-19), never raising it
/// (a process started at nice 15 keeps its threads at 15 or lower). On Linux
/// a thread id given to setpriority names that thread alone. Failing is
/// harmless, so it is only logged.
pub fn lower_this_thread(nice: i32, what: &str) {
    #[cfg(target_os = "linux")]
    {
        let me = Some(rustix::thread::gettid());
        let now = rustix::process::getpriority_process(me).unwrap_or(0);
        let want = nice.min(19);
        if want > now {
            if let Err(e) = rustix::process::setpriority_process(me, want) {
                tracing::debug!(error = %e, thread = what, "could not lower a thread's priority");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (nice, what);
}

/// The threads that run searches (or SQL): a runtime of its own whose
/// workers and blocking threads (file reads) run at `nice`.
pub struct SearchPool {
    rt: Option<Runtime>,
}

impl SearchPool {
    pub fn new(nice: i32) -> std::io::Result<SearchPool> {
        SearchPool::named("pramaan-search", nice)
    }

    /// A pool whose threads are called `name` (as `top -H` shows them).
    pub fn named(name: &'static str, nice: i32) -> std::io::Result<SearchPool> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            // File reads: a search reads one segment at a time, so a few
            // threads suffice (tokio's default allows 512).
            .max_blocking_threads(4 * workers)
            .thread_name(name)
            .on_thread_start(move || lower_this_thread(nice, name))
            .enable_all()
            .build()?;
        Ok(SearchPool { rt: Some(rt) })
    }

    /// Runs `f` on the pool. Dropping the returned task cancels `f`, as
    /// dropping `f` itself would (a client that goes away stops its search).
    pub fn spawn<F>(&self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self
            .rt
            .as_ref()
            .expect("the search pool runs until dropped");
        Task(rt.spawn(f))
    }
}

impl Drop for SearchPool {
    fn drop(&mut self) {
        // A runtime may not be dropped inside another one (the last vault
        // handle often goes away in a task); its threads end on their own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A search running on the pool; aborted when dropped.
pub struct Task<T>(JoinHandle<T>);

impl<T> Future for Task<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
