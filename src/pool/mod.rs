//! The adaptive thread pool: [`ThreadPool`] and everything it is made of.
//!
//! | file | owns |
//! |---|---|
//! | `config.rs` | [`Builder`], [`Config`], [`BuildError`] and the defaults |
//! | `shared.rs` | the state under the pool's lock and the claim/notify/shutdown protocol |
//! | `inbox.rs` | where one-shot submissions leave their jobs without the pool's lock |
//! | `worker.rs` | the worker loop: claim, run, idle newest-first, retire |
//! | `controller.rs` | the pure growth decision |
//! | `load/` | load readings: `/proc`, cgroups, the [`LoadProbe`] trait |
//! | `monitor.rs` | the monitor thread that carries the decision out |
//! | `memory_track.rs` | the memory baseline and trend both the monitor and atp-run's hosts use |
//! | `join.rs` | waiting for the pool's threads at shutdown, from outside or from a task |
//! | `id.rs` | [`TaskId`] (a leaf: every other task module names tasks by it) |
//! | `task.rs` | [`Task`], [`InfiniteTask`]: what a task is (public as [`task`]) |
//! | `task_body.rs` | a one-shot task's body, inline: [`TaskBody`](task::TaskBody) and its types |
//! | `submit.rs` | [`Submit`]: how a task becomes a queued job and its handle's state |
//! | `task_state.rs` | [`TaskOutcome`] and the state a task shares with its handle and token |
//! | `handle.rs` | [`TaskHandle`] |
//! | `stop_token.rs` | [`StopToken`] |
//! | `job.rs` | how a queued task runs and ends, every call into user code contained |
//! | `failure.rs`, `panic_capture.rs` | [`Failure`] and where panics are captured |
//! | `logging.rs` | records from the pool's threads, a panicking logger contained |
//! | `stats.rs` | [`Stats`] |
//! | `global.rs` | the global pool and [`async_call`] |
//! | `sync.rs` | std or loom primitives |
//! | `loom_tests.rs` | loom models of the protocol (`--cfg loom`; the command is in its header) |
//!
//! The task modules import one another in one direction only: `id` ← `failure` ←
//! `task_body` ← `task_state` ← `stop_token` ← `task` ← `job` ← `submit`, `inbox` ←
//! `shared` ← `handle`.

mod config;
pub(crate) mod controller;
mod failure;
mod global;
mod handle;
mod id;
mod inbox;
mod job;
mod join;
pub(crate) mod load;
mod logging;
#[cfg(all(test, loom))]
mod loom_tests;
pub(crate) mod memory_track;
mod monitor;
mod panic_capture;
mod shared;
mod stats;
mod stop_token;
mod submit;
mod sync;
pub mod task;
mod task_body;
mod task_state;
mod worker;

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use config::{
    BuildError, Builder, Config, DEFAULT_CPU_THRESHOLD_PERCENT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_WORKERS, DEFAULT_MIN_WORKERS, DEFAULT_MONITOR_INTERVAL, DEFAULT_STACK_SIZE_KIB,
    DEFAULT_THREAD_NAME, MIN_STACK_SIZE_KIB,
};
pub use failure::{BoxError, Failure, FailureKind};
pub use global::{GlobalPoolError, async_call, global, init_global, try_global};
pub use handle::TaskHandle;
pub use id::TaskId;
pub use load::{LoadProbe, LoadReading, SystemProbe};
pub use stats::Stats;
pub use stop_token::StopToken;
pub use submit::Submit;
pub use task::{InfiniteTask, Task};
pub use task_state::TaskOutcome;
pub use worker::current_worker_slot;

use job::{Body, Job, Plain, SpawnCell};
use shared::Shared;
use task_state::HandleState;

/// A pool of worker threads that keeps `min_workers` alive, grows up to
/// `max_workers` while tasks wait, and retires idle workers above the minimum.
///
/// `ThreadPool` is a cheap handle: clones refer to the same pool (two reference
/// counts, no thread), so a task can capture a clone and submit to its own pool.
/// When the last clone is dropped the pool shuts down, without blocking: it stops
/// accepting tasks, stops infinite tasks, lets queued tasks run, and its threads exit
/// once the queue is empty. Call [`shutdown`](Self::shutdown) or
/// [`shutdown_now`](Self::shutdown_now) to wait for that.
///
/// A clone inside a task keeps the pool alive while that task is queued or running,
/// like an `Arc` cycle: for a one-shot task, until it has run; for an infinite task or
/// a task that keeps resubmitting itself, for ever. Such tasks should hold a
/// [`WeakThreadPool`] ([`downgrade`](Self::downgrade)) instead, which does not:
///
/// ```
/// use std::sync::mpsc;
///
/// let pool = atp::ThreadPool::new()?;
/// let (tx, rx) = mpsc::channel();
/// let own = pool.downgrade();
/// pool.execute(move || {
///     // A task submits a follow-up task to its own pool.
///     if let Some(pool) = own.upgrade() {
///         pool.execute(move || tx.send("follow-up ran").unwrap()).ok();
///     }
/// })?;
/// assert_eq!(rx.recv()?, "follow-up ran");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    shared: Arc<Shared>,
    /// Counts the strong handles: its drop starts the shutdown.
    owner: Arc<Owner>,
}

