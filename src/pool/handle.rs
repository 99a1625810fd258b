//! What callers hold on to: [`TaskHandle`], [`StopToken`], [`TaskOutcome`],
//! [`TaskId`], and the state they share with a queued or running task.
//!
//! Invariants:
//! - a task's state is finished exactly once ([`TaskState::finish`], or the stored
//!   result's finish in `job.rs`), after its last callback and after the pool recorded
//!   its last run, and that is what [`TaskHandle::wait`] and [`TaskHandle::join`] wait
//!   for; the result `join` takes is set with (or before) the outcome;
//! - notifiers skip the condition variable while nobody waits (`Outcome::waiting`),
//!   both sides holding the state's mutex, so no wake-up is lost;
//! - once stop is requested, an infinite task never starts another run.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::shared::Shared;
use super::sync::{self, AtomicBool, AtomicU64, Condvar, Mutex, MutexGuard, Ordering};

/// Identifies a task within the process (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Deliberately `std`'s atomic even under loom: ids only need to be unique, which a
/// process-wide counter guarantees whatever the interleaving, and keeping it out of
/// the model avoids a scheduling point per submission. (A loom thread-local counter
/// would hand the same id to tasks submitted from different model threads, and
/// [`TaskHandle::stop`] finds a queued task by its id.)
static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_task_id() -> TaskId {
    TaskId(NEXT_TASK_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// How a task ended, as reported by [`TaskHandle::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// A one-shot task ran and its target succeeded (and so did its success callback).
    Succeeded,
    /// A one-shot task ran and failed; the failure went to the failure callback or
    /// the log.
    Failed,
    /// An infinite task was stopped (by [`TaskHandle::stop`], [`StopToken::stop`] or
    /// pool shutdown).
    Stopped,
    /// A one-shot task was removed before it ran: stopped while queued, or dropped by
    /// [`ThreadPool::shutdown_now`](crate::ThreadPool::shutdown_now).
    Cancelled,
}

impl fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskOutcome::Succeeded => "succeeded",
            TaskOutcome::Failed => "failed",
            TaskOutcome::Stopped => "stopped",
            TaskOutcome::Cancelled => "cancelled",
        })
    }
}

/// State shared between a queued or running task, its handle and its stop token.
/// `T` is what [`TaskHandle::join`] returns: the value of a one-shot task, `()` for
/// an infinite one.
pub(crate) struct TaskState<T = ()> {
    pub(crate) id: TaskId,
    stop: AtomicBool,
    runs: AtomicU64,
    failures: AtomicU64,
    outcome: Mutex<Outcome<T>>,
    /// Notified when the outcome is set and when stop is requested (for
    /// [`StopToken::sleep`]), if anyone waits on it.
    changed: Condvar,
}

/// The part of [`TaskState`] under its mutex.
struct Outcome<T> {
    /// Set once, when the task has ended.
    value: Option<TaskOutcome>,
    /// Set with `value`; taken by [`TaskHandle::join`].
    result: Option<Result<T, Failure>>,
    /// Threads blocked on `changed`. Notifying a condition variable costs a system
    /// call even when nobody waits, and nobody waits for most tasks; so notifiers
    /// skip it when this is zero (both sides hold the mutex, so none is missed).
    waiting: usize,
}

