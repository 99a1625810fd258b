//! The adaptive thread pool: [`ThreadPool`] and everything it is made of.
//!
//! | file | owns |
//! |---|---|
//! | `config.rs` | [`Builder`], [`Config`], [`BuildError`] and the defaults |
//! | `shared.rs` | the state under the pool's lock and the claim/notify/shutdown protocol |
//! | `worker.rs` | the worker loop: claim, run, idle newest-first, retire |
//! | `controller.rs` | the pure growth decision |
//! | `load/` | load readings: `/proc`, cgroups, the [`LoadProbe`] trait |
//! | `monitor.rs` | the monitor thread that carries the decision out |
//! | `join.rs` | waiting for the pool's threads at shutdown, from outside or from a task |
//! | `task.rs` | [`Task`], [`TaskHandle`], [`StopToken`], [`TaskOutcome`] |
//! | `failure.rs`, `panic_capture.rs` | [`Failure`] and where panics are captured |
//! | `stats.rs` | [`Stats`] |
//! | `global.rs` | the global pool and [`async_call`] |
//! | `sync.rs` | std or loom primitives |
//! | `loom_tests.rs` | loom models of the protocol (`--cfg loom`; the command is in its header) |

mod config;
mod controller;
mod failure;
mod global;
mod join;
mod load;
#[cfg(all(test, loom))]
mod loom_tests;
mod monitor;
mod panic_capture;
mod shared;
mod stats;
mod sync;
mod task;
mod worker;

use std::fmt;
use std::sync::Arc;

pub use config::{
    BuildError, Builder, Config, DEFAULT_CPU_THRESHOLD_PERCENT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_WORKERS, DEFAULT_MIN_WORKERS, DEFAULT_MONITOR_INTERVAL, DEFAULT_STACK_SIZE_KIB,
    DEFAULT_THREAD_NAME, MIN_STACK_SIZE_KIB,
};
pub use failure::{BoxError, Failure, FailureKind};
pub use global::{GlobalPoolError, async_call, global, init_global, try_global};
pub use load::{LoadProbe, LoadReading, SystemProbe};
pub use stats::Stats;
pub use task::{StopToken, Task, TaskHandle, TaskId, TaskOutcome};
pub use worker::current_worker_slot;

use shared::Shared;
use task::{Job, Plain, TaskState};

/// A pool of worker threads that keeps `min_workers` alive, grows up to
/// `max_workers` while tasks wait, and retires idle workers above the minimum.
///
/// Dropping the pool never blocks: it stops accepting tasks, stops infinite tasks,
/// lets queued tasks run, and its threads exit once the queue is empty. Call
/// [`shutdown`](Self::shutdown) or [`shutdown_now`](Self::shutdown_now) to wait for
/// that.
pub struct ThreadPool {
    shared: Arc<Shared>,
}

/// Why a task was not accepted.
#[derive(Debug)]
#[non_exhaustive]
pub enum SubmitError {
    /// The pool is shutting down or shut down.
    ShutDown,
    /// The global pool could not be started (see [`try_global`]).
    GlobalPool(BuildError),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::ShutDown => write!(f, "the pool is shut down and accepts no new tasks"),
            SubmitError::GlobalPool(err) => write!(f, "cannot start the global pool: {err}"),
        }
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::GlobalPool(err) => Some(err),
            SubmitError::ShutDown => None,
        }
    }
}

/// What a shutdown did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Queued tasks dropped without running: every queued task for
    /// [`ThreadPool::shutdown_now`], queued infinite tasks for both shutdowns. Each
    /// one's handle reports [`TaskOutcome::Cancelled`] (or `Stopped` for an infinite
    /// task).
    pub cancelled: usize,
}

impl ThreadPool {
    /// A pool with default settings (see [`Builder`]).
    pub fn new() -> Result<ThreadPool, BuildError> {
        ThreadPool::with_config(Config::default())
    }

    /// A [`Builder`] to choose the settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn with_config(config: Config) -> Result<ThreadPool, BuildError> {
        ThreadPool::with_probe(config, None)
    }

    pub(crate) fn with_probe(
        config: Config,
        probe: Option<Box<dyn LoadProbe>>,
    ) -> Result<ThreadPool, BuildError> {
        panic_capture::install();
        let shared = Arc::new(Shared::new(config));
        let adaptive = shared.has_monitor;
        let pool = ThreadPool { shared };
        for _ in 0..pool.shared.config.min_workers {
            if let Err(err) = worker::start(&pool.shared) {
                pool.shutdown();
                return Err(BuildError::Spawn(err));
            }
        }
        if adaptive {
            match monitor::start(&pool.shared, probe) {
                Ok(thread) => pool.shared.lock().threads.push(thread),
                Err(err) => {
                    pool.shutdown();
                    return Err(BuildError::Spawn(err));
                }
            }
        }
        Ok(pool)
    }

    /// The pool's settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Queues `task` and returns a handle to it.
    pub fn run<T: Send + 'static>(&self, task: Task<T>) -> Result<TaskHandle, SubmitError> {
        let state = Arc::new(TaskState::new(task::next_task_id()));
        let job = Job {
            id: state.id,
            state: Some(Arc::clone(&state)),
            infinite: task.is_infinite(),
            body: Box::new(task),
        };
        self.shared.submit(job).map_err(|_| SubmitError::ShutDown)?;
        Ok(TaskHandle {
            state,
            pool: Arc::downgrade(&self.shared),
        })
    }

    /// Queues a closure with no callbacks and no handle (the cheapest way to submit).
    /// A panic in it is logged as an unhandled failure.
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) -> Result<(), SubmitError> {
        let job = Job {
            id: task::next_task_id(),
            state: None,
            infinite: false,
            body: Box::new(Plain(Some(f))),
        };
        self.shared.submit(job).map_err(|_| SubmitError::ShutDown)
    }

    /// A consistent snapshot of the pool's counters.
    pub fn stats(&self) -> Stats {
        let state = self.shared.lock();
        Stats {
            live: state.live,
            busy: state.busy,
            idle: state.live - state.busy,
            queued: state.queue.len(),
            completed: state.completed,
            failed: state.failed,
            cancelled: state.cancelled,
            peak_workers: state.peak,
            ceiling: state.ceiling,
        }
    }

    /// Graceful shutdown: accepts no new tasks, lets every queued task run, stops
    /// infinite tasks (their current run finishes; they are not run again), and waits
    /// until every thread of the pool has exited. Idempotent.
    ///
    /// Called from a task, it waits until every other worker has finished (except
    /// workers whose tasks are inside `shutdown` too: they wait for it) and returns;
    /// its own worker ends once the task returns. Several callers at once, inside or
    /// outside the pool, all return.
    pub fn shutdown(&self) -> ShutdownReport {
        let cancelled = self.shared.begin_shutdown(false);
        self.join_all();
        ShutdownReport { cancelled }
    }

    /// Cancelling shutdown: like [`shutdown`](Self::shutdown), but queued tasks are
    /// dropped without running and reported (their handles say
    /// [`TaskOutcome::Cancelled`]); running tasks finish their current run.
    pub fn shutdown_now(&self) -> ShutdownReport {
        let cancelled = self.shared.begin_shutdown(true);
        self.join_all();
        ShutdownReport { cancelled }
    }

    /// Waits for every thread of the pool (see `join.rs`).
    fn join_all(&self) {
        join::join_all(&self.shared);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // Never blocks: threads finish the queue and exit on their own.
        self.shared.begin_shutdown(false);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}