/// What the strong handles of a pool share; the last one dropped shuts the pool down.
struct Owner {
    shared: Arc<Shared>,
    /// The global pool: no user may shut it down.
    global: bool,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Never blocks: threads finish the queue and exit on their own.
        self.shared.begin_shutdown(false);
    }
}

/// A handle to a [`ThreadPool`] that does not keep it alive (see
/// [`ThreadPool::downgrade`]): what a task that submits to its own pool should hold.
#[derive(Clone)]
pub struct WeakThreadPool {
    owner: Weak<Owner>,
}

impl WeakThreadPool {
    /// The pool, if some [`ThreadPool`] handle to it is still alive.
    pub fn upgrade(&self) -> Option<ThreadPool> {
        let owner = self.owner.upgrade()?;
        Some(ThreadPool {
            shared: Arc::clone(&owner.shared),
            owner,
        })
    }
}

impl fmt::Debug for WeakThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakThreadPool")
            .field("alive", &(self.owner.strong_count() > 0))
            .finish()
    }
}

/// Why a task was not accepted. Like `std::sync::mpsc::SendError`, it gives the task
/// back ([`into_task`](Self::into_task)), to run elsewhere or drop.
#[non_exhaustive]
pub enum SubmitError<T> {
    /// The pool is shutting down or shut down.
    ShutDown(T),
    /// The global pool could not be started (see [`try_global`]).
    GlobalPool(BuildError, T),
}