impl<T> TaskState<T> {
    pub(crate) fn new(id: TaskId) -> TaskState<T> {
        TaskState {
            id,
            stop: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            outcome: Mutex::new(Outcome {
                value: None,
                result: None,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Asks the task to stop and wakes a run sleeping in [`StopToken::sleep`].
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let guard = sync::lock(&self.outcome);
        if guard.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Records the final outcome and what `join` returns (first call wins) and wakes
    /// waiters.
    pub(crate) fn finish(&self, outcome: TaskOutcome, result: Result<T, Failure>) {
        let mut slot = sync::lock(&self.outcome);
        if slot.value.is_none() {
            slot.value = Some(outcome);
            slot.result = Some(result);
        }
        if slot.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Keeps the result of the task's run until
    /// [`finish_stored`](Self::finish_stored).
    pub(crate) fn store_result(&self, result: Result<T, Failure>) {
        sync::lock(&self.outcome).result = Some(result);
    }

    /// Finishes the task with the result its run stored — or, if it never ran, as
    /// cancelled — and wakes waiters. Returns whether it had run.
    pub(crate) fn finish_stored(&self) -> bool {
        let mut slot = sync::lock(&self.outcome);
        let mut ran = true;
        if slot.value.is_none() {
            let outcome = match &slot.result {
                Some(Ok(_)) => TaskOutcome::Succeeded,
                Some(Err(_)) => TaskOutcome::Failed,
                None => {
                    ran = false;
                    slot.result = Some(Err(Failure::cancelled(self.id)));
                    TaskOutcome::Cancelled
                }
            };
            slot.value = Some(outcome);
        }
        if slot.waiting > 0 {
            self.changed.notify_all();
        }
        ran
    }

    /// Waits on `changed` (at most `timeout`, if given), counted in `waiting`.
    fn wait_for_change<'a>(
        &self,
        mut guard: MutexGuard<'a, Outcome<T>>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Outcome<T>> {
        guard.waiting += 1;
        guard = match timeout {
            Some(timeout) => sync::wait_timeout(&self.changed, guard, timeout).0,
            None => sync::wait(&self.changed, guard),
        };
        guard.waiting -= 1;
        guard
    }

    pub(crate) fn count_run(&self, failed: bool) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`count_run`](Self::count_run) for a one-shot task, whose only run this is:
    /// plain stores, cheaper than read-modify-writes on the hot path.
    pub(crate) fn count_only_run(&self, failed: bool) {
        self.runs.store(1, Ordering::Relaxed);
        if failed {
            self.failures.store(1, Ordering::Relaxed);
        }
    }
}

/// Given to each run of an infinite task: tells the run whether it should stop, and
/// lets it stop itself.
///
/// The counterpart of the kill event the original ATP passed as first argument (which
/// a task could also set). [`StopToken::new`] makes one that belongs to no task, to
/// test a target on its own:
///
/// ```
/// fn poll(stop: &atp::StopToken) -> u32 {
///     let mut polls = 0;
///     while !stop.is_stopped() {
///         polls += 1;
///         if polls == 3 {
///             stop.stop(); // the work is done: no more runs
///         }
///     }
///     polls
/// }
///
/// let token = atp::StopToken::new();
/// assert_eq!(poll(&token), 3);
/// assert!(token.is_stopped());
/// ```
#[derive(Clone)]
pub struct StopToken {
    pub(crate) state: Arc<TaskState>,
}

impl StopToken {
    /// A token of its own, not yet stopped, that belongs to no task (for tests and
    /// for calling an infinite task's target directly).
    pub fn new() -> StopToken {
        StopToken {
            state: Arc::new(TaskState::new(next_task_id())),
        }
    }

    /// True once [`TaskHandle::stop`] or [`StopToken::stop`] was called or the pool
    /// is shutting down.
    pub fn is_stopped(&self) -> bool {
        self.state.stop_requested()
    }

    /// Stops the task from inside (or from anywhere holding a clone): the current
    /// run goes on to its end and its callbacks, and the task never runs again; its
    /// handle then reports [`TaskOutcome::Stopped`]. A clone of the token used while
    /// the task is queued stops it too: it is dropped, not run, when its turn comes.
    pub fn stop(&self) {
        self.state.request_stop();
    }

    /// Sleeps for `duration`, or less if stop is requested meanwhile. Returns true if
    /// the task was asked to stop. Use it instead of `thread::sleep` between polls so
    /// that stopping is prompt.
    pub fn sleep(&self, duration: Duration) -> bool {
        // `None`: too far to express as an instant, so until stopped.
        let deadline = Instant::now().checked_add(duration);
        let mut guard = sync::lock(&self.state.outcome);
        loop {
            if self.is_stopped() {
                return true;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return false,
                },
                None => None,
            };
            guard = self.state.wait_for_change(guard, left);
        }
    }

    /// The id of the task this token belongs to.
    pub fn task_id(&self) -> TaskId {
        self.state.id
    }
}

impl Default for StopToken {
    fn default() -> StopToken {
        StopToken::new()
    }
}

impl fmt::Debug for StopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("task", &self.state.id)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// The target and success stages of a one-shot task, every panic caught.
/// What a [`TaskHandle`] holds: the task's state, alone or inside its job.
pub(crate) trait HandleState<T = ()>: Send + Sync {
    fn task_state(&self) -> &TaskState<T>;
}

impl<T: Send> HandleState<T> for TaskState<T> {
    fn task_state(&self) -> &TaskState<T> {
        self
    }
}

/// Refers to a submitted task: wait for it, take its result, check on it, stop it.
/// `T` is what [`join`](Self::join) returns: the value of a one-shot task, `()` for
/// an infinite one.
///
/// Dropping the handle does not affect the task (it detaches it, like
/// `std::thread::JoinHandle`).
pub struct TaskHandle<T = ()> {
    /// The task's state, alone or inside the job (see `SpawnCell` in `job.rs`).
    pub(crate) inner: Arc<dyn HandleState<T>>,
    pub(crate) pool: Weak<Shared>,
}

impl<T> TaskHandle<T> {
    fn state(&self) -> &TaskState<T> {
        self.inner.task_state()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.state().id
    }

    /// Whether the task has ended (see [`TaskOutcome`]).
    pub fn is_finished(&self) -> bool {
        sync::lock(&self.state().outcome).value.is_some()
    }

    /// Blocks until the task has ended, including its last callbacks, and says how
    /// it ended. See [`join`](Self::join) for its value.
    pub fn wait(&self) -> TaskOutcome {
        self.wait_ended(None)
            .value
            .expect("waited until the task ended")
    }

    /// Blocks until the task has ended and returns its result: the target's value
    /// (or what the success callback made of it), or the [`Failure`] — for a panic,
    /// with its payload, so that the caller can re-raise it where it joins, as with
    /// `std::thread`:
    ///
    /// ```
    /// use std::panic::AssertUnwindSafe;
    ///
    /// let pool = atp::ThreadPool::new()?;
    /// assert_eq!(pool.spawn(|| 6 * 7)?.join()?, 42);
    ///
    /// let failure = pool.spawn(|| -> u32 { panic!("boom") })?.join().unwrap_err();
    /// assert_eq!(failure.kind(), atp::FailureKind::Panicked);
    /// // Re-raised, the original payload unwinds (caught here only to check it).
    /// let rethrown = std::panic::catch_unwind(AssertUnwindSafe(|| failure.resume_unwind()));
    /// assert_eq!(*rethrown.unwrap_err().downcast::<&str>().unwrap(), "boom");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A task removed before it ran gives a [`FailureKind::Cancelled`](crate::FailureKind::Cancelled) failure; an
    /// infinite task gives `Ok(())` once stopped. A failure also went to the failure
    /// callback or the log (as a panicking thread's message is printed even if it is
    /// joined); if a failure callback took it, `join` returns a copy without the
    /// payload, the error and the backtrace.
    pub fn join(self) -> Result<T, Failure> {
        let mut guard = self.wait_ended(None);
        guard
            .result
            .take()
            .expect("the result is set with the outcome and only `join` takes it")
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `None` if the task is
    /// still queued or running then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<TaskOutcome> {
        self.wait_ended(Some(timeout)).value
    }

    /// Waits until the task has ended or `timeout` (if any) has passed; returns the
    /// locked outcome.
    fn wait_ended(&self, timeout: Option<Duration>) -> MutexGuard<'_, Outcome<T>> {
        // `None`: no timeout, or one too far to express as an instant: as long as it
        // takes.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut guard = sync::lock(&self.state().outcome);
        loop {
            if guard.value.is_some() {
                return guard;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return guard,
                },
                None => None,
            };
            guard = self.state().wait_for_change(guard, left);
        }
    }

    /// Stops the task. A queued task is taken off the queue and never runs
    /// ([`TaskOutcome::Cancelled`] for a one-shot task, [`TaskOutcome::Stopped`] for
    /// an infinite one). A running infinite task sees its [`StopToken`] set, finishes
    /// its current run (callbacks included) and is not run again. A running one-shot
    /// task cannot be interrupted and runs to its end.
    pub fn stop(&self) {
        self.state().request_stop();
        if let Some(pool) = self.pool.upgrade() {
            pool.remove_queued(self.state().id);
        }
    }

    /// How many runs the task has completed (failed ones included).
    pub fn runs(&self) -> u64 {
        self.state().runs.load(Ordering::Relaxed)
    }

    /// How many of those runs failed.
    pub fn failures(&self) -> u64 {
        self.state().failures.load(Ordering::Relaxed)
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.state().id)
            .field("finished", &self.is_finished())
            .field("runs", &self.runs())
            .finish()
    }
}