impl<T> SubmitError<T> {
    /// The task that was not accepted.
    pub fn into_task(self) -> T {
        match self {
            SubmitError::ShutDown(task) | SubmitError::GlobalPool(_, task) => task,
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::ShutDown(_) => f.write_str("ShutDown(..)"),
            SubmitError::GlobalPool(err, _) => f.debug_tuple("GlobalPool").field(err).finish(),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::ShutDown(_) => {
                write!(f, "the pool is shut down and accepts no new tasks")
            }
            SubmitError::GlobalPool(err, _) => write!(f, "cannot start the global pool: {err}"),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::GlobalPool(err, _) => Some(err),
            SubmitError::ShutDown(_) => None,
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
        let pool = ThreadPool {
            owner: Arc::new(Owner {
                shared: Arc::clone(&shared),
                global: false,
            }),
            shared,
        };
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

    /// The global pool, flagged so that no user can shut it down.
    pub(crate) fn into_global(mut self) -> ThreadPool {
        Arc::get_mut(&mut self.owner)
            .expect("a pool being made global has no other handle yet")
            .global = true;
        self
    }

    /// A handle that does not keep the pool alive: for tasks that submit to their own
    /// pool (see [`ThreadPool`]).
    pub fn downgrade(&self) -> WeakThreadPool {
        WeakThreadPool {
            owner: Arc::downgrade(&self.owner),
        }
    }

    /// Queues `task` (a [`Task`] or an [`InfiniteTask`]) and returns a handle to it.
    /// If the pool no longer accepts tasks, the error gives the task back.
    pub fn run<S: Submit>(&self, task: S) -> Result<TaskHandle<S::Output>, SubmitError<S>> {
        let (job, state) = task.into_job();
        match self.shared.submit(job) {
            Ok(()) => Ok(self.handle(state)),
            Err(job) => Err(SubmitError::ShutDown(S::from_job(job))),
        }
    }

    /// Runs `f` and returns a handle whose [`join`](TaskHandle::join) gives its value
    /// or its panic: the short form of `run(Task::new(f))`, which costs the same (one
    /// allocation), like `std::thread::spawn`, `rayon::spawn` or tokio's
    /// `spawn_blocking`. A panic is
    /// also logged, as `std` prints a thread's panic even when it is joined.
    ///
    /// ```
    /// let pool = atp::ThreadPool::new()?;
    /// let handles: Vec<_> = (1..=4u64)
    ///     .map(|n| pool.spawn(move || n * n))
    ///     .collect::<Result<_, _>>()?;
    /// let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> Result<TaskHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, state) = SpawnCell::new(f).into_job();
        match self.shared.submit(job) {
            Ok(()) => Ok(self.handle(state)),
            Err(job) => {
                drop(state);
                let f = SpawnCell::<F, T>::take_back(job);
                Err(SubmitError::ShutDown(
                    f.expect("a refused job is the closure, unrun"),
                ))
            }
        }
    }

    fn handle<T>(&self, inner: Arc<dyn HandleState<T>>) -> TaskHandle<T> {
        TaskHandle {
            inner,
            pool: Arc::downgrade(&self.shared),
        }
    }

    /// Queues a closure with no callbacks and no handle (the cheapest way to submit).
    /// A panic in it is logged as an unhandled failure. If the pool no longer accepts
    /// tasks, the error gives the closure back.
    pub fn execute<F>(&self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let job = Job {
            body: Body::Plain(Box::new(Plain {
                id: id::next_task_id(),
                f: Some(f),
            })),
        };
        self.shared.submit(job).map_err(|job| {
            let f = match job.body {
                Body::Plain(body) => body.into_any().downcast::<Plain<F>>().ok(),
                Body::Infinite(_) | Body::Shared(_) => None,
            }
            .and_then(|plain| plain.f);
            SubmitError::ShutDown(f.expect("a refused job is the closure, unrun"))
        })
    }

    /// Blocks until no task is queued or running — every task submitted so far has
    /// run, callbacks included — without shutting the pool down: the `join` of the
    /// `threadpool` crate (named apart from [`TaskHandle::join`], which takes one
    /// task's result). Tasks submitted meanwhile are waited for too, so with an
    /// infinite task running it returns only once that task is stopped. Called from a
    /// task of the same pool it would wait for itself: don't.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = atp::ThreadPool::new()?;
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..8 {
    ///     let done = Arc::clone(&done);
    ///     pool.execute(move || {
    ///         done.fetch_add(1, Ordering::Relaxed);
    ///     })?;
    /// }
    /// pool.wait_idle();
    /// assert_eq!(done.load(Ordering::Relaxed), 8);
    /// pool.execute(|| ())?; // still accepting tasks
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_idle(&self) {
        let mut state = self.shared.lock();
        loop {
            state.absorb(&self.shared);
            if state.queue.is_empty() && state.busy == 0 {
                return;
            }
            state.idle_waiters += 1;
            state = sync::wait(&self.shared.idle_wakeup, state);
            state.idle_waiters -= 1;
        }
    }

    /// A consistent snapshot of the pool's counters.
    pub fn stats(&self) -> Stats {
        let mut state = self.shared.lock();
        state.absorb(&self.shared);
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
    /// until every thread of the pool has exited. Idempotent. Shuts the pool down for
    /// every clone of this handle.
    ///
    /// Called from a task, it waits until every other worker has finished (except
    /// workers whose tasks are inside `shutdown` too: they wait for it) and returns;
    /// its own worker ends once the task returns. Several callers at once, inside or
    /// outside the pool, all return.
    ///
    /// The [global pool](crate::global) is shared by every library in the process, so
    /// no one of them may shut it down: on it, this and the other shutdown methods
    /// do nothing but log a warning (use [`wait_idle`](Self::wait_idle) to wait for
    /// its tasks).
    pub fn shutdown(&self) -> ShutdownReport {
        if self.refuse_global_shutdown() {
            return ShutdownReport { cancelled: 0 };
        }
        let cancelled = self.shared.begin_shutdown(false);
        self.join_all();
        ShutdownReport { cancelled }
    }

    /// Cancelling shutdown: like [`shutdown`](Self::shutdown), but queued tasks are
    /// dropped without running and reported (their handles say
    /// [`TaskOutcome::Cancelled`]); running tasks finish their current run.
    pub fn shutdown_now(&self) -> ShutdownReport {
        if self.refuse_global_shutdown() {
            return ShutdownReport { cancelled: 0 };
        }
        let cancelled = self.shared.begin_shutdown(true);
        self.join_all();
        ShutdownReport { cancelled }
    }

    /// Like [`shutdown`](Self::shutdown) (graceful), but waits at most `timeout` for
    /// the threads to exit: `None` if some are still running tasks then (they go on
    /// and exit on their own once the queue is drained; the pool accepts no tasks).
    /// On the global pool it does nothing and returns `None`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = atp::ThreadPool::new()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// pool.execute(move || drop(rx.recv()))?; // blocked until tx is dropped
    /// assert!(pool.shutdown_timeout(Duration::from_millis(10)).is_none());
    /// drop(tx);
    /// assert!(pool.shutdown_timeout(Duration::from_secs(30)).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> Option<ShutdownReport> {
        if self.refuse_global_shutdown() {
            return None;
        }
        let cancelled = self.shared.begin_shutdown(false);
        join::join_all_timeout(&self.shared, timeout).then_some(ShutdownReport { cancelled })
    }

    /// On the global pool, logs why a shutdown is refused and returns true.
    fn refuse_global_shutdown(&self) -> bool {
        if self.owner.global {
            log::warn!(
                "the global pool is shared by the whole process and is not shut down; \
                 use wait_idle() to wait for its tasks, or a pool of your own"
            );
        }
        self.owner.global
    }

    /// Waits for every thread of the pool (see `join.rs`).
    fn join_all(&self) {
        join::join_all(&self.shared);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("global", &self.owner.global)
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}
